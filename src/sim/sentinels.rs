//! The world's Sentinels: hosts of their own on the network, after the nodes (Sentinel `j` is
//! host `nodes + j`, at address `node_ip(nodes + j)`, port 26379). This file moves their bytes,
//! connections and timers as `world.rs` does the nodes', and records what they report.
//!
//! A Sentinel's `+switch-master`, `+convert-to-slave` and the other events that send a node
//! REPLICAOF change the topology as a fault does: they move the instant after which the
//! convergence checker expects the replicas to settle. A failover a Sentinel led becomes a
//! window on the charts, from its `+try-failover` to its `+switch-master` (or its abort).

use super::conns::NodeConns;
use super::observe::FaultWindow;
use super::trace::TraceKind;
use super::world::{node_ip, Ev, World};
use super::Engine;
use crate::net::{NetOutput, Network, NodeId, Segment, Side};
use crate::redis::log::LogLine;
use crate::redis::{Action, ConnId, Transmit};
use crate::sentinel::{
    Addr, MonitorConfig, Sentinel, SentinelEvent, SentinelParams, SENTINEL_PORT,
};
use crate::time::SimTime;

/// The most log lines kept per Sentinel; later lines are counted, not kept.
const LOG_LINES_MAX: usize = 100_000;

/// One Sentinel event, when and by whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelEventAt {
    pub time: SimTime,
    /// The Sentinel's index among the scenario's Sentinels.
    pub sentinel: usize,
    pub event: SentinelEvent,
}

pub(crate) struct SentinelSlot {
    /// Out of its slot only while it acts (see `drain_sentinel`).
    pub sentinel: Option<Box<Sentinel>>,
    pub(crate) timer_gen: u32,
    pub(crate) timer_at: Option<SimTime>,
    pub logs: Vec<LogLine>,
    pub logs_dropped: u64,
    /// When this Sentinel's failover in progress began (`+try-failover`).
    failover_started: Option<SimTime>,
    /// It was elected to lead that failover.
    elected: bool,
}

/// The events that make a node change its master (directly or by a REPLICAOF sent).
const RECONFIGURING: &[&str] = &[
    "+failover-state-send-slaveof-noone",
    "+slave-reconf-sent",
    "+slave-reconf-sent-be",
    "+switch-master",
    "+convert-to-slave",
    "+fix-slave-config",
];

impl World {
    /// Boots the scenario's Sentinels (at time zero) and schedules their first timers.
    pub(crate) fn boot_sentinels(&mut self, e: &mut Engine<Ev>) {
        let n = self.slots.len();
        for (j, spec) in self.scenario.sentinels.iter().enumerate() {
            let mut monitor = MonitorConfig::new(
                &spec.master_name,
                Addr {
                    ip: node_ip(spec.monitor),
                    port: super::world::PORT,
                },
                spec.quorum,
            );
            monitor.down_after_ms = spec.down_after.as_millis();
            monitor.failover_timeout_ms = spec.failover_timeout.as_millis();
            monitor.parallel_syncs = spec.parallel_syncs;
            let params = SentinelParams {
                name: spec.name.clone(),
                ip: node_ip(n + j),
                port: SENTINEL_PORT,
                masters: vec![monitor],
                seed: self.root_seed,
            };
            self.sentinels.push(SentinelSlot {
                sentinel: Some(Box::new(Sentinel::boot(SimTime::ZERO, params))),
                timer_gen: 0,
                timer_at: None,
                logs: Vec::new(),
                logs_dropped: 0,
                failover_started: None,
                elected: false,
            });
        }
        for j in 0..self.sentinels.len() {
            self.drain_sentinel(e, j);
        }
    }

    /// The host an address names for a Sentinel's connect: a node's or another Sentinel's.
    fn sentinel_resolve(&self, host: &str) -> Option<usize> {
        let n = self.slots.len();
        self.resolve(host).or_else(|| {
            (0..self.sentinels.len())
                .find(|&j| node_ip(n + j) == host)
                .map(|j| n + j)
        })
    }

