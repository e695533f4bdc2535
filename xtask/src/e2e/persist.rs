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
//! Phase 3, the negative cases, on the same disks (each damage undone after its case): one
//! byte of the vtpm's newest record flipped from dom0 (`xt-corrupt vtpm-record`); the disk of
//! uuid A given to a vtpm with uuid B; one byte of the manager's sealed root flipped
//! (`xt-corrupt mgr-root`). Each must end in a plain `ERROR` line, no service, and the disks
//! byte for byte as they were (`xt-corrupt sha` before and after). Then manager and vtpm start
//! once more on the undamaged disks and the vtpm restores its state.
//!
//! `cargo xtask e2e persist` runs it on TPM 1.2 hardware, `persist --tpm2` on TPM 2.0 (the
//! manager gets `tpm2=1` and only locality 2's TIS page, as in the `tis` scenario).
//!
//! Domains get a phase suffix (`-1`, `-2`, `-3…`) so each phase's consoles are kept apart; the
//! disks and the vtpm's uuid are the same in all phases.

use super::config::XlConfig;
use super::log::{Event, ScenarioLog};
use super::plan::{Domain, Plan, ere_literal};
use super::scenarios::{Check, Checks, check_no_panic, load_config};
use crate::qemu::Tpm;
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "persist";
const MGR_DISK: &str = "/var/lib/xtask/persist-vtpmmgr.img";
const VTPM_DISK: &str = "/var/lib/xtask/persist-vtpm.img";
const GUEST_DISK: &str = "/var/lib/xtask/persist-guest.img";
/// The vtpm's identity at the manager (as libxl writes it into the manager's backend dir).
const UUID: &str = "ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f01";
/// Another vtpm's uuid, given the disk of [`UUID`] in phase 3.
const OTHER_UUID: &str = "5d1c7e42-0b9a-4f63-8e21-7a4b3c2d1e0f";
const NOT_LOADED: &str = "ERROR: TPM state not loaded:";
pub(super) const RESTORED: &str = "Info: TPM state restored";
const MGR_REFUSED: &str = "nothing was written";
pub(super) const WAITING: &str = "INFO[VTPM]: Waiting for commands from vTPM's:";
pub(super) const SERVING: &str = "Info: VTPM serving frontends";
/// Seconds: manager first boot (TakeOwnership, seal), vtpm first start (EK generation under
/// TCG), the guest's boot plus an SRK generation in the vtpm.
pub(super) const MGR_WAIT: u32 = 240;
pub(super) const VTPM_WAIT: u32 = 300;
pub(super) const GUEST_WAIT: u32 = 900;

/// One phase's three domains.
pub struct Phase {
    pub mgr: Domain,
    pub vtpm: Domain,
    pub guest: Domain,
}

/// Phase 3: the damaged-disk cases and the final good start.
pub struct Negative {
    /// The manager for the vtpm cases (undamaged disk).
    pub mgr: Domain,
    /// uuid A on its own disk, whose newest record has a flipped byte.
    pub flipped: Domain,
    /// uuid B on uuid A's (undamaged) disk.
    pub foreign: Domain,
    /// The manager on its disk with a flipped byte in the sealed root.
    pub mgr_flipped: Domain,
    /// Manager and vtpm on the undamaged disks again.
    pub mgr_good: Domain,
    pub vtpm_good: Domain,
}

/// All three phases.
pub struct Planned {
    pub phases: [Phase; 2],
    pub negative: Negative,
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        let n = &self.negative;
        let mut v: Vec<&Domain> = self.phases.iter().flat_map(|p| [&p.mgr, &p.vtpm, &p.guest]).collect();
        v.extend([&n.mgr, &n.flipped, &n.foreign, &n.mgr_flipped, &n.mgr_good, &n.vtpm_good]);
        v
    }
}

fn manager(dir: &Path, notes: &mut Vec<String>, name: &str, tpm: Tpm) -> Result<Domain> {
    manager_on(dir, notes, name, MGR_DISK, tpm)
}

