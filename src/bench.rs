//! Benchmark workloads for `replsim bench`.
//!
//! Each workload is deterministic and returns what it did (events processed, simulated time);
//! the CLI times it with the wall clock, which this module never touches.
//!
//! - [`engine_pingpong`]: the engine and network under many connections exchanging small
//!   messages. Every delivery makes the receiver write a reply, so each connection keeps one
//!   message in flight and the queue holds about one event per connection.
//! - [`baseline_pingpong`]: the same traffic shape as a plain `BinaryHeap` loop with no network
//!   model: pop, draw the next delay from the same kind of stream, push. It is the floor the
//!   engine is compared against.
//! - [`e2e_run`]: a whole scenario (master, replicas, workload) through the simulator; with no
//!   writes, it measures what idle replicas cost.
//! - [`keyspace_floor`]: only the dataset writes of the same end-to-end case, every SET applied
//!   to every node's keyspace, with no parsing, network, engine or backlog. It is the floor any
//!   simulator that keeps a real dataset per node pays, and the end-to-end cases are compared
//!   against it.
//! - [`wire_floor`]: the keyspace floor plus the replication stream's own bytes: the master
//!   encodes each SET as RESP once and appends it to its backlog; every replica parses those
//!   bytes, applies the SET and appends them to its own backlog. Still no network, engine,
//!   clients or history: the least a simulator that speaks real RESP between nodes does.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::net::{ConnId, LinkParams, NetOutput, NetTimer, Network, NodeId, Side};
use crate::seed::SeedStream;
use crate::sim::trace::TraceKind;
use crate::sim::{Engine, Limits, Model};
use crate::time::{SimDuration, SimTime};

/// The shape of the ping-pong workload.
#[derive(Copy, Clone, Debug)]
pub struct PingPong {
    pub nodes: u32,
    pub connections: u32,
    pub message_bytes: usize,
    pub events: u64,
    pub seed: u64,
}

impl Default for PingPong {
    fn default() -> Self {
        PingPong {
            nodes: 64,
            connections: 2_000,
            message_bytes: 32,
            events: 5_000_000,
            seed: 1,
        }
    }
}

/// What a workload did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Done {
    pub events: u64,
    pub sim_time: SimTime,
    pub trace_hash: u64,
}

fn link() -> LinkParams {
    LinkParams {
        latency: SimDuration::from_micros(200),
        jitter: SimDuration::from_micros(50),
        ..LinkParams::default()
    }
}

struct Echo {
    net: Network,
    outs: Vec<NetOutput>,
    message: Vec<u8>,
}

impl Model<NetTimer> for Echo {
    #[inline]
    fn handle(&mut self, e: &mut Engine<NetTimer>, timer: NetTimer) {
        let now = e.now();
        self.net.handle(now, timer, e, &mut self.outs);
        for i in 0..self.outs.len() {
            match self.outs[i] {
                NetOutput::Data {
                    node, conn, side, ..
                } => {
                    let n = self.net.delivered().len();
                    e.trace.record(
                        now.as_nanos(),
                        TraceKind::Deliver,
                        u64::from(node.0),
                        n,
                        conn.as_u64(),
                    );
                    self.net.send(now, conn, side, &self.message, e);
                }
                NetOutput::Established { conn, .. } => {
                    self.net.send(now, conn, Side::Client, &self.message, e);
                }
                _ => {}
            }
        }
        self.outs.clear();
    }
}

/// Runs the engine and network on the ping-pong workload.
pub fn engine_pingpong(p: PingPong) -> Done {
    let mut net = Network::new(p.nodes as usize, link(), SeedStream::derive(p.seed, "net"));
    let mut e: Engine<NetTimer> = Engine::new();
    let mut pick = SeedStream::derive(p.seed, "bench/topology");
    let mut conns: Vec<ConnId> = Vec::with_capacity(p.connections as usize);
    for _ in 0..p.connections {
        let a = pick.below(u64::from(p.nodes)) as u32;
        let b = (a + 1 + pick.below(u64::from(p.nodes) - 1) as u32) % p.nodes;
        conns.push(net.connect(SimTime::ZERO, NodeId(a), NodeId(b), &mut e));
    }
    let mut model = Echo {
        net,
        outs: Vec::with_capacity(16),
        message: vec![b'x'; p.message_bytes],
    };
    e.run(
        &mut model,
        Limits {
            until: SimTime::MAX,
            max_events: p.events,
        },
    );
    assert!(
        e.pending() >= p.connections as usize / 2,
        "the workload should keep the queue full"
    );
    Done {
        events: e.events(),
        sim_time: e.now(),
        trace_hash: e.trace.hash(),
    }
}

