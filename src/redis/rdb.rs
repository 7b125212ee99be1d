//! RDB files: encoding a snapshot of the keyspace and decoding one, as Redis 7.2 does for string
//! keys (RDB version 11).
//!
//! Layout written: `REDIS0011`; AUX fields `redis-ver`, `redis-bits`, `ctime`, `used-mem`,
//! `repl-stream-db`, `repl-id`, `repl-offset`, `aof-base`; then per non-empty database
//! `SELECTDB`, `RESIZEDB` and its entries (each optionally preceded by `EXPIRETIME_MS`); `EOF`; the 8-byte CRC-64 (Jones) of everything before it.
//!
//! Strings are saved as Redis saves them without compression (`rdbcompression no`): integers of up
//! to 11 characters use the INT8/16/32 encodings, anything else is length-prefixed raw bytes.
//!
//! A database's synthetic bulk part is announced in an extra AUX field, `replsim-bulk`
//! (`db:count:key_bytes:value_bytes`), which Redis would ignore as unknown, and its entries are
//! an opaque run of exactly their encoded size placed after that database's materialised entries.
//! A file with an opaque run carries a zero checksum, which loaders treat as "not computed", as
//! Redis does with `rdbchecksum no`.

use super::keyspace::{rdb_len_bytes, Bulk, Keyspace};
use super::node::REPL_OFFSET_MAX;
use super::resp::string2ll;
use super::shared::SharedBytes;

use super::config::RedisVersion;

/// The newest RDB format this module reads (Redis 8.0's, the newest release modelled; the
/// records written are all 7.2's, which version 12 keeps); what it writes follows
/// [`SaveMeta::redis_version`].
pub const RDB_VERSION: u32 = 12;

const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;
const OP_FUNCTION2: u8 = 0xF5;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const TYPE_STRING: u8 = 0;

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// A run of an RDB payload: real bytes or an opaque run (the synthetic bulk entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Bytes(Vec<u8>),
    Opaque(u64),
}

/// An RDB as a sequence of parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    pub parts: Vec<Part>,
}

