//! The event queue: events ordered by `(time, seq)`.
//!
//! `seq` is a counter assigned at push time, so events scheduled for the same instant run in the
//! order they were scheduled (first in, first out). The key is packed into one `u128` so that a
//! comparison is a single integer comparison.
//!
//! The queue is a calendar of half-microsecond buckets (2^9 ns) covering the next ~2 ms, with a
//! binary heap for anything further ahead:
//! - the *current* bucket is a vector sorted by key, latest first, so the next event is popped
//!   from its end;
//! - a later bucket within the calendar is an unsorted vector; a bitmap marks which are occupied,
//!   so finding the next one skips 64 empty buckets per word;
//! - when the current bucket runs dry, the next occupied bucket (or the heap's earliest, if that
//!   comes first) becomes current and is sorted once; heap entries that now fall inside the
//!   calendar's window move into their buckets.
//!
//! Each event is filed once and sorted among the few sharing its half-microsecond, instead of being
//! sifted through the whole heap.
//!
//! A queue of a few events (a three-node scenario keeps about six pending) is better off without
//! the calendar: each push would land in a different bucket, and every bucket is a cache miss.
//! Up to `SMALL_MAX` events the queue keeps all of them in the current vector, sorted; past it
//! the calendar takes them over, and it hands them back once no more than `SMALL_MIN` remain.
//!
//! In every layout the order is exactly the binary heap's `(time, seq)` order (a test checks it
//! against one), so traces do not depend on the queue's layout. Measured by
//! `replsim bench`; earlier designs (a 4-ary heap, a radix heap that refiled each entry about as
//! often as a binary heap sifts it) were slower or no faster than `std`'s `BinaryHeap`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::SimTime;

/// log2 of a bucket's width in nanoseconds.
const BUCKET_SHIFT: u32 = 9;
/// Buckets in the calendar (a power of two): 4096 × 512 ns ≈ 2.1 ms ahead. (8192 measured
/// slower: more bucket headers to keep in cache.)
const RING: u64 = 4096;
const MASK: u64 = RING - 1;
const WORDS: usize = (RING / 64) as usize;
/// The most events kept in one sorted vector before the calendar takes over.
const SMALL_MAX: usize = 32;
/// The calendar hands its events back to one sorted vector when no more than this many remain.
/// The gap to `SMALL_MAX` keeps a queue hovering near one size from switching back and forth.
const SMALL_MIN: usize = 8;

struct Entry<E> {
    /// `time << 64 | seq`: the order is time first, then scheduling order.
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn bucket(&self) -> u64 {
        ((self.key >> 64) as u64) >> BUCKET_SHIFT
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest key first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// A priority queue of events keyed by `(time, seq)`.
pub struct EventQueue<E> {
    /// The calendar takes over when `len` exceeds this (`SMALL_MAX` while small, else never),
    /// and hands back when `len` falls below `shrink_below` (0 while small, so never): one
    /// comparison per push and per pop. While small (see [`Self::is_small`]) every event is in
    /// `current` (sorted, latest first), the calendar is empty and `cur` is `u64::MAX`.
    grow_above: usize,
    shrink_below: usize,
    /// The absolute number (`time >> BUCKET_SHIFT`) of the current bucket. Every event in a
    /// calendar bucket or in `far` belongs to a later bucket.
    cur: u64,
    /// The current bucket's events (and any pushed for an earlier instant), latest key first.
    current: Vec<Entry<E>>,
    /// Buckets `cur+1 .. cur+RING`, at index `bucket & MASK`, unsorted.
    ring: Vec<Vec<Entry<E>>>,
    /// Bit `i` is set when `ring[i]` is not empty.
    occupied: [u64; WORDS],
    /// Events at or beyond bucket `cur + RING`.
    far: BinaryHeap<Entry<E>>,
    len: usize,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            grow_above: SMALL_MAX,
            shrink_below: 0,
            cur: u64::MAX,
            current: Vec::with_capacity(64),
            ring: (0..RING).map(|_| Vec::new()).collect(),
            occupied: [0; WORDS],
            far: BinaryHeap::new(),
            len: 0,
            seq: 0,
        }
    }

