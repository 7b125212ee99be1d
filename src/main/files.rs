//! Output files, written so that a reader never sees half of one and a failure never costs an
//! earlier result. A file goes to a temporary name in its own directory and is renamed into
//! place; `run --out DIR` fills a staging directory beside DIR and swaps it in. Every failure
//! names the path and the operating system's error, and exits with code 2.
//!
//! Nothing here removes what it did not create: the staging directory and, after a swap, the
//! previous result it replaced, which must look like one (only files of the kinds `run --out`
//! writes).

use std::cell::RefCell;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use replsim::sim::trace::{TraceRecord, TraceSink};

use crate::BadInput;

/// An error writing `path`: exit code 2, with the path and the OS error.
pub fn write_error(path: &Path, e: &io::Error) -> anyhow::Error {
    BadInput(format!("writing {}: {e}", path.display())).into()
}

/// `path`'s directory, `.` for a bare file name.
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A name beside `path` for something this process makes: `.NAME.replsim-<what>-<pid>`, with a
/// counter if a killed run of the same pid left one behind.
fn beside(path: &Path, what: &str, k: u32) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let suffix = if k == 0 {
        String::new()
    } else {
        format!("-{k}")
    };
    parent_of(path).join(format!(
        ".{name}.replsim-{what}-{}{suffix}",
        std::process::id()
    ))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let (tmp, mut file) = (0..100)
        .find_map(|k| {
            let tmp = beside(path, "tmp", k);
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => None,
                other => Some(other.map(|f| (tmp.clone(), f)).map_err(|e| (tmp, e))),
            }
        })
        .unwrap_or_else(|| {
            Err((
                beside(path, "tmp", 0),
                io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"),
            ))
        })
        .map_err(|(tmp, e)| write_error(&tmp, &e))?;
    let written = file.write_all(bytes).and_then(|()| file.flush());
    drop(file);
    let done = written.and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = fs::remove_file(&tmp);
        return Err(write_error(path, &e));
    }
    Ok(())
}

/// The kinds of file `run --out` writes; a directory holding only these is a previous result
/// that a new run may replace.
const RESULT_EXTENSIONS: &[&str] = &["json", "jsonl", "txt", "png", "svg", "log", "html"];

/// Why `dir` may not be replaced by a result, if it may not.
fn not_a_result(dir: &Path) -> Option<String> {
    let meta = match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => return Some(e.to_string()),
        Ok(m) => m,
    };
    if !meta.is_dir() {
        return Some("it exists and is not a directory".into());
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => return Some(e.to_string()),
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => return Some(e.to_string()),
        };
        let path = entry.path();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let known = path
            .extension()
            .is_some_and(|x| RESULT_EXTENSIONS.iter().any(|k| x == *k));
        if !is_file || !known {
            return Some(format!(
                "it holds {}, which is not something `replsim run --out` writes",
                path.display()
            ));
        }
    }
    None
}

/// A directory of results being written, swapped into place by [`Staging::commit`] and removed
/// if dropped before.
pub struct Staging {
    dest: PathBuf,
    tmp: PathBuf,
    committed: bool,
}

