//! Scenario files: TOML text to a typed, validated [`Scenario`].
//!
//! `scenario` maps a string to `Result<Scenario, ScenarioError>` and reads no files. Parsing is
//! two steps: serde reads the text into raw structs that reject unknown fields and keep the byte
//! span of every value that needs a semantic check; then validation turns them into typed values
//! (node indices, durations, `Config`s, `LinkParams`). Every error names the file, line and column
//! of the offending value and says what was expected. The format is documented field by field in
//! docs/scenario-format.md.

mod raw;
pub mod suggest;
pub mod units;

use std::fmt;

use crate::net::LinkParams;
use crate::redis::config::Config;
use crate::redis::keyspace::Bulk;
use crate::time::SimDuration;

pub use raw::{expectation_line, parse};

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub seed: u64,
    pub duration: SimDuration,
    pub network: LinkParams,
    pub connect_timeout: SimDuration,
    pub links: Vec<LinkOverride>,
    pub nodes: Vec<NodeSpec>,
    /// Sentinels, hosts of their own after the nodes: Sentinel `j` is host `nodes.len() + j`.
    pub sentinels: Vec<SentinelSpec>,
    pub workloads: Vec<WorkloadSpec>,
    /// Script workloads: exact command sequences.
    pub scripts: Vec<ScriptSpec>,
    pub faults: Vec<FaultSpec>,
    /// Commands run on nodes at given times, their replies recorded.
    pub probes: Vec<ProbeSpec>,
    pub expect: Vec<Expectation>,
    /// How often time series are sampled for the report and charts.
    pub sample_interval: SimDuration,
}

impl Scenario {
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Every host on the network: the nodes, then the Sentinels.
    pub fn host_count(&self) -> usize {
        self.nodes.len() + self.sentinels.len()
    }

    /// The name of host `i`: a node's or a Sentinel's.
    pub fn host_name(&self, i: usize) -> &str {
        match self.nodes.get(i) {
            Some(n) => &n.name,
            None => &self.sentinels[i - self.nodes.len()].name,
        }
    }

    /// Applies `directive=value` to every node (the CLI's `--set`).
    pub fn set_directive(&mut self, directive: &str, value: &str) -> Result<(), String> {
        for n in &mut self.nodes {
            let v = raw::directive_value(directive, value)?;
            n.config.set(directive, &v, false).map_err(|e| match e {
                crate::redis::config::ConfigError::Unknown(name) => raw::unknown_directive(&name),
                other => other.to_string(),
            })?;
        }
        Ok(())
    }
}

/// Link parameters that differ from the network defaults between two nodes.
#[derive(Clone, Debug)]
pub struct LinkOverride {
    pub a: usize,
    pub b: usize,
    /// Only `a` → `b` changes.
    pub one_way: bool,
    pub params: LinkParams,
}

#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub replicaof: Option<usize>,
    /// Starts in sync with its master (`warm = true`): the state a completed full sync leaves,
    /// with no transfer.
    pub warm: bool,
    pub config: Config,
    pub data: DataSpec,
}

/// A Sentinel (`[[sentinel]]`): `sentinel monitor <master_name> <node> 6379 <quorum>` and its
/// directives.
#[derive(Clone, Debug)]
pub struct SentinelSpec {
    pub name: String,
    /// The node it monitors at the start.
    pub monitor: usize,
    pub master_name: String,
    pub quorum: u32,
    /// `down-after-milliseconds`.
    pub down_after: SimDuration,
    /// `failover-timeout`.
    pub failover_timeout: SimDuration,
    /// `parallel-syncs`.
    pub parallel_syncs: u32,
}

/// A node's initial dataset.
#[derive(Clone, Debug, Default)]
pub struct DataSpec {
    /// Materialised keys `key:<n>` in db 0, each with a `value_size`-byte value.
    pub keys: u64,
    pub value_size: u32,
    /// A synthetic part that is never materialised.
    pub bulk: Option<Bulk>,
}

