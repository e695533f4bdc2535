//! XenStore: the pure wire codec (`wire`), the transport-generic client (`client`) and, in
//! a guest, the shared-ring transport (`ring_transport`).

pub mod client;
pub mod wire;

#[cfg(target_os = "none")]
pub mod ring_transport;

#[cfg(test)]
mod tests;

pub use client::{XsClient, XsTransport};
pub use wire::{WatchEvent, XsError, XsTx};
