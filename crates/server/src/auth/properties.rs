//! Property tests of token parsing: no made-up or altered token verifies, every issued one
//! does with its claims, and finding the token in a request never panics and returns what the
//! client sent. Each runs a bounded number of cases (`PROPTEST_CASES` raises it); the
//! `ticket_and_token` fuzz target in `fuzz/` checks the same for as long as asked.

#![allow(clippy::unwrap_used)]

use super::{COOKIE_NAME, TokenKind, TokenService, find_token};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use proptest::prelude::*;
use std::time::Duration;

const SECRET: &[u8] = b"property-secret-property-secret-property";

fn kind() -> impl Strategy<Value = TokenKind> {
    prop_oneof![Just(TokenKind::User), Just(TokenKind::Device)]
}

proptest! {
    /// Any text, including things shaped like a JWT: refused, never a panic.
    #[test]
    fn made_up_tokens_are_refused(
        text in "\\PC{0,200}|[A-Za-z0-9_-]{1,60}\\.[A-Za-z0-9_-]{1,200}\\.[A-Za-z0-9_-]{0,60}",
    ) {
        let service = TokenService::new(SECRET);
        prop_assert!(service.verify(&text).is_err());
    }

    /// Issued tokens verify and carry their claims, whatever the subject and account say.
    #[test]
    fn issued_tokens_verify_with_their_claims(
        kind in kind(),
        sub in "\\PC{0,40}",
        acc in "\\PC{0,40}",
        suid in proptest::option::of("\\PC{0,40}"),
    ) {
        let service = TokenService::new(SECRET);
        let (token, issued) = service
            .issue(kind, sub.clone(), acc.clone(), suid.clone(), Duration::from_secs(600))
            .unwrap();
        let claims = service.verify(&token).unwrap();
        prop_assert_eq!(claims.kind, kind);
        prop_assert_eq!(claims.sub, sub);
        prop_assert_eq!(claims.acc, acc);
        prop_assert_eq!(claims.suid, suid);
        prop_assert_eq!(claims.jti, issued.jti);
        let other = TokenService::new(b"another-secret-another-secret-another");
        prop_assert!(other.verify(&token).is_err());
    }

    /// Changing any one character of a token, or cutting it short, makes it invalid.
    #[test]
    fn altered_tokens_are_refused(
        at in any::<prop::sample::Index>(),
        replacement in prop::char::range('+', 'z'),
        cut in any::<prop::sample::Index>(),
    ) {
        let service = TokenService::new(SECRET);
        let (token, _) = service
            .issue(TokenKind::User, "user".into(), "account".into(), None, Duration::from_secs(600))
            .unwrap();
        let mut chars: Vec<char> = token.chars().collect();
        let at = at.index(chars.len());
        prop_assume!(chars[at] != replacement);
        chars[at] = replacement;
        let altered: String = chars.into_iter().collect();
        prop_assert!(service.verify(&altered).is_err(), "{altered}");
        prop_assert!(service.verify(&token[..cut.index(token.len())]).is_err());
    }

    /// A header, query or cookie of any content: never a panic, and a token found is a piece
    /// of what was sent.
    #[test]
    fn finding_the_token_never_panics(
        authorization in "\\PC{0,60}|(Bearer|bearer|Token) [ -~]{0,40}",
        query in "[ -~&&[^# ]]{0,60}|token=[A-Za-z0-9._-]{0,40}",
        cookie in "[ -~]{0,60}|sb_token=[A-Za-z0-9._-]{0,40}(; a=b)?",
    ) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&authorization) {
            headers.insert(header::AUTHORIZATION, value);
        }
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.insert(header::COOKIE, value);
        }
        let uri: Uri = format!("/x?{query}").parse().unwrap_or_else(|_| Uri::from_static("/x"));
        if let Some((_, token)) = find_token(&headers, &uri, COOKIE_NAME) {
            prop_assert!(
                authorization.contains(&token) || query.contains(&token) || cookie.contains(&token),
                "{token:?}"
            );
        }
    }

    /// A token sent in any of the three places is found, the header first.
    #[test]
    fn a_sent_token_is_found(token in "[A-Za-z0-9._-]{1,60}", other in "[A-Za-z0-9._-]{1,60}") {
        let bearer = |t: &str| HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
        let cookie = |t: &str| HeaderValue::from_str(&format!("x=1; {COOKIE_NAME}={t}")).unwrap();
        let query = |t: &str| format!("/x?a=1&token={t}").parse::<Uri>().unwrap();
        let plain = Uri::from_static("/x");

        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, bearer(&token));
        headers.insert(header::COOKIE, cookie(&other));
        let found = |headers: &HeaderMap, uri: &Uri| {
            find_token(headers, uri, COOKIE_NAME).map(|(_, t)| t)
        };
        prop_assert_eq!(found(&headers, &query(&other)), Some(token.clone()));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, cookie(&other));
        prop_assert_eq!(found(&headers, &query(&token)), Some(token.clone()));
        prop_assert_eq!(found(&headers, &plain), Some(other));
    }
}
