//! What a run will hold in memory, estimated from its scenario before it starts: a run too big for
//! the machine is refused, naming the setting that makes it big, instead of growing until the
//! operating system kills it.
//!
//! The cost of each item is measured: the peak resident memory of runs that scale one item at a
//! time (a 64-bit Linux release build, the summary printed; `--json` and `--out` peak no higher).
//! - A sample: about 180 bytes, plus 450 per node and 210 per workload, counting the report's
//!   timeline and JSON built from it. A million samples of 2 idle nodes peaked at 1.07 GB, of 6
//!   nodes at 2.87 GB, of 2 nodes and 3 workloads at 1.69 GB.
//! - A write in the client history: one [`WriteRecord`], 24 bytes. Six million SETs peaked at
//!   146 MB, 600,000 at 20 MB.
//! - A key on a node: its value and about 220 bytes of name, table entry and transfer buffers. A
//!   million 100-byte keys peaked at 320 MB on one node, 1,000-byte keys at 1.14 GB, and 700 MB
//!   once a replica held the 100-byte ones too.
//! - A node: the replication backlog it fills (at most `repl-backlog-size`) and about 64 KB of
//!   its own, which covers the network's link state of the node pairs its connections use (the
//!   network keeps no state for pairs that never talk). 1,000 idle nodes over one second peaked
//!   at 86 MB, 45 MB of it samples. A replica's backlog holds the same
//!   stream as the top of its chain, whose full 4 KB pages it shares: it costs a 16-byte page
//!   entry per 4 KB and a 24-byte block record per 16 KB, and the page it is filling. 1,000
//!   replicas of one master, their 1 MB backlogs full, peaked at 183 MB in all.
//!
//! An estimate is a figure of the right size, not a bound: what a run does with its data (how
//! many keys a workload reaches, how many log lines a node writes) is only known by running it.
//! The caller's memory limit between slices ([`super::Interrupt::MemoryLimit`]) catches a run that
//! outgrows its estimate.

use super::observe::WriteRecord;
use crate::scenario::Scenario;

const SAMPLE_BYTES: u128 = 180;
const SAMPLE_NODE_BYTES: u128 = 450;
const SAMPLE_WORKLOAD_BYTES: u128 = 210;
const KEY_OVERHEAD_BYTES: u128 = 220;
const NODE_BYTES: u128 = 64 << 10;
/// What the program holds before any node exists (code, allocator, buffers).
const PROGRAM_BYTES: u128 = 16 << 20;
/// A shared backlog's cost per 4 KB page: a 16-byte page entry and a quarter of a 24-byte
/// record of a 16 KB block.
const SHARED_BACKLOG_PAGE_BYTES: u128 = 22;
/// A backlog's bytes per page ([`crate::redis::replbuf::PAGE_BYTES`]).
const BACKLOG_PAGE_BYTES: u128 = 4096;
/// A write's bytes in the replication stream besides its value: the RESP array, command and key.
const WRITE_STREAM_OVERHEAD_BYTES: u128 = 60;

/// What a part of a run's memory is made of.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Samples,
    History,
    Datasets,
    Backlogs,
    Nodes,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Samples => "time-series samples",
            Part::History => "the client write history",
            Part::Datasets => "datasets",
            Part::Backlogs => "replication backlogs",
            Part::Nodes => "nodes and the network",
        }
    }

    /// The scenario settings that shrink this part.
    pub fn remedy(self) -> &'static str {
        match self {
            Part::Samples => "a larger `sample_interval` or a shorter `duration`",
            Part::History => "a lower workload `rate`, or a shorter `duration` or workload `stop`",
            Part::Datasets => {
                "fewer `keys` or a smaller `value_size` (a synthetic `bulk_keys` dataset costs no memory)"
            }
            Part::Backlogs => "a smaller `repl-backlog-size`",
            Part::Nodes => "fewer nodes",
        }
    }
}

