//! Tests that pin the network's arithmetic and semantics. They drive a [`Network`] through the
//! real engine with a model that only records what nodes would be told.
#![cfg(test)]

use super::*;
use crate::sim::{Engine, Limits, Model};

struct World {
    net: Network,
    outs: Vec<NetOutput>,
    /// Everything nodes were told, with the time and, for data, the bytes.
    log: Vec<(SimTime, NetOutput, Vec<u8>)>,
}

impl Model<NetTimer> for World {
    fn handle(&mut self, e: &mut Engine<NetTimer>, timer: NetTimer) {
        let now = e.now();
        self.net.handle(now, timer, e, &mut self.outs);
        for o in self.outs.drain(..) {
            let bytes = match o {
                NetOutput::Data { .. } => self.net.delivered().bytes.clone(),
                _ => Vec::new(),
            };
            e.trace.record(
                now.as_nanos(),
                crate::sim::trace::TraceKind::Deliver,
                bytes.len() as u64,
                0,
                0,
            );
            self.log.push((now, o, bytes));
        }
    }
}

const A: NodeId = NodeId(0);
const B: NodeId = NodeId(1);

struct T {
    e: Engine<NetTimer>,
    w: World,
}

impl T {
    fn new(params: LinkParams) -> T {
        T::seeded(params, 1)
    }

    fn seeded(params: LinkParams, seed: u64) -> T {
        let net = Network::new(2, params, SeedStream::derive(seed, "net"));
        T {
            e: Engine::new(),
            w: World {
                net,
                outs: vec![],
                log: vec![],
            },
        }
    }

    fn now(&self) -> SimTime {
        self.e.now()
    }

    fn run_until(&mut self, t: SimTime) {
        self.e.run(&mut self.w, Limits::until(t));
    }

    fn run_for(&mut self, d: SimDuration) {
        let t = self.now() + d;
        self.run_until(t);
    }

    fn settle(&mut self) {
        self.e.run(
            &mut self.w,
            Limits {
                until: SimTime::MAX,
                max_events: 1_000_000,
            },
        );
    }

    /// Connects A to B and runs until established.
    fn connected(&mut self) -> ConnId {
        let now = self.now();
        let c = self.w.net.connect(now, A, B, &mut self.e);
        self.run_for(SimDuration::from_secs(1));
        assert!(
            self.established_at(c).is_some(),
            "connection did not establish"
        );
        self.w.log.clear();
        c
    }

    fn established_at(&self, c: ConnId) -> Option<SimTime> {
        self.w.log.iter().find_map(|(t, o, _)| match o {
            NetOutput::Established { conn, .. } if *conn == c => Some(*t),
            _ => None,
        })
    }

    fn send(&mut self, c: ConnId, side: Side, data: &[u8]) -> usize {
        let now = self.now();
        self.w.net.send(now, c, side, data, &mut self.e)
    }

    /// All bytes received by `node`, concatenated, and the time of each delivery.
    fn received(&self, node: NodeId) -> (Vec<u8>, Vec<SimTime>) {
        let mut bytes = vec![];
        let mut times = vec![];
        for (t, o, b) in &self.w.log {
            if let NetOutput::Data { node: n, .. } = o {
                if *n == node {
                    bytes.extend(b);
                    times.push(*t);
                }
            }
        }
        (bytes, times)
    }

    fn outputs(&self) -> Vec<NetOutput> {
        self.w.log.iter().map(|(_, o, _)| *o).collect()
    }
}

fn lan(latency_ms: u64) -> LinkParams {
    LinkParams {
        latency: SimDuration::from_millis(latency_ms),
        ..LinkParams::default()
    }
}

#[test]
fn connect_takes_one_round_trip_and_the_listener_learns_after_one_way() {
    let mut t = T::new(lan(1));
    let c = t.w.net.connect(SimTime::ZERO, A, B, &mut t.e);
    t.settle();
    assert_eq!(
        t.w.log[0],
        (
            SimTime::from_millis(1),
            NetOutput::Accept { node: B, conn: c },
            vec![]
        )
    );
    assert_eq!(t.established_at(c), Some(SimTime::from_millis(2)));
}

#[test]
fn one_megabyte_over_one_gigabit_with_1ms_latency_arrives_8_388_608ns_plus_1ms_later() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    let start = t.now();
    let mb = vec![7u8; 1 << 20];
    assert_eq!(t.send(c, Side::Client, &mb), 1 << 20);
    t.settle();
    let (bytes, times) = t.received(B);
    assert_eq!(bytes.len(), 1 << 20);
    assert_eq!(
        times,
        vec![start + SimDuration::from_nanos(8_388_608) + SimDuration::from_millis(1)]
    );
}

