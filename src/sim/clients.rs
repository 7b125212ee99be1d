//! The world's client side: issuing workload operations, their replies, histories, stale-read
//! measurement, and the periodic samples.

use super::observe::{
    NodeSample, OpCode, OpRecord, OpResult, Outcome, Sample, WriteKind, WriteRecord, VALUE_FOREIGN,
    VALUE_NIL,
};
use super::trace::TraceKind;
use super::world::{node_ip, Ev, PendingOp, World};
use super::Engine;
use crate::redis::resp::Reply;
use crate::redis::{ClientId, CommandResult};
use crate::scenario::Target;
use crate::time::{SimDuration, SimTime};
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

    /// The node a workload's operation goes to, and how long the client spent finding it (a
    /// Sentinel-aware client asking its Sentinels); `Err` with that time when it found none.
    fn route(
        &mut self,
        now: SimTime,
        w: usize,
        kind: OpKind,
    ) -> Result<(usize, SimDuration), SimDuration> {
        let (target, spent) = match self.workloads[w].spec.target {
            Target::Node(i) => (i, SimDuration::ZERO),
            Target::CurrentMaster => (
                self.master_target.ok_or(SimDuration::ZERO)?,
                SimDuration::ZERO,
            ),
            Target::Sentinel { .. } => self.sentinel_route(now, w)?,
        };
        let spec = &self.workloads[w].spec;
        if kind == OpKind::Get && spec.reads_from_replicas {
            let replicas: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.master_of(i) == Some(target))
                .collect();
            if !replicas.is_empty() {
                let k = self.rec.counters[w].reads as usize;
                return Ok((replicas[k % replicas.len()], spent));
            }
        }
        Ok((target, spent))
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
        let (node, spent) = match self.route(now, w, op.kind) {
            Ok(routed) => routed,
            Err(spent) => {
                let c = &mut self.rec.counters[w];
                if spent.is_zero() {
                    // No master to talk to: the client cannot even connect.
                    c.timeouts += 1;
                } else {
                    // A Sentinel-aware client that no Sentinel gave a master.
                    let kind = super::sentinel_clients::MASTER_NOT_FOUND.to_string();
                    *c.errors.entry(kind).or_default() += 1;
                }
                if op.kind.is_write() {
                    c.writes += 1;
                } else {
                    c.reads += 1;
                }
                return;
            }
        };
        let write = write_kind(op.kind).map(|kind| {
            self.rec.writes.push(WriteRecord::new(
                now.as_nanos(),
                op.key,
                w as u16,
                node as u16,
                kind,
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
        let history = self.rec.history.as_mut().map(|h| {
            let index = h.len() as u32;
            h.push(OpRecord {
                invoke_ns: now.as_nanos(),
                complete_ns: u64::MAX,
                value: write.map_or(0, u64::from),
                process: index,
                key: op.key,
                op: op_code(op.kind),
                outcome: Outcome::Info,
                node: node as u16,
                workload: w as u16,
            });
            index
        });
        let id = self.alloc_op(PendingOp {
            workload: w as u16,
            kind: op.kind,
            key: op.key,
            node,
            invoke: now,
            op,
            write,
            client,
            history,
            waiting: None,
            discovery: spent,
        });
        if spent.is_zero() {
            self.arrive(e, id);
        } else {
            // It asked its Sentinels first: the request leaves that much later.
            e.schedule(e.now() + spent, Ev::Arrive { op: id });
        }
    }

    pub(crate) fn arrive(&mut self, e: &mut Engine<Ev>, op: u32) {
        let now = e.now();
        let (node, client, w) = {
            let p = self.op_ref(op);
            (p.node, p.client, p.workload as usize)
        };
        if !self.client_reaches(w, node) {
            // A partition separates the client from the node: the request never arrives.
            let deadline = self.op_invoke(op) + self.workloads[w].spec.timeout;
            self.finish_op(e, op, None, deadline.max(now));
            return;
        }
        let slot = &mut self.slots[node];
        if slot.paused {
            // The request waits in the socket of a stopped process.
            slot.deferred_ops.push(op);
            return;
        }
        let Some(n) = slot.node.as_mut() else {
            let deadline = self.op_invoke(op) + self.workloads[w].spec.timeout;
            self.finish_op(e, op, None, deadline.max(now));
            return;
        };
        // The request's arguments are rendered into reused buffers and borrowed by the node.
        let p = self.ops[op as usize].as_ref().expect("pending");
        let workload = &self.workloads[w];
        let offset_before = n.master_repl_offset();
        let result = if p.waiting.is_some() {
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
                if let (Some(wr), None) = (p.write, p.waiting) {
                    // The node executed the write (whether or not the reply reaches the client
                    // in time): its dataset holds it, and its stream if it moved.
                    let changed = !matches!(reply, Reply::Integer(0)) || p.kind != OpKind::Del;
                    if !reply.is_error() {
                        self.rec.writes[wr as usize].set_noop(!changed);
                        self.rec.applied.executed(
                            node,
                            wr,
                            n.replid(),
                            offset_before,
                            n.master_repl_offset(),
                        );
                    }
                }
                let half = self.workloads[w].half_rtt();
                self.drain(e, node);
                self.finish_op(e, op, Some(&reply), at + half);
            }
            CommandResult::Blocked => {
                self.blocked.insert(client, op);
                // A client gives up on a WAIT that will not answer within its own timeout.
                let spec = &self.workloads[w].spec;
                let server_timeout = spec.wait.map_or(SimDuration::ZERO, |(_, t)| t);
                if server_timeout.is_zero() || server_timeout >= spec.timeout {
                    let sent = p.waiting.unwrap_or(p.invoke + p.discovery);
                    e.schedule(
                        (sent + spec.timeout).max(now),
                        Ev::ClientTimeout {
                            op,
                            client: client.0,
                        },
                    );
                }
                self.drain(e, node);
            }
        }
    }

    /// When `op`'s current request was sent: the WAIT's, or the operation's (after the client
    /// found its node).
    pub(crate) fn op_invoke(&self, op: u32) -> SimTime {
        let p = self.op_ref(op);
        p.waiting.unwrap_or(p.invoke + p.discovery)
    }

    /// A client's blocked command got no answer within its timeout: it records the timeout and
    /// closes, which unblocks the command on the node.
    pub(crate) fn client_timeout(&mut self, e: &mut Engine<Ev>, op: u32, client: ClientId) {
        if self.blocked.get(&client) != Some(&op) {
            // It was answered in time (and the slot may since serve another operation).
            return;
        }
        self.blocked.remove(&client);
        let done = e.now();
        self.finish_op(e, op, None, done);
    }

    /// Records the outcome of an operation whose reply (`None`: none, a timeout) reaches the
    /// client at `done`.
    pub(crate) fn finish_op(
        &mut self,
        e: &mut Engine<Ev>,
        op: u32,
        reply: Option<&Reply>,
        done: SimTime,
    ) {
        let p = self.op_ref(op);
        if let Some(sent) = p.waiting {
            self.finish_wait(op, sent, reply, done);
            return;
        }
        let (w, kind, key, invoke, write, node) = (
            p.workload as usize,
            p.kind,
            p.key,
            p.invoke,
            p.write,
            p.node,
        );
        let sent = invoke + p.discovery;
        let spec = &self.workloads[w].spec;
        let (timeout, wait) = (spec.timeout, spec.wait);
        let reply = reply.filter(|_| done.since(sent) <= timeout);
        self.sentinel_client_outcome(w, node, reply);
        let result = match reply {
            None => OpResult::Timeout,
            Some(Reply::Error(msg)) => OpResult::Error(msg.to_string()),
            Some(Reply::Bulk(v)) if kind == OpKind::Get => OpResult::Read(value_write_id(v)),
            Some(Reply::Null) if kind == OpKind::Get => OpResult::Read(None),
            Some(_) => OpResult::Ok,
        };
        if kind.is_write() && matches!(result, OpResult::Error(_)) {
            self.rec.triggers.write_refused(e.now(), node);
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
        if reply.is_some() {
            self.rec.latency[w].by_op[op_code(kind).index()].record(done.since(invoke).as_nanos());
        }
        self.record_history(op, reply, done);
        if let OpResult::Read(id) = result {
            self.measure_staleness(w, node, key, id, invoke);
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
                let history = self.rec.history.as_mut().map(|h| {
                    let process = self.ops[op as usize].as_ref().and_then(|p| p.history);
                    h.push(OpRecord {
                        invoke_ns: done.as_nanos(),
                        complete_ns: u64::MAX,
                        value: 0,
                        process: process.unwrap_or(0),
                        key,
                        op: OpCode::Wait,
                        outcome: Outcome::Info,
                        node: node as u16,
                        workload: w as u16,
                    });
                    (h.len() - 1) as u32
                });
                let p = self.ops[op as usize].as_mut().expect("pending");
                p.waiting = Some(done);
                p.history = history;
                let half = self.workloads[w].half_rtt();
                e.schedule(done + half, Ev::Arrive { op });
                return;
            }
        }
        self.release_op(op);
    }

    /// The WAIT after write `op`, sent at `sent`, answered `reply` (or nothing) at `done`.
    fn finish_wait(&mut self, op: u32, sent: SimTime, reply: Option<&Reply>, done: SimTime) {
        let p = self.op_ref(op);
        let (w, write) = (p.workload as usize, p.write);
        let spec = &self.workloads[w].spec;
        let wanted = spec.wait.map_or(0, |(n, _)| n) as i64;
        let reply = reply.filter(|_| done.since(sent) <= spec.timeout);
        let count = match reply {
            Some(Reply::Integer(n)) => Some(*n),
            _ => None,
        };
        let satisfied = count.is_some_and(|n| n >= wanted);
        if let Some(wr) = write {
            self.rec.writes[wr as usize].set_wait(satisfied);
        }
        let c = &mut self.rec.counters[w];
        if !satisfied {
            c.wait_unsatisfied += 1;
        }
        if reply.is_none() {
            c.wait_timeouts += 1;
        }
        let lat = &mut self.rec.latency[w];
        if let Some(n) = count {
            lat.by_op[OpCode::Wait.index()].record(done.since(sent).as_nanos());
            *lat.wait_counts.entry(n).or_default() += 1;
        }
        self.record_history(op, reply, done);
        self.release_op(op);
    }

    /// Completes `op`'s record in the history, if the run keeps one.
    fn record_history(&mut self, op: u32, reply: Option<&Reply>, done: SimTime) {
        let Some(index) = self.op_ref(op).history else {
            return;
        };
        let Some(h) = self.rec.history.as_mut() else {
            return;
        };
        let r = &mut h[index as usize];
        match reply {
            None => {
                // The client gave up at its timeout, whenever a late reply came.
                let p = self.ops[op as usize].as_ref().expect("pending");
                let sent = p.waiting.unwrap_or(p.invoke + p.discovery);
                let gave_up = sent + self.workloads[p.workload as usize].spec.timeout;
                r.outcome = Outcome::Info;
                r.complete_ns = done.min(gave_up).as_nanos();
            }
            Some(Reply::Error(msg)) => {
                let kind = msg.split(' ').next().unwrap_or(msg).to_string();
                let i = match self.rec.error_kinds.iter().position(|k| *k == kind) {
                    Some(i) => i,
                    None => {
                        self.rec.error_kinds.push(kind);
                        self.rec.error_kinds.len() - 1
                    }
                };
                r.outcome = Outcome::Fail;
                r.value = i as u64;
                r.complete_ns = done.as_nanos();
            }
            Some(reply) => {
                r.outcome = Outcome::Ok;
                r.complete_ns = done.as_nanos();
                match (r.op, reply) {
                    (OpCode::Get, Reply::Bulk(v)) => {
                        r.value = value_write_id(v).unwrap_or(VALUE_FOREIGN)
                    }
                    (OpCode::Get, _) => r.value = VALUE_NIL,
                    (OpCode::Set, _) => {}
                    (_, Reply::Integer(n)) => r.value = *n as u64,
                    _ => {}
                }
            }
        }
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

    /// A read of `key` from `node`, invoked at `invoke`, returned the value of write `id`. It
    /// is stale if a later write of that key had been acknowledged before the read was issued.
    /// A replica that has not completed a sync yet holds none of its master's data: its reads
    /// are counted apart.
    fn measure_staleness(
        &mut self,
        w: usize,
        node: usize,
        key: u32,
        id: Option<u64>,
        invoke: SimTime,
    ) {
        let replica = self.node(node).is_some_and(|n| !n.is_master());
        let stats = &mut self.rec.reads[node];
        stats.reads += 1;
        if replica && !self.synced[node] {
            stats.before_first_sync += 1;
            self.rec.counters[w].reads_before_first_sync += 1;
            return;
        }
        let Some((latest, _)) = self.latest_acked.get(key as usize).copied().flatten() else {
            return;
        };
        if let Some(ns) =
            super::observe::read_staleness(&self.rec.writes, latest as usize, id, invoke.as_nanos())
        {
            let stats = &mut self.rec.reads[node];
            stats.stale += 1;
            stats.staleness.record(ns);
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
                    top: None,
                    lag_bytes_top: None,
                    backlog_histlen: 0,
                    backlog_size: 0,
                    obuf_hard_limit_configured: 0,
                    obuf_hard_limit_effective: 0,
                    obuf_soft_limit: 0,
                    replica_obuf: Vec::new(),
                });
                continue;
            };
            let replica_obuf = n
                .replica_summaries()
                .into_iter()
                .filter_map(|(name, _, _, obuf)| Some((ip_index(&name)?, obuf)))
                .collect();
            let limit = &n.cfg.client_output_buffer_limit_replica;
            nodes.push(NodeSample {
                up: true,
                master: n.is_master(),
                following: self.master_of(i),
                offset: n.master_repl_offset(),
                lag_bytes: self.lag_bytes(i),
                link_up: n.master_link_up(),
                top: self.chain_top(i),
                lag_bytes_top: self.lag_bytes_top(i),
                backlog_histlen: n.backlog_histlen(),
                backlog_size: n.cfg.repl_backlog_size,
                obuf_hard_limit_configured: limit.hard_bytes,
                obuf_hard_limit_effective: n.cfg.replica_hard_limit_effective(),
                obuf_soft_limit: limit.soft_bytes,
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

/// What a workload operation writes, if it writes.
fn write_kind(kind: OpKind) -> Option<WriteKind> {
    match kind {
        OpKind::Set => Some(WriteKind::Set),
        OpKind::Del => Some(WriteKind::Del),
        OpKind::Incr => Some(WriteKind::Incr),
        OpKind::Append => Some(WriteKind::Append),
        OpKind::Get => None,
    }
}

fn op_code(kind: OpKind) -> OpCode {
    match kind {
        OpKind::Set => OpCode::Set,
        OpKind::Get => OpCode::Get,
        OpKind::Incr => OpCode::Incr,
        OpKind::Append => OpCode::Append,
        OpKind::Del => OpCode::Del,
    }
}
