//! Live sessions across nodes: a device on one node, viewers on others, the owner on a third;
//! controls, viewer counts and the end travel between them, and a stopping owner hands its
//! sessions to the others without losing the call.

use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Reads MJPEG parts from a viewer's stream until one is `want` (a frame the device sent),
/// posting the device's frames meanwhile so that relay start-up does not matter.
async fn until_frame_arrives(
    device_node: &TestApp,
    suid: &str,
    device: &str,
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    want: bytes::Bytes,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut buf = Vec::new();
    let mut seq = 1000;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the frame never reached the viewer on another node"
        );
        seq += 1;
        let resp = device_node
            .post_frame(suid, device, seq, want.clone())
            .await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the device's node takes the frame"
        );
        if let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_millis(200), body.next()).await
        {
            buf.extend_from_slice(&chunk.unwrap());
            if buf.windows(want.len()).any(|w| w == want.as_ref()) {
                return;
            }
        }
    }
}

/// The session as `node` shows it, polled until `check` holds.
async fn until_session(
    node: &TestApp,
    token: &str,
    suid: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    eventually(what, PATIENCE, || async {
        let s = node.session(token, suid, None).await;
        if check(&s) { Ok(s) } else { Err(s.to_string()) }
    })
    .await
}

/// Ends the session through `node` and checks it ended by the user and left exactly one CDR
/// in the shared database.
pub(crate) async fn end_with_one_cdr(node: &TestApp, token: &str, suid: &str) {
    let resp = node
        .http
        .delete(node.url(&format!("/sessions/{suid}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ended: Value = resp.json().await.unwrap();
    assert_eq!(
        (ended["state"].as_str(), ended["end_reason"].as_str()),
        (Some("ended"), Some("ended_by_user"))
    );
    let from = chrono::Utc::now() - chrono::Duration::hours(1);
    let to = chrono::Utc::now() + chrono::Duration::hours(1);
    let cdrs = node.store.cdrs(from, to).await.unwrap();
    assert_eq!(
        cdrs.iter().filter(|c| c.suid.to_string() == suid).count(),
        1,
        "exactly one CDR"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_on_one_node_is_watched_and_controlled_from_the_others() {
    // The fourth node only shows the session: it neither owns nor follows it.
    let Some(cluster) = spawn_cluster(4, |_| {}).await else {
        return;
    };
    let (owner, device_node, viewer_node) = (&cluster[0], &cluster[1], &cluster[2]);
    let token = owner.signup("cluster.live").await;
    let session = owner.create_session(&token).await;
    let suid = session["suid"].as_str().unwrap().to_owned();

    // The device redeems the ticket on another node: the owner's session goes live.
    let resp = device_node
        .register_device_raw(
            session["ticket"].as_str().unwrap(),
            json!({"model": "Pixel 9", "os": "Android 16", "app_version": "3.1.0"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let device: Value = resp.json().await.unwrap();
    let device_token = device["device_token"].as_str().unwrap().to_owned();
    until_session(owner, &token, &suid, "live on the owner", |s| {
        s["state"] == "live"
    })
    .await;

    // A viewer on the third node gets the device's frames through the owner.
    let viewer = viewer_node
        .http
        .get(viewer_node.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), StatusCode::OK);
    // Held open until the end: the viewer keeps watching while the rest is checked.
    let mut watching = viewer.bytes_stream();
    until_frame_arrives(device_node, &suid, &device_token, &mut watching, jpeg(77)).await;

    // A frame above NATS' 1 MB message limit crosses nodes whole.
    let big = bytes::Bytes::from(switchboard_media::synth::sized(3, 1_500_000));
    assert!(big.len() > 1_048_576);
    until_frame_arrives(device_node, &suid, &device_token, &mut watching, big).await;

    // Every node counts the viewer on the third node.
    for node in &cluster.nodes {
        until_session(node, &token, &suid, "the viewer is counted", |s| {
            s["viewers"] == 1 && s["viewer_names"] == json!(["cluster.live"])
        })
        .await;
    }

    // A control sent on the third node reaches the device's socket on the second.
    let mut socket = device_node
        .ws(&format!("/sessions/{suid}/device"), &device_token)
        .await
        .unwrap();
    let resp = viewer_node
        .http
        .post(viewer_node.url(&format!("/sessions/{suid}/controls")))
        .bearer_auth(&token)
        .json(&json!({"action": "torch", "args": {"on": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let control = loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "control" {
                    break v;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no control reached the device: {other:?}"),
        }
    };
    assert_eq!(control["action"], "torch");
    drop(watching);

    // Ending it from the viewer's node ends it on the owner, with one CDR.
    end_with_one_cdr(viewer_node, &token, &suid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_owner_stops_another_node_carries_the_call_on() {
    let Some(mut cluster) = spawn_cluster(3, |c| {
        c.cluster.session_lease = Duration::from_millis(1500);
    })
    .await
    else {
        return;
    };
    let token = cluster[0].signup("cluster.failover").await;
    let session = cluster[0].create_session(&token).await;
    let suid = session["suid"].as_str().unwrap().to_owned();
    let resp = cluster[1]
        .register_device_raw(session["ticket"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let device: Value = resp.json().await.unwrap();
    let device_token = device["device_token"].as_str().unwrap().to_owned();
    until_session(&cluster[1], &token, &suid, "live", |s| s["state"] == "live").await;
    let owner_before = cluster[1]
        .store
        .session_owner(suid.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(owner_before, "n1");

    // The owner stops (a rolling restart's first step); the call goes on through the others.
    cluster.nodes[0].stop().await;
    let new_owner = eventually(
        "another node to take the session over",
        PATIENCE,
        || async {
            match cluster[1]
                .store
                .session_owner(suid.parse().unwrap())
                .await
                .unwrap()
            {
                Some((node, _)) if node != "n1" => Ok(node),
                owner => Err(format!("{owner:?}")),
            }
        },
    )
    .await;
    assert!(new_owner == "n2" || new_owner == "n3", "{new_owner}");

    let viewer = cluster[2]
        .http
        .get(cluster[2].url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(&token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), StatusCode::OK);
    let mut watching = viewer.bytes_stream();
    until_frame_arrives(&cluster[1], &suid, &device_token, &mut watching, jpeg(5)).await;
    let s = until_session(&cluster[2], &token, &suid, "still live", |s| {
        s["state"] == "live"
    })
    .await;
    assert_eq!(s["end_reason"], Value::Null);

    end_with_one_cdr(&cluster[1], &token, &suid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_every_node_loses_no_session() {
    let Some(mut cluster) = spawn_cluster(3, |c| {
        c.cluster.session_lease = Duration::from_millis(1500);
    })
    .await
    else {
        return;
    };
    let token = cluster[0].signup("cluster.rolling").await;
    let session = cluster[0].create_session(&token).await;
    let suid = session["suid"].as_str().unwrap().to_owned();
    let resp = cluster[1]
        .register_device_raw(session["ticket"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let device: Value = resp.json().await.unwrap();
    let device_token = device["device_token"].as_str().unwrap().to_owned();

    for i in 0..3 {
        let node = cluster.nodes.remove(i);
        let node = node.restart().await;
        cluster.nodes.insert(i, node);
        // The device sends to the next node, a viewer watches on the one after: whichever
        // node owns the session now, the call goes on.
        let (device_node, viewer_node) = (&cluster[(i + 1) % 3], &cluster[(i + 2) % 3]);
        let viewer = viewer_node
            .http
            .get(viewer_node.url(&format!("/sessions/{suid}/video.mjpeg")))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap();
        assert_eq!(viewer.status(), StatusCode::OK, "after restarting node {i}");
        let mut watching = viewer.bytes_stream();
        until_frame_arrives(
            device_node,
            &suid,
            &device_token,
            &mut watching,
            jpeg(i as u64 + 10),
        )
        .await;
        let s = cluster[i].session(&token, &suid, None).await;
        assert_eq!(s["state"], "live", "after restarting node {i}: {s}");
    }

    end_with_one_cdr(&cluster[2], &token, &suid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_that_missed_a_registration_adopts_it_from_the_store() {
    // As if the device registered through another node and that node's message to the owner
    // was lost: only the store knows. The owner must notice by itself.
    let Some(cluster) = spawn_cluster(2, |_| {}).await else {
        return;
    };
    let owner = &cluster[0];
    let token = owner.signup("cluster.adopt").await;
    let session = owner.create_session(&token).await;
    let suid: switchboard_core::Suid = session["suid"].as_str().unwrap().parse().unwrap();
    let device = switchboard_core::DeviceId::new();
    let info: switchboard_core::DeviceInfo =
        serde_json::from_value(json!({"model": "Lost message"})).unwrap();
    owner
        .store
        .mark_live(suid, device, &info, chrono::Utc::now())
        .await
        .unwrap();
    for node in &cluster.nodes {
        until_session(node, &token, &suid.to_string(), "live everywhere", |s| {
            s["state"] == "live" && s["device"]["model"] == "Lost message"
        })
        .await;
    }
    end_with_one_cdr(&cluster[1], &token, &suid.to_string()).await;
}
