//! Where a resync turns from partial to full as the gap grows around `repl-backlog-size`, and a
//! syncing replica holding the history for another.
//!
//! A replica is frozen (SIGSTOP; a pause in the scenario), its link is killed on the master
//! (`CLIENT KILL TYPE replica`; a reset), the master takes a known number of stream bytes, and
//! the replica wakes and asks `PSYNC <replid> 1`. The gap is swept a SET (1,033 bytes) at a time
//! across the boundary, then byte by byte with one last SET of varying size.

use std::time::Duration;

use super::harness::*;

/// `repl-backlog-size` of every trial: not a multiple of any block size, so where blocks fall
/// shows.
const BACKLOG: u64 = 100_000;
const KEY: &str = "key:0";
const VALUE: usize = 1000;

/// What one trial saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Trial {
    /// Stream bytes the replica missed.
    gap: u64,
    /// `repl_backlog_histlen` when the replica asked.
    histlen: u64,
    partial: bool,
}

/// The real side: a fresh master, the replica re-pointed at it (so every trial starts at offset
/// 0), `sets` SETs of `VALUE` bytes and, if `tail` is given, one more SET of that many bytes.
fn real_trial(replica: &Redis, sets: usize, tail: Option<usize>) -> Trial {
    let m = Redis::start(&[
        "--repl-backlog-size",
        &BACKLOG.to_string(),
        "--repl-ping-replica-period",
        "3600",
    ]);
    let mut mc = m.client();
    let mut rc = replica.client();
    rc.cmd(&["REPLICAOF", "127.0.0.1", &m.port.to_string()]);
    wait_for("the replica online", Duration::from_secs(10), || {
        rc.field("replication", "master_link_status") == "up" && first_replica_online(&mut mc)
    });
    let pid_replica = pid(replica);
    signal(pid_replica, "STOP");
    mc.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
    pipeline_sets(&mut mc, KEY, &vec![b'x'; VALUE], sets);
    if let Some(t) = tail {
        pipeline_sets(&mut mc, KEY, &vec![b'y'; t], 1);
    }
    let info = mc.info("replication");
    let gap: u64 = info["master_repl_offset"].parse().expect("an offset");
    let histlen: u64 = info["repl_backlog_histlen"].parse().expect("a length");
    signal(pid_replica, "CONT");
    let mut partial = None;
    wait_for(
        "the master's PSYNC decision",
        Duration::from_secs(10),
        || {
            let log = m.log();
            if log.contains("Partial resynchronization request from") {
                partial = Some(true);
            } else if log.contains("for lack of backlog") {
                partial = Some(false);
            }
            partial.is_some()
        },
    );
    Trial {
        gap,
        histlen,
        partial: partial.expect("decided"),
    }
}

/// The same trial simulated: the replica paused at 2 s, its link reset at 2.5 s, the SETs from
/// 3 s (a workload of `sets` per second for one second), the tail SET at 4 s, the replica awake
/// at 5 s.
fn sim_trial(sets: usize, tail: Option<usize>) -> Trial {
    let mut toml = format!(
        r#"
name = "backlog-boundary"
duration = "7s"

[defaults]
repl-backlog-size = {BACKLOG}
repl-ping-replica-period = 3600
repl-diskless-sync-delay = 0
redis-version = "7.0"

[[node]]
name = "master"

# The replica attaches after the master's first replicationCron, as on the real side (where the
# fresh master's first cron runs before the replica connects): cron tick 0 would PING it.
[[node]]
name = "replica"

[[fault]]
at = "1200ms"
kind = "command"
node = "replica"
command = "REPLICAOF master 6379"

[[fault]]
at = "2s"
kind = "pause"
node = "replica"
duration = "3s"

[[fault]]
at = "2500ms"
kind = "reset"
between = ["master", "replica"]

[[workload]]
target = "master"
rate = {sets}
keys = 1
value_size = {VALUE}
start = "3s"
stop = "4s"
"#
    );
    if let Some(t) = tail {
        toml.push_str(&format!(
            "\n[[workload]]\ntarget = \"master\"\nrate = 1\nkeys = 1\nvalue_size = {t}\nstart = \"4s\"\nstop = \"4900ms\"\n"
        ));
    }
    let sim = Sim::run(&toml);
    let m = sim.node("master");
    let log = sim.log("master");
    let partial = !lines_with(&log, "Partial resynchronization request from").is_empty();
    let refused = !lines_with(&log, "for lack of backlog").is_empty();
    assert!(partial != refused, "one PSYNC decision: {log:?}");
    Trial {
        gap: m.master_repl_offset(),
        histlen: m.backlog_histlen(),
        partial,
    }
}

#[test]
fn the_partial_to_full_boundary_sits_where_redis_puts_it() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("backlog boundary (repl-backlog-size 100000, 1,033-byte SETs)");
    // One real replica for every trial, re-pointed at each fresh master.
    let replica = Redis::start(&[]);
    let sets_range = 90..=125;
    let mut real_last_partial = None;
    let mut sim_last_partial = None;
    let mut rows_agree = true;
    for sets in sets_range.clone() {
        let r = real_trial(&replica, sets, None);
        let s = sim_trial(sets, None);
        assert_eq!(
            r.gap, s.gap,
            "both sides wrote the same stream ({sets} SETs)"
        );
        if r.partial {
            real_last_partial = Some(r);
        }
        if s.partial {
            sim_last_partial = Some(s);
        }
        rows_agree &= r.partial == s.partial;
    }
    let (Some(rl), Some(sl)) = (real_last_partial, sim_last_partial) else {
        panic!("no partial resync in the sweep: widen it");
    };
    report.compare(
        "largest gap resynced partially, SET by SET (90 to 125 SETs)",
        format!("{} bytes (histlen {})", rl.gap, rl.histlen),
        format!("{} bytes (histlen {})", sl.gap, sl.histlen),
        "the same SET",
        rl.gap == sl.gap && rows_agree,
    );
    // Byte by byte: after each side's own last partial count of SETs, one more SET whose
    // value is bisected over 0..=VALUE bytes.
    let boundary = |last: &Trial, trial: &dyn Fn(usize, Option<usize>) -> Trial| -> (u64, u64) {
        let sets = ((last.gap - SELECT_BYTES) / set_bytes(KEY.len(), VALUE)) as usize;
        let (mut lo, mut hi) = (0usize, VALUE + 1);
        let (mut last_ok, mut first_bad) = (last.gap, u64::MAX);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let t = trial(sets, Some(mid));
            if t.partial {
                last_ok = t.gap;
                lo = mid + 1;
            } else {
                first_bad = t.gap;
                hi = mid;
            }
        }
        (last_ok, first_bad)
    };
    let (real_ok, real_bad) = boundary(&rl, &|n, t| real_trial(&replica, n, t));
    let (sim_ok, sim_bad) = boundary(&sl, &|n, t| sim_trial(n, t));
    report.compare(
        "the boundary to the byte (largest partial gap / smallest full gap)",
        format!("{real_ok} / {real_bad}"),
        format!("{sim_ok} / {sim_bad}"),
        "0 bytes",
        (real_ok, real_bad) == (sim_ok, sim_bad),
    );
    report.compare(
        "the naive reading (gap <= repl-backlog-size)",
        format!("partial up to {}", real_ok),
        format!("partial up to {}", sim_ok),
        "both past 100000",
        real_ok > BACKLOG && sim_ok > BACKLOG,
    );
    report.finish();
}
