//! A full sync over two connections, replica side: Valkey 8.1's dual-channel replication
//! (replication.c `dualChannelFullSyncWithPrimary`, `dualChannelReplHandleEndOffsetResponse`,
//! `dualChannelSetupMainConnForPsync`, `bufferReplData`, `dualChannelSyncSuccess`,
//! `replicationAbortDualChannelSyncTransfer`).
//!
//! The master answers the main channel's PSYNC with `+DUALCHANNELSYNC` when it cannot continue
//! and the replica offered `capa dual-channel`. The replica then opens the RDB channel: `REPLCONF
//! capa eof rdb-only 1 rdb-channel 1 listening-port <port>`, then SYNC, whose answer is
//! `$ENDOFF:<offset> <replid> <db> <client-id>` before the RDB itself. With that offset the
//! main channel sends `REPLCONF set-rdb-client-id <client-id>` and `PSYNC <replid> <offset+1>`,
//! which the master accepts at once: the stream flows on the main channel while the RDB is
//! still on its way, and the replica keeps it in a local buffer (`server.pending_repl_data`)
//! limited by its own `client-output-buffer-limit replica` hard limit. At the limit it stops
//! reading, so what follows waits in the socket and then in the master's output buffer. Once
//! the RDB is loaded, the buffered stream is applied and the link is up.
//!
//! Redis 8.0's rdb channel (`repl-rdb-channel`, replication.c `rdbChannelSendHandshake`,
//! `rdbChannelHandleFullresyncReply`, `rdbChannelBufferReplData`,
//! `rdbChannelStreamReplDataToDb`) runs on the same machinery with its own protocol: the
//! master answers the main channel's PSYNC with `+RDBCHANNELSYNC <client-id>`, naming the main
//! channel; the RDB channel sends `REPLCONF capa eof rdb-only 1 rdb-channel 1 main-ch-client-id
//! <client-id> listening-port <port>`, then `PSYNC ? -1`, answered `+FULLRESYNC <replid>
//! <offset>` before the RDB. The main channel sends nothing more: the master streams on it
//! from the fork on, and the replica buffers from the start, up to
//! `replica-full-sync-buffer-limit` (0: the replica hard limit).
//!
//! The RDB itself is received and loaded by the classic code (`replica.rs`), which finds the
//! transfer inside [`DualSync`]; this file holds the rest.

use super::log::Level;
use super::node::{Action, ConnId, Event, Node, Role, SyncAbort, REPL_OFFSET_MAX};
use super::replica::{Reconnect, HANDSHAKE_LINE_BYTES};
use super::resp::{encode_command, string2ll};
use super::state::{
    DualSync, EndOffset, Link, LocalReplBuffer, MainStep, MasterClient, RdbChannel,
    RdbHandshakeReply, RdbReceive, Transfer, LOCAL_BUFFER_BLOCK_BYTES,
};
use crate::time::SimTime;

impl Node {
    /// `+DUALCHANNELSYNC`: open the RDB channel; the main channel waits for its end offset.
    pub(crate) fn start_dual_channel_sync(&mut self, now: SimTime, main: ConnId) {
        self.log(
            now,
            Level::Notice,
            "Dual channel replication: PSYNC is not possible, initialize RDB channel.".into(),
        );
        self.open_rdb_channel(now, main, None);
    }

    /// Redis 8.0's `+RDBCHANNELSYNC <client-id>`: open the RDB channel, and buffer whatever the
    /// main channel brings from now on (`replDataBufInit`). Returns false, after dropping the
    /// link, for a reply without a client id.
    pub(crate) fn start_rdb_channel_sync(
        &mut self,
        now: SimTime,
        main: ConnId,
        text: &str,
    ) -> bool {
        let cid = text
            .split_whitespace()
            .nth(1)
            .and_then(|w| u64::try_from(string2ll(w.as_bytes())?).ok());
        let Some(cid) = cid else {
            self.log(
                now,
                Level::Warning,
                format!("Master replied with wrong +RDBCHANNELSYNC syntax: {text}"),
            );
            self.cancel_handshake(now, Reconnect::Later, SyncAbort::MasterError);
            return false;
        };
        self.log(
            now,
            Level::Notice,
            format!("PSYNC is not possible, initialize RDB channel. Main channel client id: {cid}"),
        );
        self.open_rdb_channel(now, main, Some(cid));
        self.pending_repl = LocalReplBuffer::default();
        true
    }

