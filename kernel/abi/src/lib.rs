//! The Xen public ABI as seen by an x86_64 PV guest: hand-written `#[repr(C)]` structs and
//! constants (see docs/ARCHITECTURE.md for why not `xen-sys`), plus the small wire formats
//! built on them. Every struct has a size/offset test against the fact sheet
//! (`../shared/research/xen-vtpm-facts.md`) or Xen's public headers.
//!
//! This crate has no `unsafe` and no behaviour: it only names things.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod blkif;
pub mod console;
pub mod elfnote;
pub mod errno;
pub mod event_channel;
pub mod grant_table;
pub mod hypercall;
pub mod mm;
pub mod sched;
pub mod shared_info;
pub mod start_info;
pub mod tpmif;
pub mod types;
pub mod xs_wire;
