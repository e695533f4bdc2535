//! The one build-script step every PV image (`vtpm`, `vtpmmgr`, `pvgrub-measure`) needs: when
//! the target OS is `none` (`x86_64-unknown-none`, the Xen PV build), link the image's binaries
//! with `kernel/linker.ld`. On the host (`cargo test`) it does nothing but ask to be rerun when
//! the build script changes, so the images' lib targets build like any crate.
//!
//! Use it from an image's `build.rs`: `fn main() { image_build::link_with_kernel_script() }`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The kernel's linker script, located from this crate's own directory (it sits next to
/// `kernel/` in the workspace), so every image finds the same file whatever its own path.
pub fn kernel_linker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/linker.ld")
}

/// Emits the `cargo:` lines of an image's build script (see the module docs).
pub fn link_with_kernel_script() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "none" {
        let script = kernel_linker_script();
        println!("cargo:rerun-if-changed={}", script.display());
        // `-bins`: the images' lib targets (host-tested) are not linked with it
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }
    println!("cargo:rerun-if-changed=build.rs");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_script_is_there() {
        assert!(super::kernel_linker_script().is_file());
    }
}
