//! A plain measurement (not a test): bytes per record and time per save / load on a MemDisk,
//! for payload sizes from a small TPM 1.2 image to the 4 MiB limit.
//! `cargo run --release -p vtpm-store --example bench`

use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use vtpm_store::layout::HEADER_SECTORS;
use vtpm_store::{MAX_PAYLOAD, MemDisk, OwnerUuid, RecordKey, RecordKind, SECTOR_SIZE, SlotStore, StoreError};

fn main() {
    let owner = OwnerUuid([1; 16]);
    let kind = RecordKind::TPM12_STATE;
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    println!("| payload | record bytes | sectors written | save (µs) | load_matching (µs) | load_newest (µs) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for len in [2_000usize, 8_000, 64 * 1024, 1024 * 1024, MAX_PAYLOAD] {
        let sectors = HEADER_SECTORS + 2 * ((len + 4096) / SECTOR_SIZE + 8) as u64;
        let mut s = SlotStore::open(MemDisk::new(sectors)).expect("geometry");
        assert_eq!(s.load_newest(&RecordKey::from_bytes([0; 32]), kind, owner).err(), Some(StoreError::Blank));
        let payload = vec![0x5A; len];
        let iters = (8_000_000 / len).clamp(3, 2000) as u32;
        let mut saved = None;
        let key = RecordKey::fresh(&mut rng);
        let t = Instant::now();
        for _ in 0..iters {
            let sv = s.save(&key, kind, owner, &payload, &mut rng).expect("save");
            s.acknowledge(&sv).expect("ack");
            saved = Some(sv);
        }
        let save_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
        let saved = saved.expect("at least one save");
        let t = Instant::now();
        for _ in 0..iters {
            s.load_matching(&key, kind, owner, &saved.digest).expect("load");
        }
        let lm_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
        let t = Instant::now();
        for _ in 0..iters {
            s.load_newest(&key, kind, owner).expect("load");
        }
        let ln_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(iters);
        println!(
            "| {len} | {} | {} | {save_us:.0} | {lm_us:.0} | {ln_us:.0} |",
            saved.record_len,
            saved.record_len.div_ceil(SECTOR_SIZE)
        );
    }
}
