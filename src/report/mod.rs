//! Pure functions from a finished run to text, JSON and charts. The only module where floats are
//! welcome; nothing here changes the outcome it describes.
//!
//! The JSON report is a contract that tests, charts and users' CI parse. It is written from the
//! types in `model` and read back through them; it holds no wall-clock figure, so two runs of the
//! same scenario and seed compare byte for byte.

pub mod chart;
pub mod expect_paths;
pub mod history;
pub mod html;
mod model;
pub(crate) mod sentinels;
pub mod summary;

use std::collections::BTreeMap;

use serde_json::Value;

pub use model::{
    AckedWrites, Dataset, DownNode, ExpectResult, FaultMark, InfoValue, LimitsFrom, LiveNode,
    MilestoneMark, NodeReport, NodeStats, NodeTimeline, OperatorReply, Report, ScriptReport,
    SentinelMark, SentinelReport, StalenessCdf, Timeline, TriggeredFault, Violation,
    WorkloadReport, WorkloadTimeline,
};

use crate::check::{lost_writes, run_checks, Checks};
use crate::scenario::{ExpectValue, Expectation, Op};
use crate::sim::observe::{
    lag_seconds, LagTo, Milestone, NodeSample, Sample, WorkloadCounters, WorkloadLatency,
    WriteRecord, LATENCY_OPS,
};
use crate::sim::RunOutput;
use crate::time::SimTime;

/// Builds the report: checks, expectations and all.
pub fn build(out: &RunOutput) -> Report {
    let checks = run_checks(out);
    let unexpected = unexpected_violations(&checks, &out.world.scenario.expect);
    let violations = checks
        .violations()
        .into_iter()
        .map(|(checker, message)| Violation {
            checker: checker.to_string(),
            message,
            expected: !unexpected.iter().any(|(u, _)| *u == checker),
        })
        .collect();
    let w = &out.world;
    let sc = &w.scenario;
    let mut report = Report {
        scenario: sc.name.clone(),
        description: sc.description.clone(),
        seed: out.seed,
        trace_hash: format!("{:016x}", out.trace_hash),
        sim_time_us: out.sim_time.as_micros(),
        events: out.events,
        stop: out.stop,
        nodes: (0..w.node_count())
            .map(|i| (sc.nodes[i].name.clone(), node_report(out, i)))
            .collect(),
        sentinels: sentinels::reports(out),
        workloads: sc
            .workloads
            .iter()
            .enumerate()
            .map(|(k, spec)| {
                let report = workload_report(&w.rec.counters[k], &w.rec.latency[k]);
                (spec.name.clone(), report)
            })
            .collect(),
        checks,
        violations,
        expectations: Vec::new(),
        ok: false,
        timeline: timeline(out),
    };
    // Expectation paths are the user's, so they are looked up in the serialised report. The
    // scenario parser admits no path into `violations`, `expectations` or `ok`, so what those
    // hold while the lookup runs cannot change a result. The timeline is serialised only when a
    // path goes into it: as a tree of JSON values its series take several times their own
    // memory (a million samples of two nodes: about 0.8 GB), for lookups no path makes.
    let into_timeline = sc
        .expect
        .iter()
        .any(|e| e.path.first().is_some_and(|p| p == "timeline"));
    let timeline = (!into_timeline).then(|| std::mem::take(&mut report.timeline));
    let expectations = evaluate(
        &sc.expect,
        &serde_json::to_value(&report).expect("plain data"),
    );
    if let Some(timeline) = timeline {
        report.timeline = timeline;
    }
    // A run stopped at a limit describes part of what the scenario asked for: it never passes.
    report.ok = expectations.iter().all(|r| r.ok) && unexpected.is_empty() && !out.stop.is_limit();
    report.expectations = expectations;
    report
}

