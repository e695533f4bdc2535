//! `backup`, `restore`, `manager-key`, `export` and `import`: a vTPM's key material through the
//! manager's management ordinals (`vtpmmgr/README.md` §Management) and its disk image, in one
//! file (`crate::archive`).
//!
//! - `backup NAME FILE`: the manager's backup blob (only that manager opens it) and the disk.
//! - `restore FILE`: the blob back into the manager (refused while it has the uuid), then the
//!   disk image written.
//! - `manager-key`: the manager's migration public key (X25519), to give to the source.
//! - `export NAME --to KEY FILE`: the manager's export blob for the target key and the disk;
//!   the manager retires the record at once, so the vtpm does not start there again.
//! - `import FILE`: the blob into the target manager (once: a replay is refused), then the disk.
//!
//! The vtpm must be stopped for all but `manager-key` and `import`/`restore` of a vtpm vtpmctl
//! does not know (its disk and the manager's record must belong together). Nothing is written
//! locally before the manager agreed, and the file is made (in a temporary file, renamed) only
//! after; an export whose file cannot be written says how to get the blob again.

use std::fs;
use std::path::{Path, PathBuf};

use crate::Ctx;
use crate::archive::{Archive, Kind};
use crate::cli::{Args, Fail, error, usage};
use crate::cmd::list::running_domains;
use crate::json::Json;
use crate::mgr_client::Client;
use crate::registry::{Record, write_atomically};
use crate::uuid;

/// The manager's name when nothing names one.
pub const DEFAULT_MANAGER: &str = "vtpmmgr";

fn two<'a>(a: &'a Args, cmd: &str, what: &str) -> Result<(&'a str, &'a str), Fail> {
    match a.positional.as_slice() {
        [x, y] => Ok((x, y)),
        [_, _, extra, ..] => Err(usage(format!("{cmd}: unexpected argument {extra:?}"))),
        _ => Err(usage(format!("{cmd}: {what} missing (see vtpmctl {cmd} --help)"))),
    }
}

