//! The built-in nemesis: a random but valid scenario from every seed, run and judged.
//!
//! From one seed (its own ChaCha stream, so the same seed gives the same scenario on every
//! machine) [`scenario`] writes a scenario file: one to eight nodes in chains, directives drawn
//! within sane ranges, disk or diskless sync, datasets from empty to gigabytes of synthetic keys,
//! workloads with WAIT and replica reads, and a chaos phase of every fault kind (partitions, link
//! changes, resets, crashes, clean shutdowns and restarts with and without persistence, pauses, REPLICAOF,
//! promotions, CONFIG SET). Then a repair: the partitions heal, links go back to normal, crashed
//! nodes restart, every node gets safe settings, and the topology is rebuilt as a star around
//! `n0`. Then a quiet settle period, long enough for the largest dataset to sync.
//!
//! [`check`] runs it and says what went wrong, if anything: a panic (an internal assertion, on in
//! release), a run that hit its event limit (unbounded), or a replica of a live master that had
//! not converged after the settle (liveness). Each failure names the command that reproduces it.

use std::fmt::Write as _;

use crate::report::{self, Report};
use crate::seed::SeedStream;
use crate::sim::{self, Stop};

/// The most events one nemesis run may take: several times what the largest generated scenario
/// needs; reaching it means the run did not settle.
pub const EVENTS_MAX: u64 = 50_000_000;

/// What a seed's run showed.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Ok,
    /// The generated file did not parse: a bug in the generator or the parser.
    BadScenario(String),
    /// A panic, with its message.
    Panic(String),
    /// The run reached [`EVENTS_MAX`].
    Unbounded {
        events: u64,
    },
    /// After the settle period, some replica of a live master had not converged.
    NotLive(String),
}

impl Verdict {
    pub fn is_ok(&self) -> bool {
        *self == Verdict::Ok
    }
}

/// Node names.
fn name(i: usize) -> String {
    format!("n{i}")
}

/// A size in redis.conf notation.
fn size(bytes: u64) -> String {
    if bytes % (1 << 20) == 0 {
        format!("{}mb", bytes >> 20)
    } else if bytes % 1024 == 0 {
        format!("{}kb", bytes >> 10)
    } else {
        bytes.to_string()
    }
}

struct Gen {
    rng: SeedStream,
}

impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.rng.below(n.max(1))
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }

    /// A directive and a value within sane ranges, for a node's config or a CONFIG SET.
    fn directive(&mut self) -> (String, String) {
        let (k, v) = match self.below(13) {
            0 => (
                "repl-backlog-size",
                size(16 << (10 + self.below(13))), // 16 KB .. 64 MB
            ),
            1 => ("repl-timeout", self.range(2, 60).to_string()),
            2 => ("repl-ping-replica-period", self.range(1, 20).to_string()),
            3 => ("repl-diskless-sync", self.pick(&["yes", "no"]).to_string()),
            4 => ("repl-diskless-sync-delay", self.range(0, 5).to_string()),
            5 => (
                "repl-diskless-load",
                self.pick(&["disabled", "on-empty-db", "swapdb"])
                    .to_string(),
            ),
            6 => {
                let hard = self.pick(&["0", "1mb", "16mb", "256mb"]);
                let soft = self.pick(&["0", "512kb", "8mb", "64mb"]);
                (
                    "client-output-buffer-limit",
                    format!("replica {hard} {soft} {}", self.range(0, 60)),
                )
            }
            7 => ("min-replicas-to-write", self.range(0, 2).to_string()),
            8 => ("min-replicas-max-lag", self.range(1, 10).to_string()),
            9 => (
                "replica-serve-stale-data",
                self.pick(&["yes", "no"]).to_string(),
            ),
            10 => (
                "save",
                self.pick(&["", "3600 1 300 100 60 10000"]).to_string(),
            ),
            11 => (
                "repl-diskless-sync-max-replicas",
                self.range(0, 3).to_string(),
            ),
            _ => ("repl-backlog-ttl", self.range(0, 3600).to_string()),
        };
        (k.to_string(), v)
    }
}

