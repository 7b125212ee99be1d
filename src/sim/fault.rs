//! The fault timeline: partitions and heals, link changes, connection resets, crashes and
//! restarts, pauses, and operator commands, applied to the world at their times.
//!
//! A fault acts through the same doors as real life: the network (block, unblock, reset,
//! crash), the process (a node dropped and booted again, or frozen), or a command a person would
//! type. It never reaches into a node's replication state.

use super::observe::{FaultWindow, Milestone, MilestoneAt};
use super::trace::TraceKind;
use super::world::{Ev, World};
use super::Engine;
use crate::net::{LinkParams, NodeId};
use crate::redis::resp::Reply;
use crate::redis::Node;
use crate::redis::{ClientId, CommandResult};
use crate::scenario::{FaultKind, LinkPatch, TriggerEvent};
use crate::time::SimTime;

/// A fault that waits for an event (`after`), and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerState {
    /// The fault's index in the scenario's faults.
    pub fault: usize,
    /// Occurrences of its event counted so far.
    pub seen: u32,
    /// When the occurrence it waits for came.
    pub event_at: Option<SimTime>,
    /// When the fault applied (its event's time plus its delay, if within the run).
    pub applied_at: Option<SimTime>,
}

/// The faults that wait for events, and where the scan of the recorded events stands.
#[derive(Default)]
pub struct Triggers {
    pub states: Vec<TriggerState>,
    /// Milestones and Sentinel events already scanned.
    milestones_seen: usize,
    sentinel_events_seen: usize,
    /// Workload writes refused since the last scan: when, and by which node.
    refused: Vec<(SimTime, usize)>,
    /// How many states still wait for their event.
    pending: usize,
}

impl Triggers {
    /// Fault `fault` waits for its event.
    pub(crate) fn wait_for(&mut self, fault: usize) {
        self.states.push(TriggerState {
            fault,
            seen: 0,
            event_at: None,
            applied_at: None,
        });
        self.pending += 1;
    }

    /// Whether any fault still waits for its event.
    pub(crate) fn waiting(&self) -> bool {
        self.pending > 0
    }

    /// A workload's write was refused by `node` at `now`.
    pub(crate) fn write_refused(&mut self, now: SimTime, node: usize) {
        if self.waiting() {
            self.refused.push((now, node));
        }
    }
}

/// The trigger events a milestone is: one, or two for a link that came up with a sync.
fn milestone_events(m: &Milestone) -> &'static [TriggerEvent] {
    match m {
        Milestone::FullSyncStarted => &[TriggerEvent::FullSyncStarted],
        Milestone::FullSyncFinished => &[TriggerEvent::FullSyncFinished, TriggerEvent::LinkUp],
        Milestone::FullSyncAborted => &[TriggerEvent::FullSyncAborted],
        Milestone::PartialSync => &[TriggerEvent::PartialSync, TriggerEvent::LinkUp],
        Milestone::LinkDown => &[TriggerEvent::LinkDown],
        Milestone::ReplicaDropped { .. } => &[TriggerEvent::ReplicaDropped],
        Milestone::BecameMaster => &[TriggerEvent::BecameMaster],
        Milestone::BecameReplica => &[TriggerEvent::BecameReplica],
        Milestone::Crashed => &[TriggerEvent::Crashed],
        Milestone::ShutDown => &[TriggerEvent::ShutDown],
        Milestone::Restarted => &[TriggerEvent::Restarted],
    }
}

/// An operator's command (a `kind = "command"` fault) and what the node answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorCommand {
    pub time: SimTime,
    pub node: usize,
    /// The command as the scenario wrote it.
    pub command: String,
    /// The client it ran as.
    pub client: ClientId,
    /// The reply; `None` while a WAIT is blocked, or if the node was down.
    pub reply: Option<Reply>,
    /// Whether the node was up to run it.
    pub node_up: bool,
}

/// A probe's reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReply {
    pub time: SimTime,
    /// The probe's index in the scenario.
    pub probe: usize,
    /// The reply; `None` if the node was down or paused, or the command blocked.
    pub reply: Option<Reply>,
    /// Whether the node was up to run it.
    pub node_up: bool,
}

/// How a process stops.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Stop {
    /// It dies at once (SIGKILL, power loss): its connections go silent.
    Crash,
    /// It exits cleanly (`SHUTDOWN NOSAVE`): its kernel closes every connection with a FIN and
    /// refuses new ones while the host stays up.
    Shutdown,
}

/// The client fault `idx`'s command runs as: counted down from `u64::MAX`, far above the
/// workloads' clients, which count up from 1.
fn operator_client(idx: usize) -> ClientId {
    ClientId(u64::MAX - idx as u64)
}

