//! The acting half of sentinel.c: starting a failover, the vote and the leader of an epoch,
//! choosing the replica, the failover state machine, and the switch to the new master
//! (`sentinelStartFailoverIfNeeded` to `sentinelFailoverSwitchToPromotedSlave`).
//!
//! The election is Raft-like, as sentinel.c's: a Sentinel that starts a failover bumps the
//! epoch and asks the others for their vote; each votes once per epoch, for the first asker; a
//! Sentinel leads when a majority of all the Sentinels it knows, and at least the quorum, voted
//! for it in that epoch. One that does not lead within the election timeout gives up, and no
//! Sentinel tries again before twice the failover timeout.

use std::cmp::Ordering;

use super::instance::{flag, Addr, FailoverState, Instance, Which};
use super::{Callback, Sentinel, ELECTION_TIMEOUT, INFO_PERIOD, MAX_DESYNC, PING_PERIOD};
use super::{PUBLISH_PERIOD, SLAVE_RECONF_TIMEOUT};
use crate::redis::log::{ctime, Level};
use crate::time::SimTime;

impl Sentinel {
    /// `sentinelStartFailoverIfNeeded`: ODOWN, no failover in progress, none started within
    /// twice the failover timeout. Returns whether one started.
    pub(super) fn start_failover_if_needed(&mut self, now: SimTime, master: &str) -> bool {
        let ms = Self::ms(now);
        let m = &self.masters[master];
        if !m.ri.has(flag::O_DOWN) || m.ri.has(flag::FAILOVER_IN_PROGRESS) {
            return false;
        }
        if ms - m.failover_start_time < m.failover_timeout * 2 {
            if m.failover_delay_logged != m.failover_start_time {
                let at = (m.failover_start_time + m.failover_timeout * 2) / 1000;
                let m = self.masters.get_mut(master).expect("exists");
                m.failover_delay_logged = m.failover_start_time;
                self.log(
                    now,
                    Level::Warning,
                    format!(
                        "Next failover delay: I will not start a failover before {}",
                        ctime(at.max(0) as u64)
                    ),
                );
            }
            return false;
        }
        self.start_failover(now, master);
        true
    }

    /// `sentinelStartFailover`: a new epoch, and a start time desynchronised by up to a second.
    fn start_failover(&mut self, now: SimTime, master: &str) {
        let ms = Self::ms(now);
        self.current_epoch += 1;
        let epoch = self.current_epoch;
        let desync = self.rng.below(MAX_DESYNC) as i64;
        let m = self.masters.get_mut(master).expect("exists");
        m.failover_state = FailoverState::WaitStart;
        m.ri.flags |= flag::FAILOVER_IN_PROGRESS;
        m.failover_epoch = epoch;
        m.failover_start_time = ms + desync;
        m.failover_state_change_time = ms;
        self.event_text(now, Level::Warning, "+new-epoch", epoch.to_string());
        self.event(
            now,
            Level::Warning,
            "+try-failover",
            master,
            &Which::Master,
            "",
        );
    }

    /// `sentinelVoteLeader`: vote for `req_runid` in `req_epoch` unless already voted in it (or a
    /// later one); returns the vote held and its epoch.
    pub(super) fn vote_leader(
        &mut self,
        now: SimTime,
        master: &str,
        req_epoch: u64,
        req_runid: &str,
    ) -> (Option<String>, u64) {
        if req_epoch > self.current_epoch {
            self.current_epoch = req_epoch;
            self.flush_config(now);
            self.event_text(now, Level::Warning, "+new-epoch", req_epoch.to_string());
        }
        let current = self.current_epoch;
        let m = self.masters.get_mut(master).expect("exists");
        if m.ri.leader_epoch < req_epoch && current <= req_epoch {
            m.ri.leader = Some(req_runid.to_string());
            m.ri.leader_epoch = current;
            self.flush_config(now);
            let text = format!("{req_runid} {current}");
            self.event_text(now, Level::Warning, "+vote-for-leader", text);
            // Having voted for another, wait before trying a failover of our own.
            if !req_runid.eq_ignore_ascii_case(&self.myid) {
                let desync = self.rng.below(MAX_DESYNC) as i64;
                let m = self.masters.get_mut(master).expect("exists");
                m.failover_start_time = Self::ms(now) + desync;
            }
        }
        let m = &self.masters[master];
        (m.ri.leader.clone(), m.ri.leader_epoch)
    }

