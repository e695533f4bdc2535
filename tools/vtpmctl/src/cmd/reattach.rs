//! `vtpmctl reattach [--manager NAME]`: after the vTPM manager was restarted (crashed and
//! created again, or `systemctl restart`), points every running vtpm's device at the new
//! manager domain, so the vtpms keep their state without being restarted.
//!
//! A vtpm's link to its manager is an ordinary xl vtpm device of the vtpm's domain (its cfg's
//! `vtpm = [ "backend=vtpmmgr,uuid=…" ]`). libxl resolves `backend=` to a domain id when the
//! vtpm is created, so a manager that comes back under a new domid serves nobody until the
//! device is made again: `xl vtpm-detach` of the dead one, `xl vtpm-attach` with the same
//! uuid. The uuid comes from libxl's own record of the domain (`xl list -l`: the
//! `config.vtpms` entries), never from the vtpm, so a vtpm cannot choose whose record it gets.
//! The vtpm connects to the new backend at its next request to the manager (see
//! `vtpm/src/manager.rs`), and saves a change that failed meanwhile (it retries).
//!
//! A device is re-made when its `backend_domname` is the manager and it is not attached to the
//! manager's current domid (its frontend's `backend-id` differs, or the backend directory is
//! gone). Devices of other managers and devices already on the running manager are left alone.
//!
//! libxl's `vtpm-attach` waits only 10 s for the new backend, and a manager serves no backend
//! before it has unsealed its root (or, on a first boot, taken ownership): so `reattach` first
//! waits (`--timeout`, default 300 s) for the manager's ready line in its console log
//! (`INFO[VTPM]: Waiting for commands from vTPM's:` after its last `starting` line), if
//! xenconsoled keeps one; an `ERROR` line there instead is a failure.

use serde_json::Value;

use crate::Ctx;
use crate::cli::{Args, Fail, error};
use crate::cmd::migrate::DEFAULT_MANAGER;
use crate::json::Json;
use crate::status;

/// One vtpm device that names the manager, as libxl recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub domid: u16,
    pub domain: String,
    pub devid: u32,
    pub uuid: String,
}

/// The vtpm devices served by `manager` (by name) in `xl list -l`'s output, except those of
/// `skip` (the manager itself).
pub fn devices_of(list_json: &str, manager: &str, skip: u16) -> Result<Vec<Device>, String> {
    let v: Value = serde_json::from_str(list_json).map_err(|e| format!("xl list -l printed no JSON ({e})"))?;
    let doms = v.as_array().ok_or("xl list -l printed no list of domains")?;
    let mut out = Vec::new();
    for d in doms {
        let Some(domid) = d.get("domid").and_then(Value::as_u64).and_then(|i| u16::try_from(i).ok()) else {
            continue;
        };
        if domid == skip {
            continue;
        }
        let config = d.get("config");
        let name = config
            .and_then(|c| c.pointer("/c_info/name"))
            .and_then(Value::as_str)
            .map_or_else(|| format!("domain {domid}"), str::to_string);
        let vtpms = config.and_then(|c| c.get("vtpms")).and_then(Value::as_array);
        for t in vtpms.into_iter().flatten() {
            if t.get("backend_domname").and_then(Value::as_str) != Some(manager) {
                continue;
            }
            let devid = t.get("devid").and_then(Value::as_u64).and_then(|i| u32::try_from(i).ok()).unwrap_or(0);
            let uuid = t
                .get("uuid")
                .and_then(Value::as_str)
                .filter(|u| crate::uuid::parse(u).is_some())
                .ok_or_else(|| format!("{name}: libxl's record of its vtpm device {devid} has no valid uuid"))?;
            out.push(Device { domid, domain: name.clone(), devid, uuid: uuid.to_ascii_lowercase() });
        }
    }
    Ok(out)
}

/// What happened to one device.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Already,
    Reattached { devid: u32 },
    Failed(String),
}

fn read(ctx: &mut Ctx<'_>, path: &str) -> Option<String> {
    ctx.host.xenstore().ok()?.read(xen_hv::XsTx::NONE, path).ok()
}

/// The manager domid the device's frontend points at, if its backend is still there.
fn attached_to(ctx: &mut Ctx<'_>, d: &Device) -> Option<u16> {
    let fe = format!("/local/domain/{}/device/vtpm/{}", d.domid, d.devid);
    let be = read(ctx, &format!("{fe}/backend"))?;
    read(ctx, &format!("{be}/state"))?;
    read(ctx, &format!("{fe}/backend-id"))?.trim().parse().ok()
}

