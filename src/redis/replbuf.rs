//! The Redis 7 shared replication buffer (replication.c `feedReplicationBuffer`,
//! `incrementalTrimReplicationBacklog`).
//!
//! One list of blocks holds the replication stream. The backlog and every replica are positions
//! into it: the backlog keeps the last `repl-backlog-size` bytes (to block granularity), and a
//! replica pins every block from the one holding its next unsent byte. Trimming drops head blocks
//! only while the backlog is longer than its size by more than a whole block, more than one block
//! exists, and no replica references the head. So a slow or syncing replica makes the retained
//! history grow without bound, and those extra bytes remain usable for partial resyncs.
//!
//! A block holds what its allocation can: Redis asks jemalloc for the block's header and 16 KB
//! (or more, for a large write) and takes the size class's slack as capacity
//! (`zmalloc_usable`), so blocks of a small-write stream hold 20,440 bytes, not 16,384. Where
//! the backlog's first byte lands, and so the largest gap a partial resync covers, follows from
//! that: with `repl-backlog-size 100000` a replica 120,440 bytes behind still resyncs partially
//! (measured against Redis 7.0.15; docs/conformance.md).
//!
//! Offsets are Redis's: the first byte ever fed has offset 1, and `master_repl_offset` is the
//! offset of the last byte fed.
//!
//! The blocks above are Redis's accounting, and they hold no bytes here. The bytes sit in pages
//! of [`PAGE_BYTES`] at fixed offsets (page `k` holds offsets `k * PAGE_BYTES + 1` to
//! `(k + 1) * PAGE_BYTES`), filled privately and, once full, shared through the node's store
//! ([`super::shared`]) with every other buffer holding the same bytes at the same offsets. A
//! replica forwards its master's stream verbatim at its master's offsets, so a hundred replicas'
//! backlogs hold their master's pages rather than a hundred copies of them. A page is shared only
//! when its bytes are equal, byte for byte, to the stored one; anything else keeps its own.

use std::collections::VecDeque;
use std::rc::Rc;

use super::shared::SharedBytes;

/// Bytes per page of stream storage.
pub const PAGE_BYTES: u64 = 4096;

/// `PROTO_REPLY_CHUNK_BYTES`: the smallest block Redis asks for.
pub const MIN_BLOCK_BYTES: u64 = 16 * 1024;
/// `sizeof(replBufBlock)`: the header in front of a block's bytes, in the same allocation.
const BLOCK_HEADER_BYTES: u64 = 40;
/// Per-block bookkeeping Redis counts in a replica's output-buffer size and in the buffer's
/// memory (`sizeof(listNode) + sizeof(replBufBlock)`).
pub const BLOCK_OVERHEAD_BYTES: u64 = 24 + BLOCK_HEADER_BYTES;

/// The usable size jemalloc (Redis's allocator on Linux) gives a request of `n` bytes: its size
/// classes are multiples of 16 up to 128 bytes, then four per doubling (for `n` over 128, the
/// next multiple of a quarter of the largest power of two below `n`), from small classes
/// through large ones alike.
pub fn jemalloc_usable_bytes(n: u64) -> u64 {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.next_multiple_of(16);
    }
    let below = 1u64 << (63 - (n - 1).leading_zeros());
    n.next_multiple_of(below / 4)
}

/// A block's capacity when `want` bytes are asked for: the allocation of header and `want`,
/// less the header (`feedReplicationBuffer`).
fn block_capacity(want: u64) -> u64 {
    jemalloc_usable_bytes(want + BLOCK_HEADER_BYTES) - BLOCK_HEADER_BYTES
}

/// One of Redis's blocks: sizes only (the bytes are in [`Pages`]).
#[derive(Debug)]
struct Block {
    /// Offset of the block's first byte.
    start: u64,
    /// Capacity in bytes.
    size: u64,
    /// Bytes written into it.
    used: u64,
}

impl Block {
    fn used(&self) -> u64 {
        self.used
    }
}

/// A full page, or the first page of a buffer that began inside it: its bytes, from offset
/// `start` to the page's end.
#[derive(Debug)]
struct Page {
    start: u64,
    bytes: Rc<Vec<u8>>,
}

