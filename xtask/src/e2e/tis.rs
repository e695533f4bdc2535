//! The `tis` scenario: the vtpmmgr image from `configs/vtpmmgr.cfg` (`iomem=["fed40,5"]`),
//! run with `tpmiomem=0xfed40000 tpmlocality=2` (the locality Xen's docs give the manager),
//! opens the emulated hardware TPM (swtpm behind QEMU's tpm-tis) with `drivers::tpm_tis`
//! (which seizes locality 2 from the locality 0 SeaBIOS leaves active), prints its identity
//! and version, then
//! waits as the C manager does; `xl shutdown` stops it. dom0 boots with
//! `initcall_blacklist=init_tis`, so it does not hold the TPM. Which TPM the run has decides
//! what the version line must say: `cargo xtask e2e tis` (TPM 1.2) and
//! `cargo xtask e2e tis --tpm2` (TPM 2.0). The TPM 1.2 run keeps the config's
//! `iomem=["fed40,5"]` (all five localities visible); the TPM 2.0 run grants only locality 2's
//! page, `iomem=["fed42,1"]`, as Xen's docs suggest — then the firmware's locality 0 is outside
//! the manager's window and the seize is logged as such.

use super::log::{Event, ScenarioLog};
use super::plan::{Domain, Plan, ere_literal};
use super::scenarios::{Check, Checks, load_config};
use crate::qemu::Tpm;
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "tis";
const DOMAIN: &str = "vtpmmgr-tis";
/// Locality 2, as Xen's docs recommend for the manager. SeaBIOS leaves locality 0 active and
/// nobody relinquishes it (dom0 does not bind tpm_tis), so the request stays pending until the
/// driver uses TIS `Seize` after timeout A.
const LOCALITY: u8 = 2;
/// What the driver logs when it seized the TPM from firmware's locality 0.
const SEIZED: &str = "INFO: tpm_tis: locality 0 was held by firmware";
/// The same when only our own locality's page is mapped (`iomem=["fed42,1"]`).
const SEIZED_UNSEEN: &str = "INFO: tpm_tis: another locality (outside our window) held the TPM";

/// The `iomem=` grant of the run: all localities for TPM 1.2, only ours for TPM 2.0.
fn iomem(tpm: Tpm) -> &'static str {
    if tpm == Tpm::Tpm2 { "fed42,1" } else { "fed40,5" }
}
const WAITING: &str = "INFO[VTPM]: Waiting for commands from vTPM's:";

pub fn plan(plan: &mut Plan, dir: &Path, tpm: Tpm) -> Result<Domain> {
    let mut cfg = load_config(dir, "vtpmmgr.cfg", &mut plan.notes)?;
    cfg.set("name", &format!("\"{DOMAIN}\""));
    cfg.set("iomem", &format!("[ \"{}\" ]", iomem(tpm)));
    cfg.set("extra", &format!("\"tpmdriver=tpm_tis tpmiomem=0xfed40000 tpmlocality={LOCALITY}\""));
    let d = Domain { name: DOMAIN.into(), cfg, image: Some("vtpmmgr-stubdom".into()) };
    plan.scenario(NAME);
    plan.create(&d, 16);
    plan.wait(&d.name, 150, &format!("{}|ERROR|panic", ere_literal(WAITING)));
    plan.console(&d.name);
    plan.shutdown(&d.name, 60);
    plan.console(&d.name);
    Ok(d)
}

fn find<'a>(lines: &'a [String], needle: &str) -> Option<&'a String> {
    lines.iter().find(|l| l.contains(needle))
}

