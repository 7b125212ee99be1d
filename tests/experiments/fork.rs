//! Several replicas sharing one diskless fork, and one arriving mid-transfer.
//!
//! `repl-diskless-sync-delay 2`: replicas 1 and 2 ask for a full sync 0.3 s apart and share one
//! fork, which takes 2 s (`rdb-key-save-delay`; the RDB save rate in the scenario). Replica 3
//! asks 1 s into that transfer: it waits for the next fork, which starts once the first child
//! is done and it has waited the delay.

use std::time::Duration;

use super::harness::*;

const KEYS: usize = 2000;

struct Forks {
    /// Seconds from the first REPLICAOF to each fork.
    forks: Vec<f64>,
    /// Replicas each transfer finished with (`N replicas still up`).
    served: Vec<usize>,
    /// Seconds from the first REPLICAOF until each replica logged `Finished with success`.
    online: Vec<Option<f64>>,
    waited: usize,
    /// The level symbol of `done reading from pipe` (7.0 logs it as a warning, 7.2 as a notice).
    pipe_done_level: Option<char>,
}

fn forks_of(mlog: &[Line], replicas: &[Vec<Line>], t0: u64) -> Forks {
    let s = |at: u64| (at as f64 - t0 as f64) / 1000.0;
    Forks {
        forks: mlog
            .iter()
            .filter(|l| l.at_ms >= t0 && l.msg.contains("Starting BGSAVE for SYNC"))
            .map(|l| s(l.at_ms))
            .collect(),
        served: mlog
            .iter()
            .filter(|l| l.at_ms >= t0 && l.msg.contains("done reading from pipe"))
            .filter_map(|l| l.msg.split(", ").nth(2)?.split(' ').next()?.parse().ok())
            .collect(),
        online: replicas
            .iter()
            .map(|log| first_after(log, t0, "MASTER <-> REPLICA sync: Finished with success"))
            .collect(),
        waited: count_after(
            mlog,
            t0,
            "Current BGSAVE has socket target. Waiting for next BGSAVE",
        ),
        pipe_done_level: lines_with(mlog, "done reading from pipe")
            .first()
            .map(|l| l.level),
    }
}

fn real() -> Forks {
    let m = Redis::start(&["--repl-diskless-sync-delay", "2"]);
    let mut mc = m.client();
    let mut batch = Vec::new();
    for i in 0..KEYS {
        let k = format!("key:{i}");
        batch.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$100\r\n{}\r\n",
                k.len(),
                "v".repeat(100)
            )
            .as_bytes(),
        );
    }
    mc.send_bytes(&batch);
    for _ in 0..KEYS {
        mc.read_raw();
    }
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    let replicas: Vec<Redis> = (0..3).map(|_| Redis::start(&[])).collect();
    let port = m.port.to_string();
    let t0 = now_ms();
    replicas[0].client().cmd(&["REPLICAOF", "127.0.0.1", &port]);
    sleep_ms(300);
    replicas[1].client().cmd(&["REPLICAOF", "127.0.0.1", &port]);
    wait_for("the first fork", Duration::from_secs(5), || {
        m.log().contains("Starting BGSAVE for SYNC")
    });
    sleep_ms(1000);
    replicas[2].client().cmd(&["REPLICAOF", "127.0.0.1", &port]);
    wait_for("every replica synced", Duration::from_secs(15), || {
        replicas.iter().all(|r| {
            r.log()
                .contains("MASTER <-> REPLICA sync: Finished with success")
        })
    });
    let logs: Vec<Vec<Line>> = replicas.iter().map(real_log).collect();
    forks_of(&real_log(&m), &logs, t0)
}

fn sim(first_fork_s: f64) -> Forks {
    // Replica 3 asks 1 s after the first fork, as on the real side.
    let third_ms = (2000.0 + (first_fork_s + 1.0) * 1000.0) as u64;
    let toml = format!(
        r#"
name = "shared-fork"
duration = "16s"

[defaults]
repl-diskless-sync-delay = 2
replsim-rdb-save-rate = "115kb"
redis-version = "7.0"

[[node]]
name = "master"
[node.data]
keys = {KEYS}
value_size = 100

[[node]]
name = "r1"

[[node]]
name = "r2"

[[node]]
name = "r3"

[[fault]]
at = "2s"
kind = "command"
node = "r1"
command = "REPLICAOF master 6379"

[[fault]]
at = "2300ms"
kind = "command"
node = "r2"
command = "REPLICAOF master 6379"

[[fault]]
at = "{third_ms}ms"
kind = "command"
node = "r3"
command = "REPLICAOF master 6379"
"#
    );
    let s = Sim::run(&toml);
    let logs: Vec<Vec<Line>> = ["r1", "r2", "r3"].iter().map(|n| s.log(n)).collect();
    forks_of(&s.log("master"), &logs, 2000)
}

#[test]
fn replicas_share_a_diskless_fork_and_a_late_one_waits_for_the_next() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new(
        "one diskless fork for two replicas (delay 2 s, 2 s RDB), a third arriving mid-transfer",
    );
    let r = real();
    let s = sim(r.forks.first().copied().unwrap_or(2.0));
    let secs = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let opt = |v: &[Option<f64>]| {
        v.iter()
            .map(|x| x.map_or("never".into(), |x| format!("{x:.1} s")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    report.compare(
        "forks, after the first REPLICAOF",
        secs(&r.forks),
        secs(&s.forks),
        "same count, each ±1 s (cron phase)",
        r.forks.len() == s.forks.len()
            && r.forks
                .iter()
                .zip(&s.forks)
                .all(|(a, b)| (a - b).abs() <= 1.0),
    );
    report.compare(
        "replicas each transfer served",
        format!("{:?}", r.served),
        format!("{:?}", s.served),
        "same",
        r.served == s.served,
    );
    report.compare(
        "the late replica is told to wait for the next fork",
        format!("{}×", r.waited),
        format!("{}×", s.waited),
        "same",
        r.waited == s.waited,
    );
    report.compare(
        "each replica loaded, after the first REPLICAOF",
        opt(&r.online),
        opt(&s.online),
        "±1 s",
        r.online.len() == s.online.len()
            && r.online.iter().zip(&s.online).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1.0,
                _ => false,
            }),
    );
    report.compare(
        "level of `Diskless rdb transfer, done reading from pipe, …` (7.0 profile)",
        format!("{:?}", r.pipe_done_level),
        format!("{:?}", s.pipe_done_level),
        "same",
        r.pipe_done_level == s.pipe_done_level,
    );
    report.finish();
}
