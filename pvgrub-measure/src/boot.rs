//! The image's service: `extra=` options → the guest's disk → the boot entry, kernel and
//! initrd (`pvgrub_loader`) → pv-grub's measurements into the vTPM → a report line, then
//! power off. The in-place PV boot (page tables, P2M, the jump) is not implemented yet, and
//! the report says so. Every failure is one console line and the domain stops.
//!
//! With no disk and no kernel or config option, the image waits for `xl shutdown` as it did
//! before it could load anything.

use alloc::format;

use kernel::image::Env;
use kernel::println;
use kernel::shutdown::{ShutdownReason, shutdown};
use pvgrub_loader::fetch::load_by_fetching;
use pvgrub_loader::layout;
use pvgrub_loader::measure::hex;
use pvgrub_loader::{BootOptions, BootSource};

use crate::vbd::{GuestDisk, first_vbd};
use crate::vtpm::{VtpmError, measure};

/// Prints why and stops the domain.
fn stop(why: &str) -> ! {
    println!("pvgrub-measure: {why}; stopping the domain");
    shutdown(ShutdownReason::Poweroff)
}

/// The service loop (never returns).
pub fn serve(env: &mut Env) -> ! {
    let opts = match BootOptions::parse(env.options.iter().map(|o| (o.name(), o.value()))) {
        Ok(o) => o,
        Err(e) => stop(&format!("{e}")),
    };
    let node = match first_vbd(env) {
        Ok(Some(n)) => n,
        Ok(None) if opts.source == BootSource::Config(None) && !opts.vtpm_required => {
            println!("pvgrub-measure: no disk (xl disk=) and no kernel= or config option: nothing to load");
            env.idle_until_shutdown()
        }
        Ok(None) => stop("no disk (xl disk=) to load the kernel from"),
        Err(e) => stop(&e),
    };
    let mut disk = match GuestDisk::connect(env, &node) {
        Ok(d) => d,
        Err(e) => stop(&e),
    };
    println!("pvgrub-measure: disk {node}: {} sectors", disk.sectors());
    let start = kernel::time::now_ns();
    let loaded = load_by_fetching(disk.sectors(), &opts.source, |first, buf| disk.read_into(env, first, buf));
    disk.close(env);
    let (loaded, stats) = match loaded {
        Ok(l) => l,
        Err(e) => stop(&format!("{e}")),
    };
    let ms = kernel::time::now_ns().saturating_sub(start) / 1_000_000;
    println!(
        "pvgrub-measure: read {} KiB in {} requests ({} loader rounds), {} ms",
        stats.bytes / 1024,
        stats.fetches,
        stats.rounds,
        ms
    );
    for n in &loaded.entry.notes {
        println!("pvgrub-measure: note: {n}");
    }
    if let Some(c) = &loaded.config {
        println!("pvgrub-measure: config {c}: entry '{}'", loaded.entry.title.as_deref().unwrap_or(""));
    }
    let pv = &loaded.kernel.pv;
    println!(
        "pvgrub-measure: kernel {} ({}, {} bytes decompressed): Xen PV, entry {:#x}, virt_base {:#x}",
        loaded.entry.kernel,
        loaded.kernel.compression.name(),
        loaded.kernel.elf.len(),
        pv.entry,
        pv.virt_base
    );
    println!("pvgrub-measure: cmdline \"{}\"", loaded.entry.cmdline);
    let nr_pages = kernel::start_info::start_info().nr_pages;
    let initrd_len = loaded.initrd.as_ref().map_or(0, |i| i.len());
    match layout::compute(pv, initrd_len as u64, nr_pages) {
        Ok(l) => println!(
            "pvgrub-measure: layout: {} of {} pages; start_info pfn {:#x}, page tables {} at pfn {:#x}, boot stack pfn {:#x}",
            l.pages_used, nr_pages, l.start_info.pfn, l.page_tables.pages, l.page_tables.pfn, l.boot_stack.pfn
        ),
        Err(e) => println!("pvgrub-measure: layout: {e}"),
    }
    let prediction = loaded.prediction();
    match measure(env, &loaded.plan()) {
        Ok(()) => println!("pvgrub-measure: measured into the vTPM: PCR 4 (kernel), PCR 5 (cmdline, initrd)"),
        Err(VtpmError::Missing(why)) if !opts.vtpm_required => {
            println!("pvgrub-measure: no vTPM ({why}): nothing measured")
        }
        Err(VtpmError::Missing(why)) => stop(&format!("a vTPM is required (vtpm-label/vtpm-required) but {why}")),
        Err(VtpmError::Failed(why)) => stop(&why),
    }
    println!(
        "pvgrub-measure: loaded {} ({} bytes), initrd {} bytes; PCR4={} PCR5={}; the in-place PV boot is not implemented yet",
        loaded.entry.kernel,
        loaded.kernel_file.len(),
        initrd_len,
        hex(&prediction.pcr4),
        hex(&prediction.pcr5)
    );
    shutdown(ShutdownReason::Poweroff)
}
