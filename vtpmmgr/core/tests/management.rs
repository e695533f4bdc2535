//! The management ordinals (`vtpmmgr_core::mgmt`) through the service, on a key store opened
//! with an administrator key (no hardware TPM needed): who may send them, GROUP_LIST,
//! VTPM_LIST paging (never more than one shared page), VTPM_NEW, VTPM_DEL, the C ordinals we
//! do not implement, malformed and random requests, and a failed disk write changing nothing.

mod support;

use support::TestRng;
use vtpm_store::{Fault, FaultyDisk, MemDisk};
use vtpmmgr_core::admin_key::{AdminKey, KdfParams};
use vtpmmgr_core::mgmt::{self, MgmtRequest, RC_EXISTS, TPM_BADINDEX, TPM_FAIL, VTPM_LIST_MAX};
use vtpmmgr_core::proto::{self, RC_NO_RECORD, TPM_BAD_ORDINAL};
use vtpmmgr_core::service::TPM_AUTHFAIL;
use vtpmmgr_core::{BlockDevice, KeyStore, Service, VtpmRecord};
use zeroize::Zeroizing;

/// Connection 0 is the management frontend (dom0); the others are vtpms.
const DOM0: u32 = 0;
const A: [u8; 16] = [0xAA; 16];
const B: [u8; 16] = [0xBB; 16];

fn key() -> AdminKey {
    AdminKey::parse_passphrase("text:management tests").expect("passphrase")
}

fn service<D: BlockDevice>(disk: D) -> Service<D, u32> {
    let (store, _) =
        KeyStore::boot_with_admin_key(disk, &key(), KdfParams::MINIMAL, &mut TestRng::new()).expect("boot");
    let mut s = Service::new(store);
    s.set_management_peer(|c: &u32| *c == DOM0);
    s
}

fn call<D: BlockDevice>(s: &mut Service<D, u32>, conn: u32, uuid: [u8; 16], frame: &[u8]) -> Vec<u8> {
    let r = s.handle_without_tpm(conn, uuid, frame, &mut TestRng::new());
    assert!(tpm_frame::is_consistent(&r), "inconsistent reply {r:02x?}");
    assert!(r.len() <= 4088, "a reply larger than the shared page: {}", r.len());
    r
}

fn mgmt_call<D: BlockDevice>(s: &mut Service<D, u32>, req: &MgmtRequest) -> Vec<u8> {
    // dom0's own backend dir has some uuid of its own: management does not use it
    call(s, DOM0, [0x0D; 16], &mgmt::encode(req))
}

fn rc(reply: &[u8]) -> u32 {
    tpm_frame::return_code(reply).expect("reply header")
}

fn rec(b: u8) -> VtpmRecord {
    VtpmRecord { flags: 0, blob: Zeroizing::new(vec![b; 64]) }
}

#[test]
fn only_the_management_frontend_may_manage() {
    let mut s = service(MemDisk::new(4096));
    assert_eq!(rc(&call(&mut s, 5, A, &proto::save_hash_key(&[1; 64]))), 0);
    assert!(s.store().get(&A).unwrap().is_admin(), "the first record is the admin");
    // the admin vtpm forwards its guest's 0x01C2 bytes: refused as C refuses a non-admin
    for req in [
        MgmtRequest::GroupList,
        MgmtRequest::VtpmList { group: 0, offset: 0 },
        MgmtRequest::VtpmNew { group: 0, uuid: None },
        MgmtRequest::VtpmDel { uuid: A },
        MgmtRequest::Backup { uuid: A },
        MgmtRequest::ManagerKey,
        MgmtRequest::Unknown(0x0200_0102),
    ] {
        for conn in [5, 6] {
            let r = call(&mut s, conn, if conn == 5 { A } else { B }, &mgmt::encode(&req));
            assert_eq!(r, [0x01, 0xC5, 0, 0, 0, 10, 0, 0, 0, 1], "{req:?} from {conn}");
        }
    }
    assert!(s.take_notes().iter().any(|n| n.contains("only the management frontend (dom0) may send them")));
    assert_eq!(s.store().len(), 1, "nothing was created");
    // dom0 may
    assert_eq!(mgmt::decode_group_list(&mgmt_call(&mut s, &MgmtRequest::GroupList)), Ok(1));
    // with no management frontend set, nobody manages (the answers before management existed)
    let (store, _) = KeyStore::boot_with_admin_key(MemDisk::new(4096), &key(), KdfParams::MINIMAL, &mut TestRng::new())
        .expect("boot");
    let mut plain: Service<MemDisk, u32> = Service::new(store);
    let list = mgmt::encode(&MgmtRequest::GroupList);
    assert_eq!(rc(&call(&mut plain, 0, B, &list)), TPM_AUTHFAIL);
}

