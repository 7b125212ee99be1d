//! Bad input never panics: the bundled scenarios, mutated at random (a value swapped for an edge
//! value, a line dropped or doubled), either fail to parse with an error or run. Each mutant that
//! parses runs for a bounded number of events, so odd but valid settings reach the simulator too.
//! Likewise random operator commands (`kind = "command"` faults) on a chain of three nodes under
//! writes and WAIT: the nodes answer them, with errors where Redis would, and never panic. A
//! rejected file's error points at a line of it; a run's report is complete (every node,
//! workload, expectation and operator command, and it reads back from its JSON as written).

use std::panic;
use std::path::{Path, PathBuf};

use replsim::seed::SeedStream;

/// Values a field might be given by mistake or on purpose: zero, negatives, huge integers, sizes
/// and durations at the edges of their units, and the wrong types.
const EDGE_VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "1.5",
    "true",
    "[]",
    "\"\"",
    "\"x\"",
    "\"0\"",
    "\"-1\"",
    "\"0s\"",
    "\"1ns\"",
    "\"1us\"",
    "\"1ms\"",
    "\"1h\"",
    "\"100000h\"",
    "\"0b\"",
    "\"512mb\"",
    "\"1gb\"",
    "\"100gb\"",
    "\"1tb\"",
    "\"1048576gb\"",
    "65535",
    "65536",
    "10000000",
    "100000000",
    "4294967296",
    "9223372036854775807",
    "\"replica 0 0 0\"",
    "\"normal 1 1 1\"",
];

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("scenarios/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

/// One to three random edits of `text`.
fn mutate(text: &str, rng: &mut SeedStream) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(lines.len() as u64) as usize;
        match rng.below(4) {
            0 | 1 => {
                if let Some((key, _)) = lines[i].split_once(" = ") {
                    lines[i] = format!(
                        "{key} = {}",
                        EDGE_VALUES[rng.below(EDGE_VALUES.len() as u64) as usize]
                    );
                }
            }
            2 if lines.len() > 1 => {
                lines.remove(i);
            }
            _ => {
                let line = lines[i].clone();
                lines.insert(i, line);
            }
        }
    }
    lines.join("\n")
}

#[test]
fn mutated_scenarios_are_rejected_at_a_line_or_run_to_a_complete_report() {
    let texts: Vec<String> = scenario_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("readable scenario"))
        .collect();
    let mut rng = SeedStream::derive(7, "mutated-scenarios");
    let (mut ran, mut rejected) = (0, 0);
    for _ in 0..400 {
        let mutant = mutate(&texts[rng.below(texts.len() as u64) as usize], &mut rng);
        let outcome =
            panic::catch_unwind(|| match replsim::scenario::parse("mutant.toml", &mutant) {
                Ok(sc) => {
                    let seed = sc.seed;
                    let plan = sc.clone();
                    let out = replsim::sim::run(sc, seed, 20_000, None, &mut |_, _| {});
                    assert_complete(&replsim::report::build(&out), &plan, seed);
                    Ok(())
                }
                Err(e) => Err(e),
            });
        match outcome {
            Ok(Ok(())) => ran += 1,
            Ok(Err(e)) => {
                // The error points into the file: its name, a line that exists, a column.
                assert_eq!(e.file, "mutant.toml", "{e}");
                let lines = mutant.lines().count();
                assert!(
                    (1..=lines + 1).contains(&e.line) && e.column >= 1,
                    "{e} points at a line of the {lines}-line file"
                );
                assert!(
                    e.to_string()
                        .starts_with(&format!("mutant.toml:{}:{}: ", e.line, e.column))
                        && !e.message.is_empty(),
                    "{e}"
                );
                rejected += 1;
            }
            Err(_) => panic!("this scenario panicked instead of being rejected or run:\n{mutant}"),
        }
    }
    // Both paths are exercised.
    assert!(ran > 50 && rejected > 50, "ran {ran}, rejected {rejected}");
}

/// Asserts that `report`, from a run of `plan` under `seed`, is complete: it names the
/// scenario, every node and workload, every expectation, every operator command that came
/// before the run stopped, and reads back from its JSON as written.
fn assert_complete(
    report: &replsim::report::Report,
    plan: &replsim::scenario::Scenario,
    seed: u64,
) {
    assert_eq!(
        (report.scenario.as_str(), report.seed),
        (plan.name.as_str(), seed)
    );
    let names = |it: &mut dyn Iterator<Item = &String>| it.cloned().collect::<Vec<_>>();
    let mut nodes = names(&mut plan.nodes.iter().map(|n| &n.name));
    nodes.sort();
    assert_eq!(
        names(&mut report.nodes.keys()),
        nodes,
        "every node is reported"
    );
    let mut workloads = names(&mut plan.workloads.iter().map(|w| &w.name));
    workloads.sort();
    workloads.dedup();
    assert_eq!(names(&mut report.workloads.keys()), workloads);
    assert_eq!(report.expectations.len(), plan.expect.len());
    assert!(report.sim_time_us <= plan.duration.as_micros());
    let ran_by = |strictly: bool| {
        plan.faults
            .iter()
            .filter(|f| matches!(f.kind, replsim::scenario::FaultKind::Command { .. }))
            .filter(|f| {
                let at = f.at.as_micros();
                if strictly {
                    at < report.sim_time_us
                } else {
                    at <= report.sim_time_us
                }
            })
            .count()
    };
    let commands = report.timeline.operator_commands.len();
    assert!(
        (ran_by(true)..=ran_by(false)).contains(&commands),
        "every operator command that ran is reported: {commands}"
    );
    let json = serde_json::to_string(report).expect("a report serialises");
    let back: replsim::report::Report = serde_json::from_str(&json).expect("and reads back");
    assert_eq!(&back, report, "the report reads back as written");
}

