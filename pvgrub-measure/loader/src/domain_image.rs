//! The new domain image for the in-place PV boot, as data: from the [`ImageLayout`], the
//! loader's own p2m and the frames it allocated ("sources"), which machine frame every pfn
//! of the booted kernel gets ([`frame_map`](crate::frame_map)), the 4-level page tables of
//! the initial mapping (and of the `INIT_P2M` mapping), the `start_info` page, and the bytes
//! of every page ([`DomainImage::write_page`]: `PT_LOAD` segments at their pfns from
//! `virt_base`, the hypercall page, the initrd, the p2m list, the tables).
//!
//! Every pfn of `[0, pages_used)` gets a fresh source frame, also the pages that stay zero
//! (below the kernel, the padding): the initial mapping then maps only frames that hold
//! nothing of the loader — never one of its page tables, which Xen would refuse to map
//! writable. The exceptions are the xenstore and console pfns: they get the loader's own
//! xenstore and console frames (handed over, as pv-grub did). The boot stack page doubles as
//! the trampoline (mapped at the same VA in the loader's and the new tables); its bytes are
//! written by the kernel's `pvboot` code, not here.

use alloc::format;
use alloc::vec::Vec;

use xen_abi::start_info::SIF_MOD_START_PFN;

use crate::error::LoadError;
use crate::frame_map::{self, FrameMap, INVALID_MFN};
use crate::layout::{ImageLayout, PAGE, Region};
use crate::page_tables::{Table, TableBuilder};
use crate::start_info::{self, StartInfoFields};

/// What the loader's domain gives the new kernel.
#[derive(Clone, Debug)]
pub struct DomainInput<'a> {
    /// The loader's p2m (pfn → mfn), `nr_pages` entries.
    pub p2m: &'a [u64],
    /// Machine address of shared_info.
    pub shared_info: u64,
    pub store_mfn: u64,
    pub store_evtchn: u32,
    pub console_mfn: u64,
    pub console_evtchn: u32,
    pub cmdline: &'a [u8],
    /// The loader's own hypercall page (filled by Xen), copied to the kernel's.
    pub hypercall_page: &'a [u8],
}

/// The built image.
#[derive(Clone, Debug)]
pub struct DomainImage {
    pub layout: ImageLayout,
    /// `(new pfn, source pfn)` for every page of the image, in pfn order.
    pub targets: Vec<(u64, u64)>,
    pub frames: FrameMap,
    /// All page-table pages (initial mapping first, its L4 first; then the p2m mapping's).
    pub tables: Vec<Table>,
    pub start_info: Vec<u8>,
    pub fields: StartInfoFields,
    pub l4_mfn: u64,
    pub start_info_va: u64,
    /// `rsp` at the entry: the end of the boot stack page.
    pub stack_top: u64,
    /// VA of the boot stack page, where the trampoline runs.
    pub trampoline_va: u64,
    /// The loader's pfn of the frame that becomes the boot stack page.
    pub trampoline_source: u64,
    /// The loader's pfns of the frames that become page tables (to be made read-only in the
    /// loader's own mapping before the pin).
    pub table_sources: Vec<u64>,
    pub entry: u64,
    hypercall_page: Vec<u8>,
}

/// How many frames the loader must allocate for [`build`]: every pfn of the image but the
/// xenstore and console pages.
pub fn frames_needed(layout: &ImageLayout) -> u64 {
    layout.pages_used.saturating_sub(2)
}

fn boot_err(m: &str) -> LoadError {
    LoadError::Boot(alloc::string::String::from(m))
}

fn pfn_of_mfn(p2m: &[u64], mfn: u64, what: &str) -> Result<u64, LoadError> {
    p2m.iter()
        .position(|&m| m == mfn)
        .map(|p| p as u64)
        .ok_or_else(|| LoadError::Boot(format!("the {what} frame {mfn:#x} is not in the domain's p2m")))
}

fn contains(r: &Region, pfn: u64) -> bool {
    (r.pfn..r.end_pfn()).contains(&pfn)
}

