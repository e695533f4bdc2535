//! The TIS register window as the driver sees it (locality `l` at `l·0x1000` from the base),
//! built from one mapping per locality page. xl may grant all five pages (`iomem=["fed40,5"]`)
//! or only the manager's own (`iomem=["fed42,1"]` for locality 2, as Xen's docs suggest): a page
//! Xen refuses to map is simply absent and reads as all-ones, which `drivers::tpm_tis` treats
//! as "not visible".

use drivers::hv::Mmio;
use kernel::hv::MmioRegion;
use vtpmmgr::tis::{LOCALITIES, page_base, page_of};

/// One optional mapping per locality page.
pub struct TisWindow {
    pages: [Option<MmioRegion>; LOCALITIES],
}

impl TisWindow {
    /// Maps every locality page of the TIS at `base` that this domain may map. Fails only if
    /// the page of `needed` (the locality we will use) cannot be mapped.
    pub fn map(base: u64, needed: u8) -> Result<TisWindow, xen_abi::errno::XenErrno> {
        let mut pages: [Option<MmioRegion>; LOCALITIES] = Default::default();
        let mut needed_err = None;
        for (l, slot) in pages.iter_mut().enumerate() {
            match MmioRegion::map(page_base(base, l), 1) {
                Ok(r) => *slot = Some(r),
                Err(e) if l == usize::from(needed) => needed_err = Some(e),
                Err(_) => {}
            }
        }
        match needed_err {
            Some(e) => Err(e),
            None => Ok(TisWindow { pages }),
        }
    }

    /// Which locality pages are mapped, for the console.
    pub fn mapped(&self) -> impl Iterator<Item = usize> + '_ {
        self.pages.iter().enumerate().filter(|(_, p)| p.is_some()).map(|(l, _)| l)
    }

    fn page(&mut self, offset: usize) -> Option<(&mut MmioRegion, usize)> {
        let (l, o) = page_of(offset)?;
        self.pages.get_mut(l)?.as_mut().map(|r| (r, o))
    }
}

impl Mmio for TisWindow {
    fn read8(&mut self, offset: usize) -> u8 {
        self.page(offset).map_or(0xFF, |(r, o)| r.read8(o))
    }

    fn read32(&mut self, offset: usize) -> u32 {
        self.page(offset).map_or(0xFFFF_FFFF, |(r, o)| r.read32(o))
    }

    fn write8(&mut self, offset: usize, value: u8) {
        if let Some((r, o)) = self.page(offset) {
            r.write8(o, value);
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        if let Some((r, o)) = self.page(offset) {
            r.write32(o, value);
        }
    }
}
