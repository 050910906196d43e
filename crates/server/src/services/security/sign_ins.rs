//! Sign-ins: every user token that sign-up or sign-in issues is recorded, so its user can
//! list and end it. Ending one stores the revocation and announces it, as signing out does,
//! so it stops at once on every node, open connections included. "Last used" is noted at
//! most once a minute per sign-in, by a background writer, never on a request's path.

use super::error::SecurityError;
use crate::auth::revocations::{self, RevocationNotice};
use crate::auth::{Claims, TokenKind, TokenService};
use crate::config::Config;
use crate::protocol::accounts::{TokenResponse, UserView};
use crate::protocol::security::{SecondFactorChallenge, SecurityStanding, SignInView};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use switchboard_bus::Bus;
use switchboard_core::security::{Gate, Standing};
use switchboard_core::{User, UserId};
use switchboard_store::{SignIn, Store, StoreError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a sign-in's challenge waits for the second factor.
const CHALLENGE_TTL: Duration = Duration::from_secs(300);
/// How often a sign-in's "last used" is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Sign-ins whose last write time is remembered at most; past it, those written more than
/// [`TOUCH_EVERY`] ago are forgotten (they would be written again anyway).
const MAX_TRACKED: usize = 100_000;
/// "Last used" writes waiting at most; past it one is skipped (the next minute's will do).
const WRITE_QUEUE: usize = 1024;
/// Longest `User-Agent` kept, in characters.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Where a sign-in comes from, as the edge saw it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The client's address (behind a trusted proxy, the forwarded one).
    pub addr: IpAddr,
    /// Its `User-Agent`, if it sent one that is text.
    pub user_agent: Option<String>,
}

impl ClientInfo {
    pub fn new(addr: IpAddr, user_agent: Option<&str>) -> Self {
        ClientInfo {
            addr,
            user_agent: user_agent.map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect()),
        }
    }
}

/// The standing as the API shows it.
pub(crate) fn standing_view(standing: Standing) -> SecurityStanding {
    SecurityStanding {
        password_change_required: standing.must_change_password,
        second_factor_enabled: standing.second_factor_enabled,
        second_factor_required: standing.second_factor_required,
        second_factor_enrolment_required: standing.gate() == Gate::SecondFactorEnrolment,
    }
}

/// Issues, records, lists and ends sign-ins. Shared by the accounts service (sign-up,
/// sign-in) and the account-security service (the second factor, the sign-ins list).
pub struct SignIns {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    tokens: Arc<TokenService>,
    /// When each sign-in's "last used" was last queued for writing.
    touched: Mutex<HashMap<String, Instant>>,
    writes: mpsc::Sender<(String, chrono::DateTime<chrono::Utc>)>,
}

impl std::fmt::Debug for SignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignIns { .. }")
    }
}

/// Writes the "last used" times [`SignIns::used`] queues; a tracked task of the node.
pub struct LastUsedWriter {
    store: Arc<dyn Store>,
    queue: mpsc::Receiver<(String, chrono::DateTime<chrono::Utc>)>,
}

impl LastUsedWriter {
    /// Writes until shutdown. A failed write is logged and dropped: the time is a courtesy.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let (id, at) = tokio::select! {
                () = shutdown.cancelled() => return,
                next = self.queue.recv() => match next {
                    Some(next) => next,
                    None => return,
                },
            };
            if let Err(e) = self.store.touch_sign_in(&id, at).await {
                tracing::debug!(error = %e, "noting a sign-in's last use failed");
            }
        }
    }
}

