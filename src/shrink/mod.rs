//! Shrinking: from a run that fails an expectation, a smaller scenario that fails the same
//! expectation in the same direction.
//!
//! The search works on the scenario file as a TOML document, not on the parsed [`Scenario`]:
//! a candidate is the document with something removed or made smaller, written out and parsed
//! again by the scenario parser, so every candidate that runs is a valid file, and the file
//! written at the end is the very scenario whose run was seen to fail (its description, which
//! no run reads, is written last, to say what it shows). Candidates the parser or
//! the `[expect]` path check refuses cost no run.
//!
//! What is tried, in rounds until a whole round changes nothing or the budget is spent: a
//! shorter duration; dropping faults, in halves, quarters and so on down to one at a time (a
//! partition with the heals that name it); dropping nodes (with every link, fault, workload and
//! expectation that names them; their replicas follow their master instead); starting later
//! events sooner; shorter partition and pause windows, and heals brought forward; every time
//! halved at once; and lighter load: dropping workloads, lower rates, fewer keys, smaller
//! values, smaller datasets. A candidate is kept when its run fails the target the same way:
//! the same expectation fails on the same side (a count that was too high is still too high,
//! text that differed still reads the same), or, for an unexpected violation, the same checker
//! still finds one.
//!
//! Nothing here reads a clock or a file: the caller runs each candidate (and may refuse to, when
//! its own wall-clock limit is reached) and is told of progress after every run.

mod doc;
mod search;

use serde_json::Value as Json;
use toml::{Table, Value};

use crate::report::{self, Report};
use crate::scenario::{self, ExpectValue, Op, Scenario};
use crate::time::SimDuration;

pub use doc::emit;
use doc::name_workloads;
use search::Shrinker;

/// What the shrink must keep failing.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// An `[expect]` entry, as the report writes it (`master.sync_full == 1`), with its key in
    /// the file, and the side of its passing range the value fell on.
    Expectation {
        text: String,
        key: String,
        side: Side,
        /// What the original run found.
        actual: Json,
    },
    /// A checker's violation that no expectation expects.
    Violation { checker: String, message: String },
}

impl Target {
    /// The target without what the original run found: `master.sync_full == 1`.
    pub fn describe_bare(&self) -> String {
        match self {
            Target::Expectation { text, .. } => text.clone(),
            Target::Violation { checker, .. } => format!("an unexpected {checker} violation"),
        }
    }

    /// What the original run found: the expectation's value, or the violation's message.
    pub fn original_actual(&self) -> Json {
        match self {
            Target::Expectation { actual, .. } => actual.clone(),
            Target::Violation { message, .. } => Json::String(message.clone()),
        }
    }

    /// The target in a line: `master.sync_full == 1 (actual 2)`.
    pub fn describe(&self) -> String {
        match self {
            Target::Expectation { text, actual, .. } => format!("{text} (actual {actual})"),
            Target::Violation { checker, message } => {
                format!("an unexpected {checker} violation ({message})")
            }
        }
    }
}

/// Where a failing value lies against what was expected.
#[derive(Clone, Debug, PartialEq)]
pub enum Side {
    /// Below the passing value or range.
    Below,
    /// Above it.
    Above,
    /// Not a comparison of numbers (text, a boolean, a missing value, or equal where it must
    /// differ): the same value must be found again.
    Exactly(Json),
}

/// The side of `want` that `actual` falls on, for an expectation with `op` that failed.
pub(super) fn side(actual: &Json, op: Op, want: &ExpectValue) -> Side {
    let number = match actual {
        Json::Number(n) => n.as_f64(),
        Json::Array(a) => Some(a.len() as f64),
        _ => None,
    };
    match (number, want) {
        (Some(a), ExpectValue::Range(lo, _)) => {
            if a < *lo {
                Side::Below
            } else {
                Side::Above
            }
        }
        (Some(a), ExpectValue::Number(b)) => match op {
            Op::Lt | Op::Le => Side::Above,
            Op::Gt | Op::Ge => Side::Below,
            Op::Eq if a < *b => Side::Below,
            Op::Eq if a > *b => Side::Above,
            _ => Side::Exactly(actual.clone()),
        },
        _ => Side::Exactly(actual.clone()),
    }
}

/// How big a scenario is, by what shrinking makes smaller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Size {
    pub nodes: usize,
    pub faults: usize,
    pub duration: SimDuration,
    pub workloads: usize,
    /// Operations per second, every workload together.
    pub rate_per_sec: u64,
    /// Bytes of initial data, every node together (materialised values and synthetic RDB).
    pub data_bytes: u64,
}

