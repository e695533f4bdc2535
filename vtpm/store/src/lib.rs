//! Sealed A/B state slots on a block device: the storage below both the vtpm image (its TPM
//! 1.2 state) and the manager image (its key store root). Pure, host-tested, `no_std + alloc`.
//!
//! - [`block`]: the block-device seam ([`BlockDevice`], [`MemDisk`]); the images implement it
//!   over `drivers::blkfront`. [`faulty`]: a disk that fails or tears write *k* ([`FaultyDisk`]).
//! - [`record`]: one sealed record (magic, version, kind, owner uuid, sequence, length, nonce,
//!   ChaCha20-Poly1305 ciphertext + tag; everything before the ciphertext authenticated).
//! - [`layout`]: the disk header and where slots A and B are.
//! - [`store`]: [`SlotStore`], which loads the record to keep (by the manager's digest, or the
//!   newest) and writes each new one to the other slot, so a torn save leaves the old state.
//! - [`key`]: the key (wiped when dropped), owner uuid, kind and digest types.
//! - [`error`]: [`StoreError`], one plain cause per refusal.
//!
//! Formats: `docs/formats.md`. What is not here: which key the manager keeps, the
//! LOADHASHKEY/SAVEHASHKEY exchange (`vtpmmgr-core::proto`), wiring into the images.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod block;
pub mod error;
pub mod faulty;
pub mod key;
pub mod layout;
pub mod record;
pub mod store;

pub use block::{BlockDevice, BlockError, MemDisk, SECTOR_SIZE};
pub use error::StoreError;
pub use faulty::{CacheFate, Fault, FaultyDisk, Landing};
pub use key::{OwnerUuid, RecordDigest, RecordKey, RecordKind};
pub use layout::{Geometry, Slot};
pub use store::{Detached, Loaded, Saved, SlotStore};

/// The largest payload the store takes: 4 MiB, the TPM 1.2 engine's `state::image::MAX_IMAGE`
/// (real images are a few KiB). A slot must also be large enough: see
/// [`SlotStore::max_payload`].
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
