//! The HTTP client for the strop API: `strop_common::api` types in and out,
//! every failure turned into one plain sentence for a person.

mod accounts;

use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use strop_common::api::{
    Credentials, ErrorBody, ErrorCode, Function, HistoryEntry, HistoryQuery, HistoryResponse,
    MessageResponse, StatusResponse, StropRequest, StropResponse, TokenResponse, WhoAmIResponse,
    paths,
};

/// The server address used when neither a flag, the environment nor the saved
/// settings name one (the seed's `flask run` port).
pub const DEFAULT_SERVER: &str = strop_common::DEFAULT_SERVER_URL;

pub use accounts::fresh_key;

/// The one rule for both front ends (docs/client.md): neither sends a run
/// whose input is empty or only white space; both say this. The API itself
/// still accepts an empty string.
pub const EMPTY_INPUT: &str = "Nothing ran: the input is empty. Type some text first.";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// `/events` is meant to stay open: no deadline for the whole response...
const STREAM_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// ...but three missed heartbeats end it, so a stalled server or proxy (which
/// TCP keepalive cannot see: its kernel still answers) shows as a dropped
/// stream that is then reopened. Every read restarts this; other requests
/// end far sooner by [`REQUEST_TIMEOUT`]. A reader that stops polling the
/// stream for this long (stdout blocked on a paused pager) also sees it end,
/// and simply reopens it with `Last-Event-ID`.
const STREAM_IDLE: Duration = strop_common::EVENTS_HEARTBEAT.saturating_mul(3);

/// What the live history stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// An entry committed for this user (the `/get-history` JSON).
    Entry(HistoryEntry),
    /// Entries of this user were deleted (here or on another client).
    /// Not replayed on a resume: a client reloads what it shows on reconnect.
    Deleted(strop_common::DeleteEvent),
    /// The server ended the stream: the token was revoked or expired.
    Ended(ClientError),
}

/// A cheap-to-clone handle on one server, optionally carrying a token
/// (a [`SecretString`]: `Debug` shows it redacted).
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<SecretString>,
}

/// Why a request failed, worded for the person at the keyboard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("\"{input}\" is not a server address: {reason}.")]
    InvalidServer { input: String, reason: String },
    #[error("Cannot reach the server at {server}: {reason}. Is strop-server running?")]
    Unreachable { server: String, reason: String },
    /// The request could not even be built from what was given (a search
    /// too long for a URL, a token that is no header value): the input's
    /// fault, never the server's; nothing was sent.
    #[error("{}", unsendable(reason))]
    Unsendable { reason: String },
    #[error(
        "The server at {server} did not answer {}; it may be overloaded.",
        waited(*seconds, *tries)
    )]
    Timeout {
        server: String,
        /// Each try's deadline.
        seconds: u64,
        /// Tries that timed out (a lost answer is asked again once).
        tries: u32,
    },
    /// The server answered with its JSON error shape.
    #[error("{}", api_sentence(*code, message))]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        /// The answer's `Retry-After` seconds (a 429 or 503 says when to
        /// try again).
        retry_after: Option<u64>,
    },
    /// `https://` to a server that answered in plain HTTP (strop-server
    /// itself speaks no TLS; a proxy in front of it does).
    #[error(
        "The server at {server} answered in plain HTTP, not HTTPS; the address likely \
         should start with http:// ({plain})."
    )]
    PlainHttp { server: String, plain: String },
    /// Something answered, but not the way strop-server does.
    #[error("The server at {server} gave an unexpected answer ({detail}); is it a strop server?")]
    Unexpected { server: String, detail: String },
}

/// Why a request could not be sent, as a sentence about the input.
fn unsendable(reason: &str) -> String {
    // reqwest: "Parsed Url is not a valid Uri" (longer than a URI can be).
    if reason.contains("not a valid Uri") {
        "This request is too long to send (its address would be longer than 64 KB); \
         shorten the search or the other text in it."
            .into()
    } else {
        format!("This request cannot be sent as given ({reason}); check the values passed.")
    }
}

/// Our own wording for the codes a person meets often; the server's
/// sentence otherwise (it is written for people too).
fn api_sentence(code: ErrorCode, message: &str) -> String {
    match code {
        ErrorCode::InvalidCredentials => "Wrong username or password.".into(),
        ErrorCode::InvalidToken => crate::session::SESSION_ENDED.into(),
        ErrorCode::MissingToken => "You are not logged in; please log in first.".into(),
        ErrorCode::UserExists => "That username is taken.".into(),
        ErrorCode::Unavailable => {
            "The server cannot reach its database right now; try again in a moment.".into()
        }
        ErrorCode::Internal => "The server hit an internal error; its log has the details.".into(),
        // The server's sentence names the wait ("try again in 3 seconds").
        ErrorCode::RateLimited if !message.trim().is_empty() => as_sentence(message),
        ErrorCode::RateLimited => "Too many attempts; wait a few seconds and try again.".into(),
        _ if !message.trim().is_empty() => as_sentence(message),
        _ => format!("The server refused the request ({code:?})."),
    }
}

