//! The decompressed kernel as a Xen PV guest sees it: an ELF64 little-endian x86_64
//! executable, its `PT_LOAD` segments, and its Xen ELF notes (`xen/include/public/
//! elfnote.h`: name "Xen", read from the `PT_NOTE` segments, or the `SHT_NOTE` sections when
//! there is none). The addresses follow libelf: `virt_base` (0 when absent), `paddr_offset`
//! (defaults to `virt_base`), the kernel's virtual range `[pstart, pend) + virt_base −
//! paddr_offset`, the entry (`XEN_ELFNOTE_ENTRY`, else `e_entry`) inside it.
//!
//! A kernel is PV when it says `XEN_VERSION = "xen-3.0"` (libxenguest's guest type
//! "xen-3.0-x86_64"); a kernel with Xen notes but only `PHYS32_ENTRY` is PVH-only, and one
//! without Xen notes is not a Xen guest at all. `LOADER`, when present, must be "generic".

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::LoadError;

/// Xen ELF note numbers (`elfnote.h`).
pub mod note {
    pub const ENTRY: u32 = 1;
    pub const HYPERCALL_PAGE: u32 = 2;
    pub const VIRT_BASE: u32 = 3;
    pub const PADDR_OFFSET: u32 = 4;
    pub const XEN_VERSION: u32 = 5;
    pub const GUEST_OS: u32 = 6;
    pub const GUEST_VERSION: u32 = 7;
    pub const LOADER: u32 = 8;
    pub const PAE_MODE: u32 = 9;
    pub const FEATURES: u32 = 10;
    pub const HV_START_LOW: u32 = 12;
    pub const INIT_P2M: u32 = 15;
    pub const MOD_START_PFN: u32 = 16;
    pub const PHYS32_ENTRY: u32 = 18;
}

/// Largest total of segment memory accepted (1 GiB).
const MAX_IMAGE: u64 = 1 << 30;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const SHT_NOTE: u32 = 7;
const EM_X86_64: u16 = 62;
const ET_EXEC: u16 = 2;

/// A `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// The Xen notes this loader uses (numbers as given; strings without the NUL).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XenNotes {
    pub entry: Option<u64>,
    pub hypercall_page: Option<u64>,
    pub virt_base: Option<u64>,
    pub paddr_offset: Option<u64>,
    pub xen_version: Option<String>,
    pub guest_os: Option<String>,
    pub loader: Option<String>,
    pub features: Option<String>,
    pub pae_mode: Option<String>,
    pub hv_start_low: Option<u64>,
    pub init_p2m: Option<u64>,
    pub mod_start_pfn: Option<u64>,
    pub phys32_entry: Option<u64>,
    /// How many Xen notes there were in all.
    pub count: usize,
}

/// A checked Xen PV kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvKernel {
    pub segments: Vec<Segment>,
    pub notes: XenNotes,
    pub virt_base: u64,
    /// `virt_base − paddr_offset`: added to a physical address gives the virtual one.
    pub virt_offset: u64,
    /// Virtual range of the kernel image `[virt_kstart, virt_kend)`.
    pub virt_kstart: u64,
    pub virt_kend: u64,
    /// Where execution starts (`XEN_ELFNOTE_ENTRY`, or `e_entry`).
    pub entry: u64,
}

fn rd<const N: usize>(b: &[u8], off: u64) -> Result<[u8; N], LoadError> {
    let off = usize::try_from(off).map_err(|_| LoadError::BadElf("offset out of range".into()))?;
    b.get(off..off.saturating_add(N)).and_then(|s| s.try_into().ok()).ok_or_else(|| {
        LoadError::BadElf(format!("read of {N} bytes at {off} past the end of the {}-byte file", b.len()))
    })
}
fn u16_at(b: &[u8], off: u64) -> Result<u16, LoadError> {
    rd::<2>(b, off).map(u16::from_le_bytes)
}
fn u32_at(b: &[u8], off: u64) -> Result<u32, LoadError> {
    rd::<4>(b, off).map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], off: u64) -> Result<u64, LoadError> {
    rd::<8>(b, off).map(u64::from_le_bytes)
}

fn slice(b: &[u8], off: u64, len: u64) -> Result<&[u8], LoadError> {
    let end = off.checked_add(len).filter(|&e| e <= b.len() as u64);
    match end {
        Some(end) => Ok(&b[off as usize..end as usize]),
        None => Err(LoadError::BadElf(format!("range {off}+{len} is outside the {}-byte file", b.len()))),
    }
}

