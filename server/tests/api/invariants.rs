//! The live machinery's guarantees are written once, in `server/src/live/mod.rs`,
//! each naming the tests that prove it: every name there must be a test here.

const GUARANTEES: &str = include_str!("../../src/live/mod.rs");

#[test]
fn every_test_the_guarantees_name_exists() {
    // Code spans `file::name`; a bracketed one ([`notify::x`]) is a doc link.
    let spans = GUARANTEES.split('`').collect::<Vec<_>>();
    let named: Vec<(&str, &str)> = (1..spans.len())
        .step_by(2)
        .filter(|&i| !spans[i - 1].ends_with('['))
        .filter_map(|i| spans[i].split_once("::"))
        .filter(|(file, name)| {
            !file.is_empty()
                && file.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        })
        .collect();
    assert!(named.len() >= 12, "too few tests named: {named:?}");
    for (file, name) in named {
        let path = format!("{}/tests/api/{file}.rs", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("live/mod.rs names {file}::{name}, but {path}: {e}"));
        assert!(
            source.contains(&format!("async fn {name}()"))
                || source.contains(&format!("fn {name}()")),
            "live/mod.rs names {file}::{name}, which {path} does not define"
        );
    }
}
