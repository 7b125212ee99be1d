//! The replication state machines, each state carrying exactly its data.
//!
//! Two machines live here. The replica side ([`Following`] and its [`Link`]) is Redis's
//! `server.repl_state` with what each state needs: the connection while connecting, the replies
//! still expected in the handshake, the RDB being received during a transfer, and
//! `server.master` once connected. The master side ([`ReplicaLink`] and its [`ReplicaSync`]) is
//! a replica client's `replstate` with the RDB it is being sent. Nothing here decides anything;
//! `replica.rs` and `master.rs` move between the states.

use std::collections::VecDeque;
use std::rc::Rc;

use super::node::ConnId;
use super::rdb::Payload;
use crate::time::SimTime;

/// `repl_state`, the replica side's state as INFO and ROLE name it (server.h `REPL_STATE_*`).
/// The states Redis passes through without waiting (`SEND_HANDSHAKE`, `SEND_PSYNC`) are never
/// observed from outside, so they have no variant.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReplState {
    None,
    Connect,
    Connecting,
    ReceivePingReply,
    ReceiveAuthReply,
    ReceivePortReply,
    ReceiveIpReply,
    ReceiveCapaReply,
    /// Valkey's `REPL_STATE_RECEIVE_VERSION_REPLY`.
    ReceiveVersionReply,
    ReceivePsyncReply,
    Transfer,
    Connected,
}

impl ReplState {
    /// The state word ROLE reports.
    pub fn role_name(self) -> &'static str {
        match self {
            ReplState::None => "none",
            ReplState::Connect => "connect",
            ReplState::Connecting => "connecting",
            ReplState::Transfer => "sync",
            ReplState::Connected => "connected",
            _ => "handshake",
        }
    }

    pub fn in_handshake(self) -> bool {
        (ReplState::ReceivePingReply..=ReplState::ReceivePsyncReply).contains(&self)
    }
}

/// The replica side (`server.masterhost` set): which master, and the link to it.
#[derive(Debug)]
pub(crate) struct Following {
    pub host: String,
    pub port: u16,
    pub link: Link,
    /// `server.repl_down_since`: when the established link last went down; `None` if it never
    /// was up.
    pub down_since: Option<SimTime>,
}

impl Following {
    pub(crate) fn new(host: String, port: u16) -> Following {
        Following {
            host,
            port,
            link: Link::Connect,
            down_since: None,
        }
    }
}

/// The link to the master, by `repl_state`, with what each state holds.
#[derive(Debug)]
pub(crate) enum Link {
    /// `REPL_STATE_CONNECT`: no connection; the next cron tick opens one.
    Connect,
    /// `REPL_STATE_CONNECTING`: the connection is being established.
    Connecting { conn: ConnId, since: SimTime },
    /// `REPL_STATE_RECEIVE_*_REPLY`: the handshake, its replies read in order.
    Handshake(Handshake),
    /// `REPL_STATE_TRANSFER`: the RDB of a full sync is being received or loaded.
    Transfer(Box<Transfer>),
    /// A full sync over two connections (Valkey's dual-channel replication, from the master's
    /// `+DUALCHANNELSYNC` until the RDB is loaded and the buffered stream applied).
    Dual(Box<DualSync>),
    /// `REPL_STATE_CONNECTED`: `server.master`.
    Connected(MasterClient),
}

impl Link {
    /// The connection to the master, if one is open.
    pub(crate) fn conn(&self) -> Option<ConnId> {
        match self {
            Link::Connect => None,
            Link::Connecting { conn, .. } => Some(*conn),
            Link::Handshake(h) => Some(h.conn),
            Link::Transfer(t) => Some(t.conn),
            Link::Dual(d) => Some(d.main),
            Link::Connected(m) => Some(m.conn),
        }
    }

    /// The dual-channel sync's RDB connection, if one is open.
    pub(crate) fn rdb_conn(&self) -> Option<ConnId> {
        match self {
            Link::Dual(d) => d.rdb_conn(),
            _ => None,
        }
    }

