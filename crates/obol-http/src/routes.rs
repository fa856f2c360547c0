//! A door's routes, with the table of what they answer beside them. Axum's `Router` cannot
//! list its routes, so each door builds its router through [`Routes`], which records every
//! (method, path) it adds; a test then proves that every route is in the OpenAPI document.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodRouter, get, patch, post};

use crate::state::AppState;

/// A router under construction and the (method, path) pairs it answers.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, String)>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    /// `GET path` (axum answers `HEAD` with it).
    pub fn get<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::GET, path, get(handler))
    }

    /// `POST path`.
    pub fn post<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::POST, path, post(handler))
    }

    /// `PATCH path`.
    pub fn patch<H, T>(self, path: &str, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add(Method::PATCH, path, patch(handler))
    }

    fn add(mut self, method: Method, path: &str, route: MethodRouter<AppState>) -> Routes {
        // The same path with another method merges into one method router.
        self.router = self.router.route(path, route);
        self.table.push((method, path.to_owned()));
        self
    }

    /// Adds another set of routes (a door's pages beside its API).
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// Wraps the routes added so far (a layer: headers, an extension).
    pub fn wrap(mut self, wrap: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Routes {
        self.router = wrap(self.router);
        self
    }

    /// What the routes answer, in the order they were added.
    pub fn table(&self) -> &[(Method, String)] {
        &self.table
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
