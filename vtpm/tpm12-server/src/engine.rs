//! The engines this server can serve, behind one small trait: `tpm12::Tpm` (the default) and
//! `tpm20::Tpm` (`--tpm2`). The server loop, the state file and the control channel are
//! written once against [`HostEngine`].

use zeroize::Zeroizing;

use crate::options::Startup;

/// What the server needs from an engine.
pub trait HostEngine {
    /// Executes one command frame at `locality`.
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8>;
    /// TPM_Init / _TPM_Init: a power cycle (the control channel's CMD_INIT).
    fn init(&mut self);
    /// Whether permanent or saved state changed since the last image.
    fn state_changed(&self) -> bool;
    /// Marks the state changed (an image that could not be written is retried).
    fn mark_state_changed(&mut self);
    /// The state image; clears the change.
    fn take_image(&mut self) -> Zeroizing<Vec<u8>>;
    /// Runs the engine's Startup command of type `startup`.
    fn startup(&mut self, startup: Startup) -> Result<(), String>;
}

impl HostEngine for tpm12::Tpm {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        tpm12::Tpm::execute(self, locality, command)
    }
    fn init(&mut self) {
        tpm12::Tpm::init(self)
    }
    fn state_changed(&self) -> bool {
        tpm12::Tpm::state_changed(self)
    }
    fn mark_state_changed(&mut self) {
        tpm12::Tpm::mark_state_changed(self)
    }
    fn take_image(&mut self) -> Zeroizing<Vec<u8>> {
        self.save_image()
    }
    fn startup(&mut self, startup: Startup) -> Result<(), String> {
        // TPM_STARTUP_TYPE: TPM_ST_CLEAR 1, TPM_ST_STATE 2, TPM_ST_DEACTIVATED 3
        let st: u16 = match startup {
            Startup::Clear => 1,
            Startup::State => 2,
            Startup::Deactivated => 3,
        };
        let cmd = tpm12::testing::request(
            tpm12::constants::tag::RQU_COMMAND,
            tpm12::constants::ord::Startup,
            &st.to_be_bytes(),
        );
        match tpm12::testing::response_rc(&HostEngine::execute(self, 0, &cmd)) {
            0 => Ok(()),
            rc => Err(format!("TPM_Startup({st}) failed with return code {rc:#x}")),
        }
    }
}

impl HostEngine for tpm20::Tpm {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        tpm20::Tpm::execute(self, locality, command)
    }
    fn init(&mut self) {
        tpm20::Tpm::init(self)
    }
    fn state_changed(&self) -> bool {
        tpm20::Tpm::state_changed(self)
    }
    fn mark_state_changed(&mut self) {
        tpm20::Tpm::mark_state_changed(self)
    }
    fn take_image(&mut self) -> Zeroizing<Vec<u8>> {
        self.clear_changed();
        self.save_image()
    }
    fn startup(&mut self, startup: Startup) -> Result<(), String> {
        // TPM_SU_CLEAR 0, TPM_SU_STATE 1
        let su: u16 = match startup {
            Startup::Clear => 0,
            Startup::State => 1,
            Startup::Deactivated => return Err("TPM 2.0 has no deactivated startup".into()),
        };
        let cmd = tpm20::testing::plain(tpm20::constants::cc::STARTUP, &su.to_be_bytes());
        match tpm20::testing::rc(&HostEngine::execute(self, 0, &cmd)) {
            0 => Ok(()),
            rc => Err(format!("TPM2_Startup({su}) failed with return code {rc:#x}")),
        }
    }
}
