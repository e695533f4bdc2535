//! Where everything of the new kernel goes in the domain's pseudo-physical memory, in the
//! order libxenguest's `xc_dom_build_image` used for a PV guest (wave-2 facts §7.1 step 5),
//! computed here so the in-place boot can follow it and tests can check it.
//!
//! From pfn 0 = `virt_base`: the kernel (pfns below its start are part of the initial
//! mapping), the initrd if the kernel maps it (no `MOD_START_PFN`), the p2m list if the
//! kernel has no `INIT_P2M`, the start_info, xenstore and console pages, the 4-level page
//! tables of the initial mapping, the boot stack page; then padding up to the end of the
//! mapping (`[virt_base, last allocation + 512 KiB]` rounded up to 4 MiB); then the
//! unmapped initrd (`MOD_START_PFN`: `mod_start` is its pfn) and, with `INIT_P2M`, the p2m
//! list mapped separately at that address with its own L1–L3 tables.

use alloc::format;
use alloc::vec::Vec;

use crate::elf::PvKernel;
use crate::error::LoadError;

/// Page size.
pub const PAGE: u64 = 4096;
/// Extra mapping after the last allocation (libxenguest's 512 KiB).
const EXTRA_MAPPING: u64 = 512 << 10;
/// The initial mapping ends on a 4 MiB boundary.
const MAPPING_ALIGN: u64 = 4 << 20;
/// Bytes per p2m entry (an MFN as u64).
const P2M_ENTRY: u64 = 8;

/// A run of pages: first pfn, count, and the virtual address of its first page when mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub pfn: u64,
    pub pages: u64,
    pub va: Option<u64>,
}

impl Region {
    /// One past the last pfn.
    pub fn end_pfn(&self) -> u64 {
        self.pfn + self.pages
    }
}

/// A `PT_LOAD` segment's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacedSegment {
    pub file_offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// Virtual address (`paddr + virt_offset`).
    pub va: u64,
    /// Pfn of its first byte (`(va − virt_base) / PAGE`).
    pub pfn: u64,
}

/// The computed layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    pub nr_pages: u64,
    pub virt_base: u64,
    /// The kernel image pages (`[virt_kstart, virt_kend)` page-rounded).
    pub kernel: Region,
    pub segments: Vec<PlacedSegment>,
    /// The initrd; `va` is `None` when it is given by pfn (`MOD_START_PFN`).
    pub initrd: Option<Region>,
    pub initrd_len: u64,
    /// The p2m list (`mfn_list`); at `INIT_P2M` when the kernel asks for it.
    pub p2m: Region,
    /// The page tables of a separate p2m mapping (`INIT_P2M`), L1–L3.
    pub p2m_page_tables: Option<Region>,
    pub start_info: Region,
    pub xenstore: Region,
    pub console: Region,
    /// The initial mapping's page tables (`pt_base` is their first page's va).
    pub page_tables: Region,
    /// L1, L2, L3, L4 table counts of the initial mapping.
    pub tables_per_level: [u64; 4],
    pub boot_stack: Region,
    /// End of the initial mapping (`virt_pgtab_end`).
    pub mapped_end: u64,
    /// Pages used in all.
    pub pages_used: u64,
    pub entry: u64,
    pub hypercall_page_pfn: Option<u64>,
}

impl ImageLayout {
    /// Every region, named (for overlap checks and the console).
    pub fn regions(&self) -> Vec<(&'static str, Region)> {
        let mut v = alloc::vec![("kernel", self.kernel)];
        if let Some(i) = self.initrd {
            v.push(("initrd", i));
        }
        v.push(("p2m", self.p2m));
        if let Some(t) = self.p2m_page_tables {
            v.push(("p2m page tables", t));
        }
        v.extend([
            ("start_info", self.start_info),
            ("xenstore", self.xenstore),
            ("console", self.console),
            ("page tables", self.page_tables),
            ("boot stack", self.boot_stack),
        ]);
        v
    }
}

/// Page-table pages needed to map `[from, to]` (inclusive) with 4 levels: per level L1..L4.
pub fn count_tables(from: u64, to: u64) -> [u64; 4] {
    let n = |shift: u32| (to >> shift) - (from >> shift) + 1;
    [n(21), n(30), n(39), 1]
}

fn overflow() -> LoadError {
    LoadError::Layout("addresses overflow".into())
}

