//! The shared libraries an ELF64 (x86-64, little-endian) executable or library names
//! (`DT_NEEDED` of its `PT_DYNAMIC` segment) and their closure in a root file system: what
//! a small initrd must carry for a dynamically linked program (tcsd, tpm-tools) to run.

use crate::bail;
use crate::util::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

/// Library directories searched in the root file system, in order (Debian's multiarch paths).
pub const LIB_DIRS: &[&str] = &["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64", "lib", "usr/lib"];

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// `DT_NEEDED` names of `elf`, in order (empty for a static executable). `None`: not a
/// well-formed little-endian ELF64.
pub fn needed(elf: &[u8]) -> Option<Vec<String>> {
    if elf.get(..4)? != b"\x7fELF" || *elf.get(4)? != 2 || *elf.get(5)? != 1 {
        return None;
    }
    let phoff = usize::try_from(u64_at(elf, 0x20)?).ok()?;
    let phentsize = usize::from(u16_at(elf, 0x36)?);
    let phnum = usize::from(u16_at(elf, 0x38)?);
    // (type, offset, vaddr, filesz)
    let mut phdrs = Vec::new();
    for i in 0..phnum {
        let p = phoff.checked_add(i.checked_mul(phentsize)?)?;
        phdrs.push((u32_at(elf, p)?, u64_at(elf, p + 8)?, u64_at(elf, p + 16)?, u64_at(elf, p + 32)?));
    }
    let Some(&(_, dyn_off, _, dyn_size)) = phdrs.iter().find(|p| p.0 == PT_DYNAMIC) else { return Some(Vec::new()) };
    let mut entries = Vec::new();
    let mut at = usize::try_from(dyn_off).ok()?;
    let end = at.checked_add(usize::try_from(dyn_size).ok()?)?;
    while at + 16 <= end {
        let (tag, val) = (u64_at(elf, at)?, u64_at(elf, at + 8)?);
        if tag == DT_NULL {
            break;
        }
        entries.push((tag, val));
        at += 16;
    }
    let strtab_va = entries.iter().find(|e| e.0 == DT_STRTAB)?.1;
    let (_, off, va, _) =
        *phdrs.iter().find(|p| p.0 == PT_LOAD && p.2 <= strtab_va && strtab_va < p.2.saturating_add(p.3))?;
    let strtab = usize::try_from(strtab_va - va + off).ok()?;
    let mut names = Vec::new();
    for &(_, name_off) in entries.iter().filter(|e| e.0 == DT_NEEDED) {
        let start = strtab.checked_add(usize::try_from(name_off).ok()?)?;
        let rest = elf.get(start..)?;
        let len = rest.iter().position(|&c| c == 0)?;
        names.push(String::from_utf8_lossy(&rest[..len]).into_owned());
    }
    Some(names)
}

/// `path` inside `root` with its symbolic links followed inside `root` (an absolute link
/// target is taken relative to `root`, not to the host).
pub fn resolve_in(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut p = root.join(rel.trim_start_matches('/'));
    for _ in 0..16 {
        let meta = std::fs::symlink_metadata(&p).ok()?;
        if !meta.file_type().is_symlink() {
            return Some(p);
        }
        let target = std::fs::read_link(&p).ok()?;
        p = if target.is_absolute() { root.join(target.strip_prefix("/").ok()?) } else { p.parent()?.join(target) };
    }
    None
}