#[test]
fn vtpm_list_pages_and_never_exceeds_one_reply() {
    let mut s = service(MemDisk::new(16384));
    // 600 records: C would answer 10 + 4 + 16 × 600 bytes and wedge tpmback
    let mut rng = TestRng::new();
    let uuids: Vec<[u8; 16]> = (0..600u32)
        .map(|i| {
            let mut u = [0x11u8; 16];
            u[12..].copy_from_slice(&(599 - i).to_be_bytes());
            u
        })
        .collect();
    assert_eq!(rc(&call(&mut s, 5, uuids[0], &proto::save_hash_key(&[1; 64]))), 0);
    s.disconnect(5);
    let records = uuids[1..].iter().map(|u| (*u, rec(2))).collect();
    store_mut(&mut s).put_many(records, &mut rng).expect("bulk");
    let mut got = Vec::new();
    let mut offset = 0u32;
    loop {
        let r = mgmt_call(&mut s, &MgmtRequest::VtpmList { group: 0, offset });
        let (total, page) = mgmt::decode_vtpm_list(&r).expect("list");
        assert_eq!(total, 600);
        assert!(page.len() <= VTPM_LIST_MAX);
        if page.is_empty() {
            break;
        }
        offset += page.len() as u32;
        got.extend(page);
    }
    let mut want = uuids.clone();
    want.sort();
    assert_eq!(got, want, "every uuid once, ascending");
    assert_eq!(
        mgmt::decode_vtpm_list(&mgmt_call(&mut s, &MgmtRequest::VtpmList { group: 0, offset: u32::MAX })),
        Ok((600, vec![]))
    );
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmList { group: 1, offset: 0 })), TPM_BADINDEX);
}

/// The key store under a service, for bulk set-up (tests only).
fn store_mut<D: BlockDevice>(s: &mut Service<D, u32>) -> &mut KeyStore<D> {
    s.store_mut()
}

#[test]
fn vtpm_new_and_del() {
    let mut s = service(MemDisk::new(4096));
    // a random version-4 uuid, then a given one
    let n1 = mgmt::decode_uuid(&mgmt_call(&mut s, &MgmtRequest::VtpmNew { group: 0, uuid: None })).expect("new");
    assert_eq!((n1[6] >> 4, n1[8] >> 6), (4, 2), "{n1:02x?}");
    let given = mgmt_call(&mut s, &MgmtRequest::VtpmNew { group: 0, uuid: Some(B) });
    assert_eq!(mgmt::decode_uuid(&given), Ok(B));
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmNew { group: 0, uuid: Some(B) })), RC_EXISTS);
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmNew { group: 0, uuid: Some([0; 16]) })), 3);
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmNew { group: 7, uuid: Some(A) })), TPM_BADINDEX);
    assert!(s.store().get(&A).is_none());
    // B's vtpm starts: no state yet, so it starts fresh; its first save fills the record
    assert_eq!(rc(&call(&mut s, 5, B, &proto::load_hash_key())), RC_NO_RECORD);
    assert_eq!(rc(&call(&mut s, 5, B, &proto::save_hash_key(&[3; 52]))), 0);
    let l = call(&mut s, 5, B, &proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), [3; 52]);
    // DEL: unknown and connected are TPM_FAIL (as C); after the vtpm left, gone for good
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmDel { uuid: A })), TPM_FAIL);
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmDel { uuid: B })), TPM_FAIL);
    assert!(s.take_notes().iter().any(|n| n.contains("is connected")));
    s.disconnect(5);
    assert_eq!(mgmt::decode_empty(&mgmt_call(&mut s, &MgmtRequest::VtpmDel { uuid: B })), Ok(()));
    let (total, page) =
        mgmt::decode_vtpm_list(&mgmt_call(&mut s, &MgmtRequest::VtpmList { group: 0, offset: 0 })).unwrap();
    assert_eq!((total, page), (1, vec![n1]));
    // a restart from the same disk: exactly that
    let disk = s.into_store().into_device();
    let mut s = service(disk);
    assert!(s.store().get(&B).is_none());
    assert_eq!(s.store().get(&n1).map(|r| r.blob.len()), Some(0));
    assert_eq!(rc(&call(&mut s, 6, B, &proto::load_hash_key())), RC_NO_RECORD);
}

