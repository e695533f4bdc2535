//! Fuzz target: vtpm-store's record parser and slot loader never panic on any bytes, and only
//! a record exactly as sealed verifies. Byte 0 picks the shape of the input:
//! - 0: the rest is a record, opened directly (`record::open`);
//! - 1: the rest is split between the first sectors of slots A and B of a disk with a valid
//!   header, loaded both ways (`load_newest`, `load_matching`);
//! - 2: a genuine record is sealed from the rest (a payload), then damaged by the rest's edit
//!   list (`offset u16, xor u8` triples, or a truncation); whatever still opens must be the
//!   original payload, and a record changed anywhere must not open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpm_store::record::{self, RECORD_OVERHEAD};
use vtpm_store::{MemDisk, OwnerUuid, RecordDigest, RecordKey, RecordKind, SECTOR_SIZE, Slot, SlotStore};

const OWNER: OwnerUuid = OwnerUuid([0x42; 16]);
const KIND: RecordKind = RecordKind::TPM12_STATE;

fn key() -> RecordKey {
    RecordKey::from_bytes([0x24; 32])
}

fn disk_with(a: &[u8], b: &[u8]) -> MemDisk {
    let mut d = MemDisk::new(24);
    let g = SlotStore::open(d.clone()).map(|s| s.geometry()).expect("a 24-sector disk has a geometry");
    d.image_mut()[..SECTOR_SIZE].copy_from_slice(&g.encode_header());
    for (slot, bytes) in [(Slot::A, a), (Slot::B, b)] {
        let at = g.start(slot) as usize * SECTOR_SIZE;
        let n = bytes.len().min(g.slot_sectors as usize * SECTOR_SIZE);
        d.image_mut()[at..at + n].copy_from_slice(&bytes[..n]);
    }
    d
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let _ = record::parse_header(rest);
            let _ = record::frame(rest);
            let _ = record::open(rest, &key(), KIND, OWNER);
        }
        1 => {
            let (a, b) = rest.split_at(rest.len() / 2);
            let digest = record::frame(a).map(|(_, r)| record::digest(r)).unwrap_or(RecordDigest([0; 32]));
            if let Ok(mut s) = SlotStore::open(disk_with(a, b)) {
                let _ = s.load_newest(&key(), KIND, OWNER);
                let _ = s.load_matching(&key(), KIND, OWNER, &digest);
            }
        }
        _ => {
            let split = rest.len().min(usize::from(rest.first().copied().unwrap_or(0)) + 1);
            let (payload, edits) = rest.split_at(split);
            let sealed = record::seal(&key(), KIND, OWNER, 5, [7; 12], payload).expect("a small payload seals");
            assert_eq!(sealed.len(), payload.len() + RECORD_OVERHEAD);
            let mut damaged = sealed.clone();
            for e in edits.chunks(3) {
                match *e {
                    [hi, lo, x] => {
                        let at = usize::from(u16::from_be_bytes([hi, lo])) % damaged.len();
                        damaged[at] ^= x;
                    }
                    [n, ..] => damaged.truncate(usize::from(n) % (damaged.len() + 1)),
                    [] => {}
                }
            }
            match record::open(&damaged, &key(), KIND, OWNER) {
                Ok(o) => {
                    assert_eq!(damaged, sealed, "a changed record opened");
                    assert_eq!(&o.payload[..], payload);
                }
                Err(_) => assert_ne!(damaged, sealed, "the genuine record did not open"),
            }
            // On the disk the record is zero-padded to a sector, which may put back truncated
            // trailing zeros: it must load exactly when the genuine bytes are there again.
            let mut padded = damaged.clone();
            padded.resize(damaged.len().div_ceil(SECTOR_SIZE) * SECTOR_SIZE, 0);
            if let Ok(mut s) = SlotStore::open(disk_with(&padded, &[])) {
                let loaded = s.load_newest(&key(), KIND, OWNER).map(|l| l.payload.to_vec());
                let genuine = padded.get(..sealed.len()) == Some(&sealed[..]);
                assert_eq!(loaded.is_ok(), genuine);
                if let Ok(p) = loaded {
                    assert_eq!(p, payload);
                }
            }
        }
    }
});
