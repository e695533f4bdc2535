//! Grant table v1 structs and flags (public/grant_table.h). Each `GNTTABOP_*` argument struct
//! carries its command ([`GnttabOp::CMD`]), so a caller cannot pair a command with the wrong
//! struct.

use crate::hypercall::{GNTTABOP_MAP_GRANT_REF, GNTTABOP_QUERY_SIZE, GNTTABOP_SETUP_TABLE, GNTTABOP_UNMAP_GRANT_REF};

/// A `GNTTABOP_*` argument struct and the command it belongs to.
pub trait GnttabOp {
    /// The `cmd` argument of `HYPERVISOR_grant_table_op` for this struct.
    const CMD: u64;
}

impl GnttabOp for GnttabSetupTable {
    const CMD: u64 = GNTTABOP_SETUP_TABLE;
}
impl GnttabOp for GnttabQuerySize {
    const CMD: u64 = GNTTABOP_QUERY_SIZE;
}
impl GnttabOp for GnttabMapGrantRef {
    const CMD: u64 = GNTTABOP_MAP_GRANT_REF;
}
impl GnttabOp for GnttabUnmapGrantRef {
    const CMD: u64 = GNTTABOP_UNMAP_GRANT_REF;
}

/// `grant_entry_v1`: one slot of the shared grant table the granting domain fills in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GrantEntryV1 {
    /// `GTF_*`; written last (after `domid` and `frame`) to publish the grant.
    pub flags: u16,
    /// The domain being granted access.
    pub domid: u16,
    /// The machine frame (PV) being granted.
    pub frame: u32,
}

/// Grant entries per 4 KiB grant-table frame in v1.
pub const GRANT_ENTRIES_PER_FRAME_V1: usize = 4096 / core::mem::size_of::<GrantEntryV1>();

pub const GTF_INVALID: u16 = 0;
pub const GTF_PERMIT_ACCESS: u16 = 1;
pub const GTF_ACCEPT_TRANSFER: u16 = 2;
pub const GTF_TYPE_MASK: u16 = 3;
pub const GTF_READONLY: u16 = 1 << 2;
pub const GTF_READING: u16 = 1 << 3;
pub const GTF_WRITING: u16 = 1 << 4;

pub const GNTMAP_DEVICE_MAP: u32 = 1 << 0;
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
pub const GNTMAP_READONLY: u32 = 1 << 2;
pub const GNTMAP_APPLICATION_MAP: u32 = 1 << 3;
pub const GNTMAP_CONTAINS_PTE: u32 = 1 << 4;

/// `GNTST_*` status codes.
pub const GNTST_OKAY: i16 = 0;
pub const GNTST_GENERAL_ERROR: i16 = -1;
pub const GNTST_BAD_DOMAIN: i16 = -2;
pub const GNTST_BAD_GNTREF: i16 = -3;
pub const GNTST_BAD_HANDLE: i16 = -4;
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
pub const GNTST_BAD_DEV_ADDR: i16 = -6;
pub const GNTST_NO_DEVICE_SPACE: i16 = -7;
pub const GNTST_PERMISSION_DENIED: i16 = -8;
pub const GNTST_BAD_PAGE: i16 = -9;
pub const GNTST_BAD_COPY_ARG: i16 = -10;
pub const GNTST_ADDRESS_TOO_BIG: i16 = -11;
pub const GNTST_EAGAIN: i16 = -12;

/// The name Xen gives a `GNTST_*` value (for messages).
pub fn gntst_name(status: i16) -> &'static str {
    match status {
        GNTST_OKAY => "okay",
        GNTST_GENERAL_ERROR => "general error",
        GNTST_BAD_DOMAIN => "bad domain",
        GNTST_BAD_GNTREF => "bad grant ref",
        GNTST_BAD_HANDLE => "bad handle",
        GNTST_BAD_VIRT_ADDR => "bad virtual address",
        GNTST_BAD_DEV_ADDR => "bad device address",
        GNTST_NO_DEVICE_SPACE => "no device space",
        GNTST_PERMISSION_DENIED => "permission denied",
        GNTST_BAD_PAGE => "bad page",
        GNTST_BAD_COPY_ARG => "bad copy argument",
        GNTST_ADDRESS_TOO_BIG => "address too big",
        GNTST_EAGAIN => "eagain",
        _ => "unknown",
    }
}

