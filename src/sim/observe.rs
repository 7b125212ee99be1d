//! What a run records for the checkers, the report and the charts: client histories, node
//! milestones, fault windows and periodic samples. Plain data; recording never changes a node.

use super::hist::Histogram;
use crate::redis::{DropReason, SyncAbort};
use crate::time::SimTime;

/// The outcome of one client operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    Ok,
    /// A read's value: the id of the write that produced it, or `None` for a missing key.
    Read(Option<u64>),
    /// An error reply; the text up to the first space is its kind (`NOREPLICAS`, `READONLY`, ...).
    Error(String),
    /// No reply within the client's timeout (or the node was down).
    Timeout,
}

impl OpResult {
    pub fn error_kind(&self) -> Option<&str> {
        match self {
            OpResult::Error(e) => Some(e.split(' ').next().unwrap_or(e)),
            _ => None,
        }
    }
}

/// A write (SET/INCR/APPEND/DEL) as the client saw it. Kept to 24 bytes: an hour at 5,000
/// writes per second holds 18 million. The key (below 2^24: scenarios cap key spaces at ten
/// million) shares a word with the kind and the flags.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    pub invoke_ns: u64,
    /// When the write's own reply reached the client (not its WAIT's); `u64::MAX` while none has.
    pub complete_ns: u64,
    key_flags: u32,
    pub workload: u16,
    pub node: u16,
}

const _: () = assert!(std::mem::size_of::<WriteRecord>() == 24);

const KEY_BITS: u32 = 24;
/// Two bits of kind: SET, DEL, INCR, APPEND.
const KIND_SHIFT: u32 = 24;
const KIND_MASK: u32 = 0b11 << KIND_SHIFT;
const ACKED: u32 = 1 << 26;
const WAIT_SATISFIED: u32 = 1 << 27;
const WAIT_REPLIED: u32 = 1 << 28;
const NOOP: u32 = 1 << 29;

/// What a write did to its key.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WriteKind {
    Set,
    Del,
    Incr,
    Append,
}

impl WriteKind {
    fn code(self) -> u32 {
        match self {
            WriteKind::Set => 0,
            WriteKind::Del => 1,
            WriteKind::Incr => 2,
            WriteKind::Append => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            WriteKind::Set => "set",
            WriteKind::Del => "del",
            WriteKind::Incr => "incr",
            WriteKind::Append => "append",
        }
    }
}

impl WriteRecord {
    /// A write just issued: not yet acknowledged, completion unknown (`u64::MAX`).
    pub fn new(invoke_ns: u64, key: u32, workload: u16, node: u16, kind: WriteKind) -> WriteRecord {
        assert!(
            key < 1 << KEY_BITS,
            "key spaces are capped at ten million keys"
        );
        WriteRecord {
            invoke_ns,
            complete_ns: u64::MAX,
            key_flags: key | kind.code() << KIND_SHIFT,
            workload,
            node,
        }
    }

    pub fn key(&self) -> u32 {
        self.key_flags & ((1 << KEY_BITS) - 1)
    }

    pub fn kind(&self) -> WriteKind {
        match (self.key_flags & KIND_MASK) >> KIND_SHIFT {
            0 => WriteKind::Set,
            1 => WriteKind::Del,
            2 => WriteKind::Incr,
            _ => WriteKind::Append,
        }
    }

    /// The write was acknowledged with a success reply within the client's timeout.
    pub fn acked(&self) -> bool {
        self.key_flags & ACKED != 0
    }

    /// A WAIT after the write answered (at any count).
    pub fn wait_replied(&self) -> bool {
        self.key_flags & WAIT_REPLIED != 0
    }

    /// The workload asked for WAIT and it reported at least the requested replicas.
    pub fn wait_satisfied(&self) -> bool {
        self.key_flags & WAIT_SATISFIED != 0
    }

    /// The write changed nothing (a DEL of a missing key): Redis does not propagate it.
    pub fn noop(&self) -> bool {
        self.key_flags & NOOP != 0
    }

    /// SET writes carry a value naming this record; others do not.
    pub fn is_set(&self) -> bool {
        self.kind() == WriteKind::Set
    }