    /// `sentinelGetLeader`: the Sentinel with a majority of the voters (every Sentinel known
    /// plus this one) and at least the quorum in `epoch`, counting this Sentinel's own vote,
    /// which goes to the most voted or else to itself.
    fn get_leader(&mut self, now: SimTime, master: &str, epoch: u64) -> Option<String> {
        let m = &self.masters[master];
        let voters = m.sentinels.len() as u64 + 1;
        // Votes in the order their Sentinels are walked; the first to reach the most wins ties.
        let mut counters: Vec<(String, u64)> = Vec::new();
        let incr = |counters: &mut Vec<(String, u64)>, id: &str| -> u64 {
            match counters.iter_mut().find(|(k, _)| k == id) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counters.push((id.to_string(), 1));
                    1
                }
            }
        };
        for s in m.sentinels.values() {
            if let Some(l) = &s.leader {
                if s.leader_epoch == self.current_epoch {
                    incr(&mut counters, l);
                }
            }
        }
        let mut winner: Option<String> = None;
        let mut max_votes = 0;
        for (k, n) in &counters {
            if *n > max_votes {
                max_votes = *n;
                winner = Some(k.clone());
            }
        }
        let candidate = winner.clone().unwrap_or_else(|| self.myid.clone());
        let (myvote, leader_epoch) = self.vote_leader(now, master, epoch, &candidate);
        if let Some(v) = myvote.filter(|_| leader_epoch == epoch) {
            let votes = incr(&mut counters, &v);
            if votes > max_votes {
                max_votes = votes;
                winner = Some(v);
            }
        }
        let quorum = u64::from(self.masters[master].quorum);
        let voters_quorum = voters / 2 + 1;
        winner.filter(|_| max_votes >= voters_quorum && max_votes >= quorum)
    }

    /// `sentinelFailoverStateMachine`.
    pub(super) fn failover_state_machine(&mut self, now: SimTime, master: &str) {
        let m = &self.masters[master];
        if !m.ri.has(flag::FAILOVER_IN_PROGRESS) {
            return;
        }
        match m.failover_state {
            FailoverState::WaitStart => self.failover_wait_start(now, master),
            FailoverState::SelectSlave => self.failover_select_slave(now, master),
            FailoverState::SendSlaveofNoone => self.failover_send_slaveof_noone(now, master),
            FailoverState::WaitPromotion => self.failover_wait_promotion(now, master),
            FailoverState::ReconfSlaves => self.failover_reconf_next_slave(now, master),
            FailoverState::None | FailoverState::UpdateConfig => {}
        }
    }

    /// `sentinelFailoverWaitStart`: lead the epoch, or give up after the election timeout.
    fn failover_wait_start(&mut self, now: SimTime, master: &str) {
        let epoch = self.masters[master].failover_epoch;
        let leader = self.get_leader(now, master, epoch);
        let is_leader = leader.is_some_and(|l| l.eq_ignore_ascii_case(&self.myid));
        let ms = Self::ms(now);
        if !is_leader {
            let m = &self.masters[master];
            let election_timeout = ELECTION_TIMEOUT.min(m.failover_timeout);
            if ms - m.failover_start_time > election_timeout {
                self.event(
                    now,
                    Level::Warning,
                    "-failover-abort-not-elected",
                    master,
                    &Which::Master,
                    "",
                );
                self.abort_failover(now, master);
            }
            return;
        }
        self.event(
            now,
            Level::Warning,
            "+elected-leader",
            master,
            &Which::Master,
            "",
        );
        let m = self.masters.get_mut(master).expect("exists");
        m.failover_state = FailoverState::SelectSlave;
        m.failover_state_change_time = ms;
        self.event(
            now,
            Level::Warning,
            "+failover-state-select-slave",
            master,
            &Which::Master,
            "",
        );
    }

    /// `sentinelSelectSlave`: among the replicas that are up, connected, answered PING within
    /// five seconds, answered INFO recently, lost their master not too long ago and have a
    /// non-zero priority, the lowest priority, then the largest offset, then the smallest run id.
    fn select_slave(&self, now: SimTime, master: &str) -> Option<String> {
        let ms = Self::ms(now);
        let m = &self.masters[master];
        let mut max_master_down_time = 0;
        if m.ri.has(flag::S_DOWN) {
            max_master_down_time += ms - m.ri.s_down_since_time;
        }
        max_master_down_time += m.ri.down_after_period * 10;
        let info_validity_time = if m.ri.has(flag::S_DOWN) {
            PING_PERIOD * 5
        } else {
            INFO_PERIOD * 3
        };
        let mut candidates: Vec<(&String, &Instance)> = m
            .slaves
            .iter()
            .filter(|(_, s)| {
                s.flags & (flag::S_DOWN | flag::O_DOWN) == 0
                    && !s.link.disconnected
                    && ms - s.link.last_avail_time <= PING_PERIOD * 5
                    && s.slave_priority != 0
                    && ms - s.info_refresh <= info_validity_time
                    && s.master_link_down_time <= max_master_down_time
            })
            .collect();
        candidates.sort_by(|a, b| compare_for_promotion(a.1, b.1));
        candidates.first().map(|(k, _)| (*k).clone())
    }

    /// `sentinelFailoverSelectSlave`.
    fn failover_select_slave(&mut self, now: SimTime, master: &str) {
        let Some(key) = self.select_slave(now, master) else {
            self.event(
                now,
                Level::Warning,
                "-failover-abort-no-good-slave",
                master,
                &Which::Master,
                "",
            );
            self.abort_failover(now, master);
            return;
        };
        let which = Which::Slave(key.clone());
        self.event(now, Level::Warning, "+selected-slave", master, &which, "");
        let m = self.masters.get_mut(master).expect("exists");
        if let Some(s) = m.slaves.get_mut(&key) {
            s.flags |= flag::PROMOTED;
        }
        m.promoted_slave = Some(key);
        m.failover_state = FailoverState::SendSlaveofNoone;
        m.failover_state_change_time = Self::ms(now);
        self.event(
            now,
            Level::Notice,
            "+failover-state-send-slaveof-noone",
            master,
            &which,
            "",
        );
    }

    /// `sentinelFailoverSendSlaveOfNoOne`: retried every run while the replica is unreachable,
    /// abandoned after the failover timeout.
    fn failover_send_slaveof_noone(&mut self, now: SimTime, master: &str) {
        let ms = Self::ms(now);
        let m = &self.masters[master];
        let Some(key) = m.promoted_slave.clone() else {
            return;
        };
        let which = Which::Slave(key.clone());
        let disconnected = m.slaves.get(&key).is_none_or(|s| s.link.disconnected);
        if disconnected {
            if ms - m.failover_state_change_time > m.failover_timeout {
                self.event(
                    now,
                    Level::Warning,
                    "-failover-abort-slave-timeout",
                    master,
                    &Which::Master,
                    "",
                );
                self.abort_failover(now, master);
            }
            return;
        }
        if !self.send_slaveof(master, &which, None) {
            return;
        }
        self.event(
            now,
            Level::Notice,
            "+failover-state-wait-promotion",
            master,
            &which,
            "",
        );
        let m = self.masters.get_mut(master).expect("exists");
        m.failover_state = FailoverState::WaitPromotion;
        m.failover_state_change_time = ms;
    }

    /// `sentinelFailoverWaitPromotion`: the replica's INFO will say when it is a master.
    fn failover_wait_promotion(&mut self, now: SimTime, master: &str) {
        let m = &self.masters[master];
        if Self::ms(now) - m.failover_state_change_time > m.failover_timeout {
            self.event(
                now,
                Level::Warning,
                "-failover-abort-slave-timeout",
                master,
                &Which::Master,
                "",
            );
            self.abort_failover(now, master);
        }
    }

    /// The promoted replica reported the master role: the failover's epoch becomes the master's
    /// configuration epoch, which the hellos carry to the other Sentinels.
    pub(super) fn promotion_seen(&mut self, now: SimTime, master: &str, which: &Which) {
        let m = self.masters.get_mut(master).expect("exists");
        m.ri.config_epoch = m.failover_epoch;
        m.failover_state = FailoverState::ReconfSlaves;
        m.failover_state_change_time = Self::ms(now);
        self.flush_config(now);
        self.event(now, Level::Warning, "+promoted-slave", master, which, "");
        self.event(
            now,
            Level::Warning,
            "+failover-state-reconf-slaves",
            master,
            &Which::Master,
            "",
        );
        self.force_hello_update(master);
    }

    /// `sentinelForceHelloUpdateForMaster`: hellos to every instance at the next timer run.
    fn force_hello_update(&mut self, master: &str) {
        let m = self.masters.get_mut(master).expect("exists");
        let back = |t: &mut i64| {
            // sentinel.c: `if (t >= (sentinel_publish_period+1)) t -= sentinel_publish_period+1`.
            if *t > PUBLISH_PERIOD {
                *t -= PUBLISH_PERIOD + 1;
            }
        };
        back(&mut m.ri.last_pub_time);
        for s in m.sentinels.values_mut().chain(m.slaves.values_mut()) {
            back(&mut s.last_pub_time);
        }
    }

    /// `sentinelFailoverReconfNextSlave`: SLAVEOF the new master to `parallel-syncs` replicas at
    /// a time; one that does not move on within 10 s counts as done (the Sentinels fix its
    /// configuration later).
    fn failover_reconf_next_slave(&mut self, now: SimTime, master: &str) {
        let ms = Self::ms(now);
        let m = &self.masters[master];
        let mut in_progress = m
            .slaves
            .values()
            .filter(|s| s.flags & (flag::RECONF_SENT | flag::RECONF_INPROG) != 0)
            .count() as u32;
        let parallel = m.parallel_syncs;
        let keys: Vec<String> = m.slaves.keys().cloned().collect();
        let promoted_addr = m
            .promoted_slave
            .as_ref()
            .and_then(|k| m.slaves.get(k))
            .map(|s| s.addr.clone());
        for key in keys {
            if in_progress >= parallel {
                break;
            }
            let which = Which::Slave(key.clone());
            let s = &self.masters[master].slaves[&key];
            if s.flags & (flag::PROMOTED | flag::RECONF_DONE) != 0 {
                continue;
            }
            if s.has(flag::RECONF_SENT) && ms - s.slave_reconf_sent_time > SLAVE_RECONF_TIMEOUT {
                self.event(
                    now,
                    Level::Notice,
                    "-slave-reconf-sent-timeout",
                    master,
                    &which,
                    "",
                );
                let s = self.instance_mut(master, &which);
                s.flags &= !flag::RECONF_SENT;
                s.flags |= flag::RECONF_DONE;
            }
            let s = &self.masters[master].slaves[&key];
            // A replica just timed out is sent SLAVEOF again, as sentinel.c does.
            if s.flags & (flag::RECONF_SENT | flag::RECONF_INPROG) != 0 || s.link.disconnected {
                continue;
            }
            if self.send_slaveof(master, &which, promoted_addr.as_ref()) {
                let s = self.instance_mut(master, &which);
                s.flags |= flag::RECONF_SENT;
                s.slave_reconf_sent_time = ms;
                self.event(now, Level::Notice, "+slave-reconf-sent", master, &which, "");
                in_progress += 1;
            }
        }
        self.failover_detect_end(now, master);
    }

    /// `sentinelFailoverDetectEnd`: done when every reachable replica is reconfigured, or at the
    /// failover timeout (then a best-effort SLAVEOF to the rest).
    fn failover_detect_end(&mut self, now: SimTime, master: &str) {
        let ms = Self::ms(now);
        let m = &self.masters[master];
        let elapsed = ms - m.failover_state_change_time;
        let promoted_up = m
            .promoted_slave
            .as_ref()
            .and_then(|k| m.slaves.get(k))
            .is_some_and(|s| !s.has(flag::S_DOWN));
        if !promoted_up {
            return;
        }
        let mut not_reconfigured = m
            .slaves
            .values()
            .filter(|s| s.flags & (flag::PROMOTED | flag::RECONF_DONE) == 0 && !s.has(flag::S_DOWN))
            .count();
        let timeout = elapsed > m.failover_timeout;
        if timeout {
            not_reconfigured = 0;
            self.event(
                now,
                Level::Warning,
                "+failover-end-for-timeout",
                master,
                &Which::Master,
                "",
            );
        }
        if not_reconfigured == 0 {
            self.event(
                now,
                Level::Warning,
                "+failover-end",
                master,
                &Which::Master,
                "",
            );
            let m = self.masters.get_mut(master).expect("exists");
            m.failover_state = FailoverState::UpdateConfig;
            m.failover_state_change_time = ms;
        }
        if timeout {
            let m = &self.masters[master];
            let to = m
                .promoted_slave
                .as_ref()
                .and_then(|k| m.slaves.get(k))
                .map(|s| s.addr.clone());
            let keys: Vec<String> = m
                .slaves
                .iter()
                .filter(|(_, s)| {
                    s.flags & (flag::PROMOTED | flag::RECONF_DONE | flag::RECONF_SENT) == 0
                        && !s.link.disconnected
                })
                .map(|(k, _)| k.clone())
                .collect();
            for key in keys {
                let which = Which::Slave(key);
                if self.send_slaveof(master, &which, to.as_ref()) {
                    self.event(
                        now,
                        Level::Notice,
                        "+slave-reconf-sent-be",
                        master,
                        &which,
                        "",
                    );
                    self.instance_mut(master, &which).flags |= flag::RECONF_SENT;
                }
            }
        }
    }

    /// `sentinelAbortFailover`: only before the promoted replica took the master role.
    fn abort_failover(&mut self, now: SimTime, master: &str) {
        let m = self.masters.get_mut(master).expect("exists");
        assert!(m.ri.has(flag::FAILOVER_IN_PROGRESS));
        assert!(m.failover_state <= FailoverState::WaitPromotion);
        m.ri.flags &= !flag::FAILOVER_IN_PROGRESS;
        m.failover_state = FailoverState::None;
        m.failover_state_change_time = Self::ms(now);
        if let Some(k) = m.promoted_slave.take() {
            if let Some(s) = m.slaves.get_mut(&k) {
                s.flags &= !flag::PROMOTED;
            }
        }
    }

    /// `sentinelFailoverSwitchToPromotedSlave`.
    pub(super) fn switch_to_promoted(&mut self, now: SimTime, master: &str) {
        let m = &self.masters[master];
        let to = m
            .promoted_slave
            .as_ref()
            .and_then(|k| m.slaves.get(k))
            .map_or_else(|| m.ri.addr.clone(), |s| s.addr.clone());
        let text = format!(
            "{master} {} {} {} {}",
            m.ri.addr.ip, m.ri.addr.port, to.ip, to.port
        );
        self.event_text(now, Level::Warning, "+switch-master", text);
        self.reset_master_and_change_address(now, master, to);
    }

    /// `sentinelResetMasterAndChangeAddress`: the master's instance now names `addr`; the other
    /// replicas, and the old master, are its replicas (discovered afresh).
    pub(super) fn reset_master_and_change_address(
        &mut self,
        now: SimTime,
        master: &str,
        addr: Addr,
    ) {
        let m = &self.masters[master];
        let mut slaves: Vec<Addr> = m
            .slaves
            .values()
            .filter(|s| s.addr != addr)
            .map(|s| s.addr.clone())
            .collect();
        if m.ri.addr != addr {
            slaves.push(m.ri.addr.clone());
        }
        self.reset_master(now, master);
        let m = self.masters.get_mut(master).expect("exists");
        m.ri.addr = addr;
        m.ri.o_down_since_time = 0;
        m.ri.s_down_since_time = 0;
        for a in slaves {
            let key = a.key();
            self.create_slave(now, master, a);
            self.event(now, Level::Notice, "+slave", master, &Which::Slave(key), "");
        }
        self.flush_config(now);
    }

    /// `sentinelResetMaster` keeping the Sentinels: replicas forgotten, flags and failover state
    /// cleared, the master's connections dropped (they reconnect to its new address).
    fn reset_master(&mut self, now: SimTime, master: &str) {
        let ms = Self::ms(now);
        let m = self.masters.get_mut(master).expect("exists");
        let slaves = std::mem::take(&mut m.slaves);
        let (cc, pc) = (m.ri.link.cc.take(), m.ri.link.pc.take());
        m.ri.link.pending_commands = 0;
        m.ri.link.disconnected = true;
        m.ri.flags &= flag::MASTER;
        m.ri.leader = None;
        m.failover_state = FailoverState::None;
        m.failover_state_change_time = 0;
        m.failover_start_time = 0;
        m.promoted_slave = None;
        m.ri.runid = None;
        m.ri.slave_master_host = None;
        m.ri.link.act_ping_time = ms;
        m.ri.link.last_ping_time = 0;
        m.ri.link.last_avail_time = ms;
        m.ri.link.last_pong_time = ms;
        m.ri.role_reported_time = ms;
        m.ri.role_reported = flag::MASTER;
        for c in [cc, pc].into_iter().flatten() {
            self.close(c);
        }
        for s in slaves.values() {
            self.release_link(&s.link);
        }
    }

    /// `sentinelSendSlaveOf`: `SLAVEOF host port` (or `NO ONE`) in a transaction with `CONFIG
    /// REWRITE` and the killing of normal and Pub/Sub clients, so that clients reconnect and
    /// ask again where the master is. The replies are not read: INFO shows the effect.
    pub(super) fn send_slaveof(&mut self, master: &str, which: &Which, to: Option<&Addr>) -> bool {
        let Some(cc) = self
            .masters
            .get(master)
            .and_then(|m| m.get(which))
            .and_then(|ri| ri.link.cc)
        else {
            return false;
        };
        let (host, port) = match to {
            Some(a) => (a.ip.clone(), a.port.to_string()),
            None => ("NO".to_string(), "ONE".to_string()),
        };
        let commands: [&[&str]; 6] = [
            &["MULTI"],
            &["SLAVEOF", &host, &port],
            &["CONFIG", "REWRITE"],
            &["CLIENT", "KILL", "TYPE", "normal"],
            &["CLIENT", "KILL", "TYPE", "pubsub"],
            &["EXEC"],
        ];
        for args in commands {
            self.send_counted(master, which, cc, args, Callback::Discard);
        }
        true
    }
}