#[test]
fn other_c_ordinals_are_bad_ordinal_and_bad_shapes_bad_parameter() {
    let mut s = service(MemDisk::new(4096));
    for o in [
        0x0200_0102,
        0x0200_0103,
        0x0200_0104,
        0x0200_0105,
        0x0200_0106,
        0x0200_0107,
        0x0200_0108,
        0x0200_0202,
        0x0200_0203,
        0x0200_0301,
        0x0200_0306,
        0,
        u32::MAX,
    ] {
        let r = call(&mut s, DOM0, [0; 16], &tpm_frame::command(0x01C2, o, &[0; 8]));
        assert_eq!(r, mgmt::err(TPM_BAD_ORDINAL), "{o:#x}");
    }
    // manage-vtpmmgr.pl's vtpm-add sends the uuid with a NUL: 31 bytes, refused as in C
    let mut f = mgmt::encode(&MgmtRequest::VtpmNew { group: 0, uuid: Some(A) });
    f.push(0);
    f[5] = 31;
    assert_eq!(call(&mut s, DOM0, [0; 16], &f), mgmt::err(3));
    let mut l = mgmt::encode(&MgmtRequest::VtpmList { group: 0, offset: 0 });
    l.extend_from_slice(&[0; 4]);
    l[5] = 22;
    assert_eq!(call(&mut s, DOM0, [0; 16], &l), mgmt::err(3));
    assert_eq!(s.store().len(), 0);
}

#[test]
fn random_management_requests_get_replies_and_change_nothing_unasked() {
    use rand_core::Rng;
    let mut s = service(MemDisk::new(4096));
    assert_eq!(rc(&call(&mut s, 5, A, &proto::save_hash_key(&[1; 64]))), 0);
    let mut rng = TestRng::seeded(7);
    let ords = [
        0x0200_0101u32,
        0x0200_0201,
        0x0200_0204,
        0x0200_0205,
        0x0280_0001,
        0x0280_0002,
        0x0280_0003,
        0x0280_0004,
        0x0280_0005,
        0x0280_0006,
        0x0200_0106,
    ];
    for _ in 0..3000 {
        let r = rng.next_u32();
        let len = match r % 4 {
            0 => (r >> 8) as usize % 24,
            1 => 50,
            _ => (r >> 8) as usize % 300,
        };
        let mut body = vec![0u8; len];
        rng.fill_bytes(&mut body);
        let ord = ords[(r >> 20) as usize % ords.len()];
        if ord == 0x0200_0204 || ord == 0x0200_0205 {
            continue; // those two change the table by design
        }
        let reply = call(&mut s, DOM0, [0; 16], &tpm_frame::command(0x01C2, ord, &body));
        assert!(reply.len() >= 10);
    }
    assert_eq!(s.store().len(), 1);
    assert_eq!(*s.store().get(&A).unwrap().blob, [1; 64]);
}

