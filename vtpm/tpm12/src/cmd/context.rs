//! Context management: TPM_SaveContext and TPM_LoadContext for keys and auth
//! sessions (Part 3 §21.2, §21.3; `TPM_CONTEXT_BLOB`, Part 2 §18.1).
//!
//! The blob's sensitive part (`TPM_CONTEXT_SENSITIVE`: contextNonce and our
//! internal encoding of the resource) is encrypted with a keystream
//! `SHA-1(contextKey ‖ IV ‖ counter)` (the spec leaves the symmetric algorithm
//! to the TPM), the IV travelling in `additionalData`; `integrityDigest` is
//! `HMAC(tpmProof, blob with a zero digest)`. Session contexts are one-shot: a
//! saved session leaves the TPM and its `contextCount` is listed until loaded
//! or flushed (`TPM_CAP_PROP_CONTEXT`). Key contexts leave the key loaded and
//! are bound to `contextNonceKey`, so they die at the next Startup(ST_CLEAR).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{kh, ord, rt, tag};
use crate::crypto::{Digest, ct_eq, hmac_sha1, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};
use crate::state::KeyRecord;

use crate::state::sessions::{Session, SessionKind};

/// Saved-context slots (TPM_CAP_PROP_MAX_CONTEXT).
pub const MAX_SAVED_CONTEXTS: usize = 16;

/// Free saved-context slots (TPM_CAP_PROP_CONTEXT).
pub fn free_context_slots(tpm: &Tpm) -> u32 {
    MAX_SAVED_CONTEXTS.saturating_sub(tpm.sessions.saved_contexts().len()) as u32
}

/// Forgets every saved session context (owner clear).
pub fn invalidate_all(tpm: &mut Tpm) {
    tpm.sessions.saved_contexts_mut().clear();
    tpm.vol.stany_data.context_nonce_session = [0; 20];
}

/// FlushSpecific(TPM_RT_CONTEXT): forgets the saved session context `count`.
pub fn flush_context(tpm: &mut Tpm, count: u32) -> Result<(), Rc> {
    let list = tpm.sessions.saved_contexts_mut();
    let before = list.len();
    list.retain(|c| *c != count);
    if list.len() == before { Err(Rc::BAD_HANDLE) } else { Ok(()) }
}

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::SaveContext, save_context, tags::RQU, 0, check::NOT_SHUTDOWN.union(check::NO_LOCKOUT)),
    OrdinalEntry::new(ord::LoadContext, load_context, tags::RQU, 0, check::NOT_SHUTDOWN.union(check::NO_LOCKOUT)),
];

fn keystream_xor(key: &[u8], iv: &[u8], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(20).enumerate() {
        let block = sha1(&[key, iv, &(i as u32).to_be_bytes()]);
        for (d, k) in chunk.iter_mut().zip(block.iter()) {
            *d ^= k;
        }
    }
}

fn context_nonce(tpm: &mut Tpm, resource_type: u32) -> Digest {
    if resource_type == rt::KEY {
        return tpm.vol.stclear_data.context_nonce_key;
    }
    if tpm.vol.stany_data.context_nonce_session == [0; 20] {
        tpm.vol.stany_data.context_nonce_session = tpm.nonce();
    }
    tpm.vol.stany_data.context_nonce_session
}

/// The blob fields before `integrityDigest` plus the rest, with `digest`.
fn encode_blob(
    resource_type: u32,
    handle: u32,
    label: &[u8; 16],
    count: u32,
    digest: &Digest,
    iv: &[u8],
    sensitive: &[u8],
) -> Vec<u8> {
    let mut w = Writer::new();
    w.u16(tag::CONTEXTBLOB).u32(resource_type).u32(handle).bytes(label).u32(count).bytes(digest);
    w.sized32(iv).sized32(sensitive);
    w.into_vec()
}

