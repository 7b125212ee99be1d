//! The run's operation history as JSON lines (`history.jsonl`), in the shape Jepsen's checkers
//! read: every client operation as an `invoke` event and a completion (`ok`, `fail` or `info`),
//! all in time order. docs/history.md describes every field.
//!
//! A history is recorded only when the run was asked to keep one (`sim::RunOptions::history`).

use std::io::{self, Write};

use crate::sim::observe::{OpCode, OpRecord, Outcome, VALUE_FOREIGN, VALUE_NIL};
use crate::sim::RunOutput;

/// Writes the history of `out`, or nothing if the run kept none. Returns the events written.
pub fn write_jsonl(out: &RunOutput, w: &mut impl Write) -> io::Result<u64> {
    let world = &out.world;
    let Some(ops) = world.rec.history.as_ref() else {
        return Ok(0);
    };
    // (time, op index, completion?) for every event, in time order; at one instant an
    // operation's invocation comes before its completion.
    let mut events: Vec<(u64, u32, bool)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke_ns, i as u32, false));
        events.push((op.complete_ns, i as u32, true));
    }
    events.sort_unstable();
    let nodes: Vec<&str> = world
        .scenario
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    let workloads: Vec<&str> = world
        .scenario
        .workloads
        .iter()
        .map(|wl| wl.name.as_str())
        .collect();
    let mut line = String::new();
    for (index, &(time, i, completion)) in events.iter().enumerate() {
        let op = &ops[i as usize];
        line.clear();
        let kind = if completion {
            op.outcome.name()
        } else {
            "invoke"
        };
        line.push_str(&format!(
            r#"{{"index":{index},"time":{time},"process":{},"type":"{kind}","f":"{}""#,
            op.process,
            op.op.name()
        ));
        match key_name(op) {
            Some(k) => line.push_str(&format!(r#","key":"{k}""#)),
            None => line.push_str(r#","key":null"#),
        }
        line.push_str(&format!(r#","value":{}"#, value(op, completion)));
        if completion && op.outcome == Outcome::Fail {
            let error = world
                .rec
                .error_kinds
                .get(op.value as usize)
                .map_or("ERR", String::as_str);
            line.push_str(&format!(r#","error":"{error}""#));
        }
        line.push_str(&format!(
            r#","node":"{}","workload":"{}"}}"#,
            nodes[op.node as usize], workloads[op.workload as usize]
        ));
        line.push('\n');
        w.write_all(line.as_bytes())?;
    }
    Ok(events.len() as u64)
}

/// The key an operation names, as sent.
fn key_name(op: &OpRecord) -> Option<String> {
    let prefix = match op.op {
        OpCode::Set | OpCode::Get | OpCode::Del => "key",
        OpCode::Incr => "ctr",
        OpCode::Append => "log",
        OpCode::Wait => return None,
    };
    Some(format!("{prefix}:{}", op.key))
}

/// The `value` field: what a write carried (at invocation and completion), what a read or a
/// counting command returned (at an `ok` completion), else null.
fn value(op: &OpRecord, completion: bool) -> String {
    match (op.op, completion, op.outcome) {
        (OpCode::Set, _, _) => op.value.to_string(),
        (_, false, _) | (_, true, Outcome::Fail | Outcome::Info) => "null".into(),
        (OpCode::Get, true, Outcome::Ok) => match op.value {
            VALUE_NIL => "null".into(),
            VALUE_FOREIGN => r#""other""#.into(),
            id => id.to_string(),
        },
        (_, true, Outcome::Ok) => op.value.to_string(),
    }
}
