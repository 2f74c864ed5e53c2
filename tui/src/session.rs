//! Which server, which user, which token: the precedence rules shared by the
//! scripting commands and the TUI.
//!
//! Server: `--server` flag > `STROP_SERVER` > saved settings > the default
//! `http://127.0.0.1:5000`. User: `--user` (or a command's USER argument) >
//! the last user saved for that server. Token: `STROP_TOKEN` > the OS keyring
//! entry for (server, user).

use secrecy::{ExposeSecret, SecretString};

use crate::client::{ClientError, DEFAULT_SERVER, normalize_server};
use crate::settings::{Settings, SettingsError};
use crate::token_store::{StoreError, TokenStore};

/// Overrides the keyring token (for scripts and keyring-less machines).
pub const TOKEN_ENV: &str = "STROP_TOKEN";

/// Where the server address came from; the TUI asks for one on first run
/// (`Default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSource {
    /// `--server` or `STROP_SERVER`.
    Explicit,
    /// The saved settings.
    Saved,
    /// Nothing named one: [`DEFAULT_SERVER`].
    Default,
}

/// Where a token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `STROP_TOKEN`: never written to or deleted from the keyring.
    Env,
    /// The OS keyring entry for (server, user).
    Keyring,
}

/// Register or log in: the one credentials path of both front ends (the
/// form or the command, the request, the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsMode {
    Login,
    Register,
}

impl CredentialsMode {
    /// The command that sends them: `strop login`, `strop register`.
    pub fn command(self) -> &'static str {
        match self {
            CredentialsMode::Login => "login",
            CredentialsMode::Register => "register",
        }
    }
}

/// What the server granted for the credentials.
#[derive(Debug, Clone)]
pub enum Granted {
    /// A new account: the server's sentence.
    Registered(String),
    /// A login: a fresh token.
    Token(SecretString),
}

/// Sends `user`'s credentials in `mode`.
pub async fn send_credentials(
    client: &crate::client::Client,
    mode: CredentialsMode,
    user: &str,
    password: &SecretString,
) -> Result<Granted, ClientError> {
    match mode {
        CredentialsMode::Register => client
            .register(user, password)
            .await
            .map(Granted::Registered),
        CredentialsMode::Login => client
            .authenticate(user, password)
            .await
            .map(Granted::Token),
    }
}

