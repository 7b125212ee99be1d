//! Pure functions from a finished run to text, JSON and charts. The only module where floats are
//! welcome; nothing here changes the outcome it describes.
//!
//! The JSON report is a contract that tests, charts and users' CI parse. It holds no wall-clock
//! figure, so two runs of the same scenario and seed compare byte for byte.

pub mod chart;
pub mod summary;

use serde_json::{json, Map, Value};

use crate::check::{run_checks, Checks};
use crate::scenario::{ExpectValue, Expectation, Op};
use crate::sim::observe::Milestone;
use crate::sim::RunOutput;

/// The result of one `[expect]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectResult {
    pub expect: String,
    pub ok: bool,
    pub actual: Value,
    pub line: usize,
}

/// Builds the report: checks, expectations and all.
pub fn build(out: &RunOutput) -> Value {
    let checks = run_checks(out);
    let mut report = base_report(out, &checks);
    let results = evaluate(&out.world.scenario.expect, &report);
    let unexpected = unexpected_violations(&checks, &out.world.scenario.expect);
    report["expectations"] = Value::Array(
        results
            .iter()
            .map(|r| json!({ "expect": r.expect, "ok": r.ok, "actual": r.actual, "line": r.line }))
            .collect(),
    );
    report["violations"] = Value::Array(checks.violations().into_iter().map(|(k, m)| json!({ "checker": k, "message": m, "expected": !unexpected.iter().any(|(u, _)| *u == k) })).collect());
    report["ok"] = Value::Bool(results.iter().all(|r| r.ok) && unexpected.is_empty());
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

fn info_value(v: &str) -> Value {
    match v.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(v.to_string()),
    }
}

fn base_report(out: &RunOutput, checks: &Checks) -> Value {
    let w = &out.world;
    let sc = &w.scenario;
    let mut nodes = Map::new();
    for i in 0..w.node_count() {
        let name = sc.nodes[i].name.clone();
        let max_lag = w
            .rec
            .samples
            .iter()
            .filter_map(|s| s.nodes[i].lag_bytes)
            .max();
        let first_sync_s = w
            .rec
            .milestones
            .iter()
            .find(|m| m.node == i && m.what == Milestone::FullSyncFinished)
            .map(|m| m.time.as_nanos() as f64 / 1e9);
        let mut milestones = Map::new();
        for m in w.rec.milestones.iter().filter(|m| m.node == i) {
            let e = milestones
                .entry(m.what.name().to_string())
                .or_insert(Value::from(0u64));
            *e = Value::from(e.as_u64().unwrap_or(0) + 1);
        }
        let entry = match w.node(i) {
            None => {
                json!({ "up": false, "role": "down", "max_lag_bytes": max_lag, "milestones": milestones })
            }
            Some(n) => {
                let info: Map<String, Value> = n
                    .info_replication(out.sim_time)
                    .into_iter()
                    .map(|(k, v)| (k, info_value(&v)))
                    .collect();
                let s = &n.stats;
                json!({
                    "up": true,
                    "role": if n.is_master() { "master" } else { "slave" },
                    "info": info,
                    "stats": {
                        "sync_full": s.sync_full,
                        "sync_partial_ok": s.sync_partial_ok,
                        "sync_partial_err": s.sync_partial_err,
                        "total_net_repl_input_bytes": s.total_net_repl_input_bytes,
                        "total_net_repl_output_bytes": s.total_net_repl_output_bytes,
                        "expired_keys": s.expired_keys,
                        "total_commands_processed": s.total_commands_processed,
                        "rdb_saves": s.rdb_saves,
                    },
                    "milestones": milestones,
                    "first_sync_s": first_sync_s,
                    "dataset": { "keys": n.dbsize(), "digest": format!("{:016x}", out.digest(i).unwrap_or_default()) },
                    "max_lag_bytes": max_lag,
                })
            }
        };
        nodes.insert(name, entry);
    }
    let mut workloads = Map::new();
    for (i, spec) in sc.workloads.iter().enumerate() {
        workloads.insert(
            spec.name.clone(),
            serde_json::to_value(counters_json(&w.rec.counters[i])).expect("plain data"),
        );
    }
    json!({
        "scenario": sc.name,
        "description": sc.description,
        "seed": out.seed,
        "trace_hash": format!("{:016x}", out.trace_hash),
        "sim_time_us": out.sim_time.as_micros(),
        "events": out.events,
        "stop": out.stop,
        "nodes": nodes,
        "workloads": workloads,
        "checks": serde_json::to_value(checks).expect("plain data"),
        "timeline": timeline(out),
    })
}

fn counters_json(c: &crate::sim::observe::WorkloadCounters) -> Value {
    json!({
        "writes": c.writes,
        "writes_ok": c.writes_ok,
        "reads": c.reads,
        "reads_ok": c.reads_ok,
        "timeouts": c.timeouts,
        "errors": c.errors,
        "stale_reads": c.stale_reads,
        "max_staleness_ms": c.max_staleness_ns as f64 / 1e6,
        "wait_unsatisfied": c.wait_unsatisfied,
    })
}

