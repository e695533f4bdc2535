//! Where things live: the repository, its `out/` folder, and the test-bed cache outside the
//! repository (`$XEN_VTPM_CACHE`, else `$XDG_CACHE_HOME/xen-vtpm-rs`, else `~/.cache/xen-vtpm-rs`).

use std::path::PathBuf;

/// The workspace root (the parent of `xtask/`).
pub fn repo() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// `out/` in the repository (ignored by git).
pub fn out() -> PathBuf {
    repo().join("out")
}

/// The test-bed cache.
pub fn cache() -> PathBuf {
    if let Some(p) = std::env::var_os("XEN_VTPM_CACHE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"));
    base.join("xen-vtpm-rs")
}

/// The dom0-side scripts and files copied into the test-bed root file system.
pub fn overlay() -> PathBuf {
    repo().join("tests/e2e/overlay")
}

/// The xl configs.
pub fn configs() -> PathBuf {
    repo().join("configs")
}
