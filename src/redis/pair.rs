//! A test harness that drives nodes without the network module, after quinn-proto's `Pair`.
//!
//! Connections are in-memory byte pipes with a fixed one-way latency and unlimited buffers (or a
//! per-direction cap to model a socket buffer), delivered in order. Tests steer it with
//! sentence-like calls: `t.replicaof(1, 0)`, `t.run_for(secs(5))`, `t.kill_link(0, 1)`,
//! `t.cmd(0, &["SET", "k", "v"])`.
#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};

use super::config::Config;
use super::keyspace::Bulk;
use super::log::LogLine;
use super::node::{Action, ClientId, CommandResult, ConnId, Event, Node, NodeParams, Transmit};
use super::resp::Reply;
use crate::time::{SimDuration, SimTime};

pub fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

/// A node's configuration: `profile`'s directives, then `pairs`.
pub fn config(profile: &[(&str, &str)], pairs: &[(&str, &str)]) -> Config {
    let mut c = Config::default();
    for (k, v) in profile.iter().chain(pairs) {
        c.set(k, v, false).unwrap();
    }
    c
}

/// Node 0 a master holding 20,000 synthetic keys (about 2.5 MB of RDB), node 1 a replica-to-be
/// that loads at 1 MB/s, so that a full sync's load takes seconds and writes made meanwhile pile
/// up; both under `profile`, plus `master`'s and `replica`'s own directives.
pub fn slow_load(
    profile: &'static [(&'static str, &'static str)],
    master: &[(&str, &str)],
    replica: &[(&str, &str)],
) -> Pair {
    let (m, r) = (master.to_vec(), replica.to_vec());
    let mut t = Pair::new(2, move |i| {
        if i == 0 {
            config(profile, &m)
        } else {
            let mut own = vec![("replsim-rdb-load-rate", "1mb")];
            own.extend_from_slice(&r);
            config(profile, &own)
        }
    });
    t.nodes[0].keyspace.db_mut(0).set_bulk(Some(Bulk {
        count: 20_000,
        key_bytes: 16,
        value_bytes: 100,
    }));
    t.set_keys(0, 10, "before");
    t.run_for(ms(1500));
    t
}

/// Node 1 holds node 0's offset and dataset.
pub fn in_sync(t: &Pair) -> bool {
    t.nodes[0].master_repl_offset() == t.nodes[1].master_repl_offset()
        && t.nodes[0].digest() == t.nodes[1].digest()
}

pub fn ms(s: u64) -> SimDuration {
    SimDuration::from_millis(s)
}

#[derive(Clone, Debug)]
enum Seg {
    Bytes(Vec<u8>),
    Opaque(u64),
    Eof,
}

#[derive(Debug)]
enum Ev {
    Accept {
        pconn: usize,
    },
    Established {
        pconn: usize,
    },
    Deliver {
        pconn: usize,
        to_server: bool,
        seg: Seg,
    },
    Reset {
        node: usize,
        conn: ConnId,
    },
}

/// One connection between two nodes: the client end and, once accepted, the server end.
#[derive(Debug)]
struct PConn {
    client: (usize, ConnId),
    /// The node dialled.
    target: Option<usize>,
    server: Option<(usize, ConnId)>,
    open: bool,
}

pub struct Pair {
    pub nodes: Vec<Node>,
    pub now: SimTime,
    pub latency: SimDuration,
    queue: BTreeMap<(SimTime, u64), Ev>,
    seq: u64,
    pconns: Vec<PConn>,
    by_end: BTreeMap<(usize, ConnId), usize>,
    paused_reads: BTreeSet<(usize, ConnId)>,
    /// Bytes held back while a read is paused, per end.
    held: BTreeMap<(usize, ConnId), Vec<Seg>>,
    /// Node pairs whose traffic is dropped (a blackhole) while set.
    cut: BTreeSet<(usize, usize)>,
    /// Frozen nodes (SIGSTOP): nothing is delivered to them and their timers do not run.
    frozen: BTreeSet<usize>,
    /// Bytes written and not yet read, per (pconn, to_server); capped at `sock_buf`.
    inflight: BTreeMap<(usize, bool), u64>,
    /// Ends whose last write was short, waiting for room.
    want_writable: BTreeSet<(usize, ConnId)>,
    pub sock_buf: u64,
    pub logs: Vec<Vec<LogLine>>,
    pub events: Vec<Vec<Event>>,
    replies: BTreeMap<ClientId, Reply>,
    next_client: u64,
}

