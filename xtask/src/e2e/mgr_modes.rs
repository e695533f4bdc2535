//! The `mgrmodes` scenario (issue 8): the manager's two ways without TIS access, under real Xen.
//!
//! - `tpmdriver=tpmfront`: the manager's "hardware" TPM is one another domain serves over
//!   tpmif (a host without TIS access; the test bed's way to run a second manager). Here a
//!   volatile vtpm (`configs/vtpm.cfg` without its `vtpm=` line) is that TPM, and the manager's
//!   cfg has `vtpm = [ "backend=<it>" ]`, no `iomem=`. The manager takes ownership of it and
//!   seals its root there; a vtpm on this manager manufactures its TPM and saves it, is
//!   destroyed, and a new vtpm domain on the same disk and uuid restores it.
//! - `tpmdriver=none root_key=text:…`: no TPM at all, the root wrapped by the administrator's
//!   passphrase; the manager says plainly that this is weaker than hardware sealing. The same
//!   vtpm save / destroy / restore runs on it.
//!
//! No Linux guest: the vtpms' own console lines (manufactured, saved, restored) are the proof,
//! so the scenario costs about six stub-domain boots.

use super::log::ScenarioLog;
use super::persist::{MGR_WAIT, RESTORED, SERVING, VTPM_WAIT, WAITING, created, find, tail, vtpm_on};
use super::plan::{Domain, Plan, ere_literal};
use super::scenarios::{Check, Checks, check_no_panic, load_config};
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "mgrmodes";
const HW: &str = "modes-hwtpm";
const FRONT_MGR: &str = "modes-mgr-front";
const NONE_MGR: &str = "modes-mgr-none";
const FRONT_MGR_DISK: &str = "/var/lib/xtask/modes-mgr-front.img";
const NONE_MGR_DISK: &str = "/var/lib/xtask/modes-mgr-none.img";
const HW_DISK: &str = "/var/lib/xtask/modes-hwtpm.img";
const FRONT_VTPM_DISK: &str = "/var/lib/xtask/modes-vtpm-front.img";
const NONE_VTPM_DISK: &str = "/var/lib/xtask/modes-vtpm-none.img";
const FRONT_UUID: &str = "7e3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
const NONE_UUID: &str = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9";
const PASSPHRASE: &str = "xtask-e2e-admin-passphrase";
const MANUFACTURED: &str = "TPM 1.2 engine manufactured";
const WEAKER: &str = "weaker than hardware sealing";
const FRONT_CONNECTED: &str = "INFO[TPM]: tpmdriver=tpmfront: connected";

/// One manager mode: the manager and the vtpm's two runs on it.
pub struct Mode {
    pub mgr: Domain,
    pub first: Domain,
    pub again: Domain,
}

/// The domains.
pub struct Planned {
    pub hw: Domain,
    pub front: Mode,
    pub none: Mode,
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        let mut v = vec![&self.hw];
        for m in [&self.front, &self.none] {
            v.extend([&m.mgr, &m.first, &m.again]);
        }
        v
    }
}

fn manager(dir: &Path, notes: &mut Vec<String>, name: &str, disk: &str, extra: &str) -> Result<Domain> {
    let mut cfg = load_config(dir, "vtpmmgr.cfg", notes)?;
    cfg.set("name", &format!("\"{name}\""));
    cfg.set("disk", &format!("[ \"file:{disk},hda,w\" ]"));
    // no TIS access in either mode
    cfg.drop_key("iomem");
    cfg.set("extra", &format!("\"{extra}\""));
    Ok(Domain { name: name.into(), cfg, image: Some("vtpmmgr-stubdom".into()) })
}

fn mode(dir: &Path, mgr: Domain, tag: &str, uuid: &str, disk: &str) -> Result<Mode> {
    let first = vtpm_on(dir, &format!("modes-vtpm-{tag}-1"), &mgr.name, uuid, disk)?;
    let again = vtpm_on(dir, &format!("modes-vtpm-{tag}-2"), &mgr.name, uuid, disk)?;
    Ok(Mode { mgr, first, again })
}

/// The vtpm's first start (manufacture + save), its crash, and its restart on the same disk.
fn plan_mode(plan: &mut Plan, m: &Mode) {
    let vtpm_ready = format!("{SERVING}|ERROR|PANIC|panic");
    plan.create(&m.mgr, 16);
    plan.wait(&m.mgr.name, MGR_WAIT, &format!("{}|ERROR|panic", ere_literal(WAITING)));
    plan.create(&m.first, 8);
    plan.wait(&m.first.name, VTPM_WAIT, &vtpm_ready);
    plan.console(&m.first.name);
    plan.destroy(&m.first.name);
    plan.create(&m.again, 8);
    plan.wait(&m.again.name, VTPM_WAIT, &vtpm_ready);
    plan.console(&m.again.name);
    plan.destroy(&m.again.name);
    plan.console(&m.mgr.name);
    plan.shutdown(&m.mgr.name, 60);
}

