//! The image's work up to the jump, generic over the driver interface (`xen-hv`) so the host
//! tests run it on the simulated Xen: `extra=` options → the guest's disk → the boot entry,
//! kernel and initrd (`pvgrub_loader`) → pv-grub's measurements into the vTPM → the report
//! line. By default (`boot=inplace`) the line says "booting" and the image then boots the
//! kernel in place (`main.rs`, over `pvgrub_loader::domain_image` and `kernel::pvboot`); with
//! `boot=none` it says "loaded … not booting it" and the image powers off. Every failure is one
//! line and [`Outcome::Stop`]; console lines go to `out` as they happen.
//!
//! With no disk and no kernel or config option, there is nothing to do: [`Outcome::Idle`] (the
//! image then waits for `xl shutdown`, as it did before it could load anything).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use drivers::hv::Xen;
use pvgrub_loader::fetch::load_by_fetching;
use pvgrub_loader::measure::{Prediction, hex};
use pvgrub_loader::{BootMode, BootOptions, BootSource, Loaded, layout};

use crate::vbd::{GuestDisk, first_vbd};
use crate::vtpm::{VtpmError, measure};

/// How the stage ended.
#[derive(Debug)]
pub enum Outcome {
    /// No disk and nothing asked for.
    Idle,
    /// Failed; the line (already printed) says why.
    Stop(String),
    /// Loaded (and measured, if there was a vTPM).
    Loaded { loaded: Box<Loaded>, prediction: Prediction, measured: bool, boot: BootMode },
}

fn stop(out: &mut dyn FnMut(&str), why: &str) -> Outcome {
    out(&format!("pvgrub-measure: {why}; stopping the domain"));
    Outcome::Stop(String::from(why))
}

/// Runs the stage for options `opts` (`(name, value)` in command-line order) in a domain of
/// `nr_pages` pages.
pub fn run<'a, X: Xen>(
    hv: &mut X,
    opts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    nr_pages: u64,
    out: &mut dyn FnMut(&str),
) -> Outcome {
    let opts = match BootOptions::parse(opts) {
        Ok(o) => o,
        Err(e) => return stop(out, &format!("{e}")),
    };
    let node = match first_vbd(hv) {
        Ok(Some(n)) => n,
        Ok(None) if opts.source == BootSource::Config(None) && !opts.vtpm_required => {
            out("pvgrub-measure: no disk (xl disk=) and no kernel= or config option: nothing to load");
            return Outcome::Idle;
        }
        Ok(None) => return stop(out, "no disk (xl disk=) to load the kernel from"),
        Err(e) => return stop(out, &e),
    };
    let mut disk = match GuestDisk::connect(hv, &node) {
        Ok(d) => d,
        Err(e) => return stop(out, &e),
    };
    out(&format!("pvgrub-measure: disk {node}: {} sectors", disk.sectors()));
    let start = hv.now_ns();
    let mut io_ns = 0u64;
    let loaded = load_by_fetching(disk.sectors(), &opts.source, |first, buf| {
        let t0 = hv.now_ns();
        let r = disk.read_into(hv, first, buf);
        io_ns = io_ns.saturating_add(hv.now_ns().saturating_sub(t0));
        r
    });
    disk.close(hv);
    let (loaded, stats) = match loaded {
        Ok(l) => l,
        Err(e) => return stop(out, &format!("{e}")),
    };
    let ms = hv.now_ns().saturating_sub(start) / 1_000_000;
    out(&format!(
        "pvgrub-measure: read {} KiB in {} requests ({} loader rounds), {} ms",
        stats.bytes / 1024,
        stats.fetches,
        stats.rounds,
        ms
    ));
    out(&format!(
        "pvgrub-measure: of which disk I/O {} ms, finding, decompressing and checking {} ms",
        io_ns / 1_000_000,
        ms.saturating_sub(io_ns / 1_000_000)
    ));
    for n in &loaded.entry.notes {
        out(&format!("pvgrub-measure: note: {n}"));
    }
    if let Some(c) = &loaded.config {
        out(&format!("pvgrub-measure: config {c}: entry '{}'", loaded.entry.title.as_deref().unwrap_or("")));
    }
    let pv = &loaded.kernel.pv;
    out(&format!(
        "pvgrub-measure: kernel {} ({}, {} bytes decompressed): Xen PV, entry {:#x}, virt_base {:#x}",
        loaded.entry.kernel,
        loaded.kernel.compression.name(),
        loaded.kernel.elf.len(),
        pv.entry,
        pv.virt_base
    ));
    out(&format!("pvgrub-measure: cmdline \"{}\"", loaded.entry.cmdline));
    let initrd_len = loaded.initrd.as_ref().map_or(0, |i| i.len());
    match layout::compute(pv, initrd_len as u64, nr_pages) {
        Ok(l) => out(&format!(
            "pvgrub-measure: layout: {} of {} pages; start_info pfn {:#x}, page tables {} at pfn {:#x}, boot stack pfn {:#x}",
            l.pages_used, nr_pages, l.start_info.pfn, l.page_tables.pages, l.page_tables.pfn, l.boot_stack.pfn
        )),
        Err(e) => out(&format!("pvgrub-measure: layout: {e}")),
    }
    let prediction = loaded.prediction();
    let measured = match measure(hv, &loaded.plan()) {
        Ok(()) => {
            out("pvgrub-measure: measured into the vTPM: PCR 4 (kernel), PCR 5 (cmdline, initrd)");
            true
        }
        Err(VtpmError::Missing(why)) if !opts.vtpm_required => {
            out(&format!("pvgrub-measure: no vTPM ({why}): nothing measured"));
            false
        }
        Err(VtpmError::Missing(why)) => {
            return stop(out, &format!("a vTPM is required (vtpm-label/vtpm-required) but {why}"));
        }
        Err(VtpmError::Failed(why)) => return stop(out, &why),
    };
    match opts.boot {
        BootMode::None => out(&report_line(&loaded, &prediction)),
        BootMode::InPlace => out(&booting_line(&loaded, &prediction)),
    }
    Outcome::Loaded { loaded: Box::new(loaded), prediction, measured, boot: opts.boot }
}

/// The line printed before the in-place boot (`boot=inplace`, the default), instead of [`report_line`].
pub fn booting_line(loaded: &Loaded, p: &Prediction) -> String {
    format!(
        "pvgrub-measure: booting {} ({} bytes), initrd {} bytes; PCR4={} PCR5={}",
        loaded.entry.kernel,
        loaded.kernel_file.len(),
        loaded.initrd.as_ref().map_or(0, |i| i.len()),
        hex(&p.pcr4),
        hex(&p.pcr5)
    )
}

/// The stage's last line with `boot=none` (measure, report, power off).
pub fn report_line(loaded: &Loaded, p: &Prediction) -> String {
    format!(
        "pvgrub-measure: loaded {} ({} bytes), initrd {} bytes; PCR4={} PCR5={}; not booting it (boot=none)",
        loaded.entry.kernel,
        loaded.kernel_file.len(),
        loaded.initrd.as_ref().map_or(0, |i| i.len()),
        hex(&p.pcr4),
        hex(&p.pcr5)
    )
}
