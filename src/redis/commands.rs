//! The command table, the checks of `processCommand` in Redis's order, and propagation of writes
//! with Redis's rewriting rules.
//!
//! The table is Redis's `redisCommandTable` (commands.def) cut down to what the node runs: each
//! entry has Redis's name, arity and flags, and one handler. `call` looks a command up, checks
//! its arity and the refusals of `processCommand`, and calls the handler. The handlers live in
//! `string` (t_string.c), `db` (db.c and expire.c) and `server` (the server and connection
//! commands); REPLCONF, PSYNC, SYNC, WAIT and REPLICAOF are the replication code's, in
//! master.rs and replica.rs.
//!
//! Propagation follows `call()`/`propagatePendingCommands`: a command that changed the dataset
//! queues its (possibly rewritten) argv, and lazy-expiry deletions queue `DEL` before it; at the
//! end of the command, one op is fed as is and several are wrapped in `MULTI`/`EXEC`. Each op is
//! preceded by `SELECT` when its database differs from the stream's (`slaveseldb`).

mod db;
pub(crate) mod multi;
mod server;
mod string;

use super::config::RedisVersion;
use super::log::{unix_ms, Level};
use super::node::{ClientId, CommandResult, ConnId, Node};
use super::resp::{encode_command, Reply};
use crate::time::{SimDuration, SimTime};

/// Command flags, named after Redis's `CMD_*` flags (server.h). Only the flags that the checks
/// of `processCommand` read here are defined.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags(u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// `CMD_WRITE`: may change the dataset. Refused on a read-only replica and while
    /// min-replicas-to-write is not met.
    pub const WRITE: Flags = Flags(1 << 0);
    /// `CMD_READONLY`: reads the keyspace.
    pub const READONLY: Flags = Flags(1 << 1);
    /// `CMD_STALE`: allowed while a replica's link is down and `replica-serve-stale-data` is no.
    pub const STALE: Flags = Flags(1 << 2);
    /// `CMD_LOADING`: allowed while the dataset is loading.
    pub const LOADING: Flags = Flags(1 << 3);
    /// `CMD_NO_AUTH`: allowed before AUTH.
    pub const NO_AUTH: Flags = Flags(1 << 4);
    /// `CMD_NO_ASYNC_LOADING`: refused during an async (swapdb) load, which allows other
    /// commands.
    pub const NO_ASYNC_LOADING: Flags = Flags(1 << 5);

    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// `flags!(STALE | LOADING)`: a const union of named flags, as `CMD_STALE|CMD_LOADING` is in C.
macro_rules! flags {
    ($($flag:ident)|+) => {
        Flags::NONE$(.union(Flags::$flag))+
    };
}

/// A command's handler (`proc` in Redis's `redisCommand`). It runs after every check passed,
/// with an argc its arity accepts.
pub(crate) type Proc = fn(&mut Node, SimTime, &mut Ctx, &[&[u8]]) -> Reply;

/// One entry of the command table.
pub(crate) struct Command {
    /// Redis's full name, lowercase, as replies and logs give it: `config|get` for a subcommand.
    pub name: &'static str,
    /// Redis's arity: positive is the exact argc (the name included), negative the least. A
    /// subcommand's counts its container's name too.
    pub arity: i32,
    pub flags: Flags,
    /// The handler; none for a container command, whose subcommands have theirs.
    pub proc: Option<Proc>,
    /// A container command's subcommands (CONFIG's), each with its own arity and flags.
    pub subcommands: &'static [Command],
}

impl Command {
    const fn new(name: &'static str, arity: i32, flags: Flags, proc: Proc) -> Command {
        Command {
            name,
            arity,
            flags,
            proc: Some(proc),
            subcommands: &[],
        }
    }

    /// A container: with no argument beyond its name it answers the arity error, and any
    /// argument names a subcommand (Redis's container has arity -2 and no flags).
    const fn container(name: &'static str, subcommands: &'static [Command]) -> Command {
        Command {
            name,
            arity: -2,
            flags: Flags::NONE,
            proc: None,
            subcommands,
        }
    }

    /// Runs the handler, once every check passed.
    fn run(&self, node: &mut Node, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        // A container's arity refuses its name alone, and a longer argv looks a subcommand up.
        let proc = self
            .proc
            .expect("a container command never passes its arity check");
        proc(node, now, ctx, args)
    }

    /// Whether `argc` (the name included) fits the arity: `commandCheckArity`.
    pub fn accepts(&self, argc: usize) -> bool {
        let arity = self.arity.unsigned_abs() as usize;
        if self.arity > 0 {
            argc == arity
        } else {
            argc >= arity
        }
    }
}