/// A manager from `configs/vtpmmgr.cfg` on `disk`, the hardware TPM over TIS at locality 2.
pub(super) fn manager_on(dir: &Path, notes: &mut Vec<String>, name: &str, disk: &str, tpm: Tpm) -> Result<Domain> {
    let mut mcfg = load_config(dir, "vtpmmgr.cfg", notes)?;
    mcfg.set("name", &format!("\"{name}\""));
    mcfg.set("disk", &format!("[ \"file:{disk},hda,w\" ]"));
    // as the `tis` scenario: TPM 2.0 gets only locality 2's page, and tpm2=1
    let (iomem, tpm2) = if tpm == Tpm::Tpm2 { ("fed42,1", " tpm2=1") } else { ("fed40,5", "") };
    mcfg.set("iomem", &format!("[ \"{iomem}\" ]"));
    mcfg.set("extra", &format!("\"tpmdriver=tpm_tis tpmiomem=0xfed40000 tpmlocality=2{tpm2}\""));
    Ok(Domain { name: name.into(), cfg: mcfg, image: Some("vtpmmgr-stubdom".into()) })
}

fn vtpm(dir: &Path, name: &str, mgr: &str, uuid: &str) -> Result<Domain> {
    vtpm_on(dir, name, mgr, uuid, VTPM_DISK)
}

/// A vtpm from `configs/vtpm.cfg` (its `vtpm=` line kept: the manager `mgr`, `uuid`) on `disk`.
pub(super) fn vtpm_on(dir: &Path, name: &str, mgr: &str, uuid: &str, disk: &str) -> Result<Domain> {
    let text = std::fs::read_to_string(dir.join("vtpm.cfg"))?;
    let mut vcfg = XlConfig::new(&text);
    vcfg.set("name", &format!("\"{name}\""));
    vcfg.set("disk", &format!("[ \"file:{disk},hda,w\" ]"));
    vcfg.set("vtpm", &format!("[ \"backend={mgr},uuid={uuid}\" ]"));
    Ok(Domain { name: name.into(), cfg: vcfg, image: Some("vtpm-stubdom".into()) })
}

fn phase(dir: &Path, notes: &mut Vec<String>, n: u32, tpm: Tpm) -> Result<Phase> {
    let mgr_name = format!("persist-mgr-{n}");
    let mgr = manager(dir, notes, &mgr_name, tpm)?;
    let vtpm_name = format!("persist-vtpm-{n}");
    let vtpm = vtpm(dir, &vtpm_name, &mgr_name, UUID)?;
    let guest = guest(dir, notes, &format!("persist-domu-{n}"), &vtpm_name, GUEST_DISK, n)?;
    Ok(Phase { mgr, vtpm, guest })
}

/// A Linux guest from `configs/domu.cfg` on the vtpm `vtpm`, keeping its files on `disk`
/// (xvdb), running `xt-guest-persist PHASE`.
pub(super) fn guest(
    dir: &Path,
    notes: &mut Vec<String>,
    name: &str,
    vtpm: &str,
    disk: &str,
    phase: u32,
) -> Result<Domain> {
    let mut gcfg = load_config(dir, "domu.cfg", notes)?;
    gcfg.set("name", &format!("\"{name}\""));
    gcfg.set("vtpm", &format!("[ \"backend={vtpm}\" ]"));
    gcfg.set("disk", &format!("[ \"file:{disk},xvdb,w\" ]"));
    let extra = gcfg.string("extra").unwrap_or_default();
    gcfg.set("extra", &format!("\"{} xt.test=persist{phase}\"", extra.trim()));
    Ok(Domain { name: name.into(), cfg: gcfg, image: None })
}

fn negative(dir: &Path, notes: &mut Vec<String>, tpm: Tpm) -> Result<Negative> {
    Ok(Negative {
        mgr: manager(dir, notes, "persist-mgr-3", tpm)?,
        flipped: vtpm(dir, "persist-vtpm-3a", "persist-mgr-3", UUID)?,
        foreign: vtpm(dir, "persist-vtpm-3b", "persist-mgr-3", OTHER_UUID)?,
        mgr_flipped: manager(dir, notes, "persist-mgr-3c", tpm)?,
        mgr_good: manager(dir, notes, "persist-mgr-3d", tpm)?,
        vtpm_good: vtpm(dir, "persist-vtpm-3d", "persist-mgr-3d", UUID)?,
    })
}

