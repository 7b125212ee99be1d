//! Pub/Sub as Sentinel uses it (pubsub.c): SUBSCRIBE, UNSUBSCRIBE and PUBLISH on channels, with
//! RESP2's push replies, the subscribed context that allows only a few commands, and CLIENT KILL
//! by type (networking.c `clientCommand`), which Sentinel sends after every REPLICAOF it issues.
//!
//! Sentinels announce themselves by publishing hello messages on `__sentinel__:hello` to every
//! master and replica, and read the others' from a subscribed connection. Outside cluster mode
//! PUBLISH is propagated to replicas (`forceCommandPropagation`), so a hello published on a
//! master moves `master_repl_offset` and reaches the subscribers of its replicas too.
//!
//! Patterns (PSUBSCRIBE) and shard channels are not modelled. An in-process client cannot
//! subscribe: it has no connection to push messages on, as a client that denies blocking (a
//! script, a transaction) in Redis, and it gets Redis's error for one.

use super::commands::{Caller, Ctx};
use super::node::{ClientId, ConnId, Event, Node, Role};
use super::resp::Reply;
use crate::time::SimTime;

/// The commands a RESP2 connection in the subscribed context may run (`processCommand`).
const ALLOWED_SUBSCRIBED: &[&str] = &[
    "ping",
    "subscribe",
    "unsubscribe",
    "psubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "quit",
    "reset",
];

/// A client's type for CLIENT KILL TYPE (`getClientType`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Pubsub,
    Master,
}

impl ClientType {
    /// `getClientTypeByName`: `slave` and `replica` name the same type.
    fn by_name(name: &[u8]) -> Option<ClientType> {
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        match name.as_str() {
            "normal" => Some(ClientType::Normal),
            "slave" | "replica" => Some(ClientType::Replica),
            "pubsub" => Some(ClientType::Pubsub),
            "master" => Some(ClientType::Master),
            _ => None,
        }
    }
}

/// `*3 $<kind> $<channel> :<count>`: a subscription change as RESP2 pushes it.
fn subscription_push(kind: &'static str, channel: Option<&[u8]>, count: usize) -> Reply {
    Reply::Array(vec![
        Reply::bulk(kind),
        channel.map_or(Reply::Null, Reply::bulk),
        Reply::Integer(count as i64),
    ])
}

