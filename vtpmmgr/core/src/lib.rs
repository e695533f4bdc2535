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
//!   the image implements it over `drivers::tpm_tis` or `drivers::tpmfront`.
//! - `hwtpm`: the manager's client for that TPM, TPM 1.2 (OIAP/OSAP, TakeOwnership, Seal/Unseal
//!   under the SRK) and TPM 2.0 (CreatePrimary, Create/Load/Unseal of a sealed object kept on
//!   the manager's disk, optional PolicyPCR), behind one seam, [`HwClient`]:
//!   `unseal_or_create_root`, `get_random`, `pcr_read_sha1`.
//!
//! - `hw_blob_area`: where the protected root lives on the manager's disk (sectors 1 … 7), and
//!   which protection it uses (the hardware TPM, or an administrator key).
//! - `admin_key`: without a hardware TPM (`tpmdriver=none`), the root secret wrapped by an
//!   administrator key (a passphrase through Argon2id, or a key disk; ChaCha20-Poly1305).
//! - `root_record`: the table of vTPM records (uuid → SAVEHASHKEY blob, flags), versioned.
//! - `key_store`: [`KeyStore`], the manager's disk: first boot (seal — or wrap — a fresh root,
//!   write the blob, an empty table), later boots (unseal or unwrap, load the newest root
//!   record), saves.
//! - `service`: [`Service`], the dispatcher: SAVE/LOAD bound to the backend dir's uuid, one
//!   connection per uuid, GetRandom/PCRRead passthrough, Extend for the admin vtpm, all else
//!   refused; without a hardware TPM, GetRandom from the manager's RNG and no PCRs.
//!
//! - `mgmt`: the management messages (tag `0x01C2`): the C manager's GROUP_LIST, VTPM_LIST,
//!   VTPM_NEW, VTPM_DEL and our own ordinals; `management` (private): the service's answers;
//!   `migration`: the backup and export blobs (ChaCha20-Poly1305; ECIES over X25519).
//!
//! Formats: `docs/formats.md` §"Manager disk". Not here yet: groups besides group 0,
//! GET_QUOTE, GET_BOOT_HASH (no XSM label).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub use vtpm_store::block;
pub mod admin_key;
pub mod hardware;
pub mod hw_blob_area;
pub mod hwtpm;
pub mod key_store;
mod management;
pub mod mgmt;
pub mod migration;
pub mod proto;
pub mod root_record;
pub mod service;

pub use hardware::HardwareTpm;
pub use hwtpm::{HwClient, HwConfig, HwError, RootSecret};
pub use key_store::{BootError, BootFailure, BootKind, KeyStore};
pub use root_record::{RootRecord, VtpmRecord};
pub use service::Service;
pub use vtpm_store::{BlockDevice, BlockError, MemDisk, SECTOR_SIZE};
