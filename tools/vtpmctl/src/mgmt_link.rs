//! How vtpmctl reaches a vTPM manager: [`ManagerLink`], one management request frame in, its
//! reply out. The real one is [`FrontLink`]: `drivers::tpmfront` in dom0 (over `xen-dom0`, or
//! any `xen_hv::Xen`: the host tests use the simulated Xen) on a vTPM device of dom0 whose
//! backend is the manager, attached once with `xl vtpm-attach 0 backend=MANAGER`
//! ([`find_device`] finds it). The manager answers management requests from dom0's frontend
//! only (`vtpmmgr/README.md` §Management).

use drivers::tpmfront::{FrontStyle, TpmFront};
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
    pub fn connect(mut hv: X, node: &str) -> Result<Self, String> {
        let mut front = TpmFront::<X>::new(node);
        front
            .connect(&mut hv, FrontStyle::MiniOs, CONNECT_TIMEOUT_NS)
            .map_err(|e| format!("cannot connect {node} to the manager: {e:?}"))?;
        Ok(FrontLink { hv, front, node: node.to_string() })
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
    let doms = crate::status::domains(xs)?;
    let Some(&domid) = doms.get(manager) else {
        return Err(format!("the manager domain {manager} is not running"));
    };
    let base = "/local/domain/0/device/vtpm";
    let mut devs: Vec<u32> =
        xs.directory(XsTx::NONE, base).unwrap_or_default().iter().filter_map(|d| d.parse().ok()).collect();
    devs.sort_unstable();
    for n in devs {
        let backend = xs.read(XsTx::NONE, &format!("{base}/{n}/backend-id")).ok();
        if backend.as_deref().map(|b| b.trim_end_matches('\0').trim()) == Some(&domid.to_string()) {
            return Ok(format!("device/vtpm/{n}"));
        }
    }
    Err(format!(
        "dom0 has no vTPM device served by the manager {manager} (domid {domid}); attach one once with \
         `xl vtpm-attach 0 backend={manager}`"
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
