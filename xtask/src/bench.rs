//! `cargo xtask bench`: benchmarks, printed as tables with the peer side by side — never timed
//! assertions. Today: per-command latency of the tpm12 engine (in-process and over loopback TCP)
//! beside libtpms (swtpm over the same loopback framing), from `tpm12-server --bench`.
//! `cargo xtask bench pvgrub`: the host-measurable part of pvgrub-measure's boot time
//! (`bench_pvgrub.rs`).

use crate::util::{self, Result};
use crate::{apt, paths};
use std::process::Command;

pub fn cmd(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("pvgrub") {
        return crate::bench_pvgrub::cmd(&args[1..]);
    }
    apt::ensure_host_packages(&["swtpm"])?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.current_dir(paths::repo())
        .args(["run", "--release", "--quiet", "-p", "tpm12-server", "--", "--bench"])
        .args(args);
    util::run(&mut c)
}
