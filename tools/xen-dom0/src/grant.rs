//! Grants for a dom0 process. Our pages: `/dev/xen/gntalloc` allocates a page and its grant to
//! one domain in one ioctl (`IOCTL_GNTALLOC_ALLOC_GREF`), then `mmap` at the returned index. As
//! the driver interface allocates first and grants later, [`Dom0Page`] starts as a private
//! zeroed buffer and becomes the shared page at [`GrantTable::grant_foreign_access`] (its bytes
//! copied in); one page is granted to one domain once. `end_foreign_access` is
//! `IOCTL_GNTALLOC_DEALLOC_GREF`: Linux then frees the grant when the page is unmapped (our
//! drop) and the peer has let go, so it does not report EBUSY. A peer's page:
//! `/dev/xen/gntdev` (`IOCTL_GNTDEV_MAP_GRANT_REF`, `mmap`; read-only maps `PROT_READ` only;
//! unmap = `munmap` + `IOCTL_GNTDEV_UNMAP_GRANT_REF`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;

use xen_hv::{DomId, GrantRef, GrantTable, HvError, PageAccess};

use crate::ioctl::{
    GNTALLOC_FLAG_WRITABLE, GntallocAllocGref, GntallocDeallocGref, GntdevGrantRef, GntdevMapGrantRef,
    GntdevUnmapGrantRef, IOCTL_GNTALLOC_ALLOC_GREF, IOCTL_GNTALLOC_DEALLOC_GREF, IOCTL_GNTDEV_MAP_GRANT_REF,
    IOCTL_GNTDEV_UNMAP_GRANT_REF,
};
use crate::sys::{PAGE_SIZE, SharedPage};
use crate::{hv_error, sys};

/// The device nodes.
pub const GNTALLOC_DEVICE: &str = "/dev/xen/gntalloc";
pub const GNTDEV_DEVICE: &str = "/dev/xen/gntdev";

fn open_dev(path: &str) -> io::Result<File> {
    File::options().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(path)
}

/// Our page: private until granted, then the gntalloc mapping.
pub struct Dom0Page {
    state: RefCell<PageState>,
}

enum PageState {
    Private(Box<[u8; PAGE_SIZE]>),
    Shared { page: SharedPage, gref: GrantRef, domid: DomId },
}

impl PageAccess for Dom0Page {
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError> {
        match &*self.state.borrow() {
            PageState::Private(b) => {
                let src =
                    offset.checked_add(buf.len()).and_then(|end| b.get(offset..end)).ok_or(HvError::OutOfRange)?;
                buf.copy_from_slice(src);
                Ok(())
            }
            PageState::Shared { page, .. } => page.read(offset, buf).then_some(()).ok_or(HvError::OutOfRange),
        }
    }

    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError> {
        match &mut *self.state.borrow_mut() {
            PageState::Private(b) => {
                let dst =
                    offset.checked_add(data.len()).and_then(|end| b.get_mut(offset..end)).ok_or(HvError::OutOfRange)?;
                dst.copy_from_slice(data);
                Ok(())
            }
            PageState::Shared { page, .. } => page.write(offset, data).then_some(()).ok_or(HvError::OutOfRange),
        }
    }

    fn read_u64_le(&self, offset: usize) -> Result<u64, HvError> {
        match &*self.state.borrow() {
            PageState::Shared { page, .. } => page.read_u64_le(offset).ok_or(HvError::OutOfRange),
            PageState::Private(_) => {
                let mut b = [0u8; 8];
                self.read(offset, &mut b)?;
                Ok(u64::from_le_bytes(b))
            }
        }
    }
}

/// A peer's page mapped through gntdev.
pub struct Dom0Mapping {
    page: SharedPage,
    index: u64,
}

impl PageAccess for Dom0Mapping {
    fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError> {
        self.page.read(offset, buf).then_some(()).ok_or(HvError::OutOfRange)
    }
    fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError> {
        self.page.write(offset, data).then_some(()).ok_or(HvError::OutOfRange)
    }
    fn read_u64_le(&self, offset: usize) -> Result<u64, HvError> {
        self.page.read_u64_le(offset).ok_or(HvError::OutOfRange)
    }
}

/// `/dev/xen/gntalloc` + `/dev/xen/gntdev`, each opened when first needed.
#[derive(Default)]
pub struct Dom0Grants {
    gntalloc: Option<File>,
    gntdev: Option<File>,
    /// Our live grants: gref → gntalloc index.
    granted: BTreeMap<u32, u64>,
}

impl Dom0Grants {
    pub fn new() -> Self {
        Self::default()
    }

    fn gntalloc(&mut self) -> Result<&File, HvError> {
        if self.gntalloc.is_none() {
            self.gntalloc = Some(open_dev(GNTALLOC_DEVICE).map_err(hv_error)?);
        }
        self.gntalloc.as_ref().ok_or(HvError::NoSpace)
    }

