//! /healthz, /readyz, /openapi.json, and 503 when the database goes away.

use serde_json::{Value, json};
use strop_common::{ErrorCode, paths};
use strop_server::http::route::Route;

use crate::support::{assert_error, connect, spawn_app};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let v: Value = app.get("/healthz", None).await.json().await.unwrap();
    assert_eq!(v, json!({"status": "ok"}));
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let documented = doc["paths"].as_object().unwrap();
    // Every route the server has, from its own list, and nothing else.
    for route in Route::ALL {
        for method in route.methods() {
            let method = method.as_str().to_ascii_lowercase();
            assert!(
                documented
                    .get(route.path())
                    .and_then(|p| p.get(&method))
                    .is_some(),
                "{method} {} missing",
                route.path()
            );
        }
    }
    assert_eq!(documented.len(), Route::ALL.len());
    let params: Vec<&str> = doc["paths"][paths::HISTORY]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["before", "function", "limit", "q"] {
        assert!(params.contains(&p), "{params:?}");
    }
    for schema in ["ErrorBody", "HistoryEntry", "Credentials", "StropRequest"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    for path in [paths::REGISTER, paths::AUTHENTICATE] {
        let limited = &doc["paths"][path]["post"]["responses"]["429"];
        assert!(
            limited["headers"]["Retry-After"].is_object(),
            "{path}: {limited}"
        );
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    for code in [
        "rate_limited",
        "request_timeout",
        "uri_too_long",
        "headers_too_large",
    ] {
        assert!(codes.iter().any(|c| c == code), "{code} not in {codes:?}");
    }
    let about = doc["info"]["description"].as_str().unwrap();
    assert!(
        about.contains("unknown keys are ignored") && about.contains("must be a JSON object"),
        "{about}"
    );
    assert!(
        doc["paths"][paths::METRICS]["get"]["responses"]["200"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("text/plain"))
    );
}

#[tokio::test]
async fn a_vanished_database_gives_503_json_and_healthz_stays_up() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    // Drop the database from under the running server.
    let mut admin_cfg = app.pg.clone();
    admin_cfg.dbname("postgres");
    let admin = connect(&admin_cfg).await;
    let name = app.pg.get_dbname().unwrap().to_string();
    admin
        .batch_execute(&format!(
            "DROP DATABASE \"{}\" WITH (FORCE)",
            name.replace('"', "\"\"")
        ))
        .await
        .unwrap();

    let res = app.get("/readyz", None).await;
    assert_error(res, 503, ErrorCode::Unavailable).await;
    let res = app
        .post("/reverse", &json!({"input": "x"}), Some(&token))
        .await;
    let err = assert_error(res, 503, ErrorCode::Unavailable).await;
    assert!(!err.message.contains("strop_test"), "{}", err.message);
    let res = app.register("someone", "pw").await;
    assert_error(res, 503, ErrorCode::Unavailable).await;
    let res = app.get("/get-history", Some(&token)).await;
    assert_error(res, 503, ErrorCode::Unavailable).await;
    // Liveness does not touch the database.
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    // Requests that need no database still fail the usual way.
    let res = app.get("/whoami", None).await;
    assert_error(res, 401, ErrorCode::MissingToken).await;
}
