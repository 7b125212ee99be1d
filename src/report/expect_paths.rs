//! `[expect]` paths checked against the report before a run, so that a misspelt node, workload or
//! field is an error at its file:line:column instead of an `actual null` after a long run.
//!
//! The valid paths are not a list kept by hand: they are the shape of a real report, built for
//! the scenario's own nodes and workloads from a run of zero events (with the initial datasets
//! left out, which cost time and change no field). Every struct of the report serialises every
//! field, so that report holds every field a finished run's report holds. What it cannot show
//! are the keys of maps that fill as a run goes: a node's milestones (by the names of
//! [`Milestone`]), its INFO fields (which INFO shows depends on the node's state), and error
//! counts by kind (any error Redis may return). Paths into the first two are checked against
//! their names; an error kind is taken as written.

use serde_json::Value;

use super::NODE_SECTIONS;
use crate::scenario::suggest::did_you_mean;
use crate::scenario::{DataSpec, ExpectValue, Expectation, Scenario, ScenarioError};
use crate::sim::observe::Milestone;

/// Every field INFO replication may show, in the order Redis prints them; which ones a node
/// shows depends on its role and state (a transfer in progress, a link down, min-replicas set).
/// `slave<N>` lines, one per attached replica, are matched apart.
pub const INFO_FIELDS: &[&str] = &[
    "role",
    "master_host",
    "master_port",
    "master_link_status",
    "master_last_io_seconds_ago",
    "master_sync_in_progress",
    "slave_read_repl_offset",
    "slave_repl_offset",
    "master_sync_total_bytes",
    "master_sync_read_bytes",
    "master_sync_left_bytes",
    "master_sync_perc",
    "master_sync_last_io_seconds_ago",
    "master_link_down_since_seconds",
    "slave_priority",
    "slave_read_only",
    "replica_announced",
    "connected_slaves",
    "min_slaves_good_slaves",
    "master_failover_state",
    "master_replid",
    "master_replid2",
    "master_repl_offset",
    "second_repl_offset",
    "repl_backlog_active",
    "repl_backlog_size",
    "repl_backlog_first_byte_offset",
    "repl_backlog_histlen",
];

/// Every milestone's name, as a node's `milestones` counts them.
pub fn milestone_names() -> Vec<&'static str> {
    // The match lists every variant without a wildcard, so a milestone added to `Milestone`
    // does not compile until it is added to the list below.
    let all = |m: &Milestone| match m {
        Milestone::FullSyncStarted
        | Milestone::FullSyncFinished
        | Milestone::FullSyncAborted
        | Milestone::PartialSync
        | Milestone::LinkDown
        | Milestone::ReplicaDropped { .. }
        | Milestone::BecameMaster
        | Milestone::BecameReplica
        | Milestone::Crashed
        | Milestone::ShutDown
        | Milestone::Restarted => m.name(),
    };
    [
        Milestone::FullSyncStarted,
        Milestone::FullSyncFinished,
        Milestone::FullSyncAborted,
        Milestone::PartialSync,
        Milestone::LinkDown,
        Milestone::ReplicaDropped {
            replica: String::new(),
            reason: String::new(),
        },
        Milestone::BecameMaster,
        Milestone::BecameReplica,
        Milestone::Crashed,
        Milestone::ShutDown,
        Milestone::Restarted,
    ]
    .iter()
    .map(all)
    .collect()
}

/// The report's shape for `sc`: the JSON of a report of zero events over the scenario's nodes
/// and workloads.
pub fn shape(sc: &Scenario) -> Value {
    let mut bare = sc.clone();
    for n in &mut bare.nodes {
        n.data = DataSpec::default();
    }
    bare.faults.clear();
    bare.expect.clear();
    let out = crate::sim::run(bare, sc.seed, 0, None, &mut |_, _| {});
    let report = super::build(&out);
    // The datasets are gone with the run; freeing them value by value is not worth waiting for.
    std::mem::forget(out);
    serde_json::to_value(&report).expect("plain data")
}

/// Checks every `[expect]` path of `sc` against the report's shape; `file` names the scenario
/// in errors.
pub fn check(file: &str, sc: &Scenario) -> Result<(), ScenarioError> {
    if sc.expect.is_empty() {
        return Ok(());
    }
    let shape = shape(sc);
    for e in &sc.expect {
        check_one(&shape, e).map_err(|message| ScenarioError {
            file: file.to_string(),
            line: e.line,
            column: e.column,
            message: format!("[expect] \"{}\": {message}", e.written),
        })?;
    }
    Ok(())
}

