//! The virtual network: TCP-like connections between nodes.
//!
//! The network decides whether and when bytes arrive. It never changes a node and never looks
//! inside a payload. It owns:
//! - connections, each a pair of ordered byte streams (one per direction);
//! - per ordered pair of nodes: link parameters (latency, jitter, bandwidth, loss, socket buffer),
//!   the time the wire is next free, and whether a partition blocks that direction;
//! - node liveness as the network sees it: up, crashed, or paused.
//!
//! It schedules its own timers through [`NetScheduler`] and reports what nodes must learn as
//! [`NetOutput`]s. The engine maps both onto its own event queue and onto nodes.
//!
//! Model, per direction of a connection:
//! - A write is accepted up to the socket buffer (`send_buffer_bytes`): bytes accepted and not yet
//!   read by the peer. The writer is told how much was accepted and keeps the rest; when space
//!   frees it receives a writable notification.
//! - Accepted bytes serialise onto the wire of their node pair at the link's bandwidth (shared by
//!   every connection of that pair and direction), then travel for latency plus a jitter sample.
//! - A lost segment costs a retransmission timeout (`rto`). Arrival times never go backwards, so
//!   loss and jitter delay later bytes rather than reorder them, as TCP does for the application.
//! - At most one delivery timer is pending per direction. It delivers every byte that has arrived
//!   by its time and re-arms itself for the next byte still in flight.
//! - Bytes whose arrival falls while the direction is partitioned, or while the receiver is
//!   paused or crashed, are held. A heal (or resume) re-times them from that instant, in order,
//!   serialised again. Nothing is lost unless an end closes or resets the connection first.
//! - Connecting sends a SYN; if the target is unreachable the SYN is retried on Linux's backoff
//!   (1, 3, 7, 15, 31, 63 s after the attempt) until `connect_timeout`, when the attempt fails.
//! - A crashed node's connections go silent: no FIN, nothing more from it, nothing read by it.
//!   When it restarts, a peer still sending to the old connection receives a reset.
//! - A node that shut down (its process exited) closed every connection with a FIN after the
//!   bytes it had written, as the kernel does for an exiting process; its host stays up with
//!   nothing listening, so a SYN to it is answered with a reset and the connect fails one round
//!   trip later (`Connection refused`) instead of retrying until the connect timeout.
//!
//! Simplifications, stated so they are not mistaken for Redis behaviour: acknowledgements are
//! instant (buffer space frees when bytes are delivered, not a latency later); retransmission after
//! a heal starts at once instead of at the next backed-off RTO; bytes already on the wire when a
//! partition starts are held with the rest.

use std::collections::{BTreeMap, VecDeque};

use crate::seed::SeedStream;
use crate::time::{SimDuration, SimTime};

mod tests;

/// A node as the network knows it: an index into the network's node table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A connection handle. Slots are reused, so a handle carries the slot's generation and a stale
/// handle (to a closed connection) is recognised rather than confused with its successor.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId {
    idx: u32,
    gen: u32,
}

impl ConnId {
    /// A stable number for traces and logs: generation and slot.
    pub fn as_u64(self) -> u64 {
        (u64::from(self.gen) << 32) | u64::from(self.idx)
    }
}

/// The two ends of a connection: the side that connected and the side that accepted.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Client = 0,
    Server = 1,
}

impl Side {
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
    fn idx(self) -> usize {
        self as usize
    }
}

/// Parameters of one direction of a link between two nodes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct LinkParams {
    /// One-way propagation delay.
    pub latency: SimDuration,
    /// Upper bound of a uniform extra delay added to each write, `0..=jitter`.
    pub jitter: SimDuration,
    /// Serialisation rate in bits per second; 0 means unlimited.
    pub bandwidth_bps: u64,
    /// Probability that a segment is lost, in parts per million.
    pub loss_ppm: u32,
    /// Bytes a writer may have accepted and not yet read by the peer.
    pub send_buffer_bytes: u64,
    /// Delay a lost segment costs (its retransmission timeout).
    pub rto: SimDuration,
}

impl Default for LinkParams {
    /// A data-centre LAN: 250 µs one way, no jitter, 1 Gbit/s, no loss, a 4 MiB socket buffer
    /// (Linux's `tcp_wmem` maximum), and Linux's minimum RTO of 200 ms.
    fn default() -> Self {
        LinkParams {
            latency: SimDuration::from_micros(250),
            jitter: SimDuration::ZERO,
            bandwidth_bps: 1_000_000_000,
            loss_ppm: 0,
            send_buffer_bytes: 4 << 20,
            rto: SimDuration::from_millis(200),
        }
    }
}

/// Bytes of payload per TCP segment, for loss accounting (1500-byte MTU less headers).
const SEGMENT_BYTES: u64 = 1448;

/// Linux's SYN retransmission schedule: retries 1, 3, 7, 15, 31 and 63 s after the first SYN.
const SYN_RETRY_SECS: [u64; 6] = [1, 3, 7, 15, 31, 63];

/// The index of the first SYN retry still ahead of `now` for an attempt begun at `started`.
fn next_syn_retry(started: SimTime, now: SimTime) -> u8 {
    let elapsed = now.since(started).as_secs();
    SYN_RETRY_SECS
        .iter()
        .position(|&s| s > elapsed)
        .unwrap_or(SYN_RETRY_SECS.len()) as u8
}

/// Timers the network asks the engine to fire back at it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NetTimer {
    /// The SYN reaches the listener.
    Syn(ConnId),
    /// The SYN-ACK reaches the connector.
    SynAck(ConnId),
    /// Retry the SYN; the number is the retry index into the backoff schedule.
    SynRetry(ConnId, u8),
    /// Give up connecting.
    ConnectTimeout(ConnId),
    /// Deliver what has arrived in the direction written by `Side`.
    Deliver(ConnId, Side),
    /// A reset reaches `Side` (a peer restarted under a connection).
    Rst(ConnId, Side),
    /// The reset a host with nothing listening answered a SYN with reaches the connector.
    Refused(ConnId),
}

