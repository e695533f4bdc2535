//! TPM2_HierarchyChangeAuth and TPM2_Clear (Part 3 §24.8, §24.6), and the hierarchies'
//! authorization values: ownerAuth, endorsementAuth and lockoutAuth are permanent,
//! platformAuth is emptied by every TPM Reset and Restart. Only lockoutAuth is protected
//! against dictionary attacks: a wrong lockoutAuth locks it out for
//! [`LOCKOUT_RECOVERY_MS`] of TPM clock (the other hierarchies are DA-exempt, Part 1 §19.8).

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::cmd::{Command, Response};
use crate::constants::{MAX_DIGEST, PRIMARY_SEED_SIZE, rh};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// lockoutRecovery: how long a wrong lockoutAuth locks lockoutAuth out (1000 s, the
/// reference's default).
pub const LOCKOUT_RECOVERY_MS: u64 = 1_000_000;

/// An authorization value as the TPM keeps and compares it: trailing zero bytes removed.
pub fn trim(auth: &[u8]) -> &[u8] {
    let end = auth.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &auth[..end]
}

/// The authorization value of hierarchy `handle`.
pub fn auth_value(tpm: &Tpm, handle: u32) -> Zeroizing<Vec<u8>> {
    let v: &[u8] = match handle {
        rh::OWNER => &tpm.perm.owner_auth,
        rh::ENDORSEMENT => &tpm.perm.endorsement_auth,
        rh::LOCKOUT => &tpm.perm.lockout_auth,
        rh::PLATFORM => tpm.vol.as_ref().map(|v| v.platform_auth.as_slice()).unwrap_or(&[]),
        _ => &[],
    };
    Zeroizing::new(v.to_vec())
}

/// Whether lockoutAuth is locked out now (a lockout that has expired is lifted).
pub fn locked_out(tpm: &mut Tpm) -> bool {
    let until = tpm.perm.lockout_until_ms;
    if until == 0 {
        return false;
    }
    if tpm.clock_ms() >= until {
        tpm.perm.lockout_until_ms = 0;
        tpm.mark_state_changed();
        return false;
    }
    true
}

/// A wrong lockoutAuth: lock it out.
pub fn lock_out(tpm: &mut Tpm) {
    tpm.perm.lockout_until_ms = tpm.clock_ms().saturating_add(LOCKOUT_RECOVERY_MS).max(1);
    tpm.mark_state_changed();
}

/// TPM2_HierarchyChangeAuth(authHandle, newAuth).
pub fn hierarchy_change_auth(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let new = c.params.tpm2b(MAX_DIGEST).p(1)?;
    c.finish()?;
    let new = Zeroizing::new(trim(new).to_vec());
    match c.handles.first().copied() {
        Some(rh::OWNER) => tpm.perm.owner_auth = new,
        Some(rh::ENDORSEMENT) => tpm.perm.endorsement_auth = new,
        Some(rh::LOCKOUT) => tpm.perm.lockout_auth = new,
        Some(rh::PLATFORM) => {
            if let Some(v) = tpm.vol.as_mut() {
                v.platform_auth = new;
            }
            return Ok(());
        }
        _ => return Err(Rc::VALUE.handle(1)),
    }
    tpm.mark_state_changed();
    Ok(())
}

/// TPM2_Clear(authHandle): a new storage primary seed; ownerAuth, endorsementAuth and
/// lockoutAuth emptied; the lockout lifted; the objects of the storage and endorsement
/// hierarchies (transient and persistent) flushed, the NV indices the owner defined
/// (platformCreate CLEAR) undefined.
pub fn clear(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let mut sps = Zeroizing::new([0u8; PRIMARY_SEED_SIZE]);
    tpm.random(&mut sps[..]);
    tpm.perm.sps = sps;
    let cleared = |o: &crate::object::Object| matches!(o.hierarchy, rh::OWNER | rh::ENDORSEMENT);
    tpm.objects.retain(|_, o| !cleared(o));
    tpm.perm.persistent.retain(|_, o| !cleared(o));
    tpm.perm.nv.retain(|_, nv| nv.public.has(crate::nv::attr::PLATFORMCREATE));
    tpm.perm.owner_auth = Zeroizing::new(Vec::new());
    tpm.perm.endorsement_auth = Zeroizing::new(Vec::new());
    tpm.perm.lockout_auth = Zeroizing::new(Vec::new());
    tpm.perm.lockout_until_ms = 0;
    tpm.mark_state_changed();
    Ok(())
}