/// Parses and checks the kernel ELF.
pub fn parse(elf: &[u8]) -> Result<PvKernel, LoadError> {
    if elf.len() < 64 || !elf.starts_with(crate::bzimage::ELF_MAGIC) {
        return Err(LoadError::BadElf("no ELF header".into()));
    }
    if elf[4] != 2 || elf[5] != 1 {
        return Err(LoadError::NotPv("not a 64-bit little-endian ELF (x86_64 PV needs xen-3.0-x86_64)".into()));
    }
    let machine = u16_at(elf, 18)?;
    if machine != EM_X86_64 {
        return Err(LoadError::NotPv(format!("ELF machine {machine} is not x86_64 (62)")));
    }
    if u16_at(elf, 16)? != ET_EXEC {
        return Err(LoadError::BadElf("not an executable (ET_EXEC)".into()));
    }
    let e_entry = u64_at(elf, 24)?;
    let phoff = u64_at(elf, 32)?;
    let shoff = u64_at(elf, 40)?;
    let phentsize = u64::from(u16_at(elf, 54)?);
    let phnum = u64::from(u16_at(elf, 56)?);
    let shentsize = u64::from(u16_at(elf, 58)?);
    let shnum = u64::from(u16_at(elf, 60)?);
    if phnum > 0 && phentsize < 56 {
        return Err(LoadError::BadElf(format!("program header size {phentsize} < 56")));
    }
    let mut segments = Vec::new();
    let mut notes = XenNotes::default();
    let mut note_segments = 0;
    let mut total = 0u64;
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or_else(|| LoadError::BadElf("phoff overflow".into()))?;
        let kind = u32_at(elf, ph)?;
        let offset = u64_at(elf, ph + 8)?;
        let filesz = u64_at(elf, ph + 32)?;
        match kind {
            PT_LOAD => {
                let seg = Segment {
                    offset,
                    vaddr: u64_at(elf, ph + 16)?,
                    paddr: u64_at(elf, ph + 24)?,
                    filesz,
                    memsz: u64_at(elf, ph + 40)?,
                };
                slice(elf, offset, filesz)?;
                if seg.filesz > seg.memsz {
                    return Err(LoadError::BadElf(format!("segment {i}: filesz {} > memsz {}", seg.filesz, seg.memsz)));
                }
                total = total.saturating_add(seg.memsz);
                if seg.paddr.checked_add(seg.memsz).is_none() {
                    return Err(LoadError::BadElf(format!("segment {i} wraps around")));
                }
                segments.push(seg);
            }
            PT_NOTE => {
                note_segments += 1;
                read_notes(slice(elf, offset, filesz)?, &mut notes)?;
            }
            _ => {}
        }
    }
    if note_segments == 0 && shnum > 0 {
        if shentsize < 64 {
            return Err(LoadError::BadElf(format!("section header size {shentsize} < 64")));
        }
        for i in 0..shnum.min(4096) {
            let sh = shoff.checked_add(i * shentsize).ok_or_else(|| LoadError::BadElf("shoff overflow".into()))?;
            if u32_at(elf, sh + 4)? == SHT_NOTE {
                read_notes(slice(elf, u64_at(elf, sh + 24)?, u64_at(elf, sh + 32)?)?, &mut notes)?;
            }
        }
    }
    if segments.is_empty() {
        return Err(LoadError::BadElf("no PT_LOAD segment".into()));
    }
    if total > MAX_IMAGE {
        return Err(LoadError::BadElf(format!("segments need {total} bytes, more than {MAX_IMAGE}")));
    }
    check_pv(&notes)?;
    let virt_base = notes.virt_base.unwrap_or(0);
    let paddr_offset = notes.paddr_offset.unwrap_or(virt_base);
    let virt_offset = virt_base.wrapping_sub(paddr_offset);
    let pstart = segments.iter().map(|s| s.paddr).min().unwrap_or(0);
    let pend = segments.iter().map(|s| s.paddr + s.memsz).max().unwrap_or(0);
    let virt_kstart = pstart.wrapping_add(virt_offset);
    let virt_kend = pend.wrapping_add(virt_offset);
    if virt_kend < virt_kstart || virt_kstart < virt_base {
        return Err(LoadError::BadElf(format!(
            "kernel range {virt_kstart:#x}..{virt_kend:#x} is below virt_base {virt_base:#x} or wraps"
        )));
    }
    let entry = notes.entry.unwrap_or(e_entry);
    if !(virt_kstart..virt_kend).contains(&entry) {
        return Err(LoadError::BadElf(format!(
            "entry {entry:#x} is outside the kernel {virt_kstart:#x}..{virt_kend:#x}"
        )));
    }
    if let Some(hp) = notes.hypercall_page
        && !(virt_kstart..virt_kend).contains(&hp)
    {
        return Err(LoadError::BadElf(format!("hypercall page {hp:#x} is outside the kernel")));
    }
    Ok(PvKernel { segments, notes, virt_base, virt_offset, virt_kstart, virt_kend, entry })
}

