//! The vTPM stub domain image (`vtpm-stubdom`): the kernel runtime, tpmback and the TPM 1.2
//! engine, serving every frontend (Linux xen-tpmfront, pvgrub-measure) from one engine as
//! the C vtpm does. Without a manager (the next step) the TPM state is volatile, and the
//! image says so. Options: `options.rs`; the service loop: `serve.rs`; the engine's RNG:
//! `rng.rs`; the blkfront check `disktest=`: `disktest.rs`. On the host this binary only
//! explains how to build it (and `cargo test -p vtpm` tests the pure parts).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

extern crate alloc;

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod disktest;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod options;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod rng;
#[cfg(target_os = "none")]
mod serve;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod stats;

#[cfg(target_os = "none")]
mod image {
    use kernel::image::{ImageInfo, run};

    /// Options of the C vtpm-stubdom (fact sheet §8.1) plus `selftest` and `disktest`.
    static INFO: ImageInfo = ImageInfo {
        name: "vtpm-stubdom",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &[
            "loglevel",
            "clear",
            "save",
            "deactivated",
            "maintcmds",
            "hwinitpcr",
            "locality",
            "selftest",
            "disktest",
        ],
        waiting_line: "Info: Waiting for frontend domain to connect..",
    };

    fn main() -> ! {
        run(&INFO, crate::serve::serve)
    }

    kernel::image_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "vtpm is a Xen PV image: build it with `cargo build --release --target x86_64-unknown-none -p vtpm` \
         (or `cargo xtask build`)"
    );
}
