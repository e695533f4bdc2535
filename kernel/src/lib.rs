//! The mini-OS kernel for Xen PV stub domains (x86_64). Platform code (boot, hypercalls,
//! memory, console, events, grants, time, the xenstore ring, the image runtime) only builds
//! for `target_os = "none"`; the pure modules (`cmdline`, `ring`) are tested on the host
//! (`xenstore::wire` and `xenstore::client` are `xen_hv::xenstore`'s, re-exported).
//!
//! How an image or driver uses it (see also docs/ARCHITECTURE.md):
//! - drivers: [`image::Env`] implements the driver interface (the `xen-hv` traits, seen by
//!   drivers as `drivers::hv`), including the loop's one blocking call `Clock::wait_until`;
//! - events: [`events::alloc_unbound`], [`events::bind_interdomain`], [`events::send`], and
//!   [`events::wait`] (`SCHEDOP_poll`) underneath `wait_until`;
//! - grants: [`grant::Gnttab::grant_access`] / `end_access` for our pages
//!   ([`mm::Page`]), [`grant::map_grant`] / [`grant::unmap_grant`] for a peer's, errors as
//!   `xen_hv::HvError`;
//! - xenstore: `env.xs` ([`xenstore::XsClient`], which implements `xen_hv::XenStore`):
//!   read/write/mkdir/rm/directory/watch, errors as `xen_hv::XsError`, transactions through
//!   `xen_hv::with_transaction`;
//! - shared memory: [`shared_mem`] (volatile, fenced copies; no slices over peer memory);
//! - time: [`time::now_ns`], [`time::wall_clock`], [`time::set_timer`];
//! - foreign frames / MMIO: [`mm::window::map_frames`] with `DomId::IO` and
//!   [`mm::window::MapKind::Mmio`].
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod cmdline;
pub mod ring;
pub mod shared_mem;
pub mod slots;
pub mod tsc;
pub mod xenstore;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod entropy;
#[cfg(target_os = "none")]
pub mod events;
#[cfg(target_os = "none")]
pub mod grant;
#[cfg(target_os = "none")]
pub mod hv;
#[cfg(target_os = "none")]
pub mod image;
#[cfg(target_os = "none")]
pub mod logger;
#[cfg(target_os = "none")]
pub mod mm;
#[cfg(target_os = "none")]
pub mod pvboot;
#[cfg(target_os = "none")]
pub mod selftest;
#[cfg(target_os = "none")]
pub mod shared_info;
#[cfg(target_os = "none")]
pub mod shutdown;
#[cfg(target_os = "none")]
pub mod start_info;
#[cfg(target_os = "none")]
pub mod sync;
#[cfg(target_os = "none")]
pub mod time;

pub use xen_abi;