fn check_pv(n: &XenNotes) -> Result<(), LoadError> {
    if n.count == 0 {
        return Err(LoadError::NotPv("no Xen ELF notes (a kernel built without CONFIG_XEN_PV)".into()));
    }
    match n.xen_version.as_deref() {
        Some("xen-3.0") => {}
        Some(v) => return Err(LoadError::NotPv(format!("XEN_VERSION is \"{v}\", not \"xen-3.0\""))),
        None if n.phys32_entry.is_some() => {
            return Err(LoadError::NotPv("only a PHYS32_ENTRY note: a PVH-only kernel".into()));
        }
        None => return Err(LoadError::NotPv("no XEN_VERSION note".into())),
    }
    if let Some(l) = n.loader.as_deref()
        && l != "generic"
    {
        return Err(LoadError::NotPv(format!("LOADER is \"{l}\", not \"generic\"")));
    }
    Ok(())
}

/// Reads the notes of one note area (4-byte aligned name and descriptor).
fn read_notes(area: &[u8], out: &mut XenNotes) -> Result<(), LoadError> {
    let mut pos = 0usize;
    while pos + 12 <= area.len() {
        let namesz = u32_at(area, pos as u64)? as usize;
        let descsz = u32_at(area, pos as u64 + 4)? as usize;
        let kind = u32_at(area, pos as u64 + 8)?;
        let name_at = pos + 12;
        let desc_at = name_at.checked_add(namesz.next_multiple_of(4)).ok_or_else(|| bad_note(pos))?;
        let end = desc_at.checked_add(descsz.next_multiple_of(4)).ok_or_else(|| bad_note(pos))?;
        if desc_at.saturating_add(descsz) > area.len() {
            return Err(bad_note(pos));
        }
        let name = &area[name_at..name_at + namesz];
        if name == b"Xen\0" || name == b"Xen" {
            out.count += 1;
            store_note(kind, &area[desc_at..desc_at + descsz], out);
        }
        pos = end;
    }
    Ok(())
}

fn bad_note(pos: usize) -> LoadError {
    LoadError::BadElf(format!("ELF note at {pos} runs past its area"))
}

fn numeric(desc: &[u8]) -> Option<u64> {
    match desc.len() {
        1 => Some(u64::from(desc[0])),
        2 => Some(u64::from(u16::from_le_bytes([desc[0], desc[1]]))),
        4 => Some(u64::from(u32::from_le_bytes([desc[0], desc[1], desc[2], desc[3]]))),
        8 => desc.try_into().ok().map(u64::from_le_bytes),
        _ => None,
    }
}

fn string(desc: &[u8]) -> String {
    let end = desc.iter().position(|&b| b == 0).unwrap_or(desc.len());
    String::from_utf8_lossy(&desc[..end]).to_string()
}

fn store_note(kind: u32, desc: &[u8], n: &mut XenNotes) {
    match kind {
        note::ENTRY => n.entry = numeric(desc),
        note::HYPERCALL_PAGE => n.hypercall_page = numeric(desc),
        note::VIRT_BASE => n.virt_base = numeric(desc),
        note::PADDR_OFFSET => n.paddr_offset = numeric(desc),
        note::XEN_VERSION => n.xen_version = Some(string(desc)),
        note::GUEST_OS => n.guest_os = Some(string(desc)),
        note::LOADER => n.loader = Some(string(desc)),
        note::FEATURES => n.features = Some(string(desc)),
        note::PAE_MODE => n.pae_mode = Some(string(desc)),
        note::HV_START_LOW => n.hv_start_low = numeric(desc),
        note::INIT_P2M => n.init_p2m = numeric(desc),
        note::MOD_START_PFN => n.mod_start_pfn = numeric(desc),
        note::PHYS32_ENTRY => n.phys32_entry = numeric(desc),
        _ => {}
    }
}

/// Builds small ELF files for tests (here and in the fuzz target's seeds).
pub mod build {
    use alloc::vec::Vec;

