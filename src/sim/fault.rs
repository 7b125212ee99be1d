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
use crate::redis::Node;
use crate::scenario::{FaultKind, LinkPatch};

impl World {
    pub(crate) fn fault(&mut self, e: &mut Engine<Ev>, idx: usize) {
        let now = e.now();
        let spec = self.scenario.faults[idx].clone();
        e.trace
            .record(now.as_nanos(), TraceKind::Fault, idx as u64, 0, 0);
        let names: Vec<String> = self.scenario.nodes.iter().map(|n| n.name.clone()).collect();
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
            FaultKind::Crash { node } => self.crash(e, node),
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
                let argv: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
                if let Some(n) = self.slots[node].node.as_mut() {
                    n.operator_command(now, &argv);
                    self.drain(e, node);
                }
                self.rec.windows.push(FaultWindow {
                    kind: "command".into(),
                    label: format!("{}: {}", name(node), args.join(" ")),
                    start: now,
                    end: Some(now),
                });
            }
        }
        self.refresh_master_target();
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

    /// The process dies: its memory is gone, its connections go silent.
    fn crash(&mut self, e: &mut Engine<Ev>, i: usize) {
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
        self.net.crash(NodeId(i as u32));
        self.conns.crash(i);
        self.slots[i].paused = false;
        self.slots[i].deferred.clear();
        self.slots[i].timer_at = None;
        self.slots[i].timer_gen += 1;
        let name = self.scenario.nodes[i].name.clone();
        self.rec.windows.push(FaultWindow {
            kind: "crash".into(),
            label: format!("{name} crashed"),
            start: now,
            end: None,
        });
        self.rec.milestones.push(MilestoneAt {
            time: now,
            node: i,
            what: Milestone::Crashed,
        });
        e.trace
            .record(now.as_nanos(), TraceKind::Crash, i as u64, 0, 0);
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
    }

    /// A new process starts, empty or from the snapshot taken when it stopped.
    fn restart(&mut self, e: &mut Engine<Ev>, i: usize, persistence: bool) {
        let now = e.now();
        if let Some(node) = self.slots[i].node.take() {
            // Restarting a running node: a clean shutdown first.
            self.slots[i].persisted = Some(node.persist(now));
            self.slots[i].node = Some(node);
            self.crash(e, i);
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
        self.slots[i].node = Some(Box::new(Node::boot(now, params, persisted.as_ref())));
        self.rec.applied.restart(i, persisted.is_some());
        let name = self.scenario.nodes[i].name.clone();
        if let Some(w) =
            self.rec.windows.iter_mut().rev().find(|w| {
                w.kind == "crash" && w.label == format!("{name} crashed") && w.end.is_none()
            })
        {
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
