//! The node's state and its sans-IO interface.
//!
//! Input comes in through `handle_*` calls, each carrying `now`: a connection accepted or
//! established, bytes (or an opaque run) received, end-of-stream, reset, socket writable, a timer,
//! a client command. Output is pulled with `poll_*` calls: [`Node::poll_transmit`] writes pending
//! bytes into a [`Transmit`], [`Node::poll_action`] yields connections to open or close and reads
//! to pause, [`Node::poll_timeout`] the next deadline, [`Node::poll_event`] what happened, and
//! [`Node::poll_log`] log lines. The node never reads a clock, a socket, a file or a global RNG.
//!
//! The replication logic lives in `master.rs` (serving replicas), `replica.rs` (following a
//! master) and `commands.rs` (executing commands and propagating writes); this file holds the
//! plumbing they share.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use super::blocked::{Clients, Waiter};
use super::config::Config;
use super::keyspace::Keyspace;
use super::log::{Level, LogLine};
use super::rdb::Payload;
use super::replbuf::ReplBuffer;
use super::resp::{Decoder, ProtoError, Reply};
use super::shared::SharedBytes;
use super::state::{
    CachedMaster, Following, Link, MasterClient, ReplState, ReplicaLink, ReplicaState,
};
use crate::seed::SeedStream;
use crate::time::{SimDuration, SimTime};

/// A connection, as the node names it. Ids are allocated by the node and never reused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// An in-process client (a workload or an operator). Its commands arrive through
/// [`Node::handle_command`] rather than over a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// Where a node writes bytes: a socket layer that accepts what fits.
pub trait Transmit {
    /// Writes `bytes` on `conn`; returns how many were accepted.
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize;
    /// Writes `len` opaque bytes (the synthetic part of an RDB); returns how many were accepted.
    fn send_opaque(&mut self, conn: ConnId, len: u64) -> u64;
}

/// A request to the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a connection to `host:port`; report it with `handle_connected`/`handle_connect_failed`.
    Connect {
        conn: ConnId,
        host: String,
        port: u16,
    },
    /// Close the node's end of `conn` after the bytes already written.
    Close { conn: ConnId },
    /// Stop reading `conn`: bytes stay in the socket and count against the writer's buffer.
    PauseRead { conn: ConnId },
    /// Read `conn` again.
    ResumeRead { conn: ConnId },
}

/// Why a connection was freed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Over `client-output-buffer-limit`'s hard limit.
    OutputBufferHardLimit,
    /// Over the soft limit for longer than its seconds.
    OutputBufferSoftLimit,
    Timeout,
    ConnectionLost,
    RoleChange,
    /// The peer broke the protocol (`CLIENT_PROTOCOL_ERROR`): a master link closed for it is
    /// not cached, so the next sync is a full one.
    ProtocolError,
}

/// Why a replica gave up a full sync, as its log tells.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncAbort {
    /// The connection went (`I/O error trying to sync with MASTER: connection lost`): often the
    /// master dropping it.
    LinkLost,
    /// Nothing arrived for repl-timeout (`Timeout receiving bulk data from MASTER`).
    Timeout,
    /// The master sent an error instead of the RDB (`MASTER aborted replication`).
    MasterError,
    /// The master sent something that is not an RDB transfer.
    BadProtocol,
    /// The RDB did not load (`Failed trying to load the MASTER synchronization DB`).
    LoadFailed,
    /// REPLICAOF changed the master while the transfer ran.
    Cancelled,
}

impl SyncAbort {
    pub fn name(self) -> &'static str {
        match self {
            SyncAbort::LinkLost => "link_lost",
            SyncAbort::Timeout => "timeout",
            SyncAbort::MasterError => "master_error",
            SyncAbort::BadProtocol => "bad_protocol",
            SyncAbort::LoadFailed => "load_failed",
            SyncAbort::Cancelled => "cancelled",
        }
    }
}

/// Something the environment may want to observe. None of these change what the node does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A command that blocked (WAIT) completed.
    Reply { client: ClientId, reply: Reply },
    /// This replica began a full sync (`+FULLRESYNC` received).
    FullSyncStarted,
    /// This replica finished loading a full sync.
    FullSyncFinished,
    /// A full sync of this replica failed before completing.
    FullSyncAborted { reason: SyncAbort },
    /// This replica's PSYNC was accepted (`+CONTINUE`).
    PartialSyncAccepted,
    /// This replica's link to its master went down.
    MasterLinkDown,
    /// This master dropped a replica.
    ReplicaDropped { replica: String, reason: DropReason },
    /// This master accepted a partial resync from a replica.
    ReplicaPartialSync { replica: String },
    /// This master began a full sync for a replica.
    ReplicaFullSync { replica: String },
    /// The node's role changed.
    RoleChanged { master: bool },
    /// CLIENT KILL freed an in-process client: a real client would see its connection closed.
    ClientKilled { client: ClientId },
}

