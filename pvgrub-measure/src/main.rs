//! The measuring PV boot loader image (`pvgrub-measure`): finds the guest's kernel on its
//! disk, measures it into the vTPM as pv-grub did, and boots it in place (`inplace.rs`;
//! `boot=none` measures and powers off). The loader
//! logic is the pure `pvgrub-loader` crate. On the host this binary is the verifier's tool:
//! `pvgrub-measure predict …` prints the PCR 4 and PCR 5 values to expect (see `predict.rs`);
//! without arguments it explains how to build the image.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod image {
    extern crate alloc;

    use alloc::string::String;
    use alloc::vec::Vec;

    use kernel::image::{Env, ImageInfo, run};
    use kernel::shutdown::{ShutdownReason, shutdown};
    use pvgrub_loader::BootMode;
    use pvgrub_measure::stage;

    /// `kernel`/`ramdisk`/`cmdline` name what to measure and boot (fact sheet §9); `config`
    /// (or a bare `(hd0,0)/…` word, pv-grub's argument) names the GRUB config; `vtpm-label`
    /// (pv-grub's `--vtpm-label=`) and `vtpm-required` make a missing vTPM fatal. See
    /// `pvgrub_loader::options`.
    static INFO: ImageInfo = ImageInfo {
        name: "pvgrub-measure",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &[
            "selftest",
            "loglevel",
            "kernel",
            "ramdisk",
            "cmdline",
            "vtpm-label",
            "--vtpm-label",
            "config",
            "vtpm-required",
            "boot",
        ],
        waiting_line: "pvgrub-measure: no kernel to boot yet, waiting",
    };

    fn main() -> ! {
        run(&INFO, serve)
    }

    /// The stage (`pvgrub_measure::stage`), then power off (or wait, when there was nothing
    /// to do).
    fn serve(env: &mut Env) -> ! {
        let options: Vec<(String, Option<String>)> =
            env.options.iter().map(|o| (String::from(o.name()), o.value().map(String::from))).collect();
        let nr_pages = kernel::start_info::start_info().nr_pages;
        let outcome = stage::run(env, options.iter().map(|(n, v)| (n.as_str(), v.as_deref())), nr_pages, &mut |line| {
            kernel::println!("{line}")
        });
        match outcome {
            stage::Outcome::Idle => env.idle_until_shutdown(),
            stage::Outcome::Loaded { loaded, boot: BootMode::InPlace, .. } => crate::inplace::boot(env, &loaded),
            stage::Outcome::Stop(_) | stage::Outcome::Loaded { .. } => shutdown(ShutdownReason::Poweroff),
        }
    }

    kernel::image_main!(main);
}

#[cfg(target_os = "none")]
mod inplace;

#[cfg(not(target_os = "none"))]
mod predict;

#[cfg(not(target_os = "none"))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("predict") {
        std::process::exit(predict::main(&args[1..]));
    }
    eprintln!(
        "pvgrub-measure is a Xen PV image: build it with \
         `cargo build --release --target x86_64-unknown-none -p pvgrub-measure` (or `cargo xtask build`)"
    );
}
