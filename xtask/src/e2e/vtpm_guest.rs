//! The `vtpm` scenario (issue #4's demo): our vtpm stub domain from `configs/vtpm.cfg` (less
//! its manager `vtpm=` line) serves an unmodified Linux PV guest booted with
//! `vtpm=["backend=vtpm"]`. The guest (`xt-guest-vtpm`, chosen by `xt.test=vtpm` on its
//! command line) loads xen-tpmfront and runs tpm-tools through tcsd, then 1000 TPM_Extend
//! calls through /dev/tpm0 (`xt-extend-loop`). dom0 records blkback's request counters of the
//! vtpm's disk around the guest's session (`xt-vbd-stats`). Then `xl shutdown` of the guest
//! must make the vtpm power itself off.
//!
//! The checks read the guest's `xt-vtpm: …` / `xt-extend: …` lines and the vtpm's console;
//! the guest's tpm_version output, the measurements and the vtpm console are printed.

use super::config::XlConfig;
use super::log::{Event, ScenarioLog};
use super::plan::{Domain, Plan};
use super::scenarios::{Check, Checks, load_config};
use crate::bail;
use crate::util::Result;
use std::path::Path;

/// Scenario name.
pub const NAME: &str = "vtpm";
const GUEST: &str = "domu-vtpm";
/// Seconds: the vtpm's engine manufacture (EK generation) under TCG, the guest's boot plus
/// its tests (two RSA key generations in the vtpm, 2000 shell iterations).
const VTPM_WAIT: u32 = 240;
const GUEST_WAIT: u32 = 900;
/// "Ready within a few seconds of module load": the limit the check applies.
const READY_LIMIT_MS: u64 = 10_000;
const EXTENDS: u64 = 1000;

/// The two domains of the scenario.
pub struct Planned {
    pub vtpm: Domain,
    pub guest: Domain,
}

impl Planned {
    pub fn domains(&self) -> Vec<&Domain> {
        vec![&self.vtpm, &self.guest]
    }
}

/// The guest's config: `configs/domu.cfg` with a vtpm served by `backend` and the guest test.
pub fn guest_config(domu: &XlConfig, backend: &str) -> XlConfig {
    let mut cfg = domu.clone();
    cfg.set("name", &format!("\"{GUEST}\""));
    cfg.set("vtpm", &format!("[ \"backend={backend}\" ]"));
    let extra = cfg.string("extra").unwrap_or_default();
    cfg.set("extra", &format!("\"{} xt.test=vtpm\"", extra.trim()));
    cfg
}

pub fn plan(plan: &mut Plan, dir: &Path) -> Result<Planned> {
    let vcfg = load_config(dir, "vtpm.cfg", &mut plan.notes)?;
    let Some(vname) = vcfg.string("name") else { bail!("configs/vtpm.cfg has no name=") };
    let vtpm = Domain { name: vname.clone(), cfg: vcfg, image: Some("vtpm-stubdom".into()) };
    let domu = load_config(dir, "domu.cfg", &mut plan.notes)?;
    let guest = Domain { name: GUEST.into(), cfg: guest_config(&domu, &vname), image: None };

    plan.scenario(NAME);
    plan.create(&vtpm, 16);
    plan.wait(&vtpm.name, VTPM_WAIT, "Info: VTPM serving frontends|ERROR|PANIC|panic");
    plan.step(format!("sh /usr/local/bin/xt-vbd-stats {} before", vtpm.name));
    plan.create(&guest, 64);
    plan.wait(&guest.name, GUEST_WAIT, "xt-guest: waiting for xl shutdown|Kernel panic");
    plan.step(format!("sh /usr/local/bin/xt-vbd-stats {} after", vtpm.name));
    plan.list();
    plan.console(&vtpm.name);
    plan.shutdown(&guest.name, 120);
    plan.gone(&vtpm.name, 60);
    plan.list();
    plan.console(&guest.name);
    plan.console(&vtpm.name);
    plan.destroy(&vtpm.name);
    Ok(Planned { vtpm, guest })
}

// ---------------------------------------------------------------- checks

/// The extend loop ran all calls, the checked ones succeeded and PCR 16 moved.
pub fn ext_ok(ext: Option<&String>) -> bool {
    ext.is_some_and(|l| field(l, "checked_ok") == Some("10/10") && field(l, "pcr16_changed") == Some("yes"))
        && num(ext, "calls") == Some(EXTENDS)
}

