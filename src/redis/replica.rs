//! Following a master: the replica side of replication (replication.c `connectWithMaster`,
//! `syncWithMaster`, `slaveTryPartialResynchronization`, `readSyncBulkPayload`,
//! `replicationCacheMaster`, `replicaofCommand`, and `replicationCron`'s replica half).
//!
//! The handshake is pipelined as Redis 7 does it: PING, then AUTH, `REPLCONF listening-port`,
//! `REPLCONF ip-address` and `REPLCONF capa eof capa psync2` without waiting, then their replies
//! in order, then PSYNC. As in `syncWithMaster`, a handshake error closes the connection and the
//! next `replicationCron` tick reconnects, while a failed transfer
//! (`cancelReplicationHandshake(1)`) and a lost established link
//! (`replicationHandleMasterDisconnection`) reconnect at once.
//!
//! The link's state ([`Link`]) carries what each step needs; every function here moves it from
//! one state to the next.

use std::collections::VecDeque;

use super::commands::{Caller, Ctx, Prop};
use super::config::DisklessLoad;
use super::log::{unix_ms, unix_secs, Level};
use super::node::{
    nanos_at_rate, Action, ConnId, DropReason, Event, Loading, Node, Persisted, Role, SyncAbort,
    REPL_OFFSET_MAX,
};
use super::rdb::{self, Payload};
use super::resp::{encode_command, string2ll, Frame, ProtoError, Reply};
use super::state::{
    CachedMaster, Following, Handshake, HandshakeReply, Link, MasterClient, RdbBody, RdbChannel,
    RdbReceive, RdbSize, Transfer,
};
use crate::time::{SimDuration, SimTime};

/// The buffer `receiveSynchronousResponse` reads a handshake reply into: a longer reply is cut.
pub(crate) const HANDSHAKE_LINE_BYTES: usize = 256;
/// The buffer `readSyncBulkPayload` reads the RDB's `$<len>` or `$EOF:<mark>` line into.
const BULK_HEADER_LINE_BYTES: usize = 1024;

/// Why a handshake or transfer was given up, for [`Node::cancel_handshake`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reconnect {
    /// Retry at once (`cancelReplicationHandshake(1)`).
    Now,
    /// Leave the link in CONNECT for the next cron tick.
    Later,
}

impl Node {
    /// `REPLICAOF host port` / `REPLICAOF NO ONE`.
    pub(crate) fn replicaof_command(
        &mut self,
        now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        if let Caller::Conn(id) = ctx.caller {
            if self.conns.get(&id).is_some_and(|c| c.replica().is_some()) {
                return Reply::err("ERR Command is not valid when client is a replica.");
            }
        }
        let who = self.caller_info(ctx, "replicaof");
        if args[1].eq_ignore_ascii_case(b"no") && args[2].eq_ignore_ascii_case(b"one") {
            if self.following.is_some() {
                self.unset_master(now);
                self.log(
                    now,
                    Level::Notice,
                    format!("MASTER MODE enabled (user request from '{who}')"),
                );
            }
            return Reply::ok();
        }
        let host = String::from_utf8_lossy(args[1]).to_string();
        let port = match string2ll(args[2]) {
            Some(p) if (0..=65535).contains(&p) => p as u16,
            _ => return Reply::err("ERR Invalid master port"),
        };
        if self
            .following
            .as_ref()
            .is_some_and(|f| f.host.eq_ignore_ascii_case(&host) && f.port == port)
        {
            self.log(now, Level::Notice, "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.".into());
            return Reply::Simple("OK Already connected to specified master".into());
        }
        self.set_master(now, host.clone(), port);
        self.log(
            now,
            Level::Notice,
            format!("REPLICAOF {host}:{port} enabled (user request from '{who}')"),
        );
        Reply::ok()
    }

    fn caller_info(&self, ctx: &Ctx, cmd: &str) -> String {
        match ctx.caller {
            Caller::Conn(id) => match self.conns.get(&id) {
                Some(c) => self.client_info(
                    c.client_id,
                    &format!("{}:{}", c.peer_ip, c.peer_port),
                    "N",
                    c.db,
                    cmd,
                ),
                None => String::new(),
            },
            Caller::Local(c) => {
                self.client_info(c.0 % 100_000, "127.0.0.1:40000", "N", ctx.db, cmd)
            }
            Caller::Master => String::new(),
        }
    }

    /// `replicationSetMaster`.
    pub(crate) fn set_master(&mut self, now: SimTime, host: String, port: u16) {
        let was_master = self.following.is_none();
        // masterhost is unset while the old link goes, so losing it does not reconnect.
        if let Some(old) = self.following.take() {
            match old.link {
                // freeClient(server.master) caches it, to PSYNC with the new master.
                Link::Connected(m) => self.lose_master(now, m, DropReason::RoleChange),
                // cancelReplicationHandshake(0): a handshake or transfer to the old master
                // ends with its connection.
                link => self.abandon_link(now, link, SyncAbort::Cancelled),
            }
        }
        // Clients blocked on the master that this node was are answered and closed.
        self.disconnect_blocked_clients();
        if was_master {
            self.discard_cached_master(now);
            // replicationCacheMasterUsingMyself.
            self.log(now, Level::Notice, "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.".into());
            self.cached_master = Some(CachedMaster {
                replid: self.replid.clone(),
                db: 0,
            });
            self.event(Event::RoleChanged { master: false });
        }
        self.following = Some(Following::new(host.clone(), port));
        self.log(
            now,
            Level::Notice,
            format!("Connecting to MASTER {host}:{port}"),
        );
        self.connect_with_master(now);
    }

    /// `replicationUnsetMaster` (REPLICAOF NO ONE).
    pub(crate) fn unset_master(&mut self, now: SimTime) {
        let Some(f) = self.following.take() else {
            return;
        };
        let link = match f.link {
            Link::Connected(m) => {
                self.lose_master(now, m, DropReason::RoleChange);
                Link::Connect
            }
            link => link,
        };
        self.discard_cached_master(now);
        // cancelReplicationHandshake(0).
        self.abandon_link(now, link, SyncAbort::Cancelled);
        self.shift_replication_id(now);
        self.disconnect_replicas(now);
        self.slaveseldb = -1;
        self.no_replicas_since = now;
        self.event(Event::RoleChanged { master: true });
    }

