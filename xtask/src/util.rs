//! Small helpers shared by every xtask command: the error type, running external programs
//! with a visible command line, timing and human-readable sizes.
//!
//! Deliberately std-only so `cargo xtask` compiles in seconds.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// An xtask failure: a message for the user.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error(e.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error(s.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Return early with a formatted [`Error`].
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::util::Error(format!($($arg)*))) };
}

/// Adds a description of what was being done to an I/O error.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

/// The shell-like rendering of a command, for logs and error messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains([' ', '"', '\'', '$']) {
            s.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

/// Runs a command with inherited stdout/stderr; fails if it exits non-zero.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {}", show(cmd));
    let st = cmd.status().ctx(|| format!("cannot start {}", show(cmd)))?;
    if !st.success() {
        bail!("command failed ({st}): {}", show(cmd));
    }
    Ok(())
}

/// Runs a command with stdout and stderr appended to `log`; on failure the log's tail is
/// printed and an error naming the log is returned.
pub fn run_logged(cmd: &mut Command, log: &Path) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    writeln!(f, "+ {}", show(cmd))?;
    let f2 = f.try_clone()?;
    eprintln!("+ {}   (output: {})", show(cmd), log.display());
    let st = cmd.stdin(Stdio::null()).stdout(f).stderr(f2).status().ctx(|| format!("cannot start {}", show(cmd)))?;
    if !st.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for l in &lines[lines.len().saturating_sub(25)..] {
            eprintln!("    {l}");
        }
        bail!("command failed ({st}): {} (full output in {})", show(cmd), log.display());
    }
    Ok(())
}

/// Runs a command and returns its stdout (stderr is passed through).
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.stderr(Stdio::inherit()).output().ctx(|| format!("cannot start {}", show(cmd)))?;
    if !out.status.success() {
        bail!("command failed ({}): {}", out.status, show(cmd));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command quietly; returns its stdout if it succeeded.
pub fn try_output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether we run as root (needed for debootstrap, chroot and apt-get install).
pub fn is_root() -> bool {
    try_output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

/// Seconds elapsed since `t0`, for progress lines.
pub fn secs(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64()
}

/// An exclusive advisory lock on a file, held until dropped. Serialises xtask runs that
/// share the test-bed cache or the `out/e2e` folder.
pub struct Lock(#[allow(dead_code)] std::fs::File);

impl Lock {
    pub fn acquire(path: &Path, what: &str) -> Result<Lock> {
        if let Some(d) = path.parent() {
            mkdirs(d)?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .ctx(|| format!("open lock {}", path.display()))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!("waiting for another xtask run to release {what} ({})", path.display());
                f.lock().ctx(|| format!("lock {}", path.display()))?;
            }
            Err(std::fs::TryLockError::Error(e)) => bail!("lock {}: {e}", path.display()),
        }
        Ok(Lock(f))
    }
}

/// `12.3 MiB`-style size.
pub fn human(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b >= K * K {
        format!("{:.1} MiB", b / (K * K))
    } else if b >= K {
        format!("{:.1} KiB", b / K)
    } else {
        format!("{bytes} B")
    }
}

/// Creates a directory and its parents.
pub fn mkdirs(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).ctx(|| format!("mkdir -p {}", p.display()))
}

/// Removes a directory tree if it exists, without crossing into other file systems.
pub fn remove_tree(p: &Path) -> Result<()> {
    if p.exists() || p.is_symlink() {
        run(Command::new("rm").arg("-rf").arg("--one-file-system").arg(p))?;
    }
    Ok(())
}

/// Writes a file atomically (temporary name, then rename).
pub fn write_atomic(p: &Path, data: &[u8]) -> Result<()> {
    let tmp = with_suffix(p, &format!(".tmp-xtask-{}", std::process::id()));
    std::fs::write(&tmp, data).ctx(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, p).ctx(|| format!("rename to {}", p.display()))?;
    Ok(())
}

/// `path` + `suffix` (e.g. `.partial`) without touching the existing extension.
pub fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_quotes_arguments_with_spaces() {
        let mut c = Command::new("xl");
        c.args(["create", "a b.cfg", "it's"]);
        assert_eq!(show(&c), "xl create 'a b.cfg' 'it'\\''s'");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(2048), "2.0 KiB");
        assert_eq!(human(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
    }

    #[test]
    fn suffix_keeps_extension() {
        assert_eq!(with_suffix(Path::new("/a/b.img"), ".part"), PathBuf::from("/a/b.img.part"));
    }
}
