//! What every experiment stands on: the switch that runs them, one lock so they run one at a
//! time, real servers that can be frozen and killed, log lines of both sides with their times,
//! simulated runs looked up by node name, and the table of findings each experiment prints.

use std::fmt::Display;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use super::support::{Client, Redis, Reply};

use replsim::redis::log::Level;
use replsim::redis::Node;
use replsim::sim::observe::OpRecord;
use replsim::sim::RunOutput;

static SERIAL: Mutex<()> = Mutex::new(());

/// Whether experiments run (`REPLSIM_EXPERIMENTS=1`). When they do, the returned guard keeps
/// every other experiment waiting until this one is done.
pub fn enabled() -> Option<MutexGuard<'static, ()>> {
    if std::env::var("REPLSIM_EXPERIMENTS").ok().as_deref() != Some("1") {
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "experiments: skipped (set REPLSIM_EXPERIMENTS=1 to run them against \
                 redis-server; docs/conformance.md)"
            );
        });
        return None;
    }
    assert!(
        super::support::redis_server_path().is_some(),
        "REPLSIM_EXPERIMENTS=1 but no redis-server on PATH or in $REDIS_SERVER"
    );
    // Real servers listen on ports of a range of their own, away from the ephemeral ports
    // other programs on a shared machine are given.
    super::support::use_port_range(27000, 1000);
    Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Whether the Valkey experiments can run: `valkey-server` on PATH or in `$VALKEY_SERVER`.
/// Without it they are skipped with a message (once), as the conformance suite's Valkey cases
/// are outside CI: only Redis is a requirement of `REPLSIM_EXPERIMENTS=1`.
pub fn have_valkey() -> bool {
    if super::support::valkey_server_path().is_some() {
        return true;
    }
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "experiments: skipping the Valkey experiments: valkey-server not found on PATH (set \
             VALKEY_SERVER; docs/conformance.md)"
        );
    });
    false
}

/// Unix milliseconds now, the clock real log lines carry.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

/// Polls `f` every 5 ms until it holds, for at most `limit`; panics naming `what` otherwise.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// A real master started with `master_args` and a real replica of it with `repl-timeout`
/// `repl_timeout_s`, returned once the replica's link is up.
pub fn real_pair_online(master_args: &[&str], repl_timeout_s: u64) -> (Redis, Redis) {
    let m = Redis::start(master_args);
    let r = Redis::start(&[
        "--replicaof",
        "127.0.0.1",
        &m.port.to_string(),
        "--repl-timeout",
        &repl_timeout_s.to_string(),
    ]);
    let mut rc = r.client();
    wait_for("the replica online", Duration::from_secs(10), || {
        rc.field("replication", "master_link_status") == "up"
    });
    (m, r)
}

/// Whether a real master lists its first replica as online (false while it lists none yet).
pub fn first_replica_online(master: &mut Client) -> bool {
    master
        .info("replication")
        .get("slave0")
        .is_some_and(|s| s.contains("state=online"))
}

/// A real server's process id, from `INFO server` (ask before stopping it).
pub fn pid(r: &Redis) -> u32 {
    r.client()
        .field("server", "process_id")
        .parse()
        .expect("a pid")
}

/// Sends `sig` (`STOP`, `CONT`, `KILL`) to process `pid`, as `kill -<sig>` would.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("running kill");
    assert!(ok.success(), "kill -{sig} {pid}");
}

/// One log line: when (Unix ms for a real server, ms since the start for a simulated node),
/// its level symbol (`*` notice, `#` warning) and its message.
#[derive(Clone, Debug)]
pub struct Line {
    pub at_ms: u64,
    pub level: char,
    pub msg: String,
}

/// A real server's log lines (those in Redis's format; the rest are skipped).
pub fn real_log(r: &Redis) -> Vec<Line> {
    r.log().lines().filter_map(parse_real_line).collect()
}

/// `pid:role dd Mon yyyy hh:mm:ss.mmm X message`.
fn parse_real_line(line: &str) -> Option<Line> {
    let mut w = line.splitn(7, ' ');
    let _pid_role = w.next()?;
    let day: u64 = w.next()?.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| Some(*m) == w.clone().next())? as u64
        + 1;
    w.next()?;
    let year: i64 = w.next()?.parse().ok()?;
    let time = w.next()?;
    let level = w.next()?.chars().next()?;
    let msg = w.next().unwrap_or("").to_string();
    let (hms, ms) = time.split_once('.')?;
    let mut hms = hms.split(':').map(|x| x.parse::<u64>());
    let (h, m, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    let days = days_from_civil(year, month, day);
    // Redis logs local time; the machines these run on keep UTC (a constant offset would not
    // matter: experiments compare intervals).
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    Some(Line {
        at_ms: secs * 1000 + ms.parse::<u64>().ok()?,
        level,
        msg,
    })
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe as u64 * 365 + yoe as u64 / 4 - yoe as u64 / 100 + doy;
    (era * 146_097 + doe as i64 - 719_468) as u64
}

