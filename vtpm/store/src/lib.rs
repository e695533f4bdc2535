//! Sealed A/B state slots on a block device: the storage below both the vtpm image (its TPM
//! 1.2 state) and the manager image (its key store root). Pure, host-tested, `no_std + alloc`.
//!
//! - [`block`]: the block-device seam ([`BlockDevice`], [`MemDisk`]); the images implement it
//!   over `drivers::blkfront`. [`faulty`]: a disk that fails or tears write *k* ([`FaultyDisk`]).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod block;
pub mod faulty;

pub use block::{BlockDevice, BlockError, MemDisk, SECTOR_SIZE};
pub use faulty::{CacheFate, Fault, FaultyDisk, Landing};
