//! The `shared_info` page: mapped once at boot (its machine address comes from start_info),
//! then read by the event channel code (pending and mask bits), the clock (vcpu_time_info, wall
//! clock) and the trap handler (`cr2`). vCPU 0's upcalls stay masked: events are polled.

use core::sync::atomic::{AtomicU8, Ordering};

use xen_abi::shared_info::SharedInfo;

use crate::mm::window::{self, MapKind};
use crate::sync::InitOnce;

static SHARED_INFO: InitOnce<u64> = InitOnce::new();

/// Maps `shared_info` (machine address from start_info) into the window and masks upcalls.
pub fn init(shared_info_maddr: u64) {
    let Ok(va) = window::map_frames(&[shared_info_maddr >> 12], xen_abi::types::DomId::SELF, MapKind::ReadWrite) else {
        crate::console::emergency(format_args!("cannot map shared_info\r\n"));
        crate::shutdown::crash();
    };
    SHARED_INFO.init(va);
    vcpu0_upcall_mask().store(1, Ordering::SeqCst);
}

/// The mapped shared_info page.
pub fn shared_info() -> *mut SharedInfo {
    match SHARED_INFO.get() {
        Some(&va) => va as *mut SharedInfo,
        None => core::ptr::null_mut(),
    }
}

fn vcpu0_upcall_mask() -> &'static AtomicU8 {
    let si = shared_info();
    // SAFETY: shared_info is mapped for the life of the domain; the byte is only accessed
    // atomically by us and by Xen.
    unsafe { AtomicU8::from_ptr(core::ptr::addr_of_mut!((*si).vcpu_info[0].evtchn_upcall_mask)) }
}

/// vCPU 0's `evtchn_upcall_mask` (1 = upcalls masked, as this kernel keeps it).
pub fn upcall_mask() -> u8 {
    if shared_info().is_null() {
        return 0xff;
    }
    vcpu0_upcall_mask().load(Ordering::SeqCst)
}

/// `cr2` of the last page fault (vcpu_info.arch.cr2), 0 before shared_info is mapped.
pub fn cr2() -> u64 {
    let si = shared_info();
    if si.is_null() {
        return 0;
    }
    // SAFETY: shared_info is mapped; a plain volatile read of a u64 Xen writes.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!((*si).vcpu_info[0].arch.cr2)) }
}
