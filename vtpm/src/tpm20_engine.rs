//! The TPM 2.0 engine (`vtpm/tpm20`) behind the [`Engine`] seam, and its start: manufacture
//! (primary seeds from the injected RNG), then `TPM2_Startup(CLEAR)` and `TPM2_SelfTest`
//! as a platform firmware would, so a guest's own TPM2_Startup gets `TPM_RC_INITIALIZE`,
//! which Linux handles. The image runs it with `tpm2=1`.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::hv::Clock;
use tpm_frame::{
    HEADER_LEN, Header, TPM_FAIL, TPM_ST_NO_SESSIONS, TPM_SUCCESS, TPM_TAG_RQU_COMMAND, TPM_TAG_RSP_COMMAND,
};
use tpm20::{Tpm, TpmRng};
use zeroize::Zeroizing;

use crate::engine::Engine;
use crate::options::VtpmOptions;

/// `tpm20::Tpm` as an [`Engine`].
pub struct Tpm20Engine(pub Tpm);

impl Engine for Tpm20Engine {
    fn execute(&mut self, locality: u8, command: &[u8]) -> Vec<u8> {
        if let Some(answer) = tpm12_timeout_probe(command) {
            return answer;
        }
        if let Some(answer) = tpm12_get_random(&mut self.0, locality, command) {
            return answer;
        }
        if let Some(answer) = tpm12_pcr_read(&mut self.0, locality, command) {
            return answer;
        }
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

    fn power_on(&mut self, _opts: &VtpmOptions) -> String {
        power_on(self)
    }
}

/// How a persisting vtpm makes its TPM 2.0 engine (`persist::start_with`).
pub struct Tpm20Factory {
    pub rng: Box<dyn TpmRng>,
    pub clock: Box<dyn tpm20::Clock>,
}

impl crate::persist::EngineFactory for Tpm20Factory {
    type Engine = Tpm20Engine;
    const KIND: vtpm_store::RecordKind = vtpm_store::RecordKind::TPM20_STATE;
    const MANUFACTURED: &'static str = "TPM 2.0 engine manufactured";
    const MADE: &'static str = "primary seeds generated";

    fn restore(self, image: &[u8]) -> Result<Tpm20Engine, String> {
        Tpm::from_image(image, self.rng, self.clock).map(Tpm20Engine).map_err(|e| format!("{e:?}"))
    }

