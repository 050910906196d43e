//! Connection caps: in all and per client address. A connection holds its [`ConnectionPermit`]
//! for as long as its socket is open (a WebSocket's too), and one that is refused hears
//! `503 busy` at once instead of waiting in a queue.

use crate::protocol::{ErrorBody, ErrorCode};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The node holds `max_connections` already.
    Total,
    /// This client address holds `max_connections_per_address` already.
    Address,
}

impl Refusal {
    fn message(self) -> &'static str {
        match self {
            Refusal::Total => "the server has too many open connections; try again shortly",
            Refusal::Address => "too many open connections from this address; try again shortly",
        }
    }
}

/// Counts held per client address, up to a limit. Entries vanish when their count drops to
/// zero, so the map holds only addresses with something open.
#[derive(Debug)]
pub(crate) struct PerAddress {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(PerAddress {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `ip`, or `None` when it holds `limit` already.
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            owner: self.clone(),
            ip,
        })
    }

    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&ip).copied().unwrap_or(0)
    }
}

/// One unit of a [`PerAddress`] count, given back when dropped.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    owner: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .owner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Decides at accept time whether a connection may open.
#[derive(Debug)]
pub(crate) struct Admission {
    total: Arc<Semaphore>,
    per_address: Arc<PerAddress>,
    /// Trusted reverse proxies carry many clients on their connections: they count toward the
    /// total only, and their clients are counted per request (see `service`).
    proxies: Vec<IpAddr>,
}

/// What an open connection holds; dropping it gives its place back.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    _total: OwnedSemaphorePermit,
    _address: Option<AddressSlot>,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_address: usize, proxies: Vec<IpAddr>) -> Self {
        Admission {
            total: Arc::new(Semaphore::new(max_total.min(Semaphore::MAX_PERMITS))),
            per_address: PerAddress::new(max_per_address),
            proxies,
        }
    }

    /// A permit for a connection from `ip`, or why it is refused.
    pub(crate) fn admit(&self, ip: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Total)?;
        let address = if self.proxies.contains(&ip) {
            None
        } else {
            Some(self.per_address.acquire(ip).ok_or(Refusal::Address)?)
        };
        Ok(ConnectionPermit {
            _total: total,
            _address: address,
        })
    }
}

/// How long a refused connection is kept to let the client read its 503: closing a socket
/// with its request unread would reset it, and the client might see the reset instead.
const LINGER: Duration = Duration::from_secs(1);

/// Refused connections lingering at once; beyond this they are closed without an answer.
pub(crate) const MAX_LINGERING: usize = 256;

/// The raw answer to a refused plain-HTTP connection: written before any request is read,
/// in the JSON error format of every other answer.
fn busy_response(refusal: Refusal) -> Vec<u8> {
    let body = serde_json::to_string(&ErrorBody {
        error: ErrorCode::Busy,
        message: refusal.message().to_string(),
    })
    .unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a refused plain-HTTP connection with `503 busy` and closes it. The write goes into
/// the empty socket buffer without waiting; the read side is drained briefly so the answer is
/// not lost to a reset. With too many lingering already, the socket is just closed.
pub(crate) fn refuse(stream: TcpStream, refusal: Refusal, lingering: &Arc<Semaphore>) {
    let _ = stream.try_write(&busy_response(refusal));
    let Ok(permit) = lingering.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(LINGER, async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_places_come_back() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let admission = Admission::new(3, 2, vec![proxy]);
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::Address);
        let _other = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).unwrap_err(), Refusal::Total);
        drop(first);
        assert_eq!(admission.per_address.held(a), 1);
        // A trusted proxy is counted in the total only.
        let _proxied = admission.admit(proxy).unwrap();
        assert_eq!(admission.per_address.held(proxy), 0);
    }

    #[test]
    fn a_refusal_is_a_complete_json_answer() {
        let text = String::from_utf8(busy_response(Refusal::Total)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "busy");
    }
}
