//! NV spaces (the owner-free paths; owner-authorized ones are in the auth tests).

use super::*;
use crate::Rc;
use crate::constants::{nv_per, tag as stag};

fn pcr_info_open() -> Vec<u8> {
    let mut v = vec![0, 3, 0, 0, 0, 0x1f];
    v.extend_from_slice(&[0; 20]);
    v
}

pub fn define_body(index: u32, attrs: u32, size: u32, auth: [u8; 20]) -> Vec<u8> {
    let mut b = stag::NV_DATA_PUBLIC.to_be_bytes().to_vec();
    b.extend_from_slice(&index.to_be_bytes());
    b.extend(pcr_info_open());
    b.extend(pcr_info_open());
    b.extend_from_slice(&stag::NV_ATTRIBUTES.to_be_bytes());
    b.extend_from_slice(&attrs.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&auth);
    b
}

fn write_body(index: u32, offset: u32, data: &[u8]) -> Vec<u8> {
    let mut b = be32s(&[index, offset, data.len() as u32]);
    b.extend_from_slice(data);
    b
}

#[test]
fn define_write_read_without_owner() {
    let mut t = started();
    let _ = t.save_image();
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x1000, nv_per::PPWRITE, 16, [0; 20])).0, 0);
    assert!(t.state_changed());
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x1000, 0, 16])).1[4..], [0xff; 16]);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x1000, 4, b"hello")).0, 0);
    let (rc, out) = rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x1000, 4, 5]));
    assert_eq!(rc, 0);
    assert_eq!(out, [&be32s(&[5])[..], b"hello"].concat());
    // Out of range.
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x1000, 12, 5])).0, Rc::NOSPACE.0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x1000, 15, b"ab")).0, Rc::NOSPACE.0);
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x1000, u32::MAX, 2])).0, Rc::NOSPACE.0);
    // Unknown index.
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x1001, 0, 1])).0, Rc::BADINDEX.0);
    // Listed.
    let (rc, out) = rqu(&mut t, ord::GetCapability, &be32s(&[0x0D, 0]));
    assert_eq!((rc, out), (0, be32s(&[4, 0x1000])));
    // Without an owner a locked TPM refuses deletion (only the owner may release).
    assert_eq!(
        rqu(&mut t, ord::NV_DefineSpace, &define_body(0x1000, nv_per::PPWRITE, 0, [0; 20])).0,
        Rc::BAD_DATASIZE.0
    );
    // Unlocked, deletion works.
    t.perm.flags.nvLocked = false;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x1000, nv_per::PPWRITE, 0, [0; 20])).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x1000, 0, 1])).0, Rc::BADINDEX.0);
}

#[test]
fn define_rules() {
    let mut t = started();
    // D bit, index 0, no write path, conflicting auth attributes, too big.
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x1000_0002, 1, 4, [0; 20])).0, Rc::BADINDEX.0);
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0, 1, 4, [0; 20])).0, Rc::BADINDEX.0);
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x2000, 0, 4, [0; 20])).0, Rc::PER_NOWRITE.0);
    let conflict = nv_per::OWNERWRITE | nv_per::AUTHWRITE;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x2000, conflict, 4, [0; 20])).0, Rc::AUTH_CONFLICT.0);
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x2000, 1, 9000, [0; 20])).0, Rc::NOSPACE.0);
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x2000, 1, 0, [0; 20])).0, Rc::BAD_DATASIZE.0);
    let mut bad_tag = define_body(0x2000, 1, 4, [0; 20]);
    bad_tag[1] = 0x19;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &bad_tag).0, Rc::BAD_PARAMETER.0);
    let mut bad_loc = define_body(0x2000, 1, 4, [0; 20]);
    bad_loc[11] = 0;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &bad_loc).0, Rc::INVALID_STRUCTURE.0);
}

#[test]
fn write_once_and_locks() {
    let mut t = started();
    let attrs = nv_per::PPWRITE | nv_per::WRITEDEFINE;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x3000, attrs, 4, [0; 20])).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x3000, 0, b"abcd")).0, 0);
    // A zero-length write locks a WRITEDEFINE space for good.
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x3000, 0, b"")).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x3000, 0, b"x")).0, Rc::AREA_LOCKED.0);
    t.init();
    rqu(&mut t, ord::Startup, &st::CLEAR.to_be_bytes());
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x3000, 0, b"x")).0, Rc::AREA_LOCKED.0);
    // WRITEALL.
    let attrs = nv_per::PPWRITE | nv_per::WRITEALL;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x3001, attrs, 4, [0; 20])).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x3001, 0, b"ab")).0, Rc::NOT_FULLWRITE.0);
    // Owner-write space without owner auth: conflict.
    let attrs = nv_per::OWNERWRITE;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x3002, attrs, 4, [0; 20])).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x3002, 0, b"ab")).0, Rc::AUTH_CONFLICT.0);
    // Auth-read space via plain read: conflict.
    let attrs = nv_per::PPWRITE | nv_per::AUTHREAD;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x3003, attrs, 4, [0; 20])).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x3003, 0, 1])).0, Rc::AUTH_CONFLICT.0);
    // Global lock via index 0.
    let attrs = nv_per::PPWRITE | nv_per::GLOBALLOCK;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x3004, attrs, 4, [0; 20])).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0, 0, b"")).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x3004, 0, b"a")).0, Rc::AREA_LOCKED.0);
}

