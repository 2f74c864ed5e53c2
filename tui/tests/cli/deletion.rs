//! `strop history delete ID…` and `strop history delete --all`, against the
//! real server.

use strop_common::api::{HistoryEntry, HistoryResponse};

use super::{Ctx, fails, ok};

fn entries(ctx: &Ctx) -> Vec<HistoryEntry> {
    serde_json::from_str::<HistoryResponse>(&ok(&ctx.run(&["history", "--json"])))
        .unwrap()
        .history
}

fn ids(ctx: &Ctx) -> Vec<i64> {
    entries(ctx).iter().map(|e| e.id).collect()
}

#[test]
fn delete_by_id_removes_those_entries_and_reports_ids_that_are_not_yours() {
    let ctx = Ctx::new("delid");
    ctx.register_and_login();
    let other = Ctx::new("delother");
    other.register_and_login();
    for text in ["one", "two", "three"] {
        ok(&ctx.run(&["reverse", text]));
    }
    ok(&other.run(&["reverse", "theirs"]));
    let [a, b, c] = ids(&ctx)[..] else {
        panic!("three entries")
    };
    let theirs = ids(&other)[0];
    let out = ok(&ctx.run(&["history", "delete", &a.to_string(), &c.to_string()]));
    assert_eq!(out, format!("Entry {a} deleted.\nEntry {c} deleted.\n"));
    assert_eq!(ids(&ctx), [b]);
    // Someone else's id and a gone one: one sentence naming both, exit 1;
    // the id that is ours is deleted all the same.
    let out = ctx.run(&[
        "history",
        "delete",
        &theirs.to_string(),
        &b.to_string(),
        &a.to_string(),
    ]);
    assert_eq!(super::stdout(&out), format!("Entry {b} deleted.\n"));
    let err = fails(&out, 1);
    assert!(
        err.contains(&format!("no history entries {theirs}, {a}")),
        "{err}"
    );
    assert!(ids(&ctx).is_empty());
    assert_eq!(ids(&other), [theirs], "another user's entry stays");
    // Tester's finding 6: an id given twice is deleted once, no complaint.
    ok(&ctx.run(&["reverse", "twice"]));
    let d = ids(&ctx)[0];
    let out = ok(&ctx.run(&["history", "delete", &d.to_string(), &d.to_string()]));
    assert_eq!(out, format!("Entry {d} deleted.\n"));
    assert!(ids(&ctx).is_empty());
    // Usage: no id, a bad id, ids with --all.
    fails(&ctx.run(&["history", "delete"]), 2);
    fails(&ctx.run(&["history", "delete", "x"]), 2);
    fails(&ctx.run(&["history", "delete", "1", "--all"]), 2);
}

#[test]
fn delete_all_without_a_terminal_needs_yes_and_takes_only_your_history() {
    let ctx = Ctx::new("delall");
    ctx.register_and_login();
    let other = Ctx::new("delallother");
    other.register_and_login();
    ok(&ctx.run(&["reverse", "a"]));
    ok(&ctx.run(&["piglatin", "b"]));
    ok(&other.run(&["reverse", "c"]));
    // stdin is no terminal here: refused, with the flag that does it.
    let err = fails(&ctx.run(&["history", "delete", "--all"]), 2);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(ids(&ctx).len(), 2, "nothing deleted");
    let out = ok(&ctx.run(&["history", "delete", "--all", "--yes"]));
    assert_eq!(out, "2 history entries deleted.\n");
    assert!(ids(&ctx).is_empty());
    assert_eq!(entries(&other).len(), 1);
    assert_eq!(
        ok(&ctx.run(&["history", "delete", "--all", "-y"])),
        "0 history entries deleted.\n"
    );
}

#[test]
fn delete_when_not_logged_in_or_with_a_revoked_token_exits_3() {
    let ctx = Ctx::new("delauth");
    ctx.register_and_login();
    ok(&ctx.run(&["reverse", "x"]));
    let id = ids(&ctx)[0].to_string();
    let token = ctx.stored_token().unwrap();
    ok(&ctx.run(&["logout"]));
    let err = fails(&ctx.run(&["history", "delete", &id]), 3);
    assert!(err.contains("not logged in"), "{err}");
    let err = fails(
        &ctx.run_with(
            &["history", "delete", "--all", "--yes"],
            None,
            &[("STROP_TOKEN", &token)],
        ),
        3,
    );
    assert!(err.contains("STROP_TOKEN"), "{err}");
}
