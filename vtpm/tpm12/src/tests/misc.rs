//! GetRandom, StirRandom, the SHA-1 thread, physical presence, ticks.

use super::*;
use crate::Rc;
use crate::constants::physical_presence as pp;
use crate::crypto::sha1;

#[test]
fn get_random_sizes() {
    let mut t = started();
    let (rc, out) = rqu(&mut t, ord::GetRandom, &be32s(&[16]));
    assert_eq!(rc, 0);
    assert_eq!(out[..4], [0, 0, 0, 16]);
    assert_eq!(out.len(), 20);
    let (_, out2) = rqu(&mut t, ord::GetRandom, &be32s(&[16]));
    assert_ne!(out, out2);
    let (rc, out) = rqu(&mut t, ord::GetRandom, &be32s(&[u32::MAX]));
    assert_eq!(rc, 0);
    assert_eq!(out.len() + 10, 4088);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[0])).1, vec![0, 0, 0, 0]);
}

#[test]
fn stir_random() {
    let mut t = started();
    let mut body = be32s(&[3]);
    body.extend_from_slice(b"abc");
    assert_eq!(rqu(&mut t, ord::StirRandom, &body).0, 0);
    let mut body = be32s(&[256]);
    body.extend_from_slice(&[0; 256]);
    assert_eq!(rqu(&mut t, ord::StirRandom, &body).0, Rc::BAD_PARAMETER.0);
    // Stirring changes the output stream relative to an unstirred twin.
    let mut a = started();
    let mut b = started();
    let mut body = be32s(&[1]);
    body.push(9);
    rqu(&mut a, ord::StirRandom, &body);
    assert_ne!(rqu(&mut a, ord::GetRandom, &be32s(&[20])).1, rqu(&mut b, ord::GetRandom, &be32s(&[20])).1);
}

#[test]
fn sha1_thread() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::SHA1Update, &be32s(&[0])).0, Rc::SHA_THREAD.0);
    let (rc, out) = rqu(&mut t, ord::SHA1Start, &[]);
    assert_eq!((rc, out), (0, be32s(&[2048])));
    let block = [7u8; 64];
    assert_eq!(rqu(&mut t, ord::SHA1Update, &[&be32s(&[64])[..], &block].concat()).0, 0);
    let (rc, out) = rqu(&mut t, ord::SHA1Complete, &[&be32s(&[3])[..], b"xyz"].concat());
    assert_eq!(rc, 0);
    assert_eq!(out, sha1(&[&block, b"xyz"]));
    assert_eq!(rqu(&mut t, ord::SHA1Complete, &be32s(&[0])).0, Rc::SHA_THREAD.0);
    // Not a multiple of 64.
    rqu(&mut t, ord::SHA1Start, &[]);
    assert_eq!(rqu(&mut t, ord::SHA1Update, &[&be32s(&[3])[..], b"xyz"].concat()).0, Rc::SHA_ERROR.0);
    // Another command ends the thread.
    rqu(&mut t, ord::SHA1Start, &[]);
    rqu(&mut t, ord::PcrRead, &be32s(&[0]));
    assert_eq!(rqu(&mut t, ord::SHA1Complete, &be32s(&[0])).0, Rc::SHA_THREAD.0);
    // CompleteExtend.
    rqu(&mut t, ord::SHA1Start, &[]);
    let (rc, out) = rqu(&mut t, ord::SHA1CompleteExtend, &[&be32s(&[5, 1])[..], b"a"].concat());
    assert_eq!(rc, 0);
    let d = sha1(&[b"a"]);
    assert_eq!(out[..20], d);
    assert_eq!(out[20..], sha1(&[&[0; 20], &d]));
}

fn tsc(t: &mut Tpm, bits: u16) -> u32 {
    rqu(t, ord::TSC_PhysicalPresence, &bits.to_be_bytes()).0
}

fn no_hw_pp() -> Tpm {
    let mut t = crate::testing::tpm_with_ek(
        crate::testing::test_ek(),
        3,
        TpmOptions { hardware_physical_presence: false, ..TpmOptions::default() },
    );
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, 0);
    t
}

#[test]
fn physical_presence_rules() {
    let mut t = no_hw_pp();
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, Rc::BAD_PRESENCE.0);
    assert_eq!(tsc(&mut t, pp::PRESENT), 0);
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, 0);
    assert!(t.perm.flags.disable);
    // Disabled: PhysicalDisable needs enabled; PhysicalEnable works.
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, Rc::DISABLED.0);
    assert_eq!(rqu(&mut t, ord::PhysicalEnable, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[1]).0, 0);
    assert!(t.perm.flags.deactivated);
    assert!(!t.vol.stclear_flags.deactivated, "takes effect at next startup");
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[2]).0, Rc::BAD_PARAMETER.0);
    // Contradictions.
    assert_eq!(tsc(&mut t, pp::PRESENT | pp::NOTPRESENT), Rc::BAD_PARAMETER.0);
    assert_eq!(tsc(&mut t, pp::PRESENT | pp::CMD_ENABLE), Rc::BAD_PARAMETER.0);
    assert_eq!(tsc(&mut t, 0x0001), Rc::BAD_PARAMETER.0);
    // Lock.
    assert_eq!(tsc(&mut t, pp::NOTPRESENT | pp::LOCK), 0);
    assert_eq!(tsc(&mut t, pp::PRESENT), Rc::BAD_PARAMETER.0);
    assert_eq!(rqu(&mut t, ord::PhysicalEnable, &[]).0, Rc::BAD_PRESENCE.0);
    // Lifetime lock freezes the configuration.
    assert_eq!(tsc(&mut t, pp::CMD_DISABLE | pp::LIFETIME_LOCK), 0);
    assert_eq!(tsc(&mut t, pp::CMD_ENABLE), Rc::BAD_PARAMETER.0);
}

#[test]
fn deactivated_and_disabled_gating() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[1]).0, 0);
    t.init();
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, 0);
    assert!(t.vol.stclear_flags.deactivated);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[4])).0, Rc::DEACTIVATED.0);
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[0])).0, Rc::DEACTIVATED.0);
    // Extend is available while deactivated (PC Client boot needs it).
    assert_eq!(rqu(&mut t, ord::Extend, &[0; 24]).0, 0);
    assert_eq!(rqu(&mut t, ord::PhysicalDisable, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[4])).0, Rc::DISABLED.0);
    assert_eq!(rqu(&mut t, ord::PhysicalEnable, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::PhysicalSetDeactivated, &[0]).0, 0);
    assert_eq!(rqu(&mut t, ord::SetTempDeactivated, &[]).0, Rc::DEACTIVATED.0);
}

#[test]
fn set_temp_deactivated() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::SetTempDeactivated, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::GetRandom, &be32s(&[4])).0, Rc::DEACTIVATED.0);
    assert!(!t.perm.flags.deactivated);
}

#[test]
fn ticks() {
    let mut t = started();
    let (rc, out) = rqu(&mut t, ord::GetTicks, &[]);
    assert_eq!(rc, 0);
    assert_eq!(out.len(), 2 + 8 + 2 + 20);
    assert_eq!(out[..2], [0, 0x14]);
    assert_eq!(out[10..12], [0, 1]);
    assert_eq!(rqu(&mut t, ord::GetTicks, &[0]).0, Rc::BAD_PARAM_SIZE.0);
    // TickStampBlob needs a loaded key.
    assert_ne!(rqu(&mut t, ord::TickStampBlob, &[&be32s(&[0x1234])[..], &[0; 40]].concat()).0, 0);
}
