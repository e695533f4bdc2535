//! Tests of the NV commands: definition checks, data / counter / bits / extend indices,
//! the access checks, locks and their STCLEAR lifetimes, the global lock, undefinition,
//! TPM2_Clear, dictionary-attack answers, the change flag, and NV in the state image.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::{cc, rh, su};
use crate::crypto::HashAlg;
use crate::nv::attr;
use crate::testing::{plain, rc, with_password};
use crate::tests_objects::{params, started};

pub(crate) const INDEX: u32 = 0x0150_0001;
const RW: u32 = attr::AUTHWRITE | attr::AUTHREAD;

/// A `TPM2B_NV_PUBLIC` (SHA-256, no policy).
pub(crate) fn nv_public(index: u32, attributes: u32, size: u16) -> Vec<u8> {
    let mut p = Writer::new();
    p.u32(index).u16(crate::constants::alg::SHA256).u32(attributes).u16(0).u16(size);
    let mut w = Writer::new();
    w.tpm2b(&p.0);
    w.0
}

pub(crate) fn define(tpm: &mut Tpm, auth_handle: u32, auth: &[u8], index: u32, attributes: u32, size: u16) -> u32 {
    let mut w = Writer::new();
    w.tpm2b(auth).bytes(&nv_public(index, attributes, size));
    rc(&tpm.execute(0, &with_password(cc::NV_DEFINE_SPACE, &[auth_handle], b"", &w.0)))
}

fn write(tpm: &mut Tpm, auth: (u32, &[u8]), index: u32, data: &[u8], offset: u16) -> u32 {
    let mut w = Writer::new();
    w.tpm2b(data).u16(offset);
    rc(&tpm.execute(0, &with_password(cc::NV_WRITE, &[auth.0, index], auth.1, &w.0)))
}

fn read(tpm: &mut Tpm, auth: (u32, &[u8]), index: u32, size: u16, offset: u16) -> Result<Vec<u8>, u32> {
    let mut w = Writer::new();
    w.u16(size).u16(offset);
    let r = tpm.execute(0, &with_password(cc::NV_READ, &[auth.0, index], auth.1, &w.0));
    if rc(&r) != 0 {
        return Err(rc(&r));
    }
    Ok(Reader::new(&params(&r, 0)).tpm2b(2048).expect("data").to_vec())
}

fn simple(tpm: &mut Tpm, code: u32, auth: (u32, &[u8]), index: u32, body: &[u8]) -> u32 {
    rc(&tpm.execute(0, &with_password(code, &[auth.0, index], auth.1, body)))
}

