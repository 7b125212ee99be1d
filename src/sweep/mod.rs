//! Sweeps: one scenario run at many seeds (and values of one directive), aggregated into one
//! report. Pure functions from per-run reports to the sweep report, its text and its charts; the
//! CLI owns the threads that run the seeds, the progress bar and the files.
//!
//! Each run is the same whatever runs beside it, and the report is built from the runs in
//! (case, seed) order, never in the order they finished, so it does not depend on `--jobs`. A
//! shard holds the per-run records of its slice of the seeds, and merging the shards rebuilds
//! the tallies and distributions from the records with the very code an unsharded sweep uses:
//! the merged report is the unsharded one, byte for byte.

pub mod advise;
pub mod chart;
pub mod html;
mod model;
pub mod text;
pub mod vary;

use std::collections::BTreeMap;

pub use model::{
    Case, Distribution, ExpectDef, ExpectTally, FigureDef, Num, PanicRun, Repro, RunRecord,
    SeedRange, ShardReport, StopTally, SweepReport, VaryReport, ViolationTally, FORMAT,
};
pub use vary::Vary;

use crate::report::Report;
use crate::sim::Stop;

/// What a sweep runs: the scenario at every seed of `seeds` (or of the shard's slice), once per
/// value of `vary`.
#[derive(Clone, Debug)]
pub struct Plan {
    pub scenario: String,
    pub file: String,
    pub file_digest: u64,
    pub set: Vec<String>,
    pub vary: Option<Vary>,
    pub seeds: SeedRange,
    pub shard: Option<(u64, u64)>,
    pub expectations: Vec<ExpectDef>,
    pub figures: Vec<FigureDef>,
}

/// One run of a plan: the value of the varied directive (`case`) and the seed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub case: usize,
    pub seed: u64,
}

/// `I/N`: the I-th (from 1) of N shards.
pub fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("\"{text}\" is not a shard such as 1/4 (the first of four)");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i == 0 || i > n {
        return Err(format!(
            "{text}: the shard index runs from 1 to the number of shards"
        ));
    }
    Ok((i, n))
}

/// The seeds of shard `index` (from 1) of `count`: contiguous slices, the first ones a seed
/// longer when the seeds do not divide evenly, together every seed exactly once.
pub fn shard_seeds(seeds: SeedRange, index: u64, count: u64) -> SeedRange {
    assert!(1 <= index && index <= count, "shard {index}/{count}");
    let (len, k) = (u128::from(seeds.len()), u128::from(index - 1));
    let (n, start) = (u128::from(count), u128::from(seeds.start));
    // Slice k starts at floor(k * len / n); in u128 the product cannot overflow.
    let from = |k: u128| (start + k * len / n) as u64;
    SeedRange {
        start: from(k),
        end: from(k + 1),
    }
}

impl Plan {
    /// The seeds this plan runs: its shard's slice, or all of them.
    pub fn slice(&self) -> SeedRange {
        match self.shard {
            Some((i, n)) => shard_seeds(self.seeds, i, n),
            None => self.seeds,
        }
    }

    pub fn case_count(&self) -> usize {
        self.vary.as_ref().map_or(1, |v| v.values.len())
    }

    /// Every run, by case and then by seed: the order the report lists them in.
    pub fn jobs(&self) -> Vec<Job> {
        let slice = self.slice();
        (0..self.case_count())
            .flat_map(|case| (slice.start..slice.end).map(move |seed| Job { case, seed }))
            .collect()
    }

    /// The `--set` arguments of a case: the plan's own, then the varied directive's.
    pub fn set_args(&self, case: usize) -> Vec<String> {
        let mut args = self.set.clone();
        if let Some(v) = &self.vary {
            args.push(v.set_arg(case));
        }
        args
    }

    /// The command that reproduces one run.
    pub fn repro(&self, job: Job) -> String {
        let mut line = format!("replsim run {} --seed {}", shell_word(&self.file), job.seed);
        for s in self.set_args(job.case) {
            line.push_str(" --set ");
            line.push_str(&shell_word(&s));
        }
        line
    }

    /// The sweep report of `records`, which must be every job of the plan in [`Plan::jobs`]'s
    /// order.
    pub fn report(&self, records: Vec<RunRecord>) -> SweepReport {
        let cases: Vec<Case> = (0..self.case_count())
            .map(|c| self.case(c, records.iter().filter(|r| r.case == c)))
            .collect();
        let runs = records.len() as u64;
        let runs_ok = records.iter().filter(|r| r.ok).count() as u64;
        SweepReport {
            format: FORMAT.to_string(),
            scenario: self.scenario.clone(),
            file: self.file.clone(),
            file_digest: format!("{:016x}", self.file_digest),
            set: self.set.clone(),
            vary: self.vary.as_ref().map(Vary::report),
            seeds: self.seeds,
            shard: self.shard.map(|(index, count)| ShardReport {
                index,
                count,
                seeds: self.slice(),
            }),
            expectations: self.expectations.clone(),
            figures: self.figures.clone(),
            runs,
            runs_ok,
            ok: runs_ok == runs,
            cases,
            records,
        }
    }

