//! Redis 8.0's rdb-channel full syncs on the two-node harness: the handshake's bytes, the
//! transfer under writes, the replica's buffer limit, and either channel lost. Redis's
//! tests/integration/replication-rdbchannel.tcl is noted where a test reproduces one of its
//! cases.
#![cfg(test)]

use super::config::Config;
use super::node::{Action, ConnId};
use super::pair::{self, in_sync, ms, secs, Pair, Scripted, Stage, SCRIPTED_REPLID};
use super::state::{Link, RdbChannel};

/// A Redis 8.0 node with the rdb channel on.
const REDIS_8_0: &[(&str, &str)] = &[
    ("redis-version", "8.0"),
    ("repl-rdb-channel", "yes"),
    ("repl-diskless-sync-delay", "0"),
];

/// A Redis 8.0 node with the rdb channel on, and `pairs`.
fn redis_8_0(pairs: &[(&str, &str)]) -> Config {
    pair::config(REDIS_8_0, pairs)
}

/// [`pair::slow_load`] under this profile.
fn slow_load(master: &[(&str, &str)], replica: &[(&str, &str)]) -> Pair {
    pair::slow_load(REDIS_8_0, master, replica)
}

#[test]
fn the_replica_offers_the_rdb_channel_and_its_rdb_connection_pairs_with_the_main_one() {
    let mut s = Scripted::new(redis_8_0(&[]));
    s.feed(b"+PONG\r\n");
    assert!(
        s.sent_text().contains(
            "*7\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n\
             $4\r\ncapa\r\n$16\r\nrdb-channel-repl\r\n"
        ),
        "{:?}",
        s.sent_text()
    );
    // No `REPLCONF version`: that is Valkey's.
    assert!(!s.sent_text().contains("version"));
    s.feed(b"+OK\r\n+OK\r\n");
    assert!(s
        .sent_text()
        .ends_with("$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n"));
    let main = s.conn;
    s.feed(b"+RDBCHANNELSYNC 7\r\n");
    assert!(s.logged("PSYNC is not possible, initialize RDB channel. Main channel client id: 7"));
    let rdb = s.last_connect().expect("the RDB channel is opened");
    assert_ne!(rdb, main);
    // The RDB channel: no PING; its REPLCONF names the main channel, then `PSYNC ? -1`.
    s.conn = rdb;
    s.sent.clear();
    s.node.handle_connected(s.now, rdb);
    s.feed(b"");
    assert_eq!(
        s.sent_text(),
        "*11\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n$8\r\nrdb-only\r\n$1\r\n1\r\n\
         $11\r\nrdb-channel\r\n$1\r\n1\r\n$17\r\nmain-ch-client-id\r\n$1\r\n7\r\n\
         $14\r\nlistening-port\r\n$4\r\n6379\r\n"
    );
    s.sent.clear();
    s.feed(b"+OK\r\n");
    assert_eq!(
        s.sent_text(),
        "*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n"
    );
    s.feed(format!("+FULLRESYNC {SCRIPTED_REPLID} 42\r\n").as_bytes());
    assert!(s.logged(&format!("Full resync from master: {SCRIPTED_REPLID}:42")));
    assert!(matches!(
        s.node.link(),
        Some(Link::Dual(d)) if matches!(&d.rdb, RdbChannel::Transfer(t) if t.initial_offset == 42)
    ));
    // The main channel sent nothing after PSYNC.
    assert!(!s.actions.iter().any(|a| matches!(a, Action::Close { .. })));
}

#[test]
fn a_rdbchannelsync_without_a_client_id_drops_the_link() {
    let mut s = Scripted::at(Stage::Psync, redis_8_0(&[]));
    let main = s.conn;
    s.feed(b"+RDBCHANNELSYNC\r\n");
    assert!(s.logged("Master replied with wrong +RDBCHANNELSYNC syntax: +RDBCHANNELSYNC"));
    assert!(s.closed(main));
    assert!(s.last_connect().is_none());
}