/// The lines of `log` whose message contains `fragment`.
pub fn lines_with<'a>(log: &'a [Line], fragment: &str) -> Vec<&'a Line> {
    log.iter().filter(|l| l.msg.contains(fragment)).collect()
}

/// Seconds from `t0_ms` to the first line containing `fragment`, if any.
pub fn first_after(log: &[Line], t0_ms: u64, fragment: &str) -> Option<f64> {
    log.iter()
        .find(|l| l.at_ms >= t0_ms && l.msg.contains(fragment))
        .map(|l| (l.at_ms - t0_ms) as f64 / 1000.0)
}

/// Lines containing `fragment` at or after `t0_ms`.
pub fn count_after(log: &[Line], t0_ms: u64, fragment: &str) -> usize {
    log.iter()
        .filter(|l| l.at_ms >= t0_ms && l.msg.contains(fragment))
        .count()
}

/// A scenario run to its end.
pub struct Sim {
    pub out: RunOutput,
}

impl Sim {
    /// Parses and runs a scenario at its own seed.
    pub fn run(toml: &str) -> Sim {
        let sc = replsim::scenario::parse("experiment.toml", toml)
            .unwrap_or_else(|e| panic!("the experiment's scenario: {e}\n{toml}"));
        let seed = sc.seed;
        let options = replsim::sim::world::RunOptions {
            history: true,
            ..Default::default()
        };
        Sim {
            out: replsim::sim::run_with(sc, seed, u64::MAX, options, None, &mut |_, _| {}),
        }
    }

    /// Every client operation, in the order they were issued.
    pub fn history(&self) -> &[OpRecord] {
        self.out.world.rec.history.as_deref().expect("kept")
    }

    /// The error kinds refused operations met (`NOREPLICAS`, `MASTERDOWN`, ...), first seen
    /// first.
    pub fn error_kinds(&self) -> Vec<String> {
        self.out.world.rec.error_kinds.clone()
    }

    fn index(&self, name: &str) -> usize {
        self.out
            .world
            .resolve(name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    pub fn node(&self, name: &str) -> &Node {
        self.out
            .world
            .node(self.index(name))
            .unwrap_or_else(|| panic!("{name} is down"))
    }

    /// A node's log lines at notice level and above (Redis's default `loglevel`), times in ms
    /// since the start of the run.
    pub fn log(&self, name: &str) -> Vec<Line> {
        let (lines, dropped) = self.out.world.logs(self.index(name));
        assert_eq!(dropped, 0, "{name}'s log overflowed");
        lines
            .iter()
            .filter(|l| l.level >= Level::Notice)
            .map(|l| Line {
                at_ms: l.time.as_millis(),
                level: l.level.symbol(),
                msg: l.message.clone(),
            })
            .collect()
    }
}

/// How an experiment's row came out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// A difference docs/conformance.md lists as known, with its reason.
    Known,
    Mismatch,
}

struct Row {
    case: String,
    real: String,
    sim: String,
    tolerance: String,
    verdict: Verdict,
}

/// The findings of one experiment, printed as table rows for docs/conformance.md.
pub struct Report {
    name: &'static str,
    /// The real side's column heading.
    server: &'static str,
    rows: Vec<Row>,
}

impl Report {
    pub fn new(name: &'static str) -> Report {
        Report::against("real Redis", name)
    }

    /// A report whose real side is `server` (`real Valkey`) rather than Redis.
    pub fn against(server: &'static str, name: &'static str) -> Report {
        Report {
            name,
            server,
            rows: Vec::new(),
        }
    }

    /// A comparison that must hold: `ok` says whether real and simulated agree within
    /// `tolerance`.
    pub fn compare(
        &mut self,
        case: &str,
        real: impl Display,
        sim: impl Display,
        tolerance: &str,
        ok: bool,
    ) {
        self.push(case, real, sim, tolerance, ok, Verdict::Match);
    }

    /// A known difference: `holds` checks that both sides still behave as documented, so a
    /// change on either side fails the experiment until the documentation follows it.
    pub fn known(&mut self, case: &str, real: impl Display, sim: impl Display, holds: bool) {
        self.push(case, real, sim, "known difference", holds, Verdict::Known);
    }

    fn push(
        &mut self,
        case: &str,
        real: impl Display,
        sim: impl Display,
        tolerance: &str,
        ok: bool,
        verdict: Verdict,
    ) {
        self.rows.push(Row {
            case: case.to_string(),
            real: real.to_string(),
            sim: sim.to_string(),
            tolerance: tolerance.to_string(),
            verdict: if ok { verdict } else { Verdict::Mismatch },
        });
    }

