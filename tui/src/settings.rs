//! The client's saved settings: what a person chose (time zone, mouse,
//! theme) and what strop remembers (server, last user, last function).
//!
//! Stored as TOML in `settings.toml` inside the platform config directory
//! (`~/.config/strop` on Linux, `~/Library/Application Support/strop` on
//! macOS, `%APPDATA%\strop\config` on Windows), or in `$STROP_CONFIG_DIR`
//! when that is set (tests point it at a temporary directory). Never holds a
//! token: tokens live in the OS keyring (see `token_store`).
//!
//! The first save writes [`TEMPLATE`], which documents every key; later
//! saves change only the keys that changed and keep comments, unknown keys
//! and bad lines as the person left them. Loading never fails the program:
//! an unknown key or a bad value is reported (file and line) and that key
//! takes its default; an unreadable or non-TOML file means all defaults.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use strop_common::api::Function;
use toml_edit::{DocumentMut, Item};

use crate::local_time::Zone;

/// Overrides the config directory.
pub const CONFIG_DIR_ENV: &str = "STROP_CONFIG_DIR";
const FILE_NAME: &str = "settings.toml";

/// The head of a new settings file: every key, its values and its default.
pub const TEMPLATE: &str = r#"# strop settings. Every key is optional; a missing key takes its default.
# strop keeps these comments when it saves. Command-line flags win over this file.
#
# Time zone for the times shown (history, detail view); --tz overrides it.
#   "local" (default: the TZ variable, else the system's zone), "UTC",
#   a fixed offset like "+05:30", or a tz database name like "Asia/Tokyo".
# tz = "local"
#
# Mouse in the interactive client (wheel scrolls, click selects); false leaves
# the mouse to the terminal, e.g. to select text. --no-mouse overrides it.
# mouse = true
#
# Times in the history list: "absolute" (default: the date and time in the
# zone above) or "relative" ("5m ago", as atuin shows them); F4 switches in
# the client. The detail view always shows the absolute time.
# times = "absolute"
#
# Colours: "default", "no-color" (also chosen by the NO_COLOR variable when
# this key is absent), or "high-contrast". --theme overrides it.
# theme = "default"
#
# Kept by strop itself: the server and user last logged in to, and the
# function ("reverse" or "piglatin") last used in the interactive client.
# server = "http://127.0.0.1:5000"
# last_user = "alice"
# function = "reverse"

"#;

/// Every key the file accepts, in the order the template lists them.
pub const KEYS: [&str; 7] = [
    "tz",
    "times",
    "mouse",
    "theme",
    "server",
    "last_user",
    "function",
];

/// How the interactive client colours its screen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Theme {
    /// The usual colours.
    #[default]
    Default,
    /// No colours at all, only bold/reverse (what NO_COLOR asks for).
    NoColor,
    /// Strong foreground/background pairs for low-vision or bright screens.
    HighContrast,
}

impl Theme {
    /// The name used in the settings file and by `--theme`.
    pub fn name(self) -> &'static str {
        match self {
            Theme::Default => "default",
            Theme::NoColor => "no-color",
            Theme::HighContrast => "high-contrast",
        }
    }
}

/// What the client remembers between runs; `None` is "not in the file".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// The server last logged in to, normalized (`http://host:port`).
    pub server: Option<String>,
    /// The user last logged in on `server`.
    pub last_user: Option<String>,
    /// The time zone for the times shown.
    pub tz: Option<Zone>,
    /// Mouse capture in the interactive client (default on).
    pub mouse: Option<bool>,
    pub theme: Option<Theme>,
    /// The function last used in the interactive client.
    pub function: Option<Function>,
    /// `times = "relative"`: the history list shows "5m ago".
    pub relative_times: Option<bool>,
}

/// The display choices in force, after flags, settings and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choices {
    pub zone: Zone,
    pub mouse: bool,
    pub theme: Theme,
    /// The history list starts with relative times ("5m ago").
    pub relative_times: bool,
}