/// What a path reaches in the shape.
enum Reached<'a> {
    /// A value the shape holds.
    Value(&'a Value),
    /// A key of a map that fills during the run.
    Filled { counts: bool },
}

/// A map that fills during the run, and the keys it may come to hold.
struct FilledMap {
    names: Vec<&'static str>,
    /// It also holds `slave0`, `slave1`, … (INFO's line per attached replica).
    slave_lines: bool,
    /// Its values are counts (milestones), not INFO's numbers and text.
    counts: bool,
}

impl FilledMap {
    fn holds(&self, key: &str) -> bool {
        self.names.contains(&key)
            || self.slave_lines
                && key
                    .strip_prefix("slave")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Checks one expectation: its path reaches a value, and that value can be compared with what
/// the expectation asks.
fn check_one(shape: &Value, e: &Expectation) -> Result<(), String> {
    let reached = match walk(shape, &e.path) {
        Ok(r) => r,
        // `<node>.<field>` also finds the field in the node's sections, as `lookup` does.
        Err(direct) if e.path.len() == 3 && e.path[0] == "nodes" => {
            node_field(shape, &e.path[1], &e.path[2]).map_err(|e| e.unwrap_or(direct))?
        }
        Err(direct) => return Err(direct),
    };
    let v = match reached {
        Reached::Value(v) => v,
        Reached::Filled { counts: true } => return comparable_with_number(e),
        Reached::Filled { counts: false } => return Ok(()),
    };
    match v {
        Value::Object(m) if m.is_empty() => Err(format!(
            "this holds counts by name, filled during the run; name one: \"{}.<name>\"",
            e.written
        )),
        Value::Object(m) => Err(format!(
            "this is a group of fields, not a value; name one of them: {}",
            m.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
        )),
        Value::Bool(_) if !matches!(e.value, ExpectValue::Bool(_)) => {
            Err("this is true or false; compare it with true or false".into())
        }
        Value::Number(_) => comparable_with_number(e),
        Value::Array(_) if !matches!(e.value, ExpectValue::Number(_) | ExpectValue::Range(..)) => {
            Err("this is a list; an expectation compares its length with a number".into())
        }
        Value::String(s) if !matches!(e.value, ExpectValue::Text(_)) => Err(format!(
            "this is text (such as \"{s}\"); compare it with text, e.g. \"== {s}\""
        )),
        _ => Ok(()),
    }
}

fn comparable_with_number(e: &Expectation) -> Result<(), String> {
    match e.value {
        ExpectValue::Number(_) | ExpectValue::Range(..) => Ok(()),
        _ => Err("this is a number; compare it with a number or a range such as \"1..5\"".into()),
    }
}

/// Follows `path` through the shape.
fn walk<'a>(shape: &'a Value, path: &[String]) -> Result<Reached<'a>, String> {
    let mut cur = shape;
    for (depth, key) in path.iter().enumerate() {
        let here = if depth == 0 {
            "the report".to_string()
        } else {
            path[..depth].join(".")
        };
        match cur {
            Value::Object(m) => {
                if let Some(next) = m.get(key) {
                    cur = next;
                    continue;
                }
                let last = depth + 1 == path.len();
                return match filled_map(path, depth) {
                    Some(f) if f.holds(key) && last => Ok(Reached::Filled { counts: f.counts }),
                    Some(f) => Err(missing(key, &here, &f.names)),
                    // A map of the run's own keys (errors by kind): any key may appear.
                    None if m.is_empty() && last => Ok(Reached::Filled { counts: true }),
                    None => Err(missing(
                        key,
                        &here,
                        &m.keys().map(String::as_str).collect::<Vec<_>>(),
                    )),
                };
            }
            Value::Array(_) => {
                return Err(format!(
                    "{here} is a list, whose items have no names; an expectation compares its length: \"{here}\" = 2"
                ))
            }
            _ => return Err(format!("{here} is a single value; it has no field \"{key}\"")),
        }
    }
    Ok(Reached::Value(cur))
}

/// The map at `path[..depth]` if it is one that fills during the run with known names: a
/// node's milestones and INFO fields.
fn filled_map(path: &[String], depth: usize) -> Option<FilledMap> {
    if depth != 3 || path[0] != "nodes" {
        return None;
    }
    match path[2].as_str() {
        "milestones" => Some(FilledMap {
            names: milestone_names(),
            slave_lines: false,
            counts: true,
        }),
        "info" => Some(FilledMap {
            names: INFO_FIELDS.to_vec(),
            slave_lines: true,
            counts: false,
        }),
        _ => None,
    }
}