/// Where the network's timers go. The engine implements this over its event queue.
pub trait NetScheduler {
    fn schedule(&mut self, at: SimTime, timer: NetTimer);
}

/// What a node must be told.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NetOutput {
    /// A new connection reached `node`, which listens; it is the `Server` side.
    Accept { node: NodeId, conn: ConnId },
    /// `node`'s connect attempt completed; it is the `Client` side.
    Established { node: NodeId, conn: ConnId },
    /// `node`'s connect attempt timed out.
    ConnectFailed { node: NodeId, conn: ConnId },
    /// `node`'s connect attempt was refused: the target's host is up and nothing listens.
    ConnectRefused { node: NodeId, conn: ConnId },
    /// Bytes arrived at `node` on its `side`; they are in [`Network::delivered`]. `eof` means the
    /// peer's end-of-stream follows the bytes.
    Data {
        node: NodeId,
        conn: ConnId,
        side: Side,
        eof: bool,
    },
    /// `node`'s `side` of `conn` has socket buffer space again after a short write.
    Writable {
        node: NodeId,
        conn: ConnId,
        side: Side,
    },
    /// `conn` was reset under `node`'s `side`. The connection is gone.
    Reset {
        node: NodeId,
        conn: ConnId,
        side: Side,
    },
}

/// A run of delivered payload: real bytes, or an opaque run of bytes that are never
/// materialised (the synthetic bulk part of an RDB).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// `len` bytes, the next ones in [`Delivered::bytes`].
    Bytes(usize),
    /// `len` bytes that exist only as a count.
    Opaque(u64),
}

/// The payload of the last `Data` output, in order.
#[derive(Clone, Debug, Default)]
pub struct Delivered {
    pub bytes: Vec<u8>,
    pub segments: Vec<Segment>,
}

impl Delivered {
    /// Total bytes, real and opaque.
    pub fn len(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Bytes(n) => *n as u64,
                Segment::Opaque(n) => *n,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ChunkKind {
    Bytes,
    Opaque,
    Fin,
}

#[derive(Copy, Clone, Debug)]
struct Chunk {
    arrival: SimTime,
    len: u64,
    kind: ChunkKind,
}

/// A FIFO of chunks whose first element lives inline. Most directions have at most one chunk in
/// flight, and then a delivery never touches a second allocation (a cache miss per event
/// otherwise, measured by `replsim bench`).
#[derive(Debug, Default)]
struct Chunks {
    head: Option<Chunk>,
    /// Boxed: it is rarely used, and inline it would add 48 bytes to every connection slot.
    #[expect(
        clippy::box_collection,
        reason = "the box keeps the rarely used deque's header out of the hot slot"
    )]
    rest: Option<Box<VecDeque<Chunk>>>,
}

impl Chunks {
    #[inline]
    fn front(&self) -> Option<&Chunk> {
        self.head.as_ref()
    }

    #[inline]
    fn pop_front(&mut self) -> Option<Chunk> {
        let head = self.head.take();
        self.head = self.rest.as_mut().and_then(|r| r.pop_front());
        head
    }

    #[inline]
    fn back_mut(&mut self) -> Option<&mut Chunk> {
        match &mut self.rest {
            Some(r) if !r.is_empty() => r.back_mut(),
            _ => self.head.as_mut(),
        }
    }

