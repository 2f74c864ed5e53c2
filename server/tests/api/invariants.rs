//! Rules of the house that a reader relies on. The live machinery's
//! guarantees are written once, in `server/src/live/mod.rs`, each naming the
//! tests that prove it: every name there must be a test here. And no server
//! module imports one that imports it back (read from the sources).

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

/// `server/src`'s modules by path (`http::conn`), each with its non-test
/// source.
fn modules() -> std::collections::BTreeMap<String, String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| {
            let rel = f.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let source = std::fs::read_to_string(&f).unwrap();
            let code = source.split("#[cfg(test)]").next().unwrap().to_string();
            (parts.join("::"), code)
        })
        .collect()
}

/// Every path a source names after `crate::`, braces expanded.
fn crate_paths(code: &str) -> Vec<String> {
    fn expand(prefix: &str, text: &str, out: &mut Vec<String>) {
        let ident_end = |t: &str| {
            t.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(t.len())
        };
        let end = ident_end(text);
        let path = format!("{prefix}{}", &text[..end]);
        if path.ends_with("::") && text[end..].starts_with('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in text[end..].chars() {
                match c {
                    '{' if depth == 0 => depth = 1,
                    '{' => {
                        depth += 1;
                        item.push(c);
                    }
                    '}' if depth == 1 => {
                        expand(&path, item.trim(), out);
                        break;
                    }
                    '}' => {
                        depth -= 1;
                        item.push(c);
                    }
                    ',' if depth == 1 => {
                        expand(&path, item.trim(), out);
                        item.clear();
                    }
                    _ => item.push(c),
                }
            }
        } else {
            out.push(path.trim_end_matches(':').to_string());
        }
    }
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        expand("", &code[i + "crate::".len()..], &mut out);
    }
    out
}

#[test]
fn no_server_module_imports_one_that_imports_it_back() {
    let modules = modules();
    assert!(modules.contains_key("http::conn"), "{:?}", modules.keys());
    // Module -> the modules it names (the longest module prefix of each path).
    let edges: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = modules
        .iter()
        .map(|(name, code)| {
            let named = crate_paths(code)
                .into_iter()
                .filter_map(|path| {
                    let segments: Vec<&str> = path.split("::").collect();
                    (1..=segments.len())
                        .rev()
                        .map(|n| segments[..n].join("::"))
                        .find_map(|m| modules.get_key_value(&m).map(|(k, _)| k.as_str()))
                })
                .filter(|m| m != name)
                .collect();
            (name.as_str(), named)
        })
        .collect();
    assert!(edges["http::accept"].contains("http::routes"), "{edges:?}");
    // A depth-first search: a module met again on the current path closes a cycle.
    fn visit<'a>(
        m: &'a str,
        edges: &std::collections::BTreeMap<&'a str, std::collections::BTreeSet<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|p| *p == m) {
            panic!("import cycle: {} -> {m}", path[at..].join(" -> "));
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for next in &edges[m] {
            visit(next, edges, path, done);
        }
        path.pop();
    }
    let mut done = std::collections::BTreeSet::new();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
}
