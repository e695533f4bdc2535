//! `cargo xtask e2e [scenario…]` and `cargo xtask demo`: boot Xen + Linux dom0 in QEMU, let
//! dom0 `xl create` our images with the configs in `configs/`, collect every domain console,
//! check the expected lines and print one result line per check plus `N passed, M failed`.
//!
//! All requested scenarios share one QEMU boot. Logs: `out/e2e/serial.log` (everything,
//! host-timestamped), `out/e2e/<scenario>.log`, `out/e2e/console/<domain>.log`.

pub mod blk;
pub mod config;
pub mod dom0_tpm;
pub mod lifecycle;
pub mod log;
pub mod multi;
pub mod persist;
pub mod plan;
pub mod pvboot;
pub mod scenarios;
pub mod tis;
pub mod tpm2_guest;
pub mod vtpm_guest;
pub mod vtpmctl;

use crate::qemu::{self, Tpm};
use crate::util::{self, Result};
use crate::{bail, build, cpio, paths, testbed};
use plan::{Domain, Plan};
use scenarios::Check;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Options of `e2e` / `demo`.
pub struct Opts {
    pub scenarios: Vec<String>,
    pub tpm: Tpm,
    /// Print every domain console line live (demo).
    pub show_consoles: bool,
    /// Skip `cargo xtask build` (the caller just did it).
    pub skip_build: bool,
}

/// `cargo xtask e2e` arguments.
pub fn parse_args(args: &[String]) -> Result<Opts> {
    let mut o = Opts { scenarios: Vec::new(), tpm: Tpm::Tpm12, show_consoles: false, skip_build: false };
    for a in args {
        match a.as_str() {
            "--tpm2" => o.tpm = Tpm::Tpm2,
            "--no-tpm" => o.tpm = Tpm::None,
            "--show-consoles" => o.show_consoles = true,
            "--no-build" => o.skip_build = true,
            "all" => o.scenarios.extend(scenarios::ALL.iter().map(|s| s.to_string())),
            s if scenarios::ALL.contains(&s) || s == dom0_tpm::NAME => o.scenarios.push(s.to_string()),
            s => bail!(
                "unknown scenario or option '{s}' (scenarios: {}, all; options: --tpm2 --no-tpm --show-consoles --no-build)",
                scenarios::ALL.join(", ")
            ),
        }
    }
    if o.scenarios.is_empty() {
        o.scenarios = scenarios::DEFAULT.iter().map(|s| s.to_string()).collect();
    }
    o.scenarios.dedup();
    Ok(o)
}

/// The version an image prints in its banner: its crate's version (own or the workspace's).
pub fn image_version(image: &str) -> String {
    let krate = build::IMAGES.iter().find(|i| i.1 == image).map(|i| i.0).unwrap_or(image);
    let own = std::fs::read_to_string(paths::repo().join(krate).join("Cargo.toml")).unwrap_or_default();
    let ws = std::fs::read_to_string(paths::repo().join("Cargo.toml")).unwrap_or_default();
    toml_version(&own, "[package]").or_else(|| toml_version(&ws, "[workspace.package]")).unwrap_or_else(|| "?".into())
}

