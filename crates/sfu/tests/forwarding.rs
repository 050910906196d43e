//! The forwarding unit with real WebRTC clients (str0m, over loopback UDP): ICE, DTLS, SRTP
//! and SCTP as a browser would do them.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use switchboard_sfu::client::{Client, ClientHandle, ClientStats, SendPlan};
use switchboard_sfu::{CloseReason, Joined, PeerEvent, Role, Sfu, SfuConfig, SfuError};
use tokio_util::sync::CancellationToken;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn start(tune: impl FnOnce(&mut SfuConfig)) -> (Sfu, CancellationToken) {
    let mut config = SfuConfig::new((LOOPBACK, 0).into());
    tune(&mut config);
    let stop = CancellationToken::new();
    (Sfu::start(config, stop.clone()).unwrap(), stop)
}

async fn connect(sfu: &Sfu, room: &str, role: Role, plan: SendPlan) -> (Joined, ClientHandle) {
    let (mut client, offer) = Client::offer(role, LOOPBACK).await.unwrap();
    let joined = sfu.join(room, role, &offer).await.unwrap();
    client.accept(&joined.answer).unwrap();
    (joined, client.spawn(plan))
}

fn quiet() -> SendPlan {
    SendPlan {
        video_fps: 0,
        frame_bytes: 0,
        audio: false,
        recorded: None,
    }
}

async fn until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn n(counter: &std::sync::atomic::AtomicU64) -> u64 {
    ClientStats::get(counter)
}

