//! The scenario file as a TOML document: writing it back in a scenario's own order, and the
//! edits the search makes to it (a node, faults or times taken away), each leaving a document
//! that names nothing it lost.

use toml::{Table, Value};

use crate::scenario::units;
use crate::time::SimDuration;

/// Gives every workload the name the parser would give it, so that dropping one does not
/// rename those after it (and the `[expect]` paths that name them).
pub(super) fn name_workloads(doc: &mut Table) {
    if let Some(Value::Array(ws)) = doc.get_mut("workload") {
        for (i, w) in ws.iter_mut().enumerate() {
            if let Some(t) = w.as_table_mut() {
                t.entry("name")
                    .or_insert_with(|| Value::String(format!("workload-{i}")));
            }
        }
    }
}

/// The order a scenario file is written in: the run, the network and defaults, then links,
/// nodes, workloads, faults and expectations.
const KEY_ORDER: &[&str] = &[
    "name",
    "description",
    "seed",
    "duration",
    "sample_interval",
    "network",
    "defaults",
    "link",
    "node",
    "workload",
    "fault",
    "expect",
];

/// The fields of a `[[link]]`, `[[node]]`, `[[workload]]` or `[[fault]]` in the order the
/// bundled scenarios write them; any other field follows in name order.
const FIELD_ORDER: &[&str] = &[
    "name",
    "between",
    "at",
    "kind",
    "node",
    "target",
    "replicaof",
    "warm",
    "rate",
    "start",
    "stop",
    "groups",
    "partition",
    "one_way",
    "duration",
    "persistence",
    "command",
    "keys",
    "value_size",
    "distribution",
    "mix",
    "wait",
    "read_from",
    "timeout",
    "client_rtt",
];

/// A key as TOML writes it: bare when it can be, quoted otherwise (`"master.sync_full"`).
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

/// The `key = value` lines of `t`'s plain values in `order`, the rest in name order; tables
/// among them are written inline unless `subtables` says otherwise.
fn fields(out: &mut String, t: &Table, order: &[&str], subtables: bool) {
    let mut keys: Vec<&String> = t.keys().collect();
    keys.sort_by_key(|k| {
        (
            order.iter().position(|o| o == k).unwrap_or(order.len()),
            k.as_str(),
        )
    });
    for k in keys {
        if subtables && t[k].is_table() {
            continue;
        }
        out.push_str(&format!("{} = {}\n", key(k), t[k]));
    }
}

/// Writes `doc` as a scenario file: top-level keys in [`KEY_ORDER`], the fields of each entry
/// in [`FIELD_ORDER`], a node's `config` and `data` as tables of their own.
pub fn emit(doc: &Table) -> String {
    let mut top: Vec<&String> = doc.keys().collect();
    top.sort_by_key(|k| {
        (
            KEY_ORDER
                .iter()
                .position(|o| o == k)
                .unwrap_or(KEY_ORDER.len()),
            k.as_str(),
        )
    });
    let mut out = String::new();
    for k in top {
        match &doc[k] {
            Value::Table(t) => {
                out.push_str(&format!("\n[{}]\n", key(k)));
                fields(&mut out, t, &[], false);
            }
            Value::Array(items) if items.iter().all(Value::is_table) => {
                // An empty list is left out: an absent key means the same.
                // A node's config and data read best as tables of their own; a workload's
                // `mix` and `wait` inline, as the bundled scenarios write them.
                let subtables = k == "node";
                for item in items.iter().filter_map(Value::as_table) {
                    out.push_str(&format!("\n[[{}]]\n", key(k)));
                    fields(&mut out, item, FIELD_ORDER, subtables);
                    for (sub, v) in item.iter().filter(|_| subtables) {
                        if let Value::Table(st) = v {
                            out.push_str(&format!("[{}.{}]\n", key(k), key(sub)));
                            fields(&mut out, st, &[], false);
                        }
                    }
                }
            }
            v => out.push_str(&format!("{} = {v}\n", key(k))),
        }
    }
    out
}

