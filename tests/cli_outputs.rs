//! What `run --out` and `chart --out` write, and how: the trace only when asked for; every file
//! whole or not at all; a previous result replaced in one step and kept when anything fails; never
//! a file the run did not make removed; and every failure to write exit code 2 with the path and
//! the system's error.

// These tests time the command line from outside (to kill a run part way, or one that would
// hang); the simulation's rule against the wall clock is about the simulation.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

mod common;
use common::*;

/// Runs replsim under a file size limit of `blocks` 512-byte blocks (a full disk, as far as the
/// files it writes can tell), with SIGXFSZ ignored so that a write past it fails instead of
/// killing the process.
fn replsim_with_file_limit(blocks: u32, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(BIN)
        .args(args)
        .output()
        .expect("sh runs")
}

/// A short scenario with a partition, in `dir`.
fn scenario(dir: &Path) -> PathBuf {
    let p = dir.join("s.toml");
    std::fs::write(
        &p,
        "name = \"s\"\nduration = \"10s\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
         [[workload]]\ntarget = \"m\"\nrate = 200\n[[fault]]\nat = \"4s\"\nkind = \"partition\"\ngroups = [[\"r\"]]\nduration = \"2s\"\n",
    )
    .expect("a scenario file");
    p
}

/// Entries of `dir` whose names start with `prefix`.
fn entries_starting(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("a directory")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

fn files_in(dir: &Path) -> Vec<String> {
    entries_starting(dir, "")
}

fn seed_of(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("a report.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("a whole report.json");
    v["seed"].as_u64().expect("a seed")
}

#[test]
fn the_trace_is_written_only_with_trace_one_documented_record_a_line() {
    let dir = scratch("out-trace");
    let sc = scenario(&dir);
    let res = dir.join("res");
    let out = replsim(&["run", path(&sc), "-q", "--out", path(&res)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names = files_in(&res);
    assert!(names.contains(&"report.json".to_string()), "{names:?}");
    assert!(
        !names.contains(&"trace.jsonl".to_string()),
        "no trace unless asked: {names:?}"
    );

    let out = replsim(&["run", path(&sc), "-q", "--out", path(&res), "--trace"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/trace-format.md"))
            .expect("the trace format is documented");
    let trace = std::fs::read_to_string(res.join("trace.jsonl")).expect("a trace");
    let mut kinds = std::collections::BTreeSet::new();
    for line in trace.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a line is one JSON object");
        let keys: Vec<&String> = v.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["a", "b", "c", "kind", "t_ns"], "{line}");
        kinds.insert(v["kind"].as_str().expect("a kind").to_string());
    }
    assert!(trace.ends_with('\n') && kinds.len() >= 8, "{kinds:?}");
    for k in &kinds {
        assert!(
            doc.contains(&format!("| `{k}` |")),
            "docs/trace-format.md describes `{k}`"
        );
    }
    let out = replsim(&["run", path(&sc), "--trace"]);
    assert_eq!(out.status.code(), Some(2), "--trace needs --out");
}

#[test]
fn a_failed_write_is_exit_2_with_the_path_and_the_previous_result_stays_whole() {
    let dir = scratch("out-full");
    let sc = scenario(&dir);
    let res = dir.join("res");
    let first = replsim(&["run", path(&sc), "-q", "--out", path(&res)]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let before = std::fs::read(res.join("report.json")).unwrap();

    // The trace outgrows the limit first (the report.json of this run is about 100 KB).
    let out = replsim_with_file_limit(
        200,
        &[
            "run",
            path(&sc),
            "-q",
            "--seed",
            "2",
            "--out",
            path(&res),
            "--trace",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("trace.jsonl: File too large"), "{e}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("wrote"),
        "no result is claimed"
    );
    assert_eq!(
        std::fs::read(res.join("report.json")).unwrap(),
        before,
        "the old result is kept"
    );
    assert_eq!(
        entries_starting(&dir, ".res."),
        Vec::<String>::new(),
        "no staging is left behind"
    );

    // Without the trace, report.json is the first file too big.
    let out = replsim_with_file_limit(
        20,
        &["run", path(&sc), "-q", "--seed", "2", "--out", path(&res)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("report.json: File too large"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(res.join("report.json")).unwrap(), before);
    assert_eq!(entries_starting(&dir, ".res."), Vec::<String>::new());

    // Standard output that cannot be written is no result either.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = Command::new(BIN)
        .args(["run", path(&sc), "--json"])
        .stdout(Stdio::from(full))
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("writing to standard output: No space left on device"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn chart_writes_each_file_whole_or_not_at_all() {
    let dir = scratch("out-chart");
    let sc = scenario(&dir);
    let res = dir.join("res");
    assert_eq!(
        replsim(&["run", path(&sc), "-q", "--out", path(&res)])
            .status
            .code(),
        Some(0)
    );
    let charts = dir.join("charts");
    let report = res.join("report.json");
    assert_eq!(
        replsim(&["chart", path(&report), "--out", path(&charts)])
            .status
            .code(),
        Some(0)
    );
    let lag = std::fs::read(charts.join("lag.png")).unwrap();
    assert!(
        lag.len() > 20 * 512,
        "the chart is bigger than the limit below"
    );

    // A second drawing into a "full disk": every chart fails to be replaced, none is cut short.
    let out = replsim_with_file_limit(20, &["chart", path(&report), "--out", path(&charts)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("File too large"), "{}", stderr(&out));
    assert_eq!(std::fs::read(charts.join("lag.png")).unwrap(), lag);
    assert_eq!(
        entries_starting(&charts, "."),
        Vec::<String>::new(),
        "no temporary file is left"
    );
}

#[test]
fn out_replaces_only_a_previous_result_and_touches_nothing_else() {
    let dir = scratch("out-staging");
    let sc = scenario(&dir);

    // A destination whose name looks like a staging name is an ordinary destination.
    let partial = dir.join("res.partial");
    let out = replsim(&["run", path(&sc), "-q", "--out", path(&partial)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(seed_of(&partial), 1);

    // Nothing beside the destination is taken for the run's own.
    let keep = dir.join("keep.partial");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("precious.txt"), "mine").unwrap();
    let out = replsim(&["run", path(&sc), "-q", "--out", path(&dir.join("keep.v2"))]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(keep.join("precious.txt")).unwrap(),
        "mine"
    );

    // A previous result is replaced, and nothing is left beside it.
    let res = dir.join("res");
    assert_eq!(
        replsim(&["run", path(&sc), "-q", "--out", path(&res)])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(seed_of(&res), 1);
    assert_eq!(
        replsim(&["run", path(&sc), "-q", "--out", path(&res), "--seed", "2"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(seed_of(&res), 2);
    assert_eq!(entries_starting(&dir, ".res"), Vec::<String>::new());

    // A directory that is not a result is refused before the run, untouched.
    let mine = dir.join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("notes.md"), "notes").unwrap();
    let out = replsim(&["run", path(&sc), "-q", "--out", path(&mine)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("notes.md, which is not something `replsim run --out` writes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(files_in(&mine), ["notes.md"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).is_empty(),
        "refused before the run"
    );
    let file = dir.join("file");
    std::fs::write(&file, "x").unwrap();
    let out = replsim(&["run", path(&sc), "-q", "--out", path(&file)]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
}

#[test]
fn a_run_killed_at_any_moment_leaves_a_whole_result_in_place() {
    let dir = scratch("out-kill");
    let sc = scenario(&dir);
    let res = dir.join("res");
    assert_eq!(
        replsim(&["run", path(&sc), "-q", "--out", path(&res)])
            .status
            .code(),
        Some(0)
    );
    let started = Instant::now();
    let rerun = replsim(&["run", path(&sc), "-q", "--out", path(&res), "--seed", "2"]);
    assert_eq!(rerun.status.code(), Some(0));
    let whole = started.elapsed();
    // Kills spread over a whole run, then packed around its end, where the results are
    // written and swapped in: each leaves the result of the run before it or its own, whole.
    let moments = (0..10u32)
        .map(|k| whole * k / 10)
        .chain((0..40u32).map(|k| whole * (80 + k) / 100));
    let mut previous = 2;
    for (k, moment) in moments.enumerate() {
        let seed = 3 + k as u64;
        let mut child = Command::new(BIN)
            .args([
                "run",
                path(&sc),
                "-q",
                "--out",
                path(&res),
                "--seed",
                &seed.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary runs");
        std::thread::sleep(moment);
        let _ = child.kill();
        let status = child.wait().expect("the child ends");
        // Killed, or finished (some seeds find a violation: exit code 1), never a failure to
        // write.
        assert_ne!(status.code(), Some(2), "{status}");
        let found = seed_of(&res);
        assert!(
            found == previous || found == seed,
            "seed {found}, not {previous} or {seed}"
        );
        previous = found;
    }
}