    /// Lets Sentinel `j` act on what it queued: writes, connects, closes, events, logs, timer.
    pub(crate) fn drain_sentinel(&mut self, e: &mut Engine<Ev>, j: usize) {
        let now = e.now();
        let host = self.slots.len() + j;
        // The Sentinel leaves its slot while it acts, so the world stays free to consult.
        let Some(mut s) = self.sentinels[j].sentinel.take() else {
            return;
        };
        let mut tx = SentinelTx {
            net: &mut self.net,
            engine: e,
            conns: self.conns.of_node(host),
            now,
        };
        s.poll_transmit(now, &mut tx);
        while let Some(a) = s.poll_action() {
            match a {
                Action::Connect { conn, host: to, .. } => match self.sentinel_resolve(&to) {
                    Some(target) => {
                        let nc =
                            self.net
                                .connect(now, NodeId(host as u32), NodeId(target as u32), e);
                        self.conns.connect(host, conn, nc);
                        e.trace.record(
                            now.as_nanos(),
                            TraceKind::ConnectStart,
                            host as u64,
                            target as u64,
                            nc.as_u64(),
                        );
                    }
                    None => s.handle_connect_failed(now, conn, "Name or service not known"),
                },
                Action::Close { conn } => {
                    if let Some((nc, side)) = self.conns.close(host, conn) {
                        self.net.close(now, nc, side, e);
                        e.trace.record(
                            now.as_nanos(),
                            TraceKind::Close,
                            host as u64,
                            0,
                            nc.as_u64(),
                        );
                    }
                }
                Action::PauseRead { .. } | Action::ResumeRead { .. } => {}
            }
        }
        while let Some(ev) = s.poll_event() {
            self.sentinel_event(now, j, ev);
        }
        let slot = &mut self.sentinels[j];
        while let Some(l) = s.poll_log() {
            if slot.logs.len() < LOG_LINES_MAX {
                slot.logs.push(l);
            } else {
                slot.logs_dropped += 1;
            }
        }
        let next = s.poll_timeout();
        if slot.timer_at != Some(next) {
            slot.timer_at = Some(next);
            slot.timer_gen += 1;
            e.schedule(
                next.max(now),
                Ev::SentinelTimer {
                    sentinel: j as u32,
                    gen: slot.timer_gen,
                },
            );
        }
        slot.sentinel = Some(s);
    }

    /// Records one event of Sentinel `j`, and what it means for the run.
    fn sentinel_event(&mut self, now: SimTime, j: usize, event: SentinelEvent) {
        let kind = event.kind.as_str();
        if RECONFIGURING.contains(&kind) {
            self.rec.last_fault_end = self.rec.last_fault_end.max(now);
        }
        let name = self.scenario.sentinels[j].name.clone();
        let slot = &mut self.sentinels[j];
        match kind {
            "+try-failover" => {
                slot.failover_started = Some(now);
                slot.elected = false;
            }
            "+elected-leader" => slot.elected = true,
            "+switch-master"
            | "-failover-abort-not-elected"
            | "-failover-abort-no-good-slave"
            | "-failover-abort-slave-timeout" => {
                let led = std::mem::take(&mut slot.elected);
                if let (Some(start), true) = (slot.failover_started.take(), led) {
                    let label = match kind {
                        "+switch-master" => {
                            let to = event
                                .message
                                .split(' ')
                                .nth(3)
                                .and_then(|ip| self.resolve(ip))
                                .map_or("?", |i| self.scenario.nodes[i].name.as_str());
                            format!("failover to {to} ({name})")
                        }
                        abort => format!("{abort} ({name})"),
                    };
                    self.rec.windows.push(FaultWindow {
                        kind: "failover".into(),
                        label,
                        start,
                        end: Some(now),
                    });
                }
            }
            _ => {}
        }
        self.rec.sentinel_events.push(SentinelEventAt {
            time: now,
            sentinel: j,
            event,
        });
    }

