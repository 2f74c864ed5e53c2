//! Failures of the scripting commands: one sentence and one exit code each.

use crate::client::ClientError;
use crate::settings::SettingsError;
use crate::token_store::StoreError;
use strop_common::api::ErrorCode;

/// Process exit codes (also listed in `strop --help`).
pub mod exit {
    pub const OK: u8 = 0;
    /// Anything not covered below.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code for usage errors).
    pub const USAGE: u8 = 2;
    /// Wrong credentials, not logged in, expired or revoked token.
    pub const AUTH: u8 = 3;
    /// The server cannot be reached or timed out.
    pub const UNREACHABLE: u8 = 4;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("{}", not_logged_in(server, user.as_deref()))]
    NotLoggedIn {
        server: String,
        user: Option<String>,
    },
    /// `logout` could not revoke the token on the server (down, or an
    /// error); the keyring entry, if any, is gone all the same.
    #[error("{}", server_not_told(*forgotten, cause))]
    ServerNotTold { forgotten: bool, cause: ClientError },
    #[error("{}", crate::session::ENV_TOKEN_REFUSED)]
    EnvTokenRefused,
    /// A keyring token was refused and its entry is gone meanwhile.
    #[error("{}", crate::session::SESSION_ENDED)]
    LoggedOutElsewhere,
    /// The command line was fine for clap but not for us.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Other(String),
}

fn not_logged_in(server: &str, user: Option<&str>) -> String {
    match user {
        Some(user) => format!(
            "{user} is not logged in to {server}; run `strop login {user}` (or set STROP_TOKEN)."
        ),
        None => format!(
            "You are not logged in to {server}; run `strop login USER` (or set STROP_TOKEN)."
        ),
    }
}

fn server_not_told(forgotten: bool, cause: &ClientError) -> String {
    let here = if forgotten {
        "Logged out on this machine (the token is deleted from the keyring)"
    } else {
        "Nothing to forget on this machine (the token came from STROP_TOKEN)"
    };
    format!(
        "{here}, but the server could not be told, so the token stays valid there until it expires. {cause}"
    )
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Client(e) if e.is_unreachable() => exit::UNREACHABLE,
            CliError::ServerNotTold { cause, .. } if cause.is_unreachable() => exit::UNREACHABLE,
            CliError::ServerNotTold { .. } => exit::FAILURE,
            // The address is wrong (a bad value), not the server.
            CliError::Client(
                ClientError::InvalidServer { .. }
                | ClientError::PlainHttp { .. }
                | ClientError::Unsendable { .. },
            ) => exit::USAGE,
            CliError::Client(e) => match e.code() {
                Some(
                    ErrorCode::InvalidCredentials
                    | ErrorCode::InvalidToken
                    | ErrorCode::MissingToken,
                ) => exit::AUTH,
                _ => exit::FAILURE,
            },
            CliError::NotLoggedIn { .. }
            | CliError::EnvTokenRefused
            | CliError::LoggedOutElsewhere => exit::AUTH,
            CliError::Usage(_) => exit::USAGE,
            CliError::Store(_) | CliError::Settings(_) | CliError::Other(_) => exit::FAILURE,
        }
    }
}

/// What to do with a clap failure.
#[derive(Debug)]
pub enum ParseFailure {
    /// `--help` or `--version`: print it (clap picks colors) and exit 0.
    Show(clap::Error),
    /// A usage error, as the one line `strop: ...` (exit code 2).
    Usage(String),
}

pub(super) fn clap_failure(e: clap::Error) -> ParseFailure {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ParseFailure::Show(e),
        _ => ParseFailure::Usage(format!("strop: {}", one_line_usage(&e.to_string()))),
    }
}

/// clap's multi-line report ("error: ...", indented values, tips, usage)
/// folded into one sentence. Tips stay: they carry clap's "a similar
/// subcommand exists: 'history'" for a typo.
fn one_line_usage(report: &str) -> String {
    let mut parts = Vec::new();
    let mut tips = Vec::new();
    for line in report.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() {
            continue;
        }
        match line.strip_prefix("tip: ") {
            Some(tip) => tips.push(tip),
            None => parts.push(line.strip_prefix("error: ").unwrap_or(line)),
        }
    }
    let sentence = parts.join(" ");
    let mut clauses = vec![sentence.trim_end_matches('.')];
    clauses.extend(tips.iter().map(|t| t.trim_end_matches('.')));
    format!("{}; see `strop --help`.", clauses.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn usage_errors_fold_to_one_line() {
        let usage = |args: &[&str]| match clap_failure(
            crate::cli::Cli::try_parse_from(args).unwrap_err(),
        ) {
            ParseFailure::Usage(line) => line,
            ParseFailure::Show(e) => panic!("not a usage error: {e}"),
        };
        let line = usage(&["strop", "reverse"]);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with("strop: "), "{line}");
        assert!(line.contains("<TEXT>"), "{line}");

        let line = usage(&["strop", "--bogus"]);
        assert!(line.contains("--bogus"), "{line}");
        assert!(!line.contains('\n'), "{line}");

        // A typo keeps clap's suggestion.
        let line = usage(&["strop", "histroy"]);
        assert!(
            line.contains(
                "unrecognized subcommand 'histroy'; a similar subcommand exists: 'history'"
            ),
            "{line}"
        );

        let line = usage(&["strop", "history", "--limit", "0"]);
        assert!(line.contains("--limit"), "{line}");
        assert!(matches!(
            clap_failure(crate::cli::Cli::try_parse_from(["strop", "--help"]).unwrap_err()),
            ParseFailure::Show(_)
        ));
    }

    #[test]
    fn exit_codes_follow_the_kind_of_failure() {
        let api = |code: ErrorCode| {
            CliError::Client(ClientError::Api {
                status: code.status(),
                code,
                message: String::new(),
                retry_after: None,
            })
        };
        assert_eq!(api(ErrorCode::InvalidCredentials).exit_code(), exit::AUTH);
        assert_eq!(api(ErrorCode::InvalidToken).exit_code(), exit::AUTH);
        assert_eq!(api(ErrorCode::UserExists).exit_code(), exit::FAILURE);
        assert_eq!(api(ErrorCode::RateLimited).exit_code(), exit::FAILURE);
        let down = CliError::Client(ClientError::Unreachable {
            server: "http://x".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(down.exit_code(), exit::UNREACHABLE);
        let not_in = CliError::NotLoggedIn {
            server: "http://x".into(),
            user: Some("ann".into()),
        };
        assert_eq!(not_in.exit_code(), exit::AUTH);
        assert!(not_in.to_string().contains("strop login ann"));
    }
}
