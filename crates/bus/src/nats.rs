//! The cluster bus: NATS core publish/subscribe.
//!
//! Two things NATS does differently from what [`Bus`] promises are bridged here:
//! - NATS refuses messages above the server's `max_payload` (1 MB by default), below our
//!   largest frames. Larger payloads are sent as numbered chunks with an `Sb-Chunk` header and
//!   reassembled by the subscriber; NATS keeps one publisher's messages on a subject in order,
//!   so chunks arrive in sequence, and a frame that lost a chunk is dropped whole.
//! - A slow NATS subscriber silently loses messages. Each subscription is therefore drained at
//!   once into a bounded broadcast channel, which tells a reader that falls behind how many
//!   messages it missed ([`Delivery::Lagged`]), exactly as the in-process bus does.

use crate::{Bus, BusError, Delivery, Subscription};
use async_nats::HeaderMap;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

/// Header naming a chunk: `<message id> <index> <count>`.
const CHUNK_HEADER: &str = "Sb-Chunk";
/// Room left in each chunk for the headers NATS sends with it.
const HEADER_ROOM: usize = 1024;
/// How long a subscription waits for the server to confirm it. While NATS is down the
/// client holds its operations for the reconnect; past this the caller gets `Unavailable`.
const ROUND_TRIP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A bus over a NATS server (or cluster).
#[derive(Debug, Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    capacity: usize,
}

