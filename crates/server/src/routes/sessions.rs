//! Creating, listing, watching the state of, and ending sessions.

use super::sockets;
use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::live::{SessionHandle, now};
use crate::protocol::{CreateSessionRequest, DeadlineView, SessionList, SessionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{Session, SessionClock, SessionState, Suid, TicketCode};
use switchboard_store::{SessionFilter, StoreError};

/// Parses a SUID from a path; a malformed one is simply a session that does not exist.
pub(super) fn parse_suid(s: &str) -> ApiResult<Suid> {
    s.parse().map_err(|_| ApiError::session_not_found())
}

/// The caller's session, or 404 (also for other accounts' sessions).
pub(super) async fn session_of(app: &App, caller: &CurrentUser, suid: &str) -> ApiResult<Session> {
    let suid = parse_suid(suid)?;
    match app.store.session(suid).await {
        Ok(s) if s.account_id == caller.account_id() => Ok(s),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::session_not_found()),
        Err(e) => Err(e.into()),
    }
}

/// The handle of an open session (this node's, or a follower of the node that owns it), or
/// 410 if it has ended.
pub(super) fn running(app: &App, session: &Session) -> ApiResult<SessionHandle> {
    if session.state == SessionState::Ended {
        return Err(ApiError::session_ended());
    }
    let h = app.sessions.follow(session);
    if h.is_open() {
        Ok(h)
    } else {
        Err(ApiError::session_ended())
    }
}

/// The API's view of a session: stored facts overlaid with live figures.
pub(super) fn view(app: &App, s: &Session) -> SessionView {
    let live = app
        .sessions
        .get(s.suid)
        .filter(|_| s.state != SessionState::Ended);
    let status = live.as_ref().map(|h| h.status());
    let (state, viewers, viewer_names, fps, frames, bytes, last_frame_at) = match (&live, &status) {
        (Some(h), Some(st)) => {
            let stats = h.stats();
            (
                st.state,
                st.viewers,
                st.viewer_names.clone(),
                stats.fps(),
                stats.frames(),
                stats.bytes(),
                stats
                    .last_frame_ms()
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .or(s.stats.last_frame_at),
            )
        }
        _ => match app
            .sessions
            .remote_status(s.suid)
            .filter(|_| s.state != SessionState::Ended)
        {
            // Owned by another node and not followed here: its owner's published figures.
            Some(st) => (
                st.state,
                st.viewers,
                st.viewer_names,
                st.fps,
                st.frames,
                st.bytes,
                st.last_frame_ms
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .or(s.stats.last_frame_at),
            ),
            None => (
                s.state,
                0,
                Vec::new(),
                0.0,
                s.stats.frames,
                s.stats.bytes,
                s.stats.last_frame_at,
            ),
        },
    };
    let waiting = state == SessionState::Waiting;
    let deadline = status.as_ref().and_then(|st| {
        app.config.timeout_policy().next_deadline(&SessionClock {
            state,
            created_at: s.created_at,
            ticket_expires_at: s.ticket_expires_at,
            live_at: s.live_at,
            last_frame_at,
            viewers_zero_since: st.viewers_zero_since,
        })
    });
    SessionView {
        suid: s.suid,
        kind: s.kind,
        label: s.label.clone(),
        state,
        end_reason: s.end_reason,
        ticket: waiting.then(|| s.ticket.display()),
        ticket_expires_at: s.ticket_expires_at,
        device_url: waiting.then(|| format!("{}/d/{}", app.public_url(), s.ticket.as_str())),
        created_by: s.created_by,
        created_at: s.created_at,
        live_at: s.live_at,
        ended_at: s.ended_at,
        device_id: s.device_id,
        device: s.device.clone(),
        viewers,
        viewer_names,
        peak_viewers: s.stats.peak_viewers.max(viewers),
        fps: (fps * 10.0).round() / 10.0,
        frames,
        bytes,
        last_frame_at,
        deadline: deadline.map(|d| DeadlineView {
            at: d.at,
            reason: d.reason,
        }),
    }
}

