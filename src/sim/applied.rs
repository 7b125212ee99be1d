//! Which client writes each node's dataset has applied: the lineage behind the lost-writes
//! verdict.
//!
//! A node's dataset comes from three sources: writes it executed itself as a master, bytes of a
//! replication stream it applied, and an RDB it loaded, which replaced everything. The world
//! reports each: [`Applied::executed`] when a node executes a client write, and
//! [`Applied::observe`] after every event a node handled, with its replication ID and offset
//! and whether it just finished loading a full sync.
//!
//! Every replication ID names one stream of bytes, the same on every node that holds it, so a
//! write executed by a master with a backlog is identified by its ID and the offset just after
//! it. Each ID starts from the dataset of the node that created it (a master's first backlog, a
//! promotion, a restart): that dataset is its base. The dataset an RDB of ID `R` at offset `o`
//! carries is `R`'s base plus `R`'s writes up to `o`. A promoted replica's new ID continues its
//! old one: bytes below the promotion offset belong to the old ID's stream.
//!
//! Nothing here looks inside a node; it reads what INFO shows (`master_replid`,
//! `master_replid2`, `second_repl_offset`, `master_repl_offset`).

use std::collections::BTreeMap;

/// A set of write ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteSet {
    words: Vec<u64>,
}

impl WriteSet {
    pub fn insert(&mut self, id: u32) {
        let (w, b) = ((id / 64) as usize, id % 64);
        if self.words.len() <= w {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << b;
    }

    pub fn contains(&self, id: u32) -> bool {
        let (w, b) = ((id / 64) as usize, id % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }
}

/// One replication ID's stream.
#[derive(Debug)]
struct History {
    /// The dataset of the node that created the ID, at the offset it began.
    base: WriteSet,
    /// For an ID that continues another (a promoted replica's), that one and the last offset
    /// that belongs to it.
    parent: Option<(usize, u64)>,
    /// Client writes in stream order: the offset just after each, and its id.
    entries: Vec<(u64, u32)>,
}

/// Where a node's dataset stands.
#[derive(Clone, Debug, Default)]
struct Lineage {
    set: WriteSet,
    /// Its replication ID as last seen (empty before the first observation).
    replid: String,
    /// The history it follows, and the offset it has applied.
    at: Option<(usize, u64)>,
    /// Where `at` falls in its history's entries (the first that ends after it), while known:
    /// a replica applies its stream forward, and finding the place again by a binary search
    /// over millions of entries cost a cache miss per step.
    cursor: Option<usize>,
}

#[derive(Debug, Default)]
pub struct Applied {
    nodes: Vec<Lineage>,
    /// What a restart with persistence brings back, per node.
    persisted: Vec<Option<Lineage>>,
    histories: Vec<History>,
    by_replid: BTreeMap<String, usize>,
}

impl Applied {
    pub fn new(nodes: usize) -> Applied {
        Applied {
            nodes: vec![Lineage::default(); nodes],
            persisted: vec![None; nodes],
            ..Applied::default()
        }
    }

    /// The writes node `i`'s dataset has applied.
    pub fn of(&self, i: usize) -> &WriteSet {
        &self.nodes[i].set
    }

    /// Node `i` executed client write `id`, its offset going from `before` to `after`: if that
    /// moved it (the node has a backlog and the write changed the dataset), the write is in the
    /// stream of `replid`, ending at `after`.
    pub fn executed(&mut self, i: usize, id: u32, replid: &str, before: u64, after: u64) {
        self.observe(i, replid, "", -1, before, false);
        let n = &mut self.nodes[i];
        n.set.insert(id);
        if after > before {
            if let Some((h, at)) = n.at.as_mut() {
                let entries = &mut self.histories[*h].entries;
                assert!(
                    entries.last().is_none_or(|&(o, _)| o < after),
                    "a stream only grows"
                );
                entries.push((after, id));
                *at = after;
                n.cursor = Some(entries.len());
            }
        }
    }

    /// Node `i` handled an event and now has `replid` at `offset`; `loaded` says it has just
    /// replaced its dataset with a full sync's RDB (which carries `replid` and `offset`).
    pub fn observe(
        &mut self,
        i: usize,
        replid: &str,
        replid2: &str,
        second_replid_offset: i64,
        offset: u64,
        loaded: bool,
    ) {
        if loaded {
            let h = self.history(replid, None, WriteSet::default);
            let set = self.state(h, offset);
            self.nodes[i] = Lineage {
                set,
                replid: replid.to_string(),
                at: Some((h, offset)),
                cursor: None,
            };
            return;
        }
        if self.nodes[i].replid != replid {
            // A new ID starts from this node's dataset; an ID that takes over from the node's
            // own (a promotion) continues it. Either way the node's offset has not moved with
            // the change, so it goes on from where it was.
            let node = &self.nodes[i];
            let parent = node
                .at
                .filter(|_| !replid2.is_empty() && replid2 == node.replid)
                .map(|(h, _)| (h, (second_replid_offset - 1).max(0) as u64));
            let from = node.at.map_or(offset, |(_, at)| at.min(offset));
            let base = node.set.clone();
            let h = self.history(replid, parent, || base);
            let n = &mut self.nodes[i];
            n.replid = replid.to_string();
            n.at = Some((h, from));
            n.cursor = None;
        }
        let Some((h, at)) = self.nodes[i].at else {
            return;
        };
        if offset > at {
            let mut set = std::mem::take(&mut self.nodes[i].set);
            let cursor = self.apply(h, at, offset, &mut set, self.nodes[i].cursor);
            self.nodes[i].set = set;
            self.nodes[i].cursor = Some(cursor);
        } else if offset < at {
            // The cursor belongs to the offset it was found for.
            self.nodes[i].cursor = None;
        }
        self.nodes[i].at = Some((h, offset));
    }

    /// Node `i` crashed: its dataset is gone; a restart with persistence finds it as it was.
    pub fn crash(&mut self, i: usize) {
        self.persisted[i] = Some(std::mem::take(&mut self.nodes[i]));
    }

    /// Node `i` restarted, with its persisted dataset or empty.
    pub fn restart(&mut self, i: usize, persistence: bool) {
        self.nodes[i] = if persistence {
            self.persisted[i].clone().unwrap_or_default()
        } else {
            Lineage::default()
        };
    }

    /// The history of `replid`, created from `base` (and `parent`) if new.
    fn history(
        &mut self,
        replid: &str,
        parent: Option<(usize, u64)>,
        base: impl FnOnce() -> WriteSet,
    ) -> usize {
        if let Some(&h) = self.by_replid.get(replid) {
            return h;
        }
        self.histories.push(History {
            base: base(),
            parent,
            entries: Vec::new(),
        });
        let h = self.histories.len() - 1;
        self.by_replid.insert(replid.to_string(), h);
        h
    }

    /// The writes an RDB of history `h` at `offset` holds.
    fn state(&self, h: usize, offset: u64) -> WriteSet {
        let hist = &self.histories[h];
        let mut set = hist.base.clone();
        for &(o, id) in &hist.entries {
            if o > offset {
                break;
            }
            set.insert(id);
        }
        set
    }

    /// Adds to `set` the writes of history `h` in the offsets `(from, to]`, those below a
    /// promotion from its parent's stream. `cursor`, if known, is where `from` falls in `h`'s
    /// entries; the return value is where `to` does.
    fn apply(
        &self,
        h: usize,
        from: u64,
        to: u64,
        set: &mut WriteSet,
        cursor: Option<usize>,
    ) -> usize {
        let hist = &self.histories[h];
        if let Some((p, last)) = hist.parent {
            if from < last {
                self.apply(p, from, to.min(last), set, None);
            }
        }
        let start = cursor.unwrap_or_else(|| hist.entries.partition_point(|&(o, _)| o <= from));
        debug_assert_eq!(
            start,
            hist.entries.partition_point(|&(o, _)| o <= from),
            "the cursor is where the offset falls"
        );
        let mut end = start;
        for &(o, id) in &hist.entries[start..] {
            if o > to {
                break;
            }
            set.insert(id);
            end += 1;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaa";
    const B: &str = "bbbb";

    #[test]
    fn a_replica_applies_what_its_stream_carries_and_no_more() {
        let mut ap = Applied::new(2);
        // Master 0 creates A with no writes, then writes 1 and 2 at offsets 100 and 200.
        ap.observe(0, A, "", -1, 0, false);
        ap.executed(0, 1, A, 0, 100);
        ap.executed(0, 2, A, 100, 200);
        // Replica 1 loads an RDB of A at 100: it holds write 1 only, then streams to 200.
        ap.observe(1, A, "", -1, 100, true);
        assert!(ap.of(1).contains(1) && !ap.of(1).contains(2));
        ap.observe(1, A, "", -1, 150, false);
        assert!(!ap.of(1).contains(2), "150 is short of write 2's end");
        ap.observe(1, A, "", -1, 200, false);
        assert!(ap.of(1).contains(2));
    }

    /// The replica's remembered place in the stream gives the same writes as searching for it:
    /// stepping forward by any amount while its master writes, and after its offset went back.
    #[test]
    fn a_replica_stepping_through_its_stream_holds_exactly_the_writes_below_its_offset() {
        let mut ap = Applied::new(2);
        ap.observe(0, A, "", -1, 0, false);
        ap.observe(1, A, "", -1, 0, true);
        let (mut offset, mut highest) = (0, 0);
        for id in 1..=40u32 {
            ap.executed(0, id, A, u64::from(id - 1) * 10, u64::from(id) * 10);
            // Steps of 1 to 12 bytes: some end inside a write, some past two.
            offset = (offset + u64::from(id % 12) + 1).min(u64::from(id) * 10);
            if id == 20 {
                offset -= 15;
            }
            ap.observe(1, A, "", -1, offset, false);
            // Going back removes nothing the dataset applied.
            highest = highest.max(offset);
            let h = ap.by_replid[A];
            assert_eq!(
                ap.of(1),
                &ap.state(h, highest),
                "write {id}, offset {offset}"
            );
        }
    }

    #[test]
    fn a_promoted_replica_keeps_what_it_had_and_its_new_id_continues_the_old_stream() {
        let mut ap = Applied::new(3);
        ap.observe(0, A, "", -1, 0, false);
        ap.observe(1, A, "", -1, 0, true);
        ap.observe(2, A, "", -1, 0, true);
        ap.executed(0, 1, A, 0, 100);
        ap.executed(0, 2, A, 100, 200);
        ap.observe(1, A, "", -1, 200, false);
        ap.observe(2, A, "", -1, 100, false);
        // Node 1 is promoted at 200 (B continues A up to 200) and takes write 3.
        ap.observe(1, B, A, 201, 200, false);
        ap.executed(1, 3, B, 200, 300);
        // Node 0, cut off, took write 4 that nobody else will see.
        ap.executed(0, 4, A, 200, 250);
        // Node 2 (at 100 of A) continues from node 1: bytes 101..200 are A's, 201.. are B's.
        // The +CONTINUE and the bytes after it arrive in one delivery.
        ap.observe(2, B, A, 201, 300, false);
        for id in [1, 2, 3] {
            assert!(ap.of(2).contains(id), "write {id}");
        }
        assert!(!ap.of(2).contains(4) && !ap.of(1).contains(4));
        // Node 0 full-syncs from node 1 at 300: it loses write 4.
        ap.observe(0, B, A, 201, 300, true);
        assert!(!ap.of(0).contains(4) && ap.of(0).contains(3));
    }

    #[test]
    fn a_master_without_a_backlog_passes_its_writes_on_through_its_first_id() {
        let mut ap = Applied::new(2);
        ap.observe(0, A, "", -1, 0, false);
        ap.executed(0, 7, A, 0, 0);
        // A replica attaches: the master starts a new history B from its dataset.
        ap.observe(0, B, "", -1, 0, false);
        ap.observe(1, B, "", -1, 0, true);
        assert!(ap.of(1).contains(7));
    }

    #[test]
    fn a_crash_loses_the_dataset_unless_it_was_persisted() {
        let mut ap = Applied::new(1);
        ap.observe(0, A, "", -1, 0, false);
        ap.executed(0, 1, A, 0, 10);
        ap.crash(0);
        ap.restart(0, true);
        assert!(ap.of(0).contains(1));
        ap.crash(0);
        ap.restart(0, false);
        assert!(ap.of(0).is_empty());
    }
}