/// replication-rdbchannel.tcl, "Test replica state should start with wait_bgsave", "...
/// advances to send_bulk_and_stream ...", "... advances to online ...": one logical replica
/// on the master throughout, the stream buffered on the replica, offsets and data equal after.
#[test]
fn the_rdb_goes_over_a_second_channel_while_the_master_streams_on_the_first() {
    let mut t = slow_load(&[], &[]);
    let fork_offset = t.nodes[0].master_repl_offset();
    t.replicaof(1, 0);
    // While the RDB is sent: two connections, one replica in INFO, streamed already.
    let channels = |t: &Pair| {
        t.nodes[0]
            .conns
            .values()
            .filter(|c| c.replica().is_some())
            .count()
    };
    t.run_until_cond(secs(30), |t| channels(t) == 2);
    assert!(
        t.info(0, "slave0").contains("state=send_bulk_and_stream"),
        "{}",
        t.info(0, "slave0")
    );
    assert!(!t.info(0, "slave0").contains("type="));
    assert_eq!(t.info_u64(0, "connected_slaves"), 1);
    assert!(!t.nodes[0].info(t.now, &[]).contains("slave1:"));
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    t.set_keys(0, 300, &"w".repeat(100));
    t.run_for(ms(50));
    let held = t.info_u64(1, "replica_full_sync_buffer_size");
    assert!(held >= 300 * 100, "the replica holds the writes: {held}");
    assert!(!in_sync(&t));
    t.wait_for_sync(1);
    t.run_for(ms(100));
    assert!(in_sync(&t), "{}", t.dump_logs());
    assert_eq!(t.nodes[1].dbsize(), 20_300);
    assert_eq!(t.info_u64(1, "replica_full_sync_buffer_size"), 0);
    assert_eq!(t.info_u64(1, "replica_full_sync_buffer_peak"), held);
    assert!(t.info(0, "slave0").contains("state=online"));
    assert_eq!(t.info_u64(0, "connected_slaves"), 1);
    // One full sync, the RDB channel's; no partial one.
    assert_eq!(t.info_u64(0, "sync_full"), 1);
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 0);
    for line in [
        "Replica 10.0.0.2:6379 is capable of rdb channel synchronization, and partial sync isn't possible.",
        "Starting BGSAVE for SYNC with target: replicas sockets (rdb-channel)",
        "Synchronization with replica 10.0.0.2:6379 succeeded",
    ] {
        assert!(t.logged(0, line), "master: {line}\n{}", t.dump_logs());
    }
    assert!(!t.logged(0, "Dual channel"));
    assert!(!t.logged(0, "$ENDOFF"));
    assert!(!t.logged(0, "Diskless rdb transfer, done reading from pipe"));
    for line in [
        &format!(
            "Full resync from master: {}:{fork_offset}",
            t.nodes[0].replid()
        ),
        "Starting to stream replication buffer into the db",
        "Successfully streamed replication buffer into the db",
        "MASTER <-> REPLICA sync: Finished with success",
    ] {
        assert!(t.logged(1, line), "replica: {line}\n{}", t.dump_logs());
    }
    assert!(!t.logged(1, "Dual channel"));
    t.cmd(0, &["SET", "after", "1"]);
    t.run_for(ms(10));
    assert!(in_sync(&t));
}

/// `main-ch-client-id` names only a main channel still waiting for its RDB channel: once the
/// fork streams it, its id is refused, as the tcl test checks after killing a connection.
#[test]
fn main_ch_client_id_names_only_a_main_channel_waiting_for_its_rdb_channel() {
    let mut t = slow_load(&[], &[]);
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    let main_cid = t.nodes[0]
        .conns
        .values()
        .find(|c| c.replica().is_some_and(|r| !r.rdb_channel))
        .map(|c| c.client_id)
        .expect("the main channel is a replica");
    for cid in [main_cid.to_string(), "12345".to_string()] {
        let reply = t.nodes[0].replconf_command(
            t.now,
            ConnId(u64::MAX),
            &[b"REPLCONF".as_slice(), b"main-ch-client-id", cid.as_bytes()],
        );
        let mut out = Vec::new();
        reply.expect("an error reply").encode(&mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!("-ERR Unrecognized RDB client id: {cid}\r\n")
        );
    }
}

/// replication-rdbchannel.tcl, "Test replication stream buffer becomes full on replica": at
/// the limit the replica stops reading, the master holds the rest, and the sync completes.
#[test]
fn at_the_replica_buffer_limit_reading_stops_and_the_master_holds_the_rest() {
    let mut t = slow_load(
        &[("client-output-buffer-limit", "replica 0 0 0")],
        &[("client-output-buffer-limit", "replica 64kb 64kb 0")],
    );
    t.sock_buf = 16 * 1024;
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    t.set_keys(0, 2000, &"w".repeat(100));
    t.run_for(ms(100));
    assert!(
        t.logged(1, "Replication buffer limit has been reached (65536 bytes)"),
        "{}",
        t.dump_logs()
    );
    let held = t.info_u64(1, "replica_full_sync_buffer_size");
    assert!(
        held > 64 * 1024 && held <= 64 * 1024 + 2 * 16 * 1024,
        "held {held}"
    );
    // What the replica does not read waits in the master's output buffer for the main channel.
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
    assert_eq!(t.info_u64(0, "sync_full"), 1);
}

