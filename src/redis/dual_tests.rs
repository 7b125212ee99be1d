//! Dual-channel full syncs (Valkey 8.1) on the two-node harness: the sequence on both sides and
//! each way it fails. Valkey's tests/integration/dual-channel-replication.tcl is noted where a
//! test reproduces one of its cases.
#![cfg(test)]

use super::config::Config;
use super::pair::{self, in_sync, ms, secs, Pair};
use super::state::{Link, RdbChannel};

/// A Valkey 8.1 node with dual-channel replication on.
const VALKEY: &[(&str, &str)] = &[
    ("redis-version", "valkey-8.1"),
    ("dual-channel-replication-enabled", "yes"),
    ("repl-diskless-sync-delay", "0"),
];

/// A Valkey 8.1 node with dual-channel replication on, and `pairs`.
fn valkey(pairs: &[(&str, &str)]) -> Config {
    pair::config(VALKEY, pairs)
}

/// [`pair::slow_load`] under this profile.
fn slow_load(master: &[(&str, &str)], replica: &[(&str, &str)]) -> Pair {
    pair::slow_load(VALKEY, master, replica)
}

#[test]
fn the_rdb_goes_over_a_second_channel_while_the_stream_is_buffered_and_then_applied() {
    let mut t = slow_load(&[], &[]);
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    // The main channel was accepted at the snapshot's offset and is streamed at once.
    assert!(
        t.info(0, "slave0").contains("state=bg_transfer")
            && t.info(0, "slave0").contains("type=main-channel"),
        "{}",
        t.info(0, "slave0")
    );
    assert_eq!(t.info(1, "master_sync_in_progress"), "1");
    t.set_keys(0, 300, &"w".repeat(100));
    t.run_for(ms(50));
    let held = t.info_u64(1, "replicas_repl_buffer_size");
    assert!(held >= 300 * 100, "the replica holds the writes: {held}");
    assert_eq!(held % (16 * 1024), 0, "counted in whole 16 KB blocks");
    assert!(!in_sync(&t));
    // The master is done with the RDB channel while the replica still loads what it sent.
    t.run_until_cond(secs(30), |t| {
        t.logged(0, "rdb channel disconnected.") || !t.nodes[1].is_loading()
    });
    assert!(t.nodes[1].is_loading(), "{}", t.dump_logs());
    t.wait_for_sync(1);
    t.run_for(ms(100));
    assert!(in_sync(&t), "{}", t.dump_logs());
    assert_eq!(t.nodes[1].dbsize(), 20_300);
    assert_eq!(t.info_u64(1, "replicas_repl_buffer_size"), 0);
    assert_eq!(t.info_u64(1, "replicas_repl_buffer_peak"), held);
    // Online at the replica's ACK; the RDB channel is gone.
    assert!(
        t.info(0, "slave0").contains("state=online")
            && t.info(0, "slave0").contains("type=replica")
    );
    assert_eq!(t.info_u64(0, "connected_slaves"), 1);
    assert_eq!(t.info_u64(0, "replicas_waiting_psync"), 0);
    // One full sync (the RDB channel's SYNC), one partial (the main channel's PSYNC), and the
    // replica's first PSYNC with its own history refused.
    assert_eq!(t.info_u64(0, "sync_full"), 1);
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 1);
    assert_eq!(t.info_u64(0, "sync_partial_err"), 1);
    for line in [
        "Dual channel replication: Replica 10.0.0.2:6379 is capable of dual channel synchronization, and partial sync isn't possible. Full sync will continue with dedicated RDB channel.",
        "Starting BGSAVE for SYNC with target: replicas sockets using: dual-channel",
        "Dual channel replication: Sending to replica 10.0.0.2:6379 RDB end offset",
        "to direct socket to replica",
        "Partial resynchronization request from 10.0.0.2:6379 accepted.",
        "RDB transfer completed, rdb only replica (10.0.0.2:6379) should be disconnected asap",
        "Dual channel replication: Replica 10.0.0.2:6379 rdb channel disconnected.",
        "Synchronization with replica 10.0.0.2:6379 succeeded",
    ] {
        assert!(t.logged(0, line), "master: {line}\n{}", t.dump_logs());
    }
    assert!(!t.logged(0, "Diskless rdb transfer, done reading from pipe"));
    for line in [
        "Dual channel replication: PSYNC is not possible, initialize RDB channel.",
        "Dual channel replication: Trying a partial resynchronization using main channel (request ",
        "Dual channel replication: PRIMARY <-> REPLICA sync: Primary accepted a Partial Resynchronization, RDB load in background.",
        "Dual channel replication: Successfully streamed replication data into memory",
        "MASTER <-> REPLICA sync: Finished with success",
    ] {
        assert!(t.logged(1, line), "replica: {line}\n{}", t.dump_logs());
    }
    // The stream keeps flowing after the sync.
    t.cmd(0, &["SET", "after", "1"]);
    t.run_for(ms(10));
    assert!(in_sync(&t));
}

/// The main channel continues from exactly the offset `$ENDOFF` named.
#[test]
fn the_main_channel_asks_for_the_byte_after_the_end_offset() {
    let mut t = slow_load(&[], &[]);
    let offset = t.nodes[0].master_repl_offset();
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    let replid = t.nodes[0].replid().to_string();
    assert!(
        t.logged(0, &format!("RDB end offset {offset} and client-id ")),
        "{}",
        t.dump_logs()
    );
    assert!(t.logged(
        1,
        &format!("using main channel (request {replid}:{})", offset + 1)
    ));
    assert!(t.logged(
        0,
        &format!(
            "Sending 0 bytes of backlog starting from offset {}.",
            offset + 1
        )
    ));
}

