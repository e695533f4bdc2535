//! The `lifecycle` scenario (issue 9): a guest's TPM through what an administrator does to a
//! running guest with xl. A vtpm (`configs/vtpm.cfg`, volatile: the guest's TPM lives as long
//! as the vtpm) and a Linux guest on it (`xt-guest-lifecycle`, its own disk as xvdb):
//!
//! 1. boot 1: the guest extends PCR 12, takes ownership, seals a blob, writes an NV index and
//!    keeps its files on xvdb (`xt-guest-persist 1`), stops tcsd and says it is ready;
//! 2. `xl vtpm-detach` while it runs: /dev/tpm0 goes (and the detach returns at once: the C
//!    backend made libxl wait 10 s); the vtpm stays up because its guest still exists;
//! 3. `xl vtpm-attach`: /dev/tpm0 comes back with the same TPM (PCR 12 and the NV index as they
//!    were, tpm_version through a fresh tcsd);
//! 4. `xl reboot`: the guest is made again under a new domid; the vtpm, which waits
//!    `reboot_wait` seconds for it, serves the new domain after a platform reset: boot 2 finds
//!    the TPM owned, the same EK, the blob unsealing, the NV data, and PCR 12 zero;
//! 5. `xl shutdown`: the vtpm powers itself off once `reboot_wait` has passed.

use super::log::{Event, ScenarioLog};
use super::persist::{self, find, tail};
use super::plan::{Domain, Plan};
use super::scenarios::{Check, Checks, check_no_panic, load_config};
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "lifecycle";
const VTPM: &str = "lc-vtpm";
const GUEST: &str = "lc-domu";
const GUEST_DISK: &str = "/var/lib/xtask/lc-guest.img";
const LINE: &str = "xt-lc: ";
/// Seconds: the vtpm's start (EK generation under TCG), the guest's boot and test.
const VTPM_WAIT: u32 = 300;
const GUEST_WAIT: u32 = 900;
/// The vtpm's default `reboot_wait` (vtpm/src/options.rs) and what dom0 allows on top.
const REBOOT_WAIT: u32 = 30;

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
    let vtpm = Domain { name: VTPM.into(), cfg: vcfg, image: Some("vtpm-stubdom".into()) };
    let mut gcfg = load_config(dir, "domu.cfg", &mut plan.notes)?;
    gcfg.set("name", &format!("\"{GUEST}\""));
    gcfg.set("vtpm", &format!("[ \"backend={VTPM}\" ]"));
    gcfg.set("disk", &format!("[ \"file:{GUEST_DISK},xvdb,w\" ]"));
    let extra = gcfg.string("extra").unwrap_or_default();
    gcfg.set("extra", &format!("\"{} xt.test=lifecycle\"", extra.trim()));
    let guest = Domain { name: GUEST.into(), cfg: gcfg, image: None };

    plan.scenario(NAME);
    plan.step(format!("sh rm -f {GUEST_DISK}"));
    plan.create(&vtpm, 8);
    plan.wait(VTPM, VTPM_WAIT, &format!("{}|ERROR|PANIC|panic", persist::SERVING));
    plan.create_verbose(&guest, 8);
    plan.wait(GUEST, GUEST_WAIT, &format!("{LINE}ready for detach|{LINE}boot 1 done|Kernel panic"));
    plan.timed("vtpm-detach", &format!("xl vtpm-detach {GUEST} 0"));
    plan.wait(GUEST, 90, &format!("{LINE}tpm gone|{LINE}boot 1 done"));
    plan.timed("vtpm-attach", &format!("xl vtpm-attach {GUEST} backend={VTPM}"));
    plan.wait(GUEST, 300, &format!("{LINE}boot 1 done|Kernel panic"));
    // what libxl will make the rebooted guest from: its vtpm device in xenstore and the config
    plan.step("sh xenstore-ls -f /libxl | grep -i vtpm");
    plan.step(format!("sh xenstore-ls -f /local/domain/$(xl domid {VTPM})/backend/vtpm"));
    plan.step(format!("sh xl list -l {GUEST} | grep -A14 '\"vtpms\"'"));
    plan.reboot(GUEST, 120);
    plan.step(format!("sh xenstore-ls -f /local/domain/$(xl domid {VTPM})/backend/vtpm"));
    plan.wait(GUEST, GUEST_WAIT, &format!("{LINE}boot 2 done|Kernel panic"));
    plan.list();
    plan.shutdown(GUEST, 120);
    plan.gone(VTPM, REBOOT_WAIT + 60);
    plan.console(GUEST);
    plan.console(VTPM);
    plan.destroy(VTPM);
    Ok(Planned { vtpm, guest })
}