    pub(crate) fn state(&self) -> ReplState {
        match self {
            Link::Connect => ReplState::Connect,
            Link::Connecting { .. } => ReplState::Connecting,
            Link::Handshake(h) => h.awaiting.state(),
            Link::Transfer(_) => ReplState::Transfer,
            Link::Dual(d) => d.main_step.state(),
            Link::Connected(_) => ReplState::Connected,
        }
    }
}

/// A dual-channel full sync, replica side (Valkey 8.1 replication.c: `server.repl_state` for
/// the main channel, `server.repl_rdb_channel_state` for the RDB channel,
/// `server.repl_provisional_primary` and `server.pending_repl_data`).
#[derive(Debug)]
pub(crate) struct DualSync {
    /// The main channel: the handshake's connection, which will carry the stream.
    pub main: ConnId,
    pub main_step: MainStep,
    pub rdb: RdbChannel,
    /// What `$ENDOFF` said: the provisional master until the RDB is loaded.
    pub endoff: Option<EndOffset>,
    /// When the main channel last delivered bytes.
    pub main_lastio: SimTime,
    /// The database the stream selects, from the loaded RDB.
    pub stream_db: usize,
    /// Redis 8.0's rdb channel: the main channel's client id on the master, from
    /// `+RDBCHANNELSYNC <client-id>` (`server.repl_main_ch_client_id`). `None` under Valkey.
    pub main_ch_client_id: Option<u64>,
}

impl DualSync {
    pub(crate) fn rdb_conn(&self) -> Option<ConnId> {
        match &self.rdb {
            RdbChannel::Connecting { conn, .. } | RdbChannel::Handshake { conn, .. } => Some(*conn),
            RdbChannel::Transfer(t) => Some(t.conn),
            RdbChannel::Loaded => None,
        }
    }

    /// When either channel last heard from the master (the sync times out on it).
    pub(crate) fn lastio(&self) -> SimTime {
        match &self.rdb {
            RdbChannel::Connecting { since: t, .. } | RdbChannel::Handshake { lastio: t, .. } => *t,
            RdbChannel::Transfer(tr) => tr.lastio,
            RdbChannel::Loaded => self.main_lastio,
        }
    }
}

/// The main channel during a dual-channel sync (`server.repl_state`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum MainStep {
    /// Read handler cleared until the RDB channel has the snapshot's end offset
    /// (`repl_state` stays `RECEIVE_PSYNC_REPLY`).
    AwaitEndOffset,
    /// `REPLCONF set-rdb-client-id` sent (`REPL_STATE_RECEIVE_CAPA_REPLY`).
    RdbClientIdReply,
    /// `PSYNC <replid> <endoff + 1>` sent.
    PsyncReply,
    /// `+CONTINUE` read: the stream is buffered (`REPL_STATE_TRANSFER`, `bufferReplData`).
    Buffering,
}

impl MainStep {
    pub(crate) fn state(self) -> ReplState {
        match self {
            MainStep::AwaitEndOffset | MainStep::PsyncReply => ReplState::ReceivePsyncReply,
            MainStep::RdbClientIdReply => ReplState::ReceiveCapaReply,
            MainStep::Buffering => ReplState::Transfer,
        }
    }
}

/// The RDB channel (`server.repl_rdb_channel_state`).
#[derive(Debug)]
pub(crate) enum RdbChannel {
    /// Connecting (`REPL_DUAL_CHANNEL_SEND_HANDSHAKE` once connected).
    Connecting { conn: ConnId, since: SimTime },
    /// The replies to AUTH and `REPLCONF capa eof rdb-only 1 rdb-channel 1 listening-port`,
    /// then `$ENDOFF` after SYNC.
    Handshake {
        conn: ConnId,
        lastio: SimTime,
        awaiting: RdbHandshakeReply,
    },
    /// `REPL_DUAL_CHANNEL_RDB_LOAD`: the RDB is received and loaded as in a classic sync.
    Transfer(Box<Transfer>),
    /// `REPL_DUAL_CHANNEL_RDB_LOADED`: loaded, the main channel's PSYNC not yet accepted.
    Loaded,
}

