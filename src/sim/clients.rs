//! The world's client side: issuing workload operations, their replies, histories, stale-read
//! measurement, and the periodic samples.

use super::observe::{
    NodeSample, OpCode, OpRecord, OpResult, Outcome, Sample, WriteKind, WriteRecord, VALUE_FOREIGN,
    VALUE_NIL,
};
use super::trace::TraceKind;
use super::world::{node_of_ip, Ev, PendingOp, World};
use super::Engine;
use crate::redis::resp::Reply;
use crate::redis::{ClientId, CommandResult};
use crate::scenario::Target;
use crate::time::{SimDuration, SimTime};
use crate::workload::{value_write_id, OpKind};

/// One command a script workload sent, and what the node answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptReply {
    /// When the node answered (or, with no answer, when the command reached it).
    pub time: SimTime,
    /// The command's index in the script.
    pub command: usize,
    /// The reply; `None` while a WAIT is blocked, or if the node was down.
    pub reply: Option<Reply>,
    /// Whether the node was up to run it.
    pub node_up: bool,
}

/// A script workload's progress: the commands it sent, in order, with their replies.
#[derive(Clone, Debug, Default)]
pub struct ScriptLog {
    pub replies: Vec<ScriptReply>,
    /// The next command to send.
    next: usize,
    /// A command is blocked (a WAIT): nothing more is sent until its reply.
    blocked: bool,
    /// The node was paused when the next command arrived: it waits in its socket.
    held: bool,
}

/// The client script `s` runs as: far above the workloads' clients (counted up from 1) and
/// below the operators' (counted down from `u64::MAX`).
fn script_client(s: usize) -> ClientId {
    ClientId(u64::MAX - (1 << 32) - s as u64)
}

impl World {
    /// Script `s`'s next command reaches its node: it runs, and the next is sent when its reply
    /// arrives (one round trip later) or, pipelined, as soon as the node is free. A command the
    /// node cannot run because it is down is recorded without a reply, and the client moves on
    /// a round trip later, as one whose connection was refused or reset would.
    pub(crate) fn script_step(&mut self, e: &mut Engine<Ev>, s: usize) {
        let now = e.now();
        let (node, pipeline, rtt, count) = {
            let spec = &self.scenario.scripts[s];
            (
                spec.node,
                spec.pipeline,
                spec.client_rtt,
                spec.commands.len(),
            )
        };
        let log = &mut self.rec.scripts[s];
        if log.blocked || log.next >= count {
            return;
        }
        if self.slots[node].paused {
            log.held = true;
            return;
        }
        let client = script_client(s);
        while self.rec.scripts[s].next < count {
            let k = self.rec.scripts[s].next;
            self.rec.scripts[s].next += 1;
            let args = self.scenario.scripts[s].commands[k].clone();
            let Some(n) = self.slots[node].node.as_mut() else {
                self.rec.scripts[s].replies.push(ScriptReply {
                    time: now,
                    command: k,
                    reply: None,
                    node_up: false,
                });
                e.schedule(now + rtt, Ev::Script { script: s as u32 });
                return;
            };
            let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            e.trace.record(
                now.as_nanos(),
                TraceKind::Command,
                node as u64,
                argv.len() as u64,
                (1 << 32) + s as u64,
            );
            let result = n.handle_command(now, client, &argv);
            let log = &mut self.rec.scripts[s];
            match result {
                CommandResult::Done { reply, at } => {
                    log.replies.push(ScriptReply {
                        time: at,
                        command: k,
                        reply: Some(reply),
                        node_up: true,
                    });
                    self.drain(e, node);
                    if !pipeline || at > now {
                        let next = if pipeline { at } else { at + rtt };
                        e.schedule(next, Ev::Script { script: s as u32 });
                        return;
                    }
                }
                CommandResult::Blocked => {
                    log.replies.push(ScriptReply {
                        time: now,
                        command: k,
                        reply: None,
                        node_up: true,
                    });
                    log.blocked = true;
                    self.drain(e, node);
                    return;
                }
            }
        }
    }

    /// A reply to `client` that no workload operation waits for: if it answers a script's
    /// blocked command, that command's record gets it and the script goes on. Returns whether
    /// it did.
    pub(crate) fn script_reply(
        &mut self,
        e: &mut Engine<Ev>,
        client: ClientId,
        reply: &Reply,
    ) -> bool {
        let Some(s) = (u64::MAX - (1 << 32))
            .checked_sub(client.0)
            .map(|s| s as usize)
            .filter(|&s| s < self.rec.scripts.len())
        else {
            return false;
        };
        let now = e.now();
        let log = &mut self.rec.scripts[s];
        if !log.blocked {
            return false;
        }
        log.blocked = false;
        if let Some(last) = log.replies.last_mut() {
            last.reply = Some(reply.clone());
            last.time = now;
        }
        let spec = &self.scenario.scripts[s];
        let next = if spec.pipeline {
            now
        } else {
            now + spec.client_rtt
        };
        e.schedule(next, Ev::Script { script: s as u32 });
        true
    }

