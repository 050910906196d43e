//! What a new password must be: long enough, and hard enough to guess by zxcvbn's estimate,
//! with the user's own names (username, account name) counted as the first guesses.

use switchboard_core::account::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};

/// Characters of a password the strength estimate reads. zxcvbn's work grows faster than
/// the length; a password this long that is still weak is weak at any length.
const ESTIMATED_CHARS: usize = 256;

/// Why a new password was refused, in words for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeakPassword(pub String);

/// The rule every new password meets: sign-up, joining with an invite, a change, an admin's
/// reset.
#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    /// The lowest zxcvbn score (0–4) accepted.
    min_score: u8,
}

impl PasswordPolicy {
    pub fn new(min_score: u8) -> Self {
        PasswordPolicy {
            min_score: min_score.min(4),
        }
    }

    /// Checks a new password. `hints` are the user's own words an attacker would try first.
    /// The estimate runs on a blocking thread: it takes milliseconds, not microseconds.
    pub async fn check(&self, password: &str, hints: &[&str]) -> Result<(), WeakPassword> {
        let length = password.chars().count();
        if length < MIN_PASSWORD_LEN {
            return Err(WeakPassword(format!(
                "password must be at least {MIN_PASSWORD_LEN} characters"
            )));
        }
        if length > MAX_PASSWORD_LEN {
            return Err(WeakPassword(format!(
                "password must be at most {MAX_PASSWORD_LEN} characters"
            )));
        }
        let min_score = self.min_score;
        let password: String = password.chars().take(ESTIMATED_CHARS).collect();
        let hints: Vec<String> = hints
            .iter()
            .filter(|h| !h.is_empty())
            .map(|h| (*h).to_owned())
            .collect();
        tokio::task::spawn_blocking(move || judge(&password, &hints, min_score))
            .await
            .map_err(|_| WeakPassword("the password could not be checked; try again".into()))?
    }
}

/// zxcvbn's verdict, with its own words for what is wrong when it has them.
fn judge(password: &str, hints: &[String], min_score: u8) -> Result<(), WeakPassword> {
    let hints: Vec<&str> = hints.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &hints);
    let score = u8::from(estimate.score());
    if score >= min_score {
        return Ok(());
    }
    let mut why = format!(
        "password is too easy to guess (strength {score} of 4, at least {min_score} needed)"
    );
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            why.push_str(&format!(": {warning}"));
        }
        let suggestions: Vec<String> = feedback
            .suggestions()
            .iter()
            .map(ToString::to_string)
            .collect();
        if !suggestions.is_empty() {
            why.push_str(&format!(". {}", suggestions.join(" ")));
        }
    } else {
        why.push_str(": add another uncommon word or two");
    }
    Err(WeakPassword(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn short_common_and_own_name_passwords_are_refused_with_a_reason() {
        let policy = PasswordPolicy::new(3);
        let short = policy.check("Tr0ub4dor&3", &[]).await.unwrap_err();
        assert!(short.0.contains("at least 12"), "{short}");
        let common = policy.check("password1234", &[]).await.unwrap_err();
        assert!(common.0.contains("too easy to guess"), "{common}");
        // The user's own name is among the first guesses.
        let own = policy
            .check("meredith.grey2026", &["meredith.grey", "Seattle Grace"])
            .await;
        assert!(own.is_err(), "{own:?}");
        policy.check("meredith.grey2026", &[]).await.unwrap();
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        assert!(
            policy
                .check(&long, &[])
                .await
                .unwrap_err()
                .0
                .contains("at most")
        );
        policy
            .check("quiet lantern orbit mosaic", &["dr.grey"])
            .await
            .unwrap();
    }
}