impl World {
    pub(crate) fn fault(&mut self, e: &mut Engine<Ev>, idx: usize) {
        let now = e.now();
        let spec = self.scenario.faults[idx].clone();
        if let Some(t) = self.rec.triggers.states.iter_mut().find(|t| t.fault == idx) {
            t.applied_at = Some(now);
        }
        e.trace
            .record(now.as_nanos(), TraceKind::Fault, idx as u64, 0, 0);
        let names: Vec<String> = (0..self.scenario.host_count())
            .map(|i| self.scenario.host_name(i).to_string())
            .collect();
        let name = |i: usize| names[i].clone();
        match spec.kind {
            FaultKind::Partition {
                name: pname,
                groups,
                one_way,
                duration,
            } => {
                let mut pairs = Vec::new();
                for &a in &groups[0] {
                    for g in &groups[1..] {
                        for &b in g {
                            pairs.push((a, b));
                            if !one_way {
                                pairs.push((b, a));
                            }
                        }
                    }
                }
                for &(a, b) in &pairs {
                    self.net.block(NodeId(a as u32), NodeId(b as u32));
                    e.trace
                        .record(now.as_nanos(), TraceKind::Block, a as u64, b as u64, 0);
                }
                let label = pname.clone().unwrap_or_else(|| {
                    let g: Vec<String> = groups
                        .iter()
                        .map(|g| g.iter().map(|&i| name(i)).collect::<Vec<_>>().join("+"))
                        .collect();
                    format!("partition {}", g.join(if one_way { " -> " } else { " | " }))
                });
                let window = self.rec.windows.len();
                self.rec.windows.push(FaultWindow {
                    kind: "partition".into(),
                    label,
                    start: now,
                    end: None,
                });
                self.partitions.push((idx, pname, pairs, window));
                if let Some(d) = duration {
                    e.schedule(now + d, Ev::FaultEnd { idx: idx as u32 });
                }
                self.rec.last_fault_end = self.rec.last_fault_end.max(now);
            }
            FaultKind::Heal { partition } => {
                let heal: Vec<usize> = self
                    .partitions
                    .iter()
                    .filter(|(_, n, ..)| partition.is_none() || *n == partition)
                    .map(|(i, ..)| *i)
                    .collect();
                for i in heal {
                    self.heal_partition(e, i);
                }
            }
            FaultKind::Link {
                a,
                b,
                one_way,
                patch,
            } => {
                self.patch_link(a, b, &patch);
                if !one_way {
                    self.patch_link(b, a, &patch);
                }
                self.rec.windows.push(FaultWindow {
                    kind: "link".into(),
                    label: format!("link {}-{} changed", name(a), name(b)),
                    start: now,
                    end: None,
                });
            }
            FaultKind::Reset { a, b } => {
                let mut outs = Vec::new();
                for c in self.net.conns_between(NodeId(a as u32), NodeId(b as u32)) {
                    self.net.reset(c, &mut outs);
                }
                for o in outs {
                    self.net_output(e, o);
                }
                self.rec.windows.push(FaultWindow {
                    kind: "reset".into(),
                    label: format!("reset {}-{}", name(a), name(b)),
                    start: now,
                    end: Some(now),
                });
            }
            FaultKind::Crash { node } => self.stop(e, node, Stop::Crash),
            FaultKind::Shutdown { node } => self.stop(e, node, Stop::Shutdown),
            FaultKind::Restart { node, persistence } => self.restart(e, node, persistence),
            FaultKind::Pause { node, duration } => {
                self.net.pause(NodeId(node as u32));
                self.slots[node].paused = true;
                self.rec.windows.push(FaultWindow {
                    kind: "pause".into(),
                    label: format!("{} paused", name(node)),
                    start: now,
                    end: Some(now + duration),
                });
                e.schedule(now + duration, Ev::FaultEnd { idx: idx as u32 });
                e.trace
                    .record(now.as_nanos(), TraceKind::Pause, node as u64, 0, 0);
                self.rec.last_fault_end = self.rec.last_fault_end.max(now + duration);
            }
            FaultKind::Command { node, args } => {
                self.operator_command(e, idx, node, &args);
                self.rec.windows.push(FaultWindow {
                    kind: "command".into(),
                    label: format!("{}: {}", name(node), args.join(" ")),
                    start: now,
                    end: Some(now),
                });
                // A command changes the topology or the configuration the verdicts judge
                // (REPLICAOF, CONFIG SET): convergence and resync loops count from after it.
                self.rec.last_fault_end = self.rec.last_fault_end.max(now);
            }
        }
        self.refresh_master_target();
    }

