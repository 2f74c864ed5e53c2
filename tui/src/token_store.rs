//! Where login tokens live: the OS keyring, keyed by server and user.
//!
//! Every entry uses the keyring **service** `strop:<server>` (the normalized
//! server URL, e.g. `strop:http://127.0.0.1:5000`) and the keyring **user**
//! `<user>`. How each store turns that into its own key:
//!
//! * Linux kernel keyring (keyutils, the headless default): a key of type
//!   `user` whose description is `keyring:<user>@strop:<server>` (see
//!   [`kernel_key_description`]), linked into the user's **persistent
//!   keyring** (which outlives sessions; its expiry, 3 days by default, is
//!   reset every time strop opens the store) and into the session keyring of
//!   the `strop` process. Read it from a shell with [`KEYCTL_READ_SCRIPT`]:
//!   `keyctl session - sh -c "$KEYCTL_READ_SCRIPT" - 'keyring:alice@strop:http://127.0.0.1:5000'`
//!   (a bare `keyctl search @s ...` only works in a session that has the
//!   persistent keyring linked in). On a kernel without persistent keyrings
//!   the key lives in the session keyring alone: shared by a user's processes
//!   outside any login session, private to the login session otherwise.
//! * Secret Service (a Linux desktop session bus offering one): an item in the
//!   default collection with attributes `service` and `username` as above.
//! * macOS Keychain / Windows Credential Manager: a generic password for the
//!   same service and account.
//!
//! Never a plain file, and never keyring-core's in-memory mock: a store is
//! chosen explicitly here, not through keyring-core's default.
//!
//! All calls block (a locked Secret Service collection may wait for the
//! person to unlock it): async callers must use `spawn_blocking`.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};
use secrecy::{ExposeSecret, SecretString};

/// Forces a store on Linux: `kernel` or `secret-service` (default: automatic).
pub const BACKEND_ENV: &str = "STROP_KEYRING";

/// The keyring service name for `server` (a normalized URL).
pub fn service_name(server: &str) -> String {
    format!("strop:{server}")
}

/// The kernel keyring description of the key holding `user`'s token on
/// `server`: what `keyctl search @s user <description>` finds.
pub fn kernel_key_description(server: &str, user: &str) -> String {
    // linux-keyutils-keyring-store's default layout: prefix "keyring:",
    // then user, "@", service, and no suffix.
    format!("keyring:{user}@{}", service_name(server))
}

/// A `sh -c` script that prints the token stored under the key description
/// given as `$1`, for use inside `keyctl session - sh -c SCRIPT NAME DESC`:
/// it links the persistent keyring into that fresh session, searches, pipes.
pub const KEYCTL_READ_SCRIPT: &str = r#"keyctl get_persistent @s >/dev/null && id=$(keyctl search @s user "$1") && keyctl pipe "$id""#;

/// Call once at the top of `main`, before any other thread starts.
///
/// A process outside a login session starts on the user's shared session
/// keyring; the kernel store's first use gives the *calling thread* a private
/// session keyring with the persistent keyring linked in, and only threads
/// started after that inherit it. Doing that first use here, on the main
/// thread, lets every runtime thread see the tokens earlier runs saved.
/// Failures are ignored: [`TokenStore::open`] reports them properly.
pub fn prepare_process() {
    #[cfg(target_os = "linux")]
    if let Ok(store) = linux_keyutils_keyring_store::Store::new() {
        use keyring_core::api::CredentialStoreApi;
        let _ = store.build(&service_name("http://probe.invalid"), "probe", None);
    }
}

/// The OS keyring chosen for this machine.
#[derive(Clone)]
pub struct TokenStore {
    store: Arc<CredentialStore>,
    backend: &'static str,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenStore")
            .field("backend", &self.backend)
            .finish()
    }
}

/// A keyring failure, as one sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No keyring works at all on this machine.
    #[error(
        "No OS keyring is available ({detail}), so strop cannot keep your login; set STROP_TOKEN \
         instead, e.g. export STROP_TOKEN=\"$(strop login --print-token USER)\"."
    )]
    Unavailable { detail: String },
    /// The keyring exists but refused or failed this operation.
    #[error("The {backend} refused to {action} the token: {detail}.")]
    Failed {
        backend: &'static str,
        action: &'static str,
        detail: String,
    },
}