#[test]
fn a_failed_write_changes_nothing() {
    let mut s = service(FaultyDisk::new(4096));
    for op in 0..4 {
        store_mut(&mut s).device_mut().arm(Fault::Fail { op });
        let r = mgmt_call(&mut s, &MgmtRequest::VtpmNew { group: 0, uuid: Some(A) });
        if rc(&r) == 0 {
            assert!(s.store().get(&A).is_some());
            break;
        }
        assert_eq!(rc(&r), TPM_FAIL);
        assert!(s.store().get(&A).is_none(), "nothing changed after a failure at op {op}");
    }
    assert!(s.store().get(&A).is_some());
    store_mut(&mut s).device_mut().arm(Fault::Fail { op: 0 });
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmDel { uuid: A })), TPM_FAIL);
    assert!(s.store().get(&A).is_some(), "a failed delete keeps the record");
}

fn passphrase(s: &str) -> AdminKey {
    AdminKey::parse_passphrase(s).expect("passphrase")
}

/// A second manager: another disk, another root secret.
fn other_service<D: BlockDevice>(disk: D) -> Service<D, u32> {
    let (store, _) = KeyStore::boot_with_admin_key(
        disk,
        &passphrase("text:the other manager"),
        KdfParams::MINIMAL,
        &mut TestRng::new(),
    )
    .expect("boot");
    let mut s = Service::new(store);
    s.set_management_peer(|c: &u32| *c == DOM0);
    s
}

fn manager_key<D: BlockDevice>(s: &mut Service<D, u32>) -> [u8; 32] {
    let (alg, k) = mgmt::decode_manager_key(&mgmt_call(s, &MgmtRequest::ManagerKey)).expect("manager key");
    assert_eq!(alg, mgmt::ALG_X25519);
    k
}

fn export<D: BlockDevice>(s: &mut Service<D, u32>, uuid: [u8; 16], target: [u8; 32]) -> Result<Vec<u8>, u32> {
    let r = mgmt_call(s, &MgmtRequest::Export { uuid, alg: mgmt::ALG_X25519, target });
    mgmt::decode_blob(&r).map_err(|_| rc(&r))
}

#[test]
fn the_manager_key_is_made_once_and_kept() {
    let mut s = service(MemDisk::new(4096));
    let k = manager_key(&mut s);
    assert_eq!(manager_key(&mut s), k, "the same key on every call");
    let disk = s.into_store().into_device();
    let mut s = service(disk);
    assert!(s.store().root().manager_key.is_some());
    assert_eq!(manager_key(&mut s), k, "and after a restart");
    let mut o = other_service(MemDisk::new(4096));
    assert_ne!(manager_key(&mut o), k, "another manager, another key");
}