impl NatsBus {
    /// Connects to `url` (e.g. `nats://127.0.0.1:4222`). The client reconnects by itself
    /// whenever the connection drops and resubscribes its subscriptions.
    pub async fn connect(url: &str, capacity: usize) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("switchboard")
            .event_callback(|event| async move {
                tracing::info!(%event, "NATS connection event");
            })
            .connect(url)
            .await
            // The URL may carry credentials: the caller names the server in its own words.
            .map_err(|e| BusError::Unavailable(format!("cannot connect to NATS: {e}")))?;
        Ok(NatsBus {
            client,
            capacity: capacity.max(1),
        })
    }

    /// The largest chunk payload this server accepts.
    fn chunk_size(&self) -> usize {
        let max = self.client.server_info().max_payload;
        max.saturating_sub(HEADER_ROOM).max(1024)
    }

    /// The server this client is connected to (or was last), and the largest message it
    /// accepts.
    pub fn server(&self) -> (String, usize) {
        let info = self.client.server_info();
        let name = if info.server_name.is_empty() {
            format!("{}:{}", info.host, info.port)
        } else {
            format!("{} ({}:{})", info.server_name, info.host, info.port)
        };
        (name, info.max_payload)
    }

    /// Waits until the server has processed everything this client sent before, SUBs
    /// included. `flush` alone only empties the client's socket buffer; but NATS handles one
    /// connection's operations in order, so a message this client publishes to an inbox of its
    /// own comes back only after every earlier operation took effect.
    async fn round_trip(&self) -> Result<(), BusError> {
        let inbox = self.client.new_inbox();
        let mut echo = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(unavailable)?;
        self.client
            .publish(inbox, Bytes::new())
            .await
            .map_err(unavailable)?;
        match tokio::time::timeout(ROUND_TRIP_TIMEOUT, echo.next()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(unavailable("the NATS connection closed")),
            Err(_) => Err(unavailable(format!(
                "NATS did not answer within {ROUND_TRIP_TIMEOUT:?}"
            ))),
        }
    }

    /// Waits until everything published so far has reached the server.
    pub async fn flush(&self) -> Result<(), BusError> {
        self.client
            .flush()
            .await
            .map_err(|e| BusError::Unavailable(e.to_string()))
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

#[async_trait]
impl Bus for NatsBus {
    async fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        let chunk = self.chunk_size();
        if payload.len() <= chunk {
            return self
                .client
                .publish(subject.to_owned(), payload)
                .await
                .map_err(unavailable);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let count = payload.len().div_ceil(chunk);
        for index in 0..count {
            let part = payload.slice(index * chunk..((index + 1) * chunk).min(payload.len()));
            let mut headers = HeaderMap::new();
            headers.insert(CHUNK_HEADER, format!("{id} {index} {count}").as_str());
            self.client
                .publish_with_headers(subject.to_owned(), headers, part)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
        let mut nats = self
            .client
            .subscribe(subject.to_owned())
            .await
            .map_err(unavailable)?;
        // Wait until the server has the subscription: a caller that subscribes and then reads
        // what it may have missed (controls, revocations) must not lose what another node
        // publishes in between, while the server has not yet taken in the SUB.
        self.round_trip().await?;
        let (tx, rx) = broadcast::channel(crate::subjects::capacity(subject, self.capacity));
        let subject = subject.to_owned();
        tokio::spawn(async move {
            let mut partial = Reassembly::default();
            loop {
                tokio::select! {
                    msg = nats.next() => {
                        let Some(msg) = msg else { break };
                        let chunk = msg
                            .headers
                            .as_ref()
                            .and_then(|h| h.get(CHUNK_HEADER))
                            .map(|v| v.as_str().to_owned());
                        let whole = match chunk {
                            None => Some(msg.payload),
                            Some(spec) => partial.add(&spec, msg.payload),
                        };
                        if let Some(payload) = whole
                            && tx.send(payload).is_err()
                        {
                            break;
                        }
                    }
                    // Unsubscribe as soon as the reader goes away, even on a quiet subject.
                    () = tx.closed() => break,
                }
            }
            let _ = nats.unsubscribe().await;
            tracing::trace!(%subject, "NATS subscription closed");
        });
        Ok(BroadcastStream::new(rx)
            .map(|item| match item {
                Ok(b) => Delivery::Message(b),
                Err(BroadcastStreamRecvError::Lagged(n)) => Delivery::Lagged(n),
            })
            .boxed())
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

/// Collects the chunks of one large message at a time.
#[derive(Default)]
struct Reassembly {
    id: String,
    expected: usize,
    next: usize,
    buf: BytesMut,
}

impl Reassembly {
    /// Adds a chunk; returns the whole payload when its last chunk arrives. A chunk out of
    /// sequence (a lost one) drops the message being assembled.
    fn add(&mut self, spec: &str, part: Bytes) -> Option<Bytes> {
        let mut it = spec.split(' ');
        let (Some(id), Some(index), Some(count)) = (it.next(), it.next(), it.next()) else {
            tracing::warn!(spec, "malformed chunk header");
            return None;
        };
        let (Ok(index), Ok(count)) = (index.parse::<usize>(), count.parse::<usize>()) else {
            tracing::warn!(spec, "malformed chunk header");
            return None;
        };
        if index == 0 {
            self.id = id.to_owned();
            self.expected = count;
            self.next = 0;
            self.buf.clear();
        }
        if id != self.id || index != self.next || count != self.expected {
            tracing::debug!(spec, "chunk out of sequence; dropping the message");
            self.id.clear();
            return None;
        }
        self.buf.extend_from_slice(&part);
        self.next += 1;
        (self.next == self.expected).then(|| self.buf.split().freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::Reassembly;
    use bytes::Bytes;

    #[test]
    fn chunks_reassemble_and_gaps_drop_the_message() {
        let mut r = Reassembly::default();
        assert_eq!(r.add("a 0 2", Bytes::from_static(b"he")), None);
        assert_eq!(
            r.add("a 1 2", Bytes::from_static(b"llo")),
            Some(Bytes::from_static(b"hello"))
        );
        assert_eq!(r.add("b 0 3", Bytes::from_static(b"x")), None);
        assert_eq!(
            r.add("b 2 3", Bytes::from_static(b"z")),
            None,
            "chunk 1 was lost"
        );
        assert_eq!(
            r.add("c 0 1", Bytes::from_static(b"ok")),
            Some(Bytes::from_static(b"ok"))
        );
        assert_eq!(r.add("garbage", Bytes::new()), None);
    }
}