    fn open_rdb_channel(&mut self, now: SimTime, main: ConnId, main_ch_client_id: Option<u64>) {
        let Some(f) = &self.following else { return };
        let (host, port) = (f.host.clone(), f.port);
        let rdb = self.new_conn(host.clone(), port, Role::Master);
        self.actions.push_back(Action::Connect {
            conn: rdb,
            host,
            port,
        });
        if let Some(f) = self.following.as_mut() {
            f.link = Link::Dual(Box::new(DualSync {
                main,
                // Redis 8.0's main channel is read, and buffered, from the start.
                main_step: match main_ch_client_id {
                    Some(_) => MainStep::Buffering,
                    None => MainStep::AwaitEndOffset,
                },
                rdb: RdbChannel::Connecting {
                    conn: rdb,
                    since: now,
                },
                endoff: None,
                main_lastio: now,
                stream_db: 0,
                main_ch_client_id,
            }));
        }
    }

    pub(crate) fn dual_mut(&mut self) -> Option<&mut DualSync> {
        match &mut self.following.as_mut()?.link {
            Link::Dual(d) => Some(d),
            _ => None,
        }
    }

    pub(crate) fn dual(&self) -> Option<&DualSync> {
        match self.link()? {
            Link::Dual(d) => Some(d),
            _ => None,
        }
    }

    /// The RDB channel connected: `dualChannelReplHandleHandshake` (no PING on this one).
    /// Returns whether `conn` was it.
    pub(crate) fn on_rdb_channel_connected(&mut self, now: SimTime, conn: ConnId) -> bool {
        let Some(d) = self.dual_mut() else {
            return false;
        };
        if !matches!(d.rdb, RdbChannel::Connecting { conn: c, .. } if c == conn) {
            return false;
        }
        let mut out = Vec::new();
        let awaiting = match &self.cfg.masterauth {
            Some(pass) => {
                match &self.cfg.masteruser {
                    Some(user) => encode_command(
                        &[b"AUTH".as_slice(), user.as_bytes(), pass.as_bytes()],
                        &mut out,
                    ),
                    None => encode_command(&[b"AUTH".as_slice(), pass.as_bytes()], &mut out),
                }
                RdbHandshakeReply::Auth
            }
            None => RdbHandshakeReply::Replconf,
        };
        let port = if self.cfg.replica_announce_port != 0 {
            self.cfg.replica_announce_port
        } else {
            self.port
        }
        .to_string();
        let main_ch = self
            .dual()
            .and_then(|d| d.main_ch_client_id)
            .map(|cid| cid.to_string());
        let mut replconf: Vec<&[u8]> = vec![
            b"REPLCONF",
            b"capa",
            b"eof",
            b"rdb-only",
            b"1",
            b"rdb-channel",
            b"1",
        ];
        if let Some(cid) = &main_ch {
            replconf.extend_from_slice(&[b"main-ch-client-id", cid.as_bytes()]);
        }
        replconf.extend_from_slice(&[b"listening-port", port.as_bytes()]);
        encode_command(&replconf, &mut out);
        if let Some(d) = self.dual_mut() {
            d.rdb = RdbChannel::Handshake {
                conn,
                lastio: now,
                awaiting,
            };
        }
        self.write_raw(conn, &out);
        true
    }

