//! NV storage: TPM_NV_DefineSpace, NV_WriteValue, NV_WriteValueAuth,
//! NV_ReadValue, NV_ReadValueAuth (Part 3 §20), with the permission attributes
//! of Part 2 §19.2 and the DIR register as index TPM_NV_INDEX_DIR.
//!
//! While `nvLocked` is FALSE the spec waives most access checks (only
//! AUTHREAD/AUTHWRITE and the ownerless write limit remain); a manufactured TPM
//! here has `nvLocked` TRUE, as shipped hardware does.

use alloc::vec;
use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{loc, nv_index, nv_per, ord, tag};
use crate::crypto::{Digest, Secret};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};
use crate::state::NvSpace;

use super::pcr::{PcrSelection, locality_bit};
use crate::auth;
use crate::state::sessions::AuthEntity;

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(
        ord::NV_DefineSpace,
        nv_define_space,
        tags::RQU_AUTH1,
        0,
        check::ALLOW_NO_OWNER.union(check::NV_NOAUTH),
    ),
    OrdinalEntry::new(ord::NV_WriteValue, nv_write_value, tags::RQU_AUTH1, 0, check::BASIC),
    OrdinalEntry::new(ord::NV_WriteValueAuth, nv_write_value_auth, tags::AUTH1, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::NV_ReadValue, nv_read_value, tags::RQU_AUTH1, 0, check::BASIC),
    OrdinalEntry::new(ord::NV_ReadValueAuth, nv_read_value_auth, tags::AUTH1, 0, check::ALLOW_NO_OWNER),
];

/// Total bytes of NV data the TPM holds (all spaces together).
pub const NV_TOTAL: usize = 8192;
/// `TPM_MAX_NV_WRITE_NOOWNER`: NV writes allowed without an owner.
pub const MAX_NV_WRITE_NOOWNER: u32 = 64;

/// Free NV bytes (TPM_CAP_PROP_MAX_NV_AVAILABLE).
pub fn free_space(tpm: &Tpm) -> usize {
    NV_TOTAL.saturating_sub(tpm.perm.data.nv.iter().map(|s| s.data.len()).sum())
}

/// Startup(ST_CLEAR): clears bReadSTClear/bWriteSTClear of every space.
pub fn startup_clear(tpm: &mut Tpm) {
    for s in &mut tpm.perm.data.nv {
        s.read_st_clear = false;
        s.write_st_clear = false;
    }
}

/// For TPM_OwnerClear / TPM_ForceClear: deletes the spaces the owner controls
/// (OWNERREAD or OWNERWRITE) and resets the ownerless write count.
pub fn owner_clear(tpm: &mut Tpm) {
    tpm.perm.data.nv.retain(|s| s.attributes & (nv_per::OWNERREAD | nv_per::OWNERWRITE) == 0);
    tpm.perm.data.no_owner_nv_write = 0;
    tpm.mark_state_changed();
}

/// A parsed `TPM_PCR_INFO_SHORT` (Part 2 §8.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrInfoShort {
    /// `pcrSelection`.
    pub selection: PcrSelection,
    /// `localityAtRelease`.
    pub locality_at_release: u8,
    /// `digestAtRelease`.
    pub digest_at_release: Digest,
}

impl PcrInfoShort {
    /// Parses and validates (locality 0 or > 0x1F is `TPM_INVALID_STRUCTURE`).
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let selection = PcrSelection::decode(r)?;
        let locality_at_release = r.u8()?;
        let digest_at_release = r.array()?;
        if locality_at_release == 0 || locality_at_release & !loc::ALL != 0 {
            return Err(Rc::INVALID_STRUCTURE);
        }
        Ok(Self { selection, locality_at_release, digest_at_release })
    }

    /// Encodes it.
    pub fn encode(&self, w: &mut Writer) {
        self.selection.encode(w);
        w.u8(self.locality_at_release).bytes(&self.digest_at_release);
    }

    /// Checks locality and PCR state: `TPM_BAD_LOCALITY`, `TPM_WRONGPCRVAL`.
    pub fn check(&self, tpm: &Tpm, locality: u8) -> Result<(), Rc> {
        if self.locality_at_release & locality_bit(locality) == 0 {
            return Err(Rc::BAD_LOCALITY);
        }
        if !self.selection.is_empty()
            && self.selection.composite_hash(&tpm.vol.stclear_data.pcrs) != self.digest_at_release
        {
            return Err(Rc::WRONGPCRVAL);
        }
        Ok(())
    }
}

fn pcr_info_raw(r: &mut Reader<'_>) -> Result<Vec<u8>, Rc> {
    let start = r.position();
    PcrInfoShort::decode(r)?;
    Ok(r.buffer()[start..r.position()].to_vec())
}