impl TokenStore {
    /// Picks the store: on Linux the Secret Service when a session bus offers
    /// one, else the kernel keyring; the native store on macOS and Windows.
    pub fn open() -> Result<TokenStore, StoreError> {
        Self::open_platform()
    }

    #[cfg(target_os = "linux")]
    fn open_platform() -> Result<TokenStore, StoreError> {
        let forced = std::env::var(BACKEND_ENV).unwrap_or_default();
        match forced.trim() {
            "kernel" | "keyutils" => Self::open_kernel(),
            "secret-service" => Self::open_secret_service(),
            "" => {
                let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default();
                if bus.is_empty() {
                    return Self::open_kernel();
                }
                Self::open_secret_service().or_else(|ss| {
                    Self::open_kernel().map_err(|kernel| StoreError::Unavailable {
                        detail: format!("{}; {}", inner(&ss), inner(&kernel)),
                    })
                })
            }
            other => Err(StoreError::Unavailable {
                detail: format!(
                    "{BACKEND_ENV}=\"{other}\" is not one of \"kernel\" or \"secret-service\""
                ),
            }),
        }
    }

    #[cfg(target_os = "linux")]
    fn open_secret_service() -> Result<TokenStore, StoreError> {
        // Connecting opens a session with the service, so a bus without a
        // Secret Service fails here rather than on first use.
        let store = dbus_secret_service_keyring_store::Store::new().map_err(|e| {
            StoreError::Unavailable {
                detail: format!("Secret Service: {}", describe(&e)),
            }
        })?;
        Ok(TokenStore {
            store,
            backend: "Secret Service",
        })
    }

    #[cfg(target_os = "linux")]
    fn open_kernel() -> Result<TokenStore, StoreError> {
        let store =
            linux_keyutils_keyring_store::Store::new().map_err(|e| StoreError::Unavailable {
                detail: format!("kernel keyring: {}", describe(&e)),
            })?;
        let opened = TokenStore {
            store,
            backend: "kernel keyring",
        };
        // Load-bearing probe. Building an entry looks up the session keyring
        // and then links the persistent keyring into it; when the process has
        // no session of its own, that second step moves it from the shared
        // user-session keyring to a private one. Every entry built after this
        // first one therefore sees the persistent keyring (and the tokens
        // earlier runs saved there); the first one would not. It is also
        // where a sandbox that forbids keyctl (Docker's default seccomp) shows.
        opened
            .entry("http://probe.invalid", "probe")
            .map_err(|e| StoreError::Unavailable {
                detail: format!("kernel keyring: {}", inner(&e)),
            })?;
        Ok(opened)
    }

    #[cfg(target_os = "macos")]
    fn open_platform() -> Result<TokenStore, StoreError> {
        let store = apple_native_keyring_store::keychain::Store::new().map_err(|e| {
            StoreError::Unavailable {
                detail: format!("Keychain: {}", describe(&e)),
            }
        })?;
        Ok(TokenStore {
            store,
            backend: "macOS Keychain",
        })
    }

    #[cfg(target_os = "windows")]
    fn open_platform() -> Result<TokenStore, StoreError> {
        let store =
            windows_native_keyring_store::Store::new().map_err(|e| StoreError::Unavailable {
                detail: format!("Credential Manager: {}", describe(&e)),
            })?;
        Ok(TokenStore {
            store,
            backend: "Windows Credential Manager",
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    fn open_platform() -> Result<TokenStore, StoreError> {
        Err(StoreError::Unavailable {
            detail: "strop supports keyrings on Linux, macOS and Windows only".into(),
        })
    }

    /// Which store is in use, for status lines: "kernel keyring", ...
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The token saved for `user` on `server`, if any.
    pub fn get(&self, server: &str, user: &str) -> Result<Option<SecretString>, StoreError> {
        match self.entry(server, user)?.get_password() {
            Ok(token) => Ok(Some(token.into())),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.failed("read", &e)),
        }
    }

    /// Saves (or replaces) the token for `user` on `server`.
    pub fn set(&self, server: &str, user: &str, token: &SecretString) -> Result<(), StoreError> {
        self.entry(server, user)?
            .set_password(token.expose_secret())
            .map_err(|e| self.failed("save", &e))
    }

    /// Removes the token for `user` on `server`; Ok if there was none.
    pub fn delete(&self, server: &str, user: &str) -> Result<(), StoreError> {
        match self.entry(server, user)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(self.failed("delete", &e)),
        }
    }

    fn entry(&self, server: &str, user: &str) -> Result<Entry, StoreError> {
        self.store
            .build(&service_name(server), user, None)
            .map_err(|e| self.failed("look up", &e))
    }

    fn failed(&self, action: &'static str, e: &keyring_core::Error) -> StoreError {
        StoreError::Failed {
            backend: self.backend,
            action,
            detail: describe(e),
        }
    }
}

/// The detail of a StoreError, for nesting in another one.
fn inner(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable { detail } => detail.clone(),
        StoreError::Failed {
            backend, detail, ..
        } => format!("{backend}: {detail}"),
    }
}

