//! What a client sees when a replica freezes: `min-replicas-max-lag` turning writes away, and
//! WAIT's timeout and the offset it waits for.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use replsim::sim::observe::{OpCode, Outcome};

use super::harness::*;

/// A client writing every `period_ms` until stopped; each write's Unix ms and whether it was
/// accepted.
/// A client writing every `period_ms` until stopped: each write's Unix ms and its error's first
/// word, if refused.
type Writes = Vec<(u64, Option<String>)>;

fn writer(port: u16, period_ms: u64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Writes> {
    std::thread::spawn(move || {
        let mut c = Client::connect(port);
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let at = now_ms();
            let err = match c.cmd(&["SET", "k", "v"]) {
                Reply::Error(e) => Some(e.split(' ').next().unwrap_or("").to_string()),
                _ => None,
            };
            seen.push((at, err));
            sleep_ms(period_ms);
        }
        seen
    })
}

fn secs(x: Option<f64>) -> String {
    x.map_or("never".into(), |s| format!("{s:.1} s"))
}

#[test]
fn min_replicas_max_lag_refuses_writes_a_lag_after_a_replica_freezes() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new(
        "min-replicas-to-write 1, min-replicas-max-lag 2, the only replica frozen for 7 s",
    );
    let m = Redis::start(&[
        "--min-replicas-to-write",
        "1",
        "--min-replicas-max-lag",
        "2",
    ]);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &m.port.to_string()]);
    let mut mc = m.client();
    wait_for("a good replica", Duration::from_secs(10), || {
        mc.field("replication", "min_slaves_good_slaves") == "1"
    });
    sleep_ms(1200);
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(m.port, 50, stop.clone());
    sleep_ms(1000);
    let t0 = now_ms();
    let pid_r = pid(&r);
    signal(pid_r, "STOP");
    sleep_ms(7000);
    let t1 = now_ms();
    signal(pid_r, "CONT");
    sleep_ms(3000);
    stop.store(true, Ordering::Relaxed);
    let seen = w.join().expect("the writer");
    let real_refused = seen
        .iter()
        .find(|(at, err)| *at >= t0 && err.is_some())
        .map(|(at, _)| (at - t0) as f64 / 1000.0);
    let real_back = seen
        .iter()
        .find(|(at, err)| *at >= t1 && err.is_none())
        .map(|(at, _)| (at - t1) as f64 / 1000.0);
    let mut real_kinds: Vec<String> = seen.iter().filter_map(|(_, e)| e.clone()).collect();
    real_kinds.dedup();

    let sim = Sim::run(
        r#"
name = "min-replicas-max-lag"
duration = "20s"

[defaults]
repl-diskless-sync-delay = 0
redis-version = "7.0"

[[node]]
name = "master"
[node.config]
min-replicas-to-write = 1
min-replicas-max-lag = 2

[[node]]
name = "replica"
replicaof = "master"

[[workload]]
target = "master"
rate = 20
keys = 10
start = "3s"

[[fault]]
at = "5s"
kind = "pause"
node = "replica"
duration = "7s"
"#,
    );
    let ops = sim.history();
    let at_s = |ns: u64| ns as f64 / 1e9;
    let sim_refused = ops
        .iter()
        .find(|o| at_s(o.invoke_ns) >= 5.0 && o.outcome == Outcome::Fail)
        .map(|o| at_s(o.invoke_ns) - 5.0);
    let sim_back = ops
        .iter()
        .find(|o| at_s(o.invoke_ns) >= 12.0 && o.outcome == Outcome::Ok)
        .map(|o| at_s(o.invoke_ns) - 12.0);
    let sim_kinds = sim.error_kinds();
    report.compare(
        "first write refused, after the freeze",
        secs(real_refused),
        secs(sim_refused),
        "1 s (cron phase)",
        matches!((real_refused, sim_refused), (Some(a), Some(b)) if (a - b).abs() <= 1.0),
    );
    report.compare(
        "first write accepted, after SIGCONT",
        secs(real_back),
        secs(sim_back),
        "1 s (cron phase)",
        matches!((real_back, sim_back), (Some(a), Some(b)) if (a - b).abs() <= 1.0),
    );
    report.compare(
        "the refusal",
        real_kinds.join(", "),
        sim_kinds.join(", "),
        "same",
        real_kinds == sim_kinds,
    );
    report.finish();
}

/// `SET` then `WAIT 1 <ms>` on one connection: the reply and how long WAIT took, in ms.
fn real_wait(c: &mut Client, ms: u64) -> (i64, u64) {
    assert!(matches!(c.cmd(&["SET", "k", "v"]), Reply::Simple(_)));
    let t = std::time::Instant::now();
    let n = c.cmd(&["WAIT", "1", &ms.to_string()]).int();
    (n, t.elapsed().as_millis() as u64)
}