fn read_public(tpm: &mut Tpm, index: u32) -> (u32, Vec<u8>) {
    let r = tpm.execute(0, &plain(cc::NV_READ_PUBLIC, &index.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    let mut rd = Reader::new(&r[10..]);
    let p = rd.tpm2b(256).expect("nvPublic").to_vec();
    let name = rd.tpm2b(64).expect("nvName").to_vec();
    (u32::from_be_bytes([p[6], p[7], p[8], p[9]]), name)
}

fn restart(tpm: &mut Tpm, state: bool) {
    let ty = if state { su::STATE } else { su::CLEAR };
    assert_eq!(rc(&tpm.execute(0, &plain(cc::SHUTDOWN, &ty.to_be_bytes()))), 0);
    tpm.init();
    assert_eq!(rc(&tpm.execute(0, &plain(cc::STARTUP, &ty.to_be_bytes()))), 0);
}

#[test]
fn define_write_read_and_the_change_flag() {
    let mut tpm = started(40);
    tpm.clear_changed();
    assert_eq!(define(&mut tpm, rh::OWNER, b"pw", INDEX, RW, 16), 0);
    assert!(tpm.state_changed(), "DefineSpace changes the image");
    assert_eq!(define(&mut tpm, rh::OWNER, b"pw", INDEX, RW, 16), 0x14C, "TPM_RC_NV_DEFINED");
    let me = (INDEX, &b"pw"[..]);
    assert_eq!(read(&mut tpm, me, INDEX, 4, 0), Err(0x14A), "TPM_RC_NV_UNINITIALIZED");
    let (attrs, name1) = read_public(&mut tpm, INDEX);
    assert_eq!(attrs, RW);
    tpm.clear_changed();
    assert_eq!(write(&mut tpm, me, INDEX, b"hello", 3), 0);
    assert!(tpm.state_changed(), "NV_Write changes the image");
    let (attrs, name2) = read_public(&mut tpm, INDEX);
    assert_eq!(attrs, RW | attr::WRITTEN);
    assert_ne!(name1, name2, "WRITTEN is in the Name");
    tpm.clear_changed();
    assert_eq!(read(&mut tpm, me, INDEX, 8, 0).unwrap(), b"\xFF\xFF\xFFhello", "unwritten bytes are 0xFF");
    assert!(!tpm.state_changed(), "NV_Read does not");
    // the range and the access checks
    assert_eq!(read(&mut tpm, me, INDEX, 8, 9), Err(0x146), "TPM_RC_NV_RANGE");
    assert_eq!(read(&mut tpm, me, INDEX, 1, 17), Err(0x2C4), "offset beyond: TPM_RC_VALUE + P2");
    assert_eq!(write(&mut tpm, me, INDEX, &[1; 17], 0), 0x146);
    assert_eq!(read(&mut tpm, (rh::OWNER, b""), INDEX, 4, 0), Err(0x149), "no OWNERREAD: TPM_RC_NV_AUTHORIZATION");
    assert_eq!(write(&mut tpm, (rh::OWNER, b""), INDEX, b"x", 0), 0x149);
    assert_eq!(read(&mut tpm, (INDEX, b"px"), INDEX, 4, 0), Err(0x98E), "a wrong authValue: TPM_RC_AUTH_FAIL");
    assert_eq!(read(&mut tpm, me, 0x0150_0002, 4, 0), Err(0x28B), "not defined: TPM_RC_HANDLE + H2");
    // the owner may read / write what OWNERREAD / OWNERWRITE allow
    let owner_rw = attr::OWNERWRITE | attr::OWNERREAD | attr::NO_DA;
    assert_eq!(define(&mut tpm, rh::OWNER, b"ix", 0x0150_0002, owner_rw, 4), 0);
    assert_eq!(write(&mut tpm, (rh::OWNER, b""), 0x0150_0002, b"abcd", 0), 0);
    assert_eq!(read(&mut tpm, (rh::OWNER, b""), 0x0150_0002, 4, 0).unwrap(), b"abcd");
    // no AUTHREAD: the index's own authValue is not available
    assert_eq!(read(&mut tpm, (0x0150_0002, b"ix"), 0x0150_0002, 4, 0), Err(0x12F), "TPM_RC_AUTH_UNAVAILABLE");
    // undefine: the owner, then it is gone
    assert_eq!(simple(&mut tpm, cc::NV_UNDEFINE_SPACE, (rh::OWNER, b""), 0x0150_0002, &[]), 0);
    assert_eq!(read(&mut tpm, (rh::OWNER, b""), 0x0150_0002, 4, 0), Err(0x28B));
}

#[test]
fn definition_refusals() {
    let mut tpm = started(41);
    let d = |tpm: &mut Tpm, a: u32, size: u16| define(tpm, rh::OWNER, b"", INDEX, a, size);
    assert_eq!(d(&mut tpm, attr::AUTHWRITE, 8), 0x2C2, "no read authorization: TPM_RC_ATTRIBUTES + P2");
    assert_eq!(d(&mut tpm, RW | attr::WRITTEN, 8), 0x2C2);
    assert_eq!(d(&mut tpm, RW | 1 << 4, 4), 0x2D5, "a counter of 4 bytes: TPM_RC_SIZE + P2");
    assert_eq!(d(&mut tpm, RW | 1 << 4 | attr::CLEAR_STCLEAR, 8), 0x2C2);
    assert_eq!(d(&mut tpm, RW | 4 << 4, 20), 0x2D5, "an extend index is a digest of nameAlg");
    assert_eq!(d(&mut tpm, RW, 4096), 0x2D5);
    assert_eq!(d(&mut tpm, RW | attr::PLATFORMCREATE, 8), 0x182, "the owner defines no platform index");
    assert_eq!(d(&mut tpm, RW | 1 << 8, 8), 0x2E1, "reserved bit: TPM_RC_RESERVED_BITS + P2");
    assert_eq!(define(&mut tpm, rh::OWNER, &[1; 33], INDEX, RW, 8), 0x1D5, "authValue longer than SHA-256");
    assert_eq!(define(&mut tpm, rh::LOCKOUT, b"", INDEX, RW, 8), 0x184, "TPMI_RH_PROVISION: TPM_RC_VALUE + H1");
    let mut w = Writer::new();
    w.tpm2b(b"").bytes(&nv_public(0x8100_0001, RW, 8));
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::NV_DEFINE_SPACE, &[rh::OWNER], b"", &w.0))), 0x2C4);
    // the platform defines a platformCreate index; the owner cannot undefine it
    assert_eq!(define(&mut tpm, rh::PLATFORM, b"", 0x0140_0001, RW | attr::PLATFORMCREATE, 8), 0);
    assert_eq!(simple(&mut tpm, cc::NV_UNDEFINE_SPACE, (rh::OWNER, b""), 0x0140_0001, &[]), 0x149);
    assert_eq!(simple(&mut tpm, cc::NV_UNDEFINE_SPACE, (rh::PLATFORM, b""), 0x0140_0001, &[]), 0);
}

