//! The image's wiring of the service loop: options, `disktest=`, entropy (the CPU's, through
//! `kernel::entropy`, and with a manager the hardware TPM's), the engine's start (volatile, or
//! with a manager `vtpm::persist::start` over tpmfront and blkfront) and then
//! `vtpm::VtpmService::step` + `Clock::wait_until` until the last frontend is gone (power
//! off). The logic is in the lib.

use alloc::boxed::Box;

use drivers::hv::Clock;
use kernel::image::Env;
use kernel::println;
use kernel::shutdown::{ShutdownReason, shutdown};
use vtpm::entropy;
use vtpm::manager::Manager;
use vtpm::options::{self, DiskTest};
use vtpm::persist;
use vtpm::rng::ReseedingRng;
use vtpm::service::{self, Output, Step, VtpmService};
use vtpm::state_disk::BlkDisk;
use vtpm::{tpm12_engine, tpm20_engine};

/// The engine's tick clock: the kernel's monotonic time.
struct KernelClock;

impl tpm12::Clock for KernelClock {
    fn now_us(&mut self) -> u64 {
        kernel::time::now_ns() / 1000
    }
}

impl tpm20::Clock for KernelClock {
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
    if vtpm::manager::configured(env) {
        serve_persistent(env, &opts)
    }
    service::report_persistence(env, &opts, &mut Console);
    let Some(pool) = entropy::strong_pool(env, &mut KernelCpu, &mut Console) else {
        shutdown(ShutdownReason::Poweroff)
    };
    let rng = ReseedingRng::new(&pool.bytes, fresh_cpu_value);
    drop(pool);
    if opts.tpm2 {
        let (engine, line) = tpm20_engine::start(&*env, Box::new(rng), Box::new(KernelClock));
        println!("{line}");
        let svc = VtpmService::new(env, engine, &opts, &mut Console);
        run(env, svc)
    }
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
    let svc = VtpmService::new(env, engine, &opts, &mut Console);
    run(env, svc)
}

fn run<E: vtpm::Engine>(env: &mut Env, mut svc: VtpmService<Env, E>) -> ! {
    loop {
        match svc.step(env, &mut Console) {
            Step::Wait(deadline) => env.wait_until(deadline),
            Step::PowerOff => shutdown(ShutdownReason::Poweroff),
        }
    }
}

/// With a manager (`device/vtpm/0`): wait for it, seed from it too, restore or make the state.
fn serve_persistent(env: &mut Env, opts: &options::VtpmOptions) -> ! {
    let mut manager = Manager::<Env>::connect(env, &mut Console);
    let random = match manager.get_random(env, entropy::MANAGER_RANDOM_BYTES as u32) {
        Ok(r) => Some(r),
        Err(e) => {
            println!("Warning: no random bytes from the hardware TPM via the manager: {e}");
            None
        }
    };
    let Some(pool) = entropy::strong_pool_with(env, &mut KernelCpu, random.as_deref().map(|r| &r[..]), &mut Console)
    else {
        shutdown(ShutdownReason::Poweroff)
    };
    drop(random);
    let engine_rng = ReseedingRng::new(&pool.bytes, fresh_cpu_value);
    let state_rng = ReseedingRng::new(&persist::state_rng_input(&pool.bytes), fresh_cpu_value);
    drop(pool);
    let disk = match BlkDisk::<Env>::connect(env) {
        Ok(d) => d,
        Err(cause) => {
            println!("ERROR: TPM state not loaded: {cause}; refusing to serve; powering off");
            shutdown(ShutdownReason::Poweroff)
        }
    };
    if opts.tpm2 {
        let factory = tpm20_engine::Tpm20Factory { rng: Box::new(engine_rng), clock: Box::new(KernelClock) };
        let Some((engine, p)) =
            persist::start_with(env, manager, disk, factory, Box::new(state_rng), opts, &mut Console)
        else {
            shutdown(ShutdownReason::Poweroff)
        };
        let svc = VtpmService::new(env, engine, opts, &mut Console).with_persistence(Box::new(p));
        run(env, svc)
    }
    let Some((engine, p)) = persist::start(
        env,
        manager,
        disk,
        Box::new(engine_rng),
        Box::new(state_rng),
        Box::new(KernelClock),
        tpm12_engine::tpm_options(opts),
        opts,
        &mut Console,
    ) else {
        shutdown(ShutdownReason::Poweroff)
    };
    let svc = VtpmService::new(env, engine, opts, &mut Console).with_persistence(Box::new(p));
    run(env, svc)
}
