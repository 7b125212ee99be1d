//! Node behaviour tests on the two-node harness: exact numbers (offsets, byte counts) and the
//! behaviours Redis's own test suite asserts. Each test is named after what it shows; the Redis
//! test it reproduces (tests/integration/*.tcl, tests/unit/*.tcl) is noted where there is one.
#![cfg(test)]

use std::collections::BTreeMap;

use super::blocked::Waiter;
use super::config::Config;
use super::keyspace::Bulk;
use super::log::Level;
use super::node::{ConnId, Transmit, SERVER_CRON_PERIOD};
use super::pair::{ip, ms, secs, Pair};
use super::resp::Reply;

fn ok() -> Reply {
    Reply::ok()
}

fn cfg(pairs: &[(&str, &str)]) -> Config {
    let mut c = Config::default();
    for (k, v) in pairs {
        c.set(k, v, false).unwrap();
    }
    c
}

/// Captures what a node writes to raw connections.
#[derive(Default)]
struct Capture(BTreeMap<ConnId, Vec<u8>>);

impl Transmit for Capture {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        self.0.entry(conn).or_default().extend_from_slice(bytes);
        bytes.len()
    }
    fn send_opaque(&mut self, conn: ConnId, len: u64) -> u64 {
        self.0
            .entry(conn)
            .or_default()
            .extend(std::iter::repeat_n(b'?', len as usize));
        len
    }
}

/// A raw client connection to node `i`, as a test speaking RESP itself.
fn raw_conn(t: &mut Pair, i: usize) -> ConnId {
    t.nodes[i].handle_accept(t.now, "10.9.9.9", 50000)
}

/// Sends `bytes` on a raw connection and returns what the node wrote back at once.
fn raw(t: &mut Pair, i: usize, conn: ConnId, bytes: &str) -> String {
    let now = t.now;
    t.nodes[i].handle_data(now, conn, bytes.as_bytes());
    let mut cap = Capture::default();
    t.nodes[i].poll_transmit(now, &mut cap);
    t.collect_logs(i);
    String::from_utf8_lossy(&cap.0.remove(&conn).unwrap_or_default()).to_string()
}

/// A master that has been up for a few seconds (so its first cron PING is behind it) and one
/// replica, synced. Ping period `ping_secs`.
fn synced(ping_secs: u64) -> Pair {
    let p = ping_secs.to_string();
    let mut t = Pair::new(2, |_| cfg(&[("repl-ping-replica-period", &p)]));
    t.run_for(ms(1500));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t
}

// ----- exact numbers (offsets and byte counts as Redis counts them) -----

#[test]
fn a_fresh_master_and_replica_count_offsets_50_77_91_and_psync_at_92() {
    let mut t = Pair::new(2, |_| cfg(&[("repl-ping-replica-period", "10")]));
    t.run_for(ms(1500));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    let replid = t.info(0, "master_replid");
    assert!(
        t.logged(1, &format!("Full resync from master: {replid}:0")),
        "{}",
        t.dump_logs()
    );
    assert_eq!(t.info_u64(0, "master_repl_offset"), 0);
    t.cmd(0, &["SET", "k", "v"]);
    assert_eq!(
        t.info_u64(0, "master_repl_offset"),
        50,
        "SELECT 0 (23) + SET k v (27)"
    );
    t.cmd(0, &["SET", "k", "v"]);
    assert_eq!(
        t.info_u64(0, "master_repl_offset"),
        77,
        "a second SET adds exactly 27"
    );
    // The next cron loop divisible by the period (loop 10) feeds `ping`: 14 bytes.
    t.run_until_cond(secs(15), |t| t.info_u64(0, "master_repl_offset") == 91);
    t.run_for(ms(50));
    assert_eq!(t.info_u64(1, "slave_repl_offset"), 91);
    assert_eq!(t.info_u64(1, "master_repl_offset"), 91);
    t.kill_link(0, 1);
    t.wait_for_sync(1);
    assert!(t.logged(
        1,
        &format!("Trying a partial resynchronization (request {replid}:92).")
    ));
    assert!(t.logged(
        0,
        "accepted. Sending 0 bytes of backlog starting from offset 92."
    ));
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 1);
}

#[test]
fn set_k_v_is_27_bytes_and_a_select_precedes_the_first_write_after_a_full_sync() {
    let mut t = synced(3600);
    let before = t.info_u64(0, "master_repl_offset");
    t.cmd(0, &["SET", "k", "v"]);
    assert_eq!(t.info_u64(0, "master_repl_offset") - before, 23 + 27);
    t.cmd(0, &["SET", "k", "v"]);
    assert_eq!(t.info_u64(0, "master_repl_offset") - before, 23 + 27 + 27);
    // A different database needs its own SELECT: `SELECT 10` is 24 bytes.
    let c = super::node::ClientId(77);
    t.cmd_as(0, c, &["SELECT", "10"]);
    t.cmd_as(0, c, &["SET", "k", "v"]);
    assert_eq!(
        t.info_u64(0, "master_repl_offset") - before,
        23 + 27 + 27 + 24 + 27
    );
    // A new full sync resets slaveseldb, so the next write carries SELECT again.
    t.nodes.push(super::node::Node::boot(
        t.now,
        super::node::NodeParams {
            name: "n2".into(),
            ip: ip(2),
            port: 6379,
            config: cfg(&[]),
            replicaof: None,
            seed: 3,
        },
        None,
    ));
}

#[test]
fn psync_is_accepted_at_backlog_start_and_at_offset_plus_one_and_refused_one_byte_outside() {
    let mut t = Pair::new(1, |_| {
        cfg(&[
            ("repl-backlog-size", "16kb"),
            ("repl-ping-replica-period", "3600"),
        ])
    });
    t.run_for(ms(1500));
    // Create the backlog with one full sync request from a raw client.
    let c = raw_conn(&mut t, 0);
    let r = raw(&mut t, 0, c, "PSYNC ? -1\r\n");
    // Without `REPLCONF capa eof` a diskless sync is impossible: a disk BGSAVE starts at once.
    assert!(r.starts_with("+FULLRESYNC"), "{r:?}");
    for i in 0..2000 {
        t.cmd(
            0,
            &["SET", &format!("key:{i}"), "some-value-of-moderate-length"],
        );
    }
    t.nodes[0].handle_reset(t.now, c);
    let replid = t.info(0, "master_replid");
    let start = t.info_u64(0, "repl_backlog_first_byte_offset");
    let end = t.info_u64(0, "master_repl_offset");
    assert!(start > 1, "the backlog was trimmed");
    let psync = |t: &mut Pair, off: u64| {
        let c = raw_conn(t, 0);
        let r = raw(t, 0, c, &format!("PSYNC {replid} {off}\r\n"));
        t.nodes[0].handle_reset(t.now, c);
        r
    };
    assert!(
        psync(&mut t, start).starts_with("+CONTINUE"),
        "exactly the backlog start"
    );
    assert!(
        psync(&mut t, end + 1).starts_with("+CONTINUE"),
        "exactly master_repl_offset+1"
    );
    assert!(t.logged(
        0,
        &format!(
            "Sending 0 bytes of backlog starting from offset {}.",
            end + 1
        )
    ));
    assert!(
        !psync(&mut t, start - 1).starts_with("+CONTINUE"),
        "one byte before the backlog"
    );
    assert!(
        !psync(&mut t, end + 2).starts_with("+CONTINUE"),
        "one byte after the end"
    );
    assert!(t.logged(
        0,
        "tried to PSYNC with an offset that is greater than the master replication offset."
    ));
}

#[test]
fn replicaof_no_one_sets_replid2_and_a_sibling_partially_resyncs_to_the_promoted_replica() {
    let mut t = Pair::new(3, |_| cfg(&[("repl-diskless-sync-delay", "0")]));
    t.run_for(ms(1500));
    t.replicaof(1, 0);
    t.replicaof(2, 0);
    t.wait_for_sync(1);
    t.wait_for_sync(2);
    t.set_keys(0, 50, "v");
    t.run_for(ms(100));
    let old = t.info(1, "master_replid");
    let off = t.info_u64(1, "master_repl_offset");
    assert_eq!(t.info_u64(2, "master_repl_offset"), off);
    // The master goes away; node 1 is promoted.
    t.cut(0, 1);
    t.cut(0, 2);
    assert_eq!(t.cmd(1, &["REPLICAOF", "NO", "ONE"]), ok());
    assert_eq!(t.info(1, "master_replid2"), old);
    assert_eq!(t.info_u64(1, "second_repl_offset"), off + 1);
    assert_ne!(t.info(1, "master_replid"), old);
    assert!(t.logged(
        1,
        &format!(
            "Setting secondary replication ID to {old}, valid up to offset: {}.",
            off + 1
        )
    ));
    let full_before = t.info_u64(2, "sync_full") + t.info_u64(1, "sync_full");
    t.replicaof(2, 1);
    t.wait_for_sync(2);
    assert_eq!(t.info_u64(1, "sync_partial_ok"), 1, "{}", t.dump_logs());
    assert_eq!(
        t.info_u64(2, "sync_full") + t.info_u64(1, "sync_full"),
        full_before
    );
    assert!(t.logged(
        2,
        &format!(
            "Master replication ID changed to {}",
            t.info(1, "master_replid")
        )
    ));
    t.cmd(1, &["SET", "after", "promotion"]);
    t.run_for(ms(10));
    assert_eq!(t.nodes[1].digest(), t.nodes[2].digest());
}

#[test]
fn a_replica_over_the_hard_output_buffer_limit_is_dropped() {
    let mut t = Pair::new(2, |_| {
        cfg(&[
            ("repl-backlog-size", "16kb"),
            ("client-output-buffer-limit", "replica 64kb 0 0"),
        ])
    });
    t.sock_buf = 16 * 1024;
    t.run_for(ms(1500));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.freeze(1);
    t.set_keys(0, 2000, &"x".repeat(100));
    assert!(
        t.logged(
            0,
            "scheduled to be closed ASAP for overcoming of output buffer limits."
        ),
        "{}",
        t.dump_logs()
    );
    assert!(t.logged(0, "Connection with replica 10.0.0.2:6379 lost."));
    assert_eq!(t.info_u64(0, "connected_slaves"), 0);
}

#[test]
fn a_replica_over_the_soft_limit_is_dropped_only_after_the_soft_seconds() {
    let mut t = Pair::new(2, |_| {
        cfg(&[
            ("repl-backlog-size", "16kb"),
            ("client-output-buffer-limit", "replica 0 32kb 2"),
            ("repl-timeout", "600"),
        ])
    });
    t.sock_buf = 16 * 1024;
    t.run_for(ms(1500));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.freeze(1);
    t.set_keys(0, 1000, &"x".repeat(100));
    assert_eq!(
        t.info_u64(0, "connected_slaves"),
        1,
        "the soft limit is not a hard one"
    );
    t.run_for(secs(2));
    assert_eq!(
        t.info_u64(0, "connected_slaves"),
        1,
        "still within the 2 soft seconds"
    );
    t.run_for(secs(2));
    assert_eq!(t.info_u64(0, "connected_slaves"), 0, "{}", t.dump_logs());
    assert!(t.logged(0, "closed for overcoming of output buffer limits."));
}

