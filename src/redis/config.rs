//! Node configuration: the redis.conf directives the simulator honours, with Redis's names,
//! defaults, value notation and CONFIG SET errors; plus the cost model, which has no redis.conf
//! equivalent and uses `replsim-` names.
//!
//! Defaults are Redis 7.2's (config.c's `standardConfig` table, redis.conf). Memory values use redis.conf notation (`1mb` = 1048576,
//! `1m` = 1000000, `64kb`, `2gb`); times are whole seconds where redis.conf uses seconds. The cost
//! model's durations accept `ms`/`us`/`s` suffixes.

use std::fmt;

use super::log::Level;

/// `repl-diskless-load`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DisklessLoad {
    Disabled,
    OnEmptyDb,
    Swapdb,
}

impl DisklessLoad {
    pub fn name(self) -> &'static str {
        match self {
            DisklessLoad::Disabled => "disabled",
            DisklessLoad::OnEmptyDb => "on-empty-db",
            DisklessLoad::Swapdb => "swapdb",
        }
    }
}

/// `redis-version`: which Redis release the node behaves as, where releases differ in what a
/// peer or an operator can see: the RDB format a node writes (a 7.0 server refuses version 11,
/// "Can't handle RDB format version 11"), the version it reports (the RDB's `redis-ver` field
/// and INFO's `redis_version`), and the level and wording of some log lines.
///
/// `valkey-8.1` is Valkey 8.1, the fork of Redis 7.2.4: it reports itself as Redis 7.2.4 for
/// compatibility (INFO's `redis_version`) and as Valkey 8.1.8 where it names itself (INFO's
/// `server_name` and `valkey_version`, HELLO's `server` and `version`, the RDB's `valkey-ver`
/// field), writes RDB version 11 as 7.2 does, and alone knows
/// `dual-channel-replication-enabled`. Everything else behaves as 7.2.
///
/// `8.0` is Redis 8.0: it reports `redis_version:8.0.0`, writes RDB version 12 (rdb.h
/// `RDB_VERSION`, raised in 7.4 for hash field expiration), and alone knows `repl-rdb-channel`
/// and `replica-full-sync-buffer-limit`. Everything else behaves as 7.2.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RedisVersion {
    V7_0,
    V7_2,
    Valkey8_1,
    V8_0,
}

impl RedisVersion {
    pub fn name(self) -> &'static str {
        match self {
            RedisVersion::V7_0 => "7.0",
            RedisVersion::V7_2 => "7.2",
            RedisVersion::Valkey8_1 => "valkey-8.1",
            RedisVersion::V8_0 => "8.0",
        }
    }

    /// `RDB_VERSION` of that release (rdb.h).
    pub fn rdb_version(self) -> u32 {
        match self {
            RedisVersion::V7_0 => 10,
            RedisVersion::V7_2 | RedisVersion::Valkey8_1 => 11,
            RedisVersion::V8_0 => 12,
        }
    }

    /// A Valkey release (`SERVER_NAME` "valkey").
    pub fn is_valkey(self) -> bool {
        self == RedisVersion::Valkey8_1
    }

    /// `VALKEY_VERSION`, for a Valkey release.
    pub fn valkey_version(self) -> Option<&'static str> {
        match self {
            RedisVersion::Valkey8_1 => Some("8.1.8"),
            _ => None,
        }
    }

    /// The name HELLO reports as `server`: `SERVER_NAME`.
    pub fn server_name(self) -> &'static str {
        if self.is_valkey() {
            "valkey"
        } else {
            "redis"
        }
    }

    /// The version HELLO reports: Valkey's own, Redis's otherwise.
    pub fn hello_version(self) -> &'static str {
        self.valkey_version()
            .unwrap_or_else(|| self.server_version())
    }

    /// The level of the lines 7.2 logs as notices and 7.0 as warnings (`Connection with master
    /// lost.`, `Connection with replica … lost.`, `Diskless rdb transfer, done reading from pipe`,
    /// `Master replication ID changed`, `Setting secondary replication ID`, `Server
    /// initialized`, `User requested shutdown...`: the serverLog calls of replication.c,
    /// networking.c and server.c whose level differs between 7.0.15 and 7.2.4).
    pub fn lowered_in_7_2(self) -> Level {
        match self {
            RedisVersion::V7_0 => Level::Warning,
            RedisVersion::V7_2 | RedisVersion::Valkey8_1 | RedisVersion::V8_0 => Level::Notice,
        }
    }

    /// `Ready to accept connections`: 7.2 names the connection type after it.
    pub fn ready_line(self) -> &'static str {
        match self {
            RedisVersion::V7_0 => "Ready to accept connections",
            RedisVersion::V7_2 | RedisVersion::Valkey8_1 | RedisVersion::V8_0 => {
                "Ready to accept connections tcp"
            }
        }
    }

    /// `REDIS_VERSION`, the full version string the release reports as INFO's `redis_version`
    /// (Valkey keeps reporting the Redis release it forked from).
    pub fn server_version(self) -> &'static str {
        match self {
            RedisVersion::V7_0 => "7.0.15",
            RedisVersion::V7_2 | RedisVersion::Valkey8_1 => "7.2.4",
            RedisVersion::V8_0 => "8.0.0",
        }
    }
}