#[test]
fn counters_bits_and_extend() {
    let mut tpm = started(42);
    let me = (INDEX, &b""[..]);
    assert_eq!(define(&mut tpm, rh::OWNER, b"", INDEX, RW | 1 << 4, 8), 0);
    assert_eq!(simple(&mut tpm, cc::NV_INCREMENT, me, INDEX, &[]), 0);
    assert_eq!(simple(&mut tpm, cc::NV_INCREMENT, me, INDEX, &[]), 0);
    assert_eq!(read(&mut tpm, me, INDEX, 8, 0).unwrap(), 2u64.to_be_bytes());
    assert_eq!(write(&mut tpm, me, INDEX, &[0; 8], 0), 0x082, "NV_Write of a counter: TPM_RC_ATTRIBUTES");
    // a new counter starts from the largest value any counter had
    assert_eq!(simple(&mut tpm, cc::NV_UNDEFINE_SPACE, (rh::OWNER, b""), INDEX, &[]), 0);
    assert_eq!(define(&mut tpm, rh::OWNER, b"", INDEX, RW | 1 << 4, 8), 0);
    assert_eq!(simple(&mut tpm, cc::NV_INCREMENT, me, INDEX, &[]), 0);
    assert_eq!(read(&mut tpm, me, INDEX, 8, 0).unwrap(), 3u64.to_be_bytes());
    // bits
    let bits = 0x0150_0003;
    assert_eq!(define(&mut tpm, rh::OWNER, b"", bits, RW | 2 << 4, 8), 0);
    assert_eq!(simple(&mut tpm, cc::NV_SET_BITS, (bits, b""), bits, &1u64.to_be_bytes()), 0);
    assert_eq!(simple(&mut tpm, cc::NV_SET_BITS, (bits, b""), bits, &0x10u64.to_be_bytes()), 0);
    assert_eq!(read(&mut tpm, (bits, b""), bits, 8, 0).unwrap(), 0x11u64.to_be_bytes());
    assert_eq!(simple(&mut tpm, cc::NV_INCREMENT, (bits, b""), bits, &[]), 0x282, "not a counter: + H2");
    // extend: SHA-256(old ‖ data), old zeros until written
    let ext = 0x0150_0004;
    assert_eq!(define(&mut tpm, rh::OWNER, b"", ext, RW | 4 << 4, 32), 0);
    assert_eq!(simple(&mut tpm, cc::NV_EXTEND, (ext, b""), ext, &[0, 3, b'a', b'b', b'c']), 0);
    let want = HashAlg::Sha256.digest(&[&[0; 32], b"abc"]);
    assert_eq!(read(&mut tpm, (ext, b""), ext, 32, 0).unwrap(), want);
    assert_eq!(simple(&mut tpm, cc::NV_EXTEND, (ext, b""), ext, &[0, 1, b'd']), 0);
    assert_eq!(read(&mut tpm, (ext, b""), ext, 32, 0).unwrap(), HashAlg::Sha256.digest(&[&want, b"d"]));
    assert_eq!(simple(&mut tpm, cc::NV_EXTEND, me, INDEX, &[0, 1, b'd']), 0x282);
}

