//! `replsim sweep`, `sweep merge` and `advise`: the command-line side of sweeps. The runs go to
//! the thread pool, come back as records and are put in (value, seed) order before anything is
//! aggregated, so no output depends on `--jobs`. `replsim::sweep` builds the report, its text
//! and its charts; this module runs, shows progress and writes.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use replsim::report::{self, Report};
use replsim::scenario::{self, Scenario};
use replsim::sim;
use replsim::sweep::{self, advise, Job, Plan, RunRecord, SeedRange, SweepReport, Vary};

use crate::files::{write_atomic, write_error, Staging};
use crate::{admit, load, pool, simulate, BadInput, LimitArgs};

/// `replsim sweep FILE …` or `replsim sweep merge SHARD.json …`.
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  \
replsim sweep scenarios/failover-split-brain.toml --seeds 1..201\n  \
replsim sweep scenarios/backlog-overrun.toml --vary repl-backlog-size=1mb..64mb:7 --seeds 1..4\n  \
replsim sweep scenarios/quickstart.toml --seeds 1..1001 --shard 2/4 --json > shard-2.json\n  \
replsim sweep merge shard-1.json shard-2.json shard-3.json shard-4.json --out out/sweep"
)]
pub struct SweepArgs {
    #[command(subcommand)]
    merge: Option<SweepSub>,
    /// The scenario file (TOML; see docs/scenario-format.md).
    #[arg(required = true)]
    file: Option<PathBuf>,
    /// Seeds to run: `1..1001` (end excluded), `1..=1000`, or one seed. Defaults to the
    /// scenario's own seed.
    #[arg(long, value_name = "A..B", value_parser = crate::parse_seeds)]
    seeds: Option<std::ops::Range<u64>>,
    /// Run only the I-th (from 1) of N equal slices of the seeds, for a sweep spread over N
    /// machines; `sweep merge` combines their --json outputs.
    #[arg(long, value_name = "I/N", value_parser = sweep::parse_shard)]
    shard: Option<(u64, u64)>,
    /// Override a redis.conf directive on every node, e.g. --set repl-backlog-size=4mb.
    #[arg(long = "set", value_name = "DIRECTIVE=VALUE")]
    set: Vec<String>,
    /// Run every seed at each value of one directive: a list (repl-timeout=10,30,60) or a range
    /// in geometric steps (repl-backlog-size=1mb..1gb, 8 values; :N for N values; :+STEP for
    /// linear steps). A directive of several parts names the varying one in braces, a later {}
    /// repeats it: 'client-output-buffer-limit=replica {16mb..4gb} {} 0'.
    #[arg(long, value_name = "DIRECTIVE=VALUES")]
    vary: Option<String>,
    #[command(flatten)]
    output: SweepOutput,
    /// Runs at once, each on its own thread; defaults to the number of CPUs. The results do not
    /// depend on it.
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    #[command(flatten)]
    limits: LimitArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Subcommand)]
enum SweepSub {
    /// Combine the --json outputs of every shard of one sweep (--shard I/N) into the report the
    /// whole sweep gives, byte for byte.
    Merge {
        /// The shards' JSON reports, one per shard, in any order.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[command(flatten)]
        output: SweepOutput,
    },
}

/// What a sweep prints and writes.
#[derive(clap::Args)]
struct SweepOutput {
    /// Print the JSON report (docs/sweep-format.md) instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write sweep.json, summary.txt, an SVG chart per figure and report.html (one
    /// self-contained page with all of them) into DIR, replacing a previous
    /// result there (DIR must be absent, empty or such a result).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// A figure to show and chart (repeatable). By default every figure of a sweep over seeds,
    /// and against a varied directive every figure that is not the same in every run.
    #[arg(long = "figure", value_name = "NAME")]
    figures: Vec<String>,
}

