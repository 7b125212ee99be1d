//! `replsim sweep`, `sweep merge` and `advise` from the outside: a sweep does not depend on
//! `--jobs`; shards merged are the whole sweep byte for byte; a failing seed's repro line
//! reproduces it; the advisor's answer holds and its neighbour on the failing side fails; and
//! every mistake is exit code 2 with a message that names it.

use std::path::{Path, PathBuf};

mod common;
use common::*;

/// A 3-second partition of a replica while a master takes 1 MB/s of writes, with jitter on the
/// network so that each seed converges after its own delay: about half the seeds take longer
/// than the expectation allows. With less than about 3 MB of backlog the partition costs a
/// second full sync.
const SCENARIO: &str = r#"name = "sweep-test"
duration = "14s"
[network]
jitter = "2ms"
[defaults]
repl-timeout = "2s"
repl-backlog-size = "4mb"
repl-diskless-sync-delay = "0"
[[node]]
name = "m"
[[node]]
name = "r"
replicaof = "m"
[[workload]]
target = "m"
rate = 1000
value_size = 1000
keys = 1000
stop = "10s"
[[fault]]
at = "4s"
kind = "partition"
groups = [["r"]]
duration = "3s"
[expect]
"m.sync_full" = 1
"checks.convergence.seconds_after_last_fault" = "< 0.5"
"#;

fn scenario(dir: &Path) -> PathBuf {
    let p = dir.join("sweep-test.toml");
    std::fs::write(&p, SCENARIO).expect("a scenario file");
    p
}

#[test]
fn a_sweep_does_not_depend_on_the_number_of_threads() {
    let dir = scratch("sweep-jobs");
    let f = scenario(&dir);
    let one = replsim(&[
        "sweep",
        path(&f),
        "--seeds",
        "1..9",
        "--jobs",
        "1",
        "--json",
    ]);
    let three = replsim(&[
        "sweep",
        path(&f),
        "--seeds",
        "1..9",
        "--jobs",
        "3",
        "--json",
    ]);
    assert_eq!(one.stdout, three.stdout);
    let r = json(&one);
    // Some seeds converge in time and some do not: the sweep has failures to list.
    let (runs, ok) = (r["runs"].as_u64().unwrap(), r["runs_ok"].as_u64().unwrap());
    assert!(runs == 8 && 0 < ok && ok < 8, "{runs} runs, {ok} ok");
    assert_eq!(one.status.code(), Some(1));
    let seeds: Vec<u64> = r["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, (1..9).collect::<Vec<_>>());
}

#[test]
fn shards_merged_are_the_whole_sweep_byte_for_byte() {
    let dir = scratch("sweep-shards");
    let f = scenario(&dir);
    for vary in [None, Some("repl-backlog-size=1mb..4mb:3")] {
        let mut args = vec!["sweep", path(&f), "--seeds", "3..13", "-q"];
        if let Some(v) = vary {
            args.extend(["--vary", v]);
        }
        let whole_json = replsim(&[&args[..], &["--json"]].concat());
        let whole_text = replsim(&args);
        let mut shards = Vec::new();
        // Four shards of ten seeds: 3, 3, 2 and 2 long, given to merge out of order.
        for i in [3, 1, 4, 2] {
            let shard = format!("{i}/4");
            let out = replsim(&[&args[..], &["--shard", &shard, "--json"]].concat());
            let r = json(&out);
            assert_eq!(r["shard"]["index"], i);
            let p = dir.join(format!("shard-{i}.json"));
            std::fs::write(&p, &out.stdout).unwrap();
            shards.push(p);
        }
        let names: Vec<&str> = shards.iter().map(|p| path(p)).collect();
        let merged_json = replsim(&[&["sweep", "merge"], &names[..], &["--json"]].concat());
        assert_eq!(
            stdout(&merged_json),
            stdout(&whole_json),
            "{}",
            stderr(&merged_json)
        );
        let merged_text = replsim(&[&["sweep", "merge"], &names[..]].concat());
        assert_eq!(stdout(&merged_text), stdout(&whole_text));
        assert_eq!(merged_text.status.code(), whole_text.status.code());
        // And so are the files --out writes: sweep.json, summary.txt, the charts, report.html.
        let (whole_out, merged_out) = (dir.join("whole-out"), dir.join("merged-out"));
        replsim(&[&args[..], &["--out", path(&whole_out)]].concat());
        replsim(
            &[
                &["sweep", "merge"],
                &names[..],
                &["--out", path(&merged_out)],
            ]
            .concat(),
        );
        let files = |d: &Path| {
            let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read(e.path()).unwrap())
                })
                .collect();
            v.sort();
            v
        };
        let whole_files = files(&whole_out);
        assert!(whole_files.iter().any(|(n, _)| n == "report.html"));
        assert!(whole_files.iter().any(|(n, _)| n.ends_with(".svg")));
        assert!(
            files(&merged_out) == whole_files,
            "--out differs after merge"
        );
        std::fs::remove_dir_all(&whole_out).unwrap();
        std::fs::remove_dir_all(&merged_out).unwrap();
        // A shard alone is not the sweep: its tallies count its own runs.
        let one = json(&replsim(
            &[&args[..], &["--shard", "1/4", "--json"]].concat(),
        ));
        assert_ne!(one["runs"], json(&whole_json)["runs"]);
    }
}

