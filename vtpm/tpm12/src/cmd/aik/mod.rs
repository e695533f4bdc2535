//! Identity creation and activation (TPM Main Part 3 §15): TPM_MakeIdentity creates an
//! attestation identity key (AIK) under the SRK and signs its binding to a privacy CA;
//! TPM_ActivateIdentity decrypts, with the EK, the session key a privacy CA sent back for
//! that AIK. The structures are in [`structures`].
//!
//! Both are owner-authorized. The owner's trailer is the last one; with
//! `TPM_TAG_RQU_AUTH2_COMMAND` the first authorizes the SRK (MakeIdentity) or the identity
//! key (ActivateIdentity), with AUTH1 that key must be `TPM_AUTH_NEVER`. Order of the
//! checks and return codes follow libtpms (the differential replay compares them):
//! MakeIdentity checks the key parameters before any authorization, needs an OSAP owner
//! session (`TPM_BAD_MODE` for OIAP; ADIP decrypts `identityAuth` with it) and answers a
//! wrong owner secret with `TPM_AUTH2FAIL`, a wrong SRK secret with `TPM_AUTHFAIL`;
//! ActivateIdentity accepts OIAP or OSAP for the owner, answers a wrong owner secret with
//! `TPM_AUTHFAIL` and a wrong identity-key secret with `TPM_AUTH2FAIL`.

pub mod structures;

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::constants::{auth_usage, key_usage, kh, ord};
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};
use crate::state::sessions::AuthEntity;

use super::keys::{check_pcrs, create, resolve, rsa_ops};
use crate::auth;
use crate::codec::Writer;
use structures::{ActivationBlob, identity_contents};

/// The only identity-key size (Part 3 §15.1 action 1.a: at least 2048, and 2048 for
/// interoperability; libtpms insists on exactly 2048).
pub const IDENTITY_KEY_BITS: u32 = 2048;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::MakeIdentity, make_identity, tags::AUTH1_AUTH2, 0, check::ALL),
    OrdinalEntry::new(ord::ActivateIdentity, activate_identity, tags::AUTH1_AUTH2, 1, check::ALL),
];

