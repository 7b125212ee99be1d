//! Refusals compared byte for byte with a real server in the same situation: READONLY, NOAUTH
//! and WRONGPASS (as replies and as they fail a handshake), MASTERDOWN, NOREPLICAS, WAIT on a
//! replica, bad PSYNC and REPLCONF arguments, command and protocol errors, inline commands.

use super::support::*;

/// Sends `args` to both and wants the same reply bytes; returns them.
fn same(real: &mut Client, ours: &mut Client, args: &[&str]) -> Vec<u8> {
    let (theirs, mine) = (real.raw(args), ours.raw(args));
    assert_eq!(
        String::from_utf8_lossy(&mine),
        String::from_utf8_lossy(&theirs),
        "{args:?}: replsim (left) and Redis (right) differ"
    );
    theirs
}

/// Sends raw bytes to a fresh connection of each and wants the same bytes back until the
/// server closes (protocol errors close the connection).
fn same_until_close(real_port: u16, our_port: u16, bytes: &[u8]) {
    let mut out = Vec::new();
    for port in [real_port, our_port] {
        let mut c = Client::connect(port);
        c.send_bytes(bytes);
        out.push(c.read_to_close());
    }
    assert_eq!(
        String::from_utf8_lossy(&out[1]),
        String::from_utf8_lossy(&out[0]),
        "{:?}: replsim (left) and Redis (right) differ",
        String::from_utf8_lossy(bytes)
    );
}

/// The handshake lines of one attempt of a replica's log: from its "MASTER <-> REPLICA sync
/// started" up to the next one.
fn one_attempt(messages: &[String]) -> Vec<String> {
    let starts: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.as_str() == "MASTER <-> REPLICA sync started")
        .map(|(i, _)| i)
        .collect();
    assert!(starts.len() >= 2, "fewer than two attempts: {messages:?}");
    messages[starts[0]..starts[1]].to_vec()
}

fn redis_messages(log: &str) -> Vec<String> {
    log.lines().map(|l| message(l).to_string()).collect()
}

/// The attempt with the master's port (which differs between the two setups) written `PORT`.
fn without_ports(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| match l.find("127.0.0.1:") {
            Some(i) => {
                let rest = &l[i + 10..];
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                format!("{}127.0.0.1:PORT{}", &l[..i], &rest[digits..])
            }
            None => l,
        })
        .collect()
}

#[test]
fn writes_to_a_replica_are_refused_with_readonly() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let l = Live::replica_of(a.port, &[]);
    let (mut rc, mut lc) = (r.client(), l.client());
    for cmd in [
        &["SET", "k", "v"][..],
        &["INCR", "n"],
        &["DEL", "k"],
        &["FLUSHALL"],
    ] {
        same(&mut rc, &mut lc, cmd);
    }
    same(&mut rc, &mut lc, &["GET", "k"]);
}

#[test]
fn noauth_and_wrongpass_read_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&["--requirepass", "secret"]);
    let l = Live::master(&[("requirepass", "secret")]);
    let (mut ac, mut lc) = (a.client(), l.client());
    for cmd in [
        &["GET", "k"][..],
        &["SET", "k", "v"],
        &["REPLCONF", "listening-port", "1234"],
        &["PSYNC", "?", "-1"],
        &["SYNC"],
        &["AUTH", "wrong"],
        &["AUTH", "default", "wrong"],
        &["AUTH", "someone", "secret"],
        &["AUTH", "secret"],
        &["GET", "k"],
    ] {
        same(&mut ac, &mut lc, cmd);
    }
    // AUTH where no password is set.
    let b = Redis::start(&[]);
    let m = Live::master(&[]);
    same(&mut b.client(), &mut m.client(), &["AUTH", "x"]);
}

#[test]
fn a_replica_without_masterauth_fails_the_handshake_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&["--requirepass", "secret"]);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let l = Live::replica_of(a.port, &[]);
    wait_until("two attempts by each", || {
        l.messages()
            .iter()
            .filter(|m| *m == "MASTER <-> REPLICA sync started")
            .count()
            >= 2
            && r.log().matches("MASTER <-> REPLICA sync started").count() >= 2
    });
    assert_eq!(
        one_attempt(&l.messages()),
        one_attempt(&redis_messages(&r.log())),
        "replsim (left) and Redis (right)"
    );
    assert!(!l.link_up());
}

