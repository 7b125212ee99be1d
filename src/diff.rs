//! What differs between two reports: the run (scenario, seed, trace hash, time, events, stop,
//! verdict), each node's role, INFO replication fields, counters, dataset and milestones, each
//! workload's counters, the checkers' findings, the violations, the expectations, the faults and
//! the operator commands. The sampled series of the timeline are left out: they follow from the
//! rest, and a different trace hash already says that the runs differ.
//!
//! Both reports are compared as the JSON they serialise to, leaf by leaf, so a field added to the
//! report is compared without a change here. Lists whose items have a name (replicas, nodes,
//! fault windows, other masters, violations, expectations) are matched by that name, not by
//! position; other lists (lost-write examples, sync attempts) are compared whole, and a
//! difference names how many items each side holds. Nothing here reads a file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::report::Report;

/// One difference: a path into the report and its value on each side (`None` where the side
/// does not have it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    /// The part of the report: `run`, `nodes`, `workloads`, `checks`, `violations`,
    /// `expectations`, `faults` or `operator_commands`.
    pub section: String,
    /// The path within the report, dot-separated, with list items by their name
    /// (`checks.convergence.replicas[replica-1].converged`).
    pub path: String,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

impl Difference {
    /// `changed`, `added` (only in B) or `removed` (only in A).
    pub fn change(&self) -> &'static str {
        match (&self.a, &self.b) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ => "changed",
        }
    }
}

/// Every difference between `a` and `b`, in the report's order: the run, nodes, workloads,
/// checks, violations, expectations, faults, operator commands.
pub fn diff(a: &Report, b: &Report) -> Vec<Difference> {
    let (va, vb) = (comparable(a), comparable(b));
    let mut out = Vec::new();
    for section in SECTIONS {
        let (x, y) = (va.get(*section), vb.get(*section));
        walk(section, section, x, y, &mut out);
    }
    out
}

/// The parts compared, in this order. `run` gathers the report's top-level scalars.
const SECTIONS: &[&str] = &[
    "run",
    "nodes",
    "workloads",
    "checks",
    "violations",
    "expectations",
    "faults",
    "operator_commands",
];

/// The report as JSON, regrouped into [`SECTIONS`].
fn comparable(r: &Report) -> BTreeMap<&'static str, Value> {
    let v = serde_json::to_value(r).expect("a report is plain data");
    let mut run = serde_json::Map::new();
    for key in [
        "scenario",
        "seed",
        "trace_hash",
        "sim_time_us",
        "events",
        "stop",
        "ok",
    ] {
        run.insert(key.to_string(), v[key].clone());
    }
    // An expectation's line in its file is where it is written, not what it found.
    let expectations: Vec<Value> = r
        .expectations
        .iter()
        .map(|e| serde_json::json!({ "expect": e.expect, "ok": e.ok, "actual": e.actual }))
        .collect();
    BTreeMap::from([
        ("run", Value::Object(run)),
        ("nodes", v["nodes"].clone()),
        ("workloads", v["workloads"].clone()),
        ("checks", v["checks"].clone()),
        ("violations", v["violations"].clone()),
        ("expectations", Value::Array(expectations)),
        ("faults", v["timeline"]["faults"].clone()),
        (
            "operator_commands",
            v["timeline"]["operator_commands"].clone(),
        ),
    ])
}

/// The field that names the items of two lists, if every item of both has one and no name
/// repeats within a list.
fn item_key(ax: &[Value], ay: &[Value]) -> Option<&'static str> {
    const KEYS: &[&str] = &["replica", "node", "window", "master", "checker", "expect"];
    let unique = |items: &[Value], k: &str| {
        let mut names: Vec<&str> = items.iter().filter_map(|i| i.get(k)?.as_str()).collect();
        let all = names.len() == items.len();
        names.sort_unstable();
        all && names.windows(2).all(|w| w[0] != w[1])
    };
    if ax.is_empty() && ay.is_empty() {
        return None;
    }
    KEYS.iter()
        .copied()
        .find(|k| unique(ax, k) && unique(ay, k))
}

