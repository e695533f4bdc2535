//! The `persist` scenario (issue 8): a guest's TPM survives a restart of guest, vtpm and
//! manager. Phase 1 starts the manager (`configs/vtpmmgr.cfg` with its own fresh disk, the
//! hardware TPM over TIS at locality 2), a vtpm (`configs/vtpm.cfg` with its own fresh disk and
//! its `vtpm=["backend=<manager>,uuid=…"]` line kept) and a Linux guest on it; the guest
//! (`xt-guest-persist 1`) takes ownership, seals a secret, defines and writes an NV index and
//! keeps what phase 2 needs on its own disk (with TrouSerS' system.data, as a real guest keeps
//! /var/lib/tpm). Then the guest is shut down (the vtpm powers off
//! after it) and the manager is destroyed with `xl destroy` (no clean shutdown). Phase 2 starts
//! all three again on the same disks; the guest (`xt-guest-persist 2`) must find its TPM owned,
//! the same EK, the blob unsealing to the same secret and the NV data.
//!
//! Domains get a phase suffix (`-1`, `-2`) so each phase's consoles are kept apart; the disks
//! and the vtpm's uuid are the same in both phases.

use super::config::XlConfig;
use super::log::{Event, ScenarioLog};
use super::plan::{Domain, Plan, ere_literal};
use super::scenarios::{Check, Checks, check_no_panic, load_config};
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "persist";
const MGR_DISK: &str = "/var/lib/xtask/persist-vtpmmgr.img";
const VTPM_DISK: &str = "/var/lib/xtask/persist-vtpm.img";
const GUEST_DISK: &str = "/var/lib/xtask/persist-guest.img";
/// The vtpm's identity at the manager (as libxl writes it into the manager's backend dir).
const UUID: &str = "ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f01";
const WAITING: &str = "INFO[VTPM]: Waiting for commands from vTPM's:";
const SERVING: &str = "Info: VTPM serving frontends";
/// Seconds: manager first boot (TakeOwnership, seal), vtpm first start (EK generation under
/// TCG), the guest's boot plus an SRK generation in the vtpm.
const MGR_WAIT: u32 = 240;
const VTPM_WAIT: u32 = 300;
const GUEST_WAIT: u32 = 900;

/// One phase's three domains.
pub struct Phase {
    pub mgr: Domain,
    pub vtpm: Domain,
    pub guest: Domain,
}

/// Both phases.
pub struct Planned {
    pub phases: [Phase; 2],
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        self.phases.iter().flat_map(|p| [&p.mgr, &p.vtpm, &p.guest]).collect()
    }
}

fn phase(dir: &Path, notes: &mut Vec<String>, n: u32) -> Result<Phase> {
    let mgr_name = format!("persist-mgr-{n}");
    let mut mcfg = load_config(dir, "vtpmmgr.cfg", notes)?;
    mcfg.set("name", &format!("\"{mgr_name}\""));
    mcfg.set("disk", &format!("[ \"file:{MGR_DISK},hda,w\" ]"));
    mcfg.set("iomem", "[ \"fed40,5\" ]");
    mcfg.set("extra", "\"tpmdriver=tpm_tis tpmiomem=0xfed40000 tpmlocality=2\"");
    let mgr = Domain { name: mgr_name.clone(), cfg: mcfg, image: Some("vtpmmgr-stubdom".into()) };

    let vtpm_name = format!("persist-vtpm-{n}");
    let text = std::fs::read_to_string(dir.join("vtpm.cfg"))?;
    let mut vcfg = XlConfig::new(&text);
    vcfg.set("name", &format!("\"{vtpm_name}\""));
    vcfg.set("disk", &format!("[ \"file:{VTPM_DISK},hda,w\" ]"));
    vcfg.set("vtpm", &format!("[ \"backend={mgr_name},uuid={UUID}\" ]"));
    let vtpm = Domain { name: vtpm_name.clone(), cfg: vcfg, image: Some("vtpm-stubdom".into()) };

    let guest_name = format!("persist-domu-{n}");
    let mut gcfg = load_config(dir, "domu.cfg", notes)?;
    gcfg.set("name", &format!("\"{guest_name}\""));
    gcfg.set("vtpm", &format!("[ \"backend={vtpm_name}\" ]"));
    gcfg.set("disk", &format!("[ \"file:{GUEST_DISK},xvdb,w\" ]"));
    let extra = gcfg.string("extra").unwrap_or_default();
    gcfg.set("extra", &format!("\"{} xt.test=persist{n}\"", extra.trim()));
    let guest = Domain { name: guest_name, cfg: gcfg, image: None };
    Ok(Phase { mgr, vtpm, guest })
}