/// Computes the layout for `kernel` and an initrd of `initrd_len` bytes in a domain of
/// `nr_pages` pages.
pub fn compute(kernel: &PvKernel, initrd_len: u64, nr_pages: u64) -> Result<ImageLayout, LoadError> {
    let vb = kernel.virt_base;
    let va = |pfn: u64| pfn.checked_mul(PAGE).and_then(|o| vb.checked_add(o)).ok_or_else(overflow);
    let kstart = kernel.virt_kstart & !(PAGE - 1);
    let kend = kernel.virt_kend.checked_next_multiple_of(PAGE).ok_or_else(overflow)?;
    let kernel_region = Region { pfn: (kstart - vb) / PAGE, pages: (kend - kstart) / PAGE, va: Some(kstart) };
    let mut cursor = kernel_region.end_pfn();
    let take = |cursor: &mut u64, pages: u64| -> Result<Region, LoadError> {
        let r = Region { pfn: *cursor, pages, va: Some(va(*cursor)?) };
        *cursor = cursor.checked_add(pages).ok_or_else(overflow)?;
        Ok(r)
    };
    let initrd_pages = initrd_len.div_ceil(PAGE);
    let initrd_by_pfn = kernel.notes.mod_start_pfn.is_some_and(|v| v != 0);
    let p2m_pages = nr_pages.checked_mul(P2M_ENTRY).ok_or_else(overflow)?.div_ceil(PAGE);
    let mut initrd = None;
    if initrd_len > 0 && !initrd_by_pfn {
        initrd = Some(take(&mut cursor, initrd_pages)?);
    }
    let p2m_in_mapping = kernel.notes.init_p2m.is_none();
    let mut p2m = None;
    if p2m_in_mapping {
        p2m = Some(take(&mut cursor, p2m_pages)?);
    }
    let start_info = take(&mut cursor, 1)?;
    let xenstore = take(&mut cursor, 1)?;
    let console = take(&mut cursor, 1)?;
    // The tables map themselves and the boot stack: grow until the count is stable.
    let mut pt_pages = 0u64;
    let (tables_per_level, mapped_end) = loop {
        let last = cursor.checked_add(pt_pages + 1).ok_or_else(overflow)?;
        let end = va(last)?
            .checked_add(EXTRA_MAPPING)
            .and_then(|e| e.checked_next_multiple_of(MAPPING_ALIGN))
            .ok_or_else(overflow)?;
        let levels = count_tables(vb, end - 1);
        let need: u64 = levels.iter().sum();
        if need <= pt_pages {
            break (levels, end);
        }
        pt_pages = need;
    };
    let page_tables = take(&mut cursor, pt_pages)?;
    let boot_stack = take(&mut cursor, 1)?;
    cursor = (mapped_end - vb) / PAGE;
    if initrd_len > 0 && initrd_by_pfn {
        initrd = Some(Region { pfn: cursor, pages: initrd_pages, va: None });
        cursor += initrd_pages;
    }
    let (p2m, p2m_page_tables) = match (p2m, kernel.notes.init_p2m) {
        (Some(p), _) => (p, None),
        (None, Some(base)) => {
            let bytes = p2m_pages * PAGE;
            let last = base.checked_add(bytes.max(1) - 1).ok_or_else(overflow)?;
            let [l1, l2, l3, _] = count_tables(base, last);
            let p = Region { pfn: cursor, pages: p2m_pages, va: Some(base) };
            cursor += p2m_pages;
            let t = Region { pfn: cursor, pages: l1 + l2 + l3, va: None };
            cursor += t.pages;
            (p, Some(t))
        }
        (None, None) => return Err(LoadError::Layout("internal: no p2m".into())),
    };
    if cursor > nr_pages {
        return Err(LoadError::Layout(format!(
            "the kernel, initrd and boot structures need {cursor} pages; the domain has {nr_pages}"
        )));
    }
    let segments = kernel
        .segments
        .iter()
        .map(|s| {
            let sva = s.paddr.wrapping_add(kernel.virt_offset);
            PlacedSegment { file_offset: s.offset, filesz: s.filesz, memsz: s.memsz, va: sva, pfn: (sva - vb) / PAGE }
        })
        .collect();
    Ok(ImageLayout {
        nr_pages,
        virt_base: vb,
        kernel: kernel_region,
        segments,
        initrd,
        initrd_len,
        p2m,
        p2m_page_tables,
        start_info,
        xenstore,
        console,
        page_tables,
        tables_per_level,
        boot_stack,
        mapped_end,
        pages_used: cursor,
        entry: kernel.entry,
        hypercall_page_pfn: kernel.notes.hypercall_page.map(|h| (h - vb) / PAGE),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{build::elf, note, parse};

    const VB: u64 = 0xffff_ffff_8000_0000;

    fn linux(mod_start_pfn: bool, init_p2m: bool) -> PvKernel {
        let mut notes: Vec<(u32, Vec<u8>)> = alloc::vec![
            (note::XEN_VERSION, b"xen-3.0\0".to_vec()),
            (note::VIRT_BASE, VB.to_le_bytes().to_vec()),
            (note::PADDR_OFFSET, 0u64.to_le_bytes().to_vec()),
            (note::ENTRY, (VB + 0x100_0000).to_le_bytes().to_vec()),
            (note::HYPERCALL_PAGE, (VB + 0x100_1000).to_le_bytes().to_vec()),
        ];
        if mod_start_pfn {
            notes.push((note::MOD_START_PFN, 1u32.to_le_bytes().to_vec()));
        }
        if init_p2m {
            notes.push((note::INIT_P2M, (1u64 << 39).to_le_bytes().to_vec()));
        }
        let refs: Vec<(u32, &[u8])> = notes.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        parse(&elf(VB, 0x100_0000, &[0x90; 0x2000], &refs)).unwrap()
    }

    fn check_invariants(l: &ImageLayout) {
        let regions = l.regions();
        for (i, (a, ra)) in regions.iter().enumerate() {
            assert!(ra.end_pfn() <= l.pages_used, "{a} past pages_used");
            for (b, rb) in &regions[i + 1..] {
                assert!(ra.end_pfn() <= rb.pfn || rb.end_pfn() <= ra.pfn, "{a} overlaps {b}: {ra:?} {rb:?}");
            }
            if let Some(va) = ra.va
                && *a != "p2m"
            {
                assert_eq!(va, l.virt_base + ra.pfn * PAGE, "{a} va");
                assert!(va + ra.pages * PAGE <= l.mapped_end, "{a} not inside the initial mapping");
            }
        }
        assert!(l.pages_used <= l.nr_pages);
        let need: u64 = count_tables(l.virt_base, l.mapped_end - 1).iter().sum();
        assert!(l.page_tables.pages >= need, "tables cannot map the mapping");
        assert_eq!(l.mapped_end % MAPPING_ALIGN, 0);
        assert!(l.mapped_end >= l.virt_base + l.boot_stack.end_pfn() * PAGE + EXTRA_MAPPING);
    }

    #[test]
    fn linux_with_mod_start_pfn_and_init_p2m() {
        let k = linux(true, true);
        let l = compute(&k, 5 << 20, 32768).unwrap();
        check_invariants(&l);
        assert_eq!(l.kernel.pfn, 0x1000);
        assert_eq!(l.start_info.pfn, l.kernel.end_pfn());
        assert_eq!(l.xenstore.pfn, l.start_info.pfn + 1);
        assert_eq!(l.console.pfn, l.start_info.pfn + 2);
        let initrd = l.initrd.unwrap();
        assert_eq!(initrd.va, None);
        assert_eq!(initrd.pfn, (l.mapped_end - VB) / PAGE);
        assert_eq!(initrd.pages, (5 << 20) / PAGE);
        assert_eq!(l.p2m.va, Some(1 << 39));
        assert_eq!(l.p2m.pfn, initrd.end_pfn());
        assert_eq!(l.p2m.pages, 32768 * 8 / PAGE);
        assert_eq!(l.p2m_page_tables.unwrap().pages, 3);
        assert_eq!(l.tables_per_level, [count_tables(VB, l.mapped_end - 1)[0], 1, 1, 1]);
        assert_eq!(l.hypercall_page_pfn, Some(0x1001));
        assert_eq!(l.entry, VB + 0x100_0000);
    }

    #[test]
    fn mapped_initrd_and_p2m() {
        let k = linux(false, false);
        let l = compute(&k, 3 * PAGE + 1, 16384).unwrap();
        check_invariants(&l);
        let initrd = l.initrd.unwrap();
        assert_eq!(initrd.pfn, l.kernel.end_pfn());
        assert_eq!(initrd.pages, 4);
        assert_eq!(l.p2m.pfn, initrd.end_pfn());
        assert_eq!(l.p2m.va, Some(VB + l.p2m.pfn * PAGE));
        assert!(l.p2m_page_tables.is_none());
        assert_eq!(l.start_info.pfn, l.p2m.end_pfn());
        let no_initrd = compute(&k, 0, 16384).unwrap();
        assert_eq!(no_initrd.initrd, None);
        check_invariants(&no_initrd);
    }

    #[test]
    fn too_small_a_domain() {
        let k = linux(true, true);
        assert!(matches!(compute(&k, 64 << 20, 8192), Err(LoadError::Layout(_))));
        assert!(compute(&k, 0, 4096).is_err());
    }

    #[test]
    fn table_counts() {
        assert_eq!(count_tables(0, (4 << 20) - 1), [2, 1, 1, 1]);
        assert_eq!(count_tables((1 << 30) - PAGE, 1 << 30), [2, 2, 1, 1]);
    }
}