    /// Closes a link that is not (or no longer) the node's: its connection goes, and a transfer
    /// in progress is aborted with the load it started (`replicationAbortSyncTransfer`).
    fn abandon_link(&mut self, now: SimTime, link: Link, reason: SyncAbort) {
        for conn in link.conn().into_iter().chain(link.rdb_conn()) {
            if self.forget_conn(conn).is_some() {
                self.push_close(conn);
            }
        }
        match link {
            Link::Transfer(_) => {
                // The half-loaded data goes with it (swapdb keeps the old dataset).
                self.loading = None;
                self.event(Event::FullSyncAborted { reason });
            }
            Link::Dual(d) => self.abort_dual_channel_sync(now, &d, reason),
            _ => {}
        }
    }

    /// The established link is gone (`freeClient(server.master)`): unless the master broke the
    /// protocol, it is cached for a partial resync (`replicationCacheMaster`).
    fn lose_master(&mut self, now: SimTime, m: MasterClient, reason: DropReason) {
        if self.forget_conn(m.conn).is_some() {
            self.push_close(m.conn);
        }
        let level = self.cfg.redis_version.lowered_in_7_2();
        self.log(now, level, "Connection with master lost.".into());
        if reason != DropReason::ProtocolError {
            self.log(
                now,
                Level::Notice,
                "Caching the disconnected master state.".into(),
            );
            self.cached_master = Some(CachedMaster {
                replid: m.replid,
                db: m.db,
            });
        }
        self.event(Event::MasterLinkDown);
    }

    /// `shiftReplicationId`.
    pub(crate) fn shift_replication_id(&mut self, now: SimTime) {
        self.replid2 = self.replid.clone();
        self.second_replid_offset = self.master_repl_offset() as i64 + 1;
        self.replid = self.rng.hex40();
        self.log(
            now,
            self.cfg.redis_version.lowered_in_7_2(),
            format!("Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}", self.replid2, self.second_replid_offset, self.replid),
        );
    }

    fn discard_cached_master(&mut self, now: SimTime) {
        if self.cached_master.take().is_some() {
            self.log(
                now,
                Level::Notice,
                "Discarding previously cached master state.".into(),
            );
        }
    }

    /// `connectWithMaster`, from `REPL_STATE_CONNECT`.
    pub(crate) fn connect_with_master(&mut self, now: SimTime) {
        let Some(f) = &self.following else { return };
        assert!(
            matches!(f.link, Link::Connect),
            "connecting while a link to the master exists"
        );
        let (host, port) = (f.host.clone(), f.port);
        let conn = self.new_conn(host.clone(), port, Role::Master);
        if let Some(f) = self.following.as_mut() {
            f.link = Link::Connecting { conn, since: now };
        }
        self.actions.push_back(Action::Connect { conn, host, port });
        self.log(now, Level::Notice, "MASTER <-> REPLICA sync started".into());
    }

    /// Our connection to the master was established.
    pub fn handle_connected(&mut self, now: SimTime, conn: ConnId) {
        if self.on_rdb_channel_connected(now, conn) {
            self.check_invariants();
            return;
        }
        if let Some(f) = self.following.as_mut() {
            if matches!(f.link, Link::Connecting { conn: c, .. } if c == conn) {
                f.link = Link::Handshake(Handshake {
                    conn,
                    lastio: now,
                    awaiting: HandshakeReply::Ping,
                    then: VecDeque::new(),
                });
                self.log(
                    now,
                    Level::Notice,
                    "Non blocking connect for SYNC fired the event.".into(),
                );
                self.write_raw(conn, b"*1\r\n$4\r\nPING\r\n");
            }
        }
        self.check_invariants();
    }

    /// Our connection attempt failed (`reason` as the OS would say it, e.g. `Connection refused`).
    pub fn handle_connect_failed(&mut self, now: SimTime, conn: ConnId, reason: &str) {
        self.forget_conn(conn);
        if self.on_rdb_channel_connect_failed(now, conn, reason) {
            self.check_invariants();
            return;
        }
        if let Some(f) = self.following.as_mut() {
            if f.link.conn() == Some(conn) {
                f.link = Link::Connect;
                self.log(
                    now,
                    Level::Warning,
                    format!("Error condition on socket for SYNC: {reason}"),
                );
            }
        }
        self.check_invariants();
    }

    /// The `error:` label of `syncWithMaster`: close, and retry on the next cron tick.
    pub(crate) fn handshake_error(&mut self, now: SimTime) {
        self.cancel_handshake(now, Reconnect::Later, SyncAbort::LinkLost);
    }

    /// `cancelReplicationHandshake(reconnect)`: gives up a connection attempt, handshake or
    /// transfer (an established link is not touched).
    pub(crate) fn cancel_handshake(&mut self, now: SimTime, reconnect: Reconnect, why: SyncAbort) {
        let Some(f) = self.following.as_mut() else {
            return;
        };
        if matches!(f.link, Link::Connect | Link::Connected(_)) {
            return;
        }
        let link = std::mem::replace(&mut f.link, Link::Connect);
        self.abandon_link(now, link, why);
        if reconnect == Reconnect::Now {
            let Some(f) = &self.following else { return };
            let (host, port) = (f.host.clone(), f.port);
            self.log(
                now,
                Level::Notice,
                format!("Reconnecting to MASTER {host}:{port} after failure"),
            );
            self.connect_with_master(now);
        }
    }

    /// Bytes from our master.
    pub(crate) fn on_master_data(&mut self, now: SimTime, id: ConnId) {
        if self.on_dual_channel_data(now, id) {
            return;
        }
        let Some(f) = self.following.as_mut() else {
            return;
        };
        if f.link.conn() != Some(id) {
            return;
        }
        if let Link::Connected(m) = &mut f.link {
            m.last_interaction = now;
        }
        loop {
            let progressed = match self.link() {
                Some(Link::Handshake(_)) => self.handshake_step(now, id),
                Some(Link::Transfer(_)) => self.transfer_step(now, id),
                Some(Link::Connected(_)) => {
                    self.apply_stream(now, id);
                    false
                }
                _ => false,
            };
            if !progressed {
                break;
            }
        }
    }

    fn handshake_mut(&mut self) -> Option<&mut Handshake> {
        match &mut self.following.as_mut()?.link {
            Link::Handshake(h) => Some(h),
            _ => None,
        }
    }

