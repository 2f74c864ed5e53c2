//! The one history search matcher, for every place that filters locally
//! (the TUI's list, `strop history --follow`), matching what the server's
//! `q` does in SQL so the same query shows the same rows everywhere.
//!
//! The server: each word of `q` (split at whitespace) must occur in the
//! input or the output, `ILIKE`, i.e. after PostgreSQL's `lower()` of both
//! sides, which maps each character to one character (the simple Unicode
//! lowercase of the database's UTF-8 ctype). So here: words by
//! [`str::split_whitespace`], and [`fold`] per character — `İ` folds to `i`
//! (not to `i` + combining dot, as Rust's full `to_lowercase` has it), `ẞ` to
//! `ß`, and `ß` matches only `ß`/`ẞ`, never "ss".

/// The words of a search; an entry matches when it holds every one.
pub fn words(q: &str) -> impl Iterator<Item = &str> {
    q.split_whitespace()
}

/// One character as the search compares it: its simple lowercase (the
/// first character of the full mapping, which is the simple one for every
/// character whose full mapping is longer: only `İ`).
pub fn fold(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn folded(s: &str) -> Vec<char> {
    s.chars().map(fold).collect()
}

/// Whether `needle` occurs in `hay`, compared folded.
pub fn contains(hay: &str, needle: &str) -> bool {
    needle.is_empty() || !ranges(hay, needle).is_empty()
}

/// Byte ranges of `needle` in `hay` (folded comparison, non-overlapping,
/// left to right), for highlighting.
pub fn ranges(hay: &str, needle: &str) -> Vec<std::ops::Range<usize>> {
    let n = folded(needle);
    if n.is_empty() {
        return Vec::new();
    }
    let chars: Vec<(usize, char)> = hay.char_indices().map(|(i, c)| (i, fold(c))).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i + n.len() <= chars.len() {
        if chars[i..i + n.len()]
            .iter()
            .map(|(_, c)| *c)
            .eq(n.iter().copied())
        {
            let start = chars[i].0;
            let end = chars.get(i + n.len()).map_or(hay.len(), |(at, _)| *at);
            out.push(start..end);
            i += n.len();
        } else {
            i += 1;
        }
    }
    out
}

/// Whether an entry with this input and output is a hit for `q` (every
/// word in the input or the output; an empty `q` matches everything).
pub fn matches(q: &str, input: &str, output: &str) -> bool {
    words(q).all(|w| contains(input, w) || contains(output, w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_case_and_the_odd_letters() {
        assert!(matches("HELLO wor", "hello", "World"));
        assert!(!matches("hello mars", "hello", "world"));
        assert!(matches("", "a", "b"));
        assert!(matches("äÖ", "ÄÖü", ""));
        assert!(matches("straße", "STRAẞE", ""));
        assert!(!matches("strasse", "straße", ""));
        assert!(matches("istanbul", "İSTANBUL", ""));
        assert!(matches("İst", "istanbul", ""));
        assert!(matches("🎉", "party 🎉", ""));
        assert_eq!(ranges("Hello hello", "HEL"), vec![0..3, 6..9]);
        assert_eq!(ranges("aaaa", "aa"), vec![0..2, 2..4]);
        assert_eq!(ranges("İx", "i"), vec![0..2]);
    }
}
