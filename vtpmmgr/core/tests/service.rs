//! The manager's key store and service against real TPMs (swtpm 1.2 and 2.0 over TCP as the
//! hardware TPM) and test disks: first boot, saves for two uuids, a restart (a new service
//! from the same disk and the same TPM state) that loads exactly what was saved, isolation
//! between uuids, one connection per uuid, hostile requests, damaged disks, a replaced TPM,
//! torn and failed writes at every step of a save, and a store of 10,000 records.

mod support;

use std::time::Instant;

use support::{StateDir, Swtpm, TestRng, cfg, have_swtpm};
use tpm_frame::Family;
use vtpm_store::{BlockDevice, CacheFate, Fault, FaultyDisk, Landing, MemDisk, StoreError};
use vtpmmgr_core::hw_blob_area::AreaError;
use vtpmmgr_core::hwtpm::HwConfig;
use vtpmmgr_core::proto::{self, ReplyError};
use vtpmmgr_core::root_record::FLAG_ADMIN;
use vtpmmgr_core::service::{RC_NO_RECORD, TPM_AUTHFAIL, TPM_DISABLED, TPM_DISABLED_CMD};
use vtpmmgr_core::{BootError, BootKind, KeyStore, Service, VtpmRecord};

const A: [u8; 16] = [0xAA; 16];
const B: [u8; 16] = [0xBB; 16];
const C: [u8; 16] = [0xCC; 16];

fn opts(family: Family) -> HwConfig {
    match family {
        Family::Tpm12 => cfg(&["owner_auth=text:owner", "srk_auth=well-known"]),
        Family::Tpm20 => cfg(&["tpm2=1"]),
    }
}

fn boot<D: BlockDevice>(disk: D, tpm: &mut Swtpm, config: &HwConfig) -> Result<(Service<D, u32>, BootKind), BootError> {
    let mut rng = TestRng::new();
    KeyStore::boot(disk, tpm, &mut rng, config).map(|(s, k)| (Service::new(s), k)).map_err(|f| f.error)
}

fn call<D: BlockDevice>(
    s: &mut Service<D, u32>,
    conn: u32,
    uuid: [u8; 16],
    f: &[u8],
    tpm: &mut Swtpm,
    c: &HwConfig,
) -> Vec<u8> {
    let mut rng = TestRng::new();
    let r = s.handle(conn, uuid, f, tpm, &mut rng, c);
    assert!(tpm_frame::is_consistent(&r), "inconsistent reply {r:02x?}");
    r
}

fn rc(reply: &[u8]) -> u32 {
    tpm_frame::return_code(reply).expect("reply header")
}

