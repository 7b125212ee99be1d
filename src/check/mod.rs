//! Checkers: passive observers of a finished run. They never mutate and never draw randomness;
//! what they find is returned as data for the report and for `[expect]`. Each verdict's
//! definition is in docs/checkers.md; the short forms:
//!
//! - **convergence**: every replica that is up at the end, at some instant at or after the last
//!   fault, had its link up and the same dataset as its master had at the same offset; and its
//!   link is up at the end.
//! - **acked writes lost**: writes acknowledged to a client that the node ending the run as
//!   master never applied (each other surviving master is reported too). A write the master
//!   applied and a later write overwrote is superseded, not lost.
//! - **stale reads**: reads that returned a value older than one already acknowledged when the
//!   read was issued, per replica, with reads before a replica's first sync counted apart.
//! - **resync loop**: replicas whose last K full syncs (3 by default), since the last fault and
//!   their last success, were all aborted.
//! - **availability**: the share of writes accepted, the errors returned, and the time spent
//!   refusing every write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sim::hist::Percentiles;
use crate::sim::observe::{AttemptOutcome, FaultWindow, SyncAttempt, WriteRecord};
use crate::sim::RunOutput;
use crate::workload::{key_name, value_write_id};

/// How many aborted full syncs in a row make a resync loop.
pub const LOOP_ATTEMPTS: u64 = 3;

/// A replica's convergence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReplicaConvergence {
    pub replica: String,
    pub master: Option<String>,
    pub converged: bool,
    /// The first instant at or after the last fault at which it held its master's dataset at
    /// the same offset with its link up, in simulated seconds.
    pub converged_at_s: Option<f64>,
    /// That instant, counted from the end of the last fault.
    pub seconds_after_last_fault: Option<f64>,
    /// At the end of the run: its link, how far behind its master's offset, and whether the
    /// two datasets are equal right then (with writes in flight they may not be).
    pub link_up: bool,
    pub offset_behind_bytes: Option<u64>,
    pub digest_equal: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Convergence {
    pub converged: bool,
    /// When the last fault ended, in simulated seconds.
    pub last_fault_end_s: f64,
    pub replicas: Vec<ReplicaConvergence>,
    /// The longest any replica took to converge after the last fault.
    pub seconds_after_last_fault: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LostWrite {
    pub workload: String,
    /// `set`, `del`, `incr` or `append`.
    pub op: String,
    pub key: String,
    pub write_id: u64,
    /// The node that executed and acknowledged it.
    pub node: String,
    pub invoked_s: f64,
    pub acked_s: f64,
    /// What its WAIT answered: `satisfied`, `unsatisfied`, or `none` (no WAIT asked, or none
    /// answered).
    pub wait: String,
    /// The fault window its acknowledgement fell in, if any.
    pub window: Option<String>,
}

/// Lost writes counted against one fault window (by acknowledgement time).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WindowLoss {
    /// The window's label, or `outside any fault` for writes acknowledged outside every one.
    pub window: String,
    pub lost: u64,
}

/// Writes lost against another master that survived the run (an unhealed split brain).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OtherMaster {
    pub master: String,
    pub lost: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AckedWritesLost {
    /// The node that ends the run as master, whose dataset is the outcome.
    pub final_master: Option<String>,
    /// Acknowledged writes that changed the dataset (a DEL of a missing key changes nothing and
    /// is not propagated, so it is not counted).
    pub acked: u64,
    pub lost: u64,
    /// Acknowledged writes whose WAIT reported at least the replicas it asked for.
    pub acked_with_wait: u64,
    /// Lost although WAIT had reported enough replicas.
    pub lost_with_wait: u64,
    /// Lost, and WAIT had reported too few replicas (or did not answer in time).
    pub lost_wait_unsatisfied: u64,
    /// Lost, with no WAIT asked for.
    pub lost_without_wait: u64,
    /// Acknowledged SETs the final master applied and a later write then overwrote.
    pub superseded: u64,
    pub by_window: Vec<WindowLoss>,
    /// Each other master alive at the end, and what it lacks.
    pub other_masters: Vec<OtherMaster>,
    /// The first lost writes, by invocation time.
    pub examples: Vec<LostWrite>,
}

