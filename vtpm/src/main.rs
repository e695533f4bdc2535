//! The vTPM stub domain image (`vtpm-stubdom`). For now: the kernel runtime with the vtpm's
//! options; the TPM 1.2 engine and tpmback come in later issues. On the host this binary
//! only explains how to build it.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod image {
    use kernel::image::{ImageInfo, run, serve_nothing};

    /// Options of the C vtpm-stubdom (fact sheet §8.1) plus `selftest`.
    static INFO: ImageInfo = ImageInfo {
        name: "vtpm-stubdom",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &[
            "loglevel", "clear", "save", "deactivated", "maintcmds", "hwinitpcr", "locality", "selftest",
        ],
        waiting_line: "Info: Waiting for frontend domain to connect..",
    };

    fn main() -> ! {
        run(&INFO, serve_nothing)
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
