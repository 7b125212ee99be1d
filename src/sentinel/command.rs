//! The commands a Sentinel answers (sentinel.c `sentinelCommand`, `sentinelPublishCommand`,
//! `sentinelInfoCommand`, `sentinelRoleCommand`): the other Sentinels' PING, hellos and
//! `SENTINEL is-master-down-by-addr`, and what clients ask, `SENTINEL get-master-addr-by-name`
//! first. Replies are RESP2, as Redis writes them.

use super::instance::{flag, Instance, Master, Ms};
use super::{ConnKind, Sentinel, HELLO_CHANNEL};
use crate::redis::resp::{Frame, Reply};
use crate::redis::ConnId;
use crate::time::SimTime;

/// The flags of an instance as `SENTINEL MASTER` and `REPLICAS` show them.
pub(super) fn flags_text(ri: &Instance) -> String {
    let names = [
        (flag::S_DOWN, "s_down"),
        (flag::O_DOWN, "o_down"),
        (flag::MASTER, "master"),
        (flag::SLAVE, "slave"),
        (flag::SENTINEL, "sentinel"),
    ];
    let mut parts: Vec<&str> = names
        .iter()
        .filter(|(f, _)| ri.has(*f))
        .map(|(_, n)| *n)
        .collect();
    if ri.link.disconnected {
        parts.push("disconnected");
    }
    let more = [
        (flag::MASTER_DOWN, "master_down"),
        (flag::FAILOVER_IN_PROGRESS, "failover_in_progress"),
        (flag::PROMOTED, "promoted"),
        (flag::RECONF_SENT, "reconf_sent"),
        (flag::RECONF_INPROG, "reconf_inprog"),
        (flag::RECONF_DONE, "reconf_done"),
    ];
    parts.extend(more.iter().filter(|(f, _)| ri.has(*f)).map(|(_, n)| *n));
    parts.join(",")
}

/// What a command answers: a reply, or RESP2's null array (`*-1`), which `Reply` has no form for.
enum Answer {
    Reply(Reply),
    NullArray,
}

impl From<Reply> for Answer {
    fn from(r: Reply) -> Answer {
        Answer::Reply(r)
    }
}

fn bulk(s: impl AsRef<[u8]>) -> Reply {
    Reply::bulk(s)
}

fn err(s: impl Into<String>) -> Reply {
    Reply::err(s.into())
}

