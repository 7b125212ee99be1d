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
            "no partition is named \"nope\"",
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
            "unknown distribution \"gaussian\"; use \"uniform\", \"zipf\" or \"sequential\"",
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
    check_errors(cases);
}

/// Mistakes that parse as TOML and as types but make no sense together: fields of another fault
/// kind, heals with nothing to heal, replication cycles, loss that cannot act, misspelt names.
#[test]
fn inconsistent_scenarios_are_refused_at_the_offending_value() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[fault]]\nat = \"5s\"\nkind = \"crash\"\nnode = \"m\"\nduration = \"3s\"\n",
            "14:12",
            "`duration` does not apply to a crash fault, which takes `node`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"crash\"\nnode = \"m\"\npersistence = true\n",
            "14:15",
            "`persistence` does not apply to a crash fault",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"shutdown\"\nnode = \"m\"\nduration = \"3s\"\n",
            "14:12",
            "`duration` does not apply to a shutdown fault, which takes `node`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"shutdown\"\n",
            "12:8",
            "a shutdown fault needs `node = \"...\"`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"shutdown\"\nnode = \"x\"\n",
            "13:8",
            "unknown node \"x\"",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"shutdwon\"\nnode = \"m\"\n",
            "12:8",
            "did you mean \"shutdown\"",
        ),
        (
            "[[fault]]\nkind = \"crash\"\nnode = \"m\"\n",
            "11:8",
            "a fault needs `at = \"10s\"` or `after = { event = \"link-up\" }`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nafter = { event = \"link-up\" }\nkind = \"crash\"\nnode = \"m\"\n",
            "12:9",
            "either `at` (a time) or `after` (an event), not both",
        ),
        (
            "[[fault]]\nafter = { event = \"link-upp\" }\nkind = \"crash\"\nnode = \"m\"\n",
            "11:19",
            "unknown event \"link-upp\" (did you mean \"link-up\"?)",
        ),
        (
            "[[fault]]\nafter = { event = \"link-up\", node = \"x\" }\nkind = \"crash\"\nnode = \"m\"\n",
            "11:37",
            "unknown node \"x\"",
        ),
        (
            "[[fault]]\nafter = { event = \"+switch-master\" }\nkind = \"crash\"\nnode = \"m\"\n",
            "11:19",
            "comes from a Sentinel, and the scenario has no [[sentinel]]",
        ),
        (
            "[[fault]]\nafter = { event = \"link-up\", occurrence = 0 }\nkind = \"crash\"\nnode = \"m\"\n",
            "11:43",
            "occurrence must be between 1 and 1000000, found 0",
        ),
        (
            "[[fault]]\nafter = { event = \"link-up\", delay = \"soon\" }\nkind = \"crash\"\nnode = \"m\"\n",
            "11:38",
            "delay: ",
        ),
        (
            "[[fault]]\nafter = { event = \"link-up\", delay = \"2m\" }\nkind = \"crash\"\nnode = \"m\"\n",
            "11:38",
            "longer than the scenario",
        ),
        (
            "[[fault]]\nafter = { event = \"link-up\", when = 1 }\nkind = \"crash\"\nnode = \"m\"\n",
            "11:30",
            "unknown field `when`, expected one of `event`, `node`, `delay`, `occurrence`",
        ),
        (
            "[[fault]]\nafter = \"link-up\"\nkind = \"crash\"\nnode = \"m\"\n",
            "11:9",
            "invalid type",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\n",
            "11:8",
            "a script workload needs `commands = [\"SET k v\"]`",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = []\n",
            "13:12",
            "`commands` lists no command",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\nrate = 5\ncommands = [\"PING\"]\n",
            "13:8",
            "`rate` does not apply to a script workload",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"@master\"\ncommands = [\"PING\"]\n",
            "12:10",
            "a script's target is a node by name",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = [\"SET \\\"k v\"]\n",
            "13:13",
            "unbalanced quotes in command",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = [\"  \"]\n",
            "13:13",
            "the command is empty",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = [\"PING\", \"PING\"]\nrepeat = 600000\n",
            "14:10",
            "the script expands to 1200000 commands; at most 1000000",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = [\"PING\"]\nrepeat = 0\n",
            "14:10",
            "repeat must be between 1 and 1000000, found 0",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = [\"PING\"]\nthen = [\"GET k<i>\"]\n",
            "14:9",
            "`then` runs once, after the repetitions: it has no `<i>`",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = [\"PING\"]\nstart = \"2m\"\n",
            "14:9",
            "start (120s) is after the end of the scenario (60s)",
        ),
        (
            "[[workload]]\nkind = \"scripted\"\ntarget = \"m\"\ncommands = [\"PING\"]\n",
            "11:8",
            "unknown workload kind \"scripted\"; the only kind is \"script\"",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\ncommands = [\"PING\"]\n",
            "13:12",
            "`commands` applies to a script workload (kind = \"script\")",
        ),
        (
            "[[workload]]\ntarget = \"m\"\n",
            "11:10",
            "a workload needs `rate = 100`",
        ),
        (
            "[[workload]]\nkind = \"script\"\ntarget = \"m\"\ncommands = \"PING\"\n",
            "13:12",
            "invalid type",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"ROLE\"\n",
            "11:8",
            "a probe needs `at = [\"1s\", \"5s\"]` or `every = \"1s\"`",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"ROLE\"\nat = [\"1s\"]\nevery = \"1s\"\n",
            "13:6",
            "either `at` (a list of times) or `every` (an interval), not both",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"ROLE\"\nat = [\"1s\", \"61s\"]\n",
            "13:13",
            "probe at 61s is after the end of the scenario (60s)",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"ROLE\"\nevery = \"100us\"\n",
            "13:9",
            "too often: at most 100000 replies per probe",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"ROLE\"\nevery = \"0s\"\n",
            "13:9",
            "too often",
        ),
        (
            "[[probe]]\nnode = \"q\"\ncommand = \"ROLE\"\nat = [\"1s\"]\n",
            "11:8",
            "unknown node \"q\"",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"\"\nat = [\"1s\"]\n",
            "12:11",
            "the command is empty",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"INFO\"\nat = []\n",
            "13:6",
            "`at` lists no time",
        ),
        (
            "[[probe]]\nnode = \"m\"\ncommand = \"INFO\"\nat = [\"1s\"]\nonce = true\n",
            "14:1",
            "unknown field `once`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"reset\"\nbetween = [\"m\", \"r\"]\none_way = true\n",
            "14:11",
            "`one_way` does not apply to a reset fault, which takes `between`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"heal\"\nname = \"p\"\n",
            "13:8",
            "`name` does not apply to a heal fault, which takes `partition`",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"partiton\"\n",
            "12:8",
            "unknown fault kind \"partiton\" (did you mean \"partition\"?)",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"heal\"\n",
            "12:8",
            "nothing to heal at 5s: no partition is in force then",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"heal\"\npartition = \"p\"\n\
             [[fault]]\nat = \"10s\"\nkind = \"partition\"\nname = \"p\"\ngroups = [[\"m\"]]\n",
            "13:13",
            "the heal at 5s comes before partition \"p\" starts (10s)",
        ),
        (
            // Later in the file, earlier in time: the timeline applies faults by time.
            "[[fault]]\nat = \"10s\"\nkind = \"partition\"\nname = \"p\"\ngroups = [[\"m\"]]\n\
             [[fault]]\nat = \"5s\"\nkind = \"heal\"\npartition = \"p\"\n",
            "18:13",
            "comes before partition \"p\" starts",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[\"m\"]]\nduration = \"2s\"\n\
             [[fault]]\nat = \"8s\"\nkind = \"heal\"\n",
            "17:8",
            "nothing to heal at 8s",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"partition\"\nname = \"p\"\ngroups = [[\"m\"]]\n\
             [[fault]]\nat = \"6s\"\nkind = \"heal\"\npartition = \"p\"\n\
             [[fault]]\nat = \"7s\"\nkind = \"heal\"\npartition = \"p\"\n",
            "22:13",
            "partition \"p\" is not in force at 7s: it has already ended or been healed",
        ),
        (
            "[[fault]]\nat = \"5s\"\nkind = \"partition\"\nname = \"split\"\ngroups = [[\"m\"]]\n\
             [[fault]]\nat = \"6s\"\nkind = \"heal\"\npartition = \"splt\"\n",
            "18:13",
            "no partition is named \"splt\" (did you mean \"split\"?)",
        ),
        (
            "[[node]]\nname = \"a\"\nreplicaof = \"b\"\n[[node]]\nname = \"b\"\nreplicaof = \"a\"\n",
            "12:13",
            "replication cycle a → b → a",
        ),
        (
            // A chain leading into a loop: reported on the loop, not the chain.
            "[[node]]\nname = \"tail\"\nreplicaof = \"x\"\n[[node]]\nname = \"x\"\nreplicaof = \"y\"\n\
             [[node]]\nname = \"y\"\nreplicaof = \"z\"\n[[node]]\nname = \"z\"\nreplicaof = \"x\"\n",
            "15:13",
            "replication cycle x → y → z → x",
        ),
        (
            "[defaults]\nrepl-backlog-sise = \"1mb\"\n",
            "11:1",
            "unknown directive \"repl-backlog-sise\" (did you mean \"repl-backlog-size\"?)",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\nvalue_sise = 10\n",
            "13:1",
            "unknown field `value_sise`, expected one of",
        ),
        (
            "[[workload]]\ntarget = \"m\"\nrate = 5\nvalue_sise = 10\n",
            "13:1",
            "; did you mean `value_size`?",
        ),
        (
            "[[node]]\nname = \"replica-2\"\nreplicaof = \"m\"\n[[workload]]\ntarget = \"replica2\"\nrate = 5\n",
            "14:10",
            "unknown node \"replica2\" (did you mean \"replica-2\"?); the nodes are: m, r, replica-2",
        ),
        (
            "[network]\nrto = \"0ms\"\nloss = \"1%\"\n",
            "12:8",
            "loss 1% has no effect with [network] rto = \"0ms\"",
        ),
        (
            "[network]\nrto = \"0s\"\n[[link]]\nbetween = [\"m\", \"r\"]\nloss = \"100%\"\n",
            "14:8",
            "loss 100% has no effect",
        ),
        (
            "[network]\nrto = \"0s\"\n[[fault]]\nat = \"1s\"\nkind = \"link\"\nbetween = [\"m\", \"r\"]\nloss = \"5%\"\n",
            "16:8",
            "loss 5% has no effect",
        ),
        (
            "[expect]\n\"chekcs.convergence.converged\" = true\n",
            "11:1",
            "(did you mean \"checks\"?)",
        ),
        (
            "[[fault]]\nat = \"1.5ns\"\nkind = \"crash\"\nnode = \"m\"\n",
            "11:6",
            "finer than a nanosecond",
        ),
        // A warm replica needs a master with a history, no data of its own, and a sync that
        // would succeed.
        (
            "[[node]]\nname = \"w\"\nwarm = true\n",
            "12:8",
            "warm = true starts a replica in sync with its master; give it a replicaof",
        ),
        (
            "[[node]]\nname = \"w\"\nreplicaof = \"r\"\nwarm = true\n",
            "13:8",
            "cannot start in sync with \"r\", which is a replica that is not warm",
        ),
        (
            "[[node]]\nname = \"w\"\nreplicaof = \"m\"\nwarm = true\n[node.data]\nkeys = 5\n",
            "13:8",
            "takes no [node.data] of its own",
        ),
        (
            "[defaults]\nrequirepass = \"s\"\n[[node]]\nname = \"w\"\nreplicaof = \"m\"\nwarm = true\n",
            "15:8",
            "its masterauth is not the password \"m\" requires",
        ),
        (
            "[[node]]\nname = \"w\"\nreplicaof = \"m\"\nwarm = true\n[node.config]\nredis-version = \"7.0\"\n",
            "13:8",
            "cannot load the RDB format of \"m\"",
        ),
        // Redis 8.0's rdb channel is refused under any other release.
        (
            "[[node]]\nname = \"w\"\n[node.config]\nrepl-rdb-channel = \"yes\"\n",
            "11:8",
            "repl-rdb-channel is a Redis 8.0 directive: it needs redis-version \"8.0\", not \"7.2\"",
        ),
        (
            "[[node]]\nname = \"w\"\n[node.config]\nredis-version = \"valkey-8.1\"\nreplica-full-sync-buffer-limit = \"1mb\"\n",
            "11:8",
            "replica-full-sync-buffer-limit is a Redis 8.0 directive: it needs redis-version \"8.0\", not \"valkey-8.1\"",
        ),
    ];
    check_errors(cases);
}

/// Each case's error starts with `bad.toml:<line:column>: ` and contains its fragment.
fn check_errors(cases: &[(&str, &str, &str)]) {
    let mut wrong = Vec::new();
    for (extra, pos, fragment) in cases {
        let e = match parse("bad.toml", &format!("{BASE}{extra}")) {
            Ok(_) => "parsed without an error".to_string(),
            Err(e) => e.to_string(),
        };
        if !e.starts_with(&format!("bad.toml:{pos}: ")) || !e.contains(fragment) {
            wrong.push(format!(
                "{extra:?}\n   expected {pos} {fragment:?}\n   got      {e}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn what_the_consistency_checks_allow_still_parses() {
    // (text appended to BASE): each is valid and must stay so.
    let cases: &[&str] = &[
        // A heal at the very instant a partition's duration ends: the heal still finds it.
        "[[fault]]\nat = \"5s\"\nkind = \"partition\"\nname = \"p\"\ngroups = [[\"m\"]]\nduration = \"2s\"\n\
         [[fault]]\nat = \"7s\"\nkind = \"heal\"\npartition = \"p\"\n",
        // A partition and its heal at the same instant, in that order.
        "[[fault]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[\"m\"]]\n\
         [[fault]]\nat = \"5s\"\nkind = \"heal\"\n",
        // Two partitions, one healed by name and the other by a plain heal.
        "[[fault]]\nat = \"1s\"\nkind = \"partition\"\nname = \"a\"\ngroups = [[\"m\"]]\n\
         [[fault]]\nat = \"2s\"\nkind = \"partition\"\nname = \"b\"\ngroups = [[\"r\"]]\n\
         [[fault]]\nat = \"3s\"\nkind = \"heal\"\npartition = \"a\"\n[[fault]]\nat = \"4s\"\nkind = \"heal\"\n",
        // Warm replicas: of a master, of a warm replica, with the password the master wants,
        // and a plain `warm = false`.
        "[[node]]\nname = \"w\"\nreplicaof = \"m\"\nwarm = true\n\
         [[node]]\nname = \"w2\"\nreplicaof = \"w\"\nwarm = true\n\
         [[node]]\nname = \"c\"\nreplicaof = \"r\"\nwarm = false\n",
        "[defaults]\nrequirepass = \"s\"\nmasterauth = \"s\"\n[[node]]\nname = \"w\"\nreplicaof = \"m\"\nwarm = true\n",
        // A chain is no cycle.
        "[[node]]\nname = \"c\"\nreplicaof = \"r\"\n",
        // Redis 8.0's directives under 8.0, and an 8.0 replica warm from a 7.2 master, whose
        // older RDB format it reads.
        "[[node]]\nname = \"w\"\nreplicaof = \"m\"\nwarm = true\n[node.config]\nredis-version = \"8.0\"\n\
         repl-rdb-channel = \"yes\"\nreplica-full-sync-buffer-limit = \"20mb\"\n",
        // Loss with a retransmission timeout, and rto = 0 with no loss.
        "[network]\nloss = \"1%\"\nrto = \"1ms\"\n",
        "[network]\nrto = \"0s\"\n",
        "[[fault]]\nat = \"2.5s\"\nkind = \"restart\"\nnode = \"m\"\npersistence = false\n",
        "[[fault]]\nat = \"2s\"\nkind = \"shutdown\"\nnode = \"m\"\n\
         [[fault]]\nat = \"3s\"\nkind = \"restart\"\nnode = \"m\"\n",
        // A heal at a time may heal a partition that waits for an event, named or not.
        "[[fault]]\nafter = { event = \"link-up\", node = \"r\" }\nkind = \"partition\"\nname = \"p\"\n\
         groups = [[\"m\"]]\n[[fault]]\nat = \"9s\"\nkind = \"heal\"\npartition = \"p\"\n",
        "[[fault]]\nafter = { event = \"became-master\" }\nkind = \"partition\"\ngroups = [[\"m\"]]\n\
         [[fault]]\nat = \"9s\"\nkind = \"heal\"\n",
        "[[fault]]\nafter = { event = \"write-refused\", node = \"m\", delay = \"1.5s\", occurrence = 3 }\n\
         kind = \"pause\"\nnode = \"r\"\nduration = \"1s\"\n",
    ];
    for extra in cases {
        if let Err(e) = parse("ok.toml", &format!("{BASE}{extra}")) {
            panic!("{extra:?} is valid, got {e}");
        }
    }
    let s = parse(
        "ok.toml",
        &format!("{BASE}[[fault]]\nat = \"2.5s\"\nkind = \"pause\"\nnode = \"m\"\nduration = \"0.75s\"\n"),
    )
    .unwrap();
    assert_eq!(s.faults[0].at.as_nanos(), 2_500_000_000);
    let crate::scenario::FaultKind::Pause { duration, .. } = s.faults[0].kind else {
        panic!("a pause")
    };
    assert_eq!(duration.as_nanos(), 750_000_000);
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
    let s = parse(
        "ok.toml",
        &format!(
            "{BASE}[defaults]\nreplsim-fork-time = \"1.5ms\"\nreplsim-command-time = \"2us\"\n"
        ),
    )
    .unwrap();
    assert_eq!(
        s.nodes[1].config.get("replsim-fork-time").unwrap(),
        "1500us"
    );
    assert_eq!(
        s.nodes[1].config.get("replsim-command-time").unwrap(),
        "2us"
    );
}

/// BASE with two Sentinels monitoring `m` as `mymaster`.
const SENTINELS: &str = "[[sentinel]]\nname = \"s1\"\nmonitor = \"m\"\nquorum = 2\n\
                         [[sentinel]]\nname = \"s2\"\nmonitor = \"m\"\nquorum = 2\n";

#[test]
fn sentinels_parse_with_sentinel_conf_names_and_defaults() {
    let s = parse(
        "ok.toml",
        &format!(
            "{BASE}{SENTINELS}[[sentinel]]\nname = \"s3\"\nmonitor = \"m\"\nmaster_name = \"other\"\nquorum = 1\n\
             down-after-milliseconds = \"5s\"\nfailover-timeout = 60000\nparallel-syncs = 2\n\
             [[workload]]\ntarget = \"sentinel:mymaster\"\nrate = 10\nnear = \"s2\"\n\
             [[workload]]\ntarget = \"sentinel:mymaster\"\nrate = 10\nsentinels = [\"s2\", \"s1\"]\n\
             [[fault]]\nat = \"5s\"\nkind = \"partition\"\ngroups = [[\"m\", \"s1\"]]\n"
        ),
    )
    .unwrap();
    let (a, c) = (&s.sentinels[0], &s.sentinels[2]);
    assert_eq!(
        (a.monitor, a.master_name.as_str(), a.quorum),
        (0, "mymaster", 2)
    );
    assert_eq!(
        (
            a.down_after.as_millis(),
            a.failover_timeout.as_millis(),
            a.parallel_syncs
        ),
        (30_000, 180_000, 1),
        "sentinel.conf's defaults"
    );
    assert_eq!(
        (
            c.master_name.as_str(),
            c.down_after.as_millis(),
            c.failover_timeout.as_millis()
        ),
        ("other", 5_000, 60_000)
    );
    assert_eq!(c.parallel_syncs, 2);
    assert_eq!(s.host_count(), 5);
    assert_eq!(
        s.host_name(2),
        "s1",
        "the Sentinels are hosts after the nodes"
    );
    use crate::scenario::{FaultKind, Target};
    let by_name = |w: usize| match &s.workloads[w].target {
        Target::Sentinel {
            master_name,
            sentinels,
        } => (master_name.clone(), sentinels.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        by_name(0),
        ("mymaster".to_string(), vec![0, 1]),
        "every Sentinel of the name"
    );
    assert_eq!(by_name(1).1, vec![1, 0], "in the order given");
    assert_eq!(s.workloads[0].near, Some(3), "s2 is host 3");
    // A one-group partition cuts the group off from every other host, Sentinels included.
    let FaultKind::Partition { groups, .. } = &s.faults[0].kind else {
        panic!("a partition")
    };
    assert_eq!(groups, &vec![vec![0, 2], vec![1, 3, 4]]);
}

#[test]
fn bad_sentinels_and_sentinel_targets_are_refused_at_their_value() {
    let with = |extra: &str| format!("{SENTINELS}{extra}");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "[[sentinel]]\nname = \"m\"\nmonitor = \"m\"\nquorum = 1\n".into(),
            "11:8",
            "\"m\" is defined twice: nodes and sentinels share one set of names",
        ),
        (
            "[[sentinel]]\nname = \"s\"\nmonitor = \"nobody\"\nquorum = 1\n".into(),
            "12:11",
            "unknown node \"nobody\"",
        ),
        (
            "[[sentinel]]\nname = \"s\"\nmonitor = \"m\"\nquorum = 0\n".into(),
            "13:10",
            "quorum must be between 1 and 1000, found 0",
        ),
        (
            "[[sentinel]]\nname = \"s\"\nmonitor = \"m\"\nquorum = 1\ndown-after-milliseconds = 0\n".into(),
            "14:27",
            "down-after-milliseconds must be more than 0 milliseconds",
        ),
        (
            "[[sentinel]]\nname = \"s\"\nmonitor = \"m\"\nquorum = 1\nfailover-timeout = \"1.5ms\"\n".into(),
            "14:20",
            "failover-timeout is in whole milliseconds",
        ),
        (
            "[[sentinel]]\nname = \"s\"\nmonitor = \"m\"\nquorum = 1\ndown-after = 5000\n".into(),
            "14:1",
            "unknown field `down-after`",
        ),
        (
            "[[sentinel]]\nname = \"s\"\nmonitor = \"m\"\nquorum = 1\nmaster_name = \"a,b\"\n".into(),
            "14:15",
            "must be one word without commas",
        ),
        (
            with("[[sentinel]]\nname = \"s3\"\nmonitor = \"r\"\nquorum = 1\n"),
            "20:11",
            "sentinel \"s1\" monitors \"mymaster\" at node \"m\"",
        ),
        (
            with("[[workload]]\ntarget = \"sentinel:yourmaster\"\nrate = 1\n"),
            "19:10",
            "no [[sentinel]] monitors \"yourmaster\"",
        ),
        (
            "[[workload]]\ntarget = \"sentinel:mymaster\"\nrate = 1\n".into(),
            "11:10",
            "no [[sentinel]] to ask",
        ),
        (
            with("[[workload]]\ntarget = \"m\"\nrate = 1\nsentinels = [\"s1\"]\n"),
            "21:13",
            "`sentinels` applies to a workload whose target is \"sentinel:<master name>\"",
        ),
        (
            with("[[workload]]\ntarget = \"sentinel:mymaster\"\nrate = 1\nsentinels = [\"s9\"]\n"),
            "21:13",
            "unknown sentinel \"s9\"",
        ),
        (
            with("[[workload]]\ntarget = \"m\"\nrate = 1\nnear = \"s4\"\n"),
            "21:8",
            "unknown node or sentinel \"s4\"",
        ),
        (
            with("[[fault]]\nat = \"1s\"\nkind = \"crash\"\nnode = \"s1\"\n"),
            "21:8",
            "\"s1\" is a sentinel; this takes a node",
        ),
        (
            with("[[fault]]\nafter = { event = \"+sdown\", node = \"m\" }\nkind = \"crash\"\nnode = \"m\"\n"),
            "19:36",
            "a Sentinel event is reported by a sentinel, and \"m\" is none; the sentinels are: s1",
        ),
        (
            with("[[fault]]\nafter = { event = \"link-up\", node = \"s1\" }\nkind = \"crash\"\nnode = \"m\"\n"),
            "19:37",
            "\"s1\" is a sentinel; this takes a node",
        ),
    ];
    let cases: Vec<(&str, &str, &str)> =
        cases.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
    check_errors(&cases);
}