    fn case<'a>(&self, case: usize, records: impl Iterator<Item = &'a RunRecord> + Clone) -> Case {
        let job = |r: &RunRecord| Job { case, seed: r.seed };
        let expectations = self
            .expectations
            .iter()
            .enumerate()
            .map(|(k, e)| {
                let failing: Vec<Repro> = records
                    .clone()
                    .filter(|r| r.failed.contains(&k))
                    .map(|r| Repro {
                        seed: r.seed,
                        actual: r.actual.get(k).cloned().unwrap_or_default(),
                        repro: self.repro(job(r)),
                    })
                    .collect();
                let ran = records.clone().filter(|r| r.panic.is_none()).count() as u64;
                ExpectTally {
                    expect: e.expect.clone(),
                    passed: ran - failing.len() as u64,
                    failed: failing.len() as u64,
                    failing,
                }
            })
            .collect();
        let mut violations: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        let mut stopped: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for r in records.clone() {
            for checker in &r.unexpected {
                violations.entry(checker).or_default().push(r.seed);
            }
            if let Some(stop) = r.stop.as_deref().filter(|s| LIMIT_STOPS.contains(s)) {
                stopped.entry(stop).or_default().push(r.seed);
            }
        }
        let distributions = self
            .figures
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let values: Vec<f64> = records
                    .clone()
                    .filter_map(|r| r.figures.get(k).copied().flatten())
                    .map(|n| n.0)
                    .collect();
                distribution(&f.name, values, records.clone().count() as u64)
            })
            .collect();
        Case {
            value: self.vary.as_ref().map(|v| v.values[case].text.clone()),
            runs: records.clone().count() as u64,
            runs_ok: records.clone().filter(|r| r.ok).count() as u64,
            expectations,
            violations: violations
                .into_iter()
                .map(|(checker, seeds)| ViolationTally {
                    checker: checker.to_string(),
                    runs: seeds.len() as u64,
                    seeds,
                })
                .collect(),
            stopped: stopped
                .into_iter()
                .map(|(stop, seeds)| StopTally {
                    stop: stop.to_string(),
                    runs: seeds.len() as u64,
                    seeds,
                })
                .collect(),
            panics: records
                .filter_map(|r| {
                    r.panic.as_ref().map(|m| PanicRun {
                        seed: r.seed,
                        message: m.clone(),
                        repro: self.repro(job(r)),
                    })
                })
                .collect(),
            distributions,
        }
    }
}

/// A run's `stop` as its report spells it.
fn stop_name(stop: Stop) -> &'static str {
    match stop {
        Stop::Idle => "idle",
        Stop::TimeLimit => "time_limit",
        Stop::EventLimit => "event_limit",
        Stop::WallLimit => "wall_limit",
        Stop::MemoryLimit => "memory_limit",
    }
}

/// The `stop` values of a run that ended at a limit rather than at its duration.
const LIMIT_STOPS: [&str; 3] = ["event_limit", "wall_limit", "memory_limit"];

/// A figure's distribution over `runs` runs, of which those in `values` had a value (in run
/// order).
fn distribution(name: &str, mut values: Vec<f64>, runs: u64) -> Distribution {
    let mean = (!values.is_empty()).then(|| {
        let m = values.iter().sum::<f64>() / values.len() as f64;
        Num((m * 1e4).round() / 1e4)
    });
    values.sort_by(f64::total_cmp);
    let rank = |p: u64| {
        // Nearest rank: the ceil(p/100 * n)-th smallest value, counted from 1.
        let n = values.len() as u64;
        let k = (p * n).div_ceil(100).max(1);
        values.get(k as usize - 1).copied().map(Num)
    };
    Distribution {
        name: name.to_string(),
        runs: values.len() as u64,
        missing: runs - values.len() as u64,
        min: values.first().copied().map(Num),
        p50: rank(50),
        p99: rank(99),
        max: values.last().copied().map(Num),
        mean,
    }
}

