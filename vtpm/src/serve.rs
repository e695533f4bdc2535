//! The vtpm's service loop: options, entropy, the engine (manufactured and started as the C
//! vtpm does: `TPM_Startup(mode)` then `TPM_SelfTestFull`, so a guest's own TPM_Startup gets
//! `TPM_INVALID_POSTINIT`, which Linux handles), then tpmback: each request goes through the
//! engine, `Info: VTPM attached to Frontend X/Y` is printed on connect, and the domain powers
//! off when its last frontend's backend directory is gone. At `loglevel=debug` a service-time
//! summary is printed every 10 s while requests come in, and when a frontend detaches.
//!
//! Not here yet: the manager connection (tpmfront → vtpmmgr), hence no persistent state, no
//! `hwinitpcr`, and the RNG is seeded from the CPU rather than the manager's GetRandom.

use alloc::boxed::Box;
use alloc::vec::Vec;

use drivers::hv::{Clock, XenStore, XsTx};
use drivers::tpmback::{BackendEvent, TpmBack};
use kernel::image::Env;
use kernel::println;
use kernel::shutdown::{ShutdownReason, shutdown};
use tpm12::{Tpm, TpmOptions};

use vtpm::options::{self, DiskTest, StartupMode, VtpmOptions};
use vtpm::stats::{self, EngineCounters};

const REPORT_EVERY_NS: u64 = 10_000_000_000;
const IDLE_WAIT_NS: u64 = 60_000_000_000;

/// The engine's tick clock: the kernel's monotonic time.
struct KernelClock;

impl tpm12::Clock for KernelClock {
    fn now_us(&mut self) -> u64 {
        kernel::time::now_ns() / 1000
    }
}

/// The image's `serve`: never returns (powers off).
pub fn serve(env: &mut Env) -> ! {
    let (opts, warnings) = options::parse(&env.options);
    for w in &warnings {
        println!("{w}");
    }
    if let Some(t) = opts.disktest {
        for line in vtpm::disktest::run(env, t == DiskTest::Verify) {
            println!("{line}");
        }
        shutdown(ShutdownReason::Poweroff)
    }
    report_persistence(env, &opts);
    let mut tpm = start_engine(env, &opts);
    serve_frontends(env, &opts, &mut tpm)
}

/// Says where the TPM state lives (nowhere yet) and which options cannot apply.
fn report_persistence(env: &mut Env, opts: &VtpmOptions) {
    let own = XenStore::directory(env, XsTx::NONE, "device/vtpm").map(|d| !d.is_empty()).unwrap_or(false);
    if own {
        println!(
            "Warning: device/vtpm/0 is there, but the manager protocol is not implemented yet: TPM state is volatile (lost when this domain stops)"
        );
    } else {
        println!("Info: no vTPM manager (no device/vtpm/0): TPM state is volatile (lost when this domain stops)");
    }
    if opts.hwinitpcr != 0 {
        println!(
            "Warning: hwinitpcr={}: hardware PCR values come from the manager; not applied without a manager",
            options::format_pcr_mask(opts.hwinitpcr)
        );
    }
    for l in &opts.locality {
        println!("Warning: locality={l}: needs the frontends' XSM labels (FLASK); not applied");
    }
}

/// Collects the entropy pool for the engine's RNG; returns it and a description.
fn entropy_pool(env: &mut Env) -> (Vec<u8>, &'static str) {
    let mut pool = Vec::with_capacity(1024);
    pool.extend_from_slice(&env.domid.0.to_le_bytes());
    pool.extend_from_slice(&kernel::time::now_ns().to_le_bytes());
    let (sec, nsec) = kernel::time::wall_clock();
    pool.extend_from_slice(&sec.to_le_bytes());
    pool.extend_from_slice(&nsec.to_le_bytes());
    let mut rdrand = 0;
    for _ in 0..32 {
        if let Some(v) = kernel::entropy::rdrand64() {
            pool.extend_from_slice(&v.to_le_bytes());
            rdrand += 1;
        }
        // timing jitter of a xenstore round trip (the other domain and Xen are involved)
        let t0 = kernel::entropy::tsc();
        let _ = XenStore::read(env, XsTx::NONE, "domid");
        let t1 = kernel::entropy::tsc();
        pool.extend_from_slice(&t0.to_le_bytes());
        pool.extend_from_slice(&(t1.wrapping_sub(t0)).to_le_bytes());
    }
    let what = if rdrand == 32 {
        "ChaCha20 seeded from 32 RDRAND values (CPUID lists RDRAND) mixed with TSC/xenstore timing and Xen's clocks"
    } else if rdrand > 0 {
        "ChaCha20 seeded from some RDRAND values (RDRAND failed at times) mixed with TSC/xenstore timing and Xen's clocks"
    } else {
        "ChaCha20 seeded from TSC/xenstore timing and Xen's clocks only: NO RDRAND on this CPU, weak seed (the manager's GetRandom is not available yet)"
    };
    (pool, what)
}