/// Counters of INFO stats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    pub total_net_repl_input_bytes: u64,
    pub total_net_repl_output_bytes: u64,
    pub total_commands_processed: u64,
    pub expired_keys: u64,
    pub rdb_last_load_keys_expired: u64,
    pub rdb_last_load_keys_loaded: u64,
    /// RDB snapshots started (INFO persistence `rdb_saves`).
    pub rdb_saves: u64,
}

/// What a connection is for.
#[derive(Debug)]
pub(crate) enum Role {
    /// A client connected to us (possibly a replica in its handshake).
    Client,
    /// A client that became a replica through SYNC/PSYNC.
    Replica(Box<ReplicaLink>),
    /// Our connection to our master.
    Master,
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub peer_ip: String,
    pub peer_port: u16,
    pub client_id: u64,
    /// Boxed, so a replica can lift it out while it applies the stream (see `apply_stream`) by
    /// moving a pointer rather than the whole decoder.
    pub decoder: Box<Decoder>,
    pub out: Vec<u8>,
    pub db: usize,
    pub authenticated: bool,
    pub close_after_reply: bool,
    pub read_paused: bool,
    pub role: Role,
    pub last_cmd: String,
    /// Set by `REPLCONF listening-port`.
    pub listening_port: u16,
    /// Set by `REPLCONF capa`.
    pub capa_eof: bool,
    pub capa_psync2: bool,
    /// `REPLCONF capa dual-channel`, kept only by a master that offers it (Valkey).
    pub capa_dual_channel: bool,
    /// `REPLCONF rdb-channel 1`: a dual-channel replica's RDB connection (Valkey).
    pub rdb_channel: bool,
    /// `REPLCONF set-rdb-client-id`: the RDB channel this main channel belongs to (Valkey).
    pub rdb_client_id: Option<u64>,
    /// `CLIENT SETNAME`.
    pub name: Vec<u8>,
    /// `c->woff`: what a WAIT on this connection waits for (see `Node::moves_wait_offset`).
    pub woff: u64,
    /// The channels it subscribed to, in order: not empty in the subscribed context.
    pub subscriptions: Vec<Vec<u8>>,
    /// Its transaction, between MULTI and EXEC or DISCARD.
    pub multi: Option<super::commands::multi::Multi>,
}

impl Conn {
    pub fn replica(&self) -> Option<&ReplicaLink> {
        match &self.role {
            Role::Replica(r) => Some(r),
            _ => None,
        }
    }

    pub fn replica_mut(&mut self) -> Option<&mut ReplicaLink> {
        match &mut self.role {
            Role::Replica(r) => Some(r),
            _ => None,
        }
    }
}

/// An in-process client's state. A WAIT it is blocked in is kept by [`Clients`], which indexes
/// it.
#[derive(Debug, Default)]
pub(crate) struct Client {
    pub db: usize,
    pub authenticated: bool,
    /// `woff`: `master_repl_offset` after this client's last write.
    pub woff: u64,
    /// `CLIENT SETNAME`.
    pub name: Vec<u8>,
}

/// An RDB load in progress (`server.loading`). A replica's load belongs to its transfer
/// ([`super::state::RdbReceive`]), which holds the payload.
#[derive(Debug)]
pub(crate) struct Loading {
    /// A load at startup (from a persisted RDB): the data is in place, commands wait.
    pub startup: bool,
    /// When the load finishes; `SimTime::MAX` while a diskless load still receives its RDB.
    pub until: SimTime,
    /// The swapdb load keeps serving the old data (`async_loading`).
    pub async_loading: bool,
    pub last_newline: SimTime,
}

/// A BGSAVE child.
#[derive(Debug)]
pub(crate) struct Child {
    pub pid: u32,
    pub socket_target: bool,
    pub payload: Rc<Payload>,
    /// When the fork returned to the parent (the parent is blocked until then).
    pub forked_at: SimTime,
    /// When the RDB is complete (disk), or when the child has produced all of it (socket).
    pub done_at: SimTime,
    /// Socket target: bytes read from the pipe and handed to every replica.
    pub pipe_read: u64,
    pub eof_mark: Vec<u8>,
    /// Socket target: the replicas fed by this child.
    pub replicas: Vec<ConnId>,
    pub pipe_done_logged: bool,
    /// Connections with a lower id were open when the fork happened. The child holds their
    /// sockets too (a forked process inherits every descriptor), so when the parent closes one,
    /// its peer sees nothing until the child exits.
    pub conns_below: u64,
    /// Those connections the parent has closed since: closed for good when the child exits.
    pub held_closes: Vec<ConnId>,
    /// The child process is gone, when and how, but the parent has not reaped it yet: that
    /// happens on the next `serverCron` tick (`checkChildrenDone`), and until then the BGSAVE
    /// is still in progress for the parent.
    pub exited: Option<(SimTime, ChildExit)>,
}

/// How a BGSAVE child ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChildExit {
    /// The RDB is saved (disk target).
    Saved,
    /// `killRDBChild`: SIGUSR1, which the child answers by exiting at once.
    Killed,
}