/// Violations no expectation speaks to: a scenario that expects a checker to fire says so with an
/// `[expect]` entry under `checks.<checker>`.
pub fn unexpected_violations(
    checks: &Checks,
    expect: &[Expectation],
) -> Vec<(&'static str, String)> {
    checks
        .violations()
        .into_iter()
        .filter(|(k, _)| {
            !expect
                .iter()
                .any(|e| e.path.len() >= 2 && e.path[0] == "checks" && e.path[1] == *k)
        })
        .collect()
}

/// Node `i` at the end of the run.
fn node_report(out: &RunOutput, i: usize) -> NodeReport {
    let rec = &out.world.rec;
    let max_lag_bytes = rec
        .samples
        .iter()
        .filter_map(|s| s.nodes[i].lag_bytes)
        .max();
    let mut milestones = BTreeMap::new();
    for m in rec.milestones.iter().filter(|m| m.node == i) {
        *milestones.entry(m.what.name().to_string()).or_insert(0) += 1;
    }
    let Some(n) = out.world.node(i) else {
        return NodeReport::Down(DownNode {
            up: false,
            milestones,
            max_lag_bytes,
        });
    };
    let first_sync_s = rec
        .milestones
        .iter()
        .find(|m| m.node == i && m.what == Milestone::FullSyncFinished)
        .map(|m| m.time.as_nanos() as f64 / 1e9);
    let s = &n.stats;
    let live = LiveNode {
        up: true,
        info: n
            .info_replication(out.sim_time)
            .into_iter()
            .map(|(k, v)| (k, InfoValue::parse(&v)))
            .collect(),
        stats: NodeStats {
            sync_full: s.sync_full,
            sync_partial_ok: s.sync_partial_ok,
            sync_partial_err: s.sync_partial_err,
            total_net_repl_input_bytes: s.total_net_repl_input_bytes,
            total_net_repl_output_bytes: s.total_net_repl_output_bytes,
            expired_keys: s.expired_keys,
            total_commands_processed: s.total_commands_processed,
            rdb_saves: s.rdb_saves,
        },
        dataset: Dataset {
            keys: n.dbsize(),
            digest: format!("{:016x}", out.digest(i).unwrap_or_default()),
        },
        milestones,
        first_sync_s,
        max_lag_bytes,
    };
    if n.is_master() {
        NodeReport::Master(live)
    } else {
        NodeReport::Slave(live)
    }
}

fn workload_report(c: &WorkloadCounters, l: &WorkloadLatency) -> WorkloadReport {
    WorkloadReport {
        writes: c.writes,
        writes_ok: c.writes_ok,
        reads: c.reads,
        reads_ok: c.reads_ok,
        timeouts: c.timeouts,
        errors: c.errors.clone(),
        stale_reads: c.stale_reads,
        max_staleness_ms: c.max_staleness_ns as f64 / 1e6,
        reads_before_first_sync: c.reads_before_first_sync,
        wait_unsatisfied: c.wait_unsatisfied,
        wait_timeouts: c.wait_timeouts,
        latency: LATENCY_OPS
            .iter()
            .zip(&l.by_op)
            .filter(|(_, h)| h.count() > 0)
            .map(|(op, h)| (op.to_string(), h.percentiles()))
            .collect(),
        wait_replicas: l
            .wait_counts
            .iter()
            .map(|(n, c)| (n.to_string(), *c))
            .collect(),
    }
}

/// A simulated time in milliseconds, as the timeline gives times.
fn ms(t: SimTime) -> f64 {
    t.as_nanos() as f64 / 1e6
}

