//! `disktest=write|verify`: proves blkfront against the real backends (Linux blkback, QEMU
//! qdisk). `write` connects to `device/vbd/768` (xl `hda`/`xvda`), writes a known pattern
//! with several requests in flight, flushes and closes; `verify` reads the pattern back and
//! compares every byte. The image then powers off. dom0 can check the image file itself:
//! block `k` starts with the ASCII line [`header`] (e.g. `xen-vtpm-rs disktest block 3\n`).
//!
//! Blocks are 4 KiB at byte offsets [`block_offset`]: the first three 4 KiB blocks, one in
//! the middle, and the last one of the disk, so both ends and a multi-block run are covered.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use drivers::blkfront::{BlkFront, DiskInfo};
use drivers::hv::{Xen, XsTx};

/// Size of one pattern block.
pub const BLOCK: usize = 4096;
/// Number of pattern blocks.
pub const BLOCKS: u64 = 5;
/// The vbd the test uses (xl `hda`).
pub const VBD: &str = "device/vbd/768";
const TIMEOUT_NS: u64 = 20_000_000_000;

/// The text every block starts with.
pub fn header(k: u64) -> String {
    format!("xen-vtpm-rs disktest block {k}\n")
}

/// The contents of block `k`: the header, then bytes that depend on `k` and the position.
pub fn block(k: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(BLOCK);
    b.extend_from_slice(header(k).as_bytes());
    let mut i = b.len() as u64;
    while b.len() < BLOCK {
        b.push(((k * 131 + i * 7) % 251) as u8);
        i += 1;
    }
    b
}

/// Byte offset of block `k` on a disk of `size` bytes (`None` if the disk is too small).
pub fn block_offset(k: u64, size: u64) -> Option<u64> {
    let blocks = size / BLOCK as u64;
    if blocks < 8 {
        return None;
    }
    Some(match k {
        0..=2 => k * BLOCK as u64,
        3 => (blocks / 2) * BLOCK as u64,
        _ => (blocks - 1) * BLOCK as u64,
    })
}

/// Runs the test; returns the lines to print (the last says `ok` or `FAILED`).
pub fn run<X: Xen>(hv: &mut X, verify: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut front = BlkFront::<X>::new(VBD);
    let info = match front.connect(hv, TIMEOUT_NS) {
        Ok(i) => i,
        Err(e) => {
            out.push(format!("disktest: FAILED: cannot connect to {VBD}: {e:?}"));
            return out;
        }
    };
    let backend = hv.read(XsTx::NONE, &format!("{VBD}/backend")).unwrap_or_else(|e| format!("(unreadable: {e:?})"));
    out.push(format!("disktest: backend {backend}"));
    out.push(describe(&info));
    let result = if verify { verify_blocks(hv, &mut front, &info) } else { write_blocks(hv, &mut front, &info) };
    match front.close(hv, TIMEOUT_NS) {
        Ok(()) => out.push("disktest: disk closed".into()),
        Err(e) => out.push(format!("disktest: close: {e:?}")),
    }
    match result {
        Ok(line) => out.push(line),
        Err(line) => out.push(format!("disktest: FAILED: {line}")),
    }
    out
}

fn describe(i: &DiskInfo) -> String {
    format!(
        "disktest: {VBD}: {} sectors of {} bytes ({} KiB), info {:#x}, feature-flush-cache {}, feature-barrier {}",
        i.sectors,
        i.sector_size,
        i.size_bytes() / 1024,
        i.info,
        i.flush_cache as u8,
        i.barrier as u8
    )
}

fn write_blocks<X: Xen>(hv: &mut X, front: &mut BlkFront<X>, info: &DiskInfo) -> Result<String, String> {
    if info.readonly() {
        return Err("the disk is read-only".into());
    }
    let size = info.size_bytes();
    // all writes in flight at once, then wait for each
    let mut ids = Vec::new();
    for k in 0..BLOCKS {
        let off = block_offset(k, size).ok_or("disk smaller than 32 KiB")?;
        let id = front.submit_write(hv, off, &block(k)).map_err(|e| format!("submit write of block {k}: {e:?}"))?;
        ids.push((k, id));
    }
    let in_flight = front.in_flight();
    for (k, id) in ids {
        front.wait_for(hv, id, TIMEOUT_NS).map_err(|e| format!("write of block {k}: {e:?}"))?;
    }
    front.flush(hv, TIMEOUT_NS).map_err(|e| format!("flush: {e:?}"))?;
    Ok(format!("disktest: write ok ({BLOCKS} blocks of {BLOCK} bytes, {in_flight} requests in flight, flushed)"))
}

fn verify_blocks<X: Xen>(hv: &mut X, front: &mut BlkFront<X>, info: &DiskInfo) -> Result<String, String> {
    let size = info.size_bytes();
    let mut ids = Vec::new();
    for k in 0..BLOCKS {
        let off = block_offset(k, size).ok_or("disk smaller than 32 KiB")?;
        ids.push((k, front.submit_read(hv, off, BLOCK).map_err(|e| format!("submit read of block {k}: {e:?}"))?));
    }
    for (k, id) in ids {
        let data =
            front.wait_for(hv, id, TIMEOUT_NS).map_err(|e| format!("read of block {k}: {e:?}"))?.unwrap_or_default();
        if data != block(k) {
            let first = data.iter().zip(block(k)).position(|(a, b)| *a != b).unwrap_or(data.len().min(BLOCK));
            return Err(format!("block {k} differs from the pattern at byte {first} (read {} bytes)", data.len()));
        }
    }
    Ok(format!("disktest: verify ok ({BLOCKS} blocks of {BLOCK} bytes match the pattern)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_distinct_and_full() {
        let b0 = block(0);
        assert_eq!(b0.len(), BLOCK);
        assert!(b0.starts_with(b"xen-vtpm-rs disktest block 0\n"));
        for k in 1..BLOCKS {
            assert_ne!(block(k), b0);
            assert_eq!(block(k), block(k), "deterministic");
        }
    }

    #[test]
    fn offsets_cover_both_ends() {
        let size = 8 << 20;
        let offs: Vec<u64> = (0..BLOCKS).map(|k| block_offset(k, size).unwrap()).collect();
        assert_eq!(offs, [0, 4096, 8192, 4 << 20, size - 4096]);
        assert_eq!(block_offset(0, 16 * 1024), None);
        let mut sorted = offs.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), offs.len());
    }
}