/// One class of `client-output-buffer-limit`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BufferLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_secs: u64,
}

/// What takes time in Redis, outside the network. Calibrated to published Redis figures; see
/// docs/scenario-format.md for the sources of each default.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CostModel {
    /// Fixed part of a fork, in nanoseconds.
    pub fork_base_ns: u64,
    /// Fork time per GiB of dataset, in nanoseconds (page-table copy).
    pub fork_ns_per_gb: u64,
    /// RDB serialisation rate, bytes per second.
    pub rdb_save_bytes_per_sec: u64,
    /// RDB load rate, bytes per second.
    pub rdb_load_bytes_per_sec: u64,
    /// CPU time of one command, in nanoseconds.
    pub command_ns: u64,
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel {
            fork_base_ns: 1_000_000,
            fork_ns_per_gb: 10_000_000,
            rdb_save_bytes_per_sec: 200_000_000,
            rdb_load_bytes_per_sec: 300_000_000,
            command_ns: 1_000,
        }
    }
}

/// The configuration of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub repl_backlog_size: u64,
    pub repl_backlog_ttl_secs: u64,
    pub repl_timeout_secs: u64,
    pub repl_ping_replica_period_secs: u64,
    pub repl_diskless_sync: bool,
    pub repl_diskless_sync_delay_secs: u64,
    pub repl_diskless_sync_max_replicas: u64,
    pub repl_diskless_load: DisklessLoad,
    pub repl_disable_tcp_nodelay: bool,
    pub client_output_buffer_limit_normal: BufferLimit,
    pub client_output_buffer_limit_replica: BufferLimit,
    pub client_output_buffer_limit_pubsub: BufferLimit,
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag_secs: u64,
    pub replica_serve_stale_data: bool,
    pub replica_read_only: bool,
    pub replica_priority: u64,
    pub replica_lazy_flush: bool,
    pub replica_announce_ip: Option<String>,
    pub replica_announce_port: u16,
    pub masterauth: Option<String>,
    pub masteruser: Option<String>,
    pub requirepass: Option<String>,
    /// `save` points; empty means `save ""` (no RDB snapshots). Used only to decide whether a
    /// disk BGSAVE nobody waits for may be killed.
    pub save: Vec<(u64, u64)>,
    pub databases: u64,
    pub lazyfree_lazy_expire: bool,
    pub rdbchecksum: bool,
    pub redis_version: RedisVersion,
    /// `dual-channel-replication-enabled` (Valkey 8.1 only): as a replica, offer `capa
    /// dual-channel` and take a full sync's RDB on a second connection while the stream is
    /// buffered locally; as a master, accept that offer when diskless sync is on too.
    pub dual_channel_replication: bool,
    /// `repl-rdb-channel` (Redis 8.0 only): Redis 8.0's counterpart of Valkey's dual channel,
    /// announced as `capa rdb-channel-repl`.
    pub repl_rdb_channel: bool,
    /// `replica-full-sync-buffer-limit` (Redis 8.0 only): the most a replica keeps of the
    /// stream received during an rdb-channel sync; 0 means its `client-output-buffer-limit
    /// replica` hard limit (replication.c: `replDataBufInit`).
    pub replica_full_sync_buffer_limit: u64,
    pub cost: CostModel,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            repl_backlog_size: 1 << 20,
            repl_backlog_ttl_secs: 3600,
            repl_timeout_secs: 60,
            repl_ping_replica_period_secs: 10,
            repl_diskless_sync: true,
            repl_diskless_sync_delay_secs: 5,
            repl_diskless_sync_max_replicas: 0,
            repl_diskless_load: DisklessLoad::Disabled,
            repl_disable_tcp_nodelay: false,
            client_output_buffer_limit_normal: BufferLimit {
                hard_bytes: 0,
                soft_bytes: 0,
                soft_secs: 0,
            },
            client_output_buffer_limit_replica: BufferLimit {
                hard_bytes: 256 << 20,
                soft_bytes: 64 << 20,
                soft_secs: 60,
            },
            client_output_buffer_limit_pubsub: BufferLimit {
                hard_bytes: 32 << 20,
                soft_bytes: 8 << 20,
                soft_secs: 60,
            },
            min_replicas_to_write: 0,
            min_replicas_max_lag_secs: 10,
            replica_serve_stale_data: true,
            replica_read_only: true,
            replica_priority: 100,
            replica_lazy_flush: false,
            replica_announce_ip: None,
            replica_announce_port: 0,
            masterauth: None,
            masteruser: None,
            requirepass: None,
            save: vec![(3600, 1), (300, 100), (60, 10000)],
            databases: 16,
            lazyfree_lazy_expire: false,
            rdbchecksum: true,
            redis_version: RedisVersion::V7_2,
            dual_channel_replication: false,
            repl_rdb_channel: false,
            replica_full_sync_buffer_limit: 0,
            cost: CostModel::default(),
        }
    }
}