#[test]
fn writes_queue_behind_each_other_on_the_wire() {
    // Two 125,000-byte writes at once on 1 Gbit/s: each takes 1 ms to serialise.
    let mut t = T::new(lan(1));
    let c = t.connected();
    let start = t.now();
    t.send(c, Side::Client, &[1u8; 125_000]);
    t.send(c, Side::Client, &[2u8; 125_000]);
    t.settle();
    let (_, times) = t.received(B);
    assert_eq!(
        times,
        vec![
            start + SimDuration::from_millis(2),
            start + SimDuration::from_millis(3)
        ]
    );
}

#[test]
fn a_full_socket_buffer_accepts_part_and_reports_writable_when_it_drains() {
    let mut t = T::new(LinkParams {
        send_buffer_bytes: 1000,
        ..lan(1)
    });
    let c = t.connected();
    assert_eq!(t.send(c, Side::Client, &[0u8; 1500]), 1000);
    assert_eq!(t.send(c, Side::Client, &[0u8; 10]), 0);
    assert_eq!(t.w.net.buffered(c, Side::Client), 1000);
    t.settle();
    let outs = t.outputs();
    assert!(matches!(outs[0], NetOutput::Data { node: B, .. }));
    assert_eq!(
        outs[1],
        NetOutput::Writable {
            node: A,
            conn: c,
            side: Side::Client
        }
    );
    assert_eq!(t.send(c, Side::Client, &[0u8; 500]), 500);
}

#[test]
fn a_partition_holds_bytes_and_delivers_them_in_order_after_the_heal() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    t.w.net.block(A, B);
    t.w.net.block(B, A);
    for i in 0..10u8 {
        t.send(c, Side::Client, &[i; 3]);
        t.run_for(SimDuration::from_millis(100));
    }
    assert!(t.received(B).0.is_empty(), "nothing crosses a partition");
    let heal = t.now();
    t.w.net.unblock(heal, A, B, &mut t.e);
    t.w.net.unblock(heal, B, A, &mut t.e);
    t.settle();
    let (bytes, times) = t.received(B);
    let expected: Vec<u8> = (0..10u8).flat_map(|i| [i; 3]).collect();
    assert_eq!(bytes, expected);
    // Re-sent from the heal: 30 bytes serialise in 240 ns, plus 1 ms of latency.
    assert_eq!(
        times[0],
        heal + SimDuration::from_nanos(24) + SimDuration::from_millis(1)
    );
    assert_eq!(
        *times.last().unwrap(),
        heal + SimDuration::from_nanos(240) + SimDuration::from_millis(1)
    );
}

#[test]
fn a_one_way_partition_blocks_only_its_direction() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    t.w.net.block(A, B);
    t.send(c, Side::Client, b"lost?");
    t.send(c, Side::Server, b"still flows");
    t.run_for(SimDuration::from_secs(5));
    assert_eq!(t.received(A).0, b"still flows");
    assert!(t.received(B).0.is_empty());
    let now = t.now();
    t.w.net.unblock(now, A, B, &mut t.e);
    t.settle();
    assert_eq!(t.received(B).0, b"lost?");
}

#[test]
fn loss_delays_by_the_rto_without_reordering() {
    let params = LinkParams {
        loss_ppm: 300_000,
        ..lan(1)
    };
    let mut t = T::seeded(params, 9);
    let c = t.connected();
    let start = t.now();
    for i in 0..200u8 {
        t.send(c, Side::Client, &[i]);
        t.run_for(SimDuration::from_millis(1));
    }
    t.settle();
    let (bytes, times) = t.received(B);
    assert_eq!(bytes, (0..200u8).collect::<Vec<_>>(), "TCP keeps order");
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // A lossless run would finish 1 ms after the last write; losses stretch it by at least an RTO.
    let last = *times.last().unwrap();
    assert!(
        last >= start + SimDuration::from_millis(199 + 200),
        "no loss was modelled: {last}"
    );
}

#[test]
fn a_reset_is_seen_by_both_ends_and_discards_buffered_bytes() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    t.send(c, Side::Client, b"in flight");
    let mut out = vec![];
    t.w.net.reset(c, &mut out);
    assert_eq!(
        out,
        vec![
            NetOutput::Reset {
                node: A,
                conn: c,
                side: Side::Client
            },
            NetOutput::Reset {
                node: B,
                conn: c,
                side: Side::Server
            }
        ]
    );
    t.settle();
    assert!(t.received(B).0.is_empty());
    assert!(!t.w.net.is_open(c));
    assert_eq!(
        t.send(c, Side::Client, b"x"),
        0,
        "a reset connection accepts nothing"
    );
}

