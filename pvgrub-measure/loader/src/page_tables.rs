//! The 4-level page tables of the booted kernel's initial mappings, built as data: each table
//! is a pfn of the new image and 512 entries that hold machine frames (from the new p2m), as
//! Xen requires of a PV guest's tables.
//!
//! Entry bits as libxenguest wrote them for an x86_64 PV guest (wave-2 facts §7.1 step 9): L1
//! entries PRESENT|RW|ACCESSED, or PRESENT|ACCESSED (read-only) for the pages that are page
//! tables themselves (Xen refuses to pin a tree that maps one of its own tables writable);
//! L2–L4 entries PRESENT|RW|ACCESSED|DIRTY|USER. Xen fills its own L4 slots when the L4 is
//! pinned, so they stay empty here.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;

use xen_abi::mm::{PAGE_SHIFT, PTE_ACCESSED, PTE_ADDR_MASK, PTE_DIRTY, PTE_PRESENT, PTE_RW, PTE_USER, pt_index};

use crate::error::LoadError;

/// L1 flags of a writable data page.
pub const L1_RW: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED;
/// L1 flags of a read-only page (the page-table pages).
pub const L1_RO: u64 = PTE_PRESENT | PTE_ACCESSED;
/// Flags of an L2, L3 or L4 entry (pointing to the next table).
pub const UPPER: u64 = PTE_PRESENT | PTE_RW | PTE_ACCESSED | PTE_DIRTY | PTE_USER;
/// Bits of a 48-bit virtual address.
const VA_BITS: u64 = (1 << 48) - 1;

/// One page-table page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Its pfn in the new image.
    pub pfn: u64,
    /// 4 = L4 … 1 = L1.
    pub level: u32,
    pub entries: Box<[u64; 512]>,
}

impl Table {
    /// The page's bytes (entries little-endian).
    pub fn write(&self, out: &mut [u8]) {
        for (chunk, e) in out.chunks_exact_mut(8).zip(self.entries.iter()) {
            chunk.copy_from_slice(&e.to_le_bytes());
        }
    }
}

/// The machine frame of an entry.
pub fn entry_mfn(e: u64) -> u64 {
    (e & PTE_ADDR_MASK) >> PAGE_SHIFT
}

/// Builds the tables under one L4.
pub struct TableBuilder<'a> {
    p2m: &'a [u64],
    tables: Vec<Table>,
    /// `(level, va >> coverage)` → index in `tables`.
    index: BTreeMap<(u32, u64), usize>,
}

fn mfn_of(p2m: &[u64], pfn: u64) -> Result<u64, LoadError> {
    p2m.get(pfn as usize).copied().ok_or_else(|| LoadError::Boot(format!("page-table walk: no frame for pfn {pfn:#x}")))
}

impl<'a> TableBuilder<'a> {
    /// An empty L4 at `l4_pfn`; `p2m` is the new p2m (pfn → mfn written into entries).
    pub fn new(p2m: &'a [u64], l4_pfn: u64) -> TableBuilder<'a> {
        let l4 = Table { pfn: l4_pfn, level: 4, entries: Box::new([0; 512]) };
        TableBuilder { p2m, tables: alloc::vec![l4], index: BTreeMap::new() }
    }

    /// Maps `va` to `pfn` (read-only unless `writable`), taking new tables from `pool`.
    pub fn map(
        &mut self,
        va: u64,
        pfn: u64,
        writable: bool,
        pool: &mut impl Iterator<Item = u64>,
    ) -> Result<(), LoadError> {
        let mut parent = 0usize;
        for level in (1..4).rev() {
            let key = (level, (va & VA_BITS) >> (PAGE_SHIFT + 9 * level));
            let child = match self.index.get(&key) {
                Some(&i) => i,
                None => {
                    let t = pool
                        .next()
                        .ok_or_else(|| LoadError::Boot(format!("too few page-table pages to map {va:#x}")))?;
                    let mfn = mfn_of(self.p2m, t)?;
                    let i = self.tables.len();
                    self.tables.push(Table { pfn: t, level, entries: Box::new([0; 512]) });
                    self.index.insert(key, i);
                    self.tables[parent].entries[pt_index(va, level + 1)] = (mfn << PAGE_SHIFT) | UPPER;
                    i
                }
            };
            parent = child;
        }
        let slot = &mut self.tables[parent].entries[pt_index(va, 1)];
        if *slot != 0 {
            return Err(LoadError::Boot(format!("{va:#x} is mapped twice")));
        }
        *slot = (mfn_of(self.p2m, pfn)? << PAGE_SHIFT) | if writable { L1_RW } else { L1_RO };
        Ok(())
    }

    /// The tables, the L4 first.
    pub fn finish(self) -> Vec<Table> {
        self.tables
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_needs_four_tables_and_shares_them() {
        let p2m: Vec<u64> = (0..64).map(|p| 0x500 + p).collect();
        let mut pool = [10u64, 11, 12, 13].into_iter();
        let mut b = TableBuilder::new(&p2m, 9);
        let va = 0xffff_ffff_8000_0000;
        b.map(va, 1, true, &mut pool).unwrap();
        b.map(va + 4096, 2, false, &mut pool).unwrap();
        assert!(b.map(va, 3, true, &mut pool).is_err(), "mapped twice");
        let t = b.finish();
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].level, 4);
        assert_eq!(t[0].entries[511], (0x500 + 10) << 12 | UPPER);
        assert_eq!(t[1].entries[510], (0x500 + 11) << 12 | UPPER);
        assert_eq!(t[2].entries[0], (0x500 + 12) << 12 | UPPER);
        assert_eq!(t[3].entries[0], (0x500 + 1) << 12 | L1_RW);
        assert_eq!(t[3].entries[1], (0x500 + 2) << 12 | L1_RO);
        // A 2 MiB step needs a new L1, and the pool is empty now.
        let mut b = TableBuilder::new(&p2m, 9);
        let mut pool = [10u64, 11, 12].into_iter();
        b.map(va, 1, true, &mut pool).unwrap();
        assert!(b.map(va + (2 << 20), 2, true, &mut pool).is_err());
    }
}
