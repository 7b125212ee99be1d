//! The `replsim` command line. This is the only code that touches files, stdout or the
//! environment; the wall clock, sockets and threads are its and the live driver's
//! (`replsim::live`) alone.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

#[path = "main/files.rs"]
mod files;
#[path = "main/pool.rs"]
mod pool;

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use replsim::bench::{baseline_pingpong, engine_pingpong, PingPong};
use replsim::report::Report;
use replsim::scenario::{self, Scenario};
use replsim::sim::trace::TraceSink;
use replsim::sim::{self, Interrupt, RunOutput};
use replsim::time::SimTime;

use files::{write_atomic, write_error, Staging, TraceFile};

#[derive(Parser)]
#[command(
    name = "replsim",
    version,
    about = "Deterministic simulator of Redis master-replica replication",
    long_about = "replsim runs Redis replication (handshake, PSYNC, backlog, full sync, timeouts, WAIT) \
over a virtual network that can partition, delay, throttle and drop, from a TOML scenario file. \
The same scenario and seed always give the same result.\n\n\
Exit codes: 0 all expectations held, 1 an expectation failed, a checker found an unexpected \
violation or the run stopped at a limit, 2 bad input (scenario, flag or path) or an output that \
could not be written.",
    after_help = "Examples:\n  replsim run scenarios/quickstart.toml\n  replsim shrink scenarios/diskless-sync.toml --seed 7 --out small.toml\n  replsim run scenarios/backlog-overrun.toml --set repl-backlog-size=64mb\n  replsim run scenarios/cap-availability.toml --out out/cap --trace\n  replsim run scenarios/full-resync-loop.toml --max-wall 30\n  replsim check scenarios/*.toml\n  replsim chart out/cap/report.json --out out/cap-charts\n  replsim bench --e2e-seconds 60\n  replsim live replica --master 127.0.0.1:6379 --port 6380"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and print what happened.
    Run {
        /// The scenario file (TOML; see docs/scenario-format.md).
        file: PathBuf,
        /// Seed for every random choice; defaults to the scenario's own `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Print the JSON report instead of the summary.
        #[arg(long)]
        json: bool,
        /// Write report.json, summary.txt, charts (PNG and SVG) and each node's log into DIR,
        /// replacing a previous result there (DIR must be absent, empty or such a result).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Also write the event trace, trace.jsonl, into the --out DIR (one JSON object per
        /// trace record; docs/trace-format.md).
        #[arg(long, requires = "out")]
        trace: bool,
        /// Check every node invariant after every input, as debug builds do (several times
        /// slower; a failure is a panic naming the invariant: a bug, reproducible by seed).
        #[arg(long)]
        check_invariants: bool,
        /// Override a redis.conf directive on every node, e.g. --set repl-backlog-size=4mb.
        #[arg(long = "set", value_name = "DIRECTIVE=VALUE")]
        set: Vec<String>,
        #[command(flatten)]
        limits: LimitArgs,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run scenarios and evaluate their [expect] blocks; exit 1 naming any that fail.
    Check {
        /// Scenario files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write each scenario's summary.txt and PNG charts into DIR/<scenario name>/ (so scenario names must differ).
        #[arg(long, value_name = "DIR")]
        reports: Option<PathBuf>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
        /// Scenarios run at once, each on its own thread; defaults to the number of CPUs. Results
        /// are printed in file order and do not depend on it.
        #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Redraw the charts (PNG and SVG) of a saved report.json, without rerunning
    ///
    /// With --beside, draw instead one chart that puts two runs side by side: REPORT in the left
    /// column and the --beside report in the right, on one time axis and one scale per row, with
    /// rows for each replica's output buffer on its master, its local buffer (dual-channel
    /// sync) and its lag. It is written as beside.png and beside.svg. The runs must have the
    /// same replicas.
    #[command(
        after_help = "Examples:\n  replsim chart out/cap/report.json --out out/cap-charts\n  \
replsim chart out/classic/report.json --beside out/dual/report.json --out out/compare"
    )]
    Chart {
        /// A report.json written by `replsim run --out`.
        report: PathBuf,
        /// Where to write the charts (lag, backlog, availability, and those the report calls for;
        /// only beside with --beside).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// A second report.json to draw side by side with REPORT (REPORT left, this one right)
        /// in beside.png and beside.svg.
        #[arg(long, value_name = "REPORT")]
        beside: Option<PathBuf>,
    },
    /// Shrink a failing run to a smaller scenario that fails the same expectation the same way
    ///
    /// Runs FILE at the seed, picks the failure to keep (the first failing expectation, or the
    /// one --expect names, or else the first unexpected violation), then tries smaller
    /// scenarios: a shorter duration, fewer faults, fewer nodes, events moved sooner, shorter
    /// partition and pause windows, every time halved, fewer workloads, lower rates, fewer
    /// keys, smaller values and datasets. A candidate is kept when its run still fails that
    /// expectation on the same side (a count too high stays too high). The smallest is written
    /// as a scenario file whose first lines say what it still shows and what was removed; it
    /// names the seed, so `replsim run` reproduces it. Bounded by --max-runs and --max-time.
    #[command(
        after_help = "Examples:\n  replsim shrink tests/failing/noisy-failover.toml --out small.toml\n  \
replsim shrink scenario.toml --seed 17 --expect 'master.sync_full' --max-runs 100 --max-time 120\n\n\
Exit codes: 0 a smaller (or the same) failing scenario was written, 2 bad input, or a file that \
fails nothing at that seed."
    )]
    Shrink {
        /// The scenario file (TOML) that fails.
        file: PathBuf,
        /// The seed of the failing run; defaults to the scenario's own `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the smaller scenario; printed on standard output without it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The failure to keep: a failing expectation as the summary writes it
        /// (`master.sync_full == 1`) or a part of it, or a checker with an unexpected violation
        /// (`acked_writes_lost`); defaults to the first failing expectation, else the first
        /// unexpected violation.
        #[arg(long, value_name = "TEXT")]
        expect: Option<String>,
        /// Runs at most, the first one (the original file) included.
        #[arg(long, value_name = "N", default_value_t = 200)]
        max_runs: u64,
        /// Stop searching after this many seconds of wall-clock time, and write the smallest
        /// found so far (a run under way is stopped too). `--max-wall` is the same flag.
        #[arg(long, alias = "max-wall", value_name = "SECONDS", value_parser = parse_seconds, default_value = "600")]
        max_time: f64,
        /// Stop any one run after this many events (a run stopped so does not count as failing).
        #[arg(long, value_name = "N", default_value_t = MAX_EVENTS_DEFAULT)]
        max_events: u64,
        /// No progress bar and no line per change kept.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Show what differs between two reports (report.json or `run --json` output)
    ///
    /// Compares the run (seed, trace hash, time, events, stop, verdict), each node's role, INFO
    /// replication fields, counters, dataset and milestones, each workload's counters, the
    /// checkers' findings, violations, expectations, faults and operator commands. Exit code 0
    /// when nothing differs, 1 when something does, 2 when a file is missing or not a report.
    #[command(
        after_help = "Examples:\n  replsim run scenarios/quickstart.toml --json > a.json\n  \
replsim run scenarios/quickstart.toml --json --set repl-backlog-size=16kb > b.json\n  \
replsim diff a.json b.json\n  replsim diff out/a/report.json out/b/report.json --json"
    )]
    Diff {
        /// The first report.
        a: PathBuf,
        /// The second report.
        b: PathBuf,
        /// Print the differences as JSON (see README) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Measure the engine against a plain BinaryHeap event loop, then whole scenarios end to end
    ///
    /// The engine case alternates replsim's engine and the baseline on the same ping-pong
    /// workload (best of five each) and reports events per second and their ratio, by the wall
    /// clock and by the CPU time of the measuring thread. The end-to-end
    /// cases run 1 master + 2 replicas at 5,000 SET/s and 1 master + 100 replicas at 1,000 SET/s
    /// (100-byte values over 10,000 keys) and report simulated seconds per wall second, each
    /// beside two floors, every case and floor in a fresh process of its own. The keyspace floor
    /// applies the same SETs straight to every node's dataset with no parsing, network or engine:
    /// the least any simulation with real per-node data must do. The wire floor adds the
    /// replication stream's bytes: the master encodes each SET as RESP once and appends it to its
    /// backlog, every replica parses it, applies it and appends it to its own backlog. Then
    /// 1 master + 1,000 replicas at 1,000 SET/s over 1,000 keys, the peak memory of each
    /// end-to-end case, and what an idle replica costs (the peak memory of 1,000 idle replicas
    /// less that of 100, per replica). Rates are given per wall second and per CPU second of the
    /// case's process: on a shared machine the CPU figure moves less.
    Bench {
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Events per measured run.
        #[arg(long, default_value_t = 5_000_000)]
        events: u64,
        /// Connections in the ping-pong workload (each keeps one message in flight).
        #[arg(long, default_value_t = 2_000)]
        connections: u32,
        /// Simulated seconds of the 3-node end-to-end case (1 master + 2 replicas, 5,000 SET/s).
        /// Writes start at 2 s, so at least 3.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(3..))]
        e2e_seconds: u64,
        /// Simulated seconds of the 100-replica end-to-end case (1,000 SET/s). At least 3.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..))]
        e2e_100_seconds: u64,
        /// Simulated seconds of the 1,000-replica end-to-end case (1,000 SET/s over 1,000 keys,
        /// writes from 2 s, when every replica has synced). At least 3.
        #[arg(long, default_value_t = 62, value_parser = clap::value_parser!(u64).range(3..))]
        e2e_1000_seconds: u64,
        /// Measure one case in this process and print its figures as JSON (the bench runs each
        /// end-to-end case and floor in a fresh process of its own this way).
        #[arg(long, value_enum, hide = true)]
        case: Option<BenchCase>,
    },
    /// Run one node on real TCP sockets and the wall clock, beside real Redis servers
    ///
    /// The same node code the simulation runs, replicating from a real Redis (`live replica`)
    /// or serving real Redis replicas (`live master`). Log lines follow Redis's format with
    /// real times. Ctrl-C or SIGTERM stops it. Live nodes hold real keys only: the synthetic
    /// datasets of scenarios do not exist here.
    #[command(after_help = "Examples:\n  \
replsim live replica --master 127.0.0.1:6379 --port 6380\n  \
replsim live master --port 6390 --set redis-version=7.0   # for Redis 7.0 replicas\n\n\
A 7.0 replica cannot load the RDB format of 7.2 (the default profile): give a live master \
--set redis-version=7.0 when its replicas are Redis 7.0.")]
    Live {
        #[command(subcommand)]
        role: LiveRole,
    },
    /// Run random scenarios, one per seed, and report every panic, unbounded run or replica
    /// that never converged
    ///
    /// Each seed writes its own valid scenario: one to eight nodes in chains, random
    /// directives, disk or diskless sync, datasets up to gigabytes, workloads with WAIT and
    /// replica reads, then a chaos phase of every fault kind, a repair (heal, restarts, safe
    /// settings, a star around n0) and a quiet settle period. A seed fails when the run panics,
    /// reaches its event limit, or ends with a replica of a live master that has not converged.
    /// Each failure prints the command that reproduces it.
    #[command(after_help = "Examples:\n  replsim nemesis --seeds 1..1000\n  \
replsim nemesis --seeds 42 --print > nemesis-42.toml && replsim run nemesis-42.toml")]
    Nemesis {
        /// One seed (`42`) or a range (`1..1000`, end excluded; `1..=1000`, end included).
        #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
        seeds: std::ops::Range<u64>,
        /// Print the first seed's scenario file instead of running it.
        #[arg(long)]
        print: bool,
        /// Seeds run at once; defaults to the number of CPUs.
        #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run a scenario at many seeds, and at each value of one directive, and show what the runs
    /// have in common: how many held each expectation (with the command that reproduces each
    /// that did not) and the distribution of lost writes, syncs, convergence time, staleness and
    /// availability
    ///
    /// Each run is deterministic and independent of the others; the runs are spread over
    /// threads and aggregated in seed order, so nothing printed depends on --jobs. --shard and
    /// `sweep merge` spread one sweep over several machines (docs/sweep.md).
    Sweep(sweep::SweepArgs),
    /// Find the smallest (or, with --largest, the largest) value of a directive for which an
    /// expectation holds on every one of K seeds, by bisection over a range
    ///
    /// It assumes the expectation holds from some value of the range on (up to some value, with
    /// --largest), tries both ends, then halves the gap. It prints each value tried with what
    /// the expectation's path found, the answer, and its neighbour on the failing side.
    Advise(sweep::AdviseArgs),
}

/// `42`, `1..1000` (end excluded) or `1..=1000` (end included).
fn parse_seeds(text: &str) -> std::result::Result<std::ops::Range<u64>, String> {
    let bad = || format!("{text:?} is not a seed or a range of seeds like 1..1000");
    match text.split_once("..") {
        Some((a, b)) => {
            let (b, inclusive) = match b.strip_prefix('=') {
                Some(b) => (b, true),
                None => (b, false),
            };
            let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            let b = if inclusive {
                b.checked_add(1).ok_or_else(bad)?
            } else {
                b
            };
            if a >= b {
                return Err(format!("{text}: the range is empty"));
            }
            Ok(a..b)
        }
        None => {
            let a: u64 = text.parse().map_err(|_| bad())?;
            Ok(a..a.saturating_add(1))
        }
    }
}

/// What a live node is: a replica of a real server, or a master real replicas attach to.
#[derive(Subcommand)]
enum LiveRole {
    /// Replicate from a real Redis (or any server speaking its replication protocol) and serve
    /// clients and replicas of your own.
    ///
    /// The node connects to --master, does the handshake and a full or partial sync, applies the
    /// replication stream and listens on --port, where `redis-cli -p PORT INFO replication`,
    /// `GET`, `ROLE` and real replicas of its own work as against a Redis replica.
    #[command(after_help = "Examples:\n  redis-server --port 6379 --save '' &\n  \
replsim live replica --master 127.0.0.1:6379 --port 6380\n  \
redis-cli -p 6380 INFO replication\n  \
replsim live replica --master 127.0.0.1:6379 --set repl-diskless-load=swapdb --logfile replica.log")]
    Replica {
        /// The master to replicate from.
        #[arg(long, value_name = "HOST:PORT")]
        master: String,
        /// Port to listen on for clients and replicas.
        #[arg(long, default_value_t = 6380)]
        port: u16,
        #[command(flatten)]
        common: LiveCommon,
    },
    /// Serve as a master: real replicas attach with `REPLICAOF <host> <port>`, and clients
    /// (redis-cli) write to it.
    #[command(after_help = "Examples:\n  replsim live master --port 6390 &\n  \
redis-cli -p 6390 SET greeting hello\n  \
redis-server --port 6391 --save '' --replicaof 127.0.0.1 6390 &\n  \
redis-cli -p 6391 INFO replication\n  \
replsim live master --port 6390 --set repl-diskless-sync=no --set repl-backlog-size=16mb\n  \
replsim live master --port 6390 --data /var/lib/redis/dump.rdb --set redis-version=7.0")]
    Master {
        /// Port to listen on for clients and replicas.
        #[arg(long, default_value_t = 6379)]
        port: u16,
        #[command(flatten)]
        common: LiveCommon,
    },
}

/// Options every live node takes.
#[derive(clap::Args)]
struct LiveCommon {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Set a redis.conf directive, e.g. --set repl-backlog-size=16mb (repeatable).
    #[arg(long = "set", value_name = "DIRECTIVE=VALUE")]
    set: Vec<String>,
    /// Start from this RDB file (written by Redis: SAVE, BGSAVE or its dump.rdb), keys and
    /// replication history, as Redis loads its dbfilename at startup.
    #[arg(long, value_name = "FILE.rdb")]
    data: Option<PathBuf>,
    /// Append log lines to FILE instead of writing them on stderr.
    #[arg(long, value_name = "FILE")]
    logfile: Option<PathBuf>,
    /// The least severe log level written, as Redis's `loglevel`.
    #[arg(long, value_enum, default_value = "notice")]
    loglevel: LogLevel,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// An end-to-end case or floor of `bench`, each measured in a fresh process: no case runs in a
/// heap that an earlier one (a million freed dataset values, a 400 MB history) left scattered,
/// and each reports its own peak memory.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum BenchCase {
    #[value(name = "e2e-3node")]
    E2e3node,
    #[value(name = "e2e-100replica")]
    E2e100replica,
    #[value(name = "keyspace-floor-3node")]
    KeyspaceFloor3node,
    #[value(name = "keyspace-floor-100replica")]
    KeyspaceFloor100replica,
    #[value(name = "wire-floor-3node")]
    WireFloor3node,
    #[value(name = "wire-floor-100replica")]
    WireFloor100replica,
    #[value(name = "e2e-1000replica")]
    E2e1000replica,
    #[value(name = "idle-100replica")]
    Idle100replica,
    #[value(name = "idle-1000replica")]
    Idle1000replica,
}

/// The simulated lengths of the bench's cases, from its flags.
#[derive(Copy, Clone, Debug)]
struct BenchSeconds {
    three: u64,
    hundred: u64,
    thousand: u64,
}

/// What one case measured in its own process.
#[derive(Copy, Clone, Debug, Default)]
struct CaseFigures {
    /// Simulated seconds per wall second.
    wall_rate: f64,
    /// Simulated seconds per CPU second (user and system) of the process.
    cpu_rate: f64,
    /// The process's peak resident memory.
    peak_rss_mb: f64,
}

impl BenchCase {
    const ALL: [BenchCase; 9] = [
        BenchCase::E2e3node,
        BenchCase::E2e100replica,
        BenchCase::KeyspaceFloor3node,
        BenchCase::KeyspaceFloor100replica,
        BenchCase::WireFloor3node,
        BenchCase::WireFloor100replica,
        BenchCase::E2e1000replica,
        BenchCase::Idle100replica,
        BenchCase::Idle1000replica,
    ];

    /// Runs the case here and returns its figures.
    fn run(self, secs: BenchSeconds) -> CaseFigures {
        use replsim::bench::{e2e_run, keyspace_floor, wire_floor, E2e};
        let (three, hundred) = (
            E2e::three_nodes(secs.three),
            E2e::hundred_replicas(secs.hundred),
        );
        let (t0, cpu0) = (Instant::now(), cpu_seconds());
        let done = match self {
            BenchCase::E2e3node => e2e_run(three),
            BenchCase::E2e100replica => e2e_run(hundred),
            BenchCase::KeyspaceFloor3node => keyspace_floor(three),
            BenchCase::KeyspaceFloor100replica => keyspace_floor(hundred),
            BenchCase::WireFloor3node => wire_floor(three),
            BenchCase::WireFloor100replica => wire_floor(hundred),
            BenchCase::E2e1000replica => e2e_run(E2e::thousand_replicas(secs.thousand)),
            BenchCase::Idle100replica => e2e_run(E2e::idle(100)),
            BenchCase::Idle1000replica => e2e_run(E2e::idle(1000)),
        };
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        let sim = done.sim_time.as_nanos() as f64 / 1e9;
        CaseFigures {
            wall_rate: sim / wall,
            cpu_rate: sim / cpu.max(1e-6),
            peak_rss_mb: peak_rss_mb(),
        }
    }

    fn name(self) -> String {
        self.to_possible_value()
            .expect("no case is skipped")
            .get_name()
            .to_string()
    }

    /// Runs the case in a child process of this executable and reads back its figures.
    fn measure(self, secs: BenchSeconds) -> Result<CaseFigures> {
        let exe = std::env::current_exe().context("finding this executable to run a bench case")?;
        let out = std::process::Command::new(exe)
            .args([
                "bench",
                "--case",
                &self.name(),
                "--e2e-seconds",
                &secs.three.to_string(),
                "--e2e-100-seconds",
                &secs.hundred.to_string(),
                "--e2e-1000-seconds",
                &secs.thousand.to_string(),
            ])
            .stderr(std::process::Stdio::inherit())
            .output()
            .with_context(|| format!("running bench case {}", self.name()))?;
        anyhow::ensure!(
            out.status.success(),
            "bench case {} failed: {}",
            self.name(),
            out.status
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("reading bench case {}'s figures", self.name()))?;
        match (
            v["sim_sec_per_wall_sec"].as_f64(),
            v["sim_sec_per_cpu_sec"].as_f64(),
            v["peak_rss_mb"].as_f64(),
        ) {
            (Some(wall_rate), Some(cpu_rate), Some(peak_rss_mb)) => Ok(CaseFigures {
                wall_rate,
                cpu_rate,
                peak_rss_mb,
            }),
            _ => anyhow::bail!("bench case {} printed no figures: {v}", self.name()),
        }
    }
}

/// The default of `--max-events`: about nine times the events of the largest run the bench makes
/// (1 master and 2 replicas at 5,000 SET/s for a simulated hour: about 54 million) and over 300
/// times the largest bundled scenario's (1.5 million). At the engine's usual 2-15 million events
/// per wall second that is half a minute to four minutes of work.
const MAX_EVENTS_DEFAULT: u64 = 500_000_000;

/// Limits on a run, each a reported outcome when reached: a run that would pass one is refused
/// before it starts (nodes, estimated memory, exit code 2) or stopped where it reached it (events,
/// wall time, memory, exit code 1 with the limit named).
#[derive(clap::Args, Clone, Debug)]
struct LimitArgs {
    /// Stop after this many events.
    #[arg(long, value_name = "N", default_value_t = MAX_EVENTS_DEFAULT)]
    max_events: u64,
    /// Refuse a scenario of more nodes (each holds its own dataset and backlog, and every pair of
    /// nodes a link state).
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    max_nodes: usize,
    /// Refuse a scenario whose run is estimated to need more memory, and stop a run whose
    /// process grows past it (redis.conf notation: 8gb, 512mb). Default: 8gb, or three quarters
    /// of the machine's memory if that is less.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory_limit)]
    max_memory: Option<u64>,
    /// Stop a run after this many seconds of wall-clock time. A run stopped so is not
    /// reproducible: another machine stops it elsewhere.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    max_wall: Option<f64>,
}

fn parse_memory_limit(s: &str) -> std::result::Result<u64, String> {
    match scenario::units::size(s)? {
        0 => Err("the memory limit must be more than 0".into()),
        n => Ok(n),
    }
}

fn parse_seconds(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!(
            "expected a number of seconds above 0, found \"{s}\""
        )),
    }
}