/// A run's memory, part by part, in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// How many samples the run takes.
    pub samples: u64,
    /// How many writes its workloads issue.
    pub writes: u64,
    pub parts: Vec<(Part, u64)>,
}

impl MemoryEstimate {
    pub fn total_bytes(&self) -> u64 {
        self.parts
            .iter()
            .fold(0u64, |sum, (_, b)| sum.saturating_add(*b))
    }

    /// The part that costs most.
    pub fn largest(&self) -> (Part, u64) {
        self.parts
            .iter()
            .copied()
            .max_by_key(|(_, b)| *b)
            .expect("an estimate has parts")
    }
}

/// Estimates the memory a run of `sc` holds at its peak.
pub fn memory_estimate(sc: &Scenario) -> MemoryEstimate {
    let nodes = sc.nodes.len() as u128;
    let duration_ns = u128::from(sc.duration.as_nanos());
    // One sample at the start, one per interval, one at the end.
    let samples = duration_ns / u128::from(sc.sample_interval.as_nanos().max(1)) + 2;
    let sample_bytes = SAMPLE_BYTES
        + SAMPLE_NODE_BYTES * nodes
        + SAMPLE_WORKLOAD_BYTES * sc.workloads.len() as u128;

    let mut writes: u128 = 0;
    let mut stream_bytes: u128 = 0;
    // Keys a workload may write, each of which every node may come to hold.
    let mut workload_key_bytes: u128 = 0;
    for w in &sc.workloads {
        let active_ns = u128::from(w.stop.as_nanos().saturating_sub(w.start.as_nanos()));
        let ops = u128::from(w.rate_per_sec) * active_ns / 1_000_000_000;
        let total = u128::from(w.mix.total().max(1));
        let written = u128::from(w.mix.set + w.mix.incr + w.mix.append + w.mix.del);
        let w_writes = ops * written / total;
        writes += w_writes;
        stream_bytes += w_writes * (u128::from(w.value_size) + WRITE_STREAM_OVERHEAD_BYTES);
        let keys = u128::from(w.keys).min(w_writes);
        workload_key_bytes += keys * (u128::from(w.value_size) + KEY_OVERHEAD_BYTES);
    }

    let mut data_bytes: u128 = 0;
    let mut backlog_bytes: u128 = 0;
    for (i, n) in sc.nodes.iter().enumerate() {
        // A replica comes to hold what the root of its chain holds; a master keeps its own.
        let holds = &sc.nodes[root_of(sc, i)].data;
        data_bytes += u128::from(holds.keys) * (u128::from(holds.value_size) + KEY_OVERHEAD_BYTES);
        data_bytes += workload_key_bytes;
        let backlog = u128::from(n.config.repl_backlog_size).min(stream_bytes);
        backlog_bytes += if root_of(sc, i) == i {
            backlog
        } else {
            // The root's pages, by reference, and the page being filled.
            backlog / BACKLOG_PAGE_BYTES * SHARED_BACKLOG_PAGE_BYTES
                + BACKLOG_PAGE_BYTES.min(backlog)
        };
    }

    let clamp = |b: u128| u64::try_from(b).unwrap_or(u64::MAX);
    MemoryEstimate {
        samples: clamp(samples),
        writes: clamp(writes),
        parts: vec![
            (Part::Samples, clamp(samples * sample_bytes)),
            (
                Part::History,
                clamp(writes * std::mem::size_of::<WriteRecord>() as u128),
            ),
            (Part::Datasets, clamp(data_bytes)),
            (Part::Backlogs, clamp(backlog_bytes)),
            (Part::Nodes, clamp(PROGRAM_BYTES + NODE_BYTES * nodes)),
        ],
    }
}

