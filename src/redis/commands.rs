//! Command lookup, the checks of `processCommand` in Redis's order, execution against the
//! keyspace, and propagation of writes with Redis's rewriting rules (spec §4.1, §7).
//!
//! Propagation follows `call()`/`propagatePendingCommands`: a command that changed the dataset
//! queues its (possibly rewritten) argv, and lazy-expiry deletions queue `DEL` before it; at the
//! end of the command, one op is fed as is and several are wrapped in `MULTI`/`EXEC`. Each op is
//! preceded by `SELECT` when its database differs from the stream's (`slaveseldb`).

use super::log::{unix_ms, Level};
use super::node::{ClientId, CommandResult, ConnId, Node, Role};
use super::resp::{encode_command, string2ll, Reply};
use crate::time::{SimDuration, SimTime};

/// Command flags, as in Redis's command table.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Flags {
    pub write: bool,
    pub read: bool,
    /// Allowed while the replica's link is down and `replica-serve-stale-data` is no.
    pub stale: bool,
    /// Allowed while loading.
    pub loading: bool,
    /// Allowed before AUTH.
    pub no_auth: bool,
    /// Refused during an async (swapdb) load.
    pub no_async_loading: bool,
}

pub(crate) struct Spec {
    pub name: &'static str,
    /// Redis arity: positive is exact, negative is a minimum.
    pub arity: i32,
    pub flags: Flags,
}

const fn f(
    write: bool,
    read: bool,
    stale: bool,
    loading: bool,
    no_auth: bool,
    no_async_loading: bool,
) -> Flags {
    Flags {
        write,
        read,
        stale,
        loading,
        no_auth,
        no_async_loading,
    }
}

const W: Flags = f(true, false, false, false, false, false);
const R: Flags = f(false, true, false, false, false, false);
const ADMIN_STALE_LOADING: Flags = f(false, false, true, true, false, false);

static COMMANDS: &[Spec] = &[
    Spec {
        name: "get",
        arity: 2,
        flags: R,
    },
    Spec {
        name: "set",
        arity: -3,
        flags: W,
    },
    Spec {
        name: "del",
        arity: -2,
        flags: W,
    },
    Spec {
        name: "incr",
        arity: 2,
        flags: W,
    },
    Spec {
        name: "incrby",
        arity: 3,
        flags: W,
    },
    Spec {
        name: "append",
        arity: 3,
        flags: W,
    },
    Spec {
        name: "mset",
        arity: -3,
        flags: W,
    },
    Spec {
        name: "exists",
        arity: -2,
        flags: R,
    },
    Spec {
        name: "expire",
        arity: -3,
        flags: W,
    },
    Spec {
        name: "pexpire",
        arity: -3,
        flags: W,
    },
    Spec {
        name: "pexpireat",
        arity: -3,
        flags: W,
    },
    Spec {
        name: "persist",
        arity: 2,
        flags: W,
    },
    Spec {
        name: "ttl",
        arity: 2,
        flags: R,
    },
    Spec {
        name: "pttl",
        arity: 2,
        flags: R,
    },
    Spec {
        name: "flushall",
        arity: -1,
        flags: W,
    },
    Spec {
        name: "flushdb",
        arity: -1,
        flags: W,
    },
    Spec {
        name: "dbsize",
        arity: 1,
        flags: R,
    },
    Spec {
        name: "select",
        arity: 2,
        flags: f(false, false, true, true, false, false),
    },
    Spec {
        name: "ping",
        arity: -1,
        flags: f(false, false, false, false, false, false),
    },
    Spec {
        name: "echo",
        arity: 2,
        flags: f(false, false, false, false, false, false),
    },
    Spec {
        name: "auth",
        arity: -2,
        flags: f(false, false, true, true, true, false),
    },
    Spec {
        name: "info",
        arity: -1,
        flags: ADMIN_STALE_LOADING,
    },
    Spec {
        name: "role",
        arity: 1,
        flags: ADMIN_STALE_LOADING,
    },
    Spec {
        name: "replicaof",
        arity: 3,
        flags: f(false, false, true, false, false, true),
    },
    Spec {
        name: "slaveof",
        arity: 3,
        flags: f(false, false, true, false, false, true),
    },
    Spec {
        name: "wait",
        arity: 3,
        flags: f(false, false, false, false, false, false),
    },
    Spec {
        name: "config",
        arity: -2,
        flags: ADMIN_STALE_LOADING,
    },
    Spec {
        name: "replconf",
        arity: -1,
        flags: ADMIN_STALE_LOADING,
    },
    Spec {
        name: "psync",
        arity: -3,
        flags: f(false, false, false, false, false, true),
    },
    Spec {
        name: "sync",
        arity: 1,
        flags: f(false, false, false, false, false, true),
    },
    Spec {
        name: "multi",
        arity: 1,
        flags: f(false, false, false, true, false, false),
    },
    Spec {
        name: "exec",
        arity: 1,
        flags: f(false, false, false, true, false, false),
    },
    Spec {
        name: "hello",
        arity: -1,
        flags: f(false, false, true, true, true, false),
    },
    Spec {
        name: "client",
        arity: -2,
        flags: ADMIN_STALE_LOADING,
    },
    Spec {
        name: "dbdigest",
        arity: 1,
        flags: f(false, true, false, false, false, false),
    },
];

