//! Extractors that authenticate a request: [`CurrentUser`] for people, [`DeviceCaller`] for
//! devices. A token comes from `Authorization: Bearer …`, else a `token` query parameter (for
//! media and WebSocket URLs that cannot carry headers), else the session cookie
//! ([`super::cookie_name`]).

use super::claims::{Claims, TokenKind};
use super::cookie::cookie_name;
use crate::App;
use crate::error::ApiError;
use crate::services::SecurityError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri, header};
use std::sync::Arc;
use switchboard_core::security::{Gate, Standing};
use switchboard_core::{AccountId, DeviceId, Suid, User};

/// Where a request's token was found. Only the cookie goes along by itself with a browser's
/// requests, so only it needs the Origin rule (`crate::browser_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer …` (or `Token …`, or the token alone).
    Header,
    /// The `token` query parameter.
    Query,
    /// The session cookie.
    Cookie,
}

/// Finds the caller's token in the request, and where it was, if any. `cookie_name` is the
/// session cookie's name on this node ([`super::cookie_name`]).
pub fn find_token(
    headers: &HeaderMap,
    uri: &Uri,
    cookie_name: &str,
) -> Option<(TokenSource, String)> {
    if let Some(v) = headers.get(header::AUTHORIZATION)
        && let Ok(v) = v.to_str()
    {
        let v = v.trim();
        match v.split_once(' ') {
            Some((scheme, tok))
                if scheme.eq_ignore_ascii_case("bearer")
                    || scheme.eq_ignore_ascii_case("token") =>
            {
                return Some((TokenSource::Header, tok.trim().to_owned()));
            }
            // The token alone: what Jupyter Server's gateway client sends with an empty
            // `auth_scheme`. Ours are JWTs (`a.b.c`), which no other scheme's value is.
            None if v.split('.').count() == 3 => {
                return Some((TokenSource::Header, v.to_owned()));
            }
            _ => {}
        }
    }
    // A token written into the URL is a deliberate choice for this request (a device page
    // opened in a browser that also holds a clinician's cookie): it wins over the cookie.
    let from_query = uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_owned())
    });
    if let Some(token) = from_query {
        return Some((TokenSource::Query, token));
    }
    for v in headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=')
                && k == cookie_name
                && !val.is_empty()
            {
                return Some((TokenSource::Cookie, val.to_owned()));
            }
        }
    }
    None
}

fn claims_of(parts: &Parts, app: &App, kind: TokenKind) -> Result<Claims, ApiError> {
    let cookie_name = cookie_name(app.config.served_over_https());
    let (_, token) = find_token(&parts.headers, &parts.uri, cookie_name)
        .ok_or_else(|| ApiError::unauthorized("sign in first: no token was sent"))?;
    let claims = app
        .tokens
        .verify(&token)
        .map_err(|e| ApiError::unauthorized(e.to_string()))?;
    if claims.kind != kind {
        return Err(ApiError::unauthorized(match kind {
            TokenKind::User => "this route needs a user's token, not a device's",
            TokenKind::Device => "this route needs the device token from registration",
            TokenKind::SecondFactor => "this route needs a sign-in challenge",
        }));
    }
    Ok(claims)
}

/// A signed-in user whose token is valid and not revoked, who still exists, and whom
/// nothing holds back: a user who must first change a reset password or enrol a second
/// factor is refused (403 `password_change_required`, `second_factor_enrolment_required`).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub claims: Claims,
}

impl CurrentUser {
    pub fn account_id(&self) -> AccountId {
        self.user.account_id
    }
}

/// A signed-in user whatever their standing: for the few routes a user held back may call
/// (who they are, signing out, changing the password, enrolling a second factor).
#[derive(Debug, Clone)]
pub struct GatedUser {
    pub caller: CurrentUser,
    pub standing: Standing,
}

impl FromRequestParts<Arc<App>> for GatedUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let claims = claims_of(parts, app, TokenKind::User)?;
        let id = claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthorized("the token names no valid user"))?;
        // Checking the user still exists makes deleting a user end their tokens at once; the
        // same read brings their standing.
        let (user, standing) = match app.store.user_standing(id).await {
            Ok(found) => found,
            Err(switchboard_store::StoreError::NotFound) => {
                return Err(ApiError::unauthorized("this user no longer exists"));
            }
            Err(e) => return Err(e.into()),
        };
        app.security.sign_ins().used(&claims);
        Ok(GatedUser {
            caller: CurrentUser { user, claims },
            standing,
        })
    }
}

impl FromRequestParts<Arc<App>> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let GatedUser { caller, standing } = GatedUser::from_request_parts(parts, app).await?;
        match standing.gate() {
            Gate::Open => Ok(caller),
            Gate::PasswordChange => Err(SecurityError::PasswordChangeRequired.into()),
            Gate::SecondFactorEnrolment => Err(SecurityError::SecondFactorEnrolmentRequired.into()),
        }
    }
}

/// A device calling with the token it got at registration.
#[derive(Debug, Clone)]
pub struct DeviceCaller {
    pub device_id: DeviceId,
    pub suid: Suid,
    pub claims: Claims,
}

impl DeviceCaller {
    /// Refuses a device token issued for another session.
    pub fn require_session(&self, suid: Suid) -> Result<(), ApiError> {
        if self.suid == suid {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "this device token belongs to another session",
            ))
        }
    }
}

impl FromRequestParts<Arc<App>> for DeviceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let claims = claims_of(parts, app, TokenKind::Device)?;
        let bad = || ApiError::unauthorized("malformed device token");
        let device_id = claims.sub.parse().map_err(|_| bad())?;
        let suid = claims
            .suid
            .as_deref()
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        Ok(DeviceCaller {
            device_id,
            suid,
            claims,
        })
    }
}