/// The reads one node served.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeReads {
    pub node: String,
    pub reads: u64,
    /// Served by a replica before its first completed sync: none of its master's data yet.
    pub before_first_sync: u64,
    pub stale: u64,
    /// How stale the stale reads were.
    pub staleness: Percentiles,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StaleReads {
    pub reads: u64,
    pub stale: u64,
    pub max_staleness_ms: f64,
    pub reads_before_first_sync: u64,
    /// Per node that served reads.
    pub nodes: Vec<NodeReads>,
}

/// One full sync attempt (or a partial resync) of a replica.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AttemptReport {
    pub start_s: f64,
    pub end_s: Option<f64>,
    /// `finished`, `partial`, `in_progress`, or why it was aborted: `output_buffer_hard_limit`,
    /// `output_buffer_soft_limit`, `master_timeout` (the master dropped it), `timeout`,
    /// `link_lost`, `master_error`, `bad_protocol`, `load_failed`, `cancelled`.
    pub outcome: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReplicaSyncs {
    pub replica: String,
    pub full_syncs_started: u64,
    pub full_syncs_finished: u64,
    pub full_syncs_aborted: u64,
    pub partial_syncs: u64,
    /// Full syncs aborted in a row at the end of the run, counting only those that began at or
    /// after the last fault.
    pub aborted_in_a_row: u64,
    pub link_up_at_end: bool,
    /// The last attempts, oldest first (at most 20).
    pub attempts: Vec<AttemptReport>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResyncLoop {
    /// How many aborted full syncs in a row make a loop.
    pub threshold: u64,
    /// Replicas whose last `threshold` full syncs since the last fault were all aborted.
    pub looping: Vec<String>,
    pub replicas: Vec<ReplicaSyncs>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Availability {
    pub writes: u64,
    pub writes_accepted: u64,
    pub share_accepted: f64,
    pub errors: BTreeMap<String, u64>,
    pub timeouts: u64,
    /// Seconds during which writes were issued and every one of them was refused or timed out.
    pub refusing_seconds: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Checks {
    pub convergence: Convergence,
    pub acked_writes_lost: AckedWritesLost,
    pub stale_reads: StaleReads,
    pub resync_loop: ResyncLoop,
    pub availability: Availability,
}

impl Checks {
    /// Violations by checker name; a scenario that expects one says so in `[expect]`.
    pub fn violations(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if !self.convergence.converged {
            let behind: Vec<&str> = self
                .convergence
                .replicas
                .iter()
                .filter(|r| !r.converged)
                .map(|r| r.replica.as_str())
                .collect();
            v.push((
                "convergence",
                format!("not converged: {}", behind.join(", ")),
            ));
        }
        if self.acked_writes_lost.lost > 0 {
            v.push((
                "acked_writes_lost",
                format!("{} acknowledged writes lost", self.acked_writes_lost.lost),
            ));
        }
        if self.stale_reads.stale > 0 {
            v.push((
                "stale_reads",
                format!(
                    "{} stale reads, up to {:.3} ms",
                    self.stale_reads.stale, self.stale_reads.max_staleness_ms
                ),
            ));
        }
        if !self.resync_loop.looping.is_empty() {
            v.push((
                "resync_loop",
                format!("full-resync loop: {}", self.resync_loop.looping.join(", ")),
            ));
        }
        v
    }
}

fn secs(t_ns: u64) -> f64 {
    t_ns as f64 / 1e9
}

/// Runs every checker on a finished run.
pub fn run_checks(out: &RunOutput) -> Checks {
    Checks {
        convergence: convergence(out),
        acked_writes_lost: acked_writes_lost(out),
        stale_reads: stale_reads(out),
        resync_loop: resync_loop(out),
        availability: availability(out),
    }
}

fn names(out: &RunOutput) -> Vec<String> {
    out.world
        .scenario
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect()
}

fn convergence(out: &RunOutput) -> Convergence {
    let w = &out.world;
    let names = names(out);
    let last_fault = w.rec.last_fault_end;
    let mut replicas = Vec::new();
    for i in 0..w.node_count() {
        let Some(n) = w.node(i) else { continue };
        if n.master_host().is_none() {
            continue;
        }
        let m = w.master_of(i);
        let master = m.and_then(|m| w.node(m));
        let link_up = n.master_link_up();
        let at = w.rec.converged_at[i].filter(|&t| t >= last_fault);
        let converged = at.is_some() && link_up && master.is_some();
        replicas.push(ReplicaConvergence {
            replica: names[i].clone(),
            master: m.map(|m| names[m].clone()),
            converged,
            converged_at_s: at.map(|t| secs(t.as_nanos())),
            seconds_after_last_fault: at.map(|t| secs(t.since(last_fault).as_nanos())),
            link_up,
            offset_behind_bytes: w.lag_bytes(i),
            digest_equal: master.is_some() && m.and_then(|m| out.digest(m)) == out.digest(i),
        });
    }
    let converged = replicas.iter().all(|r| r.converged);
    let seconds_after_last_fault = if converged {
        replicas
            .iter()
            .filter_map(|r| r.seconds_after_last_fault)
            .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))))
    } else {
        None
    };
    Convergence {
        converged,
        last_fault_end_s: secs(last_fault.as_nanos()),
        replicas,
        seconds_after_last_fault,
    }
}

