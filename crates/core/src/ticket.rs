//! Tickets: the short code a clinician reads out or shows as a QR code, which a device redeems
//! once to join a session.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// 29 symbols with no look-alikes (no 0/O, 1/I/L, U/V): easy to read aloud and to type.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTWXYZ";
/// Eight symbols: 29^8 ≈ 5·10^11 codes. With redemption rate-limited per client and a ten
/// minute lifetime, guessing a live ticket is impractical.
const LEN: usize = 8;

/// A ticket code in canonical form (eight upper-case symbols, no separators).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketCode(String);

/// Why a typed ticket is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a ticket is {LEN} characters from 2-9 and A-Z without I, L, O, U and V")]
pub struct MalformedTicket;

impl TicketCode {
    /// Draws a new random code.
    pub fn generate(rng: &mut impl Rng) -> Self {
        let code = (0..LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        TicketCode(code)
    }

    /// Parses what a person typed: case, spaces and dashes don't matter.
    pub fn parse(input: &str) -> Result<Self, MalformedTicket> {
        let code: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if code.len() != LEN || !code.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(MalformedTicket);
        }
        Ok(TicketCode(code))
    }

    /// The canonical form, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form shown to people: two groups of four, `ABCD-EFGH`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

impl fmt::Display for TicketCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_codes_parse_back_in_any_typing() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let t = TicketCode::generate(&mut rng);
            assert_eq!(TicketCode::parse(&t.display()).unwrap(), t);
            assert_eq!(TicketCode::parse(&t.as_str().to_lowercase()).unwrap(), t);
            assert!(!t.as_str().contains(['0', '1', 'O', 'I', 'L', 'U', 'V']));
        }
    }

    #[test]
    fn malformed_tickets_are_refused() {
        for bad in ["", "ABC", "ABCD-EFGH-J", "ABCD-EFG0", "abcd efgi"] {
            assert_eq!(TicketCode::parse(bad), Err(MalformedTicket), "{bad}");
        }
    }
}
