//! The one rule for what a run may send, for the TUI and `strop reverse|piglatin`
//! alike: not empty, and within the server's body limit
//! (`strop_common::MAX_BODY_BYTES`), refused here with a sentence instead of
//! a 413 from the server.

use strop_common::{MAX_BODY_BYTES, StropRequest};

/// Why `input` cannot be sent, in a person's terms; `None` when it can.
pub fn refusal(input: &str) -> Option<String> {
    if input.trim().is_empty() {
        return Some(crate::client::EMPTY_INPUT.into());
    }
    let body = serde_json::to_vec(&StropRequest {
        input: input.to_string(),
    })
    .map_or(usize::MAX, |b| b.len());
    let limit = MAX_BODY_BYTES as usize;
    (body > limit).then(|| {
        let chars = input.chars().count();
        let over = body - limit;
        format!(
            "Nothing ran: the input is {} characters ({} bytes as sent); the server takes at \
             most {} KiB. Shorten it by at least {} bytes.",
            group(chars),
            group(body),
            limit / 1024,
            group(over)
        )
    })
}

/// 70000 -> "70,000".
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_says_why_in_plain_terms() {
        assert!(refusal("  \n").unwrap().contains("empty"));
        assert_eq!(refusal("hello"), None);
        let long = "x".repeat(70_000);
        let why = refusal(&long).unwrap();
        assert!(why.contains("70,000 characters"), "{why}");
        assert!(why.contains("64 KiB"), "{why}");
        assert!(!why.to_lowercase().contains("payload"), "{why}");
        // Right at the edge: what fits in the body is sent.
        let fits = "x".repeat(MAX_BODY_BYTES as usize - r#"{"input":""}"#.len());
        assert_eq!(refusal(&fits), None);
    }

    #[test]
    fn group_puts_commas_in_thousands() {
        assert_eq!(group(7), "7");
        assert_eq!(group(70_000), "70,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
