//! The TPM 1.2 engine (`vtpm/tpm12`) behind the [`Engine`] seam, and its start as the C vtpm
//! does it: manufacture (EK generated), `TPM_Startup(mode)`, `TPM_SelfTestFull`. A guest's own
//! TPM_Startup then gets `TPM_INVALID_POSTINIT`, which Linux handles. The RNG and clock are
//! injected, so the host tests start the engine exactly as the image does.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::hv::Clock;
use tpm_frame::TPM_TAG_RQU_COMMAND;
use tpm12::{Tpm, TpmOptions, TpmRng};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::options::{StartupMode, VtpmOptions};

/// `tpm12::Tpm` as an [`Engine`].
pub struct Tpm12Engine(pub Tpm);

impl Engine for Tpm12Engine {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        self.0.execute(locality, command)
    }

    fn take_image_if_changed(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        self.0.image_if_changed()
    }

    fn take_changed(&mut self) -> bool {
        let changed = self.0.state_changed();
        self.0.clear_changed();
        changed
    }

    fn platform_reset(&mut self, opts: &VtpmOptions) -> String {
        self.0.init();
        power_on(self, opts)
    }

    fn power_on(&mut self, opts: &VtpmOptions) -> String {
        power_on(self, opts)
    }

    fn set_pcr(&mut self, index: usize, value: [u8; 20]) -> Result<(), String> {
        self.0.set_pcr(index, value).map_err(|rc| format!("PCR {index}: {rc:?}"))
    }
}

/// How a persisting vtpm makes its TPM 1.2 engine (`persist::start_with`).
pub struct Tpm12Factory {
    pub rng: Box<dyn TpmRng>,
    pub clock: Box<dyn tpm12::Clock>,
    pub options: TpmOptions,
}

impl crate::persist::EngineFactory for Tpm12Factory {
    type Engine = Tpm12Engine;
    const KIND: vtpm_store::RecordKind = vtpm_store::RecordKind::TPM12_STATE;
    const MANUFACTURED: &'static str = "TPM 1.2 engine manufactured";
    const MADE: &'static str = "EK generated";

    fn restore(self, image: &[u8]) -> Result<Tpm12Engine, String> {
        Tpm::from_image(image, self.rng, self.clock, self.options).map(Tpm12Engine).map_err(|e| format!("{e:?}"))
    }

    fn manufacture(self) -> Result<Tpm12Engine, String> {
        Tpm::manufacture(self.rng, self.clock, self.options).map(Tpm12Engine).map_err(|rc| format!("{rc:?}"))
    }
}

/// The engine options the image's options ask for.
pub fn tpm_options(opts: &VtpmOptions) -> TpmOptions {
    TpmOptions { maintcmds: opts.maintcmds, ..TpmOptions::default() }
}

/// `TPM_Startup(mode)` (ordinal 0x99, a `TPM_STARTUP_TYPE`).
fn startup_command(mode: StartupMode) -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RQU_COMMAND, TPM_ORD_STARTUP, &(mode as u16).to_be_bytes())
}

/// `TPM_SelfTestFull`.
fn self_test_full() -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RQU_COMMAND, TPM_ORD_SELF_TEST_FULL, &[])
}

const TPM_ORD_STARTUP: u32 = 0x99;
const TPM_ORD_SELF_TEST_FULL: u32 = 0x50;

/// The return code of a response (`u32::MAX` if it has no header).
fn return_code(resp: &[u8]) -> u32 {
    tpm_frame::return_code(resp).unwrap_or(u32::MAX)
}

/// Manufactures the engine (EK generated), then runs TPM_Startup and TPM_SelfTestFull.
/// Returns the engine and the console line saying how it went, or the `ERROR:` line.
pub fn start(
    time: &impl Clock,
    rng: Box<dyn TpmRng>,
    clock: Box<dyn tpm12::Clock>,
    tpm_opts: TpmOptions,
    opts: &VtpmOptions,
) -> Result<(Tpm12Engine, String), String> {
    let t0 = time.now_ns();
    let tpm = Tpm::manufacture(rng, clock, tpm_opts)
        .map_err(|rc| format!("ERROR: cannot manufacture the TPM: {rc:?}; powering off"))?;
    let mut engine = Tpm12Engine(tpm);
    // volatile: the manufactured image is not kept anywhere
    engine.take_changed();
    let t1 = time.now_ns();
    let line = format!(
        "Info: TPM 1.2 engine manufactured in {} ms (EK generated); {}",
        t1.saturating_sub(t0) / 1_000_000,
        power_on(&mut engine, opts)
    );
    engine.take_changed();
    Ok((engine, line))
}

/// `TPM_Startup(opts.startup)` and `TPM_SelfTestFull` on a manufactured or restored engine;
/// returns the console text saying how it went (`TPM_Startup(ST_CLEAR) rc=0, …`). The change
/// flag is left alone (a persisting vtpm saves what Startup changed).
pub fn power_on(engine: &mut Tpm12Engine, opts: &VtpmOptions) -> String {
    let mode = opts.startup;
    let rc_startup = return_code(&engine.execute(0, &startup_command(mode)));
    let rc_selftest = return_code(&engine.execute(0, &self_test_full()));
    format!(
        "TPM_Startup({}) rc={}, TPM_SelfTestFull rc={}; maintenance commands {}",
        match mode {
            StartupMode::Clear => "ST_CLEAR",
            StartupMode::State => "ST_STATE",
            StartupMode::Deactivated => "ST_DEACTIVATED",
        },
        rc_startup,
        rc_selftest,
        if opts.maintcmds { "on" } else { "off" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_frames() {
        assert_eq!(startup_command(StartupMode::Clear), [0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1]);
        assert_eq!(startup_command(StartupMode::Deactivated), [0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 3]);
        assert_eq!(self_test_full(), [0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x50]);
        assert_eq!(return_code(&[0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 38]), 38);
        assert_eq!(return_code(&[0, 0xC4]), u32::MAX);
    }
}
