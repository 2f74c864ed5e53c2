//! Usernames per RFC 8265, the PRECIS `UsernameCasePreserved` profile:
//! fullwidth and halfwidth forms are mapped to their ordinary forms, the
//! result is NFC, only letters, digits and printable ASCII are allowed (no
//! spaces, controls, invisible, format or bidi control characters), and the
//! bidi rule holds. Case is kept and matters (`Alice` and `alice` are two
//! accounts, as in the seed). Two spellings with one canonical form are one
//! name: the database holds the canonical form only.

use std::collections::HashMap;

use precis_core::Error as PrecisError;
use precis_core::profile::PrecisFastInvocation;
use precis_profiles::UsernameCasePreserved;
use strop_common::MAX_USERNAME_CHARS;

/// Why a name is not a username, as a sentence for whoever typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUsername(String);

/// The canonical form of `name`, or what is wrong with it.
pub fn canonical(name: &str) -> Result<String, InvalidUsername> {
    if name.is_empty() {
        return Err(InvalidUsername("The username must not be empty.".into()));
    }
    let canonical =
        UsernameCasePreserved::enforce(name).map_err(|e| InvalidUsername(why(name, &e)))?;
    if canonical.chars().count() > MAX_USERNAME_CHARS {
        return Err(InvalidUsername(format!(
            "The username must be at most {MAX_USERNAME_CHARS} characters."
        )));
    }
    Ok(canonical.into_owned())
}

fn why(name: &str, err: &PrecisError) -> String {
    match err {
        PrecisError::BadCodepoint(info) => {
            let shown = char::from_u32(info.cp)
                .filter(|c| !c.is_control() && !c.is_whitespace())
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            format!(
                "The username must not contain U+{:04X}{shown}: only letters, digits and \
                 printable ASCII other than space are allowed (RFC 8265).",
                info.cp
            )
        }
        _ if name.chars().all(char::is_whitespace) => "The username must not be empty.".into(),
        _ => "The username is not valid under RFC 8265 (for example, it mixes \
              right-to-left and left-to-right letters)."
            .into(),
    }
}

/// A JSON Schema pattern for `/openapi.json`: one or more characters that
/// are usernames on their own and beside a Latin letter. Any string of them
/// is a valid username. A regex cannot state the bidi rule, so names in a
/// right-to-left script (valid when they do not mix directions) are accepted
/// by the server but not described by the pattern.
/// Printable ASCII is a range of escapes; other characters are literal.
pub fn documented_pattern() -> &'static str {
    static PATTERN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut ranges: Vec<(char, char)> = Vec::new();
        let mut buf = [0u8; 4];
        // Planes 4-16 hold no letters or digits (unassigned, tags, private use).
        // Alone, and beside a Latin letter (which rules out right-to-left
        // characters and those valid only in some context).
        let usable = |c: char, buf: &mut [u8; 4]| {
            UsernameCasePreserved::enforce(&*c.encode_utf8(buf)).is_ok()
                && UsernameCasePreserved::enforce(format!("a{c}")).is_ok()
        };
        for c in ('\u{80}'..'\u{40000}').filter(|&c| usable(c, &mut buf)) {
            match ranges.last_mut() {
                Some((_, end)) if u32::from(*end) + 1 == u32::from(c) => *end = c,
                _ => ranges.push((c, c)),
            }
        }
        let mut class = String::from(r"^[\x21-\x7e");
        for (start, end) in ranges {
            class.push(start);
            if end != start {
                class.push('-');
                class.push(end);
            }
        }
        class.push_str("]+$");
        class
    })
}

/// What the start-up check found among existing usernames.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Rows renamed to their canonical form (no other row shares it).
    pub renamed: Vec<(String, String)>,
    /// Groups of rows whose names share one canonical form; left alone.
    pub collisions: Vec<Vec<String>>,
    /// Rows whose names are not valid usernames any more; left alone.
    pub invalid: Vec<String>,
}

