//! The cached root-file-system archive: a staged copy of the rootfs, trimmed of what is never
//! used at run time, plus the closure of the Xen kernel modules and the dom0 scripts from
//! `tests/e2e/overlay/`, packed as a newc cpio and compressed with zstd. dom0 boots it behind
//! the small per-run archive; Linux domUs boot it as their ramdisk.

use super::inputs::Inputs;
use super::prune;
use super::rootfs::Rootfs;
use crate::hash::Fnv;
use crate::util::{self, Context, Result};
use crate::{bail, paths};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Kernel modules the test bed loads (their dependency closure is kept).
pub const MODULES: &[&str] = &[
    "xenfs",
    "xen-evtchn",
    "xen-gntdev",
    "xen-gntalloc",
    "xen-privcmd",
    "xen-blkback",
    "xen-netback",
    "xen-blkfront",
    "xen-netfront",
    "xen-tpmfront",
    "xen-pciback",
    "xen-scsiback",
    "xen-scsifront",
    "tpm_vtpm_proxy",
    "loop",
];

/// Paths (relative to the root) removed from the image: documentation, locales, hardware
/// databases, interpreters only pygrub needs, firmware blobs QEMU never loads for `xenpv`.
const TRIM: &[&str] = &[
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/zoneinfo",
    "usr/share/bash-completion",
    "usr/share/common-licenses",
    "usr/lib/udev/hwdb.bin",
    "usr/lib/udev/hwdb.d",
    "usr/lib/python3",
    "usr/lib/python3.11",
    "usr/bin/python3",
    "usr/bin/python3.11",
    "usr/share/python3",
    "usr/lib/x86_64-linux-gnu/perl-base",
    "usr/bin/perl",
    "usr/lib/x86_64-linux-gnu/gconv",
    // (qemu needs usr/share/qemu/keymaps even with -vnc none)
    "usr/share/seabios",
    "usr/lib/ipxe",
    "var/cache/apt",
    "var/cache/debconf/config.dat-old",
    "var/cache/debconf/templates.dat-old",
    "var/lib/apt/lists",
    "var/log/dpkg.log",
    "var/log/apt",
    "var/log/alternatives.log",
    "var/log/bootstrap.log",
];

/// zstd level: the kernel's decoder needs a window ≤ 8 MiB (no --long/--ultra).
const ZSTD_LEVEL: u32 = 15;

/// Hash of every file under `dir` (relative path, mode, contents), sorted.
pub fn tree_hash(dir: &Path) -> Result<String> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<_> =
            std::fs::read_dir(d).ctx(|| format!("read {}", d.display()))?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let mut h = Fnv::new();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap_or(&f).to_string_lossy().into_owned();
        let mode = std::fs::metadata(&f)?.permissions().mode();
        h.field(&rel).field(&format!("{mode:o}"));
        h.update(&std::fs::read(&f)?).field("");
    }
    Ok(h.hex())
}

