//! The `pvboot` scenario (issue 10's proof): a guest whose `kernel=` is pvgrub-measure boots
//! the test bed's Debian kernel from its own disk, in place. The disk (made on the host with
//! `sfdisk` and `mke2fs -d`) has an MBR with one ext4 partition holding `boot/grub/grub.cfg`
//! (a Debian-style menuentry), `boot/vmlinuz-<release>` and a small initrd whose `/init`
//! (busybox from the test bed's root file system) loads xen-tpmfront, prints
//! `/sys/class/tpm/tpm0/pcrs`, starts tcsd and runs tpm-tools' `tpm_version`, and powers off
//! (the initrd carries busybox, tcsd, tpm_version, their libraries' closure, `/etc/tcsd.conf`,
//! the tss user and a tss-owned `/var/lib/tpm`; gzip-compressed, about 4 MB). A vtpm stub domain
//! (configs/vtpm.cfg less its manager line) serves the guest's vTPM; pvgrub-measure runs with
//! its defaults (the in-place boot). Then, one after the other, the same disk in a guest with
//! no vtpm (the loader says so and boots; Linux has no /dev/tpm0), and a guest whose disk is
//! all zeros (no partition table, no file system: one line ending "stopping the domain", and
//! the domain powers off).
//!
//! Checks: the loader's "booting" line names the kernel and carries the PCR values computed
//! here with `sha1sum` (pv-grub's measurement, fact sheet §9); the booted Linux prints its init
//! line; PCR-04 and PCR-05 as Linux reads them equal those values; `tpm_version` through tcsd
//! prints the TPM 1.2 version info; the guest powers off by itself, and no line says "stopping
//! the domain". For the two other guests: see [`check_no_vtpm`] and [`check_broken`].

use super::config::XlConfig;
use super::log::{Event, ScenarioLog};
use super::plan::{Domain, Plan};
use super::scenarios::{Check, Checks, load_config};
use crate::testbed::Testbed;
use crate::util::{self, Context, Result};
use crate::{bail, cpio};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Scenario name.
pub const NAME: &str = "pvboot";
const VTPM: &str = "vtpm-pvboot";
const GUEST: &str = "pvboot-guest";
/// The same disk, no vtpm.
const NO_VTPM: &str = "pvboot-novtpm";
/// A disk of zeros.
const BROKEN: &str = "pvboot-broken";
/// Created by the plan's `disk` step (`truncate`): all zeros, nothing shipped.
const BROKEN_DISK: &str = "/var/lib/xtask/pvboot-zeroed.img";
const BROKEN_MIB: u32 = 4;
/// The loader alone (it stops before loading anything).
const BROKEN_MEMORY: u32 = 64;
const BROKEN_WAIT: u32 = 120;
/// The guest's disk in dom0 (its size is exactly `DISK_MIB`, so the plan's `truncate` keeps it).
const DISK: &str = "/var/lib/xtask/pvboot.img";
const DISK_MIB: u32 = 32;
/// The partition starts at sector 2048 (1 MiB), as fdisk puts it.
const PART_START: u64 = 2048;
const CMDLINE: &str = "console=hvc0 xt.test=pvboot";
const VTPM_WAIT: u32 = 240;
/// pvgrub-measure reads and decompresses the kernel, then Linux boots.
const GUEST_WAIT: u32 = 600;
/// Memory of the guest (MB): the loader holds the kernel file, the decompressed ELF (66 MB)
/// and one frame per page of the new image (about 80 MB) at once.
const GUEST_MEMORY: u32 = 512;
const LINE: &str = "xt-pvboot:";

/// What the checks need.
pub struct Planned {
    pub vtpm: Domain,
    pub guest: Domain,
    /// The same disk without a vtpm.
    pub no_vtpm: Domain,
    /// The zeroed disk.
    pub broken: Domain,
    /// GRUB's name of the kernel as the loader prints it.
    pub kernel: String,
    pub kernel_len: usize,
    pub initrd_len: usize,
    /// PCR 4 and PCR 5 (hex) a verifier expects.
    pub pcr4: String,
    pub pcr5: String,
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        vec![&self.vtpm, &self.guest, &self.no_vtpm, &self.broken]
    }
}

/// The grub.cfg on the guest's disk: what Debian's grub-mkconfig writes, reduced.
pub fn grub_cfg(kernel: &str, initrd: &str) -> String {
    format!(
        "set default=\"0\"\nset timeout=5\ninsmod part_msdos\ninsmod ext2\n\
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class os {{\n\
\tload_video\n\tinsmod gzio\n\tset root='hd0,msdos1'\n\techo 'Loading Linux ...'\n\
\tlinux /boot/{kernel} {CMDLINE}\n\techo 'Loading initial ramdisk ...'\n\tinitrd /boot/{initrd}\n}}\n"
    )
}

