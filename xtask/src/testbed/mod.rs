//! `cargo xtask testbed`: everything the real-Xen test bed needs, built once and cached
//! outside the repository, keyed by its inputs (Debian package versions, the package list and
//! a hash of the dom0 scripts in `tests/e2e/overlay/`).
//!
//! Pieces (each cached on its own, so a changed dom0 script only repacks the initramfs):
//! * `inputs`: Xen 4.17 hypervisor and the Debian 6.1 kernel (resolved through
//!   `linux-image-amd64`), unpacked with `dpkg -x`;
//! * `rootfs`: debootstrap minbase + the Xen toolstack, qemu-system-xen and TPM tools;
//! * `initrd`: the root file system as a zstd newc cpio (dom0 and Linux domUs share it);
//! * `swtpm`: pristine TPM 1.2 and TPM 2.0 states for the emulated hardware TPM.
//!
//! The per-run part (our images, configs, the e2e plan) is not here: it is a small
//! uncompressed cpio written by `e2e` in front of the cached one.

pub mod initrd;
pub mod inputs;
pub mod rootfs;
pub mod swtpm;

use crate::util::{self, Result};
use crate::{apt, paths};
use std::path::PathBuf;
use std::time::Instant;

/// Host packages the test bed needs (sfdisk and mke2fs make the boot loader's guest disk in
/// scenario `pvboot`).
pub const HOST_PACKAGES: &[&str] =
    &["qemu-system-x86", "swtpm", "swtpm-tools", "cpio", "debootstrap", "zstd", "gzip", "fdisk", "e2fsprogs"];

/// Host packages the host tests' real clients and tools need (TrouSerS `tcsd`, tpm-tools,
/// tpm-quote-tools and tpm2-tools against `tpm12-server`; sfdisk, mke2fs, xz and zstd for the
/// boot loader's disk images and kernels; without them those tests skip with a printed reason).
pub const CLIENT_PACKAGES: &[&str] =
    &["trousers", "tpm-tools", "tpm-quote-tools", "tpm2-tools", "fdisk", "e2fsprogs", "xz-utils", "zstd", "gzip"];

/// The prepared test bed.
#[derive(Debug, Clone)]
pub struct Testbed {
    /// Xen hypervisor, gunzipped (QEMU's multiboot loader needs the plain ELF).
    pub xen: PathBuf,
    /// Linux kernel for dom0 and Linux domUs.
    pub vmlinuz: PathBuf,
    /// `uname -r` of that kernel.
    pub kernel_release: String,
    /// `dpkg -x` root of the kernel package (`lib/modules/<release>/…`).
    pub kernel_root: PathBuf,
    /// zstd newc cpio of the root file system (second part of dom0's initrd, a domU's ramdisk).
    pub rootfs_cpio: PathBuf,
    /// The root file system's directory (the pvboot scenario takes busybox from it).
    pub rootfs_dir: PathBuf,
    /// Pristine swtpm state directories.
    pub swtpm12: PathBuf,
    pub swtpm2: PathBuf,
    /// Versions this test bed was built from (for reports).
    pub versions: Vec<(String, String)>,
}

/// Builds what is missing and returns the test bed (a cache hit takes about a second).
pub fn prepare() -> Result<Testbed> {
    let t0 = Instant::now();
    apt::ensure_host_packages(HOST_PACKAGES)?;
    let cache = paths::cache();
    util::mkdirs(&cache)?;
    let _lock = util::Lock::acquire(&cache.join("lock"), "the test-bed cache")?;
    eprintln!("test-bed cache: {}", cache.display());

    let inp = inputs::prepare(&cache)?;
    let root = rootfs::prepare(&cache)?;
    let initrd = initrd::prepare(&cache, &inp, &root)?;
    let tpm = swtpm::prepare(&cache)?;

    let mut versions = inp.versions.clone();
    versions.extend(root.versions.clone());
    versions.push(("swtpm".into(), tpm.version.clone()));
    let tb = Testbed {
        xen: inp.xen,
        vmlinuz: inp.vmlinuz,
        kernel_release: inp.kernel_release,
        kernel_root: inp.kernel_root,
        rootfs_cpio: initrd,
        rootfs_dir: root.dir.clone(),
        swtpm12: tpm.tpm12,
        swtpm2: tpm.tpm2,
        versions,
    };
    eprintln!("test bed ready in {:.1} s", util::secs(t0));
    Ok(tb)
}

/// `cargo xtask testbed`: prepare and describe.
pub fn cmd() -> Result<()> {
    let t0 = Instant::now();
    let tb = prepare()?;
    println!("test bed (cache {}):", paths::cache().display());
    for (k, v) in &tb.versions {
        println!("  {k:<28} {v}");
    }
    let kernel = format!("kernel {}", tb.kernel_release);
    for (what, p) in [("xen", &tb.xen), (kernel.as_str(), &tb.vmlinuz), ("root fs (zstd cpio)", &tb.rootfs_cpio)] {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        println!("  {what:<28} {} ({})", p.display(), util::human(size));
    }
    println!("  {:<28} {}", "swtpm TPM 1.2 state", tb.swtpm12.display());
    println!("  {:<28} {}", "swtpm TPM 2.0 state", tb.swtpm2.display());
    println!("testbed: done in {:.1} s", util::secs(t0));
    Ok(())
}

/// Removes sibling cache entries `<prefix>*` other than `keep` (older keys).
pub fn prune(cache: &std::path::Path, prefix: &str, keep: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(cache) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && p != keep {
            eprintln!("removing stale cache entry {}", p.display());
            if p.is_dir() {
                let _ = util::remove_tree(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
}
