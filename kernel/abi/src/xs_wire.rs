//! XenStore wire ABI (public/io/xs_wire.h): the shared ring page of a domain's xenstore
//! connection, the `xsd_sockmsg` message header, message types and error names.

/// Bytes in each of the request and response rings.
pub const XENSTORE_RING_SIZE: usize = 1024;
/// Largest payload of one message.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path xenstored accepts.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest relative path xenstored accepts.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// `MASK_XENSTORE_IDX`: ring indices are free-running u32s; this maps one into the ring.
pub const fn mask_xenstore_idx(idx: u32) -> usize {
    (idx as usize) & (XENSTORE_RING_SIZE - 1)
}

/// `struct xenstore_domain_interface`.
#[repr(C)]
pub struct XenstoreDomainInterface {
    pub req: [u8; XENSTORE_RING_SIZE],
    pub rsp: [u8; XENSTORE_RING_SIZE],
    pub req_cons: u32,
    pub req_prod: u32,
    pub rsp_cons: u32,
    pub rsp_prod: u32,
    pub server_features: u32,
    pub connection: u32,
    pub error: u32,
}

/// `struct xsd_sockmsg`: 16-byte header before every request and reply payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XsdSockmsg {
    pub r#type: u32,
    /// Echoed in the reply; watch events carry 0.
    pub req_id: u32,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// Payload length in bytes.
    pub len: u32,
}

pub const XSD_SOCKMSG_SIZE: usize = 16;

/// `enum xsd_sockmsg_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum XsdSockmsgType {
    Control = 0,
    Directory = 1,
    Read = 2,
    GetPerms = 3,
    Watch = 4,
    Unwatch = 5,
    TransactionStart = 6,
    TransactionEnd = 7,
    Introduce = 8,
    Release = 9,
    GetDomainPath = 10,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    SetPerms = 14,
    WatchEvent = 15,
    Error = 16,
    IsDomainIntroduced = 17,
    Resume = 18,
    SetTarget = 19,
    ResetWatches = 21,
    DirectoryPart = 22,
}

impl XsdSockmsgType {
    /// The type for a raw value; `None` for values this ABI does not define.
    pub fn from_u32(v: u32) -> Option<Self> {
        use XsdSockmsgType::*;
        Some(match v {
            0 => Control,
            1 => Directory,
            2 => Read,
            3 => GetPerms,
            4 => Watch,
            5 => Unwatch,
            6 => TransactionStart,
            7 => TransactionEnd,
            8 => Introduce,
            9 => Release,
            10 => GetDomainPath,
            11 => Write,
            12 => Mkdir,
            13 => Rm,
            14 => SetPerms,
            15 => WatchEvent,
            16 => Error,
            17 => IsDomainIntroduced,
            18 => Resume,
            19 => SetTarget,
            21 => ResetWatches,
            22 => DirectoryPart,
            _ => return None,
        })
    }
}

/// The error names xenstored sends in an `XS_ERROR` reply, with their errno values
/// (`xsd_errors[]`).
pub const XSD_ERRORS: &[(&str, i32)] = &[
    ("EINVAL", 22),
    ("EACCES", 13),
    ("EEXIST", 17),
    ("EISDIR", 21),
    ("ENOENT", 2),
    ("ENOMEM", 12),
    ("ENOSPC", 28),
    ("EIO", 5),
    ("ENOTEMPTY", 39),
    ("ENOSYS", 38),
    ("EROFS", 30),
    ("EBUSY", 16),
    ("EAGAIN", 11),
    ("EISCONN", 106),
    ("E2BIG", 7),
    ("EPERM", 1),
];

/// Watch event payload fields (`XS_WATCH_PATH`, `XS_WATCH_TOKEN`).
pub const XS_WATCH_PATH: usize = 0;
pub const XS_WATCH_TOKEN: usize = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts() {
        assert_eq!(size_of::<XsdSockmsg>(), XSD_SOCKMSG_SIZE);
        assert_eq!(offset_of!(XsdSockmsg, req_id), 4);
        assert_eq!(offset_of!(XsdSockmsg, tx_id), 8);
        assert_eq!(offset_of!(XsdSockmsg, len), 12);
        assert_eq!(offset_of!(XenstoreDomainInterface, rsp), 1024);
        assert_eq!(offset_of!(XenstoreDomainInterface, req_cons), 2048);
        assert_eq!(offset_of!(XenstoreDomainInterface, req_prod), 2052);
        assert_eq!(offset_of!(XenstoreDomainInterface, rsp_cons), 2056);
        assert_eq!(offset_of!(XenstoreDomainInterface, rsp_prod), 2060);
        assert_eq!(offset_of!(XenstoreDomainInterface, server_features), 2064);
        assert_eq!(offset_of!(XenstoreDomainInterface, connection), 2068);
        assert_eq!(offset_of!(XenstoreDomainInterface, error), 2072);
        assert_eq!(size_of::<XenstoreDomainInterface>(), 2076);
        assert!(size_of::<XenstoreDomainInterface>() <= 4096);
    }

    #[test]
    fn mask_wraps() {
        assert_eq!(mask_xenstore_idx(0), 0);
        assert_eq!(mask_xenstore_idx(1023), 1023);
        assert_eq!(mask_xenstore_idx(1024), 0);
        assert_eq!(mask_xenstore_idx(u32::MAX), 1023);
    }

    #[test]
    fn types_round_trip() {
        for v in 0..32u32 {
            if let Some(t) = XsdSockmsgType::from_u32(v) {
                assert_eq!(t as u32, v);
            }
        }
        assert_eq!(XsdSockmsgType::from_u32(20), None);
        assert_eq!(XsdSockmsgType::from_u32(15), Some(XsdSockmsgType::WatchEvent));
    }
}