/// `xt-corrupt sha LABEL FILE`: the disk's digest into the log.
fn sha(plan: &mut Plan, label: &str, file: &str) {
    plan.step(format!("sh xt-corrupt sha {label} {file}"));
}

pub fn plan(plan: &mut Plan, dir: &Path, tpm: Tpm) -> Result<Planned> {
    let p1 = phase(dir, &mut plan.notes, 1, tpm)?;
    let p2 = phase(dir, &mut plan.notes, 2, tpm)?;
    let neg = negative(dir, &mut plan.notes, tpm)?;
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
    plan_negative(plan, &neg);
    Ok(Planned { phases: [p1, p2], negative: neg })
}

fn plan_negative(plan: &mut Plan, n: &Negative) {
    let refused = format!("{}|{SERVING}|PANIC|panic", ere_literal(NOT_LOADED));
    plan.step(format!("sh cp {VTPM_DISK} {VTPM_DISK}.good && cp {MGR_DISK} {MGR_DISK}.good"));
    plan.create(&n.mgr, 16);
    plan.wait(&n.mgr.name, MGR_WAIT, &format!("{}|ERROR|panic", ere_literal(WAITING)));
    // a: one byte of the newest record
    plan.step(format!("sh xt-corrupt vtpm-record {VTPM_DISK}"));
    sha(plan, "a-before", VTPM_DISK);
    plan.create(&n.flipped, 8);
    plan.wait(&n.flipped.name, VTPM_WAIT, &refused);
    plan.gone(&n.flipped.name, 60);
    plan.console(&n.flipped.name);
    sha(plan, "a-after", VTPM_DISK);
    plan.destroy(&n.flipped.name);
    // b: uuid A's disk under uuid B
    plan.step(format!("sh cp {VTPM_DISK}.good {VTPM_DISK}"));
    sha(plan, "b-before", VTPM_DISK);
    sha(plan, "b-mgr-before", MGR_DISK);
    plan.create(&n.foreign, 8);
    plan.wait(&n.foreign.name, VTPM_WAIT, &refused);
    plan.gone(&n.foreign.name, 60);
    plan.console(&n.foreign.name);
    sha(plan, "b-after", VTPM_DISK);
    sha(plan, "b-mgr-after", MGR_DISK);
    plan.destroy(&n.foreign.name);
    plan.console(&n.mgr.name);
    plan.shutdown(&n.mgr.name, 60);
    plan.destroy(&n.mgr.name);
    // c: one byte of the manager's sealed root
    plan.step(format!("sh xt-corrupt mgr-root {MGR_DISK}"));
    sha(plan, "c-before", MGR_DISK);
    plan.create(&n.mgr_flipped, 16);
    plan.wait(&n.mgr_flipped.name, MGR_WAIT, &format!("{}|{}|panic", ere_literal(MGR_REFUSED), ere_literal(WAITING)));
    plan.console(&n.mgr_flipped.name);
    plan.shutdown(&n.mgr_flipped.name, 60);
    plan.destroy(&n.mgr_flipped.name);
    sha(plan, "c-after", MGR_DISK);
    // d: the undamaged disks again
    plan.step(format!("sh cp {MGR_DISK}.good {MGR_DISK}"));
    plan.create(&n.mgr_good, 16);
    plan.wait(&n.mgr_good.name, MGR_WAIT, &format!("{}|ERROR|panic", ere_literal(WAITING)));
    plan.create(&n.vtpm_good, 8);
    plan.wait(&n.vtpm_good.name, VTPM_WAIT, &format!("{SERVING}|ERROR|PANIC|panic"));
    plan.console(&n.vtpm_good.name);
    plan.console(&n.mgr_good.name);
    plan.destroy(&n.vtpm_good.name);
    plan.shutdown(&n.mgr_good.name, 60);
    plan.destroy(&n.mgr_good.name);
}

// ---------------------------------------------------------------- checks

