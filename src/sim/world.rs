//! The world the engine drives: nodes, the network between them, client workloads, the fault
//! timeline, and the recording of what happened.
//!
//! The world is the only place that knows both a node's connection ids and the network's. It
//! moves bytes from `Node::poll_transmit` into `Network::send`, turns network outputs into
//! `Node::handle_*` calls, and keeps one timer event per node for `Node::poll_timeout`. It holds
//! no replication logic (that is the node's) and decides nothing about delivery (the network's).

use hashbrown::HashMap;
use rustc_hash::FxBuildHasher;

use super::applied::Applied;
use super::conns::{ConnTable, NodeConns};
use super::observe::{
    AttemptOutcome, FaultWindow, Milestone, MilestoneAt, OpRecord, ReadStats, Sample, SyncAttempt,
    WorkloadCounters, WorkloadLatency, WriteRecord,
};
use super::trace::TraceKind;
use super::{Engine, Model};
use crate::net::{NetOutput, NetTimer, Network, NodeId, Segment, Side};
use crate::redis::log::LogLine;
use crate::redis::resp::Reply;
use crate::redis::shared::SharedBytes;
use crate::redis::{Action, ClientId, ConnId, Event, Node, NodeParams, Persisted, Timer, Transmit};
use crate::scenario::Scenario;
use crate::seed::SeedStream;
use crate::time::{SimDuration, SimTime};
use crate::workload::{OpKind, Workload};

/// The engine's events.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Net(NetTimer),
    NodeTimer {
        node: u32,
        gen: u32,
    },
    /// A workload's next operation reaches its node (issued half a round trip earlier).
    Issue {
        workload: u32,
    },
    /// An operation's request reaches its node.
    Arrive {
        op: u32,
    },
    /// A client that has waited its timeout for a blocked command gives up and closes.
    ClientTimeout {
        op: u32,
        client: u64,
    },
    Fault {
        idx: u32,
    },
    /// The end of a fault with a duration (partition, pause).
    FaultEnd {
        idx: u32,
    },
    Sample,
    /// A Sentinel's timer (`sentinelTimer`).
    SentinelTimer {
        sentinel: u32,
        gen: u32,
    },
    /// A script workload's next command reaches its node.
    Script {
        script: u32,
    },
    /// Probe `probe` runs for the `k`-th time.
    Probe {
        probe: u32,
        k: u32,
    },
}

impl From<NetTimer> for Ev {
    fn from(t: NetTimer) -> Ev {
        Ev::Net(t)
    }
}

/// The most log lines kept per node; later lines are counted, not kept.
const LOG_LINES_MAX: usize = 200_000;

/// The address of node `i`.
pub fn node_ip(i: usize) -> String {
    format!("10.0.{}.{}", i / 250, i % 250 + 1)
}

/// The node whose address [`node_ip`] gives `ip`, if `ip` is one it gives: the inverse in
/// constant time, where trying every node's address costs one formatting per node.
pub fn node_of_ip(ip: &str) -> Option<usize> {
    let (hi, lo) = ip.strip_prefix("10.0.")?.split_once('.')?;
    let (hi, lo): (usize, usize) = (hi.parse().ok()?, lo.parse().ok()?);
    let i = hi.checked_mul(250)?.checked_add(lo.checked_sub(1)?)?;
    // Exactly what node_ip writes: no leading zeros or signs, the last part within 1..=250.
    ((1..=250).contains(&lo) && node_ip(i) == ip).then_some(i)
}

pub const PORT: u16 = 6379;

pub(crate) struct Slot {
    /// Boxed: the node leaves its slot while it acts (see `drain`), and moving a pointer is cheap
    /// where moving the whole node struct on every event was measured as a large cost.
    pub node: Option<Box<Node>>,
    pub params: NodeParams,
    pub paused: bool,
    /// Network outputs and operations held while paused.
    pub(crate) deferred: Vec<NetOutput>,
    pub(crate) deferred_ops: Vec<u32>,
    /// Operator commands (by fault index) sent while paused: they run when it resumes.
    pub(crate) deferred_commands: Vec<usize>,
    pub(crate) timer_gen: u32,
    /// The node's next deadline and which of its timers it is, as scheduled.
    pub(crate) timer_at: Option<(SimTime, Timer)>,
    pub logs: Vec<LogLine>,
    pub logs_dropped: u64,
    /// The snapshot a restart with persistence loads.
    pub(crate) persisted: Option<Persisted>,
}

/// An operation in flight.
pub(crate) struct PendingOp {
    pub workload: u16,
    pub kind: OpKind,
    pub key: u32,
    pub node: usize,
    pub invoke: SimTime,
    pub op: crate::workload::Op,
    pub write: Option<u32>,
    pub client: ClientId,
    /// Its index in the history, when the run keeps one.
    pub history: Option<u32>,
    /// The write succeeded and its WAIT, sent at this instant, is in flight.
    pub waiting: Option<SimTime>,
    /// How long the client spent finding the node before sending (a Sentinel-aware client
    /// asking its Sentinels): the request leaves at `invoke + discovery`, and its timeout runs
    /// from then, as a socket timeout does.
    pub discovery: SimDuration,
}

/// A partition in force: its fault index, its name, the directions it blocks, and the index of
/// its window in the recording.
pub(crate) type ActivePartition = (usize, Option<String>, Vec<(usize, usize)>, usize);