pub fn check(log: &ScenarioLog, d: &Domain, tpm: Tpm) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let n = &d.name;
    let con: &[String] = log.consoles.get(n).map(Vec::as_slice).unwrap_or(&[]);
    let tail = || {
        let t: Vec<&str> = con[con.len().saturating_sub(3)..].iter().map(|s| s.trim()).collect();
        format!("console ends: {}", t.join(" / "))
    };
    let rc = log.events.iter().find_map(|e| match e {
        Event::Create { dom, rc, .. } if dom == n => Some(*rc),
        _ => None,
    });
    c.pass_if(format!("{n}: xl create with iomem=[\"{}\"]", iomem(tpm)), rc == Some(0), || {
        format!("rc={rc:?}: {:?}", log.xl_output.get(n))
    });
    let ident = find(con, "INFO[TPM]: TIS at 0xfed40000 locality ");
    let version = find(con, "INFO[TPM]: hardware TPM: ");
    match tpm {
        Tpm::None => {
            c.pass_if(
                format!("{n}: reports that no TPM answers"),
                find(con, "ERROR[TPM]: no TPM answers").is_some(),
                tail,
            );
        }
        Tpm::Tpm12 | Tpm::Tpm2 => {
            c.pass_if(
                format!("{n}: TIS identity at locality {LOCALITY} (tpmiomem=, tpmlocality=)"),
                ident.is_some_and(|l| l.contains(&format!("locality {LOCALITY}: DID "))),
                || ident.cloned().unwrap_or_else(tail),
            );
            let want_seized = if iomem(tpm) == "fed40,5" { SEIZED } else { SEIZED_UNSEEN };
            let seized = find(con, want_seized);
            c.pass_if(
                format!("{n}: seizes locality {LOCALITY} from firmware's locality 0 ('{want_seized}… seized locality {LOCALITY}')"),
                seized.is_some_and(|l| {
                    let w = format!("seized locality {LOCALITY}");
                    l.contains(&format!("{w} ")) || l.trim_end().ends_with(&w)
                }),
                || seized.cloned().unwrap_or_else(tail),
            );
            let want = if tpm == Tpm::Tpm12 {
                "hardware TPM: TPM 1.2 version 1.2."
            } else {
                "hardware TPM: TPM 2.0 manufacturer "
            };
            c.pass_if(
                format!("{n}: reads the hardware TPM's version ('{want}…')"),
                version.is_some_and(|l| l.contains(want)),
                || version.cloned().unwrap_or_else(tail),
            );
        }
    }
    c.pass_if(format!("{n}: then waits ('{WAITING}')"), con.iter().any(|l| l.trim_end().ends_with(WAITING)), tail);
    let sd = log.events.iter().find_map(|e| match e {
        Event::Shutdown { dom, rc, gone, .. } if dom == n => Some((*rc, *gone)),
        _ => None,
    });
    c.pass_if(
        format!("{n}: xl shutdown -w"),
        sd == Some((0, true)) && find(con, "shutdown requested: poweroff").is_some(),
        || format!("{sd:?}; {}", tail()),
    );
    println!("---- {NAME} ({tpm:?}): console of {n} ----");
    for l in con {
        println!("  {}", l.trim_end());
    }
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::config::XlConfig;
    use crate::e2e::log::parse;

    fn run(lines: &[&str]) -> ScenarioLog {
        let mut s = String::from(
            "@@xt scenario tis\n@@xt create vtpmmgr-tis rc=0 domid=1 secs=3\n@@xt shutdown vtpmmgr-tis rc=0 secs=1 gone=yes\n@@xt console vtpmmgr-tis begin\n",
        );
        for l in lines {
            s += &format!("@@con vtpmmgr-tis| {l}\n");
        }
        parse(&s).scenarios.remove("tis").unwrap()
    }

    fn dom() -> Domain {
        Domain { name: DOMAIN.into(), cfg: XlConfig::new(""), image: Some("vtpmmgr-stubdom".into()) }
    }

    #[test]
    fn family_must_match_the_run() {
        let l = run(&[
            "INFO: tpm_tis: locality 0 was held by firmware or an earlier driver (ACCESS 0xa5) and not released within timeout A; seized locality 2 (locality 0 ACCESS now 0x91, beenSeized)",
            "INFO[TPM]: TIS at 0xfed40000 locality 2: DID 0x0001 VID 0x1014 RID 0x01 INTF_CAPS 0x00000000",
            "INFO[TPM]: hardware TPM: TPM 1.2 version 1.2.0.0 specLevel 2 errataRev 3 manufacturer IBM",
            WAITING,
            "shutdown requested: poweroff",
        ]);
        assert!(check(&l, &dom(), Tpm::Tpm12).iter().all(|c| c.result.is_ok()));
        // a TPM 2.0 run expects a 2.0 version and, with only locality 2 mapped, the other seize line
        let r = check(&l, &dom(), Tpm::Tpm2);
        let failed: Vec<&str> = r.iter().filter(|c| c.result.is_err()).map(|c| c.what.as_str()).collect();
        assert_eq!(failed.len(), 2, "{failed:?}");
        let l2 = run(&[
            "INFO[TPM]: TIS localities mapped: [2]",
            "INFO: tpm_tis: another locality (outside our window) held the TPM past timeout A; seized locality 2",
            "INFO[TPM]: TIS at 0xfed40000 locality 2: DID 0x0001 VID 0x1014 RID 0x01 INTF_CAPS 0x00000000",
            "INFO[TPM]: hardware TPM: TPM 2.0 manufacturer IBM firmware 0x20191023",
            WAITING,
            "shutdown requested: poweroff",
        ]);
        let failed: Vec<String> =
            check(&l2, &dom(), Tpm::Tpm2).into_iter().filter(|c| c.result.is_err()).map(|c| c.what).collect();
        assert!(failed.is_empty(), "{failed:?}");
        let l = run(&["ERROR[TPM]: no TPM answers over TIS at 0xfed40000 locality 2: NoDevice", WAITING]);
        let r = check(&l, &dom(), Tpm::Tpm12);
        assert_eq!(r.iter().filter(|c| c.result.is_err()).count(), 4);
        // a request granted without the seize line fails the seize check only
        let l = run(&[
            "INFO[TPM]: TIS at 0xfed40000 locality 2: DID 0x0001 VID 0x1014 RID 0x01 INTF_CAPS 0x00000000",
            "INFO[TPM]: hardware TPM: TPM 1.2 version 1.2.0.0 specLevel 2 errataRev 3 manufacturer IBM",
            WAITING,
            "shutdown requested: poweroff",
        ]);
        let r = check(&l, &dom(), Tpm::Tpm12);
        let failed: Vec<&str> = r.iter().filter(|c| c.result.is_err()).map(|c| c.what.as_str()).collect();
        assert!(failed.len() == 1 && failed[0].contains("seizes"), "{failed:?}");
    }
}