    fn manufacture(self) -> Result<Tpm20Engine, String> {
        Ok(Tpm20Engine(Tpm::manufacture(self.rng, self.clock)))
    }
}

/// The parameters of a TPM 1.2 command `ordinal` without sessions, if `command` is exactly
/// that and `len` bytes long (paramSize included); `None` for anything else.
fn tpm12_request(command: &[u8], ordinal: u32, len: usize) -> Option<&[u8]> {
    let h = Header::parse(command)?;
    let ours =
        command.len() == len && h.tag == TPM_TAG_RQU_COMMAND && h.param_size as usize == len && h.code == ordinal;
    ours.then(|| &command[HEADER_LEN..])
}

/// The big-endian u32 at `at` in `b`.
fn be32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A TPM 1.2 success response carrying `body`.
fn tpm12_success(body: &[u8]) -> Vec<u8> {
    tpm_frame::command(TPM_TAG_RSP_COMMAND, TPM_SUCCESS, body)
}

/// An unmodified Linux guest's xen-tpmfront always takes its vTPM for a TPM 1.2: its probe asks
/// `TPM_GetCapability(TPM_CAP_PROPERTY, TIS_TIMEOUT / DURATION)` in TPM 1.2 frames, and without
/// an answer every command of the guest's TPM core gets the 120 s fallback timeouts
/// (wave2-facts §5). These two questions are answered as our TPM 1.2 answers them (the same
/// values); every other TPM 1.2 frame goes to the TPM 2.0 engine, which refuses it.
fn tpm12_timeout_probe(command: &[u8]) -> Option<Vec<u8>> {
    const ORD_GET_CAPABILITY: u32 = 0x65;
    const CAP_PROPERTY: u32 = 5;
    const PROP_TIS_TIMEOUT: u32 = 0x115;
    const PROP_DURATION: u32 = 0x120;
    const PROP_PCR: u32 = 0x101;
    let params = tpm12_request(command, ORD_GET_CAPABILITY, 22)?;
    if be32(params, 0)? != CAP_PROPERTY || be32(params, 4)? != 4 {
        return None;
    }
    let values: &[u32] = match be32(params, 8)? {
        PROP_TIS_TIMEOUT => &tpm12::cmd::identity::TIS_TIMEOUTS_US,
        PROP_DURATION => &tpm12::cmd::identity::DURATIONS_US,
        // how many PCRs the kernel's sysfs `pcrs` file lists (read with TPM_PCRRead, below)
        PROP_PCR => &[TPM12_PCRS],
        _ => return None,
    };
    let mut body = Vec::with_capacity(4 + 4 * values.len());
    body.extend_from_slice(&(4 * values.len() as u32).to_be_bytes());
    for v in values {
        body.extend_from_slice(&v.to_be_bytes());
    }
    Some(tpm12_success(&body))
}

/// The largest `TPM_GetRandom` answered in a TPM 1.2 frame (Linux asks for at most 128).
const TPM12_GET_RANDOM_MAX: u32 = 4096;

/// The guest kernel, which took its TPM for a TPM 1.2 (above), feeds its hwrng with TPM 1.2
/// `TPM_GetRandom` (every few seconds at first; refused, each is a "TPM error (30) occurred
/// attempting get random" in its log). Answered in a TPM 1.2 frame from the TPM 2.0 engine's
/// own `TPM2_GetRandom`, so the guest kernel gets its entropy from the vTPM as from a TPM 1.2.
fn tpm12_get_random(tpm: &mut Tpm, locality: u8, command: &[u8]) -> Option<Vec<u8>> {
    const ORD_GET_RANDOM: u32 = 0x46;
    const TPM_CC_GET_RANDOM: u32 = 0x17B;
    let params = tpm12_request(command, ORD_GET_RANDOM, 14)?;
    let wanted = be32(params, 0)?.min(TPM12_GET_RANDOM_MAX) as usize;
    // randomBytesSize, then the bytes
    let mut body = Zeroizing::new(Vec::with_capacity(4 + wanted));
    body.extend_from_slice(&(wanted as u32).to_be_bytes());
    while body.len() < 4 + wanted {
        let ask = (4 + wanted - body.len()).min(32) as u16;
        let r = tpm.execute(locality, &tpm_frame::command(TPM_ST_NO_SESSIONS, TPM_CC_GET_RANDOM, &ask.to_be_bytes()));
        // response: header (10), TPM2B_DIGEST (size, bytes)
        let got = r.get(10..12).map(|n| u16::from_be_bytes([n[0], n[1]]) as usize);
        match (tpm_frame::return_code(&r), got) {
            (Some(0), Some(n)) if n > 0 && n <= usize::from(ask) && r.len() == 12 + n => {
                body.extend_from_slice(&r[12..]);
            }
            _ => return Some(tpm_frame::error_response(TPM_FAIL).to_vec()),
        }
    }
    Some(tpm12_success(&body))
}

/// The PCRs a TPM 1.2 has (the kernel's `TPM_CAP_PROP_PCR`).
const TPM12_PCRS: u32 = 24;

/// The kernel's TPM 1.2 `TPM_PCRRead` (its sysfs `pcrs` file): answered with the PCR's value in
/// the TPM 2.0 engine's SHA-1 bank (`TPM2_PCR_Read`), the bank a TPM 1.2 view has. Read only:
/// a TPM 1.2 `TPM_Extend` is not mapped (it would extend one bank and not the others).
fn tpm12_pcr_read(tpm: &mut Tpm, locality: u8, command: &[u8]) -> Option<Vec<u8>> {
    const ORD_PCR_READ: u32 = 0x15;
    const TPM_CC_PCR_READ: u32 = 0x17E;
    const TPM_ALG_SHA1: u16 = 0x0004;
    const TPM_BADINDEX: u32 = 0x02;
    let index = be32(tpm12_request(command, ORD_PCR_READ, 14)?, 0)?;
    if index >= TPM12_PCRS {
        return Some(tpm_frame::error_response(TPM_BADINDEX).to_vec());
    }
    // TPML_PCR_SELECTION: one selection, SHA-1, 3 bytes of bitmap with the one bit
    let mut select = [0u8; 3];
    select[index as usize / 8] = 1 << (index % 8);
    let mut body = Vec::with_capacity(10);
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&TPM_ALG_SHA1.to_be_bytes());
    body.push(3);
    body.extend_from_slice(&select);
    let r = tpm.execute(locality, &tpm_frame::command(TPM_ST_NO_SESSIONS, TPM_CC_PCR_READ, &body));
    // header 10, pcrUpdateCounter 4, the selection out (4 + 2 + 1 + 3), digest count 4, TPM2B 2 + 20
    let ok = tpm_frame::return_code(&r) == Some(0)
        && r.len() == 50
        && r.get(21..24) == Some(&select[..])
        && be32(&r, 24) == Some(1)
        && r.get(28..30) == Some(&[0, 20][..]);
    if !ok {
        return Some(tpm_frame::error_response(TPM_FAIL).to_vec());
    }
    Some(tpm12_success(&r[30..50]))
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

