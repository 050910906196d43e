//! Rate limits per client address for the endpoints that guessing attacks target: ticket
//! redemption, sign-in (both steps) and camera tokens. (Failed sign-ins per username and
//! failed codes per user, from any address, are the services': `services::sign_in_failures`.)

use crate::config::Config;
use crate::error::ApiError;
use crate::services::sign_in_failures::SignInFailures;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

pub(crate) struct RateLimits {
    tickets: DefaultKeyedRateLimiter<IpAddr>,
    auth: DefaultKeyedRateLimiter<IpAddr>,
    /// Failed camera-token uploads per address. Only failures count: a site's cameras
    /// behind one address upload often and must not be slowed.
    camera_tokens: SignInFailures,
}

fn limiter(per_minute: u32) -> DefaultKeyedRateLimiter<IpAddr> {
    let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    governor::RateLimiter::keyed(Quota::per_minute(n))
}

fn check(l: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr, what: &str) -> Result<(), ApiError> {
    l.check_key(&ip).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        ApiError::too_many_requests(
            format!("too many {what} attempts from this address; wait and try again"),
            wait.as_secs() + 1,
        )
    })?;
    // Forget addresses that have been quiet, so the map stays bounded.
    if l.len() > 100_000 {
        l.retain_recent();
    }
    Ok(())
}

impl RateLimits {
    pub(crate) fn new(config: &Config) -> Self {
        RateLimits {
            tickets: limiter(config.devices.ticket_redemptions_per_minute),
            auth: limiter(config.auth.auth_attempts_per_minute),
            camera_tokens: SignInFailures::new(
                config.auth.auth_attempts_per_minute,
                Duration::from_secs(60),
            ),
        }
    }

    pub(crate) fn ticket(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.tickets, ip, "ticket")
    }

    pub(crate) fn auth(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.auth, ip, "sign-in")
    }

    /// Refuses an upload from an address with too many recent camera-token failures.
    pub(crate) fn camera_token(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.camera_tokens.allowed(&ip.to_string()).map_err(|wait| {
            ApiError::too_many_requests(
                "too many uploads with a wrong camera token from this address; wait and try again",
                wait.as_secs() + 1,
            )
        })
    }

    /// Counts an upload whose camera token was missing or wrong.
    pub(crate) fn camera_token_failed(&self, ip: IpAddr) {
        self.camera_tokens.failed(&ip.to_string());
    }
}

/// The client's address for rate limits and logs. Behind a reverse proxy every connection
/// comes from the proxy, so when the peer is one of `trusted` proxies the address is taken from
/// `X-Forwarded-For`: the rightmost entry that is not itself a trusted proxy (entries further
/// left were written by the client and cannot be trusted).
pub(crate) fn client_ip(trusted: &[IpAddr], peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if !trusted.contains(&peer.ip()) {
        return peer.ip();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer.ip())
}

#[cfg(test)]
mod tests {
    use super::client_ip;

    use axum::http::HeaderMap;
    use std::net::IpAddr;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let peer = "10.0.0.2:5555".parse().unwrap();
        let stranger = "198.51.100.7:5555".parse().unwrap();
        let h = headers(&["203.0.113.9, 192.0.2.1"]);
        assert_eq!(
            client_ip(&[proxy], peer, &h),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        // A client cannot pick its own address by sending the header directly.
        assert_eq!(client_ip(&[proxy], stranger, &h), stranger.ip());
        assert_eq!(client_ip(&[], peer, &h), peer.ip());
        // Chained trusted proxies are skipped; no header means the proxy itself.
        let h = headers(&["192.0.2.1", "10.0.0.2"]);
        assert_eq!(
            client_ip(&[proxy], peer, &h),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&[proxy], peer, &HeaderMap::new()), proxy);
    }
}
