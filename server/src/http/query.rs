//! Query strings, parameter by parameter: every refusal names the parameter
//! and says what it takes (serde's "invalid digit found in string" told a
//! caller neither).

use strop_common::{Function, HistoryQuery, MAX_HISTORY_LIMIT};

use crate::http::error::ApiError;

/// The `name=value` pairs of a raw query string, percent-decoded; a name
/// given twice is refused (which of the two would count is a guess).
pub fn pairs(raw: &str) -> Result<Vec<(String, String)>, ApiError> {
    // The decoder would replace invalid UTF-8 with U+FFFD, which then matches.
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    if std::str::from_utf8(&decoded).is_err() {
        return Err(ApiError::invalid(
            "The query string is not UTF-8 once percent-decoded.",
        ));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::invalid(format!("The query string is not valid: {e}.")))?;
    for (i, (name, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(seen, _)| seen == name) {
            return Err(ApiError::invalid(format!(
                "The query parameter {name} is given more than once."
            )));
        }
    }
    Ok(pairs)
}

/// `/get-history`'s query; unknown parameters are ignored.
pub fn history(raw: &str) -> Result<HistoryQuery, ApiError> {
    let mut query = HistoryQuery::default();
    for (name, value) in pairs(raw)? {
        match name.as_str() {
            "limit" => query.limit = Some(limit(&value)?),
            "before" => query.before = Some(entry_id("before", &value)?),
            "function" => query.function = Some(function(&value)?),
            "q" => {
                if value.contains('\0') {
                    return Err(ApiError::invalid(
                        "The query parameter q must not contain NUL characters.",
                    ));
                }
                query.q = Some(value);
            }
            _ => {}
        }
    }
    Ok(query)
}

/// A yes/no parameter: `true` or `false`.
pub fn flag(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ApiError::invalid(format!(
            "The query parameter {name} takes true or false, not \"{}\".",
            shown(other)
        ))),
    }
}

fn limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_HISTORY_LIMIT).contains(n))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "The query parameter limit takes a whole number from 1 to {MAX_HISTORY_LIMIT}, not \"{}\".",
                shown(value)
            ))
        })
}

/// An id as written in a path or query: digits only (no sign, no space),
/// from 1. `i64`'s own parser would take `+3`.
fn id_number(value: &str) -> Option<i64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok().filter(|n| *n >= 1)
}

/// The id of a path's last segment (`what`: "entry", "session").
pub fn path_id(what: &str, value: &str) -> Result<i64, ApiError> {
    id_number(value).ok_or_else(|| {
        ApiError::invalid(format!(
            "The {what} id in the path must be a whole number from 1, not \"{}\".",
            shown(value)
        ))
    })
}

/// An entry id: a whole number from 1.
pub fn entry_id(name: &str, value: &str) -> Result<i64, ApiError> {
    id_number(value).ok_or_else(|| {
        ApiError::invalid(format!(
            "The query parameter {name} takes an entry id (a whole number from 1), not \"{}\".",
            shown(value)
        ))
    })
}

fn function(value: &str) -> Result<Function, ApiError> {
    value.parse().map_err(|_| {
        ApiError::invalid(format!(
            "The query parameter function takes reverse or piglatin, not \"{}\".",
            shown(value)
        ))
    })
}

/// A value as quoted back: at most 40 characters of it.
fn shown(value: &str) -> String {
    let mut out: String = value.chars().take(40).collect();
    if out.len() < value.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(raw: &str) -> String {
        history(raw).unwrap_err().message()
    }

    #[test]
    fn each_refusal_names_its_parameter_and_what_it_takes() {
        assert_eq!(
            message("limit=abc"),
            "The query parameter limit takes a whole number from 1 to 1000, not \"abc\"."
        );
        assert!(message("limit=0").contains("limit takes a whole number from 1 to 1000"));
        assert!(message("limit=1001").contains("limit"));
        assert!(message("before=x").contains("before takes an entry id"));
        assert!(message("before=0").contains("before"));
        assert!(message("function=upper").contains("function takes reverse or piglatin"));
        assert!(message("q=%00").contains("q must not contain NUL"));
        assert!(message("limit=1&limit=2").contains("limit is given more than once"));
        assert!(message(&format!("limit={}", "9".repeat(100))).contains('…'));
    }

    #[test]
    fn good_values_parse_and_unknown_names_are_ignored() {
        let q = history("limit=5&before=9&function=piglatin&q=a+b&other=1").unwrap();
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.before, Some(9));
        assert_eq!(q.function, Some(Function::Piglatin));
        assert_eq!(q.q.as_deref(), Some("a b"));
        assert_eq!(history("").unwrap(), HistoryQuery::default());
    }

    #[test]
    fn query_strings_must_decode_to_utf8() {
        assert_eq!(history("q=%C3%A9").unwrap().q.as_deref(), Some("é"));
        assert!(history("q=%FF").is_err());
        assert!(history("q=a%C3").is_err());
        assert!(history("q=50%25+off").is_ok());
    }

    #[test]
    fn flags() {
        assert_eq!(flag("others", "true"), Ok(true));
        assert_eq!(flag("others", "false"), Ok(false));
        assert!(
            flag("others", "yes")
                .unwrap_err()
                .message()
                .contains("others takes true or false")
        );
    }
}