    /// The RDB being received: a classic sync's, or a dual-channel sync's on its RDB channel.
    pub(crate) fn transfer_mut(&mut self) -> Option<&mut Transfer> {
        match &mut self.following.as_mut()?.link {
            Link::Transfer(t) => Some(t),
            Link::Dual(d) => match &mut d.rdb {
                RdbChannel::Transfer(t) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn transfer(&self) -> Option<&Transfer> {
        match self.link()? {
            Link::Transfer(t) => Some(t),
            Link::Dual(d) => match &d.rdb {
                RdbChannel::Transfer(t) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    /// One line from `id`'s input, cut at `max` bytes as `connSyncReadLine` cuts it, if a whole
    /// line has arrived.
    pub(crate) fn read_reply_line(&mut self, id: ConnId, max: usize) -> Option<String> {
        let line = self.conns.get_mut(&id)?.decoder.read_line(max)?;
        Some(String::from_utf8_lossy(&line).into_owned())
    }

    /// Reads one reply line of the handshake. Returns whether it consumed one.
    fn handshake_step(&mut self, now: SimTime, id: ConnId) -> bool {
        let Some(text) = self.read_reply_line(id, HANDSHAKE_LINE_BYTES) else {
            return false;
        };
        let Some(h) = self.handshake_mut() else {
            return false;
        };
        h.lastio = now;
        match h.awaiting {
            HandshakeReply::Ping => {
                let ok = text.starts_with('+')
                    || text.starts_with("-NOAUTH")
                    || text.starts_with("-NOPERM")
                    || text.starts_with("-ERR operation not permitted");
                if !ok {
                    self.log(
                        now,
                        Level::Warning,
                        format!("Error reply to PING from master: '{text}'"),
                    );
                    self.handshake_error(now);
                    return false;
                }
                self.log(
                    now,
                    Level::Notice,
                    "Master replied to PING, replication can continue...".into(),
                );
                self.send_handshake(id);
            }
            HandshakeReply::Auth => {
                if text.starts_with('-') {
                    self.log(
                        now,
                        Level::Warning,
                        format!("Unable to AUTH to MASTER: {text}"),
                    );
                    self.handshake_error(now);
                    return false;
                }
                self.next_handshake_reply(now, id);
            }
            r @ (HandshakeReply::Port
            | HandshakeReply::Ip
            | HandshakeReply::Capa
            | HandshakeReply::Version) => {
                if text.starts_with('-') {
                    let what = match r {
                        HandshakeReply::Port => "listening-port",
                        HandshakeReply::Ip => "ip-address",
                        HandshakeReply::Version => "VERSION",
                        _ => "capa",
                    };
                    self.log(
                        now,
                        Level::Notice,
                        format!(
                            "(Non critical) Master does not understand REPLCONF {what}: {text}"
                        ),
                    );
                }
                self.next_handshake_reply(now, id);
            }
            HandshakeReply::Psync => return self.psync_reply(now, id, &text),
        }
        true
    }

    /// `REPL_STATE_SEND_HANDSHAKE`: the pipelined commands after PING.
    fn send_handshake(&mut self, id: ConnId) {
        let mut out = Vec::new();
        let mut expect = VecDeque::new();
        if let Some(pass) = &self.cfg.masterauth {
            match &self.cfg.masteruser {
                Some(user) => encode_command(
                    &[b"AUTH".as_slice(), user.as_bytes(), pass.as_bytes()],
                    &mut out,
                ),
                None => encode_command(&[b"AUTH".as_slice(), pass.as_bytes()], &mut out),
            }
            expect.push_back(HandshakeReply::Auth);
        }
        let port = if self.cfg.replica_announce_port != 0 {
            self.cfg.replica_announce_port
        } else {
            self.port
        };
        encode_command(
            &[
                b"REPLCONF".as_slice(),
                b"listening-port",
                port.to_string().as_bytes(),
            ],
            &mut out,
        );
        expect.push_back(HandshakeReply::Port);
        if let Some(ip) = &self.cfg.replica_announce_ip {
            encode_command(
                &[b"REPLCONF".as_slice(), b"ip-address", ip.as_bytes()],
                &mut out,
            );
            expect.push_back(HandshakeReply::Ip);
        }
        // Valkey offers the second channel among its capabilities, then names its version.
        let mut capa: Vec<&[u8]> = vec![b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"];
        if self.cfg.dual_channel_replication {
            capa.extend_from_slice(&[b"capa", b"dual-channel"]);
        }
        // Redis 8.0 offers its rdb channel the same way (`syncWithMaster`).
        if self.cfg.repl_rdb_channel {
            capa.extend_from_slice(&[b"capa", b"rdb-channel-repl"]);
        }
        encode_command(&capa, &mut out);
        expect.push_back(HandshakeReply::Capa);
        if let Some(v) = self.cfg.redis_version.valkey_version() {
            encode_command(
                &[b"REPLCONF".as_slice(), b"version", v.as_bytes()],
                &mut out,
            );
            expect.push_back(HandshakeReply::Version);
        }
        self.write_raw(id, &out);
        if let Some(h) = self.handshake_mut() {
            // Never empty: the capa reply is always expected.
            if let Some(first) = expect.pop_front() {
                h.awaiting = first;
            }
            h.then = expect;
        }
    }

    fn next_handshake_reply(&mut self, now: SimTime, id: ConnId) {
        let Some(h) = self.handshake_mut() else {
            return;
        };
        match h.then.pop_front() {
            Some(r) => h.awaiting = r,
            None => self.send_psync(now, id),
        }
    }

    /// `slaveTryPartialResynchronization(conn, 0)`.
    fn send_psync(&mut self, now: SimTime, id: ConnId) {
        let (replid, offset) = match &self.cached_master {
            Some(c) => {
                let replid = c.replid.clone();
                let off = (self.master_repl_offset() + 1).to_string();
                self.log(
                    now,
                    Level::Notice,
                    format!("Trying a partial resynchronization (request {replid}:{off})."),
                );
                (replid, off)
            }
            None => {
                self.log(
                    now,
                    Level::Notice,
                    "Partial resynchronization not possible (no cached master)".into(),
                );
                ("?".to_string(), "-1".to_string())
            }
        };
        let mut out = Vec::new();
        encode_command(
            &[b"PSYNC".as_slice(), replid.as_bytes(), offset.as_bytes()],
            &mut out,
        );
        self.write_raw(id, &out);
        if let Some(h) = self.handshake_mut() {
            h.awaiting = HandshakeReply::Psync;
        }
    }

    /// `slaveTryPartialResynchronization(conn, 1)` and what `syncWithMaster` does with it.
    fn psync_reply(&mut self, now: SimTime, id: ConnId, text: &str) -> bool {
        if text.is_empty() {
            // A newline keepalive while the master prepares the RDB.
            return true;
        }
        if let Some(rest) = text.strip_prefix("+FULLRESYNC") {
            let mut words = rest.split_whitespace();
            let replid = words.next().unwrap_or("");
            let offset = words.next();
            let (replid, offset) = if let (40, Some(offset)) = (replid.len(), offset) {
                // Redis reads the offset with strtoll and keeps whatever it gets. One the node
                // cannot carry (negative, not a number, or with no room for a later PSYNC's
                // offset + 1) would make every offset after it wrong: the reply is refused as
                // malformed and the link dropped, to be tried again.
                let Some(offset) =
                    string2ll(offset.as_bytes()).filter(|&o| o >= 0 && o as u64 <= REPL_OFFSET_MAX)
                else {
                    self.log(
                        now,
                        Level::Warning,
                        "Master replied with wrong +FULLRESYNC syntax.".into(),
                    );
                    self.handshake_error(now);
                    return false;
                };
                self.log(
                    now,
                    Level::Notice,
                    format!("Full resync from master: {replid}:{offset}"),
                );
                (replid.to_string(), offset)
            } else {
                // The master replid is blanked so that the next PSYNC fails.
                self.log(
                    now,
                    Level::Warning,
                    "Master replied with wrong +FULLRESYNC syntax.".into(),
                );
                (String::new(), -1)
            };
            self.begin_transfer(now, id, replid, offset);
            self.event(Event::FullSyncStarted);
            return true;
        }
        if let Some(rest) = text.strip_prefix("+CONTINUE") {
            return self.continue_reply(now, id, rest.trim());
        }
        if text.starts_with("+DUALCHANNELSYNC") && self.cfg.dual_channel_replication {
            self.start_dual_channel_sync(now, id);
            self.event(Event::FullSyncStarted);
            return false;
        }
        if text.starts_with("+RDBCHANNELSYNC") && self.cfg.repl_rdb_channel {
            if self.start_rdb_channel_sync(now, id, text) {
                self.event(Event::FullSyncStarted);
                // The master may already stream on the main channel: buffer what came.
                self.on_dual_channel_data(now, id);
            }
            return false;
        }
        if text.starts_with("-NOMASTERLINK") || text.starts_with("-LOADING") {
            self.log(
                now,
                Level::Notice,
                format!("Master is currently unable to PSYNC but should be in the future: {text}"),
            );
            self.handshake_error(now);
            return false;
        }
        if text.starts_with("-ERR") {
            self.log(
                now,
                Level::Notice,
                format!("Master does not support PSYNC or is in error state (reply: {text})"),
            );
        } else {
            self.log(
                now,
                Level::Warning,
                format!("Unexpected reply to PSYNC from master: {text}"),
            );
        }
        // PSYNC_NOT_SUPPORTED: fall back to SYNC.
        self.log(now, Level::Notice, "Retrying with SYNC...".into());
        self.write_raw(id, b"SYNC\r\n");
        self.begin_transfer(now, id, String::new(), -1);
        true
    }

    /// `+CONTINUE [<replid>]`: the master accepted our PSYNC.
    fn continue_reply(&mut self, now: SimTime, id: ConnId, new_id: &str) -> bool {
        let Some(cached) = self.cached_master.take() else {
            // Accepting a PSYNC we sent without a history (`PSYNC ? -1`) breaks the protocol:
            // there is nothing to continue from. Redis would dereference its missing cached
            // master; the node drops the link and retries at the next cron tick.
            self.log(
                now,
                Level::Warning,
                "Unexpected reply to PSYNC from master: +CONTINUE without a cached master".into(),
            );
            self.handshake_error(now);
            return false;
        };
        self.log(
            now,
            Level::Notice,
            "Successful partial resynchronization with master.".into(),
        );
        let mut replid = cached.replid.clone();
        if new_id.len() == 40 && new_id != cached.replid {
            self.log(
                now,
                self.cfg.redis_version.lowered_in_7_2(),
                format!("Master replication ID changed to {new_id}"),
            );
            self.replid2 = cached.replid.clone();
            self.second_replid_offset = self.master_repl_offset() as i64 + 1;
            replid = new_id.to_string();
            self.replid = replid.clone();
            self.disconnect_replicas(now);
        }
        if let Some(f) = self.following.as_mut() {
            f.link = Link::Connected(MasterClient {
                conn: id,
                replid,
                db: cached.db,
                last_interaction: now,
                pre_psync: false,
            });
            f.down_since = None;
        }
        // The offset we asked to continue from is our own: only the backlog may be missing.
        self.create_backlog();
        self.log(
            now,
            Level::Notice,
            "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.".into(),
        );
        self.event(Event::PartialSyncAccepted);
        true
    }

    fn begin_transfer(&mut self, now: SimTime, conn: ConnId, replid: String, offset: i64) {
        if let Some(f) = self.following.as_mut() {
            f.link = Link::Transfer(Box::new(Transfer {
                conn,
                lastio: now,
                replid,
                initial_offset: offset,
                rdb: RdbReceive::Header,
            }));
        }
    }

    fn use_diskless_load(&self) -> bool {
        match self.cfg.repl_diskless_load {
            DisklessLoad::Disabled => false,
            DisklessLoad::Swapdb => true,
            DisklessLoad::OnEmptyDb => self.keyspace.is_empty(),
        }
    }

    /// `readSyncBulkPayload`. Returns whether it made progress.
    pub(crate) fn transfer_step(&mut self, now: SimTime, id: ConnId) -> bool {
        match self.transfer_mut().map(|t| &t.rdb) {
            Some(RdbReceive::Header) => self.transfer_header(now, id),
            Some(RdbReceive::Body(_)) => self.transfer_body(now, id),
            // The RDB is complete and loading; the rest waits for the load to finish.
            _ => false,
        }
    }

    /// The `$<len>` or `$EOF:<mark>` line that opens the RDB.
    fn transfer_header(&mut self, now: SimTime, id: ConnId) -> bool {
        // The raw bytes: an EOF mark need not be UTF-8.
        let Some(line) = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.decoder.read_line(BULK_HEADER_LINE_BYTES))
        else {
            return false;
        };
        let text = String::from_utf8_lossy(&line).to_string();
        if let Some(t) = self.transfer_mut() {
            t.lastio = now;
        }
        if let Some(err) = text.strip_prefix('-') {
            self.log(
                now,
                Level::Warning,
                format!("MASTER aborted replication with an error: {err}"),
            );
            self.cancel_handshake(now, Reconnect::Now, SyncAbort::MasterError);
            return false;
        }
        if text.is_empty() {
            return true;
        }
        if !text.starts_with('$') {
            self.log(now, Level::Warning, format!("Bad protocol from MASTER, the first byte is not '$' (we received '{text}'), are you sure the host and port are right?"));
            self.cancel_handshake(now, Reconnect::Now, SyncAbort::BadProtocol);
            return false;
        }
        let size = match parse_bulk_header(&line) {
            Ok(size) => size,
            Err(why) => {
                // Redis takes the first 40 bytes of a longer mark, and reads anything else with
                // strtol: a short mark or garbage becomes a transfer of 0 bytes that waits for
                // repl-timeout, a negative length overruns its read buffer. The node refuses
                // both at once, in the words of the line above.
                self.log(
                    now,
                    Level::Warning,
                    format!("Bad protocol from MASTER, {why} (we received '{text}')"),
                );
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::BadProtocol);
                return false;
            }
        };
        let diskless = self.use_diskless_load();
        let target = if diskless { "to parser" } else { "to disk" };
        let msg = match &size {
            RdbSize::EofMark(_) => {
                format!(
                    "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {target}"
                )
            }
            RdbSize::Len(n) => {
                format!("MASTER <-> REPLICA sync: receiving {n} bytes from master {target}")
            }
        };
        if let Some(t) = self.transfer_mut() {
            t.rdb = RdbReceive::Body(RdbBody {
                size,
                read: 0,
                payload: Payload::default(),
                load_clock: None,
                resume_at: None,
            });
        }
        self.log(now, Level::Notice, msg);
        if diskless {
            self.start_diskless_load(now);
        }
        true
    }

    /// Bytes of the RDB's payload.
    fn transfer_body(&mut self, now: SimTime, id: ConnId) -> bool {
        let Some(c) = self.conns.get_mut(&id) else {
            return false;
        };
        let t = match self.following.as_mut().map(|f| &mut f.link) {
            Some(Link::Transfer(t)) => t,
            Some(Link::Dual(d)) => match &mut d.rdb {
                RdbChannel::Transfer(t) => t,
                _ => return false,
            },
            _ => return false,
        };
        let RdbReceive::Body(body) = &mut t.rdb else {
            return false;
        };
        let want = match body.size {
            RdbSize::Len(n) => usize::try_from(n - body.read).unwrap_or(usize::MAX),
            RdbSize::EofMark(_) => usize::MAX,
        };
        let bytes = c.decoder.take_raw(want);
        if bytes.is_empty() {
            return false;
        }
        let n = bytes.len() as u64;
        body.payload.push_bytes(bytes);
        body.read += n;
        t.lastio = now;
        self.after_transfer_bytes(now, n);
        true
    }

    /// An opaque run from our master: the synthetic part of an RDB, valid only inside the
    /// payload of a transfer, after every byte before it.
    pub(crate) fn on_master_opaque(&mut self, now: SimTime, id: ConnId, len: u64) {
        let Some(link) = self.link() else { return };
        if link.conn() != Some(id) && link.rdb_conn() != Some(id) {
            return;
        }
        let in_body = self
            .transfer()
            .is_some_and(|t| t.conn == id && matches!(t.rdb, RdbReceive::Body(_)))
            && self
                .conns
                .get(&id)
                .is_some_and(|c| c.decoder.peek_raw().is_empty());
        if !in_body {
            if matches!(self.link(), Some(Link::Connected(_)) | Some(Link::Dual(_))) {
                // Inside the stream, opaque bytes are garbage.
                self.log(
                    now,
                    Level::Warning,
                    "Protocol error (opaque bytes in the replication stream) from client: master"
                        .into(),
                );
                self.close_conn_for(now, id, DropReason::ProtocolError);
            } else {
                self.log(
                    now,
                    Level::Warning,
                    "I/O error trying to sync with MASTER: unexpected opaque bytes".into(),
                );
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::BadProtocol);
            }
            return;
        }
        let mut fits = false;
        if let Some(t) = self.transfer_mut() {
            t.lastio = now;
            if let RdbReceive::Body(body) = &mut t.rdb {
                // An opaque run cannot be split: it must end inside the announced RDB (an RDB's
                // size being an `off_t`, at most i64::MAX for one with an EOF mark).
                let limit = match body.size {
                    RdbSize::Len(size) => size,
                    RdbSize::EofMark(_) => i64::MAX as u64,
                };
                if let Some(read) = body.read.checked_add(len).filter(|&r| r <= limit) {
                    body.payload.push_opaque(len);
                    body.read = read;
                    fits = true;
                }
            }
        }
        if !fits {
            self.log(
                now,
                Level::Warning,
                "I/O error trying to sync with MASTER: more bytes than the RDB announced".into(),
            );
            self.cancel_handshake(now, Reconnect::Now, SyncAbort::BadProtocol);
            return;
        }
        self.after_transfer_bytes(now, len);
        // Bytes after the opaque run may already be buffered.
        self.on_master_data(now, id);
    }

    /// Completion checks and diskless-load pacing after `n` more RDB bytes arrived.
    fn after_transfer_bytes(&mut self, now: SimTime, n: u64) {
        let rate = self.cfg.cost.rdb_load_bytes_per_sec.max(1);
        let Some(t) = self.transfer_mut() else { return };
        let conn = t.conn;
        let RdbReceive::Body(body) = &mut t.rdb else {
            return;
        };
        if let Some(clock) = body.load_clock.as_mut() {
            *clock = (*clock).max(now) + SimDuration::from_nanos(nanos_at_rate(n, rate, false));
        }
        let complete = match &body.size {
            RdbSize::Len(size) => body.read >= *size,
            RdbSize::EofMark(mark) => {
                let done = ends_with_mark(&body.payload, mark);
                if done {
                    strip_mark(&mut body.payload, mark.len());
                }
                done
            }
        };
        if complete {
            self.transfer_complete(now);
        } else if let Some(clock) = body.load_clock.filter(|&c| c > now) {
            // A diskless load parses at the load rate: stop reading while it is behind.
            body.resume_at = Some(clock);
            self.pause_read(conn);
        }
    }

    /// When a diskless load that fell behind will have caught up.
    pub(crate) fn load_resume_at(&self) -> Option<SimTime> {
        match &self.transfer()?.rdb {
            RdbReceive::Body(b) => b.resume_at,
            _ => None,
        }
    }

    /// The diskless loader caught up; read the socket again.
    pub(crate) fn on_read_resume(&mut self, now: SimTime) {
        let Some(t) = self.transfer_mut() else { return };
        let conn = t.conn;
        if let RdbReceive::Body(body) = &mut t.rdb {
            body.resume_at = None;
        }
        self.resume_read(conn);
        self.on_master_data(now, conn);
    }

    fn start_diskless_load(&mut self, now: SimTime) {
        let swapdb = self.cfg.repl_diskless_load == DisklessLoad::Swapdb;
        let same_history = self.transfer().is_some_and(|t| t.replid == self.replid);
        if !swapdb {
            self.attach_to_new_master(now);
            self.log(
                now,
                Level::Notice,
                "MASTER <-> REPLICA sync: Flushing old data".into(),
            );
            self.keyspace.flush();
        }
        self.log(
            now,
            Level::Notice,
            "MASTER <-> REPLICA sync: Loading DB in memory".into(),
        );
        if let Some(RdbReceive::Body(body)) = self.transfer_mut().map(|t| &mut t.rdb) {
            body.load_clock = Some(now);
        }
        self.loading = Some(Loading {
            until: SimTime::MAX,
            async_loading: swapdb && same_history,
            last_newline: now,
            startup: false,
        });
    }

    /// `replicationAttachToNewMaster`: forget the old history before loading a new one.
    fn attach_to_new_master(&mut self, now: SimTime) {
        self.discard_cached_master(now);
        self.disconnect_replicas(now);
        self.free_backlog();
    }

    /// The whole RDB has arrived.
    fn transfer_complete(&mut self, now: SimTime) {
        let rate = self.cfg.cost.rdb_load_bytes_per_sec.max(1);
        let Some(t) = self.transfer_mut() else { return };
        let conn = t.conn;
        let RdbReceive::Body(body) = std::mem::replace(&mut t.rdb, RdbReceive::Header) else {
            return;
        };
        let eof_mark = matches!(body.size, RdbSize::EofMark(_));
        let load_ns = nanos_at_rate(body.payload.len(), rate, false);
        t.rdb = RdbReceive::Loading {
            payload: body.payload,
            eof_mark,
        };
        // The socket is not read again until the load finishes.
        self.pause_read(conn);
        match body.load_clock {
            Some(clock) => {
                // Diskless: loading ran alongside the transfer; it ends when the loader catches up.
                if let Some(l) = self.loading.as_mut() {
                    l.until = clock.max(now);
                }
            }
            None => {
                if let Some(child) = self.child.take() {
                    self.log(now, Level::Warning, format!("Replica is about to load the RDB file received from the master, but there is a pending RDB child running. Killing process {} and removing its temp file to avoid any race", child.pid));
                    self.release_held_closes(child.held_closes);
                }
                self.attach_to_new_master(now);
                self.log(
                    now,
                    Level::Notice,
                    "MASTER <-> REPLICA sync: Flushing old data".into(),
                );
                self.keyspace.flush();
                self.log(
                    now,
                    Level::Notice,
                    "MASTER <-> REPLICA sync: Loading DB in memory".into(),
                );
                self.loading = Some(Loading {
                    until: now + SimDuration::from_nanos(load_ns),
                    async_loading: false,
                    last_newline: now,
                    startup: false,
                });
            }
        }
    }

    /// The load finished: install the dataset and the master (`readSyncBulkPayload`'s end).
    pub(crate) fn finish_loading(&mut self, now: SimTime) {
        let Some(l) = self.loading.take() else { return };
        if l.startup {
            return;
        }
        let databases = self.cfg.databases as usize;
        let shared = self.keyspace.shared().clone();
        let decoded = match self.transfer_mut().map(|t| &t.rdb) {
            Some(RdbReceive::Loading { payload, .. }) => {
                rdb::decode_in(payload, unix_ms(now), false, databases, &shared)
            }
            // Only a transfer starts a replica's load, and abandoning one ends its load.
            _ => return,
        };
        let loaded = match decoded {
            Ok(x) => x,
            Err(e) => {
                self.log(now, Level::Warning, e.0);
                let from = if self.cfg.repl_diskless_load == DisklessLoad::Disabled {
                    "disk"
                } else {
                    "socket"
                };
                self.log(now, Level::Warning, format!("Failed trying to load the MASTER synchronization DB from {from}, check server logs."));
                if self.cfg.repl_diskless_load == DisklessLoad::Swapdb {
                    self.log(
                        now,
                        Level::Notice,
                        "MASTER <-> REPLICA sync: Discarding temporary DB in background".into(),
                    );
                }
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::LoadFailed);
                return;
            }
        };
        if self.cfg.repl_diskless_load == DisklessLoad::Swapdb {
            self.attach_to_new_master(now);
            self.log(
                now,
                Level::Notice,
                "MASTER <-> REPLICA sync: Swapping active DB with loaded DB".into(),
            );
        }
        self.log_rdb_loaded(now, &loaded);
        self.keyspace = loaded.keyspace;
        self.stats.rdb_last_load_keys_expired = loaded.keys_expired;
        self.stats.rdb_last_load_keys_loaded = loaded.keys_loaded;
        if self.cfg.repl_diskless_load == DisklessLoad::Swapdb {
            self.log(
                now,
                Level::Notice,
                "MASTER <-> REPLICA sync: Discarding old DB in background".into(),
            );
        }
        // replicationCreateMasterClient selects the stream's database; a number the replica has
        // no database for fails to select, and the master client stays in database 0.
        let db = loaded
            .repl
            .as_ref()
            .map(|r| r.stream_db as usize)
            .filter(|&db| db < databases)
            .unwrap_or(0);
        if let Some(Link::Dual(_)) = self.link() {
            self.dual_channel_rdb_loaded(now, db);
            return;
        }
        let Some(f) = self.following.as_mut() else {
            return;
        };
        let Link::Transfer(t) = std::mem::replace(&mut f.link, Link::Connect) else {
            unreachable!("checked above: the link is a transfer");
        };
        let eof_mark = matches!(t.rdb, RdbReceive::Loading { eof_mark: true, .. });
        let conn = t.conn;
        f.link = Link::Connected(MasterClient {
            conn,
            replid: t.replid.clone(),
            db,
            last_interaction: now,
            pre_psync: t.initial_offset < 0,
        });
        f.down_since = None;
        self.replid = t.replid;
        self.backlog = None;
        self.offset_without_backlog = t.initial_offset.max(0) as u64;
        self.clear_replid2();
        self.create_backlog();
        self.log(
            now,
            Level::Notice,
            "MASTER <-> REPLICA sync: Finished with success".into(),
        );
        self.event(Event::FullSyncFinished);
        if eof_mark {
            // The master starts streaming on our first ACK.
            self.send_ack(now);
        }
        self.resume_read(conn);
        self.on_master_data(now, conn);
    }

    fn log_rdb_loaded(&mut self, now: SimTime, loaded: &rdb::Loaded) {
        // rdb.c: a Valkey RDB names its server.
        let text = match (&loaded.valkey_ver, &loaded.redis_ver) {
            (Some(v), _) => format!("Loading RDB produced by Valkey version {v}"),
            (None, ver) => format!(
                "Loading RDB produced by version {}",
                ver.as_deref().unwrap_or("unknown")
            ),
        };
        self.log(now, Level::Notice, text);
        let age = unix_secs(now).saturating_sub(loaded.ctime_secs.unwrap_or(unix_secs(now)));
        self.log(now, Level::Notice, format!("RDB age {age} seconds"));
        let mb = loaded.used_mem.unwrap_or(0) as f64 / (1024.0 * 1024.0);
        self.log(
            now,
            Level::Notice,
            format!("RDB memory usage when created {mb:.2} Mb"),
        );
        self.log(
            now,
            Level::Notice,
            format!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                loaded.keys_loaded, loaded.keys_expired
            ),
        );
    }

    /// Applies the replication stream (`processInputBuffer` for the master client), then
    /// forwards the applied bytes verbatim to our own stream
    /// (`replicationFeedStreamFromMasterStream`), which moves our offset by exactly what was
    /// applied.
    fn apply_stream(&mut self, now: SimTime, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if c.read_paused {
            return;
        }
        // The decoder is taken out so commands can run against the node while their arguments
        // still point into its buffer: no copy per command. A spare stands in for it.
        let spare = self.spare_decoder.take().unwrap_or_default();
        let mut decoder = std::mem::replace(&mut c.decoder, spare);
        // Applied frames are contiguous in the decoder's buffer: forward them as one slice.
        let start = decoder.position();
        let mut applied_end = start;
        let mut in_multi = false;
        let mut error = None;
        let reploff = self.master_repl_offset();
        loop {
            let frame = match decoder.next_frame() {
                Ok(None) => break,
                Ok(Some(f)) => f,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            if reploff + (decoder.position() - start) as u64 > REPL_OFFSET_MAX {
                // The master's stream would carry our offset past what an offset can be.
                error = Some(ProtoError(
                    "Protocol error: replication offset overflow".into(),
                ));
                break;
            }
            if frame == Frame::Command {
                // Borrowed from the decoder (the borrow ends with this iteration), on the stack
                // for the usual short commands.
                let mut stack: [&[u8]; 8] = [&[]; 8];
                let heap: Vec<&[u8]>;
                let args: &[&[u8]] = if decoder.argc() <= stack.len() {
                    for (slot, a) in stack.iter_mut().zip(decoder.args()) {
                        *slot = a;
                    }
                    &stack[..decoder.argc()]
                } else {
                    heap = decoder.args().collect();
                    &heap
                };
                let name = args[0];
                if name.eq_ignore_ascii_case(b"replconf")
                    && args.len() >= 2
                    && args[1].eq_ignore_ascii_case(b"getack")
                {
                    // The ACK reports the offset before this GETACK: what was applied so far.
                    self.send_ack_offset(reploff + (applied_end - start) as u64);
                } else if name.eq_ignore_ascii_case(b"multi") {
                    in_multi = true;
                } else if name.eq_ignore_ascii_case(b"exec") {
                    in_multi = false;
                } else if !name.eq_ignore_ascii_case(b"ping") {
                    let db = self.master().map_or(0, |m| m.db);
                    let mut ctx = Ctx::new(Caller::Master, db, true);
                    let reply = self.call(now, &mut ctx, args);
                    if let Some(m) = self.master_mut() {
                        m.db = ctx.db;
                    }
                    if reply.is_error() {
                        self.log_command_error(now, args, &reply);
                    }
                }
            }
            // A transaction is applied (and forwarded) only as a whole, at its EXEC.
            if !in_multi {
                applied_end = decoder.position();
            }
        }
        if applied_end > start {
            self.propagate_raw(now, decoder.slice(start, applied_end));
        }
        if let Some(c) = self.conns.get_mut(&id) {
            self.spare_decoder = Some(std::mem::replace(&mut c.decoder, decoder));
        }
        if let Some(e) = error {
            // A protocol error from the master: the link is dropped and not cached, so the next
            // sync is a full one.
            self.log_protocol_error(now, id, &e);
            self.close_conn_for(now, id, DropReason::ProtocolError);
        }
    }

    /// `REPLCONF ACK <reploff>` to our master.
    pub(crate) fn send_ack(&mut self, _now: SimTime) {
        if self.master().is_some() {
            self.send_ack_offset(self.master_repl_offset());
        }
    }

    fn send_ack_offset(&mut self, off: u64) {
        let Some(m) = self.master() else { return };
        if m.pre_psync {
            return;
        }
        let conn = m.conn;
        let mut out = Vec::new();
        encode_command(
            &[b"REPLCONF".as_slice(), b"ACK", off.to_string().as_bytes()],
            &mut out,
        );
        self.write_raw(conn, &out);
    }

    /// Our master connection was freed (already gone from the connection table).
    pub(crate) fn on_master_conn_closed(
        &mut self,
        now: SimTime,
        id: ConnId,
        reason: DropReason,
        by_peer: bool,
    ) {
        if self.on_dual_channel_closed(now, id) {
            return;
        }
        let Some(f) = self.following.as_mut() else {
            return;
        };
        if f.link.conn() != Some(id) {
            return;
        }
        if let Link::Connected(_) = f.link {
            let Link::Connected(m) = std::mem::replace(&mut f.link, Link::Connect) else {
                unreachable!("matched above");
            };
            f.down_since = Some(now);
            let (host, port) = (f.host.clone(), f.port);
            self.lose_master(now, m, reason);
            // replicationHandleMasterDisconnection: reconnect at once.
            self.log(
                now,
                Level::Notice,
                format!("Reconnecting to MASTER {host}:{port}"),
            );
            self.connect_with_master(now);
            return;
        }
        match f.link.state() {
            super::state::ReplState::Transfer => {
                // Before `$<len>` or `$EOF:` arrived, readSyncBulkPayload is reading the bulk
                // count with connSyncReadLine, whose error leaves the connection's errno at 0.
                let waiting_header = matches!(
                    &f.link,
                    Link::Transfer(t) if matches!(t.rdb, super::state::RdbReceive::Header)
                );
                let message = if waiting_header {
                    "I/O error reading bulk count from MASTER: Success"
                } else {
                    "I/O error trying to sync with MASTER: connection lost"
                };
                self.log(now, Level::Warning, message.into());
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::LinkLost);
            }
            s if s.in_handshake() => {
                if by_peer {
                    // receiveSynchronousResponse: the blocking read of the reply fails, and the
                    // connection's own error is still 0 (syncReadLine sets none), so the reason
                    // reads "Success" whether the master closed or reset. The PSYNC step then
                    // tries later (slaveTryPartialResynchronization), every other step gives up
                    // through syncWithMaster's no_response_error. Both as Redis 7.0.15 logs them.
                    self.log(
                        now,
                        Level::Warning,
                        "Failed to read response from the server: Success".into(),
                    );
                    let message = if s == super::state::ReplState::ReceivePsyncReply {
                        "Master did not reply to PSYNC, will try later"
                    } else {
                        "Master did not respond to command during SYNC handshake"
                    };
                    self.log(now, Level::Warning, message.into());
                }
                self.handshake_error(now);
            }
            _ => self.handshake_error(now),
        }
    }

    /// The replica half of `replicationCron`.
    pub(crate) fn replica_cron(&mut self, now: SimTime) {
        let timeout = self.cfg.repl_timeout_secs;
        let overdue = |t: SimTime| Self::secs_since(now, t) > timeout;
        match self.link() {
            None => return,
            Some(Link::Connecting { since: t, .. })
            | Some(Link::Handshake(Handshake { lastio: t, .. }))
                if overdue(*t) =>
            {
                self.log(
                    now,
                    Level::Warning,
                    "Timeout connecting to the MASTER...".into(),
                );
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::Timeout);
            }
            Some(Link::Dual(d)) if overdue(d.lastio()) => {
                self.log(now, Level::Warning, "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".into());
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::Timeout);
            }
            Some(Link::Transfer(t)) if overdue(t.lastio) => {
                self.log(now, Level::Warning, "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".into());
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::Timeout);
            }
            Some(Link::Connected(m)) if overdue(m.last_interaction) => {
                let conn = m.conn;
                self.log(
                    now,
                    Level::Warning,
                    "MASTER timeout: no data nor PING received...".into(),
                );
                self.close_conn(now, conn);
            }
            _ => {}
        }
        if let Some((Link::Connect, host, port)) = self
            .following
            .as_ref()
            .map(|f| (&f.link, f.host.clone(), f.port))
        {
            self.log(
                now,
                Level::Notice,
                format!("Connecting to MASTER {host}:{port}"),
            );
            self.connect_with_master(now);
        }
        if self.master().is_some() {
            self.send_ack(now);
        }
    }

    /// During a blocking load the server only processes events every 2 MB; it sends the master a
    /// newline once a second so the master does not time it out.
    pub(crate) fn loading_tick(&mut self, now: SimTime) {
        let Some(l) = self.loading.as_mut() else {
            return;
        };
        if Self::secs_since(now, l.last_newline) >= 1 {
            l.last_newline = now;
            if let Some(conn) = self.link().and_then(Link::conn) {
                self.write_raw(conn, b"\n");
            }
        }
    }

    /// Loads a persisted RDB at startup (`loadDataFromDisk`), restoring the replication history.
    pub(crate) fn load_at_startup(&mut self, now: SimTime, p: &Persisted, will_be_replica: bool) {
        let databases = self.cfg.databases as usize;
        let shared = self.keyspace.shared().clone();
        let Ok(loaded) = rdb::decode_in(&p.rdb, unix_ms(now), false, databases, &shared) else {
            self.log(
                now,
                Level::Warning,
                "Short read or OOM loading DB. Unrecoverable error, aborting now.".into(),
            );
            return;
        };
        self.log_rdb_loaded(now, &loaded);
        let size = p.rdb.len();
        let load_ns = nanos_at_rate(size, self.cfg.cost.rdb_load_bytes_per_sec, false);
        self.log(
            now,
            Level::Notice,
            format!("DB loaded from disk: {:.3} seconds", load_ns as f64 / 1e9),
        );
        self.keyspace = loaded.keyspace;
        self.stats.rdb_last_load_keys_loaded = loaded.keys_loaded;
        if let Some(r) = loaded.repl {
            self.offset_without_backlog = r.offset;
            if will_be_replica {
                self.replid = r.replid.clone();
                self.cached_master = Some(CachedMaster {
                    replid: r.replid,
                    db: r.stream_db as usize,
                });
                self.log(now, Level::Notice, "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.".into());
            } else {
                // A restarted master keeps its old history as replid2 (server.c loadDataFromDisk).
                self.replid2 = r.replid;
                self.second_replid_offset = r.offset as i64 + 1;
                self.slaveseldb = -1;
                self.create_backlog();
                // Keys that expired while the node was down are deleted and propagated.
                let now_ms = unix_ms(now);
                let mut expired = 0;
                for db in self.keyspace.indices() {
                    for key in self.keyspace.db(db).expired_keys(now_ms) {
                        self.keyspace.db_mut(db).remove(&key);
                        expired += 1;
                        self.propagate_unit(
                            now,
                            &[(db as i64, Prop::Rewritten(vec![b"DEL".to_vec(), key]))],
                            &[],
                        );
                    }
                }
                self.stats.rdb_last_load_keys_expired = expired;
            }
        }
        if load_ns > 0 {
            self.loading = Some(Loading {
                until: now + SimDuration::from_nanos(load_ns),
                async_loading: false,
                last_newline: now,
                startup: true,
            });
        }
    }

    /// The RDB a shutdown with `save` would write: the dataset and the replication info.
    pub fn persist(&self, now: SimTime) -> Persisted {
        let meta = rdb::SaveMeta {
            ctime_secs: unix_secs(now),
            used_mem: self.keyspace.memory_bytes(),
            repl: self.repl_info(),
            checksum: self.cfg.rdbchecksum,
            redis_version: self.cfg.redis_version,
        };
        Persisted {
            rdb: rdb::encode(&self.keyspace, &meta),
        }
    }
}