    /// Counts the events recorded since the last scan (milestones, Sentinel events, refused
    /// writes) against the faults that wait for them, in the order they were recorded, and
    /// schedules each fault whose occurrence came.
    pub(crate) fn poll_triggers(&mut self, e: &mut Engine<Ev>) {
        let mut seen: Vec<(SimTime, TriggerEvent, usize)> = Vec::new();
        let t = &mut self.rec.triggers;
        for m in &self.rec.milestones[t.milestones_seen..] {
            for ev in milestone_events(&m.what) {
                seen.push((m.time, ev.clone(), m.node));
            }
        }
        t.milestones_seen = self.rec.milestones.len();
        let nodes = self.slots.len();
        for s in &self.rec.sentinel_events[t.sentinel_events_seen..] {
            let ev = TriggerEvent::Sentinel(s.event.kind.clone());
            seen.push((s.time, ev, nodes + s.sentinel));
        }
        t.sentinel_events_seen = self.rec.sentinel_events.len();
        for (time, node) in t.refused.drain(..) {
            seen.push((time, TriggerEvent::WriteRefused, node));
        }
        for (time, event, host) in seen {
            for st in t.states.iter_mut().filter(|s| s.event_at.is_none()) {
                let Some(want) = &self.scenario.faults[st.fault].after else {
                    continue;
                };
                if want.event != event || want.host.is_some_and(|h| h != host) {
                    continue;
                }
                st.seen += 1;
                if st.seen == want.occurrence {
                    st.event_at = Some(time);
                    t.pending -= 1;
                    e.schedule(
                        time + want.delay,
                        Ev::Fault {
                            idx: st.fault as u32,
                        },
                    );
                }
            }
        }
    }

    /// Runs fault `idx`'s command on `node` as an operator would, with `redis-cli -a
    /// <requirepass>` on the node's host: a client of its own, authenticated as the admin,
    /// closed once it has its reply. The reply is recorded; a WAIT's comes later
    /// ([`World::operator_reply`]). A paused node's kernel takes the command and the process
    /// runs it when it resumes, as under SIGSTOP or DEBUG SLEEP.
    fn operator_command(&mut self, e: &mut Engine<Ev>, idx: usize, node: usize, args: &[String]) {
        let record = OperatorCommand {
            time: e.now(),
            node,
            command: args.join(" "),
            client: operator_client(idx),
            reply: None,
            node_up: self.slots[node].node.is_some(),
        };
        self.rec.operator_commands.push(record);
        if self.slots[node].paused {
            self.slots[node].deferred_commands.push(idx);
        } else {
            self.run_operator_command(e, idx, node, args);
        }
    }

    /// Runs fault `idx`'s command on `node` now, its record already written.
    fn run_operator_command(
        &mut self,
        e: &mut Engine<Ev>,
        idx: usize,
        node: usize,
        args: &[String],
    ) {
        let now = e.now();
        let client = operator_client(idx);
        let Some(n) = self.slots[node].node.as_mut() else {
            return;
        };
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        if let CommandResult::Done { reply, .. } = n.handle_operator_command(now, client, &argv) {
            n.handle_client_closed(client);
            if let Some(record) = self
                .rec
                .operator_commands
                .iter_mut()
                .rev()
                .find(|c| c.client == client)
            {
                record.reply = Some(reply);
            }
        }
        self.drain(e, node);
    }

    /// Runs probe `p` for the `k`-th time, as an operator command: a client of its own,
    /// authenticated as the admin, closed at once; a command that blocks gets no reply. A paused
    /// node cannot answer: its probe records no reply (redis-cli would wait for the resume).
    pub(crate) fn probe(&mut self, e: &mut Engine<Ev>, p: usize, k: usize) {
        let now = e.now();
        let (node, times) = {
            let spec = &self.scenario.probes[p];
            (spec.node, spec.times.len())
        };
        if let Some(&next) = self.scenario.probes[p].times.get(k + 1) {
            e.schedule(
                SimTime::ZERO + next,
                Ev::Probe {
                    probe: p as u32,
                    k: (k + 1) as u32,
                },
            );
        }
        debug_assert!(k < times);
        let client = ClientId(u64::MAX - (1 << 31) - p as u64);
        let mut record = ProbeReply {
            time: now,
            probe: p,
            reply: None,
            node_up: self.slots[node].node.is_some(),
        };
        if !self.slots[node].paused {
            if let Some(n) = self.slots[node].node.as_mut() {
                let args = &self.scenario.probes[p].command;
                let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                if let CommandResult::Done { reply, at } =
                    n.handle_operator_command(now, client, &argv)
                {
                    record.reply = Some(reply);
                    record.time = at;
                }
                n.handle_client_closed(client);
                self.rec.probes.push(record);
                self.drain(e, node);
                return;
            }
        }
        self.rec.probes.push(record);
    }

