//! A real master, a replsim replica: the handshake, both full-sync framings, a real RDB, the
//! replication stream command by command, partial resyncs and promotions.

use super::support::*;

/// A real master started with `master_args` and a live replsim replica of it, linked up.
fn pair(master_args: &[&str], replica_set: &[(&str, &str)]) -> Option<(Redis, Live)> {
    if !have_redis() {
        return None;
    }
    let m = Redis::start(master_args);
    let l = Live::replica_of(m.port, replica_set);
    wait_until("the replsim replica's link to come up", || l.link_up());
    // The master counts a diskless replica online at its first ACK after the fork child's exit
    // was noticed; until then WAIT does not count it (replication.c `replicaPutOnline`).
    let mut mc = m.client();
    let want = format!("port={},state=online", l.port());
    wait_until("the master to count the replica online", || {
        mc.field("replication", "slave0").contains(&want)
    });
    Some((m, l))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// Runs each step on the real master (one connection, so SELECT carries over) and, after each,
/// wants the replica's offset and dataset equal to the master's.
fn stepwise(master_args: &[&str], steps: &[Vec<String>]) {
    let Some((m, l)) = pair(master_args, &[]) else {
        return;
    };
    let mut c = m.client();
    for step in steps {
        let args: Vec<&str> = step.iter().map(String::as_str).collect();
        let r = c.cmd(&args);
        assert!(
            !matches!(r, Reply::Error(_)),
            "{step:?} failed on the real master: {r:?}"
        );
        real_to_live(&m, &l, &format!("after {step:?}"));
    }
    assert!(
        !l.messages().iter().any(|m| m.contains("CRITICAL")),
        "the replica refused a command of the stream: {:?}",
        l.messages()
    );
}

fn s(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Loads a dataset with every string encoding an RDB has into the real master.
fn load_varied_dataset(c: &mut Client) {
    let long_repetitive = "abc".repeat(700);
    let run = "a".repeat(5000);
    let far = (unix_ms() + 3_600_000).to_string();
    let cmds: Vec<Vec<&str>> = vec![
        vec!["SET", "plain", "hello"],
        vec!["SET", "empty", ""],
        vec!["SET", "spaces in key", "value with spaces"],
        vec!["SET", "binary", "a\r\nb\0c"],
        // Integer encodings: INT8, INT16, INT32, and strings that only look like integers.
        vec!["SET", "i8", "-7"],
        vec!["SET", "i8max", "127"],
        vec!["SET", "i16", "32767"],
        vec!["SET", "i16b", "-32768"],
        vec!["SET", "i32", "2147483647"],
        vec!["SET", "i32min", "-2147483648"],
        vec!["SET", "beyond32", "2147483648"],
        vec!["SET", "leading0", "007"],
        vec!["SET", "float", "3.14"],
        // LZF: Redis compresses strings over 20 bytes that shrink.
        vec!["SET", "lzf-abc", &long_repetitive],
        vec!["SET", "lzf-run", &run],
        vec!["SET", "ttl-ex", "x", "EX", "1000"],
        vec!["SET", "ttl-pxat", "y", "PXAT", &far],
        vec!["SELECT", "3"],
        vec!["SET", "db3", "three"],
        vec!["SET", "db3-int", "42", "EX", "500"],
        vec!["SELECT", "15"],
        vec!["SET", "db15", &long_repetitive],
        vec!["SELECT", "0"],
    ];
    for cmd in cmds {
        assert!(!matches!(c.cmd(&cmd), Reply::Error(_)), "{cmd:?}");
    }
}

#[test]
fn the_handshake_is_the_one_redis_expects() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let mut mc = m.client();
    let port = l.port();
    let info = mc.info("replication");
    assert_eq!(info["connected_slaves"], "1");
    assert!(
        info["slave0"].starts_with(&format!("ip=127.0.0.1,port={port},state=online,")),
        "{info:?}"
    );
    let mlog = m.log();
    for line in [
        format!("Replica 127.0.0.1:{port} asks for synchronization"),
        format!("Full resync requested by replica 127.0.0.1:{port}"),
        format!("Synchronization with replica 127.0.0.1:{port} succeeded"),
    ] {
        assert!(mlog.contains(&line), "master log lacks {line:?}:\n{mlog}");
    }
    let replid = info["master_replid"].clone();
    let msgs = l.messages();
    for want in [
        "Master replied to PING, replication can continue...".to_string(),
        "Partial resynchronization not possible (no cached master)".to_string(),
        format!("Full resync from master: {replid}:0"),
        "MASTER <-> REPLICA sync: Finished with success".to_string(),
    ] {
        assert!(msgs.contains(&want), "replica log lacks {want:?}: {msgs:?}");
    }
    // And over its own port, as redis-cli sees it.
    let ours = l.client().info("replication");
    assert_eq!(ours["master_link_status"], "up");
    assert_eq!(ours["master_replid"], replid);
    assert_eq!(ours["master_port"], m.port.to_string());
}

#[test]
fn a_diskless_full_sync_arrives_with_eof_framing() {
    if !have_redis() {
        return;
    }
    let m = Redis::start(&["--repl-diskless-sync", "yes"]);
    load_varied_dataset(&mut m.client());
    let l = Live::replica_of(m.port, &[]);
    wait_until("link up", || l.link_up());
    assert!(m
        .log()
        .contains("Starting BGSAVE for SYNC with target: replicas sockets"));
    assert!(
        l.has_log("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk")
    );
    let (_, data) = real_to_live(&m, &l, "after a diskless full sync");
    assert_eq!(data.len(), 20);
}

#[test]
fn a_disk_full_sync_arrives_with_length_framing() {
    if !have_redis() {
        return;
    }
    let m = Redis::start(&["--repl-diskless-sync", "no"]);
    load_varied_dataset(&mut m.client());
    let l = Live::replica_of(m.port, &[]);
    wait_until("link up", || l.link_up());
    assert!(m
        .log()
        .contains("Starting BGSAVE for SYNC with target: disk"));
    let line = l
        .messages()
        .into_iter()
        .find(|m| {
            m.starts_with("MASTER <-> REPLICA sync: receiving ")
                && m.ends_with(" bytes from master to disk")
        })
        .expect("a $<len> transfer");
    // The length Redis announced is the size of the RDB file it wrote for the sync (kept:
    // `rdb-del-sync-files` is off by default).
    let len = std::fs::metadata(m.dir().join("dump.rdb"))
        .expect("Redis wrote dump.rdb for the sync")
        .len();
    assert_eq!(
        line,
        format!("MASTER <-> REPLICA sync: receiving {len} bytes from master to disk")
    );
    real_to_live(&m, &l, "after a disk full sync");
}

#[test]
fn a_real_rdb_with_every_string_encoding_loads_key_for_key() {
    if !have_redis() {
        return;
    }
    let m = Redis::start(&["--repl-diskless-sync", "no", "--rdbcompression", "yes"]);
    load_varied_dataset(&mut m.client());
    let l = Live::replica_of(m.port, &[]);
    wait_until("link up", || l.link_up());
    let (_, data) = real_to_live(&m, &l, "after loading Redis's RDB");
    // Absolute expiry times survive to the millisecond, in three databases.
    assert!(data.keys().any(|(db, _)| *db == 3));
    assert!(data.keys().any(|(db, _)| *db == 15));
    assert_eq!(data.values().filter(|(_, at)| at.is_some()).count(), 3);
    let msgs = l.messages();
    assert!(msgs.contains(&"Loading RDB produced by version 7.0.15".to_string()));
    assert!(
        msgs.contains(&"Done loading RDB, keys loaded: 20, keys expired: 0.".to_string()),
        "{msgs:?}"
    );
}

#[test]
fn a_diskless_load_swapdb_replica_loads_the_same() {
    if !have_redis() {
        return;
    }
    let m = Redis::start(&[]);
    load_varied_dataset(&mut m.client());
    let l = Live::replica_of(m.port, &[("repl-diskless-load", "swapdb")]);
    wait_until("link up", || l.link_up());
    assert!(l.has_log("receiving streamed RDB from master with EOF to parser"));
    real_to_live(&m, &l, "after a swapdb diskless load");
}

#[test]
fn set_with_every_expiry_option_replicates_exactly() {
    let at_s = (unix_ms() / 1000 + 500).to_string();
    let at_ms = (unix_ms() + 400_000).to_string();
    stepwise(
        &[],
        &[
            s(&["SET", "ex", "1", "EX", "100"]),
            s(&["SET", "px", "2", "PX", "100000"]),
            s(&["SET", "exat", "3", "EXAT", &at_s]),
            s(&["SET", "pxat", "4", "PXAT", &at_ms]),
            s(&["SET", "ex", "5", "KEEPTTL"]),
            s(&["SET", "px", "6"]),
        ],
    );
}

#[test]
fn set_nx_xx_and_get_replicate_exactly() {
    stepwise(
        &[],
        &[
            s(&["SET", "n", "1", "NX"]),
            s(&["SET", "n", "2", "NX"]),
            s(&["SET", "n", "3", "XX"]),
            s(&["SET", "absent", "1", "XX"]),
            s(&["SET", "n", "4", "GET"]),
            s(&["SET", "fresh", "5", "GET"]),
            s(&["SET", "n", "6", "NX", "GET"]),
            s(&["SET", "n", "7", "XX", "GET", "EX", "60"]),
        ],
    );
}

#[test]
fn incr_incrbyfloat_and_append_replicate_exactly() {
    stepwise(
        &[],
        &[
            s(&["INCR", "c"]),
            s(&["INCRBY", "c", "41"]),
            s(&["INCRBYFLOAT", "f", "1.5"]),
            s(&["INCRBYFLOAT", "f", "2.25"]),
            s(&["SET", "g", "10", "EX", "1000"]),
            // Propagated as SET g 10.5 KEEPTTL: the expiry stays.
            s(&["INCRBYFLOAT", "g", "0.5"]),
            s(&["APPEND", "s", "hello"]),
            s(&["APPEND", "s", " world"]),
            s(&["APPEND", "c", "7"]),
            s(&["INCR", "c"]),
        ],
    );
}

#[test]
fn mset_and_del_replicate_exactly() {
    stepwise(
        &[],
        &[
            s(&["MSET", "a", "1", "b", "2", "c", "3"]),
            s(&["DEL", "a", "b", "missing"]),
            s(&["DEL", "missing"]),
            s(&["MSET", "a", "x", "c", "y"]),
            s(&["DEL", "a", "c"]),
        ],
    );
}

#[test]
fn expire_pexpire_expireat_and_persist_replicate_exactly() {
    let at_s = (unix_ms() / 1000 + 900).to_string();
    stepwise(
        &[],
        &[
            s(&["SET", "k", "v"]),
            s(&["EXPIRE", "k", "100"]),
            s(&["PEXPIRE", "k", "200000"]),
            s(&["EXPIREAT", "k", &at_s]),
            s(&["PERSIST", "k"]),
            s(&["EXPIRE", "k", "50", "NX"]),
            s(&["EXPIRE", "k", "500", "GT"]),
            s(&["EXPIRE", "missing", "10"]),
            s(&["PERSIST", "k"]),
        ],
    );
}

#[test]
fn select_moves_the_stream_between_databases() {
    stepwise(
        &[],
        &[
            s(&["SET", "zero", "0"]),
            s(&["SELECT", "3"]),
            s(&["SET", "three", "3"]),
            s(&["SELECT", "15"]),
            s(&["SET", "fifteen", "15"]),
            s(&["INCR", "fifteen"]),
            s(&["SELECT", "0"]),
            s(&["DEL", "zero"]),
        ],
    );
}

#[test]
fn multi_exec_is_applied_as_one_unit() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let mut c = m.client();
    for cmd in [
        &["MULTI"][..],
        &["SET", "a", "1"],
        &["INCR", "a"],
        &["SELECT", "2"],
        &["SET", "b", "x", "EX", "100"],
        &["EXEC"],
    ] {
        c.cmd(cmd);
    }
    real_to_live(&m, &l, "after MULTI/EXEC");
    // A transaction with nothing to propagate, and one with reads only.
    for cmd in [
        &["MULTI"][..],
        &["EXEC"],
        &["MULTI"],
        &["GET", "a"],
        &["EXEC"],
    ] {
        c.cmd(cmd);
    }
    real_to_live(&m, &l, "after empty and read-only transactions");
}

