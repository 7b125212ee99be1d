//! The fault and workload forms real experiments need, through the command line: each runs to a
//! report that shows it, and each malformed use is refused with exit code 2 at file:line:column,
//! never a panic.

use std::path::Path;

mod common;
use common::*;

/// Lines 1-8: a master and its replica over 12 s.
const PAIR: &str = "name = \"v\"\nduration = \"12s\"\n\
    [[node]]\nname = \"master\"\n\
    [[node]]\nname = \"replica\"\nreplicaof = \"master\"\n\
    [defaults]\nrepl-diskless-sync-delay = 0\n";

/// Runs `replsim run` on PAIR plus `extra` and expects a refusal at `pos` saying `fragment`.
fn refused(dir: &Path, name: &str, extra: &str, pos: &str, fragment: &str) {
    let path = write(dir, name, &format!("{PAIR}{extra}"));
    let out = replsim(&["run", &path]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
    assert!(
        err.contains(&format!("{name}:{pos}: ")) && err.contains(fragment),
        "{extra:?}: expected {pos} {fragment:?}, got {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_shutdown_runs_to_a_report_that_counts_it_and_the_replica_reconnects_after_the_restart() {
    let dir = scratch("vocabulary-shutdown");
    let path = write(
        &dir,
        "shutdown.toml",
        &format!(
            "{PAIR}[[fault]]\nat = \"5s\"\nkind = \"shutdown\"\nnode = \"master\"\n\
             [[fault]]\nat = \"8s\"\nkind = \"restart\"\nnode = \"master\"\npersistence = true\n"
        ),
    );
    let out = replsim(&["run", &path, "--json"]);
    let report = json(&out);
    let master = &report["nodes"]["master"];
    assert_eq!(master["milestones"]["shut_down"], 1, "{master}");
    assert_eq!(master["milestones"]["restarted"], 1, "{master}");
    // The replica lost its link at the shutdown and found its master again after the restart.
    assert_eq!(report["nodes"]["replica"]["milestones"]["link_down"], 1);
    assert_eq!(
        report["nodes"]["replica"]["info"]["master_link_status"],
        "up"
    );
}

#[test]
fn a_malformed_shutdown_is_refused_at_its_line_and_column() {
    let dir = scratch("vocabulary-shutdown-bad");
    refused(
        &dir,
        "no-node.toml",
        "[[fault]]\nat = \"5s\"\nkind = \"shutdown\"\n",
        "12:8",
        "a shutdown fault needs `node = \"...\"`",
    );
    refused(
        &dir,
        "duration.toml",
        "[[fault]]\nat = \"5s\"\nkind = \"shutdown\"\nnode = \"master\"\nduration = \"1s\"\n",
        "14:12",
        "`duration` does not apply to a shutdown fault",
    );
    refused(
        &dir,
        "unknown-node.toml",
        "[[fault]]\nat = \"5s\"\nkind = \"shutdown\"\nnode = \"mastr\"\n",
        "13:8",
        "unknown node \"mastr\"",
    );
}

#[test]
fn a_fault_after_an_event_is_reported_with_its_times_and_one_that_never_came_is_a_warning() {
    let dir = scratch("vocabulary-after");
    let path = write(
        &dir,
        "after.toml",
        &format!(
            "{PAIR}[[fault]]\nafter = {{ event = \"link-up\", node = \"replica\", delay = \"1s\" }}\n\
             kind = \"shutdown\"\nnode = \"master\"\n\
             [[fault]]\nafter = {{ event = \"became-master\", node = \"replica\" }}\n\
             kind = \"restart\"\nnode = \"master\"\n"
        ),
    );
    let out = replsim(&["run", &path, "--json"]);
    let report = json(&out);
    let t = &report["timeline"]["triggered_faults"];
    assert_eq!(t[0]["kind"], "shutdown", "{t}");
    assert_eq!(t[0]["line"], 10);
    assert_eq!(t[0]["after"], "link-up of replica + 1000 ms");
    let event = t[0]["event_ms"].as_f64().expect("the link came up");
    assert_eq!(t[0]["applied_ms"].as_f64(), Some(event + 1000.0));
    assert_eq!(report["nodes"]["master"]["milestones"]["shut_down"], 1);
    assert!(
        t[1]["event_ms"].is_null() && t[1]["applied_ms"].is_null(),
        "{t}"
    );
    let text = replsim(&["run", &path]);
    let summary = String::from_utf8_lossy(&text.stdout);
    assert!(
        summary.contains("WARNING line 14: restart after became-master of replica + 0 ms  ->  never applied: the event never came"),
        "{summary}"
    );
}

#[test]
fn a_malformed_after_is_refused_at_its_line_and_column() {
    let dir = scratch("vocabulary-after-bad");
    refused(
        &dir,
        "both.toml",
        "[[fault]]\nat = \"1s\"\nafter = { event = \"link-up\" }\nkind = \"crash\"\nnode = \"master\"\n",
        "12:9",
        "either `at` (a time) or `after` (an event), not both",
    );
    refused(
        &dir,
        "neither.toml",
        "[[fault]]\nkind = \"crash\"\nnode = \"master\"\n",
        "11:8",
        "a fault needs `at",
    );
    refused(
        &dir,
        "event.toml",
        "[[fault]]\nafter = { event = \"sync-done\" }\nkind = \"crash\"\nnode = \"master\"\n",
        "11:19",
        "unknown event \"sync-done\"",
    );
    refused(
        &dir,
        "occurrence.toml",
        "[[fault]]\nafter = { event = \"link-up\", occurrence = -1 }\nkind = \"crash\"\nnode = \"master\"\n",
        "11:43",
        "occurrence must be between 1 and",
    );
}

#[test]
fn a_script_workload_reports_every_reply_and_its_summary_counts_them() {
    let dir = scratch("vocabulary-script");
    let path = write(
        &dir,
        "script.toml",
        &format!(
            "{PAIR}[[workload]]\nkind = \"script\"\ntarget = \"master\"\nstart = \"6s\"\n\
             pipeline = true\nrepeat = 100\ncommands = [\"SET key:<i> 0123456789\"]\n\
             then = [\"WAIT 1 100\"]\n"
        ),
    );
    let out = replsim(&["run", &path, "--json"]);
    let report = json(&out);
    let s = &report["timeline"]["scripts"][0];
    assert_eq!(s["name"], "script-0");
    assert_eq!(s["commands"], 101);
    let replies = s["replies"].as_array().expect("replies");
    assert_eq!(replies.len(), 101);
    assert_eq!(replies[42]["command"], "SET key:42 0123456789");
    assert_eq!(replies[42]["reply"], "OK");
    assert_eq!(replies[100]["reply"], "(integer) 1");
    assert_eq!(report["nodes"]["replica"]["dataset"]["keys"], 100);
    let text = replsim(&["run", &path]);
    let summary = String::from_utf8_lossy(&text.stdout);
    assert!(
        summary.contains(
            "script-0 on master: 101 of 101 commands answered, 0 errors: OK x100, (integer) 1"
        ),
        "{summary}"
    );
}

#[test]
fn a_malformed_script_is_refused_at_its_line_and_column() {
    let dir = scratch("vocabulary-script-bad");
    refused(
        &dir,
        "no-commands.toml",
        "[[workload]]\nkind = \"script\"\ntarget = \"master\"\n",
        "11:8",
        "a script workload needs `commands",
    );
    refused(
        &dir,
        "mix.toml",
        "[[workload]]\nkind = \"script\"\ntarget = \"master\"\ncommands = [\"PING\"]\nmix = { get = 1 }\n",
        "14:7",
        "`mix` does not apply to a script workload",
    );
    refused(
        &dir,
        "quotes.toml",
        "[[workload]]\nkind = \"script\"\ntarget = \"master\"\ncommands = [\"SET 'k v\"]\n",
        "13:13",
        "unbalanced quotes",
    );
}

#[test]
fn probes_are_in_the_report_and_the_summary_and_a_bad_probe_is_refused() {
    let dir = scratch("vocabulary-probe");
    let path = write(
        &dir,
        "probe.toml",
        &format!(
            "{PAIR}[[probe]]\nnode = \"replica\"\ncommand = \"INFO replication\"\nat = [\"5s\"]\n\
             [[probe]]\nnode = \"master\"\ncommand = \"CONFIG GET repl-backlog-size\"\nevery = \"6s\"\n"
        ),
    );
    let report = json(&replsim(&["run", &path, "--json"]));
    let p = report["timeline"]["probes"].as_array().expect("probes");
    let got: Vec<(f64, &str)> = p
        .iter()
        .map(|x| {
            (
                x["t_ms"].as_f64().unwrap_or(-1.0),
                x["command"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    let info = p
        .iter()
        .find(|x| x["command"] == "INFO replication")
        .expect("the INFO probe");
    let text = info["reply"].as_str().expect("a reply");
    assert!(
        text.starts_with("# Replication\r\nrole:slave\r\n"),
        "{text}"
    );
    assert!(text.contains("master_link_status:up"), "{text}");
    let summary = String::from_utf8_lossy(&replsim(&["run", &path]).stdout).into_owned();
    assert!(
        summary.contains(
            "master: CONFIG GET repl-backlog-size  ->  [\"repl-backlog-size\", \"1048576\"]"
        ),
        "{summary}"
    );
    refused(
        &dir,
        "probe-both.toml",
        "[[probe]]\nnode = \"master\"\ncommand = \"ROLE\"\nat = [\"1s\"]\nevery = \"1s\"\n",
        "13:6",
        "not both",
    );
    refused(
        &dir,
        "probe-late.toml",
        "[[probe]]\nnode = \"master\"\ncommand = \"ROLE\"\nat = [\"13s\"]\n",
        "13:7",
        "after the end of the scenario",
    );
}
