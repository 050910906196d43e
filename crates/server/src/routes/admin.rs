//! The admin API behind `/admin`: account admins see their account, operators see every
//! account and every node.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::protocol::SessionView;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchboard_core::{AccountId, Cdr, EndReason, Role, Service, ServiceStatus, SessionState};
use switchboard_store::{EndCount, SessionFilter, StoreError};

/// Who the caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One account (its admins).
    Account,
    /// Everything (operators).
    All,
}

fn scope_of(caller: &CurrentUser) -> ApiResult<(Scope, Option<AccountId>)> {
    match caller.user.role {
        Role::Operator => Ok((Scope::All, None)),
        Role::Admin => Ok((Scope::Account, Some(caller.account_id()))),
        Role::Member => Err(ApiError::forbidden(
            "the admin views are for account admins and operators",
        )),
    }
}

/// Totals at a glance.
#[derive(Debug, Serialize, Deserialize)]
pub struct Totals {
    pub open_sessions: u32,
    pub live: u32,
    pub waiting: u32,
    pub viewers: u32,
    /// Live sessions whose device sent a frame in the last 10 s.
    pub devices: u32,
    /// Users signed in on this node.
    pub signed_in_users: u32,
    /// Mean fps over live sessions.
    pub average_fps: f64,
}

/// Ends by reason over a period, and how many were incomplete attempts.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ends {
    pub by_reason: Vec<ReasonCount>,
    pub timeouts: u64,
    pub incomplete_attempts: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ReasonCount {
    pub reason: EndReason,
    pub count: u64,
}

impl Ends {
    fn of(counts: Vec<EndCount>) -> Self {
        Ends {
            timeouts: counts
                .iter()
                .filter(|c| c.reason.is_timeout())
                .map(|c| c.count)
                .sum(),
            incomplete_attempts: counts.iter().map(|c| c.incomplete).sum(),
            by_reason: counts
                .into_iter()
                .map(|c| ReasonCount {
                    reason: c.reason,
                    count: c.count,
                })
                .collect(),
        }
    }
}

/// A node and its newest status.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeView {
    pub service: Service,
    pub status: Option<ServiceStatus>,
}

/// `GET /api/v1/admin/overview`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Overview {
    pub scope: Scope,
    pub totals: Totals,
    pub sessions: Vec<AdminSession>,
    pub last_hour: Ends,
    pub last_day: Ends,
    pub nodes: Vec<NodeView>,
    pub recent_cdrs: Vec<Cdr>,
}

/// A session with the account it belongs to.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminSession {
    pub account_id: AccountId,
    pub account_name: Option<String>,
    #[serde(flatten)]
    pub session: SessionView,
}

pub(super) async fn overview(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<Overview>> {
    let (scope, account) = scope_of(&caller)?;
    let open = match account {
        Some(a) => {
            let filter = SessionFilter {
                states: vec![SessionState::Waiting, SessionState::Live],
                limit: 1000,
            };
            app.store.list_sessions(a, &filter).await?
        }
        None => app.store.open_sessions().await?,
    };
    let names: std::collections::HashMap<AccountId, String> = match account {
        Some(_) => {
            let acc = app.store.account(caller.account_id()).await?;
            [(acc.id, acc.name)].into()
        }
        None => app
            .store
            .accounts()
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect(),
    };
    let sessions: Vec<AdminSession> = open
        .iter()
        .map(|s| AdminSession {
            account_id: s.account_id,
            account_name: names.get(&s.account_id).cloned(),
            session: app.live.view(s),
        })
        .collect();
    let live: Vec<&SessionView> = sessions
        .iter()
        .map(|s| &s.session)
        .filter(|s| s.state == SessionState::Live)
        .collect();
    let now_ms = Utc::now().timestamp_millis();
    let totals = Totals {
        open_sessions: sessions.len() as u32,
        live: live.len() as u32,
        waiting: sessions.len().saturating_sub(live.len()) as u32,
        viewers: sessions.iter().map(|s| s.session.viewers).sum(),
        devices: live
            .iter()
            .filter(|s| {
                s.last_frame_at
                    .is_some_and(|t| now_ms - t.timestamp_millis() < 10_000)
            })
            .count() as u32,
        signed_in_users: app.tokens.signed_in_users() as u32,
        average_fps: if live.is_empty() {
            0.0
        } else {
            let mean = live.iter().map(|s| s.fps).sum::<f64>() / live.len() as f64;
            (mean * 10.0).round() / 10.0
        },
    };
    let now = Utc::now();
    let last_hour = Ends::of(
        app.store
            .end_counts(account, now - Duration::hours(1))
            .await?,
    );
    let last_day = Ends::of(
        app.store
            .end_counts(account, now - Duration::days(1))
            .await?,
    );
    let mut recent_cdrs: Vec<Cdr> = app
        .store
        .cdrs(now - Duration::days(1), now + Duration::seconds(1))
        .await?
        .into_iter()
        .filter(|c| account.is_none_or(|a| c.account_id == a))
        .collect();
    recent_cdrs.reverse();
    recent_cdrs.truncate(20);
    let nodes = if scope == Scope::All {
        nodes_of(&app).await?
    } else {
        Vec::new()
    };
    Ok(Json(Overview {
        scope,
        totals,
        sessions,
        last_hour,
        last_day,
        nodes,
        recent_cdrs,
    }))
}

/// Every known service with its newest status, from the monitor's memory, plus stopped
/// services from the store (they have no fresh status).
async fn nodes_of(app: &App) -> Result<Vec<NodeView>, StoreError> {
    let latest = app.monitor.latest();
    let mut nodes: Vec<NodeView> = app
        .store
        .services()
        .await?
        .into_iter()
        .map(|service| {
            let status = latest
                .iter()
                .find(|(s, _)| s.id == service.id)
                .map(|(_, st)| st.clone());
            NodeView { service, status }
        })
        .collect();
    nodes.truncate(100);
    Ok(nodes)
}

/// `GET /api/v1/admin/nodes` (operators).
pub(super) async fn nodes(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<serde_json::Value>> {
    if scope_of(&caller)?.0 != Scope::All {
        return Err(ApiError::forbidden("only operators see the nodes"));
    }
    let nodes = nodes_of(&app).await?;
    Ok(Json(serde_json::json!({
        "nodes": nodes,
        "least_loaded": app.monitor.least_loaded_node(),
    })))
}

#[derive(Debug, Deserialize)]
pub(super) struct HistoryQuery {
    /// The service's id (ids contain slashes, so they travel as a parameter).
    service: String,
    /// Minutes of history, at most a day.
    minutes: Option<i64>,
}

/// `GET /api/v1/admin/history?service=ID&minutes=60` (operators): status samples for charts.
pub(super) async fn node_history(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let service_id = q.service;
    if scope_of(&caller)?.0 != Scope::All {
        return Err(ApiError::forbidden("only operators see the nodes"));
    }
    let minutes = q.minutes.unwrap_or(60).clamp(1, 24 * 60);
    let since = Utc::now() - Duration::minutes(minutes);
    let samples = app.store.status_history(&service_id, since).await?;
    Ok(Json(
        serde_json::json!({ "service_id": service_id, "samples": samples }),
    ))
}

/// `POST /api/v1/admin/sessions/{suid}/end`: ends any session the caller may see.
pub(super) async fn end_session(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
) -> ApiResult<Json<SessionView>> {
    let (_, account) = scope_of(&caller)?;
    tracing::info!(%suid, user = %caller.user.id, "session end asked from the admin view");
    Ok(Json(
        app.live.end(account, &suid, EndReason::EndedByUser).await?,
    ))
}