    /// A reply to `client` on `node` that no workload waits for: if it answers a blocked
    /// operator command (a WAIT), its record gets the reply and its client is closed.
    pub(crate) fn operator_reply(
        &mut self,
        e: &mut Engine<Ev>,
        node: &mut Node,
        client: ClientId,
        reply: Reply,
    ) {
        if self.script_reply(e, client, &reply) {
            return;
        }
        let pending = self
            .rec
            .operator_commands
            .iter_mut()
            .rev()
            .find(|c| c.client == client && c.reply.is_none() && c.node_up);
        if let Some(record) = pending {
            record.reply = Some(reply);
            node.handle_client_closed(client);
        }
    }

    pub(crate) fn fault_end(&mut self, e: &mut Engine<Ev>, idx: usize) {
        let now = e.now();
        match self.scenario.faults[idx].kind.clone() {
            FaultKind::Partition { .. } => self.heal_partition(e, idx),
            FaultKind::Pause { node, .. } => {
                self.slots[node].paused = false;
                e.trace
                    .record(now.as_nanos(), TraceKind::Resume, node as u64, 0, 0);
                // What arrived while stopped is processed in order, then the held bytes.
                let outs = std::mem::take(&mut self.slots[node].deferred);
                for o in outs {
                    self.net_output(e, o);
                }
                self.net.resume(now, NodeId(node as u32), e);
                let ops = std::mem::take(&mut self.slots[node].deferred_ops);
                for op in ops {
                    self.arrive(e, op);
                }
                for cmd in std::mem::take(&mut self.slots[node].deferred_commands) {
                    if let FaultKind::Command { args, .. } = self.scenario.faults[cmd].kind.clone()
                    {
                        self.run_operator_command(e, cmd, node, &args);
                    }
                }
                self.resume_scripts(e, node);
                // Its timers fire now: the node notices how long it was away.
                self.slots[node].timer_at = None;
                self.drain(e, node);
            }
            _ => {}
        }
        self.refresh_master_target();
    }

    fn heal_partition(&mut self, e: &mut Engine<Ev>, idx: usize) {
        let now = e.now();
        let Some(pos) = self.partitions.iter().position(|(i, ..)| *i == idx) else {
            return;
        };
        let (_, _, pairs, window) = self.partitions.remove(pos);
        for (a, b) in pairs {
            self.net.unblock(now, NodeId(a as u32), NodeId(b as u32), e);
            e.trace
                .record(now.as_nanos(), TraceKind::Unblock, a as u64, b as u64, 0);
        }
        // Close the window this partition opened.
        self.rec.windows[window].end = Some(now);
        self.rec.last_fault_end = self.rec.last_fault_end.max(now);
    }

    fn patch_link(&mut self, a: usize, b: usize, p: &LinkPatch) {
        let (from, to) = (NodeId(a as u32), NodeId(b as u32));
        let cur = self.net.link(from, to);
        let next = LinkParams {
            latency: p.latency.unwrap_or(cur.latency),
            jitter: p.jitter.unwrap_or(cur.jitter),
            bandwidth_bps: p.bandwidth_bps.unwrap_or(cur.bandwidth_bps),
            loss_ppm: p.loss_ppm.unwrap_or(cur.loss_ppm),
            send_buffer_bytes: p.send_buffer_bytes.unwrap_or(cur.send_buffer_bytes),
            rto: cur.rto,
        };
        self.net.set_link(from, to, next);
    }