struct Tx<'a> {
    node: usize,
    sock_buf: u64,
    inflight: &'a mut BTreeMap<(usize, bool), u64>,
    want_writable: &'a mut BTreeSet<(usize, ConnId)>,
    now: SimTime,
    latency: SimDuration,
    queue: &'a mut BTreeMap<(SimTime, u64), Ev>,
    seq: &'a mut u64,
    pconns: &'a [PConn],
    by_end: &'a BTreeMap<(usize, ConnId), usize>,
    cut: &'a BTreeSet<(usize, usize)>,
}

impl Tx<'_> {
    /// Queues up to `len` bytes of `seg` on `conn`; returns how many fit the socket buffer.
    fn push(&mut self, conn: ConnId, len: u64, seg: impl FnOnce(u64) -> Seg) -> u64 {
        let Some(&p) = self.by_end.get(&(self.node, conn)) else {
            return 0;
        };
        let pc = &self.pconns[p];
        if !pc.open {
            return 0;
        }
        let to_server = pc.client == (self.node, conn);
        let peer = if to_server {
            pc.server.map(|s| s.0)
        } else {
            Some(pc.client.0)
        };
        if peer.is_some_and(|peer| self.cut.contains(&(self.node, peer))) {
            // A blackhole swallows what is written.
            return len;
        }
        let used = self.inflight.entry((p, to_server)).or_default();
        let n = len.min(self.sock_buf.saturating_sub(*used));
        if n < len {
            self.want_writable.insert((self.node, conn));
        }
        if n == 0 {
            return 0;
        }
        *used += n;
        *self.seq += 1;
        self.queue.insert(
            (self.now + self.latency, *self.seq),
            Ev::Deliver {
                pconn: p,
                to_server,
                seg: seg(n),
            },
        );
        n
    }
}

impl Transmit for Tx<'_> {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        self.push(conn, bytes.len() as u64, |n| {
            Seg::Bytes(bytes[..n as usize].to_vec())
        }) as usize
    }
    fn send_opaque(&mut self, conn: ConnId, len: u64) -> u64 {
        self.push(conn, len, Seg::Opaque)
    }
}

pub fn ip(i: usize) -> String {
    format!("10.0.0.{}", i + 1)
}

impl Pair {
    /// `n` nodes, all masters, each with `cfg(i)`.
    pub fn new(n: usize, cfg: impl Fn(usize) -> Config) -> Pair {
        let nodes = (0..n)
            .map(|i| {
                Node::boot(
                    SimTime::ZERO,
                    NodeParams {
                        name: format!("n{i}"),
                        ip: ip(i),
                        port: 6379,
                        config: cfg(i),
                        replicaof: None,
                        seed: 1,
                    },
                    None,
                )
            })
            .collect();
        Pair {
            nodes,
            now: SimTime::ZERO,
            latency: SimDuration::from_micros(100),
            queue: BTreeMap::new(),
            seq: 0,
            pconns: Vec::new(),
            by_end: BTreeMap::new(),
            paused_reads: BTreeSet::new(),
            held: BTreeMap::new(),
            cut: BTreeSet::new(),
            frozen: BTreeSet::new(),
            inflight: BTreeMap::new(),
            want_writable: BTreeSet::new(),
            sock_buf: 4 << 20,
            logs: vec![Vec::new(); n],
            events: vec![Vec::new(); n],
            replies: BTreeMap::new(),
            next_client: 1,
        }
    }

    /// Two nodes with default configuration: node 0 will be the master.
    pub fn two() -> Pair {
        Pair::new(2, |_| Config::default())
    }

