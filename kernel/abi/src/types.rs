//! Small identifier types shared by the kernel and the drivers.

/// A Xen domain id (`domid_t`, xen/include/public/xen.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomId(pub u16);

impl DomId {
    /// `DOMID_FIRST_RESERVED`: ids from here up are special (`DOMID_SELF`, `DOMID_IO`, …),
    /// never a real domain.
    pub const FIRST_RESERVED: DomId = DomId(0x7FF0);
    /// `DOMID_SELF`: the calling domain.
    pub const SELF: DomId = DomId(0x7FF0);
    /// `DOMID_IO`: owner of I/O memory (MMIO frames such as the TPM's).
    pub const IO: DomId = DomId(0x7FF1);

    /// True for a real domain's id (below [`DomId::FIRST_RESERVED`]).
    pub const fn is_ordinary(self) -> bool {
        self.0 < Self::FIRST_RESERVED.0
    }

    /// The id of a real domain written as a number (xenstore `backend-id`, a directory name):
    /// `None` if it does not fit a `domid_t` or is a reserved id.
    pub fn ordinary_from(v: u64) -> Option<DomId> {
        u16::try_from(v).ok().map(DomId).filter(|d| d.is_ordinary())
    }
}

/// An event channel port (`evtchn_port_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EvtchnPort(pub u32);

/// A grant reference (`grant_ref_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantRef(pub u32);

/// XenbusState (xen/include/public/io/xenbus.h; fact sheet §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum XenbusState {
    Unknown = 0,
    Initialising = 1,
    InitWait = 2,
    Initialised = 3,
    Connected = 4,
    Closing = 5,
    Closed = 6,
    Reconfiguring = 7,
    Reconfigured = 8,
}

impl XenbusState {
    /// Parses the decimal string kept in a xenstore `state` node. Anything that is not one of
    /// the defined values is `None` (a peer may write garbage; it is never a panic).
    pub fn parse(s: &str) -> Option<XenbusState> {
        let v: u32 = s.trim_end_matches('\0').trim().parse().ok()?;
        Some(match v {
            0 => XenbusState::Unknown,
            1 => XenbusState::Initialising,
            2 => XenbusState::InitWait,
            3 => XenbusState::Initialised,
            4 => XenbusState::Connected,
            5 => XenbusState::Closing,
            6 => XenbusState::Closed,
            7 => XenbusState::Reconfiguring,
            8 => XenbusState::Reconfigured,
            _ => return None,
        })
    }

    /// The value as written to xenstore (`"4"` for Connected, …).
    pub fn as_str(self) -> &'static str {
        match self {
            XenbusState::Unknown => "0",
            XenbusState::Initialising => "1",
            XenbusState::InitWait => "2",
            XenbusState::Initialised => "3",
            XenbusState::Connected => "4",
            XenbusState::Closing => "5",
            XenbusState::Closed => "6",
            XenbusState::Reconfiguring => "7",
            XenbusState::Reconfigured => "8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_domids_are_not_ordinary() {
        assert!(DomId(0).is_ordinary() && DomId(0x7FEF).is_ordinary());
        assert!(!DomId::SELF.is_ordinary() && !DomId::IO.is_ordinary() && !DomId(0xFFFF).is_ordinary());
        assert_eq!(DomId::ordinary_from(5), Some(DomId(5)));
        assert_eq!(DomId::ordinary_from(0x7FF0), None);
        assert_eq!(DomId::ordinary_from(0x1_0005), None);
    }

    #[test]
    fn xenbus_state_round_trips() {
        for v in 0u8..=8 {
            let s = XenbusState::parse(&v.to_string()).unwrap();
            assert_eq!(s as u8, v);
            assert_eq!(s.as_str(), v.to_string());
        }
        assert_eq!(XenbusState::parse("9"), None);
        assert_eq!(XenbusState::parse(""), None);
        assert_eq!(XenbusState::parse("-1"), None);
        assert_eq!(XenbusState::parse("4\0"), Some(XenbusState::Connected));
    }
}