/// The time series and markers the charts draw: compact columns per node and workload.
fn timeline(out: &RunOutput) -> Value {
    let w = &out.world;
    let samples = &w.rec.samples;
    let names: Vec<String> = w.scenario.nodes.iter().map(|n| n.name.clone()).collect();
    let t_ms: Vec<f64> = samples
        .iter()
        .map(|s| s.time.as_nanos() as f64 / 1e6)
        .collect();
    let mut nodes = Map::new();
    for (i, name) in names.iter().enumerate() {
        let col = |f: &dyn Fn(&crate::sim::observe::NodeSample) -> Value| {
            Value::Array(samples.iter().map(|s| f(&s.nodes[i])).collect())
        };
        let mut obuf = Map::new();
        for (j, rname) in names.iter().enumerate() {
            if samples
                .iter()
                .any(|s| s.nodes[i].replica_obuf.iter().any(|(r, _)| *r == j))
            {
                obuf.insert(
                    rname.clone(),
                    Value::Array(
                        samples
                            .iter()
                            .map(|s| {
                                s.nodes[i]
                                    .replica_obuf
                                    .iter()
                                    .find(|(r, _)| *r == j)
                                    .map_or(Value::Null, |(_, b)| Value::from(*b))
                            })
                            .collect(),
                    ),
                );
            }
        }
        let cfg = &w.scenario.nodes[i].config;
        let limit = cfg.client_output_buffer_limit_replica;
        nodes.insert(
            name.clone(),
            json!({
                "up": col(&|n| Value::Bool(n.up)),
                "master": col(&|n| Value::Bool(n.master)),
                "offset": col(&|n| Value::from(n.offset)),
                "lag_bytes": col(&|n| n.lag_bytes.map_or(Value::Null, Value::from)),
                "lag_seconds": Value::Array((0..samples.len()).map(|k| crate::sim::observe::lag_seconds(samples, k, i).map_or(Value::Null, |x| json!((x * 1000.0).round() / 1000.0))).collect()),
                "link_up": col(&|n| Value::Bool(n.link_up)),
                "backlog_histlen": col(&|n| Value::from(n.backlog_histlen)),
                "repl_backlog_size": cfg.repl_backlog_size,
                "obuf_hard_limit": cfg.replica_hard_limit_effective(),
                "obuf_soft_limit": limit.soft_bytes,
                "replica_obuf": obuf,
            }),
        );
    }
    let mut workloads = Map::new();
    for (k, spec) in w.scenario.workloads.iter().enumerate() {
        let col = |f: &dyn Fn(&crate::sim::observe::WorkloadCounters) -> u64| {
            Value::Array(
                samples
                    .iter()
                    .map(|s| Value::from(f(&s.workloads[k])))
                    .collect(),
            )
        };
        let kinds: std::collections::BTreeSet<String> = samples
            .iter()
            .flat_map(|s| s.workloads[k].errors.keys().cloned())
            .collect();
        let mut errors = Map::new();
        for kind in kinds {
            errors.insert(
                kind.clone(),
                col(&|c| c.errors.get(&kind).copied().unwrap_or(0)),
            );
        }
        workloads.insert(spec.name.clone(), json!({ "writes": col(&|c| c.writes), "writes_ok": col(&|c| c.writes_ok), "timeouts": col(&|c| c.timeouts), "errors": errors }));
    }
    let milestones: Vec<Value> = w
        .rec
        .milestones
        .iter()
        .map(|m| {
            let mut v = json!({ "t_ms": m.time.as_nanos() as f64 / 1e6, "node": names[m.node], "what": m.what.name() });
            if let Milestone::ReplicaDropped { replica, reason } = &m.what {
                v["replica"] = Value::String(replica.clone());
                v["reason"] = Value::String(reason.clone());
            }
            v
        })
        .collect();
    let faults: Vec<Value> = w
        .rec
        .windows
        .iter()
        .map(|f| json!({ "kind": f.kind, "label": f.label, "start_ms": f.start.as_nanos() as f64 / 1e6, "end_ms": f.end.map(|e| e.as_nanos() as f64 / 1e6) }))
        .collect();
    json!({
        "duration_ms": w.scenario.duration.as_nanos() as f64 / 1e6,
        "t_ms": t_ms,
        "nodes": nodes,
        "workloads": workloads,
        "milestones": milestones,
        "faults": faults,
    })
}

/// Looks up an expectation's path in the report. A `nodes.<name>.<field>` path also finds the
/// field under the node's `info`, `stats` and `dataset`.
pub fn lookup<'a>(report: &'a Value, path: &[String]) -> Option<&'a Value> {
    let direct = path.iter().try_fold(report, |v, k| v.get(k));
    if direct.is_some() || path.len() != 3 || path[0] != "nodes" {
        return direct;
    }
    let node = report.get("nodes")?.get(&path[1])?;
    ["info", "stats", "dataset", "milestones"]
        .iter()
        .find_map(|sec| node.get(sec)?.get(&path[2]))
}

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
