//! Leaving the domain: `SCHEDOP_shutdown` with a pointer to `struct sched_shutdown`
//! (poweroff, reboot, crash), and the panic handler (message on the console, then crash).

use xen_abi::hypercall::{HYPERVISOR_SCHED_OP, SCHEDOP_SHUTDOWN, SHUTDOWN_CRASH, SHUTDOWN_POWEROFF, SHUTDOWN_REBOOT};
use xen_abi::sched::SchedShutdown;

use crate::arch::hypercall::hypercall2;

/// Why the domain stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    Poweroff,
    Reboot,
    Crash,
}

impl ShutdownReason {
    fn code(self) -> u32 {
        match self {
            ShutdownReason::Poweroff => SHUTDOWN_POWEROFF,
            ShutdownReason::Reboot => SHUTDOWN_REBOOT,
            ShutdownReason::Crash => SHUTDOWN_CRASH,
        }
    }

    /// The word xl writes to `control/shutdown` for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            ShutdownReason::Poweroff => "poweroff",
            ShutdownReason::Reboot => "reboot",
            ShutdownReason::Crash => "crash",
        }
    }
}

/// Stops the domain. Never returns (if Xen refuses, it keeps yielding).
pub fn shutdown(reason: ShutdownReason) -> ! {
    let mut arg = SchedShutdown { reason: reason.code() };
    loop {
        // SAFETY: SCHEDOP_shutdown reads the struct behind the pointer, which lives here.
        unsafe { hypercall2(HYPERVISOR_SCHED_OP, SCHEDOP_SHUTDOWN, &mut arg as *mut SchedShutdown as u64) };
        crate::events::yield_cpu();
    }
}

/// Crashes the domain (xl's `on_crash` applies).
pub fn crash() -> ! {
    shutdown(ShutdownReason::Crash)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::console::emergency(format_args!("PANIC: {}\r\n", info));
    crash()
}
