//! SlotStore over a MemDisk: round trips in both load modes, alternation, the acknowledgement
//! rule, rollback and foreign-uuid refusals, every error cause, and the size limits.

use std::collections::HashSet;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use vtpm_store::layout::HEADER_SECTORS;
use vtpm_store::record::{self, RECORD_OVERHEAD};
use vtpm_store::{
    BlockDevice, BlockError, MAX_PAYLOAD, MemDisk, OwnerUuid, RecordDigest, RecordKey, RecordKind, SECTOR_SIZE, Slot,
    SlotStore, StoreError,
};

const ME: OwnerUuid = OwnerUuid([0xA1; 16]);
const OTHER: OwnerUuid = OwnerUuid([0xB2; 16]);
const KIND: RecordKind = RecordKind::TPM12_STATE;
/// The disk images Xen's docs suggest for a vtpm (8 MiB) and the manager (16 MiB), in sectors.
const VTPM_DISK: u64 = 8 * 1024 * 1024 / SECTOR_SIZE as u64;
/// A 2 MiB disk (the manager's C code uses only its first 2 MiB).
const SMALL_DISK: u64 = 2 * 1024 * 1024 / SECTOR_SIZE as u64;
const MGR_DISK: u64 = 16 * 1024 * 1024 / SECTOR_SIZE as u64;

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0x5107)
}

fn key(b: u8) -> RecordKey {
    RecordKey::from_bytes([b; 32])
}

fn payload(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31) ^ tag).collect()
}

fn blank_store(sectors: u64) -> SlotStore<MemDisk> {
    SlotStore::open(MemDisk::new(sectors)).unwrap()
}

/// A store after `load_newest` found it blank (saves allowed).
fn newest_store(sectors: u64) -> SlotStore<MemDisk> {
    let mut s = blank_store(sectors);
    assert_eq!(s.load_newest(&key(1), KIND, ME).err(), Some(StoreError::Blank));
    s
}

fn reopen(s: SlotStore<MemDisk>) -> SlotStore<MemDisk> {
    SlotStore::open(s.into_device()).unwrap()
}

fn slot_offset(s: &SlotStore<MemDisk>, slot: Slot) -> usize {
    s.geometry().start(slot) as usize * SECTOR_SIZE
}

#[test]
fn a_blank_disk_is_blank_in_both_modes_and_only_load_newest_then_allows_saves() {
    let mut s = blank_store(VTPM_DISK);
    let d = RecordDigest([0; 32]);
    assert_eq!(s.load_matching(&key(1), KIND, ME, &d).err(), Some(StoreError::Blank));
    assert_eq!(s.save(&key(1), KIND, ME, b"x", &mut rng()).err(), Some(StoreError::NotLoaded));
    assert!(s.device_mut().image().iter().all(|&b| b == 0), "nothing written");
    assert_eq!(s.load_newest(&key(1), KIND, ME).err(), Some(StoreError::Blank));
    assert!(s.save(&key(1), KIND, ME, b"x", &mut rng()).is_ok());
}

#[test]
fn load_newest_round_trips_across_a_reopen() {
    let mut s = newest_store(VTPM_DISK);
    let p = payload(1, 3000);
    let saved = s.save(&key(1), RecordKind::MANAGER_ROOT, ME, &p, &mut rng()).unwrap();
    s.acknowledge(&saved).unwrap();
    assert_eq!((saved.slot, saved.sequence, saved.record_len), (Slot::A, 1, 3000 + RECORD_OVERHEAD));
    let mut s = reopen(s);
    let l = s.load_newest(&key(1), RecordKind::MANAGER_ROOT, ME).unwrap();
    assert_eq!((&l.payload[..], l.sequence, l.slot, l.digest), (&p[..], 1, Slot::A, saved.digest));
}