/// TPM_MakeIdentity (Part 3 §15.1): `identityAuth` (ADIP-encrypted), `labelPrivCADigest`,
/// `idKeyParams` in (AUTH2: SRK then owner, or AUTH1: owner); `idKey`,
/// `identityBindingSize`, `identityBinding` out. Both sessions end (action 7).
pub fn make_identity(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let enc_identity_auth: Digest = cmd.params.array()?;
    let label_priv_ca_digest: Digest = cmd.params.array()?;
    let id_key_params = super::keys::blob::TpmKey::decode(&mut cmd.params)?;
    cmd.params.finish()?;
    // 1. The key description: RSA 2048, default exponent, the identity schemes.
    let parms = create::check_key_parms(&id_key_params)?;
    if parms.key_length != IDENTITY_KEY_BITS {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    // 2. The owner, over an OSAP session (its shared secret decrypts identityAuth).
    let owner = cmd.auth_count().saturating_sub(1);
    auth::require_osap(tpm, cmd, owner)?;
    let owner_auth = tpm.perm.data.owner_auth.clone();
    auth::check_failing_with(tpm, cmd, owner, AuthEntity::Owner, &owner_auth, Rc::AUTH2FAIL)?;
    // 3. The SRK.
    let srk = resolve(tpm, kh::SRK).map_err(|_| Rc::NOSRK)?;
    if cmd.auth_count() == 2 {
        auth::check(tpm, cmd, 0, AuthEntity::Srk, &srk.usage_auth)?;
    } else if srk.public.auth_data_usage != auth_usage::NEVER {
        return Err(Rc::AUTHFAIL);
    }
    // 4, 5. A non-migratable identity key.
    if id_key_params.key_usage != key_usage::IDENTITY || id_key_params.migratable() {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    // 6, 7.
    let usage_auth = auth::decrypt_adip(tpm, cmd, owner, &enc_identity_auth)?;
    cmd.force_end_sessions = true;
    // 8–15. Generate (PCR creation values included) and wrap under the SRK with
    // migrationAuth = tpmProof.
    let (mut id_key, rsa) = create::generate(tpm, &id_key_params, cmd.locality)?;
    let tpm_proof = tpm.perm.data.tpm_proof.clone();
    create::wrap(tpm, &srk, &mut id_key, &rsa, usage_auth, tpm_proof)?;
    // 16, 17. Sign SHA-1(TPM_IDENTITY_CONTENTS) with the new key.
    let mut pubkey = Writer::new();
    id_key.encode_pubkey(&mut pubkey);
    let contents = identity_contents(&label_priv_ca_digest, pubkey.as_slice());
    let binding = rsa_ops::sign_sha1(&rsa, tpm.rng.as_mut(), &sha1(&[&contents]))?;
    id_key.encode(&mut resp.params);
    resp.params.sized32(&binding);
    Ok(())
}

/// TPM_ActivateIdentity (Part 3 §15.2): `idKeyHandle`, `blobSize`, `blob` in (AUTH2:
/// identity key then owner, or AUTH1: owner); the `TPM_SYMMETRIC_KEY` out.
pub fn activate_identity(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let id_key_handle = cmd.params.u32()?;
    let blob = cmd.params.sized32()?;
    cmd.params.finish()?;
    // 1. The owner (OIAP or OSAP).
    let owner = cmd.auth_count().saturating_sub(1);
    let owner_auth = tpm.perm.data.owner_auth.clone();
    auth::check_failing_with(tpm, cmd, owner, AuthEntity::Owner, &owner_auth, Rc::AUTHFAIL)?;
    // 2. The identity key: loaded, its PCRs satisfied, authorized.
    let id_key = resolve(tpm, id_key_handle)?;
    check_pcrs(tpm, &id_key, cmd.locality)?;
    if cmd.auth_count() == 2 {
        auth::check_failing_with(tpm, cmd, 0, id_key.entity(), &id_key.usage_auth, Rc::AUTH2FAIL)?;
    } else if id_key.public.auth_data_usage != auth_usage::NEVER {
        return Err(Rc::AUTHFAIL);
    }
    // 3.
    if id_key.public.key_usage != key_usage::IDENTITY {
        return Err(Rc::BAD_PARAMETER);
    }
    // 4. H1 = SHA-1(TPM_PUBKEY of the identity key).
    let mut pubkey = Writer::new();
    id_key.public.encode_pubkey(&mut pubkey);
    let h1 = sha1(&[pubkey.as_slice()]);
    // 5, 6. Decrypt with the EK and find out which form it is.
    let ek = tpm.perm.data.endorsement_key.clone().ok_or(Rc::NO_ENDORSEMENT)?;
    // A blob that is not the EK's size cannot be an EK ciphertext: TPM_DECRYPT_ERROR, as
    // libtpms answers (other commands say TPM_BAD_DATASIZE for it).
    let plain = rsa_ops::oaep_decrypt(&ek, tpm.rng.as_mut(), blob)
        .map_err(|rc| if rc == Rc::BAD_DATASIZE { Rc::DECRYPT_ERROR } else { rc })?;
    let b1 = ActivationBlob::decode(&plain)?;
    // 7, 8. Bound to this identity key; the 1.2 form may also require PCRs and a locality.
    if !crate::crypto::ct_eq(b1.id_digest(), &h1) {
        return Err(Rc::BAD_PARAMETER);
    }
    if let ActivationBlob::EkBlobActivate { pcr_info, .. } = &b1 {
        pcr_info.check(tpm, cmd.locality)?;
    }
    // 9.
    b1.session_key().encode(&mut resp.params);
    Ok(())
}
