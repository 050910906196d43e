//! The shared bus suite: every `Bus` implementation must pass these.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use futures::StreamExt;
use std::time::Duration;
use switchboard_bus::{Bus, Delivery, InProcessBus, NatsBus};

async fn next(sub: &mut switchboard_bus::Subscription) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("delivery within 5 s")
        .expect("subscription open")
}

async fn delivers_in_order_to_every_subscriber(bus: &dyn Bus) {
    // A subject with the bus's whole capacity (`subjects::capacity` gives some fewer).
    let mut a = bus.subscribe("sb.test.frames").await.unwrap();
    let mut b = bus.subscribe("sb.test.frames").await.unwrap();
    for i in 0..100u32 {
        bus.publish("sb.test.frames", Bytes::from(i.to_string()))
            .await
            .unwrap();
    }
    for sub in [&mut a, &mut b] {
        for i in 0..100u32 {
            assert_eq!(
                next(sub).await,
                Delivery::Message(Bytes::from(i.to_string()))
            );
        }
    }
}

async fn subjects_are_separate(bus: &dyn Bus) {
    let mut a = bus.subscribe("sb.one.controls").await.unwrap();
    bus.publish("sb.two.controls", Bytes::from_static(b"not for a"))
        .await
        .unwrap();
    bus.publish("sb.one.controls", Bytes::from_static(b"for a"))
        .await
        .unwrap();
    assert_eq!(
        next(&mut a).await,
        Delivery::Message(Bytes::from_static(b"for a"))
    );
}

async fn publishing_without_subscribers_is_fine(bus: &dyn Bus) {
    bus.publish("sb.nobody.frames", Bytes::from_static(b"x"))
        .await
        .unwrap();
}

async fn run_suite(bus: &dyn Bus) {
    delivers_in_order_to_every_subscriber(bus).await;
    subjects_are_separate(bus).await;
    publishing_without_subscribers_is_fine(bus).await;
}

#[tokio::test]
async fn in_process_bus_passes_the_suite() {
    run_suite(&InProcessBus::default()).await;
}

/// The NATS server the cluster tests use: `SWITCHBOARD_TEST_NATS_URL`, or the local one.
/// Unreachable, it skips the test with a note, except in CI, where it fails.
async fn nats() -> Option<NatsBus> {
    let url = std::env::var("SWITCHBOARD_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    match NatsBus::connect(&url, 1024).await {
        Ok(bus) => Some(bus),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping NATS test: {e}");
            None
        }
        Err(e) => panic!("NATS must be reachable in CI: {e}"),
    }
}

/// Subjects unique to one test run, so parallel runs on one server never mix.
fn unique(subject: &str) -> String {
    format!("{subject}.{}", std::process::id())
}

#[tokio::test]
async fn nats_bus_passes_the_suite() {
    let Some(bus) = nats().await else { return };
    run_suite(&bus).await;
}

#[tokio::test]
async fn nats_carries_payloads_above_its_message_limit() {
    let Some(bus) = nats().await else { return };
    let subject = unique("sb.big.frames");
    let mut sub = bus.subscribe(&subject).await.unwrap();
    bus.flush().await.unwrap();
    // 3 MiB: three times NATS' default 1 MB limit.
    let big: Bytes = (0..3 * 1024 * 1024)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    bus.publish(&subject, big.clone()).await.unwrap();
    bus.publish(&subject, Bytes::from_static(b"small"))
        .await
        .unwrap();
    assert_eq!(next(&mut sub).await, Delivery::Message(big));
    assert_eq!(
        next(&mut sub).await,
        Delivery::Message(Bytes::from_static(b"small"))
    );
}

#[tokio::test]
async fn two_nats_connections_see_each_others_messages() {
    let (Some(a), Some(b)) = (nats().await, nats().await) else {
        return;
    };
    let subject = unique("sb.cross.controls");
    let mut sub = b.subscribe(&subject).await.unwrap();
    b.flush().await.unwrap();
    a.publish(&subject, Bytes::from_static(b"from a"))
        .await
        .unwrap();
    // Publishing only queues the message on `a`'s connection; the flush waits for the server.
    a.flush().await.unwrap();
    assert_eq!(
        next(&mut sub).await,
        Delivery::Message(Bytes::from_static(b"from a"))
    );
}

#[tokio::test]
async fn a_subscription_is_in_place_at_the_server_when_subscribe_returns() {
    // What the device socket relies on: subscribe, then publish from another connection at
    // once (another node storing a control); the message must not slip past.
    let (Some(a), Some(b)) = (nats().await, nats().await) else {
        return;
    };
    for round in 0..100 {
        let subject = unique(&format!("sb.cross.ready{round}"));
        let mut sub = b.subscribe(&subject).await.unwrap();
        a.publish(&subject, Bytes::from_static(b"at once"))
            .await
            .unwrap();
        a.flush().await.unwrap();
        assert_eq!(
            next(&mut sub).await,
            Delivery::Message(Bytes::from_static(b"at once")),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn a_slow_subscriber_is_told_it_lagged_and_the_publisher_never_waits() {
    let bus = InProcessBus::new(4);
    let mut slow = bus.subscribe("sb.s.frames").await.unwrap();
    for i in 0..10u8 {
        bus.publish("sb.s.frames", Bytes::from(vec![i]))
            .await
            .unwrap();
    }
    assert_eq!(next(&mut slow).await, Delivery::Lagged(6));
    assert_eq!(
        next(&mut slow).await,
        Delivery::Message(Bytes::from(vec![6u8]))
    );
}

#[tokio::test]
async fn a_sessions_controls_hold_few_slots_and_a_lag_still_wakes_the_subscriber() {
    let bus = InProcessBus::new(1024);
    let subject = switchboard_bus::subjects::controls("s1");
    let mut device = bus.subscribe(&subject).await.unwrap();
    for i in 0..10u8 {
        bus.publish(&subject, Bytes::from(vec![i])).await.unwrap();
    }
    // Four slots: the device learns it missed some, and reads the controls from the store.
    assert_eq!(next(&mut device).await, Delivery::Lagged(6));
}

#[tokio::test]
async fn dropped_subscriptions_free_their_subject() {
    let bus = InProcessBus::default();
    let sub = bus.subscribe("sb.x.events").await.unwrap();
    assert_eq!(bus.active_subjects(), 1);
    drop(sub);
    bus.publish("sb.x.events", Bytes::new()).await.unwrap();
    assert_eq!(bus.active_subjects(), 0);
}