/// `compareSlavesForPromotion`: lower priority first, then the larger offset, then the smaller
/// run id (case-insensitively), an unknown run id last.
fn compare_for_promotion(a: &Instance, b: &Instance) -> Ordering {
    a.slave_priority
        .cmp(&b.slave_priority)
        .then(b.slave_repl_offset.cmp(&a.slave_repl_offset))
        .then_with(|| match (&a.runid, &b.runid) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(priority: i64, offset: u64, runid: Option<&str>) -> Instance {
        let addr = Addr {
            ip: "10.0.0.2".into(),
            port: 6379,
        };
        let mut s = Instance::new(1, flag::SLAVE, addr.key(), addr, 30_000, 0);
        s.slave_priority = priority;
        s.slave_repl_offset = offset;
        s.runid = runid.map(str::to_string);
        s
    }

    #[test]
    fn replicas_are_ranked_by_priority_then_offset_then_run_id() {
        type Ranked = (i64, u64, Option<&'static str>);
        let cases: &[(Ranked, Ranked, Ordering)] = &[
            ((10, 0, Some("b")), (100, 999, Some("a")), Ordering::Less),
            ((100, 500, Some("b")), (100, 400, Some("a")), Ordering::Less),
            (
                (100, 500, Some("b")),
                (100, 500, Some("a")),
                Ordering::Greater,
            ),
            (
                (100, 500, Some("A")),
                (100, 500, Some("a")),
                Ordering::Equal,
            ),
            ((100, 500, None), (100, 500, Some("z")), Ordering::Greater),
            ((100, 500, None), (100, 500, None), Ordering::Equal),
        ];
        for (a, b, want) in cases {
            let (x, y) = (replica(a.0, a.1, a.2), replica(b.0, b.1, b.2));
            assert_eq!(compare_for_promotion(&x, &y), *want, "{a:?} vs {b:?}");
        }
    }
}
