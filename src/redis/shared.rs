//! Bytes that many nodes hold, stored once: the keys and values of datasets, and the full pages
//! of replication streams.
//!
//! A master with a hundred replicas holds each key and value a hundred and one times over, and
//! every copy is written again on every write. Here every dataset ([`super::keyspace`]) keeps,
//! per entry, the ids of its key and its value in one store that the environment may hand to
//! every node of a run ([`SharedBytes`]): each distinct byte string is kept once, with a count of
//! the entries that hold it, and freed with the last of them.
//!
//! Nothing a node observes depends on the store. An id stands for exactly the bytes it was
//! interned with for as long as anything holds it (a write interns the new bytes; nothing stored
//! ever changes), so no node sees another's writes. The store is never iterated, so what its
//! tables look like (which follows from every node's writes) is never observable either; ids are
//! handed out from a free list, so the same run allocates the same ids.
//!
//! Each string also remembers the last seeded XXH3 hash asked of it. The dataset digest hashes
//! every entry written (its value seeded with its key's hash), and the replicas of a master
//! write the same entries one after another: the first computes the hash, the others read it.

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::rc::{Rc, Weak};

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use smallvec::SmallVec;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The hash a keyspace table files a key under: foldhash with a fixed seed over the bytes, as a
/// `HashMap<Vec<u8>, _, FixedState>` hashes its keys. Tables hashed so lay entries out (and
/// iterate them) as such a map does after the same inserts and removals.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    FixedState::default().hash_one(bytes)
}

/// An interned byte string, shared by every holder. Ids are dense (freed ones are used again),
/// so a node may index arrays by them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrId(NonZeroU32);

impl StrId {
    fn new(index: u32) -> StrId {
        StrId(NonZeroU32::new(index + 1).expect("fewer than 2^32 - 1 strings"))
    }

    fn raw(self) -> u32 {
        self.0.get() - 1
    }

    /// The id as an index from 0 (an `Option<StrId>` takes 4 bytes).
    pub(crate) fn index(self) -> usize {
        self.raw() as usize
    }
}

#[derive(Debug)]
struct Rec {
    /// None once the last holder released it (the id then waits on the free list).
    bytes: Option<Rc<[u8]>>,
    /// [`hash_bytes`] of the bytes.
    hash: u64,
    holders: u32,
    /// The last seeded XXH3 asked of the bytes: (seed, hash).
    xxh3: Option<(u64, u64)>,
}

/// Records of strings by id, with a free list and holder counts.
#[derive(Debug, Default)]
struct Recs {
    recs: Vec<Rec>,
    free: Vec<u32>,
    live: usize,
}

impl Recs {
    fn get(&self, id: StrId) -> &Rec {
        &self.recs[id.index()]
    }

    fn bytes(&self, id: StrId) -> &Rc<[u8]> {
        self.get(id)
            .bytes
            .as_ref()
            .expect("a held string has its bytes")
    }

    fn add(&mut self, hash: u64, bytes: &[u8]) -> StrId {
        let rec = Rec {
            bytes: Some(Rc::from(bytes)),
            hash,
            holders: 1,
            xxh3: None,
        };
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.recs[i as usize] = rec;
                StrId::new(i)
            }
            None => {
                let i = u32::try_from(self.recs.len()).expect("fewer than 2^32 strings");
                self.recs.push(rec);
                StrId::new(i)
            }
        }
    }

    fn retain(&mut self, id: StrId) {
        let rec = &mut self.recs[id.index()];
        assert!(rec.holders > 0, "a string is retained only while held");
        rec.holders += 1;
    }

    /// Gives up one hold; returns the string's hash when that was the last, which frees it.
    fn release(&mut self, id: StrId) -> Option<u64> {
        let rec = &mut self.recs[id.index()];
        assert!(rec.holders > 0, "a string is released only while held");
        rec.holders -= 1;
        if rec.holders > 0 {
            return None;
        }
        rec.bytes = None;
        rec.xxh3 = None;
        self.live -= 1;
        self.free.push(id.raw());
        Some(rec.hash)
    }

    fn xxh3(&mut self, id: StrId, seed: u64) -> u64 {
        let rec = &mut self.recs[id.index()];
        if let Some((s, h)) = rec.xxh3 {
            if s == seed {
                return h;
            }
        }
        let h = xxh3_64_with_seed(rec.bytes.as_deref().expect("a held string"), seed);
        rec.xxh3 = Some((seed, h));
        h
    }
}

/// A key as stored: inline when short (the common case), so finding one compares bytes in its
/// record rather than behind a pointer.
type KeyBytes = SmallVec<[u8; 22]>;