    /// An ELF64 x86_64 executable with one `PT_LOAD` of `code` at `paddr` (vaddr = paddr +
    /// `virt_base`) and one `PT_NOTE` holding `notes` (type, descriptor) named "Xen".
    pub fn elf(virt_base: u64, paddr: u64, code: &[u8], notes: &[(u32, &[u8])]) -> Vec<u8> {
        let mut note_area = Vec::new();
        for (kind, desc) in notes {
            note_area.extend_from_slice(&4u32.to_le_bytes());
            note_area.extend_from_slice(&(desc.len() as u32).to_le_bytes());
            note_area.extend_from_slice(&kind.to_le_bytes());
            note_area.extend_from_slice(b"Xen\0");
            note_area.extend_from_slice(desc);
            while note_area.len() % 4 != 0 {
                note_area.push(0);
            }
        }
        let phoff = 64u64;
        let data = phoff + 2 * 56;
        let code_off = data + note_area.len() as u64;
        let mut f = Vec::new();
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&62u16.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&(virt_base + paddr).to_le_bytes());
        f.extend_from_slice(&phoff.to_le_bytes());
        f.extend_from_slice(&0u64.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&64u16.to_le_bytes());
        f.extend_from_slice(&56u16.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&64u16.to_le_bytes());
        f.extend_from_slice(&0u16.to_le_bytes());
        f.extend_from_slice(&0u16.to_le_bytes());
        let ph = |f: &mut Vec<u8>, kind: u32, off: u64, va: u64, pa: u64, sz: u64, memsz: u64| {
            f.extend_from_slice(&kind.to_le_bytes());
            f.extend_from_slice(&7u32.to_le_bytes());
            for v in [off, va, pa, sz, memsz, 0x1000] {
                f.extend_from_slice(&v.to_le_bytes());
            }
        };
        let len = code.len() as u64;
        ph(&mut f, 1, code_off, virt_base + paddr, paddr, len, len + 0x1000);
        ph(&mut f, 4, data, 0, 0, note_area.len() as u64, note_area.len() as u64);
        f.extend_from_slice(&note_area);
        f.extend_from_slice(code);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::build::elf;
    use super::*;

    const VB: u64 = 0xffff_ffff_8000_0000;

    fn linux_like() -> Vec<u8> {
        elf(
            VB,
            0x100_0000,
            &[0x90; 0x3000],
            &[
                (note::XEN_VERSION, b"xen-3.0\0"),
                (note::LOADER, b"generic\0"),
                (note::VIRT_BASE, &VB.to_le_bytes()),
                (note::PADDR_OFFSET, &0u64.to_le_bytes()),
                (note::ENTRY, &(VB + 0x100_1000).to_le_bytes()),
                (note::HYPERCALL_PAGE, &(VB + 0x100_2000).to_le_bytes()),
                (note::MOD_START_PFN, &1u32.to_le_bytes()),
                (note::INIT_P2M, &(1u64 << 39).to_le_bytes()),
            ],
        )
    }

    #[test]
    fn linux_shape() {
        let k = parse(&linux_like()).unwrap();
        assert_eq!(k.virt_base, VB);
        assert_eq!(k.virt_kstart, VB + 0x100_0000);
        assert_eq!(k.virt_kend, VB + 0x100_0000 + 0x4000);
        assert_eq!(k.entry, VB + 0x100_1000);
        assert_eq!(k.notes.mod_start_pfn, Some(1));
        assert_eq!(k.notes.count, 8);
    }

    #[test]
    fn not_pv_kernels() {
        let none = elf(0, 0x1000, &[0; 16], &[]);
        assert!(matches!(parse(&none), Err(LoadError::NotPv(m)) if m.contains("no Xen ELF notes")));
        let pvh = elf(0, 0x1000, &[0; 16], &[(note::PHYS32_ENTRY, &0x1000u32.to_le_bytes())]);
        assert!(matches!(parse(&pvh), Err(LoadError::NotPv(m)) if m.contains("PVH")));
        let old = elf(0, 0x1000, &[0; 16], &[(note::XEN_VERSION, b"xen-2.0\0")]);
        assert!(matches!(parse(&old), Err(LoadError::NotPv(_))));
        let other = elf(0, 0x1000, &[0; 16], &[(note::XEN_VERSION, b"xen-3.0\0"), (note::LOADER, b"bsd\0")]);
        assert!(matches!(parse(&other), Err(LoadError::NotPv(_))));
        let mut i386 = linux_like();
        i386[18] = 3;
        assert!(matches!(parse(&i386), Err(LoadError::NotPv(_))));
    }

    #[test]
    fn damaged_elves_are_errors() {
        let good = linux_like();
        for cut in [10, 63, 64 + 56, 64 + 112 + 5, good.len() - 1] {
            assert!(parse(&good[..cut]).is_err(), "cut {cut}");
        }
        let mut bad_entry = good.clone();
        // ENTRY note descriptor: point it outside.
        let at = bad_entry.windows(8).position(|w| w == (VB + 0x100_1000).to_le_bytes()).unwrap();
        bad_entry[at..at + 8].copy_from_slice(&5u64.to_le_bytes());
        assert!(matches!(parse(&bad_entry), Err(LoadError::BadElf(_))));
    }
}