/// The devid now pointing at `mgr_domid` in the domain, if any.
fn devid_on(ctx: &mut Ctx<'_>, domid: u16, mgr_domid: u16) -> Option<u32> {
    let dir = format!("/local/domain/{domid}/device/vtpm");
    let ids = ctx.host.xenstore().ok()?.directory(xen_hv::XsTx::NONE, &dir).ok()?;
    ids.iter().filter_map(|i| i.parse::<u32>().ok()).find(|i| {
        read(ctx, &format!("{dir}/{i}/backend-id")).and_then(|b| b.trim().parse::<u16>().ok()) == Some(mgr_domid)
    })
}

fn reattach(ctx: &mut Ctx<'_>, d: &Device, manager: &str, mgr_domid: u16) -> Outcome {
    if attached_to(ctx, d) == Some(mgr_domid) {
        return Outcome::Already;
    }
    let (dom, devid) = (d.domid.to_string(), d.devid.to_string());
    // the frontend directory of the dead backend: xl vtpm-detach removes it (libxl waits for the
    // dead backend's answer, then removes it anyway)
    if read(ctx, &format!("/local/domain/{}/device/vtpm/{}/backend", d.domid, d.devid)).is_some() {
        match ctx.host.run("xl", &["vtpm-detach", &dom, &devid]) {
            Ok(o) if o.success() => {}
            Ok(o) => return Outcome::Failed(format!("xl vtpm-detach {dom} {devid} failed: {}", o.last_line())),
            Err(e) => return Outcome::Failed(e),
        }
    }
    let backend = format!("backend={manager}");
    let uuid = format!("uuid={}", d.uuid);
    match ctx.host.run("xl", &["vtpm-attach", &dom, &backend, &uuid]) {
        Ok(o) if o.success() => {}
        Ok(o) => return Outcome::Failed(format!("xl vtpm-attach {dom} {backend} {uuid} failed: {}", o.last_line())),
        Err(e) => return Outcome::Failed(e),
    }
    match devid_on(ctx, d.domid, mgr_domid) {
        Some(devid) => Outcome::Reattached { devid },
        None => Outcome::Failed(format!("after xl vtpm-attach, no vtpm device of {} points at {manager}", d.domain)),
    }
}

/// The manager's console line once it serves (`vtpmmgr`, as the C manager).
pub const MANAGER_READY: &str = "INFO[VTPM]: Waiting for commands from vTPM's:";
/// How each image's console starts (`vtpmmgr-stubdom 0.1.0 (Rust) starting`).
const STARTING: &str = " (Rust) starting";
const POLL_MS: u64 = 500;

/// Waits until the manager's console log says it is ready (see the module docs). `Ok(false)`:
/// there is no console log to tell.
fn wait_ready(ctx: &mut Ctx<'_>, manager: &str, timeout_s: u64) -> Result<bool, Fail> {
    let deadline = ctx.host.now_ms().saturating_add(timeout_s.saturating_mul(1000));
    loop {
        let Some(log) = ctx.host.console_log(manager) else { return Ok(false) };
        // the log keeps earlier runs of the domain: only the last one counts
        let start = log.rfind(STARTING).unwrap_or(0);
        let run = &log[start..];
        if run.lines().any(|l| l.trim_end().ends_with(MANAGER_READY)) {
            return Ok(true);
        }
        if let Some(l) = run.lines().find(|l| l.contains("ERROR") || l.contains("PANIC") || l.contains("panic")) {
            return Err(error(format!("reattach: the manager {manager} failed to start: {}", l.trim())));
        }
        if ctx.host.now_ms() >= deadline {
            return Err(error(format!(
                "reattach: the manager {manager} is not ready after {timeout_s} s (no {MANAGER_READY:?} in its console log)"
            )));
        }
        ctx.host.sleep_ms(POLL_MS);
    }
}

