//! The manager without a hardware TPM (`tpmdriver=none`): the key store with its root wrapped
//! by an administrator key (a passphrase through Argon2id, or a key disk). First boot, saves, a
//! restart that loads them, a wrong passphrase and the other kind of key refused with nothing
//! written; a disk made with a hardware TPM refused in this mode and the reverse (swtpm 1.2
//! and 2.0 as the TPM), an old (version 1) sealed root area still read; and the service's
//! answers without a TPM (GetRandom from the manager's RNG, no hardware PCRs).

mod support;

use support::{StateDir, Swtpm, TestRng, cfg, have_swtpm};
use tpm_frame::Family;
use vtpm_store::{MemDisk, SECTOR_SIZE};
use vtpmmgr_core::admin_key::{AdminKey, AdminKeyError, KdfParams, KeySource};
use vtpmmgr_core::hw_blob_area::Protection;
use vtpmmgr_core::proto;
use vtpmmgr_core::service::TPM_DISABLED_CMD;
use vtpmmgr_core::{BootError, BootKind, KeyStore, Service, VtpmRecord};
use zeroize::Zeroizing;

const A: [u8; 16] = [0xAA; 16];
const B: [u8; 16] = [0xBB; 16];

fn pass(s: &str) -> AdminKey {
    AdminKey::parse_passphrase(s).expect("passphrase")
}

fn rec(b: &[u8]) -> VtpmRecord {
    VtpmRecord { flags: 0, blob: Zeroizing::new(b.to_vec()) }
}

/// A refused boot: the error and the disk handed back.
struct Refused(BootError, MemDisk);

impl std::fmt::Debug for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

fn boot_key(disk: MemDisk, key: &AdminKey) -> Result<(KeyStore<MemDisk>, BootKind), Refused> {
    KeyStore::boot_with_admin_key(disk, key, KdfParams::MINIMAL, &mut TestRng::new())
        .map_err(|f| Refused(f.error, f.device.expect("the disk back")))
}

fn rc(reply: &[u8]) -> u32 {
    tpm_frame::return_code(reply).expect("reply header")
}

#[test]
fn passphrase_first_boot_restart_and_wrong_passphrase() {
    let k = pass("text:a long passphrase");
    let (mut s, kind) = boot_key(MemDisk::new(4096), &k).expect("first boot");
    assert_eq!(kind, BootKind::FirstBoot);
    let mut rng = TestRng::new();
    s.put(A, rec(&[1; 64]), &mut rng).expect("save A");
    s.put(B, rec(&[2; 52]), &mut rng).expect("save B");
    let image = s.into_device().image().to_vec();
    // the area says how the root is protected: version 2, protection 2 (administrator key)
    assert_eq!(&image[SECTOR_SIZE + 8..SECTOR_SIZE + 12], &[0, 2, 2, 0]);
    assert_eq!(&image[SECTOR_SIZE + 48..SECTOR_SIZE + 54], b"VMRK\x01\x01");
    let (s, kind) = boot_key(MemDisk::from_image(image.clone()), &k).expect("restart");
    assert_eq!(kind, BootKind::Restored { sequence: 3 });
    assert_eq!(*s.get(&A).expect("A").blob, [1; 64]);
    assert_eq!(*s.get(&B).expect("B").blob, [2; 52]);
    // a wrong passphrase, a hash: key and a key disk: refused, the disk untouched
    for (other, want) in [
        (pass("text:a long passphrasE"), BootError::AdminKey(AdminKeyError::WrongKey)),
        (pass(&format!("hash:{}", "11".repeat(32))), BootError::AdminKey(AdminKeyError::WrongKey)),
        (
            AdminKey::from_key_disk(&[7u8, 1, 2, 3].repeat(128)).expect("key disk"),
            BootError::AdminKey(AdminKeyError::WrongSource { disk: KeySource::Passphrase, given: KeySource::KeyDisk }),
        ),
    ] {
        let Refused(e, d) = boot_key(MemDisk::from_image(image.clone()), &other).err().expect("refused");
        eprintln!("refused: {e}");
        assert_eq!(e, want);
        assert_eq!((d.writes, d.image() == &image[..]), (0, true), "nothing written");
    }
    // a damaged wrapped root is refused the same way, never replaced
    let mut bad = image.clone();
    bad[SECTOR_SIZE + 48 + 60] ^= 1;
    // (the area's checksum catches it first)
    let Refused(e, d) = boot_key(MemDisk::from_image(bad.clone()), &k).err().expect("refused");
    assert!(matches!(e, BootError::SealedRootArea(_)), "{e:?}");
    assert_eq!((d.writes, d.image() == &bad[..]), (0, true));
}

