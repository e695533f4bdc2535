//! How vtpmctl reaches a vTPM manager: [`ManagerLink`], one management request frame in, its
//! reply out. The real one is [`FrontLink`]: `drivers::tpmfront` in dom0 (over `xen-dom0`, or
//! any `xen_hv::Xen`: the host tests use the simulated Xen) on a vTPM device of dom0 whose
//! backend is the manager, attached once with `xl vtpm-attach 0 backend=MANAGER`
//! ([`find_device`] finds it). The manager answers management requests from dom0's frontend
//! only (`vtpmmgr/README.md` §Management).

use core::task::Poll;

use drivers::tpmfront::{FrontStyle, TpmFront, TpmFrontError};
use xen_hv::{Xen, XenStore, XsTx};

/// How long connecting to the manager may take.
pub const CONNECT_TIMEOUT_NS: u64 = 10_000_000_000;
/// How long one management request may take (a save of the manager's table included).
pub const COMMAND_TIMEOUT_NS: u64 = 30_000_000_000;
/// How long closing the frontend may take.
pub const CLOSE_TIMEOUT_NS: u64 = 2_000_000_000;

/// A management link to one manager.
pub trait ManagerLink {
    /// Sends one request frame and returns the reply frame.
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, String>;
}

/// tpmfront from dom0 to the manager's tpmback: connected on creation, closed when dropped.
pub struct FrontLink<X: Xen> {
    hv: X,
    front: TpmFront<X>,
    node: String,
}

impl<X: Xen> FrontLink<X> {
    /// Connects the frontend at `node` (e.g. `device/vtpm/1`, relative to dom0's home).
    pub fn connect(hv: X, node: &str) -> Result<Self, String> {
        Self::connect_within(hv, node, CONNECT_TIMEOUT_NS).map_err(|e| format!("{e} (the manager's link)"))
    }
}

/// The poll-style half of the link, for a caller with its own event loop (the HVM bridge,
/// `tools/vtpm-bridge`, which must answer QEMU's control channel while a TPM command runs):
/// the same `drivers::tpmfront` calls [`ManagerLink::transact`] makes, one at a time.
impl<X: Xen> FrontLink<X> {
    /// Connects the frontend at `node`, waiting at most `timeout_ns` for the backend.
    pub fn connect_within(mut hv: X, node: &str, timeout_ns: u64) -> Result<Self, String> {
        let mut front = TpmFront::<X>::new(node);
        front.connect(&mut hv, FrontStyle::MiniOs, timeout_ns).map_err(|e| format!("cannot connect {node}: {e:?}"))?;
        Ok(FrontLink { hv, front, node: node.to_string() })
    }

    /// The frontend node (`device/vtpm/N`).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Sets the locality written into the shared page for the next requests.
    pub fn set_locality(&mut self, locality: u8) {
        self.front.set_locality(locality);
    }

    /// Puts `request` into the shared page and notifies; the answer comes from [`Self::poll`].
    pub fn submit(&mut self, request: &[u8], timeout_ns: u64) -> Result<(), TpmFrontError> {
        self.front.submit(&mut self.hv, request, timeout_ns)
    }

    /// The answer to the request in flight, if it is there (a timeout cancels it).
    pub fn poll(&mut self) -> Poll<Result<Vec<u8>, TpmFrontError>> {
        self.front.poll_response(&mut self.hv)
    }

    /// Cancels the request in flight (the backend answers IDLE, or FINISH if it had started).
    pub fn cancel(&mut self) {
        self.front.cancel(&mut self.hv);
    }

    /// Whether the backend left (Closing, Closed, or its directory gone).
    pub fn backend_gone(&mut self) -> bool {
        self.front.backend_gone(&mut self.hv)
    }

    /// Our event channel and clock, for the caller's wait (`Clock::wait_until`).
    pub fn hv_mut(&mut self) -> &mut X {
        &mut self.hv
    }
}

impl<X: Xen> ManagerLink for FrontLink<X> {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        self.front
            .transact(&mut self.hv, request, COMMAND_TIMEOUT_NS)
            .map_err(|e| format!("{}: no answer from the manager: {e:?}", self.node))
    }
}

impl<X: Xen> Drop for FrontLink<X> {
    fn drop(&mut self) {
        // the manager forgets the connection (nothing is per-session there); best effort
        if self.front.close(&mut self.hv, CLOSE_TIMEOUT_NS).is_err() {
            self.front.abandon(&mut self.hv);
        }
    }
}

/// Dom0's vTPM device whose backend is domain `manager` (by name): `device/vtpm/N`.
pub fn find_device(xs: &mut dyn XenStore, manager: &str) -> Result<String, String> {
    find_device_served_by(xs, manager, "manager")
}

/// Dom0's vTPM device whose backend is domain `backend` (by name), `role` naming that domain in
/// the messages ("manager"; the HVM bridge's "vtpm"): `device/vtpm/N`.
pub fn find_device_served_by(xs: &mut dyn XenStore, backend: &str, role: &str) -> Result<String, String> {
    let doms = crate::status::domains(xs)?;
    let Some(&domid) = doms.get(backend) else {
        return Err(format!("the {role} domain {backend} is not running"));
    };
    let base = "/local/domain/0/device/vtpm";
    let mut devs: Vec<u32> =
        xs.directory(XsTx::NONE, base).unwrap_or_default().iter().filter_map(|d| d.parse().ok()).collect();
    devs.sort_unstable();
    for n in devs {
        let id = xs.read(XsTx::NONE, &format!("{base}/{n}/backend-id")).ok();
        if id.as_deref().map(|b| b.trim_end_matches('\0').trim()) == Some(&domid.to_string()) {
            return Ok(format!("device/vtpm/{n}"));
        }
    }
    Err(format!(
        "dom0 has no vTPM device served by the {role} {backend} (domid {domid}); attach one once with \
         `xl vtpm-attach 0 backend={backend}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::FakeXs;

    #[test]
    fn finds_dom0s_device_to_the_manager() {
        let mut xs = FakeXs::default();
        assert!(find_device(&mut xs, "vtpmmgr").unwrap_err().contains("/local/domain"));
        xs.add_domain(0, "Domain-0");
        xs.add_domain(3, "vtpmmgr");
        xs.add_domain(4, "other");
        assert!(find_device(&mut xs, "nope").unwrap_err().contains("the manager domain nope is not running"));
        let e = find_device(&mut xs, "vtpmmgr").unwrap_err();
        assert!(e.contains("xl vtpm-attach 0 backend=vtpmmgr"), "{e}");
        xs.set("/local/domain/0/device/vtpm/0/backend-id", "4");
        xs.set("/local/domain/0/device/vtpm/2/backend-id", "3");
        assert_eq!(find_device(&mut xs, "vtpmmgr"), Ok("device/vtpm/2".into()));
        assert_eq!(find_device(&mut xs, "other"), Ok("device/vtpm/0".into()));
    }
}