/// `replsim advise`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
replsim advise scenarios/advise-backlog.toml --vary repl-backlog-size=64mb..4gb --until 'master.sync_full <= 1'\n  \
replsim advise scenarios/advise-output-buffer.toml \
--vary 'client-output-buffer-limit=replica {16mb..4gb} {} 0' --until 'replica.full_sync_finished >= 1'")]
pub struct AdviseArgs {
    /// The scenario file.
    file: PathBuf,
    /// The directive and the range to search: DIRECTIVE=LO..HI in geometric steps (64 values;
    /// :N for N, :+STEP for linear steps), or a list of values in order. Braces name the varying
    /// part of a directive of several parts, as with `sweep --vary`.
    #[arg(long, value_name = "DIRECTIVE=RANGE")]
    vary: String,
    /// The expectation that must hold, in the [expect] block's syntax: PATH COMPARISON, e.g.
    /// "master.sync_full <= 1" or "checks.convergence.converged == true".
    #[arg(long, value_name = "EXPECTATION")]
    until: String,
    /// How many seeds must hold it: the scenario's seed and the ones after it.
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: u64,
    /// Look for the largest value that holds instead of the smallest.
    #[arg(long)]
    largest: bool,
    /// Override a redis.conf directive on every node, as for `run`.
    #[arg(long = "set", value_name = "DIRECTIVE=VALUE")]
    set: Vec<String>,
    /// Runs at once; defaults to the number of CPUs.
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// A scenario with its overrides, and one scenario per value of the varied directive (one in
/// all without `--vary`), each admitted.
struct Prepared {
    base: Scenario,
    digest: u64,
    vary: Option<Vary>,
    cases: Vec<Scenario>,
}

fn prepare(
    file: &Path,
    set: &[String],
    vary: Option<&str>,
    default_steps: usize,
    limits: &LimitArgs,
) -> Result<Prepared> {
    let base = load(file, set)?;
    admit(file, &base, limits)?;
    let text = fs::read(file).map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
    let vary = vary
        .map(|v| Vary::parse(v, default_steps).map_err(|e| BadInput(format!("--vary {e}"))))
        .transpose()?;
    let cases = match &vary {
        None => vec![base.clone()],
        Some(v) => (0..v.values.len())
            .map(|i| {
                let mut sc = base.clone();
                sc.set_directive(&v.directive, &v.setting(i))
                    .map_err(|e| BadInput(format!("--vary {}: {e}", v.set_arg(i))))?;
                admit(file, &sc, limits)?;
                Ok(sc)
            })
            .collect::<Result<_>>()?,
    };
    Ok(Prepared {
        base,
        digest: replsim::fnv::fnv1a64(&text),
        vary,
        cases,
    })
}

/// Threads for `items` runs of `cases`: as `--jobs` or the CPUs ask, but no more than the
/// memory limit holds runs of the largest estimate at once. The memory limit is the process's,
/// so runs side by side share it; each is given a quarter more than its estimate, for what the
/// allocator holds besides (measured: two 3.7 GB runs side by side peaked past 8 GB).
fn fit_workers(
    jobs: Option<u16>,
    items: usize,
    cases: &[Scenario],
    limits: &LimitArgs,
    say_why: bool,
) -> usize {
    let wanted = pool::workers(jobs, items);
    let largest = cases
        .iter()
        .map(|sc| sim::estimate::memory_estimate(sc).total_bytes())
        .max()
        .unwrap_or(0)
        .max(1);
    let fit =
        usize::try_from(limits.max_memory_bytes() / (largest + largest / 4)).unwrap_or(usize::MAX);
    if fit < wanted && say_why {
        eprintln!(
            "replsim: {} runs at once, not {wanted}: each may need {}, and --max-memory is {}",
            fit.max(1),
            crate::gb(largest),
            crate::gb(limits.max_memory_bytes())
        );
    }
    wanted.min(fit).max(1)
}

/// Runs one seed of one scenario; `Err` holds a panic's message.
fn run_one(sc: Scenario, seed: u64, limits: &LimitArgs) -> std::result::Result<Report, String> {
    let large = sim::estimate::memory_estimate(&sc).total_bytes() >= TRIM_AFTER_BYTES;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let out = simulate(
            sc,
            seed,
            limits,
            sim::RunOptions::default(),
            None,
            true,
            "",
            None,
            &|| false,
        );
        let report = report::build(&out);
        drop(out);
        if large {
            release_freed_memory();
        }
        report
    }))
    .map_err(|p| pool::panic_message(&*p))
}

