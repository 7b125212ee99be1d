//! The live driver: the same sans-IO node that runs in the simulation, driven by real TCP sockets
//! and the wall clock, so it can replicate from a real Redis and serve real replicas and clients.
//!
//! `live` owns an event loop on mio (readiness-based and single-threaded, like Redis's own `ae`
//! loop) that feeds [`Node`]'s `handle_*` methods and drains its `poll_*` methods. It holds no
//! Redis logic: every reply, byte offset and log line is the node's. Nothing in the simulation
//! depends on it, and the node still never sees a socket or a clock.
//!
//! Besides `main.rs`, this is the one module allowed to read the wall clock, and it touches
//! sockets and (in [`spawn`]) a thread of its own. Time reaches the node as [`SimTime`] counted
//! from [`EPOCH_UNIX_SECS`], the instant the node maps to simulated time zero, so the node's log
//! times, RDB `ctime` and absolute expiry times come out as real Unix time with no change to it.
//!
//! Synthetic datasets (the opaque bulk part of an RDB) have no place here: a live node starts
//! empty or from a real RDB file (one with a synthetic part fails to load and the node does not
//! start), and everything that reaches it over a socket is real bytes, so no RDB it writes holds
//! an opaque run, and [`Transmit::send_opaque`] being called is a bug (it panics).

mod handle;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::redis::config::Config;
use crate::redis::log::{Level, LogLine, EPOCH_UNIX_SECS};
use crate::redis::rdb::{self, Part, Payload};
use crate::redis::{Action, ConnId, Node, NodeParams, Persisted, Transmit};
use crate::time::SimTime;

pub use handle::{spawn, Handle};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const SIGNALS: Token = Token(2);
/// Connection `c` is registered as token `c + CONN_TOKEN_BASE`; node connection ids are never
/// reused, so neither are tokens.
const CONN_TOKEN_BASE: u64 = 16;

/// Bytes read from a socket per `read` call (`PROTO_IOBUF_LEN` is 16 KB; a larger buffer costs
/// nothing here and takes an RDB in fewer calls).
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Reads on one socket per loop turn before the others get their turn; the socket is read again
/// on the next turn without waiting for a new readiness event.
const READS_PER_TURN: usize = 16;
/// Log lines kept by a [`LogTarget::Memory`] node; older ones are dropped.
const MEMORY_LOG_LINES_MAX: usize = 100_000;

/// Where a live node's log lines go.
pub enum LogTarget {
    /// Written one line at a time (stderr, or a `--logfile`).
    Writer(Box<dyn Write + Send>),
    /// Kept in memory, readable through [`Driver::logs`] (tests).
    Memory,
}

/// How to start a live node.
pub struct Options {
    /// Address to listen on for clients and replicas.
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one (see [`Driver::port`]).
    pub port: u16,
    /// `replicaof host port` at startup.
    pub replicaof: Option<(String, u16)>,
    /// An RDB file's bytes to load at startup, as Redis loads its `dbfilename` (with its
    /// replication ID and offset, when it holds them).
    pub rdb: Option<Vec<u8>>,
    pub config: Config,
    pub log: LogTarget,
    /// The least severe level written (Redis's `loglevel`).
    pub log_level: Level,
    /// Stop on SIGINT and SIGTERM (the CLI). A node embedded in another program leaves signals
    /// to that program.
    pub handle_signals: bool,
}

/// The wall clock as the node sees it: nanoseconds since [`EPOCH_UNIX_SECS`], never going back
/// (the node's timers assume time is monotonic; a clock stepped backwards holds still instead).
struct Clock {
    last: SimTime,
}

impl Clock {
    // The live driver is, by definition, the one place outside main.rs that runs on real time.
    #[allow(clippy::disallowed_methods)]
    fn now(&mut self) -> SimTime {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let ns = u64::try_from(unix.as_nanos()).unwrap_or(u64::MAX);
        let t = SimTime::from_nanos(ns.saturating_sub(EPOCH_UNIX_SECS * 1_000_000_000));
        self.last = self.last.max(t);
        self.last
    }
}