/// Runs `f` with a client of manager `name`.
pub fn with_manager<T>(
    ctx: &mut Ctx<'_>,
    name: &str,
    f: impl FnOnce(&mut Client<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let mut link = ctx.host.manager(name).map_err(|e| format!("cannot reach the manager {name}: {e}"))?;
    let mut c = Client { link: &mut *link, name: name.to_string() };
    f(&mut c)
}

fn not_running(ctx: &mut Ctx<'_>, name: &str, nothing: &str) -> Result<(), Fail> {
    let doms = running_domains(ctx).map_err(|e| error(format!("cannot tell whether {name} runs ({e}); {nothing}")))?;
    match doms.get(name) {
        Some(d) => Err(error(format!("vtpm {name} is running (domid {d}); shut it down first; {nothing}"))),
        None => Ok(()),
    }
}

fn record(ctx: &Ctx<'_>, name: &str) -> Result<Record, Fail> {
    ctx.reg.get(name).map_err(error)?.ok_or_else(|| error(format!("no vtpm {name} (see vtpmctl list)")))
}

fn uuid_of(rec: &Record) -> Result<[u8; 16], Fail> {
    uuid::parse(&rec.uuid).ok_or_else(|| error(format!("vtpm {}: bad uuid {:?} in its record", rec.name, rec.uuid)))
}

fn must_not_exist(p: &Path, nothing: &str) -> Result<(), Fail> {
    if fs::symlink_metadata(p).is_ok() {
        return Err(error(format!("{} exists; {nothing}", p.display())));
    }
    Ok(())
}

fn read_disk(rec: &Record, nothing: &str) -> Result<Vec<u8>, Fail> {
    fs::read(&rec.disk).map_err(|e| error(format!("vtpm {}'s disk {}: {e}; {nothing}", rec.name, rec.disk.display())))
}

/// Runs `backup NAME FILE`.
pub fn backup(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    let (name, file) = two(a, "backup", "NAME and FILE")?;
    let nothing = "nothing written";
    let rec = record(ctx, name)?;
    let u = uuid_of(&rec)?;
    not_running(ctx, name, nothing)?;
    must_not_exist(Path::new(file), nothing)?;
    let disk = read_disk(&rec, nothing)?;
    let blob = with_manager(ctx, &rec.manager, |c| c.backup(u)).map_err(|e| error(format!("{e}; {nothing}")))?;
    let bytes = Archive { kind: Kind::Backup, name: rec.name.clone(), uuid: rec.uuid.clone(), blob, disk }.encode();
    write_atomically(Path::new(file), &bytes).map_err(|e| error(format!("{e}; nothing written")))?;
    let _ = writeln!(
        ctx.out,
        "backup of vtpm {name} (uuid {}) written to {file} ({} bytes); only the manager {} can restore it",
        rec.uuid,
        bytes.len(),
        rec.manager
    );
    Ok(())
}

/// Where an archive's disk goes and which manager takes it: `--disk`, else the disk of the
/// registry's vtpm with that uuid; `--manager`, else that vtpm's manager, else the default.
fn target(ctx: &mut Ctx<'_>, a: &Args, cmd: &str, ar: &Archive) -> Result<(PathBuf, Option<Record>, String), Fail> {
    let known = ctx.reg.all().map_err(error)?.into_iter().flatten().find(|r| r.uuid.eq_ignore_ascii_case(&ar.uuid));
    let manager = a
        .value("--manager")
        .map(str::to_string)
        .or_else(|| known.as_ref().map(|r| r.manager.clone()))
        .unwrap_or_else(|| DEFAULT_MANAGER.to_string());
    let disk = match (a.value("--disk"), &known) {
        (Some(d), _) => PathBuf::from(d),
        (None, Some(r)) => r.disk.clone(),
        (None, None) => {
            return Err(usage(format!(
                "{cmd}: vtpmctl knows no vtpm with uuid {} (from {:?}): give --disk PATH for its disk image",
                ar.uuid, ar.name
            )));
        }
    };
    Ok((disk, known, manager))
}

fn put_back(ctx: &mut Ctx<'_>, a: &Args, kind: Kind) -> Result<(), Fail> {
    let cmd = kind_cmd(kind);
    let file = a.one(cmd, "FILE")?;
    let bytes = fs::read(file).map_err(|e| error(format!("{file}: {e}")))?;
    let ar = Archive::decode(&bytes).map_err(|e| error(format!("{file}: {e}; nothing changed")))?;
    if ar.kind != kind {
        let other = kind_cmd(ar.kind);
        return Err(error(format!("{file} is an {} file: use vtpmctl {other}; nothing changed", ar.kind.word())));
    }
    let (disk, known, manager) = target(ctx, a, cmd, &ar)?;
    let nothing = "nothing changed";
    if let Some(r) = &known {
        not_running(ctx, &r.name, nothing)?;
    }
    // only the registry's own disk for this uuid may be replaced
    if known.as_ref().is_none_or(|r| r.disk != disk) {
        must_not_exist(&disk, nothing)?;
    }
    let r = with_manager(ctx, &manager, |c| match kind {
        Kind::Backup => c.restore(&ar.blob),
        Kind::Export => c.import(&ar.blob),
    })
    .map_err(|e| error(format!("{e}; {nothing}")))?;
    if uuid::format(&r) != ar.uuid.to_ascii_lowercase() {
        return Err(error(format!("manager {manager}: answered uuid {} for {}", uuid::format(&r), ar.uuid)));
    }
    write_atomically(&disk, &ar.disk).map_err(|e| {
        error(format!(
            "the manager {manager} took vtpm {}'s record, but its disk image could not be written: {e} \
             (write the image from {file} again with --disk)",
            ar.uuid
        ))
    })?;
    let verb = if kind == Kind::Backup { "restored" } else { "imported" };
    let _ = writeln!(
        ctx.out,
        "{verb} vtpm {} (uuid {}) at the manager {manager}; disk {}",
        ar.name,
        ar.uuid,
        disk.display()
    );
    if known.is_none() {
        let _ = writeln!(
            ctx.out,
            "  vtpmctl has no record of it: its cfg needs disk = [ \"file:{},hda,w\" ] and vtpm = [ \"backend={manager},uuid={}\" ]",
            disk.display(),
            ar.uuid
        );
    }
    Ok(())
}

fn kind_cmd(k: Kind) -> &'static str {
    match k {
        Kind::Backup => "restore",
        Kind::Export => "import",
    }
}

