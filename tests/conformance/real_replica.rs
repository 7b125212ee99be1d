//! A replsim master, a real replica: real Redis loads replsim's RDB (disk and diskless), applies
//! its stream, resumes with +CONTINUE and follows a promotion through replid2.

use super::support::*;

/// Writes a varied dataset through a client of the replsim master.
fn load(c: &mut Client) {
    let long = "abc".repeat(700);
    let far = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis()
        + 3_600_000)
        .to_string();
    for cmd in [
        &["SET", "plain", "hello"][..],
        &["SET", "empty", ""],
        &["SET", "binary", "a\r\nb\0c"],
        &["SET", "i8", "-7"],
        &["SET", "i16", "32767"],
        &["SET", "i32", "-2147483648"],
        &["SET", "beyond32", "2147483648"],
        &["SET", "leading0", "007"],
        &["SET", "long", &long],
        &["SET", "ttl-ex", "x", "EX", "1000"],
        &["SET", "ttl-pxat", "y", "PXAT", &far],
        &["SELECT", "4"],
        &["SET", "db4", "four"],
        &["SELECT", "15"],
        &["SET", "db15", &long],
        &["SELECT", "0"],
    ] {
        let r = c.cmd(cmd);
        assert!(!matches!(r, Reply::Error(_)), "{cmd:?}: {r:?}");
    }
}

/// A replsim master (with `set`) and a real replica of it (with `args`), linked up.
fn pair(set: &[(&str, &str)], args: &[&str], preload: bool) -> Option<(Live, Redis)> {
    if !have_redis() {
        return None;
    }
    let l = Live::master(set);
    if preload {
        load(&mut l.client());
    }
    let port = l.port().to_string();
    let mut all = vec!["--replicaof", "127.0.0.1", &port];
    all.extend_from_slice(args);
    let r = Redis::start(&all);
    let mut rc = r.client();
    wait_until("the real replica's link to come up", || {
        rc.field("replication", "master_link_status") == "up"
    });
    Some((l, r))
}

#[test]
fn real_redis_loads_a_diskless_rdb_from_replsim() {
    let Some((l, r)) = pair(&[], &[], true) else {
        return;
    };
    assert!(r
        .log()
        .contains("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk"));
    assert!(r.log().contains("Loading RDB produced by version 7.0.15"));
    let (_, data) = live_to_real(&l, &r, "after a diskless full sync");
    assert_eq!(data.len(), 13);
    assert!(l.has_log("Starting BGSAVE for SYNC with target: replicas sockets"));
}

#[test]
fn real_redis_loads_a_disk_rdb_from_replsim() {
    let Some((l, r)) = pair(&[("repl-diskless-sync", "no")], &[], true) else {
        return;
    };
    let log = r.log();
    assert!(
        log.lines()
            .any(|x| x.contains("MASTER <-> REPLICA sync: receiving ")
                && x.ends_with(" bytes from master to disk")),
        "{log}"
    );
    live_to_real(&l, &r, "after a disk full sync");
}

#[test]
fn real_redis_parses_replsims_rdb_straight_from_the_socket() {
    let Some((l, r)) = pair(&[], &["--repl-diskless-load", "swapdb"], true) else {
        return;
    };
    assert!(r
        .log()
        .contains("receiving streamed RDB from master with EOF to parser"));
    live_to_real(&l, &r, "after a diskless load");
}

#[test]
fn real_redis_applies_replsims_stream_command_by_command() {
    let Some((l, r)) = pair(&[], &[], false) else {
        return;
    };
    let mut c = l.client();
    let steps: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["SET", "ex", "v", "EX", "100"],
        &["SET", "px", "v", "PX", "100000"],
        &["SET", "ex", "w", "KEEPTTL"],
        &["SET", "a", "2", "NX"],
        &["SET", "a", "3", "XX", "GET"],
        &["INCR", "n"],
        &["INCRBY", "n", "41"],
        &["APPEND", "s", "hello"],
        &["MSET", "m1", "x", "m2", "y"],
        &["DEL", "m1", "missing"],
        &["EXPIRE", "m2", "100"],
        &["PEXPIRE", "m2", "200000"],
        &["PERSIST", "m2"],
        &["SELECT", "7"],
        &["SET", "seven", "7"],
        &["FLUSHDB"],
        &["SET", "again", "1"],
        &["SELECT", "0"],
        &["FLUSHALL"],
        &["SET", "last", "1"],
    ];
    for step in steps {
        let reply = c.cmd(step);
        assert!(!matches!(reply, Reply::Error(_)), "{step:?}: {reply:?}");
        live_to_real(&l, &r, &format!("after {step:?}"));
    }
}

