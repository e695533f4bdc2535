//! The vTPM manager stub domain image (`vtpmmgr-stubdom`). For now: the hardware TPM part —
//! with `tpmdriver=tpm_tis` (the default) it maps the TIS registers given to it by xl
//! `iomem=` (`tpmiomem=`, `tpmlocality=`), opens the TPM with `drivers::tpm_tis` (TPM 1.2 or
//! 2.0), prints its identity and version, and then waits as the C manager does. The key store,
//! its disk and tpmback come with the manager logic (`vtpmmgr-core`). The pure parts are the
//! `vtpmmgr` lib (options, the TIS window's page arithmetic); this binary is the wiring. On
//! the host it only explains how to build it (`cargo test -p vtpmmgr` tests the lib).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod tis_window;

#[cfg(target_os = "none")]
mod image {
    use drivers::hv::Mmio;
    use drivers::tpm_tis::{self, Tis, TpmFamily};
    use kernel::image::{Env, ImageInfo, run};
    use kernel::println;

    use crate::tis_window::TisWindow;
    use vtpmmgr::options::{self, MgrOptions, TpmDriver};
    use vtpmmgr::tis::LOCALITIES;

    /// The line the C manager prints once it serves.
    const WAITING: &str = "INFO[VTPM]: Waiting for commands from vTPM's:";

    /// Options of the C vtpmmgr-stubdom (fact sheet §12.1, §6.3); the runtime adds `loglevel`, `selftest`.
    static INFO: ImageInfo = ImageInfo {
        name: "vtpmmgr-stubdom",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &vtpmmgr::options::KNOWN_OPTIONS,
        waiting_line: "INFO[VTPM]: Starting vTPM manager domain",
    };

    /// Opens the hardware TPM over TIS and prints who it is.
    fn hardware_tpm(env: &mut Env, o: &MgrOptions) {
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
                return;
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
                return;
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
    }

    fn serve(env: &mut Env) -> ! {
        let (o, warnings) = options::parse(&env.options);
        for w in &warnings {
            println!("{w}");
        }
        if o.irq_requested {
            println!("Warning: tpmirq= is not supported; polling the TPM (as with tpmirq=0)");
        }
        match o.driver {
            TpmDriver::Tis => hardware_tpm(env, &o),
            TpmDriver::Tpmfront => println!("Warning: tpmdriver=tpmfront is not implemented yet; no hardware TPM"),
        }
        println!("Info: the key store and the vtpm protocol are not implemented yet; only xl shutdown is served");
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
