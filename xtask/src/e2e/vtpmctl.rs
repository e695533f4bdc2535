//! The `vtpmctl` scenario (issue 9): the dom0 tool and its platform layer over /dev/xen
//! (`tools/xen-dom0`, the only `unsafe` outside the kernel) under real Xen. `vtpmctl probe`
//! exercises xenstore (read, directory, watch), a loopback event channel, a gntalloc page
//! mapped back through gntdev and the clock in dom0; `probe --domid N` grants a page to a
//! running vtpm stub domain. Then `create` (disk, uuid, cfg, the guest cfg's `vtpm=` line),
//! `list --json`, `show`, and `delete --yes`, each checked by what it printed and left on disk.

use super::log::ScenarioLog;
use super::plan::{Domain, Plan};
use super::scenarios::{Check, Checks, load_config};
use crate::util::{Context, Result};
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "vtpmctl";
const VTPM: &str = "vtpmctl-probe-vtpm";
const STATE: &str = "/var/lib/vtpmctl-e2e";
/// A guest cfg for `create` to edit (configs/domu.cfg, put into dom0 by the plan).
const GUEST_CFG: &str = "/var/lib/vtpmctl-guest.cfg";

pub fn plan(plan: &mut Plan, dir: &Path, vtpmctl: &Path) -> Result<Domain> {
    let bin = std::fs::read(vtpmctl).ctx(|| format!("read {}", vtpmctl.display()))?;
    plan.file("/usr/local/bin/vtpmctl", 0o755, bin);
    let guest = std::fs::read(dir.join("domu.cfg")).ctx(|| format!("read {}", dir.join("domu.cfg").display()))?;
    plan.file(GUEST_CFG, 0o644, guest);
    // a volatile vtpm (no vtpm= line: no manager needed) to grant a page to
    let mut cfg = load_config(dir, "vtpm.cfg", &mut plan.notes)?;
    cfg.set("name", &format!("\"{VTPM}\""));
    let d = Domain { name: VTPM.into(), cfg, image: Some("vtpm-stubdom".into()) };
    plan.scenario(NAME);
    plan.step("sh vtpmctl probe; echo xt-vtpmctl: probe rc=$?");
    plan.create(&d, 8);
    plan.wait(VTPM, 150, "Info: VTPM serving frontends|ERROR|PANIC|panic");
    plan.step(format!("sh vtpmctl probe --domid $(xl domid {VTPM}); echo xt-vtpmctl: probe-domid rc=$?"));
    plan.destroy(VTPM);
    let s = format!("--state-dir {STATE}");
    plan.step(format!(
        "sh rm -rf {STATE} /tmp/vtpmctl-cfg; mkdir -p /tmp/vtpmctl-cfg; cp /etc/xtask/configs/domu.cfg {GUEST_CFG}"
    ));
    plan.step(format!(
        "sh vtpmctl {s} create vc1 --guest {GUEST_CFG} --manager vtpmmgr --cfg-dir /tmp/vtpmctl-cfg; echo xt-vtpmctl: create rc=$?"
    ));
    plan.step(format!("sh grep -c 'backend=vc1' {GUEST_CFG} | sed 's/^/xt-vtpmctl: guest-line /'"));
    plan.step("sh grep -E '^(name|disk|vtpm)' /tmp/vtpmctl-cfg/vc1.cfg | sed 's/^/xt-vtpmctl: cfg /'");
    plan.step(format!("sh vtpmctl {s} create vc1 --guest {GUEST_CFG} --print; echo xt-vtpmctl: create-again rc=$?"));
    plan.step(format!("sh vtpmctl {s} list --json; echo; echo xt-vtpmctl: list rc=$?"));
    plan.step(format!("sh vtpmctl {s} show vc1; echo xt-vtpmctl: show rc=$?"));
    plan.step(format!("sh vtpmctl {s} delete vc1; echo xt-vtpmctl: delete-no-yes rc=$?"));
    plan.step(format!("sh vtpmctl {s} delete vc1 --yes; echo xt-vtpmctl: delete rc=$?"));
    plan.step(format!("sh ls {STATE} {STATE}/disks /tmp/vtpmctl-cfg | sed 's/^/xt-vtpmctl: left /'"));
    Ok(d)
}

/// What a step printed (`@@sh|` lines only: the step's own `@@xt sh …` echo holds the text too).
fn said<'a>(log: &'a ScenarioLog, what: &str) -> Option<&'a str> {
    let want = format!("xt-vtpmctl: {what}");
    printed(log).into_iter().find_map(|l| l.find(&want).map(|at| &l[at..]))
}

/// The `@@sh|` lines (what the steps printed).
fn printed(log: &ScenarioLog) -> Vec<&str> {
    log.raw.iter().filter_map(|l| l.find("@@sh| ").map(|at| l[at + 6..].trim_end())).collect()
}

pub fn check(log: &ScenarioLog) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let out = printed(log);
    let probe_fails: Vec<&&str> = out.iter().filter(|l| l.contains("FAIL")).collect();
    println!("---- {NAME}: what vtpmctl printed in dom0 ----");
    for l in &out {
        println!("  {l}");
    }
    let rc =
        |what: &str, want: &str| said(log, &format!("{what} rc=")).is_some_and(|l| l.ends_with(&format!("rc={want}")));
    c.pass_if("vtpmctl probe in dom0 (xenstore, event channel, gntalloc + gntdev, clock)", rc("probe", "0"), || {
        format!("{:?} {probe_fails:?}", said(log, "probe rc="))
    });
    c.pass_if("vtpmctl probe --domid <vtpm> (a page granted to a stub domain)", rc("probe-domid", "0"), || {
        format!("{:?} {probe_fails:?}", said(log, "probe-domid rc="))
    });
    c.pass_if("vtpmctl create vc1 --guest CFG", rc("create", "0"), || format!("{:?}", said(log, "create rc=")));
    c.pass_if("create added vtpm=[\"backend=vc1\"] to the guest cfg", said(log, "guest-line 1").is_some(), || {
        format!("{:?}", said(log, "guest-line"))
    });
    let cfg_ok = said(log, "cfg vtpm").is_some_and(|l| l.contains("backend=vtpmmgr,uuid="))
        && said(log, "cfg name").is_some_and(|l| l.contains("\"vc1\""));
    c.pass_if("the vtpm cfg names vc1, its disk and the manager with a uuid", cfg_ok, || {
        format!("{:?} {:?}", said(log, "cfg name"), said(log, "cfg vtpm"))
    });
    c.pass_if("a second create of vc1 is refused (exit 1)", rc("create-again", "1"), || {
        format!("{:?}", said(log, "create-again"))
    });
    let listed = out.iter().any(|l| l.starts_with('[') && l.contains("\"name\":\"vc1\""));
    c.pass_if("list --json shows vc1", rc("list", "0") && listed, || format!("{:?}", said(log, "list rc=")));
    c.pass_if("show vc1", rc("show", "0"), || format!("{:?}", said(log, "show rc=")));
    c.pass_if("delete without --yes is refused (exit 2)", rc("delete-no-yes", "2"), || {
        format!("{:?}", said(log, "delete-no-yes"))
    });
    c.pass_if("delete --yes", rc("delete", "0"), || format!("{:?}", said(log, "delete rc=")));
    let left: Vec<&str> =
        out.iter().filter(|l| l.starts_with("xt-vtpmctl: left ") && (l.contains("vc1"))).copied().collect();
    c.pass_if("delete removed the record, the disk and the cfg", left.is_empty(), || format!("{left:?}"));
    c.out
}