/// `GNTTABOP_setup_table`: ask for `nr_frames` grant-table frames; their MFNs come back in
/// the caller's `frame_list` array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabSetupTable {
    pub dom: u16,
    pub _pad0: u16,
    pub nr_frames: u32,
    /// OUT.
    pub status: i16,
    pub _pad1: [u8; 6],
    /// Guest handle (pointer) to `nr_frames` `xen_pfn_t`s.
    pub frame_list: u64,
}

/// `GNTTABOP_query_size`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabQuerySize {
    pub dom: u16,
    pub _pad0: u16,
    /// OUT.
    pub nr_frames: u32,
    /// OUT.
    pub max_nr_frames: u32,
    /// OUT.
    pub status: i16,
    pub _pad1: u16,
}

/// `GNTTABOP_map_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabMapGrantRef {
    pub host_addr: u64,
    pub flags: u32,
    pub r#ref: u32,
    pub dom: u16,
    /// OUT.
    pub status: i16,
    /// OUT.
    pub handle: u32,
    /// OUT.
    pub dev_bus_addr: u64,
}

/// `GNTTABOP_unmap_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabUnmapGrantRef {
    pub host_addr: u64,
    pub dev_bus_addr: u64,
    pub handle: u32,
    /// OUT.
    pub status: i16,
    pub _pad: u16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn grant_entry_v1_layout() {
        assert_eq!(size_of::<GrantEntryV1>(), 8);
        assert_eq!(offset_of!(GrantEntryV1, flags), 0);
        assert_eq!(offset_of!(GrantEntryV1, domid), 2);
        assert_eq!(offset_of!(GrantEntryV1, frame), 4);
        assert_eq!(GRANT_ENTRIES_PER_FRAME_V1, 512);
    }

    #[test]
    fn op_layouts() {
        assert_eq!(size_of::<GnttabSetupTable>(), 24);
        assert_eq!(offset_of!(GnttabSetupTable, nr_frames), 4);
        assert_eq!(offset_of!(GnttabSetupTable, status), 8);
        assert_eq!(offset_of!(GnttabSetupTable, frame_list), 16);
        assert_eq!(size_of::<GnttabQuerySize>(), 16);
        assert_eq!(offset_of!(GnttabQuerySize, nr_frames), 4);
        assert_eq!(offset_of!(GnttabQuerySize, max_nr_frames), 8);
        assert_eq!(offset_of!(GnttabQuerySize, status), 12);
        assert_eq!(size_of::<GnttabMapGrantRef>(), 32);
        assert_eq!(offset_of!(GnttabMapGrantRef, flags), 8);
        assert_eq!(offset_of!(GnttabMapGrantRef, r#ref), 12);
        assert_eq!(offset_of!(GnttabMapGrantRef, dom), 16);
        assert_eq!(offset_of!(GnttabMapGrantRef, status), 18);
        assert_eq!(offset_of!(GnttabMapGrantRef, handle), 20);
        assert_eq!(offset_of!(GnttabMapGrantRef, dev_bus_addr), 24);
        assert_eq!(size_of::<GnttabUnmapGrantRef>(), 24);
        assert_eq!(offset_of!(GnttabUnmapGrantRef, dev_bus_addr), 8);
        assert_eq!(offset_of!(GnttabUnmapGrantRef, handle), 16);
        assert_eq!(offset_of!(GnttabUnmapGrantRef, status), 20);
    }

    #[test]
    fn names() {
        assert_eq!(gntst_name(GNTST_BAD_GNTREF), "bad grant ref");
        assert_eq!(gntst_name(-99), "unknown");
    }
}
