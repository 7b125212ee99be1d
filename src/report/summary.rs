//! The human summary of a report: header, per-node table, checks, expectations.

use std::fmt::Write as _;

use serde_json::Value;

fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) => group(u),
            None => n.to_string(),
        },
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
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
pub fn render(report: &Value) -> String {
    let mut s = String::new();
    let sim_s = report["sim_time_us"].as_u64().unwrap_or(0) as f64 / 1e6;
    let _ = writeln!(
        s,
        "replsim: {}  seed {}  trace {}  {:.3}s simulated  {} events",
        report["scenario"].as_str().unwrap_or("?"),
        report["seed"],
        report["trace_hash"].as_str().unwrap_or("?"),
        sim_s,
        num(&report["events"])
    );
    if report["stop"] == "event_limit" {
        let planned = report["timeline"]["duration_ms"].as_f64().unwrap_or(0.0) / 1e3;
        let _ = writeln!(s, "  STOPPED EARLY at the event limit ({} events), at {sim_s:.3}s of {planned:.3}s: the results describe a partial run", num(&report["events"]));
    }
    if let Some(d) = report["description"].as_str().filter(|d| !d.is_empty()) {
        for line in wrap(d, 96) {
            let _ = writeln!(s, "  {line}");
        }
    }
    let _ = writeln!(s);
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
    if let Some(nodes) = report["nodes"].as_object() {
        for (name, n) in nodes {
            if !n["up"].as_bool().unwrap_or(false) {
                let _ = writeln!(s, "{name:<14} {:<8}", "down");
                continue;
            }
            let info = &n["info"];
            let role = if n["role"] == "master" {
                "master"
            } else {
                "replica"
            };
            let (lag, link) = if role == "replica" {
                let behind = report["checks"]["convergence"]["replicas"]
                    .as_array()
                    .and_then(|rs| rs.iter().find(|r| r["replica"] == name.as_str()))
                    .map(|r| num(&r["offset_behind_bytes"]))
                    .unwrap_or_else(|| "-".into());
                (
                    behind,
                    info["master_link_status"]
                        .as_str()
                        .unwrap_or("-")
                        .to_string(),
                )
            } else {
                ("-".into(), "-".into())
            };
            let _ = writeln!(
                s,
                "{:<14} {:<8} {:>14} {:>12} {:>5} {:>10} {:>11} {:>12} {:>9} {:>16}",
                name,
                role,
                num(&info["master_repl_offset"]),
                lag,
                link,
                num(&n["stats"]["sync_full"]),
                num(&n["stats"]["sync_partial_ok"]),
                num(&n["stats"]["sync_partial_err"]),
                num(&n["dataset"]["keys"]),
                n["dataset"]["digest"].as_str().unwrap_or("-"),
            );
        }
    }
    let c = &report["checks"];
    let _ = writeln!(s, "\nchecks");
    let conv = &c["convergence"];
    let conv_text = if conv["converged"].as_bool().unwrap_or(false) {
        match conv["seconds_after_last_fault"].as_f64() {
            Some(t) => format!("every replica caught up, {t:.1}s after the last fault"),
            None => "every replica caught up".into(),
        }
    } else {
        let behind: Vec<String> = conv["replicas"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .filter(|r| {
                        !(r["link_up"].as_bool().unwrap_or(false)
                            && r["digest_equal"].as_bool().unwrap_or(false)
                            && r["offset_behind_bytes"] == 0)
                    })
                    .map(|r| {
                        format!(
                            "{} (link {}, {} bytes behind)",
                            r["replica"].as_str().unwrap_or("?"),
                            if r["link_up"].as_bool().unwrap_or(false) {
                                "up"
                            } else {
                                "down"
                            },
                            num(&r["offset_behind_bytes"])
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        format!("NOT converged: {}", behind.join("; "))
    };
    let _ = writeln!(s, "  {:<20} {conv_text}", "convergence");
    let l = &c["acked_writes_lost"];
    let _ = writeln!(
        s,
        "  {:<20} {} of {} acknowledged SETs lost (with WAIT satisfied: {} of {}){}",
        "acked writes lost",
        num(&l["lost"]),
        num(&l["acked"]),
        num(&l["lost_with_wait"]),
        num(&l["acked_with_wait"]),
        l["final_master"]
            .as_str()
            .map(|m| format!("; final master {m}"))
            .unwrap_or_default()
    );
    let st = &c["stale_reads"];
    let _ = writeln!(
        s,
        "  {:<20} {} of {} reads stale, at most {:.0} ms behind",
        "stale reads",
        num(&st["stale"]),
        num(&st["reads"]),
        st["max_staleness_ms"].as_f64().unwrap_or(0.0)
    );
    let rl = &c["resync_loop"];
    let looping: Vec<&str> = rl["looping"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let syncs: Vec<String> = rl["replicas"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{} {}/{} full, {} partial",
                        r["replica"].as_str().unwrap_or("?"),
                        r["full_syncs_finished"],
                        r["full_syncs_started"],
                        r["partial_syncs"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let loop_text = if looping.is_empty() {
        "none".to_string()
    } else {
        format!("LOOPING: {}", looping.join(", "))
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
    let a = &c["availability"];
    let errors: Vec<String> = a["errors"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k} {}", num(v))).collect())
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "  {:<20} {:.1}% of {} writes accepted; timeouts {}; refused: {}; all writes refused for {:.1}s",
        "availability",
        a["share_accepted"].as_f64().unwrap_or(1.0) * 100.0,
        num(&a["writes"]),
        num(&a["timeouts"]),
        if errors.is_empty() { "none".into() } else { errors.join(", ") },
        a["refusing_seconds"].as_f64().unwrap_or(0.0)
    );
    if let Some(v) = report["violations"].as_array().filter(|v| !v.is_empty()) {
        let _ = writeln!(s, "\nviolations");
        for x in v {
            let tag = if x["expected"].as_bool().unwrap_or(false) {
                "expected  "
            } else {
                "UNEXPECTED"
            };
            let _ = writeln!(
                s,
                "  {tag} {}: {}",
                x["checker"].as_str().unwrap_or("?"),
                x["message"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(ex) = report["expectations"].as_array().filter(|e| !e.is_empty()) {
        let _ = writeln!(s, "\nexpectations");
        for e in ex {
            let mark = if e["ok"].as_bool().unwrap_or(false) {
                "ok  "
            } else {
                "FAIL"
            };
            let _ = writeln!(
                s,
                "  {mark} {}   (actual {})",
                e["expect"].as_str().unwrap_or("?"),
                e["actual"]
            );
        }
    }
    let verdict = if report["ok"].as_bool().unwrap_or(false) {
        "OK"
    } else {
        "FAILED"
    };
    let _ = writeln!(s, "\n{verdict}");
    s
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
