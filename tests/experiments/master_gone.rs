//! A replica whose master process is gone: what it logs and how often it retries.
//!
//! The master is killed (SIGKILL) on a host that stays up, so the kernel closes its sockets and
//! refuses connections to its port. The scenario's nearest fault is `crash`, a host that goes
//! silent; docs/conformance.md lists the difference.

use std::time::Duration;

use super::harness::*;

#[test]
fn a_replica_of_a_killed_master_retries_once_a_second() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("master process killed (SIGKILL), repl-timeout 3, 6 s");
    let m = Redis::start(&[]);
    let r = Redis::start(&[
        "--replicaof",
        "127.0.0.1",
        &m.port.to_string(),
        "--repl-timeout",
        "3",
    ]);
    let mut rc = r.client();
    wait_for("the replica online", Duration::from_secs(10), || {
        rc.field("replication", "master_link_status") == "up"
    });
    let t0 = now_ms();
    let pid_m = pid(&m);
    signal(pid_m, "KILL");
    sleep_ms(6000);
    let log = real_log(&r);
    let real_lost = first_after(&log, t0, "Connection with master lost");
    let real_refused = count_after(
        &log,
        t0,
        "Error condition on socket for SYNC: Connection refused",
    );
    let real_timeouts = count_after(&log, t0, "Timeout connecting to the MASTER");

    let sim = Sim::run(
        r#"
name = "master-crash"
duration = "9s"

[defaults]
repl-timeout = 3
repl-diskless-sync-delay = 0
redis-version = "7.0"

[[node]]
name = "master"

[[node]]
name = "replica"
replicaof = "master"

[[fault]]
at = "3s"
kind = "crash"
node = "master"
"#,
    );
    let slog = sim.log("replica");
    let sim_lost = first_after(&slog, 3000, "MASTER timeout: no data nor PING received");
    let sim_refused = count_after(&slog, 3000, "Connection refused");
    let sim_timeouts = count_after(&slog, 3000, "Timeout connecting to the MASTER");
    let secs = |x: Option<f64>| x.map_or("never".into(), |s| format!("{s:.1} s"));
    report.known(
        "the replica notices, after",
        format!(
            "{} (`Connection with master lost.`: the kernel closed the socket)",
            secs(real_lost)
        ),
        format!(
            "{} (`MASTER timeout: no data nor PING received...`: a crash is silent)",
            secs(sim_lost)
        ),
        // A crash is noticed repl-timeout + 1 s after the last byte from the master at most.
        real_lost.is_some_and(|s| s < 0.5) && sim_lost.is_some_and(|s| s <= 5.0),
    );
    report.known(
        "retries in 6 s",
        format!("{real_refused} refused connects (`Error condition on socket for SYNC: Connection refused`), one a second; {real_timeouts} handshake timeouts"),
        format!("{sim_refused} refused; {sim_timeouts} handshake timeouts (`Timeout connecting to the MASTER...`: the SYN to a silent host gets no answer)"),
        (5..=7).contains(&real_refused) && real_timeouts == 0 && sim_refused == 0 && sim_timeouts >= 1,
    );
    report.finish();
}
