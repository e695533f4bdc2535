//! The engine seam: what the vtpm's service loop needs from a TPM engine. `tpm12::Tpm` is one
//! (`tpm12_engine.rs`); a TPM 2.0 engine would be another; the host tests' fake is a third.
//!
//! An engine executes one command frame at a time, at a locality the service loop has already
//! decided on (the guest's request is not trusted, see `locality.rs`), and tracks whether its
//! permanent state changed, which a persisting vtpm must write to its disk.

use alloc::vec::Vec;

use alloc::string::String;
use zeroize::Zeroizing;

use crate::options::VtpmOptions;

/// A TPM engine as the vtpm serves it.
pub trait Engine {
    /// Executes one command frame at `locality`; returns the response frame. Never fails:
    /// malformed input gives a TPM error response.
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8>;

    /// The permanent state's image if it changed since the last call to this or
    /// [`Engine::take_changed`] (the change is then taken). For a vtpm that persists its state.
    fn take_image_if_changed(&mut self) -> Option<Zeroizing<Vec<u8>>>;

    /// Whether the permanent state changed since the last call to this or
    /// [`Engine::take_image_if_changed`], and takes the change, without keeping an image. For a
    /// vtpm whose state is volatile.
    fn take_changed(&mut self) -> bool;

    /// A platform reset (the guest was rebooted: a new domain took this vtpm over): `TPM_Init`,
    /// then the start-up the vtpm runs at its own start (TPM_Startup as `opts` say, the
    /// self-test). Permanent state stays; the change flag is left for the caller to take.
    /// Returns the console text saying how it went.
    fn platform_reset(&mut self, opts: &VtpmOptions) -> String;

    /// The start-up the vtpm runs on a manufactured or restored engine (TPM_Startup as `opts`
    /// say, the self-test), before any guest command. Returns the console text.
    fn power_on(&mut self, opts: &VtpmOptions) -> String {
        let _ = opts;
        String::from("no start-up")
    }

    /// Sets PCR `index` (the SHA-1 bank) to `value` before any guest command: `hwinitpcr=`.
    fn set_pcr(&mut self, index: usize, value: [u8; 20]) -> Result<(), String> {
        let _ = (index, value);
        Err(String::from("this engine cannot take PCR values from the hardware TPM"))
    }
}
