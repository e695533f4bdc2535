//! Boot inputs from Debian's packages: the Xen 4.17 hypervisor (`xen-hypervisor-4.17-amd64`)
//! and the Linux 6.1 kernel that `linux-image-amd64` currently depends on (no ABI number is
//! pinned: old ABIs leave the archive). Unpacked with `dpkg -x`; modules are kept for the
//! root file system.

use super::prune;
use crate::hash::Fnv;
use crate::util::{self, Context, Result};
use crate::{apt, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub const XEN_PACKAGE: &str = "xen-hypervisor-4.17-amd64";
pub const KERNEL_META: &str = "linux-image-amd64";

pub struct Inputs {
    pub xen: PathBuf,
    pub vmlinuz: PathBuf,
    pub kernel_release: String,
    /// `dpkg -x` root of the kernel package (`lib/modules/<release>/…`).
    pub kernel_root: PathBuf,
    pub versions: Vec<(String, String)>,
}

pub fn prepare(cache: &Path) -> Result<Inputs> {
    let mut c = apt::candidates(&[XEN_PACKAGE, KERNEL_META])?.into_iter();
    let (Some(xen), Some(meta)) = (c.next(), c.next()) else { bail!("apt-cache returned too little") };
    let Some(kpkg) = apt::dependency_named(&meta.depends, "linux-image-") else {
        bail!("{KERNEL_META} {} depends on no linux-image-* package ({})", meta.version, meta.depends)
    };
    let kver = apt::candidate(&kpkg)?.version;
    let kernel_release = kpkg.trim_start_matches("linux-image-").to_string();
    let versions = vec![(XEN_PACKAGE.to_string(), xen.version.clone()), (kpkg.clone(), kver.clone())];

    let key = Fnv::new().field("inputs-v1").field(&xen.version).field(&kpkg).field(&kver).hex();
    let dir = cache.join(format!("inputs-{key}"));
    let out = Inputs {
        xen: dir.join("xen"),
        vmlinuz: dir.join(format!("vmlinuz-{kernel_release}")),
        kernel_release: kernel_release.clone(),
        kernel_root: dir.join("kernel"),
        versions,
    };
    if dir.join("done").exists() {
        eprintln!("inputs: cache hit ({XEN_PACKAGE} {}, {kpkg} {kver})", xen.version);
        return Ok(out);
    }
    let t0 = Instant::now();
    eprintln!("inputs: downloading {XEN_PACKAGE} {} and {kpkg} {kver}", xen.version);
    util::remove_tree(&dir)?;
    let debs = dir.join("debs");
    let xdeb = apt::download(XEN_PACKAGE, &xen.version, &debs)?;
    let kdeb = apt::download(&kpkg, &kver, &debs)?;
    let xroot = dir.join("xen-root");
    util::run(Command::new("dpkg").arg("-x").arg(&xdeb).arg(&xroot))?;
    util::run(Command::new("dpkg").arg("-x").arg(&kdeb).arg(&out.kernel_root))?;
    // The hypervisor ships gzip'd; QEMU's multiboot loader wants the plain ELF.
    let gz = find_one(&xroot.join("boot"), "xen-", ".gz")?;
    let plain = util::output(Command::new("sh").arg("-c").arg(format!(
        "gzip -dc '{}' > '{}'",
        gz.display(),
        out.xen.display()
    )))
    .map(|_| ());
    plain.ctx(|| format!("gunzip {}", gz.display()))?;
    let vmlinuz = out.kernel_root.join(format!("boot/vmlinuz-{kernel_release}"));
    std::fs::rename(&vmlinuz, &out.vmlinuz).ctx(|| format!("move {}", vmlinuz.display()))?;
    if !out.kernel_root.join(format!("lib/modules/{kernel_release}")).is_dir() {
        bail!("{kpkg} has no lib/modules/{kernel_release}");
    }
    util::remove_tree(&debs)?;
    util::remove_tree(&xroot)?;
    std::fs::write(dir.join("done"), "")?;
    prune(cache, "inputs-", &dir);
    eprintln!("inputs: ready in {:.1} s", util::secs(t0));
    Ok(out)
}

/// The single file in `dir` named `<prefix>…<suffix>`.
fn find_one(dir: &Path, prefix: &str, suffix: &str) -> Result<PathBuf> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).ctx(|| format!("read {}", dir.display()))? {
        let p = e?.path();
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if n.starts_with(prefix) && n.ends_with(suffix) && !p.is_symlink() {
            hits.push(p);
        }
    }
    match hits.len() {
        1 => Ok(hits.remove(0)),
        n => bail!("expected one {prefix}*{suffix} in {}, found {n}", dir.display()),
    }
}