#[test]
fn error_strings_are_redis_exact() {
    let mut t = synced(10);
    assert_eq!(
        t.cmd(1, &["SET", "a", "b"]),
        Reply::err("READONLY You can't write against a read only replica.")
    );
    t.cmd(0, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
    assert_eq!(
        t.cmd(0, &["SET", "a", "b"]),
        Reply::err("NOREPLICAS Not enough good replicas to write.")
    );
    t.cmd(0, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    t.cmd(1, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    t.cut(0, 1);
    t.kill_link(0, 1);
    assert_eq!(
        t.cmd(1, &["GET", "a"]),
        Reply::err(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
        )
    );
    assert_eq!(
        t.cmd(1, &["PING"]),
        Reply::err(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
        ),
        "PING is not a stale command"
    );
    let mut a = Pair::new(1, |_| cfg(&[("requirepass", "secret")]));
    assert_eq!(
        a.cmd(0, &["GET", "a"]),
        Reply::err("NOAUTH Authentication required.")
    );
    assert_eq!(
        a.cmd(0, &["AUTH", "wrong"]),
        Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
    );
}

#[test]
fn a_replica_loading_a_big_rdb_answers_loading() {
    let mut t = Pair::new(2, |i| {
        if i == 1 {
            cfg(&[("replsim-rdb-load-rate", "1mb")])
        } else {
            cfg(&[("repl-diskless-sync", "no")])
        }
    });
    t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
        count: 100_000,
        key_bytes: 16,
        value_bytes: 100,
    }));
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    assert_eq!(
        t.cmd(1, &["GET", "a"]),
        Reply::err("LOADING Redis is loading the dataset in memory")
    );
    assert_eq!(t.info_u64(1, "loading"), 1);
    t.wait_for_sync(1);
    assert_eq!(t.nodes[1].dbsize(), 100_000);
    assert_eq!(t.nodes[0].digest(), t.nodes[1].digest());
}

// ----- behaviours from Redis's test suite -----

/// Redis's tests/integration/replication.tcl: the handshake is visible, and times out.
#[test]
fn the_handshake_is_visible_and_a_silent_master_times_it_out() {
    let mut t = Pair::new(2, |i| {
        if i == 0 {
            cfg(&[("repl-diskless-sync-delay", "1000")])
        } else {
            cfg(&[("repl-timeout", "5")])
        }
    });
    t.replicaof(1, 0);
    t.run_for(secs(2));
    assert_eq!(
        t.nodes[1].role_reply(),
        Reply::Array(vec![
            Reply::bulk("slave"),
            Reply::bulk(ip(0)),
            Reply::Integer(6379),
            Reply::bulk("handshake"),
            Reply::Integer(-1)
        ])
    );
    assert!(t.info(0, "slave0").contains("state=wait_bgsave"));
    // DEBUG SLEEP 10 on the master: not even the keepalive newlines arrive.
    t.freeze(0);
    t.run_for(secs(10));
    assert!(t.logged(1, "Timeout connecting to the MASTER..."));
}

/// replication.tcl: the role changes at once.
#[test]
fn replicaof_changes_the_role_at_once_and_the_link_comes_up_later() {
    let mut t = Pair::two();
    t.cmd(0, &["SET", "mykey", "foo"]);
    t.replicaof(1, 0);
    assert_eq!(t.info(1, "role"), "slave");
    assert_eq!(t.info(1, "master_link_status"), "down");
    t.wait_for_sync(1);
    assert_eq!(t.cmd(1, &["GET", "mykey"]), Reply::bulk("foo"));
    t.cmd(0, &["SET", "mykey", "bar"]);
    t.run_for(ms(5));
    assert_eq!(t.cmd(1, &["GET", "mykey"]), Reply::bulk("bar"));
}

/// replication.tcl: every FLUSHDB/FLUSHALL is in the stream, in order.
#[test]
fn flushall_is_propagated_even_on_an_empty_database() {
    let mut t = synced(3600);
    let before = t.info_u64(0, "master_repl_offset");
    t.cmd(0, &["FLUSHALL"]);
    // SELECT 0 (23) + FLUSHALL (18)
    assert_eq!(t.info_u64(0, "master_repl_offset"), before + 23 + 18);
}

/// replication.tcl: ROLE.
#[test]
fn role_reports_offsets_and_replicas() {
    let mut t = synced(3600);
    t.cmd(0, &["SET", "k", "v"]);
    t.run_for(secs(2));
    let off = t.info_u64(0, "master_repl_offset") as i64;
    assert_eq!(
        t.nodes[0].role_reply(),
        Reply::Array(vec![
            Reply::bulk("master"),
            Reply::Integer(off),
            Reply::Array(vec![Reply::Array(vec![
                Reply::bulk(ip(1)),
                Reply::bulk("6379"),
                Reply::bulk(off.to_string())
            ])])
        ])
    );
    assert_eq!(
        t.nodes[1].role_reply(),
        Reply::Array(vec![
            Reply::bulk("slave"),
            Reply::bulk(ip(0)),
            Reply::Integer(6379),
            Reply::bulk("connected"),
            Reply::Integer(off)
        ])
    );
}

/// replication.tcl: PSYNC on a fresh master.
#[test]
fn psync_on_a_fresh_master_is_fullresync_at_0_and_a_replica_cannot_read_the_keyspace() {
    let mut t = Pair::new(1, |_| cfg(&[("repl-diskless-sync", "no")]));
    t.run_for(ms(1500));
    let c = raw_conn(&mut t, 0);
    let r = raw(&mut t, 0, c, "PSYNC replicationid -1\r\n");
    let replid = t.info(0, "master_replid");
    assert_eq!(r, format!("+FULLRESYNC {replid} 0\r\n"));
    raw(&mut t, 0, c, "GET foo\r\n");
    assert!(t.logged(
        0,
        "Replica generated a reply to command 'get', disconnecting it"
    ));
}

/// replication.tcl: a bad PSYNC offset.
#[test]
fn psync_with_a_non_integer_offset_is_refused_without_a_sync() {
    let mut t = Pair::new(1, |_| Config::default());
    let c = raw_conn(&mut t, 0);
    let r = raw(&mut t, 0, c, "PSYNC replicationid offset_str\r\n");
    assert_eq!(r, "-ERR value is not an integer or out of range\r\n");
    assert!(t.logged(0, "asks for synchronization but with a wrong offset"));
    assert_eq!(t.info_u64(0, "sync_full"), 0);
}

/// tests/unit/auth.tcl: a wrong masterauth, fixed by CONFIG SET.
#[test]
fn a_wrong_masterauth_never_links_up_until_config_set_fixes_it() {
    let mut t = Pair::new(2, |i| {
        if i == 0 {
            cfg(&[("requirepass", "pass")])
        } else {
            cfg(&[("masterauth", "wrong")])
        }
    });
    t.replicaof(1, 0);
    t.run_for(secs(5));
    assert!(t.logged(
        1,
        "Unable to AUTH to MASTER: -WRONGPASS invalid username-password pair or user is disabled."
    ));
    assert_eq!(t.info(1, "master_link_status"), "down");
    t.cmd(1, &["CONFIG", "SET", "masterauth", "pass"]);
    t.wait_for_sync(1);
}

/// No masterauth at all (replication.c `syncWithMaster`: NOAUTH to PING is accepted, the
/// rest of the handshake fails).
#[test]
fn a_missing_masterauth_loops_through_sync_and_noauth() {
    let mut t = Pair::new(2, |i| {
        if i == 0 {
            cfg(&[("requirepass", "pass")])
        } else {
            Config::default()
        }
    });
    t.replicaof(1, 0);
    t.run_for(ms(50));
    for line in [
        "(Non critical) Master does not understand REPLCONF listening-port: -NOAUTH Authentication required.",
        "Unexpected reply to PSYNC from master: -NOAUTH Authentication required.",
        "Retrying with SYNC...",
        "MASTER aborted replication with an error: NOAUTH Authentication required.",
        "Reconnecting to MASTER 10.0.0.1:6379 after failure",
    ] {
        assert!(t.logged(1, line), "missing: {line}\n{}", t.dump_logs());
    }
    assert!(
        t.count_logged(1, "Retrying with SYNC...") > 10,
        "a tight loop paced by round trips"
    );
    assert_eq!(t.info(1, "master_link_status"), "down");
}

/// replication.tcl: concurrent replicas share one fork.
#[test]
fn three_replicas_attaching_together_share_one_fork() {
    let mut t = Pair::new(4, |_| {
        cfg(&[
            ("repl-diskless-sync-delay", "5"),
            ("repl-diskless-sync-max-replicas", "3"),
        ])
    });
    t.run_for(ms(1500));
    t.set_keys(0, 100, "v");
    for r in 1..4 {
        t.replicaof(r, 0);
    }
    for r in 1..4 {
        t.wait_for_sync(r);
    }
    assert_eq!(t.count_logged(0, "Starting BGSAVE for SYNC"), 1);
    t.cmd(0, &["SET", "after", "sync"]);
    t.run_for(ms(10));
    for r in 1..4 {
        assert_eq!(t.nodes[r].digest(), t.nodes[0].digest());
        assert_eq!(
            t.info_u64(r, "master_repl_offset"),
            t.info_u64(0, "master_repl_offset")
        );
        assert!(t
            .info(0, &format!("slave{}", r - 1))
            .contains("state=online"));
    }
}

/// The setup of replication.tcl's diskless pipe tests: a master holding `bulk_keys` synthetic keys streams one diskless RDB (at 1 MB/s)
/// to two replicas; returns a second into the transfer.
fn diskless_transfer_to_two_replicas(bulk_keys: u64) -> Pair {
    let mut t = Pair::new(3, |i| {
        if i == 0 {
            cfg(&[
                ("repl-diskless-sync-delay", "1"),
                ("repl-diskless-sync-max-replicas", "2"),
                ("replsim-rdb-save-rate", "1mb"),
            ])
        } else {
            Config::default()
        }
    });
    t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
        count: bulk_keys,
        key_bytes: 16,
        value_bytes: 100,
    }));
    t.replicaof(1, 0);
    t.replicaof(2, 0);
    t.run_until_cond(secs(10), |t| t.nodes[0].bgsave_in_progress());
    t.run_for(secs(1));
    t
}

/// replication.tcl: the diskless pipe with dropping replicas. The parent notices the last
/// replica gone when it next reads the pipe (rdbPipeReadHandler), kills the child, and reaps it
/// on the next serverCron tick (`wait_for_condition … rdb_bgsave_in_progress == 0`).
#[test]
fn a_diskless_transfer_losing_all_replicas_kills_its_child() {
    let mut t = diskless_transfer_to_two_replicas(100_000);
    t.cmd(1, &["REPLICAOF", "NO", "ONE"]);
    t.run_for(ms(10));
    assert!(t.nodes[0].bgsave_in_progress(), "one replica is still fed");
    t.cmd(2, &["REPLICAOF", "NO", "ONE"]);
    let kill = "Diskless rdb transfer, last replica dropped, killing fork child.";
    assert!(!t.logged(0, kill), "not before the pipe's next chunk");
    t.run_until_cond(ms(100), |t| t.logged(0, kill));
    assert!(t.nodes[0].bgsave_in_progress(), "killed, not yet reaped");
    t.run_for(SERVER_CRON_PERIOD);
    assert!(t.logged(0, "Background transfer terminated by signal 10"));
    assert!(!t.nodes[0].bgsave_in_progress());
}

/// replication.tcl: the diskless pipe, the survivors' side.
#[test]
fn a_diskless_transfer_reports_the_replicas_still_up() {
    let mut t = diskless_transfer_to_two_replicas(50_000);
    t.cmd(1, &["REPLICAOF", "NO", "ONE"]);
    t.wait_for_sync(2);
    assert!(
        t.logged(
            0,
            "Diskless rdb transfer, done reading from pipe, 1 replicas still up."
        ),
        "{}",
        t.dump_logs()
    );
    assert_eq!(t.nodes[2].dbsize(), 50_000);
}