/// What the RDB channel waits for in its handshake.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum RdbHandshakeReply {
    Auth,
    Replconf,
    EndOffset,
    /// Redis 8.0: `+FULLRESYNC <replid> <offset>`, the answer to the RDB channel's `PSYNC ? -1`.
    FullResync,
}

/// `$ENDOFF:<repl-offset> <primary-repl-id> <current-db-id> <client-id>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndOffset {
    pub offset: u64,
    pub replid: String,
    pub db: usize,
    pub client_id: u64,
}

/// The replica's local buffer of a dual-channel sync (`server.pending_repl_data`). The bytes
/// themselves stay in the main channel's input until they are applied; this is Valkey's
/// accounting of them. The peak outlives the sync, until the next one starts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LocalReplBuffer {
    /// `len`: the size of its blocks, whole blocks of [`LOCAL_BUFFER_BLOCK_BYTES`].
    pub len: u64,
    /// `peak`.
    pub peak: u64,
    /// Reading stopped at the limit (`Replication buffer limit reached, stopping buffering.`).
    pub stopped: bool,
}

/// `bufferReplData` reads `PROTO_IOBUF_LEN` at a time into blocks of at least
/// `PROTO_REPLY_CHUNK_BYTES`: each block holds 16 KB.
pub(crate) const LOCAL_BUFFER_BLOCK_BYTES: u64 = 16 * 1024;

/// One reply of the handshake (PING, then the pipelined AUTH and REPLCONFs, then PSYNC).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum HandshakeReply {
    Ping,
    Auth,
    Port,
    Ip,
    Capa,
    Version,
    Psync,
}

impl HandshakeReply {
    pub(crate) fn state(self) -> ReplState {
        match self {
            HandshakeReply::Ping => ReplState::ReceivePingReply,
            HandshakeReply::Auth => ReplState::ReceiveAuthReply,
            HandshakeReply::Port => ReplState::ReceivePortReply,
            HandshakeReply::Ip => ReplState::ReceiveIpReply,
            HandshakeReply::Capa => ReplState::ReceiveCapaReply,
            HandshakeReply::Version => ReplState::ReceiveVersionReply,
            HandshakeReply::Psync => ReplState::ReceivePsyncReply,
        }
    }
}

/// The handshake in progress.
#[derive(Debug)]
pub(crate) struct Handshake {
    pub conn: ConnId,
    /// `server.repl_transfer_lastio`: the last reply read (the handshake times out on it).
    pub lastio: SimTime,
    /// The reply being waited for.
    pub awaiting: HandshakeReply,
    /// The replies expected after it, in order (the pipelined commands' replies).
    pub then: VecDeque<HandshakeReply>,
}

/// A full sync's RDB being received (`readSyncBulkPayload`), then loaded.
#[derive(Debug)]
pub(crate) struct Transfer {
    pub conn: ConnId,
    /// `server.repl_transfer_lastio`.
    pub lastio: SimTime,
    /// `server.master_replid` from `+FULLRESYNC <replid> <offset>`; empty after a malformed
    /// reply or a SYNC.
    pub replid: String,
    /// `server.master_initial_offset`: -1 after a SYNC (no PSYNC), which makes the master client
    /// a pre-PSYNC one that sends no ACKs.
    pub initial_offset: i64,
    pub rdb: RdbReceive,
}

/// How far the RDB has come.
#[derive(Debug)]
pub(crate) enum RdbReceive {
    /// Waiting for `$<len>` or `$EOF:<mark>` (newlines may come first).
    Header,
    /// The payload is arriving.
    Body(RdbBody),
    /// Everything arrived; the load (`Node::loading`) finishes it.
    Loading {
        payload: Payload,
        /// Sent with `$EOF:` (diskless): the master streams only after our first ACK.
        eof_mark: bool,
    },
}