/// The node at the top of `i`'s replication chain (`i` itself for a master). The scenario
/// parser refuses cycles; a chain longer than the node count is cut there all the same.
fn root_of(sc: &Scenario, i: usize) -> usize {
    let mut at = i;
    for _ in 0..sc.nodes.len() {
        match sc.nodes[at].replicaof {
            Some(m) => at = m,
            None => break,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(toml: &str) -> MemoryEstimate {
        memory_estimate(&crate::scenario::parse("e.toml", toml).expect("a valid scenario"))
    }

    const GB: u64 = 1 << 30;
    const MB: u64 = 1 << 20;

    #[test]
    fn samples_dominate_a_long_run_sampled_often() {
        // The run that aborted with "memory allocation failed" at 11.6 GB: 30 idle days sampled
        // every millisecond.
        let e = estimate(
            "name = \"e\"\nduration = \"720h\"\nsample_interval = \"1ms\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n",
        );
        assert_eq!(e.samples, 2_592_000_002);
        assert_eq!(e.largest().0, Part::Samples);
        assert!(e.total_bytes() > 2_000 * GB, "{e:?}");
        // The measured million samples of two nodes: 1.07 GB.
        let e = estimate(
            "name = \"e\"\nduration = \"1000s\"\nsample_interval = \"1ms\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n",
        );
        let total = e.total_bytes();
        assert!((GB..GB + 100 * MB).contains(&total), "{total}");
    }

    #[test]
    fn the_history_grows_with_rate_and_time() {
        // 30 days at 100 writes per second: 259 million writes, 6.2 GB of history.
        let e = estimate(
            "name = \"e\"\nduration = \"720h\"\n[[node]]\nname = \"m\"\n[[workload]]\ntarget = \"m\"\nrate = 100\nmix = { set = 1, get = 1 }\n[[workload]]\ntarget = \"m\"\nrate = 100\n",
        );
        assert_eq!(e.writes, 259_200_000 / 2 + 259_200_000);
        assert_eq!(e.largest(), (Part::History, e.writes * 24));
    }

    #[test]
    fn datasets_count_on_every_node_that_comes_to_hold_them() {
        let e = estimate(
            "name = \"e\"\nduration = \"10s\"\n[[node]]\nname = \"m\"\n[node.data]\nkeys = 1000000\nvalue_size = 100\n\
             [[node]]\nname = \"r\"\nreplicaof = \"m\"\n[[node]]\nname = \"r2\"\nreplicaof = \"r\"\n[[node]]\nname = \"alone\"\n",
        );
        let datasets = e
            .parts
            .iter()
            .find(|(p, _)| *p == Part::Datasets)
            .unwrap()
            .1;
        assert_eq!(datasets, 3 * 1_000_000 * 320, "m, r and r2, not alone");
    }

    #[test]
    fn replicas_share_the_backlog_pages_of_the_top_of_their_chain() {
        // 1 MB backlogs, all full: the master's whole, each replica's as page references.
        let mut toml = "name = \"e\"\nduration = \"60s\"\n[[node]]\nname = \"m\"\n".to_string();
        for i in 0..1000 {
            toml.push_str(&format!("[[node]]\nname = \"r{i}\"\nreplicaof = \"m\"\n"));
        }
        toml.push_str("[[workload]]\ntarget = \"m\"\nrate = 1000\n");
        let e = estimate(&toml);
        let backlogs = e
            .parts
            .iter()
            .find(|(p, _)| *p == Part::Backlogs)
            .unwrap()
            .1;
        let replica = 256 * 22 + 4096;
        assert_eq!(backlogs, (1 << 20) + 1000 * replica);
    }

    #[test]
    fn nodes_cost_in_proportion_to_their_number() {
        let nodes = |n: usize| {
            let mut toml = "name = \"e\"\nduration = \"1s\"\n".to_string();
            for i in 0..n {
                toml.push_str(&format!("[[node]]\nname = \"n{i}\"\n"));
            }
            let e = estimate(&toml);
            e.parts.iter().find(|(p, _)| *p == Part::Nodes).unwrap().1 as u128
        };
        // No term in the square of the count: the network keeps no state for pairs of nodes
        // that never talk.
        assert_eq!(nodes(10_000) - nodes(1_000), 9_000 * NODE_BYTES);
    }
}