    /// Prints the rows (past the test harness's capture, so they show in every run) and fails
    /// if any did not hold.
    pub fn finish(self) {
        let mut out = format!("\n### experiment {}\n\n", self.name);
        out.push_str(&format!(
            "| case | {} | replsim | tolerance | verdict |\n|---|---|---|---|---|\n",
            self.server
        ));
        for r in &self.rows {
            let verdict = match r.verdict {
                Verdict::Match => "match",
                Verdict::Known => "known difference",
                Verdict::Mismatch => "MISMATCH",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.case, r.real, r.sim, r.tolerance, verdict
            ));
        }
        let _ = std::io::stdout().write_all(out.as_bytes());
        let bad: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| r.verdict == Verdict::Mismatch)
            .map(|r| r.case.as_str())
            .collect();
        assert!(bad.is_empty(), "{}: mismatches: {bad:?}", self.name);
    }
}

/// Keys of the experiments' datasets: `key:0` … with 100-byte values, as a scenario's
/// `[node.data] keys = 2000` (where the values are `x`s; replsim writes RDBs uncompressed).
pub const DATA_KEYS: usize = 2000;

/// `SET key:<i> <100 random bytes>` for each of the [`DATA_KEYS`] keys, pipelined: LZF cannot
/// shrink the values, so a real RDB of them is as large as replsim's.
pub fn load_keys(c: &mut Client) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut batch = Vec::new();
    for i in 0..DATA_KEYS {
        let key = format!("key:{i}");
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$100\r\n", key.len()).as_bytes(),
        );
        for _ in 0..100 {
            // xorshift64: bytes LZF finds no repeats in.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            batch.push((x >> 24) as u8);
        }
        batch.extend_from_slice(b"\r\n");
    }
    c.send_bytes(&batch);
    for _ in 0..DATA_KEYS {
        assert_eq!(c.read_raw(), b"+OK\r\n");
    }
}

/// A real BGSAVE of [`load_keys`]'s data with `rdb-key-save-delay 1000` (the child sleeps
/// 1 ms per key): the RDB's size in bytes and the child's time in ms. Their ratio is the
/// `replsim-rdb-save-rate` that makes a simulated child as slow as this machine's.
pub fn calibrate_rdb() -> (u64, u64) {
    calibrate_rdb_on(Redis::start)
}

/// [`calibrate_rdb`] on the server `start` starts (`Redis::start_valkey` for Valkey, whose
/// child saves at its own pace and whose RDB names its own version).
pub fn calibrate_rdb_on(start: fn(&[&str]) -> Redis) -> (u64, u64) {
    let m = start(&[]);
    let mut mc = m.client();
    load_keys(&mut mc);
    mc.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    mc.cmd(&["BGSAVE"]);
    wait_for("the BGSAVE", Duration::from_secs(15), || {
        m.log()
            .contains("Background saving terminated with success")
    });
    let log = real_log(&m);
    let started = lines_with(&log, "Background saving started")[0].at_ms;
    let saved = lines_with(&log, "DB saved on disk")[0].at_ms;
    let bytes = std::fs::metadata(m.dir().join("dump.rdb"))
        .expect("dump.rdb")
        .len();
    (bytes, (saved - started).max(1))
}

/// Writes `count` `SET key v` commands pipelined and reads their replies.
pub fn pipeline_sets(c: &mut Client, key: &str, value: &[u8], count: usize) {
    let mut cmd = format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
        key.len(),
        value.len()
    )
    .into_bytes();
    cmd.extend_from_slice(value);
    cmd.extend_from_slice(b"\r\n");
    let mut batch = Vec::new();
    for _ in 0..count {
        batch.extend_from_slice(&cmd);
    }
    c.send_bytes(&batch);
    for _ in 0..count {
        let r = c.read_raw();
        assert_eq!(r, b"+OK\r\n", "SET's reply");
    }
}

/// Counts within a quarter of the larger, at least one apart.
pub fn close(a: usize, b: usize) -> bool {
    a.abs_diff(b) <= (a.max(b) / 4).max(1)
}

/// Times within `tol` of each other, or both never.
pub fn near(a: Option<f64>, b: Option<f64>, tol: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= tol,
        (None, None) => true,
        _ => false,
    }
}

/// Bytes one `SET key value` takes in the replication stream.
pub fn set_bytes(key_len: usize, value_len: usize) -> u64 {
    let bulk = |n: usize| (format!("${n}\r\n").len() + n + 2) as u64;
    4 + bulk(3) + bulk(key_len) + bulk(value_len)
}

/// `SELECT 0` in the stream: the first write after a full sync is preceded by it.
pub const SELECT_BYTES: u64 = 23;