#[test]
fn wait_times_out_on_a_frozen_replica_and_waits_for_the_offset_redis_waits_for() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("WAIT 1 <timeout> with the only replica frozen");
    let m = Redis::start(&[]);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &m.port.to_string()]);
    let mut mc = m.client();
    wait_for("the replica online", Duration::from_secs(10), || {
        first_replica_online(&mut mc)
    });
    sleep_ms(1200);
    let (healthy_n, healthy_ms) = real_wait(&mut mc, 500);
    let pid_r = pid(&r);
    signal(pid_r, "STOP");
    let mut frozen = Vec::new();
    for _ in 0..5 {
        frozen.push(real_wait(&mut mc, 200));
    }
    // A fresh connection whose only command before WAIT is a DEL that deletes nothing (it
    // propagates nothing): Redis 7.0 waits for the master's offset all the same.
    let mut other = m.client();
    assert_eq!(other.cmd(&["DEL", "no-such-key"]).int(), 0);
    let t = std::time::Instant::now();
    let after_del = other.cmd(&["WAIT", "1", "200"]).int();
    let after_del_ms = t.elapsed().as_millis() as u64;
    signal(pid_r, "CONT");

    let scenario = |version: &str| {
        format!(
            r#"
name = "wait-timeout"
duration = "12s"

[defaults]
repl-diskless-sync-delay = 0
redis-version = "{version}"

[[node]]
name = "master"

[[node]]
name = "replica"
replicaof = "master"

[[workload]]
name = "healthy"
target = "master"
rate = 2
keys = 10
start = "3s"
stop = "4s"
wait = {{ replicas = 1, timeout = "500ms" }}

[[workload]]
name = "frozen"
target = "master"
rate = 2
keys = 10
start = "5s"
stop = "8s"
wait = {{ replicas = 1, timeout = "200ms" }}

[[workload]]
name = "del"
target = "master"
rate = 1
keys = 1000000
start = "8s"
stop = "9s"
mix = {{ del = 1 }}
wait = {{ replicas = 1, timeout = "200ms" }}

[[fault]]
at = "4500ms"
kind = "pause"
node = "replica"
duration = "5s"
"#
        )
    };
    let sim = Sim::run(&scenario("7.0"));
    let waits = |w: u16| -> Vec<(i64, u64)> {
        sim.history()
            .iter()
            .filter(|o| o.workload == w && o.op == OpCode::Wait && o.outcome == Outcome::Ok)
            .map(|o| (o.value as i64, (o.complete_ns - o.invoke_ns) / 1_000_000))
            .collect()
    };
    let (sim_healthy, sim_frozen, sim_del) = (waits(0), waits(1), waits(2));
    let fmt = |v: &[(i64, u64)]| {
        v.iter()
            .map(|(n, ms)| format!("{n} in {ms} ms"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    report.compare(
        "healthy replica: WAIT 1 500",
        format!("{healthy_n} in {healthy_ms} ms"),
        fmt(&sim_healthy),
        "reply equal, under 100 ms",
        healthy_n == 1 && healthy_ms < 100 && sim_healthy.iter().all(|&(n, ms)| n == 1 && ms < 100),
    );
    // Redis answers a timed-out WAIT from beforeSleep, after the event loop wakes: its next
    // serverCron tick (hz 10) at the latest.
    report.compare(
        "frozen replica: WAIT 1 200",
        fmt(&frozen),
        fmt(&sim_frozen),
        "reply equal; real 0-100 ms later (hz 10)",
        frozen
            .iter()
            .all(|&(n, ms)| n == 0 && (200..=310).contains(&ms))
            && !sim_frozen.is_empty()
            && sim_frozen
                .iter()
                .all(|&(n, ms)| n == 0 && (200..=210).contains(&ms)),
    );
    let sim72 = Sim::run(&scenario("7.2"));
    let sim72_del: Vec<(i64, u64)> = sim72
        .history()
        .iter()
        .filter(|o| o.workload == 2 && o.op == OpCode::Wait && o.outcome == Outcome::Ok)
        .map(|o| (o.value as i64, (o.complete_ns - o.invoke_ns) / 1_000_000))
        .collect();
    report.compare(
        "WAIT 1 200 after a DEL that deleted nothing (7.0 profile)",
        format!("{after_del} in {after_del_ms} ms"),
        fmt(&sim_del),
        "reply equal",
        after_del == 0 && !sim_del.is_empty() && sim_del.iter().all(|&(n, _)| n == 0),
    );
    report.compare(
        "the same, 7.2 profile (7.2 moves the WAIT offset only on a propagated write)",
        "(7.0.15 only here)",
        fmt(&sim72_del),
        "7.2: answers 1 at once",
        !sim72_del.is_empty() && sim72_del.iter().all(|&(n, ms)| n == 1 && ms < 10),
    );
    report.finish();
}
