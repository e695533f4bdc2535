//! The image's wiring of the service loop: options, `disktest=`, entropy (the CPU's, through
//! `kernel::entropy`), the engine's start and then `vtpm::VtpmService::step` +
//! `Clock::wait_until` until the last frontend is gone (power off). The logic is in the lib.

use alloc::boxed::Box;

use drivers::hv::Clock;
use kernel::image::Env;
use kernel::println;
use kernel::shutdown::{ShutdownReason, shutdown};
use vtpm::entropy;
use vtpm::options::{self, DiskTest};
use vtpm::rng::ReseedingRng;
use vtpm::service::{self, Output, Step, VtpmService};
use vtpm::tpm12_engine;

/// The engine's tick clock: the kernel's monotonic time.
struct KernelClock;

impl tpm12::Clock for KernelClock {
    fn now_us(&mut self) -> u64 {
        kernel::time::now_ns() / 1000
    }
}

/// The CPU's entropy instructions (sanity-checked by the kernel).
struct KernelCpu;

impl entropy::CpuEntropy for KernelCpu {
    fn rdseed64(&mut self) -> Option<u64> {
        kernel::entropy::rdseed64()
    }
    fn rdrand64(&mut self) -> Option<u64> {
        kernel::entropy::rdrand64()
    }
    fn tsc(&mut self) -> u64 {
        kernel::entropy::tsc()
    }
}

/// Fresh input for the RNG's rekeying: RDSEED, else RDRAND.
fn fresh_cpu_value() -> Option<u64> {
    kernel::entropy::rdseed64().or_else(kernel::entropy::rdrand64)
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
    let Some(pool) = entropy::strong_pool(env, &mut KernelCpu, &mut Console) else {
        shutdown(ShutdownReason::Poweroff)
    };
    let rng = ReseedingRng::new(&pool.bytes, fresh_cpu_value);
    drop(pool);
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