/// A duration as a scenario writes it, in the largest unit that divides it.
pub(super) fn fmt_duration(d: SimDuration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    for (unit, per) in [
        ("h", 3_600_000_000_000u64),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns > 0 && ns % per == 0 {
            return format!("{}{unit}", ns / per);
        }
    }
    format!("{ns}ns")
}

/// A duration rounded down to a whole second (from 10 s), a millisecond (from 10 ms) or a
/// microsecond, so that shrunk files read well.
pub(super) fn round(d: SimDuration) -> SimDuration {
    let ns = d.as_nanos();
    let per = if ns >= 10_000_000_000 {
        1_000_000_000
    } else if ns >= 10_000_000 {
        1_000_000
    } else {
        1_000
    };
    SimDuration::from_nanos(ns / per * per)
}

pub(super) fn get_duration(t: &Table, key: &str) -> Option<SimDuration> {
    t.get(key)
        .and_then(Value::as_str)
        .and_then(|s| units::duration(s).ok())
}

pub(super) fn set_duration(t: &mut Table, key: &str, d: SimDuration) {
    t.insert(key.into(), Value::String(fmt_duration(d)));
}

pub(super) fn array<'a>(doc: &'a Table, key: &str) -> &'a [Value] {
    doc.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

pub(super) fn array_mut<'a>(doc: &'a mut Table, key: &str) -> Option<&'a mut Vec<Value>> {
    doc.get_mut(key).and_then(Value::as_array_mut)
}

/// The `name` of table `v`, if it has one.
pub(super) fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

/// Whether `text` names `node` as a word (`REPLICAOF replica-1 6379` names `replica-1`).
pub(super) fn mentions(text: &str, node: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || c == ',' || c == '"')
        .any(|w| w == node)
}

/// Everything a fault names: its nodes (`node`, `between`, `groups`) and, for a command, the
/// words of the command.
pub(super) fn fault_names_node(f: &Value, node: &str) -> bool {
    let is = |v: &Value| v.as_str() == Some(node);
    f.get("node").is_some_and(is)
        || f.get("between")
            .and_then(Value::as_array)
            .is_some_and(|b| b.iter().any(is))
        || f.get("command")
            .and_then(Value::as_str)
            .is_some_and(|c| mentions(c, node))
}

/// Removes faults left without purpose: heals of partitions that are gone (by name, or any heal
/// once no partition is left), and partitions with no group left.
pub(super) fn tidy_faults(doc: &mut Table) {
    let Some(faults) = array_mut(doc, "fault") else {
        return;
    };
    faults.retain(|f| {
        f.get("kind").and_then(Value::as_str) != Some("partition")
            || f.get("groups")
                .and_then(Value::as_array)
                .is_some_and(|g| !g.is_empty())
    });
    let partitions: Vec<Option<String>> = faults
        .iter()
        .filter(|f| f.get("kind").and_then(Value::as_str) == Some("partition"))
        .map(|f| name_of(f).map(str::to_string))
        .collect();
    faults.retain(|f| {
        if f.get("kind").and_then(Value::as_str) != Some("heal") {
            return true;
        }
        match f.get("partition").and_then(Value::as_str) {
            Some(p) => partitions.iter().any(|n| n.as_deref() == Some(p)),
            None => !partitions.is_empty(),
        }
    });
    if faults.is_empty() {
        doc.remove("fault");
    }
}

/// Removes expectations whose path starts with `first` (a node) or names `workloads.<first>`.
pub(super) fn drop_expectations_naming(doc: &mut Table, first: &str, workload: bool) {
    if let Some(Value::Table(e)) = doc.get_mut("expect") {
        e.retain(|k, _| {
            let mut parts = k.split('.');
            let head = parts.next();
            if workload {
                !(head == Some("workloads") && parts.next() == Some(first))
            } else {
                head != Some(first)
            }
        });
    }
}

