//! The management messages (tag `0x01C2`, `VTPM_TAG_REQ2`): their ordinals, a strict decoder
//! of each request's parameters (the manager's side), and the encoders and reply decoders a
//! management client uses (`vtpmctl`). Fact sheets: `xen-vtpm-facts.md` §7.2/§7.3,
//! `wave2-facts.md` §4.
//!
//! Kept compatible with the C manager on the wire (same ordinal, parameters and reply):
//!
//! | ordinal | name | request | reply |
//! |---|---|---|---|
//! | `0x02000101` | GROUP_LIST | — | u32 number of groups (always 1: group 0) |
//! | `0x02000201` | VTPM_LIST | u32 group ‖ u32 offset | u32 total ‖ at most [`VTPM_LIST_MAX`] uuids from `offset` |
//! | `0x02000204` | VTPM_NEW | u32 group [‖ uuid 16] | uuid 16 |
//! | `0x02000205` | VTPM_DEL | uuid 16 | — |
//!
//! Differences from C: VTPM_LIST never returns more uuids than one reply on the shared page
//! holds (C's reply grew to 8 KiB and wedged tpmback past 254 uuids); the caller pages with
//! `offset` until it has `total`. Trailing bytes after the parameters are refused
//! (`TPM_BAD_PARAMETER`) for every ordinal (C ignores them for VTPM_LIST).
//! The other C ordinals (GROUP_NEW … GROUP_SHOW, VTPM_SHOW/EDIT, the 0x020003xx ones) are
//! answered `TPM_BAD_ORDINAL`: this manager has no groups besides group 0.
//!
//! Ours, in a range the C manager does not use (`0x0280_00xx`, [`RS_ORD_BASE`]):
//!
//! | ordinal | name | request | reply |
//! |---|---|---|---|
//! | `0x02800001` | RS_BACKUP | uuid 16 | backup blob (`migration::BackupBlob`) |
//! | `0x02800002` | RS_RESTORE | backup blob | uuid 16 |
//! | `0x02800003` | RS_MANAGER_KEY | — | u16 algorithm (1 = X25519) ‖ public key 32 |
//! | `0x02800004` | RS_EXPORT | uuid 16 ‖ u16 algorithm ‖ target public key 32 | export blob (`migration::ExportBlob`) |
//! | `0x02800005` | RS_IMPORT | export blob | uuid 16 |
//!
//! Blobs are at most [`BLOB_MAX`] bytes. Every decode error is a return code, never a panic
//! (fuzzed: `fuzz/fuzz_targets/mgr_root_record.rs`, selector 4).

use alloc::vec::Vec;

use tpm_frame::{HEADER_LEN, TPM_BAD_PARAMETER, TPM_SUCCESS};

use crate::proto::{self, ReplyError, TPM_BAD_ORDINAL, VTPM_TAG_REQ2};

/// `VTPM_ORD_GROUP_LIST`.
pub const VTPM_ORD_GROUP_LIST: u32 = 0x0200_0101;
/// `VTPM_ORD_VTPM_LIST`.
pub const VTPM_ORD_VTPM_LIST: u32 = 0x0200_0201;
/// `VTPM_ORD_VTPM_NEW`.
pub const VTPM_ORD_VTPM_NEW: u32 = 0x0200_0204;
/// `VTPM_ORD_VTPM_DEL`.
pub const VTPM_ORD_VTPM_DEL: u32 = 0x0200_0205;
/// The first of our ordinals (the C manager's are `0x020001xx` … `0x020003xx`).
pub const RS_ORD_BASE: u32 = 0x0280_0000;
/// Ours: the record's key material wrapped for this manager only.
pub const RS_ORD_BACKUP: u32 = RS_ORD_BASE + 1;
/// Ours: a backup back into the table.
pub const RS_ORD_RESTORE: u32 = RS_ORD_BASE + 2;
/// Ours: the manager's migration public key.
pub const RS_ORD_MANAGER_KEY: u32 = RS_ORD_BASE + 3;
/// Ours: a record sealed to another manager's key; the record is retired here.
pub const RS_ORD_EXPORT: u32 = RS_ORD_BASE + 4;
/// Ours: an export blob into the table, once.
pub const RS_ORD_IMPORT: u32 = RS_ORD_BASE + 5;