impl LimitArgs {
    fn max_memory_bytes(&self) -> u64 {
        self.max_memory.unwrap_or_else(default_max_memory)
    }
}

/// 8 GB, or three quarters of the machine's memory if that is less: a run may take most of a
/// small machine, never more than it has.
fn default_max_memory() -> u64 {
    const CAP: u64 = 8 << 30;
    let total_kb = fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    total_kb.map_or(CAP, |kb| CAP.min(kb.saturating_mul(1024) / 4 * 3))
}

/// This process's resident memory, from /proc (Linux); `None` where unavailable.
fn rss_bytes() -> Option<u64> {
    use std::io::Read;
    // statm rather than status: a run asks 200 times, and a sweep runs thousands of runs side by
    // side; status is a page of text that `read_to_string` takes in a stat and eight reads, where
    // statm is a line of numbers that one read takes.
    let mut buf = [0u8; 256];
    let n = fs::File::open("/proc/self/statm")
        .ok()?
        .read(&mut buf)
        .ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    // The second field is the resident set, in pages.
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The size of a memory page, which statm counts in.
fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the system; it touches no memory of ours.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// Bytes as gigabytes (or megabytes below one), for messages.
fn gb(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GB", bytes as f64 / f64::from(1u32 << 30))
    } else {
        format!("{:.0} MB", bytes as f64 / f64::from(1u32 << 20))
    }
}

