//! Live sessions held open for the length of a stage: each with a device on its WebSocket,
//! sending one JPEG frame every ten seconds, and one viewer on the watch WebSocket. Both
//! sockets of a session are served by one task, so ten thousand sessions cost the bench
//! five thousand tasks, not ten.

use super::loopback::{self, Socket};
use crate::load::account::ApiClient;
use anyhow::Context;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use reqwest::Url;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use switchboard_server::protocol::DeviceRegistered;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// How often each device sends a frame: a camera that is on but barely moving.
pub const FRAME_PERIOD: Duration = Duration::from_secs(10);

/// Every live session of a stage, and what went wrong with them.
#[derive(Debug, Default)]
pub struct LiveFleet {
    tasks: JoinSet<()>,
    stop: CancellationToken,
    /// Sockets that failed or closed while they should have stayed open.
    pub failures: Arc<AtomicU64>,
    /// Frames the devices sent.
    pub frames: Arc<AtomicU64>,
    /// Every session's device, as registered.
    pub devices: Vec<DeviceRegistered>,
}

/// Where a live session's two sockets come from.
#[derive(Debug, Clone, Copy)]
pub struct SocketSlots {
    /// Index of the device's socket in the run (its loopback address follows from it).
    pub device: usize,
    pub viewer: usize,
}

impl LiveFleet {
    /// Opens `count` live sessions, each with its device and watch socket (socket slots
    /// 0 to 2 × `count`), and holds them all.
    pub async fn open_many(
        api: &ApiClient,
        base: &Url,
        count: usize,
        frame: Bytes,
    ) -> anyhow::Result<LiveFleet> {
        LiveFleet::open_spread(count, frame, |_| (api, base)).await
    }

    /// As [`LiveFleet::open_many`], with session `n` created through `place(n).0` (the node
    /// that will own it) and watched on the node at `place(n).1`.
    pub async fn open_spread<'a>(
        count: usize,
        frame: Bytes,
        place: impl Fn(usize) -> (&'a ApiClient, &'a Url),
    ) -> anyhow::Result<LiveFleet> {
        let progress = super::bar(count as u64, "live sessions");
        let mut fleet = LiveFleet::default();
        let mut opening = futures::stream::iter(0..count)
            .map(|n| {
                let slots = SocketSlots {
                    device: 2 * n,
                    viewer: 2 * n + 1,
                };
                let (frame, fleet) = (frame.clone(), &fleet);
                let (api, base) = place(n);
                async move {
                    Link::open(api, base, &format!("live {n}"), slots, frame, fleet)
                        .await
                        .with_context(|| format!("cannot open live session {n} of {count}"))
                }
            })
            .buffer_unordered(super::api::CONCURRENCY);
        let mut links = Vec::with_capacity(count);
        while let Some(link) = opening.next().await {
            links.push(link?);
            progress.inc(1);
        }
        drop(opening);
        for (link, registered) in links {
            fleet.devices.push(registered);
            fleet.hold(link);
        }
        progress.finish_and_clear();
        Ok(fleet)
    }

    /// Keeps `link`'s sockets open until [`LiveFleet::close`].
    pub fn hold(&mut self, link: Link) {
        self.tasks.spawn(link.hold(self.stop.clone()));
    }

    /// Sessions held open now.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Closes every socket and waits for their tasks.
    pub async fn close(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// One live session's two sockets.
pub struct Link {
    device: Socket,
    viewer: Socket,
    frame: Bytes,
    failures: Arc<AtomicU64>,
    frames: Arc<AtomicU64>,
}

impl Link {
    /// Creates a session, registers its device and opens its viewer, then its device socket.
    /// The viewer comes first, so the session never runs into the no-viewers timeout.
    /// Returns the link and the device's registration.
    pub async fn open(
        api: &ApiClient,
        base: &Url,
        label: &str,
        slots: SocketSlots,
        frame: Bytes,
        fleet: &LiveFleet,
    ) -> anyhow::Result<(Link, DeviceRegistered)> {
        let registered = super::api::create_live(api, label).await?;
        let watch = loopback::ws_url(base, &format!("api/v1/sessions/{}/watch", registered.suid))?;
        let viewer =
            loopback::connect(&watch, api.token(), loopback::socket_address(slots.viewer)).await?;
        let device_url: Url = registered.websocket_url.parse()?;
        let device = loopback::connect(
            &device_url,
            &registered.device_token,
            loopback::socket_address(slots.device),
        )
        .await?;
        let link = Link {
            device,
            viewer,
            frame,
            failures: fleet.failures.clone(),
            frames: fleet.frames.clone(),
        };
        Ok((link, registered))
    }

    /// Sends a frame at once and then every [`FRAME_PERIOD`], reads (and drops) whatever the
    /// server sends on either socket, until `stop`. A socket the server closes first counts as
    /// a failure: nothing in a stage should end these sessions.
    async fn hold(mut self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(FRAME_PERIOD);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let failed = loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break false,
                _ = tick.tick() => {
                    if self.device.send(Message::Binary(self.frame.clone())).await.is_err() {
                        break true;
                    }
                    self.frames.fetch_add(1, Ordering::Relaxed);
                }
                message = self.device.next() => if !still_open(message) { break true },
                message = self.viewer.next() => if !still_open(message) { break true },
            }
        };
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.device.close(None).await;
        let _ = self.viewer.close(None).await;
    }
}

/// Whether a socket that produced `message` is still open.
fn still_open(message: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> bool {
    matches!(message, Some(Ok(m)) if !m.is_close())
}
