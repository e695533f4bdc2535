//! A diagnostic for dom0: exercises each device of this crate once and says, per step, what
//! worked (`vtpmctl probe` prints it). It changes nothing that outlives it: the event channels
//! are a loopback pair inside dom0, the grant is of our own page to `peer` (dom0 itself unless
//! told otherwise) and is ended again, the xenstore watch is removed.

use std::fmt;

use xen_hv::{DomId, EventChannels, GrantTable, PageAccess, XenStore, XsTx};

use crate::{Dom0Grants, Evtchn, StdClock, grant, sys, xenstore};

/// One step's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was tried (`evtchn: bind_interdomain`).
    pub what: String,
    /// Did it work?
    pub ok: bool,
    /// The value it produced, or the error.
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", if self.ok { "ok  " } else { "FAIL" }, self.what, self.detail)
    }
}

#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn push<T, E: fmt::Display>(&mut self, what: &str, r: Result<T, E>, show: impl FnOnce(&T) -> String) -> Option<T> {
        match r {
            Ok(v) => {
                self.0.push(Check { what: what.into(), ok: true, detail: show(&v) });
                Some(v)
            }
            Err(e) => {
                self.0.push(Check { what: what.into(), ok: false, detail: e.to_string() });
                None
            }
        }
    }
}

/// Runs every check; `peer` is the domain our test grant is offered to (dom0 by default: then
/// gntdev maps it back, a full loop inside dom0).
pub fn run(peer: Option<DomId>) -> Vec<Check> {
    let mut r = Report::default();
    probe_xenstore(&mut r);
    probe_evtchn(&mut r);
    probe_grants(&mut r, peer.unwrap_or(DomId(0)));
    probe_clock(&mut r);
    r.0
}

fn probe_xenstore(r: &mut Report) {
    let mut xs = match xenstore::open() {
        Ok(xs) => xs,
        Err(e) => {
            r.push("xenstore: open", Err::<(), _>(e), |_| String::new());
            return;
        }
    };
    let via = xs.transport_mut().path.clone();
    r.push("xenstore: open", Ok::<(), String>(()), |_| format!("via {via}"));
    r.push("xenstore: read /local/domain/0/name", XenStore::read(&mut xs, XsTx::NONE, "/local/domain/0/name"), |v| {
        v.clone()
    });
    r.push("xenstore: directory /local/domain", XenStore::directory(&mut xs, XsTx::NONE, "/local/domain"), |v| {
        format!("domains {}", v.join(" "))
    });
    let token = format!("vtpmctl-probe-{}", std::process::id());
    if r.push("xenstore: watch /local/domain/0/name", XenStore::watch(&mut xs, "/local/domain/0/name", &token), |_| {
        "set".into()
    })
    .is_some()
    {
        let clock = StdClock::new();
        let deadline = clock.now_ns() + 2_000_000_000;
        let mut ev = None;
        while ev.is_none() && clock.now_ns() < deadline {
            ev = xs.next_watch_event(&token);
            if ev.is_none() {
                let _ = sys::poll_readable(&[xs.transport_mut().fd()], 50);
            }
        }
        r.push("xenstore: watch fires once when set", ev.ok_or("no event within 2 s"), |p| p.clone());
        r.push("xenstore: unwatch", XenStore::unwatch(&mut xs, "/local/domain/0/name", &token), |_| "removed".into());
    }
}

fn probe_evtchn(r: &mut Report) {
    let Some(mut ev) = r.push("evtchn: open /dev/xen/evtchn", Evtchn::open(), |_| "opened".into()) else {
        return;
    };
    let Some(a) =
        r.push("evtchn: bind_unbound_port (remote dom0)", ev.alloc_unbound(DomId(0)), |p| format!("port {}", p.0))
    else {
        return;
    };
    if let Some(b) = r.push("evtchn: bind_interdomain (dom0, that port)", ev.bind_interdomain(DomId(0), a), |p| {
        format!("port {}", p.0)
    }) {
        if r.push("evtchn: notify", ev.notify(b), |_| format!("sent on port {}", b.0)).is_some() {
            let mut fired = false;
            for _ in 0..40 {
                let _ = sys::poll_readable(&[ev.fd()], 50);
                if ev.take_pending(a) {
                    fired = true;
                    break;
                }
            }
            r.push(
                "evtchn: the other end fired (read, re-armed)",
                if fired { Ok(()) } else { Err("no event within 2 s") },
                |_| format!("port {} pending", a.0),
            );
        }
        ev.close(b);
    }
    ev.close(a);
}