/// An error that exits with code 2: bad input (a scenario, flag or path) or an output that could
/// not be written.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Writes to stdout; a reader that went away (`| head`) ends the program quietly, as it would
/// for a C tool killed by SIGPIPE. Any other failure (a full disk) ends it with code 2: output
/// that did not arrive is no result.
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*).and_then(|()| out.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
            eprintln!("error: writing to standard output: {e}");
            std::process::exit(2);
        }
    }};
}

// After `say!`, which it uses.
#[path = "main/sweep.rs"]
mod sweep;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            file,
            seed,
            json,
            out,
            trace,
            check_invariants,
            set,
            limits,
            quiet,
        } => run_cmd(
            &file,
            seed,
            Outputs {
                json,
                out: out.as_deref(),
                trace,
                check_invariants,
            },
            &set,
            &limits,
            quiet,
        ),
        Command::Check {
            files,
            reports,
            quiet,
            jobs,
            limits,
        } => check_cmd(&files, reports.as_deref(), quiet, jobs, &limits),
        Command::Chart {
            report,
            out,
            beside: None,
        } => chart_cmd(&report, &out),
        Command::Chart {
            report,
            out,
            beside: Some(other),
        } => beside_cmd(&report, &other, &out),
        Command::Diff { a, b, json } => diff_cmd(&a, &b, json),
        Command::Shrink {
            file,
            seed,
            out,
            expect,
            max_runs,
            max_time,
            max_events,
            quiet,
        } => shrink_cmd(
            &file,
            seed,
            out.as_deref(),
            expect,
            max_runs,
            max_time,
            max_events,
            quiet,
        ),
        Command::Bench {
            case: Some(case),
            e2e_seconds,
            e2e_100_seconds,
            e2e_1000_seconds,
            ..
        } => {
            let f = case.run(BenchSeconds {
                three: e2e_seconds,
                hundred: e2e_100_seconds,
                thousand: e2e_1000_seconds,
            });
            say!(
                "{}",
                serde_json::json!({
                    "sim_sec_per_wall_sec": f.wall_rate,
                    "sim_sec_per_cpu_sec": f.cpu_rate,
                    "peak_rss_mb": f.peak_rss_mb,
                })
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            json,
            events,
            connections,
            e2e_seconds,
            e2e_100_seconds,
            e2e_1000_seconds,
            case: None,
        } => bench(
            json,
            events,
            connections,
            BenchSeconds {
                three: e2e_seconds,
                hundred: e2e_100_seconds,
                thousand: e2e_1000_seconds,
            },
        ),
        Command::Live { role } => live_cmd(role),
        Command::Nemesis {
            seeds,
            print,
            jobs,
            quiet,
        } => nemesis_cmd(seeds, print, jobs, quiet),
        Command::Sweep(args) => sweep::sweep_cmd(args),
        Command::Advise(args) => sweep::advise_cmd(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let bad_input = e.downcast_ref::<BadInput>().is_some();
            eprintln!("error: {e:#}");
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

/// `replsim live`: builds the node's options from the flags and runs its loop until a signal.
fn live_cmd(role: LiveRole) -> Result<ExitCode> {
    use replsim::live::{Driver, LogTarget, Options};
    use replsim::redis::log::Level;
    let (replicaof, port, common) = match role {
        LiveRole::Replica {
            master,
            port,
            common,
        } => {
            let (host, mport) = master
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .filter(|(h, _)| !h.is_empty())
                .ok_or_else(|| {
                    BadInput(format!(
                        "--master {master}: expected HOST:PORT, e.g. --master 127.0.0.1:6379"
                    ))
                })?;
            (Some((host, mport)), port, common)
        }
        LiveRole::Master { port, common } => (None, port, common),
    };
    let mut config = replsim::redis::config::Config::default();
    for s in &common.set {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            BadInput(format!(
                "--set {s}: expected DIRECTIVE=VALUE, e.g. --set repl-backlog-size=16mb"
            ))
        })?;
        config
            .set(k.trim(), v.trim(), false)
            .map_err(|e| BadInput(format!("--set {s}: {e}")))?;
    }
    let log = match &common.logfile {
        Some(path) => {
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| BadInput(format!("--logfile {}: {e}", path.display())))?;
            LogTarget::Writer(Box::new(f))
        }
        None => LogTarget::Writer(Box::new(std::io::stderr())),
    };
    let log_level = match common.loglevel {
        LogLevel::Debug => Level::Debug,
        LogLevel::Verbose => Level::Verbose,
        LogLevel::Notice => Level::Notice,
        LogLevel::Warning => Level::Warning,
    };
    let rdb = match &common.data {
        Some(path) => {
            Some(fs::read(path).map_err(|e| BadInput(format!("--data {}: {e}", path.display())))?)
        }
        None => None,
    };
    let data_flag = common
        .data
        .as_ref()
        .map(|p| format!(" (--data {})", p.display()));
    let mut driver = Driver::new(Options {
        bind: common.bind,
        port,
        replicaof,
        rdb,
        config,
        log,
        log_level,
        handle_signals: true,
    })
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => {
            BadInput(format!("{e}{}", data_flag.unwrap_or_default()))
        }
        _ => BadInput(format!("listening on {}:{port}: {e}", common.bind)),
    })?;
    driver
        .run(&mut |_| {})
        .context("the live node's event loop")?;
    Ok(ExitCode::SUCCESS)
}

