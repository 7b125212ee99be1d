//! The dataset: numbered databases of string keys, with expiry, plus an optional synthetic bulk
//! part per database.
//!
//! A database is an index of its own over bytes kept in a store that many nodes may share
//! ([`super::shared`]): each entry is 8 bytes in an open-addressing table (hashbrown's), the ids of
//! its key and its value, and expiry times sit apart, as in Redis's `expires` dict. A hundred
//! replicas of one master hold each key and value once between them, and applying a write
//! touches one small slot per node rather than a copy of the value.
//!
//! The table files each key under a fixed-seed hash of its bytes (foldhash's `FixedState`), so
//! where an entry sits, and the order in which the RDB lists entries, depend only on the
//! sequence of writes, never on a random seed, and are exactly those of a
//! `HashMap<key bytes, entry, FixedState>` after the same writes (a test holds the two side by
//! side). FxHash was measured first: on short, similar keys like `key:1234` its weak mixing
//! made lookups spend most of their time comparing colliding keys. The digest does not depend
//! on order at all: it XORs.
//!
//! The synthetic bulk part describes N keys of fixed sizes that are never materialised. It counts
//! in DBSIZE, in the digest and in the RDB's size, so a 20 GB dataset costs no memory.

use std::collections::BTreeMap;
use std::rc::Rc;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use xxhash_rust::xxh3::xxh3_64;

use super::shared::{hash_bytes, SharedBytes, Store, StrId};

/// A string value and its absolute expiry (unix milliseconds), if any: what a lookup returns.
/// The value is shared with every other holder of the same bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: Rc<[u8]>,
    pub expire_at_ms: Option<u64>,
}

/// N keys that exist only as a description: `bulk:<index>` padded to `key_bytes`, each holding
/// `value_bytes` bytes. Workload keys never use the `bulk:` prefix.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Bulk {
    pub count: u64,
    pub key_bytes: u32,
    pub value_bytes: u32,
}

impl Bulk {
    /// The exact RDB encoding size of one entry: type byte, length-prefixed key and value.
    pub fn entry_rdb_bytes(&self) -> u64 {
        1 + rdb_len_bytes(u64::from(self.key_bytes))
            + u64::from(self.key_bytes)
            + rdb_len_bytes(u64::from(self.value_bytes))
            + u64::from(self.value_bytes)
    }

    pub fn rdb_bytes(&self) -> u64 {
        self.count * self.entry_rdb_bytes()
    }

    /// Approximate memory the keys would take in Redis (key, value and per-key overhead), for
    /// the fork-time cost and `used-mem`.
    pub fn memory_bytes(&self) -> u64 {
        self.count * (u64::from(self.key_bytes) + u64::from(self.value_bytes) + 64)
    }
}

/// Bytes of an RDB length prefix for `len` (rdb.c `rdbSaveLen`).
pub fn rdb_len_bytes(len: u64) -> u64 {
    if len < 1 << 6 {
        1
    } else if len < 1 << 14 {
        2
    } else if len <= u64::from(u32::MAX) {
        5
    } else {
        9
    }
}

/// Value ids by key id: a two-level array, so finding a key's value is one read of memory the
/// node owns once the key's id is known (a hash table costs two: its control bytes and its
/// slot, each a cache miss on a dataset larger than the cache, for every node a write reaches).
/// Pages exist only where the database has keys.
#[derive(Debug, Default)]
struct KeyMap {
    pages: Vec<Option<Box<[Option<StrId>; KeyMap::PAGE]>>>,
}

impl KeyMap {
    const PAGE: usize = 512;

    fn split(key: StrId) -> (usize, usize) {
        let k = key.index();
        (k / Self::PAGE, k % Self::PAGE)
    }

    fn get(&self, key: StrId) -> Option<StrId> {
        let (p, i) = Self::split(key);
        self.pages.get(p)?.as_ref()?[i]
    }