#[test]
fn merge_refuses_shards_that_do_not_make_one_sweep() {
    let dir = scratch("sweep-merge-refusals");
    let f = scenario(&dir);
    let shard = |name: &str, extra: &[&str]| {
        let out = replsim(&[&["sweep", path(&f), "--json", "-q"], extra].concat());
        let p = dir.join(name);
        std::fs::write(&p, &out.stdout).unwrap();
        p
    };
    let a = shard("a.json", &["--seeds", "1..5", "--shard", "1/2"]);
    let b = shard("b.json", &["--seeds", "1..5", "--shard", "2/2"]);
    let other = shard("other.json", &["--seeds", "1..7", "--shard", "2/2"]);
    let whole = shard("whole.json", &["--seeds", "1..5"]);
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"format\": \"replsim-sweep/1\"}").unwrap();
    for (files, says) in [
        (vec![&a], "missing shards: 2/2"),
        (vec![&a, &a, &b], "are both shard 1/2"),
        (vec![&a, &other], "seed ranges differ"),
        (vec![&a, &whole], "a whole sweep, not a shard"),
        (
            vec![&a, &garbage],
            "not a replsim sweep report: missing field",
        ),
    ] {
        let names: Vec<&str> = files.iter().map(|p| path(p)).collect();
        let out = replsim(&[&["sweep", "merge"], &names[..]].concat());
        assert_eq!(out.status.code(), Some(2), "{names:?}");
        assert!(stderr(&out).contains(says), "{names:?}: {}", stderr(&out));
    }
    let ok = replsim(&["sweep", "merge", path(&b), path(&a)]);
    assert!(matches!(ok.status.code(), Some(0 | 1)), "{}", stderr(&ok));
}

#[test]
fn each_failing_seed_has_a_repro_line_that_reproduces_it() {
    let dir = scratch("sweep-repro");
    let f = scenario(&dir);
    let r = json(&replsim(&["sweep", path(&f), "--seeds", "1..9", "--json"]));
    let tally = &r["cases"][0]["expectations"];
    let converge = tally
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["expect"]
                .as_str()
                .unwrap()
                .starts_with("checks.convergence")
        })
        .unwrap();
    let failing = converge["failing"].as_array().unwrap();
    assert_eq!(failing.len() as u64, converge["failed"].as_u64().unwrap());
    assert!(!failing.is_empty());
    let records = r["records"].as_array().unwrap();
    for fail in failing {
        let seed = fail["seed"].as_u64().unwrap();
        let repro = fail["repro"].as_str().unwrap();
        assert_eq!(repro, format!("replsim run {} --seed {seed}", path(&f)));
        let run = json(&replsim(&[
            "run",
            path(&f),
            "--seed",
            &seed.to_string(),
            "--json",
        ]));
        let record = records.iter().find(|x| x["seed"] == seed).unwrap();
        assert_eq!(run["trace_hash"], record["trace_hash"]);
        let e = run["expectations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["expect"] == converge["expect"])
            .unwrap();
        assert_eq!((&e["ok"], &e["actual"]), (&false.into(), &fail["actual"]));
    }
    // The summary shows every failing seed's line.
    let text = stdout(&replsim(&["sweep", path(&f), "--seeds", "1..9"]));
    for fail in failing {
        assert!(text.contains(fail["repro"].as_str().unwrap()), "{text}");
    }
}