/// replication.tcl: a useless disk BGSAVE is killed.
#[test]
fn a_disk_bgsave_nobody_needs_is_killed_when_there_are_no_save_points() {
    let mut t = Pair::new(3, |i| {
        if i == 0 {
            cfg(&[
                ("repl-diskless-sync", "no"),
                ("save", ""),
                ("replsim-rdb-save-rate", "1mb"),
            ])
        } else {
            Config::default()
        }
    });
    t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
        count: 100_000,
        key_bytes: 16,
        value_bytes: 100,
    }));
    t.replicaof(1, 0);
    t.replicaof(2, 0);
    t.run_until_cond(secs(5), |t| {
        t.nodes[0].bgsave_in_progress() && t.info_u64(0, "connected_slaves") == 2
    });
    t.cmd(1, &["REPLICAOF", "NO", "ONE"]);
    t.run_for(ms(10));
    assert!(t.nodes[0].bgsave_in_progress());
    t.cmd(2, &["REPLICAOF", "NO", "ONE"]);
    // Killed as the last replica goes (freeClient), reaped on the next serverCron tick.
    assert_eq!(t.info_u64(0, "rdb_bgsave_in_progress"), 1);
    t.run_for(SERVER_CRON_PERIOD);
    assert_eq!(t.info_u64(0, "rdb_bgsave_in_progress"), 0);
    assert!(t.logged(0, "Background saving terminated by signal 10"));
}

/// tests/integration/replication-psync.tcl: a large backlog and reconnects give partial resyncs.
#[test]
fn a_link_drop_within_a_big_backlog_resyncs_partially() {
    let mut t = Pair::new(2, |_| cfg(&[("repl-backlog-size", "100mb")]));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    for round in 0..5 {
        for i in 0..200 {
            t.cmd(0, &["INCR", &format!("c{}", i % 7)]);
        }
        t.kill_link(0, 1);
        for i in 0..100 {
            t.cmd(0, &["SET", &format!("r{round}:{i}"), "v"]);
        }
        t.wait_for_sync(1);
    }
    t.run_for(ms(10));
    assert!(t.info_u64(0, "sync_partial_ok") > 0);
    assert_eq!(t.info_u64(0, "sync_full"), 1);
    assert_eq!(t.nodes[0].digest(), t.nodes[1].digest());
}

/// replication-psync.tcl: a tiny backlog and a frozen replica give a failed partial resync.
#[test]
fn a_disconnection_longer_than_the_backlog_forces_a_full_resync() {
    let mut t = Pair::new(2, |_| {
        cfg(&[
            ("repl-backlog-size", "16kb"),
            ("repl-diskless-sync-delay", "0"),
        ])
    });
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.outage_with_writes(0, 1, 1000, 50);
    t.wait_for_sync(1);
    assert!(t.info_u64(0, "sync_partial_err") > 0);
    assert_eq!(t.info_u64(0, "sync_full"), 2);
    assert!(t.logged(0, "for lack of backlog"));
    assert_eq!(t.nodes[0].digest(), t.nodes[1].digest());
}

/// tests/integration/replication-buffer.tcl: the backlog outgrows its configured size.
#[test]
fn a_replica_stuck_in_full_sync_makes_the_backlog_outgrow_its_size() {
    let mut t = Pair::new(3, |i| {
        if i == 0 {
            cfg(&[
                ("repl-backlog-size", "16kb"),
                ("client-output-buffer-limit", "replica 0 0 0"),
                ("repl-diskless-sync", "no"),
                ("replsim-rdb-save-rate", "1mb"),
            ])
        } else {
            Config::default()
        }
    });
    t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
        count: 50_000,
        key_bytes: 16,
        value_bytes: 100,
    }));
    t.replicaof(2, 0);
    t.run_until_cond(secs(5), |t| t.nodes[0].bgsave_in_progress());
    t.set_keys(0, 5000, &"x".repeat(100));
    assert!(
        t.info_u64(0, "repl_backlog_histlen") > 500_000,
        "the syncing replica pins the stream"
    );
}

/// replication-buffer.tcl: an output-buffer limit below the backlog size.
#[test]
fn a_partial_resync_of_a_whole_backlog_is_not_dropped_by_a_smaller_hard_limit() {
    let mut t = Pair::new(2, |_| {
        cfg(&[
            ("repl-backlog-size", "10mb"),
            ("client-output-buffer-limit", "replica 512kb 0 0"),
        ])
    });
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.outage_with_writes(0, 1, 20_000, 100);
    t.wait_for_sync(1);
    t.run_for(secs(1));
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 1);
    assert_eq!(t.info_u64(0, "sync_full"), 1);
    assert_eq!(t.info_u64(0, "connected_slaves"), 1);
    assert_eq!(t.nodes[0].digest(), t.nodes[1].digest());
}

/// replication-buffer.tcl: a big write over a 32 KB output-buffer limit.
#[test]
fn one_big_write_over_a_32kb_limit_drops_the_replica() {
    let mut t = Pair::new(2, |_| {
        cfg(&[
            ("repl-backlog-size", "16kb"),
            ("client-output-buffer-limit", "replica 32768 32768 60"),
        ])
    });
    t.sock_buf = 8 * 1024;
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    let mut args = vec!["MSET".to_string()];
    for i in 0..256 {
        args.push(format!("key{i}"));
        args.push("x".repeat(1000));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    t.cmd(0, &argv);
    assert_eq!(t.info_u64(0, "connected_slaves"), 0, "{}", t.dump_logs());
    t.run_for(ms(10));
    t.wait_for_sync(1);
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 0);
    assert_eq!(t.info_u64(0, "sync_full"), 2);
}

/// psync2.tcl (one cycle of its random topologies): promoting a replica and re-pointing the others costs no full sync.
#[test]
fn a_planned_promotion_costs_no_full_sync() {
    let mut t = Pair::new(4, |_| {
        cfg(&[
            ("repl-diskless-sync-delay", "0"),
            ("repl-ping-replica-period", "1"),
        ])
    });
    for r in 1..4 {
        t.replicaof(r, 0);
    }
    for r in 1..4 {
        t.wait_for_sync(r);
    }
    for i in 0..100 {
        t.cmd(0, &["INCR", "x"]);
        let _ = i;
    }
    t.run_for(ms(10));
    let full = |t: &Pair| (0..4).map(|i| t.info_u64(i, "sync_full")).sum::<u64>();
    assert_eq!(full(&t), 3);
    // Node 2 becomes master; the old master and the others follow it.
    t.cmd(2, &["REPLICAOF", "NO", "ONE"]);
    t.replicaof(0, 2);
    t.replicaof(1, 2);
    t.replicaof(3, 2);
    for r in [0, 1, 3] {
        t.wait_for_sync(r);
    }
    t.cmd(2, &["INCR", "x"]);
    t.run_for(ms(10));
    assert_eq!(full(&t), 3, "{}", t.dump_logs());
    for i in 0..4 {
        assert_eq!(t.cmd(i, &["GET", "x"]), Reply::bulk("101"));
    }
}

/// tests/integration/psync2.tcl: a replica restarted from its RDB resyncs partially.
#[test]
fn a_replica_restarted_from_its_rdb_resyncs_partially() {
    let mut t = synced(10);
    t.set_keys(0, 100, "v");
    t.run_for(ms(10));
    let p = t.nodes[1].persist(t.now);
    t.restart(1, Some(p), Some(0));
    t.wait_for_sync(1);
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 1, "{}", t.dump_logs());
    assert_eq!(t.info_u64(0, "sync_full"), 1);
}

/// psync2-master-restart.tcl: a master restarted with offset 0, and with data.
#[test]
fn a_master_restarted_from_its_rdb_keeps_its_history_as_replid2() {
    let mut t = synced(3600);
    t.set_keys(0, 10, "v");
    t.run_for(ms(10));
    let old = t.info(0, "master_replid");
    let off = t.info_u64(0, "master_repl_offset");
    let p = t.nodes[0].persist(t.now);
    t.restart(0, Some(p), None);
    t.run_for(ms(1));
    assert_ne!(t.info(0, "master_replid"), old);
    assert_eq!(t.info(0, "master_replid2"), old);
    assert_eq!(t.info_u64(0, "second_repl_offset"), off + 1);
    assert_eq!(t.info_u64(0, "repl_backlog_active"), 1);
    assert_eq!(t.info_u64(0, "repl_backlog_first_byte_offset"), off + 1);
    assert_eq!(t.info_u64(0, "repl_backlog_histlen"), 0);
    t.wait_for_sync(1);
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 1, "{}", t.dump_logs());
    assert_eq!(t.info_u64(0, "sync_full"), 0);
}

/// tests/integration/psync2-master-restart.tcl: a master restarted with expired keys.
#[test]
fn keys_that_expired_while_a_master_was_down_are_deleted_and_propagated() {
    let mut t = synced(3600);
    for i in 0..20 {
        t.cmd(0, &["SET", &format!("k{i}"), "v", "PX", "10"]);
    }
    t.run_for(ms(5));
    let off = t.info_u64(0, "master_repl_offset");
    let p = t.nodes[0].persist(t.now);
    t.run_for(ms(20));
    t.restart(0, Some(p), None);
    assert_eq!(t.info_u64(0, "rdb_last_load_keys_expired"), 20);
    assert_eq!(
        t.info_u64(0, "master_repl_offset"),
        off + t.info_u64(0, "repl_backlog_histlen")
    );
    t.wait_for_sync(1);
    t.run_for(ms(10));
    assert_eq!(t.nodes[0].digest(), t.nodes[1].digest());
}

/// tests/integration/psync2-pingoff.tcl: a chained replica is left untouched.
#[test]
fn a_chained_replica_stays_attached_when_its_middle_node_resyncs_partially() {
    let mut t = Pair::new(3, |_| cfg(&[("repl-diskless-sync-delay", "0")]));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.replicaof(2, 1);
    t.wait_for_sync(2);
    t.set_keys(0, 50, "v");
    t.run_for(ms(10));
    let partial_before = t.info_u64(1, "sync_partial_ok");
    t.kill_link(0, 1);
    t.wait_for_sync(1);
    t.cmd(0, &["SET", "after", "kill"]);
    t.run_for(ms(10));
    assert_eq!(t.info_u64(0, "sync_partial_ok"), 1);
    assert_eq!(
        t.info_u64(1, "sync_partial_ok"),
        partial_before,
        "node 2 never reconnected"
    );
    assert!(!t.logged(2, "Connection with master lost."));
    let off = t.info_u64(0, "master_repl_offset");
    assert_eq!(t.info_u64(1, "master_repl_offset"), off);
    assert_eq!(t.info_u64(2, "master_repl_offset"), off);
    assert_eq!(t.nodes[2].digest(), t.nodes[0].digest());
}

/// A full resync of the middle node drops its sub-replicas (replication.c
/// `replicationAttachToNewMaster` disconnects them).
#[test]
fn a_full_resync_of_the_middle_node_drops_its_sub_replica() {
    let mut t = Pair::new(3, |i| {
        cfg(&[
            ("repl-diskless-sync-delay", "0"),
            ("repl-backlog-size", if i == 0 { "16kb" } else { "1mb" }),
        ])
    });
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.replicaof(2, 1);
    t.wait_for_sync(2);
    t.outage_with_writes(0, 1, 1000, 50);
    t.wait_for_sync(1);
    t.run_for(secs(8));
    assert!(t.logged(2, "Connection with master lost."));
    assert_eq!(t.info_u64(0, "sync_full"), 2);
    t.wait_for_sync(2);
    t.run_for(ms(10));
    assert_eq!(t.nodes[2].digest(), t.nodes[0].digest());
}

/// tests/integration/replication-2.tcl and replication-4.tcl: min-replicas.
#[test]
fn min_replicas_refuses_writes_once_the_replica_lags() {
    let mut t = synced(10);
    t.cmd(
        0,
        &[
            "CONFIG",
            "SET",
            "min-replicas-to-write",
            "1",
            "min-replicas-max-lag",
            "10",
        ],
    );
    assert_eq!(t.cmd(0, &["SET", "a", "1"]), ok());
    t.cmd(0, &["CONFIG", "SET", "min-replicas-to-write", "2"]);
    assert_eq!(
        t.cmd(0, &["SET", "a", "2"]),
        Reply::err("NOREPLICAS Not enough good replicas to write.")
    );
    t.cmd(
        0,
        &[
            "CONFIG",
            "SET",
            "min-replicas-to-write",
            "1",
            "min-replicas-max-lag",
            "2",
        ],
    );
    t.freeze(1);
    assert_eq!(t.cmd(0, &["SET", "a", "3"]), ok());
    t.run_for(secs(4));
    assert_eq!(
        t.cmd(0, &["SET", "a", "4"]),
        Reply::err("NOREPLICAS Not enough good replicas to write.")
    );
    assert_eq!(
        t.cmd(1, &["CONFIG", "SET", "min-replicas-to-write", "5"]),
        ok(),
        "replicas ignore the setting"
    );
}