/// `version = "x"` inside `section` of a Cargo.toml.
fn toml_version(text: &str, section: &str) -> Option<String> {
    let mut inside = false;
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            inside = t == section;
            continue;
        }
        if inside
            && let Some(v) = t.strip_prefix("version").map(str::trim_start).and_then(|r| r.strip_prefix('='))
            && v.trim().starts_with('"')
        {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// What each planned scenario needs for its checks.
enum Planned {
    Boot(String, Vec<Domain>),
    Selftest(Domain),
    Linux(String, Domain),
    Vtpm(vtpm_guest::Planned),
    Tis(Domain),
    Blk(blk::Planned),
    Persist(Box<persist::Planned>),
    Lifecycle(Box<lifecycle::Planned>),
    Tpm2Guest(Box<tpm2_guest::Planned>),
    Multi(Box<multi::Planned>),
    Vtpmctl(Domain),
    Pvboot(Box<pvboot::Planned>),
    Dom0Tpm,
}

/// Prints the checks and the closing line; returns (passed, failed).
pub fn report(checks: &[Check]) -> (usize, usize) {
    let mut pass = 0;
    let mut fail = 0;
    for c in checks {
        match &c.result {
            Ok(()) => {
                pass += 1;
                println!("PASS {}: {}", c.scenario, c.what);
            }
            Err(why) => {
                fail += 1;
                println!("FAIL {}: {}: {}", c.scenario, c.what, why);
            }
        }
    }
    println!("{pass} passed, {fail} failed");
    (pass, fail)
}

/// Builds the plan and the per-run archive, boots, checks. Returns every check.
pub fn run(o: &Opts) -> Result<Vec<Check>> {
    let t0 = Instant::now();
    let _lock = util::Lock::acquire(&paths::out().join("e2e.lock"), "out/e2e")?;
    let tb = testbed::prepare()?;
    let out = paths::out().join("e2e");
    util::remove_tree(&out)?;
    util::mkdirs(&out.join("console"))?;

    let cfgdir = paths::configs();
    let mut plan = Plan::default();
    let mut planned = Vec::new();
    for s in &o.scenarios {
        match s.as_str() {
            "boot" => {
                let doms = scenarios::image_domains(&cfgdir, &mut plan.notes)?;
                scenarios::plan_boot(&mut plan, "boot", &doms);
                planned.push(Planned::Boot("boot".into(), doms));
            }
            "demo" => {
                let doms: Vec<Domain> = scenarios::image_domains(&cfgdir, &mut plan.notes)?
                    .into_iter()
                    .filter(|d| matches!(d.image.as_deref(), Some("vtpmmgr-stubdom" | "vtpm-stubdom")))
                    .collect();
                scenarios::plan_boot(&mut plan, "demo", &doms);
                planned.push(Planned::Boot("demo".into(), doms));
            }
            "selftest" => planned.push(Planned::Selftest(scenarios::plan_selftest(&mut plan, &cfgdir)?)),
            "domu" | "disk" => planned.push(Planned::Linux(s.clone(), scenarios::plan_linux(&mut plan, &cfgdir, s)?)),
            vtpm_guest::NAME => planned.push(Planned::Vtpm(vtpm_guest::plan(&mut plan, &cfgdir)?)),
            tis::NAME => planned.push(Planned::Tis(tis::plan(&mut plan, &cfgdir, o.tpm)?)),
            blk::NAME => planned.push(Planned::Blk(blk::plan(&mut plan, &cfgdir)?)),
            persist::NAME => planned.push(Planned::Persist(Box::new(persist::plan(&mut plan, &cfgdir, o.tpm)?))),
            multi::NAME => {
                let bin = build::dom0_tools()?;
                planned.push(Planned::Multi(Box::new(multi::plan(&mut plan, &cfgdir, o.tpm, &bin)?)))
            }
            lifecycle::NAME => planned.push(Planned::Lifecycle(Box::new(lifecycle::plan(&mut plan, &cfgdir)?))),
            tpm2_guest::NAME => planned.push(Planned::Tpm2Guest(Box::new(tpm2_guest::plan(&mut plan, &cfgdir)?))),
            vtpmctl::NAME => {
                let bin = build::dom0_tools()?;
                planned.push(Planned::Vtpmctl(vtpmctl::plan(&mut plan, &cfgdir, &bin)?))
            }
            pvboot::NAME => planned.push(Planned::Pvboot(Box::new(pvboot::plan(&mut plan, &cfgdir, &tb)?))),
            dom0_tpm::NAME => {
                dom0_tpm::plan(&mut plan);
                planned.push(Planned::Dom0Tpm);
            }
            other => bail!("unknown scenario {other}"),
        }
    }
    // Debugging aid: XTASK_E2E_PRE="step;;step" runs extra plan steps before the scenarios.
    if let Ok(pre) = std::env::var("XTASK_E2E_PRE") {
        let mut steps: Vec<String> = pre.split(";;").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        steps.append(&mut plan.lines);
        plan.lines = steps;
    }
    for n in &plan.notes {
        println!("{n}");
    }
    let needs_images = planned.iter().any(|p| !matches!(p, Planned::Linux(..) | Planned::Dom0Tpm));
    let dom0_owns_tpm = planned.iter().any(|p| matches!(p, Planned::Dom0Tpm));
    if dom0_owns_tpm
        && planned
            .iter()
            .any(|p| matches!(p, Planned::Boot(..) | Planned::Tis(..) | Planned::Persist(..) | Planned::Multi(..)))
    {
        bail!("{} cannot run with boot, demo or tis: dom0 then binds the TPM those give to vtpmmgr", dom0_tpm::NAME);
    }
    let images = match (needs_images, o.skip_build) {
        (false, _) => Vec::new(),
        (true, true) => existing_images()?,
        (true, false) => build::build()?,
    };

    // Files for dom0: images at the kernel= paths of the configs, Linux guest kernel/ramdisk.
    let all_doms: Vec<&Domain> = planned
        .iter()
        .flat_map(|p| match p {
            Planned::Boot(_, d) => d.iter().collect::<Vec<_>>(),
            Planned::Selftest(d) | Planned::Linux(_, d) | Planned::Tis(d) => vec![d],
            Planned::Vtpm(p) => p.domains(),
            Planned::Blk(p) => p.domains(),
            Planned::Persist(p) => p.domains(),
            Planned::Lifecycle(p) => p.domains(),
            Planned::Tpm2Guest(p) => p.domains(),
            Planned::Multi(p) => p.domains(),
            Planned::Vtpmctl(d) => vec![d],
            Planned::Pvboot(p) => p.domains(),
            Planned::Dom0Tpm => Vec::new(),
        })
        .collect();
    for d in &all_doms {
        let Some(kernel) = d.cfg.string("kernel") else { bail!("config of {} has no kernel=", d.name) };
        match d.image.as_deref() {
            Some(img) => {
                let Some(i) = images.iter().find(|i| i.name == img) else { bail!("image {img} was not built") };
                let data = std::fs::read(if kernel.ends_with(".gz") { &i.gz } else { &i.elf })?;
                plan.file(&kernel, 0o644, data);
            }
            None => {
                plan.file(&kernel, 0o644, std::fs::read(&tb.vmlinuz)?);
                if let Some(rd) = d.cfg.string("ramdisk") {
                    plan.file(&rd, 0o644, std::fs::read(&tb.rootfs_cpio)?);
                }
            }
        }
    }
    let plan_text = plan.text();
    let mut ar = cpio::Archive::new();
    ar.file("etc/xtask/plan", 0o644, plan_text.as_bytes());
    for (p, mode, data) in &plan.files {
        ar.file(p, *mode, data);
    }
    let run_cpio = ar.finish();
    std::fs::write(out.join("plan.txt"), &plan_text)?;
    let initrd = out.join("initrd-dom0.img");
    qemu::write_dom0_initrd(&run_cpio, &tb.rootfs_cpio, &initrd)?;
    eprintln!(
        "dom0 initrd: per-run archive {} + root file system {} ({} xl creates planned)",
        util::human(run_cpio.len() as u64),
        util::human(std::fs::metadata(&tb.rootfs_cpio)?.len()),
        plan.creates
    );

    let budget = std::env::var("XTASK_E2E_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240 + 150 * plan.creates as u64 + 150 * plan.linux_creates as u64);
    let serial = out.join("serial.log");
    println!("serial log: {} (hard timeout {budget} s)", serial.display());
    let boot = qemu::Boot {
        testbed: &tb,
        initrd: initrd.clone(),
        tpm: o.tpm,
        // dom0 leaves the TPM (tpm-tis at 0xfed40000) to the stub domain given iomem=
        dom0_extra: if dom0_owns_tpm { String::new() } else { "initcall_blacklist=init_tis".into() },
        log: serial.clone(),
        workdir: out.join("work"),
        timeout: Duration::from_secs(budget),
        grace: Duration::from_secs(60),
        done_marker: "@@xt plan-done",
        ready_marker: "@@xt dom0-ready",
        ready_within: Duration::from_secs(180),
        memory_mib: if planned.iter().any(|p| matches!(p, Planned::Multi(..))) {
            qemu::MEMORY_MIB_MULTI
        } else {
            qemu::MEMORY_MIB
        },
    };
    let show = o.show_consoles;
    let mut t_boot = Instant::now();
    let mut outcome = qemu::boot(&boot, |line| progress(line, show, t_boot))?;
    if outcome.stalled {
        // Nothing of ours ran yet (the stub domains start from dom0's plan): a test-bed stall.
        println!(
            "note: the test bed stalled before dom0 came up (no '@@xt dom0-ready' within 180 s; serial log kept as serial-stalled.log); booting once more"
        );
        let _ = std::fs::rename(&serial, out.join("serial-stalled.log"));
        t_boot = Instant::now();
        outcome = qemu::boot(&boot, |line| progress(line, show, t_boot))?;
    } else if outcome.frozen {
        // Both Xen CPUs idle, dom0 and every domain blocked, QEMU idle: the CPU dump is in the
        // kept log. Once per run, and said in the output; the checks are from the second boot.
        println!(
            "note: the test bed froze (dom0's plan printed nothing for 360 s; QEMU/Xen CPU dump in serial-frozen.log); booting once more"
        );
        let _ = std::fs::rename(&serial, out.join("serial-frozen.log"));
        t_boot = Instant::now();
        outcome = qemu::boot(&boot, |line| progress(line, show, t_boot))?;
    }
    let _ = std::fs::remove_file(&initrd);

    if outcome.done_seen && outcome.exit.is_none() && !outcome.timed_out {
        println!("note: dom0 finished but QEMU did not power off by itself; it was stopped");
    }
    let text = std::fs::read_to_string(&serial)?;
    let parsed = log::parse(&text);
    write_logs(&out, &parsed)?;

    let mut checks = Vec::new();
    let mut c = scenarios::Checks::new("testbed");
    c.pass_if("dom0 booted and started xenstored/xenconsoled", parsed.dom0_ready.is_some(), || {
        "no '@@xt dom0-ready' in the serial log".into()
    });
    c.pass_if("dom0 finished the plan", parsed.plan_done && !outcome.timed_out, || {
        if outcome.timed_out {
            format!("hard timeout after {} s", budget)
        } else if outcome.frozen {
            "the test bed froze twice (dom0's plan printed nothing for 360 s; CPU dumps in the serial logs)".into()
        } else {
            format!("QEMU exited ({:?}) before the plan was done: crash?", outcome.exit)
        }
    });
    c.pass_if("no crash (Xen, dom0 or a domain)", parsed.crashes.is_empty(), || parsed.crashes.join(" | "));
    checks.extend(c.out);
    let empty = log::ScenarioLog::default();
    for p in &planned {
        match p {
            Planned::Boot(name, doms) => {
                let l = parsed.scenarios.get(name).unwrap_or(&empty);
                checks.extend(scenarios::check_boot(name, l, doms, &image_version));
            }
            Planned::Selftest(d) => {
                checks.extend(scenarios::check_selftest(parsed.scenarios.get("selftest").unwrap_or(&empty), d))
            }
            Planned::Linux(name, d) => {
                checks.extend(scenarios::check_linux(name, parsed.scenarios.get(name).unwrap_or(&empty), d))
            }
            Planned::Vtpm(p) => {
                checks.extend(vtpm_guest::check(parsed.scenarios.get(vtpm_guest::NAME).unwrap_or(&empty), p))
            }
            Planned::Tis(d) => checks.extend(tis::check(parsed.scenarios.get(tis::NAME).unwrap_or(&empty), d, o.tpm)),
            Planned::Blk(p) => checks.extend(blk::check(parsed.scenarios.get(blk::NAME).unwrap_or(&empty), p)),
            Planned::Persist(p) => {
                checks.extend(persist::check(parsed.scenarios.get(persist::NAME).unwrap_or(&empty), p))
            }
            Planned::Multi(p) => checks.extend(multi::check(parsed.scenarios.get(multi::NAME).unwrap_or(&empty), p)),
            Planned::Lifecycle(p) => {
                checks.extend(lifecycle::check(parsed.scenarios.get(lifecycle::NAME).unwrap_or(&empty), p))
            }
            Planned::Tpm2Guest(p) => {
                checks.extend(tpm2_guest::check(parsed.scenarios.get(tpm2_guest::NAME).unwrap_or(&empty), p))
            }
            Planned::Vtpmctl(_) => checks.extend(vtpmctl::check(parsed.scenarios.get(vtpmctl::NAME).unwrap_or(&empty))),
            Planned::Pvboot(p) => {
                checks.extend(pvboot::check_all(parsed.scenarios.get(pvboot::NAME).unwrap_or(&empty), p))
            }
            Planned::Dom0Tpm => checks.extend(dom0_tpm::check(parsed.scenarios.get(dom0_tpm::NAME).unwrap_or(&empty))),
        }
    }
    println!(
        "e2e: QEMU ran {:.1} s (whole run {:.1} s); logs: {} (serial), {}/<scenario>.log, {}/console/<domain>.log",
        outcome.secs,
        util::secs(t0),
        serial.display(),
        out.display(),
        out.display()
    );
    Ok(checks)
}

/// Live progress on the terminal: the plan runner's events (and consoles if asked).
fn progress(line: &str, show_consoles: bool, t0: Instant) {
    let Some(at) = line.find("@@") else { return };
    let m = &line[at + 2..];
    if let Some(rest) = m.strip_prefix("xt ") {
        if rest.starts_with("console ") || rest == "list" {
            return;
        }
        eprintln!("  [{:6.1}s] {rest}", util::secs(t0));
    } else if show_consoles {
        if let Some(rest) = m.strip_prefix("con ") {
            if let Some((dom, text)) = rest.split_once('|') {
                println!("  {dom:>14} | {}", text.strip_prefix(' ').unwrap_or(text));
            }
        } else if let Some(rest) = m.strip_prefix("xl|") {
            println!("  {:>14} | {}", "xl list", rest.trim_start());
        }
    }
}

fn write_logs(out: &Path, parsed: &log::BootLog) -> Result<()> {
    for (name, s) in &parsed.scenarios {
        std::fs::write(out.join(format!("{name}.log")), s.raw.join("\n") + "\n")?;
        for (dom, lines) in &s.consoles {
            std::fs::write(out.join("console").join(format!("{dom}.log")), lines.join("\n") + "\n")?;
        }
    }
    Ok(())
}

/// Images from a previous `cargo xtask build`.
fn existing_images() -> Result<Vec<build::Image>> {
    let dir = build::images_dir();
    build::IMAGES
        .iter()
        .map(|(_, name)| {
            let elf = dir.join(name);
            let gz: PathBuf = dir.join(format!("{name}.gz"));
            if !gz.is_file() {
                bail!("{} missing: run `cargo xtask build`", gz.display());
            }
            Ok(build::Image { name: name.to_string(), elf, gz })
        })
        .collect()
}

/// `cargo xtask e2e …`
pub fn cmd(args: &[String]) -> Result<()> {
    let o = parse_args(args)?;
    let checks = run(&o)?;
    let (_, failed) = report(&checks);
    if failed > 0 {
        bail!("{failed} e2e check(s) failed");
    }
    Ok(())
}

/// `cargo xtask demo`: the test bed booting the stub domains (vtpmmgr, then vtpm), showing
/// their consoles live. It grows with the project.
pub fn demo(args: &[String]) -> Result<()> {
    let mut o = parse_args(&[])?;
    o.scenarios = vec!["demo".into(), vtpm_guest::NAME.into()];
    o.show_consoles = true;
    for a in args {
        match a.as_str() {
            "--tpm2" => o.tpm = Tpm::Tpm2,
            "--no-build" => o.skip_build = true,
            s => bail!("unknown demo option '{s}' (--tpm2, --no-build)"),
        }
    }
    println!(
        "demo: Xen 4.17 + Linux dom0 in QEMU; dom0 starts vtpmmgr, then vtpm, with xl create; then a vtpm serves a Linux guest (xen-tpmfront, tpm-tools) (consoles below)"
    );
    let checks = run(&o)?;
    let (_, failed) = report(&checks);
    if failed > 0 {
        bail!("demo: {failed} check(s) failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_cargo_toml() {
        let ws = "[workspace]\nmembers=[]\n[workspace.package]\nversion = \"0.3.1\"\nedition = \"2024\"\n";
        assert_eq!(toml_version(ws, "[workspace.package]").as_deref(), Some("0.3.1"));
        assert_eq!(toml_version("[package]\nname=\"x\"\nversion.workspace = true\n", "[package]"), None);
        assert_eq!(
            toml_version("[package]\nversion = \"1.2.3\"\n[dependencies]\nversion = \"9\"\n", "[package]").as_deref(),
            Some("1.2.3")
        );
    }

    #[test]
    fn args() {
        let o = parse_args(&[]).unwrap();
        assert_eq!(o.scenarios, scenarios::DEFAULT);
        let o = parse_args(&["selftest".into(), "--tpm2".into()]).unwrap();
        assert_eq!(o.scenarios, ["selftest"]);
        assert_eq!(o.tpm, Tpm::Tpm2);
        assert!(parse_args(&["nope".into()]).is_err());
    }

    #[test]
    fn repo_configs_parse() {
        let mut notes = Vec::new();
        let doms = scenarios::image_domains(&paths::configs(), &mut notes).unwrap();
        assert_eq!(doms.len(), 3);
        for d in &doms {
            assert!(d.cfg.string("kernel").is_some_and(|k| k.starts_with('/')), "{}", d.name);
            assert!(d.cfg.raw("vtpm").is_none());
        }
    }
}