/// The initrd's `/init`: busybox sh; load xen-tpmfront; print the PCRs; tcsd and
/// `tpm_version` (their output as `xt-pvboot: | …` lines); power off. Without a vTPM (no
/// xenbus `vtpm-0` device) it waits 1 s instead of 10 s for the TPM and says "no /dev/tpm0".
pub fn init_script(release: &str) -> String {
    format!(
        "#!/bin/busybox sh\n\
/bin/busybox mkdir -p /proc /sys /dev /bin /tmp /run\n\
/bin/busybox mount -t devtmpfs dev /dev\n\
exec </dev/console >/dev/console 2>&1\n\
/bin/busybox --install -s /bin\n\
export PATH=/bin:/usr/sbin\n\
mount -t proc proc /proc\n\
mount -t sysfs sysfs /sys\n\
echo \"{LINE} init running: Linux $(uname -r), cmdline $(cat /proc/cmdline)\"\n\
sums() {{ bad=$(sha1sum -c /etc/xt-sums 2>&1 | grep -v ': OK$'); echo \"{LINE} files $1: $(grep -c . /etc/xt-sums) listed, $(echo -n \"$bad\" | grep -c .) bad\"; [ -z \"$bad\" ] || echo \"$bad\" | sed 's/^/{LINE} bad: /'; }}\n\
sums at-start\n\
insmod /lib/modules/{release}/kernel/drivers/char/tpm/xen-tpmfront.ko || echo \"{LINE} insmod failed\"\n\
max=100; [ -e /sys/bus/xen/devices/vtpm-0 ] || max=10\n\
i=0\n\
while [ ! -e /sys/class/tpm/tpm0/pcrs ] && [ $i -lt $max ]; do sleep 0.1; i=$((i+1)); done\n\
if [ -e /sys/class/tpm/tpm0/pcrs ]; then\n\
  grep -E '^PCR-0[0-9]' /sys/class/tpm/tpm0/pcrs | sed 's/^/{LINE} /'\n\
  ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up\n\
  tcsd -f >/tmp/tcsd.log 2>&1 &\n\
  tpid=$!\n\
  i=0\n\
  until tpm_version >/tmp/ver 2>&1 || [ $i -ge 60 ]; do sleep 0.5; i=$((i+1)); done\n\
  tpm_version >/tmp/ver 2>&1; rc=$?\n\
  echo \"{LINE} tpm_version rc=$rc (tcsd pid=$tpid running=$(pidof tcsd) waited_ms=$((i*500)))\"\n\
  sed 's/^/{LINE} | /' /tmp/ver\n\
  [ $rc = 0 ] || sed 's/^/{LINE} tcsd: /' /tmp/tcsd.log\n\
  [ $rc = 0 ] || dmesg | grep -i -E 'tcsd|segfault|killed' | sed 's/^/{LINE} dmesg: /'\n\
else\n\
  echo \"{LINE} no /sys/class/tpm/tpm0/pcrs\"\n\
  if [ -e /dev/tpm0 ]; then echo \"{LINE} /dev/tpm0 exists\"; else echo \"{LINE} no /dev/tpm0\"; fi\n\
fi\n\
sums at-end\n\
echo \"{LINE} done\"\n\
sync\n\
poweroff -f\n"
    )
}

/// The guest's config: configs/pvgrub-measure.cfg with the disk and the vtpm (the in-place boot is
/// the loader's default, so `extra=` names no `boot=`).
pub fn guest_config(base: &XlConfig) -> XlConfig {
    let mut cfg = base.clone();
    cfg.set("name", &format!("\"{GUEST}\""));
    cfg.set("memory", &GUEST_MEMORY.to_string());
    cfg.set("disk", &format!("[ \"format=raw, vdev=xvda, access=ro, target={DISK}\" ]"));
    cfg.set("vtpm", &format!("[ \"backend={VTPM}\" ]"));
    cfg.set("extra", "\"loglevel=info\"");
    cfg
}

/// The second guest: the same disk, no vtpm.
pub fn no_vtpm_config(base: &XlConfig) -> XlConfig {
    let mut cfg = guest_config(base);
    cfg.set("name", &format!("\"{NO_VTPM}\""));
    cfg.drop_key("vtpm");
    cfg
}

/// The third guest: a zeroed disk, no vtpm, the loader's memory only.
pub fn broken_config(base: &XlConfig) -> XlConfig {
    let mut cfg = no_vtpm_config(base);
    cfg.set("name", &format!("\"{BROKEN}\""));
    cfg.set("memory", &BROKEN_MEMORY.to_string());
    cfg.set("disk", &format!("[ \"format=raw, vdev=xvda, access=ro, target={BROKEN_DISK}\" ]"));
    cfg
}

/// `data` through the program `cmd` (stdin → stdout).
fn filter(cmd: &mut Command, data: &[u8]) -> Result<Vec<u8>> {
    let name = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().ctx(|| format!("cannot start {name}"))?;
    let Some(mut stdin) = child.stdin.take() else { bail!("{name}: no stdin") };
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    if !out.status.success() {
        bail!("{name} failed ({})", out.status);
    }
    Ok(out.stdout)
}

fn sha1(data: &[u8]) -> Result<[u8; 20]> {
    let out = filter(&mut Command::new("sha1sum"), data)?;
    let text = String::from_utf8_lossy(&out);
    let hex = text.split_whitespace().next().unwrap_or("");
    match parse_hex20(hex) {
        Some(d) => Ok(d),
        None => bail!("sha1sum printed '{text}'"),
    }
}

