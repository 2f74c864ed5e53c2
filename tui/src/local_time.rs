//! Entry times as people read them: one format everywhere (CLI history, the
//! TUI list and detail view), in the zone the person chose.
//!
//! The zone is [`Zone`]: `local` (the system's zone, which honours `TZ`),
//! `UTC`, a fixed offset like `+05:30`, or an IANA name like `Asia/Tokyo`;
//! it comes from `--tz`, else the settings' `tz`, else `local`. The format
//! is `2026-11-30 21:05:03 +09:00`. `--json` keeps the server's UTC
//! `timestamp` untouched; only what is shown to a person goes through here.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

/// The one display format: date, time to the second, offset from UTC.
const FORMAT: &str = "%Y-%m-%d %H:%M:%S %:z";

/// A time zone choice, as written in `--tz` or the settings' `tz`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Zone {
    /// The system's zone: `TZ` if set, else `/etc/localtime` (or the OS's).
    #[default]
    Local,
    Utc,
    /// A fixed offset from UTC, in seconds east.
    Fixed(i32),
    /// An IANA time zone name, checked against the tz database when parsed.
    Named(String),
}

/// Why a `--tz` / `tz` value was refused: one phrase naming the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{0}\" is not a time zone: use local, UTC, an offset from -23:59 to +23:59 like +05:30, \
     or a name like Asia/Tokyo"
)]
pub struct BadZone(pub String);

impl FromStr for Zone {
    type Err = BadZone;

    fn from_str(text: &str) -> Result<Zone, BadZone> {
        let bad = || BadZone(text.to_string());
        let t = text.trim();
        if t.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(Zone::Utc);
        }
        if let Some(sign) = t.chars().next().filter(|c| matches!(c, '+' | '-')) {
            let seconds = parse_offset(&t[1..]).ok_or_else(bad)?;
            let seconds = if sign == '-' { -seconds } else { seconds };
            // Offset::from_seconds checks the range jiff supports.
            Offset::from_seconds(seconds).map_err(|_| bad())?;
            return Ok(Zone::Fixed(seconds));
        }
        match TimeZone::get(t) {
            Ok(_) => Ok(Zone::Named(t.to_string())),
            Err(_) => Err(bad()),
        }
    }
}

/// `HH:MM`, `HHMM` or `HH` after the sign, up to 23:59 (what a person means
/// by an offset; jiff alone would take up to 25:59).
fn parse_offset(rest: &str) -> Option<i32> {
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "00"),
    };
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 23 && m < 60).then_some(h * 3600 + m * 60)
}

impl fmt::Display for Zone {
    /// The form `FromStr` reads back (what the settings file stores).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Utc => f.write_str("UTC"),
            Zone::Fixed(seconds) => {
                let sign = if *seconds < 0 { '-' } else { '+' };
                let abs = seconds.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
            }
            Zone::Named(name) => f.write_str(name),
        }
    }
}

impl Zone {
    /// The zone to convert into. Looked up once; cheap to clone and use per row.
    pub fn time_zone(&self) -> TimeZone {
        match self {
            Zone::Local => TimeZone::system(),
            Zone::Utc => TimeZone::UTC,
            Zone::Fixed(seconds) => Offset::from_seconds(*seconds)
                .map(TimeZone::fixed)
                .unwrap_or(TimeZone::UTC),
            // Checked when parsed; a tz database that vanished since reads as UTC.
            Zone::Named(name) => TimeZone::get(name).unwrap_or(TimeZone::UTC),
        }
    }
}

/// Formats entry times in one zone.
#[derive(Debug, Clone)]
pub struct Clock {
    tz: TimeZone,
    /// The zone as a person reads it: "Asia/Tokyo", "UTC", "+05:30".
    label: String,
}

impl Clock {
    pub fn new(zone: &Zone) -> Clock {
        let tz = zone.time_zone();
        let label = match zone {
            // The zone `local` turned out to be (TZ, else the system's).
            Zone::Local => tz.iana_name().unwrap_or("local").to_string(),
            other => other.to_string(),
        };
        Clock { tz, label }
    }

    /// The zone times are shown in, for a header that names it.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// [`Clock::show`] to the minute, without the offset (a table whose
    /// header names the zone): `2026-11-30 21:05`.
    pub fn minute(&self, timestamp: &str) -> String {
        match timestamp.parse::<Timestamp>() {
            Ok(ts) => ts
                .to_zoned_datetime(self.tz.clone())
                .strftime("%Y-%m-%d %H:%M")
                .to_string(),
            Err(_) => timestamp.to_string(),
        }
    }

    /// An entry's RFC 3339 UTC `timestamp` (`2026-11-30T12:05:03.123Z`) as
    /// `2026-11-30 21:05:03 +09:00`; `None` when the server sent something
    /// that is not a timestamp (the caller then shows what it got).
    pub fn format(&self, timestamp: &str) -> Option<String> {
        let ts: Timestamp = timestamp.parse().ok()?;
        Some(
            ts.to_zoned_datetime(self.tz.clone())
                .strftime(FORMAT)
                .to_string(),
        )
    }

    /// [`Clock::format`], falling back to the text itself.
    pub fn show(&self, timestamp: &str) -> String {
        self.format(timestamp)
            .unwrap_or_else(|| timestamp.to_string())
    }
}

