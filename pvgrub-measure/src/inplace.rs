//! The in-place PV boot on real Xen (`boot=inplace`, the default): the loaded kernel's domain image is
//! built as data by `pvgrub_loader::domain_image` over frames allocated here (one fresh frame
//! per pfn of the image; see the README for why), the pages are written, and
//! `kernel::pvboot::jump` switches the domain to the kernel. Every failure before the switch
//! is one line and a power-off.

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kernel::image::Env;
use kernel::mm::Page;
use kernel::pvboot::{self, Handover};
use kernel::shutdown::{ShutdownReason, shutdown};
use pvgrub_loader::Loaded;
use pvgrub_loader::domain_image::{self, DomainImage, DomainInput};
use pvgrub_loader::layout;

fn stop(why: &str) -> ! {
    kernel::println!("pvgrub-measure: in-place boot: {why}; stopping the domain");
    shutdown(ShutdownReason::Poweroff)
}

/// Builds the image into fresh frames; returns it with the frames (in source order).
fn prepare(loaded: &Loaded) -> Result<(DomainImage, Vec<Page>), String> {
    let si = kernel::start_info::start_info();
    let initrd = loaded.initrd.as_deref().unwrap_or(&[]);
    let layout = layout::compute(&loaded.kernel.pv, initrd.len() as u64, si.nr_pages).map_err(|e| format!("{e}"))?;
    let need = domain_image::frames_needed(&layout);
    let mut frames = Vec::new();
    frames.try_reserve_exact(need as usize).map_err(|_| String::from("out of memory for the frame list"))?;
    for _ in 0..need {
        let Some(p) = Page::alloc() else {
            return Err(format!(
                "out of memory: the image needs {need} frames ({} MiB) besides the loaded files; give the domain more memory",
                need / 256
            ));
        };
        frames.push(p);
    }
    let sources: Vec<u64> = frames.iter().map(|p| p.pfn()).collect();
    let p2m = pvboot::current_p2m();
    let input = DomainInput {
        p2m: &p2m,
        shared_info: si.shared_info,
        store_mfn: si.store_mfn,
        store_evtchn: si.store_evtchn,
        console_mfn: si.console.mfn,
        console_evtchn: si.console.evtchn,
        cmdline: loaded.entry.cmdline.as_bytes(),
        hypercall_page: pvboot::hypercall_page(),
    };
    let image = domain_image::build(&layout, &input, &sources).map_err(|e| format!("{e}"))?;
    let pages = image.targets.iter().filter(|(pfn, _)| !image.is_handed_over(*pfn));
    for (&(pfn, src), page) in pages.zip(frames.iter_mut()) {
        if page.pfn() != src {
            return Err(format!("internal: pfn {pfn:#x} expects frame {src:#x}, got {:#x}", page.pfn()));
        }
        image.write_page(pfn, &loaded.kernel.elf, initrd, page.bytes_mut()).map_err(|e| format!("{e}"))?;
    }
    Ok((image, frames))
}

/// Boots `loaded` in place; never returns.
pub fn boot(env: &mut Env, loaded: &Loaded) -> ! {
    let start = kernel::time::now_ns();
    let (image, frames) = match prepare(loaded) {
        Ok(x) => x,
        Err(why) => stop(&why),
    };
    let l = &image.layout;
    kernel::println!(
        "pvgrub-measure: in-place boot: {} pages, {} page tables, {} M2P updates, prepared in {} ms; entry {:#x}",
        l.pages_used,
        image.tables.len(),
        image.frames.m2p_updates.len(),
        kernel::time::now_ns().saturating_sub(start) / 1_000_000,
        image.entry
    );
    env.end_shutdown_watch();
    // The frames are the new kernel's memory now: never give them back to our allocator.
    core::mem::forget(frames);
    let h = Handover {
        table_pfns: &image.table_sources,
        l4_mfn: image.l4_mfn,
        m2p_updates: &image.frames.m2p_updates,
        trampoline_pfn: image.trampoline_source,
        trampoline_va: image.trampoline_va,
        stack_top: image.stack_top,
        start_info_va: image.start_info_va,
        entry: image.entry,
    };
    match pvboot::jump(&h) {
        Ok(never) => match never {},
        Err(e) => stop(&format!("{e}")),
    }
}
