//! The `tpm2guest` scenario (issue 12): a vtpm serving a TPM 2.0 (`configs/vtpm.cfg` with
//! `tpm2=1` added, volatile) and an unmodified Linux PV guest on it (`xt-guest-tpm2`). Its
//! xen-tpmfront registers a TPM 1.2 chip (Linux 6.1 never probes a Xen vTPM for 2.0), so
//! user space uses /dev/tpm0 directly: tpm2-tools with the device TCTI read random bytes,
//! read and extend a SHA-256 PCR, make an ECC primary key under the owner hierarchy, seal a
//! secret under it, load and unseal it.

use super::log::{Event, ScenarioLog};
use super::persist::{self, find, tail};
use super::plan::{Domain, Plan};
use super::scenarios::{Check, Checks, check_no_panic, load_config};
use super::vtpm_guest::field;
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "tpm2guest";
const VTPM: &str = "t2-vtpm";
const GUEST: &str = "t2-domu";
const LINE: &str = "xt-tpm2: ";
const VTPM_WAIT: u32 = 300;
const GUEST_WAIT: u32 = 900;

/// The scenario's two domains.
pub struct Planned {
    pub vtpm: Domain,
    pub guest: Domain,
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        vec![&self.vtpm, &self.guest]
    }
}

pub fn plan(plan: &mut Plan, dir: &Path) -> Result<Planned> {
    let mut vcfg = load_config(dir, "vtpm.cfg", &mut plan.notes)?;
    vcfg.set("name", &format!("\"{VTPM}\""));
    let extra = vcfg.string("extra").unwrap_or_default();
    vcfg.set("extra", &format!("\"{} tpm2=1\"", extra.trim()));
    let vtpm = Domain { name: VTPM.into(), cfg: vcfg, image: Some("vtpm-stubdom".into()) };
    let mut gcfg = load_config(dir, "domu.cfg", &mut plan.notes)?;
    gcfg.set("name", &format!("\"{GUEST}\""));
    gcfg.set("vtpm", &format!("[ \"backend={VTPM}\" ]"));
    let extra = gcfg.string("extra").unwrap_or_default();
    gcfg.set("extra", &format!("\"{} xt.test=tpm2\"", extra.trim()));
    let guest = Domain { name: GUEST.into(), cfg: gcfg, image: None };

    plan.scenario(NAME);
    plan.create(&vtpm, 8);
    plan.wait(VTPM, VTPM_WAIT, &format!("{}|ERROR|PANIC|panic", persist::SERVING));
    plan.create(&guest, 8);
    plan.wait(GUEST, GUEST_WAIT, &format!("{LINE}done|Kernel panic"));
    plan.shutdown(GUEST, 120);
    plan.console(GUEST);
    plan.console(VTPM);
    plan.destroy(VTPM);
    Ok(Planned { vtpm, guest })
}

fn said<'a>(con: &'a [String], what: &str) -> Option<&'a String> {
    find(con, &format!("{LINE}{what}"))
}