/// The commands the node runs, with the arity and flags of Redis 7.2's src/commands/*.json
/// (only the flags [`Flags`] defines). DBDIGEST is not Redis's: it answers the dataset digest
/// that checkers compare, as `DEBUG DIGEST` would.
#[rustfmt::skip]
static COMMANDS: &[Command] = &[
    // The most frequent commands first: lookup is a scan.
    Command::new("get",       2,  flags!(READONLY),                  Node::get_command),
    Command::new("set",       -3, flags!(WRITE),                     Node::set_command),
    Command::new("del",       -2, flags!(WRITE),                     Node::del_command),
    Command::new("incr",      2,  flags!(WRITE),                     Node::incr_command),
    Command::new("incrby",    3,  flags!(WRITE),                     Node::incrby_command),
    Command::new("append",    3,  flags!(WRITE),                     Node::append_command),
    Command::new("mset",      -3, flags!(WRITE),                     Node::mset_command),
    Command::new("exists",    -2, flags!(READONLY),                  Node::exists_command),
    Command::new("expire",    -3, flags!(WRITE),                     Node::expire_command),
    Command::new("pexpire",   -3, flags!(WRITE),                     Node::pexpire_command),
    Command::new("pexpireat", -3, flags!(WRITE),                     Node::pexpireat_command),
    Command::new("ttl",       2,  flags!(READONLY),                  Node::ttl_command),
    Command::new("pttl",      2,  flags!(READONLY),                  Node::pttl_command),
    Command::new("flushall",  -1, flags!(WRITE),                     Node::flushall_command),
    Command::new("flushdb",   -1, flags!(WRITE),                     Node::flushdb_command),
    Command::new("dbsize",    1,  flags!(READONLY),                  Node::dbsize_command),
    Command::new("select",    2,  flags!(STALE | LOADING),           Node::select_command),
    Command::new("ping",      -1, Flags::NONE,                       Node::ping_command),
    Command::new("echo",      2,  flags!(STALE | LOADING),           Node::echo_command),
    Command::new("auth",      -2, flags!(STALE | LOADING | NO_AUTH), Node::auth_command),
    Command::new("info",      -1, flags!(STALE | LOADING),           Node::info_command),
    Command::new("role",      1,  flags!(STALE | LOADING),           Node::role_command),
    Command::new("replicaof", 3,  flags!(STALE | NO_ASYNC_LOADING),  Node::replicaof_command),
    Command::new("slaveof",   3,  flags!(STALE | NO_ASYNC_LOADING),  Node::replicaof_command),
    Command::new("wait",      3,  Flags::NONE,                       Node::wait_command),
    Command::container("config", CONFIG_SUBCOMMANDS),
    Command::new("replconf",  -1, flags!(STALE | LOADING),           Node::replconf_proc),
    Command::new("psync",     -3, flags!(NO_ASYNC_LOADING),          Node::sync_proc),
    Command::new("sync",      1,  flags!(NO_ASYNC_LOADING),          Node::sync_proc),
    Command::new("multi",     1,  flags!(STALE | LOADING),           Node::multi_command),
    Command::new("exec",      1,  flags!(STALE | LOADING),           Node::exec_command),
    Command::new("discard",   1,  flags!(STALE | LOADING),           Node::discard_command),
    Command::new("persist",   2,  flags!(WRITE),                     Node::persist_command),
    Command::new("hello",     -1, flags!(STALE | LOADING | NO_AUTH), Node::hello_command),
    Command::new("client",    -2, flags!(STALE | LOADING),           Node::client_command),
    Command::new("dbdigest",  1,  flags!(READONLY),                  Node::dbdigest_command),
    Command::new("publish",     3,  flags!(STALE | LOADING),         Node::publish_command),
    Command::new("subscribe",   -2, flags!(STALE | LOADING),         Node::subscribe_command),
    Command::new("unsubscribe", -1, flags!(STALE | LOADING),         Node::unsubscribe_command),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: &[Command] = &[
    Command::new("config|get",       -3, flags!(STALE | LOADING), Node::config_get_command),
    Command::new("config|set",       -4, flags!(STALE | LOADING), Node::config_set_command),
    Command::new("config|resetstat", 2,  flags!(STALE | LOADING), Node::config_resetstat_command),
    Command::new("config|rewrite",   2,  flags!(STALE | LOADING), Node::config_rewrite_command),
];

/// The top-level command named `name`, in any case, without allocating.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
}

/// `lookupCommand`: the command `args` names, or for a container given an argument, the
/// subcommand that argument names (none if it names none).
pub(crate) fn lookup_argv(args: &[&[u8]]) -> Option<&'static Command> {
    let base = lookup(args[0])?;
    if args.len() == 1 || base.subcommands.is_empty() {
        return Some(base);
    }
    // A subcommand's full name is its container's, `|`, then its own.
    let own = base.name.len() + 1;
    base.subcommands
        .iter()
        .find(|c| c.name.as_bytes()[own..].eq_ignore_ascii_case(args[1]))
}