/// tests/unit/wait.tcl.
#[test]
fn wait_counts_acking_replicas_and_times_out_while_one_is_paused() {
    let mut t = synced(10);
    let c = super::node::ClientId(9);
    t.cmd_as(0, c, &["SET", "foo", "bar"]);
    assert_eq!(t.cmd_as(0, c, &["WAIT", "1", "5000"]), Reply::Integer(1));
    assert_eq!(t.cmd(1, &["GET", "foo"]), Reply::bulk("bar"));
    assert_eq!(t.cmd_as(0, c, &["WAIT", "2", "1000"]), Reply::Integer(1));
    t.freeze(1);
    t.cmd_as(0, c, &["SET", "foo", "baz"]);
    let start = t.now;
    assert_eq!(t.cmd_as(0, c, &["WAIT", "1", "1000"]), Reply::Integer(0));
    assert!(t.now - start >= secs(1));
    t.thaw(1);
    assert_eq!(t.cmd_as(0, c, &["WAIT", "1", "0"]), Reply::Integer(1));
    assert_eq!(
        t.cmd(0, &["WAIT", "1", "-1"]),
        Reply::err("ERR timeout is negative")
    );
    assert_eq!(
        t.cmd(0, &["WAIT", "1", "abc"]),
        Reply::err("ERR timeout is not an integer or out of range")
    );
    assert!(
        matches!(t.cmd(1, &["WAIT", "1", "0"]), Reply::Error(e) if e.starts_with("ERR WAIT cannot be used with replica instances"))
    );
}

/// A master (node 0) with two synced replicas, both frozen so that nothing they acknowledge
/// reaches it, and clients 101, 102, ... each blocked in `WAIT <numreplicas> <timeout>` after
/// a write of its own, in the order given (so at increasing offsets).
fn blocked_waits(waits: &[(&str, &str)]) -> (Pair, Vec<super::node::ClientId>) {
    use super::node::{ClientId, CommandResult};
    let mut t = Pair::new(3, |_| cfg(&[("repl-diskless-sync-delay", "0")]));
    t.replicaof(1, 0);
    t.replicaof(2, 0);
    t.wait_for_sync(1);
    t.wait_for_sync(2);
    t.run_for(secs(2));
    t.freeze(1);
    t.freeze(2);
    let mut clients = Vec::new();
    for (i, (num, timeout)) in waits.iter().enumerate() {
        let c = ClientId(101 + i as u64);
        t.cmd_as(0, c, &["SET", &format!("k{i}"), "v"]);
        let r = t.nodes[0].handle_command(t.now, c, &[b"WAIT", num.as_bytes(), timeout.as_bytes()]);
        assert_eq!(r, CommandResult::Blocked);
        clients.push(c);
    }
    (t, clients)
}

/// The replies node `i` queued since, in order.
fn replies(t: &mut Pair, i: usize) -> Vec<(super::node::ClientId, Reply)> {
    std::iter::from_fn(|| t.nodes[i].poll_event())
        .filter_map(|e| match e {
            super::node::Event::Reply { client, reply } => Some((client, reply)),
            _ => None,
        })
        .collect()
}

#[test]
fn satisfied_waits_are_answered_newest_first_with_redis_counts() {
    let (mut t, c) = blocked_waits(&[("1", "0"), ("1", "0"), ("2", "0")]);
    let offsets: Vec<u64> = c
        .iter()
        .map(|id| t.nodes[0].clients.get(id).unwrap().woff)
        .collect();
    assert!(offsets[0] < offsets[1] && offsets[1] < offsets[2]);
    // One replica acknowledges everything, the other only the first write; both arrive before
    // one pass (as two ACKs read in one event-loop iteration are).
    let mut acks = [offsets[2], offsets[0]].into_iter();
    for conn in t.nodes[0].conns.values_mut() {
        if let Some(r) = conn.replica_mut() {
            r.ack_off = acks.next().unwrap();
        }
    }
    t.nodes[0].unblock_waits(t.now);
    // processClientsWaitingReplicas visits the newest first. Client 103 (2 replicas at the
    // last offset) is not satisfied. Client 102 is: one replica has its offset. Client 101
    // asks for no more replicas at an earlier offset, so it gets 102's count, 1, without a
    // recount, though two replicas hold its write.
    assert_eq!(
        replies(&mut t, 0),
        vec![(c[1], Reply::Integer(1)), (c[0], Reply::Integer(1))]
    );
    assert_eq!(t.nodes[0].clients.blocked(), vec![Waiter::Local(c[2])]);
    t.nodes[0].assert_invariants();
}

#[test]
fn wait_timeouts_come_from_the_earliest_deadline_and_fire_in_deadline_order() {
    use super::node::Timer;
    let (mut t, c) = blocked_waits(&[("1", "300"), ("1", "0"), ("1", "100"), ("2", "100")]);
    let start = t.now;
    let (at, timer) = t.nodes[0].poll_timeout().unwrap();
    if timer == Timer::WaitTimeout {
        assert_eq!(at, start + ms(100));
    }
    assert_eq!(t.nodes[0].wait_deadline(), Some(start + ms(100)));
    t.nodes[0].handle_timeout(start + ms(100));
    assert_eq!(
        replies(&mut t, 0),
        vec![(c[2], Reply::Integer(0)), (c[3], Reply::Integer(0))]
    );
    assert_eq!(t.nodes[0].wait_deadline(), Some(start + ms(300)));
    t.nodes[0].handle_timeout(start + ms(300));
    assert_eq!(replies(&mut t, 0), vec![(c[0], Reply::Integer(0))]);
    // WAIT 1 0 waits for ever: no deadline is left.
    assert_eq!(t.nodes[0].wait_deadline(), None);
    assert_eq!(t.nodes[0].clients.blocked(), vec![Waiter::Local(c[1])]);
}

#[test]
fn a_client_closed_while_blocked_leaves_no_trace() {
    let (mut t, c) = blocked_waits(&[("1", "0"), ("1", "500")]);
    for id in &c {
        t.nodes[0].handle_client_closed(*id);
    }
    assert!(!t.nodes[0].clients.any_blocked());
    assert_eq!(t.nodes[0].wait_deadline(), None);
    assert!(c.iter().all(|id| t.nodes[0].clients.get(id).is_none()));
    t.nodes[0].assert_invariants();
    // The replicas acknowledge, the deadline passes: nobody is answered.
    t.thaw(1);
    t.thaw(2);
    t.run_for(secs(2));
    assert_eq!(replies(&mut t, 0), vec![]);
    assert!(
        t.events[0]
            .iter()
            .all(|e| !matches!(e, super::node::Event::Reply { .. })),
        "{:?}",
        t.events[0]
    );
}

