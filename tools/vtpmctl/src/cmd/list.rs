//! `vtpmctl list` and `vtpmctl show NAME`: the registry's records joined with what xenstore says
//! (running or not, domids, device states). Without xenstore the records are still shown, with
//! the running state unknown and the reason. `list` adds the manager's view: the uuids each
//! manager holds (VTPM_LIST), or why it cannot be reached.

use std::collections::BTreeMap;
use std::io::Write;

use xen_hv::XenbusState;

use crate::Ctx;
use crate::cli::{Args, Fail, error};
use crate::json::Json;
use crate::registry::Record;
use crate::status::{self, Status};

/// A record with its state (`Err`: why the state is unknown).
struct View {
    rec: Record,
    status: Result<Status, String>,
    disk_bytes: Option<u64>,
    /// Whether its manager holds its uuid (`None`: not asked or not reachable).
    at_manager: Option<bool>,
}

/// What each manager holds: name → its uuids, or why it cannot be reached.
type ManagerViews = BTreeMap<String, Result<Vec<String>, String>>;

fn manager_views(ctx: &mut Ctx<'_>, names: impl IntoIterator<Item = String>) -> ManagerViews {
    let mut out = BTreeMap::new();
    for name in names {
        if out.contains_key(&name) {
            continue;
        }
        let v = crate::cmd::migrate::with_manager(ctx, &name, |c| c.list_all())
            .map(|us| us.iter().map(crate::uuid::format).collect());
        out.insert(name, v);
    }
    out
}

fn st(s: Option<XenbusState>) -> &'static str {
    s.map(status::state_name).unwrap_or("-")
}

fn views(ctx: &mut Ctx<'_>, recs: Vec<Record>) -> Vec<View> {
    let doms = running_domains(ctx);
    recs.into_iter()
        .map(|rec| {
            let status = match &doms {
                Ok(d) => ctx.host.xenstore().map(|xs| status::status(xs, d, &rec.name, &rec.guest)),
                Err(e) => Err(e.clone()),
            };
            let disk_bytes = std::fs::metadata(&rec.disk).ok().map(|m| m.len());
            View { rec, status, disk_bytes, at_manager: None }
        })
        .collect()
}

fn state_word(v: &View) -> &'static str {
    match &v.status {
        Ok(s) if s.running() => "running",
        Ok(_) => "stopped",
        Err(_) => "unknown",
    }
}

fn to_json(v: &View) -> Json {
    let r = &v.rec;
    let (running, domid, gdomid, be, fe, ml, err) = match &v.status {
        Ok(s) => (
            Json::Bool(s.running()),
            Json::opt_num(s.domid.map(u64::from)),
            Json::opt_num(s.guest_domid.map(u64::from)),
            Json::opt_str(s.backend.map(status::state_name)),
            Json::opt_str(s.frontend.map(status::state_name)),
            Json::opt_str(s.manager_link.map(status::state_name)),
            Json::Null,
        ),
        Err(e) => (Json::Null, Json::Null, Json::Null, Json::Null, Json::Null, Json::Null, Json::str(e.clone())),
    };
    Json::Obj(vec![
        ("name", Json::str(r.name.clone())),
        ("uuid", Json::str(r.uuid.clone())),
        ("disk", Json::str(r.disk.display().to_string())),
        ("size_mib", Json::Num(r.size_mib)),
        ("disk_bytes", Json::opt_num(v.disk_bytes)),
        ("cfg", Json::str(r.cfg.display().to_string())),
        ("manager", Json::str(r.manager.clone())),
        ("guest", Json::str(r.guest.clone())),
        ("guest_cfg", Json::str(r.guest_cfg.display().to_string())),
        ("guest_line_added", Json::Bool(r.guest_line_added)),
        ("running", running),
        ("domid", domid),
        ("guest_domid", gdomid),
        ("backend_state", be),
        ("frontend_state", fe),
        ("manager_link_state", ml),
        ("xenstore_error", err),
        ("at_manager", v.at_manager.map_or(Json::Null, Json::Bool)),
    ])
}

