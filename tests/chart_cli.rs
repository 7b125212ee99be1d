//! `replsim chart` end to end: it redraws the charts of a report.json that `run --out` wrote, and
//! refuses one that lacks a field, naming the field, with exit code 2 instead of drawing zeros;
//! with `--beside` it draws two runs side by side, and refuses what it cannot compare.

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

/// A 16 MB dataset over an 8 Mbit/s link with 300 KB/s of writes for 20 s; `extra` adds directives to
/// `[defaults]`, `replica` names the replica.
fn sync_scenario(name: &str, replica: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nduration = \"40s\"\n[defaults]\n{extra}\
         [[link]]\nbetween = [\"master\", \"{replica}\"]\nbandwidth = \"8mbit\"\n\
         [[node]]\nname = \"master\"\n[node.data]\nbulk_size = \"16mb\"\nbulk_value_size = \"1kb\"\n\
         [[node]]\nname = \"{replica}\"\nreplicaof = \"master\"\n\
         [[workload]]\ntarget = \"master\"\nrate = 300\nvalue_size = \"1kb\"\nkeys = 5000\nstop = \"20s\"\n"
    )
}

/// Runs `toml` with `--out DIR/<name>` and returns the report's path.
fn run_report(dir: &std::path::Path, name: &str, toml: &str) -> std::path::PathBuf {
    let scenario = dir.join(format!("{name}.toml"));
    std::fs::write(&scenario, toml).unwrap();
    let out_dir = dir.join(name);
    let out = replsim(&["run", path(&scenario), "--quiet", "--out", path(&out_dir)]);
    assert!(out.status.success(), "{}", stderr(&out));
    out_dir.join("report.json")
}

#[test]
fn chart_beside_draws_two_runs_side_by_side_and_refuses_what_it_cannot_compare() {
    let dir = scratch("chart-beside");
    let dual = "redis-version = \"valkey-8.1\"\ndual-channel-replication-enabled = \"yes\"\n";
    let classic = run_report(&dir, "classic", &sync_scenario("classic", "replica", ""));
    let dual = run_report(&dir, "dual", &sync_scenario("dual", "replica", dual));
    let charts = dir.join("charts");
    let out = replsim(&[
        "chart",
        path(&classic),
        "--beside",
        path(&dual),
        "--out",
        path(&charts),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let png = std::fs::read(charts.join("beside.png")).unwrap();
    let img = image::load_from_memory(&png).expect("beside.png is a PNG");
    assert_eq!(img.width(), 1800);
    let svg = std::fs::read_to_string(charts.join("beside.svg")).unwrap();
    assert!(svg.starts_with("<svg width=\"1800\""), "{}", &svg[..80]);
    assert!(svg.trim_end().ends_with("</svg>"));
    // plotters writes each text on a line of its own; the headings are the scenarios' names.
    for name in ["classic", "dual"] {
        assert!(
            svg.lines().any(|l| l == name),
            "beside.svg lacks the heading {name}"
        );
    }
    for text in [
        "classic sync: the RDB and the stream on one connection",
        "dual-channel sync: the RDB on a second connection",
        "output buffer on the master (",
        "local buffer on the replica (",
        "lag: behind its master (",
        "no local buffer: this run",
    ] {
        assert!(svg.contains(text), "beside.svg lacks {text:?}");
    }
    let mut written: Vec<String> = std::fs::read_dir(&charts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["beside.png", "beside.svg"]);

    // What cannot be compared is bad input (exit 2), with its reason, and nothing is drawn.
    let other = run_report(&dir, "other", &sync_scenario("other", "replica-2", ""));
    let missing = dir.join("missing.json");
    let summary = dir.join("classic").join("summary.txt");
    let refused = dir.join("refused");
    for (b, reason) in [
        (
            &other,
            "the runs have different replicas (classic: replica; other: replica-2)",
        ),
        (&missing, "missing.json: No such file"),
        (&summary, "summary.txt: not a replsim report"),
    ] {
        let out = replsim(&[
            "chart",
            path(&classic),
            "--beside",
            path(b),
            "--out",
            path(&refused),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(reason), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!refused.exists(), "nothing is drawn");
    }
}
