//! `/openapi.json` says what the server really does: the statuses its filters
//! send are documented, and the documented input rules (username pattern and
//! lengths, history query bounds, no NUL) accept exactly what the server
//! accepts. These are the gaps schemathesis (.ci/api-fuzz) found: schema-valid
//! requests that the server rejected with 400.

use regex::Regex;
use serde_json::{Value, json};
use strop_common::{ErrorCode, MAX_BODY_BYTES, paths};

use crate::support::{TestApp, assert_error, spawn_app, unique_name};

async fn document(app: &TestApp) -> Value {
    let res = app.get(paths::OPENAPI, None).await;
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    res.json().await.unwrap()
}

/// Every (path, method, operation) in the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

fn documents(op: &Value, status: u16) -> bool {
    op["responses"].get(status.to_string()).is_some()
}

/// Does the document's `Credentials.username` schema accept `name`?
fn schema_accepts(rule: &Value, re: &Regex, name: &str) -> bool {
    let chars = name.chars().count() as u64;
    chars >= rule["minLength"].as_u64().unwrap()
        && chars <= rule["maxLength"].as_u64().unwrap()
        && re.is_match(name)
}

#[tokio::test]
async fn every_status_the_filters_send_is_documented() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let doc = document(&app).await;
    let mut bodies = 0;
    for (path, method, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let has_body = op.get("requestBody").is_some();
        let has_token = op.get("security").is_some();
        if has_body {
            bodies += 1;
            let verb: reqwest::Method = method.to_uppercase().parse().unwrap();
            let send = |ct: &'static str, body: Vec<u8>| {
                app.http
                    .request(verb.clone(), app.url(&path))
                    .header("Authorization", &token)
                    .header("Content-Type", ct)
                    .body(body)
                    .send()
            };
            let res = send("text/plain", b"{}".to_vec()).await.unwrap();
            assert_error(res, 415, ErrorCode::UnsupportedMediaType).await;
            assert!(documents(&op, 415), "{what}: 415");
            let over = vec![b' '; MAX_BODY_BYTES as usize + 1];
            let res = send("application/json", over).await.unwrap();
            assert_error(res, 413, ErrorCode::PayloadTooLarge).await;
            assert!(documents(&op, 413), "{what}: 413");
            let res = send("application/json", b"{".to_vec()).await.unwrap();
            assert_error(res, 400, ErrorCode::InvalidRequest).await;
            assert!(documents(&op, 400), "{what}: 400");
        }
        if has_token {
            let res = match method.as_str() {
                "get" => app.get(&path, None).await,
                "post" => app.post(&path, &json!({"input": "x"}), None).await,
                other => app
                    .http
                    .request(other.to_uppercase().parse().unwrap(), app.url(&path))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap(),
            };
            assert_error(res, 401, ErrorCode::MissingToken).await;
            assert!(documents(&op, 401), "{what}: 401");
        }
        // Whatever asks the database can find it gone (tests in ops.rs).
        if has_body || has_token {
            assert!(documents(&op, 503), "{what}: 503");
            assert!(documents(&op, 500), "{what}: 500");
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            if path == paths::METRICS && status == "200" {
                // Prometheus text, not JSON.
                assert!(
                    response["content"]["text/plain; version=0.0.4; charset=utf-8"].is_object()
                );
                continue;
            }
            // The one stream answers 200 with Server-Sent Events, not JSON.
            let media = match (path.as_str(), status.as_str()) {
                (paths::EVENTS, "200") => "text/event-stream",
                (paths::HISTORY_EXPORT, "200") => "application/x-ndjson",
                _ => "application/json",
            };
            let schema = &response["content"][media]["schema"];
            assert!(schema.is_object(), "{what} {status}: no JSON schema");
            if !status.starts_with('2') {
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorBody",
                    "{what} {status}"
                );
            }
        }
    }
    assert_eq!(
        bodies, 6,
        "register, authenticate, reverse, piglatin, password, account"
    );
}

