//! `repl-timeout` on each side of a frozen peer, and `repl-ping-replica-period` larger than
//! `repl-timeout`.
//!
//! Redis checks both timeouts in `replicationCron`, once a second, against whole seconds
//! (`server.unixtime - last > repl-timeout`), so a timeout fires between `repl-timeout + 1` and
//! `repl-timeout + 2` seconds after the last byte: the tolerance is that second of cron phase.

use std::time::Duration;

use super::harness::*;

const TIMEOUT_S: u64 = 3;

/// A real master and a real replica, synced.
fn real_pair(master_args: &[&str]) -> (Redis, Redis) {
    let (m, r) = real_pair_online(master_args, TIMEOUT_S);
    // One ACK and one PING behind us, so both sides start from a fresh interaction.
    sleep_ms(1200);
    (m, r)
}

fn scenario(extra_defaults: &str, faults: &str, duration_s: u64) -> String {
    format!(
        r#"
name = "timeouts"
duration = "{duration_s}s"

[defaults]
repl-timeout = {TIMEOUT_S}
repl-diskless-sync-delay = 0
redis-version = "7.0"
{extra_defaults}

[[node]]
name = "master"

[[node]]
name = "replica"
replicaof = "master"
{faults}
"#
    )
}

/// The distinct messages of `log` in `[t0, t1)`, the master's address written `<master>`, in
/// the order they first appear.
fn distinct(log: &[Line], t0: u64, t1: u64, master: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in log.iter().filter(|l| l.at_ms >= t0 && l.at_ms < t1) {
        let m = l.msg.replace(master, "<master>");
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

fn secs(x: Option<f64>) -> String {
    x.map_or("never".into(), |s| format!("{s:.1} s"))
}

fn within(a: Option<f64>, b: Option<f64>, tol: f64) -> bool {
    matches!((a, b), (Some(a), Some(b)) if (a - b).abs() <= tol)
}

#[test]
fn a_frozen_replica_is_dropped_by_its_master_after_repl_timeout() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("repl-timeout, replica frozen (repl-timeout 3, ping period 1)");
    let (m, r) = real_pair(&["--repl-timeout", "3", "--repl-ping-replica-period", "1"]);
    let t0 = now_ms();
    let pid_r = pid(&r);
    signal(pid_r, "STOP");
    wait_for(
        "the master to drop the replica",
        Duration::from_secs(8),
        || m.log().contains("Disconnecting timedout replica"),
    );
    signal(pid_r, "CONT");
    let mut rc = r.client();
    wait_for("the replica back", Duration::from_secs(5), || {
        rc.field("replication", "master_link_status") == "up"
    });
    sleep_ms(300);
    let (mlog, rlog) = (real_log(&m), real_log(&r));
    let real_drop = first_after(&mlog, t0, "Disconnecting timedout replica (streaming sync)");
    let real_partial = count_after(&mlog, t0, "Partial resynchronization request from") == 1;

    let sim = Sim::run(&scenario(
        "repl-ping-replica-period = 1",
        r#"
[[fault]]
at = "5s"
kind = "pause"
node = "replica"
duration = "6s"
"#,
        14,
    ));
    let (smlog, srlog) = (sim.log("master"), sim.log("replica"));
    let sim_drop = first_after(
        &smlog,
        5000,
        "Disconnecting timedout replica (streaming sync)",
    );
    let sim_partial = count_after(&smlog, 5000, "Partial resynchronization request from") == 1;
    report.compare(
        "the master drops the frozen replica, after",
        secs(real_drop),
        secs(sim_drop),
        "1 s (cron phase)",
        within(real_drop, sim_drop, 1.0),
    );
    report.compare(
        "the woken replica resyncs",
        if real_partial { "partially" } else { "fully" },
        if sim_partial { "partially" } else { "fully" },
        "same",
        real_partial == sim_partial,
    );
    let real_said = lines_with(&rlog[..], "Connection with master lost").len();
    let sim_said = count_after(&srlog, 5000, "Connection with master lost");
    report.compare(
        "the woken replica logs `Connection with master lost.`",
        format!("{real_said}×"),
        format!("{sim_said}×"),
        "same count",
        real_said == sim_said,
    );
    report.finish();
}

#[test]
fn a_frozen_master_is_timed_out_by_its_replica_which_then_retries() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("repl-timeout, master frozen (repl-timeout 3, ping period 1)");
    let (m, r) = real_pair(&["--repl-ping-replica-period", "1"]);
    let t0 = now_ms();
    let pid_m = pid(&m);
    signal(pid_m, "STOP");
    // Long enough for the link timeout and two handshake timeouts after it.
    sleep_ms(13_000);
    let t1 = now_ms();
    signal(pid_m, "CONT");
    let mut rc = r.client();
    wait_for("the replica back", Duration::from_secs(8), || {
        rc.field("replication", "master_link_status") == "up"
    });
    sleep_ms(300);
    let (mlog, rlog) = (real_log(&m), real_log(&r));
    let real_timeout = first_after(&rlog, t0, "MASTER timeout: no data nor PING received");
    let real_retries = count_after(&rlog, t0, "Timeout connecting to the MASTER");
    let real_fired = count_after(&rlog, t0, "Non blocking connect for SYNC fired the event");
    let real_partial = count_after(&mlog, t0, "Partial resynchronization request from");
    let real_full = count_after(&mlog, t0, "Full resync requested")
        + count_after(&mlog, t0, "Partial resynchronization not accepted");
    let real_said = distinct(&rlog, t0, t1, &format!("127.0.0.1:{}", m.port));

    let sim = Sim::run(&scenario(
        "repl-ping-replica-period = 1",
        r#"
[[fault]]
at = "5s"
kind = "pause"
node = "master"
duration = "13s"
"#,
        22,
    ));
    let (smlog, srlog) = (sim.log("master"), sim.log("replica"));
    let sim_timeout = first_after(&srlog, 5000, "MASTER timeout: no data nor PING received");
    let sim_retries = count_after(&srlog, 5000, "Timeout connecting to the MASTER");
    let sim_fired = count_after(
        &srlog,
        5000,
        "Non blocking connect for SYNC fired the event",
    );
    let sim_partial = count_after(&smlog, 5000, "Partial resynchronization request from");
    let sim_full = count_after(&smlog, 5000, "Full resync requested")
        + count_after(&smlog, 5000, "Partial resynchronization not accepted");
    let sim_said = distinct(&srlog, 5000, 18_000, "10.0.0.1:6379");
    report.compare(
        "the replica times out the frozen master, after",
        secs(real_timeout),
        secs(sim_timeout),
        "1 s (cron phase)",
        within(real_timeout, sim_timeout, 1.0),
    );
    report.compare(
        "handshake timeouts while it stays frozen (13 s)",
        real_retries,
        sim_retries,
        "±1",
        real_retries.abs_diff(sim_retries) <= 1,
    );
    report.compare(
        "connects that complete to the frozen master's port",
        real_fired,
        sim_fired,
        "±1",
        real_fired.abs_diff(sim_fired) <= 1,
    );
    report.compare(
        "what the replica logs while the master is stopped (each line once)",
        real_said.join(" / "),
        sim_said.join(" / "),
        "same lines",
        real_said == sim_said,
    );
    report.compare(
        "after SIGCONT: partial / full resyncs",
        format!("{real_partial} / {real_full}"),
        format!("{sim_partial} / {sim_full}"),
        "same",
        (real_partial, real_full) == (sim_partial, sim_full),
    );
    report.finish();
}