/// The guest's `xt-lc: <what>…` line.
fn said<'a>(con: &'a [String], what: &str) -> Option<&'a String> {
    find(con, &format!("{LINE}{what}"))
}

fn timed<'a>(log: &'a ScenarioLog, label: &str) -> Option<(i32, &'a str)> {
    log.events.iter().find_map(|e| match e {
        Event::Timed { label: l, rc, secs } if l == label => Some((*rc, secs.as_str())),
        _ => None,
    })
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
    // boot 1: owner, sealed blob, NV (xt-guest-persist 1)
    persist::check_guest(&mut c, log, gcon, g, 1);
    let ext = said(gcon, "extend pcr12 response ");
    c.pass_if(
        format!("{g}: TPM_Extend of PCR 12 through /dev/tpm0"),
        ext.is_some_and(|l| l.contains("response 00c40000001e00000000")),
        || ext.cloned().unwrap_or_else(|| tail(gcon, 4)),
    );
    // detach
    let det = timed(log, "vtpm-detach");
    c.pass_if(
        "xl vtpm-detach returns at once (no 10 s wait for the backend)",
        det.is_some_and(|(rc, s)| rc == 0 && s.parse::<f64>().is_ok_and(|s| s < 8.0)),
        || format!("{det:?}: {:?}", log.xl_output.get("vtpm-detach")),
    );
    let gone = said(gcon, "tpm gone");
    c.pass_if(format!("{g}: /dev/tpm0 goes with the detach"), gone.is_some_and(|l| l.contains(" after ")), || {
        gone.cloned().unwrap_or_else(|| tail(gcon, 4))
    });
    let waits = find(vcon, "still exists (device detached): waiting for it to attach again");
    c.pass_if(format!("{v}: stays up while its guest exists"), waits.is_some(), || tail(vcon, 4));
    // attach
    let att = timed(log, "vtpm-attach");
    c.pass_if("xl vtpm-attach", att.is_some_and(|(rc, _)| rc == 0), || {
        format!("{att:?}: {:?}", log.xl_output.get("vtpm-attach"))
    });
    let back = said(gcon, "tpm back");
    c.pass_if(
        format!("{g}: /dev/tpm0 comes back with the attach"),
        back.is_some_and(|l| l.contains(" after ")),
        || back.cloned().unwrap_or_else(|| tail(gcon, 4)),
    );
    let after = said(gcon, "after re-attach: ");
    c.pass_if(
        format!("{g}: the same TPM after the re-attach (tpm_version, NV index, PCR 12 kept)"),
        after.is_some_and(|l| l.contains("tpm_version rc=0 nvread ok") && l.contains("pcr12 same")),
        || after.cloned().unwrap_or_else(|| tail(gcon, 4)),
    );
    // reboot
    let reboot = log.events.iter().find_map(|e| match e {
        Event::Reboot { dom, rc, old, new, secs } if dom == g => Some((*rc, *old, *new, secs.clone())),
        _ => None,
    });
    c.pass_if(
        format!("{g}: xl reboot makes it again under a new domid"),
        reboot.as_ref().is_some_and(|(rc, old, new, _)| *rc == 0 && new.is_some() && old != new),
        || format!("{reboot:?}: {:?}", log.xl_output.get(g)),
    );
    let rebound = find(vcon, "took its place (a reboot): TPM reset");
    c.pass_if(format!("{v}: serves the rebooted guest after a platform reset"), rebound.is_some(), || tail(vcon, 5));
    persist::check_guest(&mut c, log, gcon, g, 2);
    let pcr = said(gcon, "pcr12 after the reboot: ");
    c.pass_if(
        format!("{g}: PCR 12 is reset by the reboot"),
        pcr.is_some_and(|l| l.trim_end().ends_with(": zero")),
        || pcr.cloned().unwrap_or_else(|| tail(gcon, 4)),
    );
    // shutdown: the vtpm goes after reboot_wait
    let off = log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == v));
    c.pass_if(format!("{v}: powers itself off after its guest is shut down (reboot_wait)"), off, || tail(vcon, 3));
    let why = find(vcon, "is gone; waiting ");
    c.pass_if(format!("{v}: says it waits for a rebooted guest"), why.is_some(), || tail(vcon, 3));
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

    #[test]
    fn the_plan_detaches_attaches_and_reboots_in_order() {
        let (plan, p) = planned();
        let text = plan.text();
        let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("no '{s}' in {text}"));
        assert!(
            at("timed vtpm-detach xl vtpm-detach lc-domu 0")
                < at("timed vtpm-attach xl vtpm-attach lc-domu backend=lc-vtpm")
        );
        assert!(at("timed vtpm-attach") < at("reboot lc-domu 120"));
        assert!(at("reboot lc-domu") < at("xt-lc: boot 2 done"));
        assert!(at("shutdown lc-domu") < at("gone lc-vtpm 90"));
        assert_eq!(p.guest.cfg.raw("vtpm").as_deref(), Some("[ \"backend=lc-vtpm\" ]"));
        assert!(p.vtpm.cfg.raw("vtpm").is_none(), "volatile vtpm: no manager");
        assert!(p.guest.cfg.string("extra").unwrap().ends_with(" xt.test=lifecycle"));
    }

    fn log_with(guest: &[&str], vtpm: &[&str], detach_secs: &str) -> ScenarioLog {
        let mut s = format!(
            "@@xt scenario {NAME}\n@@xt create {VTPM} rc=0 domid=1 secs=5\n@@xt create {GUEST} rc=0 domid=2 secs=6\n\
@@xt timed vtpm-detach rc=0 secs={detach_secs}\n@@xt timed vtpm-attach rc=0 secs=1.2\n\
@@xt reboot {GUEST} rc=0 old=2 new=3 secs=9.5\n@@xt gone {VTPM} yes secs=31\n@@xt console {GUEST} begin\n"
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

    const GOOD_GUEST: &[&str] = &[
        "xt-lc: boot 1",
        "xt-lc: extend pcr12 response 00c40000001e000000004f8b pcr12=ABCD",
        "xt-persist: takeownership rc=0",
        "xt-persist: seal rc=0 nvdefine rc=0 nvwrite rc=0 ek=12",
        "xt-persist: kept on /dev/xvdb rc=0",
        "xt-persist: phase 1 done",
        "xt-lc: ready for detach (tcsd stopped)",
        "xt-lc: tpm gone after 800 ms",
        "xt-lc: tpm back after 1500 ms",
        "xt-lc: after re-attach: tpm_version rc=0 nvread ok (rc=0) pcr12 same",
        "xt-lc: boot 1 done",
        "xt-lc: boot 2",
        "xt-persist: second takeownership rc=1 (refused: yes)",
        "xt-persist: ek same (12)",
        "xt-persist: unseal ok (rc=0, 40 bytes out, sealed file 300 bytes)",
        "xt-persist: nvread ok (rc=0)",
        "xt-persist: phase 2 done",
        "xt-lc: pcr12 after the reboot: zero",
        "xt-lc: boot 2 done",
    ];
    const GOOD_VTPM: &[&str] = &[
        "Info: VTPM attached to Frontend 2/0",
        "Info: no frontend left; guest domain 2 still exists (device detached): waiting for it to attach again",
        "Info: guest domain 2 is gone; waiting 30 s for it to come back (a reboot; reboot_wait=)",
        "Info: guest domain 2 is gone and domain 3 took its place (a reboot): TPM reset; TPM_Startup(ST_CLEAR) rc=0",
    ];

    #[test]
    fn a_good_run_passes_and_each_failure_is_seen() {
        let (_, p) = planned();
        let r = check(&log_with(GOOD_GUEST, GOOD_VTPM, "0.9"), &p);
        assert!(r.iter().all(|c| c.result.is_ok()), "{r:?}");
        let failed = |g: &[&str], v: &[&str], d: &str| -> Vec<String> {
            check(&log_with(g, v, d), &p).into_iter().filter(|c| c.result.is_err()).map(|c| c.what).collect()
        };
        // the C backend's 10 s detach
        assert_eq!(
            failed(GOOD_GUEST, GOOD_VTPM, "10.3"),
            ["xl vtpm-detach returns at once (no 10 s wait for the backend)"]
        );
        // a TPM reset by the re-attach, and PCRs kept over a reboot
        let mut g = GOOD_GUEST.to_vec();
        g[9] = "xt-lc: after re-attach: tpm_version rc=0 nvread ok (rc=0) pcr12 changed (00)";
        g[17] = "xt-lc: pcr12 after the reboot: NOT zero (AB)";
        assert_eq!(
            failed(&g, GOOD_VTPM, "0.9"),
            [
                "lc-domu: the same TPM after the re-attach (tpm_version, NV index, PCR 12 kept)",
                "lc-domu: PCR 12 is reset by the reboot"
            ]
        );
        // a vtpm that powered off at the detach and never served the rebooted guest
        let v = [GOOD_VTPM[0]];
        assert_eq!(
            failed(GOOD_GUEST, &v, "0.9"),
            [
                "lc-vtpm: stays up while its guest exists",
                "lc-vtpm: serves the rebooted guest after a platform reset",
                "lc-vtpm: says it waits for a rebooted guest"
            ]
        );
    }
}
