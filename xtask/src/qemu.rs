//! Boots Xen + the Linux dom0 of the test bed in QEMU (TCG) with swtpm as the hardware TPM,
//! records the serial console (Xen, dom0, and whatever dom0 prints) with host timestamps, and
//! enforces a hard timeout.
//!
//! KVM cannot run Xen on our machines, so this is TCG with `-cpu max,-smap,-smep,-pku,-la57`.

use crate::bail;
use crate::testbed::Testbed;
use crate::util::{self, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Which emulated hardware TPM sits behind QEMU's `tpm-tis` device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tpm {
    None,
    Tpm12,
    Tpm2,
}

/// What to boot.
pub struct Boot<'a> {
    pub testbed: &'a Testbed,
    /// dom0's complete initrd (per-run cpio followed by the cached root file system).
    pub initrd: PathBuf,
    pub tpm: Tpm,
    /// Extra dom0 kernel parameters (e.g. `initcall_blacklist=init_tis` so dom0 leaves the
    /// TPM to a stub domain).
    pub dom0_extra: String,
    /// Serial log to write.
    pub log: PathBuf,
    /// Working directory for swtpm state and sockets.
    pub workdir: PathBuf,
    pub timeout: Duration,
    /// How long to let QEMU power off by itself after `done_marker` was seen.
    pub grace: Duration,
    pub done_marker: &'static str,
    /// A line that must appear within `ready_within` (dom0 up); if it does not, the test bed
    /// stalled before any of our code ran (seen under TCG: QEMU idle during Xen's PCI scan), and
    /// the boot is stopped early with [`Outcome::stalled`] set, so the caller may boot again.
    pub ready_marker: &'static str,
    pub ready_within: Duration,
    /// QEMU's memory (`-m`, MiB): [`MEMORY_MIB`], or [`MEMORY_MIB_MULTI`] when four Linux
    /// guests run at once.
    pub memory_mib: u32,
}

/// The test bed's memory: dom0's 1 GiB, then room for one or two 384 MB guests at a time.
pub const MEMORY_MIB: u32 = 2048;
/// For the `multi` scenario: four 416 MB guests and five stub domains at once beside dom0.
pub const MEMORY_MIB_MULTI: u32 = 3328;

/// How the boot ended.
#[derive(Debug)]
pub struct Outcome {
    pub exit: Option<std::process::ExitStatus>,
    pub timed_out: bool,
    pub done_seen: bool,
    /// `ready_marker` was not seen within `ready_within`.
    pub stalled: bool,
    /// dom0's plan stopped making progress: no `@@` line for [`FROZEN`] after dom0 came up (the
    /// CPU dump was sent at [`SILENCE`]); QEMU was stopped.
    pub frozen: bool,
    pub secs: f64,
}

/// How long the serial line may stay silent (after dom0 came up, before the plan is done)
/// before [`SILENCE_DUMP`] is sent: dom0's plan prints at least every few seconds, except while
/// a `wait` step runs (up to 900 s for a Linux guest), so this only fires on a long wait or a
/// hung test bed, and once per boot.
const SILENCE: Duration = Duration::from_secs(300);

/// How long dom0's plan may print no `@@` line before the test bed counts as frozen. Every plan
/// step reports within this: a `wait` prints the domain's console tail every 240 s, `shutdown`
/// and `gone` end within their own limits (at most 150 s), `xl create` within a few minutes
/// even on a loaded host. Seen under TCG (both Xen CPUs idle in `default_idle`, dom0 and the
/// domains blocked, QEMU idle) at `xl create` of a qdisk domain: a test-bed freeze, not a
/// result.
const FROZEN: Duration = Duration::from_secs(360);

/// What a silent test bed is sent on the serial line (`mon:stdio`: Ctrl-A Ctrl-A is a literal
/// Ctrl-A for the guest, Ctrl-A c switches between serial and QEMU's monitor): QEMU's view of
/// its vCPUs, then, through Xen's console (three Ctrl-A switch its input between dom0 and Xen),
/// Xen's debug keys — `d` pCPU registers and stacks, `0` dom0's vCPUs, `q` every domain's vCPUs
/// and event state, `r` the run queues — then the input goes back to dom0.
const SILENCE_DUMP: &[u8] =
    b"\x01cinfo cpus\ninfo registers -a\n\x01c\x01\x01\x01\x01\x01\x01d0qr\x01\x01\x01\x01\x01\x01";

struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Commas separate modules in QEMU's multiboot `-initrd`; a literal comma is written twice.
pub fn escape_module_cmdline(s: &str) -> String {
    s.replace(',', ",,")
}

