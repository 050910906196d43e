//! The STUN and TURN servers handed to browsers before they make a peer connection. TURN
//! credentials are minted per caller from the secret the TURN servers share (coturn's
//! `use-auth-secret`, the "TURN REST API" scheme): the username is `<expiry>:<caller>` in
//! Unix seconds, the password base64(HMAC-SHA1(secret, username)). No long-lived TURN
//! password reaches a browser, and one copied out of a page stops working at its expiry.

use crate::config::{Config, ConfigError, IceTransportPolicy};
use crate::protocol::ice::{IceConfig, IceServer};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use std::time::Duration;

/// The node's ICE servers and the secret TURN credentials are minted from.
pub struct IceServers {
    stun: Vec<String>,
    turn: Vec<String>,
    secret: Option<Vec<u8>>,
    ttl: Duration,
    policy: IceTransportPolicy,
}

impl std::fmt::Debug for IceServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("IceServers")
            .field("stun", &self.stun)
            .field("turn", &self.turn)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The shortest TURN secret accepted: anything shorter can be guessed from one credential.
const MIN_SECRET_CHARS: usize = 16;

impl IceServers {
    /// From the `[webrtc]` settings; reads the TURN secret file (validated URLs assumed).
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let w = &config.webrtc;
        let secret = match &w.webrtc_turn_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Invalid(format!(
                        "cannot read webrtc_turn_secret_file {}: {e}",
                        path.display()
                    ))
                })?;
                let secret = text.trim();
                if secret.chars().count() < MIN_SECRET_CHARS {
                    return Err(ConfigError::Invalid(format!(
                        "webrtc_turn_secret_file {} holds fewer than {MIN_SECRET_CHARS} characters",
                        path.display()
                    )));
                }
                Some(secret.as_bytes().to_vec())
            }
            None => None,
        };
        Ok(IceServers {
            stun: w.webrtc_stun_urls.clone(),
            turn: w.webrtc_turn_urls.clone(),
            secret,
            ttl: w.webrtc_turn_credential_ttl,
            policy: w.webrtc_ice_transport_policy,
        })
    }

    /// What `caller` (a user or device id, written into the TURN username so the TURN
    /// server's logs name who relayed) passes to its peer connection, minted at `now`.
    pub fn for_caller(&self, caller: &str, now: DateTime<Utc>) -> IceConfig {
        let mut ice_servers = Vec::new();
        if !self.stun.is_empty() {
            ice_servers.push(IceServer {
                urls: self.stun.clone(),
                username: None,
                credential: None,
            });
        }
        let mut expires_at = None;
        if let (false, Some(secret)) = (self.turn.is_empty(), &self.secret) {
            let expiry = now + chrono::Duration::from_std(self.ttl).unwrap_or_default();
            let username = format!("{}:{caller}", expiry.timestamp());
            ice_servers.push(IceServer {
                urls: self.turn.clone(),
                credential: Some(turn_password(secret, &username)),
                username: Some(username),
            });
            expires_at = Some(expiry);
        }
        IceConfig {
            ice_servers,
            ice_transport_policy: self.policy,
            expires_at,
        }
    }
}

/// base64(HMAC-SHA1(secret, username)): the password a TURN server with the same secret
/// computes for `username`.
fn turn_password(secret: &[u8], username: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn servers(turn: bool, policy: IceTransportPolicy) -> IceServers {
        IceServers {
            stun: vec!["stun:stun.example.org:3478".into()],
            turn: if turn {
                vec!["turn:turn.example.org:3478?transport=udp".into()]
            } else {
                vec![]
            },
            secret: turn.then(|| b"north-facing-window-seat".to_vec()),
            ttl: Duration::from_secs(3600),
            policy,
        }
    }

    #[test]
    fn turn_credentials_are_the_rest_api_scheme() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let config = servers(true, IceTransportPolicy::Relay).for_caller("alice", now);
        assert_eq!(config.ice_transport_policy, IceTransportPolicy::Relay);
        assert_eq!(config.expires_at, Some(now + chrono::Duration::hours(1)));
        let turn = &config.ice_servers[1];
        assert_eq!(turn.username.as_deref(), Some("1700003600:alice"));
        // What a TURN server with the same secret computes (Python's hmac and base64 agree).
        assert_eq!(
            turn.credential.as_deref(),
            Some("hctOTCYfcNTAm+effeL3EHy6DZ4=")
        );
        // HMAC-SHA1's known answer for ("key", the quick brown fox …): de7c9b85…, in base64.
        assert_eq!(
            turn_password(b"key", "The quick brown fox jumps over the lazy dog"),
            "3nybhbi3iqa8ino29wqQcBydtNk="
        );
        assert_eq!(config.ice_servers[0].credential, None);
    }

    #[test]
    fn without_turn_there_is_nothing_to_expire() {
        let config = servers(false, IceTransportPolicy::All).for_caller("bob", Utc::now());
        assert_eq!(config.ice_servers.len(), 1);
        assert_eq!(config.expires_at, None);
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["ice_servers"][0].get("username"), None);
        assert_eq!(json["ice_transport_policy"], "all");
    }
}