/// The libraries the programs `programs` (paths relative to `root`) need, transitively: soname →
/// file in `root`. The dynamic loader itself (`ld-linux-*`) is left out (the caller places it
/// at the programs' interpreter path).
pub fn closure(root: &Path, programs: &[&str]) -> Result<BTreeMap<String, PathBuf>> {
    let mut libs = BTreeMap::new();
    let mut todo: Vec<(String, PathBuf)> = Vec::new();
    for p in programs {
        let Some(path) = resolve_in(root, p) else { bail!("{p}: not in {}", root.display()) };
        todo.push((p.to_string(), path));
    }
    while let Some((name, path)) = todo.pop() {
        let data = std::fs::read(&path).ctx(|| format!("read {}", path.display()))?;
        let Some(names) = needed(&data) else { bail!("{name} ({}): not an ELF64 file", path.display()) };
        for n in names {
            if n.starts_with("ld-linux") || libs.contains_key(&n) {
                continue;
            }
            let Some(found) = LIB_DIRS.iter().find_map(|d| resolve_in(root, &format!("{d}/{n}"))) else {
                bail!("{name} needs {n}, which is in none of {LIB_DIRS:?} under {}", root.display())
            };
            libs.insert(n.clone(), found.clone());
            todo.push((n, found));
        }
    }
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with one PT_LOAD covering the file, a PT_DYNAMIC with two DT_NEEDED.
    fn tiny_elf(needs: &[&str]) -> Vec<u8> {
        let mut strtab = vec![0u8];
        let mut offs = Vec::new();
        for n in needs {
            offs.push(strtab.len() as u64);
            strtab.extend_from_slice(n.as_bytes());
            strtab.push(0);
        }
        let (phoff, dyn_off) = (64u64, 64 + 2 * 56);
        let ndyn = needs.len() + 2;
        let str_off = dyn_off + 16 * ndyn as u64;
        let va = 0x40_0000u64;
        let mut b = vec![0u8; 64];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        let total = str_off + strtab.len() as u64;
        let ph = |t: u32, off: u64, vaddr: u64, size: u64| {
            let mut p = vec![0u8; 56];
            p[..4].copy_from_slice(&t.to_le_bytes());
            p[8..16].copy_from_slice(&off.to_le_bytes());
            p[16..24].copy_from_slice(&vaddr.to_le_bytes());
            p[32..40].copy_from_slice(&size.to_le_bytes());
            p
        };
        b.extend(ph(PT_LOAD, 0, va, total));
        b.extend(ph(PT_DYNAMIC, dyn_off, va + dyn_off, 16 * ndyn as u64));
        for o in offs {
            b.extend(DT_NEEDED.to_le_bytes());
            b.extend(o.to_le_bytes());
        }
        b.extend(DT_STRTAB.to_le_bytes());
        b.extend((va + str_off).to_le_bytes());
        b.extend([0u8; 16]);
        b.extend(strtab);
        b
    }

    #[test]
    fn reads_needed_and_rejects_garbage() {
        assert_eq!(needed(&tiny_elf(&["libtspi.so.1", "libc.so.6"])).unwrap(), ["libtspi.so.1", "libc.so.6"]);
        assert_eq!(needed(&tiny_elf(&[])).unwrap(), Vec::<String>::new());
        assert_eq!(needed(b"#!/bin/sh\n"), None);
        let mut cut = tiny_elf(&["libc.so.6"]);
        cut.truncate(150);
        assert_eq!(needed(&cut), None);
    }

    #[test]
    fn closure_follows_links_inside_the_root() {
        let root = std::env::temp_dir().join(format!("xtask-elf-needed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let lib = root.join("usr/lib/x86_64-linux-gnu");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
        std::fs::write(root.join("usr/sbin/tool"), tiny_elf(&["libtspi.so.1", "libc.so.6"])).unwrap();
        std::fs::write(lib.join("libtspi.so.1.2.0"), tiny_elf(&["libcrypto.so.3", "libc.so.6"])).unwrap();
        std::os::unix::fs::symlink("libtspi.so.1.2.0", lib.join("libtspi.so.1")).unwrap();
        // An absolute link: resolved in the root, not on the host.
        std::os::unix::fs::symlink("/usr/lib/x86_64-linux-gnu/libcrypto.real", lib.join("libcrypto.so.3")).unwrap();
        std::fs::write(lib.join("libcrypto.real"), tiny_elf(&["libc.so.6", "ld-linux-x86-64.so.2"])).unwrap();
        std::fs::write(lib.join("libc.so.6"), tiny_elf(&["ld-linux-x86-64.so.2"])).unwrap();
        let c = closure(&root, &["usr/sbin/tool"]).unwrap();
        assert_eq!(c.keys().collect::<Vec<_>>(), ["libc.so.6", "libcrypto.so.3", "libtspi.so.1"]);
        assert_eq!(c["libcrypto.so.3"], lib.join("libcrypto.real"));
        std::fs::remove_file(lib.join("libc.so.6")).unwrap();
        let e = closure(&root, &["usr/sbin/tool"]).unwrap_err();
        assert!(format!("{e}").contains("needs libc.so.6"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