fn probe_grants(r: &mut Report, peer: DomId) {
    let mut opened = true;
    for dev in [grant::GNTALLOC_DEVICE, grant::GNTDEV_DEVICE] {
        let f = std::fs::File::options().read(true).write(true).open(dev);
        opened &= r.push(&format!("gnt: open {dev}"), f, |_| "opened".into()).is_some();
    }
    if !opened {
        return;
    }
    let mut g = Dom0Grants::new();
    let Some(mut page) = r.push("gnt: alloc_page", g.alloc_page(), |_| "4096 bytes".into()) else { return };
    let pattern = *b"vtpmctl probe\0\x5a\xa5";
    let _ = page.write(0, &pattern);
    let Some(gref) = r.push(
        &format!("gntalloc: alloc_gref + mmap (to dom{})", peer.0),
        g.grant_foreign_access(&page, peer, false),
        |g| format!("gref {}", g.0),
    ) else {
        return;
    };
    let mut back = [0u8; 16];
    r.push(
        "gntalloc: the shared page kept what was written before the grant",
        page.read(0, &mut back)
            .map_err(|e| e.to_string())
            .and_then(|()| if back == pattern { Ok(()) } else { Err(format!("read back {back:02x?}")) }),
        |_| "16 bytes match".into(),
    );
    if peer == DomId(0)
        && let Some(m) = r.push("gntdev: map_grant_ref (our own grant)", g.map_grant_ref(DomId(0), gref, true), |_| {
            "mapped read-only".into()
        })
    {
        let mut seen = [0u8; 16];
        r.push(
            "gntdev: the mapping shows the page",
            m.read(0, &mut seen)
                .map_err(|e| e.to_string())
                .and_then(|()| if seen == pattern { Ok(()) } else { Err(format!("saw {seen:02x?}")) }),
            |_| "16 bytes match".into(),
        );
        r.push("gntdev: unmap_grant_ref", g.unmap_grant_ref(m), |_| "unmapped".into());
    }
    r.push("gntalloc: dealloc_gref", g.end_foreign_access(gref), |_| "ended".into());
}

fn probe_clock(r: &mut Report) {
    let c = StdClock::new();
    let t0 = c.now_ns();
    std::thread::sleep(std::time::Duration::from_millis(10));
    let dt = c.now_ns().saturating_sub(t0);
    r.push(
        "clock: monotonic",
        if dt >= 10_000_000 { Ok(dt) } else { Err(format!("only {dt} ns passed in a 10 ms sleep")) },
        |d| format!("10 ms sleep = {} us", d / 1000),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_print_one_line_each() {
        let ok = Check { what: "evtchn: open".into(), ok: true, detail: "opened".into() };
        assert_eq!(ok.to_string(), "ok   evtchn: open: opened");
        let bad = Check { what: "gnt".into(), ok: false, detail: "errno 2".into() };
        assert_eq!(bad.to_string(), "FAIL gnt: errno 2");
    }

    #[test]
    fn without_xen_every_device_step_fails_cleanly() {
        // On a host without /dev/xen the probe reports failures; it must not panic.
        if std::path::Path::new("/dev/xen/evtchn").exists() {
            return;
        }
        let checks = run(None);
        assert!(checks.iter().any(|c| c.what.starts_with("evtchn: open") && !c.ok));
        assert!(checks.iter().any(|c| c.what.starts_with("clock") && c.ok));
    }
}