#[test]
fn backup_and_restore() {
    let mut s = service(MemDisk::new(4096));
    let blob: Vec<u8> = (0..64).collect();
    assert_eq!(rc(&call(&mut s, 5, A, &proto::save_hash_key(&blob))), 0);
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::Backup { uuid: A })), mgmt::RC_OPEN, "connected");
    s.disconnect(5);
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::Backup { uuid: B })), TPM_BADINDEX);
    let backup = mgmt::decode_blob(&mgmt_call(&mut s, &MgmtRequest::Backup { uuid: A })).expect("backup");
    assert!(
        !backup.windows(16).any(|w| w == &blob[..16]) && !backup.windows(16).any(|w| w == &blob[32..48]),
        "the key is not in clear"
    );
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::Restore { blob: backup.clone() })), RC_EXISTS);
    // the record is lost (deleted); the backup brings it back, byte for byte, with its flags
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmDel { uuid: A })), 0);
    let mut tampered = backup.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 1;
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::Restore { blob: tampered })), TPM_AUTHFAIL);
    // cut: shorter than any backup is malformed; a byte less fails the tag
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::Restore { blob: backup[..40].to_vec() })), 3);
    assert_eq!(
        rc(&mgmt_call(&mut s, &MgmtRequest::Restore { blob: backup[..backup.len() - 1].to_vec() })),
        TPM_AUTHFAIL
    );
    assert!(s.store().get(&A).is_none(), "refusals change nothing");
    assert_eq!(mgmt::decode_uuid(&mgmt_call(&mut s, &MgmtRequest::Restore { blob: backup.clone() })), Ok(A));
    let l = call(&mut s, 6, A, &proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), blob[..]);
    assert!(s.store().get(&A).unwrap().is_admin());
    // another manager cannot open it
    let mut o = other_service(MemDisk::new(4096));
    assert_eq!(rc(&mgmt_call(&mut o, &MgmtRequest::Restore { blob: backup.clone() })), mgmt::RC_OTHER_MANAGER);
    assert!(o.take_notes().iter().any(|n| n.contains("the blob was made for another manager")));
    // and after a restart the same manager still can
    s.disconnect(6);
    assert_eq!(rc(&mgmt_call(&mut s, &MgmtRequest::VtpmDel { uuid: A })), 0);
    let mut s = service(s.into_store().into_device());
    assert_eq!(mgmt::decode_uuid(&mgmt_call(&mut s, &MgmtRequest::Restore { blob: backup })), Ok(A));
}

#[test]
fn export_retires_and_import_accepts_once() {
    let mut a = service(MemDisk::new(4096));
    let mut b = other_service(MemDisk::new(4096));
    let blob: Vec<u8> = (100..164).collect();
    assert_eq!(rc(&call(&mut a, 5, A, &proto::save_hash_key(&blob))), 0);
    let kb = manager_key(&mut b);
    assert_eq!(export(&mut a, A, kb), Err(mgmt::RC_OPEN), "connected");
    a.disconnect(5);
    assert_eq!(export(&mut a, B, kb), Err(TPM_BADINDEX));
    assert_eq!(export(&mut a, A, [0; 32]), Err(3), "a low-order key");
    let bad_alg = mgmt_call(&mut a, &MgmtRequest::Export { uuid: A, alg: 2, target: kb });
    assert_eq!(rc(&bad_alg), 3);
    assert!(a.store().get(&A).is_some(), "refusals change nothing");
    let blob_x = export(&mut a, A, kb).expect("export");
    // A's record is retired: its vtpm is refused, it stays listed, and it goes nowhere else
    assert_eq!(rc(&call(&mut a, 6, A, &proto::load_hash_key())), mgmt::RC_RETIRED);
    assert_eq!(rc(&call(&mut a, 6, A, &proto::save_hash_key(&[1; 64]))), mgmt::RC_RETIRED);
    assert!(a.take_notes().iter().any(|n| n.contains("was exported from this manager (retired)")));
    a.disconnect(6);
    let (total, page) =
        mgmt::decode_vtpm_list(&mgmt_call(&mut a, &MgmtRequest::VtpmList { group: 0, offset: 0 })).unwrap();
    assert_eq!((total, page), (1, vec![A]));
    assert_eq!(rc(&mgmt_call(&mut a, &MgmtRequest::Backup { uuid: A })), mgmt::RC_RETIRED);
    let mut c = other_service(MemDisk::new(4096));
    let kc = {
        let (store, _) = KeyStore::boot_with_admin_key(
            MemDisk::new(4096),
            &passphrase("text:a third manager"),
            KdfParams::MINIMAL,
            &mut TestRng::new(),
        )
        .unwrap();
        let mut s3 = Service::new(store);
        s3.set_management_peer(|c: &u32| *c == DOM0);
        manager_key(&mut s3)
    };
    assert_eq!(export(&mut a, A, kc), Err(mgmt::RC_RETIRED), "not to a second target");
    // the same export again (a lost reply): same export id, so B takes one of them only
    let blob_y = export(&mut a, A, kb).expect("export again");
    assert_ne!(blob_x, blob_y);
    // import: not into a manager without a key, nor another one with a key
    assert_eq!(rc(&mgmt_call(&mut c, &MgmtRequest::Import { blob: blob_x.clone() })), mgmt::RC_OTHER_MANAGER);
    let _ = manager_key(&mut c);
    assert_eq!(rc(&mgmt_call(&mut c, &MgmtRequest::Import { blob: blob_x.clone() })), mgmt::RC_OTHER_MANAGER);
    let mut tampered = blob_x.clone();
    let at = tampered.len() - 30;
    tampered[at] ^= 0x80;
    assert_eq!(rc(&mgmt_call(&mut b, &MgmtRequest::Import { blob: tampered })), TPM_AUTHFAIL);
    assert!(b.store().get(&A).is_none());
    assert_eq!(mgmt::decode_uuid(&mgmt_call(&mut b, &MgmtRequest::Import { blob: blob_x.clone() })), Ok(A));
    let l = call(&mut b, 7, A, &proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), blob[..], "the same key material on B");
    assert!(!b.store().get(&A).unwrap().is_admin(), "A's admin flag stays on A");
    b.disconnect(7);
    // replays: the same blob, and the re-made one with the same export id; also after a restart
    assert_eq!(rc(&mgmt_call(&mut b, &MgmtRequest::Import { blob: blob_x.clone() })), mgmt::RC_REPLAYED);
    assert!(b.take_notes().iter().any(|n| n.contains("replay refused")));
    let mut b = other_service(b.into_store().into_device());
    assert_eq!(rc(&mgmt_call(&mut b, &MgmtRequest::Import { blob: blob_y.clone() })), mgmt::RC_REPLAYED);
    assert_eq!(
        mgmt::decode_vtpm_list(&mgmt_call(&mut b, &MgmtRequest::VtpmList { group: 0, offset: 0 })).unwrap(),
        (1, vec![A])
    );
    // A restarted still refuses the vtpm
    let mut a = service(a.into_store().into_device());
    assert_eq!(rc(&call(&mut a, 8, A, &proto::load_hash_key())), mgmt::RC_RETIRED);
    a.disconnect(8);
    // and the vtpm can come back: B exports to A, A's retired record is replaced
    let ka = manager_key(&mut a);
    let back = export(&mut b, A, ka).expect("export back");
    assert_eq!(mgmt::decode_uuid(&mgmt_call(&mut a, &MgmtRequest::Import { blob: back })), Ok(A));
    let l = call(&mut a, 9, A, &proto::load_hash_key());
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), blob[..]);
    assert!(a.store().root().retired.is_empty());
}

