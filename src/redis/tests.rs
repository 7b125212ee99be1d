//! Node behaviour tests on the two-node harness: exact numbers from the spec and behaviours
//! Redis's own test suite asserts (spec §11). Each test is named after what it shows.
#![cfg(test)]

use super::config::Config;
use super::pair::{ms, secs, Pair};
use super::resp::Reply;

fn ok() -> Reply {
    Reply::ok()
}

#[test]
fn a_replica_full_syncs_then_streams_writes() {
    let mut t = Pair::two();
    assert_eq!(t.replicaof(1, 0), ok());
    t.wait_for_sync(1);
    assert_eq!(t.cmd(0, &["SET", "k", "v"]), ok());
    t.run_for(ms(10));
    assert_eq!(t.cmd(1, &["GET", "k"]), Reply::bulk("v"));
    assert_eq!(t.nodes[0].digest(), t.nodes[1].digest());
    assert_eq!(t.info_u64(0, "sync_full"), 1);
}