#[test]
fn replicaof_answers_every_blocked_wait_unblocked_and_closes_its_client() {
    let (mut t, c) = blocked_waits(&[("2", "0"), ("1", "5000")]);
    t.drain_all();
    // An operator makes the master a replica of another node.
    let reply = t.cmd(0, &["REPLICAOF", &ip(1), "6379"]);
    assert_eq!(reply, ok());
    let unblocked = Reply::err(
        "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)",
    );
    let got: Vec<_> = t.events[0]
        .iter()
        .filter_map(|e| match e {
            super::node::Event::Reply { client, reply } => Some((*client, reply.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![(c[0], unblocked.clone()), (c[1], unblocked)]);
    // Closed after the reply: their state is gone, and nothing times out later.
    assert!(c.iter().all(|id| t.nodes[0].clients.get(id).is_none()));
    assert!(!t.nodes[0].clients.any_blocked());
    assert_eq!(t.nodes[0].wait_deadline(), None);
    t.nodes[0].assert_invariants();
}

/// replication.tcl: lazy expiry and WAIT.
#[test]
fn a_lazily_expired_key_propagates_del_then_the_write_in_a_transaction() {
    let mut t = synced(3600);
    let c = super::node::ClientId(5);
    t.cmd_as(0, c, &["SET", "s", "foo"]);
    t.cmd_as(0, c, &["PEXPIRE", "s", "1"]);
    t.run_for(ms(2));
    let before = t.info_u64(0, "master_repl_offset");
    t.cmd_as(0, c, &["SET", "s", "bar", "NX"]);
    // MULTI (15) + DEL s (20) + SET s bar NX (37) + EXEC (14)
    assert_eq!(
        t.info_u64(0, "master_repl_offset") - before,
        15 + 20 + 37 + 14
    );
    assert_eq!(t.cmd_as(0, c, &["WAIT", "1", "0"]), Reply::Integer(1));
    assert_eq!(t.cmd(1, &["GET", "s"]), Reply::bulk("bar"));
}

/// replication-4.tcl: an expired key is not deleted by replication.
#[test]
fn a_replica_does_not_expire_a_key_the_master_still_writes() {
    let mut t = synced(3600);
    t.cmd(0, &["SET", "k", "1", "PX", "5"]);
    t.run_for(ms(2));
    t.freeze(0);
    t.run_for(ms(10));
    // The key is logically expired on the replica but still there.
    assert_eq!(t.cmd(1, &["GET", "k"]), Reply::Null);
    assert_eq!(t.nodes[1].dbsize(), 1);
}

#[test]
fn a_paused_replica_is_dropped_after_repl_timeout_and_reconnects_partially() {
    let mut t = Pair::new(2, |_| {
        cfg(&[("repl-timeout", "5"), ("repl-ping-replica-period", "1")])
    });
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.freeze(1);
    t.run_for(secs(8));
    assert!(t.logged(
        0,
        "Disconnecting timedout replica (streaming sync): 10.0.0.2:6379"
    ));
    t.thaw(1);
    t.wait_for_sync(1);
    assert_eq!(t.info_u64(0, "sync_full"), 1);
}

#[test]
fn a_paused_master_makes_the_replica_log_master_timeout() {
    let mut t = Pair::new(2, |_| cfg(&[("repl-timeout", "5")]));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.freeze(0);
    t.run_for(secs(8));
    assert!(t.logged(1, "MASTER timeout: no data nor PING received..."));
    assert!(t.logged(1, "Caching the disconnected master state."));
    t.thaw(0);
    t.wait_for_sync(1);
}

#[test]
fn a_disk_sync_sends_a_sized_bulk_and_online_follows_the_last_byte() {
    let mut t = Pair::new(2, |i| {
        if i == 0 {
            cfg(&[("repl-diskless-sync", "no")])
        } else {
            Config::default()
        }
    });
    t.cmd(0, &["SET", "a", "1"]);
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    assert!(t.logged(0, "Starting BGSAVE for SYNC with target: disk"));
    assert!(t.logged(0, "Background saving terminated with success"));
    assert!(t.logged(1, "MASTER <-> REPLICA sync: receiving"));
    assert!(t.logged(1, "bytes from master to disk"));
    assert_eq!(t.cmd(1, &["GET", "a"]), Reply::bulk("1"));
}

#[test]
fn hostile_client_bytes_get_redis_replies_and_close_only_on_protocol_errors() {
    // (input, what Redis 7.0.15 writes back, whether it closes the connection); the replies
    // were taken from a real redis-server fed the same bytes.
    let cases: &[(&[u8], &str, bool)] = &[
        (b"*2\r\n$4\r\nPSYNC", "", false),
        (
            b"*99999999999\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
            true,
        ),
        (
            b"$-1\r\n",
            "-ERR unknown command '$-1', with args beginning with: \r\n",
            false,
        ),
        (
            b"REPLCONF ACK notanumber\r\nREPLCONF GETACK\r\n",
            "-ERR syntax error\r\n",
            false,
        ),
        (&[0xff; 1000], "", false),
        (
            b"*1\r\n+x\r\n",
            "-ERR Protocol error: expected '$', got '+'\r\n",
            true,
        ),
        (b"GET x\r\n*1\r\n", "$-1\r\n", false),
        (
            b"SET \"k v\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
            true,
        ),
    ];
    for &(input, reply, closes) in cases {
        let mut t = Pair::new(1, |_| Config::default());
        let c = raw_conn(&mut t, 0);
        let got = raw(&mut t, 0, c, &String::from_utf8_lossy(input));
        let what = String::from_utf8_lossy(input);
        assert_eq!(got, reply, "{what:?}");
        assert_eq!(!t.nodes[0].conns.contains_key(&c), closes, "{what:?}");
        if closes {
            assert!(t.logged(0, "Protocol error ("), "{what:?}: logged");
        }
    }
    // Opaque bytes only belong inside an RDB transfer: on a client connection they close it.
    let mut t = Pair::new(1, |_| Config::default());
    let c = raw_conn(&mut t, 0);
    t.nodes[0].handle_opaque(t.now, c, 1000);
    t.collect_logs(0);
    assert!(!t.nodes[0].conns.contains_key(&c));
    assert!(t.logged(0, "opaque bytes outside an RDB transfer"));
    // Random bytes: the connection is closed exactly when a protocol error was answered, and
    // everything that was answered is whole replies.
    let mut rng = crate::seed::SeedStream::derive(3, "hostile");
    let (mut closed, mut open) = (0, 0);
    for _ in 0..300 {
        let mut t = Pair::new(1, |_| Config::default());
        let c = raw_conn(&mut t, 0);
        let alphabet = b"*$\r\n0123456789-PSYNCREPLCONFack? ";
        let bytes: Vec<u8> = (0..rng.below(80))
            .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
            .collect();
        let got = raw(&mut t, 0, c, &String::from_utf8_lossy(&bytes));
        let is_closed = !t.nodes[0].conns.contains_key(&c);
        let protocol_error = got.contains("-ERR Protocol error: ");
        assert_eq!(is_closed, protocol_error, "{bytes:?} -> {got:?}");
        assert!(got.is_empty() || got.ends_with("\r\n"), "{got:?}");
        if is_closed {
            closed += 1;
        } else {
            open += 1;
        }
        t.run_for(secs(2));
    }
    assert!(closed >= 5 && open > 100, "closed {closed}, open {open}");
}

/// What a scripted master sends: bytes, or an opaque run.
#[derive(Clone, Debug)]
enum From {
    Bytes(Vec<u8>),
    Opaque(u64),
}

fn bytes(b: impl AsRef<[u8]>) -> From {
    From::Bytes(b.as_ref().to_vec())
}

/// How the replica comes back after dropping the link.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Retry {
    /// At once (`cancelReplicationHandshake(1)`, `replicationHandleMasterDisconnection`).
    Now,
    /// At the next `replicationCron` tick (`syncWithMaster`'s error label).
    NextCron,
    /// When `repl-timeout` expires, at a cron tick.
    Timeout,
}

/// An RDB of `aux_fields` and no keys, announced with `$<len>`.
fn rdb_bulk(aux_fields: &[(&str, &str)]) -> Vec<u8> {
    let mut rdb = b"REDIS0011".to_vec();
    for (k, v) in aux_fields {
        rdb.push(0xFA);
        super::rdb::save_string(&mut rdb, k.as_bytes());
        super::rdb::save_string(&mut rdb, v.as_bytes());
    }
    rdb.push(0xFF);
    rdb.extend_from_slice(&[0; 8]);
    let mut out = format!("${}\r\n", rdb.len()).into_bytes();
    out.extend_from_slice(&rdb);
    out
}

/// What a hostile master does, where the link is when it does it, what it sends, the log lines
/// the replica writes and how it comes back.
type HostileCase = (
    &'static str,
    super::pair::Stage,
    Vec<From>,
    Vec<&'static str>,
    Retry,
);

#[test]
fn a_hostile_master_never_crashes_the_replica_it_drops_the_link_logs_and_retries() {
    use super::node::REPL_OFFSET_MAX;
    use super::pair::{Scripted, Stage, SCRIPTED_REPLID};
    let mark = "m".repeat(40);
    let fullresync = |offset: &str| bytes(format!("+FULLRESYNC {SCRIPTED_REPLID} {offset}\r\n"));
    let overflowing_bulk = format!("0:{}:16:100", u64::MAX - 1);
    // (what, where the link is, what the master sends, the log lines, how it retries)
    let cases: Vec<HostileCase> = vec![
        (
            "an error reply to PING",
            Stage::Ping,
            vec![bytes("-ERR no\r\n")],
            vec!["Error reply to PING from master: '-ERR no'"],
            Retry::NextCron,
        ),
        (
            "a reply to PING longer than the reply buffer, never ending",
            Stage::Ping,
            vec![bytes([b'x'; 1000])],
            vec!["Error reply to PING from master: 'xxxxxxxx"],
            Retry::NextCron,
        ),
        (
            "replies out of order that leave the handshake waiting",
            Stage::Ping,
            vec![fullresync("0")],
            vec!["Timeout connecting to the MASTER..."],
            Retry::Timeout,
        ),
        (
            "+FULLRESYNC with a negative offset",
            Stage::Psync,
            vec![fullresync("-5")],
            vec!["Master replied with wrong +FULLRESYNC syntax."],
            Retry::NextCron,
        ),
        (
            "+FULLRESYNC with an offset past 2^63",
            Stage::Psync,
            vec![fullresync("9223372036854775808")],
            vec!["Master replied with wrong +FULLRESYNC syntax."],
            Retry::NextCron,
        ),
        (
            "+FULLRESYNC with an offset past 2^64",
            Stage::Psync,
            vec![fullresync("18446744073709551616")],
            vec!["Master replied with wrong +FULLRESYNC syntax."],
            Retry::NextCron,
        ),
        (
            "+FULLRESYNC with an offset that is no number",
            Stage::Psync,
            vec![fullresync("abc")],
            vec!["Master replied with wrong +FULLRESYNC syntax."],
            Retry::NextCron,
        ),
        (
            "+CONTINUE to PSYNC ? -1",
            Stage::Psync,
            vec![bytes("+CONTINUE\r\n")],
            vec!["+CONTINUE without a cached master"],
            Retry::NextCron,
        ),
        (
            "-NOMASTERLINK to PSYNC",
            Stage::Psync,
            vec![bytes("-NOMASTERLINK Can't SYNC while not connected with my master\r\n")],
            vec!["Master is currently unable to PSYNC but should be in the future"],
            Retry::NextCron,
        ),
        (
            "+OK out of order for PSYNC (SYNC is tried), then no bulk",
            Stage::Psync,
            vec![bytes("+OK\r\nnot-a-bulk\r\n")],
            vec![
                "Unexpected reply to PSYNC from master: +OK",
                "Retrying with SYNC...",
                "Bad protocol from MASTER, the first byte is not '$' (we received 'not-a-bulk')",
            ],
            Retry::Now,
        ),
        (
            "a bulk length that is no number",
            Stage::Transfer,
            vec![bytes("$abc\r\n")],
            vec!["Bad protocol from MASTER, the length of the RDB is not a size (we received '$abc')"],
            Retry::Now,
        ),
        (
            "a negative bulk length",
            Stage::Transfer,
            vec![bytes("$-5\r\n")],
            vec!["the length of the RDB is not a size (we received '$-5')"],
            Retry::Now,
        ),
        (
            "a bulk length past 2^64",
            Stage::Transfer,
            vec![bytes("$99999999999999999999\r\n")],
            vec!["the length of the RDB is not a size"],
            Retry::Now,
        ),
        (
            "a bulk length line longer than its buffer",
            Stage::Transfer,
            vec![bytes(format!("${}", "1".repeat(2000)))],
            vec!["the length of the RDB is not a size"],
            Retry::Now,
        ),
        (
            "the largest bulk length, then silence",
            Stage::Transfer,
            vec![bytes("$9223372036854775807\r\nREDIS")],
            vec![
                "receiving 9223372036854775807 bytes from master to disk",
                "Timeout receiving bulk data from MASTER...",
            ],
            Retry::Timeout,
        ),
        (
            "an EOF mark shorter than 40 bytes",
            Stage::Transfer,
            vec![bytes("$EOF:short\r\n")],
            vec!["Bad protocol from MASTER, the EOF mark is shorter than 40 bytes (we received '$EOF:short')"],
            Retry::Now,
        ),
        (
            "an error instead of the RDB",
            Stage::Transfer,
            vec![bytes("-ERR nope\r\n")],
            vec!["MASTER aborted replication with an error: ERR nope"],
            Retry::Now,
        ),
        (
            "a line that is no bulk",
            Stage::Transfer,
            vec![bytes("hello\r\n")],
            vec!["Bad protocol from MASTER, the first byte is not '$' (we received 'hello')"],
            Retry::Now,
        ),
        (
            "a truncated RDB",
            Stage::Transfer,
            vec![bytes("$10\r\nREDIS0011\x7f")],
            vec![
                "Unknown RDB encoding type 127",
                "Failed trying to load the MASTER synchronization DB from disk",
            ],
            Retry::Now,
        ),
        (
            "an RDB announcing a dataset whose size overflows",
            Stage::Transfer,
            vec![bytes(rdb_bulk(&[("replsim-bulk", &overflowing_bulk)]))],
            vec![
                "replsim-bulk sizes overflow",
                "Failed trying to load the MASTER synchronization DB from disk",
            ],
            Retry::Now,
        ),
        (
            "an opaque run longer than the announced RDB",
            Stage::Transfer,
            vec![bytes("$5\r\n"), From::Opaque(10)],
            vec!["I/O error trying to sync with MASTER: more bytes than the RDB announced"],
            Retry::Now,
        ),
        (
            "opaque runs adding up past 2^64 in an EOF-marked RDB",
            Stage::Transfer,
            vec![
                bytes(format!("$EOF:{mark}\r\n")),
                From::Opaque(u64::MAX),
                From::Opaque(u64::MAX),
            ],
            vec!["I/O error trying to sync with MASTER: more bytes than the RDB announced"],
            Retry::Now,
        ),
        (
            "opaque bytes before the RDB's length",
            Stage::Transfer,
            vec![From::Opaque(5)],
            vec!["I/O error trying to sync with MASTER: unexpected opaque bytes"],
            Retry::Now,
        ),
        (
            "a protocol error in the stream",
            Stage::Connected(0),
            vec![bytes("*1\r\n+x\r\n")],
            vec![
                "Protocol error (expected '$', got '+') from client: id=",
                "flags=M",
                "Query buffer during protocol error: '+x..'",
                "Connection with master lost.",
            ],
            Retry::Now,
        ),
        (
            "opaque bytes in the stream",
            Stage::Connected(0),
            vec![From::Opaque(100)],
            vec!["Protocol error (opaque bytes in the replication stream) from client: master"],
            Retry::Now,
        ),
        (
            "a stream that would carry the offset past its maximum",
            Stage::Connected(REPL_OFFSET_MAX - 10),
            vec![bytes("*1\r\n$4\r\nPING\r\n")],
            vec!["Protocol error (replication offset overflow) from client: id="],
            Retry::Now,
        ),
    ];
    for (what, stage, input, logs, retry) in cases {
        let mut s = Scripted::at(stage, Config::default());
        let old = s.conn;
        for part in input {
            match part {
                From::Bytes(b) => s.feed(&b),
                From::Opaque(n) => s.feed_opaque(n),
            }
        }
        s.run_timers_before_cron();
        let dump = |s: &Scripted| format!("{what}:\n{:#?}", s.logs);
        match retry {
            Retry::Now => {
                assert!(s.closed(old), "{}", dump(&s));
                let new = s.last_connect();
                assert!(
                    new.is_some_and(|c| c != old),
                    "reconnects at once: {}",
                    dump(&s)
                );
            }
            Retry::NextCron => {
                assert!(s.closed(old), "{}", dump(&s));
                assert_eq!(s.last_connect(), None, "{}", dump(&s));
                assert_eq!(
                    s.node.repl_state(),
                    super::ReplState::Connect,
                    "{}",
                    dump(&s)
                );
                s.run_cron();
                assert!(
                    s.last_connect().is_some(),
                    "reconnects at the next cron: {}",
                    dump(&s)
                );
            }
            Retry::Timeout => {
                assert!(!s.closed(old), "{}", dump(&s));
                s.run_for(secs(Config::default().repl_timeout_secs + 2));
                assert!(s.closed(old), "{}", dump(&s));
                assert!(s.last_connect().is_some(), "{}", dump(&s));
            }
        }
        for line in logs {
            assert!(s.logged(line), "{what}: no log line {line:?}: {}", dump(&s));
        }
        assert!(!s.node.conns.contains_key(&old), "{}", dump(&s));
        if let Stage::Connected(_) = stage {
            // The master broke the protocol: its link is not cached, the next sync is full.
            let new = s.last_connect().expect("checked above");
            s.conn = new;
            s.node.handle_connected(s.now, new);
            s.feed(b"+PONG\r\n+OK\r\n+OK\r\n");
            assert!(
                s.sent_text()
                    .ends_with("$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n"),
                "{what}: {}",
                s.sent_text()
            );
        }
    }
}

#[test]
fn times_taken_by_sizes_from_the_wire_saturate_instead_of_wrapping() {
    use super::node::nanos_at_rate;
    assert_eq!(nanos_at_rate(3, 2, false), 1_500_000_000);
    assert_eq!(nanos_at_rate(1, 3, false), 333_333_333);
    assert_eq!(nanos_at_rate(1, 3, true), 333_333_334);
    assert_eq!(
        nanos_at_rate(5, 0, false),
        5_000_000_000,
        "a zero rate is one a second"
    );
    // i64::MAX bytes at one byte a second: 2^63 seconds, far past u64 nanoseconds.
    assert_eq!(nanos_at_rate(i64::MAX as u64, 1, false), u64::MAX);
    assert_eq!(nanos_at_rate(u64::MAX, 1, true), u64::MAX);
    // Through a transfer: an 18,446,744,074-byte RDB at one byte a second takes longer than
    // u64 nanoseconds hold; wrapped, the product is 0.29 s and the load would end at once.
    use super::pair::{Scripted, Stage};
    let mut s = Scripted::at(Stage::Transfer, cfg(&[("replsim-rdb-load-rate", "1")]));
    let size = 18_446_744_074u64;
    assert_eq!((u128::from(size) * 1_000_000_000) as u64, 290_448_384);
    s.feed(format!("${size}\r\n").as_bytes());
    s.feed_opaque(size);
    s.run_for(secs(10));
    assert!(s.node.is_loading(), "{:#?}", s.logs);
}

#[test]
fn a_master_within_the_protocol_keeps_its_link() {
    use super::node::REPL_OFFSET_MAX;
    use super::pair::{Scripted, Stage};
    // A stream that ends exactly at the largest offset is applied.
    let mut s = Scripted::at(Stage::Connected(REPL_OFFSET_MAX - 14), Config::default());
    let conn = s.conn;
    s.feed(b"*1\r\n$4\r\nPING\r\n");
    assert!(!s.closed(conn) && s.node.master_link_up(), "{:#?}", s.logs);
    assert_eq!(s.node.master_repl_offset(), REPL_OFFSET_MAX);
    // An EOF mark longer than 40 bytes: Redis uses its first 40.
    let mut s = Scripted::at(Stage::Transfer, Config::default());
    let mark = "0123456789012345678901234567890123456789";
    s.feed(format!("$EOF:{mark}extra\r\n").as_bytes());
    let rdb = super::rdb::encode(
        &super::keyspace::Keyspace::new(16),
        &super::rdb::SaveMeta {
            ctime_secs: 0,
            used_mem: 0,
            repl: None,
            checksum: true,
            redis_version: super::config::RedisVersion::V7_2,
        },
    );
    let super::rdb::Part::Bytes(rdb) = &rdb.parts[0] else {
        unreachable!("an empty keyspace encodes to bytes only")
    };
    s.feed(rdb);
    s.feed(mark.as_bytes());
    s.run_timers_before_cron();
    assert!(s.node.master_link_up(), "{:#?}", s.logs);
    // An RDB naming a stream database the replica does not have: selectDb fails, and the
    // master client stays in database 0.
    let mut s = Scripted::at(Stage::Transfer, Config::default());
    s.feed(&rdb_bulk(&[
        ("repl-stream-db", "99"),
        ("repl-id", super::pair::SCRIPTED_REPLID),
        ("repl-offset", "0"),
    ]));
    s.run_timers_before_cron();
    assert!(s.node.master_link_up(), "{:#?}", s.logs);
    s.feed(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
    assert_eq!(
        s.node.keyspace.db(0).get(b"k").map(|e| e.value.to_vec()),
        Some(b"v".to_vec())
    );
}

#[test]
fn a_stream_split_into_tiny_pieces_applies_with_exact_offsets() {
    let mut t = Pair::new(3, |_| cfg(&[("repl-diskless-sync-delay", "0")]));
    t.replicaof(1, 0);
    t.wait_for_sync(1);
    t.replicaof(2, 1);
    t.wait_for_sync(2);
    // Seven bytes per socket write: every command reaches the replicas in pieces.
    t.sock_buf = 7;
    for i in 0..200 {
        t.cmd(0, &["SET", &format!("k{i}"), &"v".repeat(i % 40)]);
        t.cmd(0, &["INCR", "n"]);
    }
    t.run_until_cond(secs(30), |t| {
        t.info_u64(2, "master_repl_offset") == t.info_u64(0, "master_repl_offset")
    });
    let off = t.info_u64(0, "master_repl_offset");
    assert_eq!(t.info_u64(1, "slave_repl_offset"), off);
    assert_eq!(t.info_u64(2, "slave_repl_offset"), off);
    assert_eq!(t.nodes[1].digest(), t.nodes[0].digest());
    assert_eq!(t.nodes[2].digest(), t.nodes[0].digest());
}

#[test]
fn diskless_load_with_swapdb_and_on_empty_db_ends_with_the_masters_data() {
    // on-empty-db on an empty replica loads from the socket.
    let mut e = Pair::new(2, |i| {
        if i == 1 {
            cfg(&[("repl-diskless-load", "on-empty-db")])
        } else {
            Config::default()
        }
    });
    e.cmd(0, &["SET", "a", "1"]);
    e.replicaof(1, 0);
    e.wait_for_sync(1);
    assert!(e.logged(1, "receiving streamed RDB from master with EOF to parser"));
    assert_eq!(e.nodes[1].digest(), e.nodes[0].digest());
    for mode in ["swapdb", "on-empty-db"] {
        let mut t = Pair::new(2, |i| {
            if i == 1 {
                cfg(&[
                    ("repl-diskless-load", mode),
                    ("replsim-rdb-load-rate", "20mb"),
                ])
            } else {
                Config::default()
            }
        });
        t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
            count: 20_000,
            key_bytes: 16,
            value_bytes: 100,
        }));
        t.cmd(0, &["SET", "a", "1"]);
        // The replica has data of its own that the full sync replaces.
        t.cmd(1, &["SET", "own", "x"]);
        t.replicaof(1, 0);
        t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
        let loading_reply = t.cmd(1, &["GET", "own"]);
        if mode == "swapdb" {
            // A different history: loading blocks, but the old data is kept until the swap.
            assert_eq!(
                loading_reply,
                Reply::err("LOADING Redis is loading the dataset in memory"),
                "{mode}"
            );
            assert_eq!(
                t.nodes[1].dbsize(),
                1,
                "swapdb keeps the old dataset while loading"
            );
        }
        t.wait_for_sync(1);
        // on-empty-db loads from the socket only into an empty dataset; this replica had a key.
        let target = if mode == "swapdb" {
            "to parser"
        } else {
            "to disk"
        };
        assert!(
            t.logged(
                1,
                &format!("receiving streamed RDB from master with EOF {target}")
            ),
            "{mode}: {}",
            t.dump_logs()
        );
        assert_eq!(t.cmd(1, &["GET", "own"]), Reply::Null, "{mode}");
        assert_eq!(t.nodes[1].dbsize(), 20_001, "{mode}");
        assert_eq!(t.nodes[1].digest(), t.nodes[0].digest(), "{mode}");
        if mode == "swapdb" {
            assert!(t.logged(
                1,
                "MASTER <-> REPLICA sync: Swapping active DB with loaded DB"
            ));
        }
    }
}