/// The stream's bytes from some offset to the last fed: full pages, then the page being filled.
#[derive(Debug)]
struct Pages {
    shared: SharedBytes,
    full: VecDeque<Page>,
    /// The bytes of the page being filled, from offset `tail_start` (its page's first offset,
    /// or where the buffer began) to the last byte fed.
    tail: Vec<u8>,
    tail_start: u64,
}

/// The page number of `offset`.
fn page_of(offset: u64) -> u64 {
    (offset - 1) / PAGE_BYTES
}

impl Pages {
    fn new(next: u64, shared: &SharedBytes) -> Pages {
        Pages {
            shared: shared.clone(),
            full: VecDeque::new(),
            tail: Vec::new(),
            tail_start: next,
        }
    }

    /// Appends `bytes`, which start at offset `self.tail_start + self.tail.len()`.
    fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let next = self.tail_start + self.tail.len() as u64;
            let page_end = (page_of(next) + 1) * PAGE_BYTES;
            let n = ((page_end - next + 1) as usize).min(bytes.len());
            if self.tail.capacity() == 0 {
                self.tail.reserve_exact(PAGE_BYTES as usize);
            }
            self.tail.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if next + n as u64 - 1 == page_end {
                self.seal();
            }
        }
    }

    /// The tail page is full: it goes to the full pages, shared when it can be.
    fn seal(&mut self) {
        let start = self.tail_start;
        let whole = (start - 1) % PAGE_BYTES == 0;
        let bytes = if whole {
            let (bytes, spare) = self
                .shared
                .store()
                .pages
                .share(page_of(start), std::mem::take(&mut self.tail));
            if let Some(mut spare) = spare {
                spare.clear();
                self.tail = spare;
            }
            bytes
        } else {
            Rc::new(std::mem::take(&mut self.tail))
        };
        self.full.push_back(Page { start, bytes });
        self.tail_start = (page_of(start) + 1) * PAGE_BYTES + 1;
    }

    /// Drops the pages wholly before `offset`.
    fn trim(&mut self, offset: u64) {
        while self
            .full
            .front()
            .is_some_and(|p| (page_of(p.start) + 1) * PAGE_BYTES < offset)
        {
            self.full.pop_front();
        }
    }

    /// The bytes from `offset` to the end of its page (or to the last byte fed); `offset` is held.
    fn page_from(&self, offset: u64) -> &[u8] {
        if offset >= self.tail_start {
            return &self.tail[(offset - self.tail_start) as usize..];
        }
        let first = page_of(self.full.front().expect("a held byte is in a page").start);
        let page = &self.full[(page_of(offset) - first) as usize];
        &page.bytes[(offset - page.start) as usize..]
    }

    /// The bytes from `offset` to `last`, all held: in place when one page holds them, else
    /// gathered into `scratch`.
    fn read<'a>(&'a self, offset: u64, last: u64, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let len = (last + 1 - offset) as usize;
        let first = self.page_from(offset);
        if first.len() >= len {
            return &first[..len];
        }
        scratch.clear();
        let mut at = offset;
        while at <= last {
            let piece = self.page_from(at);
            let n = piece.len().min((last + 1 - at) as usize);
            scratch.extend_from_slice(&piece[..n]);
            at += n as u64;
        }
        scratch
    }
}

/// The stream and the backlog's view of it.
#[derive(Debug)]
pub struct ReplBuffer {
    blocks: VecDeque<Block>,
    /// The offset of the last byte fed (`master_repl_offset`).
    end: u64,
    /// Offset of the first byte the backlog holds (`repl_backlog->offset`).
    backlog_offset: u64,
    bytes: Pages,
}

/// Which blocks the last feed created, so the caller checks output-buffer limits then.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Fed {
    pub new_blocks: u32,
}

impl ReplBuffer {
    /// An empty backlog whose next byte will have offset `master_repl_offset + 1`
    /// (`createReplicationBacklog`), with a store of its own for its pages.
    pub fn new(master_repl_offset: u64) -> ReplBuffer {
        ReplBuffer::new_in(master_repl_offset, &SharedBytes::new())
    }

    /// [`new`](Self::new), sharing full pages through `shared`.
    pub fn new_in(master_repl_offset: u64, shared: &SharedBytes) -> ReplBuffer {
        ReplBuffer {
            blocks: VecDeque::new(),
            end: master_repl_offset,
            backlog_offset: master_repl_offset + 1,
            bytes: Pages::new(master_repl_offset + 1, shared),
        }
    }

