//! The Sentinels in the report: each one's state at the end and its event counts, every event on
//! the timeline, and the summary's lines about failovers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Report, SentinelMark, SentinelReport};
use crate::sim::RunOutput;

/// Each Sentinel at the end of the run, by name.
pub(super) fn reports(out: &RunOutput) -> BTreeMap<String, SentinelReport> {
    let w = &out.world;
    let mut all = BTreeMap::new();
    for (j, spec) in w.scenario.sentinels.iter().enumerate() {
        let s = w.sentinel(j);
        let master = s
            .master_addr(&spec.master_name)
            .map_or_else(String::new, |a| {
                match w
                    .resolve(&a.ip)
                    .filter(|_| a.port == crate::sim::world::PORT)
                {
                    Some(i) => w.scenario.nodes[i].name.clone(),
                    None => format!("{}:{}", a.ip, a.port),
                }
            });
        // Every type Sentinel reports, counted from zero: an expectation that one never
        // happened reads 0, not a missing field.
        let mut events: BTreeMap<String, u64> = crate::sentinel::EVENT_TYPES
            .iter()
            .map(|k| (k.to_string(), 0))
            .collect();
        for e in w.rec.sentinel_events.iter().filter(|e| e.sentinel == j) {
            *events.entry(e.event.kind.clone()).or_insert(0) += 1;
        }
        all.insert(
            spec.name.clone(),
            SentinelReport {
                myid: s.myid().to_string(),
                current_epoch: s.current_epoch(),
                master_name: spec.master_name.clone(),
                master,
                events,
            },
        );
    }
    all
}

/// Every Sentinel event, for the timeline.
pub(super) fn marks(out: &RunOutput) -> Vec<SentinelMark> {
    let w = &out.world;
    w.rec
        .sentinel_events
        .iter()
        .map(|e| SentinelMark {
            t_ms: e.time.as_nanos() as f64 / 1e6,
            sentinel: w.scenario.sentinels[e.sentinel].name.clone(),
            kind: e.event.kind.clone(),
            message: e.event.message.clone(),
        })
        .collect()
}

/// The summary's Sentinel section: each failover a Sentinel led, from the master's objective
/// down to the switch, and each Sentinel's view at the end.
pub fn render(s: &mut String, report: &Report) {
    if report.sentinels.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nsentinels");
    let events = &report.timeline.sentinel_events;
    for (i, e) in events.iter().enumerate() {
        if e.kind != "+elected-leader" {
            continue;
        }
        // The leader's own events of this failover, up to its end.
        let odown = events[..i]
            .iter()
            .rev()
            .find(|x| x.sentinel == e.sentinel && x.kind == "+odown")
            .map(|x| x.t_ms);
        let end = events[i..]
            .iter()
            .filter(|x| x.sentinel == e.sentinel)
            .find(|x| x.kind == "+switch-master" || x.kind.starts_with("-failover-abort"));
        let line = match end {
            Some(x) if x.kind == "+switch-master" => {
                let from_odown = odown.map_or(String::new(), |t| {
                    format!(
                        ", {:.3}s after +odown at {:.3}s",
                        (x.t_ms - t) / 1e3,
                        t / 1e3
                    )
                });
                format!(
                    "failover at {:.3}s led by {}: +switch-master {}{from_odown}",
                    x.t_ms / 1e3,
                    e.sentinel,
                    x.message
                )
            }
            Some(x) => format!(
                "failover led by {} aborted at {:.3}s: {} {}",
                e.sentinel,
                x.t_ms / 1e3,
                x.kind,
                x.message
            ),
            None => format!(
                "failover led by {} from {:.3}s still in progress at the end",
                e.sentinel,
                e.t_ms / 1e3
            ),
        };
        let _ = writeln!(s, "  {line}");
    }
    for (name, r) in &report.sentinels {
        let count = |k: &str| r.events.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            s,
            "  {name:<14} epoch {:<3} {} at {:<12} +sdown {} +odown {} +switch-master {} -failover-abort {}",
            r.current_epoch,
            r.master_name,
            r.master,
            count("+sdown"),
            count("+odown"),
            count("+switch-master"),
            r.events
                .iter()
                .filter(|(k, _)| k.starts_with("-failover-abort"))
                .map(|(_, n)| n)
                .sum::<u64>()
        );
    }
}
