//! PLACEHOLDER until the `cli` branch's local-time module lands (same API):
//! shows the server's UTC time in the one display format.

/// A time zone choice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Zone {
    #[default]
    Local,
    Utc,
}

/// Formats entry times in one zone.
#[derive(Debug, Clone)]
pub struct Clock;

impl Clock {
    pub fn new(_zone: &Zone) -> Clock {
        Clock
    }

    /// `2026-11-30T12:05:03.123Z` as `2026-11-30 12:05:03 +00:00`.
    pub fn show(&self, timestamp: &str) -> String {
        match (timestamp.get(..10), timestamp.get(11..19)) {
            (Some(date), Some(time)) => format!("{date} {time} +00:00"),
            _ => timestamp.to_string(),
        }
    }
}
