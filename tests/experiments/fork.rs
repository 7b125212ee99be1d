//! Several replicas sharing one diskless fork, and one arriving mid-transfer.
//!
//! `repl-diskless-sync-delay 2`: replicas 1 and 2 ask for a full sync 0.3 s apart and share one
//! fork, whose RDB takes about 2 s (`rdb-key-save-delay`; in the scenario, the save rate
//! calibrated on a real BGSAVE of the same data). Replica 3 asks 1 s into that transfer: it
//! waits for the next fork, which starts once the first child is gone and it has waited the
//! delay.
//!
//! Redis counts the delay in whole seconds of `server.unixtime`, once a second in
//! replicationCron, so a fork comes 1 to 3 s after the request it waits for, depending on where
//! the request and the cron fall within their seconds. Those phases are the machine's on the
//! real side and the seed's in the scenario; the experiment checks that both sides fork within
//! Redis's window rather than at the same instant.

use std::time::Duration;

use super::harness::*;

struct Forks {
    /// Seconds from the first REPLICAOF to each fork.
    forks: Vec<f64>,
    /// Seconds from the first REPLICAOF to each transfer's end (`done reading from pipe`).
    ends: Vec<f64>,
    /// Replicas each transfer finished with (`N replicas still up`).
    served: Vec<usize>,
    /// Seconds from the first REPLICAOF until each replica logged `Finished with success`.
    online: Vec<Option<f64>>,
    waited: usize,
    /// The level symbol of `done reading from pipe` (7.0 logs it as a warning, 7.2 as a notice).
    pipe_done_level: Option<char>,
}

impl Forks {
    fn of(mlog: &[Line], replicas: &[Vec<Line>], t0: u64) -> Forks {
        let s = |at: u64| (at as f64 - t0 as f64) / 1000.0;
        let at = |f: &str| -> Vec<f64> {
            mlog.iter()
                .filter(|l| l.at_ms >= t0 && l.msg.contains(f))
                .map(|l| s(l.at_ms))
                .collect()
        };
        Forks {
            forks: at("Starting BGSAVE for SYNC"),
            ends: at("done reading from pipe"),
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

    /// Seconds from each transfer's fork to its end.
    fn transfers(&self) -> Vec<f64> {
        self.forks
            .iter()
            .zip(&self.ends)
            .map(|(f, e)| e - f)
            .collect()
    }
}

/// The real side, and the second of the first REPLICAOF's third (when replica 3 asked).
fn real() -> (Forks, f64) {
    let m = Redis::start(&["--repl-diskless-sync-delay", "2"]);
    let mut mc = m.client();
    load_keys(&mut mc);
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
    let third = (now_ms() - t0) as f64 / 1000.0;
    replicas[2].client().cmd(&["REPLICAOF", "127.0.0.1", &port]);
    wait_for("every replica synced", Duration::from_secs(15), || {
        replicas.iter().all(|r| {
            r.log()
                .contains("MASTER <-> REPLICA sync: Finished with success")
        })
    });
    let logs: Vec<Vec<Line>> = replicas.iter().map(real_log).collect();
    (Forks::of(&real_log(&m), &logs, t0), third)
}

fn scenario(rate: u64, third_ms: u64) -> String {
    format!(
        r#"
name = "shared-fork"
duration = "16s"

[defaults]
repl-diskless-sync-delay = 2
replsim-rdb-save-rate = {rate}
redis-version = "7.0"

[[node]]
name = "master"
[node.data]
keys = {DATA_KEYS}
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
    )
}

/// The simulated side: replica 3 asks 1 s after the simulated first fork (found by a first run
/// with it asking late), as on the real side.
fn sim(rate: u64) -> (Forks, f64) {
    let run = |third_ms: u64| {
        let s = Sim::run(&scenario(rate, third_ms));
        let logs: Vec<Vec<Line>> = ["r1", "r2", "r3"].iter().map(|n| s.log(n)).collect();
        Forks::of(&s.log("master"), &logs, 2000)
    };
    let first_fork = run(15_000).forks.first().copied().expect("a first fork");
    let third = first_fork + 1.0;
    (run(2000 + (third * 1000.0) as u64), third)
}

/// Within Redis's window for a fork that waits `repl-diskless-sync-delay 2` after a request
/// at `asked`: 1 to 3 s, with 0.1 s for the fork's own log line and the machine.
fn in_window(fork: f64, asked: f64) -> bool {
    (0.9..=3.1).contains(&(fork - asked))
}

#[test]
fn replicas_share_a_diskless_fork_and_a_late_one_waits_for_the_next() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new(
        "one diskless fork for two replicas (delay 2 s, 2 s RDB), a third arriving mid-transfer",
    );
    let (rdb_bytes, rdb_ms) = calibrate_rdb();
    let rate = rdb_bytes * 1000 / rdb_ms;
    let (r, r_third) = real();
    let (s, s_third) = sim(rate);
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
    let forks_ok = |f: &Forks, third: f64| {
        f.forks.len() == 2
            && in_window(f.forks[0], 0.0)
            && in_window(f.forks[1], third)
            && f.ends.first().is_some_and(|e| f.forks[1] >= *e)
    };
    report.compare(
        "forks, after the first REPLICAOF (the third replica asks 1 s into the first transfer)",
        format!("{} (third asked at {r_third:.1} s)", secs(&r.forks)),
        format!("{} (third asked at {s_third:.1} s)", secs(&s.forks)),
        "two forks, each 1-3 s after the request it waited for (whole seconds, cron phase), the second after the first transfer",
        forks_ok(&r, r_third) && forks_ok(&s, s_third),
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
    let (rt, st) = (r.transfers(), s.transfers());
    report.compare(
        &format!(
            "each transfer, fork to `done reading from pipe` (save rate calibrated: {rdb_bytes} bytes in {rdb_ms} ms)"
        ),
        secs(&rt),
        secs(&st),
        "±0.3 s",
        rt.len() == st.len() && rt.iter().zip(&st).all(|(a, b)| (a - b).abs() <= 0.3),
    );
    // Each replica is online once its transfer is done and it has loaded the RDB: compare the
    // time from its transfer's fork, which takes the phases out.
    let loaded = |f: &Forks| -> Vec<Option<f64>> {
        f.online
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let fork = f.forks.get(usize::from(i == 2))?;
                o.map(|o| o - fork)
            })
            .collect()
    };
    let (rl, sl) = (loaded(&r), loaded(&s));
    report.compare(
        "each replica loaded, after its transfer's fork",
        opt(&rl),
        opt(&sl),
        "±0.3 s",
        rl.len() == sl.len()
            && rl.iter().zip(&sl).all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 0.3,
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
