//! `strop history` as a pipe sees it (plain tab-separated rows), and the
//! times in it: one format, in the zone chosen by `--tz`, the settings' `tz`,
//! or `TZ`; `--json` keeps the server's UTC `timestamp`.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use strop_common::api::HistoryResponse;

use crate::{Ctx, fails, ok, stderr};

/// What a person's clock in `zone` shows for an entry's UTC `timestamp`,
/// worked out here with jiff (not through strop's own formatting).
fn expected_time(timestamp: &str, zone: &str) -> String {
    let ts: Timestamp = timestamp.parse().unwrap();
    let tz = TimeZone::get(zone).unwrap();
    ts.to_zoned_datetime(tz)
        .strftime("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

#[test]
fn piped_history_is_plain_rows_never_padded_to_the_widest_cell() {
    let ctx = Ctx::new("pipe");
    ctx.register_and_login();
    let long = "w".repeat(2000);
    ok(&ctx.run(&["reverse", &long]));
    ok(&ctx.run(&["piglatin", "short one"]));
    ok(&ctx.run(&["reverse", "tab\there"]));
    let json: HistoryResponse =
        serde_json::from_str(&ok(&ctx.run(&["history", "--json"]))).unwrap();

    let plain = ok(&ctx.run_with(&["history"], None, &[("TZ", "UTC")]));
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines.len(), 3, "no header, one line per entry: {plain}");
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    for (row, entry) in fields.iter().zip(&json.history) {
        assert_eq!(row.len(), 4, "{row:?}");
        assert_eq!(row[0], expected_time(&entry.timestamp, "UTC"));
        assert_eq!(row[1], entry.function.as_str());
    }
    assert_eq!(fields[0][2], long);
    assert_eq!(fields[0][3], long, "reversed w's are w's");
    // The short entry is as long as its own cells: no padding to 2,000.
    assert_eq!(
        lines[1],
        format!(
            "{}\tpiglatin\tshort one\tortshay oneway",
            expected_time(&json.history[1].timestamp, "UTC")
        )
    );
    // A tab inside a cell is escaped, so columns stay columns.
    assert_eq!(fields[2][2], "tab\\there");
    assert!(plain.lines().all(|l| !l.ends_with(' ')), "{plain:?}");

    // Nothing on stdout for an empty result in a pipe; why goes to stderr.
    let out = ctx.run(&["history", "--search", "nothing-like-this"]);
    assert_eq!(ok(&out), "");
    assert!(
        stderr(&out).contains("no history entries match"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn times_follow_tz_then_the_tz_flag_and_setting_and_json_stays_utc() {
    let ctx = Ctx::new("tz");
    ctx.register_and_login();
    ok(&ctx.run(&["reverse", "what time is it"]));
    let json = ok(&ctx.run_with(&["history", "--json"], None, &[("TZ", "Asia/Tokyo")]));
    let page: HistoryResponse = serde_json::from_str(&json).unwrap();
    let timestamp = &page.history[0].timestamp;
    assert!(timestamp.ends_with('Z'), "--json keeps UTC: {timestamp}");
    assert!(
        json.contains(&format!("\"timestamp\": \"{timestamp}\"")),
        "{json}"
    );

    let time_of = |args: &[&str], env: &[(&str, &str)]| -> String {
        let out = ok(&ctx.run_with(args, None, env));
        out.split('\t').next().unwrap().to_string()
    };
    let tokyo = time_of(&["history"], &[("TZ", "Asia/Tokyo")]);
    assert_eq!(tokyo, expected_time(timestamp, "Asia/Tokyo"));
    assert!(tokyo.ends_with(" +09:00"), "{tokyo}");
    let utc = time_of(&["history", "--tz", "UTC"], &[("TZ", "Asia/Tokyo")]);
    assert_eq!(utc, expected_time(timestamp, "UTC"));
    assert!(utc.ends_with(" +00:00"), "{utc}");
    let india = time_of(&["--tz", "+05:30", "history"], &[("TZ", "UTC")]);
    assert_eq!(india, expected_time(timestamp, "Asia/Kolkata"));
    assert!(india.ends_with(" +05:30"), "{india}");
    let named = time_of(&["history", "--tz", "America/New_York"], &[]);
    assert_eq!(named, expected_time(timestamp, "America/New_York"));

    // The settings' tz beats TZ; --tz beats the settings.
    let settings = ctx.config.path().join("settings.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    std::fs::write(&settings, format!("{text}tz = \"UTC\"\n")).unwrap();
    let saved = time_of(&["history"], &[("TZ", "Asia/Tokyo")]);
    assert!(saved.ends_with(" +00:00"), "{saved}");
    let flag = time_of(&["history", "--tz", "local"], &[("TZ", "Asia/Tokyo")]);
    assert!(flag.ends_with(" +09:00"), "{flag}");

    let line = fails(&ctx.run(&["history", "--tz", "Mars/Olympus"]), 2);
    assert!(line.contains("Mars/Olympus"), "{line}");
    assert!(line.contains("+05:30"), "says what is accepted: {line}");
}

#[test]
fn a_bad_settings_file_is_reported_with_file_and_line_and_the_command_goes_on() {
    let ctx = Ctx::new("badset");
    ctx.register_and_login();
    ok(&ctx.run(&["reverse", "abc"]));
    let settings = ctx.config.path().join("settings.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(
        text.contains("# tz = \"local\""),
        "first save documents the keys: {text}"
    );
    let lines = text.lines().count();
    std::fs::write(
        &settings,
        format!("{text}colour = \"red\"\ntz = \"UTC\"\nmouse = \"yes\"\n"),
    )
    .unwrap();
    let out = ctx.run_with(&["history"], None, &[("TZ", "Asia/Tokyo")]);
    let rows = ok(&out);
    assert!(rows.contains("\tabc\tcba"), "the command ran: {rows}");
    assert!(
        rows.contains(" +00:00\t"),
        "the good key still counts: {rows}"
    );
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    let path = settings.display().to_string();
    assert!(
        err.starts_with("strop: warning: ")
            && err.contains(&format!("{path}:{}: unknown key \"colour\"", lines + 1))
            && err.contains(&format!(
                "{path}:{}: mouse must be true or false",
                lines + 3
            )),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
