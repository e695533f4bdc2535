//! TPM2_StartAuthSession (Part 3 §11.1) and the saved contexts of sessions (Part 1 §30).
//!
//! A session is unsalted or salted with an ECC decrypt key (`tpmKey`: the salt is
//! `KDFe(nameAlg, Z, "SECRET", QeU.x, QsV.x, digest bits)` from the ephemeral point in
//! encryptedSalt, Part 1 §C.6.1), unbound or bound to an entity (its authValue joins the
//! salt in the key: `sessionKey = KDFa(authHash, bindAuth ‖ salt, "ATH", nonceTPM,
//! nonceCaller, digest bits)`), or with an RSA decrypt key (the salt is OAEP-encrypted with
//! the label "SECRET").
//! The session's symmetric algorithm is TPM_ALG_NULL or AES-128/256-CFB (parameter
//! encryption, see [`crate::session`]); XOR is not implemented. A saved session keeps its handle: it stays active
//! (TPM_CAP_HANDLES lists it) and only its latest context loads, once. Sessions are
//! volatile here: _TPM_Init ends them all, saved or not, and a context saved before a TPM
//! Reset fails its integrity check (resetCount in the context HMAC).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::cmd::context::ContextKeys;
use crate::cmd::{Command, Response};
use crate::codec::Reader;
use crate::constants::{MAX_ACTIVE_SESSIONS, MAX_DIGEST, MAX_LOADED_SESSIONS, alg, ht, rh};
use crate::crypto::{HashAlg, ecc, kdf::kdfa, rsa};
use crate::object::public::{Params, Unique, attr};
use crate::rc::{At, Rc};
use crate::session::Session;
use crate::tpm::Tpm;

/// `TPM_SE`.
pub mod se {
    /// TPM_SE_HMAC.
    pub const HMAC: u8 = 0x00;
    /// TPM_SE_POLICY.
    pub const POLICY: u8 = 0x01;
    /// TPM_SE_TRIAL.
    pub const TRIAL: u8 = 0x03;
}

/// Largest encryptedSalt (`TPM2B_ENCRYPTED_SECRET`).
const MAX_SECRET: usize = 256;

/// KDFe (Part 1 §11.4.10.3, SP 800-56A concatenation KDF).
pub fn kdfe(h: HashAlg, z: &[u8], label: &[u8], party_u: &[u8], party_v: &[u8], bits: u32) -> Zeroizing<Vec<u8>> {
    let bytes = (bits as usize).div_ceil(8);
    let label_end: &[u8] = if label.last() == Some(&0) { &[] } else { &[0] };
    let mut out = Zeroizing::new(Vec::with_capacity(bytes + h.size()));
    let mut counter: u32 = 1;
    while out.len() < bytes {
        out.extend_from_slice(&h.digest(&[&counter.to_be_bytes(), z, label, label_end, party_u, party_v]));
        counter = counter.wrapping_add(1);
    }
    out.truncate(bytes);
    out
}

