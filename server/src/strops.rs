//! The two string operations (SPEC §2). Pure functions: no I/O, no allocation
//! beyond the result, fully unit- and property-tested below.
//!
//! Both work on extended grapheme clusters, so a letter with its combining
//! marks, an emoji ZWJ sequence or a `\r\n` is always moved as one piece.

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// Reverses `input` by extended grapheme clusters.
pub fn reverse(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    out.extend(input.graphemes(true).rev());
    out
}

/// Translates every word of `input` to Pig Latin, copying everything that is
/// not a letter (spaces, digits, punctuation, newlines) through in place.
pub fn piglatin(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    let mut word: Vec<&str> = Vec::new();
    for grapheme in input.graphemes(true) {
        if is_letter(grapheme) {
            word.push(grapheme);
        } else {
            flush_word(&mut word, &mut out);
            out.push_str(grapheme);
        }
    }
    flush_word(&mut word, &mut out);
    out
}

fn flush_word(word: &mut Vec<&str>, out: &mut String) {
    if !word.is_empty() {
        translate_word(word, out);
        word.clear();
    }
}

/// A grapheme is a letter when its base character is alphabetic; its
/// combining marks travel with it.
fn is_letter(grapheme: &str) -> bool {
    base(grapheme).is_alphabetic()
}

/// Vowels are `a e i o u` in either case, with or without diacritics: the
/// base letter is read after canonical decomposition, so `é` and `e\u{301}`
/// agree.
fn is_vowel(grapheme: &str) -> bool {
    matches!(
        grapheme.nfd().next(),
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'A' | 'E' | 'I' | 'O' | 'U')
    )
}

fn base(grapheme: &str) -> char {
    grapheme.chars().next().unwrap_or('\0')
}

/// How a word is capitalised decides how its translation is.
#[derive(Debug, PartialEq, Eq)]
enum Case {
    /// `This` -> `Isthay` (a lone capital, `I`, counts as Title).
    Title,
    /// `THIS` -> `ISTHAY` (two or more letters, all capitals).
    Upper,
    /// Anything else: each letter keeps its own case as it moves.
    AsIs,
}

fn case_of(word: &[&str]) -> Case {
    let upper = |g: &&str| base(g).is_uppercase();
    let lower = |g: &&str| base(g).is_lowercase();
    match word.split_first() {
        Some((first, rest)) if upper(first) && rest.iter().all(lower) => Case::Title,
        Some(_) if word.len() >= 2 && word.iter().all(upper) => Case::Upper,
        _ => Case::AsIs,
    }
}

fn translate_word(word: &[&str], out: &mut String) {
    // Leading consonants move to the end; a word with no vowel keeps them all.
    let split = word.iter().position(|g| is_vowel(g)).unwrap_or(0);
    let suffix = if split == 0 && is_vowel(word[0]) {
        "way"
    } else {
        "ay"
    };
    let moved = word[split..].iter().chain(&word[..split]).copied();
    match case_of(word) {
        Case::AsIs => {
            out.extend(moved);
            out.push_str(suffix);
        }
        Case::Upper => {
            for g in moved {
                out.push_str(&g.to_uppercase());
            }
            out.push_str(&suffix.to_uppercase());
        }
        Case::Title => {
            for (i, g) in moved.enumerate() {
                if i == 0 {
                    out.push_str(&title_grapheme(g));
                } else {
                    out.push_str(&g.to_lowercase());
                }
            }
            out.push_str(suffix);
        }
    }
}