fn load(file: &Path, set: &[String]) -> Result<Scenario> {
    let text =
        fs::read_to_string(file).map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
    let mut sc =
        scenario::parse(&file.display().to_string(), &text).map_err(|e| BadInput(e.to_string()))?;
    for s in set {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            BadInput(format!(
                "--set {s}: expected DIRECTIVE=VALUE, e.g. --set repl-backlog-size=4mb"
            ))
        })?;
        sc.set_directive(k.trim(), v.trim())
            .map_err(|e| BadInput(format!("--set {s}: {e}")))?;
    }
    Ok(sc)
}

/// What must hold before `sc` runs: its `[expect]` paths exist in the report, and it is within
/// the node and memory limits. Each failure is exit code 2, before any simulated time passes.
fn admit(file: &Path, sc: &Scenario, limits: &LimitArgs) -> Result<()> {
    let nodes = sc.nodes.len();
    if nodes > limits.max_nodes {
        return Err(BadInput(format!(
            "{}: {nodes} nodes, more than --max-nodes {}: every node holds its own dataset and \
             backlog, and every pair of nodes a link state; raise --max-nodes to run it",
            file.display(),
            limits.max_nodes
        ))
        .into());
    }
    let estimate = sim::estimate::memory_estimate(sc);
    let max = limits.max_memory_bytes();
    if estimate.total_bytes() > max {
        let (part, bytes) = estimate.largest();
        let detail = match part {
            sim::estimate::Part::Samples => format!(
                " ({} samples of {} nodes and {} workloads, one every {} over {})",
                replsim::report::summary::group(estimate.samples),
                sc.nodes.len(),
                sc.workloads.len(),
                sc.sample_interval,
                sc.duration
            ),
            sim::estimate::Part::History => format!(
                " ({} writes)",
                replsim::report::summary::group(estimate.writes)
            ),
            _ => String::new(),
        };
        return Err(BadInput(format!(
            "{}: this run would need about {} of memory, more than --max-memory {}: {} would take {}{detail}. \
             Use {}, or raise --max-memory if the machine has the memory",
            file.display(),
            gb(estimate.total_bytes()),
            gb(max),
            part.name(),
            gb(bytes),
            part.remedy()
        ))
        .into());
    }
    replsim::report::expect_paths::check(&file.display().to_string(), sc)
        .map_err(|e| BadInput(e.to_string()))?;
    Ok(())
}