/// The scenario file of `seed`.
pub fn scenario(seed: u64) -> String {
    let mut g = Gen {
        rng: SeedStream::derive(seed, "nemesis"),
    };
    let n = g.range(1, 8) as usize;
    let chaos_s = g.range(10, 60);
    let mut t = String::new();
    let _ = writeln!(t, "name = \"nemesis-{seed}\"");
    let _ = writeln!(
        t,
        "description = \"A random scenario from nemesis seed {seed}: `replsim nemesis --seeds {seed}` reruns it.\""
    );
    let _ = writeln!(t, "seed = {seed}");
    // A dataset that syncs within about 40 s on this network.
    let bandwidth_mbit = [100, 1000, 10_000][g.below(3) as usize];
    let bulk_max_mb = bandwidth_mbit / 8 * 40;
    let bulk_mb = if g.chance(30) {
        g.range(1, bulk_max_mb.min(3_000))
    } else {
        0
    };
    let settle_s = 60 + bulk_mb * 8 * 3 / bandwidth_mbit.max(1);
    let duration_s = chaos_s + 3 + settle_s;
    let _ = writeln!(t, "duration = \"{duration_s}s\"");
    // The network.
    let _ = writeln!(t, "\n[network]");
    let _ = writeln!(t, "latency = \"{}us\"", g.range(50, 5_000));
    let _ = writeln!(t, "bandwidth = \"{bandwidth_mbit}mbit\"");
    if g.chance(20) {
        let _ = writeln!(t, "jitter = \"{}us\"", g.range(1, 2_000));
    }
    let password = g.chance(15).then(|| format!("pw{}", g.below(1000)));
    let mut defaults = std::collections::BTreeMap::new();
    for _ in 0..g.below(4) {
        let (k, v) = g.directive();
        defaults.insert(k, v);
    }
    if let Some(p) = &password {
        defaults.insert("requirepass".into(), p.clone());
        if g.chance(80) {
            defaults.insert("masterauth".into(), p.clone());
        }
    }
    let _ = writeln!(t, "\n[defaults]");
    for (k, v) in defaults {
        let _ = writeln!(t, "{k} = \"{v}\"");
    }
    // Nodes: n0 is a master; each other follows an earlier node (a chain or a star) or is a
    // master of its own.
    for i in 0..n {
        let _ = writeln!(t, "\n[[node]]\nname = \"{}\"", name(i));
        if i > 0 && g.chance(85) {
            let _ = writeln!(t, "replicaof = \"{}\"", name(g.below(i as u64) as usize));
        }
        if g.chance(30) {
            let _ = writeln!(t, "[node.config]");
            let mut config = std::collections::BTreeMap::new();
            for _ in 0..g.range(1, 3) {
                let (k, v) = g.directive();
                config.insert(k, v);
            }
            for (k, v) in config {
                let _ = writeln!(t, "{k} = \"{v}\"");
            }
        }
        if i == 0 && (bulk_mb > 0 || g.chance(50)) {
            let _ = writeln!(t, "[node.data]");
            if bulk_mb > 0 {
                let _ = writeln!(t, "bulk_size = \"{bulk_mb}mb\"");
            }
            let _ = writeln!(t, "keys = {}", g.below(5_000));
        }
    }
    // Workloads run during the chaos only.
    for w in 0..g.below(4) {
        let _ = writeln!(t, "\n[[workload]]\nname = \"w{w}\"");
        let target = if g.chance(70) {
            "@master".to_string()
        } else {
            name(g.below(n as u64) as usize)
        };
        let _ = writeln!(t, "target = \"{target}\"");
        let _ = writeln!(t, "rate = {}", g.range(1, 3_000));
        let _ = writeln!(t, "keys = {}", g.range(1, 10_000));
        let _ = writeln!(t, "value_size = {}", g.range(1, 2_000));
        let _ = writeln!(
            t,
            "mix = {{ set = {}, get = {}, incr = {}, append = {}, del = {} }}",
            g.range(1, 10),
            g.below(10),
            g.below(3),
            g.below(3),
            g.below(3)
        );
        if g.chance(30) {
            let _ = writeln!(
                t,
                "wait = {{ replicas = {}, timeout = \"{}ms\" }}",
                g.below(3),
                g.below(500)
            );
        }
        if g.chance(30) {
            let _ = writeln!(t, "read_from = \"replicas\"");
        }
        let _ = writeln!(t, "timeout = \"{}ms\"", g.range(50, 2_000));
        let _ = writeln!(t, "stop = \"{chaos_s}s\"");
    }
    // The chaos.
    let mut down = vec![false; n];
    let mut open_partitions = 0;
    let mut faults: Vec<(u64, String)> = Vec::new();
    // Times first, then each fault in time order, so that what is down is known at each one.
    let mut times: Vec<u64> = (0..g.below(12))
        .map(|_| g.range(500, chaos_s * 1000 - 500))
        .collect();
    times.sort_unstable();
    for at_ms in times {
        let left_ms = chaos_s * 1000 - at_ms;
        let node = g.below(n as u64) as usize;
        let body = match g.below(9) {
            0 | 1 if n > 1 => {
                // A random split into two groups.
                let mut a = Vec::new();
                let mut b = Vec::new();
                for i in 0..n {
                    if g.chance(50) {
                        a.push(format!("\"{}\"", name(i)));
                    } else {
                        b.push(format!("\"{}\"", name(i)));
                    }
                }
                if a.is_empty() || b.is_empty() {
                    continue;
                }
                let lasting = if g.chance(70) {
                    format!("\nduration = \"{}ms\"", g.range(1, left_ms.max(2) - 1))
                } else {
                    open_partitions += 1;
                    String::new()
                };
                format!(
                    "kind = \"partition\"\ngroups = [[{}], [{}]]\none_way = {}{lasting}",
                    a.join(", "),
                    b.join(", "),
                    g.chance(20)
                )
            }
            2 if n > 1 => {
                let other = (node + 1 + g.below(n as u64 - 1) as usize) % n;
                format!(
                    "kind = \"link\"\nbetween = [\"{}\", \"{}\"]\nlatency = \"{}ms\"\nbandwidth = \"{}mbit\"\nloss = \"{}%\"",
                    name(node),
                    name(other),
                    g.range(0, 200),
                    g.range(1, 10_000),
                    g.below(5)
                )
            }
            3 if n > 1 => {
                let other = (node + 1 + g.below(n as u64 - 1) as usize) % n;
                format!(
                    "kind = \"reset\"\nbetween = [\"{}\", \"{}\"]",
                    name(node),
                    name(other)
                )
            }
            4 => {
                if down[node] {
                    continue;
                }
                down[node] = true;
                // A silent crash, or a clean exit whose host then refuses connections.
                let kind = if g.chance(50) { "crash" } else { "shutdown" };
                format!("kind = \"{kind}\"\nnode = \"{}\"", name(node))
            }
            5 => {
                down[node] = false;
                format!(
                    "kind = \"restart\"\nnode = \"{}\"\npersistence = {}",
                    name(node),
                    g.chance(50)
                )
            }
            6 => format!(
                "kind = \"pause\"\nnode = \"{}\"\nduration = \"{}ms\"",
                name(node),
                g.range(1, left_ms.clamp(2, 20_000) - 1)
            ),
            7 => {
                let cmd = if g.chance(30) {
                    "REPLICAOF NO ONE".to_string()
                } else {
                    format!("REPLICAOF {} 6379", name(g.below(n as u64) as usize))
                };
                format!(
                    "kind = \"command\"\nnode = \"{}\"\ncommand = \"{cmd}\"",
                    name(node)
                )
            }
            _ => {
                let (k, v) = g.directive();
                format!(
                    "kind = \"command\"\nnode = \"{}\"\ncommand = \"CONFIG SET {k} '{v}'\"",
                    name(node)
                )
            }
        };
        faults.push((at_ms, body));
    }
    faults.sort_by_key(|(at, _)| *at);
    // The repair: heal, normal links, every node up, safe settings, a star around n0.
    let repair_ms = chaos_s * 1000;
    if open_partitions > 0 {
        faults.push((repair_ms, "kind = \"heal\"".into()));
    }
    for i in 0..n {
        for j in i + 1..n {
            faults.push((
                repair_ms,
                format!(
                    "kind = \"link\"\nbetween = [\"{}\", \"{}\"]\nlatency = \"250us\"\nbandwidth = \"{bandwidth_mbit}mbit\"\nloss = \"0%\"",
                    name(i),
                    name(j)
                ),
            ));
        }
    }
    for (i, &d) in down.iter().enumerate() {
        if d {
            faults.push((
                repair_ms,
                format!(
                    "kind = \"restart\"\nnode = \"{}\"\npersistence = false",
                    name(i)
                ),
            ));
        }
    }
    let safe = [
        "CONFIG SET repl-timeout 60",
        "CONFIG SET client-output-buffer-limit 'replica 0 0 0'",
        "CONFIG SET repl-ping-replica-period 10",
        "CONFIG SET repl-diskless-sync-delay 1",
        "CONFIG SET requirepass ''",
        "CONFIG SET masterauth ''",
        "CONFIG SET min-replicas-to-write 0",
        "CONFIG SET replica-serve-stale-data yes",
    ];
    for i in 0..n {
        for cmd in safe {
            faults.push((
                repair_ms + 1_000,
                format!(
                    "kind = \"command\"\nnode = \"{}\"\ncommand = \"{cmd}\"",
                    name(i)
                ),
            ));
        }
        let topology = if i == 0 {
            "REPLICAOF NO ONE".to_string()
        } else {
            format!("REPLICAOF {} 6379", name(0))
        };
        faults.push((
            repair_ms + 2_000,
            format!(
                "kind = \"command\"\nnode = \"{}\"\ncommand = \"{topology}\"",
                name(i)
            ),
        ));
    }
    for (at, body) in faults {
        let _ = writeln!(t, "\n[[fault]]\nat = \"{at}ms\"\n{body}");
    }
    t
}

