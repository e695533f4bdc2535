//! Tests of the object commands: CreatePrimary, Create, Load, ReadPublic, Unseal (good
//! paths and refusals: bad handle, wrong auth, wrong parent, tampered private).

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::{cc, rh, su};
use crate::crypto::HashAlg;
use crate::testing::objects::{create_params, ecc_storage, sealed};
use crate::testing::{manufactured, plain, rc, with_password};

pub(crate) fn started(seed: u64) -> Tpm {
    let mut tpm = manufactured(seed);
    assert_eq!(rc(&tpm.execute(0, &plain(cc::STARTUP, &su::CLEAR.to_be_bytes()))), 0);
    tpm
}

/// The parameter area of a TPM_ST_SESSIONS response with `handles` response handles.
pub(crate) fn params(resp: &[u8], handles: usize) -> Vec<u8> {
    assert_eq!(rc(resp), 0, "response {resp:02x?}");
    let mut r = Reader::new(&resp[10 + 4 * handles..]);
    let n = r.u32().expect("parameterSize") as usize;
    r.bytes(n).expect("parameters").to_vec()
}

pub(crate) fn primary(tpm: &mut Tpm, hierarchy: u32) -> (u32, Vec<u8>) {
    let r =
        tpm.execute(0, &with_password(cc::CREATE_PRIMARY, &[hierarchy], b"", &create_params(b"", b"", &ecc_storage())));
    assert_eq!(rc(&r), 0, "CreatePrimary {r:02x?}");
    let handle = u32::from_be_bytes([r[10], r[11], r[12], r[13]]);
    let p = params(&r, 1);
    let public = Reader::new(&p).tpm2b(1024).expect("outPublic").to_vec();
    (handle, public)
}

/// TPM2_Create of a sealed data object: (private, public).
pub(crate) fn seal(tpm: &mut Tpm, parent: u32, auth: &[u8], secret: &[u8], policy: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let r = tpm.execute(0, &with_password(cc::CREATE, &[parent], b"", &create_params(auth, secret, &sealed(policy))));
    let p = params(&r, 0);
    let mut rd = Reader::new(&p);
    let private = rd.tpm2b(1024).expect("outPrivate").to_vec();
    let public = rd.tpm2b(1024).expect("outPublic").to_vec();
    (private, public)
}

pub(crate) fn load_body(private: &[u8], public: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.tpm2b(private).tpm2b(public);
    w.0
}

pub(crate) fn load(tpm: &mut Tpm, parent: u32, private: &[u8], public: &[u8]) -> Result<u32, u32> {
    let r = tpm.execute(0, &with_password(cc::LOAD, &[parent], b"", &load_body(private, public)));
    if rc(&r) != 0 {
        return Err(rc(&r));
    }
    Ok(u32::from_be_bytes([r[10], r[11], r[12], r[13]]))
}

pub(crate) fn unseal(tpm: &mut Tpm, handle: u32, auth: &[u8]) -> Result<Vec<u8>, u32> {
    let r = tpm.execute(0, &with_password(cc::UNSEAL, &[handle], auth, &[]));
    if rc(&r) != 0 {
        return Err(rc(&r));
    }
    Ok(Reader::new(&params(&r, 0)).tpm2b(128).expect("outData").to_vec())
}

fn flush(tpm: &mut Tpm, handle: u32) -> u32 {
    rc(&tpm.execute(0, &plain(cc::FLUSH_CONTEXT, &handle.to_be_bytes())))
}

