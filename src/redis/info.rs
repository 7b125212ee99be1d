//! INFO and ROLE, with Redis's field names and order (server.c `genRedisInfoString`,
//! replication.c `roleCommand`).

use std::fmt::Write as _;

use super::config::RedisVersion;
use super::log::unix_secs;
use super::node::Node;
use super::resp::Reply;
use super::state::{Link, RdbReceive, RdbSize, ReplState, ReplicaState};
use crate::time::SimTime;

impl Node {
    /// The INFO text for the requested sections (all of ours when empty, `all` or `default`).
    pub fn info(&self, now: SimTime, sections: &[String]) -> String {
        let all = sections.is_empty()
            || sections
                .iter()
                .any(|s| s == "all" || s == "default" || s == "everything");
        let want = |s: &str| all || sections.iter().any(|x| x == s);
        let mut out = String::new();
        if want("server") {
            out.push_str("# Server\r\n");
            let _ = write!(
                out,
                "redis_version:{}\r\n",
                self.cfg.redis_version.server_version()
            );
            if let Some(v) = self.cfg.redis_version.valkey_version() {
                // Valkey names itself right after the Redis-compatible version.
                let _ = write!(out, "server_name:valkey\r\nvalkey_version:{v}\r\n");
            }
            let _ = write!(
                out,
                "process_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
                self.pid,
                self.run_id,
                self.port,
                unix_secs(now) - unix_secs(self.boot)
            );
            out.push_str("\r\n");
        }
        if want("persistence") {
            out.push_str("# Persistence\r\n");
            let (loading, async_loading) = match &self.loading {
                Some(l) if l.async_loading => (0, 1),
                Some(_) => (1, 0),
                None => (0, 0),
            };
            let _ = write!(
                out,
                "loading:{loading}\r\nasync_loading:{async_loading}\r\nrdb_bgsave_in_progress:{}\r\nrdb_saves:{}\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n\r\n",
                u8::from(self.child.is_some()),
                self.stats.rdb_saves,
                self.stats.rdb_last_load_keys_expired,
                self.stats.rdb_last_load_keys_loaded
            );
        }
        if want("stats") {
            let s = &self.stats;
            out.push_str("# Stats\r\n");
            let _ = write!(
                out,
                "total_commands_processed:{}\r\nexpired_keys:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\ntotal_net_repl_input_bytes:{}\r\ntotal_net_repl_output_bytes:{}\r\n\r\n",
                s.total_commands_processed, s.expired_keys, s.sync_full, s.sync_partial_ok, s.sync_partial_err, s.total_net_repl_input_bytes, s.total_net_repl_output_bytes
            );
        }
        if want("replication") {
            out.push_str("# Replication\r\n");
            for (k, v) in self.info_replication(now) {
                let _ = write!(out, "{k}:{v}\r\n");
            }
            out.push_str("\r\n");
        }
        if want("keyspace") {
            out.push_str("# Keyspace\r\n");
            for (i, db) in self.keyspace.iter() {
                if !db.is_empty() {
                    let _ = write!(
                        out,
                        "db{i}:keys={},expires={},avg_ttl=0\r\n",
                        db.len(),
                        db.expires_count()
                    );
                }
            }
        }
        out
    }

