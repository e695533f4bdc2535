//! Event channel operation structs (public/event_channel.h), passed by pointer to
//! `HYPERVISOR_event_channel_op(cmd, arg)`.

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

/// `EVTCHNOP_close`, `EVTCHNOP_send` and `EVTCHNOP_unmask` all take just a port.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EvtchnPortOp {
    pub port: u32,
}

pub type EvtchnClose = EvtchnPortOp;
pub type EvtchnSend = EvtchnPortOp;
pub type EvtchnUnmask = EvtchnPortOp;

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
        assert_eq!(size_of::<EvtchnPortOp>(), 4);
    }
}
