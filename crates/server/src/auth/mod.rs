//! Who is calling: users sign in with a password and get a JWT; devices get a JWT bound to
//! their session when they redeem a ticket. Revoked token ids are held in memory (loaded from
//! the store at start), so checking a token costs no query. A long-lived connection holds a
//! [`Right`] and closes when it ends (see `rights`).

mod extract;
mod password;
pub mod revocations;
mod rights;
mod secret;
mod tokens;

pub use extract::{CurrentUser, DeviceCaller, bearer_token};
pub use password::{PasswordError, PasswordHashing, hash_password, verify_password};
pub use secret::{load_or_create_secret, read_secret_file};
pub use rights::{Right, Rights};
pub use tokens::{Claims, Revoked, TokenKind, TokenService};

/// Name of the cookie browsers carry their token in.
pub const COOKIE_NAME: &str = "sb_token";