    /// INFO replication as ordered `(field, value)` pairs.
    pub fn info_replication(&self, now: SimTime) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, val: String| v.push((k.to_string(), val));
        put(
            "role",
            if self.is_master() { "master" } else { "slave" }.into(),
        );
        if let Some(f) = &self.following {
            put("master_host", f.host.clone());
            put("master_port", f.port.to_string());
            let state = f.link.state();
            put(
                "master_link_status",
                if self.master_link_up() { "up" } else { "down" }.into(),
            );
            let last_io = self
                .master()
                .map_or(-1, |m| Self::secs_since(now, m.last_interaction) as i64);
            put("master_last_io_seconds_ago", last_io.to_string());
            put(
                "master_sync_in_progress",
                u8::from(state == ReplState::Transfer).to_string(),
            );
            // The read offset runs ahead of the applied one by what waits in the link's buffer.
            let unread = self
                .master()
                .and_then(|m| self.conns.get(&m.conn))
                .map_or(0, |c| c.decoder.pending() as u64);
            let read = self.slave_repl_offset().map_or(1, |o| o + unread);
            put("slave_read_repl_offset", read.to_string());
            put(
                "slave_repl_offset",
                self.slave_repl_offset().unwrap_or(1).to_string(),
            );
            if self.cfg.redis_version.is_valkey() {
                put(
                    "replicas_repl_buffer_size",
                    self.pending_repl.len.to_string(),
                );
                put(
                    "replicas_repl_buffer_peak",
                    self.pending_repl.peak.to_string(),
                );
            }
            if self.cfg.redis_version == RedisVersion::V8_0 {
                put(
                    "replica_full_sync_buffer_size",
                    self.pending_repl.len.to_string(),
                );
                put(
                    "replica_full_sync_buffer_peak",
                    self.pending_repl.peak.to_string(),
                );
            }
            if let Link::Transfer(t) = &f.link {
                let (total, read) = match &t.rdb {
                    RdbReceive::Body(b) => (
                        match b.size {
                            RdbSize::Len(n) => n,
                            RdbSize::EofMark(_) => 0,
                        },
                        b.read,
                    ),
                    _ => (0, 0),
                };
                put("master_sync_total_bytes", total.to_string());
                put("master_sync_read_bytes", read.to_string());
                put(
                    "master_sync_left_bytes",
                    total.saturating_sub(read).to_string(),
                );
                let perc = if total > 0 {
                    read as f64 * 100.0 / total as f64
                } else {
                    0.0
                };
                put("master_sync_perc", format!("{perc:.2}"));
                put(
                    "master_sync_last_io_seconds_ago",
                    Self::secs_since(now, t.lastio).to_string(),
                );
            }
            if !self.master_link_up() {
                let down = f.down_since.map_or(-1, |t| Self::secs_since(now, t) as i64);
                put("master_link_down_since_seconds", down.to_string());
            }
            put("slave_priority", self.cfg.replica_priority.to_string());
            put(
                "slave_read_only",
                u8::from(self.cfg.replica_read_only).to_string(),
            );
            put("replica_announced", "1".into());
        }
        // Redis 8.0 counts a replica's two channels as one (`replicationLogicalReplicaCount`)
        // and lists the main channel only.
        let redis_8_0 = self.cfg.redis_version == RedisVersion::V8_0;
        let replicas: Vec<_> = self
            .conns
            .values()
            .filter(|c| c.replica().is_some_and(|r| !(redis_8_0 && r.rdb_channel)))
            .collect();
        put("connected_slaves", replicas.len().to_string());
        if self.cfg.min_replicas_to_write > 0 && self.cfg.min_replicas_max_lag_secs > 0 {
            put("min_slaves_good_slaves", self.good_replicas.to_string());
        }
        for (i, c) in replicas.iter().enumerate() {
            let r = c.replica().expect("filtered");
            let ip = r.announced_ip.clone().unwrap_or_else(|| c.peer_ip.clone());
            let lag = if r.state() == ReplicaState::Online {
                Self::secs_since(now, r.ack_time)
            } else {
                0
            };
            put(
                &format!("slave{i}"),
                format!(
                    "ip={ip},port={},state={},offset={},lag={lag}{}",
                    r.listening_port,
                    match r.state() {
                        ReplicaState::BgRdbLoad if redis_8_0 => "send_bulk_and_stream",
                        state => state.info_name(),
                    },
                    r.ack_off,
                    if self.cfg.redis_version.is_valkey() {
                        format!(",type={}", r.channel_type())
                    } else {
                        String::new()
                    }
                ),
            );
        }
        if self.cfg.redis_version.is_valkey() {
            let waiting = replicas
                .iter()
                .filter(|c| c.replica().is_some_and(|r| r.waiting_psync))
                .count();
            put("replicas_waiting_psync", waiting.to_string());
        }
        put("master_failover_state", "no-failover".into());
        put("master_replid", self.replid.clone());
        put("master_replid2", self.replid2.clone());
        put("master_repl_offset", self.master_repl_offset().to_string());
        put("second_repl_offset", self.second_replid_offset.to_string());
        let b = self.backlog.as_ref();
        put("repl_backlog_active", u8::from(b.is_some()).to_string());
        put("repl_backlog_size", self.cfg.repl_backlog_size.to_string());
        put(
            "repl_backlog_first_byte_offset",
            b.map_or(0, |b| b.backlog_offset()).to_string(),
        );
        put(
            "repl_backlog_histlen",
            b.map_or(0, |b| b.histlen()).to_string(),
        );
        v
    }

    /// `ROLE`.
    pub fn role_reply(&self) -> Reply {
        match &self.following {
            None => {
                let replicas = self
                    .conns
                    .values()
                    .filter_map(|c| {
                        let r = c.replica().filter(|r| r.state() == ReplicaState::Online)?;
                        let ip = r.announced_ip.clone().unwrap_or_else(|| c.peer_ip.clone());
                        Some(Reply::Array(vec![
                            Reply::bulk(ip),
                            Reply::bulk(r.listening_port.to_string()),
                            Reply::bulk(r.ack_off.to_string()),
                        ]))
                    })
                    .collect();
                Reply::Array(vec![
                    Reply::bulk("master"),
                    Reply::Integer(self.master_repl_offset() as i64),
                    Reply::Array(replicas),
                ])
            }
            Some(f) => Reply::Array(vec![
                Reply::bulk("slave"),
                Reply::bulk(&f.host),
                Reply::Integer(i64::from(f.port)),
                Reply::bulk(f.link.state().role_name()),
                Reply::Integer(
                    self.master()
                        .map_or(-1, |_| self.master_repl_offset() as i64),
                ),
            ]),
        }
    }
}