    #[inline]
    fn push_back(&mut self, c: Chunk) {
        if self.head.is_none() {
            self.head = Some(c);
        } else {
            self.rest.get_or_insert_with(Box::default).push_back(c);
        }
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Chunk> {
        self.head
            .iter_mut()
            .chain(self.rest.iter_mut().flat_map(|r| r.iter_mut()))
    }

    fn clear(&mut self) {
        self.head = None;
        if let Some(r) = &mut self.rest {
            r.clear();
        }
    }
}

/// The bytes of one direction, in order: a `Vec` read from an offset. When every byte has been
/// read the buffer rewinds to the start, so in the usual case (the reader takes everything that
/// arrived) no byte is ever moved; otherwise the read part is dropped once it is the larger half.
#[derive(Debug, Default)]
struct Bytes {
    buf: Vec<u8>,
    read: usize,
}

impl Bytes {
    #[inline]
    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Appends the next `len` bytes to `out` and consumes them.
    #[inline]
    fn take_into(&mut self, len: usize, out: &mut Vec<u8>) {
        let end = self.read + len;
        out.extend_from_slice(&self.buf[self.read..end]);
        self.read = end;
        if self.read == self.buf.len() {
            self.buf.clear();
            self.read = 0;
        } else if self.read > self.buf.len() / 2 {
            self.buf.drain(..self.read);
            self.read = 0;
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.read = 0;
    }
}

/// One direction of a connection.
#[derive(Debug, Default)]
struct Dir {
    chunks: Chunks,
    /// The bytes of every `Bytes` chunk, concatenated in order.
    data: Bytes,
    /// Bytes accepted from the writer and not yet delivered (real and opaque).
    buffered: u64,
    last_arrival: SimTime,
    /// A `Deliver` timer is scheduled for this direction.
    timer_pending: bool,
    /// Delivery is held by a partition, a paused or a crashed receiver.
    held: bool,
    /// The writer was refused space and wants to know when there is some.
    want_writable: bool,
    /// The writer closed; nothing more may be written.
    fin_sent: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ConnState {
    /// The SYN has not reached the listener.
    Connecting,
    /// The listener has the connection (and may write); the connector waits for the SYN-ACK.
    Accepted,
    /// Both ends have the connection.
    Established,
}

#[derive(Copy, Clone, Debug)]
struct End {
    node: NodeId,
    /// The node's incarnation when this end was created. A crash bumps the node's incarnation,
    /// so an end from an older one is dead.
    incarnation: u32,
    /// The application has not closed this end.
    open: bool,
    /// The application reads this end; when it stops, arriving bytes wait in its kernel buffer.
    reading: bool,
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    started: SimTime,
    ends: [End; 2],
    /// `pairs[s]`: the index in [`Network::pairs`] of the node pair side `s` writes over, so a
    /// write or a delivery finds it without a lookup.
    pairs: [u32; 2],
    /// `dirs[s]` carries bytes written by side `s`.
    dirs: [Dir; 2],
}

#[derive(Copy, Clone, Debug)]
struct NodeNet {
    up: bool,
    paused: bool,
    /// The node's process exited cleanly and its host is up: a SYN to it is refused.
    refusing: bool,
    incarnation: u32,
}

/// The per-event state of one ordered pair of nodes, kept to 16 bytes: every delivery touches
/// one and every write another. Only pairs that have had a connection, a partition or link
/// parameters of their own exist (a network of n nodes could have n², 1.6 GB at 10,000 nodes);
/// every other pair is [`Pair::DEFAULT`].
#[derive(Copy, Clone, Debug)]
struct Pair {
    wire_free_at: SimTime,
    /// Partitions blocking this direction; several may overlap.
    blocks: u32,
    /// Index into `Network::params`: link parameters are interned, since most links share them.
    params: u32,
}

impl Pair {
    /// A pair that has never been used: wire free, no partition, the default link.
    const DEFAULT: Pair = Pair {
        wire_free_at: SimTime::ZERO,
        blocks: 0,
        params: 0,
    };
}

/// A connection slot. Slots are reused; the generation tells a handle's connection from a later
/// one in the same slot.
///
/// Aligned to cache lines and kept to four of them: every delivery and every write touches a
/// slot, in no particular order, so each line a slot spans is a likely cache miss (measured by
/// `replsim bench`: from 272 unaligned bytes to 256 aligned ones was worth about 15%).
#[derive(Debug)]
#[repr(align(64))]
struct Slot {
    gen: u32,
    conn: Option<Conn>,
}

const _: () = assert!(
    std::mem::size_of::<Slot>() == 256,
    "a connection slot should stay four cache lines"
);

/// The virtual network.
pub struct Network {
    nodes: Vec<NodeNet>,
    /// The pairs that exist, in the order they came to; `pair_ids` finds them.
    pairs: Vec<Pair>,
    /// `(from, to)` → index in `pairs`. Looked up when a connection opens and by partitions and
    /// link changes, never per byte: connections keep their pairs' indices.
    pair_ids: BTreeMap<(u32, u32), u32>,
    params: Vec<LinkParams>,
    /// `femtos_per_byte` of each entry of `params`, so timing a write needs no division.
    femtos: Vec<Option<u64>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    rng: SeedStream,
    connect_timeout: SimDuration,
    delivered: Delivered,
}

impl Network {
    /// A network of `node_count` nodes, all up, every link with `defaults`.
    pub fn new(node_count: usize, defaults: LinkParams, rng: SeedStream) -> Network {
        Network {
            nodes: vec![
                NodeNet {
                    up: true,
                    paused: false,
                    refusing: false,
                    incarnation: 0
                };
                node_count
            ],
            pairs: Vec::new(),
            pair_ids: BTreeMap::new(),
            params: vec![defaults],
            femtos: vec![crate::time::femtos_per_byte(defaults.bandwidth_bps)],
            slots: Vec::new(),
            free: Vec::new(),
            rng,
            // Linux's default: tcp_syn_retries = 6 gives up 127 s after the first SYN.
            connect_timeout: SimDuration::from_secs(127),
            delivered: Delivered::default(),
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn set_connect_timeout(&mut self, d: SimDuration) {
        self.connect_timeout = d;
    }

    /// Sets the parameters of one direction, `from` to `to`. Applies to bytes written from now on.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, params: LinkParams) {
        let idx = match self.params.iter().position(|p| *p == params) {
            Some(i) => i,
            None => {
                self.params.push(params);
                self.femtos
                    .push(crate::time::femtos_per_byte(params.bandwidth_bps));
                self.params.len() - 1
            }
        };
        self.pair_mut(from, to).params = idx as u32;
    }

    pub fn link(&self, from: NodeId, to: NodeId) -> LinkParams {
        *self.link_ref(from, to)
    }

    fn link_ref(&self, from: NodeId, to: NodeId) -> &LinkParams {
        &self.params[self.pair(from, to).params as usize]
    }

    fn pair(&self, from: NodeId, to: NodeId) -> &Pair {
        match self.pair_ids.get(&(from.0, to.0)) {
            Some(&id) => &self.pairs[id as usize],
            None => &Pair::DEFAULT,
        }
    }

    /// The index of the pair `from` → `to`, which comes to exist if it did not.
    fn pair_id(&mut self, from: NodeId, to: NodeId) -> u32 {
        assert!(
            from.index() < self.nodes.len() && to.index() < self.nodes.len(),
            "a pair of nodes the network does not have: {from:?} -> {to:?}"
        );
        let next = u32::try_from(self.pairs.len()).expect("fewer than 2^32 node pairs in use");
        let id = *self.pair_ids.entry((from.0, to.0)).or_insert(next);
        if id == next {
            self.pairs.push(Pair::DEFAULT);
        }
        id
    }

    fn pair_mut(&mut self, from: NodeId, to: NodeId) -> &mut Pair {
        let id = self.pair_id(from, to);
        &mut self.pairs[id as usize]
    }

    fn blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.pair(from, to).blocks > 0
    }

    /// Whether a packet from `from` can reach `to` now.
    fn reachable(&self, from: NodeId, to: NodeId) -> bool {
        let (f, t) = (&self.nodes[from.index()], &self.nodes[to.index()]);
        f.up && t.up && !self.blocked(from, to)
    }

