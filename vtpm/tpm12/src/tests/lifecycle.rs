//! TPM_Startup, SaveState, self-test.

use super::*;
use crate::Rc;

#[test]
fn startup_twice_is_invalid_postinit() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, Rc::INVALID_POSTINIT.0);
}

#[test]
fn startup_bad_type_and_size() {
    let mut t = fresh();
    assert_eq!(rqu(&mut t, ord::Startup, &[0, 9]).0, Rc::BAD_PARAMETER.0);
    assert_eq!(rqu(&mut t, ord::Startup, &[0]).0, Rc::BAD_PARAM_SIZE.0);
    assert_eq!(rqu(&mut t, ord::Startup, &[0, 1, 0]).0, Rc::BAD_PARAM_SIZE.0);
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, 0);
}

#[test]
fn startup_state_without_saved_state_allows_clear() {
    let mut t = fresh();
    assert_eq!(rqu(&mut t, ord::Startup, &st::STATE.to_be_bytes()).0, Rc::FAIL.0);
    assert_eq!(rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes()).0, 0);
}

#[test]
fn save_state_then_startup_state_restores_pcrs() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::Extend, &[&be32s(&[3])[..], &[7; 20]].concat()).0, 0);
    assert_eq!(rqu(&mut t, ord::Extend, &[&be32s(&[16])[..], &[7; 20]].concat()).0, 0);
    let (_, pcr3) = rqu(&mut t, ord::PcrRead, &be32s(&[3]));
    assert_eq!(rqu(&mut t, ord::SaveState, &[]).0, 0);
    assert!(t.state_changed());
    let image = t.save_image();
    let mut t2 = Tpm::from_image(
        &image,
        alloc::boxed::Box::new(crate::testing::DetRng::new(5)),
        alloc::boxed::Box::new(crate::platform::ManualClock(0)),
        TpmOptions::default(),
    )
    .unwrap();
    assert_eq!(rqu(&mut t2, ord::Startup, &st::STATE.to_be_bytes()).0, 0);
    assert_eq!(rqu(&mut t2, ord::PcrRead, &be32s(&[3])).1, pcr3);
    // PCR 16 is resettable: back to its startup value.
    assert_eq!(rqu(&mut t2, ord::PcrRead, &be32s(&[16])).1, vec![0; 20]);
    // The saved state is consumed.
    assert!(t2.saved.is_none());
    assert!(t2.state_changed());
}

#[test]
fn command_after_save_state_invalidates_it() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::SaveState, &[]).0, 0);
    assert!(t.saved.is_some());
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[0])).0, 0);
    assert!(t.saved.is_none());
}

#[test]
fn startup_deactivated_sets_flag() {
    let mut t = fresh();
    assert_eq!(rqu(&mut t, ord::Startup, &st::DEACTIVATED.to_be_bytes()).0, 0);
    assert!(t.vol.stclear_flags.deactivated);
}

#[test]
fn self_test_and_result() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::SelfTestFull, &[]).0, 0);
    assert_eq!(rqu(&mut t, ord::ContinueSelfTest, &[]).0, 0);
    let (rc, body) = rqu(&mut t, ord::GetTestResult, &[]);
    assert_eq!(rc, 0);
    assert_eq!(body, [0, 0, 0, 1, 0]);
    assert_eq!(rqu(&mut t, ord::SelfTestFull, &[1]).0, Rc::BAD_PARAM_SIZE.0);
}