#[test]
fn create_primary_is_deterministic_per_seed_and_template() {
    let mut tpm = started(1);
    let (h1, pub1) = primary(&mut tpm, rh::OWNER);
    assert_eq!(h1, 0x8000_0000);
    let (h2, pub2) = primary(&mut tpm, rh::OWNER);
    assert_eq!(h2, 0x8000_0001);
    assert_eq!(pub1, pub2, "the same template gives the same key");
    let (_, pub_e) = primary(&mut tpm, rh::ENDORSEMENT);
    assert_ne!(pub1, pub_e, "another seed gives another key");
    // three slots: the fourth is TPM_RC_OBJECT_MEMORY
    let r =
        tpm.execute(0, &with_password(cc::CREATE_PRIMARY, &[rh::NULL], b"", &create_params(b"", b"", &ecc_storage())));
    assert_eq!(rc(&r), 0x902);
    assert_eq!(flush(&mut tpm, h2), 0);
    assert_eq!(flush(&mut tpm, h2), 0x1CB, "flushed twice: TPM_RC_HANDLE (parameter 1)");
    // a different unique field in the template gives a different key
    let mut t = ecc_storage();
    let n = t.len();
    t.truncate(n - 4);
    t.extend_from_slice(&[0, 1, 0x55, 0, 0]);
    let r = tpm.execute(0, &with_password(cc::CREATE_PRIMARY, &[rh::OWNER], b"", &create_params(b"", b"", &t)));
    assert_eq!(rc(&r), 0);
    let p = params(&r, 1);
    assert_ne!(Reader::new(&p).tpm2b(1024).unwrap(), &pub1[..]);

    // TPM2_Clear makes a new SPS: a new owner primary
    let mut tpm2 = started(1);
    assert_eq!(primary(&mut tpm2, rh::OWNER).1, pub1, "same seeds, same key");
    assert_eq!(rc(&tpm2.execute(0, &with_password(cc::CLEAR, &[rh::LOCKOUT], b"", &[]))), 0);
    assert_ne!(primary(&mut tpm2, rh::OWNER).1, pub1);
    // the ownerAuth is checked
    let r = tpm
        .execute(0, &with_password(cc::CREATE_PRIMARY, &[rh::OWNER], b"x", &create_params(b"", b"", &ecc_storage())));
    assert_eq!(rc(&r), 0x9A2);
}

#[test]
fn create_primary_refuses_bad_templates() {
    let mut tpm = started(2);
    let run = |tpm: &mut Tpm, t: &[u8], data: &[u8]| {
        rc(&tpm.execute(0, &with_password(cc::CREATE_PRIMARY, &[rh::OWNER], b"", &create_params(b"", data, t))))
    };
    let mut t = ecc_storage();
    t[4..8].copy_from_slice(&0x0003_0062u32.to_be_bytes()); // sensitiveDataOrigin CLEAR
    assert_eq!(run(&mut tpm, &t, b""), 0x2C2, "TPM_RC_ATTRIBUTES + P2");
    assert_eq!(run(&mut tpm, &ecc_storage(), b"x"), 0x1D5, "asymmetric data: TPM_RC_SIZE + P1");
    let mut t = ecc_storage();
    t[4..8].copy_from_slice(&0x0003_0060u32.to_be_bytes()); // fixedTPM without fixedParent
    t[7] |= 0x02;
    assert_eq!(run(&mut tpm, &t, b""), 0x2C2);
    let full = ecc_storage();
    let mut t = full[..10].to_vec(); // a storage key without symmetric
    t.extend_from_slice(&crate::constants::alg::NULL.to_be_bytes());
    t.extend_from_slice(&full[16..]);
    assert_eq!(run(&mut tpm, &t, b""), 0x2D6, "TPM_RC_SYMMETRIC + P2");
    let mut t = ecc_storage();
    t[0..2].copy_from_slice(&crate::constants::alg::RSA.to_be_bytes());
    assert_ne!(run(&mut tpm, &t, b""), 0);
    // a not-hierarchy handle: TPM_RC_VALUE + H1
    let r = tpm
        .execute(0, &with_password(cc::CREATE_PRIMARY, &[rh::LOCKOUT], b"", &create_params(b"", b"", &ecc_storage())));
    assert_eq!(rc(&r), 0x184);
    // a truncated inPublic
    let t = ecc_storage();
    assert_eq!(run(&mut tpm, &t[..t.len() - 2], b""), 0x2DA, "TPM_RC_INSUFFICIENT + P2");
}