    /// A SYN from `from` gets through to `to`'s host, where nothing listens.
    fn refuses(&self, from: NodeId, to: NodeId) -> bool {
        let (f, t) = (&self.nodes[from.index()], &self.nodes[to.index()]);
        f.up && t.refusing && !self.blocked(from, to)
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        match self.slots.get(id.idx as usize) {
            Some(Slot { gen, conn: Some(c) }) if *gen == id.gen => Some(c),
            _ => None,
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        conn_in(&mut self.slots, id)
    }

    /// The handle of the connection in slot `i`, if any.
    fn slot_id(&self, i: usize) -> Option<ConnId> {
        let slot = &self.slots[i];
        slot.conn.as_ref().map(|_| ConnId {
            idx: i as u32,
            gen: slot.gen,
        })
    }

    /// Whether `conn` still exists (neither fully closed nor reset).
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.conn(conn).is_some()
    }

    /// The number of live connection slots (for tests and statistics).
    pub fn conn_count(&self) -> usize {
        self.slots.iter().filter(|s| s.conn.is_some()).count()
    }

    /// Bytes accepted on `side` of `conn` and not yet read by the peer.
    pub fn buffered(&self, conn: ConnId, side: Side) -> u64 {
        self.conn(conn).map_or(0, |c| c.dirs[side.idx()].buffered)
    }

    /// The payload of the most recent `Data` output.
    pub fn delivered(&self) -> &Delivered {
        &self.delivered
    }

    fn alloc(&mut self, conn: Conn) -> ConnId {
        if let Some(idx) = self.free.pop() {
            let slot = &mut self.slots[idx as usize];
            slot.conn = Some(conn);
            ConnId { idx, gen: slot.gen }
        } else {
            let idx = u32::try_from(self.slots.len()).expect("more than 2^32 connection slots");
            self.slots.push(Slot {
                gen: 0,
                conn: Some(conn),
            });
            ConnId { idx, gen: 0 }
        }
    }

    fn release(&mut self, id: ConnId) {
        let slot = &mut self.slots[id.idx as usize];
        assert!(
            slot.gen == id.gen && slot.conn.is_some(),
            "double release of {id:?}"
        );
        slot.conn = None;
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(id.idx);
    }

    /// Starts a connection from `from` to `to`. The outcome arrives later as `Established` (and
    /// `Accept` at the listener) or as `ConnectFailed`.
    pub fn connect(
        &mut self,
        now: SimTime,
        from: NodeId,
        to: NodeId,
        sched: &mut impl NetScheduler,
    ) -> ConnId {
        let conn = self.new_conn(now, from, to, ConnState::Connecting);
        let id = self.alloc(conn);
        self.send_syn(now, id, 0, sched);
        id
    }

    /// A connection from `from` to `to` that is already established, as if its handshake had
    /// completed before the run began: nodes that start linked (a warm replica and its master)
    /// share one. No timer is armed and no output is produced; both ends may write at once.
    pub fn connect_established(&mut self, now: SimTime, from: NodeId, to: NodeId) -> ConnId {
        let conn = self.new_conn(now, from, to, ConnState::Established);
        self.alloc(conn)
    }

    /// A connection from `from` to `to` in `state`, both ends open and reading, at the nodes'
    /// current incarnations.
    fn new_conn(&mut self, now: SimTime, from: NodeId, to: NodeId, state: ConnState) -> Conn {
        let pairs = [self.pair_id(from, to), self.pair_id(to, from)];
        let end = |n: NodeId| End {
            node: n,
            incarnation: self.nodes[n.index()].incarnation,
            open: true,
            reading: true,
        };
        Conn {
            state,
            started: now,
            ends: [end(from), end(to)],
            pairs,
            dirs: [Dir::default(), Dir::default()],
        }
    }

    /// Sends the SYN if the target is reachable now, else arms retry number `retry`.
    fn send_syn(&mut self, now: SimTime, id: ConnId, retry: u8, sched: &mut impl NetScheduler) {
        let Some(c) = self.conn(id) else { return };
        let (from, to, started) = (c.ends[0].node, c.ends[1].node, c.started);
        if self.reachable(from, to) || self.refuses(from, to) {
            sched.schedule(now + self.link_ref(from, to).latency, NetTimer::Syn(id));
        } else {
            self.arm_syn_retry(id, started, retry, sched);
        }
    }

    /// Arms SYN retry number `retry`, or the final timeout once the schedule is used up. The
    /// timeout is only ever armed here, on a failed SYN, so a connection that establishes at once
    /// leaves no timer behind in the queue.
    fn arm_syn_retry(
        &mut self,
        id: ConnId,
        started: SimTime,
        retry: u8,
        sched: &mut impl NetScheduler,
    ) {
        let deadline = started + self.connect_timeout;
        match SYN_RETRY_SECS.get(usize::from(retry)) {
            Some(&secs) if started + SimDuration::from_secs(secs) < deadline => {
                sched.schedule(
                    started + SimDuration::from_secs(secs),
                    NetTimer::SynRetry(id, retry + 1),
                );
            }
            _ => sched.schedule(deadline, NetTimer::ConnectTimeout(id)),
        }
    }

    /// Writes `data` on `side` of `conn`. Returns how many bytes the socket buffer accepted; the
    /// writer keeps the rest and gets `Writable` when space frees. Writing to a connection that is
    /// gone, or on an end already closed, accepts nothing.
    #[inline(always)]
    pub fn send(
        &mut self,
        now: SimTime,
        conn: ConnId,
        side: Side,
        data: &[u8],
        sched: &mut impl NetScheduler,
    ) -> usize {
        let n = self.admit(now, conn, side, data.len() as u64, ChunkKind::Bytes, sched);
        if n > 0 {
            let c = self
                .conn_mut(conn)
                .expect("admit accepted bytes on a live connection");
            c.dirs[side.idx()].data.push(&data[..n as usize]);
        }
        n as usize
    }