/// `CONFIG_RUN_ID_SIZE`: the length of an RDB's EOF mark.
const EOF_MARK_BYTES: usize = 40;

/// The size a `$<len>` or `$EOF:<mark>` line announces, or why it announces none.
fn parse_bulk_header(line: &[u8]) -> Result<RdbSize, &'static str> {
    if let Some(mark) = line.strip_prefix(b"$EOF:") {
        return match mark.get(..EOF_MARK_BYTES) {
            Some(mark) => Ok(RdbSize::EofMark(mark.to_vec())),
            None => Err("the EOF mark is shorter than 40 bytes"),
        };
    }
    let digits = line.strip_prefix(b"$").unwrap_or(line);
    match string2ll(digits).and_then(|n| u64::try_from(n).ok()) {
        Some(n) => Ok(RdbSize::Len(n)),
        None => Err("the length of the RDB is not a size"),
    }
}

fn ends_with_mark(p: &Payload, mark: &[u8]) -> bool {
    match p.parts.last() {
        Some(rdb::Part::Bytes(b)) => b.len() >= mark.len() && &b[b.len() - mark.len()..] == mark,
        _ => false,
    }
}

fn strip_mark(p: &mut Payload, len: usize) {
    if let Some(rdb::Part::Bytes(b)) = p.parts.last_mut() {
        b.truncate(b.len() - len);
        if b.is_empty() {
            p.parts.pop();
        }
    }
}