/// Which node a workload talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Node(usize),
    /// Whichever node is a master with the most replicas when the operation is issued: an
    /// omniscient client, for scripted experiments.
    CurrentMaster,
    /// Where the Sentinels say master `master_name` is, as a Sentinel-aware client library
    /// finds it: it asks `sentinels` (indices among the scenario's Sentinels) in order, and asks
    /// again after a timeout, a READONLY error or its connection killed.
    Sentinel {
        master_name: String,
        sentinels: Vec<usize>,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Distribution {
    Uniform,
    /// Zipf with exponent 1: key k is chosen with weight 1/k.
    Zipf,
    /// Keys in order, 0, 1, 2, …, starting over after the last: with as many keys as
    /// operations, every key is written once.
    Sequential,
}

/// Relative weights of the operations a workload issues.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Mix {
    pub set: u32,
    pub get: u32,
    pub incr: u32,
    pub append: u32,
    pub del: u32,
}

impl Mix {
    pub fn total(&self) -> u32 {
        self.set + self.get + self.incr + self.append + self.del
    }
}

#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    pub name: String,
    pub target: Target,
    pub rate_per_sec: u64,
    pub start: SimDuration,
    pub stop: SimDuration,
    pub mix: Mix,
    pub keys: u64,
    pub distribution: Distribution,
    pub value_size: u32,
    /// `WAIT <replicas> <timeout>` after every write.
    pub wait: Option<(u64, SimDuration)>,
    /// Reads go to the target's replicas instead of the target.
    pub reads_from_replicas: bool,
    /// A reply later than this counts as a timeout.
    pub timeout: SimDuration,
    /// Round trip between the client and the node.
    pub client_rtt: SimDuration,
    /// The host the client runs beside: it reaches what that host reaches, so a partition that
    /// cuts the host off from a node or Sentinel cuts the client off too. None: a client no
    /// partition separates from anything.
    pub near: Option<usize>,
}

/// A script workload: one client that sends exactly these commands to one node, from `start`,
/// each after the previous one's reply (or all at once, `pipeline`).
#[derive(Clone, Debug)]
pub struct ScriptSpec {
    pub name: String,
    pub node: usize,
    pub start: SimDuration,
    pub pipeline: bool,
    /// Every command, `<i>` replaced, split into arguments as redis-cli splits a line.
    pub commands: Vec<Vec<String>>,
    /// Round trip between the client and the node.
    pub client_rtt: SimDuration,
}

/// A probe: `command` run on `node` at each of `times` (sorted) as an operator would, its
/// reply recorded.
#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub node: usize,
    pub command: Vec<String>,
    pub times: Vec<SimDuration>,
}

#[derive(Clone, Debug)]
pub struct FaultSpec {
    /// When the fault applies, from the start; zero and unused when `after` is given.
    pub at: SimDuration,
    /// The event the fault waits for instead of a fixed time.
    pub after: Option<Trigger>,
    pub kind: FaultKind,
    /// Line of the `[[fault]]` entry, for messages.
    pub line: usize,
}

/// A fault's time relative to an event: `delay` after the `occurrence`-th time `event` happens
/// (on `host`, if given) from the start of the run. If it never happens, the fault never
/// applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub event: TriggerEvent,
    /// A node, or a Sentinel for a Sentinel event, as a host index; `None`: any.
    pub host: Option<usize>,
    pub delay: SimDuration,
    /// Which occurrence, from 1.
    pub occurrence: u32,
}

/// The events a fault may wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerEvent {
    /// A replica starts a full sync (its master agreed to `+FULLRESYNC`).
    FullSyncStarted,
    /// A replica finished loading a full sync's RDB.
    FullSyncFinished,
    /// A replica's full sync failed part way.
    FullSyncAborted,
    /// A master accepted a replica's partial resync.
    PartialSync,
    /// A replica's link to its master came up: a full sync finished or a partial sync accepted.
    LinkUp,
    /// A replica lost its link to its master.
    LinkDown,
    /// A master dropped a replica (output-buffer limit, timeout).
    ReplicaDropped,
    BecameMaster,
    BecameReplica,
    Crashed,
    ShutDown,
    Restarted,
    /// A node answered a workload's write with an error (NOREPLICAS, READONLY, MASTERDOWN, ...).
    WriteRefused,
    /// A Sentinel reported this event type (`+sdown`, `+switch-master`, ...).
    Sentinel(String),
}