#[derive(Debug)]
struct KeyRec {
    /// [`hash_bytes`] of the key.
    hash: u64,
    key: KeyBytes,
    /// 0 once released (the id then waits on the free list).
    holders: u32,
    /// The database whose seeded XXH3 of the key `xxh3` holds, or `u32::MAX`.
    xxh3_db: u32,
    xxh3: u64,
}

/// Keys: each distinct key once, found by its bytes. A node finds a key's id here, then the
/// key's value in its own database.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    recs: Vec<KeyRec>,
    free: Vec<u32>,
    /// Ids by [`hash_bytes`].
    index: HashTable<u32>,
}

impl Keys {
    fn rec(&self, id: StrId) -> &KeyRec {
        let rec = &self.recs[id.index()];
        assert!(rec.holders > 0, "a key is used only while held");
        rec
    }

    /// The bytes of a held key.
    pub(crate) fn bytes(&self, id: StrId) -> &[u8] {
        &self.rec(id).key
    }

    /// [`hash_bytes`] of a held key.
    pub(crate) fn hash(&self, id: StrId) -> u64 {
        self.rec(id).hash
    }

    /// The id of `key` (whose [`hash_bytes`] is `hash`), if anything holds it.
    pub(crate) fn find(&self, hash: u64, key: &[u8]) -> Option<StrId> {
        let recs = &self.recs;
        self.index
            .find(hash, |&i| recs[i as usize].key[..] == *key)
            .map(|&i| StrId::new(i))
    }

    /// Takes one more hold of `key` (whose [`hash_bytes`] is `hash`), storing it if nothing
    /// held it.
    pub(crate) fn intern(&mut self, hash: u64, key: &[u8]) -> StrId {
        if let Some(id) = self.find(hash, key) {
            self.recs[id.index()].holders += 1;
            return id;
        }
        let rec = KeyRec {
            hash,
            key: KeyBytes::from_slice(key),
            holders: 1,
            xxh3_db: u32::MAX,
            xxh3: 0,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.recs[i as usize] = rec;
                i
            }
            None => {
                let i = u32::try_from(self.recs.len()).expect("fewer than 2^32 keys");
                self.recs.push(rec);
                i
            }
        };
        let recs = &self.recs;
        self.index
            .insert_unique(hash, i, |&j| recs[j as usize].hash);
        StrId::new(i)
    }

    /// Gives up one hold; the last frees the key and its id.
    pub(crate) fn release(&mut self, id: StrId) {
        let rec = &mut self.recs[id.index()];
        assert!(rec.holders > 0, "a key is released only while held");
        rec.holders -= 1;
        if rec.holders > 0 {
            return;
        }
        // An empty key never matches a lookup of another: every lookup compares bytes, and
        // this id is in no index entry any more.
        rec.key = KeyBytes::new();
        rec.xxh3_db = u32::MAX;
        let hash = rec.hash;
        match self.index.find_entry(hash, |&i| i == id.raw()) {
            Ok(e) => {
                e.remove();
            }
            Err(_) => unreachable!("a held key is in the index"),
        }
        self.free.push(id.raw());
    }

    /// XXH3 of a held key seeded with the number of database `db`, remembered for the next ask
    /// about the same database.
    pub(crate) fn xxh3(&mut self, id: StrId, db: usize) -> u64 {
        let rec = &mut self.recs[id.index()];
        if rec.xxh3_db as usize == db {
            return rec.xxh3;
        }
        let h = xxh3_64_with_seed(&rec.key, db as u64);
        if let Ok(d) = u32::try_from(db) {
            if d != u32::MAX {
                (rec.xxh3_db, rec.xxh3) = (d, h);
            }
        }
        h
    }

    /// Keys held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

/// Values: each string held under its id by everyone who holds the same bytes, as far as the
/// store notices. Values are not indexed by content (keeping such an index costs a probe of a
/// large table for every write, and another when a value is freed): a value is shared when it
/// equals one stored recently, which is what replicas applying their master's stream write.
/// A value written again long after (an RDB loaded by a late replica) may be stored twice;
/// nothing but memory depends on it.
#[derive(Debug)]
pub(crate) struct Values {
    recs: Recs,
    /// Recently stored values by a slice of their hash: a small table that stays in the cache.
    recent: Box<[Option<StrId>; Values::RECENT]>,
    /// The value interned last: the replicas of a master apply its write one after another,
    /// and comparing with it costs less than hashing.
    last: Option<StrId>,
}

impl Default for Values {
    fn default() -> Self {
        Values {
            recs: Recs::default(),
            recent: Box::new([None; Values::RECENT]),
            last: None,
        }
    }
}

impl Values {
    const RECENT: usize = 4096;

    /// The bytes of a held value.
    pub(crate) fn bytes(&self, id: StrId) -> &Rc<[u8]> {
        self.recs.bytes(id)
    }