    /// A network output for Sentinel host `host`.
    pub(crate) fn sentinel_net_output(&mut self, e: &mut Engine<Ev>, host: usize, o: NetOutput) {
        let now = e.now();
        let j = host - self.slots.len();
        let Some(s) = self.sentinels[j].sentinel.as_mut() else {
            return;
        };
        match o {
            NetOutput::Accept { conn, .. } => {
                let peer = self.conns.connecting_node(conn);
                let peer_ip = peer.map_or_else(|| "0.0.0.0".to_string(), node_ip);
                let local =
                    s.handle_accept(now, &peer_ip, 40_000 + (conn.as_u64() % 20_000) as u16);
                self.conns.accept(host, local, conn);
            }
            NetOutput::Established { conn, .. } => {
                if let Some((_, local)) = self.conns.end(conn, Side::Client) {
                    s.handle_connected(now, local);
                }
            }
            NetOutput::ConnectFailed { conn, .. } | NetOutput::ConnectRefused { conn, .. } => {
                let reason = if matches!(o, NetOutput::ConnectRefused { .. }) {
                    "Connection refused"
                } else {
                    "Connection timed out"
                };
                if let Some((_, local)) = self.conns.connect_failed(conn) {
                    s.handle_connect_failed(now, local, reason);
                }
            }
            NetOutput::Data {
                conn, side, eof, ..
            } => {
                let Some((_, local)) = self.conns.end(conn, side) else {
                    return;
                };
                let d = self.net.delivered();
                e.trace.record(
                    now.as_nanos(),
                    TraceKind::Deliver,
                    host as u64,
                    d.len(),
                    conn.as_u64() << 1 | side as u64,
                );
                let mut at = 0usize;
                for seg in &d.segments {
                    // Nothing sends a Sentinel the opaque part of an RDB.
                    if let Segment::Bytes(n) = *seg {
                        s.handle_data(now, local, &d.bytes[at..at + n]);
                        at += n;
                    }
                }
                if eof {
                    s.handle_eof(now, local);
                }
            }
            NetOutput::Writable { conn, side, .. } => {
                if let Some((_, local)) = self.conns.end(conn, side) {
                    s.handle_writable(now, local);
                }
            }
            NetOutput::Reset { conn, side, .. } => {
                if let Some((_, local)) = self.conns.reset(conn, side) {
                    s.handle_reset(now, local);
                }
            }
        }
        self.drain_sentinel(e, j);
    }

    /// Sentinel `j`'s timer.
    pub(crate) fn sentinel_timer(&mut self, e: &mut Engine<Ev>, j: usize, gen: u32) {
        let now = e.now();
        let slot = &mut self.sentinels[j];
        if slot.timer_gen != gen {
            return;
        }
        slot.timer_at = None;
        let host = self.slots.len() + j;
        e.trace
            .record(now.as_nanos(), TraceKind::Timer, host as u64, 0, 0);
        if let Some(s) = slot.sentinel.as_mut() {
            s.handle_timeout(now);
        }
        self.drain_sentinel(e, j);
    }

    /// Sentinel `j`, for reports and tests.
    pub fn sentinel(&self, j: usize) -> &Sentinel {
        self.sentinels[j]
            .sentinel
            .as_deref()
            .expect("a Sentinel is in its slot between events")
    }

    pub fn sentinel_count(&self) -> usize {
        self.sentinels.len()
    }

    /// Sentinel `j`'s log lines, and how many more were dropped.
    pub fn sentinel_logs(&self, j: usize) -> (&[LogLine], u64) {
        (&self.sentinels[j].logs, self.sentinels[j].logs_dropped)
    }
}

/// A Sentinel's socket layer: writes go into the network.
struct SentinelTx<'a> {
    net: &'a mut Network,
    engine: &'a mut Engine<Ev>,
    conns: &'a NodeConns,
    now: SimTime,
}

impl Transmit for SentinelTx<'_> {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        match self.conns.get(&conn) {
            Some(&(nc, side)) => self.net.send(self.now, nc, side, bytes, self.engine),
            None => 0,
        }
    }
    fn send_opaque(&mut self, _conn: ConnId, _len: u64) -> u64 {
        unreachable!("a Sentinel writes no RDB")
    }
}

#[cfg(test)]
mod tests {
    use crate::sim::{run, RunOutput};

    /// One master, two replicas and three Sentinels (quorum 2, down-after 5 s), then `rest`.
    fn three_sentinels(duration: &str, rest: &str) -> RunOutput {
        let mut toml = format!(
            "name = \"t\"\nduration = \"{duration}\"\n[defaults]\nrepl-diskless-sync-delay = 0\n\
             [[node]]\nname = \"master\"\n[[node]]\nname = \"replica-1\"\nreplicaof = \"master\"\n\
             [[node]]\nname = \"replica-2\"\nreplicaof = \"master\"\n"
        );
        for i in 1..=3 {
            toml += &format!(
                "[[sentinel]]\nname = \"sentinel-{i}\"\nmonitor = \"master\"\nquorum = 2\n\
                 down-after-milliseconds = 5000\nfailover-timeout = 60000\n"
            );
        }
        toml += rest;
        let sc = crate::scenario::parse("t.toml", &toml).expect("a valid scenario");
        run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }

    /// Sentinel `j`'s events as (seconds, type, message).
    fn events(out: &RunOutput, j: usize) -> Vec<(f64, String, String)> {
        out.world
            .rec
            .sentinel_events
            .iter()
            .filter(|e| e.sentinel == j)
            .map(|e| {
                (
                    e.time.as_nanos() as f64 / 1e9,
                    e.event.kind.clone(),
                    e.event.message.clone(),
                )
            })
            .collect()
    }

    fn first(out: &RunOutput, j: usize, kind: &str) -> Option<f64> {
        events(out, j).iter().find(|e| e.1 == kind).map(|e| e.0)
    }

    /// The Sentinel that led the failover (its `+elected-leader`).
    fn leader(out: &RunOutput) -> usize {
        let leaders: Vec<usize> = (0..out.world.sentinel_count())
            .filter(|&j| first(out, j, "+elected-leader").is_some())
            .collect();
        assert_eq!(leaders.len(), 1, "one leader: {leaders:?}");
        leaders[0]
    }

    const PAUSE_25S: &str =
        "[[fault]]\nat = \"20s\"\nkind = \"pause\"\nnode = \"master\"\nduration = \"25s\"\n";

    #[test]
    fn a_paused_master_is_failed_over_as_sentinel_does_and_rejoins_as_a_replica() {
        let out = three_sentinels("70s", PAUSE_25S);
        let l = leader(&out);
        // The leader's failover, in sentinel.c's order.
        let want = [
            "+sdown",
            "+odown",
            "+new-epoch",
            "+try-failover",
            "+vote-for-leader",
            "+elected-leader",
            "+failover-state-select-slave",
            "+selected-slave",
            "+failover-state-send-slaveof-noone",
            "+failover-state-wait-promotion",
            "+promoted-slave",
            "+failover-state-reconf-slaves",
            "+slave-reconf-sent",
            "+slave-reconf-inprog",
            "+slave-reconf-done",
            "+failover-end",
            "+switch-master",
        ];
        let mut got: Vec<String> = events(&out, l)
            .into_iter()
            .map(|e| e.1)
            .filter(|k| want.contains(&k.as_str()))
            .collect();
        // Then the old master, now a replica, is itself SDOWN until it resumes.
        let end = got
            .iter()
            .position(|k| k == "+switch-master")
            .map_or(got.len(), |i| i + 1);
        got.truncate(end);
        assert_eq!(got, want, "{:#?}", events(&out, l));
        // SDOWN comes down-after (5 s) after the first unanswered PING, which goes out within
        // about a second of the pause.
        for j in 0..3 {
            let sdown = first(&out, j, "+sdown").expect("every Sentinel sees it");
            assert!(
                (25.0..26.2).contains(&sdown),
                "sentinel {j}: +sdown at {sdown}"
            );
        }
        let (odown, switch) = (
            first(&out, l, "+odown").unwrap(),
            first(&out, l, "+switch-master").unwrap(),
        );
        assert!(
            switch - odown < 4.0,
            "+odown {odown}, +switch-master {switch}"
        );
        // Every Sentinel ends up with the promoted replica as the master, the leader by its
        // failover and the others by its hellos.
        let promoted = events(&out, l)
            .into_iter()
            .find(|e| e.1 == "+promoted-slave")
            .map(|e| e.2.split(' ').nth(2).unwrap().to_string())
            .unwrap();
        let w = &out.world;
        for j in 0..3 {
            assert_eq!(w.sentinel(j).master_addr("mymaster").unwrap().ip, promoted);
            assert!(first(&out, j, "+switch-master").is_some());
        }
        let new_master = w.resolve(&promoted).unwrap();
        assert_eq!(w.current_master(), Some(new_master));
        // The old master came back at 45 s and a Sentinel (any one) turned it into a replica of
        // the new one, once its INFO had said "master" for 8 s after it answered again.
        let converted: Vec<f64> = (0..3)
            .filter_map(|j| first(&out, j, "+convert-to-slave"))
            .collect();
        assert!(
            !converted.is_empty() && converted.iter().all(|&t| t > 53.0),
            "{converted:?}"
        );
        for i in 0..3 {
            if i != new_master {
                assert_eq!(w.master_of(i), Some(new_master), "node {i}");
                assert!(w.node(i).unwrap().master_link_up(), "node {i}");
            }
        }
        // The failover is a window on the charts.
        assert!(w.rec.windows.iter().any(|f| f.kind == "failover"));
    }