#[test]
fn a_ping_period_longer_than_repl_timeout_makes_the_replica_drop_an_idle_master() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("repl-ping-replica-period 5 > repl-timeout 2, no writes, 15 s");
    let m = Redis::start(&["--repl-ping-replica-period", "5", "--repl-timeout", "2"]);
    let r = Redis::start(&[
        "--replicaof",
        "127.0.0.1",
        &m.port.to_string(),
        "--repl-timeout",
        "2",
    ]);
    let mut rc = r.client();
    wait_for("the replica online", Duration::from_secs(10), || {
        rc.field("replication", "master_link_status") == "up"
    });
    let t0 = now_ms();
    sleep_ms(15_000);
    let (mlog, rlog) = (real_log(&m), real_log(&r));
    let real_timeouts = count_after(&rlog, t0, "MASTER timeout: no data nor PING received");
    let real_partial = count_after(&mlog, t0, "Partial resynchronization request from");
    let real_master_drops = count_after(&mlog, t0, "Disconnecting timedout replica");

    let sim = Sim::run(
        r#"
name = "ping-period-over-timeout"
duration = "20s"

[defaults]
repl-timeout = 2
repl-ping-replica-period = 5
repl-diskless-sync-delay = 0
redis-version = "7.0"

[[node]]
name = "master"

[[node]]
name = "replica"
replicaof = "master"
"#,
    );
    let (smlog, srlog) = (sim.log("master"), sim.log("replica"));
    let sim_timeouts = count_after(&srlog, 5000, "MASTER timeout: no data nor PING received");
    let sim_partial = count_after(&smlog, 5000, "Partial resynchronization request from");
    let sim_master_drops = count_after(&smlog, 5000, "Disconnecting timedout replica");
    report.compare(
        "the replica times out its idle master, in 15 s",
        format!("{real_timeouts}×"),
        format!("{sim_timeouts}×"),
        "±1",
        real_timeouts.abs_diff(sim_timeouts) <= 1 && real_timeouts >= 2,
    );
    report.compare(
        "each time it resyncs partially",
        format!("{real_partial}×"),
        format!("{sim_partial}×"),
        "±1",
        real_partial.abs_diff(sim_partial) <= 1,
    );
    report.compare(
        "the master (ACKed every second) drops the replica",
        format!("{real_master_drops}×"),
        format!("{sim_master_drops}×"),
        "same",
        real_master_drops == sim_master_drops,
    );
    report.finish();
}
