//! `cargo xtask bench pvgrub`: what of pvgrub-measure's boot time can be measured on the host.
//! The loader's work between the disk and the jump is the same code on the host:
//! `pvgrub-measure predict --disk` runs it on the e2e `pvboot` scenario's disk image (MBR,
//! ext4, grub.cfg, the test bed's Debian kernel and initrd): find the entry, read the files,
//! decompress the kernel (XZ), check it is a Xen PV kernel, hash what is measured. Printed as
//! a table (never a timed assertion); the disk I/O over blkfront and the in-place switch are
//! only on Xen (the console's `read … ms` and `in-place boot: … prepared in … ms` lines).

use crate::util::{self, Result};
use crate::{bail, paths, testbed};
use std::process::Command;
use std::time::Instant;

const RUNS: usize = 5;

pub fn cmd(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("bench pvgrub takes no arguments (got '{a}')");
    }
    let tb = testbed::prepare()?;
    let work = paths::out().join("bench-pvgrub");
    let (kernel, initrd, disk) = crate::e2e::pvboot::disk_image(&tb, &work.join("disk"))?;
    let image = work.join("pvboot.img");
    std::fs::write(&image, &disk)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    util::run(Command::new(cargo).current_dir(paths::repo()).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "pvgrub-measure",
    ]))?;
    let bin = paths::repo().join("target/release/pvgrub-measure");
    let mut ms = Vec::new();
    let mut last = String::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        last = util::output(Command::new(&bin).arg("predict").arg("--disk").arg(&image))?;
        ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    println!("pvgrub-measure on the host: predict --disk (the loader's work between the disk and the jump)");
    println!(
        "  disk {} MiB; kernel {} bytes (XZ bzImage), initrd {} bytes",
        disk.len() >> 20,
        kernel.len(),
        initrd.len()
    );
    println!("  {:<44} {:>10} {:>10} {:>10}", "what", "min ms", "median ms", "max ms");
    println!(
        "  {:<44} {:>10.1} {:>10.1} {:>10.1}",
        "find + read + decompress + check + hash",
        ms[0],
        ms[RUNS / 2],
        ms[RUNS - 1]
    );
    for l in last.lines().filter(|l| l.starts_with("PCR")) {
        println!("  {l}");
    }
    Ok(())
}
