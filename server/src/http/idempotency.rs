//! The `Idempotency-Key` request header (IETF httpapi draft) on `/reverse`,
//! `/piglatin` and `/register`: a retry with the same key and body gets the
//! first answer and writes nothing; the same key with another body is 422;
//! while the first is being answered, 409. Kept in the database
//! (db/idempotency.rs), so it holds across replicas.

use sha2::{Digest, Sha256};
use strop_common::{IDEMPOTENCY_KEY, MAX_IDEMPOTENCY_KEY_CHARS};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::HeaderMap;

use crate::http::error::ApiError;

/// The request's key, if it sent one; a malformed one is a 400 that names
/// the header.
pub fn key() -> BoxedFilter<(Option<String>,)> {
    warp::header::headers_cloned()
        .and_then(|headers: HeaderMap| async move { parse(&headers).map_err(warp::reject::custom) })
        .boxed()
}

fn parse(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = || {
        ApiError::invalid(format!(
            "The Idempotency-Key header takes one key of 1 to {MAX_IDEMPOTENCY_KEY_CHARS} \
             visible ASCII characters (a UUID, say)."
        ))
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let text = value.to_str().map_err(|_| bad())?.trim();
    // The draft's form is a structured-field string: "key"; a bare key is
    // taken as it is.
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_CHARS
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

/// What makes two requests "the same": the parts, each length-prefixed so
/// that no two different lists hash alike.
pub fn request_hash(parts: &[&str]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().to_vec()
}

/// The scope of a user's keys: one user's key never meets another's.
pub fn user_scope(user_id: i64) -> String {
    format!("u{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(IDEMPOTENCY_KEY, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn keys_bare_or_quoted() {
        assert_eq!(parse(&HeaderMap::new()), Ok(None));
        assert_eq!(parse(&with(&["abc-1"])), Ok(Some("abc-1".into())));
        assert_eq!(parse(&with(&["\"abc-1\""])), Ok(Some("abc-1".into())));
        for bad in ["", "\"\"", "a b", &"k".repeat(256)] {
            let err = parse(&with(&[bad])).unwrap_err();
            assert!(err.message().contains("Idempotency-Key"), "{bad}");
        }
        assert!(parse(&with(&["a", "b"])).is_err());
    }

    #[test]
    fn hashes_tell_lists_apart() {
        assert_ne!(request_hash(&["ab", "c"]), request_hash(&["a", "bc"]));
        assert_eq!(request_hash(&["x"]), request_hash(&["x"]));
    }
}