    /// The RDB channel could not connect. Returns whether `conn` was it.
    pub(crate) fn on_rdb_channel_connect_failed(
        &mut self,
        now: SimTime,
        conn: ConnId,
        reason: &str,
    ) -> bool {
        if self.link().and_then(Link::rdb_conn) != Some(conn) {
            return false;
        }
        self.log(
            now,
            Level::Warning,
            format!(
                "Dual channel replication: Error condition on socket for dual channel replication: {reason}"
            ),
        );
        self.dual_channel_error(now, None);
        true
    }

    /// The `error:` label of `dualChannelFullSyncWithPrimary`: both channels close and the next
    /// cron tick starts over.
    fn dual_channel_error(&mut self, now: SimTime, err: Option<&str>) {
        if let Some(err) = err {
            self.log(
                now,
                Level::Warning,
                format!("Dual channel sync failed with error {err}"),
            );
        }
        self.cancel_handshake(now, Reconnect::Later, SyncAbort::LinkLost);
    }

    /// `replicationAbortDualChannelSyncTransfer`, for a link already taken apart (its
    /// connections closed by the caller).
    pub(crate) fn abort_dual_channel_sync(&mut self, now: SimTime, d: &DualSync, why: SyncAbort) {
        let line = match (d.main_ch_client_id, &d.rdb) {
            (None, _) => "Dual channel replication: Aborting dual channel sync",
            (Some(_), RdbChannel::Transfer(_)) => "Aborting rdb channel sync while loading the RDB",
            (Some(_), _) => "Aborting rdb channel sync",
        };
        self.log(now, Level::Notice, line.into());
        if matches!(d.rdb, RdbChannel::Transfer(_)) {
            self.loading = None;
            self.event(Event::FullSyncAborted { reason: why });
        }
        self.pending_repl.len = 0;
        self.pending_repl.stopped = false;
    }

    /// Bytes on either channel of a dual-channel sync. Returns whether `id` belongs to it.
    pub(crate) fn on_dual_channel_data(&mut self, now: SimTime, id: ConnId) -> bool {
        let Some(d) = self.dual() else { return false };
        if d.rdb_conn() == Some(id) {
            loop {
                let progressed = match self.dual().map(|d| &d.rdb) {
                    Some(RdbChannel::Handshake { .. }) => self.rdb_channel_step(now, id),
                    Some(RdbChannel::Transfer(_)) => self.transfer_step(now, id),
                    _ => false,
                };
                if !progressed {
                    break;
                }
            }
            return true;
        }
        if d.main != id {
            return false;
        }
        if let Some(d) = self.dual_mut() {
            d.main_lastio = now;
        }
        while self.main_channel_step(now, id) {}
        true
    }