    /// A DEL of the key: it writes "absent".
    pub fn is_del(&self) -> bool {
        self.kind() == WriteKind::Del
    }

    pub fn set_acked(&mut self, on: bool) {
        self.set_flag(ACKED, on);
    }

    /// Records what the write's WAIT answered.
    pub fn set_wait(&mut self, satisfied: bool) {
        self.set_flag(WAIT_REPLIED, true);
        self.set_flag(WAIT_SATISFIED, satisfied);
    }

    pub fn set_noop(&mut self, on: bool) {
        self.set_flag(NOOP, on);
    }

    fn set_flag(&mut self, flag: u32, on: bool) {
        if on {
            self.key_flags |= flag;
        } else {
            self.key_flags &= !flag;
        }
    }
}

#[cfg(test)]
impl WriteRecord {
    /// A write to key 0 for the history-rule tests: invoked and completed at the given
    /// milliseconds, a SET or else a DEL.
    pub(crate) fn test_key0(invoke: u64, complete: u64, acked: bool, set: bool) -> WriteRecord {
        let kind = if set { WriteKind::Set } else { WriteKind::Del };
        let mut w = WriteRecord::new(invoke * 1_000_000, 0, 0, 0, kind);
        w.complete_ns = complete * 1_000_000;
        w.set_acked(acked);
        w
    }
}

/// Per-workload counters, cumulative.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadCounters {
    pub writes: u64,
    pub writes_ok: u64,
    pub reads: u64,
    pub reads_ok: u64,
    /// Reads and writes with no reply within the client's timeout (or no node to send to).
    pub timeouts: u64,
    /// Errors by kind, in a stable order.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Reads that saw a value older than one already acknowledged, from nodes that had
    /// completed a sync (see `reads_before_first_sync`).
    pub stale_reads: u64,
    pub max_staleness_ns: u64,
    /// Reads served by a replica before its first completed sync: it has no data of its
    /// master yet, so they are counted apart from stale reads.
    pub reads_before_first_sync: u64,
    /// WAITs that answered fewer replicas than asked, or never answered in time.
    pub wait_unsatisfied: u64,
    /// WAITs that got no answer within the client's timeout (the client gave up and closed).
    pub wait_timeouts: u64,
}

/// What the reads a node served showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub reads: u64,
    pub before_first_sync: u64,
    pub stale: u64,
    /// How stale each stale read was, in nanoseconds.
    pub staleness: Histogram,
}

/// The operations a latency histogram is kept for.
pub const LATENCY_OPS: [&str; 6] = ["set", "get", "incr", "append", "del", "wait"];

/// A workload's latencies (from invocation to reply, for operations that got a reply in time)
/// by operation, and what its WAITs answered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadLatency {
    /// Indexed as [`LATENCY_OPS`].
    pub by_op: [Histogram; 6],
    /// How many WAITs answered each replica count.
    pub wait_counts: std::collections::BTreeMap<i64, u64>,
}

/// One full sync a replica attempted: from `+FULLRESYNC` to loaded, or to its failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncAttempt {
    pub start: SimTime,
    pub end: Option<SimTime>,
    pub outcome: AttemptOutcome,
    /// Why the master dropped this replica during the attempt, if it did: the real cause of a
    /// connection the replica saw lost.
    pub dropped_by_master: Option<DropReason>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    InProgress,
    Finished,
    Aborted(SyncAbort),
    /// Not a full sync: a partial resync that brought the replica online (recorded so that a
    /// run of aborted full syncs is seen to end).
    Partial,
}

impl SyncAttempt {
    /// Why the attempt ended, in the report's words: the master's reason when it dropped the
    /// replica, else the replica's own.
    pub fn reason(&self) -> &'static str {
        match (&self.outcome, self.dropped_by_master) {
            (AttemptOutcome::InProgress, _) => "in_progress",
            (AttemptOutcome::Finished, _) => "finished",
            (AttemptOutcome::Partial, _) => "partial",
            (AttemptOutcome::Aborted(_), Some(DropReason::OutputBufferHardLimit)) => {
                "output_buffer_hard_limit"
            }
            (AttemptOutcome::Aborted(_), Some(DropReason::OutputBufferSoftLimit)) => {
                "output_buffer_soft_limit"
            }
            (AttemptOutcome::Aborted(_), Some(DropReason::Timeout)) => "master_timeout",
            (AttemptOutcome::Aborted(a), _) => a.name(),
        }
    }
}

