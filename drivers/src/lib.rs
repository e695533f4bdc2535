//! Xen split drivers for the stub domains, with no `unsafe` and no knowledge of how the kernel
//! talks to the hypervisor: each driver is a state machine generic over the small traits in
//! [`hv`] (the `xen-hv` crate, re-exported: event channels, grant table, xenstore, clock, MMIO),
//! driven by the image's event loop.
//!
//! - [`tpmback`]: the vTPM backend (Linux xen-tpmfront, Mini-OS tpmfront, our tpmfront).
//! - [`tpmfront`]: the vTPM frontend (vtpm → manager, pvgrub-measure).
//! - [`blkfront`]: the virtual block device frontend (Linux blkback, QEMU qdisk).
//! - [`tpm_tis`]: the TIS 1.2 / PTP FIFO driver for a hardware TPM over MMIO.
//!
//! How an image drives them (one loop, no threads; `hv` is the kernel's object implementing
//! [`hv::Xen`]):
//!
//! ```text
//! let mut back = TpmBack::new();
//! back.start(&mut hv)?;                       // watch backend/vtpm, take over existing devices
//! loop {
//!     back.poll(&mut hv);                     // xenstore watch events → state machines
//!     while let Some(ev) = back.take_event() { /* Attached / Detached: log, maybe power off */ }
//!     while let Some(req) = back.next_request(&mut hv) {   // round robin over frontends
//!         let resp = engine.execute(req.locality, &req.command);
//!         let _ = back.respond(&mut hv, &req, &resp);      // Err(Gone) if the guest left
//!     }
//!     hv.wait_until(next_deadline);           // returns early when a port or watch fires
//! }
//! ```
//!
//! Frontends offer the same split: `connect_start` / `poll_connect`, `submit` / `poll_*`,
//! `close_start` / `poll_close`, plus blocking wrappers (`connect`, `transact`, `read`, …) that
//! loop over the poll call and [`hv::Clock::wait_until`] with a deadline. Nothing waits forever.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod blkfront;
/// The driver interface to the hypervisor (the `xen-hv` crate), under its historical path.
pub use xen_hv as hv;
pub mod tpm_frame;
pub mod tpm_tis;
pub mod tpmback;
pub mod tpmfront;
pub mod uuid;
pub mod xenbus;
