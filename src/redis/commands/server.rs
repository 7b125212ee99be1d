//! Server and connection commands: PING, ECHO, AUTH, INFO, ROLE, CONFIG's subcommands, and the
//! table's entries for REPLCONF, PSYNC and SYNC, whose work is the master's (master.rs).

use super::{arity_error, Caller, Ctx};
use crate::redis::node::Node;
use crate::redis::resp::Reply;
use crate::time::SimTime;

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

/// REPLCONF, PSYNC and SYNC need a connection to become (or speak as) a replica.
fn not_valid_here() -> Reply {
    Reply::err("ERR Command is not valid here")
}

impl Node {
    /// `PING [message]`; in the subscribed context, `["pong", message]` (RESP2).
    pub(super) fn ping_command(&mut self, _now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        if args.len() > 2 {
            return arity_error("ping");
        }
        if self.in_subscribed_context(ctx.caller) {
            let message = args.get(1).copied().unwrap_or_default();
            return Reply::Array(vec![Reply::bulk("pong"), Reply::bulk(message)]);
        }
        match args.len() {
            1 => Reply::Simple("PONG".into()),
            _ => Reply::Bulk(args[1].to_vec()),
        }
    }

    pub(super) fn echo_command(&mut self, _now: SimTime, _ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        Reply::Bulk(args[1].to_vec())
    }

    /// `AUTH password` or `AUTH default password`: the default user is the only one.
    pub(crate) fn auth_command(&mut self, _now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
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

    pub(super) fn info_command(&mut self, now: SimTime, _ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let sections: Vec<String> = args[1..].iter().map(|s| lower(s)).collect();
        Reply::Bulk(self.info(now, &sections).into_bytes())
    }

    pub(super) fn role_command(&mut self, _now: SimTime, _ctx: &mut Ctx, _args: &[&[u8]]) -> Reply {
        self.role_reply()
    }

    /// `CONFIG GET pattern [pattern ...]` (`configGetCommand`): a name without glob characters
    /// is looked up as given (any case, or an alias) and answered under that spelling; a
    /// pattern matches directive names and aliases alike. Each entry is listed once, whatever
    /// its case.
    pub(super) fn config_get_command(
        &mut self,
        _now: SimTime,
        _ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        use crate::redis::config::{ALIASES, DIRECTIVES};
        let mut matches: Vec<String> = Vec::new();
        let add = |key: &str, matches: &mut Vec<String>| {
            if !matches.iter().any(|m| m.eq_ignore_ascii_case(key)) {
                matches.push(key.to_string());
            }
        };
        for pattern in &args[2..] {
            if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
                let name = String::from_utf8_lossy(pattern);
                if self.cfg.knows(&name) {
                    add(&name, &mut matches);
                }
                continue;
            }
            let names = DIRECTIVES
                .iter()
                .chain(ALIASES.iter().map(|(alias, _)| alias));
            for name in names {
                if self.cfg.knows(name) && glob(pattern, name.as_bytes()) {
                    add(name, &mut matches);
                }
            }
        }
        let mut out = Vec::with_capacity(matches.len() * 2);
        for key in matches {
            let value = self.cfg.get(&key).unwrap_or_default();
            out.push(Reply::bulk(key));
            out.push(Reply::bulk(value));
        }
        Reply::Array(out)
    }

    /// `CONFIG SET directive value [directive value ...]` (`configSetCommand`): every name is
    /// checked first (unknown, immutable, given twice: the first such error is the reply), then
    /// every value; all are applied, or none.
    pub(super) fn config_set_command(
        &mut self,
        now: SimTime,
        _ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        use crate::redis::config::is_immutable;
        // The arity says at least one pair; `configSetCommand` wants whole pairs.
        if args.len() % 2 == 1 {
            return Reply::err("ERR syntax error");
        }
        let pairs: Vec<(String, String)> = args[2..]
            .chunks(2)
            .map(|p| {
                (
                    String::from_utf8_lossy(p[0]).into_owned(),
                    String::from_utf8_lossy(p[1]).into_owned(),
                )
            })
            .collect();
        for (i, (name, _)) in pairs.iter().enumerate() {
            let failed = |reason: &str| {
                Reply::err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"
                ))
            };
            if !self.cfg.knows(name) {
                return Reply::err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
                ));
            }
            if is_immutable(name) {
                return failed("can't set immutable config");
            }
            // Redis compares config entries: a name and its alias are two entries, so only the
            // same spelling (in any case) is a duplicate.
            if pairs[..i].iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return failed("duplicate parameter");
            }
        }
        let mut cfg = self.cfg.clone();
        for (name, value) in &pairs {
            if let Err(e) = cfg.set(name, value, true) {
                return Reply::err(format!("ERR {e}"));
            }
        }
        self.cfg = cfg;
        self.refresh_good_replicas(now);
        Reply::ok()
    }

    pub(super) fn config_resetstat_command(
        &mut self,
        _now: SimTime,
        _ctx: &mut Ctx,
        _args: &[&[u8]],
    ) -> Reply {
        self.stats = Default::default();
        Reply::ok()
    }

    /// `CONFIG REWRITE`: a node has no configuration file, as a server started without one,
    /// and answers so. Sentinel sends it after every REPLICAOF and ignores the reply.
    pub(super) fn config_rewrite_command(
        &mut self,
        _now: SimTime,
        _ctx: &mut Ctx,
        _args: &[&[u8]],
    ) -> Reply {
        Reply::err("ERR The server is running without a config file")
    }

    /// REPLCONF (`replconfCommand`), on a connection only. ACK and GETACK answer nothing.
    pub(super) fn replconf_proc(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let Caller::Conn(id) = ctx.caller else {
            return not_valid_here();
        };
        self.replconf_command(now, id, args).unwrap_or_else(|| {
            ctx.no_reply = true;
            Reply::Null
        })
    }

    /// PSYNC and SYNC (`syncCommand`), on a connection only. A sync that starts writes its own
    /// reply; one from a connection that is already a replica is ignored.
    pub(super) fn sync_proc(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let Caller::Conn(id) = ctx.caller else {
            return not_valid_here();
        };
        let replica = self.conns.get(&id).is_some_and(|c| c.replica().is_some());
        let reply = if replica {
            None
        } else {
            self.sync_command(now, id, args)
        };
        reply.unwrap_or_else(|| {
            ctx.no_reply = true;
            Reply::Null
        })
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