/// `doc` without node `name`: links, workloads and faults that name it go, its replicas follow
/// its own master (or become masters), and it leaves every partition group.
pub(super) fn without_node(doc: &Table, name: &str) -> Option<Table> {
    let mut d = doc.clone();
    let nodes = array_mut(&mut d, "node")?;
    if nodes.len() <= 1 {
        return None;
    }
    let idx = nodes.iter().position(|n| name_of(n) == Some(name))?;
    let gone = nodes.remove(idx);
    let its_master = gone.get("replicaof").cloned();
    for n in nodes.iter_mut() {
        let Some(t) = n.as_table_mut() else { continue };
        if t.get("replicaof").and_then(Value::as_str) == Some(name) {
            match &its_master {
                Some(m) => {
                    t.insert("replicaof".into(), m.clone());
                }
                None => {
                    t.remove("replicaof");
                    t.remove("warm");
                }
            }
        }
    }
    if let Some(links) = array_mut(&mut d, "link") {
        links.retain(|l| {
            !l.get("between")
                .and_then(Value::as_array)
                .is_some_and(|b| b.iter().any(|v| v.as_str() == Some(name)))
        });
    }
    let mut dropped_workloads = Vec::new();
    if let Some(ws) = array_mut(&mut d, "workload") {
        ws.retain(|w| {
            let keep = w.get("target").and_then(Value::as_str) != Some(name);
            if !keep {
                dropped_workloads.extend(name_of(w).map(str::to_string));
            }
            keep
        });
    }
    if let Some(faults) = array_mut(&mut d, "fault") {
        faults.retain(|f| !fault_names_node(f, name));
        for f in faults.iter_mut() {
            if let Some(Value::Array(groups)) = f.get_mut("groups") {
                for g in groups.iter_mut() {
                    if let Some(members) = g.as_array_mut() {
                        members.retain(|m| m.as_str() != Some(name));
                    }
                }
                groups.retain(|g| g.as_array().is_some_and(|m| !m.is_empty()));
            }
        }
    }
    tidy_faults(&mut d);
    drop_expectations_naming(&mut d, name, false);
    for w in dropped_workloads {
        drop_expectations_naming(&mut d, &w, true);
    }
    Some(d)
}

/// `doc` without the faults at `range` (and the heals left with nothing to heal).
pub(super) fn without_faults(doc: &Table, range: std::ops::Range<usize>) -> Option<Table> {
    let mut d = doc.clone();
    let faults = array_mut(&mut d, "fault")?;
    if range.end > faults.len() || range.is_empty() {
        return None;
    }
    faults.drain(range);
    tidy_faults(&mut d);
    Some(d)
}

/// Every time in `doc` moved by `f`: the duration, fault times and windows, workload starts and
/// stops.
pub(super) fn map_times(doc: &Table, f: &dyn Fn(SimDuration) -> SimDuration) -> Table {
    let mut d = doc.clone();
    if let Some(t) = get_duration(&d, "duration") {
        set_duration(&mut d, "duration", f(t).max(SimDuration::from_millis(1)));
    }
    if let Some(faults) = array_mut(&mut d, "fault") {
        for x in faults.iter_mut().filter_map(Value::as_table_mut) {
            if let Some(at) = get_duration(x, "at") {
                set_duration(x, "at", f(at));
            }
        }
    }
    if let Some(ws) = array_mut(&mut d, "workload") {
        for w in ws.iter_mut().filter_map(Value::as_table_mut) {
            for key in ["start", "stop"] {
                if let Some(t) = get_duration(w, key) {
                    set_duration(w, key, f(t));
                }
            }
            // A start at zero is the default, and reads better left out.
            if get_duration(w, "start").is_some_and(|t| t == SimDuration::ZERO) {
                w.remove("start");
            }
        }
    }
    d
}

