//! The subcommands, one per file (`list` also holds `show`; `migrate` holds backup, restore,
//! manager-key, export and import; `install` the manager's boot unit), and `probe`.

pub mod create;
pub mod delete;
pub mod hvm;
pub mod install;
pub mod list;
pub mod migrate;
pub mod reattach;
pub mod start;

use crate::Ctx;
use crate::cli::{Args, Fail, error};
use crate::json::Json;

/// Runs `probe`: the platform layer's device checks, one line each.
pub fn probe(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    a.none("probe")?;
    let peer = match a.value("--domid") {
        None => None,
        Some(v) => Some(
            v.parse::<u16>()
                .ok()
                .filter(|d| *d < 0x7ff0)
                .ok_or_else(|| crate::cli::usage(format!("probe: --domid must be a domain id, not {v:?}")))?,
        ),
    };
    let checks = ctx.host.probe(peer);
    if a.flag("--json") {
        let items = checks
            .iter()
            .map(|c| {
                Json::Obj(vec![
                    ("what", Json::str(c.what.clone())),
                    ("ok", Json::Bool(c.ok)),
                    ("detail", Json::str(c.detail.clone())),
                ])
            })
            .collect();
        let _ = writeln!(ctx.out, "{}", Json::Arr(items));
    } else {
        for c in &checks {
            let _ = writeln!(ctx.out, "{c}");
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        return Err(error(format!("probe: {failed} of {} checks failed", checks.len())));
    }
    Ok(())
}