/// The estimated size of a run after which its worker hands the freed memory back. Smaller
/// runs keep it: what they leave in an arena is small beside any memory limit, and the next run
/// on the thread reuses it, where trimming after each of thousands of small runs made the kernel
/// fault every page in again (a fifth of a sweep's time went to the system).
const TRIM_AFTER_BYTES: u64 = 256 << 20;

/// Hands the memory a finished run freed back to the operating system. glibc keeps freed blocks
/// in each thread's arena, and the memory limit measures the process's resident memory: without
/// this, a worker's earlier large run counts against the runs beside its next one.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own arenas to the system;
    // it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Runs `jobs` on the pool, with the panic hook silenced (a panic is recorded, not printed by
/// every worker), and returns each result in the order of `jobs`.
fn run_jobs<R: Send>(
    jobs: &[Job],
    workers: usize,
    work: &(dyn Fn(Job) -> R + Sync),
    on_done: &mut dyn FnMut(&R),
) -> Vec<R> {
    let mut slots: Vec<Option<R>> = (0..jobs.len()).map(|_| None).collect();
    std::panic::set_hook(Box::new(|_| {}));
    pool::run_all(jobs.iter().copied(), workers, work, &mut |k, r| {
        on_done(&r);
        slots[k] = Some(r);
    });
    let _ = std::panic::take_hook();
    slots
        .into_iter()
        .map(|r| r.expect("the pool runs every job"))
        .collect()
}

pub fn sweep_cmd(args: SweepArgs) -> Result<ExitCode> {
    if let Some(SweepSub::Merge { shards, output }) = args.merge {
        return merge_cmd(&shards, &output);
    }
    let file = args.file.expect("clap requires FILE without a subcommand");
    let prep = prepare(
        &file,
        &args.set,
        args.vary.as_deref(),
        sweep::vary::STEPS_DEFAULT,
        &args.limits,
    )?;
    let seeds = args
        .seeds
        .unwrap_or(prep.base.seed..prep.base.seed.saturating_add(1));
    let nodes: Vec<String> = prep.base.nodes.iter().map(|n| n.name.clone()).collect();
    let plan = Plan {
        scenario: prep.base.name.clone(),
        file: file.display().to_string(),
        file_digest: prep.digest,
        set: args.set.clone(),
        vary: prep.vary.clone(),
        seeds: SeedRange {
            start: seeds.start,
            end: seeds.end,
        },
        shard: args.shard,
        expectations: prep
            .base
            .expect
            .iter()
            .map(|e| sweep::ExpectDef {
                expect: e.to_string(),
                line: e.line,
            })
            .collect(),
        figures: sweep::figures(&nodes),
    };
    check_figures(&args.output.figures, &plan.figures)?;
    // The destination is checked now rather than after a long sweep.
    let staging = args.output.out.as_deref().map(Staging::new).transpose()?;
    let jobs = plan.jobs();
    let workers = fit_workers(args.jobs, jobs.len(), &prep.cases, &args.limits, true);
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(jobs.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {msg}  ETA {eta}")
                .expect("a valid template"),
        );
        b.set_message("0 failed");
        b
    });
    let mut failed = 0u64;
    let (cases, figures, limits) = (&prep.cases, &plan.figures, &args.limits);
    let records: Vec<RunRecord> = run_jobs(
        &jobs,
        workers,
        &|job| match run_one(cases[job.case].clone(), job.seed, limits) {
            Ok(r) => sweep::record(job, &r, figures),
            Err(message) => sweep::panicked(job, message, figures.len()),
        },
        &mut |r| {
            failed += u64::from(!r.ok);
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(format!("{failed} failed"));
            }
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = plan.report(records);
    emit(&report, &args.output, staging)
}

