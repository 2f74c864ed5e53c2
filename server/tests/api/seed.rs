//! The seed's example session, replayed step by step with its exact strings
//! (token value and times aside) and its exact JSON key sets.

use serde_json::{Value, json};

use crate::support::{keys, spawn_app};

/// `Sat, 10 Apr 2021 19:59:53 GMT`: parses as an HTTP date and prints back identically.
fn assert_rfc1123(time: &str) {
    let parsed = httpdate::parse_http_date(time).unwrap_or_else(|e| panic!("{time}: {e}"));
    assert_eq!(httpdate::fmt_http_date(parsed), time);
    assert!(time.ends_with(" GMT"));
}

/// `2021-04-10T19:59:53.123Z`, agreeing with `time` to the second.
fn assert_timestamp(timestamp: &str, time: &str) {
    let b = timestamp.as_bytes();
    assert_eq!(b.len(), 24, "{timestamp}");
    for (i, c) in b.iter().enumerate() {
        let want = match i {
            4 | 7 => Some(b'-'),
            10 => Some(b'T'),
            13 | 16 => Some(b':'),
            19 => Some(b'.'),
            23 => Some(b'Z'),
            _ => None,
        };
        match want {
            Some(w) => assert_eq!(*c, w, "{timestamp}"),
            None => assert!(c.is_ascii_digit(), "{timestamp}"),
        }
    }
    let secs = httpdate::parse_http_date(time)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hms = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    );
    assert_eq!(&timestamp[11..19], hms, "{timestamp} vs {time}");
}

#[tokio::test]
async fn seed_session_replays_exactly() {
    let app = spawn_app().await;
    replay(&app.base).await;
}

/// One step's request, as the seed made it with `requests`.
struct Session {
    http: reqwest::Client,
    base: String,
}

impl Session {
    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().await.unwrap()
    }

    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.header("Authorization", t);
        }
        req.send().await.unwrap()
    }
}

/// The seed session against `base`: one server, or a balancer in front of several
/// (balancer.rs), where each step may land on another replica.
pub(crate) async fn replay(base: &str) {
    let app = Session {
        http: reqwest::Client::new(),
        base: base.to_string(),
    };

    // >>> get('http://localhost:80/').json()
    let res = app.get("/", None).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, json!({"message": "System online."}));

    // >>> post('/register', json={'username':'wonsun', 'password':'password'}).json()
    let res = app
        .post(
            "/register",
            &json!({"username": "wonsun", "password": "password"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v,
        json!({"message": "User \"wonsun\" registered succesfully."})
    );

    // >>> post('/authenticate', json={'username':'wonsun', 'password':'password'}).json()
    let res = app
        .post(
            "/authenticate",
            &json!({"username": "wonsun", "password": "password"}),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(keys(&v), ["token"]);
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 32);
    assert!(
        token
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
        "{token}"
    );

    // >>> post('/reverse', headers={'Authorization': token}, json={'input': ...}).json()
    let res = app
        .post(
            "/reverse",
            &json!({"input": "This is my string to reverse"}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, json!({"output": "esrever ot gnirts ym si sihT"}));

    // >>> post('/piglatin', headers={'Authorization': token}, json={'input': ...}).json()
    let res = app
        .post(
            "/piglatin",
            &json!({"input": "This is my string to convert to piglatin"}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({"output": "Isthay isway myay ingstray otay onvertcay otay iglatinpay"})
    );

    // >>> get('/get-history', headers={'Authorization': token}).json()
    let res = app.get("/get-history", Some(&token)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(keys(&v), ["history"], "no next_before in the plain form");
    let history = v["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    let expected = [
        (
            "reverse",
            "This is my string to reverse",
            "esrever ot gnirts ym si sihT",
        ),
        (
            "piglatin",
            "This is my string to convert to piglatin",
            "Isthay isway myay ingstray otay onvertcay otay iglatinpay",
        ),
    ];
    for (entry, (function, input, output)) in history.iter().zip(expected) {
        assert_eq!(
            keys(entry),
            [
                "function",
                "id",
                "input",
                "output",
                "time",
                "timestamp",
                "user"
            ]
        );
        assert_eq!(entry["function"], function);
        assert_eq!(entry["input"], input);
        assert_eq!(entry["output"], output);
        assert_eq!(entry["user"], "wonsun");
        assert!(entry["id"].is_i64());
        let time = entry["time"].as_str().unwrap();
        assert_rfc1123(time);
        assert_timestamp(entry["timestamp"].as_str().unwrap(), time);
    }
    assert!(history[0]["id"].as_i64() < history[1]["id"].as_i64());
    // Keys come sorted, as Flask's jsonify sent them.
    let raw = app
        .get("/get-history", Some(&token))
        .await
        .text()
        .await
        .unwrap();
    let order: Vec<usize> = [
        "\"function\"",
        "\"id\"",
        "\"input\"",
        "\"output\"",
        "\"time\"",
        "\"timestamp\"",
        "\"user\"",
    ]
    .iter()
    .map(|k| raw.find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");
}