/// A progress bar on stderr that appears once a run has taken about a second, and only on a
/// terminal.
struct Progress {
    bar: Option<ProgressBar>,
    /// Where the bar is drawn when several runs show bars at once.
    multi: Option<MultiProgress>,
    started: Instant,
    enabled: bool,
    total_ms: u64,
    label: String,
}

impl Progress {
    fn new(quiet: bool, total: SimTime, label: &str, multi: Option<MultiProgress>) -> Progress {
        Progress {
            bar: None,
            multi,
            started: Instant::now(),
            enabled: !quiet && std::io::stderr().is_terminal(),
            total_ms: total.as_millis().max(1),
            label: label.to_string(),
        }
    }

    fn update(&mut self, t: SimTime, events: u64) {
        if !self.enabled {
            return;
        }
        let elapsed = self.started.elapsed();
        if self.bar.is_none() && elapsed < Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::new(self.total_ms);
            b.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {msg} eta {eta}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            b.set_prefix(self.label.clone());
            // Start the rate estimate here: otherwise the jump from 0 to the first position
            // reads as one instant's progress and the ETA sits near zero.
            b.set_position(t.as_millis());
            b.reset_eta();
            match &self.multi {
                Some(m) => m.add(b),
                None => b,
            }
        });
        bar.set_position(t.as_millis());
        let rate = events as f64 / elapsed.as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{:.1}s/{:.1}s simulated, {:.2}M events/s",
            t.as_millis() as f64 / 1e3,
            self.total_ms as f64 / 1e3,
            rate / 1e6
        ));
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// Runs `sc` with a progress bar, within `limits`: the event limit inside the simulation, wall
/// time and memory measured here between slices. `stop_early` is asked too: when a trace can no
/// longer be written the run's results are thrown away (exit code 2), so the rest of the run is
/// not worth waiting for, and the reason it is given to stop is never shown.
#[allow(clippy::too_many_arguments)]
fn simulate(
    sc: Scenario,
    seed: u64,
    limits: &LimitArgs,
    options: sim::RunOptions,
    sink: Option<Box<dyn TraceSink>>,
    quiet: bool,
    label: &str,
    multi: Option<MultiProgress>,
    stop_early: &dyn Fn() -> bool,
) -> RunOutput {
    let mut progress = Progress::new(quiet, SimTime::ZERO + sc.duration, label, multi);
    let started = Instant::now();
    let max_wall = limits.max_wall.map(Duration::from_secs_f64);
    let max_memory = limits.max_memory_bytes();
    let out = sim::run_until(sc, seed, limits.max_events, options, sink, &mut |t, ev| {
        progress.update(t, ev);
        if max_wall.is_some_and(|w| started.elapsed() > w) || stop_early() {
            return Some(Interrupt::WallLimit);
        }
        if rss_bytes().is_some_and(|rss| rss > max_memory) {
            return Some(Interrupt::MemoryLimit);
        }
        None
    });
    progress.finish();
    out
}

/// What `run` writes besides the summary.
struct Outputs<'a> {
    json: bool,
    out: Option<&'a Path>,
    trace: bool,
    check_invariants: bool,
}

fn run_cmd(
    file: &Path,
    seed: Option<u64>,
    outputs: Outputs,
    set: &[String],
    limits: &LimitArgs,
    quiet: bool,
) -> Result<ExitCode> {
    let sc = load(file, set)?;
    admit(file, &sc, limits)?;
    let seed = seed.unwrap_or(sc.seed);
    // Everything is written into a staging directory beside the destination and swapped in at
    // the end, so a failed or killed run leaves the previous result whole. The destination is
    // checked now rather than after a long run.
    let staging = outputs.out.map(Staging::new).transpose()?;
    let trace = match (&staging, outputs.trace) {
        (Some(dir), true) => Some(TraceFile::create(&dir.path().join("trace.jsonl"))?),
        _ => None,
    };
    let sink = trace
        .as_ref()
        .map(|t| Box::new(TraceFile::sink(t)) as Box<dyn TraceSink>);
    let name = sc.name.clone();
    let trace_failed = || trace.as_ref().is_some_and(|t| t.borrow().failed());
    // The operation history is kept only for history.jsonl.
    let options = sim::RunOptions {
        history: outputs.out.is_some(),
        full_invariants: outputs.check_invariants,
    };
    let output = simulate(
        sc,
        seed,
        limits,
        options,
        sink,
        quiet,
        &name,
        None,
        &trace_failed,
    );
    if let Some(t) = &trace {
        t.borrow_mut().finish()?;
    }
    let report = replsim::report::build(&output);
    if let Some(staging) = staging {
        write_results(&report, &output, file, staging.path())?;
        staging.commit()?;
    }
    // The summary says why a run stopped early; with --json, stderr does.
    if let Some(line) = replsim::report::summary::stopped_early(&report).filter(|_| outputs.json) {
        eprintln!("replsim: {line}");
    }
    if outputs.json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        say!("{}", replsim::report::summary::render(&report).trim_end());
        if let Some(dir) = outputs.out {
            say!("wrote {}", dir.display());
        }
    }
    let code = if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    // The process ends next and the OS takes the memory back at once. Freeing every node's
    // dataset one value at a time first took about a tenth of a 100-replica run.
    std::mem::forget(output);
    Ok(code)
}

