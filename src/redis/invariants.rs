//! The node's invariants, checked after every input.
//!
//! Each is a fact the replication logic relies on and that no input, however hostile, may
//! break: a failure is a bug in the node, reproducible from its seed. The cheap ones (constant
//! time) run in every build; the ones that visit every connection run in tests and debug
//! builds, after every `handle_*` call and every `poll_transmit`.

use super::node::{Node, Role};
use super::state::{Link, RdbReceive, ReplicaSync};

impl Node {
    /// Checks the invariants: the cheap ones always, all of them with debug assertions on.
    pub(crate) fn check_invariants(&self) {
        self.assert_cheap_invariants();
        if cfg!(debug_assertions) {
            self.assert_invariants();
        }
    }

    /// The constant-time invariants.
    fn assert_cheap_invariants(&self) {
        if let Some(b) = &self.backlog {
            b.assert_invariants();
        }
        match &self.following {
            None => assert!(
                self.cached_master.is_none(),
                "{}: a master keeps no cached master",
                self.name
            ),
            Some(f) => {
                if let Some(conn) = f.link.conn() {
                    assert!(
                        self.conns
                            .get(&conn)
                            .is_some_and(|c| matches!(c.role, Role::Master)),
                        "{}: the link's connection {conn:?} is open and is the master link",
                        self.name
                    );
                }
                if let Link::Connected(_) = f.link {
                    // The applied offset is the stream's: a connected replica feeds a backlog.
                    assert!(
                        self.backlog.is_some(),
                        "{}: a connected replica has a backlog",
                        self.name
                    );
                    assert!(
                        self.cached_master.is_none(),
                        "{}: a connected replica has used up its cached master",
                        self.name
                    );
                }
            }
        }
        // A replica's load belongs to its transfer, and a transfer's load is in progress.
        let transfer_loading = match self.link() {
            Some(Link::Transfer(t)) => match &t.rdb {
                RdbReceive::Header => false,
                RdbReceive::Body(b) => b.load_clock.is_some(),
                RdbReceive::Loading { .. } => true,
            },
            _ => false,
        };
        let replica_loading = self.loading.as_ref().is_some_and(|l| !l.startup);
        assert_eq!(
            replica_loading, transfer_loading,
            "{}: a replica's RDB load and its transfer go together",
            self.name
        );
    }

    /// Every invariant, including those that visit every connection.
    pub fn assert_invariants(&self) {
        self.assert_cheap_invariants();
        let link_conn = self.link().and_then(Link::conn);
        for (id, c) in &self.conns {
            match &c.role {
                Role::Master => assert_eq!(
                    Some(*id),
                    link_conn,
                    "{}: the only master connection is the link's",
                    self.name
                ),
                Role::Replica(r) => {
                    match (&r.sync, r.next) {
                        (ReplicaSync::WaitBgsaveStart, Some(_)) => panic!(
                            "{}: replica {id:?} waits for a BGSAVE but holds a stream position",
                            self.name
                        ),
                        (_, Some(next)) => {
                            // Its next byte is held, or is the next one to be fed.
                            let held = self.backlog.as_ref().is_some_and(|b| b.holds(next));
                            assert!(
                                held,
                                "{}: replica {id:?}'s next byte {next} is not in the backlog",
                                self.name
                            );
                        }
                        _ => {}
                    }
                    if let ReplicaSync::WaitBgsaveEnd {
                        diskless: Some(_), ..
                    } = r.sync
                    {
                        assert!(
                            self.child.as_ref().is_some_and(|ch| ch.socket_target),
                            "{}: a diskless transfer to {id:?} has its child",
                            self.name
                        );
                    }
                }
                Role::Client => {}
            }
        }
        if let Some(l) = link_conn {
            assert!(self.conns.contains_key(&l));
        }
        for id in self.dirty.iter().chain(self.write_blocked.iter()) {
            assert!(
                self.conns.contains_key(id),
                "{}: output is pending on a closed connection {id:?}",
                self.name
            );
        }
        if let Some(child) = self.child.as_ref().filter(|c| c.socket_target) {
            for id in &child.replicas {
                // The pipe's reader forgets closed replicas lazily; open ones are fed by it.
                if let Some(r) = self.conns.get(id).and_then(|c| c.replica()) {
                    assert!(
                        matches!(
                            r.sync,
                            ReplicaSync::WaitBgsaveEnd {
                                diskless: Some(_),
                                ..
                            }
                        ),
                        "{}: the diskless child feeds {id:?}, which is not in its transfer",
                        self.name
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::Config;
    use super::super::node::Node;
    use super::super::pair::Pair;
    use super::super::state::{Link, ReplicaSync};

    /// A master with one synced replica, a few writes in, its invariants holding.
    fn synced() -> Pair {
        let mut t = Pair::new(2, |_| Config::default());
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        for i in 0..10 {
            t.cmd(0, &["SET", &format!("k{i}"), "v"]);
        }
        t.run_for(super::super::pair::ms(10));
        t.nodes[0].assert_invariants();
        t.nodes[1].assert_invariants();
        t
    }

    #[test]
    fn each_invariant_catches_the_state_that_breaks_it() {
        // (what is broken, on which node, how, the message expected)
        type Break = fn(&mut Node);
        let cases: Vec<(&str, usize, Break, &str)> = vec![
            (
                "a connected replica loses its backlog",
                1,
                |n| n.backlog = None,
                "a connected replica has a backlog",
            ),
            (
                "a master keeps a cached master",
                0,
                |n| {
                    n.cached_master = Some(super::super::state::CachedMaster {
                        replid: "x".into(),
                        db: 0,
                    })
                },
                "a master keeps no cached master",
            ),
            (
                "the link's connection disappears",
                1,
                |n| {
                    let conn = n.link().and_then(Link::conn).unwrap();
                    n.conns.remove(&conn);
                },
                "the link's connection",
            ),
            (
                "a replica's next byte falls out of the backlog",
                0,
                |n| {
                    for c in n.conns.values_mut() {
                        if let Some(r) = c.replica_mut() {
                            r.next = Some(0);
                        }
                    }
                },
                "is not in the backlog",
            ),
            (
                "a replica waiting for a BGSAVE holds a stream position",
                0,
                |n| {
                    for c in n.conns.values_mut() {
                        if let Some(r) = c.replica_mut() {
                            r.sync = ReplicaSync::WaitBgsaveStart;
                        }
                    }
                },
                "waits for a BGSAVE but holds a stream position",
            ),
            (
                "a replica's load without a transfer",
                1,
                |n| {
                    n.loading = Some(super::super::node::Loading {
                        startup: false,
                        until: crate::time::SimTime::MAX,
                        async_loading: false,
                        last_newline: crate::time::SimTime::ZERO,
                    })
                },
                "a replica's RDB load and its transfer go together",
            ),
        ];
        for (what, i, break_it, expected) in cases {
            let mut t = synced();
            break_it(&mut t.nodes[i]);
            let node = &t.nodes[i];
            let err =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.assert_invariants()))
                    .expect_err(what);
            let msg = err
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            assert!(msg.contains(expected), "{what}: {msg}");
        }
    }
}