impl Size {
    pub fn of(sc: &Scenario) -> Size {
        Size {
            nodes: sc.nodes.len(),
            faults: sc.faults.len(),
            duration: sc.duration,
            workloads: sc.workloads.len(),
            rate_per_sec: sc.workloads.iter().map(|w| w.rate_per_sec).sum(),
            data_bytes: sc
                .nodes
                .iter()
                .map(|n| {
                    n.data.keys.saturating_mul(u64::from(n.data.value_size))
                        + n.data.bulk.map_or(0, |b| b.rdb_bytes())
                })
                .sum(),
        }
    }

    /// `nodes 5, faults 9, duration 120s, workloads 2 at 5000/s, data 2.0 MB`.
    pub fn describe(&self) -> String {
        format!(
            "nodes {}, faults {}, duration {}, workloads {} at {}/s, data {}",
            self.nodes,
            self.faults,
            self.duration,
            self.workloads,
            self.rate_per_sec,
            human_bytes(self.data_bytes)
        )
    }
}

pub(super) fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.1} GB", n as f64 / f64::from(1u32 << 30))
    } else if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / f64::from(1u32 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// What the caller asks for.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// Runs at most, the first (which checks that the file fails) included.
    pub max_runs: u64,
    /// Which failure to keep: a failing expectation by its text (`master.sync_full == 1`) or a
    /// part of it, or an unexpected violation by its checker's name (`acked_writes_lost`); the
    /// first failing expectation if `None`, or the first unexpected violation if none fails.
    pub expect: Option<String>,
}

/// Where a shrink stands, after each run.
#[derive(Clone, Debug)]
pub struct Progress {
    pub runs: u64,
    pub max_runs: u64,
    /// Changes kept so far.
    pub kept: usize,
    pub size: Size,
    /// What the last run tried.
    pub tried: String,
}

/// Why a shrink stopped before it found nothing more to remove.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// `max_runs` runs were made.
    Runs,
    /// The caller declined to run a candidate (its wall-clock limit).
    Caller,
}

/// The smallest failing scenario found.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub target: Target,
    /// The file to write: a header comment, then the scenario.
    pub text: String,
    pub original: Size,
    pub smallest: Size,
    /// What the smallest run found for the target.
    pub actual: Json,
    pub runs: u64,
    /// Each change kept, in order.
    pub kept: Vec<String>,
    pub cut: Option<Cut>,
}

/// Why there is nothing to shrink.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ShrinkError {
    #[error("{0}")]
    Scenario(String),
    #[error("the run at seed {seed} fails nothing: every expectation holds and no checker found an unexpected violation, so there is nothing to shrink{stopped}")]
    Passes { seed: u64, stopped: String },
    #[error("no failing expectation or unexpected violation matches \"{wanted}\"; the failing ones are: {failing}")]
    NoSuchExpectation { wanted: String, failing: String },
    #[error("the first run was not made: the time limit was reached before it finished")]
    NotRun,
}

