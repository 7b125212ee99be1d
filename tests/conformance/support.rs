//! What the conformance cases stand on: real `redis-server` processes on loopback, a small RESP
//! client that keeps reply bytes as they came, live replsim nodes on threads of their own, and
//! dataset snapshots of both taken the same way.
//!
//! Every wait is bounded: a case that does not converge fails with what it was waiting for.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use replsim::live::{self, Handle, LogTarget, Options};
use replsim::redis::config::Config;
use replsim::redis::log::Level;

/// The longest any single wait of a case may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Where `redis-server` is, if anywhere: `$REDIS_SERVER`, else the first on `$PATH`.
pub fn redis_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// Whether this case can run. Without a server it is skipped with a message, except in CI
/// (`CI=true`), where a missing server is a failure: the suite must not pass by running nothing.
pub fn have_redis() -> bool {
    if redis_server_path().is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "redis-server not found (PATH or $REDIS_SERVER) and CI=true: the conformance suite \
             must run in CI; .ci/run installs redis-server"
        );
    }
    // Written past the test harness's output capture (which takes `eprintln!`), once, so a
    // skipped suite says so in a plain `cargo test`.
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "conformance: skipping every case: redis-server not found on PATH (install it, e.g. \
             `apt-get install redis-server`, or set REDIS_SERVER) to run the suite"
        );
    });
    false
}

/// Where `valkey-server` is, if anywhere: `$VALKEY_SERVER`, else the first on `$PATH`.
pub fn valkey_server_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VALKEY_SERVER") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("valkey-server"))
        .find(|p| p.is_file())
}

/// [`have_redis`] for the Valkey cases: skipped without `valkey-server`, a failure in CI.
pub fn have_valkey() -> bool {
    if valkey_server_path().is_some() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "valkey-server not found (PATH or $VALKEY_SERVER) and CI=true: the Valkey cases \
             must run in CI; .ci/run installs valkey-server"
        );
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "conformance: skipping the Valkey cases: valkey-server not found on PATH (set \
             VALKEY_SERVER, or see .ci/run for how CI installs it)"
        );
    });
    false
}

/// Polls `f` until it holds, for at most [`WAIT`]; panics naming `what` otherwise.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < WAIT,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The ports [`free_port`] picks from when set (first, count), else the kernel's ephemeral
/// range. A shared machine can give its experiments a range of their own this way.
static PORT_RANGE: std::sync::Mutex<Option<(u16, u16, u16)>> = std::sync::Mutex::new(None);

/// From now on, [`free_port`] picks ports in `first .. first + count`, in turn.
// The experiments (tests/experiments.rs, which share this file) set a range; the conformance
// suite keeps the kernel's ephemeral ports.
#[allow(dead_code)]
pub fn use_port_range(first: u16, count: u16) {
    assert!(
        count > 0 && first.checked_add(count).is_some(),
        "a port range within 1..65535"
    );
    *PORT_RANGE.lock().unwrap_or_else(|e| e.into_inner()) = Some((first, count, 0));
}

/// A port nobody listens on right now (released at once): the next free one of the range set by
/// [`use_port_range`], else the kernel's choice.
pub fn free_port() -> u16 {
    let mut range = PORT_RANGE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((first, count, next)) = range.as_mut() {
        for _ in 0..*count {
            let port = *first + *next;
            *next = (*next + 1) % *count;
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return port;
            }
        }
        panic!("no free port in {}..{}", *first, *first + *count);
    }
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

static DIR_SEQ: AtomicU64 = AtomicU64::new(0);