#[test]
fn an_export_whose_save_fails_gives_no_blob_and_keeps_the_record() {
    let mut a = service(FaultyDisk::new(4096));
    let mut b = other_service(MemDisk::new(4096));
    assert_eq!(rc(&call(&mut a, 5, A, &proto::save_hash_key(&[4; 64]))), 0);
    a.disconnect(5);
    let kb = manager_key(&mut b);
    store_mut(&mut a).device_mut().arm(Fault::Fail { op: 0 });
    assert_eq!(export(&mut a, A, kb), Err(TPM_FAIL));
    assert!(a.store().get(&A).is_some() && a.store().root().retired.is_empty());
    let mut a = service(a.into_store().into_device());
    assert!(a.store().get(&A).is_some(), "nor on the disk");
    let x = export(&mut a, A, kb).expect("export");
    let mut b2 = other_service(FaultyDisk::from_media(b.into_store().into_device().image().to_vec()));
    store_mut(&mut b2).device_mut().arm(Fault::Fail { op: 0 });
    assert_eq!(rc(&mgmt_call(&mut b2, &MgmtRequest::Import { blob: x.clone() })), TPM_FAIL);
    assert!(b2.store().get(&A).is_none() && b2.store().root().imported.is_empty());
    assert_eq!(mgmt::decode_uuid(&mgmt_call(&mut b2, &MgmtRequest::Import { blob: x })), Ok(A), "then it works");
}