/// TPM_SaveContext: `handle, resourceType, label` in; `contextSize, contextBlob` out.
pub fn save_context(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let handle = cmd.params.u32()?;
    let resource_type = cmd.params.u32()?;
    let label: [u8; 16] = cmd.params.array()?;
    cmd.params.finish()?;
    let mut internal = Writer::secret();
    let count = match resource_type {
        rt::KEY => {
            if handle == kh::SRK || handle == kh::EK {
                return Err(Rc::INVALID_RESOURCE);
            }
            if tpm.perm.data.owner_evict_keys.iter().any(|(h, _)| *h == handle) {
                return Err(Rc::OWNER_CONTROL);
            }
            // A handle that names no loaded key is not a resource we can save (libtpms agrees).
            let k = tpm.keys.get(handle).ok_or(Rc::INVALID_RESOURCE)?;
            internal.bool(k.parent_pcr_status);
            k.record.encode(&mut internal);
            0
        }
        rt::AUTH => {
            let s = tpm.sessions.get(handle).ok_or(Rc::INVALID_AUTHHANDLE)?;
            if tpm.sessions.saved_contexts().len() >= MAX_SAVED_CONTEXTS {
                return Err(Rc::NOCONTEXTSPACE);
            }
            s.encode(&mut internal);
            let count = tpm.vol.stany_data.context_count.wrapping_add(1).max(1);
            tpm.vol.stany_data.context_count = count;
            count
        }
        rt::TRANS | rt::DAA_TPM => return Err(Rc::INVALID_RESOURCE),
        _ => return Err(Rc::INVALID_RESOURCE),
    };
    let nonce = context_nonce(tpm, resource_type);
    let mut sens = Writer::secret();
    sens.u16(tag::CONTEXT_SENSITIVE).bytes(&nonce).sized32(internal.as_slice());
    let mut sensitive = sens.into_zeroizing();
    let iv = tpm.nonce();
    let key = tpm.perm.data.context_key.clone();
    keystream_xor(&key.0, &iv, &mut sensitive);
    let zero = encode_blob(resource_type, handle, &label, count, &[0; 20], &iv, &sensitive);
    let digest = hmac_sha1(&tpm.perm.data.tpm_proof.0, &[&zero]);
    let blob = encode_blob(resource_type, handle, &label, count, &digest, &iv, &sensitive);
    if resource_type == rt::AUTH {
        tpm.sessions.terminate(handle);
        tpm.sessions.saved_contexts_mut().push(count);
    }
    resp.params.sized32(&blob);
    Ok(())
}

/// TPM_LoadContext: `entityHandle, keepHandle, contextSize, contextBlob` in; `handle` out.
pub fn load_context(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let _entity_handle = cmd.params.u32()?;
    let keep_handle = cmd.params.bool()?;
    let blob = cmd.params.sized32()?;
    cmd.params.finish()?;
    let bad = |_| Rc::BADCONTEXT;
    let mut r = Reader::new(blob);
    if r.u16().map_err(bad)? != tag::CONTEXTBLOB {
        return Err(Rc::BADCONTEXT);
    }
    let resource_type = r.u32().map_err(bad)?;
    let handle = r.u32().map_err(bad)?;
    let label: [u8; 16] = r.array().map_err(bad)?;
    let count = r.u32().map_err(bad)?;
    let digest: Digest = r.array().map_err(bad)?;
    let iv = r.sized32().map_err(bad)?;
    let sensitive_enc = r.sized32().map_err(bad)?;
    r.finish().map_err(bad)?;
    let zero = encode_blob(resource_type, handle, &label, count, &[0; 20], iv, sensitive_enc);
    if !ct_eq(&hmac_sha1(&tpm.perm.data.tpm_proof.0, &[&zero]), &digest) {
        return Err(Rc::BADCONTEXT);
    }
    let mut sensitive = Zeroizing::new(sensitive_enc.to_vec());
    let key = tpm.perm.data.context_key.clone();
    keystream_xor(&key.0, iv, &mut sensitive);
    let mut s = Reader::new(&sensitive);
    if s.u16().map_err(bad)? != tag::CONTEXT_SENSITIVE {
        return Err(Rc::BADCONTEXT);
    }
    let nonce: Digest = s.array().map_err(bad)?;
    let internal = s.sized32().map_err(bad)?;
    s.finish().map_err(bad)?;
    if resource_type != rt::KEY && resource_type != rt::AUTH {
        return Err(Rc::BADCONTEXT);
    }
    if nonce != context_nonce(tpm, resource_type) {
        return Err(Rc::BADCONTEXT);
    }
    let mut ir = Reader::new(internal);
    let new_handle = if resource_type == rt::KEY {
        let pps = ir.bool().map_err(bad)?;
        let rec = KeyRecord::decode(&mut ir).map_err(bad)?;
        ir.finish().map_err(bad)?;
        let reserved = super::keys::owner_evict_handles(tpm);
        if keep_handle || (tpm.keys.get(handle).is_none() && !reserved.contains(&handle)) {
            tpm.keys.restore(handle, rec, pps, &reserved)?;
            handle
        } else {
            tpm.keys.insert(rec, pps, &reserved)?
        }
    } else {
        let session = Session::decode(&mut ir).map_err(bad)?;
        ir.finish().map_err(bad)?;
        // An OSAP session loads only while its entity is still the one it was opened for
        // (Part 3 §21.3 step 9.a.ii; libtpms checks this before the context list and answers
        // TPM_RESOURCEMISSING).
        if let SessionKind::Osap { entity, entity_digest, .. } = &session.kind {
            let Some(bound) = entity_digest else { return Err(Rc::BADCONTEXT) };
            if !crate::auth::entity_digest(tpm, *entity).is_ok_and(|now| ct_eq(&now, bound)) {
                return Err(Rc::RESOURCEMISSING);
            }
        }
        if !tpm.sessions.saved_contexts().contains(&count) {
            return Err(Rc::BADCONTEXT);
        }
        if session.handle != handle {
            return Err(Rc::BADCONTEXT);
        }
        tpm.sessions.restore(session)?;
        tpm.sessions.saved_contexts_mut().retain(|c| *c != count);
        handle
    };
    resp.params.u32(new_handle);
    Ok(())
}
