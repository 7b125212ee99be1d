//! What a run records for the checkers, the report and the charts: client histories, node
//! milestones, fault windows and periodic samples. Plain data; recording never changes a node.

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
/// million) shares a word with the four flags.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    pub invoke_ns: u64,
    /// Completion of the write, or of its WAIT when the workload waits.
    pub complete_ns: u64,
    key_flags: u32,
    pub workload: u16,
    pub node: u16,
}

const _: () = assert!(std::mem::size_of::<WriteRecord>() == 24);

const KEY_BITS: u32 = 24;
const ACKED: u32 = 1 << 24;
const WAIT_SATISFIED: u32 = 1 << 25;
const IS_SET: u32 = 1 << 26;
const IS_DEL: u32 = 1 << 27;

impl WriteRecord {
    /// A write just issued: not yet acknowledged, completion unknown (`u64::MAX`).
    pub fn new(
        invoke_ns: u64,
        key: u32,
        workload: u16,
        node: u16,
        is_set: bool,
        is_del: bool,
    ) -> WriteRecord {
        debug_assert!(
            key < 1 << KEY_BITS,
            "key spaces are capped at ten million keys"
        );
        let flags = if is_set { IS_SET } else { 0 } | if is_del { IS_DEL } else { 0 };
        WriteRecord {
            invoke_ns,
            complete_ns: u64::MAX,
            key_flags: (key & ((1 << KEY_BITS) - 1)) | flags,
            workload,
            node,
        }
    }

    pub fn key(&self) -> u32 {
        self.key_flags & ((1 << KEY_BITS) - 1)
    }

    /// The write was acknowledged with OK.
    pub fn acked(&self) -> bool {
        self.key_flags & ACKED != 0
    }

    /// The workload asked for WAIT and it reported at least the requested replicas.
    pub fn wait_satisfied(&self) -> bool {
        self.key_flags & WAIT_SATISFIED != 0
    }

    /// SET writes carry a value naming this record; others do not.
    pub fn is_set(&self) -> bool {
        self.key_flags & IS_SET != 0
    }

    /// A DEL of the key: it writes "absent".
    pub fn is_del(&self) -> bool {
        self.key_flags & IS_DEL != 0
    }

    pub fn set_acked(&mut self, on: bool) {
        self.set_flag(ACKED, on);
    }

    pub fn set_wait_satisfied(&mut self, on: bool) {
        self.set_flag(WAIT_SATISFIED, on);
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
        let mut w = WriteRecord::new(invoke * 1_000_000, 0, 0, 0, set, !set);
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
    pub timeouts: u64,
    /// Errors by kind, in a stable order.
    pub errors: std::collections::BTreeMap<String, u64>,
    pub stale_reads: u64,
    pub max_staleness_ns: u64,
    pub wait_unsatisfied: u64,
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
    pub backlog_histlen: u64,
    pub backlog_size: u64,
    /// Each attached replica's output-buffer bytes: (replica node index, bytes).
    pub replica_obuf: Vec<(usize, u64)>,
}

/// One sample of every node and workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub time: SimTime,
    pub nodes: Vec<NodeSample>,
    /// Cumulative counters per workload.
    pub workloads: Vec<WorkloadCounters>,
}

/// How many seconds node `i` is behind its master at sample `k`: the time since the master's
/// offset was where the replica's offset is now. `None` when it follows no live master.
pub fn lag_seconds(samples: &[Sample], k: usize, i: usize) -> Option<f64> {
    let n = &samples[k].nodes[i];
    let m = n.following?;
    if !samples[k].nodes[m].up {
        return None;
    }
    if n.lag_bytes == Some(0) {
        return Some(0.0);
    }
    let reached = (0..=k)
        .rev()
        .find(|&j| samples[j].nodes[m].offset <= n.offset)?;
    // The master was at or below the replica's offset at sample `reached`; it moved past it after.
    let t = samples.get(reached + 1).map_or(samples[k].time, |s| s.time);
    Some(samples[k].time.since(t).as_nanos() as f64 / 1e9)
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
    fn a_write_record_keeps_its_key_and_each_flag_apart() {
        let mut r = WriteRecord::new(5, 9_999_999, 3, 7, true, false);
        assert_eq!(
            (r.key(), r.workload, r.node, r.complete_ns),
            (9_999_999, 3, 7, u64::MAX)
        );
        assert!(r.is_set() && !r.is_del() && !r.acked() && !r.wait_satisfied());
        r.set_acked(true);
        r.set_wait_satisfied(true);
        assert!(r.acked() && r.wait_satisfied() && r.is_set() && r.key() == 9_999_999);
        r.set_acked(false);
        assert!(!r.acked() && r.wait_satisfied());
        let d = WriteRecord::new(0, (1 << 24) - 1, 0, 0, false, true);
        assert!(d.is_del() && !d.is_set() && d.key() == (1 << 24) - 1);
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