/// `POST /api/v1/sessions`: a new session and its ticket.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<CreateSessionRequest>,
) -> ApiResult<(StatusCode, Json<SessionView>)> {
    let label = req
        .label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "label: at most 200 characters",
        ));
    }
    let session = open(&app, &caller, req.kind, label).await?;
    Ok((StatusCode::CREATED, Json(view(&app, &session))))
}

/// Stores a new session with a fresh ticket and starts its actor.
pub(super) async fn open(
    app: &App,
    caller: &CurrentUser,
    kind: switchboard_core::SessionKind,
    label: Option<String>,
) -> ApiResult<Session> {
    // A ticket collides with an open one with negligible odds; draw again if it does.
    for _ in 0..5 {
        let ticket = TicketCode::generate(&mut rand::rng());
        let session = Session::new(
            caller.account_id(),
            caller.user.id,
            kind,
            label.clone(),
            ticket,
            now(),
            app.config.sessions.ticket_ttl,
        );
        match app.store.insert_session(&session).await {
            Ok(()) => {
                tracing::info!(suid = %session.suid, user = %caller.user.id, "session created");
                app.sessions.own(session.clone()).await?;
                return Ok(session);
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        "could not draw a free ticket in five tries",
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    state: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/sessions`: the account's sessions, newest first.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<SessionList>> {
    let mut filter = SessionFilter {
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
        ..SessionFilter::default()
    };
    if let Some(states) = q.state {
        for s in states.split(',') {
            let st = SessionState::parse(s.trim()).ok_or_else(|| {
                ApiError::bad_request("invalid_query", "state must be waiting, live or ended")
            })?;
            filter.states.push(st);
        }
    }
    let sessions = app
        .store
        .list_sessions(caller.account_id(), &filter)
        .await?;
    Ok(Json(SessionList {
        sessions: sessions.iter().map(|s| view(&app, s)).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct GetQuery {
    /// Seconds to wait for the state to change.
    wait: Option<u64>,
    /// The state the caller last saw; the answer comes once the state differs from it.
    state: Option<String>,
}

/// `GET /api/v1/sessions/{suid}`, optionally a long poll (`?wait=30`) that answers as soon as
/// the state differs from `state` (default: the state when the request arrived), or 401 as
/// soon as the caller's token is revoked or expires or their user is deleted.
pub(super) async fn get(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<GetQuery>,
) -> ApiResult<Json<SessionView>> {
    let session = session_of(&app, &caller, &suid).await?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0)).min(app.config.sessions.max_long_poll);
    let known = match q.state.as_deref() {
        Some(s) => Some(SessionState::parse(s).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "state must be waiting, live or ended")
        })?),
        None => None,
    };
    if !wait.is_zero()
        && let Some(handle) = app.sessions.get(session.suid)
    {
        let mut status = handle.subscribe_status();
        let from = known.unwrap_or(session.state);
        let changed = async {
            loop {
                if status.borrow_and_update().state != from {
                    return;
                }
                if status.changed().await.is_err() {
                    return;
                }
            }
        };
        let right = app.tokens.hold(&caller.claims);
        tokio::select! {
            () = right.ended() => return Err(sockets::right_ended()),
            () = changed => {}
            () = tokio::time::sleep(wait) => {}
            () = app.shutdown.cancelled() => {}
        }
        let fresh = app.store.session(session.suid).await?;
        return Ok(Json(view(&app, &fresh)));
    }
    Ok(Json(view(&app, &session)))
}

/// `DELETE /api/v1/sessions/{suid}`: ends the session (`ended_by_user`). Ending an ended
/// session answers its final state again.
pub(super) async fn end(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
) -> ApiResult<Json<SessionView>> {
    let session = session_of(&app, &caller, &suid).await?;
    if session.state != SessionState::Ended
        && let Ok(ended) = app
            .sessions
            .follow(&session)
            .end(switchboard_core::EndReason::EndedByUser)
            .await
    {
        tracing::info!(suid = %ended.suid, user = %caller.user.id, "session ended by user");
        return Ok(Json(view(&app, &ended)));
    }
    let fresh = app.store.session(session.suid).await?;
    Ok(Json(view(&app, &fresh)))
}
