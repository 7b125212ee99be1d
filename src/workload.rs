//! Client traffic generators, each from its own seed stream.
//!
//! A workload is open loop: operation `k` is issued at `start + k·interval + U[0, interval)`
//! whatever the replies do, as many independent clients would. Keys are `key:<n>`, shared with the
//! initial dataset and with other workloads. A SET's value starts with `w<id>:`, the index of its
//! write record, so a value read back or found in the final dataset names the write that made it.
//! Integer arithmetic only: the Zipf table is built from integer weights.

use crate::redis::resp::push_u64;
use crate::scenario::{Distribution, Mix, WorkloadSpec};
use crate::seed::SeedStream;
use crate::time::{SimDuration, SimTime};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    Set,
    Get,
    Incr,
    Append,
    Del,
}

impl OpKind {
    pub fn is_write(self) -> bool {
        self != OpKind::Get
    }
}

/// One generated operation: what to do to which key. Its arguments are rendered when it reaches
/// the node ([`Workload::render`]), into reused buffers.
#[derive(Copy, Clone, Debug)]
pub struct Op {
    pub kind: OpKind,
    pub key: u32,
    /// The write id a SET's value carries.
    pub id: u64,
}

/// Reused buffers for an operation's arguments.
#[derive(Default, Debug)]
pub struct ArgBuf {
    key: Vec<u8>,
    value: Vec<u8>,
}

pub struct Workload {
    pub spec: WorkloadSpec,
    rng: SeedStream,
    /// Cumulative weights for Zipf: `cdf[k]` = sum of 1/(i+1) for i <= k, scaled.
    zipf_cdf: Vec<u64>,
    interval_ns: u64,
    /// Index of the next operation.
    k: u64,
    /// The next key of a sequential workload.
    next_key: u64,
}

/// The key name of index `n`.
pub fn key_name(n: u64) -> Vec<u8> {
    let mut k = b"key:".to_vec();
    push_u64(&mut k, n);
    k
}