/// Writes a run's report, summary, operation history, node and Sentinel logs, charts and the
/// HTML page that gathers them into `dir`.
fn write_results(report: &Report, output: &RunOutput, source: &Path, dir: &Path) -> Result<()> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        fs::write(&path, bytes).map_err(|e| write_error(&path, &e))
    };
    write(
        "report.json",
        (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
    )?;
    let mut logs = Vec::new();
    let nodes = output.world.node_count();
    for h in 0..nodes + output.world.sentinel_count() {
        let (lines, dropped) = match h.checked_sub(nodes) {
            None => output.world.logs(h),
            Some(j) => output.world.sentinel_logs(j),
        };
        let mut text = String::new();
        for l in lines {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        if dropped > 0 {
            text.push_str(&format!("... {dropped} more lines not kept\n"));
        }
        let host = output.world.scenario.host_name(h);
        write(&format!("{host}.log"), text.as_bytes())?;
        logs.push((host, text));
    }
    write(
        "summary.txt",
        replsim::report::summary::render(report).as_bytes(),
    )?;
    let path = dir.join("history.jsonl");
    let file = fs::File::create(&path).map_err(|e| write_error(&path, &e))?;
    let mut history = std::io::BufWriter::with_capacity(1 << 20, file);
    replsim::report::history::write_jsonl(output, &mut history)
        .and_then(|_| history.flush())
        .map_err(|e| write_error(&path, &e))?;
    let charts = replsim::report::chart::charts(report)
        .map_err(|e| anyhow::anyhow!("drawing charts: {e}"))?;
    for c in &charts {
        write(&format!("{}.png", c.name), &c.png)?;
        write(&format!("{}.svg", c.name), c.svg.as_bytes())?;
    }
    let svgs: Vec<(&str, &str)> = charts.iter().map(|c| (c.name, c.svg.as_str())).collect();
    let logs: Vec<(&str, &str)> = logs.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let source = source.display().to_string();
    let page = replsim::report::html::run_page(&replsim::report::html::RunInputs {
        report,
        source: Some(&source),
        charts: &svgs,
        logs: &logs,
    });
    write("report.html", page.as_bytes())?;
    Ok(())
}

fn chart_cmd(report: &Path, out: &Path) -> Result<ExitCode> {
    let text =
        fs::read_to_string(report).map_err(|e| BadInput(format!("{}: {e}", report.display())))?;
    // A report that lacks a field, or holds one of the wrong type, is refused with the field's
    // name and place: drawing it would show zeros where the data is missing.
    let parsed: Report = serde_json::from_str(&text)
        .map_err(|e| BadInput(format!("{}: not a replsim report: {e}", report.display())))?;
    // A report that cannot be drawn (edited or damaged) is bad input, like an unparsable one.
    let charts = replsim::report::chart::charts(&parsed).map_err(|e| {
        BadInput(format!(
            "{}: cannot draw this report: {e}",
            report.display()
        ))
    })?;
    fs::create_dir_all(out).map_err(|e| write_error(out, &e))?;
    for c in &charts {
        write_atomic(&out.join(format!("{}.png", c.name)), &c.png)?;
        write_atomic(&out.join(format!("{}.svg", c.name)), c.svg.as_bytes())?;
    }
    let names: Vec<&str> = charts.iter().map(|c| c.name).collect();
    say!(
        "wrote {} charts (PNG and SVG) to {}",
        names.join(", "),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `replsim chart A --beside B`: one chart of both runs, side by side.
fn beside_cmd(left: &Path, right: &Path, out: &Path) -> Result<ExitCode> {
    let (a, b) = (read_report(left)?, read_report(right)?);
    // Runs that cannot be compared (other replicas, a damaged timeline) are bad input, as an
    // unparsable report is.
    let chart = replsim::report::chart::beside(&a, &b).map_err(|e| {
        BadInput(format!(
            "{} beside {}: cannot draw them side by side: {e}",
            left.display(),
            right.display()
        ))
    })?;
    fs::create_dir_all(out).map_err(|e| write_error(out, &e))?;
    write_atomic(&out.join("beside.png"), &chart.png)?;
    write_atomic(&out.join("beside.svg"), chart.svg.as_bytes())?;
    say!(
        "wrote beside (PNG and SVG) to {}: {} left, {} right",
        out.display(),
        a.scenario,
        b.scenario
    );
    Ok(ExitCode::SUCCESS)
}

/// `replsim shrink`: the search runs here, each candidate within the wall-clock limit, with a
/// progress bar and a line per change kept on stderr.
#[allow(clippy::too_many_arguments)]
fn shrink_cmd(
    file: &Path,
    seed: Option<u64>,
    out: Option<&Path>,
    expect: Option<String>,
    max_runs: u64,
    max_time: f64,
    max_events: u64,
    quiet: bool,
) -> Result<ExitCode> {
    use replsim::shrink::{self, Cut, Options, Progress};
    let text =
        fs::read_to_string(file).map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
    let sc = load(file, &[])?;
    admit(
        file,
        &sc,
        &LimitArgs {
            max_events,
            max_nodes: 1_000,
            max_memory: None,
            max_wall: Some(max_time),
        },
    )?;
    let seed = seed.unwrap_or(sc.seed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(max_time);
    let mut run = |sc: Scenario, seed: u64| -> Option<Report> {
        if Instant::now() >= deadline {
            return None;
        }
        let output = sim::run_until(
            sc,
            seed,
            max_events,
            sim::RunOptions::default(),
            None,
            &mut |_, _| (Instant::now() >= deadline).then_some(Interrupt::WallLimit),
        );
        (output.stop != sim::Stop::WallLimit).then(|| replsim::report::build(&output))
    };
    let terminal = !quiet && std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let b = ProgressBar::new(max_runs);
        b.set_style(
            ProgressStyle::with_template("shrink [{bar:20}] {pos}/{len} runs {elapsed}  {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        b
    });
    let mut kept = 0;
    let mut progress = |p: &Progress| {
        // Short enough for an 80-column terminal with the bar: a longer line wraps and the bar
        // redraws over itself.
        let line = format!(
            "kept {}: {} nodes, {} faults, {}",
            p.kept, p.size.nodes, p.size.faults, p.size.duration
        );
        if p.kept > kept && !quiet {
            let msg = format!("  run {:>3}: {} ({})", p.runs, p.tried, p.size.describe());
            match &bar {
                Some(b) => b.println(msg),
                None => eprintln!("{msg}"),
            }
        }
        kept = p.kept;
        if let Some(b) = &bar {
            b.set_position(p.runs);
            b.set_message(line);
        }
    };
    let options = Options {
        seed,
        max_runs,
        expect,
    };
    let name = file.display().to_string();
    let outcome = shrink::shrink(&name, &text, &options, &mut run, &mut progress)
        .map_err(|e| BadInput(format!("{}: {e}", file.display())))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    match out {
        Some(path) => write_atomic(path, outcome.text.as_bytes())?,
        None => say!("{}", outcome.text.trim_end()),
    }
    let o = &outcome;
    let report = |line: String| {
        if out.is_some() {
            say!("{line}");
        } else {
            eprintln!("{line}");
        }
    };
    report(format!("still fails: {}", o.target.describe()));
    report(format!("  now: actual {}", o.actual));
    report(format!("original: {}", o.original.describe()));
    report(format!("smallest: {}", o.smallest.describe()));
    report(format!(
        "{} runs in {:.1}s, {} changes kept{}",
        o.runs,
        started.elapsed().as_secs_f64(),
        o.kept.len(),
        match o.cut {
            Some(Cut::Runs) => " (stopped at --max-runs; more may be removable)",
            Some(Cut::Caller) => " (stopped at --max-time; more may be removable)",
            None => "",
        }
    ));
    if let Some(path) = out {
        report(format!(
            "wrote {}; reproduce with: replsim run {}",
            path.display(),
            path.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a report for `diff` and `chart --beside`: a file that is missing, or is not a whole report, is bad input.
fn read_report(path: &Path) -> Result<Report> {
    let text =
        fs::read_to_string(path).map_err(|e| BadInput(format!("{}: {e}", path.display())))?;
    Ok(serde_json::from_str(&text)
        .map_err(|e| BadInput(format!("{}: not a replsim report: {e}", path.display())))?)
}

/// `replsim diff`: exit code 0 when the reports are equal, 1 when they differ.
fn diff_cmd(a: &Path, b: &Path, json: bool) -> Result<ExitCode> {
    let (ra, rb) = (read_report(a)?, read_report(b)?);
    let diffs = replsim::diff::diff(&ra, &rb);
    let (na, nb) = (a.display().to_string(), b.display().to_string());
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&replsim::diff::to_json(&na, &nb, &diffs))?
        );
    } else {
        say!(
            "{}",
            replsim::diff::render(&na, &ra, &nb, &rb, &diffs).trim_end()
        );
    }
    Ok(ExitCode::from(u8::from(!diffs.is_empty())))
}

fn check_cmd(
    files: &[PathBuf],
    reports: Option<&Path>,
    quiet: bool,
    jobs: Option<u16>,
    limits: &LimitArgs,
) -> Result<ExitCode> {
    // Parse and admit everything first: a bad file fails the whole check before any run.
    let scenarios: Vec<(PathBuf, Scenario)> = files
        .iter()
        .map(|f| {
            let sc = load(f, &[])?;
            admit(f, &sc, limits)?;
            Ok((f.clone(), sc))
        })
        .collect::<Result<_>>()?;
    if let Some(root) = reports {
        // Each scenario's reports go to DIR/<name>/: two files of one name would write over
        // each other.
        for (i, (file, sc)) in scenarios.iter().enumerate() {
            if let Some((other, _)) = scenarios[..i].iter().find(|(_, o)| o.name == sc.name) {
                return Err(BadInput(format!("{} and {} are both named \"{}\"; --reports writes each scenario to a directory of its name", other.display(), file.display(), sc.name)).into());
            }
        }
        fs::create_dir_all(root).map_err(|e| write_error(root, &e))?;
    }
    let total = scenarios.len();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = jobs.map_or(cpus, usize::from).clamp(1, total.max(1));
    let multi = MultiProgress::new();
    let queue = std::sync::Mutex::new(scenarios.into_iter().enumerate());
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Checked>)>();
    let mut failed = 0;
    std::thread::scope(|s| -> Result<()> {
        for _ in 0..workers {
            let (queue, tx, multi) = (&queue, tx.clone(), multi.clone());
            s.spawn(move || loop {
                let Some((k, (file, sc))) = queue
                    .lock()
                    .expect("no worker panics holding the queue")
                    .next()
                else {
                    break;
                };
                let label = format!("[{}/{}] {}", k + 1, total, sc.name);
                let res = check_one(&file, sc, reports, quiet, &label, multi.clone(), limits);
                if tx.send((k, res)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Print in file order, each as soon as it and every file before it are done.
        let mut done: Vec<Option<Result<Checked>>> = (0..total).map(|_| None).collect();
        let mut next = 0;
        for (k, res) in rx {
            done[k] = Some(res);
            while let Some(res) = done.get_mut(next).and_then(Option::take) {
                let c = res?;
                multi.suspend(|| {
                    say!(
                        "{} {}",
                        if c.ok { "ok  " } else { "FAIL" },
                        files[next].display()
                    );
                    for line in &c.lines {
                        say!("       {line}");
                    }
                });
                failed += usize::from(!c.ok);
                next += 1;
            }
        }
        Ok(())
    })?;
    say!("{} passed, {} failed", total - failed, failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `replsim nemesis`: runs every seed's scenario on a pool of threads and reports the failures
/// in seed order.
fn nemesis_cmd(
    seeds: std::ops::Range<u64>,
    print: bool,
    jobs: Option<u16>,
    quiet: bool,
) -> Result<ExitCode> {
    use replsim::nemesis::{check, scenario, Verdict};
    if print {
        say!("{}", scenario(seeds.start).trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let started = Instant::now();
    let total = seeds.end - seeds.start;
    let workers = pool::workers(jobs, total.min(1024) as usize);
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} seeds  {msg}  ETA {eta}")
                .expect("a valid template"),
        );
        b
    });
    let mut counts = [0u64; 5];
    let mut failures = Vec::new();
    // A panic is part of the verdict: the default hook would print it from every worker, so it
    // is left to the report below.
    std::panic::set_hook(Box::new(|_| {}));
    pool::run_all(
        seeds.clone(),
        workers,
        &|seed| (seed, check(seed).0),
        &mut |_, (seed, verdict)| {
            let k = match &verdict {
                Verdict::Ok => 0,
                Verdict::Panic(_) => 1,
                Verdict::Unbounded { .. } => 2,
                Verdict::NotLive(_) => 3,
                Verdict::BadScenario(_) => 4,
            };
            counts[k] += 1;
            if !verdict.is_ok() {
                failures.push((seed, verdict));
            }
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(format!("{} failed", failures.len()));
            }
        },
    );
    let _ = std::panic::take_hook();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    failures.sort_by_key(|(seed, _)| *seed);
    for (seed, v) in &failures {
        let what = match v {
            Verdict::Panic(m) => format!("panic: {m}"),
            Verdict::Unbounded { events } => format!("unbounded: reached {events} events"),
            Verdict::NotLive(m) => format!("not converged after the settle: {m}"),
            Verdict::BadScenario(m) => format!("bad scenario: {m}"),
            Verdict::Ok => unreachable!("only failures are listed"),
        };
        say!("seed {seed}: {what}");
        say!("  reproduce: replsim nemesis --seeds {seed}   (scenario: --print)");
    }
    say!(
        "{total} seeds in {:.1}s: {} ok, {} panics, {} unbounded, {} not converged, {} bad scenarios",
        started.elapsed().as_secs_f64(),
        counts[0],
        counts[1],
        counts[2],
        counts[3],
        counts[4]
    );
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// One scenario's verdict for `check`: whether it held, and what to say about each failure.
struct Checked {
    ok: bool,
    lines: Vec<String>,
}

/// Runs one scenario for `check`, writes its reports if asked, and returns its verdict.
fn check_one(
    file: &Path,
    sc: Scenario,
    reports: Option<&Path>,
    quiet: bool,
    label: &str,
    multi: MultiProgress,
    limits: &LimitArgs,
) -> Result<Checked> {
    let seed = sc.seed;
    let out = simulate(
        sc,
        seed,
        limits,
        sim::RunOptions::default(),
        None,
        quiet,
        label,
        Some(multi),
        &|| false,
    );
    let report = replsim::report::build(&out);
    if let Some(root) = reports {
        let dir = root.join(&out.world.scenario.name);
        fs::create_dir_all(&dir).map_err(|e| write_error(&dir, &e))?;
        write_atomic(
            &dir.join("summary.txt"),
            replsim::report::summary::render(&report).as_bytes(),
        )?;
        for c in replsim::report::chart::charts(&report)
            .map_err(|e| anyhow::anyhow!("drawing charts: {e}"))?
        {
            write_atomic(&dir.join(format!("{}.png", c.name)), &c.png)?;
        }
    }
    let mut lines: Vec<String> = replsim::report::summary::stopped_early(&report)
        .into_iter()
        .collect();
    for e in report.expectations.iter().filter(|e| !e.ok) {
        lines.push(format!(
            "expected {}, actual {}  ({}:{})",
            e.expect,
            e.actual,
            file.display(),
            e.line
        ));
    }
    for v in report.violations.iter().filter(|v| !v.expected) {
        lines.push(format!("unexpected violation: {}", v.message));
    }
    Ok(Checked {
        ok: report.ok,
        lines,
    })
}

/// Runs `a` and `b` alternately, `reps` times each, and returns each one's best events per wall
/// second. Alternating keeps a slow patch of a shared machine from landing on one side only.
/// The best rates of `a` and `b` (events per second) over `reps` alternating runs: by the wall
/// clock, and by the CPU time of this thread, which a busy machine moves less (time spent
/// waiting for a core does not count).
fn best_rates(reps: u32, a: impl Fn() -> u64, b: impl Fn() -> u64) -> [Rates; 2] {
    let rate = |f: &dyn Fn() -> u64| {
        let (t0, c0) = (Instant::now(), thread_cpu_seconds());
        let events = f() as f64;
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), thread_cpu_seconds() - c0);
        Rates {
            wall: events / wall,
            cpu: if cpu > 0.0 { events / cpu } else { 0.0 },
        }
    };
    let mut best = [Rates::default(); 2];
    for _ in 0..reps {
        for (best, f) in best.iter_mut().zip([&a as &dyn Fn() -> u64, &b]) {
            let r = rate(f);
            best.wall = best.wall.max(r.wall);
            best.cpu = best.cpu.max(r.cpu);
        }
    }
    best
}

#[derive(Copy, Clone, Debug, Default)]
struct Rates {
    wall: f64,
    cpu: f64,
}

/// CPU time this thread has used, in seconds; 0 where unavailable.
fn thread_cpu_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: clock_gettime writes one `timespec` into the zeroed struct it is given.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9;
        }
    }
    0.0
}

/// CPU time (user and system) this process has used, in seconds; 0 where unavailable.
fn cpu_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage writes one `rusage` into the zeroed struct it is given and reads
        // nothing else.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            return secs(ru.ru_utime) + secs(ru.ru_stime);
        }
    }
    0.0
}