/// The smallest backlog CONFIG SET allows (`CONFIG_REPL_BACKLOG_MIN_SIZE`).
pub const REPL_BACKLOG_MIN_SIZE: u64 = 16 * 1024;

/// Why a directive could not be set. The text follows Redis's `CONFIG SET` errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    Unknown(String),
    Invalid { name: String, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unknown(name) => write!(
                f,
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ),
            ConfigError::Invalid { name, reason } => write!(
                f,
                "CONFIG SET failed (possibly related to argument '{name}') - {reason}"
            ),
        }
    }
}

/// Every directive name the node knows, in the order CONFIG GET * lists them.
pub const DIRECTIVES: &[&str] = &[
    "repl-backlog-size",
    "repl-backlog-ttl",
    "repl-timeout",
    "repl-ping-replica-period",
    "repl-diskless-sync",
    "repl-diskless-sync-delay",
    "repl-diskless-sync-max-replicas",
    "repl-diskless-load",
    "repl-disable-tcp-nodelay",
    "client-output-buffer-limit",
    "min-replicas-to-write",
    "min-replicas-max-lag",
    "replica-serve-stale-data",
    "replica-read-only",
    "replica-priority",
    "replica-lazy-flush",
    "replica-announce-ip",
    "replica-announce-port",
    "masterauth",
    "masteruser",
    "requirepass",
    "save",
    "databases",
    "lazyfree-lazy-expire",
    "rdbchecksum",
    "redis-version",
    "dual-channel-replication-enabled",
    "repl-rdb-channel",
    "replica-full-sync-buffer-limit",
    "replsim-fork-time",
    "replsim-fork-time-per-gb",
    "replsim-rdb-save-rate",
    "replsim-rdb-load-rate",
    "replsim-command-time",
];

/// Old names Redis still accepts for the same directives (each of its configs' `alias`), with
/// the name each stands for.
pub const ALIASES: &[(&str, &str)] = &[
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("slave-read-only", "replica-read-only"),
    ("slave-priority", "replica-priority"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
];

/// The directive `name` stands for, in lower case: itself, or what its alias stands for.
pub fn canonical(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match ALIASES.iter().find(|(alias, _)| *alias == lower) {
        Some((_, name)) => name.to_string(),
        None => lower,
    }
}

/// Whether `name` (in any case, or an alias) is a directive the node knows.
pub fn is_known(name: &str) -> bool {
    DIRECTIVES.contains(&canonical(name).as_str())
}

/// Directives only some releases know: `dual-channel-replication-enabled` is Valkey's,
/// `repl-rdb-channel` and `replica-full-sync-buffer-limit` Redis 8.0's.
fn known_under(name: &str, version: RedisVersion) -> bool {
    match name {
        "dual-channel-replication-enabled" => version.is_valkey(),
        "repl-rdb-channel" | "replica-full-sync-buffer-limit" => version == RedisVersion::V8_0,
        _ => true,
    }
}

/// Directives chosen at startup only, which CONFIG SET refuses (Redis's `IMMUTABLE_CONFIG`
/// flag, and replsim's own `redis-version`).
pub fn is_immutable(name: &str) -> bool {
    matches!(
        canonical(name).as_str(),
        "databases" | "rdbchecksum" | "redis-version"
    )
}

/// The first unit in `units` that `t` ends with, and what comes before it. Units are tried in
/// order, so a table lists `ms` before `s` and `kb` before `b`.
pub(crate) fn split_unit<'a>(t: &'a str, units: &[(&str, u64)]) -> Option<(&'a str, u64)> {
    units
        .iter()
        .find_map(|&(unit, mul)| t.strip_suffix(unit).map(|digits| (digits, mul)))
}

/// `digits` (ASCII digits only, at least one) times `mul`, or `None` if malformed or too large.
fn digits_times(digits: &str, mul: u64) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

const MEMORY_UNITS: &[(&str, u64)] = &[
    ("gb", 1 << 30),
    ("mb", 1 << 20),
    ("kb", 1 << 10),
    ("g", 1_000_000_000),
    ("m", 1_000_000),
    ("k", 1_000),
    ("b", 1),
];

