//! A block device shared between a test and the domains it starts: the test keeps the disk
//! (to look at it, damage it, or hand it to the next domain) while a domain's driver uses it.

use std::cell::RefCell;
use std::rc::Rc;

use vtpm_store::{BlockDevice, BlockError};

/// `D` behind an `Rc<RefCell<…>>`; every clone is the same disk.
pub struct SharedDisk<D>(pub Rc<RefCell<D>>);

impl<D> Clone for SharedDisk<D> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<D: BlockDevice> BlockDevice for SharedDisk<D> {
    fn sectors(&self) -> u64 {
        self.0.borrow().sectors()
    }
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.0.borrow_mut().read(sector, buf)
    }
    fn write(&mut self, sector: u64, data: &[u8]) -> Result<(), BlockError> {
        self.0.borrow_mut().write(sector, data)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.0.borrow_mut().flush()
    }
}
