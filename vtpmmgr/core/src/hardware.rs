//! The machine's TPM as the manager's core sees it: raw command frames in, response frames
//! out, and which family it is (the manager speaks TPM 1.2 or TPM 2.0 to it). The image
//! implements [`HardwareTpm`] over its transport (`vtpmmgr::manager::LinkTpm`: TIS or
//! tpmfront).

use alloc::vec::Vec;

pub use tpm_frame::Family;

/// The hardware TPM.
pub trait HardwareTpm {
    /// The transport's failure (e.g. a TIS timeout).
    type Error;
    /// TPM 1.2 or TPM 2.0.
    fn family(&self) -> Family;
    /// Sends one command frame and returns the response frame.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Self::Error>;
}