impl SignIns {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        tokens: Arc<TokenService>,
    ) -> (Arc<Self>, LastUsedWriter) {
        let (writes, queue) = mpsc::channel(WRITE_QUEUE);
        let writer = LastUsedWriter {
            store: store.clone(),
            queue,
        };
        let sign_ins = SignIns {
            config,
            store,
            bus,
            tokens,
            touched: Mutex::new(HashMap::new()),
            writes,
        };
        (Arc::new(sign_ins), writer)
    }

    fn touched(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        // Single map operations: a poisoned map is still consistent.
        self.touched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new user token for `user`, recorded as a sign-in from `client`, with the user as
    /// the API shows them (their standing included).
    pub async fn open(
        &self,
        user: &User,
        standing: Standing,
        client: &ClientInfo,
    ) -> Result<TokenResponse, SecurityError> {
        let (token, claims) = self
            .tokens
            .issue(
                TokenKind::User,
                user.id.to_string(),
                user.account_id.to_string(),
                None,
                self.config.auth.token_ttl,
            )
            .map_err(|e| SecurityError::Token(e.to_string()))?;
        let now = chrono::Utc::now();
        self.store
            .record_sign_in(&SignIn {
                id: claims.jti.clone(),
                user_id: user.id,
                created_at: now,
                last_used_at: now,
                expires_at: claims.expires_at(),
                client_addr: Some(client.addr.to_string()),
                user_agent: client.user_agent.clone(),
            })
            .await?;
        // Just written: its first requests need not write it again.
        self.touched().insert(claims.jti.clone(), Instant::now());
        // The name is a courtesy: a failure to read it does not fail the sign-in.
        let account_name = self
            .store
            .account(user.account_id)
            .await
            .ok()
            .map(|a| a.name);
        let mut view = UserView::of(user, account_name);
        view.security = Some(standing_view(standing));
        Ok(TokenResponse {
            token,
            expires_at: claims.expires_at(),
            user: view,
        })
    }

    /// The first step of a sign-in with a second factor: a challenge standing for the
    /// checked password for a few minutes.
    pub fn challenge(&self, user: &User) -> Result<SecondFactorChallenge, SecurityError> {
        let (challenge, claims) = self
            .tokens
            .issue(
                TokenKind::SecondFactor,
                user.id.to_string(),
                user.account_id.to_string(),
                None,
                CHALLENGE_TTL,
            )
            .map_err(|e| SecurityError::Token(e.to_string()))?;
        Ok(SecondFactorChallenge {
            second_factor_required: true,
            challenge,
            expires_at: claims.expires_at(),
        })
    }

    /// Notes that a request used the sign-in of `claims`: at most once a minute per sign-in
    /// it queues a write, which the [`LastUsedWriter`] does off the request's path.
    pub fn used(&self, claims: &Claims) {
        self.used_at(claims, Instant::now());
    }

    /// [`used`](Self::used) at `now`; whether a write was queued.
    fn used_at(&self, claims: &Claims, now: Instant) -> bool {
        {
            let mut touched = self.touched();
            if touched
                .get(&claims.jti)
                .is_some_and(|at| now.saturating_duration_since(*at) < TOUCH_EVERY)
            {
                return false;
            }
            if touched.len() >= MAX_TRACKED {
                touched.retain(|_, at| now.saturating_duration_since(*at) < TOUCH_EVERY);
            }
            touched.insert(claims.jti.clone(), now);
        }
        // A full queue skips this one; the next minute's write will do.
        self.writes
            .try_send((claims.jti.clone(), chrono::Utc::now()))
            .is_ok()
    }

    /// The user's sign-ins, newest first; `current` marks the caller's.
    pub async fn list(
        &self,
        user: UserId,
        current: &str,
    ) -> Result<Vec<SignInView>, SecurityError> {
        let sign_ins = self.store.sign_ins(user, chrono::Utc::now()).await?;
        Ok(sign_ins
            .into_iter()
            .map(|s| SignInView {
                current: s.id == current,
                id: s.id,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
                expires_at: s.expires_at,
                client_addr: s.client_addr,
                user_agent: s.user_agent,
            })
            .collect())
    }

    /// Ends one of the user's sign-ins everywhere. A token issued before sign-ins were
    /// recorded (or a malformed id) has no row: `SignInNotFound`.
    pub async fn revoke(&self, user: UserId, id: &str) -> Result<(), SecurityError> {
        let ended = match self.store.revoke_sign_in(user, id).await {
            Ok(ended) => ended,
            Err(StoreError::NotFound) => return Err(SecurityError::SignInNotFound),
            Err(e) => return Err(e.into()),
        };
        self.ended(&ended).await;
        Ok(())
    }

    /// Ends every sign-in of the user but `keep` (all of them for `None`), everywhere.
    /// Returns how many ended.
    pub async fn revoke_all(
        &self,
        user: UserId,
        keep: Option<&str>,
    ) -> Result<usize, SecurityError> {
        let ended = self.store.revoke_sign_ins(user, keep).await?;
        for sign_in in &ended {
            self.ended(sign_in).await;
        }
        Ok(ended.len())
    }

    /// Signs out the token of `claims` (logout): its sign-in row goes with it, if it has one.
    pub async fn sign_out(&self, claims: &Claims, user: UserId) -> Result<(), SecurityError> {
        match self.store.revoke_sign_in(user, &claims.jti).await {
            Ok(_) => {}
            // Issued before sign-ins were recorded: revoked as before.
            Err(StoreError::NotFound) => {
                self.store
                    .revoke_token(&claims.jti, claims.expires_at())
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        self.apply(&RevocationNotice::of(claims)).await;
        Ok(())
    }

    /// A sign-in the store ended: refused here at once (its connections close), announced to
    /// every other node.
    async fn ended(&self, sign_in: &SignIn) {
        self.apply(&RevocationNotice {
            jti: sign_in.id.clone(),
            exp: sign_in.expires_at.timestamp(),
        })
        .await;
    }

    async fn apply(&self, notice: &RevocationNotice) {
        self.tokens.revoked.insert(notice.jti.clone(), notice.exp);
        self.tokens.forget(&notice.jti);
        self.touched().remove(&notice.jti);
        revocations::announce_notice(&*self.bus, notice).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bus::InProcessBus;

    #[tokio::test]
    async fn last_used_is_written_at_most_once_a_minute_per_sign_in() {
        let store = switchboard_store::connect("sqlite::memory:").await.unwrap();
        let tokens = Arc::new(TokenService::new(b"0123456789abcdef0123456789abcdef"));
        let (sign_ins, mut writer) = SignIns::new(
            Arc::new(Config::default()),
            store,
            Arc::new(InProcessBus::default()),
            tokens.clone(),
        );
        let claims = |jti: &str| Claims {
            sub: "user".into(),
            kind: TokenKind::User,
            acc: "account".into(),
            jti: jti.into(),
            iat: 0,
            exp: i64::MAX,
            suid: None,
        };
        let start = Instant::now();
        assert!(sign_ins.used_at(&claims("a"), start));
        // Every request within the minute is free.
        for secs in [0, 1, 30, 59] {
            assert!(!sign_ins.used_at(&claims("a"), start + Duration::from_secs(secs)));
        }
        // Another sign-in has its own minute.
        assert!(sign_ins.used_at(&claims("b"), start + Duration::from_secs(1)));
        assert!(sign_ins.used_at(&claims("a"), start + Duration::from_secs(60)));
        let mut queued = vec![];
        while let Ok((jti, _)) = writer.queue.try_recv() {
            queued.push(jti);
        }
        assert_eq!(queued, ["a", "b", "a"]);
    }
}