/// The time series and markers the charts draw: compact columns per node and workload.
fn timeline(out: &RunOutput) -> Timeline {
    let w = &out.world;
    let samples = &w.rec.samples;
    let names: Vec<&String> = w.scenario.nodes.iter().map(|n| &n.name).collect();
    let lag_master = lag_seconds(samples, LagTo::Master);
    let lag_top = lag_seconds(samples, LagTo::Top);
    let mut nodes = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let mut series = node_timeline(out, i, &names);
        series.lag_seconds = lag_master[i].iter().map(|x| x.map(micros)).collect();
        series.lag_seconds_top = lag_top[i].iter().map(|x| x.map(micros)).collect();
        nodes.insert(name.to_string(), series);
    }
    let mut workloads = BTreeMap::new();
    for (k, spec) in w.scenario.workloads.iter().enumerate() {
        workloads.insert(spec.name.clone(), workload_timeline(samples, k));
    }
    let milestones = w
        .rec
        .milestones
        .iter()
        .map(|m| {
            let (replica, reason) = match &m.what {
                Milestone::ReplicaDropped { replica, reason } => {
                    (Some(replica.clone()), Some(reason.clone()))
                }
                _ => (None, None),
            };
            MilestoneMark {
                t_ms: ms(m.time),
                node: names[m.node].clone(),
                what: m.what.name().to_string(),
                replica,
                reason,
            }
        })
        .collect();
    let faults = w
        .rec
        .windows
        .iter()
        .map(|f| FaultMark {
            kind: f.kind.clone(),
            label: f.label.clone(),
            start_ms: ms(f.start),
            end_ms: f.end.map(ms),
        })
        .collect();
    let operator_commands = w
        .rec
        .operator_commands
        .iter()
        .map(|c| OperatorReply {
            t_ms: ms(c.time),
            node: names[c.node].clone(),
            command: c.command.clone(),
            reply: c.reply.as_ref().map(|r| r.summary()),
            error: !c.node_up || c.reply.as_ref().is_some_and(|r| r.is_error()),
        })
        .collect();
    Timeline {
        duration_ms: w.scenario.duration.as_nanos() as f64 / 1e6,
        t_ms: samples.iter().map(|s| ms(s.time)).collect(),
        nodes,
        workloads,
        milestones,
        faults,
        operator_commands,
        acked_writes: acked_writes(out, &names),
        staleness: staleness(out, &names),
        sentinel_events: sentinels::marks(out),
        triggered_faults: triggered_faults(out),
        scripts: scripts(out, &names),
        probes: probes(out, &names),
    }
}

/// Every probe's reply: a bulk string as its raw text (INFO's lines), anything else as
/// redis-cli prints it.
fn probes(out: &RunOutput, names: &[&String]) -> Vec<OperatorReply> {
    let w = &out.world;
    w.rec
        .probes
        .iter()
        .map(|r| {
            let spec = &w.scenario.probes[r.probe];
            OperatorReply {
                t_ms: ms(r.time),
                node: names[spec.node].clone(),
                command: spec.command.join(" "),
                reply: r.reply.as_ref().map(|x| match x {
                    crate::redis::resp::Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => other.summary(),
                }),
                error: !r.node_up || r.reply.as_ref().is_none_or(|x| x.is_error()),
            }
        })
        .collect()
}

/// Each script workload's commands and replies.
fn scripts(out: &RunOutput, names: &[&String]) -> Vec<ScriptReport> {
    let w = &out.world;
    w.scenario
        .scripts
        .iter()
        .zip(&w.rec.scripts)
        .map(|(spec, log)| ScriptReport {
            name: spec.name.clone(),
            node: names[spec.node].clone(),
            pipeline: spec.pipeline,
            commands: spec.commands.len(),
            replies: log
                .replies
                .iter()
                .map(|r| OperatorReply {
                    t_ms: ms(r.time),
                    node: names[spec.node].clone(),
                    command: spec.commands[r.command].join(" "),
                    reply: r.reply.as_ref().map(|x| x.summary()),
                    error: !r.node_up || r.reply.as_ref().is_some_and(|x| x.is_error()),
                })
                .collect(),
        })
        .collect()
}