fn start_swtpm(b: &Boot) -> Result<(KillOnDrop, Vec<String>)> {
    let state_src = match b.tpm {
        Tpm::None => return Ok((KillOnDrop(None), Vec::new())),
        Tpm::Tpm12 => &b.testbed.swtpm12,
        Tpm::Tpm2 => &b.testbed.swtpm2,
    };
    let dir = b.workdir.join("swtpm");
    util::remove_tree(&dir)?;
    util::mkdirs(&dir)?;
    // every boot starts from the pristine state
    util::run(Command::new("cp").arg("-a").arg(state_src).arg(dir.join("state")))?;
    let sock = dir.join("ctrl.sock");
    let mut cmd = Command::new("swtpm");
    cmd.arg("socket");
    if b.tpm == Tpm::Tpm2 {
        cmd.arg("--tpm2");
    }
    cmd.arg("--tpmstate")
        .arg(format!("dir={}", dir.join("state").display()))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={}", sock.display()))
        .arg("--log")
        .arg(format!("file={},level=2", dir.join("swtpm.log").display()))
        .arg("--terminate")
        .stdin(Stdio::null());
    eprintln!("+ {}", util::show(&cmd));
    let child = cmd.spawn().ctx(|| "start swtpm".to_string())?;
    let guard = KillOnDrop(Some(child));
    let t0 = Instant::now();
    while !sock.exists() {
        if t0.elapsed() > Duration::from_secs(10) {
            bail!("swtpm did not create {} within 10 s (see {})", sock.display(), dir.join("swtpm.log").display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let args = vec![
        "-chardev".into(),
        format!("socket,id=chrtpm,path={}", sock.display()),
        "-tpmdev".into(),
        "emulator,id=tpm0,chardev=chrtpm".into(),
        "-device".into(),
        "tpm-tis,tpmdev=tpm0".into(),
    ];
    Ok((guard, args))
}

/// Xen's command line. `spec-ctrl=eager-fpu`: Xen saves and restores the FPU/SSE/AVX state of
/// every vCPU at each context switch instead of lazily (CR0.TS, restored on the first #NM).
/// Lazy is Xen's default on AMD, which QEMU's `max` CPU is under TCG; with it, programs in the
/// test bed's PV domains now and then went wrong in user space (guest programs crashing in
/// glibc's vector string functions or spinning; xl's rebuild on `xl reboot` finding the kernel
/// "corrupt" and once silently failing to add a vtpm device) while file contents in dom0 stayed
/// intact: wrong vector registers after a switch, QEMU's TCG suspected (tests/e2e/README.md).
pub const XEN_CMDLINE: &str =
    "console=com1 com1=115200 dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all spec-ctrl=eager-fpu";

/// Boots and streams every serial line to `on_line` (already timestamped text without the
/// prefix); returns when QEMU exits, after the grace period, or at the hard timeout.
pub fn boot(b: &Boot, mut on_line: impl FnMut(&str)) -> Result<Outcome> {
    util::mkdirs(&b.workdir)?;
    if let Some(p) = b.log.parent() {
        util::mkdirs(p)?;
    }
    let (_swtpm, tpm_args) = start_swtpm(b)?;
    let xen_cmdline = XEN_CMDLINE;
    let dom0_cmdline = format!("console=hvc0 earlyprintk=xen panic=-1 loglevel=4 {}", b.dom0_extra).trim().to_string();
    let modules =
        format!("{} {},{}", b.testbed.vmlinuz.display(), escape_module_cmdline(&dom0_cmdline), b.initrd.display());
    let mut cmd = Command::new("qemu-system-x86_64");
    let memory = b.memory_mib.to_string();
    cmd.args(["-accel", "tcg", "-cpu", "max,-smap,-smep,-pku,-la57", "-m", &memory, "-smp", "2"])
        // `mon:stdio`: the serial line and, behind Ctrl-A c, QEMU's monitor, so that a silent
        // test bed can be asked where its CPUs are ([`SILENCE_DUMP`]).
        .args(["-display", "none", "-monitor", "none", "-serial", "mon:stdio", "-no-reboot"])
        .args(&tpm_args)
        .arg("-kernel")
        .arg(&b.testbed.xen)
        .arg("-append")
        .arg(xen_cmdline)
        .arg("-initrd")
        .arg(&modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("+ {}", util::show(&cmd));
    let t0 = Instant::now();
    let mut child = cmd.spawn().ctx(|| "start qemu-system-x86_64".to_string())?;
    let stdout = child.stdout.take().ok_or("no qemu stdout")?;
    let stderr = child.stderr.take().ok_or("no qemu stderr")?;
    let mut stdin = child.stdin.take();
    let mut guard = KillOnDrop(Some(child));

    let (tx, rx) = mpsc::channel::<String>();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(std::result::Result::ok) {
            let s = String::from_utf8_lossy(&line).replace('\r', "");
            if tx.send(s).is_err() {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(std::result::Result::ok) {
            if tx2.send(format!("[qemu stderr] {line}")).is_err() {
                break;
            }
        }
    });

    let mut log = std::io::BufWriter::new(std::fs::File::create(&b.log).ctx(|| format!("create {}", b.log.display()))?);
    let mut done_at: Option<Instant> = None;
    let mut ready_seen = false;
    let mut stalled = false;
    let mut timed_out = false;
    let mut last_line = Instant::now();
    let mut last_plan_line = Instant::now();
    let mut dumped = false;
    let mut frozen = false;
    let exit;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                last_line = Instant::now();
                if line.contains("@@") {
                    last_plan_line = last_line;
                }
                writeln!(log, "[+{:7.2}] {line}", util::secs(t0))?;
                log.flush()?;
                if !ready_seen && line.contains(b.ready_marker) {
                    ready_seen = true;
                }
                if done_at.is_none() && line.contains(b.done_marker) {
                    done_at = Some(Instant::now());
                }
                on_line(&line);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {}
        }
        let child = guard.0.as_mut().ok_or("qemu child lost")?;
        if let Some(st) = child.try_wait()? {
            // drain what is left
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
                writeln!(log, "[+{:7.2}] {line}", util::secs(t0))?;
                on_line(&line);
            }
            exit = Some(st);
            guard.0 = None;
            break;
        }
        if !ready_seen && t0.elapsed() > b.ready_within {
            stalled = true;
            writeln!(
                log,
                "[+{:7.2}] [xtask] no '{}' within {} s: the test bed stalled before dom0 came up; killing QEMU",
                util::secs(t0),
                b.ready_marker,
                b.ready_within.as_secs()
            )?;
            exit = None;
            break;
        }
        if ready_seen && done_at.is_none() && !dumped && last_line.elapsed() > SILENCE {
            dumped = true;
            writeln!(
                log,
                "[+{:7.2}] [xtask] the serial line has been silent for {} s: asking QEMU and Xen where the CPUs are",
                util::secs(t0),
                SILENCE.as_secs()
            )?;
            if let Some(w) = stdin.as_mut() {
                let _ = w.write_all(SILENCE_DUMP).and_then(|_| w.flush());
            }
        }
        if ready_seen && done_at.is_none() && last_plan_line.elapsed() > FROZEN {
            frozen = true;
            writeln!(
                log,
                "[+{:7.2}] [xtask] dom0's plan printed nothing for {} s: the test bed froze; killing QEMU",
                util::secs(t0),
                FROZEN.as_secs()
            )?;
            exit = None;
            break;
        }
        if t0.elapsed() > b.timeout {
            timed_out = true;
            writeln!(
                log,
                "[+{:7.2}] [xtask] hard timeout after {} s: killing QEMU",
                util::secs(t0),
                b.timeout.as_secs()
            )?;
            exit = None;
            break;
        }
        if done_at.is_some_and(|d| d.elapsed() > b.grace) {
            writeln!(
                log,
                "[+{:7.2}] [xtask] dom0 finished but QEMU did not exit within {} s: killing it",
                util::secs(t0),
                b.grace.as_secs()
            )?;
            exit = None;
            break;
        }
    }
    drop(stdin);
    drop(guard);
    log.flush()?;
    Ok(Outcome { exit, timed_out, done_seen: done_at.is_some(), stalled, frozen, secs: util::secs(t0) })
}

/// Concatenates the per-run archive and the cached root file system into dom0's initrd.
/// The uncompressed archive must come first: after a compressed member the kernel does not
/// find a following uncompressed cpio.
pub fn write_dom0_initrd(run_cpio: &[u8], rootfs: &Path, out: &Path) -> Result<()> {
    let mut f = std::fs::File::create(out).ctx(|| format!("create {}", out.display()))?;
    f.write_all(run_cpio)?;
    let mut r = std::fs::File::open(rootfs).ctx(|| format!("open {}", rootfs.display()))?;
    std::io::copy(&mut r, &mut f)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_commas_are_doubled() {
        assert_eq!(escape_module_cmdline("a=b,c console=hvc0"), "a=b,,c console=hvc0");
    }
}
