//! Engine tests driven through `Tpm::execute`, one file per command area.

mod audit;
mod capability;
mod counter;
mod data;
mod dispatch;
mod entity_binding;
mod fuzz_regressions;
mod identity;
mod keys;
mod lifecycle;
mod misc;
mod nv;
mod owned;
mod ownership;
mod pcr;
mod sessions;
mod state;
mod transport;

use alloc::vec::Vec;

use crate::constants::{ord, st, tag};
use crate::testing::{request, response_rc, test_ek, tpm_with_ek};
use crate::{Tpm, TpmOptions};

/// A manufactured TPM, powered on, not started.
pub fn fresh() -> Tpm {
    tpm_with_ek(test_ek(), 1, TpmOptions::default())
}

/// A manufactured TPM after TPM_Startup(ST_CLEAR).
pub fn started() -> Tpm {
    let mut t = fresh();
    let r = t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &st::CLEAR.to_be_bytes()));
    assert_eq!(response_rc(&r), 0);
    t
}

/// Sends an RQU command at locality 0; returns (rc, body after the header).
pub fn rqu(t: &mut Tpm, ordinal: u32, body: &[u8]) -> (u32, Vec<u8>) {
    rqu_at(t, 0, ordinal, body)
}

/// Sends an RQU command at `locality`; returns (rc, body after the header).
pub fn rqu_at(t: &mut Tpm, locality: u8, ordinal: u32, body: &[u8]) -> (u32, Vec<u8>) {
    let r = t.execute(locality, &request(tag::RQU_COMMAND, ordinal, body));
    check_shape(&r, tag::RSP_COMMAND);
    (response_rc(&r), r[10..].to_vec())
}

/// Every response: header present, paramSize = length, error responses are 10 bytes.
pub fn check_shape(r: &[u8], rsp_tag: u16) {
    assert!(r.len() >= 10, "short response {r:?}");
    assert_eq!(u16::from_be_bytes([r[0], r[1]]), rsp_tag);
    assert_eq!(u32::from_be_bytes([r[2], r[3], r[4], r[5]]) as usize, r.len());
    if response_rc(r) != 0 {
        assert_eq!(r.len(), 10);
    }
}

/// Concatenates u32s big-endian.
pub fn be32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}
