//! The node's invariants, checked after every input.
//!
//! Each is a fact the replication logic relies on and that no input, however hostile, may
//! break: a failure is a bug in the node, reproducible from its seed. The cheap ones (constant
//! time) run in every build; the ones that visit every connection run in tests and debug
//! builds, after every `handle_*` call and every `poll_transmit`.

use super::node::{Node, Role, REPL_OFFSET_MAX};
use super::state::{Link, MainStep, RdbChannel, RdbReceive, RdbSize, ReplicaSync};

impl Node {
    /// Checks the invariants: the cheap ones always, all of them when asked
    /// ([`Node::set_full_invariants`]; on by default in unit tests and with debug assertions).
    ///
    /// The full check visits every connection and every blocked WAIT. After every input that
    /// would make a master with a thousand clients blocked in WAIT quadratic (a nemesis seed
    /// took 27 s instead of 0.3), so once a node holds more than 64 of them the check runs after
    /// every n-th input, n being their number: amortised constant time, and still after every
    /// input of every small node, which is where the tests' cases live. The choice depends only
    /// on the node's own inputs, so it is as deterministic as the run.
    pub(crate) fn check_invariants(&self) {
        self.assert_cheap_invariants();
        if self.full_invariants {
            let size = (self.conns.len() + self.clients.blocked_count()) as u64;
            let skipped = self.unchecked_inputs.get() + 1;
            if size <= 64 || skipped >= size {
                self.unchecked_inputs.set(0);
                self.assert_invariants();
            } else {
                self.unchecked_inputs.set(skipped);
            }
        }
    }

