//! The in-place PV boot's switch: hands the domain over to another PV kernel whose image a
//! loader has already written into frames it owns (pvgrub-measure; the image, page tables,
//! start_info and new p2m are built as data by `pvgrub-loader`). One safe entry point,
//! [`jump`]; all `unsafe` of the switch is here.
//!
//! Order (wave-2 facts §7.1 steps 11–15, with our own frame method): the new page-table
//! frames are made read-only in our direct map; the new L4 is pinned (Xen validates the whole
//! new tree here; a failure returns, and the domain can still report and power off); the
//! timer is cancelled and every event channel except the console's and xenstore's is closed;
//! the M2P is updated for every frame whose pfn changes (from here on our own page-table
//! walks are wrong, so nothing but hypercalls by VA follows); the trap table is cleared; the
//! trampoline page is mapped at the boot stack's VA in our tables (the new tables map the same
//! frame there); then the trampoline issues `mmuext_op` NEW_BASEPTR(new L4) with an inline
//! `syscall` (our hypercall page is not mapped in the new tables; the argument registers are
//! reloaded after each call, as debug hypervisors clobber them), then NEW_USER_BASEPTR(0) and
//! UNPIN_TABLE(old L4) (so our old tables' frames become ordinary memory of the new kernel;
//! their result is not checked: the switch has happened), sets `rsp` to the end of the boot
//! stack page and `rsi` to the start_info VA, and jumps to the kernel's entry. A failed
//! NEW_BASEPTR ends in `ud2` with no trap table: Xen crashes the domain (never a half-booted
//! kernel).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::arch::{asm, global_asm};
use core::convert::Infallible;

use xen_abi::hypercall::{
    HYPERVISOR_MMUEXT_OP, HYPERVISOR_SET_TRAP_TABLE, MMU_MACHPHYS_UPDATE, MMUEXT_NEW_BASEPTR, MMUEXT_NEW_USER_BASEPTR,
    MMUEXT_PIN_L4_TABLE, MMUEXT_UNPIN_TABLE,
};
use xen_abi::mm::{MmuUpdate, MmuextOp, PAGE_SIZE};
use xen_abi::types::{DomId, EvtchnPort};

use crate::arch::boot::{VIRT_BASE, hypercall_page_addr};
use crate::arch::hypercall::{hypercall1, hypercall5};
use crate::mm::pagetable::{L1_PROT, L1_PROT_RO, has_l1, mmu_update, pfn_to_mfn, pfn_to_va, pte, update_va_mapping};
use crate::mm::window;

/// Ports of the 2-level event channel ABI on x86_64 (64 × 64).
const MAX_PORTS: u32 = 4096;
/// Where the mmuext_op batch sits inside the trampoline page.
const OPS_OFFSET: usize = 0x800;

/// What the switch needs (all numbers; the loader computed them).
#[derive(Clone, Copy, Debug)]
pub struct Handover<'a> {
    /// Our pfns of the frames that are the new page tables (remapped read-only before the pin).
    pub table_pfns: &'a [u64],
    /// Machine frame of the new L4.
    pub l4_mfn: u64,
    /// `(mfn, pfn)` M2P updates.
    pub m2p_updates: &'a [(u64, u64)],
    /// Our pfn of the frame that becomes the new kernel's boot stack page (the trampoline).
    pub trampoline_pfn: u64,
    /// Its VA in the new tables (mapped to the same frame in ours before the jump).
    pub trampoline_va: u64,
    /// `rsp` at the entry.
    pub stack_top: u64,
    /// `rsi` at the entry.
    pub start_info_va: u64,
    /// The kernel's entry point.
    pub entry: u64,
}

/// Why the switch did not happen (the domain is still ours and can report it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JumpError(pub String);

impl core::fmt::Display for JumpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