    /// Schedules `event` at `at`. Events at equal times pop in push order.
    #[inline]
    pub fn push(&mut self, at: SimTime, event: E) {
        let key = (u128::from(at.as_nanos()) << 64) | u128::from(self.seq);
        self.seq += 1;
        self.len += 1;
        if self.len > self.grow_above {
            self.spread_into_calendar();
        }
        self.file(Entry { key, event });
    }

    /// Files `entry`: into the sorted current bucket, a later one, or the far heap. While the
    /// queue is small, `cur` is `u64::MAX`, so everything goes into the current bucket.
    #[inline(always)]
    fn file(&mut self, entry: Entry<E>) {
        let b = entry.bucket();
        if b <= self.cur {
            // Into the sorted current bucket; usually near its end (the earliest).
            let key = entry.key;
            let pos = self.current.partition_point(|e| e.key > key);
            self.current.insert(pos, entry);
        } else if b - self.cur < RING {
            let slot = (b & MASK) as usize;
            self.ring[slot].push(entry);
            self.occupied[slot / 64] |= 1 << (slot % 64);
        } else {
            self.far.push(entry);
        }
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.current.is_empty() && !self.advance() {
            return None;
        }
        let e = self
            .current
            .pop()
            .expect("advance filled the current bucket");
        self.len -= 1;
        if self.len < self.shrink_below {
            self.gather_from_calendar();
        }
        Some((SimTime::from_nanos((e.key >> 64) as u64), e.event))
    }

    /// Moves every event of the sorted vector into the calendar, the current bucket just before
    /// the earliest event's. Every event then waits in an unsorted bucket (making the earliest's
    /// bucket current instead would file the many events that share one instant, such as a
    /// thousand connections opened at once, by sorted insertion, each shifting all the others).
    #[cold]
    #[inline(never)]
    fn spread_into_calendar(&mut self) {
        (self.grow_above, self.shrink_below) = (usize::MAX, SMALL_MIN + 1);
        let Some(earliest) = self.current.last() else {
            return;
        };
        self.cur = earliest.bucket().saturating_sub(1);
        // Events of bucket 0 (if the earliest is there) stay: the vector's tail, in order.
        let later = self.current.partition_point(|e| e.bucket() > self.cur);
        let mut rest = std::mem::take(&mut self.current);
        self.current = rest.split_off(later);
        for e in rest {
            self.file(e);
        }
    }

    /// Gathers every event from the calendar back into the sorted vector.
    #[cold]
    #[inline(never)]
    fn gather_from_calendar(&mut self) {
        (self.grow_above, self.shrink_below) = (SMALL_MAX, 0);
        self.cur = u64::MAX;
        for word in 0..WORDS {
            while self.occupied[word] != 0 {
                let slot = word * 64 + self.occupied[word].trailing_zeros() as usize;
                self.occupied[word] &= self.occupied[word] - 1;
                self.current.append(&mut self.ring[slot]);
            }
        }
        self.current.extend(self.far.drain());
        self.current
            .sort_unstable_by_key(|e| std::cmp::Reverse(e.key));
    }

    /// The time of the earliest event, if any. Takes `&mut self` because it may move the
    /// calendar forward to find it (which changes no order).
    #[inline]
    pub fn peek_time(&mut self) -> Option<SimTime> {
        if self.current.is_empty() && !self.advance() {
            return None;
        }
        self.current
            .last()
            .map(|e| SimTime::from_nanos((e.key >> 64) as u64))
    }