/// Everything a run recorded.
#[derive(Default)]
pub struct Recording {
    pub writes: Vec<WriteRecord>,
    pub counters: Vec<WorkloadCounters>,
    /// Per workload: latencies by operation and WAIT's answers.
    pub latency: Vec<WorkloadLatency>,
    /// Per node: what the reads it served showed.
    pub reads: Vec<ReadStats>,
    /// Per node: the full syncs it attempted as a replica, in order.
    pub attempts: Vec<Vec<SyncAttempt>>,
    /// Per node: the first instant at or after the last fault at which it was a replica with
    /// its link up and its dataset equal to its master's at the same offset.
    pub converged_at: Vec<Option<SimTime>>,
    /// Which client writes each node's dataset holds.
    pub applied: Applied,
    /// Every client operation, when the run keeps a history ([`RunOptions::history`]).
    pub history: Option<Vec<OpRecord>>,
    /// Error kinds of refused operations in the history, by the index their records carry.
    pub error_kinds: Vec<String>,
    pub milestones: Vec<MilestoneAt>,
    pub windows: Vec<FaultWindow>,
    /// Every operator command and its reply, in the order they ran.
    pub operator_commands: Vec<super::fault::OperatorCommand>,
    pub samples: Vec<Sample>,
    /// The last time a fault was active or began (partitions healing, pauses ending), or a
    /// Sentinel sent a node REPLICAOF.
    pub last_fault_end: SimTime,
    /// Every event the Sentinels reported, in order.
    pub sentinel_events: Vec<super::sentinels::SentinelEventAt>,
    /// The faults that wait for an event, and when it came.
    pub triggers: super::fault::Triggers,
    /// Per script workload: the commands it sent and their replies.
    pub scripts: Vec<super::clients::ScriptLog>,
    /// Every probe's replies, in the order they ran.
    pub probes: Vec<super::fault::ProbeReply>,
}

/// A node's recent `(master_repl_offset, digest)` pairs, kept once a replica has compared
/// itself against it: the dataset it had at each offset its stream reached.
#[derive(Default)]
pub(crate) struct DigestLog {
    entries: std::collections::VecDeque<(u64, u64)>,
}

impl DigestLog {
    /// The most pairs kept: enough for a replica seconds behind a busy master.
    const LEN_MAX: usize = 1 << 16;

    fn record(&mut self, offset: u64, digest: u64) {
        match self.entries.back_mut() {
            // The dataset changed without the stream (a local write): the latest state counts.
            Some(last) if last.0 == offset => last.1 = digest,
            // The offset went back (the node synced from another history): start over.
            Some(last) if last.0 > offset => {
                self.entries.clear();
                self.entries.push_back((offset, digest));
            }
            _ => {
                if self.entries.len() == Self::LEN_MAX {
                    self.entries.pop_front();
                }
                self.entries.push_back((offset, digest));
            }
        }
    }

    fn at(&self, offset: u64) -> Option<u64> {
        let i = self.entries.partition_point(|&(o, _)| o < offset);
        self.entries
            .get(i)
            .filter(|&&(o, _)| o == offset)
            .map(|&(_, d)| d)
    }
}

/// What a run keeps beyond what its checkers need.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Record every client operation for `history.jsonl` (about 40 bytes each).
    pub history: bool,
    /// Check every node invariant after every input, whatever the build
    /// ([`crate::redis::Node::set_full_invariants`]).
    pub full_invariants: bool,
}

pub struct World {
    pub scenario: Scenario,
    pub net: Network,
    pub(crate) slots: Vec<Slot>,
    /// The Sentinels, hosts after the nodes (`sentinels.rs`).
    pub(crate) sentinels: Vec<super::sentinels::SentinelSlot>,
    /// Which node connection is which network connection.
    pub(crate) conns: ConnTable,
    pub(crate) workloads: Vec<Workload>,
    pub(crate) ops: Vec<Option<PendingOp>>,
    pub(crate) free_ops: Vec<u32>,
    /// Blocked (WAIT) operations by client.
    pub(crate) blocked: HashMap<ClientId, u32, FxBuildHasher>,
    pub(crate) next_client: u64,
    /// Per key: the latest acknowledged SET or DEL (index into `writes`) and its invoke time,
    /// kept here so comparing a new acknowledgement does not reach back into the history.
    pub(crate) latest_acked: Vec<Option<(u32, u64)>>,
    /// Active partitions: (fault index, name, blocked pairs, window index).
    pub(crate) partitions: Vec<ActivePartition>,
    /// Where `@master` sends operations: `current_master()` as of its last refresh (at the
    /// start, at each fault and at each sample), so clients change master at those instants.
    pub(crate) master_target: Option<usize>,
    /// Per workload: the node a Sentinel-aware client is connected to (`sentinel_clients.rs`).
    pub(crate) sentinel_masters: Vec<Option<usize>>,
    outs: Vec<NetOutput>,
    /// Reused buffers for rendering operations' arguments.
    pub(crate) args: crate::workload::ArgBuf,
    /// WAIT replies collected while draining a node, finished right after; `None` for a client
    /// whose connection CLIENT KILL closed.
    pending_replies: Vec<(u32, Option<Reply>)>,
    /// Per node: its recent datasets by offset, once some replica compares against it.
    pub(crate) digest_logs: Vec<Option<DigestLog>>,
    /// Per node: it has completed a sync (full or partial) since it last started.
    pub(crate) synced: Vec<bool>,
    /// Node addresses and names → index.
    hosts: std::collections::BTreeMap<String, usize>,
    /// The store every node keeps its keys and values in (restarted nodes too).
    pub(crate) shared: SharedBytes,
    pub rec: Recording,
    pub(crate) root_seed: u64,
    /// Nodes check every invariant after every input ([`RunOptions::full_invariants`]).
    pub(crate) full_invariants: bool,
}

