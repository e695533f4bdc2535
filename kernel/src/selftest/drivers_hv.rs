//! Selftest checks of the driver interface (`xen_hv`, `drivers::hv`) implementation and of MMIO mapping.

use alloc::format;
use alloc::string::String;

use super::xenstore::DIR;
use crate::image::Env;

/// The driver interface implementation, used the way a driver uses it.
pub(super) fn check_driver_traits(env: &mut Env) -> Result<(), String> {
    use xen_hv::{Clock, EventChannels, GrantTable, PageAccess, XenStore, XsTx};
    let me = env.domid;
    // Grant a page to ourselves, map it, talk through both views.
    let mut page = env.alloc_page().map_err(|e| format!("alloc_page: {e:?}"))?;
    page.write_u32_le(8, 0xC0FF_EE00).map_err(|e| format!("page write: {e:?}"))?;
    ensure!(page.write(4095, b"xx").is_err(), "write past the page end accepted");
    let gref = env.grant_foreign_access(&page, me, false).map_err(|e| format!("grant: {e:?}"))?;
    let mut m = env.map_grant_ref(me, gref, false).map_err(|e| format!("map: {e:?}"))?;
    let seen = m.read_u32_le(8).map_err(|e| format!("mapping read: {e:?}"))?;
    m.write_u32_le(16, 0x1234_5678).map_err(|e| format!("mapping write: {e:?}"))?;
    let busy = env.end_foreign_access(gref);
    env.unmap_grant_ref(m).map_err(|e| format!("unmap: {e:?}"))?;
    env.end_foreign_access(gref).map_err(|e| format!("end: {e:?}"))?;
    ensure!(seen == 0xC0FF_EE00, "mapping read {seen:#x}");
    ensure!(page.read_u32_le(16) == Ok(0x1234_5678), "write through mapping not seen");
    ensure!(busy == Err(xen_hv::HvError::Xen(-16)), "end while mapped gave {busy:?}");
    drop(page);
    // Event channel loopback through wait_until / take_pending.
    let a = env.alloc_unbound(me).map_err(|e| format!("alloc_unbound: {e:?}"))?;
    let b = env.bind_interdomain(me, a).map_err(|e| format!("bind_interdomain: {e:?}"))?;
    env.notify(b).map_err(|e| format!("notify: {e:?}"))?;
    let start = env.now_ns();
    env.wait_until(start + 1_000_000_000);
    let waited = env.now_ns() - start;
    let first = env.take_pending(a);
    let second = env.take_pending(a);
    env.close(b);
    env.close(a);
    ensure!(first && !second, "take_pending gave {first} then {second}");
    ensure!(waited < 500_000_000, "wait_until did not return early ({waited} ns)");
    // Xenstore through the trait, with a watch event per token.
    if env.xs.is_some() {
        let path = format!("{DIR}/hv");
        env.write(XsTx::NONE, &path, "1").map_err(|e| format!("write: {e:?}"))?;
        env.watch(&path, "selftest-hv").map_err(|e| format!("watch: {e:?}"))?;
        let deadline = env.now_ns() + 2_000_000_000;
        let mut fired = None;
        while fired.is_none() && env.now_ns() < deadline {
            fired = env.next_watch_event("selftest-hv");
            if fired.is_none() {
                env.wait_until(deadline);
            }
        }
        env.unwatch(&path, "selftest-hv").map_err(|e| format!("unwatch: {e:?}"))?;
        ensure!(fired.as_deref() == Some(path.as_str()), "watch event {fired:?}");
        let r = env.read(XsTx::NONE, &format!("{DIR}/hv-missing"));
        ensure!(r == Err(xen_hv::XsError::NoEnt), "missing node gave {r:?}");
    }
    Ok(())
}

/// `mmiotest=0x<machine address>`: maps that page from DOMID_IO (the domain needs `iomem=`
/// for it) and reads the TPM TIS identification register DID_VID at offset 0xF00 (fact sheet
/// §6.1), which must not float (all ones) or be zero.
pub(super) fn check_mmio(env: &mut Env) -> Result<(), String> {
    use xen_hv::Mmio;
    let arg = env.option("mmiotest").unwrap_or("");
    let hex = arg.strip_prefix("0x").ok_or(format!("mmiotest={arg}: expected 0x<hex>"))?;
    let base = u64::from_str_radix(hex, 16).map_err(|_| format!("mmiotest={arg}: bad hex"))?;
    let mut r = crate::hv::MmioRegion::map(base, 1).map_err(|e| format!("map {base:#x}: errno {}", e.0))?;
    let did_vid = r.read32(0xF00);
    let access = r.read8(0);
    let outside = r.read32(0x1000);
    drop(r);
    log::info!("mmio {base:#x}: DID_VID {did_vid:#010x} ACCESS {access:#04x}");
    ensure!(did_vid != 0xFFFF_FFFF && did_vid != 0, "DID_VID reads {did_vid:#x}");
    ensure!(outside == 0xFFFF_FFFF, "read outside the window gave {outside:#x}");
    Ok(())
}
