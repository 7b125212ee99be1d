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
    let (m, r) = real_pair_online(&[], 3);
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

    let sim = Sim::run(&master_gone_at_3s("master-crash", "crash"));
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

/// Sends `SHUTDOWN NOSAVE` to the server on `port` and waits for it to close the connection
/// (it exits without replying).
fn shutdown_nosave(port: u16) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect for SHUTDOWN");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    s.write_all(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
        .expect("send SHUTDOWN");
    let mut rest = Vec::new();
    // The server closes the connection as it exits; an error is a reset, which also means gone.
    let _ = s.read_to_end(&mut rest);
}

#[test]
fn a_replica_of_a_shut_down_master_notices_at_once_and_is_refused_once_a_second() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("master SHUTDOWN NOSAVE, repl-timeout 3, 6 s");
    let (m, r) = real_pair_online(&[], 3);
    let t0 = now_ms();
    shutdown_nosave(m.port);
    sleep_ms(6000);
    let log = real_log(&r);
    let real_lost = first_after(&log, t0, "Connection with master lost");
    let real_first_refused = first_after(
        &log,
        t0,
        "Error condition on socket for SYNC: Connection refused",
    );
    let real_refused = count_after(
        &log,
        t0,
        "Error condition on socket for SYNC: Connection refused",
    );
    let real_timeouts = count_after(&log, t0, "Timeout connecting to the MASTER");

    let sim = Sim::run(&master_gone_at_3s("master-shutdown", "shutdown"));
    let slog = sim.log("replica");
    let sim_lost = first_after(&slog, 3000, "Connection with master lost");
    let sim_first_refused = first_after(
        &slog,
        3000,
        "Error condition on socket for SYNC: Connection refused",
    );
    let sim_refused = count_after(
        &slog,
        3000,
        "Error condition on socket for SYNC: Connection refused",
    );
    let sim_timeouts = count_after(&slog, 3000, "Timeout connecting to the MASTER");
    let secs = |x: Option<f64>| x.map_or("never".into(), |s| format!("{s:.3} s"));
    report.compare(
        "the replica logs `Connection with master lost.`, after",
        secs(real_lost),
        secs(sim_lost),
        "both under 50 ms",
        real_lost.is_some_and(|s| s < 0.05) && sim_lost.is_some_and(|s| s < 0.05),
    );
    report.compare(
        "first `Connection refused`, after",
        secs(real_first_refused),
        secs(sim_first_refused),
        "both under 50 ms (reconnect at once)",
        real_first_refused.is_some_and(|s| s < 0.05) && sim_first_refused.is_some_and(|s| s < 0.05),
    );
    report.compare(
        "refused connects in 6 s; handshake timeouts",
        format!("{real_refused}; {real_timeouts}"),
        format!("{sim_refused}; {sim_timeouts}"),
        "refused ±1 (one a second, cron phase); no timeouts",
        real_refused.abs_diff(sim_refused) <= 1 && real_timeouts == 0 && sim_timeouts == 0,
    );
    report.finish();
}

/// A master and its replica (repl-timeout 3, the 7.0 profile) for 9 s, the master gone at 3 s
/// by the fault `kind`: the simulated side of both experiments above.
fn master_gone_at_3s(name: &str, kind: &str) -> String {
    format!(
        "name = \"{name}\"\nduration = \"9s\"\n\n[defaults]\nrepl-timeout = 3\n\
         repl-diskless-sync-delay = 0\nredis-version = \"7.0\"\n\n[[node]]\nname = \"master\"\n\n\
         [[node]]\nname = \"replica\"\nreplicaof = \"master\"\n\n[[fault]]\nat = \"3s\"\n\
         kind = \"{kind}\"\nnode = \"master\"\n"
    )
}