/// dual-channel-replication.tcl, "Test replica's buffer limit reached": reading stops at the
/// replica's own limit, the master holds the rest, and the sync still completes.
#[test]
fn at_the_replica_buffer_limit_reading_stops_and_the_master_holds_the_rest() {
    let mut t = slow_load(
        &[("client-output-buffer-limit", "replica 0 0 0")],
        &[("client-output-buffer-limit", "replica 64kb 0 0")],
    );
    t.sock_buf = 16 * 1024;
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    t.set_keys(0, 2000, &"w".repeat(100));
    t.run_for(ms(100));
    assert!(
        t.logged(
            1,
            "Dual channel replication: Replication buffer limit reached, stopping buffering."
        ),
        "{}",
        t.dump_logs()
    );
    let held = t.info_u64(1, "replicas_repl_buffer_size");
    assert!(
        held > 64 * 1024 && held <= 64 * 1024 + 2 * 16 * 1024,
        "held {held}"
    );
    // What the replica does not read waits in the master's output buffer for it.
    let obuf: u64 = t.nodes[0]
        .conns
        .values()
        .filter_map(|c| c.replica())
        .map(|r| t.nodes[0].replica_obuf_bytes(r))
        .sum();
    assert!(obuf > 100_000, "the master holds {obuf}");
    t.wait_for_sync(1);
    t.run_for(ms(200));
    assert!(in_sync(&t), "{}", t.dump_logs());
    assert_eq!(t.nodes[1].dbsize(), 22_000);
}

/// When the master's own limit for the main channel is hit while the replica has stopped
/// reading, the master drops the main channel and the replica starts over.
#[test]
fn a_main_channel_over_the_master_limit_is_dropped_and_the_sync_starts_over() {
    let mut t = slow_load(
        &[
            ("client-output-buffer-limit", "replica 128kb 0 0"),
            ("repl-backlog-size", "16kb"),
        ],
        &[("client-output-buffer-limit", "replica 32kb 0 0")],
    );
    t.sock_buf = 16 * 1024;
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    t.set_keys(0, 4000, &"w".repeat(100));
    t.run_for(ms(100));
    assert!(
        t.logged(0, "for overcoming of output buffer limits."),
        "{}",
        t.dump_logs()
    );
    assert!(t.logged(0, "Connection with replica 10.0.0.2:6379 lost."));
    t.run_for(secs(10));
    assert!(t.logged(
        1,
        "Dual channel replication: Provisional primary closed connection"
    ));
    assert!(t.logged(1, "Dual channel replication: Aborting dual channel sync"));
    assert_eq!(t.info_u64(1, "replicas_repl_buffer_size"), 0);
    // Without more writes the next sync completes.
    t.wait_for_sync(1);
    t.run_for(ms(200));
    assert!(in_sync(&t), "{}", t.dump_logs());
    assert!(t.info_u64(0, "sync_full") >= 2);
}

/// The RDB channel lost mid-transfer aborts the sync, closes the main channel too, and the
/// replica tries again at once.
#[test]
fn losing_the_rdb_channel_mid_transfer_aborts_and_retries() {
    let mut t = slow_load(&[("replsim-rdb-save-rate", "1mb")], &[]);
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| {
        matches!(t.nodes[1].link(), Some(Link::Dual(d)) if matches!(&d.rdb, RdbChannel::Transfer(_)))
            && t.nodes[1].info(t.now, &[]).contains("master_sync_in_progress:1")
    });
    let rdb = t.nodes[1].link().and_then(Link::rdb_conn).unwrap();
    t.kill_conn(1, rdb);
    assert!(
        t.logged(1, "I/O error trying to sync with MASTER: connection lost"),
        "{}",
        t.dump_logs()
    );
    assert!(t.logged(1, "Dual channel replication: Aborting dual channel sync"));
    assert!(t.logged(1, "Reconnecting to MASTER 10.0.0.1:6379 after failure"));
    t.wait_for_sync(1);
    t.run_for(ms(200));
    assert!(in_sync(&t), "{}", t.dump_logs());
}

/// A master that refuses the RDB channel's REPLCONF (an older or Redis master) ends the attempt;
/// a master without dual channel, or with disk sync, answers `+FULLRESYNC` and the classic sync
/// runs on one connection.
#[test]
fn without_dual_channel_on_the_master_the_classic_sync_runs() {
    for master in [
        vec![("dual-channel-replication-enabled", "no")],
        vec![("repl-diskless-sync", "no")],
    ] {
        let mut t = slow_load(&master, &[]);
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        assert!(in_sync(&t));
        assert!(
            !t.logged(1, "Dual channel replication"),
            "{}",
            t.dump_logs()
        );
        assert!(t.logged(1, "Full resync from master: "));
        assert_eq!(t.info_u64(0, "sync_partial_ok"), 0);
    }
}

/// A Redis 7.2 replica (no `capa dual-channel`) of a dual-channel Valkey master syncs the
/// classic way, and a Valkey replica sends `REPLCONF version` in its handshake.
#[test]
fn a_replica_that_does_not_offer_dual_channel_gets_a_classic_sync() {
    let mut t = Pair::new(2, |i| {
        if i == 0 {
            valkey(&[])
        } else {
            Config::default()
        }
    });
    t.set_keys(0, 10, "v");
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    assert!(in_sync(&t));
    assert!(t.logged(
        0,
        "Starting BGSAVE for SYNC with target: replicas sockets using: normal sync"
    ));
    assert!(t.logged(0, "to pipe through parent process"));
    assert!(t.info(0, "slave0").contains("type=replica"));
}