    /// Linux's TPM 1.2 probe of the timeouts: answered as the TPM 1.2 engine answers it.
    #[test]
    fn the_tpm12_timeout_probe_gets_the_tpm12_answer() {
        let (mut engine, _) = start(&Fixed, rng(), Box::new(tpm20::ManualClock(0)));
        let mut tpm12 = tpm12::Tpm::manufacture(
            {
                use rand_chacha::rand_core::SeedableRng;
                Box::new(rand_chacha::ChaCha20Rng::from_seed([1; 32]))
            },
            Box::new(tpm12::platform::ManualClock(0)),
            tpm12::TpmOptions { ek_bits: 1024, ..tpm12::TpmOptions::default() },
        )
        .expect("manufactured");
        tpm12.execute(0, &[0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1]);
        for subcap in [0x115u32, 0x120, 0x101] {
            let mut cmd = vec![0x00, 0xC1, 0, 0, 0, 22, 0, 0, 0, 0x65, 0, 0, 0, 5, 0, 0, 0, 4];
            cmd.extend_from_slice(&subcap.to_be_bytes());
            let ours = engine.execute(0, &cmd);
            assert_eq!(ours, tpm12.execute(0, &cmd), "{subcap:#x}");
            assert_eq!(tpm_frame::return_code(&ours), Some(0));
        }
        // anything else in a TPM 1.2 frame is the TPM 2.0 engine's to refuse
        let mut other = vec![0x00, 0xC1, 0, 0, 0, 22, 0, 0, 0, 0x65, 0, 0, 0, 5, 0, 0, 0, 4];
        other.extend_from_slice(&0x108u32.to_be_bytes());
        assert_ne!(tpm_frame::return_code(&engine.execute(0, &other)), Some(0));
        assert_eq!(tpm12_timeout_probe(&other[..21]), None);
    }