/// A seed no earlier run used: the node draws its replication ID from it, and a restarted live
/// master must not come back with the replication ID of its previous life, or a replica that
/// remembers it could resume a history that no longer exists.
#[allow(clippy::disallowed_methods)]
fn fresh_seed() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (unix.as_nanos() as u64) ^ (u64::from(std::process::id()) << 40)
}

/// An RDB file to start from, checked before the node sees it: a node that cannot load its
/// data refuses to start, as Redis does ("Fatal error loading the DB"), instead of serving an
/// empty dataset. A file holding a synthetic bulk part (written by replsim for a simulation)
/// fails here too: a live node holds real keys only.
fn check_rdb(bytes: Vec<u8>, databases: u64) -> io::Result<Persisted> {
    let rdb = Payload {
        parts: vec![Part::Bytes(bytes)],
    };
    rdb::decode(&rdb, 0, false, databases as usize).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the RDB file cannot be loaded: {}", e.0),
        )
    })?;
    Ok(Persisted { rdb })
}

/// One socket and what the loop knows of it.
struct Sock {
    stream: TcpStream,
    /// A connection the node asked for, not yet established.
    connecting: bool,
    /// The node asked not to read it (`Action::PauseRead`).
    read_paused: bool,
}

/// The event loop around one node.
pub struct Driver {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    signals: Option<Signals>,
    node: Node,
    socks: BTreeMap<ConnId, Sock>,
    clock: Clock,
    log: LogTarget,
    log_level: Level,
    memory_log: Vec<String>,
    /// Sockets that may hold unread bytes without a new readiness event coming (edge-triggered
    /// readiness fires once per arrival): a read cut short by the per-turn limit, or resumed.
    to_read: BTreeSet<ConnId>,
    read_buf: Vec<u8>,
    port: u16,
    stop: bool,
    waker: std::sync::Arc<Waker>,
}

