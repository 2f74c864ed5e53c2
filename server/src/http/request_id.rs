//! `X-Request-Id`: every request has one, taken from the client (or the proxy
//! in front) when it is sane, else generated; it names the request's tracing
//! span and is echoed on every answer.

use warp::http::{HeaderMap, HeaderName, HeaderValue};

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id accepted from outside; longer ones are replaced.
const MAX_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The incoming id if there is exactly one and it is 1–128 visible ASCII
    /// characters (it goes into logs and back into a header), else a new one.
    pub fn for_request(headers: &HeaderMap) -> Self {
        let mut given = headers.get_all(HEADER).iter();
        match (given.next(), given.next()) {
            (Some(value), None) if sane(value.as_bytes()) => RequestId(value.clone()),
            _ => Self::generate(),
        }
    }

    /// 128 random bits as 32 hex digits.
    pub fn generate() -> Self {
        let hex = hex::encode(rand::random::<[u8; 16]>());
        RequestId(HeaderValue::from_str(&hex).expect("hex is a valid header value"))
    }

    pub fn as_str(&self) -> &str {
        // Only visible ASCII gets in, so this never fails.
        self.0.to_str().unwrap_or("-")
    }

    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

fn sane(bytes: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&bytes.len()) && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HEADER, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn a_sane_incoming_id_is_kept() {
        for id in [
            &b"abc-123"[..],
            b"7f3c2a9e-1b2d-4c5e-8f90-123456789abc",
            b"x",
        ] {
            assert_eq!(RequestId::for_request(&with(&[id])).as_str().as_bytes(), id);
        }
    }

    #[test]
    fn odd_or_missing_ids_are_replaced() {
        let long = vec![b'a'; MAX_LEN + 1];
        for headers in [
            with(&[]),
            with(&[b""]),
            with(&[b"has space"]),
            with(&[b"tab\there"]),
            with(&["caf\u{e9}".as_bytes()]),
            with(&[&long]),
            with(&[b"one", b"two"]),
        ] {
            let id = RequestId::for_request(&headers);
            assert_eq!(id.as_str().len(), 32, "{headers:?}");
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(RequestId::generate(), RequestId::generate());
    }
}
