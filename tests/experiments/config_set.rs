//! CONFIG SET validation of the replication directives: what a real server accepts, refuses and
//! then reports with CONFIG GET, against a replsim node given the same commands.

use replsim::redis::config::Config;
use replsim::redis::{ClientId, CommandResult, Node, NodeParams};
use replsim::time::SimTime;

use super::harness::*;

/// (directive, value) pairs: good values, edges, and bad ones of every kind.
const CASES: &[(&str, &str)] = &[
    ("repl-backlog-size", "1mb"),
    ("repl-backlog-size", "1"),
    ("repl-backlog-size", "0"),
    ("repl-backlog-size", "-1"),
    ("repl-backlog-size", "16383"),
    ("repl-backlog-size", "1.5mb"),
    ("repl-backlog-size", "abc"),
    ("repl-backlog-size", "2GB"),
    ("repl-backlog-ttl", "0"),
    ("repl-backlog-ttl", "-1"),
    ("repl-timeout", "0"),
    ("repl-timeout", "1"),
    ("repl-timeout", "-5"),
    ("repl-timeout", "10s"),
    ("repl-ping-replica-period", "0"),
    ("repl-ping-replica-period", "5"),
    ("repl-ping-slave-period", "7"),
    ("repl-diskless-sync", "maybe"),
    ("repl-diskless-sync", "NO"),
    ("repl-diskless-sync-delay", "-1"),
    ("repl-diskless-sync-delay", "0"),
    ("repl-diskless-sync-max-replicas", "-1"),
    ("repl-diskless-sync-max-replicas", "3"),
    ("repl-diskless-load", "bogus"),
    ("repl-diskless-load", "swapdb"),
    ("repl-disable-tcp-nodelay", "yes"),
    ("client-output-buffer-limit", "replica 1mb"),
    ("client-output-buffer-limit", "replica 1mb 512kb 60"),
    ("client-output-buffer-limit", "slave 0 0 0"),
    ("client-output-buffer-limit", "bogus 1 2 3"),
    ("client-output-buffer-limit", "replica -1 0 0"),
    ("client-output-buffer-limit", "replica 1mb 512kb x"),
    (
        "client-output-buffer-limit",
        "normal 1 2 3 replica 4mb 2mb 10",
    ),
    ("min-replicas-to-write", "-1"),
    ("min-replicas-to-write", "2"),
    ("min-slaves-max-lag", "-1"),
    ("min-replicas-max-lag", "0"),
    ("replica-serve-stale-data", "x"),
    ("replica-read-only", "no"),
    ("replica-priority", "-1"),
    ("replica-priority", "0"),
    ("replica-announce-ip", "10.1.2.3"),
    ("replica-announce-ip", ""),
    ("replica-announce-port", "70000"),
    ("replica-announce-port", "-1"),
    ("replica-announce-port", "6380"),
    ("masterauth", "secret"),
    ("masteruser", "repl"),
    ("databases", "32"),
    ("save", "1 2 3"),
    ("save", "abc 1"),
    ("save", "900 1 300 10"),
    ("save", ""),
    ("lazyfree-lazy-expire", "yes"),
    ("rdbchecksum", "no"),
    ("no-such-directive", "1"),
    ("REPL-TIMEOUT", "-1"),
    ("Repl-Timeout", "30"),
    ("MIN-SLAVES-TO-WRITE", "x"),
    ("repl-backlog-size", "9223372036854775808"),
    ("repl-timeout", "+5"),
    ("repl-timeout", "007"),
    ("repl-timeout", "2147483648"),
];

/// Whole commands of several pairs: which error wins, duplicates, aliases beside their names,
/// and all-or-nothing. Each is followed by a CONFIG GET of every name it sets, compared as a set
/// of pairs.
const COMMANDS: &[&[&str]] = &[
    &["repl-timeout", "5", "repl-timeout", "6"],
    &["repl-timeout", "5", "REPL-TIMEOUT", "6"],
    &["repl-timeout", "-1", "no-such", "1"],
    &["databases", "8", "no-such", "1"],
    &["no-such", "1", "databases", "8"],
    &["repl-timeout", "7", "repl-backlog-size", "0"],
    &[
        "repl-ping-slave-period",
        "6",
        "repl-ping-replica-period",
        "8",
    ],
    &["min-replicas-to-write", "1", "min-slaves-to-write", "2"],
    &["repl-timeout", "9", "repl-diskless-sync", "maybe"],
];