/// The plain `BinaryHeap` loop with the same number of in-flight messages and the same delay
/// distribution.
pub fn baseline_pingpong(p: PingPong) -> Done {
    let mut rng = SeedStream::derive(p.seed, "net");
    let (latency, jitter) = (link().latency.as_nanos(), link().jitter.as_nanos());
    let mut heap: BinaryHeap<Reverse<(u64, u64, u32)>> =
        BinaryHeap::with_capacity(p.connections as usize);
    let mut seq = 0u64;
    for c in 0..p.connections {
        heap.push(Reverse((latency, seq, c)));
        seq += 1;
    }
    let mut events = 0u64;
    let mut now = 0u64;
    let mut hash = 0u64;
    while events < p.events {
        let Some(Reverse((t, _, c))) = heap.pop() else {
            break;
        };
        now = t;
        events += 1;
        hash = (hash ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01b3);
        let next = t + latency + rng.below(jitter + 1);
        heap.push(Reverse((next, seq, c)));
        seq += 1;
    }
    Done {
        events,
        sim_time: SimTime::from_nanos(now),
        trace_hash: hash,
    }
}

/// One end-to-end case: a master with `replicas` replicas under `rate` SET/s of 100-byte values
/// over `keys` keys (from 2 s, when every replica has synced), for `seconds` simulated seconds,
/// no faults. A rate of 0 runs the replicas idle: no workload at all.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct E2e {
    pub replicas: usize,
    pub rate: u64,
    pub keys: u64,
    pub seconds: u64,
}

impl E2e {
    /// 1 master + 2 replicas at 5,000 SET/s over 10,000 keys.
    pub fn three_nodes(seconds: u64) -> E2e {
        E2e {
            replicas: 2,
            rate: 5000,
            keys: 10_000,
            seconds,
        }
    }

    /// 1 master + 100 replicas at 1,000 SET/s over 10,000 keys.
    pub fn hundred_replicas(seconds: u64) -> E2e {
        E2e {
            replicas: 100,
            rate: 1000,
            keys: 10_000,
            seconds,
        }
    }

    /// 1 master + 1,000 replicas at 1,000 SET/s over 1,000 keys.
    pub fn thousand_replicas(seconds: u64) -> E2e {
        E2e {
            replicas: 1000,
            rate: 1000,
            keys: 1000,
            seconds,
        }
    }

    /// `replicas` replicas of a master that takes no writes, for 10 simulated seconds.
    pub fn idle(replicas: usize) -> E2e {
        E2e {
            replicas,
            rate: 0,
            keys: 0,
            seconds: 10,
        }
    }

    /// The scenario of the case.
    pub fn scenario(self) -> crate::scenario::Scenario {
        let E2e {
            replicas,
            rate,
            keys,
            seconds,
        } = self;
        let mut toml = format!(
            "name = \"e2e-{replicas}-replicas\"\nduration = \"{seconds}s\"\nsample_interval = \"1s\"\n\n[defaults]\nrepl-diskless-sync-delay = \"1s\"\n\n[[node]]\nname = \"master\"\n"
        );
        for i in 0..replicas {
            toml.push_str(&format!(
                "\n[[node]]\nname = \"replica-{i}\"\nreplicaof = \"master\"\n"
            ));
        }
        if rate > 0 {
            toml.push_str(&format!("\n[[workload]]\ntarget = \"master\"\nrate = {rate}\nkeys = {keys}\nvalue_size = 100\nstart = \"2s\"\n"));
        }
        crate::scenario::parse("e2e", &toml).expect("the benchmark scenario is valid")
    }
}

/// Runs an end-to-end case and returns simulated time and events.
pub fn e2e_run(case: E2e) -> Done {
    let out = crate::sim::run(case.scenario(), 1, u64::MAX, None, &mut |_, _| {});
    Done {
        events: out.events,
        sim_time: out.sim_time,
        trace_hash: out.trace_hash,
    }
}

/// The SETs of [`e2e_run`]'s case (same key choice, same 100-byte values, from 2 s to the end),
/// each handed to `apply` as key and value, with no simulation around them.
fn floor_sets(case: E2e, mut apply: impl FnMut(&[u8], &[u8])) -> Done {
    let seconds = case.seconds;
    let mut sc = case.scenario();
    let spec = sc.workloads.swap_remove(0);
    let value_size = spec.value_size as usize;
    let mut w = crate::workload::Workload::new(spec, 1, 0);
    let (mut key, mut value) = (Vec::new(), Vec::with_capacity(value_size));
    let mut sets = 0u64;
    let mut hash = 0u64;
    let end = SimTime::ZERO + SimDuration::from_secs(seconds);
    while let Some(t) = w.next_time() {
        if t >= end {
            break;
        }
        let op = w.op(sets);
        key.clear();
        key.extend_from_slice(b"key:");
        crate::redis::resp::push_u64(&mut key, u64::from(op.key));
        crate::workload::write_set_value(&mut value, op.id, value_size);
        apply(&key, &value);
        hash = (hash ^ u64::from(op.key)).wrapping_mul(0x0000_0100_0000_01b3);
        sets += 1;
    }
    Done {
        events: sets,
        sim_time: end,
        trace_hash: hash,
    }
}

/// The dataset writes of [`e2e_run`]'s case alone: the workload's SETs applied to the
/// keyspaces of the master and its `replicas`, one node after another, as the replication
/// stream reaches them.
pub fn keyspace_floor(case: E2e) -> Done {
    let mut nodes: Vec<crate::redis::keyspace::Keyspace> = (0..=case.replicas)
        .map(|_| crate::redis::keyspace::Keyspace::new(16))
        .collect();
    floor_sets(case, |key, value| {
        for ks in &mut nodes {
            ks.db_mut(0).set(key, value, None);
        }
    })
}

