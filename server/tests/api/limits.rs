//! The login limiter: failures per username and per client address (a
//! username's apart where its user signed in), successes only under a high
//! ceiling, 429 with `Retry-After` and a
//! sentence naming the limit before any password hashing, and a correct
//! login once the wait is over.

use std::num::NonZeroU32;
use std::time::Duration;

use serde_json::json;
use strop_common::{ErrorCode, paths};
use strop_server::ServeOptions;
use strop_server::accounts::limiter::LoginLimit;
use warp::http::HeaderName;

use crate::support::{TestApp, assert_error, spawn_with};

/// `burst` failures per username, twice that per address.
fn limited(burst: u32, period: Duration) -> ServeOptions {
    ServeOptions {
        login_limit: LoginLimit {
            burst: NonZeroU32::new(burst).unwrap(),
            period,
        },
        login_address_limit: LoginLimit {
            burst: NonZeroU32::new(2 * burst).unwrap(),
            period,
        },
        trusted_proxy_header: Some(HeaderName::from_static("x-forwarded-for")),
        ..ServeOptions::default()
    }
}

async fn attempt(app: &TestApp, path: &str, user: &str, pw: &str, from: &str) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .header("x-forwarded-for", from)
        .json(&json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap()
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn thirty_wrong_logins_meet_429_and_a_correct_one_after_the_wait_works() {
    let app = spawn_with(limited(5, Duration::from_secs(1))).await;
    let from = "10.0.0.1";
    assert_eq!(
        attempt(&app, paths::REGISTER, "victim", "right-pw", from)
            .await
            .status(),
        200
    );

    let mut limited = 0;
    let mut last_wait = 0;
    for _ in 0..30 {
        let res = attempt(&app, paths::AUTHENTICATE, "victim", "wrong", from).await;
        match res.status().as_u16() {
            401 => {}
            429 => {
                limited += 1;
                last_wait = retry_after(&res);
                assert!((1..=5).contains(&last_wait), "Retry-After {last_wait}");
                let err = assert_error(res, 429, ErrorCode::RateLimited).await;
                assert!(err.message.contains("second"), "{}", err.message);
            }
            other => panic!("status {other}"),
        }
    }
    // A burst of 5 (one spent on registering), then one a second: most are refused.
    assert!(limited >= 20, "only {limited} of 30 refused");
    tokio::time::sleep(Duration::from_secs(last_wait)).await;
    app.login_from(from, "victim", "right-pw").await;
}

#[tokio::test]
async fn the_limit_comes_before_any_password_hashing() {
    let app = spawn_with(limited(3, Duration::from_secs(60))).await;
    assert_eq!(
        attempt(&app, paths::REGISTER, "broken", "pw", "10.0.0.2")
            .await
            .status(),
        200
    );
    // A stored hash that cannot be read: reading it is a 500, so a 429 proves
    // the hash was never looked at.
    app.db()
        .await
        .execute(
            "UPDATE users SET password_hash = 'not a phc string' WHERE username = 'broken'",
            &[],
        )
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let res = attempt(&app, paths::AUTHENTICATE, "broken", "pw", "10.0.0.3").await;
        statuses.push(res.status().as_u16());
    }
    // A failure of the server is not a success: it spends the username's three.
    assert_eq!(statuses, [500, 500, 500, 429]);
}

#[tokio::test]
async fn a_username_is_limited_across_addresses_and_an_address_across_usernames() {
    let app = spawn_with(limited(5, Duration::from_secs(60))).await;
    // One account, a new address each time: the username's bucket runs out.
    let mut statuses = Vec::new();
    for i in 0..7 {
        let res = attempt(
            &app,
            paths::AUTHENTICATE,
            "target",
            "guess",
            &format!("10.1.0.{i}"),
        )
        .await;
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    // Its look-alike spelling is the same username.
    let res = attempt(
        &app,
        paths::AUTHENTICATE,
        "\u{ff54}arget",
        "guess",
        "10.1.1.1",
    )
    .await;
    assert_error(res, 429, ErrorCode::RateLimited).await;

    // One address, a new username each time: the address's failures (twice
    // a username's) run out, and then even a right password waits.
    assert_eq!(
        attempt(&app, paths::REGISTER, "sprayed", "pw", "10.2.0.9")
            .await
            .status(),
        200
    );
    let mut statuses = Vec::new();
    for i in 0..11 {
        let res = attempt(
            &app,
            paths::AUTHENTICATE,
            &format!("spray{i}"),
            "pw",
            "10.2.0.1",
        )
        .await;
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10], 429);
    let res = attempt(&app, paths::AUTHENTICATE, "sprayed", "pw", "10.2.0.1").await;
    let err = assert_error(res, 429, ErrorCode::RateLimited).await;
    assert!(err.message.contains("from this address"), "{}", err.message);
    // Another address is untouched.
    let res = attempt(&app, paths::AUTHENTICATE, "sprayed", "pw", "10.2.0.2").await;
    assert_eq!(res.status(), 200);
}