    /// Takes one hold of `value`: the recent string with the same bytes, or a new one.
    pub(crate) fn intern(&mut self, value: &[u8]) -> StrId {
        if let Some(id) = self.last {
            if self.recs.get(id).bytes.as_deref() == Some(value) {
                self.recs.retain(id);
                return id;
            }
        }
        let id = self.intern_hashed(value);
        self.last = Some(id);
        id
    }

    fn intern_hashed(&mut self, value: &[u8]) -> StrId {
        let hash = hash_bytes(value);
        let slot = &mut self.recent[hash as usize % Values::RECENT];
        if let Some(id) = *slot {
            let rec = self.recs.get(id);
            if rec.hash == hash && rec.bytes.as_deref() == Some(value) {
                self.recs.retain(id);
                return id;
            }
        }
        let id = self.recs.add(hash, value);
        *slot = Some(id);
        id
    }

    /// Gives up one hold; the last frees the value (its id may be found in the recent table
    /// until another value takes its place there, and is checked against the bytes on use).
    pub(crate) fn release(&mut self, id: StrId) {
        if let Some(hash) = self.recs.release(id) {
            let slot = &mut self.recent[hash as usize % Values::RECENT];
            if *slot == Some(id) {
                *slot = None;
            }
            if self.last == Some(id) {
                self.last = None;
            }
        }
    }

    /// XXH3 of a held value with `seed`, remembered for the next ask with the same seed.
    pub(crate) fn xxh3(&mut self, id: StrId, seed: u64) -> u64 {
        self.recs.xxh3(id, seed)
    }

    /// Values held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.recs.live
    }
}

/// Full pages of replication streams (see [`super::replbuf`]), by page number and content
/// hash. A page is kept by the buffers that hold it; the table only points at it.
#[derive(Debug, Default)]
pub(crate) struct Pages {
    index: hashbrown::HashMap<(u64, u64), Weak<Vec<u8>>, FxBuildHasher>,
    /// Keys in the order they were stored, to forget pages nobody holds any more: streams drop
    /// their oldest pages first.
    order: VecDeque<(u64, u64)>,
}

/// The hash a page is filed under: of its length and its first and last
/// [`PAGE_SAMPLE_BYTES`] bytes. Candidates are compared whole before one is shared, so the hash
/// only has to tell pages apart, and a page's ends already do: the same page number of two
/// different streams differs at its ends too unless the streams differ only in the middle of
/// it, which costs that page its sharing and nothing else. Hashing the whole 4 KB page cost
/// more than every other step of storing it.
fn page_sample_hash(bytes: &[u8]) -> u64 {
    let n = bytes.len();
    if n <= 2 * PAGE_SAMPLE_BYTES {
        return xxh3_64(bytes);
    }
    xxh3_64_with_seed(&bytes[..PAGE_SAMPLE_BYTES], n as u64)
        ^ xxh3_64_with_seed(&bytes[n - PAGE_SAMPLE_BYTES..], !(n as u64)).rotate_left(1)
}

/// Bytes at each end of a page that [`page_sample_hash`] reads.
const PAGE_SAMPLE_BYTES: usize = 64;

impl Pages {
    /// The stored page equal to `bytes` (page `page` of some stream), or `bytes` stored as it.
    /// When a stored one is returned, `bytes` comes back too, for reuse.
    pub(crate) fn share(&mut self, page: u64, bytes: Vec<u8>) -> (Rc<Vec<u8>>, Option<Vec<u8>>) {
        let key = (page, page_sample_hash(&bytes));
        if let Some(stored) = self.index.get(&key).and_then(Weak::upgrade) {
            if *stored == bytes {
                return (stored, Some(bytes));
            }
            // Equal hashes, different bytes: this one stays unshared.
            return (Rc::new(bytes), None);
        }
        let page = Rc::new(bytes);
        self.index.insert(key, Rc::downgrade(&page));
        self.order.push_back(key);
        while let Some(front) = self.order.front() {
            match self.index.get(front) {
                Some(w) if w.strong_count() > 0 => break,
                Some(_) => {
                    self.index.remove(front);
                }
                None => {}
            }
            self.order.pop_front();
        }
        (page, None)
    }

    /// Pages the table points at (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
}

/// The store's tables.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) keys: Keys,
    pub(crate) values: Values,
    pub(crate) pages: Pages,
}

/// A handle on one store. Clones share it: the world gives the same one to every node of a
/// run, so a replica's dataset holds its master's keys and values rather than copies. A node
/// left alone (a test, the live driver) has one of its own.
#[derive(Clone, Debug, Default)]
pub struct SharedBytes(Rc<RefCell<Store>>);