pub(super) fn find<'a>(lines: &'a [String], needle: &str) -> Option<&'a String> {
    lines.iter().find(|l| l.contains(needle))
}

pub(super) fn tail(lines: &[String], n: usize) -> String {
    let t: Vec<&str> = lines[lines.len().saturating_sub(n)..].iter().map(|s| s.trim()).collect();
    if t.is_empty() { "(empty console)".into() } else { format!("console ends: {}", t.join(" / ")) }
}

pub(super) fn created(log: &ScenarioLog, dom: &str) -> Option<i32> {
    log.events.iter().find_map(|e| match e {
        Event::Create { dom: d, rc, .. } if d == dom => Some(*rc),
        _ => None,
    })
}

/// The guest's `xt-persist: <what>…` line.
pub(super) fn said<'a>(con: &'a [String], what: &str) -> Option<&'a String> {
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
        check_guest(&mut c, log, gcon, g, i as u32 + 1);
        let gone = log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == v));
        c.pass_if(format!("{v}: powered itself off after its guest"), gone, || tail(vcon, 3));
        for (d, dc) in [(m, mcon), (v, vcon), (g, gcon)] {
            check_no_panic(&mut c, dc, d);
        }
    }
    check_negative(&mut c, log, &p.negative);
    c.out
}

/// What `xt-guest-persist PHASE` said in guest `g`: phase 1 took ownership, sealed, wrote NV and
/// kept its files; phase 2 found the TPM owned, the same EK, the blob unsealing and the NV data.
pub(super) fn check_guest(c: &mut Checks, log: &ScenarioLog, gcon: &[String], g: &str, phase: u32) {
    let done = said(gcon, &format!("phase {phase} done"));
    c.pass_if(format!("{g}: guest test ran to its end"), done.is_some(), || {
        // how dom0's wait for it ended (found / gone / timeout, and after how long)
        let wait = log.events.iter().rev().find_map(|e| match e {
            Event::Wait { dom, result, secs } if dom == g => Some(format!("dom0's wait: {result} after {secs} s; ")),
            _ => None,
        });
        format!("{}{}", wait.unwrap_or_default(), tail(gcon, 4))
    });
    if phase == 1 {
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
}

/// The digest `xt-corrupt sha LABEL FILE` printed (raw serial lines of the scenario).
fn digest(log: &ScenarioLog, label: &str) -> Option<String> {
    let want = format!("xt-corrupt: sha {label} ");
    log.raw.iter().find_map(|l| {
        let at = l.find(&want)?;
        l[at + want.len()..].split_whitespace().nth(1).map(str::to_string)
    })
}

/// The `xt-corrupt: WHAT FILE offset=…` line.
fn corrupted<'a>(log: &'a ScenarioLog, what: &str) -> Option<&'a str> {
    let want = format!("xt-corrupt: {what} ");
    log.raw.iter().find_map(|l| l.find(&want).map(|at| &l[at..]))
}

fn unchanged(c: &mut Checks, log: &ScenarioLog, what: &str, before: &str, after: &str) {
    let (b, a) = (digest(log, before), digest(log, after));
    c.pass_if(what.to_string(), b.is_some() && b == a, || format!("sha256 before {b:?}, after {a:?}"));
}

