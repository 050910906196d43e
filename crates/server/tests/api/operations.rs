//! Operations: the monitor's rows, Prometheus metrics, health, and the admin API's scoping.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;
use switchboard_core::Service;

#[tokio::test]
async fn the_monitor_records_capped_status_and_cleans_stale_rows_on_start() {
    let dir = tempfile::tempdir().unwrap();
    // A crash left this node's service marked running.
    {
        let store = switchboard_store::connect(&format!(
            "sqlite://{}",
            dir.path().join("switchboard.db").display()
        ))
        .await
        .unwrap();
        store
            .register_service(&Service {
                id: "n1/server/1/0".into(),
                node: "n1".into(),
                kind: "server".into(),
                address: "127.0.0.1".into(),
                port: 1,
                pid: 1,
                started_at: chrono::Utc::now(),
                stopped_at: None,
                running: true,
            })
            .await
            .unwrap();
    }
    let data = dir.path().to_owned();
    let app = spawn_app_with(move |c| {
        c.operations.data_dir = data;
        c.cluster.node_name = Some("n1".into());
        c.operations.monitor_interval = Duration::from_millis(30);
        c.operations.status_rows_kept = 3;
    })
    .await;
    let services = app.store.services().await.unwrap();
    let stale = services.iter().find(|s| s.id == "n1/server/1/0").unwrap();
    assert!(!stale.running, "the crashed run's row is marked stopped");
    let me = services.iter().find(|s| s.running).unwrap().clone();
    assert_eq!(me.node, "n1");
    assert_eq!(me.pid, std::process::id());

    let token = app.signup("clinician").await;
    app.create_session(&token).await;
    // Wait until a sample sees the session, then until enough samples piled up to be capped.
    eventually("a status sample counting the session", PATIENCE, || async {
        let latest = app.store.latest_statuses().await.unwrap();
        holds(
            latest
                .iter()
                .any(|s| s.service_id == me.id && s.sessions == 1),
            format!("{latest:?}"),
        )
    })
    .await;
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    eventually(
        "the status history to fill up to its cap",
        PATIENCE,
        || async {
            let n = app.store.status_history(&me.id, since).await.unwrap().len();
            assert!(n <= 3, "never more than the cap: {n}");
            holds(n == 3, format!("{n} samples"))
        },
    )
    .await;
    // More samples keep coming, and the cap still holds.
    let newest = app
        .store
        .status_history(&me.id, since)
        .await
        .unwrap()
        .pop()
        .unwrap()
        .at;
    eventually("another sample", PATIENCE, || async {
        let h = app.store.status_history(&me.id, since).await.unwrap();
        assert!(h.len() <= 3);
        let last = h.last().unwrap().at;
        holds(last > newest, format!("newest sample at {last}"))
    })
    .await;
    let latest = app.store.latest_statuses().await.unwrap();
    let st = latest.iter().find(|s| s.service_id == me.id).unwrap();
    assert!(st.resident_bytes > 0 && st.wall_seconds > 0.0, "{st:?}");
}