    /// Writes `len` opaque bytes: bytes that count for buffers, bandwidth and timing but are
    /// never materialised. Returns how many were accepted.
    pub fn send_opaque(
        &mut self,
        now: SimTime,
        conn: ConnId,
        side: Side,
        len: u64,
        sched: &mut impl NetScheduler,
    ) -> u64 {
        self.admit(now, conn, side, len, ChunkKind::Opaque, sched)
    }

    /// Closes `side` of `conn`: the peer sees end-of-stream after the bytes already written.
    /// Bytes that arrive for a closed end are discarded.
    pub fn close(&mut self, now: SimTime, conn: ConnId, side: Side, sched: &mut impl NetScheduler) {
        let Some(c) = self.conn(conn) else { return };
        if !c.ends[side.idx()].open {
            return;
        }
        if c.state == ConnState::Connecting {
            // The listener never saw this attempt, so nobody needs telling.
            self.release(conn);
            return;
        }
        let latency = self
            .link_ref(c.ends[side.idx()].node, c.ends[side.peer().idx()].node)
            .latency;
        let c = self.conn_mut(conn).expect("checked above");
        c.ends[side.idx()].open = false;
        let dir = &mut c.dirs[side.idx()];
        dir.want_writable = false;
        if !dir.fin_sent {
            dir.fin_sent = true;
            let arrival = dir.last_arrival.max(now + latency);
            dir.last_arrival = arrival;
            dir.chunks.push_back(Chunk {
                arrival,
                len: 0,
                kind: ChunkKind::Fin,
            });
            if !dir.timer_pending && !dir.held {
                dir.timer_pending = true;
                sched.schedule(arrival, NetTimer::Deliver(conn, side));
            }
        }
        self.maybe_release(conn);
    }

    /// Frees the slot once neither end can hear anything more.
    fn maybe_release(&mut self, id: ConnId) {
        let gone = |nodes: &[NodeNet], e: &End| {
            !e.open || nodes[e.node.index()].incarnation != e.incarnation
        };
        if let Some(c) = self.conn(id) {
            if gone(&self.nodes, &c.ends[0]) && gone(&self.nodes, &c.ends[1]) {
                self.release(id);
            }
        }
    }

    #[inline(always)]
    fn admit(
        &mut self,
        now: SimTime,
        id: ConnId,
        side: Side,
        len: u64,
        kind: ChunkKind,
        sched: &mut impl NetScheduler,
    ) -> u64 {
        // One slot lookup, and the other tables borrowed field by field: this runs on every write.
        let Some(c) = conn_in(&mut self.slots, id) else {
            return 0;
        };
        let can_write = match c.state {
            ConnState::Connecting => false,
            ConnState::Accepted => side == Side::Server,
            ConnState::Established => true,
        };
        let (me, peer) = (c.ends[side.idx()], c.ends[side.peer().idx()]);
        let dir = &mut c.dirs[side.idx()];
        if !can_write || !me.open || dir.fin_sent {
            return 0;
        }
        let peer_state = self.nodes[peer.node.index()];
        let peer_restarted = peer_state.up && peer_state.incarnation != peer.incarnation;
        let pair = &mut self.pairs[c.pairs[side.idx()] as usize];
        let params = &self.params[pair.params as usize];
        let femtos = self.femtos[pair.params as usize];
        let space = params.send_buffer_bytes.saturating_sub(dir.buffered);
        let n = len.min(space);
        if n < len {
            dir.want_writable = true;
        }
        if n == 0 {
            return 0;
        }
        // Serialise on the pair's wire, then propagate.
        let start = now.max(pair.wire_free_at);
        pair.wire_free_at = start + SimDuration::transmit_at(n, params.bandwidth_bps, femtos);
        let mut arrival = pair.wire_free_at + params.latency;
        if !params.jitter.is_zero() {
            arrival += SimDuration::from_nanos(self.rng.below(params.jitter.as_nanos() + 1));
        }
        if params.loss_ppm > 0 {
            let segments = n.div_ceil(SEGMENT_BYTES);
            let num = u64::from(params.loss_ppm).saturating_mul(segments);
            if self.rng.chance(num, 1_000_000) {
                arrival += params.rto;
            }
        }
        arrival = arrival.max(dir.last_arrival);
        dir.last_arrival = arrival;
        dir.buffered += n;
        match dir.chunks.back_mut() {
            // Bytes arriving together need only one chunk.
            Some(last) if last.kind == kind && last.arrival == arrival => last.len += n,
            _ => dir.chunks.push_back(Chunk {
                arrival,
                len: n,
                kind,
            }),
        }
        if !dir.timer_pending && !dir.held {
            dir.timer_pending = true;
            sched.schedule(arrival, NetTimer::Deliver(id, side));
        }
        if peer_restarted {
            // The peer's host answers the old connection's segments with a reset.
            sched.schedule(now + params.latency * 2, NetTimer::Rst(id, side));
        }
        n
    }

