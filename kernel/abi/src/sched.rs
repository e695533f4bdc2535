//! `sched_op` argument structs (public/sched.h).

/// `SCHEDOP_shutdown` takes a **pointer** to this struct (not the reason by value).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedShutdown {
    pub reason: u32,
}

/// `SCHEDOP_poll`: block until one of `ports` is pending or system time reaches `timeout`
/// (absolute ns; 0 = no timeout). At most 128 ports.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SchedPoll {
    /// Guest handle (pointer) to an array of `evtchn_port_t`.
    pub ports: u64,
    pub nr_ports: u32,
    pub _pad: u32,
    pub timeout: u64,
}

/// Xen's limit on `SchedPoll::nr_ports`.
pub const SCHED_POLL_MAX_PORTS: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn layouts() {
        assert_eq!(size_of::<SchedShutdown>(), 4);
        assert_eq!(size_of::<SchedPoll>(), 24);
        assert_eq!(offset_of!(SchedPoll, nr_ports), 8);
        assert_eq!(offset_of!(SchedPoll, timeout), 16);
    }
}
