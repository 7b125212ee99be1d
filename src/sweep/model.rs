//! The sweep report's types: one struct per JSON object of `replsim sweep --json` and of the
//! sweep.json that `--out` writes (docs/sweep-format.md). `sweep merge` reads shards back
//! through the same types, so a field renamed here is renamed in the contract and in the reader
//! at once, and a shard that lacks a field is refused with its name.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `format` of every sweep report this version writes and reads.
pub const FORMAT: &str = "replsim-sweep/1";

/// A sweep: what ran, what each run showed, and the tallies and distributions over the runs.
/// Fields are in the summary's order, with the per-run records, the bulk, last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    pub format: String,
    pub scenario: String,
    /// The scenario file as given on the command line; repro lines name it.
    pub file: String,
    /// FNV-1a 64 of the file's text, as 16 hex digits: shards merged into one report must have
    /// run the same file.
    pub file_digest: String,
    /// The `--set` overrides, as given, applied to every run before the varied directive.
    pub set: Vec<String>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub vary: Option<VaryReport>,
    /// The seeds of the whole sweep.
    pub seeds: SeedRange,
    /// The slice of the seeds this report ran, or `null` for a whole sweep (merged or not).
    #[serde(deserialize_with = "Option::deserialize")]
    pub shard: Option<ShardReport>,
    /// The scenario's `[expect]` entries; a run's `failed` indexes into them.
    pub expectations: Vec<ExpectDef>,
    /// The figures measured in every run; a run's `figures` and a case's distributions follow
    /// this order.
    pub figures: Vec<FigureDef>,
    pub runs: u64,
    pub runs_ok: u64,
    /// Every run passed (held every expectation, no unexpected violation, no limit, no panic).
    pub ok: bool,
    /// One per value of the varied directive, in the order tried; one case, `value` `null`,
    /// without `--vary`.
    pub cases: Vec<Case>,
    /// Every run, by case and then by seed.
    pub records: Vec<RunRecord>,
}

/// The directive a sweep varies and its values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaryReport {
    pub directive: String,
    /// The directive's value with `{}` where the varying part goes: `{}` for a plain value,
    /// `replica {} {} 0` for one of several parts.
    pub template: String,
    /// How the values were chosen: `list`, `geometric` or `linear`.
    pub spacing: String,
    /// The part that varies, as written into the directive (`64mb`).
    pub values: Vec<String>,
    /// Each value as a number (bytes for sizes), when every value is one; `null` for a list of
    /// words.
    #[serde(deserialize_with = "Option::deserialize")]
    pub numbers: Option<Vec<f64>>,
}

/// Seeds `start` up to `end`, `end` excluded.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

impl SeedRange {
    pub fn len(self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }
}

/// Shard `index` (from 1) of `count`, and the seeds it ran.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardReport {
    pub index: u64,
    pub count: u64,
    pub seeds: SeedRange,
}

/// An `[expect]` entry of the scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectDef {
    pub expect: String,
    /// Its line in the scenario file.
    pub line: usize,
}

/// A figure measured in every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FigureDef {
    /// `acked_writes_lost`, `converge_s`, `sync_full.<node>`, …
    pub name: String,
    pub unit: String,
    /// What it is, and what a run without a value means.
    pub about: String,
}

/// The runs of one value of the varied directive (or of the whole sweep without `--vary`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// The varied part's value, `null` without `--vary`.
    #[serde(deserialize_with = "Option::deserialize")]
    pub value: Option<String>,
    pub runs: u64,
    pub runs_ok: u64,
    /// Per `[expect]` entry, in the order of `expectations`.
    pub expectations: Vec<ExpectTally>,
    /// Per checker whose violation some run did not expect, by checker name.
    pub violations: Vec<ViolationTally>,
    /// Runs that stopped at a limit, by limit.
    pub stopped: Vec<StopTally>,
    /// Runs that panicked (a bug in replsim), by seed.
    pub panics: Vec<PanicRun>,
    /// Per figure, in the order of `figures`.
    pub distributions: Vec<Distribution>,
}

/// How many runs held one expectation, and how to reproduce each that did not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExpectTally {
    pub expect: String,
    pub passed: u64,
    pub failed: u64,
    /// Every failing run, by seed.
    pub failing: Vec<Repro>,
}

/// A failing run and the command that reproduces it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repro {
    pub seed: u64,
    /// What the expectation's path found in that run.
    pub actual: serde_json::Value,
    /// `replsim run FILE --seed N`, with the run's `--set` overrides.
    pub repro: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViolationTally {
    pub checker: String,
    pub runs: u64,
    pub seeds: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopTally {
    /// `event_limit`, `wall_limit` or `memory_limit`, as a run report's `stop`.
    pub stop: String,
    pub runs: u64,
    pub seeds: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanicRun {
    pub seed: u64,
    pub message: String,
    pub repro: String,
}

/// A figure over the runs of a case. The percentiles are nearest-rank: pN is the smallest value
/// that at least N% of the runs with a value reach, so every one is a value some run had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub name: String,
    /// Runs with a value.
    pub runs: u64,
    /// Runs without one (see the figure's `about`).
    pub missing: u64,
    #[serde(deserialize_with = "Option::deserialize")]
    pub min: Option<Num>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub p50: Option<Num>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub p99: Option<Num>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub max: Option<Num>,
    /// Rounded to 4 decimals.
    #[serde(deserialize_with = "Option::deserialize")]
    pub mean: Option<Num>,
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Index into `cases`.
    pub case: usize,
    pub seed: u64,
    pub ok: bool,
    /// The run's trace hash, `null` if it panicked.
    #[serde(deserialize_with = "Option::deserialize")]
    pub trace_hash: Option<String>,
    /// How the run ended (`time_limit`, `idle`, `event_limit`, …), `null` if it panicked.
    #[serde(deserialize_with = "Option::deserialize")]
    pub stop: Option<String>,
    /// Indices into `expectations` of the entries that failed.
    pub failed: Vec<usize>,
    /// What each expectation's path found, in the order of `expectations`.
    pub actual: Vec<serde_json::Value>,
    /// Checkers whose violation the scenario does not expect.
    pub unexpected: Vec<String>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub panic: Option<String>,
    /// Each figure's value, in the order of `figures`; `null` where the run has none.
    pub figures: Vec<Option<Num>>,
}

/// A figure's value. Whole numbers are written as JSON integers (a count of writes reads `3`,
/// not `3.0`); others as JSON floats.
#[derive(Copy, Clone, Debug, PartialEq, PartialOrd)]
pub struct Num(pub f64);

/// Integers up to 2^53 are exact in an f64 and in every JSON reader.
const EXACT_INT_MAX: f64 = 9_007_199_254_740_992.0;

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        if x.fract() == 0.0 && x.abs() <= EXACT_INT_MAX {
            s.serialize_i64(x as i64)
        } else {
            s.serialize_f64(x)
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        f64::deserialize(d).map(Num)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_written_as_integers_and_read_back_equal() {
        for (x, text) in [(3.0, "3"), (0.25, "0.25"), (-2.0, "-2"), (1e20, "1e+20")] {
            let json = serde_json::to_string(&Num(x)).unwrap();
            assert_eq!(json, text);
            assert_eq!(serde_json::from_str::<Num>(&json).unwrap(), Num(x));
        }
    }
}
