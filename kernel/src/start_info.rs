//! The `start_info` page Xen hands a PV guest at boot: copied once by `boot::kernel_start`,
//! then read by memory setup (page tables, free frames), the console and xenstore (ring
//! frames, event channels), and the image runtime (command line).

use xen_abi::start_info::StartInfo;

use crate::sync::InitOnce;

static START_INFO: InitOnce<StartInfo> = InitOnce::new();

/// Keeps the copy (once, at boot).
pub(crate) fn init(copy: StartInfo) {
    START_INFO.init(copy);
}

/// A copy of the `start_info` page Xen gave us.
pub fn start_info() -> &'static StartInfo {
    match START_INFO.get() {
        Some(si) => si,
        None => crate::shutdown::crash(),
    }
}

/// True when we run as the initial domain (the dom0 smoke test: no xenstore, no console ring).
pub fn is_dom0() -> bool {
    start_info().is_initdomain()
}