pub fn plan(plan: &mut Plan, dir: &Path) -> Result<Planned> {
    let mut hw_cfg = load_config(dir, "vtpm.cfg", &mut plan.notes)?;
    hw_cfg.set("name", &format!("\"{HW}\""));
    hw_cfg.set("disk", &format!("[ \"file:{HW_DISK},hda,w\" ]"));
    let hw = Domain { name: HW.into(), cfg: hw_cfg, image: Some("vtpm-stubdom".into()) };
    let mut fm = manager(dir, &mut plan.notes, FRONT_MGR, FRONT_MGR_DISK, "tpmdriver=tpmfront")?;
    fm.cfg.set("vtpm", &format!("[ \"backend={HW}\" ]"));
    let nm =
        manager(dir, &mut plan.notes, NONE_MGR, NONE_MGR_DISK, &format!("tpmdriver=none root_key=text:{PASSPHRASE}"))?;
    let p = Planned {
        hw,
        front: mode(dir, fm, "front", FRONT_UUID, FRONT_VTPM_DISK)?,
        none: mode(dir, nm, "none", NONE_UUID, NONE_VTPM_DISK)?,
    };
    plan.scenario(NAME);
    plan.step(format!("sh rm -f {FRONT_MGR_DISK} {NONE_MGR_DISK} {HW_DISK} {FRONT_VTPM_DISK} {NONE_VTPM_DISK}"));
    plan.create(&p.hw, 8);
    plan.wait(HW, VTPM_WAIT, &format!("{SERVING}|ERROR|PANIC|panic"));
    plan_mode(plan, &p.front);
    plan.console(HW);
    plan.destroy(HW);
    plan_mode(plan, &p.none);
    Ok(p)
}

fn check_mode(c: &mut Checks, log: &ScenarioLog, m: &Mode, what: &str) {
    let empty: Vec<String> = Vec::new();
    let con = |n: &str| -> &[String] { log.consoles.get(n).map(Vec::as_slice).unwrap_or(&empty) };
    for d in [&m.mgr, &m.first, &m.again] {
        let rc = created(log, &d.name);
        c.pass_if(format!("{}: xl create", d.name), rc == Some(0), || format!("rc={rc:?}"));
    }
    let mcon = con(&m.mgr.name);
    let errors: Vec<&String> = mcon.iter().filter(|l| l.contains("ERROR")).collect();
    c.pass_if(
        format!("{}: {what}: key store open, ready, no ERROR line", m.mgr.name),
        mcon.iter().any(|l| l.trim_end().ends_with(WAITING))
            && errors.is_empty()
            && find(mcon, "the key store is not opened").is_none(),
        || if errors.is_empty() { tail(mcon, 4) } else { format!("{errors:?}") },
    );
    let (c1, c2) = (con(&m.first.name), con(&m.again.name));
    c.pass_if(
        format!("{}: first start on {}: a TPM manufactured, saved, served", m.first.name, m.mgr.name),
        find(c1, MANUFACTURED).is_some() && find(c1, SERVING).is_some() && find(c1, "volatile").is_none(),
        || tail(c1, 4),
    );
    c.pass_if(
        format!("{}: after the first vtpm's xl destroy, the same disk and uuid restore its TPM", m.again.name),
        find(c2, RESTORED).is_some() && find(c2, MANUFACTURED).is_none() && find(c2, SERVING).is_some(),
        || tail(c2, 4),
    );
    for (d, dc) in [(&m.mgr.name, mcon), (&m.first.name, c1), (&m.again.name, c2)] {
        check_no_panic(c, dc, d);
    }
}

pub fn check(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let empty: Vec<String> = Vec::new();
    let con = |n: &str| -> &[String] { log.consoles.get(n).map(Vec::as_slice).unwrap_or(&empty) };
    let hcon = con(HW);
    c.pass_if(format!("{HW}: a volatile vtpm serves as the hardware TPM"), find(hcon, SERVING).is_some(), || {
        tail(hcon, 3)
    });
    check_mode(&mut c, log, &p.front, "tpmdriver=tpmfront");
    let fcon = con(FRONT_MGR);
    c.pass_if(
        format!("{FRONT_MGR}: reaches its TPM through tpmfront ('{FRONT_CONNECTED}')"),
        find(fcon, FRONT_CONNECTED).is_some_and(|l| l.contains(HW) || l.contains("backend/vtpm")),
        || tail(fcon, 4),
    );
    check_mode(&mut c, log, &p.none, "tpmdriver=none");
    let ncon = con(NONE_MGR);
    c.pass_if(format!("{NONE_MGR}: says the administrator key is {WEAKER}"), find(ncon, WEAKER).is_some(), || {
        tail(ncon, 4)
    });
    check_no_panic(&mut c, hcon, HW);
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_managers_have_no_tis_and_their_own_disks() {
        let mut plan = Plan::default();
        let p = super::plan(&mut plan, &crate::paths::configs()).unwrap();
        for m in [&p.front.mgr, &p.none.mgr] {
            assert!(m.cfg.raw("iomem").is_none(), "{}", m.cfg.text);
        }
        assert!(p.front.mgr.cfg.text.contains(&format!("backend={HW}")));
        assert!(p.front.mgr.cfg.text.contains("tpmdriver=tpmfront"));
        assert!(p.none.mgr.cfg.text.contains("tpmdriver=none root_key=text:"));
        assert!(p.none.mgr.cfg.raw("vtpm").is_none());
        assert!(p.hw.cfg.raw("vtpm").is_none(), "the hardware vtpm is volatile");
        for m in [&p.front, &p.none] {
            assert!(m.first.cfg.text.contains(&format!("backend={}", m.mgr.name)));
            assert_eq!(m.first.cfg.raw("disk"), m.again.cfg.raw("disk"));
        }
        assert_eq!(plan.linux_creates, 0);
        assert!(plan.text().contains(&format!("destroy {}\n", p.front.first.name)));
    }
}
