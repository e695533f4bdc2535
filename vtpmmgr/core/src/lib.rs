//! The vTPM manager's core, pure and host-tested (`no_std + alloc`, no `unsafe`). The image
//! (`vtpmmgr/`) is wiring around it.
//!
//! What is here:
//! - `proto`: the vtpm ⇄ manager messages (tags `0x01C1`/`0x01C2`, replies `0x01C4`): a real
//!   encoder/decoder of the header, of `VTPM_ORD_SAVEHASHKEY` / `LOADHASHKEY` /
//!   `GET_BOOT_HASH`, and of the `TPM_GetRandom` / `TPM_PCRRead` passthroughs the vtpm sends
//!   (the manager's RNG seam for the vtpm: issue 8). Both sides use it: the vtpm as client,
//!   the manager as server.
//! - `block`: [`BlockDevice`], the manager's disk (sector read/write, size), with an in-memory
//!   implementation for tests ([`MemDisk`]); the image implements it over `drivers::blkfront`.
//!   It lives in `vtpm-store` (one trait for the vtpm's and the manager's disks) and is
//!   re-exported here.
//! - `hardware`: [`HardwareTpm`], the machine's TPM (transmit a raw command, which family);
//!   the image implements it over `drivers::tpm_tis`.
//! - `hwtpm`: the manager's client for that TPM, TPM 1.2 (OIAP/OSAP, TakeOwnership, Seal/Unseal
//!   under the SRK) and TPM 2.0 (CreatePrimary, Create/Load/Unseal of a sealed object kept on
//!   the manager's disk, optional PolicyPCR), behind one seam, [`HwClient`]:
//!   `unseal_or_create_root`, `get_random`, `pcr_read_sha1`.
//!
//! What is not here yet: the command dispatcher, the key store (groups, vTPM records) and the
//! on-disk format around the sealed root. Nothing serves requests yet.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub use vtpm_store::block;
pub mod hardware;
pub mod hwtpm;
pub mod proto;

pub use hardware::HardwareTpm;
pub use hwtpm::{HwClient, HwConfig, HwError, RootSecret};
pub use vtpm_store::{BlockDevice, BlockError, MemDisk, SECTOR_SIZE};