#[test]
fn load_matching_round_trips_with_a_fresh_key_per_save() {
    let mut s = blank_store(VTPM_DISK);
    s.start_fresh();
    let mut r = rng();
    let k1 = RecordKey::fresh(&mut r);
    let k2 = RecordKey::fresh(&mut r);
    assert_ne!(k1.as_bytes(), k2.as_bytes());
    let s1 = s.save(&k1, KIND, ME, &payload(1, 700), &mut r).unwrap();
    s.acknowledge(&s1).unwrap();
    let s2 = s.save(&k2, KIND, ME, &payload(2, 900), &mut r).unwrap();
    s.acknowledge(&s2).unwrap();
    let mut s = reopen(s);
    let l = s.load_matching(&k2, KIND, ME, &s2.digest).unwrap();
    assert_eq!((&l.payload[..], l.slot, l.sequence), (&payload(2, 900)[..], Slot::B, 2));
    // The digest is SHA-256 over the record as it lies on the disk.
    let off = slot_offset(&s, Slot::B);
    assert_eq!(record::digest(&s.device_mut().image()[off..off + s2.record_len]), s2.digest);
}

#[test]
fn acknowledged_saves_alternate_between_the_slots() {
    let mut s = newest_store(VTPM_DISK);
    let mut r = rng();
    for (i, slot) in [Slot::A, Slot::B, Slot::A, Slot::B, Slot::A].into_iter().enumerate() {
        let saved = s.save(&key(1), KIND, ME, &payload(i as u8, 100 + i), &mut r).unwrap();
        assert_eq!((saved.slot, saved.sequence), (slot, i as u64 + 1));
        s.acknowledge(&saved).unwrap();
        assert_eq!(s.kept_slot(), Some(slot));
        let mut again = reopen(s);
        let l = again.load_newest(&key(1), KIND, ME).unwrap();
        assert_eq!((&l.payload[..], l.slot), (&payload(i as u8, 100 + i)[..], slot));
        s = again;
    }
}

#[test]
fn an_unacknowledged_save_is_overwritten_next_never_the_acknowledged_one() {
    let mut s = blank_store(VTPM_DISK);
    s.start_fresh();
    let mut r = rng();
    let a = s.save(&key(1), KIND, ME, b"acknowledged", &mut r).unwrap();
    s.acknowledge(&a).unwrap();
    let lost = s.save(&key(2), KIND, ME, b"savehashkey lost", &mut r).unwrap();
    let next = s.save(&key(3), KIND, ME, b"next", &mut r).unwrap();
    assert_eq!((lost.slot, next.slot), (Slot::B, Slot::B));
    assert_eq!(s.acknowledge(&lost).err(), Some(StoreError::UnknownSave));
    let mut s = reopen(s);
    assert_eq!(&s.load_matching(&key(1), KIND, ME, &a.digest).unwrap().payload[..], b"acknowledged");
    assert_eq!(&s.load_matching(&key(3), KIND, ME, &next.digest).unwrap().payload[..], b"next");
    assert_eq!(s.load_matching(&key(2), KIND, ME, &lost.digest).err(), Some(StoreError::NoMatchingSlot));
}

#[test]
fn load_matching_ignores_a_newer_unacknowledged_record_and_saves_over_it() {
    let mut s = blank_store(VTPM_DISK);
    s.start_fresh();
    let mut r = rng();
    let old = s.save(&key(1), KIND, ME, b"old", &mut r).unwrap();
    s.acknowledge(&old).unwrap();
    let newer = s.save(&key(2), KIND, ME, b"newer, never acknowledged", &mut r).unwrap();
    assert_eq!(newer.sequence, 2);
    let mut s = reopen(s);
    let l = s.load_matching(&key(1), KIND, ME, &old.digest).unwrap();
    assert_eq!((&l.payload[..], l.slot), (&b"old"[..], Slot::A));
    let again = s.save(&key(4), KIND, ME, b"again", &mut r).unwrap();
    assert_eq!(again.slot, Slot::B);
    assert_eq!(&s.load_matching(&key(1), KIND, ME, &old.digest).unwrap().payload[..], b"old");
}

