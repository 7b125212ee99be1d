//! The human summary of a report: header, per-node table, checks, expectations.

use std::fmt::Write as _;

use super::{InfoValue, NodeReport, Report};
use crate::sim::Stop;

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
    super::sentinels::render(&mut s, report);
    operator_commands(&mut s, report);
    triggered_faults(&mut s, report);
    scripts(&mut s, report);
    probes(&mut s, report);
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

/// One line per operator command with what the node answered; a command that failed (an error
/// reply, or a node that was down) is a warning.
fn operator_commands(s: &mut String, report: &Report) {
    let commands = &report.timeline.operator_commands;
    if commands.is_empty() {
        return;
    }
    let _ = writeln!(s, "\noperator commands");
    for c in commands {
        let tag = if c.error { "WARNING" } else { "" };
        let reply = match (&c.reply, c.error) {
            (Some(r), _) => r.clone(),
            (None, true) => "not run: the node was down".into(),
            (None, false) => "no reply by the end of the run".into(),
        };
        let _ = writeln!(
            s,
            "  {tag:<7} {:>9.3}s  {}: {}  ->  {reply}",
            c.t_ms / 1e3,
            c.node,
            c.command
        );
    }
}

/// One line per script workload: how many of its commands were answered, and its replies
/// counted by text in the order they first came; any error or unanswered command is a warning.
fn scripts(s: &mut String, report: &Report) {
    let scripts = &report.timeline.scripts;
    if scripts.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nscripts");
    for sc in scripts {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for r in &sc.replies {
            let text = match (&r.reply, r.error) {
                (Some(t), _) => t.replace("\r\n", " "),
                (None, true) => "not run: the node was down".into(),
                (None, false) => "no reply by the end of the run".into(),
            };
            match counts.iter_mut().find(|(t, _)| *t == text) {
                Some((_, n)) => *n += 1,
                None => counts.push((text, 1)),
            }
        }
        let answered = sc.replies.iter().filter(|r| r.reply.is_some()).count();
        let errors = sc.replies.iter().filter(|r| r.error).count();
        let tag = if errors > 0 || answered < sc.commands {
            "WARNING"
        } else {
            ""
        };
        let replies: Vec<String> = counts
            .iter()
            .map(|(t, n)| {
                let t = if t.chars().count() > 60 {
                    format!("{}...", t.chars().take(57).collect::<String>())
                } else {
                    t.clone()
                };
                if *n == 1 {
                    t
                } else {
                    format!("{t} x{n}")
                }
            })
            .collect();
        let _ = writeln!(
            s,
            "  {tag:<7} {} on {}: {answered} of {} commands answered, {errors} errors: {}",
            sc.name,
            sc.node,
            sc.commands,
            replies.join(", ")
        );
    }
}

/// The most probe replies the summary lists; the report has them all.
const PROBE_LINES_MAX: usize = 20;

/// One line per probe reply, its lines joined by ` | ` and cut to 100 characters; a reply that
/// did not come (the node down or paused, a command that blocked) or an error is a warning.
fn probes(s: &mut String, report: &Report) {
    let probes = &report.timeline.probes;
    if probes.is_empty() {
        return;
    }
    let _ = writeln!(s, "\nprobes");
    for p in probes.iter().take(PROBE_LINES_MAX) {
        let tag = if p.error { "WARNING" } else { "" };
        let reply = match &p.reply {
            Some(r) => {
                let one: String = r
                    .lines()
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" | ");
                if one.chars().count() > 100 {
                    format!("{}...", one.chars().take(97).collect::<String>())
                } else {
                    one
                }
            }
            None => "no reply: the node was down or paused, or the command blocked".into(),
        };
        let _ = writeln!(
            s,
            "  {tag:<7} {:>9.3}s  {}: {}  ->  {reply}",
            p.t_ms / 1e3,
            p.node,
            p.command
        );
    }
    if probes.len() > PROBE_LINES_MAX {
        let _ = writeln!(
            s,
            "          ... {} more in the report (timeline.probes)",
            probes.len() - PROBE_LINES_MAX
        );
    }
}

