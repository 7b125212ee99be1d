//! The report's types: one struct per JSON object, so `--json` and report.json are written from
//! them and the summary, the charts, `replsim chart` and the tests read them back field by field.
//! A field renamed here is renamed in the contract, and every reader that used the old name stops
//! compiling instead of reading a default.
//!
//! Objects keyed by a node's or workload's name are `BTreeMap`s, so they serialise in name order.
//! Every field defined here is required when a report is read back: a report.json that lacks one is refused
//! with the field's name, never read as zeros. Fields that may be `null` are `Option`s, read with
//! `Option::deserialize` so that absent is not taken for `null`; only a dropped replica's
//! `replica` and `reason` are left out when they do not apply.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::check::Checks;
use crate::sim::hist::Percentiles;
use crate::sim::Stop;

/// A report: what `replsim run --json` prints and `--out` writes as report.json. Fields are in the
/// summary's order (the run, its nodes and workloads, the checks and the verdict), with the bulky
/// timeline last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    /// The trace hash as 16 hex digits.
    pub trace_hash: String,
    pub sim_time_us: u64,
    pub events: u64,
    #[serde(with = "StopDef")]
    pub stop: Stop,
    pub nodes: BTreeMap<String, NodeReport>,
    /// The Sentinels, by name (empty without `[[sentinel]]`).
    pub sentinels: BTreeMap<String, SentinelReport>,
    pub workloads: BTreeMap<String, WorkloadReport>,
    pub checks: Checks,
    pub violations: Vec<Violation>,
    pub expectations: Vec<ExpectResult>,
    /// Every expectation held and every violation was expected.
    pub ok: bool,
    pub timeline: Timeline,
}

/// `sim::Stop` as the report spells it. serde checks this mirror against the original: a variant
/// added there and missing here does not compile.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Stop", rename_all = "snake_case")]
enum StopDef {
    Idle,
    TimeLimit,
    EventLimit,
    WallLimit,
    MemoryLimit,
}

/// A node at the end of the run, tagged by its `role`: a node that is up has INFO, stats and a
/// dataset; a node that is down has none of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum NodeReport {
    Master(LiveNode),
    /// A replica, under INFO's word for its role.
    Slave(LiveNode),
    Down(DownNode),
}

impl NodeReport {
    /// The node's state if it is up.
    pub fn live(&self) -> Option<&LiveNode> {
        match self {
            NodeReport::Master(n) | NodeReport::Slave(n) => Some(n),
            NodeReport::Down(_) => None,
        }
    }
}

/// A node that is up at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveNode {
    /// Always true here; kept so that a reader of the JSON need not know the roles.
    pub up: bool,
    /// INFO replication, under Redis's field names.
    pub info: BTreeMap<String, InfoValue>,
    pub stats: NodeStats,
    pub dataset: Dataset,
    /// How many times each milestone happened to this node, by milestone name.
    pub milestones: BTreeMap<String, u64>,
    /// When its first full sync finished, in simulated seconds.
    #[serde(deserialize_with = "Option::deserialize")]
    pub first_sync_s: Option<f64>,
    /// The most bytes it was ever behind its master, if it was ever a replica.
    #[serde(deserialize_with = "Option::deserialize")]
    pub max_lag_bytes: Option<u64>,
}

/// A node that is down (crashed and not restarted) at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownNode {
    /// Always false here.
    pub up: bool,
    pub milestones: BTreeMap<String, u64>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub max_lag_bytes: Option<u64>,
}

/// One INFO replication value: a number where the text parses as an integer (offsets, counts,
/// ports), as Redis's clients read it, and text otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InfoValue {
    Number(i64),
    Text(String),
}

impl InfoValue {
    pub fn parse(text: &str) -> InfoValue {
        match text.parse::<i64>() {
            Ok(n) => InfoValue::Number(n),
            Err(_) => InfoValue::Text(text.to_string()),
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            InfoValue::Text(s) => Some(s),
            InfoValue::Number(_) => None,
        }
    }
}

/// The node's counters, under INFO stats' names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    pub total_net_repl_input_bytes: u64,
    pub total_net_repl_output_bytes: u64,
    pub expired_keys: u64,
    pub total_commands_processed: u64,
    pub rdb_saves: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub keys: u64,
    /// The digest of every key and value, as 16 hex digits.
    pub digest: String,
}

