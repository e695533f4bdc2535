//! The dom0 (and Linux domU) root file system: `debootstrap --variant=minbase bookworm` from
//! the archive named in the machine's apt configuration, then apt inside the chroot with the
//! machine's release sources, so xen-utils comes from the same suite as the hypervisor
//! (bookworm-security carries a newer Xen than bookworm).

use super::prune;
use crate::hash::Fnv;
use crate::util::{self, Result};
use crate::{apt, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Installed in the chroot (no recommends). qemu-system-xen is the `qdisk` backend libxl
/// starts for `file:` disks, as on a standard Xen install.
pub const PACKAGES: &[&str] = &[
    "xen-utils-4.17",
    "xenstore-utils",
    "qemu-system-xen",
    "kmod",
    "util-linux",
    "iproute2",
    "procps",
    "busybox",
    "trousers",
    "tpm-tools",
    "tpm2-tools",
];

pub struct Rootfs {
    pub dir: PathBuf,
    pub key: String,
    pub versions: Vec<(String, String)>,
}

const NODOC: &str = "path-exclude=/usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\n\
path-exclude=/usr/share/info/*\npath-exclude=/usr/share/locale/*\npath-exclude=/usr/share/lintian/*\n";

pub fn prepare(cache: &Path) -> Result<Rootfs> {
    let mut h = Fnv::new();
    h.field("rootfs-v1").field(apt::SUITE);
    for i in apt::candidates(PACKAGES)? {
        h.field(&i.package).field(&i.version);
    }
    let key = h.hex();
    let dir = cache.join(format!("rootfs-{key}"));
    let stamp = dir.join(".xtask-versions");
    if let Ok(text) = std::fs::read_to_string(&stamp) {
        eprintln!("rootfs: cache hit ({})", dir.display());
        return Ok(Rootfs { dir, key, versions: parse_versions(&text) });
    }
    if !util::is_root() {
        bail!(
            "building the test-bed root file system needs root (debootstrap, chroot): run `cargo xtask testbed` as root once"
        );
    }
    let t0 = Instant::now();
    let sources = apt::host_sources()?;
    let mirror = apt::mirror(&sources)?;
    let release = apt::release_sources(&sources);
    let logs = cache.join("logs");
    util::mkdirs(&logs)?;
    let tmp = util::with_suffix(&dir, ".partial");
    umount_proc(&tmp);
    util::remove_tree(&tmp)?;
    eprintln!(
        "rootfs: debootstrap --variant=minbase {} from {mirror} (takes ~30 s; then apt in the chroot)",
        apt::SUITE
    );
    util::run_logged(
        Command::new("debootstrap").args(["--variant=minbase", apt::SUITE]).arg(&tmp).arg(&mirror),
        &logs.join("debootstrap.log"),
    )?;
    eprintln!("rootfs: debootstrap done after {:.1} s", util::secs(t0));
    let _ = std::fs::remove_file(tmp.join("etc/apt/sources.list"));
    std::fs::write(tmp.join("etc/apt/sources.list.d/debian.sources"), apt::render_deb822(&release))?;
    std::fs::write(tmp.join("usr/sbin/policy-rc.d"), "#!/bin/sh\nexit 101\n")?;
    util::run(Command::new("chmod").arg("755").arg(tmp.join("usr/sbin/policy-rc.d")))?;
    std::fs::write(tmp.join("etc/dpkg/dpkg.cfg.d/01-nodoc"), NODOC)?;

    util::run(Command::new("mount").args(["-t", "proc", "proc"]).arg(tmp.join("proc")))?;
    let script = format!(
        "export DEBIAN_FRONTEND=noninteractive LC_ALL=C; apt-get update -q && apt-get -y -q upgrade && \
         apt-get install -y -q --no-install-recommends {} && apt-get clean",
        PACKAGES.join(" ")
    );
    let r = util::run_logged(
        Command::new("chroot").arg(&tmp).args(["/bin/sh", "-c", &script]),
        &logs.join("apt-chroot.log"),
    );
    umount_proc(&tmp);
    r?;
    let q = util::output(
        Command::new("chroot").arg(&tmp).args(["dpkg-query", "-W", "-f=${Package} ${Version}\\n"]).args(PACKAGES),
    )?;
    let _ = util::remove_tree(&tmp.join("var/lib/apt/lists"));
    std::fs::create_dir_all(tmp.join("var/lib/apt/lists/partial"))?;
    std::fs::write(tmp.join(".xtask-versions"), &q)?;
    std::fs::rename(&tmp, &dir)?;
    prune(cache, "rootfs-", &dir); // (the packed archives are named initrd-*)
    eprintln!("rootfs: ready in {:.1} s ({})", util::secs(t0), dir.display());
    Ok(Rootfs { dir, key, versions: parse_versions(&q) })
}

fn umount_proc(root: &Path) {
    let p = root.join("proc");
    if p.join("self").exists() {
        let _ = Command::new("umount").arg("-l").arg(&p).status();
    }
}

/// `dpkg-query` lines `name version` → pairs.
pub fn parse_versions(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(|l| l.split_once(' ')).map(|(a, b)| (a.to_string(), b.to_string())).collect()
}