    /// Whether the queue is one sorted vector rather than the calendar: only then is there no
    /// size to shrink below.
    fn is_small(&self) -> bool {
        self.shrink_below == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The distance (1..RING) from the current bucket to the next occupied calendar bucket.
    fn next_occupied(&self) -> Option<u64> {
        let start = (self.cur & MASK) + 1;
        // Scan from `start` to the end of the calendar, then wrap round to `start`.
        for pass in 0..2 {
            let (from, to) = if pass == 0 { (start, RING) } else { (0, start) };
            let mut i = from;
            while i < to {
                let word = i / 64;
                let bits = self.occupied[word as usize] >> (i % 64);
                if bits != 0 {
                    let slot = i + u64::from(bits.trailing_zeros());
                    if slot < to {
                        return Some((slot.wrapping_sub(self.cur & MASK)) & MASK);
                    }
                    break;
                }
                i = (word + 1) * 64;
            }
        }
        None
    }

    /// Makes the next non-empty bucket current. Returns false when the queue is empty.
    fn advance(&mut self) -> bool {
        if self.is_small() {
            // Every event is in `current`, which is empty.
            return false;
        }
        let ring_next = self.next_occupied().map(|d| self.cur + d);
        let far_next = self.far.peek().map(Entry::bucket);
        let next = match (ring_next, far_next) {
            (Some(r), Some(f)) => r.min(f),
            (Some(r), None) => r,
            (None, Some(f)) => f,
            (None, None) => return false,
        };
        self.cur = next;
        let slot = (next & MASK) as usize;
        if self.occupied[slot / 64] & (1 << (slot % 64)) != 0 {
            // Every calendar entry lies in `next .. next + RING`, so this slot is bucket `next`.
            std::mem::swap(&mut self.current, &mut self.ring[slot]);
            self.occupied[slot / 64] &= !(1 << (slot % 64));
        }
        // The window moved: far events inside it join their buckets.
        while self
            .far
            .peek()
            .is_some_and(|e| e.bucket() < self.cur + RING)
        {
            let e = self.far.pop().expect("peeked");
            let b = e.bucket();
            if b == self.cur {
                self.current.push(e);
            } else {
                let s = (b & MASK) as usize;
                self.ring[s].push(e);
                self.occupied[s / 64] |= 1 << (s % 64);
            }
        }
        self.current
            .sort_unstable_by_key(|e| std::cmp::Reverse(e.key));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_and_fifo_within_a_time() {
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(20), "c");
        q.push(SimTime::from_nanos(10), "a");
        q.push(SimTime::from_nanos(10), "b");
        q.push(SimTime::from_nanos(5), "first");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ["first", "a", "b", "c"]);
    }

    /// The reference order: a plain binary heap on `(time, seq)`.
    struct Reference {
        heap: BinaryHeap<std::cmp::Reverse<(u64, u64)>>,
        seq: u64,
    }

    impl Reference {
        fn push(&mut self, t: u64) -> u64 {
            self.heap.push(std::cmp::Reverse((t, self.seq)));
            self.seq += 1;
            self.seq - 1
        }
        fn pop(&mut self) -> Option<(u64, u64)> {
            self.heap.pop().map(|r| r.0)
        }
    }

