//! The TPM 2.0 engine (`vtpm/tpm20`) behind the [`Engine`] seam, and its start: manufacture
//! (primary seeds from the injected RNG), then `TPM2_Startup(CLEAR)` and `TPM2_SelfTest`
//! as a platform firmware would, so a guest's own TPM2_Startup gets `TPM_RC_INITIALIZE`,
//! which Linux handles. Not yet selectable in the image (the lead wires an option).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::hv::Clock;
use tpm_frame::TPM_ST_NO_SESSIONS;
use tpm20::{Tpm, TpmRng};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::options::VtpmOptions;

/// `tpm20::Tpm` as an [`Engine`].
pub struct Tpm20Engine(pub Tpm);

impl Engine for Tpm20Engine {
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

    fn platform_reset(&mut self, _opts: &VtpmOptions) -> String {
        self.0.init();
        power_on(self)
    }
}

const TPM_CC_STARTUP: u32 = 0x144;
const TPM_CC_SELF_TEST: u32 = 0x143;
const TPM_SU_CLEAR: u16 = 0;

/// `TPM2_Startup(TPM_SU_CLEAR)`.
fn startup_clear() -> Vec<u8> {
    tpm_frame::command(TPM_ST_NO_SESSIONS, TPM_CC_STARTUP, &TPM_SU_CLEAR.to_be_bytes())
}

/// `TPM2_SelfTest(fullTest = YES)`.
fn self_test_full() -> Vec<u8> {
    tpm_frame::command(TPM_ST_NO_SESSIONS, TPM_CC_SELF_TEST, &[1])
}

/// Manufactures the engine, then runs TPM2_Startup(CLEAR) and TPM2_SelfTest(YES). Returns
/// the engine (its change flag taken: volatile) and the console line saying how it went.
pub fn start(time: &impl Clock, rng: Box<dyn TpmRng>, clock: Box<dyn tpm20::Clock>) -> (Tpm20Engine, String) {
    let t0 = time.now_ns();
    let mut engine = Tpm20Engine(Tpm::manufacture(rng, clock));
    let t1 = time.now_ns();
    let line = format!(
        "Info: TPM 2.0 engine manufactured in {} ms (primary seeds generated); {}",
        t1.saturating_sub(t0) / 1_000_000,
        power_on(&mut engine)
    );
    engine.take_changed();
    (engine, line)
}

/// TPM2_Startup(CLEAR) and TPM2_SelfTest on a manufactured or restored engine; returns the
/// console text (`TPM2_Startup(CLEAR) rc=0x0, TPM2_SelfTest rc=0x0`). The change flag is left
/// alone (a persisting vtpm saves what Startup changed).
pub fn power_on(engine: &mut Tpm20Engine) -> String {
    let rc = |r: Vec<u8>| tpm_frame::return_code(&r).unwrap_or(u32::MAX);
    let rc_startup = rc(engine.execute(0, &startup_clear()));
    let rc_selftest = rc(engine.execute(0, &self_test_full()));
    format!("TPM2_Startup(CLEAR) rc={rc_startup:#x}, TPM2_SelfTest rc={rc_selftest:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Clock for Fixed {
        fn now_ns(&self) -> u64 {
            0
        }
        fn wait_until(&mut self, _deadline_ns: u64) {}
    }

    /// A seeded generator for the test (rand_chacha, as the image's CSPRNG).
    fn rng() -> Box<dyn TpmRng> {
        use rand_chacha::rand_core::SeedableRng;
        Box::new(rand_chacha::ChaCha20Rng::from_seed([7; 32]))
    }

    #[test]
    fn starts_and_serves_through_the_seam() {
        assert_eq!(startup_clear(), [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0]);
        let (mut engine, line) = start(&Fixed, rng(), Box::new(tpm20::ManualClock(0)));
        assert!(line.ends_with("TPM2_Startup(CLEAR) rc=0x0, TPM2_SelfTest rc=0x0"), "{line}");
        assert!(!engine.take_changed());
        // a guest's own Startup: TPM_RC_INITIALIZE
        let r = engine.execute(0, &startup_clear());
        assert_eq!(tpm_frame::return_code(&r), Some(0x100));
        // GetRandom does not change permanent state; Shutdown does
        let r = engine.execute(0, &tpm_frame::command(TPM_ST_NO_SESSIONS, 0x17B, &[0, 8]));
        assert_eq!(r.len(), 20);
        assert!(engine.take_image_if_changed().is_none());
        let r = engine.execute(0, &tpm_frame::command(TPM_ST_NO_SESSIONS, 0x145, &[0, 1]));
        assert_eq!(tpm_frame::return_code(&r), Some(0));
        let image = engine.take_image_if_changed().expect("Shutdown(STATE) changes the image");
        assert!(Tpm::from_image(&image, rng(), Box::new(tpm20::ManualClock(0))).is_ok());
    }
}
