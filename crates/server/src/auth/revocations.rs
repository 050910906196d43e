//! Revoked tokens on every node. The node that revokes a token stores it, then announces it
//! on [`subjects::REVOKED_TOKENS`]; every node runs a [`RevocationListener`] that adds what
//! is announced to its in-memory revoked set, so a token signed out on one node is refused by
//! all of them within moments, still without a query per request. Deleted users are announced
//! on the same subject, so every node closes the connections their tokens opened.
//!
//! The bus delivers at most once, so the store stays the source of truth: a listener that
//! lost messages (it lagged, its subscription ended, or the bus probe made it subscribe again)
//! re-reads the stored revocations, and looks up the users holding connections here.

use super::{Claims, TokenService};
use crate::bus_probe::Resubscribe;
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use switchboard_bus::{Bus, BusError, Delivery, Subscription, subjects};
use switchboard_core::UserId;
use switchboard_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;

/// First wait before subscribing again after a subscription ended or failed.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// Longest wait between attempts to subscribe.
const MAX_RETRY: Duration = Duration::from_secs(10);
/// Longest bare token id accepted from a node of an earlier release (ours are UUIDs).
const MAX_BARE_JTI: usize = 64;

/// What is published on [`subjects::REVOKED_TOKENS`]: the token id and its expiry (Unix
/// seconds), as JSON `{"jti": "…", "exp": 1767225600}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationNotice {
    pub jti: String,
    pub exp: i64,
}

impl RevocationNotice {
    /// The notice for a token's claims.
    pub fn of(claims: &Claims) -> Self {
        RevocationNotice {
            jti: claims.jti.clone(),
            exp: claims.exp,
        }
    }

    /// The JSON payload.
    pub fn to_bytes(&self) -> Bytes {
        // Serializing two plain fields cannot fail; an empty payload would be ignored anyway.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a payload; `None` when it is not a notice. Nodes of earlier releases publish the
    /// bare token id; during a rolling upgrade that is taken as a revocation whose expiry is
    /// unknown, kept like the ones loaded from the store.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        if let Ok(notice) = serde_json::from_slice::<RevocationNotice>(payload) {
            return Some(notice).filter(|n| !n.jti.is_empty());
        }
        let bare = std::str::from_utf8(payload).ok()?;
        let plausible = !bare.is_empty()
            && bare.len() <= MAX_BARE_JTI
            && bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| RevocationNotice {
            jti: bare.to_owned(),
            exp: i64::MAX,
        })
    }
}

/// What is published on [`subjects::REVOKED_TOKENS`] when a user is deleted: `{"user": "…"}`.
/// Nodes of earlier releases log it as malformed and ignore it; they still refuse the user's
/// next request, as each request looks the user up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeletedNotice {
    pub user: String,
}

impl UserDeletedNotice {
    /// The JSON payload.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a payload; `None` when it is not this notice.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        serde_json::from_slice::<UserDeletedNotice>(payload)
            .ok()
            .filter(|n| !n.user.is_empty())
    }
}

/// Ends this node's connections of a deleted user and tells every node to end theirs. The
/// caller deletes the user from the store first, so a node that misses the announcement finds
/// the user gone when it catches up.
pub async fn user_deleted(bus: &dyn Bus, tokens: &TokenService, user: UserId) {
    let user = user.to_string();
    tokens.rights().end_user(&user);
    let notice = UserDeletedNotice { user };
    if let Err(e) = bus
        .publish(subjects::REVOKED_TOKENS, notice.to_bytes())
        .await
    {
        tracing::warn!(error = %e, "announcing a deleted user failed");
    }
}

/// Tells every node that a token was revoked. The caller stores the revocation first; a
/// failed announcement is logged, and other nodes catch up from the store when they notice
/// they missed messages.
pub async fn announce(bus: &dyn Bus, claims: &Claims) {
    announce_notice(bus, &RevocationNotice::of(claims)).await;
}

/// [`announce`] for a token known by its id and expiry (a stored sign-in).
pub async fn announce_notice(bus: &dyn Bus, notice: &RevocationNotice) {
    if let Err(e) = bus
        .publish(subjects::REVOKED_TOKENS, notice.to_bytes())
        .await
    {
        tracing::warn!(error = %e, "announcing a revoked token failed");
    }
}

/// Applies announced revocations to this node's [`TokenService`].
#[derive(Clone)]
pub struct RevocationListener {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    resubscribe: Resubscribe,
}

impl std::fmt::Debug for RevocationListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevocationListener { .. }")
    }
}

impl RevocationListener {
    pub fn new(bus: Arc<dyn Bus>, store: Arc<dyn Store>, tokens: Arc<TokenService>) -> Self {
        RevocationListener {
            bus,
            store,
            tokens,
            resubscribe: Resubscribe::never(),
        }
    }