impl Driver {
    /// Binds the listening socket and boots the node.
    pub fn new(opts: Options) -> io::Result<Driver> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(SocketAddr::new(opts.bind, opts.port))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let port = listener.local_addr()?.port();
        let waker = std::sync::Arc::new(Waker::new(poll.registry(), WAKER)?);
        let signals = if opts.handle_signals {
            let mut s = Signals::new([SIGINT, SIGTERM])?;
            poll.registry()
                .register(&mut s, SIGNALS, Interest::READABLE)?;
            Some(s)
        } else {
            None
        };
        let mut clock = Clock {
            last: SimTime::ZERO,
        };
        let persisted = match opts.rdb {
            Some(bytes) => Some(check_rdb(bytes, opts.config.databases)?),
            None => None,
        };
        let node = Node::boot(
            clock.now(),
            NodeParams {
                name: "live".into(),
                ip: opts.bind.to_string(),
                port,
                config: opts.config,
                replicaof: opts.replicaof,
                seed: fresh_seed(),
            },
            persisted.as_ref(),
        );
        let mut d = Driver {
            poll,
            events: Events::with_capacity(256),
            listener,
            signals,
            node,
            socks: BTreeMap::new(),
            clock,
            log: opts.log,
            log_level: opts.log_level,
            memory_log: Vec::new(),
            to_read: BTreeSet::new(),
            read_buf: vec![0; READ_CHUNK_BYTES],
            port,
            stop: false,
            waker,
        };
        d.flush_logs();
        Ok(d)
    }

    /// The port the node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// The node's clock now.
    pub fn now(&mut self) -> SimTime {
        self.clock.now()
    }

    /// Log lines kept in memory ([`LogTarget::Memory`]), oldest first.
    pub fn logs(&self) -> &[String] {
        &self.memory_log
    }

    /// Ends [`Driver::run`] after the current turn.
    pub fn request_stop(&mut self) {
        self.stop = true;
    }

    pub(crate) fn waker(&self) -> std::sync::Arc<Waker> {
        std::sync::Arc::clone(&self.waker)
    }

    /// Runs until a signal (with `handle_signals`) or [`Driver::request_stop`]. `on_wake` runs
    /// whenever the driver's waker is woken (see [`spawn`]).
    pub fn run(&mut self, on_wake: &mut dyn FnMut(&mut Driver)) -> io::Result<()> {
        while !self.stop {
            self.turn(on_wake)?;
        }
        let level = self.node.cfg.redis_version.lowered_in_7_2();
        self.log_driver(level, "User requested shutdown...");
        self.log_driver(Level::Warning, "Redis is now ready to exit, bye bye...");
        Ok(())
    }

    /// One loop iteration: due timers, then wait for readiness until the next deadline, then
    /// the ready sockets; the node's output is drained after each step.
    fn turn(&mut self, on_wake: &mut dyn FnMut(&mut Driver)) -> io::Result<()> {
        let now = self.clock.now();
        if self.node.poll_timeout().is_some_and(|(t, _)| t <= now) {
            self.node.handle_timeout(now);
        }
        self.drain(now);
        let now = self.clock.now();
        let wait = if self.to_read.is_empty() {
            self.node
                .poll_timeout()
                .map(|(t, _)| Duration::from_nanos(t.as_nanos().saturating_sub(now.as_nanos())))
        } else {
            Some(Duration::ZERO)
        };
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = self.clock.now();
        let ready: Vec<(Token, Readiness)> = self
            .events
            .iter()
            .map(|e| {
                (
                    e.token(),
                    Readiness {
                        readable: e.is_readable() || e.is_read_closed() || e.is_error(),
                        writable: e.is_writable() || e.is_write_closed() || e.is_error(),
                    },
                )
            })
            .collect();
        for (token, r) in ready {
            match token {
                LISTENER => self.accept(now),
                WAKER => on_wake(self),
                SIGNALS => self.on_signals(),
                Token(t) => {
                    let id = ConnId(t as u64 - CONN_TOKEN_BASE);
                    self.on_socket(now, id, r);
                }
            }
            self.drain(now);
        }
        let pending: Vec<ConnId> = std::mem::take(&mut self.to_read).into_iter().collect();
        for id in pending {
            self.read(now, id);
            self.drain(now);
        }
        Ok(())
    }

    fn on_signals(&mut self) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        let got: Vec<i32> = signals.pending().collect();
        for sig in got {
            let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
            self.log_driver(
                Level::Warning,
                &format!("Received {name} scheduling shutdown..."),
            );
            self.stop = true;
        }
    }

    fn accept(&mut self, now: SimTime) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    // Redis sets TCP_NODELAY on every client it accepts (`anetEnableTcpNoDelay`).
                    let _ = stream.set_nodelay(true);
                    let id = self
                        .node
                        .handle_accept(now, &peer.ip().to_string(), peer.port());
                    let token = Token((id.0 + CONN_TOKEN_BASE) as usize);
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        self.log_driver(
                            Level::Warning,
                            &format!("Error registering fd event for the new client: {e}"),
                        );
                        self.node.handle_reset(now, id);
                        continue;
                    }
                    self.socks.insert(
                        id,
                        Sock {
                            stream,
                            connecting: false,
                            read_paused: false,
                        },
                    );
                    // Bytes that arrived with the connection may not raise another event.
                    self.to_read.insert(id);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A failed accept (EMFILE, a connection reset before accept) costs that
                    // connection only, as in Redis's `acceptTcpHandler`.
                    self.log_driver(Level::Warning, &format!("Accepting client connection: {e}"));
                    return;
                }
            }
        }
    }

    fn on_socket(&mut self, now: SimTime, id: ConnId, r: Readiness) {
        let Some(sock) = self.socks.get(&id) else {
            return;
        };
        if sock.connecting {
            if !(r.writable || r.readable) {
                return;
            }
            self.finish_connect(now, id);
            if !self.socks.contains_key(&id) {
                return;
            }
        } else if r.writable {
            self.node.handle_writable(now, id);
        }
        if r.readable {
            self.read(now, id);
        }
    }

    /// A connection the node opened became writable or failed: tell the node which.
    fn finish_connect(&mut self, now: SimTime, id: ConnId) {
        let Some(sock) = self.socks.get_mut(&id) else {
            return;
        };
        let failed = match sock.stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match sock.stream.peer_addr() {
                Ok(_) => None,
                // Not connected yet: a spurious wake-up; the real one follows.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Some(e),
            },
        };
        match failed {
            None => {
                sock.connecting = false;
                let _ = sock
                    .stream
                    .set_nodelay(!self.node.cfg.repl_disable_tcp_nodelay);
                self.node.handle_connected(now, id);
            }
            Some(e) => {
                self.forget_sock(id);
                self.node.handle_connect_failed(now, id, &os_error_text(&e));
            }
        }
    }

    /// Reads what the socket holds (up to the per-turn limit) into the node.
    fn read(&mut self, now: SimTime, id: ConnId) {
        let mut buf = std::mem::take(&mut self.read_buf);
        for _ in 0..READS_PER_TURN {
            let Some(sock) = self.socks.get_mut(&id) else {
                break;
            };
            if sock.connecting || sock.read_paused {
                break;
            }
            match sock.stream.read(&mut buf) {
                Ok(0) => {
                    self.node.handle_eof(now, id);
                    // The node answers with `Close`; a connection it had already forgotten is
                    // closed here.
                    self.apply_actions(now);
                    self.forget_sock(id);
                    break;
                }
                Ok(n) => {
                    self.node.handle_data(now, id, &buf[..n]);
                    // A `PauseRead` issued by this input must stop the next read.
                    self.apply_actions(now);
                    if n < buf.len() {
                        // A short read: the socket is most likely drained, and the next arrival
                        // raises a new event (a spurious extra read would only see WouldBlock).
                        break;
                    }
                    self.to_read.insert(id);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.to_read.remove(&id);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.to_read.remove(&id);
                    self.forget_sock(id);
                    self.node.handle_reset(now, id);
                    break;
                }
            }
        }
        self.read_buf = buf;
    }

    /// Everything the node has to say: actions, bytes, then log lines, until it is quiet.
    fn drain(&mut self, now: SimTime) {
        loop {
            let mut progress = self.apply_actions(now);
            let mut tx = SocketTx {
                socks: &mut self.socks,
                broken: Vec::new(),
            };
            self.node.poll_transmit(now, &mut tx);
            let broken = tx.broken;
            for id in broken {
                self.forget_sock(id);
                self.node.handle_reset(now, id);
                progress = true;
            }
            progress |= self.apply_actions(now);
            if !progress {
                break;
            }
        }
        self.flush_logs();
    }

    /// Carries out the node's pending actions. Returns whether there were any.
    fn apply_actions(&mut self, now: SimTime) -> bool {
        let mut any = false;
        while let Some(action) = self.node.poll_action() {
            any = true;
            match action {
                Action::Connect { conn, host, port } => self.connect(now, conn, &host, port),
                Action::Close { conn } => self.forget_sock(conn),
                Action::PauseRead { conn } => {
                    if let Some(s) = self.socks.get_mut(&conn) {
                        s.read_paused = true;
                    }
                }
                Action::ResumeRead { conn } => {
                    if let Some(s) = self.socks.get_mut(&conn) {
                        s.read_paused = false;
                        // Bytes that arrived while paused raised their event already.
                        self.to_read.insert(conn);
                    }
                }
            }
        }
        any
    }

    fn connect(&mut self, now: SimTime, conn: ConnId, host: &str, port: u16) {
        let addr = match (host, port).to_socket_addrs() {
            Ok(mut addrs) => addrs.next(),
            Err(e) => {
                self.node
                    .handle_connect_failed(now, conn, &os_error_text(&e));
                return;
            }
        };
        let Some(addr) = addr else {
            self.node
                .handle_connect_failed(now, conn, "Name or service not known");
            return;
        };
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => {
                self.node
                    .handle_connect_failed(now, conn, &os_error_text(&e));
                return;
            }
        };
        let token = Token((conn.0 + CONN_TOKEN_BASE) as usize);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.node
                .handle_connect_failed(now, conn, &os_error_text(&e));
            return;
        }
        self.socks.insert(
            conn,
            Sock {
                stream,
                connecting: true,
                read_paused: false,
            },
        );
    }

    /// Closes a socket (if still open) and forgets it.
    fn forget_sock(&mut self, id: ConnId) {
        if let Some(mut s) = self.socks.remove(&id) {
            let _ = self.poll.registry().deregister(&mut s.stream);
        }
        self.to_read.remove(&id);
    }

    fn flush_logs(&mut self) {
        while let Some(line) = self.node.poll_log() {
            self.write_log(&line);
        }
    }

    /// A line of the driver's own (signals, accept errors), in the node's format and name.
    fn log_driver(&mut self, level: Level, message: &str) {
        let now = self.clock.now();
        let line = LogLine {
            time: now,
            pid: self.node.pid(),
            role: if self.node.is_master() { 'M' } else { 'S' },
            level,
            message: message.to_string(),
        };
        self.write_log(&line);
    }

    fn write_log(&mut self, line: &LogLine) {
        if line.level < self.log_level {
            return;
        }
        match &mut self.log {
            LogTarget::Writer(w) => {
                // One write per line, so lines from several processes sharing a file interleave
                // whole. A log that cannot be written must not stop the server (Redis ignores
                // that too).
                let _ = w.write_all(format!("{line}\n").as_bytes());
                let _ = w.flush();
            }
            LogTarget::Memory => {
                if self.memory_log.len() >= MEMORY_LOG_LINES_MAX {
                    self.memory_log.drain(..MEMORY_LOG_LINES_MAX / 2);
                }
                self.memory_log.push(line.to_string());
            }
        }
    }
}