/// The salt from encryptedSalt under the ECC decrypt key at `tpm_key`.
fn ecc_salt(tpm: &Tpm, tpm_key: u32, secret: &[u8]) -> Result<Zeroizing<Vec<u8>>, Rc> {
    let key = tpm.object(tpm_key).ok_or(Rc::HANDLE.handle(1))?;
    let (Params::Ecc { .. }, Unique::Ecc(qx, _)) = (&key.public.params, &key.public.unique) else {
        return Err(Rc::KEY.handle(1));
    };
    if !key.public.has(attr::DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let mut r = Reader::new(secret);
    let x = r.tpm2b(ecc::COORD).p(2)?;
    let y = r.tpm2b(ecc::COORD).p(2)?;
    if r.remaining() != 0 {
        return Err(Rc::SIZE.param(2));
    }
    let z = ecc::shared_x(&key.sensitive.value, x, y).ok_or(Rc::ECC_POINT.param(2))?;
    let h = key.public.name_alg;
    Ok(kdfe(h, &z, b"SECRET", x, qx, h.size() as u32 * 8))
}

/// The salt from encryptedSalt under the RSA decrypt key at `tpm_key` (Part 1 §B.10.3):
/// RSAES-OAEP with the key's OAEP hash (its nameAlg when the scheme is NULL) and the label
/// "SECRET" with its terminating zero; the salt is at most a digest of that hash.
fn rsa_salt(tpm: &mut Tpm, tpm_key: u32, secret: &[u8]) -> Result<Zeroizing<Vec<u8>>, Rc> {
    let key = tpm.object(tpm_key).ok_or(Rc::HANDLE.handle(1))?;
    let (Params::Rsa { scheme, exponent, .. }, Unique::Rsa(n)) = (&key.public.params, &key.public.unique) else {
        return Err(Rc::KEY.handle(1));
    };
    if !key.public.has(attr::DECRYPT) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    let h = match scheme.0 {
        alg::NULL => key.public.name_alg,
        alg::OAEP => HashAlg::from_alg(scheme.1).ok_or(Rc::SCHEME.handle(1))?,
        _ => return Err(Rc::SCHEME.handle(1)),
    };
    let private = rsa::private_key(n, *exponent, &key.sensitive.value).map_err(|_| Rc::KEY.handle(1))?;
    let mut rng = |b: &mut [u8]| tpm.random(b);
    // a ciphertext of the wrong size is TPM_RC_VALUE here too (as libtpms)
    let salt =
        rsa::decrypt(&private, rsa::Padding::Oaep(h), b"SECRET\0", secret, &mut rng).map_err(|_| Rc::VALUE.param(2))?;
    if salt.len() > h.size() {
        return Err(Rc::VALUE.param(2));
    }
    Ok(salt)
}

/// The salt from encryptedSalt under the decrypt key at `tpm_key` (ECC or RSA).
fn salt(tpm: &mut Tpm, tpm_key: u32, secret: &[u8]) -> Result<Zeroizing<Vec<u8>>, Rc> {
    match tpm.object(tpm_key).map(|o| o.public.ty) {
        Some(alg::RSA) => rsa_salt(tpm, tpm_key, secret),
        _ => ecc_salt(tpm, tpm_key, secret),
    }
}

/// The authValue of a bind entity.
fn bind_auth(tpm: &Tpm, bind: u32) -> Zeroizing<Vec<u8>> {
    if let Some(o) = tpm.object(bind) {
        return o.sensitive.auth.clone();
    }
    crate::cmd::hierarchy::auth_value(tpm, bind)
}

/// A free session handle index (HMAC and policy sessions share the index space).
fn free_index(tpm: &Tpm) -> Result<u32, Rc> {
    if tpm.sessions.len() >= MAX_LOADED_SESSIONS {
        return Err(Rc::SESSION_MEMORY);
    }
    if tpm.sessions.len() + tpm.saved_sessions.len() >= MAX_ACTIVE_SESSIONS {
        return Err(Rc::SESSION_HANDLES);
    }
    let used = |i: u32| tpm.sessions.keys().chain(tpm.saved_sessions.keys()).any(|h| h & 0x00FF_FFFF == i);
    (0..MAX_ACTIVE_SESSIONS as u32).find(|&i| !used(i)).ok_or(Rc::SESSION_HANDLES)
}

/// TPM2_StartAuthSession(tpmKey, bind, nonceCaller, encryptedSalt, sessionType, symmetric,
/// authHash) → sessionHandle, nonceTPM.
pub fn start_auth_session(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let (tpm_key, bind) = (c.handles[0], c.handles[1]);
    let nonce_caller = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let secret = c.params.tpm2b(MAX_SECRET).p(2)?;
    let ty = c.params.u8().p(3)?;
    if !matches!(ty, se::HMAC | se::POLICY | se::TRIAL) {
        return Err(Rc::VALUE.param(3));
    }
    // parameter encryption: AES-128/256 in CFB, or none (XOR is not implemented)
    let sym = match c.params.u16().p(4)? {
        alg::NULL => None,
        alg::AES => {
            let bits = c.params.u16().p(4)?;
            if bits != 128 && bits != 256 {
                return Err(Rc::KEY_SIZE.param(4));
            }
            if c.params.u16().p(4)? != alg::CFB {
                return Err(Rc::MODE.param(4));
            }
            Some(bits)
        }
        _ => return Err(Rc::SYMMETRIC.param(4)),
    };
    let hash = HashAlg::from_alg(c.params.u16().p(5)?).ok_or(Rc::HASH.param(5))?;
    c.finish()?;
    if nonce_caller.len() < 16 || nonce_caller.len() > hash.size() {
        return Err(Rc::SIZE.param(1));
    }
    let salt = if tpm_key == rh::NULL {
        if !secret.is_empty() {
            return Err(Rc::VALUE.param(2));
        }
        Zeroizing::new(Vec::new())
    } else {
        salt(tpm, tpm_key, secret)?
    };
    let index = free_index(tpm)?;
    // nonceTPM has the size of nonceCaller (as the reference implementation)
    let mut nonce_tpm = alloc::vec![0u8; nonce_caller.len()];
    tpm.random(&mut nonce_tpm);
    let bound = bind != rh::NULL;
    let key = if bound || !salt.is_empty() {
        let mut k = if bound { bind_auth(tpm, bind) } else { Zeroizing::new(Vec::new()) };
        k.extend_from_slice(&salt);
        kdfa(hash, &k, b"ATH", &nonce_tpm, nonce_caller, hash.size() as u32 * 8)
    } else {
        Zeroizing::new(Vec::new())
    };
    let policy = ty != se::HMAC;
    let top = if policy { ht::POLICY_SESSION } else { ht::HMAC_SESSION };
    let handle = u32::from(top) << 24 | index;
    let mut s = Session {
        policy,
        trial: ty == se::TRIAL,
        hash,
        key,
        nonce_tpm: nonce_tpm.clone(),
        bind: bound.then(|| crate::dispatch::entity_name(tpm, bind)),
        policy_digest: Vec::new(),
        sym,
        auth_value_needed: false,
        password_needed: false,
        command_code: None,
        pcr_counter: None,
    };
    s.reset_policy();
    tpm.sessions.insert(handle, s);
    resp.handles.push(handle);
    resp.params.tpm2b(&nonce_tpm);
    Ok(())
}

/// The resetValue of a session context: resetCount.
fn reset_value(tpm: &Tpm) -> u32 {
    tpm.perm.reset_count
}

/// TPM2_ContextSave of a session: it leaves the loaded slots and stays active.
pub fn context_save(tpm: &mut Tpm, handle: u32, resp: &mut Response) -> Result<(), Rc> {
    let s = tpm.sessions.get(&handle).ok_or(Rc::REFERENCE_H0)?.marshal();
    let sequence = tpm.next_object_context();
    let reset = reset_value(tpm);
    let keys = ContextKeys::new(tpm, rh::NULL, sequence, handle);
    let blob = keys.seal(reset, sequence, handle, rh::NULL, &s);
    tpm.sessions.remove(&handle);
    tpm.saved_sessions.insert(handle, sequence);
    resp.params.u64(sequence).u32(handle).u32(rh::NULL).tpm2b(&blob);
    Ok(())
}

/// TPM2_ContextLoad of a session context.
pub fn context_load(
    tpm: &mut Tpm,
    sequence: u64,
    handle: u32,
    hierarchy: u32,
    blob: &[u8],
    resp: &mut Response,
) -> Result<(), Rc> {
    let reset = reset_value(tpm);
    let keys = ContextKeys::new(tpm, hierarchy, sequence, handle);
    let plain = keys.open(reset, sequence, handle, hierarchy, blob).p(1)?;
    // only the latest context of a saved session loads (no replay of an older one)
    if tpm.saved_sessions.get(&handle) != Some(&sequence) {
        return Err(Rc::HANDLE.param(1));
    }
    if tpm.sessions.len() >= MAX_LOADED_SESSIONS {
        return Err(Rc::SESSION_MEMORY);
    }
    let s = Session::read(&plain).map_err(|_| Rc::INTEGRITY.param(1))?;
    tpm.saved_sessions.remove(&handle);
    tpm.sessions.insert(handle, s);
    resp.handles.push(handle);
    Ok(())
}