/// The faults that waited for an event, in the scenario's order.
fn triggered_faults(out: &RunOutput) -> Vec<TriggeredFault> {
    let w = &out.world;
    w.rec
        .triggers
        .states
        .iter()
        .map(|t| {
            let f = &w.scenario.faults[t.fault];
            let after = f
                .after
                .as_ref()
                .expect("a trigger belongs to a fault with `after`");
            let on = after
                .host
                .map(|h| format!(" of {}", w.scenario.host_name(h)))
                .unwrap_or_default();
            let nth = match after.occurrence {
                1 => String::new(),
                n => format!(" (occurrence {n})"),
            };
            TriggeredFault {
                kind: f.kind.name().to_string(),
                line: f.line,
                after: format!(
                    "{}{on}{nth} + {} ms",
                    after.event.name(),
                    after.delay.as_nanos() as f64 / 1e6
                ),
                event_ms: t.event_at.map(ms),
                applied_ms: t.applied_at.map(ms),
            }
        })
        .collect()
}

/// Seconds rounded to the microsecond.
fn micros(s: f64) -> f64 {
    (s * 1e6).round() / 1e6
}

/// Node `i`'s sampled series; its lag in seconds is left empty for the caller, which computes
/// every node's at once.
fn node_timeline(out: &RunOutput, i: usize, names: &[&String]) -> NodeTimeline {
    let w = &out.world;
    let samples = &w.rec.samples;
    let col = |f: &dyn Fn(&NodeSample) -> u64| samples.iter().map(|s| f(&s.nodes[i])).collect();
    let flag = |f: &dyn Fn(&NodeSample) -> bool| samples.iter().map(|s| f(&s.nodes[i])).collect();
    let mut replica_obuf = BTreeMap::new();
    for (j, replica) in names.iter().enumerate() {
        let obuf = |s: &Sample| {
            let attached = s.nodes[i].replica_obuf.iter().find(|(r, _)| *r == j);
            attached.map(|(_, bytes)| *bytes)
        };
        if samples.iter().any(|s| obuf(s).is_some()) {
            replica_obuf.insert(replica.to_string(), samples.iter().map(obuf).collect());
        }
    }
    let cfg = &w.scenario.nodes[i].config;
    NodeTimeline {
        up: flag(&|n| n.up),
        master: flag(&|n| n.master),
        offset: col(&|n| n.offset),
        lag_bytes: samples.iter().map(|s| s.nodes[i].lag_bytes).collect(),
        lag_seconds: Vec::new(),
        hops_to_top: samples
            .iter()
            .map(|s| s.nodes[i].top.map(|(_, hops)| hops))
            .collect(),
        lag_bytes_top: samples.iter().map(|s| s.nodes[i].lag_bytes_top).collect(),
        lag_seconds_top: Vec::new(),
        link_up: flag(&|n| n.link_up),
        backlog_histlen: col(&|n| n.backlog_histlen),
        repl_backlog_size: cfg.repl_backlog_size,
        obuf_hard_limit: cfg.replica_hard_limit_effective(),
        obuf_soft_limit: cfg.client_output_buffer_limit_replica.soft_bytes,
        limits: limits_from(samples, i),
        replica_obuf,
        local_repl_buffer: if samples.iter().any(|s| s.nodes[i].local_repl_buffer > 0) {
            col(&|n| n.local_repl_buffer)
        } else {
            Vec::new()
        },
    }
}

/// Node `i`'s limits where they change: an entry at the first sample where it is up, then one
/// at each sample (it up) where any differs from the entry before.
fn limits_from(samples: &[Sample], i: usize) -> Vec<LimitsFrom> {
    let mut out: Vec<LimitsFrom> = Vec::new();
    for s in samples.iter().filter(|s| s.nodes[i].up) {
        let n = &s.nodes[i];
        let at = LimitsFrom {
            t_ms: ms(s.time),
            repl_backlog_size: n.backlog_size,
            obuf_hard_limit_configured: n.obuf_hard_limit_configured,
            obuf_hard_limit_effective: n.obuf_hard_limit_effective,
            obuf_soft_limit: n.obuf_soft_limit,
        };
        let same = |l: &LimitsFrom| {
            LimitsFrom {
                t_ms: at.t_ms,
                ..*l
            } == at
        };
        if !out.last().is_some_and(same) {
            out.push(at);
        }
    }
    out
}

