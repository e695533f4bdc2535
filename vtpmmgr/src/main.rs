//! A Xen PV stub-domain image. On the host this binary only explains how to build it.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("this is a Xen PV image: build it with `cargo xtask build`");
}