/// A workload's counters at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadReport {
    pub writes: u64,
    pub writes_ok: u64,
    pub reads: u64,
    pub reads_ok: u64,
    pub timeouts: u64,
    /// Refused commands by error kind.
    pub errors: BTreeMap<String, u64>,
    pub stale_reads: u64,
    pub max_staleness_ms: f64,
    /// Reads a replica served before its first completed sync (not counted as stale).
    pub reads_before_first_sync: u64,
    /// WAITs that answered fewer replicas than asked, or never answered in time.
    pub wait_unsatisfied: u64,
    /// WAITs with no answer within the client's timeout.
    pub wait_timeouts: u64,
    /// Latency from invocation to reply, by operation (`set`, `get`, `incr`, `append`, `del`,
    /// `wait`), for the operations this workload sent that got a reply in time.
    pub latency: BTreeMap<String, Percentiles>,
    /// How many WAITs answered each replica count.
    pub wait_replicas: BTreeMap<String, u64>,
}

/// A violation a checker found, and whether an `[expect]` entry names its checker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub checker: String,
    pub message: String,
    pub expected: bool,
}

/// The result of one `[expect]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectResult {
    /// The entry as written.
    pub expect: String,
    pub ok: bool,
    /// What its path found in the report: any JSON value, since the path is the user's, or
    /// `null` if it found nothing.
    pub actual: serde_json::Value,
    /// The entry's line in the scenario file.
    pub line: usize,
}

/// The sampled series and markers the charts draw. Every series has one entry per sample, at the
/// times in `t_ms`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// The scenario's planned duration.
    pub duration_ms: f64,
    pub t_ms: Vec<f64>,
    pub nodes: BTreeMap<String, NodeTimeline>,
    pub workloads: BTreeMap<String, WorkloadTimeline>,
    pub milestones: Vec<MilestoneMark>,
    pub faults: Vec<FaultMark>,
    /// Every operator command (`kind = "command"` fault) and what the node answered.
    pub operator_commands: Vec<OperatorReply>,
    /// Acknowledged writes per second of simulated time (by acknowledgement time), by the node
    /// that acknowledged them, for nodes that acknowledged any.
    pub acked_writes: BTreeMap<String, AckedWrites>,
    /// The staleness of each node's reads, for nodes that served reads.
    pub staleness: BTreeMap<String, StalenessCdf>,
    /// Every event a Sentinel reported, in order.
    pub sentinel_events: Vec<SentinelMark>,
    /// Every fault that waited for an event (`after`), and when it came; absent when none did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_faults: Vec<TriggeredFault>,
    /// Every script workload, with each command it sent and the reply; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<ScriptReport>,
    /// Every probe's reply, in time order; absent when the scenario has no probe. A bulk reply
    /// (INFO's text) is its raw text, as redis-cli prints it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<OperatorReply>,
}

/// A script workload: the commands it sent, in order, and what the node answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptReport {
    pub name: String,
    pub node: String,
    pub pipeline: bool,
    /// How many commands the script has.
    pub commands: usize,
    /// Each command it sent (`<i>` replaced), with the reply as redis-cli prints it; `t_ms` is
    /// when the node answered. Commands not sent by the end of the run are not listed.
    pub replies: Vec<OperatorReply>,
}

/// A fault that waited for an event, and whether it came.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TriggeredFault {
    /// The fault's kind.
    pub kind: String,
    /// The line of its `[[fault]]` table.
    pub line: usize,
    /// What it waited for, as written: `link-up of replica-1 (2nd) + 1000 ms`.
    pub after: String,
    /// When the occurrence it waited for came; `null` if it never did.
    #[serde(deserialize_with = "Option::deserialize")]
    pub event_ms: Option<f64>,
    /// When the fault applied; `null` if its event never came or came too late in the run.
    #[serde(deserialize_with = "Option::deserialize")]
    pub applied_ms: Option<f64>,
}

/// A Sentinel at the end of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentinelReport {
    /// Its id (`SENTINEL MYID`).
    pub myid: String,
    pub current_epoch: u64,
    /// The name of the master it monitors.
    pub master_name: String,
    /// Where it says that master is at the end (`SENTINEL get-master-addr-by-name`): a node's
    /// name, or `ip:port` when no node has that address.
    pub master: String,
    /// How many times each event happened, by type (`+sdown`, `+switch-master`, ...), every
    /// type Sentinel reports listed (from 0).
    pub events: BTreeMap<String, u64>,
}

/// One Sentinel event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SentinelMark {
    pub t_ms: f64,
    pub sentinel: String,
    /// The event type, e.g. `+switch-master`.
    pub kind: String,
    /// The rest of the line, as Sentinel logs it.
    pub message: String,
}

