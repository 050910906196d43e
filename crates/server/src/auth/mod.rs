//! Who is calling: users sign in with a password and get a JWT; devices get a JWT bound to
//! their session when they redeem a ticket. Revoked token ids are held in memory (loaded from
//! the store at start), so checking a token costs no query. A long-lived connection holds a
//! [`Right`] and closes when it ends (see `rights`).

mod claims;
mod cookie;
mod extract;
mod password;
#[cfg(test)]
mod properties;
pub mod revocations;
mod rights;
mod secret;
mod tokens;

pub use claims::{Claims, TokenKind};
pub use cookie::{COOKIE_NAME, HTTPS_COOKIE_NAME, cookie_name};
pub use extract::{CurrentUser, DeviceCaller, GatedUser, TokenSource, find_token};
pub use password::{PasswordError, PasswordHashing, hash_password, verify_password};
pub use rights::{Right, Rights};
pub use secret::{load_or_create_secret, read_secret_file};
pub use tokens::{Revoked, TokenService};
