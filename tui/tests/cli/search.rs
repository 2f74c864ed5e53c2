//! Issue 17, 12: one search, the same rows everywhere. The same corpus and
//! queries through the server's SQL (`strop history --search`, i.e.
//! `GET /get-history?q=`) and through `strop_common::search` (what the
//! TUI's list and `--follow` filter with) give the same entries.

use std::collections::BTreeSet;

use strop_common::api::HistoryResponse;

use crate::{Ctx, ok};

#[test]
fn the_server_and_the_local_matcher_find_the_same_rows() {
    let ctx = Ctx::new("search");
    ctx.register_and_login();
    let corpus = [
        "Hello World",
        "hello again",
        "Crème Brûlée",
        "CRÈME fraîche",
        "Straße",
        "STRASSE",
        "STRAẞE groß",
        "İstanbul",
        "istanbul",
        "ISTANBUL ıi",
        "party 🎉 time",
        "👨‍👩‍👧 family",
        "50% off_now",
    ];
    for text in corpus {
        ok(&ctx.run(&["reverse", text]));
    }
    let all: HistoryResponse = serde_json::from_str(&ok(&ctx.run(&["history", "--json"]))).unwrap();
    assert_eq!(all.history.len(), corpus.len());
    let queries = [
        "hello",
        "HELLO world",
        "dlrow",
        "crème",
        "CRÈME",
        "brûlée",
        "creme",
        "straße",
        "STRAẞE",
        "strasse",
        "groß",
        "İstanbul",
        "istanbul",
        "ı",
        "i̇",
        "🎉",
        "👩",
        "family 👨",
        "50%",
        "off_",
        "%",
        "_",
        "nothing here",
    ];
    let mut differ = Vec::new();
    for q in queries {
        let served: HistoryResponse =
            serde_json::from_str(&ok(&ctx.run(&["history", "--json", "--search", q]))).unwrap();
        let served: BTreeSet<i64> = served.history.iter().map(|e| e.id).collect();
        let local: BTreeSet<i64> = all
            .history
            .iter()
            .filter(|e| strop_common::search::matches(q, &e.input, &e.output))
            .map(|e| e.id)
            .collect();
        if served != local {
            differ.push(format!("{q:?}: server {served:?}, local {local:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "the matcher and SQL differ:\n{}",
        differ.join("\n")
    );
}