    fn schedule(&mut self, at: SimTime, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    /// Lets node `i` act on everything it queued: writes, connects, closes.
    fn drain(&mut self, i: usize) {
        let now = self.now;
        let mut tx = Tx {
            node: i,
            sock_buf: self.sock_buf,
            inflight: &mut self.inflight,
            want_writable: &mut self.want_writable,
            now,
            latency: self.latency,
            queue: &mut self.queue,
            seq: &mut self.seq,
            pconns: &self.pconns,
            by_end: &self.by_end,
            cut: &self.cut,
        };
        self.nodes[i].poll_transmit(now, &mut tx);
        while let Some(a) = self.nodes[i].poll_action() {
            match a {
                Action::Connect { conn, host, .. } => {
                    let target = (0..self.nodes.len()).find(|&j| ip(j) == host);
                    let p = self.pconns.len();
                    self.pconns.push(PConn {
                        client: (i, conn),
                        target,
                        server: None,
                        open: true,
                    });
                    self.by_end.insert((i, conn), p);
                    match target {
                        Some(j) if !self.cut.contains(&(i, j)) => {
                            self.schedule(now + self.latency, Ev::Accept { pconn: p })
                        }
                        Some(_) => {}
                        None => {
                            self.pconns[p].open = false;
                            self.nodes[i].handle_connect_failed(now, conn, "Connection refused");
                        }
                    }
                }
                Action::Close { conn } => {
                    if let Some(&p) = self.by_end.get(&(i, conn)) {
                        let pc = &self.pconns[p];
                        if pc.open {
                            let to_server = pc.client == (i, conn);
                            self.seq += 1;
                            self.queue.insert(
                                (now + self.latency, self.seq),
                                Ev::Deliver {
                                    pconn: p,
                                    to_server,
                                    seg: Seg::Eof,
                                },
                            );
                        }
                    }
                }
                Action::PauseRead { conn } => {
                    self.paused_reads.insert((i, conn));
                }
                Action::ResumeRead { conn } => {
                    self.paused_reads.remove(&(i, conn));
                    if let Some(segs) = self.held.remove(&(i, conn)) {
                        for seg in segs {
                            self.deliver_seg(i, conn, seg);
                        }
                    }
                }
            }
        }
        while let Some(l) = self.nodes[i].poll_log() {
            self.logs[i].push(l);
        }
        while let Some(e) = self.nodes[i].poll_event() {
            if let Event::Reply { client, reply } = &e {
                self.replies.insert(*client, reply.clone());
            }
            self.events[i].push(e);
        }
    }

    fn deliver_seg(&mut self, i: usize, conn: ConnId, seg: Seg) {
        let now = self.now;
        if self.paused_reads.contains(&(i, conn)) || self.frozen.contains(&i) {
            self.held.entry((i, conn)).or_default().push(seg);
            return;
        }
        let len = match &seg {
            Seg::Bytes(b) => b.len() as u64,
            Seg::Opaque(n) => *n,
            Seg::Eof => 0,
        };
        match seg {
            Seg::Bytes(b) => self.nodes[i].handle_data(now, conn, &b),
            Seg::Opaque(n) => self.nodes[i].handle_opaque(now, conn, n),
            Seg::Eof => self.nodes[i].handle_eof(now, conn),
        }
        self.drain(i);
        // The bytes were read: their writer has room again.
        if let Some(&p) = self.by_end.get(&(i, conn)) {
            let pc = &self.pconns[p];
            let to_server = pc.server == Some((i, conn));
            if let Some(used) = self.inflight.get_mut(&(p, to_server)) {
                *used = used.saturating_sub(len);
            }
            let writer = if to_server {
                Some(pc.client)
            } else {
                pc.server
            };
            if let Some((w, wconn)) = writer {
                if self.want_writable.remove(&(w, wconn)) {
                    self.nodes[w].handle_writable(now, wconn);
                    self.drain(w);
                }
            }
        }
    }

    /// Lets every node act on what it queued (for tests that call a node directly).
    pub fn drain_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.drain(i);
        }
    }

    /// Processes the next event or timer due at or before `until`. Returns false if none.
    fn step(&mut self, until: SimTime) -> bool {
        let net_t = self.queue.keys().next().map(|k| k.0);
        let timer = (0..self.nodes.len())
            .filter(|i| !self.frozen.contains(i))
            .filter_map(|i| self.nodes[i].poll_timeout().map(|(t, _)| (t, i)))
            .min();
        let take_net = match (net_t, timer) {
            (Some(n), Some((t, _))) => n <= t,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return false,
        };
        if take_net {
            let (&(t, s), _) = self.queue.iter().next().expect("peeked");
            if t > until {
                return false;
            }
            let ev = self.queue.remove(&(t, s)).expect("peeked");
            self.now = self.now.max(t);
            self.handle_ev(ev);
        } else {
            let (t, i) = timer.expect("checked");
            if t > until {
                return false;
            }
            self.now = self.now.max(t);
            self.nodes[i].handle_timeout(self.now);
            self.drain(i);
        }
        true
    }

    fn handle_ev(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Accept { pconn } => {
                let (ci, _) = self.pconns[pconn].client;
                let Some(j) = self.pconns[pconn].target else {
                    return;
                };
                if !self.pconns[pconn].open {
                    return;
                }
                let sconn = self.nodes[j].handle_accept(now, &ip(ci), 40000 + pconn as u16);
                self.pconns[pconn].server = Some((j, sconn));
                self.by_end.insert((j, sconn), pconn);
                let at = now + self.latency;
                self.schedule(at, Ev::Established { pconn });
            }
            Ev::Established { pconn } => {
                let (ci, cconn) = self.pconns[pconn].client;
                if self.pconns[pconn].open {
                    self.nodes[ci].handle_connected(now, cconn);
                    self.drain(ci);
                }
            }
            Ev::Deliver {
                pconn,
                to_server,
                seg,
            } => {
                let pc = &self.pconns[pconn];
                let end = if to_server {
                    pc.server
                } else {
                    Some(pc.client)
                };
                if let Some((j, conn)) = end {
                    self.deliver_seg(j, conn, seg);
                }
            }
            Ev::Reset { node, conn } => {
                self.nodes[node].handle_reset(now, conn);
                self.drain(node);
            }
        }
    }

    pub fn run_until(&mut self, t: SimTime) {
        let mut guard = 0u64;
        while self.step(t) {
            guard += 1;
            assert!(guard < 50_000_000, "runaway simulation");
        }
        self.now = self.now.max(t);
    }

    pub fn run_for(&mut self, d: SimDuration) {
        let t = self.now + d;
        self.run_until(t);
    }

    /// Runs until `cond` holds, at most `limit`; panics with the logs otherwise.
    pub fn run_until_cond(&mut self, limit: SimDuration, cond: impl Fn(&Pair) -> bool) {
        let end = self.now + limit;
        while self.now < end {
            if cond(self) {
                return;
            }
            let next = self.now + ms(10);
            self.run_until(next);
        }
        assert!(
            cond(self),
            "condition not reached in {limit}; logs:\n{}",
            self.dump_logs()
        );
    }

    pub fn dump_logs(&self) -> String {
        let mut s = String::new();
        for (i, l) in self.logs.iter().enumerate() {
            for line in l {
                s.push_str(&format!("n{i} {line}\n"));
            }
        }
        s
    }

    /// Runs a command on node `i` as a client and returns the reply, running the simulation
    /// until a blocked command (WAIT) answers.
    pub fn cmd(&mut self, i: usize, args: &[&str]) -> Reply {
        let client = ClientId(self.next_client);
        self.next_client += 1;
        self.cmd_as(i, client, args)
    }

    pub fn cmd_as(&mut self, i: usize, client: ClientId, args: &[&str]) -> Reply {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let r = self.nodes[i].handle_command(self.now, client, &argv);
        self.drain(i);
        match r {
            CommandResult::Done { reply, .. } => reply,
            CommandResult::Blocked => {
                for _ in 0..100_000 {
                    if let Some(r) = self.replies.remove(&client) {
                        return r;
                    }
                    let next = self.now + ms(1);
                    self.run_until(next);
                }
                panic!("blocked command never answered");
            }
        }
    }

    /// Restarts node `replica` as a configured replica of `master` that starts in sync with it
    /// (a warm start), over a connection already established between them.
    pub fn start_in_sync(&mut self, replica: usize, master: usize) {
        let now = self.now;
        let config = self.nodes[replica].cfg.clone();
        self.nodes[replica] = Node::boot(
            now,
            NodeParams {
                name: format!("n{replica}"),
                ip: ip(replica),
                port: 6379,
                config,
                replicaof: Some((ip(master), 6379)),
                seed: 1,
            },
            None,
        );
        let m_conn = self.nodes[master].handle_accept(now, &ip(replica), 40_000);
        let (m, r) = if master < replica {
            let (a, b) = self.nodes.split_at_mut(replica);
            (&mut a[master], &mut b[0])
        } else {
            let (a, b) = self.nodes.split_at_mut(master);
            (&mut b[0], &mut a[replica])
        };
        let point = m
            .attach_synced_replica(now, m_conn, r)
            .expect("the master has a history");
        let r_conn = r.follow_synced(now, &point).expect("the replica loads it");
        let p = self.pconns.len();
        self.pconns.push(PConn {
            client: (replica, r_conn),
            target: Some(master),
            server: Some((master, m_conn)),
            open: true,
        });
        self.by_end.insert((replica, r_conn), p);
        self.by_end.insert((master, m_conn), p);
        self.drain(master);
        self.drain(replica);
    }

    pub fn replicaof(&mut self, replica: usize, master: usize) -> Reply {
        let host = ip(master);
        self.cmd(replica, &["REPLICAOF", &host, "6379"])
    }

    /// An INFO replication or stats field of node `i`.
    pub fn info(&self, i: usize, field: &str) -> String {
        let text = self.nodes[i].info(self.now, &[]);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
            .unwrap_or_else(|| panic!("no INFO field {field}"))
    }

    pub fn info_u64(&self, i: usize, field: &str) -> u64 {
        self.info(i, field)
            .parse()
            .unwrap_or_else(|_| panic!("{field} is not a number"))
    }

    pub fn link_up(&self, i: usize) -> bool {
        self.nodes[i].repl_state() == super::ReplState::Connected
    }

    /// Runs until replica `i` reports `master_link_status:up`.
    pub fn wait_for_sync(&mut self, i: usize) {
        self.run_until_cond(secs(120), |t| t.link_up(i));
    }

    /// Resets every connection between `a` and `b` (`CLIENT KILL` on both sides).
    pub fn kill_link(&mut self, a: usize, b: usize) {
        for pc in self.pconns.iter_mut() {
            let Some(server) = pc.server else { continue };
            let ends = [pc.client.0, server.0];
            if pc.open && ends.contains(&a) && ends.contains(&b) {
                pc.open = false;
                for (n, c) in [pc.client, server] {
                    self.seq += 1;
                    self.queue
                        .insert((self.now, self.seq), Ev::Reset { node: n, conn: c });
                }
            }
        }
        self.run_for(SimDuration::ZERO);
    }

    /// Resets the one connection whose end on node `node` is `conn`, on both sides.
    pub fn kill_conn(&mut self, node: usize, conn: ConnId) {
        let Some(&pc) = self.by_end.get(&(node, conn)) else {
            return;
        };
        let p = &mut self.pconns[pc];
        let Some(server) = p.server.filter(|_| p.open) else {
            return;
        };
        p.open = false;
        for (n, c) in [p.client, server] {
            self.seq += 1;
            self.queue
                .insert((self.now, self.seq), Ev::Reset { node: n, conn: c });
        }
        self.run_for(SimDuration::ZERO);
    }

    /// Drops traffic in both directions between `a` and `b` until `heal`.
    pub fn cut(&mut self, a: usize, b: usize) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    pub fn heal(&mut self, a: usize, b: usize) {
        self.cut.remove(&(a, b));
        self.cut.remove(&(b, a));
    }

    /// An outage between master `a` and replica `b` during which the master keeps taking writes:
    /// cuts the link, resets their connections, runs `n` SETs of `k0`, `k1`, ... with
    /// `value_bytes`-byte values on `a`, then heals. The replica has not reconnected yet.
    pub fn outage_with_writes(&mut self, a: usize, b: usize, n: usize, value_bytes: usize) {
        self.cut(a, b);
        self.kill_link(a, b);
        self.set_keys(a, n, &"x".repeat(value_bytes));
        self.heal(a, b);
    }

    /// Runs `SET k0 value`, `SET k1 value`, ... `SET k{n-1} value` on node `i`.
    pub fn set_keys(&mut self, i: usize, n: usize, value: &str) {
        for k in 0..n {
            self.cmd(i, &["SET", &format!("k{k}"), value]);
        }
    }

    /// Freezes node `i` (SIGSTOP): no input is processed and no timer runs until `thaw`.
    pub fn freeze(&mut self, i: usize) {
        self.frozen.insert(i);
    }

    pub fn thaw(&mut self, i: usize) {
        self.frozen.remove(&i);
        let held: Vec<_> = self.held.keys().filter(|(n, _)| *n == i).copied().collect();
        for key in held {
            if self.paused_reads.contains(&key) {
                continue;
            }
            for seg in self.held.remove(&key).unwrap_or_default() {
                self.deliver_seg(key.0, key.1, seg);
            }
        }
    }

    /// Restarts node `i` as a new process, from `persisted` if given (its connections die with it;
    /// peers see them reset). `replicaof` is the node it is configured to follow.
    pub fn restart(
        &mut self,
        i: usize,
        persisted: Option<super::node::Persisted>,
        replicaof: Option<usize>,
    ) {
        for pc in self.pconns.iter_mut() {
            let Some(server) = pc.server else { continue };
            if pc.open && (pc.client.0 == i || server.0 == i) {
                pc.open = false;
                let (other, conn) = if pc.client.0 == i { server } else { pc.client };
                self.seq += 1;
                self.queue.insert(
                    (self.now + self.latency, self.seq),
                    Ev::Reset { node: other, conn },
                );
            }
        }
        let cfg = self.nodes[i].cfg.clone();
        let params = NodeParams {
            name: format!("n{i}"),
            ip: ip(i),
            port: 6379,
            config: cfg,
            replicaof: replicaof.map(|m| (ip(m), 6379)),
            seed: 2 + self.now.as_nanos(),
        };
        self.nodes[i] = Node::boot(self.now, params, persisted.as_ref());
        self.drain(i);
    }

    /// Moves node `i`'s queued log lines into `logs` (for tests that drive a node directly).
    pub fn collect_logs(&mut self, i: usize) {
        while let Some(l) = self.nodes[i].poll_log() {
            self.logs[i].push(l);
        }
    }

    /// Whether node `i` logged a line containing `text`.
    pub fn logged(&self, i: usize, text: &str) -> bool {
        self.logs[i].iter().any(|l| l.message.contains(text))
    }

    pub fn count_logged(&self, i: usize, text: &str) -> usize {
        self.logs[i]
            .iter()
            .filter(|l| l.message.contains(text))
            .count()
    }
}