    /// Sets the value of `key`, returning the one it had.
    fn insert(&mut self, key: StrId, value: StrId) -> Option<StrId> {
        let (p, i) = Self::split(key);
        if self.pages.len() <= p {
            self.pages.resize_with(p + 1, || None);
        }
        self.pages[p].get_or_insert_with(|| Box::new([None; Self::PAGE]))[i].replace(value)
    }

    /// The value slot of `key`, if it has a value.
    fn get_mut(&mut self, key: StrId) -> Option<&mut StrId> {
        let (p, i) = Self::split(key);
        self.pages.get_mut(p)?.as_mut()?[i].as_mut()
    }

    fn remove(&mut self, key: StrId) -> Option<StrId> {
        let (p, i) = Self::split(key);
        self.pages.get_mut(p)?.as_mut()?[i].take()
    }

    fn clear(&mut self) {
        self.pages.clear();
    }
}

/// One numbered database. It keeps its part of the dataset digest as it changes, so the digest
/// of a whole node costs one XOR per database to read.
#[derive(Debug)]
pub struct Db {
    /// The database's number: each entry's hash is seeded with it.
    index: usize,
    /// The keys, in a table that lays them out as a `HashMap` of the key bytes does after the
    /// same writes: it gives the RDB its order. Only adding and removing keys touch it.
    order: HashTable<StrId>,
    /// Each key's value.
    values: KeyMap,
    /// Expiry times by key, for the keys that have one.
    expires: hashbrown::HashMap<StrId, u64, FxBuildHasher>,
    bulk: Option<Bulk>,
    /// The XOR of every entry's hash and the bulk part's (see [`Keyspace::digest`]).
    digest: u64,
    shared: SharedBytes,
}

/// An entry's contribution to the digest: XXH3 of the value seeded with XXH3 of the key (seeded
/// with the database number) XOR the expiry. The store remembers both hashes with the strings,
/// so the replicas that write the same entry after their master compute neither.
fn entry_hash(
    st: &mut Store,
    db: usize,
    key: StrId,
    value: StrId,
    expire_at_ms: Option<u64>,
) -> u64 {
    let key = st.keys.xxh3(key, db);
    st.values
        .xxh3(value, key ^ expire_at_ms.unwrap_or(u64::MAX))
}

/// The synthetic bulk part's contribution to the digest.
fn bulk_hash(db: usize, b: Bulk) -> u64 {
    let mut bytes = b"bulk".to_vec();
    for v in [
        db as u64,
        b.count,
        u64::from(b.key_bytes),
        u64::from(b.value_bytes),
    ] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    xxh3_64(&bytes)
}

impl Db {
    fn new(index: usize, shared: SharedBytes) -> Db {
        Db {
            index,
            order: HashTable::new(),
            values: KeyMap::default(),
            expires: hashbrown::HashMap::default(),
            bulk: None,
            digest: 0,
            shared,
        }
    }

    /// The synthetic part, if any.
    pub fn bulk(&self) -> Option<Bulk> {
        self.bulk
    }

    pub fn set_bulk(&mut self, bulk: Option<Bulk>) {
        if let Some(old) = self.bulk {
            self.digest ^= bulk_hash(self.index, old);
        }
        if let Some(new) = bulk {
            self.digest ^= bulk_hash(self.index, new);
        }
        self.bulk = bulk;
    }

    /// This database's part of the digest.
    pub fn digest(&self) -> u64 {
        self.digest
    }
    pub fn len(&self) -> u64 {
        self.order.len() as u64 + self.bulk.map_or(0, |b| b.count)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of `key` and of its value here, if present.
    fn find(&self, st: &Store, key: &[u8]) -> Option<(StrId, StrId)> {
        if self.order.is_empty() {
            return None;
        }
        let id = st.keys.find(hash_bytes(key), key)?;
        Some((id, self.values.get(id)?))
    }

    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        let st = self.shared.store();
        let (key, value) = self.find(&st, key)?;
        Some(Entry {
            value: st.values.bytes(value).clone(),
            expire_at_ms: self.expire_of(key),
        })
    }

