//! The endorsement key: TPM_CreateEndorsementKeyPair, ReadPubek,
//! OwnerReadPubek, OwnerReadInternalPub, DisablePubekRead (Part 3 §14, §27.6).
//!
//! A manufactured TPM already has its EK ([`crate::manufacture`]), so
//! CreateEndorsementKeyPair normally answers `TPM_DISABLED_CMD`.

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{alg, kh, scheme};
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, Response};
use crate::manufacture::{create_endorsement_key, encode_ek_pubkey};

use super::super::keys::blob::KeyParms;
use crate::auth;

/// `TPM_PUBKEY` of the EK (`TPM_NO_ENDORSEMENT` if there is none).
fn ek_pubkey(tpm: &Tpm) -> Result<Writer, Rc> {
    let ek = tpm.perm.data.endorsement_key.as_ref().ok_or(Rc::NO_ENDORSEMENT)?;
    let mut w = Writer::new();
    encode_ek_pubkey(ek, &mut w);
    Ok(w)
}

/// Writes `pubEndorsementKey ‖ checksum` (checksum = SHA-1(pubkey ‖ antiReplay)).
fn write_with_checksum(pubkey: &Writer, anti_replay: &Digest, resp: &mut Response) {
    resp.params.bytes(pubkey.as_slice()).bytes(&sha1(&[pubkey.as_slice(), anti_replay]));
}

/// TPM_CreateEndorsementKeyPair: `antiReplay, keyInfo` in;
/// `pubEndorsementKey, checksum` out. Only RSA-2048 OAEP is accepted.
pub fn create_endorsement_key_pair(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let anti_replay: Digest = cmd.params.array()?;
    let key_info = KeyParms::decode(&mut cmd.params)?;
    cmd.params.finish()?;
    if tpm.perm.data.endorsement_key.is_some() {
        return Err(Rc::DISABLED_CMD);
    }
    let p = key_info.rsa()?;
    if key_info.algorithm != alg::RSA
        || key_info.enc_scheme != scheme::ES_RSAESOAEP_SHA1_MGF1
        || key_info.sig_scheme != scheme::SS_NONE
        || p.num_primes != 2
        || !p.exponent.is_empty()
        || p.key_length as usize != tpm.options.ek_bits
    {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    create_endorsement_key(tpm)?;
    tpm.perm.flags.CEKPUsed = true;
    tpm.perm.flags.enableRevokeEK = false;
    tpm.mark_state_changed();
    let pubkey = ek_pubkey(tpm)?;
    write_with_checksum(&pubkey, &anti_replay, resp);
    Ok(())
}

/// TPM_ReadPubek: `antiReplay` in; `pubEndorsementKey, checksum` out.
/// `TPM_DISABLED_CMD` once `readPubek` is FALSE (after TakeOwnership).
pub fn read_pubek(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let anti_replay: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    if !tpm.perm.flags.readPubek {
        return Err(Rc::DISABLED_CMD);
    }
    let pubkey = ek_pubkey(tpm)?;
    write_with_checksum(&pubkey, &anti_replay, resp);
    Ok(())
}

/// TPM_OwnerReadPubek (owner authorized): `pubEndorsementKey` out.
pub fn owner_read_pubek(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    resp.params.bytes(ek_pubkey(tpm)?.as_slice());
    Ok(())
}

/// TPM_OwnerReadInternalPub: `keyHandle` (TPM_KH_EK or TPM_KH_SRK) in;
/// `publicPortion` out (owner authorized).
pub fn owner_read_internal_pub(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let handle = cmd.params.u32()?;
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    let w = match handle {
        kh::EK => ek_pubkey(tpm)?,
        kh::SRK => {
            let srk = tpm.perm.data.srk.as_ref().ok_or(Rc::NOSRK)?;
            super::pubkey_of(&srk.public_blob)?
        }
        _ => return Err(Rc::BAD_PARAMETER),
    };
    resp.params.bytes(w.as_slice());
    Ok(())
}

/// TPM_DisablePubekRead (owner authorized): `readPubek` = FALSE.
pub fn disable_pubek_read(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    tpm.perm.flags.readPubek = false;
    tpm.mark_state_changed();
    Ok(())
}

/// Parses a `TPM_PUBKEY` (tests and clients): (parms, modulus).
pub fn parse_pubkey(b: &[u8]) -> Result<(KeyParms, alloc::vec::Vec<u8>), Rc> {
    let mut r = Reader::new(b);
    let parms = KeyParms::decode(&mut r)?;
    let modulus = r.sized32()?.to_vec();
    r.finish()?;
    Ok((parms, modulus))
}
