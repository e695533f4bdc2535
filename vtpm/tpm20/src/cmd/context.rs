//! TPM2_ContextSave, TPM2_ContextLoad and TPM2_FlushContext (Part 3 §28) for transient
//! objects and sessions (see [`crate::cmd::session`]). A saved context (Part 1 §30) is
//! `TPMS_CONTEXT { sequence, savedHandle, hierarchy, contextBlob }` with
//! `contextBlob = TPM2B(integrity) ‖ encrypted`, where
//! - `encrypted` is AES-128-CFB under the key and IV of
//!   `KDFa(SHA-256, proof(hierarchy), "CONTEXT", sequence ‖ savedHandle, "", 256)`, over
//!   `TPM2B(TPMT_PUBLIC) ‖ TPM2B(TPMT_SENSITIVE) ‖ TPM2B(qualifiedName)` for an object;
//! - `integrity` is `HMAC-SHA-256(proof(hierarchy), resetValue ‖ sequence ‖ savedHandle ‖
//!   hierarchy ‖ encrypted)`, resetValue being 0 for objects (their hierarchy's proof is what
//!   ties them: the null proof changes at every TPM Reset, the owner's on TPM2_Clear).
//!
//! A tampered blob, or one saved before its hierarchy's proof changed, is
//! `TPM_RC_INTEGRITY` (parameter 1).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::cmd::{Command, Response};
use crate::codec::{Reader, Writer};
use crate::constants::{MAX_DIGEST, ht, rh};
use crate::crypto::{HashAlg, cfb, ct_eq, kdf::kdfa};
use crate::object::Object;
use crate::object::public::Public;
use crate::object::sensitive::Sensitive;
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// Largest contextBlob accepted (`TPM2B_CONTEXT_DATA`).
pub const MAX_CONTEXT_SIZE: usize = 2048;
/// savedHandle of an ordinary transient object.
pub const SAVED_OBJECT: u32 = 0x8000_0000;

/// The encryption and the integrity of a context blob.
pub struct ContextKeys {
    proof: Zeroizing<Vec<u8>>,
    key: Zeroizing<Vec<u8>>,
}

impl ContextKeys {
    /// The keys for (hierarchy, sequence, savedHandle).
    pub fn new(tpm: &mut Tpm, hierarchy: u32, sequence: u64, saved_handle: u32) -> Self {
        let proof = tpm.proof(hierarchy);
        let mut ctx = sequence.to_be_bytes().to_vec();
        ctx.extend_from_slice(&saved_handle.to_be_bytes());
        let key = kdfa(HashAlg::Sha256, &proof, b"CONTEXT", &ctx, &[], 256);
        Self { proof, key }
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[16..32]);
        iv
    }

    fn mac(&self, reset: u32, sequence: u64, handle: u32, hierarchy: u32, enc: &[u8]) -> Vec<u8> {
        HashAlg::Sha256.hmac(
            &self.proof,
            &[&reset.to_be_bytes(), &sequence.to_be_bytes(), &handle.to_be_bytes(), &hierarchy.to_be_bytes(), enc],
        )
    }

    /// The contextBlob of `plain`.
    pub fn seal(&self, reset: u32, sequence: u64, handle: u32, hierarchy: u32, plain: &[u8]) -> Vec<u8> {
        let mut enc = plain.to_vec();
        if cfb::encrypt(&self.key[..16], &self.iv(), &mut enc).is_err() {
            return Vec::new();
        }
        let mut w = Writer::new();
        w.tpm2b(&self.mac(reset, sequence, handle, hierarchy, &enc)).bytes(&enc);
        w.0
    }

    /// The plaintext of a contextBlob; `TPM_RC_INTEGRITY` if its HMAC is wrong.
    pub fn open(
        &self,
        reset: u32,
        sequence: u64,
        handle: u32,
        hierarchy: u32,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Rc> {
        let mut r = Reader::new(blob);
        let mac = r.tpm2b(MAX_DIGEST).map_err(|_| Rc::SIZE)?;
        let enc = r.bytes(r.remaining())?;
        if !ct_eq(&self.mac(reset, sequence, handle, hierarchy, enc), mac) {
            return Err(Rc::INTEGRITY);
        }
        let mut plain = Zeroizing::new(enc.to_vec());
        cfb::decrypt(&self.key[..16], &self.iv(), &mut plain).map_err(|_| Rc::INTEGRITY)?;
        Ok(plain)
    }
}

