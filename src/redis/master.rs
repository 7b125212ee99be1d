//! Serving replicas: the master side of replication (replication.c `syncCommand`,
//! `masterTryPartialResynchronization`, `replconfCommand`, BGSAVE for replication, the diskless
//! pipe, `replicationCron`'s master half, output-buffer limits, WAIT and min-replicas).
//!
//! A replica node runs this code too, for its own sub-replicas: it serves PSYNC only while its own
//! link is up, and it never PINGs or GETACKs them.

use super::blocked::Waiter;
use super::commands::{Caller, Ctx, Prop};
use super::config::RedisVersion;
use super::log::{unix_secs, Level};
use super::node::{
    nanos_at_rate, Child, ChildExit, ConnId, DropReason, Event, Node, Role, Transmit,
    SERVER_CRON_PERIOD, ZERO_REPLID,
};
use super::state::{DisklessSend, RdbSend, ReplState, ReplicaLink, ReplicaState, ReplicaSync};
use std::rc::Rc;

use super::rdb::{self, Part, ReplInfo, SaveMeta};
use super::replbuf::ReplBuffer;
use super::resp::{string2ll, Reply};
use crate::time::{SimDuration, SimTime};

/// The parent reads the diskless pipe in chunks of this size (`PROTO_IOBUF_LEN`), and the child
/// writes it in flushes of about this size (rio.c: rioFdWrite buffers until it holds more).
const PIPE_CHUNK_BYTES: u64 = 16 * 1024;

impl Node {
    pub(crate) fn has_replicas(&self) -> bool {
        self.conns.values().any(|c| c.replica().is_some())
    }

    fn replica_ids(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.replica().is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// `replicationGetSlaveName`: `ip:listening-port`.
    pub(crate) fn replica_name(&self, c: &super::node::Conn) -> String {
        let (ip, port) = match c.replica() {
            Some(r) => (
                r.announced_ip.clone().unwrap_or_else(|| c.peer_ip.clone()),
                r.listening_port,
            ),
            None => (c.peer_ip.clone(), 0),
        };
        if port == 0 {
            format!("{ip}:<unknown-replica-port>")
        } else {
            format!("{ip}:{port}")
        }
    }

    fn replica_name_of(&self, id: ConnId) -> String {
        self.conns
            .get(&id)
            .map(|c| self.replica_name(c))
            .unwrap_or_default()
    }

    pub(crate) fn replica_obuf_bytes(&self, r: &ReplicaLink) -> u64 {
        match (r.next, &self.backlog) {
            (Some(next), Some(b)) => b.output_buffer_bytes(next),
            _ => 0,
        }
    }

    /// Creates an empty backlog after the current offset (`createReplicationBacklog`).
    pub(crate) fn create_backlog(&mut self) {
        if self.backlog.is_none() {
            self.backlog = Some(ReplBuffer::new_in(
                self.offset_without_backlog,
                self.keyspace.shared(),
            ));
        }
    }

    /// A master without a backlog creates one for a replica's full sync, and a backlog created
    /// from scratch starts a new history (`syncCommand`: `createReplicationBacklog`'s callers
    /// change the replication ID first). Nothing happens when it has one.
    pub(crate) fn create_backlog_with_new_history(&mut self, now: SimTime) {
        if self.backlog.is_some() {
            return;
        }
        self.replid = self.rng.hex40();
        self.clear_replid2();
        self.create_backlog();
        self.log(
            now,
            Level::Notice,
            format!(
                "Replication backlog created, my new replication IDs are '{}' and '{}'",
                self.replid, self.replid2
            ),
        );
    }

    pub(crate) fn free_backlog(&mut self) {
        if let Some(b) = self.backlog.take() {
            self.offset_without_backlog = b.master_repl_offset();
        }
    }

    /// Appends bytes to this node's stream (`feedReplicationBuffer`): from commands when a
    /// master, or the bytes applied from our master when a replica. Without a backlog nothing is
    /// kept and the offset does not move.
    pub(crate) fn propagate_raw(&mut self, now: SimTime, bytes: &[u8]) {
        let size = self.cfg.repl_backlog_size;
        let Some(backlog) = self.backlog.as_mut() else {
            return;
        };
        let first = backlog.master_repl_offset() + 1;
        let fed = backlog.feed(bytes, size);
        // Replicas that can be fed and hold no reference yet start at the first new byte.
        for (id, c) in self.conns.iter_mut() {
            if let Role::Replica(r) = &mut c.role {
                // An RDB channel holds the backlog only from its `$ENDOFF` until its PSYNC.
                if !matches!(r.sync, ReplicaSync::WaitBgsaveStart)
                    && !r.rdb_channel
                    && r.next.is_none()
                {
                    r.next = Some(first);
                }
                if r.streaming() {
                    self.dirty.insert(*id);
                }
            }
        }
        if fed.new_blocks > 0 {
            for id in self.replica_ids() {
                self.check_output_buffer(now, id, true);
            }
        }
        // Redis also trims in beforeSleep, after every command, not only when a block is added:
        // a write that fills the tail block can make the head block surplus.
        self.trim_backlog();
    }

    pub(crate) fn trim_backlog(&mut self) {
        let size = self.cfg.repl_backlog_size;
        if !self.backlog.as_ref().is_some_and(|b| b.trimmable(size)) {
            return;
        }
        let oldest = self
            .conns
            .values()
            .filter_map(|c| c.replica().and_then(|r| r.next))
            .min();
        if let Some(b) = self.backlog.as_mut() {
            b.trim(size, oldest);
        }
    }

    /// `checkClientOutputBufferLimits` + `closeClientOnOutputBufferLimitReached`.
    pub(crate) fn check_output_buffer(
        &mut self,
        now: SimTime,
        id: ConnId,
        from_feed: bool,
    ) -> bool {
        let hard = self.cfg.replica_hard_limit_effective();
        let soft = self.cfg.client_output_buffer_limit_replica;
        let Some(c) = self.conns.get(&id) else {
            return false;
        };
        let Some(r) = c.replica() else { return false };
        let used = self.replica_obuf_bytes(r);
        let hard_hit = hard > 0 && used >= hard;
        let mut soft_hit = false;
        let mut since = r.soft_limit_since;
        if soft.soft_bytes > 0 && used >= soft.soft_bytes {
            match since {
                None => since = Some(now),
                Some(t) => soft_hit = unix_secs(now) - unix_secs(t) > soft.soft_secs,
            }
        } else {
            since = None;
        }
        if let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) {
            r.soft_limit_since = since;
        }
        if !(hard_hit || soft_hit) {
            return false;
        }
        let c = &self.conns[&id];
        let info = self.client_info(
            c.client_id,
            &format!("{}:{}", c.peer_ip, c.peer_port),
            "S",
            c.db,
            "psync",
        );
        let verb = if from_feed {
            "scheduled to be closed ASAP"
        } else {
            "closed"
        };
        self.log(
            now,
            Level::Warning,
            format!("Client {info} {verb} for overcoming of output buffer limits."),
        );
        let reason = if hard_hit {
            DropReason::OutputBufferHardLimit
        } else {
            DropReason::OutputBufferSoftLimit
        };
        self.free_conn(now, id, reason, false);
        self.push_close(id);
        true
    }

