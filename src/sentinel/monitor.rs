//! The monitoring half of sentinel.c: the timer's walk over the instances, connecting, the
//! periodic PING, INFO and hello, what their replies teach (`sentinelRefreshInstanceInfo`,
//! `sentinelProcessHelloMessage`), subjective and objective down, and asking the other
//! Sentinels about a master.

use super::instance::{flag, Addr, FailoverState, Instance, Which};
use super::{
    Callback, Sentinel, ASK_PERIOD, HELLO_CHANNEL, INFO_PERIOD, MAX_PENDING_COMMANDS,
    MIN_LINK_RECONNECT_PERIOD, PING_PERIOD, PUBLISH_PERIOD, TILT_PERIOD, TILT_TRIGGER,
};
use crate::redis::log::Level;
use crate::redis::resp::Reply;
use crate::redis::ConnId;
use crate::time::SimTime;

impl Sentinel {
    /// `sentinelTimer`: the TILT check, then every master with its replicas and Sentinels.
    pub(super) fn timer(&mut self, now: SimTime) {
        self.check_tilt(now);
        let names: Vec<String> = self.masters.keys().cloned().collect();
        let mut switch_to_promoted = None;
        for name in names {
            self.handle_instance(now, &name, &Which::Master);
            let slaves: Vec<Which> = self.masters[&name]
                .slaves
                .keys()
                .map(|k| Which::Slave(k.clone()))
                .collect();
            for w in slaves {
                self.handle_instance(now, &name, &w);
            }
            let sentinels: Vec<Which> = self.masters[&name]
                .sentinels
                .keys()
                .map(|k| Which::Sentinel(k.clone()))
                .collect();
            for w in sentinels {
                self.handle_instance(now, &name, &w);
            }
            if self.masters[&name].failover_state == FailoverState::UpdateConfig {
                switch_to_promoted = Some(name);
            }
        }
        if let Some(name) = switch_to_promoted {
            self.switch_to_promoted(now, &name);
        }
    }

    /// `sentinelCheckTiltCondition`: a timer run more than two seconds after the last (the
    /// process was stopped, or the clock jumped) puts the Sentinel in TILT for 30 seconds,
    /// during which it watches but does not act.
    fn check_tilt(&mut self, now: SimTime) {
        let ms = Self::ms(now);
        let delta = ms - self.previous_time;
        if !(0..=TILT_TRIGGER).contains(&delta) {
            self.tilt = true;
            self.tilt_start_time = ms;
            self.event_text(now, Level::Warning, "+tilt", "#tilt mode entered".into());
        }
        self.previous_time = ms;
    }

    /// `sentinelHandleRedisInstance`.
    fn handle_instance(&mut self, now: SimTime, master: &str, which: &Which) {
        if self
            .masters
            .get(master)
            .and_then(|m| m.get(which))
            .is_none()
        {
            // Released earlier in this run of the timer (a reset of its master).
            return;
        }
        self.reconnect_instance(now, master, which);
        self.send_periodic_commands(now, master, which);
        if self.tilt {
            if Self::ms(now) - self.tilt_start_time < TILT_PERIOD {
                return;
            }
            self.tilt = false;
            self.event_text(now, Level::Warning, "-tilt", "#tilt mode exited".into());
        }
        self.check_subjectively_down(now, master, which);
        if *which == Which::Master {
            self.check_objectively_down(now, master);
            if self.start_failover_if_needed(now, master) {
                self.ask_master_state(now, master, true);
            }
            self.failover_state_machine(now, master);
            self.ask_master_state(now, master, false);
        }
    }