    /// The kernel's sysfs `pcrs`: TPM 1.2 TPM_PCRRead shows the SHA-1 bank, before and after a
    /// TPM2_PCR_Extend of both banks; out-of-range indexes get TPM_BADINDEX.
    #[test]
    fn the_kernels_tpm12_pcr_read_shows_the_sha1_bank() {
        let (mut engine, _) = start(&Fixed, rng(), Box::new(tpm20::ManualClock(0)));
        let read = |e: &mut Tpm20Engine, i: u32| e.execute(0, &read_cmd(i));
        let r = read(&mut engine, 12);
        assert_eq!(r, [&[0x00, 0xC4, 0, 0, 0, 30, 0, 0, 0, 0][..], &[0u8; 20][..]].concat());
        // TPM2_PCR_Extend(12) with a SHA-1 and a SHA-256 digest (empty password session)
        let mut body = Vec::new();
        body.extend_from_slice(&12u32.to_be_bytes());
        body.extend_from_slice(&9u32.to_be_bytes());
        body.extend_from_slice(&[0x40, 0, 0, 9, 0, 0, 0x01, 0, 0]);
        body.extend_from_slice(&2u32.to_be_bytes());
        body.extend_from_slice(&[0, 4]);
        body.extend_from_slice(&[0xAB; 20]);
        body.extend_from_slice(&[0, 0x0B]);
        body.extend_from_slice(&[0xCD; 32]);
        let r = engine.execute(0, &tpm_frame::command(0x8002, 0x182, &body));
        assert_eq!(tpm_frame::return_code(&r), Some(0), "{r:02x?}");
        // the same value as TPM2_PCR_Read of the SHA-1 bank gives (its last 20 bytes)
        let r2 = engine.execute(0, &tpm_frame::command(TPM_ST_NO_SESSIONS, 0x17E, &[0, 0, 0, 1, 0, 4, 3, 0, 0x10, 0]));
        assert_eq!(r2.len(), 50);
        let sha1_bank = &r2[30..];
        assert_ne!(sha1_bank, [0u8; 20]);
        assert_eq!(read(&mut engine, 12)[10..], *sha1_bank);
        assert_eq!(read(&mut engine, 11)[10..], [0u8; 20]);
        for bad in [24u32, 0xFFFF_FFFF] {
            assert_eq!(read(&mut engine, bad), [0x00, 0xC4, 0, 0, 0, 10, 0, 0, 0, 2], "{bad}");
        }
        let mut long = read_cmd(12);
        long.push(0);
        assert_eq!(tpm12_pcr_read(&mut engine.0, 0, &long), None);
    }

    fn read_cmd(i: u32) -> Vec<u8> {
        let mut c = vec![0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15];
        c.extend_from_slice(&i.to_be_bytes());
        c
    }

    /// The guest kernel's hwrng: TPM 1.2 TPM_GetRandom gets TPM 1.2 answers of the asked size,
    /// from the TPM 2.0 engine's RNG (different each time); malformed frames are not answered
    /// here, and a TPM 2.0 GetRandom is the engine's as before.
    #[test]
    fn the_kernels_tpm12_get_random_is_answered_from_the_tpm20_rng() {
        let (mut engine, _) = start(&Fixed, rng(), Box::new(tpm20::ManualClock(0)));
        let get = |n: u32| {
            let mut c = vec![0x00, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x46];
            c.extend_from_slice(&n.to_be_bytes());
            c
        };
        let mut seen = Vec::new();
        for n in [0u32, 1, 32, 33, 128, 100_000] {
            let r = engine.execute(0, &get(n));
            let want = n.min(TPM12_GET_RANDOM_MAX) as usize;
            assert_eq!(r[..2], [0x00, 0xC4], "{n}");
            assert_eq!(tpm_frame::return_code(&r), Some(0), "{n}");
            assert_eq!(u32::from_be_bytes([r[2], r[3], r[4], r[5]]) as usize, r.len(), "{n}");
            assert_eq!(u32::from_be_bytes([r[10], r[11], r[12], r[13]]) as usize, want, "{n}");
            assert_eq!(r.len(), 14 + want, "{n}");
            if want >= 32 {
                assert!(!seen.contains(&r[14..46].to_vec()), "fresh bytes each time");
                seen.push(r[14..46].to_vec());
            }
        }
        assert!(!engine.take_changed(), "GetRandom changes no permanent state");
        let mut long = get(8);
        long.push(0);
        assert_eq!(tpm12_get_random(&mut engine.0, 0, &long), None);
        assert_eq!(tpm12_get_random(&mut engine.0, 0, &get(8)[..13]), None);
        let r = engine.execute(0, &tpm_frame::command(TPM_ST_NO_SESSIONS, 0x17B, &[0, 8]));
        assert_eq!((r[..2].to_vec(), r.len()), (vec![0x80, 0x01], 20));
    }
}
