//! Issuing and checking JWTs, and the set of revoked token ids.

use super::claims::{Claims, TokenKind};
use super::rights::{Right, Rights};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use std::collections::HashMap;
use std::sync::Mutex;

/// Revoked token ids with their expiry; expired entries are dropped as they stop mattering.
/// Marking a token revoked also ends the connections it opened on this node.
#[derive(Debug, Default)]
pub struct Revoked {
    ids: Mutex<HashMap<String, i64>>,
    rights: Rights,
}

impl Revoked {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // Every operation is a single map call, so a poisoned map is still consistent.
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks a token id revoked until `exp` (Unix seconds), and ends its open connections.
    pub fn insert(&self, jti: String, exp: i64) {
        let mut map = self.lock();
        if map.len() > 10_000 {
            let now = Utc::now().timestamp();
            map.retain(|_, e| *e > now);
        }
        map.insert(jti.clone(), exp);
        drop(map);
        // After the insert: a connection registering concurrently either is ended here or
        // finds the id revoked when it checks (see `TokenService::hold`).
        self.rights.end_token(&jti);
    }

    /// Whether a token id is revoked.
    pub fn contains(&self, jti: &str) -> bool {
        self.lock().contains_key(jti)
    }
}

/// Signs and verifies tokens with the node's secret.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub revoked: Revoked,
    /// User tokens this process issued that have neither expired nor been revoked, by id,
    /// with their user: the "signed in" figures of metrics and admin views.
    active: Mutex<HashMap<String, (String, i64)>>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenService { .. }")
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid or expired")]
    Invalid,
    #[error("the token has been revoked")]
    Revoked,
}

impl TokenService {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenService {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            revoked: Revoked::default(),
            active: Mutex::new(HashMap::new()),
        }
    }

    /// Signs a new token. Returns it with its claims.
    pub fn issue(
        &self,
        kind: TokenKind,
        sub: String,
        acc: String,
        suid: Option<String>,
        ttl: std::time::Duration,
    ) -> Result<(String, Claims), jsonwebtoken::errors::Error> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub,
            kind,
            acc,
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2)),
            suid,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        if kind == TokenKind::User {
            let mut active = self.active_map();
            active.retain(|_, (_, exp)| *exp > now);
            active.insert(claims.jti.clone(), (claims.sub.clone(), claims.exp));
        }
        Ok((token, claims))
    }

    fn active_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, i64)>> {
        // Single map operations only: a poisoned map is still consistent.
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets a token for the signed-in figures (it was revoked).
    pub fn forget(&self, jti: &str) {
        self.active_map().remove(jti);
    }

    /// User tokens issued here that are still valid.
    pub fn active_count(&self) -> usize {
        let now = Utc::now().timestamp();
        self.active_map()
            .values()
            .filter(|(_, exp)| *exp > now)
            .count()
    }

    /// Distinct users holding a valid token issued here.
    pub fn signed_in_users(&self) -> usize {
        let now = Utc::now().timestamp();
        let map = self.active_map();
        let users: std::collections::HashSet<_> = map
            .values()
            .filter(|(_, exp)| *exp > now)
            .map(|(u, _)| u)
            .collect();
        users.len()
    }

    /// This node's open connections by the right that opened them.
    pub fn rights(&self) -> &Rights {
        &self.revoked.rights
    }

    /// Registers a long-lived connection opened with `claims` (already verified); it must
    /// close when the returned right ends. A user token's right also ends when its user is
    /// deleted.
    pub fn hold(&self, claims: &Claims) -> Right {
        let user = (claims.kind == TokenKind::User).then_some(claims.sub.as_str());
        let right = self.revoked.rights.hold(claims, user);
        // Revoked between the request's check and the registration: end it at once.
        if self.revoked.contains(&claims.jti) {
            self.revoked.rights.end_token(&claims.jti);
        }
        right
    }

    /// Checks signature, expiry and revocation.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if self.revoked.contains(&data.claims.jti) {
            return Err(TokenError::Revoked);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn issue_verify_revoke() {
        let svc = TokenService::new(b"secret-secret-secret-secret-secret");
        let (tok, claims) = svc
            .issue(
                TokenKind::User,
                "u".into(),
                "a".into(),
                None,
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(svc.verify(&tok).unwrap().jti, claims.jti);
        svc.revoked.insert(claims.jti.clone(), claims.exp);
        assert!(matches!(svc.verify(&tok), Err(TokenError::Revoked)));
        let other = TokenService::new(b"another-secret-another-secret-12");
        assert!(matches!(other.verify(&tok), Err(TokenError::Invalid)));
        assert!(matches!(svc.verify("garbage"), Err(TokenError::Invalid)));
    }
}