#[derive(Copy, Clone, Debug)]
struct Readiness {
    readable: bool,
    writable: bool,
}

/// The node's [`Transmit`] onto real sockets: it writes what the kernel accepts and reports the
/// count; the node keeps the rest and writes it again after `handle_writable`.
struct SocketTx<'a> {
    socks: &'a mut BTreeMap<ConnId, Sock>,
    /// Connections whose write failed (reset, broken pipe), to report as resets.
    broken: Vec<ConnId>,
}

impl Transmit for SocketTx<'_> {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        let Some(s) = self.socks.get_mut(&conn) else {
            // The socket is gone and the node is being told: its bytes have nowhere to go.
            return bytes.len();
        };
        if s.connecting || self.broken.contains(&conn) {
            return 0;
        }
        let mut n = 0;
        while n < bytes.len() {
            match s.stream.write(&bytes[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.broken.push(conn);
                    break;
                }
            }
        }
        n
    }

    fn send_opaque(&mut self, _conn: ConnId, len: u64) -> u64 {
        panic!(
            "a live node was asked to send {len} opaque bytes: live nodes hold no synthetic \
             data, so no RDB they write can contain an opaque run"
        );
    }
}

/// The OS's words for an error, as Redis prints `strerror(errno)`: without Rust's
/// ` (os error N)` suffix.
fn os_error_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live node on loopback with its logs in memory.
    fn node(replicaof: Option<u16>) -> Handle {
        let mut config = Config::default();
        config.set("repl-diskless-sync-delay", "0", false).unwrap();
        spawn(Options {
            bind: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 0,
            replicaof: replicaof.map(|p| ("127.0.0.1".to_string(), p)),
            rdb: None,
            config,
            log: LogTarget::Memory,
            log_level: Level::Verbose,
            handle_signals: false,
        })
        .expect("a live node")
    }

    /// Polls `f` for at most ten seconds.
    #[allow(clippy::disallowed_methods)]
    fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn run(h: &Handle, args: &[&str]) {
        let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let reply = h.with(move |d| {
            let now = d.now();
            d.node_mut().operator_command(now, &argv)
        });
        assert!(!reply.is_error(), "{args:?}: {reply:?}");
    }

    /// (offset, digest, keys) of a node.
    fn state(h: &Handle) -> (u64, u64, u64) {
        h.with(|d| {
            let n = d.node();
            (n.master_repl_offset(), n.digest(), n.dbsize())
        })
    }

    #[test]
    fn two_live_nodes_replicate_over_loopback_through_socket_backpressure() {
        let master = node(None);
        let big = "x".repeat(4 << 20);
        run(&master, &["SET", "before", &big]);
        let replica = node(Some(master.port()));
        wait_until("the replica's link", || {
            replica.with(|d| d.node().master_link_up())
        });
        // The replica's loop stops (as a SIGSTOPped process would) while the master writes far
        // more than the sockets hold: the master's writes come back short, and the rest must go
        // out on the writable events that follow once the replica reads again.
        let (release, held) = std::sync::mpsc::channel::<()>();
        replica.post(move |_| {
            let _ = held.recv_timeout(Duration::from_secs(10));
        });
        for i in 0..200 {
            run(&master, &["SET", &format!("k{i}"), &i.to_string()]);
        }
        for i in 0..4 {
            run(&master, &["SET", &format!("after{i}"), &big]);
        }
        release.send(()).expect("the replica waits");
        wait_until("the replica to catch up", || {
            state(&replica) == state(&master)
        });
        assert_eq!(state(&replica).2, 205);
    }

    #[test]
    fn a_refused_connection_is_reported_in_the_os_words() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let replica = node(Some(port));
        wait_until("a refused connection logged", || {
            replica.with(|d| {
                d.logs()
                    .iter()
                    .any(|l| l.ends_with("Error condition on socket for SYNC: Connection refused"))
            })
        });
    }

    #[test]
    fn an_rdb_that_cannot_load_is_refused_before_the_node_starts() {
        let e = check_rdb(b"REDIS0010garbage".to_vec(), 16).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(
            e.to_string().starts_with("the RDB file cannot be loaded: "),
            "{e}"
        );
        let mut ks = crate::redis::keyspace::Keyspace::new(16);
        ks.db_mut(2).set(b"k", b"v", Some(1));
        let meta = rdb::SaveMeta {
            ctime_secs: 0,
            used_mem: 0,
            repl: None,
            checksum: true,
            redis_version: crate::redis::config::RedisVersion::V7_0,
        };
        let Part::Bytes(good) = &rdb::encode(&ks, &meta).parts[0] else {
            panic!("real keys only")
        };
        assert!(check_rdb(good.clone(), 16).is_ok());
        assert!(
            check_rdb(good.clone(), 2).is_err(),
            "database 2 needs 3 databases"
        );
    }

    #[test]
    fn os_errors_read_like_strerror() {
        let e = io::Error::from_raw_os_error(111);
        assert_eq!(os_error_text(&e), "Connection refused");
        let other = io::Error::other("no such host");
        assert_eq!(os_error_text(&other), "no such host");
    }

    #[test]
    fn the_clock_counts_from_the_nodes_epoch_and_never_goes_back() {
        let mut c = Clock {
            last: SimTime::ZERO,
        };
        let a = c.now();
        // 2024-01-01 is behind us: real time is well past simulated zero.
        assert!(a.as_secs() > 0);
        c.last = SimTime::from_secs(a.as_secs() + 3600);
        assert_eq!(
            c.now(),
            c.last,
            "a clock behind the last reading holds still"
        );
    }
}
