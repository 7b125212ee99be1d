//! Commands a real client sends about its own connection: HELLO and CLIENT SETNAME, GETNAME,
//! ID and SETINFO (networking.c `helloCommand`, `clientCommand`). The simulation's in-process
//! clients never send them; client libraries and redis-cli do when they meet a live node.
//! CLIENT KILL, which Sentinel sends, is with Pub/Sub (pubsub.rs), whose clients it tells apart.
//!
//! The node speaks RESP2 only: `HELLO 3` is refused with Redis's own NOPROTO error, on which
//! clients fall back to RESP2.

use super::commands::{Caller, Ctx};
use super::config::RedisVersion;
use super::node::Node;
use super::resp::{string2ll, Reply};
use crate::time::SimTime;

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Node {
    /// The caller's client id, as CLIENT ID and HELLO report it.
    fn caller_client_id(&self, ctx: &Ctx) -> i64 {
        match ctx.caller {
            Caller::Conn(id) => self.conns.get(&id).map_or(0, |c| c.client_id as i64),
            Caller::Local(c) => c.0 as i64,
            Caller::Master => 0,
        }
    }

    /// `validateClientName` then store: printable ASCII without spaces; empty clears the name.
    fn set_client_name(&mut self, ctx: &Ctx, name: &[u8]) -> Result<(), Reply> {
        if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
            return Err(Reply::err(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            ));
        }
        match ctx.caller {
            Caller::Conn(id) => {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.name = name.to_vec();
                }
            }
            Caller::Local(id) => {
                if let Some(c) = self.clients.get_mut(&id) {
                    c.name = name.to_vec();
                }
            }
            Caller::Master => {}
        }
        Ok(())
    }

    fn client_name(&self, ctx: &Ctx) -> Vec<u8> {
        match ctx.caller {
            Caller::Conn(id) => self.conns.get(&id).map(|c| c.name.clone()),
            Caller::Local(id) => self.clients.get(&id).map(|c| c.name.clone()),
            Caller::Master => None,
        }
        .unwrap_or_default()
    }

    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
    pub(crate) fn hello_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let mut next = 1;
        if args.len() >= 2 {
            let Some(ver) = string2ll(args[1]) else {
                return Reply::err("ERR Protocol version is not an integer or out of range");
            };
            // RESP3 is not spoken here (a known difference: Redis accepts 3).
            if ver != 2 {
                return Reply::err("NOPROTO unsupported protocol version");
            }
            next = 2;
        }
        let (mut auth, mut setname) = (None, None);
        while next < args.len() {
            let more = args.len() - 1 - next;
            if args[next].eq_ignore_ascii_case(b"auth") && more >= 2 {
                auth = Some((args[next + 1], args[next + 2]));
                next += 3;
            } else if args[next].eq_ignore_ascii_case(b"setname") && more >= 1 {
                let name = args[next + 1];
                if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                    return Reply::err(
                        "ERR Client names cannot contain spaces, newlines or special characters.",
                    );
                }
                setname = Some(name);
                next += 2;
            } else {
                return Reply::err(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    lossy(args[next])
                ));
            }
        }
        if let Some((user, pass)) = auth {
            let reply = self.auth_command(now, ctx, &[b"AUTH".as_slice(), user, pass]);
            if reply.is_error() {
                return reply;
            }
        }
        if self.cfg.requirepass.is_some() && !ctx.authenticated {
            // 7.2 added `<proto>` to the text.
            let form = match self.cfg.redis_version {
                RedisVersion::V7_0 => "HELLO AUTH",
                RedisVersion::V7_2 | RedisVersion::Valkey8_1 | RedisVersion::V8_0 => {
                    "HELLO <proto> AUTH"
                }
            };
            return Reply::err(format!("NOAUTH HELLO must be called with the client already authenticated, otherwise the {form} <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
        }
        if let Some(name) = setname {
            if let Err(e) = self.set_client_name(ctx, name) {
                return e;
            }
        }
        let role = if self.is_master() {
            "master"
        } else {
            "replica"
        };
        Reply::Array(vec![
            Reply::bulk("server"),
            Reply::bulk(self.cfg.redis_version.server_name()),
            Reply::bulk("version"),
            Reply::bulk(self.cfg.redis_version.hello_version()),
            Reply::bulk("proto"),
            Reply::Integer(2),
            Reply::bulk("id"),
            Reply::Integer(self.caller_client_id(ctx)),
            Reply::bulk("mode"),
            Reply::bulk("standalone"),
            Reply::bulk("role"),
            Reply::bulk(role),
            Reply::bulk("modules"),
            Reply::Array(Vec::new()),
        ])
    }

    /// `CLIENT SETNAME|GETNAME|ID|SETINFO|KILL`; other subcommands are not modelled.
    pub(crate) fn client_command(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let sub = lossy(args[1]).to_ascii_lowercase();
        if sub == "kill" {
            return self.client_kill(now, ctx, args);
        }
        // CLIENT SETINFO arrived in 7.2.
        let setinfo = self.cfg.redis_version != RedisVersion::V7_0;
        let arity_ok = match sub.as_str() {
            "setname" => args.len() == 3,
            "getname" | "id" => args.len() == 2,
            "setinfo" if setinfo => args.len() == 4,
            _ => {
                return Reply::err(format!(
                    "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                    lossy(args[1])
                ))
            }
        };
        if !arity_ok {
            return Reply::err(format!(
                "ERR wrong number of arguments for 'client|{sub}' command"
            ));
        }
        match sub.as_str() {
            "setname" => match self.set_client_name(ctx, args[2]) {
                Ok(()) => Reply::ok(),
                Err(e) => e,
            },
            "getname" => {
                let name = self.client_name(ctx);
                if name.is_empty() {
                    Reply::Null
                } else {
                    Reply::Bulk(name)
                }
            }
            "id" => Reply::Integer(self.caller_client_id(ctx)),
            _ => {
                let attr = lossy(args[2]).to_ascii_lowercase();
                if attr != "lib-name" && attr != "lib-ver" {
                    return Reply::err(format!("ERR Unrecognized option '{}'", lossy(args[2])));
                }
                if args[3].iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
                    return Reply::err(format!(
                        "ERR {} cannot contain spaces, newlines or special characters.",
                        lossy(args[2])
                    ));
                }
                Reply::ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::redis::config::Config;
    use crate::redis::resp::Reply;
    use crate::redis::{ClientId, CommandResult, Node, NodeParams};
    use crate::time::SimTime;

    fn node(set: &[(&str, &str)]) -> Node {
        let mut config = Config::default();
        for (k, v) in set {
            config.set(k, v, false).unwrap();
        }
        let params = NodeParams {
            name: "n".into(),
            ip: "10.0.0.1".into(),
            port: 6379,
            config,
            replicaof: None,
            seed: 1,
        };
        Node::boot(SimTime::ZERO, params, None)
    }

    fn run(n: &mut Node, args: &[&str]) -> Reply {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        match n.handle_command(SimTime::ZERO, ClientId(7), &argv) {
            CommandResult::Done { reply, .. } => reply,
            CommandResult::Blocked => panic!("{args:?} blocked"),
        }
    }

    fn err(s: &str) -> Reply {
        Reply::err(s.to_string())
    }

    #[test]
    fn client_and_hello_answer_in_redis_words() {
        let mut n = node(&[]);
        let cases: &[(&[&str], Reply)] = &[
            (&["CLIENT", "GETNAME"], Reply::Null),
            (&["CLIENT", "SETNAME", "worker-1"], Reply::ok()),
            (&["CLIENT", "GETNAME"], Reply::bulk("worker-1")),
            (
                &["CLIENT", "SETNAME", "a b"],
                err("ERR Client names cannot contain spaces, newlines or special characters."),
            ),
            (
                &["CLIENT", "SETNAME"],
                err("ERR wrong number of arguments for 'client|setname' command"),
            ),
            (&["CLIENT", "ID"], Reply::Integer(7)),
            (&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"], Reply::ok()),
            (
                &["CLIENT", "SETINFO", "lib-color", "x"],
                err("ERR Unrecognized option 'lib-color'"),
            ),
            (
                &["CLIENT", "PAUSE", "100"],
                err("ERR unknown subcommand 'PAUSE'. Try CLIENT HELP."),
            ),
            (&["HELLO", "3"], err("NOPROTO unsupported protocol version")),
            (
                &["HELLO", "x"],
                err("ERR Protocol version is not an integer or out of range"),
            ),
            (
                &["HELLO", "2", "BOGUS"],
                err("ERR Syntax error in HELLO option 'BOGUS'"),
            ),
        ];
        for (args, want) in cases {
            assert_eq!(&run(&mut n, args), want, "{args:?}");
        }
        let Reply::Array(hello) = run(&mut n, &["HELLO", "2", "SETNAME", "renamed"]) else {
            panic!("HELLO replies with an array");
        };
        assert_eq!(hello[3], Reply::bulk("7.2.4"));
        assert_eq!(hello[11], Reply::bulk("master"));
        assert_eq!(run(&mut n, &["CLIENT", "GETNAME"]), Reply::bulk("renamed"));
    }

    #[test]
    fn the_7_0_profile_has_no_setinfo_and_its_own_hello_noauth_text() {
        let mut n = node(&[("redis-version", "7.0"), ("requirepass", "pw")]);
        assert_eq!(
            run(&mut n, &["HELLO", "2"]),
            err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
        );
        assert!(matches!(
            run(&mut n, &["HELLO", "2", "AUTH", "default", "pw"]),
            Reply::Array(_)
        ));
        assert_eq!(
            run(&mut n, &["CLIENT", "SETINFO", "lib-name", "x"]),
            err("ERR unknown subcommand 'SETINFO'. Try CLIENT HELP.")
        );
    }
}