/// TPM2_ContextSave(saveHandle) → context.
pub fn context_save(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let handle = c.handles[0];
    if matches!((handle >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION) {
        return crate::cmd::session::context_save(tpm, handle, resp);
    }
    let obj = tpm.objects.get(&handle).cloned().ok_or(Rc::REFERENCE_H0)?;
    let sequence = tpm.next_object_context();
    let mut plain = Writer::new();
    plain.tpm2b(&obj.public.marshal()).tpm2b(&obj.sensitive.marshal()).tpm2b(&obj.qualified_name);
    let plain = Zeroizing::new(plain.0);
    let keys = ContextKeys::new(tpm, obj.hierarchy, sequence, SAVED_OBJECT);
    let blob = keys.seal(0, sequence, SAVED_OBJECT, obj.hierarchy, &plain);
    resp.params.u64(sequence).u32(SAVED_OBJECT).u32(obj.hierarchy).tpm2b(&blob);
    Ok(())
}

/// TPM2_ContextLoad(context) → loadedHandle.
pub fn context_load(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let sequence = c.params.u64().p(1)?;
    let saved_handle = c.params.u32().p(1)?;
    let saved_ok = matches!((saved_handle >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION)
        || matches!(saved_handle, 0x8000_0000..=0x8000_0002);
    if !saved_ok {
        return Err(Rc::VALUE.param(1));
    }
    let hierarchy = c.params.u32().p(1)?;
    if !matches!(hierarchy, rh::OWNER | rh::ENDORSEMENT | rh::PLATFORM | rh::NULL) {
        return Err(Rc::VALUE.param(1));
    }
    let blob = c.params.tpm2b(MAX_CONTEXT_SIZE).p(1)?;
    c.finish()?;
    // The blob starts with its integrity digest (a TPM2B_DIGEST).
    Reader::new(blob).tpm2b(MAX_DIGEST).map_err(|_| Rc::SIZE)?;
    if matches!((saved_handle >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION) {
        return crate::cmd::session::context_load(tpm, sequence, saved_handle, hierarchy, blob, resp);
    }
    if saved_handle != SAVED_OBJECT {
        // sequence objects and stClear objects are never saved by this engine
        return Err(Rc::INTEGRITY.param(1));
    }
    tpm.free_transient_slot()?;
    let keys = ContextKeys::new(tpm, hierarchy, sequence, saved_handle);
    let plain = keys.open(0, sequence, saved_handle, hierarchy, blob).p(1)?;
    let mut r = Reader::new(&plain);
    let bad = |_| Rc::INTEGRITY.param(1);
    let public = Public::read_2b(&mut r).map_err(bad)?;
    let size = usize::from(r.u16().map_err(bad)?);
    let sensitive = Sensitive::read(r.bytes(size).map_err(bad)?).map_err(bad)?;
    let qualified_name = r.tpm2b(2 + MAX_DIGEST).map_err(bad)?.to_vec();
    let name = public.name();
    let obj = Object { public, sensitive, name, qualified_name, hierarchy };
    let handle = tpm.load_transient(obj)?;
    resp.handles.push(handle);
    Ok(())
}

/// TPM2_FlushContext(flushHandle): unloads a transient object or ends a session.
pub fn flush_context(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let h = c.params.u32().p(1)?;
    if !matches!((h >> 24) as u8, ht::HMAC_SESSION | ht::POLICY_SESSION | ht::TRANSIENT) {
        return Err(Rc::VALUE.param(1));
    }
    c.finish()?;
    let gone = if (h >> 24) as u8 == ht::TRANSIENT { tpm.objects.remove(&h).is_some() } else { tpm.flush_session(h) };
    if gone { Ok(()) } else { Err(Rc::HANDLE.param(1)) }
}