    pub fn master_repl_offset(&self) -> u64 {
        self.end
    }

    /// `repl_backlog->offset`: the first byte held.
    pub fn backlog_offset(&self) -> u64 {
        self.backlog_offset
    }

    /// `repl_backlog->histlen`.
    pub fn histlen(&self) -> u64 {
        self.end + 1 - self.backlog_offset
    }

    /// Bytes allocated for blocks (`repl_buffer_mem`, without allocator rounding).
    pub fn memory_bytes(&self) -> u64 {
        self.blocks
            .iter()
            .map(|b| b.size + BLOCK_OVERHEAD_BYTES)
            .sum()
    }

    /// Appends stream bytes. `backlog_size` decides the size of new blocks.
    pub fn feed(&mut self, bytes: &[u8], backlog_size: u64) -> Fed {
        self.bytes.push(bytes);
        let mut left = bytes.len() as u64;
        let mut new_blocks = 0;
        while left > 0 {
            if let Some(tail) = self.blocks.back_mut() {
                let n = (tail.size - tail.used).min(left);
                tail.used += n;
                left -= n;
                self.end += n;
            }
            if left > 0 {
                if let Some(tail) = self.blocks.back() {
                    assert_eq!(
                        tail.used(),
                        tail.size,
                        "a block is full before the next one"
                    );
                    assert_eq!(
                        tail.start + tail.size,
                        self.end + 1,
                        "blocks are contiguous"
                    );
                }
                let limit = (backlog_size / 16).max(MIN_BLOCK_BYTES);
                let size = block_capacity(left.max(MIN_BLOCK_BYTES).min(limit));
                self.blocks.push_back(Block {
                    start: self.end + 1,
                    size,
                    used: 0,
                });
                new_blocks += 1;
            }
        }
        Fed { new_blocks }
    }

    /// Whether [`trim`](Self::trim) could drop a block if no replica pinned it: the history is
    /// longer than `backlog_size` by more than its head block. Cheap, for the caller to skip
    /// finding the oldest replica position on every write.
    pub fn trimmable(&self, backlog_size: u64) -> bool {
        self.blocks.len() > 1
            && self
                .blocks
                .front()
                .is_some_and(|head| self.histlen() - head.size > backlog_size)
    }

    /// Drops head blocks as `incrementalTrimReplicationBacklog` does. `oldest_pinned` is the
    /// smallest next-unsent offset among replicas attached to the buffer, if any.
    pub fn trim(&mut self, backlog_size: u64, oldest_pinned: Option<u64>) {
        while self.histlen() > backlog_size && self.blocks.len() > 1 {
            let head = &self.blocks[0];
            // A replica whose next byte lies in the head block references it.
            let head_end = head.start + head.size;
            if oldest_pinned.is_some_and(|p| p < head_end) {
                break;
            }
            if self.histlen() - head.size <= backlog_size {
                break;
            }
            let head = self.blocks.pop_front().expect("more than one block");
            self.backlog_offset = head.start + head.size;
        }
        self.bytes.trim(self.backlog_offset);
    }

    /// Whether `offset` (a next byte to send) is held, or is the very next byte to be fed.
    pub fn holds(&self, offset: u64) -> bool {
        offset >= self.backlog_offset && offset <= self.end + 1
    }