#[test]
fn an_older_disk_is_refused_when_the_manager_holds_a_newer_digest() {
    let mut s = blank_store(VTPM_DISK);
    s.start_fresh();
    let mut r = rng();
    let s1 = s.save(&key(1), KIND, ME, b"one", &mut r).unwrap();
    s.acknowledge(&s1).unwrap();
    let snapshot = s.device_mut().clone();
    let s2 = s.save(&key(2), KIND, ME, b"two", &mut r).unwrap();
    s.acknowledge(&s2).unwrap();
    // The disk rolled back to the snapshot: only the older record is there.
    let mut old = SlotStore::open(snapshot).unwrap();
    assert_eq!(old.load_matching(&key(2), KIND, ME, &s2.digest).err(), Some(StoreError::NoMatchingSlot));
    assert_eq!(old.save(&key(3), KIND, ME, b"x", &mut r).err(), Some(StoreError::NotLoaded));
    // Slot B wiped: the older record in A is not taken instead.
    let off = slot_offset(&s, Slot::B);
    s.device_mut().image_mut()[off..off + SECTOR_SIZE].fill(0);
    let mut s = reopen(s);
    assert_eq!(s.load_matching(&key(2), KIND, ME, &s2.digest).err(), Some(StoreError::NoMatchingSlot));
}

#[test]
fn a_record_of_one_uuid_is_refused_under_another() {
    let mut s = newest_store(VTPM_DISK);
    let saved = s.save(&key(1), KIND, ME, b"mine", &mut rng()).unwrap();
    s.acknowledge(&saved).unwrap();
    let mut s = reopen(s);
    assert_eq!(s.load_newest(&key(1), KIND, OTHER).err(), Some(StoreError::ForeignUuid));
    assert_eq!(s.load_matching(&key(1), KIND, OTHER, &saved.digest).err(), Some(StoreError::ForeignUuid));
    assert_eq!(s.load_matching(&key(1), KIND, OTHER, &RecordDigest([7; 32])).err(), Some(StoreError::ForeignUuid));
    let before = s.device_mut().image().to_vec();
    assert_eq!(s.save(&key(1), KIND, OTHER, b"theirs", &mut rng()).err(), Some(StoreError::NotLoaded));
    assert_eq!(s.device_mut().image(), &before[..], "foreign state is never overwritten");
}

#[test]
fn the_wrong_key_or_kind_is_refused() {
    let mut s = newest_store(VTPM_DISK);
    let saved = s.save(&key(1), KIND, ME, b"state", &mut rng()).unwrap();
    s.acknowledge(&saved).unwrap();
    let mut s = reopen(s);
    assert_eq!(s.load_newest(&key(9), KIND, ME).err(), Some(StoreError::AuthenticationFailed));
    assert_eq!(s.load_matching(&key(9), KIND, ME, &saved.digest).err(), Some(StoreError::AuthenticationFailed));
    assert_eq!(s.load_newest(&key(1), RecordKind::MANAGER_ROOT, ME).err(), Some(StoreError::WrongKind(1)));
}

#[test]
fn a_bit_flipped_anywhere_in_a_record_on_disk_is_refused_in_both_modes() {
    let mut s = newest_store(64);
    let saved = s.save(&key(1), KIND, ME, &payload(3, 600), &mut rng()).unwrap();
    s.acknowledge(&saved).unwrap();
    let off = slot_offset(&s, Slot::A);
    let clean = s.into_device();
    for byte in 0..saved.record_len {
        for bit in 0..8 {
            let mut d = clean.clone();
            d.image_mut()[off + byte] ^= 1 << bit;
            let mut s = SlotStore::open(d).unwrap();
            assert!(s.load_newest(&key(1), KIND, ME).is_err(), "newest: byte {byte} bit {bit}");
            let m = s.load_matching(&key(1), KIND, ME, &saved.digest);
            assert!(m.is_err(), "matching: byte {byte} bit {bit}");
            let before = s.device_mut().image().to_vec();
            assert_eq!(s.save(&key(1), KIND, ME, b"x", &mut rng()).err(), Some(StoreError::NotLoaded));
            assert_eq!(s.device_mut().image(), &before[..]);
        }
    }
}