impl Choices {
    /// Flags win, then the settings file, then `NO_COLOR` (for the theme; as
    /// no-color.org asks, a configured choice beats it), then the defaults.
    pub fn resolve(
        settings: &Settings,
        tz: Option<Zone>,
        no_mouse: bool,
        theme: Option<Theme>,
        no_color_env: bool,
    ) -> Choices {
        let env_theme = no_color_env.then_some(Theme::NoColor);
        Choices {
            zone: tz.or_else(|| settings.tz.clone()).unwrap_or_default(),
            mouse: !no_mouse && settings.mouse.unwrap_or(true),
            theme: theme.or(settings.theme).or(env_theme).unwrap_or_default(),
            relative_times: settings.relative_times.unwrap_or(false),
        }
    }
}

/// `NO_COLOR` set to anything but the empty string (no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// One line of the settings file that was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based.
    pub line: usize,
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("Cannot find a config directory; set {CONFIG_DIR_ENV} to one.")]
    NoConfigDir,
    #[error("Cannot read the settings file {path}: {reason}.")]
    Read { path: String, reason: String },
    #[error(
        "The settings file {path} is not valid TOML (line {line}: {reason}); fix or delete it."
    )]
    Parse {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("{}", invalid(path, problems))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
    #[error("Cannot save the settings file {path}: {reason}.")]
    Write { path: String, reason: String },
}

fn invalid(path: &str, problems: &[Problem]) -> String {
    let each: Vec<String> = problems
        .iter()
        .map(|p| format!("{path}:{}: {}", p.line, p.what))
        .collect();
    format!("{}; using the defaults for these.", each.join("; "))
}

/// A key's value as the file holds it, to tell what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Raw {
    Str(String),
    Bool(bool),
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

    /// Loads the settings: what could be read, and what went wrong, if
    /// anything (to show once; the program goes on). A missing file is the
    /// default (first run).
    pub fn load() -> (Settings, Option<SettingsError>) {
        match Self::path() {
            Ok(path) => Self::load_from(&path),
            Err(e) => (Settings::default(), Some(e)),
        }
    }

    /// Reads the file, applies `change`, and writes back only the keys that
    /// changed (the first save writes [`TEMPLATE`] first). Comments, unknown
    /// keys and bad lines stay as they were.
    pub fn update(change: impl FnOnce(&mut Settings)) -> Result<(), SettingsError> {
        Self::update_at(&Self::path()?, change)
    }

    pub fn load_from(path: &Path) -> (Settings, Option<SettingsError>) {
        match read(path) {
            Ok(None) => (Settings::default(), None),
            Ok(Some(text)) => match parse(&text, path) {
                Ok((_, settings, problems)) if problems.is_empty() => (settings, None),
                Ok((_, settings, problems)) => (
                    settings,
                    Some(SettingsError::Invalid {
                        path: path.display().to_string(),
                        problems,
                    }),
                ),
                Err(e) => (Settings::default(), Some(e)),
            },
            Err(e) => (Settings::default(), Some(e)),
        }
    }

    pub fn update_at(path: &Path, change: impl FnOnce(&mut Settings)) -> Result<(), SettingsError> {
        let write_err = |reason: String| SettingsError::Write {
            path: path.display().to_string(),
            reason,
        };
        let (head, mut doc, before) = match read(path)? {
            // Not TOML: refuse rather than overwrite what someone is editing.
            Some(text) => {
                let (doc, settings, _) = parse(&text, path)?;
                ("", doc, settings)
            }
            None => (TEMPLATE, DocumentMut::new(), Settings::default()),
        };
        let mut after = before.clone();
        change(&mut after);
        for ((key, old), (_, new)) in before.raw().into_iter().zip(after.raw()) {
            if old == new {
                continue;
            }
            match new {
                Some(Raw::Str(s)) => doc[key] = toml_edit::value(s),
                Some(Raw::Bool(b)) => doc[key] = toml_edit::value(b),
                None => {
                    doc.remove(key);
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| write_err(io_reason(&e)))?;
        }
        // Through a temporary file and a rename: a crash mid-write never
        // leaves a truncated settings file behind.
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, format!("{head}{doc}")).map_err(|e| write_err(io_reason(&e)))?;
        std::fs::rename(&tmp, path).map_err(|e| write_err(io_reason(&e)))
    }

    /// Each key's value as the file would hold it, in [`KEYS`] order.
    fn raw(&self) -> [(&'static str, Option<Raw>); 7] {
        let s = |v: &Option<String>| v.clone().map(Raw::Str);
        [
            ("tz", self.tz.as_ref().map(|z| Raw::Str(z.to_string()))),
            (
                "times",
                self.relative_times
                    .map(|r| Raw::Str(if r { "relative" } else { "absolute" }.into())),
            ),
            ("mouse", self.mouse.map(Raw::Bool)),
            ("theme", self.theme.map(|t| Raw::Str(t.name().into()))),
            ("server", s(&self.server)),
            ("last_user", s(&self.last_user)),
            (
                "function",
                self.function.map(|f| Raw::Str(f.as_str().into())),
            ),
        ]
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

/// The file's text; `None` when there is no file yet.
fn read(path: &Path) -> Result<Option<String>, SettingsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SettingsError::Read {
            path: path.display().to_string(),
            reason: io_reason(&e),
        }),
    }
}