/// Shrinks `text` (the scenario file `file`) for `opts.seed`. `run` runs a candidate and returns
/// its report, or `None` to stop the search (the caller's wall-clock limit); `progress` hears of
/// every run.
pub fn shrink(
    file: &str,
    text: &str,
    opts: &Options,
    run: &mut dyn FnMut(Scenario, u64) -> Option<Report>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Outcome, ShrinkError> {
    let sc = scenario::parse(file, text).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
    report::expect_paths::check(file, &sc).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
    let original = Size::of(&sc);
    let mut doc: Table = toml::from_str(text).map_err(|e| ShrinkError::Scenario(e.to_string()))?;
    name_workloads(&mut doc);
    let report = run(sc.clone(), opts.seed).ok_or(ShrinkError::NotRun)?;
    let target = choose_target(&sc, &report, opts)?;
    // The smaller file holds the one expectation it still fails: the others would only fail
    // for reasons of their own once nodes, faults and load are gone.
    match &target {
        Target::Expectation { key, .. } => {
            let kept = doc
                .get("expect")
                .and_then(Value::as_table)
                .and_then(|t| t.get(key))
                .cloned();
            let mut expect = Table::new();
            if let Some(v) = kept {
                expect.insert(key.clone(), v);
            }
            doc.insert("expect".into(), Value::Table(expect));
        }
        Target::Violation { .. } => {
            doc.remove("expect");
        }
    }
    // The file names its seed, so `replsim run` reproduces it without --seed, and its name and
    // description say what it is. Neither changes a run: seed streams are keyed by node and
    // component names, never by the scenario's.
    if let Ok(seed) = i64::try_from(opts.seed) {
        doc.insert("seed".into(), Value::Integer(seed));
    }
    doc.insert("name".into(), Value::String(format!("{}-shrunk", sc.name)));
    let mut s = Shrinker::new(file, doc, opts, target, original.clone(), run, progress);
    s.actual = s.target_actual(&report);
    s.search();
    let mut description = format!(
        "{} at seed {}, made smaller by replsim shrink: it still fails {} (actual {}; the \
         original run found {}).",
        sc.name,
        opts.seed,
        s.target.describe_bare(),
        s.actual,
        s.target.original_actual()
    );
    if !sc.description.trim().is_empty() {
        description.push_str(&format!(
            "\n\nThe original scenario: {}",
            sc.description.trim()
        ));
    }
    s.doc
        .insert("description".into(), Value::String(description));
    let header = s.header(&sc.name, &original);
    let body = emit(&s.doc);
    Ok(Outcome {
        target: s.target.clone(),
        text: format!("{header}\n{body}"),
        original,
        smallest: s.size.clone(),
        actual: s.actual.clone(),
        runs: s.runs,
        kept: s.kept.clone(),
        cut: s.cut,
    })
}

/// The failure to keep: the expectation `opts.expect` names, else the first failing one, else
/// the first unexpected violation.
fn choose_target(sc: &Scenario, r: &Report, opts: &Options) -> Result<Target, ShrinkError> {
    let failing: Vec<_> = r.expectations.iter().filter(|e| !e.ok).collect();
    let unexpected: Vec<_> = r.violations.iter().filter(|v| !v.expected).collect();
    let violation = |v: &report::Violation| Target::Violation {
        checker: v.checker.clone(),
        message: v.message.clone(),
    };
    let pick = match &opts.expect {
        Some(wanted) => {
            let found = failing
                .iter()
                .find(|e| e.expect == *wanted)
                .or_else(|| failing.iter().find(|e| e.expect.contains(wanted.as_str())));
            if found.is_none() {
                // A checker's name picks its unexpected violation.
                if let Some(v) = unexpected.iter().find(|v| v.checker == *wanted) {
                    return Ok(violation(v));
                }
                let mut names: Vec<String> = failing.iter().map(|e| e.expect.clone()).collect();
                names.extend(unexpected.iter().map(|v| v.checker.clone()));
                return Err(ShrinkError::NoSuchExpectation {
                    wanted: wanted.clone(),
                    failing: if names.is_empty() {
                        "none".into()
                    } else {
                        names.join("; ")
                    },
                });
            }
            found
        }
        None => failing.first(),
    };
    if let Some(e) = pick {
        let spec = sc
            .expect
            .iter()
            .find(|x| x.to_string() == e.expect)
            .expect("every expectation result comes from the scenario");
        return Ok(Target::Expectation {
            text: e.expect.clone(),
            key: spec.written.clone(),
            side: side(&e.actual, spec.op, &spec.value),
            actual: e.actual.clone(),
        });
    }
    if let Some(v) = unexpected.first() {
        return Ok(violation(v));
    }
    Err(ShrinkError::Passes {
        seed: r.seed,
        stopped: if r.stop.is_limit() {
            format!(
                " (it did stop at a limit, {:?}, which is no failure of the scenario's own)",
                r.stop
            )
        } else {
            String::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_side_is_kept() {
        use serde_json::json;
        let n = |x: f64| ExpectValue::Number(x);
        assert_eq!(side(&json!(2), Op::Eq, &n(1.0)), Side::Above);
        assert_eq!(side(&json!(0), Op::Eq, &n(1.0)), Side::Below);
        assert_eq!(side(&json!(5), Op::Le, &n(1.0)), Side::Above);
        assert_eq!(side(&json!(0), Op::Gt, &n(1.0)), Side::Below);
        assert_eq!(side(&json!([1]), Op::Eq, &n(0.0)), Side::Above);
        assert_eq!(
            side(&json!(3), Op::Within, &ExpectValue::Range(5.0, 9.0)),
            Side::Below
        );
        assert_eq!(side(&json!(1), Op::Ne, &n(1.0)), Side::Exactly(json!(1)));
        assert_eq!(
            side(&json!("slave"), Op::Eq, &ExpectValue::Text("master".into())),
            Side::Exactly(json!("slave"))
        );
    }
}