impl ClientError {
    /// How long the server asked us to wait before trying again, for a 429
    /// or 503 that said so.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api {
                retry_after: Some(secs),
                ..
            } => Some(Duration::from_secs(*secs)),
            _ => None,
        }
    }

    /// True for a 429: the server is fine but wants this caller to wait.
    pub fn is_rate_limited(&self) -> bool {
        self.code() == Some(ErrorCode::RateLimited)
    }

    /// True when the token is missing, unknown, revoked or expired: the
    /// caller should send the person back to the login form.
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self.code(),
            Some(ErrorCode::InvalidToken | ErrorCode::MissingToken)
        )
    }

    /// The server's machine-readable code, when the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when no answer came back at all (down, unreachable, timed out).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Timeout { .. }
        )
    }
}

/// Turns what a person types ("localhost:5000", "http://h/", "https://h")
/// into the base URL requests are built on: a scheme, no trailing slash.
pub fn normalize_server(input: &str) -> Result<String, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidServer {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_string()
    } else {
        format!("http://{trimmed}")
    };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http:// and https:// are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not contain a user name or password"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

impl Client {
    /// A client for `server` ("host:port" or "http(s)://...").
    pub fn new(server: &str) -> Result<Client, ClientError> {
        let base = normalize_server(server)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .read_timeout(STREAM_IDLE)
            .user_agent(format!("strop/{}", strop_common::VERSION))
            .build()
            .map_err(|e| ClientError::InvalidServer {
                input: server.to_string(),
                reason: format!("cannot set up HTTP: {}", chain_reason(&e)),
            })?;
        Ok(Client {
            base,
            http,
            token: None,
        })
    }

    /// The same server and connection pool, with this token (or none).
    pub fn with_token(&self, token: Option<SecretString>) -> Client {
        Client {
            token,
            ..self.clone()
        }
    }

    /// The normalized base URL, e.g. `http://127.0.0.1:5000`.
    pub fn server(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_ref()
    }

    /// `GET /healthz`: Ok when a strop server answers.
    pub async fn health(&self) -> Result<(), ClientError> {
        let status: StatusResponse = self.send(Method::GET, paths::HEALTHZ, None::<&()>).await?;
        if status.status == "ok" {
            Ok(())
        } else {
            Err(self.unexpected(format!("health status \"{}\"", status.status)))
        }
    }

    /// Creates an account; returns the server's message.
    pub async fn register(
        &self,
        user: &str,
        password: &SecretString,
    ) -> Result<String, ClientError> {
        let body = Credentials {
            username: user.to_string(),
            password: password.expose_secret().to_string(),
        };
        // Safe to retry: a lost answer does not turn into "name taken".
        let reply: MessageResponse = self.send_once(paths::REGISTER, &body, &fresh_key()).await?;
        Ok(reply.message)
    }

    /// Logs in; returns a fresh token.
    pub async fn authenticate(
        &self,
        user: &str,
        password: &SecretString,
    ) -> Result<SecretString, ClientError> {
        let body = Credentials {
            username: user.to_string(),
            password: password.expose_secret().to_string(),
        };
        let reply: TokenResponse = self
            .send(Method::POST, paths::AUTHENTICATE, Some(&body))
            .await?;
        Ok(reply.token.into())
    }

    /// Runs one string operation; returns its output. One call is one user
    /// action: it carries a fresh `Idempotency-Key` and is retried once with
    /// it after a lost answer or a 503, so it is recorded at most once.
    pub async fn run(&self, f: Function, input: &str) -> Result<String, ClientError> {
        self.run_keyed(f, input, &fresh_key()).await
    }

    /// [`Self::run`] with the caller's key (an import derives it from the entry).
    pub async fn run_keyed(
        &self,
        f: Function,
        input: &str,
        key: &str,
    ) -> Result<String, ClientError> {
        let body = StropRequest {
            input: input.to_string(),
        };
        let reply: StropResponse = self.send_once(f.path(), &body, key).await?;
        Ok(reply.output)
    }

    pub async fn history(&self, q: &HistoryQuery) -> Result<HistoryResponse, ClientError> {
        let request = self.request(Method::GET, paths::HISTORY).query(q);
        self.execute(request).await
    }

    /// The user the token belongs to.
    pub async fn whoami(&self) -> Result<String, ClientError> {
        Ok(self.whoami_full().await?.user)
    }