/// The value of a sample line `name{labels} value` whose name and labels contain all `parts`.
fn sample(text: &str, parts: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p)))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_move_with_traffic() {
    const METRICS_TOKEN: &str = "operations-metrics-token";
    let app = spawn_app_with(|c| c.operations.metrics_token = Some(METRICS_TOKEN.into())).await;
    let get_metrics = || async {
        let resp = app
            .http
            .get(format!("http://{}/metrics", app.addr))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        resp.text().await.unwrap()
    };
    let before = get_metrics().await;
    let token = app.signup("clinician").await;
    let (suid, device) = app.live_session(&token).await;
    let mut viewer = app
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    next_event(&mut viewer, "hello").await;
    for seq in 1..=5 {
        app.post_frame(&suid, &device, seq, jpeg(seq)).await;
        next_frame(&mut viewer).await;
    }
    let after = get_metrics().await;
    // Every sample line is `name{labels} value` with a valid name and a number.
    for line in after
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "{line}"
        );
    }
    // Other tests in this process share the recorder, so compare differences.
    assert!(
        sample(&after, &["switchboard_frames_in_total"])
            - sample(&before, &["switchboard_frames_in_total"])
            >= 5.0
    );
    assert!(
        sample(&after, &["switchboard_frames_out_total", "websocket"])
            - sample(&before, &["switchboard_frames_out_total", "websocket"])
            >= 5.0
    );
    assert!(
        sample(
            &after,
            &[
                "switchboard_http_requests_total",
                "/api/v1/sessions/{suid}/frames",
                "200"
            ]
        ) >= 5.0
    );
    assert!(after.contains("switchboard_frame_delivery_seconds_bucket"));
    assert!(after.contains(&format!("switchboard_session_fps{{suid=\"{suid}\"}}")));
    assert!(sample(&after, &["switchboard_sessions{", "live"]) >= 1.0);
    assert!(sample(&after, &["switchboard_devices_streaming"]) >= 1.0);
    assert!(
        after.contains("switchboard_kernels "),
        "the kernels gauge is exported"
    );
    app.http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let ended = get_metrics().await;
    assert!(
        sample(
            &ended,
            &["switchboard_sessions_ended_total", "ended_by_user"]
        ) >= 1.0
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let resp = app
            .http
            .get(format!("http://{}{path}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn admin_views_are_for_admins_and_scoped_to_their_account() {
    let app = spawn_app().await;
    let admin = app.signup("admin").await;
    let other_admin = app.signup("other").await;
    let (suid, _) = app.live_session(&admin).await;
    let (other_suid, _) = app.live_session(&other_admin).await;
    // A member of the admin's account.
    let invite: Value = app
        .http
        .post(app.url("/account/invites"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let member: Value = app
        .http
        .post(app.url("/auth/register"))
        .json(&serde_json::json!({"username": "member", "password": "amber falcon ledger prism", "invite": invite["invite"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let member = member["token"].as_str().unwrap();
    let resp = app
        .http
        .get(app.url("/admin/overview"))
        .bearer_auth(member)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "forbidden");

    let overview: Value = app
        .http
        .get(app.url("/admin/overview"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(overview["scope"], "account");
    // The answering node's detector, or why it is off (test nodes turn it off).
    let why = overview["detector"]["off_because"].as_str().unwrap();
    assert!(why.contains("turned off"), "{overview}");
    let suids: Vec<&str> = overview["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["suid"].as_str().unwrap())
        .collect();
    assert_eq!(
        suids,
        vec![suid.as_str()],
        "an account admin sees only their account"
    );
    assert_eq!(overview["nodes"].as_array().unwrap().len(), 0);
    let nodes = app
        .http
        .get(app.url("/admin/nodes"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(nodes.status(), StatusCode::FORBIDDEN);
    let foreign_end = app
        .http
        .post(app.url(&format!("/admin/sessions/{other_suid}/end")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_end.status(), StatusCode::NOT_FOUND);

    // An operator sees everything.
    let op = &app.operator_token(&admin).await;
    let overview: Value = app
        .http
        .get(app.url("/admin/overview"))
        .bearer_auth(op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(overview["scope"], "all");
    assert_eq!(overview["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(overview["totals"]["live"], 2);
    let nodes = overview["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    let service_id = nodes[0]["service"]["id"].as_str().unwrap();
    let history = app
        .http
        .get(app.url("/admin/history"))
        .query(&[("service", service_id), ("minutes", "10")])
        .bearer_auth(op)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), StatusCode::OK);
    let ended: Value = app
        .http
        .post(app.url(&format!("/admin/sessions/{other_suid}/end")))
        .bearer_auth(op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ended["end_reason"], "ended_by_user");
    let overview: Value = app
        .http
        .get(app.url("/admin/overview"))
        .bearer_auth(op)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        overview["last_hour"]["by_reason"][0]["reason"],
        "ended_by_user"
    );
    assert_eq!(overview["recent_cdrs"][0]["suid"], other_suid);
}

#[tokio::test]
async fn behind_a_trusted_proxy_rate_limits_apply_per_forwarded_client() {
    let app = spawn_app_with(|c| {
        c.network.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.devices.ticket_redemptions_per_minute = 2;
    })
    .await;
    let redeem = |client: &'static str| {
        app.http
            .post(app.url("/devices/register"))
            .header("x-forwarded-for", client)
            .json(&serde_json::json!({"ticket": "2345-6789"}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(
            redeem("192.0.2.1").await.unwrap().status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        redeem("192.0.2.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own allowance.
    assert_eq!(
        redeem("192.0.2.2").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
