//! `replsim bench` end to end, at a size that runs in a second or two: every case runs in a child
//! process and its figures come back through JSON, so this checks that round trip and the keys
//! the report promises.

use std::process::Command;

fn replsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_replsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn bench_json_reports_every_case_from_its_own_process() {
    let out = replsim(&[
        "bench",
        "--json",
        "--events",
        "20000",
        "--connections",
        "200",
        "--e2e-seconds",
        "3",
        "--e2e-100-seconds",
        "3",
        "--e2e-1000-seconds",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in [
        "engine_events_per_sec",
        "baseline_events_per_sec",
        "engine_events_per_cpu_sec",
        "baseline_events_per_cpu_sec",
        "ratio_cpu",
        "e2e_3node_sim_sec_per_wall_sec",
        "e2e_100replica_sim_sec_per_wall_sec",
        "keyspace_floor_3node_sim_sec_per_wall_sec",
        "keyspace_floor_100replica_sim_sec_per_wall_sec",
        "wire_floor_3node_sim_sec_per_wall_sec",
        "wire_floor_100replica_sim_sec_per_wall_sec",
        "e2e_3node_peak_rss_mb",
        "e2e_100replica_peak_rss_mb",
        "e2e_3node_sim_sec_per_cpu_sec",
        "e2e_100replica_sim_sec_per_cpu_sec",
        "e2e_1000replica_sim_sec_per_wall_sec",
        "e2e_1000replica_sim_sec_per_cpu_sec",
        "e2e_1000replica_peak_rss_mb",
        "idle_100replica_peak_rss_mb",
        "idle_1000replica_peak_rss_mb",
        "idle_replica_kb",
    ] {
        assert!(
            v[key].as_f64().is_some_and(|x| x > 0.0),
            "{key}: {}",
            v[key]
        );
    }
    // The 100-replica case holds 101 nodes' datasets; its child's memory is its own.
    assert!(v["e2e_100replica_peak_rss_mb"].as_f64() > v["e2e_3node_peak_rss_mb"].as_f64());
    assert!(v["peak_rss_mb"].as_f64() >= v["e2e_100replica_peak_rss_mb"].as_f64());
    // A thousand idle replicas hold more than a hundred.
    assert!(v["idle_1000replica_peak_rss_mb"].as_f64() > v["idle_100replica_peak_rss_mb"].as_f64());
}

#[test]
fn bench_refuses_a_run_too_short_to_write() {
    let out = replsim(&["bench", "--e2e-seconds", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--e2e-seconds"));
}