fn startup_command(mode: StartupMode) -> [u8; 12] {
    // TPM_Startup: tag RQU_COMMAND, paramSize 12, ordinal 0x99, TPM_STARTUP_TYPE
    let t = mode as u16;
    [0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, (t >> 8) as u8, t as u8]
}

/// TPM_SelfTestFull (ordinal 0x50).
const SELF_TEST_FULL: [u8; 10] = [0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x50];

fn return_code(resp: &[u8]) -> u32 {
    match resp.get(6..10) {
        Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        None => u32::MAX,
    }
}

/// Manufactures the engine (EK generated), then runs TPM_Startup and TPM_SelfTestFull.
fn start_engine(env: &mut Env, opts: &VtpmOptions) -> Tpm {
    let (pool, what) = entropy_pool(env);
    println!("Info: RNG: {what}");
    let rng = vtpm::rng::engine_rng(&pool);
    let t0 = kernel::time::now_ns();
    let tpm_opts = TpmOptions { maintcmds: opts.maintcmds, ..TpmOptions::default() };
    let mut tpm = match Tpm::manufacture(Box::new(rng), Box::new(KernelClock), tpm_opts) {
        Ok(t) => t,
        Err(rc) => {
            println!("ERROR: cannot manufacture the TPM: {rc:?}; powering off");
            shutdown(ShutdownReason::Poweroff)
        }
    };
    // volatile: the manufactured image is not kept anywhere
    let _ = tpm.save_image();
    let t1 = kernel::time::now_ns();
    let mode = opts.startup;
    let rc_startup = return_code(&tpm.execute(0, &startup_command(mode)));
    let rc_selftest = return_code(&tpm.execute(0, &SELF_TEST_FULL));
    if tpm.state_changed() {
        let _ = tpm.save_image();
    }
    println!(
        "Info: TPM 1.2 engine manufactured in {} ms (EK generated); TPM_Startup({}) rc={}, TPM_SelfTestFull rc={}; maintenance commands {}",
        (t1 - t0) / 1_000_000,
        match mode {
            StartupMode::Clear => "ST_CLEAR",
            StartupMode::State => "ST_STATE",
            StartupMode::Deactivated => "ST_DEACTIVATED",
        },
        rc_startup,
        rc_selftest,
        if opts.maintcmds { "on" } else { "off" }
    );
    tpm
}

fn serve_frontends(env: &mut Env, opts: &VtpmOptions, tpm: &mut Tpm) -> ! {
    let mut back = TpmBack::<Env>::new();
    if let Err(e) = back.start(env) {
        println!("ERROR: cannot watch backend/vtpm: {e:?}");
    }
    println!("Info: VTPM serving frontends (backend/vtpm)");
    let mut counters = EngineCounters::default();
    let mut seen_frontend = false;
    let mut reported = 0u64;
    let mut next_report = env.now_ns() + REPORT_EVERY_NS;
    loop {
        back.poll(env);
        while let Some(ev) = back.take_event() {
            match ev {
                BackendEvent::Attached(id) => println!("Info: VTPM attached to Frontend {}/{}", id.domid.0, id.handle),
                BackendEvent::Detached(id) => {
                    println!("Info: VTPM detached from Frontend {}/{}", id.domid.0, id.handle);
                    if opts.debug {
                        log::debug!("{}", stats::summary(&back.stats(), &counters));
                        reported = back.stats().count;
                    }
                }
                // tpmback has logged it (a backend dir of another domain, never connected).
                BackendEvent::Refused(..) => {}
            }
        }
        while let Some(req) = back.next_request(env) {
            let resp = tpm.execute(req.locality, &req.command);
            if tpm.state_changed() {
                counters.state_changes += 1;
                let _ = tpm.save_image();
            }
            match back.respond(env, &req, &resp) {
                Ok(()) => {
                    if stats::ordinal(&req.command) == Some(stats::ORD_EXTEND) {
                        counters.extend_served(env.now_ns().saturating_sub(req.seen_ns));
                    }
                }
                Err(e) => log::warn!(
                    "vtpm: response to {}/{} not delivered: {e:?}",
                    req.frontend.domid.0,
                    req.frontend.handle
                ),
            }
        }
        if back.instances() > 0 {
            seen_frontend = true;
        } else if seen_frontend {
            println!("Info: last frontend gone; shutting down");
            if opts.debug {
                log::debug!("{}", stats::summary(&back.stats(), &counters));
            }
            shutdown(ShutdownReason::Poweroff)
        }
        let now = env.now_ns();
        if opts.debug && now >= next_report {
            if back.stats().count != reported {
                reported = back.stats().count;
                log::debug!("{}", stats::summary(&back.stats(), &counters));
            }
            next_report = now + REPORT_EVERY_NS;
        }
        let deadline = if opts.debug { next_report } else { now + IDLE_WAIT_NS };
        env.wait_until(deadline);
    }
}
