//! Fuzz target: pvgrub-loader's kernel path never panics on any bytes. Byte 0 picks the
//! input's shape: 0 = the rest is a kernel file (`load_kernel`: bzImage, decompression, PV
//! ELF check); 1 = the rest is a decompressed kernel (`elf::parse`); 2 = the rest is a
//! payload (`decompress::decompress`) inside a bzImage made here. A kernel that passes has
//! its entry inside its image, and its layout (for an initrd and domain size taken from the
//! first bytes) has no two regions overlapping and fits the domain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pvgrub_loader::elf::{self, PvKernel};
use pvgrub_loader::{decompress, layout, load_kernel};

fn check(k: &PvKernel, knobs: &[u8]) {
    assert!(k.virt_kstart <= k.entry && k.entry < k.virt_kend);
    let initrd = u64::from(knobs.first().copied().unwrap_or(0)) * 40_000;
    let pages = 4096 + u64::from(knobs.get(1).copied().unwrap_or(0)) * 2048;
    if let Ok(l) = layout::compute(k, initrd, pages) {
        assert!(l.pages_used <= pages);
        let r = l.regions();
        for (i, (a, ra)) in r.iter().enumerate() {
            for (b, rb) in &r[i + 1..] {
                assert!(ra.end_pfn() <= rb.pfn || rb.end_pfn() <= ra.pfn, "{a} overlaps {b}");
            }
        }
    }
}

fn bzimage(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 4 * 512];
    f[0x1f1] = 3;
    f[0x202..0x206].copy_from_slice(b"HdrS");
    f[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    f[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            if let Ok(k) = load_kernel(rest) {
                check(&k.pv, rest);
            }
        }
        1 => {
            if let Ok(k) = elf::parse(rest) {
                check(&k, rest);
            }
        }
        _ => {
            let direct = decompress::decompress(rest);
            let via_file = load_kernel(&bzimage(rest));
            if let Ok(k) = &via_file {
                assert_eq!(direct.as_ref().map(|(_, e)| e), Ok(&k.elf));
                check(&k.pv, rest);
            }
        }
    }
});
