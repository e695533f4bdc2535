//! The `blkfront` scenario: our blkfront (in the vtpm image, option `disktest=`) against both
//! real backends a Xen host may use. For each backend the image boots twice on the same disk
//! image: `disktest=write` writes a known pattern (several requests in flight), flushes and
//! powers off; dom0 then finds the pattern in the image file (`xt-disk-pattern`); a second
//! boot with `disktest=verify` reads it back and compares every byte.
//!
//! Backends: Linux blkback (a `file:` disk: the block hotplug script attaches it through a
//! loop device, as for the stub domains' own configs) and QEMU's qdisk (`backendtype=qdisk`,
//! qemu-system-xen in dom0). The image prints the backend's xenstore path, so the check knows
//! which one served it.

use super::log::{Event, ScenarioLog};
use super::plan::{Domain, Plan};
use super::scenarios::{Check, Checks, load_config};
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "blkfront";

/// (label, xl disk spec, image path, backend dir name in xenstore)
const BACKENDS: &[(&str, &str, &str, &str)] = &[
    ("blkback", "file:/var/lib/xtask/blk-blkback.img,hda,w", "/var/lib/xtask/blk-blkback.img", "vbd"),
    (
        "qdisk",
        "format=raw, vdev=hda, access=rw, backendtype=qdisk, target=/var/lib/xtask/blk-qdisk.img",
        "/var/lib/xtask/blk-qdisk.img",
        "qdisk",
    ),
];

/// The domains, two per backend (write, verify).
pub struct Planned {
    pub runs: Vec<(&'static str, Domain, Domain)>,
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        self.runs.iter().flat_map(|(_, w, v)| [w, v]).collect()
    }
}

fn disktest_domain(dir: &Path, notes: &mut Vec<String>, label: &str, spec: &str, mode: &str) -> Result<Domain> {
    let mut cfg = load_config(dir, "vtpm.cfg", notes)?;
    let name = format!("disktest-{label}-{mode}");
    cfg.set("name", &format!("\"{name}\""));
    cfg.set("disk", &format!("[ \"{spec}\" ]"));
    cfg.set("extra", &format!("\"disktest={mode}\""));
    Ok(Domain { name, cfg, image: Some("vtpm-stubdom".into()) })
}

pub fn plan(plan: &mut Plan, dir: &Path) -> Result<Planned> {
    let mut runs = Vec::new();
    plan.scenario(NAME);
    for (label, spec, path, _) in BACKENDS {
        let w = disktest_domain(dir, &mut plan.notes, label, spec, "write")?;
        let v = disktest_domain(dir, &mut plan.notes, label, spec, "verify")?;
        plan.step(format!("sh rm -f {path}"));
        for d in [&w, &v] {
            plan.create_paused(d, 16);
            plan.gone(&d.name, 90);
            plan.console(&d.name);
            plan.destroy(&d.name);
            if d.name == w.name {
                plan.step(format!("sh /usr/local/bin/xt-disk-pattern {path} {label}"));
            }
        }
        runs.push((*label, w, v));
    }
    Ok(Planned { runs })
}

fn find<'a>(lines: &'a [String], needle: &str) -> Option<&'a String> {
    lines.iter().find(|l| l.contains(needle))
}

pub fn check(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    for (label, w, v) in &p.runs {
        let be = BACKENDS.iter().find(|b| b.0 == *label).map(|b| b.3).unwrap_or("?");
        for (d, want) in [(w, "disktest: write ok"), (v, "disktest: verify ok")] {
            let n = &d.name;
            let con: &[String] = log.consoles.get(n).map(Vec::as_slice).unwrap_or(&[]);
            let last = con
                .iter()
                .rev()
                .find(|l| l.contains("disktest: "))
                .cloned()
                .unwrap_or_else(|| "(no disktest line)".into());
            let backend = find(con, "disktest: backend ");
            c.pass_if(
                format!("{n}: served by {label} (backend/{be})"),
                backend.is_some_and(|l| l.contains(&format!("/backend/{be}/"))),
                || backend.cloned().unwrap_or_else(|| last.clone()),
            );
            c.pass_if(format!("{n}: {want}"), find(con, want).is_some(), || last.clone());
            let gone = log.events.iter().any(|e| matches!(e, Event::Gone { dom, gone: true, .. } if dom == n));
            c.pass_if(format!("{n}: powered off by itself"), gone, || "still running after 90 s".into());
            println!("---- {NAME}: console of {n} ----");
            for l in con.iter().filter(|l| l.contains("disktest") || l.contains("ERROR") || l.contains("PANIC")) {
                println!("  {}", l.trim_end());
            }
            if d.name == w.name {
                let pat = format!("xt-diskpattern: {label} ");
                let line = log.raw.iter().find(|l| l.contains(&pat));
                c.pass_if(
                    format!("{label}: dom0 finds the pattern in the image file"),
                    line.is_some_and(|l| l.contains("blocks_found=5 of 5")),
                    || line.cloned().unwrap_or_else(|| "no xt-diskpattern line".into()),
                );
                if let Some(l) = line {
                    println!("  dom0: {}", &l[l.find("xt-diskpattern").unwrap_or(0)..]);
                }
            }
        }
    }
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::config::XlConfig;
    use crate::e2e::log::parse;

    fn dom(name: &str) -> Domain {
        Domain { name: name.into(), cfg: XlConfig::new(""), image: Some("vtpm-stubdom".into()) }
    }

    #[test]
    fn checks_follow_the_consoles() {
        let p = Planned { runs: vec![("qdisk", dom("disktest-qdisk-write"), dom("disktest-qdisk-verify"))] };
        let mut s = String::from(
            "@@xt scenario blkfront\n@@xt gone disktest-qdisk-write yes secs=2\n@@xt gone disktest-qdisk-verify yes secs=2\n",
        );
        s += "@@xt console disktest-qdisk-write begin\n@@con disktest-qdisk-write| disktest: backend /local/domain/0/backend/qdisk/3/768\n@@con disktest-qdisk-write| disktest: write ok (5 blocks)\n";
        s += "@@sh| xt-diskpattern: qdisk file=/x size=1 blocks_found=5 of 5\n";
        s += "@@xt console disktest-qdisk-verify begin\n@@con disktest-qdisk-verify| disktest: backend /local/domain/0/backend/vbd/4/768\n@@con disktest-qdisk-verify| disktest: FAILED: block 3 differs\n";
        let l = parse(&s).scenarios.remove(NAME).unwrap();
        let r = check(&l, &p);
        let failed: Vec<&str> = r.iter().filter(|c| c.result.is_err()).map(|c| c.what.as_str()).collect();
        assert_eq!(
            failed,
            ["disktest-qdisk-verify: served by qdisk (backend/qdisk)", "disktest-qdisk-verify: disktest: verify ok"]
        );
        assert_eq!(r.len(), 7);
    }

    #[test]
    fn plan_boots_each_backend_twice() {
        let mut p = Plan::default();
        let planned = plan(&mut p, &crate::paths::configs()).unwrap();
        assert_eq!(planned.domains().len(), 4);
        let text = p.text();
        assert!(text.contains("createp disktest-blkback-write "));
        assert!(text.contains("sh /usr/local/bin/xt-disk-pattern /var/lib/xtask/blk-qdisk.img qdisk"));
        assert_eq!(
            planned.runs[1].1.cfg.file_disks(),
            [("/var/lib/xtask/blk-qdisk.img".to_string(), "hda".to_string())]
        );
    }
}
