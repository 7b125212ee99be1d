//! The `replsim` command line. This is the only code that touches files, stdout, the environment,
//! the wall clock or threads.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use replsim::bench::{baseline_pingpong, engine_pingpong, PingPong};

#[derive(Parser)]
#[command(name = "replsim", version, about = "Deterministic simulator of Redis master-replica replication")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the engine's speed against a plain BinaryHeap event loop.
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench { json, events, connections } => bench(json, events, connections),
    }
}

/// Runs `f` `reps` times and returns the best events per wall second.
fn best_rate(reps: u32, f: impl Fn() -> u64) -> f64 {
    let mut best = 0f64;
    for _ in 0..reps {
        let t0 = Instant::now();
        let events = f();
        let secs = t0.elapsed().as_secs_f64();
        best = best.max(events as f64 / secs);
    }
    best
}

fn bench(json: bool, events: u64, connections: u32) -> ExitCode {
    let p = PingPong { events, connections, ..PingPong::default() };
    let engine = best_rate(3, || engine_pingpong(p).events);
    let baseline = best_rate(3, || baseline_pingpong(p).events);
    let ratio = engine / baseline;
    if json {
        let v = serde_json::json!({
            "workload": { "connections": p.connections, "nodes": p.nodes, "message_bytes": p.message_bytes, "events": p.events },
            "engine_events_per_sec": engine.round(),
            "baseline_events_per_sec": baseline.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
        });
        println!("{v}");
    } else {
        println!("ping-pong: {} connections over {} nodes, {}-byte messages, {} events", p.connections, p.nodes, p.message_bytes, p.events);
        println!("  engine + network   {:>12.0} events/s", engine);
        println!("  BinaryHeap loop    {:>12.0} events/s", baseline);
        println!("  ratio              {:>12.3}", ratio);
    }
    ExitCode::SUCCESS
}