/// replication-rdbchannel.tcl, "Test replication stream buffer config
/// replica-full-sync-buffer-limit": the directive overrides the replica hard limit.
#[test]
fn replica_full_sync_buffer_limit_overrides_the_hard_limit() {
    let mut t = slow_load(
        &[("client-output-buffer-limit", "replica 0 0 0")],
        &[
            ("client-output-buffer-limit", "replica 1024 1024 0"),
            ("replica-full-sync-buffer-limit", "20mb"),
        ],
    );
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    t.set_keys(0, 300, &"w".repeat(100));
    t.run_for(ms(100));
    assert!(t.info_u64(1, "replica_full_sync_buffer_size") > 1024);
    assert!(!t.logged(1, "Replication buffer limit has been reached"));
    t.wait_for_sync(1);
    t.run_for(ms(100));
    assert!(in_sync(&t), "{}", t.dump_logs());
}

/// replication-rdbchannel.tcl, "Test replica recovers when rdb channel connection is killed".
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
    assert!(t.logged(1, "Aborting rdb channel sync"));
    t.wait_for_sync(1);
    t.run_for(ms(200));
    assert!(in_sync(&t), "{}", t.dump_logs());
    assert!(t.info_u64(0, "sync_full") >= 2);
}

/// replication-rdbchannel.tcl, "Test replica recovers when main channel connection is killed".
#[test]
fn losing_the_main_channel_mid_transfer_aborts_and_retries() {
    let mut t = slow_load(&[], &[]);
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    let main = match t.nodes[1].link() {
        Some(Link::Dual(d)) => d.main,
        other => panic!("{other:?}"),
    };
    t.kill_conn(1, main);
    assert!(
        t.logged(1, "Aborting rdb channel sync"),
        "{}",
        t.dump_logs()
    );
    assert_eq!(t.info_u64(1, "replica_full_sync_buffer_size"), 0);
    t.wait_for_sync(1);
    t.run_for(ms(200));
    assert!(in_sync(&t), "{}", t.dump_logs());
    assert!(t.info_u64(0, "sync_full") >= 2);
}

/// replication-rdbchannel.tcl, "Test rdbchannel is not used if repl-diskless-sync config is
/// disabled on master", and a master without the directive: the classic sync on one
/// connection.
#[test]
fn without_the_rdb_channel_on_the_master_the_classic_sync_runs() {
    for master in [
        vec![("repl-rdb-channel", "no")],
        vec![("repl-diskless-sync", "no")],
    ] {
        let mut t = slow_load(&master, &[]);
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        assert!(in_sync(&t));
        assert!(!t.logged(1, "RDB channel"), "{}", t.dump_logs());
        assert!(!t.logged(0, "(rdb-channel)"));
        assert_eq!(t.info_u64(0, "sync_full"), 1);
    }
}

/// replication-rdbchannel.tcl, "Test replica state should start with wait_bgsave": between
/// `+RDBCHANNELSYNC` and its RDB channel's fork, the main channel is a replica in
/// `wait_bgsave`, and the one INFO shows.
#[test]
fn the_main_channel_waits_as_wait_bgsave_until_its_rdb_channel_forks() {
    let mut t = slow_load(&[], &[]);
    t.latency = ms(50);
    t.replicaof(1, 0);
    t.run_until_cond(secs(5), |t| {
        t.logged(0, "is capable of rdb channel synchronization")
    });
    assert!(
        t.info(0, "slave0")
            .starts_with("ip=10.0.0.2,port=6379,state=wait_bgsave"),
        "{}",
        t.info(0, "slave0")
    );
    assert_eq!(t.info_u64(0, "connected_slaves"), 1);
    assert!(!t.logged(0, "Starting BGSAVE"));
    t.run_until_cond(secs(5), |t| t.logged(0, "Starting BGSAVE"));
    t.run_for(ms(1));
    assert!(
        t.info(0, "slave0").contains("state=send_bulk_and_stream"),
        "{}",
        t.info(0, "slave0")
    );
    t.wait_for_sync(1);
    t.run_for(ms(500));
    assert!(in_sync(&t), "{}", t.dump_logs());
}