#[test]
fn key_disk_first_boot_and_restart_and_the_default_cost() {
    let sector: Vec<u8> = (0..512u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let k = AdminKey::from_key_disk(&sector).expect("key disk");
    let (mut s, _) = boot_key(MemDisk::new(4096), &k).expect("first boot");
    s.put(A, rec(&[3; 64]), &mut TestRng::new()).expect("save");
    let image = s.into_device().image().to_vec();
    let (s, kind) = boot_key(MemDisk::from_image(image.clone()), &k).expect("restart");
    assert_eq!((kind, s.len()), (BootKind::Restored { sequence: 2 }, 1));
    let mut other = sector.clone();
    other[31] ^= 0x80;
    let Refused(e, d) =
        boot_key(MemDisk::from_image(image.clone()), &AdminKey::from_key_disk(&other).unwrap()).err().unwrap();
    assert_eq!(e, BootError::AdminKey(AdminKeyError::WrongKey));
    assert_eq!(d.writes, 0);
    // the image's default Argon2id cost, once, with its time
    let t = std::time::Instant::now();
    let (_, kind) = KeyStore::boot_with_admin_key(
        MemDisk::new(4096),
        &pass("text:the default cost"),
        KdfParams::DEFAULT,
        &mut TestRng::new(),
    )
    .expect("first boot at the default cost");
    assert_eq!(kind, BootKind::FirstBoot);
    eprintln!("first boot with Argon2id {:?} (wrap + check): {:?}", KdfParams::DEFAULT, t.elapsed());
}

#[test]
fn the_service_without_a_tpm_answers_random_and_refuses_pcrs() {
    let (store, _) = boot_key(MemDisk::new(4096), &pass("text:service test")).expect("first boot");
    let mut s: Service<MemDisk, u32> = Service::new(store);
    let mut rng = TestRng::new();
    let r = s.handle_without_tpm(1, A, &proto::get_random(48), &mut rng);
    assert_eq!(proto::decode_get_random_reply(&r).expect("GetRandom").len(), 48);
    let big = s.handle_without_tpm(1, A, &proto::get_random(u32::MAX), &mut rng);
    assert_eq!(proto::decode_get_random_reply(&big).expect("GetRandom").len(), 1024);
    assert_ne!(
        proto::decode_get_random_reply(&s.handle_without_tpm(1, A, &proto::get_random(32), &mut rng)).unwrap(),
        proto::decode_get_random_reply(&s.handle_without_tpm(1, A, &proto::get_random(32), &mut rng)).unwrap()
    );
    assert_eq!(rc(&s.handle_without_tpm(1, A, &proto::save_hash_key(&[4; 64]), &mut rng)), 0);
    assert!(s.store().get(&A).unwrap().is_admin());
    let l = s.handle_without_tpm(1, A, &proto::load_hash_key(), &mut rng);
    assert_eq!(*proto::decode_load_hash_key_reply(&l).unwrap(), [4; 64]);
    let pcr = [0, 0xC1, 0, 0, 0, 14, 0, 0, 0, 0x15, 0, 0, 0, 16];
    let p = s.handle_without_tpm(1, A, &pcr, &mut rng);
    assert!(tpm_frame::is_consistent(&p));
    assert_eq!(rc(&p), TPM_DISABLED_CMD);
    let mut ext = tpm_frame::command(0x00C1, 0x14, &16u32.to_be_bytes());
    ext.extend_from_slice(&[7; 20]);
    ext[5] = 34;
    assert_eq!(rc(&s.handle_without_tpm(1, A, &ext, &mut rng)), TPM_DISABLED_CMD, "even for the admin");
    let notes = s.take_notes();
    assert!(notes.iter().any(|n| n.contains("no hardware TPM (tpmdriver=none)")), "{notes:?}");
    // the rest is as with a TPM
    assert_eq!(rc(&s.handle_without_tpm(2, A, &proto::load_hash_key(), &mut rng)), 7, "one connection per uuid");
    assert_eq!(rc(&s.handle_without_tpm(2, [0; 16], &proto::get_random(8), &mut rng)), 1, "nil uuid");
}

fn tpm_disk_refused_in_key_mode_and_back(family: Family) {
    if !have_swtpm() {
        return;
    }
    let c = match family {
        Family::Tpm12 => cfg(&["owner_auth=text:owner"]),
        Family::Tpm20 => cfg(&["tpm2=1"]),
    };
    let dir = StateDir::new("adminkey-mix");
    let mut tpm = Swtpm::start(&dir.0, family);
    let mut rng = TestRng::new();
    let (mut s, _) = KeyStore::boot(MemDisk::new(4096), &mut tpm, &mut rng, &c).expect("TPM first boot");
    s.put(A, rec(&[9; 64]), &mut rng).expect("save");
    let tpm_image = s.into_device().image().to_vec();
    assert_eq!(&tpm_image[SECTOR_SIZE + 8..SECTOR_SIZE + 12], &[0, 2, 1, 0], "version 2, the hardware TPM's");
    // the TPM's disk in key mode: refused, untouched
    let Refused(e, d) =
        boot_key(MemDisk::from_image(tpm_image.clone()), &pass("text:any passphrase")).err().expect("refused");
    eprintln!("{family:?} disk in key mode: {e}");
    assert_eq!(e, BootError::ProtectionMismatch { disk: Protection::HardwareTpm });
    assert_eq!((d.writes, d.image() == &tpm_image[..]), (0, true));
    // a key-mode disk with the TPM: refused, untouched
    let (mut ks, _) = boot_key(MemDisk::new(4096), &pass("text:any passphrase")).expect("key first boot");
    ks.put(B, rec(&[8; 64]), &mut rng).expect("save");
    let key_image = ks.into_device().image().to_vec();
    let f = KeyStore::boot(MemDisk::from_image(key_image.clone()), &mut tpm, &mut rng, &c).err().expect("refused");
    eprintln!("key-mode disk with a {family:?}: {}", f.error);
    assert_eq!(f.error, BootError::ProtectionMismatch { disk: Protection::AdminKey });
    let d = f.device.expect("disk back");
    assert_eq!((d.writes, d.image() == &key_image[..]), (0, true));
    // a disk from the first builds (sealed root area version 1: no protection field) still opens
    let mut v1 = tpm_image.clone();
    v1[SECTOR_SIZE + 8..SECTOR_SIZE + 12].copy_from_slice(&[0, 1, 0, 0]);
    let (s, kind) = KeyStore::boot(MemDisk::from_image(v1.clone()), &mut tpm, &mut rng, &c).expect("version 1 area");
    assert_eq!((kind, s.get(&A).unwrap().blob.to_vec()), (BootKind::Restored { sequence: 2 }, vec![9; 64]));
    let Refused(e, _) = boot_key(MemDisk::from_image(v1), &pass("text:any passphrase")).err().expect("refused");
    assert_eq!(e, BootError::ProtectionMismatch { disk: Protection::HardwareTpm });
}

#[test]
fn tpm12_disk_and_key_disk_do_not_mix() {
    tpm_disk_refused_in_key_mode_and_back(Family::Tpm12);
}

#[test]
fn tpm20_disk_and_key_disk_do_not_mix() {
    tpm_disk_refused_in_key_mode_and_back(Family::Tpm20);
}
