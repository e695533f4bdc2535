//! The Rust side of boot: `kernel_start` (called by `_start` with the `start_info` VA) sets
//! up traps, memory, shared_info, the console and the log, then enters the image's entry
//! point (`kernel::image_main!`).

use xen_abi::start_info::StartInfo;

use crate::start_info::start_info;

unsafe extern "Rust" {
    /// Defined by the image through `kernel::image_main!`.
    fn kernel_image_main() -> !;
}

/// Called by `_start` on the boot stack.
///
/// # Safety
/// Only `_start` calls it, with the `start_info` pointer Xen passed in `rsi`.
pub unsafe extern "C" fn kernel_start(si: *const StartInfo) -> ! {
    crate::arch::traps::init();
    // SAFETY: Xen passes the VA of a mapped, initialised start_info page in rsi.
    let copy = unsafe { core::ptr::read(si) };
    crate::start_info::init(copy);
    let si = start_info();
    if !si.magic_ok() {
        crate::console::emergency(format_args!("bad start_info magic\r\n"));
        crate::shutdown::crash();
    }
    crate::mm::init(si, si as *const StartInfo as u64);
    crate::shared_info::init(si.shared_info);
    crate::console::init(si);
    crate::logger::init();
    // SAFETY: the image provides this symbol via `image_main!`; it takes no arguments.
    unsafe { kernel_image_main() }
}

/// Defines the image's entry point: `kernel::image_main!(main);` with `fn main() -> !`. It also
/// registers the in-guest selftest with the runtime (`image::register_selftest`), so the
/// `selftest` option works in every image while `image.rs` does not depend on `selftest/`.
#[macro_export]
macro_rules! image_main {
    ($main:path) => {
        #[unsafe(export_name = "kernel_image_main")]
        fn __kernel_image_main() -> ! {
            $crate::image::register_selftest($crate::selftest::run);
            $main()
        }
    };
}
