//! A warm start: a replica that begins already in sync with its master, in the state a completed
//! full sync followed by streaming leaves on both sides, with no transfer.
//!
//! Redis has no such command; this is how a simulation starts in steady state instead of
//! spending its first seconds on the initial sync. What each side holds afterwards is what
//! `syncCommand`, `replicationSetupSlaveForFullResync`, `replicaPutOnline` (master) and
//! `readSyncBulkPayload` (replica) leave behind, so every later step (PINGs, ACKs, the stream,
//! PSYNC after a drop, WAIT, min-replicas) runs exactly as after a real sync:
//!
//! - The master creates its backlog if it has none, and with it a new replication ID (as
//!   `syncCommand` does for the first replica), and forgets the stream's selected database
//!   (`slaveseldb = -1`), so its next write starts with a SELECT.
//! - The replica loads the RDB its master would have sent (the master's dataset and replication
//!   info, encoded and decoded as a transfer would), takes the master's replication ID and
//!   offset, clears its second ID and creates its backlog at that offset.
//! - The master's replica is ONLINE and streaming; the replica's master link is CONNECTED.
//!
//! Counters stay as they were: no sync ran, so `sync_full`, `rdb_saves` and the transfer byte
//! counts are not moved. The connection between the two is the caller's: the master accepts it
//! as any other ([`Node::handle_accept`]) and the replica is given its own id for it.

use super::log::{unix_ms, Level};
use super::node::{ConnId, Node, Role};
use super::rdb::{self, Payload};
use super::state::{Following, Link, MasterClient, ReplicaLink, ReplicaSync};
use crate::time::SimTime;

/// What the master hands its warm replica: the RDB a full sync would send (its dataset, and the
/// replication ID, offset and stream database in its AUX fields), and the ID and offset the
/// replica continues from, as `+FULLRESYNC <replid> <offset>` would name them.
#[derive(Debug)]
pub struct SyncPoint {
    pub rdb: Payload,
    pub replid: String,
    pub offset: u64,
}

/// Why two nodes cannot start in sync.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WarmStartError {
    #[error("{0} is not a master and not a connected replica: it has no history to share")]
    NoHistory(String),
    #[error("{0} does not follow a master")]
    NotAReplica(String),
    #[error("the replica cannot load its master's RDB: {0}")]
    Load(String),
}

impl Node {
    /// Master side: `conn`, an accepted connection from `replica`, becomes a replica that has
    /// just finished a full sync and is streaming. Returns what the replica starts from.
    pub fn attach_synced_replica(
        &mut self,
        now: SimTime,
        conn: ConnId,
        replica: &Node,
    ) -> Result<SyncPoint, WarmStartError> {
        if !self.is_master() && self.master().is_none() {
            return Err(WarmStartError::NoHistory(self.name.clone()));
        }
        self.create_backlog_with_new_history(now);
        // `replicationSetupSlaveForFullResync`: the stream after the RDB starts with a SELECT.
        self.slaveseldb = -1;
        let offset = self.master_repl_offset();
        // What the handshake told the master: REPLCONF listening-port, ip-address and capa.
        let port = if replica.cfg.replica_announce_port != 0 {
            replica.cfg.replica_announce_port
        } else {
            replica.port
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            panic!(
                "{}: no connection {conn:?} to attach a replica to",
                self.name
            );
        };
        c.listening_port = port;
        c.capa_eof = true;
        c.capa_psync2 = true;
        c.authenticated = true;
        c.decoder.authenticated = true;
        c.last_cmd = "replconf".into();
        if let Some(ip) = &replica.cfg.replica_announce_ip {
            c.peer_ip = ip.clone();
        }
        c.role = Role::Replica(Box::new(ReplicaLink {
            sync: ReplicaSync::Online {
                stream_on_ack: false,
            },
            listening_port: port,
            announced_ip: replica.cfg.replica_announce_ip.clone(),
            capa_eof: true,
            pre_psync: false,
            // The replica's ACK after its load named the offset it synced to.
            ack_off: offset,
            ack_time: now,
            next: None,
            soft_limit_since: None,
            rdb_channel: false,
            waiting_psync: false,
        }));
        let name = self.replica_name(&self.conns[&conn]);
        self.log(
            now,
            Level::Notice,
            format!("Synchronization with replica {name} succeeded"),
        );
        self.refresh_good_replicas(now);
        let rdb = self.persist(now).rdb;
        self.check_invariants();
        Ok(SyncPoint {
            rdb,
            replid: self.replid.clone(),
            offset,
        })
    }

