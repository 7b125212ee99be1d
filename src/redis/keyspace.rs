//! The dataset: numbered databases of string keys, with expiry, plus an optional synthetic bulk
//! part per database.
//!
//! Keys live in a hash table with a fixed-seed hasher (foldhash's `FixedState`), so iteration
//! order depends only on the sequence of operations, never on a random seed. (FxHash was
//! measured first: on short, similar keys like `key:1234` its weak mixing made lookups spend
//! most of their time comparing colliding keys.) Anything that must be canonical (the RDB,
//! the digest) does not depend on iteration order at all: the RDB sorts, the digest XORs.
//!
//! The synthetic bulk part describes N keys of fixed sizes that are never materialised. It counts
//! in DBSIZE, in the digest and in the RDB's size, so a 20 GB dataset costs no memory.

use std::collections::BTreeMap;

use foldhash::fast::FixedState;
use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap;
use smallvec::SmallVec;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// A key: inline when short (the common case), so a lookup compares bytes inside the table
/// instead of following a pointer to the heap (measured as a large share of lookup time).
pub type Key = SmallVec<[u8; 22]>;

/// A string value and its absolute expiry (unix milliseconds), if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
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

type Map = HashMap<Key, Entry, FixedState>;

/// One numbered database. It keeps its part of the dataset digest as it changes, so the digest
/// of a whole node costs one XOR per database to read.
#[derive(Clone, Debug, Default)]
pub struct Db {
    /// The database's number: each entry's hash is seeded with it.
    index: usize,
    map: Map,
    bulk: Option<Bulk>,
    /// The XOR of every entry's hash and the bulk part's (see [`Keyspace::digest`]).
    digest: u64,
}

/// An entry's contribution to the digest.
fn entry_hash(db: usize, key: &[u8], value: &[u8], expire_at_ms: Option<u64>) -> u64 {
    let key = xxh3_64_with_seed(key, db as u64);
    xxh3_64_with_seed(value, key ^ expire_at_ms.unwrap_or(u64::MAX))
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
    fn new(index: usize) -> Db {
        Db {
            index,
            ..Db::default()
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
        self.map.len() as u64 + self.bulk.map_or(0, |b| b.count)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    /// Changes the entry of `key` in place, if it exists, and returns what `f` returns. The
    /// digest follows the change.
    pub fn update<R>(&mut self, key: &[u8], f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let index = self.index;
        let e = self.map.get_mut(key)?;
        let before = entry_hash(index, key, &e.value, e.expire_at_ms);
        let r = f(e);
        self.digest ^= before ^ entry_hash(index, key, &e.value, e.expire_at_ms);
        Some(r)
    }

    /// Sets `key` to `value`, reusing the existing allocation when the key exists.
    pub fn set(&mut self, key: &[u8], value: &[u8], expire_at_ms: Option<u64>) {
        self.set_reporting_expired(key, value, expire_at_ms, 0);
    }

    /// Sets `key` with one hash and one probe, and reports whether it held a value that expired
    /// at or before `now_ms` (which the caller may need to propagate as a deletion).
    pub fn set_reporting_expired(
        &mut self,
        key: &[u8],
        value: &[u8],
        expire_at_ms: Option<u64>,
        now_ms: u64,
    ) -> bool {
        let new = entry_hash(self.index, key, value, expire_at_ms);
        match self.map.entry_ref(key) {
            EntryRef::Occupied(mut o) => {
                let e = o.get_mut();
                let expired = e.expire_at_ms.is_some_and(|t| t <= now_ms);
                self.digest ^= entry_hash(self.index, key, &e.value, e.expire_at_ms) ^ new;
                e.value.clear();
                e.value.extend_from_slice(value);
                e.expire_at_ms = expire_at_ms;
                expired
            }
            EntryRef::Vacant(v) => {
                self.digest ^= new;
                v.insert(Entry {
                    value: value.to_vec(),
                    expire_at_ms,
                });
                false
            }
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.remove(key)?;
        self.digest ^= entry_hash(self.index, key, &e.value, e.expire_at_ms);
        Some(e)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Keys with an expiry at or before `now_ms`, sorted.
    pub fn expired_keys(&self, now_ms: u64) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = self
            .map
            .iter()
            .filter(|(_, e)| e.expire_at_ms.is_some_and(|t| t <= now_ms))
            .map(|(k, _)| k.to_vec())
            .collect();
        keys.sort();
        keys
    }

    pub fn expires_count(&self) -> u64 {
        self.map
            .values()
            .filter(|e| e.expire_at_ms.is_some())
            .count() as u64
    }

    /// Every materialised entry, in the table's order. That order depends only on the sequence
    /// of writes (the hasher has no seed), so it is the same on every run of a scenario.
    pub fn entries(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.map.iter()
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.bulk = None;
        self.digest = 0;
    }

    pub fn materialised_len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Bytes of keys and values held (materialised part only).
    pub fn materialised_bytes(&self) -> u64 {
        self.map
            .iter()
            .map(|(k, e)| (k.len() + e.value.len()) as u64)
            .sum()
    }
}

/// All databases of a node. The first ones (up to Redis's default 16) sit in a vector the
/// hot path indexes; higher-numbered ones exist once written. A node configured with
/// `databases 2147483647` costs memory only for the databases it uses, and reading one never
/// written finds it empty.
#[derive(Clone, Debug)]
pub struct Keyspace {
    low: Vec<Db>,
    high: BTreeMap<usize, Db>,
}

/// What reading an untouched database sees.
static EMPTY_DB: std::sync::LazyLock<Db> = std::sync::LazyLock::new(Db::default);

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        Keyspace {
            low: (0..databases.clamp(1, 16)).map(Db::new).collect(),
            high: BTreeMap::new(),
        }
    }

    pub fn db(&self, i: usize) -> &Db {
        match self.low.get(i) {
            Some(db) => db,
            None => self.high.get(&i).unwrap_or(&EMPTY_DB),
        }
    }

    pub fn db_mut(&mut self, i: usize) -> &mut Db {
        match self.low.get_mut(i) {
            Some(db) => db,
            None => self.high.entry(i).or_insert_with(|| Db::new(i)),
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
            for (k, e) in &db.map {
                d ^= entry_hash(i, k, &e.value, e.expire_at_ms);
            }
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
                    k.db_mut(db)
                        .update(key.as_bytes(), |e| e.value.extend_from_slice(b"+"));
                }
                80..=89 => {
                    k.db_mut(db)
                        .update(key.as_bytes(), |e| e.expire_at_ms = expiry);
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
