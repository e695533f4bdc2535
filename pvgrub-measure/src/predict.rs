//! `pvgrub-measure predict` (host only): the PCR 4 and PCR 5 values (SHA-1 bank, from zeroed
//! PCRs) that a verifier should expect after this loader, or pv-grub, booted a kernel.
//!
//! ```text
//! pvgrub-measure predict --kernel FILE [--initrd FILE] [--cmdline STRING] [--json]
//! pvgrub-measure predict --disk IMAGE [--extra 'OPTIONS'] [--json]
//! ```
//!
//! The first form hashes the files as given (the kernel file as it is on disk, before any
//! decompression). The second runs the loader itself on a disk image, with the guest's
//! `extra=` options (split like the image splits them), finding the entry, checking that the
//! kernel is a Xen PV kernel, and predicting from what it found.

use std::fmt::Write as _;

use pvgrub_loader::BootOptions;
use pvgrub_loader::fetch::load_by_fetching;
use pvgrub_loader::measure::{Prediction, hex, predict};
use vtpm_store::{BlockDevice, MemDisk};

/// What was measured, for the report.
struct Subject {
    kernel: String,
    kernel_len: usize,
    cmdline: String,
    initrd: Option<(String, usize)>,
    entry: Option<String>,
}

const USAGE: &str = "usage: pvgrub-measure predict --kernel FILE [--initrd FILE] [--cmdline STRING] [--json]\n       pvgrub-measure predict --disk IMAGE [--extra 'OPTIONS'] [--json]";

/// Runs the subcommand on its arguments (after `predict`); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("pvgrub-measure predict: {e}");
            2
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    let mut kernel = None;
    let mut initrd = None;
    let mut cmdline = None;
    let mut disk = None;
    let mut extra = None;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match a.as_str() {
            "--kernel" => kernel = Some(value("--kernel")?),
            "--initrd" => initrd = Some(value("--initrd")?),
            "--cmdline" => cmdline = Some(value("--cmdline")?),
            "--disk" => disk = Some(value("--disk")?),
            "--extra" => extra = Some(value("--extra")?),
            "--json" => json = true,
            "-h" | "--help" => return Ok(format!("{USAGE}\n")),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let (subject, prediction) = match (kernel, disk) {
        (Some(k), None) => {
            if extra.is_some() {
                return Err("--extra goes with --disk".into());
            }
            let kbytes = std::fs::read(&k).map_err(|e| format!("{k}: {e}"))?;
            let ibytes = match &initrd {
                Some(i) => Some(std::fs::read(i).map_err(|e| format!("{i}: {e}"))?),
                None => None,
            };
            let cmdline = cmdline.unwrap_or_default();
            let p = predict(&kbytes, cmdline.as_bytes(), ibytes.as_deref());
            let subject = Subject {
                kernel: k,
                kernel_len: kbytes.len(),
                cmdline,
                initrd: initrd.zip(ibytes.map(|b| b.len())),
                entry: None,
            };
            (subject, p)
        }
        (None, Some(d)) => {
            if initrd.is_some() || cmdline.is_some() {
                return Err(
                    "--initrd and --cmdline go with --kernel (use --extra 'kernel=… ramdisk=… cmdline=…')".into()
                );
            }
            let image = std::fs::read(&d).map_err(|e| format!("{d}: {e}"))?;
            let words = kernel::cmdline::parse(extra.unwrap_or_default().as_bytes());
            let opts = BootOptions::parse(words.iter().map(|w| (w.name(), w.value()))).map_err(|e| e.to_string())?;
            // Read as the image reads its disk (through the sector cache), so this also shows
            // what the image will read and hold.
            let mut disk = MemDisk::from_image(image);
            let sectors = disk.sectors();
            let (loaded, _stats) = load_by_fetching(sectors, &opts.source, |first, buf| disk.read(first, buf))
                .map_err(|e| format!("{d}: {e}"))?;
            let p = loaded.prediction();
            let subject = Subject {
                kernel: loaded.entry.kernel.to_string(),
                kernel_len: loaded.kernel_file.len(),
                cmdline: loaded.entry.cmdline.clone(),
                initrd: loaded.entry.initrd.as_ref().map(|f| f.to_string()).zip(loaded.initrd.as_ref().map(Vec::len)),
                entry: loaded.entry.title.clone(),
            };
            (subject, p)
        }
        _ => return Err(format!("give --kernel or --disk\n{USAGE}")),
    };
    Ok(if json { as_json(&subject, &prediction) } else { as_text(&subject, &prediction) })
}

fn as_text(s: &Subject, p: &Prediction) -> String {
    let mut o = String::new();
    if let Some(t) = &s.entry {
        let _ = writeln!(o, "entry: {t}");
    }
    let _ = writeln!(o, "kernel: {} ({} bytes)", s.kernel, s.kernel_len);
    let _ = writeln!(o, "cmdline: \"{}\" ({} bytes)", s.cmdline, s.cmdline.len());
    match &s.initrd {
        Some((name, len)) => {
            let _ = writeln!(o, "initrd: {name} ({len} bytes)");
        }
        None => {
            let _ = writeln!(o, "initrd: none (SHA-1 of zero bytes is extended)");
        }
    }
    for (i, m) in p.plan.iter().enumerate() {
        let _ = writeln!(o, "extend {}: PCR {} <- {} ({})", i + 1, m.pcr, hex(&m.digest), m.what);
    }
    let _ = writeln!(o, "PCR4={}", hex(&p.pcr4));
    let _ = writeln!(o, "PCR5={}", hex(&p.pcr5));
    o
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn as_json(s: &Subject, p: &Prediction) -> String {
    let extends: Vec<String> = p
        .plan
        .iter()
        .map(|m| format!("{{\"pcr\":{},\"what\":\"{}\",\"digest\":\"{}\"}}", m.pcr, m.what, hex(&m.digest)))
        .collect();
    let initrd = match &s.initrd {
        Some((n, l)) => format!("{{\"path\":{},\"bytes\":{l}}}", json_str(n)),
        None => "null".into(),
    };
    let entry = s.entry.as_deref().map(json_str).unwrap_or_else(|| "null".into());
    format!(
        "{{\"bank\":\"sha1\",\"pcr4\":\"{}\",\"pcr5\":\"{}\",\"extends\":[{}],\"entry\":{entry},\"kernel\":{{\"path\":{},\"bytes\":{}}},\"cmdline\":{},\"initrd\":{initrd}}}\n",
        hex(&p.pcr4),
        hex(&p.pcr5),
        extends.join(","),
        json_str(&s.kernel),
        s.kernel_len,
        json_str(&s.cmdline),
    )
}