/// One node's series, and the limits its charts draw as lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeTimeline {
    pub up: Vec<bool>,
    pub master: Vec<bool>,
    pub offset: Vec<u64>,
    /// Bytes behind its own master (one hop); `null` where the node is not a replica of a
    /// master that is up.
    pub lag_bytes: Vec<Option<u64>>,
    /// Seconds behind its own master, to the microsecond (the time since the master's offset
    /// was where this node's is, between samples as if the master's offset grew evenly);
    /// `null` where `lag_bytes` is.
    pub lag_seconds: Vec<Option<f64>>,
    /// How many `replicaof` links lead from this node to the top of its chain (the master whose
    /// stream it is): 1 for a replica of a master, 2 for a replica of a replica; `null` for a
    /// master and where the chain is broken (a node on it down) or loops.
    pub hops_to_top: Vec<Option<u32>>,
    /// Bytes and seconds behind the top of its chain, as `lag_bytes` and `lag_seconds` are
    /// behind its own master (equal to them one hop from the top); `null` where `hops_to_top`
    /// is.
    pub lag_bytes_top: Vec<Option<u64>>,
    pub lag_seconds_top: Vec<Option<f64>>,
    pub link_up: Vec<bool>,
    pub backlog_histlen: Vec<u64>,
    /// The limits as the scenario configured them at the start; `limits` follows them through
    /// CONFIG SET. `obuf_hard_limit` is the effective hard limit.
    pub repl_backlog_size: u64,
    pub obuf_hard_limit: u64,
    pub obuf_soft_limit: u64,
    /// The limits in force: an entry from the first sample at which the node is up, and one
    /// from every later sample (the node up) at which CONFIG SET, or a restart, changed any.
    pub limits: Vec<LimitsFrom>,
    /// Each replica's output buffer on this node, by replica name, for replicas that were ever
    /// attached; `null` where that replica is not attached.
    pub replica_obuf: BTreeMap<String, Vec<Option<u64>>>,
    /// This node's local buffer of the stream during a dual-channel full sync (INFO
    /// `replicas_repl_buffer_size`), in bytes; absent (empty) when it never held any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_repl_buffer: Vec<u64>,
}

/// A node's replication limits from a sample on, until the next entry, as CONFIG SET leaves
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitsFrom {
    /// The time of the sample from which they hold.
    pub t_ms: f64,
    pub repl_backlog_size: u64,
    /// `client-output-buffer-limit replica` hard limit as configured.
    pub obuf_hard_limit_configured: u64,
    /// The hard limit Redis enforces: the configured one, raised to `repl-backlog-size` when
    /// lower (and not 0).
    pub obuf_hard_limit_effective: u64,
    pub obuf_soft_limit: u64,
}

/// The writes one node acknowledged, per whole second of simulated time by acknowledgement time
/// (entry `s` covers `[s, s+1)` seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckedWrites {
    /// Acknowledged writes that changed the dataset, as `checks.acked_writes_lost.acked`
    /// counts them.
    pub acked: Vec<u64>,
    /// Of those, the writes the final master never applied: `checks.acked_writes_lost.lost`
    /// is the sum over every node and second.
    pub lost: Vec<u64>,
}

/// The distribution of a node's read staleness: how stale its stale reads were, at quantiles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StalenessCdf {
    pub reads: u64,
    /// Reads served before the node's first completed sync (counted as neither fresh nor stale).
    pub reads_before_first_sync: u64,
    pub stale: u64,
    /// Quantiles of the stale reads (0 to 1) and the staleness at each, in microseconds; empty
    /// without stale reads. Each value is the lower bound of a histogram bucket under 1/64 of its
    /// values wide, with the exact minimum and maximum at the ends.
    pub quantile: Vec<f64>,
    pub staleness_us: Vec<f64>,
}

/// One workload's cumulative counters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkloadTimeline {
    pub writes: Vec<u64>,
    pub writes_ok: Vec<u64>,
    pub timeouts: Vec<u64>,
    /// Cumulative refusals by error kind, for kinds that ever occurred.
    pub errors: BTreeMap<String, Vec<u64>>,
}

/// A milestone on the time axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MilestoneMark {
    pub t_ms: f64,
    pub node: String,
    /// The milestone's name (`full_sync_started`, …).
    pub what: String,
    /// For `replica_dropped`: which replica, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A fault's window on the time axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultMark {
    pub kind: String,
    pub label: String,
    pub start_ms: f64,
    /// `null` for an instant fault or one never healed.
    #[serde(deserialize_with = "Option::deserialize")]
    pub end_ms: Option<f64>,
}

/// An operator command and the node's reply. Operator commands run as an authenticated admin
/// client, so `requirepass` never refuses them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorReply {
    pub t_ms: f64,
    pub node: String,
    /// The command as the scenario wrote it.
    pub command: String,
    /// The reply as redis-cli prints it (`OK`, `(error) ERR ...`, `(integer) 1`); `null` when
    /// none came: the node was down, or a WAIT was still blocked when the run ended.
    #[serde(deserialize_with = "Option::deserialize")]
    pub reply: Option<String>,
    /// The command failed: the reply is an error, or the node was down and never ran it.
    pub error: bool,
}
