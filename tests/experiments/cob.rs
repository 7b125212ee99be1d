//! The full-resync loop under `client-output-buffer-limit`: a full sync that takes about 2 s
//! while writes fill the replica's output buffer past its hard limit in about half a second.
//! Diskless and disk, with and without a save point: how often the loop turns, when the master
//! drops the replica, when and how the dropped replica learns of it, and what becomes of the
//! fork child.
//!
//! Real: 2,000 keys of 100 random bytes (LZF cannot shrink them, so the RDB is as large as
//! replsim's), `rdb-key-save-delay 1000` (the child sleeps 1 ms per key), a writer of 500 SETs
//! of 1,000 bytes a second (about 517 KB/s of stream), `client-output-buffer-limit replica 256kb
//! 0 0` and `repl-backlog-size 16kb` (a hard limit under the backlog size would be raised to
//! it). Simulated: the same data and writes, the child's RDB save rate calibrated on this
//! machine: a real BGSAVE of the same data, its size over its time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::harness::*;

const WINDOW_MS: u64 = 8000;

/// What one run of the loop showed, times in ms from its first fork.
struct Loop {
    forks: Vec<u64>,
    /// The master's `… for overcoming of output buffer limits.`
    drops: Vec<u64>,
    /// The replica's `I/O error …` lines: when, and what they said.
    noticed: Vec<(u64, String)>,
    /// `last replica dropped, killing fork child` and `terminated by signal`.
    kills: usize,
    /// `Waiting for next BGSAVE for SYNC` (the replica is back before the child is gone).
    waits_for_next: usize,
}

impl Loop {
    fn of(mlog: &[Line], rlog: &[Line]) -> Loop {
        let t0 = mlog
            .iter()
            .find(|l| l.msg.contains("Starting BGSAVE for SYNC"))
            .map(|l| l.at_ms)
            .expect("a first fork");
        let within = |l: &&Line| l.at_ms >= t0 && l.at_ms < t0 + WINDOW_MS;
        let at = |log: &[Line], f: &str| -> Vec<u64> {
            log.iter()
                .filter(within)
                .filter(|l| l.msg.contains(f))
                .map(|l| l.at_ms - t0)
                .collect()
        };
        Loop {
            forks: at(mlog, "Starting BGSAVE for SYNC"),
            drops: at(mlog, "for overcoming of output buffer limits"),
            noticed: rlog
                .iter()
                .filter(within)
                .filter(|l| l.msg.starts_with("I/O error"))
                .map(|l| (l.at_ms - t0, l.msg.clone()))
                .collect(),
            kills: at(mlog, "last replica dropped, killing fork child").len()
                + at(mlog, "terminated by signal").len(),
            waits_for_next: at(mlog, "Waiting for next BGSAVE for SYNC").len(),
        }
    }

    /// Mean seconds from each drop back to the fork before it.
    fn fork_to_drop(&self) -> Option<f64> {
        mean(self.drops.iter().filter_map(|d| {
            let f = self.forks.iter().rev().find(|f| *f <= d)?;
            Some(d - f)
        }))
    }

    /// Mean seconds from each drop to the replica's first `I/O error` after it.
    fn drop_to_notice(&self) -> Option<f64> {
        mean(self.drops.iter().filter_map(|d| {
            let (n, _) = self.noticed.iter().find(|(n, _)| n >= d)?;
            Some(n - d)
        }))
    }

    /// Mean seconds between forks.
    fn period(&self) -> Option<f64> {
        let (first, last) = (self.forks.first()?, self.forks.last()?);
        (self.forks.len() > 1)
            .then(|| (last - first) as f64 / 1000.0 / (self.forks.len() - 1) as f64)
    }

    /// The replica's `I/O error` messages, each once.
    fn messages(&self) -> Vec<String> {
        let mut m: Vec<String> = self.noticed.iter().map(|(_, s)| s.clone()).collect();
        m.sort();
        m.dedup();
        m
    }
}

fn mean(ms: impl Iterator<Item = u64>) -> Option<f64> {
    let v: Vec<u64> = ms.collect();
    (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0)
}

