//! The PV console: the `xencons_interface` ring from start_info (read by xenconsoled, which
//! logs it and serves `xl console`), notified through its event channel. As dom0 (smoke
//! tests) there is no ring and output goes through `HYPERVISOR_console_io`, which also
//! serves as the emergency path for traps and panics.
//!
//! Lines end in `\r\n` on the ring, like Mini-OS, so `xl console` shows them properly.

use core::fmt::{self, Write};
use core::sync::atomic::{Ordering, fence};

use xen_abi::console::{XENCONS_OUT_SIZE, XenconsInterface};
use xen_abi::hypercall::{CONSOLEIO_WRITE, HYPERVISOR_CONSOLE_IO};
use xen_abi::start_info::StartInfo;
use xen_abi::types::{DomId, EvtchnPort};

use crate::arch::hypercall::hypercall3;
use crate::mm::pagetable::{mfn_to_pfn, pfn_to_mfn, pfn_to_va};
use crate::mm::window::{self, MapKind};
use crate::ring;
use crate::sync::Global;

struct Ring {
    intf: *mut XenconsInterface,
    port: EvtchnPort,
    /// Set when xenconsoled did not drain a full ring in time: later output that does not
    /// fit is dropped at once instead of waiting again.
    stalled: bool,
}

static RING: Global<Option<Ring>> = Global::new(None);

/// How long output may wait for xenconsoled to drain a full ring before it is dropped.
const FULL_RING_WAIT_NS: u64 = 500_000_000;

/// Finds the console ring (domU) or keeps using console_io (dom0).
pub fn init(si: &StartInfo) {
    if si.is_initdomain() || si.console.mfn == 0 {
        return;
    }
    let mfn = si.console.mfn;
    let pfn = mfn_to_pfn(mfn);
    let va = if pfn_to_mfn(pfn) == Some(mfn) {
        pfn_to_va(pfn)
    } else {
        match window::map_frames(&[mfn], DomId::SELF, MapKind::ReadWrite) {
            Ok(va) => va,
            Err(_) => return,
        }
    };
    RING.with(|r| {
        *r = Some(Ring { intf: va as *mut XenconsInterface, port: EvtchnPort(si.console.evtchn), stalled: false })
    });
}

/// True when output goes to a console ring.
pub fn has_ring() -> bool {
    RING.try_with(|r| r.is_some()).unwrap_or(false)
}

/// The ring's `out_prod` (0 without a ring): lets the selftest see output being queued.
pub fn out_prod() -> u32 {
    RING.try_with(|r| r.as_ref().map(|ring| ring.indices().1).unwrap_or(0)).unwrap_or(0)
}

/// `HYPERVISOR_console_io(CONSOLEIO_write)`: Xen's own console (dom0, or debug builds).
pub fn console_io_write(bytes: &[u8]) -> i64 {
    // SAFETY: `bytes` is live for the call; Xen only reads it.
    unsafe { hypercall3(HYPERVISOR_CONSOLE_IO, CONSOLEIO_WRITE, bytes.len() as u64, bytes.as_ptr() as u64) }
}

impl Ring {
    fn indices(&self) -> (u32, u32) {
        // SAFETY: the ring page is mapped for the life of the domain; indices are u32 words
        // shared with xenconsoled, read volatile.
        unsafe {
            (
                core::ptr::read_volatile(core::ptr::addr_of!((*self.intf).out_cons)),
                core::ptr::read_volatile(core::ptr::addr_of!((*self.intf).out_prod)),
            )
        }
    }

    fn write(&mut self, mut bytes: &[u8]) {
        let mut deadline: Option<u64> = None;
        while !bytes.is_empty() {
            let (cons, prod) = self.indices();
            let Ok((off, len)) = ring::write_span(cons, prod, XENCONS_OUT_SIZE) else {
                return; // corrupt indices: drop output rather than scribble
            };
            if len == 0 {
                let _ = crate::events::send(self.port);
                if self.stalled {
                    return;
                }
                let d = *deadline.get_or_insert_with(|| crate::time::now_ns() + FULL_RING_WAIT_NS);
                if crate::time::now_ns() >= d {
                    self.stalled = true;
                    return;
                }
                crate::events::wait(&[self.port], Some(d));
                continue;
            }
            self.stalled = false;
            let n = len.min(bytes.len());
            // SAFETY: [off, off + n) lies inside `out` (write_span guarantees it) and is the
            // producer-owned part of the ring.
            unsafe {
                let dst = (core::ptr::addr_of_mut!((*self.intf).out) as *mut u8).add(off);
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n);
            }
            fence(Ordering::Release);
            // SAFETY: as in `indices`; we are the only producer.
            unsafe {
                core::ptr::write_volatile(core::ptr::addr_of_mut!((*self.intf).out_prod), prod.wrapping_add(n as u32))
            };
            bytes = &bytes[n..];
        }
        let _ = crate::events::send(self.port);
    }
}

/// Writes raw bytes to the console.
pub fn write_bytes(bytes: &[u8]) {
    let done = RING
        .try_with(|r| match r {
            Some(ring) => {
                ring.write(bytes);
                true
            }
            None => false,
        })
        .unwrap_or(false);
    if !done {
        console_io_write(bytes);
    }
}

struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Translate \n to \r\n piecewise.
        let mut rest = s.as_bytes();
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if i > 0 && rest[i - 1] == b'\r' {
                write_bytes(&rest[..=i]);
            } else {
                write_bytes(&rest[..i]);
                write_bytes(b"\r\n");
            }
            rest = &rest[i + 1..];
        }
        if !rest.is_empty() {
            write_bytes(rest);
        }
        Ok(())
    }
}

/// Formats to the console (used by `println!`).
pub fn write_fmt(args: fmt::Arguments<'_>) {
    let _ = ConsoleWriter.write_fmt(args);
}

/// Last-resort output for traps and panics: console_io always, plus the ring if it is not
/// in use at this moment. Formats without allocating.
pub fn emergency(args: fmt::Arguments<'_>) {
    struct Io;
    impl Write for Io {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            console_io_write(s.as_bytes());
            let _ = RING.try_with(|r| {
                if let Some(ring) = r {
                    ring.write(s.as_bytes());
                }
            });
            Ok(())
        }
    }
    let _ = Io.write_fmt(args);
}

/// Prints a line on the console (`\n` appended).
#[macro_export]
macro_rules! println {
    () => { $crate::console::write_fmt(format_args!("\n")) };
    ($($arg:tt)*) => {{
        $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*)));
    }};
}

/// Prints on the console without a newline.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::write_fmt(format_args!($($arg)*)) };
}
