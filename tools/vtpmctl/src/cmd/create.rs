//! `vtpmctl create NAME --guest CFG`: checks everything first, then makes the disk image, the
//! vtpm's xl cfg, the registry record and the guest cfg's `vtpm=` line, in that order; a failure
//! at any step removes what the earlier steps made, so nothing is left changed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::cli::{Args, Fail, error, usage};
use crate::registry::{Record, valid_name, write_atomically};
use crate::{Ctx, xlcfg};

/// The template shipped with the tree (`configs/vtpm.cfg`).
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../../configs/vtpm.cfg");

/// Disk sizes accepted, MiB (the vtpm's store needs room for two sealed slots).
pub const SIZE_RANGE: std::ops::RangeInclusive<u64> = 1..=4096;
const DEFAULT_SIZE_MIB: u64 = 8;
const MIB: usize = 1 << 20;

/// The guest cfg line that gives a guest the vtpm `name`.
pub fn guest_line(name: &str) -> String {
    format!("vtpm    = [ \"backend={name}\" ]")
}

/// Writes `size_mib` MiB of zeros (every block is allocated, so a full disk shows now, not when
/// the vtpm first saves).
pub fn fill_zeros(w: &mut impl Write, size_mib: u64) -> io::Result<()> {
    let block = vec![0u8; MIB];
    for _ in 0..size_mib {
        w.write_all(&block)?;
    }
    w.flush()
}

/// Undo list: files and directories made so far, removed in reverse on failure.
#[derive(Default)]
struct Made {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    /// The guest cfg's previous text, to restore.
    guest_cfg: Option<(PathBuf, String)>,
}

impl Made {
    fn dir(&mut self, d: &Path) -> Result<(), Fail> {
        if d.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut p = Some(d);
        while let Some(x) = p {
            if x.as_os_str().is_empty() || x.exists() {
                break;
            }
            missing.push(x.to_path_buf());
            p = x.parent();
        }
        fs::create_dir_all(d).map_err(|e| error(format!("{}: {e}", d.display())))?;
        // Innermost first, so rollback removes them in order.
        self.dirs.extend(missing);
        Ok(())
    }

