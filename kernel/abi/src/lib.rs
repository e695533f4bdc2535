//! The Xen public ABI as seen by an x86_64 PV guest: hand-written `#[repr(C)]` structs and
//! constants (see docs/ARCHITECTURE.md for why not `xen-sys`), plus the small wire formats
//! built on them. Every struct has a size/offset test against the fact sheet
//! (`../shared/research/xen-vtpm-facts.md`) or Xen's public headers.
//!
//! This crate has no `unsafe` and no behaviour: it only names things.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod types;
pub mod tpmif;
pub mod blkif;
