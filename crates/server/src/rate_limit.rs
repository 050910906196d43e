//! Per-client-address rate limits for the endpoints that guessing attacks target: ticket
//! redemption and sign-in.

use crate::config::Config;
use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;

pub(crate) struct RateLimits {
    tickets: DefaultKeyedRateLimiter<IpAddr>,
    auth: DefaultKeyedRateLimiter<IpAddr>,
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
            tickets: limiter(config.ticket_redemptions_per_minute),
            auth: limiter(config.auth_attempts_per_minute),
        }
    }

    pub(crate) fn ticket(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.tickets, ip, "ticket")
    }

    pub(crate) fn auth(&self, ip: IpAddr) -> Result<(), ApiError> {
        check(&self.auth, ip, "sign-in")
    }
}
