//! vtpmctl's registry of the vtpms it made: one small text file per vtpm,
//! `STATE_DIR/NAME.vtpm` (`STATE_DIR` defaults to `/var/lib/vtpmctl`), `key=value` lines:
//! `name`, `uuid`, `disk`, `size_mib`, `cfg` (the vtpm's xl cfg), `manager`, `guest` (the guest
//! domain's name), `guest_cfg`, `guest_line` (`added` when vtpmctl wrote the guest's `vtpm=`
//! line, `printed` with `--print`). Written to a temporary file and renamed into place, so a
//! record is either complete or absent.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/vtpmctl";
const SUFFIX: &str = ".vtpm";

/// What vtpmctl knows about one vtpm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub uuid: String,
    pub disk: PathBuf,
    pub size_mib: u64,
    pub cfg: PathBuf,
    pub manager: String,
    pub guest: String,
    pub guest_cfg: PathBuf,
    /// True if vtpmctl added the guest's `vtpm=` line (false: it was printed).
    pub guest_line_added: bool,
}

/// Is `name` acceptable as a vtpm (domain and file) name: 1–64 of `A-Z a-z 0-9 _ . -`, not
/// starting with `-` or `.`?
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(['-', '.'])
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl Record {
    /// The file's text.
    pub fn to_text(&self) -> String {
        format!(
            "name={}\nuuid={}\ndisk={}\nsize_mib={}\ncfg={}\nmanager={}\nguest={}\nguest_cfg={}\nguest_line={}\n",
            self.name,
            self.uuid,
            self.disk.display(),
            self.size_mib,
            self.cfg.display(),
            self.manager,
            self.guest,
            self.guest_cfg.display(),
            if self.guest_line_added { "added" } else { "printed" }
        )
    }

    /// Parses a record file; a missing or bad field is an error naming it.
    pub fn parse(text: &str) -> Result<Record, String> {
        let get = |k: &str| -> Result<String, String> {
            text.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .map(str::to_string)
                .ok_or_else(|| format!("no `{k}=` line"))
        };
        let name = get("name")?;
        if !valid_name(&name) {
            return Err(format!("bad name {name:?}"));
        }
        let uuid = get("uuid")?;
        if !crate::uuid::is_valid(&uuid) {
            return Err(format!("bad uuid {uuid:?}"));
        }
        let size_mib = get("size_mib")?.parse().map_err(|_| "bad size_mib".to_string())?;
        let guest_line_added = match get("guest_line")?.as_str() {
            "added" => true,
            "printed" => false,
            other => return Err(format!("bad guest_line {other:?}")),
        };
        Ok(Record {
            name,
            uuid,
            disk: get("disk")?.into(),
            size_mib,
            cfg: get("cfg")?.into(),
            manager: get("manager")?,
            guest: get("guest")?,
            guest_cfg: get("guest_cfg")?.into(),
            guest_line_added,
        })
    }
}

/// The registry directory.
#[derive(Clone, Debug)]
pub struct Registry {
    pub dir: PathBuf,
}

impl Registry {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Registry { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{SUFFIX}"))
    }

    /// Is there a record for `name`?
    pub fn contains(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// The record of `name`; `Ok(None)` if there is none, an error if it cannot be read.
    pub fn get(&self, name: &str) -> Result<Option<Record>, String> {
        let p = self.path(name);
        match fs::read_to_string(&p) {
            Ok(t) => Record::parse(&t).map(Some).map_err(|e| format!("{}: {e}", p.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    }

    /// Every record, by name. A directory that does not exist yet is an empty registry; an
    /// unreadable record is reported as an error for its name, the others are still listed.
    pub fn all(&self) -> Result<Vec<Result<Record, String>>, String> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", self.dir.display())),
        };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(SUFFIX)).map(str::to_string))
            .filter(|n| valid_name(n))
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|n| self.get(&n).and_then(|r| r.ok_or_else(|| format!("{n}: record vanished"))))
            .collect())
    }

    /// Writes a record (the directory is created if needed): temporary file, then rename.
    pub fn put(&self, r: &Record) -> Result<(), String> {
        fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let p = self.path(&r.name);
        write_atomically(&p, r.to_text().as_bytes())
    }

    /// Removes a record.
    pub fn remove(&self, name: &str) -> Result<(), String> {
        let p = self.path(name);
        fs::remove_file(&p).map_err(|e| format!("{}: {e}", p.display()))
    }
}

/// Writes `data` to `path` through `path.tmp` + rename (keeping an existing file's permissions).
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".vtpmctl-tmp");
    let tmp = PathBuf::from(tmp);
    let res = (|| -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        if let Ok(m) = fs::metadata(path) {
            fs::set_permissions(&tmp, m.permissions())?;
        }
        fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(name: &str) -> Record {
        Record {
            name: name.into(),
            uuid: "ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f01".into(),
            disk: "/d/x.img".into(),
            size_mib: 8,
            cfg: "/etc/xen/x.cfg".into(),
            manager: "vtpmmgr".into(),
            guest: "domu".into(),
            guest_cfg: "/etc/xen/domu.cfg".into(),
            guest_line_added: true,
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("vtpm-domu_1.a"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name(".x"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"a".repeat(65)));
    }

    #[test]
    fn records_round_trip_and_bad_ones_are_named() {
        let r = sample("v1");
        assert_eq!(Record::parse(&r.to_text()), Ok(r.clone()));
        let bad = r.to_text().replace("uuid=ac0a", "uuid=zz0a");
        assert!(Record::parse(&bad).unwrap_err().contains("uuid"));
        assert!(Record::parse("name=v1\n").unwrap_err().contains("uuid"));
        assert!(Record::parse(&r.to_text().replace("size_mib=8", "size_mib=x")).is_err());
    }

    #[test]
    fn a_registry_directory() {
        let dir = crate::testutil::TempDir::new("registry");
        let reg = Registry::new(dir.path().join("state"));
        assert_eq!(reg.all().unwrap().len(), 0, "a missing directory is an empty registry");
        reg.put(&sample("b")).unwrap();
        reg.put(&sample("a")).unwrap();
        std::fs::write(reg.dir.join("c.vtpm"), "garbage").unwrap();
        std::fs::write(reg.dir.join("notes.txt"), "ignored").unwrap();
        let all = reg.all().unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].as_ref().unwrap().name, "a");
        assert!(all[2].as_ref().unwrap_err().contains("c.vtpm"));
        assert!(reg.contains("a") && !reg.contains("z"));
        assert_eq!(reg.get("z"), Ok(None));
        reg.remove("a").unwrap();
        assert!(!reg.contains("a"));
    }
}