    /// The held bytes from `offset` to the end of the block containing it (what one write of
    /// Redis's sends); empty when `offset` is past the last byte fed. When they lie on more than
    /// one page they are gathered into `scratch`.
    pub fn slice_from<'a>(&'a self, offset: u64, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        if offset > self.end || offset < self.backlog_offset {
            return &[];
        }
        let b = &self.blocks[self.block_index(offset)];
        self.bytes.read(offset, b.start + b.used - 1, scratch)
    }

    fn block_index(&self, offset: u64) -> usize {
        // Replicas that keep up read from the newest block.
        if self.blocks.back().is_some_and(|b| offset >= b.start) {
            return self.blocks.len() - 1;
        }
        match self.blocks.binary_search_by(|b| b.start.cmp(&offset)) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// Checks the buffer's own invariants: the backlog starts at the head block and the last
    /// byte fed ends the tail block, so `histlen` is exactly the bytes held. That every block but
    /// the tail is full and starts where the one before it ends is checked where blocks are
    /// made (`feed`): a backlog pinned by a syncing replica can hold thousands of blocks, too
    /// many to visit after every input.
    pub fn assert_invariants(&self) {
        assert!(
            self.backlog_offset <= self.end + 1,
            "the backlog starts at most one byte past its end"
        );
        match (self.blocks.front(), self.blocks.back()) {
            (Some(head), Some(tail)) => {
                assert_eq!(
                    head.start, self.backlog_offset,
                    "the backlog starts at the head"
                );
                assert_eq!(
                    tail.start + tail.used(),
                    self.end + 1,
                    "the tail block ends at the last byte fed"
                );
            }
            _ => assert_eq!(self.histlen(), 0, "an empty buffer holds no history"),
        }
    }

    /// A replica's output-buffer size as Redis computes it (`getClientOutputBufferMemoryUsage`):
    /// from the start of the block holding its next byte to the end of the last block's capacity,
    /// plus per-block overhead.
    pub fn output_buffer_bytes(&self, next_offset: u64) -> u64 {
        let Some(last) = self.blocks.back() else {
            return 0;
        };
        let i = if next_offset > self.end {
            self.blocks.len() - 1
        } else {
            self.block_index(next_offset.max(self.blocks[0].start))
        };
        let cur = &self.blocks[i];
        let blocks = (self.blocks.len() - i) as u64;
        last.start + last.size - cur.start + blocks * BLOCK_OVERHEAD_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_start_after_the_creation_offset() {
        let mut b = ReplBuffer::new(0);
        assert_eq!((b.backlog_offset(), b.histlen()), (1, 0));
        b.feed(&[0; 50], 1 << 20);
        assert_eq!(b.master_repl_offset(), 50);
        assert_eq!(b.histlen(), 50);
        assert!(b.holds(1) && b.holds(51) && !b.holds(52) && !b.holds(0));
    }

    #[test]
    fn blocks_are_asked_between_16kb_and_a_sixteenth_of_the_backlog_and_get_their_size_class() {
        let mut b = ReplBuffer::new(0);
        assert_eq!(b.feed(&[1; 10], 1 << 20).new_blocks, 1);
        // 16 KB and a 40-byte header fall in jemalloc's 20 KB class.
        assert_eq!(b.blocks[0].size, 20_480 - 40);
        // 1 MB backlog: 64 KB asked for (the 80 KB class) while more than that is left to
        // store, then 16 KB for the last 15,810 bytes.
        b.feed(&vec![2; 200_000], 1 << 20);
        let sizes: Vec<u64> = b.blocks.iter().map(|blk| blk.size).collect();
        assert_eq!(sizes, [20_440, 81_880, 81_880, 20_440]);
    }

    #[test]
    fn jemalloc_size_classes_are_four_per_doubling() {
        for (n, usable) in [
            (1, 8),
            (9, 16),
            (100, 112),
            (129, 160),
            (16_384, 16_384),
            (16_424, 20_480),
            (20_481, 24_576),
            (65_576, 81_920),
            (3 << 20, 3 << 20),
            ((3 << 20) + 1, 3_670_016),
        ] {
            assert_eq!(jemalloc_usable_bytes(n), usable, "{n}");
        }
    }

    /// Measured on Redis 7.0.15: `repl-backlog-size 100000`, 300 `SET key:0 <1000 bytes>` (1,033
    /// stream bytes each, after a 23-byte SELECT) give `master_repl_offset:309923`,
    /// `repl_backlog_first_byte_offset:204401`, `repl_backlog_histlen:105523`.
    #[test]
    fn the_backlog_starts_where_redis_s_did() {
        let size = 100_000;
        let mut b = ReplBuffer::new(0);
        b.feed(&[0; 23], size);
        for _ in 0..300 {
            b.feed(&[1; 1033], size);
            if b.trimmable(size) {
                b.trim(size, None);
            }
        }
        assert_eq!(b.master_repl_offset(), 309_923);
        assert_eq!(b.backlog_offset(), 204_401);
        assert_eq!(b.histlen(), 105_523);
    }

    #[test]
    fn histlen_settles_between_the_backlog_size_and_one_block_more() {
        let size = 1 << 20;
        let mut b = ReplBuffer::new(0);
        for _ in 0..100 {
            b.feed(&[7; 100_000], size);
            b.trim(size, None);
        }
        assert!(
            b.histlen() >= size && b.histlen() <= size + block_capacity(64 * 1024),
            "{}",
            b.histlen()
        );
        assert_eq!(b.backlog_offset(), b.master_repl_offset() - b.histlen() + 1);
    }

    #[test]
    fn a_pinning_replica_makes_the_history_grow_past_the_backlog_size() {
        let size = 16 * 1024;
        let mut b = ReplBuffer::new(0);
        b.feed(&[1; 100], size);
        let replica_next = 101;
        for _ in 0..100 {
            b.feed(&[2; 10_000], size);
            b.trim(size, Some(replica_next));
        }
        assert!(b.histlen() > 1_000_000);
        assert!(b.output_buffer_bytes(replica_next) > 1_000_000);
        // The replica leaves: trimming resumes.
        b.trim(size, None);
        assert!(b.histlen() <= size + block_capacity(MIN_BLOCK_BYTES));
    }

    #[test]
    fn slices_follow_block_boundaries() {
        let mut b = ReplBuffer::new(0);
        let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        // Fed in small pieces, the stream fills blocks of the smallest size.
        for piece in data.chunks(1_000) {
            b.feed(piece, 1 << 20);
        }
        let mut got = vec![];
        let mut off = 1;
        let mut scratch = Vec::new();
        let mut ends = vec![];
        while off <= b.master_repl_offset() {
            let s = b.slice_from(off, &mut scratch);
            assert!(!s.is_empty());
            got.extend_from_slice(s);
            off += s.len() as u64;
            ends.push(off - 1);
        }
        assert_eq!(got, data);
        assert_eq!(
            ends,
            [20_440, 40_000],
            "one slice per block, whatever the pages"
        );
        assert!(b.slice_from(40_001, &mut scratch).is_empty());
        assert_eq!(b.slice_from(20_000, &mut scratch), &data[19_999..20_440]);
    }

    /// A master's buffer and its replicas' (which began at other offsets, fed in other pieces)
    /// hold one copy of every full page, and each still reads exactly its own bytes.
    #[test]
    fn buffers_of_one_stream_share_full_pages_and_read_their_own_bytes() {
        let shared = SharedBytes::new();
        let stream: Vec<u8> = (0..100_000u32).map(|i| (i * 7 / 3) as u8).collect();
        let mut master = ReplBuffer::new_in(0, &shared);
        for piece in stream.chunks(137) {
            master.feed(piece, 1 << 20);
        }
        // A replica that began at offset 5,000 (a full sync there), fed in other pieces, and one
        // whose stream differs in one byte.
        let mut replica = ReplBuffer::new_in(5_000, &shared);
        for piece in stream[5_000..].chunks(1_000) {
            replica.feed(piece, 1 << 20);
        }
        let mut other = ReplBuffer::new_in(0, &shared);
        let mut changed = stream.clone();
        changed[50_000] ^= 1;
        other.feed(&changed, 1 << 20);
        let read = |b: &ReplBuffer, from: u64| {
            let mut got = vec![];
            let mut off = from;
            let mut scratch = Vec::new();
            while off <= b.master_repl_offset() {
                let s = b.slice_from(off, &mut scratch);
                got.extend_from_slice(s);
                off += s.len() as u64;
            }
            got
        };
        assert_eq!(read(&master, 1), stream);
        assert_eq!(read(&replica, 5_001), stream[5_000..]);
        assert_eq!(read(&other, 1), changed);
        let page = |b: &ReplBuffer, offset: u64| {
            let p = &b.bytes.full[(page_of(offset) - page_of(b.bytes.full[0].start)) as usize];
            Rc::as_ptr(&p.bytes)
        };
        assert_eq!(
            page(&master, 8_193),
            page(&replica, 8_193),
            "a full page is shared"
        );
        assert_eq!(page(&master, 8_193), page(&other, 8_193));
        assert_ne!(
            page(&master, 4_097),
            page(&replica, 5_001),
            "the replica's first is its own"
        );
        assert_ne!(
            page(&master, 49_153),
            page(&other, 49_153),
            "a page that differs is not"
        );
        // Trimming drops pages with the blocks they lie in.
        let size = 20_000;
        master.trim(size, None);
        assert!(master.backlog_offset() > 50_000);
        assert!(master.bytes.full.len() < 14);
        assert_eq!(
            read(&master, master.backlog_offset()),
            stream[master.backlog_offset() as usize - 1..]
        );
    }
}
