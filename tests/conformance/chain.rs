//! A chain real → replsim → real: one history along it (the same replid, the same offsets), and
//! a partial resync of the middle that the end never notices.

use super::support::*;

/// A real master, a replsim replica of it, and a real replica of that, all linked up.
fn chain() -> Option<(Redis, Live, Redis)> {
    if !have_redis() {
        return None;
    }
    let a = Redis::start(&["--repl-ping-replica-period", "60"]);
    let l = Live::replica_of(a.port, &[]);
    wait_until("the replsim replica's link", || l.link_up());
    let c = Redis::start(&["--replicaof", "127.0.0.1", &l.port().to_string()]);
    let mut cc = c.client();
    wait_until("the end's link", || {
        cc.field("replication", "master_link_status") == "up"
    });
    Some((a, l, c))
}

#[test]
fn a_chain_through_replsim_keeps_one_replid_and_one_offset() {
    let Some((a, l, c)) = chain() else { return };
    let mut ac = a.client();
    for cmd in [
        &["SET", "k", "v"][..],
        &["INCR", "n"],
        &["SET", "t", "x", "EX", "100"],
        &["SELECT", "5"],
        &["MSET", "a", "1", "b", "2"],
        &["DEL", "a"],
    ] {
        ac.cmd(cmd);
    }
    let (off, data) = real_to_live(&a, &l, "A → replsim");
    let (end_off, end_data) = live_to_real(&l, &c, "replsim → C");
    assert_eq!((off, &data), (end_off, &end_data));
    let mut cc = c.client();
    let (ai, ci) = (ac.info("replication"), cc.info("replication"));
    let li = l.client().info("replication");
    for (name, info) in [("replsim", &li), ("C", &ci)] {
        assert_eq!(
            info["master_replid"], ai["master_replid"],
            "{name}'s replid"
        );
        assert_eq!(
            info["master_repl_offset"], ai["master_repl_offset"],
            "{name}'s offset"
        );
    }
}

#[test]
fn a_partial_resync_of_the_middle_leaves_the_end_alone() {
    let Some((a, l, c)) = chain() else { return };
    let mut ac = a.client();
    ac.cmd(&["SET", "before", "1"]);
    real_to_live(&a, &l, "before the kill");
    live_to_real(&l, &c, "before the kill");
    {
        let _frozen = l.freeze();
        ac.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
        ac.cmd(&["SET", "during", "1"]);
    }
    wait_until("the middle's partial resync", || {
        l.has_log("Successful partial resynchronization with master.")
    });
    real_to_live(&a, &l, "after the middle's +CONTINUE");
    live_to_real(&l, &c, "at the end");
    // The end synced once and its link never dropped.
    let log = c.log();
    assert_eq!(
        log.matches("MASTER <-> REPLICA sync: Finished with success")
            .count(),
        1
    );
    assert!(!log.contains("Connection with master lost."), "{log}");
}