    /// `sentinelReconnectInstance`: a missing commands or Pub/Sub connection is opened again, at
    /// most once per PING period.
    fn reconnect_instance(&mut self, now: SimTime, master: &str, which: &Which) {
        let ms = Self::ms(now);
        let myid8 = self.myid[..8].to_string();
        let Some(ri) = self.masters.get_mut(master).and_then(|m| m.get_mut(which)) else {
            return;
        };
        if !ri.link.disconnected || ri.addr.port == 0 {
            return;
        }
        if ms - ri.link.last_reconn_time < PING_PERIOD {
            return;
        }
        ri.link.last_reconn_time = ms;
        let (id, addr, is_sentinel) = (ri.id, ri.addr.clone(), ri.has(flag::SENTINEL));
        let (need_cc, need_pc) = (ri.link.cc.is_none(), !is_sentinel && ri.link.pc.is_none());
        if need_cc {
            let cc = self.open(master, which, id, &addr);
            let ri = self.instance_mut(master, which);
            ri.link.cc = Some(cc);
            ri.link.pending_commands = 0;
            ri.link.cc_conn_time = ms;
            self.send_counted(
                master,
                which,
                cc,
                &["CLIENT", "SETNAME", &format!("sentinel-{myid8}-cmd")],
                Callback::Discard,
            );
            // A PING as soon as the link is up.
            self.send_ping(now, master, which);
        }
        if need_pc {
            let pc = self.open(master, which, id, &addr);
            let ri = self.instance_mut(master, which);
            ri.link.pc = Some(pc);
            ri.link.pc_conn_time = ms;
            self.send_counted(
                master,
                which,
                pc,
                &["CLIENT", "SETNAME", &format!("sentinel-{myid8}-pubsub")],
                Callback::Discard,
            );
            self.send(pc, &["SUBSCRIBE", HELLO_CHANNEL], Callback::Hello);
        }
        let ri = self.instance_mut(master, which);
        if ri.link.cc.is_some() && (is_sentinel || ri.link.pc.is_some()) {
            ri.link.disconnected = false;
        }
    }

    /// The instance `which` of `master`, which the caller knows exists.
    pub(super) fn instance_mut(&mut self, master: &str, which: &Which) -> &mut Instance {
        self.masters
            .get_mut(master)
            .and_then(|m| m.get_mut(which))
            .expect("the instance exists")
    }

    /// Sends a command on `conn` and counts it as pending on the instance's link.
    pub(super) fn send_counted(
        &mut self,
        master: &str,
        which: &Which,
        conn: ConnId,
        args: &[&str],
        callback: Callback,
    ) {
        self.send(conn, args, callback);
        if let Some(ri) = self.masters.get_mut(master).and_then(|m| m.get_mut(which)) {
            ri.link.pending_commands += 1;
        }
    }

    /// `sentinelSendPing`.
    pub(super) fn send_ping(&mut self, now: SimTime, master: &str, which: &Which) -> bool {
        let ms = Self::ms(now);
        let Some(cc) = self
            .masters
            .get(master)
            .and_then(|m| m.get(which))
            .and_then(|ri| ri.link.cc)
        else {
            return false;
        };
        self.send_counted(master, which, cc, &["PING"], Callback::Ping);
        let ri = self.instance_mut(master, which);
        ri.link.last_ping_time = ms;
        // The active ping time moves only once the previous PING was answered: until then the
        // instance has been silent since that one.
        if ri.link.act_ping_time == 0 {
            ri.link.act_ping_time = ms;
        }
        true
    }

    /// `sentinelSendPeriodicCommands`: INFO to masters and replicas (every 10 s, every second
    /// for a replica whose master is down or failing over, or whose link is down), PING when the
    /// last reply is older than the ping period, a hello every 2 s.
    fn send_periodic_commands(&mut self, now: SimTime, master: &str, which: &Which) {
        let ms = Self::ms(now);
        let m = &self.masters[master];
        let master_flags = m.ri.flags;
        let ri = m.get(which).expect("handled instances exist");
        if ri.link.disconnected || ri.link.pending_commands >= MAX_PENDING_COMMANDS {
            return;
        }
        let info_period = if ri.has(flag::SLAVE)
            && (master_flags & (flag::O_DOWN | flag::FAILOVER_IN_PROGRESS) != 0
                || ri.master_link_down_time != 0)
        {
            1000
        } else {
            INFO_PERIOD
        };
        let ping_period = ri.down_after_period.min(PING_PERIOD);
        let send_info =
            !ri.has(flag::SENTINEL) && (ri.info_refresh == 0 || ms - ri.info_refresh > info_period);
        let send_ping = ms - ri.link.last_pong_time > ping_period
            && ms - ri.link.last_ping_time > ping_period / 2;
        let send_hello = ms - ri.last_pub_time > PUBLISH_PERIOD;
        let cc = ri
            .link
            .cc
            .expect("a connected link has its commands connection");
        if send_info {
            self.send_counted(master, which, cc, &["INFO"], Callback::Info);
        }
        if send_ping {
            self.send_ping(now, master, which);
        }
        if send_hello {
            self.send_hello(master, which);
        }
    }

