//! Web origins (`scheme://host[:port]`) as browsers serialize them: of a URL, and of an
//! `allowed_origins` entry checked when the configuration is read.

use reqwest::Url;

/// The serialized origin of a URL or origin (`https://host[:port]`, the port only when not
/// the scheme's default), or `None` for anything but an http(s) URL with a host.
pub fn origin_of(url: &str) -> Option<String> {
    let url = Url::parse(url.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    Some(url.origin().ascii_serialization())
}

/// An `allowed_origins` entry checked and serialized as browsers send it.
pub fn parse_configured_origin(origin: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!("{origin:?} {why}: give scheme://host[:port], e.g. https://ui.example.org")
    };
    let url = Url::parse(origin.trim()).map_err(|_| bad("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(bad("must have no path, query or user"));
    }
    origin_of(origin).ok_or_else(|| bad("names no host"))
}
