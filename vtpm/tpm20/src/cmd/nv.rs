//! The NV commands (Part 3 §31): define / undefine an index, read its public area, read
//! and write it as data, a counter, bit field or extend index, lock it for reads or writes,
//! and change its authValue. Authorization is the dispatcher's (an index authorizes itself
//! with AUTHREAD / AUTHWRITE or POLICYREAD / POLICYWRITE, `TPM_RC_AUTH_UNAVAILABLE` when
//! its attributes do not allow the session's kind); the access checks here are the
//! reference implementation's: a locked index is `TPM_RC_NV_LOCKED`, an owner or platform
//! authorization without OWNER/PP READ/WRITE `TPM_RC_NV_AUTHORIZATION`, an index never
//! written `TPM_RC_NV_UNINITIALIZED` on reads. Every change of an index (its data, its
//! attributes, its authValue, its existence) sets the change flag; reads do not.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::cmd::{Command, Response};
use crate::constants::{MAX_DIGEST, rh};
use crate::nv::{self, MAX_NV_BUFFER, Nt, NvIndex, NvPublic, attr};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// The index at handle 2 (checked by the dispatcher).
fn index(tpm: &Tpm, handle: u32, n: u32) -> Result<&NvIndex, Rc> {
    tpm.perm.nv.get(&handle).ok_or(Rc::HANDLE.handle(n))
}

/// NvWriteAccessChecks: locked (also by the global lock) → `TPM_RC_NV_LOCKED`; owner /
/// platform without OWNERWRITE / PPWRITE, or another index → `TPM_RC_NV_AUTHORIZATION`.
fn write_access(tpm: &Tpm, auth: u32, nv: &NvIndex) -> Result<(), Rc> {
    let p = &nv.public;
    if p.has(attr::WRITELOCKED) || (p.has(attr::GLOBALLOCK) && tpm.perm.nv_global_lock) {
        return Err(Rc::NV_LOCKED);
    }
    let allowed = match auth {
        rh::OWNER => p.has(attr::OWNERWRITE),
        rh::PLATFORM => p.has(attr::PPWRITE),
        h => h == p.index,
    };
    if allowed { Ok(()) } else { Err(Rc::NV_AUTHORIZATION) }
}

/// NvReadAccessChecks: read-locked → `TPM_RC_NV_LOCKED`; owner / platform without
/// OWNERREAD / PPREAD, or another index → `TPM_RC_NV_AUTHORIZATION`; never written →
/// `TPM_RC_NV_UNINITIALIZED`.
fn read_access(auth: u32, nv: &NvIndex) -> Result<(), Rc> {
    let p = &nv.public;
    if p.has(attr::READLOCKED) {
        return Err(Rc::NV_LOCKED);
    }
    let allowed = match auth {
        rh::OWNER => p.has(attr::OWNERREAD),
        rh::PLATFORM => p.has(attr::PPREAD),
        h => h == p.index,
    };
    if !allowed {
        return Err(Rc::NV_AUTHORIZATION);
    }
    if !p.has(attr::WRITTEN) {
        return Err(Rc::NV_UNINITIALIZED);
    }
    Ok(())
}

/// Replaces the data of the index at `handle` from `offset`, SETs WRITTEN, marks the state
/// changed.
fn store(tpm: &mut Tpm, handle: u32, offset: usize, data: &[u8]) -> Result<(), Rc> {
    let nv = tpm.perm.nv.get_mut(&handle).ok_or(Rc::HANDLE.handle(2))?;
    let end = offset.checked_add(data.len()).filter(|&e| e <= nv.data.len()).ok_or(Rc::NV_RANGE)?;
    nv.data[offset..end].copy_from_slice(data);
    nv.public.attributes |= attr::WRITTEN;
    tpm.mark_state_changed();
    Ok(())
}

