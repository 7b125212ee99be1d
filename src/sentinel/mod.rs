//! Redis Sentinel (sentinel.c of Redis 7.0): a sans-IO state machine beside the Redis node.
//!
//! A Sentinel monitors masters over RESP connections like any client: PING every second, INFO
//! every ten (every second during a failover), a hello published on `__sentinel__:hello` every
//! two seconds. It learns the replicas from a master's INFO and the other Sentinels from their
//! hellos; it marks an instance subjectively down (`+sdown`) after `down-after-milliseconds`
//! without a valid reply, objectively down (`+odown`) when a quorum of Sentinels agrees through
//! `SENTINEL is-master-down-by-addr`, and then fails over: a leader elected per epoch, the replica
//! chosen as `sentinelSelectSlave` chooses, promoted with `SLAVEOF NO ONE`, the others repointed
//! `parallel-syncs` at a time, the old master turned into a replica when it comes back.
//!
//! The shape is the node's (`crate::redis::Node`): input through `handle_*`, each with `now`;
//! output drained with `poll_transmit`, `poll_action`, `poll_timeout`, `poll_event` and
//! `poll_log`. It owns no clock, socket, engine or network type, and its randomness (its id,
//! the timer's jitter, the election's desynchronisation) comes from its own seeded stream.
//!
//! Files: `instance.rs` (what a Sentinel knows of each instance), `monitor.rs` (connecting,
//! the periodic commands, INFO and hello processing, SDOWN and ODOWN), `failover.rs` (the vote,
//! the leader, replica selection, the failover state machine), `command.rs` (the commands a
//! Sentinel answers: SENTINEL's subcommands, PUBLISH of hellos, PING, INFO, ROLE), `reply.rs`
//! (reading replies, as hiredis does).
//!
//! Not modelled: scripts, TILT's cause other than a stopped process, Sentinel's own Pub/Sub
//! channels for clients, authentication, `SENTINEL SET`/`MONITOR`/`REMOVE`/`FAILOVER`, renamed
//! commands, hostnames, and the sharing of one link to another Sentinel between masters.

mod command;
mod failover;
mod instance;
mod monitor;
pub mod reply;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::redis::log::{unix_ms, Level, LogLine};
use crate::redis::resp::{encode_command, Decoder};
use crate::redis::{Action, ConnId, Transmit};
use crate::seed::SeedStream;
use crate::time::{SimDuration, SimTime};

use instance::{flag, Instance, Master, Ms, Which};
pub use instance::{Addr, FailoverState};
use reply::ReplyReader;

/// Sentinel's default port.
pub const SENTINEL_PORT: u16 = 26379;

/// The hello channel.
pub(crate) const HELLO_CHANNEL: &str = "__sentinel__:hello";

// sentinel.c's periods, in milliseconds.
pub(crate) const INFO_PERIOD: Ms = 10_000;
pub(crate) const PING_PERIOD: Ms = 1_000;
pub(crate) const ASK_PERIOD: Ms = 1_000;
pub(crate) const PUBLISH_PERIOD: Ms = 2_000;
pub(crate) const TILT_TRIGGER: Ms = 2_000;
pub(crate) const TILT_PERIOD: Ms = PING_PERIOD * 30;
pub(crate) const SLAVE_RECONF_TIMEOUT: Ms = 10_000;
pub(crate) const MIN_LINK_RECONNECT_PERIOD: Ms = 15_000;
pub(crate) const ELECTION_TIMEOUT: Ms = 10_000;
pub(crate) const MAX_PENDING_COMMANDS: i64 = 100;
pub(crate) const MAX_DESYNC: u64 = 1_000;

/// A master to monitor: `sentinel monitor <name> <ip> <port> <quorum>` and its directives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    pub name: String,
    pub addr: Addr,
    pub quorum: u32,
    /// `sentinel down-after-milliseconds` (default 30 000).
    pub down_after_ms: u64,
    /// `sentinel failover-timeout` (default 180 000).
    pub failover_timeout_ms: u64,
    /// `sentinel parallel-syncs` (default 1).
    pub parallel_syncs: u32,
}