/// The migration key's algorithm: X25519 (RFC 7748).
pub const ALG_X25519: u16 = 1;
/// The group this manager has.
pub const GROUP_0: u32 = 0;
/// The most uuids in one VTPM_LIST reply: 10 + 4 + 16 × 254 = 4078 ≤ 4088, the shared page.
pub const VTPM_LIST_MAX: usize = 254;
/// The longest blob a request or reply carries.
pub const BLOB_MAX: usize = 1024;

/// `TPM_BADINDEX`: a group other than 0, or an unknown uuid for our ordinals.
pub const TPM_BADINDEX: u32 = 2;
/// `TPM_AUTHFAIL`: the caller may not manage, or a blob does not authenticate (changed bytes).
pub const TPM_AUTHFAIL: u32 = 1;
/// `TPM_FAIL`: the C manager's answer for VTPM_DEL of an unknown or open uuid; a disk error.
pub const TPM_FAIL: u32 = 9;
/// TPM 1.2 vendor-specific return codes start here (`TPM_Vendor_Specific32`).
pub const TPM_VENDOR_ERROR: u32 = 0x400;
/// Ours: a record with this uuid exists (VTPM_NEW, RESTORE, IMPORT).
pub const RC_EXISTS: u32 = TPM_VENDOR_ERROR + 1;
/// Ours: this export blob was imported before (replay).
pub const RC_REPLAYED: u32 = TPM_VENDOR_ERROR + 2;
/// Ours: the blob was made for another manager.
pub const RC_OTHER_MANAGER: u32 = TPM_VENDOR_ERROR + 3;
/// Ours: the record was exported from this manager (retired): it is not served, backed up or
/// exported to another key.
pub const RC_RETIRED: u32 = TPM_VENDOR_ERROR + 4;
/// Ours: the vTPM is connected (BACKUP, EXPORT; VTPM_DEL answers C's `TPM_FAIL`).
pub const RC_OPEN: u32 = TPM_VENDOR_ERROR + 5;

/// A sentence for a management return code (for clients' error messages).
pub fn rc_text(rc: u32) -> &'static str {
    match rc {
        TPM_AUTHFAIL => "not authorised, or the blob does not authenticate (changed or not ours)",
        TPM_BADINDEX => "no such group or vTPM",
        TPM_BAD_PARAMETER => "malformed request",
        TPM_FAIL => "the manager failed (unknown or connected vTPM, or a disk error)",
        TPM_BAD_ORDINAL => "not implemented by this manager",
        RC_EXISTS => "a vTPM with this uuid exists at the manager",
        RC_REPLAYED => "this export was imported before (replay refused)",
        RC_OTHER_MANAGER => "the blob was made for another manager",
        RC_RETIRED => "the vTPM was exported from this manager (retired)",
        RC_OPEN => "the vTPM is connected; stop it first",
        _ => "error",
    }
}