/// Brings rows written before these rules to their canonical form where
/// that is safe, and reports the rest (never merges accounts).
pub async fn check_existing(
    pool: &deadpool_postgres::Pool,
) -> Result<Report, deadpool_postgres::PoolError> {
    let mut client = pool.get().await?;
    let report = rename_or_report(&mut client)
        .await
        .map_err(deadpool_postgres::PoolError::Backend)?;
    for (from, to) in &report.renamed {
        tracing::info!(from, to, "username brought to its RFC 8265 canonical form");
    }
    for names in &report.collisions {
        tracing::warn!(
            ?names,
            "these accounts' usernames have one canonical form (RFC 8265); \
             only the one stored canonically can log in: rename or merge them by hand"
        );
    }
    for name in &report.invalid {
        tracing::warn!(
            name,
            "this account's username is not valid under RFC 8265; it cannot log in"
        );
    }
    Ok(report)
}

async fn rename_or_report(
    client: &mut deadpool_postgres::Client,
) -> Result<Report, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let rows = tx
        .query("SELECT username FROM users ORDER BY id FOR UPDATE", &[])
        .await?;
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    let mut report = Report::default();
    for row in rows {
        let name: String = row.get(0);
        match canonical(&name) {
            Ok(c) => groups.entry(c).or_default().push(name),
            Err(_) => report.invalid.push(name),
        }
    }
    for (canonical, names) in groups {
        match names.as_slice() {
            [only] if *only != canonical => {
                tx.execute(
                    "UPDATE users SET username = $1 WHERE username = $2",
                    &[&canonical, only],
                )
                .await?;
                report.renamed.push((only.clone(), canonical));
            }
            [_] => {}
            _ => report.collisions.push(names),
        }
    }
    tx.commit().await?;
    report.collisions.sort();
    report.renamed.sort();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_names_and_ordinary_unicode_are_kept() {
        for name in [
            "wonsun",
            "Alice",
            "alice",
            "Ünïcødé-ok_1",
            "a.b@c",
            "日本語",
            "x\u{301}",
        ] {
            let c = canonical(name).unwrap();
            assert_eq!(
                c,
                unicode_normalization::UnicodeNormalization::nfc(name).collect::<String>()
            );
        }
        assert!(canonical(&"é".repeat(64)).is_ok());
        assert!(canonical(&"é".repeat(65)).is_err());
        // Right-to-left names, as long as they do not mix directions.
        assert!(canonical("\u{5e9}\u{5dc}\u{5d5}\u{5dd}").is_ok());
        assert!(canonical("a\u{5d0}").is_err());
    }

    #[test]
    fn the_documented_pattern_is_a_character_class() {
        let started = std::time::Instant::now();
        let p = documented_pattern();
        eprintln!(
            "{} bytes, {} chars in {:?}",
            p.len(),
            p.chars().count(),
            started.elapsed()
        );
        assert!(p.starts_with(r"^[\x21-\x7e") && p.ends_with("]+$"));
        let re = regex::Regex::new(p).unwrap();
        for ok in ["Alice", "é", "日本語", "Ünïcødé-ok_1", "\u{ff21}"] {
            assert!(re.is_match(ok), "{ok:?}");
        }
        for bad in [
            "", "a b", "\u{200b}", "\u{ad}", "\u{feff}", "\u{202e}", "🦀", "\u{7f}", "\u{5d0}",
        ] {
            assert!(!re.is_match(bad), "{bad:?}");
        }
    }

    #[test]
    fn look_alike_spellings_share_one_form() {
        assert_eq!(
            canonical("Jose\u{301}").unwrap(),
            canonical("Jos\u{e9}").unwrap()
        );
        assert_eq!(
            canonical("\u{ff21}\u{ff4c}\u{ff49}\u{ff43}\u{ff45}").unwrap(),
            "Alice"
        );
    }

    #[test]
    fn invisible_format_bidi_space_and_control_characters_are_refused() {
        for bad in [
            "",
            "a b",
            "a\tb",
            "a\u{0}b",
            "a\u{7f}",
            "\u{a0}x",
            "zw\u{200b}",
            "a\u{200d}b",
            "soft\u{ad}hyphen",
            "\u{feff}bom",
            "evil\u{202e}txt",
            "\u{3000}",
            "🦀",
        ] {
            assert!(canonical(bad).is_err(), "{bad:?}");
        }
        let msg = canonical("a\u{200b}").unwrap_err().to_string();
        assert!(msg.contains("U+200B"), "{msg}");
    }
}