fn parse_hex20(hex: &str) -> Option<[u8; 20]> {
    let mut d = [0u8; 20];
    if hex.len() != 40 {
        return None;
    }
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(d)
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// pv-grub's measurement from zeroed PCRs: PCR 4 ← SHA-1(kernel file), PCR 5 ← SHA-1(cmdline)
/// then SHA-1(initrd); extend = SHA-1(old ‖ digest).
pub fn expected_pcrs(kernel: &[u8], cmdline: &[u8], initrd: &[u8]) -> Result<(String, String)> {
    let ext = |old: [u8; 20], d: [u8; 20]| -> Result<[u8; 20]> {
        let mut b = old.to_vec();
        b.extend_from_slice(&d);
        sha1(&b)
    };
    let pcr4 = ext([0; 20], sha1(kernel)?)?;
    let pcr5 = ext(ext([0; 20], sha1(cmdline)?)?, sha1(initrd)?)?;
    Ok((hex(&pcr4), hex(&pcr5)))
}

/// The programs of the initrd (paths in the test bed's root file system and in the initrd).
pub const PROGRAMS: &[&str] = &["bin/busybox", "usr/sbin/tcsd", "usr/sbin/tpm_version"];
/// Libraries no program names but glibc loads itself: libgcc_s for the unwinding of
/// `pthread_exit`, which tcsd's threads end with (without it tcsd aborts: "libgcc_s.so.1 must be
/// installed for pthread_exit to work").
pub const DLOPENED: &[&str] = &["lib/x86_64-linux-gnu/libgcc_s.so.1"];

/// Name resolution from files only (tpm_version connects to tcsd at `localhost`).
const NSSWITCH: &str = "passwd: files\ngroup: files\nhosts: files\n";
const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost\n";

/// The small initrd: [`PROGRAMS`] and their libraries' closure from the test bed's root file
/// system, its users and groups, `/etc/tcsd.conf` and `/var/lib/tpm` with the owners and modes
/// they have there (tcsd insists on tss's), the kernel's xen-tpmfront module, `/init`; the
/// cpio is gzip-compressed (the kernel unpacks it), which the disk read and PCR 5 see as is.
fn build_initrd(tb: &Testbed) -> Result<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    let root = &tb.rootfs_dir;
    let mut ar = cpio::Archive::new();
    // what `/etc/xt-sums` lists: every file the booted Linux must see intact
    let sums = std::cell::RefCell::new(String::new());
    let record = |to: &str, data: &[u8]| -> Result<()> {
        sums.borrow_mut().push_str(&format!("{}  /{to}\n", hex(&sha1(data)?)));
        Ok(())
    };
    let copy = |ar: &mut cpio::Archive, from: &Path, to: &str, perm: u32| -> Result<()> {
        let data = std::fs::read(from).ctx(|| format!("read {}", from.display()))?;
        record(to, &data)?;
        ar.file(to, perm, &data);
        Ok(())
    };
    for p in PROGRAMS {
        let Some(from) = crate::elf_needed::resolve_in(root, p) else { bail!("{p}: not in {}", root.display()) };
        copy(&mut ar, &from, p, 0o755)?;
    }
    copy(&mut ar, &root.join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "lib64/ld-linux-x86-64.so.2", 0o755)?;
    for lib in DLOPENED {
        let Some(from) = crate::elf_needed::resolve_in(root, lib) else { bail!("{lib}: not in {}", root.display()) };
        copy(&mut ar, &from, lib, 0o755)?;
    }
    for (soname, from) in crate::elf_needed::closure(root, &[PROGRAMS, DLOPENED].concat())? {
        if DLOPENED.iter().any(|d| d.ends_with(&format!("/{soname}"))) {
            continue;
        }
        copy(&mut ar, &from, &format!("lib/x86_64-linux-gnu/{soname}"), 0o755)?;
    }
    for f in ["etc/passwd", "etc/group"] {
        copy(&mut ar, &root.join(f), f, 0o644)?;
    }
    ar.file("etc/nsswitch.conf", 0o644, NSSWITCH.as_bytes());
    record("etc/nsswitch.conf", NSSWITCH.as_bytes())?;
    ar.file("etc/hosts", 0o644, HOSTS.as_bytes());
    record("etc/hosts", HOSTS.as_bytes())?;
    let conf = root.join("etc/tcsd.conf");
    let meta = std::fs::metadata(&conf).ctx(|| format!("stat {}", conf.display()))?;
    let data = std::fs::read(&conf)?;
    record("etc/tcsd.conf", &data)?;
    ar.file_owned("etc/tcsd.conf", meta.mode(), (meta.uid(), meta.gid()), &data);
    let state = root.join("var/lib/tpm");
    let meta = std::fs::metadata(&state).ctx(|| format!("stat {}", state.display()))?;
    ar.dir_owned("var/lib/tpm", meta.mode(), (meta.uid(), meta.gid()));
    ar.dir("var/run");
    let module = format!("lib/modules/{}/kernel/drivers/char/tpm/xen-tpmfront.ko", tb.kernel_release);
    copy(&mut ar, &tb.kernel_root.join(&module), &module, 0o644)?;
    ar.file("etc/xt-sums", 0o644, sums.borrow().as_bytes());
    ar.file("init", 0o755, init_script(&tb.kernel_release).as_bytes());
    filter(Command::new("gzip").args(["-9", "-n", "-c"]), &ar.finish())
}