/// Runs `list`.
pub fn list(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    a.none("list")?;
    let mut recs = Vec::new();
    let mut bad = Vec::new();
    for r in ctx.reg.all().map_err(error)? {
        match r {
            Ok(r) => recs.push(r),
            Err(e) => bad.push(e),
        }
    }
    let mut vs = views(ctx, recs);
    let names = vs.iter().map(|v| v.rec.manager.clone()).chain(a.value("--manager").map(str::to_string));
    let names: Vec<String> = names.collect();
    let mgrs = manager_views(ctx, names);
    for v in &mut vs {
        if let Some(Ok(us)) = mgrs.get(&v.rec.manager) {
            v.at_manager = Some(us.iter().any(|u| u.eq_ignore_ascii_case(&v.rec.uuid)));
        }
    }
    if a.flag("--json") {
        let _ = writeln!(ctx.out, "{}", Json::Arr(vs.iter().map(to_json).collect()));
    } else {
        let _ = writeln!(
            ctx.out,
            "{:<16} {:<36} {:<8} {:>5} {:<16} {:>5} {:<12} DISK",
            "NAME", "UUID", "STATE", "DOMID", "GUEST", "GDOM", "BACKEND"
        );
        for v in &vs {
            let (d, g, be) = match &v.status {
                Ok(s) => (
                    s.domid.map_or("-".into(), |d| d.to_string()),
                    s.guest_domid.map_or("-".into(), |d| d.to_string()),
                    st(s.backend),
                ),
                Err(_) => ("?".into(), "?".into(), "?"),
            };
            let _ = writeln!(
                ctx.out,
                "{:<16} {:<36} {:<8} {:>5} {:<16} {:>5} {:<12} {}{}",
                v.rec.name,
                v.rec.uuid,
                state_word(v),
                d,
                v.rec.guest,
                g,
                be,
                v.rec.disk.display(),
                if v.disk_bytes.is_none() { " (missing)" } else { "" }
            );
        }
        if let Some(Err(e)) = vs.first().map(|v| &v.status) {
            let _ = writeln!(ctx.out, "(running state unknown: {e})");
        }
        for (name, view) in &mgrs {
            match view {
                Ok(us) => {
                    let missing: Vec<&str> = vs
                        .iter()
                        .filter(|v| &v.rec.manager == name && v.at_manager == Some(false))
                        .map(|v| v.rec.name.as_str())
                        .collect();
                    let unknown: Vec<&String> =
                        us.iter().filter(|u| !vs.iter().any(|v| v.rec.uuid.eq_ignore_ascii_case(u))).collect();
                    let _ = writeln!(ctx.out, "manager {name}: {} vTPM record(s)", us.len());
                    if !missing.is_empty() {
                        let _ = writeln!(ctx.out, "  no record there (deleted, or never saved): {}", missing.join(" "));
                    }
                    for u in unknown {
                        let _ = writeln!(ctx.out, "  not made by vtpmctl: {u}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(ctx.out, "manager {name}: not reachable ({e})");
                }
            }
        }
    }
    if let Some(first) = bad.first() {
        return Err(error(format!("unreadable record: {first}")));
    }
    Ok(())
}

/// Runs `show`.
pub fn show(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    let name = a.one("show", "NAME")?;
    let rec = ctx.reg.get(name).map_err(error)?.ok_or_else(|| error(format!("no vtpm {name} (see vtpmctl list)")))?;
    let v = views(ctx, vec![rec]).remove(0);
    if a.flag("--json") {
        let _ = writeln!(ctx.out, "{}", to_json(&v));
        return Ok(());
    }
    let r = &v.rec;
    let o = &mut ctx.out;
    let _ = writeln!(o, "name:         {}", r.name);
    let _ = writeln!(o, "uuid:         {}", r.uuid);
    let _ = writeln!(o, "manager:      {}", r.manager);
    let disk_note = match v.disk_bytes {
        Some(b) => format!("{} bytes", b),
        None => "missing".into(),
    };
    let _ = writeln!(o, "disk:         {} ({} MiB; {disk_note})", r.disk.display(), r.size_mib);
    let _ = writeln!(o, "cfg:          {}", r.cfg.display());
    let how = if r.guest_line_added { "vtpm line added" } else { "vtpm line printed, not added" };
    let _ = writeln!(o, "guest:        {} ({}; {how})", r.guest, r.guest_cfg.display());
    match &v.status {
        Ok(s) => {
            let dom = |d: Option<u16>| d.map_or("not running".to_string(), |d| format!("domid {d}"));
            let _ = writeln!(o, "state:        {}", state_word(&v));
            let _ = writeln!(o, "vtpm domain:  {}", dom(s.domid));
            let _ = writeln!(o, "guest domain: {}", dom(s.guest_domid));
            let _ = writeln!(o, "manager link: {}", st(s.manager_link));
            let _ = writeln!(o, "backend:      {}", st(s.backend));
            let _ = writeln!(o, "frontend:     {}", st(s.frontend));
        }
        Err(e) => {
            let _ = writeln!(o, "state:        unknown ({e})");
        }
    }
    Ok(())
}

/// The running domains, or the error, for commands that must know.
pub fn running_domains(ctx: &mut Ctx<'_>) -> Result<BTreeMap<String, u16>, String> {
    let xs = ctx.host.xenstore()?;
    status::domains(xs)
}