/// The payload of an RDB transfer as it arrives.
#[derive(Debug)]
pub(crate) struct RdbBody {
    pub size: RdbSize,
    pub read: u64,
    pub payload: Payload,
    /// Diskless load: when the loader will have consumed everything received so far.
    pub load_clock: Option<SimTime>,
    /// Diskless load: reading is paused until the loader catches up at this instant.
    pub resume_at: Option<SimTime>,
}

/// Where an RDB ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RdbSize {
    /// `$<len>`: after this many bytes.
    Len(u64),
    /// `$EOF:<mark>`: at the 40-byte mark.
    EofMark(Vec<u8>),
}

/// What the replica knows of its master while the link is up (`server.master`). Its offset is
/// not kept here: a replica's applied offset is its own `master_repl_offset`, since it feeds its
/// stream with exactly the bytes it applies (`replicationFeedStreamFromMasterStream`).
#[derive(Debug, Clone)]
pub(crate) struct MasterClient {
    pub conn: ConnId,
    pub replid: String,
    /// The database the stream last selected.
    pub db: usize,
    pub last_interaction: SimTime,
    /// Synced by SYNC, not PSYNC: no ACKs.
    pub pre_psync: bool,
}

/// `server.cached_master`: what is kept of a lost master to try a partial resync. Its offset,
/// like a connected master's, is the node's own `master_repl_offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CachedMaster {
    pub replid: String,
    pub db: usize,
}

/// A replica's state as its master sees it (server.h `SLAVE_STATE_*`), as INFO names it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    WaitBgsaveStart,
    WaitBgsaveEnd,
    SendBulk,
    Online,
    /// Valkey's `REPLICA_STATE_BG_RDB_LOAD`: a dual-channel replica's main channel, streamed
    /// while its RDB channel still transfers or loads; online at its first ACK.
    BgRdbLoad,
    /// Redis 8.0's `SLAVE_STATE_WAIT_RDB_CHANNEL`, which INFO shows as `wait_bgsave`.
    WaitRdbChannel,
}

impl ReplicaState {
    pub fn info_name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsaveStart
            | ReplicaState::WaitBgsaveEnd
            | ReplicaState::WaitRdbChannel => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
            ReplicaState::BgRdbLoad => "bg_transfer",
        }
    }
}

/// A replica's sync as its master runs it, with what each state holds.
#[derive(Debug)]
pub(crate) enum ReplicaSync {
    /// `SLAVE_STATE_WAIT_BGSAVE_START`: waiting for a BGSAVE it can use.
    WaitBgsaveStart,
    /// `SLAVE_STATE_WAIT_BGSAVE_END`: its RDB is being produced. `initial_offset` is the offset
    /// its `+FULLRESYNC` named; a diskless transfer streams while the child produces.
    WaitBgsaveEnd {
        initial_offset: u64,
        diskless: Option<DisklessSend>,
    },
    /// `SLAVE_STATE_SEND_BULK`: the RDB file is being sent.
    SendBulk(RdbSend),
    /// `SLAVE_STATE_ONLINE`. After a diskless sync the stream starts only at the replica's first
    /// ACK (`repl_start_cmd_stream_on_ack`).
    Online { stream_on_ack: bool },
    /// `REPLICA_STATE_BG_RDB_LOAD`: streaming, not yet counted online.
    BgRdbLoad,
    /// Redis 8.0's `SLAVE_STATE_WAIT_RDB_CHANNEL`: a main channel answered `+RDBCHANNELSYNC`,
    /// sent nothing until its RDB channel's fork starts streaming it.
    WaitRdbChannel,
}

