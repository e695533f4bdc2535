//! The vTPM manager stub domain image (`vtpmmgr-stubdom`). For now: the kernel runtime with
//! the manager's options; the manager logic and TPM drivers come in later issues. On the host
//! this binary only explains how to build it.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod image {
    use kernel::image::{ImageInfo, run, serve_nothing};

    /// Options of the C vtpmmgr-stubdom (fact sheet §12.1, §6.3) plus `selftest`.
    static INFO: ImageInfo = ImageInfo {
        name: "vtpmmgr-stubdom",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &[
            "tpm2", "owner_auth", "srk_auth", "srk_handle", "tpmdriver", "tpmiomem", "tpmirq", "tpmlocality",
            "loglevel", "selftest",
        ],
        waiting_line: "INFO[VTPM]: Waiting for commands from vTPM's:",
    };

    fn main() -> ! {
        run(&INFO, serve_nothing)
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