/// `nodes.<node>.<field>` found in one of the node's sections. `Err(None)` when the node itself
/// is unknown (the direct path's error says so); otherwise the error names the nearest field of
/// all a node has.
fn node_field<'a>(
    shape: &'a Value,
    node: &str,
    field: &str,
) -> Result<Reached<'a>, Option<String>> {
    let n = shape.get("nodes").and_then(|n| n.get(node)).ok_or(None)?;
    let mut names: Vec<&str> = Vec::new();
    for section in NODE_SECTIONS {
        let path = ["nodes", node, section, field].map(String::from);
        if let Ok(r) = walk(shape, &path) {
            return Ok(r);
        }
        if let Some(Value::Object(m)) = n.get(section) {
            names.extend(m.keys().map(String::as_str));
        }
    }
    let direct = n
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str));
    let all: Vec<&str> = direct
        .chain(INFO_FIELDS.iter().copied())
        .chain(names)
        .chain(milestone_names())
        .collect();
    Err(Some(format!(
        "node \"{node}\" has no field \"{field}\"{}; a node's fields are its own ({}), INFO replication's, its stats ({}), dataset ({}) and milestone counts ({})",
        did_you_mean(field, all.iter().copied()),
        keys_of(n, None),
        keys_of(n, Some("stats")),
        keys_of(n, Some("dataset")),
        milestone_names().join(", ")
    )))
}