/// The two cases with default settings: an office behind one
/// address gets in, a password guesser does not.
#[tokio::test]
async fn with_defaults_fifty_people_behind_one_address_get_in_and_a_guesser_meets_429() {
    let app = spawn_with(ServeOptions {
        trusted_proxy_header: Some(HeaderName::from_static("x-forwarded-for")),
        ..ServeOptions::default()
    })
    .await;
    let office = "10.9.0.1";
    let started = std::time::Instant::now();
    for i in 0..50 {
        let user = format!("colleague{i}");
        let res = attempt(&app, paths::REGISTER, &user, "their-pw", office).await;
        assert_eq!(res.status(), 200, "registering {user}");
        let res = attempt(&app, paths::AUTHENTICATE, &user, "their-pw", office).await;
        assert_eq!(res.status(), 200, "logging {user} in");
    }
    assert!(started.elapsed() < Duration::from_secs(60));

    let mut refused = None;
    for n in 1..=30 {
        let res = attempt(&app, paths::AUTHENTICATE, "colleague0", "guess", "10.9.0.2").await;
        if res.status() == 429 {
            refused = Some(n);
            let wait = retry_after(&res);
            let err = assert_error(res, 429, ErrorCode::RateLimited).await;
            assert!(err.message.contains("this username"), "{}", err.message);
            assert!((1..=3).contains(&wait), "Retry-After {wait}");
            break;
        }
        assert_eq!(res.status(), 401);
    }
    let n = refused.expect("30 wrong passwords never met 429");
    assert_eq!(n, 6, "a burst of five failures, then 429");
    // The guesser does not lock the office out.
    let res = attempt(&app, paths::AUTHENTICATE, "colleague1", "their-pw", office).await;
    assert_eq!(res.status(), 200);
}

/// The attacker's case: guesses from ten addresses spend the username's
/// budget everywhere but where its user signed in.
#[tokio::test]
async fn guessers_at_ten_addresses_do_not_lock_a_user_out_of_where_they_sign_in() {
    let app = spawn_with(ServeOptions {
        trusted_proxy_header: Some(HeaderName::from_static("x-forwarded-for")),
        ..ServeOptions::default()
    })
    .await;
    let home = "10.8.0.1";
    let res = attempt(&app, paths::REGISTER, "bob", "bobs-pw", home).await;
    assert_eq!(res.status(), 200);
    let mut refused = 0;
    for round in 0..3 {
        for a in 0..10 {
            let from = format!("10.8.1.{a}");
            let res = attempt(&app, paths::AUTHENTICATE, "bob", "guess", &from).await;
            refused += usize::from(res.status() == 429);
        }
        let res = attempt(&app, paths::AUTHENTICATE, "bob", "bobs-pw", home).await;
        assert_eq!(res.status(), 200, "bob at home after round {round}");
    }
    assert!(refused >= 20, "only {refused} of 30 guesses refused");
    // A new place of bob's shares the guessers' spent budget.
    let res = attempt(&app, paths::AUTHENTICATE, "bob", "bobs-pw", "10.8.2.1").await;
    let err = assert_error(res, 429, ErrorCode::RateLimited).await;
    assert!(err.message.contains("this username"), "{}", err.message);
}

#[tokio::test]
async fn without_a_trusted_header_the_socket_peer_counts() {
    let options = ServeOptions {
        trusted_proxy_header: None,
        ..limited(2, Duration::from_secs(60))
    };
    let app = spawn_with(options).await;
    // Claimed addresses are ignored: all five come from 127.0.0.1, whose
    // budget is four failures.
    let mut statuses = Vec::new();
    for i in 0..5 {
        let res = attempt(
            &app,
            paths::AUTHENTICATE,
            &format!("n{i}"),
            "pw",
            &format!("10.3.0.{i}"),
        )
        .await;
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429]);
}

#[tokio::test]
async fn parallel_correct_logins_of_one_user_are_never_429() {
    // The default budget: five failures per username. Twelve correct logins
    // at once (an integration suite's workers) each hold one of those five
    // units while hashing; the others wait for them instead of being refused.
    let app = spawn_with(ServeOptions {
        trusted_proxy_header: Some(HeaderName::from_static("x-forwarded-for")),
        ..ServeOptions::default()
    })
    .await;
    let from = "10.0.0.1";
    let res = attempt(&app, paths::REGISTER, "suite", "right-pw", from).await;
    assert_eq!(res.status(), 200);
    let logins = (0..12).map(|_| attempt(&app, paths::AUTHENTICATE, "suite", "right-pw", from));
    let statuses: Vec<u16> = futures_util::future::join_all(logins)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Wrong passwords still meet the budget, in parallel too.
    let guesses = (0..12).map(|_| attempt(&app, paths::AUTHENTICATE, "suite", "guess", from));
    let statuses: Vec<u16> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
}