/// The figures a sweep of this scenario measures, for its nodes' names.
pub fn figures(nodes: &[String]) -> Vec<FigureDef> {
    let def = |name: &str, unit: &str, about: &str| FigureDef {
        name: name.to_string(),
        unit: unit.to_string(),
        about: about.to_string(),
    };
    let mut v = vec![
        def(
            "acked_writes_lost",
            "writes",
            "acknowledged writes the final master never applied (checks.acked_writes_lost.lost)",
        ),
        def(
            "converge_s",
            "s",
            "seconds from the end of the last fault until every replica converged \
             (checks.convergence.seconds_after_last_fault); none when a replica never converged",
        ),
        def(
            "max_staleness_ms",
            "ms",
            "how far behind the stalest read was (checks.stale_reads.max_staleness_ms)",
        ),
        def(
            "stale_reads",
            "reads",
            "reads that returned a value older than one already acknowledged (checks.stale_reads.stale)",
        ),
        def(
            "availability",
            "share",
            "share of writes accepted (checks.availability.share_accepted)",
        ),
        def(
            "refusing_s",
            "s",
            "seconds during which every write was refused or timed out \
             (checks.availability.refusing_seconds)",
        ),
    ];
    for (stat, what) in [
        ("sync_full", "full syncs it served"),
        ("sync_partial_ok", "partial resyncs it accepted"),
    ] {
        for n in nodes {
            v.push(def(
                &format!("{stat}.{n}"),
                "syncs",
                &format!("{n}'s {stat}: {what}; none when it is down at the end"),
            ));
        }
    }
    v
}

/// A run's record: its verdict, and the value of each of `figures` (as [`figures`] made them).
pub fn record(job: Job, report: &Report, figures: &[FigureDef]) -> RunRecord {
    let c = &report.checks;
    let stat = |name: &str| -> Option<f64> {
        let (stat, node) = name.split_once('.')?;
        let s = &report.nodes.get(node)?.live()?.stats;
        let v = match stat {
            "sync_full" => s.sync_full,
            "sync_partial_ok" => s.sync_partial_ok,
            _ => return None,
        };
        Some(v as f64)
    };
    let value = |name: &str| -> Option<f64> {
        match name {
            "acked_writes_lost" => Some(c.acked_writes_lost.lost as f64),
            "converge_s" => c.convergence.seconds_after_last_fault,
            "max_staleness_ms" => Some(c.stale_reads.max_staleness_ms),
            "stale_reads" => Some(c.stale_reads.stale as f64),
            "availability" => Some(c.availability.share_accepted),
            "refusing_s" => Some(c.availability.refusing_seconds),
            other => stat(other),
        }
    };
    let unexpected: Vec<String> = report
        .violations
        .iter()
        .filter(|v| !v.expected)
        .map(|v| v.checker.clone())
        .collect();
    RunRecord {
        case: job.case,
        seed: job.seed,
        ok: report.ok,
        trace_hash: Some(report.trace_hash.clone()),
        stop: Some(stop_name(report.stop).to_string()),
        failed: report
            .expectations
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.ok)
            .map(|(k, _)| k)
            .collect(),
        actual: report
            .expectations
            .iter()
            .map(|e| e.actual.clone())
            .collect(),
        unexpected,
        panic: None,
        figures: figures
            .iter()
            .map(|f| value(&f.name).filter(|x| x.is_finite()).map(Num))
            .collect(),
    }
}

/// The record of a run that panicked.
pub fn panicked(job: Job, message: String, figures: usize) -> RunRecord {
    RunRecord {
        case: job.case,
        seed: job.seed,
        ok: false,
        trace_hash: None,
        stop: None,
        failed: Vec::new(),
        actual: Vec::new(),
        unexpected: Vec::new(),
        panic: Some(message),
        figures: vec![None; figures],
    }
}