/// How long before `now` an entry's `timestamp` was, as atuin shows it:
/// "12s ago", "5m ago", "3h ago", "2d ago", "6w ago", "1y ago"; a time a
/// little in the future (clocks differ) is "just now". `None` when the
/// timestamp cannot be read.
pub fn ago(timestamp: &str, now: Timestamp) -> Option<String> {
    let ts: Timestamp = timestamp.parse().ok()?;
    let secs = (now.as_millisecond() - ts.as_millisecond()).div_euclid(1000);
    if secs < 1 {
        return Some("just now".into());
    }
    Some(format!("{} ago", span(secs)))
}

/// How long after `now` a future `timestamp` is, in `ago`'s units: "in 5m",
/// "in 6d"; one already past is "expired". `None` when unreadable.
pub fn until(timestamp: &str, now: Timestamp) -> Option<String> {
    let ts: Timestamp = timestamp.parse().ok()?;
    let secs = (ts.as_millisecond() - now.as_millisecond()).div_euclid(1000);
    if secs < 1 {
        return Some("expired".into());
    }
    Some(format!("in {}", span(secs)))
}

/// `secs` (at least 1) in its largest unit: "12s", "5m", "3h", "2d", "6w", "1y".
fn span(secs: i64) -> String {
    let (n, unit) = match secs {
        s if s < 60 => (s, "s"),
        s if s < 3600 => (s / 60, "m"),
        s if s < 86_400 => (s / 3600, "h"),
        s if s < 7 * 86_400 => (s / 86_400, "d"),
        s if s < 365 * 86_400 => (s / (7 * 86_400), "w"),
        s => (s / (365 * 86_400), "y"),
    };
    format!("{n}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "2026-11-30T12:05:03.123Z";

    fn show(zone: &str) -> String {
        Clock::new(&zone.parse().unwrap()).show(TS)
    }

    #[test]
    fn one_format_in_every_zone() {
        assert_eq!(show("UTC"), "2026-11-30 12:05:03 +00:00");
        assert_eq!(show("+09:00"), "2026-11-30 21:05:03 +09:00");
        assert_eq!(show("-05:30"), "2026-11-30 06:35:03 -05:30");
        assert_eq!(show("Asia/Tokyo"), "2026-11-30 21:05:03 +09:00");
        // Daylight saving comes from the tz database: New York is -05:00 in
        // November, -04:00 in July.
        assert_eq!(show("America/New_York"), "2026-11-30 07:05:03 -05:00");
        let clock = Clock::new(&"America/New_York".parse().unwrap());
        assert_eq!(
            clock.show("2026-07-01T12:00:00Z"),
            "2026-07-01 08:00:00 -04:00"
        );
    }

    #[test]
    fn zones_parse_and_print_back() {
        for (text, zone) in [
            ("local", Zone::Local),
            ("LOCAL", Zone::Local),
            ("utc", Zone::Utc),
            ("+05:30", Zone::Fixed(5 * 3600 + 30 * 60)),
            ("+0530", Zone::Fixed(5 * 3600 + 30 * 60)),
            ("-08", Zone::Fixed(-8 * 3600)),
            ("Asia/Tokyo", Zone::Named("Asia/Tokyo".into())),
        ] {
            assert_eq!(text.parse::<Zone>(), Ok(zone.clone()), "{text}");
            assert_eq!(zone.to_string().parse::<Zone>(), Ok(zone), "{text}");
        }
        assert_eq!(Zone::Fixed(-(5 * 3600 + 30 * 60)).to_string(), "-05:30");
        for bad in [
            "",
            "+5:30",
            "+05:60",
            "+99:00",
            "+25:00",
            "-24:00",
            "Mars/Olympus",
            "9",
        ] {
            let err = bad.parse::<Zone>().unwrap_err().to_string();
            assert!(err.contains("local, UTC"), "{bad}: {err}");
            assert!(err.contains("-23:59 to +23:59"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_non_timestamp_is_shown_as_sent() {
        let clock = Clock::new(&Zone::Utc);
        assert_eq!(clock.format("yesterday"), None);
        assert_eq!(clock.show("yesterday"), "yesterday");
    }

    #[test]
    fn ago_reads_like_atuin() {
        let now: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let at = |t: &str| ago(t, now).unwrap();
        assert_eq!(at("2026-12-03T09:59:48.500Z"), "11s ago");
        assert_eq!(at("2026-12-03T09:55:00Z"), "5m ago");
        assert_eq!(at("2026-12-03T07:00:00Z"), "3h ago");
        assert_eq!(at("2026-12-01T10:00:00Z"), "2d ago");
        assert_eq!(at("2026-10-01T10:00:00Z"), "9w ago");
        assert_eq!(at("2024-12-01T10:00:00Z"), "2y ago");
        assert_eq!(at("2026-12-03T10:00:05Z"), "just now");
        assert_eq!(ago("yesterday", now), None);
    }

    #[test]
    fn until_reads_like_ago_forward() {
        let now: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let at = |t: &str| until(t, now).unwrap();
        assert_eq!(at("2026-12-03T10:05:00Z"), "in 5m");
        assert_eq!(at("2026-12-10T10:00:00Z"), "in 1w");
        assert_eq!(at("2026-12-09T10:00:00Z"), "in 6d");
        assert_eq!(at("2026-12-03T09:00:00Z"), "expired");
        assert_eq!(until("soon", now), None);
    }
}