const DURATION_UNITS: &[(&str, u64)] = &[
    ("us", 1_000),
    ("ms", 1_000_000),
    ("ns", 1),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a memory value as Redis's `memtoull`: an integer with an optional unit, `k`/`m`/`g`
/// (powers of 1000) or `kb`/`mb`/`gb` (powers of 1024), case-insensitive.
pub fn parse_memory(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (digits, mul) = split_unit(&t, MEMORY_UNITS).unwrap_or((&t, 1));
    digits_times(digits, mul)
}

/// Parses a duration with a unit suffix (`ns`, `us`, `ms`, `s`, `m`, `h`) into nanoseconds. A
/// bare integer is seconds.
pub fn parse_duration_ns(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (digits, mul) = split_unit(&t, DURATION_UNITS).unwrap_or((&t, 1_000_000_000));
    digits_times(digits, mul)
}

fn format_duration_ns(ns: u64) -> String {
    if ns % 1_000_000_000 == 0 {
        format!("{}s", ns / 1_000_000_000)
    } else if ns % 1_000_000 == 0 {
        format!("{}ms", ns / 1_000_000)
    } else if ns % 1_000 == 0 {
        format!("{}us", ns / 1_000)
    } else {
        format!("{ns}ns")
    }
}

fn yes_no(v: bool) -> String {
    if v { "yes" } else { "no" }.to_string()
}

impl Config {
    /// Sets a directive from its redis.conf text. `from_config_set` applies CONFIG SET's extra
    /// rules (the backlog clamp to 16 KB), which loading a config file does not.
    pub fn set(
        &mut self,
        name: &str,
        value: &str,
        from_config_set: bool,
    ) -> Result<(), ConfigError> {
        let given = name;
        let name = canonical(given);
        if from_config_set && is_immutable(&name) {
            return Err(ConfigError::Invalid {
                name: given.to_string(),
                reason: "can't set immutable config".into(),
            });
        }
        // A bad value is reported under the name of the entry it was set through, the alias
        // if an alias was used (`configSetCommand`: `set_configs[i]->name`), in lower case.
        let entry = given.to_ascii_lowercase();
        let invalid = |reason: &str| ConfigError::Invalid {
            name: entry.clone(),
            reason: reason.to_string(),
        };
        let memory =
            || parse_memory(value).ok_or_else(|| invalid("argument must be a memory value"));
        // `string2ll`, as Redis parses integer directives: no sign but `-`, no leading zeros.
        let int = |min: u64, max: u64| -> Result<u64, ConfigError> {
            let v: i64 = super::resp::string2ll(value.trim().as_bytes())
                .ok_or_else(|| invalid("argument couldn't be parsed into an integer"))?;
            if v < min as i64 || v as u64 > max {
                return Err(invalid(&format!(
                    "argument must be between {min} and {max} inclusive"
                )));
            }
            Ok(v as u64)
        };
        let boolean = || match value.trim().to_ascii_lowercase().as_str() {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(invalid("argument must be 'yes' or 'no'")),
        };
        let opt_string = || {
            if value.is_empty() {
                None
            } else {
                Some(value.to_string())
            }
        };
        let duration = || {
            parse_duration_ns(value)
                .ok_or_else(|| invalid("argument must be a duration such as 500ms, 2s or 100us"))
        };
        let rate = || {
            parse_memory(value.trim_end_matches("/s"))
                .filter(|&v| v > 0)
                .ok_or_else(|| {
                    invalid("argument must be a positive memory value per second, such as 200mb")
                })
        };
        const INT_MAX: u64 = i32::MAX as u64;
        const LONG_MAX: u64 = i64::MAX as u64;
        match name.as_str() {
            "repl-backlog-size" => {
                let mut v = memory()?;
                // A long long config of 1 .. LLONG_MAX; the clamp to 16 KB is its apply
                // function's (`updateReplBacklogSize`), after the bounds.
                if v == 0 || v > LONG_MAX {
                    return Err(invalid(&format!(
                        "argument must be between 1 and {LONG_MAX} inclusive"
                    )));
                }
                if from_config_set {
                    v = v.max(REPL_BACKLOG_MIN_SIZE);
                }
                self.repl_backlog_size = v;
            }
            // A time_t config: 0 .. LONG_MAX.
            "repl-backlog-ttl" => self.repl_backlog_ttl_secs = int(0, LONG_MAX)?,
            "repl-timeout" => self.repl_timeout_secs = int(1, INT_MAX)?,
            "repl-ping-replica-period" => self.repl_ping_replica_period_secs = int(1, INT_MAX)?,
            "repl-diskless-sync" => self.repl_diskless_sync = boolean()?,
            "repl-diskless-sync-delay" => self.repl_diskless_sync_delay_secs = int(0, INT_MAX)?,
            "repl-diskless-sync-max-replicas" => {
                self.repl_diskless_sync_max_replicas = int(0, INT_MAX)?
            }
            "repl-diskless-load" => {
                self.repl_diskless_load = match value.trim().to_ascii_lowercase().as_str() {
                    "disabled" => DisklessLoad::Disabled,
                    "on-empty-db" => DisklessLoad::OnEmptyDb,
                    "swapdb" => DisklessLoad::Swapdb,
                    _ => return Err(invalid(
                        "argument(s) must be one of the following: disabled, on-empty-db, swapdb",
                    )),
                }
            }
            "repl-disable-tcp-nodelay" => self.repl_disable_tcp_nodelay = boolean()?,
            "client-output-buffer-limit" => {
                self.set_buffer_limits(value).map_err(|r| invalid(&r))?
            }
            "min-replicas-to-write" => self.min_replicas_to_write = int(0, INT_MAX)?,
            "min-replicas-max-lag" => self.min_replicas_max_lag_secs = int(0, INT_MAX)?,
            "replica-serve-stale-data" => self.replica_serve_stale_data = boolean()?,
            "replica-read-only" => self.replica_read_only = boolean()?,
            "replica-priority" => self.replica_priority = int(0, INT_MAX)?,
            "replica-lazy-flush" => self.replica_lazy_flush = boolean()?,
            "replica-announce-ip" => self.replica_announce_ip = opt_string(),
            "replica-announce-port" => self.replica_announce_port = int(0, 65535)? as u16,
            "masterauth" => self.masterauth = opt_string(),
            "masteruser" => self.masteruser = opt_string(),
            "requirepass" => self.requirepass = opt_string(),
            "save" => {
                self.save = parse_save(value).ok_or_else(|| invalid("Invalid save parameters"))?
            }
            "databases" => self.databases = int(1, INT_MAX)?,
            "lazyfree-lazy-expire" => self.lazyfree_lazy_expire = boolean()?,
            "rdbchecksum" => self.rdbchecksum = boolean()?,
            "redis-version" => {
                self.redis_version =
                    match value.trim() {
                        "7.0" => RedisVersion::V7_0,
                        "7.2" => RedisVersion::V7_2,
                        "valkey-8.1" => RedisVersion::Valkey8_1,
                        "8.0" => RedisVersion::V8_0,
                        _ => return Err(invalid(
                            "argument(s) must be one of the following: 7.0, 7.2, valkey-8.1, 8.0",
                        )),
                    }
            }
            // Valkey's `createBoolConfig("dual-channel-replication-enabled", ...,
            // MODIFIABLE_CONFIG | DEBUG_CONFIG | HIDDEN_CONFIG, ...)`: settable at runtime. A
            // file may name it before `redis-version`, so loading accepts it under any release
            // and [`Config::check_release`] refuses it afterwards; CONFIG SET checks at once.
            "dual-channel-replication-enabled" => {
                if from_config_set && !self.redis_version.is_valkey() {
                    return Err(ConfigError::Unknown(given.to_string()));
                }
                self.dual_channel_replication = boolean()?
            }
            // Redis 8.0's `createBoolConfig("repl-rdb-channel", ..., MODIFIABLE_CONFIG, ...)`
            // and `createSizeTConfig("replica-full-sync-buffer-limit", ..., MODIFIABLE_CONFIG,
            // 0, LLONG_MAX, ..., MEMORY_CONFIG, ...)`: both settable at runtime, and checked
            // against the release as `dual-channel-replication-enabled` is.
            "repl-rdb-channel" | "replica-full-sync-buffer-limit" => {
                if from_config_set && self.redis_version != RedisVersion::V8_0 {
                    return Err(ConfigError::Unknown(given.to_string()));
                }
                if name == "repl-rdb-channel" {
                    self.repl_rdb_channel = boolean()?
                } else {
                    let v = memory()?;
                    if v > LONG_MAX {
                        return Err(invalid(&format!(
                            "argument must be between 0 and {LONG_MAX} inclusive"
                        )));
                    }
                    self.replica_full_sync_buffer_limit = v
                }
            }
            "replsim-fork-time" => self.cost.fork_base_ns = duration()?,
            "replsim-fork-time-per-gb" => self.cost.fork_ns_per_gb = duration()?,
            "replsim-rdb-save-rate" => self.cost.rdb_save_bytes_per_sec = rate()?,
            "replsim-rdb-load-rate" => self.cost.rdb_load_bytes_per_sec = rate()?,
            "replsim-command-time" => self.cost.command_ns = duration()?,
            _ => return Err(ConfigError::Unknown(given.to_string())),
        }
        Ok(())
    }

    /// `client-output-buffer-limit <class> <hard> <soft> <secs> [<class> ...]`.
    fn set_buffer_limits(&mut self, value: &str) -> Result<(), String> {
        let words: Vec<&str> = value.split_whitespace().collect();
        if words.is_empty() || words.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        let mut updated = self.clone();
        for w in words.chunks(4) {
            // The class is checked before the figures (`updateClientOutputBufferLimit`).
            let class = w[0].to_ascii_lowercase();
            if !matches!(class.as_str(), "normal" | "replica" | "slave" | "pubsub") {
                return Err("Invalid client class specified in buffer limit configuration.".into());
            }
            let (hard, soft) = match (parse_memory(w[1]), parse_memory(w[2])) {
                (Some(h), Some(s)) => (h, s),
                _ => return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .into(),
                ),
            };
            let secs: u64 = w[3].parse().map_err(|_| {
                "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    .to_string()
            })?;
            let limit = BufferLimit {
                hard_bytes: hard,
                soft_bytes: soft,
                soft_secs: secs,
            };
            match class.as_str() {
                "normal" => updated.client_output_buffer_limit_normal = limit,
                "pubsub" => updated.client_output_buffer_limit_pubsub = limit,
                _ => updated.client_output_buffer_limit_replica = limit,
            }
        }
        *self = updated;
        Ok(())
    }

    /// The value of a directive as CONFIG GET prints it, or `None` if unknown.
    pub fn get(&self, name: &str) -> Option<String> {
        let name = canonical(name);
        let limit = |l: &BufferLimit| format!("{} {} {}", l.hard_bytes, l.soft_bytes, l.soft_secs);
        Some(match name.as_str() {
            "repl-backlog-size" => self.repl_backlog_size.to_string(),
            "repl-backlog-ttl" => self.repl_backlog_ttl_secs.to_string(),
            "repl-timeout" => self.repl_timeout_secs.to_string(),
            "repl-ping-replica-period" => self.repl_ping_replica_period_secs.to_string(),
            "repl-diskless-sync" => yes_no(self.repl_diskless_sync),
            "repl-diskless-sync-delay" => self.repl_diskless_sync_delay_secs.to_string(),
            "repl-diskless-sync-max-replicas" => self.repl_diskless_sync_max_replicas.to_string(),
            "repl-diskless-load" => self.repl_diskless_load.name().to_string(),
            "repl-disable-tcp-nodelay" => yes_no(self.repl_disable_tcp_nodelay),
            "client-output-buffer-limit" => format!(
                "normal {} slave {} pubsub {}",
                limit(&self.client_output_buffer_limit_normal),
                limit(&self.client_output_buffer_limit_replica),
                limit(&self.client_output_buffer_limit_pubsub)
            ),
            "min-replicas-to-write" => self.min_replicas_to_write.to_string(),
            "min-replicas-max-lag" => self.min_replicas_max_lag_secs.to_string(),
            "replica-serve-stale-data" => yes_no(self.replica_serve_stale_data),
            "replica-read-only" => yes_no(self.replica_read_only),
            "replica-priority" => self.replica_priority.to_string(),
            "replica-lazy-flush" => yes_no(self.replica_lazy_flush),
            "replica-announce-ip" => self.replica_announce_ip.clone().unwrap_or_default(),
            "replica-announce-port" => self.replica_announce_port.to_string(),
            "masterauth" => self.masterauth.clone().unwrap_or_default(),
            "masteruser" => self.masteruser.clone().unwrap_or_default(),
            "requirepass" => self.requirepass.clone().unwrap_or_default(),
            "save" => self
                .save
                .iter()
                .map(|(s, c)| format!("{s} {c}"))
                .collect::<Vec<_>>()
                .join(" "),
            "databases" => self.databases.to_string(),
            "lazyfree-lazy-expire" => yes_no(self.lazyfree_lazy_expire),
            "rdbchecksum" => yes_no(self.rdbchecksum),
            "redis-version" => self.redis_version.name().to_string(),
            "dual-channel-replication-enabled" if self.redis_version.is_valkey() => {
                yes_no(self.dual_channel_replication)
            }
            "repl-rdb-channel" if self.redis_version == RedisVersion::V8_0 => {
                yes_no(self.repl_rdb_channel)
            }
            "replica-full-sync-buffer-limit" if self.redis_version == RedisVersion::V8_0 => {
                self.replica_full_sync_buffer_limit.to_string()
            }
            "replsim-fork-time" => format_duration_ns(self.cost.fork_base_ns),
            "replsim-fork-time-per-gb" => format_duration_ns(self.cost.fork_ns_per_gb),
            "replsim-rdb-save-rate" => self.cost.rdb_save_bytes_per_sec.to_string(),
            "replsim-rdb-load-rate" => self.cost.rdb_load_bytes_per_sec.to_string(),
            "replsim-command-time" => format_duration_ns(self.cost.command_ns),
            _ => return None,
        })
    }

    /// Whether this release knows the directive `name` (in any case, or an alias): CONFIG GET
    /// and SET answer only for those.
    pub fn knows(&self, name: &str) -> bool {
        let name = canonical(name);
        DIRECTIVES.contains(&name.as_str()) && known_under(&name, self.redis_version)
    }

    /// What only the whole configuration shows: a directive set that the chosen release does
    /// not have. Returns the directive and why.
    pub fn check_release(&self) -> Result<(), (&'static str, String)> {
        if self.dual_channel_replication && !self.redis_version.is_valkey() {
            return Err((
                "dual-channel-replication-enabled",
                format!(
                    "dual-channel-replication-enabled is a Valkey directive: it needs redis-version \"valkey-8.1\", not \"{}\"",
                    self.redis_version.name()
                ),
            ));
        }
        let redis_8_0 = self.redis_version == RedisVersion::V8_0;
        let only_8_0 = |name: &'static str| {
            (
                name,
                format!(
                    "{name} is a Redis 8.0 directive: it needs redis-version \"8.0\", not \"{}\"",
                    self.redis_version.name()
                ),
            )
        };
        if self.repl_rdb_channel && !redis_8_0 {
            return Err(only_8_0("repl-rdb-channel"));
        }
        if self.replica_full_sync_buffer_limit != 0 && !redis_8_0 {
            return Err(only_8_0("replica-full-sync-buffer-limit"));
        }
        Ok(())
    }

    /// The most an rdb-channel replica keeps of the stream received during its full sync:
    /// `replica-full-sync-buffer-limit`, or, when that is 0, the replica class's hard limit
    /// (replication.c: `replDataBufInit`).
    pub fn full_sync_buffer_limit(&self) -> u64 {
        if self.replica_full_sync_buffer_limit != 0 {
            self.replica_full_sync_buffer_limit
        } else {
            self.client_output_buffer_limit_replica.hard_bytes
        }
    }

    /// The replica output-buffer hard limit as enforced: raised to the backlog size when lower,
    /// so that a partial resync of a full backlog never trips it (networking.c).
    pub fn replica_hard_limit_effective(&self) -> u64 {
        let hard = self.client_output_buffer_limit_replica.hard_bytes;
        if hard != 0 && hard < self.repl_backlog_size {
            self.repl_backlog_size
        } else {
            hard
        }
    }
}