/// `serverCron`'s period at Redis's default `hz 10`: an exited child is reaped on its next tick.
pub(crate) const SERVER_CRON_PERIOD: SimDuration = SimDuration::from_millis(100);

/// A snapshot of the node's persistent state, for a restart with persistence.
#[derive(Clone, Debug)]
pub struct Persisted {
    pub rdb: Payload,
}

/// Identity and initial state of a node.
#[derive(Clone, Debug)]
pub struct NodeParams {
    pub name: String,
    pub ip: String,
    pub port: u16,
    pub config: Config,
    pub replicaof: Option<(String, u16)>,
    pub seed: u64,
}

/// A set kept as a sorted deque: the same order as a `BTreeSet`, at a fraction of its cost for
/// the pattern it serves. A master marks its replicas with output after every write, in
/// connection order (each insert lands at the back), and flushes them in the same order (each
/// pop comes from the front).
#[derive(Debug)]
pub(crate) struct SortedSet<T> {
    items: VecDeque<T>,
}

impl<T> Default for SortedSet<T> {
    fn default() -> Self {
        SortedSet {
            items: VecDeque::new(),
        }
    }
}

impl<T: Ord + Copy> SortedSet<T> {
    pub(crate) fn insert(&mut self, x: T) {
        if self.items.back().is_none_or(|&b| b < x) {
            self.items.push_back(x);
        } else if let Err(i) = self.items.binary_search(&x) {
            self.items.insert(i, x);
        }
    }

    pub(crate) fn remove(&mut self, x: &T) {
        if let Ok(i) = self.items.binary_search(x) {
            self.items.remove(i);
        }
    }

    pub(crate) fn pop_first(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

/// What flushing a connection's output left.
enum Flush {
    /// Everything pending went out.
    Done,
    /// The socket took part of it; the rest waits for `Writable`.
    Blocked,
    /// Everything went out and the connection is marked to close after its reply.
    Close,
    /// The connection no longer exists.
    Gone,
}

/// A simulated Redis server.
pub struct Node {
    /// Check every invariant after every input, not only the constant-time ones
    /// ([`Node::set_full_invariants`]).
    pub(crate) full_invariants: bool,
    /// Inputs since the full invariants last ran (see `Node::check_invariants`).
    pub(crate) unchecked_inputs: std::cell::Cell<u64>,
    pub(crate) name: String,
    pub(crate) ip: String,
    pub(crate) port: u16,
    pub(crate) pid: u32,
    /// `server.runid`: the process's identity, new at every start (INFO server `run_id`).
    pub(crate) run_id: String,
    pub cfg: Config,
    pub(crate) rng: SeedStream,
    pub(crate) boot: SimTime,

    pub(crate) replid: String,
    pub(crate) replid2: String,
    pub(crate) second_replid_offset: i64,
    /// `master_repl_offset` while no backlog exists; the buffer holds it otherwise.
    pub(crate) offset_without_backlog: u64,
    /// `server.pending_repl_data`'s size and peak: a dual-channel replica's local buffer of the
    /// stream received while its RDB is transferred and loaded (INFO
    /// `replicas_repl_buffer_size` and `replicas_repl_buffer_peak`).
    pub(crate) pending_repl: super::state::LocalReplBuffer,
    pub(crate) backlog: Option<ReplBuffer>,
    pub(crate) slaveseldb: i64,
    pub(crate) no_replicas_since: SimTime,
    pub(crate) good_replicas: u64,

    pub(crate) following: Option<Following>,
    pub(crate) cached_master: Option<CachedMaster>,

    pub keyspace: Keyspace,
    pub(crate) loading: Option<Loading>,
    pub(crate) child: Option<Child>,
    pub stats: Stats,

    pub(crate) conns: BTreeMap<ConnId, Conn>,
    /// Each channel's subscribers, in the order they subscribed (`server.pubsub_channels`).
    pub(crate) pubsub_channels: BTreeMap<Vec<u8>, Vec<ConnId>>,
    pub(crate) next_conn: u64,
    pub(crate) next_client_id: u64,
    pub(crate) clients: Clients,
    /// Connections whose WAIT was just answered: their waiting input is read next.
    pub(crate) unblocked_conns: Vec<ConnId>,
    pub(crate) dirty: SortedSet<ConnId>,
    pub(crate) write_blocked: BTreeSet<ConnId>,
    /// An empty decoder that stands in for a connection's own while that one is lifted out.
    pub(crate) spare_decoder: Option<Box<Decoder>>,
    pub(crate) getack_pending: bool,

    pub(crate) cron_loops: u64,
    pub(crate) next_cron: SimTime,
    /// The CPU is busy (commands, fork) until this instant; replies complete after it.
    pub(crate) busy_until: SimTime,
    /// Reused buffer for encoding propagated commands.
    pub(crate) prop_buf: Vec<u8>,
    /// Reused buffer for stream bytes that lie on more than one page of the backlog.
    pub(crate) send_scratch: Vec<u8>,
    /// Reused buffer for a command's propagation ops.
    pub(crate) ops_scratch: Vec<(i64, super::commands::Prop)>,

    pub(crate) actions: VecDeque<Action>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) logs: VecDeque<LogLine>,
}

/// The largest `master_repl_offset` a node carries. Redis keeps offsets in a `long long` and a
/// replica asks to continue at its offset + 1, which must still fit; an offset from the wire
/// (a `+FULLRESYNC`, an RDB's `repl-offset`, a stream that would pass it) beyond this is
/// refused as corrupt.
pub const REPL_OFFSET_MAX: u64 = i64::MAX as u64 - 1;

/// How long `amount` units take at `per_sec` units a second, in nanoseconds (rounded down, or
/// up with `round_up`). It saturates rather than wrapping: a size from the wire may be as large
/// as `i64::MAX`, and a rate as small as 1.
pub(crate) fn nanos_at_rate(amount: u64, per_sec: u64, round_up: bool) -> u64 {
    let num = u128::from(amount) * 1_000_000_000;
    let per_sec = u128::from(per_sec.max(1));
    let ns = if round_up {
        num.div_ceil(per_sec)
    } else {
        num / per_sec
    };
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// `CONFIG_RUN_ID_SIZE` zeros: a cleared replid2.
pub const ZERO_REPLID: &str = "0000000000000000000000000000000000000000";

/// A node timer: what a deadline from [`Node::poll_timeout`] is for. The order is the order
/// in which timers at the same instant are named.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// `serverCron`'s once-a-second work: `replicationCron`, `clientsCron`, active expiry.
    Cron,
    /// An RDB load completes.
    LoadDone,
    /// The BGSAVE child: a disk save completes, the diskless pipe has its next chunk, or an
    /// exited child is reaped.
    Child,
    /// A diskless load has consumed what arrived: read the master link again.
    LoadResume,
    /// A blocked WAIT reaches its timeout.
    WaitTimeout,
}

impl Timer {
    /// A stable code, for trace records: never reordered, new timers appended.
    pub fn code(self) -> u64 {
        match self {
            Timer::Cron => 1,
            Timer::LoadDone => 2,
            Timer::Child => 3,
            Timer::LoadResume => 4,
            Timer::WaitTimeout => 5,
        }
    }