pub(crate) fn lookup(name: &[u8]) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// What a propagated op carries: the command as the client sent it (encoded straight from its
/// arguments, without a copy), or a rewritten argv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Prop {
    Original,
    Rewritten(Vec<Vec<u8>>),
}

/// Who is running a command.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    Conn(ConnId),
    Local(ClientId),
    /// The replication stream from our master.
    Master,
}

pub(crate) struct Ctx {
    pub caller: Caller,
    pub db: usize,
    pub authenticated: bool,
    /// Ops to propagate when the command completes: (db or -1, what).
    pub ops: Vec<(i64, Prop)>,
    /// The command changed the dataset (`server.dirty` moved).
    pub dirty: bool,
    /// The command blocked (WAIT) instead of replying.
    pub blocked: bool,
}

impl Ctx {
    pub fn new(caller: Caller, db: usize, authenticated: bool) -> Ctx {
        Ctx {
            caller,
            db,
            authenticated,
            ops: Vec::new(),
            dirty: false,
            blocked: false,
        }
    }
}

fn err_int() -> Reply {
    Reply::err("ERR value is not an integer or out of range")
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Redis's glob matching for CONFIG GET patterns (`*`, `?`, no classes).
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match (pattern.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&pattern[1..], s) || (!s.is_empty() && glob(pattern, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &s[1..]),
        (Some(p), Some(c)) if p.eq_ignore_ascii_case(c) => glob(&pattern[1..], &s[1..]),
        _ => false,
    }
}

impl Node {
    /// A command from an in-process client. The reply completes after the command's CPU time,
    /// queued behind whatever the node is already busy with.
    pub fn handle_command(
        &mut self,
        now: SimTime,
        client: ClientId,
        args: &[&[u8]],
    ) -> CommandResult {
        let requirepass = self.cfg.requirepass.is_some();
        let state = self
            .clients
            .entry(client)
            .or_insert_with(|| super::node::Client {
                authenticated: !requirepass,
                ..Default::default()
            });
        let mut ctx = Ctx::new(Caller::Local(client), state.db, state.authenticated);
        let offset_before = self.master_repl_offset();
        let reply = self.call(now, &mut ctx, args);
        if self.master_repl_offset() != offset_before {
            // `c->woff`: what WAIT waits for is this client's last propagated write.
            self.note_client_write(client);
        }
        let state = self.clients.get_mut(&client).expect("inserted above");
        state.db = ctx.db;
        state.authenticated = ctx.authenticated;
        self.after_input(now);
        self.check_invariants();
        if ctx.blocked {
            return CommandResult::Blocked;
        }
        let start = self.busy_until.max(now);
        self.busy_until = start + SimDuration::from_nanos(self.cfg.cost.command_ns);
        CommandResult::Done {
            reply,
            at: self.busy_until,
        }
    }

