//! Every bundled scenario, through one function: its compact outcome is snapshotted with insta
//! (counters, offsets, checker results, trace hash; never chart bytes), and a second and third
//! run must reproduce the trace hash and the report exactly.

use std::path::{Path, PathBuf};

use replsim::report::{self, InfoValue, NodeReport, Report};
use serde::Serialize;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 13, "the bundled scenarios are missing");
    files
}

/// Runs a scenario file at its own seed and returns the full report.
fn run(path: &Path) -> Report {
    let text = std::fs::read_to_string(path).expect("readable scenario");
    let sc = replsim::scenario::parse(&path.display().to_string(), &text)
        .expect("a bundled scenario parses");
    let seed = sc.seed;
    // Every node invariant after every input, in a release build too.
    let options = replsim::sim::RunOptions {
        full_invariants: true,
        ..Default::default()
    };
    let out = replsim::sim::run_with(sc, seed, u64::MAX, options, None, &mut |_, _| {});
    report::build(&out)
}

/// Runs `f` over every scenario on two threads, in file order.
fn for_each_scenario<T: Send>(f: impl Fn(&Path) -> T + Sync) -> Vec<(PathBuf, T)> {
    let files = scenario_files();
    let mut results: Vec<Option<T>> = files.iter().map(|_| None).collect();
    std::thread::scope(|s| {
        let (even, odd): (Vec<_>, Vec<_>) = results
            .iter_mut()
            .enumerate()
            .partition(|(i, _)| i % 2 == 0);
        for half in [even, odd] {
            let (f, files) = (&f, &files);
            s.spawn(move || {
                for (i, slot) in half {
                    *slot = Some(f(&files[i]));
                }
            });
        }
    });
    files
        .into_iter()
        .zip(results.into_iter().map(|r| r.expect("every scenario ran")))
        .collect()
}

/// `v` as compact JSON, as the snapshots print values that may be absent, text or a list.
fn json(v: &impl Serialize) -> String {
    serde_json::to_string(v).expect("plain data")
}

/// The compact outcome kept in the snapshot.
fn compact(r: &Report) -> String {
    let mut s = format!(
        "scenario {} seed {}\ntrace_hash {}\nevents {}\n",
        r.scenario, r.seed, r.trace_hash, r.events
    );
    for (name, node) in &r.nodes {
        let (role, n) = match node {
            NodeReport::Master(n) => ("master", n),
            NodeReport::Slave(n) => ("slave", n),
            NodeReport::Down(_) => {
                s.push_str(&format!("node {name}: down\n"));
                continue;
            }
        };
        let info = |field: &str| json(&n.info.get(field));
        s.push_str(&format!(
            "node {name}: role={role} offset={} replid2_offset={} link={} sync_full={} partial_ok={} partial_err={} keys={} digest={}\n",
            info("master_repl_offset"),
            info("second_repl_offset"),
            n.info.get("master_link_status").and_then(InfoValue::as_text).unwrap_or("-"),
            n.stats.sync_full,
            n.stats.sync_partial_ok,
            n.stats.sync_partial_err,
            n.dataset.keys,
            n.dataset.digest
        ));
    }
    for (name, st) in &r.sentinels {
        let count = |k: &str| st.events.get(k).copied().unwrap_or(0);
        s.push_str(&format!(
            "sentinel {name}: epoch={} master={} sdown={} odown={} elected={} switch_master={} convert_to_slave={}\n",
            st.current_epoch,
            st.master,
            count("+sdown"),
            count("+odown"),
            count("+elected-leader"),
            count("+switch-master"),
            count("+convert-to-slave"),
        ));
    }
    let c = &r.checks;
    s.push_str(&format!(
        "converged={} lost={}/{} lost_with_wait={}/{} stale={}/{} looping={} writes_ok={}/{} errors={} timeouts={}\n",
        c.convergence.converged,
        c.acked_writes_lost.lost,
        c.acked_writes_lost.acked,
        c.acked_writes_lost.lost_with_wait,
        c.acked_writes_lost.acked_with_wait,
        c.stale_reads.stale,
        c.stale_reads.reads,
        json(&c.resync_loop.looping),
        c.availability.writes_accepted,
        c.availability.writes,
        json(&c.availability.errors),
        c.availability.timeouts,
    ));
    for e in &r.expectations {
        s.push_str(&format!(
            "{} {}\n",
            if e.ok { "ok  " } else { "FAIL" },
            e.expect
        ));
    }
    s
}

#[test]
fn every_bundled_scenario_holds_its_expectations_and_matches_its_snapshot() {
    for (path, report) in for_each_scenario(run) {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(
            report.ok,
            "{name}: expectations or checks failed:\n{}",
            replsim::report::summary::render(&report)
        );
        insta::assert_snapshot!(name, compact(&report));
    }
}

#[test]
fn every_bundled_scenario_is_deterministic() {
    for (path, (a, b)) in for_each_scenario(|p| (run(p), run(p))) {
        assert_eq!(
            a.trace_hash,
            b.trace_hash,
            "{}: trace hash differs between runs",
            path.display()
        );
        assert_eq!(a, b, "{}: reports differ between runs", path.display());
    }
}

#[test]
fn a_different_seed_changes_the_trace_hash_of_a_scenario_with_randomness() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let hash = |seed| {
        let sc = replsim::scenario::parse("quickstart", &text).unwrap();
        replsim::sim::run(sc, seed, u64::MAX, None, &mut |_, _| {}).trace_hash
    };
    assert_ne!(hash(1), hash(2));
    assert_eq!(hash(1), hash(1));
}