/// A decoded management request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MgmtRequest {
    GroupList,
    VtpmList {
        group: u32,
        offset: u32,
    },
    VtpmNew {
        group: u32,
        uuid: Option<[u8; 16]>,
    },
    VtpmDel {
        uuid: [u8; 16],
    },
    Backup {
        uuid: [u8; 16],
    },
    Restore {
        blob: Vec<u8>,
    },
    ManagerKey,
    Export {
        uuid: [u8; 16],
        alg: u16,
        target: [u8; 32],
    },
    Import {
        blob: Vec<u8>,
    },
    /// An ordinal this manager does not implement (`TPM_BAD_ORDINAL`).
    Unknown(u32),
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// Decodes the parameters of management `ordinal`; `Err` is the return code to answer.
pub fn decode(ordinal: u32, body: &[u8]) -> Result<MgmtRequest, u32> {
    let bad = Err(TPM_BAD_PARAMETER);
    Ok(match ordinal {
        VTPM_ORD_GROUP_LIST if body.is_empty() => MgmtRequest::GroupList,
        VTPM_ORD_VTPM_LIST if body.len() == 8 => MgmtRequest::VtpmList { group: be32(body), offset: be32(&body[4..]) },
        VTPM_ORD_VTPM_NEW if body.len() == 4 => MgmtRequest::VtpmNew { group: be32(body), uuid: None },
        VTPM_ORD_VTPM_NEW if body.len() == 20 => {
            MgmtRequest::VtpmNew { group: be32(body), uuid: Some(arr(&body[4..])) }
        }
        VTPM_ORD_VTPM_DEL if body.len() == 16 => MgmtRequest::VtpmDel { uuid: arr(body) },
        RS_ORD_BACKUP if body.len() == 16 => MgmtRequest::Backup { uuid: arr(body) },
        RS_ORD_RESTORE if !body.is_empty() && body.len() <= BLOB_MAX => MgmtRequest::Restore { blob: body.to_vec() },
        RS_ORD_MANAGER_KEY if body.is_empty() => MgmtRequest::ManagerKey,
        RS_ORD_EXPORT if body.len() == 50 => MgmtRequest::Export {
            uuid: arr(body),
            alg: u16::from_be_bytes([body[16], body[17]]),
            target: arr(&body[18..]),
        },
        RS_ORD_IMPORT if !body.is_empty() && body.len() <= BLOB_MAX => MgmtRequest::Import { blob: body.to_vec() },
        VTPM_ORD_GROUP_LIST | VTPM_ORD_VTPM_LIST | VTPM_ORD_VTPM_NEW | VTPM_ORD_VTPM_DEL | RS_ORD_BACKUP
        | RS_ORD_RESTORE | RS_ORD_MANAGER_KEY | RS_ORD_EXPORT | RS_ORD_IMPORT => return bad,
        other => MgmtRequest::Unknown(other),
    })
}

/// The request frame of `req` (the client's side; `Unknown(o)` is an empty request `o`).
pub fn encode(req: &MgmtRequest) -> Vec<u8> {
    let (ordinal, body): (u32, Vec<u8>) = match req {
        MgmtRequest::GroupList => (VTPM_ORD_GROUP_LIST, Vec::new()),
        MgmtRequest::VtpmList { group, offset } => {
            (VTPM_ORD_VTPM_LIST, [group.to_be_bytes(), offset.to_be_bytes()].concat())
        }
        MgmtRequest::VtpmNew { group, uuid } => {
            let mut b = group.to_be_bytes().to_vec();
            if let Some(u) = uuid {
                b.extend_from_slice(u);
            }
            (VTPM_ORD_VTPM_NEW, b)
        }
        MgmtRequest::VtpmDel { uuid } => (VTPM_ORD_VTPM_DEL, uuid.to_vec()),
        MgmtRequest::Backup { uuid } => (RS_ORD_BACKUP, uuid.to_vec()),
        MgmtRequest::Restore { blob } => (RS_ORD_RESTORE, blob.clone()),
        MgmtRequest::ManagerKey => (RS_ORD_MANAGER_KEY, Vec::new()),
        MgmtRequest::Export { uuid, alg, target } => {
            (RS_ORD_EXPORT, [&uuid[..], &alg.to_be_bytes(), &target[..]].concat())
        }
        MgmtRequest::Import { blob } => (RS_ORD_IMPORT, blob.clone()),
        MgmtRequest::Unknown(o) => (*o, Vec::new()),
    };
    tpm_frame::command(VTPM_TAG_REQ2, ordinal, &body)
}

/// A success reply to a management request.
pub fn ok(body: &[u8]) -> Vec<u8> {
    proto::reply(VTPM_TAG_REQ2, TPM_SUCCESS, body)
}

