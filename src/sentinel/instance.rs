//! What a Sentinel knows of each Redis instance and of the other Sentinels
//! (`sentinelRedisInstance`, `instanceLink`): flags, timestamps, the replication facts INFO
//! reported, and the votes. Times are milliseconds of Unix time (`mstime()`), as sentinel.c
//! keeps them, so its arithmetic on them carries over unchanged.

use std::collections::BTreeMap;

use crate::redis::ConnId;

/// Milliseconds of Unix time, or a span of them (`mstime_t`).
pub(crate) type Ms = i64;

/// The `SRI_*` flags.
pub(crate) mod flag {
    pub const MASTER: u32 = 1 << 0;
    pub const SLAVE: u32 = 1 << 1;
    pub const SENTINEL: u32 = 1 << 2;
    /// Subjectively down (no quorum).
    pub const S_DOWN: u32 = 1 << 3;
    /// Objectively down (confirmed by others).
    pub const O_DOWN: u32 = 1 << 4;
    /// A Sentinel with this flag set thinks that its master is down.
    pub const MASTER_DOWN: u32 = 1 << 5;
    pub const FAILOVER_IN_PROGRESS: u32 = 1 << 6;
    /// The replica selected for promotion.
    pub const PROMOTED: u32 = 1 << 7;
    /// SLAVEOF <new master> sent.
    pub const RECONF_SENT: u32 = 1 << 8;
    /// The replica is synchronising with the new master.
    pub const RECONF_INPROG: u32 = 1 << 9;
    /// The replica is synchronised with the new master.
    pub const RECONF_DONE: u32 = 1 << 10;
    /// The master was seen rebooting (`master-reboot-down-after-period`).
    pub const MASTER_REBOOT: u32 = 1 << 13;
}

/// An address: Sentinel is configured with IPs (`resolve-hostnames no`, the default).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Addr {
    pub ip: String,
    pub port: u16,
}

impl Addr {
    /// `ip:port`, the name of a replica instance (`announceSentinelAddrAndPort`).
    pub fn key(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// The connections to an instance and what was heard on them (`instanceLink`). Links are not
/// shared between the masters a Sentinel monitors (sentinel.c shares a link to the same Sentinel
/// across masters): a Sentinel here monitors one master in practice.
#[derive(Debug)]
pub(crate) struct Link {
    /// The commands connection.
    pub cc: Option<ConnId>,
    /// The Pub/Sub connection (masters and replicas only).
    pub pc: Option<ConnId>,
    /// Either needed connection is missing.
    pub disconnected: bool,
    /// Commands sent and not answered (sentinel.c's count, which a dropped connection leaves as it
    /// was until the next reconnection).
    pub pending_commands: i64,
    pub cc_conn_time: Ms,
    pub pc_conn_time: Ms,
    pub pc_last_activity: Ms,
    /// The last valid reply to a PING.
    pub last_avail_time: Ms,
    /// When the oldest unanswered PING was sent; 0 once answered.
    pub act_ping_time: Ms,
    pub last_ping_time: Ms,
    /// The last reply to a PING, whatever it was.
    pub last_pong_time: Ms,
    pub last_reconn_time: Ms,
}

impl Link {
    /// `createInstanceLink`: `act_ping_time` starts at now, so an instance never reached times out.
    pub fn new(now: Ms) -> Link {
        Link {
            cc: None,
            pc: None,
            disconnected: true,
            pending_commands: 0,
            cc_conn_time: 0,
            pc_conn_time: 0,
            pc_last_activity: 0,
            last_avail_time: now,
            act_ping_time: now,
            last_ping_time: 0,
            last_pong_time: now,
            last_reconn_time: 0,
        }
    }
}

/// One instance: a master, a replica or another Sentinel.
#[derive(Debug)]
pub(crate) struct Instance {
    /// Unique within the Sentinel, never reused: a reply meant for an instance that has since
    /// been released (and perhaps created again under the same name) is dropped.
    pub id: u64,
    pub flags: u32,
    /// A master's name, `ip:port` for a replica, the run id for a Sentinel.
    pub name: String,
    pub runid: Option<String>,
    pub config_epoch: u64,
    pub addr: Addr,
    pub link: Link,
    pub last_pub_time: Ms,
    pub last_hello_time: Ms,
    pub last_master_down_reply_time: Ms,
    pub s_down_since_time: Ms,
    pub o_down_since_time: Ms,
    pub down_after_period: Ms,
    pub master_reboot_down_after_period: Ms,
    pub master_reboot_since_time: Ms,
    /// When INFO last answered; 0 before the first.
    pub info_refresh: Ms,
    /// The role INFO reported: `flag::MASTER`, `flag::SLAVE` or 0.
    pub role_reported: u32,
    pub role_reported_time: Ms,
    pub slave_conf_change_time: Ms,
    pub master_link_down_time: Ms,
    pub slave_priority: i64,
    pub replica_announced: i64,
    pub slave_reconf_sent_time: Ms,
    pub slave_master_host: Option<String>,
    pub slave_master_port: i64,
    pub slave_master_link_up: bool,
    pub slave_repl_offset: u64,
    /// For a master, the Sentinel this one voted for; for a Sentinel, the one it voted for.
    pub leader: Option<String>,
    pub leader_epoch: u64,
}

impl Instance {
    /// `createSentinelRedisInstance`.
    pub fn new(id: u64, flags: u32, name: String, addr: Addr, down_after: Ms, now: Ms) -> Self {
        Instance {
            id,
            flags,
            name,
            runid: None,
            config_epoch: 0,
            addr,
            link: Link::new(now),
            last_pub_time: now,
            last_hello_time: now,
            last_master_down_reply_time: now,
            s_down_since_time: 0,
            o_down_since_time: 0,
            down_after_period: down_after,
            master_reboot_down_after_period: 0,
            master_reboot_since_time: 0,
            info_refresh: 0,
            role_reported: flags & (flag::MASTER | flag::SLAVE),
            role_reported_time: now,
            slave_conf_change_time: now,
            master_link_down_time: 0,
            slave_priority: 100,
            replica_announced: 1,
            slave_reconf_sent_time: 0,
            slave_master_host: None,
            slave_master_port: 0,
            slave_master_link_up: false,
            slave_repl_offset: 0,
            leader: None,
            leader_epoch: 0,
        }
    }

    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// `sentinelRedisInstanceTypeStr`.
    pub fn type_str(&self) -> &'static str {
        if self.has(flag::MASTER) {
            "master"
        } else if self.has(flag::SLAVE) {
            "slave"
        } else {
            "sentinel"
        }
    }

    /// `sentinelRedisInstanceNoDownFor`: no SDOWN or ODOWN in the last `ms`.
    pub fn no_down_for(&self, now: Ms, ms: Ms) -> bool {
        let most_recent = self.s_down_since_time.max(self.o_down_since_time);
        most_recent == 0 || now - most_recent > ms
    }
}

/// `SENTINEL_FAILOVER_STATE_*`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailoverState {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl FailoverState {
    /// `sentinelFailoverStateStr`.
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "none",
            FailoverState::WaitStart => "wait_start",
            FailoverState::SelectSlave => "select_slave",
            FailoverState::SendSlaveofNoone => "send_slaveof_noone",
            FailoverState::WaitPromotion => "wait_promotion",
            FailoverState::ReconfSlaves => "reconf_slaves",
            FailoverState::UpdateConfig => "update_config",
        }
    }
}

