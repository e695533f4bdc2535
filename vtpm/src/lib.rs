//! The vTPM stub domain's logic, host-buildable and host-tested:
//!
//! - `service`: the service loop ([`VtpmService::step`]), generic over the `drivers::hv` traits
//!   and the engine; the host tests run it in the simulated Xen;
//! - `engine`: the engine seam ([`Engine`]); `tpm12_engine`: `tpm12::Tpm` behind it, and its
//!   start (manufacture, TPM_Startup, TPM_SelfTestFull); `tpm20_engine`: `tpm20::Tpm`
//!   behind it (not selectable in the image yet);
//! - `entropy`: the entropy pool and the refusal to manufacture from a weak one; `rng`: the
//!   engine's CSPRNG (HKDF-SHA256 extraction, ChaCha20, periodic rekeying);
//! - `locality`: the locality a frontend's commands run at (the guest's is not trusted);
//! - `manager`: the manager client (tpmfront on `device/vtpm/0`: LOADHASHKEY, SAVEHASHKEY,
//!   the hardware TPM's GetRandom and PCRRead); `state_disk`: the state disk (blkfront `hda`)
//!   as a `vtpm_store::BlockDevice`; `persist`: the start with a manager (restore, first
//!   start, refusals) and the saves;
//! - `options`, `stats` (the `loglevel=debug` summary), `disktest`
//!   (the blkfront check `disktest=`).
//!
//! The image itself (`main.rs`) is wiring: `image_main!`, `ImageInfo`, and the adapters to the
//! kernel (clock, entropy, console).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod disktest;
pub mod engine;
pub mod entropy;
pub mod locality;
pub mod manager;
pub mod options;
pub mod persist;
pub mod rng;
pub mod service;
pub mod state_disk;
pub mod stats;
pub mod tpm12_engine;
pub mod tpm20_engine;

pub use engine::Engine;
pub use service::{Output, Step, VtpmService};
pub use tpm12_engine::Tpm12Engine;
pub use tpm20_engine::Tpm20Engine;
