//! A connection lives only as long as the right that opened it. Every long-lived connection
//! (a socket, an MJPEG response, a long poll) holds a [`Right`] for the token it was opened
//! with; the right ends when that token is revoked (sign-out, on any node), when it expires,
//! or when its user is deleted (on any node), and the connection closes at once.
//!
//! The registry is node-local: the [`Revoked`](super::Revoked) set ends the rights of a token
//! the moment it learns of its revocation (a local sign-out or the
//! [`RevocationListener`](super::revocations::RevocationListener)), and user deletions are
//! announced on the bus beside revocations.

use super::claims::Claims;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long a deleted user is remembered, for a connection whose request found the user just
/// before the deletion and registers just after it.
const DELETED_MEMORY: Duration = Duration::from_secs(60);

/// The open connections of this node, by the token that opened them.
#[derive(Debug, Clone, Default)]
pub struct Rights(Arc<Mutex<Registry>>);

#[derive(Debug, Default)]
struct Registry {
    by_token: HashMap<String, Held>,
    /// Users deleted lately, with when it was learnt.
    deleted: HashMap<String, Instant>,
}

/// One token's connections: they all end together.
#[derive(Debug)]
struct Held {
    /// The user the token speaks for; `None` for device tokens.
    user: Option<String>,
    ended: CancellationToken,
    connections: usize,
}

impl Rights {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every operation leaves the maps consistent, so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection opened with `claims`. The caller has verified the token; the
    /// right ends at the token's expiry at the latest. `user` is the user the token speaks
    /// for (`None` for a device).
    pub(super) fn hold(&self, claims: &Claims, user: Option<&str>) -> Right {
        let mut registry = self.lock();
        let held = registry
            .by_token
            .entry(claims.jti.clone())
            .or_insert_with(|| Held {
                user: user.map(str::to_owned),
                ended: CancellationToken::new(),
                connections: 0,
            });
        held.connections += 1;
        let ended = held.ended.clone();
        let deleted = user.is_some_and(|u| registry.deleted.contains_key(u));
        drop(registry);
        if deleted {
            ended.cancel();
        }
        Right {
            rights: self.clone(),
            jti: claims.jti.clone(),
            ended,
            expires: expiry_instant(claims.exp),
        }
    }

    /// Ends every connection opened with the token `jti`.
    pub fn end_token(&self, jti: &str) {
        if let Some(held) = self.lock().by_token.get(jti) {
            held.ended.cancel();
        }
    }

    /// Ends every connection opened with a token of `user`, and remembers the deletion for a
    /// while so a connection registering just after it ends too.
    pub fn end_user(&self, user: &str) {
        let mut registry = self.lock();
        let now = Instant::now();
        registry
            .deleted
            .retain(|_, at| now.duration_since(*at) < DELETED_MEMORY);
        registry.deleted.insert(user.to_owned(), now);
        for held in registry.by_token.values() {
            if held.user.as_deref() == Some(user) {
                held.ended.cancel();
            }
        }
    }

    /// The users holding open connections here, for re-checking them against the store.
    pub fn users(&self) -> Vec<String> {
        let registry = self.lock();
        let mut users: Vec<String> = registry
            .by_token
            .values()
            .filter_map(|h| h.user.clone())
            .collect();
        users.sort_unstable();
        users.dedup();
        users
    }

    /// Connections open here, for tests and metrics.
    pub fn connections(&self) -> usize {
        self.lock().by_token.values().map(|h| h.connections).sum()
    }

    fn release(&self, jti: &str) {
        let mut registry = self.lock();
        if let Some(held) = registry.by_token.get_mut(jti) {
            held.connections = held.connections.saturating_sub(1);
            if held.connections == 0 {
                registry.by_token.remove(jti);
            }
        }
    }
}

/// The moment a token that expires at `exp` (Unix seconds) stops working.
fn expiry_instant(exp: i64) -> Instant {
    let left = exp.saturating_sub(chrono::Utc::now().timestamp());
    let left = Duration::from_secs(u64::try_from(left).unwrap_or(0));
    // A token valid for centuries would overflow an Instant; a year is as good as forever.
    Instant::now() + left.min(Duration::from_secs(365 * 24 * 3600))
}

/// One connection's right to stay open; unregisters itself when dropped.
#[derive(Debug)]
pub struct Right {
    rights: Rights,
    jti: String,
    ended: CancellationToken,
    expires: Instant,
}

impl Right {
    /// Completes when the right ends: the token is revoked or expires, or its user is
    /// deleted. Owned, so a stream can keep it between polls.
    pub fn ended(&self) -> impl Future<Output = ()> + Send + 'static {
        let ended = self.ended.clone();
        let expires = tokio::time::Instant::from_std(self.expires);
        async move {
            tokio::select! {
                () = ended.cancelled_owned() => {}
                () = tokio::time::sleep_until(expires) => {}
            }
        }
    }

    /// Whether the right has ended already.
    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled() || Instant::now() >= self.expires
    }
}

impl Drop for Right {
    fn drop(&mut self) {
        self.rights.release(&self.jti);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenKind;

    fn claims(jti: &str, exp_in: i64) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "u1".into(),
            kind: TokenKind::User,
            acc: "a".into(),
            jti: jti.into(),
            iat: now,
            exp: now + exp_in,
            suid: None,
        }
    }

    async fn ends_soon(right: &Right) -> bool {
        tokio::time::timeout(Duration::from_secs(1), right.ended())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_revoked_token_ends_its_connections_only() {
        let rights = Rights::default();
        let a = rights.hold(&claims("a", 600), Some("u1"));
        let a2 = rights.hold(&claims("a", 600), Some("u1"));
        let b = rights.hold(&claims("b", 600), Some("u1"));
        assert_eq!(rights.connections(), 3);
        rights.end_token("a");
        assert!(ends_soon(&a).await && ends_soon(&a2).await);
        assert!(!b.is_ended());
        drop((a, a2, b));
        assert_eq!(rights.connections(), 0, "dropped rights unregister");
    }

    #[tokio::test]
    async fn a_deleted_user_ends_every_token_and_later_holds() {
        let rights = Rights::default();
        let a = rights.hold(&claims("a", 600), Some("u1"));
        let other = rights.hold(&claims("c", 600), Some("u2"));
        let device = rights.hold(&claims("d", 600), None);
        assert_eq!(rights.users(), vec!["u1".to_owned(), "u2".to_owned()]);
        rights.end_user("u1");
        assert!(ends_soon(&a).await);
        assert!(!other.is_ended() && !device.is_ended());
        let late = rights.hold(&claims("b", 600), Some("u1"));
        assert!(late.is_ended(), "registered just after the deletion");
    }

    #[tokio::test]
    async fn a_right_ends_at_its_tokens_expiry() {
        let rights = Rights::default();
        let right = rights.hold(&claims("a", 1), Some("u1"));
        assert!(!right.is_ended());
        tokio::time::timeout(Duration::from_secs(3), right.ended())
            .await
            .expect("ends at expiry");
        assert!(right.is_ended());
    }
}