fn check_pcr_info(raw: &[u8], tpm: &Tpm, locality: u8) -> Result<(), Rc> {
    PcrInfoShort::decode(&mut Reader::new(raw))?.check(tpm, locality)
}

/// True if `index` names a GPIO index or a reserved bit is set (not definable here).
fn index_unsupported(index: u32) -> bool {
    index & nv_index::RESVD != 0 || (0x0001_1600..=0x0001_16FF).contains(&index)
}

/// TPM_NV_DefineSpace (Part 3 §20.1). Defines, or with dataSize 0 deletes, a space.
pub fn nv_define_space(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let r = &mut cmd.params;
    if r.u16()? != tag::NV_DATA_PUBLIC {
        return Err(Rc::BAD_PARAMETER);
    }
    let index = r.u32()?;
    let pcr_info_read = pcr_info_raw(r)?;
    let pcr_info_write = pcr_info_raw(r)?;
    if r.u16()? != tag::NV_ATTRIBUTES {
        return Err(Rc::BAD_PARAMETER);
    }
    let attributes = r.u32()?;
    let _b_read_st_clear = r.bool()?;
    let _b_write_st_clear = r.bool()?;
    let _b_write_define = r.bool()?;
    let data_size = r.u32()? as usize;
    let enc_auth: Digest = r.array()?;
    r.finish()?;
    cmd.force_end_sessions = true;
    let locked = tpm.perm.flags.nvLocked;

    // 1. The lock index.
    if index == nv_index::LOCK && cmd.auth_count() == 0 {
        if data_size != 0 {
            return Err(Rc::BADINDEX);
        }
        if !tpm.perm.flags.nvLocked {
            tpm.perm.flags.nvLocked = true;
            tpm.mark_state_changed();
        }
        return Ok(());
    }
    // 3. D bit and index 0 (the D check is waived while unlocked).
    if index == 0 || (locked && index & nv_index::D_BIT != 0) || index == nv_index::LOCK {
        return Err(Rc::BADINDEX);
    }
    // 4./5. Authorization.
    let mut no_owner_writes = None;
    let auth_value = if cmd.auth_count() == 1 {
        auth::check_owner(tpm, cmd, 0)?;
        auth::decrypt_adip(tpm, cmd, 0, &enc_auth)?
    } else {
        if locked {
            if !tpm.physical_presence() {
                return Err(Rc::BAD_PRESENCE);
            }
            if tpm.perm.data.owner_installed {
                return Err(Rc::OWNER_SET);
            }
            if data_size == 0 {
                return Err(Rc::BAD_DATASIZE);
            }
        }
        let n = tpm.perm.data.no_owner_nv_write + 1;
        if !tpm.perm.data.owner_installed {
            if n > MAX_NV_WRITE_NOOWNER {
                return Err(Rc::MAXNVWRITES);
            }
            no_owner_writes = Some(n);
        }
        Secret(enc_auth)
    };
    // 6. An existing space is replaced (or deleted).
    if let Some(pos) = tpm.perm.data.nv.iter().position(|s| s.index == index) {
        let s = &tpm.perm.data.nv[pos];
        if locked && s.attributes & nv_per::GLOBALLOCK != 0 && tpm.vol.stclear_flags.bGlobalLock {
            return Err(Rc::AREA_LOCKED);
        }
        if locked && s.attributes & nv_per::WRITE_STCLEAR != 0 && s.write_st_clear {
            return Err(Rc::AREA_LOCKED);
        }
        tpm.perm.data.nv.remove(pos);
        // 6.f.i: every authorization session for the old space ends (saved ones fail their
        // entity digest at use).
        tpm.sessions.terminate_entity(AuthEntity::Nv(index));
        if let Some(n) = no_owner_writes {
            tpm.perm.data.no_owner_nv_write = n;
        }
        tpm.mark_state_changed();
        if data_size == 0 {
            return Ok(());
        }
    } else if data_size == 0 {
        return Err(Rc::BADINDEX);
    }
    // 9. Attribute consistency.
    let both = |a: u32, b: u32| attributes & a != 0 && attributes & b != 0;
    if both(nv_per::OWNERWRITE, nv_per::AUTHWRITE) || both(nv_per::OWNERREAD, nv_per::AUTHREAD) {
        return Err(Rc::AUTH_CONFLICT);
    }
    let write_access = nv_per::OWNERWRITE | nv_per::AUTHWRITE | nv_per::WRITEDEFINE | nv_per::PPWRITE;
    let write_locality_restricted =
        PcrInfoShort::decode(&mut Reader::new(&pcr_info_write))?.locality_at_release != loc::ALL;
    if attributes & write_access == 0 && !write_locality_restricted {
        return Err(Rc::PER_NOWRITE);
    }
    if index_unsupported(index) {
        return Err(Rc::BADINDEX);
    }
    // 11. Space.
    if data_size > crate::state::nv::MAX_NV_SPACE || data_size > free_space(tpm) {
        return Err(Rc::NOSPACE);
    }
    tpm.perm.data.nv.push(NvSpace {
        index,
        pcr_info_read,
        pcr_info_write,
        attributes,
        read_st_clear: false,
        write_st_clear: false,
        write_define: false,
        auth: auth_value,
        data: vec![0xFF; data_size],
    });
    if let Some(n) = no_owner_writes {
        tpm.perm.data.no_owner_nv_write = n;
    }
    tpm.mark_state_changed();
    Ok(())
}