/// [`keyspace_floor`] plus the replication stream's bytes: each SET is encoded as RESP once,
/// the master applies it and appends it to its backlog, and every replica decodes the bytes,
/// applies the decoded SET and appends the bytes to its own backlog (1 MB each, trimmed as
/// Redis trims).
pub fn wire_floor(case: E2e) -> Done {
    wire_floor_nodes(case).0
}

/// One node of [`wire_floor`]: its dataset, its stream decoder and its backlog.
struct WireNode {
    keyspace: crate::redis::keyspace::Keyspace,
    decoder: crate::redis::resp::Decoder,
    backlog: crate::redis::replbuf::ReplBuffer,
}

fn wire_floor_nodes(case: E2e) -> (Done, Vec<WireNode>) {
    use crate::redis::keyspace::Keyspace;
    use crate::redis::replbuf::ReplBuffer;
    use crate::redis::resp::{encode_command, Decoder, Frame};
    const BACKLOG: u64 = 1 << 20;
    let mut nodes: Vec<WireNode> = (0..=case.replicas)
        .map(|_| WireNode {
            keyspace: Keyspace::new(16),
            decoder: Decoder::new(),
            backlog: ReplBuffer::new(0),
        })
        .collect();
    let mut stream = Vec::new();
    let done = floor_sets(case, |key, value| {
        stream.clear();
        encode_command(&[b"SET".as_slice(), key, value], &mut stream);
        let (master, replicas) = nodes.split_first_mut().expect("a master");
        master.keyspace.db_mut(0).set(key, value, None);
        master.backlog.feed(&stream, BACKLOG);
        master.backlog.trim(BACKLOG, None);
        for r in replicas {
            r.decoder.feed(&stream);
            match r.decoder.next_frame() {
                Ok(Some(Frame::Command)) if r.decoder.argc() == 3 => {
                    r.keyspace
                        .db_mut(0)
                        .set(r.decoder.arg(1), r.decoder.arg(2), None)
                }
                other => panic!("the encoded SET decodes as one command: {other:?}"),
            }
            r.backlog.feed(&stream, BACKLOG);
            r.backlog.trim(BACKLOG, None);
        }
    });
    (done, nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_workload_is_deterministic_and_keeps_many_events_pending() {
        let p = PingPong {
            events: 20_000,
            connections: 1_500,
            ..PingPong::default()
        };
        let a = engine_pingpong(p);
        assert_eq!(a, engine_pingpong(p));
        assert_eq!(a.events, 20_000);
        assert_ne!(
            a.trace_hash,
            engine_pingpong(PingPong { seed: 2, ..p }).trace_hash
        );
    }

    #[test]
    fn the_keyspace_floor_applies_every_set_to_every_node() {
        // 1,000 SET/s from 2 s to 5 s.
        let case = E2e {
            replicas: 3,
            rate: 1000,
            keys: 10_000,
            seconds: 5,
        };
        let d = keyspace_floor(case);
        assert_eq!(d.events, 3000);
        assert_eq!(d.sim_time, SimTime::ZERO + SimDuration::from_secs(5));
        assert_eq!(d, keyspace_floor(case));
    }

    #[test]
    fn the_wire_floor_leaves_every_replica_with_the_masters_data() {
        let case = E2e {
            replicas: 2,
            rate: 1000,
            keys: 10_000,
            seconds: 5,
        };
        let (d, nodes) = wire_floor_nodes(case);
        assert_eq!(d.events, 3000);
        assert_eq!(
            d,
            keyspace_floor(case),
            "the same SETs as the keyspace floor"
        );
        let master = &nodes[0];
        assert!(
            master.keyspace.db(0).len() > 2000,
            "3,000 SETs over 10,000 keys"
        );
        // Each SET of `key:<n>` (n below 10,000) with a 100-byte value is 132-135 bytes of RESP.
        assert!((3000 * 132..=3000 * 135).contains(&master.backlog.master_repl_offset()));
        for r in &nodes[1..] {
            assert_eq!(r.keyspace.digest(), master.keyspace.digest());
            assert_eq!(
                r.backlog.master_repl_offset(),
                master.backlog.master_repl_offset()
            );
            assert_eq!(r.decoder.pending(), 0);
        }
    }

    #[test]
    fn an_idle_case_has_no_writes_and_a_loaded_one_writes_its_keys() {
        let idle = E2e::idle(3).scenario();
        assert_eq!(idle.nodes.len(), 4);
        assert!(idle.workloads.is_empty());
        let loaded = E2e::thousand_replicas(5).scenario();
        assert_eq!(loaded.nodes.len(), 1001);
        assert_eq!(
            (loaded.workloads[0].keys, loaded.workloads[0].rate_per_sec),
            (1000, 1000)
        );
    }

    #[test]
    fn the_baseline_processes_the_requested_events() {
        let p = PingPong {
            events: 10_000,
            ..PingPong::default()
        };
        assert_eq!(baseline_pingpong(p).events, 10_000);
    }
}