#[test]
fn close_delivers_pending_bytes_then_end_of_stream() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    t.send(c, Side::Client, b"last words");
    let now = t.now();
    t.w.net.close(now, c, Side::Client, &mut t.e);
    t.settle();
    let outs = t.outputs();
    assert!(matches!(
        outs.last(),
        Some(NetOutput::Data {
            node: B,
            eof: true,
            ..
        })
    ));
    assert_eq!(t.received(B).0, b"last words");
    t.w.net.close(t.now(), c, Side::Server, &mut t.e);
    assert_eq!(t.w.net.conn_count(), 0, "both ends closed frees the slot");
}

#[test]
fn connecting_to_a_crashed_node_times_out_after_the_connect_timeout() {
    let mut t = T::new(lan(1));
    t.w.net.crash(B);
    let c = t.w.net.connect(SimTime::ZERO, A, B, &mut t.e);
    t.settle();
    assert_eq!(
        t.w.log,
        vec![(
            SimTime::from_secs(127),
            NetOutput::ConnectFailed { node: A, conn: c },
            vec![]
        )]
    );
}

#[test]
fn a_connect_during_a_partition_completes_at_the_next_syn_retry_after_the_heal() {
    let mut t = T::new(lan(1));
    t.w.net.block(A, B);
    let c = t.w.net.connect(SimTime::ZERO, A, B, &mut t.e);
    t.run_until(SimTime::from_secs(5));
    t.w.net.unblock(SimTime::from_secs(5), A, B, &mut t.e);
    t.settle();
    // SYN retries at 1, 3, 7 s: the one at 7 s gets through.
    assert_eq!(
        t.established_at(c),
        Some(SimTime::from_secs(7) + SimDuration::from_millis(2))
    );
}

#[test]
fn a_crashed_node_goes_silent_and_its_restart_resets_a_sending_peer() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    t.w.net.crash(B);
    t.send(c, Side::Client, b"into the void");
    t.run_for(SimDuration::from_secs(10));
    assert!(
        t.outputs().is_empty(),
        "no FIN, no reset, nothing: the peer must time out by itself"
    );
    let now = t.now();
    t.w.net.restart(now, B, &mut t.e);
    t.settle();
    assert_eq!(
        t.w.log,
        vec![(
            now + SimDuration::from_millis(2),
            NetOutput::Reset {
                node: A,
                conn: c,
                side: Side::Client
            },
            vec![]
        )]
    );
}

#[test]
fn a_paused_reader_holds_bytes_and_its_writer_fills_the_buffer() {
    let mut t = T::new(LinkParams {
        send_buffer_bytes: 100,
        ..lan(1)
    });
    let c = t.connected();
    t.w.net.pause(B);
    assert_eq!(t.send(c, Side::Client, &[1; 60]), 60);
    t.run_for(SimDuration::from_secs(1));
    assert_eq!(
        t.send(c, Side::Client, &[2; 60]),
        40,
        "nothing was read, so the buffer stays full"
    );
    let now = t.now();
    t.w.net.resume(now, B, &mut t.e);
    t.settle();
    let (bytes, times) = t.received(B);
    assert_eq!(bytes.len(), 100);
    assert_eq!(
        times[0], now,
        "held bytes are already in the reader's kernel"
    );
}

#[test]
fn opaque_bytes_count_for_time_and_buffers_without_being_materialised() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    let start = t.now();
    t.send(c, Side::Client, b"$EOF:");
    let now = t.now();
    assert_eq!(
        t.w.net
            .send_opaque(now, c, Side::Client, 1_000_000, &mut t.e),
        1_000_000
    );
    t.send(c, Side::Client, b"tail");
    t.settle();
    assert_eq!(t.w.net.delivered().segments, vec![Segment::Bytes(4)]);
    let (bytes, times) = t.received(B);
    assert_eq!(bytes, b"$EOF:tail", "opaque bytes never appear as bytes");
    assert_eq!(times.len(), 3);
    // 1,000,009 bytes at 8 ns each on 1 Gbit/s, plus 1 ms.
    assert_eq!(
        times[2],
        start + SimDuration::from_nanos(8_000_072) + SimDuration::from_millis(1)
    );
}

fn jittery_run(seed: u64) -> u64 {
    let params = LinkParams {
        jitter: SimDuration::from_micros(500),
        ..lan(1)
    };
    let mut t = T::seeded(params, seed);
    let c = t.connected();
    for i in 0..100u8 {
        t.send(c, Side::Client, &[i]);
        t.send(c, Side::Server, &[i]);
        t.run_for(SimDuration::from_micros(300));
    }
    t.settle();
    t.e.trace.hash()
}

#[test]
fn the_same_seed_gives_the_same_trace_hash() {
    assert_eq!(jittery_run(1), jittery_run(1));
}

#[test]
fn different_seeds_give_different_trace_hashes_when_jitter_is_on() {
    assert_ne!(jittery_run(1), jittery_run(2));
}

