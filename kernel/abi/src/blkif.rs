//! The virtual block device ring ("blkif", `xen/include/public/io/blkif.h` and `io/ring.h`), as
//! used between a PV blkfront and Linux blkback or QEMU's qdisk on x86_64.
//!
//! One 4 KiB page holds the shared ring: a 64-byte header (`req_prod`, `req_event`, `rsp_prod`,
//! `rsp_event`, then padding) followed by [`RING_SIZE`] slots of 112 bytes, each holding either a
//! request or a response. Drivers copy slots in and out as bytes with the `encode`/`decode`
//! helpers here (no `unsafe`, no references into shared memory). Indirect descriptors,
//! discard and multi-page rings are deliberately not described: we do not use them.

/// `BLKIF_OP_READ`.
pub const BLKIF_OP_READ: u8 = 0;
/// `BLKIF_OP_WRITE`.
pub const BLKIF_OP_WRITE: u8 = 1;
/// `BLKIF_OP_WRITE_BARRIER` (Linux blkback advertises `feature-barrier`; qdisk does not).
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
/// `BLKIF_OP_FLUSH_DISKCACHE` (`feature-flush-cache`).
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;

/// `BLKIF_RSP_OKAY`.
pub const BLKIF_RSP_OKAY: i16 = 0;
/// `BLKIF_RSP_ERROR`.
pub const BLKIF_RSP_ERROR: i16 = -1;
/// `BLKIF_RSP_EOPNOTSUPP`.
pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;

/// `BLKIF_MAX_SEGMENTS_PER_REQUEST`.
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: usize = 11;

/// `VDISK_CDROM` bit of the backend's `info` key.
pub const VDISK_CDROM: u32 = 1;
/// `VDISK_REMOVABLE` bit of `info`.
pub const VDISK_REMOVABLE: u32 = 2;
/// `VDISK_READONLY` bit of `info`.
pub const VDISK_READONLY: u32 = 4;

/// Request `sector_number`, the backend's `sectors` key and segment `first_sect`/`last_sect` are
/// all in 512-byte units, whatever `sector-size` says.
pub const SECTOR_SHIFT: u32 = 9;

/// Page size of ring and data pages.
pub const PAGE_SIZE: usize = 4096;

/// `struct blkif_request_segment` (8 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifRequestSegment {
    /// Grant reference of the data page.
    pub gref: u32,
    /// First 512-byte sector within the page (0..=7).
    pub first_sect: u8,
    /// Last 512-byte sector within the page (inclusive, 0..=7).
    pub last_sect: u8,
    /// Padding.
    pub pad: u16,
}

/// `struct blkif_request` (112 bytes on x86_64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifRequest {
    /// `BLKIF_OP_*`.
    pub operation: u8,
    /// Number of valid entries in `seg` (0 for a flush).
    pub nr_segments: u8,
    /// `blkif_vdev_t handle` (only used by old backends).
    pub handle: u16,
    /// Private id, echoed in the response.
    pub id: u64,
    /// Start sector on the disk, 512-byte units.
    pub sector_number: u64,
    /// Segments.
    pub seg: [BlkifRequestSegment; BLKIF_MAX_SEGMENTS_PER_REQUEST],
}

/// `struct blkif_response` (16 bytes on x86_64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlkifResponse {
    /// Copied from the request.
    pub id: u64,
    /// Copied from the request.
    pub operation: u8,
    /// Padding.
    pub pad: u8,
    /// `BLKIF_RSP_*`.
    pub status: i16,
}

/// Size of one ring slot: `union blkif_sring_entry` = the larger of request and response.
pub const SLOT_SIZE: usize = 112;
/// Offset of the first slot in the ring page (`struct blkif_sring` header with its padding).
pub const RING_HEADER_SIZE: usize = 64;
/// Offsets of the four ring indexes in the header (`io/ring.h`).
pub const OFFSET_REQ_PROD: usize = 0;
/// See [`OFFSET_REQ_PROD`].
pub const OFFSET_REQ_EVENT: usize = 4;
/// See [`OFFSET_REQ_PROD`].
pub const OFFSET_RSP_PROD: usize = 8;
/// See [`OFFSET_REQ_PROD`].
pub const OFFSET_RSP_EVENT: usize = 12;
/// Number of slots in a one-page ring: `(4096 − 64) / 112` = 36, rounded down to a power of
/// two (`__RD32`) = 32.
pub const RING_SIZE: u32 = 32;

/// Byte offset of slot `idx` (any free-running index; masked here).
pub fn slot_offset(idx: u32) -> usize {
    RING_HEADER_SIZE + (idx & (RING_SIZE - 1)) as usize * SLOT_SIZE
}