#[test]
fn the_dirty_set_keeps_a_btreesets_order() {
    use super::node::SortedSet;
    let mut rng = crate::seed::SeedStream::derive(9, "sorted-set");
    let mut set = SortedSet::default();
    let mut reference = std::collections::BTreeSet::new();
    for step in 0..20_000 {
        match rng.below(10) {
            // Mostly ascending inserts, as a master marks its replicas; some anywhere.
            0..=3 => {
                let x = reference.last().map_or(0, |&l| l + rng.below(3));
                set.insert(x);
                reference.insert(x);
            }
            4..=5 => {
                let x = rng.below(200);
                set.insert(x);
                reference.insert(x);
            }
            6 => {
                let x = rng.below(200);
                set.remove(&x);
                reference.remove(&x);
            }
            _ => assert_eq!(set.pop_first(), reference.pop_first(), "step {step}"),
        }
        assert_eq!(set.is_empty(), reference.is_empty());
    }
    while let Some(x) = reference.pop_first() {
        assert_eq!(set.pop_first(), Some(x));
    }
    assert!(set.is_empty());
}

#[test]
fn replicaof_another_master_during_a_transfer_cancels_the_transfer() {
    // A slow diskless RDB from node 0 (100,000 synthetic keys at 1 MB/s, about 12 s).
    let mut t = Pair::new(3, |i| {
        if i == 0 {
            cfg(&[
                ("repl-diskless-sync-delay", "0"),
                ("replsim-rdb-save-rate", "1mb"),
            ])
        } else {
            Config::default()
        }
    });
    t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
        count: 100_000,
        key_bytes: 16,
        value_bytes: 100,
    }));
    t.cmd(2, &["SET", "only-on-2", "x"]);
    t.replicaof(1, 0);
    t.run_until_cond(secs(10), |t| {
        t.nodes[1].repl_state() == super::ReplState::Transfer
    });
    t.run_for(secs(1));
    assert!(
        t.info_u64(1, "master_sync_read_bytes") > 0,
        "bytes are flowing"
    );
    t.replicaof(1, 2);
    // Node 2 waits repl-diskless-sync-delay (5 s) before it forks.
    t.run_for(secs(8));
    // The old transfer went with its connection: the new sync is not disturbed by it.
    assert!(t.link_up(1), "{}", t.dump_logs());
    assert!(!t.logged(1, "unexpected opaque bytes"));
    assert_eq!(t.count_logged(1, "MASTER <-> REPLICA sync started"), 2);
    assert_eq!(t.nodes[1].digest(), t.nodes[2].digest());
    assert_eq!(t.cmd(1, &["GET", "only-on-2"]), Reply::bulk("x"));
    // The old master saw its replica go and stopped feeding it.
    assert!(t.logged(0, "Connection with replica"));
}