    fn gntdev(&mut self) -> Result<&File, HvError> {
        if self.gntdev.is_none() {
            self.gntdev = Some(open_dev(GNTDEV_DEVICE).map_err(hv_error)?);
        }
        self.gntdev.as_ref().ok_or(HvError::NoSpace)
    }
}

impl GrantTable for Dom0Grants {
    type Page = Dom0Page;
    type Mapping = Dom0Mapping;

    fn alloc_page(&mut self) -> Result<Dom0Page, HvError> {
        Ok(Dom0Page { state: RefCell::new(PageState::Private(Box::new([0u8; PAGE_SIZE]))) })
    }

    fn grant_foreign_access(&mut self, page: &Dom0Page, domid: DomId, readonly: bool) -> Result<GrantRef, HvError> {
        if let PageState::Shared { gref, domid: d, .. } = &*page.state.borrow() {
            // gntalloc grants a page to one domain only.
            return if *d == domid { Ok(*gref) } else { Err(HvError::Xen(-libc::EINVAL)) };
        }
        let fd = self.gntalloc()?;
        let mut arg = GntallocAllocGref {
            domid: domid.0,
            flags: if readonly { 0 } else { GNTALLOC_FLAG_WRITABLE },
            count: 1,
            index: 0,
            gref_ids: [0],
        };
        sys::ioctl(fd.as_fd(), IOCTL_GNTALLOC_ALLOC_GREF, &mut arg).map_err(hv_error)?;
        let mut shared = match SharedPage::map(fd.as_fd(), arg.index, true) {
            Ok(p) => p,
            Err(e) => {
                let mut d = GntallocDeallocGref { index: arg.index, count: 1 };
                let _ = sys::ioctl(fd.as_fd(), IOCTL_GNTALLOC_DEALLOC_GREF, &mut d);
                return Err(hv_error(e));
            }
        };
        let gref = GrantRef(arg.gref_ids[0]);
        let mut st = page.state.borrow_mut();
        if let PageState::Private(bytes) = &*st {
            shared.write(0, &bytes[..]);
        }
        *st = PageState::Shared { page: shared, gref, domid };
        self.granted.insert(gref.0, arg.index);
        Ok(gref)
    }

    fn end_foreign_access(&mut self, gref: GrantRef) -> Result<(), HvError> {
        let index = *self.granted.get(&gref.0).ok_or(HvError::Xen(-libc::EINVAL))?;
        let fd = self.gntalloc()?;
        let mut arg = GntallocDeallocGref { index, count: 1 };
        sys::ioctl(fd.as_fd(), IOCTL_GNTALLOC_DEALLOC_GREF, &mut arg).map_err(hv_error)?;
        self.granted.remove(&gref.0);
        Ok(())
    }

    fn map_grant_ref(&mut self, domid: DomId, gref: GrantRef, readonly: bool) -> Result<Dom0Mapping, HvError> {
        let fd = self.gntdev()?;
        let mut arg = GntdevMapGrantRef {
            count: 1,
            pad: 0,
            index: 0,
            refs: [GntdevGrantRef { domid: u32::from(domid.0), gref: gref.0 }],
        };
        sys::ioctl(fd.as_fd(), IOCTL_GNTDEV_MAP_GRANT_REF, &mut arg).map_err(hv_error)?;
        match SharedPage::map(fd.as_fd(), arg.index, !readonly) {
            Ok(page) => Ok(Dom0Mapping { page, index: arg.index }),
            Err(e) => {
                let mut u = GntdevUnmapGrantRef { index: arg.index, count: 1, pad: 0 };
                let _ = sys::ioctl(fd.as_fd(), IOCTL_GNTDEV_UNMAP_GRANT_REF, &mut u);
                Err(hv_error(e))
            }
        }
    }

    fn unmap_grant_ref(&mut self, mapping: Dom0Mapping) -> Result<(), HvError> {
        let index = mapping.index;
        drop(mapping.page);
        let fd = self.gntdev()?;
        let mut arg = GntdevUnmapGrantRef { index, count: 1, pad: 0 };
        sys::ioctl(fd.as_fd(), IOCTL_GNTDEV_UNMAP_GRANT_REF, &mut arg).map(|_| ()).map_err(hv_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_page_is_zeroed_and_range_checked() {
        let mut g = Dom0Grants::new();
        let mut p = g.alloc_page().unwrap();
        assert_eq!(p.read_u64_le(0), Ok(0));
        p.write(4090, &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(p.read_u8(4095), Ok(6));
        assert_eq!(p.write(4091, &[0; 6]), Err(HvError::OutOfRange));
        let mut b = [0u8; 2];
        assert_eq!(p.read(usize::MAX, &mut b), Err(HvError::OutOfRange));
    }

    #[test]
    fn ending_an_unknown_grant_is_an_error() {
        let mut g = Dom0Grants::new();
        assert_eq!(g.end_foreign_access(GrantRef(7)), Err(HvError::Xen(-libc::EINVAL)));
    }
}