    /// The process stops: its memory is gone, and its connections go silent (a crash) or are
    /// closed by its kernel (a shutdown, after which connects to it are refused).
    fn stop(&mut self, e: &mut Engine<Ev>, i: usize, how: Stop) {
        let now = e.now();
        let Some(node) = self.slots[i].node.take() else {
            return;
        };
        // What a restart with persistence will find: the dataset and replication state as a clean
        // save would have left them at this moment.
        self.slots[i].persisted = Some(node.persist(now));
        self.rec.applied.crash(i);
        self.synced[i] = false;
        self.digest_logs[i] = None;
        let mut outs = Vec::new();
        match how {
            Stop::Crash => self.net.crash(NodeId(i as u32)),
            Stop::Shutdown => self.net.shutdown(now, NodeId(i as u32), e, &mut outs),
        }
        self.conns.crash(i);
        self.slots[i].paused = false;
        self.slots[i].deferred.clear();
        // Commands waiting in its sockets die with the process, unanswered.
        self.slots[i].deferred_commands.clear();
        self.slots[i].timer_at = None;
        self.slots[i].timer_gen += 1;
        let name = self.scenario.nodes[i].name.clone();
        let (kind, label, what, trace) = match how {
            Stop::Crash => (
                "crash",
                format!("{name} crashed"),
                Milestone::Crashed,
                TraceKind::Crash,
            ),
            Stop::Shutdown => (
                "shutdown",
                format!("{name} shut down"),
                Milestone::ShutDown,
                TraceKind::Shutdown,
            ),
        };
        self.rec.windows.push(FaultWindow {
            kind: kind.into(),
            label,
            start: now,
            end: None,
        });
        self.rec.milestones.push(MilestoneAt {
            time: now,
            node: i,
            what,
        });
        e.trace.record(now.as_nanos(), trace, i as u64, 0, 0);
        // Blocked clients of the dead node never hear back.
        let mut blocked: Vec<(crate::redis::ClientId, u32)> = self
            .blocked
            .iter()
            .map(|(c, o)| (*c, *o))
            .filter(|(_, o)| self.op_ref(*o).node == i)
            .collect();
        blocked.sort();
        for (c, op) in blocked {
            self.blocked.remove(&c);
            let deadline = self.op_invoke(op)
                + self.scenario.workloads[self.op_ref(op).workload as usize].timeout;
            self.finish_op(e, op, None, deadline.max(now));
        }
        let ops = std::mem::take(&mut self.slots[i].deferred_ops);
        for op in ops {
            self.arrive(e, op);
        }
        // Peers whose handshake with it was under way learn of it now.
        for o in outs {
            self.net_output(e, o);
        }
    }