/// Whether two tokens are the same token.
pub fn same_secret(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

/// Someone logged in: exists exactly when there is a token to send, so a
/// screen that needs one holds a `Session` rather than an `Option`. The
/// token is a [`SecretString`] (redacted in `Debug`, zeroed when dropped);
/// tests compare sessions with `app::message::test_eq`.
#[derive(Debug, Clone)]
pub struct Session {
    /// Normalized server address the token belongs to.
    pub server: String,
    /// Whose token it is. Empty only for a `STROP_TOKEN` not yet checked
    /// (the server names its owner).
    pub user: String,
    pub token: SecretString,
    /// Where the token came from: `Env` is never stored nor deleted.
    pub source: TokenSource,
}

/// Everything `strop` knows at start-up, before talking to anyone: what
/// `main` hands to the TUI (`app::run`) and to the scripting commands.
#[derive(Debug, Clone)]
pub struct Launch {
    /// `--server` / `STROP_SERVER`, as typed (not yet normalized).
    pub server_arg: Option<String>,
    /// `--user` / `STROP_USER`.
    pub user_arg: Option<String>,
    /// `STROP_TOKEN`, when set and not empty.
    pub env_token: Option<SecretString>,
    /// The saved settings (default when none or unreadable).
    pub settings: Settings,
    /// Why the settings could not be read, if they could not: the TUI shows
    /// it in the status bar, commands ignore it.
    pub settings_error: Option<SettingsError>,
}

impl Launch {
    /// Reads the settings and `STROP_TOKEN`; flags come from clap.
    pub fn new(server_arg: Option<String>, user_arg: Option<String>) -> Launch {
        let (settings, settings_error) = Settings::load();
        let env_token = std::env::var(TOKEN_ENV)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        Launch {
            server_arg: server_arg.filter(|s| !s.trim().is_empty()),
            user_arg: user_arg.filter(|u| !u.is_empty()),
            env_token,
            settings,
            settings_error,
        }
    }

    /// The server to use, normalized, and where it came from.
    pub fn server(&self) -> Result<(String, ServerSource), ClientError> {
        if let Some(arg) = &self.server_arg {
            return Ok((normalize_server(arg)?, ServerSource::Explicit));
        }
        if let Some(saved) = &self.settings.server
            && let Ok(server) = normalize_server(saved)
        {
            return Ok((server, ServerSource::Saved));
        }
        Ok((DEFAULT_SERVER.to_string(), ServerSource::Default))
    }

    /// The user to act as on `server`: the flag, else the last user saved
    /// for that server.
    pub fn user_for(&self, server: &str) -> Option<String> {
        self.user_arg
            .clone()
            .or_else(|| self.settings.last_user_for(server).map(str::to_string))
    }

    /// The token to use for `user` on `server`: `STROP_TOKEN`, else the
    /// keyring. Blocks on the keyring: call from `spawn_blocking` in async code.
    pub fn token_for(
        &self,
        server: &str,
        user: Option<&str>,
    ) -> Result<Option<(SecretString, TokenSource)>, StoreError> {
        if let Some(token) = &self.env_token {
            return Ok(Some((token.clone(), TokenSource::Env)));
        }
        let Some(user) = user else {
            return Ok(None);
        };
        let store = TokenStore::open()?;
        Ok(store
            .get(server, user)?
            .map(|token| (token, TokenSource::Keyring)))
    }
}

// The session rules both front ends follow (issue 17: the CLI and the TUI
// had two copies, and a CLI login threw an open TUI out as "expired").
//
// A login stores its token and revokes the one it replaces (a token nobody
// keeps must not stay valid until it expires). Whoever was still using the
// replaced token on this machine is not thrown out: when the server refuses
// it, [`newer_token`] finds the new one in the keyring and that front end
// carries on with it. A logout forgets the token here whatever the server
// said.

/// Stores `token` for (server, user); returns the token it replaced when
/// that was a different one (to revoke with [`revoke_replaced`]).
/// Blocking: the keyring.
pub fn store_token(
    store: &TokenStore,
    server: &str,
    user: &str,
    token: &SecretString,
) -> Result<Option<SecretString>, StoreError> {
    let previous = store.get(server, user)?;
    store.set(server, user, token)?;
    Ok(previous.filter(|old| !same_secret(old, token)))
}

/// After a login: the replaced token is revoked on the server (failures
/// ignored: it is forgotten here either way).
pub async fn revoke_replaced(client: &crate::client::Client, replaced: Option<SecretString>) {
    if let Some(old) = replaced {
        let _ = client.with_token(Some(old)).logout().await;
    }
}

/// What the keyring holds for (server, user) after the server refused a
/// token: what tells a login or log-out elsewhere on this machine from a
/// revocation or expiry that only the server knows of.
#[derive(Debug, Clone)]
pub enum Stored {
    /// Another login here replaced the refused token: carry on with this one.
    Newer(SecretString),
    /// The refused token itself: revoked elsewhere or expired.
    Same,
    /// No token: another strop here logged out (or deleted the account).
    Nothing,
}

/// The server refused `refused`: what the keyring now holds for (server,
/// user). Blocking: the keyring, and up to 0.6 s while it still holds
/// `refused`.
pub fn newer_token(
    store: &TokenStore,
    server: &str,
    user: &str,
    refused: &SecretString,
) -> Result<Stored, StoreError> {
    let read = || -> Result<Stored, StoreError> {
        Ok(match store.get(server, user)? {
            Some(t) if same_secret(&t, refused) => Stored::Same,
            Some(t) => Stored::Newer(t),
            None => Stored::Nothing,
        })
    };
    // A log-out here revokes on the server first and forgets the keyring
    // entry right after: a refusal can arrive in between, so give it a moment.
    for _ in 0..SETTLE_TRIES {
        match read()? {
            Stored::Same => std::thread::sleep(SETTLE_PAUSE),
            other => return Ok(other),
        }
    }
    read()
}

/// How often and how long [`newer_token`] waits for a log-out elsewhere to
/// reach the keyring (at most 0.6 s, only for a refused token).
const SETTLE_TRIES: u32 = 3;
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// Said when the server refuses a session's token, whether or not the
/// keyring still holds it: the 401 does not say why, and a sibling strop
/// may have removed the entry after a refusal of its own, so the sentence
/// is true of every cause (the TUI and the CLI say the same).
pub const SESSION_ENDED: &str = "Your session has ended (it expired, or was logged out \
     elsewhere, e.g. by 'log out all others'); please log in again.";

/// Said when the token in STROP_TOKEN is refused (TUI and CLI alike).
pub const ENV_TOKEN_REFUSED: &str =
    "The token in STROP_TOKEN was refused: it has expired or was revoked.";

/// A logout, whatever the server answered: the token is gone from here.
pub fn forget_token(store: &TokenStore, server: &str, user: &str) -> Result<(), StoreError> {
    store.delete(server, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(server_arg: Option<&str>, saved: Option<&str>, last: Option<&str>) -> Launch {
        Launch {
            server_arg: server_arg.map(str::to_string),
            user_arg: None,
            env_token: None,
            settings: Settings {
                server: saved.map(str::to_string),
                last_user: last.map(str::to_string),
                ..Settings::default()
            },
            settings_error: None,
        }
    }

    #[test]
    fn server_precedence_flag_then_saved_then_default() {
        let l = launch(Some("h:1"), Some("http://saved:2"), None);
        assert_eq!(
            l.server().unwrap(),
            ("http://h:1".to_string(), ServerSource::Explicit)
        );
        let l = launch(None, Some("http://saved:2/"), None);
        assert_eq!(
            l.server().unwrap(),
            ("http://saved:2".to_string(), ServerSource::Saved)
        );
        let l = launch(None, None, None);
        assert_eq!(
            l.server().unwrap(),
            (DEFAULT_SERVER.to_string(), ServerSource::Default)
        );
        assert!(launch(Some("ftp://x"), None, None).server().is_err());
    }

    #[test]
    fn user_flag_wins_and_last_user_is_per_server() {
        let mut l = launch(None, Some("http://a:1"), Some("ann"));
        assert_eq!(l.user_for("http://a:1").as_deref(), Some("ann"));
        assert_eq!(l.user_for("http://b:1"), None);
        l.user_arg = Some("bob".into());
        assert_eq!(l.user_for("http://a:1").as_deref(), Some("bob"));
    }

    #[test]
    fn env_token_wins_without_touching_the_keyring() {
        let mut l = launch(None, None, None);
        l.env_token = Some("abc".into());
        let found = l.token_for("http://a:1", None).unwrap();
        assert_eq!(
            found.map(|(t, src)| (t.expose_secret().to_string(), src)),
            Some(("abc".to_string(), TokenSource::Env))
        );
        l.env_token = None;
        assert!(l.token_for("http://a:1", None).unwrap().is_none());
    }
}