#[test]
fn real_redis_drops_keys_when_replsims_expiry_dels_arrive() {
    let Some((l, r)) = pair(&[], &[], false) else {
        return;
    };
    let mut c = l.client();
    c.cmd(&["SET", "short", "1", "PX", "50"]);
    c.cmd(&["SET", "stays", "2"]);
    // The replsim master's active expiry runs with its cron, once a second.
    wait_until("the replsim master to expire the key", || {
        l.dataset().len() == 1
    });
    let (_, data) = live_to_real(&l, &r, "after the DEL");
    assert_eq!(data.len(), 1);
}

#[test]
fn replsims_pings_reach_real_redis_and_its_acks_come_back() {
    let Some((l, r)) = pair(&[("repl-ping-replica-period", "1")], &[], false) else {
        return;
    };
    let before = l.offset();
    wait_until("two PINGs", || l.offset() >= before + 28);
    let (off, _) = live_to_real(&l, &r, "after PINGs");
    let mut lc = l.client();
    wait_until("the replica's ACK of everything", || {
        lc.field("replication", "slave0")
            .contains(&format!(",offset={off},"))
            || l.offset() != off
    });
}

#[test]
fn real_redis_resumes_with_continue_after_its_link_is_killed() {
    let Some((l, r)) = pair(&[], &["--enable-debug-command", "yes"], true) else {
        return;
    };
    let (resume_from, _) = live_to_real(&l, &r, "before the kill");
    let mut rc = r.client();
    // Kill the link and keep the replica busy for a moment, so it reconnects (on its next cron
    // tick) only after the writes below, which wait for the master to see the link gone.
    rc.send_bytes(b"CLIENT KILL TYPE master\r\nDEBUG SLEEP 0.5\r\n");
    let lost = format!("Connection with replica 127.0.0.1:{} lost.", r.port);
    wait_until("the replsim master to see the link closed", || {
        l.has_log(&lost)
    });
    let mut c = l.client();
    for i in 0..10 {
        c.cmd(&["SET", &format!("during{i}"), "x"]);
    }
    let written = l.offset() - resume_from;
    wait_until("the partial resync", || {
        r.log()
            .contains("Successful partial resynchronization with master.")
    });
    live_to_real(&l, &r, "after +CONTINUE");
    let want = format!(
        "Partial resynchronization request from 127.0.0.1:{} accepted. Sending {written} bytes of backlog starting from offset {}.",
        r.port,
        resume_from + 1
    );
    assert!(l.has_log(&want), "{want:?} not in {:?}", l.messages());
    assert_eq!(l.client().field("stats", "sync_partial_ok"), "1");
}

#[test]
fn a_gap_past_replsims_backlog_gives_real_redis_a_full_sync() {
    let Some((l, r)) = pair(
        &[("repl-backlog-size", "16kb")],
        &["--enable-debug-command", "yes"],
        false,
    ) else {
        return;
    };
    let (resume_from, _) = live_to_real(&l, &r, "before the kill");
    let mut rc = r.client();
    rc.send_bytes(b"CLIENT KILL TYPE master\r\nDEBUG SLEEP 0.5\r\n");
    let lost = format!("Connection with replica 127.0.0.1:{} lost.", r.port);
    wait_until("the replsim master to see the link closed", || {
        l.has_log(&lost)
    });
    let mut c = l.client();
    let value = "q".repeat(1000);
    for i in 0..200 {
        c.cmd(&["SET", &format!("gap{i}"), &value]);
    }
    wait_until("a second full sync", || {
        r.log().matches("Full resync from master:").count() == 2
    });
    live_to_real(&l, &r, "after the second full sync");
    let want = format!(
        "Unable to partial resync with replica 127.0.0.1:{} for lack of backlog (Replica request was: {}).",
        r.port,
        resume_from + 1
    );
    assert!(l.has_log(&want), "{want:?} not in {:?}", l.messages());
}