/// `key=value` of a line's words.
pub(super) fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace().find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn num(line: Option<&String>, key: &str) -> Option<u64> {
    field(line?, key)?.trim_end_matches(',').parse().ok()
}

fn find<'a>(lines: &'a [String], needle: &str) -> Option<&'a String> {
    lines.iter().find(|l| l.contains(needle))
}

fn tail(lines: &[String], n: usize) -> String {
    let t: Vec<&str> = lines[lines.len().saturating_sub(n)..].iter().map(|s| s.trim()).collect();
    if t.is_empty() { "(empty console)".into() } else { format!("console ends: {}", t.join(" / ")) }
}

fn created(log: &ScenarioLog, dom: &str) -> Option<(i32, Option<u32>)> {
    log.events.iter().find_map(|e| match e {
        Event::Create { dom: d, rc, domid, .. } if d == dom => Some((*rc, *domid)),
        _ => None,
    })
}

/// The `service: N requests, mean X us, max Y us …` numbers of the vtpm's last summary.
pub fn service_summary(lines: &[String]) -> Option<(u64, u64, u64)> {
    let l = lines.iter().rev().find(|l| l.contains("service: ") && l.contains(" requests, mean "))?;
    let s = &l[l.find("service: ")? + 9..];
    let (n, rest) = s.split_once(" requests, mean ")?;
    let (mean, rest) = rest.split_once(" us, max ")?;
    let (max, _) = rest.split_once(" us")?;
    Some((n.trim().parse().ok()?, mean.trim().parse().ok()?, max.trim().parse().ok()?))
}

/// blkback's `wr_req` of the vtpm's disk as dom0 saw it at `label` (`before`/`after`).
fn wr_req(log: &ScenarioLog, vtpm: &str, label: &str) -> Option<String> {
    let want = format!("xt-vbdstats: {vtpm} {label} ");
    let l = log.raw.iter().find(|l| l.contains(&want))?;
    Some(field(l, "wr_req").map(str::to_string).unwrap_or_else(|| l[l.find("xt-vbdstats:").unwrap_or(0)..].to_string()))
}