fn workload_timeline(samples: &[Sample], k: usize) -> WorkloadTimeline {
    let col = |f: &dyn Fn(&WorkloadCounters) -> u64| -> Vec<u64> {
        samples.iter().map(|s| f(&s.workloads[k])).collect()
    };
    let kinds: std::collections::BTreeSet<&String> = samples
        .iter()
        .flat_map(|s| s.workloads[k].errors.keys())
        .collect();
    let errors = kinds
        .into_iter()
        .map(|kind| {
            (
                kind.clone(),
                col(&|c| c.errors.get(kind).copied().unwrap_or(0)),
            )
        })
        .collect();
    WorkloadTimeline {
        writes: col(&|c| c.writes),
        writes_ok: col(&|c| c.writes_ok),
        timeouts: col(&|c| c.timeouts),
        errors,
    }
}

/// Acknowledged and lost writes per node and second. Lost means what the acked-writes-lost
/// checker means, through the same function over the same final master, so the chart's count
/// is the checker's.
fn acked_writes(out: &RunOutput, names: &[&String]) -> BTreeMap<String, AckedWrites> {
    let w = &out.world;
    let writes = &w.rec.writes;
    let lost = match w.current_master() {
        Some(fm) => {
            let applied = w.rec.applied.of(fm);
            lost_writes(writes, |id| applied.contains(id))
        }
        None => Vec::new(),
    };
    let second = |r: &WriteRecord| (r.complete_ns / 1_000_000_000) as usize;
    let seconds = writes
        .iter()
        .filter(|r| r.acked())
        .map(|r| second(r) + 1)
        .max()
        .unwrap_or(0)
        .max(w.scenario.duration.as_nanos().div_ceil(1_000_000_000) as usize);
    let mut by_node: Vec<Option<AckedWrites>> = vec![None; names.len()];
    let blank = || AckedWrites {
        acked: vec![0; seconds],
        lost: vec![0; seconds],
    };
    for r in writes.iter().filter(|r| r.acked() && !r.noop()) {
        by_node[r.node as usize].get_or_insert_with(blank).acked[second(r)] += 1;
    }
    for &id in &lost {
        let r = &writes[id];
        by_node[r.node as usize].get_or_insert_with(blank).lost[second(r)] += 1;
    }
    by_node
        .into_iter()
        .enumerate()
        .filter_map(|(i, a)| Some((names[i].to_string(), a?)))
        .collect()
}

/// The quantiles the staleness distribution is given at: every percent, every tenth of a
/// percent above 99%, and the maximum.
fn staleness_quantiles() -> Vec<f64> {
    (0..100)
        .map(|p| f64::from(p) / 100.0)
        .chain((991..1000).map(|p| f64::from(p) / 1000.0))
        .chain(std::iter::once(1.0))
        .collect()
}

fn staleness(out: &RunOutput, names: &[&String]) -> BTreeMap<String, StalenessCdf> {
    let reads = &out.world.rec.reads;
    reads
        .iter()
        .enumerate()
        .filter(|(_, r)| r.reads > 0)
        .map(|(i, r)| {
            let h = &r.staleness;
            let quantile = if h.count() > 0 {
                staleness_quantiles()
            } else {
                Vec::new()
            };
            let staleness_us = quantile
                .iter()
                .map(|&q| h.quantile(q) as f64 / 1e3)
                .collect();
            let cdf = StalenessCdf {
                reads: r.reads,
                reads_before_first_sync: r.before_first_sync,
                stale: r.stale,
                quantile,
                staleness_us,
            };
            (names[i].to_string(), cdf)
        })
        .collect()
}

/// Looks up an expectation's path in the report. A `nodes.<name>.<field>` path also finds the
/// field under the node's `info`, `stats` and `dataset`.
pub fn lookup<'a>(report: &'a Value, path: &[String]) -> Option<&'a Value> {
    let direct = path.iter().try_fold(report, |v, k| v.get(k));
    if direct.is_some() || path.len() != 3 || path[0] != "nodes" {
        return direct;
    }
    let node = report.get("nodes")?.get(&path[1])?;
    NODE_SECTIONS
        .iter()
        .find_map(|sec| node.get(sec)?.get(&path[2]))
}

