//! Request and response bodies of the strop HTTP API (SPEC §1).
//!
//! Field order is alphabetical on purpose: the original Flask service sorted
//! JSON keys, and its clients saw them in that order.

use serde::{Deserialize, Deserializer, Serialize};

#[cfg(feature = "openapi")]
use utoipa::{IntoParams, ToSchema};

/// Route paths, shared by the server's filters and the client's requests.
pub mod paths {
    pub const ROOT: &str = "/";
    pub const REGISTER: &str = "/register";
    pub const AUTHENTICATE: &str = "/authenticate";
    pub const REVERSE: &str = "/reverse";
    pub const PIGLATIN: &str = "/piglatin";
    pub const HISTORY: &str = "/get-history";
    pub const LOGOUT: &str = "/logout";
    pub const WHOAMI: &str = "/whoami";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const OPENAPI: &str = "/openapi.json";
    pub const METRICS: &str = "/metrics";
    pub const EVENTS: &str = "/events";
    pub const HISTORY_EXPORT: &str = "/history/export";
    /// `DELETE /history` (all, with [`super::DELETE_ALL_PARAM`]); `DELETE
    /// /history/{id}` is this plus `/` and the entry's id.
    pub const HISTORY_ENTRIES: &str = "/history";
    pub const SESSIONS: &str = "/sessions";
    pub const PASSWORD: &str = "/password";
    pub const ACCOUNT: &str = "/account";
}

/// The request header that makes `/reverse`, `/piglatin` and `/register`
/// safe to retry (IETF httpapi `Idempotency-Key`).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest accepted `Idempotency-Key`, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// How long the server keeps an idempotent answer, in hours.
pub const IDEMPOTENCY_HOURS: u64 = 24;

/// The query parameter `DELETE /history` needs, set to `true`, to delete
/// every entry of the caller: without it nothing is deleted.
pub const DELETE_ALL_PARAM: &str = "all";

/// Largest accepted request body, in bytes (64 KiB).
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
/// Largest `limit` accepted by `/get-history`.
pub const MAX_HISTORY_LIMIT: u32 = 1000;
/// Most entries `/get-history` returns when no `limit` is given.
pub const HISTORY_CAP: u32 = 10_000;
/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Longest password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// `/events` sends at least this often (a comment line when there is no
/// entry), so a client hearing nothing for several of these may take the
/// stream for dead. Short enough that a hung server shows within 10 s (two
/// missed), long enough that a slow network does not look like one.
pub const EVENTS_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// `{"message": "..."}`: `/`, `/register` and `/logout` answer with this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessageResponse {
    pub message: String,
}

/// Body of `/register` and `/authenticate`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Credentials {
    /// 1–1024 bytes of UTF-8 (the schema can only bound characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub password: String,
    /// 1–64 characters under RFC 8265 (PRECIS `UsernameCasePreserved`):
    /// letters, digits and printable ASCII but space; fullwidth forms mapped,
    /// NFC, case-sensitive. The server documents the exact character set.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub username: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("password", &"<redacted>")
            .field("username", &self.username)
            .finish()
    }
}

/// `{"token": "<32 lowercase hex>"}` from `/authenticate`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenResponse {
    pub token: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenResponse { token: <redacted> }")
    }
}

/// Body of `/reverse` and `/piglatin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StropRequest {
    /// Any string but one holding NUL (PostgreSQL text cannot record it).
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[^\x00]*$"))]
    pub input: String,
}

/// Answer of `/reverse` and `/piglatin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StropResponse {
    pub output: String,
}

/// The two string operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Function {
    Reverse,
    Piglatin,
}

impl Function {
    pub const ALL: [Function; 2] = [Function::Reverse, Function::Piglatin];

