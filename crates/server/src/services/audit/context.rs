//! The request an audited action belongs to: its id and the client's address. The HTTP edge
//! sets it around each request (a task-local), so services record it without taking HTTP
//! types; work carried into another task takes it along with [`RequestContext::current`].

use std::net::IpAddr;

/// Which request, from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub client: Option<IpAddr>,
}

tokio::task_local! {
    static CURRENT: RequestContext;
}

impl RequestContext {
    /// The context of the request this task serves (empty outside one).
    pub fn current() -> RequestContext {
        CURRENT.try_with(Clone::clone).unwrap_or_default()
    }

    /// Runs `work` as part of this request.
    pub async fn scope<F: std::future::Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }
}
