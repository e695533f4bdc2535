//! File names as GRUB spells them: `(hd0,msdos1)/boot/vmlinuz`, `(hd0,gpt2)/…`, `(hd0,1)/…`
//! (GRUB 2: partitions counted from 1), `(hd0,0)/…` (GRUB legacy and pv-grub's command line:
//! counted from 0), `(hd0)/…` (the whole disk), or a plain `/boot/vmlinuz` on the current
//! root device. GRUB 2's `root` variable holds a device without parentheses (`hd0,msdos1`).
//!
//! Only `hd0` exists: the domain's one disk (xl `disk=`, blkfront `device/vbd/…` first).

use alloc::format;
use alloc::string::{String, ToString};

use crate::error::LoadError;
use crate::partition::TableKind;

/// Which GRUB counts partitions how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// GRUB 2: `(hd0,1)` is the first partition.
    Grub2,
    /// GRUB legacy (menu.lst, pv-grub's command line): `(hd0,0)` is the first partition.
    Legacy,
}

/// A device: the whole disk, or one partition by its GRUB 2 number (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// `(hd0)`.
    Whole,
    /// A partition; `table` is set when the name says `msdos` or `gpt`.
    Partition { number: u32, table: Option<TableKind> },
}

impl Device {
    /// GRUB 2's spelling without parentheses, as `root` holds it (`hd0`, `hd0,msdos1`, `hd0,1`).
    pub fn grub2_name(&self) -> String {
        match self {
            Device::Whole => "hd0".to_string(),
            Device::Partition { number, table: Some(t) } => format!("hd0,{}{}", t.name(), number),
            Device::Partition { number, table: None } => format!("hd0,{number}"),
        }
    }
}

/// A file: a device (or none: the current root) and an absolute path on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrubPath {
    pub device: Option<Device>,
    pub path: String,
}

/// Parses a device name without parentheses: `hd0`, `hd0,1`, `hd0,msdos5`, `hd0,gpt2`.
pub fn parse_device(name: &str, dialect: Dialect) -> Result<Device, LoadError> {
    let name = name.trim();
    let name = name.strip_prefix('(').and_then(|n| n.strip_suffix(')')).unwrap_or(name);
    let (disk, part) = match name.split_once(',') {
        Some((d, p)) => (d, Some(p)),
        None => (name, None),
    };
    match disk {
        "hd0" => {}
        d if d.starts_with("hd") && d[2..].parse::<u32>().is_ok() => {
            return Err(LoadError::NoSuchPartition(format!("({name}): this domain has one disk, hd0")));
        }
        _ => return Err(LoadError::BadPath(format!("'{name}' is not a GRUB disk name (hd0, hd0,msdos1, ...)"))),
    }
    let Some(part) = part else { return Ok(Device::Whole) };
    if part.contains(',') {
        return Err(LoadError::BadPath(format!("({name}): nested partitions (BSD labels) are not supported")));
    }
    let (table, digits) = if let Some(d) = part.strip_prefix("msdos") {
        (Some(TableKind::Msdos), d)
    } else if let Some(d) = part.strip_prefix("gpt") {
        (Some(TableKind::Gpt), d)
    } else {
        (None, part)
    };
    let n: u32 = digits.parse().map_err(|_| LoadError::BadPath(format!("({name}): '{part}' is not a partition")))?;
    let number = match (dialect, table) {
        // A table name is GRUB 2 syntax, counted from 1, whichever file it is in.
        (_, Some(_)) | (Dialect::Grub2, None) => n,
        (Dialect::Legacy, None) => n.checked_add(1).ok_or_else(|| LoadError::BadPath(format!("({name})")))?,
    };
    if number == 0 {
        return Err(LoadError::BadPath(format!("({name}): GRUB 2 counts partitions from 1")));
    }
    Ok(Device::Partition { number, table })
}

/// Parses a file name: `(device)/path` or `/path`.
pub fn parse_path(s: &str, dialect: Dialect) -> Result<GrubPath, LoadError> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('(') {
        let Some(close) = rest.find(')') else {
            return Err(LoadError::BadPath(format!("'{s}': no closing parenthesis")));
        };
        let device = parse_device(&rest[..close], dialect)?;
        let path = &rest[close + 1..];
        if !path.starts_with('/') {
            return Err(LoadError::BadPath(format!("'{s}': no absolute path after the device")));
        }
        return Ok(GrubPath { device: Some(device), path: path.to_string() });
    }
    if !s.starts_with('/') {
        return Err(LoadError::BadPath(format!("'{s}' is neither (device)/path nor /path")));
    }
    Ok(GrubPath { device: None, path: s.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grub2_and_legacy_numbering() {
        let p = |n, t| Device::Partition { number: n, table: t };
        assert_eq!(parse_device("hd0,msdos1", Dialect::Grub2).unwrap(), p(1, Some(TableKind::Msdos)));
        assert_eq!(parse_device("hd0,gpt2", Dialect::Legacy).unwrap(), p(2, Some(TableKind::Gpt)));
        assert_eq!(parse_device("hd0,1", Dialect::Grub2).unwrap(), p(1, None));
        assert_eq!(parse_device("hd0,0", Dialect::Legacy).unwrap(), p(1, None));
        assert_eq!(parse_device("(hd0,4)", Dialect::Legacy).unwrap(), p(5, None));
        assert_eq!(parse_device("hd0", Dialect::Grub2).unwrap(), Device::Whole);
        assert!(matches!(parse_device("hd0,0", Dialect::Grub2), Err(LoadError::BadPath(_))));
        assert!(matches!(parse_device("hd1,1", Dialect::Grub2), Err(LoadError::NoSuchPartition(_))));
        assert!(matches!(parse_device("fd0", Dialect::Grub2), Err(LoadError::BadPath(_))));
        assert!(matches!(parse_device("hd0,msdosX", Dialect::Grub2), Err(LoadError::BadPath(_))));
        assert!(matches!(parse_device("hd0,1,a", Dialect::Legacy), Err(LoadError::BadPath(_))));
        assert!(matches!(parse_device("hd0,4294967295", Dialect::Legacy), Err(LoadError::BadPath(_))));
    }

    #[test]
    fn paths() {
        let g = parse_path("(hd0,msdos1)/boot/vmlinuz", Dialect::Grub2).unwrap();
        assert_eq!(g.device, Some(Device::Partition { number: 1, table: Some(TableKind::Msdos) }));
        assert_eq!(g.path, "/boot/vmlinuz");
        assert_eq!(parse_path("/vmlinuz", Dialect::Grub2).unwrap(), GrubPath { device: None, path: "/vmlinuz".into() });
        assert!(parse_path("(hd0,1", Dialect::Grub2).is_err());
        assert!(parse_path("(hd0,1)boot", Dialect::Grub2).is_err());
        assert!(parse_path("vmlinuz", Dialect::Grub2).is_err());
        assert_eq!(Device::Partition { number: 2, table: Some(TableKind::Gpt) }.grub2_name(), "hd0,gpt2");
    }
}