pub fn plan(plan: &mut Plan, dir: &Path) -> Result<Planned> {
    let p1 = phase(dir, &mut plan.notes, 1)?;
    let p2 = phase(dir, &mut plan.notes, 2)?;
    plan.scenario(NAME);
    plan.step(format!("sh rm -f {MGR_DISK} {VTPM_DISK} {GUEST_DISK}"));
    for (i, p) in [&p1, &p2].into_iter().enumerate() {
        // `disk` steps only set the size: the second phase keeps what the first wrote
        plan.create(&p.mgr, 16);
        plan.wait(&p.mgr.name, MGR_WAIT, &format!("{}|ERROR|panic", ere_literal(WAITING)));
        plan.create(&p.vtpm, 8);
        plan.wait(&p.vtpm.name, VTPM_WAIT, &format!("{SERVING}|ERROR|PANIC|panic"));
        plan.create(&p.guest, 8);
        plan.wait(&p.guest.name, GUEST_WAIT, &format!("xt-persist: phase {} done|Kernel panic", i + 1));
        plan.list();
        plan.shutdown(&p.guest.name, 120);
        plan.gone(&p.vtpm.name, 60);
        plan.console(&p.guest.name);
        plan.console(&p.vtpm.name);
        plan.console(&p.mgr.name);
        if i == 0 {
            plan.destroy(&p.mgr.name);
        } else {
            plan.shutdown(&p.mgr.name, 60);
            plan.console(&p.mgr.name);
        }
        plan.destroy(&p.vtpm.name);
    }
    Ok(Planned { phases: [p1, p2] })
}

// ---------------------------------------------------------------- checks

fn find<'a>(lines: &'a [String], needle: &str) -> Option<&'a String> {
    lines.iter().find(|l| l.contains(needle))
}

fn tail(lines: &[String], n: usize) -> String {
    let t: Vec<&str> = lines[lines.len().saturating_sub(n)..].iter().map(|s| s.trim()).collect();
    if t.is_empty() { "(empty console)".into() } else { format!("console ends: {}", t.join(" / ")) }
}

fn created(log: &ScenarioLog, dom: &str) -> Option<i32> {
    log.events.iter().find_map(|e| match e {
        Event::Create { dom: d, rc, .. } if d == dom => Some(*rc),
        _ => None,
    })
}

/// The guest's `xt-persist: <what>…` line.
fn said<'a>(con: &'a [String], what: &str) -> Option<&'a String> {
    let want = format!("xt-persist: {what}");
    con.iter().find(|l| l.contains(&want))
}

