//! The `start_info` page of the booted kernel (public/xen.h `struct start_info`, x86_64; the
//! offsets are `xen_abi::start_info::StartInfo`'s), written as bytes for its pfn.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::offset_of;

use xen_abi::start_info::{MAX_GUEST_CMDLINE, START_INFO_MAGIC, StartInfo};

/// The fields a loader sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartInfoFields {
    pub nr_pages: u64,
    /// Machine address of shared_info.
    pub shared_info: u64,
    pub flags: u32,
    pub store_mfn: u64,
    pub store_evtchn: u32,
    pub console_mfn: u64,
    pub console_evtchn: u32,
    /// VA of the L4.
    pub pt_base: u64,
    pub nr_pt_frames: u64,
    /// VA of the p2m list.
    pub mfn_list: u64,
    /// VA of the initrd, or its pfn with `SIF_MOD_START_PFN`.
    pub mod_start: u64,
    pub mod_len: u64,
    pub first_p2m_pfn: u64,
    pub nr_p2m_frames: u64,
}

fn put(page: &mut [u8], at: usize, bytes: &[u8]) {
    page[at..at + bytes.len()].copy_from_slice(bytes);
}

/// The 4096-byte page: magic "xen-3.0-x86_64", the fields, and `cmdline` cut to 1023 bytes
/// with the last byte NUL (as libxenguest did).
pub fn page(f: &StartInfoFields, cmdline: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 4096];
    put(&mut p, offset_of!(StartInfo, magic), START_INFO_MAGIC);
    put(&mut p, offset_of!(StartInfo, nr_pages), &f.nr_pages.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, shared_info), &f.shared_info.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, flags), &f.flags.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, store_mfn), &f.store_mfn.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, store_evtchn), &f.store_evtchn.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, console), &f.console_mfn.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, console) + 8, &f.console_evtchn.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, pt_base), &f.pt_base.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, nr_pt_frames), &f.nr_pt_frames.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, mfn_list), &f.mfn_list.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, mod_start), &f.mod_start.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, mod_len), &f.mod_len.to_le_bytes());
    let n = cmdline.len().min(MAX_GUEST_CMDLINE - 1);
    put(&mut p, offset_of!(StartInfo, cmd_line), &cmdline[..n]);
    put(&mut p, offset_of!(StartInfo, first_p2m_pfn), &f.first_p2m_pfn.to_le_bytes());
    put(&mut p, offset_of!(StartInfo, nr_p2m_frames), &f.nr_p2m_frames.to_le_bytes());
    p
}

/// Reads a page written by [`page`] back (for tests and the walk check).
pub fn parse(p: &[u8]) -> Option<(StartInfoFields, Vec<u8>)> {
    let u64_at = |at: usize| p.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    let u32_at = |at: usize| p.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes);
    if !p.starts_with(START_INFO_MAGIC) {
        return None;
    }
    let f = StartInfoFields {
        nr_pages: u64_at(offset_of!(StartInfo, nr_pages))?,
        shared_info: u64_at(offset_of!(StartInfo, shared_info))?,
        flags: u32_at(offset_of!(StartInfo, flags))?,
        store_mfn: u64_at(offset_of!(StartInfo, store_mfn))?,
        store_evtchn: u32_at(offset_of!(StartInfo, store_evtchn))?,
        console_mfn: u64_at(offset_of!(StartInfo, console))?,
        console_evtchn: u32_at(offset_of!(StartInfo, console) + 8)?,
        pt_base: u64_at(offset_of!(StartInfo, pt_base))?,
        nr_pt_frames: u64_at(offset_of!(StartInfo, nr_pt_frames))?,
        mfn_list: u64_at(offset_of!(StartInfo, mfn_list))?,
        mod_start: u64_at(offset_of!(StartInfo, mod_start))?,
        mod_len: u64_at(offset_of!(StartInfo, mod_len))?,
        first_p2m_pfn: u64_at(offset_of!(StartInfo, first_p2m_pfn))?,
        nr_p2m_frames: u64_at(offset_of!(StartInfo, nr_p2m_frames))?,
    };
    let cl = p.get(offset_of!(StartInfo, cmd_line)..offset_of!(StartInfo, cmd_line) + MAX_GUEST_CMDLINE)?;
    let end = cl.iter().position(|&b| b == 0).unwrap_or(cl.len());
    Some((f, cl[..end].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_at_the_fact_sheet_offsets() {
        let f = StartInfoFields {
            nr_pages: 0x1234,
            pt_base: 0xffff_ffff_8123_4000,
            nr_p2m_frames: 7,
            ..Default::default()
        };
        let p = page(&f, b"root=/dev/xvda1 ro");
        assert_eq!(&p[..15], b"xen-3.0-x86_64\0");
        assert_eq!(u64::from_le_bytes(p[32..40].try_into().unwrap()), 0x1234);
        assert_eq!(u64::from_le_bytes(p[88..96].try_into().unwrap()), 0xffff_ffff_8123_4000);
        assert_eq!(&p[128..146], b"root=/dev/xvda1 ro");
        assert_eq!(u64::from_le_bytes(p[1160..1168].try_into().unwrap()), 7);
        assert_eq!(parse(&p), Some((f, b"root=/dev/xvda1 ro".to_vec())));
    }

    #[test]
    fn long_command_lines_are_cut_with_a_nul() {
        let long = [b'a'; 2000];
        let p = page(&StartInfoFields::default(), &long);
        assert_eq!(p[128 + 1022], b'a');
        assert_eq!(p[128 + 1023], 0);
        assert_eq!(parse(&p).unwrap().1.len(), 1023);
    }
}
