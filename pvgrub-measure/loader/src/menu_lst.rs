//! GRUB legacy's `menu.lst` (what pv-grub itself read): `default N` (0-based; `saved` is
//! entry 0 here), `title …` starting an entry, and in the entry `root (hd0,0)`, `kernel PATH
//! ARGS…` and `initrd PATH`. A command and its argument may be separated by blanks or `=`.
//! Device names count partitions from 0 (`(hd0,0)` is the first). Other commands (`timeout`,
//! `hiddenmenu`, `color`, `password`, `savedefault`, `boot`, …) are ignored; `module` and
//! `chainloader` are noted. Like GRUB legacy, the kernel command line is the rest of the
//! `kernel` line after the file name, as written (leading and trailing blanks removed).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::boot_entry::{BootEntry, FileRef};
use crate::error::LoadError;
use crate::grub_path::{Device, Dialect, parse_device, parse_path};

#[derive(Default)]
struct Entry {
    title: String,
    line: usize,
    root: Option<Device>,
    kernel: Option<(FileRef, String)>,
    initrd: Option<FileRef>,
    error: Option<LoadError>,
}

/// Splits `cmd arg` or `cmd=arg`.
fn split_command(line: &str) -> (&str, &str) {
    let end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let (cmd, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    (cmd, rest.trim_end())
}

/// Finds the default entry of a `menu.lst` found on `device`.
pub fn find_entry(config: &str, device: Device) -> Result<BootEntry, LoadError> {
    let mut default = 0usize;
    let mut entries: Vec<Entry> = Vec::new();
    let mut notes = Vec::new();
    for (n, raw) in config.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (cmd, arg) = split_command(line);
        if cmd == "title" {
            entries.push(Entry { title: arg.to_string(), line: line_no, ..Entry::default() });
            continue;
        }
        let Some(e) = entries.last_mut() else {
            match cmd {
                "default" => match arg.parse::<usize>() {
                    Ok(d) => default = d,
                    Err(_) => notes.push(format!("line {line_no}: 'default {arg}' is not a number; using entry 0")),
                },
                "timeout" | "hiddenmenu" | "color" | "password" | "splashimage" | "serial" | "terminal"
                | "fallback" | "foreground" | "background" | "gfxmenu" => {}
                other => notes.push(format!("line {line_no}: global command '{other}' ignored")),
            }
            continue;
        };
        if e.error.is_some() {
            continue;
        }
        let r: Result<(), LoadError> = (|| {
            match cmd {
                "root" | "rootnoverify" => e.root = Some(parse_device(arg, Dialect::Legacy)?),
                "kernel" => {
                    let mut words = arg.splitn(2, char::is_whitespace);
                    let mut file = words.next().unwrap_or("");
                    let mut rest = words.next().unwrap_or("");
                    while file.starts_with("--") {
                        let mut w = rest.trim_start().splitn(2, char::is_whitespace);
                        file = w.next().unwrap_or("");
                        rest = w.next().unwrap_or("");
                    }
                    if file.is_empty() {
                        return Err(LoadError::Config(format!("line {line_no}: 'kernel' without a file")));
                    }
                    e.kernel = Some((file_ref(file, e.root, device)?, rest.trim().to_string()));
                }
                "initrd" => {
                    let file = arg.split_whitespace().next().unwrap_or("");
                    if file.is_empty() {
                        return Err(LoadError::Config(format!("line {line_no}: 'initrd' without a file")));
                    }
                    e.initrd = Some(file_ref(file, e.root, device)?);
                }
                "module" | "modulenounzip" | "chainloader" | "makeactive" | "map" => {
                    notes.push(format!("line {line_no}: '{cmd}' not supported, ignored"));
                }
                _ => {}
            }
            Ok(())
        })();
        if let Err(err) = r {
            e.error = Some(err);
        }
    }
    if entries.is_empty() {
        return Err(LoadError::NoEntry("menu.lst has no 'title' entry".into()));
    }
    if default >= entries.len() {
        notes.push(format!("default {default} names no entry; booting entry 0"));
        default = 0;
    }
    let e = entries.swap_remove(default);
    if let Some(err) = e.error {
        return Err(err);
    }
    let Some((kernel, cmdline)) = e.kernel else {
        return Err(LoadError::NoEntry(format!("entry '{}' (line {}) has no 'kernel' command", e.title, e.line)));
    };
    Ok(BootEntry { title: Some(e.title), kernel, initrd: e.initrd, cmdline, notes })
}

fn file_ref(file: &str, root: Option<Device>, config_device: Device) -> Result<FileRef, LoadError> {
    let p = parse_path(file, Dialect::Legacy)?;
    Ok(FileRef { device: p.device.or(root).unwrap_or(config_device), path: p.path })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: Device = Device::Partition { number: 1, table: None };

    #[test]
    fn default_and_roots() {
        let cfg = "# comment\ndefault=1\ntimeout 5\n\ntitle First\n  kernel /vmlinuz a\ntitle Debian\n  root (hd0,1)\n  kernel /boot/vmlinuz-6.1 root=/dev/xvda2 ro   console=hvc0 \n  initrd (hd0,0)/initrd.img\n";
        let e = find_entry(cfg, DEV).unwrap();
        assert_eq!(e.title.as_deref(), Some("Debian"));
        assert_eq!(e.kernel.to_string(), "(hd0,2)/boot/vmlinuz-6.1");
        assert_eq!(e.cmdline, "root=/dev/xvda2 ro   console=hvc0");
        assert_eq!(e.initrd.unwrap().to_string(), "(hd0,1)/initrd.img");
        let e = find_entry("title x\nkernel --type=linux /k\n", DEV).unwrap();
        assert_eq!(e.kernel.to_string(), "(hd0,1)/k");
        assert_eq!(e.cmdline, "");
    }

    #[test]
    fn errors() {
        assert!(matches!(find_entry("default 0\n", DEV), Err(LoadError::NoEntry(_))));
        assert!(matches!(find_entry("title a\ninitrd /i\n", DEV), Err(LoadError::NoEntry(_))));
        assert!(matches!(find_entry("title a\nroot (hd0,x)\nkernel /k\n", DEV), Err(LoadError::BadPath(_))));
        assert!(matches!(find_entry("title a\nkernel\n", DEV), Err(LoadError::Config(_))));
        let e = find_entry("default 9\ntitle a\nkernel /k\n", DEV).unwrap();
        assert!(e.notes.iter().any(|n| n.contains("names no entry")));
    }
}
