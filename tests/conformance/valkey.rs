//! Valkey 8.1's dual-channel full sync against a real `valkey-server`: a real master with a
//! replsim replica, and a replsim master with a real replica, both with
//! `dual-channel-replication-enabled yes`. Each case wants the second channel used (the
//! master's and the replica's log lines), the main channel's PSYNC at the end offset the RDB
//! channel was given, and then offsets and datasets equal.

use super::support::*;

/// The live node's settings for Valkey 8.1 with dual channel on.
const VALKEY_DUAL: &[(&str, &str)] = &[
    ("redis-version", "valkey-8.1"),
    ("dual-channel-replication-enabled", "yes"),
];

fn fill(c: &mut Client, prefix: &str, n: usize) {
    for i in 0..n {
        let r = c.cmd(&["SET", &format!("{prefix}{i}"), &format!("value-{i}")]);
        assert_eq!(r, Reply::Simple("OK".into()));
    }
}

/// The `RDB end offset N` a master logged for the replica on `port`.
fn end_offset(log: &str, port: u16) -> u64 {
    let needle = format!("Sending to replica 127.0.0.1:{port} RDB end offset ");
    let line = log
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("no end offset sent to {port} in:\n{log}"));
    let rest = &line[line.find(&needle).unwrap() + needle.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// A real Valkey master whose RDB takes a while to produce (`rdb-key-save-delay`), so that
/// writes made during the transfer reach the replsim replica's local buffer first.
#[test]
fn a_real_valkey_master_syncs_a_replsim_replica_over_two_channels() {
    if !have_valkey() {
        return;
    }
    let m = Redis::start_valkey(&[
        "--dual-channel-replication-enabled",
        "yes",
        "--rdb-key-save-delay",
        "2000",
    ]);
    let mut c = m.client();
    fill(&mut c, "before:", 500);
    let l = Live::replica_of(m.port, VALKEY_DUAL);
    wait_until("the RDB channel to get its end offset", || {
        m.log().contains("RDB end offset")
    });
    // About a second of RDB left: these arrive on the main channel meanwhile.
    fill(&mut c, "during:", 200);
    wait_until("the replsim replica's link to come up", || l.link_up());
    fill(&mut c, "after:", 50);
    let want = c.offset();
    wait_until("the replica to reach the master's offset", || {
        l.offset() == want
    });
    assert_eq!(real_dataset(&mut c), l.dataset());
    assert_eq!(l.dataset().len(), 750);

    let log = m.log();
    let port = l.port();
    for line in [
        format!("Dual channel replication: Replica 127.0.0.1:{port} is capable of dual channel synchronization"),
        "Starting BGSAVE for SYNC with target: replicas sockets using: dual-channel".to_string(),
        format!("Synchronization with replica 127.0.0.1:{port} succeeded"),
    ] {
        assert!(log.contains(&line), "master log lacks {line:?}:\n{log}");
    }
    let end = end_offset(&log, port);
    let replid = c.field("replication", "master_replid");
    assert!(
        l.has_log(&format!(
            "Trying a partial resynchronization using main channel (request {replid}:{})",
            end + 1
        )),
        "{:?}",
        l.messages()
    );
    assert!(l.has_log(
        "Dual channel replication: PRIMARY <-> REPLICA sync: Primary accepted a Partial Resynchronization, RDB load in background."
    ));
    assert!(
        l.has_log("Dual channel replication: Successfully streamed replication data into memory")
    );
    // The writes made during the transfer waited in the replica's own buffer.
    let mut lc = l.client();
    assert!(
        lc.field("replication", "replicas_repl_buffer_peak")
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(lc.field("replication", "replicas_repl_buffer_size"), "0");
    // The master counted one full sync (the RDB channel) and one partial (the main channel).
    assert_eq!(c.field("stats", "sync_full"), "1");
    assert_eq!(c.field("stats", "sync_partial_ok"), "1");
    assert!(c
        .field("replication", "slave0")
        .contains(&format!("port={port},state=online")));
}

/// A replsim master serving a real Valkey replica with dual channel on.
#[test]
fn a_replsim_master_syncs_a_real_valkey_replica_over_two_channels() {
    if !have_valkey() {
        return;
    }
    let l = Live::master(VALKEY_DUAL);
    let mut lc = l.client();
    fill(&mut lc, "before:", 300);
    let r = Redis::start_valkey(&["--dual-channel-replication-enabled", "yes"]);
    let mut rc = r.client();
    assert_eq!(
        rc.cmd(&["REPLICAOF", "127.0.0.1", &l.port().to_string()]),
        Reply::Simple("OK".into())
    );
    wait_until("the real replica's link to come up", || {
        rc.field("replication", "master_link_status") == "up"
    });
    fill(&mut lc, "after:", 100);
    let want = l.offset();
    wait_until("the real replica to reach the master's offset", || {
        rc.offset() == want
    });
    assert_eq!(real_dataset(&mut rc), l.dataset());
    assert_eq!(l.dataset().len(), 400);

    let log = r.log();
    let end = end_offset(&l.logs().join("\n"), r.port);
    let replid = lc.field("replication", "master_replid");
    for line in [
        "Dual channel replication: PSYNC is not possible, initialize RDB channel.".to_string(),
        format!(
            "Dual channel replication: Trying a partial resynchronization using main channel (request {replid}:{})",
            end + 1
        ),
        "Dual channel replication: PRIMARY <-> REPLICA sync: Primary accepted a Partial Resynchronization".to_string(),
        "Dual channel replication: Successfully streamed replication data into memory".to_string(),
        "PRIMARY <-> REPLICA sync: Finished with success".to_string(),
    ] {
        assert!(log.contains(&line), "replica log lacks {line:?}:\n{log}");
    }
    assert!(l.has_log(&format!(
        "Dual channel replication: Replica 127.0.0.1:{} rdb channel disconnected.",
        r.port
    )));
    assert!(lc
        .field("replication", "slave0")
        .contains(&format!("port={},state=online", r.port)));
    assert_eq!(lc.field("stats", "sync_full"), "1");
    assert_eq!(lc.field("stats", "sync_partial_ok"), "1");
}