    /// Whether every invariant is checked after every input (the default with debug
    /// assertions), or only the constant-time ones (the default in release builds). A release
    /// build that checks them all runs at a fraction of its speed; the nemesis and
    /// `replsim run --check-invariants` do.
    pub fn set_full_invariants(&mut self, on: bool) {
        self.full_invariants = on;
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
                // WAIT is refused on a replica, and becoming one answers every blocked WAIT.
                assert!(
                    !self.clients.any_blocked(),
                    "{}: a replica has no client blocked in WAIT",
                    self.name
                );
                if let Some(conn) = f.link.rdb_conn() {
                    // Once the whole RDB is in, the master may close the RDB channel while the
                    // replica still loads it.
                    let loading = self
                        .transfer()
                        .is_some_and(|t| matches!(t.rdb, RdbReceive::Loading { .. }));
                    assert!(
                        f.link.conn() != Some(conn)
                            && (loading
                                || self
                                    .conns
                                    .get(&conn)
                                    .is_some_and(|c| matches!(c.role, Role::Master))),
                        "{}: a dual-channel sync's RDB channel {conn:?} is open (until its RDB is in), a master link, and not the main channel",
                        self.name
                    );
                }
                if let Link::Dual(d) = &f.link {
                    // Redis 8.0's main channel buffers from `+RDBCHANNELSYNC` on; the provisional
                    // master is known once the RDB channel's `+FULLRESYNC` is read.
                    if d.main_ch_client_id.is_some() {
                        assert!(
                            d.main_step == MainStep::Buffering
                                && d.endoff.is_some()
                                    == matches!(d.rdb, RdbChannel::Transfer(_) | RdbChannel::Loaded),
                            "{}: an rdb-channel sync buffers from the start and knows its snapshot once the RDB comes",
                            self.name
                        );
                    }
                }
                let valkey_dual = match &f.link {
                    Link::Dual(d) if d.main_ch_client_id.is_none() => Some(d),
                    _ => None,
                };
                if let Some(d) = valkey_dual {
                    // The main channel asks to continue only from the offset `$ENDOFF` named,
                    // and buffers only after that PSYNC was accepted.
                    assert!(
                        d.endoff.is_some() || d.main_step == MainStep::AwaitEndOffset,
                        "{}: the main channel moves on only after the end offset",
                        self.name
                    );
                    assert!(
                        !matches!(
                            d.rdb,
                            RdbChannel::Connecting { .. } | RdbChannel::Handshake { .. }
                        ) || d.main_step == MainStep::AwaitEndOffset,
                        "{}: the main channel waits while the RDB channel's handshake runs",
                        self.name
                    );
                    assert!(
                        !(matches!(d.rdb, RdbChannel::Loaded)
                            && d.main_step == MainStep::Buffering),
                        "{}: a loaded RDB with the stream flowing has completed the sync",
                        self.name
                    );
                }
                if self.pending_repl.len > 0 {
                    assert!(
                        matches!(&f.link, Link::Dual(d) if d.main_step == MainStep::Buffering),
                        "{}: only a buffering main channel holds a local buffer",
                        self.name
                    );
                }
                assert!(
                    self.pending_repl.len <= self.pending_repl.peak,
                    "{}: the local buffer is within its peak",
                    self.name
                );
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
        // Offsets fit Redis's `long long` with room for a PSYNC's offset + 1: every offset
        // that arrives from the wire is checked against this bound.
        assert!(
            self.master_repl_offset() <= REPL_OFFSET_MAX,
            "{}: master_repl_offset {} is within its maximum",
            self.name,
            self.master_repl_offset()
        );
        if let Some(t) = self.transfer() {
            assert!(
                (-1..=REPL_OFFSET_MAX as i64).contains(&t.initial_offset),
                "{}: a transfer's initial offset {} is -1 (SYNC) or an offset",
                self.name,
                t.initial_offset
            );
            if let RdbReceive::Body(b) = &t.rdb {
                match &b.size {
                    RdbSize::Len(size) => assert!(
                        b.read <= *size,
                        "{}: a transfer read {} of the {size} bytes announced",
                        self.name,
                        b.read
                    ),
                    RdbSize::EofMark(mark) => assert!(
                        mark.len() == 40 && b.read <= i64::MAX as u64,
                        "{}: an EOF-marked transfer has a 40-byte mark and fits an off_t",
                        self.name
                    ),
                }
            }
        }
        if let Some(Link::Connected(m)) = self.link() {
            assert!(
                (m.db as u64) < self.cfg.databases,
                "{}: the master client's database {} exists",
                self.name,
                m.db
            );
        }
        // A replica's load belongs to its transfer, and a transfer's load is in progress.
        let transfer_loading = match self.transfer() {
            Some(t) => match &t.rdb {
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
        let rdb_conn = self.link().and_then(Link::rdb_conn);
        for (id, c) in &self.conns {
            match &c.role {
                Role::Master => assert!(
                    Some(*id) == link_conn || Some(*id) == rdb_conn,
                    "{}: the only master connections are the link's",
                    self.name
                ),
                Role::Replica(r) => {
                    // An RDB channel holds the backlog only while it waits for its PSYNC, and
                    // is never streamed to.
                    if r.rdb_channel {
                        assert!(
                            r.next.is_none() || r.waiting_psync,
                            "{}: RDB channel {id:?} holds a stream position only while waiting for PSYNC",
                            self.name
                        );
                        assert!(
                            !r.streaming(),
                            "{}: RDB channel {id:?} is never streamed to",
                            self.name
                        );
                    }
                    assert!(
                        !r.waiting_psync || r.rdb_channel,
                        "{}: only an RDB channel waits for PSYNC",
                        self.name
                    );
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
        self.clients.assert_invariants();
        for w in self.clients.blocked() {
            if let super::blocked::Waiter::Conn(id) = w {
                assert!(
                    self.conns.contains_key(&id),
                    "{}: a connection blocked in WAIT is open",
                    self.name
                );
            }
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
    use super::super::pair::{Pair, Scripted, Stage};
    use super::super::state::{Link, RdbReceive, RdbSize, ReplicaSync};

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
                "an offset past its maximum",
                1,
                |n| {
                    n.backlog = Some(super::super::replbuf::ReplBuffer::new(u64::MAX - 1));
                },
                "is within its maximum",
            ),
            (
                "the master client in a database that does not exist",
                1,
                |n| {
                    if let Some(m) = n.master_mut() {
                        m.db = 16;
                    }
                },
                "the master client's database 16 exists",
            ),
            (
                "a replica with a client blocked in WAIT",
                1,
                |n| {
                    let c = super::super::node::ClientId(7);
                    n.clients.entry(c).or_default();
                    n.clients
                        .block(super::super::blocked::Waiter::Local(c), 1, 1, None);
                },
                "a replica has no client blocked in WAIT",
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
            expect_broken(&t.nodes[i], what, expected);
        }
        // A transfer in progress, its RDB announced with `$<len>` or `$EOF:`.
        let transfer_cases: Vec<(&str, &[u8], Break, &str)> = vec![
            (
                "a transfer read past the length it announced",
                b"$100\r\nREDIS",
                |n| with_body(n, |b| b.read = 101),
                "a transfer read 101 of the 100 bytes announced",
            ),
            (
                "an EOF mark that is not 40 bytes",
                b"$EOF:0123456789012345678901234567890123456789\r\n",
                |n| with_body(n, |b| b.size = RdbSize::EofMark(b"short".to_vec())),
                "has a 40-byte mark",
            ),
            (
                "a transfer's initial offset below -1",
                b"",
                |n| {
                    if let Some(Link::Transfer(t)) = n.following.as_mut().map(|f| &mut f.link) {
                        t.initial_offset = -5;
                    }
                },
                "initial offset -5 is -1 (SYNC) or an offset",
            ),
        ];
        for (what, header, break_it, expected) in transfer_cases {
            let mut s = Scripted::at(Stage::Transfer, Config::default());
            s.feed(header);
            s.node.assert_invariants();
            break_it(&mut s.node);
            expect_broken(&s.node, what, expected);
        }
    }

    /// Changes the body of `n`'s transfer.
    fn with_body(n: &mut Node, change: impl FnOnce(&mut super::super::state::RdbBody)) {
        if let Some(Link::Transfer(t)) = n.following.as_mut().map(|f| &mut f.link) {
            if let RdbReceive::Body(b) = &mut t.rdb {
                change(b);
            }
        }
    }

    /// Asserts that `node`'s invariants fail with a message containing `expected`.
    fn expect_broken(node: &Node, what: &str, expected: &str) {
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