impl BlkifRequest {
    /// Encodes the request as the 112 bytes of a ring slot.
    pub fn encode(&self) -> [u8; SLOT_SIZE] {
        let mut b = [0u8; SLOT_SIZE];
        b[0] = self.operation;
        b[1] = self.nr_segments;
        b[2..4].copy_from_slice(&self.handle.to_le_bytes());
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b[16..24].copy_from_slice(&self.sector_number.to_le_bytes());
        for (i, s) in self.seg.iter().enumerate() {
            let o = 24 + 8 * i;
            b[o..o + 4].copy_from_slice(&s.gref.to_le_bytes());
            b[o + 4] = s.first_sect;
            b[o + 5] = s.last_sect;
            b[o + 6..o + 8].copy_from_slice(&s.pad.to_le_bytes());
        }
        b
    }

    /// Decodes a private copy of a ring slot.
    pub fn decode(b: &[u8; SLOT_SIZE]) -> BlkifRequest {
        let mut seg = [BlkifRequestSegment::default(); BLKIF_MAX_SEGMENTS_PER_REQUEST];
        for (i, s) in seg.iter_mut().enumerate() {
            let o = 24 + 8 * i;
            s.gref = u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            s.first_sect = b[o + 4];
            s.last_sect = b[o + 5];
            s.pad = u16::from_le_bytes([b[o + 6], b[o + 7]]);
        }
        BlkifRequest {
            operation: b[0],
            nr_segments: b[1],
            handle: u16::from_le_bytes([b[2], b[3]]),
            id: u64_le(&b[8..16]),
            sector_number: u64_le(&b[16..24]),
            seg,
        }
    }
}

impl BlkifResponse {
    /// Encodes the response (16 bytes; the rest of the slot is left alone).
    pub fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..8].copy_from_slice(&self.id.to_le_bytes());
        b[8] = self.operation;
        b[9] = self.pad;
        b[10..12].copy_from_slice(&self.status.to_le_bytes());
        b
    }

    /// Decodes a private copy of the first 16 bytes of a slot.
    pub fn decode(b: &[u8; 16]) -> BlkifResponse {
        BlkifResponse { id: u64_le(&b[0..8]), operation: b[8], pad: b[9], status: i16::from_le_bytes([b[10], b[11]]) }
    }
}

fn u64_le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY` / `..._RESPONSES_...`: after moving a producer index
/// from `old` to `new`, the peer wants an event if its `*_event` index lies in `(old, new]`.
pub fn need_notify(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_blkif_h() {
        assert_eq!(size_of::<BlkifRequestSegment>(), 8);
        assert_eq!(size_of::<BlkifRequest>(), 112);
        assert_eq!(offset_of!(BlkifRequest, operation), 0);
        assert_eq!(offset_of!(BlkifRequest, nr_segments), 1);
        assert_eq!(offset_of!(BlkifRequest, handle), 2);
        assert_eq!(offset_of!(BlkifRequest, id), 8);
        assert_eq!(offset_of!(BlkifRequest, sector_number), 16);
        assert_eq!(offset_of!(BlkifRequest, seg), 24);
        assert_eq!(size_of::<BlkifResponse>(), 16);
        assert_eq!(offset_of!(BlkifResponse, id), 0);
        assert_eq!(offset_of!(BlkifResponse, operation), 8);
        assert_eq!(offset_of!(BlkifResponse, status), 10);
        assert_eq!(SLOT_SIZE, size_of::<BlkifRequest>());
        // __RD32((4096 - 64) / 112) == 32
        let raw = (PAGE_SIZE - RING_HEADER_SIZE) / SLOT_SIZE;
        assert_eq!(raw, 36);
        assert_eq!(RING_SIZE as usize, 1 << (usize::BITS - 1 - raw.leading_zeros()));
        assert_eq!(slot_offset(RING_SIZE + 1), 64 + 112);
        assert!(slot_offset(RING_SIZE - 1) + SLOT_SIZE <= PAGE_SIZE);
    }

    #[test]
    fn request_and_response_round_trip() {
        let mut r = BlkifRequest {
            operation: BLKIF_OP_WRITE,
            nr_segments: 2,
            handle: 768,
            id: 7,
            sector_number: 0x1122_3344_5566,
            ..Default::default()
        };
        r.seg[0] = BlkifRequestSegment { gref: 9, first_sect: 0, last_sect: 7, pad: 0 };
        r.seg[1] = BlkifRequestSegment { gref: 10, first_sect: 1, last_sect: 3, pad: 0 };
        let b = r.encode();
        assert_eq!(b[24..28], 9u32.to_le_bytes());
        assert_eq!(BlkifRequest::decode(&b), r);
        let p = BlkifResponse { id: u64::MAX - 1, operation: 3, pad: 0, status: BLKIF_RSP_EOPNOTSUPP };
        assert_eq!(BlkifResponse::decode(&p.encode()), p);
    }

    #[test]
    fn notify_rule() {
        assert!(need_notify(0, 1, 1));
        assert!(!need_notify(1, 2, 1));
        assert!(need_notify(u32::MAX, 0, 0));
        assert!(!need_notify(5, 5, 5));
    }
}
