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
use crate::scenario::{FaultKind, LinkPatch};
use crate::time::SimTime;

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
                self.rec.windows.push(FaultWindow {
                    kind: "partition".into(),
                    label,
                    start: now,
                    end: None,
                });
                self.partitions.push((idx, pname, pairs));
                if let Some(d) = duration {
                    e.schedule(now + d, Ev::FaultEnd { idx: idx as u32 });
                }
                self.rec.last_fault_end = self.rec.last_fault_end.max(now);
            }
            FaultKind::Heal { partition } => {
                let heal: Vec<usize> = self
                    .partitions
                    .iter()
                    .filter(|(_, n, _)| partition.is_none() || *n == partition)
                    .map(|(i, _, _)| *i)
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

    /// Runs fault `idx`'s command on `node` as an operator would, with `redis-cli -a
    /// <requirepass>` on the node's host: a client of its own, authenticated as the admin,
    /// closed once it has its reply. The reply is recorded; a WAIT's comes later
    /// ([`World::operator_reply`]).
    fn operator_command(&mut self, e: &mut Engine<Ev>, idx: usize, node: usize, args: &[String]) {
        let now = e.now();
        let client = operator_client(idx);
        let mut record = OperatorCommand {
            time: now,
            node,
            command: args.join(" "),
            client,
            reply: None,
            node_up: self.slots[node].node.is_some(),
        };
        if let Some(n) = self.slots[node].node.as_mut() {
            let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            if let CommandResult::Done { reply, .. } = n.handle_operator_command(now, client, &argv)
            {
                n.handle_client_closed(client);
                record.reply = Some(reply);
            }
        }
        self.rec.operator_commands.push(record);
        self.drain(e, node);
    }

    /// A reply to `client` on `node` that no workload waits for: if it answers a blocked
    /// operator command (a WAIT), its record gets the reply and its client is closed.
    pub(crate) fn operator_reply(&mut self, node: &mut Node, client: ClientId, reply: Reply) {
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
        let Some(pos) = self.partitions.iter().position(|(i, _, _)| *i == idx) else {
            return;
        };
        let (_, _, pairs) = self.partitions.remove(pos);
        for (a, b) in pairs {
            self.net.unblock(now, NodeId(a as u32), NodeId(b as u32), e);
            e.trace
                .record(now.as_nanos(), TraceKind::Unblock, a as u64, b as u64, 0);
        }
        // Close the window this partition opened (the n-th partition window belongs to it).
        let nth = self.scenario.faults[..idx]
            .iter()
            .filter(|f| matches!(f.kind, FaultKind::Partition { .. }))
            .count();
        if let Some(w) = self
            .rec
            .windows
            .iter_mut()
            .filter(|w| w.kind == "partition")
            .nth(nth)
        {
            w.end = Some(now);
        }
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
}
