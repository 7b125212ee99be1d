//! `replsim chart` end to end: it redraws the charts of a report.json that `run --out` wrote, and
//! refuses one that lacks a field, naming the field, with exit code 2 instead of drawing zeros.

mod common;
use common::*;

#[test]
fn chart_redraws_a_saved_report_and_refuses_one_missing_a_field() {
    let dir = scratch("chart-cli");
    let scenario = dir.join("s.toml");
    std::fs::write(
        &scenario,
        "name = \"s\"\nduration = \"10s\"\n[[node]]\nname = \"m\"\n[[node]]\nname = \"r\"\nreplicaof = \"m\"\n\
         [[workload]]\ntarget = \"m\"\nrate = 100\n[[fault]]\nat = \"4s\"\nkind = \"partition\"\ngroups = [[\"r\"]]\nduration = \"2s\"\n",
    )
    .unwrap();
    let run_dir = dir.join("run");
    let out = replsim(&["run", path(&scenario), "--quiet", "--out", path(&run_dir)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let charts = dir.join("charts");
    let report = run_dir.join("report.json");
    let out = replsim(&["chart", path(&report), "--out", path(&charts)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for chart in ["lag", "backlog", "availability"] {
        for name in [format!("{chart}.png"), format!("{chart}.svg")] {
            assert_eq!(
                std::fs::read(charts.join(&name)).unwrap(),
                std::fs::read(run_dir.join(&name)).unwrap(),
                "{name} redrawn from report.json is the one the run drew"
            );
        }
    }

    let text = std::fs::read_to_string(&report).unwrap();
    let damaged = dir.join("damaged.json");
    let renamed = text.replacen("\"obuf_hard_limit\"", "\"obuf_limit_hard\"", 1);
    assert_ne!(renamed, text);
    std::fs::write(&damaged, renamed).unwrap();
    let out = replsim(&["chart", path(&damaged), "--out", path(&dir.join("none"))]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a replsim report: missing field `obuf_hard_limit`"),
        "{stderr}"
    );
    assert!(!dir.join("none").exists(), "nothing is drawn");
}