/// A fault in a few words: `partition at 20s`, `command at 25s`.
pub(super) fn describe_fault(f: &Value) -> String {
    let kind = f.get("kind").and_then(Value::as_str).unwrap_or("fault");
    let at = f.get("at").and_then(Value::as_str).unwrap_or("?");
    let what = f
        .get("command")
        .and_then(Value::as_str)
        .map(|c| format!(" ({c})"))
        .or_else(|| {
            f.get("node")
                .and_then(Value::as_str)
                .map(|n| format!(" of {n}"))
        })
        .unwrap_or_default();
    format!("{kind}{what} at {at}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report;
    use crate::scenario;

    #[test]
    fn a_document_writes_back_in_scenario_order_and_parses_to_the_same_scenario() {
        let text = "name = \"t\"\nduration = \"20s\"\ndescription = \"\"\"two\nlines\"\"\"\n\
                    [[node]]\nname = \"m\"\n[node.data]\nkeys = 10\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
                    [node.config]\nrepl-backlog-size = \"1mb\"\n[[workload]]\ntarget = \"m\"\nrate = 100\nmix = { set = 1, get = 2 }\n\
                    [[fault]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[\"r\"], [\"m\"]]\nduration = \"2s\"\n\
                    [expect]\n\"m.sync_full\" = \">= 1\"\n\"checks.convergence.converged\" = true\n";
        let doc: Table = toml::from_str(text).unwrap();
        let out = emit(&doc);
        let order: Vec<usize> = [
            "name =",
            "description =",
            "duration =",
            "[[node]]",
            "[[workload]]",
            "[[fault]]",
            "[expect]",
        ]
        .iter()
        .map(|k| out.find(k).unwrap_or_else(|| panic!("{k} in\n{out}")))
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
        let (a, b) = (
            scenario::parse("a", text).unwrap(),
            scenario::parse("b", &out).unwrap(),
        );
        assert_eq!(format!("{:?}", a.nodes), format!("{:?}", b.nodes));
        assert_eq!(format!("{:?}", a.workloads), format!("{:?}", b.workloads));
        assert_eq!(a.description, b.description);
        assert_eq!(a.expect.len(), b.expect.len());
        assert_eq!(a.duration, b.duration);
    }

    #[test]
    fn durations_write_in_their_largest_whole_unit() {
        for (ns, text) in [
            (90_000_000_000u64, "90s"),
            (120_000_000_000, "2m"),
            (1_500_000_000, "1500ms"),
            (250_000, "250us"),
            (7, "7ns"),
            (0, "0s"),
        ] {
            assert_eq!(fmt_duration(SimDuration::from_nanos(ns)), text);
        }
    }

    #[test]
    fn dropping_a_node_takes_what_names_it_and_keeps_the_file_valid() {
        let text = "name = \"t\"\nduration = \"20s\"\n\
                    [[node]]\nname = \"m\"\n[[node]]\nname = \"a\"\nreplicaof = \"m\"\n[[node]]\nname = \"b\"\nreplicaof = \"a\"\n\
                    [[link]]\nbetween = [\"m\", \"a\"]\nlatency = \"1ms\"\n\
                    [[workload]]\nname = \"w\"\ntarget = \"a\"\nrate = 10\n\
                    [[fault]]\nat = \"1s\"\nkind = \"partition\"\nname = \"p\"\ngroups = [[\"a\"]]\n\
                    [[fault]]\nat = \"2s\"\nkind = \"heal\"\npartition = \"p\"\n\
                    [[fault]]\nat = \"3s\"\nkind = \"command\"\nnode = \"m\"\ncommand = \"REPLICAOF a 6379\"\n\
                    [[fault]]\nat = \"4s\"\nkind = \"partition\"\ngroups = [[\"a\", \"b\"]]\n\
                    [expect]\n\"a.sync_full\" = 0\n\"b.sync_full\" = 0\n\"workloads.w.writes\" = \"> 0\"\n";
        let doc: Table = toml::from_str(text).unwrap();
        let d = without_node(&doc, "a").unwrap();
        let out = emit(&d);
        let sc = scenario::parse("t", &out).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(sc.nodes.len(), 2);
        assert_eq!(sc.nodes[1].name, "b");
        assert_eq!(sc.nodes[1].replicaof, Some(0), "b follows a's master");
        assert!(sc.links.is_empty() && sc.workloads.is_empty());
        // The partition of a alone goes with its heal; the command naming a goes; the other
        // partition keeps b.
        assert_eq!(sc.faults.len(), 1, "{out}");
        let kept: Vec<&str> = sc.expect.iter().map(|e| e.written.as_str()).collect();
        assert_eq!(kept, ["b.sync_full"]);
        assert!(report::expect_paths::check("t", &sc).is_ok());
    }
}