impl MonitorConfig {
    /// A master with Sentinel's defaults for everything but its name, address and quorum.
    pub fn new(name: &str, addr: Addr, quorum: u32) -> MonitorConfig {
        MonitorConfig {
            name: name.to_string(),
            addr,
            quorum,
            down_after_ms: 30_000,
            failover_timeout_ms: 180_000,
            parallel_syncs: 1,
        }
    }
}

/// Identity and configuration of a Sentinel.
#[derive(Clone, Debug)]
pub struct SentinelParams {
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub masters: Vec<MonitorConfig>,
    pub seed: u64,
}

/// One `sentinelEvent`: what Sentinel logs and publishes, e.g. `+sdown` with
/// `master mymaster 10.0.0.1 6379`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelEvent {
    pub level: Level,
    /// The event type, which is also its Pub/Sub channel: `+sdown`, `+switch-master`, ...
    pub kind: String,
    pub message: String,
}

/// Every event type a Sentinel reports, as sentinel.c names them (each is also the Pub/Sub
/// channel Sentinel publishes it on).
pub const EVENT_TYPES: &[&str] = &[
    "+monitor",
    "+slave",
    "+sentinel",
    "+sentinel-address-switch",
    "+sentinel-invalid-addr",
    "+reboot",
    "+role-change",
    "-role-change",
    "+convert-to-slave",
    "+fix-slave-config",
    "+slave-reconf-sent",
    "+slave-reconf-inprog",
    "+slave-reconf-done",
    "-slave-reconf-sent-timeout",
    "+slave-reconf-sent-be",
    "+sdown",
    "-sdown",
    "+odown",
    "-odown",
    "+new-epoch",
    "+vote-for-leader",
    "+config-update-from",
    "+switch-master",
    "+tilt",
    "-tilt",
    "+try-failover",
    "-failover-abort-not-elected",
    "+elected-leader",
    "+failover-state-select-slave",
    "-failover-abort-no-good-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "-failover-abort-slave-timeout",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+failover-end-for-timeout",
    "+failover-end",
];

/// What a reply on an outgoing connection is for (the hiredis callback and its `privdata`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Callback {
    Info,
    Ping,
    Publish,
    Discard,
    IsMasterDown,
    /// The Pub/Sub connection's subscription: it takes every reply after it.
    Hello,
}

/// A connection: ours to an instance, or one accepted from a client or another Sentinel.
#[derive(Debug)]
enum ConnKind {
    Outgoing {
        master: String,
        which: Which,
        /// The instance's id, so that a reply outliving its instance is dropped.
        instance: u64,
        callbacks: VecDeque<Callback>,
        reader: ReplyReader,
    },
    Incoming {
        decoder: Box<Decoder>,
    },
}

#[derive(Debug)]
struct Conn {
    kind: ConnKind,
    /// Established: bytes written before it are kept (as hiredis buffers them) until then.
    connected: bool,
    out: Vec<u8>,
    /// A client that broke the protocol: closed once its error reply is written.
    close_after_reply: bool,
}

/// A Redis Sentinel.
pub struct Sentinel {
    name: String,
    ip: String,
    port: u16,
    pid: u32,
    myid: String,
    current_epoch: u64,
    /// `sentinel.masters`, by name.
    masters: BTreeMap<String, Master>,
    tilt: bool,
    tilt_start_time: Ms,
    previous_time: Ms,
    rng: SeedStream,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    next_instance: u64,
    next_timer: SimTime,
    /// Connections with output to write.
    dirty: BTreeSet<ConnId>,
    actions: VecDeque<Action>,
    events: VecDeque<SentinelEvent>,
    logs: VecDeque<LogLine>,
}