/// A monitored master with its replicas and the other Sentinels that monitor it. The tables are
/// ordered by name where sentinel.c's dicts are in hash order: walks that pick "the first" (the
/// replicas reconfigured under parallel-syncs) pick the lowest name.
#[derive(Debug)]
pub(crate) struct Master {
    pub ri: Instance,
    pub slaves: BTreeMap<String, Instance>,
    pub sentinels: BTreeMap<String, Instance>,
    pub quorum: u32,
    pub parallel_syncs: u32,
    pub failover_timeout: Ms,
    pub failover_epoch: u64,
    pub failover_state: FailoverState,
    pub failover_state_change_time: Ms,
    pub failover_start_time: Ms,
    pub failover_delay_logged: Ms,
    /// The key of the replica selected for promotion.
    pub promoted_slave: Option<String>,
}

impl Master {
    /// `sentinelGetCurrentMasterAddress`: the promoted replica's address once the failover has
    /// reached the reconfiguration of the replicas, the master's otherwise.
    pub fn current_address(&self) -> &Addr {
        if self.ri.has(flag::FAILOVER_IN_PROGRESS)
            && self.failover_state >= FailoverState::ReconfSlaves
        {
            if let Some(p) = self
                .promoted_slave
                .as_ref()
                .and_then(|k| self.slaves.get(k))
            {
                return &p.addr;
            }
        }
        &self.ri.addr
    }
}

/// Which instance of a master: the master itself, a replica or a Sentinel by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Which {
    Master,
    Slave(String),
    Sentinel(String),
}

impl Master {
    pub fn get(&self, w: &Which) -> Option<&Instance> {
        match w {
            Which::Master => Some(&self.ri),
            Which::Slave(k) => self.slaves.get(k),
            Which::Sentinel(k) => self.sentinels.get(k),
        }
    }

    pub fn get_mut(&mut self, w: &Which) -> Option<&mut Instance> {
        match w {
            Which::Master => Some(&mut self.ri),
            Which::Slave(k) => self.slaves.get_mut(k),
            Which::Sentinel(k) => self.sentinels.get_mut(k),
        }
    }

    /// The `%@` of `sentinelEvent`: `<type> <name> <ip> <port>`, and for a replica or a Sentinel
    /// `@ <master name> <master ip> <master port>` after it.
    pub fn describe(&self, w: &Which) -> String {
        let Some(ri) = self.get(w) else {
            return String::new();
        };
        let me = format!(
            "{} {} {} {}",
            ri.type_str(),
            ri.name,
            ri.addr.ip,
            ri.addr.port
        );
        match w {
            Which::Master => me,
            _ => format!(
                "{me} @ {} {} {}",
                self.ri.name, self.ri.addr.ip, self.ri.addr.port
            ),
        }
    }
}
