//! Who is calling: users sign in with a password and get a JWT; devices get a JWT bound to
//! their session when they redeem a ticket. Revoked token ids are held in memory (loaded from
//! the store at start), so checking a token costs no query. A long-lived connection holds a
//! [`Right`] and closes when it ends (see `rights`).

mod extract;
mod password;
#[cfg(test)]
mod properties;
pub mod revocations;
mod rights;
mod secret;
mod tokens;

pub use extract::{CurrentUser, DeviceCaller, TokenSource, find_token};
pub use password::{PasswordError, PasswordHashing, hash_password, verify_password};
pub use rights::{Right, Rights};
pub use secret::{load_or_create_secret, read_secret_file};
pub use tokens::{Claims, Revoked, TokenKind, TokenService};

/// Name of the cookie browsers carry their token in over plain HTTP.
pub const COOKIE_NAME: &str = "sb_token";
/// Name of that cookie over HTTPS: browsers accept a `__Host-` cookie only from a secure
/// page of this very host (`Secure`, `Path=/`, no `Domain`), so a sibling subdomain or a
/// plain-HTTP page cannot plant or overwrite it.
pub const HTTPS_COOKIE_NAME: &str = "__Host-sb_token";

/// The session cookie's name on a node reached over HTTPS (`https`) or plain HTTP.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        HTTPS_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}
