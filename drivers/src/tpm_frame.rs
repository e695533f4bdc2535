//! The TPM frame facts transports need (header, `paramSize`, error responses): the
//! `tpm-frame` crate, re-exported here so `drivers::tpm_frame::…` keeps working.

pub use tpm_frame::*;
