//! The two ways a history entry's time travels on the wire.

use std::time::{SystemTime, UNIX_EPOCH};

/// `("Sat, 10 Apr 2021 19:59:53 GMT", "2021-04-10T19:59:53.123Z")`: the
/// RFC 1123 `time` the original service sent, and the RFC 3339 `timestamp`
/// with milliseconds. Times before 1970 are shown as 1970 (none are stored).
pub fn wire_times(t: SystemTime) -> (String, String) {
    let t = t.max(UNIX_EPOCH);
    (
        httpdate::fmt_http_date(t),
        humantime::format_rfc3339_millis(t).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_seed_format() {
        // 2021-04-10T19:59:53.123456Z, the seed's first history entry.
        let t = UNIX_EPOCH + Duration::from_nanos(1_618_084_793_123_456_000);
        assert_eq!(
            wire_times(t),
            (
                "Sat, 10 Apr 2021 19:59:53 GMT".to_string(),
                "2021-04-10T19:59:53.123Z".to_string()
            )
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(
            wire_times(leap),
            (
                "Tue, 29 Feb 2000 00:00:00 GMT".to_string(),
                "2000-02-29T00:00:00.000Z".to_string()
            )
        );
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(wire_times(before).0, "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
