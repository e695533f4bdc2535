//! What libxl does for `vtpm=[…]` and `disk=[…]` (fact sheet §3.1–§3.2): the frontend and
//! backend directories, written by dom0 in one transaction, with the permissions xl sets
//! (frontend dir owned by the frontend and readable by the backend, and the reverse).

use super::World;
use drivers::hv::XsError;

/// Paths of one device.
#[derive(Clone, Debug)]
pub struct DevicePaths {
    /// `/local/domain/<fe>/device/<kind>/<devid>`.
    pub frontend: String,
    /// `/local/domain/<be>/backend/<kind>/<fe>/<devid>`.
    pub backend: String,
}

fn add_device(w: &World, kind: &str, fe: u16, be: u16, devid: u32, be_keys: &[(&str, String)]) -> DevicePaths {
    let frontend = format!("/local/domain/{fe}/device/{kind}/{devid}");
    let backend = format!("/local/domain/{be}/backend/{kind}/{fe}/{devid}");
    loop {
        let mut s = w.state.borrow_mut();
        let st = &mut s.store;
        let t = st.tx_start(0);
        let mut put = |p: &str, v: &str| st.write(0, t, p, Some(v)).expect("toolstack write");
        put(&format!("{backend}/frontend"), &frontend);
        put(&format!("{backend}/frontend-id"), &fe.to_string());
        put(&format!("{backend}/online"), "1");
        put(&format!("{backend}/state"), "1");
        put(&format!("{backend}/handle"), &devid.to_string());
        for (k, v) in be_keys {
            put(&format!("{backend}/{k}"), v);
        }
        put(&format!("{frontend}/backend"), &backend);
        put(&format!("{frontend}/backend-id"), &be.to_string());
        put(&format!("{frontend}/state"), "1");
        put(&format!("{frontend}/handle"), &devid.to_string());
        match st.tx_end(0, t, true) {
            Ok(()) => break,
            Err(XsError::Again) => continue,
            Err(e) => panic!("toolstack transaction: {e:?}"),
        }
    }
    let mut s = w.state.borrow_mut();
    let st = &mut s.store;
    for dir in [
        format!("/local/domain/{be}/backend"),
        format!("/local/domain/{be}/backend/{kind}"),
        format!("/local/domain/{be}/backend/{kind}/{fe}"),
    ] {
        st.set_perms(&dir, be, &[]);
    }
    for k in ["", "/frontend", "/frontend-id", "/online", "/state", "/handle"]
        .iter()
        .map(|s| s.to_string())
        .chain(be_keys.iter().map(|(k, _)| format!("/{k}")))
    {
        st.set_perms(&format!("{backend}{k}"), be, &[fe]);
    }
    for dir in [format!("/local/domain/{fe}/device"), format!("/local/domain/{fe}/device/{kind}")] {
        st.set_perms(&dir, fe, &[]);
    }
    for k in ["", "/backend", "/backend-id", "/state", "/handle"] {
        st.set_perms(&format!("{frontend}{k}"), fe, &[be]);
    }
    DevicePaths { frontend, backend }
}

/// `xl vtpm-attach` / `vtpm=["backend=<be>,uuid=<uuid>"]`.
pub fn vtpm_attach(w: &World, fe: u16, be: u16, devid: u32, uuid: &str) -> DevicePaths {
    add_device(w, "vtpm", fe, be, devid, &[("uuid", uuid.to_string()), ("resume", "False".to_string())])
}

/// `disk=[…]`: a vbd with the given virtual device number (768 = hda/xvda).
pub fn vbd_attach(w: &World, fe: u16, be: u16, devid: u32) -> DevicePaths {
    add_device(
        w,
        "vbd",
        fe,
        be,
        devid,
        &[("dev", "xvda".to_string()), ("type", "file".to_string()), ("mode", "w".to_string())],
    )
}

/// The first half of `xl vtpm-detach`: backend `online=0` and, unless already 6, `state=5`.
/// libxl then waits (10 s) for `state == 6` and removes both directories.
pub fn detach_begin(w: &World, p: &DevicePaths) {
    w.xs_write(&format!("{}/online", p.backend), "0");
    if w.xs(&format!("{}/state", p.backend)).as_deref() != Some("6") {
        w.xs_write(&format!("{}/state", p.backend), "5");
    }
}

/// `xl vtpm-detach` as libxl 4.17 does it for a backend in a driver domain (not dom0): the
/// first half ([`detach_begin`]), then it waits for backend state 6, then (at most 10 s) for
/// the driver domain to remove the backend dir, and only then removes the frontend dir.
/// Returns how long it took (virtual ns), or the error libxl would print.
pub fn detach_as_libxl(w: &World, p: &DevicePaths) -> Result<u64, String> {
    const MS: u64 = 1_000_000;
    const TIMEOUT: u64 = 10_000 * MS;
    let t0 = w.now();
    detach_begin(w, p);
    if !w.run_until(MS, TIMEOUT, || state(w, &p.backend) == Some(6)) {
        return Err(format!("unable to remove device with path {}", p.backend));
    }
    if !w.run_until(MS, TIMEOUT, || w.xs(&format!("{}/state", p.backend)).is_none() && w.xs(&p.backend).is_none()) {
        return Err(format!("timed out while waiting for {} to be removed", p.backend));
    }
    w.xs_rm(&p.frontend);
    Ok(w.now() - t0)
}

/// The last half of a detach: both directories removed.
pub fn detach_finish(w: &World, p: &DevicePaths) {
    w.xs_rm(&p.backend);
    w.xs_rm(&p.frontend);
}

/// A node's value parsed as a xenbus state number.
pub fn state(w: &World, dir: &str) -> Option<u8> {
    w.xs(&format!("{dir}/state"))?.parse().ok()
}
