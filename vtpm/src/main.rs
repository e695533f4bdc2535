//! The vTPM stub domain image (`vtpm-stubdom`): the kernel runtime, tpmback and the TPM 1.2
//! engine, serving every frontend (Linux xen-tpmfront, pvgrub-measure) from one engine as
//! the C vtpm does. Without a manager (the next step) the TPM state is volatile, and the
//! image says so. The logic is the `vtpm` lib (`lib.rs`: options, stats, RNG, disktest);
//! this binary is the wiring to the kernel (`serve.rs`). On the host it only explains how to
//! build it (and `cargo test -p vtpm` tests the lib).
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod serve;

#[cfg(target_os = "none")]
mod image {
    use kernel::image::{ImageInfo, run};

    /// Options of the C vtpm-stubdom (fact sheet §8.1) plus `disktest` (the runtime adds `selftest`).
    static INFO: ImageInfo = ImageInfo {
        name: "vtpm-stubdom",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &vtpm::options::KNOWN_OPTIONS,
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
