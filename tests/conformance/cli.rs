//! The `replsim live` command itself, as an operator runs it: beside a real master and under a
//! real replica, read with redis-cli, stopped by a signal, refusing bad flags.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::*;

/// A `replsim` child process, killed if the case ends without stopping it.
struct Replsim {
    child: Child,
}

impl Replsim {
    fn start(args: &[&str]) -> Replsim {
        let child = Command::new(env!("CARGO_BIN_EXE_replsim"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting replsim");
        Replsim { child }
    }

    /// Sends `signal` and waits (bounded) for a clean exit; returns its stderr.
    fn stop_with(mut self, signal: &str) -> String {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("running kill");
        assert!(sent.success());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("waiting for replsim") {
                break s;
            }
            assert!(
                start.elapsed() < WAIT,
                "replsim did not exit after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(
            status.success(),
            "replsim exited with {status} after SIG{signal}"
        );
        let mut err = String::new();
        use std::io::Read;
        self.child
            .stderr
            .take()
            .expect("piped")
            .read_to_string(&mut err)
            .expect("reading stderr");
        err
    }
}

impl Drop for Replsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects once the process listens.
fn connect_when_up(port: u16) -> Client {
    let mut c = None;
    wait_until("replsim to listen", || {
        c = Client::try_connect(port).ok();
        c.is_some()
    });
    c.expect("connected")
}

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn live_replica_replicates_a_real_master_and_answers_redis_cli() {
    if !have_redis() {
        return;
    }
    let m = Redis::start(&[]);
    let mut mc = m.client();
    mc.cmd(&["SET", "greeting", "hello"]);
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("replsim-cli-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let logfile = dir.join("replica.log");
    let p = Replsim::start(&[
        "live",
        "replica",
        "--master",
        &format!("127.0.0.1:{}", m.port),
        "--port",
        &port.to_string(),
        "--logfile",
        logfile.to_str().expect("a UTF-8 temp path"),
    ]);
    let mut c = connect_when_up(port);
    mc.cmd(&["INCR", "n"]);
    wait_until("the link up at the master's offset", || {
        let info = c.info("replication");
        info["master_link_status"] == "up"
            && info["slave_repl_offset"] == mc.field("replication", "master_repl_offset")
    });
    assert_eq!(
        c.cmd(&["GET", "greeting"]),
        Reply::Bulk(Some(b"hello".to_vec()))
    );
    // redis-cli, if installed, reads the same.
    if let Some(out) = redis_cli(port, &["INFO", "replication"]) {
        assert!(out.contains("master_link_status:up"), "{out}");
        assert_eq!(
            redis_cli(port, &["GET", "greeting"]).as_deref(),
            Some("hello\n")
        );
    }
    p.stop_with("TERM");
    let log = std::fs::read_to_string(&logfile).expect("the log file");
    let _ = std::fs::remove_dir_all(&dir);
    for want in [
        "MASTER <-> REPLICA sync: Finished with success",
        "# Received SIGTERM scheduling shutdown...",
        "# Redis is now ready to exit, bye bye...",
    ] {
        assert!(log.contains(want), "log lacks {want:?}:\n{log}");
    }
}

#[test]
fn live_master_serves_a_real_replica_and_stops_on_ctrl_c() {
    if !have_redis() {
        return;
    }
    let port = free_port();
    let p = Replsim::start(&[
        "live",
        "master",
        "--port",
        &port.to_string(),
        "--set",
        "repl-diskless-sync-delay=0",
        "--set",
        "redis-version=7.0",
    ]);
    let mut c = connect_when_up(port);
    c.cmd(&["SET", "a", "1"]);
    c.cmd(&["SET", "b", "two", "EX", "1000"]);
    let r = Redis::start(&["--replicaof", "127.0.0.1", &port.to_string()]);
    let mut rc = r.client();
    c.cmd(&["INCR", "a"]);
    wait_until("the real replica in sync", || {
        let info = rc.info("replication");
        info["master_link_status"] == "up"
            && info["slave_repl_offset"] == c.field("replication", "master_repl_offset")
    });
    for k in ["a", "b"] {
        assert_eq!(rc.raw(&["GET", k]), c.raw(&["GET", k]));
    }
    assert_eq!(rc.raw(&["DBSIZE"]), c.raw(&["DBSIZE"]));
    let err = p.stop_with("INT");
    assert!(
        err.contains("# Received SIGINT scheduling shutdown..."),
        "{err}"
    );
}

#[test]
fn live_refuses_bad_flags_with_exit_code_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken_port = taken.local_addr().expect("its address").port().to_string();
    for (args, says) in [
        (
            &["live", "replica", "--master", "nohost"][..],
            "expected HOST:PORT",
        ),
        (&["live", "master", "--set", "nosuch=1"], "Unknown option"),
        (
            &["live", "master", "--set", "repl-timeout"],
            "expected DIRECTIVE=VALUE",
        ),
        (
            &["live", "master", "--port", &taken_port],
            "listening on 127.0.0.1",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_replsim"))
            .args(args)
            .output()
            .expect("running replsim");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn live_master_starts_from_a_data_file_and_refuses_one_it_cannot_load() {
    if !have_redis() {
        return;
    }
    let a = Redis::start(&[]);
    let mut ac = a.client();
    ac.cmd(&["SET", "from-file", "yes"]);
    ac.cmd(&["SAVE"]);
    let rdb = a.dir().join("dump.rdb");
    let port = free_port();
    let p = Replsim::start(&[
        "live",
        "master",
        "--port",
        &port.to_string(),
        "--data",
        rdb.to_str().expect("a UTF-8 temp path"),
    ]);
    let mut c = connect_when_up(port);
    assert_eq!(
        c.cmd(&["GET", "from-file"]),
        Reply::Bulk(Some(b"yes".to_vec()))
    );
    p.stop_with("TERM");
    // A file that is not an RDB: no node starts on it.
    let bad = a.dir().join("not-an.rdb");
    std::fs::write(&bad, b"REDIS0010 this is not an RDB").expect("writing a file");
    let out = Command::new(env!("CARGO_BIN_EXE_replsim"))
        .args(["live", "master", "--port", "0", "--data"])
        .arg(&bad)
        .output()
        .expect("running replsim");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the RDB file cannot be loaded"), "{err}");
}