    pub fn as_str(self) -> &'static str {
        match self {
            Function::Reverse => "reverse",
            Function::Piglatin => "piglatin",
        }
    }

    /// The route that runs this operation.
    pub fn path(self) -> &'static str {
        match self {
            Function::Reverse => paths::REVERSE,
            Function::Piglatin => paths::PIGLATIN,
        }
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Function {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reverse" => Ok(Function::Reverse),
            "piglatin" => Ok(Function::Piglatin),
            other => Err(format!(
                "unknown function \"{other}\": expected \"reverse\" or \"piglatin\""
            )),
        }
    }
}

/// One row of a user's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HistoryEntry {
    pub function: Function,
    /// Stable, increasing per server database; the paging cursor.
    pub id: i64,
    pub input: String,
    pub output: String,
    /// RFC 1123 in GMT, as the original service sent it:
    /// `Sat, 10 Apr 2021 19:59:53 GMT`.
    pub time: String,
    /// RFC 3339 UTC with milliseconds: `2021-04-10T19:59:53.123Z`.
    pub timestamp: String,
    pub user: String,
}

/// Query of `/get-history`; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// Only entries with an id below this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1))]
    pub before: Option<i64>,
    /// Only entries of this function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<Function>,
    /// The newest `limit` matches (1–1000), still oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 1000))]
    pub limit: Option<u32>,
    /// Whitespace-separated words, each a case-insensitive substring of the
    /// entry's input or output, in any order (`bulk alpha` finds "alpha …
    /// bulk"); one word is a plain substring search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(pattern = r"^[^\x00]*$"))]
    pub q: Option<String>,
}

/// `{"history": [...]}`, oldest first, plus `next_before` when paging.
///
/// `next_before` is absent in the seed's plain form (no `limit`, under the
/// cap), `null` when a limited page has no older matches, and an id to pass as
/// `before` when it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HistoryResponse {
    pub history: Vec<HistoryEntry>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub next_before: Option<Option<i64>>,
}

/// Tells a present `null` (`Some(None)`) from an absent key (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

impl HistoryResponse {
    /// The id to pass as `before` for the next older page, if any.
    pub fn older_page(&self) -> Option<i64> {
        self.next_before.flatten()
    }
}

/// `{"user": "NAME", "expires": "2026-12-10T09:00:00.000Z"}` from
/// `/whoami`: `expires` (RFC 3339 UTC) is when the token stops working; a
/// server that does not say is read as `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WhoAmIResponse {
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// `{"status": "ok"}` from `/healthz`, `{"status": "ready"}` from `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatusResponse {
    pub status: String,
}

/// One live token of the caller, as `GET /sessions` lists it; never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionInfo {
    /// RFC 3339 UTC, when the token was issued.
    pub created: String,
    /// Whether this is the token of the request that asked.
    pub current: bool,
    /// RFC 3339 UTC, when the token stops working.
    pub expires: String,
    /// The session's id, for `DELETE /sessions/{id}`.
    pub id: i64,
    /// RFC 3339 UTC, to the minute: when the token was last used.
    pub last_used: String,
    /// The `User-Agent` that logged in, if it sent one.
    pub user_agent: Option<String>,
}

/// `{"sessions": [...]}` from `GET /sessions`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionsResponse {
    pub sessions: Vec<SessionInfo>,
}

/// Answer of `DELETE /history/{id}` and `DELETE /history?all=true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HistoryDeleted {
    /// How many entries were deleted (1 for one id; 0 or more for all).
    pub deleted: u64,
    pub message: String,
}

/// `data:` of an `event: delete` on `/events`: entries of the caller that
/// are gone. Such an event has no `id:` (it is no cursor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeleteEvent {
    /// These entries are gone.
    pub ids: Vec<i64>,
    /// Set by a delete of all history: every entry with an id up to and
    /// including this one is gone too.
    pub up_to: Option<i64>,
}

impl DeleteEvent {
    /// Whether the entry `id` is among the deleted.
    pub fn covers(&self, id: i64) -> bool {
        self.ids.contains(&id) || self.up_to.is_some_and(|top| id <= top)
    }
}

/// Body of `PUT /password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PasswordChange {
    pub current_password: String,
    /// 1–1024 bytes.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub new_password: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordChange { <redacted> }")
    }
}