pub fn check(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let empty: Vec<String> = Vec::new();
    let con = |n: &str| -> &[String] { log.consoles.get(n).map(Vec::as_slice).unwrap_or(&empty) };
    let (v, g) = (p.vtpm.name.as_str(), p.guest.name.as_str());
    let (vcon, gcon) = (con(v), con(g));
    for d in [v, g] {
        let rc = persist::created(log, d);
        c.pass_if(format!("{d}: xl create"), rc == Some(0), || format!("rc={rc:?}: {:?}", log.xl_output.get(d)));
    }
    let made = find(vcon, "Info: TPM 2.0 engine manufactured");
    c.pass_if(
        format!("{v}: serves a TPM 2.0 (tpm2=1), started with TPM2_Startup and TPM2_SelfTest"),
        made.is_some_and(|l| l.contains("TPM2_Startup(CLEAR) rc=0x0, TPM2_SelfTest rc=0x0")),
        || made.cloned().unwrap_or_else(|| tail(vcon, 4)),
    );
    let done = said(gcon, "done");
    c.pass_if(format!("{g}: guest test ran to its end"), done.is_some(), || {
        let wait = log.events.iter().rev().find_map(|e| match e {
            Event::Wait { dom, result, secs } if dom == g => Some(format!("dom0's wait: {result} after {secs} s; ")),
            _ => None,
        });
        format!("{}{}", wait.unwrap_or_default(), tail(gcon, 4))
    });
    let dev = said(gcon, "modprobe xen-tpmfront");
    c.pass_if(format!("{g}: xen-tpmfront gives /dev/tpm0"), dev.is_some_and(|l| l.contains("tpm0=yes")), || {
        dev.cloned().unwrap_or_else(|| tail(gcon, 4))
    });
    let rng = said(gcon, "hwrng ");
    c.pass_if(
        format!("{g}: the guest kernel's hwrng reads the vTPM (TPM 1.2 TPM_GetRandom answered; no errors)"),
        rng.is_some_and(|l| {
            field(l, "current").is_some_and(|v| v.starts_with("tpm-rng"))
                && field(l, "bytes").is_some_and(|v| v.len() == 32)
                && field(l, "get_random_errors") == Some("0")
        }),
        || rng.cloned().unwrap_or_else(|| tail(gcon, 4)),
    );
    let pcrs = said(gcon, "sysfs pcrs=");
    c.pass_if(
        format!("{g}: the guest kernel's sysfs pcrs lists 24 PCRs (TPM 1.2 TPM_PCRRead of the SHA-1 bank)"),
        pcrs.is_some_and(|l| l.contains("sysfs pcrs=24 ") && l.trim_end().ends_with("pcr_read_errors=0")),
        || pcrs.cloned().unwrap_or_else(|| tail(gcon, 4)),
    );
    for step in ["getrandom", "pcrextend", "createprimary", "create", "load", "unseal"] {
        let l = said(gcon, &format!("{step} rc="));
        c.pass_if(format!("{g}: tpm2_{step} through /dev/tpm0"), l.is_some_and(|l| l.contains(" rc=0")), || {
            l.cloned().unwrap_or_else(|| tail(gcon, 4))
        });
    }
    let before = said(gcon, "pcr12 before: ");
    let after = said(gcon, "pcr12 after: ");
    let value = |l: Option<&String>| l.and_then(|l| l.rsplit(' ').next()).map(|s| s.trim().to_ascii_lowercase());
    let zero = format!("0x{}", "0".repeat(64));
    c.pass_if(
        format!("{g}: SHA-256 PCR 12 starts zero and changes with the extend"),
        value(before).is_some_and(|b| b == zero) && value(after).is_some_and(|a| a.len() == 66 && a != zero),
        || format!("{before:?} / {after:?}"),
    );
    let unseal = said(gcon, "unseal matches");
    c.pass_if(format!("{g}: the unsealed secret is the sealed one"), unseal.is_some(), || tail(gcon, 4));
    for (d, dc) in [(v, vcon), (g, gcon)] {
        check_no_panic(&mut c, dc, d);
    }
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::log::parse;

    fn planned() -> (Plan, Planned) {
        let mut plan = Plan::default();
        let p = super::plan(&mut plan, &crate::paths::configs()).unwrap();
        (plan, p)
    }

    fn log_with(guest: &[&str], vtpm: &[&str]) -> ScenarioLog {
        let mut s = format!(
            "@@xt scenario {NAME}\n@@xt create {VTPM} rc=0 domid=1 secs=5\n@@xt create {GUEST} rc=0 domid=2 secs=6\n@@xt console {GUEST} begin\n"
        );
        for l in guest {
            s += &format!("@@con {GUEST}| {l}\n");
        }
        s += &format!("@@xt console {GUEST} end\n@@xt console {VTPM} begin\n");
        for l in vtpm {
            s += &format!("@@con {VTPM}| {l}\n");
        }
        parse(&s).scenarios.remove(NAME).unwrap()
    }

    const GOOD: &[&str] = &[
        "xt-tpm2: modprobe xen-tpmfront rc=0 tpm0=yes",
        "xt-tpm2: hwrng current=tpm-rng-0 bytes=00112233445566778899aabbccddeeff get_random_errors=0",
        "xt-tpm2: sysfs pcrs=24 pcr_read_errors=0",
        "xt-tpm2: getrandom rc=0",
        "xt-tpm2: pcrread rc=0",
        "xt-tpm2: pcr12 before: 0x0000000000000000000000000000000000000000000000000000000000000000",
        "xt-tpm2: pcrextend rc=0",
        "xt-tpm2: pcrread rc=0",
        "xt-tpm2: pcr12 after: 0x5DE55F4FFE5B13B8C97EA8F53C9E1EF5F5D4E4E9D35D2D1C0B99D1F8B4E6B0A1",
        "xt-tpm2: createprimary rc=0",
        "xt-tpm2: create rc=0",
        "xt-tpm2: load rc=0",
        "xt-tpm2: unseal rc=0",
        "xt-tpm2: unseal matches",
        "xt-tpm2: done",
    ];
    const VTPM_LINES: &[&str] = &[
        "Info: TPM 2.0 engine manufactured in 20 ms (primary seeds generated); TPM2_Startup(CLEAR) rc=0x0, TPM2_SelfTest rc=0x0",
    ];

    #[test]
    fn the_vtpm_gets_tpm2_and_the_guest_the_test() {
        let (plan, p) = planned();
        assert!(p.vtpm.cfg.string("extra").unwrap().ends_with(" tpm2=1"));
        assert!(p.guest.cfg.string("extra").unwrap().ends_with(" xt.test=tpm2"));
        assert!(plan.text().contains("wait t2-domu 900 xt-tpm2: done|Kernel panic"));
    }

    #[test]
    fn a_good_run_passes_and_failures_are_seen() {
        let (_, p) = planned();
        let r = check(&log_with(GOOD, VTPM_LINES), &p);
        assert!(r.iter().all(|c| c.result.is_ok()), "{r:?}");
        let mut g = GOOD.to_vec();
        g[12] = "xt-tpm2: unseal rc=1";
        g.remove(13);
        g[8] = "xt-tpm2: pcr12 after: 0x0000000000000000000000000000000000000000000000000000000000000000";
        g[1] = "xt-tpm2: hwrng current=tpm-rng-0 bytes=00112233445566778899aabbccddeeff get_random_errors=2";
        let failed: Vec<String> =
            check(&log_with(&g, &[]), &p).into_iter().filter(|c| c.result.is_err()).map(|c| c.what).collect();
        assert_eq!(
            failed,
            [
                "t2-vtpm: serves a TPM 2.0 (tpm2=1), started with TPM2_Startup and TPM2_SelfTest",
                "t2-domu: the guest kernel's hwrng reads the vTPM (TPM 1.2 TPM_GetRandom answered; no errors)",
                "t2-domu: tpm2_unseal through /dev/tpm0",
                "t2-domu: SHA-256 PCR 12 starts zero and changes with the extend",
                "t2-domu: the unsealed secret is the sealed one",
            ]
        );
    }
}
