//! The routes' filters: the accept loop dispatches a request on its path,
//! parsed once into a [`Route`] ([`Router`]); the route's filter checks the
//! method, then headers, token and body. Only that one route's filter runs,
//! so its rejection (405, 401, 415, ...) is the only one, and the rejection
//! handler can tell them apart. Handler errors never become rejections at
//! all: [`respond`] turns them into responses on the spot.

use std::convert::Infallible;
use std::time::Duration;

use strop_common::{Function, StropRequest};
use warp::filters::BoxedFilter;
use warp::http::HeaderValue;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::AppState;
use crate::http::auth::Writer;
use crate::http::conn::Refused;
use crate::http::error::{self, respond};
use crate::http::filters::{
    client, history_query, json_body, json_headers, on, user, with_state, writer,
};
use crate::http::handlers;
use crate::http::openapi;
use crate::http::route::Route;
use crate::live::events;
use crate::ops::metrics;

/// Every route's filter, by [`Route`]: the accept loop parses a request's
/// path once and runs that one route's filter (no chain of `or`s, each
/// trying the path again); a path that is no route gets the 404 filter.
pub struct Router<F> {
    /// In [`Route::ALL`] order.
    routes: Vec<F>,
    unrouted: F,
}

impl<F> Router<F> {
    /// The filter (or service) answering `route`.
    pub fn get(&self, route: Option<Route>) -> &F {
        route.map_or(&self.unrouted, |r| &self.routes[r.index()])
    }

    /// One filter for every path: strop's connection layer around another
    /// application (the benchmark's bare `GET /`, to price that layer).
    pub fn uniform(filter: F) -> Self
    where
        F: Clone,
    {
        Router {
            routes: vec![filter.clone(); Route::ALL.len()],
            unrouted: filter,
        }
    }

    pub fn map<G>(&self, f: impl Fn(&F) -> G) -> Router<G> {
        Router {
            routes: self.routes.iter().map(&f).collect(),
            unrouted: f(&self.unrouted),
        }
    }
}

/// The whole application: every route (`/metrics` too when
/// `with_metrics`), every failure as SPEC JSON, and one log line per request.
pub fn build(
    state: AppState,
    with_metrics: bool,
) -> Router<impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static>
{
    router(
        Route::ALL
            .into_iter()
            .map(|route| match route {
                Route::Metrics if !with_metrics => not_found(),
                route => route_filter(route, &state),
            })
            .collect(),
    )
}

/// Only `GET /metrics`, for a listener of its own.
pub fn metrics_only(
    state: AppState,
) -> Router<impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static>
{
    router(
        Route::ALL
            .into_iter()
            .map(|route| match route {
                Route::Metrics => metrics_text(state.clone()),
                _ => not_found(),
            })
            .collect(),
    )
}

/// Each route's filter (in [`Route::ALL`] order; and the 404's) with what every answer goes through:
/// the connection layer's refusal first, failures as JSON, the access log.
fn router(
    filters: Vec<BoxedFilter<(Response,)>>,
) -> Router<impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static>
{
    let finish = |route: BoxedFilter<(Response,)>| {
        refused()
            .and(route)
            .recover(error::handle_rejection)
            .unify()
            .with(warp::log::custom(log_request))
    };
    Router {
        routes: filters.into_iter().map(finish).collect(),
        unrouted: finish(not_found()),
    }
}

fn route_filter(route: Route, s: &AppState) -> BoxedFilter<(Response,)> {
    match route {
        Route::Root => root(),
        Route::Register => register(s.clone()),
        Route::Authenticate => authenticate(s.clone()),
        Route::Reverse => strop(s.clone(), Function::Reverse),
        Route::Piglatin => strop(s.clone(), Function::Piglatin),
        Route::History => history(s.clone()),
        Route::Events => events(s.clone()),
        Route::Logout => logout(s.clone()),
        Route::Whoami => whoami(s.clone()),
        Route::Healthz => healthz(),
        Route::Readyz => readyz(s.clone()),
        Route::OpenApi => openapi_json(),
        Route::Metrics => metrics_text(s.clone()),
        Route::Sessions
        | Route::Session
        | Route::Password
        | Route::Account
        | Route::HistoryExport => crate::http::accounts::route(route, s.clone()),
        Route::HistoryEntry | Route::HistoryAll => crate::http::deletion::route(route, s.clone()),
    }
}

fn not_found() -> BoxedFilter<(Response,)> {
    warp::any()
        .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
        .boxed()
}