    /// One reply on the RDB channel's handshake. Returns whether it consumed one.
    fn rdb_channel_step(&mut self, now: SimTime, id: ConnId) -> bool {
        let Some(text) = self.read_reply_line(id, HANDSHAKE_LINE_BYTES) else {
            return false;
        };
        let Some(RdbChannel::Handshake {
            lastio, awaiting, ..
        }) = self.dual_mut().map(|d| &mut d.rdb)
        else {
            return false;
        };
        *lastio = now;
        match *awaiting {
            RdbHandshakeReply::Auth => {
                if text.starts_with('-') {
                    self.log(
                        now,
                        Level::Warning,
                        format!("Dual channel replication: Unable to AUTH to Primary: {text}"),
                    );
                    self.dual_channel_error(now, Some(&text));
                    return false;
                }
                *awaiting = RdbHandshakeReply::Replconf;
            }
            RdbHandshakeReply::Replconf => {
                if text.starts_with('-') {
                    self.log(now, Level::Notice, format!("Dual channel replication: Server does not support sync with offset, dual channel sync approach cannot be used: {text}"));
                    self.dual_channel_error(now, Some(&text));
                    return false;
                }
                let rdb_channel_8_0 = self.dual().is_some_and(|d| d.main_ch_client_id.is_some());
                let Some(RdbChannel::Handshake { awaiting, .. }) =
                    self.dual_mut().map(|d| &mut d.rdb)
                else {
                    return false;
                };
                if rdb_channel_8_0 {
                    *awaiting = RdbHandshakeReply::FullResync;
                    let mut out = Vec::new();
                    encode_command(&[b"PSYNC".as_slice(), b"?", b"-1"], &mut out);
                    self.write_raw(id, &out);
                } else {
                    *awaiting = RdbHandshakeReply::EndOffset;
                    self.write_raw(id, b"SYNC\r\n");
                }
            }
            RdbHandshakeReply::FullResync => {
                // An empty line is the master's keepalive while the fork is delayed.
                if text.is_empty() {
                    return true;
                }
                let cid = self.dual().and_then(|d| d.main_ch_client_id).unwrap_or(0);
                let Some(endoff) = parse_fullresync(&text, cid) else {
                    self.log(
                        now,
                        Level::Warning,
                        format!("Master replied with wrong +FULLRESYNC syntax: {text}"),
                    );
                    self.dual_channel_error(now, Some(&text));
                    return false;
                };
                self.log(
                    now,
                    Level::Notice,
                    format!(
                        "Full resync from master: {}:{}",
                        endoff.replid, endoff.offset
                    ),
                );
                self.rdb_transfer_begins(now, id, endoff);
            }
            RdbHandshakeReply::EndOffset => {
                // An empty line is the master's keepalive while the fork is delayed.
                if text.is_empty() {
                    return true;
                }
                let Some(endoff) = parse_end_offset(&text) else {
                    self.log(
                        now,
                        Level::Warning,
                        format!(
                            "Dual channel replication: Received unexpected $ENDOFF response: {text}"
                        ),
                    );
                    self.dual_channel_error(now, Some(&text));
                    return false;
                };
                self.end_offset_received(now, id, endoff);
            }
        }
        true
    }

    /// `dualChannelReplHandleEndOffsetResponse`: the RDB follows on this channel, and the main
    /// channel asks to continue from the snapshot's end.
    /// The RDB follows on the RDB channel, from the snapshot `endoff` names, which makes its
    /// master the provisional one. Returns the main channel.
    fn rdb_transfer_begins(
        &mut self,
        now: SimTime,
        rdb: ConnId,
        endoff: EndOffset,
    ) -> Option<ConnId> {
        let d = self.dual_mut()?;
        d.rdb = RdbChannel::Transfer(Box::new(Transfer {
            conn: rdb,
            lastio: now,
            replid: endoff.replid.clone(),
            initial_offset: endoff.offset as i64,
            rdb: RdbReceive::Header,
        }));
        d.endoff = Some(endoff);
        Some(d.main)
    }

    fn end_offset_received(&mut self, now: SimTime, rdb: ConnId, endoff: EndOffset) {
        let Some(main) = self.rdb_transfer_begins(now, rdb, endoff.clone()) else {
            return;
        };
        let Some(d) = self.dual_mut() else { return };
        d.main_step = MainStep::RdbClientIdReply;
        let id = endoff.client_id.to_string();
        d.endoff = Some(endoff);
        let mut out = Vec::new();
        encode_command(
            &[b"REPLCONF".as_slice(), b"set-rdb-client-id", id.as_bytes()],
            &mut out,
        );
        self.write_raw(main, &out);
        // Anything the master sent on the main channel meanwhile waited unread.
        self.on_dual_channel_data(now, main);
    }

    /// One step of the main channel. Returns whether it made progress.
    fn main_channel_step(&mut self, now: SimTime, id: ConnId) -> bool {
        let Some(step) = self.dual().map(|d| d.main_step) else {
            return false;
        };
        match step {
            // The read handler is off until the end offset is known.
            MainStep::AwaitEndOffset => false,
            MainStep::Buffering => {
                self.buffer_repl_data(now, id);
                false
            }
            MainStep::RdbClientIdReply | MainStep::PsyncReply => {
                let Some(text) = self.read_reply_line(id, HANDSHAKE_LINE_BYTES) else {
                    return false;
                };
                if step == MainStep::RdbClientIdReply {
                    self.rdb_client_id_reply(now, id, &text)
                } else {
                    self.main_psync_reply(now, id, &text)
                }
            }
        }
    }