    /// A stable name, for traces.
    pub fn name(self) -> &'static str {
        match self {
            Timer::Cron => "cron",
            Timer::LoadDone => "load_done",
            Timer::Child => "child",
            Timer::LoadResume => "load_resume",
            Timer::WaitTimeout => "wait_timeout",
        }
    }
}

/// The result of a client command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandResult {
    /// The reply, and when the node finishes executing the command.
    Done { reply: Reply, at: SimTime },
    /// The command blocked (WAIT); its reply comes later as [`Event::Reply`].
    Blocked,
}

impl Node {
    /// Starts a node at `now`, empty or from a persisted RDB, with a store of its own for its
    /// keys and values.
    pub fn boot(now: SimTime, params: NodeParams, persisted: Option<&Persisted>) -> Node {
        Node::boot_in(now, params, persisted, &SharedBytes::new())
    }

    /// [`boot`](Self::boot), keeping keys and values in `shared`, which other nodes may use too:
    /// nodes that hold the same bytes then hold them once.
    pub fn boot_in(
        now: SimTime,
        params: NodeParams,
        persisted: Option<&Persisted>,
        shared: &SharedBytes,
    ) -> Node {
        let mut rng = SeedStream::derive(params.seed, &format!("node/{}", params.name));
        let pid = 1000 + rng.below(60_000) as u32;
        let replid = rng.hex40();
        // A stream of its own, so that the node's other draws are what they were before it.
        let run_id =
            SeedStream::derive(params.seed, &format!("node/{}/run_id", params.name)).hex40();
        // Stagger the 1 Hz cron across nodes, as unsynchronised servers are.
        let phase = SimDuration::from_micros(rng.below(1_000_000));
        let databases = params.config.databases as usize;
        let mut node = Node {
            full_invariants: cfg!(any(debug_assertions, test)),
            unchecked_inputs: std::cell::Cell::new(0),
            name: params.name,
            ip: params.ip,
            port: params.port,
            pid,
            run_id,
            cfg: params.config,
            rng,
            boot: now,
            replid,
            replid2: ZERO_REPLID.to_string(),
            second_replid_offset: -1,
            offset_without_backlog: 0,
            pending_repl: Default::default(),
            backlog: None,
            slaveseldb: -1,
            no_replicas_since: now,
            good_replicas: 0,
            following: None,
            cached_master: None,
            keyspace: Keyspace::new_in(databases, shared),
            loading: None,
            child: None,
            stats: Stats::default(),
            conns: BTreeMap::new(),
            pubsub_channels: BTreeMap::new(),
            next_conn: 1,
            next_client_id: 3,
            clients: Clients::default(),
            unblocked_conns: Vec::new(),
            dirty: SortedSet::default(),
            write_blocked: BTreeSet::new(),
            spare_decoder: None,
            getack_pending: false,
            cron_loops: 0,
            next_cron: now + phase,
            busy_until: now,
            prop_buf: Vec::new(),
            send_scratch: Vec::new(),
            ops_scratch: Vec::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            logs: VecDeque::new(),
        };
        let version = node.cfg.redis_version;
        node.log(now, version.lowered_in_7_2(), "Server initialized".into());
        if let Some(p) = persisted {
            node.load_at_startup(now, p, params.replicaof.is_some());
        }
        if let Some((host, port)) = params.replicaof {
            // A configured replica starts in CONNECT; the first cron tick connects.
            node.following = Some(Following::new(host, port));
        }
        node.log(now, Level::Notice, version.ready_line().into());
        node
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

    /// `run_id`, as INFO server shows it.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Whether this node is a master (`masterhost == NULL`).
    pub fn is_master(&self) -> bool {
        self.following.is_none()
    }

    pub fn repl_state(&self) -> ReplState {
        self.following
            .as_ref()
            .map_or(ReplState::None, |f| f.link.state())
    }

    /// Whether the link to the master is up: the replica is in `REPL_STATE_CONNECTED`, which
    /// INFO shows as `master_link_status:up` (server.c: genRedisInfoString). Never on a master.
    pub fn master_link_up(&self) -> bool {
        self.repl_state() == ReplState::Connected
    }

    pub fn replid(&self) -> &str {
        &self.replid
    }

    pub fn replid2(&self) -> &str {
        &self.replid2
    }

    pub fn second_replid_offset(&self) -> i64 {
        self.second_replid_offset
    }

    /// `master_repl_offset`.
    pub fn master_repl_offset(&self) -> u64 {
        self.backlog
            .as_ref()
            .map_or(self.offset_without_backlog, ReplBuffer::master_repl_offset)
    }

    /// The replica's applied offset (`slave_repl_offset` in INFO), while it has a master or a
    /// cached one: its own `master_repl_offset`, which moves exactly with what it applies.
    pub fn slave_repl_offset(&self) -> Option<u64> {
        (self.master().is_some() || self.cached_master.is_some()).then(|| self.master_repl_offset())
    }

    /// `server.master`: the master client while the link is up.
    pub(crate) fn master(&self) -> Option<&MasterClient> {
        match &self.following.as_ref()?.link {
            Link::Connected(m) => Some(m),
            _ => None,
        }
    }

    pub(crate) fn master_mut(&mut self) -> Option<&mut MasterClient> {
        match &mut self.following.as_mut()?.link {
            Link::Connected(m) => Some(m),
            _ => None,
        }
    }

    /// The link to our master, while this node is a replica.
    pub(crate) fn link(&self) -> Option<&Link> {
        self.following.as_ref().map(|f| &f.link)
    }

    pub fn master_host(&self) -> Option<(&str, u16)> {
        self.following.as_ref().map(|f| (f.host.as_str(), f.port))
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// The bytes a dual-channel replica holds in its local buffer now (whole 16 KB blocks, as
    /// Valkey counts them); 0 outside a dual-channel sync.
    pub fn local_repl_buffer_bytes(&self) -> u64 {
        self.pending_repl.len
    }

    pub fn backlog_histlen(&self) -> u64 {
        self.backlog.as_ref().map_or(0, ReplBuffer::histlen)
    }

    /// Each attached replica: name, state, acked offset, output-buffer bytes.
    pub fn replica_summaries(&self) -> Vec<(String, ReplicaState, u64, u64)> {
        self.conns
            .values()
            .filter_map(|c| {
                let r = c.replica()?;
                Some((
                    self.replica_name(c),
                    r.state(),
                    r.ack_off,
                    self.replica_obuf_bytes(r),
                ))
            })
            .collect()
    }

    /// Open connections (clients, replicas, the master link).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// A command typed by an operator, as `redis-cli -a <requirepass> <command>` on the
    /// server's own host: `client` is a new in-process client that acts as the admin, so it is
    /// authenticated whatever `requirepass` says (an operator who changes the setup knows the
    /// password). The environment closes the client when the reply has come
    /// ([`Node::handle_client_closed`]); a WAIT's reply comes later, as an [`Event::Reply`].
    pub fn handle_operator_command(
        &mut self,
        now: SimTime,
        client: ClientId,
        args: &[&[u8]],
    ) -> CommandResult {
        self.clients.entry(client).or_default().authenticated = true;
        self.handle_command(now, client, args)
    }

    /// Whether a BGSAVE child is running.
    pub fn bgsave_in_progress(&self) -> bool {
        self.child.is_some()
    }

    // ----- logging and output queues -----

    pub(crate) fn role_char(&self) -> char {
        if self.is_master() {
            'M'
        } else {
            'S'
        }
    }

    pub(crate) fn log(&mut self, now: SimTime, level: Level, message: String) {
        let role = self.role_char();
        self.logs.push_back(LogLine {
            time: now,
            pid: self.pid,
            role,
            level,
            message,
        });
    }

    pub(crate) fn log_child(&mut self, now: SimTime, pid: u32, message: String) {
        self.logs.push_back(LogLine {
            time: now,
            pid,
            role: 'C',
            level: Level::Notice,
            message,
        });
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }

    pub fn poll_log(&mut self) -> Option<LogLine> {
        self.logs.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    // ----- connections -----

    pub(crate) fn alloc_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    pub(crate) fn new_conn(&mut self, peer_ip: String, peer_port: u16, role: Role) -> ConnId {
        let id = self.alloc_conn();
        let client_id = self.next_client_id;
        self.next_client_id += 1;
        let authenticated = self.cfg.requirepass.is_none() || matches!(role, Role::Master);
        let mut decoder = Box::new(Decoder::new());
        decoder.authenticated = authenticated;
        self.conns.insert(
            id,
            Conn {
                peer_ip,
                peer_port,
                client_id,
                decoder,
                out: Vec::new(),
                db: 0,
                authenticated,
                close_after_reply: false,
                read_paused: false,
                role,
                last_cmd: "NULL".into(),
                listening_port: 0,
                capa_eof: false,
                capa_psync2: false,
                capa_dual_channel: false,
                rdb_channel: false,
                rdb_client_id: None,
                name: Vec::new(),
                woff: 0,
                subscriptions: Vec::new(),
                multi: None,
            },
        );
        id
    }

    /// A peer connected to us. Returns the connection's id.
    pub fn handle_accept(&mut self, _now: SimTime, peer_ip: &str, peer_port: u16) -> ConnId {
        let id = self.new_conn(peer_ip.to_string(), peer_port, Role::Client);
        self.check_invariants();
        id
    }

    /// Asks the environment to close `conn` from our side (`connClose`). A fork child that was
    /// running when it opened holds its socket too, so the close reaches the peer only when the
    /// child exits ([`Child::held_closes`]).
    pub(crate) fn push_close(&mut self, conn: ConnId) {
        match self
            .child
            .as_mut()
            .filter(|c| c.exited.is_none() && conn.0 < c.conns_below)
        {
            Some(child) => child.held_closes.push(conn),
            None => self.actions.push_back(Action::Close { conn }),
        }
    }

    /// Closes a connection from our side and forgets it.
    pub(crate) fn close_conn(&mut self, now: SimTime, id: ConnId) {
        self.close_conn_for(now, id, DropReason::ConnectionLost);
    }

    /// [`close_conn`](Self::close_conn), saying why.
    pub(crate) fn close_conn_for(&mut self, now: SimTime, id: ConnId, reason: DropReason) {
        if self.conns.contains_key(&id) {
            self.free_conn(now, id, reason, false);
            self.push_close(id);
        }
    }

    /// Removes a connection from every table that names it (the connections, those with output
    /// to flush, those waiting for socket space), with no other bookkeeping.
    pub(crate) fn forget_conn(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        self.dirty.remove(&id);
        self.write_blocked.remove(&id);
        self.drop_subscriptions(id, &conn.subscriptions);
        Some(conn)
    }

    /// Forgets a connection (`freeClient`), with the bookkeeping its role needs.
    pub(crate) fn free_conn(
        &mut self,
        now: SimTime,
        id: ConnId,
        reason: DropReason,
        by_peer: bool,
    ) {
        let Some(conn) = self.forget_conn(id) else {
            return;
        };
        self.clients.unblock(Waiter::Conn(id));
        match &conn.role {
            Role::Replica(r) => {
                let name = self.replica_name(&conn);
                // An RDB channel that delivered its whole RDB closes as planned.
                let delivered = r.rdb_channel && r.sync.rdb().is_none_or(|s| s.sent >= s.total());
                if r.rdb_channel && self.cfg.redis_version.is_valkey() {
                    self.log(
                        now,
                        Level::Notice,
                        format!(
                            "Dual channel replication: Replica {name} rdb channel disconnected."
                        ),
                    );
                } else {
                    self.log(
                        now,
                        self.cfg.redis_version.lowered_in_7_2(),
                        format!("Connection with replica {name} lost."),
                    );
                }
                if reason != DropReason::RoleChange && !delivered {
                    self.event(Event::ReplicaDropped {
                        replica: name,
                        reason,
                    });
                }
                self.on_replica_freed(now, id);
            }
            Role::Master => self.on_master_conn_closed(now, id, reason, by_peer),
            Role::Client => {}
        }
    }

    /// The peer closed its end (read returned 0). Our end closes at once: a fork child holding
    /// the socket would keep it half-open, which the peer, already gone, cannot tell.
    pub fn handle_eof(&mut self, now: SimTime, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            self.free_conn(now, conn, DropReason::ConnectionLost, true);
            self.actions.push_back(Action::Close { conn });
        }
        self.check_invariants();
    }

    /// The connection was reset.
    pub fn handle_reset(&mut self, now: SimTime, conn: ConnId) {
        self.free_conn(now, conn, DropReason::ConnectionLost, true);
        self.check_invariants();
    }

    /// The socket of `conn` has room again.
    pub fn handle_writable(&mut self, _now: SimTime, conn: ConnId) {
        if self.write_blocked.remove(&conn) {
            self.dirty.insert(conn);
        }
        self.check_invariants();
    }

    /// Queues reply bytes on a connection.
    pub(crate) fn reply_to(&mut self, id: ConnId, reply: &Reply) {
        if let Some(c) = self.conns.get_mut(&id) {
            reply.encode(&mut c.out);
            self.dirty.insert(id);
        }
    }

    pub(crate) fn write_raw(&mut self, id: ConnId, bytes: &[u8]) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.out.extend_from_slice(bytes);
            self.dirty.insert(id);
        }
    }