    fn expire_of(&self, key: StrId) -> Option<u64> {
        if self.expires.is_empty() {
            None
        } else {
            self.expires.get(&key).copied()
        }
    }

    fn put_expire(&mut self, key: StrId, expire_at_ms: Option<u64>) {
        match expire_at_ms {
            Some(t) => {
                self.expires.insert(key, t);
            }
            None if !self.expires.is_empty() => {
                self.expires.remove(&key);
            }
            None => {}
        }
    }

    /// Sets the expiry of `key`, if it exists, and returns the one it had. The digest follows.
    pub fn set_expire(&mut self, key: &[u8], expire_at_ms: Option<u64>) -> Option<Option<u64>> {
        let shared = self.shared.clone();
        let mut st = shared.store();
        let (key, value) = self.find(&st, key)?;
        let before = self.expire_of(key);
        self.digest ^= entry_hash(&mut st, self.index, key, value, before)
            ^ entry_hash(&mut st, self.index, key, value, expire_at_ms);
        self.put_expire(key, expire_at_ms);
        Some(before)
    }

    /// Appends `tail` to the value of `key`, if it exists, and returns the new length. The
    /// appended value is a new string: whoever held the old one still sees it.
    pub fn append(&mut self, key: &[u8], tail: &[u8]) -> Option<usize> {
        let old = self.get(key)?;
        let mut value = old.value.to_vec();
        value.extend_from_slice(tail);
        self.set(key, &value, old.expire_at_ms);
        Some(value.len())
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &[u8], value: &[u8], expire_at_ms: Option<u64>) {
        self.set_reporting_expired(key, value, expire_at_ms, 0);
    }

    /// Sets `key`, and reports whether it held a value that expired at or before `now_ms`
    /// (which the caller may need to propagate as a deletion). A key that exists costs one
    /// read of this node's memory: its slot in the value map.
    pub fn set_reporting_expired(
        &mut self,
        key: &[u8],
        value: &[u8],
        expire_at_ms: Option<u64>,
        now_ms: u64,
    ) -> bool {
        let shared = self.shared.clone();
        let mut st = shared.store();
        let hash = hash_bytes(key);
        let value = st.values.intern(value);
        let existing = st.keys.find(hash, key).and_then(|id| {
            let slot = self.values.get_mut(id)?;
            Some((id, std::mem::replace(slot, value)))
        });
        match existing {
            Some((key, old)) => {
                let before = self.expire_of(key);
                self.digest ^= entry_hash(&mut st, self.index, key, old, before)
                    ^ entry_hash(&mut st, self.index, key, value, expire_at_ms);
                st.values.release(old);
                self.put_expire(key, expire_at_ms);
                before.is_some_and(|t| t <= now_ms)
            }
            None => {
                let key = st.keys.intern(hash, key);
                let keys = &st.keys;
                // Inserted as a hash map inserts a new key (its entry API makes no room before
                // it knows the key is new), so the table grows at the same write and lays its
                // keys out the same.
                self.order.insert_unique(hash, key, |&k| keys.hash(k));
                self.values.insert(key, value);
                self.digest ^= entry_hash(&mut st, self.index, key, value, expire_at_ms);
                self.put_expire(key, expire_at_ms);
                false
            }
        }
    }