impl World {
    /// Builds the world for `scenario` under `seed` and schedules its first events.
    pub fn new(
        scenario: Scenario,
        seed: u64,
        options: RunOptions,
        engine: &mut Engine<Ev>,
    ) -> World {
        let n = scenario.nodes.len();
        let hosts_n = scenario.host_count();
        let mut net = Network::new(hosts_n, scenario.network, SeedStream::derive(seed, "net"));
        net.set_connect_timeout(scenario.connect_timeout);
        for l in &scenario.links {
            net.set_link(NodeId(l.a as u32), NodeId(l.b as u32), l.params);
            if !l.one_way {
                net.set_link(NodeId(l.b as u32), NodeId(l.a as u32), l.params);
            }
        }
        let mut slots = Vec::with_capacity(n);
        // One store for every node's keys and values: a replica holds what its master holds.
        let shared = SharedBytes::new();
        for (i, spec) in scenario.nodes.iter().enumerate() {
            let params = NodeParams {
                name: spec.name.clone(),
                ip: node_ip(i),
                port: PORT,
                config: spec.config.clone(),
                replicaof: spec.replicaof.map(|m| (node_ip(m), PORT)),
                seed,
            };
            let mut node = Node::boot_in(SimTime::ZERO, params.clone(), None, &shared);
            if options.full_invariants {
                node.set_full_invariants(true);
            }
            load_initial_data(&mut node, &spec.data);
            slots.push(Slot {
                node: Some(Box::new(node)),
                params,
                paused: false,
                deferred: Vec::new(),
                deferred_ops: Vec::new(),
                deferred_commands: Vec::new(),
                timer_gen: 0,
                timer_at: None,
                logs: Vec::new(),
                logs_dropped: 0,
                persisted: None,
            });
        }
        let workloads: Vec<Workload> = scenario
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| Workload::new(w.clone(), seed, i))
            .collect();
        let max_keys = scenario.workloads.iter().map(|w| w.keys).max().unwrap_or(0) as usize;
        let mut hosts = std::collections::BTreeMap::new();
        for (i, s) in slots.iter().enumerate() {
            hosts.insert(s.params.name.clone(), i);
            hosts.insert(s.params.ip.clone(), i);
        }
        let mut world = World {
            net,
            slots,
            sentinels: Vec::new(),
            conns: ConnTable::new(hosts_n),
            ops: Vec::new(),
            free_ops: Vec::new(),
            blocked: HashMap::default(),
            next_client: 1_000,
            latest_acked: vec![None; max_keys],
            partitions: Vec::new(),
            master_target: None,
            sentinel_masters: vec![None; workloads.len()],
            outs: Vec::new(),
            pending_replies: Vec::new(),
            digest_logs: (0..n).map(|_| None).collect(),
            synced: vec![false; n],
            hosts,
            shared,
            args: Default::default(),
            rec: Recording {
                counters: vec![WorkloadCounters::default(); workloads.len()],
                latency: vec![WorkloadLatency::default(); workloads.len()],
                reads: vec![ReadStats::default(); n],
                attempts: vec![Vec::new(); n],
                converged_at: vec![None; n],
                applied: Applied::new(n),
                history: options.history.then(Vec::new),
                ..Recording::default()
            },
            workloads,
            root_seed: seed,
            full_invariants: options.full_invariants,
            scenario,
        };
        for (replica, master) in warm_order(&world.scenario) {
            world.start_in_sync(engine, replica, master);
        }
        for i in 0..n {
            world.drain(engine, i);
        }
        world.boot_sentinels(engine);
        world.refresh_master_target();
        for i in 0..world.workloads.len() {
            if let Some(t) = world.workloads[i].next_time() {
                let half = world.workloads[i].half_rtt();
                engine.schedule(t + half, Ev::Issue { workload: i as u32 });
            }
        }
        for (s, script) in world.scenario.scripts.iter().enumerate() {
            world.rec.scripts.push(Default::default());
            let half = SimDuration::from_nanos(script.client_rtt.as_nanos() / 2);
            engine.schedule(
                SimTime::ZERO + script.start + half,
                Ev::Script { script: s as u32 },
            );
        }
        for (p, probe) in world.scenario.probes.iter().enumerate() {
            engine.schedule(
                SimTime::ZERO + probe.times[0],
                Ev::Probe {
                    probe: p as u32,
                    k: 0,
                },
            );
        }
        for (i, f) in world.scenario.faults.iter().enumerate() {
            match &f.after {
                None => engine.schedule(SimTime::ZERO + f.at, Ev::Fault { idx: i as u32 }),
                Some(_) => world.rec.triggers.wait_for(i),
            }
        }
        engine.schedule(SimTime::ZERO, Ev::Sample);
        world
    }

    /// Starts `replica` in sync with `master` over a connection established from the start:
    /// both nodes take the state a completed full sync leaves (`redis::warm`), and the world
    /// holds them as linked. The connection shows in the trace as connected, accepted and
    /// established at once.
    fn start_in_sync(&mut self, e: &mut Engine<Ev>, replica: usize, master: usize) {
        let now = e.now();
        let nc = self
            .net
            .connect_established(now, NodeId(replica as u32), NodeId(master as u32));
        let (Some(mut m), Some(mut r)) = (
            self.slots[master].node.take(),
            self.slots[replica].node.take(),
        ) else {
            unreachable!("every node is up before the run starts");
        };
        let m_conn = m.handle_accept(
            now,
            &node_ip(replica),
            40_000 + (nc.as_u64() % 20_000) as u16,
        );
        // The scenario admits only warm replicas whose sync would succeed.
        let point = m
            .attach_synced_replica(now, m_conn, &r)
            .unwrap_or_else(|e| panic!("a warm start the scenario admitted failed: {e}"));
        let r_conn = r
            .follow_synced(now, &point)
            .unwrap_or_else(|e| panic!("a warm start the scenario admitted failed: {e}"));
        self.conns.connect(replica, r_conn, nc);
        self.conns.accept(master, m_conn, nc);
        let (a, b, c) = (replica as u64, master as u64, nc.as_u64());
        e.trace
            .record(now.as_nanos(), TraceKind::ConnectStart, a, b, c);
        e.trace.record(now.as_nanos(), TraceKind::Accept, b, a, c);
        e.trace
            .record(now.as_nanos(), TraceKind::Established, a, 0, c);
        self.slots[master].node = Some(m);
        self.slots[replica].node = Some(r);
        self.synced[replica] = true;
    }

    pub fn node(&self, i: usize) -> Option<&Node> {
        self.slots[i].node.as_deref()
    }

    pub fn node_count(&self) -> usize {
        self.slots.len()
    }

    pub fn logs(&self, i: usize) -> (&[LogLine], u64) {
        (&self.slots[i].logs, self.slots[i].logs_dropped)
    }

    /// The node a host names: its address, or its scenario name (as DNS would resolve it).
    pub fn resolve(&self, host: &str) -> Option<usize> {
        self.hosts.get(host).copied()
    }

    /// The node that node `i` replicates from: the one its `replicaof` host names. None for a
    /// master, a crashed node, or a host that names no node.
    pub fn master_of(&self, i: usize) -> Option<usize> {
        let (host, _) = self.node(i)?.master_host()?;
        self.resolve(host)
    }

    /// How many bytes of its master's stream replica `i` lacks: the master's
    /// `master_repl_offset` less the replica's own, which is its `slave_repl_offset` while
    /// linked and stays where its data is while it resyncs (INFO then shows no applied offset,
    /// and counting that as 0 drew a replica mid-resync as lacking the whole stream). A replica
    /// that holds nothing of the stream yet (never synced) lacks all of it. None unless `i` and
    /// its master are up.
    pub fn lag_bytes(&self, i: usize) -> Option<u64> {
        let replica = self.node(i)?;
        let master = self.node(self.master_of(i)?)?;
        Some(
            master
                .master_repl_offset()
                .saturating_sub(replica.master_repl_offset()),
        )
    }

    /// The top of node `i`'s replication chain and how many `replicaof` links lead there: the
    /// master whose stream it replicates, however many replicas forward it on the way. None for
    /// a master, and for a chain that is broken (a node on it down, or a host naming no node) or
    /// loops (REPLICAOF can point two replicas at each other).
    pub fn chain_top(&self, i: usize) -> Option<(usize, u32)> {
        let mut at = i;
        let mut hops = 0u32;
        while let Some(m) = self.master_of(at) {
            hops += 1;
            if hops as usize > self.slots.len() {
                return None;
            }
            at = m;
        }
        (hops > 0 && self.node(at).is_some_and(|n| n.is_master())).then_some((at, hops))
    }

    /// How many bytes of the stream at the top of its chain replica `i` lacks, as `lag_bytes`
    /// counts them against its own master (the same figure one hop from the top). A replica
    /// forwards exactly the bytes it applies, so offsets along a chain are one stream's.
    pub fn lag_bytes_top(&self, i: usize) -> Option<u64> {
        let replica = self.node(i)?;
        let (top, _) = self.chain_top(i)?;
        let top = self.node(top)?;
        Some(
            top.master_repl_offset()
                .saturating_sub(replica.master_repl_offset()),
        )
    }

    /// The current master: the live master with the most replicas, the lowest index among
    /// equals. Clients address it as `@master`, and its dataset is a run's outcome.
    pub fn current_master(&self) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for i in 0..self.slots.len() {
            let Some(n) = self.node(i) else { continue };
            if !n.is_master() {
                continue;
            }
            let replicas = n.replica_summaries().len();
            // Strictly more: an equal count later in the table keeps the lower index.
            if best.is_none_or(|(_, r)| replicas > r) {
                best = Some((i, replicas));
            }
        }
        best.map(|(i, _)| i)
    }

    /// Lets node `i` act on what it queued: writes, connects, closes, events, logs, its timer.
    pub(crate) fn drain(&mut self, e: &mut Engine<Ev>, i: usize) {
        let now = e.now();
        // The node leaves its slot while it acts, so the slot table stays free to consult.
        let Some(mut node) = self.slots[i].node.take() else {
            return;
        };
        let mut tx = NetTx {
            net: &mut self.net,
            engine: e,
            conns: self.conns.of_node(i),
            now,
        };
        node.poll_transmit(now, &mut tx);
        while let Some(a) = node.poll_action() {
            match a {
                Action::Connect { conn, host, .. } => match self.resolve(&host) {
                    Some(j) => {
                        let nc = self.net.connect(now, NodeId(i as u32), NodeId(j as u32), e);
                        self.conns.connect(i, conn, nc);
                        e.trace.record(
                            now.as_nanos(),
                            TraceKind::ConnectStart,
                            i as u64,
                            j as u64,
                            nc.as_u64(),
                        );
                    }
                    None => node.handle_connect_failed(now, conn, "Name or service not known"),
                },
                Action::Close { conn } => {
                    if let Some((nc, side)) = self.conns.close(i, conn) {
                        self.net.close(now, nc, side, e);
                        e.trace
                            .record(now.as_nanos(), TraceKind::Close, i as u64, 0, nc.as_u64());
                    }
                }
                Action::PauseRead { conn } | Action::ResumeRead { conn } => {
                    let reading = matches!(a, Action::ResumeRead { .. });
                    if let Some((nc, side)) = self.conns.net_of(i, conn) {
                        self.net.set_reading(now, nc, side, reading, e);
                    }
                }
            }
        }
        let mut loaded = false;
        while let Some(ev) = node.poll_event() {
            let what = match ev {
                Event::Reply { client, reply } => {
                    if let Some(op) = self.blocked.remove(&client) {
                        self.pending_replies.push((op, Some(reply)));
                    } else {
                        self.operator_reply(e, &mut node, client, reply);
                    }
                    continue;
                }
                Event::FullSyncStarted => {
                    self.rec.attempts[i].push(SyncAttempt {
                        start: now,
                        end: None,
                        outcome: AttemptOutcome::InProgress,
                        dropped_by_master: None,
                    });
                    Milestone::FullSyncStarted
                }
                Event::FullSyncFinished => {
                    loaded = true;
                    self.synced[i] = true;
                    self.end_attempt(i, now, AttemptOutcome::Finished);
                    Milestone::FullSyncFinished
                }
                Event::FullSyncAborted { reason } => {
                    self.end_attempt(i, now, AttemptOutcome::Aborted(reason));
                    Milestone::FullSyncAborted
                }
                Event::PartialSyncAccepted => {
                    self.synced[i] = true;
                    self.rec.attempts[i].push(SyncAttempt {
                        start: now,
                        end: Some(now),
                        outcome: AttemptOutcome::Partial,
                        dropped_by_master: None,
                    });
                    Milestone::PartialSync
                }
                Event::MasterLinkDown => Milestone::LinkDown,
                Event::ReplicaDropped { replica, reason } => {
                    // The replica's attempt in progress learns why it will see its link go.
                    let ip = replica.split(':').next().unwrap_or("");
                    if let Some(r) = self.resolve(ip) {
                        if let Some(a) = self.rec.attempts[r]
                            .last_mut()
                            .filter(|a| a.outcome == AttemptOutcome::InProgress)
                        {
                            a.dropped_by_master = Some(reason);
                        }
                    }
                    Milestone::ReplicaDropped {
                        replica,
                        reason: format!("{reason:?}"),
                    }
                }
                Event::ClientKilled { client } => {
                    self.sentinel_client_killed(i, client);
                    // A client killed in a blocked WAIT hears nothing more.
                    if let Some(op) = self.blocked.remove(&client) {
                        self.pending_replies.push((op, None));
                    }
                    continue;
                }
                Event::RoleChanged { master: true } => Milestone::BecameMaster,
                Event::RoleChanged { master: false } => Milestone::BecameReplica,
                Event::ReplicaPartialSync { .. } | Event::ReplicaFullSync { .. } => continue,
            };
            self.rec.milestones.push(MilestoneAt {
                time: now,
                node: i,
                what,
            });
        }
        let slot = &mut self.slots[i];
        while let Some(l) = node.poll_log() {
            if slot.logs.len() < LOG_LINES_MAX {
                slot.logs.push(l);
            } else {
                slot.logs_dropped += 1;
            }
        }
        let next = node.poll_timeout();
        let t = next.map(|(at, _)| at);
        if slot.paused {
            // A stopped process sets no timers; its deadline is read again when it resumes.
        } else if t != slot.timer_at.map(|(at, _)| at) {
            slot.timer_at = next;
            slot.timer_gen += 1;
            if let Some(t) = t {
                e.schedule(
                    t.max(now),
                    Ev::NodeTimer {
                        node: i as u32,
                        gen: slot.timer_gen,
                    },
                );
            }
        } else {
            // The same instant, perhaps for another of the node's timers: no new event.
            slot.timer_at = next;
        }
        slot.node = Some(node);
        self.observe_node(now, i, loaded);
        let replies = std::mem::take(&mut self.pending_replies);
        for (op, reply) in replies {
            let half = self.workloads[self.op_ref(op).workload as usize].half_rtt();
            self.finish_op(e, op, reply.as_ref(), now + half);
        }
    }

    /// Hands a network output to its node, or holds it while the node is paused.
    pub(crate) fn net_output(&mut self, e: &mut Engine<Ev>, o: NetOutput) {
        let now = e.now();
        let i = crate::net::output_node(&o).index();
        if i >= self.slots.len() {
            return self.sentinel_net_output(e, i, o);
        }
        if self.slots[i].paused {
            if let NetOutput::Data { .. } = o {
                unreachable!("the network holds data for a paused node");
            }
            self.slots[i].deferred.push(o);
            return;
        }
        let Some(node) = self.slots[i].node.as_mut() else {
            return;
        };
        match o {
            NetOutput::Accept { conn, .. } => {
                let peer = self.conns.connecting_node(conn);
                let peer_ip = peer.map_or_else(|| "0.0.0.0".to_string(), node_ip);
                let local =
                    node.handle_accept(now, &peer_ip, 40_000 + (conn.as_u64() % 20_000) as u16);
                self.conns.accept(i, local, conn);
                e.trace.record(
                    now.as_nanos(),
                    TraceKind::Accept,
                    i as u64,
                    peer.unwrap_or(usize::MAX) as u64,
                    conn.as_u64(),
                );
            }
            NetOutput::Established { conn, .. } => {
                if let Some((_, local)) = self.conns.end(conn, Side::Client) {
                    e.trace.record(
                        now.as_nanos(),
                        TraceKind::Established,
                        i as u64,
                        0,
                        conn.as_u64(),
                    );
                    node.handle_connected(now, local);
                }
            }
            NetOutput::ConnectFailed { conn, .. } => {
                if let Some((_, local)) = self.conns.connect_failed(conn) {
                    e.trace.record(
                        now.as_nanos(),
                        TraceKind::ConnectTimeout,
                        i as u64,
                        0,
                        conn.as_u64(),
                    );
                    node.handle_connect_failed(now, local, "Connection timed out");
                }
            }
            NetOutput::ConnectRefused { conn, .. } => {
                if let Some((_, local)) = self.conns.connect_failed(conn) {
                    e.trace.record(
                        now.as_nanos(),
                        TraceKind::ConnectRefused,
                        i as u64,
                        0,
                        conn.as_u64(),
                    );
                    node.handle_connect_failed(now, local, "Connection refused");
                }
            }
            NetOutput::Data {
                conn, side, eof, ..
            } => {
                let Some((_, local)) = self.conns.end(conn, side) else {
                    return;
                };
                let d = self.net.delivered();
                e.trace.record(
                    now.as_nanos(),
                    TraceKind::Deliver,
                    i as u64,
                    d.len(),
                    conn.as_u64() << 1 | side as u64,
                );
                let mut at = 0usize;
                for seg in &d.segments {
                    match *seg {
                        Segment::Bytes(n) => {
                            node.handle_data(now, local, &d.bytes[at..at + n]);
                            at += n;
                        }
                        Segment::Opaque(n) => node.handle_opaque(now, local, n),
                    }
                }
                if eof {
                    e.trace
                        .record(now.as_nanos(), TraceKind::Eof, i as u64, 0, conn.as_u64());
                    node.handle_eof(now, local);
                }
            }
            NetOutput::Writable { conn, side, .. } => {
                if let Some((_, local)) = self.conns.end(conn, side) {
                    node.handle_writable(now, local);
                }
            }
            NetOutput::Reset { conn, side, .. } => {
                if let Some((_, local)) = self.conns.reset(conn, side) {
                    e.trace
                        .record(now.as_nanos(), TraceKind::Reset, i as u64, 0, conn.as_u64());
                    node.handle_reset(now, local);
                }
            }
        }
        self.drain(e, i);
    }
}