    pub(crate) fn pause_read(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.read_paused {
                c.read_paused = true;
                self.actions.push_back(Action::PauseRead { conn: id });
            }
        }
    }

    pub(crate) fn resume_read(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            if c.read_paused {
                c.read_paused = false;
                self.actions.push_back(Action::ResumeRead { conn: id });
            }
        }
    }

    /// Bytes received on `conn`.
    pub fn handle_data(&mut self, now: SimTime, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.decoder.feed(bytes);
        if matches!(c.role, Role::Master) {
            self.stats.total_net_repl_input_bytes = self
                .stats
                .total_net_repl_input_bytes
                .saturating_add(bytes.len() as u64);
            self.on_master_data(now, conn);
        } else {
            if let Role::Replica(_) = c.role {
                self.stats.total_net_repl_input_bytes = self
                    .stats
                    .total_net_repl_input_bytes
                    .saturating_add(bytes.len() as u64);
            }
            self.process_client_input(now, conn);
        }
        self.after_input(now);
        self.check_invariants();
    }

    /// An opaque run received on `conn`: only meaningful inside an RDB transfer.
    pub fn handle_opaque(&mut self, now: SimTime, conn: ConnId, len: u64) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if matches!(c.role, Role::Master) {
            self.stats.total_net_repl_input_bytes =
                self.stats.total_net_repl_input_bytes.saturating_add(len);
            self.on_master_opaque(now, conn, len);
        } else {
            // Nothing but an RDB can carry opaque bytes; anywhere else it is garbage.
            self.log(
                now,
                Level::Verbose,
                "Protocol error (opaque bytes outside an RDB transfer) from client".into(),
            );
            self.close_conn(now, conn);
        }
        self.after_input(now);
        self.check_invariants();
    }

    /// End of every input: the `beforeSleep` work (WAIT's GETACK, unblocking WAITs).
    pub(crate) fn after_input(&mut self, now: SimTime) {
        loop {
            if self.getack_pending {
                self.getack_pending = false;
                if self.is_master() && self.backlog.is_some() {
                    self.propagate_raw(now, b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n");
                }
            }
            self.unblock_waits(now);
            self.clients.close_pending();
            // processUnblockedClients: a connection answered reads what it sent meanwhile,
            // which may block it again or unblock others.
            let unblocked = std::mem::take(&mut self.unblocked_conns);
            if unblocked.is_empty() {
                break;
            }
            for id in unblocked {
                self.process_client_input(now, id);
            }
        }
    }

    /// Processes buffered requests on a client or replica connection.
    fn process_client_input(&mut self, now: SimTime, id: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            if c.close_after_reply || c.read_paused {
                return;
            }
            // A client blocked in WAIT reads nothing more until it is answered.
            if self.clients.is_blocked(Waiter::Conn(id)) {
                return;
            }
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            let frame = c.decoder.next_frame();
            match frame {
                Ok(None) => return,
                Ok(Some(super::resp::Frame::Newline)) => {
                    // A replica's keepalive newline refreshes its ACK time.
                    if let Some(r) = c.replica_mut() {
                        r.ack_time = now;
                    }
                }
                Ok(Some(super::resp::Frame::Command)) => {
                    let owned = c.decoder.args_vec();
                    let args: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
                    self.conn_command(now, id, &args);
                }
                Err(e) => {
                    self.log_protocol_error(now, id, &e);
                    self.reply_to(id, &Reply::err(format!("ERR {}", e.0)));
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.close_after_reply = true;
                    }
                    return;
                }
            }
        }
    }

    /// `setProtocolError`'s log line for connection `id`, whose decoder stopped at the error:
    /// at warning level for our master, verbose for anyone else.
    pub(crate) fn log_protocol_error(&mut self, now: SimTime, id: ConnId, e: &ProtoError) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let (flags, level, db) = match c.role {
            Role::Master => ("M", Level::Warning, self.master().map_or(c.db, |m| m.db)),
            Role::Replica(_) => ("S", Level::Verbose, c.db),
            Role::Client => ("N", Level::Verbose, c.db),
        };
        let addr = format!("{}:{}", c.peer_ip, c.peer_port);
        let info = self.client_info(c.client_id, &addr, flags, db, &c.last_cmd);
        let sample = c.decoder.protocol_error_sample();
        self.log(
            now,
            level,
            format!(
                "Protocol error ({}) from client: {info}. {sample}",
                e.errstr()
            ),
        );
    }

    // ----- output -----

    /// Writes pending output of every connection into `tx`, as much as it accepts.
    pub fn poll_transmit(&mut self, now: SimTime, tx: &mut impl Transmit) {
        // With no fork child and nothing to write, nothing here changes the node, which was
        // checked at the end of its last input: the check is skipped (most calls, on replicas).
        let mut acted = self.child.is_some();
        loop {
            // A diskless transfer reads its pipe a chunk at a time, as each chunk is written.
            self.pump_child_pipe(now);
            if self.dirty.is_empty() {
                break;
            }
            acted = true;
            while let Some(id) = self.dirty.pop_first() {
                match self.flush_conn(now, id, tx) {
                    Flush::Done | Flush::Gone => {}
                    Flush::Blocked => {
                        self.write_blocked.insert(id);
                    }
                    // After a reply flushed completely, a client marked to close is closed.
                    Flush::Close => self.close_conn(now, id),
                }
            }
        }
        if acted {
            self.check_invariants();
        }
    }

    /// Writes one connection's output.
    fn flush_conn(&mut self, now: SimTime, id: ConnId, tx: &mut impl Transmit) -> Flush {
        let Some(c) = self.conns.get_mut(&id) else {
            return Flush::Gone;
        };
        if !c.out.is_empty() {
            let n = tx.send(id, &c.out);
            c.out.drain(..n);
            if !c.out.is_empty() {
                return Flush::Blocked;
            }
        }
        if c.replica().is_some() {
            let close = c.close_after_reply;
            let done = self.flush_replica(now, id, tx);
            return match (done, close) {
                (true, false) => Flush::Done,
                _ if !self.conns.contains_key(&id) => Flush::Gone,
                (true, true) => Flush::Close,
                (false, _) => Flush::Blocked,
            };
        }
        if c.close_after_reply {
            Flush::Close
        } else {
            Flush::Done
        }
    }

    // ----- timers -----

    /// The next instant the node needs [`Node::handle_timeout`], and which timer that is. At
    /// equal instants the first in [`Timer`]'s order is named; `handle_timeout` runs every
    /// timer that is due, whichever was named.
    pub fn poll_timeout(&self) -> Option<(SimTime, Timer)> {
        let mut next = (self.next_cron, Timer::Cron);
        let mut consider = |at: Option<SimTime>, timer: Timer| {
            if let Some(at) = at {
                if (at, timer) < next {
                    next = (at, timer);
                }
            }
        };
        consider(self.loading.as_ref().map(|l| l.until), Timer::LoadDone);
        consider(self.child_deadline(), Timer::Child);
        consider(self.load_resume_at(), Timer::LoadResume);
        consider(self.wait_deadline(), Timer::WaitTimeout);
        Some(next)
    }

    /// Runs whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: SimTime) {
        if self.load_resume_at().is_some_and(|t| t <= now) {
            self.on_read_resume(now);
        }
        if self.loading.as_ref().is_some_and(|l| l.until <= now) {
            self.finish_loading(now);
        }
        // A child can exit and be reaped at the same instant when the timer comes late.
        self.check_child(now);
        self.check_child(now);
        self.expire_waits(now);
        while self.next_cron <= now {
            let at = self.next_cron;
            self.next_cron = at + SimDuration::from_secs(1);
            self.cron(at.max(now));
        }
        self.after_input(now);
        self.check_invariants();
    }

    /// `replicationCron` plus the once-a-second parts of `serverCron` and `clientsCron`.
    fn cron(&mut self, now: SimTime) {
        if self
            .loading
            .as_ref()
            .is_some_and(|l| !l.async_loading && !l.startup)
        {
            // A blocking load runs no timers; it only sends the master its keepalive newline.
            self.loading_tick(now);
            return;
        }
        self.replica_cron(now);
        self.master_cron(now);
        self.active_expire(now);
        self.refresh_good_replicas(now);
        self.cron_loops += 1;
    }

    /// The id string Redis prints for a client (`CLIENT LIST` format, abridged).
    pub(crate) fn client_info(
        &self,
        id: u64,
        addr: &str,
        flags: &str,
        db: usize,
        cmd: &str,
    ) -> String {
        format!(
            "id={id} addr={addr} laddr={}:{} fd={} name= age=0 idle=0 flags={flags} db={db} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1024 events=r cmd={cmd} user=default redir=-1 resp=2 lib-name= lib-ver=",
            self.ip,
            self.port,
            id + 5
        )
    }

    /// The dataset digest (order-independent).
    pub fn digest(&self) -> u64 {
        self.keyspace.digest()
    }

    pub fn dbsize(&self) -> u64 {
        self.keyspace.len()
    }

    /// Seconds elapsed since `t`, in whole seconds as Redis computes `server.unixtime - t`.
    pub(crate) fn secs_since(now: SimTime, t: SimTime) -> u64 {
        super::log::unix_secs(now).saturating_sub(super::log::unix_secs(t))
    }
}