/// The current 8-byte value of a counter or bit field (0 until written).
fn value64(nv: &NvIndex) -> u64 {
    if !nv.public.has(attr::WRITTEN) {
        return 0;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(nv.data.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(b)
}

/// TPM2_NV_DefineSpace(authHandle, auth, publicInfo).
pub fn nv_define_space(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let auth = c.params.tpm2b(MAX_DIGEST).p(1)?.to_vec();
    let public = NvPublic::read_2b(&mut c.params).p(2)?;
    c.finish()?;
    if !public.auth_policy.is_empty() && public.auth_policy.len() != public.name_alg.size() {
        return Err(Rc::SIZE.param(2));
    }
    let auth = crate::cmd::hierarchy::trim(&auth);
    if auth.len() > public.name_alg.size() {
        return Err(Rc::SIZE.param(1));
    }
    public.check_new(c.handles[0] == rh::PLATFORM)?;
    if tpm.perm.nv.contains_key(&public.index) {
        return Err(Rc::NV_DEFINED);
    }
    let used: usize = tpm.perm.nv.values().map(|n| n.data.len()).sum();
    if tpm.perm.nv.len() >= nv::MAX_NV_INDICES || used + usize::from(public.data_size) > nv::MAX_NV_DATA {
        return Err(Rc::NV_SPACE);
    }
    // unwritten bytes read as 0xFF (erased flash; as libtpms) once a part is written
    let data = Zeroizing::new(alloc::vec![0xFFu8; usize::from(public.data_size)]);
    tpm.perm.nv.insert(public.index, NvIndex { public, auth: Zeroizing::new(auth.to_vec()), data });
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_NV_UndefineSpace(authHandle, nvIndex): not an index with POLICY_DELETE
/// (`TPM_RC_ATTRIBUTES` + handle 2); the owner only deletes what the owner defined.
pub fn nv_undefine_space(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let (auth, handle) = (c.handles[0], c.handles[1]);
    let nv = index(tpm, handle, 2)?;
    if nv.public.has(attr::POLICY_DELETE) {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    if auth == rh::OWNER && nv.public.has(attr::PLATFORMCREATE) {
        return Err(Rc::NV_AUTHORIZATION);
    }
    tpm.perm.nv.remove(&handle);
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_NV_UndefineSpaceSpecial(nvIndex (ADMIN, policy), platform): only an index with
/// POLICY_DELETE (`TPM_RC_ATTRIBUTES` + handle 1).
pub fn nv_undefine_space_special(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let handle = c.handles[0];
    if !index(tpm, handle, 1)?.public.has(attr::POLICY_DELETE) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    tpm.perm.nv.remove(&handle);
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_NV_ReadPublic(nvIndex) → nvPublic, nvName.
pub fn nv_read_public(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let nv = index(tpm, c.handles[0], 1)?;
    resp.params.tpm2b(&nv.public.marshal()).tpm2b(&nv.public.name());
    Ok(())
}

/// TPM2_NV_Read(authHandle, nvIndex, size, offset) → data.
pub fn nv_read(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let size = usize::from(c.params.u16().p(1)?);
    let offset = usize::from(c.params.u16().p(2)?);
    c.finish()?;
    let nv = index(tpm, c.handles[1], 2)?;
    read_access(c.handles[0], nv)?;
    if size > MAX_NV_BUFFER {
        return Err(Rc::VALUE.param(1));
    }
    if offset > nv.data.len() {
        return Err(Rc::VALUE.param(2));
    }
    if size > nv.data.len() - offset {
        return Err(Rc::NV_RANGE);
    }
    resp.params.tpm2b(&nv.data[offset..offset + size]);
    Ok(())
}

/// TPM2_NV_Write(authHandle, nvIndex, data, offset): an ordinary index only
/// (`TPM_RC_ATTRIBUTES`); WRITEALL needs the whole index (`TPM_RC_NV_RANGE`).
pub fn nv_write(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let data = c.params.tpm2b(MAX_NV_BUFFER).p(1)?.to_vec();
    let offset = usize::from(c.params.u16().p(2)?);
    c.finish()?;
    let handle = c.handles[1];
    let nv = index(tpm, handle, 2)?;
    write_access(tpm, c.handles[0], nv)?;
    if nv.public.nt() != Nt::Ordinary {
        return Err(Rc::ATTRIBUTES);
    }
    if offset > nv.data.len() {
        return Err(Rc::VALUE.param(2));
    }
    if data.len() > nv.data.len() - offset {
        return Err(Rc::NV_RANGE);
    }
    if nv.public.has(attr::WRITEALL) && data.len() < nv.data.len() {
        return Err(Rc::NV_RANGE);
    }
    store(tpm, handle, offset, &data)
}

/// TPM2_NV_Increment(authHandle, nvIndex): a counter (`TPM_RC_ATTRIBUTES` + handle 2); an
/// unwritten counter starts from the largest value any counter has had.
pub fn nv_increment(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let handle = c.handles[1];
    let nv = index(tpm, handle, 2)?;
    write_access(tpm, c.handles[0], nv)?;
    if nv.public.nt() != Nt::Counter {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let current = if nv.public.has(attr::WRITTEN) { value64(nv) } else { tpm.perm.nv_max_counter };
    let next = current.checked_add(1).ok_or(Rc::NV_RANGE)?;
    tpm.perm.nv_max_counter = tpm.perm.nv_max_counter.max(next);
    store(tpm, handle, 0, &next.to_be_bytes())
}

/// TPM2_NV_SetBits(authHandle, nvIndex, bits): a bit field (`TPM_RC_ATTRIBUTES` + handle 2)
/// ORed with `bits`.
pub fn nv_set_bits(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let bits = c.params.u64().p(1)?;
    c.finish()?;
    let handle = c.handles[1];
    let nv = index(tpm, handle, 2)?;
    write_access(tpm, c.handles[0], nv)?;
    if nv.public.nt() != Nt::Bits {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let next = value64(nv) | bits;
    store(tpm, handle, 0, &next.to_be_bytes())
}

/// TPM2_NV_Extend(authHandle, nvIndex, data): an extend index (`TPM_RC_ATTRIBUTES` + handle
/// 2) becomes `H_nameAlg(old ‖ data)` (old: zeros until written).
pub fn nv_extend(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let data = c.params.tpm2b(MAX_NV_BUFFER).p(1)?.to_vec();
    c.finish()?;
    let handle = c.handles[1];
    let nv = index(tpm, handle, 2)?;
    write_access(tpm, c.handles[0], nv)?;
    if nv.public.nt() != Nt::Extend {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    let h = nv.public.name_alg;
    let old: Vec<u8> = if nv.public.has(attr::WRITTEN) { nv.data.to_vec() } else { alloc::vec![0; h.size()] };
    let next = h.digest(&[&old, &data]);
    store(tpm, handle, 0, &next)
}

/// TPM2_NV_WriteLock(authHandle, nvIndex): needs WRITEDEFINE or WRITE_STCLEAR
/// (`TPM_RC_ATTRIBUTES` + handle 2); locking a locked index succeeds.
pub fn nv_write_lock(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let handle = c.handles[1];
    let nv = index(tpm, handle, 2)?;
    if !nv.public.has(attr::WRITEDEFINE) && !nv.public.has(attr::WRITE_STCLEAR) {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    match write_access(tpm, c.handles[0], nv) {
        Err(Rc::NV_AUTHORIZATION) => return Err(Rc::NV_AUTHORIZATION),
        Err(_) => return Ok(()),
        Ok(()) => {}
    }
    if let Some(nv) = tpm.perm.nv.get_mut(&handle) {
        nv.public.attributes |= attr::WRITELOCKED;
    }
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_NV_ReadLock(authHandle, nvIndex): needs READ_STCLEAR (`TPM_RC_ATTRIBUTES` + handle
/// 2); locking a locked or unwritten index succeeds.
pub fn nv_read_lock(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let handle = c.handles[1];
    let nv = index(tpm, handle, 2)?;
    if !nv.public.has(attr::READ_STCLEAR) {
        return Err(Rc::ATTRIBUTES.handle(2));
    }
    match read_access(c.handles[0], nv) {
        Err(Rc::NV_AUTHORIZATION) => return Err(Rc::NV_AUTHORIZATION),
        Err(Rc::NV_LOCKED) => return Ok(()),
        _ => {}
    }
    if let Some(nv) = tpm.perm.nv.get_mut(&handle) {
        nv.public.attributes |= attr::READLOCKED;
    }
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_NV_GlobalWriteLock(authHandle): every index with GLOBALLOCK is write-locked until
/// the next TPM2_Startup(CLEAR) (also those defined later).
pub fn nv_global_write_lock(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    tpm.perm.nv_global_lock = true;
    for nv in tpm.perm.nv.values_mut().filter(|nv| nv.public.has(attr::GLOBALLOCK)) {
        nv.public.attributes |= attr::WRITELOCKED;
    }
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_NV_ChangeAuth(nvIndex (ADMIN), newAuth): at most a digest of nameAlg
/// (`TPM_RC_SIZE` + parameter 1).
pub fn nv_change_auth(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let new_auth = c.params.tpm2b(MAX_DIGEST).p(1)?.to_vec();
    c.finish()?;
    let handle = c.handles[0];
    let size = index(tpm, handle, 1)?.public.name_alg.size();
    let new_auth = crate::cmd::hierarchy::trim(&new_auth);
    if new_auth.len() > size {
        return Err(Rc::SIZE.param(1));
    }
    if let Some(nv) = tpm.perm.nv.get_mut(&handle) {
        nv.auth = Zeroizing::new(new_auth.to_vec());
    }
    tpm.mark_state_changed();
    Ok(())
}
