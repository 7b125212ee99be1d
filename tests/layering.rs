//! The crate's layering, enforced. ARCHITECTURE.md states it: dependencies point one way,
//! `main → report → check → sim → workload → scenario → net, redis → seed → fnv`,
//! `sim → sentinel → redis`, `main → nemesis → report`, `main → diff → report`,
//! `main → shrink → report`, `main → sweep → report`, `main → bench → sim` and
//! `main → live → redis`, with `time` a leaf every module may use. A module may import the
//! modules it reaches along those arrows and nothing else; `net` and `redis`, side by side,
//! never import each other.
//!
//! The test reads every file under `src/` and finds each path that names a module of the crate
//! (`crate::x`, `crate::{x, y}`, `replsim::x`, or `super::` climbing to the crate root), in code,
//! comments and strings alike, so that `grep -rn 'crate::sim' src/redis` and this test agree. It
//! prints every offending `file:line`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Each module and the modules directly below it.
const BELOW: &[(&str, &[&str])] = &[
    (
        "main",
        &["nemesis", "sweep", "bench", "live", "diff", "shrink"],
    ),
    ("nemesis", &["report"]),
    ("sweep", &["report"]),
    ("diff", &["report"]),
    ("shrink", &["report"]),
    ("live", &["redis"]),
    ("report", &["check"]),
    ("check", &["sim"]),
    ("bench", &["sim"]),
    ("sim", &["workload", "sentinel"]),
    ("sentinel", &["redis"]),
    ("workload", &["scenario"]),
    ("scenario", &["net", "redis"]),
    ("net", &["seed"]),
    ("redis", &["seed"]),
    ("seed", &["fnv"]),
    ("fnv", &[]),
    ("time", &[]),
];

/// The leaf that every module may use.
const SHARED_LEAF: &str = "time";

/// Files allowed one import above their module, each for a stated reason. The network's tests
/// drive it through the real engine (`sim::Engine`), which the network itself never sees.
const EXCEPTIONS: &[(&str, &str)] = &[("src/net/tests.rs", "sim")];

/// The modules `module` reaches along the arrows.
fn reachable(module: &str) -> BTreeSet<&'static str> {
    let mut reached = BTreeSet::new();
    let mut todo = vec![module.to_string()];
    while let Some(m) = todo.pop() {
        let below = BELOW
            .iter()
            .find(|(name, _)| *name == m)
            .map_or(&[][..], |(_, below)| *below);
        for &b in below {
            if reached.insert(b) {
                todo.push(b.to_string());
            }
        }
    }
    reached
}

/// The modules `module` may import besides itself: those it reaches and the shared leaf.
fn allowed(module: &str) -> BTreeSet<&'static str> {
    let mut ok = reachable(module);
    ok.insert(SHARED_LEAF);
    ok
}

/// The module a file under `src/` belongs to (`None` for the crate root, `lib.rs`), and how deep
/// the file's own module sits below the crate root (for `super::` paths).
fn module_of(rel: &Path) -> (Option<String>, usize) {
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.len() == 1 && parts[0] == "lib" {
        return (None, 0);
    }
    let depth = parts.len() - usize::from(parts.last().is_some_and(|p| p == "mod"));
    (Some(parts[0].clone()), depth)
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first identifier of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    &s[..end]
}