    /// `REPLCONF`. Returns the reply, or `None` for ACK/GETACK, which get none.
    pub(crate) fn replconf_command(
        &mut self,
        now: SimTime,
        id: ConnId,
        args: &[&[u8]],
    ) -> Option<Reply> {
        if args.len() % 2 == 0 {
            return Some(Reply::err("ERR syntax error"));
        }
        let mut i = 1;
        while i < args.len() {
            let opt = String::from_utf8_lossy(args[i]).to_ascii_lowercase();
            let val = &args[i + 1];
            match opt.as_str() {
                "listening-port" => {
                    let Some(p) = string2ll(val) else {
                        return Some(Reply::err("ERR value is not an integer or out of range"));
                    };
                    // Redis takes any long here without a range check; a port outside 0-65535
                    // (no real replica sends one) is kept as 0, "unknown".
                    self.pending_port(id, u16::try_from(p).unwrap_or(0));
                }
                "ip-address" => {
                    // `NET_HOST_STR_LEN`: a hostname may stand in for the address.
                    if val.len() >= 256 {
                        return Some(Reply::err(format!("ERR REPLCONF ip-address provided by replica instance is too long: {} bytes", val.len())));
                    }
                    let ip = String::from_utf8_lossy(val).to_string();
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.peer_ip = ip;
                    }
                }
                "capa" => {
                    let capa = String::from_utf8_lossy(val).to_ascii_lowercase();
                    if let Some(c) = self.conns.get_mut(&id) {
                        // Unknown capabilities are ignored, as Redis does.
                        match capa.as_str() {
                            "eof" => c.capa_eof = true,
                            "psync2" => c.capa_psync2 = true,
                            // A master with dual channel off (or disk sync) treats it as a
                            // capability it does not understand.
                            "dual-channel"
                                if self.cfg.dual_channel_replication
                                    && self.cfg.repl_diskless_sync =>
                            {
                                c.capa_dual_channel = true
                            }
                            // Redis 8.0's rdb channel, kept under the same conditions
                            // (`syncCommand` checks `repl-rdb-channel` and diskless sync).
                            "rdb-channel-repl"
                                if self.cfg.repl_rdb_channel && self.cfg.repl_diskless_sync =>
                            {
                                c.capa_dual_channel = true
                            }
                            _ => {}
                        }
                    }
                }
                "rdb-only" | "rdb-filter-only" => {}
                "rdb-channel" | "set-rdb-client-id" | "version"
                    if self.cfg.redis_version.is_valkey() =>
                {
                    if let Some(reply) = self.replconf_valkey(id, &opt, val) {
                        return Some(reply);
                    }
                }
                "rdb-channel" | "main-ch-client-id"
                    if self.cfg.redis_version == RedisVersion::V8_0 =>
                {
                    if let Some(reply) = self.replconf_rdb_channel(id, &opt, val) {
                        return Some(reply);
                    }
                }
                "ack" => {
                    let off = string2ll(val).and_then(|v| u64::try_from(v).ok());
                    if let (Some(off), Some(r)) =
                        (off, self.conns.get_mut(&id).and_then(|c| c.replica_mut()))
                    {
                        r.ack_off = r.ack_off.max(off);
                        r.ack_time = now;
                        if let ReplicaSync::Online {
                            stream_on_ack: true,
                        } = r.sync
                        {
                            r.sync = ReplicaSync::Online {
                                stream_on_ack: false,
                            };
                            self.dirty.insert(id);
                        }
                        if let ReplicaSync::BgRdbLoad = r.sync {
                            // The replica loaded its RDB and applied what it buffered.
                            self.replica_put_online(now, id);
                        }
                    }
                    return None;
                }
                "getack" => {
                    if self.repl_state() == ReplState::Connected {
                        self.send_ack(now);
                    }
                    return None;
                }
                _ => {
                    return Some(Reply::err(format!(
                        "ERR Unrecognized REPLCONF option: {}",
                        String::from_utf8_lossy(args[i])
                    )))
                }
            }
            i += 2;
        }
        Some(Reply::ok())
    }

    /// REPLCONF's Valkey options: `rdb-channel <0|1>`, `set-rdb-client-id <id>` and `version
    /// <x.y.z>`. Returns an error reply, or `None` to go on with the next option.
    fn replconf_valkey(&mut self, id: ConnId, opt: &str, val: &[u8]) -> Option<Reply> {
        match opt {
            "rdb-channel" => return self.replconf_rdb_channel_flag(id, val),
            "set-rdb-client-id" => {
                let Some(cid) = string2ll(val) else {
                    return Some(Reply::err("ERR value is not an integer or out of range"));
                };
                // `lookupRdbClientByID`: only an RDB channel still waiting for its PSYNC.
                let waiting = u64::try_from(cid).ok().filter(|&cid| {
                    self.conns
                        .values()
                        .any(|c| c.client_id == cid && c.replica().is_some_and(|r| r.waiting_psync))
                });
                let Some(cid) = waiting else {
                    return Some(Reply::err(format!("ERR Unrecognized RDB client id {cid}")));
                };
                if let Some(c) = self.conns.get_mut(&id) {
                    c.rdb_client_id = Some(cid);
                }
            }
            // `version2num`: the replica's version is kept by Valkey for features this node
            // does not model; a malformed one is refused.
            _ => {
                let text = String::from_utf8_lossy(val);
                let parts: Vec<&str> = text.split('.').collect();
                let ok = parts.len() == 3
                    && parts
                        .iter()
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                if !ok {
                    return Some(Reply::err(format!(
                        "ERR Unrecognized version format: {text}"
                    )));
                }
            }
        }
        None
    }

    /// REPLCONF `rdb-channel <0|1>`, the same in Valkey 8.1 and Redis 8.0: this connection is
    /// (or is not) the RDB channel of a replica. Returns an error reply, or `None`.
    fn replconf_rdb_channel_flag(&mut self, id: ConnId, val: &[u8]) -> Option<Reply> {
        let on = match string2ll(val) {
            Some(0) => false,
            Some(1) => true,
            _ => return Some(Reply::err("ERR value is out of range, must be positive")),
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.rdb_channel = on;
        }
        None
    }

    /// REPLCONF's Redis 8.0 options: `rdb-channel <0|1>` and `main-ch-client-id <id>`, which
    /// pairs an RDB channel with the main channel answered `+RDBCHANNELSYNC <id>`. Returns an
    /// error reply, or `None` to go on with the next option.
    fn replconf_rdb_channel(&mut self, id: ConnId, opt: &str, val: &[u8]) -> Option<Reply> {
        if opt == "rdb-channel" {
            return self.replconf_rdb_channel_flag(id, val);
        }
        let Some(cid) = string2ll(val) else {
            return Some(Reply::err("ERR value is not an integer or out of range"));
        };
        // Only a main channel still waiting for its RDB channel.
        let waiting = u64::try_from(cid)
            .ok()
            .filter(|&cid| self.waiting_main_channel(cid).is_some());
        let Some(cid) = waiting else {
            return Some(Reply::err(format!("ERR Unrecognized RDB client id: {cid}")));
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.rdb_client_id = Some(cid);
        }
        None
    }

    /// The main channel in `SLAVE_STATE_WAIT_RDB_CHANNEL` whose client id is `cid`.
    fn waiting_main_channel(&self, cid: u64) -> Option<ConnId> {
        self.conns.iter().find_map(|(id, c)| {
            let waits = c
                .replica()
                .is_some_and(|r| matches!(r.sync, ReplicaSync::WaitRdbChannel));
            (c.client_id == cid && waits).then_some(*id)
        })
    }

    /// The RDB channel waiting for PSYNC whose client id is `cid`.
    fn waiting_rdb_channel(&self, cid: u64) -> Option<ConnId> {
        self.conns.iter().find_map(|(id, c)| {
            (c.client_id == cid && c.replica().is_some_and(|r| r.waiting_psync)).then_some(*id)
        })
    }

    fn pending_port(&mut self, id: ConnId, port: u16) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.listening_port = port;
        }
    }

    /// `syncCommand`: PSYNC and SYNC. Returns a reply for the error cases; successful syncs write
    /// their own replies.
    pub(crate) fn sync_command(
        &mut self,
        now: SimTime,
        id: ConnId,
        args: &[&[u8]],
    ) -> Option<Reply> {
        let is_psync = args[0].eq_ignore_ascii_case(b"psync");
        // Arguments past the offset are ignored unless the first is FAILOVER (syncCommand).
        if is_psync && args.len() > 3 && args[3].eq_ignore_ascii_case(b"failover") {
            if self.is_master() {
                return Some(Reply::err("ERR PSYNC FAILOVER can't be sent to a master."));
            }
            return Some(Reply::err(
                "ERR PSYNC FAILOVER is not supported by this simulator",
            ));
        }
        if self.loading.is_some() {
            return Some(Reply::err("LOADING Redis is loading the dataset in memory"));
        }
        if !self.is_master() && self.repl_state() != ReplState::Connected {
            return Some(Reply::err(
                "NOMASTERLINK Can't SYNC while not connected with my master",
            ));
        }
        if self.conns.get(&id).is_some_and(|c| !c.out.is_empty()) {
            return Some(Reply::err(
                "ERR SYNC and PSYNC are invalid with pending output",
            ));
        }
        let name = self.pre_replica_name(id);
        self.log(
            now,
            Level::Notice,
            format!("Replica {name} asks for synchronization"),
        );
        if is_psync {
            let offset = string2ll(args[2]);
            let Some(offset) = offset else {
                self.log(
                    now,
                    Level::Warning,
                    format!("Replica {name} asks for synchronization but with a wrong offset"),
                );
                return Some(Reply::err("ERR value is not an integer or out of range"));
            };
            let req_id = String::from_utf8_lossy(args[1]).to_string();
            if self.try_partial_resync(now, id, &req_id, offset) {
                self.stats.sync_partial_ok += 1;
                return None;
            }
            if req_id != "?" {
                self.stats.sync_partial_err += 1;
            }
            if self.conns.get(&id).is_some_and(|c| c.capa_dual_channel) {
                if self.cfg.redis_version.is_valkey() {
                    // The connection stays a plain client: the RDB goes over a second one.
                    self.log(now, Level::Notice, format!("Dual channel replication: Replica {name} is capable of dual channel synchronization, and partial sync isn't possible. Full sync will continue with dedicated RDB channel."));
                    self.write_raw(id, b"+DUALCHANNELSYNC\r\n");
                } else {
                    self.log(now, Level::Notice, format!("Replica {name} is capable of rdb channel synchronization, and partial sync isn't possible. Full sync will continue with dedicated RDB channel."));
                    self.wait_rdb_channel(now, id);
                }
                return None;
            }
        }
        self.start_full_resync(now, id, !is_psync);
        None
    }

    /// Redis 8.0: the main channel becomes a replica that waits for its RDB channel, and is
    /// told its own client id to pair that channel with.
    fn wait_rdb_channel(&mut self, now: SimTime, id: ConnId) {
        let (capa_eof, _) = self.conn_capas(id);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let cid = c.client_id;
        c.role = Role::Replica(Box::new(ReplicaLink {
            sync: ReplicaSync::WaitRdbChannel,
            listening_port: c.listening_port,
            announced_ip: None,
            capa_eof,
            pre_psync: false,
            ack_off: 0,
            ack_time: now,
            next: None,
            soft_limit_since: None,
            rdb_channel: false,
            waiting_psync: false,
        }));
        self.write_raw(id, format!("+RDBCHANNELSYNC {cid}\r\n").as_bytes());
    }

    /// Redis 8.0: the fork for an RDB channel starts; its main channel is streamed from the
    /// byte after the snapshot (`SLAVE_STATE_SEND_BULK_AND_STREAM`) and goes online at its
    /// first ACK, once the replica has loaded the RDB and applied what it buffered.
    fn stream_main_channel(&mut self, now: SimTime, rdb: ConnId, offset: u64) {
        let Some(main) = self.conns[&rdb]
            .rdb_client_id
            .and_then(|cid| self.waiting_main_channel(cid))
        else {
            return;
        };
        if let Some(r) = self.conns.get_mut(&main).and_then(|c| c.replica_mut()) {
            r.sync = ReplicaSync::BgRdbLoad;
            r.next = Some(offset + 1);
            r.ack_time = now;
        }
        self.dirty.insert(main);
    }

    /// The name a connection will have as a replica (it is not one yet).
    fn pre_replica_name(&self, id: ConnId) -> String {
        let Some(c) = self.conns.get(&id) else {
            return String::new();
        };
        if c.listening_port == 0 {
            format!("{}:<unknown-replica-port>", c.peer_ip)
        } else {
            format!("{}:{}", c.peer_ip, c.listening_port)
        }
    }

    /// `masterTryPartialResynchronization`.
    fn try_partial_resync(&mut self, now: SimTime, id: ConnId, req_id: &str, offset: i64) -> bool {
        let name = self.pre_replica_name(id);
        let ok_id = req_id.eq_ignore_ascii_case(&self.replid)
            || (req_id.eq_ignore_ascii_case(&self.replid2) && offset <= self.second_replid_offset);
        if !ok_id {
            let msg = if req_id.starts_with('?') {
                format!("Full resync requested by replica {name}")
            } else if !req_id.eq_ignore_ascii_case(&self.replid)
                && !req_id.eq_ignore_ascii_case(&self.replid2)
            {
                format!(
                    "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{req_id}', my replication IDs are '{}' and '{}')",
                    self.replid, self.replid2
                )
            } else {
                format!("Partial resynchronization not accepted: Requested offset for second ID was {offset}, but I can reply up to {}", self.second_replid_offset)
            };
            self.log(now, Level::Notice, msg);
            return false;
        }
        let in_range = match &self.backlog {
            Some(b) => offset >= 0 && b.holds(offset as u64),
            None => false,
        };
        if !in_range {
            self.log(now, Level::Notice, format!("Unable to partial resync with replica {name} for lack of backlog (Replica request was: {offset})."));
            if offset > self.master_repl_offset() as i64 {
                self.log(now, Level::Warning, format!("Warning: replica {name} tried to PSYNC with an offset that is greater than the master replication offset."));
            }
            return false;
        }
        let offset = offset as u64;
        let (capa_eof, capa_psync2) = self.conn_capas(id);
        // A dual-channel main channel whose RDB channel still waits: it takes the stream now
        // and goes online at its first ACK; the RDB channel no longer holds the backlog
        // (`removeReplicaFromPsyncWait`).
        let rdb_channel = self.conns[&id]
            .rdb_client_id
            .and_then(|cid| self.waiting_rdb_channel(cid));
        if let Some(r) = rdb_channel.and_then(|r| self.conns.get_mut(&r)?.replica_mut()) {
            r.waiting_psync = false;
            r.next = None;
        }
        let link = ReplicaLink {
            sync: match rdb_channel {
                Some(_) => ReplicaSync::BgRdbLoad,
                None => ReplicaSync::Online {
                    stream_on_ack: false,
                },
            },
            listening_port: self.conns[&id].listening_port,
            announced_ip: None,
            capa_eof,
            pre_psync: false,
            ack_off: 0,
            ack_time: now,
            next: Some(offset),
            soft_limit_since: None,
            rdb_channel: false,
            waiting_psync: false,
        };
        let line = if capa_psync2 {
            format!("+CONTINUE {}\r\n", self.replid)
        } else {
            "+CONTINUE\r\n".to_string()
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.role = Role::Replica(Box::new(link));
        }
        self.write_raw(id, line.as_bytes());
        let histlen = self.backlog.as_ref().map_or(0, |b| b.histlen());
        let backlog_offset = self.backlog.as_ref().map_or(0, |b| b.backlog_offset());
        let sent = histlen - (offset - backlog_offset);
        self.log(now, Level::Notice, format!("Partial resynchronization request from {name} accepted. Sending {sent} bytes of backlog starting from offset {offset}."));
        self.event(Event::ReplicaPartialSync { replica: name });
        self.dirty.insert(id);
        self.refresh_good_replicas(now);
        true
    }

    fn conn_capas(&self, id: ConnId) -> (bool, bool) {
        let c = &self.conns[&id];
        (c.capa_eof, c.capa_psync2)
    }

    /// The full-sync half of `syncCommand`.
    fn start_full_resync(&mut self, now: SimTime, id: ConnId, pre_psync: bool) {
        self.stats.sync_full += 1;
        let (capa_eof, _) = self.conn_capas(id);
        let name = self.pre_replica_name(id);
        let link = ReplicaLink {
            sync: ReplicaSync::WaitBgsaveStart,
            listening_port: self.conns[&id].listening_port,
            announced_ip: None,
            capa_eof,
            pre_psync,
            ack_off: 0,
            ack_time: now,
            next: None,
            soft_limit_since: None,
            rdb_channel: self.conns[&id].rdb_channel,
            waiting_psync: false,
        };
        if let Some(c) = self.conns.get_mut(&id) {
            c.role = Role::Replica(Box::new(link));
        }
        self.event(Event::ReplicaFullSync { replica: name });
        self.create_backlog_with_new_history(now);
        match &self.child {
            Some(child) if !child.socket_target => {
                // Case 1: join a disk BGSAVE if another replica already waits for its end.
                let other = self.conns.iter().find_map(|(oid, c)| {
                    let r = c.replica()?;
                    let ReplicaSync::WaitBgsaveEnd { initial_offset, .. } = r.sync else {
                        return None;
                    };
                    (*oid != id && (!r.capa_eof || capa_eof)).then_some((
                        *oid,
                        initial_offset,
                        r.next,
                    ))
                });
                match other {
                    Some((_, initial, next)) => {
                        self.setup_full_resync(now, id, initial);
                        if let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) {
                            r.next = next;
                        }
                        self.log(now, Level::Notice, "Waiting for end of BGSAVE for SYNC".into());
                    }
                    None => self.log(now, Level::Notice, "Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC".into()),
                }
            }
            Some(_) => self.log(
                now,
                Level::Notice,
                "Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC".into(),
            ),
            None => {
                if self.cfg.repl_diskless_sync
                    && capa_eof
                    && self.cfg.repl_diskless_sync_delay_secs > 0
                {
                    self.log(
                        now,
                        Level::Notice,
                        "Delay next BGSAVE for diskless SYNC".into(),
                    );
                } else {
                    self.start_bgsave_for_replication(now, capa_eof);
                }
            }
        }
    }

    pub(crate) fn clear_replid2(&mut self) {
        self.replid2 = ZERO_REPLID.to_string();
        self.second_replid_offset = -1;
    }

    /// `replicationSetupSlaveForFullResync`.
    fn setup_full_resync(&mut self, now: SimTime, id: ConnId, offset: u64) {
        let replid = self.replid.clone();
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(r) = c.replica_mut() else { return };
        r.sync = ReplicaSync::WaitBgsaveEnd {
            initial_offset: offset,
            diskless: None,
        };
        r.ack_time = now;
        let pre = r.pre_psync;
        self.slaveseldb = -1;
        if !pre {
            self.write_raw(id, format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
        }
    }

    /// `startBgsaveForReplication`: forks, and sets up every replica waiting to start. Under
    /// Valkey one fork serves the replicas whose requirements equal the first waiting one's
    /// (`shouldStartChildReplication`): RDB channels of dual-channel replicas, or the others.
    pub(crate) fn start_bgsave_for_replication(&mut self, now: SimTime, mincapa_eof: bool) {
        let is_waiting = |c: &super::node::Conn| {
            c.replica()
                .is_some_and(|r| r.state() == ReplicaState::WaitBgsaveStart)
        };
        let rdb_req = self
            .conns
            .values()
            .find(|c| is_waiting(c))
            .and_then(|c| c.replica())
            .is_some_and(|r| r.rdb_channel);
        // An RDB channel's requirement forces a socket target (`REPLICA_REQ_RDB_MASK`).
        let socket_target = (self.cfg.repl_diskless_sync || rdb_req) && mincapa_eof;
        let target = if socket_target {
            "replicas sockets"
        } else {
            "disk"
        };
        let using = match (self.cfg.redis_version, rdb_req) {
            (RedisVersion::Valkey8_1, true) => " using: dual-channel",
            (RedisVersion::Valkey8_1, false) => " using: normal sync",
            (RedisVersion::V8_0, true) => " (rdb-channel)",
            _ => "",
        };
        self.log(
            now,
            Level::Notice,
            format!("Starting BGSAVE for SYNC with target: {target}{using}"),
        );
        let waiting: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| is_waiting(c) && c.replica().is_some_and(|r| r.rdb_channel == rdb_req))
            .map(|(id, _)| *id)
            .collect();
        let repl = self.repl_info();
        let Some(repl) = repl else {
            self.log(now, Level::Warning, "BGSAVE for replication: replication information not available, can't generate the RDB file right now. Try later.".into());
            return;
        };
        let mem = self.keyspace.memory_bytes();
        let payload = Rc::new(rdb::encode(
            &self.keyspace,
            &SaveMeta {
                ctime_secs: unix_secs(now),
                used_mem: mem,
                repl: Some(repl),
                checksum: self.cfg.rdbchecksum,
                redis_version: self.cfg.redis_version,
            },
        ));
        self.stats.rdb_saves += 1;
        // Saturating: a dataset loaded from a master may announce up to i64::MAX bytes.
        let per_gb = u64::try_from(
            u128::from(mem) * u128::from(self.cfg.cost.fork_ns_per_gb) / (1u128 << 30),
        )
        .unwrap_or(u64::MAX);
        let fork_ns = self.cfg.cost.fork_base_ns.saturating_add(per_gb);
        let forked_at = now + SimDuration::from_nanos(fork_ns);
        // The parent is blocked while fork() copies page tables.
        self.busy_until = self.busy_until.max(forked_at);
        let pid = self.pid + 1 + self.rng.below(5000) as u32;
        let save_ns = nanos_at_rate(payload.len(), self.cfg.cost.rdb_save_bytes_per_sec, false);
        let offset = self.master_repl_offset();
        let mut mark = Vec::new();
        if socket_target {
            mark = self.rng.hex40().into_bytes();
            for &id in &waiting {
                if rdb_req && self.cfg.redis_version.is_valkey() {
                    self.send_end_offset(now, id, offset);
                } else if rdb_req {
                    self.stream_main_channel(now, id, offset);
                }
                self.setup_full_resync(now, id, offset);
                let header = format!("$EOF:{}\r\n", String::from_utf8_lossy(&mark)).into_bytes();
                let send = RdbSend {
                    header,
                    sent: 0,
                    payload: Rc::clone(&payload),
                    mark: mark.clone(),
                };
                if let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) {
                    r.sync = ReplicaSync::WaitBgsaveEnd {
                        initial_offset: offset,
                        diskless: Some(DisklessSend {
                            send,
                            last_partial_write: None,
                        }),
                    };
                }
            }
            let how = match (self.cfg.redis_version.is_valkey(), rdb_req) {
                (false, _) => "",
                (true, true) => " to direct socket to replica",
                (true, false) => " to pipe through parent process",
            };
            self.log(
                now,
                Level::Notice,
                format!("Background RDB transfer started by pid {pid}{how}"),
            );
        } else {
            self.log(
                now,
                Level::Notice,
                format!("Background saving started by pid {pid}"),
            );
            for &id in &waiting {
                self.setup_full_resync(now, id, offset);
            }
        }
        self.child = Some(Child {
            pid,
            socket_target,
            payload,
            forked_at,
            done_at: forked_at + SimDuration::from_nanos(save_ns),
            pipe_read: 0,
            eof_mark: mark,
            replicas: if socket_target { waiting } else { Vec::new() },
            pipe_done_logged: false,
            conns_below: self.next_conn,
            held_closes: Vec::new(),
            exited: None,
        });
    }

    /// `sendCurrentOffsetToReplica` and `addRdbReplicaToPsyncWait`: tells an RDB channel the
    /// offset its snapshot ends at, and holds the backlog from the next byte until its main
    /// channel asks for it with PSYNC. The database is `server.db->id`, the first database's.
    fn send_end_offset(&mut self, now: SimTime, id: ConnId, offset: u64) {
        let name = self.replica_name_of(id);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let cid = c.client_id;
        if let Some(r) = c.replica_mut() {
            r.waiting_psync = true;
            r.next = Some(offset + 1);
        }
        let line = format!("$ENDOFF:{offset} {} 0 {cid}\r\n", self.replid);
        self.write_raw(id, line.as_bytes());
        self.log(
            now,
            Level::Notice,
            format!("Dual channel replication: Sending to replica {name} RDB end offset {offset} and client-id {cid}"),
        );
    }

    /// `rdbPopulateSaveInfo`: the replication info an RDB of this node carries.
    pub(crate) fn repl_info(&self) -> Option<ReplInfo> {
        if self.is_master() {
            let b = self.backlog.as_ref()?;
            let db = if self.slaveseldb < 0 {
                0
            } else {
                self.slaveseldb as u32
            };
            return Some(ReplInfo {
                stream_db: db,
                replid: self.replid.clone(),
                offset: b.master_repl_offset(),
            });
        }
        if let Some(m) = self.master() {
            return Some(ReplInfo {
                stream_db: m.db as u32,
                replid: m.replid.clone(),
                offset: self.master_repl_offset(),
            });
        }
        self.cached_master.as_ref().map(|m| ReplInfo {
            stream_db: m.db as u32,
            replid: m.replid.clone(),
            offset: self.master_repl_offset(),
        })
    }

    /// Total bytes a diskless child pushes through the pipe after the header: RDB and mark.
    fn pipe_total(child: &Child) -> u64 {
        child.payload.len() + child.eof_mark.len() as u64
    }

    /// Bytes the child has written into the pipe by `now` (socket target): its output, paced
    /// by the RDB save rate, arrives in whole flushes of its write buffer, the last one short.
    fn pipe_produced(&self, child: &Child, now: SimTime) -> u64 {
        if now < child.forked_at {
            return 0;
        }
        let total = Self::pipe_total(child);
        let elapsed = u128::from(now.since(child.forked_at).as_nanos());
        let made = elapsed * u128::from(self.cfg.cost.rdb_save_bytes_per_sec) / 1_000_000_000;
        if made >= u128::from(total) {
            return total;
        }
        let made = made as u64;
        made - made % PIPE_CHUNK_BYTES
    }

    pub(crate) fn child_deadline(&self) -> Option<SimTime> {
        let child = self.child.as_ref()?;
        if let Some((at, _)) = child.exited {
            return Some(self.server_cron_tick_after(at));
        }
        if !child.socket_target {
            return Some(child.done_at);
        }
        let total = Self::pipe_total(child);
        if child.pipe_read >= total {
            return None;
        }
        // Wake when the next chunk has been produced, if every replica has taken the current one.
        let all_caught_up = child.replicas.iter().all(|id| {
            self.conns
                .get(id)
                .and_then(|c| c.replica())
                .and_then(|r| r.sync.rdb())
                .is_none_or(|s| s.sent >= s.header.len() as u64 + child.pipe_read)
        });
        if !all_caught_up {
            return None;
        }
        let want = (child.pipe_read + PIPE_CHUNK_BYTES).min(total);
        let ns = nanos_at_rate(want, self.cfg.cost.rdb_save_bytes_per_sec, true);
        Some(child.forked_at + SimDuration::from_nanos(ns))
    }

    /// The child's progress: a disk BGSAVE's child exits once the RDB is saved, and an exited
    /// child is reaped on the `serverCron` tick after it exited (`checkChildrenDone`).
    pub(crate) fn check_child(&mut self, now: SimTime) {
        let Some(child) = &self.child else { return };
        match child.exited {
            Some((at, _)) if self.server_cron_tick_after(at) <= now => self.reap_child(now),
            Some(_) => {}
            None if !child.socket_target && child.done_at <= now => {
                let (pid, done_at) = (child.pid, child.done_at);
                self.log_child(done_at, pid, "DB saved on disk".into());
                self.child_exits(done_at, ChildExit::Saved);
            }
            None => {}
        }
    }

    /// The child process ends: every socket it held closes with it (see [`Node::push_close`]).
    /// The parent learns of it when it reaps the child ([`Node::check_child`]).
    pub(crate) fn child_exits(&mut self, now: SimTime, how: ChildExit) {
        let Some(child) = self.child.as_mut().filter(|c| c.exited.is_none()) else {
            return;
        };
        child.exited = Some((now, how));
        let held = std::mem::take(&mut child.held_closes);
        self.release_held_closes(held);
    }

    /// Closes for good connections a child held open after the parent closed them.
    pub(crate) fn release_held_closes(&mut self, held: Vec<ConnId>) {
        for conn in held {
            self.actions.push_back(super::node::Action::Close { conn });
        }
    }

    /// The first `serverCron` tick strictly after `t`. serverCron runs every
    /// [`SERVER_CRON_PERIOD`], on the grid of `replicationCron`'s once-a-second ticks (one in
    /// ten of its runs); `checkChildrenDone` runs early in it.
    pub(crate) fn server_cron_tick_after(&self, t: SimTime) -> SimTime {
        let period = SERVER_CRON_PERIOD.as_nanos();
        let phase = self.next_cron.as_nanos() % period;
        let t = t.as_nanos();
        let ticks = if t < phase {
            0
        } else {
            (t - phase) / period + 1
        };
        SimTime::from_nanos(phase + ticks * period)
    }

    /// `checkChildrenDone` finds the exited child: `backgroundSaveDoneHandler`, then
    /// `replicationStartPendingFork` for the replicas that could not join it.
    fn reap_child(&mut self, now: SimTime) {
        let Some(child) = self.child.take() else {
            return;
        };
        let Some((_, how)) = child.exited else {
            unreachable!("only an exited child is reaped");
        };
        match (how, child.socket_target) {
            (ChildExit::Saved, false) => self.disk_rdb_ready(now, &child),
            (ChildExit::Killed, socket_target) => {
                // A disk child is killed only when no replica waits for its end, and none can
                // join it after (a replica joins a disk BGSAVE only beside one that waits).
                let what = if socket_target {
                    "Background transfer"
                } else {
                    "Background saving"
                };
                self.log(
                    now,
                    Level::Warning,
                    format!("{what} terminated by signal 10"),
                );
                self.maybe_start_child(now);
            }
            (ChildExit::Saved, true) => {
                unreachable!("a diskless child that completes is reaped as it ends")
            }
        }
    }

    /// A disk BGSAVE is over (`updateSlavesWaitingBgsave`): the replicas that waited for it
    /// get the RDB, and those that could not join it get the next one.
    fn disk_rdb_ready(&mut self, now: SimTime, child: &Child) {
        self.log(
            now,
            Level::Notice,
            "Background saving terminated with success".into(),
        );
        let len = child.payload.len();
        let mut any_waiting_start = false;
        for id in self.replica_ids() {
            let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) else {
                continue;
            };
            match r.sync {
                ReplicaSync::WaitBgsaveEnd { .. } => {
                    let header = format!("${len}\r\n").into_bytes();
                    r.sync = ReplicaSync::SendBulk(RdbSend {
                        header,
                        sent: 0,
                        payload: Rc::clone(&child.payload),
                        mark: Vec::new(),
                    });
                    self.dirty.insert(id);
                }
                ReplicaSync::WaitBgsaveStart => any_waiting_start = true,
                _ => {}
            }
        }
        if any_waiting_start {
            // Replicas that could not join this BGSAVE get the next one.
            self.maybe_start_child(now);
        }
    }

    /// Reads the diskless pipe (`rdbPipeReadHandler`): one chunk at a time, and the next only once
    /// every replica has written the previous one, so the slowest replica paces all of them.
    /// Returns whether a chunk was read.
    pub(crate) fn pump_child_pipe(&mut self, now: SimTime) -> bool {
        let Some(child) = &self.child else {
            return false;
        };
        if !child.socket_target || child.exited.is_some() {
            return false;
        }
        let produced = self.pipe_produced(child, now);
        let conns = &self.conns;
        let child = self.child.as_mut().expect("checked above");
        child.replicas.retain(|id| conns.contains_key(id));
        let total = child.payload.len() + child.eof_mark.len() as u64;
        if child.replicas.is_empty() && child.pipe_read < produced.min(total) {
            // rdbPipeReadHandler: a chunk for nobody. Until the child wrote it, the parent had
            // no reason to look, and the child held the dropped replicas' sockets open.
            self.log(
                now,
                Level::Warning,
                "Diskless rdb transfer, last replica dropped, killing fork child.".into(),
            );
            self.child_exits(now, ChildExit::Killed);
            return false;
        }
        let taken = |id: &ConnId, upto: u64| {
            conns[id]
                .replica()
                .and_then(|r| r.sync.rdb())
                .is_none_or(|s| s.sent >= s.header.len() as u64 + upto)
        };
        let all_taken = child.replicas.iter().all(|id| taken(id, child.pipe_read));
        let mut read = false;
        if all_taken && child.pipe_read < produced.min(total) {
            child.pipe_read = (child.pipe_read + PIPE_CHUNK_BYTES)
                .min(produced)
                .min(total);
            for id in &child.replicas {
                self.dirty.insert(*id);
            }
            read = true;
        }
        if !read && all_taken && child.pipe_read >= total && !child.pipe_done_logged {
            child.pipe_done_logged = true;
            let up = child.replicas.len();
            // A dual-channel child writes to the RDB channels itself: no pipe to drain.
            let direct = child
                .replicas
                .iter()
                .any(|id| conns[id].replica().is_some_and(|r| r.rdb_channel));
            if !direct {
                self.log(
                    now,
                    self.cfg.redis_version.lowered_in_7_2(),
                    format!(
                        "Diskless rdb transfer, done reading from pipe, {up} replicas still up."
                    ),
                );
            }
            self.finish_socket_child(now);
        }
        read
    }

    /// The diskless child exited after the whole RDB went out.
    fn finish_socket_child(&mut self, now: SimTime) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The child exits once the parent has read it all, and is reaped at once here: its
        // replicas' ACKs, which would reap it before the next serverCron tick, are what the
        // parent waits for anyway (`stream_on_ack`).
        let held = std::mem::take(&mut child.held_closes);
        self.release_held_closes(held);
        self.log(
            now,
            Level::Notice,
            "Background RDB transfer terminated with success".into(),
        );
        for id in child.replicas {
            let name = self.replica_name_of(id);
            let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) else {
                continue;
            };
            if r.rdb_channel {
                // `replicaPutOnline` refuses a replica that wanted the RDB only.
                self.log(now, Level::Notice, format!("Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming"));
                self.log(
                    now,
                    Level::Notice,
                    format!(
                        "RDB transfer completed, rdb only replica ({name}) should be disconnected asap"
                    ),
                );
                self.close_conn(now, id);
                continue;
            }
            r.sync = ReplicaSync::Online {
                stream_on_ack: true,
            };
            r.ack_time = now;
            self.log(now, Level::Notice, format!("Streamed RDB transfer with replica {name} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming"));
            self.log(
                now,
                Level::Notice,
                format!("Synchronization with replica {name} succeeded"),
            );
        }
        self.refresh_good_replicas(now);
        self.maybe_start_child(now);
    }

    /// Writes a replica's pending RDB and stream bytes. Returns whether it is fully flushed.
    pub(crate) fn flush_replica(
        &mut self,
        now: SimTime,
        id: ConnId,
        tx: &mut impl Transmit,
    ) -> bool {
        // One lookup on the common path (an online replica streaming): this runs for every
        // replica after every write.
        let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) else {
            return true;
        };
        if r.sync.rdb().is_some() {
            return self.flush_replica_rdb(now, id, tx);
        }
        if !r.streaming() {
            return true;
        }
        let Some(mut next) = r.next else { return true };
        let Some(backlog) = self.backlog.as_ref() else {
            return true;
        };
        let mut wrote = 0u64;
        let mut blocked = false;
        let scratch = &mut self.send_scratch;
        loop {
            let slice = backlog.slice_from(next, scratch);
            if slice.is_empty() {
                break;
            }
            let n = tx.send(id, slice);
            next += n as u64;
            wrote += n as u64;
            if n < slice.len() {
                blocked = true;
                break;
            }
        }
        r.next = Some(next);
        self.stats.total_net_repl_output_bytes += wrote;
        !blocked
    }

    /// [`flush_replica`](Self::flush_replica) for a replica still receiving its RDB; once a
    /// disk-based transfer completes, the replica goes online and its stream follows.
    fn flush_replica_rdb(&mut self, now: SimTime, id: ConnId, tx: &mut impl Transmit) -> bool {
        let pipe_read = self
            .child
            .as_ref()
            .filter(|c| c.socket_target)
            .map(|c| c.pipe_read);
        let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) else {
            return true;
        };
        let (wrote, blocked, finished, diskless) = match &mut r.sync {
            ReplicaSync::WaitBgsaveEnd {
                diskless: Some(d), ..
            } => {
                // Diskless: only what the pipe has delivered so far.
                let (wrote, blocked) = write_rdb(&mut d.send, Some(pipe_read.unwrap_or(0)), id, tx);
                if blocked {
                    d.last_partial_write = Some(now);
                }
                (wrote, blocked, d.send.sent >= d.send.total(), true)
            }
            ReplicaSync::SendBulk(send) => {
                let (wrote, blocked) = write_rdb(send, None, id, tx);
                (wrote, blocked, send.sent >= send.total(), false)
            }
            _ => return true,
        };
        self.stats.total_net_repl_output_bytes += wrote;
        if blocked {
            return false;
        }
        if diskless || !finished {
            // Diskless: more comes as the pipe is read, and completion is the child's.
            return true;
        }
        self.replica_put_online(now, id);
        self.flush_replica(now, id, tx)
    }

    fn replica_put_online(&mut self, now: SimTime, id: ConnId) {
        let name = self.replica_name_of(id);
        if let Some(r) = self.conns.get_mut(&id).and_then(|c| c.replica_mut()) {
            r.sync = ReplicaSync::Online {
                stream_on_ack: false,
            };
            r.ack_time = now;
        }
        self.log(
            now,
            Level::Notice,
            format!("Synchronization with replica {name} succeeded"),
        );
        self.refresh_good_replicas(now);
    }

    /// Bookkeeping after a replica connection is gone.
    pub(crate) fn on_replica_freed(&mut self, now: SimTime, id: ConnId) {
        if !self.has_replicas() {
            self.no_replicas_since = now;
        }
        self.refresh_good_replicas(now);
        if let Some(child) = self.child.as_mut().filter(|c| c.exited.is_none()) {
            if child.socket_target {
                // The pipe's reader notices the last one gone at its next read
                // (`pump_child_pipe`).
                child.replicas.retain(|r| *r != id);
            } else {
                let anyone_waits = self.conns.values().any(|c| {
                    c.replica()
                        .is_some_and(|r| r.state() == ReplicaState::WaitBgsaveEnd)
                });
                if !anyone_waits && self.cfg.save.is_empty() {
                    // freeClient: nobody needs this disk BGSAVE and no save point wants it.
                    self.child_exits(now, ChildExit::Killed);
                }
            }
        }
        self.trim_backlog();
    }

    /// Free every sub-replica (`disconnectSlaves`).
    pub(crate) fn disconnect_replicas(&mut self, now: SimTime) {
        for id in self.replica_ids() {
            self.free_conn(now, id, DropReason::RoleChange, false);
            self.push_close(id);
        }
    }

    /// `shouldStartChildReplication` + start: called every cron tick and after a child exits.
    pub(crate) fn maybe_start_child(&mut self, now: SimTime) {
        if self.child.is_some() {
            return;
        }
        let waiting: Vec<(SimTime, bool)> = self
            .conns
            .values()
            // `ack_time` was set when the replica sent its PSYNC, its last interaction since.
            .filter_map(|c| {
                c.replica()
                    .filter(|r| r.state() == ReplicaState::WaitBgsaveStart)
                    .map(|r| (r.ack_time, r.capa_eof))
            })
            .collect();
        if waiting.is_empty() {
            return;
        }
        let max_idle = waiting
            .iter()
            .map(|(t, _)| unix_secs(now).saturating_sub(unix_secs(*t)))
            .max()
            .unwrap_or(0);
        let mincapa_eof = waiting.iter().all(|(_, eof)| *eof);
        let enough = self.cfg.repl_diskless_sync_max_replicas > 0
            && waiting.len() as u64 >= self.cfg.repl_diskless_sync_max_replicas;
        if !self.cfg.repl_diskless_sync
            || enough
            || max_idle >= self.cfg.repl_diskless_sync_delay_secs
        {
            self.start_bgsave_for_replication(now, mincapa_eof);
        }
    }

    /// The master half of `replicationCron`.
    pub(crate) fn master_cron(&mut self, now: SimTime) {
        let period = self.cfg.repl_ping_replica_period_secs.max(1);
        if self.is_master() && self.cron_loops % period == 0 && self.has_replicas() {
            self.propagate_op(now, -1, &[b"ping".to_vec()]);
        }
        // Newlines keep pre-sync replicas' links alive; they are not part of the stream.
        let disk_child = self.child.as_ref().is_some_and(|c| !c.socket_target);
        for id in self.replica_ids() {
            let state = self.conns[&id].replica().map(ReplicaLink::state);
            if state == Some(ReplicaState::WaitBgsaveStart)
                || (state == Some(ReplicaState::WaitBgsaveEnd) && disk_child)
            {
                self.write_raw(id, b"\n");
            }
        }
        let timeout = self.cfg.repl_timeout_secs;
        let socket_child = self.child.as_ref().is_some_and(|c| c.socket_target);
        for id in self.replica_ids() {
            let c = &self.conns[&id];
            let Some(r) = c.replica() else { continue };
            let name = self.replica_name(c);
            let last_partial_write = match &r.sync {
                ReplicaSync::WaitBgsaveEnd {
                    diskless: Some(d), ..
                } => d.last_partial_write,
                _ => None,
            };
            if r.state() == ReplicaState::Online
                && !r.pre_psync
                && Self::secs_since(now, r.ack_time) > timeout
            {
                self.log(
                    now,
                    Level::Warning,
                    format!("Disconnecting timedout replica (streaming sync): {name}"),
                );
                self.free_conn(now, id, DropReason::Timeout, false);
                self.push_close(id);
            } else if socket_child
                && last_partial_write.is_some_and(|t| Self::secs_since(now, t) > timeout)
            {
                self.log(
                    now,
                    Level::Warning,
                    format!("Disconnecting timedout replica (full sync): {name}"),
                );
                self.free_conn(now, id, DropReason::Timeout, false);
                self.push_close(id);
            }
        }
        let ttl = self.cfg.repl_backlog_ttl_secs;
        if self.is_master()
            && ttl > 0
            && self.backlog.is_some()
            && !self.has_replicas()
            && Self::secs_since(now, self.no_replicas_since) > ttl
        {
            self.replid = self.rng.hex40();
            self.clear_replid2();
            self.free_backlog();
            self.log(
                now,
                Level::Notice,
                format!(
                    "Replication backlog freed after {ttl} seconds without connected replicas."
                ),
            );
        }
        self.maybe_start_child(now);
        // clientsCron: the soft output-buffer limit is also checked once a second.
        for id in self.replica_ids() {
            self.check_output_buffer(now, id, false);
        }
    }

    /// `refreshGoodSlavesCount`.
    pub(crate) fn refresh_good_replicas(&mut self, now: SimTime) {
        let lag = self.cfg.min_replicas_max_lag_secs;
        self.good_replicas = self
            .conns
            .values()
            .filter_map(|c| c.replica())
            .filter(|r| {
                r.state() == ReplicaState::Online && Self::secs_since(now, r.ack_time) <= lag
            })
            .count() as u64;
    }

    /// ONLINE replicas that acknowledged `offset` (`replicationCountAcksByOffset`).
    fn replicas_acked(&self, offset: u64) -> u64 {
        self.conns
            .values()
            .filter_map(|c| c.replica())
            .filter(|r| r.state() == ReplicaState::Online && r.ack_off >= offset)
            .count() as u64
    }

    /// The offsets ONLINE replicas acknowledged, highest first.
    fn online_acks_desc(&self) -> Vec<u64> {
        let mut acks: Vec<u64> = self
            .conns
            .values()
            .filter_map(|c| c.replica())
            .filter(|r| r.state() == ReplicaState::Online)
            .map(|r| r.ack_off)
            .collect();
        acks.sort_unstable_by(|a, b| b.cmp(a));
        acks
    }

    /// `WAIT numreplicas timeout`.
    pub(crate) fn wait_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        if !self.is_master() {
            return Reply::err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        }
        let Some(num) = string2ll(args[1]) else {
            return Reply::err("ERR value is not an integer or out of range");
        };
        let Some(timeout) = string2ll(args[2]) else {
            return Reply::err("ERR timeout is not an integer or out of range");
        };
        if timeout < 0 {
            return Reply::err("ERR timeout is negative");
        }
        let (waiter, offset) = match ctx.caller {
            Caller::Local(c) => (Waiter::Local(c), self.clients.get(&c).map_or(0, |c| c.woff)),
            Caller::Conn(id) => (Waiter::Conn(id), self.conns.get(&id).map_or(0, |c| c.woff)),
            // The master's stream never carries WAIT to a replica (and a replica refuses it).
            Caller::Master => return Reply::Integer(0),
        };
        let acked = self.replicas_acked(offset);
        // waitCommand: a client inside a transaction gets the count without blocking.
        if acked as i64 >= num || ctx.in_exec {
            return Reply::Integer(acked as i64);
        }
        let deadline = (timeout > 0).then(|| now + SimDuration::from_millis(timeout as u64));
        self.clients
            .block(waiter, num.max(0) as u64, offset, deadline);
        ctx.blocked = true;
        self.getack_pending = true;
        Reply::Null
    }

    /// Answers a WAIT: an in-process client by an event, a connection on itself, whose input
    /// waiting behind the WAIT is then read ([`Node::after_input`]).
    fn answer_wait(&mut self, waiter: Waiter, reply: Reply) {
        match waiter {
            Waiter::Local(client) => self.event(Event::Reply { client, reply }),
            Waiter::Conn(id) => {
                self.reply_to(id, &reply);
                self.unblocked_conns.push(id);
            }
        }
    }

    /// The earliest timeout of a blocked WAIT.
    pub(crate) fn wait_deadline(&self) -> Option<SimTime> {
        self.clients.next_deadline()
    }

    /// Replies to WAITs that are satisfied (`processClientsWaitingReplicas`, from
    /// `blockedBeforeSleep`). Redis walks every blocked client, newest first, and remembers
    /// the last one it satisfied: a client asking for no more replicas at no later offset is
    /// answered with that count without counting again. The index hands over only the WAITs
    /// that are satisfied, newest first; the walk over them gives the same replies, since a
    /// WAIT that is not satisfied never takes Redis's shortcut nor changes what it remembers.
    pub(crate) fn unblock_waits(&mut self, _now: SimTime) {
        if !self.clients.any_blocked() {
            return;
        }
        let acks = self.online_acks_desc();
        let (mut last_offset, mut last_numreplicas) = (0, 0);
        for (id, wait) in self.clients.satisfied(&acks) {
            let n = if last_offset != 0
                && last_offset >= wait.offset
                && last_numreplicas >= wait.numreplicas
            {
                last_numreplicas
            } else {
                let n = acks.iter().take_while(|&&a| a >= wait.offset).count() as u64;
                last_offset = wait.offset;
                last_numreplicas = n;
                n
            };
            self.clients.unblock(id);
            self.answer_wait(id, Reply::Integer(n as i64));
        }
    }

    /// Replies to WAITs whose timeout passed, with the count at that moment
    /// (`replyToBlockedClientTimedOut`), in (deadline, client) order as Redis's timeout table
    /// is walked.
    pub(crate) fn expire_waits(&mut self, now: SimTime) {
        while let Some((id, wait)) = self.clients.pop_due(now) {
            let n = self.replicas_acked(wait.offset);
            self.answer_wait(id, Reply::Integer(n as i64));
        }
    }

    /// `disconnectAllBlockedClients`, when this node becomes a replica: every client blocked
    /// in WAIT is answered with an error and closed after the reply
    /// (`CLIENT_CLOSE_AFTER_REPLY`), so its state goes with it at the end of this input.
    pub(crate) fn disconnect_blocked_clients(&mut self) {
        let reply = Reply::err(
            "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)",
        );
        for id in self.clients.blocked() {
            match id {
                Waiter::Local(client) => {
                    self.clients.unblock_and_close(client);
                    self.event(Event::Reply {
                        client,
                        reply: reply.clone(),
                    });
                }
                Waiter::Conn(conn) => {
                    self.clients.unblock(id);
                    self.reply_to(conn, &reply);
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.close_after_reply = true;
                    }
                }
            }
        }
    }

    /// Active expiry, once a second: every expired key is deleted and propagated as its own
    /// `DEL` (no MULTI wrapping, like `activeExpireCycle`). Replicas wait for their master's DELs.
    pub(crate) fn active_expire(&mut self, now: SimTime) {
        if !self.is_master() {
            return;
        }
        let now_ms = super::log::unix_ms(now);
        for db in self.keyspace.indices() {
            let keys = self.keyspace.db(db).expired_keys(now_ms);
            for key in keys {
                self.keyspace.db_mut(db).remove(&key);
                self.stats.expired_keys += 1;
                let del: &[u8] = if self.cfg.lazyfree_lazy_expire {
                    b"UNLINK"
                } else {
                    b"DEL"
                };
                self.propagate_unit(
                    now,
                    &[(db as i64, Prop::Rewritten(vec![del.to_vec(), key]))],
                    &[],
                );
            }
        }
    }
}