impl Sentinel {
    /// Starts a Sentinel at `now` (`sentinelIsRunning`): it picks its id, saves it, and reports
    /// `+monitor` for every master.
    pub fn boot(now: SimTime, params: SentinelParams) -> Sentinel {
        let mut rng = SeedStream::derive(params.seed, &format!("sentinel/{}", params.name));
        let pid = 1000 + rng.below(60_000) as u32;
        let myid = rng.hex40();
        let ms = unix_ms(now) as Ms;
        let mut s = Sentinel {
            name: params.name,
            ip: params.ip,
            port: params.port,
            pid,
            myid,
            current_epoch: 0,
            masters: BTreeMap::new(),
            tilt: false,
            tilt_start_time: 0,
            previous_time: ms,
            rng,
            conns: BTreeMap::new(),
            next_conn: 1,
            next_instance: 1,
            next_timer: now,
            dirty: BTreeSet::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            logs: VecDeque::new(),
        };
        for m in params.masters {
            let id = s.alloc_instance();
            let mut ri = Instance::new(
                id,
                flag::MASTER,
                m.name.clone(),
                m.addr,
                m.down_after_ms as Ms,
                ms,
            );
            ri.role_reported = flag::MASTER;
            s.masters.insert(
                m.name,
                Master {
                    ri,
                    slaves: BTreeMap::new(),
                    sentinels: BTreeMap::new(),
                    quorum: m.quorum,
                    parallel_syncs: m.parallel_syncs,
                    failover_timeout: m.failover_timeout_ms as Ms,
                    failover_epoch: 0,
                    failover_state: FailoverState::None,
                    failover_state_change_time: 0,
                    failover_start_time: 0,
                    failover_delay_logged: 0,
                    promoted_slave: None,
                },
            );
        }
        s.flush_config(now);
        let line = format!("Sentinel ID is {}", s.myid);
        s.log(now, Level::Warning, line);
        let names: Vec<String> = s.masters.keys().cloned().collect();
        for name in names {
            let quorum = s.masters[&name].quorum;
            s.event(
                now,
                Level::Warning,
                "+monitor",
                &name,
                &Which::Master,
                &format!(" quorum {quorum}"),
            );
        }
        s
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ip(&self) -> &str {
        &self.ip
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The Sentinel's id (`SENTINEL MYID`).
    pub fn myid(&self) -> &str {
        &self.myid
    }

    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }

    /// The address Sentinel gives for master `name` (`SENTINEL get-master-addr-by-name`).
    pub fn master_addr(&self, name: &str) -> Option<Addr> {
        self.masters.get(name).map(|m| m.current_address().clone())
    }

    /// Master `name`'s flags as `SENTINEL MASTER` shows them, e.g. `s_down,o_down,master`.
    pub fn master_flags(&self, name: &str) -> Option<String> {
        self.masters.get(name).map(|m| command::flags_text(&m.ri))
    }

    pub fn poll_event(&mut self) -> Option<SentinelEvent> {
        self.events.pop_front()
    }

    pub fn poll_log(&mut self) -> Option<LogLine> {
        self.logs.pop_front()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When the next run of `sentinelTimer` is due.
    pub fn poll_timeout(&self) -> SimTime {
        self.next_timer
    }

    /// Runs `sentinelTimer` if it is due. Its period is `1000 / hz` ms with `hz` drawn again
    /// from 10..=19 after every run, as sentinel.c desynchronises Sentinels that started together
    /// (so that they do not ask for votes at the same instants, epoch after epoch).
    pub fn handle_timeout(&mut self, now: SimTime) {
        if now < self.next_timer {
            return;
        }
        self.timer(now);
        let hz = 10 + self.rng.below(10);
        self.next_timer = now + SimDuration::from_millis(1000 / hz);
    }

    // ----- connections -----

    fn alloc_instance(&mut self) -> u64 {
        let id = self.next_instance;
        self.next_instance += 1;
        id
    }

    /// Opens a connection to `which` of master `master` (`redisAsyncConnectBind`).
    fn open(&mut self, master: &str, which: &Which, instance: u64, addr: &Addr) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                kind: ConnKind::Outgoing {
                    master: master.to_string(),
                    which: which.clone(),
                    instance,
                    callbacks: VecDeque::new(),
                    reader: ReplyReader::default(),
                },
                connected: false,
                out: Vec::new(),
                close_after_reply: false,
            },
        );
        self.actions.push_back(Action::Connect {
            conn: id,
            host: addr.ip.clone(),
            port: addr.port,
        });
        id
    }

    /// Queues a command on an outgoing connection, its reply for `callback`.
    fn send(&mut self, conn: ConnId, args: &[&str], callback: Callback) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if let ConnKind::Outgoing { callbacks, .. } = &mut c.kind {
            encode_command(args, &mut c.out);
            callbacks.push_back(callback);
            if c.connected {
                self.dirty.insert(conn);
            }
        }
    }

    /// Closes a connection from our side (`instanceLinkCloseConnection` for ours).
    fn close(&mut self, conn: ConnId) {
        if self.conns.remove(&conn).is_some() {
            self.dirty.remove(&conn);
            self.actions.push_back(Action::Close { conn });
        }
    }

    /// `instanceLinkCloseConnection`: drops the link's connection `conn`.
    fn link_close(&mut self, master: &str, which: &Which, conn: ConnId) {
        if let Some(ri) = self.masters.get_mut(master).and_then(|m| m.get_mut(which)) {
            if ri.link.cc == Some(conn) {
                ri.link.cc = None;
                ri.link.pending_commands = 0;
            }
            if ri.link.pc == Some(conn) {
                ri.link.pc = None;
            }
            ri.link.disconnected = true;
        }
        self.close(conn);
    }

    /// Forgets both connections of an instance being released.
    fn release_link(&mut self, link: &instance::Link) {
        for conn in [link.cc, link.pc].into_iter().flatten() {
            self.close(conn);
        }
    }

    /// The connection went on the peer's side or failed (`instanceLinkConnectionError`).
    fn connection_lost(&mut self, conn: ConnId) {
        self.dirty.remove(&conn);
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let ConnKind::Outgoing {
            master,
            which,
            instance,
            ..
        } = c.kind
        {
            if let Some(ri) = self
                .masters
                .get_mut(&master)
                .and_then(|m| m.get_mut(&which))
                .filter(|ri| ri.id == instance)
            {
                if ri.link.pc == Some(conn) {
                    ri.link.pc = None;
                } else if ri.link.cc == Some(conn) {
                    ri.link.cc = None;
                }
                ri.link.disconnected = true;
            }
        }
    }

    /// A client or another Sentinel connected to us.
    pub fn handle_accept(&mut self, _now: SimTime, _peer_ip: &str, _peer_port: u16) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                kind: ConnKind::Incoming {
                    decoder: Box::default(),
                },
                connected: true,
                out: Vec::new(),
                close_after_reply: false,
            },
        );
        id
    }

    /// Our connection is established: what was queued on it goes out.
    pub fn handle_connected(&mut self, _now: SimTime, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.connected = true;
            if !c.out.is_empty() {
                self.dirty.insert(conn);
            }
        }
    }

    /// Our connection could not be made.
    pub fn handle_connect_failed(&mut self, _now: SimTime, conn: ConnId, _reason: &str) {
        self.connection_lost(conn);
    }

    /// The peer closed its end.
    pub fn handle_eof(&mut self, _now: SimTime, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.connection_lost(conn);
            self.actions.push_back(Action::Close { conn });
        }
    }

    /// The connection was reset.
    pub fn handle_reset(&mut self, _now: SimTime, conn: ConnId) {
        self.connection_lost(conn);
    }

    /// The socket of `conn` has room again.
    pub fn handle_writable(&mut self, _now: SimTime, conn: ConnId) {
        if self.conns.get(&conn).is_some_and(|c| !c.out.is_empty()) {
            self.dirty.insert(conn);
        }
    }

    /// Bytes received on `conn`: replies on ours, commands on one accepted.
    pub fn handle_data(&mut self, now: SimTime, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match &mut c.kind {
            ConnKind::Outgoing { reader, .. } => {
                reader.feed(bytes);
                self.read_replies(now, conn);
            }
            ConnKind::Incoming { decoder } => {
                decoder.feed(bytes);
                self.serve(now, conn);
            }
        }
    }

    /// Hands each complete reply on `conn` to its callback.
    fn read_replies(&mut self, now: SimTime, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let ConnKind::Outgoing {
                master,
                which,
                instance,
                callbacks,
                reader,
                ..
            } = &mut c.kind
            else {
                return;
            };
            let reply = match reader.next_reply() {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(_) => {
                    // hiredis frees a context whose reader failed.
                    let (master, which) = (master.clone(), which.clone());
                    self.link_close(&master, &which, conn);
                    return;
                }
            };
            let callback = match callbacks.front() {
                Some(Callback::Hello) => Callback::Hello,
                Some(_) => callbacks.pop_front().expect("a front exists"),
                // A reply nobody asked for: hiredis drops the connection.
                None => {
                    let (master, which) = (master.clone(), which.clone());
                    self.link_close(&master, &which, conn);
                    return;
                }
            };
            let (master, which, instance) = (master.clone(), which.clone(), *instance);
            let alive = self
                .masters
                .get(&master)
                .and_then(|m| m.get(&which))
                .is_some_and(|ri| ri.id == instance);
            if alive {
                self.on_reply(now, &master, &which, callback, reply);
            }
        }
    }

    /// Writes pending output into `tx`, as much as it accepts.
    pub fn poll_transmit(&mut self, _now: SimTime, tx: &mut impl Transmit) {
        while let Some(conn) = self.dirty.pop_first() {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if !c.connected {
                continue;
            }
            let n = tx.send(conn, &c.out);
            c.out.drain(..n);
            if c.out.is_empty() && c.close_after_reply {
                self.close(conn);
            }
        }
    }

    // ----- logging and events -----

    fn log(&mut self, now: SimTime, level: Level, message: String) {
        self.logs.push_back(LogLine {
            time: now,
            pid: self.pid,
            role: 'X',
            level,
            message,
        });
    }

    /// `sentinelEvent` with `%@`: the instance described, then `rest` (which starts with its own
    /// separator when it is not empty).
    fn event(
        &mut self,
        now: SimTime,
        level: Level,
        kind: &str,
        master: &str,
        which: &Which,
        rest: &str,
    ) {
        let what = self
            .masters
            .get(master)
            .map(|m| m.describe(which))
            .unwrap_or_default();
        self.event_text(now, level, kind, format!("{what}{rest}"));
    }

    /// `sentinelEvent` with a plain message. Events below notice are published but not logged
    /// (the default `loglevel notice`).
    fn event_text(&mut self, now: SimTime, level: Level, kind: &str, message: String) {
        assert!(
            EVENT_TYPES.contains(&kind),
            "{kind} is listed in EVENT_TYPES"
        );
        if level >= Level::Notice {
            self.log(now, level, format!("{kind} {message}"));
        }
        self.events.push_back(SentinelEvent {
            level,
            kind: kind.to_string(),
            message,
        });
    }

    /// `sentinelFlushConfig`: the configuration would be rewritten on disk; the log says so.
    fn flush_config(&mut self, now: SimTime) {
        self.log(
            now,
            Level::Notice,
            "Sentinel new configuration saved on disk".into(),
        );
    }

    fn ms(now: SimTime) -> Ms {
        unix_ms(now) as Ms
    }
}

#[cfg(test)]
mod tests;
