//! Host-side pieces of `tpm12-server`, also used by its tests: the server loop
//! and state file ([`serve`]), generic over the engine ([`engine`]: tpm12, or tpm20 with
//! `--tpm2`), swtpm's control channel ([`control`]), host platform services ([`platform`]),
//! raw-TCP transports and a swtpm launcher ([`transport`]), option parsing
//! ([`options`]) and the benchmark ([`bench`]).
#![forbid(unsafe_code)]

pub mod bench;
pub mod control;
pub mod engine;
pub mod options;
pub mod platform;
pub mod serve;
pub mod transport;
