//! The ioctl ABI of Linux's Xen devices (uapi `xen/evtchn.h`, `xen/gntalloc.h`, `xen/gntdev.h`):
//! the request numbers, computed as the kernel's `_IOC` macro does, and the argument structs,
//! laid out as the kernel reads them. Our own definitions of those facts; each size and number is
//! pinned by a test below.

/// `_IOC_NONE`: every Xen device ioctl is declared without a direction.
pub const IOC_NONE: u32 = 0;
/// `_IOC` bit positions (asm-generic: nr 8 bits, type 8 bits, size 14 bits, dir 2 bits).
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = 8;
const IOC_SIZESHIFT: u32 = 16;
const IOC_DIRSHIFT: u32 = 30;
const IOC_SIZEMASK: u32 = (1 << 14) - 1;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << IOC_DIRSHIFT)
        | ((size as u32 & IOC_SIZEMASK) << IOC_SIZESHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
}

/// The argument size a request number declares (`_IOC_SIZE`).
pub const fn ioc_size(request: u32) -> usize {
    ((request >> IOC_SIZESHIFT) & IOC_SIZEMASK) as usize
}

/// An ioctl argument struct of this module: `#[repr(C)]` plain integers, any bit pattern valid.
/// Sealed: only the structs below implement it, so [`crate::sys::ioctl`] can rely on it.
pub trait IoctlArg: sealed::Sealed + Copy {}

mod sealed {
    pub trait Sealed {}
}

macro_rules! ioctl_arg {
    ($($t:ty),*) => { $(impl sealed::Sealed for $t {} impl IoctlArg for $t {})* };
}

/// `struct ioctl_evtchn_bind_interdomain`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindInterdomain {
    pub remote_domain: u32,
    pub remote_port: u32,
}

/// `struct ioctl_evtchn_bind_unbound_port`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnBindUnboundPort {
    pub remote_domain: u32,
}

/// `struct ioctl_evtchn_unbind` and `struct ioctl_evtchn_notify` (one port each).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvtchnPortArg {
    pub port: u32,
}

/// `struct ioctl_gntalloc_alloc_gref` for one page (`count` = 1, one `gref_ids` slot).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GntallocAllocGref {
    /// The domain that may map the page.
    pub domid: u16,
    /// [`GNTALLOC_FLAG_WRITABLE`] or 0.
    pub flags: u16,
    pub count: u32,
    /// Out: the mmap offset of the page(s).
    pub index: u64,
    /// Out: the grant reference.
    pub gref_ids: [u32; 1],
}

/// `struct ioctl_gntalloc_dealloc_gref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GntallocDeallocGref {
    pub index: u64,
    pub count: u32,
}

/// `struct ioctl_gntdev_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GntdevGrantRef {
    pub domid: u32,
    pub gref: u32,
}

/// `struct ioctl_gntdev_map_grant_ref` for one grant.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GntdevMapGrantRef {
    pub count: u32,
    pub pad: u32,
    /// Out: the mmap offset of the mapping.
    pub index: u64,
    pub refs: [GntdevGrantRef; 1],
}

/// `struct ioctl_gntdev_unmap_grant_ref`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GntdevUnmapGrantRef {
    pub index: u64,
    pub count: u32,
    pub pad: u32,
}

ioctl_arg!(
    EvtchnBindInterdomain,
    EvtchnBindUnboundPort,
    EvtchnPortArg,
    GntallocAllocGref,
    GntallocDeallocGref,
    GntdevMapGrantRef,
    GntdevUnmapGrantRef
);