#[test]
fn a_master_continuing_a_psync_without_history_is_dropped_not_obeyed() {
    use super::node::{Action, Node, NodeParams};
    use crate::time::SimTime;
    let mut n = Node::boot(
        SimTime::ZERO,
        NodeParams {
            name: "r".into(),
            ip: ip(1),
            port: 6379,
            config: Config::default(),
            replicaof: Some((ip(0), 6379)),
            seed: 1,
        },
        None,
    );
    let mut now = SimTime::ZERO + secs(1);
    n.handle_timeout(now);
    let conn = loop {
        match n.poll_action() {
            Some(Action::Connect { conn, .. }) => break conn,
            Some(_) => {}
            None => panic!("a configured replica connects at its first cron tick"),
        }
    };
    n.handle_connected(now, conn);
    let mut cap = Capture::default();
    n.poll_transmit(now, &mut cap);
    n.handle_data(now, conn, b"+PONG\r\n+OK\r\n+OK\r\n");
    n.poll_transmit(now, &mut cap);
    let sent = String::from_utf8_lossy(&cap.0[&conn]).to_string();
    assert!(
        sent.ends_with("*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n"),
        "{sent:?}"
    );
    // `+CONTINUE` to `PSYNC ? -1`: there is no history to continue.
    n.handle_data(now, conn, b"+CONTINUE\r\n");
    assert_eq!(n.repl_state(), super::ReplState::Connect);
    assert_eq!(n.poll_action(), Some(Action::Close { conn }));
    let logs: Vec<String> = std::iter::from_fn(|| n.poll_log())
        .map(|l| l.to_string())
        .collect();
    assert!(
        logs.iter()
            .any(|l| l.contains("+CONTINUE without a cached master")),
        "{logs:#?}"
    );
    // The next cron tick tries again.
    now += secs(1);
    n.handle_timeout(now);
    assert!(matches!(n.poll_action(), Some(Action::Connect { .. })));
}

// ----- the command table -----

/// PSYNC and SYNC from a connection used to reach `syncCommand` without the arity check: a PSYNC
/// with fewer than two arguments indexed past them and panicked the node, and a SYNC with
/// arguments started a full sync. Redis answers the arity error.
#[test]
fn psync_and_sync_with_a_wrong_argument_count_get_the_arity_error() {
    let mut t = Pair::new(1, |_| Config::default());
    for (line, name) in [
        ("PSYNC", "psync"),
        ("psync ?", "psync"),
        ("SYNC x", "sync"),
        ("sync ? -1", "sync"),
    ] {
        let c = raw_conn(&mut t, 0);
        let r = raw(&mut t, 0, c, &format!("{line}\r\n"));
        let arity = format!("-ERR wrong number of arguments for '{name}' command\r\n");
        assert_eq!(r, arity, "{line}");
        assert_eq!(
            raw(&mut t, 0, c, "PING\r\n"),
            "+PONG\r\n",
            "{line}: still a client"
        );
    }
    t.run_for(secs(2));
    assert_eq!(t.info_u64(0, "sync_full"), 0);
    assert_eq!(t.info_u64(0, "connected_slaves"), 0);
}

/// Every command in the table, and every subcommand of a container, with every argc from its name
/// alone to two past its arity, on a connection and from an in-process client, with and without
/// requirepass. No count panics the node; a count the arity refuses gets Redis's arity error,
/// before NOAUTH as in `processCommand`; an accepted one gets NOAUTH while unauthenticated. A
/// container given an argument that names no subcommand answers so, also before NOAUTH.
#[test]
fn every_command_with_any_argument_count_gets_redis_arity_error_and_never_panics() {
    use super::commands::{all, Flags};
    let noauth = "NOAUTH Authentication required.";
    // Each command with the words that name it: `config get` for `config|get`.
    let mut commands: Vec<(&super::commands::Command, Vec<&str>)> = Vec::new();
    for cmd in all() {
        commands.push((cmd, vec![cmd.name]));
        for sub in cmd.subcommands {
            let (container, own) = sub.name.split_once('|').expect("container|subcommand");
            assert_eq!(container, cmd.name);
            commands.push((sub, vec![container, own]));
        }
    }
    for requirepass in [false, true] {
        for (cmd, words) in &commands {
            for argc in words.len()..=cmd.arity.unsigned_abs() as usize + 2 {
                let mut args = words.clone();
                args.resize(argc, "x");
                let line = args.join(" ");
                let what = format!("{line} (requirepass {requirepass})");
                let mut t = Pair::new(1, |_| match requirepass {
                    true => cfg(&[("requirepass", "secret")]),
                    false => Config::default(),
                });
                let c = raw_conn(&mut t, 0);
                let on_conn = raw(&mut t, 0, c, &format!("{line}\r\n"));
                let local = t.cmd(0, &args);
                t.run_for(secs(2));
                // `rejectCommand`: a refused EXEC discards its transaction, naming the refusal.
                let refused = |e: &str| match cmd.name {
                    "exec" => format!(
                        "EXECABORT Transaction discarded because of: {}",
                        e.trim_start_matches("ERR ")
                    ),
                    _ => e.to_string(),
                };
                let expected = if !cmd.accepts(argc) {
                    format!("ERR wrong number of arguments for '{}' command", cmd.name)
                } else if !cmd.subcommands.is_empty() {
                    let name = cmd.name.to_ascii_uppercase();
                    format!("ERR unknown subcommand 'x'. Try {name} HELP.")
                } else if requirepass && !cmd.flags.contains(Flags::NO_AUTH) {
                    noauth.to_string()
                } else {
                    continue;
                };
                assert_eq!(on_conn, format!("-{}\r\n", refused(&expected)), "{what}");
                assert_eq!(local, Reply::err(refused(&expected)), "{what}");
            }
        }
    }
}

/// An empty command (`*0`) is skipped, as `processInputBuffer` skips it: no reply, and the
/// connection goes on.
#[test]
fn an_empty_command_gets_no_reply() {
    let mut t = Pair::new(1, |_| Config::default());
    let c = raw_conn(&mut t, 0);
    assert_eq!(raw(&mut t, 0, c, "*0\r\n*-1\r\n"), "");
    assert_eq!(raw(&mut t, 0, c, "*1\r\n$4\r\nPING\r\n"), "+PONG\r\n");
}

/// Replies to argument counts that handlers check themselves, or that Redis refuses in its own
/// way, each as a Redis 7.0.15 server answers it.
#[test]
fn argument_counts_checked_by_handlers_get_redis_replies() {
    for (line, redis) in [
        ("PING a b", "-ERR wrong number of arguments for 'ping' command"),
        ("MSET k v k", "-ERR wrong number of arguments for 'mset' command"),
        ("MSET k v k v", "+OK"),
        ("SET k v x", "-ERR syntax error"),
        ("AUTH a b c", "-ERR syntax error"),
        ("REPLCONF x", "-ERR syntax error"),
        ("REPLCONF", "+OK"),
        ("PSYNC a b c", "-ERR value is not an integer or out of range"),
        ("PSYNC a b c d", "-ERR value is not an integer or out of range"),
        ("FLUSHALL x", "-ERR syntax error"),
        ("FLUSHALL ASYNC x", "-ERR syntax error"),
        ("FLUSHALL async", "+OK"),
        ("FLUSHDB x", "-ERR syntax error"),
        ("FLUSHDB SYNC x", "-ERR syntax error"),
        ("flushdb sync", "+OK"),
        ("CONFIG", "-ERR wrong number of arguments for 'config' command"),
        ("config x", "-ERR unknown subcommand 'x'. Try CONFIG HELP."),
        ("CONFIG GET", "-ERR wrong number of arguments for 'config|get' command"),
        ("CONFIG SET a", "-ERR wrong number of arguments for 'config|set' command"),
        ("CONFIG SET a b c", "-ERR syntax error"),
        ("CONFIG RESETSTAT x", "-ERR wrong number of arguments for 'config|resetstat' command"),
        ("EXEC x", "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"),
    ] {
        let mut t = Pair::new(1, |_| Config::default());
        let c = raw_conn(&mut t, 0);
        assert_eq!(raw(&mut t, 0, c, &format!("{line}\r\n")), format!("{redis}\r\n"), "{line}");
    }
    let mut t = Pair::new(1, |_| Config::default());
    t.cmd(0, &["SET", "k", "v"]);
    t.cmd(0, &["FLUSHALL", "x"]);
    t.cmd(0, &["FLUSHDB", "async", "x"]);
    assert_eq!(
        t.cmd(0, &["DBSIZE"]),
        Reply::Integer(1),
        "a refused flush keeps the data"
    );
    let c = raw_conn(&mut t, 0);
    let r = raw(&mut t, 0, c, "PSYNC ? -1 x\r\n");
    let replid = t.info(0, "master_replid");
    assert_eq!(
        r,
        format!("+FULLRESYNC {replid} 0\r\n"),
        "a third argument is ignored"
    );
    let mut t = Pair::new(1, |_| cfg(&[("requirepass", "secret")]));
    let c = raw_conn(&mut t, 0);
    assert_eq!(
        raw(&mut t, 0, c, "EXEC\r\n"),
        "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"
    );
}

