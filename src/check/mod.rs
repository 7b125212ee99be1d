//! Checkers: passive observers of a finished run. They never mutate and never draw randomness;
//! what they find is returned as data for the report and for `[expect]`.
//!
//! - **convergence**: at the end, every replica's link is up and its offset and dataset digest
//!   equal its master's; and how long after the last fault that held.
//! - **acked writes lost**: SETs acknowledged to a client that the final master no longer holds,
//!   neither as their value nor overwritten by a write that began after they were acknowledged.
//!   Counted separately for writes whose WAIT reported enough replicas.
//! - **stale reads**: reads that returned a value older than one already acknowledged when the
//!   read was issued, and by how much.
//! - **resync loop**: replicas that began full syncs again and again and never finished one.
//! - **availability**: the share of writes accepted, the errors returned, and the time spent
//!   refusing every write.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sim::observe::{lag_seconds, Milestone, WriteRecord};
use crate::sim::RunOutput;
use crate::time::SimTime;
use crate::workload::{key_name, value_write_id};

/// A replica's state against its master at the end of the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReplicaConvergence {
    pub replica: String,
    pub master: Option<String>,
    pub link_up: bool,
    pub offset_behind_bytes: Option<u64>,
    pub digest_equal: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Convergence {
    pub converged: bool,
    pub replicas: Vec<ReplicaConvergence>,
    /// Seconds from the last fault's end until every replica stayed caught up (link up, less
    /// than a second behind) to the end of the run.
    pub seconds_after_last_fault: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LostWrite {
    pub workload: String,
    pub key: String,
    pub write_id: u64,
    pub node: String,
    pub invoked_s: f64,
    pub acked_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AckedWritesLost {
    /// The master whose dataset was checked.
    pub final_master: Option<String>,
    pub acked: u64,
    pub lost: u64,
    pub acked_with_wait: u64,
    pub lost_with_wait: u64,
    /// The first lost writes, by invocation time.
    pub examples: Vec<LostWrite>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StaleReads {
    pub reads: u64,
    pub stale: u64,
    pub max_staleness_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReplicaSyncs {
    pub replica: String,
    pub full_syncs_started: u64,
    pub full_syncs_finished: u64,
    pub partial_syncs: u64,
    pub link_up_at_end: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResyncLoop {
    /// Replicas that started at least three full syncs and finished none after the first.
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
                .filter(|r| !(r.link_up && r.digest_equal && r.offset_behind_bytes == Some(0)))
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
                    "{} stale reads, up to {:.0} ms",
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
    let mut replicas = Vec::new();
    for i in 0..w.node_count() {
        let Some(n) = w.node(i) else { continue };
        if n.is_master() {
            continue;
        }
        let m = w.master_of(i);
        let master = m.and_then(|m| w.node(m));
        replicas.push(ReplicaConvergence {
            replica: names[i].clone(),
            master: m.map(|m| names[m].clone()),
            link_up: n.master_link_up(),
            // The same figure as the charts' lag: all of the stream for a replica holding none.
            offset_behind_bytes: w.lag_bytes(i),
            digest_equal: master.is_some() && m.and_then(|m| out.digest(m)) == out.digest(i),
        });
    }
    let converged = replicas
        .iter()
        .all(|r| r.link_up && r.digest_equal && r.offset_behind_bytes == Some(0));
    // The earliest sample after the last fault from which every replica stayed caught up.
    let last_fault = out.world.rec.last_fault_end;
    let samples = &out.world.rec.samples;
    // Caught up: link up and less than a second behind (with writes streaming, a replica is
    // rarely at exactly its master's offset at a sampling instant).
    let caught_up = |k: usize| {
        samples[k].nodes.iter().enumerate().all(|(i, n)| {
            !n.up || n.master || (n.link_up && lag_seconds(samples, k, i).is_some_and(|l| l < 1.0))
        })
    };
    let mut since: Option<SimTime> = None;
    for (k, s) in samples.iter().enumerate() {
        if s.time < last_fault {
            continue;
        }
        if caught_up(k) {
            since.get_or_insert(s.time);
        } else {
            since = None;
        }
    }
    let seconds_after_last_fault = if converged {
        since.map(|t| secs(t.since(last_fault).as_nanos()))
    } else {
        None
    };
    Convergence {
        converged,
        replicas,
        seconds_after_last_fault,
    }
}

fn acked_writes_lost(out: &RunOutput) -> AckedWritesLost {
    let w = &out.world;
    let names = names(out);
    // The master whose data is the outcome: the world's current master at the end.
    let fm = w.current_master();
    let mut res = AckedWritesLost {
        final_master: fm.map(|i| names[i].clone()),
        acked: 0,
        lost: 0,
        acked_with_wait: 0,
        lost_with_wait: 0,
        examples: Vec::new(),
    };
    let writes = &w.rec.writes;
    let Some(master) = fm.and_then(|i| w.node(i)) else {
        return res;
    };
    let final_value = |key: u32| {
        master
            .keyspace
            .db(0)
            .get(&key_name(u64::from(key)))
            .and_then(|e| value_write_id(&e.value))
    };
    for id in lost_writes(writes, final_value) {
        let r = &writes[id];
        res.lost += 1;
        if r.wait_satisfied() {
            res.lost_with_wait += 1;
        }
        if res.examples.len() < 10 {
            res.examples.push(LostWrite {
                workload: w.scenario.workloads[r.workload as usize].name.clone(),
                key: String::from_utf8_lossy(&key_name(u64::from(r.key()))).to_string(),
                write_id: id as u64,
                node: names[r.node as usize].clone(),
                invoked_s: secs(r.invoke_ns),
                acked_s: secs(r.complete_ns),
            });
        }
    }
    let acked = writes.iter().filter(|r| r.is_set() && r.acked());
    res.acked = acked.clone().count() as u64;
    res.acked_with_wait = acked.filter(|r| r.wait_satisfied()).count() as u64;
    res
}

/// The acknowledged SETs (indices into `writes`) that the final dataset does not account for.
/// `final_value(key)` is the id of the write whose value the key holds at the end, if any.
///
/// An acknowledged SET `w` survives if its value is the final one; if the final value came from
/// a write that began after `w` was acknowledged (a legitimate overwrite); if the two were
/// concurrent (either order is correct); or, when the key is absent, if an acknowledged DEL began
/// after `w` was acknowledged. Otherwise `w` was lost.
pub fn lost_writes(writes: &[WriteRecord], final_value: impl Fn(u32) -> Option<u64>) -> Vec<usize> {
    let mut final_of: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    let mut last_del: BTreeMap<u32, u64> = BTreeMap::new();
    for r in writes.iter().filter(|r| r.is_del() && r.acked()) {
        let e = last_del.entry(r.key()).or_insert(0);
        *e = (*e).max(r.invoke_ns);
    }
    let mut lost = Vec::new();
    for (id, r) in writes.iter().enumerate() {
        if !r.is_set() || !r.acked() {
            continue;
        }
        let f = *final_of
            .entry(r.key())
            .or_insert_with(|| final_value(r.key()));
        let is_lost = match f {
            Some(f) if f == id as u64 => false,
            Some(f) => match writes.get(f as usize) {
                // Overwritten by a write that began after this one was acknowledged: not lost.
                Some(x) if r.complete_ns <= x.invoke_ns => false,
                // The surviving write was acknowledged before this one began: this one was lost.
                Some(x) if x.complete_ns <= r.invoke_ns => true,
                // Concurrent writes: either order is legitimate.
                _ => false,
            },
            None => last_del.get(&r.key()).is_none_or(|&d| d < r.complete_ns),
        };
        if is_lost {
            lost.push(id);
        }
    }
    lost
}

fn stale_reads(out: &RunOutput) -> StaleReads {
    let c = &out.world.rec.counters;
    StaleReads {
        reads: c.iter().map(|c| c.reads).sum(),
        stale: c.iter().map(|c| c.stale_reads).sum(),
        max_staleness_ms: c.iter().map(|c| c.max_staleness_ns).max().unwrap_or(0) as f64 / 1e6,
    }
}

fn resync_loop(out: &RunOutput) -> ResyncLoop {
    let w = &out.world;
    let names = names(out);
    let mut replicas = Vec::new();
    let mut looping = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let ms: Vec<&Milestone> = w
            .rec
            .milestones
            .iter()
            .filter(|m| m.node == i)
            .map(|m| &m.what)
            .collect();
        let started = ms
            .iter()
            .filter(|m| matches!(m, Milestone::FullSyncStarted))
            .count() as u64;
        let finished = ms
            .iter()
            .filter(|m| matches!(m, Milestone::FullSyncFinished))
            .count() as u64;
        let partial = ms
            .iter()
            .filter(|m| matches!(m, Milestone::PartialSync))
            .count() as u64;
        if started == 0 && partial == 0 {
            continue;
        }
        let link_up = w.node(i).is_some_and(|n| n.master_link_up());
        if started >= 3 && finished == 0 {
            looping.push(name.clone());
        }
        replicas.push(ReplicaSyncs {
            replica: name.clone(),
            full_syncs_started: started,
            full_syncs_finished: finished,
            partial_syncs: partial,
            link_up_at_end: link_up,
        });
    }
    ResyncLoop { looping, replicas }
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

    /// A write to key 0: (invoke ms, complete ms, acked, SET or DEL).
    fn w(invoke: u64, complete: u64, acked: bool, set: bool) -> WriteRecord {
        WriteRecord::test_key0(invoke, complete, acked, set)
    }

    #[test]
    fn lost_writes_follow_real_time_order() {
        // (history, final value's write id, expected lost ids)
        let cases: Vec<(Vec<WriteRecord>, Option<u64>, Vec<usize>)> = vec![
            // The last write survives: nothing lost.
            (
                vec![w(0, 1, true, true), w(2, 3, true, true)],
                Some(1),
                vec![],
            ),
            // An earlier write survives over a later acknowledged one: the later one is lost.
            (
                vec![w(0, 1, true, true), w(2, 3, true, true)],
                Some(0),
                vec![1],
            ),
            // Concurrent writes: either may win.
            (
                vec![w(0, 5, true, true), w(1, 4, true, true)],
                Some(0),
                vec![],
            ),
            // The key is gone and nothing deleted it: every acknowledged SET is lost.
            (
                vec![w(0, 1, true, true), w(2, 3, true, true)],
                None,
                vec![0, 1],
            ),
            // An acknowledged DEL after the SET explains the absence.
            (
                vec![w(0, 1, true, true), w(2, 3, true, false)],
                None,
                vec![],
            ),
            // A DEL that began before the SET was acknowledged does not.
            (
                vec![w(0, 5, true, true), w(2, 3, true, false)],
                None,
                vec![0],
            ),
            // Unacknowledged writes are never counted, even if their value is gone.
            (vec![w(0, 1, false, true)], None, vec![]),
            // A value from an unacknowledged write that began after the acknowledged one: not lost.
            (
                vec![w(0, 1, true, true), w(2, 3, false, true)],
                Some(1),
                vec![],
            ),
        ];
        for (i, (writes, fin, want)) in cases.into_iter().enumerate() {
            assert_eq!(lost_writes(&writes, |_| fin), want, "case {i}");
        }
    }
}