/// The disk image: MBR, one Linux partition at 1 MiB, ext4 with the boot files.
fn build_disk(tb: &Testbed, kernel: &[u8], initrd: &[u8], work: &Path) -> Result<Vec<u8>> {
    let tree = work.join("tree");
    util::remove_tree(work)?;
    util::mkdirs(&tree.join("boot/grub"))?;
    let kname = format!("vmlinuz-{}", tb.kernel_release);
    let iname = format!("initrd.img-{}", tb.kernel_release);
    std::fs::write(tree.join("boot/grub/grub.cfg"), grub_cfg(&kname, &iname))?;
    std::fs::write(tree.join("boot").join(&kname), kernel)?;
    std::fs::write(tree.join("boot").join(&iname), initrd)?;
    let total = u64::from(DISK_MIB) * 2048;
    let fs_sectors = total - PART_START;
    let fs = work.join("fs.img");
    util::run(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-d"])
            .arg(&tree)
            .arg(&fs)
            .arg(format!("{}k", fs_sectors / 2)),
    )?;
    let disk = work.join("disk.img");
    std::fs::write(&disk, vec![0u8; (total * 512) as usize])?;
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(&disk)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .ctx(|| "cannot start sfdisk (Debian package fdisk)".to_string())?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(format!("label: dos\nstart={PART_START}, type=83, bootable\n").as_bytes())?;
    }
    if !child.wait()?.success() {
        bail!("sfdisk failed on {}", disk.display());
    }
    let mut bytes = std::fs::read(&disk)?;
    let data = std::fs::read(&fs)?;
    let at = (PART_START * 512) as usize;
    if at + data.len() > bytes.len() {
        bail!("the file system ({} bytes) does not fit the {DISK_MIB} MiB disk", data.len());
    }
    bytes[at..at + data.len()].copy_from_slice(&data);
    Ok(bytes)
}

/// The scenario's disk (and the kernel and initrd on it), built in the scratch directory `work`:
/// also what `cargo xtask bench pvgrub` loads.
pub fn disk_image(tb: &Testbed, work: &Path) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let kernel = std::fs::read(&tb.vmlinuz)?;
    let initrd = build_initrd(tb)?;
    let disk = build_disk(tb, &kernel, &initrd, work)?;
    Ok((kernel, initrd, disk))
}

/// The plan steps (no files): vtpm up, the guest boots through pvgrub-measure and powers off.
pub fn plan_steps(plan: &mut Plan, vtpm: &Domain, guest: &Domain) {
    plan.scenario(NAME);
    plan.create(vtpm, 16);
    plan.wait(&vtpm.name, VTPM_WAIT, "Info: VTPM serving frontends|ERROR|PANIC|panic");
    plan.create(guest, DISK_MIB);
    // It boots Linux: the run's time budget counts it as a Linux guest.
    plan.linux_creates += 1;
    plan.wait(&guest.name, GUEST_WAIT, &format!("{LINE} done|stopping the domain|Kernel panic|FATAL"));
    plan.gone(&guest.name, 60);
    plan.list();
    plan.console(&guest.name);
    plan.console(&vtpm.name);
    plan.destroy(&guest.name);
    plan.destroy(&vtpm.name);
}

/// The plan steps of the two other guests, one after the other (after [`plan_steps`]): the
/// same disk with no vtpm (boots Linux), then the zeroed disk (the loader stops).
pub fn plan_other_guests(plan: &mut Plan, no_vtpm: &Domain, broken: &Domain) {
    plan.create(no_vtpm, DISK_MIB);
    plan.linux_creates += 1;
    plan.wait(&no_vtpm.name, GUEST_WAIT, &format!("{LINE} done|stopping the domain|Kernel panic|FATAL"));
    plan.gone(&no_vtpm.name, 60);
    plan.console(&no_vtpm.name);
    plan.destroy(&no_vtpm.name);
    plan.create(broken, BROKEN_MIB);
    plan.wait(&broken.name, BROKEN_WAIT, "stopping the domain|PANIC|panic|booting");
    plan.gone(&broken.name, 60);
    plan.list();
    plan.console(&broken.name);
    plan.destroy(&broken.name);
}

pub fn plan(plan: &mut Plan, dir: &Path, tb: &Testbed) -> Result<Planned> {
    let mut vcfg = load_config(dir, "vtpm.cfg", &mut plan.notes)?;
    vcfg.set("name", &format!("\"{VTPM}\""));
    let vtpm = Domain { name: VTPM.into(), cfg: vcfg, image: Some("vtpm-stubdom".into()) };
    let base = load_config(dir, "pvgrub-measure.cfg", &mut plan.notes)?;
    let guest = Domain { name: GUEST.into(), cfg: guest_config(&base), image: Some("pvgrub-measure".into()) };
    let no_vtpm = Domain { name: NO_VTPM.into(), cfg: no_vtpm_config(&base), image: Some("pvgrub-measure".into()) };
    let broken = Domain { name: BROKEN.into(), cfg: broken_config(&base), image: Some("pvgrub-measure".into()) };
    let (kernel, initrd, disk) = disk_image(tb, &crate::paths::out().join("pvboot-disk"))?;
    let (pcr4, pcr5) = expected_pcrs(&kernel, CMDLINE.as_bytes(), &initrd)?;
    plan.file(DISK, 0o644, disk);
    plan_steps(plan, &vtpm, &guest);
    plan_other_guests(plan, &no_vtpm, &broken);
    Ok(Planned {
        vtpm,
        guest,
        no_vtpm,
        broken,
        kernel: format!("(hd0,msdos1)/boot/vmlinuz-{}", tb.kernel_release),
        kernel_len: kernel.len(),
        initrd_len: initrd.len(),
        pcr4,
        pcr5,
    })
}