/// One replica whose master is played by the test, for hostile-master tests: the test writes
/// the master's bytes on the replica's real link connection and reads what the replica did
/// (what it sent, the connections it closed and opened, its log lines), one input at a time.
pub struct Scripted {
    pub node: Node,
    pub now: SimTime,
    /// The link's connection: the one the replica opened last.
    pub conn: ConnId,
    /// What the replica wrote on `conn`.
    pub sent: Vec<u8>,
    pub actions: Vec<Action>,
    pub logs: Vec<LogLine>,
    pub events: Vec<Event>,
}

/// Where a scripted master takes the link before its hostile input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Connected; the replica's PING awaits its reply.
    Ping,
    /// PING and the REPLCONFs answered; the replica's PSYNC awaits its reply.
    Psync,
    /// `+FULLRESYNC` received; the RDB's `$<len>` or `$EOF:` line is awaited.
    Transfer,
    /// A full sync completed: the link is up at the given master offset and the stream flows.
    Connected(u64),
}

/// A replication ID the scripted master announces.
pub const SCRIPTED_REPLID: &str = "0123456789abcdef0123456789abcdef01234567";

impl Scripted {
    /// A replica of 10.0.0.1:6379 with `config`, connected to its (scripted) master: the first
    /// cron tick opened the link and the connection is established.
    pub fn new(config: Config) -> Scripted {
        let node = Node::boot(
            SimTime::ZERO,
            NodeParams {
                name: "replica".into(),
                ip: ip(1),
                port: 6379,
                config,
                replicaof: Some((ip(0), 6379)),
                seed: 1,
            },
            None,
        );
        let mut s = Scripted {
            node,
            now: SimTime::ZERO,
            conn: ConnId(0),
            sent: Vec::new(),
            actions: Vec::new(),
            logs: Vec::new(),
            events: Vec::new(),
        };
        s.run_cron();
        let conn = s
            .last_connect()
            .expect("a configured replica connects at its first cron tick");
        s.conn = conn;
        s.node.handle_connected(s.now, conn);
        s.drain();
        s
    }