#[test]
fn out_writes_the_report_the_summary_a_chart_per_figure_and_a_page() {
    let dir = scratch("sweep-out");
    let f = scenario(&dir);
    let out = dir.join("out");
    let args = ["sweep", path(&f), "--seeds", "1..5", "-q"];
    let printed = replsim(&[&args[..], &["--out", path(&out)]].concat());
    let json_out = replsim(&[&args[..], &["--json"]].concat());
    assert_eq!(
        std::fs::read(out.join("sweep.json")).unwrap(),
        json_out.stdout
    );
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert!(
        stdout(&printed).starts_with(&summary),
        "{}",
        stdout(&printed)
    );
    let r = json(&json_out);
    for fig in r["figures"].as_array().unwrap() {
        let name = fig["name"].as_str().unwrap();
        let svg = std::fs::read_to_string(out.join(format!("cdf-{name}.svg")))
            .unwrap_or_else(|e| panic!("cdf-{name}.svg: {e}"));
        assert!(svg.starts_with("<svg") && svg.contains(name), "{name}");
    }
    // report.html holds the verdict, every chart inline and nothing from elsewhere.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let charts = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("svg".as_ref()))
        .count();
    let failed = 4 - r["runs_ok"].as_u64().unwrap();
    assert!(failed > 0, "the test scenario fails on some seeds");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains(&format!("{failed} of 4 runs failed")),
        "{html}"
    );
    for repro in r["cases"][0]["expectations"][0]["failing"]
        .as_array()
        .unwrap()
    {
        assert!(html.contains(repro["repro"].as_str().unwrap()));
    }
    assert_eq!(
        html.matches("<svg").count(),
        charts,
        "one inline SVG per chart"
    );
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains(" src="));
    // --figure picks what is shown and charted.
    let fout = dir.join("fout");
    let picked = replsim(&[&args[..], &["--figure", "converge_s", "--out", path(&fout)]].concat());
    let text = stdout(&picked);
    assert!(
        text.contains("converge_s (s)") && !text.contains("stale_reads"),
        "{text}"
    );
    let files: Vec<String> = std::fs::read_dir(&fout)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    assert_eq!(files, ["cdf-converge_s.svg"]);
    // Against a varied directive: a chart for each figure that changes.
    let vout = dir.join("vout");
    let v = replsim(
        &[
            &args[..],
            &[
                "--vary",
                "repl-backlog-size=1mb..4mb:3",
                "--out",
                path(&vout),
            ],
        ]
        .concat(),
    );
    assert!(stdout(&v).contains("sync_full.m (syncs) against repl-backlog-size"));
    let svg = std::fs::read_to_string(vout.join("vary-sync_full.m.svg")).unwrap();
    assert!(svg.contains("repl-backlog-size (log scale)") && svg.contains("median"));
    assert!(!vout.join("vary-acked_writes_lost.svg").exists());
}

#[test]
fn the_json_keeps_its_documented_fields_in_order() {
    let dir = scratch("sweep-contract");
    let f = scenario(&dir);
    let r = json(&replsim(&["sweep", path(&f), "--seeds", "1..3", "--json"]));
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
    // serde_json's map here is ordered by key; the document order is checked on the text.
    let text = stdout(&replsim(&["sweep", path(&f), "--seeds", "1..3", "--json"]));
    let order = [
        "format",
        "scenario",
        "file",
        "file_digest",
        "set",
        "vary",
        "seeds",
        "shard",
        "expectations",
        "figures",
        "runs",
        "runs_ok",
        "ok",
        "cases",
        "records",
    ];
    let mut sorted = order.to_vec();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    let at: Vec<usize> = order
        .iter()
        .map(|k| text.find(&format!("\n  \"{k}\":")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{order:?} at {at:?}");
    assert_eq!(r["format"], "replsim-sweep/1");
    let d = &r["cases"][0]["distributions"][0];
    assert_eq!(d["name"], "acked_writes_lost");
    assert!(d["p50"].is_u64(), "a count is an integer: {d}");
    let figures = r["figures"].as_array().unwrap();
    assert_eq!(
        r["records"][0]["figures"].as_array().unwrap().len(),
        figures.len()
    );
}

/// The value `advise` printed after `label` (`answer: repl-backlog-size=3mb …`).
fn value_after<'a>(text: &'a str, label: &str) -> &'a str {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} in\n{text}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
}