/// `IOCTL_EVTCHN_BIND_INTERDOMAIN`: returns the new local port.
pub const IOCTL_EVTCHN_BIND_INTERDOMAIN: u32 = ioc(IOC_NONE, b'E', 1, size_of::<EvtchnBindInterdomain>());
/// `IOCTL_EVTCHN_BIND_UNBOUND_PORT`: returns the new local port.
pub const IOCTL_EVTCHN_BIND_UNBOUND_PORT: u32 = ioc(IOC_NONE, b'E', 2, size_of::<EvtchnBindUnboundPort>());
/// `IOCTL_EVTCHN_UNBIND`.
pub const IOCTL_EVTCHN_UNBIND: u32 = ioc(IOC_NONE, b'E', 3, size_of::<EvtchnPortArg>());
/// `IOCTL_EVTCHN_NOTIFY`.
pub const IOCTL_EVTCHN_NOTIFY: u32 = ioc(IOC_NONE, b'E', 4, size_of::<EvtchnPortArg>());
/// `IOCTL_GNTALLOC_ALLOC_GREF`.
pub const IOCTL_GNTALLOC_ALLOC_GREF: u32 = ioc(IOC_NONE, b'G', 5, size_of::<GntallocAllocGref>());
/// `IOCTL_GNTALLOC_DEALLOC_GREF`.
pub const IOCTL_GNTALLOC_DEALLOC_GREF: u32 = ioc(IOC_NONE, b'G', 6, size_of::<GntallocDeallocGref>());
/// `IOCTL_GNTDEV_MAP_GRANT_REF`.
pub const IOCTL_GNTDEV_MAP_GRANT_REF: u32 = ioc(IOC_NONE, b'G', 0, size_of::<GntdevMapGrantRef>());
/// `IOCTL_GNTDEV_UNMAP_GRANT_REF`.
pub const IOCTL_GNTDEV_UNMAP_GRANT_REF: u32 = ioc(IOC_NONE, b'G', 1, size_of::<GntdevUnmapGrantRef>());

/// `GNTALLOC_FLAG_WRITABLE`: the peer may map the page writable.
pub const GNTALLOC_FLAG_WRITABLE: u16 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn struct_layouts_match_the_uapi_headers() {
        assert_eq!(size_of::<EvtchnBindInterdomain>(), 8);
        assert_eq!(size_of::<EvtchnBindUnboundPort>(), 4);
        assert_eq!(size_of::<EvtchnPortArg>(), 4);
        // u16 domid, u16 flags, u32 count, u64 index, u32 gref_ids[1], padded to 8.
        assert_eq!(size_of::<GntallocAllocGref>(), 24);
        assert_eq!(offset_of!(GntallocAllocGref, flags), 2);
        assert_eq!(offset_of!(GntallocAllocGref, count), 4);
        assert_eq!(offset_of!(GntallocAllocGref, index), 8);
        assert_eq!(offset_of!(GntallocAllocGref, gref_ids), 16);
        assert_eq!(size_of::<GntallocDeallocGref>(), 16);
        assert_eq!(offset_of!(GntallocDeallocGref, count), 8);
        assert_eq!(size_of::<GntdevGrantRef>(), 8);
        assert_eq!(size_of::<GntdevMapGrantRef>(), 24);
        assert_eq!(offset_of!(GntdevMapGrantRef, index), 8);
        assert_eq!(offset_of!(GntdevMapGrantRef, refs), 16);
        assert_eq!(size_of::<GntdevUnmapGrantRef>(), 16);
        assert_eq!(offset_of!(GntdevUnmapGrantRef, count), 8);
    }

    #[test]
    fn request_numbers_match_the_uapi_headers() {
        // _IOC(_IOC_NONE, type, nr, size) = size << 16 | type << 8 | nr.
        assert_eq!(IOCTL_EVTCHN_BIND_INTERDOMAIN, 0x0008_4501);
        assert_eq!(IOCTL_EVTCHN_BIND_UNBOUND_PORT, 0x0004_4502);
        assert_eq!(IOCTL_EVTCHN_UNBIND, 0x0004_4503);
        assert_eq!(IOCTL_EVTCHN_NOTIFY, 0x0004_4504);
        assert_eq!(IOCTL_GNTALLOC_ALLOC_GREF, 0x0018_4705);
        assert_eq!(IOCTL_GNTALLOC_DEALLOC_GREF, 0x0010_4706);
        assert_eq!(IOCTL_GNTDEV_MAP_GRANT_REF, 0x0018_4700);
        assert_eq!(IOCTL_GNTDEV_UNMAP_GRANT_REF, 0x0010_4701);
    }

    #[test]
    fn ioc_fields_round_trip() {
        assert_eq!(ioc_size(IOCTL_GNTALLOC_ALLOC_GREF), 24);
        assert_eq!(ioc_size(IOCTL_EVTCHN_NOTIFY), 4);
        assert_eq!(ioc(2, b'x', 7, 3), 0x8003_7807);
        // A size wider than 14 bits is cut, as the kernel's macro would not compile it at all.
        assert_eq!(ioc_size(ioc(0, 0, 0, 1 << 14)), 0);
    }
}
