//! The `multi` scenario (issue 8): four vtpms with four Linux guests against one manager at
//! once. The manager starts on a fresh disk; four vtpms (each its own disk and uuid) start and
//! then four guests at once, each running `xt-guest-persist 1` (take ownership, seal, define
//! and write NV, keep its files on its own disk). Every guest must succeed and every EK must be
//! different (four TPMs, not one shared). Then guest 2 is shut down (its vtpm powers off) while
//! the other three keep running; vtpm 2 and guest 2 start again (`xt-guest-persist 2`): its
//! TPM is restored from the manager that kept serving the others — owned, same EK, the blob
//! unseals, the NV data is there. The test bed's QEMU has memory for four guests at once
//! (`qemu::MEMORY_MIB_MULTI`).
//!
//! **The manager restarted while the four guests use their vtpms** (issue 8, issue 9): after
//! phase 1 each guest waits for dom0's go (`data/xt-go`) and then writes new data to its NV
//! index (a permanent change: its vtpm must save through the manager) and reads it back. The
//! manager is destroyed with `xl destroy` (a crash); guest 4 gets its go at once, so its vtpm's
//! save finds no manager (the guest still gets its answer; the vtpm says the save failed and
//! retries). The manager is created again from the same cfg and disk; `vtpmctl reattach` points
//! the four vtpms' devices at it (the uuids from libxl's record); guests 1-3 get their go. Every
//! vtpm must say it reconnected, vtpm 4 that its state was saved again, and pair 2's restart
//! afterwards must restore the data written after the manager restart: the save went through
//! the new manager.

use super::log::{Event, ScenarioLog};
use super::persist::{
    GUEST_WAIT, MGR_WAIT, RESTORED, SERVING, VTPM_WAIT, WAITING, check_guest, created, find, manager_on, said, tail,
    vtpm_on,
};
use super::plan::{Domain, Plan, ere_literal};
use super::scenarios::{Check, Checks, check_no_panic};
use crate::qemu::Tpm;
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "multi";
/// How many vtpm + guest pairs.
pub const PAIRS: usize = 4;
/// Which pair is restarted while the others run (1-based).
const RESTARTED: usize = 2;
const MGR_DISK: &str = "/var/lib/xtask/multi-vtpmmgr.img";
/// Each guest's memory (MB), below `scenarios::TEST_GUEST_MEMORY` so four fit at once.
const MULTI_GUEST_MEMORY: &str = "416";
/// The pair whose guest writes while the manager is away (1-based).
const DURING_OUTAGE: usize = 4;
/// The first manager instance's console log, moved aside before the restart.
const FIRST_MGR: &str = "multi-mgr-first";
/// The `timed` label of `vtpmctl reattach`.
const REATTACH: &str = "reattach";
const CONLOG: &str = "/var/log/xen/console";

fn uuid(k: usize) -> String {
    format!("0b5e2c4d-{k:04x}-4e6f-9a1b-3c5d7e9f1a2b")
}
fn vtpm_disk(k: usize) -> String {
    format!("/var/lib/xtask/multi-vtpm-{k}.img")
}
fn guest_disk(k: usize) -> String {
    format!("/var/lib/xtask/multi-guest-{k}.img")
}

/// The domains.
pub struct Planned {
    pub mgr: Domain,
    /// vtpm and guest of each pair.
    pub pairs: Vec<(Domain, Domain)>,
    /// The restarted pair's second vtpm and guest.
    pub again: (Domain, Domain),
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        let mut v = vec![&self.mgr];
        for (a, b) in &self.pairs {
            v.extend([a, b]);
        }
        v.extend([&self.again.0, &self.again.1]);
        v
    }
}

/// dom0's go for guest `g`: `data/xt-go` = 1 in its xenstore home.
fn go(plan: &mut Plan, g: &str) {
    plan.step(format!("sh xenstore-write /local/domain/$(xl domid {g})/data/xt-go 1"));
}

