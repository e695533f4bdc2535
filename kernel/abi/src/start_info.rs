//! `struct start_info` handed to a PV guest in `rsi` at entry (public/xen.h; layout in the fact
//! sheet §10, verified there by compiling the C header: 1168 bytes on x86_64).

/// Magic prefix of `start_info.magic` for an x86_64 PV guest.
pub const START_INFO_MAGIC: &[u8] = b"xen-3.0-x86_64";

/// `start_info.flags`: the domain is privileged.
pub const SIF_PRIVILEGED: u32 = 1 << 0;
/// `start_info.flags`: the domain is the initial control domain (dom0).
pub const SIF_INITDOMAIN: u32 = 1 << 1;
/// `start_info.flags`: the module is a multiboot module.
pub const SIF_MULTIBOOT_MOD: u32 = 1 << 2;
/// `start_info.flags`: `mod_start` is a PFN, not a VA.
pub const SIF_MOD_START_PFN: u32 = 1 << 3;

/// Size of `start_info.cmd_line` (`MAX_GUEST_CMDLINE`).
pub const MAX_GUEST_CMDLINE: usize = 1024;

/// The `console` union of `start_info`: `domU` view (ring mfn + event channel). For dom0 the
/// same 16 bytes hold `info_off`/`info_size` of a VGA/console info block instead.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartInfoConsole {
    pub mfn: u64,
    pub evtchn: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct StartInfo {
    pub magic: [u8; 32],
    pub nr_pages: u64,
    pub shared_info: u64,
    pub flags: u32,
    pub _pad0: u32,
    pub store_mfn: u64,
    pub store_evtchn: u32,
    pub _pad1: u32,
    pub console: StartInfoConsole,
    pub pt_base: u64,
    pub nr_pt_frames: u64,
    pub mfn_list: u64,
    pub mod_start: u64,
    pub mod_len: u64,
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    pub first_p2m_pfn: u64,
    pub nr_p2m_frames: u64,
}

impl StartInfo {
    /// True when `magic` starts with `xen-3.0-x86_64`.
    pub fn magic_ok(&self) -> bool {
        self.magic.starts_with(START_INFO_MAGIC)
    }

    /// True for the initial domain (our dom0 smoke mode).
    pub fn is_initdomain(&self) -> bool {
        self.flags & SIF_INITDOMAIN != 0
    }

    /// The command line bytes up to the first NUL, never beyond byte 1022 (byte 1023 is
    /// always treated as the terminator, as libxenguest forces it to NUL).
    pub fn cmd_line_bytes(&self) -> &[u8] {
        let max = &self.cmd_line[..MAX_GUEST_CMDLINE - 1];
        let end = max.iter().position(|&b| b == 0).unwrap_or(max.len());
        &max[..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_fact_sheet_section_10() {
        assert_eq!(size_of::<StartInfo>(), 1168);
        assert_eq!(offset_of!(StartInfo, magic), 0);
        assert_eq!(offset_of!(StartInfo, nr_pages), 32);
        assert_eq!(offset_of!(StartInfo, shared_info), 40);
        assert_eq!(offset_of!(StartInfo, flags), 48);
        assert_eq!(offset_of!(StartInfo, store_mfn), 56);
        assert_eq!(offset_of!(StartInfo, store_evtchn), 64);
        assert_eq!(offset_of!(StartInfo, console), 72);
        assert_eq!(offset_of!(StartInfo, console) + offset_of!(StartInfoConsole, evtchn), 80);
        assert_eq!(offset_of!(StartInfo, pt_base), 88);
        assert_eq!(offset_of!(StartInfo, nr_pt_frames), 96);
        assert_eq!(offset_of!(StartInfo, mfn_list), 104);
        assert_eq!(offset_of!(StartInfo, mod_start), 112);
        assert_eq!(offset_of!(StartInfo, mod_len), 120);
        assert_eq!(offset_of!(StartInfo, cmd_line), 128);
        assert_eq!(offset_of!(StartInfo, first_p2m_pfn), 1152);
        assert_eq!(offset_of!(StartInfo, nr_p2m_frames), 1160);
        assert_eq!(size_of::<StartInfoConsole>(), 16);
    }

    fn blank() -> StartInfo {
        StartInfo {
            magic: [0; 32],
            nr_pages: 0,
            shared_info: 0,
            flags: 0,
            _pad0: 0,
            store_mfn: 0,
            store_evtchn: 0,
            _pad1: 0,
            console: StartInfoConsole { mfn: 0, evtchn: 0, _pad: 0 },
            pt_base: 0,
            nr_pt_frames: 0,
            mfn_list: 0,
            mod_start: 0,
            mod_len: 0,
            cmd_line: [0; MAX_GUEST_CMDLINE],
            first_p2m_pfn: 0,
            nr_p2m_frames: 0,
        }
    }

    #[test]
    fn cmd_line_stops_at_nul_and_byte_1023() {
        let mut si = blank();
        si.cmd_line[..8].copy_from_slice(b"selftest");
        assert_eq!(si.cmd_line_bytes(), b"selftest");
        si.cmd_line = [b'a'; MAX_GUEST_CMDLINE];
        assert_eq!(si.cmd_line_bytes().len(), 1023);
        si.magic[..15].copy_from_slice(b"xen-3.0-x86_64p");
        assert!(si.magic_ok());
        si.flags = SIF_INITDOMAIN;
        assert!(si.is_initdomain());
    }
}