/// keyring-core errors as a short lowercase phrase, without trailing dots.
fn describe(e: &keyring_core::Error) -> String {
    use keyring_core::Error;
    let text = match e {
        Error::NoStorageAccess(inner) | Error::PlatformFailure(inner) => inner.to_string(),
        other => other.to_string(),
    };
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::settings::lowercase_first(text.trim_end_matches('.'))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The real kernel keyring: the store every headless Linux box has.
    fn kernel() -> TokenStore {
        TokenStore::open_kernel()
            .expect("the kernel keyring must work for these tests (keyctl blocked by a sandbox?)")
    }

    fn unique_user(tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!("unit-{tag}-{}-{nanos}", std::process::id())
    }

    /// What the store holds, exposed for comparing.
    fn read(store: &TokenStore, server: &str, user: &str) -> Option<String> {
        let token = store.get(server, user).unwrap();
        token.map(|t| t.expose_secret().to_string())
    }

    #[test]
    fn kernel_keyring_round_trip() {
        let store = kernel();
        assert_eq!(store.backend(), "kernel keyring");
        let server = "http://127.0.0.1:1";
        let user = unique_user("rt");
        assert_eq!(read(&store, server, &user), None);
        store
            .set(server, &user, &"0123456789abcdef0123456789abcdef".into())
            .unwrap();
        assert_eq!(
            read(&store, server, &user).as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        store.set(server, &user, &"replaced".into()).unwrap();
        assert_eq!(read(&store, server, &user).as_deref(), Some("replaced"));
        // Another server is another key.
        assert_eq!(read(&store, "http://127.0.0.1:2", &user), None);
        store.delete(server, &user).unwrap();
        store.delete(server, &user).unwrap();
        // keyutils may briefly serve an invalidated key to the process that
        // invalidated it; a fresh lookup after that must miss.
        for _ in 0..50 {
            if store.get(server, &user).unwrap().is_none() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("the deleted key is still readable");
    }

    #[test]
    fn kernel_key_is_visible_to_keyctl_under_the_documented_description() {
        let store = kernel();
        let server = "http://127.0.0.1:3";
        let user = unique_user("keyctl");
        store
            .set(server, &user, &"seen-from-outside".into())
            .unwrap();
        let description = kernel_key_description(server, &user);
        // A fresh session, as another login of the same user would have.
        let read = std::process::Command::new("keyctl")
            .args([
                "session",
                "-",
                "sh",
                "-c",
                KEYCTL_READ_SCRIPT,
                "read",
                &description,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("keyctl must be installed (apt-get install keyutils)");
        assert!(
            read.status.success(),
            "keyctl found no key {description}: {}",
            String::from_utf8_lossy(&read.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&read.stdout), "seen-from-outside");
        store.delete(server, &user).unwrap();
    }

    #[test]
    fn unavailable_error_says_how_to_use_strop_token() {
        let err = StoreError::Unavailable {
            detail: "kernel keyring: operation not permitted".into(),
        }
        .to_string();
        assert!(err.starts_with("No OS keyring is available"), "{err}");
        assert!(err.contains("STROP_TOKEN"), "{err}");
        assert!(!err.contains('\n'));
    }
}
