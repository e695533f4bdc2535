//! The image's wiring of the service loop: options, `disktest=`, entropy (the CPU's, through
//! `kernel::entropy`), the engine's start and then `vtpm::VtpmService::step` +
//! `Clock::wait_until` until the last frontend is gone (power off). The logic is in the lib.

use alloc::boxed::Box;
use alloc::vec::Vec;

use drivers::hv::{Clock, XenStore, XsTx};
use kernel::image::Env;
use kernel::println;
use kernel::shutdown::{ShutdownReason, shutdown};
use vtpm::options::{self, DiskTest};
use vtpm::service::{self, Output, Step, VtpmService};
use vtpm::tpm12_engine;

/// The engine's tick clock: the kernel's monotonic time.
struct KernelClock;

impl tpm12::Clock for KernelClock {
    fn now_us(&mut self) -> u64 {
        kernel::time::now_ns() / 1000
    }
}

/// The service's console lines: printed.
struct Console;

impl Output for Console {
    fn line(&mut self, line: &str) {
        println!("{line}");
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
    service::report_persistence(env, &opts, &mut Console);
    let (pool, what) = entropy_pool(env);
    println!("Info: RNG: {what}");
    let rng = vtpm::rng::engine_rng(&pool);
    let engine =
        match tpm12_engine::start(&*env, Box::new(rng), Box::new(KernelClock), tpm12_engine::tpm_options(&opts), &opts)
        {
            Ok((engine, line)) => {
                println!("{line}");
                engine
            }
            Err(line) => {
                println!("{line}");
                shutdown(ShutdownReason::Poweroff)
            }
        };
    let mut svc = VtpmService::new(env, engine, &opts, &mut Console);
    loop {
        match svc.step(env, &mut Console) {
            Step::Wait(deadline) => env.wait_until(deadline),
            Step::PowerOff => shutdown(ShutdownReason::Poweroff),
        }
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
