//! `cargo xtask build`: release-build the three PV images for `x86_64-unknown-none` and put
//! them into `out/images/` under upstream's names, as ELF and gzip'd copies.

use crate::util::{self, Context, Result};
use crate::{bail, paths};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

pub const TARGET: &str = "x86_64-unknown-none";

/// (cargo package = binary name, image name as upstream ships it)
pub const IMAGES: &[(&str, &str)] = &[("vtpm", "vtpm-stubdom"), ("vtpmmgr", "vtpmmgr-stubdom"), ("pvgrub-measure", "pvgrub-measure")];

/// One built image.
#[derive(Debug, Clone)]
pub struct Image {
    pub name: String,
    pub elf: PathBuf,
    pub gz: PathBuf,
}

/// The output folder.
pub fn images_dir() -> PathBuf {
    paths::out().join("images")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| paths::repo().join("target"))
}

/// Builds the images; returns them in [`IMAGES`] order.
pub fn build() -> Result<Vec<Image>> {
    let t0 = Instant::now();
    let mut cmd = Command::new(cargo());
    cmd.current_dir(paths::repo()).args(["build", "--release", "--target", TARGET]);
    for (pkg, _) in IMAGES {
        cmd.args(["-p", pkg]);
    }
    util::run(&mut cmd)?;
    let dir = images_dir();
    util::mkdirs(&dir)?;
    let mut out = Vec::new();
    for (pkg, name) in IMAGES {
        let built = target_dir().join(TARGET).join("release").join(pkg);
        if !built.is_file() {
            bail!("cargo built no binary {} (does the `{pkg}` package have a [[bin]] named {pkg}?)", built.display());
        }
        let elf = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        std::fs::copy(&built, &elf).ctx(|| format!("copy {} -> {}", built.display(), elf.display()))?;
        let bytes = Command::new("gzip").args(["-9", "-n", "-c"]).arg(&elf).output().ctx(|| "gzip".to_string())?;
        if !bytes.status.success() {
            bail!("gzip {} failed", elf.display());
        }
        util::write_atomic(&gz, &bytes.stdout)?;
        out.push(Image { name: name.to_string(), elf, gz });
    }
    eprintln!("images built in {:.1} s", util::secs(t0));
    Ok(out)
}

/// `cargo xtask build`
pub fn cmd() -> Result<()> {
    let imgs = build()?;
    println!("images in {}:", images_dir().display());
    for i in &imgs {
        let e = std::fs::metadata(&i.elf)?.len();
        let g = std::fs::metadata(&i.gz)?.len();
        println!("  {:<18} {:>10} bytes ({})   {}.gz {:>9} bytes ({})", i.name, e, util::human(e), i.name, g, util::human(g));
    }
    Ok(())
}
