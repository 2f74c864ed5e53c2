//! The client's saved settings: the server address and the last user.
//!
//! Stored as TOML in `settings.toml` inside the platform config directory
//! (`~/.config/strop` on Linux, `~/Library/Application Support/strop` on
//! macOS, `%APPDATA%\strop\config` on Windows), or in `$STROP_CONFIG_DIR`
//! when that is set (tests point it at a temporary directory). Never holds a
//! token: tokens live in the OS keyring (see `token_store`).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Overrides the config directory.
pub const CONFIG_DIR_ENV: &str = "STROP_CONFIG_DIR";
const FILE_NAME: &str = "settings.toml";

/// What the client remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The server last logged in to, normalized (`http://host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The user last logged in on `server`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_user: Option<String>,
    /// PLACEHOLDER (the cli branch owns this file): the function last used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<strop_common::Function>,
}

/// PLACEHOLDER until the cli branch lands: how the TUI colours its screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Theme {
    #[default]
    Default,
    NoColor,
    HighContrast,
}

/// PLACEHOLDER until the cli branch lands: the display choices in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    pub zone: crate::local_time::Zone,
    pub mouse: bool,
    pub theme: Theme,
}

impl Choices {
    pub fn resolve(
        _settings: &Settings,
        tz: Option<crate::local_time::Zone>,
        no_mouse: bool,
        theme: Option<Theme>,
        no_color_env: bool,
    ) -> Choices {
        Choices {
            zone: tz.unwrap_or_default(),
            mouse: !no_mouse,
            theme: theme
                .or(no_color_env.then_some(Theme::NoColor))
                .unwrap_or_default(),
        }
    }
}

/// `NO_COLOR` set to anything but the empty string (no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SettingsError {
    #[error("Cannot find a config directory; set {CONFIG_DIR_ENV} to one.")]
    NoConfigDir,
    #[error("Cannot read the settings file {path}: {reason}.")]
    Read { path: String, reason: String },
    #[error("The settings file {path} is not valid TOML ({reason}); fix or delete it.")]
    Parse { path: String, reason: String },
    #[error("Cannot save the settings file {path}: {reason}.")]
    Write { path: String, reason: String },
}

impl Settings {
    /// The directory settings live in: `$STROP_CONFIG_DIR`, else the
    /// platform config directory.
    pub fn dir() -> Result<PathBuf, SettingsError> {
        match std::env::var_os(CONFIG_DIR_ENV) {
            Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
            _ => directories::ProjectDirs::from("", "", "strop")
                .map(|d| d.config_dir().to_path_buf())
                .ok_or(SettingsError::NoConfigDir),
        }
    }

    /// The settings file path.
    pub fn path() -> Result<PathBuf, SettingsError> {
        Ok(Self::dir()?.join(FILE_NAME))
    }

    /// Loads the settings; a missing file is the default (first run).
    pub fn load() -> Result<Settings, SettingsError> {
        Self::load_from(&Self::path()?)
    }

    /// PLACEHOLDER: load, change, save.
    pub fn update(change: impl FnOnce(&mut Settings)) -> Result<(), SettingsError> {
        let mut s = Self::load()?;
        change(&mut s);
        s.save()
    }

    /// Saves the settings, creating the directory if needed.
    pub fn save(&self) -> Result<(), SettingsError> {
        self.save_to(&Self::path()?)
    }

    pub fn load_from(path: &Path) -> Result<Settings, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => {
                return Err(SettingsError::Read {
                    path: path.display().to_string(),
                    reason: io_reason(&e),
                });
            }
        };
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: path.display().to_string(),
            reason: e.message().to_string(),
        })
    }

    /// Writes through a temporary file and a rename, so a crash mid-write
    /// never leaves a truncated settings file behind.
    pub fn save_to(&self, path: &Path) -> Result<(), SettingsError> {
        let write_err = |e: std::io::Error| SettingsError::Write {
            path: path.display().to_string(),
            reason: io_reason(&e),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let text = toml::to_string(self).map_err(|e| SettingsError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, path).map_err(write_err)
    }

    /// The user to preselect for `server`: `last_user`, if it was saved for
    /// that same server.
    pub fn last_user_for(&self, server: &str) -> Option<&str> {
        match (&self.server, &self.last_user) {
            (Some(saved), Some(user)) if saved == server => Some(user),
            _ => None,
        }
    }
}

/// An io::Error as a lowercase phrase without the "(os error N)" tail.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    lowercase_first(&text)
}

/// "Connection refused" -> "connection refused", for use mid-sentence;
/// acronyms ("DBus error", "IO error") keep their case.
pub(crate) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    if chars.clone().next().is_some_and(char::is_uppercase) {
        return s.to_string();
    }
    first.to_lowercase().chain(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(FILE_NAME);
        assert_eq!(Settings::load_from(&path).unwrap(), Settings::default());

        let settings = Settings {
            server: Some("http://127.0.0.1:5000".into()),
            last_user: Some("wonsun".into()),
            function: None,
        };
        settings.save_to(&path).unwrap();
        assert_eq!(Settings::load_from(&path).unwrap(), settings);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("server = \"http://127.0.0.1:5000\""),
            "{text}"
        );
        assert!(!path.with_extension("toml.tmp").exists());
    }

    #[test]
    fn broken_file_is_a_sentence_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "server = [").unwrap();
        let err = Settings::load_from(&path).unwrap_err().to_string();
        assert!(err.starts_with("The settings file "), "{err}");
        assert!(err.contains(FILE_NAME), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn lowercase_first_keeps_acronyms() {
        assert_eq!(lowercase_first("Connection refused"), "connection refused");
        assert_eq!(lowercase_first("DBus error"), "DBus error");
        assert_eq!(lowercase_first(""), "");
        assert_eq!(lowercase_first("X"), "x");
    }

    #[test]
    fn last_user_only_applies_to_its_server() {
        let settings = Settings {
            server: Some("http://a:1".into()),
            last_user: Some("u".into()),
            function: None,
        };
        assert_eq!(settings.last_user_for("http://a:1"), Some("u"));
        assert_eq!(settings.last_user_for("http://b:1"), None);
    }
}