/// Runs `restore FILE`.
pub fn restore(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    put_back(ctx, a, Kind::Backup)
}

/// Runs `import FILE`.
pub fn import(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    put_back(ctx, a, Kind::Export)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, c) in s.as_bytes().chunks_exact(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok()?;
    }
    Some(out)
}

/// `--to`: 64 hex digits, or a file holding them (as `manager-key` prints them, or its `--json`).
pub fn parse_public_key(v: &str) -> Result<[u8; 32], Fail> {
    if let Some(k) = unhex32(v) {
        return Ok(k);
    }
    let text = fs::read_to_string(v)
        .map_err(|e| usage(format!("export: --to is neither 64 hex digits nor a readable file ({v}: {e})")))?;
    let t = text.trim();
    let candidate = match t.find("\"public_key\":\"") {
        Some(i) => t[i + 14..].split('"').next().unwrap_or(""),
        None => t.split_whitespace().next().unwrap_or(""),
    };
    unhex32(candidate).ok_or_else(|| usage(format!("export: {v} holds no public key (64 hex digits)")))
}

/// Runs `manager-key`.
pub fn manager_key(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    a.none("manager-key")?;
    let name = a.value("--manager").unwrap_or(DEFAULT_MANAGER).to_string();
    let k = with_manager(ctx, &name, |c| c.manager_key()).map_err(error)?;
    if a.flag("--json") {
        let j = Json::Obj(vec![
            ("manager", Json::str(name)),
            ("algorithm", Json::str("x25519")),
            ("public_key", Json::str(hex(&k))),
        ]);
        let _ = writeln!(ctx.out, "{j}");
    } else {
        let _ = writeln!(ctx.out, "{}", hex(&k));
    }
    Ok(())
}

/// Runs `export NAME --to KEY FILE`.
pub fn export(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    let (name, file) = two(a, "export", "NAME and FILE")?;
    let to = a.value("--to").ok_or_else(|| usage("export: --to KEY missing (the target's vtpmctl manager-key)"))?;
    let key = parse_public_key(to)?;
    let nothing = "nothing exported";
    let rec = record(ctx, name)?;
    let u = uuid_of(&rec)?;
    not_running(ctx, name, nothing)?;
    must_not_exist(Path::new(file), nothing)?;
    let disk = read_disk(&rec, nothing)?;
    let blob = with_manager(ctx, &rec.manager, |c| c.export(u, key)).map_err(|e| error(format!("{e}; {nothing}")))?;
    let bytes = Archive { kind: Kind::Export, name: rec.name.clone(), uuid: rec.uuid.clone(), blob, disk }.encode();
    write_atomically(Path::new(file), &bytes).map_err(|e| {
        error(format!(
            "the manager {} exported vtpm {name} and retired its record, but {file} was not written: {e}; \
             run the same export again (same --to) to get it",
            rec.manager
        ))
    })?;
    let _ = writeln!(
        ctx.out,
        "exported vtpm {name} (uuid {}) to {file} ({} bytes); its record at the manager {} is retired: \
         the vtpm does not start there again. On the target: vtpmctl import {file}",
        rec.uuid,
        bytes.len(),
        rec.manager
    );
    Ok(())
}
