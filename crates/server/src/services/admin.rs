//! The admin views: account admins see their account, operators (`Role::Operator`) every
//! account and every node.

use super::admin_error::AdminError;
use super::sessions::LiveSessions;
use crate::auth::TokenService;
use crate::protocol::SessionView;
use crate::protocol::admin::{
    AdminSession, Ends, NodeHistory, NodeList, NodeView, Overview, ReasonCount, Scope, Totals,
};
use crate::protocol::cameras::DetectorView;
use chrono::{Duration, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_core::{
    AccountId, Cdr, EndReason, Role, Service, ServiceStatus, SessionState, User,
};
use switchboard_store::{EndCount, SessionFilter, Store};

/// Open sessions an account admin's overview lists at most.
const MAX_ACCOUNT_SESSIONS: u32 = 1000;
/// CDRs the overview shows.
const RECENT_CDRS: usize = 20;
/// Nodes listed at most.
const MAX_NODES: usize = 100;
/// A live session's device counts as sending while its newest frame is younger than this.
const DEVICE_FRESH_MS: i64 = 10_000;
/// The longest history asked for, in minutes (a day).
const MAX_HISTORY_MINUTES: i64 = 24 * 60;

/// What the admin views read of the node monitor (`crate::monitor::Monitor` implements it):
/// every service's newest status, and the node new work should go to. The views name only
/// this, so they do not depend on what the monitor samples (sessions, kernels).
pub trait NodeBoard: Send + Sync {
    /// The newest status of every known service.
    fn latest(&self) -> Vec<(Service, ServiceStatus)>;
    /// The least-loaded running node with a recent status.
    fn least_loaded_node(&self) -> Option<String>;
}

/// What a caller of the admin views may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// One account: its admins.
    Account(AccountId),
    /// Everything: operators.
    All,
}

impl Reach {
    fn of(user: &User) -> Result<Reach, AdminError> {
        match user.role {
            Role::Operator => Ok(Reach::All),
            Role::Admin => Ok(Reach::Account(user.account_id)),
            Role::Member => Err(AdminError::NotAdmin),
        }
    }

    /// The account seen, or none for everything.
    fn account(self) -> Option<AccountId> {
        match self {
            Reach::Account(a) => Some(a),
            Reach::All => None,
        }
    }

    fn scope(self) -> Scope {
        match self {
            Reach::Account(_) => Scope::Account,
            Reach::All => Scope::All,
        }
    }

    /// Only operators go further.
    fn operators_only(user: &User) -> Result<(), AdminError> {
        match Reach::of(user)? {
            Reach::All => Ok(()),
            Reach::Account(_) => Err(AdminError::NotOperator),
        }
    }
}

/// The admin views: what routes under `/api/v1/admin` call.
#[derive(Clone)]
pub struct AdminViews {
    store: Arc<dyn Store>,
    monitor: Arc<dyn NodeBoard>,
    tokens: Arc<TokenService>,
    live: LiveSessions,
    /// This node's object detector (fixed once the node has started).
    detector: DetectorView,
}

impl std::fmt::Debug for AdminViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminViews").finish_non_exhaustive()
    }
}

impl AdminViews {
    pub fn new(
        store: Arc<dyn Store>,
        monitor: Arc<dyn NodeBoard>,
        tokens: Arc<TokenService>,
        live: LiveSessions,
        detector: DetectorView,
    ) -> Self {
        AdminViews {
            store,
            monitor,
            tokens,
            live,
            detector,
        }
    }

