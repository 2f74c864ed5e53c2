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
}

impl Route {
    pub const ALL: [Route; 13] = [
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
        }
    }

    /// The one method the route answers (GET routes answer HEAD too).
    pub fn method(self) -> Method {
        match self {
            Route::Register
            | Route::Authenticate
            | Route::Reverse
            | Route::Piglatin
            | Route::Logout => Method::POST,
            _ => Method::GET,
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

    /// The route a request path names, if any.
    pub fn of_path(path: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.path() == path)
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
        assert_eq!(Route::of_path("/nope"), None);
        assert_eq!(label_of(Route::of_path("/nope")), "other");
        assert_eq!(label_of(Some(Route::Events)), "/events");
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
