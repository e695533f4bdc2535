//! Xen split drivers for the stub domains, with no `unsafe` and no knowledge of how the kernel
//! talks to the hypervisor: each driver is a state machine generic over the small traits in
//! [`hv`] (event channels, grant table, xenstore, clock, MMIO), driven by the image's event loop.
//!
//! - [`tpmback`]: the vTPM backend (Linux xen-tpmfront, Mini-OS tpmfront, our tpmfront).
//! - [`tpmfront`]: the vTPM frontend (vtpm → manager, pvgrub-measure).
//! - [`blkfront`]: the virtual block device frontend (Linux blkback, QEMU qdisk).
//! - [`tpm_tis`]: the TIS 1.2 / PTP FIFO driver for a hardware TPM over MMIO.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod blkfront;
pub mod hv;
pub mod tpm_frame;
pub mod tpm_tis;
pub mod tpmback;
pub mod tpmfront;
pub mod uuid;
pub mod xenbus;