#[test]
fn structural_causes_are_named() {
    let mut s = newest_store(VTPM_DISK);
    let saved = s.save(&key(1), KIND, ME, b"state", &mut rng()).unwrap();
    s.acknowledge(&saved).unwrap();
    let off = slot_offset(&s, Slot::A);
    let clean = s.into_device();
    let load = |d: MemDisk| SlotStore::open(d).and_then(|mut s| s.load_newest(&key(1), KIND, ME).map(|_| ()));
    let matching =
        |d: MemDisk| SlotStore::open(d).and_then(|mut s| s.load_matching(&key(1), KIND, ME, &saved.digest).map(|_| ()));

    let mut d = clean.clone();
    d.image_mut()[off] = b'Y';
    assert_eq!(load(d.clone()), Err(StoreError::BadMagic));
    assert_eq!(matching(d), Err(StoreError::BadMagic));
    let mut d = clean.clone();
    d.image_mut()[off + 9] = 7;
    assert_eq!(load(d.clone()), Err(StoreError::UnsupportedVersion(7)));
    assert_eq!(matching(d), Err(StoreError::UnsupportedVersion(7)));
    let mut d = clean.clone();
    d.image_mut()[off + 36..off + 40].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(load(d.clone()), Err(StoreError::Truncated));
    assert_eq!(matching(d), Err(StoreError::Truncated));
    // A length that fits the slot but reaches past what was written: authentication fails.
    let mut d = clean.clone();
    d.image_mut()[off + 36..off + 40].copy_from_slice(&4000u32.to_be_bytes());
    assert_eq!(load(d), Err(StoreError::AuthenticationFailed));

    // The disk header.
    let mut d = clean.clone();
    d.image_mut()[0] ^= 1;
    assert_eq!(load(d), Err(StoreError::BadMagic));
    let mut d = clean.clone();
    d.image_mut()[9] = 2;
    assert_eq!(load(d), Err(StoreError::UnsupportedVersion(2)));
    let mut d = clean.clone();
    d.image_mut()[20] ^= 1;
    assert_eq!(load(d), Err(StoreError::CorruptHeader));
    // The disk shrank below the geometry its header records.
    let shrunk = MemDisk::from_image(clean.image()[..(VTPM_DISK as usize - 64) * SECTOR_SIZE].to_vec());
    assert_eq!(load(shrunk), Err(StoreError::DiskTooSmall));
}

#[test]
fn a_disk_too_small_for_two_slots_is_refused() {
    assert_eq!(SlotStore::open(MemDisk::new(HEADER_SECTORS + 15)).err(), Some(StoreError::DiskTooSmall));
    assert_eq!(SlotStore::open(MemDisk::new(0)).err(), Some(StoreError::DiskTooSmall));
    let s = blank_store(HEADER_SECTORS + 16);
    assert_eq!(s.max_payload(), 8 * SECTOR_SIZE - RECORD_OVERHEAD);
}

/// A disk whose reads fail.
struct DeadDisk;

impl BlockDevice for DeadDisk {
    fn sectors(&self) -> u64 {
        VTPM_DISK
    }
    fn read(&mut self, _: u64, _: &mut [u8]) -> Result<(), BlockError> {
        Err(BlockError::Io)
    }
    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::Io)
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Err(BlockError::Io)
    }
}

#[test]
fn io_errors_are_values() {
    assert_eq!(SlotStore::open(DeadDisk).err(), Some(StoreError::Io(BlockError::Io)));
}

#[test]
fn payloads_up_to_the_tpm12_image_limit_fit_a_large_enough_disk() {
    // A slot of 4 MiB + one 4 KiB block holds MAX_PAYLOAD (tpm12's state::image::MAX_IMAGE).
    let sectors = HEADER_SECTORS + 2 * (MAX_PAYLOAD / SECTOR_SIZE + 8) as u64;
    let mut s = newest_store(sectors);
    assert_eq!(s.max_payload(), MAX_PAYLOAD);
    let big = payload(5, MAX_PAYLOAD);
    assert_eq!(
        s.save(&key(1), KIND, ME, &payload(0, MAX_PAYLOAD + 1), &mut rng()).err(),
        Some(StoreError::PayloadTooLarge)
    );
    let saved = s.save(&key(1), KIND, ME, &big, &mut rng()).unwrap();
    s.acknowledge(&saved).unwrap();
    let mut s = reopen(s);
    assert!(s.load_newest(&key(1), KIND, ME).unwrap().payload[..] == big[..]);
    assert!(s.load_matching(&key(1), KIND, ME, &saved.digest).unwrap().payload[..] == big[..]);
}

