//! A TPM 2.0 engine (TCG TPM 2.0 Library, parts 1–3), stages 1 and 2: what the Linux TPM
//! 2.0 core and its resource manager send — startup / self-test, the capabilities they
//! read, PCR read / extend / reset on the SHA-1 and SHA-256 banks, random numbers, the
//! clock, shutdown, the hierarchies' authorization values (HierarchyChangeAuth, Clear) —
//! and what sealing a secret needs: primary and ordinary objects (ECC P-256, keyedHash,
//! symcipher), Create / Load / Unseal / ReadPublic / EvictControl, HMAC and policy
//! sessions, saved contexts. Pure, `no_std` + `alloc`, host-testable, no `unsafe`; crypto
//! from RustCrypto.
//!
//! # Layout
//!
//! - [`constants`], [`rc`]: the spec's numbers, and response codes with the format-1
//!   parameter / handle / session numbering.
//! - [`codec`]: bounds-checked big-endian reader and writer.
//! - [`platform`]: what the embedder injects: [`TpmRng`] (the only entropy) and [`Clock`].
//! - [`crypto`]: the hash banks, HMAC, KDFa, AES-CFB, P-256, their self-tests,
//!   constant-time comparison.
//! - [`object`]: public and sensitive areas, Names, private-area protection, creation.
//! - [`pcr`]: the banks and the PC Client PCR attributes (localities, saved PCRs).
//! - [`state`]: permanent / saved / volatile state and the versioned image ([`state::image`]).
//! - [`session`]: the authorization area (password, HMAC and policy sessions).
//! - [`dispatch`]: one command through the engine; [`cmd`]: the command table and handlers.
//! - [`tpm`]: the [`Tpm`] object and its public API.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod cmd;
pub mod codec;
pub mod constants;
pub mod crypto;
pub mod dispatch;
pub mod nv;
pub mod object;
pub mod pcr;
pub mod platform;
pub mod rc;
pub mod session;
pub mod state;
pub mod tpm;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use platform::{Clock, ManualClock, TpmRng};
pub use rand_core;
pub use rc::Rc;
pub use state::image::ImageError;
pub use tpm::Tpm;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod tests_nv;
#[cfg(test)]
mod tests_objects;
#[cfg(test)]
mod tests_rsa;
#[cfg(test)]
mod tests_sessions;
