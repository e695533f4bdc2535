//! `cargo xtask test`: the project's test command — host tests (`cargo test --workspace`),
//! the three images (`cargo xtask build`), then the default e2e scenarios in the test bed.
//! Every stage runs even if an earlier one failed (except e2e without images); a summary
//! closes the output and the exit status is non-zero if anything failed.

use crate::util::{self, Result};
use crate::{bail, build, e2e, paths, testbed, apt};
use std::process::Command;
use std::time::Instant;

pub fn cmd(args: &[String]) -> Result<()> {
    let t0 = Instant::now();
    let mut stages: Vec<(String, bool, f64, String)> = Vec::new();

    // Host packages first, so a fresh machine fails (or installs) before the long steps.
    apt::ensure_host_packages(testbed::HOST_PACKAGES)?;

    let t = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let r = util::run(Command::new(&cargo).current_dir(paths::repo()).args(["test", "--workspace"]));
    stages.push(("host tests (cargo test --workspace)".into(), r.is_ok(), util::secs(t), r.err().map(|e| e.0).unwrap_or_default()));

    let t = Instant::now();
    let built = build::cmd();
    let images_ok = built.is_ok();
    stages.push(("images (cargo xtask build)".into(), images_ok, util::secs(t), built.err().map(|e| e.0).unwrap_or_default()));

    let t = Instant::now();
    if images_ok {
        let mut o = e2e::parse_args(args)?;
        o.skip_build = true;
        match e2e::run(&o) {
            Ok(checks) => {
                let (p, f) = e2e::report(&checks);
                stages.push(("e2e in the Xen test bed".into(), f == 0, util::secs(t), format!("{p} passed, {f} failed")));
            }
            Err(e) => stages.push(("e2e in the Xen test bed".into(), false, util::secs(t), e.0)),
        }
        if args.is_empty() {
            // the hardware-TPM driver against a TPM 2.0 too (one more boot: swtpm --tpm2)
            let t = Instant::now();
            let mut o = e2e::parse_args(&["tis".into(), "--tpm2".into()])?;
            o.skip_build = true;
            let name = "e2e: TIS with a TPM 2.0 (tis --tpm2)";
            match e2e::run(&o) {
                Ok(checks) => {
                    let (p, f) = e2e::report(&checks);
                    stages.push((name.into(), f == 0, util::secs(t), format!("{p} passed, {f} failed")));
                }
                Err(e) => stages.push((name.into(), false, util::secs(t), e.0)),
            }
        }
    } else {
        stages.push(("e2e in the Xen test bed".into(), false, 0.0, "skipped: images did not build".into()));
    }

    println!("\n== cargo xtask test summary ({:.0} s)", util::secs(t0));
    let mut failed = 0;
    for (name, ok, secs, note) in &stages {
        println!("  {} {name} ({secs:.0} s){}", if *ok { "ok    " } else { "FAILED" }, if note.is_empty() { String::new() } else { format!(": {note}") });
        failed += usize::from(!ok);
    }
    if failed > 0 {
        bail!("{failed} stage(s) failed");
    }
    Ok(())
}