    /// `/whoami` whole: the user and, when the server says, when the token
    /// expires.
    pub async fn whoami_full(&self) -> Result<WhoAmIResponse, ClientError> {
        self.send(Method::GET, paths::WHOAMI, None::<&()>).await
    }

    /// `GET /events`: the token owner's entries as they are committed, by any
    /// server on the database; with `after` (`Last-Event-ID`), every later
    /// entry first. The stream ends when the connection does; reconnecting
    /// is the caller's (it knows the last id it saw).
    pub async fn events(
        &self,
        after: Option<i64>,
    ) -> Result<impl Stream<Item = Result<LiveEvent, ClientError>> + use<>, ClientError> {
        self.events_pulsed(after, || {}).await
    }

    /// [`Self::events`], calling `pulse` for every chunk the server sends
    /// (heartbeat comments included, which the parser drops): how the TUI
    /// tells a silent server from a quiet one.
    pub async fn events_pulsed<P>(
        &self,
        after: Option<i64>,
        pulse: P,
    ) -> Result<impl Stream<Item = Result<LiveEvent, ClientError>> + use<P>, ClientError>
    where
        P: Fn() + Send + 'static,
    {
        let mut request = self
            .request(Method::GET, paths::EVENTS)
            .timeout(STREAM_TIMEOUT);
        if let Some(id) = after {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = self.open_stream(request).await?;
        let me = self.clone();
        Ok(response
            .bytes_stream()
            .inspect(move |_| pulse())
            .eventsource()
            .filter_map(move |item| std::future::ready(me.live_event(item))))
    }

    /// One parsed SSE message as a [`LiveEvent`]; `None` for what strop
    /// does not use (comments are already gone, unknown event names).
    fn live_event(
        &self,
        item: Result<eventsource_stream::Event, EventStreamError<reqwest::Error>>,
    ) -> Option<Result<LiveEvent, ClientError>> {
        let event = match item {
            Ok(event) => event,
            Err(EventStreamError::Transport(e)) => return Some(Err(self.stream_transport(&e))),
            Err(e) => return Some(Err(self.unexpected(format!("a broken event stream: {e}")))),
        };
        let bad = |what: &str| Err(self.unexpected(format!("an {what} event strop cannot read")));
        match event.event.as_str() {
            "entry" => Some(
                serde_json::from_str(&event.data)
                    .map(LiveEvent::Entry)
                    .or_else(|_| bad("entry")),
            ),
            "delete" => Some(
                serde_json::from_str(&event.data)
                    .map(LiveEvent::Deleted)
                    .map_err(|_| self.unexpected("a delete event strop cannot read".into())),
            ),
            "error" => Some(match serde_json::from_str::<ErrorBody>(&event.data) {
                Ok(body) => Ok(LiveEvent::Ended(ClientError::Api {
                    status: body.error.status(),
                    code: body.error,
                    message: body.message,
                    retry_after: None,
                })),
                Err(_) => bad("error"),
            }),
            _ => None,
        }
    }

    /// Revokes the token server-side.
    pub async fn logout(&self) -> Result<(), ClientError> {
        let _: MessageResponse = self.send(Method::POST, paths::LOGOUT, None::<&()>).await?;
        Ok(())
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            // The one place a token leaves the process.
            let bearer = format!("Bearer {}", token.expose_secret());
            request = request.header(reqwest::header::AUTHORIZATION, bearer);
        }
        request
    }