/// A client operation in the run's history (written as `history.jsonl` when asked for).
/// 40 bytes; recorded only when a history is requested.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct OpRecord {
    pub invoke_ns: u64,
    /// When the reply reached the client; `u64::MAX` for none (a timeout).
    pub complete_ns: u64,
    /// What the operation carried or returned: a SET's write id, a GET's value's write id
    /// ([`VALUE_NIL`] for nil, [`VALUE_FOREIGN`] for a value no write made), an integer reply
    /// (DEL, INCR, APPEND, WAIT), or for a refused operation the index of its error kind.
    pub value: u64,
    /// The index of the operation that started this client's sequence: the operation itself,
    /// or for a WAIT the write before it.
    pub process: u32,
    pub key: u32,
    pub op: OpCode,
    pub outcome: Outcome,
    pub node: u16,
    pub workload: u16,
}

pub const VALUE_NIL: u64 = u64::MAX;
pub const VALUE_FOREIGN: u64 = u64::MAX - 1;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpCode {
    Set,
    Get,
    Incr,
    Append,
    Del,
    Wait,
}

impl OpCode {
    pub fn name(self) -> &'static str {
        LATENCY_OPS[self.index()]
    }

    pub fn index(self) -> usize {
        match self {
            OpCode::Set => 0,
            OpCode::Get => 1,
            OpCode::Incr => 2,
            OpCode::Append => 3,
            OpCode::Del => 4,
            OpCode::Wait => 5,
        }
    }
}

/// How an operation ended, in Jepsen's terms.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A success reply.
    Ok,
    /// An error reply: it certainly did not happen.
    Fail,
    /// No reply in time: it may or may not have happened.
    Info,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// A node milestone for charts and the resync-loop checker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Milestone {
    FullSyncStarted,
    FullSyncFinished,
    FullSyncAborted,
    PartialSync,
    LinkDown,
    ReplicaDropped { replica: String, reason: String },
    BecameMaster,
    BecameReplica,
    Crashed,
    ShutDown,
    Restarted,
}

impl Milestone {
    pub fn name(&self) -> &'static str {
        match self {
            Milestone::FullSyncStarted => "full_sync_started",
            Milestone::FullSyncFinished => "full_sync_finished",
            Milestone::FullSyncAborted => "full_sync_aborted",
            Milestone::PartialSync => "partial_sync",
            Milestone::LinkDown => "link_down",
            Milestone::ReplicaDropped { .. } => "replica_dropped",
            Milestone::BecameMaster => "became_master",
            Milestone::BecameReplica => "became_replica",
            Milestone::Crashed => "crashed",
            Milestone::ShutDown => "shut_down",
            Milestone::Restarted => "restarted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MilestoneAt {
    pub time: SimTime,
    pub node: usize,
    pub what: Milestone,
}

/// A fault's active window, for charts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultWindow {
    pub kind: String,
    pub label: String,
    pub start: SimTime,
    /// `None` for instant faults or faults never healed.
    pub end: Option<SimTime>,
}

