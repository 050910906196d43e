//! Accounts, users, sign-in and invites on the wire (PROTOCOL.md §3).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::User;

/// `POST /api/v1/auth/register`: a new account (`account_name`) or joining one (`invite`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3 to 64 letters, digits, `.`, `_`, `-`, `@`.
    #[schema(min_length = 3, max_length = 64)]
    pub username: String,
    /// At least 12 characters, and hard enough to guess (see PROTOCOL.md).
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    pub account_name: Option<String>,
    pub invite: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/auth/login` answer: a token, or a second factor to give first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    SecondFactor(super::security::SecondFactorChallenge),
    Token(TokenResponse),
}

/// `DELETE /api/v1/account`: the caller's password, confirming that the whole account and
/// everything it stored is to be deleted for good.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccountRequest {
    pub password: String,
}

/// A signed-in user's token.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserView,
}

/// A user as others may see them.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: switchboard_core::UserId,
    pub username: String,
    pub role: switchboard_core::Role,
    pub account_id: switchboard_core::AccountId,
    pub account_name: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The caller's own standing: in `/me` and a sign-in's answer only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<super::security::SecurityStanding>,
}

impl UserView {
    pub fn of(user: &User, account_name: Option<String>) -> Self {
        UserView {
            id: user.id,
            username: user.username.clone(),
            role: user.role,
            account_id: user.account_id,
            account_name,
            created_at: user.created_at,
            security: None,
        }
    }
}

/// `POST /api/v1/account/invites` answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InviteResponse {
    pub invite: String,
    pub expires_at: DateTime<Utc>,
}

/// `GET /api/v1/account/users` answer: every user of the caller's account (`account_name`
/// is null here).
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}