/// Plans the scenario; `vtpmctl` is the dom0 tool's binary (for `vtpmctl reattach`).
pub fn plan(plan: &mut Plan, dir: &Path, tpm: Tpm, vtpmctl: &Path) -> Result<Planned> {
    let bin = std::fs::read(vtpmctl).map_err(|e| format!("read {}: {e}", vtpmctl.display()))?;
    plan.file("/usr/local/bin/vtpmctl", 0o755, bin);
    let mgr_name = "multi-mgr";
    let mgr = manager_on(dir, &mut plan.notes, mgr_name, MGR_DISK, tpm)?;
    let mut pairs = Vec::new();
    for k in 1..=PAIRS {
        let v = vtpm_on(dir, &format!("multi-vtpm-{k}"), mgr_name, &uuid(k), &vtpm_disk(k))?;
        let mut g =
            super::persist::guest(dir, &mut plan.notes, &format!("multi-domu-{k}"), &v.name, &guest_disk(k), 1)?;
        // four at once must fit the test bed's ~1.9 GB for guests
        g.cfg.set("memory", MULTI_GUEST_MEMORY);
        let extra = g.cfg.string("extra").unwrap_or_default();
        g.cfg.set("extra", &format!("\"{} xt.mgrrestart=1\"", extra.trim()));
        pairs.push((v, g));
    }
    let k = RESTARTED;
    let v2 = vtpm_on(dir, &format!("multi-vtpm-{k}b"), mgr_name, &uuid(k), &vtpm_disk(k))?;
    let mut g2 = super::persist::guest(dir, &mut plan.notes, &format!("multi-domu-{k}b"), &v2.name, &guest_disk(k), 2)?;
    g2.cfg.set("memory", MULTI_GUEST_MEMORY);

    plan.scenario(NAME);
    let mut wipe = vec![MGR_DISK.to_string()];
    for k in 1..=PAIRS {
        wipe.extend([vtpm_disk(k), guest_disk(k)]);
    }
    plan.step(format!("sh rm -f {}", wipe.join(" ")));
    plan.create(&mgr, 16);
    plan.wait(mgr_name, MGR_WAIT, &format!("{}|ERROR|panic", ere_literal(WAITING)));
    for (v, _) in &pairs {
        plan.create(v, 8);
    }
    for (v, _) in &pairs {
        plan.wait(&v.name, VTPM_WAIT, &format!("{SERVING}|ERROR|PANIC|panic"));
    }
    // four guests booting and using their TPMs at the same time
    for (_, g) in &pairs {
        plan.create(g, 8);
    }
    for (_, g) in &pairs {
        plan.wait(&g.name, GUEST_WAIT, "xt-persist: phase 1 done|Kernel panic");
    }
    // libxl's record of a vtpm's device (what `vtpmctl reattach` reads)
    plan.step(format!("sh xl list -l {} | grep -A 8 vtpms", pairs[0].0.name));
    plan.destroy(mgr_name);
    plan.step(format!("sh mv {CONLOG}/guest-{mgr_name}.log {CONLOG}/guest-{FIRST_MGR}.log"));
    // one guest's change while no manager runs
    let g4 = &pairs[DURING_OUTAGE - 1].1.name;
    go(plan, g4);
    plan.wait(g4, 240, "xt-persist: phase 1b done|Kernel panic");
    plan.create(&mgr, 16);
    plan.wait(mgr_name, MGR_WAIT, &format!("{}|ERROR|panic", ere_literal(WAITING)));
    plan.timed(REATTACH, &format!("vtpmctl reattach --manager {mgr_name}"));
    plan.step(format!("sh xenstore-ls /local/domain/$(xl domid {mgr_name})/backend/vtpm"));
    for (i, (_, g)) in pairs.iter().enumerate() {
        if i + 1 != DURING_OUTAGE {
            go(plan, &g.name);
        }
    }
    for (i, (_, g)) in pairs.iter().enumerate() {
        if i + 1 != DURING_OUTAGE {
            plan.wait(&g.name, 300, "xt-persist: phase 1b done|Kernel panic");
        }
    }
    plan.console(FIRST_MGR);
    let (v, g) = &pairs[RESTARTED - 1];
    plan.shutdown(&g.name, 120);
    plan.gone(&v.name, 60);
    plan.console(&g.name);
    plan.console(&v.name);
    plan.destroy(&v.name);
    plan.create(&v2, 8);
    plan.wait(&v2.name, VTPM_WAIT, &format!("{SERVING}|ERROR|PANIC|panic"));
    plan.create(&g2, 8);
    plan.wait(&g2.name, GUEST_WAIT, "xt-persist: phase 2 done|Kernel panic");
    // the other three are still running
    plan.list();
    for (i, (v, g)) in pairs.iter().enumerate() {
        if i + 1 != RESTARTED {
            plan.console(&g.name);
            plan.shutdown(&g.name, 120);
            plan.gone(&v.name, 60);
            plan.console(&v.name);
            plan.destroy(&v.name);
        }
    }
    plan.console(&g2.name);
    plan.shutdown(&g2.name, 120);
    plan.gone(&v2.name, 60);
    plan.console(&v2.name);
    plan.destroy(&v2.name);
    plan.console(mgr_name);
    plan.shutdown(mgr_name, 60);
    plan.console(mgr_name);
    Ok(Planned { mgr, pairs, again: (v2, g2) })
}