pub fn check(log: &ScenarioLog, p: &Planned) -> Vec<Check> {
    let mut c = Checks::new(NAME);
    let v = &p.vtpm.name;
    let g = &p.guest.name;
    let vcon: &[String] = log.consoles.get(v).map(Vec::as_slice).unwrap_or(&[]);
    let gcon: &[String] = log.consoles.get(g).map(Vec::as_slice).unwrap_or(&[]);

    // --- the vtpm stub domain
    match created(log, v) {
        Some((0, _)) => c.add(format!("{v}: xl create"), Ok(())),
        Some((rc, _)) => c.add(format!("{v}: xl create"), Err(format!("rc={rc}: {:?}", log.xl_output.get(v)))),
        None => c.add(format!("{v}: xl create"), Err("dom0 never reported the create step".into())),
    }
    let engine = find(vcon, "TPM_Startup(");
    c.pass_if(
        format!("{v}: engine manufactured and started (TPM_Startup rc=0, TPM_SelfTestFull rc=0)"),
        engine.is_some_and(|l| l.contains(") rc=0,") && l.contains("TPM_SelfTestFull rc=0")),
        || engine.cloned().unwrap_or_else(|| tail(vcon, 3)),
    );
    c.pass_if(
        format!("{v}: says its state is volatile (no device/vtpm/0 of its own)"),
        find(vcon, "TPM state is volatile").is_some(),
        || tail(vcon, 3),
    );
    c.pass_if(format!("{v}: RNG seed source reported"), find(vcon, "Info: RNG: ChaCha20 seeded").is_some(), || {
        tail(vcon, 3)
    });

    // --- the guest
    let (grc, gid) = created(log, g).unwrap_or((-1, None));
    c.pass_if(
        format!("{g}: xl create with vtpm=[\"backend={v}\"] (backend reached InitWait in time)"),
        grc == 0,
        || {
            let out: Vec<&str> = log
                .xl_output
                .get(g)
                .map(|o| o.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect())
                .unwrap_or_default();
            format!("rc={grc}: {}", out[out.len().saturating_sub(3)..].join(" / "))
        },
    );
    let modprobe = find(gcon, "xt-vtpm: modprobe xen-tpmfront");
    c.pass_if(format!("{g}: modprobe xen-tpmfront"), modprobe.is_some_and(|l| l.contains(" rc=0 ")), || {
        modprobe.cloned().unwrap_or_else(|| tail(gcon, 3))
    });
    let ready = find(gcon, "xt-vtpm: tpm0 ");
    c.pass_if(format!("{g}: /dev/tpm0 exists"), ready.is_some_and(|l| l.contains(" dev=yes ")), || {
        ready.cloned().unwrap_or_else(|| tail(gcon, 3))
    });
    let ready_ms = num(ready, "ready_ms");
    c.pass_if(
        format!(
            "{g}: TPM ready within {} s of module load (measured: {} ms)",
            READY_LIMIT_MS / 1000,
            ready_ms.map(|m| m.to_string()).unwrap_or("?".into())
        ),
        ready_ms.is_some_and(|m| m <= READY_LIMIT_MS) && num(ready, "pcrs").unwrap_or(0) > 0,
        || ready.cloned().unwrap_or_else(|| tail(gcon, 3)),
    );
    c.pass_if(format!("{g}: sysfs pcrs shows 24 PCRs"), num(ready, "pcrs") == Some(24), || {
        ready.cloned().unwrap_or_else(|| tail(gcon, 3))
    });
    let ver = find(gcon, "xt-vtpm: tpm_version rc=");
    c.pass_if(
        format!("{g}: tpm_version (tcsd) prints 'TPM 1.2 Version Info'"),
        ver.is_some_and(|l| l.contains("tpm_version rc=0 ")) && find(gcon, "TPM 1.2 Version Info").is_some(),
        || ver.cloned().unwrap_or_else(|| tail(gcon, 3)),
    );
    let own = find(gcon, "xt-vtpm: tpm_takeownership rc=");
    c.pass_if(format!("{g}: tpm_takeownership -y -z"), own.is_some_and(|l| l.contains("rc=0 ")), || {
        own.cloned().unwrap_or_else(|| tail(gcon, 3))
    });
    let seal = find(gcon, "xt-vtpm: seal/unseal round trip");
    c.pass_if(
        format!("{g}: tpm_sealdata / tpm_unsealdata round trip"),
        seal.is_some_and(|l| l.contains("round trip ok")),
        || seal.cloned().unwrap_or_else(|| tail(gcon, 3)),
    );
    let attach = gid.map(|id| format!("Info: VTPM attached to Frontend {id}/0"));
    c.pass_if(
        format!(
            "{v}: console shows '{}'",
            attach.clone().unwrap_or_else(|| "Info: VTPM attached to Frontend <domid>/0".into())
        ),
        attach.as_ref().is_some_and(|a| vcon.iter().any(|l| l.trim_end().ends_with(a.as_str()))),
        || tail(vcon, 3),
    );
    let ext = find(gcon, "xt-extend: dev=/dev/tpm0");
    c.pass_if(
        format!("{g}: {EXTENDS} TPM_Extend calls through /dev/tpm0 (10 checked: rc 0; PCR 16 changed)"),
        ext_ok(ext),
        || {
            // with what the guest's TPM driver and the vtpm said meanwhile
            let dmesg: Vec<&str> = gcon.iter().filter(|l| l.contains("| dmesg: ")).map(|l| l.trim()).collect();
            format!("{} {} | vtpm: {}", ext.cloned().unwrap_or_else(|| tail(gcon, 3)), dmesg.join(" "), tail(vcon, 6))
        },
    );
    let summary = service_summary(vcon);
    c.pass_if(
        format!("{v}: debug service-time summary covers the guest's requests (>= {EXTENDS})"),
        summary.is_some_and(|(n, _, _)| n >= EXTENDS),
        || format!("last summary: {summary:?}; {}", tail(vcon, 3)),
    );
    let (before, after) = (wr_req(log, v, "before"), wr_req(log, v, "after"));
    c.pass_if(
        format!("{v}: no writes to its disk during the guest's session (dom0 blkback wr_req)"),
        before.is_some() && before == after && before.as_deref().is_some_and(|b| b.parse::<u64>().is_ok()),
        || format!("wr_req before={before:?} after={after:?}"),
    );

    // --- guest shutdown → the vtpm powers itself off
    let sd = log.events.iter().find_map(|e| match e {
        Event::Shutdown { dom, rc, gone, secs } if dom == g => Some((*rc, *gone, secs.clone())),
        _ => None,
    });
    c.pass_if(format!("{g}: xl shutdown -w"), sd.as_ref().is_some_and(|s| s.0 == 0 && s.1), || format!("{sd:?}"));
    let gone = log.events.iter().find_map(|e| match e {
        Event::Gone { dom, gone, secs } if dom == v => Some((*gone, secs.clone())),
        _ => None,
    });
    c.pass_if(
        format!("{v}: powered itself off after its last frontend left"),
        gone.as_ref().is_some_and(|x| x.0) && find(vcon, "Info: last frontend gone; shutting down").is_some(),
        || format!("gone: {gone:?}; {}", tail(vcon, 3)),
    );

    print_report(log, p, ext, summary, before.as_deref(), after.as_deref());
    c.out
}