global_asm!(
    r#"
    .section .text.pvboot_trampoline, "ax"
    .global pvboot_trampoline_start
    .global pvboot_trampoline_end
pvboot_trampoline_start:
    mov eax, {mmuext}
    syscall
    test rax, rax
    jnz 2f
    mov rdi, r15
    add rdi, {op_size}
    mov esi, 2
    xor edx, edx
    mov r10d, {domid_self}
    mov eax, {mmuext}
    syscall
    mov rsp, r13
    mov rsi, r14
    xor ebp, ebp
    jmp r12
2:  ud2
pvboot_trampoline_end:
    "#,
    mmuext = const HYPERVISOR_MMUEXT_OP,
    op_size = const core::mem::size_of::<MmuextOp>(),
    domid_self = const DomId::SELF.0,
);

unsafe extern "C" {
    static pvboot_trampoline_start: u8;
    static pvboot_trampoline_end: u8;
}

/// Our current p2m list (pfn → mfn), `nr_pages` entries.
pub fn current_p2m() -> Vec<u64> {
    let n = crate::start_info::start_info().nr_pages;
    (0..n).map(|pfn| pfn_to_mfn(pfn).unwrap_or(u64::MAX)).collect()
}

/// Our hypercall page as Xen filled it (copied into the new kernel's).
pub fn hypercall_page() -> &'static [u8] {
    // SAFETY: the hypercall page is a 4096-byte page of our image text, mapped readable for
    // the domain's whole life and never written by us.
    unsafe { core::slice::from_raw_parts(hypercall_page_addr() as *const u8, PAGE_SIZE) }
}

fn mmuext(ops: &[MmuextOp]) -> i64 {
    // SAFETY: `ops` is a live array of mmuext_op structs for the call; the operations are
    // the switch's own (pin of a tree we built and validated by Xen itself).
    unsafe { hypercall5(HYPERVISOR_MMUEXT_OP, ops.as_ptr() as u64, ops.len() as u64, 0, DomId::SELF.0 as u64, 0) }
}

unsafe extern "C" {
    static __image_end: u8;
}

fn check(h: &Handover) -> Result<u64, JumpError> {
    let va = h.trampoline_va;
    let image_end = core::ptr::addr_of!(__image_end) as u64;
    if !va.is_multiple_of(PAGE_SIZE as u64) || va < image_end.next_multiple_of(PAGE_SIZE as u64) || va < VIRT_BASE {
        return Err(JumpError(format!("the boot stack VA {va:#x} lies in the loader's own image")));
    }
    if window::contains(va) || !has_l1(va) {
        return Err(JumpError(format!("the boot stack VA {va:#x} is not in the loader's direct map")));
    }
    let end = pvboot_trampoline_len();
    if end == 0 || end > OPS_OFFSET {
        return Err(JumpError(String::from("internal: the trampoline does not fit its page")));
    }
    pfn_to_mfn(h.trampoline_pfn).ok_or_else(|| JumpError(format!("no frame for pfn {:#x}", h.trampoline_pfn)))
}

fn pvboot_trampoline_len() -> usize {
    let start = core::ptr::addr_of!(pvboot_trampoline_start) as usize;
    let end = core::ptr::addr_of!(pvboot_trampoline_end) as usize;
    end.saturating_sub(start)
}

/// Writes the trampoline code and its mmuext_op batch into the trampoline frame.
fn write_trampoline(h: &Handover, old_l4: u64) {
    let dst = pfn_to_va(h.trampoline_pfn) as *mut u8;
    let ops = [
        MmuextOp { cmd: MMUEXT_NEW_BASEPTR, _pad: 0, arg1: h.l4_mfn, arg2: 0 },
        MmuextOp { cmd: MMUEXT_NEW_USER_BASEPTR, _pad: 0, arg1: 0, arg2: 0 },
        MmuextOp { cmd: MMUEXT_UNPIN_TABLE, _pad: 0, arg1: old_l4, arg2: 0 },
    ];
    // SAFETY: the trampoline frame is a frame the loader owns (a `Page` it leaked for the new
    // image), mapped RW in the direct map at `dst`; the code is `len` bytes of our text
    // (checked to be shorter than OPS_OFFSET), the ops fit behind it in the page.
    unsafe {
        core::ptr::copy_nonoverlapping(core::ptr::addr_of!(pvboot_trampoline_start), dst, pvboot_trampoline_len());
        core::ptr::write_unaligned(dst.add(OPS_OFFSET) as *mut [MmuextOp; 3], ops);
    }
}