    /// Handles a timer the network scheduled, appending what nodes must learn to `out`.
    #[inline(always)]
    pub fn handle(
        &mut self,
        now: SimTime,
        timer: NetTimer,
        sched: &mut impl NetScheduler,
        out: &mut Vec<NetOutput>,
    ) {
        match timer {
            NetTimer::Syn(id) => self.on_syn(now, id, sched, out),
            NetTimer::SynAck(id) => {
                let Some(c) = self.conn(id) else { return };
                if c.state != ConnState::Accepted {
                    return;
                }
                let (from, to, started) = (c.ends[0].node, c.ends[1].node, c.started);
                if !self.reachable(to, from) {
                    // The SYN-ACK was lost; the connector retries its SYN on schedule and the
                    // listener's half-open connection answers it.
                    self.arm_syn_retry(id, started, next_syn_retry(started, now), sched);
                    return;
                }
                let c = self.conn_mut(id).expect("checked above");
                c.state = ConnState::Established;
                let node = c.ends[0].node;
                out.push(NetOutput::Established { node, conn: id });
            }
            NetTimer::SynRetry(id, retry) => match self
                .conn(id)
                .map(|c| (c.state, c.ends[0].node, c.ends[1].node, c.started))
            {
                Some((ConnState::Connecting, ..)) => self.send_syn(now, id, retry, sched),
                Some((ConnState::Accepted, from, to, started)) => {
                    // The listener already has the connection; a retried SYN that gets through
                    // is answered with a fresh SYN-ACK.
                    if self.reachable(from, to) && self.reachable(to, from) {
                        sched.schedule(
                            now + self.link_ref(from, to).latency + self.link_ref(to, from).latency,
                            NetTimer::SynAck(id),
                        );
                    } else {
                        self.arm_syn_retry(id, started, retry, sched);
                    }
                }
                _ => {}
            },
            NetTimer::ConnectTimeout(id) => {
                let Some(c) = self.conn(id) else { return };
                if c.state != ConnState::Established {
                    // An accepted attempt whose SYN-ACK never came back also times out; the
                    // listener's half is reset.
                    let (client, server, state) = (c.ends[0], c.ends[1], c.state);
                    let client_alive = client.open && self.end_alive(&client);
                    let server_alive = server.open && self.end_alive(&server);
                    self.release(id);
                    if client_alive {
                        out.push(NetOutput::ConnectFailed {
                            node: client.node,
                            conn: id,
                        });
                    }
                    if state == ConnState::Accepted && server_alive {
                        out.push(NetOutput::Reset {
                            node: server.node,
                            conn: id,
                            side: Side::Server,
                        });
                    }
                }
            }
            NetTimer::Deliver(id, side) => self.on_deliver(now, id, side, sched, out),
            NetTimer::Refused(id) => {
                let Some(c) = self.conn(id) else { return };
                if c.state != ConnState::Connecting {
                    return;
                }
                let client = c.ends[0];
                self.release(id);
                if client.open && self.end_alive(&client) {
                    out.push(NetOutput::ConnectRefused {
                        node: client.node,
                        conn: id,
                    });
                }
            }
            NetTimer::Rst(id, side) => {
                let Some(c) = self.conn(id) else { return };
                let end = c.ends[side.idx()];
                self.release(id);
                if end.open && self.end_alive(&end) {
                    out.push(NetOutput::Reset {
                        node: end.node,
                        conn: id,
                        side,
                    });
                }
            }
        }
    }

    fn end_alive(&self, e: &End) -> bool {
        let n = &self.nodes[e.node.index()];
        n.up && n.incarnation == e.incarnation
    }

    fn on_syn(
        &mut self,
        now: SimTime,
        id: ConnId,
        sched: &mut impl NetScheduler,
        out: &mut Vec<NetOutput>,
    ) {
        let Some(c) = self.conn(id) else { return };
        if c.state != ConnState::Connecting {
            return;
        }
        let (from, to) = (c.ends[0].node, c.ends[1].node);
        if self.refuses(from, to) && !self.blocked(to, from) {
            // The target's kernel answers with a reset, which travels back like a SYN-ACK.
            let latency = self.link_ref(to, from).latency;
            sched.schedule(now + latency, NetTimer::Refused(id));
            return;
        }
        if !self.reachable(from, to) || !self.reachable(to, from) {
            // Lost on the way, or no answer can come back: the SYN is retried on schedule.
            let started = c.started;
            self.arm_syn_retry(id, started, next_syn_retry(started, now), sched);
            return;
        }
        // The listener's kernel completes the handshake even if its process is paused; the engine
        // holds the accept for a paused node until it resumes.
        let incarnation = self.nodes[to.index()].incarnation;
        let c = self.conn_mut(id).expect("checked above");
        c.ends[1].incarnation = incarnation;
        c.state = ConnState::Accepted;
        out.push(NetOutput::Accept { node: to, conn: id });
        let latency = self.link_ref(to, from).latency;
        sched.schedule(now + latency, NetTimer::SynAck(id));
    }

    #[inline(always)]
    fn on_deliver(
        &mut self,
        now: SimTime,
        id: ConnId,
        side: Side,
        sched: &mut impl NetScheduler,
        out: &mut Vec<NetOutput>,
    ) {
        // One slot lookup, and the other tables borrowed field by field: this runs on every
        // delivery.
        let Some(c) = conn_in(&mut self.slots, id) else {
            return;
        };
        let (writer, reader) = (c.ends[side.idx()], c.ends[side.peer().idx()]);
        let reader_state = self.nodes[reader.node.index()];
        let reader_dead = !reader_state.up || reader_state.incarnation != reader.incarnation;
        let pair = &self.pairs[c.pairs[side.idx()] as usize];
        let dir = &mut c.dirs[side.idx()];
        dir.timer_pending = false;
        if reader_dead || reader_state.paused || !reader.reading || pair.blocks > 0 {
            dir.held = true;
            return;
        }
        let delivered = &mut self.delivered;
        delivered.bytes.clear();
        delivered.segments.clear();
        let mut eof = false;
        while let Some(chunk) = dir.chunks.front().copied() {
            if chunk.arrival > now {
                break;
            }
            dir.chunks.pop_front();
            dir.buffered -= chunk.len;
            match chunk.kind {
                ChunkKind::Bytes => {
                    let len = chunk.len as usize;
                    dir.data.take_into(len, &mut delivered.bytes);
                    match delivered.segments.last_mut() {
                        Some(Segment::Bytes(n)) => *n += len,
                        _ => delivered.segments.push(Segment::Bytes(len)),
                    }
                }
                ChunkKind::Opaque => match delivered.segments.last_mut() {
                    Some(Segment::Opaque(n)) => *n += chunk.len,
                    _ => delivered.segments.push(Segment::Opaque(chunk.len)),
                },
                ChunkKind::Fin => eof = true,
            }
        }
        if let Some(next) = dir.chunks.front() {
            dir.timer_pending = true;
            sched.schedule(next.arrival, NetTimer::Deliver(id, side));
        }
        let writable =
            dir.want_writable && dir.buffered < self.params[pair.params as usize].send_buffer_bytes;
        if writable {
            dir.want_writable = false;
        }
        if reader.open && (!delivered.segments.is_empty() || eof) {
            out.push(NetOutput::Data {
                node: reader.node,
                conn: id,
                side: side.peer(),
                eof,
            });
        }
        if writable && writer.open && self.end_alive(&writer) {
            out.push(NetOutput::Writable {
                node: writer.node,
                conn: id,
                side,
            });
        }
        if eof {
            // The writer's FIN has been read; if the reader closed too, nothing remains.
            self.maybe_release(id);
        }
    }