impl Sentinel {
    /// Runs the commands that arrived whole on accepted connection `conn`.
    pub(super) fn serve(&mut self, now: SimTime, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            let ConnKind::Incoming { decoder } = &mut c.kind else {
                return;
            };
            let args = match decoder.next_frame() {
                Ok(None) => return,
                Ok(Some(Frame::Newline)) => continue,
                Ok(Some(Frame::Command)) => decoder.args_vec(),
                Err(e) => {
                    // The error, then the connection closes once it is written.
                    Reply::err(format!("ERR {}", e.0)).encode(&mut c.out);
                    c.close_after_reply = true;
                    self.dirty.insert(conn);
                    return;
                }
            };
            let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let answer = self.command(now, &argv);
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match answer {
                Answer::Reply(r) => r.encode(&mut c.out),
                Answer::NullArray => c.out.extend_from_slice(b"*-1\r\n"),
            }
            self.dirty.insert(conn);
        }
    }

    /// A command from an in-process client (a Sentinel-aware workload), answered at once. RESP2's
    /// null array comes back as [`Reply::Null`].
    pub fn handle_command(&mut self, now: SimTime, args: &[&[u8]]) -> Reply {
        assert!(!args.is_empty(), "a command has at least its name");
        match self.command(now, args) {
            Answer::Reply(r) => r,
            Answer::NullArray => Reply::Null,
        }
    }

    fn command(&mut self, now: SimTime, args: &[&[u8]]) -> Answer {
        let name = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
        let arity = |n: usize, exact: bool| {
            if (exact && args.len() != n) || args.len() < n {
                Some(err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                )))
            } else {
                None
            }
        };
        match name.as_str() {
            "ping" => match args.len() {
                1 => Reply::Simple("PONG".into()).into(),
                2 => bulk(args[1]).into(),
                _ => err("ERR wrong number of arguments for 'ping' command").into(),
            },
            "sentinel" => {
                if let Some(e) = arity(2, false) {
                    return e.into();
                }
                self.sentinel_command(now, args)
            }
            "publish" => {
                if let Some(e) = arity(3, true) {
                    return e.into();
                }
                if args[1] != HELLO_CHANNEL.as_bytes() {
                    return err("ERR Only HELLO messages are accepted by Sentinel instances.")
                        .into();
                }
                self.process_hello(now, &String::from_utf8_lossy(args[2]));
                Reply::Integer(1).into()
            }
            "info" => bulk(self.info_text(now)).into(),
            "role" => Reply::Array(vec![
                bulk("sentinel"),
                Reply::Array(self.masters.keys().map(bulk).collect()),
            ])
            .into(),
            "client" if args.len() >= 2 => {
                let sub = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
                match sub.as_str() {
                    "setname" if args.len() == 3 => Reply::ok().into(),
                    _ => err(format!(
                        "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                        String::from_utf8_lossy(args[1])
                    ))
                    .into(),
                }
            }
            _ => {
                let rest: Vec<String> = args[1..]
                    .iter()
                    .take(8)
                    .map(|a| format!("'{}' ", String::from_utf8_lossy(a)))
                    .collect();
                err(format!(
                    "ERR unknown command '{}', with args beginning with: {}",
                    String::from_utf8_lossy(args[0]),
                    rest.concat()
                ))
                .into()
            }
        }
    }

    /// `SENTINEL <subcommand>`.
    fn sentinel_command(&mut self, now: SimTime, args: &[&[u8]]) -> Answer {
        let sub = String::from_utf8_lossy(args[1]).to_ascii_lowercase();
        let numargs = || {
            err(format!(
                "ERR wrong number of arguments for 'sentinel|{sub}' command"
            ))
        };
        let master_named = |s: &Sentinel, name: &[u8]| -> Result<String, Reply> {
            let name = String::from_utf8_lossy(name).into_owned();
            if s.masters.contains_key(&name) {
                Ok(name)
            } else {
                Err(err("ERR No such master with that name"))
            }
        };
        let ms = Self::ms(now);
        match sub.as_str() {
            "masters" => {
                if args.len() != 2 {
                    return numargs().into();
                }
                let list = self
                    .masters
                    .values()
                    .map(|m| instance_reply(m, &m.ri, ms))
                    .collect();
                Reply::Array(list).into()
            }
            "master" | "replicas" | "slaves" | "sentinels" => {
                if args.len() != 3 {
                    return numargs().into();
                }
                let name = match master_named(self, args[2]) {
                    Ok(n) => n,
                    Err(e) => return e.into(),
                };
                let m = &self.masters[&name];
                match sub.as_str() {
                    "master" => instance_reply(m, &m.ri, ms).into(),
                    "sentinels" => Reply::Array(
                        m.sentinels
                            .values()
                            .map(|s| instance_reply(m, s, ms))
                            .collect(),
                    )
                    .into(),
                    _ => Reply::Array(
                        m.slaves
                            .values()
                            .map(|s| instance_reply(m, s, ms))
                            .collect(),
                    )
                    .into(),
                }
            }
            "myid" if args.len() == 2 => bulk(&self.myid).into(),
            "get-master-addr-by-name" => {
                if args.len() != 3 {
                    return numargs().into();
                }
                match self.master_addr(&String::from_utf8_lossy(args[2])) {
                    Some(a) => Reply::Array(vec![bulk(a.ip), bulk(a.port.to_string())]).into(),
                    None => Answer::NullArray,
                }
            }
            "is-master-down-by-addr" => {
                if args.len() != 6 {
                    return numargs().into();
                }
                self.is_master_down_by_addr(now, args)
            }
            _ => err(format!(
                "ERR unknown subcommand '{}'. Try SENTINEL HELP.",
                String::from_utf8_lossy(args[1])
            ))
            .into(),
        }
    }

    /// `SENTINEL is-master-down-by-addr <ip> <port> <current-epoch> <runid>`: whether this
    /// Sentinel has the master SDOWN, and its vote when `runid` asks for one.
    fn is_master_down_by_addr(&mut self, now: SimTime, args: &[&[u8]]) -> Answer {
        let text = |i: usize| String::from_utf8_lossy(args[i]).into_owned();
        let Ok(port) = text(3).parse::<i64>() else {
            return err("ERR value is not an integer or out of range").into();
        };
        let Ok(req_epoch) = text(4).parse::<i64>() else {
            return err("ERR value is not an integer or out of range").into();
        };
        let (ip, runid) = (text(2), text(5));
        let master = self
            .masters
            .iter()
            .find(|(_, m)| m.ri.addr.ip == ip && i64::from(m.ri.addr.port) == port)
            .map(|(k, _)| k.clone());
        let mut isdown = false;
        let mut leader = None;
        let mut leader_epoch = 0;
        if let Some(name) = master {
            let ri = &self.masters[&name].ri;
            isdown = !self.tilt && ri.has(flag::S_DOWN) && ri.has(flag::MASTER);
            if runid != "*" {
                let (l, e) = self.vote_leader(now, &name, req_epoch as u64, &runid);
                leader = l;
                leader_epoch = e;
            }
        }
        Reply::Array(vec![
            Reply::Integer(i64::from(isdown)),
            bulk(leader.unwrap_or_else(|| "*".into())),
            Reply::Integer(leader_epoch as i64),
        ])
        .into()
    }

    /// INFO: the server fields a client checks, then the Sentinel section.
    fn info_text(&self, now: SimTime) -> String {
        let mut out = format!(
            "# Server\r\nredis_version:7.0.15\r\nredis_mode:sentinel\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\n\r\n",
            self.pid, self.myid, self.port
        );
        out.push_str(&format!(
            "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{}\r\nsentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n",
            self.masters.len(),
            u8::from(self.tilt),
            if self.tilt {
                (Self::ms(now) - self.tilt_start_time) / 1000
            } else {
                -1
            }
        ));
        for (i, m) in self.masters.values().enumerate() {
            let status = if m.ri.has(flag::O_DOWN) {
                "odown"
            } else if m.ri.has(flag::S_DOWN) {
                "sdown"
            } else {
                "ok"
            };
            out.push_str(&format!(
                "master{i}:name={},status={status},address={}:{},slaves={},sentinels={}\r\n",
                m.ri.name,
                m.ri.addr.ip,
                m.ri.addr.port,
                m.slaves.len(),
                m.sentinels.len() + 1
            ));
        }
        out
    }
}