    /// `dualChannelReplMainConnRecvCapaReply`, then `dualChannelReplMainConnSendPsync`.
    fn rdb_client_id_reply(&mut self, now: SimTime, id: ConnId, text: &str) -> bool {
        if text.starts_with('-') {
            self.log(
                now,
                Level::Notice,
                format!("Dual channel replication: Primary does not understand REPLCONF identify: {text}"),
            );
            self.main_channel_failed(now, text);
            return false;
        }
        let Some(d) = self.dual_mut() else {
            return false;
        };
        d.main_step = MainStep::PsyncReply;
        let Some(e) = d.endoff.clone() else {
            return false;
        };
        let off = (e.offset + 1).to_string();
        self.log(
            now,
            Level::Notice,
            format!(
                "Dual channel replication: Trying a partial resynchronization using main channel (request {}:{off}).",
                e.replid
            ),
        );
        let mut out = Vec::new();
        encode_command(
            &[b"PSYNC".as_slice(), e.replid.as_bytes(), off.as_bytes()],
            &mut out,
        );
        self.write_raw(id, &out);
        true
    }

    /// `dualChannelReplMainConnRecvPsyncReply`.
    fn main_psync_reply(&mut self, now: SimTime, id: ConnId, text: &str) -> bool {
        if text.is_empty() {
            return true;
        }
        if !text.starts_with("+CONTINUE") {
            // `getTryPsyncString` of what `slaveTryPartialResynchronization` made of it.
            let result = if text.starts_with("+FULLRESYNC") {
                "PSYNC_FULLRESYNC"
            } else if text.starts_with("+DUALCHANNELSYNC") {
                "PSYNC_FULLRESYNC_DUAL_CHANNEL"
            } else if text.starts_with("-NOMASTERLINK") || text.starts_with("-LOADING") {
                "PSYNC_TRY_LATER"
            } else {
                "PSYNC_NOT_SUPPORTED"
            };
            self.main_channel_failed(now, result);
            return false;
        }
        let rdb_open = self.dual().and_then(DualSync::rdb_conn).is_some();
        let tail = if rdb_open {
            ", RDB load in background."
        } else {
            "."
        };
        self.log(
            now,
            Level::Notice,
            format!("Dual channel replication: PRIMARY <-> REPLICA sync: Primary accepted a Partial Resynchronization{tail}"),
        );
        // Not a partial sync for the replica: the full sync it is part of goes on.
        let Some(d) = self.dual_mut() else {
            return false;
        };
        if matches!(d.rdb, RdbChannel::Loaded) {
            self.dual_channel_sync_success(now);
            return false;
        }
        d.main_step = MainStep::Buffering;
        // `replDataBufInit`.
        self.pending_repl = LocalReplBuffer::default();
        self.buffer_repl_data(now, id);
        false
    }

    /// `Aborting dual channel sync. Main channel psync result ...`, then
    /// `cancelReplicationHandshake(1)`.
    fn main_channel_failed(&mut self, now: SimTime, err: &str) {
        self.log(
            now,
            Level::Warning,
            format!("Dual channel replication: Aborting dual channel sync. Main channel psync result -1 {err}"),
        );
        self.cancel_handshake(now, Reconnect::Now, SyncAbort::MasterError);
    }

