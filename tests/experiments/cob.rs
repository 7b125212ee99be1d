//! The full-resync loop under `client-output-buffer-limit`: a full sync that takes 2 s while
//! writes fill the replica's output buffer past its hard limit in about half a second. Diskless
//! and disk, with and without a save point: how often the loop turns, when the replica is
//! dropped, what it logs, and what becomes of the fork child.
//!
//! Real: 2,000 keys of 100 bytes, `rdb-key-save-delay 1000` (the child sleeps 1 ms per key, so
//! an RDB takes 2 s), a writer of 500 SETs of 1,000 bytes a second (about 517 KB/s of stream),
//! `client-output-buffer-limit replica 256kb 0 0`. Simulated: the same data and writes, the
//! child's RDB save rate set to take the same 2 s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::harness::*;

const KEYS: usize = 2000;
const WINDOW_MS: u64 = 8000;

struct Loop {
    forks: usize,
    drops: usize,
    child_killed: usize,
    replica_io_errors: usize,
    /// Mean seconds from a fork to the drop that ends its sync.
    fork_to_drop: Option<f64>,
    waits_for_next: usize,
}

fn loop_of(mlog: &[Line], rlog: &[Line], t0: u64, t1: u64) -> Loop {
    let within = |log: &[Line], f: &str| -> Vec<u64> {
        log.iter()
            .filter(|l| l.at_ms >= t0 && l.at_ms < t1 && l.msg.contains(f))
            .map(|l| l.at_ms)
            .collect()
    };
    let forks = within(mlog, "Starting BGSAVE for SYNC");
    let drops = within(mlog, "for overcoming of output buffer limits");
    let gaps: Vec<u64> = drops
        .iter()
        .filter_map(|d| forks.iter().rev().find(|f| *f <= d).map(|f| d - f))
        .collect();
    Loop {
        forks: forks.len(),
        drops: drops.len(),
        child_killed: within(mlog, "last replica dropped, killing fork child").len()
            + within(mlog, "Background saving terminated by signal").len(),
        replica_io_errors: within(
            rlog,
            "I/O error trying to sync with MASTER: connection lost",
        )
        .len(),
        fork_to_drop: (!gaps.is_empty())
            .then(|| gaps.iter().sum::<u64>() as f64 / gaps.len() as f64 / 1000.0),
        waits_for_next: within(mlog, "Waiting for next BGSAVE for SYNC").len(),
    }
}

fn real(diskless: bool, save: &str) -> Loop {
    let m = Redis::start(&[
        "--repl-diskless-sync",
        if diskless { "yes" } else { "no" },
        "--save",
        save,
        "--client-output-buffer-limit",
        "replica 256kb 0 0",
    ]);
    let mut mc = m.client();
    let mut batch = Vec::new();
    for i in 0..KEYS {
        let v = "v".repeat(100);
        batch.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\nkey:{i}\r\n$100\r\n{v}\r\n",
                format!("key:{i}").len()
            )
            .as_bytes(),
        );
    }
    mc.send_bytes(&batch);
    for _ in 0..KEYS {
        mc.read_raw();
    }
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
    let t0 = now_ms();
    sleep_ms(WINDOW_MS);
    let t1 = now_ms();
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("the writer");
    loop_of(&real_log(&m), &real_log(&r), t0, t1)
}

fn sim(diskless: bool, save: &str) -> Loop {
    // The RDB of 2,000 keys `key:N` with 100-byte values is about 230 KB; 115 KB/s takes 2 s.
    let toml = format!(
        r#"
name = "cob-loop"
duration = "12s"

[defaults]
repl-diskless-sync = {diskless}
repl-diskless-sync-delay = 0
save = "{save}"
client-output-buffer-limit = "replica 256kb 0 0"
replsim-rdb-save-rate = "115kb"
redis-version = "7.0"

[[node]]
name = "master"
[node.data]
keys = {KEYS}
value_size = 100

[[node]]
name = "replica"

[[workload]]
target = "master"
rate = 500
keys = 10
value_size = 1000
start = "1s"

[[fault]]
at = "2s"
kind = "command"
node = "replica"
command = "REPLICAOF master 6379"
"#
    );
    let s = Sim::run(&toml);
    loop_of(&s.log("master"), &s.log("replica"), 2000, 2000 + WINDOW_MS)
}

fn close(a: usize, b: usize) -> bool {
    // A quarter of the larger, at least one.
    a.abs_diff(b) <= (a.max(b) / 4).max(1)
}

#[test]
fn the_full_resync_loop_turns_at_redis_s_pace() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new(
        "full-resync loop: 2 s RDB, 517 KB/s of writes, replica hard limit 256 KB, 8 s",
    );
    for (diskless, save, label) in [
        (true, "", "diskless, no save point"),
        (true, "3600 1", "diskless, save 3600 1"),
        (false, "", "disk, no save point"),
        (false, "3600 1", "disk, save 3600 1"),
    ] {
        let r = real(diskless, save);
        let s = sim(diskless, save);
        let f = |l: &Loop| {
            format!(
                "{} forks, {} drops ({} s after the fork), child killed {}×, replica I/O errors {}, waits for next BGSAVE {}",
                l.forks,
                l.drops,
                l.fork_to_drop.map_or("-".into(), |x| format!("{x:.2}")),
                l.child_killed,
                l.replica_io_errors,
                l.waits_for_next,
            )
        };
        let ok = close(r.forks, s.forks)
            && close(r.drops, s.drops)
            && close(r.child_killed, s.child_killed)
            && close(r.replica_io_errors, s.replica_io_errors)
            && match (r.fork_to_drop, s.fork_to_drop) {
                (Some(a), Some(b)) => (a - b).abs() <= 0.25,
                (None, None) => true,
                _ => false,
            };
        report.compare(label, f(&r), f(&s), "counts ±25%, fork to drop ±0.25 s", ok);
    }
    report.finish();
}
