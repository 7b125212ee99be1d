//! The search: rounds of passes over the document, each candidate run and kept when it fails
//! the target the same way.

use std::fmt::Write as _;

use serde_json::Value as Json;
use toml::{Table, Value};

use super::doc::{
    array, array_mut, describe_fault, drop_expectations_naming, emit, get_duration, map_times,
    name_of, round, set_duration, tidy_faults, without_faults, without_node,
};
use super::{human_bytes, side, Cut, Progress, Size, Target};
use crate::report::{self, Report};
use crate::scenario::{self, units, Scenario};
use crate::time::SimDuration;

/// What one attempt came to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Tried {
    /// Not a valid scenario; no run was made.
    Invalid,
    /// It ran and did not fail the same way.
    Rejected,
    Kept,
    /// No run could be made: the budget or the caller's limit.
    Spent,
}

/// The search's state: the smallest failing document so far and what it took.
pub(super) struct Shrinker<'a> {
    file: String,
    pub(super) doc: Table,
    seed: u64,
    pub(super) target: Target,
    pub(super) runs: u64,
    max_runs: u64,
    pub(super) kept: Vec<String>,
    pub(super) cut: Option<Cut>,
    pub(super) size: Size,
    /// What the smallest failing run found for the target.
    pub(super) actual: Json,
    run: &'a mut dyn FnMut(Scenario, u64) -> Option<Report>,
    progress: &'a mut dyn FnMut(&Progress),
}

