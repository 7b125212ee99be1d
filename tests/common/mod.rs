//! What the command-line tests share: running the binary, a scratch directory of a test's own,
//! and reading what the binary printed. Each test file uses its own subset of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_replsim");

/// Runs `replsim` with `args` and waits for it.
pub fn replsim(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A fresh, empty directory of the test's own under cargo's scratch space.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A path as the argument it is given as.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What the binary printed on stdout, as JSON; the panic shows both streams.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("JSON on stdout ({e}):\n{}\n{}", stdout(o), stderr(o)))
}

/// Writes `text` as `dir/name` and returns its path as an argument.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("a scenario file");
    path(&p).to_string()
}