#[tokio::test]
async fn the_documented_username_rule_is_the_servers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let creds = &doc["components"]["schemas"]["Credentials"]["properties"];
    let rule = &creds["username"];
    let re = Regex::new(rule["pattern"].as_str().unwrap()).unwrap();
    assert_eq!(creds["password"]["minLength"], 1);
    let long_ok = "é".repeat(64);
    let too_long = "é".repeat(65);
    let fixed = [
        "",
        "a b",
        "a\tb",
        "a\nb",
        "a\u{0}b",
        "\u{7f}",
        "x\u{85}",
        "\u{a0}x",
        "a\u{1680}b",
        "a\u{2000}b",
        "a\u{200a}b",
        "a\u{2028}",
        "a\u{2029}",
        "a\u{202f}",
        "a\u{205f}",
        "\u{3000}",
        "a\u{9f}",
        "\u{1b}[31m",
        "\u{200b}zw",
        "a\u{200d}b",
        "soft\u{ad}hyphen",
        "\u{feff}bom",
        "evil\u{202e}txt",
        "🦀",
    ];
    let mut names: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    names.push(too_long);
    // Accepted ones get a unique suffix so no run collides with another.
    for ok in ["Ünïcødé-ok_1", "a.b@c", "日本語", "x\u{301}"] {
        names.push(format!("{ok}{}", unique_name("")));
    }
    names.push(long_ok);
    // A Latin letter beside a right-to-left one breaks the bidi rule.
    names.push("a\u{5d0}".into());
    for name in names {
        let res = app.register(&name, "pw").await;
        let server = match res.status().as_u16() {
            200 => true,
            400 => false,
            other => panic!("{name:?}: status {other}"),
        };
        assert_eq!(
            schema_accepts(rule, &re, &name),
            server,
            "{name:?}: the document and the server disagree"
        );
    }
}

#[tokio::test]
async fn the_documented_history_query_bounds_are_the_servers() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let doc = document(&app).await;
    let params = doc["paths"][paths::HISTORY]["get"]["parameters"]
        .as_array()
        .unwrap();
    let schema = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["schema"].clone())
            .unwrap_or_else(|| panic!("no parameter {name}"))
    };
    let status = |query: String| {
        let app = &app;
        let token = &token;
        async move {
            app.get(&format!("{}?{query}", paths::HISTORY), Some(token))
                .await
                .status()
                .as_u16()
        }
    };
    let limit = schema("limit");
    let (min, max) = (
        limit["minimum"].as_i64().unwrap(),
        limit["maximum"].as_i64().unwrap(),
    );
    assert_eq!(status(format!("limit={min}")).await, 200);
    assert_eq!(status(format!("limit={max}")).await, 200);
    assert_eq!(status(format!("limit={}", min - 1)).await, 400);
    assert_eq!(status(format!("limit={}", max + 1)).await, 400);
    let before = schema("before")["minimum"].as_i64().unwrap();
    assert_eq!(status(format!("before={before}")).await, 200);
    assert_eq!(status(format!("before={}", before - 1)).await, 400);
    let q = Regex::new(schema("q")["pattern"].as_str().unwrap()).unwrap();
    assert!(q.is_match("50% off") && !q.is_match("a\u{0}b"));
    assert_eq!(status("q=50%25%20off".into()).await, 200);
    assert_eq!(status("q=a%00b".into()).await, 400);
}

#[tokio::test]
async fn the_documented_input_rule_is_the_servers() {
    let app = spawn_app().await;
    let (_, token) = app.user().await;
    let doc = document(&app).await;
    let rule = &doc["components"]["schemas"]["StropRequest"]["properties"]["input"];
    let re = Regex::new(rule["pattern"].as_str().unwrap()).unwrap();
    for input in ["", "a\u{0}", "\u{0}", "héllo\r\nwörld", "🦀\u{301}"] {
        let res = app
            .post(paths::REVERSE, &json!({ "input": input }), Some(&token))
            .await;
        let server = res.status() == 200;
        if !server {
            assert_error(res, 400, ErrorCode::InvalidRequest).await;
        }
        assert_eq!(re.is_match(input), server, "{input:?}");
    }
}

/// Issue 15: `Last-Event-ID` is an integer, never null (an empty header is
/// "absent", `null` is a 400), and the events are documented as
/// `text/event-stream` carrying the history entry.
#[tokio::test]
async fn the_documented_events_route_is_the_servers() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let get = &doc["paths"]["/events"]["get"];
    let param = get["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Last-Event-ID")
        .expect("Last-Event-ID is documented");
    assert_eq!(param["in"], "header");
    assert_eq!(param["required"], false);
    assert_eq!(param["schema"]["type"], "integer", "{param}");
    let content = &get["responses"]["200"]["content"];
    let stream = &content["text/event-stream"]["schema"];
    assert!(
        stream["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/HistoryEntry")),
        "{content}"
    );
    assert!(get["responses"]["429"].is_object());
    // What the schema rules out, the server refuses.
    let (_, token) = app.user().await;
    let res = app
        .http
        .get(app.url("/events"))
        .header("authorization", &token)
        .header("last-event-id", "null")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}