#[test]
fn flushall_and_flushdb_replicate_exactly() {
    stepwise(
        &[],
        &[
            s(&["SET", "a", "1"]),
            s(&["SELECT", "1"]),
            s(&["SET", "b", "2"]),
            s(&["FLUSHDB"]),
            s(&["SET", "c", "3"]),
            s(&["SELECT", "0"]),
            s(&["FLUSHALL"]),
            s(&["SET", "d", "4"]),
        ],
    );
}

#[test]
fn keys_that_expire_on_the_master_are_deleted_by_its_dels() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let mut c = m.client();
    c.cmd(&["SET", "lazy", "1", "PX", "30"]);
    c.cmd(&["SET", "active", "2", "PX", "30"]);
    c.cmd(&["SET", "stays", "3"]);
    std::thread::sleep(std::time::Duration::from_millis(60));
    // A read on the master deletes the expired key and propagates DEL.
    assert_eq!(c.cmd(&["GET", "lazy"]), Reply::Bulk(None));
    // The other goes by the master's active expiry cycle.
    wait_until("the master to expire `active`", || {
        c.field("keyspace", "db0").starts_with("keys=1,")
    });
    let (_, data) = real_to_live(&m, &l, "after the expiry DELs");
    assert_eq!(data.len(), 1);
}