/// The document (for saving), the settings it holds, and the lines it
/// holds that are not settings.
fn parse(text: &str, path: &Path) -> Result<(DocumentMut, Settings, Vec<Problem>), SettingsError> {
    let line_of = |span: Option<std::ops::Range<usize>>| {
        let at = span.map_or(0, |s| s.start).min(text.len());
        text[..at].matches('\n').count() + 1
    };
    let doc = toml_edit::Document::parse(text).map_err(|e| SettingsError::Parse {
        path: path.display().to_string(),
        line: line_of(e.span()),
        reason: e.message().trim_end_matches('.').to_string(),
    })?;
    let mut settings = Settings::default();
    let mut problems = Vec::new();
    for (key, item) in doc.as_table().iter() {
        let line = doc
            .as_table()
            .get_key_value(key)
            .map_or(1, |(k, _)| line_of(k.span()));
        let text_value = || match item {
            Item::Value(v) => v.as_str().map(str::to_string),
            _ => None,
        };
        let wanted = |what: &str| format!("{key} must be {what}");
        let result = match key {
            "server" => text_value()
                .map(|v| settings.server = Some(v))
                .ok_or_else(|| wanted("a string like \"http://127.0.0.1:5000\"")),
            "last_user" => text_value()
                .map(|v| settings.last_user = Some(v))
                .ok_or_else(|| wanted("a string")),
            "tz" => match text_value() {
                Some(v) => v
                    .parse::<Zone>()
                    .map(|zone| settings.tz = Some(zone))
                    .map_err(|e| format!("tz: {e}")),
                None => Err(wanted("a string like \"local\", \"UTC\" or \"+05:30\"")),
            },
            "times" => match text_value().as_deref() {
                Some("relative") => {
                    settings.relative_times = Some(true);
                    Ok(())
                }
                Some("absolute") => {
                    settings.relative_times = Some(false);
                    Ok(())
                }
                _ => Err(wanted("\"absolute\" or \"relative\"")),
            },
            "mouse" => item
                .as_bool()
                .map(|b| settings.mouse = Some(b))
                .ok_or_else(|| wanted("true or false")),
            "theme" => text_value()
                .and_then(|v| Theme::from_str(&v, true).ok())
                .map(|theme| settings.theme = Some(theme))
                .ok_or_else(|| wanted("\"default\", \"no-color\" or \"high-contrast\"")),
            "function" => text_value()
                .and_then(|v| v.parse::<Function>().ok())
                .map(|f| settings.function = Some(f))
                .ok_or_else(|| wanted("\"reverse\" or \"piglatin\"")),
            other => Err(format!(
                "unknown key \"{other}\" (known: {})",
                KEYS.join(", ")
            )),
        };
        if let Err(what) = result {
            problems.push(Problem { line, what });
        }
    }
    Ok((doc.into_mut(), settings, problems))
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

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn first_save_writes_the_documented_template_then_keeps_edits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join(FILE_NAME);
        assert_eq!(Settings::load_from(&path), (Settings::default(), None));

        Settings::update_at(&path, |s| {
            s.server = Some("http://127.0.0.1:5000".into());
            s.last_user = Some("wonsun".into());
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(TEMPLATE), "{text}");
        for key in KEYS {
            assert!(
                text.contains(&format!("# {key} = ")),
                "{key} documented: {text}"
            );
        }
        assert!(
            text.contains("server = \"http://127.0.0.1:5000\""),
            "{text}"
        );
        assert!(!path.with_extension("toml.tmp").exists());

        // A person's own lines survive a later save; only changed keys move.
        let edited = format!("{text}# mine\ntz = \"+05:30\"\nmouse = false\n");
        std::fs::write(&path, &edited).unwrap();
        Settings::update_at(&path, |s| s.function = Some(Function::Piglatin)).unwrap();
        let (loaded, problem) = Settings::load_from(&path);
        assert_eq!(problem, None);
        assert_eq!(
            loaded,
            Settings {
                server: Some("http://127.0.0.1:5000".into()),
                last_user: Some("wonsun".into()),
                tz: Some(Zone::Fixed(5 * 3600 + 30 * 60)),
                mouse: Some(false),
                theme: None,
                function: Some(Function::Piglatin),
                relative_times: None,
            }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&edited), "{text}");
        Settings::update_at(&path, |s| s.last_user = None).unwrap();
        assert!(!std::fs::read_to_string(&path).unwrap().contains("wonsun"));
    }

    #[test]
    fn unknown_keys_and_bad_values_name_file_and_line_and_keep_the_rest() {
        let (_dir, path) = file(
            "server = \"http://a:1\"\ncolour = \"red\"\n\nmouse = \"yes\"\ntheme = \"high-contrast\"\ntz = \"Mars/Base\"\n",
        );
        let (settings, problem) = Settings::load_from(&path);
        assert_eq!(settings.server.as_deref(), Some("http://a:1"));
        assert_eq!(settings.theme, Some(Theme::HighContrast));
        assert_eq!(settings.mouse, None);
        let Some(SettingsError::Invalid { problems, .. }) = &problem else {
            panic!("{problem:?}");
        };
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 4, 6], "{problems:?}");
        let text = problem.unwrap().to_string();
        let at = path.display().to_string();
        assert!(
            text.contains(&format!("{at}:2: unknown key \"colour\"")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{at}:4: mouse must be true or false")),
            "{text}"
        );
        assert!(text.contains("Mars/Base"), "{text}");
        assert!(!text.contains('\n') && text.ends_with('.'), "{text}");

        // Saving leaves the bad lines for the person to fix.
        Settings::update_at(&path, |s| s.last_user = Some("u".into())).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("colour = \"red\""), "{text}");
        assert!(text.contains("mouse = \"yes\""), "{text}");
    }

    #[test]
    fn broken_toml_is_a_sentence_naming_file_and_line_and_is_not_overwritten() {
        let (_dir, path) = file("mouse = true\nserver = [\n");
        let (settings, problem) = Settings::load_from(&path);
        assert_eq!(settings, Settings::default());
        let err = problem.unwrap().to_string();
        assert!(err.starts_with("The settings file "), "{err}");
        assert!(err.contains(FILE_NAME), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert!(Settings::update_at(&path, |s| s.mouse = Some(false)).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "mouse = true\nserver = [\n"
        );
    }

    #[test]
    fn flags_beat_settings_beat_no_color_beat_defaults() {
        let none = Settings::default();
        let resolve = |s: &Settings, tz, no_mouse, theme, no_color| {
            Choices::resolve(s, tz, no_mouse, theme, no_color)
        };
        assert_eq!(
            resolve(&none, None, false, None, false),
            Choices {
                zone: Zone::Local,
                mouse: true,
                theme: Theme::Default,
                relative_times: false,
            }
        );
        assert_eq!(
            resolve(&none, None, false, None, true).theme,
            Theme::NoColor
        );
        let chosen = Settings {
            tz: Some(Zone::Utc),
            mouse: Some(false),
            theme: Some(Theme::HighContrast),
            ..Settings::default()
        };
        let c = resolve(&chosen, None, false, None, true);
        assert_eq!(
            (c.zone, c.mouse, c.theme),
            (Zone::Utc, false, Theme::HighContrast)
        );
        let c = resolve(
            &chosen,
            Some(Zone::Fixed(3600)),
            true,
            Some(Theme::Default),
            true,
        );
        assert_eq!(
            (c.zone, c.mouse, c.theme),
            (Zone::Fixed(3600), false, Theme::Default)
        );
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
            ..Settings::default()
        };
        assert_eq!(settings.last_user_for("http://a:1"), Some("u"));
        assert_eq!(settings.last_user_for("http://b:1"), None);
    }
}