/// Runs `reattach`.
pub fn run(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    a.none("reattach")?;
    let manager = a.value("--manager").unwrap_or(DEFAULT_MANAGER).to_string();
    let timeout = a.number("reattach", "--timeout", 300, 0..=86_400)?;
    let doms = {
        let xs = ctx.host.xenstore().map_err(|e| error(format!("reattach: {e}")))?;
        status::domains(xs).map_err(|e| error(format!("reattach: {e}")))?
    };
    let mgr_domid = *doms
        .get(&manager)
        .ok_or_else(|| error(format!("reattach: the manager {manager} is not running; start it first")))?;
    if !wait_ready(ctx, &manager, timeout)? {
        let _ = writeln!(ctx.out, "(no console log of {manager}: not waiting for its ready line)");
    }
    let out = ctx.host.run("xl", &["list", "-l"]).map_err(|e| error(format!("reattach: {e}")))?;
    if !out.success() {
        return Err(error(format!("reattach: xl list -l failed: {}", out.last_line())));
    }
    let devices = devices_of(&out.stdout, &manager, mgr_domid).map_err(|e| error(format!("reattach: {e}")))?;
    let results: Vec<(Device, Outcome)> =
        devices.into_iter().map(|d| (d.clone(), reattach(ctx, &d, &manager, mgr_domid))).collect();
    let failed = results.iter().filter(|(_, o)| matches!(o, Outcome::Failed(_))).count();
    if a.flag("--json") {
        let items = results
            .iter()
            .map(|(d, o)| {
                let (state, detail) = match o {
                    Outcome::Already => ("attached", Json::Null),
                    Outcome::Reattached { .. } => ("reattached", Json::Null),
                    Outcome::Failed(e) => ("failed", Json::str(e.clone())),
                };
                Json::Obj(vec![
                    ("domain", Json::str(d.domain.clone())),
                    ("domid", Json::Num(u64::from(d.domid))),
                    ("uuid", Json::str(d.uuid.clone())),
                    ("result", Json::str(state)),
                    ("error", detail),
                ])
            })
            .collect();
        let _ = writeln!(ctx.out, "{}", Json::Arr(items));
    } else if results.is_empty() {
        let _ = writeln!(ctx.out, "no running domain has a vtpm device served by {manager}");
    } else {
        for (d, o) in &results {
            let _ = match o {
                Outcome::Already => {
                    writeln!(ctx.out, "{}: vtpm device {} already on {manager} (domid {mgr_domid})", d.domain, d.devid)
                }
                Outcome::Reattached { devid } => writeln!(
                    ctx.out,
                    "{}: vtpm device re-attached to {manager} (domid {mgr_domid}) as device {devid}, uuid {}",
                    d.domain, d.uuid
                ),
                Outcome::Failed(e) => writeln!(ctx.out, "{}: FAILED: {e}", d.domain),
            };
        }
    }
    if failed > 0 {
        return Err(error(format!("reattach: {failed} of {} vtpm devices not re-attached", results.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = r#"[
      { "domid": 0, "config": { "c_info": { "name": "Domain-0" } } },
      { "domid": 7, "config": { "c_info": { "type": "pv", "name": "vtpmmgr" } } },
      { "domid": 8, "config": { "c_info": { "name": "vtpm-a" },
          "vtpms": [ { "backend_domid": 3, "backend_domname": "vtpmmgr", "uuid": "AC0A5B9E-7B92-4DAB-9C3F-2D0C4E1A9F01" } ] } },
      { "domid": 9, "config": { "c_info": { "name": "guest-a" },
          "vtpms": [ { "backend_domid": 8, "backend_domname": "vtpm-a", "devid": 0 } ] } },
      { "domid": 10, "config": { "c_info": { "name": "vtpm-b" },
          "vtpms": [ { "backend_domid": 4, "backend_domname": "other-mgr", "uuid": "5d1c7e42-0b9a-4f63-8e21-7a4b3c2d1e0f" },
                     { "devid": 1, "backend_domname": "vtpmmgr", "uuid": "0b5e2c4d-0001-4e6f-9a1b-3c5d7e9f1a2b" } ] } }
    ]"#;

    #[test]
    fn devices_named_after_the_manager_with_libxl_uuids() {
        let d = devices_of(LIST, "vtpmmgr", 7).unwrap();
        assert_eq!(
            d,
            vec![
                Device {
                    domid: 8,
                    domain: "vtpm-a".into(),
                    devid: 0,
                    uuid: "ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f01".into()
                },
                Device {
                    domid: 10,
                    domain: "vtpm-b".into(),
                    devid: 1,
                    uuid: "0b5e2c4d-0001-4e6f-9a1b-3c5d7e9f1a2b".into()
                },
            ]
        );
        assert_eq!(devices_of(LIST, "other-mgr", 7).unwrap().len(), 1);
        assert!(devices_of(LIST, "nobody", 7).unwrap().is_empty());
    }

    #[test]
    fn malformed_listings_are_errors() {
        assert!(devices_of("Parsing config", "vtpmmgr", 0).unwrap_err().contains("no JSON"));
        assert!(devices_of("{}", "vtpmmgr", 0).unwrap_err().contains("no list"));
        let bad = r#"[{"domid": 3, "config": {"c_info": {"name": "v"}, "vtpms": [{"backend_domname": "vtpmmgr", "uuid": "x"}]}}]"#;
        assert!(devices_of(bad, "vtpmmgr", 0).unwrap_err().contains("v: libxl's record of its vtpm device 0"));
    }
}