impl World {
    /// Ends replica `i`'s attempt in progress, if any.
    fn end_attempt(&mut self, i: usize, now: SimTime, outcome: AttemptOutcome) {
        if let Some(a) = self.rec.attempts[i]
            .last_mut()
            .filter(|a| a.outcome == AttemptOutcome::InProgress)
        {
            a.end = Some(now);
            a.outcome = outcome;
        }
    }

    /// After node `i` acted: where its dataset stands (the writes it holds, its digest at its
    /// offset), and whether, as a replica, it now equals its master's at the same offset.
    fn observe_node(&mut self, now: SimTime, i: usize, loaded: bool) {
        let Some(n) = self.slots[i].node.as_deref() else {
            return;
        };
        let offset = n.master_repl_offset();
        self.rec.applied.observe(
            i,
            n.replid(),
            n.replid2(),
            n.second_replid_offset(),
            offset,
            loaded,
        );
        let digest = n.digest();
        if let Some(log) = self.digest_logs[i].as_mut() {
            log.record(offset, digest);
        }
        // Converged: at or after the last fault, link up and the same dataset as the master
        // had at this offset. Once is enough until a later fault.
        let settled = self.rec.converged_at[i].is_some_and(|t| t >= self.rec.last_fault_end);
        if settled || now < self.rec.last_fault_end || !n.master_link_up() {
            return;
        }
        let Some(m) = self.master_of(i) else { return };
        let Some(master) = self.node(m) else { return };
        let same = if master.master_repl_offset() == offset {
            Some(master.digest())
        } else {
            self.digest_logs[m].as_ref().and_then(|l| l.at(offset))
        };
        if self.digest_logs[m].is_none() {
            // From now on the master keeps what it held at each offset.
            let mut log = DigestLog::default();
            log.record(master.master_repl_offset(), master.digest());
            self.digest_logs[m] = Some(log);
        }
        if same == Some(digest) {
            self.rec.converged_at[i] = Some(now);
        }
    }
}

