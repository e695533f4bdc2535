//! A raw vTPM frontend for hostile and fairness tests: it sets up a page and a port like a
//! frontend would, then lets the test write any header, length and state it likes.

use drivers::hv::{DomId, EventChannels, EvtchnPort, GrantRef, GrantTable, PageAccess, XenStore, XsTx};

use crate::simxen::{SimDomain, SimPage, World};

/// The raw frontend.
pub struct RawFront {
    /// Its domain.
    pub dom: SimDomain,
    /// The shared page.
    pub page: SimPage,
    /// Grant of the page.
    pub gref: GrantRef,
    /// Our port.
    pub port: EvtchnPort,
    /// `device/vtpm/<devid>`.
    pub node: String,
}

impl RawFront {
    /// Grants a page and a port to the backend named in `device/vtpm/<devid>`, writes the keys
    /// and `state = 3`.
    pub fn setup(world: &World, fe: u16, devid: u32) -> RawFront {
        let mut dom = world.domain(fe);
        let node = format!("device/vtpm/{devid}");
        let be: u16 = dom.read(XsTx::NONE, &format!("{node}/backend-id")).unwrap().parse().unwrap();
        let page = dom.alloc_page().unwrap();
        let gref = dom.grant_foreign_access(&page, DomId(be), false).unwrap();
        let port = dom.alloc_unbound(DomId(be)).unwrap();
        let mut me = RawFront { dom, page, gref, port, node };
        me.write_key("ring-ref", &gref.0.to_string());
        me.write_key("event-channel", &port.0.to_string());
        me.write_key("feature-protocol-v2", "1");
        me.set_state(3);
        me
    }

    /// Writes a key in our frontend dir.
    pub fn write_key(&mut self, key: &str, v: &str) {
        self.dom.write(XsTx::NONE, &format!("{}/{key}", self.node), v).unwrap();
    }

    /// Writes our xenbus state.
    pub fn set_state(&mut self, s: u8) {
        self.write_key("state", &s.to_string());
    }

    /// Writes a raw request: data at `8 + 4·nr_extra`, then `length`, `nr_extra_pages`, state.
    pub fn submit_raw(&mut self, data: &[u8], length: u32, nr_extra: u8) {
        let off = 8 + 4 * usize::from(nr_extra);
        let n = data.len().min(4096 - off);
        self.page.write(off, &data[..n]).unwrap();
        self.page.write_u32_le(0, length).unwrap();
        self.page.write(7, &[nr_extra]).unwrap();
        self.page.write(4, &[1]).unwrap();
        let _ = self.dom.notify(self.port);
    }

    /// A well-formed request.
    pub fn submit(&mut self, cmd: &[u8]) {
        self.submit_raw(cmd, cmd.len() as u32, 0);
    }

    /// Writes CANCEL.
    pub fn cancel(&mut self) {
        self.page.write(4, &[3]).unwrap();
        let _ = self.dom.notify(self.port);
    }

    /// The page's state byte.
    pub fn state(&self) -> u8 {
        self.page.read_u8(4).unwrap()
    }

    /// The response if state is FINISH: bytes at `8 + 4·nr_extra` of `length`.
    pub fn response(&self) -> Option<Vec<u8>> {
        if self.state() != 2 {
            return None;
        }
        let off = 8 + 4 * usize::from(self.page.read_u8(7).unwrap());
        let len = (self.page.read_u32_le(0).unwrap() as usize).min(4096 - off);
        let mut b = vec![0u8; len];
        self.page.read(off, &mut b).unwrap();
        Some(b)
    }
}
