//! The runtime shared by the three images: banner, command line, domain identity, then
//! either the selftest or the image's service loop, with `control/shutdown` handled for
//! every image (xl shutdown / xl reboot).
//!
//! An image is a `main` that calls [`run`] with its [`ImageInfo`] and a `serve` function;
//! `serve` gets an [`Env`], which implements the driver interface (`xen_hv`, in
//! `kernel/src/hv.rs`), and drives its drivers from `Clock::wait_until`, the one blocking call.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use xen_abi::types::{DomId, EvtchnPort};

use crate::cmdline::{self, CmdOption};
use crate::grant::Gnttab;
use crate::shutdown::{ShutdownReason, shutdown};
use crate::sync::InitOnce;
use crate::xenstore::ring_transport::RingTransport;
use crate::xenstore::{XsClient, XsError};

/// Static description of an image.
pub struct ImageInfo {
    /// `vtpm-stubdom`, `vtpmmgr-stubdom` or `pvgrub-measure`.
    pub name: &'static str,
    /// `env!("CARGO_PKG_VERSION")` of the image.
    pub version: &'static str,
    /// Option names the image understands (others are logged and ignored).
    pub known_options: &'static [&'static str],
    /// The line printed when the image starts waiting for work.
    pub waiting_line: &'static str,
}

/// The xenstore client of a guest (over the shared ring page).
pub type XsRingClient = XsClient<RingTransport>;

/// The in-guest selftest: runs its checks on `Env`, returns (passed, failed).
pub type Selftest = fn(&mut Env) -> (u32, u32);

/// The selftest `extra="selftest"` runs. The runtime does not depend on the selftest module:
/// `kernel::image_main!` registers `kernel::selftest::run` here before the image's `main`.
static SELFTEST: InitOnce<Selftest> = InitOnce::new();

/// Registers the selftest that the `selftest` option runs (once; `image_main!` does it).
pub fn register_selftest(run: Selftest) {
    SELFTEST.init(run);
}

/// Token of the runtime's `control/shutdown` watch.
pub const SHUTDOWN_TOKEN: &str = "kernel/control-shutdown";
const SHUTDOWN_PATH: &str = "control/shutdown";

/// Everything an image's service loop needs.
pub struct Env {
    pub info: &'static ImageInfo,
    /// Options from `extra=`, in order (known and unknown).
    pub options: Vec<CmdOption>,
    /// `None` as dom0 (smoke tests), where there is no xenstore.
    pub xs: Option<XsRingClient>,
    pub gnttab: Gnttab,
    pub domid: DomId,
    pub name: String,
    /// Ports bound through the `drivers::hv` traits (waited on by `Clock::wait_until`).
    pub(crate) driver_ports: Vec<EvtchnPort>,
    /// Ports that fired during `wait_until`, not yet taken by `take_pending`.
    pub(crate) fired: Vec<EvtchnPort>,
    /// `watch_events_received()` when `Clock::wait_until` last returned.
    pub(crate) watch_seen: u64,
}

impl Env {
    /// The value of option `key` (last one wins).
    pub fn option(&self, key: &str) -> Option<&str> {
        cmdline::value_of(&self.options, key)
    }

    /// True if flag `name` was given.
    pub fn flag(&self, name: &str) -> bool {
        cmdline::has_flag(&self.options, name)
    }

    /// Reads `control/shutdown`; on `poweroff`/`halt` or `reboot` clears it and stops.
    pub(crate) fn check_shutdown(&mut self) {
        let Some(xs) = self.xs.as_mut() else { return };
        let value = match xs.read(SHUTDOWN_PATH) {
            Ok(v) => v,
            Err(XsError::NoEnt) => return,
            Err(e) => {
                log::warn!("reading {SHUTDOWN_PATH}: {e}");
                return;
            }
        };
        let reason = match value.as_str() {
            "" => return,
            "poweroff" | "halt" => ShutdownReason::Poweroff,
            "reboot" => ShutdownReason::Reboot,
            other => {
                log::warn!("ignoring unsupported shutdown request '{other}'");
                return;
            }
        };
        crate::println!("shutdown requested: {}", value);
        if let Err(e) = xs.write(SHUTDOWN_PATH, "") {
            log::warn!("clearing {SHUTDOWN_PATH}: {e}");
        }
        shutdown(reason)
    }

    /// Before the domain is handed to another kernel (`pvboot`): drops the runtime's
    /// `control/shutdown` watch, so xenstored sends the next kernel no events for our token.
    pub fn end_shutdown_watch(&mut self) {
        if let Some(xs) = self.xs.as_mut()
            && let Err(e) = xs.unwatch(SHUTDOWN_PATH, SHUTDOWN_TOKEN)
        {
            log::warn!("unwatching {SHUTDOWN_PATH}: {e}");
        }
    }

    /// Serves nothing: waits for `xl shutdown`/`xl reboot` (or `xl destroy`); the shutdown
    /// watch is handled inside `Clock::wait_until`.
    pub fn idle_until_shutdown(&mut self) -> ! {
        if self.xs.is_none() {
            // dom0 smoke mode: nobody can ask us to stop.
            shutdown(ShutdownReason::Poweroff);
        }
        loop {
            let next = crate::time::now_ns().saturating_add(IDLE_WAKE_NS);
            xen_hv::Clock::wait_until(self, next);
        }
    }
}