/// What a write's WAIT answered, in the report's words.
fn wait_word(r: &WriteRecord) -> &'static str {
    match (r.wait_replied(), r.wait_satisfied()) {
        (_, true) => "satisfied",
        (true, false) => "unsatisfied",
        (false, false) => "none",
    }
}

/// The acknowledged writes (indices into `writes`) that the final master never applied.
/// `applied(id)` says whether it applied write `id`. A write that changed nothing (a DEL of a
/// missing key) is not counted: Redis does not propagate it, so no other node could have it.
pub fn lost_writes(writes: &[WriteRecord], applied: impl Fn(u32) -> bool) -> Vec<usize> {
    writes
        .iter()
        .enumerate()
        .filter(|(id, r)| r.acked() && !r.noop() && !applied(*id as u32))
        .map(|(id, _)| id)
        .collect()
}

/// The fault window a time falls in (the latest that began at or before it).
fn window_of(windows: &[FaultWindow], t_ns: u64) -> Option<&FaultWindow> {
    windows
        .iter()
        .rev()
        .find(|w| w.start.as_nanos() <= t_ns && w.end.is_none_or(|e| t_ns <= e.as_nanos()))
}

fn acked_writes_lost(out: &RunOutput) -> AckedWritesLost {
    let w = &out.world;
    let names = names(out);
    let fm = w.current_master();
    let writes = &w.rec.writes;
    let effective = writes.iter().filter(|r| r.acked() && !r.noop());
    let mut res = AckedWritesLost {
        final_master: fm.map(|i| names[i].clone()),
        acked: effective.clone().count() as u64,
        lost: 0,
        acked_with_wait: effective.filter(|r| r.wait_satisfied()).count() as u64,
        lost_with_wait: 0,
        lost_wait_unsatisfied: 0,
        lost_without_wait: 0,
        superseded: 0,
        by_window: Vec::new(),
        other_masters: Vec::new(),
        examples: Vec::new(),
    };
    let Some(fm) = fm else {
        return res;
    };
    let applied = w.rec.applied.of(fm);
    let lost = lost_writes(writes, |id| applied.contains(id));
    let mut by_window: BTreeMap<String, u64> = BTreeMap::new();
    for &id in &lost {
        let r = &writes[id];
        res.lost += 1;
        match wait_word(r) {
            "satisfied" => res.lost_with_wait += 1,
            "unsatisfied" => res.lost_wait_unsatisfied += 1,
            _ => res.lost_without_wait += 1,
        }
        let window = window_of(&w.rec.windows, r.complete_ns).map(|f| f.label.clone());
        *by_window
            .entry(window.clone().unwrap_or_else(|| "outside any fault".into()))
            .or_default() += 1;
        if res.examples.len() < 10 {
            res.examples.push(LostWrite {
                workload: w.scenario.workloads[r.workload as usize].name.clone(),
                op: r.kind().name().to_string(),
                key: String::from_utf8_lossy(&key_name(u64::from(r.key()))).to_string(),
                write_id: id as u64,
                node: names[r.node as usize].clone(),
                invoked_s: secs(r.invoke_ns),
                acked_s: secs(r.complete_ns),
                wait: wait_word(r).to_string(),
                window,
            });
        }
    }
    res.by_window = by_window
        .into_iter()
        .map(|(window, lost)| WindowLoss { window, lost })
        .collect();
    // Superseded: applied SETs whose value the final dataset no longer holds.
    if let Some(master) = w.node(fm) {
        let mut final_of: BTreeMap<u32, Option<u64>> = BTreeMap::new();
        for (id, r) in writes.iter().enumerate() {
            if !(r.acked() && r.is_set() && applied.contains(id as u32)) {
                continue;
            }
            let f = *final_of.entry(r.key()).or_insert_with(|| {
                master
                    .keyspace
                    .db(0)
                    .get(&key_name(u64::from(r.key())))
                    .and_then(|e| value_write_id(&e.value))
            });
            if f != Some(id as u64) {
                res.superseded += 1;
            }
        }
    }
    for (i, name) in names.iter().enumerate() {
        if i == fm || !w.node(i).is_some_and(|n| n.is_master()) {
            continue;
        }
        let set = w.rec.applied.of(i);
        res.other_masters.push(OtherMaster {
            master: name.clone(),
            lost: lost_writes(writes, |id| set.contains(id)).len() as u64,
        });
    }
    res
}