/// The DIR register seen as an NV space (Part 3 §20: TPM_NV_INDEX_DIR).
fn dir_space(tpm: &Tpm) -> NvSpace {
    let open = {
        let mut w = Writer::new();
        w.u16(0).u8(loc::ALL).bytes(&[0; 20]);
        w.into_vec()
    };
    NvSpace {
        index: nv_index::DIR,
        pcr_info_read: open.clone(),
        pcr_info_write: open,
        attributes: nv_per::OWNERWRITE | nv_per::WRITEALL,
        read_st_clear: false,
        write_st_clear: false,
        write_define: false,
        auth: Secret::default(),
        data: tpm.perm.data.auth_dir.to_vec(),
    }
}

/// Which command variant is running.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// NV_WriteValue / NV_ReadValue (owner auth or none).
    Plain,
    /// NV_WriteValueAuth / NV_ReadValueAuth (the space's own auth).
    SpaceAuth,
}

/// NV_WriteValue and NV_WriteValueAuth (Part 3 §20.2, §20.3).
fn write(tpm: &mut Tpm, cmd: &mut Command<'_>, access: Access) -> Result<(), Rc> {
    let index = cmd.params.u32()?;
    let offset = cmd.params.u32()? as usize;
    let data = cmd.params.sized32()?;
    cmd.params.finish()?;
    let locked = tpm.perm.flags.nvLocked;
    let is_dir = index == nv_index::DIR;
    let space = if is_dir {
        dir_space(tpm)
    } else if index == 0 {
        // Index 0 is "set bGlobalLock" (handled below); it has no space.
        NvSpace { index: 0, attributes: 0, ..dir_space(tpm) }
    } else {
        tpm.perm.data.nv.iter().find(|s| s.index == index).cloned().ok_or(Rc::BADINDEX)?
    };
    let attrs = space.attributes;
    let mut no_owner_writes = None;
    match access {
        Access::SpaceAuth => {
            if attrs & nv_per::AUTHWRITE == 0 {
                return Err(Rc::AUTH_CONFLICT);
            }
            auth::check(tpm, cmd, 0, AuthEntity::Nv(index), &space.auth)?;
        }
        Access::Plain => {
            if locked && attrs & nv_per::OWNERWRITE != 0 {
                if tpm.perm.flags.disable {
                    return Err(Rc::DISABLED);
                }
                if tpm.vol.stclear_flags.deactivated {
                    return Err(Rc::DEACTIVATED);
                }
            }
            if cmd.auth_count() == 1 {
                if attrs & nv_per::OWNERWRITE == 0 && index != 0 {
                    return Err(Rc::AUTH_CONFLICT);
                }
                auth::check_owner(tpm, cmd, 0)?;
            } else {
                if locked && attrs & nv_per::OWNERWRITE != 0 {
                    return Err(Rc::AUTH_CONFLICT);
                }
                if !tpm.perm.data.owner_installed {
                    let n = tpm.perm.data.no_owner_nv_write + 1;
                    if n > MAX_NV_WRITE_NOOWNER {
                        return Err(Rc::MAXNVWRITES);
                    }
                    no_owner_writes = Some(n);
                }
            }
            if index == 0 {
                if !data.is_empty() {
                    return Err(Rc::BADINDEX);
                }
                tpm.vol.stclear_flags.bGlobalLock = true;
                return Ok(());
            }
            if attrs & nv_per::AUTHWRITE != 0 {
                return Err(Rc::AUTH_CONFLICT);
            }
        }
    }
    if locked {
        check_pcr_info(&space.pcr_info_write, tpm, cmd.locality)?;
        if attrs & nv_per::PPWRITE != 0 && !tpm.physical_presence() {
            return Err(Rc::BAD_PRESENCE);
        }
        if attrs & nv_per::WRITEDEFINE != 0 && space.write_define {
            return Err(Rc::AREA_LOCKED);
        }
        if attrs & nv_per::GLOBALLOCK != 0 && tpm.vol.stclear_flags.bGlobalLock {
            return Err(Rc::AREA_LOCKED);
        }
        if attrs & nv_per::WRITE_STCLEAR != 0 && space.write_st_clear {
            return Err(Rc::AREA_LOCKED);
        }
    }
    let end = offset.checked_add(data.len()).ok_or(Rc::NOSPACE)?;
    if !data.is_empty() {
        if end > space.data.len() {
            return Err(Rc::NOSPACE);
        }
        if attrs & nv_per::WRITEALL != 0 && data.len() != space.data.len() {
            return Err(Rc::NOT_FULLWRITE);
        }
    }
    if is_dir {
        if !data.is_empty() {
            tpm.perm.data.auth_dir[offset..end].copy_from_slice(data);
        }
    } else if let Some(s) = tpm.perm.data.nv.iter_mut().find(|s| s.index == index) {
        if data.is_empty() {
            s.write_st_clear = true;
            s.write_define = true;
        } else {
            s.data[offset..end].copy_from_slice(data);
        }
        s.read_st_clear = false;
    }
    if let Some(n) = no_owner_writes {
        tpm.perm.data.no_owner_nv_write = n;
    }
    tpm.mark_state_changed();
    Ok(())
}