    /// An in-process client went away: its state (selected db, WAIT offset) is dropped.
    pub fn handle_client_closed(&mut self, client: ClientId) {
        self.clients.remove(&client);
    }

    /// A command on a network connection.
    pub(crate) fn conn_command(&mut self, now: SimTime, id: ConnId, args: &[&[u8]]) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.last_cmd = lower(args[0]);
        let is_replica = matches!(c.role, Role::Replica(_));
        let name = lower(args[0]);
        // REPLCONF, PSYNC and SYNC need the connection itself.
        let reply = match name.as_str() {
            "replconf" if c.authenticated || self.cfg.requirepass.is_none() => {
                self.replconf_command(now, id, args)
            }
            "psync" | "sync" if c.authenticated && !is_replica => self.sync_command(now, id, args),
            "psync" | "sync" if is_replica => None,
            _ => {
                let (db, authenticated) = (c.db, c.authenticated);
                let mut ctx = Ctx::new(Caller::Conn(id), db, authenticated);
                let reply = self.call(now, &mut ctx, args);
                if let Some(c) = self.conns.get_mut(&id) {
                    c.db = ctx.db;
                    c.authenticated = ctx.authenticated;
                    c.decoder.authenticated = ctx.authenticated;
                }
                Some(reply)
            }
        };
        if let Some(reply) = reply {
            let Some(c) = self.conns.get(&id) else { return };
            if c.replica().is_some() {
                // A replica must never get a reply on the replication link (networking.c).
                let cmd = c.last_cmd.clone();
                let info = self.client_info(
                    c.client_id,
                    &format!("{}:{}", c.peer_ip, c.peer_port),
                    "S",
                    c.db,
                    &cmd,
                );
                self.log(
                    now,
                    Level::Warning,
                    format!(
                        "Replica generated a reply to command '{cmd}', disconnecting it: {info}"
                    ),
                );
                self.close_conn(now, id);
                return;
            }
            self.reply_to(id, &reply);
        }
    }

    /// `processCommand` + `call`: checks, execution, propagation.
    pub(crate) fn call(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        self.stats.total_commands_processed += 1;
        let Some(spec) = lookup(args[0]) else {
            let rest: Vec<String> = args[1..]
                .iter()
                .take(8)
                .map(|a| format!("'{}' ", String::from_utf8_lossy(a)))
                .collect();
            return Reply::err(format!(
                "ERR unknown command '{}', with args beginning with: {}",
                String::from_utf8_lossy(args[0]),
                rest.concat()
            ));
        };
        let argc = args.len() as i32;
        if (spec.arity > 0 && argc != spec.arity) || argc < -spec.arity {
            return Reply::err(format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
        }
        let from_master = ctx.caller == Caller::Master;
        if !from_master {
            if let Some(e) = self.check_command(ctx, spec) {
                return e;
            }
        }
        // The ops buffer is the node's, reused from command to command.
        ctx.ops = std::mem::take(&mut self.ops_scratch);
        let reply = self.exec(now, ctx, spec, args);
        let mut ops = std::mem::take(&mut ctx.ops);
        if !ops.is_empty() {
            self.propagate_unit(now, &ops, args);
            ops.clear();
        }
        self.ops_scratch = ops;
        reply
    }

    /// The refusals of `processCommand`, in Redis's order.
    fn check_command(&self, ctx: &Ctx, spec: &Spec) -> Option<Reply> {
        let fl = spec.flags;
        if self.cfg.requirepass.is_some() && !ctx.authenticated && !fl.no_auth {
            return Some(Reply::err("NOAUTH Authentication required."));
        }
        let (min, lag) = (
            self.cfg.min_replicas_to_write,
            self.cfg.min_replicas_max_lag_secs,
        );
        if self.is_master() && min > 0 && lag > 0 && fl.write && self.good_replicas < min {
            return Some(Reply::err("NOREPLICAS Not enough good replicas to write."));
        }
        if !self.is_master() && self.cfg.replica_read_only && fl.write {
            return Some(Reply::err(
                "READONLY You can't write against a read only replica.",
            ));
        }
        if !self.is_master()
            && self.repl_state() != super::state::ReplState::Connected
            && !self.cfg.replica_serve_stale_data
            && !fl.stale
        {
            return Some(Reply::err(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ));
        }
        if let Some(l) = &self.loading {
            if (!l.async_loading && !fl.loading) || (l.async_loading && fl.no_async_loading) {
                return Some(Reply::err("LOADING Redis is loading the dataset in memory"));
            }
        }
        if let Caller::Conn(id) = ctx.caller {
            if self.conns.get(&id).is_some_and(|c| c.replica().is_some()) && (fl.write || fl.read) {
                return Some(Reply::err("ERR Replica can't interact with the keyspace"));
            }
        }
        None
    }

    fn now_ms(now: SimTime) -> u64 {
        unix_ms(now)
    }

    /// Whether `key` is logically expired for this caller, deleting it (and queueing `DEL`) when
    /// this node is a master: `expireIfNeeded`.
    fn expire_if_needed(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8]) -> bool {
        let db = ctx.db;
        let Some(e) = self.keyspace.db(db).get(key) else {
            return false;
        };
        let Some(at) = e.expire_at_ms else {
            return false;
        };
        if at > Self::now_ms(now) {
            return false;
        }
        if !self.is_master() {
            // The master's stream decides; for the master client a key is never expired.
            return ctx.caller != Caller::Master;
        }
        self.keyspace.db_mut(db).remove(key);
        self.stats.expired_keys += 1;
        let del: &[u8] = if self.cfg.lazyfree_lazy_expire {
            b"UNLINK"
        } else {
            b"DEL"
        };
        ctx.ops
            .push((db as i64, Prop::Rewritten(vec![del.to_vec(), key.to_vec()])));
        true
    }

    fn get_value(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>> {
        if self.expire_if_needed(now, ctx, key) {
            return None;
        }
        self.keyspace.db(ctx.db).get(key).map(|e| e.value.clone())
    }

    fn exists(&mut self, now: SimTime, ctx: &mut Ctx, key: &[u8]) -> bool {
        !self.expire_if_needed(now, ctx, key) && self.keyspace.db(ctx.db).contains(key)
    }

    fn propagate_as(&self, ctx: &mut Ctx, what: Prop) {
        ctx.dirty = true;
        if ctx.caller != Caller::Master {
            ctx.ops.push((ctx.db as i64, what));
        }
    }

    fn exec(&mut self, now: SimTime, ctx: &mut Ctx, spec: &Spec, args: &[&[u8]]) -> Reply {
        let a = |i: usize| args[i];
        match spec.name {
            "get" => match self.get_value(now, ctx, a(1)) {
                Some(v) => Reply::Bulk(v),
                None => Reply::Null,
            },
            "set" => self.set_command(now, ctx, args),
            "del" => {
                let mut n = 0;
                for k in &args[1..] {
                    self.expire_if_needed(now, ctx, k);
                    if self.keyspace.db_mut(ctx.db).remove(k).is_some() {
                        n += 1;
                    }
                }
                if n > 0 {
                    self.propagate_as(ctx, Prop::Original);
                }
                Reply::Integer(n)
            }
            "incr" | "incrby" => {
                let by = if spec.name == "incr" {
                    1
                } else {
                    match string2ll(a(2)) {
                        Some(v) => v,
                        None => return err_int(),
                    }
                };
                self.expire_if_needed(now, ctx, a(1));
                let (cur, exp) = match self.keyspace.db(ctx.db).get(a(1)) {
                    Some(e) => match string2ll(&e.value) {
                        Some(v) => (v, e.expire_at_ms),
                        None => return err_int(),
                    },
                    None => (0, None),
                };
                let Some(new) = cur.checked_add(by) else {
                    return Reply::err("ERR increment or decrement would overflow");
                };
                self.keyspace
                    .db_mut(ctx.db)
                    .set(a(1), new.to_string().as_bytes(), exp);
                self.propagate_as(ctx, Prop::Original);
                Reply::Integer(new)
            }
            "append" => {
                self.expire_if_needed(now, ctx, a(1));
                let db = self.keyspace.db_mut(ctx.db);
                let appended = db.update(a(1), |e| {
                    e.value.extend_from_slice(a(2));
                    e.value.len()
                });
                let len = appended.unwrap_or_else(|| {
                    db.set(a(1), a(2), None);
                    a(2).len()
                });
                self.propagate_as(ctx, Prop::Original);
                Reply::Integer(len as i64)
            }
            "mset" => {
                if args.len() % 2 == 0 {
                    return Reply::err("ERR wrong number of arguments for 'mset' command");
                }
                for kv in args[1..].chunks(2) {
                    self.keyspace.db_mut(ctx.db).set(kv[0], kv[1], None);
                }
                self.propagate_as(ctx, Prop::Original);
                Reply::ok()
            }
            "exists" => {
                let mut n = 0;
                for k in &args[1..] {
                    if self.exists(now, ctx, k) {
                        n += 1;
                    }
                }
                Reply::Integer(n)
            }
            "expire" | "pexpire" | "pexpireat" => self.expire_command(now, ctx, spec.name, args),
            "persist" => {
                // `persistCommand`: 1 and propagated only when a timeout was removed.
                if !self.exists(now, ctx, a(1)) {
                    return Reply::Integer(0);
                }
                let removed = self
                    .keyspace
                    .db_mut(ctx.db)
                    .update(a(1), |e| e.expire_at_ms.take().is_some())
                    .unwrap_or(false);
                if removed {
                    self.propagate_as(ctx, Prop::Original);
                }
                Reply::Integer(i64::from(removed))
            }
            "ttl" | "pttl" => {
                if !self.exists(now, ctx, a(1)) {
                    return Reply::Integer(-2);
                }
                match self
                    .keyspace
                    .db(ctx.db)
                    .get(a(1))
                    .and_then(|e| e.expire_at_ms)
                {
                    None => Reply::Integer(-1),
                    Some(at) => {
                        let ms = at.saturating_sub(Self::now_ms(now)) as i64;
                        Reply::Integer(if spec.name == "ttl" {
                            (ms + 500) / 1000
                        } else {
                            ms
                        })
                    }
                }
            }
            "flushall" => {
                self.keyspace.flush();
                ctx.dirty = true;
                if ctx.caller != Caller::Master {
                    ctx.ops.push((ctx.db as i64, Prop::Original));
                }
                Reply::ok()
            }
            "flushdb" => {
                self.keyspace.db_mut(ctx.db).clear();
                self.propagate_as(ctx, Prop::Original);
                Reply::ok()
            }
            "dbsize" => Reply::Integer(self.keyspace.db(ctx.db).len() as i64),
            "dbdigest" => Reply::Bulk(format!("{:016x}", self.keyspace.digest()).into_bytes()),
            "select" => match string2ll(a(1)) {
                None => err_int(),
                Some(n) if n < 0 || n as u64 >= self.cfg.databases => {
                    Reply::err("ERR DB index is out of range")
                }
                Some(n) => {
                    ctx.db = n as usize;
                    Reply::ok()
                }
            },
            "ping" => match args.len() {
                1 => Reply::Simple("PONG".into()),
                2 => Reply::Bulk(args[1].to_vec()),
                _ => Reply::err("ERR wrong number of arguments for 'ping' command"),
            },
            "echo" => Reply::Bulk(args[1].to_vec()),
            "auth" => self.auth_command(ctx, args),
            "info" => {
                let sections: Vec<String> = args[1..].iter().map(|s| lower(s)).collect();
                Reply::Bulk(self.info(now, &sections).into_bytes())
            }
            "role" => self.role_reply(),
            "replicaof" | "slaveof" => self.replicaof_command(now, ctx, args),
            "wait" => self.wait_command(now, ctx, args),
            "config" => self.config_command(now, args),
            "multi" | "exec" => {
                if ctx.caller == Caller::Master {
                    Reply::ok()
                } else {
                    Reply::err("ERR MULTI/EXEC are not supported by this simulator for clients")
                }
            }
            "hello" => self.hello_command(ctx, args),
            "client" => self.client_command(ctx, args),
            "replconf" | "psync" | "sync" => Reply::err("ERR Command is not valid here"),
            other => unreachable!("command {other} is in the table but not executed"),
        }
    }

    fn set_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let (key, value) = (args[1], args[2]);
        let (mut nx, mut xx, mut get, mut keepttl) = (false, false, false, false);
        let mut expire: Option<(String, i64)> = None;
        let mut i = 3;
        while i < args.len() {
            let opt = lower(args[i]);
            match opt.as_str() {
                "nx" if !xx => nx = true,
                "xx" if !nx => xx = true,
                "get" => get = true,
                "keepttl" if expire.is_none() => keepttl = true,
                "ex" | "px" | "exat" | "pxat"
                    if expire.is_none() && !keepttl && i + 1 < args.len() =>
                {
                    let Some(v) = string2ll(args[i + 1]) else {
                        return err_int();
                    };
                    expire = Some((opt, v));
                    i += 1;
                }
                _ => return Reply::err("ERR syntax error"),
            }
            i += 1;
        }
        let now_ms = Self::now_ms(now) as i64;
        // SET with a relative expiry propagates as `SET key value PXAT <ms>` (t_string.c).
        let at_ms = match &expire {
            None => None,
            Some((unit, v)) => {
                let ms = match unit.as_str() {
                    "ex" => v.checked_mul(1000).and_then(|x| x.checked_add(now_ms)),
                    "px" => v.checked_add(now_ms),
                    "exat" => v.checked_mul(1000),
                    _ => Some(*v),
                };
                match ms {
                    Some(ms) if *v > 0 && ms > 0 => Some(ms as u64),
                    _ => return Reply::err("ERR invalid expire time in 'set' command"),
                }
            }
        };
        let what = match (&expire, at_ms) {
            (Some((unit, _)), Some(ms)) if unit != "pxat" => Prop::Rewritten(vec![
                b"SET".to_vec(),
                key.to_vec(),
                value.to_vec(),
                b"PXAT".to_vec(),
                ms.to_string().into_bytes(),
            ]),
            _ => Prop::Original,
        };
        if !(get || nx || xx || keepttl) {
            // The common case, in one table lookup: a key found expired is deleted first, and that
            // deletion propagates as DEL before the SET (`expireIfNeeded` then the write).
            let expired = self.keyspace.db_mut(ctx.db).set_reporting_expired(
                key,
                value,
                at_ms,
                Self::now_ms(now),
            );
            if expired && self.is_master() && ctx.caller != Caller::Master {
                self.stats.expired_keys += 1;
                let del: &[u8] = if self.cfg.lazyfree_lazy_expire {
                    b"UNLINK"
                } else {
                    b"DEL"
                };
                ctx.ops.push((
                    ctx.db as i64,
                    Prop::Rewritten(vec![del.to_vec(), key.to_vec()]),
                ));
            }
            self.propagate_as(ctx, what);
            return Reply::ok();
        }
        let old = self.get_value(now, ctx, key);
        let exists = old.is_some();
        let old_reply = || match &old {
            Some(v) => Reply::Bulk(v.clone()),
            None => Reply::Null,
        };
        if (nx && exists) || (xx && !exists) {
            return if get { old_reply() } else { Reply::Null };
        }
        let keep = if keepttl {
            self.keyspace
                .db(ctx.db)
                .get(key)
                .and_then(|e| e.expire_at_ms)
        } else {
            None
        };
        self.keyspace.db_mut(ctx.db).set(key, value, at_ms.or(keep));
        self.propagate_as(ctx, what);
        if get {
            old_reply()
        } else {
            Reply::ok()
        }
    }

    fn expire_command(&mut self, now: SimTime, ctx: &mut Ctx, name: &str, args: &[&[u8]]) -> Reply {
        let Some(v) = string2ll(args[2]) else {
            return err_int();
        };
        let now_ms = Self::now_ms(now) as i64;
        let when = match name {
            "expire" => v.checked_mul(1000).and_then(|x| x.checked_add(now_ms)),
            "pexpire" => v.checked_add(now_ms),
            _ => Some(v),
        };
        let Some(when) = when else {
            return Reply::err(format!("ERR invalid expire time in '{name}' command"));
        };
        let mut flag = None;
        for opt in &args[3..] {
            match lower(opt).as_str() {
                o @ ("nx" | "xx" | "gt" | "lt") if flag.is_none() => flag = Some(o.to_string()),
                _ => {
                    return Reply::err(format!(
                        "ERR Unsupported option {}",
                        String::from_utf8_lossy(opt)
                    ))
                }
            }
        }
        if !self.exists(now, ctx, args[1]) {
            return Reply::Integer(0);
        }
        let cur = self
            .keyspace
            .db(ctx.db)
            .get(args[1])
            .and_then(|e| e.expire_at_ms);
        let ok = match flag.as_deref() {
            Some("nx") => cur.is_none(),
            Some("xx") => cur.is_some(),
            Some("gt") => cur.is_some_and(|c| when > c as i64),
            Some("lt") => cur.is_none_or(|c| when < c as i64),
            _ => true,
        };
        if !ok {
            return Reply::Integer(0);
        }
        if when <= now_ms && self.is_master() {
            // Already in the past: delete, propagated as DEL (or UNLINK).
            self.keyspace.db_mut(ctx.db).remove(args[1]);
            let del: &[u8] = if self.cfg.lazyfree_lazy_expire {
                b"UNLINK"
            } else {
                b"DEL"
            };
            self.propagate_as(ctx, Prop::Rewritten(vec![del.to_vec(), args[1].to_vec()]));
            return Reply::Integer(1);
        }
        self.keyspace
            .db_mut(ctx.db)
            .update(args[1], |e| e.expire_at_ms = Some(when.max(0) as u64));
        let mut argv: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        argv[0] = b"PEXPIREAT".to_vec();
        argv[2] = when.to_string().into_bytes();
        self.propagate_as(ctx, Prop::Rewritten(argv));
        Reply::Integer(1)
    }

    pub(crate) fn auth_command(&mut self, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let (user, pass): (&[u8], &[u8]) = match args.len() {
            2 => (b"default", args[1]),
            3 => (args[1], args[2]),
            _ => return Reply::err("ERR syntax error"),
        };
        let Some(required) = &self.cfg.requirepass else {
            return Reply::err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        };
        if user == b"default" && pass == required.as_bytes() {
            ctx.authenticated = true;
            Reply::ok()
        } else {
            Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    fn config_command(&mut self, now: SimTime, args: &[&[u8]]) -> Reply {
        match lower(args[1]).as_str() {
            "get" if args.len() >= 3 => {
                let mut out = Vec::new();
                for name in super::config::DIRECTIVES {
                    if args[2..].iter().any(|p| glob(p, name.as_bytes())) {
                        out.push(Reply::bulk(name));
                        out.push(Reply::bulk(self.cfg.get(name).unwrap_or_default()));
                    }
                }
                Reply::Array(out)
            }
            "set" if args.len() >= 4 && args.len() % 2 == 0 => {
                let mut cfg = self.cfg.clone();
                for pair in args[2..].chunks(2) {
                    if let Err(e) = cfg.set(
                        &String::from_utf8_lossy(pair[0]),
                        &String::from_utf8_lossy(pair[1]),
                        true,
                    ) {
                        return Reply::err(format!("ERR {e}"));
                    }
                }
                self.cfg = cfg;
                self.refresh_good_replicas(now);
                Reply::ok()
            }
            "resetstat" => {
                self.stats = Default::default();
                Reply::ok()
            }
            _ => Reply::err(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
                String::from_utf8_lossy(args[1])
            )),
        }
    }

    /// Feeds one execution unit's ops into the stream (`propagatePendingCommands`). `args` is the
    /// executed command, for ops that propagate it unchanged.
    pub(crate) fn propagate_unit(&mut self, now: SimTime, ops: &[(i64, Prop)], args: &[&[u8]]) {
        if !self.is_master() || (self.backlog.is_none() && !self.has_replicas()) {
            return;
        }
        let wrap = ops.len() > 1;
        let mut bytes = std::mem::take(&mut self.prop_buf);
        bytes.clear();
        if wrap {
            self.encode_op(&mut bytes, -1, &[b"MULTI".as_slice()]);
        }
        for (db, what) in ops {
            match what {
                Prop::Original => self.encode_op(&mut bytes, *db, args),
                Prop::Rewritten(argv) => self.encode_op(&mut bytes, *db, argv),
            }
        }
        if wrap {
            self.encode_op(&mut bytes, -1, &[b"EXEC".as_slice()]);
        }
        self.propagate_raw(now, &bytes);
        self.prop_buf = bytes;
    }

    /// `replicationFeedSlaves` for one command: `SELECT` if needed, then the command.
    pub(crate) fn propagate_op(&mut self, now: SimTime, db: i64, argv: &[Vec<u8>]) {
        let mut bytes = Vec::with_capacity(64);
        self.encode_op(&mut bytes, db, argv);
        self.propagate_raw(now, &bytes);
    }

    /// Encodes one op, preceded by `SELECT` when its database is not the stream's.
    fn encode_op<A: AsRef<[u8]>>(&mut self, out: &mut Vec<u8>, db: i64, argv: &[A]) {
        if db >= 0 && db != self.slaveseldb {
            let n = db.to_string();
            encode_command(&[b"SELECT".as_slice(), n.as_bytes()], out);
            self.slaveseldb = db;
        }
        encode_command(argv, out);
    }

    /// Records the WAIT offset of the client that just wrote.
    pub(crate) fn note_client_write(&mut self, client: ClientId) {
        let off = self.master_repl_offset();
        if let Some(c) = self.clients.get_mut(&client) {
            c.woff = off;
        }
    }

    /// Runs a command from a fault or an operator, as a client on the node itself, logging
    /// any error reply. Returns the reply.
    pub fn operator_command(&mut self, now: SimTime, args: &[Vec<u8>]) -> Reply {
        let client = ClientId(u64::MAX);
        let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        match self.handle_command(now, client, &argv) {
            CommandResult::Done { reply, .. } => reply,
            CommandResult::Blocked => Reply::Null,
        }
    }

    pub(crate) fn log_command_error(&mut self, now: SimTime, args: &[&[u8]], reply: &Reply) {
        if let Reply::Error(e) = reply {
            let cmd = super::resp::args_to_string(args);
            self.log(now, Level::Warning, format!("== CRITICAL == This replica is sending an error to its master: '{e}' after processing the command '{cmd}'"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_patterns_glob() {
        assert!(glob(b"repl-*", b"repl-timeout"));
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"repl-?imeout", b"repl-timeout"));
        assert!(!glob(b"repl-*", b"masterauth"));
    }
}
