//! The mini-OS kernel for Xen PV stub domains (x86_64). Platform code (boot, hypercalls,
//! memory, console, events, grants, time, the xenstore ring, the image runtime) only builds
//! for `target_os = "none"`; the pure modules (`cmdline`, `ring`, `xenstore::wire`,
//! `xenstore::client`) are tested on the host.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod cmdline;
pub mod ring;
pub mod xenstore;
