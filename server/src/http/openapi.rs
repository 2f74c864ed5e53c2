//! `/openapi.json`: the OpenAPI 3 document of the whole API, generated from
//! the handlers' `utoipa::path` attributes and `strop-common`'s schemas.

use std::sync::OnceLock;

use strop_common::{
    AccountDeletion, Credentials, DeleteEvent, ErrorBody, ErrorCode, Function, HistoryDeleted,
    HistoryEntry, HistoryResponse, MessageResponse, PasswordChange, SessionInfo, SessionsResponse,
    StatusResponse, StropRequest, StropResponse, TokenResponse, WhoAmIResponse,
};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::http::handlers;
use crate::http::route::Route;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "strop",
        description = "String operations (reverse, pig latin) with per-user history. \
            Every non-2xx answer is `{\"error\": code, \"message\": sentence}` and every \
            answer carries an `X-Request-Id` header (the client's own, if it sent a sane one). \
            A request body must be a JSON object in UTF-8; unknown keys are ignored. \
            Unknown routes are 404, wrong methods 405, a body that stalls 408, bodies over \
            64 KiB 413, a non-JSON Content-Type, a charset other than UTF-8 or any \
            Content-Encoding 415, an unreachable database 503. On any route: a request \
            that cannot be parsed, an HTTP/1.1 request without one Host, or two \
            Content-Type or Authorization headers are 400, a URL over 64 KiB 414, an \
            Expect other than 100-continue 417, too many or too large headers 431, and \
            a connection over the server's connection cap 503 (only /healthz and /readyz \
            are served there). /register and /authenticate are limited per client \
            address and per username: 429 with Retry-After. Every 401 carries \
            `WWW-Authenticate: Bearer`."
    ),
    paths(
        handlers::root,
        handlers::register,
        handlers::authenticate,
        handlers::run_strop,
        handlers::history,
        crate::live::events::stream,
        handlers::logout,
        handlers::whoami,
        handlers::healthz,
        handlers::readyz,
        crate::http::accounts::list_sessions,
        crate::http::accounts::revoke_session,
        crate::http::accounts::revoke_others,
        crate::http::accounts::change_password,
        crate::http::accounts::delete_account,
        crate::http::accounts::export_stream,
        crate::http::deletion::delete_entry,
        crate::http::deletion::delete_all,
    ),
    components(schemas(
        Credentials, ErrorBody, ErrorCode, Function, HistoryEntry, HistoryResponse,
        MessageResponse, StatusResponse, StropRequest, StropResponse, TokenResponse,
        WhoAmIResponse, SessionInfo, SessionsResponse, PasswordChange, AccountDeletion,
        HistoryDeleted, DeleteEvent,
    )),
    modifiers(&TokenScheme, &ErrorResponses, &UsernameRule),
)]
struct ApiDoc;

/// The token goes in `Authorization`, bare (the seed's form) or as `Bearer <token>`.
struct TokenScheme;

impl Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`<token>` or `Bearer <token>`, from /authenticate",
            ))),
        );
    }
}

/// The username's character set, derived from the RFC 8265 tables the
/// server enforces (so it cannot drift from them).
struct UsernameRule;

impl Modify for UsernameRule {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::Schema;
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(creds))) = components.schemas.get_mut("Credentials")
        else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(name))) = creds.properties.get_mut("username") {
            name.pattern = Some(crate::accounts::usernames::documented_pattern().to_string());
        }
    }
}

/// The failures every route of a kind can answer with, added to each
/// operation so the document lists every status the server really sends
/// (the filters in `routes` produce these before any handler runs).
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                let body = op.request_body.is_some();
                let token = op.security.is_some();
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error_response(description));
                };
                if body {
                    add(
                        "400",
                        "The body is not JSON or a field is missing or invalid",
                    );
                    add("408", "The body stopped arriving before it was complete");
                    add("413", "The body is larger than 64 KiB");
                    add(
                        "415",
                        "The Content-Type is not JSON, its charset is not UTF-8, \
                         or the body has a Content-Encoding",
                    );
                }
                if token {
                    add("401", "Missing or invalid token");
                }
                // A body or a token means the database is asked.
                if body || token {
                    add("500", "An internal failure");
                    add("503", "The database is unavailable");
                }
            }
        }
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
        .into()
}

/// `/piglatin` is `/reverse`'s route with the other operation: the same
/// document but for its name and what its answer holds.
fn piglatin_from_reverse(doc: &mut utoipa::openapi::OpenApi) {
    let reverse = Route::Reverse.path();
    let Some(mut item) = doc.paths.paths.get(reverse).cloned() else {
        return;
    };
    if let Some(op) = item.post.as_mut() {
        op.operation_id = Some("piglatin".into());
        if let Some(RefOr::T(ok)) = op.responses.responses.get_mut("200") {
            ok.description = "The input in pig latin".into();
        }
    }
    doc.paths
        .paths
        .insert(Route::Piglatin.path().to_string(), item);
}

/// `/metrics` (served here unless `--metrics` moves it or turns it off).
fn metrics_path() -> utoipa::openapi::path::PathItem {
    use utoipa::openapi::path::{OperationBuilder, PathItem};
    PathItem::new(
        utoipa::openapi::HttpMethod::Get,
        OperationBuilder::new()
            .tag("ops")
            .summary(Some("Prometheus metrics"))
            .description(Some(
                "Prometheus text format 0.0.4: requests by route and status, latency by \
                 route, database pool, argon2 queue, rate-limit refusals, build info. \
                 404 when the server runs with `--metrics off` or on another address.",
            ))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("Prometheus text exposition format")
                    .content(
                        "text/plain; version=0.0.4; charset=utf-8",
                        Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
                    ),
            )
            .response("404", error_response("Metrics are off or served elsewhere")),
    )
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = crate::config::VERSION.to_string();
        piglatin_from_reverse(&mut doc);
        // /openapi.json describes itself too, so the document covers every route.
        let path = utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .tag("ops")
                .summary(Some("This OpenAPI document"))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("OpenAPI 3 JSON")
                        .content(
                            "application/json",
                            Content::new(Some(ObjectBuilder::new().schema_type(Type::Object))),
                        ),
                ),
        );
        doc.paths
            .paths
            .insert(Route::OpenApi.path().to_string(), path);
        doc.paths
            .paths
            .insert(Route::Metrics.path().to_string(), metrics_path());
        doc
    })
}