/// Compares `x` and `y` at `path`, appending what differs.
fn walk(
    section: &str,
    path: &str,
    x: Option<&Value>,
    y: Option<&Value>,
    out: &mut Vec<Difference>,
) {
    let push = |out: &mut Vec<Difference>, x: Option<&Value>, y: Option<&Value>| {
        out.push(Difference {
            section: section.to_string(),
            path: path.to_string(),
            a: x.cloned(),
            b: y.cloned(),
        });
    };
    match (x, y) {
        (Some(Value::Object(mx)), Some(Value::Object(my))) => {
            let mut keys: Vec<&String> = mx.keys().chain(my.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                walk(section, &format!("{path}.{k}"), mx.get(k), my.get(k), out);
            }
        }
        (Some(Value::Array(ax)), Some(Value::Array(ay))) if ax != ay => {
            match item_key(ax, ay) {
                Some(key) => {
                    let named = |items: &[Value]| -> Vec<(String, Value)> {
                        items
                            .iter()
                            .map(|i| (i[key].as_str().unwrap_or("").to_string(), i.clone()))
                            .collect()
                    };
                    let (nx, ny) = (named(ax), named(ay));
                    // Items in A's order, then those only B has, in B's order.
                    let mut names: Vec<&String> = nx.iter().map(|(n, _)| n).collect();
                    for (n, _) in &ny {
                        if !names.contains(&n) {
                            names.push(n);
                        }
                    }
                    for name in names {
                        let find = |items: &[(String, Value)]| {
                            items
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, v)| v.clone())
                        };
                        let (ix, iy) = (find(&nx), find(&ny));
                        let p = format!("{path}[{name}]");
                        // An expectation is one line: its verdict and what it found, together.
                        if ix.is_some() && iy.is_some() && section != "expectations" {
                            walk(section, &p, ix.as_ref(), iy.as_ref(), out);
                        } else if ix != iy {
                            out.push(Difference {
                                section: section.to_string(),
                                path: p,
                                a: ix,
                                b: iy,
                            });
                        }
                    }
                }
                _ if ax.len() == ay.len() && ax.iter().all(is_scalar) => push(out, x, y),
                _ if ax.len() == ay.len() => {
                    for (i, (ix, iy)) in ax.iter().zip(ay).enumerate() {
                        walk(section, &format!("{path}[{i}]"), Some(ix), Some(iy), out);
                    }
                }
                _ => push(out, x, y),
            }
        }
        (Some(x1), Some(y1)) if x1 == y1 => {}
        _ => push(out, x, y),
    }
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// A value as the text output shows it: strings bare, fractions to six decimals, lists by
/// their length when long, an expectation as its verdict and what it found.
fn show(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(Value::Object(m)) if m.contains_key("expect") && m.contains_key("ok") => format!(
            "{} ({})",
            if m["ok"] == Value::Bool(true) {
                "ok"
            } else {
                "FAIL"
            },
            show(m.get("actual"))
        ),
        Some(Value::Number(n)) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(0.0);
            format!("{}", (x * 1e6).round() / 1e6)
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(is_scalar) && items.len() <= 8 => {
            let parts: Vec<String> = items.iter().map(|i| show(Some(i))).collect();
            format!("[{}]", parts.join(", "))
        }
        Some(Value::Array(items)) => format!("{} items", items.len()),
        Some(Value::Object(m)) if m.len() <= 6 && m.values().all(is_scalar) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}: {}", show(Some(v))))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Some(Value::Object(m)) => format!("{} fields", m.len()),
        Some(v) => v.to_string(),
    }
}

/// `b - a` for two numbers, as `(+3)` or `(-1.5)`.
fn delta(a: Option<&Value>, b: Option<&Value>) -> String {
    let (Some(x), Some(y)) = (a.and_then(Value::as_f64), b.and_then(Value::as_f64)) else {
        return String::new();
    };
    let d = y - x;
    if d == 0.0 || !d.is_finite() {
        return String::new();
    }
    let whole =
        a.is_some_and(|v| v.is_i64() || v.is_u64()) && b.is_some_and(|v| v.is_i64() || v.is_u64());
    if whole {
        format!("  ({d:+.0})")
    } else {
        format!("  ({:+})", (d * 1e6).round() / 1e6)
    }
}

/// The text `replsim diff` prints: a header naming both reports, then the differences by
/// section, and a last line with their count.
pub fn render(a_name: &str, a: &Report, b_name: &str, b: &Report, diffs: &[Difference]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "A: {a_name}  ({}, seed {}, trace {})",
        a.scenario, a.seed, a.trace_hash
    );
    let _ = writeln!(
        s,
        "B: {b_name}  ({}, seed {}, trace {})",
        b.scenario, b.seed, b.trace_hash
    );
    if diffs.is_empty() {
        let _ = writeln!(s, "\nno differences");
        return s;
    }
    let width = diffs
        .iter()
        .map(|d| d.path.len() - d.section.len())
        .max()
        .unwrap_or(0)
        .min(60);
    let mut section = "";
    for d in diffs {
        if d.section != section {
            section = &d.section;
            let _ = writeln!(s, "\n{section}");
        }
        let path = d.path[d.section.len()..].trim_start_matches('.');
        let _ = writeln!(
            s,
            "  {path:<width$}  {}  ->  {}{}",
            show(d.a.as_ref()),
            show(d.b.as_ref()),
            delta(d.a.as_ref(), d.b.as_ref())
        );
    }
    let _ = writeln!(
        s,
        "\n{} difference{}",
        diffs.len(),
        if diffs.len() == 1 { "" } else { "s" }
    );
    s
}

/// The JSON `replsim diff --json` prints: both reports' names, whether they are equal, and each
/// difference with its section, path, kind of change and both values (`null` where absent).
pub fn to_json(a_name: &str, b_name: &str, diffs: &[Difference]) -> Value {
    let items: Vec<Value> = diffs
        .iter()
        .map(|d| {
            serde_json::json!({
                "section": d.section,
                "path": d.path,
                "change": d.change(),
                "a": d.a,
                "b": d.b,
            })
        })
        .collect();
    serde_json::json!({
        "a": a_name,
        "b": b_name,
        "equal": diffs.is_empty(),
        "differences": items,
    })
}