// ---------------------------------------------------------------- checks

/// `PCR-0n: AB CD …` of the guest's `xt-pvboot:` lines, as lowercase hex without spaces.
pub fn linux_pcr(lines: &[String], n: u32) -> Option<String> {
    let key = format!("{LINE} PCR-{n:02}:");
    let l = lines.iter().find(|l| l.contains(&key))?;
    let hex: String = l[l.find(&key)? + key.len()..].split_whitespace().collect::<String>().to_lowercase();
    (hex.len() == 40 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

fn find<'a>(lines: &'a [String], needle: &str) -> Option<&'a String> {
    lines.iter().find(|l| l.contains(needle))
}

fn tail(lines: &[String], n: usize) -> String {
    let t: Vec<&str> = lines[lines.len().saturating_sub(n)..].iter().map(|s| s.trim()).collect();
    if t.is_empty() { "(empty console)".into() } else { format!("console ends: {}", t.join(" / ")) }
}

pub fn check(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let con: &[String] = log.consoles.get(&p.guest.name).map(Vec::as_slice).unwrap_or(&[]);
    let want = booting_line(p);
    c.pass_if(
        "pvgrub-measure says it boots the kernel, with the expected PCR values",
        find(con, &want).is_some(),
        || {
            find(con, "pvgrub-measure: booting")
                .or_else(|| find(con, "stopping the domain"))
                .cloned()
                .unwrap_or_else(|| tail(con, 6))
        },
    );
    c.pass_if("no failure line from the loader", find(con, "stopping the domain").is_none(), || {
        find(con, "stopping the domain").cloned().unwrap_or_default()
    });
    c.pass_if("the booted Linux runs its init", find(con, &format!("{LINE} init running")).is_some(), || tail(con, 6));
    for (n, want) in [(4, &p.pcr4), (5, &p.pcr5)] {
        let got = linux_pcr(con, n);
        c.pass_if(format!("Linux reads PCR {n} = the prediction"), got.as_deref() == Some(want.as_str()), || {
            format!("Linux: {}, expected {want}", got.unwrap_or_else(|| "no PCR line".into()))
        });
    }
    let gone = gone_by_itself(log, &p.guest);
    c.pass_if("the guest powered off by itself", gone, || "still running 60 s after its last line".into());
    print_console(log, &p.guest.name);
    c.out
}

fn console<'a>(log: &'a ScenarioLog, d: &Domain) -> &'a [String] {
    log.consoles.get(&d.name).map(Vec::as_slice).unwrap_or(&[])
}

fn print_console(log: &ScenarioLog, name: &str) {
    println!("---- {NAME}: console of {name} ----");
    let con: &[String] = log.consoles.get(name).map(Vec::as_slice).unwrap_or(&[]);
    for l in con.iter().filter(|l| l.contains("pvgrub-measure:") || l.contains(LINE) || l.contains("FATAL")) {
        println!("  {}", l.trim_end());
    }
}

fn gone_by_itself(log: &ScenarioLog, d: &Domain) -> bool {
    log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == &d.name))
}

/// The first guest's TPM works through tpm-tools: tcsd started and `tpm_version` printed the
/// TPM 1.2 version info.
pub fn check_tpm_tools(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let con = console(log, &p.guest);
    for when in ["at-start", "at-end"] {
        let line = find(con, &format!("{LINE} files {when}: "));
        c.pass_if(
            format!("the booted Linux finds every initrd file intact (sha1, {when})"),
            line.is_some_and(|l| l.trim_end().ends_with(" listed, 0 bad") && !l.contains(" 0 listed")),
            || line.cloned().unwrap_or_else(|| tail(con, 6)),
        );
    }
    let ver = find(con, &format!("{LINE} tpm_version rc="));
    c.pass_if(
        "the booted Linux runs tpm_version through tcsd ('TPM 1.2 Version Info')",
        ver.is_some_and(|l| l.contains("tpm_version rc=0 ")) && find(con, "TPM 1.2 Version Info").is_some(),
        || ver.cloned().unwrap_or_else(|| tail(con, 6)),
    );
    c.out
}

/// The same disk without a vtpm: the loader says so, boots, and Linux has no TPM.
pub fn check_no_vtpm(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let g = &p.no_vtpm.name;
    let con = console(log, &p.no_vtpm);
    let said = find(con, "pvgrub-measure: no vTPM (").filter(|l| l.contains("nothing measured"));
    c.pass_if(format!("{g}: the loader says there is no vTPM"), said.is_some(), || tail(con, 6));
    c.pass_if(format!("{g}: the loader boots the kernel"), find(con, &booting_line(p)).is_some(), || {
        find(con, "pvgrub-measure: booting").cloned().unwrap_or_else(|| tail(con, 6))
    });
    c.pass_if(format!("{g}: no failure line from the loader"), find(con, "stopping the domain").is_none(), || {
        find(con, "stopping the domain").cloned().unwrap_or_default()
    });
    c.pass_if(
        format!("{g}: the booted Linux runs its init and has no /dev/tpm0"),
        find(con, &format!("{LINE} init running")).is_some() && find(con, &format!("{LINE} no /dev/tpm0")).is_some(),
        || tail(con, 6),
    );
    c.pass_if(format!("{g}: powered off by itself"), gone_by_itself(log, &p.no_vtpm), || {
        "still running 60 s after its last line".into()
    });
    print_console(log, g);
    c.out
}

