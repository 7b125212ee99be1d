//! `replsim diff`: what differs between two reports, in the library and end to end through the
//! binary's exit codes (0 equal, 1 different, 2 bad input).

use replsim::diff::{diff, render, to_json};
use replsim::report::{self, Report};

mod common;
use common::*;

/// A master, a replica and a 3-second partition of the replica; `backlog` sizes the backlog, so
/// a small one turns the partial resync after the heal into a full one.
fn scenario(backlog: &str) -> String {
    format!(
        "name = \"d\"\nduration = \"20s\"\n[defaults]\nrepl-backlog-size = \"{backlog}\"\nrepl-timeout = \"2s\"\n\
         [[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
         [[workload]]\nname = \"app\"\ntarget = \"m\"\nrate = 500\nvalue_size = 200\n\
         [[fault]]\nat = \"8s\"\nkind = \"partition\"\ngroups = [[\"r\"]]\nduration = \"4s\"\n\
         [expect]\n\"m.sync_partial_ok\" = 1\n"
    )
}

fn run(text: &str, seed: u64) -> Report {
    let sc = replsim::scenario::parse("d.toml", text).expect("a valid scenario");
    report::build(&replsim::sim::run(sc, seed, u64::MAX, None, &mut |_, _| {}))
}

fn find<'a>(
    diffs: &'a [replsim::diff::Difference],
    path: &str,
) -> Option<&'a replsim::diff::Difference> {
    diffs.iter().find(|d| d.path == path)
}

#[test]
fn a_report_equals_itself_and_a_rerun_of_the_same_seed() {
    let a = run(&scenario("1mb"), 1);
    assert!(diff(&a, &a).is_empty());
    assert!(diff(&a, &run(&scenario("1mb"), 1)).is_empty());
    assert!(render("a", &a, "b", &a, &[]).contains("no differences"));
}

#[test]
fn a_smaller_backlog_shows_as_a_full_sync_a_failed_expectation_and_a_new_trace() {
    let a = run(&scenario("1mb"), 1);
    let b = run(&scenario("16kb"), 1);
    assert!(
        a.ok && !b.ok,
        "the small backlog fails the partial-resync expectation"
    );
    let d = diff(&a, &b);
    let sync_full = find(&d, "nodes.m.stats.sync_full").expect("sync_full differs");
    assert_eq!(sync_full.section, "nodes");
    assert_eq!(
        (sync_full.a.clone(), sync_full.b.clone()),
        (Some(1.into()), Some(2.into()))
    );
    assert!(find(&d, "run.trace_hash").is_some());
    let ok = find(&d, "run.ok").expect("the verdict differs");
    assert_eq!(
        (ok.a.clone(), ok.b.clone()),
        (Some(true.into()), Some(false.into()))
    );
    // One line per expectation, named by what it says, with both verdicts.
    let e = find(&d, "expectations[m.sync_partial_ok == 1]").expect("the expectation differs");
    assert_eq!(e.a.as_ref().unwrap()["ok"], true);
    assert_eq!(e.b.as_ref().unwrap()["ok"], false);
    // Lists of named items are matched by name: the replica's convergence, not item 0.
    assert!(d
        .iter()
        .any(|x| x.path.starts_with("checks.resync_loop.replicas[r].")));
    let text = render("a.json", &a, "b.json", &b, &d);
    assert!(text.contains("m.sync_partial_ok == 1"), "{text}");
    assert!(text.contains("ok (1)  ->  FAIL (0)"), "{text}");
    assert!(text.contains("stats.sync_full"), "{text}");
    assert!(text
        .trim_end()
        .ends_with(&format!("{} differences", d.len())));
    let json = to_json("a.json", "b.json", &d);
    assert_eq!(json["equal"], false);
    assert_eq!(json["differences"].as_array().unwrap().len(), d.len());
}

#[test]
fn a_node_only_one_report_has_is_added_or_removed() {
    let a = run(&scenario("1mb"), 1);
    let mut b = a.clone();
    let node = b.nodes["r"].clone();
    b.nodes.insert("r2".into(), node);
    b.violations.push(report::Violation {
        checker: "stale_reads".into(),
        message: "1 stale read".into(),
        expected: false,
    });
    let d = diff(&a, &b);
    let added = find(&d, "nodes.r2").expect("the new node");
    assert_eq!(added.change(), "added");
    assert!(added.a.is_none() && added.b.is_some());
    let v = find(&d, "violations[stale_reads]").expect("the new violation, by its checker");
    assert_eq!(v.change(), "added");
    assert_eq!(
        diff(&b, &a)
            .iter()
            .filter(|x| x.change() == "removed")
            .count(),
        2
    );
}

#[test]
fn the_exit_code_says_equal_different_or_bad_input() {
    let dir = scratch("diff-cli");
    let write = |name: &str, r: &Report| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_string_pretty(r).unwrap()).unwrap();
        p.to_str().unwrap().to_string()
    };
    let a = write("a.json", &run(&scenario("1mb"), 1));
    let same = write("same.json", &run(&scenario("1mb"), 1));
    let b = write("b.json", &run(&scenario("16kb"), 1));
    let out = replsim(&["diff", &a, &same]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = replsim(&["diff", &a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sync_full"));
    let out = replsim(&["diff", &a, &b, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["equal"], false);
    assert!(v["differences"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["path"] == "nodes.m.stats.sync_full" && d["a"] == 1 && d["b"] == 2));
    // Not a report: a missing field is named; a missing file is named.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"scenario\": \"x\"}").unwrap();
    let out = replsim(&["diff", &a, bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a replsim report"));
    let missing = dir.join("missing.json");
    let out = replsim(&["diff", missing.to_str().unwrap(), &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));
}
