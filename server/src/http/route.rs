//! The one list of the API's routes. The filter tree matches each route's
//! path and method from here, `/metrics` labels a request by it, and the
//! accept loop admits health checks over the connection cap by it: a path
//! is compared in one place only ([`Route::of_path`]).

use strop_common::paths;
use warp::http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Root,
    Register,
    Authenticate,
    Reverse,
    Piglatin,
    History,
    Events,
    Logout,
    Whoami,
    Healthz,
    Readyz,
    OpenApi,
    Metrics,
    Sessions,
    Session,
    Password,
    Account,
    HistoryExport,
    /// `DELETE /history/{id}`; after [`Route::HistoryExport`], which
    /// [`Route::of_path`] finds first for `/history/export`.
    HistoryEntry,
    /// `DELETE /history?all=true`.
    HistoryAll,
}

impl Route {
    pub const ALL: [Route; 20] = [
        Route::Root,
        Route::Register,
        Route::Authenticate,
        Route::Reverse,
        Route::Piglatin,
        Route::History,
        Route::Events,
        Route::Logout,
        Route::Whoami,
        Route::Healthz,
        Route::Readyz,
        Route::OpenApi,
        Route::Metrics,
        Route::Sessions,
        Route::Session,
        Route::Password,
        Route::Account,
        Route::HistoryExport,
        Route::HistoryEntry,
        Route::HistoryAll,
    ];

    pub const fn path(self) -> &'static str {
        match self {
            Route::Root => paths::ROOT,
            Route::Register => paths::REGISTER,
            Route::Authenticate => paths::AUTHENTICATE,
            Route::Reverse => paths::REVERSE,
            Route::Piglatin => paths::PIGLATIN,
            Route::History => paths::HISTORY,
            Route::Events => paths::EVENTS,
            Route::Logout => paths::LOGOUT,
            Route::Whoami => paths::WHOAMI,
            Route::Healthz => paths::HEALTHZ,
            Route::Readyz => paths::READYZ,
            Route::OpenApi => paths::OPENAPI,
            Route::Metrics => paths::METRICS,
            Route::Sessions => paths::SESSIONS,
            Route::Session => SESSION,
            Route::Password => paths::PASSWORD,
            Route::Account => paths::ACCOUNT,
            Route::HistoryExport => paths::HISTORY_EXPORT,
            Route::HistoryEntry => HISTORY_ENTRY,
            Route::HistoryAll => paths::HISTORY_ENTRIES,
        }
    }

    /// The methods the route answers (GET routes answer HEAD too).
    pub fn methods(self) -> &'static [Method] {
        match self {
            Route::Register
            | Route::Authenticate
            | Route::Reverse
            | Route::Piglatin
            | Route::Logout => &[Method::POST],
            Route::Sessions => &[Method::GET, Method::DELETE],
            Route::Session | Route::Account | Route::HistoryEntry | Route::HistoryAll => {
                &[Method::DELETE]
            }
            Route::Password => &[Method::PUT],
            _ => &[Method::GET],
        }
    }

    /// The `Allow` header of a 405 on this route.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Sessions => "GET, HEAD, DELETE",
            Route::Session | Route::Account | Route::HistoryEntry | Route::HistoryAll => "DELETE",
            Route::Password => "PUT",
            r if r.methods() == [Method::POST] => "POST",
            _ => "GET, HEAD",
        }
    }

    /// Liveness and readiness probes: answered even over the connection cap.
    pub const fn is_health_check(self) -> bool {
        matches!(self, Route::Healthz | Route::Readyz)
    }

    /// Its `route` label in `/metrics`: the path, a bounded set.
    pub const fn label(self) -> &'static str {
        self.path()
    }

    /// The route a request path names, if any. A template segment (`{id}`)
    /// stands for one non-empty segment.
    pub fn of_path(path: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| matches(r.path(), path))
    }

    /// The route a request is dispatched to, `of` being [`Route::of_path`]'s
    /// answer for its path (computed once per request, in the accept loop).
    /// It differs from `of` only where warp's path matching, which the
    /// routes' filters kept, does: one trailing slash is tolerated
    /// (`/whoami/`, not `/whoami//`).
    pub fn dispatch(of: Option<Route>, path: &str) -> Option<Route> {
        if of.is_some() {
            return of;
        }
        let trimmed = path.strip_suffix('/')?;
        // "//" is not the root: warp's root wants nothing after its "/".
        if trimmed.is_empty() || trimmed == "/" {
            return None;
        }
        Route::of_path(trimmed)
    }

    /// Index in [`Route::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One session by its id.
const SESSION: &str = "/sessions/{id}";
/// One history entry by its id.
const HISTORY_ENTRY: &str = "/history/{id}";

fn matches(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// The `/metrics` label of a request path: its route, or `other`.
pub fn label_of(route: Option<Route>) -> &'static str {
    route.map_or("other", Route::label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_found_by_its_own_path_and_only_by_it() {
        for route in Route::ALL {
            assert_eq!(Route::of_path(route.path()), Some(route));
        }
        assert_eq!(Route::of_path("/events/"), None);
        assert_eq!(Route::of_path("/sessions/12"), Some(Route::Session));
        assert_eq!(Route::of_path("/sessions/"), None);
        assert_eq!(Route::of_path("/sessions/1/2"), None);
        assert_eq!(Route::of_path("/history/12"), Some(Route::HistoryEntry));
        assert_eq!(
            Route::of_path("/history/export"),
            Some(Route::HistoryExport)
        );
        assert_eq!(Route::of_path("/history"), Some(Route::HistoryAll));
        assert_eq!(Route::of_path("/history/"), None);
        assert_eq!(Route::of_path("/nope"), None);
        assert_eq!(label_of(Route::of_path("/nope")), "other");
        assert_eq!(label_of(Some(Route::Events)), "/events");
    }

    #[test]
    fn dispatch_follows_warps_path_matching() {
        let d = |p: &str| Route::dispatch(Route::of_path(p), p);
        assert_eq!(d("/"), Some(Route::Root));
        assert_eq!(d("//"), None);
        assert_eq!(d("/whoami/"), Some(Route::Whoami));
        assert_eq!(d("/whoami//"), None);
        assert_eq!(d("//whoami"), None);
        assert_eq!(d("/history/export/"), Some(Route::HistoryExport));
        assert_eq!(d("/sessions/7/"), Some(Route::Session));
        assert_eq!(d("/%72everse"), None, "segments are not decoded");
        assert_eq!(d("/sessions//"), None);
        assert_eq!(d("/piglatin/"), Some(Route::Piglatin));
        for nope in [
            "/nope",
            "/reverse/extra",
            "/get-history/x",
            "/REVERSE",
            "/%FF",
        ] {
            assert_eq!(d(nope), None, "{nope}");
        }
        for (i, route) in Route::ALL.into_iter().enumerate() {
            assert_eq!(route.index(), i);
        }
    }

    #[test]
    fn only_the_probes_are_health_checks() {
        let health: Vec<_> = Route::ALL
            .into_iter()
            .filter(|r| r.is_health_check())
            .collect();
        assert_eq!(health, [Route::Healthz, Route::Readyz]);
    }
}
