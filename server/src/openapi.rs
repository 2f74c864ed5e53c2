//! `/openapi.json`: the OpenAPI 3 document of the whole API, generated from
//! the handlers' `utoipa::path` attributes and `strop-common`'s schemas.

use std::sync::OnceLock;

use strop_common::{
    Credentials, ErrorBody, ErrorCode, Function, HistoryEntry, HistoryResponse, MessageResponse,
    StatusResponse, StropRequest, StropResponse, TokenResponse, WhoAmIResponse,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "strop",
        description = "String operations (reverse, pig latin) with per-user history. \
            Every non-2xx answer is `{\"error\": code, \"message\": sentence}`; \
            unknown routes are 404, wrong methods 405, bodies over 64 KiB 413, \
            a non-JSON Content-Type 415, and an unreachable database 503."
    ),
    paths(
        handlers::root,
        handlers::register,
        handlers::authenticate,
        handlers::reverse,
        handlers::piglatin,
        handlers::history,
        handlers::logout,
        handlers::whoami,
        handlers::healthz,
        handlers::readyz,
    ),
    components(schemas(
        Credentials, ErrorBody, ErrorCode, Function, HistoryEntry, HistoryResponse,
        MessageResponse, StatusResponse, StropRequest, StropResponse, TokenResponse,
        WhoAmIResponse,
    )),
    modifiers(&TokenScheme),
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

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = crate::config::VERSION.to_string();
        // /openapi.json describes itself too, so the document covers every route.
        let path = utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .tag("ops")
                .summary(Some("This OpenAPI document"))
                .response(
                    "200",
                    utoipa::openapi::ResponseBuilder::new().description("OpenAPI 3 JSON"),
                ),
        );
        doc.paths
            .paths
            .insert(strop_common::paths::OPENAPI.to_string(), path);
        doc
    })
}