/// A `--figure` that no figure has is refused, with the nearest name.
fn check_figures(chosen: &[String], figures: &[sweep::FigureDef]) -> Result<()> {
    for c in chosen {
        if !figures.iter().any(|f| &f.name == c) {
            let names = figures.iter().map(|f| f.name.as_str());
            return Err(BadInput(format!(
                "--figure {c}: no such figure{}; the figures are {}",
                scenario::suggest::did_you_mean(c, names.clone()),
                names.collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    Ok(())
}

/// Prints the report (summary or JSON) and writes --out.
fn emit(report: &SweepReport, output: &SweepOutput, staging: Option<Staging>) -> Result<ExitCode> {
    let json = serde_json::to_string_pretty(report)? + "\n";
    let summary = sweep::text::render(report, &output.figures);
    if let Some(staging) = staging {
        let dir = staging.path();
        write_atomic(&dir.join("sweep.json"), json.as_bytes())?;
        write_atomic(&dir.join("summary.txt"), summary.as_bytes())?;
        let charts = sweep::chart::charts(report, &output.figures)
            .map_err(|e| anyhow::anyhow!("drawing charts: {e}"))?;
        let page = sweep::html::page(report, &output.figures, &charts, &summary);
        write_atomic(&dir.join("report.html"), page.as_bytes())?;
        for c in charts {
            write_atomic(&dir.join(&c.file), c.svg.as_bytes())?;
        }
        staging.commit()?;
    }
    let mut out = std::io::stdout().lock();
    let text = if output.json { &json } else { &summary };
    let written = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        return Err(write_error(Path::new("standard output"), &e));
    }
    if let (Some(dir), false) = (&output.out, output.json) {
        say!("wrote {}", dir.display());
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn merge_cmd(shards: &[PathBuf], output: &SweepOutput) -> Result<ExitCode> {
    let parts = shards
        .iter()
        .map(|p| {
            let text =
                fs::read_to_string(p).map_err(|e| BadInput(format!("{}: {e}", p.display())))?;
            let r: SweepReport = serde_json::from_str(&text).map_err(|e| {
                BadInput(format!("{}: not a replsim sweep report: {e}", p.display()))
            })?;
            Ok((p.display().to_string(), r))
        })
        .collect::<Result<Vec<_>>>()?;
    let merged = sweep::merge(parts).map_err(BadInput)?;
    check_figures(&output.figures, &merged.figures)?;
    let staging = output.out.as_deref().map(Staging::new).transpose()?;
    emit(&merged, output, staging)
}

/// One value's trial in `advise`: per seed, whether the expectation held and what it found.
struct Trial {
    seeds: Vec<(u64, bool, serde_json::Value)>,
}

impl Trial {
    fn holds(&self) -> bool {
        self.seeds.iter().all(|(_, ok, _)| *ok)
    }

    fn passed(&self) -> usize {
        self.seeds.iter().filter(|(_, ok, _)| *ok).count()
    }

    fn actual(&self) -> String {
        let v: Vec<String> = self.seeds.iter().map(|(_, _, a)| a.to_string()).collect();
        v.join(", ")
    }
}

pub fn advise_cmd(args: AdviseArgs) -> Result<ExitCode> {
    let prep = prepare(
        &args.file,
        &args.set,
        Some(&args.vary),
        advise::STEPS_DEFAULT,
        &args.limits,
    )?;
    let vary = prep.vary.as_ref().expect("advise always varies");
    let names: Vec<String> = prep.base.nodes.iter().map(|n| n.name.clone()).collect();
    let until = scenario::expectation_line(&names, &args.until)
        .map_err(|e| BadInput(format!("--until {e}")))?;
    let mut probe = prep.base.clone();
    probe.expect = vec![until.clone()];
    report::expect_paths::check(&args.file.display().to_string(), &probe)
        .map_err(|e| BadInput(format!("--until {}", e.message)))?;
    let first = prep.base.seed;
    let seeds: Vec<u64> = (first..first.saturating_add(args.seeds)).collect();
    let n = vary.values.len();
    let which = if args.largest { "largest" } else { "smallest" };
    say!(
        "advise: the {which} {} for which \"{until}\" holds on seed{} {}",
        vary.directive,
        if seeds.len() == 1 { "" } else { "s" },
        sweep::text::seed_list(&seeds)
    );
    say!("{}", describe_values(vary));
    let width = vary.values.iter().map(|v| v.text.len()).max().unwrap_or(0);
    let mut trials: Vec<Option<Trial>> = (0..n).map(|_| None).collect();
    let advice = advise::bisect(n, args.largest, &mut |i| -> Result<bool> {
        let jobs: Vec<Job> = seeds.iter().map(|&seed| Job { case: i, seed }).collect();
        let cases = std::slice::from_ref(&prep.cases[i]);
        let workers = fit_workers(args.jobs, seeds.len(), cases, &args.limits, false);
        let results = run_jobs(
            &jobs,
            workers,
            &|job| run_one(prep.cases[job.case].clone(), job.seed, &args.limits),
            &mut |_| {},
        );
        let mut trial = Trial { seeds: Vec::new() };
        for (job, r) in jobs.iter().zip(results) {
            let reproduce = || {
                format!(
                    "replsim run {} --seed {} --set {}",
                    sweep::shell_word(&args.file.display().to_string()),
                    job.seed,
                    sweep::shell_word(&vary.set_arg(i))
                )
            };
            let r = r.map_err(|m| {
                anyhow::anyhow!(
                    "seed {} panicked: {m}\n  reproduce: {}",
                    job.seed,
                    reproduce()
                )
            })?;
            if r.stop.is_limit() {
                anyhow::bail!(
                    "seed {} at {} stopped early ({}); its verdict would describe part of the run. Raise the limit, or reproduce: {}",
                    job.seed,
                    vary.set_arg(i),
                    replsim::report::summary::stopped_early(&r).unwrap_or_default(),
                    reproduce()
                );
            }
            let (ok, actual) = advise::holds(&until, &r);
            trial.seeds.push((job.seed, ok, actual));
        }
        say!(
            "  tried {:width$}  {}  on {}/{} seeds  (actual {})",
            vary.values[i].text,
            if trial.holds() { "holds" } else { "fails" },
            trial.passed(),
            seeds.len(),
            trial.actual()
        );
        let holds = trial.holds();
        trials[i] = Some(trial);
        Ok(holds)
    })?;
    let Some(answer) = advice.answer else {
        let end = if args.largest { 0 } else { n - 1 };
        say!(
            "no answer: even {} fails; widen the range",
            vary.set_arg(end)
        );
        return Ok(ExitCode::from(1));
    };
    let value = &vary.values[answer];
    let human = value
        .number
        .filter(|_| value.text.ends_with(|c: char| c.is_ascii_alphabetic()))
        .map_or(String::new(), |b| {
            format!(" ({})", replsim::report::chart::human_bytes(b))
        });
    say!("answer: {}{human}", vary.set_arg(answer));
    if advice.at_edge {
        say!(
            "  it is the {} end of the range, and holds: a value beyond it may hold too; widen the range to know",
            if args.largest { "upper" } else { "lower" }
        );
    } else {
        let beyond = if args.largest { answer + 1 } else { answer - 1 };
        let t = trials[beyond]
            .as_ref()
            .expect("bisection tries the answer's neighbour");
        say!(
            "  one step {}, {} fails on {} of {} seeds (actual {})",
            if args.largest { "above" } else { "below" },
            vary.values[beyond].text,
            seeds.len() - t.passed(),
            seeds.len(),
            t.actual()
        );
    }
    say!(
        "  check: replsim run {} --set {}",
        sweep::shell_word(&args.file.display().to_string()),
        sweep::shell_word(&vary.set_arg(answer))
    );
    say!(
        "  {} values tried, {} runs",
        advice.tried.len(),
        advice.tried.len() * seeds.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// `64 values from 64mb to 4gb in geometric steps of x1.068`.
fn describe_values(v: &Vary) -> String {
    let n = v.values.len();
    let (first, last) = (&v.values[0].text, &v.values[n - 1].text);
    match (v.spacing, v.numbers()) {
        (sweep::vary::Spacing::Geometric, Some(x)) if n > 1 => format!(
            "values: {n} from {first} to {last} in geometric steps of x{:.3}",
            (x[n - 1] / x[0]).powf(1.0 / (n - 1) as f64)
        ),
        (sweep::vary::Spacing::Linear, Some(x)) if n > 1 => format!(
            "values: {n} from {first} to {last} in steps of {}",
            x[1] - x[0]
        ),
        _ => format!(
            "values, in order: {}",
            v.values
                .iter()
                .map(|x| x.text.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