#[tokio::test]
async fn a_publishers_video_reaches_every_viewer_and_viewers_ask_for_keyframes() {
    let (sfu, _stop) = start(|_| {});
    let (publisher, phone) = connect(&sfu, "room", Role::Publisher, SendPlan::default()).await;
    let mut viewers = Vec::new();
    for _ in 0..3 {
        viewers.push(connect(&sfu, "room", Role::Viewer, quiet()).await);
    }
    until(
        "every viewer to get 20 frames",
        Duration::from_secs(10),
        || {
            viewers
                .iter()
                .all(|(_, v)| n(&v.stats.video_frames_in) >= 20)
        },
    )
    .await;
    assert!(
        n(&phone.stats.keyframe_requests) >= 1,
        "viewers joining ask the publisher for a keyframe"
    );
    for (joined, viewer) in &viewers {
        let highest = n(&viewer.stats.highest_frame);
        let got = n(&viewer.stats.video_frames_in);
        assert!(highest >= got, "frames arrive as sent: {highest} / {got}");
        assert!(
            n(&joined.counters.frames_out) >= 20,
            "the server counts what it forwarded"
        );
    }
    assert!(n(&publisher.counters.frames_in) >= 20);
    assert!(n(&publisher.counters.bytes_in) > 20 * 6000);
    assert_eq!(sfu.peers(Role::Publisher), 1);
    assert_eq!(sfu.peers(Role::Viewer), 3);
    // Another room's viewer sees nothing of this one.
    let (_other, stranger) = connect(&sfu, "elsewhere", Role::Viewer, quiet()).await;
    until("the stranger to connect", Duration::from_secs(5), || {
        stranger.stats.connected.load(Ordering::Relaxed)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(n(&stranger.stats.video_frames_in), 0);
}

#[tokio::test]
async fn one_viewer_talks_at_a_time_and_the_data_channel_carries_text_both_ways() {
    let (sfu, _stop) = start(|_| {});
    let (mut publisher, mut phone) = connect(&sfu, "visit", Role::Publisher, quiet()).await;
    let talk = SendPlan {
        video_fps: 0,
        frame_bytes: 0,
        audio: true,
        recorded: None,
    };
    let (_a, first) = connect(&sfu, "visit", Role::Viewer, talk.clone()).await;
    until(
        "the first voice to reach the phone",
        Duration::from_secs(10),
        || n(&phone.stats.audio_frames_in) >= 10,
    )
    .await;
    let (_b, second) = connect(&sfu, "visit", Role::Viewer, talk).await;
    until("the second viewer to send", Duration::from_secs(10), || {
        n(&second.stats.audio_frames_out) >= 10
    })
    .await;
    // Both talk for a second: the phone hears one of them (50 packets a second), not both.
    let before = n(&phone.stats.audio_frames_in);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let heard = n(&phone.stats.audio_frames_in) - before;
    assert!(
        (25..=70).contains(&heard),
        "heard {heard} packets in a second"
    );
    // The first stops; the floor passes to the second.
    first.stop();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let before = n(&phone.stats.audio_frames_in);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(n(&phone.stats.audio_frames_in) - before >= 10);

    until("the data channel to open", Duration::from_secs(5), || {
        phone.stats.channel_open.load(Ordering::Relaxed)
    })
    .await;
    sfu.send_text(publisher.peer, r#"{"action":"torch"}"#.into());
    let text = tokio::time::timeout(Duration::from_secs(5), phone.texts.recv())
        .await
        .unwrap();
    assert_eq!(text.as_deref(), Some(r#"{"action":"torch"}"#));
    phone.send_text("status");
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), publisher.events.recv())
            .await
            .unwrap()
            .unwrap();
        if event == PeerEvent::Text("status".into()) {
            break;
        }
        assert_eq!(event, PeerEvent::Connected);
    }
}

#[tokio::test]
async fn one_publisher_per_room_caps_per_node_and_leaving() {
    let (sfu, _stop) = start(|c| {
        c.max_viewers = 2;
        c.connect_timeout = Duration::from_secs(1);
    });
    let (publisher, _phone) = connect(&sfu, "r", Role::Publisher, quiet()).await;
    let (_second, offer) = Client::offer(Role::Publisher, LOOPBACK).await.unwrap();
    assert!(matches!(
        sfu.join("r", Role::Publisher, &offer).await,
        Err(SfuError::PublisherPresent)
    ));
    let (mut a, _va) = connect(&sfu, "r", Role::Viewer, quiet()).await;
    let (_b, _vb) = connect(&sfu, "r", Role::Viewer, quiet()).await;
    let (_c, offer) = Client::offer(Role::Viewer, LOOPBACK).await.unwrap();
    assert!(matches!(
        sfu.join("r", Role::Viewer, &offer).await,
        Err(SfuError::Full { limit: 2, .. })
    ));
    sfu.leave(a.peer);
    loop {
        match a.events.recv().await {
            Some(PeerEvent::Closed(reason)) => {
                assert_eq!(reason, CloseReason::Left);
                break;
            }
            Some(_) => {}
            None => panic!("no Closed event"),
        }
    }
    assert_eq!(sfu.peers(Role::Viewer), 1);
    // The publisher's offer is no viewer's, and text is no offer.
    assert!(matches!(
        sfu.join("r", Role::Viewer, "hello").await,
        Err(SfuError::BadOffer(_))
    ));
    drop(publisher);
}

#[tokio::test]
async fn a_peer_that_never_connects_is_dropped() {
    let (sfu, _stop) = start(|c| c.connect_timeout = Duration::from_millis(500));
    let (_client, offer) = Client::offer(Role::Viewer, LOOPBACK).await.unwrap();
    let mut joined = sfu.join("r", Role::Viewer, &offer).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), joined.events.recv())
        .await
        .unwrap();
    assert_eq!(event, Some(PeerEvent::Closed(CloseReason::NeverConnected)));
    assert_eq!(sfu.peers(Role::Viewer), 0);
}

#[tokio::test]
async fn garbage_on_the_udp_port_does_nothing_to_the_peers() {
    let (sfu, _stop) = start(|_| {});
    let (_p, _phone) = connect(&sfu, "r", Role::Publisher, SendPlan::default()).await;
    let (_v, viewer) = connect(&sfu, "r", Role::Viewer, quiet()).await;
    until("video to flow", Duration::from_secs(10), || {
        n(&viewer.stats.video_frames_in) >= 10
    })
    .await;
    let attacker = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let target = sfu.local_addr();
    // A STUN binding request with a made-up username, DTLS records, RTP-looking bytes,
    // empty and oversized datagrams.
    let mut stun = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun.extend_from_slice(b"evil:who");
    let garbage: Vec<Vec<u8>> = vec![
        stun,
        vec![22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
        vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3],
        vec![],
        vec![0xff; 1500],
    ];
    let before = n(&viewer.stats.video_frames_in);
    for _ in 0..200 {
        for g in &garbage {
            let _ = attacker.send_to(g, target).await;
        }
    }
    until("video to keep flowing", Duration::from_secs(5), || {
        n(&viewer.stats.video_frames_in) >= before + 15
    })
    .await;
    assert_eq!(sfu.peers(Role::Viewer), 1);
}

