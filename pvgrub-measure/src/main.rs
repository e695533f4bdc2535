//! The measuring PV boot loader image (`pvgrub-measure`). For now: the kernel runtime with
//! its options; measuring and loading a kernel come in later issues. On the host this binary
//! only explains how to build it.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod image {
    use kernel::image::{ImageInfo, run, serve_nothing};

    /// `kernel`/`ramdisk`/`cmdline` name what to measure and boot (fact sheet §9);
    /// `vtpm-label` is pv-grub's `--vtpm-label=` check of the backend's label.
    static INFO: ImageInfo = ImageInfo {
        name: "pvgrub-measure",
        version: env!("CARGO_PKG_VERSION"),
        known_options: &["selftest", "loglevel", "kernel", "ramdisk", "cmdline", "vtpm-label"],
        waiting_line: "pvgrub-measure: no kernel to boot yet, waiting",
    };

    fn main() -> ! {
        run(&INFO, serve_nothing)
    }

    kernel::image_main!(main);
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "pvgrub-measure is a Xen PV image: build it with \
         `cargo build --release --target x86_64-unknown-none -p pvgrub-measure` (or `cargo xtask build`)"
    );
}