#[test]
fn the_masters_pings_advance_both_offsets() {
    let Some((m, l)) = pair(&["--repl-ping-replica-period", "1"], &[]) else {
        return;
    };
    let mut c = m.client();
    let before = c.offset();
    wait_until("two PINGs from the master", || c.offset() >= before + 28);
    let (after, _) = real_to_live(&m, &l, "after PINGs");
    assert!(after >= before + 28);
}

#[test]
fn wait_gets_its_ack_through_replconf_getack() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let mut c = m.client();
    // After a diskless sync the master streams only from the replica's first ACK after it saw
    // the fork child exit (`repl_start_cmd_stream_on_ack`); that ACK comes with the replica's
    // next once-a-second ACK. Wait for the stream to flow first.
    c.cmd(&["SET", "w", "start"]);
    real_to_live(&m, &l, "the stream flowing");
    // The replica ACKs once a second by itself; WAIT returning well within that three times in
    // a row means it answered the GETACK each WAIT sent.
    for i in 0..3 {
        c.cmd(&["SET", "w", &i.to_string()]);
        let start = std::time::Instant::now();
        assert_eq!(c.cmd(&["WAIT", "1", "2000"]), Reply::Int(1));
        assert!(
            start.elapsed() < std::time::Duration::from_millis(300),
            "WAIT took {:?}",
            start.elapsed()
        );
    }
    let (off, _) = real_to_live(&m, &l, "after WAITs");
    wait_until("the master to see the replica's ACK of everything", || {
        c.field("replication", "slave0")
            .contains(&format!(",offset={off},"))
    });
}