/// One node at one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSample {
    pub up: bool,
    pub master: bool,
    /// The node this one replicates from, if it is a replica of a node in the scenario.
    pub following: Option<usize>,
    pub offset: u64,
    /// Bytes behind its master (master offset - applied offset), for a replica whose master is up.
    pub lag_bytes: Option<u64>,
    pub link_up: bool,
    /// The top of its replication chain (the master whose stream it is, at the end of its
    /// `replicaof` links) and how many links lead there: `None` for a master, and for a replica
    /// whose chain is broken (a node on it down or naming no node) or loops.
    pub top: Option<(usize, u32)>,
    /// Bytes behind the top of its chain, as `lag_bytes` is against its own master.
    pub lag_bytes_top: Option<u64>,
    pub backlog_histlen: u64,
    /// The limits in force at the sample (CONFIG SET changes them): `repl-backlog-size`, and
    /// `client-output-buffer-limit replica` as configured and as enforced (the hard limit is
    /// raised to the backlog size when lower).
    pub backlog_size: u64,
    pub obuf_hard_limit_configured: u64,
    pub obuf_hard_limit_effective: u64,
    pub obuf_soft_limit: u64,
    /// Each attached replica's output-buffer bytes: (replica node index, bytes).
    pub replica_obuf: Vec<(usize, u64)>,
    /// A dual-channel replica's local buffer of the stream during its full sync (INFO
    /// `replicas_repl_buffer_size`).
    pub local_repl_buffer: u64,
}

/// One sample of every node and workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub time: SimTime,
    pub nodes: Vec<NodeSample>,
    /// Cumulative counters per workload.
    pub workloads: Vec<WorkloadCounters>,
}

/// Which node a replica's lag in time is measured against.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LagTo {
    /// The node it replicates from (one hop).
    Master,
    /// The top of its chain: the master whose stream it is.
    Top,
}

/// How many seconds each node is behind at each sample (`[node][sample]`): the time since the
/// reference node's offset was where the node's offset is now. Between two samples the
/// reference's offset is taken to have grown evenly, so the time falls between them (the offset
/// is sampled, not every write). `None` where the node has no live reference.
pub fn lag_seconds(samples: &[Sample], to: LagTo) -> Vec<Vec<Option<f64>>> {
    let nodes = samples.first().map_or(0, |s| s.nodes.len());
    let mut out = vec![Vec::with_capacity(samples.len()); nodes];
    // Per node, the samples that may still be the latest one at or below some offset: a later
    // sample with an offset as low or lower hides an earlier one for good. Their offsets rise
    // strictly, so the latest sample at or below an offset is found by binary search, and a
    // whole run costs O(samples x nodes x log samples) however far behind a replica falls.
    let mut rising: Vec<Vec<(u64, usize)>> = vec![Vec::new(); nodes];
    for (k, s) in samples.iter().enumerate() {
        for (m, stack) in rising.iter_mut().enumerate() {
            let offset = s.nodes[m].offset;
            while stack.last().is_some_and(|&(o, _)| o >= offset) {
                stack.pop();
            }
            stack.push((offset, k));
        }
        for (i, lag) in out.iter_mut().enumerate() {
            let n = &s.nodes[i];
            let (reference, bytes) = match to {
                LagTo::Master => (n.following, n.lag_bytes),
                LagTo::Top => (n.top.map(|(t, _)| t), n.lag_bytes_top),
            };
            lag.push(reference.and_then(|m| {
                if !s.nodes[m].up {
                    return None;
                }
                if bytes == Some(0) {
                    return Some(0.0);
                }
                behind(samples, &rising[m], m, k, n.offset)
            }));
        }
    }
    out
}

/// Seconds since node `m`'s offset passed `offset`, as of sample `k`; `rising` is `m`'s
/// candidate samples up to `k` (see `lag_seconds`).
fn behind(
    samples: &[Sample],
    rising: &[(u64, usize)],
    m: usize,
    k: usize,
    offset: u64,
) -> Option<f64> {
    let below = rising.partition_point(|&(o, _)| o <= offset);
    let (at, j) = *rising.get(below.checked_sub(1)?)?;
    if j == k {
        return Some(0.0);
    }
    // `m` was at `at` <= `offset` at sample `j` and past it at `j + 1`.
    let (a, b) = (&samples[j], &samples[j + 1]);
    let next = b.nodes[m].offset;
    let span = b.time.since(a.time).as_nanos() as f64;
    let crossed = a.time.as_nanos() as f64 + span * (offset - at) as f64 / (next - at) as f64;
    Some(((samples[k].time.as_nanos() as f64 - crossed) / 1e9).max(0.0))
}