impl SharedBytes {
    pub fn new() -> SharedBytes {
        SharedBytes::default()
    }

    /// The store, for one operation. No operation calls another while it holds it.
    pub(crate) fn store(&self) -> RefMut<'_, Store> {
        self.0.borrow_mut()
    }

    /// Whether two handles name the same store.
    pub fn same(&self, other: &SharedBytes) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// Distinct keys and values held (for tests).
    #[cfg(test)]
    pub(crate) fn strings_held(&self) -> (usize, usize) {
        let st = self.0.borrow();
        (st.keys.len(), st.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_stored_once_and_freed_with_its_last_holder() {
        let mut k = Keys::default();
        let h = |b: &[u8]| hash_bytes(b);
        let a = k.intern(h(b"key"), b"key");
        let b = k.intern(h(b"key"), b"key");
        assert_eq!(a, b);
        let c = k.intern(h(b"other"), b"other");
        assert_ne!(a, c);
        assert_eq!(k.len(), 2);
        k.release(a);
        assert_eq!(k.bytes(b), b"key", "one holder is left");
        k.release(b);
        assert_eq!(k.len(), 1);
        assert_eq!(k.find(h(b"key"), b"key"), None);
        // The freed id is used again for the next new key.
        let d = k.intern(h(b"third"), b"third");
        assert_eq!(d, a);
        assert_eq!(k.bytes(d), b"third");
        assert_eq!(k.find(h(b"other"), b"other"), Some(c));
    }

    #[test]
    fn a_value_equal_to_a_recent_one_shares_it_and_a_freed_one_is_never_confused() {
        let mut v = Values::default();
        let a = v.intern(b"value");
        assert_eq!(v.intern(b"value"), a);
        let c = v.intern(b"other");
        assert_ne!(c, a);
        assert_eq!(v.len(), 2);
        v.release(a);
        v.release(a);
        assert_eq!(v.len(), 1);
        // The id of the freed value is reused, and the old bytes do not find it.
        let d = v.intern(b"third");
        assert_eq!(d, a);
        let e = v.intern(b"value");
        assert_ne!(e, d);
        assert_eq!(&**v.bytes(d), b"third");
        assert_eq!(&**v.bytes(e), b"value");
    }

    #[test]
    fn the_remembered_hash_is_the_hash_of_the_bytes_with_that_seed() {
        let mut v = Values::default();
        let a = v.intern(b"abc");
        for seed in [1, 2, 1, 1] {
            assert_eq!(v.xxh3(a, seed), xxh3_64_with_seed(b"abc", seed));
        }
        v.release(a);
        let b = v.intern(b"xyz");
        assert_eq!(b, a, "the id is reused");
        assert_eq!(v.xxh3(b, 1), xxh3_64_with_seed(b"xyz", 1), "nothing stale");
    }

    #[test]
    fn an_equal_page_is_shared_and_a_forgotten_one_is_not_found() {
        let mut p = Pages::default();
        let (a, spare) = p.share(3, vec![1; 100]);
        assert!(spare.is_none());
        let (b, spare) = p.share(3, vec![1; 100]);
        assert!(Rc::ptr_eq(&a, &b) && spare.is_some());
        let (c, _) = p.share(4, vec![1; 100]);
        assert!(!Rc::ptr_eq(&a, &c), "another page number");
        let (d, _) = p.share(3, vec![2; 100]);
        assert!(!Rc::ptr_eq(&a, &d), "other bytes");
        drop((a, b));
        let (e, spare) = p.share(5, vec![9; 10]);
        assert!(spare.is_none());
        // Page 3's first bytes went with their holders, and the table forgot them.
        assert_eq!(p.len(), 3);
        let (f, spare) = p.share(3, vec![1; 100]);
        assert!(spare.is_none(), "stored anew");
        drop((c, d, e, f));
    }

    #[test]
    fn many_keys_with_colliding_prefixes_all_find_their_own_id() {
        let mut k = Keys::default();
        let ids: Vec<StrId> = (0..5000)
            .map(|n| {
                let key = format!("key:{n}");
                k.intern(hash_bytes(key.as_bytes()), key.as_bytes())
            })
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let key = format!("key:{n}");
            assert_eq!(
                k.find(hash_bytes(key.as_bytes()), key.as_bytes()),
                Some(*id)
            );
            assert_eq!(k.bytes(*id), key.as_bytes());
        }
        for id in ids.iter().step_by(2) {
            k.release(*id);
        }
        assert_eq!(k.len(), 2500);
        assert_eq!(k.find(hash_bytes(b"key:1"), b"key:1"), Some(ids[1]));
        assert_eq!(k.find(hash_bytes(b"key:0"), b"key:0"), None);
    }
}