    /// Replica side: this node, configured as a replica, loads `point` and is connected to its
    /// master on a connection it names by the returned id.
    pub fn follow_synced(
        &mut self,
        now: SimTime,
        point: &SyncPoint,
    ) -> Result<ConnId, WarmStartError> {
        let Some(f) = &self.following else {
            return Err(WarmStartError::NotAReplica(self.name.clone()));
        };
        assert!(
            matches!(f.link, Link::Connect),
            "{}: a warm start comes before any link",
            self.name
        );
        let (host, port) = (f.host.clone(), f.port);
        let databases = self.cfg.databases as usize;
        let loaded = rdb::decode(&point.rdb, unix_ms(now), false, databases)
            .map_err(|e| WarmStartError::Load(e.0))?;
        let db = loaded
            .repl
            .as_ref()
            .map(|r| r.stream_db as usize)
            .filter(|&db| db < databases)
            .unwrap_or(0);
        self.keyspace = loaded.keyspace;
        self.stats.rdb_last_load_keys_loaded = loaded.keys_loaded;
        self.stats.rdb_last_load_keys_expired = loaded.keys_expired;
        let conn = self.new_conn(host.clone(), port, Role::Master);
        self.following = Some(Following {
            host,
            port,
            link: Link::Connected(MasterClient {
                conn,
                replid: point.replid.clone(),
                db,
                last_interaction: now,
                pre_psync: false,
            }),
            down_since: None,
        });
        // `readSyncBulkPayload`'s end: the master's history becomes ours.
        self.replid = point.replid.clone();
        self.backlog = None;
        self.offset_without_backlog = point.offset;
        self.clear_replid2();
        self.create_backlog();
        self.log(
            now,
            Level::Notice,
            "MASTER <-> REPLICA sync: Finished with success".into(),
        );
        self.check_invariants();
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::super::pair::{secs, Pair};

    /// Node 0 a master with `keys` keys; node 1 its replica, synced the usual way (cold) or
    /// started in sync (warm).
    fn pair(keys: usize, warm: bool) -> Pair {
        let mut t = Pair::two();
        t.set_keys(0, keys, "value");
        if warm {
            t.start_in_sync(1, 0);
        } else {
            t.replicaof(1, 0);
            t.wait_for_sync(1);
        }
        t
    }

    fn assert_in_sync(t: &Pair) {
        assert_eq!(t.info(1, "master_link_status"), "up");
        assert_eq!(t.info(1, "master_replid"), t.info(0, "master_replid"));
        assert_eq!(
            t.info_u64(1, "master_repl_offset"),
            t.info_u64(0, "master_repl_offset")
        );
        assert_eq!(t.nodes[1].digest(), t.nodes[0].digest());
        assert_eq!(t.nodes[1].dbsize(), t.nodes[0].dbsize());
        for n in &t.nodes {
            n.assert_invariants();
        }
    }

    #[test]
    fn a_warm_replica_holds_what_a_full_sync_leaves() {
        let (cold, warm) = (pair(100, false), pair(100, true));
        assert_in_sync(&warm);
        assert_eq!(warm.nodes[1].dbsize(), 100);
        for (i, fields) in [
            (
                0,
                &[
                    "role",
                    "connected_slaves",
                    "repl_backlog_active",
                    "second_repl_offset",
                ][..],
            ),
            (
                1,
                &[
                    "role",
                    "master_host",
                    "master_link_status",
                    "master_sync_in_progress",
                    "slave_read_only",
                    "connected_slaves",
                    "repl_backlog_active",
                    "master_replid2",
                    "second_repl_offset",
                ][..],
            ),
        ] {
            for field in fields {
                assert_eq!(warm.info(i, field), cold.info(i, field), "node {i} {field}");
            }
        }
        // The master knows the replica as after the handshake and its ACK: address, port,
        // online, at the offset it synced to.
        let offset = warm.info_u64(0, "master_repl_offset");
        assert_eq!(
            warm.info(0, "slave0"),
            format!("ip=10.0.0.2,port=6379,state=online,offset={offset},lag=0")
        );
        assert!(cold
            .info(0, "slave0")
            .starts_with("ip=10.0.0.2,port=6379,state=online,"));
        // No transfer happened: the counters of a sync stay at zero.
        assert_eq!(warm.info_u64(0, "sync_full"), 0);
        assert_eq!(warm.info_u64(1, "total_net_repl_input_bytes"), 0);
    }

    #[test]
    fn the_first_write_after_a_warm_start_selects_its_database_as_after_a_full_sync() {
        let (mut cold, mut warm) = (pair(10, false), pair(10, true));
        let grew = |t: &mut Pair| {
            let before = t.info_u64(0, "master_repl_offset");
            t.cmd(0, &["SET", "after", "sync"]);
            t.info_u64(0, "master_repl_offset") - before
        };
        // SELECT 0 (23 bytes) and the SET (34) in both, then the SET alone.
        let first = grew(&mut warm);
        assert_eq!(first, grew(&mut cold));
        assert_eq!(first, 23 + 34);
        assert_eq!(grew(&mut warm), 34);
    }

    #[test]
    fn a_warm_replica_streams_acks_and_resyncs_partially() {
        let mut t = pair(50, true);
        t.set_keys(0, 200, "more");
        t.run_for(secs(3));
        assert_in_sync(&t);
        assert_eq!(
            t.cmd(0, &["WAIT", "1", "100"]),
            super::super::resp::Reply::Integer(1)
        );
        t.outage_with_writes(0, 1, 20, 10);
        t.wait_for_sync(1);
        t.run_for(secs(1));
        assert_in_sync(&t);
        assert_eq!(t.info_u64(0, "sync_partial_ok"), 1);
        assert_eq!(t.info_u64(0, "sync_full"), 0);
    }

    #[test]
    fn a_warm_replica_of_a_warm_replica_shares_the_history() {
        let mut t = Pair::new(3, |_| super::super::config::Config::default());
        t.set_keys(0, 30, "v");
        t.start_in_sync(1, 0);
        t.start_in_sync(2, 1);
        t.set_keys(0, 30, "w");
        t.run_for(secs(2));
        for i in [1, 2] {
            assert_eq!(t.info(i, "master_replid"), t.info(0, "master_replid"));
            assert_eq!(t.nodes[i].digest(), t.nodes[0].digest());
            assert_eq!(
                t.info_u64(i, "master_repl_offset"),
                t.info_u64(0, "master_repl_offset")
            );
        }
    }

    #[test]
    fn only_a_replica_follows_and_only_a_node_with_history_serves() {
        let mut t = Pair::new(3, |_| super::super::config::Config::default());
        t.replicaof(2, 0);
        let point = super::SyncPoint {
            rdb: t.nodes[0].persist(t.now).rdb,
            replid: "x".repeat(40),
            offset: 0,
        };
        assert!(matches!(
            t.nodes[1].follow_synced(t.now, &point),
            Err(super::WarmStartError::NotAReplica(_))
        ));
        // A replica still looking for its master has nothing to hand on.
        let conn = t.nodes[2].handle_accept(t.now, "10.0.0.2", 1);
        let (a, b) = t.nodes.split_at_mut(2);
        assert!(matches!(
            b[0].attach_synced_replica(t.now, conn, &a[1]),
            Err(super::WarmStartError::NoHistory(_))
        ));
    }
}