fn check_negative(c: &mut Checks, log: &ScenarioLog, n: &Negative) {
    let empty: Vec<String> = Vec::new();
    let con = |d: &Domain| -> &[String] { log.consoles.get(&d.name).map(Vec::as_slice).unwrap_or(&empty) };
    for d in [&n.mgr, &n.flipped, &n.foreign, &n.mgr_flipped, &n.mgr_good, &n.vtpm_good] {
        let rc = created(log, &d.name);
        c.pass_if(format!("{}: xl create", d.name), rc == Some(0), || format!("rc={rc:?}"));
    }
    for (case, d, before, after) in [
        ("one byte of its newest record flipped", &n.flipped, "a-before", "a-after"),
        ("the disk of another uuid", &n.foreign, "b-before", "b-after"),
    ] {
        let (name, dc) = (&d.name, con(d));
        if case.starts_with("one byte") {
            let f = corrupted(log, "vtpm-record");
            c.pass_if(format!("{name}: dom0 flipped a byte"), f.is_some_and(|l| l.contains("offset=")), || {
                format!("{f:?}")
            });
        }
        let refused = find(dc, NOT_LOADED);
        c.pass_if(format!("{name} ({case}): refuses with '{NOT_LOADED} <cause>'"), refused.is_some(), || tail(dc, 3));
        if let Some(l) = refused {
            println!("  {name}: {}", l.trim());
        }
        c.pass_if(format!("{name}: does not serve"), find(dc, SERVING).is_none(), || tail(dc, 3));
        let gone = log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == name));
        c.pass_if(format!("{name}: powered itself off"), gone, || tail(dc, 3));
        unchanged(c, log, &format!("{name}: the vtpm disk is left as it was"), before, after);
        check_no_panic(c, dc, name);
    }
    unchanged(
        c,
        log,
        &format!("{}: a vtpm of an unknown uuid adds nothing to the manager's disk", n.mgr.name),
        "b-mgr-before",
        "b-mgr-after",
    );
    let (name, dc) = (&n.mgr_flipped.name, con(&n.mgr_flipped));
    let f = corrupted(log, "mgr-root");
    c.pass_if(
        format!("{name}: dom0 flipped a byte of the sealed root"),
        f.is_some_and(|l| l.contains("offset=")),
        || format!("{f:?}"),
    );
    let refused = dc.iter().find(|l| l.contains("ERROR[VTPM]") && l.contains(MGR_REFUSED));
    c.pass_if(format!("{name}: refuses its disk ('ERROR[VTPM]: <cause>; {MGR_REFUSED}')"), refused.is_some(), || {
        tail(dc, 3)
    });
    if let Some(l) = refused {
        println!("  {name}: {}", l.trim());
    }
    c.pass_if(format!("{name}: opens no key store"), find(dc, "key store loaded").is_none(), || tail(dc, 3));
    unchanged(c, log, &format!("{name}: the manager's disk is left as it was"), "c-before", "c-after");
    check_no_panic(c, dc, name);
    let (vg, vc) = (&n.vtpm_good.name, con(&n.vtpm_good));
    let mc = con(&n.mgr_good);
    c.pass_if(format!("{}: loads the undamaged disk", n.mgr_good.name), find(mc, "key store loaded").is_some(), || {
        tail(mc, 3)
    });
    c.pass_if(
        format!("{vg}: restores its state from the undamaged disk ('{RESTORED}')"),
        find(vc, RESTORED).is_some(),
        || tail(vc, 3),
    );
    c.pass_if(format!("{vg}: serves"), find(vc, SERVING).is_some(), || tail(vc, 3));
    check_no_panic(c, vc, vg);
    check_no_panic(c, mc, &n.mgr_good.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_keeps_disks_and_uuid_across_phases() {
        let mut plan = Plan::default();
        let p = super::plan(&mut plan, &crate::paths::configs(), Tpm::Tpm12).unwrap();
        let text = plan.text();
        assert_eq!(text.matches(&format!("disk {VTPM_DISK} 8")).count(), 5);
        assert_eq!(text.matches(&format!("sh rm -f {MGR_DISK}")).count(), 1, "disks wiped once, before phase 1");
        for ph in &p.phases {
            assert!(ph.vtpm.cfg.text.contains(&format!("backend={},uuid={UUID}", ph.mgr.name)));
            assert!(ph.guest.cfg.text.contains(&format!("backend={}", ph.vtpm.name)));
        }
        assert!(text.contains("destroy persist-mgr-1"));
        assert!(text.contains("shutdown persist-mgr-2 60"));
        assert!(p.negative.foreign.cfg.text.contains(&format!("uuid={OTHER_UUID}")));
        assert!(!p.phases[0].mgr.cfg.text.contains("tpm2=1"));
        let mut plan2 = Plan::default();
        let p2 = super::plan(&mut plan2, &crate::paths::configs(), Tpm::Tpm2).unwrap();
        assert!(p2.domains().iter().filter(|d| d.name.contains("mgr")).all(|d| d.cfg.text.contains("tpm2=1")));
    }
}