/// The keys of `n`, or of its object `section`.
fn keys_of(n: &Value, section: Option<&str>) -> String {
    let v = match section {
        Some(s) => n.get(s),
        None => Some(n),
    };
    v.and_then(Value::as_object)
        .map(|m| m.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// Names listed in full after an unknown one when there are at most this many.
const LISTED_MAX: usize = 16;

/// "Y has no X", with the nearest name and, for a short list, all of them.
fn missing(key: &str, here: &str, names: &[&str]) -> String {
    let mut m = format!(
        "{here} has no \"{key}\"{}",
        did_you_mean(key, names.iter().copied())
    );
    if names.len() <= LISTED_MAX {
        m.push_str(&format!("; it has: {}", names.join(", ")));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A master with a replica, a workload and room for one expectation, which sits at line 11.
    const BASE: &str = "name = \"t\"\nduration = \"10s\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\n\
                        replicaof = \"m\"\n[[workload]]\nname = \"app\"\ntarget = \"m\"\nrate = 10\n[expect]\n";

    /// The error for `BASE` with `line` as its one expectation, or `None` if the path is valid.
    fn error_of(line: &str) -> Option<String> {
        let sc = crate::scenario::parse("t.toml", &format!("{BASE}{line}\n"))
            .unwrap_or_else(|e| panic!("{line} parses: {e}"));
        check("t.toml", &sc).err().map(|e| e.to_string())
    }

    #[test]
    fn valid_paths_pass_whatever_fills_during_the_run() {
        let valid = [
            "\"checks.convergence.converged\" = true",
            "\"m.sync_full\" = 1",
            "\"nodes.m.stats.sync_full\" = \"<= 1\"",
            "\"r.master_link_status\" = \"up\"",
            "\"r.role\" = \"slave\"",
            "\"m.keys\" = \"> 0\"",
            "\"m.milestones.link_down\" = 0",
            "\"r.link_down\" = 1",
            "\"m.connected_slaves\" = 1",
            "\"m.slave0\" = \"!= x\"",
            // INFO shows it only while a transfer runs, and m is a master at the start.
            "\"m.master_sync_perc\" = \"> 10\"",
            "\"m.first_sync_s\" = \"1..2\"",
            "\"workloads.app.writes_ok\" = \"> 0\"",
            "\"workloads.app.errors.NOREPLICAS\" = 0",
            "\"checks.availability.errors.NOREPLICAS\" = \"> 1\"",
            "\"checks.resync_loop.looping\" = 0",
            "\"stop\" = \"time_limit\"",
            "\"events\" = \"> 0\"",
            "\"seed\" = 1",
            "\"scenario\" = \"t\"",
            "\"sim_time_us\" = 10000000",
            "\"trace_hash\" = \"!= x\"",
        ];
        for line in valid {
            assert_eq!(error_of(line), None, "{line}");
        }
    }

    #[test]
    fn a_path_the_report_lacks_is_an_error_at_its_key_with_the_nearest_name() {
        // (expectation, fragment of the error after "t.toml:13:1: [expect] \"<key>\": ")
        let cases = [
            (
                "\"m.sync_ful\" = 1",
                "node \"m\" has no field \"sync_ful\" (did you mean \"sync_full\"?)",
            ),
            (
                "\"workloads.ap.writes\" = 1",
                "workloads has no \"ap\" (did you mean \"app\"?); it has: app",
            ),
            (
                "\"workloads.app.writes_okay\" = 1",
                "workloads.app has no \"writes_okay\" (did you mean \"writes_ok\"?)",
            ),
            (
                "\"checks.convergance.converged\" = true",
                "checks has no \"convergance\" (did you mean \"convergence\"?)",
            ),
            (
                "\"m.milestones.link_dwn\" = 1",
                "nodes.m.milestones has no \"link_dwn\" (did you mean \"link_down\"?)",
            ),
            (
                "\"m.info.master_link_stat\" = \"up\"",
                "(did you mean \"master_link_status\"?)",
            ),
            (
                "\"nodes.ghost.sync_full\" = 1",
                "nodes has no \"ghost\"; it has: m, r",
            ),
            (
                "\"checks.convergence.converged\" = 1",
                "this is true or false",
            ),
            ("\"m.role\" = 1", "this is text (such as \"master\")"),
            ("\"m.sync_full\" = \"up\"", "this is a number"),
            ("\"m.milestones.link_down\" = \"up\"", "this is a number"),
            (
                "\"checks.convergence\" = true",
                "this is a group of fields, not a value; name one of them: converged",
            ),
            ("\"m.stats\" = 1", "name one of them: "),
            (
                "\"checks.resync_loop.looping.0\" = 1",
                "checks.resync_loop.looping is a list",
            ),
            ("\"checks.resync_loop.looping\" = true", "this is a list"),
            (
                "\"events.count\" = 1",
                "events is a single value; it has no field \"count\"",
            ),
            (
                "\"checks.availability.errors\" = 0",
                "this holds counts by name",
            ),
        ];
        let mut wrong = Vec::new();
        for (line, fragment) in cases {
            let key = line.split(" = ").next().unwrap();
            let want = format!("t.toml:13:1: [expect] {key}: ");
            match error_of(line) {
                Some(e) if e.starts_with(&want) && e.contains(fragment) => {}
                got => wrong.push(format!(
                    "{line}\n   want {want}…{fragment}\n   got  {got:?}"
                )),
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn info_fields_are_exactly_what_info_replication_shows() {
        // A master with min-replicas set and a replica attached, a replica in the middle of a
        // slow transfer, and a replica cut off from its master: between them, every INFO
        // replication field.
        let sc = crate::scenario::parse(
            "t.toml",
            "name = \"t\"\nduration = \"8s\"\n[defaults]\nrepl-diskless-sync = false\n\
             [[node]]\nname = \"m\"\nconfig = { min-replicas-to-write = 1 }\n[node.data]\nbulk_size = \"50mb\"\n\
             [[node]]\nname = \"fast\"\nreplicaof = \"m\"\n[[node]]\nname = \"slow\"\nreplicaof = \"m\"\n\
             [[node]]\nname = \"cut\"\nreplicaof = \"m\"\n\
             [[link]]\nbetween = [\"m\", \"slow\"]\nbandwidth = \"10mbit\"\n\
             [[fault]]\nat = \"0s\"\nkind = \"partition\"\ngroups = [[\"cut\"]]\n",
        )
        .unwrap();
        let out = crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {});
        let report = crate::report::build(&out);
        let mut seen: Vec<String> = report
            .nodes
            .values()
            .filter_map(|n| n.live())
            .flat_map(|n| n.info.keys())
            .map(|k| {
                if info_names_slave(k) {
                    "slave<N>".into()
                } else {
                    k.clone()
                }
            })
            .collect();
        seen.sort();
        seen.dedup();
        let mut listed: Vec<String> = INFO_FIELDS.iter().map(|s| s.to_string()).collect();
        listed.push("slave<N>".into());
        listed.sort();
        assert_eq!(seen, listed);
    }

    fn info_names_slave(k: &str) -> bool {
        FilledMap {
            names: Vec::new(),
            slave_lines: true,
            counts: false,
        }
        .holds(k)
    }
}