fn parse_save(value: &str) -> Option<Vec<(u64, u64)>> {
    let v = value.trim().trim_matches('"');
    if v.is_empty() {
        return Some(Vec::new());
    }
    let words: Vec<&str> = v.split_whitespace().collect();
    if words.len() % 2 != 0 {
        return None;
    }
    words
        .chunks(2)
        .map(|w| Some((w[0].parse().ok()?, w[1].parse().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_values_follow_memtoull() {
        assert_eq!(parse_memory("1mb"), Some(1_048_576));
        assert_eq!(parse_memory("1m"), Some(1_000_000));
        assert_eq!(parse_memory("64KB"), Some(65_536));
        assert_eq!(parse_memory("2gb"), Some(2 << 30));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1.5mb"), None);
        assert_eq!(parse_memory("mb"), None);
    }

    #[test]
    fn durations_take_every_unit_and_a_bare_number_is_seconds() {
        assert_eq!(parse_duration_ns("5ns"), Some(5));
        assert_eq!(parse_duration_ns("100us"), Some(100_000));
        assert_eq!(parse_duration_ns("500MS"), Some(500_000_000));
        assert_eq!(parse_duration_ns("2s"), Some(2_000_000_000));
        assert_eq!(parse_duration_ns("2m"), Some(120_000_000_000));
        assert_eq!(parse_duration_ns("1h"), Some(3_600_000_000_000));
        assert_eq!(parse_duration_ns(" 7 "), Some(7_000_000_000));
        assert_eq!(parse_duration_ns("1.5s"), None);
        assert_eq!(parse_duration_ns("ms"), None);
        assert_eq!(parse_duration_ns("99999999999h"), None);
    }

    #[test]
    fn defaults_are_redis_7_2() {
        let c = Config::default();
        assert_eq!(c.get("repl-backlog-size").unwrap(), "1048576");
        assert_eq!(c.get("repl-diskless-sync").unwrap(), "yes");
        assert_eq!(c.get("repl-timeout").unwrap(), "60");
        assert_eq!(
            c.get("client-output-buffer-limit").unwrap(),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
        assert_eq!(c.get("min-replicas-max-lag").unwrap(), "10");
    }

    #[test]
    fn config_set_clamps_the_backlog_but_a_config_file_does_not() {
        let mut c = Config::default();
        c.set("repl-backlog-size", "100", true).unwrap();
        assert_eq!(c.repl_backlog_size, 16384);
        c.set("repl-backlog-size", "100", false).unwrap();
        assert_eq!(c.repl_backlog_size, 100);
    }

    #[test]
    fn buffer_limits_parse_per_class_and_accept_slave() {
        let mut c = Config::default();
        c.set("client-output-buffer-limit", "replica 512k 0 0", true)
            .unwrap();
        assert_eq!(
            c.client_output_buffer_limit_replica,
            BufferLimit {
                hard_bytes: 512_000,
                soft_bytes: 0,
                soft_secs: 0
            }
        );
        c.set("client-output-buffer-limit", "slave 1mb 1mb 10", true)
            .unwrap();
        assert_eq!(c.client_output_buffer_limit_replica.soft_secs, 10);
        assert!(c
            .set("client-output-buffer-limit", "replica 1mb", true)
            .is_err());
    }

    #[test]
    fn hard_limit_below_backlog_is_raised_to_the_backlog() {
        let mut c = Config::default();
        c.set("repl-backlog-size", "100mb", true).unwrap();
        c.set("client-output-buffer-limit", "replica 512k 0 0", true)
            .unwrap();
        assert_eq!(c.replica_hard_limit_effective(), 100 << 20);
    }

    #[test]
    fn errors_read_like_redis() {
        let mut c = Config::default();
        assert_eq!(
            c.set("nosuch", "1", true).unwrap_err().to_string(),
            "Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        assert_eq!(
            c.set("repl-timeout", "0", true).unwrap_err().to_string(),
            "CONFIG SET failed (possibly related to argument 'repl-timeout') - argument must be between 1 and 2147483647 inclusive"
        );
        assert_eq!(
            c.set("repl-diskless-sync", "maybe", true).unwrap_err().to_string(),
            "CONFIG SET failed (possibly related to argument 'repl-diskless-sync') - argument must be 'yes' or 'no'"
        );
    }

    #[test]
    fn the_redis_version_is_chosen_at_startup_only() {
        let mut c = Config::default();
        assert_eq!(c.get("redis-version").unwrap(), "7.2");
        c.set("redis-version", "7.0", false).unwrap();
        assert_eq!(c.redis_version.rdb_version(), 10);
        assert_eq!(
            c.set("redis-version", "7.2", true).unwrap_err().to_string(),
            "CONFIG SET failed (possibly related to argument 'redis-version') - can't set immutable config"
        );
        assert!(c.set("redis-version", "6.2", false).is_err());
    }

    #[test]
    fn dual_channel_is_valkey_s_runtime_directive_off_by_default() {
        let mut c = Config::default();
        // Under Redis the directive does not exist for CONFIG GET or SET.
        assert!(!c.knows("dual-channel-replication-enabled"));
        assert_eq!(c.get("dual-channel-replication-enabled"), None);
        assert_eq!(
            c.set("dual-channel-replication-enabled", "yes", true)
                .unwrap_err()
                .to_string(),
            "Unknown option or number of arguments for CONFIG SET - 'dual-channel-replication-enabled'"
        );
        // A file may name it before redis-version; the whole file is checked afterwards.
        c.set("dual-channel-replication-enabled", "yes", false)
            .unwrap();
        assert!(c.check_release().is_err());
        c.set("redis-version", "valkey-8.1", false).unwrap();
        assert!(c.check_release().is_ok());
        let mut v = Config::default();
        v.set("redis-version", "valkey-8.1", false).unwrap();
        assert_eq!(v.get("dual-channel-replication-enabled").unwrap(), "no");
        v.set("dual-channel-replication-enabled", "yes", true)
            .unwrap();
        assert!(v.dual_channel_replication);
        assert_eq!(
            v.set("dual-channel-replication-enabled", "1", true)
                .unwrap_err()
                .to_string(),
            "CONFIG SET failed (possibly related to argument 'dual-channel-replication-enabled') - argument must be 'yes' or 'no'"
        );
        assert_eq!(v.redis_version.server_version(), "7.2.4");
        assert_eq!(v.redis_version.rdb_version(), 11);
    }

    #[test]
    fn rdb_channel_directives_are_redis_8_0_s_and_runtime_settable() {
        let mut c = Config::default();
        for name in ["repl-rdb-channel", "replica-full-sync-buffer-limit"] {
            assert!(!c.knows(name));
            assert_eq!(c.get(name), None);
            assert_eq!(
                c.set(name, "1mb", true).unwrap_err().to_string(),
                format!("Unknown option or number of arguments for CONFIG SET - '{name}'")
            );
        }
        // A file may name them before redis-version; the whole file is checked afterwards.
        c.set("replica-full-sync-buffer-limit", "20mb", false)
            .unwrap();
        assert_eq!(
            c.check_release().unwrap_err().0,
            "replica-full-sync-buffer-limit"
        );
        c.set("repl-rdb-channel", "yes", false).unwrap();
        let (name, why) = c.check_release().unwrap_err();
        assert_eq!(name, "repl-rdb-channel");
        assert_eq!(
            why,
            "repl-rdb-channel is a Redis 8.0 directive: it needs redis-version \"8.0\", not \"7.2\""
        );
        c.set("redis-version", "8.0", false).unwrap();
        assert!(c.check_release().is_ok());

        let mut r = Config::default();
        r.set("redis-version", "8.0", false).unwrap();
        assert_eq!(r.redis_version.server_version(), "8.0.0");
        assert_eq!(r.redis_version.rdb_version(), 12);
        assert!(!r.knows("dual-channel-replication-enabled"));
        assert_eq!(r.get("repl-rdb-channel").unwrap(), "no");
        assert_eq!(r.get("replica-full-sync-buffer-limit").unwrap(), "0");
        // 0 stands for the replica class's hard limit.
        assert_eq!(r.full_sync_buffer_limit(), 256 << 20);
        r.set("repl-rdb-channel", "yes", true).unwrap();
        r.set("replica-full-sync-buffer-limit", "64kb", true)
            .unwrap();
        assert!(r.repl_rdb_channel);
        assert_eq!(r.get("replica-full-sync-buffer-limit").unwrap(), "65536");
        assert_eq!(r.full_sync_buffer_limit(), 64 << 10);
        assert_eq!(
            r.set("replica-full-sync-buffer-limit", "lots", true)
                .unwrap_err()
                .to_string(),
            "CONFIG SET failed (possibly related to argument 'replica-full-sync-buffer-limit') - argument must be a memory value"
        );
        assert_eq!(
            r.set("repl-rdb-channel", "on", true).unwrap_err().to_string(),
            "CONFIG SET failed (possibly related to argument 'repl-rdb-channel') - argument must be 'yes' or 'no'"
        );
    }

    #[test]
    fn old_slave_names_are_accepted() {
        let mut c = Config::default();
        c.set("min-slaves-to-write", "1", true).unwrap();
        assert_eq!(c.min_replicas_to_write, 1);
    }

    #[test]
    fn cost_model_durations_take_units() {
        let mut c = Config::default();
        c.set("replsim-fork-time", "20ms", true).unwrap();
        assert_eq!(c.cost.fork_base_ns, 20_000_000);
        c.set("replsim-rdb-save-rate", "100mb", true).unwrap();
        assert_eq!(c.cost.rdb_save_bytes_per_sec, 100 << 20);
        assert_eq!(parse_duration_ns("500ms"), Some(500_000_000));
        assert_eq!(parse_duration_ns("-1s"), None);
    }
}