/// Words an operator's command might be made of: commands the node knows and some it does not,
/// node names, ports, numbers at the edges, directives and REPLCONF options.
const COMMAND_WORDS: &[&str] = &[
    "SET",
    "GET",
    "DEL",
    "INCR",
    "APPEND",
    "MSET",
    "EXISTS",
    "EXPIRE",
    "PEXPIRE",
    "TTL",
    "FLUSHALL",
    "FLUSHDB",
    "DBSIZE",
    "SELECT",
    "PING",
    "ECHO",
    "AUTH",
    "INFO",
    "ROLE",
    "REPLICAOF",
    "SLAVEOF",
    "WAIT",
    "CONFIG",
    "MULTI",
    "EXEC",
    "REPLCONF",
    "PSYNC",
    "SYNC",
    "NO",
    "ONE",
    "m",
    "r",
    "r2",
    "6379",
    "0",
    "-1",
    "1",
    "99999999999999999999",
    "k",
    "key:1",
    "EX",
    "PX",
    "KEEPTTL",
    "NX",
    "XX",
    "repl-backlog-size",
    "1mb",
    "client-output-buffer-limit",
    "'replica 0 0 0'",
    "repl-timeout",
    "min-replicas-to-write",
    "2",
    "masterauth",
    "requirepass",
    "ack",
    "getack",
    "listening-port",
    "capa",
    "eof",
    "psync2",
    "*",
    "?",
    "''",
];

#[test]
fn random_operator_commands_are_answered_as_the_admin_and_never_panic_a_node() {
    let mut rng = SeedStream::derive(5, "operator-commands");
    for run in 0..300 {
        // Every other setup requires a password (the replicas know it): operator commands must
        // run as the admin all the same.
        let auth = if run % 2 == 1 {
            "requirepass = \"pw\"\nmasterauth = \"pw\"\n"
        } else {
            ""
        };
        let mut faults = String::new();
        for f in 0..1 + rng.below(4) {
            let words: Vec<&str> = (0..1 + rng.below(5))
                .map(|_| COMMAND_WORDS[rng.below(COMMAND_WORDS.len() as u64) as usize])
                .collect();
            let node = ["m", "r", "r2"][rng.below(3) as usize];
            faults.push_str(&format!("[[fault]]\nat = \"{}ms\"\nkind = \"command\"\nnode = \"{node}\"\ncommand = \"{}\"\n", 500 + rng.below(9000) + f, words.join(" ")));
        }
        let text = format!(
            "name = \"f\"\nduration = \"12s\"\n[defaults]\nrepl-diskless-sync-delay = \"0s\"\n{auth}[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[node]]\nname = \"r2\"\nreplicaof = \"r\"\n[[workload]]\ntarget = \"@master\"\nrate = 200\nmix = {{ set = 3, get = 1, incr = 1, append = 1, del = 1 }}\n\
             keys = 50\nwait = {{ replicas = 1, timeout = \"50ms\" }}\n{faults}"
        );
        let sc = replsim::scenario::parse("commands.toml", &text)
            .unwrap_or_else(|e| panic!("a command fault is accepted as written: {e}\n{text}"));
        let plan = sc.clone();
        let outcome = panic::catch_unwind(|| {
            let out = replsim::sim::run(sc, 1, 200_000, None, &mut |_, _| {});
            replsim::report::build(&out)
        });
        let Ok(report) = outcome else {
            panic!("a node panicked on these operator commands:\n{text}");
        };
        assert_complete(&report, &plan, 1);
        // Every command got a reply, or is a WAIT still blocked; none was refused for want of
        // authentication (CONFIG SET requirepass may come first: the operator is the admin).
        for c in &report.timeline.operator_commands {
            match &c.reply {
                Some(reply) => {
                    assert_eq!(c.error, reply.starts_with("(error) "), "{c:?}");
                    assert!(!reply.starts_with("(error) NOAUTH"), "{c:?}\n{text}");
                }
                None => assert!(
                    c.command.to_ascii_uppercase().starts_with("WAIT") && !c.error,
                    "only a WAIT may still be waiting: {c:?}"
                ),
            }
        }
    }
}
