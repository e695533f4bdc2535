//! The vTPM manager stub domain's host-testable parts: the command-line options (`options`)
//! and the TIS window's page arithmetic (`tis`). The image (`main.rs`) is wiring: it maps the
//! TIS pages, opens the hardware TPM with `drivers::tpm_tis` and prints what it found. The
//! manager's core (protocol, key store, disk format) has its own crate, `vtpmmgr-core`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod options;
pub mod tis;