#[test]
fn pcr_bound_space() {
    let mut t = started();
    let mut body = define_body(0x4000, nv_per::PPWRITE, 4, [0; 20]);
    // pcrInfoRead: select PCR 0, digestAtRelease = composite of the current PCR 0.
    let sel = crate::cmd::pcr::PcrSelection { select: vec![1, 0, 0] };
    let d = sel.composite_hash(&t.vol.stclear_data.pcrs);
    body[12..32].copy_from_slice(&d);
    body[8] = 1;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &body).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x4000, 0, 4])).0, 0);
    rqu(&mut t, ord::Extend, &[0; 24]);
    assert_eq!(rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x4000, 0, 4])).0, Rc::WRONGPCRVAL.0);
    // Locality: write restricted to locality 2 only.
    let mut body = define_body(0x4001, nv_per::PPWRITE, 4, [0; 20]);
    body[32 + 5] = 0x04;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &body).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x4001, 0, b"a")).0, Rc::BAD_LOCALITY.0);
    assert_eq!(rqu_at(&mut t, 2, ord::NV_WriteValue, &write_body(0x4001, 0, b"a")).0, 0);
}

#[test]
fn nv_lock_index_and_unlocked_mode() {
    let mut t = started();
    t.perm.flags.nvLocked = false;
    // Unlocked: no presence needed; an owner-write space can be written without auth.
    let mut t2 = crate::testing::tpm_with_ek(
        crate::testing::test_ek(),
        4,
        TpmOptions { hardware_physical_presence: false, ..TpmOptions::default() },
    );
    rqu(&mut t2, ord::Startup, &st::CLEAR.to_be_bytes());
    assert_eq!(
        rqu(&mut t2, ord::NV_DefineSpace, &define_body(0x5000, nv_per::OWNERWRITE, 4, [0; 20])).0,
        Rc::BAD_PRESENCE.0
    );
    t2.perm.flags.nvLocked = false;
    assert_eq!(rqu(&mut t2, ord::NV_DefineSpace, &define_body(0x5000, nv_per::OWNERWRITE, 4, [0; 20])).0, 0);
    assert_eq!(rqu(&mut t2, ord::NV_WriteValue, &write_body(0x5000, 0, b"a")).0, 0);
    // Locking.
    assert_eq!(rqu(&mut t2, ord::NV_DefineSpace, &define_body(0xFFFF_FFFF, 0, 0, [0; 20])).0, 0);
    assert!(t2.perm.flags.nvLocked);
    assert_eq!(rqu(&mut t2, ord::NV_WriteValue, &write_body(0x5000, 0, b"a")).0, Rc::AUTH_CONFLICT.0);
    let _ = t;
}

#[test]
fn ownerless_write_limit() {
    let mut t = started();
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x6000, nv_per::PPWRITE, 4, [0; 20])).0, 0);
    for _ in 0..62 {
        assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x6000, 0, b"a")).0, 0);
    }
    assert_eq!(t.perm.data.no_owner_nv_write, 63);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x6000, 0, b"a")).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x6000, 0, b"a")).0, Rc::MAXNVWRITES.0);
}

#[test]
fn dir_register() {
    let mut t = started();
    let (rc, out) = rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x1000_0001, 0, 20]));
    assert_eq!(rc, 0);
    assert_eq!(out[4..], [0; 20]);
    assert_eq!(rqu(&mut t, ord::NV_WriteValue, &write_body(0x1000_0001, 0, &[1; 20])).0, Rc::AUTH_CONFLICT.0);
}

/// I3: an NV read never builds a response larger than the 4088-byte buffer; the oversized
/// request fails before the session is touched, so the session lives on.
#[test]
fn nv_reads_fit_the_buffer() {
    use crate::cmd::nv::max_read;
    use crate::constants::{INPUT_BUFFER_SIZE, et};
    use crate::testing::client::Client;
    let mut t = started();
    let (idx, auth) = (0x3000u32, [0x31u8; 20]);
    let attrs = nv_per::AUTHREAD | nv_per::AUTHWRITE;
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(idx, attrs, 4096, auth)).0, 0);
    assert_eq!(rqu(&mut t, ord::NV_DefineSpace, &define_body(0x3001, nv_per::PPWRITE, 4096, [0; 20])).0, 0);
    // Unauthorized read: 4074 bytes fit exactly, 4075 do not.
    let (rc, out) = rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x3001, 0, max_read(0) as u32]));
    assert_eq!((rc, 10 + out.len()), (0, INPUT_BUFFER_SIZE as usize));
    let (rc, _) = rqu(&mut t, ord::NV_ReadValue, &be32s(&[0x3001, 0, max_read(0) as u32 + 1]));
    assert_eq!(rc, Rc::BAD_DATASIZE.0);
    // Authorized read.
    let mut c = Client::new(|cmd: &[u8]| t.execute(0, cmd), 5);
    let mut s = c.osap(et::NV, idx, auth).unwrap();
    s.keep = true;
    let r = c.auth(ord::NV_ReadValueAuth, &[], &be32s(&[idx, 0, 4096]), &mut [&mut s], 0).unwrap();
    assert_eq!(r.rc, Rc::BAD_DATASIZE.0);
    let r = c.auth(ord::NV_ReadValueAuth, &[], &be32s(&[idx, 0, max_read(1) as u32]), &mut [&mut s], 0).unwrap();
    assert_eq!((r.rc, r.raw.len()), (0, INPUT_BUFFER_SIZE as usize));
}