    /// `sentinelSendHello`: `ip,port,runid,current_epoch,master_name,master_ip,master_port,
    /// master_config_epoch`, published on the hello channel.
    pub(super) fn send_hello(&mut self, master: &str, which: &Which) -> bool {
        let m = &self.masters[master];
        let Some(ri) = m.get(which) else {
            return false;
        };
        if ri.link.disconnected {
            return false;
        }
        let Some(cc) = ri.link.cc else {
            return false;
        };
        let addr = m.current_address();
        let payload = format!(
            "{},{},{},{},{},{},{},{}",
            self.ip,
            self.port,
            self.myid,
            self.current_epoch,
            m.ri.name,
            addr.ip,
            addr.port,
            m.ri.config_epoch
        );
        self.send_counted(
            master,
            which,
            cc,
            &["PUBLISH", HELLO_CHANNEL, &payload],
            Callback::Publish,
        );
        true
    }

    /// A reply on one of our connections, for `callback`.
    pub(super) fn on_reply(
        &mut self,
        now: SimTime,
        master: &str,
        which: &Which,
        callback: Callback,
        reply: Reply,
    ) {
        let ms = Self::ms(now);
        let ri = self.instance_mut(master, which);
        if callback != Callback::Hello {
            ri.link.pending_commands -= 1;
        }
        match callback {
            Callback::Discard => {}
            Callback::Info => {
                if let Reply::Bulk(text) = reply {
                    self.refresh_instance_info(now, master, which, &String::from_utf8_lossy(&text));
                }
            }
            Callback::Ping => {
                let ri = self.instance_mut(master, which);
                if let Reply::Simple(s) | Reply::Error(s) = &reply {
                    if s.starts_with("PONG")
                        || s.starts_with("LOADING")
                        || s.starts_with("MASTERDOWN")
                    {
                        ri.link.last_avail_time = ms;
                        ri.link.act_ping_time = 0;
                        if s.starts_with("PONG") {
                            ri.flags &= !flag::MASTER_REBOOT;
                        }
                    }
                }
                ri.link.last_pong_time = ms;
            }
            Callback::Publish => {
                if !reply.is_error() {
                    self.instance_mut(master, which).last_pub_time = ms;
                }
            }
            Callback::IsMasterDown => self.is_master_down_reply(now, master, which, reply),
            Callback::Hello => {
                self.instance_mut(master, which).link.pc_last_activity = ms;
                if let Reply::Array(items) = &reply {
                    if let [Reply::Bulk(kind), Reply::Bulk(_), Reply::Bulk(msg)] = items.as_slice()
                    {
                        let msg = String::from_utf8_lossy(msg).into_owned();
                        // Our own hellos come back too.
                        if kind == b"message" && !msg.contains(&self.myid) {
                            self.process_hello(now, &msg);
                        }
                    }
                }
            }
        }
    }

