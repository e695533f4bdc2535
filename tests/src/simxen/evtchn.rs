//! Simulated interdomain event channels: ports per domain, `alloc_unbound` / `bind_interdomain`
//! / `send` / `close` with Xen's rules (a send on an unbound port is dropped; closing one end
//! leaves the other end unbound), and a pending bit per port.

use std::collections::{HashMap, HashSet};

use drivers::hv::HvError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PortState {
    Unbound { remote: u16 },
    Interdomain { remote: u16, rport: u32 },
}

#[derive(Debug)]
struct Port {
    state: PortState,
    pending: bool,
    sent: u64,
}

/// All domains' ports.
#[derive(Default)]
pub struct EventChannels {
    ports: HashMap<(u16, u32), Port>,
    next: HashMap<u16, u32>,
    /// Sends dropped because the port was unbound (a notify the peer never saw).
    pub dropped: u64,
    /// Domains destroyed (and not made again): Xen's domain lookup fails for them (ESRCH).
    destroyed: HashSet<u16>,
}

const EINVAL: i32 = -22;
const ESRCH: i32 = -3;

impl EventChannels {
    /// Hashes what decides the future (for the model checker, `crate::model`): every port and
    /// what it is bound to. Left out: the pending bits (the drivers only use them as a hint,
    /// never to decide), the counters, and the next free port number (fresh either way).
    pub fn fingerprint<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        let mut ports: Vec<_> = self.ports.iter().map(|(k, p)| (*k, format!("{:?}", p.state))).collect();
        ports.sort();
        ports.hash(h);
    }

    fn new_port(&mut self, dom: u16, state: PortState) -> u32 {
        let n = self.next.entry(dom).or_insert(1);
        let p = *n;
        *n += 1;
        self.ports.insert((dom, p), Port { state, pending: false, sent: 0 });
        p
    }

    /// A domain (re)created: it exists again for [`EventChannels::bind_interdomain`].
    pub fn domain_created(&mut self, dom: u16) {
        self.destroyed.remove(&dom);
    }

    /// `EVTCHNOP_alloc_unbound`.
    pub fn alloc_unbound(&mut self, dom: u16, remote: u16) -> u32 {
        self.new_port(dom, PortState::Unbound { remote })
    }

    /// `EVTCHNOP_bind_interdomain`.
    pub fn bind_interdomain(&mut self, dom: u16, remote: u16, rport: u32) -> Result<u32, HvError> {
        if self.destroyed.contains(&remote) {
            return Err(HvError::Xen(ESRCH));
        }
        match self.ports.get(&(remote, rport)) {
            Some(Port { state: PortState::Unbound { remote: r }, .. }) if *r == dom => {}
            _ => return Err(HvError::Xen(EINVAL)),
        }
        let local = self.new_port(dom, PortState::Interdomain { remote, rport });
        if let Some(p) = self.ports.get_mut(&(remote, rport)) {
            p.state = PortState::Interdomain { remote: dom, rport: local };
        }
        // Xen marks the newly bound local port pending.
        if let Some(p) = self.ports.get_mut(&(dom, local)) {
            p.pending = true;
        }
        Ok(local)
    }

    /// `EVTCHNOP_send`.
    pub fn send(&mut self, dom: u16, port: u32) -> Result<(), HvError> {
        let st = self.ports.get(&(dom, port)).map(|p| p.state).ok_or(HvError::Xen(EINVAL))?;
        if let Some(p) = self.ports.get_mut(&(dom, port)) {
            p.sent += 1;
        }
        match st {
            PortState::Interdomain { remote, rport } => {
                if let Some(p) = self.ports.get_mut(&(remote, rport)) {
                    p.pending = true;
                }
            }
            PortState::Unbound { .. } => self.dropped += 1,
        }
        Ok(())
    }

    /// `EVTCHNOP_close`.
    pub fn close(&mut self, dom: u16, port: u32) {
        if let Some(p) = self.ports.remove(&(dom, port))
            && let PortState::Interdomain { remote, rport } = p.state
            && let Some(rp) = self.ports.get_mut(&(remote, rport))
        {
            rp.state = PortState::Unbound { remote: dom };
        }
    }

    /// Test-and-clear the pending bit.
    pub fn take_pending(&mut self, dom: u16, port: u32) -> bool {
        self.ports.get_mut(&(dom, port)).map(|p| std::mem::take(&mut p.pending)).unwrap_or(false)
    }

    /// Number of sends made on a port.
    pub fn sent(&self, dom: u16, port: u32) -> u64 {
        self.ports.get(&(dom, port)).map(|p| p.sent).unwrap_or(0)
    }

    /// True if the port is connected to a peer.
    pub fn is_bound(&self, dom: u16, port: u32) -> bool {
        matches!(self.ports.get(&(dom, port)), Some(Port { state: PortState::Interdomain { .. }, .. }))
    }

    /// Number of open ports of a domain.
    pub fn open_ports(&self, dom: u16) -> usize {
        self.ports.keys().filter(|(d, _)| *d == dom).count()
    }

    /// Closes all ports of a domain (domain destroyed).
    pub fn destroy_domain(&mut self, dom: u16) {
        self.destroyed.insert(dom);
        let mine: Vec<u32> = self.ports.keys().filter(|(d, _)| *d == dom).map(|(_, p)| *p).collect();
        for p in mine {
            self.close(dom, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interdomain_channels_follow_xen_rules() {
        let mut e = EventChannels::default();
        let p1 = e.alloc_unbound(1, 2);
        e.send(1, p1).unwrap();
        assert_eq!(e.dropped, 1, "send on an unbound port goes nowhere");
        assert!(e.bind_interdomain(3, 1, p1).is_err(), "only the named remote may bind");
        let p2 = e.bind_interdomain(2, 1, p1).unwrap();
        assert!(e.take_pending(2, p2), "a fresh binding is pending");
        e.send(1, p1).unwrap();
        assert!(e.take_pending(2, p2));
        assert!(!e.take_pending(2, p2), "test-and-clear");
        e.close(2, p2);
        assert!(!e.is_bound(1, p1));
        let p3 = e.bind_interdomain(2, 1, p1).unwrap();
        assert!(e.is_bound(1, p1), "the surviving end can be bound again");
        assert!(e.send(2, p3 + 100).is_err());
    }
}
