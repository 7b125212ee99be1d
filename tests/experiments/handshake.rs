//! The handshake loops of a replica that cannot authenticate, and a replica whose master
//! process is gone.

use std::time::Duration;

use super::harness::*;

/// Attempts a replica makes in `window_ms` against a master with `requirepass pw`, with
/// `masterauth` as given: each attempt's closing log line counted, and the seconds between the
/// first and the last.
fn real_auth(masterauth: Option<&str>, closing: &str, window_ms: u64) -> (usize, f64) {
    let m = Redis::start(&["--requirepass", "pw"]);
    let mut args = vec!["--replicaof", "127.0.0.1"];
    let port = m.port.to_string();
    args.push(&port);
    if let Some(a) = masterauth {
        args.extend(["--masterauth", a]);
    }
    let r = Redis::start(&args);
    wait_for("a first attempt", Duration::from_secs(5), || {
        r.log().contains(closing)
    });
    let t0 = now_ms();
    sleep_ms(window_ms);
    let t1 = now_ms();
    let log = real_log(&r);
    let at: Vec<u64> = log
        .iter()
        .filter(|l| l.at_ms >= t0 && l.at_ms < t1 && l.msg.contains(closing))
        .map(|l| l.at_ms)
        .collect();
    let span = match (at.first(), at.last()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1000.0,
        _ => 0.0,
    };
    (at.len(), span)
}

fn sim_auth(masterauth: Option<&str>, closing: &str, window_ms: u64) -> (usize, f64) {
    let auth = masterauth.map_or(String::new(), |a| format!("masterauth = \"{a}\""));
    let toml = format!(
        r#"
name = "auth-loop"
duration = "{}ms"

[defaults]
redis-version = "7.0"

[[node]]
name = "master"
[node.config]
requirepass = "pw"

[[node]]
name = "replica"
replicaof = "master"
[node.config]
{auth}
"#,
        3000 + window_ms
    );
    let s = Sim::run(&toml);
    let at: Vec<u64> = s
        .log("replica")
        .iter()
        .filter(|l| l.at_ms >= 3000 && l.msg.contains(closing))
        .map(|l| l.at_ms)
        .collect();
    let span = match (at.first(), at.last()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1000.0,
        _ => 0.0,
    };
    (at.len(), span)
}

#[test]
fn a_replica_without_masterauth_retries_at_once_and_a_wrong_one_once_a_second() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("handshake loops against requirepass");
    let noauth = "MASTER aborted replication with an error: NOAUTH";
    let (rn, _) = real_auth(None, noauth, 1000);
    let (sn, _) = sim_auth(None, noauth, 1000);
    // The real loop's pace is the machine's: a connect, three round trips and a few log writes
    // per attempt. The simulated one's is the network model's (250 us each way). Both retry
    // without waiting for replicationCron: `cancelReplicationHandshake(1)` after the error.
    report.compare(
        "no masterauth: attempts in 1 s (`MASTER aborted replication with an error: NOAUTH …`, reconnect at once)",
        format!("{rn}"),
        format!("{sn}"),
        "both over 100 (no 1 s wait)",
        rn > 100 && sn > 100,
    );
    let wrong = "Unable to AUTH to MASTER: -WRONGPASS";
    let (rw, rspan) = real_auth(Some("wrong"), wrong, 5000);
    let (sw, sspan) = sim_auth(Some("wrong"), wrong, 5000);
    report.compare(
        "wrong masterauth: attempts in 5 s (`Unable to AUTH to MASTER: -WRONGPASS …`, next cron)",
        format!("{rw} over {rspan:.1} s"),
        format!("{sw} over {sspan:.1} s"),
        "±1",
        rw.abs_diff(sw) <= 1 && (4..=6).contains(&rw),
    );
    report.finish();
}