/// What a reader wants to see of the run, printed with the results.
fn print_report(
    log: &ScenarioLog,
    p: &Planned,
    ext: Option<&String>,
    summary: Option<(u64, u64, u64)>,
    before: Option<&str>,
    after: Option<&str>,
) {
    let gcon: &[String] = log.consoles.get(&p.guest.name).map(Vec::as_slice).unwrap_or(&[]);
    let vcon: &[String] = log.consoles.get(&p.vtpm.name).map(Vec::as_slice).unwrap_or(&[]);
    println!("---- {}: guest {} (xt-vtpm lines, tpm_version output) ----", NAME, p.guest.name);
    for l in gcon.iter().filter(|l| l.contains("xt-vtpm:") || l.contains("xt-extend:")) {
        println!("  {}", l.trim_end());
    }
    println!("---- {}: console of {} ----", NAME, p.vtpm.name);
    for l in vcon {
        println!("  {}", l.trim_end());
    }
    println!("---- {}: measurements ----", NAME);
    match ext {
        Some(l) => println!("  guest /dev/tpm0, {EXTENDS} x TPM_Extend: {}", l.trim()),
        None => println!("  guest extend loop: no result"),
    }
    match summary {
        Some((n, mean, max)) => println!(
            "  vtpm service time (request seen -> response written): {n} requests, mean {mean} us, max {max} us"
        ),
        None => println!("  vtpm service time: no summary line"),
    }
    if let Some(l) = vcon.iter().rev().find(|l| l.contains("service: ")) {
        println!("  vtpm's last summary: {}", l.trim());
    }
    println!(
        "  vtpm disk writes seen by dom0's blkback during the session: wr_req before={} after={}",
        before.unwrap_or("?"),
        after.unwrap_or("?")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::log::parse;

    fn planned() -> Planned {
        let vtpm =
            Domain { name: "vtpm".into(), cfg: XlConfig::new("name = \"vtpm\"\n"), image: Some("vtpm-stubdom".into()) };
        let domu = XlConfig::new("name = \"domu\"\nextra   = \"console=hvc0 rootfstype=ramfs\"\n");
        let guest = Domain { name: GUEST.into(), cfg: guest_config(&domu, "vtpm"), image: None };
        Planned { vtpm, guest }
    }

    const VTPM_OK: &[&str] = &[
        "Info: no vTPM manager (no device/vtpm/0): TPM state is volatile (lost when this domain stops)",
        "Info: RNG: ChaCha20 seeded from 32 RDRAND values",
        "Info: TPM 1.2 engine manufactured in 900 ms (EK generated); TPM_Startup(ST_CLEAR) rc=0, TPM_SelfTestFull rc=0; maintenance commands off",
        "Info: VTPM serving frontends (backend/vtpm)",
        "Info: VTPM attached to Frontend 2/0",
        "DEBUG: service: 1042 requests, mean 250 us, max 90000 us (request seen -> response written); rejected 0, cancels 0; state changes 3, disk writes 0",
        "Info: last frontend gone; shutting down",
    ];
    const GUEST_OK: &[&str] = &[
        "xt-vtpm: modprobe xen-tpmfront rc=0 ms=120",
        "xt-vtpm: tpm0 dev=yes dev_ms=130 pcrs=24 ready_ms=400 pcrs_path=/sys/class/tpm/tpm0/device/pcrs",
        "xt-vtpm: tpm_version rc=0 (tcsd rc=0 pid=123 waited_ms=500)",
        "xt-vtpm: |   TPM 1.2 Version Info:",
        "xt-vtpm: tpm_takeownership rc=0 ms=3000",
        "xt-vtpm: seal/unseal round trip ok (tpm_sealdata rc=0, tpm_unsealdata rc=0, ms=4000)",
        "xt-extend: dev=/dev/tpm0 calls=1000 ms=9000 per_call_us=9000 shell_per_iter_us=500 net_per_call_us=8500 checked_ok=10/10 pcr16_changed=yes",
    ];

    fn log_with(vtpm: &[&str], guest: &[&str], wr_after: u32, vtpm_gone: bool) -> ScenarioLog {
        let mut s = String::from("@@xt scenario vtpm\n@@xt create vtpm rc=0 domid=1 secs=3\n");
        s += "@@sh| xt-vbdstats: vtpm before dev=768 backend=vbd wr_req=0 rd_req=0 f_req=0 wr_sect=0\n";
        s += "@@xt create domu-vtpm rc=0 domid=2 secs=9\n";
        s += &format!(
            "@@sh| xt-vbdstats: vtpm after dev=768 backend=vbd wr_req={wr_after} rd_req=0 f_req=0 wr_sect=0\n"
        );
        s += "@@xt shutdown domu-vtpm rc=0 secs=5 gone=yes\n";
        s += &format!("@@xt gone vtpm {} secs=1\n", if vtpm_gone { "yes" } else { "no" });
        s += "@@xt console domu-vtpm begin\n";
        for l in guest {
            s += &format!("@@con domu-vtpm| {l}\n");
        }
        s += "@@xt console vtpm begin\n";
        for l in vtpm {
            s += &format!("@@con vtpm| {l}\n");
        }
        s += "@@xt plan-done\n";
        parse(&s).scenarios.remove("vtpm").unwrap()
    }

    #[test]
    fn guest_config_adds_the_vtpm_and_the_test() {
        let p = planned();
        assert_eq!(p.guest.cfg.list("vtpm"), ["backend=vtpm"]);
        assert_eq!(p.guest.cfg.string("extra").as_deref(), Some("console=hvc0 rootfstype=ramfs xt.test=vtpm"));
        assert_eq!(p.guest.cfg.string("name").as_deref(), Some(GUEST));
    }

    #[test]
    fn all_pass_on_a_good_run() {
        let r = check(&log_with(VTPM_OK, GUEST_OK, 0, true), &planned());
        let failed: Vec<_> = r.iter().filter(|c| c.result.is_err()).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert_eq!(r.len(), 18);
    }

    #[test]
    fn failures_are_reported() {
        // wrong attach domid, a disk write, vtpm still running, a failed extend, slow probe
        let vtpm: Vec<&str> = VTPM_OK
            .iter()
            .map(|l| if l.contains("attached") { "Info: VTPM attached to Frontend 7/0" } else { l })
            .collect();
        let guest: Vec<&str> = GUEST_OK
            .iter()
            .map(|l| {
                if l.contains("xt-extend") {
                    "xt-extend: dev=/dev/tpm0 calls=1000 ms=9000 checked_ok=9/10 pcr16_changed=yes"
                } else if l.contains("tpm0 dev=") {
                    "xt-vtpm: tpm0 dev=yes dev_ms=130 pcrs=24 ready_ms=120400 pcrs_path=x"
                } else {
                    l
                }
            })
            .collect();
        let r = check(&log_with(&vtpm, &guest, 3, false), &planned());
        let failed: Vec<&str> = r.iter().filter(|c| c.result.is_err()).map(|c| c.what.as_str()).collect();
        assert_eq!(failed.len(), 5, "{failed:#?}");
        assert!(failed.iter().any(|f| f.contains("attached")));
        assert!(failed.iter().any(|f| f.contains("no writes")));
        assert!(failed.iter().any(|f| f.contains("powered itself off")));
        assert!(failed.iter().any(|f| f.contains("TPM_Extend")));
        assert!(failed.iter().any(|f| f.contains("TPM ready within")));
    }

    #[test]
    fn summary_numbers() {
        let l = vec!["x".to_string(), "DEBUG: service: 12 requests, mean 3 us, max 40 us (…)".to_string()];
        assert_eq!(service_summary(&l), Some((12, 3, 40)));
        assert_eq!(service_summary(&["service: x".to_string()]), None);
    }
}