/// How stale a read was, in nanoseconds, or `None` if it was fresh.
///
/// `latest` is the key's most recently acknowledged write (index into `writes`) when the read was
/// issued at `invoke_ns`; `returned` names the write whose value the read saw, `None` for nil. A
/// read is stale when the latest acknowledged write had completed before the read began and the
/// read saw something older: nil after a SET, or a write that began before the latest did. A
/// write that began after the latest is concurrent with or newer than it, so seeing it is fresh.
/// Staleness is how long the missed write had been acknowledged when the read began.
pub fn read_staleness(
    writes: &[WriteRecord],
    latest: usize,
    returned: Option<u64>,
    invoke_ns: u64,
) -> Option<u64> {
    let l = writes[latest];
    if l.complete_ns > invoke_ns
        || returned == Some(latest as u64)
        || (l.is_del() && returned.is_none())
    {
        return None;
    }
    let saw_older = match returned {
        None => true,
        // A value naming no recorded write cannot be newer than the latest.
        Some(id) => writes
            .get(id as usize)
            .is_none_or(|r| r.invoke_ns < l.invoke_ns),
    };
    saw_older.then(|| invoke_ns - l.complete_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An acknowledged write to key 0: (invoke ms, complete ms, SET or DEL).
    fn w(invoke: u64, complete: u64, set: bool) -> WriteRecord {
        WriteRecord::test_key0(invoke, complete, true, set)
    }

    /// History, latest acknowledged write, the value the read saw, when the read began (ms), and
    /// the expected staleness (ms).
    type Case = (Vec<WriteRecord>, usize, Option<u64>, u64, Option<u64>);

    #[test]
    fn a_write_record_keeps_its_key_kind_and_each_flag_apart() {
        let mut r = WriteRecord::new(5, 9_999_999, 3, 7, WriteKind::Set);
        assert_eq!(
            (r.key(), r.workload, r.node, r.complete_ns),
            (9_999_999, 3, 7, u64::MAX)
        );
        assert!(r.is_set() && !r.is_del() && !r.acked() && !r.wait_replied());
        r.set_acked(true);
        r.set_wait(true);
        assert!(r.acked() && r.wait_satisfied() && r.wait_replied() && r.is_set());
        assert_eq!(r.key(), 9_999_999);
        r.set_acked(false);
        r.set_noop(true);
        assert!(!r.acked() && r.wait_satisfied() && r.noop());
        r.set_wait(false);
        assert!(r.wait_replied() && !r.wait_satisfied());
        for kind in [
            WriteKind::Set,
            WriteKind::Del,
            WriteKind::Incr,
            WriteKind::Append,
        ] {
            let d = WriteRecord::new(0, (1 << 24) - 1, 0, 0, kind);
            assert_eq!((d.kind(), d.key()), (kind, (1 << 24) - 1));
        }
    }

    /// Samples every 100 ms of a chain A -> B -> C: A's offsets, and B's and C's (whose
    /// `lag_bytes` are against their own masters), with A up throughout unless `a_down` names
    /// a sample (where it shows offset 0, as a node that is down does).
    fn chain(a: &[u64], b: &[u64], c: &[u64], a_down: Option<usize>) -> Vec<Sample> {
        let node = |offset: u64, following: Option<usize>, master: Option<u64>, top| NodeSample {
            up: true,
            master: following.is_none(),
            following,
            offset,
            lag_bytes: master.map(|m| m.saturating_sub(offset)),
            link_up: following.is_some(),
            top,
            lag_bytes_top: None,
            backlog_histlen: 0,
            backlog_size: 0,
            obuf_hard_limit_configured: 0,
            obuf_hard_limit_effective: 0,
            obuf_soft_limit: 0,
            replica_obuf: Vec::new(),
            local_repl_buffer: 0,
        };
        (0..a.len())
            .map(|k| {
                let mut nodes = vec![
                    node(a[k], None, None, None),
                    node(b[k], Some(0), Some(a[k]), Some((0, 1))),
                    node(c[k], Some(1), Some(b[k]), Some((0, 2))),
                ];
                for n in &mut nodes[1..] {
                    n.lag_bytes_top = Some(a[k].saturating_sub(n.offset));
                }
                if a_down == Some(k) {
                    (nodes[0].up, nodes[0].offset) = (false, 0);
                }
                Sample {
                    time: SimTime::from_nanos(k as u64 * 100_000_000),
                    nodes,
                    workloads: Vec::new(),
                }
            })
            .collect()
    }

    #[test]
    fn lag_in_time_falls_between_samples_and_is_measured_from_the_top_or_the_hop() {
        // A writes 1,000 bytes per 100 ms. B stops at 2,500 after 300 ms (A passed 2,500
        // halfway between its samples at 200 and 300 ms); C catches up with B at 400 ms.
        let a = [0, 1000, 2000, 3000, 4000, 5000];
        let b = [0, 1000, 2000, 2500, 2500, 2500];
        let c = [0, 1000, 2000, 2250, 2500, 2500];
        let round = |v: &Vec<Option<f64>>| -> Vec<Option<f64>> {
            v.iter()
                .map(|x| x.map(|x| (x * 1e6).round() / 1e6))
                .collect()
        };
        let hop = lag_seconds(&chain(&a, &b, &c, None), LagTo::Master);
        let top = lag_seconds(&chain(&a, &b, &c, None), LagTo::Top);
        assert_eq!(hop[0], [None; 6], "a master lags no one");
        let b_lag = [
            Some(0.0),
            Some(0.0),
            Some(0.0),
            Some(0.05),
            Some(0.15),
            Some(0.25),
        ];
        assert_eq!(round(&hop[1]), b_lag);
        assert_eq!(
            round(&top[1]),
            b_lag,
            "one hop from the top, both views agree"
        );
        // At 300 ms C is at 2,250, which B passed at 250 ms and A at 225 ms. Then it is current
        // against B while as far behind A as B is.
        assert_eq!(
            round(&hop[2]),
            [
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(0.05),
                Some(0.0),
                Some(0.0)
            ]
        );
        assert_eq!(
            round(&top[2]),
            [
                Some(0.0),
                Some(0.0),
                Some(0.0),
                Some(0.075),
                Some(0.15),
                Some(0.25)
            ]
        );
        // A reference that is down measures nothing; once back, lag counts from its return.
        let down = lag_seconds(&chain(&a, &b, &c, Some(4)), LagTo::Top);
        assert_eq!(down[1][4], None);
        assert_eq!(round(&down[1])[5], Some(0.05));
    }

    #[test]
    fn read_staleness_follows_real_time_order() {
        let ms = 1_000_000;
        let cases: Vec<Case> = vec![
            // Seeing the latest write is fresh.
            (vec![w(0, 1, true), w(2, 3, true)], 1, Some(1), 10, None),
            // Seeing the write before it, 7 ms after the latest was acknowledged, is 7 ms stale.
            (vec![w(0, 1, true), w(2, 3, true)], 1, Some(0), 10, Some(7)),
            // Nil after an acknowledged SET is stale.
            (vec![w(0, 1, true)], 0, None, 5, Some(4)),
            // Nil after an acknowledged DEL is fresh; an older value after it is stale.
            (vec![w(0, 1, true), w(2, 3, false)], 1, None, 5, None),
            (vec![w(0, 1, true), w(2, 3, false)], 1, Some(0), 5, Some(2)),
            // The latest write completed after the read began: nothing was missed yet.
            (vec![w(0, 1, true), w(2, 8, true)], 1, Some(0), 5, None),
            // A write that began after the latest (concurrent or newer) is fresh to see.
            (
                vec![w(0, 4, true), w(2, 3, true), w(5, 9, true)],
                0,
                Some(1),
                6,
                None,
            ),
            (vec![w(0, 1, true), w(2, 9, true)], 0, Some(1), 5, None),
            // A value naming no recorded write counts as older.
            (vec![w(0, 1, true)], 0, Some(42), 3, Some(2)),
        ];
        for (i, (writes, latest, returned, at, expected)) in cases.into_iter().enumerate() {
            let got = read_staleness(&writes, latest, returned, at * ms);
            assert_eq!(got, expected.map(|e| e * ms), "case {i}");
        }
    }
}