    #[test]
    fn a_pause_shorter_than_down_after_changes_nothing() {
        let out = three_sentinels(
            "40s",
            "[[fault]]\nat = \"20s\"\nkind = \"pause\"\nnode = \"master\"\nduration = \"3s\"\n",
        );
        for j in 0..3 {
            assert_eq!(first(&out, j, "+sdown"), None, "{:?}", events(&out, j));
        }
        assert_eq!(out.world.current_master(), Some(0));
    }

    #[test]
    fn with_two_sentinels_cut_off_the_third_sees_sdown_but_never_odown() {
        let out = three_sentinels(
            "60s",
            &format!(
                "{PAUSE_25S}[[fault]]\nat = \"0s\"\nkind = \"partition\"\ngroups = [[\"sentinel-1\", \"sentinel-2\"]]\n"
            ),
        );
        // sentinel-3 alone: SDOWN, but no quorum of 2 and no failover anywhere.
        assert!(first(&out, 2, "+sdown").is_some());
        for j in 0..3 {
            assert_eq!(first(&out, j, "+odown"), None, "sentinel {j}");
            assert_eq!(first(&out, j, "+try-failover"), None, "sentinel {j}");
        }
        assert_eq!(out.world.current_master(), Some(0));
    }

    #[test]
    fn the_replica_with_the_lowest_priority_is_promoted_and_priority_0_never_is() {
        // Without priorities replica-2 wins here; replica-1's lower priority beats it.
        let nodes = "[[node]]\nname = \"master\"\n\
                     [[node]]\nname = \"replica-1\"\nreplicaof = \"master\"\n[node.config]\nreplica-priority = 10\n\
                     [[node]]\nname = \"replica-2\"\nreplicaof = \"master\"\n";
        let zero = "[[node]]\nname = \"master\"\n\
                     [[node]]\nname = \"replica-1\"\nreplicaof = \"master\"\n\
                     [[node]]\nname = \"replica-2\"\nreplicaof = \"master\"\n[node.config]\nreplica-priority = 0\n";
        for (nodes, want) in [(nodes, "10.0.0.2"), (zero, "10.0.0.2")] {
            let out = with_nodes(nodes, PAUSE_25S);
            let l = leader(&out);
            let selected = events(&out, l)
                .into_iter()
                .find(|e| e.1 == "+selected-slave")
                .unwrap();
            assert!(
                selected.2.starts_with(&format!("slave {want}:6379")),
                "{selected:?}"
            );
        }
        let out = with_nodes(
            "[[node]]\nname = \"master\"\n[[node]]\nname = \"replica-1\"\nreplicaof = \"master\"\n\
             [node.config]\nreplica-priority = 0\n",
            PAUSE_25S,
        );
        let l = leader(&out);
        assert!(first(&out, l, "-failover-abort-no-good-slave").is_some());
        assert_eq!(first(&out, l, "+selected-slave"), None);
    }

    /// Sentinel `j`'s `+try-failover` instants, in seconds.
    fn tries(out: &RunOutput, j: usize) -> Vec<f64> {
        events(out, j)
            .into_iter()
            .filter(|e| e.1 == "+try-failover")
            .map(|e| e.0)
            .collect()
    }

    #[test]
    fn no_sentinel_tries_again_within_twice_the_failover_timeout() {
        // The only replica has priority 0: every failover aborts at once for want of a replica,
        // and the master stays stopped, so the Sentinels keep trying as often as sentinel.c's
        // sentinelStartFailoverIfNeeded lets them: not before twice failover-timeout (10 s).
        let mut nodes = String::from(
            "[[node]]\nname = \"master\"\n[[node]]\nname = \"replica-1\"\n\
             replicaof = \"master\"\n[node.config]\nreplica-priority = 0\n",
        );
        for i in 1..=3 {
            nodes += &format!(
                "[[sentinel]]\nname = \"sentinel-{i}\"\nmonitor = \"master\"\nquorum = 2\n\
                 down-after-milliseconds = 5000\nfailover-timeout = 5000\n"
            );
        }
        let out = custom(
            "80s",
            &nodes,
            "[[fault]]\nat = \"20s\"\nkind = \"pause\"\nnode = \"master\"\nduration = \"60s\"\n",
        );
        let mut all = 0;
        for j in 0..3 {
            let t = tries(&out, j);
            all += t.len();
            for pair in t.windows(2) {
                assert!(pair[1] - pair[0] >= 10.0, "sentinel {j} tried at {t:?}");
            }
        }
        // Enough tries to show the limit at work: at least one Sentinel tried twice.
        assert!((0..3).any(|j| tries(&out, j).len() >= 2), "{all} tries");
        for j in 0..3 {
            assert_eq!(first(&out, j, "+selected-slave"), None, "sentinel {j}");
        }
        // Each attempt had its own epoch: every leader was elected in a later epoch than the last.
        let epochs: Vec<u64> = out
            .world
            .rec
            .sentinel_events
            .iter()
            .filter(|e| e.event.kind == "+new-epoch")
            .map(|e| e.event.message.parse().unwrap())
            .collect();
        assert!(epochs.windows(2).all(|p| p[0] <= p[1]), "{epochs:?}");
        assert!(epochs.last().copied().unwrap_or(0) >= 2, "{epochs:?}");
        assert_eq!(
            out.world.master_of(1),
            Some(0),
            "nobody replaced the master"
        );
    }