/// One line per fault that waited for an event: when it came and the fault applied, or that it
/// never came (a warning: the experiment did not happen as written).
fn triggered_faults(s: &mut String, report: &Report) {
    let faults = &report.timeline.triggered_faults;
    if faults.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "
faults after events"
    );
    for f in faults {
        let (tag, what) = match (f.event_ms, f.applied_ms) {
            (Some(ev), Some(ap)) => (
                "",
                format!("event at {:.3}s, applied at {:.3}s", ev / 1e3, ap / 1e3),
            ),
            (Some(ev), None) => (
                "WARNING",
                format!(
                    "event at {:.3}s, not applied: the run ended first",
                    ev / 1e3
                ),
            ),
            _ => ("WARNING", "never applied: the event never came".to_string()),
        };
        let _ = writeln!(
            s,
            "  {tag:<7} line {}: {} after {}  ->  {what}",
            f.line, f.kind, f.after
        );
    }
}

/// Bytes with a binary unit: `512 B`, `3.4 KB`, `12.0 MB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A duration in seconds with a unit suited to it: `0 ms`, `0.250 ms`, `42 ms`, `3.5 s`.
fn duration(secs: f64) -> String {
    if secs == 0.0 {
        "0 ms".into()
    } else if secs < 0.001 {
        format!("{:.3} ms", secs * 1e3)
    } else if secs < 10.0 {
        format!("{:.0} ms", secs * 1e3)
    } else {
        format!("{secs:.1} s")
    }
}

/// Microseconds as the summary prints latencies and staleness.
fn micros(us: f64) -> String {
    duration(us / 1e6)
}

/// The nodes in topology order: each master (and each node whose master is unknown or down)
/// followed by its replicas, depth first, with their depth; nodes that are down last.
pub(crate) fn topology(report: &Report) -> Vec<(&str, usize)> {
    let master_of = |name: &str| {
        report
            .checks
            .convergence
            .replicas
            .iter()
            .find(|r| r.replica == name)
            .and_then(|r| r.master.as_deref())
    };
    let mut out = Vec::new();
    fn visit<'a>(
        report: &'a Report,
        name: &'a str,
        depth: usize,
        master_of: &dyn Fn(&str) -> Option<&'a str>,
        out: &mut Vec<(&'a str, usize)>,
    ) {
        if out.iter().any(|(n, _)| *n == name) {
            return;
        }
        out.push((name, depth));
        for child in report.nodes.keys() {
            if master_of(child) == Some(name) {
                visit(report, child, depth + 1, master_of, out);
            }
        }
    }
    let roots = report.nodes.iter().filter(|(name, node)| {
        node.live().is_some()
            && master_of(name)
                .is_none_or(|m| report.nodes.get(m).is_none_or(|n| n.live().is_none()))
    });
    for (name, _) in roots {
        visit(report, name, 0, &master_of, &mut out);
    }
    for name in report.nodes.keys() {
        if !out.iter().any(|(n, _)| n == name) {
            out.push((name, 0));
        }
    }
    out
}

/// One row per node, masters first with their replicas indented under them: role, offset,
/// lag (bytes and time), link, the replica's last sync, the sync counters INFO keeps (a node
/// counts the syncs it served), keys and digest.
fn nodes_table(s: &mut String, report: &Report) {
    let _ = writeln!(
        s,
        "{:<18} {:<8} {:>14} {:>22} {:>5} {:>17} {:>10} {:>11} {:>12} {:>9} {:>16}",
        "node",
        "role",
        "offset",
        "lag (bytes / time)",
        "link",
        "last sync",
        "sync_full",
        "partial_ok",
        "partial_err",
        "keys",
        "digest"
    );
    for (name, depth) in topology(report) {
        let label = format!("{}{name}", "  ".repeat(depth));
        let node = &report.nodes[name];
        let (role, n) = match node {
            NodeReport::Down(_) => {
                let _ = writeln!(s, "{label:<18} {:<8}", "down");
                continue;
            }
            NodeReport::Master(n) => ("master", n),
            NodeReport::Slave(n) => ("replica", n),
        };
        let (lag, link, last_sync) = match node {
            NodeReport::Slave(_) => {
                let behind = report
                    .checks
                    .convergence
                    .replicas
                    .iter()
                    .find(|r| r.replica == *name)
                    .and_then(|r| r.offset_behind_bytes);
                let secs = report
                    .timeline
                    .nodes
                    .get(name)
                    .and_then(|t| t.lag_seconds.last().copied().flatten());
                let lag = format!(
                    "{} / {}",
                    behind.map_or_else(|| "-".into(), bytes),
                    secs.map_or_else(|| "-".into(), duration)
                );
                let link = n
                    .info
                    .get("master_link_status")
                    .and_then(InfoValue::as_text)
                    .unwrap_or("-")
                    .to_string();
                let last = report
                    .checks
                    .resync_loop
                    .replicas
                    .iter()
                    .find(|r| r.replica == *name)
                    .and_then(|r| {
                        r.attempts
                            .iter()
                            .rev()
                            .find(|a| a.outcome == "finished" || a.outcome == "partial")
                    })
                    .map_or_else(
                        || "never".to_string(),
                        |a| {
                            let kind = if a.outcome == "finished" {
                                "full"
                            } else {
                                "partial"
                            };
                            format!("{kind} at {:.1}s", a.end_s.unwrap_or(a.start_s))
                        },
                    );
                (lag, link, last)
            }
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            s,
            "{:<18} {:<8} {:>14} {:>22} {:>5} {:>17} {:>10} {:>11} {:>12} {:>9} {:>16}",
            label,
            role,
            info_text(n.info.get("master_repl_offset")),
            lag,
            link,
            last_sync,
            group(n.stats.sync_full),
            group(n.stats.sync_partial_ok),
            group(n.stats.sync_partial_err),
            group(n.dataset.keys),
            n.dataset.digest,
        );
    }
}