impl ReplicaSync {
    pub(crate) fn state(&self) -> ReplicaState {
        match self {
            ReplicaSync::WaitBgsaveStart => ReplicaState::WaitBgsaveStart,
            ReplicaSync::WaitBgsaveEnd { .. } => ReplicaState::WaitBgsaveEnd,
            ReplicaSync::SendBulk(_) => ReplicaState::SendBulk,
            ReplicaSync::Online { .. } => ReplicaState::Online,
            ReplicaSync::BgRdbLoad => ReplicaState::BgRdbLoad,
            ReplicaSync::WaitRdbChannel => ReplicaState::WaitRdbChannel,
        }
    }

    /// The RDB this replica is being sent, if any.
    pub(crate) fn rdb(&self) -> Option<&RdbSend> {
        match self {
            ReplicaSync::WaitBgsaveEnd {
                diskless: Some(d), ..
            } => Some(&d.send),
            ReplicaSync::SendBulk(s) => Some(s),
            _ => None,
        }
    }
}

/// A diskless transfer to one replica, fed from the child's pipe.
#[derive(Debug)]
pub(crate) struct DisklessSend {
    pub send: RdbSend,
    /// The last time a write to this replica was short (`repl_last_partial_write`): a replica
    /// that takes nothing for repl-timeout is dropped.
    pub last_partial_write: Option<SimTime>,
}

/// An RDB being sent to a replica: a header, the payload, and for diskless transfers the EOF
/// mark. Each transfer holds its own reference to the payload, as each Redis replica holds its
/// own descriptor of the RDB file: a later BGSAVE cannot change what an earlier one sends.
#[derive(Clone, Debug)]
pub(crate) struct RdbSend {
    /// `$<len>\r\n` or `$EOF:<mark>\r\n`.
    pub header: Vec<u8>,
    /// Bytes of header + payload + mark written so far.
    pub sent: u64,
    pub payload: Rc<Payload>,
    /// The 40-byte EOF mark after a diskless payload; empty for disk transfers.
    pub mark: Vec<u8>,
}

impl RdbSend {
    pub fn total(&self) -> u64 {
        self.header.len() as u64 + self.payload.len() + self.mark.len() as u64
    }
}

/// The master's view of one replica.
#[derive(Debug)]
pub(crate) struct ReplicaLink {
    pub sync: ReplicaSync,
    pub listening_port: u16,
    pub announced_ip: Option<String>,
    pub capa_eof: bool,
    /// Attached by SYNC rather than PSYNC: no `+FULLRESYNC`, no ACKs expected.
    pub pre_psync: bool,
    pub ack_off: u64,
    pub ack_time: SimTime,
    /// The next stream offset to send (`ref_repl_buf_node`): `None` until the replica is
    /// attached to the buffer, which a replica waiting for a BGSAVE to start never is.
    pub next: Option<u64>,
    pub soft_limit_since: Option<SimTime>,
    /// A dual-channel replica's RDB channel (`REPLCONF rdb-channel 1`): sent the RDB only,
    /// never the stream.
    pub rdb_channel: bool,
    /// An RDB channel whose main channel has not yet asked for PSYNC
    /// (`server.replicas_waiting_psync`): its `next` holds the backlog from the snapshot's
    /// offset for that PSYNC.
    pub waiting_psync: bool,
}

impl ReplicaLink {
    pub(crate) fn state(&self) -> ReplicaState {
        self.sync.state()
    }

    /// Online (or a dual-channel main channel) and taking the stream.
    pub(crate) fn streaming(&self) -> bool {
        matches!(
            self.sync,
            ReplicaSync::Online {
                stream_on_ack: false
            } | ReplicaSync::BgRdbLoad
        )
    }

    /// The `type=` of INFO's replica line under Valkey.
    pub(crate) fn channel_type(&self) -> &'static str {
        if self.rdb_channel {
            "rdb-channel"
        } else if matches!(self.sync, ReplicaSync::BgRdbLoad) {
            "main-channel"
        } else {
            "replica"
        }
    }
}