    fn rollback(self) {
        if let Some((p, text)) = self.guest_cfg {
            let _ = write_atomically(&p, text.as_bytes());
        }
        for f in self.files.iter().rev() {
            let _ = fs::remove_file(f);
        }
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

fn read_text(p: &Path, what: &str) -> Result<String, Fail> {
    fs::read_to_string(p).map_err(|e| error(format!("{what} {}: {e}", p.display())))
}

/// Everything `create` will write, decided before anything is.
struct Plan {
    record: Record,
    vtpm_cfg_text: String,
    /// The guest cfg's new text (None with --print).
    guest_cfg_text: Option<(String, String)>,
}

fn plan(ctx: &mut Ctx<'_>, a: &Args, name: &str) -> Result<Plan, Fail> {
    let guest_cfg = PathBuf::from(a.value("--guest").ok_or_else(|| usage("create: --guest CFG missing"))?);
    let manager = a.value("--manager").unwrap_or("vtpmmgr").to_string();
    let size_mib = a.number("create", "--size", DEFAULT_SIZE_MIB, SIZE_RANGE)?;
    let print = a.flag("--print");
    if !valid_name(name) {
        return Err(error(format!(
            "{name:?} is not a valid vtpm name (1-64 of A-Z a-z 0-9 _ . -, not starting with - or .)"
        )));
    }
    if !valid_name(&manager) {
        return Err(error(format!("{manager:?} is not a valid manager domain name")));
    }
    if ctx.reg.contains(name) {
        return Err(error(format!("vtpm {name} exists already (vtpmctl show {name})")));
    }
    let guest_text = read_text(&guest_cfg, "guest cfg")?;
    let bad = |e: xlcfg::CfgError| error(format!("guest cfg {}: {e}", guest_cfg.display()));
    let guest = xlcfg::get(&guest_text, "name")
        .map_err(bad)?
        .and_then(|v| xlcfg::unquote(&v).map(str::to_string))
        .ok_or_else(|| error(format!("guest cfg {} has no name = \"…\" line", guest_cfg.display())))?;
    if guest == name {
        return Err(error(format!("the vtpm cannot have its guest's name ({name})")));
    }
    let existing = xlcfg::get(&guest_text, "vtpm").map_err(bad)?;
    if let (Some(v), false) = (&existing, print) {
        return Err(error(format!(
            "guest cfg {} already has vtpm = {v}; use --print to add the line by hand",
            guest_cfg.display()
        )));
    }

    let disk_dir = a.value("--disk-dir").map(PathBuf::from).unwrap_or_else(|| ctx.reg.dir.join("disks"));
    let cfg_dir = PathBuf::from(a.value("--cfg-dir").unwrap_or("/etc/xen"));
    let disk = absolute(&disk_dir.join(format!("{name}.img")))?;
    let cfg = absolute(&cfg_dir.join(format!("{name}.cfg")))?;
    if fs::symlink_metadata(&disk).is_ok() {
        return Err(error(format!(
            "disk {} exists and is not a vtpmctl disk (vtpm {name} is unknown)",
            disk.display()
        )));
    }
    if fs::symlink_metadata(&cfg).is_ok() {
        return Err(error(format!("cfg {} exists already", cfg.display())));
    }

    let (template, tname) = match a.value("--template") {
        Some(t) => (read_text(Path::new(t), "template")?, t.to_string()),
        None => (BUILTIN_TEMPLATE.to_string(), "built-in template".to_string()),
    };
    let mut rnd = [0u8; 16];
    ctx.host.random(&mut rnd).map_err(error)?;
    let uuid = crate::uuid::v4_from_bytes(rnd);
    let disk_str = disk.to_str().ok_or_else(|| error(format!("{} is not UTF-8", disk.display())))?;
    let q = |s: &str| xlcfg::quote(s).map_err(|e| error(e.to_string()));
    let tbad = |e: xlcfg::CfgError| error(format!("{tname}: {e}"));
    let mut text = xlcfg::set(&template, "name", &q(name)?).map_err(tbad)?;
    text = xlcfg::set(&text, "disk", &format!("[ {} ]", q(&format!("file:{disk_str},hda,w"))?)).map_err(tbad)?;
    text =
        xlcfg::set(&text, "vtpm", &format!("[ {} ]", q(&format!("backend={manager},uuid={uuid}"))?)).map_err(tbad)?;
    if !text.ends_with('\n') {
        text.push('\n');
    }

    let guest_cfg_text = if print {
        None
    } else {
        let new = xlcfg::set(&guest_text, "vtpm", &format!("[ {} ]", q(&format!("backend={name}"))?)).map_err(bad)?;
        Some((guest_text, new))
    };
    let record = Record {
        name: name.to_string(),
        uuid,
        disk,
        size_mib,
        cfg,
        manager,
        guest,
        // The file itself, not a symlink to it: the edit renames a new file into place.
        guest_cfg: fs::canonicalize(&guest_cfg)
            .map_err(|e| error(format!("guest cfg {}: {e}", guest_cfg.display())))?,
        guest_line_added: !print,
    };
    Ok(Plan { record, vtpm_cfg_text: text, guest_cfg_text })
}

fn absolute(p: &Path) -> Result<PathBuf, Fail> {
    std::path::absolute(p).map_err(|e| error(format!("{}: {e}", p.display())))
}

fn create_new(p: &Path) -> Result<fs::File, Fail> {
    fs::File::options().write(true).create_new(true).open(p).map_err(|e| error(format!("{}: {e}", p.display())))
}

fn apply(ctx: &mut Ctx<'_>, plan: &Plan, made: &mut Made) -> Result<(), Fail> {
    let r = &plan.record;
    // 1. The disk.
    if let Some(d) = r.disk.parent() {
        made.dir(d)?;
    }
    let mut f = create_new(&r.disk)?;
    made.files.push(r.disk.clone());
    ctx.host
        .fill_disk(&mut f, r.size_mib)
        .and_then(|()| f.sync_all())
        .map_err(|e| error(format!("disk {}: {e}", r.disk.display())))?;
    // 2. The vtpm's cfg.
    if let Some(d) = r.cfg.parent() {
        made.dir(d)?;
    }
    let mut f = create_new(&r.cfg)?;
    made.files.push(r.cfg.clone());
    f.write_all(plan.vtpm_cfg_text.as_bytes()).map_err(|e| error(format!("cfg {}: {e}", r.cfg.display())))?;
    // 3. The record.
    made.dir(&ctx.reg.dir.clone())?;
    ctx.reg.put(r).map_err(error)?;
    made.files.push(ctx.reg.dir.join(format!("{}.vtpm", r.name)));
    // 4. The guest's cfg, last: everything above can still be undone without touching it.
    if let Some((old, new)) = &plan.guest_cfg_text {
        write_atomically(&r.guest_cfg, new.as_bytes()).map_err(|e| error(format!("guest cfg {e}")))?;
        made.guest_cfg = Some((r.guest_cfg.clone(), old.clone()));
    }
    Ok(())
}

/// Runs `create`.
pub fn run(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    let name = a.one("create", "NAME")?.to_string();
    let plan = plan(ctx, a, &name)?;
    let mut made = Made::default();
    if let Err(e) = apply(ctx, &plan, &mut made) {
        made.rollback();
        return Err(match e {
            Fail::Error(m) => Fail::Error(format!("{m} (nothing was created)")),
            u => u,
        });
    }
    let r = &plan.record;
    let o = &mut ctx.out;
    let _ = writeln!(o, "created vtpm {} (uuid {}, manager {})", r.name, r.uuid, r.manager);
    let _ = writeln!(o, "  disk  {} ({} MiB)", r.disk.display(), r.size_mib);
    let _ = writeln!(o, "  cfg   {}", r.cfg.display());
    if r.guest_line_added {
        let _ = writeln!(o, "  guest {}: added {}", r.guest_cfg.display(), guest_line(&r.name));
    } else {
        let _ = writeln!(o, "  guest {}: add this line:", r.guest_cfg.display());
        let _ = writeln!(o, "{}", guest_line(&r.name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(usize);
    impl Write for Failing {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.0 < b.len() {
                return Err(io::Error::from_raw_os_error(28));
            }
            self.0 -= b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fill_reports_no_space() {
        let mut v = Vec::new();
        fill_zeros(&mut v, 2).unwrap();
        assert_eq!(v.len(), 2 * MIB);
        assert!(v.iter().all(|&b| b == 0));
        let e = fill_zeros(&mut Failing(MIB), 2).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
    }
}