/// What each checker found, one block each.
fn checks(s: &mut String, report: &Report) {
    let c = &report.checks;
    let _ = writeln!(s, "\nchecks");
    let conv = &c.convergence;
    let conv_text = if conv.replicas.is_empty() {
        "no replicas".to_string()
    } else if conv.converged {
        match conv.seconds_after_last_fault {
            Some(t) if conv.last_fault_end_s > 0.0 => format!(
                "every replica converged, at most {} after the last fault (at {:.1}s)",
                duration(t),
                conv.last_fault_end_s
            ),
            _ => "every replica converged".into(),
        }
    } else {
        let behind: Vec<String> = conv
            .replicas
            .iter()
            .filter(|r| !r.converged)
            .map(|r| {
                let why = if !r.link_up {
                    "link down at the end".to_string()
                } else if r.converged_at_s.is_none() {
                    "never held its master's data after the last fault".to_string()
                } else {
                    "its master is down".to_string()
                };
                format!(
                    "{} ({why}; {} behind)",
                    r.replica,
                    r.offset_behind_bytes.map_or_else(|| "-".into(), bytes)
                )
            })
            .collect();
        format!("NOT converged: {}", behind.join("; "))
    };
    let _ = writeln!(s, "  {:<20} {conv_text}", "convergence");
    let l = &c.acked_writes_lost;
    let _ = writeln!(
        s,
        "  {:<20} {} of {} acknowledged writes never applied by the final master{}",
        "acked writes lost",
        group(l.lost),
        group(l.acked),
        l.final_master
            .as_ref()
            .map_or_else(|| " (no master at the end)".into(), |m| format!(" ({m})"))
    );
    if l.lost > 0 {
        let _ = writeln!(
            s,
            "  {:<20} WAIT had reported: enough replicas {}, too few {}, no WAIT {}",
            "",
            group(l.lost_with_wait),
            group(l.lost_wait_unsatisfied),
            group(l.lost_without_wait)
        );
        for w in &l.by_window {
            let _ = writeln!(
                s,
                "  {:<20} {} acknowledged during: {}",
                "",
                group(w.lost),
                w.window
            );
        }
    }
    if l.superseded > 0 {
        let _ = writeln!(
            s,
            "  {:<20} {} more were applied, then overwritten by later writes (superseded, not lost)",
            "",
            group(l.superseded)
        );
    }
    for m in &l.other_masters {
        let _ = writeln!(
            s,
            "  {:<20} another master at the end, {}, lacks {}",
            "",
            m.master,
            group(m.lost)
        );
    }
    let st = &c.stale_reads;
    let _ = writeln!(
        s,
        "  {:<20} {} of {} reads stale, at most {} behind{}",
        "stale reads",
        group(st.stale),
        group(st.reads),
        duration(st.max_staleness_ms / 1e3),
        if st.reads_before_first_sync > 0 {
            format!(
                "; {} more served before a replica's first sync",
                group(st.reads_before_first_sync)
            )
        } else {
            String::new()
        }
    );
    for n in st.nodes.iter().filter(|n| n.stale > 0) {
        let p = &n.staleness;
        let _ = writeln!(
            s,
            "  {:<20} {}: {} of {} stale, p50 {}, p99 {}, max {}",
            "",
            n.node,
            group(n.stale),
            group(n.reads),
            micros(p.p50_us),
            micros(p.p99_us),
            micros(p.max_us)
        );
    }
    let rl = &c.resync_loop;
    if rl.replicas.is_empty() {
        let _ = writeln!(s, "  {:<20} none (no replica synced)", "resync loop");
    } else {
        let _ = writeln!(
            s,
            "  {:<20} {}",
            "resync loop",
            if rl.looping.is_empty() {
                "none".to_string()
            } else {
                format!(
                    "LOOPING: {} ({} or more full syncs aborted in a row)",
                    rl.looping.join(", "),
                    rl.threshold
                )
            }
        );
        for r in &rl.replicas {
            let mut reasons: Vec<(&str, u64)> = Vec::new();
            for a in r
                .attempts
                .iter()
                .filter(|a| !["finished", "partial", "in_progress"].contains(&a.outcome.as_str()))
            {
                match reasons.iter_mut().find(|(k, _)| *k == a.outcome) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((&a.outcome, 1)),
                }
            }
            let why: Vec<String> = reasons.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            let _ = writeln!(
                s,
                "  {:<20} {}: full syncs {} finished, {} aborted{}; partial {}",
                "",
                r.replica,
                group(r.full_syncs_finished),
                group(r.full_syncs_aborted),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", why.join(", "))
                },
                group(r.partial_syncs)
            );
        }
    }
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
    for (name, w) in &report.workloads {
        let ops: Vec<String> = w
            .latency
            .iter()
            .map(|(op, p)| format!("{op} p50 {} p99 {}", micros(p.p50_us), micros(p.p99_us)))
            .collect();
        if ops.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  {:<20} {name}: {}", "latency", ops.join("; "));
        if !w.wait_replicas.is_empty() {
            let answers: Vec<String> = w
                .wait_replicas
                .iter()
                .map(|(n, c)| format!("{n}: {}", group(*c)))
                .collect();
            let _ = writeln!(
                s,
                "  {:<20} {name}: WAIT answered (replicas: times) {}{}",
                "",
                answers.join(", "),
                if w.wait_timeouts > 0 {
                    format!("; no answer in time: {}", group(w.wait_timeouts))
                } else {
                    String::new()
                }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_carry_their_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 + 512), "3.5 KB");
        assert_eq!(bytes(12 << 20), "12.0 MB");
        assert_eq!(duration(0.0), "0 ms");
        assert_eq!(duration(0.00025), "0.250 ms");
        assert_eq!(duration(0.05), "50 ms");
        assert_eq!(duration(12.34), "12.3 s");
    }

    #[test]
    fn operator_commands_are_listed_with_their_replies_and_failures_are_warnings() {
        let sc = crate::scenario::parse(
            "ops.toml",
            "name = \"ops\"\nduration = \"3s\"\n[[node]]\nname = \"m\"\n[node.config]\nrequirepass = \"pw\"\n\
             [[node]]\nname = \"r\"\n\
             [[fault]]\nat = \"1s\"\nkind = \"command\"\nnode = \"m\"\ncommand = \"SET k v\"\n\
             [[fault]]\nat = \"1500ms\"\nkind = \"command\"\nnode = \"m\"\ncommand = \"REPLICAOF m nope\"\n\
             [[fault]]\nat = \"2s\"\nkind = \"crash\"\nnode = \"r\"\n\
             [[fault]]\nat = \"2500ms\"\nkind = \"command\"\nnode = \"r\"\ncommand = \"PING\"\n",
        )
        .unwrap();
        let report = super::super::build(&crate::sim::run(sc, 1, u64::MAX, None, &mut |_, _| {}));
        let text = render(&report);
        let section: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "operator commands")
            .take(4)
            .collect();
        assert_eq!(
            section,
            vec![
                "operator commands",
                "              1.000s  m: SET k v  ->  OK",
                "  WARNING     1.500s  m: REPLICAOF m nope  ->  (error) ERR Invalid master port",
                "  WARNING     2.500s  r: PING  ->  not run: the node was down",
            ],
            "{text}"
        );
    }

    #[test]
    fn numbers_group_and_text_wraps() {
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(wrap("a bb ccc dddd", 6), vec!["a bb", "ccc", "dddd"]);
        assert!(wrap("", 10).is_empty());
    }
}