#[test]
fn a_replica_with_a_wrong_masterauth_fails_the_handshake_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&["--requirepass", "secret"]);
    let r = Redis::start(&[
        "--replicaof",
        "127.0.0.1",
        &a.port.to_string(),
        "--masterauth",
        "nope",
    ]);
    let l = Live::replica_of(a.port, &[("masterauth", "nope")]);
    wait_until("two attempts by each", || {
        l.messages()
            .iter()
            .filter(|m| *m == "MASTER <-> REPLICA sync started")
            .count()
            >= 2
            && r.log().matches("MASTER <-> REPLICA sync started").count() >= 2
    });
    let ours = one_attempt(&l.messages());
    assert_eq!(
        ours,
        one_attempt(&redis_messages(&r.log())),
        "replsim (left) and Redis (right)"
    );
    assert!(ours.contains(
        &"Unable to AUTH to MASTER: -WRONGPASS invalid username-password pair or user is disabled."
            .to_string()
    ));
}

#[test]
fn a_real_replica_sees_the_same_handshake_failures_from_replsim_as_from_redis() {
    if !have_redis() {
        return;
    }
    // The same real replica setup against a real master and a replsim master, both with
    // requirepass: without masterauth, and with a wrong one.
    let a = Redis::start(&["--requirepass", "secret"]);
    let l = Live::master(&[("requirepass", "secret")]);
    for extra in [&[][..], &["--masterauth", "nope"]] {
        let start = |port: u16| {
            let p = port.to_string();
            let mut args = vec!["--replicaof", "127.0.0.1", p.as_str()];
            args.extend_from_slice(extra);
            Redis::start(&args)
        };
        let (to_real, to_ours) = (start(a.port), start(l.port()));
        wait_until("two attempts by each", || {
            [&to_real, &to_ours]
                .iter()
                .all(|r| r.log().matches("MASTER <-> REPLICA sync started").count() >= 2)
        });
        assert_eq!(
            without_ports(one_attempt(&redis_messages(&to_ours.log()))),
            without_ports(one_attempt(&redis_messages(&to_real.log()))),
            "with {extra:?}: a replica of replsim (left) and of Redis (right)"
        );
    }
}

#[test]
fn reads_on_a_disconnected_replica_refuse_with_masterdown() {
    if !have_redis() {
        return;
    }
    let nobody = free_port().to_string();
    let r = Redis::start(&[
        "--replicaof",
        "127.0.0.1",
        &nobody,
        "--replica-serve-stale-data",
        "no",
    ]);
    let l = Live::replica_of(
        nobody.parse().unwrap(),
        &[("replica-serve-stale-data", "no")],
    );
    let (mut rc, mut lc) = (r.client(), l.client());
    for cmd in [
        &["GET", "k"][..],
        &["SET", "k", "v"],
        &["EXISTS", "k"],
        &["DBSIZE"],
        &["PING"],
    ] {
        same(&mut rc, &mut lc, cmd);
    }
    assert!(!matches!(lc.cmd(&["INFO", "replication"]), Reply::Error(_)));
}

#[test]
fn writes_without_enough_good_replicas_refuse_with_noreplicas() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&["--min-replicas-to-write", "1"]);
    let l = Live::master(&[("min-replicas-to-write", "1")]);
    let (mut ac, mut lc) = (a.client(), l.client());
    for cmd in [
        &["SET", "k", "v"][..],
        &["INCR", "n"],
        &["GET", "k"],
        &["PING"],
    ] {
        same(&mut ac, &mut lc, cmd);
    }
}

#[test]
fn wait_on_a_replica_is_refused_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let l = Live::replica_of(a.port, &[]);
    let (mut rc, mut lc) = (r.client(), l.client());
    same(&mut rc, &mut lc, &["WAIT", "1", "0"]);
    same(&mut rc, &mut lc, &["WAIT", "1", "abc"]);
}

#[test]
fn bad_psync_and_sync_arguments_read_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let l = Live::master(&[]);
    // A fresh connection per command: a valid PSYNC would turn the connection into a replica.
    for cmd in [
        &["PSYNC"][..],
        &["PSYNC", "?"],
        &["PSYNC", "?", "abc"],
        &["PSYNC", "?", "1.5"],
        &["PSYNC", "?", "abc", "extra"],
        &["PSYNC", "?", "-1", "FAILOVER"],
        &["SYNC", "extra"],
    ] {
        same(&mut a.client(), &mut l.client(), cmd);
    }
}

#[test]
fn bad_replconf_arguments_read_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let l = Live::master(&[]);
    let (mut ac, mut lc) = (a.client(), l.client());
    let long_host = "h".repeat(300);
    let hostname = "replica-7.example.internal".to_string();
    for cmd in [
        &["REPLCONF", "listening-port", "abc"][..],
        &["REPLCONF", "listening-port", "70000"],
        &["REPLCONF", "nosuch", "1"],
        &["REPLCONF", "capa"],
        &["REPLCONF", "ip-address", &hostname],
        &["REPLCONF", "ip-address", &long_host],
        &["REPLCONF", "capa", "eof", "capa", "psync2"],
        &["REPLCONF"],
    ] {
        same(&mut ac, &mut lc, cmd);
    }
}

