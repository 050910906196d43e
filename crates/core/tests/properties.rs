//! Property tests of what core parses from people and devices: ticket codes as typed and app
//! versions as reported. Each runs a bounded number of cases (`PROPTEST_CASES` raises it);
//! the fuzz targets in `fuzz/` check the same for as long as asked.

use proptest::prelude::*;
use rand::SeedableRng;
use switchboard_core::ticket::MalformedTicket;
use switchboard_core::{AppVersion, TicketCode};

const ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTWXYZ";

/// A ticket as a person might type it: its symbols in any case, with spaces and dashes
/// anywhere.
fn typed(code: &str, separators: &[(bool, u8)]) -> String {
    let mut out = String::new();
    for (c, &(lower, sep)) in code.chars().zip(separators.iter().cycle()) {
        out.push(if lower { c.to_ascii_lowercase() } else { c });
        match sep % 6 {
            0 => out.push('-'),
            1 => out.push(' '),
            2 => out.push_str(" - "),
            _ => {}
        }
    }
    out
}

proptest! {
    /// Any text: no panic; a code that parses has eight symbols of the alphabet, and its
    /// display form, canonical form and lower-case form all parse back to it.
    #[test]
    fn parsed_tickets_print_and_parse_back(input in "\\PC{0,24}") {
        if let Ok(ticket) = TicketCode::parse(&input) {
            prop_assert_eq!(ticket.as_str().len(), 8);
            prop_assert!(ticket.as_str().chars().all(|c| ALPHABET.contains(c)));
            prop_assert_eq!(TicketCode::parse(&ticket.display()), Ok(ticket.clone()));
            prop_assert_eq!(TicketCode::parse(&ticket.to_string()), Ok(ticket.clone()));
            prop_assert_eq!(TicketCode::parse(&ticket.as_str().to_lowercase()), Ok(ticket));
        }
    }

    /// A generated ticket parses back from any typing of it.
    #[test]
    fn generated_tickets_parse_back_however_typed(
        seed in any::<u64>(),
        separators in prop::collection::vec((any::<bool>(), any::<u8>()), 1..8),
    ) {
        let ticket = TicketCode::generate(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let typed = typed(ticket.as_str(), &separators);
        prop_assert_eq!(TicketCode::parse(&typed), Ok(ticket));
    }

    /// Text close to a ticket (right length, near alphabet) is refused unless every symbol
    /// is in the alphabet.
    #[test]
    fn near_tickets_are_refused_unless_well_formed(input in "[0-9A-Za-z]{8}") {
        let well_formed = input.to_ascii_uppercase().chars().all(|c| ALPHABET.contains(c));
        prop_assert_eq!(TicketCode::parse(&input).is_ok(), well_formed);
        if !well_formed {
            prop_assert_eq!(TicketCode::parse(&input), Err(MalformedTicket));
        }
    }

    /// Any reported version: no panic; one that parses prints back to an equal version.
    #[test]
    fn app_versions_print_and_parse_back(
        input in "\\PC{0,30}|v?[0-9]{1,20}(\\.[0-9]{1,20}){0,5}(-[a-z0-9]{0,5})?",
    ) {
        if let Ok(version) = AppVersion::parse(&input) {
            prop_assert_eq!(AppVersion::parse(&version.to_string()), Ok(version));
        }
    }
}
