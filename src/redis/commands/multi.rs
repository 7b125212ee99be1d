//! MULTI, EXEC and DISCARD for connections (multi.c), as Sentinel sends them: every REPLICAOF it
//! issues is `MULTI`, `SLAVEOF`, `CONFIG REWRITE`, `CLIENT KILL TYPE normal`, `CLIENT KILL TYPE
//! pubsub`, `EXEC` (sentinel.c `sentinelSendSlaveOf`).
//!
//! Commands after MULTI pass the checks of `processCommand` and are queued (`+QUEUED`); a refused
//! one marks the transaction, which EXEC then discards (`EXECABORT`). EXEC runs the queue through
//! the handlers with no further checks, as `execCommand` calls `call()`, and replies with an
//! array of their replies. What the commands propagate is fed to the stream as one unit, wrapped
//! in MULTI/EXEC when there is more than one op (`propagatePendingCommands`).
//!
//! In-process clients have no transactions: they are open-loop generators of single commands.
//! WATCH is not modelled.

use super::{lookup_argv, Caller, Ctx, Prop};
use crate::redis::node::Node;
use crate::redis::resp::Reply;
use crate::time::SimTime;

/// A connection's transaction in progress (`mstate` and `CLIENT_DIRTY_EXEC`).
#[derive(Debug, Default)]
pub(crate) struct Multi {
    /// The queued commands, each as its argv.
    pub queued: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queueing: EXEC will discard the transaction.
    pub dirty_exec: bool,
    /// A queued command may write (`mstate.cmd_flags & CMD_WRITE`): EXEC is then checked as a
    /// write, so a read-only replica refuses it.
    pub write: bool,
}

/// The commands that run at once inside a transaction instead of being queued.
pub(super) fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

impl Node {
    /// The connection's transaction, if `caller` is a connection inside one.
    pub(super) fn multi_of(&mut self, caller: Caller) -> Option<&mut Multi> {
        match caller {
            Caller::Conn(id) => self.conns.get_mut(&id)?.multi.as_mut(),
            _ => None,
        }
    }

    /// `MULTI`.
    pub(super) fn multi_command(&mut self, _now: SimTime, ctx: &mut Ctx, _args: &[&[u8]]) -> Reply {
        match ctx.caller {
            // The stream's own MULTI/EXEC are delimited by `apply_stream`.
            Caller::Master => Reply::ok(),
            Caller::Local(_) => in_process_refusal(),
            Caller::Conn(id) => {
                let Some(c) = self.conns.get_mut(&id) else {
                    return Reply::ok();
                };
                if c.multi.is_some() {
                    return Reply::err("ERR MULTI calls can not be nested");
                }
                c.multi = Some(Multi::default());
                Reply::ok()
            }
        }
    }

    /// `DISCARD`.
    pub(super) fn discard_command(
        &mut self,
        _now: SimTime,
        ctx: &mut Ctx,
        _args: &[&[u8]],
    ) -> Reply {
        match ctx.caller {
            Caller::Conn(id) => match self.conns.get_mut(&id).and_then(|c| c.multi.take()) {
                Some(_) => Reply::ok(),
                None => Reply::err("ERR DISCARD without MULTI"),
            },
            Caller::Local(_) => in_process_refusal(),
            Caller::Master => Reply::ok(),
        }
    }

    /// `EXEC`: the queued commands in order, their replies in one array.
    pub(super) fn exec_command(&mut self, now: SimTime, ctx: &mut Ctx, _args: &[&[u8]]) -> Reply {
        let id = match ctx.caller {
            Caller::Conn(id) => id,
            Caller::Local(_) => return in_process_refusal(),
            Caller::Master => return Reply::ok(),
        };
        let Some(multi) = self.conns.get_mut(&id).and_then(|c| c.multi.take()) else {
            return Reply::err("ERR EXEC without MULTI");
        };
        if multi.dirty_exec {
            return Reply::err("EXECABORT Transaction discarded because of previous errors.");
        }
        let mut replies = Vec::with_capacity(multi.queued.len());
        let mut ops: Vec<(i64, Prop)> = Vec::new();
        for argv in &multi.queued {
            let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            // Queued commands were looked up and checked when they were queued.
            let cmd = lookup_argv(&args).expect("a queued command exists in the table");
            self.stats.total_commands_processed += 1;
            let mut inner = Ctx::new(ctx.caller, ctx.db, ctx.authenticated);
            let reply = cmd.run(self, now, &mut inner, &args);
            ctx.db = inner.db;
            ctx.authenticated = inner.authenticated;
            // Each op names its own command's argv: the unit holds several commands.
            ops.extend(inner.ops.into_iter().map(|(db, p)| {
                let p = match p {
                    Prop::Original => Prop::Rewritten(argv.clone()),
                    rewritten => rewritten,
                };
                (db, p)
            }));
            if !inner.no_reply {
                replies.push(reply);
            }
        }
        if !ops.is_empty() {
            self.propagate_unit(now, &ops, &[]);
        }
        Reply::Array(replies)
    }

    /// Queues `args` in `caller`'s transaction.
    pub(super) fn queue_multi(&mut self, caller: Caller, args: &[&[u8]], write: bool) {
        if let Some(m) = self.multi_of(caller) {
            m.queued.push(args.iter().map(|a| a.to_vec()).collect());
            m.write |= write;
        }
    }

    /// `flagTransaction`: a command refused inside a transaction dooms it.
    pub(super) fn flag_multi(&mut self, caller: Caller) {
        if let Some(m) = self.multi_of(caller) {
            m.dirty_exec = true;
        }
    }
}

fn in_process_refusal() -> Reply {
    Reply::err("ERR MULTI/EXEC are not supported by this simulator for in-process clients")
}
