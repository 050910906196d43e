//! The audit trail: what is recorded (sign-ins, sessions, viewings, controls, ends), who may
//! read it, its filters and paging, failing closed when it cannot be written, and retention
//! that leaves a chain that still verifies.

use crate::expect::expect_error;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_server::services::audit::chain_check;

/// A page of the trail as `token` sees it with `query`.
async fn audit(app: &TestApp, token: &str, query: &str) -> Value {
    let resp = app
        .http
        .get(app.url(&format!("/audit?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{query}");
    resp.json().await.unwrap()
}

fn records(page: &Value) -> Vec<Value> {
    page["records"].as_array().cloned().unwrap_or_default()
}

fn actions(page: &Value) -> Vec<String> {
    records(page)
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_sessions_viewings_controls_and_ends_are_on_the_trail() {
    let app = spawn_app().await;
    let token = app.signup("alice").await;
    let me = app.me(&token).await;
    let user_id = me["id"].as_str().unwrap().to_owned();
    let wrong = login(&app, "alice", "not the password").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&app, "alice", PASSWORD).await.status(),
        StatusCode::OK
    );

    let (suid, device) = app.live_session(&token).await;
    app.post_frame(&suid, &device, 1, jpeg(1)).await;
    // A viewing over MJPEG: it starts, a frame arrives, it ends when the reader drops.
    let stream = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let poster = async {
        for n in 2..6 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            app.post_frame(&suid, &device, n, jpeg(n)).await;
        }
    };
    let (frames, ()) = tokio::join!(read_mjpeg(stream, 2), poster);
    assert_eq!(frames.len(), 2);
    let latest = app
        .http
        .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), StatusCode::OK);
    let control = app
        .http
        .post(app.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(&token)
        .json(&json!({"action": "zoom", "args": {"level": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(control.status(), StatusCode::CREATED);
    let end = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), StatusCode::OK);

    // "Who watched this session": one record per viewing, with its span and route.
    let watched = eventually("the viewing is on record", PATIENCE, || async {
        let page = audit(
            &app,
            &token,
            &format!("target={suid}&action=session.watched"),
        )
        .await;
        let found = records(&page);
        holds(found.len() == 1, &page)?;
        Ok(found[0].clone())
    })
    .await;
    assert_eq!(watched["actor"]["kind"], "user", "{watched}");
    assert_eq!(watched["actor"]["id"], user_id.as_str(), "{watched}");
    assert_eq!(watched["detail"]["route"], "mjpeg", "{watched}");
    assert!(
        watched["detail"]["seconds"].as_f64().unwrap() > 0.0,
        "{watched}"
    );
    assert!(watched["detail"]["started_at"].is_string(), "{watched}");
    assert!(watched["detail"]["ended_at"].is_string(), "{watched}");
    assert_eq!(
        watched["node"],
        app.config.node_name().as_str(),
        "{watched}"
    );

    let page = audit(&app, &token, "limit=100").await;
    let seen = actions(&page);
    for action in [
        "account.sign_up",
        "auth.sign_in",
        "session.created",
        "session.ticket_redeemed",
        "session.watch_started",
        "session.watched",
        "session.frame_viewed",
        "session.control_sent",
        "session.ended",
    ] {
        assert!(
            seen.iter().any(|a| a == action),
            "{action} missing from {seen:?}"
        );
    }
    // The failed sign-in says why, and every record names its request and client.
    let denied = records(&page)
        .into_iter()
        .find(|r| r["action"] == "auth.sign_in" && r["outcome"] == "denied")
        .expect("the failed sign-in");
    assert_eq!(denied["detail"]["reason"], "wrong password", "{denied}");
    assert_eq!(denied["client"], "127.0.0.1", "{denied}");
    assert!(denied["request_id"].is_string(), "{denied}");
    let redeemed = records(&page)
        .into_iter()
        .find(|r| r["action"] == "session.ticket_redeemed")
        .expect("redeemed");
    assert_eq!(redeemed["actor"]["kind"], "device", "{redeemed}");
    assert_eq!(
        redeemed["detail"]["device"]["model"], "Pixel 9",
        "{redeemed}"
    );
    // Nothing per frame: five frames were sent and streamed, two read.
    assert_eq!(
        seen.iter()
            .filter(|a| a.starts_with("session.watch"))
            .count(),
        2,
        "{seen:?}"
    );

    // Every node's chain holds.
    let verdicts = chain_check::verify_all(&*app.store, None, &[])
        .await
        .unwrap();
    assert!(verdicts.iter().all(|v| v.holds()), "{verdicts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_read_their_account_operators_everyone_and_members_nothing() {
    let app = spawn_app().await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.join_account(&alice, "carol").await;
    let (alice_suid, _) = app.live_session(&alice).await;
    let alice_account = app.me(&alice).await["account_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let member = app
        .http
        .get(app.url("/audit"))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    expect_error(member, StatusCode::FORBIDDEN, "forbidden").await;

    // Bob asks about Alice's session, and for Alice's account: he gets only his own.
    let probing = audit(&app, &bob, &format!("target={alice_suid}")).await;
    assert!(records(&probing).is_empty(), "{probing}");
    let asked_for_alice = app
        .http
        .get(app.url(&format!("/audit?account={alice_account}")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    expect_error(asked_for_alice, StatusCode::NOT_FOUND, "account_not_found").await;

    let operator = app.operator_token(&alice).await;
    let everyone = audit(&app, &operator, "limit=500").await;
    let accounts: std::collections::HashSet<String> = records(&everyone)
        .iter()
        .filter_map(|r| r["account"].as_str().map(str::to_owned))
        .collect();
    assert!(accounts.len() >= 2, "{everyone}");
    let only_alice = audit(
        &app,
        &operator,
        &format!("account={alice_account}&limit=500"),
    )
    .await;
    assert!(
        records(&only_alice)
            .iter()
            .all(|r| r["account"] == alice_account.as_str()),
        "{only_alice}"
    );
    // Reading the trail is itself recorded.
    eventually("reading is on record", PATIENCE, || async {
        let page = audit(&app, &alice, "action=audit.read").await;
        holds(!records(&page).is_empty(), &page)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_filters_are_refused_and_pages_walk_every_record_once() {
    let app = spawn_app().await;
    let token = app.signup("alice").await;
    for query in [
        "action=session.teleported",
        "from=2026-12-05T10:00:00Z&to=2026-12-05T09:00:00Z",
        "cursor=bm90IGEgY3Vyc29y",
        "limit=0",
        "limit=501",
    ] {
        let resp = app
            .http
            .get(app.url(&format!("/audit?{query}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY, "invalid_filter").await;
    }
    let resp = app
        .http
        .get(app.url("/audit?from=yesterday"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_query").await;

    let (suid, device) = app.live_session(&token).await;
    app.post_frame(&suid, &device, 1, jpeg(1)).await;
    for _ in 0..20 {
        let resp = app
            .http
            .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let total = eventually("every frame view is on record", PATIENCE, || async {
        let page = audit(&app, &token, "action=session.frame_viewed&limit=500").await;
        let n = records(&page).len();
        holds(n == 20, &page)?;
        Ok(n)
    })
    .await;
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("action=session.frame_viewed&limit=7&cursor={c}"),
            None => "action=session.frame_viewed&limit=7".to_owned(),
        };
        let page = audit(&app, &token, &query).await;
        for r in records(&page) {
            assert!(
                seen.insert((r["node"].clone(), r["seq"].clone())),
                "twice: {r}"
            );
        }
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
}

/// Makes the audit table unwritable behind the server's back, and puts it back.
async fn audit_table(app: &TestApp, away: bool) {
    use sqlx::Connection;
    let path = app.dir.path().join("switchboard.db");
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    let sql = if away {
        "ALTER TABLE audit_records RENAME TO audit_records_away"
    } else {
        "ALTER TABLE audit_records_away RENAME TO audit_records"
    };
    sqlx::query(sql).execute(&mut db).await.unwrap();
    db.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_actions_fail_closed_while_the_trail_cannot_be_written_and_viewing_goes_on() {
    let app = spawn_app().await;
    let token = app.signup("alice").await;
    let (suid, device) = app.live_session(&token).await;
    app.post_frame(&suid, &device, 1, jpeg(1)).await;
    let stream = app
        .http
        .get(app.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);

    audit_table(&app, true).await;
    // A sign-in is answered only once it is recorded: now it cannot be.
    let refused = login(&app, "alice", PASSWORD).await;
    let body = expect_error(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "audit_unavailable",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("audit"),
        "{body}"
    );
    // A new viewer is refused as well...
    let viewer = app
        .http
        .get(app.url(&format!("/sessions/{suid}/frame.jpg")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(viewer, StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable").await;
    // ...while the one already watching carries on.
    let poster = async {
        for n in 2..8 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            app.post_frame(&suid, &device, n, jpeg(n)).await;
        }
    };
    let (frames, ()) = tokio::join!(read_mjpeg(stream, 3), poster);
    assert_eq!(frames.len(), 3);

    audit_table(&app, false).await;
    eventually("sign-ins are recorded again", PATIENCE, || async {
        let resp = login(&app, "alice", PASSWORD).await;
        holds(resp.status() == StatusCode::OK, resp.status())
    })
    .await;
    // The viewing that went on while the trail was down is on it once it ended (ending the
    // session closes every stream of it).
    let end = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), StatusCode::OK);
    eventually("the viewing is on record", PATIENCE, || async {
        let page = audit(
            &app,
            &token,
            &format!("target={suid}&action=session.watched"),
        )
        .await;
        holds(records(&page).len() == 1, &page)
    })
    .await;
    let verdicts = chain_check::verify_all(&*app.store, None, &[])
        .await
        .unwrap();
    assert!(verdicts.iter().all(|v| v.holds()), "{verdicts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_cuts_old_records_and_what_remains_still_verifies() {
    let app = spawn_app_with(|c| {
        c.audit.audit_retention = Duration::from_secs(2);
        c.audit.audit_checkpoint_interval = Duration::from_millis(200);
    })
    .await;
    let token = app.signup("alice").await;
    let node = app.config.node_name();
    let first = app.store.audit_chain(&node, 0, 1).await.unwrap();
    assert_eq!(first.first().map(|r| r.seq), Some(1));
    // Records written now are past their retention in two seconds; the node cuts them,
    // says so on its chain, and signs where the chain now starts.
    // (The node's own records belong to no account: an operator reads them.)
    let operator = app.operator_token(&token).await;
    eventually("old records are pruned", PATIENCE, || async {
        let page = audit(&app, &operator, "action=audit.pruned").await;
        holds(!records(&page).is_empty(), &page)
    })
    .await;
    let left = app.store.audit_chain(&node, 0, 1000).await.unwrap();
    assert!(left.iter().all(|r| r.seq > 1), "record 1 was kept");
    let verdicts = chain_check::verify_all(&*app.store, None, &[])
        .await
        .unwrap();
    let ours = verdicts.iter().find(|v| v.node == node).expect("our chain");
    assert!(ours.holds(), "{ours:?}");
    assert!(ours.starts_after >= 1, "{ours:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_of_a_cluster_keeps_its_own_chain_and_all_of_them_verify() {
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let token = a.signup("alice").await;
    // The same account acts through both nodes.
    for node in [a, b] {
        assert_eq!(
            login(node, "alice", PASSWORD).await.status(),
            StatusCode::OK
        );
        node.create_session(&token).await;
    }
    let names: Vec<String> = cluster.nodes.iter().map(|n| n.config.node_name()).collect();
    // One trail for the account, whichever node wrote each record.
    let page = eventually("both nodes' records are read", PATIENCE, || async {
        let page = audit(b, &token, "action=session.created").await;
        let nodes: std::collections::HashSet<String> = records(&page)
            .iter()
            .filter_map(|r| r["node"].as_str().map(str::to_owned))
            .collect();
        holds(names.iter().all(|n| nodes.contains(n)), &page)?;
        Ok(page)
    })
    .await;
    assert_eq!(records(&page).len(), 2, "{page}");
    let verdicts = chain_check::verify_all(&*a.store, None, &[]).await.unwrap();
    for name in &names {
        let chain = verdicts
            .iter()
            .find(|v| &v.node == name)
            .unwrap_or_else(|| panic!("no chain of {name}: {verdicts:?}"));
        assert!(chain.holds(), "{chain:?}");
        assert!(chain.records >= 2, "{chain:?}");
    }
}