#[test]
fn command_errors_read_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let l = Live::master(&[]);
    let (mut ac, mut lc) = (a.client(), l.client());
    for cmd in [
        &["FOO", "a", "b"][..],
        &["GET"],
        &["SELECT", "100"],
        &["SELECT", "abc"],
        &["SET", "k", "v", "EX", "0"],
        &["SET", "k", "v", "EX", "abc"],
        &["SET", "k", "v", "BADOPT"],
        &["SET", "k", "v", "NX", "XX"],
        &["SET", "s", "text"],
        &["INCR", "s"],
        &["INCRBY", "n", "abc"],
        &["EXPIRE", "s", "abc"],
        &["MSET", "a"],
        &["MSET", "a", "1", "b"],
        &["CONFIG", "SET", "repl-timeout", "0"],
        &["CONFIG", "SET", "nosuch", "1"],
        &["ECHO"],
    ] {
        same(&mut ac, &mut lc, cmd);
    }
}

#[test]
fn protocol_errors_close_the_connection_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let l = Live::master(&[]);
    for bytes in [
        &b"*abc\r\n"[..],
        b"*1\r\n+x\r\n",
        b"*1\r\n$-5\r\n",
        b"SET \"a b\r\n",
        b"PING\r\n*x\r\n",
    ] {
        same_until_close(a.port, l.port(), bytes);
    }
}

#[test]
fn inline_commands_work_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let l = Live::master(&[]);
    let mut got = Vec::new();
    for port in [a.port, l.port()] {
        let mut c = Client::connect(port);
        let mut replies = Vec::new();
        for line in [
            &b"PING\r\n"[..],
            b"SET greeting \"hello world\"\r\n",
            b"GET greeting\n",
            b"ECHO 'single quoted'\r\n",
            b"SET bin \"\\x41\\r\\n\"\r\n",
            b"GET bin\r\n",
            b"\r\n  \r\nPING\r\n",
        ] {
            c.send_bytes(line);
            replies.push(c.read_raw());
        }
        got.push(replies);
    }
    assert_eq!(got[1], got[0], "replsim (left) and Redis (right)");
}

/// A HELLO reply with its client id (which differs between two servers) zeroed.
fn without_id(r: Reply) -> Reply {
    match r {
        Reply::Array(Some(mut items)) if items.len() == 14 => {
            items[7] = Reply::Int(0);
            Reply::Array(Some(items))
        }
        other => other,
    }
}

#[test]
fn hello_and_client_read_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let l = Live::master(&[]);
    let (mut ac, mut lc) = (a.client(), l.client());
    for cmd in [
        &["HELLO"][..],
        &["HELLO", "2"],
        &["HELLO", "4"],
        &["HELLO", "abc"],
        &["HELLO", "2", "FOO"],
        &["HELLO", "2", "SETNAME", "bad name"],
        &["HELLO", "2", "SETNAME", "lib"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "a b"],
        &["CLIENT", "SETNAME", "me"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME"],
        &["CLIENT", "FOO"],
        &["CLIENT"],
        &["CLIENT", "SETNAME", ""],
        &["CLIENT", "GETNAME"],
    ] {
        assert_eq!(
            without_id(lc.cmd(cmd)),
            without_id(ac.cmd(cmd)),
            "{cmd:?}: replsim (left)"
        );
    }
    // Both count their connections from the same first id.
    assert_eq!(
        Client::connect(l.port()).cmd(&["CLIENT", "ID"]).int() > 0,
        Client::connect(a.port).cmd(&["CLIENT", "ID"]).int() > 0
    );
    // A known difference: the node speaks RESP2 only, and refuses RESP3 as Redis refuses a
    // version it does not know; clients fall back to RESP2.
    assert!(ac.raw(&["HELLO", "3"]).starts_with(b"%7\r\n"));
    assert_eq!(
        lc.cmd(&["HELLO", "3"]),
        Reply::Error("NOPROTO unsupported protocol version".into())
    );
}

#[test]
fn hello_before_auth_reads_like_redis() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&["--requirepass", "secret"]);
    let l = Live::master(&[("requirepass", "secret")]);
    let (mut ac, mut lc) = (a.client(), l.client());
    for cmd in [
        &["HELLO", "2"][..],
        &["HELLO", "2", "AUTH", "default", "wrong"],
        &["HELLO", "2", "AUTH", "default", "secret", "SETNAME", "x"],
        &["CLIENT", "GETNAME"],
        &["GET", "k"],
    ] {
        assert_eq!(
            without_id(lc.cmd(cmd)),
            without_id(ac.cmd(cmd)),
            "{cmd:?}: replsim (left)"
        );
    }
}
