//! The built domain image checked the way Xen and the booted kernel see it: machine memory is
//! simulated (every frame's bytes, as `write_page` fills the sources), the page tables are
//! walked from the L4 as Xen validates them at `MMUEXT_PIN_L4_TABLE`, and start_info, the p2m,
//! the kernel bytes, the hypercall page and the initrd are read back through the mapping (or
//! through the new p2m for the unmapped initrd), for small synthetic PV kernels (both
//! `MOD_START_PFN`/`INIT_P2M` and the mapped-initrd/mapped-p2m shapes) and, when the test bed's
//! input cache has it, for Debian 12's kernel.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pvgrub_loader::domain_image::{self, DomainImage, DomainInput};
use pvgrub_loader::elf::{build::elf, note};
use pvgrub_loader::page_tables::{L1_RO, L1_RW, UPPER, entry_mfn};
use pvgrub_loader::{layout, load_kernel, start_info};

const VB: u64 = 0xffff_ffff_8000_0000;
const PAGE: u64 = 4096;
/// The loader's own page tables in the simulated domain (old pfns 1..=4): typed frames that
/// the new tables must never map.
const OLD_TABLE_PFNS: [u64; 4] = [1, 2, 3, 4];
const STORE_PFN: u64 = 5;
const CONSOLE_PFN: u64 = 6;

fn old_p2m(nr_pages: u64) -> Vec<u64> {
    // Scrambled but one-to-one: machine frames far from pfn numbers, in reverse order.
    (0..nr_pages).map(|p| 0x20_0000 + (nr_pages - 1 - p) * 3).collect()
}

struct Domain {
    p2m: Vec<u64>,
    memory: HashMap<u64, Vec<u8>>,
}

fn hypercall_page() -> Vec<u8> {
    (0..4096u32).map(|i| (i * 7 + 3) as u8).collect()
}

/// Builds the image with sources taken from `first_source` upward (skipping the handed-over
/// frames) and fills machine memory as the image does before the switch.
fn build(kernel_elf: &[u8], initrd: &[u8], nr_pages: u64, first_source: u64) -> (DomainImage, Domain) {
    let k = load_kernel(kernel_elf).unwrap();
    let l = layout::compute(&k.pv, initrd.len() as u64, nr_pages).unwrap();
    let p2m = old_p2m(nr_pages);
    let need = domain_image::frames_needed(&l);
    let sources: Vec<u64> = (first_source..nr_pages)
        .filter(|p| ![STORE_PFN, CONSOLE_PFN].contains(p) && !OLD_TABLE_PFNS.contains(p))
        .take(need as usize)
        .collect();
    assert_eq!(sources.len() as u64, need, "domain too small for the test");
    let hp = hypercall_page();
    let input = DomainInput {
        p2m: &p2m,
        shared_info: 0x1234_5000,
        store_mfn: p2m[STORE_PFN as usize],
        store_evtchn: 1,
        console_mfn: p2m[CONSOLE_PFN as usize],
        console_evtchn: 2,
        cmdline: b"root=/dev/xvda1 ro console=hvc0",
        hypercall_page: &hp,
    };
    let img = domain_image::build(&l, &input, &sources).unwrap();
    let mut memory = HashMap::new();
    for &(pfn, src) in &img.targets {
        let mfn = p2m[src as usize];
        let mut page = vec![0u8; 4096];
        if img.is_handed_over(pfn) {
            page[..8].copy_from_slice(b"handover");
        } else {
            img.write_page(pfn, &k.elf, initrd, &mut page).unwrap();
        }
        memory.insert(mfn, page);
    }
    (img, Domain { p2m, memory })
}

struct Walk {
    /// VA → (mfn, writable).
    maps: BTreeMap<u64, (u64, bool)>,
    tables: BTreeSet<u64>,
}

fn entries(d: &Domain, mfn: u64) -> Vec<u64> {
    let page = d.memory.get(&mfn).unwrap_or_else(|| panic!("table frame {mfn:#x} holds nothing of the image"));
    page.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect()
}