impl Node {
    /// The refusal of a command in the subscribed context, if `caller` is subscribed and the
    /// command is not one the context allows.
    pub(crate) fn subscribed_context_refusal(&self, caller: Caller, name: &str) -> Option<Reply> {
        let Caller::Conn(id) = caller else {
            return None;
        };
        let subscribed = self
            .conns
            .get(&id)
            .is_some_and(|c| !c.subscriptions.is_empty());
        (subscribed && !ALLOWED_SUBSCRIBED.contains(&name)).then(|| {
            Reply::err(format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ))
        })
    }

    /// Whether `caller` is a connection in the subscribed context (for PING's push form).
    pub(crate) fn in_subscribed_context(&self, caller: Caller) -> bool {
        match caller {
            Caller::Conn(id) => self
                .conns
                .get(&id)
                .is_some_and(|c| !c.subscriptions.is_empty()),
            _ => false,
        }
    }

    /// `SUBSCRIBE channel [channel ...]`: one push per channel, each with the connection's
    /// subscription count after it.
    pub(crate) fn subscribe_command(
        &mut self,
        _now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        let Caller::Conn(id) = ctx.caller else {
            return Reply::err("ERR SUBSCRIBE isn't allowed for a DENY BLOCKING client");
        };
        for &channel in &args[1..] {
            let Some(c) = self.conns.get_mut(&id) else {
                break;
            };
            if !c.subscriptions.iter().any(|s| s == channel) {
                c.subscriptions.push(channel.to_vec());
                self.pubsub_channels
                    .entry(channel.to_vec())
                    .or_default()
                    .push(id);
            }
            let count = c.subscriptions.len();
            self.reply_to(id, &subscription_push("subscribe", Some(channel), count));
        }
        ctx.no_reply = true;
        Reply::Null
    }

    /// `UNSUBSCRIBE [channel ...]`: from the named channels, or from all of them (with one push
    /// naming no channel when there were none).
    pub(crate) fn unsubscribe_command(
        &mut self,
        _now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        let Caller::Conn(id) = ctx.caller else {
            // Never subscribed: the same answer as a connection subscribed to nothing.
            return subscription_push("unsubscribe", None, 0);
        };
        let channels: Vec<Vec<u8>> = if args.len() > 1 {
            args[1..].iter().map(|c| c.to_vec()).collect()
        } else {
            self.conns
                .get(&id)
                .map(|c| c.subscriptions.clone())
                .unwrap_or_default()
        };
        if channels.is_empty() {
            self.reply_to(id, &subscription_push("unsubscribe", None, 0));
        }
        for channel in channels {
            self.unsubscribe_channel(id, &channel);
            let count = self.conns.get(&id).map_or(0, |c| c.subscriptions.len());
            self.reply_to(id, &subscription_push("unsubscribe", Some(&channel), count));
        }
        ctx.no_reply = true;
        Reply::Null
    }

    /// Removes `id` from `channel`'s subscribers, both ways.
    fn unsubscribe_channel(&mut self, id: ConnId, channel: &[u8]) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.subscriptions.retain(|s| s != channel);
        }
        if let Some(subs) = self.pubsub_channels.get_mut(channel) {
            subs.retain(|&s| s != id);
            if subs.is_empty() {
                self.pubsub_channels.remove(channel);
            }
        }
    }

    /// Forgets the subscriptions of a connection that is going away.
    pub(crate) fn drop_subscriptions(&mut self, id: ConnId, subscriptions: &[Vec<u8>]) {
        for channel in subscriptions {
            if let Some(subs) = self.pubsub_channels.get_mut(channel.as_slice()) {
                subs.retain(|&s| s != id);
                if subs.is_empty() {
                    self.pubsub_channels.remove(channel.as_slice());
                }
            }
        }
    }

    /// `PUBLISH channel message`: the message goes to every subscriber, in the order they
    /// subscribed; the reply counts them. A master propagates the command to its replicas, which
    /// publish it to their own subscribers as they apply it.
    pub(crate) fn publish_command(
        &mut self,
        _now: SimTime,
        ctx: &mut Ctx,
        args: &[&[u8]],
    ) -> Reply {
        let (channel, message) = (args[1], args[2]);
        let receivers = self
            .pubsub_channels
            .get(channel)
            .cloned()
            .unwrap_or_default();
        let push = Reply::Array(vec![
            Reply::bulk("message"),
            Reply::bulk(channel),
            Reply::bulk(message),
        ]);
        for &id in &receivers {
            self.reply_to(id, &push);
        }
        if ctx.caller != Caller::Master {
            // `forceCommandPropagation(c, PROPAGATE_REPL)`: propagated although nothing changed.
            ctx.ops
                .push((ctx.db as i64, super::commands::Prop::Original));
        }
        Reply::Integer(receivers.len() as i64)
    }

    /// `CLIENT KILL addr`, or `CLIENT KILL [TYPE type] [ADDR addr] [SKIPME yes|no] ...`: every
    /// matching client is freed at once; the caller itself only after its reply. In-process
    /// clients are normal clients without an address; each one killed is told to the
    /// environment ([`Event::ClientKilled`]).
    pub(crate) fn client_kill(&mut self, now: SimTime, ctx: &mut Ctx, args: &[&[u8]]) -> Reply {
        let old_form = args.len() == 3;
        let (mut addr, mut kind, mut skipme) = (None, None, !old_form);
        if old_form {
            addr = Some(args[2]);
        } else if args.len() > 3 {
            let mut i = 2;
            while i < args.len() {
                let Some(&value) = args.get(i + 1) else {
                    return Reply::err("ERR syntax error");
                };
                let option = args[i].to_ascii_lowercase();
                match option.as_slice() {
                    b"type" => match ClientType::by_name(value) {
                        Some(t) => kind = Some(t),
                        None => {
                            return Reply::err(format!(
                                "ERR Unknown client type '{}'",
                                String::from_utf8_lossy(value)
                            ))
                        }
                    },
                    b"addr" => addr = Some(value),
                    b"skipme" if value.eq_ignore_ascii_case(b"yes") => skipme = true,
                    b"skipme" if value.eq_ignore_ascii_case(b"no") => skipme = false,
                    _ => return Reply::err("ERR syntax error"),
                }
                i += 2;
            }
        } else {
            return Reply::err("ERR syntax error");
        }
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(&id, c)| {
                let t = match &c.role {
                    Role::Master => ClientType::Master,
                    Role::Replica(_) => ClientType::Replica,
                    Role::Client if !c.subscriptions.is_empty() => ClientType::Pubsub,
                    Role::Client => ClientType::Normal,
                };
                let peer = format!("{}:{}", c.peer_ip, c.peer_port);
                addr.is_none_or(|a| a == peer.as_bytes())
                    && kind.is_none_or(|k| k == t)
                    && !(skipme && ctx.caller == Caller::Conn(id))
            })
            .map(|(&id, _)| id)
            .collect();
        // In-process clients have no address, so only a type or no filter at all matches them.
        let locals: Vec<ClientId> =
            if addr.is_none() && kind.is_none_or(|k| k == ClientType::Normal) {
                self.clients
                    .ids()
                    .into_iter()
                    .filter(|&c| !(skipme && ctx.caller == Caller::Local(c)))
                    .collect()
            } else {
                Vec::new()
            };
        let killed = conns.len() + locals.len();
        for id in conns {
            if ctx.caller == Caller::Conn(id) {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.close_after_reply = true;
                }
            } else {
                self.close_conn(now, id);
            }
        }
        for c in locals {
            self.clients.unblock_and_close(c);
            self.event(Event::ClientKilled { client: c });
        }
        match (old_form, killed) {
            (true, 0) => Reply::err("ERR No such client"),
            (true, _) => Reply::ok(),
            (false, n) => Reply::Integer(n as i64),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::redis::node::{ConnId, Event, Transmit};
    use crate::redis::pair::{ms, Pair};
    use crate::redis::resp::{command_len, encode_command};
    use crate::redis::ClientId;

    #[derive(Default)]
    struct Capture(BTreeMap<ConnId, Vec<u8>>);

    impl Transmit for Capture {
        fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
            self.0.entry(conn).or_default().extend_from_slice(bytes);
            bytes.len()
        }
        fn send_opaque(&mut self, _conn: ConnId, len: u64) -> u64 {
            len
        }
    }

    /// Node `i` of `t` with raw client connections: a test that speaks RESP itself.
    struct Raw<'a> {
        t: &'a mut Pair,
        i: usize,
        conns: Vec<ConnId>,
        out: Capture,
    }

    impl Raw<'_> {
        fn connect(&mut self, port: u16) -> ConnId {
            let c = self.t.nodes[self.i].handle_accept(self.t.now, "10.9.9.9", port);
            self.conns.push(c);
            c
        }

        /// Sends `args` as one RESP command per slice on `conn`.
        fn send(&mut self, conn: ConnId, commands: &[&[&str]]) {
            let mut bytes = Vec::new();
            for args in commands {
                encode_command(args, &mut bytes);
            }
            let now = self.t.now;
            self.t.nodes[self.i].handle_data(now, conn, &bytes);
            // The harness's network carries what goes to other nodes and refuses the test's
            // connections, whose bytes wait for socket space: then the test takes them.
            self.t.drain_all();
            for &c in &self.conns {
                self.t.nodes[self.i].handle_writable(now, c);
            }
            self.t.nodes[self.i].poll_transmit(now, &mut self.out);
        }

        /// What the node wrote on `conn` since the last call.
        fn got(&mut self, conn: ConnId) -> String {
            String::from_utf8_lossy(&self.out.0.remove(&conn).unwrap_or_default()).to_string()
        }
    }

    fn raw(t: &mut Pair, i: usize) -> Raw<'_> {
        Raw {
            t,
            i,
            conns: Vec::new(),
            out: Capture::default(),
        }
    }

    /// Every reply here is the byte string Redis 7.0.15 wrote to the same commands.
    #[test]
    fn subscribe_publish_and_unsubscribe_answer_with_redis_push_bytes() {
        let mut t = Pair::new(1, |_| Default::default());
        let mut r = raw(&mut t, 0);
        let (a, b) = (r.connect(50000), r.connect(50001));
        let cases: &[(ConnId, &[&str], &str)] = &[
            (
                a,
                &["SUBSCRIBE", "ch", "ch2"],
                "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$3\r\nch2\r\n:2\r\n",
            ),
            (a, &["PING"], "*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
            (a, &["PING", "x"], "*2\r\n$4\r\npong\r\n$1\r\nx\r\n"),
            (
                a,
                &["GET", "k"],
                "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
            ),
            (
                a,
                &["CONFIG", "GET", "x"],
                "-ERR Can't execute 'config|get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
            ),
            (b, &["PUBLISH", "ch", "hello"], ":1\r\n"),
            (a, &[], "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n"),
            (b, &["PUBLISH", "nobody", "hello"], ":0\r\n"),
            (
                a,
                &["UNSUBSCRIBE", "nope"],
                "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnope\r\n:2\r\n",
            ),
            (
                a,
                &["UNSUBSCRIBE", "ch2"],
                "*3\r\n$11\r\nunsubscribe\r\n$3\r\nch2\r\n:1\r\n",
            ),
            (
                a,
                &["UNSUBSCRIBE"],
                "*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n",
            ),
            (a, &["UNSUBSCRIBE"], "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"),
            // Out of the subscribed context, every command runs again.
            (a, &["PING"], "+PONG\r\n"),
            (b, &["PUBLISH", "ch", "hello"], ":0\r\n"),
        ];
        for (conn, args, want) in cases {
            if !args.is_empty() {
                r.send(*conn, &[args]);
            }
            assert_eq!(r.got(*conn), *want, "{args:?}");
        }
    }

    #[test]
    fn a_closed_subscriber_receives_nothing_more_and_is_not_counted() {
        let mut t = Pair::new(1, |_| Default::default());
        let mut r = raw(&mut t, 0);
        let (a, b, c) = (r.connect(50000), r.connect(50001), r.connect(50002));
        r.send(a, &[&["SUBSCRIBE", "ch"]]);
        r.send(c, &[&["SUBSCRIBE", "ch"]]);
        let now = r.t.now;
        r.t.nodes[0].handle_eof(now, a);
        r.send(b, &[&["PUBLISH", "ch", "m"]]);
        assert_eq!(r.got(b), ":1\r\n");
        assert!(r
            .got(c)
            .ends_with("*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"));
        assert_eq!(r.t.nodes[0].pubsub_channels.len(), 1);
        r.t.nodes[0].handle_eof(now, c);
        assert!(
            r.t.nodes[0].pubsub_channels.is_empty(),
            "no channel is left without subscribers"
        );
    }

    #[test]
    fn publish_on_a_master_is_propagated_and_reaches_the_replicas_subscribers() {
        let mut t = Pair::new(2, |_| Default::default());
        t.run_for(ms(1500));
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        let mut r = raw(&mut t, 1);
        let sub = r.connect(50000);
        r.send(sub, &[&["SUBSCRIBE", "__sentinel__:hello"]]);
        r.got(sub);
        let before = t.info_u64(0, "master_repl_offset");
        let hello =
            "10.0.1.1,26379,0123456789012345678901234567890123456789,0,mymaster,10.0.0.1,6379,0";
        assert_eq!(
            t.cmd(0, &["PUBLISH", "__sentinel__:hello", hello]),
            crate::redis::resp::Reply::Integer(0),
            "nobody subscribed on the master"
        );
        let publish = command_len(&["PUBLISH", "__sentinel__:hello", hello]);
        assert_eq!(
            t.info_u64(0, "master_repl_offset") - before,
            23 + publish,
            "SELECT 0, then the PUBLISH: propagated although it changed no data"
        );
        t.run_for(ms(10));
        assert_eq!(t.info_u64(1, "master_repl_offset"), before + 23 + publish);
        // The harness's network knows no test connection: the push waits for socket space.
        let mut out = Capture::default();
        let now = t.now;
        t.nodes[1].handle_writable(now, sub);
        t.nodes[1].poll_transmit(now, &mut out);
        let want = format!(
            "*3\r\n$7\r\nmessage\r\n$18\r\n__sentinel__:hello\r\n${}\r\n{hello}\r\n",
            hello.len()
        );
        assert_eq!(String::from_utf8_lossy(&out.0[&sub]), want);
    }

    #[test]
    fn sentinels_slaveof_transaction_promotes_a_replica_and_kills_its_clients() {
        let mut t = Pair::new(2, |_| Default::default());
        t.run_for(ms(1500));
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        // An in-process client (a workload) and two connected clients, one subscribed.
        t.cmd_as(1, ClientId(5), &["GET", "k"]);
        // The harness's own clients are in-process clients too: normal ones.
        let locals = t.nodes[1].clients.ids();
        let mut r = raw(&mut t, 1);
        let (sentinel, client, subscriber) = (r.connect(50000), r.connect(50001), r.connect(50002));
        r.send(subscriber, &[&["SUBSCRIBE", "ch"]]);
        r.send(
            sentinel,
            &[
                &["MULTI"],
                &["SLAVEOF", "NO", "ONE"],
                &["CONFIG", "REWRITE"],
                &["CLIENT", "KILL", "TYPE", "normal"],
                &["CLIENT", "KILL", "TYPE", "pubsub"],
                &["EXEC"],
            ],
        );
        // The reply Redis 7.0.15 gives, with its count of normal clients.
        let normal = 1 + locals.len();
        assert_eq!(
            r.got(sentinel),
            format!("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n+OK\r\n-ERR The server is running without a config file\r\n:{normal}\r\n:1\r\n")
        );
        assert!(t.nodes[1].is_master(), "SLAVEOF NO ONE ran");
        let conns = &t.nodes[1].conns;
        assert!(!conns.contains_key(&client) && !conns.contains_key(&subscriber));
        assert!(conns.contains_key(&sentinel), "SKIPME yes is the default");
        assert!(locals.contains(&ClientId(5)));
        assert!(
            t.nodes[1].clients.ids().is_empty(),
            "every in-process client went"
        );
    }

    #[test]
    fn an_in_process_client_killed_is_told_to_the_environment() {
        let mut t = Pair::new(1, |_| Default::default());
        t.cmd_as(0, ClientId(5), &["GET", "k"]);
        let now = t.now;
        let kill: [&[u8]; 4] = [b"CLIENT", b"KILL", b"TYPE", b"normal"];
        t.nodes[0].handle_operator_command(now, ClientId(9), &kill);
        let mut killed = Vec::new();
        while let Some(e) = t.nodes[0].poll_event() {
            if let Event::ClientKilled { client } = e {
                killed.push(client);
            }
        }
        assert_eq!(
            killed,
            [ClientId(5)],
            "the operator's own client is skipped"
        );
    }

    #[test]
    fn transactions_queue_abort_and_refuse_as_redis_does() {
        let mut t = Pair::new(1, |_| Default::default());
        let mut r = raw(&mut t, 0);
        let c = r.connect(50000);
        let cases: &[(&[&[&str]], &str)] = &[
            (
                &[&["MULTI"], &["SET", "a"], &["SET", "a", "1"], &["EXEC"]],
                "+OK\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n",
            ),
            (&[&["EXEC"]], "-ERR EXEC without MULTI\r\n"),
            (&[&["DISCARD"]], "-ERR DISCARD without MULTI\r\n"),
            (
                &[&["MULTI"], &["MULTI"]],
                "+OK\r\n-ERR MULTI calls can not be nested\r\n",
            ),
            (&[&["CLIENT", "KILL", "TYPE", "bogus"]], "+QUEUED\r\n"),
            (&[&["DISCARD"]], "+OK\r\n"),
            (
                &[&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "maybe"]],
                "-ERR syntax error\r\n",
            ),
            (&[&["CLIENT", "KILL", "1.2.3.4:5"]], "-ERR No such client\r\n"),
            (
                &[&["MULTI"], &["SET", "a", "1"], &["GET", "a"], &["EXEC"]],
                "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n1\r\n",
            ),
        ];
        for (commands, want) in cases {
            r.send(c, commands);
            assert_eq!(r.got(c), *want, "{commands:?}");
        }
    }

    #[test]
    fn a_transaction_with_two_writes_is_propagated_wrapped_and_one_write_is_not() {
        let mut t = Pair::new(2, |_| Default::default());
        t.run_for(ms(1500));
        t.replicaof(1, 0);
        t.wait_for_sync(1);
        t.cmd(0, &["SET", "warm", "up"]);
        let mut r = raw(&mut t, 0);
        let c = r.connect(50000);
        let before = r.t.info_u64(0, "master_repl_offset");
        r.send(
            c,
            &[
                &["MULTI"],
                &["SET", "a", "1"],
                &["SET", "b", "2"],
                &["EXEC"],
            ],
        );
        let two = r.t.info_u64(0, "master_repl_offset") - before;
        let wrapped = command_len(&["MULTI"])
            + command_len(&["SET", "a", "1"])
            + command_len(&["SET", "b", "2"])
            + command_len(&["EXEC"]);
        assert_eq!(two, wrapped);
        r.send(
            c,
            &[&["MULTI"], &["SET", "a", "1"], &["GET", "a"], &["EXEC"]],
        );
        let one = r.t.info_u64(0, "master_repl_offset") - before - two;
        assert_eq!(one, command_len(&["SET", "a", "1"]));
        t.run_for(ms(10));
        assert_eq!(
            t.info_u64(1, "master_repl_offset"),
            t.info_u64(0, "master_repl_offset")
        );
        assert_eq!(t.nodes[1].digest(), t.nodes[0].digest());
    }

    #[test]
    fn an_in_process_client_can_publish_but_not_subscribe() {
        let mut t = Pair::new(1, |_| Default::default());
        assert_eq!(
            t.cmd(0, &["SUBSCRIBE", "ch"]),
            crate::redis::resp::Reply::err(
                "ERR SUBSCRIBE isn't allowed for a DENY BLOCKING client"
            )
        );
        assert_eq!(
            t.cmd(0, &["PUBLISH", "ch", "m"]),
            crate::redis::resp::Reply::Integer(0)
        );
    }
}