    /// Pushes at offsets from the current time drawn from `spread` (nanoseconds, with a share of
    /// zero-delay and far-future events), interleaved with pops, and checks every pop against a
    /// binary heap. With `swing`, pushes dominate until the queue holds `swing` events, then pops
    /// until it is nearly empty, and so on, so its size crosses the small/calendar thresholds
    /// again and again. Returns how many times the queue switched layouts.
    fn matches_a_binary_heap(seed: u64, spread: u64, swing: Option<usize>) -> u32 {
        let mut rng = crate::seed::SeedStream::derive(seed, "queue");
        let mut q = EventQueue::new();
        let mut r = Reference {
            heap: BinaryHeap::new(),
            seq: 0,
        };
        let mut now = 0u64;
        let (mut switches, mut was_small, mut filling) = (0, true, true);
        for step in 0..40_000u64 {
            let push_pct = match swing {
                None => 55,
                Some(top) => {
                    if q.len() >= top {
                        filling = false;
                    } else if q.len() <= 2 {
                        filling = true;
                    }
                    if filling {
                        75
                    } else {
                        25
                    }
                }
            };
            let roll = rng.below(100);
            if roll < push_pct {
                let delay = match rng.below(10) {
                    0 => 0,
                    1 => rng.below(1 << BUCKET_SHIFT),
                    2 => spread * 50 + rng.below(RING << BUCKET_SHIFT),
                    3 => rng.below(10_000_000_000),
                    _ => rng.below(spread + 1),
                };
                let seq = r.push(now + delay);
                q.push(SimTime::from_nanos(now + delay), seq);
            } else {
                let expected = r.pop();
                let got = q.pop().map(|(t, s)| (t.as_nanos(), s));
                assert_eq!(got, expected, "step {step}");
                if let Some((t, _)) = got {
                    now = t;
                }
                assert_eq!(q.len(), r.heap.len());
            }
            if q.is_small() != was_small {
                switches += 1;
                was_small = q.is_small();
            }
            if step % 1000 == 0 {
                assert_eq!(
                    q.peek_time().map(SimTime::as_nanos),
                    r.heap.peek().map(|x| x.0 .0)
                );
            }
        }
        while let Some(expected) = r.pop() {
            assert_eq!(q.pop().map(|(t, s)| (t.as_nanos(), s)), Some(expected));
        }
        assert!(q.pop().is_none() && q.is_empty());
        switches
    }

    #[test]
    fn matches_a_binary_heap_for_dense_and_sparse_times() {
        matches_a_binary_heap(1, 300, None);
        matches_a_binary_heap(2, 250_000, None);
        matches_a_binary_heap(3, 20_000_000, None);
        matches_a_binary_heap(4, 5_000_000_000, None);
    }

    #[test]
    fn matches_a_binary_heap_while_switching_between_small_and_calendar() {
        for (seed, spread) in [(5, 300), (6, 250_000), (7, 20_000_000)] {
            let switches = matches_a_binary_heap(seed, spread, Some(2 * SMALL_MAX));
            assert!(
                switches > 200,
                "the queue switched layouts only {switches} times"
            );
        }
    }

    #[test]
    fn an_event_pushed_before_the_current_bucket_still_pops_first() {
        // After popping at 10 µs the calendar sits on that bucket; an engine may still schedule
        // at an earlier instant it has not reached (its clock lags a stashed event).
        let mut q = EventQueue::new();
        q.push(SimTime::from_nanos(10_000), 'b');
        q.push(SimTime::from_nanos(10_500), 'c');
        assert_eq!(q.peek_time(), Some(SimTime::from_nanos(10_000)));
        q.push(SimTime::from_nanos(3_000), 'a');
        q.push(SimTime::from_nanos(9_000_000_000), 'z');
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, ['a', 'b', 'c', 'z']);
    }

    #[test]
    fn many_events_at_one_instant_are_sorted_once_not_inserted_one_by_one() {
        // A thousand connections opened together: their SYNs all arrive at one instant. Past
        // the small vector they must wait unsorted in their bucket, then pop in push order.
        let mut q = EventQueue::new();
        for i in 0..2000u32 {
            q.push(SimTime::from_nanos(200_000), i);
        }
        assert!(!q.is_small());
        assert!(
            q.current.len() <= SMALL_MAX,
            "{} events filed by sorted insertion",
            q.current.len()
        );
        let order: Vec<u32> = std::iter::from_fn(|| q.pop()).map(|(_, i)| i).collect();
        assert_eq!(order, (0..2000).collect::<Vec<_>>());
    }

    #[test]
    fn peek_time_reports_the_earliest() {
        let mut q = EventQueue::new();
        assert_eq!(q.peek_time(), None);
        q.push(SimTime::from_nanos(7), ());
        q.push(SimTime::from_nanos(3), ());
        assert_eq!(q.peek_time(), Some(SimTime::from_nanos(3)));
        assert_eq!(q.len(), 2);
    }
}
