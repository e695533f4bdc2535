//! The vTPM manager stub domain's host-buildable parts: the command-line options (`options`),
//! the TIS window's page arithmetic (`tis`), the manager's RNG (`rng`) and its service loop
//! over the drivers (`manager`: the disk over blkfront, the hardware TPM over TIS or tpmfront —
//! or none, `tpmdriver=none` —, tpmback serving vtpms with `vtpmmgr_core::Service`). The
//! image (`main.rs`) is wiring: it maps the TIS pages (or connects tpmfront), opens the
//! hardware TPM, seeds the RNG, opens the key store and serves. The manager's core (protocol,
//! key store, disk format) has its own crate, `vtpmmgr-core`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod manager;
pub mod options;
pub mod rng;
pub mod tis;
