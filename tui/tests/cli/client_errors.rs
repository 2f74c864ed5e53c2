//! `client::Client` against the real server: every failure a person can meet
//! maps to the right `ClientError` and reads as one sentence.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use strop_common::api::{ErrorCode, Function, HistoryQuery};
use strop_tui::client::{Client, ClientError};

use crate::support::{TestServer, free_port, unique_user};

fn client() -> Client {
    Client::new(TestServer::shared().url()).unwrap()
}

fn assert_sentence(e: &ClientError) {
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text:?}");
    assert!(text.ends_with('.') || text.ends_with('?'), "{text:?}");
    assert!(
        text.chars().next().is_some_and(char::is_uppercase),
        "{text:?}"
    );
}

#[tokio::test]
async fn the_happy_path_speaks_the_common_types() {
    let c = client();
    c.health().await.unwrap();
    let user = unique_user("client-ok");
    let message = c.register(&user, &"pw".into()).await.unwrap();
    assert_eq!(message, format!("User \"{user}\" registered succesfully."));
    let token = c.authenticate(&user, &"pw".into()).await.unwrap();
    let authed = c.with_token(Some(token));
    assert_eq!(authed.whoami().await.unwrap(), user);
    assert_eq!(
        authed
            .run(Function::Reverse, "This is my string to reverse")
            .await
            .unwrap(),
        "esrever ot gnirts ym si sihT"
    );
    assert_eq!(authed.run(Function::Piglatin, "").await.unwrap(), "");
    let page = authed
        .history(&HistoryQuery {
            limit: Some(1),
            ..HistoryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.history.len(), 1);
    assert_eq!(page.history[0].function, Function::Piglatin);
    assert!(page.older_page().is_some());
    authed.logout().await.unwrap();
    let gone = authed.whoami().await.unwrap_err();
    assert!(gone.is_auth_failure(), "{gone:?}");
}

#[tokio::test]
async fn server_refusals_map_to_codes_and_sentences() {
    let c = client();
    let user = unique_user("client-err");
    c.register(&user, &"pw".into()).await.unwrap();

    let taken = c.register(&user, &"pw".into()).await.unwrap_err();
    assert_eq!(taken.code(), Some(ErrorCode::UserExists));
    assert_eq!(taken.to_string(), "That username is taken.");

    let wrong = c.authenticate(&user, &"not-it".into()).await.unwrap_err();
    assert_eq!(wrong.code(), Some(ErrorCode::InvalidCredentials));
    assert!(
        !wrong.is_auth_failure(),
        "a wrong password is not a lost session"
    );
    assert_eq!(wrong.to_string(), "Wrong username or password.");

    let missing = c.whoami().await.unwrap_err();
    assert_eq!(missing.code(), Some(ErrorCode::MissingToken));
    assert!(missing.is_auth_failure());

    let bogus = c
        .with_token(Some("0123456789abcdef0123456789abcdef".into()))
        .whoami()
        .await
        .unwrap_err();
    assert_eq!(bogus.code(), Some(ErrorCode::InvalidToken));
    assert!(bogus.is_auth_failure());
    assert_eq!(bogus.to_string(), strop_tui::session::SESSION_ENDED);

    let token = c.authenticate(&user, &"pw".into()).await.unwrap();
    let bad_query = c
        .with_token(Some(token))
        .history(&HistoryQuery {
            limit: Some(0),
            ..HistoryQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_query.code(), Some(ErrorCode::InvalidRequest));
    // The server's own sentence, kept.
    if let ClientError::Api {
        status, message, ..
    } = &bad_query
    {
        assert_eq!(*status, 400);
        let shown = bad_query.to_string().to_lowercase();
        let said = message.trim_end_matches('.').to_lowercase();
        assert!(shown.starts_with(&said), "{bad_query} / {message}");
    }

    for e in [taken, wrong, missing, bogus, bad_query] {
        assert_sentence(&e);
    }
}

#[tokio::test]
async fn nobody_listening_is_unreachable() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let e = Client::new(&url).unwrap().health().await.unwrap_err();
    assert!(e.is_unreachable(), "{e:?}");
    assert_eq!(e.code(), None);
    assert_eq!(
        e.to_string(),
        format!("Cannot reach the server at {url}: connection refused. Is strop-server running?")
    );
    assert_sentence(&e);
}

/// A real socket that answers like a web server that is not strop.
fn fake_http(reply: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    url
}

#[tokio::test]
async fn something_else_answering_is_unexpected_not_a_dump() {
    let url = fake_http(
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 22\r\n\
         Connection: close\r\n\r\n<h1>Not Found</h1>\r\n\r\n",
    );
    let e = Client::new(&url).unwrap().whoami().await.unwrap_err();
    assert!(matches!(e, ClientError::Unexpected { .. }), "{e:?}");
    assert!(e.to_string().contains("HTTP 404 Not Found"), "{e}");
    assert!(!e.to_string().contains("<h1>"), "{e}");
    assert_sentence(&e);

    let url = fake_http(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\
         Connection: close\r\n\r\nhello",
    );
    let e = Client::new(&url).unwrap().health().await.unwrap_err();
    assert!(matches!(e, ClientError::Unexpected { .. }), "{e:?}");
    assert_sentence(&e);
}

/// Tester's finding 6: a run against a hung server waits 10 s, asks again
/// with the same key, waits 10 s more; the sentence says so (it said 10).
#[tokio::test]
async fn a_hung_server_s_sentence_counts_the_retry() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let started = std::time::Instant::now();
    let e = Client::new(&url)
        .unwrap()
        .run(Function::Reverse, "x")
        .await
        .unwrap_err();
    let took = started.elapsed();
    drop(listener);
    assert!(matches!(e, ClientError::Timeout { tries: 2, .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains("did not answer within 10 seconds, 2 times (20 seconds in all)"),
        "{e}"
    );
    assert!(
        took >= Duration::from_secs(20),
        "the sentence is true: {took:?}"
    );
    assert_sentence(&e);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts (the kernel backlog does) but never replies.
    let e = Client::new(&url).unwrap().health().await.unwrap_err();
    drop(listener);
    assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
    assert!(e.is_unreachable());
    assert_sentence(&e);
}

/// New-user test: `https://` in front of a plain-http strop-server gave a
/// TLS library's words; the sentence names the likely cause and the fix.
#[tokio::test]
async fn https_to_a_plain_http_server_names_the_likely_cause() {
    let plain = TestServer::shared().url();
    let https = plain.replacen("http://", "https://", 1);
    let e = Client::new(&https).unwrap().health().await.unwrap_err();
    assert_sentence(&e);
    let text = e.to_string();
    assert!(text.contains("plain HTTP"), "{text}");
    assert!(text.contains(plain), "names the http:// address: {text}");
}