/// `s` as one word of a POSIX shell command line: quoted only if it has to be.
pub fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Shards of one sweep combined into the report the whole sweep gives. Every shard must come
/// from the same scenario file, overrides, values and seeds, and together they must be every
/// shard of one split, each once.
pub fn merge(mut parts: Vec<(String, SweepReport)>) -> Result<SweepReport, String> {
    let Some((first_name, first)) = parts.first() else {
        return Err("no shards to merge".into());
    };
    for (name, p) in &parts {
        if p.format != FORMAT {
            return Err(format!(
                "{name}: format \"{}\", this replsim reads \"{FORMAT}\"",
                p.format
            ));
        }
        if p.shard.is_none() {
            return Err(format!("{name}: a whole sweep, not a shard (--shard I/N)"));
        }
        let same = |what: &str, a: String, b: String| {
            if a == b {
                Ok(())
            } else {
                Err(format!(
                    "{name} and {first_name} are not shards of one sweep: {what} differ ({a} against {b})"
                ))
            }
        };
        same("scenarios", p.scenario.clone(), first.scenario.clone())?;
        same("files", p.file.clone(), first.file.clone())?;
        same(
            "file digests",
            p.file_digest.clone(),
            first.file_digest.clone(),
        )?;
        same("--set overrides", p.set.join(" "), first.set.join(" "))?;
        same("--vary", vary_text(p), vary_text(first))?;
        let seeds = |s: SeedRange| format!("seeds {}..{}", s.start, s.end);
        same("seed ranges", seeds(p.seeds), seeds(first.seeds))?;
        let count = |s: &SweepReport| s.shard.map_or(0, |s| s.count).to_string() + " shards";
        same("splits", count(p), count(first))?;
        same(
            "expectations",
            format!("{:?}", p.expectations),
            format!("{:?}", first.expectations),
        )?;
        same(
            "figures",
            format!("{:?}", p.figures),
            format!("{:?}", first.figures),
        )?;
    }
    let count = first.shard.map_or(0, |s| s.count);
    parts.sort_by_key(|(_, p)| p.shard.map(|s| s.index));
    for w in parts.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let index = a.1.shard.map_or(0, |s| s.index);
        if b.1.shard.map(|s| s.index) == Some(index) {
            return Err(format!(
                "{} and {} are both shard {index}/{count}",
                a.0, b.0
            ));
        }
    }
    let have: Vec<u64> = parts
        .iter()
        .filter_map(|(_, p)| p.shard.map(|s| s.index))
        .collect();
    let missing: Vec<String> = (1..=count)
        .filter(|i| !have.contains(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing shards: {}", missing.join(", ")));
    }
    let template = parts[0].1.clone();
    let plan = Plan {
        scenario: template.scenario,
        file: template.file,
        file_digest: u64::from_str_radix(&template.file_digest, 16)
            .map_err(|_| format!("{}: file_digest is not 16 hex digits", parts[0].0))?,
        set: template.set,
        vary: template
            .vary
            .as_ref()
            .map(Vary::from_report)
            .transpose()
            .map_err(|e| format!("{}: vary: {e}", parts[0].0))?,
        seeds: template.seeds,
        shard: None,
        expectations: template.expectations,
        figures: template.figures,
    };
    let mut records = Vec::new();
    for (name, p) in &parts {
        let want = plan_jobs(&plan, p.shard.map(|s| (s.index, s.count)));
        let got: Vec<Job> = p
            .records
            .iter()
            .map(|r| Job {
                case: r.case,
                seed: r.seed,
            })
            .collect();
        if got != want {
            return Err(format!(
                "{name}: its runs are not the seeds and values of shard {}/{count}",
                p.shard.map_or(0, |s| s.index)
            ));
        }
        records.extend(p.records.iter().cloned());
    }
    // Every record in (case, seed) order, as an unsharded sweep lists them.
    records.sort_by_key(|r| (r.case, r.seed));
    Ok(plan.report(records))
}

fn vary_text(p: &SweepReport) -> String {
    p.vary.as_ref().map_or("none".into(), |v| {
        format!("{}={} ({})", v.directive, v.template, v.values.join(","))
    })
}

fn plan_jobs(plan: &Plan, shard: Option<(u64, u64)>) -> Vec<Job> {
    Plan {
        shard,
        ..plan.clone()
    }
    .jobs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_seed_once_in_order() {
        for (start, end, n) in [(1, 1001, 4), (0, 10, 3), (5, 7, 4), (1, 100_001, 7)] {
            let seeds = SeedRange { start, end };
            let mut next = start;
            for i in 1..=n {
                let s = shard_seeds(seeds, i, n);
                assert_eq!(s.start, next, "{start}..{end} shard {i}/{n}");
                assert!(s.len() <= seeds.len().div_ceil(n));
                next = s.end;
            }
            assert_eq!(next, end);
        }
    }

    #[test]
    fn shard_text_is_checked() {
        assert_eq!(parse_shard("2/4"), Ok((2, 4)));
        for bad in ["0/4", "5/4", "1/0", "a/b", "3"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = distribution("x", (1..=200).rev().map(f64::from).collect(), 210);
        assert_eq!((d.runs, d.missing), (200, 10));
        let got = [d.min, d.p50, d.p99, d.max, d.mean].map(|x| x.unwrap().0);
        assert_eq!(got, [1.0, 100.0, 198.0, 200.0, 100.5]);
        let one = distribution("x", vec![7.0], 1);
        assert_eq!([one.min, one.p50, one.p99], [Some(Num(7.0)); 3]);
        let none = distribution("x", vec![], 3);
        assert_eq!((none.p50, none.missing), (None, 3));
    }

    #[test]
    fn repro_lines_quote_what_a_shell_would_split() {
        assert_eq!(
            shell_word("repl-backlog-size=64mb"),
            "repl-backlog-size=64mb"
        );
        assert_eq!(
            shell_word("client-output-buffer-limit=replica 1mb 1mb 0"),
            "'client-output-buffer-limit=replica 1mb 1mb 0'"
        );
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