/// Switches the domain to the new kernel. Returns only when the switch failed before the
/// point of no return; later failures crash the domain.
pub fn jump(h: &Handover) -> Result<Infallible, JumpError> {
    let trampoline_mfn = check(h)?;
    // Copies on our own stack (in the image): the trampoline's VA is remapped below, and it
    // may be where the caller's heap data was.
    let (tva, entry, stack_top, si_va) = (h.trampoline_va, h.entry, h.stack_top, h.start_info_va);
    let si = crate::start_info::start_info();
    let old_l4 = crate::mm::pagetable::virt_to_mfn(si.pt_base).ok_or_else(|| JumpError("no L4 frame".into()))?;
    let keep = [si.console.evtchn, si.store_evtchn];
    write_trampoline(h, old_l4);

    for &pfn in h.table_pfns {
        let mfn = pfn_to_mfn(pfn).ok_or_else(|| JumpError(format!("no frame for table pfn {pfn:#x}")))?;
        update_va_mapping(pfn_to_va(pfn), pte(mfn, L1_PROT_RO))
            .map_err(|e| JumpError(format!("cannot make the page table at pfn {pfn:#x} read-only ({e:?})")))?;
    }
    let rc = mmuext(&[MmuextOp { cmd: MMUEXT_PIN_L4_TABLE, _pad: 0, arg1: h.l4_mfn, arg2: 0 }]);
    if rc != 0 {
        return Err(JumpError(format!("Xen refused the new page tables (MMUEXT_PIN_L4_TABLE returned {rc})")));
    }

    let _ = crate::time::set_timer(0);
    for port in 1..MAX_PORTS {
        if !keep.contains(&port) {
            let _ = crate::events::close(EvtchnPort(port));
        }
    }

    let mut batch = [MmuUpdate::default(); 256];
    for chunk in h.m2p_updates.chunks(batch.len()) {
        for (req, &(mfn, pfn)) in batch.iter_mut().zip(chunk) {
            *req = MmuUpdate { ptr: (mfn << 12) | MMU_MACHPHYS_UPDATE, val: pfn };
        }
        mmu_update(&batch[..chunk.len()], DomId::SELF)
            .map_err(|e| JumpError(format!("M2P update failed ({e:?}); the domain cannot continue")))?;
    }

    // SAFETY: a NULL trap table clears every trap handler (public/xen.h); nothing after this
    // point may fault, and a fault now crashes the domain instead of running our handlers,
    // which the new kernel's memory no longer holds.
    unsafe { hypercall1(HYPERVISOR_SET_TRAP_TABLE, 0) };
    update_va_mapping(tva, pte(trampoline_mfn, L1_PROT))
        .map_err(|e| JumpError(format!("cannot map the trampoline ({e:?})")))?;

    let ops_va = tva + OPS_OFFSET as u64;
    // SAFETY: the trampoline page is mapped at `trampoline_va` in both our tables (just
    // above) and the new ones (the boot stack page, the same frame), and holds the code and
    // the three mmuext_ops (`write_trampoline`); the registers are the first call's hypercall
    // arguments (rdi the NEW_BASEPTR op, rsi 1, rdx no done-count, r10 DOMID_SELF) and, for
    // the code after it, r15 the ops, r12 entry, r13 stack, r14 start_info. Nothing of ours
    // runs afterwards.
    unsafe {
        asm!(
            "jmp {t}",
            t = in(reg) tva,
            in("rdi") ops_va,
            in("rsi") 1u64,
            in("rdx") 0u64,
            in("r10") DomId::SELF.0 as u64,
            in("r12") entry,
            in("r13") stack_top,
            in("r14") si_va,
            in("r15") ops_va,
            options(noreturn)
        )
    }
}
