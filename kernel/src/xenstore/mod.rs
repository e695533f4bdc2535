//! XenStore: the pure wire codec (`wire`) and the transport-generic client (`client`) live in
//! `xen-hv` (`xen_hv::xenstore`, shared with the dom0 tools) and are re-exported here under
//! their old names; in a guest, the shared-ring transport (`ring_transport`) is this kernel's.

pub use xen_hv::xenstore::{client, wire};

#[cfg(target_os = "none")]
pub mod ring_transport;

pub use client::{XsClient, XsTransport};
pub use wire::{WatchEvent, XsError, XsTx};
