//! Proof that the bus still delivers. A NATS subscription can die silently (after a broker
//! fails over, say) while the connection looks healthy, so `Bus::is_connected` is not enough:
//! every `bus_probe_interval` each node publishes a probe on its own subject
//! ([`subjects::probe`]) and expects it back on a long-lived subscription before the next
//! one is due. A probe that does not come back marks the bus unhealthy (`/readyz` answers
//! 503, `switchboard_bus_probe_failures_total` counts it, a warning is logged) and makes
//! every long-lived subscriber of the node subscribe again ([`Resubscribe`]); the next probe
//! that comes back marks it healthy again.

use bytes::Bytes;
use futures::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_bus::{Bus, Delivery, Subscription, subjects};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Whether this node's bus delivers, as the newest probe found, and the signal that tells
/// long-lived subscribers to subscribe again.
#[derive(Debug)]
pub struct BusHealth {
    /// Why the bus is unhealthy; `None` while probes come back.
    problem: Mutex<Option<String>>,
    /// Bumped whenever subscriptions should be made again.
    epoch: watch::Sender<u64>,
}

impl Default for BusHealth {
    fn default() -> Self {
        BusHealth {
            problem: Mutex::new(None),
            epoch: watch::Sender::new(0),
        }
    }
}

impl BusHealth {
    /// Why the bus is not delivering, if the newest probe did not come back.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Records the outcome of a probe; returns the previous problem.
    fn set_problem(&self, problem: Option<String>) -> Option<String> {
        let mut slot = self
            .problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *slot, problem)
    }

    /// A signal for one long-lived subscriber: it fires after every later
    /// [`BusHealth::request_resubscribe`].
    pub fn resubscribe(&self) -> Resubscribe {
        Resubscribe(self.epoch.subscribe())
    }

    /// Tells every long-lived subscriber to subscribe again.
    pub fn request_resubscribe(&self) {
        self.epoch
            .send_modify(|epoch| *epoch = epoch.wrapping_add(1));
    }
}

/// Fires when a long-lived subscriber should drop its subscriptions and subscribe again.
/// A clone only fires for requests made after it was cloned.
#[derive(Debug)]
pub struct Resubscribe(watch::Receiver<u64>);

impl Clone for Resubscribe {
    fn clone(&self) -> Self {
        let mut rx = self.0.clone();
        // A new subscriber has fresh subscriptions: earlier requests are not for it.
        rx.mark_unchanged();
        Resubscribe(rx)
    }
}

impl Resubscribe {
    /// A signal that never fires (a node without a probe, tests).
    pub fn never() -> Self {
        Resubscribe(watch::Sender::new(0).subscribe())
    }

    /// Completes at the next request to subscribe again; never, once the sender is gone.
    /// Cancel-safe, so it can be a `select!` branch.
    pub async fn requested(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The probe task of one node.
pub struct BusProbe {
    bus: Arc<dyn Bus>,
    health: Arc<BusHealth>,
    subject: String,
    /// Both how often a probe goes out and how long it may take to come back.
    interval: Duration,
    /// Tells this node's probes apart from another process' with the same node name.
    instance: String,
}

impl std::fmt::Debug for BusProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusProbe")
            .field("subject", &self.subject)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// What one probe found.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Returned,
    Missed(String),
}

impl BusProbe {
    pub fn new(bus: Arc<dyn Bus>, health: Arc<BusHealth>, node: &str, interval: Duration) -> Self {
        BusProbe {
            bus,
            health,
            subject: subjects::probe(node),
            interval: interval.max(Duration::from_millis(10)),
            instance: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    /// Probes every interval until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        crate::metrics::bus_probe_failures(0);
        let mut sub = None;
        // Set by a miss while disconnected: the client resubscribes by itself on reconnect,
        // but a failover can still lose subscriptions, so everyone subscribes again once the
        // connection is back.
        let mut resubscribe_when_connected = false;
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq: u64 = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            if resubscribe_when_connected && self.bus.is_connected() {
                resubscribe_when_connected = false;
                sub = None;
                tracing::info!("the bus is connected again; subscribing again");
                self.health.request_resubscribe();
            }
            seq += 1;
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.probe(&mut sub, seq) => outcome,
            };
            match outcome {
                Outcome::Returned => {
                    // The connection came back while this probe waited: the probe's own
                    // subscription works, the others are made again now.
                    if std::mem::take(&mut resubscribe_when_connected) {
                        tracing::info!("the bus is connected again; subscribing again");
                        self.health.request_resubscribe();
                    }
                    if let Some(problem) = self.health.set_problem(None) {
                        tracing::info!(was = %problem, "bus probes come back again");
                    }
                }
                Outcome::Missed(why) => {
                    crate::metrics::bus_probe_failures(1);
                    let connected = self.bus.is_connected();
                    tracing::warn!(
                        subject = %self.subject,
                        why = %why,
                        connected,
                        "bus probe missed; the bus is not delivering"
                    );
                    self.health.set_problem(Some(why));
                    // The probe's own subscription is made again at the next probe.
                    sub = None;
                    if connected {
                        self.health.request_resubscribe();
                    } else {
                        resubscribe_when_connected = true;
                    }
                }
            }
        }
    }