/// How often an idle image wakes up to look at xenstore anyway (a watch event also wakes it).
const IDLE_WAKE_NS: u64 = 60_000_000_000;

/// Options every image understands through this runtime: `selftest`, `loglevel=` and
/// `crashtest=pagefault|panic|ud2` (deliberately faults, to check that a fault is reported on
/// the console and crashes the domain instead of killing it silently).
///
/// `mmiotest=0x<addr>` adds a selftest check that maps that MMIO page from `DOMID_IO`.
pub const RUNTIME_OPTIONS: &[&str] = &["selftest", "loglevel", "crashtest", "mmiotest"];

fn print_options(info: &ImageInfo, options: &[CmdOption]) {
    for o in options {
        if info.known_options.contains(&o.name()) || RUNTIME_OPTIONS.contains(&o.name()) {
            crate::println!("option: {}", crate::cmdline::shown(o));
        } else {
            crate::println!("Warning: ignoring unknown option '{}'", crate::cmdline::shown(o));
        }
    }
}

fn identify(xs: &mut Option<XsRingClient>) -> (DomId, String) {
    let Some(xs) = xs.as_mut() else {
        return (DomId(0), "Domain-0".to_string());
    };
    let domid = match xs.read("domid") {
        Ok(s) => s.trim().parse::<u16>().map(DomId).unwrap_or_else(|_| {
            log::warn!("domid '{s}' is not a number");
            DomId::SELF
        }),
        Err(e) => {
            log::warn!("reading domid: {e}");
            DomId::SELF
        }
    };
    let name = xs.read("name").unwrap_or_else(|e| format!("(unknown: {e})"));
    (domid, name)
}

/// Runs an image: banner, options, identity, then selftest or `serve`.
pub fn run(info: &'static ImageInfo, serve: fn(&mut Env) -> !) -> ! {
    crate::println!("{} {} (Rust) starting", info.name, info.version);
    let si = crate::start_info::start_info();
    let raw = cmdline::raw(si.cmd_line_bytes());
    crate::println!("cmdline: \"{}\"", String::from_utf8_lossy(raw));
    let options = cmdline::parse(raw);
    print_options(info, &options);
    if let Some(level) = cmdline::value_of(&options, "loglevel")
        && !crate::logger::set_level(level)
    {
        log::warn!("unknown loglevel '{level}'");
    }
    let mut xs = RingTransport::from_start_info().map(XsClient::new);
    let (domid, name) = identify(&mut xs);
    if xs.is_some() {
        crate::println!("domain: id={} name={}", domid.0, name);
    } else {
        crate::println!("domain: id=0 name=Domain-0 (dom0 smoke mode: no xenstore, no console ring)");
    }
    let gnttab = match Gnttab::init() {
        Ok(g) => g,
        Err(e) => panic!("grant table setup failed: {e}"),
    };
    let mut env =
        Env { info, options, xs, gnttab, domid, name, driver_ports: Vec::new(), fired: Vec::new(), watch_seen: 0 };
    if let Some(xs) = env.xs.as_mut() {
        if let Err(e) = xs.watch(SHUTDOWN_PATH, SHUTDOWN_TOKEN) {
            log::warn!("cannot watch {SHUTDOWN_PATH}: {e}");
        }
        // Tell the toolstack we handle these (as PV Linux does); not fatal if refused.
        let _ = xs.write("control/feature-poweroff", "1");
        let _ = xs.write("control/feature-reboot", "1");
    }
    if let Some(kind) = env.option("crashtest") {
        crash_test(kind);
    }
    if env.flag("selftest") {
        let (passed, failed) = match SELFTEST.get() {
            Some(run) => run(&mut env),
            None => {
                log::error!("selftest: no selftest registered in this image");
                (0, 1)
            }
        };
        crate::println!("selftest: {} passed, {} failed", passed, failed);
        shutdown(ShutdownReason::Poweroff);
    }
    crate::println!("{}", info.waiting_line);
    serve(&mut env)
}

/// Faults on purpose (`crashtest=`); unknown kinds are reported and ignored.
fn crash_test(kind: &str) {
    crate::println!("crashtest: {}", kind);
    match kind {
        "pagefault" => {
            // An address in the non-canonical-free, never-mapped low half.
            let p = 0x10usize as *const u64;
            // SAFETY: not safe at all, on purpose: this read must fault; the trap handler
            // reports it and crashes the domain, so execution never continues.
            let v = unsafe { core::ptr::read_volatile(p) };
            crate::println!("crashtest: read {v:#x} without a fault");
        }
        "panic" => panic!("crashtest requested a panic"),
        "ud2" => crate::arch::cpu::ud2(),
        other => log::warn!("unknown crashtest '{other}'"),
    }
}

/// A `serve` that serves nothing yet.
pub fn serve_nothing(env: &mut Env) -> ! {
    env.idle_until_shutdown()
}