/// ECHO carries Redis's LOADING and STALE flags, MULTI and EXEC its STALE: a replica answers them
/// while it loads and while its link is down with replica-serve-stale-data no, where GET gets
/// LOADING and MASTERDOWN.
#[test]
fn echo_multi_and_exec_are_answered_while_loading_and_while_the_link_is_down() {
    let not_modelled =
        Reply::err("ERR MULTI/EXEC are not supported by this simulator for in-process clients");
    let mut t = Pair::new(2, |i| match i {
        1 => cfg(&[("replsim-rdb-load-rate", "1mb")]),
        _ => cfg(&[("repl-diskless-sync", "no")]),
    });
    t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
        count: 100_000,
        key_bytes: 16,
        value_bytes: 100,
    }));
    t.replicaof(1, 0);
    t.run_until_cond(secs(30), |t| t.nodes[1].is_loading());
    assert_eq!(
        t.cmd(1, &["GET", "a"]),
        Reply::err("LOADING Redis is loading the dataset in memory")
    );
    assert_eq!(t.cmd(1, &["ECHO", "hi"]), Reply::bulk("hi"));
    t.wait_for_sync(1);
    t.cmd(1, &["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    t.cut(0, 1);
    t.kill_link(0, 1);
    assert_eq!(
        t.cmd(1, &["GET", "a"]),
        Reply::err(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
        )
    );
    assert_eq!(t.cmd(1, &["ECHO", "hi"]), Reply::bulk("hi"));
    assert_eq!(t.cmd(1, &["MULTI"]), not_modelled);
    assert_eq!(t.cmd(1, &["EXEC"]), not_modelled);
}

/// CONFIG SET and CONFIG GET of replication directives, in turn on one connection, each
/// answered as a Redis 7.0.15 server started with `save ""` answers it (the experiment
/// `config_set` compares more of them live): bounds and texts of bad values, aliases answered
/// under the spelling asked for, immutable directives, duplicates, and unknown names checked
/// before any value.
#[test]
fn config_set_and_get_answer_like_redis() {
    let mut t = Pair::new(1, |_| cfg(&[("save", "")]));
    let c = raw_conn(&mut t, 0);
    for (line, redis) in [
        ("CONFIG SET repl-backlog-size 0", "-ERR CONFIG SET failed (possibly related to argument 'repl-backlog-size') - argument must be between 1 and 9223372036854775807 inclusive"),
        ("CONFIG SET repl-backlog-size 5", "+OK"),
        ("CONFIG GET repl-backlog-size", "*2\r\n$17\r\nrepl-backlog-size\r\n$5\r\n16384"),
        ("CONFIG SET repl-backlog-ttl -1", "-ERR CONFIG SET failed (possibly related to argument 'repl-backlog-ttl') - argument must be between 0 and 9223372036854775807 inclusive"),
        ("CONFIG SET repl-timeout 007", "-ERR CONFIG SET failed (possibly related to argument 'repl-timeout') - argument couldn't be parsed into an integer"),
        ("CONFIG SET REPL-TIMEOUT -1", "-ERR CONFIG SET failed (possibly related to argument 'repl-timeout') - argument must be between 1 and 2147483647 inclusive"),
        ("CONFIG SET repl-ping-slave-period 7", "+OK"),
        ("CONFIG GET repl-ping-slave-period", "*2\r\n$22\r\nrepl-ping-slave-period\r\n$1\r\n7"),
        ("CONFIG GET REPL-TIMEOUT repl-timeout", "*2\r\n$12\r\nREPL-TIMEOUT\r\n$2\r\n60"),
        ("CONFIG GET *lave-period*", "*2\r\n$22\r\nrepl-ping-slave-period\r\n$1\r\n7"),
        ("CONFIG SET min-slaves-max-lag -1", "-ERR CONFIG SET failed (possibly related to argument 'min-slaves-max-lag') - argument must be between 0 and 2147483647 inclusive"),
        ("CONFIG SET client-output-buffer-limit \"bogus x 2 3\"", "-ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client class specified in buffer limit configuration."),
        ("CONFIG SET databases 32", "-ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config"),
        ("CONFIG SET RDBCHECKSUM no", "-ERR CONFIG SET failed (possibly related to argument 'RDBCHECKSUM') - can't set immutable config"),
        ("CONFIG SET repl-timeout 5 REPL-TIMEOUT 6", "-ERR CONFIG SET failed (possibly related to argument 'REPL-TIMEOUT') - duplicate parameter"),
        ("CONFIG SET repl-timeout -1 nosuch 1", "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"),
        ("CONFIG SET repl-timeout 9 NoSuch 1", "-ERR Unknown option or number of arguments for CONFIG SET - 'NoSuch'"),
        ("CONFIG SET repl-timeout 5 repl-ping-slave-period 6 repl-ping-replica-period 8", "+OK"),
        ("CONFIG GET repl-timeout repl-ping-replica-period", "*4\r\n$12\r\nrepl-timeout\r\n$1\r\n5\r\n$24\r\nrepl-ping-replica-period\r\n$1\r\n8"),
        ("CONFIG SET save \"1 2 3\"", "-ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"),
        ("CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n"),
    ] {
        assert_eq!(raw(&mut t, 0, c, &format!("{line}\r\n")), format!("{redis}\r\n"), "{line}");
    }
}

/// A disk-based full sync dropped for its output buffer while the BGSAVE runs. The replica was
/// still reading the bulk count (`$<len>` not sent yet), and logs what readSyncBulkPayload logs
/// then, but only once its socket closes: the BGSAVE child holds it too. Without a save point
/// the child is killed with the last replica (freeClient) and the close arrives at once; with
/// one it arrives when the RDB is saved, two seconds later. The master writes the lost link as
/// a warning under `redis-version 7.0`, as a notice under 7.2 (networking.c: freeClient).
#[test]
fn a_replica_dropped_during_a_disk_bgsave_learns_of_it_when_the_child_exits() {
    for (version, level, save, noticed_ms) in [
        ("7.0", Level::Warning, "", 0..10),
        ("7.2", Level::Notice, "3600 1", 1500..2500),
    ] {
        let mut t = Pair::new(2, |_| {
            cfg(&[
                ("repl-diskless-sync", "no"),
                ("repl-backlog-size", "16kb"),
                ("client-output-buffer-limit", "replica 64kb 0 0"),
                ("replsim-rdb-save-rate", "100kb"),
                ("save", save),
                ("redis-version", version),
            ])
        });
        t.set_keys(0, 2000, &"v".repeat(100));
        t.run_for(ms(1500));
        t.replicaof(1, 0);
        t.run_for(ms(100));
        assert_eq!(t.info(1, "master_sync_in_progress"), "1");
        t.set_keys(0, 1000, &"x".repeat(100));
        let lost = t.logs[0]
            .iter()
            .find(|l| l.message.starts_with("Connection with replica"))
            .expect("the master dropped the replica")
            .clone();
        assert_eq!(lost.level, level, "{version}");
        let noticed = "I/O error reading bulk count from MASTER: Success";
        t.run_until_cond(secs(5), |t| t.logged(1, noticed));
        let at = t.logs[1]
            .iter()
            .find(|l| l.message == noticed)
            .expect("logged")
            .time;
        assert!(
            noticed_ms.contains(&(at - lost.time).as_millis()),
            "{version}: noticed {:?} after the drop",
            at - lost.time
        );
        assert!(!t.logged(1, "I/O error trying to sync with MASTER"));
    }
}

/// The lines whose level 7.2 lowered to a notice are warnings under `redis-version 7.0`, and
/// 7.0's ready line does not name the connection type.
#[test]
fn redis_7_0_logs_its_own_levels_and_ready_line() {
    for (version, level, ready) in [
        ("7.0", Level::Warning, "Ready to accept connections"),
        ("7.2", Level::Notice, "Ready to accept connections tcp"),
    ] {
        let mut t = Pair::new(2, |_| cfg(&[("redis-version", version)]));
        t.run_for(ms(1500));
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        t.kill_link(0, 1);
        t.run_for(secs(2));
        for i in 0..2 {
            assert!(t.logs[i].iter().any(|l| l.message == ready), "{version}");
        }
        let level_of = |i: usize, start: &str| {
            t.logs[i]
                .iter()
                .find(|l| l.message.starts_with(start))
                .unwrap_or_else(|| panic!("{start}: {}", t.dump_logs()))
                .level
        };
        assert_eq!(level_of(0, "Server initialized"), level, "{version}");
        assert_eq!(level_of(1, "Connection with master lost."), level);
        assert_eq!(level_of(0, "Connection with replica"), level);
        assert_eq!(
            level_of(0, "Diskless rdb transfer, done reading from pipe"),
            level
        );
    }
}

/// WAIT after a command that propagated nothing, the only replica frozen: Redis 7.0 set the
/// client's WAIT offset after every command it ran (server.c: processCommand), so the WAIT
/// waits for the master's whole stream and times out; 7.2 moves it only on a propagated write
/// (server.c: call), so a fresh client's WAIT is satisfied at once. Measured on 7.0.15 by the
/// experiment `writes`.
#[test]
fn a_wait_after_a_write_that_propagated_nothing_waits_for_the_stream_under_7_0_only() {
    for (version, expect, waited) in [("7.0", 0, true), ("7.2", 1, false)] {
        let mut t = Pair::new(2, |_| {
            cfg(&[
                ("repl-diskless-sync-delay", "0"),
                ("redis-version", version),
            ])
        });
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        t.run_for(secs(2));
        t.freeze(1);
        t.cmd(0, &["SET", "k", "v"]);
        let c = super::node::ClientId(9);
        assert_eq!(t.cmd_as(0, c, &["DEL", "no-such-key"]), Reply::Integer(0));
        let start = t.now;
        assert_eq!(
            t.cmd_as(0, c, &["WAIT", "1", "200"]),
            Reply::Integer(expect),
            "{version}"
        );
        assert_eq!(t.now - start >= ms(200), waited, "{version}");
    }
}

/// What node `i` has queued on a raw connection since. The pair's network cannot carry it, so
/// it waits in the connection's output until read here; every other connection's output is
/// left to the pair's network ([`Pair::drain_all`] first).
fn raw_pending(t: &mut Pair, i: usize, conn: ConnId) -> String {
    struct Only(ConnId, Vec<u8>);
    impl Transmit for Only {
        fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
            if conn != self.0 {
                return 0;
            }
            self.1.extend_from_slice(bytes);
            bytes.len()
        }
        fn send_opaque(&mut self, _conn: ConnId, _len: u64) -> u64 {
            0
        }
    }
    t.drain_all();
    let now = t.now;
    t.nodes[i].handle_writable(now, conn);
    let mut only = Only(conn, Vec::new());
    t.nodes[i].poll_transmit(now, &mut only);
    String::from_utf8_lossy(&only.1).to_string()
}

/// Sends `bytes` on a raw connection, letting the node's replication traffic go on, and
/// returns what the node wrote back at once.
fn raw_send(t: &mut Pair, i: usize, conn: ConnId, bytes: &str) -> String {
    let now = t.now;
    t.nodes[i].handle_data(now, conn, bytes.as_bytes());
    raw_pending(t, i, conn)
}

/// WAIT on a network connection blocks that connection as Redis blocks a client: no reply and
/// nothing more read from it until enough replicas acknowledge its last write or the timeout
/// passes; what it sent meanwhile is answered after (`replsim live` serves WAIT this way).
#[test]
fn wait_on_a_connection_blocks_it_until_its_write_is_acked_or_the_timeout() {
    let mut t = synced(10);
    let c = raw_conn(&mut t, 0);
    assert_eq!(raw_send(&mut t, 0, c, "SET k v\r\n"), "+OK\r\n");
    assert_eq!(
        raw_send(&mut t, 0, c, "WAIT 1 0\r\n"),
        "",
        "until the replica's ACK"
    );
    t.run_for(ms(10));
    assert_eq!(raw_pending(&mut t, 0, c), ":1\r\n");
    t.freeze(1);
    assert_eq!(
        raw_send(&mut t, 0, c, "SET k w\r\nWAIT 1 200\r\nPING\r\n"),
        "+OK\r\n",
        "the PING waits behind the WAIT"
    );
    t.run_for(ms(150));
    assert_eq!(raw_pending(&mut t, 0, c), "");
    t.run_for(ms(60));
    assert_eq!(raw_pending(&mut t, 0, c), ":0\r\n+PONG\r\n");
    // A connection that goes while blocked leaves no WAIT behind.
    let d = raw_conn(&mut t, 0);
    assert_eq!(raw_send(&mut t, 0, d, "SET k x\r\nWAIT 1 0\r\n"), "+OK\r\n");
    assert!(t.nodes[0].clients.any_blocked());
    let now = t.now;
    t.nodes[0].handle_eof(now, d);
    assert!(!t.nodes[0].clients.any_blocked());
}

/// WAIT queued in a transaction does not block: EXEC runs it while the client is still in
/// MULTI, and waitCommand answers with the count at once (`c->flags & CLIENT_MULTI`), here one
/// replica of the two it asks for, where outside a transaction `WAIT 2 0` would wait for ever.
#[test]
fn wait_inside_exec_answers_at_once() {
    let mut t = synced(10);
    let c = raw_conn(&mut t, 0);
    assert_eq!(
        raw_send(&mut t, 0, c, "MULTI\r\nSET k v\r\nWAIT 2 0\r\nEXEC\r\n"),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:1\r\n"
    );
    assert!(!t.nodes[0].clients.any_blocked());
    // After a write outside the transaction that no replica has acknowledged yet, the count is
    // 0, still at once (redis-server 7.0.15 answers the same two sequences with 1 and 0).
    assert_eq!(
        raw_send(
            &mut t,
            0,
            c,
            "SET k v\r\nMULTI\r\nSET k v\r\nWAIT 2 0\r\nEXEC\r\n"
        ),
        "+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:0\r\n"
    );
    assert!(!t.nodes[0].clients.any_blocked());
}

/// A master that closes the connection while the replica waits for a handshake reply: the
/// failed read, then what the step does about it, in Redis 7.0.15's words (a real master shut
/// down during PSYNC gave exactly these two lines).
#[test]
fn a_master_gone_during_the_handshake_is_logged_as_redis_does() {
    use super::pair::{Scripted, Stage};
    let read = "Failed to read response from the server: Success";
    let no_response = "Master did not respond to command during SYNC handshake";
    let no_psync = "Master did not reply to PSYNC, will try later";
    for (stage, said, not_said) in [
        (Stage::Ping, no_response, no_psync),
        (Stage::Psync, no_psync, no_response),
    ] {
        let mut s = Scripted::at(stage, Config::default());
        s.eof();
        assert!(s.logged(read), "{stage:?}");
        assert!(s.logged(said), "{stage:?}");
        assert!(!s.logged(not_said), "{stage:?}");
        assert!(
            s.closed(s.conn),
            "{stage:?}: the replica gave the connection up"
        );
    }
}
