//! The command line refuses before running what it can tell is wrong or too big (exit code 2,
//! at file:line:column where a file is at fault), and stops a run at any limit with the limit
//! named and exit code 1, never as if it had finished, never a hang.

// These tests time the command line from outside (to kill a run part way, or one that would
// hang); the simulation's rule against the wall clock is about the simulation.
#![allow(clippy::disallowed_methods)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{json, scratch, stderr, write};

/// Runs replsim with `args`, killing it if it outlives `limit` (a refusal that does not come
/// would otherwise be a hang, not a failure).
fn replsim_within(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_replsim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // The pipes are drained while the child runs: a child blocked on a full pipe never ends.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).expect("reading a pipe");
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("replsim {args:?} still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("the stdout reader"),
        stderr: stderr.join().expect("the stderr reader"),
    }
}

fn replsim(args: &[&str]) -> Output {
    replsim_within(args, Duration::from_secs(120))
}

const PAIR: &str =
    "[[node]]\nname = \"master\"\n[[node]]\nname = \"replica\"\nreplicaof = \"master\"\n";

#[test]
fn an_expectation_the_report_lacks_is_refused_before_the_run_at_its_key() {
    let dir = scratch("cli-expect");
    // A run long enough that running it before the refusal would show.
    let file = write(
        &dir,
        "typo.toml",
        &format!("name = \"typo\"\nduration = \"1h\"\n{PAIR}[[workload]]\nname = \"app\"\ntarget = \"master\"\nrate = 1000\n\
                  [expect]\n\"checks.convergence.converged\" = true\n\"replica.sync_ful\" = 1\n"),
    );
    for command in ["run", "check"] {
        let out = replsim_within(&[command, &file, "--quiet"], Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{command}: {}", stderr(&out));
        let e = stderr(&out);
        assert!(
            e.contains(&format!("{file}:14:1: [expect] \"replica.sync_ful\": node \"replica\" has no field \"sync_ful\" (did you mean \"sync_full\"?)")),
            "{command}: {e}"
        );
        assert!(
            out.stdout.is_empty(),
            "nothing ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let file = write(
        &dir,
        "workload.toml",
        &format!("name = \"w\"\nduration = \"1h\"\n{PAIR}[[workload]]\nname = \"app\"\ntarget = \"master\"\nrate = 1000\n\
                  [expect]\n\"workloads.ap.writes_ok\" = \"> 0\"\n"),
    );
    let out = replsim_within(&["run", &file], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(":13:1: [expect] \"workloads.ap.writes_ok\": workloads has no \"ap\" (did you mean \"app\"?)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_run_stopped_at_the_event_limit_fails_and_says_which_flag_raises_it() {
    let dir = scratch("cli-events");
    let file = write(
        &dir,
        "plain.toml",
        &format!("name = \"plain\"\nduration = \"20s\"\n{PAIR}[[workload]]\ntarget = \"master\"\nrate = 1000\n"),
    );
    let whole = replsim(&["run", &file, "--json"]);
    assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
    assert_eq!(json(&whole)["stop"], "time_limit");

    // No expectations: a partial run must not pass as a finished one.
    let out = replsim(&["run", &file, "--json", "--max-events", "5000"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(
        (r["stop"].as_str(), r["events"].as_u64(), r["ok"].as_bool()),
        (Some("event_limit"), Some(5000), Some(false))
    );
    assert!(
        stderr(&out).contains(
            "STOPPED EARLY at the event limit of 5,000 events (raise it with --max-events)"
        ),
        "{}",
        stderr(&out)
    );

    let out = replsim(&["run", &file, "--max-events", "5000"]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("(raise it with --max-events)"),
        "{summary}"
    );
    assert!(
        summary
            .trim_end()
            .ends_with("FAILED: stopped at a limit before the end of the scenario"),
        "{summary}"
    );

    let out = replsim(&["check", &file, "--max-events", "5000", "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL") && text.contains("STOPPED EARLY at the event limit"),
        "{text}"
    );
}

#[test]
fn a_wall_clock_limit_stops_a_run_and_marks_it_not_reproducible() {
    let dir = scratch("cli-wall");
    // About a minute of work; the limit stops it within a second or so.
    let file = write(
        &dir,
        "long.toml",
        &format!("name = \"long\"\nduration = \"2h\"\n{PAIR}[[workload]]\ntarget = \"master\"\nrate = 5000\n"),
    );
    let out = replsim_within(
        &["run", &file, "--json", "--max-wall", "0.5"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["stop"], "wall_limit");
    assert!(r["sim_time_us"].as_u64().unwrap() < 7_200_000_000);
    let e = stderr(&out);
    assert!(
        e.contains("raise it with --max-wall") && e.contains("not reproducible"),
        "{e}"
    );
    let out = replsim(&["run", &file, "--max-wall", "0"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a limit of no time is a mistake"
    );
}

#[test]
fn a_run_too_big_for_memory_is_refused_before_it_starts_naming_the_setting() {
    let dir = scratch("cli-memory");
    // Thirty idle days sampled every millisecond: about 2.6 TB of samples.
    let file = write(
        &dir,
        "idle.toml",
        &format!("name = \"idle\"\nduration = \"720h\"\nsample_interval = \"1ms\"\n{PAIR}"),
    );
    let out = replsim_within(&["run", &file], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("more than --max-memory")
            && e.contains("time-series samples would take")
            && e.contains("2,592,000,002 samples")
            && e.contains("`sample_interval`"),
        "{e}"
    );
    // Thirty days at 100 writes per second: 6 GB of history, refused under a 4 GB limit.
    let file = write(
        &dir,
        "writes.toml",
        "name = \"writes\"\nduration = \"720h\"\n[[node]]\nname = \"m\"\n[[workload]]\ntarget = \"m\"\nrate = 100\n",
    );
    let out = replsim_within(
        &["run", &file, "--max-memory", "4gb"],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("the client write history would take")
            && e.contains("259,200,000 writes")
            && e.contains("--max-memory 4.0 GB"),
        "{e}"
    );
}

#[test]
fn a_run_that_outgrows_the_memory_limit_is_stopped_at_it() {
    let dir = scratch("cli-memory-run");
    // The paused replica's output buffer on the master grows by about 10 MB a second, which no
    // estimate made before the run counts.
    let file = write(
        &dir,
        "obuf.toml",
        &format!("name = \"obuf\"\nduration = \"60s\"\n[defaults]\nrepl-diskless-sync-delay = \"0s\"\nrepl-timeout = \"3600s\"\n\
                  client-output-buffer-limit = \"replica 0 0 0\"\n{PAIR}\
                  [[workload]]\ntarget = \"master\"\nrate = 10000\nkeys = 100\nvalue_size = 1000\n\
                  [[fault]]\nat = \"1s\"\nkind = \"pause\"\nnode = \"replica\"\nduration = \"59s\"\n"),
    );
    let out = replsim(&["run", &file, "--json", "--max-memory", "150mb"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = json(&out);
    assert_eq!(r["stop"], "memory_limit");
    assert!(r["sim_time_us"].as_u64().unwrap() < 60_000_000);
    let e = stderr(&out);
    assert!(
        e.contains("raise it with --max-memory") && e.contains("not reproducible"),
        "{e}"
    );
}

#[test]
fn more_nodes_than_the_limit_are_refused_before_the_run() {
    let dir = scratch("cli-nodes");
    let mut text = "name = \"many\"\nduration = \"1s\"\n".to_string();
    for i in 0..1001 {
        text.push_str(&format!("[[node]]\nname = \"n{i}\"\n"));
    }
    let file = write(&dir, "many.toml", &text);
    let out = replsim_within(&["run", &file], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("1001 nodes, more than --max-nodes 1000"),
        "{}",
        stderr(&out)
    );
    let small = write(
        &dir,
        "small.toml",
        &format!("name = \"s\"\nduration = \"10s\"\n{PAIR}"),
    );
    let out = replsim(&["run", &small, "--max-nodes", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("2 nodes, more than --max-nodes 1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        replsim(&["run", &small, "--max-nodes", "2"]).status.code(),
        Some(0)
    );
}

#[test]
fn every_bundled_scenario_is_admitted_and_a_run_of_one_event_fails_as_stopped() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.to_str().expect("a UTF-8 path").to_string())
        .collect();
    files.sort();
    let mut args = vec!["check", "--quiet", "--max-events", "1"];
    args.extend(files.iter().map(String::as_str));
    let out = replsim(&args);
    // Admitted: expectations, nodes and memory within the defaults; then each stopped at once.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("STOPPED EARLY at the event limit of 1 events")
            .count(),
        files.len(),
        "{text}"
    );
    assert!(
        text.contains(&format!("0 passed, {} failed", files.len())),
        "{text}"
    );
}