fn stale_reads(out: &RunOutput) -> StaleReads {
    let w = &out.world;
    let names = names(out);
    let c = &w.rec.counters;
    let nodes = w
        .rec
        .reads
        .iter()
        .enumerate()
        .filter(|(_, r)| r.reads > 0)
        .map(|(i, r)| NodeReads {
            node: names[i].clone(),
            reads: r.reads,
            before_first_sync: r.before_first_sync,
            stale: r.stale,
            staleness: r.staleness.percentiles(),
        })
        .collect();
    StaleReads {
        reads: c.iter().map(|c| c.reads).sum(),
        stale: c.iter().map(|c| c.stale_reads).sum(),
        max_staleness_ms: c.iter().map(|c| c.max_staleness_ns).max().unwrap_or(0) as f64 / 1e6,
        reads_before_first_sync: c.iter().map(|c| c.reads_before_first_sync).sum(),
        nodes,
    }
}

/// Full syncs aborted in a row at the end of `attempts`, among those that began at or after
/// `since_ns`; one still in progress at the end neither counts nor breaks the run.
pub fn aborted_in_a_row(attempts: &[SyncAttempt], since_ns: u64) -> u64 {
    let mut n = 0;
    for a in attempts.iter().rev() {
        if a.start.as_nanos() < since_ns {
            break;
        }
        match a.outcome {
            AttemptOutcome::InProgress => {}
            AttemptOutcome::Aborted(_) => n += 1,
            AttemptOutcome::Finished | AttemptOutcome::Partial => break,
        }
    }
    n
}

fn resync_loop(out: &RunOutput) -> ResyncLoop {
    let w = &out.world;
    let names = names(out);
    let since = w.rec.last_fault_end.as_nanos();
    let mut replicas = Vec::new();
    let mut looping = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let attempts = &w.rec.attempts[i];
        if attempts.is_empty() {
            continue;
        }
        let count = |f: fn(&AttemptOutcome) -> bool| {
            attempts.iter().filter(|a| f(&a.outcome)).count() as u64
        };
        let partial = count(|o| *o == AttemptOutcome::Partial);
        let in_a_row = aborted_in_a_row(attempts, since);
        if in_a_row >= LOOP_ATTEMPTS {
            looping.push(name.clone());
        }
        replicas.push(ReplicaSyncs {
            replica: name.clone(),
            full_syncs_started: attempts.len() as u64 - partial,
            full_syncs_finished: count(|o| *o == AttemptOutcome::Finished),
            full_syncs_aborted: count(|o| matches!(o, AttemptOutcome::Aborted(_))),
            partial_syncs: partial,
            aborted_in_a_row: in_a_row,
            link_up_at_end: w.node(i).is_some_and(|n| n.master_link_up()),
            attempts: attempts
                .iter()
                .skip(attempts.len().saturating_sub(20))
                .map(|a| AttemptReport {
                    start_s: secs(a.start.as_nanos()),
                    end_s: a.end.map(|t| secs(t.as_nanos())),
                    outcome: a.reason().to_string(),
                })
                .collect(),
        });
    }
    ResyncLoop {
        threshold: LOOP_ATTEMPTS,
        looping,
        replicas,
    }
}