/// A network that blocks UDP: a phone reaching the node over ICE-TCP alone (the answer's
/// passive candidate on the same port number) publishes, and a viewer over UDP gets its
/// frames; with TCP off the answer offers no TCP candidate.
#[tokio::test]
async fn a_phone_without_udp_publishes_over_ice_tcp_on_the_same_port() {
    let (sfu, _stop) = start(|_| {});
    let (mut client, offer) = Client::offer_tcp_only(Role::Publisher, LOOPBACK)
        .await
        .unwrap();
    assert!(
        !offer.contains("a=candidate"),
        "the offer names no UDP path"
    );
    let joined = sfu.join("room", Role::Publisher, &offer).await.unwrap();
    let port = sfu.local_addr().port();
    assert!(
        joined.answer.lines().any(|l| l.contains(" tcp ")
            && l.contains("tcptype passive")
            && l.contains(&format!(" {port} typ host"))),
        "{}",
        joined.answer
    );
    client.accept(&joined.answer).unwrap();
    client.connect_tcp(&joined.answer).await.unwrap();
    let phone = client.spawn(SendPlan::default());
    until(
        "the phone to connect over TCP",
        Duration::from_secs(10),
        || phone.stats.connected.load(Ordering::Relaxed),
    )
    .await;
    let (_, viewer) = connect(&sfu, "room", Role::Viewer, quiet()).await;
    until(
        "the viewer to get 20 frames",
        Duration::from_secs(10),
        || n(&viewer.stats.video_frames_in) >= 20,
    )
    .await;
    assert!(n(&joined.counters.frames_in) >= 20);

    let (sfu, _stop) = start(|c| c.tcp = false);
    let (_, offer) = Client::offer(Role::Viewer, LOOPBACK).await.unwrap();
    let answer = sfu.join("room", Role::Viewer, &offer).await.unwrap().answer;
    assert!(!answer.contains(" tcp "), "{answer}");
}

/// What a stranger can do to the TCP port: a frame longer than any packet, or a packet no
/// peer's ICE agent takes, and the connection is closed; a phone over UDP goes on meanwhile.
#[tokio::test]
async fn garbage_on_the_tcp_port_closes_that_connection_and_nothing_else() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (sfu, _stop) = start(|_| {});
    let (_, phone) = connect(&sfu, "room", Role::Publisher, SendPlan::default()).await;
    let (_, viewer) = connect(&sfu, "room", Role::Viewer, quiet()).await;
    let closed = |mut stream: tokio::net::TcpStream| async move {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "the node closes the connection: {read:?}"
        );
    };
    let mut long = tokio::net::TcpStream::connect(sfu.local_addr())
        .await
        .unwrap();
    long.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    closed(long).await;
    let mut stranger = tokio::net::TcpStream::connect(sfu.local_addr())
        .await
        .unwrap();
    let mut frame = vec![0, 20];
    frame.extend_from_slice(&[0x16; 20]); // a DTLS-looking record from nobody
    stranger.write_all(&frame).await.unwrap();
    closed(stranger).await;
    let before = n(&viewer.stats.video_frames_in);
    until(
        "the viewer to keep getting frames",
        Duration::from_secs(10),
        || n(&viewer.stats.video_frames_in) >= before + 10,
    )
    .await;
    drop(phone);
}

/// Many connections at once: past the node's peer caps (here 1 + 1) the TCP port closes a
/// new connection at once, so open sockets cannot pile up.
#[tokio::test]
async fn tcp_connections_past_the_peer_caps_are_closed_at_once() {
    use tokio::io::AsyncReadExt;
    let (sfu, _stop) = start(|c| {
        c.max_publishers = 1;
        c.max_viewers = 1;
    });
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(
            tokio::net::TcpStream::connect(sfu.local_addr())
                .await
                .unwrap(),
        );
    }
    // Let the engine take both before the next one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(sfu.local_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "the third connection is closed: {read:?}"
    );
    // The held ones are still open (nothing to read, no close).
    let read = tokio::time::timeout(Duration::from_millis(300), held[0].read(&mut buf)).await;
    assert!(read.is_err(), "a held connection stays open: {read:?}");
}
