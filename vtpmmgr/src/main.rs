//! The vTPM manager stub domain image (`vtpmmgr-stubdom`). With `tpmdriver=tpm_tis` (the
//! default) it maps the TIS registers given to it by xl `iomem=` (`tpmiomem=`,
//! `tpmlocality=`), opens the TPM with `drivers::tpm_tis` (TPM 1.2 or 2.0) and prints its
//! identity and version; then, with its disk (`hda`) and usable key-store options
//! (`owner_auth=`, `srk_auth=`, `tpm2=1`, `srk_handle=`), it opens the key store
//! (`vtpmmgr_core::KeyStore`: first boot seals a new root to the TPM) and serves the vtpms
//! over tpmback (`vtpmmgr::manager::serve`). With `tpmdriver=tpmfront` the hardware TPM is
//! the one a backend domain serves on the manager's own `device/vtpm/0` (waited for as long as
//! it takes). With `tpmdriver=none` there is no hardware TPM: the root secret is wrapped by the
//! administrator's `root_key=` (a plain WARNING says this is weaker), the RNG is seeded from
//! the CPU (`vtpm::entropy`'s pool and its strength rule) and serves the vtpms' GetRandom.
//! Without a disk, a TPM or usable options it says so and only waits for xl shutdown, as
//! before. The pure parts are the `vtpmmgr` lib; this binary is the wiring. On the host it
//! only explains how to build it (`cargo test -p vtpmmgr` tests the lib).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod tis_window;

#[cfg(target_os = "none")]
mod image {
    use core::cell::RefCell;

    use drivers::hv::{Mmio, XenStore, XsTx};
    use drivers::tpm_tis::{self, Tis, TpmFamily};
    use kernel::image::{Env, ImageInfo, run};
    use kernel::println;
    use vtpmmgr_core::admin_key::KdfParams;
    use vtpmmgr_core::{HwClient, HwConfig, Service};

    use crate::tis_window::TisWindow;
    use vtpmmgr::manager::{self, BlkDisk, FrontTpm, LinkTpm, SharedHv, TpmLink, WAITING};
    use vtpmmgr::options::{self, MgrOptions, RootKey, TpmDriver};
    use vtpmmgr::rng::MgrRng;
    use vtpmmgr::tis::LOCALITIES;

    /// Options of the C vtpmmgr-stubdom (fact sheet §12.1, §6.3); the runtime adds `loglevel`, `selftest`.
    static INFO: ImageInfo = ImageInfo {
        name: "vtpmmgr-stubdom",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &vtpmmgr::options::KNOWN_OPTIONS,
        waiting_line: "INFO[VTPM]: Starting vTPM manager domain",
    };

    /// Opens the hardware TPM over TIS and prints who it is.
    fn hardware_tpm(env: &mut Env, o: &MgrOptions) -> Option<Tis<TisWindow>> {
        // one mapping per locality page: xl may grant all five (iomem=["fed40,5"]) or only ours
        let mmio = match TisWindow::map(o.iomem, o.locality) {
            Ok(m) => m,
            Err(e) => {
                let page = (o.iomem >> 12) + u64::from(o.locality);
                println!(
                    "ERROR[TPM]: cannot map the TIS registers of locality {} at {:#x}: {:?} (does the config give iomem=[\"{:x},1\"] or [\"{:x},{}\"]?)",
                    o.locality,
                    page << 12,
                    e,
                    page,
                    o.iomem >> 12,
                    LOCALITIES
                );
                return None;
            }
        };
        let mapped: alloc::vec::Vec<usize> = mmio.mapped().collect();
        println!("INFO[TPM]: TIS localities mapped: {mapped:?}");
        let mut tis = match Tis::probe(mmio, env, o.locality) {
            Ok(t) => t,
            Err(e) => {
                println!("ERROR[TPM]: no TPM answers over TIS at {:#x} locality {}: {:?}", o.iomem, o.locality, e);
                // who holds the TPM: TPM_ACCESS of each mapped locality (0x80 valid, 0x20 active,
                // 0x04 request pending)
                if let Ok(mut m) = TisWindow::map(o.iomem, o.locality) {
                    for l in mapped {
                        println!("INFO[TPM]: TPM_ACCESS of locality {l}: {:#04x}", m.read8(l * 0x1000));
                    }
                }
                return None;
            }
        };
        let i = tis.info();
        println!(
            "INFO[TPM]: TIS at {:#x} locality {}: DID {:#06x} VID {:#06x} RID {:#04x} INTF_CAPS {:#010x}",
            o.iomem, o.locality, i.did, i.vid, i.rid, i.intf_caps
        );
        match (o.tpm2, i.family) {
            (true, TpmFamily::Tpm12) => println!("Warning: tpm2=1 given, but the hardware TPM is a TPM 1.2"),
            (false, TpmFamily::Tpm20) => {
                println!("Warning: the hardware TPM is a TPM 2.0 (the C manager needs tpm2=1 for it)")
            }
            _ => {}
        }
        match tpm_tis::version::read_version(&mut tis, env) {
            Ok(v) => println!("INFO[TPM]: hardware TPM: {v}"),
            Err(e) => println!("ERROR[TPM]: reading the hardware TPM's version: {:?}", e),
        }
        Some(tis)
    }

