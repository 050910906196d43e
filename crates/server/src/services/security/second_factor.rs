//! Second factors: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew
//! either way, computed by `totp-rs`), single-use recovery codes, and the short-lived
//! challenge that stands for a checked password until the second factor is given.

use super::error::SecurityError;
use rand::Rng;
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret, Totp};

/// The issuer authenticator apps show beside the username.
const ISSUER: &str = "Switchboard";
/// Bytes of a new TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Recovery codes made at enrolment.
pub(super) const RECOVERY_CODES: usize = 10;
/// The symbols of a recovery code: no look-alikes (as invites).
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Symbols in a recovery code (about 50 bits), shown as two groups of five.
const RECOVERY_LEN: usize = 10;
/// Longest code text looked at: anything longer is wrong, whatever it says.
const MAX_CODE_CHARS: usize = 64;

/// A new random TOTP secret, in base32.
pub(super) fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill(&mut bytes[..]);
    Secret::from(bytes).to_base32()
}

/// The TOTP of a stored secret, labelled for `username`.
fn totp(secret: &str, username: &str) -> Result<Totp, SecurityError> {
    let bytes = Secret::try_from_base32(secret)
        .map_err(|_| SecurityError::Token("a stored second-factor secret is not base32".into()))?;
    Builder::new()
        .with_secret(bytes)
        .with_account_name(username.replace(':', "_"))
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| SecurityError::Token(e.to_string()))
}

/// The `otpauth://totp/…` URL of a secret, for the QR code.
pub(super) fn otpauth_url(secret: &str, username: &str) -> Result<String, SecurityError> {
    totp(secret, username)?
        .to_url()
        .map_err(|e| SecurityError::Token(e.to_string()))
}

/// The time step `code` is valid for at `now` (Unix seconds), one step either side allowed,
/// or `None` for a wrong code. Accepting the step once is the caller's (the store's) part.
pub(super) fn step_of(secret: &str, code: &str, now: u64) -> Result<Option<i64>, SecurityError> {
    if code.chars().count() > MAX_CODE_CHARS {
        return Ok(None);
    }
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(totp(secret, "")?
        .check(&digits, now)
        .and_then(|step| i64::try_from(step).ok()))
}

/// Fresh recovery codes, as shown to the user once (`xxxxx-xxxxx`).
pub(super) fn recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let symbols: String = (0..RECOVERY_LEN)
                .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &symbols[..5], &symbols[5..])
        })
        .collect()
}

/// How a recovery code is stored: SHA-256 (hex) of the code with case, spaces and dashes
/// ignored. The codes are random enough that a fast hash does not help a guesser, who also
/// meets the per-user limit on failures.
pub(super) fn recovery_hash(code: &str) -> Option<String> {
    if code.chars().count() > MAX_CODE_CHARS {
        return None;
    }
    let normal: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if normal.len() != RECOVERY_LEN {
        return None;
    }
    Some(format!("{:x}", Sha256::digest(normal.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_valid_for_its_step_and_the_neighbours_only() {
        let secret = new_secret();
        let t = totp(&secret, "dr.grey").unwrap();
        let now = 1_767_225_600;
        let code = t.generate(now).to_string();
        assert_eq!(step_of(&secret, &code, now).unwrap(), Some(58_907_520));
        assert_eq!(step_of(&secret, &code, now + 30).unwrap(), Some(58_907_520));
        assert_eq!(step_of(&secret, &code, now + 90).unwrap(), None);
        assert_eq!(step_of(&secret, "12345", now).unwrap(), None);
        assert_eq!(step_of(&secret, &"1".repeat(100), now).unwrap(), None);
        let url = otpauth_url(&secret, "dr.grey").unwrap();
        assert!(
            url.starts_with("otpauth://totp/Switchboard:dr.grey?"),
            "{url}"
        );
        assert!(url.contains(&format!("secret={secret}")), "{url}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_typed_any_way() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        let code = &codes[0];
        assert_eq!(code.len(), 11);
        let hash = recovery_hash(code).unwrap();
        assert_eq!(
            recovery_hash(&code.to_uppercase().replace('-', " ")),
            Some(hash)
        );
        assert_eq!(recovery_hash("short"), None);
    }
}
