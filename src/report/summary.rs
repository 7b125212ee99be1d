//! The human summary of a report: header, per-node table, checks, expectations.

use std::fmt::Write as _;

use super::{InfoValue, NodeReport, Report};
use crate::sim::Stop;

/// A count, grouped; `-` where there is none.
fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "-".into(), group)
}

/// An INFO value as the table shows it: numbers grouped, text as it is, `-` where INFO lacks it.
fn info_text(v: Option<&InfoValue>) -> String {
    match v {
        Some(&InfoValue::Number(n)) => u64::try_from(n).map_or_else(|_| n.to_string(), group),
        Some(InfoValue::Text(s)) => s.clone(),
        None => "-".into(),
    }
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Splits text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Renders the summary of `report`.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let sim_s = report.sim_time_us as f64 / 1e6;
    let _ = writeln!(
        s,
        "replsim: {}  seed {}  trace {}  {:.3}s simulated  {} events",
        report.scenario,
        report.seed,
        report.trace_hash,
        sim_s,
        group(report.events)
    );
    if let Some(line) = stopped_early(report) {
        let _ = writeln!(s, "  {line}");
    }
    for line in wrap(&report.description, 96) {
        let _ = writeln!(s, "  {line}");
    }
    let _ = writeln!(s);
    nodes_table(&mut s, report);
    checks(&mut s, report);
    let violations = &report.violations;
    if !violations.is_empty() {
        let _ = writeln!(s, "\nviolations");
        for v in violations {
            let tag = if v.expected {
                "expected  "
            } else {
                "UNEXPECTED"
            };
            let _ = writeln!(s, "  {tag} {}: {}", v.checker, v.message);
        }
    }
    if !report.expectations.is_empty() {
        let _ = writeln!(s, "\nexpectations");
        for e in &report.expectations {
            let mark = if e.ok { "ok  " } else { "FAIL" };
            let _ = writeln!(s, "  {mark} {}   (actual {})", e.expect, e.actual);
        }
    }
    let verdict = match (report.ok, report.stop.is_limit()) {
        (true, _) => "OK",
        (false, true) => "FAILED: stopped at a limit before the end of the scenario",
        (false, false) => "FAILED",
    };
    let _ = writeln!(s, "\n{verdict}");
    s
}

/// Which limit ended a run before its duration, and the flag that raises it; `None` for a run
/// that finished.
pub fn stopped_early(report: &Report) -> Option<String> {
    let planned = report.timeline.duration_ms / 1e3;
    let sim_s = report.sim_time_us as f64 / 1e6;
    let (limit, flag, reproducible) = match report.stop {
        Stop::Idle | Stop::TimeLimit => return None,
        Stop::EventLimit => (
            format!("the event limit of {} events", group(report.events)),
            "--max-events",
            "",
        ),
        Stop::WallLimit => (
            "the wall-clock limit".to_string(),
            "--max-wall",
            "; not reproducible: where a run stops on wall time depends on the machine",
        ),
        Stop::MemoryLimit => (
            "the memory limit".to_string(),
            "--max-memory",
            "; not reproducible: where a run stops on memory depends on the machine",
        ),
    };
    Some(format!(
        "STOPPED EARLY at {limit} (raise it with {flag}), at {sim_s:.3}s of {planned:.3}s: the results describe a partial run{reproducible}"
    ))
}