    /// Node `node` resumed: the script commands waiting in its socket are read now.
    pub(crate) fn resume_scripts(&mut self, e: &mut Engine<Ev>, node: usize) {
        for s in 0..self.rec.scripts.len() {
            if self.rec.scripts[s].held && self.scenario.scripts[s].node == node {
                self.rec.scripts[s].held = false;
                e.schedule(e.now(), Ev::Script { script: s as u32 });
            }
        }
    }

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
                .and_then(node_of_ip)
                .filter(|&j| j < self.slots.len())
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
                    local_repl_buffer: 0,
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
                local_repl_buffer: n.local_repl_buffer_bytes(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run_text(text: &str) -> crate::sim::RunOutput {
        let sc = crate::scenario::parse("t.toml", text).expect("a valid scenario");
        crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {})
    }

    /// A master and its replica, the replica paused 3.0-3.05 s, and a script from 3 s.
    fn script(pipeline: bool) -> crate::sim::RunOutput {
        run_text(&format!(
            "name = \"s\"\nduration = \"5s\"\n[defaults]\nrepl-diskless-sync-delay = 0\n\
             [[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
             [[workload]]\nkind = \"script\"\ntarget = \"m\"\nstart = \"3s\"\npipeline = {pipeline}\n\
             repeat = 10\ncommands = [\"SET key:<i> v<i>\", \"GET key:<i>\"]\n\
             then = [\"WAIT 1 1000\", \"DBSIZE\"]\n\
             [[fault]]\nat = \"3s\"\nkind = \"pause\"\nnode = \"r\"\nduration = \"50ms\"\n"
        ))
    }

    fn replies(out: &crate::sim::RunOutput) -> Vec<(u64, String, Option<String>)> {
        let w = &out.world;
        w.rec.scripts[0]
            .replies
            .iter()
            .map(|r| {
                (
                    r.time.as_micros(),
                    w.scenario.scripts[0].commands[r.command].join(" "),
                    r.reply.as_ref().map(Reply::summary),
                )
            })
            .collect()
    }

    #[test]
    fn a_script_sends_its_commands_as_written_and_waits_for_a_blocked_wait() {
        for pipeline in [false, true] {
            let out = script(pipeline);
            let got = replies(&out);
            assert_eq!(got.len(), 22, "{got:?}");
            for i in 0..10 {
                assert_eq!(got[2 * i].1, format!("SET key:{i} v{i}"));
                assert_eq!(got[2 * i].2.as_deref(), Some("OK"));
                assert_eq!(got[2 * i + 1].2, Some(format!("\"v{i}\"")));
            }
            // The WAIT blocks until the paused replica acknowledges, after its resume at 3.05 s.
            assert_eq!(got[20].1, "WAIT 1 1000");
            assert_eq!(got[20].2.as_deref(), Some("(integer) 1"));
            assert!(got[20].0 >= 3_050_000, "{pipeline}: {got:?}");
            assert_eq!(got[21].2.as_deref(), Some("(integer) 10"));
            let first = got[0].0;
            let tenth_set = got[18].0;
            if pipeline {
                // Back to back: the node runs them as fast as its cost model allows.
                assert!(tenth_set - first < 50, "{got:?}");
            } else {
                // One client round trip (200 us) between replies.
                assert!(tenth_set - first >= 18 * 200, "{got:?}");
            }
        }
    }

    #[test]
    fn a_script_to_a_node_that_is_down_records_its_commands_unanswered() {
        let out = run_text(
            "name = \"s\"\nduration = \"5s\"\n[[node]]\nname = \"m\"\n\
             [[workload]]\nkind = \"script\"\ntarget = \"m\"\nstart = \"2s\"\n\
             commands = [\"PING\", \"PING\"]\n\
             [[fault]]\nat = \"1s\"\nkind = \"shutdown\"\nnode = \"m\"\n",
        );
        let log = &out.world.rec.scripts[0].replies;
        assert_eq!(log.len(), 2);
        assert!(log.iter().all(|r| r.reply.is_none() && !r.node_up));
    }
}