#[test]
fn real_redis_continues_through_replid2_after_replsim_is_promoted() {
    if !have_redis() {
        return;
    }
    // A real master with a replsim replica and a real replica; the replsim one is promoted and
    // the real one follows it: a partial resync through the replsim node's replid2.
    let a = Redis::start(&[]);
    let l = Live::replica_of(a.port, &[]);
    let b = Redis::start(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let mut bc = b.client();
    wait_until("both links", || {
        l.link_up() && bc.field("replication", "master_link_status") == "up"
    });
    a.client().cmd(&["SET", "k", "v"]);
    let (off, _) = real_to_live(&a, &l, "before the promotion");
    wait_until("B to catch up", || {
        bc.field("replication", "slave_repl_offset") == off.to_string()
    });
    let mut lc = l.client();
    lc.cmd(&["REPLICAOF", "NO", "ONE"]);
    let new_id = lc.field("replication", "master_replid");
    bc.cmd(&["REPLICAOF", "127.0.0.1", &l.port().to_string()]);
    wait_until("B's partial resync with the replsim node", || {
        b.log()
            .contains("Successful partial resynchronization with master.")
    });
    assert!(b
        .log()
        .contains(&format!("Master replication ID changed to {new_id}")));
    assert!(l.has_log(&format!(
        "Partial resynchronization request from 127.0.0.1:{} accepted. Sending 0 bytes of backlog starting from offset {}.",
        b.port,
        off + 1
    )));
    lc.cmd(&["SET", "after", "1"]);
    live_to_real(&l, &b, "after the promotion");
}

/// WAIT over TCP blocks until a replica acknowledges the client's last write or the timeout
/// passes, on a replsim master as on a real one. With the real replica stopped (SIGSTOP),
/// `WAIT 1 200` answers `:0` after 200 ms and a PING pipelined behind it is answered after it;
/// once the replica runs again, `WAIT 1 5000` answers `:1` long before its timeout.
#[test]
fn wait_blocks_until_a_stopped_real_replica_acknowledges_like_redis() {
    let Some((l, lr)) = pair(&[], &[], false) else {
        return;
    };
    let m = Redis::start(&[]);
    let mport = m.port.to_string();
    let mr = Redis::start(&["--replicaof", "127.0.0.1", &mport]);
    let mut mrc = mr.client();
    wait_until("the real master's replica to come up", || {
        mrc.field("replication", "master_link_status") == "up"
    });
    for (master, port, replica) in [("replsim", l.port(), &lr), ("redis", m.port, &mr)] {
        let mut c = Client::connect(port);
        assert_eq!(c.cmd(&["SET", "k", "v"]), Reply::Simple("OK".into()));
        assert_eq!(c.cmd(&["WAIT", "1", "5000"]).int(), 1, "{master}: healthy");
        let frozen = replica.freeze();
        assert_eq!(c.cmd(&["SET", "k", "w"]), Reply::Simple("OK".into()));
        let start = std::time::Instant::now();
        c.send_bytes(b"WAIT 1 200\r\nPING\r\n");
        assert_eq!(c.read_raw(), b":0\r\n", "{master}");
        let waited = start.elapsed();
        assert!(
            (200..1000).contains(&waited.as_millis()),
            "{master}: WAIT 1 200 took {waited:?}"
        );
        assert_eq!(
            c.read_raw(),
            b"+PONG\r\n",
            "{master}: the PING after the WAIT"
        );
        drop(frozen);
        let start = std::time::Instant::now();
        assert_eq!(c.cmd(&["WAIT", "1", "5000"]).int(), 1, "{master}: thawed");
        assert!(start.elapsed().as_millis() < 3000, "{master}");
    }
}