    /// Key material from the CPU (RDSEED, else RDRAND, and the TSC) for the manager's RNG.
    fn cpu_material() -> alloc::vec::Vec<u8> {
        let mut m = alloc::vec::Vec::new();
        for _ in 0..8 {
            if let Some(v) = kernel::entropy::rdseed64().or_else(kernel::entropy::rdrand64) {
                m.extend_from_slice(&v.to_le_bytes());
            }
            m.extend_from_slice(&kernel::entropy::tsc().to_le_bytes());
        }
        m
    }

    /// Whether xl gave us a disk at `hda` (without waiting for a backend that is not there).
    fn has_disk(env: &mut Env) -> bool {
        env.read(XsTx::NONE, &alloc::format!("{}/backend", manager::VBD)).is_ok()
    }

    /// Opens the key store and serves the vtpms; returns only if that is not possible. The
    /// hardware TPM's transport is opened by `open` once the disk is known to be there.
    fn run_manager<L: TpmLink<Env>>(env: &mut Env, config: HwConfig, open: impl FnOnce(&SharedHv<'_, Env>) -> L) {
        let cpu = zeroize::Zeroizing::new(cpu_material());
        let mut rng = MgrRng::new(&cpu);
        if !has_disk(env) {
            println!(
                "Info: no disk (hda, {}) configured: the key store is not opened; only xl shutdown is served",
                manager::VBD
            );
            return;
        }
        let hv: SharedHv<'_, Env> = RefCell::new(env);
        let mut link = open(&hv);
        if !config.seal_pcrs.is_empty() {
            let pcrs: alloc::vec::Vec<u32> = config.seal_pcrs.indices().collect();
            println!(
                "Info: hw_seal_pcrs: a new root is sealed to the current values of hardware PCRs {pcrs:?}; any change of what is measured into them (firmware, boot loader, Xen, dom0 kernel) makes it unsealable"
            );
        }
        // the hardware TPM's randomness too: the RNG is as good as the better source
        let tpm_random = {
            let mut tpm = LinkTpm::new(&mut link, &hv);
            HwClient::new(&mut tpm, &mut rng, &config).and_then(|mut c| c.get_random(32))
        };
        match tpm_random {
            Ok(r) => rng.mix(&r),
            Err(e) => {
                println!("Warning: the hardware TPM's GetRandom failed ({e}); the RNG is seeded from the CPU only")
            }
        }
        let disk = match BlkDisk::connect(&hv) {
            Ok((d, info)) => {
                println!("INFO[VTPM]: disk {}: {} sectors of {} bytes", manager::VBD, info.sectors, info.sector_size);
                d
            }
            Err(e) => {
                println!("ERROR[VTPM]: the manager's disk: {e}; the key store is not opened");
                return;
            }
        };
        let store = match manager::open_store(disk, &mut link, &hv, &mut rng, &config) {
            Ok((s, line)) => {
                println!("{line}");
                s
            }
            Err(line) => {
                println!("{line}");
                return;
            }
        };
        manager::serve(&hv, &mut link, Service::new(store), &mut rng, &config, &mut |l| println!("{l}"))
    }

    /// The CPU's entropy instructions, for `vtpm::entropy`'s pool.
    struct KernelCpu;

    impl vtpm::entropy::CpuEntropy for KernelCpu {
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

    /// The console, for `vtpm::entropy`'s lines.
    struct Console;

    impl vtpm::Output for Console {
        fn line(&mut self, line: &str) {
            println!("{line}");
        }
    }

    /// `tpmdriver=none`: the key store with the administrator's key; returns only if that is
    /// not possible.
    fn run_without_tpm(env: &mut Env) {
        println!(
            "WARNING: tpmdriver=none: no hardware TPM; the vTPMs' secrets are protected by an administrator key (root_key=), which is weaker than hardware sealing: anyone with this disk and that key can read every vTPM, and nothing binds them to this machine or its boot"
        );
        let root_key = match options::root_key(&env.options) {
            Ok(Some(k)) => k,
            Ok(None) => {
                println!(
                    "ERROR[VTPM]: tpmdriver=none needs root_key=text:<passphrase>|hash:<64 hex>|hdb; the key store is not opened"
                );
                return;
            }
            Err(line) => {
                println!("{line}");
                return;
            }
        };
        // no TPM to add its randomness: the CPU's, with vtpm's strength rule (and the
        // toolstack's vtpm-seed in this domain's directory, if dom0 wrote one)
        let pool = vtpm::entropy::collect(env, &mut KernelCpu, &mut Console);
        if !pool.is_strong() {
            println!(
                "ERROR[VTPM]: tpmdriver=none: no strong entropy source ({} good RDSEED, {} good RDRAND values, no vtpm-seed): the key store is not opened (a new root would be guessable)",
                pool.rdseed, pool.rdrand
            );
            return;
        }
        println!("INFO[VTPM]: RNG: ChaCha20 seeded from {} (no hardware TPM)", pool.sources());
        let mut rng = MgrRng::new(&pool.bytes);
        drop(pool);
        if !has_disk(env) {
            println!(
                "Info: no disk (hda, {}) configured: the key store is not opened; only xl shutdown is served",
                manager::VBD
            );
            return;
        }
        let hv: SharedHv<'_, Env> = RefCell::new(env);
        let key = match root_key {
            RootKey::Passphrase(k) => k,
            RootKey::KeyDisk => match manager::read_key_disk(&hv) {
                Ok(k) => {
                    println!("INFO[VTPM]: root_key=hdb: the administrator key is read from {}", manager::KEY_VBD);
                    k
                }
                Err(e) => {
                    println!("ERROR[VTPM]: root_key=hdb: {e}; the key store is not opened");
                    return;
                }
            },
        };
        let disk = match BlkDisk::connect(&hv) {
            Ok((d, info)) => {
                println!("INFO[VTPM]: disk {}: {} sectors of {} bytes", manager::VBD, info.sectors, info.sector_size);
                d
            }
            Err(e) => {
                println!("ERROR[VTPM]: the manager's disk: {e}; the key store is not opened");
                return;
            }
        };
        let store = match manager::open_store_with_admin_key(disk, &key, KdfParams::DEFAULT, &mut rng) {
            Ok((s, line)) => {
                println!("{line}");
                s
            }
            Err(line) => {
                println!("{line}");
                return;
            }
        };
        drop(key);
        manager::serve_without_tpm(&hv, Service::new(store), &mut rng, &mut |l| println!("{l}"))
    }

    fn serve(env: &mut Env) -> ! {
        let (o, warnings) = options::parse(&env.options);
        for w in &warnings {
            println!("{w}");
        }
        if o.irq_requested {
            println!("Warning: tpmirq= is not supported; polling the TPM (as with tpmirq=0)");
        }
        if o.driver != TpmDriver::None && env.options.iter().any(|opt| opt.name() == "root_key") {
            println!("Warning: root_key= is used only with tpmdriver=none; ignored");
        }
        let config = |opts: &[kernel::cmdline::CmdOption]| match options::hw_config(opts) {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in &errors {
                    println!("{e}");
                }
                None
            }
        };
        match o.driver {
            TpmDriver::None => run_without_tpm(env),
            TpmDriver::Tis => {
                let tis = hardware_tpm(env, &o);
                match (tis, config(&env.options)) {
                    (Some(tis), Some(config)) => run_manager(env, config, move |_| tis),
                    (None, _) => {
                        println!("Info: no hardware TPM: the key store is not opened; only xl shutdown is served")
                    }
                    (_, None) => println!(
                        "Info: unusable key-store options: the key store is not opened; only xl shutdown is served"
                    ),
                }
            }
            TpmDriver::Tpmfront => match config(&env.options) {
                Some(config) => {
                    run_manager(env, config, |hv| FrontTpm::connect(hv, o.locality, o.tpm2, &mut |l| println!("{l}")))
                }
                None => println!(
                    "Info: unusable key-store options: the key store is not opened; only xl shutdown is served"
                ),
            },
        }
        println!("{WAITING}");
        env.idle_until_shutdown()
    }

    fn main() -> ! {
        run(&INFO, serve)
    }

    kernel::image_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "vtpmmgr is a Xen PV image: build it with `cargo build --release --target x86_64-unknown-none -p vtpmmgr` \
         (or `cargo xtask build`)"
    );
}