impl Payload {
    /// The payload's size in bytes. Saturates rather than wraps: a transfer refuses a payload
    /// larger than `i64::MAX` before it gets there, so saturation is never reached by one that
    /// is loaded.
    pub fn len(&self) -> u64 {
        self.parts.iter().fold(0u64, |sum, p| {
            sum.saturating_add(match p {
                Part::Bytes(b) => b.len() as u64,
                Part::Opaque(n) => *n,
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends real bytes, merging with a preceding byte part.
    pub fn push_bytes(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        match self.parts.last_mut() {
            Some(Part::Bytes(v)) => v.extend_from_slice(b),
            _ => self.parts.push(Part::Bytes(b.to_vec())),
        }
    }

    /// Appends an opaque run, merging with a preceding opaque part.
    pub fn push_opaque(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        match self.parts.last_mut() {
            Some(Part::Opaque(m)) => *m = m.saturating_add(n),
            _ => self.parts.push(Part::Opaque(n)),
        }
    }

    /// The part containing byte `offset` and the offset within it, for sending from a position.
    pub fn locate(&self, mut offset: u64) -> Option<(usize, u64)> {
        for (i, p) in self.parts.iter().enumerate() {
            let len = match p {
                Part::Bytes(b) => b.len() as u64,
                Part::Opaque(n) => *n,
            };
            if offset < len {
                return Some((i, offset));
            }
            offset -= len;
        }
        None
    }
}

/// Replication information stored in an RDB (`rdbSaveInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplInfo {
    pub stream_db: u32,
    pub replid: String,
    pub offset: u64,
}

/// Metadata written into the AUX fields.
#[derive(Clone, Debug)]
pub struct SaveMeta {
    pub ctime_secs: u64,
    pub used_mem: u64,
    pub repl: Option<ReplInfo>,
    pub checksum: bool,
    /// The release whose RDB format and `redis-ver` are written.
    pub redis_version: RedisVersion,
}

/// Encodes `ks` as an RDB.
pub fn encode(ks: &Keyspace, meta: &SaveMeta) -> Payload {
    let mut out = Vec::with_capacity(256);
    let version = meta.redis_version;
    out.extend_from_slice(format!("REDIS{:04}", version.rdb_version()).as_bytes());
    // Valkey names its own version in a field of its own (rdb.c `rdbSaveInfoAuxFields`).
    match version.valkey_version() {
        Some(v) => aux(&mut out, b"valkey-ver", v.as_bytes()),
        None => aux(&mut out, b"redis-ver", version.server_version().as_bytes()),
    }
    aux(&mut out, b"redis-bits", b"64");
    aux(&mut out, b"ctime", meta.ctime_secs.to_string().as_bytes());
    aux(&mut out, b"used-mem", meta.used_mem.to_string().as_bytes());
    if let Some(r) = &meta.repl {
        aux(
            &mut out,
            b"repl-stream-db",
            r.stream_db.to_string().as_bytes(),
        );
        aux(&mut out, b"repl-id", r.replid.as_bytes());
        aux(&mut out, b"repl-offset", r.offset.to_string().as_bytes());
    }
    aux(&mut out, b"aof-base", b"0");
    for (i, db) in ks.iter() {
        if let Some(b) = db.bulk().filter(|b| b.count > 0) {
            let v = format!("{i}:{}:{}:{}", b.count, b.key_bytes, b.value_bytes);
            aux(&mut out, b"replsim-bulk", v.as_bytes());
        }
    }
    let mut payload = Payload::default();
    for (i, db) in ks.iter() {
        if db.is_empty() {
            continue;
        }
        out.push(OP_SELECTDB);
        save_len(&mut out, i as u64);
        out.push(OP_RESIZEDB);
        save_len(&mut out, db.len());
        save_len(&mut out, db.expires_count());
        db.for_each_entry(|key, value, expire_at_ms| {
            if let Some(ms) = expire_at_ms {
                out.push(OP_EXPIRETIME_MS);
                out.extend_from_slice(&ms.to_le_bytes());
            }
            out.push(TYPE_STRING);
            save_string(&mut out, key);
            save_string(&mut out, value);
        });
        if let Some(b) = db.bulk().filter(|b| b.count > 0) {
            payload.push_bytes(&out);
            out.clear();
            payload.push_opaque(b.rdb_bytes());
        }
    }
    out.push(OP_EOF);
    let has_opaque = payload.parts.iter().any(|p| matches!(p, Part::Opaque(_)));
    payload.push_bytes(&out);
    let crc = if meta.checksum && !has_opaque {
        match &payload.parts[..] {
            [Part::Bytes(all)] => crc64(0, all),
            _ => unreachable!("a payload without opaque parts is one byte part"),
        }
    } else {
        0
    };
    payload.push_bytes(&crc.to_le_bytes());
    payload
}

fn aux(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.push(OP_AUX);
    save_string(out, key);
    save_string(out, value);
}

/// `rdbSaveLen`.
pub fn save_len(out: &mut Vec<u8>, len: u64) {
    match rdb_len_bytes(len) {
        1 => out.push(len as u8),
        2 => {
            out.push(0x40 | (len >> 8) as u8);
            out.push(len as u8);
        }
        5 => {
            out.push(0x80);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(0x81);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// The integer a string encodes, if it is the canonical form of one that fits 32 bits
/// (`rdbTryIntegerEncoding`: at most 11 characters, and converting back gives the same text).
fn as_int_encodable(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 11 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: i64 = text.parse().ok()?;
    (v.to_string().as_bytes() == s && i32::try_from(v).is_ok()).then_some(v)
}

/// `rdbSaveRawString` without LZF.
pub fn save_string(out: &mut Vec<u8>, s: &[u8]) {
    if let Some(v) = as_int_encodable(s) {
        if let Ok(b) = i8::try_from(v) {
            out.push(0xC0 | ENC_INT8);
            out.push(b as u8);
        } else if let Ok(h) = i16::try_from(v) {
            out.push(0xC0 | ENC_INT16);
            out.extend_from_slice(&h.to_le_bytes());
        } else {
            out.push(0xC0 | ENC_INT32);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        return;
    }
    save_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The encoded size of a string, without encoding it.
pub fn string_len(s: &[u8]) -> u64 {
    match as_int_encodable(s) {
        Some(v) if i8::try_from(v).is_ok() => 2,
        Some(v) if i16::try_from(v).is_ok() => 3,
        Some(_) => 5,
        None => rdb_len_bytes(s.len() as u64) + s.len() as u64,
    }
}

/// What loading an RDB produced.
#[derive(Debug)]
pub struct Loaded {
    pub keyspace: Keyspace,
    pub repl: Option<ReplInfo>,
    pub redis_ver: Option<String>,
    /// The `valkey-ver` field a Valkey server writes in place of `redis-ver`.
    pub valkey_ver: Option<String>,
    pub ctime_secs: Option<u64>,
    pub used_mem: Option<u64>,
    pub keys_loaded: u64,
    pub keys_expired: u64,
}

/// Why an RDB could not be loaded. The text follows rdb.c where Redis has one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError(pub String);

struct Reader<'a> {
    parts: &'a [Part],
    part: usize,
    at: usize,
    /// Bytes consumed so far (real and opaque), for error offsets.
    consumed: u64,
}

impl<'a> Reader<'a> {
    fn err(&self, what: &str) -> LoadError {
        LoadError(format!(
            "Internal error in RDB reading offset {} ({what})",
            self.consumed
        ))
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, LoadError> {
        let mut v = Vec::with_capacity(n.min(1 << 20));
        while v.len() < n {
            match self.parts.get(self.part) {
                Some(Part::Bytes(b)) => {
                    let take = (n - v.len()).min(b.len() - self.at);
                    v.extend_from_slice(&b[self.at..self.at + take]);
                    self.at += take;
                    self.consumed += take as u64;
                    if self.at == b.len() {
                        self.part += 1;
                        self.at = 0;
                    }
                }
                Some(Part::Opaque(_)) => {
                    return Err(self.err("opaque bytes where data was expected"))
                }
                None => {
                    return Err(LoadError(
                        "Short read or OOM loading DB. Unrecoverable error, aborting now.".into(),
                    ))
                }
            }
        }
        Ok(v)
    }

    fn u8(&mut self) -> Result<u8, LoadError> {
        Ok(self.bytes(1)?[0])
    }

    fn opaque(&mut self, n: u64) -> Result<(), LoadError> {
        match self.parts.get(self.part) {
            Some(Part::Opaque(m)) if self.at == 0 && *m == n => {
                self.part += 1;
                self.consumed += n;
                Ok(())
            }
            _ => Err(self.err("the synthetic bulk part is missing or has the wrong size")),
        }
    }

    /// `rdbLoadLen`: returns the length, or the encoding type for an encoded string.
    fn len(&mut self) -> Result<(u64, bool), LoadError> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3F), false),
            1 => ((u64::from(b & 0x3F) << 8) | u64::from(self.u8()?), false),
            2 => match b {
                0x80 => (
                    u64::from(u32::from_be_bytes(
                        self.bytes(4)?.try_into().expect("4 bytes"),
                    )),
                    false,
                ),
                0x81 => (
                    u64::from_be_bytes(self.bytes(8)?.try_into().expect("8 bytes")),
                    false,
                ),
                _ => return Err(self.err("unknown length encoding")),
            },
            _ => (u64::from(b & 0x3F), true),
        })
    }

    fn string(&mut self) -> Result<Vec<u8>, LoadError> {
        let (len, encoded) = self.len()?;
        if !encoded {
            if len > 512 << 20 {
                return Err(self.err("string too long"));
            }
            return self.bytes(len as usize);
        }
        Ok(match len as u8 {
            ENC_INT8 => (self.u8()? as i8).to_string().into_bytes(),
            ENC_INT16 => i16::from_le_bytes(self.bytes(2)?.try_into().expect("2 bytes"))
                .to_string()
                .into_bytes(),
            ENC_INT32 => i32::from_le_bytes(self.bytes(4)?.try_into().expect("4 bytes"))
                .to_string()
                .into_bytes(),
            ENC_LZF => {
                let (clen, _) = self.len()?;
                let (ulen, _) = self.len()?;
                if ulen > 512 << 20 || clen > 512 << 20 {
                    return Err(self.err("compressed string too long"));
                }
                let c = self.bytes(clen as usize)?;
                lzf_decompress(&c, ulen as usize)
                    .ok_or_else(|| self.err("invalid LZF compressed string"))?
            }
            _ => return Err(self.err("unknown RDB string encoding type")),
        })
    }
}

/// Loads an RDB. `now_ms` and `is_master` decide whether keys already expired are skipped
/// (a master skips them and counts them as expired; a replica loads them).
pub fn decode(
    payload: &Payload,
    now_ms: u64,
    is_master: bool,
    databases: usize,
) -> Result<Loaded, LoadError> {
    decode_in(payload, now_ms, is_master, databases, &SharedBytes::new())
}

/// [`decode`] into a keyspace whose keys and values live in `shared` (the loading node's store).
pub fn decode_in(
    payload: &Payload,
    now_ms: u64,
    is_master: bool,
    databases: usize,
    shared: &SharedBytes,
) -> Result<Loaded, LoadError> {
    let mut r = Reader {
        parts: &payload.parts,
        part: 0,
        at: 0,
        consumed: 0,
    };
    let magic = r.bytes(9)?;
    if &magic[..5] != b"REDIS" {
        return Err(LoadError(
            "Wrong signature trying to load DB from file".into(),
        ));
    }
    let ver: u32 = std::str::from_utf8(&magic[5..])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| LoadError("Wrong signature trying to load DB from file".into()))?;
    if !(1..=RDB_VERSION).contains(&ver) {
        return Err(LoadError(format!("Can't handle RDB format version {ver}")));
    }
    let mut ks = Keyspace::new_in(databases, shared);
    let mut out = Loaded {
        keyspace: Keyspace::new_in(1, shared),
        repl: None,
        redis_ver: None,
        valkey_ver: None,
        ctime_secs: None,
        used_mem: None,
        keys_loaded: 0,
        keys_expired: 0,
    };
    let (mut stream_db, mut replid, mut offset) = (None, None, None);
    let mut bulks: Vec<(usize, Bulk)> = Vec::new();
    let mut bulk_total = BulkSizes::default();
    let mut db = 0usize;
    let mut expire: Option<u64> = None;
    // Materialised entries still to read in the current database before its bulk run.
    let mut remaining_in_db: Option<u64> = None;
    loop {
        if remaining_in_db == Some(0) {
            if let Some(&(_, b)) = bulks.iter().find(|(d, _)| *d == db) {
                r.opaque(b.rdb_bytes())?;
                ks.db_mut(db).set_bulk(Some(b));
                out.keys_loaded += b.count;
            }
            remaining_in_db = None;
        }
        let op = r.u8()?;
        match op {
            OP_EOF => break,
            OP_AUX => {
                let k = r.string()?;
                let v = r.string()?;
                let text = String::from_utf8_lossy(&v).to_string();
                match &k[..] {
                    b"repl-stream-db" => stream_db = text.parse().ok(),
                    b"repl-id" => replid = Some(text),
                    // Redis reads it with strtoll. An offset the node cannot carry (negative,
                    // or with no room for a PSYNC's offset + 1) leaves the RDB without usable
                    // replication info, as if the field were absent.
                    b"repl-offset" => {
                        offset = string2ll(&v)
                            .and_then(|o| u64::try_from(o).ok())
                            .filter(|&o| o <= REPL_OFFSET_MAX)
                    }
                    b"redis-ver" => out.redis_ver = Some(text),
                    b"valkey-ver" => out.valkey_ver = Some(text),
                    b"ctime" => out.ctime_secs = text.parse().ok(),
                    b"used-mem" => out.used_mem = text.parse().ok(),
                    b"replsim-bulk" => {
                        let f: Vec<u64> = text.split(':').filter_map(|x| x.parse().ok()).collect();
                        let b = match f[..] {
                            [d, count, kb, vb]
                                if (d as usize) < databases
                                    && kb <= u64::from(u32::MAX)
                                    && vb <= u64::from(u32::MAX) =>
                            {
                                Bulk {
                                    count,
                                    key_bytes: kb as u32,
                                    value_bytes: vb as u32,
                                }
                            }
                            _ => return Err(r.err("malformed replsim-bulk field")),
                        };
                        bulk_total = bulk_sizes(&b)
                            .and_then(|sizes| bulk_total.add(sizes))
                            .ok_or_else(|| r.err("replsim-bulk sizes overflow"))?;
                        bulks.push((f[0] as usize, b));
                    }
                    _ => {}
                }
            }
            OP_SELECTDB => {
                let (n, _) = r.len()?;
                if n as usize >= databases {
                    return Err(LoadError(format!("FATAL: Data file was created with a Redis server configured to handle more than {databases} databases. Exiting")));
                }
                db = n as usize;
            }
            OP_RESIZEDB => {
                let (size, _) = r.len()?;
                r.len()?;
                let bulk = bulks
                    .iter()
                    .find(|(d, _)| *d == db)
                    .map_or(0, |(_, b)| b.count);
                remaining_in_db = Some(
                    size.checked_sub(bulk)
                        .ok_or_else(|| r.err("RESIZEDB smaller than the bulk part"))?,
                );
            }
            OP_EXPIRETIME_MS => {
                expire = Some(u64::from_le_bytes(r.bytes(8)?.try_into().expect("8 bytes")))
            }
            OP_EXPIRETIME => {
                expire = Some(
                    u64::from(u32::from_le_bytes(r.bytes(4)?.try_into().expect("4 bytes"))) * 1000,
                )
            }
            OP_IDLE => {
                r.len()?;
            }
            OP_FREQ => {
                r.u8()?;
            }
            OP_MODULE_AUX | OP_FUNCTION2 => {
                return Err(r.err("module and function payloads are not supported"))
            }
            TYPE_STRING => {
                let key = r.string()?;
                let value = r.string()?;
                let exp = expire.take();
                if let Some(n) = remaining_in_db.as_mut() {
                    *n = n
                        .checked_sub(1)
                        .ok_or_else(|| r.err("more keys than RESIZEDB announced"))?;
                }
                if is_master && exp.is_some_and(|t| t < now_ms) {
                    out.keys_expired += 1;
                } else {
                    ks.db_mut(db).set(&key, &value, exp);
                    out.keys_loaded += 1;
                }
            }
            other => return Err(LoadError(format!("Unknown RDB encoding type {other}"))),
        }
    }
    let crc_bytes = r.bytes(8)?;
    let stored = u64::from_le_bytes(crc_bytes.try_into().expect("8 bytes"));
    if stored != 0 {
        if let [Part::Bytes(all), ..] = &payload.parts[..] {
            let body = &all[..all.len().saturating_sub(8)];
            if payload.parts.len() == 1 && crc64(0, body) != stored {
                return Err(LoadError("Wrong RDB checksum. Aborting now.".into()));
            }
        }
    }
    if let (Some(db), Some(id), Some(off)) = (stream_db, replid, offset) {
        out.repl = Some(ReplInfo {
            stream_db: db,
            replid: id,
            offset: off,
        });
    }
    out.keyspace = ks;
    Ok(out)
}

/// What the synthetic bulk parts of an RDB add up to. Each sum is bounded by `i64::MAX`, as
/// Redis bounds sizes by `off_t` and `long long`: the keyspace then adds materialised keys to
/// these sums, and a later BGSAVE multiplies them by its cost model, without overflowing.
#[derive(Copy, Clone, Debug, Default)]
struct BulkSizes {
    keys: u64,
    rdb_bytes: u64,
    memory_bytes: u64,
}

impl BulkSizes {
    fn add(self, other: BulkSizes) -> Option<BulkSizes> {
        let sum = |a: u64, b: u64| a.checked_add(b).filter(|&s| s <= i64::MAX as u64);
        Some(BulkSizes {
            keys: sum(self.keys, other.keys)?,
            rdb_bytes: sum(self.rdb_bytes, other.rdb_bytes)?,
            memory_bytes: sum(self.memory_bytes, other.memory_bytes)?,
        })
    }
}

/// A bulk part's sizes, if they fit: its count comes from the wire, and its products with the
/// entry size would otherwise overflow (`Bulk::rdb_bytes` and `Bulk::memory_bytes` multiply).
fn bulk_sizes(b: &Bulk) -> Option<BulkSizes> {
    let per_key_memory = u64::from(b.key_bytes) + u64::from(b.value_bytes) + 64;
    Some(BulkSizes {
        keys: b.count,
        rdb_bytes: b.count.checked_mul(b.entry_rdb_bytes())?,
        memory_bytes: b.count.checked_mul(per_key_memory)?,
    })
}

/// LZF decompression (`lzf_decompress`), for RDBs written with `rdbcompression yes`.
fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    // The announced length comes from the file: reserve no more than the input can expand to
    // (a 3-byte back-reference yields at most 264 bytes), so a few bytes cannot reserve 512 MB.
    let mut out = Vec::with_capacity(out_len.min(input.len().saturating_mul(88)));
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            out.extend_from_slice(input.get(i..i + len)?);
            i += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..len + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > out_len {
            return None;
        }
    }
    (out.len() == out_len).then_some(out)
}

/// CRC-64/Jones as Redis computes it (reflected, polynomial 0xad93d23594c935a9, init 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u64;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    (c >> 1) ^ POLY_REFLECTED
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    for &b in data {
        crc = table[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(repl: bool) -> SaveMeta {
        SaveMeta {
            ctime_secs: 1_700_000_000,
            used_mem: 1_000_000,
            repl: repl.then(|| ReplInfo {
                stream_db: 0,
                replid: "a".repeat(40),
                offset: 1234,
            }),
            checksum: true,
            redis_version: RedisVersion::V7_2,
        }
    }

    #[test]
    fn crc64_matches_redis_check_value() {
        assert_eq!(crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn an_empty_rdb_is_the_well_known_bytes() {
        let p = encode(&Keyspace::new(16), &meta(false));
        let Part::Bytes(b) = &p.parts[0] else {
            panic!("no opaque part expected")
        };
        assert!(b.starts_with(b"REDIS0011\xfa\x09redis-ver\x057.2.4\xfa\x0aredis-bits\xc0\x40"));
        assert_eq!(b[b.len() - 9], OP_EOF);
        assert_eq!(p.parts.len(), 1);
    }

    #[test]
    fn a_7_0_profile_writes_rdb_version_10() {
        let p = encode(
            &Keyspace::new(16),
            &SaveMeta {
                redis_version: RedisVersion::V7_0,
                ..meta(false)
            },
        );
        let Part::Bytes(b) = &p.parts[0] else {
            panic!("no opaque part expected")
        };
        assert!(b.starts_with(b"REDIS0010\xfa\x09redis-ver\x067.0.15"));
        assert_eq!(
            decode(&p, 0, false, 16).unwrap().redis_ver.as_deref(),
            Some("7.0.15")
        );
    }

    #[test]
    fn round_trips_keys_expiries_integers_and_repl_info() {
        let mut ks = Keyspace::new(16);
        ks.db_mut(0).set(b"k", b"v", None);
        ks.db_mut(0).set(b"counter", b"12345", None);
        ks.db_mut(0).set(b"neg", b"-7", None);
        ks.db_mut(0).set(b"big", b"99999999999", None);
        ks.db_mut(0).set(b"lead0", b"007", None);
        ks.db_mut(3).set(b"ttl", &vec![b'x'; 20_000], Some(5_000));
        let p = encode(&ks, &meta(true));
        let loaded = decode(&p, 1_000, false, 16).unwrap();
        assert_eq!(loaded.keyspace.digest(), ks.digest());
        assert_eq!(
            loaded.repl,
            Some(ReplInfo {
                stream_db: 0,
                replid: "a".repeat(40),
                offset: 1234
            })
        );
        assert_eq!(loaded.keys_loaded, 6);
        let master = decode(&p, 10_000, true, 16).unwrap();
        assert_eq!(
            master.keys_expired, 1,
            "a master skips keys already expired"
        );
    }

    #[test]
    fn integer_strings_use_int_encodings() {
        let mut v = vec![];
        save_string(&mut v, b"12345");
        assert_eq!(v, [0xC1, 0x39, 0x30]);
        assert_eq!(string_len(b"12345"), 3);
        assert_eq!(string_len(b"007"), 4);
        assert_eq!(string_len(b"hello"), 6);
    }

    #[test]
    fn bulk_parts_are_opaque_with_their_exact_size() {
        let mut ks = Keyspace::new(16);
        ks.db_mut(0).set(b"k", b"v", None);
        let bulk = Bulk {
            count: 10_000,
            key_bytes: 16,
            value_bytes: 100,
        };
        ks.db_mut(0).set_bulk(Some(bulk));
        let p = encode(&ks, &meta(true));
        assert!(p.parts.contains(&Part::Opaque(bulk.rdb_bytes())));
        let loaded = decode(&p, 0, false, 16).unwrap();
        assert_eq!(loaded.keyspace.digest(), ks.digest());
        assert_eq!(loaded.keys_loaded, 10_001);
    }

    #[test]
    fn a_corrupted_checksum_is_refused() {
        let mut ks = Keyspace::new(16);
        ks.db_mut(0).set(b"k", b"v", None);
        let mut p = encode(&ks, &meta(false));
        let Part::Bytes(b) = &mut p.parts[0] else {
            unreachable!()
        };
        let n = b.len();
        b[n - 12] ^= 1;
        assert!(decode(&p, 0, false, 16).is_err());
    }

    #[test]
    fn truncated_changed_and_random_rdbs_are_refused_with_rdb_c_errors() {
        let mut ks = Keyspace::new(16);
        ks.db_mut(0).set(b"k", b"value", Some(1));
        ks.db_mut(1).set_bulk(Some(Bulk {
            count: 3,
            key_bytes: 8,
            value_bytes: 8,
        }));
        let p = encode(&ks, &meta(true));
        let Part::Bytes(head) = &p.parts[0] else {
            unreachable!()
        };
        // Every prefix is a short read: the file ends before its EOF opcode and checksum.
        for cut in 0..head.len() {
            let t = Payload {
                parts: vec![Part::Bytes(head[..cut].to_vec())],
            };
            let err = decode(&t, 0, false, 16).expect_err("a truncated RDB");
            assert!(
                err.0.starts_with("Short read or OOM loading DB"),
                "cut at {cut}: {}",
                err.0
            );
        }
        // Every single-byte change of a checksummed RDB is refused: by the parser, or else by
        // the CRC-64, which catches any burst shorter than 64 bits.
        let mut ks = Keyspace::new(16);
        ks.db_mut(0).set(b"k", b"value", Some(1));
        ks.db_mut(2).set(b"n", b"12345", None);
        let p = encode(&ks, &meta(true));
        let Part::Bytes(good) = &p.parts[0] else {
            unreachable!("no bulk part, so one byte part")
        };
        assert!(decode(&p, 0, false, 16).is_ok());
        let mut rng = crate::seed::SeedStream::derive(11, "rdb-fuzz");
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 1 + rng.below(255) as u8;
            let bad = Payload {
                parts: vec![Part::Bytes(bad)],
            };
            let err = decode(&bad, 0, false, 16).expect_err("a changed byte");
            assert!(redis_load_error(&err.0), "byte {i}: {}", err.0);
        }
        // Random bytes after a valid signature: refused with one of rdb.c's errors, or, when
        // they happen to form a valid file, loaded into a keyspace that round-trips.
        let mut refused = 0;
        for _ in 0..3000 {
            let mut bytes = b"REDIS0011".to_vec();
            let n = rng.below(40) as usize;
            bytes.extend((0..n).map(|_| rng.below(256) as u8));
            let garbage = Payload {
                parts: vec![Part::Bytes(bytes)],
            };
            match decode(&garbage, 0, false, 16) {
                Err(e) => {
                    assert!(redis_load_error(&e.0), "{garbage:?}: {}", e.0);
                    refused += 1;
                }
                Ok(loaded) => {
                    let again = encode(&loaded.keyspace, &meta(false));
                    let reloaded = decode(&again, 0, false, 16).expect("its own encoding loads");
                    assert_eq!(reloaded.keyspace.digest(), loaded.keyspace.digest());
                }
            }
        }
        assert!(
            refused > 2900,
            "random bytes are nearly always refused: {refused}"
        );
    }

    /// Whether `text` is one of the errors rdb.c reports when a load fails.
    fn redis_load_error(text: &str) -> bool {
        [
            "Short read or OOM loading DB. Unrecoverable error, aborting now.",
            "Wrong signature trying to load DB from file",
            "Can't handle RDB format version ",
            "Internal error in RDB reading offset ",
            "FATAL: Data file was created with a Redis server configured to handle more than ",
            "Unknown RDB encoding type ",
            "Wrong RDB checksum. Aborting now.",
        ]
        .iter()
        .any(|prefix| text.starts_with(prefix))
    }

    /// A minimal RDB: the header, the given AUX fields, one `SELECTDB 0` with a `RESIZEDB` of
    /// `keys` and then `tail`, `EOF`, and a zero (not computed) checksum.
    fn rdb_with(aux_fields: &[(&[u8], &[u8])], keys: u64, tail: &[Part]) -> Payload {
        let mut head = b"REDIS0011".to_vec();
        for (k, v) in aux_fields {
            aux(&mut head, k, v);
        }
        head.push(OP_SELECTDB);
        save_len(&mut head, 0);
        head.push(OP_RESIZEDB);
        save_len(&mut head, keys);
        save_len(&mut head, 0);
        let mut p = Payload::default();
        p.push_bytes(&head);
        for part in tail {
            match part {
                Part::Bytes(b) => p.push_bytes(b),
                Part::Opaque(n) => p.push_opaque(*n),
            }
        }
        p.push_bytes(&[OP_EOF]);
        p.push_bytes(&[0; 8]);
        p
    }

    #[test]
    fn sizes_announced_by_an_rdb_that_overflow_are_corruption_not_arithmetic() {
        // (what, replsim-bulk value, RESIZEDB count, the error's text)
        let huge = u64::MAX - 1;
        let cases: Vec<(&str, String, u64, &str)> = vec![
            (
                "a count whose RDB size overflows 64 bits",
                format!("0:{huge}:16:100"),
                huge,
                "replsim-bulk sizes overflow",
            ),
            (
                "a count whose memory overflows 64 bits, its RDB size not",
                format!("0:{}:1:1", u64::MAX / 6),
                u64::MAX / 6,
                "replsim-bulk sizes overflow",
            ),
            (
                "two databases whose memory adds up past 2^63",
                format!("0:{}:1:1", 100_000_000_000_000_000u64),
                100_000_000_000_000_000,
                "replsim-bulk sizes overflow",
            ),
        ];
        for (what, bulk, keys, expected) in cases {
            let mut fields: Vec<(&[u8], &[u8])> = vec![(b"replsim-bulk", bulk.as_bytes())];
            let second = format!("1:{}:1:1", 100_000_000_000_000_000u64);
            if what.starts_with("two databases") {
                fields.push((b"replsim-bulk", second.as_bytes()));
            }
            let p = rdb_with(&fields, keys, &[]);
            let err = decode(&p, 0, false, 16).expect_err(what);
            assert!(err.0.contains(expected), "{what}: {}", err.0);
            assert!(
                err.0.starts_with("Internal error in RDB reading offset"),
                "{what}: reported as Redis reports a corrupt RDB: {}",
                err.0
            );
        }
        // The largest sizes that do fit load, and their arithmetic holds.
        let bulk = Bulk {
            count: 1 << 40,
            key_bytes: 16,
            value_bytes: 100,
        };
        let v = format!("0:{}:16:100", bulk.count);
        let p = rdb_with(
            &[(b"replsim-bulk", v.as_bytes())],
            bulk.count,
            &[Part::Opaque(bulk.rdb_bytes())],
        );
        let loaded = decode(&p, 0, false, 16).expect("a large but representable dataset");
        assert_eq!(loaded.keys_loaded, 1 << 40);
    }

    #[test]
    fn replication_info_out_of_range_is_not_used() {
        let ok = rdb_with(
            &[
                (b"repl-stream-db", b"3"),
                (b"repl-id", &[b'a'; 40]),
                (b"repl-offset", b"77"),
            ],
            0,
            &[],
        );
        assert_eq!(
            decode(&ok, 0, false, 16).unwrap().repl,
            Some(ReplInfo {
                stream_db: 3,
                replid: "a".repeat(40),
                offset: 77
            })
        );
        // Redis reads these with strtoll/atoi; an offset that is negative or leaves no room for
        // a PSYNC's offset + 1 cannot be carried, so the RDB has no usable replication info.
        for offset in [
            "-1",
            "9223372036854775807",
            "18446744073709551615",
            "x",
            "+5",
        ] {
            let p = rdb_with(
                &[
                    (b"repl-stream-db", b"0"),
                    (b"repl-id", &[b'a'; 40]),
                    (b"repl-offset", offset.as_bytes()),
                ],
                0,
                &[],
            );
            assert_eq!(decode(&p, 0, false, 16).unwrap().repl, None, "{offset}");
        }
    }

    #[test]
    fn lzf_strings_from_real_redis_load() {
        // "aaaaaaaaaaaaaaaaaaaaaaaa" (24 bytes): literal 'a', then a back-reference of 23.
        assert_eq!(
            lzf_decompress(&[0x00, b'a', 0xE0, 0x0E, 0x00], 24).unwrap(),
            vec![b'a'; 24]
        );
        assert!(lzf_decompress(&[0xE0, 0x0E, 0x00], 24).is_none());
    }
}