/// The zeroed disk: exactly one loader line, ending "stopping the domain"; nothing booted; the
/// domain powers off.
pub fn check_broken(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let g = &p.broken.name;
    let con = console(log, &p.broken);
    let stops: Vec<&String> = con.iter().filter(|l| l.contains("stopping the domain")).collect();
    c.pass_if(
        format!("{g}: one clear line ending 'stopping the domain'"),
        stops.len() == 1 && stops.iter().all(|l| l.trim_end().ends_with("stopping the domain")),
        || if stops.is_empty() { tail(con, 6) } else { format!("{} such lines: {stops:?}", stops.len()) },
    );
    c.pass_if(
        format!("{g}: nothing was booted"),
        find(con, "pvgrub-measure: booting").is_none() && find(con, LINE).is_none(),
        || find(con, "pvgrub-measure: booting").or_else(|| find(con, LINE)).cloned().unwrap_or_default(),
    );
    c.pass_if(format!("{g}: powered off by itself"), gone_by_itself(log, &p.broken), || {
        "still running 60 s after its last line (a hang)".into()
    });
    print_console(log, g);
    c.out
}

/// Every check of the scenario: [`check`], [`check_tpm_tools`], [`check_no_vtpm`], [`check_broken`].
pub fn check_all(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut all = check(log, p);
    all.extend(check_tpm_tools(log, p));
    all.extend(check_no_vtpm(log, p));
    all.extend(check_broken(log, p));
    all
}

