//! The mini-OS kernel for Xen PV stub domains (x86_64). Platform code (boot, hypercalls,
//! memory, console, events, grants, time, the xenstore ring, the image runtime) only builds
//! for `target_os = "none"`; the pure modules (`cmdline`, `ring`, `xenstore::wire`,
//! `xenstore::client`) are tested on the host.
//!
//! How an image or driver uses it (see also docs/ARCHITECTURE.md):
//! - events: [`events::alloc_unbound`], [`events::bind_interdomain`], [`events::send`], and the
//!   loop's one blocking call [`image::Env::wait`] (or [`events::wait`] underneath);
//! - grants: [`grant::GrantTable::grant_access`] / `end_access` for our pages
//!   ([`mm::Page`]), [`grant::map_grant`] / [`grant::unmap_grant`] for a peer's;
//! - xenstore: `env.xs` ([`xenstore::XsClient`]): read/write/mkdir/rm/directory/watch/
//!   transaction, errors as [`xenstore::XsError`];
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
pub mod selftest;
#[cfg(target_os = "none")]
pub mod shutdown;
#[cfg(target_os = "none")]
pub mod sync;
#[cfg(target_os = "none")]
pub mod time;

pub use xen_abi;
