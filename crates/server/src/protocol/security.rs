//! Account security on the wire (PROTOCOL.md §3): changing one's password and username, an
//! admin's password reset, the account's second-factor rule, second factors (TOTP) with their
//! recovery codes, the second step of a sign-in, and the sign-ins a user controls.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /api/v1/me/password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// At least 12 characters, and hard enough to guess (see PROTOCOL.md).
    #[schema(min_length = 12, max_length = 1024)]
    pub new_password: String,
}

/// `POST /api/v1/me/username`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUsernameRequest {
    /// 3 to 64 letters, digits, `.`, `_`, `-`, `@`.
    #[schema(min_length = 3, max_length = 64)]
    pub username: String,
}

/// `POST /api/v1/account/users/{id}/password` (admins): a one-time password the user must
/// change at their next sign-in.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
}

/// `GET`/`PUT /api/v1/account/security`: the account's security settings.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountSecuritySettings {
    /// Every user of the account must have a second factor; one without may only enrol.
    pub require_second_factor: bool,
}

/// What remains between a signed-in user and the whole API, and their second factor.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecurityStanding {
    /// An admin reset the password: only changing it (and `GET /me`) is allowed.
    pub password_change_required: bool,
    /// The user has a second factor.
    pub second_factor_enabled: bool,
    /// The account requires a second factor of every user.
    pub second_factor_required: bool,
    /// The account requires one and the user has none: only enrolling (and `GET /me`) is
    /// allowed.
    pub second_factor_enrolment_required: bool,
}

/// `POST /api/v1/me/second-factor` answer: a new secret to add to an authenticator app.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecondFactorEnrolment {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://totp/…` URL the QR code holds.
    pub otpauth_url: String,
    /// Where the QR code of `otpauth_url` is drawn (`GET`, an SVG).
    pub qr_svg: String,
    /// Confirm with a code before this, or start again.
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/me/second-factor/confirm`: a code from the app, proving it holds the secret.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmSecondFactorRequest {
    #[schema(max_length = 64)]
    pub code: String,
}

/// `POST /api/v1/me/second-factor/confirm` answer: single-use recovery codes, shown this
/// once (the server keeps only their hashes).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// `POST /api/v1/me/second-factor/disable`: the password and a current code (or an unused
/// recovery code).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableSecondFactorRequest {
    pub password: String,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// The answer of `POST /api/v1/auth/login` for a user with a second factor: no token yet.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecondFactorChallenge {
    /// Always true here; absent from a token's answer.
    pub second_factor_required: bool,
    /// Opaque; send it back to `POST /api/v1/auth/second-factor` with a code.
    pub challenge: String,
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/auth/second-factor`: the challenge with a code, or with a recovery code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorRequest {
    pub challenge: String,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
}

/// A sign-in of the caller: a user token from sign-up or sign-in, not expired or revoked.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignInView {
    /// Names it for `DELETE /api/v1/me/sign-ins/{id}`.
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// When a request last used it (kept to about a minute).
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The address it signed in from.
    pub client_addr: Option<String>,
    /// The browser or program it signed in with.
    pub user_agent: Option<String>,
    /// The sign-in making this request.
    pub current: bool,
}

/// `GET /api/v1/me/sign-ins` answer, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignInList {
    pub sign_ins: Vec<SignInView>,
}

/// `DELETE /api/v1/me/sign-ins` answer: how many other sign-ins ended.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignInsRevoked {
    pub revoked: usize,
}