/// Builds the image. `sources` are the loader's pfns of [`frames_needed`] frames it owns
/// and will fill with [`DomainImage::write_page`].
pub fn build(layout: &ImageLayout, input: &DomainInput, sources: &[u64]) -> Result<DomainImage, LoadError> {
    let l = layout;
    if input.p2m.len() as u64 != l.nr_pages {
        return Err(LoadError::Boot(format!("p2m has {} entries, the domain {} pages", input.p2m.len(), l.nr_pages)));
    }
    if sources.len() as u64 != frames_needed(l) {
        return Err(LoadError::Boot(format!("{} frames given, {} needed", sources.len(), frames_needed(l))));
    }
    if input.hypercall_page.len() != PAGE as usize {
        return Err(boot_err("the hypercall page is not 4096 bytes"));
    }
    let store_src = pfn_of_mfn(input.p2m, input.store_mfn, "xenstore")?;
    let console_src = pfn_of_mfn(input.p2m, input.console_mfn, "console")?;
    let mut next = sources.iter().copied();
    let mut targets = Vec::with_capacity(l.pages_used as usize);
    for pfn in 0..l.pages_used {
        let src = if pfn == l.xenstore.pfn {
            store_src
        } else if pfn == l.console.pfn {
            console_src
        } else {
            next.next().ok_or_else(|| boot_err("internal: sources ran out"))?
        };
        targets.push((pfn, src));
    }
    let frames = frame_map::build(input.p2m, &targets)?;
    let p2m = &frames.new_p2m;

    // The initial mapping: [virt_base, mapped_end), page tables read-only.
    let pt = l.page_tables;
    let mut b = TableBuilder::new(p2m, pt.pfn);
    let mapped_pages = (l.mapped_end - l.virt_base) / PAGE;
    let mut initial_pool = (pt.pfn + 1..pt.end_pfn()).peekable();
    for pfn in 0..mapped_pages {
        let ro = contains(&pt, pfn);
        b.map(l.virt_base + pfn * PAGE, pfn, !ro, &mut initial_pool)?;
    }
    if initial_pool.peek().is_some() {
        return Err(boot_err("internal: the layout counted more page tables than the mapping needs"));
    }
    // The separate p2m mapping (INIT_P2M), with its own tables.
    if let (Some(tables), Some(va)) = (l.p2m_page_tables, l.p2m.va) {
        let mut p2m_pool = (tables.pfn..tables.end_pfn()).peekable();
        for k in 0..l.p2m.pages {
            b.map(va + k * PAGE, l.p2m.pfn + k, true, &mut p2m_pool)?;
        }
    }
    let tables = b.finish();
    let l4_mfn = p2m[pt.pfn as usize];

    let (mod_start, flags) = match l.initrd {
        Some(Region { va: Some(va), .. }) => (va, 0),
        Some(Region { pfn, va: None, .. }) => (pfn, SIF_MOD_START_PFN),
        None => (0, 0),
    };
    let (first_p2m_pfn, nr_p2m_frames) = match l.p2m_page_tables {
        Some(t) => (l.p2m.pfn, l.p2m.pages + t.pages),
        None => (0, 0),
    };
    let fields = StartInfoFields {
        nr_pages: l.nr_pages,
        shared_info: input.shared_info,
        flags,
        store_mfn: input.store_mfn,
        store_evtchn: input.store_evtchn,
        console_mfn: input.console_mfn,
        console_evtchn: input.console_evtchn,
        pt_base: l.virt_base + pt.pfn * PAGE,
        nr_pt_frames: pt.pages,
        mfn_list: l.p2m.va.ok_or_else(|| boot_err("internal: the p2m has no VA"))?,
        mod_start,
        mod_len: if l.initrd.is_some() { l.initrd_len } else { 0 },
        first_p2m_pfn,
        nr_p2m_frames,
    };
    let table_sources = tables.iter().map(|t| targets[t.pfn as usize].1).collect();
    let trampoline_va = l.boot_stack.va.ok_or_else(|| boot_err("internal: the boot stack has no VA"))?;
    Ok(DomainImage {
        layout: l.clone(),
        trampoline_source: targets[l.boot_stack.pfn as usize].1,
        targets,
        start_info: start_info::page(&fields, input.cmdline),
        fields,
        frames,
        tables,
        l4_mfn,
        start_info_va: l.virt_base + l.start_info.pfn * PAGE,
        stack_top: trampoline_va + PAGE,
        trampoline_va,
        table_sources,
        entry: l.entry,
        hypercall_page: input.hypercall_page.to_vec(),
    })
}

