//! Attestation: TPM_Quote and TPM_Quote2 (Part 3 §16.5, §16.6).
//!
//! Quote signs SHA-1 of `TPM_QUOTE_INFO` (1.1.0.0 ‖ "QUOT" ‖ composite hash ‖
//! externalData); Quote2 signs SHA-1 of `TPM_QUOTE_INFO2` (tag ‖ "QUT2" ‖
//! externalData ‖ `TPM_PCR_INFO_SHORT`), optionally followed by
//! `TPM_CAP_VERSION_INFO`.

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{cap, ord, tag};
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

use super::keys::blob::VER_11;
use super::keys::rsa_ops;
use super::pcr::{PcrSelection, locality_bit};
use super::sign::signing_key;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::Quote, quote, tags::RQU_AUTH1, 1, check::ALL),
    OrdinalEntry::new(ord::Quote2, quote2, tags::RQU_AUTH1, 1, check::ALL),
];

fn selection(cmd: &mut Command<'_>) -> Result<PcrSelection, Rc> {
    // libtpms (the differential oracle) answers a malformed selection with TPM_INVALID_PCR_INFO.
    PcrSelection::decode(&mut cmd.params).map_err(|rc| if rc == Rc::BAD_PARAM_SIZE { rc } else { Rc::INVALID_PCR_INFO })
}

/// TPM_Quote: `keyHandle, externalData, targetPCR` in; `pcrData
/// (TPM_PCR_COMPOSITE), sigSize, sig` out.
pub fn quote(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let external: Digest = cmd.params.array()?;
    let target = selection(cmd)?;
    cmd.params.finish()?;
    let key = signing_key(tpm, cmd, 0, key_handle)?;
    let composite = target.composite(&tpm.vol.stclear_data.pcrs);
    let mut info = Writer::new();
    info.bytes(&VER_11).bytes(b"QUOT").bytes(&sha1(&[&composite])).bytes(&external);
    let sig = rsa_ops::sign_sha1(&key.rsa, tpm.rng.as_mut(), &sha1(&[info.as_slice()]))?;
    resp.params.bytes(&composite).sized32(&sig);
    Ok(())
}

/// TPM_Quote2: `keyHandle, externalData, targetPCR, addVersion` in; `pcrData
/// (TPM_PCR_INFO_SHORT), versionInfoSize, versionInfo, sigSize, sig` out.
pub fn quote2(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let key_handle = cmd.params.u32()?;
    let external: Digest = cmd.params.array()?;
    let target = selection(cmd)?;
    let add_version = cmd.params.bool()?;
    cmd.params.finish()?;
    let key = signing_key(tpm, cmd, 0, key_handle)?;
    let digest = if target.is_empty() { [0; 20] } else { target.composite_hash(&tpm.vol.stclear_data.pcrs) };
    let mut short = Writer::new();
    target.encode(&mut short);
    short.u8(locality_bit(cmd.locality)).bytes(&digest);
    let mut info = Writer::new();
    info.u16(tag::QUOTE_INFO2).bytes(b"QUT2").bytes(&external).bytes(short.as_slice());
    let mut version = Writer::new();
    if add_version {
        super::capability::capability(tpm, cap::VERSION_VAL, &[], &mut version)?;
        info.bytes(version.as_slice());
    }
    let sig = rsa_ops::sign_sha1(&key.rsa, tpm.rng.as_mut(), &sha1(&[info.as_slice()]))?;
    resp.params.bytes(short.as_slice()).sized32(version.as_slice()).sized32(&sig);
    Ok(())
}