/// Walks every present entry from the L4 down, as Xen's validation does.
fn walk(d: &Domain, l4: u64) -> Walk {
    let mut w = Walk { maps: BTreeMap::new(), tables: BTreeSet::new() };
    fn rec(d: &Domain, w: &mut Walk, mfn: u64, level: u32, va: u64) {
        assert!(w.tables.insert(mfn), "table {mfn:#x} linked twice");
        for (i, e) in entries(d, mfn).into_iter().enumerate() {
            if e & 1 == 0 {
                assert_eq!(e, 0, "non-present entry with bits");
                continue;
            }
            let mut v = va | ((i as u64) << (12 + 9 * (level - 1)));
            if level == 4 && i >= 256 {
                v |= 0xffff_0000_0000_0000;
            }
            if level > 1 {
                assert_eq!(e & 0xfff, UPPER, "L{level} entry flags");
                rec(d, w, entry_mfn(e), level - 1, v);
            } else {
                assert!(e & 0xfff == L1_RW || e & 0xfff == L1_RO, "L1 flags {:#x}", e & 0xfff);
                w.maps.insert(v, (entry_mfn(e), e & 2 != 0));
            }
        }
    }
    rec(d, &mut w, l4, 4, 0);
    w
}

fn read_va(d: &Domain, w: &Walk, va: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = va;
    while out.len() < len {
        let page = at & !(PAGE - 1);
        let (mfn, _) = w.maps.get(&page).unwrap_or_else(|| panic!("{page:#x} not mapped"));
        let bytes = &d.memory[mfn];
        let off = (at - page) as usize;
        let n = (len - out.len()).min(4096 - off);
        out.extend_from_slice(&bytes[off..off + n]);
        at += n as u64;
    }
    out
}