#[test]
fn a_connection_not_being_read_holds_its_bytes_and_backs_up_the_writer() {
    let mut t = T::new(LinkParams {
        send_buffer_bytes: 100,
        ..lan(1)
    });
    let c = t.connected();
    let now = t.now();
    t.w.net.set_reading(now, c, Side::Server, false, &mut t.e);
    assert_eq!(t.send(c, Side::Client, &[1; 100]), 100);
    t.run_for(SimDuration::from_secs(1));
    assert!(t.received(B).0.is_empty());
    assert_eq!(
        t.send(c, Side::Client, &[2; 10]),
        0,
        "the unread bytes fill the buffer"
    );
    let now = t.now();
    t.w.net.set_reading(now, c, Side::Server, true, &mut t.e);
    t.settle();
    let (bytes, times) = t.received(B);
    assert_eq!(bytes.len(), 100);
    assert_eq!(times[0], now);
}

#[test]
fn a_shut_down_node_closes_with_a_fin_after_its_written_bytes() {
    let mut t = T::new(lan(1));
    let c = t.connected();
    t.send(c, Side::Server, b"last words");
    let now = t.now();
    let mut outs = Vec::new();
    t.w.net.shutdown(now, B, &mut t.e, &mut outs);
    assert!(
        outs.is_empty(),
        "an established connection is closed, not reset"
    );
    t.settle();
    assert_eq!(t.received(A).0, b"last words");
    assert!(
        matches!(
            t.outputs().last(),
            Some(NetOutput::Data {
                node: A,
                eof: true,
                ..
            })
        ),
        "the peer reads end-of-stream: {:?}",
        t.outputs()
    );
    // Whatever the peer still writes reaches no one; its close frees the slot.
    t.send(c, Side::Client, b"anyone there?");
    t.settle();
    assert!(t.received(B).0.is_empty());
    t.w.net.close(t.now(), c, Side::Client, &mut t.e);
    assert_eq!(t.w.net.conn_count(), 0);
}

#[test]
fn connecting_to_a_shut_down_node_is_refused_after_one_round_trip() {
    let mut t = T::new(lan(1));
    let mut outs = Vec::new();
    t.w.net.shutdown(SimTime::ZERO, B, &mut t.e, &mut outs);
    let c = t.w.net.connect(SimTime::ZERO, A, B, &mut t.e);
    t.settle();
    assert_eq!(
        t.w.log,
        vec![(
            SimTime::from_millis(2),
            NetOutput::ConnectRefused { node: A, conn: c },
            vec![]
        )]
    );
    assert_eq!(t.w.net.conn_count(), 0);
}

#[test]
fn a_shut_down_node_behind_a_partition_is_not_refused_but_times_out() {
    let mut t = T::new(lan(1));
    let mut outs = Vec::new();
    t.w.net.shutdown(SimTime::ZERO, B, &mut t.e, &mut outs);
    t.w.net.block(B, A);
    let c = t.w.net.connect(SimTime::ZERO, A, B, &mut t.e);
    t.settle();
    // The reset cannot come back: the SYN is retried until the connect timeout.
    assert_eq!(
        t.w.log,
        vec![(
            SimTime::from_secs(127),
            NetOutput::ConnectFailed { node: A, conn: c },
            vec![]
        )]
    );
}

#[test]
fn a_restarted_node_accepts_again_after_a_shutdown() {
    let mut t = T::new(lan(1));
    let mut outs = Vec::new();
    t.w.net.shutdown(SimTime::ZERO, B, &mut t.e, &mut outs);
    t.w.net.restart(SimTime::ZERO, B, &mut t.e);
    let c = t.w.net.connect(SimTime::ZERO, A, B, &mut t.e);
    t.settle();
    assert_eq!(t.established_at(c), Some(SimTime::from_millis(2)));
}

#[test]
fn a_shutdown_during_a_handshake_tells_the_connector_and_refuses_a_syn_in_flight() {
    let mut t = T::new(lan(1));
    // One connect whose SYN has reached B (accepted, SYN-ACK on its way), one still in flight.
    let accepted = t.w.net.connect(SimTime::ZERO, A, B, &mut t.e);
    t.run_until(SimTime::from_micros(1500));
    let in_flight = t.w.net.connect(t.now(), A, B, &mut t.e);
    t.w.log.clear();
    let mut outs = Vec::new();
    t.w.net.shutdown(t.now(), B, &mut t.e, &mut outs);
    assert_eq!(
        outs,
        vec![NetOutput::ConnectFailed {
            node: A,
            conn: accepted
        }]
    );
    t.settle();
    assert_eq!(
        t.w.log,
        vec![(
            SimTime::from_micros(3500),
            NetOutput::ConnectRefused {
                node: A,
                conn: in_flight
            },
            vec![]
        )]
    );
}
