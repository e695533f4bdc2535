//! What vtpmctl needs from the machine, as one trait so every command is host-testable with a
//! fake: running `xl`, a xenstore client, time, randomness, a domain's console log, the
//! device probe and a management link to a manager. [`RealHost`] is dom0: `std::process::Command`, `xen-dom0`'s xenstore client
//! (connected on first use), `/dev/urandom`, xenconsoled's log files.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xen_hv::XenStore;

use crate::mgmt_link::{self, FrontLink, ManagerLink};

/// A finished command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CmdOutput {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The last non-empty line of stderr (else stdout): what to quote in an error.
    pub fn last_line(&self) -> String {
        let pick = |s: &str| s.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string());
        pick(&self.stderr).or_else(|| pick(&self.stdout)).unwrap_or_else(|| "no output".into())
    }
}

/// The machine, as vtpmctl sees it.
pub trait Host {
    /// Runs `program args…` to completion.
    fn run(&mut self, program: &str, args: &[&str]) -> Result<CmdOutput, String>;
    /// The xenstore client (connected on first use); the error says why there is none.
    fn xenstore(&mut self) -> Result<&mut dyn XenStore, String>;
    /// Monotonic milliseconds.
    fn now_ms(&self) -> u64;
    /// Sleeps (a fake advances its clock).
    fn sleep_ms(&mut self, ms: u64);
    /// Fills `buf` from the OS's random source.
    fn random(&mut self, buf: &mut [u8]) -> Result<(), String>;
    /// The console log of domain `name` so far, if xenconsoled keeps one.
    fn console_log(&mut self, name: &str) -> Option<String>;
    /// Where the console logs are (`--console-dir`).
    fn set_console_dir(&mut self, dir: PathBuf);
    /// `xen_dom0::probe::run`, the test grant offered to `peer` (dom0 if `None`).
    fn probe(&mut self, peer: Option<u16>) -> Vec<xen_dom0::probe::Check>;
    /// A management link to the manager domain `name` (dom0's tpmfront to it); the error says
    /// why there is none.
    fn manager(&mut self, name: &str) -> Result<Box<dyn ManagerLink + '_>, String> {
        Err(format!("no management link to {name} on this host"))
    }
    /// Writes the new disk image's `size_mib` MiB of zeros (the file system's errors, such as
    /// ENOSPC, come back as they are).
    fn fill_disk(&mut self, file: &mut fs::File, size_mib: u64) -> std::io::Result<()> {
        crate::cmd::create::fill_zeros(file, size_mib)
    }
}

/// dom0.
pub struct RealHost {
    xs: Option<xen_dom0::Dom0XenStore>,
    epoch: Instant,
    /// Where xenconsoled writes `guest-NAME.log` (`xenconsoled --log=guest`).
    pub console_dir: PathBuf,
}

/// xenconsoled's default log directory.
pub const DEFAULT_CONSOLE_DIR: &str = "/var/log/xen/console";

impl Default for RealHost {
    fn default() -> Self {
        Self::new()
    }
}

impl RealHost {
    pub fn new() -> Self {
        RealHost { xs: None, epoch: Instant::now(), console_dir: PathBuf::from(DEFAULT_CONSOLE_DIR) }
    }
}

impl Host for RealHost {
    fn run(&mut self, program: &str, args: &[&str]) -> Result<CmdOutput, String> {
        let out = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        Ok(CmdOutput {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn xenstore(&mut self) -> Result<&mut dyn XenStore, String> {
        if self.xs.is_none() {
            self.xs = Some(xen_dom0::xenstore::open().map_err(|e| e.to_string())?);
        }
        match self.xs.as_mut() {
            Some(xs) => Ok(xs),
            None => Err("no xenstore".into()),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn sleep_ms(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn random(&mut self, buf: &mut [u8]) -> Result<(), String> {
        fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf)).map_err(|e| format!("/dev/urandom: {e}"))
    }

    fn console_log(&mut self, name: &str) -> Option<String> {
        let bytes = fs::read(self.console_dir.join(format!("guest-{name}.log"))).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn set_console_dir(&mut self, dir: PathBuf) {
        self.console_dir = dir;
    }

    fn probe(&mut self, peer: Option<u16>) -> Vec<xen_dom0::probe::Check> {
        xen_dom0::probe::run(peer.map(xen_hv::DomId))
    }

    fn manager(&mut self, name: &str) -> Result<Box<dyn ManagerLink + '_>, String> {
        let mut dom0 = xen_dom0::Dom0::open().map_err(|e| e.to_string())?;
        let node = mgmt_link::find_device(&mut dom0.xs, name)?;
        Ok(Box::new(FrontLink::connect(dom0, &node)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_run_and_report_their_output() {
        let mut h = RealHost::new();
        let out = h.run("sh", &["-c", "echo out; echo err >&2; exit 3"]).unwrap();
        assert_eq!(out.code, Some(3));
        assert!(!out.success());
        assert_eq!(out.last_line(), "err");
        assert!(h.run("/nonexistent/xl", &[]).unwrap_err().contains("cannot run /nonexistent/xl"));
        let mut b = [0u8; 32];
        h.random(&mut b).unwrap();
        assert_ne!(b, [0u8; 32]);
        h.console_dir = "/nonexistent".into();
        assert_eq!(h.console_log("x"), None);
    }
}