#[test]
fn large_values_and_pipelined_bursts_keep_offsets_equal() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let mut c = m.client();
    let big = "v".repeat(1 << 20);
    c.cmd(&["SET", "big", &big]);
    let mut burst = Vec::new();
    for i in 0..5000 {
        let (k, v) = (format!("k{i}"), format!("value-{i}"));
        burst.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    c.send_bytes(&burst);
    for _ in 0..5000 {
        c.read_raw();
    }
    let (_, data) = real_to_live(&m, &l, "after a 1 MB value and 5,000 pipelined SETs");
    assert_eq!(data.len(), 5001);
}

#[test]
fn a_killed_link_resumes_with_continue_and_exactly_the_missed_bytes() {
    let Some((m, l)) = pair(&["--repl-ping-replica-period", "60"], &[]) else {
        return;
    };
    let mut c = m.client();
    c.cmd(&["SET", "before", "1"]);
    let (resume_from, _) = real_to_live(&m, &l, "before the kill");
    let replid = c.field("replication", "master_replid");
    {
        let _frozen = l.freeze();
        assert_eq!(c.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), Reply::Int(1));
        for i in 0..10 {
            c.cmd(&["SET", &format!("during{i}"), "x"]);
        }
    }
    wait_until("the partial resync", || {
        l.has_log("Successful partial resynchronization with master.")
    });
    let (now, _) = real_to_live(&m, &l, "after +CONTINUE");
    let port = l.port();
    let want = format!(
        "Partial resynchronization request from 127.0.0.1:{port} accepted. Sending {} bytes of backlog starting from offset {}.",
        now - resume_from,
        resume_from + 1
    );
    assert!(
        m.log().contains(&want),
        "master log lacks {want:?}:\n{}",
        m.log()
    );
    let msgs = l.messages();
    assert!(msgs.contains(&format!(
        "Trying a partial resynchronization (request {replid}:{}).",
        resume_from + 1
    )));
    let stats = c.info("stats");
    assert_eq!(
        (
            stats["sync_full"].as_str(),
            stats["sync_partial_ok"].as_str()
        ),
        ("1", "1")
    );
}