/// Peak resident memory of this process, from /proc (Linux); 0 where unavailable.
fn peak_rss_mb() -> f64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn bench(json: bool, events: u64, connections: u32, secs: BenchSeconds) -> Result<ExitCode> {
    let progress = ProgressBar::new(1 + BenchCase::ALL.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("bench [{bar:20}] {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    progress.set_message("engine ping-pong");
    let p = PingPong {
        events,
        connections,
        ..PingPong::default()
    };
    let [engine, baseline] = best_rates(
        5,
        || engine_pingpong(p).events,
        || baseline_pingpong(p).events,
    );
    let ratio = engine.wall / baseline.wall;
    let ratio_cpu = if baseline.cpu > 0.0 {
        engine.cpu / baseline.cpu
    } else {
        0.0
    };
    let mut figures = [CaseFigures::default(); BenchCase::ALL.len()];
    for (i, case) in BenchCase::ALL.into_iter().enumerate() {
        progress.inc(1);
        progress.set_message(case.name());
        match case.measure(secs) {
            Ok(f) => figures[i] = f,
            Err(e) => {
                progress.abandon();
                return Err(e);
            }
        }
    }
    progress.finish_and_clear();
    let [e2e_3, e2e_100, floor_3, floor_100, wire_3, wire_100, e2e_1000, idle_100, idle_1000] =
        figures;
    let peak = figures
        .iter()
        .map(|f| f.peak_rss_mb)
        .fold(peak_rss_mb(), f64::max);
    // What one more idle replica costs: the difference cancels the process's fixed part.
    let idle_replica_kb = (idle_1000.peak_rss_mb - idle_100.peak_rss_mb) * 1024.0 / 900.0;
    let round1 = |x: f64| (x * 10.0).round() / 10.0;
    if json {
        let v = serde_json::json!({
            "workload": { "connections": p.connections, "nodes": p.nodes, "message_bytes": p.message_bytes, "events": p.events },
            "engine_events_per_sec": engine.wall.round(),
            "baseline_events_per_sec": baseline.wall.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "engine_events_per_cpu_sec": engine.cpu.round(),
            "baseline_events_per_cpu_sec": baseline.cpu.round(),
            "ratio_cpu": (ratio_cpu * 1000.0).round() / 1000.0,
            "e2e_3node_sim_sec_per_wall_sec": round1(e2e_3.wall_rate),
            "e2e_3node_sim_sec_per_cpu_sec": round1(e2e_3.cpu_rate),
            "e2e_3node_sim_seconds": secs.three,
            "e2e_100replica_sim_sec_per_wall_sec": round1(e2e_100.wall_rate),
            "e2e_100replica_sim_sec_per_cpu_sec": round1(e2e_100.cpu_rate),
            "e2e_100replica_sim_seconds": secs.hundred,
            "e2e_1000replica_sim_sec_per_wall_sec": round1(e2e_1000.wall_rate),
            "e2e_1000replica_sim_sec_per_cpu_sec": round1(e2e_1000.cpu_rate),
            "e2e_1000replica_sim_seconds": secs.thousand,
            "keyspace_floor_3node_sim_sec_per_wall_sec": round1(floor_3.wall_rate),
            "keyspace_floor_100replica_sim_sec_per_wall_sec": round1(floor_100.wall_rate),
            "wire_floor_3node_sim_sec_per_wall_sec": round1(wire_3.wall_rate),
            "wire_floor_100replica_sim_sec_per_wall_sec": round1(wire_100.wall_rate),
            "peak_rss_mb": peak.round(),
            "e2e_3node_peak_rss_mb": e2e_3.peak_rss_mb.round(),
            "e2e_100replica_peak_rss_mb": e2e_100.peak_rss_mb.round(),
            "e2e_1000replica_peak_rss_mb": e2e_1000.peak_rss_mb.round(),
            "idle_100replica_peak_rss_mb": idle_100.peak_rss_mb.round(),
            "idle_1000replica_peak_rss_mb": idle_1000.peak_rss_mb.round(),
            "idle_replica_kb": round1(idle_replica_kb),
        });
        say!("{v}");
    } else {
        say!(
            "ping-pong: {} connections over {} nodes, {}-byte messages, {} events",
            p.connections,
            p.nodes,
            p.message_bytes,
            p.events
        );
        say!("{:21}{:>12}  {:>14}", "", "events/s", "(per CPU s)");
        say!(
            "  engine + network   {:>12.0}  ({:>12.0})",
            engine.wall,
            engine.cpu
        );
        say!(
            "  BinaryHeap loop    {:>12.0}  ({:>12.0})",
            baseline.wall,
            baseline.cpu
        );
        say!(
            "  ratio              {:>12.3}  ({:>12.3})",
            ratio,
            ratio_cpu
        );
        say!("end to end, simulated seconds per wall second (per CPU second), beside two floors:");
        say!("  keyspace floor: only every node's dataset writes; wire floor: plus RESP encode, parse and backlogs");
        say!("                                            whole run (per CPU s)   target   keyspace floor   wire floor   share of wire floor");
        let row = |label: String, f: CaseFigures, target: u32, floor: f64, wire: f64| {
            say!(
                "  {label:<42}{:>8.1} ({:>8.1})   {target:>6}   {floor:>14.1}   {wire:>10.1}   {:>18.0}%",
                f.wall_rate,
                f.cpu_rate,
                100.0 * f.wall_rate / wire
            );
        };
        row(
            format!("1 master + 2 replicas, 5000 SET/s, {}s", secs.three),
            e2e_3,
            400,
            floor_3.wall_rate,
            wire_3.wall_rate,
        );
        row(
            format!("1 master + 100 replicas, 1000 SET/s, {}s", secs.hundred),
            e2e_100,
            50,
            floor_100.wall_rate,
            wire_100.wall_rate,
        );
        say!(
            "  {:<42}{:>8.1} ({:>8.1})   {:>6}",
            format!("1 master + 1000 replicas, 1000 SET/s, {}s", secs.thousand),
            e2e_1000.wall_rate,
            e2e_1000.cpu_rate,
            5
        );
        say!(
            "peak memory {:.0} MB (3-node run {:.0} MB, 100-replica run {:.0} MB, 1000-replica run {:.0} MB)",
            peak,
            e2e_3.peak_rss_mb,
            e2e_100.peak_rss_mb,
            e2e_1000.peak_rss_mb
        );
        say!(
            "an idle replica: {:.1} KB (1000 idle replicas {:.0} MB, 100 idle replicas {:.0} MB)",
            idle_replica_kb,
            idle_1000.peak_rss_mb,
            idle_100.peak_rss_mb
        );
    }
    Ok(ExitCode::SUCCESS)
}