fn temp_dir(tag: &str) -> PathBuf {
    let n = DIR_SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "replsim-conformance-{}-{tag}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}

/// A real `redis-server` child process on 127.0.0.1, killed and its directory removed on drop.
pub struct Redis {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Redis {
    /// Starts a server with `--save ''`, no diskless-sync delay, and `args` (name, value pairs
    /// such as `["--repl-diskless-sync", "no"]`); returns once it answers PING.
    pub fn start(args: &[&str]) -> Redis {
        Redis::start_from(args, None)
    }

    /// A real `valkey-server` ([`have_valkey`] checked), started as [`Redis::start`] starts
    /// `redis-server`.
    // Only the conformance suite's Valkey cases start one; the experiments share this file.
    #[allow(dead_code)]
    pub fn start_valkey(args: &[&str]) -> Redis {
        let exe = valkey_server_path().expect("have_valkey() was checked");
        Redis::start_exe(&exe, args, None)
    }

    /// [`Redis::start`] with `rdb` as its dump.rdb, which it loads at startup.
    pub fn start_from(args: &[&str], rdb: Option<&[u8]>) -> Redis {
        let exe = redis_server_path().expect("have_redis() was checked");
        Redis::start_exe(&exe, args, rdb)
    }

    fn start_exe(exe: &Path, args: &[&str], rdb: Option<&[u8]>) -> Redis {
        // A port picked free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let dir = temp_dir("redis");
            if let Some(bytes) = rdb {
                std::fs::write(dir.join("dump.rdb"), bytes).expect("writing dump.rdb");
            }
            let mut cmd = Command::new(exe);
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(dir.join("redis.log"))
                .args(["--repl-diskless-sync-delay", "0"])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd.spawn().expect("starting redis-server");
            let mut r = Redis { port, child, dir };
            if r.wait_ready() {
                return r;
            }
        }
        panic!("{} did not start on any of 5 ports", exe.display());
    }

    fn wait_ready(&mut self) -> bool {
        let start = Instant::now();
        while start.elapsed() < WAIT {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            // Any reply will do: PING may be refused (NOAUTH, MASTERDOWN) by a server that is
            // up all the same.
            if let Ok(mut c) = Client::try_connect(self.port) {
                c.cmd(&["PING"]);
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// The server's log file so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server (SIGSTOP) until the returned guard is dropped (SIGCONT).
    pub fn freeze(&self) -> RedisFrozen {
        signal(self.child.id(), "STOP");
        RedisFrozen(self.child.id())
    }
}

/// A stopped real server, continued when dropped.
pub struct RedisFrozen(u32);

impl Drop for RedisFrozen {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// Sends `sig` (`STOP`, `CONT`) to process `pid`, one this suite started, as `kill -<sig>`.
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A RESP2 reply, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(s) | Reply::Error(s) => s.clone(),
            Reply::Int(i) => i.to_string(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
}

/// A blocking client that reads one reply per command and can hand back its exact bytes.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap_or_else(|e| panic!("connecting to port {port}: {e}"))
    }

    pub fn try_connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_read_timeout(Some(WAIT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends a command and returns its reply's bytes, exactly as received.
    pub fn raw(&mut self, args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.send_bytes(&out);
        self.read_raw()
    }

    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let raw = self.raw(args);
        parse(&raw).expect("a whole reply was read").0
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("writing to a server");
    }

    /// Reads one whole reply and returns its bytes.
    pub fn read_raw(&mut self) -> Vec<u8> {
        loop {
            if let Some((_, n)) = parse(&self.buf) {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .unwrap_or_else(|e| panic!("reading a reply: {e}"));
            assert!(n > 0, "the server closed the connection before replying");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until the server closes the connection; returns everything received.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = std::mem::take(&mut self.buf);
        let _ = self.stream.read_to_end(&mut all);
        all
    }

    /// INFO `section` as field → value.
    pub fn info(&mut self, section: &str) -> BTreeMap<String, String> {
        info_fields(&self.cmd(&["INFO", section]).text())
    }

    /// The INFO fields in the order they appear.
    pub fn info_ordered(&mut self, section: &str) -> Vec<(String, String)> {
        self.cmd(&["INFO", section])
            .text()
            .lines()
            .filter_map(|l| l.trim_end().split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn field(&mut self, section: &str, name: &str) -> String {
        self.info(section)
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("INFO {section} has no {name}"))
    }

    pub fn offset(&mut self) -> u64 {
        self.field("replication", "master_repl_offset")
            .parse()
            .expect("an integer offset")
    }
}

pub fn info_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses one reply from the front of `b`: the reply and its length, or `None` if incomplete.
pub fn parse(b: &[u8]) -> Option<(Reply, usize)> {
    let nl = b.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&b[1..nl]).ok()?;
    let after = nl + 2;
    match b.first()? {
        b'+' => Some((Reply::Simple(line.into()), after)),
        b'-' => Some((Reply::Error(line.into()), after)),
        b':' => Some((Reply::Int(line.parse().ok()?), after)),
        b'$' => {
            let n: i64 = line.parse().ok()?;
            if n < 0 {
                return Some((Reply::Bulk(None), after));
            }
            let end = after + n as usize;
            (b.len() >= end + 2).then(|| (Reply::Bulk(Some(b[after..end].to_vec())), end + 2))
        }
        // A RESP3 map (`HELLO 3`) reads as an array of its keys and values.
        b'*' | b'%' => {
            let mut n: i64 = line.parse().ok()?;
            if b[0] == b'%' {
                n *= 2;
            }
            if n < 0 {
                return Some((Reply::Array(None), after));
            }
            let mut items = Vec::new();
            let mut at = after;
            for _ in 0..n {
                let (r, len) = parse(&b[at..])?;
                items.push(r);
                at += len;
            }
            Some((Reply::Array(Some(items)), at))
        }
        other => panic!("not a RESP reply: starts with {:?}", *other as char),
    }
}

/// A dataset: (db, key) → (value, absolute expiry in Unix ms).
pub type Dataset = BTreeMap<(usize, Vec<u8>), (Vec<u8>, Option<u64>)>;

/// A real server's dataset, read with KEYS, GET and PEXPIRETIME in every non-empty database.
pub fn real_dataset(c: &mut Client) -> Dataset {
    let mut out = Dataset::new();
    let dbs: Vec<usize> = c
        .info("keyspace")
        .keys()
        .filter_map(|k| k.strip_prefix("db")?.parse().ok())
        .collect();
    for db in dbs {
        assert_eq!(
            c.cmd(&["SELECT", &db.to_string()]),
            Reply::Simple("OK".into())
        );
        let Reply::Array(Some(keys)) = c.cmd(&["KEYS", "*"]) else {
            panic!("KEYS gave no array");
        };
        for k in keys {
            let Reply::Bulk(Some(key)) = k else { continue };
            let key_s = String::from_utf8_lossy(&key).into_owned();
            let Reply::Bulk(Some(value)) = c.cmd(&["GET", &key_s]) else {
                continue;
            };
            let at = c.cmd(&["PEXPIRETIME", &key_s]).int();
            out.insert((db, key), (value, u64::try_from(at).ok()));
        }
    }
    c.cmd(&["SELECT", "0"]);
    out
}

/// Options every live node of the suite shares: the 7.0 profile (the real servers are 7.0),
/// no diskless-sync delay, logs kept in memory.
pub fn live_options(replicaof: Option<u16>, set: &[(&str, &str)]) -> Options {
    let mut config = Config::default();
    config.set("redis-version", "7.0", false).unwrap();
    config.set("repl-diskless-sync-delay", "0", false).unwrap();
    for (k, v) in set {
        config
            .set(k, v, false)
            .unwrap_or_else(|e| panic!("--set {k}={v}: {e}"));
    }
    Options {
        bind: Ipv4Addr::LOCALHOST.into(),
        port: 0,
        replicaof: replicaof.map(|p| ("127.0.0.1".to_string(), p)),
        rdb: None,
        config,
        log: LogTarget::Memory,
        log_level: Level::Verbose,
        handle_signals: false,
    }
}

/// A replsim node on live sockets, on its own thread.
pub struct Live {
    pub handle: Handle,
}

impl Live {
    pub fn replica_of(master_port: u16, set: &[(&str, &str)]) -> Live {
        Live {
            handle: live::spawn(live_options(Some(master_port), set)).expect("starting a node"),
        }
    }

    pub fn master(set: &[(&str, &str)]) -> Live {
        Live {
            handle: live::spawn(live_options(None, set)).expect("starting a node"),
        }
    }

    /// A master started from an RDB file's bytes, as `replsim live master --data FILE`.
    pub fn master_from_rdb(rdb: Vec<u8>, set: &[(&str, &str)]) -> Live {
        let mut opts = live_options(None, set);
        opts.rdb = Some(rdb);
        Live {
            handle: live::spawn(opts).expect("starting a node"),
        }
    }

    pub fn port(&self) -> u16 {
        self.handle.port()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port())
    }

    /// `master_repl_offset` (for a replica: its applied offset as it serves it onward).
    pub fn offset(&self) -> u64 {
        self.handle.with(|d| d.node().master_repl_offset())
    }

    pub fn link_up(&self) -> bool {
        self.handle
            .with(|d| d.node().repl_state() == replsim::redis::ReplState::Connected)
    }

    pub fn dataset(&self) -> Dataset {
        self.handle.with(|d| {
            let mut out = Dataset::new();
            for (i, db) in d.node().keyspace.iter() {
                for (k, e) in db.entries() {
                    out.insert((i, k.to_vec()), (e.value.to_vec(), e.expire_at_ms));
                }
            }
            out
        })
    }

    pub fn logs(&self) -> Vec<String> {
        self.handle.with(|d| d.logs().to_vec())
    }

    /// Log messages without their `pid:role date time level` prefix.
    pub fn messages(&self) -> Vec<String> {
        self.logs().iter().map(|l| message(l).to_string()).collect()
    }

    pub fn has_log(&self, fragment: &str) -> bool {
        self.logs().iter().any(|l| l.contains(fragment))
    }

    /// Stops the node's loop (as SIGSTOP would) until the returned guard is dropped, for at
    /// most [`WAIT`].
    pub fn freeze(&self) -> Frozen {
        let (release, held) = mpsc::channel::<()>();
        let (entered_tx, entered) = mpsc::channel::<()>();
        self.handle.post(move |_| {
            let _ = entered_tx.send(());
            let _ = held.recv_timeout(WAIT);
        });
        entered.recv_timeout(WAIT).expect("the node froze");
        Frozen {
            release: Some(release),
        }
    }
}

pub struct Frozen {
    release: Option<mpsc::Sender<()>>,
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}

/// The message of a Redis log line: what follows `pid:role dd Mon yyyy hh:mm:ss.mmm X `
/// (the level symbol `X`).
pub fn message(line: &str) -> &str {
    line.splitn(7, ' ').nth(6).unwrap_or(line)
}

/// Real and replsim datasets equal, with offsets: waits until the replica's offset reaches the
/// master's, then compares the two datasets, and retries (bounded) if the master moved meanwhile
/// (a PING, an expiry).
pub fn converge(
    what: &str,
    master_offset: &mut dyn FnMut() -> u64,
    replica_offset: &mut dyn FnMut() -> u64,
    master_data: &mut dyn FnMut() -> Dataset,
    replica_data: &mut dyn FnMut() -> Dataset,
) -> (u64, Dataset) {
    let start = Instant::now();
    loop {
        let m = master_offset();
        let r = replica_offset();
        if m == r {
            let md = master_data();
            let rd = replica_data();
            if master_offset() == m && replica_offset() == r {
                assert_eq!(
                    md, rd,
                    "{what}: datasets differ at offset {m} (left: master, right: replica)"
                );
                return (m, md);
            }
        }
        assert!(
            start.elapsed() < WAIT,
            "{what}: offsets did not converge within {WAIT:?} (master {m}, replica {r})"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A real master and a live replsim replica of it, compared after every step.
pub fn real_to_live(master: &Redis, live: &Live, what: &str) -> (u64, Dataset) {
    let mut mc = master.client();
    let mut mc2 = master.client();
    converge(
        what,
        &mut || mc.offset(),
        &mut || live.offset(),
        &mut || real_dataset(&mut mc2),
        &mut || live.dataset(),
    )
}

/// A live replsim master and a real replica of it.
pub fn live_to_real(live: &Live, replica: &Redis, what: &str) -> (u64, Dataset) {
    let mut rc = replica.client();
    let mut rc2 = replica.client();
    converge(
        what,
        &mut || live.offset(),
        &mut || {
            rc.field("replication", "slave_repl_offset")
                .parse()
                .expect("an offset")
        },
        &mut || live.dataset(),
        &mut || real_dataset(&mut rc2),
    )
}
