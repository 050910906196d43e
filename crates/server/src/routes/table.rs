//! The router together with the list of what it serves: every API route is added with the
//! methods it answers, so the list is the router's own. The OpenAPI test compares the list
//! with the document, and probes the router to check each route answers exactly those
//! methods.

use crate::App;
use axum::Router;
use axum::http::Method;
use axum::routing::MethodRouter;
use std::sync::Arc;

/// One route: a method and a path in the router's syntax (`/api/v1/sessions/{suid}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: Method,
    pub path: String,
}

/// Routes under one prefix, and the router that serves them.
pub(super) struct Table {
    prefix: &'static str,
    router: Router<Arc<App>>,
    routes: Vec<Route>,
}

impl Table {
    pub(super) fn new(prefix: &'static str) -> Self {
        Table {
            prefix,
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    /// Adds `path` answering `methods` with `handler` (whose methods must be those).
    pub(super) fn route<const N: usize>(
        mut self,
        path: &str,
        methods: [Method; N],
        handler: MethodRouter<Arc<App>>,
    ) -> Self {
        for method in methods {
            self.routes.push(Route {
                method,
                path: format!("{}{path}", self.prefix),
            });
        }
        self.router = self.router.route(path, handler);
        self
    }

    /// Applies `f` to the router (layers over every route so far).
    pub(super) fn map(mut self, f: impl FnOnce(Router<Arc<App>>) -> Router<Arc<App>>) -> Self {
        self.router = f(self.router);
        self
    }

    /// The router (to be nested under the prefix) and its routes.
    pub(super) fn finish(self) -> (Router<Arc<App>>, Vec<Route>) {
        (self.router, self.routes)
    }
}
