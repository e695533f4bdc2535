//! The `dom0tpm` scenario: the comparison point for the vtpm's numbers. dom0 boots *without*
//! `initcall_blacklist=init_tis`, so Linux binds QEMU's tpm-tis (swtpm behind it) as its own
//! /dev/tpm0, and runs the same `xt-extend-loop` (1000 TPM_Extend calls) the vtpm guest runs.
//! It cannot share a boot with `boot`, `demo` or `tis` (they give the TPM to vtpmmgr), but it
//! can with `vtpm`: `cargo xtask e2e vtpm dom0tpm` measures both loops under the same load.

use super::log::ScenarioLog;
use super::plan::Plan;
use super::scenarios::{Check, Checks};
use super::vtpm_guest::ext_ok;

/// Scenario name.
pub const NAME: &str = "dom0tpm";

pub fn plan(plan: &mut Plan) {
    plan.scenario(NAME);
    plan.step("sh ls -l /dev/tpm0; cat /sys/class/tpm/tpm0/device/caps");
    plan.step("sh /usr/local/bin/xt-extend-loop /dev/tpm0 1000");
}

pub fn check(log: &ScenarioLog) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let ext = log
        .raw
        .iter()
        .find(|l| l.contains("xt-extend: dev=/dev/tpm0"))
        .map(|l| l[l.find("xt-extend:").unwrap_or(0)..].to_string());
    c.pass_if(
        "dom0: 1000 TPM_Extend calls through its own /dev/tpm0 (swtpm behind tpm-tis)",
        ext_ok(ext.as_ref()),
        || ext.clone().unwrap_or_else(|| "no xt-extend line (is /dev/tpm0 there?)".into()),
    );
    println!("---- {NAME}: dom0 /dev/tpm0 ----");
    for l in log.raw.iter().filter(|l| l.contains("@@sh|")) {
        println!("  {}", &l[l.find("@@sh|").unwrap_or(0) + 5..].trim());
    }
    c.out
}