fn node() -> Node {
    let mut config = Config::default();
    // As the real servers are started: `--save ''`, `--repl-diskless-sync-delay 0`.
    for (name, value) in [
        ("redis-version", "7.0"),
        ("save", ""),
        ("repl-diskless-sync-delay", "0"),
    ] {
        config.set(name, value, false).expect("a startup directive");
    }
    Node::boot(
        SimTime::ZERO,
        NodeParams {
            name: "node".into(),
            ip: "127.0.0.1".into(),
            port: 6379,
            config,
            replicaof: None,
            seed: 1,
        },
        None,
    )
}

fn sim_raw(n: &mut Node, args: &[&str]) -> Vec<u8> {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let CommandResult::Done { reply, .. } = n.handle_command(SimTime::ZERO, ClientId(1), &argv)
    else {
        panic!("CONFIG does not block");
    };
    let mut out = Vec::new();
    reply.encode(&mut out);
    out
}

/// A CONFIG GET reply as sorted (name, value) pairs: Redis lists several matches in the order
/// of a hash table seeded at startup, so only the set of pairs can be compared.
fn get_pairs(b: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Some((Reply::Array(Some(items)), _)) = super::support::parse(b) else {
        panic!("CONFIG GET answers an array: {}", show(b));
    };
    let bulk = |r: &Reply| match r {
        Reply::Bulk(Some(v)) => v.clone(),
        other => panic!("a bulk string: {other:?}"),
    };
    let mut pairs: Vec<_> = items
        .chunks(2)
        .map(|p| (bulk(&p[0]), bulk(&p[1])))
        .collect();
    pairs.sort();
    pairs
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end()
        .replace("\r\n", " ")
        .replace('|', "\\|")
}

#[test]
fn config_set_accepts_refuses_and_reports_replication_directives_like_redis() {
    let Some(_serial) = enabled() else { return };
    let mut report = Report::new("CONFIG SET of replication directives, then CONFIG GET");
    let real = Redis::start(&[]);
    let mut rc = real.client();
    let mut sim = node();
    let mut mismatches = 0;
    for (name, value) in CASES {
        let real_set = rc.raw(&["CONFIG", "SET", name, value]);
        let sim_set = sim_raw(&mut sim, &["CONFIG", "SET", name, value]);
        // What the value became (or stayed): CONFIG GET of the directive's current name.
        let real_get = rc.raw(&["CONFIG", "GET", name]);
        let sim_get = sim_raw(&mut sim, &["CONFIG", "GET", name]);
        let same = real_set == sim_set && real_get == sim_get;
        if !same {
            mismatches += 1;
            report.compare(
                &format!("`CONFIG SET {name} \"{value}\"`"),
                format!("{} → {}", show(&real_set), show(&real_get)),
                format!("{} → {}", show(&sim_set), show(&sim_get)),
                "byte for byte",
                false,
            );
        }
    }
    let mut command_mismatches = 0;
    for pairs in COMMANDS {
        let mut set = vec!["CONFIG", "SET"];
        set.extend_from_slice(pairs);
        let mut get = vec!["CONFIG", "GET"];
        get.extend(pairs.iter().step_by(2));
        let real_set = rc.raw(&set);
        let sim_set = sim_raw(&mut sim, &set);
        let real_get = rc.raw(&get);
        let sim_get = sim_raw(&mut sim, &get);
        if real_set != sim_set || get_pairs(&real_get) != get_pairs(&sim_get) {
            command_mismatches += 1;
            report.compare(
                &format!("`CONFIG SET {}`", pairs.join(" ")),
                format!("{} → {}", show(&real_set), show(&real_get)),
                format!("{} → {}", show(&sim_set), show(&sim_get)),
                "byte for byte",
                false,
            );
        }
    }
    report.compare(
        &format!(
            "{} CONFIG SET commands of several pairs + CONFIG GET",
            COMMANDS.len()
        ),
        "replies",
        "replies",
        "byte for byte (CONFIG GET of several names: as a set)",
        command_mismatches == 0,
    );
    report.compare(
        &format!("{} CONFIG SET + CONFIG GET pairs", CASES.len()),
        "replies",
        "replies",
        "byte for byte",
        mismatches == 0,
    );
    report.finish();
}