fn lifecycle(family: Family) {
    if !have_swtpm() {
        return;
    }
    let c = opts(family);
    let dir = StateDir::new("svc");
    let mut tpm = Swtpm::start(&dir.0, family);
    let (mut s, kind) = boot(MemDisk::new(4096), &mut tpm, &c).expect("first boot");
    assert_eq!(kind, BootKind::FirstBoot);
    let blob_a: Vec<u8> = (0..64).collect();
    let blob_b: Vec<u8> = (100..152).collect(); // the C vtpm's 52 bytes
    // nothing saved yet: LOAD is the agreed error
    assert_eq!(call(&mut s, 1, A, &proto::load_hash_key(), &mut tpm, &c), proto::error_reply(0x01C1, RC_NO_RECORD));
    assert_eq!(call(&mut s, 1, A, &proto::save_hash_key(&blob_a), &mut tpm, &c), [1, 0xC4, 0, 0, 0, 10, 0, 0, 0, 0]);
    assert_eq!(rc(&call(&mut s, 2, B, &proto::save_hash_key(&blob_b), &mut tpm, &c)), 0);
    assert!(s.store().get(&A).unwrap().is_admin(), "the first record created is the admin (as C's group 0)");
    assert!(!s.store().get(&B).unwrap().is_admin());
    // each uuid reaches its own record only
    let la = call(&mut s, 1, A, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(*proto::decode_load_hash_key_reply(&la).unwrap(), blob_a);
    let lb = call(&mut s, 2, B, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(*proto::decode_load_hash_key_reply(&lb).unwrap(), blob_b);
    // a second connection with A's uuid is refused until the first closes
    let dup = call(&mut s, 3, A, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(rc(&dup), TPM_DISABLED);
    assert_eq!(rc(&call(&mut s, 3, A, &proto::save_hash_key(&[0; 52]), &mut tpm, &c)), TPM_DISABLED);
    assert!(s.take_notes().iter().any(|n| n.contains("one connection per uuid")));
    s.disconnect(1);
    let la3 = call(&mut s, 3, A, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(*proto::decode_load_hash_key_reply(&la3).unwrap(), blob_a, "after the first closed");
    assert_eq!(rc(&call(&mut s, 1, A, &proto::load_hash_key(), &mut tpm, &c)), TPM_DISABLED, "now 3 holds it");
    // the nil uuid names no vTPM
    assert_eq!(rc(&call(&mut s, 4, [0; 16], &proto::save_hash_key(&[0; 52]), &mut tpm, &c)), TPM_AUTHFAIL);
    assert_eq!(rc(&call(&mut s, 4, [0; 16], &proto::get_random(8), &mut tpm, &c)), TPM_AUTHFAIL);
    assert!(s.store().get(&[0; 16]).is_none());
    // passthroughs for every vtpm, in TPM 1.2 format
    let r = call(&mut s, 2, B, &proto::get_random(32), &mut tpm, &c);
    let bytes = proto::decode_get_random_reply(&r).expect("GetRandom");
    assert!(!bytes.is_empty() && bytes.len() <= 32);
    let big = call(&mut s, 2, B, &proto::get_random(u32::MAX), &mut tpm, &c);
    let big = proto::decode_get_random_reply(&big).expect("GetRandom max");
    assert!(big.len() <= 1024 && big.len() >= 32, "{}", big.len());
    let pcr = [0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15, 0, 0, 0, 16];
    let p16 = call(&mut s, 2, B, &pcr, &mut tpm, &c);
    assert_eq!((&p16[..2], rc(&p16), p16.len()), (&[0u8, 0xC4][..], 0, 30));
    let bad_pcr = [0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15, 0, 0, 0x10, 0];
    assert_ne!(rc(&call(&mut s, 2, B, &bad_pcr, &mut tpm, &c)), 0, "PCR 4096 does not exist");
    // Extend: refused for B, done for the admin A
    let mut ext = tpm_frame::command(0x00C1, 0x14, &16u32.to_be_bytes());
    ext.extend_from_slice(&[7; 20]);
    ext[5] = 34;
    assert_eq!(rc(&call(&mut s, 2, B, &ext, &mut tpm, &c)), TPM_AUTHFAIL);
    let e = call(&mut s, 3, A, &ext, &mut tpm, &c);
    assert_eq!(rc(&e), 0, "{e:02x?}");
    let after = call(&mut s, 3, A, &pcr, &mut tpm, &c);
    assert_eq!(&e[10..], &after[10..], "Extend returns the new value");
    assert_ne!(&after[10..], &p16[10..]);
    // everything else refused
    assert_eq!(rc(&call(&mut s, 2, B, &proto::get_boot_hash(), &mut tpm, &c)), 10);
    let take_owner = tpm_frame::command(0x00C1, 0x0D, &[0; 20]);
    assert_eq!(rc(&call(&mut s, 2, B, &take_owner, &mut tpm, &c)), TPM_DISABLED_CMD);
    let mgmt = tpm_frame::command(0x01C2, 0x0200_0101, &[]);
    assert_eq!(rc(&call(&mut s, 2, B, &mgmt, &mut tpm, &c)), TPM_AUTHFAIL, "management: not admin");
    assert_eq!(rc(&call(&mut s, 3, A, &mgmt, &mut tpm, &c)), 10, "management: admin, not implemented");
    // restart: the manager and the TPM (same state dir); a new service from the same disk
    let disk = s.into_store().into_device();
    drop(tpm);
    let mut tpm = Swtpm::start(&dir.0, family);
    let (mut s, kind) = boot(disk, &mut tpm, &c).expect("later boot");
    assert!(matches!(kind, BootKind::Restored { sequence: 3 }), "{kind:?}");
    let la = call(&mut s, 7, A, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(*proto::decode_load_hash_key_reply(&la).unwrap(), blob_a);
    let lb = call(&mut s, 8, B, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(*proto::decode_load_hash_key_reply(&lb).unwrap(), blob_b);
    assert_eq!(rc(&call(&mut s, 9, C, &proto::load_hash_key(), &mut tpm, &c)), RC_NO_RECORD, "C cannot load");
    assert!(s.store().get(&A).unwrap().is_admin(), "the admin flag persists");
    // A saves again: A changes, B does not
    assert_eq!(rc(&call(&mut s, 7, A, &proto::save_hash_key(&[1; 52]), &mut tpm, &c)), 0);
    let la = call(&mut s, 7, A, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(*proto::decode_load_hash_key_reply(&la).unwrap(), [1; 52]);
    let lb = call(&mut s, 8, B, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(*proto::decode_load_hash_key_reply(&lb).unwrap(), blob_b);
    let image = s.into_store().into_device().image().to_vec();

    // the same disk with another TPM (a new state dir): a clear error, nothing written
    let other = StateDir::new("svc-other");
    let mut tpm2 = Swtpm::start(&other.0, family);
    let mut rng = TestRng::new();
    let f = KeyStore::boot(MemDisk::from_image(image.clone()), &mut tpm2, &mut rng, &c).err().expect("refused");
    assert!(matches!(f.error, BootError::Hardware(_)), "{:?}", f.error);
    eprintln!("{family:?}, another TPM: {}", f.error);
    let d = f.device.expect("device back");
    assert_eq!((d.writes, d.image() == &image[..]), (0, true), "nothing written");
}

#[test]
fn tpm12_lifecycle() {
    lifecycle(Family::Tpm12);
}

#[test]
fn tpm20_lifecycle() {
    lifecycle(Family::Tpm20);
}

/// A frame from a hostile vtpm: random tags, ordinals, sizes, lengths.
fn hostile_frame(rng: &mut TestRng) -> Vec<u8> {
    use rand_core::Rng;
    let tags = [0x00C1u16, 0x00C2, 0x00C3, 0x01C1, 0x01C2, 0x01C4, 0x8001, 0, 0xFFFF];
    let ords = [1u32, 2, 3, 4, 0x14, 0x15, 0x46, 0x0200_0101, 0x0200_0204, 0, u32::MAX];
    let r = rng.next_u32();
    let len = (rng.next_u32() % 90) as usize;
    let mut body = vec![0u8; len];
    rng.fill_bytes(&mut body);
    let mut f = tpm_frame::command(tags[r as usize % tags.len()], ords[(r >> 8) as usize % ords.len()], &body);
    match r >> 28 {
        0 => f.truncate((r >> 16) as usize % 12),
        1 => f[2..6].copy_from_slice(&(r >> 4).to_be_bytes()),
        2 => f.extend_from_slice(&[0; 3]),
        _ => {}
    }
    f
}

#[test]
fn hostile_vtpm_gets_error_replies_and_cannot_touch_others() {
    if !have_swtpm() {
        return;
    }
    let c = opts(Family::Tpm20);
    let dir = StateDir::new("svc-hostile");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm20);
    let (mut s, _) = boot(MemDisk::new(4096), &mut tpm, &c).expect("first boot");
    assert_eq!(rc(&call(&mut s, 1, A, &proto::save_hash_key(&[5; 64]), &mut tpm, &c)), 0);
    // the codec's refusals
    for f in [
        vec![0x01, 0xC1, 0],
        vec![],
        tpm_frame::command(0x01C1, 1, &[0; 51]),
        tpm_frame::command(0x01C1, 1, &[0; 65]),
        tpm_frame::command(0x01C1, 2, &[0]),
        tpm_frame::command(0x00C1, 0x46, &[0; 5]),
        tpm_frame::command(0x00C1, 0x14, &[0; 23]),
    ] {
        let r = call(&mut s, 2, B, &f, &mut tpm, &c);
        assert_ne!(rc(&r), 0, "{f:02x?} → {r:02x?}");
    }
    let mut rng = TestRng::seeded(42);
    let mut saved_by_b = None;
    for _ in 0..3000 {
        let f = hostile_frame(&mut rng);
        let r = call(&mut s, 2, B, &f, &mut tpm, &c);
        if rc(&r) == 0 && tpm_frame::ordinal(&f) == Some(1) && tpm_frame::tag(&f) == Some(0x01C1) {
            saved_by_b = Some(f[10..].to_vec());
        }
        assert!(r.len() <= 4088, "a reply fits the shared page");
    }
    // A's record is untouched whatever B sent; B's is the last one it saved (if any)
    assert_eq!(*s.store().get(&A).unwrap().blob, [5; 64]);
    assert_eq!(s.store().get(&B).map(|r| r.blob.to_vec()), saved_by_b);
    assert_eq!(s.store().get(&B).map(|r| r.flags & FLAG_ADMIN), saved_by_b.as_ref().map(|_| 0));
    // a decoded LOAD reply with the C vtpm's check
    let l = call(&mut s, 1, A, &proto::load_hash_key(), &mut tpm, &c);
    assert_eq!(proto::decode_load_hash_key_reply(&l).map(|b| b.len()), Ok(64));
    assert_eq!(proto::decode_load_hash_key_reply(&proto::error_reply(0x01C1, 2)), Err(ReplyError::Rc(2)));
}

#[test]
fn damaged_disks_are_refused_with_nothing_written() {
    if !have_swtpm() {
        return;
    }
    let c = opts(Family::Tpm12);
    let dir = StateDir::new("svc-damage");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    let (mut s, _) = boot(MemDisk::new(4096), &mut tpm, &c).expect("first boot");
    assert_eq!(rc(&call(&mut s, 1, A, &proto::save_hash_key(&[5; 64]), &mut tpm, &c)), 0);
    let image = s.into_store().into_device().image().to_vec();
    // slot A: the empty first root (sequence 1); slot B: the root with A (sequence 2)
    let slot_b = (8 + 2040) * 512;
    let cases: Vec<(usize, &str)> = vec![
        (0, "disk header magic"),
        (45, "disk header checksum"),
        (512, "sealed root area magic"),
        (512 + 14, "sealed root area length"),
        (512 + 100, "sealed root blob"),
    ];
    for (at, what) in cases {
        let mut img = image.clone();
        img[at] ^= 0x10;
        let mut rng = TestRng::new();
        let f = KeyStore::boot(MemDisk::from_image(img.clone()), &mut tpm, &mut rng, &c).err().expect(what);
        eprintln!("{what}: {}", f.error);
        let d = f.device.expect("device back");
        assert_eq!((d.writes, d.image() == &img[..]), (0, true), "{what}: nothing written");
        match at {
            0 | 45 => assert!(matches!(f.error, BootError::Disk(_)), "{what}: {:?}", f.error),
            514 => assert_eq!(f.error, BootError::SealedRootArea(AreaError::Corrupt)),
            512 => assert_eq!(f.error, BootError::SealedRootArea(AreaError::BadMagic)),
            _ => assert!(
                matches!(f.error, BootError::SealedRootArea(_) | BootError::Hardware(_)),
                "{what}: {:?}",
                f.error
            ),
        }
    }
    // both root slots damaged: the record cannot be trusted
    let mut img = image.clone();
    img[8 * 512 + 60] ^= 1;
    img[slot_b + 60] ^= 1;
    let mut rng = TestRng::new();
    let f = KeyStore::boot(MemDisk::from_image(img.clone()), &mut tpm, &mut rng, &c).err().expect("both slots");
    assert_eq!(f.error, BootError::RootRecord(StoreError::AuthenticationFailed));
    assert_eq!(f.device.unwrap().image(), &img[..]);
    // the sealed root area wiped while root records exist: refused, not re-provisioned
    let mut img = image.clone();
    img[512..8 * 512].fill(0);
    let f = KeyStore::boot(MemDisk::from_image(img.clone()), &mut tpm, &mut rng, &c).err().expect("no area");
    assert_eq!(f.error, BootError::NoSealedRoot);
    // a vtpm's disk (foreign records) given as the manager's: refused
    let mut img = image.clone();
    img[8 * 512 + 12] ^= 1; // owner uuid of slot A
    img[slot_b + 12] ^= 1;
    let f = KeyStore::boot(MemDisk::from_image(img), &mut tpm, &mut rng, &c).err().expect("foreign");
    assert_eq!(f.error, BootError::RootRecord(StoreError::ForeignUuid));
    // a disk too small, and a random one
    let f = KeyStore::boot(MemDisk::new(16), &mut tpm, &mut rng, &c).err().expect("small");
    assert_eq!(f.error, BootError::Disk(StoreError::DiskTooSmall));
    let mut junk = vec![0u8; 4096 * 512];
    rand_core::Rng::fill_bytes(&mut rng, &mut junk);
    let f = KeyStore::boot(MemDisk::from_image(junk), &mut tpm, &mut rng, &c).err().expect("junk");
    assert_eq!(f.error, BootError::Disk(StoreError::BadMagic));
    // one slot damaged: the other one (the previous root) is used
    let mut img = image;
    img[slot_b + 60] ^= 1;
    let (s, kind) = boot(MemDisk::from_image(img), &mut tpm, &c).expect("slot A");
    assert_eq!((kind, s.store().len()), (BootKind::Restored { sequence: 1 }, 0));
}

/// Every fault at every write or flush of a SAVE (and of the first boot): after a restart the
/// store holds exactly the old or the new record, and the new one if the reply said success.
#[test]
fn torn_or_failed_write_k_leaves_the_old_or_the_new_record() {
    if !have_swtpm() {
        return;
    }
    let c = opts(Family::Tpm12);
    let dir = StateDir::new("svc-torn");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm12);
    let faults = |op| {
        let mut v = vec![Fault::Fail { op }];
        for landing in [Landing::Nothing, Landing::Prefix(1), Landing::Suffix(1), Landing::All] {
            for cache in [CacheFate::Lost, CacheFate::WrittenBack] {
                v.push(Fault::PowerCut { op, landing, cache });
            }
        }
        v
    };
    // the first boot, torn anywhere: the next boot provisions again or finds the empty root
    let mut cases = 0;
    for op in 0.. {
        let mut done = false;
        for fault in faults(op) {
            let mut d = FaultyDisk::new(4096);
            d.arm(fault);
            let mut rng = TestRng::new();
            let first = KeyStore::boot(d, &mut tpm, &mut rng, &c);
            let mut d = match first {
                Ok((mut s, _)) => {
                    done |= matches!(fault, Fault::Fail { .. }) && s.device_mut().ops() <= op;
                    s.into_device()
                }
                Err(f) => f.device.expect("device"),
            };
            d.restart();
            let (s, _) = boot(d, &mut tpm, &c).unwrap_or_else(|e| panic!("first boot {fault:?}: {e}"));
            assert!(s.store().is_empty());
            cases += 1;
        }
        if done {
            break;
        }
    }
    // one SAVE over an existing record, torn anywhere
    let (mut s, _) = boot(FaultyDisk::new(4096), &mut tpm, &c).expect("first boot");
    assert_eq!(rc(&call(&mut s, 1, A, &proto::save_hash_key(&[1; 64]), &mut tpm, &c)), 0);
    // enough other records that the root record spans several sectors (a torn multi-sector write)
    for i in 0..30u32 {
        assert_eq!(rc(&call(&mut s, 10 + i, [i as u8 + 1; 16], &proto::save_hash_key(&[3; 64]), &mut tpm, &c)), 0);
    }
    let base = s.into_store().into_device();
    for op in 0.. {
        let mut done = false;
        for fault in faults(op) {
            let mut d = base.clone();
            d.arm(fault);
            let mut rng = TestRng::new();
            let (store, _) = KeyStore::boot(d, &mut tpm, &mut rng, &c).expect("boot");
            let mut s: Service<FaultyDisk, u32> = Service::new(store);
            let reply = call(&mut s, 1, A, &proto::save_hash_key(&[2; 52]), &mut tpm, &c);
            let ok = rc(&reply) == 0;
            let mut store = s.into_store();
            done |= ok && matches!(fault, Fault::Fail { .. }) && store.device_mut().ops() <= op;
            let mut d = store.into_device();
            d.restart();
            let (s, _) = boot(d, &mut tpm, &c).unwrap_or_else(|e| panic!("{fault:?}: {e}"));
            let got = s.store().get(&A).expect("A").blob.to_vec();
            assert_eq!(s.store().len(), 31, "{fault:?}: the other records are all there");
            assert!(got == [1; 64] || got == [2; 52], "{fault:?}: {got:?}");
            if ok {
                assert_eq!(got, [2; 52], "{fault:?}: success was replied");
            }
            cases += 1;
        }
        if done {
            break;
        }
    }
    eprintln!("torn/failed write cases: {cases}");
}

#[test]
fn ten_thousand_records() {
    if !have_swtpm() {
        return;
    }
    let c = opts(Family::Tpm20);
    let dir = StateDir::new("svc-10k");
    let mut tpm = Swtpm::start(&dir.0, Family::Tpm20);
    let mut rng = TestRng::new();
    let (mut store, _) = KeyStore::boot(MemDisk::new(32768), &mut tpm, &mut rng, &c).expect("first boot");
    let n = 10_000u32;
    let records = (0..n)
        .map(|i| {
            let mut u = [0u8; 16];
            u[..4].copy_from_slice(&i.to_be_bytes());
            (u, VtpmRecord { flags: 0, blob: zeroize::Zeroizing::new(vec![i as u8; 64]) })
        })
        .collect();
    store.put_many(records, &mut rng).expect("bulk");
    let mut s: Service<MemDisk, u32> = Service::new(store);
    let t = Instant::now();
    let saves = 5;
    for i in 0..saves {
        let r = call(&mut s, 1, [0xEE; 16], &proto::save_hash_key(&[i; 64]), &mut tpm, &c);
        assert_eq!(rc(&r), 0);
    }
    let save = t.elapsed() / saves as u32;
    let disk = s.into_store().into_device();
    let t = Instant::now();
    let (mut s, _) = boot(disk, &mut tpm, &c).expect("reboot");
    let reboot = t.elapsed();
    assert_eq!(s.store().len(), n as usize + 1);
    let mut u = [0u8; 16];
    u[..4].copy_from_slice(&4321u32.to_be_bytes());
    let t = Instant::now();
    let l = call(&mut s, 2, u, &proto::load_hash_key(), &mut tpm, &c);
    let load = t.elapsed();
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), [4321u32 as u8; 64]);
    let payload = 8 + (n as usize + 1) * (18 + 64);
    eprintln!(
        "10,001 records: payload {payload} bytes ({:.1} bytes per record, + 68 per root record); \
         SAVEHASHKEY with the table persisted {save:?}; boot (unseal + load + decode) {reboot:?}; LOADHASHKEY {load:?}",
        payload as f64 / (n as f64 + 1.0)
    );
}