#[test]
fn a_gap_beyond_the_backlog_costs_a_full_sync() {
    let Some((m, l)) = pair(&["--repl-backlog-size", "16kb"], &[]) else {
        return;
    };
    let mut c = m.client();
    let (resume_from, _) = real_to_live(&m, &l, "before the kill");
    let value = "z".repeat(1000);
    {
        let _frozen = l.freeze();
        c.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
        for i in 0..200 {
            c.cmd(&["SET", &format!("gap{i}"), &value]);
        }
    }
    wait_until("a second full sync", || {
        l.messages()
            .iter()
            .filter(|m| m.starts_with("Full resync from master:"))
            .count()
            == 2
    });
    real_to_live(&m, &l, "after the second full sync");
    let want = format!(
        "Unable to partial resync with replica 127.0.0.1:{} for lack of backlog (Replica request was: {}).",
        l.port(),
        resume_from + 1
    );
    assert!(m.log().contains(&want), "master log lacks {want:?}");
    let stats = c.info("stats");
    assert_eq!(
        (
            stats["sync_full"].as_str(),
            stats["sync_partial_err"].as_str()
        ),
        ("2", "1")
    );
}

#[test]
fn a_promoted_replica_keeps_the_old_history_as_replid2_like_redis() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let r = Redis::start(&["--replicaof", "127.0.0.1", &m.port.to_string()]);
    let mut rc = r.client();
    wait_until("the real replica's link", || {
        rc.field("replication", "master_link_status") == "up"
    });
    m.client().cmd(&["SET", "k", "v"]);
    let (off, _) = real_to_live(&m, &l, "before the promotion");
    wait_until("the real replica to catch up", || {
        rc.field("replication", "slave_repl_offset") == off.to_string()
    });
    let old = m.client().field("replication", "master_replid");
    let mut lc = l.client();
    assert_eq!(
        lc.raw(&["REPLICAOF", "NO", "ONE"]),
        rc.raw(&["REPLICAOF", "NO", "ONE"])
    );
    let (ours, theirs) = (lc.info("replication"), rc.info("replication"));
    for field in [
        "role",
        "master_replid2",
        "second_repl_offset",
        "master_repl_offset",
    ] {
        assert_eq!(ours[field], theirs[field], "{field}");
    }
    assert_eq!(ours["master_replid2"], old);
    assert_eq!(ours["second_repl_offset"], (off + 1).to_string());
    assert_ne!(ours["master_replid"], old);
}

