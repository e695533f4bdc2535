//! TPM_CreateWrapKey (Part 3 §10.4) and the key-property rules shared with
//! loading and TPM_TakeOwnership (Part 2 §5.7.1 "mandatory key usage schemes").
//!
//! Supported: RSA with two primes, 1024 or 2048 bits, exponent 65537.
//! Storage keys are 2048-bit OAEP; their children are wrapped as
//! `TPM_STORE_ASYMKEY` under OAEP-SHA1 "TCPA".

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::constants::{auth_usage, key_usage, scheme};
use crate::crypto::{Digest, RsaKey, Secret};
use crate::frame::{Command, Response};

use super::blob::{RsaParms, StoreAsymkey, TpmKey, key_flags};
use super::pcr_info::PcrInfo;
use super::{KeyView, rsa_ops, storage_parent};
use crate::auth;

/// Key sizes we generate and load. 512-bit keys (allowed by the spec) are
/// refused: the RSA implementation does not accept moduli under 1024 bits.
pub const KEY_LENGTHS: [u32; 2] = [1024, 2048];

/// Checks algorithm, size, exponent and schemes for the key's usage; returns
/// the RSA parameters. Errors are `TPM_BAD_KEY_PROPERTY` (libtpms' choice too),
/// usages a wrapped key may not have are `TPM_INVALID_KEYUSAGE`.
pub fn check_key_parms(k: &TpmKey) -> Result<RsaParms, Rc> {
    let p = k.parms.rsa()?;
    if p.num_primes != 2 || !KEY_LENGTHS.contains(&p.key_length) {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    let e_ok = p.exponent.is_empty() || {
        let start = p.exponent.iter().position(|b| *b != 0).unwrap_or(p.exponent.len());
        p.exponent[start..] == [0x01, 0x00, 0x01]
    };
    if !e_ok {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    let (enc, sig) = (k.parms.enc_scheme, k.parms.sig_scheme);
    let sig_ok =
        matches!(sig, scheme::SS_RSASSAPKCS1V15_SHA1 | scheme::SS_RSASSAPKCS1V15_DER | scheme::SS_RSASSAPKCS1V15_INFO);
    let enc_ok = matches!(enc, scheme::ES_RSAESOAEP_SHA1_MGF1 | scheme::ES_RSAESPKCSV15);
    let ok = match k.key_usage {
        key_usage::SIGNING => enc == scheme::ES_NONE && sig_ok,
        key_usage::STORAGE => enc == scheme::ES_RSAESOAEP_SHA1_MGF1 && sig == scheme::SS_NONE && p.key_length == 2048,
        key_usage::BIND => enc_ok && sig == scheme::SS_NONE,
        key_usage::LEGACY => enc_ok && (sig == scheme::SS_RSASSAPKCS1V15_SHA1 || sig == scheme::SS_RSASSAPKCS1V15_DER),
        key_usage::IDENTITY => enc == scheme::ES_NONE && sig == scheme::SS_RSASSAPKCS1V15_SHA1,
        _ => return Err(Rc::INVALID_KEYUSAGE),
    };
    if !ok {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    if k.key_flags & !key_flags::ALL != 0 || k.key_flags & key_flags::REDIRECTION != 0 {
        return Err(Rc::BAD_KEY_PROPERTY);
    }
    if !matches!(k.auth_data_usage, auth_usage::NEVER | auth_usage::ALWAYS | auth_usage::PRIV_USE_ONLY) {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    Ok(p)
}

/// Generates the key `info` describes and returns (public structure with the
/// new modulus and PCR creation fields, key pair). `encData` is left empty.
pub fn generate(tpm: &mut Tpm, info: &TpmKey, locality: u8) -> Result<(TpmKey, RsaKey), Rc> {
    let p = check_key_parms(info)?;
    let mut public = info.without_enc_data();
    if !info.pcr_info.is_empty() {
        let mut pi = PcrInfo::decode(&info.pcr_info, info.key12)?;
        pi.set_creation(tpm, locality);
        public.pcr_info = pi.to_bytes();
    }
    let rsa = RsaKey::generate(tpm.rng.as_mut(), p.key_length as usize)?;
    public.pub_key = rsa.modulus();
    Ok((public, rsa))
}

/// Wraps a key pair under `parent`: fills `public.enc_data` with the
/// OAEP-encrypted `TPM_STORE_ASYMKEY`.
pub fn wrap(
    tpm: &mut Tpm,
    parent: &KeyView,
    public: &mut TpmKey,
    rsa: &RsaKey,
    usage_auth: Secret,
    migration_auth: Secret,
) -> Result<(), Rc> {
    let store = StoreAsymkey {
        usage_auth,
        migration_auth,
        pub_data_digest: public.pub_data_digest(),
        prime: rsa_ops::prime_p(rsa)?,
    };
    let plain = store.encode();
    public.enc_data = rsa_ops::oaep_encrypt(&parent.rsa.public, tpm.rng.as_mut(), &plain)?;
    Ok(())
}

/// TPM_CreateWrapKey: `parentHandle, dataUsageAuth, dataMigrationAuth, keyInfo`
/// in (AUTH1, OSAP on the parent for ADIP); `wrappedKey` out.
pub fn create_wrap_key(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let parent_handle = cmd.params.u32()?;
    let enc_usage: Digest = cmd.params.array()?;
    let enc_migration: Digest = cmd.params.array()?;
    let info = TpmKey::decode(&mut cmd.params)?;
    cmd.params.finish()?;
    let parent = storage_parent(tpm, cmd, parent_handle)?;
    if info.key_flags & key_flags::MIGRATE_AUTHORITY != 0 {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    if !info.migratable() && parent.public.migratable() {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    if matches!(info.key_usage, key_usage::IDENTITY | key_usage::AUTHCHANGE) {
        return Err(Rc::INVALID_KEYUSAGE);
    }
    let usage_auth = auth::decrypt_adip(tpm, cmd, 0, &enc_usage)?;
    let migration_auth = if info.migratable() {
        auth::decrypt_adip_odd(tpm, cmd, 0, &enc_migration)?
    } else {
        tpm.perm.data.tpm_proof.clone()
    };
    let (mut public, rsa) = generate(tpm, &info, cmd.locality)?;
    wrap(tpm, &parent, &mut public, &rsa, usage_auth, migration_auth)?;
    public.encode(&mut resp.params);
    Ok(())
}