/// The EK digest a phase-1 guest printed (`… ek=<sha1>`).
fn ek(con: &[String]) -> Option<String> {
    let l = said(con, "seal rc=")?;
    l.split("ek=").nth(1).map(|e| e.trim().to_string()).filter(|e| e.len() == 40)
}

pub fn check(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let empty: Vec<String> = Vec::new();
    let con = |n: &str| -> &[String] { log.consoles.get(n).map(Vec::as_slice).unwrap_or(&empty) };
    for d in p.domains() {
        let rc = created(log, &d.name);
        c.pass_if(format!("{}: xl create", d.name), rc == Some(0), || format!("rc={rc:?}"));
    }
    let m = &p.mgr.name;
    let mcon = con(m);
    c.pass_if(format!("{m}: ready"), mcon.iter().any(|l| l.trim_end().ends_with(WAITING)), || tail(mcon, 3));
    let mut eks = Vec::new();
    for (v, g) in &p.pairs {
        let (vcon, gcon) = (con(&v.name), con(&g.name));
        c.pass_if(
            format!("{}: serves its guest, state kept by the manager", v.name),
            find(vcon, SERVING).is_some() && find(vcon, "TPM state is volatile").is_none(),
            || tail(vcon, 3),
        );
        check_guest(&mut c, log, gcon, &g.name, 1);
        eks.push((g.name.clone(), ek(gcon)));
        let gone = log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == &v.name));
        c.pass_if(format!("{}: powered itself off after its guest", v.name), gone, || tail(vcon, 3));
        check_no_panic(&mut c, vcon, &v.name);
        check_no_panic(&mut c, gcon, &g.name);
    }
    let distinct: std::collections::BTreeSet<&String> = eks.iter().filter_map(|(_, e)| e.as_ref()).collect();
    c.pass_if(format!("{PAIRS} guests see {PAIRS} different EKs"), distinct.len() == PAIRS, || format!("{eks:?}"));
    // the restart while the other three ran
    let others: Vec<&str> =
        p.pairs.iter().enumerate().filter(|(i, _)| i + 1 != RESTARTED).map(|(_, (_, g))| g.name.as_str()).collect();
    let listed = log.events.iter().rev().find_map(|e| if let Event::List(l) = e { Some(l) } else { None });
    c.pass_if(
        format!("the other guests ran on while pair {RESTARTED} restarted"),
        listed.is_some_and(|l| others.iter().all(|o| l.iter().any(|n| n == o))),
        || format!("xl list: {listed:?}"),
    );
    check_manager_restart(&mut c, log, p);
    let (v2, g2) = &p.again;
    let (vcon, gcon) = (con(&v2.name), con(&g2.name));
    c.pass_if(format!("{}: restores its state ('{RESTORED}')", v2.name), find(vcon, RESTORED).is_some(), || {
        tail(vcon, 3)
    });
    check_guest(&mut c, log, gcon, &g2.name, 2);
    let nv = said(gcon, "nvread ");
    c.pass_if(
        format!("{}: reads the NV data its guest wrote after the manager restart", g2.name),
        nv.is_some_and(|l| l.contains(&format!("data: {NV_AFTER_RESTART}"))),
        || nv.cloned().unwrap_or_else(|| tail(gcon, 4)),
    );
    check_no_panic(&mut c, vcon, &v2.name);
    check_no_panic(&mut c, gcon, &g2.name);
    check_no_panic(&mut c, mcon, m);
    c.out
}

