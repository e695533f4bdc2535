//! Monotonic counters: TPM_CreateCounter, IncrementCounter, ReadCounter,
//! ReleaseCounter, ReleaseCounterOwner (Part 3 §25).
//!
//! Values never go backwards: a new counter starts one above the largest value
//! any counter ever had. Only one counter may be incremented per Startup cycle
//! (`TPM_STCLEAR_DATA.countID`); releasing it blocks all increments until the
//! next Startup.

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{ord, tag};
use crate::crypto::Digest;
use crate::frame::{Command, OrdinalEntry, Response, check, tags};
use crate::state::Counter;

use crate::auth;
use crate::state::sessions::AuthEntity;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::CreateCounter, create_counter, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::IncrementCounter, increment_counter, tags::AUTH1, 0, check::ALL),
    OrdinalEntry::new(ord::ReadCounter, read_counter, tags::RQU, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::ReleaseCounter, release_counter, tags::AUTH1, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::ReleaseCounterOwner, release_counter_owner, tags::AUTH1, 0, check::ALL),
];

/// Counters the TPM holds at once (TPM_CAP_PROP_MAX_COUNTERS).
pub const MAX_COUNTERS: usize = 8;

/// `countID` value after the active counter was released: matches no counter.
pub const COUNT_ID_ILLEGAL: u32 = 0xFFFF_FFFE;

/// `TPM_COUNTER_VALUE` (Part 2 §5.? ).
fn encode_value(c: &Counter, w: &mut Writer) {
    w.u16(tag::COUNTER_VALUE).bytes(&c.label).u32(c.value);
}

fn find(tpm: &Tpm, id: u32) -> Result<usize, Rc> {
    tpm.perm.data.counters.iter().position(|c| c.handle == id).ok_or(Rc::BAD_COUNTER)
}

/// For TPM_OwnerClear / TPM_ForceClear: releases every counter.
pub fn owner_clear(tpm: &mut Tpm) {
    tpm.perm.data.counters.clear();
    if tpm.vol.stclear_data.count_id.is_some() {
        tpm.vol.stclear_data.count_id = Some(COUNT_ID_ILLEGAL);
    }
    tpm.mark_state_changed();
}

/// TPM_CreateCounter: owner-authorized; the counter auth arrives ADIP-encrypted.
pub fn create_counter(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let enc_auth: Digest = cmd.params.array()?;
    let label: [u8; 4] = cmd.params.array()?;
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    let secret = auth::decrypt_adip(tpm, cmd, 0, &enc_auth)?;
    if tpm.perm.data.counters.len() >= MAX_COUNTERS {
        return Err(Rc::SIZE);
    }
    let d = &mut tpm.perm.data;
    let value = d.max_counter_value.checked_add(1).ok_or(Rc::BAD_COUNTER)?;
    let mut handle = d.next_counter_handle.max(1);
    while d.counters.iter().any(|c| c.handle == handle) || handle >= COUNT_ID_ILLEGAL {
        handle = if handle >= COUNT_ID_ILLEGAL { 1 } else { handle + 1 };
    }
    d.next_counter_handle = handle.wrapping_add(1);
    d.max_counter_value = value;
    let c = Counter { handle, label, value, auth: secret };
    resp.params.u32(handle);
    encode_value(&c, &mut resp.params);
    d.counters.push(c);
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_IncrementCounter.
pub fn increment_counter(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let id = cmd.params.u32()?;
    cmd.params.finish()?;
    let i = find(tpm, id)?;
    let secret = tpm.perm.data.counters[i].auth.clone();
    auth::check(tpm, cmd, 0, AuthEntity::Counter(id), &secret)?;
    match tpm.vol.stclear_data.count_id {
        None => tpm.vol.stclear_data.count_id = Some(id),
        Some(active) if active == id => {}
        Some(_) => return Err(Rc::BAD_COUNTER),
    }
    let d = &mut tpm.perm.data;
    let c = &mut d.counters[i];
    c.value = c.value.checked_add(1).ok_or(Rc::BAD_COUNTER)?;
    d.max_counter_value = d.max_counter_value.max(c.value);
    encode_value(c, &mut resp.params);
    tpm.mark_state_changed();
    Ok(())
}

/// TPM_ReadCounter.
pub fn read_counter(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let id = cmd.params.u32()?;
    cmd.params.finish()?;
    let i = find(tpm, id)?;
    encode_value(&tpm.perm.data.counters[i], &mut resp.params);
    Ok(())
}

fn release(tpm: &mut Tpm, i: usize, id: u32) {
    tpm.perm.data.counters.remove(i);
    // ReleaseCounter 3.a: OSAP sessions on the counter end (saved ones fail their entity digest).
    tpm.sessions.terminate_entity(AuthEntity::Counter(id));
    if tpm.vol.stclear_data.count_id == Some(id) {
        tpm.vol.stclear_data.count_id = Some(COUNT_ID_ILLEGAL);
    }
    tpm.mark_state_changed();
}

/// TPM_ReleaseCounter: authorized with the counter's own secret.
pub fn release_counter(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let id = cmd.params.u32()?;
    cmd.params.finish()?;
    let i = find(tpm, id)?;
    let secret = tpm.perm.data.counters[i].auth.clone();
    auth::check(tpm, cmd, 0, AuthEntity::Counter(id), &secret)?;
    release(tpm, i, id);
    Ok(())
}

/// TPM_ReleaseCounterOwner: authorized by the owner.
pub fn release_counter_owner(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let id = cmd.params.u32()?;
    cmd.params.finish()?;
    auth::check_owner(tpm, cmd, 0)?;
    let i = find(tpm, id)?;
    release(tpm, i, id);
    Ok(())
}