/// Fails with what the connection layer refused (see `http_server`), if anything.
fn refused() -> BoxedFilter<()> {
    warp::ext::optional::<Refused>()
        .and_then(|refused: Option<Refused>| async move {
            match refused {
                Some(Refused(err)) => Err(warp::reject::custom(err)),
                None => Ok(()),
            }
        })
        .untuple_one()
        .boxed()
}

fn log_request(info: warp::log::Info<'_>) {
    let latency: Duration = info.elapsed();
    // Path only: the query may hold a search string, and headers a token.
    // Plain &str and integers: nothing to format or allocate before the
    // subscriber writes the line.
    tracing::info!(
        target: "strop_server::access",
        method = info.method().as_str(),
        path = info.path(),
        status = info.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
}

fn root() -> BoxedFilter<(Response,)> {
    on(Route::Root)
        .then(|| async { respond(handlers::root().await) })
        .boxed()
}

fn register(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Register)
        .and(json_headers())
        .and(client(&state))
        .and(crate::http::idempotency::key())
        .and(json_body(state.body_timeout))
        .and(with_state(state))
        .then(|client, key, body, state: AppState| async move {
            respond(handlers::register(&state, client, body, key).await)
        })
        .boxed()
}

fn authenticate(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Authenticate)
        .and(json_headers())
        .and(client(&state))
        .and(json_body(state.body_timeout))
        .and(crate::http::accounts::user_agent())
        .and(with_state(state))
        .then(
            |client, body, agent: Option<String>, state: AppState| async move {
                let mut res = respond(handlers::authenticate(&state, client, body, agent).await);
                // RFC 6749 §5.1: a token must not be cached.
                res.headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            },
        )
        .boxed()
}

/// `/reverse` and `/piglatin`: one filter, the operation named by the route.
fn strop(state: AppState, function: Function) -> BoxedFilter<(Response,)> {
    on(Route::Reverse)
        .map(move || function)
        .and(json_headers())
        .and(writer(&state))
        .and(settled(crate::http::idempotency::key()))
        .and(settled(json_body::<StropRequest>(state.body_timeout)))
        .and(with_state(state))
        .and_then(
            |function, writer: Writer, key: Settled<_>, body: Settled<_>, state: AppState| async move {
                let (key, body) = match (key, body) {
                    (Ok(key), Ok(body)) => (key, body),
                    (key, body) => {
                        // A token not checked yet is, before a 400 or 408
                        // can answer: 401 comes first, as on every route.
                        writer.confirm(&state).await.map_err(warp::reject::custom)?;
                        return Err(key.err().or(body.err()).expect("one failed"));
                    }
                };
                Ok::<_, Rejection>(handlers::held_answer(
                    handlers::run_strop(&state, writer, function, body, key).await,
                ))
            },
        )
        .boxed()
}

/// A filter's outcome, its rejection kept for later.
type Settled<T> = Result<T, Rejection>;

fn settled<T: Send + 'static>(filter: BoxedFilter<(T,)>) -> BoxedFilter<(Settled<T>,)> {
    filter
        .map(Ok)
        .or_else(|rejection| async move { Ok::<_, Rejection>((Err(rejection),)) })
        .boxed()
}

fn history(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::History)
        .and(user(&state))
        .and(history_query())
        .and(with_state(state))
        .then(|user, query, state: AppState| async move {
            match handlers::history_response(&state, user, query).await {
                Ok(res) => res,
                Err(err) => err.into_response(),
            }
        })
        .boxed()
}

fn events(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Events)
        .and(user(&state))
        .and(events::last_event_id())
        .and(with_state(state))
        .then(|user, last, state| events::stream(state, user, last))
        .boxed()
}

fn logout(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Logout)
        .and(user(&state))
        .and(with_state(state))
        .then(|user, state: AppState| async move { respond(handlers::logout(&state, user).await) })
        .boxed()
}

fn whoami(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Whoami)
        .and(user(&state))
        .and(with_state(state))
        .then(|user, state: AppState| async move { respond(handlers::whoami(&state, user).await) })
        .boxed()
}

fn healthz() -> BoxedFilter<(Response,)> {
    on(Route::Healthz)
        .then(|| async { respond(handlers::healthz().await) })
        .boxed()
}

fn readyz(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Readyz)
        .and(with_state(state))
        .then(|state: AppState| async move { respond(handlers::readyz(&state).await) })
        .boxed()
}

fn metrics_text(state: AppState) -> BoxedFilter<(Response,)> {
    on(Route::Metrics)
        .and(with_state(state))
        .map(|state: AppState| {
            let mut res = metrics::render(&state).into_response();
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            res
        })
        .boxed()
}

fn openapi_json() -> BoxedFilter<(Response,)> {
    on(Route::OpenApi)
        .map(|| warp::reply::json(openapi::document()).into_response())
        .boxed()
}