/// Where a `nodes.<name>.<field>` path looks for a field the node itself lacks, in order.
pub const NODE_SECTIONS: [&str; 4] = ["info", "stats", "dataset", "milestones"];

/// Evaluates every expectation against a report.
pub fn evaluate(expect: &[Expectation], report: &Value) -> Vec<ExpectResult> {
    expect
        .iter()
        .map(|e| {
            let actual = lookup(report, &e.path).cloned().unwrap_or(Value::Null);
            let ok = compare(&actual, e.op, &e.value);
            ExpectResult {
                expect: e.to_string(),
                ok,
                actual,
                line: e.line,
            }
        })
        .collect()
}

fn compare(actual: &Value, op: Op, want: &ExpectValue) -> bool {
    use std::cmp::Ordering;
    if let ExpectValue::Range(lo, hi) = want {
        return actual.as_f64().is_some_and(|v| *lo <= v && v <= *hi);
    }
    let ord = match (actual, want) {
        (Value::Number(a), ExpectValue::Number(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
        (Value::Bool(a), ExpectValue::Bool(b)) => Some(a.cmp(b)),
        (Value::String(a), ExpectValue::Text(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::Array(a), ExpectValue::Number(b)) => (a.len() as f64).partial_cmp(b),
        _ => None,
    };
    match ord {
        None => matches!(op, Op::Ne),
        Some(o) => match op {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Within => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run whose replica `r2` is down at the end and whose replica `r` was partitioned away.
    fn report() -> Report {
        let sc = crate::scenario::parse(
            "t.toml",
            "name = \"t\"\nduration = \"20s\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[node]]\nname = \"r2\"\nreplicaof = \"m\"\n[[workload]]\ntarget = \"m\"\nrate = 100\n\
             [[fault]]\nat = \"8s\"\nkind = \"partition\"\ngroups = [[\"r\"]]\nduration = \"4s\"\n\
             [[fault]]\nat = \"15s\"\nkind = \"crash\"\nnode = \"r2\"\n\
             [expect]\n\"r.role\" = \"slave\"\n\"m.master_repl_offset\" = \"> 0\"\n\"checks.stale_reads.stale\" = 0\n",
        )
        .unwrap();
        build(&crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {}))
    }

    #[test]
    fn the_json_keeps_its_shapes_and_number_types() {
        let r = report();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["stop"], "time_limit");
        let m = &v["nodes"]["m"];
        assert_eq!((&m["role"], &m["up"]), (&"master".into(), &true.into()));
        assert!(m["info"]["master_repl_offset"].is_u64(), "{m}");
        assert_eq!(m["info"]["second_repl_offset"], -1);
        assert!(m["info"]["master_replid"].is_string());
        assert!(m["stats"]["sync_full"].is_u64() && m["dataset"]["digest"].is_string());
        assert!(m["first_sync_s"].is_null() && m.get("first_sync_s").is_some());
        assert!(v["nodes"]["r"]["first_sync_s"].is_f64());
        assert_eq!(v["nodes"]["r"]["role"], "slave");
        let down = v["nodes"]["r2"].as_object().unwrap();
        let keys: Vec<&str> = down.keys().map(String::as_str).collect();
        assert_eq!(keys, ["max_lag_bytes", "milestones", "role", "up"]);
        assert_eq!(
            (&down["role"], &down["up"]),
            (&"down".into(), &false.into())
        );
        let tl = &v["timeline"];
        assert!(tl["t_ms"][0].is_f64() && tl["nodes"]["r"]["offset"][0].is_u64());
        assert!(
            tl["nodes"]["m"]["lag_bytes"][0].is_null() && tl["nodes"]["r"]["lag_bytes"][0].is_u64()
        );
        assert!(v["workloads"]["workload-0"]["max_staleness_ms"].is_f64());
        assert!(tl["faults"][1]["end_ms"].is_null() && tl["faults"][0]["end_ms"].is_f64());
    }

    #[test]
    fn expectations_are_evaluated_on_the_serialised_report() {
        let r = report();
        let got: Vec<(&str, bool)> = r
            .expectations
            .iter()
            .map(|e| (e.expect.as_str(), e.ok))
            .collect();
        assert_eq!(
            got,
            [
                ("checks.stale_reads.stale == 0", true),
                ("m.master_repl_offset > 0", true),
                ("r.role == \"slave\"", true),
            ]
        );
        let NodeReport::Master(m) = &r.nodes["m"] else {
            panic!("m is the master")
        };
        assert_eq!(
            r.expectations[1].actual,
            serde_json::to_value(&m.info["master_repl_offset"]).unwrap()
        );
        assert!(r.ok);
    }

    #[test]
    fn the_summary_shows_each_node_by_its_role() {
        let r = report();
        let text = summary::render(&r);
        let line = |name: &str| -> &str {
            text.lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                .unwrap()
        };
        let row = |name: &str| -> Vec<&str> { line(name).split_whitespace().collect() };
        assert_eq!(row("r2"), ["r2", "down"]);
        let Some(InfoValue::Number(offset)) =
            r.nodes["m"].live().unwrap().info.get("master_repl_offset")
        else {
            panic!("the master's offset is a number")
        };
        assert_eq!(
            row("m")[..3],
            ["m", "master", &summary::group(*offset as u64)]
        );
        // The replica sits under its master, indented, with its lag in bytes and time.
        assert!(line("r").starts_with("  r "), "{text}");
        assert_eq!(row("r")[1], "replica");
        assert!(
            line("r").contains(" B / ") && line("r").contains(" up "),
            "{text}"
        );
        let (m, r) = (text.find(line("m")).unwrap(), text.find(line("r")).unwrap());
        assert!(m < r, "the master comes first");
        assert!(text.ends_with("\nOK\n"), "{text}");
    }

    fn bundled(toml: &str) -> Report {
        let sc = crate::scenario::parse("bundled.toml", toml).unwrap();
        let seed = sc.seed;
        build(&crate::sim::run(sc, seed, u64::MAX, None, &mut |_, _| {}))
    }

    #[test]
    fn the_timelines_acked_and_lost_writes_add_up_to_the_checkers() {
        for toml in [
            include_str!("../../scenarios/failover-split-brain-min-replicas.toml"),
            include_str!("../../scenarios/master-restart-no-persistence.toml"),
            include_str!("../../scenarios/psync2-failover.toml"),
        ] {
            let r = bundled(toml);
            let a = &r.checks.acked_writes_lost;
            let sum = |f: &dyn Fn(&AckedWrites) -> &Vec<u64>| -> u64 {
                r.timeline
                    .acked_writes
                    .values()
                    .map(|w| f(w).iter().sum::<u64>())
                    .sum()
            };
            assert_eq!(sum(&|w| &w.lost), a.lost, "{}", r.scenario);
            assert_eq!(sum(&|w| &w.acked), a.acked, "{}", r.scenario);
            let seconds = r.timeline.duration_ms / 1000.0;
            assert!(r
                .timeline
                .acked_writes
                .values()
                .all(|w| w.acked.len() as f64 >= seconds && w.lost.len() == w.acked.len()));
        }
        let r = bundled(include_str!(
            "../../scenarios/failover-split-brain-min-replicas.toml"
        ));
        assert!(
            r.checks.acked_writes_lost.lost > 0,
            "a run that loses writes"
        );
    }

    #[test]
    fn a_replica_of_a_replica_is_measured_against_the_top_of_its_chain() {
        let r = bundled(include_str!("../../scenarios/chained-replicas.toml"));
        let (b, c) = (&r.timeline.nodes["B"], &r.timeline.nodes["C"]);
        assert!(c.hops_to_top.contains(&Some(2)));
        assert!(b.hops_to_top.iter().flatten().all(|&h| h == 1));
        assert!(r.timeline.nodes["A"]
            .hops_to_top
            .iter()
            .all(Option::is_none));
        assert_eq!(b.lag_bytes, b.lag_bytes_top, "one hop: the same measure");
        // Lag in bytes is measured to the data a replica holds, also while B resyncs (about
        // 52 s): it never jumps to the whole stream for the sample where INFO shows no
        // slave_repl_offset.
        let a = &r.timeline.nodes["A"];
        for (k, lag) in b.lag_bytes.iter().enumerate() {
            if let Some(lag) = lag {
                assert_eq!(*lag, a.offset[k].saturating_sub(b.offset[k]), "sample {k}");
            }
        }
        // While A and B are cut apart (30-50 s), C keeps up with B but falls behind A.
        let during: Vec<usize> = (0..r.timeline.t_ms.len())
            .filter(|&k| (35_000.0..50_000.0).contains(&r.timeline.t_ms[k]))
            .collect();
        let max = |v: &[Option<f64>]| during.iter().filter_map(|&k| v[k]).fold(0.0, f64::max);
        assert!(max(&c.lag_seconds) < 1.0, "{}", max(&c.lag_seconds));
        assert!(
            max(&c.lag_seconds_top) > 15.0,
            "{}",
            max(&c.lag_seconds_top)
        );
    }

    #[test]
    fn staleness_is_given_at_quantiles_up_to_the_maximum() {
        let r = bundled(include_str!("../../scenarios/cap-consistency.toml"));
        let stale: Vec<(&String, &StalenessCdf)> = r
            .timeline
            .staleness
            .iter()
            .filter(|(_, s)| s.stale > 0)
            .collect();
        assert!(!stale.is_empty());
        for (node, s) in stale {
            assert_eq!(s.quantile.len(), s.staleness_us.len());
            assert_eq!((s.quantile[0], *s.quantile.last().unwrap()), (0.0, 1.0));
            assert!(s.staleness_us.windows(2).all(|w| w[0] <= w[1]), "{node}");
            let reads = r
                .checks
                .stale_reads
                .nodes
                .iter()
                .find(|n| n.node == *node)
                .unwrap();
            assert_eq!(s.stale, reads.stale);
            assert_eq!(*s.staleness_us.last().unwrap(), reads.staleness.max_us);
            assert_eq!(s.staleness_us[0], reads.staleness.min_us);
        }
    }

    #[test]
    fn a_report_reads_back_as_it_was_written() {
        let r = report();
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        assert!(matches!(back.nodes["r2"], NodeReport::Down(_)));
    }

    #[test]
    fn a_report_missing_a_field_is_refused_with_its_name() {
        let v = serde_json::to_value(report()).unwrap();
        // `parent` is a JSON pointer to the object that loses `field`.
        let without = |parent: &str, field: &str| {
            let mut v = v.clone();
            let object = v.pointer_mut(parent).unwrap().as_object_mut().unwrap();
            assert!(object.remove(field).is_some(), "{parent} has {field}");
            serde_json::from_value::<Report>(v).unwrap_err().to_string()
        };
        assert_eq!(without("", "timeline"), "missing field `timeline`");
        assert_eq!(without("/nodes/m", "stats"), "missing field `stats`");
        // Absent is not null: a field that may be null must still be there.
        assert_eq!(
            without("/nodes/m", "first_sync_s"),
            "missing field `first_sync_s`"
        );
        assert_eq!(
            without("/nodes/r2", "max_lag_bytes"),
            "missing field `max_lag_bytes`"
        );
        assert_eq!(
            without("/timeline/faults/0", "end_ms"),
            "missing field `end_ms`"
        );
        assert_eq!(
            without("/checks/convergence", "converged"),
            "missing field `converged`"
        );
    }
}