#[test]
fn locks_and_their_lifetimes() {
    let mut tpm = started(43);
    let me = (INDEX, &b""[..]);
    // WRITE_STCLEAR: a WriteLock lasts until the next Startup(CLEAR), not across a Resume
    assert_eq!(define(&mut tpm, rh::OWNER, b"", INDEX, RW | attr::WRITE_STCLEAR | attr::READ_STCLEAR, 4), 0);
    assert_eq!(write(&mut tpm, me, INDEX, b"abcd", 0), 0);
    assert_eq!(simple(&mut tpm, cc::NV_WRITE_LOCK, me, INDEX, &[]), 0);
    assert_eq!(simple(&mut tpm, cc::NV_WRITE_LOCK, me, INDEX, &[]), 0, "locking again succeeds");
    assert_eq!(write(&mut tpm, me, INDEX, b"efgh", 0), 0x148, "TPM_RC_NV_LOCKED");
    assert_eq!(simple(&mut tpm, cc::NV_READ_LOCK, me, INDEX, &[]), 0);
    assert_eq!(read(&mut tpm, me, INDEX, 4, 0), Err(0x148));
    restart(&mut tpm, true);
    assert_eq!(write(&mut tpm, me, INDEX, b"efgh", 0), 0x148, "kept across a TPM Resume");
    restart(&mut tpm, false);
    assert_eq!(write(&mut tpm, me, INDEX, b"efgh", 0), 0, "a TPM Restart unlocks");
    assert_eq!(read(&mut tpm, me, INDEX, 4, 0).unwrap(), b"efgh");
    // WRITEDEFINE: the lock of a written index lasts
    let wd = 0x0150_0002;
    assert_eq!(define(&mut tpm, rh::OWNER, b"", wd, RW | attr::WRITEDEFINE, 4), 0);
    assert_eq!(write(&mut tpm, (wd, b""), wd, b"once", 0), 0);
    assert_eq!(simple(&mut tpm, cc::NV_WRITE_LOCK, (wd, b""), wd, &[]), 0);
    restart(&mut tpm, false);
    assert_eq!(write(&mut tpm, (wd, b""), wd, b"twice", 0), 0x148);
    // neither WRITEDEFINE nor WRITE_STCLEAR: no write lock; no READ_STCLEAR: no read lock
    let plain_index = 0x0150_0003;
    assert_eq!(define(&mut tpm, rh::OWNER, b"", plain_index, RW | attr::GLOBALLOCK, 4), 0);
    assert_eq!(simple(&mut tpm, cc::NV_WRITE_LOCK, (plain_index, b""), plain_index, &[]), 0x282);
    assert_eq!(simple(&mut tpm, cc::NV_READ_LOCK, (plain_index, b""), plain_index, &[]), 0x282);
    // GlobalWriteLock: GLOBALLOCK indices until the next Startup(CLEAR)
    assert_eq!(write(&mut tpm, (plain_index, b""), plain_index, b"1234", 0), 0);
    let r = tpm.execute(0, &with_password(cc::NV_GLOBAL_WRITE_LOCK, &[rh::OWNER], b"", &[]));
    assert_eq!(rc(&r), 0);
    assert_eq!(write(&mut tpm, (plain_index, b""), plain_index, b"5678", 0), 0x148);
    assert_eq!(write(&mut tpm, me, INDEX, b"ijkl", 0), 0, "an index without GLOBALLOCK is not locked");
    restart(&mut tpm, false);
    assert_eq!(write(&mut tpm, (plain_index, b""), plain_index, b"5678", 0), 0);
}

#[test]
fn nv_in_the_image_and_clear() {
    let mut tpm = started(44);
    assert_eq!(define(&mut tpm, rh::OWNER, b"pw", INDEX, RW | attr::NO_DA, 8), 0);
    assert_eq!(write(&mut tpm, (INDEX, b"pw"), INDEX, b"persist!", 0), 0);
    assert_eq!(define(&mut tpm, rh::PLATFORM, b"", 0x0140_0001, RW | attr::PLATFORMCREATE | 1 << 4, 8), 0);
    assert_eq!(simple(&mut tpm, cc::NV_INCREMENT, (0x0140_0001, b""), 0x0140_0001, &[]), 0);
    let img = tpm.save_image();
    let mut back = Tpm::from_image(
        &img,
        alloc::boxed::Box::new(crate::testing::DetRng::new(9)),
        alloc::boxed::Box::new(crate::ManualClock(0)),
    )
    .expect("loads");
    assert_eq!(back.perm(), tpm.perm());
    assert_eq!(rc(&back.execute(0, &plain(cc::STARTUP, &su::CLEAR.to_be_bytes()))), 0);
    assert_eq!(read(&mut back, (INDEX, b"pw"), INDEX, 8, 0).unwrap(), b"persist!");
    // noDA: a wrong authValue is TPM_RC_BAD_AUTH, not AUTH_FAIL
    assert_eq!(read(&mut back, (INDEX, b"px"), INDEX, 8, 0), Err(0x9A2));
    // TPM2_Clear undefines the owner's indices, not the platform's
    assert_eq!(rc(&back.execute(0, &with_password(cc::CLEAR, &[rh::LOCKOUT], b"", &[]))), 0);
    assert_eq!(read(&mut back, (INDEX, b"pw"), INDEX, 8, 0), Err(0x18B), "the auth handle is gone: + H1");
    assert_eq!(read(&mut back, (0x0140_0001, b""), 0x0140_0001, 8, 0).unwrap(), 1u64.to_be_bytes());
    let n = img.len();
    // the NV section: a data size that is not the index's dataSize is refused
    let mut bad = img.to_vec();
    // the last index (0x01500001, 8 bytes): its data TPM2B ends 9 bytes before the end
    assert_eq!(bad[n - 19..n - 17], [0, 8]);
    bad[n - 18] = 7;
    bad.remove(n - 17);
    assert_eq!(crate::state::image::decode(&bad).map(|_| ()), Err(crate::ImageError::Invalid("NV data size")));
    let mut trunc = img.to_vec();
    trunc.truncate(n - 1);
    assert!(crate::state::image::decode(&trunc).is_err());
    let mut flag = img.to_vec();
    flag[n - 1] = 2;
    assert_eq!(crate::state::image::decode(&flag).map(|_| ()), Err(crate::ImageError::Invalid("NV global lock flag")));
}