pub fn check(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let empty: Vec<String> = Vec::new();
    let con = |n: &str| -> &[String] { log.consoles.get(n).map(Vec::as_slice).unwrap_or(&empty) };
    for (i, ph) in p.phases.iter().enumerate() {
        let (m, v, g) = (&ph.mgr.name, &ph.vtpm.name, &ph.guest.name);
        let (mcon, vcon, gcon) = (con(m), con(v), con(g));
        for d in [m, v, g] {
            let rc = created(log, d);
            c.pass_if(format!("{d}: xl create"), rc == Some(0), || format!("rc={rc:?}: {:?}", log.xl_output.get(d)));
        }
        c.pass_if(format!("{m}: ready ('{WAITING}')"), mcon.iter().any(|l| l.trim_end().ends_with(WAITING)), || {
            tail(mcon, 3)
        });
        c.pass_if(format!("{v}: serves its guest ('{SERVING}')"), find(vcon, SERVING).is_some(), || tail(vcon, 3));
        c.pass_if(
            format!("{v}: state is kept by the manager (no 'volatile' line)"),
            find(vcon, "TPM state is volatile").is_none() && !vcon.is_empty(),
            || find(vcon, "volatile").cloned().unwrap_or_else(|| tail(vcon, 3)),
        );
        let done = said(gcon, &format!("phase {} done", i + 1));
        c.pass_if(format!("{g}: guest test ran to its end"), done.is_some(), || tail(gcon, 4));
        if i == 0 {
            let own = said(gcon, "takeownership rc=");
            c.pass_if(format!("{g}: tpm_takeownership -y -z"), own.is_some_and(|l| l.contains("rc=0")), || {
                own.cloned().unwrap_or_else(|| tail(gcon, 4))
            });
            let s = said(gcon, "seal rc=");
            c.pass_if(
                format!("{g}: tpm_sealdata, tpm_nvdefine, tpm_nvwrite"),
                s.is_some_and(|l| l.contains("seal rc=0 nvdefine rc=0 nvwrite rc=0")),
                || s.cloned().unwrap_or_else(|| tail(gcon, 4)),
            );
            let kept = said(gcon, "kept on ");
            c.pass_if(format!("{g}: kept the blob on its own disk"), kept.is_some_and(|l| l.contains("rc=0")), || {
                kept.cloned().unwrap_or_else(|| tail(gcon, 4))
            });
        } else {
            let own = said(gcon, "second takeownership");
            c.pass_if(
                format!("{g}: the TPM is still owned (second tpm_takeownership refused)"),
                own.is_some_and(|l| l.contains("(refused: yes)")),
                || own.cloned().unwrap_or_else(|| tail(gcon, 4)),
            );
            let ek = said(gcon, "ek ");
            c.pass_if(format!("{g}: the same EK"), ek.is_some_and(|l| l.contains("ek same")), || {
                ek.cloned().unwrap_or_else(|| tail(gcon, 4))
            });
            let u = said(gcon, "unseal ");
            c.pass_if(
                format!("{g}: the phase-1 blob unseals to the same secret"),
                u.is_some_and(|l| l.contains("unseal ok")),
                || u.cloned().unwrap_or_else(|| tail(gcon, 4)),
            );
            let n = said(gcon, "nvread ");
            c.pass_if(
                format!("{g}: the NV index holds the phase-1 data"),
                n.is_some_and(|l| l.contains("nvread ok")),
                || n.cloned().unwrap_or_else(|| tail(gcon, 4)),
            );
        }
        let gone = log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == v));
        c.pass_if(format!("{v}: powered itself off after its guest"), gone, || tail(vcon, 3));
        for (d, dc) in [(m, mcon), (v, vcon), (g, gcon)] {
            check_no_panic(&mut c, dc, d);
        }
    }
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_keeps_disks_and_uuid_across_phases() {
        let mut plan = Plan::default();
        let p = super::plan(&mut plan, &crate::paths::configs()).unwrap();
        let text = plan.text();
        assert_eq!(text.matches(&format!("disk {VTPM_DISK} 8")).count(), 2);
        assert_eq!(text.matches(&format!("sh rm -f {MGR_DISK}")).count(), 1, "disks wiped once, before phase 1");
        for ph in &p.phases {
            assert!(ph.vtpm.cfg.text.contains(&format!("backend={},uuid={UUID}", ph.mgr.name)));
            assert!(ph.guest.cfg.text.contains(&format!("backend={}", ph.vtpm.name)));
        }
        assert!(text.contains("destroy persist-mgr-1"));
        assert!(text.contains("shutdown persist-mgr-2 60"));
    }
}