    /// A scripted replica taken to `stage`, with what happened on the way forgotten.
    pub fn at(stage: Stage, config: Config) -> Scripted {
        let mut s = Scripted::new(config);
        if stage != Stage::Ping {
            s.feed(b"+PONG\r\n+OK\r\n+OK\r\n");
            assert!(
                s.sent_text()
                    .ends_with("$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n"),
                "the handshake reached PSYNC: {}",
                s.sent_text()
            );
        }
        if let Stage::Transfer | Stage::Connected(_) = stage {
            let offset = match stage {
                Stage::Connected(o) => o,
                _ => 0,
            };
            s.feed(format!("+FULLRESYNC {SCRIPTED_REPLID} {offset}\r\n").as_bytes());
            assert_eq!(s.node.repl_state(), super::ReplState::Transfer);
        }
        if let Stage::Connected(_) = stage {
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
            let super::rdb::Part::Bytes(bytes) = &rdb.parts[0] else {
                unreachable!("an empty keyspace encodes to bytes only")
            };
            let mut bulk = format!("${}\r\n", bytes.len()).into_bytes();
            bulk.extend_from_slice(bytes);
            s.feed(&bulk);
            s.run_timers_before_cron();
            assert!(s.node.master_link_up(), "{:#?}", s.logs);
        }
        s.sent.clear();
        s.actions.clear();
        s.logs.clear();
        s.events.clear();
        s
    }