    /// `bufferReplData`: the stream read on the main channel is held, counted in whole blocks,
    /// until the limit, where reading stops.
    fn buffer_repl_data(&mut self, now: SimTime, id: ConnId) {
        let Some(c) = self.conns.get(&id) else { return };
        if c.read_paused {
            return;
        }
        let held = c.decoder.pending() as u64;
        let len = held.div_ceil(LOCAL_BUFFER_BLOCK_BYTES) * LOCAL_BUFFER_BLOCK_BYTES;
        // Valkey has no `replica-full-sync-buffer-limit` (it stays 0): both take the replica
        // hard limit unless Redis 8.0's directive says otherwise.
        let limit = self.cfg.full_sync_buffer_limit();
        let b = &mut self.pending_repl;
        b.len = b.len.max(len);
        b.peak = b.peak.max(b.len);
        if limit > 0 && b.len > limit && !b.stopped {
            b.stopped = true;
            let line = if self.cfg.redis_version.is_valkey() {
                "Dual channel replication: Replication buffer limit reached, stopping buffering."
                    .to_string()
            } else {
                format!("Replication buffer limit has been reached ({limit} bytes), stopped buffering replication stream. Further accumulation may occur on master side.")
            };
            self.log(now, Level::Notice, line);
            self.pause_read(id);
        }
    }

    /// The RDB of a dual-channel sync is loaded (`dualChannelSyncHandleRdbLoadCompletion`):
    /// the RDB channel closes, and the sync completes now if the main channel's PSYNC was
    /// accepted, or when it is.
    pub(crate) fn dual_channel_rdb_loaded(&mut self, now: SimTime, stream_db: usize) {
        let Some(d) = self.dual_mut() else { return };
        let rdb = d.rdb_conn();
        d.rdb = RdbChannel::Loaded;
        d.stream_db = stream_db;
        let buffering = d.main_step == MainStep::Buffering;
        if let Some(conn) = rdb {
            if self.forget_conn(conn).is_some() {
                self.push_close(conn);
            }
        }
        if buffering {
            self.dual_channel_sync_success(now);
        }
    }

    /// `dualChannelSyncSuccess`: the provisional master becomes the master, and the buffered
    /// stream is applied before anything more is read.
    fn dual_channel_sync_success(&mut self, now: SimTime) {
        let Some(f) = self.following.as_mut() else {
            return;
        };
        let Link::Dual(d) = std::mem::replace(&mut f.link, Link::Connect) else {
            return;
        };
        let Some(e) = d.endoff else {
            unreachable!("a loaded RDB came after its end offset");
        };
        f.link = Link::Connected(MasterClient {
            conn: d.main,
            replid: e.replid.clone(),
            db: d.stream_db,
            last_interaction: now,
            pre_psync: false,
        });
        f.down_since = None;
        self.replid = e.replid;
        self.backlog = None;
        self.offset_without_backlog = e.offset;
        self.clear_replid2();
        self.create_backlog();
        let held = self.pending_repl.len;
        if d.main_ch_client_id.is_some() {
            self.log(
                now,
                Level::Notice,
                format!("Starting to stream replication buffer into the db ({held} bytes)."),
            );
        }
        self.resume_read(d.main);
        self.on_master_data(now, d.main);
        self.pending_repl.len = 0;
        self.pending_repl.stopped = false;
        let done = match d.main_ch_client_id {
            None => "Dual channel replication: Successfully streamed replication data into memory"
                .to_string(),
            Some(_) => format!(
                "Successfully streamed replication buffer into the db ({held} bytes in total)"
            ),
        };
        self.log(now, Level::Notice, done);
        self.log(
            now,
            Level::Notice,
            "MASTER <-> REPLICA sync: Finished with success".into(),
        );
        self.event(Event::FullSyncFinished);
        self.send_ack(now);
    }

