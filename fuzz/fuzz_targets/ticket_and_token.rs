//! Tickets, app versions and tokens as clients type or send them: parsing never panics, a
//! parsed ticket's display form and its lower-case form parse back to it, a version prints
//! back to an equal one, no made-up or altered token verifies, and finding the token in a
//! request never panics.
//!
//! Input: one byte choosing what to parse, then the text.
#![no_main]

use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use std::time::Duration;
use switchboard_core::{AppVersion, TicketCode};
use switchboard_server::auth::{COOKIE_NAME, TokenKind, TokenService, find_token};

const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-fuzzing";

static TOKENS: LazyLock<(TokenService, String)> = LazyLock::new(|| {
    let service = TokenService::new(SECRET);
    let (token, _) = service
        .issue(
            TokenKind::User,
            "0196f3d2-7c1e-7a0b-8d2e-3f4a5b6c7d8e".into(),
            "0196f3d2-7c1e-7a0b-8d2e-3f4a5b6c7d8f".into(),
            None,
            Duration::from_secs(3600),
        )
        .expect("a token is issued");
    (service, token)
});

fuzz_target!(|input: &[u8]| {
    let Some((&which, rest)) = input.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => {
            if let Ok(ticket) = TicketCode::parse(&text) {
                assert_eq!(ticket.as_str().len(), 8);
                assert_eq!(TicketCode::parse(&ticket.display()), Ok(ticket.clone()));
                assert_eq!(TicketCode::parse(&ticket.to_string()), Ok(ticket.clone()));
                assert_eq!(
                    TicketCode::parse(&ticket.as_str().to_lowercase()),
                    Ok(ticket)
                );
            }
        }
        1 => {
            if let Ok(version) = AppVersion::parse(&text) {
                assert_eq!(AppVersion::parse(&version.to_string()), Ok(version));
            }
        }
        2 => {
            let (service, _) = &*TOKENS;
            assert!(service.verify(&text).is_err(), "a made-up token verified");
        }
        3 => {
            // The real token with the input written over part of it.
            let (service, token) = &*TOKENS;
            let Some((&at, patch)) = rest.split_first() else {
                return;
            };
            let mut altered = token.as_bytes().to_vec();
            let at = usize::from(at) % altered.len();
            let end = (at + patch.len()).min(altered.len());
            altered[at..end].copy_from_slice(&patch[..end - at]);
            let altered = String::from_utf8_lossy(&altered);
            if altered != token.as_str() {
                assert!(
                    service.verify(&altered).is_err(),
                    "an altered token verified"
                );
            }
        }
        _ => {
            // The same text as a header, a query and a cookie.
            let query = text.replace(['#', ' '], "");
            let Ok(request) = Request::builder()
                .uri(format!("/x?{query}"))
                .header(header::AUTHORIZATION, text.as_bytes())
                .header(header::COOKIE, text.as_bytes())
                .body(())
            else {
                return;
            };
            let (parts, ()) = request.into_parts();
            if let Some((_, found)) = find_token(&parts.headers, &parts.uri, COOKIE_NAME) {
                assert!(
                    text.contains(found.as_str()) || query.contains(found.as_str()),
                    "{found:?} is not from {text:?}"
                );
            }
        }
    }
});