    /// `sentinelRefreshInstanceInfo`: what an INFO reply says, then what Sentinel does about it.
    fn refresh_instance_info(&mut self, now: SimTime, master: &str, which: &Which, info: &str) {
        let ms = Self::ms(now);
        let mut role = 0;
        let mut new_slaves: Vec<Addr> = Vec::new();
        let mut rebooted = false;
        {
            let ri = self.instance_mut(master, which);
            ri.master_link_down_time = 0;
            for l in info.split("\r\n") {
                if l.len() >= 47 && l.starts_with("run_id:") {
                    let id = &l[7..47];
                    match &ri.runid {
                        None => ri.runid = Some(id.to_string()),
                        Some(old) if old != id => {
                            rebooted = true;
                            if ri.has(flag::MASTER) && ri.master_reboot_down_after_period != 0 {
                                ri.flags |= flag::MASTER_REBOOT;
                                ri.master_reboot_since_time = ms;
                            }
                            ri.runid = Some(id.to_string());
                        }
                        Some(_) => {}
                    }
                }
                if ri.has(flag::MASTER)
                    && l.len() >= 7
                    && l.starts_with("slave")
                    && l.as_bytes()[5].is_ascii_digit()
                {
                    if let Some(addr) = parse_slave_line(l) {
                        new_slaves.push(addr);
                    }
                }
                if let Some(v) = l.strip_prefix("master_link_down_since_seconds:") {
                    ri.master_link_down_time = atoll(v) * 1000;
                }
                if l.starts_with("role:master") {
                    role = flag::MASTER;
                } else if l.starts_with("role:slave") {
                    role = flag::SLAVE;
                }
                if role == flag::SLAVE {
                    if let Some(host) = l.strip_prefix("master_host:") {
                        let same = ri
                            .slave_master_host
                            .as_deref()
                            .is_some_and(|h| h.eq_ignore_ascii_case(host));
                        if !same {
                            ri.slave_master_host = Some(host.to_string());
                            ri.slave_conf_change_time = ms;
                        }
                    }
                    if let Some(port) = l.strip_prefix("master_port:") {
                        let port = atoll(port);
                        if ri.slave_master_port != port {
                            ri.slave_master_port = port;
                            ri.slave_conf_change_time = ms;
                        }
                    }
                    if let Some(status) = l.strip_prefix("master_link_status:") {
                        ri.slave_master_link_up = status.eq_ignore_ascii_case("up");
                    }
                    if let Some(p) = l.strip_prefix("slave_priority:") {
                        ri.slave_priority = atoll(p);
                    }
                    if let Some(o) = l.strip_prefix("slave_repl_offset:") {
                        ri.slave_repl_offset = atoll(o).max(0) as u64;
                    }
                    if let Some(a) = l.strip_prefix("replica_announced:") {
                        ri.replica_announced = atoll(a);
                    }
                }
            }
            ri.info_refresh = ms;
        }
        if rebooted {
            self.event(now, Level::Notice, "+reboot", master, which, "");
        }
        for addr in new_slaves {
            let key = addr.key();
            let m = &self.masters[master];
            if m.slaves.contains_key(&key) {
                continue;
            }
            self.create_slave(now, master, addr);
            self.event(now, Level::Notice, "+slave", master, &Which::Slave(key), "");
            self.flush_config(now);
        }
        self.info_acting_half(now, master, which, role);
    }

    /// The replica instance `addr` of `master`, created with the master's settings.
    pub(super) fn create_slave(&mut self, now: SimTime, master: &str, addr: Addr) {
        let id = self.alloc_instance();
        let m = self.masters.get_mut(master).expect("the master exists");
        let key = addr.key();
        let ri = Instance::new(
            id,
            flag::SLAVE,
            key.clone(),
            addr,
            m.ri.down_after_period,
            Self::ms(now),
        );
        m.slaves.insert(key, ri);
    }

