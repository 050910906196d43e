//! The session cookie's name: browsers carry their token in it.

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