/// The node's socket layer: writes go into the network.
struct NetTx<'a> {
    net: &'a mut Network,
    engine: &'a mut Engine<Ev>,
    conns: &'a NodeConns,
    now: SimTime,
}

impl Transmit for NetTx<'_> {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        match self.conns.get(&conn) {
            Some(&(nc, side)) => self.net.send(self.now, nc, side, bytes, self.engine),
            None => 0,
        }
    }
    fn send_opaque(&mut self, conn: ConnId, len: u64) -> u64 {
        match self.conns.get(&conn) {
            Some(&(nc, side)) => self.net.send_opaque(self.now, nc, side, len, self.engine),
            None => 0,
        }
    }
}

/// The warm replicas with their masters, each after its master's own warm start: a warm
/// replica of a warm replica shares the history its master took over.
fn warm_order(scenario: &Scenario) -> Vec<(usize, usize)> {
    let depth = |mut i: usize| {
        let mut d = 0;
        while let Some(m) = scenario.nodes[i].replicaof {
            d += 1;
            i = m;
            if d > scenario.nodes.len() {
                unreachable!("the scenario admits no replication cycle");
            }
        }
        d
    };
    let mut warm: Vec<(usize, usize, usize)> = scenario
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.warm)
        .filter_map(|(i, n)| Some((depth(i), i, n.replicaof?)))
        .collect();
    warm.sort_unstable();
    warm.into_iter().map(|(_, i, m)| (i, m)).collect()
}