    /// Removes `key`; returns whether it existed.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        if self.order.is_empty() {
            return false;
        }
        let shared = self.shared.clone();
        let mut st = shared.store();
        let hash = hash_bytes(key);
        let Some(id) = st.keys.find(hash, key) else {
            return false;
        };
        let Some(value) = self.values.remove(id) else {
            return false;
        };
        match self.order.find_entry(hash, |&k| k == id) {
            Ok(e) => {
                e.remove();
            }
            Err(_) => unreachable!("a key with a value is in the order table"),
        }
        let expire = if self.expires.is_empty() {
            None
        } else {
            self.expires.remove(&id)
        };
        self.digest ^= entry_hash(&mut st, self.index, id, value, expire);
        st.values.release(value);
        st.keys.release(id);
        true
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let st = self.shared.store();
        self.find(&st, key).is_some()
    }

    /// Keys with an expiry at or before `now_ms`, sorted.
    pub fn expired_keys(&self, now_ms: u64) -> Vec<Vec<u8>> {
        let st = self.shared.store();
        let mut keys: Vec<Vec<u8>> = self
            .expires
            .iter()
            .filter(|&(_, &t)| t <= now_ms)
            .map(|(&k, _)| st.keys.bytes(k).to_vec())
            .collect();
        keys.sort();
        keys
    }

    pub fn expires_count(&self) -> u64 {
        self.expires.len() as u64
    }

    /// The value id of a key in the order table.
    fn value_of(&self, key: StrId) -> StrId {
        self.values
            .get(key)
            .expect("a key in the order table has a value")
    }

    /// Calls `f` with every materialised entry (key, value, expiry), in the order table's order.
    /// That order depends only on the sequence of writes (the hash has no seed), so it is the
    /// same on every run of a scenario.
    pub fn for_each_entry(&self, mut f: impl FnMut(&[u8], &[u8], Option<u64>)) {
        let st = self.shared.store();
        for &key in &self.order {
            f(
                st.keys.bytes(key),
                &st.values.bytes(self.value_of(key))[..],
                self.expire_of(key),
            );
        }
    }

    /// Every materialised entry, in the order of [`for_each_entry`](Self::for_each_entry), as
    /// owned keys (for tests and tools that compare datasets).
    pub fn entries(&self) -> Vec<(Vec<u8>, Entry)> {
        let st = self.shared.store();
        self.order
            .iter()
            .map(|&key| {
                let entry = Entry {
                    value: st.values.bytes(self.value_of(key)).clone(),
                    expire_at_ms: self.expire_of(key),
                };
                (st.keys.bytes(key).to_vec(), entry)
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.release_all();
        self.order.clear();
        self.values.clear();
        self.expires.clear();
        self.bulk = None;
        self.digest = 0;
    }

    /// Gives up the hold of every entry on its key and value.
    fn release_all(&mut self) {
        if self.order.is_empty() {
            return;
        }
        let mut st = self.shared.store();
        for &key in &self.order {
            st.values.release(self.value_of(key));
            st.keys.release(key);
        }
    }

    pub fn materialised_len(&self) -> u64 {
        self.order.len() as u64
    }

    /// Bytes of keys and values held (materialised part only).
    pub fn materialised_bytes(&self) -> u64 {
        let st = self.shared.store();
        self.order
            .iter()
            .map(|&k| (st.keys.bytes(k).len() + st.values.bytes(self.value_of(k)).len()) as u64)
            .sum()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// All databases of a node. The first ones (up to Redis's default 16) sit in a vector the
/// hot path indexes; higher-numbered ones exist once written. A node configured with
/// `databases 2147483647` costs memory only for the databases it uses, and reading one never
/// written finds it empty.
#[derive(Debug)]
pub struct Keyspace {
    low: Vec<Db>,
    high: BTreeMap<usize, Db>,
    /// What reading an untouched database sees.
    empty: Db,
    shared: SharedBytes,
}

impl Keyspace {
    /// An empty keyspace with a store of its own.
    pub fn new(databases: usize) -> Keyspace {
        Keyspace::new_in(databases, &SharedBytes::new())
    }

    /// An empty keyspace whose keys and values live in `shared`.
    pub fn new_in(databases: usize, shared: &SharedBytes) -> Keyspace {
        Keyspace {
            low: (0..databases.clamp(1, 16))
                .map(|i| Db::new(i, shared.clone()))
                .collect(),
            high: BTreeMap::new(),
            empty: Db::new(0, shared.clone()),
            shared: shared.clone(),
        }
    }

    /// The store the keyspace's keys and values live in.
    pub fn shared(&self) -> &SharedBytes {
        &self.shared
    }

    pub fn db(&self, i: usize) -> &Db {
        match self.low.get(i) {
            Some(db) => db,
            None => self.high.get(&i).unwrap_or(&self.empty),
        }
    }

    pub fn db_mut(&mut self, i: usize) -> &mut Db {
        match self.low.get_mut(i) {
            Some(db) => db,
            None => {
                let shared = &self.shared;
                self.high
                    .entry(i)
                    .or_insert_with(|| Db::new(i, shared.clone()))
            }
        }
    }
    /// Every database that exists, with its number, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Db)> {
        self.low
            .iter()
            .enumerate()
            .chain(self.high.iter().map(|(&i, db)| (i, db)))
    }

    /// The numbers of the databases that exist, ascending (for loops that change them).
    pub fn indices(&self) -> Vec<usize> {
        self.iter().map(|(i, _)| i).collect()
    }

    /// Total keys in all databases.
    pub fn len(&self) -> u64 {
        self.iter().map(|(_, db)| db.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes everything; returns how many keys were removed.
    pub fn flush(&mut self) -> u64 {
        let n = self.len();
        for db in &mut self.low {
            db.clear();
        }
        self.high.clear();
        n
    }

    /// An order-independent digest of the whole dataset: the XOR of a hash of every
    /// `(db, key, value, expiry)`, like `DEBUG DIGEST`. Two nodes with equal data have equal
    /// digests whatever order their keys were written in. An empty dataset digests to 0.
    ///
    /// Each entry hashes as XXH3 of the value, seeded with XXH3 of the key (seeded with the
    /// database number) XOR the expiry (`u64::MAX` for none). XXH3 hashes the length with the
    /// bytes, so no two different entries share an input. Every write keeps its database's part
    /// up to date, so reading it costs one XOR per database.
    pub fn digest(&self) -> u64 {
        self.iter().fold(0, |d, (_, db)| d ^ db.digest)
    }

    /// The digest recomputed from every entry, for tests of the incremental one.
    #[cfg(test)]
    pub fn digest_from_scratch(&self) -> u64 {
        let mut d = 0u64;
        for (i, db) in self.iter() {
            db.for_each_entry(|k, v, exp| {
                let k = xxhash_rust::xxh3::xxh3_64_with_seed(k, i as u64);
                d ^= xxhash_rust::xxh3::xxh3_64_with_seed(v, k ^ exp.unwrap_or(u64::MAX));
            });
            if let Some(b) = db.bulk {
                d ^= bulk_hash(i, b);
            }
        }
        d
    }

    /// Approximate memory of the dataset, for fork cost and `used-mem`.
    pub fn memory_bytes(&self) -> u64 {
        self.iter()
            .map(|(_, db)| {
                db.materialised_bytes()
                    + db.materialised_len() * 64
                    + db.bulk.map_or(0, |b| b.memory_bytes())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_ignores_write_order_and_sees_every_field() {
        let mut a = Keyspace::new(16);
        let mut b = Keyspace::new(16);
        a.db_mut(0).set(b"x", b"1", None);
        a.db_mut(0).set(b"y", b"2", None);
        b.db_mut(0).set(b"y", b"2", None);
        b.db_mut(0).set(b"x", b"1", None);
        assert_eq!(a.digest(), b.digest());
        b.db_mut(0).set(b"x", b"1", Some(5));
        assert_ne!(a.digest(), b.digest());
        b.db_mut(0).set(b"x", b"1", None);
        b.db_mut(1).set(b"z", b"", None);
        assert_ne!(a.digest(), b.digest());
        assert_eq!(Keyspace::new(16).digest(), 0);
    }

    #[test]
    fn the_incremental_digest_equals_one_computed_from_scratch_after_any_writes() {
        let mut rng = crate::seed::SeedStream::derive(7, "digest");
        let mut k = Keyspace::new(16);
        for step in 0..20_000 {
            let db = [0, 1, 15, 99][rng.below(4) as usize];
            let key = format!("k{}", rng.below(50));
            let value = "v".repeat(rng.below(5) as usize);
            let expiry = (rng.below(3) == 0).then(|| rng.below(10));
            match rng.below(100) {
                0..=49 => k.db_mut(db).set(key.as_bytes(), value.as_bytes(), expiry),
                50..=64 => {
                    k.db_mut(db).remove(key.as_bytes());
                }
                65..=79 => {
                    k.db_mut(db).append(key.as_bytes(), b"+");
                }
                80..=89 => {
                    k.db_mut(db).set_expire(key.as_bytes(), expiry);
                }
                90..=95 => {
                    k.db_mut(db)
                        .set_reporting_expired(key.as_bytes(), b"x", None, 5);
                }
                96 => k.db_mut(db).set_bulk(Some(Bulk {
                    count: rng.below(9),
                    key_bytes: 16,
                    value_bytes: 3,
                })),
                97 => k.db_mut(db).set_bulk(None),
                98 => k.db_mut(db).clear(),
                _ => {
                    k.flush();
                }
            }
            assert_eq!(k.digest(), k.digest_from_scratch(), "after step {step}");
        }
        assert_ne!(k.digest(), 0, "the dataset ends non-empty");
    }

    /// The keyspace beside the `HashMap` it replaced (keys in the map, hashed the same): after
    /// any writes, removals and clears, including writes to existing keys of a full table, both
    /// list their entries in the same order, so every RDB is byte for byte what it was.
    #[test]
    fn entries_come_in_the_order_of_a_hash_map_after_the_same_writes() {
        use hashbrown::hash_map::EntryRef;
        type Map = hashbrown::HashMap<Vec<u8>, Vec<u8>, foldhash::fast::FixedState>;
        for seed in 0..6 {
            let mut rng = crate::seed::SeedStream::derive(seed, "order");
            let mut k = Keyspace::new(1);
            let mut m = Map::default();
            let keys = [3, 14, 28, 200, 3000, 7][seed as usize];
            for step in 0..30_000 {
                let key = format!("key:{}", rng.below(keys)).into_bytes();
                let value = format!("v{step}").into_bytes();
                match rng.below(100) {
                    0..=69 => {
                        k.db_mut(0).set(&key, &value, None);
                        match m.entry_ref(key.as_slice()) {
                            EntryRef::Occupied(mut o) => *o.get_mut() = value,
                            EntryRef::Vacant(v) => {
                                v.insert(value);
                            }
                        }
                    }
                    70..=97 => {
                        assert_eq!(k.db_mut(0).remove(&key), m.remove(&key).is_some());
                    }
                    _ if rng.below(20) == 0 => {
                        k.db_mut(0).clear();
                        m.clear();
                    }
                    _ => {}
                }
                if step % 97 == 0 {
                    let mut ours = Vec::new();
                    k.db(0)
                        .for_each_entry(|key, v, _| ours.push((key.to_vec(), v.to_vec())));
                    let theirs: Vec<(Vec<u8>, Vec<u8>)> =
                        m.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
                    assert_eq!(ours, theirs, "seed {seed}, step {step}");
                }
            }
        }
    }

    #[test]
    fn keyspaces_in_one_store_share_their_bytes_and_free_them_with_the_last_holder() {
        let shared = SharedBytes::new();
        let mut a = Keyspace::new_in(16, &shared);
        let mut b = Keyspace::new_in(16, &shared);
        a.db_mut(0).set(b"k", b"v1", None);
        b.db_mut(0).set(b"k", b"v1", None);
        b.db_mut(3).set(b"k", b"v1", Some(9));
        assert_eq!(
            shared.strings_held(),
            (1, 1),
            "one key and one value for three entries"
        );
        a.db_mut(0).set(b"k", b"v2", None);
        assert_eq!(shared.strings_held(), (1, 2));
        assert_eq!(
            &*b.db(0).get(b"k").unwrap().value,
            b"v1",
            "b keeps its own value"
        );
        assert_eq!(b.db(3).get(b"k").unwrap().expire_at_ms, Some(9));
        assert_eq!(a.db_mut(0).append(b"k", b"+"), Some(3));
        assert_eq!(&*a.db(0).get(b"k").unwrap().value, b"v2+");
        assert_eq!(
            shared.strings_held(),
            (1, 2),
            "v2 had one holder and is gone"
        );
        b.flush();
        assert_eq!(shared.strings_held(), (1, 1));
        drop(a);
        assert_eq!(shared.strings_held(), (0, 0));
        assert_eq!(b.digest(), 0);
    }

    #[test]
    fn expiry_lives_beside_the_entry_and_counts_in_the_digest() {
        let mut k = Keyspace::new(16);
        let db = k.db_mut(0);
        db.set(b"a", b"1", Some(10));
        db.set(b"b", b"1", Some(30));
        db.set(b"c", b"1", None);
        assert_eq!(db.expires_count(), 2);
        assert_eq!(db.expired_keys(20), vec![b"a".to_vec()]);
        assert_eq!(db.set_expire(b"c", Some(5)), Some(None));
        assert_eq!(db.expired_keys(20), vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(db.set_expire(b"a", None), Some(Some(10)));
        assert_eq!(db.set_expire(b"zz", None), None, "no such key");
        assert!(
            db.set_reporting_expired(b"c", b"2", None, 5),
            "c expired at 5"
        );
        assert!(
            !db.set_reporting_expired(b"b", b"2", None, 5),
            "b expires at 30"
        );
        assert_eq!(db.expires_count(), 0);
        assert!(db.remove(b"b") && !db.remove(b"b"));
        assert_eq!(k.digest(), k.digest_from_scratch());
    }

    #[test]
    fn databases_cost_memory_only_once_written() {
        let mut k = Keyspace::new(2_000_000_000);
        assert_eq!(k.indices().len(), 16);
        assert!(k.db(1_999_999_999).is_empty());
        let before = k.digest();
        k.db_mut(1_999_999_999).set(b"x", b"1", None);
        assert_eq!(k.indices().len(), 17, "one more database, not two billion");
        assert_eq!(k.indices()[16], 1_999_999_999);
        assert_eq!((k.len(), k.db(1_999_999_999).len()), (1, 1));
        assert_ne!(k.digest(), before);
        assert_eq!(k.flush(), 1);
        assert_eq!(Keyspace::new(1).indices(), [0]);
    }

    #[test]
    fn bulk_keys_count_without_being_materialised() {
        let mut k = Keyspace::new(16);
        k.db_mut(0).set_bulk(Some(Bulk {
            count: 1_000_000,
            key_bytes: 16,
            value_bytes: 1000,
        }));
        assert_eq!(k.len(), 1_000_000);
        // type 1 + len 1 + 16 + len 2 + 1000
        assert_eq!(k.db(0).bulk().unwrap().entry_rdb_bytes(), 1020);
        assert_ne!(k.digest(), 0);
    }

    #[test]
    fn rdb_length_prefixes_follow_rdbsavelen() {
        assert_eq!(rdb_len_bytes(63), 1);
        assert_eq!(rdb_len_bytes(64), 2);
        assert_eq!(rdb_len_bytes(16383), 2);
        assert_eq!(rdb_len_bytes(16384), 5);
        assert_eq!(rdb_len_bytes(1 << 32), 9);
    }
}