/// Runs seed `seed`'s scenario and judges it.
pub fn check(seed: u64) -> (Verdict, Option<Report>) {
    judge(seed, &scenario(seed))
}

/// Runs scenario `text` at `seed` with every node invariant checked, and judges it as a
/// nemesis run: a panic, the event limit, or a replica of a live master that did not converge
/// is a failure.
pub fn judge(seed: u64, text: &str) -> (Verdict, Option<Report>) {
    let sc = match crate::scenario::parse(&format!("nemesis-{seed}.toml"), text) {
        Ok(sc) => sc,
        Err(e) => return (Verdict::BadScenario(e.to_string()), None),
    };
    let run = std::panic::catch_unwind(move || {
        let options = sim::RunOptions {
            full_invariants: true,
            ..sim::RunOptions::default()
        };
        let out = sim::run_with(sc, seed, EVENTS_MAX, options, None, &mut |_, _| {});
        (out.stop, out.events, report::build(&out))
    });
    let (stop, events, r) = match run {
        Ok(x) => x,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            return (Verdict::Panic(msg), None);
        }
    };
    if stop == Stop::EventLimit {
        return (Verdict::Unbounded { events }, Some(r));
    }
    // Liveness: every replica of a live master converged.
    let live = |n: &Option<String>| {
        n.as_ref()
            .and_then(|n| r.nodes.get(n))
            .is_some_and(|n| n.live().is_some())
    };
    let behind: Vec<String> = r
        .checks
        .convergence
        .replicas
        .iter()
        .filter(|x| !x.converged && live(&x.master))
        .map(|x| {
            format!(
                "{} (master {}, link {}, {} bytes behind)",
                x.replica,
                x.master.as_deref().unwrap_or("-"),
                if x.link_up { "up" } else { "down" },
                x.offset_behind_bytes.unwrap_or(0)
            )
        })
        .collect();
    if !behind.is_empty() {
        return (Verdict::NotLive(behind.join("; ")), Some(r));
    }
    (Verdict::Ok, Some(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_writes_the_same_valid_scenario() {
        for seed in 0..200 {
            let a = scenario(seed);
            assert_eq!(a, scenario(seed), "seed {seed}");
            if let Err(e) = crate::scenario::parse("n.toml", &a) {
                panic!("seed {seed}: {e}\n{a}");
            }
        }
        assert_ne!(scenario(1), scenario(2));
    }
}
