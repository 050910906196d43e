//! Request bodies that must keep coming, and response bodies that tell their connection when
//! they are done.

use super::activity::Activity;
use super::admission::AddressSlot;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// How a request body must arrive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyPace {
    /// The longest single wait for the next bytes; also the allowance before the rate counts.
    pub(crate) read_timeout: Duration,
    /// Bytes per second, on average over the time the server waits; 0: no minimum.
    pub(crate) min_bytes_per_second: u64,
}

impl BodyPace {
    /// How much longer the server may wait, having received `bytes` after waiting `waited`
    /// in all. Only the time the server spends waiting counts, so a handler that reads slowly
    /// (a busy session) never makes its client look slow.
    fn allowed_wait(&self, bytes: u64, waited: Duration) -> Duration {
        if self.min_bytes_per_second == 0 {
            return self.read_timeout;
        }
        let earned = Duration::from_secs_f64(bytes as f64 / self.min_bytes_per_second as f64);
        (self.read_timeout + earned)
            .saturating_sub(waited)
            .min(self.read_timeout)
    }
}

/// The error a too-slow body ends with; the connection's service answers 408 for it.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub(crate) struct BodyTooSlow;

/// A request body held to a [`BodyPace`]. When it is too slow it fails, and marks
/// `too_slow` so the answer can say why.
pub(crate) struct PacedBody {
    inner: Incoming,
    pace: BodyPace,
    bytes: u64,
    waited: Duration,
    wait_started: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
    too_slow: Arc<AtomicBool>,
}

impl PacedBody {
    pub(crate) fn new(inner: Incoming, pace: BodyPace, too_slow: Arc<AtomicBool>) -> Self {
        PacedBody {
            inner,
            pace,
            bytes: 0,
            waited: Duration::ZERO,
            wait_started: None,
            sleep: None,
            too_slow,
        }
    }
}

impl Body for PacedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.too_slow.load(Ordering::Acquire) {
            return Poll::Ready(Some(Err(BodyTooSlow.into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(started) = this.wait_started.take() {
                    this.waited += started.elapsed();
                }
                if let Some(Ok(data)) = &frame
                    && let Some(data) = data.data_ref()
                {
                    this.bytes += data.len() as u64;
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                if this.wait_started.is_none() {
                    let now = Instant::now();
                    this.wait_started = Some(now);
                    let deadline = now + this.pace.allowed_wait(this.bytes, this.waited);
                    match &mut this.sleep {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => this.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                }
                if let Some(sleep) = &mut this.sleep
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    this.too_slow.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(BodyTooSlow.into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Held from a request's head until its response has been sent (or given up): the request
/// counts as in flight for its connection, and against its forwarded address's cap.
#[derive(Debug)]
pub(crate) struct InFlight {
    activity: Arc<Activity>,
    _forwarded: Option<AddressSlot>,
}

impl InFlight {
    pub(crate) fn begin(activity: Arc<Activity>) -> Self {
        activity.request_started();
        InFlight {
            activity,
            _forwarded: None,
        }
    }

    pub(crate) fn holding(mut self, slot: AddressSlot) -> Self {
        self._forwarded = Some(slot);
        self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.request_finished();
    }
}

/// A response body that ends its request's [`InFlight`] when it is finished or dropped.
pub(crate) struct TrackedBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl TrackedBody {
    pub(crate) fn new(inner: axum::body::Body, in_flight: InFlight) -> Self {
        TrackedBody {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::BodyPace;
    use std::time::Duration;

    #[test]
    fn the_allowance_grows_with_the_bytes_received() {
        let pace = BodyPace {
            read_timeout: Duration::from_secs(10),
            min_bytes_per_second: 100,
        };
        assert_eq!(
            pace.allowed_wait(0, Duration::ZERO),
            Duration::from_secs(10)
        );
        // 4 s spent waiting for nothing: 6 s left.
        assert_eq!(
            pace.allowed_wait(0, Duration::from_secs(4)),
            Duration::from_secs(6)
        );
        // 1 byte per 9 s runs out after two waits.
        assert_eq!(
            pace.allowed_wait(1, Duration::from_secs(9)),
            Duration::from_millis(1010)
        );
        // A fast body earns long waits, but never more than one read timeout at once.
        assert_eq!(
            pace.allowed_wait(1_000_000, Duration::from_secs(60)),
            Duration::from_secs(10)
        );
        let no_rate = BodyPace {
            min_bytes_per_second: 0,
            ..pace
        };
        assert_eq!(
            no_rate.allowed_wait(0, Duration::from_secs(600)),
            Duration::from_secs(10)
        );
    }
}