fn load_initial_data(node: &mut Node, data: &crate::scenario::DataSpec) {
    let db = node.keyspace.db_mut(0);
    let mut value = b"init:".to_vec();
    value.resize((data.value_size as usize).max(5), b'x');
    for k in 0..data.keys {
        db.set(&crate::workload::key_name(k), &value, None);
    }
    db.set_bulk(data.bulk);
}

impl Model<Ev> for World {
    fn handle(&mut self, e: &mut Engine<Ev>, ev: Ev) {
        let now = e.now();
        match ev {
            Ev::Net(t) => {
                let mut outs = std::mem::take(&mut self.outs);
                self.net.handle(now, t, e, &mut outs);
                for o in outs.drain(..) {
                    self.net_output(e, o);
                }
                self.outs = outs;
            }
            Ev::NodeTimer { node, gen } => {
                let i = node as usize;
                let slot = &mut self.slots[i];
                if slot.timer_gen != gen || slot.paused {
                    return;
                }
                let Some(n) = slot.node.as_mut() else { return };
                let timer = slot.timer_at.take().map_or(0, |(_, timer)| timer.code());
                e.trace
                    .record(now.as_nanos(), TraceKind::Timer, u64::from(node), timer, 0);
                n.handle_timeout(now);
                self.drain(e, i);
            }
            Ev::Issue { workload } => self.issue(e, workload as usize),
            Ev::Arrive { op } => self.arrive(e, op),
            Ev::ClientTimeout { op, client } => self.client_timeout(e, op, ClientId(client)),
            Ev::Fault { idx } => self.fault(e, idx as usize),
            Ev::FaultEnd { idx } => self.fault_end(e, idx as usize),
            Ev::Sample => {
                self.sample(now);
                self.refresh_master_target();
                e.schedule(now + self.scenario.sample_interval, Ev::Sample);
            }
            Ev::SentinelTimer { sentinel, gen } => self.sentinel_timer(e, sentinel as usize, gen),
            Ev::Script { script } => self.script_step(e, script as usize),
            Ev::Probe { probe, k } => self.probe(e, probe as usize, k as usize),
        }
        if self.rec.triggers.waiting() {
            self.poll_triggers(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::{run, RunOutput};

    use super::{node_ip, node_of_ip};

    #[test]
    fn node_of_ip_inverts_node_ip_and_nothing_else() {
        for i in 0..3000 {
            assert_eq!(node_of_ip(&node_ip(i)), Some(i), "{}", node_ip(i));
        }
        for ip in [
            "",
            "10.0.",
            "10.0.0",
            "10.0.0.0",
            "10.0.0.251",
            "10.0.00.1",
            "10.0.0.01",
            "10.0.+1.1",
            "10.0.0.1.1",
            "10.1.0.1",
            "11.0.0.1",
            "10.0.-1.1",
        ] {
            assert_eq!(node_of_ip(ip), None, "{ip}");
        }
    }

    /// Runs a scenario of `nodes` (TOML `[[node]]` tables) and `rest` for five seconds.
    fn run_for_5s(nodes: &[(&str, Option<&str>)], rest: &str) -> RunOutput {
        let mut toml = "name = \"t\"\nduration = \"5s\"\n".to_string();
        for (name, master) in nodes {
            toml += &format!("[[node]]\nname = \"{name}\"\n");
            if let Some(m) = master {
                toml += &format!("replicaof = \"{m}\"\n");
            }
        }
        toml += rest;
        let sc = crate::scenario::parse("t.toml", &toml).expect("a valid scenario");
        run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }

    #[test]
    fn the_connection_table_agrees_both_ways_through_resets_crashes_and_restarts() {
        let nodes = [("A", None), ("B", Some("A")), ("C", Some("B"))];
        let faults = r#"
[[workload]]
target = "A"
rate = 200
[[fault]]
at = "1s"
kind = "reset"
between = ["A", "B"]
[[fault]]
at = "1500ms"
kind = "crash"
node = "B"
[[fault]]
at = "2500ms"
kind = "restart"
node = "B"
[[fault]]
at = "3s"
kind = "command"
node = "C"
command = "REPLICAOF 10.0.0.1 6379"
[[fault]]
at = "3500ms"
kind = "partition"
groups = [["A"], ["B", "C"]]
duration = "500ms"
"#;
        let out = run_for_5s(&nodes, faults);
        out.world.conns.assert_consistent();
        // Every live node has exactly the connections the table maps for it.
        for i in 0..out.world.node_count() {
            if let Some(n) = out.world.node(i) {
                assert_eq!(
                    out.world.conns.of_node(i).len(),
                    n.connection_count(),
                    "node {i}"
                );
            }
        }
    }

    #[test]
    fn the_current_master_has_the_most_replicas_the_lowest_index_among_equals() {
        let tie = [("A", None), ("B", None), ("a", Some("A")), ("b", Some("B"))];
        assert_eq!(run_for_5s(&tie, "").world.current_master(), Some(0));
        let more = [
            ("A", None),
            ("B", None),
            ("a", Some("A")),
            ("b", Some("B")),
            ("c", Some("B")),
        ];
        assert_eq!(run_for_5s(&more, "").world.current_master(), Some(1));
        let crash = "[[fault]]\nat = \"1s\"\nkind = \"crash\"\nnode = \"B\"\n";
        assert_eq!(
            run_for_5s(&more, crash).world.current_master(),
            Some(0),
            "B is down"
        );
        // A scenario may not start in a replication cycle, but an operator can make one.
        let replicas = [("a", None), ("b", Some("a"))];
        let cycle = "[[fault]]\nat = \"1s\"\nkind = \"command\"\nnode = \"a\"\ncommand = \"REPLICAOF b 6379\"\n";
        assert_eq!(run_for_5s(&replicas, cycle).world.current_master(), None);
    }

    #[test]
    fn lag_bytes_is_what_the_replica_lacks_of_its_masters_stream() {
        let nodes = [("A", None), ("B", Some("A")), ("C", Some("A"))];
        // C never reaches A, so it holds none of the stream and lacks all of it.
        let rest = "[defaults]\nrepl-diskless-sync-delay = \"0s\"\n\
                    [[workload]]\nname = \"w\"\ntarget = \"A\"\nrate = 100\nkeys = 10\nstop = \"4s\"\n\
                    [[fault]]\nat = \"0s\"\nkind = \"partition\"\ngroups = [[\"A\", \"B\"], [\"C\"]]\n";
        let out = run_for_5s(&nodes, rest);
        let w = &out.world;
        let master_offset = w.node(0).unwrap().master_repl_offset();
        assert!(master_offset > 0);
        assert_eq!(w.lag_bytes(0), None, "a master lags no one");
        assert_eq!(w.master_of(1), Some(0));
        assert_eq!(
            w.lag_bytes(1),
            Some(0),
            "B is synced and the writes stopped a second ago"
        );
        assert!(w.node(1).unwrap().master_link_up());
        assert_eq!(w.lag_bytes(2), Some(master_offset));
        assert!(!w.node(2).unwrap().master_link_up());
    }

    #[test]
    fn a_chains_top_is_the_master_whose_stream_it_is() {
        // C follows B, which is cut off from A for the last three seconds while A writes: C
        // holds all of B's stream and lacks what A wrote since.
        let nodes = [("A", None), ("B", Some("A")), ("C", Some("B"))];
        let rest = "[defaults]\nrepl-diskless-sync-delay = \"0s\"\n\
                    [[workload]]\nname = \"w\"\ntarget = \"A\"\nrate = 100\nkeys = 10\n\
                    [[fault]]\nat = \"2s\"\nkind = \"partition\"\ngroups = [[\"A\"], [\"B\", \"C\"]]\n";
        let out = run_for_5s(&nodes, rest);
        let w = &out.world;
        assert_eq!(w.chain_top(0), None, "a master tops no chain");
        assert_eq!(w.chain_top(1), Some((0, 1)));
        assert_eq!(w.chain_top(2), Some((0, 2)));
        assert_eq!(
            w.lag_bytes_top(1),
            w.lag_bytes(1),
            "one hop: the same figure"
        );
        assert_eq!(w.lag_bytes(2), Some(0), "C keeps up with B");
        let (a, c) = (w.node(0).unwrap(), w.node(2).unwrap());
        let behind = a.master_repl_offset() - c.slave_repl_offset().unwrap();
        assert!(behind > 0);
        assert_eq!(w.lag_bytes_top(2), Some(behind));
        assert_eq!(w.lag_bytes_top(2), w.lag_bytes_top(1));
    }
}