    /// Resets `conn`: both live ends are told at once and all buffered bytes are discarded.
    pub fn reset(&mut self, conn: ConnId, out: &mut Vec<NetOutput>) {
        let Some(c) = self.conn(conn) else { return };
        let ends = c.ends;
        let state = c.state;
        self.release(conn);
        for side in [Side::Client, Side::Server] {
            let e = ends[side.idx()];
            // A connecting side learns of the reset as a failed attempt.
            if e.open && self.end_alive(&e) {
                match (state, side) {
                    (ConnState::Established, _) | (ConnState::Accepted, Side::Server) => {
                        out.push(NetOutput::Reset {
                            node: e.node,
                            conn,
                            side,
                        })
                    }
                    (_, Side::Client) => out.push(NetOutput::ConnectFailed { node: e.node, conn }),
                    (ConnState::Connecting, Side::Server) => {}
                }
            }
        }
    }

    /// The connections with an end at `node`, in slot order.
    pub fn conns_of(&self, node: NodeId) -> Vec<ConnId> {
        (0..self.slots.len())
            .filter_map(|i| self.slot_id(i))
            .filter(|&id| {
                let c = self.conn(id).expect("listed just now");
                c.ends[0].node == node || c.ends[1].node == node
            })
            .collect()
    }

    /// The connections between `a` and `b`, either way round, in slot order.
    pub fn conns_between(&self, a: NodeId, b: NodeId) -> Vec<ConnId> {
        self.conns_of(a)
            .into_iter()
            .filter(|&id| {
                let c = self.conn(id).expect("listed just now");
                let (x, y) = (c.ends[0].node, c.ends[1].node);
                (x == a && y == b) || (x == b && y == a)
            })
            .collect()
    }

    /// Blocks the direction `from` → `to`. Partitions nest: each block needs its own unblock.
    pub fn block(&mut self, from: NodeId, to: NodeId) {
        self.pair_mut(from, to).blocks += 1;
    }

    /// Lifts one block of `from` → `to`. When none remain, held bytes are re-timed from `now`.
    pub fn unblock(
        &mut self,
        now: SimTime,
        from: NodeId,
        to: NodeId,
        sched: &mut impl NetScheduler,
    ) {
        let pair = self.pair_mut(from, to);
        assert!(
            pair.blocks > 0,
            "unblock of {from:?}->{to:?} without a block"
        );
        pair.blocks -= 1;
        if pair.blocks == 0 {
            self.release_held(now, |w, r| w == from && r == to, true, sched);
        }
    }

    pub fn is_blocked(&self, from: NodeId, to: NodeId) -> bool {
        self.blocked(from, to)
    }

    /// Re-times and re-arms every held direction whose (writer, reader) matches. With `on_wire`,
    /// the bytes cross the wire again (serialisation and latency from `now`); without, they are
    /// already in the reader's kernel and arrive at `now` (a resumed reader).
    fn release_held(
        &mut self,
        now: SimTime,
        matches: impl Fn(NodeId, NodeId) -> bool,
        on_wire: bool,
        sched: &mut impl NetScheduler,
    ) {
        self.release_held_where(now, |_, w, r| matches(w, r), on_wire, sched);
    }

    fn release_held_where(
        &mut self,
        now: SimTime,
        matches: impl Fn(ConnId, NodeId, NodeId) -> bool,
        on_wire: bool,
        sched: &mut impl NetScheduler,
    ) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let id = ConnId {
                idx: i as u32,
                gen: slot.gen,
            };
            let Some(c) = slot.conn.as_mut() else {
                continue;
            };
            for side in [Side::Client, Side::Server] {
                let (w, r) = (c.ends[side.idx()], c.ends[side.peer().idx()]);
                let dir = &mut c.dirs[side.idx()];
                if !dir.held || !matches(id, w.node, r.node) {
                    continue;
                }
                let reader = self.nodes[r.node.index()];
                if !reader.up || reader.incarnation != r.incarnation || reader.paused || !r.reading
                {
                    continue;
                }
                let pair = &mut self.pairs[c.pairs[side.idx()] as usize];
                if pair.blocks > 0 {
                    continue;
                }
                dir.held = false;
                let params = &self.params[pair.params as usize];
                let mut wire = now.max(pair.wire_free_at);
                let mut last = SimTime::ZERO;
                for chunk in dir.chunks.iter_mut() {
                    let at = if on_wire {
                        wire += SimDuration::transmit(chunk.len, params.bandwidth_bps);
                        wire + params.latency
                    } else {
                        now
                    };
                    chunk.arrival = chunk.arrival.max(at).max(last);
                    last = chunk.arrival;
                }
                if on_wire {
                    pair.wire_free_at = wire;
                }
                dir.last_arrival = dir.last_arrival.max(last);
                if let Some(first) = dir.chunks.front() {
                    dir.timer_pending = true;
                    sched.schedule(first.arrival, NetTimer::Deliver(id, side));
                }
            }
        }
    }