pub fn prepare(cache: &Path, inp: &Inputs, root: &Rootfs) -> Result<PathBuf> {
    let overlay = paths::overlay();
    let ohash = tree_hash(&overlay)?;
    let mut h = Fnv::new();
    h.field("initrd-v1").field(&root.key).field(&inp.kernel_release).field(&ohash).field(&ZSTD_LEVEL.to_string());
    for v in &inp.versions {
        h.field(&v.0).field(&v.1);
    }
    for m in MODULES.iter().chain(TRIM) {
        h.field(m);
    }
    let out = cache.join(format!("initrd-{}.cpio.zst", h.hex()));
    if out.exists() {
        eprintln!("initrd: cache hit ({}, dom0 scripts {ohash})", out.display());
        return Ok(out);
    }
    let t0 = Instant::now();
    eprintln!("initrd: packing the root file system (dom0 scripts {ohash}; ~30-60 s)");
    let stage = cache.join(format!("stage-{}", h.hex()));
    prune(cache, "stage-", &stage); // left over by an interrupted run
    util::remove_tree(&stage)?;
    util::run(Command::new("cp").arg("-a").arg(&root.dir).arg(&stage))?;
    let _ = std::fs::remove_file(stage.join(".xtask-versions"));
    for t in TRIM {
        let p = stage.join(t);
        if p.is_dir() && !p.is_symlink() {
            util::remove_tree(&p)?;
        } else if p.exists() || p.is_symlink() {
            std::fs::remove_file(&p)?;
        }
    }
    std::fs::create_dir_all(stage.join("var/lib/apt/lists/partial"))?;
    std::fs::create_dir_all(stage.join("var/cache/apt/archives/partial"))?;
    modules(&stage, inp)?;
    // dom0 scripts and files
    util::run(Command::new("cp").arg("-a").arg(overlay.join(".")).arg(&stage))?;

    let tmp = util::with_suffix(&out, ".partial");
    // Real owners are kept (tcsd insists on tss-owned /etc/tcsd.conf and /var/lib/tpm).
    let pipeline = format!(
        "cd '{}' && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --quiet --null -o -H newc --reproducible | zstd -q -T0 -{ZSTD_LEVEL} > '{}'",
        stage.display(),
        tmp.display()
    );
    util::run(Command::new("sh").args(["-c", &pipeline]))?;
    std::fs::rename(&tmp, &out)?;
    util::remove_tree(&stage)?;
    prune(cache, "initrd-", &out);
    prune(cache, "rootfs-cpio-", &out); // name used by earlier versions
    let size = std::fs::metadata(&out)?.len();
    eprintln!("initrd: {} ({}) in {:.1} s", out.display(), util::human(size), util::secs(t0));
    Ok(out)
}

/// Copies the dependency closure of [`MODULES`] from the kernel package and runs depmod.
fn modules(stage: &Path, inp: &Inputs) -> Result<()> {
    let rel = &inp.kernel_release;
    let src = inp.kernel_root.join(format!("lib/modules/{rel}"));
    let dst = stage.join(format!("lib/modules/{rel}"));
    util::mkdirs(&dst)?;
    // Resolve the closure against the full module tree, in a scratch root.
    let scratch = stage.join("tmp/xtask-modules");
    util::mkdirs(&scratch.join("lib/modules"))?;
    util::run(Command::new("cp").arg("-a").arg(&src).arg(scratch.join("lib/modules/")))?;
    // kmod is in the root file system (the host may not have it): run it there.
    util::run(Command::new("chroot").arg(stage).args(["depmod", "-b", "/tmp/xtask-modules", rel]))?;
    let mut need = Vec::new();
    for m in MODULES {
        let out = util::output(Command::new("chroot").arg(stage).args([
            "modprobe",
            "-d",
            "/tmp/xtask-modules",
            "-S",
            rel,
            "--show-depends",
            m,
        ]))?;
        for line in out.lines() {
            if let Some(p) = line.strip_prefix("insmod ") {
                let p = p.split_whitespace().next().unwrap_or("");
                if let Some(r) = p.split(&format!("/lib/modules/{rel}/")).nth(1) {
                    need.push(r.to_string());
                }
            }
        }
    }
    need.sort();
    need.dedup();
    if need.is_empty() {
        bail!("module closure is empty (modprobe --show-depends found nothing)");
    }
    for f in ["modules.order", "modules.builtin", "modules.builtin.modinfo"] {
        std::fs::copy(src.join(f), dst.join(f)).ctx(|| format!("copy {f}"))?;
    }
    for r in &need {
        let to = dst.join(r);
        util::mkdirs(to.parent().unwrap_or(&dst))?;
        std::fs::copy(src.join(r), &to).ctx(|| format!("copy module {r}"))?;
    }
    util::remove_tree(&scratch)?;
    util::run(Command::new("chroot").arg(stage).args(["depmod", rel]))?;
    eprintln!("initrd: {} kernel modules kept", need.len());
    Ok(())
}