    async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.execute(request).await
    }

    async fn execute<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        let wait = retry_after(&response);
        let bytes = response.bytes().await.map_err(|e| self.transport(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|_| {
                self.unexpected(format!(
                    "HTTP {} with a body strop cannot read",
                    status.as_u16()
                ))
            });
        }
        Err(self.refusal(status, wait, &bytes))
    }

    /// A non-2xx answer: the server's error JSON, or what else came.
    /// Sends a request whose answer is a stream: its response once the
    /// status says yes, else the refusal in the answer's body.
    async fn open_stream(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let response = request
            .send()
            .await
            .map_err(|e| self.stream_transport(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = retry_after(&response);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.stream_transport(&e))?;
        Err(self.refusal(status, wait, &bytes))
    }

    fn refusal(&self, status: StatusCode, retry_after: Option<u64>, bytes: &[u8]) -> ClientError {
        match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(body) => ClientError::Api {
                status: status.as_u16(),
                code: body.error,
                message: body.message,
                retry_after,
            },
            Err(_) => self.unexpected(describe_status(status)),
        }
    }

    fn unexpected(&self, detail: String) -> ClientError {
        ClientError::Unexpected {
            server: self.base.clone(),
            detail,
        }
    }

    /// A failed exchange, for requests bounded by [`REQUEST_TIMEOUT`].
    fn transport(&self, e: &reqwest::Error) -> ClientError {
        self.transport_within(e, REQUEST_TIMEOUT)
    }

    /// [`Self::transport`] for `/events`, whose only deadline is [`STREAM_IDLE`].
    fn stream_transport(&self, e: &reqwest::Error) -> ClientError {
        self.transport_within(e, STREAM_IDLE)
    }

    /// A failed exchange; a timeout names `deadline` (or the connect timeout).
    fn transport_within(&self, e: &reqwest::Error, deadline: Duration) -> ClientError {
        if e.is_builder() {
            return ClientError::Unsendable {
                reason: chain_reason(e),
            };
        }
        if e.is_timeout() {
            let seconds = if e.is_connect() {
                CONNECT_TIMEOUT
            } else {
                deadline
            };
            return ClientError::Timeout {
                server: self.base.clone(),
                seconds: seconds.as_secs(),
                tries: 1,
            };
        }
        let reason = chain_reason(e);
        // rustls read "HTTP/1.1 400" where a TLS record should be.
        if self.base.starts_with("https://") && reason.contains("InvalidContentType") {
            return ClientError::PlainHttp {
                server: self.base.clone(),
                plain: self.base.replacen("https://", "http://", 1),
            };
        }
        ClientError::Unreachable {
            server: self.base.clone(),
            reason,
        }
    }
}

/// An answer's `Retry-After`, in whole seconds (the server sends no dates).
fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How long a timed-out request waited, as the sentence says it.
fn waited(seconds: u64, tries: u32) -> String {
    match tries {
        0 | 1 => format!("within {seconds} seconds"),
        n => format!(
            "within {seconds} seconds, {n} times ({} seconds in all)",
            seconds * u64::from(n)
        ),
    }
}

fn describe_status(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The most specific cause in an error chain, as a short lowercase phrase:
/// "connection refused", "dns error: failed to lookup address information".
fn chain_reason(e: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return crate::settings::io_reason(io);
        }
        innermost = cause;
        source = cause.source();
    }
    let text = innermost.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    crate::settings::lowercase_first(text.trim_end_matches('.'))
}

/// A server message as one sentence for a status line: newlines folded,
/// a capital first letter, a final full stop.
fn as_sentence(message: &str) -> String {
    let folded = message.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = folded.chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_normalize() {
        for (input, want) in [
            ("127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("localhost:5000/", "http://localhost:5000"),
            ("http://example.com", "http://example.com"),
            ("https://example.com/", "https://example.com"),
            (" https://example.com/strop/ ", "https://example.com/strop"),
        ] {
            assert_eq!(normalize_server(input).unwrap(), want, "{input}");
        }
        for bad in ["", "ftp://x", "http://", "http://u:p@h", "h:5000?x=1"] {
            let err = normalize_server(bad).unwrap_err();
            assert!(
                matches!(err, ClientError::InvalidServer { .. }),
                "{bad}: {err:?}"
            );
            assert!(err.to_string().ends_with('.'), "{err}");
        }
    }

    #[test]
    fn api_errors_read_as_sentences() {
        let api = |code, message: &str| ClientError::Api {
            status: code_status(code),
            code,
            message: message.into(),
            retry_after: None,
        };
        fn code_status(code: ErrorCode) -> u16 {
            code.status()
        }
        assert_eq!(
            api(ErrorCode::InvalidCredentials, "x").to_string(),
            "Wrong username or password."
        );
        assert_eq!(
            api(ErrorCode::UserExists, "x").to_string(),
            "That username is taken."
        );
        let expired = api(ErrorCode::InvalidToken, "x");
        assert!(expired.is_auth_failure());
        assert_eq!(expired.to_string(), crate::session::SESSION_ENDED);
        assert!(api(ErrorCode::MissingToken, "x").is_auth_failure());
        assert!(!api(ErrorCode::InvalidCredentials, "x").is_auth_failure());
        assert_eq!(
            api(ErrorCode::InvalidRequest, "Field \"input\"\nis missing.").to_string(),
            "Field \"input\" is missing."
        );
        assert_eq!(
            api(
                ErrorCode::InvalidRequest,
                "limit must be between 1 and 1000"
            )
            .to_string(),
            "Limit must be between 1 and 1000."
        );
        assert_eq!(
            api(
                ErrorCode::RateLimited,
                "Too many attempts; try again in 3 seconds."
            )
            .to_string(),
            "Too many attempts; try again in 3 seconds."
        );
        assert_eq!(
            api(ErrorCode::RateLimited, "").to_string(),
            "Too many attempts; wait a few seconds and try again."
        );
    }
}