impl Staging {
    /// Checks that `dest` is absent, empty or a previous result, and makes the staging directory
    /// beside it (and `dest`'s parent directories if they are missing).
    pub fn new(dest: &Path) -> anyhow::Result<Staging> {
        if let Some(why) = not_a_result(dest) {
            return Err(BadInput(format!(
                "--out {}: {why}; choose another directory or remove it",
                dest.display()
            ))
            .into());
        }
        let parent = parent_of(dest);
        fs::create_dir_all(&parent).map_err(|e| write_error(&parent, &e))?;
        for k in 0..100 {
            let tmp = beside(dest, "tmp", k);
            match fs::create_dir(&tmp) {
                Ok(()) => {
                    return Ok(Staging {
                        dest: dest.to_path_buf(),
                        tmp,
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(write_error(&tmp, &e)),
            }
        }
        Err(BadInput(format!(
            "--out {}: no free staging name beside it",
            dest.display()
        ))
        .into())
    }

    /// Where the results are written until the swap.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Puts the staged results at the destination. There is a result at the destination at
    /// every instant: where the system can exchange two names in one step (Linux's
    /// `renameat2(RENAME_EXCHANGE)`), the old and the new result swap places at once; elsewhere
    /// the old result is renamed aside, the new one renamed in, and the old one put back if that
    /// fails. The old result is deleted only once the new one is in place.
    pub fn commit(mut self) -> anyhow::Result<()> {
        // The destination may have changed since the run began; it is checked again.
        if let Some(why) = not_a_result(&self.dest) {
            return Err(BadInput(format!(
                "--out {}: {why}; the results were not moved there",
                self.dest.display()
            ))
            .into());
        }
        let old = if fs::symlink_metadata(&self.dest).is_ok() {
            match exchange(&self.tmp, &self.dest) {
                // The staging name now holds the old result.
                Ok(true) => Some(self.tmp.clone()),
                Ok(false) => Some(self.swap_by_renames()?),
                Err(e) => return Err(write_error(&self.dest, &e)),
            }
        } else {
            fs::rename(&self.tmp, &self.dest).map_err(|e| write_error(&self.dest, &e))?;
            None
        };
        self.committed = true;
        if let Some(old) = old {
            fs::remove_dir_all(&old).map_err(|e| {
                BadInput(format!(
                    "the new results are in {}, but removing the old ones from {} failed: {e}",
                    self.dest.display(),
                    old.display()
                ))
            })?;
        }
        Ok(())
    }

    /// The portable swap: old result aside, new one in, old one back if that fails. Returns
    /// where the old result now is.
    fn swap_by_renames(&self) -> anyhow::Result<PathBuf> {
        let aside = (0..100)
            .map(|k| beside(&self.dest, "old", k))
            .find(|p| fs::symlink_metadata(p).is_err())
            .ok_or_else(|| {
                BadInput(format!(
                    "{}: no free name to move the old results to",
                    self.dest.display()
                ))
            })?;
        fs::rename(&self.dest, &aside).map_err(|e| write_error(&self.dest, &e))?;
        if let Err(e) = fs::rename(&self.tmp, &self.dest) {
            let restored = fs::rename(&aside, &self.dest);
            return Err(BadInput(format!(
                "writing {}: {e}; {}",
                self.dest.display(),
                match restored {
                    Ok(()) => "the old results are kept".to_string(),
                    Err(r) => format!("the old results are in {} ({r})", aside.display()),
                }
            ))
            .into());
        }
        Ok(aside)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Exchanges `a` and `b` in one step. `Ok(false)` where the system cannot.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))
    };
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call; renameat2 reads
    // them and keeps no pointer.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // No such system call, or a file system that cannot exchange.
        Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<bool> {
    Ok(false)
}

/// A trace file shared between the sink the engine owns and the CLI, which flushes it after the
/// run and learns of any failure: the sink cannot return one from the middle of a run.
pub struct TraceFile {
    path: PathBuf,
    writer: Option<BufWriter<fs::File>>,
    error: Option<io::Error>,
}

/// The engine's end of a [`TraceFile`].
pub struct TraceFileSink(Rc<RefCell<TraceFile>>);

impl TraceFile {
    pub fn create(path: &Path) -> anyhow::Result<Rc<RefCell<TraceFile>>> {
        let f = fs::File::create(path).map_err(|e| write_error(path, &e))?;
        Ok(Rc::new(RefCell::new(TraceFile {
            path: path.to_path_buf(),
            writer: Some(BufWriter::with_capacity(1 << 20, f)),
            error: None,
        })))
    }

    pub fn sink(file: &Rc<RefCell<TraceFile>>) -> TraceFileSink {
        TraceFileSink(Rc::clone(file))
    }

    /// Whether a write has failed; the rest of the trace is not written.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Flushes the file and returns the first failure, with the path.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(w) = self.writer.take() {
            if let Err(e) = w.into_inner().map_err(|e| e.into_error()) {
                self.error.get_or_insert(e);
            }
        }
        match self.error.take() {
            Some(e) => Err(write_error(&self.path, &e)),
            None => Ok(()),
        }
    }
}

impl TraceSink for TraceFileSink {
    fn record(&mut self, r: &TraceRecord) {
        let mut t = self.0.borrow_mut();
        let Some(w) = t.writer.as_mut() else { return };
        if let Err(e) = writeln!(w, "{r}") {
            // A file cut mid-line is no trace: stop writing, and report it after the run.
            t.writer = None;
            t.error = Some(e);
        }
    }
}