/// NV_ReadValue and NV_ReadValueAuth (Part 3 §20.4, §20.5).
/// The largest NV read whose response fits the 4088-byte buffer: header (10), dataSize (4)
/// and one 41-byte auth trailer per session (`auth_count`).
pub fn max_read(auth_count: usize) -> usize {
    crate::constants::INPUT_BUFFER_SIZE as usize - 14 - 41 * auth_count
}

fn read(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response, access: Access) -> Result<(), Rc> {
    let index = cmd.params.u32()?;
    let offset = cmd.params.u32()? as usize;
    let size = cmd.params.u32()? as usize;
    cmd.params.finish()?;
    // A response larger than the buffer would be replaced by the transport (tpmback answers
    // TPM_SIZE) after the session nonces rolled; refuse it before any session is touched.
    // libtpms has a larger buffer and no such limit; TPM_BAD_DATASIZE is ours.
    if size > max_read(cmd.auth_count()) {
        return Err(Rc::BAD_DATASIZE);
    }
    let locked = tpm.perm.flags.nvLocked;
    let space = if index == nv_index::DIR {
        dir_space(tpm)
    } else {
        tpm.perm.data.nv.iter().find(|s| s.index == index).cloned().ok_or(Rc::BADINDEX)?
    };
    let attrs = space.attributes;
    match access {
        Access::SpaceAuth => {
            if attrs & nv_per::AUTHREAD == 0 {
                return Err(Rc::AUTH_CONFLICT);
            }
            auth::check(tpm, cmd, 0, AuthEntity::Nv(index), &space.auth)?;
        }
        Access::Plain => {
            if locked && attrs & nv_per::OWNERREAD != 0 {
                if tpm.perm.flags.disable {
                    return Err(Rc::DISABLED);
                }
                if tpm.vol.stclear_flags.deactivated {
                    return Err(Rc::DEACTIVATED);
                }
            }
            if cmd.auth_count() == 1 {
                if attrs & nv_per::OWNERREAD == 0 {
                    return Err(Rc::AUTH_CONFLICT);
                }
                auth::check_owner(tpm, cmd, 0)?;
            } else {
                if attrs & nv_per::AUTHREAD != 0 {
                    return Err(Rc::AUTH_CONFLICT);
                }
                if locked && attrs & nv_per::OWNERREAD != 0 {
                    return Err(Rc::AUTH_CONFLICT);
                }
            }
        }
    }
    if locked {
        check_pcr_info(&space.pcr_info_read, tpm, cmd.locality)?;
        if attrs & nv_per::PPREAD != 0 && !tpm.physical_presence() {
            return Err(Rc::BAD_PRESENCE);
        }
        if attrs & nv_per::READ_STCLEAR != 0 && space.read_st_clear {
            return Err(Rc::DISABLED_CMD);
        }
    }
    if size == 0 {
        if let Some(s) = tpm.perm.data.nv.iter_mut().find(|s| s.index == index) {
            s.read_st_clear = true;
        }
        resp.params.u32(0);
        return Ok(());
    }
    let end = offset.checked_add(size).ok_or(Rc::NOSPACE)?;
    if end > space.data.len() {
        return Err(Rc::NOSPACE);
    }
    resp.params.sized32(&space.data[offset..end]);
    Ok(())
}

/// TPM_NV_WriteValue.
pub fn nv_write_value(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    write(tpm, cmd, Access::Plain)
}

/// TPM_NV_WriteValueAuth.
pub fn nv_write_value_auth(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    write(tpm, cmd, Access::SpaceAuth)
}

/// TPM_NV_ReadValue.
pub fn nv_read_value(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    read(tpm, cmd, resp, Access::Plain)
}

/// TPM_NV_ReadValueAuth.
pub fn nv_read_value_auth(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    read(tpm, cmd, resp, Access::SpaceAuth)
}