fn check(img: &DomainImage, d: &Domain, elf_bytes: &[u8], initrd: &[u8]) {
    let l = &img.layout;
    let new = &img.frames.new_p2m;
    // The new p2m is a permutation of the old one.
    let mut a = d.p2m.clone();
    let mut b = new.clone();
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b, "frames lost or duplicated");
    // M2P after the updates agrees with the new p2m everywhere.
    let mut m2p: HashMap<u64, u64> = d.p2m.iter().enumerate().map(|(p, &m)| (m, p as u64)).collect();
    for &(mfn, pfn) in &img.frames.m2p_updates {
        m2p.insert(mfn, pfn);
    }
    for (pfn, &mfn) in new.iter().enumerate() {
        assert_eq!(m2p[&mfn], pfn as u64, "M2P of {mfn:#x}");
    }

    let w = walk(d, img.l4_mfn);
    // The tables reached are exactly the image's tables, and the table sources are theirs.
    let table_mfns: BTreeSet<u64> = img.tables.iter().map(|t| new[t.pfn as usize]).collect();
    assert_eq!(w.tables, table_mfns);
    let from_sources: BTreeSet<u64> = img.table_sources.iter().map(|&s| d.p2m[s as usize]).collect();
    assert_eq!(from_sources, table_mfns);
    // The toolstack's order, which Linux's xen_setup_kernel_pagetable expects when it gives
    // the first pages back: [L4] [L3] [L2] [L1] [L1] …, all in the page_tables region.
    let levels: Vec<(u64, u32)> = img.tables.iter().take(4).map(|t| (t.pfn, t.level)).collect();
    let pt = l.page_tables.pfn;
    assert_eq!(levels, [(pt, 4), (pt + 1, 3), (pt + 2, 2), (pt + 3, 1)]);
    let initial: Vec<u64> = img.tables.iter().take(l.page_tables.pages as usize).map(|t| t.pfn).collect();
    assert_eq!(initial, (pt..pt + l.page_tables.pages).collect::<Vec<_>>());
    let nr_tables = l.page_tables.pages + l.p2m_page_tables.map_or(0, |t| t.pages);
    assert_eq!(img.tables.len() as u64, nr_tables, "every counted table is used");

    // Page-table frames only read-only; no frame mapped writable twice; no old table mapped.
    let mut writable = BTreeSet::new();
    for (va, &(mfn, rw)) in &w.maps {
        if table_mfns.contains(&mfn) {
            assert!(!rw, "page table {mfn:#x} mapped writable at {va:#x}");
        }
        if rw {
            assert!(writable.insert(mfn), "{mfn:#x} mapped writable twice");
        }
        for p in OLD_TABLE_PFNS {
            assert_ne!(mfn, d.p2m[p as usize], "an old page table is mapped at {va:#x}");
        }
    }
    // The initial mapping: every VA of [virt_base, mapped_end) → its pfn's frame.
    let mapped = (l.mapped_end - l.virt_base) / PAGE;
    for pfn in 0..mapped {
        let va = l.virt_base + pfn * PAGE;
        assert_eq!(w.maps.get(&va).map(|m| m.0), Some(new[pfn as usize]), "pfn {pfn:#x}");
    }
    let p2m_va = l.p2m.va.unwrap();
    let extra = if p2m_va >= l.virt_base && p2m_va < l.mapped_end { 0 } else { l.p2m.pages };
    assert_eq!(w.maps.len() as u64, mapped + extra, "nothing else is mapped");

    // start_info, read through the mapping.
    let si_bytes = read_va(d, &w, img.start_info_va, 4096);
    let (si, cmdline) = start_info::parse(&si_bytes).expect("start_info magic");
    assert_eq!(cmdline, b"root=/dev/xvda1 ro console=hvc0");
    assert_eq!(si.nr_pages, l.nr_pages);
    assert_eq!(si.shared_info, 0x1234_5000);
    assert_eq!(w.maps[&si.pt_base].0, img.l4_mfn, "pt_base is the L4");
    assert_eq!(si.nr_pt_frames, l.page_tables.pages);
    assert_eq!(new[l.xenstore.pfn as usize], si.store_mfn);
    assert_eq!(new[l.console.pfn as usize], si.console_mfn);
    assert_eq!(&d.memory[&si.store_mfn][..8], b"handover");
    assert_eq!(&d.memory[&si.console_mfn][..8], b"handover");
    assert_eq!((si.store_evtchn, si.console_evtchn), (1, 2));
    // The p2m list the kernel reads at mfn_list.
    let list = read_va(d, &w, si.mfn_list, (l.nr_pages * 8) as usize);
    let list: Vec<u64> = list.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(&list, new);
    if let Some(t) = l.p2m_page_tables {
        assert_eq!(si.first_p2m_pfn, l.p2m.pfn);
        assert_eq!(si.nr_p2m_frames, l.p2m.pages + t.pages);
    }
    // The kernel's bytes at their VAs, bss zeroed, the hypercall page copied.
    for s in &l.segments {
        let got = read_va(d, &w, s.va, s.memsz as usize);
        let file = &elf_bytes[s.file_offset as usize..(s.file_offset + s.filesz) as usize];
        let hp_va = l.hypercall_page_pfn.map(|p| l.virt_base + p * PAGE);
        for (i, &byte) in got.iter().enumerate() {
            let va = s.va + i as u64;
            if hp_va.is_some_and(|h| (h..h + PAGE).contains(&va)) {
                continue;
            }
            let want = file.get(i).copied().unwrap_or(0);
            assert_eq!(byte, want, "kernel byte at {va:#x}");
        }
    }
    if let Some(p) = l.hypercall_page_pfn {
        assert_eq!(read_va(d, &w, l.virt_base + p * PAGE, 4096), hypercall_page());
    }
    assert!(w.maps.contains_key(&(img.entry & !(PAGE - 1))), "entry mapped");
    // The boot stack / trampoline page: mapped writable, the source's frame.
    let bs = img.stack_top - PAGE;
    assert_eq!(bs, img.trampoline_va);
    assert_eq!(w.maps[&bs], (d.p2m[img.trampoline_source as usize], true));
    // The initrd.
    match l.initrd {
        Some(r) if r.va.is_none() => {
            assert_eq!(si.flags & 8, 8, "SIF_MOD_START_PFN");
            assert_eq!(si.mod_start, r.pfn);
            let mut got = Vec::new();
            for k in 0..r.pages {
                got.extend_from_slice(&d.memory[&new[(r.pfn + k) as usize]]);
            }
            assert_eq!(&got[..initrd.len()], initrd);
            assert!(got[initrd.len()..].iter().all(|&b| b == 0));
        }
        Some(r) => {
            assert_eq!(si.flags & 8, 0);
            assert_eq!(si.mod_start, r.va.unwrap());
            assert_eq!(read_va(d, &w, si.mod_start, initrd.len()), initrd);
        }
        None => assert_eq!((si.mod_start, si.mod_len), (0, 0)),
    }
    assert_eq!(si.mod_len, initrd.len() as u64);
}