/// The write id a SET value names, if it is one of ours.
pub fn value_write_id(value: &[u8]) -> Option<u64> {
    let rest = value.strip_prefix(b"w")?;
    let end = rest.iter().position(|&b| b == b':')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// A SET value for write `id`, padded to `size` bytes (longer if the id needs it).
pub fn set_value(id: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    write_set_value(&mut v, id, size);
    v
}

pub(crate) fn write_set_value(v: &mut Vec<u8>, id: u64, size: usize) {
    v.clear();
    v.push(b'w');
    push_u64(v, id);
    v.push(b':');
    v.resize(v.len().max(size), b'x');
}

impl Workload {
    pub fn new(spec: WorkloadSpec, root_seed: u64, index: usize) -> Workload {
        let rng = SeedStream::derive(root_seed, &format!("workload/{index}/{}", spec.name));
        let zipf_cdf = match spec.distribution {
            Distribution::Uniform | Distribution::Sequential => Vec::new(),
            Distribution::Zipf => {
                // Weight of key k is SCALE/(k+1); the sum stays far below u64::MAX for any key
                // count a scenario can hold.
                const SCALE: u64 = 1 << 40;
                let mut acc = 0u64;
                (0..spec.keys)
                    .map(|k| {
                        acc += SCALE / (k + 1);
                        acc
                    })
                    .collect()
            }
        };
        let interval_ns = (1_000_000_000 / spec.rate_per_sec).max(1);
        Workload {
            spec,
            rng,
            zipf_cdf,
            interval_ns,
            k: 0,
            next_key: 0,
        }
    }

    /// When the next operation is issued, or `None` once past `stop`.
    pub fn next_time(&mut self) -> Option<SimTime> {
        let base = self.spec.start.as_nanos() + self.k * self.interval_ns;
        let t = base + self.rng.below(self.interval_ns);
        self.k += 1;
        (t < self.spec.stop.as_nanos()).then(|| SimTime::from_nanos(t))
    }

    fn pick_key(&mut self) -> u32 {
        let n = match self.spec.distribution {
            Distribution::Uniform => self.rng.below(self.spec.keys),
            Distribution::Sequential => {
                self.next_key += 1;
                (self.next_key - 1) % self.spec.keys
            }
            Distribution::Zipf => {
                let total = *self.zipf_cdf.last().expect("at least one key");
                let x = self.rng.below(total);
                self.zipf_cdf.partition_point(|&c| c <= x) as u64
            }
        };
        n as u32
    }

    fn pick_kind(&mut self) -> OpKind {
        let Mix {
            set,
            get,
            incr,
            append,
            del,
        } = self.spec.mix;
        let mut x = self.rng.below(u64::from(self.spec.mix.total())) as u32;
        for (w, kind) in [
            (set, OpKind::Set),
            (get, OpKind::Get),
            (incr, OpKind::Incr),
            (append, OpKind::Append),
            (del, OpKind::Del),
        ] {
            if x < w {
                return kind;
            }
            x -= w;
        }
        unreachable!("the mix total covers every draw")
    }

    /// Generates the next operation. `write_id` is the id a SET's value will carry.
    pub fn op(&mut self, write_id: u64) -> Op {
        let kind = self.pick_kind();
        let key = self.pick_key();
        Op {
            kind,
            key,
            id: write_id,
        }
    }

    /// Renders `op`'s arguments into `buf` and calls `f` with them.
    pub fn render<R>(&self, op: &Op, buf: &mut ArgBuf, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        buf.key.clear();
        let prefix: &[u8] = match op.kind {
            OpKind::Incr => b"ctr:",
            OpKind::Append => b"log:",
            _ => b"key:",
        };
        buf.key.extend_from_slice(prefix);
        push_u64(&mut buf.key, u64::from(op.key));
        match op.kind {
            OpKind::Set => {
                write_set_value(&mut buf.value, op.id, self.spec.value_size as usize);
                f(&[b"SET", &buf.key, &buf.value])
            }
            OpKind::Get => f(&[b"GET", &buf.key]),
            OpKind::Incr => f(&[b"INCR", &buf.key]),
            OpKind::Append => {
                buf.value.clear();
                push_u64(&mut buf.value, op.id);
                buf.value.push(b';');
                f(&[b"APPEND", &buf.key, &buf.value])
            }
            OpKind::Del => f(&[b"DEL", &buf.key]),
        }
    }

    pub fn half_rtt(&self) -> SimDuration {
        SimDuration::from_nanos(self.spec.client_rtt.as_nanos() / 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Target, WorkloadSpec};

    fn spec(dist: Distribution) -> WorkloadSpec {
        WorkloadSpec {
            name: "w".into(),
            target: Target::Node(0),
            rate_per_sec: 1000,
            start: SimDuration::ZERO,
            stop: SimDuration::from_secs(1),
            mix: Mix {
                set: 1,
                ..Mix::default()
            },
            keys: 100,
            distribution: dist,
            value_size: 20,
            wait: None,
            reads_from_replicas: false,
            timeout: SimDuration::from_secs(1),
            client_rtt: SimDuration::from_micros(200),
            near: None,
        }
    }

    #[test]
    fn an_open_loop_issues_rate_times_seconds_operations() {
        let mut w = Workload::new(spec(Distribution::Uniform), 1, 0);
        let mut n = 0;
        let mut last = SimTime::ZERO;
        while let Some(t) = w.next_time() {
            assert!(t >= last);
            last = t;
            n += 1;
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn a_sequential_workload_takes_every_key_in_turn() {
        let mut w = Workload::new(spec(Distribution::Sequential), 1, 0);
        let keys: Vec<u32> = (0..205).map(|id| w.op(id).key).collect();
        assert_eq!(keys[..3], [0, 1, 2]);
        assert_eq!(
            keys[99..102],
            [99, 0, 1],
            "after the last key it starts over"
        );
    }

    #[test]
    fn zipf_prefers_low_keys() {
        let mut w = Workload::new(spec(Distribution::Zipf), 1, 0);
        let mut counts = [0u32; 100];
        for id in 0..20_000 {
            counts[w.op(id).key as usize] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[9] && counts[9] > counts[99]);
    }

    #[test]
    fn rendered_arguments_name_key_and_write() {
        let mut w = Workload::new(spec(Distribution::Uniform), 1, 0);
        let op = Op {
            kind: OpKind::Set,
            key: 42,
            id: 7,
        };
        let mut buf = ArgBuf::default();
        let args: Vec<Vec<u8>> =
            w.render(&op, &mut buf, |a| a.iter().map(|x| x.to_vec()).collect());
        assert_eq!(args[0], b"SET");
        assert_eq!(args[1], b"key:42");
        assert_eq!(args[2].len(), 20);
        assert_eq!(value_write_id(&args[2]), Some(7));
        assert_eq!(key_name(0), b"key:0");
        let _ = w.op(1);
    }

    #[test]
    fn set_values_name_their_write() {
        let v = set_value(1234, 100);
        assert_eq!(v.len(), 100);
        assert_eq!(value_write_id(&v), Some(1234));
        assert_eq!(value_write_id(b"init:xxxx"), None);
        assert_eq!(set_value(123_456, 3).len(), 8);
    }
}