#[test]
fn the_c_images_disk_sizes_give_these_slots() {
    let vtpm = blank_store(VTPM_DISK);
    assert_eq!(vtpm.geometry().slot_sectors, 8184);
    assert_eq!(vtpm.max_payload(), 8184 * SECTOR_SIZE - RECORD_OVERHEAD);
    assert!(vtpm.max_payload() < MAX_PAYLOAD, "8 MiB is just short of two 4 MiB slots");
    let small = blank_store(SMALL_DISK);
    assert_eq!(small.geometry().slot_sectors, 2040);
    let mgr = blank_store(MGR_DISK);
    assert_eq!(mgr.geometry().slot_sectors, 16376);
    assert_eq!(mgr.max_payload(), MAX_PAYLOAD);
    let mut small = newest_store(SMALL_DISK);
    let too_big = payload(0, small.max_payload() + 1);
    assert_eq!(small.save(&key(1), KIND, ME, &too_big, &mut rng()).err(), Some(StoreError::PayloadTooLarge));
}

#[test]
fn start_fresh_allows_saves_over_an_unreadable_disk() {
    let mut d = MemDisk::new(VTPM_DISK);
    let g = SlotStore::open(d.clone()).unwrap().geometry();
    let a = g.start(Slot::A) as usize * SECTOR_SIZE;
    d.image_mut()[a..a + 64].fill(0xEE);
    let mut s = SlotStore::open(d).unwrap();
    assert_eq!(s.load_newest(&key(1), KIND, ME).err(), Some(StoreError::BadMagic));
    s.start_fresh();
    let saved = s.save(&key(1), KIND, ME, b"fresh", &mut rng()).unwrap();
    assert_eq!((saved.slot, saved.sequence), (Slot::A, 1));
    let mut s = reopen(s);
    assert_eq!(&s.load_matching(&key(1), KIND, ME, &saved.digest).unwrap().payload[..], b"fresh");
}

#[test]
fn every_cause_has_its_own_plain_sentence() {
    let all = [
        StoreError::Blank,
        StoreError::BadMagic,
        StoreError::UnsupportedVersion(2),
        StoreError::CorruptHeader,
        StoreError::WrongKind(3),
        StoreError::ForeignUuid,
        StoreError::Truncated,
        StoreError::AuthenticationFailed,
        StoreError::NoMatchingSlot,
        StoreError::DiskTooSmall,
        StoreError::PayloadTooLarge,
        StoreError::NotLoaded,
        StoreError::UnknownSave,
        StoreError::Io(BlockError::Io),
    ];
    let texts: HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(texts.len(), all.len());
    assert!(texts.iter().all(|t| !t.is_empty() && !t.contains('\n')));
    assert_eq!(StoreError::ForeignUuid.to_string(), "the state disk belongs to another uuid");
}

#[test]
fn a_detached_store_reattached_keeps_its_kept_slot_sequence_and_pending_save() {
    let mut s = blank_store(VTPM_DISK);
    s.start_fresh();
    let first = s.save(&key(1), KIND, ME, b"one", &mut rng()).unwrap();
    let (dev, state) = s.detach();
    let mut s = SlotStore::attach(dev, state);
    s.acknowledge(&first).unwrap();
    assert_eq!(s.kept_slot(), Some(Slot::A));
    let (dev, state) = s.detach();
    let mut s = SlotStore::attach(dev, state);
    let second = s.save(&key(2), KIND, ME, b"two", &mut rng()).unwrap();
    assert_eq!((second.slot, second.sequence), (Slot::B, 2), "the other slot, the next sequence");
    let (dev, state) = s.detach();
    let mut s = SlotStore::attach(dev, state);
    assert_eq!(s.acknowledge(&first).err(), Some(StoreError::UnknownSave));
    s.acknowledge(&second).unwrap();
    let mut s = reopen(s);
    assert_eq!(&s.load_matching(&key(2), KIND, ME, &second.digest).unwrap().payload[..], b"two");
}