fn synthetic(mod_start_pfn: bool, init_p2m: bool) -> Vec<u8> {
    let mut notes: Vec<(u32, Vec<u8>)> = vec![
        (note::XEN_VERSION, b"xen-3.0\0".to_vec()),
        (note::LOADER, b"generic\0".to_vec()),
        (note::VIRT_BASE, VB.to_le_bytes().to_vec()),
        (note::PADDR_OFFSET, 0u64.to_le_bytes().to_vec()),
        (note::ENTRY, (VB + 0x100_0000).to_le_bytes().to_vec()),
        (note::HYPERCALL_PAGE, (VB + 0x100_2000).to_le_bytes().to_vec()),
    ];
    if mod_start_pfn {
        notes.push((note::MOD_START_PFN, 1u32.to_le_bytes().to_vec()));
    }
    if init_p2m {
        notes.push((note::INIT_P2M, (1u64 << 39).to_le_bytes().to_vec()));
    }
    let refs: Vec<(u32, &[u8])> = notes.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    let code: Vec<u8> = (0..0x5123u32).map(|i| (i % 251) as u8 | 1).collect();
    elf(VB, 0x100_0000, &code, &refs)
}

fn initrd(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8 ^ 0x5a).collect()
}

#[test]
fn linux_shaped_kernel_with_unmapped_initrd_and_init_p2m() {
    let e = synthetic(true, true);
    let rd = initrd(3 * 4096 + 17);
    // Sources high in the domain (the frame pool), and sources overlapping the image.
    for first in [24_000, 100] {
        let (img, d) = build(&e, &rd, 32_768, first);
        check(&img, &d, &load_kernel(&e).unwrap().elf, &rd);
    }
}

#[test]
fn kernel_with_mapped_initrd_and_mapped_p2m() {
    let e = synthetic(false, false);
    let rd = initrd(5000);
    let (img, d) = build(&e, &rd, 16_384, 9000);
    check(&img, &d, &load_kernel(&e).unwrap().elf, &rd);
    let (img, d) = build(&e, &[], 16_384, 9000);
    check(&img, &d, &load_kernel(&e).unwrap().elf, &[]);
}

#[test]
fn wrong_inputs_are_errors_not_panics() {
    let e = synthetic(true, true);
    let k = load_kernel(&e).unwrap();
    let l = layout::compute(&k.pv, 0, 8192).unwrap();
    let p2m = old_p2m(8192);
    let hp = hypercall_page();
    let good = DomainInput {
        p2m: &p2m,
        shared_info: 0,
        store_mfn: p2m[5],
        store_evtchn: 1,
        console_mfn: p2m[6],
        console_evtchn: 2,
        cmdline: b"",
        hypercall_page: &hp,
    };
    let need = domain_image::frames_needed(&l) as usize;
    let sources: Vec<u64> = (7..).take(need).collect();
    assert!(domain_image::build(&l, &good, &sources).is_ok());
    assert!(domain_image::build(&l, &good, &sources[1..]).is_err(), "too few frames");
    let no_store = DomainInput { store_mfn: 1, ..good.clone() };
    assert!(domain_image::build(&l, &no_store, &sources).is_err(), "xenstore frame not ours");
    let short_p2m = DomainInput { p2m: &p2m[..100], ..good.clone() };
    assert!(domain_image::build(&l, &short_p2m, &sources).is_err());
    let mut dup = sources.clone();
    dup[3] = dup[2];
    assert!(domain_image::build(&l, &good, &dup).is_err(), "a frame given twice");
    let mut steals_store = sources.clone();
    steals_store[0] = 5;
    assert!(domain_image::build(&l, &good, &steals_store).is_err(), "a source that is the xenstore page");
    let img = domain_image::build(&l, &good, &sources).unwrap();
    let mut small = [0u8; 100];
    assert!(img.write_page(0, &k.elf, &[], &mut small).is_err());
    let mut page = [0u8; 4096];
    assert!(img.write_page(l.kernel.pfn, &k.elf[..10], &[], &mut page).is_err(), "truncated ELF");
}

#[test]
fn debian_kernel_image_walks() {
    let dir = common::TempDir::new("walk");
    let Some(path) = common::debian_kernel(&dir) else { return };
    let file = std::fs::read(path).unwrap();
    let k = load_kernel(&file).unwrap();
    let rd = initrd(2 << 20);
    // A 512 MiB domain, sources from the upper half (the loader's heap and frame pool).
    let (img, d) = build(&file, &rd, 131_072, 65_536);
    assert!(img.layout.p2m_page_tables.is_some(), "Debian's kernel has INIT_P2M");
    check(&img, &d, &k.elf, &rd);
    eprintln!(
        "Debian 6.1: {} pages in the image, {} page tables, {} M2P updates",
        img.layout.pages_used,
        img.tables.len(),
        img.frames.m2p_updates.len()
    );
}
