//! Accounts and their users.

use crate::{AccountId, Timestamp, UserId};
use serde::{Deserialize, Serialize};

/// A group of users. Any user of an account may see and join any session of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub created_at: Timestamp,
}

/// What a user may do inside their account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May invite users and administer the account.
    Admin,
    /// May create, watch and end sessions.
    Member,
    /// Runs the installation: sees every account and every node in the admin views.
    Operator,
}

impl Role {
    /// The stored form of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Operator => "operator",
        }
    }

    /// Whether the role may use an account's admin views.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Operator)
    }

    /// Parses the stored form; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// A person who signs in. The password hash never leaves the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub account_id: AccountId,
    pub username: String,
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub role: Role,
    pub created_at: Timestamp,
}

/// Why a username is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username must be 3 to 64 characters long")]
    Length,
    #[error("username may contain only letters, digits, '.', '_', '-' and '@'")]
    Characters,
}

/// The form a username is kept and shown in: its NFKC normalization, so compatibility forms
/// (fullwidth `ｄｒ`, the ligature `ﬁ`, a decomposed `é`) become the plain letters people
/// read. Case is kept for display; [`username_key`] ignores it.
pub fn normalize_username(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfkc().collect()
}

/// The key two usernames collide on: NFKC, full case folding (`Straße` and `STRASSE`), then
/// the UTS #39 confusable skeleton folded again (Cyrillic `а` and Latin `a`, `0` and `O`,
/// `rn` and `m`). Names with the same key are one name to the server: the second cannot be
/// registered, and signing in with either finds the first.
pub fn username_key(name: &str) -> String {
    let folded = caseless::default_case_fold_str(&normalize_username(name));
    let skeleton: String = unicode_security::skeleton(&normalize_username(&folded)).collect();
    // The skeleton's prototypes include capitals (`0` → `O`): fold once more so case never
    // separates two keys.
    normalize_username(&caseless::default_case_fold_str(&skeleton))
}

/// Checks a username: 3–64 characters of letters, digits and `._-@`.
pub fn validate_username(name: &str) -> Result<(), UsernameError> {
    let len = name.chars().count();
    if !(3..=64).contains(&len) {
        return Err(UsernameError::Length);
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(UsernameError::Characters);
    }
    Ok(())
}

/// Minimum password length; long passphrases are welcome, short ones are not.
pub const MIN_PASSWORD_LEN: usize = 12;

/// Maximum password length: far beyond any passphrase, and a bound on the work a strength
/// check or a hash of hostile input costs.
pub const MAX_PASSWORD_LEN: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(validate_username("dr.house").is_ok());
        assert_eq!(validate_username("ab"), Err(UsernameError::Length));
        assert_eq!(validate_username("a b c"), Err(UsernameError::Characters));
    }

    #[test]
    fn usernames_that_look_alike_share_a_key() {
        let key = username_key("dr.grey");
        for same in [
            "Dr.Grey",
            "DR.GREY",
            "ｄｒ.ｇｒｅｙ",  // fullwidth
            "dr.grеy",        // Cyrillic е
            "dr.gr\u{0435}y", // the same, spelled out
        ] {
            assert_eq!(username_key(same), key, "{same}");
        }
        assert_eq!(username_key("Straße"), username_key("STRASSE"));
        assert_eq!(username_key("bob0"), username_key("BOBO"));
        assert_eq!(username_key("rnike"), username_key("mike"));
        assert_ne!(username_key("dr.grey"), username_key("dr.gray"));
        assert_ne!(username_key("alice"), username_key("alicia"));
    }

    #[test]
    fn normalization_keeps_case_and_composes() {
        assert_eq!(normalize_username("ｄｒ.Ｇｒｅｙ"), "dr.Grey");
        assert_eq!(normalize_username("Rene\u{301}"), "Ren\u{e9}");
        assert!(validate_username(&normalize_username("Rene\u{301}")).is_ok());
    }

    #[test]
    fn roles_round_trip() {
        for r in [Role::Admin, Role::Member, Role::Operator] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
