//! What one connection is doing, for its two deadlines: a request head must arrive within
//! `header_read_timeout` of its first byte (of the connection's start, for the first one),
//! and a kept-alive connection with no request in flight closes after
//! `idle_connection_timeout`. While a request is in flight (a long MJPEG response included)
//! neither runs; an upgraded connection (a WebSocket) leaves both behind.

use super::admission::ConnectionPermit;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Which deadline closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lapse {
    /// A request head took longer than `header_read_timeout`.
    Head,
    /// No request for `idle_connection_timeout`.
    Idle,
}

#[derive(Debug)]
struct Phase {
    in_flight: usize,
    /// When the head being read began (the connection's start for the first request).
    head_started: Option<Instant>,
    idle_since: Instant,
}

/// One connection's state, shared by its socket, its service and its watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    phase: Mutex<Phase>,
    /// Set while idle between requests, so that the socket reports the next request's first
    /// bytes; clear otherwise, so reads in the middle of a request cost one atomic load.
    awaiting_head: AtomicBool,
    /// Set once the connection is no longer served as HTTP (closed, or upgraded).
    detached: AtomicBool,
    changed: Notify,
}

impl Activity {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Activity {
            phase: Mutex::new(Phase {
                in_flight: 0,
                head_started: Some(now),
                idle_since: now,
            }),
            awaiting_head: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Bytes came in on the socket.
    fn bytes_arrived(&self) {
        if !self.awaiting_head.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut phase = self.phase();
        if phase.in_flight == 0 && phase.head_started.is_none() {
            phase.head_started = Some(Instant::now());
        }
        drop(phase);
        self.changed.notify_one();
    }

    /// A request's head has been read.
    pub(crate) fn request_started(&self) {
        self.awaiting_head.store(false, Ordering::Release);
        let mut phase = self.phase();
        phase.in_flight += 1;
        phase.head_started = None;
        drop(phase);
        self.changed.notify_one();
    }

    /// A request's response has been sent (or abandoned).
    pub(crate) fn request_finished(&self) {
        let mut phase = self.phase();
        phase.in_flight = phase.in_flight.saturating_sub(1);
        if phase.in_flight == 0 {
            phase.idle_since = Instant::now();
            phase.head_started = None;
            if !self.detached.load(Ordering::Acquire) {
                self.awaiting_head.store(true, Ordering::Release);
            }
        }
        drop(phase);
        self.changed.notify_one();
    }

    /// The connection is no longer served as HTTP: its socket stops reporting reads.
    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::Release);
        self.awaiting_head.store(false, Ordering::Release);
    }

    /// The deadline in force and what passing it means; none while a request is in flight.
    fn deadline(&self, header: Duration, idle: Duration) -> Option<(Instant, Lapse)> {
        let phase = self.phase();
        if phase.in_flight > 0 {
            return None;
        }
        Some(match phase.head_started {
            Some(started) => (started + header, Lapse::Head),
            None => (phase.idle_since + idle, Lapse::Idle),
        })
    }

    /// Completes when a deadline passes: the connection is then to be closed. It has no
    /// request in flight at that moment, so closing loses nothing.
    pub(crate) async fn lapsed(&self, header: Duration, idle: Duration) -> Lapse {
        loop {
            // Made before the state is read, so a change in between is not missed.
            let changed = self.changed.notified();
            match self.deadline(header, idle) {
                None => changed.await,
                Some((at, lapse)) if at <= Instant::now() => return lapse,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// A connection's socket: reports incoming bytes to its [`Activity`] and holds the
/// connection's place under the caps for as long as it is open, upgraded or not.
#[derive(Debug)]
pub(crate) struct WatchedIo<T> {
    inner: T,
    activity: std::sync::Arc<Activity>,
    _permit: ConnectionPermit,
}

impl<T> WatchedIo<T> {
    pub(crate) fn new(
        inner: T,
        activity: std::sync::Arc<Activity>,
        permit: ConnectionPermit,
    ) -> Self {
        WatchedIo {
            inner,
            activity,
            _permit: permit,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_gets_the_header_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(activity.lapsed(HEADER, IDLE).await, Lapse::Head);
        assert_eq!(started.elapsed(), HEADER);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_holds_off_both_deadlines() {
        let activity = std::sync::Arc::new(Activity::new());
        activity.request_started();
        let watchdog = tokio::spawn({
            let activity = activity.clone();
            async move { activity.lapsed(HEADER, IDLE).await }
        });
        tokio::time::sleep(IDLE * 3).await;
        assert!(!watchdog.is_finished());
        let finished = Instant::now();
        activity.request_finished();
        assert_eq!(watchdog.await.unwrap(), Lapse::Idle);
        assert_eq!(finished.elapsed(), IDLE);
    }

    #[tokio::test(start_paused = true)]
    async fn the_next_head_has_its_own_deadline_from_its_first_byte() {
        let activity = Activity::new();
        activity.request_started();
        activity.request_finished();
        tokio::time::sleep(Duration::from_secs(30)).await;
        let first_byte = Instant::now();
        activity.bytes_arrived();
        assert_eq!(activity.lapsed(HEADER, IDLE).await, Lapse::Head);
        assert_eq!(first_byte.elapsed(), HEADER);
    }
}
