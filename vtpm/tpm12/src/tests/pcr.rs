//! TPM_Extend, TPM_PcrRead, TPM_PCR_Reset.

use super::*;
use crate::Rc;
use crate::crypto::sha1;

fn extend_body(i: u32, d: [u8; 20]) -> Vec<u8> {
    [&i.to_be_bytes()[..], &d].concat()
}

#[test]
fn extend_and_read() {
    let mut t = started();
    let _ = t.save_image();
    let (rc, out) = rqu(&mut t, ord::Extend, &extend_body(10, [1; 20]));
    assert_eq!(rc, 0);
    let expect = sha1(&[&[0; 20], &[1; 20]]);
    assert_eq!(out, expect);
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[10])).1, expect);
    // PCRs are volatile: no image write needed.
    assert!(!t.state_changed());
}

#[test]
fn pcr_startup_values() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[17])).1, vec![0xff; 20]);
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[23])).1, vec![0; 20]);
}

#[test]
fn bad_index_and_sizes() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[24])).0, Rc::BADINDEX.0);
    assert_eq!(rqu(&mut t, ord::Extend, &extend_body(24, [0; 20])).0, Rc::BADINDEX.0);
    assert_eq!(rqu(&mut t, ord::Extend, &[0; 23]).0, Rc::BAD_PARAM_SIZE.0);
    assert_eq!(rqu(&mut t, ord::PcrRead, &[0; 5]).0, Rc::BAD_PARAM_SIZE.0);
}

#[test]
fn extend_locality_rules() {
    let mut t = started();
    assert_eq!(rqu_at(&mut t, 0, ord::Extend, &extend_body(17, [0; 20])).0, Rc::BAD_LOCALITY.0);
    assert_eq!(rqu_at(&mut t, 2, ord::Extend, &extend_body(17, [0; 20])).0, 0);
    assert_eq!(rqu_at(&mut t, 1, ord::Extend, &extend_body(21, [0; 20])).0, Rc::BAD_LOCALITY.0);
    assert_eq!(rqu_at(&mut t, 9, ord::Extend, &extend_body(0, [0; 20])).0, Rc::BAD_LOCALITY.0);
}

#[test]
fn pcr_reset_rules() {
    let mut t = started();
    rqu(&mut t, ord::Extend, &extend_body(16, [1; 20]));
    rqu(&mut t, ord::Extend, &extend_body(0, [1; 20]));
    // Select PCR 16 (byte 2, bit 0).
    assert_eq!(rqu(&mut t, ord::PCR_Reset, &[0, 3, 0, 0, 1]).0, 0);
    assert_eq!(rqu(&mut t, ord::PcrRead, &be32s(&[16])).1, vec![0; 20]);
    // PCR 0 is not resettable.
    assert_eq!(rqu(&mut t, ord::PCR_Reset, &[0, 3, 1, 0, 0]).0, Rc::NOTRESETABLE.0);
    // PCR 17 needs locality 4.
    assert_eq!(rqu(&mut t, ord::PCR_Reset, &[0, 3, 0, 0, 2]).0, Rc::NOTLOCAL.0);
    assert_eq!(rqu_at(&mut t, 4, ord::PCR_Reset, &[0, 3, 0, 0, 2]).0, 0);
    // Oversized selection.
    assert_eq!(rqu(&mut t, ord::PCR_Reset, &[0, 4, 0, 0, 0, 1]).0, Rc::INVALID_PCR_INFO.0);
}