#[test]
fn replicating_from_a_promoted_real_replica_continues_through_its_replid2() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let b = Redis::start(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let l = Live::replica_of(a.port, &[]);
    let mut bc = b.client();
    wait_until("both links", || {
        l.link_up() && bc.field("replication", "master_link_status") == "up"
    });
    a.client().cmd(&["SET", "k", "v"]);
    let (off, _) = real_to_live(&a, &l, "before the promotion");
    wait_until("B to catch up", || {
        bc.field("replication", "slave_repl_offset") == off.to_string()
    });
    bc.cmd(&["REPLICAOF", "NO", "ONE"]);
    let new_id = bc.field("replication", "master_replid");
    l.client()
        .cmd(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    wait_until("the partial resync with B", || {
        l.has_log("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
            && l.link_up()
    });
    assert!(l.has_log(&format!("Master replication ID changed to {new_id}")));
    bc.cmd(&["SET", "after", "1"]);
    real_to_live(&b, &l, "after following the promoted replica");
    assert_eq!(bc.field("stats", "sync_partial_ok"), "1");
}

#[test]
fn role_and_info_replication_read_like_a_real_replica() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let r = Redis::start(&["--replicaof", "127.0.0.1", &m.port.to_string()]);
    let mut rc = r.client();
    wait_until("the real replica's link", || {
        rc.field("replication", "master_link_status") == "up"
    });
    m.client().cmd(&["SET", "k", "v"]);
    let (off, _) = real_to_live(&m, &l, "in sync");
    wait_until("the real replica to catch up", || {
        rc.field("replication", "slave_repl_offset") == off.to_string()
    });
    let mut lc = l.client();
    assert_eq!(lc.raw(&["ROLE"]), rc.raw(&["ROLE"]));
    let ours = lc.info_ordered("replication");
    let theirs = rc.info_ordered("replication");
    // Every field we print, Redis prints, in the same order.
    let names: Vec<&str> = theirs.iter().map(|(k, _)| k.as_str()).collect();
    let mut last = 0;
    for (k, _) in &ours {
        let at = names
            .iter()
            .position(|n| n == k)
            .unwrap_or_else(|| panic!("Redis has no INFO field {k}"));
        assert!(at >= last, "{k} is out of Redis's order");
        last = at;
    }
    let theirs: std::collections::BTreeMap<_, _> = theirs.into_iter().collect();
    for (k, v) in &ours {
        if k == "master_last_io_seconds_ago" {
            continue;
        }
        assert_eq!(v, &theirs[k], "INFO replication {k}");
    }
}

#[test]
fn the_replica_serves_reads_of_what_it_replicated() {
    let Some((m, l)) = pair(&[], &[]) else { return };
    let mut mc = m.client();
    load_varied_dataset(&mut mc);
    let (_, data) = real_to_live(&m, &l, "loaded");
    let mut lc = l.client();
    let mut db = usize::MAX;
    for (d, k) in data.keys() {
        if *d != db {
            db = *d;
            assert_eq!(
                mc.raw(&["SELECT", &d.to_string()]),
                lc.raw(&["SELECT", &d.to_string()])
            );
        }
        let k = std::str::from_utf8(k).expect("UTF-8 keys");
        assert_eq!(mc.raw(&["GET", k]), lc.raw(&["GET", k]), "GET {k}");
        assert_eq!(mc.raw(&["EXISTS", k]), lc.raw(&["EXISTS", k]), "EXISTS {k}");
    }
    assert_eq!(mc.raw(&["DBSIZE"]), lc.raw(&["DBSIZE"]));
    assert_eq!(mc.raw(&["GET", "nosuchkey"]), lc.raw(&["GET", "nosuchkey"]));
}

#[test]
fn starting_from_a_real_rdb_file_matches_redis_restarting_from_it() {
    if !have_redis() {
        return;
    }
    // A master with a replica has a backlog, so its RDB carries its replication ID and offset.
    let a = Redis::start(&[]);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let mut rc = r.client();
    wait_until("the replica's link", || {
        rc.field("replication", "master_link_status") == "up"
    });
    let mut ac = a.client();
    load_varied_dataset(&mut ac);
    // SAVE is refused while the fork that fed the replica is still running.
    wait_until("the replica's sync fork to exit", || {
        ac.field("persistence", "rdb_bgsave_in_progress") == "0"
    });
    assert_eq!(ac.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let rdb = std::fs::read(a.dir().join("dump.rdb")).expect("Redis wrote dump.rdb");
    // Redis restarted from that file, and a replsim master started from it.
    let b = Redis::start_from(&[], Some(&rdb));
    let l = Live::master_from_rdb(rdb, &[]);
    let mut bc = b.client();
    assert_eq!(real_dataset(&mut bc), l.dataset());
    let (theirs, ours) = (bc.info("replication"), l.client().info("replication"));
    for field in ["master_replid2", "second_repl_offset", "master_repl_offset"] {
        assert_eq!(ours[field], theirs[field], "INFO replication {field}");
    }
    assert_eq!(
        ours["master_replid2"],
        ac.field("replication", "master_replid")
    );
    assert!(l.has_log("Loading RDB produced by version 7.0.15"));
}