/// Every command in the table, for tests that go through all of them.
#[cfg(test)]
pub(crate) fn all() -> &'static [Command] {
    COMMANDS
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
    /// The command answers nothing now: `REPLCONF ACK` and `GETACK`, a PSYNC or SYNC that
    /// wrote its own `+FULLRESYNC`/`+CONTINUE`, or one from a connection already a replica.
    pub no_reply: bool,
    /// The command got past `processCommand`'s refusals and ran.
    pub executed: bool,
    /// The command runs inside EXEC: the client is still `CLIENT_MULTI` and may not block.
    pub in_exec: bool,
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
            no_reply: false,
            executed: false,
            in_exec: false,
        }
    }
}

fn err_int() -> Reply {
    Reply::err("ERR value is not an integer or out of range")
}

/// The reply to an argc the command does not take: `addReplyErrorArity`.
fn arity_error(name: &str) -> Reply {
    Reply::err(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// `rejectCommand`: the refusal, except that a refused EXEC discards its transaction and gives
/// the refusal as the reason (`execCommandAbort`). Redis's refusals that read `ERR` are texts
/// without an error code of their own, to which the reply adds `ERR`; as a reason they have none.
fn reject(cmd: &Command, error: Reply) -> Reply {
    match &error {
        Reply::Error(e) if cmd.name == "exec" => {
            let reason = e.strip_prefix("ERR ").unwrap_or(e);
            Reply::err(format!(
                "EXECABORT Transaction discarded because of: {reason}"
            ))
        }
        _ => error,
    }
}

/// The reply to a name the table does not have: `commandCheckExistence`.
fn unknown_command(args: &[&[u8]]) -> Reply {
    if lookup(args[0]).is_some() {
        // A container command whose argument names none of its subcommands.
        let sub = &args[1][..args[1].len().min(128)];
        return Reply::err(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(sub),
            String::from_utf8_lossy(args[0]).to_ascii_uppercase()
        ));
    }
    let rest: Vec<String> = args[1..]
        .iter()
        .take(8)
        .map(|a| format!("'{}' ", String::from_utf8_lossy(a)))
        .collect();
    Reply::err(format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(args[0]),
        rest.concat()
    ))
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
        assert!(!args.is_empty(), "a command has at least its name");
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
        if self.moves_wait_offset(&ctx, offset_before) {
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

    /// A command on a network connection (the decoder never yields an empty one).
    pub(crate) fn conn_command(&mut self, now: SimTime, id: ConnId, args: &[&[u8]]) {
        let requirepass = self.cfg.requirepass.is_some();
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        // The buffer is reused: most connections send the same command again and again.
        c.last_cmd.clear();
        c.last_cmd.extend(
            String::from_utf8_lossy(args[0])
                .chars()
                .map(|ch| ch.to_ascii_lowercase()),
        );
        let mut ctx = Ctx::new(Caller::Conn(id), c.db, c.authenticated);
        // REPLCONF, PSYNC and SYNC from a connection allowed to send them go to their handlers
        // without the refusals of `processCommand` and without counting as processed commands.
        // A connection that is already a replica may send PSYNC and SYNC: they are ignored. An
        // argc the arity refuses takes the common path, which answers the arity error.
        let direct = lookup(args[0]).filter(|cmd| {
            cmd.accepts(args.len())
                && match cmd.name {
                    "replconf" => c.authenticated || !requirepass,
                    "psync" | "sync" => c.authenticated || c.replica().is_some(),
                    _ => false,
                }
        });
        let reply = match direct {
            Some(cmd) => cmd.run(self, now, &mut ctx, args),
            None => {
                let offset_before = self.master_repl_offset();
                let reply = self.call(now, &mut ctx, args);
                let moved = self.moves_wait_offset(&ctx, offset_before);
                let offset = self.master_repl_offset();
                if let Some(c) = self.conns.get_mut(&id) {
                    c.db = ctx.db;
                    c.authenticated = ctx.authenticated;
                    c.decoder.authenticated = ctx.authenticated;
                    if moved {
                        c.woff = offset;
                    }
                }
                reply
            }
        };
        // A blocked WAIT is answered later (`Node::answer_wait`).
        if ctx.no_reply || ctx.blocked {
            return;
        }
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
                format!("Replica generated a reply to command '{cmd}', disconnecting it: {info}"),
            );
            self.close_conn(now, id);
            return;
        }
        self.reply_to(id, &reply);
    }

    /// `processCommand` + `call`: lookup, arity, the refusals in Redis's order, the handler,
    /// propagation.
    pub(crate) fn call(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        self.stats.total_commands_processed += 1;
        let Some(cmd) = lookup_argv(args) else {
            self.flag_multi(ctx.caller);
            return unknown_command(args);
        };
        if !cmd.accepts(args.len()) {
            self.flag_multi(ctx.caller);
            return reject(cmd, arity_error(cmd.name));
        }
        let in_multi = self.multi_of(ctx.caller).is_some();
        if ctx.caller != Caller::Master {
            // `is_write_command`: EXEC counts as a write when its transaction holds one.
            let queued_write =
                cmd.name == "exec" && self.multi_of(ctx.caller).is_some_and(|m| m.write);
            let flags = if queued_write {
                cmd.flags.union(Flags::WRITE)
            } else {
                cmd.flags
            };
            if let Some(e) = self.check_command(ctx, cmd.name, flags) {
                if cmd.name == "exec" {
                    // `execCommandAbort`: the refused EXEC discards the transaction.
                    if let Caller::Conn(id) = ctx.caller {
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.multi = None;
                        }
                    }
                } else {
                    self.flag_multi(ctx.caller);
                }
                return reject(cmd, e);
            }
        }
        if in_multi && !multi::runs_inside_multi(cmd.name) {
            // Counted when EXEC runs it, as Redis's `call()` counts it.
            self.stats.total_commands_processed -= 1;
            self.queue_multi(ctx.caller, args, cmd.flags.contains(Flags::WRITE));
            return Reply::Simple("QUEUED".into());
        }
        // The ops buffer is the node's, reused from command to command.
        ctx.ops = std::mem::take(&mut self.ops_scratch);
        ctx.executed = true;
        let reply = cmd.run(self, now, ctx, args);
        let mut ops = std::mem::take(&mut ctx.ops);
        if !ops.is_empty() {
            self.propagate_unit(now, &ops, args);
            ops.clear();
        }
        self.ops_scratch = ops;
        reply
    }

    /// The refusals of `processCommand` after the arity check, in Redis's order.
    fn check_command(&self, ctx: &Ctx, name: &str, flags: Flags) -> Option<Reply> {
        if self.cfg.requirepass.is_some() && !ctx.authenticated && !flags.contains(Flags::NO_AUTH) {
            return Some(Reply::err("NOAUTH Authentication required."));
        }
        let write = flags.contains(Flags::WRITE);
        let (min, lag) = (
            self.cfg.min_replicas_to_write,
            self.cfg.min_replicas_max_lag_secs,
        );
        if self.is_master() && min > 0 && lag > 0 && write && self.good_replicas < min {
            return Some(Reply::err("NOREPLICAS Not enough good replicas to write."));
        }
        if !self.is_master() && self.cfg.replica_read_only && write {
            return Some(Reply::err(
                "READONLY You can't write against a read only replica.",
            ));
        }
        if let Some(refusal) = self.subscribed_context_refusal(ctx.caller, name) {
            return Some(refusal);
        }
        if !self.is_master()
            && self.repl_state() != super::state::ReplState::Connected
            && !self.cfg.replica_serve_stale_data
            && !flags.contains(Flags::STALE)
        {
            return Some(Reply::err(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ));
        }
        if let Some(l) = &self.loading {
            let refused = if l.async_loading {
                flags.contains(Flags::NO_ASYNC_LOADING)
            } else {
                !flags.contains(Flags::LOADING)
            };
            if refused {
                return Some(Reply::err("LOADING Redis is loading the dataset in memory"));
            }
        }
        if let Caller::Conn(id) = ctx.caller {
            let keyspace = write || flags.contains(Flags::READONLY);
            if keyspace && self.conns.get(&id).is_some_and(|c| c.replica().is_some()) {
                return Some(Reply::err("ERR Replica can't interact with the keyspace"));
            }
        }
        None
    }

    fn now_ms(now: SimTime) -> u64 {
        unix_ms(now)
    }

    /// Marks the dataset changed and queues `what` for propagation, unless the command came
    /// from our master (whose stream is forwarded as it arrived).
    fn propagate_as(&self, ctx: &mut Ctx, what: Prop) {
        ctx.dirty = true;
        if ctx.caller != Caller::Master {
            ctx.ops.push((ctx.db as i64, what));
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

    /// Whether the command that just ran sets its client's WAIT offset (`c->woff`) to the
    /// current `master_repl_offset`. Redis 7.2 sets it after a command that propagated something
    /// (server.c: call); 7.0 after every command that ran, whatever it propagated (server.c:
    /// processCommand), so a WAIT after a read or a DEL that deleted nothing waits for the
    /// master's whole stream.
    pub(crate) fn moves_wait_offset(&self, ctx: &Ctx, offset_before: u64) -> bool {
        match self.cfg.redis_version {
            RedisVersion::V7_0 => ctx.executed,
            RedisVersion::V7_2 | RedisVersion::Valkey8_1 | RedisVersion::V8_0 => {
                self.master_repl_offset() != offset_before
            }
        }
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