fn copy_part(out: &mut [u8], page_start: u64, from: u64, src: &[u8]) {
    // `src` starts at VA `from`; copy what falls into [page_start, page_start + PAGE).
    let lo = from.max(page_start);
    let hi = (from + src.len() as u64).min(page_start + PAGE);
    if lo < hi {
        let s = (lo - from) as usize;
        let d = (lo - page_start) as usize;
        let n = (hi - lo) as usize;
        out[d..d + n].copy_from_slice(&src[s..s + n]);
    }
}

impl DomainImage {
    /// Writes the bytes of new pfn `pfn` into `out` (4096 bytes); `elf` and `initrd` are the
    /// decompressed kernel and the initrd of the layout. Pages with no content are zeroed.
    /// The xenstore and console pages are the loader's own frames and are never written.
    pub fn write_page(&self, pfn: u64, elf: &[u8], initrd: &[u8], out: &mut [u8]) -> Result<(), LoadError> {
        let l = &self.layout;
        if out.len() != PAGE as usize {
            return Err(boot_err("a page buffer is not 4096 bytes"));
        }
        out.fill(0);
        if pfn == l.start_info.pfn {
            out.copy_from_slice(&self.start_info);
        } else if let Some(t) = self.tables.iter().find(|t| t.pfn == pfn) {
            t.write(out);
        } else if contains(&l.p2m, pfn) {
            out.fill(0xff);
            let first = ((pfn - l.p2m.pfn) * (PAGE / 8)) as usize;
            let entries = self.frames.new_p2m.get(first..).unwrap_or(&[]);
            for (chunk, e) in out.chunks_exact_mut(8).zip(entries) {
                chunk.copy_from_slice(&e.to_le_bytes());
            }
        } else if let Some(r) = l.initrd.filter(|r| contains(r, pfn)) {
            if initrd.len() as u64 != l.initrd_len {
                return Err(boot_err("the initrd is not the one of the layout"));
            }
            let at = ((pfn - r.pfn) * PAGE) as usize;
            let n = initrd.len().saturating_sub(at).min(PAGE as usize);
            out[..n].copy_from_slice(&initrd[at..at + n]);
        } else if contains(&l.kernel, pfn) {
            let va = l.virt_base + pfn * PAGE;
            for s in &l.segments {
                let end = s.file_offset.checked_add(s.filesz).ok_or_else(|| boot_err("segment overflows"))?;
                let bytes = elf
                    .get(s.file_offset as usize..end as usize)
                    .ok_or_else(|| boot_err("a PT_LOAD segment lies past the end of the ELF"))?;
                copy_part(out, va, s.va, bytes);
            }
            if l.hypercall_page_pfn == Some(pfn) {
                out.copy_from_slice(&self.hypercall_page);
            }
        }
        Ok(())
    }

    /// True for the pfns the loader does not write (its xenstore and console frames).
    pub fn is_handed_over(&self, pfn: u64) -> bool {
        pfn == self.layout.xenstore.pfn || pfn == self.layout.console.pfn
    }

    /// The new kernel's machine frame of `pfn` (`INVALID_MFN` past `nr_pages`).
    pub fn mfn(&self, pfn: u64) -> u64 {
        self.frames.new_p2m.get(pfn as usize).copied().unwrap_or(INVALID_MFN)
    }
}