    /// A connection of a dual-channel sync closed (already gone from the connection table).
    /// Returns whether it was one.
    pub(crate) fn on_dual_channel_closed(&mut self, now: SimTime, id: ConnId) -> bool {
        let Some(d) = self.dual() else { return false };
        let (main, rdb) = (d.main, d.rdb_conn());
        if main == id {
            // `bufferReplData`'s read of 0, or the read error that ends the sync.
            self.log(
                now,
                Level::Verbose,
                "Dual channel replication: Provisional primary closed connection".into(),
            );
            if let Some(rdb) = rdb {
                if self.forget_conn(rdb).is_some() {
                    self.push_close(rdb);
                }
            }
            self.cancel_handshake(now, Reconnect::Now, SyncAbort::LinkLost);
            return true;
        }
        if rdb != Some(id) {
            return false;
        }
        let loading = matches!(
            self.dual().map(|d| &d.rdb),
            Some(RdbChannel::Transfer(t)) if matches!(t.rdb, RdbReceive::Loading { .. })
        );
        let transferring = matches!(self.dual().map(|d| &d.rdb), Some(RdbChannel::Transfer(_)));
        match (loading, transferring) {
            // The master closes an RDB channel that has sent everything; the load goes on.
            (true, _) => {}
            (false, true) => {
                self.log(
                    now,
                    Level::Warning,
                    "I/O error trying to sync with MASTER: connection lost".into(),
                );
                self.cancel_handshake(now, Reconnect::Now, SyncAbort::LinkLost);
            }
            _ => {
                self.log(
                    now,
                    Level::Warning,
                    "Dual channel replication: Error condition on socket for dual channel replication: connection lost".into(),
                );
                self.dual_channel_error(now, None);
            }
        }
        true
    }
}

/// Redis 8.0's answer to the RDB channel's `PSYNC ? -1`: `+FULLRESYNC <replid> <offset>`,
/// kept as the end offset a Valkey master would have sent (database 0: the RDB selects its
/// own), with the main channel's id.
fn parse_fullresync(text: &str, main_ch_client_id: u64) -> Option<EndOffset> {
    let mut words = text.strip_prefix("+FULLRESYNC ")?.split_whitespace();
    let replid = words.next()?;
    if replid.len() != 40 {
        return None;
    }
    let offset = string2ll(words.next()?.as_bytes())
        .filter(|&o| o >= 0 && (o as u64) < REPL_OFFSET_MAX)? as u64;
    Some(EndOffset {
        offset,
        replid: replid.to_string(),
        db: 0,
        client_id: main_ch_client_id,
    })
}

/// `$ENDOFF:%lld %40s %d %llu`, with the offset and database checked before use.
fn parse_end_offset(text: &str) -> Option<EndOffset> {
    let rest = text.strip_prefix("$ENDOFF:")?;
    let mut words = rest.split_whitespace();
    let offset = string2ll(words.next()?.as_bytes())
        .filter(|&o| o >= 0 && (o as u64) < REPL_OFFSET_MAX)? as u64;
    let replid = words.next()?;
    if replid.len() != 40 {
        return None;
    }
    let db = usize::try_from(string2ll(words.next()?.as_bytes())?).ok()?;
    let client_id = u64::try_from(string2ll(words.next()?.as_bytes())?).ok()?;
    Some(EndOffset {
        offset,
        replid: replid.to_string(),
        db,
        client_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_parse_as_valkey_writes_them_and_nothing_else() {
        let id = "def3ae1f75afe4d4e8b144faacfc02a99c3297ce";
        assert_eq!(
            parse_end_offset(&format!("$ENDOFF:0 {id} 0 5")),
            Some(EndOffset {
                offset: 0,
                replid: id.into(),
                db: 0,
                client_id: 5
            })
        );
        assert_eq!(parse_end_offset(&format!("$ENDOFF:-1 {id} 0 5")), None);
        assert_eq!(parse_end_offset("$ENDOFF:10 short 0 5"), None);
        assert_eq!(parse_end_offset(&format!("$ENDOFF:10 {id} 0")), None);
        assert_eq!(parse_end_offset(&format!("+FULLRESYNC {id} 0")), None);
        assert_eq!(parse_end_offset("-ERR no"), None);
    }
}