fn real(diskless: bool, save: &str) -> Loop {
    let m = Redis::start(&[
        "--repl-diskless-sync",
        if diskless { "yes" } else { "no" },
        "--save",
        save,
        "--repl-backlog-size",
        "16kb",
        "--client-output-buffer-limit",
        "replica 256kb 0 0",
    ]);
    let mut mc = m.client();
    load_keys(&mut mc);
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let port = m.port;
        std::thread::spawn(move || {
            let mut c = Client::connect(port);
            let value = vec![b'w'; 1000];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                pipeline_sets(&mut c, &format!("key:{}", i % 10), &value, 5);
                i += 1;
                sleep_ms(10);
            }
        })
    };
    sleep_ms(500);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &m.port.to_string()]);
    wait_for("the first fork", Duration::from_secs(5), || {
        m.log().contains("Starting BGSAVE for SYNC")
    });
    sleep_ms(WINDOW_MS + 200);
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("the writer");
    Loop::of(&real_log(&m), &real_log(&r))
}

fn sim(diskless: bool, save: &str, save_rate: u64) -> Loop {
    let toml = format!(
        r#"
name = "cob-loop"
duration = "12s"

[defaults]
repl-diskless-sync = {diskless}
repl-diskless-sync-delay = 0
save = "{save}"
repl-backlog-size = "16kb"
client-output-buffer-limit = "replica 256kb 0 0"
replsim-rdb-save-rate = {save_rate}
redis-version = "7.0"

[[node]]
name = "master"
[node.data]
keys = {DATA_KEYS}
value_size = 100

[[node]]
name = "replica"
replicaof = "master"

[[workload]]
target = "master"
rate = 500
keys = 10
value_size = 1000
start = "500ms"
"#
    );
    let s = Sim::run(&toml);
    Loop::of(&s.log("master"), &s.log("replica"))
}

fn secs(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.2} s"))
}

#[test]
fn the_full_resync_loop_turns_at_redis_s_pace() {
    let Some(_serial) = enabled() else { return };
    let (rdb_bytes, rdb_ms) = calibrate_rdb();
    let rate = rdb_bytes * 1000 / rdb_ms;
    let mut report = Report::new(
        "full-resync loop: 2 s RDB, 517 KB/s of writes, replica hard limit 256 KB, 8 s from the first fork",
    );
    for (diskless, save, label) in [
        (true, "", "diskless, no save point"),
        (true, "3600 1", "diskless, save 3600 1"),
        (false, "", "disk, no save point"),
        (false, "3600 1", "disk, save 3600 1"),
    ] {
        let r = real(diskless, save);
        let s = sim(diskless, save, rate);
        if diskless && save.is_empty() {
            report.compare(
                "calibration: a BGSAVE of the data",
                format!("{rdb_bytes} bytes in {rdb_ms} ms"),
                format!("replsim-rdb-save-rate {rate} (bytes/s)"),
                "-",
                true,
            );
        }
        let counts = |l: &Loop| {
            format!(
                "{} forks (one per {}), {} drops, child killed {}×, `Waiting for next BGSAVE` {}×",
                l.forks.len(),
                secs(l.period()),
                l.drops.len(),
                l.kills,
                l.waits_for_next
            )
        };
        report.compare(
            &format!("{label}: the loop"),
            counts(&r),
            counts(&s),
            "counts ±25%",
            close(r.forks.len(), s.forks.len())
                && close(r.drops.len(), s.drops.len())
                && close(r.kills, s.kills)
                && close(r.waits_for_next, s.waits_for_next),
        );
        report.compare(
            &format!("{label}: fork to drop"),
            secs(r.fork_to_drop()),
            secs(s.fork_to_drop()),
            "±0.15 s",
            near(r.fork_to_drop(), s.fork_to_drop(), 0.15),
        );
        let notice_tol = r.drop_to_notice().map_or(0.15, |x| (x * 0.15).max(0.15));
        report.compare(
            &format!("{label}: the dropped replica notices, after the drop"),
            secs(r.drop_to_notice()),
            secs(s.drop_to_notice()),
            "±0.15 s or ±15%",
            near(r.drop_to_notice(), s.drop_to_notice(), notice_tol),
        );
        report.compare(
            &format!("{label}: what the dropped replica logs"),
            r.messages().join("; "),
            s.messages().join("; "),
            "same lines",
            r.messages() == s.messages(),
        );
    }
    report.finish();
}
