//! The TPM 1.2 engine (`vtpm/tpm12`) behind the [`Engine`] seam, and its start as the C vtpm
//! does it: manufacture (EK generated), `TPM_Startup(mode)`, `TPM_SelfTestFull`. A guest's own
//! TPM_Startup then gets `TPM_INVALID_POSTINIT`, which Linux handles. The RNG and clock are
//! injected, so the host tests start the engine exactly as the image does.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::hv::Clock;
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
        self.0.state_changed().then(|| Zeroizing::new(self.0.save_image()))
    }

    fn take_changed(&mut self) -> bool {
        // tpm12 clears its flag only by encoding the image: the image is wiped at once. (With
        // `Tpm::clear_changed()` this becomes a plain flag reset.)
        self.take_image_if_changed().is_some()
    }
}

/// The engine options the image's options ask for.
pub fn tpm_options(opts: &VtpmOptions) -> TpmOptions {
    TpmOptions { maintcmds: opts.maintcmds, ..TpmOptions::default() }
}

fn startup_command(mode: StartupMode) -> [u8; 12] {
    // TPM_Startup: tag RQU_COMMAND, paramSize 12, ordinal 0x99, TPM_STARTUP_TYPE
    let t = mode as u16;
    [0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, (t >> 8) as u8, t as u8]
}

/// TPM_SelfTestFull (ordinal 0x50).
const SELF_TEST_FULL: [u8; 10] = [0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x50];

fn return_code(resp: &[u8]) -> u32 {
    match resp.get(6..10) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => u32::MAX,
    }
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
    let mode = opts.startup;
    let rc_startup = return_code(&engine.execute(0, &startup_command(mode)));
    let rc_selftest = return_code(&engine.execute(0, &SELF_TEST_FULL));
    engine.take_changed();
    let line = format!(
        "Info: TPM 1.2 engine manufactured in {} ms (EK generated); TPM_Startup({}) rc={}, TPM_SelfTestFull rc={}; maintenance commands {}",
        t1.saturating_sub(t0) / 1_000_000,
        match mode {
            StartupMode::Clear => "ST_CLEAR",
            StartupMode::State => "ST_STATE",
            StartupMode::Deactivated => "ST_DEACTIVATED",
        },
        rc_startup,
        rc_selftest,
        if opts.maintcmds { "on" } else { "off" }
    );
    Ok((engine, line))
}
