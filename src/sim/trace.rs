//! The canonical event trace and its hash.
//!
//! Every event the engine processes is recorded as a [`TraceRecord`]: a time, a kind and three
//! integer fields. The trace hash folds each record into FNV-1a 64, one little-endian 64-bit word
//! at a time (time, kind code, a, b, c). The algorithm is fixed and part of the output format:
//! it never uses `DefaultHasher`, whose output may change between Rust releases.
//!
//! Records are not stored. A caller that wants them (the CLI's `--out` trace file) installs a
//! [`TraceSink`]; the engine itself only keeps the running hash and a count.

use std::fmt;

use crate::fnv;

/// What happened. The numeric codes are part of the trace hash and must never be reordered;
/// new kinds are appended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum TraceKind {
    /// a = connecting node, b = listening node, c = connection id.
    ConnectStart = 1,
    /// a = listening node, b = connecting node, c = connection id.
    Accept = 2,
    /// a = connecting node, c = connection id.
    Established = 3,
    /// a = connecting node, b = target node, c = connection id.
    ConnectTimeout = 4,
    /// a = receiving node, b = bytes, c = connection id << 1 | direction.
    Deliver = 5,
    /// a = node that closed, c = connection id.
    Close = 6,
    /// a = node told of an end-of-stream, c = connection id.
    Eof = 7,
    /// a = node, c = connection id.
    Reset = 8,
    /// a = from node, b = to node (one direction blocked).
    Block = 9,
    /// a = from node, b = to node (one direction unblocked).
    Unblock = 10,
    /// a = node.
    Crash = 11,
    /// a = node.
    Restart = 12,
    /// a = node.
    Pause = 13,
    /// a = node.
    Resume = 14,
    /// a = node (a node's own timer fired), b = which timer (`redis::Timer::code`: 1 cron,
    /// 2 load done, 3 child, 4 load resume, 5 WAIT timeout).
    Timer = 15,
    /// a = node, b = command code, c = workload or fault index.
    Command = 16,
    /// a = node, b = bytes written, c = connection id << 1 | direction.
    Write = 17,
    /// a = fault index.
    Fault = 18,
    /// a = node, b = code, c = payload: a node event surfaced to the engine.
    NodeEvent = 19,
    /// a = node (its process exited cleanly: connections closed, connects refused).
    Shutdown = 20,
    /// a = connecting node, c = connection id (the target's host refused it).
    ConnectRefused = 21,
}

impl TraceKind {
    pub fn name(self) -> &'static str {
        match self {
            TraceKind::ConnectStart => "connect",
            TraceKind::Accept => "accept",
            TraceKind::Established => "established",
            TraceKind::ConnectTimeout => "connect_timeout",
            TraceKind::Deliver => "deliver",
            TraceKind::Close => "close",
            TraceKind::Eof => "eof",
            TraceKind::Reset => "reset",
            TraceKind::Block => "block",
            TraceKind::Unblock => "unblock",
            TraceKind::Crash => "crash",
            TraceKind::Restart => "restart",
            TraceKind::Pause => "pause",
            TraceKind::Resume => "resume",
            TraceKind::Timer => "timer",
            TraceKind::Command => "command",
            TraceKind::Write => "write",
            TraceKind::Fault => "fault",
            TraceKind::NodeEvent => "node_event",
            TraceKind::Shutdown => "shutdown",
            TraceKind::ConnectRefused => "connect_refused",
        }
    }
}

/// One canonical trace record.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    pub time_ns: u64,
    pub kind: TraceKind,
    pub a: u64,
    pub b: u64,
    pub c: u64,
}

impl fmt::Display for TraceRecord {
    /// One JSON object per record, the line format of the `trace.jsonl` output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{{"t_ns":{},"kind":"{}","a":{},"b":{},"c":{}}}"#,
            self.time_ns,
            self.kind.name(),
            self.a,
            self.b,
            self.c
        )
    }
}

/// Receives every record, in order. Implemented by whoever wants the trace written out.
pub trait TraceSink {
    fn record(&mut self, record: &TraceRecord);
}

/// The running trace: a hash, a count and an optional sink.
pub struct Trace {
    hash: u64,
    count: u64,
    sink: Option<Box<dyn TraceSink>>,
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Trace {{ hash: {:016x}, count: {} }}",
            self.hash, self.count
        )
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace {
            hash: fnv::OFFSET,
            count: 0,
            sink: None,
        }
    }

    pub fn set_sink(&mut self, sink: Box<dyn TraceSink>) {
        self.sink = Some(sink);
    }

    pub fn take_sink(&mut self) -> Option<Box<dyn TraceSink>> {
        self.sink.take()
    }

    #[inline]
    pub fn record(&mut self, time_ns: u64, kind: TraceKind, a: u64, b: u64, c: u64) {
        let mut h = self.hash;
        for w in [time_ns, kind as u64, a, b, c] {
            h ^= w;
            h = h.wrapping_mul(fnv::PRIME);
        }
        self.hash = h;
        self.count += 1;
        if let Some(sink) = self.sink.as_mut() {
            sink.record(&TraceRecord {
                time_ns,
                kind,
                a,
                b,
                c,
            });
        }
    }

    /// The hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The hash as 16 lowercase hex digits, the form reports print.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_every_field_and_on_order() {
        let run = |recs: &[(u64, TraceKind, u64)]| {
            let mut t = Trace::new();
            for &(time, k, a) in recs {
                t.record(time, k, a, 0, 0);
            }
            t.hash()
        };
        let base = run(&[(1, TraceKind::Deliver, 5), (2, TraceKind::Timer, 1)]);
        assert_eq!(
            base,
            run(&[(1, TraceKind::Deliver, 5), (2, TraceKind::Timer, 1)])
        );
        assert_ne!(
            base,
            run(&[(2, TraceKind::Timer, 1), (1, TraceKind::Deliver, 5)])
        );
        assert_ne!(
            base,
            run(&[(1, TraceKind::Deliver, 6), (2, TraceKind::Timer, 1)])
        );
        assert_ne!(
            base,
            run(&[(1, TraceKind::Accept, 5), (2, TraceKind::Timer, 1)])
        );
    }

    #[test]
    fn records_print_as_json_lines() {
        let r = TraceRecord {
            time_ns: 5,
            kind: TraceKind::Deliver,
            a: 1,
            b: 2,
            c: 3,
        };
        let v: serde_json::Value = serde_json::from_str(&r.to_string()).unwrap();
        assert_eq!(v["kind"], "deliver");
        assert_eq!(v["t_ns"], 5);
    }
}
