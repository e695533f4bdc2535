//! `vtpmctl start NAME`: `xl create` the vtpm, wait until it serves, `xl create` its guest, wait
//! until the vtpm's backend for the guest is InitWait or Connected.
//!
//! "Serves" is the vtpm's console line `Info: VTPM serving frontends`, read from xenconsoled's
//! log of the domain; a console line with `ERROR` or `PANIC`, or the domain vanishing, is a
//! failure. Without a console log, the sign is xenstore's: the vtpm's own frontend to its manager
//! (`device/vtpm/0`) is Connected (libxl then still waits up to 10 s for the backend's InitWait
//! when the guest is created).

use xen_hv::XenbusState;

use crate::Ctx;
use crate::cli::{Args, Fail, error};
use crate::cmd::list::running_domains;
use crate::status;

/// The vtpm's console line once it serves (`vtpm::service`).
pub const SERVING: &str = "Info: VTPM serving frontends";
const POLL_MS: u64 = 200;

/// How the vtpm was seen to be ready.
#[derive(Debug, PartialEq, Eq)]
enum Ready {
    Console,
    ManagerLink,
}

fn xl_create(ctx: &mut Ctx<'_>, cfg: &str, what: &str) -> Result<(), Fail> {
    let out = ctx.host.run("xl", &["create", cfg]).map_err(error)?;
    if !out.success() {
        return Err(error(format!("xl create {cfg} ({what}) failed: {}", out.last_line())));
    }
    Ok(())
}

/// The part of `name`'s console log after its first `from` bytes (the log of an earlier run of
/// the domain is kept in the same file; a log that shrank was rotated and counts whole).
fn console_since(ctx: &mut Ctx<'_>, name: &str, from: usize) -> Option<String> {
    let log = ctx.host.console_log(name)?;
    Some(if from <= log.len() && log.is_char_boundary(from) { log[from..].to_string() } else { log })
}

fn wait_ready(ctx: &mut Ctx<'_>, name: &str, from: usize, deadline: u64) -> Result<Ready, Fail> {
    loop {
        let log = console_since(ctx, name, from);
        if let Some(log) = &log {
            if log.lines().any(|l| l.contains(SERVING)) {
                return Ok(Ready::Console);
            }
            if let Some(l) = log.lines().find(|l| l.contains("ERROR") || l.contains("PANIC") || l.contains("panic")) {
                return Err(error(format!("vtpm {name} failed to start: {}", l.trim())));
            }
        }
        let doms = running_domains(ctx).map_err(error)?;
        let Some(&domid) = doms.get(name) else {
            return Err(error(format!("vtpm {name} is gone (crashed? see its console log)")));
        };
        let link = ctx
            .host
            .xenstore()
            .ok()
            .and_then(|xs| xs.read(xen_hv::XsTx::NONE, &format!("/local/domain/{domid}/device/vtpm/0/state")).ok())
            .and_then(|s| XenbusState::parse(&s));
        if log.is_none() && link == Some(XenbusState::Connected) {
            return Ok(Ready::ManagerLink);
        }
        if ctx.host.now_ms() >= deadline {
            let l = link.map_or("absent", status::state_name);
            let why =
                if log.is_some() { "its console has no `Info: VTPM serving frontends`" } else { "no console log" };
            return Err(error(format!(
                "vtpm {name} not ready in time ({why}; link to the manager: {l}); its guest was not started"
            )));
        }
        ctx.host.sleep_ms(POLL_MS);
    }
}

fn wait_backend(ctx: &mut Ctx<'_>, name: &str, guest: &str, deadline: u64) -> Result<status::Status, Fail> {
    loop {
        let doms = running_domains(ctx).map_err(error)?;
        let xs = ctx.host.xenstore().map_err(error)?;
        let s = status::status(xs, &doms, name, guest);
        if matches!(s.backend, Some(XenbusState::InitWait | XenbusState::Connected)) {
            return Ok(s);
        }
        if s.guest_domid.is_none() {
            return Err(error(format!("guest {guest} is gone after xl create (see its console log)")));
        }
        if ctx.host.now_ms() >= deadline {
            let b = s.backend.map_or("absent", status::state_name);
            return Err(error(format!("guest {guest} started, but vtpm {name}'s backend for it is {b}")));
        }
        ctx.host.sleep_ms(POLL_MS);
    }
}

/// Runs `start`.
pub fn run(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    let name = a.one("start", "NAME")?;
    let timeout_ms = a.number("start", "--timeout", 60, 1..=3600)? * 1000;
    let rec = ctx.reg.get(name).map_err(error)?.ok_or_else(|| error(format!("no vtpm {name} (see vtpmctl list)")))?;
    let cfg = rec.cfg.to_str().ok_or_else(|| error("the vtpm's cfg path is not UTF-8"))?.to_string();
    let gcfg = rec.guest_cfg.to_str().ok_or_else(|| error("the guest's cfg path is not UTF-8"))?.to_string();
    let doms = running_domains(ctx).map_err(|e| error(format!("cannot start without xenstore: {e}")))?;
    if let Some(d) = doms.get(&rec.guest) {
        return Err(error(format!("guest {} is running already (domid {d})", rec.guest)));
    }
    if !rec.guest_line_added {
        let _ = writeln!(ctx.out, "note: vtpmctl did not add the vtpm line to {gcfg}; it must be there by hand");
    }
    let mut from = 0;
    if let Some(d) = doms.get(name) {
        let _ = writeln!(ctx.out, "vtpm {name} is running already (domid {d})");
    } else {
        from = ctx.host.console_log(name).map_or(0, |l| l.len());
        xl_create(ctx, &cfg, "the vtpm")?;
    }
    let deadline = ctx.host.now_ms() + timeout_ms;
    let how = wait_ready(ctx, name, from, deadline)?;
    let started = ctx.host.now_ms();
    let _ = writeln!(
        ctx.out,
        "vtpm {name} serves ({})",
        match how {
            Ready::Console => "its console says so",
            Ready::ManagerLink => "no console log; its link to the manager is Connected",
        }
    );
    xl_create(ctx, &gcfg, "the guest")?;
    let s = wait_backend(ctx, name, &rec.guest, started + timeout_ms)?;
    let _ = writeln!(
        ctx.out,
        "guest {} started (domid {}); vtpm {name} (domid {}) backend {}, frontend {}",
        rec.guest,
        s.guest_domid.map_or("?".into(), |d| d.to_string()),
        s.domid.map_or("?".into(), |d| d.to_string()),
        s.backend.map_or("-", status::state_name),
        s.frontend.map_or("-", status::state_name),
    );
    Ok(())
}