/// An error reply (10 bytes, tag `0x01C5`).
pub fn err(rc: u32) -> Vec<u8> {
    proto::error_reply(VTPM_TAG_REQ2, rc).to_vec()
}

/// The parameters of a success reply (any tag; `paramSize` must be the length).
pub fn reply_body(frame: &[u8]) -> Result<&[u8], ReplyError> {
    let h = tpm_frame::Header::parse(frame).ok_or(ReplyError::Malformed)?;
    if !tpm_frame::is_consistent(frame) {
        return Err(ReplyError::Malformed);
    }
    if h.code != TPM_SUCCESS {
        return Err(ReplyError::Rc(h.code));
    }
    Ok(&frame[HEADER_LEN..])
}

/// GROUP_LIST's reply: the number of groups.
pub fn decode_group_list(frame: &[u8]) -> Result<u32, ReplyError> {
    match reply_body(frame)? {
        b if b.len() == 4 => Ok(be32(b)),
        _ => Err(ReplyError::BadPayload),
    }
}

/// VTPM_LIST's reply: the total and this page's uuids.
pub fn decode_vtpm_list(frame: &[u8]) -> Result<(u32, Vec<[u8; 16]>), ReplyError> {
    let b = reply_body(frame)?;
    if b.len() < 4 || !(b.len() - 4).is_multiple_of(16) {
        return Err(ReplyError::BadPayload);
    }
    Ok((be32(b), b[4..].chunks_exact(16).map(arr).collect()))
}

/// A reply that is one uuid (VTPM_NEW, RESTORE, IMPORT).
pub fn decode_uuid(frame: &[u8]) -> Result<[u8; 16], ReplyError> {
    match reply_body(frame)? {
        b if b.len() == 16 => Ok(arr(b)),
        _ => Err(ReplyError::BadPayload),
    }
}

/// A reply without parameters (VTPM_DEL).
pub fn decode_empty(frame: &[u8]) -> Result<(), ReplyError> {
    match reply_body(frame)? {
        [] => Ok(()),
        _ => Err(ReplyError::BadPayload),
    }
}

/// A reply that is a blob (BACKUP, EXPORT).
pub fn decode_blob(frame: &[u8]) -> Result<Vec<u8>, ReplyError> {
    match reply_body(frame)? {
        b if !b.is_empty() && b.len() <= BLOB_MAX => Ok(b.to_vec()),
        _ => Err(ReplyError::BadPayload),
    }
}