/// Capitalises a grapheme's base letter and leaves its marks alone.
fn title_grapheme(grapheme: &str) -> String {
    let mut chars = grapheme.chars();
    let mut titled: String = chars
        .next()
        .into_iter()
        .flat_map(char::to_uppercase)
        .collect();
    titled.push_str(chars.as_str());
    titled
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seed_examples_hold_exactly() {
        assert_eq!(
            reverse("This is my string to reverse"),
            "esrever ot gnirts ym si sihT"
        );
        assert_eq!(
            piglatin("This is my string to convert to piglatin"),
            "Isthay isway myay ingstray otay onvertcay otay iglatinpay"
        );
        assert_eq!(piglatin("Hello, world!"), "Ellohay, orldway!");
    }

    #[test]
    fn piglatin_word_rules() {
        for (word, want) in [
            ("is", "isway"),
            ("I", "Iway"),
            ("a", "away"),
            ("string", "ingstray"),
            ("convert", "onvertcay"),
            ("my", "myay"),
            ("rhythm", "rhythmay"),
            ("yellow", "ellowyay"),
            ("queen", "ueenqay"),
            ("Apple", "Appleway"),
        ] {
            assert_eq!(piglatin(word), want, "{word}");
        }
    }

    #[test]
    fn piglatin_case_rules() {
        for (word, want) in [
            ("This", "Isthay"),
            ("THIS", "ISTHAY"),
            ("MY", "MYAY"),
            ("IS", "ISWAY"),
            ("Rhythm", "Rhythmay"),
            ("A", "Away"),
            ("B", "Bay"),
            // Mixed case: each letter keeps its own case as it moves.
            ("iPhone", "iPhoneway"),
            ("McDonald", "onaldMcDay"),
            ("sTRING", "INGsTRay"),
            ("Élan", "Élanway"),
            ("Über", "Überway"),
            ("ÉTÉ", "ÉTÉWAY"),
            ("Çava", "Avaçay"),
        ] {
            assert_eq!(piglatin(word), want, "{word}");
        }
    }

    #[test]
    fn piglatin_copies_non_letters_in_place() {
        assert_eq!(piglatin(""), "");
        assert_eq!(piglatin("  \n\t"), "  \n\t");
        assert_eq!(piglatin("123 -- 4.5!"), "123 -- 4.5!");
        assert_eq!(piglatin("don't stop"), "onday'tay opstay");
        assert_eq!(piglatin("pig2latin"), "igpay2atinlay");
        assert_eq!(piglatin("Hello,\r\nWorld!\n"), "Ellohay,\r\nOrldway!\n");
        assert_eq!(piglatin("snake_case"), "akesnay_asecay");
    }

    #[test]
    fn piglatin_keeps_combining_marks_on_their_letter() {
        // "cafe" + U+0301: the accent stays on the "e".
        assert_eq!(piglatin("cafe\u{301}"), "afe\u{301}cay");
        assert_eq!(piglatin("Cafe\u{301}"), "Afe\u{301}cay");
        assert_eq!(piglatin("CAFE\u{301}"), "AFE\u{301}CAY");
    }

    #[test]
    fn piglatin_non_latin_words() {
        // Alphabetic but vowel-less by the SPEC's definition.
        assert_eq!(piglatin("привет мир"), "приветay мирay");
        assert_eq!(piglatin("日本"), "日本ay");
    }

    #[test]
    fn reverse_keeps_graphemes_intact() {
        assert_eq!(reverse(""), "");
        assert_eq!(reverse("abc"), "cba");
        // Combining marks stay after their base letter.
        assert_eq!(reverse("cafe\u{301}!"), "!e\u{301}fac");
        // A ZWJ family and a flag stay whole.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        assert_eq!(
            reverse(&format!("a{family}b\u{1F1FA}\u{1F1F8}")),
            format!("\u{1F1FA}\u{1F1F8}b{family}a")
        );
        // Skin-tone modifiers stay on their emoji.
        assert_eq!(reverse("\u{1F44D}\u{1F3FD}x"), "x\u{1F44D}\u{1F3FD}");
        // CRLF is one grapheme and survives.
        assert_eq!(reverse("a\r\nb"), "b\r\na");
        assert_eq!(reverse("한국어"), "어국한");
    }

    /// Grapheme clusters that cannot merge with their neighbours in either
    /// order, so reversing twice must give the input back.
    fn clusters() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a",
            "Z",
            "7",
            " ",
            "!",
            ",",
            "\n",
            "\r\n",
            "\t",
            "é",
            "e\u{301}",
            "n\u{303}\u{323}",
            "ß",
            "Ω",
            "ж",
            "日",
            "한",
            "\u{1F600}",
            "\u{1F44D}\u{1F3FD}",
            "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            "\u{1F1FA}\u{1F1F8}",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn reverse_twice_is_identity(s in clusters()) {
            prop_assert_eq!(reverse(&reverse(&s)), s);
        }

        #[test]
        fn reverse_twice_is_identity_for_plain_text(s in "[ -~\n]*") {
            prop_assert_eq!(reverse(&reverse(&s)), s);
        }

        #[test]
        fn reverse_keeps_every_character(s in any::<String>()) {
            let mut before: Vec<char> = s.chars().collect();
            let mut after: Vec<char> = reverse(&s).chars().collect();
            before.sort_unstable();
            after.sort_unstable();
            prop_assert_eq!(before, after);
        }

        #[test]
        fn piglatin_copies_every_non_letter_in_place(s in any::<String>()) {
            let out = piglatin(&s);
            prop_assert_eq!(non_letter_runs(&s), non_letter_runs(&out));
        }

        #[test]
        fn piglatin_never_panics_and_only_grows(s in any::<String>()) {
            let out = piglatin(&s);
            prop_assert!(out.graphemes(true).count() >= s.graphemes(true).count());
        }
    }

    /// The non-letter stretches of a text, with a marker for each word between them.
    fn non_letter_runs(s: &str) -> Vec<String> {
        let mut runs = vec![String::new()];
        let mut in_word = false;
        for g in s.graphemes(true) {
            if is_letter(g) {
                if !in_word {
                    runs.push(String::new());
                    in_word = true;
                }
            } else {
                if in_word {
                    runs.push(String::new());
                    in_word = false;
                }
                runs.last_mut().expect("never empty").push_str(g);
            }
        }
        runs
    }
}
