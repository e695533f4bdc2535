//! A vtpm's running state, read from xenstore: the domain ids of the vtpm and of its guest (by
//! `/local/domain/<id>/name`), the state of the vtpm's backend for the guest
//! (`/local/domain/<vtpm>/backend/vtpm/<guest>/<devid>/state`), of the guest's frontend
//! (`/local/domain/<guest>/device/vtpm/<devid>/state`) and of the vtpm's own link to its manager
//! (`/local/domain/<vtpm>/device/vtpm/0/state`). Fact sheet §3.1.

use std::collections::BTreeMap;

use xen_hv::{XenStore, XenbusState, XsTx};

/// The state's name as the fact sheet and xenbus.h spell it (`InitWait`).
pub fn state_name(s: XenbusState) -> &'static str {
    match s {
        XenbusState::Unknown => "Unknown",
        XenbusState::Initialising => "Initialising",
        XenbusState::InitWait => "InitWait",
        XenbusState::Initialised => "Initialised",
        XenbusState::Connected => "Connected",
        XenbusState::Closing => "Closing",
        XenbusState::Closed => "Closed",
        XenbusState::Reconfiguring => "Reconfiguring",
        XenbusState::Reconfigured => "Reconfigured",
    }
}

/// The running domains: name → domid.
pub fn domains(xs: &mut dyn XenStore) -> Result<BTreeMap<String, u16>, String> {
    let ids = xs.directory(XsTx::NONE, "/local/domain").map_err(|e| format!("xenstore /local/domain: {e}"))?;
    let mut out = BTreeMap::new();
    for id in ids {
        let Ok(domid) = id.parse::<u16>() else { continue };
        // A domain being torn down may lose its name between the two reads: skip it.
        if let Ok(name) = xs.read(XsTx::NONE, &format!("/local/domain/{domid}/name")) {
            out.insert(name, domid);
        }
    }
    Ok(out)
}

fn state(xs: &mut dyn XenStore, path: &str) -> Option<XenbusState> {
    xs.read(XsTx::NONE, path).ok().and_then(|s| XenbusState::parse(&s))
}

/// What xenstore says about one vtpm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    pub domid: Option<u16>,
    pub guest_domid: Option<u16>,
    /// The vtpm's backend instance for the guest.
    pub backend: Option<XenbusState>,
    /// The guest's frontend.
    pub frontend: Option<XenbusState>,
    /// The vtpm's own frontend to its manager.
    pub manager_link: Option<XenbusState>,
}

impl Status {
    pub fn running(&self) -> bool {
        self.domid.is_some()
    }
}

/// The device id of the vtpm's backend for `guest` (the lowest, libxl counts from 0).
fn backend_devid(xs: &mut dyn XenStore, vtpm: u16, guest: u16) -> Option<String> {
    let mut ids: Vec<u32> = xs
        .directory(XsTx::NONE, &format!("/local/domain/{vtpm}/backend/vtpm/{guest}"))
        .ok()?
        .iter()
        .filter_map(|d| d.parse().ok())
        .collect();
    ids.sort();
    ids.first().map(|d| d.to_string())
}

/// The status of the vtpm domain `name` serving guest domain `guest`, given the running domains.
pub fn status(xs: &mut dyn XenStore, doms: &BTreeMap<String, u16>, name: &str, guest: &str) -> Status {
    let mut s = Status { domid: doms.get(name).copied(), guest_domid: doms.get(guest).copied(), ..Status::default() };
    if let Some(v) = s.domid {
        s.manager_link = state(xs, &format!("/local/domain/{v}/device/vtpm/0/state"));
        if let Some(g) = s.guest_domid
            && let Some(dev) = backend_devid(xs, v, g)
        {
            s.backend = state(xs, &format!("/local/domain/{v}/backend/vtpm/{g}/{dev}/state"));
            s.frontend = state(xs, &format!("/local/domain/{g}/device/vtpm/{dev}/state"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::FakeXs;
    use xen_hv::XsError;

    #[test]
    fn reads_domains_and_device_states() {
        let mut xs = FakeXs::default();
        xs.add_domain(0, "Domain-0");
        xs.add_domain(3, "vtpmmgr");
        xs.add_domain(4, "v1");
        xs.add_domain(5, "domu");
        xs.set("/local/domain/4/device/vtpm/0/state", "4");
        xs.set("/local/domain/4/backend/vtpm/5/0/state", "2");
        xs.set("/local/domain/5/device/vtpm/0/state", "3");
        xs.set("/local/domain/x/name", "ignored");
        let doms = domains(&mut xs).unwrap();
        assert_eq!(doms.get("v1"), Some(&4));
        assert_eq!(doms.len(), 4);
        let s = status(&mut xs, &doms, "v1", "domu");
        assert_eq!(
            s,
            Status {
                domid: Some(4),
                guest_domid: Some(5),
                backend: Some(XenbusState::InitWait),
                frontend: Some(XenbusState::Initialised),
                manager_link: Some(XenbusState::Connected),
            }
        );
        let none = status(&mut xs, &doms, "v2", "domu");
        assert!(!none.running());
        assert_eq!(state_name(XenbusState::InitWait), "InitWait");
        assert_eq!(none.guest_domid, Some(5));
        assert_eq!(none.backend, None);
    }

    #[test]
    fn no_xenstore_is_an_error() {
        let mut xs = FakeXs { fail: Some(XsError::Access), ..FakeXs::default() };
        assert!(domains(&mut xs).unwrap_err().contains("EACCES"));
    }
}