/// The loader's line before it boots, with the predicted PCRs.
fn booting_line(p: &Planned) -> String {
    format!(
        "pvgrub-measure: booting {} ({} bytes), initrd {} bytes; PCR4={} PCR5={}",
        p.kernel, p.kernel_len, p.initrd_len, p.pcr4, p.pcr5
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::log::parse;

    fn planned() -> Planned {
        let d = |n: &str, img: &str| Domain { name: n.into(), cfg: XlConfig::new(""), image: Some(img.into()) };
        Planned {
            vtpm: d(VTPM, "vtpm-stubdom"),
            guest: d(GUEST, "pvgrub-measure"),
            no_vtpm: d(NO_VTPM, "pvgrub-measure"),
            broken: d(BROKEN, "pvgrub-measure"),
            kernel: "(hd0,msdos1)/boot/vmlinuz-6.1.0-57-amd64".into(),
            kernel_len: 8247232,
            initrd_len: 4096,
            pcr4: "11".repeat(20),
            pcr5: "ab".repeat(20),
        }
    }

    fn log_with(lines: &[&str], gone: bool) -> ScenarioLog {
        let mut s = format!("@@xt scenario {NAME}\n@@xt gone {GUEST} {} secs=3\n", if gone { "yes" } else { "no" });
        s += &format!("@@xt console {GUEST} begin\n");
        for l in lines {
            s += &format!("@@con {GUEST}| {l}\n");
        }
        parse(&s).scenarios.remove(NAME).unwrap()
    }

    #[test]
    fn a_good_boot_passes_every_check() {
        let p = planned();
        let booting = format!(
            "pvgrub-measure: booting {} (8247232 bytes), initrd 4096 bytes; PCR4={} PCR5={}",
            p.kernel, p.pcr4, p.pcr5
        );
        let pcr4 = format!("xt-pvboot: PCR-04: {}", ["11"; 20].join(" "));
        let pcr5 = format!("xt-pvboot: PCR-05: {}", ["AB"; 20].join(" "));
        let l = log_with(
            &[&booting, "xt-pvboot: init running: Linux 6.1.0-57-amd64", &pcr4, &pcr5, "xt-pvboot: done"],
            true,
        );
        let r = check(&l, &p);
        assert_eq!(r.len(), 6);
        assert!(r.iter().all(|c| c.result.is_ok()), "{r:?}");
    }

    #[test]
    fn wrong_pcrs_a_failed_loader_and_a_hang_fail() {
        let p = planned();
        let pcr4 = format!("xt-pvboot: PCR-04: {}", ["12"; 20].join(" "));
        let l = log_with(
            &["pvgrub-measure: in-place boot: Xen refused the new page tables; stopping the domain", &pcr4],
            false,
        );
        let failed: Vec<String> = check(&l, &p).into_iter().filter(|c| c.result.is_err()).map(|c| c.what).collect();
        assert_eq!(
            failed,
            [
                "pvgrub-measure says it boots the kernel, with the expected PCR values",
                "no failure line from the loader",
                "the booted Linux runs its init",
                "Linux reads PCR 4 = the prediction",
                "Linux reads PCR 5 = the prediction",
                "the guest powered off by itself"
            ]
        );
    }

    #[test]
    fn plan_config_and_files() {
        let mut notes = Vec::new();
        let base = load_config(&crate::paths::configs(), "pvgrub-measure.cfg", &mut notes).unwrap();
        let g = guest_config(&base);
        assert_eq!(g.string("name").as_deref(), Some(GUEST));
        assert_eq!(g.string("extra").as_deref(), Some("loglevel=info"));
        assert_eq!(g.file_disks(), [(DISK.to_string(), "xvda".to_string())]);
        assert!(g.raw("vtpm").is_some_and(|v| v.contains(&format!("backend={VTPM}"))));
        let vtpm = Domain { name: VTPM.into(), cfg: XlConfig::new(""), image: Some("vtpm-stubdom".into()) };
        let guest = Domain { name: GUEST.into(), cfg: g, image: Some("pvgrub-measure".into()) };
        let mut p = Plan::default();
        plan_steps(&mut p, &vtpm, &guest);
        let text = p.text();
        // The disk step keeps the shipped image: same size, truncate only.
        assert!(text.contains(&format!("\ndisk {DISK} {DISK_MIB}\ncreate {GUEST} ")), "{text}");
        assert!(text.contains(&format!("wait {GUEST} {GUEST_WAIT} xt-pvboot: done|stopping the domain")));
        assert_eq!(p.creates, 2);
        let cfg = grub_cfg("vmlinuz-6.1.0-57-amd64", "initrd.img-6.1.0-57-amd64");
        assert!(cfg.contains("\tlinux /boot/vmlinuz-6.1.0-57-amd64 console=hvc0 xt.test=pvboot\n"));
        let init = init_script("6.1.0-57-amd64");
        assert!(init.starts_with("#!/bin/busybox sh\n"));
        assert!(init.contains("insmod /lib/modules/6.1.0-57-amd64/kernel/drivers/char/tpm/xen-tpmfront.ko"));
        assert!(init.trim_end().ends_with("poweroff -f"));
    }

    #[test]
    fn pcr_lines_and_prediction() {
        let lines =
            vec![format!("xt-pvboot: PCR-05: {}", ["0A"; 20].join(" ")), "xt-pvboot: PCR-04: 12 34".to_string()];
        assert_eq!(linux_pcr(&lines, 5), Some("0a".repeat(20)));
        assert_eq!(linux_pcr(&lines, 4), None, "too short");
        if Command::new("sha1sum").arg("--version").stdout(Stdio::null()).status().is_err() {
            return;
        }
        // SHA-1("") = da39…; PCR 4 of an empty kernel = SHA-1(zeros ‖ da39…).
        let (pcr4, pcr5) = expected_pcrs(b"", b"", b"").unwrap();
        assert_eq!(hex(&sha1(b"").unwrap()), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_ne!(pcr4, pcr5);
        let mut b = vec![0u8; 20];
        b.extend_from_slice(&sha1(b"").unwrap());
        assert_eq!(pcr4, hex(&sha1(&b).unwrap()));
    }

    /// A log with several guests' consoles and `gone` results.
    fn log_of(guests: &[(&str, &[&str], bool)]) -> ScenarioLog {
        let mut s = format!("@@xt scenario {NAME}\n");
        for (g, lines, gone) in guests {
            s += &format!("@@xt gone {g} {} secs=3\n@@xt console {g} begin\n", if *gone { "yes" } else { "no" });
            for l in *lines {
                s += &format!("@@con {g}| {l}\n");
            }
        }
        parse(&s).scenarios.remove(NAME).unwrap()
    }

    fn good_guest_lines(p: &Planned) -> Vec<String> {
        vec![
            booting_line(p),
            "xt-pvboot: init running: Linux 6.1.0-57-amd64".into(),
            "xt-pvboot: files at-start: 16 listed, 0 bad".into(),
            format!("xt-pvboot: PCR-04: {}", ["11"; 20].join(" ")),
            format!("xt-pvboot: PCR-05: {}", ["AB"; 20].join(" ")),
            "xt-pvboot: tpm_version rc=0 (tcsd pid=61 running=61 waited_ms=1500)".into(),
            "xt-pvboot: |   TPM 1.2 Version Info:".into(),
            "xt-pvboot: files at-end: 16 listed, 0 bad".into(),
            "xt-pvboot: done".into(),
        ]
    }

    fn no_vtpm_lines(p: &Planned) -> Vec<String> {
        vec![
            "pvgrub-measure: no vTPM (no device/vtpm/0 (xl vtpm=)): nothing measured".into(),
            booting_line(p),
            "xt-pvboot: init running: Linux 6.1.0-57-amd64".into(),
            "xt-pvboot: no /sys/class/tpm/tpm0/pcrs".into(),
            "xt-pvboot: no /dev/tpm0".into(),
            "xt-pvboot: done".into(),
        ]
    }

    const BROKEN_LINE: &str = "pvgrub-measure: no boot configuration: none of /boot/grub/grub.cfg, /grub/grub.cfg, /boot/grub/menu.lst, \
/grub/menu.lst on the disk's 1 volume(s); stopping the domain";

    #[test]
    fn the_three_guests_pass_every_check() {
        let p = planned();
        let (g, n) = (good_guest_lines(&p), no_vtpm_lines(&p));
        let g: Vec<&str> = g.iter().map(String::as_str).collect();
        let n: Vec<&str> = n.iter().map(String::as_str).collect();
        let b = ["pvgrub-measure: disk device/vbd/51712: 8192 sectors", BROKEN_LINE];
        let l = log_of(&[(GUEST, &g, true), (NO_VTPM, &n, true), (BROKEN, &b, true)]);
        let r = check_all(&l, &p);
        assert_eq!(r.len(), 6 + 3 + 5 + 3);
        assert!(r.iter().all(|c| c.result.is_ok()), "{r:?}");
    }

    #[test]
    fn a_failed_tpm_version_a_tpm_without_vtpm_and_a_hanging_broken_guest_fail() {
        let p = planned();
        let mut g = good_guest_lines(&p);
        g[5] = "xt-pvboot: tpm_version rc=255 (tcsd pid=61 running= waited_ms=30000)".into();
        g.remove(6);
        // a file the booted Linux found changed
        g[6] = "xt-pvboot: files at-end: 16 listed, 1 bad".into();
        let g: Vec<&str> = g.iter().map(String::as_str).collect();
        // With no vtpm, Linux found a TPM anyway; the loader never said "no vTPM".
        let n = [booting_line(&p), "xt-pvboot: init running: Linux".into(), "xt-pvboot: PCR-04: 00".into()];
        let n: Vec<&str> = n.iter().map(String::as_str).collect();
        // The broken disk: two failure lines, one not at the end, and it booted something.
        let b = ["pvgrub-measure: bad thing; stopping the domain now", BROKEN_LINE, "xt-pvboot: init running"];
        let l = log_of(&[(GUEST, &g, true), (NO_VTPM, &n, true), (BROKEN, &b, false)]);
        let failed: Vec<String> = check_all(&l, &p).into_iter().filter(|c| c.result.is_err()).map(|c| c.what).collect();
        assert_eq!(
            failed,
            [
                "the booted Linux finds every initrd file intact (sha1, at-end)".to_string(),
                "the booted Linux runs tpm_version through tcsd ('TPM 1.2 Version Info')".to_string(),
                format!("{NO_VTPM}: the loader says there is no vTPM"),
                format!("{NO_VTPM}: the booted Linux runs its init and has no /dev/tpm0"),
                format!("{BROKEN}: one clear line ending 'stopping the domain'"),
                format!("{BROKEN}: nothing was booted"),
                format!("{BROKEN}: powered off by itself"),
            ]
        );
        // A broken guest that printed nothing fails the line check too.
        let l = log_of(&[(BROKEN, &[], true)]);
        let r = check_broken(&l, &p);
        assert!(r[0].result.is_err() && r[1].result.is_ok() && r[2].result.is_ok(), "{r:?}");
    }

    #[test]
    fn the_other_guests_configs_and_steps() {
        let mut notes = Vec::new();
        let base = load_config(&crate::paths::configs(), "pvgrub-measure.cfg", &mut notes).unwrap();
        let n = no_vtpm_config(&base);
        assert_eq!(n.string("name").as_deref(), Some(NO_VTPM));
        assert!(n.raw("vtpm").is_none());
        assert_eq!(n.file_disks(), [(DISK.to_string(), "xvda".to_string())]);
        assert_eq!(n.raw("memory").as_deref(), Some(GUEST_MEMORY.to_string().as_str()));
        let b = broken_config(&base);
        assert_eq!(b.string("name").as_deref(), Some(BROKEN));
        assert!(b.raw("vtpm").is_none());
        assert_eq!(b.file_disks(), [(BROKEN_DISK.to_string(), "xvda".to_string())]);
        let d = |name: &str, cfg| Domain { name: name.into(), cfg, image: Some("pvgrub-measure".into()) };
        let mut p = Plan::default();
        plan_other_guests(&mut p, &d(NO_VTPM, n), &d(BROKEN, b));
        let text = p.text();
        // One after the other: the second guest is gone before the third is created.
        let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no '{s}' in {text}"));
        assert!(at(&format!("disk {DISK} {DISK_MIB}\ncreate {NO_VTPM} ")) < at(&format!("gone {NO_VTPM} 60")));
        assert!(at(&format!("gone {NO_VTPM} 60")) < at(&format!("disk {BROKEN_DISK} {BROKEN_MIB}\ncreate {BROKEN} ")));
        assert!(text.contains(&format!("wait {BROKEN} {BROKEN_WAIT} stopping the domain|")), "{text}");
        assert!(at(&format!("create {BROKEN} ")) < at(&format!("gone {BROKEN} 60")));
        assert_eq!((p.creates, p.linux_creates), (2, 1));
        // The broken disk is not shipped: the plan's `disk` step makes it (zeros).
        assert!(p.files.iter().all(|f| f.0 != BROKEN_DISK));
        let init = init_script("6.1.0-57-amd64");
        assert!(init.contains("\ntcsd -f >/tmp/tcsd.log 2>&1 &\n"));
        assert!(init.contains("xt-pvboot: tpm_version rc=$rc"));
        assert!(init.contains("echo \"xt-pvboot: no /dev/tpm0\""));
        assert!(init.contains("export PATH=/bin:/usr/sbin\n"));
    }
}
