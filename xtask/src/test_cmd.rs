//! `cargo xtask test`: the project's test command — host tests (`cargo test --workspace`),
//! the three images (`cargo xtask build`), then the default e2e scenarios in the test bed.
//! Every stage runs even if an earlier one failed (except e2e without images); a summary
//! closes the output and the exit status is non-zero if anything failed.

use crate::util::{self, Result};
use crate::{apt, bail, build, e2e, paths, testbed};
use std::process::Command;
use std::time::Instant;

pub fn cmd(args: &[String]) -> Result<()> {
    let t0 = Instant::now();
    let mut stages: Vec<(String, bool, f64, String)> = Vec::new();

    // Host packages first, so a fresh machine fails (or installs) before the long steps.
    apt::ensure_host_packages(testbed::HOST_PACKAGES)?;
    apt::ensure_host_packages(testbed::CLIENT_PACKAGES)?;

    let t = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Totals for the closing `N passed, M failed` line: individual tests and e2e checks; a stage
    // that failed without counting a failure (build error, crash) counts as one failure.
    let (mut total, host) = host_tests(&cargo);
    let host_note = format!("{} passed, {} failed", total.passed, total.failed);
    let host_ok = host.is_ok() && total.failed == 0;
    if host.is_err() && total.failed == 0 {
        total.failed += 1;
    }
    let host_note = match host {
        Ok(()) => host_note,
        Err(e) => format!("{host_note}; {}", e.0),
    };
    stages.push(("host tests (cargo test --workspace)".into(), host_ok, util::secs(t), host_note));

    let t = Instant::now();
    let built = build::cmd();
    let images_ok = built.is_ok();
    stages.push((
        "images (cargo xtask build)".into(),
        images_ok,
        util::secs(t),
        built.err().map(|e| e.0).unwrap_or_default(),
    ));

    let t = Instant::now();
    if images_ok {
        let mut o = e2e::parse_args(args)?;
        o.skip_build = true;
        match e2e::run(&o) {
            Ok(checks) => {
                let (p, f) = e2e::report(&checks);
                total.add(p, f);
                stages.push((
                    "e2e in the Xen test bed".into(),
                    f == 0,
                    util::secs(t),
                    format!("{p} passed, {f} failed"),
                ));
            }
            Err(e) => {
                total.add(0, 1);
                stages.push(("e2e in the Xen test bed".into(), false, util::secs(t), e.0))
            }
        }
        if args.is_empty() {
            // the hardware-TPM driver and the manager's sealing on a TPM 2.0 too (one more
            // boot: swtpm --tpm2); the default set ran `persist` on TPM 1.2 hardware
            let t = Instant::now();
            let mut o = e2e::parse_args(&["tis".into(), "persist".into(), "--tpm2".into()])?;
            o.skip_build = true;
            let name = "e2e: on TPM 2.0 hardware (tis persist --tpm2)";
            match e2e::run(&o) {
                Ok(checks) => {
                    let (p, f) = e2e::report(&checks);
                    total.add(p, f);
                    stages.push((name.into(), f == 0, util::secs(t), format!("{p} passed, {f} failed")));
                }
                Err(e) => {
                    total.add(0, 1);
                    stages.push((name.into(), false, util::secs(t), e.0))
                }
            }
        }
    } else {
        total.add(0, 1);
        stages.push(("e2e in the Xen test bed".into(), false, 0.0, "skipped: images did not build".into()));
    }

    println!("\n== cargo xtask test summary ({:.0} s)", util::secs(t0));
    let mut failed = 0;
    for (name, ok, secs, note) in &stages {
        println!(
            "  {} {name} ({secs:.0} s){}",
            if *ok { "ok    " } else { "FAILED" },
            if note.is_empty() { String::new() } else { format!(": {note}") }
        );
        failed += usize::from(!ok);
    }
    // The plain closing line CI reads: every host test and every e2e check.
    println!("{} passed, {} failed", total.passed, total.failed);
    if failed > 0 {
        bail!("{failed} stage(s) failed");
    }
    Ok(())
}

/// Tests counted from cargo test's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Counts {
    passed: u64,
    failed: u64,
}

impl Counts {
    fn add(&mut self, passed: usize, failed: usize) {
        self.passed += passed as u64;
        self.failed += failed as u64;
    }

    /// Adds one `test result: ok. 12 passed; 0 failed; …` line; other lines are ignored.
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else { return };
        for part in rest.split(';') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let n = words.iter().rev().nth(1).and_then(|w| w.parse::<u64>().ok());
            match (n, words.last()) {
                (Some(n), Some(&"passed")) => self.passed += n,
                (Some(n), Some(&"failed")) => self.failed += n,
                _ => {}
            }
        }
    }
}

/// Runs `cargo test --workspace`, passing its output through and counting its results. The
/// `Err` says cargo itself failed (build error, crash) or a test binary failed.
fn host_tests(cargo: &str) -> (Counts, Result<()>) {
    let mut counts = Counts::default();
    let r = host_tests_into(cargo, &mut counts);
    (counts, r)
}

fn host_tests_into(cargo: &str, counts: &mut Counts) -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut cmd = Command::new(cargo);
    cmd.current_dir(paths::repo()).args(["test", "--workspace"]).stdout(Stdio::piped());
    eprintln!("+ {}", util::show(&cmd));
    let mut child = cmd.spawn().map_err(|e| util::Error(format!("cannot start cargo test: {e}")))?;
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            println!("{line}");
            counts.add_line(&line);
        }
    }
    let st = child.wait()?;
    if !st.success() {
        bail!("cargo test --workspace failed ({st})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Counts;

    #[test]
    fn counts_cargo_test_result_lines() {
        let mut c = Counts::default();
        c.add_line("test result: ok. 89 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.65s");
        c.add_line("test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out");
        c.add_line("running 5 tests");
        c.add_line("test foo ... ok");
        assert_eq!(c, Counts { passed: 92, failed: 2 });
    }
}
