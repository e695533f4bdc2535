//! The vTPM manager stub domain image (`vtpmmgr-stubdom`). With `tpmdriver=tpm_tis` (the
//! default) it maps the TIS registers given to it by xl `iomem=` (`tpmiomem=`,
//! `tpmlocality=`), opens the TPM with `drivers::tpm_tis` (TPM 1.2 or 2.0) and prints its
//! identity and version; then, with its disk (`hda`) and usable key-store options
//! (`owner_auth=`, `srk_auth=`, `tpm2=1`, `srk_handle=`), it opens the key store
//! (`vtpmmgr_core::KeyStore`: first boot seals a new root to the TPM) and serves the vtpms
//! over tpmback (`vtpmmgr::manager::serve`). Without a disk, a TPM or usable options it says
//! so and only waits for xl shutdown, as before. `tpmdriver=tpmfront` is not implemented. The
//! pure parts are the `vtpmmgr` lib; this binary is the wiring. On the host it only explains
//! how to build it (`cargo test -p vtpmmgr` tests the lib).
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
    use vtpmmgr_core::{HwClient, HwConfig, Service};

    use crate::tis_window::TisWindow;
    use vtpmmgr::manager::{self, BlkDisk, SharedHv, TisTpm, WAITING};
    use vtpmmgr::options::{self, MgrOptions, TpmDriver};
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

    /// Opens the key store and serves the vtpms; returns only if that is not possible.
    fn run_manager(env: &mut Env, mut tis: Tis<TisWindow>, config: HwConfig) {
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
        // the hardware TPM's randomness too: the RNG is as good as the better source
        let tpm_random = {
            let mut tpm = TisTpm::new(&mut tis, &hv);
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
        let store = match manager::open_store(disk, &mut tis, &hv, &mut rng, &config) {
            Ok((s, line)) => {
                println!("{line}");
                s
            }
            Err(line) => {
                println!("{line}");
                return;
            }
        };
        manager::serve(&hv, &mut tis, Service::new(store), &mut rng, &config, &mut |l| println!("{l}"))
    }

    fn serve(env: &mut Env) -> ! {
        let (o, warnings) = options::parse(&env.options);
        for w in &warnings {
            println!("{w}");
        }
        if o.irq_requested {
            println!("Warning: tpmirq= is not supported; polling the TPM (as with tpmirq=0)");
        }
        let tis = match o.driver {
            TpmDriver::Tis => hardware_tpm(env, &o),
            TpmDriver::Tpmfront => {
                println!("Warning: tpmdriver=tpmfront is not implemented yet; no hardware TPM");
                None
            }
        };
        let config = match options::hw_config(&env.options) {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in &errors {
                    println!("{e}");
                }
                None
            }
        };
        match (tis, config) {
            (Some(tis), Some(config)) => run_manager(env, tis, config),
            (None, _) => println!("Info: no hardware TPM: the key store is not opened; only xl shutdown is served"),
            (_, None) => {
                println!("Info: unusable key-store options: the key store is not opened; only xl shutdown is served")
            }
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