    /// Freezes `node` (SIGSTOP): its kernel still accepts connections and buffers bytes, but
    /// nothing is read, so writers to it fill their socket buffers.
    pub fn pause(&mut self, node: NodeId) {
        self.nodes[node.index()].paused = true;
    }

    /// Thaws `node`: bytes held for it are delivered from `now`.
    pub fn resume(&mut self, now: SimTime, node: NodeId, sched: &mut impl NetScheduler) {
        self.nodes[node.index()].paused = false;
        self.release_held(now, |_, r| r == node, false, sched);
    }

    /// Stops or resumes the application reading `side` of `conn`. While it is not reading,
    /// arriving bytes stay in its kernel buffer and count against the writer's socket buffer.
    pub fn set_reading(
        &mut self,
        now: SimTime,
        conn: ConnId,
        side: Side,
        reading: bool,
        sched: &mut impl NetScheduler,
    ) {
        let Some(c) = self.conn_mut(conn) else { return };
        c.ends[side.idx()].reading = reading;
        if reading {
            let (w, r) = (c.ends[side.peer().idx()].node, c.ends[side.idx()].node);
            let target = conn;
            self.release_held_where(
                now,
                |id, wn, rn| id == target && wn == w && rn == r,
                false,
                sched,
            );
        }
    }

    pub fn is_paused(&self, node: NodeId) -> bool {
        self.nodes[node.index()].paused
    }

    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes[node.index()].up
    }

    /// Crashes `node`: its connections go silent. Nothing more leaves it (bytes it had written
    /// and not yet delivered are lost with its memory), and nothing reaches it. Peers are not
    /// told; they find out by their own timeouts.
    pub fn crash(&mut self, node: NodeId) {
        let st = &mut self.nodes[node.index()];
        st.up = false;
        st.paused = false;
        st.incarnation += 1;
        for i in 0..self.slots.len() {
            let Some(c) = self.slots[i].conn.as_mut() else {
                continue;
            };
            for side in [Side::Client, Side::Server] {
                if c.ends[side.idx()].node == node {
                    let dir = &mut c.dirs[side.idx()];
                    dir.chunks.clear();
                    dir.data.clear();
                    dir.buffered = 0;
                    dir.want_writable = false;
                }
            }
        }
        // Slots where every end is now dead or closed can go.
        for i in 0..self.slots.len() {
            if let Some(id) = self.slot_id(i) {
                self.maybe_release(id);
            }
        }
    }

    /// Shuts `node` down as its process exiting does (`SHUTDOWN NOSAVE`): every connection it
    /// had is closed at once, a FIN after the bytes its socket buffers already hold, so peers
    /// read end-of-stream a latency from now; a handshake under way is abandoned (its peer
    /// learns as if reset), and a SYN still on its way to the node will be refused. From now on nothing reaches it, and a connect to it is refused.
    /// Outputs for the node itself are not produced: it has no process left to tell.
    pub fn shutdown(
        &mut self,
        now: SimTime,
        node: NodeId,
        sched: &mut impl NetScheduler,
        out: &mut Vec<NetOutput>,
    ) {
        let alive = self.nodes[node.index()];
        for id in self.conns_of(node) {
            let Some(c) = self.conn(id) else { continue };
            let state = c.state;
            for side in [Side::Client, Side::Server] {
                let end = c.ends[side.idx()];
                if end.node != node || !end.open || end.incarnation != alive.incarnation {
                    continue;
                }
                if state == ConnState::Established {
                    self.close(now, id, side, sched);
                } else if state == ConnState::Connecting && side == Side::Server {
                    // Its SYN is still on the way: it will find nothing listening.
                } else {
                    let mut outs = Vec::new();
                    self.reset(id, &mut outs);
                    out.extend(outs.into_iter().filter(|o| output_node(o) != node));
                }
                break;
            }
        }
        let st = &mut self.nodes[node.index()];
        st.up = false;
        st.paused = false;
        st.refusing = true;
        st.incarnation += 1;
        // Bytes on their way to it are read by nobody: slots where both ends are gone can go.
        for i in 0..self.slots.len() {
            if let Some(id) = self.slot_id(i) {
                self.maybe_release(id);
            }
        }
    }

    /// Brings a crashed or shut down `node` back with no connections. A peer still sending on a connection to
    /// the old incarnation gets a reset one round trip from now; an idle peer gets it when it
    /// next writes.
    pub fn restart(&mut self, now: SimTime, node: NodeId, sched: &mut impl NetScheduler) {
        self.nodes[node.index()].up = true;
        self.nodes[node.index()].refusing = false;
        for i in 0..self.slots.len() {
            let Some(id) = self.slot_id(i) else { continue };
            let c = self.conn(id).expect("listed just now");
            for side in [Side::Client, Side::Server] {
                let (me, peer) = (c.ends[side.idx()], c.ends[side.peer().idx()]);
                if peer.node == node && c.dirs[side.idx()].buffered > 0 && me.node != node {
                    let rtt =
                        self.link_ref(me.node, node).latency + self.link_ref(node, me.node).latency;
                    sched.schedule(now + rtt, NetTimer::Rst(id, side));
                }
            }
        }
    }
}

/// The node an output is for.
pub fn output_node(o: &NetOutput) -> NodeId {
    match *o {
        NetOutput::Accept { node, .. }
        | NetOutput::Established { node, .. }
        | NetOutput::ConnectFailed { node, .. }
        | NetOutput::ConnectRefused { node, .. }
        | NetOutput::Data { node, .. }
        | NetOutput::Writable { node, .. }
        | NetOutput::Reset { node, .. } => node,
    }
}

/// The live connection `id` in `slots`, borrowing only the slot table.
#[inline]
fn conn_in(slots: &mut [Slot], id: ConnId) -> Option<&mut Conn> {
    match slots.get_mut(id.idx as usize) {
        Some(Slot { gen, conn: Some(c) }) if *gen == id.gen => Some(c),
        _ => None,
    }
}