/// MANAGER_KEY's reply: the algorithm and the public key.
pub fn decode_manager_key(frame: &[u8]) -> Result<(u16, [u8; 32]), ReplyError> {
    match reply_body(frame)? {
        b if b.len() == 34 => Ok((u16::from_be_bytes([b[0], b[1]]), arr(&b[2..]))),
        _ => Err(ReplyError::BadPayload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn c_shapes_on_the_wire() {
        // manage-vtpmmgr.pl's `list`: 0x1C2, size 10, GROUP_LIST
        assert_eq!(encode(&MgmtRequest::GroupList), [0x01, 0xC2, 0, 0, 0, 10, 2, 0, 1, 1]);
        let l = encode(&MgmtRequest::VtpmList { group: 0, offset: 3 });
        assert_eq!(l, [0x01, 0xC2, 0, 0, 0, 18, 2, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 3]);
        // VTPM_NEW with a uuid is exactly 30 bytes (as C requires)
        assert_eq!(encode(&MgmtRequest::VtpmNew { group: 0, uuid: Some([7; 16]) }).len(), 30);
        assert_eq!(encode(&MgmtRequest::VtpmNew { group: 0, uuid: None }).len(), 14);
        assert_eq!(encode(&MgmtRequest::VtpmDel { uuid: [1; 16] }).len(), 26);
        assert_eq!(err(TPM_AUTHFAIL), [0x01, 0xC5, 0, 0, 0, 10, 0, 0, 0, 1]);
        assert_eq!(&ok(&[0, 0, 0, 1])[..], &[0x01, 0xC4, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn every_request_round_trips() {
        for r in [
            MgmtRequest::GroupList,
            MgmtRequest::VtpmList { group: 1, offset: 0xFFFF_FFFF },
            MgmtRequest::VtpmNew { group: 0, uuid: None },
            MgmtRequest::VtpmNew { group: 2, uuid: Some([9; 16]) },
            MgmtRequest::VtpmDel { uuid: [3; 16] },
            MgmtRequest::Backup { uuid: [4; 16] },
            MgmtRequest::Restore { blob: vec![1, 2, 3] },
            MgmtRequest::ManagerKey,
            MgmtRequest::Export { uuid: [5; 16], alg: ALG_X25519, target: [6; 32] },
            MgmtRequest::Import { blob: vec![8; BLOB_MAX] },
            MgmtRequest::Unknown(0x0200_0102),
        ] {
            let f = encode(&r);
            assert!(tpm_frame::is_consistent(&f));
            assert_eq!(decode(be32(&f[6..]), &f[10..]), Ok(r));
        }
    }

    #[test]
    fn wrong_shapes_are_bad_parameter() {
        for (o, n) in [
            (VTPM_ORD_GROUP_LIST, 1),
            (VTPM_ORD_VTPM_LIST, 4),
            (VTPM_ORD_VTPM_LIST, 9),
            (VTPM_ORD_VTPM_NEW, 0),
            (VTPM_ORD_VTPM_NEW, 5),
            (VTPM_ORD_VTPM_NEW, 21), // manage-vtpmmgr.pl's NUL-terminated uuid
            (VTPM_ORD_VTPM_DEL, 15),
            (VTPM_ORD_VTPM_DEL, 17),
            (RS_ORD_BACKUP, 0),
            (RS_ORD_RESTORE, 0),
            (RS_ORD_RESTORE, BLOB_MAX + 1),
            (RS_ORD_MANAGER_KEY, 1),
            (RS_ORD_EXPORT, 49),
            (RS_ORD_EXPORT, 51),
            (RS_ORD_IMPORT, 0),
        ] {
            assert_eq!(decode(o, &vec![0; n]), Err(TPM_BAD_PARAMETER), "{o:#x} with {n} bytes");
        }
        assert_eq!(decode(0x0200_0106, &[0; 300]), Ok(MgmtRequest::Unknown(0x0200_0106)));
    }

    #[test]
    fn reply_decoders_refuse_bad_shapes() {
        assert_eq!(decode_group_list(&ok(&[0, 0, 0, 1])), Ok(1));
        assert_eq!(decode_group_list(&ok(&[0, 0, 1])), Err(ReplyError::BadPayload));
        assert_eq!(decode_group_list(&err(7)), Err(ReplyError::Rc(7)));
        assert_eq!(decode_group_list(&[1, 2]), Err(ReplyError::Malformed));
        let mut page = 2u32.to_be_bytes().to_vec();
        page.extend_from_slice(&[1; 16]);
        assert_eq!(decode_vtpm_list(&ok(&page)), Ok((2, vec![[1; 16]])));
        page.push(0);
        assert_eq!(decode_vtpm_list(&ok(&page)), Err(ReplyError::BadPayload));
        assert_eq!(decode_uuid(&ok(&[1; 16])), Ok([1; 16]));
        assert_eq!(decode_uuid(&ok(&[1; 15])), Err(ReplyError::BadPayload));
        assert_eq!(decode_empty(&ok(&[])), Ok(()));
        assert_eq!(decode_empty(&ok(&[0])), Err(ReplyError::BadPayload));
        assert_eq!(decode_blob(&ok(&[])), Err(ReplyError::BadPayload));
        let mut k = ALG_X25519.to_be_bytes().to_vec();
        k.extend_from_slice(&[2; 32]);
        assert_eq!(decode_manager_key(&ok(&k)), Ok((ALG_X25519, [2; 32])));
        assert_eq!(decode_manager_key(&ok(&k[..33])), Err(ReplyError::BadPayload));
    }
}