    #[test]
    fn a_quorum_of_one_starts_a_failover_but_a_lone_sentinel_is_never_elected() {
        // sentinel-1 is cut off from every other host once the Sentinels know each other. With
        // quorum 1 its own SDOWN is ODOWN, so it starts a failover; but a leader needs a
        // majority of the three Sentinels it knows (sentinelGetLeader), which it cannot get, so
        // it gives up after the election timeout and the master keeps its role.
        let mut nodes = String::from(
            "[[node]]\nname = \"master\"\n[[node]]\nname = \"replica-1\"\nreplicaof = \"master\"\n\
             [[node]]\nname = \"replica-2\"\nreplicaof = \"master\"\n",
        );
        for i in 1..=3 {
            nodes += &format!(
                "[[sentinel]]\nname = \"sentinel-{i}\"\nmonitor = \"master\"\nquorum = 1\n\
                 down-after-milliseconds = 5000\nfailover-timeout = 60000\n"
            );
        }
        let out = custom(
            "45s",
            &nodes,
            "[[fault]]\nat = \"15s\"\nkind = \"partition\"\ngroups = [[\"sentinel-1\"]]\n",
        );
        let odown = first(&out, 0, "+odown").expect("quorum 1: its own SDOWN is enough");
        let tried = first(&out, 0, "+try-failover").expect("it tries");
        assert!(tried >= odown);
        let aborted = first(&out, 0, "-failover-abort-not-elected").expect("never elected");
        // sentinelFailoverWaitStart: the election timeout is min(10 s, failover-timeout), counted
        // from the start time, which is desynchronised by up to a second.
        assert!(
            (10.0..11.5).contains(&(aborted - tried)),
            "tried {tried}, aborted {aborted}"
        );
        for j in 0..3 {
            assert_eq!(first(&out, j, "+elected-leader"), None, "sentinel {j}");
            assert_eq!(first(&out, j, "+switch-master"), None, "sentinel {j}");
        }
        // The two Sentinels that still reach the master never saw it down.
        for j in 1..3 {
            assert!(
                !events(&out, j)
                    .iter()
                    .any(|e| e.1 == "+sdown" && e.2.starts_with("master")),
                "sentinel {j}: {:?}",
                events(&out, j)
            );
        }
        assert_eq!(out.world.current_master(), Some(0));
    }

    /// A run of `nodes_and_sentinels` then `rest`, for `duration`.
    fn custom(duration: &str, nodes_and_sentinels: &str, rest: &str) -> RunOutput {
        let toml = format!(
            "name = \"t\"\nduration = \"{duration}\"\n[defaults]\nrepl-diskless-sync-delay = 0\n\
             {nodes_and_sentinels}{rest}"
        );
        let sc = crate::scenario::parse("t.toml", &toml).expect("a valid scenario");
        run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }

    /// `nodes` and three Sentinels monitoring `master`.
    fn with_nodes(nodes: &str, rest: &str) -> RunOutput {
        let mut toml = format!(
            "name = \"t\"\nduration = \"60s\"\n[defaults]\nrepl-diskless-sync-delay = 0\n{nodes}"
        );
        for i in 1..=3 {
            toml += &format!(
                "[[sentinel]]\nname = \"sentinel-{i}\"\nmonitor = \"master\"\nquorum = 2\n\
                 down-after-milliseconds = 5000\nfailover-timeout = 60000\n"
            );
        }
        toml += rest;
        let sc = crate::scenario::parse("t.toml", &toml).expect("a valid scenario");
        run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }
}