    /// Collects what the node queued: bytes on the link, actions, log lines, events.
    fn drain(&mut self) {
        struct Sink<'a>(ConnId, &'a mut Vec<u8>);
        impl Transmit for Sink<'_> {
            fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
                if conn == self.0 {
                    self.1.extend_from_slice(bytes);
                }
                bytes.len()
            }
            fn send_opaque(&mut self, _conn: ConnId, len: u64) -> u64 {
                len
            }
        }
        self.node
            .poll_transmit(self.now, &mut Sink(self.conn, &mut self.sent));
        while let Some(a) = self.node.poll_action() {
            self.actions.push(a);
        }
        while let Some(l) = self.node.poll_log() {
            self.logs.push(l);
        }
        while let Some(e) = self.node.poll_event() {
            self.events.push(e);
        }
    }

    /// The master's bytes arrive on the link.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.node.handle_data(self.now, self.conn, bytes);
        self.drain();
    }

    /// An opaque run (the synthetic part of an RDB) arrives on the link.
    /// The master closes its end: the replica reads end-of-stream.
    pub fn eof(&mut self) {
        let (now, conn) = (self.now, self.conn);
        self.node.handle_eof(now, conn);
        self.drain();
    }

    pub fn feed_opaque(&mut self, len: u64) {
        self.node.handle_opaque(self.now, self.conn, len);
        self.drain();
    }

    /// Runs the node's next timer.
    fn run_next_timer(&mut self) -> super::node::Timer {
        let (at, timer) = self
            .node
            .poll_timeout()
            .expect("a node always has its cron");
        self.now = self.now.max(at);
        self.node.handle_timeout(self.now);
        self.drain();
        timer
    }

    /// Runs timers up to and including the next cron tick.
    pub fn run_cron(&mut self) {
        while self.run_next_timer() != super::node::Timer::Cron {}
    }

    /// Runs every timer due before the next cron tick (a load finishing, a diskless read
    /// resuming), so what happens "at once" is told apart from what waits for the cron.
    pub fn run_timers_before_cron(&mut self) {
        while self
            .node
            .poll_timeout()
            .is_some_and(|(_, t)| t != super::node::Timer::Cron)
        {
            self.run_next_timer();
        }
    }

    /// Runs for `d` of simulated time: every timer due, in order.
    pub fn run_for(&mut self, d: SimDuration) {
        let end = self.now + d;
        while self.node.poll_timeout().is_some_and(|(t, _)| t <= end) {
            self.run_next_timer();
        }
        self.now = end;
    }

    /// The last connection the replica asked to open, if any.
    pub fn last_connect(&self) -> Option<ConnId> {
        self.actions.iter().rev().find_map(|a| match a {
            Action::Connect { conn, .. } => Some(*conn),
            _ => None,
        })
    }

    /// Whether the replica closed `conn`.
    pub fn closed(&self, conn: ConnId) -> bool {
        self.actions.contains(&Action::Close { conn })
    }

    /// Whether a log line contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.logs.iter().any(|l| l.message.contains(text))
    }

    pub fn sent_text(&self) -> String {
        String::from_utf8_lossy(&self.sent).to_string()
    }
}