impl<'a> Shrinker<'a> {
    /// A search from `doc`, whose run (the first, already made) fails `target`.
    pub(super) fn new(
        file: &str,
        doc: Table,
        opts: &super::Options,
        target: Target,
        size: Size,
        run: &'a mut dyn FnMut(Scenario, u64) -> Option<Report>,
        progress: &'a mut dyn FnMut(&Progress),
    ) -> Shrinker<'a> {
        let s = Shrinker {
            file: file.to_string(),
            doc,
            seed: opts.seed,
            target,
            runs: 1,
            max_runs: opts.max_runs.max(1),
            kept: Vec::new(),
            cut: None,
            size,
            actual: Json::Null,
            run,
            progress,
        };
        (s.progress)(&Progress {
            runs: 1,
            max_runs: s.max_runs,
            kept: 0,
            size: s.size.clone(),
            tried: "the original file".into(),
        });
        s
    }

    fn spent(&self) -> bool {
        self.cut.is_some()
    }

    /// What `r` found for the target.
    pub(super) fn target_actual(&self, r: &Report) -> Json {
        match &self.target {
            Target::Expectation { text, .. } => r
                .expectations
                .iter()
                .find(|e| e.expect == *text)
                .map_or(Json::Null, |e| e.actual.clone()),
            Target::Violation { checker, .. } => r
                .violations
                .iter()
                .find(|v| v.checker == *checker)
                .map_or(Json::Null, |v| Json::String(v.message.clone())),
        }
    }

    /// Whether `r` fails the target the same way.
    fn fails_same(&self, r: &Report, sc: &Scenario) -> bool {
        if r.stop.is_limit() {
            // A run cut short shows only part of what the scenario asks.
            return false;
        }
        match &self.target {
            Target::Expectation {
                text, side: want, ..
            } => {
                let Some(e) = r.expectations.iter().find(|e| e.expect == *text) else {
                    return false;
                };
                let Some(spec) = sc.expect.iter().find(|x| x.to_string() == *text) else {
                    return false;
                };
                !e.ok && side(&e.actual, spec.op, &spec.value) == *want
            }
            Target::Violation { checker, .. } => r
                .violations
                .iter()
                .any(|v| v.checker == *checker && !v.expected),
        }
    }

    /// Runs `candidate` and keeps it if it fails the target the same way.
    fn attempt(&mut self, candidate: Table, what: String) -> Tried {
        if self.spent() {
            return Tried::Spent;
        }
        if candidate == self.doc {
            return Tried::Invalid;
        }
        let text = emit(&candidate);
        let Ok(sc) = scenario::parse(&self.file, &text) else {
            return Tried::Invalid;
        };
        if report::expect_paths::check(&self.file, &sc).is_err() {
            return Tried::Invalid;
        }
        if let Target::Expectation { text: t, .. } = &self.target {
            if !sc.expect.iter().any(|e| e.to_string() == *t) {
                return Tried::Invalid;
            }
        }
        if self.runs >= self.max_runs {
            self.cut = Some(Cut::Runs);
            return Tried::Spent;
        }
        let Some(r) = (self.run)(sc.clone(), self.seed) else {
            self.cut = Some(Cut::Caller);
            return Tried::Spent;
        };
        self.runs += 1;
        let same = self.fails_same(&r, &sc);
        if same {
            self.doc = candidate;
            self.size = Size::of(&sc);
            self.actual = self.target_actual(&r);
            self.kept.push(what.clone());
        }
        (self.progress)(&Progress {
            runs: self.runs,
            max_runs: self.max_runs,
            kept: self.kept.len(),
            size: self.size.clone(),
            tried: what,
        });
        if same {
            Tried::Kept
        } else {
            Tried::Rejected
        }
    }

    /// Rounds of every pass until one changes nothing or the budget is spent.
    pub(super) fn search(&mut self) {
        loop {
            let before = self.kept.len();
            self.shorten_duration();
            self.drop_faults();
            self.drop_nodes();
            self.shorten_duration();
            self.start_sooner();
            self.shorten_windows();
            self.halve_all_times();
            self.lighten_load();
            if self.kept.len() == before || self.spent() {
                break;
            }
        }
    }

    /// The latest time something happens: a fault, or the end of a fault's window.
    fn last_fault(&self) -> SimDuration {
        array(&self.doc, "fault")
            .iter()
            .filter_map(Value::as_table)
            .filter_map(|f| {
                let at = get_duration(f, "at")?;
                Some(at)
            })
            .max()
            .unwrap_or(SimDuration::ZERO)
    }

    /// The doc with its duration at `d`: workloads that would stop after it stop at it, and
    /// those that would start at or after it go.
    fn with_duration(&self, d: SimDuration) -> Table {
        let mut doc = self.doc.clone();
        set_duration(&mut doc, "duration", d);
        let mut dropped = Vec::new();
        if let Some(ws) = array_mut(&mut doc, "workload") {
            ws.retain(|w| {
                let keep = w
                    .as_table()
                    .and_then(|t| get_duration(t, "start"))
                    .is_none_or(|s| s < d);
                if !keep {
                    dropped.extend(name_of(w).map(str::to_string));
                }
                keep
            });
            for w in ws.iter_mut().filter_map(Value::as_table_mut) {
                if get_duration(w, "stop").is_some_and(|s| s > d) {
                    w.remove("stop");
                }
            }
        }
        for w in dropped {
            drop_expectations_naming(&mut doc, &w, true);
        }
        doc
    }

    /// Bisects the duration down towards the last fault.
    fn shorten_duration(&mut self) {
        let Some(mut hi) = get_duration(&self.doc, "duration") else {
            return;
        };
        let mut lo = self.last_fault().max(SimDuration::from_millis(1));
        for _ in 0..8 {
            if self.spent() || hi.as_nanos() <= lo.as_nanos() + (hi.as_nanos() / 20).max(1_000_000)
            {
                break;
            }
            let mid = round(SimDuration::from_nanos((lo.as_nanos() + hi.as_nanos()) / 2));
            if mid <= lo || mid >= hi {
                break;
            }
            let cand = self.with_duration(mid);
            match self.attempt(cand, format!("duration {hi} -> {mid}")) {
                Tried::Kept => hi = mid,
                Tried::Rejected | Tried::Invalid => lo = mid,
                Tried::Spent => break,
            }
        }
    }

    /// Drops faults in chunks, halving the chunk size down to one.
    fn drop_faults(&mut self) {
        let n = array(&self.doc, "fault").len();
        let mut chunk = n.div_ceil(2).max(1);
        while chunk >= 1 && !self.spent() {
            let mut i = 0;
            while i < array(&self.doc, "fault").len() && !self.spent() {
                let faults = array(&self.doc, "fault");
                let end = (i + chunk).min(faults.len());
                let what = if end - i == 1 {
                    format!("fault {}", describe_fault(&faults[i]))
                } else {
                    format!(
                        "{} faults ({} to {})",
                        end - i,
                        describe_fault(&faults[i]),
                        describe_fault(&faults[end - 1])
                    )
                };
                let mut tried = Tried::Invalid;
                if let Some(c) = without_faults(&self.doc, i..end) {
                    tried = self.attempt(c, format!("drop {what}"));
                }
                if tried == Tried::Invalid && end - i == 1 {
                    // A partition's heals go with it, wherever they are.
                    if let Some(c) = self.without_partition_and_heals(i) {
                        tried = self.attempt(c, format!("drop {what} and its heals"));
                    }
                }
                if tried != Tried::Kept {
                    i += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2).min(chunk - 1).max(1);
        }
    }

    /// Fault `i`, a partition, removed with the heals that name it, or with the first plain
    /// heal after it.
    fn without_partition_and_heals(&self, i: usize) -> Option<Table> {
        let faults = array(&self.doc, "fault");
        let f = faults.get(i)?;
        if f.get("kind").and_then(Value::as_str) != Some("partition") {
            return None;
        }
        let name = name_of(f).map(str::to_string);
        let at = f.as_table().and_then(|t| get_duration(t, "at"))?;
        let heal_of = |h: &Value| {
            h.get("kind").and_then(Value::as_str) == Some("heal")
                && match (&name, h.get("partition").and_then(Value::as_str)) {
                    (Some(n), Some(p)) => n == p,
                    (_, None) => h
                        .as_table()
                        .and_then(|t| get_duration(t, "at"))
                        .is_some_and(|t| t >= at),
                    _ => false,
                }
        };
        let mut d = self.doc.clone();
        let list = array_mut(&mut d, "fault")?;
        let mut k = 0;
        let mut plain_heal_taken = false;
        list.retain(|x| {
            let this = k;
            k += 1;
            if this == i {
                return false;
            }
            if heal_of(x) {
                if x.get("partition").is_none() {
                    if plain_heal_taken || this < i {
                        return true;
                    }
                    plain_heal_taken = true;
                }
                return false;
            }
            true
        });
        tidy_faults(&mut d);
        Some(d)
    }

    /// Drops nodes, last first (replicas usually come after their masters).
    fn drop_nodes(&mut self) {
        let names: Vec<String> = array(&self.doc, "node")
            .iter()
            .filter_map(name_of)
            .map(str::to_string)
            .collect();
        // A node the target's path starts with is never dropped: its expectation would go with
        // it, and a file that no longer asks the question shows nothing.
        let named = match &self.target {
            Target::Expectation { key, .. } => key.split('.').next().map(str::to_string),
            Target::Violation { .. } => None,
        };
        for name in names.iter().rev() {
            if self.spent() {
                return;
            }
            if named.as_deref() == Some(name.as_str()) {
                continue;
            }
            if let Some(c) = without_node(&self.doc, name) {
                self.attempt(c, format!("drop node {name}"));
            }
        }
    }

    /// Moves every event earlier by as much as the failure allows (bisected): the quiet start
    /// before the first fault and the first workload is cut.
    fn start_sooner(&mut self) {
        let first_fault = array(&self.doc, "fault")
            .iter()
            .filter_map(Value::as_table)
            .filter_map(|f| get_duration(f, "at"))
            .min();
        let Some(first) = first_fault else { return };
        let first_load = array(&self.doc, "workload")
            .iter()
            .filter_map(Value::as_table)
            .map(|w| get_duration(w, "start").unwrap_or(SimDuration::ZERO))
            .min()
            .unwrap_or(first);
        let limit = first.min(first_load);
        let (lo, mut hi) = (SimDuration::ZERO, limit);
        for _ in 0..5 {
            if self.spent() || hi.as_nanos() < lo.as_nanos() + 1_000_000_000 {
                break;
            }
            let shift = if lo == SimDuration::ZERO && hi == limit {
                round(hi)
            } else {
                round(SimDuration::from_nanos((lo.as_nanos() + hi.as_nanos()) / 2))
            };
            if shift <= lo {
                break;
            }
            let cand = map_times(&self.doc, &|t| {
                SimDuration::from_nanos(t.as_nanos().saturating_sub(shift.as_nanos()))
            });
            match self.attempt(cand, format!("start everything {shift} sooner")) {
                Tried::Kept => return,
                Tried::Rejected | Tried::Invalid => hi = shift,
                Tried::Spent => return,
            }
        }
    }

    /// Halves partition and pause windows, and brings each heal halfway closer to the partition
    /// it heals, while the failure stays.
    fn shorten_windows(&mut self) {
        let n = array(&self.doc, "fault").len();
        for i in 0..n {
            for _ in 0..4 {
                if self.spent() {
                    return;
                }
                let faults = array(&self.doc, "fault");
                let Some(f) = faults.get(i).and_then(Value::as_table) else {
                    break;
                };
                let kind = f.get("kind").and_then(Value::as_str).unwrap_or("");
                let cand = if let Some(d) = get_duration(f, "duration") {
                    let half = round(SimDuration::from_nanos(d.as_nanos() / 2));
                    if half.as_nanos() == 0 || half == d {
                        break;
                    }
                    let mut c = self.doc.clone();
                    let x = array_mut(&mut c, "fault")
                        .and_then(|a| a.get_mut(i))
                        .and_then(Value::as_table_mut)
                        .expect("the fault is there");
                    set_duration(x, "duration", half);
                    (c, format!("{kind} window {d} -> {half}"))
                } else if kind == "heal" {
                    let Some(at) = get_duration(f, "at") else {
                        break;
                    };
                    let Some(start) = self.healed_partition_start(i) else {
                        break;
                    };
                    if at <= start {
                        break;
                    }
                    let new_at = round(
                        start + SimDuration::from_nanos((at.as_nanos() - start.as_nanos()) / 2),
                    );
                    if new_at <= start || new_at >= at {
                        break;
                    }
                    let mut c = self.doc.clone();
                    let x = array_mut(&mut c, "fault")
                        .and_then(|a| a.get_mut(i))
                        .and_then(Value::as_table_mut)
                        .expect("the fault is there");
                    set_duration(x, "at", new_at);
                    (c, format!("heal at {at} -> {new_at}"))
                } else {
                    break;
                };
                if self.attempt(cand.0, cand.1) != Tried::Kept {
                    break;
                }
            }
        }
    }

    /// When the partition heal `i` ends began: the one it names, or the latest before it.
    fn healed_partition_start(&self, i: usize) -> Option<SimDuration> {
        let faults = array(&self.doc, "fault");
        let heal = faults.get(i)?.as_table()?;
        let at = get_duration(heal, "at")?;
        let named = heal.get("partition").and_then(Value::as_str);
        faults
            .iter()
            .filter_map(Value::as_table)
            .filter(|f| f.get("kind").and_then(Value::as_str) == Some("partition"))
            .filter(|f| named.is_none_or(|n| f.get("name").and_then(Value::as_str) == Some(n)))
            .filter_map(|f| get_duration(f, "at"))
            .filter(|t| *t <= at)
            .max()
    }

    /// Every time at once, halved: the duration, faults, windows and workload spans.
    fn halve_all_times(&mut self) {
        let half = |t: SimDuration| round(SimDuration::from_nanos(t.as_nanos() / 2));
        let mut cand = map_times(&self.doc, &half);
        if let Some(faults) = array_mut(&mut cand, "fault") {
            for x in faults.iter_mut().filter_map(Value::as_table_mut) {
                if let Some(d) = get_duration(x, "duration") {
                    set_duration(x, "duration", half(d).max(SimDuration::from_millis(1)));
                }
            }
        }
        self.attempt(cand, "every time halved".into());
    }

    /// Fewer workloads, lower rates, fewer keys, smaller values, smaller initial datasets.
    fn lighten_load(&mut self) {
        let names: Vec<String> = array(&self.doc, "workload")
            .iter()
            .filter_map(name_of)
            .map(str::to_string)
            .collect();
        for name in &names {
            let mut c = self.doc.clone();
            if let Some(ws) = array_mut(&mut c, "workload") {
                ws.retain(|w| name_of(w) != Some(name));
                if ws.is_empty() {
                    c.remove("workload");
                }
            }
            drop_expectations_naming(&mut c, name, true);
            self.attempt(c, format!("drop workload {name}"));
        }
        for (section, fields) in [
            ("workload", &["rate", "keys", "value_size"][..]),
            ("node", &[][..]),
        ] {
            let n = array(&self.doc, section).len();
            for i in 0..n {
                for field in fields {
                    self.halve_field(section, i, None, field);
                }
                if section == "node" {
                    self.shrink_data(i);
                }
            }
        }
    }

    /// Halves an integer (or size) field while the failure stays, at most four times.
    fn halve_field(&mut self, section: &str, i: usize, sub: Option<&str>, field: &str) {
        for _ in 0..4 {
            if self.spent() {
                return;
            }
            let mut c = self.doc.clone();
            let Some(t) = array_mut(&mut c, section)
                .and_then(|a| a.get_mut(i))
                .and_then(Value::as_table_mut)
            else {
                return;
            };
            let owner = t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let t = match sub {
                Some(s) => match t.get_mut(s).and_then(Value::as_table_mut) {
                    Some(t) => t,
                    None => return,
                },
                None => t,
            };
            let now = match t.get(field) {
                Some(Value::Integer(n)) => u64::try_from(*n).ok(),
                Some(Value::String(s)) => units::size(s).ok(),
                _ => None,
            };
            let Some(now) = now.filter(|n| *n > 1) else {
                return;
            };
            let half = now / 2;
            t.insert(
                field.into(),
                Value::Integer(i64::try_from(half).unwrap_or(i64::MAX)),
            );
            let label = match sub {
                Some(s) => format!("{owner} {s}.{field} {now} -> {half}"),
                None => format!("{owner} {field} {now} -> {half}"),
            };
            if self.attempt(c, label) != Tried::Kept {
                return;
            }
        }
    }

    /// Node `i`'s initial dataset: gone, or else halved.
    fn shrink_data(&mut self, i: usize) {
        let Some(node) = array(&self.doc, "node").get(i) else {
            return;
        };
        if node.get("data").is_none() {
            return;
        }
        let owner = name_of(node).unwrap_or("").to_string();
        let mut c = self.doc.clone();
        if let Some(t) = array_mut(&mut c, "node")
            .and_then(|a| a.get_mut(i))
            .and_then(Value::as_table_mut)
        {
            t.remove("data");
        }
        if self.attempt(c, format!("{owner}: no initial data")) == Tried::Kept {
            return;
        }
        for field in ["keys", "bulk_keys", "bulk_size"] {
            self.halve_field("node", i, Some("data"), field);
        }
    }

    /// The comment the written file starts with: what it still fails, what was removed, how it
    /// was made.
    pub(super) fn header(&self, name: &str, original: &Size) -> String {
        let mut h = String::new();
        let _ = writeln!(
            h,
            "# A smaller {name}, from `replsim shrink {} --seed {}` ({} runs).",
            self.file, self.seed, self.runs
        );
        match &self.target {
            Target::Expectation { text, actual, .. } => {
                let _ = writeln!(
                    h,
                    "# It still fails the same expectation the same way: {text} (actual {}; the original run found {actual}).",
                    self.actual
                );
            }
            Target::Violation { checker, message } => {
                let _ = writeln!(
                    h,
                    "# It still shows an unexpected {checker} violation: {} (the original run: {message}).",
                    self.actual.as_str().unwrap_or("")
                );
            }
        }
        let s = &self.size;
        let mut smaller = Vec::new();
        let pairs = [
            ("nodes", original.nodes.to_string(), s.nodes.to_string()),
            ("faults", original.faults.to_string(), s.faults.to_string()),
            (
                "duration",
                original.duration.to_string(),
                s.duration.to_string(),
            ),
            (
                "workloads",
                original.workloads.to_string(),
                s.workloads.to_string(),
            ),
            (
                "total rate",
                format!("{}/s", original.rate_per_sec),
                format!("{}/s", s.rate_per_sec),
            ),
            (
                "initial data",
                human_bytes(original.data_bytes),
                human_bytes(s.data_bytes),
            ),
        ];
        for (what, a, b) in pairs {
            if a != b {
                smaller.push(format!("{what} {a} -> {b}"));
            }
        }
        let _ = writeln!(
            h,
            "# Smaller: {}.",
            if smaller.is_empty() {
                "nothing could be removed".to_string()
            } else {
                smaller.join(", ")
            }
        );
        if !self.kept.is_empty() {
            let _ = writeln!(h, "# Removed or reduced, in order:");
            for k in &self.kept {
                let _ = writeln!(h, "#   - {k}");
            }
        }
        match self.cut {
            Some(Cut::Runs) => {
                let _ = writeln!(
                    h,
                    "# The search stopped at its limit of {} runs; more may be removable.",
                    self.max_runs
                );
            }
            Some(Cut::Caller) => {
                let _ = writeln!(
                    h,
                    "# The search stopped at its time limit; more may be removable."
                );
            }
            None => {}
        }
        h
    }
}