/// Body of `DELETE /account`: the password, once more.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AccountDeletion {
    pub password: String,
}

impl std::fmt::Debug for AccountDeletion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountDeletion { <redacted> }")
    }
}

/// Machine-readable error codes; the `error` field of every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: missing, empty or mistyped field, bad query value, bad JSON.
    InvalidRequest,
    /// 401: wrong username or password (the same for both).
    InvalidCredentials,
    /// 401: no `Authorization` header.
    MissingToken,
    /// 401: unknown, revoked or expired token.
    InvalidToken,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 408: the request body stalled.
    RequestTimeout,
    /// 409: the username is taken.
    UserExists,
    /// 409: a request with this `Idempotency-Key` is still being answered.
    IdempotencyInFlight,
    /// 422: this `Idempotency-Key` was used with another request body.
    IdempotencyMismatch,
    /// 413: body over 64 KiB.
    PayloadTooLarge,
    /// 414: the URL is too long to parse.
    UriTooLong,
    /// 415: a Content-Type other than UTF-8 JSON, or a Content-Encoding.
    UnsupportedMediaType,
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
    /// 429: too many login or register attempts; `Retry-After` says when to try again.
    RateLimited,
    /// 431: too many or too large request headers.
    HeadersTooLarge,
    /// 500: a bug; details are in the server log only.
    Internal,
    /// 503: the database cannot be reached, or the server is at its connection limit.
    Unavailable,
    /// A code this client does not know yet (newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The HTTP status the server answers with for this code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::InvalidCredentials | ErrorCode::MissingToken | ErrorCode::InvalidToken => {
                401
            }
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::UserExists | ErrorCode::IdempotencyInFlight => 409,
            ErrorCode::IdempotencyMismatch => 422,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UriTooLong => 414,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::ExpectationFailed => 417,
            ErrorCode::RateLimited => 429,
            ErrorCode::HeadersTooLarge => 431,
            ErrorCode::Internal | ErrorCode::Unknown => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

/// `{"error": "machine_code", "message": "human sentence"}`: every non-2xx body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_entry_keys_are_sorted_like_flask() {
        let entry = HistoryEntry {
            function: Function::Reverse,
            id: 1,
            input: "ab".into(),
            output: "ba".into(),
            time: "Sat, 10 Apr 2021 19:59:53 GMT".into(),
            timestamp: "2021-04-10T19:59:53.123Z".into(),
            user: "wonsun".into(),
        };
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(
            json,
            r#"{"function":"reverse","id":1,"input":"ab","output":"ba","time":"Sat, 10 Apr 2021 19:59:53 GMT","timestamp":"2021-04-10T19:59:53.123Z","user":"wonsun"}"#
        );
    }

    #[test]
    fn next_before_absent_null_and_set_round_trip() {
        for (json, want) in [
            (r#"{"history":[]}"#, None),
            (r#"{"history":[],"next_before":null}"#, Some(None)),
            (r#"{"history":[],"next_before":7}"#, Some(Some(7))),
        ] {
            let parsed: HistoryResponse = serde_json::from_str(json).unwrap();
            assert_eq!(parsed.next_before, want, "{json}");
            assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
        }
    }

    #[test]
    fn unknown_error_codes_still_parse() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"too_soon","message":"Slow down."}"#).unwrap();
        assert_eq!(body.error, ErrorCode::Unknown);
        let body: ErrorBody =
            serde_json::from_str(r#"{"error":"invalid_token","message":"x"}"#).unwrap();
        assert_eq!(body.error, ErrorCode::InvalidToken);
        assert_eq!(body.error.status(), 401);
    }

    #[test]
    fn function_parses_and_prints() {
        for f in Function::ALL {
            assert_eq!(f.as_str().parse::<Function>(), Ok(f));
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        }
        assert!("Reverse".parse::<Function>().is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let t = TokenResponse {
            token: "abc123".into(),
        };
        assert!(!format!("{t:?}").contains("abc123"));
    }
}
