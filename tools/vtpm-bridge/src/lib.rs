//! `vtpm-bridge`: gives an HVM guest's QEMU (the one distributions ship, `-tpmdev emulator`) a
//! vTPM stub domain as its TPM. QEMU speaks swtpm's protocol on a UNIX socket: the control
//! channel ([`ctrl`], what each command does: [`session`]) and the data channel QEMU passes
//! over it ([`data`]); [`server`] is the one-thread event loop between them and a
//! [`transport::TpmTransport`]: the vtpm over tpmif ([`tpmif`], dom0's `drivers::tpmfront` via
//! vtpmctl's link) or a TCP TPM for host tests ([`tcp`]).
//!
//! It does not emulate a TPM, keep TPM state, or carry state in QEMU's migration stream.
#![forbid(unsafe_code)]

pub mod cli;
pub mod ctrl;
pub mod data;
pub mod server;
pub mod session;
pub mod tcp;
pub mod tpmif;
pub mod transport;