    /// A new process starts, empty or from the snapshot taken when it stopped.
    fn restart(&mut self, e: &mut Engine<Ev>, i: usize, persistence: bool) {
        let now = e.now();
        if let Some(node) = self.slots[i].node.take() {
            // Restarting a running node: a clean shutdown first.
            self.slots[i].persisted = Some(node.persist(now));
            self.slots[i].node = Some(node);
            self.stop(e, i, Stop::Crash);
        }
        self.net.restart(now, NodeId(i as u32), e);
        let persisted = if persistence {
            self.slots[i].persisted.clone()
        } else {
            None
        };
        let mut params = self.slots[i].params.clone();
        // A restarted process draws a new pid and run id: its stream is derived from the time.
        params.seed = self.root_seed ^ now.as_nanos();
        let mut node = Node::boot_in(now, params, persisted.as_ref(), &self.shared);
        if self.full_invariants {
            node.set_full_invariants(true);
        }
        self.slots[i].node = Some(Box::new(node));
        self.rec.applied.restart(i, persisted.is_some());
        let name = self.scenario.nodes[i].name.clone();
        let crashed = format!("{name} crashed");
        let shut_down = format!("{name} shut down");
        if let Some(w) = self.rec.windows.iter_mut().rev().find(|w| {
            w.end.is_none()
                && (w.kind == "crash" && w.label == crashed
                    || w.kind == "shutdown" && w.label == shut_down)
        }) {
            w.end = Some(now);
        }
        self.rec.milestones.push(MilestoneAt {
            time: now,
            node: i,
            what: Milestone::Restarted,
        });
        e.trace.record(
            now.as_nanos(),
            TraceKind::Restart,
            i as u64,
            u64::from(persistence),
            0,
        );
        self.rec.last_fault_end = self.rec.last_fault_end.max(now);
        self.drain(e, i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a master `m` and its replica `r`, both with `requirepass`, under `faults`.
    fn run_with(faults: &str) -> crate::sim::RunOutput {
        let text = format!(
            "name = \"ops\"\nduration = \"6s\"\n[defaults]\nrequirepass = \"pw\"\nmasterauth = \"pw\"\n\
             [[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[workload]]\ntarget = \"m\"\nrate = 100\n{faults}"
        );
        let sc = crate::scenario::parse("ops.toml", &text).expect("a valid scenario");
        crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }

    fn fault(at: &str, node: &str, command: &str) -> String {
        format!("[[fault]]\nat = \"{at}\"\nkind = \"command\"\nnode = \"{node}\"\ncommand = \"{command}\"\n")
    }

    #[test]
    fn operator_commands_run_as_an_admin_and_their_replies_are_recorded() {
        let faults = [
            fault("3s", "r", "REPLICAOF NO ONE"),
            fault("3500ms", "m", "CONFIG SET no-such-directive 1"),
            fault("4s", "m", "WAIT 5 300"),
            fault("4s", "r", "GET nothing"),
            "[[fault]]\nat = \"4500ms\"\nkind = \"crash\"\nnode = \"r\"\n".to_string(),
            fault("5s", "r", "PING"),
        ]
        .concat();
        let out = run_with(&faults);
        let w = &out.world;
        // With requirepass set, the promotion happened: the operator is authenticated.
        assert!(
            w.rec
                .milestones
                .iter()
                .any(|m| m.node == 1 && m.what == Milestone::BecameMaster),
            "REPLICAOF NO ONE promoted r"
        );
        let got: Vec<(u64, usize, &str, Option<String>, bool)> = w
            .rec
            .operator_commands
            .iter()
            .map(|c| {
                (
                    c.time.as_millis(),
                    c.node,
                    c.command.as_str(),
                    c.reply.as_ref().map(Reply::summary),
                    c.node_up,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (3000, 1, "REPLICAOF NO ONE", Some("OK".into()), true),
                (
                    3500,
                    0,
                    "CONFIG SET no-such-directive 1",
                    Some("(error) ERR Unknown option or number of arguments for CONFIG SET - 'no-such-directive'".into()),
                    true
                ),
                // The master lost its replica: WAIT answers at its timeout.
                (4000, 0, "WAIT 5 300", Some("(integer) 0".into()), true),
                (4000, 1, "GET nothing", Some("(nil)".into()), true),
                (5000, 1, "PING", None, false),
            ]
        );
        // Each operator client was closed once answered (the WAIT's when its reply came).
        for c in w.rec.operator_commands.iter().filter(|c| c.node_up) {
            if let Some(node) = w.node(c.node) {
                assert!(node.clients.get(&c.client).is_none(), "{c:?}");
            }
        }
    }

    /// The replica's log lines from `from_ms` on, as (ms, message).
    fn replica_log(out: &crate::sim::RunOutput, from_ms: u64) -> Vec<(u64, String)> {
        out.world.slots[1]
            .logs
            .iter()
            .filter(|l| l.time.as_millis() >= from_ms)
            .map(|l| (l.time.as_millis(), l.message.clone()))
            .collect()
    }

    #[test]
    fn a_command_sent_to_a_paused_node_runs_when_it_resumes() {
        let text = pair_with(
            "[[fault]]\nat = \"8s\"\nkind = \"pause\"\nnode = \"r\"\nduration = \"2s\"\n\
             [[fault]]\nat = \"8500ms\"\nkind = \"command\"\nnode = \"r\"\n\
             command = \"REPLICAOF NO ONE\"\n",
        );
        let out = run_text(&text);
        let cmds = &out.world.rec.operator_commands;
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].time.as_millis(), 8500, "recorded when it was sent");
        assert_eq!(
            cmds[0].reply.as_ref().map(Reply::summary).as_deref(),
            Some("OK")
        );
        // The replica turns master at the resume, not while it is stopped.
        let turned: Vec<u64> = replica_log(&out, 0)
            .into_iter()
            .filter(|(_, m)| m.contains("MASTER MODE enabled"))
            .map(|(t, _)| t)
            .collect();
        assert_eq!(turned, vec![10_000], "{turned:?}");
        assert!(out.world.node(1).expect("up").is_master());

        // A process that dies while paused never runs it, and its record has no reply.
        let text = pair_with(
            "[[fault]]\nat = \"8s\"\nkind = \"pause\"\nnode = \"r\"\nduration = \"2s\"\n\
             [[fault]]\nat = \"8500ms\"\nkind = \"command\"\nnode = \"r\"\n\
             command = \"REPLICAOF NO ONE\"\n\
             [[fault]]\nat = \"9s\"\nkind = \"crash\"\nnode = \"r\"\n\
             [[fault]]\nat = \"11s\"\nkind = \"restart\"\nnode = \"r\"\n",
        );
        let out = run_text(&text);
        assert_eq!(out.world.rec.operator_commands[0].reply, None);
        assert!(!out.world.node(1).expect("up").is_master());
    }

    fn stop_at_9s(kind: &str) -> crate::sim::RunOutput {
        let text = format!(
            "name = \"stop\"\nduration = \"12s\"\n[[node]]\nname = \"m\"\n\
             [[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[fault]]\nat = \"9s\"\nkind = \"{kind}\"\nnode = \"m\"\n\
             [[fault]]\nat = \"11s\"\nkind = \"restart\"\nnode = \"m\"\n"
        );
        let sc = crate::scenario::parse("stop.toml", &text).expect("a valid scenario");
        crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }

    #[test]
    fn a_shutdown_master_is_noticed_at_once_and_refuses_reconnects_until_it_restarts() {
        let out = stop_at_9s("shutdown");
        let log = replica_log(&out, 9000);
        let at = |m: &str| log.iter().find(|(_, l)| l == m).map(|(t, _)| *t);
        // The FIN arrives one link latency (250 us) after the shutdown.
        assert_eq!(at("Connection with master lost."), Some(9000));
        let refused: Vec<u64> = log
            .iter()
            .filter(|(_, l)| l == "Error condition on socket for SYNC: Connection refused")
            .map(|(t, _)| *t)
            .collect();
        // At once after the loss, then at every replication cron until the restart at 11 s.
        assert!(refused.len() >= 3, "{log:?}");
        assert_eq!(refused[0], 9000);
        assert!(refused.iter().all(|&t| t < 11_000), "{log:?}");
        assert!(!log.iter().any(|(_, l)| l.contains("Timeout connecting")));
        let w = &out.world;
        assert_eq!(
            w.rec
                .milestones
                .iter()
                .filter(|m| m.node == 0)
                .map(|m| m.what.name())
                .filter(|n| *n == "shut_down" || *n == "restarted")
                .collect::<Vec<_>>(),
            vec!["shut_down", "restarted"]
        );
        let window = w
            .rec
            .windows
            .iter()
            .find(|w| w.kind == "shutdown")
            .expect("a window");
        assert_eq!(window.label, "m shut down");
        assert_eq!(window.end.map(|t| t.as_millis()), Some(11_000));
    }

    #[test]
    fn a_crashed_master_goes_unnoticed_and_connects_to_it_do_not_fail_at_once() {
        let out = stop_at_9s("crash");
        let log = replica_log(&out, 9000);
        // No FIN: within repl-timeout (60 s) the replica sees nothing until the restart resets
        // its link.
        assert!(
            !log.iter()
                .any(|(t, l)| l == "Connection with master lost." && *t < 11_000),
            "{log:?}"
        );
        assert!(!log.iter().any(|(_, l)| l.contains("Connection refused")));
    }

    fn run_text(text: &str) -> crate::sim::RunOutput {
        let sc = crate::scenario::parse("t.toml", text).expect("a valid scenario");
        crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }

    /// A master and a replica with a workload over 14 s, plus `faults`.
    fn pair_with(faults: &str) -> String {
        format!(
            "name = \"t\"\nduration = \"14s\"\n[[node]]\nname = \"m\"\n\
             [[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[workload]]\ntarget = \"m\"\nrate = 100\n{faults}"
        )
    }

    #[test]
    fn a_fault_after_an_event_applies_its_delay_after_the_occurrence_it_counts() {
        // The replica's link comes up at its first full sync; a reset then drops it, and the
        // second link-up is its partial resync.
        let text = pair_with(
            "[[fault]]\nafter = { event = \"link-up\", node = \"r\", delay = \"1s\" }\n\
             kind = \"reset\"\nbetween = [\"m\", \"r\"]\n\
             [[fault]]\nafter = { event = \"link-up\", node = \"r\", occurrence = 2 }\n\
             kind = \"command\"\nnode = \"m\"\ncommand = \"PING\"\n\
             [[fault]]\nafter = { event = \"link-up\", node = \"m\" }\n\
             kind = \"crash\"\nnode = \"r\"\n",
        );
        let out = run_text(&text);
        let w = &out.world;
        let link_ups: Vec<SimTime> = w
            .rec
            .milestones
            .iter()
            .filter(|m| {
                m.node == 1
                    && matches!(m.what, Milestone::FullSyncFinished | Milestone::PartialSync)
            })
            .map(|m| m.time)
            .collect();
        assert!(link_ups.len() >= 2, "{:?}", w.rec.milestones);
        let st = &w.rec.triggers.states;
        assert_eq!(st.len(), 3);
        let one_second = crate::time::SimDuration::from_secs(1);
        assert_eq!(st[0].event_at, Some(link_ups[0]));
        assert_eq!(st[0].applied_at, Some(link_ups[0] + one_second));
        // The reset really happened then: a window at that instant, and a partial resync after.
        assert!(w
            .rec
            .windows
            .iter()
            .any(|x| x.kind == "reset" && Some(x.start) == st[0].applied_at));
        assert_eq!(st[1].event_at, Some(link_ups[1]));
        assert_eq!(st[1].applied_at, Some(link_ups[1]));
        assert_eq!(w.rec.operator_commands.len(), 1);
        assert_eq!(w.rec.operator_commands[0].time, link_ups[1]);
        // The master never has a link to bring up: its fault never applies, and r never crashed.
        assert_eq!((st[2].event_at, st[2].applied_at), (None, None));
        assert!(!w
            .rec
            .milestones
            .iter()
            .any(|m| m.what == Milestone::Crashed));
    }

    #[test]
    fn a_write_refusal_triggers_a_fault_at_the_first_refused_write() {
        // With min-replicas-to-write 1 the master refuses writes until its replica is online.
        let text = pair_with(
            "[defaults]\nmin-replicas-to-write = 1\n\
             [[fault]]\nafter = { event = \"write-refused\", delay = \"500ms\" }\n\
             kind = \"command\"\nnode = \"m\"\ncommand = \"DBSIZE\"\n",
        );
        let out = run_text(&text);
        let w = &out.world;
        let first_refusal = w
            .rec
            .writes
            .iter()
            .find(|x| !x.acked())
            .map(|x| x.invoke_ns)
            .expect("a refused write");
        let st = &w.rec.triggers.states[0];
        let event = st.event_at.expect("the refusal came").as_nanos();
        // The refusal is at the node, after the request's half round trip from the client.
        assert!(
            event > first_refusal && event - first_refusal < 1_000_000,
            "{event} {first_refusal}"
        );
        assert_eq!(
            st.applied_at.map(|t| t.as_nanos()),
            Some(event + 500_000_000)
        );
        assert_eq!(
            w.rec.operator_commands[0]
                .reply
                .as_ref()
                .map(Reply::summary),
            Some("(integer) 0".into())
        );
    }

    #[test]
    fn faults_after_events_keep_runs_deterministic() {
        let text = pair_with(
            "[[fault]]\nafter = { event = \"full-sync-started\", node = \"r\", delay = \"20ms\" }\n\
             kind = \"pause\"\nnode = \"m\"\nduration = \"2s\"\n\
             [[fault]]\nafter = { event = \"link-down\" }\nkind = \"shutdown\"\nnode = \"m\"\n",
        );
        let a = run_text(&text);
        let b = run_text(&text);
        assert_eq!(a.trace_hash, b.trace_hash);
        assert_eq!(a.world.rec.triggers.states, b.world.rec.triggers.states);
        assert!(a.world.rec.triggers.states[0].applied_at.is_some());
    }

    #[test]
    fn every_sentinel_event_a_fault_may_wait_for_is_one_sentinel_reports() {
        for kind in crate::scenario::TriggerEvent::SENTINEL_EVENTS {
            assert!(crate::sentinel::EVENT_TYPES.contains(&kind), "{kind}");
        }
    }

    #[test]
    fn probes_record_replies_at_their_times_and_change_nothing_but_their_own_commands() {
        let base = pair_with(
            "[[fault]]\nat = \"8s\"\nkind = \"pause\"\nnode = \"r\"\nduration = \"2s\"\n",
        );
        let probed = format!(
            "{base}[[probe]]\nnode = \"r\"\ncommand = \"ROLE\"\nat = [\"9s\", \"1s\"]\n\
             [[probe]]\nnode = \"m\"\ncommand = \"DBSIZE\"\nevery = \"5s\"\n"
        );
        let (a, b) = (run_text(&base), run_text(&probed));
        let got: Vec<(u64, usize, Option<String>, bool)> = b
            .world
            .rec
            .probes
            .iter()
            .map(|p| {
                (
                    p.time.as_millis(),
                    p.probe,
                    p.reply.as_ref().map(Reply::summary),
                    p.node_up,
                )
            })
            .collect();
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0].0, 0);
        assert_eq!(got[0].1, 1);
        assert_eq!(got[1].0, 1000);
        assert!(
            got[1]
                .2
                .as_deref()
                .is_some_and(|r| r.starts_with("[\"slave\", \"10.0.0.1\", (integer) 6379")),
            "{got:?}"
        );
        // The replica is paused at 9 s: no reply.
        assert_eq!((got[3].0, got[3].2.as_deref()), (9000, None));
        assert!(got[3].3);
        assert_eq!(got[4].0, 10_000);
        // What the run decided is the same with and without the probes.
        for i in 0..2 {
            let (x, y) = (a.world.node(i).expect("up"), b.world.node(i).expect("up"));
            assert_eq!(x.master_repl_offset(), y.master_repl_offset());
            assert_eq!(x.replid(), y.replid());
        }
        assert_eq!(a.world.rec.milestones.len(), b.world.rec.milestones.len());
    }
}