    /// Totals, open sessions, ends by reason over the last hour and day, the nodes
    /// (operators) and the newest CDRs, of what `user` may see.
    pub async fn overview(&self, user: &User) -> Result<Overview, AdminError> {
        let reach = Reach::of(user)?;
        let account = reach.account();
        let open = match account {
            Some(a) => {
                let filter = SessionFilter {
                    states: vec![SessionState::Waiting, SessionState::Live],
                    limit: MAX_ACCOUNT_SESSIONS,
                };
                self.store.list_sessions(a, &filter).await?
            }
            None => self.store.open_sessions().await?,
        };
        let names: HashMap<AccountId, String> = match account {
            Some(a) => {
                let acc = self.store.account(a).await?;
                [(acc.id, acc.name)].into()
            }
            None => self
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
                session: self.live.view(s),
            })
            .collect();
        let totals = self.totals(&sessions);
        let now = Utc::now();
        let last_hour = ends_of(
            self.store
                .end_counts(account, now - Duration::hours(1))
                .await?,
        );
        let last_day = ends_of(
            self.store
                .end_counts(account, now - Duration::days(1))
                .await?,
        );
        let mut recent_cdrs: Vec<Cdr> = self
            .store
            .cdrs(now - Duration::days(1), now + Duration::seconds(1))
            .await?
            .into_iter()
            .filter(|c| account.is_none_or(|a| c.account_id == a))
            .collect();
        recent_cdrs.reverse();
        recent_cdrs.truncate(RECENT_CDRS);
        let nodes = match reach {
            Reach::All => self.node_views().await?,
            Reach::Account(_) => Vec::new(),
        };
        Ok(Overview {
            scope: reach.scope(),
            totals,
            sessions,
            last_hour,
            last_day,
            nodes,
            recent_cdrs,
            detector: self.detector.clone(),
        })
    }

    fn totals(&self, sessions: &[AdminSession]) -> Totals {
        let live: Vec<&SessionView> = sessions
            .iter()
            .map(|s| &s.session)
            .filter(|s| s.state == SessionState::Live)
            .collect();
        let now_ms = Utc::now().timestamp_millis();
        Totals {
            open_sessions: sessions.len() as u32,
            live: live.len() as u32,
            waiting: sessions.len().saturating_sub(live.len()) as u32,
            viewers: sessions.iter().map(|s| s.session.viewers).sum(),
            devices: live
                .iter()
                .filter(|s| {
                    s.last_frame_at
                        .is_some_and(|t| now_ms - t.timestamp_millis() < DEVICE_FRESH_MS)
                })
                .count() as u32,
            signed_in_users: self.tokens.signed_in_users() as u32,
            average_fps: if live.is_empty() {
                0.0
            } else {
                let mean = live.iter().map(|s| s.fps).sum::<f64>() / live.len() as f64;
                (mean * 10.0).round() / 10.0
            },
        }
    }

    /// Every known service with its newest status (operators), and the node new work
    /// should go to.
    pub async fn nodes(&self, user: &User) -> Result<NodeList, AdminError> {
        Reach::operators_only(user)?;
        Ok(NodeList {
            nodes: self.node_views().await?,
            least_loaded: self.monitor.least_loaded_node(),
        })
    }

    /// Every known service with its newest status, from the monitor's memory, plus stopped
    /// services from the store (they have no fresh status).
    async fn node_views(&self) -> Result<Vec<NodeView>, AdminError> {
        let latest = self.monitor.latest();
        let mut nodes: Vec<NodeView> = self
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
        nodes.truncate(MAX_NODES);
        Ok(nodes)
    }

    /// A service's status samples over the last `minutes` (default an hour, at most a day),
    /// oldest first (operators).
    pub async fn history(
        &self,
        user: &User,
        service_id: String,
        minutes: Option<i64>,
    ) -> Result<NodeHistory, AdminError> {
        Reach::operators_only(user)?;
        let minutes = minutes.unwrap_or(60).clamp(1, MAX_HISTORY_MINUTES);
        let since = Utc::now() - Duration::minutes(minutes);
        let samples = self.store.status_history(&service_id, since).await?;
        Ok(NodeHistory {
            service_id,
            samples,
        })
    }

    /// Ends any session `user` may see (`ended_by_user`), through the live-session service.
    pub async fn end_session(&self, user: &User, suid: &str) -> Result<SessionView, AdminError> {
        let reach = Reach::of(user)?;
        tracing::info!(%suid, user = %user.id, "session end asked from the admin view");
        Ok(self
            .live
            .end(user, reach.account(), suid, EndReason::EndedByUser)
            .await?)
    }
}

/// Ends by reason, with the timeouts (every reason but `ended_by_user`) and incomplete
/// attempts summed.
fn ends_of(counts: Vec<EndCount>) -> Ends {
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