impl TriggerEvent {
    /// Every event a Redis node or a workload produces, by its name in scenario files.
    pub const NODE_EVENTS: [(&'static str, TriggerEvent); 13] = [
        ("full-sync-started", TriggerEvent::FullSyncStarted),
        ("full-sync-finished", TriggerEvent::FullSyncFinished),
        ("full-sync-aborted", TriggerEvent::FullSyncAborted),
        ("partial-sync", TriggerEvent::PartialSync),
        ("link-up", TriggerEvent::LinkUp),
        ("link-down", TriggerEvent::LinkDown),
        ("replica-dropped", TriggerEvent::ReplicaDropped),
        ("became-master", TriggerEvent::BecameMaster),
        ("became-replica", TriggerEvent::BecameReplica),
        ("crashed", TriggerEvent::Crashed),
        ("shut-down", TriggerEvent::ShutDown),
        ("restarted", TriggerEvent::Restarted),
        ("write-refused", TriggerEvent::WriteRefused),
    ];

    /// The Sentinel event types a fault may wait for: those of a failover's course.
    pub const SENTINEL_EVENTS: [&'static str; 13] = [
        "+sdown",
        "-sdown",
        "+odown",
        "-odown",
        "+new-epoch",
        "+try-failover",
        "+vote-for-leader",
        "+elected-leader",
        "+selected-slave",
        "+promoted-slave",
        "+switch-master",
        "+convert-to-slave",
        "+failover-end",
    ];

    /// The name scenario files use for it.
    pub fn name(&self) -> &str {
        match self {
            TriggerEvent::Sentinel(kind) => kind,
            other => {
                TriggerEvent::NODE_EVENTS
                    .iter()
                    .find(|(_, e)| e == other)
                    .expect("every node event is listed in NODE_EVENTS")
                    .0
            }
        }
    }
}

/// Link settings a `link` fault changes; unset fields keep their current values.
#[derive(Clone, Debug, Default)]
pub struct LinkPatch {
    pub latency: Option<SimDuration>,
    pub jitter: Option<SimDuration>,
    pub bandwidth_bps: Option<u64>,
    pub loss_ppm: Option<u32>,
    pub send_buffer_bytes: Option<u64>,
}

#[derive(Clone, Debug)]
pub enum FaultKind {
    Partition {
        name: Option<String>,
        groups: Vec<Vec<usize>>,
        one_way: bool,
        duration: Option<SimDuration>,
    },
    /// Heals a named partition, or every partition.
    Heal {
        partition: Option<String>,
    },
    Link {
        a: usize,
        b: usize,
        one_way: bool,
        patch: LinkPatch,
    },
    Reset {
        a: usize,
        b: usize,
    },
    Crash {
        node: usize,
    },
    /// A clean exit (`SHUTDOWN NOSAVE`): connections closed, connects refused until a restart.
    Shutdown {
        node: usize,
    },
    Restart {
        node: usize,
        persistence: bool,
    },
    Pause {
        node: usize,
        duration: SimDuration,
    },
    Command {
        node: usize,
        args: Vec<String>,
    },
}

impl FaultKind {
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { .. } => "partition",
            FaultKind::Heal { .. } => "heal",
            FaultKind::Link { .. } => "link",
            FaultKind::Reset { .. } => "reset",
            FaultKind::Crash { .. } => "crash",
            FaultKind::Shutdown { .. } => "shutdown",
            FaultKind::Restart { .. } => "restart",
            FaultKind::Pause { .. } => "pause",
            FaultKind::Command { .. } => "command",
        }
    }
}

/// A comparison in `[expect]`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Inside an inclusive range, written `"lo..hi"`.
    Within,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Within => "in",
        }
    }
}

/// The right-hand side of an expectation.
#[derive(Clone, Debug, PartialEq)]
pub enum ExpectValue {
    Number(f64),
    Range(f64, f64),
    Bool(bool),
    Text(String),
}

impl fmt::Display for ExpectValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectValue::Number(n) => write!(f, "{n}"),
            ExpectValue::Range(a, b) => write!(f, "{a}..{b}"),
            ExpectValue::Bool(b) => write!(f, "{b}"),
            ExpectValue::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

/// One `[expect]` entry: a path into the report, a comparison, a value.
#[derive(Clone, Debug)]
pub struct Expectation {
    /// The path as written, e.g. `replica-1.sync_full`.
    pub written: String,
    /// The resolved JSON path into the report, e.g. `nodes.replica-1.stats.sync_full`.
    pub path: Vec<String>,
    pub op: Op,
    pub value: ExpectValue,
    /// Where the key is written, for messages about it.
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.written, self.op.symbol(), self.value)
    }
}

/// An operator mistake in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}