fn availability(out: &RunOutput) -> Availability {
    let c = &out.world.rec.counters;
    let writes: u64 = c.iter().map(|c| c.writes).sum();
    let ok: u64 = c.iter().map(|c| c.writes_ok).sum();
    let mut errors = BTreeMap::new();
    for w in c {
        for (k, v) in &w.errors {
            *errors.entry(k.clone()).or_insert(0) += v;
        }
    }
    let samples = &out.world.rec.samples;
    let mut refusing_ns = 0u64;
    for pair in samples.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let d_writes: u64 = b
            .workloads
            .iter()
            .zip(&a.workloads)
            .map(|(x, y)| x.writes - y.writes)
            .sum();
        let d_ok: u64 = b
            .workloads
            .iter()
            .zip(&a.workloads)
            .map(|(x, y)| x.writes_ok - y.writes_ok)
            .sum();
        if d_writes > 0 && d_ok == 0 {
            refusing_ns += b.time.since(a.time).as_nanos();
        }
    }
    Availability {
        writes,
        writes_accepted: ok,
        share_accepted: if writes == 0 {
            1.0
        } else {
            ok as f64 / writes as f64
        },
        errors,
        timeouts: c.iter().map(|c| c.timeouts).sum(),
        refusing_seconds: secs(refusing_ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::SyncAbort;
    use crate::sim::observe::WriteKind;
    use crate::time::SimTime;

    /// A write: (acked, noop, applied by the final master).
    fn w(acked: bool, noop: bool) -> WriteRecord {
        let mut r = WriteRecord::new(0, 0, 0, 0, WriteKind::Set);
        r.set_acked(acked);
        r.set_noop(noop);
        r
    }

    #[test]
    fn a_write_is_lost_only_if_acknowledged_effective_and_never_applied() {
        // (write, applied by the final master, lost)
        let cases = [
            (w(true, false), true, false),
            (w(true, false), false, true),
            // Not acknowledged: the client was never told it happened.
            (w(false, false), false, false),
            // A DEL of a missing key changed nothing and was not propagated.
            (w(true, true), false, false),
        ];
        for (i, (r, applied, lost)) in cases.into_iter().enumerate() {
            let got = lost_writes(&[r], |_| applied);
            assert_eq!(!got.is_empty(), lost, "case {i}");
        }
    }

    fn attempt(start_s: u64, outcome: AttemptOutcome) -> SyncAttempt {
        SyncAttempt {
            start: SimTime::from_nanos(start_s * 1_000_000_000),
            end: None,
            outcome,
            dropped_by_master: None,
        }
    }

    #[test]
    fn a_loop_is_aborted_full_syncs_in_a_row_since_the_last_fault_and_success() {
        use AttemptOutcome::*;
        let abort = || Aborted(SyncAbort::LinkLost);
        // (attempts, last fault end in s, aborted in a row)
        let cases: Vec<(Vec<SyncAttempt>, u64, u64)> = vec![
            // A first sync that finished, then five aborts: a loop whatever came first.
            (
                (0..6)
                    .map(|i| attempt(i, if i == 0 { Finished } else { abort() }))
                    .collect(),
                0,
                5,
            ),
            // One in progress at the end neither counts nor breaks the run.
            (
                vec![
                    attempt(1, abort()),
                    attempt(2, abort()),
                    attempt(3, InProgress),
                ],
                0,
                2,
            ),
            // A partial resync brought it online: the aborts before it are over.
            (
                vec![
                    attempt(1, abort()),
                    attempt(2, abort()),
                    attempt(3, Partial),
                ],
                0,
                0,
            ),
            // Aborts while a fault lasted do not count.
            (
                vec![
                    attempt(1, abort()),
                    attempt(2, abort()),
                    attempt(5, abort()),
                ],
                4,
                1,
            ),
        ];
        for (i, (attempts, since_s, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                aborted_in_a_row(&attempts, since_s * 1_000_000_000),
                want,
                "case {i}"
            );
        }
    }
}
