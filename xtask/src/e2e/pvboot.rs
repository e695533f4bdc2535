//! The `pvboot` scenario (issue 10's proof): a guest whose `kernel=` is pvgrub-measure boots
//! the test bed's Debian kernel from its own disk, in place. The disk (made on the host with
//! `sfdisk` and `mke2fs -d`) has an MBR with one ext4 partition holding `boot/grub/grub.cfg`
//! (a Debian-style menuentry), `boot/vmlinuz-<release>` and a small initrd whose `/init`
//! (busybox from the test bed's root file system) loads xen-tpmfront, prints
//! `/sys/class/tpm/tpm0/pcrs` and powers off. A vtpm stub domain (configs/vtpm.cfg less its
//! manager line) serves the guest's vTPM; pvgrub-measure runs with its defaults (the in-place boot).
//!
//! Checks: the loader's "booting" line names the kernel and carries the PCR values computed
//! here with `sha1sum` (pv-grub's measurement, fact sheet §9); the booted Linux prints its init
//! line; PCR-04 and PCR-05 as Linux reads them equal those values; the guest powers off by
//! itself, and no line says "stopping the domain".

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
        vec![&self.vtpm, &self.guest]
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

/// The initrd's `/init`: busybox sh; load xen-tpmfront; print the PCRs; power off.
pub fn init_script(release: &str) -> String {
    format!(
        "#!/bin/busybox sh\n\
/bin/busybox mkdir -p /proc /sys /dev /bin\n\
/bin/busybox mount -t devtmpfs dev /dev\n\
exec </dev/console >/dev/console 2>&1\n\
/bin/busybox --install -s /bin\n\
export PATH=/bin\n\
mount -t proc proc /proc\n\
mount -t sysfs sysfs /sys\n\
echo \"{LINE} init running: Linux $(uname -r), cmdline $(cat /proc/cmdline)\"\n\
insmod /lib/modules/{release}/kernel/drivers/char/tpm/xen-tpmfront.ko || echo \"{LINE} insmod failed\"\n\
i=0\n\
while [ ! -e /sys/class/tpm/tpm0/pcrs ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\n\
if [ -e /sys/class/tpm/tpm0/pcrs ]; then\n\
  grep -E '^PCR-0[0-9]' /sys/class/tpm/tpm0/pcrs | sed 's/^/{LINE} /'\n\
else\n\
  echo \"{LINE} no /sys/class/tpm/tpm0/pcrs\"\n\
fi\n\
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

fn sha1(data: &[u8]) -> Result<[u8; 20]> {
    let mut child = Command::new("sha1sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ctx(|| "cannot start sha1sum".to_string())?;
    let Some(mut stdin) = child.stdin.take() else { bail!("sha1sum: no stdin") };
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out.stdout);
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

/// The small initrd: busybox and its libraries from the test bed's root file system, the
/// kernel's xen-tpmfront module, `/init`.
fn build_initrd(tb: &Testbed) -> Result<Vec<u8>> {
    let root = &tb.rootfs_dir;
    let mut ar = cpio::Archive::new();
    let copy = |ar: &mut cpio::Archive, from: &Path, to: &str, perm: u32| -> Result<()> {
        let data = std::fs::read(from).ctx(|| format!("read {}", from.display()))?;
        ar.file(to, perm, &data);
        Ok(())
    };
    copy(&mut ar, &root.join("bin/busybox"), "bin/busybox", 0o755)?;
    copy(&mut ar, &root.join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), "lib64/ld-linux-x86-64.so.2", 0o755)?;
    for lib in ["libc.so.6", "libresolv.so.2"] {
        copy(&mut ar, &root.join("lib/x86_64-linux-gnu").join(lib), &format!("lib/x86_64-linux-gnu/{lib}"), 0o755)?;
    }
    let module = format!("lib/modules/{}/kernel/drivers/char/tpm/xen-tpmfront.ko", tb.kernel_release);
    copy(&mut ar, &tb.kernel_root.join(&module), &module, 0o644)?;
    ar.file("init", 0o755, init_script(&tb.kernel_release).as_bytes());
    Ok(ar.finish())
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
    let mut child = Command::new("sfdisk").arg("-q").arg(&disk).stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
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

pub fn plan(plan: &mut Plan, dir: &Path, tb: &Testbed) -> Result<Planned> {
    let mut vcfg = load_config(dir, "vtpm.cfg", &mut plan.notes)?;
    vcfg.set("name", &format!("\"{VTPM}\""));
    let vtpm = Domain { name: VTPM.into(), cfg: vcfg, image: Some("vtpm-stubdom".into()) };
    let base = load_config(dir, "pvgrub-measure.cfg", &mut plan.notes)?;
    let guest = Domain { name: GUEST.into(), cfg: guest_config(&base), image: Some("pvgrub-measure".into()) };
    let kernel = std::fs::read(&tb.vmlinuz)?;
    let initrd = build_initrd(tb)?;
    let disk = build_disk(tb, &kernel, &initrd, &crate::paths::out().join("pvboot-disk"))?;
    let (pcr4, pcr5) = expected_pcrs(&kernel, CMDLINE.as_bytes(), &initrd)?;
    plan.file(DISK, 0o644, disk);
    plan_steps(plan, &vtpm, &guest);
    Ok(Planned {
        vtpm,
        guest,
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
    let want = format!(
        "pvgrub-measure: booting {} ({} bytes), initrd {} bytes; PCR4={} PCR5={}",
        p.kernel, p.kernel_len, p.initrd_len, p.pcr4, p.pcr5
    );
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
    let gone = log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == &p.guest.name));
    c.pass_if("the guest powered off by itself", gone, || "still running 60 s after its last line".into());
    println!("---- {NAME}: console of {} ----", p.guest.name);
    for l in con.iter().filter(|l| l.contains("pvgrub-measure:") || l.contains(LINE) || l.contains("FATAL")) {
        println!("  {}", l.trim_end());
    }
    c.out
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
}