/// Writes as much of an RDB transfer as the socket takes, up to `limit` bytes of payload and
/// mark (what the diskless pipe has delivered so far). Returns bytes written and whether the
/// socket refused some.
fn write_rdb(
    send: &mut RdbSend,
    limit: Option<u64>,
    id: ConnId,
    tx: &mut impl Transmit,
) -> (u64, bool) {
    let header_len = send.header.len() as u64;
    let payload_len = send.payload.len();
    let body_len = payload_len + send.mark.len() as u64;
    let allowed_total = header_len + limit.map_or(body_len, |l| l.min(body_len));
    let mut wrote = 0u64;
    while send.sent < allowed_total {
        let n = if send.sent < header_len {
            tx.send(id, &send.header[send.sent as usize..]) as u64
        } else if send.sent < header_len + payload_len {
            let pos = send.sent - header_len;
            let want = (allowed_total - header_len).min(payload_len) - pos;
            let (part, within) = send
                .payload
                .locate(pos)
                .expect("position inside the payload");
            match &send.payload.parts[part] {
                Part::Bytes(b) => {
                    let end = (b.len() as u64).min(within + want);
                    tx.send(id, &b[within as usize..end as usize]) as u64
                }
                Part::Opaque(len) => tx.send_opaque(id, (len - within).min(want)),
            }
        } else {
            let from = (send.sent - header_len - payload_len) as usize;
            let to = (allowed_total - header_len - payload_len) as usize;
            tx.send(id, &send.mark[from..to]) as u64
        };
        send.sent += n;
        wrote += n;
        if n == 0 {
            return (wrote, true);
        }
    }
    (wrote, false)
}
