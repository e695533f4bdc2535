//! The vTPM shared page ("tpmif v2"): one granted 4 KiB page holding an 8-byte header, an
//! optional list of extra grant refs and the TPM packet (fact sheet §2).
//!
//! The names follow Xen's `xen/include/public/io/tpmif.h` (`struct tpmif_shared_page`,
//! `TPMIF_STATE_*`). The header comment there puts the grant list at offset 16; every
//! implementation (Linux, Mini-OS) uses `8 + 4·nr_extra_pages`, and so do we (§2.1).
//! This module only names the layout; the protocol logic lives in `drivers`.

/// The header at the start of the shared page (`struct tpmif_shared_page`, 8 bytes).
///
/// Only used for layout checks and documentation: drivers copy the header out of the page as
/// bytes and decode it with [`SharedPageHeader::decode`] (copy once, then validate).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SharedPageHeader {
    /// Request or response length in bytes, **little-endian** (native x86 order).
    pub length: u32,
    /// One of [`TpmifState`] (a raw byte: a peer may write anything).
    pub state: u8,
    /// Locality of the current request (Linux always leaves 0).
    pub locality: u8,
    /// Should be 0.
    pub pad: u8,
    /// Number of extra grant refs that follow the header (nobody implements them).
    pub nr_extra_pages: u8,
}

/// Size of [`SharedPageHeader`].
pub const HEADER_SIZE: usize = 8;
/// Offset of `length`.
pub const OFFSET_LENGTH: usize = 0;
/// Offset of `state`.
pub const OFFSET_STATE: usize = 4;
/// Offset of `locality`.
pub const OFFSET_LOCALITY: usize = 5;
/// Offset of `nr_extra_pages`.
pub const OFFSET_NR_EXTRA_PAGES: usize = 7;
/// Size of the shared page.
pub const PAGE_SIZE: usize = 4096;
/// The largest packet with `nr_extra_pages == 0`: 4096 − 8 = 4088 bytes (§2.4).
pub const MAX_PACKET: usize = PAGE_SIZE - HEADER_SIZE;

impl SharedPageHeader {
    /// Decodes a header from a private copy of the first 8 bytes of the page.
    pub fn decode(b: &[u8; HEADER_SIZE]) -> SharedPageHeader {
        SharedPageHeader {
            length: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            state: b[OFFSET_STATE],
            locality: b[OFFSET_LOCALITY],
            pad: b[6],
            nr_extra_pages: b[OFFSET_NR_EXTRA_PAGES],
        }
    }

    /// Encodes the header as it sits in the page.
    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let l = self.length.to_le_bytes();
        [l[0], l[1], l[2], l[3], self.state, self.locality, self.pad, self.nr_extra_pages]
    }

    /// Offset of the TPM packet: `8 + 4·nr_extra_pages` (§2.1).
    pub fn data_offset(&self) -> usize {
        HEADER_SIZE + 4 * usize::from(self.nr_extra_pages)
    }
}

/// `TPMIF_STATE_*` / `VTPM_STATE_*` (§2.2). The frontend only writes `Submit` or `Cancel`;
/// the backend only writes `Idle` or `Finish`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TpmifState {
    /// No contents / vTPM idle / cancel complete.
    Idle = 0,
    /// Request ready / vTPM working.
    Submit = 1,
    /// Response ready / vTPM idle.
    Finish = 2,
    /// Cancel requested / vTPM working.
    Cancel = 3,
}

impl TpmifState {
    /// Decodes a raw state byte; anything else is `None`.
    pub fn from_u8(v: u8) -> Option<TpmifState> {
        match v {
            0 => Some(TpmifState::Idle),
            1 => Some(TpmifState::Submit),
            2 => Some(TpmifState::Finish),
            3 => Some(TpmifState::Cancel),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_fact_sheet() {
        assert_eq!(size_of::<SharedPageHeader>(), HEADER_SIZE);
        assert_eq!(offset_of!(SharedPageHeader, length), OFFSET_LENGTH);
        assert_eq!(offset_of!(SharedPageHeader, state), OFFSET_STATE);
        assert_eq!(offset_of!(SharedPageHeader, locality), OFFSET_LOCALITY);
        assert_eq!(offset_of!(SharedPageHeader, pad), 6);
        assert_eq!(offset_of!(SharedPageHeader, nr_extra_pages), OFFSET_NR_EXTRA_PAGES);
        assert_eq!(MAX_PACKET, 4088);
    }

    #[test]
    fn header_round_trips_little_endian() {
        let h = SharedPageHeader { length: 0x0102_0304, state: 1, locality: 2, pad: 0, nr_extra_pages: 3 };
        let b = h.encode();
        assert_eq!(b, [4, 3, 2, 1, 1, 2, 0, 3]);
        assert_eq!(SharedPageHeader::decode(&b), h);
        assert_eq!(h.data_offset(), 20);
        assert_eq!(SharedPageHeader { nr_extra_pages: 255, ..h }.data_offset(), 1028);
    }

    #[test]
    fn states() {
        for v in 0..=3u8 {
            assert_eq!(TpmifState::from_u8(v).map(|s| s as u8), Some(v));
        }
        assert_eq!(TpmifState::from_u8(4), None);
    }
}