    /// Subscribes again whenever `signal` fires (the bus probe found deliveries missing).
    pub fn resubscribing_on(mut self, signal: Resubscribe) -> Self {
        self.resubscribe = signal;
        self
    }

    /// Subscribes to the announcements. `Server::start` calls it before serving, so a token
    /// revoked elsewhere once this node answers is never missed.
    pub async fn subscribe(&self) -> Result<Subscription, BusError> {
        self.bus.subscribe(subjects::REVOKED_TOKENS).await
    }

    /// Applies one payload; returns whether it was a notice.
    pub fn apply(&self, payload: &[u8]) -> bool {
        if let Some(notice) = RevocationNotice::parse(payload) {
            tracing::debug!(jti = %notice.jti, "token revoked on another node");
            self.tokens.forget(&notice.jti);
            // Also ends the connections the token opened here.
            self.tokens.revoked.insert(notice.jti, notice.exp);
            return true;
        }
        if let Some(notice) = UserDeletedNotice::parse(payload) {
            tracing::debug!(user = %notice.user, "user deleted on another node");
            self.tokens.rights().end_user(&notice.user);
            return true;
        }
        tracing::warn!(
            bytes = payload.len(),
            "ignoring a malformed revocation notice"
        );
        false
    }

    /// Re-reads every stored revocation, and looks up each user holding a connection here
    /// (ending those of deleted users), for when announcements may have been missed.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        let jtis = self.store.revoked_tokens(chrono::Utc::now()).await?;
        let count = jtis.len();
        for jti in jtis {
            self.tokens.forget(&jti);
            // The store keeps ids until expiry; the exact expiry does not matter for checks.
            self.tokens.revoked.insert(jti, i64::MAX);
        }
        for user in self.tokens.rights().users() {
            let Ok(id) = user.parse::<UserId>() else {
                continue;
            };
            match self.store.user(id).await {
                Err(StoreError::NotFound) => self.tokens.rights().end_user(&user),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    async fn catch_up_logged(&self) {
        match self.catch_up().await {
            Ok(count) => tracing::info!(count, "revoked tokens re-read from the store"),
            Err(e) => tracing::warn!(error = %e, "cannot re-read revoked tokens"),
        }
    }

    /// Applies announcements until `shutdown`, starting with `first` (from
    /// [`RevocationListener::subscribe`]) and subscribing again, with backoff, whenever the
    /// subscription ends or the bus probe asks for it.
    pub async fn run(mut self, first: Subscription, shutdown: CancellationToken) {
        let mut subscription = Some(first);
        let mut retry = FIRST_RETRY;
        loop {
            let mut sub = match subscription.take() {
                Some(sub) => sub,
                None => match self.subscribe().await {
                    Ok(sub) => {
                        tracing::info!("subscribed to revoked tokens again");
                        // Whatever was announced while unsubscribed is only in the store.
                        self.catch_up_logged().await;
                        sub
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, ?retry, "cannot subscribe to revoked tokens");
                        if !wait(&shutdown, &mut retry).await {
                            return;
                        }
                        continue;
                    }
                },
            };
            let asked = loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.resubscribe.requested() => break true,
                    delivery = sub.next() => match delivery {
                        Some(Delivery::Message(payload)) => {
                            self.apply(&payload);
                            retry = FIRST_RETRY;
                        }
                        Some(Delivery::Lagged(missed)) => {
                            tracing::warn!(missed, "missed revocation notices");
                            self.catch_up_logged().await;
                        }
                        None => break false,
                    },
                }
            };
            if asked {
                // Dropped before subscribing again; the catch-up after it covers the gap.
                drop(sub);
                tracing::info!("the bus probe asked to subscribe to revoked tokens again");
                continue;
            }
            tracing::warn!(
                ?retry,
                "the revoked tokens subscription ended; subscribing again"
            );
            if !wait(&shutdown, &mut retry).await {
                return;
            }
        }
    }
}