/// `addReplySentinelRedisInstance`: a map, flat in RESP2.
fn instance_reply(m: &Master, ri: &Instance, ms: Ms) -> Reply {
    let mut f: Vec<(&str, Reply)> = vec![
        ("name", bulk(&ri.name)),
        ("ip", bulk(&ri.addr.ip)),
        ("port", bulk(ri.addr.port.to_string())),
        ("runid", bulk(ri.runid.as_deref().unwrap_or(""))),
        ("flags", bulk(flags_text(ri))),
        (
            "link-pending-commands",
            bulk(ri.link.pending_commands.to_string()),
        ),
        ("link-refcount", bulk("1")),
    ];
    if ri.has(flag::FAILOVER_IN_PROGRESS) {
        f.push(("failover-state", bulk(m.failover_state.name())));
    }
    let since = |t: Ms| bulk((ms - t).to_string());
    f.push((
        "last-ping-sent",
        bulk(
            if ri.link.act_ping_time != 0 {
                ms - ri.link.act_ping_time
            } else {
                0
            }
            .to_string(),
        ),
    ));
    f.push(("last-ok-ping-reply", since(ri.link.last_avail_time)));
    f.push(("last-ping-reply", since(ri.link.last_pong_time)));
    if ri.has(flag::S_DOWN) {
        f.push(("s-down-time", since(ri.s_down_since_time)));
    }
    if ri.has(flag::O_DOWN) {
        f.push(("o-down-time", since(ri.o_down_since_time)));
    }
    f.push((
        "down-after-milliseconds",
        bulk(ri.down_after_period.to_string()),
    ));
    if ri.flags & (flag::MASTER | flag::SLAVE) != 0 {
        let refresh = if ri.info_refresh != 0 {
            ms - ri.info_refresh
        } else {
            0
        };
        f.push(("info-refresh", bulk(refresh.to_string())));
        let role = if ri.role_reported == flag::MASTER {
            "master"
        } else {
            "slave"
        };
        f.push(("role-reported", bulk(role)));
        f.push(("role-reported-time", since(ri.role_reported_time)));
    }
    if ri.has(flag::MASTER) {
        f.push(("config-epoch", bulk(ri.config_epoch.to_string())));
        f.push(("num-slaves", bulk(m.slaves.len().to_string())));
        f.push(("num-other-sentinels", bulk(m.sentinels.len().to_string())));
        f.push(("quorum", bulk(m.quorum.to_string())));
        f.push(("failover-timeout", bulk(m.failover_timeout.to_string())));
        f.push(("parallel-syncs", bulk(m.parallel_syncs.to_string())));
    }
    if ri.has(flag::SLAVE) {
        f.push((
            "master-link-down-time",
            bulk(ri.master_link_down_time.to_string()),
        ));
        f.push((
            "master-link-status",
            bulk(if ri.slave_master_link_up { "ok" } else { "err" }),
        ));
        f.push((
            "master-host",
            bulk(ri.slave_master_host.as_deref().unwrap_or("?")),
        ));
        f.push(("master-port", bulk(ri.slave_master_port.to_string())));
        f.push(("slave-priority", bulk(ri.slave_priority.to_string())));
        f.push(("slave-repl-offset", bulk(ri.slave_repl_offset.to_string())));
        f.push(("replica-announced", bulk(ri.replica_announced.to_string())));
    }
    if ri.has(flag::SENTINEL) {
        f.push(("last-hello-message", since(ri.last_hello_time)));
        f.push(("voted-leader", bulk(ri.leader.as_deref().unwrap_or("?"))));
        f.push(("voted-leader-epoch", bulk(ri.leader_epoch.to_string())));
    }
    Reply::Array(f.into_iter().flat_map(|(k, v)| [bulk(k), v]).collect())
}