#[test]
fn advise_answers_with_a_value_that_holds_whose_neighbour_fails() {
    let dir = scratch("sweep-advise");
    let f = scenario(&dir);
    let until = "m.sync_full <= 1";
    let out = replsim(&[
        "advise",
        path(&f),
        "--vary",
        "repl-backlog-size=256kb..16mb:13",
        "--until",
        until,
        "--seeds",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let answer = value_after(&text, "answer:");
    let below = value_after(&text, "one step below,");
    let size = |v: &str| v.trim_start_matches("repl-backlog-size=").to_string();
    let (answer, below) = (size(answer), size(below));
    // Check both sides by hand, seed by seed, with `run`.
    for seed in ["1", "2"] {
        let full = |backlog: &str| {
            let set = format!("repl-backlog-size={backlog}");
            let r = json(&replsim(&[
                "run",
                path(&f),
                "--seed",
                seed,
                "--set",
                &set,
                "--json",
            ]));
            r["nodes"]["m"]["stats"]["sync_full"].as_u64().unwrap()
        };
        assert!(full(&answer) <= 1, "{answer} at seed {seed}\n{text}");
        assert!(full(&below) > 1, "{below} at seed {seed}\n{text}");
    }
    // The largest value that still costs a second full sync is that neighbour.
    let largest = replsim(&[
        "advise",
        path(&f),
        "--vary",
        "repl-backlog-size=256kb..16mb:13",
        "--until",
        "m.sync_full >= 2",
        "--seeds",
        "2",
        "--largest",
    ]);
    let text = stdout(&largest);
    assert_eq!(size(value_after(&text, "answer:")), below, "{text}");
    assert_eq!(
        size(value_after(&text, "one step above,")),
        answer,
        "{text}"
    );
}

#[test]
fn advise_says_when_no_value_holds() {
    let dir = scratch("sweep-advise-none");
    let f = scenario(&dir);
    let out = replsim(&[
        "advise",
        path(&f),
        "--vary",
        "repl-backlog-size=16kb..64kb",
        "--until",
        "m.sync_full <= 1",
        "--seeds",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no answer: even repl-backlog-size=64kb fails"));
    assert_eq!(stdout(&out).matches("  tried ").count(), 1);
}

#[test]
fn mistakes_are_exit_2_with_what_is_wrong() {
    let dir = scratch("sweep-mistakes");
    let f = scenario(&dir);
    let f = path(&f);
    for (args, says) in [
        (vec!["sweep", f, "--shard", "0/4"], "runs from 1"),
        (vec!["sweep", f, "--shard", "5/4"], "runs from 1"),
        (vec!["sweep", f, "--seeds", "5..5"], "the range is empty"),
        (
            vec!["sweep", f, "--vary", "repl-backlog-size"],
            "DIRECTIVE=VALUES",
        ),
        (
            vec!["sweep", f, "--vary", "repl-backlog-sise=1mb,2mb"],
            "repl-backlog-size",
        ),
        (
            vec!["sweep", f, "--vary", "repl-backlog-size=1mb,lots"],
            "lots",
        ),
        (
            vec!["sweep", f, "--vary", "repl-backlog-size=1gb..1mb"],
            "smaller value",
        ),
        (vec!["sweep", f, "--figure", "sync_full.n"], "did you mean"),
        (vec!["sweep", "no-such-file.toml"], "no-such-file.toml"),
        (vec!["sweep", "merge", "no-such.json"], "no-such.json"),
        (
            vec![
                "advise",
                f,
                "--vary",
                "repl-backlog-size=1mb..2mb",
                "--until",
                "m.sync_ful <= 1",
            ],
            "sync_ful",
        ),
        (
            vec![
                "advise",
                f,
                "--vary",
                "repl-backlog-size=1mb..2mb",
                "--until",
                "m.sync_full",
            ],
            "no comparison",
        ),
        (
            vec![
                "advise",
                f,
                "--vary",
                "repl-backlog-size=1mb..2mb",
                "--until",
                "x.sync_full < 1",
            ],
            "neither a node",
        ),
    ] {
        let out = replsim(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}