/// Sleeps `retry` (then doubles it, up to the maximum); `false` if shutdown came first.
async fn wait(shutdown: &CancellationToken, retry: &mut Duration) -> bool {
    let delay = *retry;
    *retry = (*retry * 2).min(MAX_RETRY);
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenKind;
    use switchboard_bus::InProcessBus;

    /// A fresh SQLite store in a folder that lives as long as the returned guard.
    async fn temp_store() -> (tempfile::TempDir, Arc<dyn switchboard_store::Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sb.db").display());
        let store = switchboard_store::connect(&url).await.unwrap();
        (dir, store)
    }

    fn user_token(tokens: &TokenService) -> (String, Claims) {
        tokens
            .issue(
                TokenKind::User,
                uuid::Uuid::new_v4().to_string(),
                "acc".into(),
                None,
                Duration::from_secs(600),
            )
            .unwrap()
    }

    #[test]
    fn notices_round_trip_and_junk_is_refused() {
        let n = RevocationNotice {
            jti: "abc".into(),
            exp: 1_767_225_600,
        };
        assert_eq!(
            std::str::from_utf8(&n.to_bytes()).unwrap(),
            r#"{"jti":"abc","exp":1767225600}"#
        );
        assert_eq!(RevocationNotice::parse(&n.to_bytes()), Some(n));
        assert_eq!(RevocationNotice::parse(br#"{"jti":"","exp":1}"#), None);
        assert_eq!(RevocationNotice::parse(br#"{"jti":"x"}"#), None);
        assert_eq!(RevocationNotice::parse(b""), None);
        assert_eq!(RevocationNotice::parse(b"two words"), None);
        assert_eq!(RevocationNotice::parse(&[b'a'; 65]), None);
        // What nodes of earlier releases publish: the bare token id.
        assert_eq!(
            RevocationNotice::parse(b"1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
            Some(RevocationNotice {
                jti: "1b4e28ba-2fa1-11d2-883f-0016d3cca427".into(),
                exp: i64::MAX,
            })
        );
    }

    #[tokio::test]
    async fn a_user_deletion_notice_ends_that_users_connections_only() {
        let (_dir, store) = temp_store().await;
        let tokens = Arc::new(TokenService::new(b"0123456789abcdef0123456789abcdef"));
        let (_, deleted) = user_token(&tokens);
        let (_, kept) = user_token(&tokens);
        let (deleted_right, kept_right) = (tokens.hold(&deleted), tokens.hold(&kept));
        let listener =
            RevocationListener::new(Arc::new(InProcessBus::default()), store, tokens.clone());
        let notice = UserDeletedNotice {
            user: deleted.sub.clone(),
        };
        assert_eq!(
            UserDeletedNotice::parse(&notice.to_bytes()),
            Some(notice.clone())
        );
        assert_eq!(RevocationNotice::parse(&notice.to_bytes()), None);
        assert!(listener.apply(&notice.to_bytes()));
        assert!(deleted_right.is_ended());
        assert!(!kept_right.is_ended());
        // A revocation notice ends the connections of that token.
        assert!(listener.apply(&RevocationNotice::of(&kept).to_bytes()));
        assert!(kept_right.is_ended());
    }

    #[tokio::test]
    async fn catching_up_ends_the_connections_of_users_gone_from_the_store() {
        let (_dir, store) = temp_store().await;
        let tokens = Arc::new(TokenService::new(b"0123456789abcdef0123456789abcdef"));
        // Users the store does not know: deleted while the announcement was missed.
        let (_, claims) = user_token(&tokens);
        let right = tokens.hold(&claims);
        let listener =
            RevocationListener::new(Arc::new(InProcessBus::default()), store, tokens.clone());
        listener.catch_up().await.unwrap();
        assert!(right.is_ended());
    }

    /// Two token services with one secret stand for two nodes; the listener of the second
    /// applies what the first announces, and stops on shutdown.
    #[tokio::test]
    async fn an_announced_revocation_is_applied_and_the_task_stops() {
        let (_dir, store) = temp_store().await;
        let bus: Arc<dyn Bus> = Arc::new(InProcessBus::default());
        let issuer = TokenService::new(b"0123456789abcdef0123456789abcdef");
        let other = Arc::new(TokenService::new(b"0123456789abcdef0123456789abcdef"));
        let listener = RevocationListener::new(bus.clone(), store, other.clone());
        let sub = listener.subscribe().await.unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(listener.run(sub, shutdown.clone()));

        let (token, claims) = user_token(&issuer);
        assert!(other.verify(&token).is_ok());
        announce(&*bus, &claims).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while other.verify(&token).is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "never applied");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn catching_up_reads_the_store() {
        let (_dir, store) = temp_store().await;
        let tokens = Arc::new(TokenService::new(b"0123456789abcdef0123456789abcdef"));
        let (token, claims) = user_token(&tokens);
        assert_eq!(tokens.active_count(), 1);
        store
            .revoke_token(&claims.jti, claims.expires_at())
            .await
            .unwrap();
        let listener =
            RevocationListener::new(Arc::new(InProcessBus::default()), store, tokens.clone());
        assert_eq!(listener.catch_up().await.unwrap(), 1);
        assert!(tokens.verify(&token).is_err());
        assert_eq!(
            tokens.active_count(),
            0,
            "forgotten from the signed-in figures"
        );
    }
}