    /// The acting half of `sentinelRefreshInstanceInfo`.
    fn info_acting_half(&mut self, now: SimTime, master: &str, which: &Which, role: u32) {
        let ms = Self::ms(now);
        let ri = self.instance_mut(master, which);
        if role != ri.role_reported {
            ri.role_reported_time = ms;
            ri.role_reported = role;
            if role == flag::SLAVE {
                ri.slave_conf_change_time = ms;
            }
            let coherent = ri.flags & (flag::MASTER | flag::SLAVE) == role;
            let kind = if coherent {
                "+role-change"
            } else {
                "-role-change"
            };
            let text = format!(
                " new reported role is {}",
                if role == flag::MASTER {
                    "master"
                } else {
                    "slave"
                }
            );
            self.event(now, Level::Verbose, kind, master, which, &text);
        }
        if self.tilt {
            return;
        }
        let m = &self.masters[master];
        let ri = m.get(which).expect("exists");
        let is_slave = ri.has(flag::SLAVE);
        // A replica that reports itself a master.
        if is_slave && role == flag::MASTER {
            if ri.has(flag::PROMOTED)
                && m.ri.has(flag::FAILOVER_IN_PROGRESS)
                && m.failover_state == FailoverState::WaitPromotion
            {
                self.promotion_seen(now, master, which);
            } else {
                let wait_time = PUBLISH_PERIOD * 4;
                if !ri.has(flag::PROMOTED)
                    && self.master_looks_sane(now, master)
                    && ri.no_down_for(ms, wait_time)
                    && ms - ri.role_reported_time > wait_time
                {
                    let to = m.ri.addr.clone();
                    if self.send_slaveof(master, which, Some(&to)) {
                        self.event(now, Level::Notice, "+convert-to-slave", master, which, "");
                    }
                }
            }
        }
        let m = &self.masters[master];
        let ri = m.get(which).expect("exists");
        // A replica that replicates from another address than its master's.
        if is_slave
            && role == flag::SLAVE
            && (ri.slave_master_port != i64::from(m.ri.addr.port)
                || !ri
                    .slave_master_host
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(&m.ri.addr.ip)))
        {
            let wait_time = m.failover_timeout;
            if self.master_looks_sane(now, master)
                && ri.no_down_for(ms, wait_time)
                && ms - ri.slave_conf_change_time > wait_time
            {
                let to = m.ri.addr.clone();
                if self.send_slaveof(master, which, Some(&to)) {
                    self.event(now, Level::Notice, "+fix-slave-config", master, which, "");
                }
            }
        }
        // A replica being reconfigured that moved on.
        let m = &self.masters[master];
        let ri = m.get(which).expect("exists");
        if is_slave
            && role == flag::SLAVE
            && ri.flags & (flag::RECONF_SENT | flag::RECONF_INPROG) != 0
        {
            let promoted = m
                .promoted_slave
                .as_ref()
                .and_then(|k| m.slaves.get(k))
                .map(|p| p.addr.clone());
            let following_promoted = promoted.as_ref().is_some_and(|p| {
                ri.slave_master_host
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(&p.ip))
                    && ri.slave_master_port == i64::from(p.port)
            });
            if ri.has(flag::RECONF_SENT) && following_promoted {
                let ri = self.instance_mut(master, which);
                ri.flags &= !flag::RECONF_SENT;
                ri.flags |= flag::RECONF_INPROG;
                self.event(
                    now,
                    Level::Notice,
                    "+slave-reconf-inprog",
                    master,
                    which,
                    "",
                );
            }
            let ri = self.instance_mut(master, which);
            if ri.has(flag::RECONF_INPROG) && ri.slave_master_link_up {
                ri.flags &= !flag::RECONF_INPROG;
                ri.flags |= flag::RECONF_DONE;
                self.event(now, Level::Notice, "+slave-reconf-done", master, which, "");
            }
        }
    }

    /// `sentinelMasterLooksSane`: a master that says it is one, is not down, and answered INFO
    /// within two INFO periods.
    fn master_looks_sane(&self, now: SimTime, master: &str) -> bool {
        let ri = &self.masters[master].ri;
        ri.has(flag::MASTER)
            && ri.role_reported == flag::MASTER
            && ri.flags & (flag::S_DOWN | flag::O_DOWN) == 0
            && Self::ms(now) - ri.info_refresh < INFO_PERIOD * 2
    }

    /// `sentinelProcessHelloMessage`: learn the Sentinel that sent it, a newer epoch, and a newer
    /// configuration of the master (a failover done elsewhere: `+switch-master`).
    pub(super) fn process_hello(&mut self, now: SimTime, hello: &str) {
        let t: Vec<&str> = hello.split(',').collect();
        if t.len() != 8 {
            return;
        }
        let master = t[4].to_string();
        if !self.masters.contains_key(&master) {
            return;
        }
        let port = atoll(t[1]).clamp(0, i64::from(u16::MAX)) as u16;
        let master_port = atoll(t[6]).clamp(0, i64::from(u16::MAX)) as u16;
        let (ip, runid) = (t[0].to_string(), t[2].to_string());
        let current_epoch = strtoull(t[3]);
        let master_config_epoch = strtoull(t[7]);
        let addr = Addr {
            ip: ip.clone(),
            port,
        };
        let known = self.masters[&master]
            .sentinels
            .values()
            .any(|s| s.runid.as_deref() == Some(&runid) && s.addr == addr);
        if !known {
            // The same run id at another address: it moved.
            let removed = self.remove_sentinels_with_runid(&master, &runid);
            if removed > 0 {
                let text = format!(" ip {ip} port {port} for {runid}");
                self.event(
                    now,
                    Level::Notice,
                    "+sentinel-address-switch",
                    &master,
                    &Which::Master,
                    &text,
                );
            } else if let Some(other) = self.masters[&master]
                .sentinels
                .iter()
                .find(|(_, s)| s.addr == addr)
                .map(|(k, _)| k.clone())
            {
                // Another run id at this address: the old one is gone, from every master.
                self.event(
                    now,
                    Level::Notice,
                    "+sentinel-invalid-addr",
                    &master,
                    &Which::Sentinel(other.clone()),
                    "",
                );
                let obsolete = self.masters[&master].sentinels[&other]
                    .runid
                    .clone()
                    .unwrap_or_default();
                let names: Vec<String> = self.masters.keys().cloned().collect();
                for m in names {
                    self.remove_sentinels_with_runid(&m, &obsolete);
                }
            }
            let id = self.alloc_instance();
            let m = self.masters.get_mut(&master).expect("checked above");
            if !m.sentinels.contains_key(&runid) {
                let mut si = Instance::new(
                    id,
                    flag::SENTINEL,
                    runid.clone(),
                    addr,
                    m.ri.down_after_period,
                    Self::ms(now),
                );
                si.runid = Some(runid.clone());
                m.sentinels.insert(runid.clone(), si);
                if removed == 0 {
                    self.event(
                        now,
                        Level::Notice,
                        "+sentinel",
                        &master,
                        &Which::Sentinel(runid.clone()),
                        "",
                    );
                }
                self.flush_config(now);
            }
        }
        if current_epoch > self.current_epoch {
            self.current_epoch = current_epoch;
            self.flush_config(now);
            let text = format!("{}", self.current_epoch);
            self.event_text(now, Level::Warning, "+new-epoch", text);
        }
        let si = Which::Sentinel(runid.clone());
        if self.masters[&master].sentinels.contains_key(&runid) {
            let m = self.masters.get_mut(&master).expect("checked above");
            if m.ri.config_epoch < master_config_epoch {
                m.ri.config_epoch = master_config_epoch;
                let (old, new_ip) = (m.ri.addr.clone(), t[5].to_string());
                if master_port != old.port || !new_ip.eq_ignore_ascii_case(&old.ip) {
                    self.event(now, Level::Warning, "+config-update-from", &master, &si, "");
                    let text = format!("{master} {} {} {new_ip} {master_port}", old.ip, old.port);
                    self.event_text(now, Level::Warning, "+switch-master", text);
                    self.reset_master_and_change_address(
                        now,
                        &master,
                        Addr {
                            ip: new_ip,
                            port: master_port,
                        },
                    );
                }
            }
            if let Some(s) = self
                .masters
                .get_mut(&master)
                .and_then(|m| m.sentinels.get_mut(&runid))
            {
                s.last_hello_time = Self::ms(now);
            }
        }
    }

    /// `removeMatchingSentinelFromMaster`.
    fn remove_sentinels_with_runid(&mut self, master: &str, runid: &str) -> usize {
        let Some(m) = self.masters.get_mut(master) else {
            return 0;
        };
        let gone: Vec<String> = m
            .sentinels
            .iter()
            .filter(|(_, s)| s.runid.as_deref() == Some(runid))
            .map(|(k, _)| k.clone())
            .collect();
        let mut links = Vec::new();
        for k in &gone {
            if let Some(s) = m.sentinels.remove(k) {
                links.push(s.link);
            }
        }
        for l in &links {
            self.release_link(l);
        }
        gone.len()
    }

    /// `sentinelCheckSubjectivelyDown`: a link silent for half of down-after since a 15 s old
    /// connection is dropped and made again; an instance silent for down-after (or a master that
    /// reports being a replica for long) is SDOWN.
    fn check_subjectively_down(&mut self, now: SimTime, master: &str, which: &Which) {
        let ms = Self::ms(now);
        let ri = &self.masters[master]
            .get(which)
            .expect("handled instances exist");
        let elapsed = if ri.link.act_ping_time != 0 {
            ms - ri.link.act_ping_time
        } else if ri.link.disconnected {
            ms - ri.link.last_avail_time
        } else {
            0
        };
        let half = ri.down_after_period / 2;
        if let Some(cc) = ri.link.cc {
            if ms - ri.link.cc_conn_time > MIN_LINK_RECONNECT_PERIOD
                && ri.link.act_ping_time != 0
                && ms - ri.link.act_ping_time > half
                && ms - ri.link.last_pong_time > half
            {
                self.link_close(master, which, cc);
            }
        }
        let ri = &self.masters[master].get(which).expect("exists");
        if let Some(pc) = ri.link.pc {
            if ms - ri.link.pc_conn_time > MIN_LINK_RECONNECT_PERIOD
                && ms - ri.link.pc_last_activity > PUBLISH_PERIOD * 3
            {
                self.link_close(master, which, pc);
            }
        }
        let ri = &self.masters[master].get(which).expect("exists");
        let down = elapsed > ri.down_after_period
            || (ri.has(flag::MASTER)
                && ri.role_reported == flag::SLAVE
                && ms - ri.role_reported_time > ri.down_after_period + INFO_PERIOD * 2)
            || (ri.has(flag::MASTER_REBOOT)
                && ms - ri.master_reboot_since_time > ri.master_reboot_down_after_period);
        let was_down = ri.has(flag::S_DOWN);
        if down && !was_down {
            self.event(now, Level::Warning, "+sdown", master, which, "");
            let ri = self.instance_mut(master, which);
            ri.s_down_since_time = ms;
            ri.flags |= flag::S_DOWN;
        } else if !down && was_down {
            self.event(now, Level::Warning, "-sdown", master, which, "");
            self.instance_mut(master, which).flags &= !flag::S_DOWN;
        }
    }

    /// `sentinelCheckObjectivelyDown`: SDOWN here and MASTER_DOWN from enough of the others.
    fn check_objectively_down(&mut self, now: SimTime, master: &str) {
        let m = &self.masters[master];
        let mut quorum = 0;
        let mut odown = false;
        if m.ri.has(flag::S_DOWN) {
            quorum = 1 + m
                .sentinels
                .values()
                .filter(|s| s.has(flag::MASTER_DOWN))
                .count() as u32;
            odown = quorum >= m.quorum;
        }
        let (was, need) = (m.ri.has(flag::O_DOWN), m.quorum);
        if odown && !was {
            self.event(
                now,
                Level::Warning,
                "+odown",
                master,
                &Which::Master,
                &format!(" #quorum {quorum}/{need}"),
            );
            let ri = self.instance_mut(master, &Which::Master);
            ri.flags |= flag::O_DOWN;
            ri.o_down_since_time = Self::ms(now);
        } else if !odown && was {
            self.event(now, Level::Warning, "-odown", master, &Which::Master, "");
            self.instance_mut(master, &Which::Master).flags &= !flag::O_DOWN;
        }
    }

    /// `sentinelAskMasterStateToOtherSentinels`: while the master is SDOWN, ask each connected
    /// Sentinel every second (at once when `forced`) whether it agrees, and for its vote once a
    /// failover has started. An answer older than five seconds no longer counts.
    pub(super) fn ask_master_state(&mut self, now: SimTime, master: &str, forced: bool) {
        let ms = Self::ms(now);
        let m = self.masters.get_mut(master).expect("the master exists");
        let (sdown, ip, port) = (m.ri.has(flag::S_DOWN), m.ri.addr.ip.clone(), m.ri.addr.port);
        let asking_vote = m.failover_state > FailoverState::None;
        let mut ask = Vec::new();
        for (k, s) in m.sentinels.iter_mut() {
            if ms - s.last_master_down_reply_time > ASK_PERIOD * 5 {
                s.flags &= !flag::MASTER_DOWN;
                s.leader = None;
            }
            if !sdown || s.link.disconnected {
                continue;
            }
            if !forced && ms - s.last_master_down_reply_time < ASK_PERIOD {
                continue;
            }
            if let Some(cc) = s.link.cc {
                ask.push((k.clone(), cc));
            }
        }
        let epoch = self.current_epoch.to_string();
        let runid = if asking_vote {
            self.myid.clone()
        } else {
            "*".to_string()
        };
        let port = port.to_string();
        for (k, cc) in ask {
            let args = [
                "SENTINEL",
                "is-master-down-by-addr",
                &ip,
                &port,
                &epoch,
                &runid,
            ];
            self.send_counted(
                master,
                &Which::Sentinel(k),
                cc,
                &args,
                Callback::IsMasterDown,
            );
        }
    }

    /// `sentinelReceiveIsMasterDownReply`.
    fn is_master_down_reply(&mut self, now: SimTime, master: &str, which: &Which, reply: Reply) {
        let Reply::Array(items) = reply else { return };
        let [Reply::Integer(down), Reply::Bulk(leader), Reply::Integer(epoch)] = items.as_slice()
        else {
            return;
        };
        let leader = String::from_utf8_lossy(leader).into_owned();
        let ms = Self::ms(now);
        let ri = self.instance_mut(master, which);
        ri.last_master_down_reply_time = ms;
        if *down == 1 {
            ri.flags |= flag::MASTER_DOWN;
        } else {
            ri.flags &= !flag::MASTER_DOWN;
        }
        if leader != "*" {
            let changed = ri.leader_epoch as i64 != *epoch;
            let name = ri.name.clone();
            ri.leader = Some(leader.clone());
            ri.leader_epoch = *epoch as u64;
            if changed {
                self.log(
                    now,
                    Level::Warning,
                    format!("{name} voted for {leader} {epoch}"),
                );
            }
        }
    }
}

/// The address in an INFO `slaveN:` line, old (`ip,port,state`) or new (`ip=..,port=..`) format.
fn parse_slave_line(l: &str) -> Option<Addr> {
    let (ip, port) = if let Some(at) = l.find("ip=") {
        let ip = l[at + 3..].split(',').next()?;
        let port = l
            .find("port=")
            .map(|p| l[p + 5..].split(',').next().unwrap_or(""))?;
        (ip, port)
    } else {
        let rest = &l[l.find(':')? + 1..];
        let mut parts = rest.split(',');
        let ip = parts.next()?;
        let port = parts.next()?;
        parts.next()?;
        (ip, port)
    };
    Some(Addr {
        ip: ip.to_string(),
        port: atoll(port).clamp(0, i64::from(u16::MAX)) as u16,
    })
}

/// C's `atoi`/`strtoll` on a field: the leading integer, 0 without one.
pub(super) fn atoll(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// `strtoull` on a field: the leading unsigned integer, 0 without one.
pub(super) fn strtoull(s: &str) -> u64 {
    let mut n: u64 = 0;
    for b in s.trim_start().bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    n
}
