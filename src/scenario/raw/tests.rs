//! Bad input: every malformed scenario gets a clear error with file, line and column, never a
//! panic. One `check` over many small cases.

use super::parse;

const BASE: &str = r#"name = "t"
duration = "60s"

[[node]]
name = "m"

[[node]]
name = "r"
replicaof = "m"
"#;

/// Parses `BASE` with `extra` appended and returns the error text.
fn err_of(extra: &str) -> String {
    let src = format!("{BASE}{extra}");
    match parse("bad.toml", &src) {
        Ok(_) => panic!("expected an error for:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_base_scenario_parses() {
    let s = parse("ok.toml", BASE).unwrap();
    assert_eq!(s.nodes.len(), 2);
    assert_eq!(s.nodes[1].replicaof, Some(0));
}

#[test]
fn malformed_scenarios_name_file_line_column_and_what_was_expected() {
    // (text appended to BASE, expected line:column, a fragment of the message)
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[node]\nname = \"x\"\n",
            "10:8",
            "unclosed array table, expected `]`",
        ),
        ("bogus = 1\n", "10:1", "unknown field `bogus`"),
        (
            "[[workload]]\ntarget = \"nobody\"\nrate = 10\n",
            "11:10",
            "unknown node \"nobody\"; the nodes are: m, r",
        ),
        (
            "[[node]]\nname = \"s\"\nreplicaof = \"s\"\n",
            "12:13",
            "cannot be a replica of itself",
        ),
        (
            "[[node]]\nname = \"x\"\nreplicaof = \"ghost\"\n",
            "12:13",
            "unknown node \"ghost\"",
        ),
        (
            "[[fault]]\nat = \"-5s\"\nkind = \"crash\"\nnode = \"m\"\n",
            "11:6",
            "expected a duration",
        ),
        (
            "[[fault]]\nat = \"90s\"\nkind = \"crash\"\nnode = \"m\"\n",
            "11:6",
            "after the end of the scenario",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"meteor\"\n",
            "12:8",
            "unknown fault kind \"meteor\"",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"crash\"\n",
            "12:8",
            "needs `node = \"...\"`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"pause\"\nnode = \"m\"\n",
            "12:8",
            "a pause needs `duration",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[\"m\"], [\"m\"]]\n",
            "13:10",
            "in two partition groups",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"heal\"\npartition = \"nope\"\n",
            "13:13",
            "no earlier partition is named",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"command\"\nnode = \"m\"\ncommand = \"SET \\\"a\"\n",
            "14:11",
            "unbalanced quotes",
        ),
        (
            "[defaults]\nrepl-backlog-size = \"12 apples\"\n",
            "11:21",
            "memory value",
        ),
        (
            "[defaults]\nrepl-backlog-size = -1\n",
            "11:21",
            "memory value",
        ),
        (
            "[defaults]\nnot-a-directive = 3\n",
            "11:1",
            "unknown directive \"not-a-directive\"",
        ),
        (
            "[defaults]\nrepl-timeout = \"1500ms\"\n",
            "11:16",
            "whole seconds",
        ),
        (
            "[defaults]\nrepl-diskless-sync = \"perhaps\"\n",
            "11:22",
            "'yes' or 'no'",
        ),
        (
            "[network]\nlatency = \"fast\"\n",
            "11:11",
            "latency: expected a duration",
        ),
        (
            "[network]\nbandwidth = \"1gb\"\n",
            "11:13",
            "expected a bandwidth",
        ),
        ("[network]\nloss = \"200%\"\n", "11:8", "over 100%"),
        (
            "[[link]]\nbetween = [\"m\"]\n",
            "11:11",
            "expected two node names",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 0\n",
            "12:8",
            "rate must be between 1 and 10000000, found 0",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\nmix = { set = 1, frobnicate = 2 }\n",
            "13:7",
            "unknown operation \"frobnicate\"",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\nstop = \"2h\"\n",
            "13:8",
            "after the end of the scenario",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\ndistribution = \"gaussian\"\n",
            "13:16",
            "use \"uniform\", \"zipf\" or \"sequential\"",
        ),
        (
            "[expect]\n\"ghost.sync_full\" = 1\n",
            "11:1",
            "neither a node",
        ),
        (
            "[expect]\n\"m.sync_full\" = \">= lots\"\n",
            "11:17",
            "needs a number",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\nkeys = 9223372036854775807\n",
            "13:8",
            "keys must be between 1 and 10000000",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\nmix = { set = 4294967296 }\n",
            "13:15",
            "mix.set must be between 0 and 1000000",
        ),
        (
            "[[node]]\nname = \"x\"\n[node.data]\nkeys = 5000000\nvalue_size = \"1kb\"\n",
            "13:8",
            "would hold more than 2gb on every node",
        ),
        (
            "[[node]]\nname = \"x\"\n[node.data]\nbulk_keys = 10\nbulk_value_size = \"5gb\"\n",
            "14:19",
            "bulk_value_size must be at most 512mb",
        ),
        (
            "[[node]]\nname = \"x\"\n[node.data]\nbulk_keys = 9223372036854775807\n",
            "13:13",
            "make more than 1048576gb (1 PB)",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\nvalue_size = \"10mb\"\n",
            "13:14",
            "1000 keys of 10485760 bytes could hold more than 2gb",
        ),
        ("[[node]]\nname = \"m\"\n", "11:8", "defined twice"),
        (
            "[[node]]\nname = \"bad name\"\n",
            "11:8",
            "must be letters, digits",
        ),
    ];
    assert!(cases.len() >= 20);
    let mut wrong = Vec::new();
    for (extra, pos, fragment) in cases {
        let e = err_of(extra);
        if !e.starts_with(&format!("bad.toml:{pos}: ")) || !e.contains(fragment) {
            wrong.push(format!(
                "{extra:?}\n   expected {pos} {fragment:?}\n   got      {e}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_missing_duration_and_an_empty_file_are_errors() {
    let e = parse("x.toml", "name = \"t\"\n").unwrap_err().to_string();
    assert!(e.contains("missing field `duration`"), "{e}");
    assert!(parse("x.toml", "").is_err());
    let e = parse("x.toml", "name = \"t\"\nduration = \"1s\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one [[node]]"), "{e}");
}

#[test]
fn garbage_never_panics_the_parser() {
    let mut rng = crate::seed::SeedStream::derive(2, "toml-fuzz");
    let pieces = [
        "[[node]]",
        "name = ",
        "\"m\"",
        "[[fault]]",
        "at = ",
        "\"5s\"",
        "kind = ",
        "\"partition\"",
        "groups = [[",
        "]]",
        "\n",
        "[expect]",
        "= 1",
        "duration",
        "replicaof",
        "=",
        "\"",
        "[",
        "{",
        "}",
    ];
    for _ in 0..3000 {
        let n = rng.below(20) as usize;
        let text: String = (0..n)
            .map(|_| pieces[rng.below(pieces.len() as u64) as usize])
            .collect();
        let _ = parse("fuzz.toml", &format!("{BASE}{text}"));
    }
}

#[test]
fn directives_take_redis_notation_and_durations_for_seconds() {
    let s = parse(
        "ok.toml",
        &format!("{BASE}[defaults]\nrepl-backlog-size = \"4mb\"\nrepl-timeout = \"30s\"\nrepl-diskless-sync = false\nclient-output-buffer-limit = \"replica 64mb 16mb 30\"\n"),
    )
    .unwrap();
    let c = &s.nodes[0].config;
    assert_eq!(c.repl_backlog_size, 4 << 20);
    assert_eq!(c.repl_timeout_secs, 30);
    assert!(!c.repl_diskless_sync);
    assert_eq!(c.client_output_buffer_limit_replica.soft_secs, 30);
}
