//! `cargo xtask build`: release-build the three PV images for `x86_64-unknown-none` and put
//! them into `out/images/` under upstream's names, as ELF and gzip'd copies.

use crate::util::{self, Context, Result};
use crate::{bail, paths};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

pub const TARGET: &str = "x86_64-unknown-none";

/// (cargo package = binary name, image name as upstream ships it)
pub const IMAGES: &[(&str, &str)] =
    &[("vtpm", "vtpm-stubdom"), ("vtpmmgr", "vtpmmgr-stubdom"), ("pvgrub-measure", "pvgrub-measure")];

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

/// Makes sure the active toolchain has the standard library for [`TARGET`]. rust-toolchain.toml
/// names the target, but rustup adds it only when it installs the toolchain itself; a toolchain
/// that was already there (or linked in by hand) may lack it. Adds it with rustup when it can,
/// otherwise says exactly what is missing.
fn ensure_target() -> Result<()> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = util::try_output(Command::new(&rustc).current_dir(paths::repo()).args([
        "--print",
        "target-libdir",
        "--target",
        TARGET,
    ]));
    let has_core = |dir: &str| {
        std::fs::read_dir(dir.trim())
            .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
            .unwrap_or(false)
    };
    if libdir.as_deref().is_some_and(has_core) {
        return Ok(());
    }
    eprintln!("build: the toolchain has no standard library for {TARGET}; adding it: rustup target add {TARGET}");
    let added = Command::new("rustup").current_dir(paths::repo()).args(["target", "add", TARGET]).status();
    match added {
        Ok(s) if s.success() => Ok(()),
        _ => bail!(
            "the Rust standard library for {TARGET} is missing and `rustup target add {TARGET}` did not add it; \
             install it for the toolchain in rust-toolchain.toml (rustup toolchain install 1.95.0 -t {TARGET})"
        ),
    }
}

/// Builds the images; returns them in [`IMAGES`] order.
pub fn build() -> Result<Vec<Image>> {
    let t0 = Instant::now();
    ensure_target()?;
    let mut cmd = Command::new(cargo());
    cmd.current_dir(paths::repo()).args(["build", "--release", "--target", TARGET]);
    for (pkg, _) in IMAGES {
        cmd.args(["-p", pkg]);
    }
    // Concurrent xtask runs (e2e, demo, test) share out/images: one at a time.
    let _lock = util::Lock::acquire(&paths::out().join("images.lock"), "out/images")?;
    util::run(&mut cmd)?;
    let dir = images_dir();
    util::mkdirs(&dir)?;
    let mut out = Vec::new();
    for (pkg, name) in IMAGES {
        let built = target_dir().join(TARGET).join("release").join(pkg);
        if !built.is_file() {
            bail!("cargo built no binary {} (does the `{pkg}` package have a [[bin]] named {pkg}?)", built.display());
        }
        // One read, so the ELF and its .gz are the same bytes; both written atomically.
        let bytes = std::fs::read(&built).ctx(|| format!("read {}", built.display()))?;
        if !bytes.starts_with(b"\x7fELF") {
            bail!("{} is not an ELF file", built.display());
        }
        let elf = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        util::write_atomic(&elf, &bytes)?;
        let gzipped = gzip(&bytes)?;
        util::write_atomic(&gz, &gzipped)?;
        out.push(Image { name: name.to_string(), elf, gz });
    }
    eprintln!("images built in {:.1} s", util::secs(t0));
    Ok(out)
}

/// `gzip -9 -n` of `data` (Xen's loader takes gzip'd kernels, as upstream ships them).
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ctx(|| "start gzip".to_string())?;
    let mut stdin = child.stdin.take().ok_or("no gzip stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().ctx(|| "gzip".to_string())?;
    writer.join().map_err(|_| "gzip writer panicked")?.ctx(|| "write to gzip".to_string())?;
    if !out.status.success() || out.stdout.len() < 20 + 8 {
        bail!("gzip failed ({}, {} bytes out)", out.status, out.stdout.len());
    }
    Ok(out.stdout)
}

/// `cargo xtask build`
pub fn cmd() -> Result<()> {
    let imgs = build()?;
    println!("images in {}:", images_dir().display());
    for i in &imgs {
        let e = std::fs::metadata(&i.elf)?.len();
        let g = std::fs::metadata(&i.gz)?.len();
        println!(
            "  {:<18} {:>10} bytes ({})   {}.gz {:>9} bytes ({})",
            i.name,
            e,
            util::human(e),
            i.name,
            g,
            util::human(g)
        );
    }
    Ok(())
}

/// Release-builds the dom0 tool `vtpmctl` for the host (dom0 in the test bed runs the same
/// Debian 12, so the host binary runs there) and returns its path.
pub fn dom0_tools() -> Result<PathBuf> {
    let mut cmd = Command::new(cargo());
    cmd.current_dir(paths::repo()).args(["build", "--release", "-p", "vtpmctl"]);
    util::run(&mut cmd)?;
    let built = target_dir().join("release").join("vtpmctl");
    if !built.is_file() {
        bail!("cargo built no {}", built.display());
    }
    Ok(built)
}
