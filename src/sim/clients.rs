//! The world's client side: issuing workload operations, their replies, histories, stale-read
//! measurement, and the periodic samples.

use super::observe::{NodeSample, OpResult, Sample, WriteRecord};
use super::trace::TraceKind;
use super::world::{node_ip, Ev, PendingOp, World};
use super::Engine;
use crate::redis::resp::Reply;
use crate::redis::{ClientId, CommandResult};
use crate::scenario::Target;
use crate::time::SimTime;
use crate::workload::{value_write_id, OpKind};

impl World {
    pub(crate) fn op_ref(&self, op: u32) -> &PendingOp {
        self.ops[op as usize].as_ref().expect("a pending operation")
    }

    fn alloc_op(&mut self, p: PendingOp) -> u32 {
        match self.free_ops.pop() {
            Some(i) => {
                self.ops[i as usize] = Some(p);
                i
            }
            None => {
                self.ops.push(Some(p));
                (self.ops.len() - 1) as u32
            }
        }
    }

    /// The node a workload's operation goes to.
    fn route(&mut self, w: usize, kind: OpKind) -> Option<usize> {
        let spec = &self.workloads[w].spec;
        let target = match spec.target {
            Target::Node(i) => Some(i),
            Target::CurrentMaster => self.master_target,
        }?;
        if kind == OpKind::Get && spec.reads_from_replicas {
            let replicas: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.master_of(i) == Some(target))
                .collect();
            if !replicas.is_empty() {
                let k = self.rec.counters[w].reads as usize;
                return Some(replicas[k % replicas.len()]);
            }
        }
        Some(target)
    }

    /// A workload's next operation reaches its node: it was issued half a round trip ago. Issue
    /// and arrival are one event (the client's choice of node is made at arrival, ~100 µs later
    /// than a real client would, which nothing observable depends on).
    pub(crate) fn issue(&mut self, e: &mut Engine<Ev>, w: usize) {
        let half = self.workloads[w].half_rtt();
        // The invocation time: the client sent the request half a round trip ago.
        let now = SimTime::from_nanos(e.now().as_nanos().saturating_sub(half.as_nanos()));
        if let Some(t) = self.workloads[w].next_time() {
            e.schedule(t + half, Ev::Issue { workload: w as u32 });
        }
        let write_id = self.rec.writes.len() as u64;
        let op = self.workloads[w].op(write_id);
        let Some(node) = self.route(w, op.kind) else {
            // No master to talk to: the client cannot even connect.
            self.rec.counters[w].timeouts += 1;
            return;
        };
        let write = op.kind.is_write().then(|| {
            self.rec.writes.push(WriteRecord::new(
                now.as_nanos(),
                op.key,
                w as u16,
                node as u16,
                op.kind == OpKind::Set,
                op.kind == OpKind::Del,
            ));
            (self.rec.writes.len() - 1) as u32
        });
        let wants_wait = self.workloads[w].spec.wait.is_some() && op.kind.is_write();
        let client = if wants_wait {
            // Each write-then-WAIT is its own client, so WAIT waits for that write.
            self.next_client += 1;
            ClientId(self.next_client)
        } else {
            ClientId(w as u64 + 1)
        };
        let id = self.alloc_op(PendingOp {
            workload: w as u16,
            kind: op.kind,
            key: op.key,
            node,
            invoke: now,
            op,
            write,
            client,
            waiting: false,
        });
        self.arrive(e, id);
    }

    pub(crate) fn arrive(&mut self, e: &mut Engine<Ev>, op: u32) {
        let now = e.now();
        let (node, client, w) = {
            let p = self.op_ref(op);
            (p.node, p.client, p.workload as usize)
        };
        let slot = &mut self.slots[node];
        if slot.paused {
            // The request waits in the socket of a stopped process.
            slot.deferred_ops.push(op);
            return;
        }
        let Some(n) = slot.node.as_mut() else {
            let deadline = self.op_ref(op).invoke + self.workloads[w].spec.timeout;
            self.finish_op(e, op, &Reply::Error("timeout".into()), deadline.max(now));
            return;
        };
        // The request's arguments are rendered into reused buffers and borrowed by the node.
        let p = self.ops[op as usize].as_ref().expect("pending");
        let workload = &self.workloads[w];
        let result = if p.waiting {
            let (num, timeout) = workload.spec.wait.expect("waiting implies wait");
            let (num, timeout) = (num.to_string(), timeout.as_millis().to_string());
            e.trace
                .record(now.as_nanos(), TraceKind::Command, node as u64, 3, w as u64);
            n.handle_command(now, client, &[b"WAIT", num.as_bytes(), timeout.as_bytes()])
        } else {
            workload.render(&p.op, &mut self.args, |args| {
                e.trace.record(
                    now.as_nanos(),
                    TraceKind::Command,
                    node as u64,
                    args.len() as u64,
                    w as u64,
                );
                n.handle_command(now, client, args)
            })
        };
        match result {
            CommandResult::Done { reply, at } => {
                let half = self.workloads[w].half_rtt();
                self.drain(e, node);
                self.finish_op(e, op, &reply, at + half);
            }
            CommandResult::Blocked => {
                self.blocked.insert(client, op);
                self.drain(e, node);
            }
        }
    }

    /// Records the outcome of an operation whose reply reaches the client at `done`.
    pub(crate) fn finish_op(&mut self, e: &mut Engine<Ev>, op: u32, reply: &Reply, done: SimTime) {
        let p = self.ops[op as usize].as_ref().expect("pending");
        let (w, kind, key, invoke, write, waiting) = (
            p.workload as usize,
            p.kind,
            p.key,
            p.invoke,
            p.write,
            p.waiting,
        );
        let spec = &self.workloads[w].spec;
        let (timeout, wait) = (spec.timeout, spec.wait);
        let timed_out =
            done.since(invoke) > timeout || matches!(reply, Reply::Error(e) if e == "timeout");
        let result = if timed_out {
            OpResult::Timeout
        } else {
            match reply {
                Reply::Error(msg) => OpResult::Error(msg.to_string()),
                Reply::Bulk(v) if kind == OpKind::Get => OpResult::Read(value_write_id(v)),
                Reply::Null if kind == OpKind::Get => OpResult::Read(None),
                _ => OpResult::Ok,
            }
        };
        if waiting {
            // The WAIT of an acknowledged write.
            let wanted = wait.map_or(0, |(n, _)| n) as i64;
            let satisfied = matches!(reply, Reply::Integer(n) if *n >= wanted) && !timed_out;
            if let Some(wr) = write {
                let r = &mut self.rec.writes[wr as usize];
                r.set_wait_satisfied(satisfied);
                r.complete_ns = done.as_nanos();
            }
            if !satisfied {
                self.rec.counters[w].wait_unsatisfied += 1;
            }
            self.release_op(op);
            return;
        }
        let c = &mut self.rec.counters[w];
        if kind.is_write() {
            c.writes += 1;
        } else {
            c.reads += 1;
        }
        match &result {
            OpResult::Timeout => c.timeouts += 1,
            OpResult::Error(_) => {
                *c.errors
                    .entry(result.error_kind().unwrap_or("ERR").to_string())
                    .or_default() += 1
            }
            _ if kind.is_write() => c.writes_ok += 1,
            _ => c.reads_ok += 1,
        }
        if let OpResult::Read(id) = result {
            self.measure_staleness(w, key, id, invoke);
        }
        if let Some(wr) = write {
            let acked = result == OpResult::Ok;
            let r = &mut self.rec.writes[wr as usize];
            r.set_acked(acked);
            r.complete_ns = done.as_nanos();
            let (r_key, r_invoke, r_counts) =
                (r.key() as usize, r.invoke_ns, r.is_set() || r.is_del());
            // SETs and DELs of `key:<n>` decide what a read of it should see.
            if acked && r_counts {
                let newer =
                    self.latest_acked[r_key].is_none_or(|(_, cur_invoke)| cur_invoke < r_invoke);
                if newer {
                    self.latest_acked[r_key] = Some((wr, r_invoke));
                }
            }
            if acked && wait.is_some() {
                // The client sends WAIT when the write's reply arrives.
                self.ops[op as usize].as_mut().expect("pending").waiting = true;
                let half = self.workloads[w].half_rtt();
                e.schedule(done + half, Ev::Arrive { op });
                return;
            }
        }
        self.release_op(op);
    }

    fn release_op(&mut self, op: u32) {
        if let Some(p) = self.ops[op as usize].take() {
            if p.client.0 > self.workloads.len() as u64 {
                if let Some(n) = self.slots[p.node].node.as_mut() {
                    n.handle_client_closed(p.client);
                }
            }
        }
        self.free_ops.push(op);
    }

    /// A read of `key` invoked at `invoke` returned the value of write `id`. It is stale if a
    /// later SET of that key had been acknowledged before the read was issued.
    fn measure_staleness(&mut self, w: usize, key: u32, id: Option<u64>, invoke: SimTime) {
        let Some((latest, _)) = self.latest_acked.get(key as usize).copied().flatten() else {
            return;
        };
        if let Some(ns) =
            super::observe::read_staleness(&self.rec.writes, latest as usize, id, invoke.as_nanos())
        {
            let c = &mut self.rec.counters[w];
            c.stale_reads += 1;
            c.max_staleness_ns = c.max_staleness_ns.max(ns);
        }
    }

    /// Points `@master` at the current master.
    pub(crate) fn refresh_master_target(&mut self) {
        self.master_target = self.current_master();
    }

    /// Records one sample of every node and workload.
    pub(crate) fn sample(&mut self, now: SimTime) {
        let ip_index = |name: &str| {
            name.split(':')
                .next()
                .and_then(|ip| (0..self.slots.len()).find(|&j| node_ip(j) == ip))
        };
        let mut nodes = Vec::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let Some(n) = s.node.as_ref() else {
                nodes.push(NodeSample {
                    up: false,
                    master: false,
                    following: None,
                    offset: 0,
                    lag_bytes: None,
                    link_up: false,
                    backlog_histlen: 0,
                    backlog_size: 0,
                    replica_obuf: Vec::new(),
                });
                continue;
            };
            let replica_obuf = n
                .replica_summaries()
                .into_iter()
                .filter_map(|(name, _, _, obuf)| Some((ip_index(&name)?, obuf)))
                .collect();
            nodes.push(NodeSample {
                up: true,
                master: n.is_master(),
                following: self.master_of(i),
                offset: n.master_repl_offset(),
                lag_bytes: self.lag_bytes(i),
                link_up: n.master_link_up(),
                backlog_histlen: n.backlog_histlen(),
                backlog_size: n.cfg.repl_backlog_size,
                replica_obuf,
            });
        }
        self.rec.samples.push(Sample {
            time: now,
            nodes,
            workloads: self.rec.counters.clone(),
        });
    }
}