#[test]
fn read_public_names_the_object() {
    let mut tpm = started(3);
    let (h, public) = primary(&mut tpm, rh::OWNER);
    let r = tpm.execute(0, &plain(cc::READ_PUBLIC, &h.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    let mut rd = Reader::new(&r[10..]);
    assert_eq!(rd.tpm2b(1024).unwrap(), &public[..]);
    let mut name = alloc::vec![0x00, 0x0b];
    name.extend_from_slice(&HashAlg::Sha256.digest(&[&public]));
    assert_eq!(rd.tpm2b(64).unwrap(), &name[..]);
    let mut qn = alloc::vec![0x00, 0x0b];
    qn.extend_from_slice(&HashAlg::Sha256.digest(&[&rh::OWNER.to_be_bytes(), &name]));
    assert_eq!(rd.tpm2b(64).unwrap(), &qn[..]);
    assert_eq!(rd.remaining(), 0);
    assert_eq!(rc(&tpm.execute(0, &plain(cc::READ_PUBLIC, &0x8000_0002u32.to_be_bytes()))), 0x910);
    assert_eq!(rc(&tpm.execute(0, &plain(cc::READ_PUBLIC, &0x8100_0002u32.to_be_bytes()))), 0x18B);
    assert_eq!(rc(&tpm.execute(0, &plain(cc::READ_PUBLIC, &rh::OWNER.to_be_bytes()))), 0x184);
}

#[test]
fn seal_load_unseal_and_refusals() {
    let mut tpm = started(4);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let (private, public) = seal(&mut tpm, parent, b"pw", b"the secret", &[]);
    let item = load(&mut tpm, parent, &private, &public).expect("Load");
    assert_eq!(unseal(&mut tpm, item, b"pw").as_deref(), Ok(&b"the secret"[..]));
    // trailing zeros of an authValue do not count (Part 1 §19.6.4)
    assert_eq!(unseal(&mut tpm, item, b"pw\0").as_deref(), Ok(&b"the secret"[..]));
    assert_eq!(unseal(&mut tpm, item, b"px"), Err(0x98E), "wrong auth of a DA-protected object: TPM_RC_AUTH_FAIL + S1");
    // not a sealed data object: the primary (TPM_RC_TYPE + H1); a missing handle
    assert_eq!(unseal(&mut tpm, parent, b""), Err(0x18A));
    assert_eq!(unseal(&mut tpm, 0x8000_0002, b""), Err(0x910), "not loaded: TPM_RC_REFERENCE_H0");
    assert_eq!(unseal(&mut tpm, 0x8100_0002, b""), Err(0x18B), "no such persistent object: TPM_RC_HANDLE + H1");
    // a sealed object is no parent: TPM_RC_TYPE + H1
    let r = tpm.execute(0, &with_password(cc::CREATE, &[item], b"pw", &create_params(b"", b"x", &sealed(&[]))));
    assert_eq!(rc(&r), 0x18A);
    let r = tpm.execute(0, &with_password(cc::LOAD, &[item], b"pw", &load_body(&private, &public)));
    assert_eq!(rc(&r), 0x18A);
    assert_eq!(flush(&mut tpm, item), 0);

    // a tampered private: TPM_RC_INTEGRITY + P1
    let mut bad = private.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert_eq!(load(&mut tpm, parent, &bad, &public), Err(0x1DF));
    // a tampered public (another Name): the outer HMAC fails as well
    let mut badpub = public.clone();
    let n = badpub.len();
    badpub[n - 1] ^= 1;
    assert_eq!(load(&mut tpm, parent, &private, &badpub), Err(0x1DF));
    // under another parent (the endorsement primary): TPM_RC_INTEGRITY
    let (other, _) = primary(&mut tpm, rh::ENDORSEMENT);
    assert_eq!(load(&mut tpm, other, &private, &public), Err(0x1DF));
    // the same parent again (re-created from the same seed and template) loads it
    assert_eq!(flush(&mut tpm, parent), 0);
    let (again, _) = primary(&mut tpm, rh::OWNER);
    let item = load(&mut tpm, again, &private, &public).expect("Load under the re-created primary");
    assert_eq!(unseal(&mut tpm, item, b"pw").as_deref(), Ok(&b"the secret"[..]));
    // sealed data larger than TPM2B_SENSITIVE_DATA: TPM_RC_SIZE + P1
    let r = tpm.execute(0, &with_password(cc::CREATE, &[again], b"", &create_params(b"", &[1; 129], &sealed(&[]))));
    assert_eq!(rc(&r), 0x1D5);
}

#[test]
fn sealed_object_without_user_with_auth_refuses_passwords() {
    let mut tpm = started(5);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let policy = [0x11u8; 32];
    let (private, public) = seal(&mut tpm, parent, b"", b"s", &policy);
    let item = load(&mut tpm, parent, &private, &public).expect("Load");
    assert_eq!(unseal(&mut tpm, item, b""), Err(0x12F), "TPM_RC_AUTH_UNAVAILABLE");
}

#[test]
fn child_ecc_key_under_a_storage_parent() {
    let mut tpm = started(6);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let r = tpm.execute(0, &with_password(cc::CREATE, &[parent], b"", &create_params(b"", b"", &ecc_storage())));
    let p = params(&r, 0);
    let mut rd = Reader::new(&p);
    let private = rd.tpm2b(1024).unwrap().to_vec();
    let public = rd.tpm2b(1024).unwrap().to_vec();
    let child = load(&mut tpm, parent, &private, &public).expect("Load of an ECC child");
    // the child is a storage parent in its turn
    let (sp, spub) = seal(&mut tpm, child, b"", b"nested", &[]);
    assert_eq!(flush(&mut tpm, parent), 0);
    let item = load(&mut tpm, child, &sp, &spub).expect("Load under the child");
    assert_eq!(unseal(&mut tpm, item, b"").as_deref(), Ok(&b"nested"[..]));
    // a second Create gives another key (ordinary keys come from the RNG)
    let r2 = tpm.execute(0, &with_password(cc::CREATE, &[child], b"", &create_params(b"", b"", &ecc_storage())));
    let p2 = params(&r2, 0);
    let mut rd2 = Reader::new(&p2);
    rd2.tpm2b(1024).unwrap();
    assert_ne!(rd2.tpm2b(1024).unwrap(), &public[..]);
}

fn context_save(tpm: &mut Tpm, handle: u32) -> Vec<u8> {
    let r = tpm.execute(0, &plain(cc::CONTEXT_SAVE, &handle.to_be_bytes()));
    assert_eq!(rc(&r), 0, "ContextSave {r:02x?}");
    r[10..].to_vec()
}

fn context_load(tpm: &mut Tpm, context: &[u8]) -> Result<u32, u32> {
    let r = tpm.execute(0, &plain(cc::CONTEXT_LOAD, context));
    if rc(&r) != 0 {
        return Err(rc(&r));
    }
    Ok(u32::from_be_bytes([r[10], r[11], r[12], r[13]]))
}

fn read_public(tpm: &mut Tpm, handle: u32) -> Vec<u8> {
    let r = tpm.execute(0, &plain(cc::READ_PUBLIC, &handle.to_be_bytes()));
    assert_eq!(rc(&r), 0);
    r[10..].to_vec()
}

#[test]
fn object_contexts_save_load_and_refusals() {
    let mut tpm = started(7);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let (private, public) = seal(&mut tpm, parent, b"", b"kept", &[]);
    let item = load(&mut tpm, parent, &private, &public).expect("Load");
    let ctx = context_save(&mut tpm, item);
    assert_eq!(ctx[8..12], [0x80, 0, 0, 0], "savedHandle");
    assert_eq!(ctx[12..16], rh::OWNER.to_be_bytes(), "hierarchy");
    let before = read_public(&mut tpm, item);
    assert_eq!(flush(&mut tpm, item), 0);
    let again = context_load(&mut tpm, &ctx).expect("ContextLoad");
    assert_eq!(read_public(&mut tpm, again), before);
    assert_eq!(unseal(&mut tpm, again, b"").as_deref(), Ok(&b"kept"[..]));
    // slots are counted: two loaded, a third and a fourth
    let third = context_load(&mut tpm, &ctx).expect("a context loads more than once");
    assert_eq!(context_load(&mut tpm, &ctx), Err(0x902));
    assert_eq!(flush(&mut tpm, third), 0);
    // tampered anywhere in the blob or the header: TPM_RC_INTEGRITY + P1
    for i in [0usize, 7, 20, ctx.len() - 1] {
        let mut bad = ctx.clone();
        bad[i] ^= 1;
        assert_eq!(context_load(&mut tpm, &bad), Err(0x1DF), "byte {i}");
    }
    // CAP_HANDLES lists the transient objects; HR_TRANSIENT_AVAIL counts the free slots
    let mut w = Writer::new();
    w.u32(crate::constants::cap::HANDLES).u32(0x8000_0000).u32(8);
    let r = tpm.execute(0, &plain(cc::GET_CAPABILITY, &w.0));
    assert_eq!(r[15..27], [0, 0, 0, 2, 0x80, 0, 0, 0, 0x80, 0, 0, 1]);
    let mut w = Writer::new();
    w.u32(crate::constants::cap::TPM_PROPERTIES).u32(crate::constants::pt::HR_TRANSIENT_AVAIL).u32(1);
    let r = tpm.execute(0, &plain(cc::GET_CAPABILITY, &w.0));
    assert_eq!(r[r.len() - 4..], [0, 0, 0, 1]);

    // a null-hierarchy context dies with TPM Reset; an owner one survives it
    let (np, _) = primary(&mut tpm, rh::NULL);
    let null_ctx = context_save(&mut tpm, np);
    tpm.init();
    assert_eq!(rc(&tpm.execute(0, &plain(cc::STARTUP, &su::CLEAR.to_be_bytes()))), 0);
    assert_eq!(context_load(&mut tpm, &null_ctx), Err(0x1DF));
    let back = context_load(&mut tpm, &ctx).expect("owner context after TPM Reset");
    assert_eq!(unseal(&mut tpm, back, b"").as_deref(), Ok(&b"kept"[..]));
    // TPM2_Clear: owner objects are flushed and their contexts die
    assert_eq!(rc(&tpm.execute(0, &with_password(cc::CLEAR, &[rh::LOCKOUT], b"", &[]))), 0);
    assert_eq!(unseal(&mut tpm, back, b""), Err(0x910));
    assert_eq!(context_load(&mut tpm, &ctx), Err(0x1DF));
    // saving a persistent or missing handle
    assert_eq!(rc(&tpm.execute(0, &plain(cc::CONTEXT_SAVE, &0x8000_0002u32.to_be_bytes()))), 0x910);
}

fn evict(tpm: &mut Tpm, auth: u32, object: u32, persistent: u32) -> u32 {
    rc(&tpm.execute(0, &with_password(cc::EVICT_CONTROL, &[auth, object], b"", &persistent.to_be_bytes())))
}

#[test]
fn evict_control_persists_across_images_and_evicts() {
    let mut tpm = started(8);
    let (parent, ppub) = primary(&mut tpm, rh::OWNER);
    let (private, public) = seal(&mut tpm, parent, b"", b"persisted", &[]);
    let item = load(&mut tpm, parent, &private, &public).unwrap();
    tpm.clear_changed();
    assert_eq!(evict(&mut tpm, rh::OWNER, parent, 0x8100_0001), 0);
    assert!(tpm.state_changed(), "EvictControl changes the image");
    assert_eq!(evict(&mut tpm, rh::OWNER, item, 0x8100_0002), 0);
    assert_eq!(evict(&mut tpm, rh::OWNER, item, 0x8100_0002), 0x14C, "TPM_RC_NV_DEFINED");
    assert_eq!(evict(&mut tpm, rh::OWNER, item, 0x8180_0000), 0x1CD, "platform range: TPM_RC_RANGE + P1");
    assert_eq!(evict(&mut tpm, rh::OWNER, item, 0x8000_0000), 0x1C4);
    assert_eq!(evict(&mut tpm, rh::LOCKOUT, item, 0x8100_0003), 0x184);
    let (np, _) = primary(&mut tpm, rh::NULL);
    assert_eq!(evict(&mut tpm, rh::OWNER, np, 0x8100_0003), 0x285, "null hierarchy: TPM_RC_HIERARCHY + H2");
    // the image keeps them: a restarted TPM unseals from the persistent handle
    let img = tpm.save_image();
    assert_eq!(img[4..6], [0, 3], "format 3");
    let mut back = Tpm::from_image(
        &img,
        alloc::boxed::Box::new(crate::testing::DetRng::new(5)),
        alloc::boxed::Box::new(crate::ManualClock(0)),
    )
    .unwrap();
    assert_eq!(back.perm(), tpm.perm());
    assert_eq!(rc(&back.execute(0, &plain(cc::STARTUP, &su::CLEAR.to_be_bytes()))), 0);
    assert_eq!(unseal(&mut back, 0x8100_0002, b"").as_deref(), Ok(&b"persisted"[..]));
    assert_eq!(read_public(&mut back, 0x8100_0001)[2..2 + ppub.len()], ppub[..]);
    // the persistent primary is a parent
    let item2 = load(&mut back, 0x8100_0001, &private, &public).unwrap();
    assert_eq!(unseal(&mut back, item2, b"").as_deref(), Ok(&b"persisted"[..]));
    let mut w = Writer::new();
    w.u32(crate::constants::cap::HANDLES).u32(0x8100_0000).u32(8);
    let r = back.execute(0, &plain(cc::GET_CAPABILITY, &w.0));
    assert_eq!(r[15..27], [0, 0, 0, 2, 0x81, 0, 0, 1, 0x81, 0, 0, 2]);
    // evict: the handles must agree; then it is gone
    assert_eq!(evict(&mut back, rh::OWNER, 0x8100_0002, 0x8100_0003), 0x28B, "TPM_RC_HANDLE + H2");
    assert_eq!(evict(&mut back, rh::OWNER, 0x8100_0002, 0x8100_0002), 0);
    assert_eq!(unseal(&mut back, 0x8100_0002, b""), Err(0x18B));
    // TPM2_Clear flushes owner persistent objects
    assert_eq!(rc(&back.execute(0, &with_password(cc::CLEAR, &[rh::LOCKOUT], b"", &[]))), 0);
    assert_eq!(rc(&back.execute(0, &plain(cc::READ_PUBLIC, &0x8100_0001u32.to_be_bytes()))), 0x18B);
    // a corrupted persistent object in an image is refused
    let mut bad = img.to_vec();
    let n = bad.len();
    // (the last 10 bytes are the empty NV section: count, maxCounter, global lock)
    bad[n - 50] ^= 1;
    assert!(crate::state::image::decode(&bad).is_err());
    // a version-2 image (as stage 2 wrote it: the same without the NV section) still loads
    let mut v2 = img[..n - 10].to_vec();
    v2[4..6].copy_from_slice(&[0, 2]);
    let (perm, _) = crate::state::image::decode(&v2).expect("format 2 loads");
    assert_eq!(&perm, tpm.perm());
    let mut longer = v2.clone();
    longer.push(0);
    assert!(crate::state::image::decode(&longer).is_err(), "a version-2 image has no NV section");
}

#[test]
fn format_1_image_still_loads() {
    // a version-1 image as stage 1 wrote it: fields up to orderly = Shutdown(CLEAR)
    let mut w = Writer::new();
    w.bytes(b"TPM2").u16(1).bytes(&[1; 32]).bytes(&[2; 32]).bytes(&[3; 32]);
    w.u16(0).u16(0).u16(0).u8(3).u64(1234).u32(5).u32(0).u8(1).u64(0).u8(1);
    let (perm, saved) = crate::state::image::decode(&w.0).expect("format 1 loads");
    assert!(saved.is_none() && perm.persistent.is_empty() && perm.null_seed.is_none());
    assert_eq!(perm.reset_count, 5);
    let mut tpm = Tpm::from_image(
        &w.0,
        alloc::boxed::Box::new(crate::testing::DetRng::new(5)),
        alloc::boxed::Box::new(crate::ManualClock(0)),
    )
    .unwrap();
    assert_eq!(rc(&tpm.execute(0, &plain(cc::STARTUP, &su::CLEAR.to_be_bytes()))), 0);
    let (h, _) = primary(&mut tpm, rh::OWNER);
    assert_eq!(evict(&mut tpm, rh::OWNER, h, 0x8100_0001), 0);
    // it is written back as format 3
    let img = tpm.save_image();
    assert_eq!(img[4..6], [0, 3]);
    assert_eq!(crate::state::image::decode(&img).unwrap().0.persistent.len(), 1);
    // a version-1 image with trailing bytes is still refused
    let mut t = w.0.clone();
    t.push(0);
    assert!(crate::state::image::decode(&t).is_err());
}

#[test]
fn algorithms_and_curves_are_listed() {
    let mut tpm = started(9);
    let mut w = Writer::new();
    w.u32(crate::constants::cap::ECC_CURVES).u32(0).u32(8);
    let r = tpm.execute(0, &plain(cc::GET_CAPABILITY, &w.0));
    assert_eq!(r[10..], [0, 0, 0, 0, 8, 0, 0, 0, 1, 0, 3]);
    let mut w = Writer::new();
    w.u32(crate::constants::cap::ALGS).u32(u32::from(crate::constants::alg::ECC)).u32(1);
    let r = tpm.execute(0, &plain(cc::GET_CAPABILITY, &w.0));
    assert_eq!(r[15..], [0, 0, 0, 1, 0, 0x23, 0, 0, 0, 9]);
}

#[test]
fn object_change_auth_rewraps_with_the_new_auth() {
    let mut tpm = started(10);
    let (parent, _) = primary(&mut tpm, rh::OWNER);
    let (private, public) = seal(&mut tpm, parent, b"old", b"changed", &[]);
    let item = load(&mut tpm, parent, &private, &public).unwrap();
    let change = |tpm: &mut Tpm, auth: &[u8], parent: u32, new: &[u8]| {
        let mut w = Writer::new();
        w.tpm2b(new);
        tpm.execute(0, &with_password(cc::OBJECT_CHANGE_AUTH, &[item, parent], auth, &w.0))
    };
    assert_eq!(rc(&change(&mut tpm, b"bad", parent, b"new")), 0x98E, "the old authValue is needed");
    assert_eq!(rc(&change(&mut tpm, b"old", 0x8000_0002, b"new")), 0x911, "handle 2 not loaded: TPM_RC_REFERENCE_H1");
    assert_eq!(rc(&change(&mut tpm, b"old", parent, &[7; 33])), 0x1D5, "TPM_RC_SIZE + P1 (TPM2B_AUTH)");
    let (other, _) = primary(&mut tpm, rh::ENDORSEMENT);
    assert_eq!(rc(&change(&mut tpm, b"old", other, b"new")), 0x28A, "not its parent: TPM_RC_TYPE + H2");
    let r = change(&mut tpm, b"old", parent, b"new");
    let new_private = Reader::new(&params(&r, 0)).tpm2b(1024).unwrap().to_vec();
    // the loaded object keeps its old authValue; the new private area has the new one
    assert_eq!(unseal(&mut tpm, item, b"old").as_deref(), Ok(&b"changed"[..]));
    assert_eq!(flush(&mut tpm, item), 0);
    assert_eq!(flush(&mut tpm, other), 0);
    let again = load(&mut tpm, parent, &new_private, &public).expect("the new private loads");
    assert_eq!(unseal(&mut tpm, again, b"old"), Err(0x98E));
    assert_eq!(unseal(&mut tpm, again, b"new").as_deref(), Ok(&b"changed"[..]));
}