/// What the guests write to their NV index after dom0's go (`xt-guest-persist`).
const NV_AFTER_RESTART: &str = "nv data after mgr restart!";

/// The manager's crash and restart while the four pairs ran.
fn check_manager_restart(c: &mut Checks, log: &ScenarioLog, p: &Planned) {
    let empty: Vec<String> = Vec::new();
    let con = |n: &str| -> &[String] { log.consoles.get(n).map(Vec::as_slice).unwrap_or(&empty) };
    let first = con(FIRST_MGR);
    c.pass_if(
        format!("{}: the first instance was ready before its xl destroy", p.mgr.name),
        first.iter().any(|l| l.trim_end().ends_with(WAITING)),
        || tail(first, 3),
    );
    let re = log.events.iter().find_map(|e| match e {
        Event::Timed { label, rc, secs } if label == REATTACH => Some((*rc, secs.clone())),
        _ => None,
    });
    let out = log.xl_output.get(REATTACH).map(Vec::as_slice).unwrap_or(&empty);
    let reattached = out.iter().filter(|l| l.contains(&format!("re-attached to {}", p.mgr.name))).count();
    c.pass_if(
        format!("vtpmctl reattach: the {PAIRS} vtpms' devices re-made on the new manager"),
        re.as_ref().is_some_and(|(rc, _)| *rc == 0) && reattached == PAIRS,
        || format!("{re:?}: {}", out.join(" / ")),
    );
    for (k, (v, g)) in p.pairs.iter().enumerate() {
        let (vcon, gcon) = (con(&v.name), con(&g.name));
        c.pass_if(
            format!("{}: reconnected to the restarted manager", v.name),
            find(vcon, "Info: reconnected to the vTPM manager").is_some(),
            || tail(vcon, 4),
        );
        let after = said(gcon, "go after ");
        c.pass_if(
            format!("{}: NV write and read back after the manager restart", g.name),
            after.is_some_and(|l| l.contains("nvwrite rc=0") && l.contains("nvread ok")),
            || after.cloned().unwrap_or_else(|| tail(gcon, 4)),
        );
        if k + 1 == DURING_OUTAGE {
            let at = |what: &str| vcon.iter().position(|l| l.contains(what));
            let (failed, again) = (at("ERROR: TPM state not saved"), at("Info: TPM state saved again"));
            c.pass_if(
                format!("{}: its save while the manager was away failed, then was made again", v.name),
                matches!((failed, again), (Some(f), Some(a)) if a > f),
                || tail(vcon, 6),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_pairs_with_their_own_disks_and_uuids() {
        let mut plan = Plan::default();
        let bin = std::env::current_exe().unwrap();
        let p = super::plan(&mut plan, &crate::paths::configs(), Tpm::Tpm12, &bin).unwrap();
        assert_eq!(p.pairs.len(), PAIRS);
        for (k, (v, g)) in p.pairs.iter().enumerate() {
            assert!(v.cfg.text.contains(&format!("uuid={}", uuid(k + 1))));
            assert!(v.cfg.text.contains(&vtpm_disk(k + 1)));
            assert!(g.cfg.text.contains(&format!("backend={}", v.name)));
        }
        assert!(p.again.0.cfg.text.contains(&format!("uuid={}", uuid(RESTARTED))));
        assert_eq!(plan.linux_creates, PAIRS + 1);
    }

    #[test]
    fn ek_digest_from_the_guest_line() {
        let con =
            vec!["xt-persist: seal rc=0 nvdefine rc=0 nvwrite rc=0 ek=0123456789012345678901234567890123456789".into()];
        assert_eq!(ek(&con).as_deref(), Some("0123456789012345678901234567890123456789"));
        assert_eq!(ek(&["xt-persist: seal rc=0 ek=".into()]), None);
    }
}