/// One row per node: role, offset, lag, link, sync counts and dataset.
fn nodes_table(s: &mut String, report: &Report) {
    let _ = writeln!(
        s,
        "{:<14} {:<8} {:>14} {:>12} {:>5} {:>10} {:>11} {:>12} {:>9} {:>16}",
        "node",
        "role",
        "offset",
        "lag",
        "link",
        "sync_full",
        "partial_ok",
        "partial_err",
        "keys",
        "digest"
    );
    for (name, node) in &report.nodes {
        let (role, n) = match node {
            NodeReport::Down(_) => {
                let _ = writeln!(s, "{name:<14} {:<8}", "down");
                continue;
            }
            NodeReport::Master(n) => ("master", n),
            NodeReport::Slave(n) => ("replica", n),
        };
        let (lag, link) = match node {
            NodeReport::Slave(_) => {
                let behind = report
                    .checks
                    .convergence
                    .replicas
                    .iter()
                    .find(|r| r.replica == *name)
                    .map_or_else(|| "-".into(), |r| count(r.offset_behind_bytes));
                let link = n
                    .info
                    .get("master_link_status")
                    .and_then(InfoValue::as_text);
                (behind, link.unwrap_or("-").to_string())
            }
            _ => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:<14} {:<8} {:>14} {:>12} {:>5} {:>10} {:>11} {:>12} {:>9} {:>16}",
            name,
            role,
            info_text(n.info.get("master_repl_offset")),
            lag,
            link,
            group(n.stats.sync_full),
            group(n.stats.sync_partial_ok),
            group(n.stats.sync_partial_err),
            group(n.dataset.keys),
            n.dataset.digest,
        );
    }
}

/// One line per checker.
fn checks(s: &mut String, report: &Report) {
    let c = &report.checks;
    let _ = writeln!(s, "\nchecks");
    let conv = &c.convergence;
    let conv_text = if conv.converged {
        match conv.seconds_after_last_fault {
            Some(t) => format!("every replica caught up, {t:.1}s after the last fault"),
            None => "every replica caught up".into(),
        }
    } else {
        let behind: Vec<String> = conv
            .replicas
            .iter()
            .filter(|r| !(r.link_up && r.digest_equal && r.offset_behind_bytes == Some(0)))
            .map(|r| {
                format!(
                    "{} (link {}, {} bytes behind)",
                    r.replica,
                    if r.link_up { "up" } else { "down" },
                    count(r.offset_behind_bytes)
                )
            })
            .collect();
        format!("NOT converged: {}", behind.join("; "))
    };
    let _ = writeln!(s, "  {:<20} {conv_text}", "convergence");
    let l = &c.acked_writes_lost;
    let _ = writeln!(
        s,
        "  {:<20} {} of {} acknowledged SETs lost (with WAIT satisfied: {} of {}){}",
        "acked writes lost",
        group(l.lost),
        group(l.acked),
        group(l.lost_with_wait),
        group(l.acked_with_wait),
        l.final_master
            .as_ref()
            .map(|m| format!("; final master {m}"))
            .unwrap_or_default()
    );
    let st = &c.stale_reads;
    let _ = writeln!(
        s,
        "  {:<20} {} of {} reads stale, at most {:.0} ms behind",
        "stale reads",
        group(st.stale),
        group(st.reads),
        st.max_staleness_ms
    );
    let rl = &c.resync_loop;
    let syncs: Vec<String> = rl
        .replicas
        .iter()
        .map(|r| {
            format!(
                "{} {}/{} full, {} partial",
                r.replica, r.full_syncs_finished, r.full_syncs_started, r.partial_syncs
            )
        })
        .collect();
    let loop_text = if rl.looping.is_empty() {
        "none".to_string()
    } else {
        format!("LOOPING: {}", rl.looping.join(", "))
    };
    let _ = writeln!(
        s,
        "  {:<20} {loop_text}; syncs finished/started: {}",
        "resync loop",
        if syncs.is_empty() {
            "none".into()
        } else {
            syncs.join(", ")
        }
    );
    let a = &c.availability;
    let errors: Vec<String> = a
        .errors
        .iter()
        .map(|(k, v)| format!("{k} {}", group(*v)))
        .collect();
    let _ = writeln!(
        s,
        "  {:<20} {:.1}% of {} writes accepted; timeouts {}; refused: {}; all writes refused for {:.1}s",
        "availability",
        a.share_accepted * 100.0,
        group(a.writes),
        group(a.timeouts),
        if errors.is_empty() { "none".into() } else { errors.join(", ") },
        a.refusing_seconds
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_and_text_wraps() {
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert!(wrap("", 10).is_empty());
    }
}
