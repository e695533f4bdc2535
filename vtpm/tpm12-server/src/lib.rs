//! Host-side pieces of `tpm12-server`, also used by its tests: the server loop
//! and state file ([`serve`]), host platform services ([`platform`]), raw-TCP
//! transports and a swtpm launcher ([`transport`]), option parsing
//! ([`options`]) and the benchmark ([`bench`]).
#![forbid(unsafe_code)]

pub mod bench;
pub mod options;
pub mod platform;
pub mod serve;
pub mod transport;