    /// Sends probe `seq` and waits for it on `sub` (subscribing first if there is none).
    async fn probe(&self, sub: &mut Option<Subscription>, seq: u64) -> Outcome {
        let stream = match sub {
            Some(stream) => stream,
            None => match self.bus.subscribe(&self.subject).await {
                Ok(stream) => sub.insert(stream),
                Err(e) => return Outcome::Missed(format!("cannot subscribe: {e}")),
            },
        };
        let nonce = Bytes::from(format!("{} {seq}", self.instance));
        if let Err(e) = self.bus.publish(&self.subject, nonce.clone()).await {
            return Outcome::Missed(format!("cannot publish: {e}"));
        }
        let back = async {
            while let Some(delivery) = stream.next().await {
                // Older probes may still arrive late; only this one counts.
                if matches!(&delivery, Delivery::Message(m) if *m == nonce) {
                    return true;
                }
            }
            false
        };
        match tokio::time::timeout(self.interval, back).await {
            Ok(true) => Outcome::Returned,
            Ok(false) => Outcome::Missed("the probe subscription ended".into()),
            Err(_) => Outcome::Missed(format!(
                "a probe did not come back within {}",
                humantime::format_duration(self.interval)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU64, Ordering};
    use switchboard_bus::{BusError, InProcessBus};

    /// A bus whose subscriptions made before a "failover" stay open but deliver nothing,
    /// the silent failure the probe exists for.
    struct FailingOverBus {
        inner: InProcessBus,
        generation: Arc<AtomicU64>,
    }

    #[async_trait]
    impl Bus for FailingOverBus {
        async fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
            self.inner.publish(subject, payload).await
        }

        async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
            let made_in = self.generation.load(Ordering::SeqCst);
            let generation = self.generation.clone();
            let sub = self.inner.subscribe(subject).await?;
            Ok(sub
                .filter(move |_| {
                    let alive = generation.load(Ordering::SeqCst) == made_in;
                    async move { alive }
                })
                .boxed())
        }
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_silently_dead_subscription_is_noticed_and_everyone_resubscribes() {
        let generation = Arc::new(AtomicU64::new(0));
        let inner = InProcessBus::default();
        // Watches the probes go by, on a subscription the "failover" leaves alone.
        let mut seen = inner.subscribe(&subjects::probe("n1")).await.unwrap();
        let bus: Arc<dyn Bus> = Arc::new(FailingOverBus {
            inner,
            generation: generation.clone(),
        });
        let health = Arc::new(BusHealth::default());
        let listener = health.resubscribe();
        let shutdown = CancellationToken::new();
        let probe = BusProbe::new(bus, health.clone(), "n1", Duration::from_millis(50));
        let task = tokio::spawn(probe.run(shutdown.clone()));

        // Three probes went out, so at least two came back: healthy, nobody asked to resubscribe.
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(10), seen.next())
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(health.problem(), None);
        assert!(!listener.0.has_changed().unwrap());
        let mut listener = listener;

        // The "failover": subscriptions stay open but deliver nothing.
        generation.fetch_add(1, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(10), listener.requested())
            .await
            .expect("subscribers are told to subscribe again");
        // The probe subscribed again too, so it comes back and the bus is healthy again.
        until("healthy again after resubscribing", || {
            health.problem().is_none()
        })
        .await;

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_clone_fires_only_for_later_requests_and_never_never_fires() {
        let health = BusHealth::default();
        let first = health.resubscribe();
        health.request_resubscribe();
        let mut clone = first.clone();
        assert!(
            tokio::time::timeout(Duration::from_millis(10), clone.requested())
                .await
                .is_err(),
            "a request made before the clone does not fire it"
        );
        health.request_resubscribe();
        tokio::time::timeout(Duration::from_secs(1), clone.requested())
            .await
            .unwrap();
        let mut never = Resubscribe::never();
        assert!(
            tokio::time::timeout(Duration::from_millis(10), never.requested())
                .await
                .is_err()
        );
    }
}
