//! Event channel operation structs (public/event_channel.h), passed by pointer to
//! `HYPERVISOR_event_channel_op(cmd, arg)`. Each struct carries its command ([`EvtchnOp::CMD`]),
//! so a caller cannot pair a command with the wrong struct.

use crate::hypercall::{
    EVTCHNOP_ALLOC_UNBOUND, EVTCHNOP_BIND_INTERDOMAIN, EVTCHNOP_BIND_VIRQ, EVTCHNOP_CLOSE, EVTCHNOP_SEND,
    EVTCHNOP_UNMASK,
};

/// An `EVTCHNOP_*` argument struct and the command it belongs to.
pub trait EvtchnOp {
    /// The `cmd` argument of `HYPERVISOR_event_channel_op` for this struct.
    const CMD: u64;
}

/// `EVTCHNOP_alloc_unbound`: allocate a port in `dom` that `remote_dom` may bind.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnAllocUnbound {
    pub dom: u16,
    pub remote_dom: u16,
    /// OUT.
    pub port: u32,
}

/// `EVTCHNOP_bind_interdomain`: connect a local port to `remote_port` of `remote_dom`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnBindInterdomain {
    pub remote_dom: u16,
    pub _pad: u16,
    pub remote_port: u32,
    /// OUT.
    pub local_port: u32,
}

/// `EVTCHNOP_bind_virq`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnBindVirq {
    pub virq: u32,
    pub vcpu: u32,
    /// OUT.
    pub port: u32,
}

/// `EVTCHNOP_close`, `EVTCHNOP_send` and `EVTCHNOP_unmask` all take just a port: one struct
/// per command, so each has its own [`EvtchnOp::CMD`].
macro_rules! port_op {
    ($(#[$doc:meta] $name:ident = $cmd:ident;)*) => {$(
        #[$doc]
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name {
            pub port: u32,
        }
        impl EvtchnOp for $name {
            const CMD: u64 = $cmd;
        }
    )*};
}

port_op! {
    /// `EVTCHNOP_close`.
    EvtchnClose = EVTCHNOP_CLOSE;
    /// `EVTCHNOP_send`.
    EvtchnSend = EVTCHNOP_SEND;
    /// `EVTCHNOP_unmask`.
    EvtchnUnmask = EVTCHNOP_UNMASK;
}

impl EvtchnOp for EvtchnAllocUnbound {
    const CMD: u64 = EVTCHNOP_ALLOC_UNBOUND;
}
impl EvtchnOp for EvtchnBindInterdomain {
    const CMD: u64 = EVTCHNOP_BIND_INTERDOMAIN;
}
impl EvtchnOp for EvtchnBindVirq {
    const CMD: u64 = EVTCHNOP_BIND_VIRQ;
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts() {
        assert_eq!(size_of::<EvtchnAllocUnbound>(), 8);
        assert_eq!(offset_of!(EvtchnAllocUnbound, dom), 0);
        assert_eq!(offset_of!(EvtchnAllocUnbound, remote_dom), 2);
        assert_eq!(offset_of!(EvtchnAllocUnbound, port), 4);
        assert_eq!(size_of::<EvtchnBindInterdomain>(), 12);
        assert_eq!(offset_of!(EvtchnBindInterdomain, remote_dom), 0);
        assert_eq!(offset_of!(EvtchnBindInterdomain, remote_port), 4);
        assert_eq!(offset_of!(EvtchnBindInterdomain, local_port), 8);
        assert_eq!(size_of::<EvtchnBindVirq>(), 12);
        assert_eq!(offset_of!(EvtchnBindVirq, vcpu), 4);
        assert_eq!(offset_of!(EvtchnBindVirq, port), 8);
        assert_eq!(size_of::<EvtchnClose>(), 4);
        assert_eq!(size_of::<EvtchnSend>(), 4);
        assert_eq!(size_of::<EvtchnUnmask>(), 4);
        assert_eq!((EvtchnClose::CMD, EvtchnSend::CMD, EvtchnUnmask::CMD), (3, 4, 9));
        assert_eq!((EvtchnAllocUnbound::CMD, EvtchnBindInterdomain::CMD, EvtchnBindVirq::CMD), (6, 0, 1));
    }
}
