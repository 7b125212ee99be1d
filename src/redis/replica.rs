//! Following a master: the replica side of replication (replication.c `connectWithMaster`,
//! `syncWithMaster`, `slaveTryPartialResynchronization`, `readSyncBulkPayload`,
//! `replicationCacheMaster`, `replicaofCommand`, and `replicationCron`'s replica half).
//!
//! The handshake is pipelined as Redis 7 does it: PING, then AUTH, `REPLCONF listening-port`,
//! `REPLCONF ip-address` and `REPLCONF capa eof capa psync2` without waiting, then their replies
//! in order, then PSYNC. Error paths and reconnect timing follow spec §1.4: handshake errors wait
//! for the next cron second, transfer failures and a lost established link reconnect at once.

use super::commands::{Caller, Ctx, Prop};
use super::log::{unix_ms, unix_secs, Level};
use super::node::{
    Action, CachedMaster, ConnId, Event, Following, Loading, MasterClient, Node, Persisted,
    ReplState, Role, Transfer,
};
use super::rdb::{self, Payload};
use super::resp::{encode_command, string2ll, Frame, Reply};
use crate::time::{SimDuration, SimTime};

use super::config::DisklessLoad;

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
        // masterhost is unset while the old link is freed, so freeing it does not reconnect.
        self.following = None;
        if let Some(m) = self.master.clone() {
            self.free_conn(now, m.conn, super::node::DropReason::RoleChange, false);
            self.actions.push_back(Action::Close { conn: m.conn });
        }
        if was_master {
            self.discard_cached_master(now);
            // replicationCacheMasterUsingMyself.
            self.log(now, Level::Notice, "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.".into());
            self.cached_master = Some(CachedMaster {
                replid: self.replid.clone(),
                reploff: self.master_repl_offset(),
                db: 0,
            });
            self.event(Event::RoleChanged { master: false });
        }
        self.following = Some(Following::new(host.clone(), port, now));
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
        if let Some(m) = self.master.clone() {
            self.free_conn(now, m.conn, super::node::DropReason::RoleChange, false);
            self.actions.push_back(Action::Close { conn: m.conn });
        }
        self.discard_cached_master(now);
        // cancelReplicationHandshake: an attempt in progress goes away with its connection.
        if let Some(conn) = f.conn {
            if self.conns.remove(&conn).is_some() {
                self.actions.push_back(Action::Close { conn });
            }
            if f.state == ReplState::Transfer {
                self.abort_loading_quietly();
                self.event(Event::FullSyncAborted);
            }
        }
        self.shift_replication_id(now);
        self.disconnect_replicas(now);
        self.slaveseldb = -1;
        self.no_replicas_since = now;
        self.event(Event::RoleChanged { master: true });
    }

    /// `shiftReplicationId`.
    pub(crate) fn shift_replication_id(&mut self, now: SimTime) {
        self.replid2 = self.replid.clone();
        self.second_replid_offset = self.master_repl_offset() as i64 + 1;
        self.replid = self.rng.hex40();
        self.log(
            now,
            Level::Notice,
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

    /// `connectWithMaster`.
    pub(crate) fn connect_with_master(&mut self, now: SimTime) {
        let Some(f) = &self.following else { return };
        let (host, port) = (f.host.clone(), f.port);
        let conn = self.new_conn(host.clone(), port, Role::Master);
        let f = self.following.as_mut().expect("checked above");
        f.conn = Some(conn);
        f.state = ReplState::Connecting;
        f.transfer_lastio = now;
        f.transfer = None;
        f.pending_replies.clear();
        self.actions.push_back(Action::Connect { conn, host, port });
        self.log(now, Level::Notice, "MASTER <-> REPLICA sync started".into());
    }

    /// Our connection to the master was established.
    pub fn handle_connected(&mut self, now: SimTime, conn: ConnId) {
        let Some(f) = self.following.as_mut() else {
            return;
        };
        if f.conn != Some(conn) || f.state != ReplState::Connecting {
            return;
        }
        f.state = ReplState::ReceivePingReply;
        f.transfer_lastio = now;
        self.log(
            now,
            Level::Notice,
            "Non blocking connect for SYNC fired the event.".into(),
        );
        self.write_raw(conn, b"*1\r\n$4\r\nPING\r\n");
    }

    /// Our connection attempt failed (`reason` as the OS would say it, e.g. `Connection refused`).
    pub fn handle_connect_failed(&mut self, now: SimTime, conn: ConnId, reason: &str) {
        self.conns.remove(&conn);
        let Some(f) = self.following.as_mut() else {
            return;
        };
        if f.conn != Some(conn) {
            return;
        }
        f.conn = None;
        f.state = ReplState::Connect;
        self.log(
            now,
            Level::Warning,
            format!("Error condition on socket for SYNC: {reason}"),
        );
    }

    /// The `error:` label of `syncWithMaster`: close, and retry on the next cron tick.
    fn handshake_error(&mut self, now: SimTime) {
        let Some(f) = self.following.as_mut() else {
            return;
        };
        let conn = f.conn.take();
        f.state = ReplState::Connect;
        f.transfer = None;
        if let Some(conn) = conn {
            if self.conns.remove(&conn).is_some() {
                self.actions.push_back(Action::Close { conn });
            }
        }
        let _ = now;
    }

    /// `cancelReplicationHandshake(reconnect)`.
    fn cancel_handshake(&mut self, now: SimTime, reconnect: bool) {
        let was_transfer = self.repl_state() == ReplState::Transfer;
        self.handshake_error(now);
        if was_transfer {
            self.abort_loading_quietly();
            self.event(Event::FullSyncAborted);
        }
        if reconnect && self.following.is_some() {
            let f = self.following.as_ref().expect("checked");
            let (host, port) = (f.host.clone(), f.port);
            self.log(
                now,
                Level::Notice,
                format!("Reconnecting to MASTER {host}:{port} after failure"),
            );
            self.connect_with_master(now);
        }
    }

    /// Drops a diskless load in progress (the half-loaded data goes, except with swapdb).
    fn abort_loading_quietly(&mut self) {
        if let Some(l) = self.loading.take() {
            let _ = l;
        }
        self.read_resume_at = None;
    }

    /// Bytes from our master.
    pub(crate) fn on_master_data(&mut self, now: SimTime, id: ConnId) {
        let Some(f) = &self.following else { return };
        if f.conn != Some(id) {
            return;
        }
        if let Some(m) = self.master.as_mut() {
            m.last_interaction = now;
        }
        loop {
            match self.repl_state() {
                s if s.in_handshake() => {
                    if !self.handshake_step(now, id) {
                        break;
                    }
                }
                ReplState::Transfer => {
                    if !self.transfer_step(now, id) {
                        break;
                    }
                }
                ReplState::Connected => {
                    self.apply_stream(now, id);
                    break;
                }
                _ => break,
            }
        }
    }

    /// Reads one reply line of the handshake. Returns whether it consumed one.
    fn handshake_step(&mut self, now: SimTime, id: ConnId) -> bool {
        let Some(c) = self.conns.get_mut(&id) else {
            return false;
        };
        let Some(line) = c.decoder.read_line() else {
            return false;
        };
        let text = String::from_utf8_lossy(&line).to_string();
        let f = self.following.as_mut().expect("handshake without a master");
        f.transfer_lastio = now;
        match f.state {
            ReplState::ReceivePingReply => {
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
                self.send_handshake(now, id);
            }
            ReplState::ReceiveAuthReply => {
                if text.starts_with('-') {
                    self.log(
                        now,
                        Level::Warning,
                        format!("Unable to AUTH to MASTER: {text}"),
                    );
                    self.handshake_error(now);
                    return false;
                }
                self.next_handshake_state(now, id);
            }
            s @ (ReplState::ReceivePortReply
            | ReplState::ReceiveIpReply
            | ReplState::ReceiveCapaReply) => {
                if text.starts_with('-') {
                    let what = match s {
                        ReplState::ReceivePortReply => "listening-port",
                        ReplState::ReceiveIpReply => "ip-address",
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
                self.next_handshake_state(now, id);
            }
            ReplState::ReceivePsyncReply => return self.psync_reply(now, id, &text),
            _ => return false,
        }
        true
    }

    /// `REPL_STATE_SEND_HANDSHAKE`: the pipelined commands after PING.
    fn send_handshake(&mut self, now: SimTime, id: ConnId) {
        let mut out = Vec::new();
        let mut expect = std::collections::VecDeque::new();
        if let Some(pass) = &self.cfg.masterauth {
            match &self.cfg.masteruser {
                Some(user) => encode_command(
                    &[b"AUTH".as_slice(), user.as_bytes(), pass.as_bytes()],
                    &mut out,
                ),
                None => encode_command(&[b"AUTH".as_slice(), pass.as_bytes()], &mut out),
            }
            expect.push_back(ReplState::ReceiveAuthReply);
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
        expect.push_back(ReplState::ReceivePortReply);
        if let Some(ip) = &self.cfg.replica_announce_ip {
            encode_command(
                &[b"REPLCONF".as_slice(), b"ip-address", ip.as_bytes()],
                &mut out,
            );
            expect.push_back(ReplState::ReceiveIpReply);
        }
        encode_command(
            &[b"REPLCONF".as_slice(), b"capa", b"eof", b"capa", b"psync2"],
            &mut out,
        );
        expect.push_back(ReplState::ReceiveCapaReply);
        self.write_raw(id, &out);
        let f = self.following.as_mut().expect("handshake without a master");
        f.state = expect.pop_front().expect("at least the capa reply");
        f.pending_replies = expect;
        let _ = now;
    }

    fn next_handshake_state(&mut self, now: SimTime, id: ConnId) {
        let f = self.following.as_mut().expect("handshake without a master");
        match f.pending_replies.pop_front() {
            Some(s) => f.state = s,
            None => self.send_psync(now, id),
        }
    }

    /// `slaveTryPartialResynchronization(conn, 0)`.
    fn send_psync(&mut self, now: SimTime, id: ConnId) {
        let (replid, offset) = match self.cached_master.clone() {
            Some(c) => {
                let off = (c.reploff + 1).to_string();
                self.log(
                    now,
                    Level::Notice,
                    format!(
                        "Trying a partial resynchronization (request {}:{off}).",
                        c.replid
                    ),
                );
                (c.replid, off)
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
        let f = self.following.as_mut().expect("handshake without a master");
        f.master_initial_offset = -1;
        f.state = ReplState::ReceivePsyncReply;
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
            let offset: i64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(-1);
            let f = self.following.as_mut().expect("handshake without a master");
            if replid.len() == 40 {
                f.pending_replid = replid.to_string();
                f.master_initial_offset = offset;
                self.log(
                    now,
                    Level::Notice,
                    format!("Full resync from master: {replid}:{offset}"),
                );
            } else {
                f.pending_replid = String::new();
                self.log(
                    now,
                    Level::Warning,
                    "Master replied with wrong +FULLRESYNC syntax.".into(),
                );
            }
            self.begin_transfer(now);
            self.event(Event::FullSyncStarted);
            return true;
        }
        if let Some(rest) = text.strip_prefix("+CONTINUE") {
            self.log(
                now,
                Level::Notice,
                "Successful partial resynchronization with master.".into(),
            );
            let new_id = rest.trim();
            let cached = self
                .cached_master
                .take()
                .expect("PSYNC with an id needs a cached master");
            let mut replid = cached.replid.clone();
            if new_id.len() == 40 && new_id != cached.replid {
                self.log(
                    now,
                    Level::Notice,
                    format!("Master replication ID changed to {new_id}"),
                );
                self.replid2 = cached.replid.clone();
                self.second_replid_offset = self.master_repl_offset() as i64 + 1;
                replid = new_id.to_string();
                self.replid = replid.clone();
                self.disconnect_replicas(now);
            }
            self.master = Some(MasterClient {
                conn: id,
                replid,
                reploff: cached.reploff,
                read_reploff: cached.reploff,
                db: cached.db,
                last_interaction: now,
                pre_psync: false,
            });
            let f = self.following.as_mut().expect("handshake without a master");
            f.state = ReplState::Connected;
            f.down_since = None;
            if self.backlog.is_none() {
                self.offset_without_backlog = cached.reploff;
                self.create_backlog();
            }
            self.log(
                now,
                Level::Notice,
                "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.".into(),
            );
            self.event(Event::PartialSyncAccepted);
            return true;
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
        self.following
            .as_mut()
            .expect("handshake without a master")
            .master_initial_offset = -1;
        self.begin_transfer(now);
        true
    }

    fn begin_transfer(&mut self, now: SimTime) {
        let f = self.following.as_mut().expect("transfer without a master");
        f.state = ReplState::Transfer;
        f.transfer_lastio = now;
        f.transfer = Some(Transfer {
            size: None,
            eof_mark: None,
            header_seen: false,
            read: 0,
            payload: Payload::default(),
            load_clock: None,
        });
    }

    fn use_diskless_load(&self) -> bool {
        match self.cfg.repl_diskless_load {
            DisklessLoad::Disabled => false,
            DisklessLoad::Swapdb => true,
            DisklessLoad::OnEmptyDb => self.keyspace.is_empty(),
        }
    }

    /// `readSyncBulkPayload`. Returns whether it made progress.
    fn transfer_step(&mut self, now: SimTime, id: ConnId) -> bool {
        if self.following.as_ref().is_none_or(|f| f.transfer.is_none()) {
            // The RDB is complete and loading; the rest waits for the load to finish.
            return false;
        }
        let header_seen = self
            .following
            .as_ref()
            .and_then(|f| f.transfer.as_ref())
            .is_some_and(|t| t.header_seen);
        if !header_seen {
            let Some(line) = self.conns.get_mut(&id).and_then(|c| c.decoder.read_line()) else {
                return false;
            };
            let text = String::from_utf8_lossy(&line).to_string();
            self.following.as_mut().expect("transfer").transfer_lastio = now;
            if let Some(err) = text.strip_prefix('-') {
                self.log(
                    now,
                    Level::Warning,
                    format!("MASTER aborted replication with an error: {err}"),
                );
                self.cancel_handshake(now, true);
                return false;
            }
            if text.is_empty() {
                return true;
            }
            if !text.starts_with('$') {
                self.log(now, Level::Warning, format!("Bad protocol from MASTER, the first byte is not '$' (we received '{text}'), are you sure the host and port are right?"));
                self.cancel_handshake(now, true);
                return false;
            }
            let diskless = self.use_diskless_load();
            let target = if diskless { "to parser" } else { "to disk" };
            let t = self
                .following
                .as_mut()
                .expect("transfer")
                .transfer
                .as_mut()
                .expect("transfer");
            t.header_seen = true;
            if let Some(mark) = text.strip_prefix("$EOF:") {
                t.eof_mark = Some(mark.as_bytes().to_vec());
                self.log(now, Level::Notice, format!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF {target}"));
            } else {
                match text[1..].parse::<u64>() {
                    Ok(n) => {
                        t.size = Some(n);
                        self.log(
                            now,
                            Level::Notice,
                            format!(
                                "MASTER <-> REPLICA sync: receiving {n} bytes from master {target}"
                            ),
                        );
                    }
                    Err(_) => {
                        self.log(now, Level::Warning, format!("Bad protocol from MASTER, the first byte is not '$' (we received '{text}'), are you sure the host and port are right?"));
                        self.cancel_handshake(now, true);
                        return false;
                    }
                }
            }
            if diskless {
                self.start_diskless_load(now);
            }
            return true;
        }
        // The body.
        let Some(c) = self.conns.get_mut(&id) else {
            return false;
        };
        let t = self
            .following
            .as_mut()
            .expect("transfer")
            .transfer
            .as_mut()
            .expect("transfer");
        let want = match t.size {
            Some(n) => (n - t.read) as usize,
            None => usize::MAX,
        };
        let bytes = c.decoder.take_raw(want);
        if bytes.is_empty() {
            return false;
        }
        let n = bytes.len() as u64;
        t.payload.push_bytes(bytes);
        t.read += n;
        self.following.as_mut().expect("transfer").transfer_lastio = now;
        self.after_transfer_bytes(now, n);
        true
    }

    /// An opaque run from our master: the synthetic part of an RDB.
    pub(crate) fn on_master_opaque(&mut self, now: SimTime, id: ConnId, len: u64) {
        let ok = self
            .following
            .as_ref()
            .is_some_and(|f| f.conn == Some(id) && f.state == ReplState::Transfer)
            && self
                .following
                .as_ref()
                .and_then(|f| f.transfer.as_ref())
                .is_some_and(|t| t.header_seen)
            && self
                .conns
                .get(&id)
                .is_some_and(|c| c.decoder.peek_raw().is_empty());
        if !ok {
            self.log(
                now,
                Level::Warning,
                "I/O error trying to sync with MASTER: unexpected opaque bytes".into(),
            );
            self.cancel_handshake(now, true);
            return;
        }
        let f = self.following.as_mut().expect("checked");
        f.transfer_lastio = now;
        let t = f.transfer.as_mut().expect("checked");
        t.payload.push_opaque(len);
        t.read += len;
        self.after_transfer_bytes(now, len);
        // Bytes after the opaque run may already be buffered.
        self.on_master_data(now, id);
    }

    /// Completion checks and diskless-load pacing after `n` more RDB bytes arrived.
    fn after_transfer_bytes(&mut self, now: SimTime, n: u64) {
        let rate = self.cfg.cost.rdb_load_bytes_per_sec.max(1);
        let f = self.following.as_mut().expect("transfer");
        let t = f.transfer.as_mut().expect("transfer");
        if let Some(clock) = t.load_clock.as_mut() {
            *clock = (*clock).max(now)
                + SimDuration::from_nanos(
                    (u128::from(n) * 1_000_000_000 / u128::from(rate)) as u64,
                );
        }
        let complete = match (&t.size, &t.eof_mark) {
            (Some(size), _) => t.read >= *size,
            (None, Some(mark)) => ends_with_mark(&t.payload, mark),
            _ => false,
        };
        let conn = f.conn.expect("transfer has a connection");
        let clock = t.load_clock;
        if complete {
            if let Some(mark) = t.eof_mark.clone() {
                strip_mark(&mut t.payload, mark.len());
            }
            self.transfer_complete(now);
        } else if let Some(clock) = clock {
            // A diskless load parses at the load rate: stop reading while it is behind.
            if clock > now {
                self.pause_read(conn);
                self.read_resume_at = Some(clock);
            }
        }
    }

    /// The diskless loader caught up; read the socket again.
    pub(crate) fn on_read_resume(&mut self, now: SimTime) {
        if let Some(conn) = self.following.as_ref().and_then(|f| f.conn) {
            if self.repl_state() == ReplState::Transfer {
                self.resume_read(conn);
                self.on_master_data(now, conn);
            }
        }
    }

    fn start_diskless_load(&mut self, now: SimTime) {
        let swapdb = self.cfg.repl_diskless_load == DisklessLoad::Swapdb;
        let same_history = self
            .following
            .as_ref()
            .is_some_and(|f| f.pending_replid == self.replid);
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
        let t = self
            .following
            .as_mut()
            .expect("transfer")
            .transfer
            .as_mut()
            .expect("transfer");
        t.load_clock = Some(now);
        self.loading = Some(Loading {
            until: SimTime::MAX,
            payload: Payload::default(),
            async_loading: swapdb && same_history,
            last_newline: now,
            eof_mark_transfer: false,
            size: 0,
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
        let f = self.following.as_mut().expect("transfer");
        let t = f.transfer.take().expect("transfer");
        let conn = f.conn.expect("transfer has a connection");
        let eof_mark = t.eof_mark.is_some();
        let size = t.payload.len();
        let rate = self.cfg.cost.rdb_load_bytes_per_sec.max(1);
        let load_ns = (u128::from(size) * 1_000_000_000 / u128::from(rate)) as u64;
        // The socket is not read again until the load finishes.
        self.pause_read(conn);
        match t.load_clock {
            Some(clock) => {
                // Diskless: loading ran alongside the transfer; it ends when the loader catches up.
                let l = self
                    .loading
                    .as_mut()
                    .expect("a diskless load is in progress");
                l.until = clock.max(now);
                l.payload = t.payload;
                l.eof_mark_transfer = eof_mark;
                l.size = size;
                self.read_resume_at = None;
            }
            None => {
                if let Some(child) = self.child.take() {
                    self.log(now, Level::Warning, format!("Replica is about to load the RDB file received from the master, but there is a pending RDB child running. Killing process {} and removing its temp file to avoid any race", child.pid));
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
                    payload: t.payload,
                    async_loading: false,
                    last_newline: now,
                    eof_mark_transfer: eof_mark,
                    size,
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
        let loaded = match rdb::decode(&l.payload, unix_ms(now), false, databases) {
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
                self.cancel_handshake(now, true);
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
        let f = self.following.as_mut().expect("loading for a master");
        let conn = f.conn.expect("loading on a connection");
        let reploff = f.master_initial_offset.max(0) as u64;
        let replid = f.pending_replid.clone();
        let pre_psync = f.master_initial_offset < 0;
        f.state = ReplState::Connected;
        f.down_since = None;
        let db = loaded.repl.as_ref().map_or(0, |r| r.stream_db as usize);
        self.master = Some(MasterClient {
            conn,
            replid: replid.clone(),
            reploff,
            read_reploff: reploff,
            db,
            last_interaction: now,
            pre_psync,
        });
        self.replid = replid;
        self.offset_without_backlog = reploff;
        self.backlog = None;
        self.clear_replid2();
        self.create_backlog();
        self.log(
            now,
            Level::Notice,
            "MASTER <-> REPLICA sync: Finished with success".into(),
        );
        self.event(Event::FullSyncFinished);
        if l.eof_mark_transfer {
            // The master starts streaming on our first ACK.
            self.send_ack(now);
        }
        self.resume_read(conn);
        self.on_master_data(now, conn);
    }

    fn log_rdb_loaded(&mut self, now: SimTime, loaded: &rdb::Loaded) {
        let ver = loaded.redis_ver.clone().unwrap_or_else(|| "unknown".into());
        self.log(
            now,
            Level::Notice,
            format!("Loading RDB produced by version {ver}"),
        );
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
    /// forwards the applied bytes verbatim to our own stream (`replicationFeedStreamFromMasterStream`).
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
        loop {
            let frame = match decoder.next_frame() {
                Ok(None) => break,
                Ok(Some(f)) => f,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
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
                let reploff_before =
                    self.master.as_ref().map_or(0, |m| m.reploff) + (applied_end - start) as u64;
                if name.eq_ignore_ascii_case(b"replconf")
                    && args.len() >= 2
                    && args[1].eq_ignore_ascii_case(b"getack")
                {
                    // The ACK reports the offset before this GETACK (spec §4.2).
                    self.send_ack_offset(now, reploff_before);
                } else if name.eq_ignore_ascii_case(b"multi") {
                    in_multi = true;
                } else if name.eq_ignore_ascii_case(b"exec") {
                    in_multi = false;
                } else if !name.eq_ignore_ascii_case(b"ping") {
                    let db = self.master.as_ref().map_or(0, |m| m.db);
                    let mut ctx = Ctx::new(Caller::Master, db, true);
                    let reply = self.call(now, &mut ctx, args);
                    if let Some(m) = self.master.as_mut() {
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
        let applied = applied_end - start;
        if applied > 0 {
            self.propagate_raw(now, decoder.slice(start, applied_end));
        }
        let pending = decoder.pending() as u64;
        if let Some(m) = self.master.as_mut() {
            m.reploff += applied as u64;
            m.read_reploff = m.reploff + pending;
        }
        if let Some(c) = self.conns.get_mut(&id) {
            self.spare_decoder = Some(std::mem::replace(&mut c.decoder, decoder));
        }
        if let Some(e) = error {
            // A protocol error from the master: the link is dropped and not cached, so the next
            // sync is a full one.
            self.log(
                now,
                Level::Warning,
                format!("Protocol error ({}) from client: {}", e.0, "master"),
            );
            self.master_protocol_error = true;
            self.close_conn(now, id);
        }
    }

    /// `REPLCONF ACK <reploff>` to our master.
    pub(crate) fn send_ack(&mut self, now: SimTime) {
        if let Some(off) = self.master.as_ref().map(|m| m.reploff) {
            self.send_ack_offset(now, off);
        }
    }

    fn send_ack_offset(&mut self, _now: SimTime, off: u64) {
        let Some(m) = &self.master else { return };
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

    /// Our master connection closed (`freeClient(server.master)` or a failed attempt).
    pub(crate) fn on_master_conn_closed(&mut self, now: SimTime, id: ConnId, by_peer: bool) {
        let protocol_error = std::mem::take(&mut self.master_protocol_error);
        if let Some(m) = self.master.clone() {
            if m.conn == id {
                self.master = None;
                self.log(now, Level::Notice, "Connection with master lost.".into());
                if protocol_error {
                    // Not cached: the next sync is full.
                } else {
                    self.log(
                        now,
                        Level::Notice,
                        "Caching the disconnected master state.".into(),
                    );
                    self.cached_master = Some(CachedMaster {
                        replid: m.replid.clone(),
                        reploff: m.reploff,
                        db: m.db,
                    });
                }
                self.event(Event::MasterLinkDown);
                if let Some(f) = self.following.as_mut() {
                    f.conn = None;
                    f.state = ReplState::Connect;
                    f.down_since = Some(now);
                    let (host, port) = (f.host.clone(), f.port);
                    // replicationHandleMasterDisconnection: reconnect at once.
                    self.log(
                        now,
                        Level::Notice,
                        format!("Reconnecting to MASTER {host}:{port}"),
                    );
                    self.connect_with_master(now);
                }
                return;
            }
        }
        let Some(f) = &self.following else { return };
        if f.conn != Some(id) {
            return;
        }
        match f.state {
            ReplState::Transfer => {
                self.log(
                    now,
                    Level::Warning,
                    "I/O error trying to sync with MASTER: connection lost".into(),
                );
                self.conns.remove(&id);
                self.cancel_handshake(now, true);
            }
            s if s.in_handshake() => {
                if by_peer {
                    self.log(
                        now,
                        Level::Warning,
                        "Master did not respond to command during SYNC handshake".into(),
                    );
                }
                self.handshake_error(now);
            }
            _ => self.handshake_error(now),
        }
    }

    /// The replica half of `replicationCron`.
    pub(crate) fn replica_cron(&mut self, now: SimTime) {
        let Some(f) = &self.following else { return };
        let timeout = self.cfg.repl_timeout_secs;
        let state = f.state;
        if (state == ReplState::Connecting || state.in_handshake())
            && Self::secs_since(now, f.transfer_lastio) > timeout
        {
            self.log(
                now,
                Level::Warning,
                "Timeout connecting to the MASTER...".into(),
            );
            self.cancel_handshake(now, true);
        } else if state == ReplState::Transfer && Self::secs_since(now, f.transfer_lastio) > timeout
        {
            self.log(now, Level::Warning, "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.".into());
            self.cancel_handshake(now, true);
        } else if state == ReplState::Connected {
            if let Some((conn, last)) = self.master.as_ref().map(|m| (m.conn, m.last_interaction)) {
                if Self::secs_since(now, last) > timeout {
                    self.log(
                        now,
                        Level::Warning,
                        "MASTER timeout: no data nor PING received...".into(),
                    );
                    self.close_conn(now, conn);
                }
            }
        }
        if self.repl_state() == ReplState::Connect {
            let f = self.following.as_ref().expect("checked");
            let (host, port) = (f.host.clone(), f.port);
            self.log(
                now,
                Level::Notice,
                format!("Connecting to MASTER {host}:{port}"),
            );
            self.connect_with_master(now);
        }
        if self.repl_state() == ReplState::Connected {
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
            if let Some(conn) = self.following.as_ref().and_then(|f| f.conn) {
                self.write_raw(conn, b"\n");
            }
        }
    }

    /// Loads a persisted RDB at startup (`loadDataFromDisk`), restoring the replication history.
    pub(crate) fn load_at_startup(&mut self, now: SimTime, p: &Persisted, will_be_replica: bool) {
        let databases = self.cfg.databases as usize;
        let Ok(loaded) = rdb::decode(&p.rdb, unix_ms(now), false, databases) else {
            self.log(
                now,
                Level::Warning,
                "Short read or OOM loading DB. Unrecoverable error, aborting now.".into(),
            );
            return;
        };
        self.log_rdb_loaded(now, &loaded);
        let size = p.rdb.len();
        let load_ns = (u128::from(size) * 1_000_000_000
            / u128::from(self.cfg.cost.rdb_load_bytes_per_sec.max(1))) as u64;
        self.log(
            now,
            Level::Notice,
            format!("DB loaded from disk: {:.3} seconds", load_ns as f64 / 1e9),
        );
        self.keyspace = loaded.keyspace;
        self.stats.rdb_last_load_keys_loaded = loaded.keys_loaded;
        if let Some(r) = loaded.repl {
            if will_be_replica {
                self.replid = r.replid.clone();
                self.offset_without_backlog = r.offset;
                self.cached_master = Some(CachedMaster {
                    replid: r.replid,
                    reploff: r.offset,
                    db: r.stream_db as usize,
                });
                self.log(now, Level::Notice, "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.".into());
            } else {
                // A restarted master keeps its old history as replid2 (server.c loadDataFromDisk).
                self.replid2 = r.replid;
                self.second_replid_offset = r.offset as i64 + 1;
                self.offset_without_backlog = r.offset;
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
                payload: Payload::default(),
                async_loading: false,
                last_newline: now,
                eof_mark_transfer: false,
                size,
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