/// The crate's top-level modules that `line` names, for a file whose module sits `depth` below
/// the crate root.
fn imports(line: &str, depth: usize) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["crate::", "replsim::", "super::"] {
        let mut from = 0;
        while let Some(at) = line[from..].find(prefix).map(|i| i + from) {
            from = at + prefix.len();
            // A path starts here only if no identifier or `::` runs into it.
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| is_ident_char(c) || c == ':') {
                continue;
            }
            let mut rest = &line[from..];
            if prefix == "super::" {
                let mut supers = 1;
                while let Some(r) = rest.strip_prefix("super::") {
                    supers += 1;
                    rest = r;
                }
                from = line.len() - rest.len();
                if supers != depth {
                    // Within the file's own module, or an inline module's parent.
                    continue;
                }
            }
            match rest.strip_prefix('{') {
                Some(group) => {
                    // `crate::{a::X, b}`: the first identifier of each item at the top level.
                    let mut level = 0;
                    let mut item_start = true;
                    for (i, c) in group.char_indices() {
                        match c {
                            '{' => level += 1,
                            '}' if level == 0 => break,
                            '}' => level -= 1,
                            ',' if level == 0 => item_start = true,
                            c if item_start && is_ident_char(c) => {
                                // The item's first identifier names the module.
                                found.push(ident(&group[i..]).to_string());
                                item_start = false;
                            }
                            _ => {}
                        }
                    }
                }
                None if !ident(rest).is_empty() => found.push(ident(rest).to_string()),
                None => {}
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules = BTreeSet::new();
    let mut violations = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).expect("under src");
        let shown = format!("src/{}", rel.to_string_lossy().replace('\\', "/"));
        let (module, depth) = module_of(rel);
        // The crate root only declares the modules.
        let Some(module) = module else { continue };
        assert!(
            BELOW.iter().any(|(m, _)| *m == module),
            "{shown}: module `{module}` has no place in the layering (tests/layering.rs, \
             ARCHITECTURE.md)"
        );
        modules.insert(module.clone());
        let ok = allowed(&module);
        let text = fs::read_to_string(path).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            for m in imports(line, depth) {
                let known = BELOW.iter().any(|(name, _)| *name == m);
                let excepted = EXCEPTIONS.contains(&(shown.as_str(), m.as_str()));
                if known && m != module && !ok.contains(m.as_str()) && !excepted {
                    violations.push(format!(
                        "{shown}:{}: `{module}` must not import `{m}`: {}",
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering (ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
    // The table names no module that is gone, and every exception is still needed.
    for (m, _) in BELOW {
        assert!(
            modules.contains(*m),
            "the layering names `{m}`, which src/ lacks"
        );
    }
    for (file, m) in EXCEPTIONS {
        let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let depth = module_of(Path::new(file.trim_start_matches("src/"))).1;
        assert!(
            text.lines()
                .any(|l| imports(l, depth).iter().any(|x| x == m)),
            "{file} no longer imports `{m}`: drop its exception"
        );
    }
}

#[test]
fn arrows_point_one_way() {
    for (m, _) in BELOW {
        assert!(
            !reachable(m).contains(m),
            "`{m}` reaches itself: the layering has a cycle"
        );
    }
    assert!(!allowed("redis").contains("net") && !allowed("net").contains("redis"));
    assert!(!allowed("check").contains("report") && !allowed("bench").contains("check"));
    assert_eq!(
        allowed("redis").into_iter().collect::<Vec<_>>(),
        ["fnv", "seed", "time"]
    );
}

#[test]
fn imports_finds_every_form_of_path_to_a_module() {
    let cases: &[(&str, usize, &[&str])] = &[
        ("use crate::sim::seed::SeedStream;", 2, &["sim"]),
        ("use crate::{sim::Engine, net};", 1, &["sim", "net"]),
        ("use crate::{sim::{a, b}, net::{c}};", 1, &["sim", "net"]),
        (
            "    let x = crate::redis::ReplState::Connected;",
            2,
            &["redis"],
        ),
        ("use replsim::report;", 1, &["report"]),
        ("use super::super::check::run_checks;", 2, &["check"]),
        ("use super::node::Node;", 2, &[]),
        ("use super::*;", 1, &[]),
        ("use super::super::x;", 3, &[]),
        ("use my_crate::sim;", 1, &[]),
        ("use a::crate::sim;", 1, &[]),
        ("/// see [`crate::net::Network`]", 2, &["net"]),
        ("no path here", 1, &[]),
    ];
    for &(line, depth, want) in cases {
        assert_eq!(imports(line, depth), want, "{line:?} at depth {depth}");
    }
}

#[test]
fn files_map_to_their_module_and_depth() {
    let cases: &[(&str, Option<&str>, usize)] = &[
        ("lib.rs", None, 0),
        ("main.rs", Some("main"), 1),
        ("time.rs", Some("time"), 1),
        ("sim/mod.rs", Some("sim"), 1),
        ("sim/world.rs", Some("sim"), 2),
        ("scenario/raw/tests.rs", Some("scenario"), 3),
    ];
    for &(file, module, depth) in cases {
        let (m, d) = module_of(Path::new(file));
        assert_eq!((m.as_deref(), d), (module, depth), "{file}");
    }
}
