//! `vtpmctl delete NAME --yes`: removes a stopped vtpm's disk image, its xl cfg, its record, and
//! the manager's record of its uuid (VTPM_DEL; when the manager cannot be reached or refuses,
//! that is said and the rest is still removed). The guest cfg's `vtpm=` line stays (it is named).

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::Ctx;
use crate::cli::{Args, Fail, error, usage};
use crate::cmd::list::running_domains;

fn remove(p: &Path) -> Result<&'static str, Fail> {
    match fs::remove_file(p) {
        Ok(()) => Ok("removed"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok("was already gone"),
        Err(e) => Err(error(format!("{}: {e}", p.display()))),
    }
}

/// Runs `delete`.
pub fn run(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    let name = a.one("delete", "NAME")?;
    let rec = ctx.reg.get(name).map_err(error)?.ok_or_else(|| error(format!("no vtpm {name} (see vtpmctl list)")))?;
    if !a.flag("--yes") {
        return Err(usage(format!("delete: this destroys vtpm {name}'s TPM state for good: add --yes")));
    }
    let doms =
        running_domains(ctx).map_err(|e| error(format!("cannot tell whether {name} runs ({e}); nothing deleted")))?;
    if let Some(d) = doms.get(name) {
        return Err(error(format!("vtpm {name} is running (domid {d}); shut it down first; nothing deleted")));
    }
    for p in [&rec.disk, &rec.cfg] {
        if fs::symlink_metadata(p).is_ok_and(|m| !m.is_file()) {
            return Err(error(format!("{} is not a regular file; nothing deleted", p.display())));
        }
    }
    let disk = remove(&rec.disk)?;
    let cfg = remove(&rec.cfg)?;
    ctx.reg.remove(name).map_err(error)?;
    let o = &mut ctx.out;
    let _ = writeln!(o, "deleted vtpm {name} (uuid {})", rec.uuid);
    let _ = writeln!(o, "  disk  {} {disk}", rec.disk.display());
    let _ = writeln!(o, "  cfg   {} {cfg}", rec.cfg.display());
    let gone = match crate::uuid::parse(&rec.uuid) {
        Some(u) => crate::cmd::migrate::with_manager(ctx, &rec.manager, |c| c.delete(u)),
        None => Err(format!("bad uuid {:?}", rec.uuid)),
    };
    let o = &mut ctx.out;
    match gone {
        Ok(()) => {
            let _ = writeln!(o, "  the manager {}'s record for uuid {} removed", rec.manager, rec.uuid);
        }
        Err(e) => {
            let _ = writeln!(o, "  the manager {} still holds a record for uuid {} ({e})", rec.manager, rec.uuid);
        }
    }
    if rec.guest_line_added {
        let _ =
            writeln!(o, "  guest cfg {} still has vtpm = [ \"backend={name}\" ]: remove it", rec.guest_cfg.display());
    }
    Ok(())
}
