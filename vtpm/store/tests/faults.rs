//! A save that fails or tears at operation k, for every k, then a power cycle: the disk loads
//! exactly the old state or the new one, in both load modes, and the store can save again.
//!
//! Starting points: a blank disk (the first save also writes the disk header), one earlier
//! record (the target slot is empty), two earlier records (the target slot holds an older,
//! valid record that the save overwrites). Faults: each operation failing, and a power cut
//! during it with none, the first, the last, half or all of its sectors landing, the cache
//! lost or written back.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use vtpm_store::{
    CacheFate, Fault, FaultyDisk, Landing, OwnerUuid, RecordDigest, RecordKey, RecordKind, SlotStore, StoreError,
};

const ME: OwnerUuid = OwnerUuid([0x3C; 16]);
const KIND: RecordKind = RecordKind::TPM12_STATE;
const SECTORS: u64 = 256;
/// Payloads of several sectors, so a write can tear inside a record.
const LEN: usize = 3000;

fn state(n: u8) -> Vec<u8> {
    (0..LEN).map(|i| (i as u8) ^ n.wrapping_mul(0x5B)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// The manager's root: one key, `load_newest`, acknowledge right after each save.
    Newest,
    /// The vtpm: a fresh key per save, `load_matching` with the manager's digest.
    Matching,
}

/// What the manager (or, for `Newest`, the disk alone) says the state is.
#[derive(Clone)]
struct Held {
    n: Option<u8>,
    key: RecordKey,
    digest: RecordDigest,
}

fn faults(k: u64) -> Vec<Fault> {
    let mut v = vec![Fault::Fail { op: k }];
    for landing in [Landing::Nothing, Landing::Prefix(1), Landing::Prefix(3), Landing::Suffix(1), Landing::All] {
        for cache in [CacheFate::Lost, CacheFate::WrittenBack] {
            v.push(Fault::PowerCut { op: k, landing, cache });
        }
    }
    v
}

/// Loads what the disk holds for `mode`; `Ok(None)` for a blank disk.
fn load(disk: FaultyDisk, mode: Mode, held: &Held) -> (SlotStore<FaultyDisk>, Result<Option<Vec<u8>>, StoreError>) {
    let mut s = SlotStore::open(disk).expect("the disk header survives");
    let r = match mode {
        Mode::Newest => s.load_newest(&held.key, KIND, ME),
        Mode::Matching if held.n.is_none() => {
            s.start_fresh();
            return (s, Ok(None));
        }
        Mode::Matching => s.load_matching(&held.key, KIND, ME, &held.digest),
    };
    let r = match r {
        Ok(l) => Ok(Some(l.payload.to_vec())),
        Err(StoreError::Blank) => Ok(None),
        Err(e) => Err(e),
    };
    (s, r)
}

fn save(s: &mut SlotStore<FaultyDisk>, mode: Mode, n: u8, rng: &mut ChaCha20Rng) -> Result<Held, StoreError> {
    let key = match mode {
        Mode::Newest => RecordKey::from_bytes([0x77; 32]),
        Mode::Matching => RecordKey::fresh(rng),
    };
    let saved = s.save(&key, KIND, ME, &state(n), rng)?;
    s.acknowledge(&saved).expect("the last save");
    Ok(Held { n: Some(n), key, digest: saved.digest })
}

/// A disk after `earlier` saves, and what is held for its newest record.
fn prepared(mode: Mode, earlier: u8, rng: &mut ChaCha20Rng) -> (FaultyDisk, Held) {
    let blank = Held { n: None, key: RecordKey::from_bytes([0x77; 32]), digest: RecordDigest([0; 32]) };
    let (mut s, r) = load(FaultyDisk::new(SECTORS), mode, &blank);
    assert_eq!(r, Ok(None));
    let mut held = blank;
    for n in 1..=earlier {
        held = save(&mut s, mode, n, rng).unwrap();
    }
    (s.into_device(), held)
}

#[test]
fn a_save_torn_or_failed_at_any_operation_leaves_the_old_or_the_new_state() {
    let mut cases = 0;
    for mode in [Mode::Newest, Mode::Matching] {
        for earlier in 0..=2u8 {
            let mut rng = ChaCha20Rng::seed_from_u64(u64::from(earlier) + 10);
            let (disk, old) = prepared(mode, earlier, &mut rng);
            // How many operations a clean save takes from here.
            let (mut probe, _) = load(disk.clone(), mode, &old);
            probe.device_mut().arm(Fault::Fail { op: u64::MAX });
            save(&mut probe, mode, 99, &mut rng).unwrap();
            let ops = probe.device_mut().ops();
            assert!(ops >= 4, "body, flush, first sector, flush (+ header on a blank disk)");
            for k in 0..=ops {
                for fault in faults(k) {
                    cases += 1;
                    let what = format!("{mode:?}, {earlier} earlier, {fault:?}");
                    let (mut s, r) = load(disk.clone(), mode, &old);
                    assert_eq!(r, Ok(old.n.map(state)), "{what}: before");
                    s.device_mut().arm(fault);
                    let new = save(&mut s, mode, 50, &mut rng);
                    let mut d = s.into_device();
                    d.restart();
                    // The old record is always still there for whoever holds its digest.
                    let (_, r_old) = load(d.clone(), mode, &old);
                    match (&new, mode) {
                        (Ok(new), _) => {
                            let (_, r_new) = load(d.clone(), mode, new);
                            assert_eq!(r_new, Ok(Some(state(50))), "{what}: a completed save is durable");
                            if mode == Mode::Matching {
                                assert_eq!(r_old, Ok(old.n.map(state)), "{what}: old slot untouched");
                            }
                        }
                        (Err(_), Mode::Matching) => assert_eq!(r_old, Ok(old.n.map(state)), "{what}"),
                        (Err(_), Mode::Newest) => {
                            assert!(r_old == Ok(old.n.map(state)) || r_old == Ok(Some(state(50))), "{what}: {r_old:?}")
                        }
                    }
                    // After the restart the store works on: the next save loads back.
                    let held = new.clone().unwrap_or(old.clone());
                    let (mut s, r) = load(d, mode, &held);
                    assert!(r.is_ok(), "{what}: reload {r:?}");
                    let next = save(&mut s, mode, 60, &mut rng).expect("saves work after a restart");
                    let (_, r) = load(s.into_device(), mode, &next);
                    assert_eq!(r, Ok(Some(state(60))), "{what}: after");
                }
            }
        }
    }
    assert!(cases > 300, "{cases} cases");
}

#[test]
fn a_power_cut_between_a_completed_save_and_its_acknowledgement_keeps_the_old_state_loadable() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (disk, old) = prepared(Mode::Matching, 1, &mut rng);
    let (mut s, _) = load(disk, Mode::Matching, &old);
    let key = RecordKey::fresh(&mut rng);
    let saved = s.save(&key, KIND, ME, &state(2), &mut rng).unwrap();
    // SAVEHASHKEY never reached the manager: it still holds the old digest.
    let mut d = s.into_device();
    d.restart();
    let (s, r) = load(d, Mode::Matching, &old);
    assert_eq!(r, Ok(Some(state(1))));
    assert_eq!(s.kept_slot().map(|k| k != saved.slot), Some(true));
}
