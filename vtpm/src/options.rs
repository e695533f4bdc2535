//! The vtpm's command-line options (xl `extra=`), as the C vtpm-stubdom takes them (fact sheet
//! §8.1): `loglevel=error|info|debug`, the startup mode `clear|save|deactivated` (last one
//! wins), `maintcmds=0|1`, `hwinitpcr=all|none|N|X-Y[,…]`, and `locality=` (parsed only to
//! say it is not applied). Our own addition: `disktest=write|verify` (a blkfront check that
//! runs instead of the TPM, see `disktest.rs`).
//!
//! Pure: parsing never fails; anything unusable becomes a warning line for the console and
//! the default is kept. Unlike the C parser, `hwinitpcr=12-16` selects PCRs 12 to 16 (the C
//! one matched `N` before `X-Y` and so set only PCR 12).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use kernel::cmdline::CmdOption;

/// Number of PCRs of the TPM 1.2 engine.
pub const NUM_PCRS: u32 = 24;

/// `TPM_STARTUP_TYPE` (TPM Main Part 2 §4.5): what `TPM_Startup` is run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupMode {
    /// `TPM_ST_CLEAR` (1), the default.
    Clear = 1,
    /// `TPM_ST_STATE` (2): restore the state saved by TPM_SaveState.
    State = 2,
    /// `TPM_ST_DEACTIVATED` (3).
    Deactivated = 3,
}

/// `disktest=`: exercise blkfront on the domain's disk instead of serving a TPM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskTest {
    /// Write the pattern, flush, power off.
    Write,
    /// Read the pattern back and compare, power off.
    Verify,
}

/// Everything the vtpm image takes from its command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VtpmOptions {
    pub startup: StartupMode,
    pub maintcmds: bool,
    /// Bit `n` set: copy hardware PCR `n` at startup (needs the manager).
    pub hwinitpcr: u32,
    /// The `locality=` entries as given (they need XSM labels, which we cannot read).
    pub locality: Vec<String>,
    pub disktest: Option<DiskTest>,
    /// `loglevel=debug`: print service-time summaries.
    pub debug: bool,
    /// `reboot_wait=<s>`: after the guest domain is gone (destroyed, or rebooted by the
    /// toolstack, which makes it again under a new domid), how long to wait for a rebooted
    /// guest to attach before powering off. 0: power off as soon as it is gone.
    pub reboot_wait_s: u32,
    /// `tpm2=1`: serve a TPM 2.0 (the `tpm20` engine) instead of a TPM 1.2.
    pub tpm2: bool,
}

/// Default `reboot_wait` (seconds): `xl reboot` makes the new domain and its vtpm device
/// within a few seconds on a real host; the QEMU test bed needs ~10.
pub const DEFAULT_REBOOT_WAIT_S: u32 = 30;
/// The largest `reboot_wait` accepted (an hour).
pub const MAX_REBOOT_WAIT_S: u32 = 3600;

impl Default for VtpmOptions {
    fn default() -> Self {
        VtpmOptions {
            startup: StartupMode::Clear,
            maintcmds: false,
            hwinitpcr: 0,
            locality: Vec::new(),
            disktest: None,
            debug: false,
            reboot_wait_s: DEFAULT_REBOOT_WAIT_S,
            tpm2: false,
        }
    }
}

/// Parses a `hwinitpcr=` value: `all`, `none`, or a comma list of `N` and `X-Y` (inclusive).
pub fn parse_pcr_list(value: &str) -> Result<u32, String> {
    match value {
        "all" => return Ok((1u32 << NUM_PCRS) - 1),
        "none" => return Ok(0),
        _ => {}
    }
    let mut mask = 0u32;
    for item in value.split(',') {
        let item = item.trim();
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (parse_pcr(a)?, parse_pcr(b)?),
            None => {
                let n = parse_pcr(item)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(format!("range '{item}' runs backwards"));
        }
        for n in lo..=hi {
            mask |= 1 << n;
        }
    }
    Ok(mask)
}

fn parse_pcr(s: &str) -> Result<u32, String> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 3 {
        return Err(format!("'{s}' is not a PCR number"));
    }
    let n: u32 = s.parse().map_err(|_| format!("'{s}' is not a PCR number"))?;
    if n >= NUM_PCRS {
        return Err(format!("PCR {n} does not exist (0..{})", NUM_PCRS - 1));
    }
    Ok(n)
}

/// Lists a PCR mask compactly (`0-7,12,16-23`).
pub fn format_pcr_mask(mask: u32) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut n = 0;
    while n < NUM_PCRS {
        if mask & (1 << n) == 0 {
            n += 1;
            continue;
        }
        let start = n;
        while n + 1 < NUM_PCRS && mask & (1 << (n + 1)) != 0 {
            n += 1;
        }
        parts.push(if start == n { start.to_string() } else { format!("{start}-{n}") });
        n += 1;
    }
    if parts.is_empty() { "none".to_string() } else { parts.join(",") }
}

/// How one option acts on the options being built (value, warnings to print).
type Apply = fn(&mut VtpmOptions, Option<&str>, &mut Vec<String>);

/// The parser's table: every option the image understands and what it does. The image's
/// known-options list ([`KNOWN_OPTIONS`]) is derived from it.
const TABLE: [(&str, Apply); 10] = [
    ("loglevel", |o, v, _| {
        if let Some(v) = v {
            o.debug = v == "debug" || v == "trace"
        }
    }),
    ("clear", |o, v, _| {
        if v.is_none() {
            o.startup = StartupMode::Clear
        }
    }),
    ("save", |o, v, _| {
        if v.is_none() {
            o.startup = StartupMode::State
        }
    }),
    ("deactivated", |o, v, _| {
        if v.is_none() {
            o.startup = StartupMode::Deactivated
        }
    }),
    ("maintcmds", |o, v, warn| match v {
        Some("1") => o.maintcmds = true,
        Some("0") => o.maintcmds = false,
        v => warn.push(format!("Warning: maintcmds={} is not 0 or 1; keeping {}", v.unwrap_or(""), o.maintcmds as u8)),
    }),
    ("hwinitpcr", |o, v, warn| {
        if let Some(v) = v {
            match parse_pcr_list(v) {
                Ok(m) => o.hwinitpcr = m,
                Err(e) => warn.push(format!("Warning: ignoring hwinitpcr={v}: {e}")),
            }
        }
    }),
    ("locality", |o, v, _| {
        if let Some(v) = v {
            o.locality.push(v.to_string())
        }
    }),
    ("disktest", |o, v, warn| match v {
        Some("write") => o.disktest = Some(DiskTest::Write),
        Some("verify") => o.disktest = Some(DiskTest::Verify),
        v => warn.push(format!("Warning: disktest={} is not write or verify; ignored", v.unwrap_or(""))),
    }),
    ("tpm2", |o, v, warn| match v {
        Some("1") => o.tpm2 = true,
        Some("0") => o.tpm2 = false,
        v => warn.push(format!("Warning: tpm2={} is not 0 or 1; keeping {}", v.unwrap_or(""), o.tpm2 as u8)),
    }),
    ("reboot_wait", |o, v, warn| match v.and_then(|v| v.parse::<u32>().ok()).filter(|s| *s <= MAX_REBOOT_WAIT_S) {
        Some(s) => o.reboot_wait_s = s,
        None => warn.push(format!(
            "Warning: reboot_wait={} is not a number of seconds 0..{MAX_REBOOT_WAIT_S}; keeping {}",
            v.unwrap_or(""),
            o.reboot_wait_s
        )),
    }),
];

/// The option names of [`TABLE`], for the image's `ImageInfo::known_options` (the runtime's
/// own options, `selftest` and friends, are known to the kernel already).
pub const KNOWN_OPTIONS: [&str; TABLE.len()] = {
    let mut names = [""; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        names[i] = TABLE[i].0;
        i += 1;
    }
    names
};

/// Parses the options; returns them and the warnings to print.
pub fn parse(opts: &[CmdOption]) -> (VtpmOptions, Vec<String>) {
    let mut o = VtpmOptions::default();
    let mut warn = Vec::new();
    for opt in opts {
        if let Some((_, apply)) = TABLE.iter().find(|(name, _)| *name == opt.name()) {
            apply(&mut o, opt.value(), &mut warn);
        }
    }
    (o, warn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::cmdline;

    fn p(s: &str) -> (VtpmOptions, Vec<String>) {
        parse(&cmdline::parse(s.as_bytes()))
    }

    #[test]
    fn pcr_lists() {
        assert_eq!(parse_pcr_list("all"), Ok(0x00FF_FFFF));
        assert_eq!(parse_pcr_list("none"), Ok(0));
        assert_eq!(parse_pcr_list("5"), Ok(1 << 5));
        // the C vtpm's bug: a range set only its first PCR
        assert_eq!(parse_pcr_list("12-16"), Ok(0b1_1111 << 12));
        assert_eq!(parse_pcr_list("0-2,7,20-23"), Ok(0b111 | 1 << 7 | 0xF << 20));
        assert_eq!(parse_pcr_list("3-3"), Ok(1 << 3));
        for bad in ["24", "16-12", "x", "", "1,", "-3", "4-", "1-99", "0x3", "+1", "99999999999"] {
            assert!(parse_pcr_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pcr_masks_print_compactly() {
        assert_eq!(format_pcr_mask(0), "none");
        assert_eq!(format_pcr_mask(0x00FF_FFFF), "0-23");
        assert_eq!(format_pcr_mask(0b1_1111 << 12 | 1), "0,12-16");
        for s in ["0-2,7,20-23", "5", "1,3,5"] {
            assert_eq!(format_pcr_mask(parse_pcr_list(s).unwrap()), s);
        }
    }

    #[test]
    fn options_as_the_c_image() {
        let (o, w) = p("loglevel=debug clear maintcmds=1 hwinitpcr=0-7,16");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(o.startup, StartupMode::Clear);
        assert!(o.maintcmds && o.debug);
        assert_eq!(o.hwinitpcr, 0xFF | 1 << 16);
        let (o, _) = p("save deactivated");
        assert_eq!(o.startup, StartupMode::Deactivated, "last mode wins");
        let (o, _) = p("save");
        assert_eq!(o.startup, StartupMode::State);
        let (o, w) = p("");
        assert_eq!(o, VtpmOptions::default());
        assert!(w.is_empty());
    }

    #[test]
    fn bad_values_warn_and_keep_defaults() {
        let (o, w) = p("maintcmds=yes hwinitpcr=30 disktest=maybe maintcmds");
        assert_eq!(o, VtpmOptions::default());
        assert_eq!(w.len(), 4, "{w:?}");
        let (o, _) = p("hwinitpcr=1 hwinitpcr=bad");
        assert_eq!(o.hwinitpcr, 1 << 1, "a bad value keeps the earlier good one");
        let (o, w) = p("reboot_wait=-1 reboot_wait=3601 reboot_wait reboot_wait=x");
        assert_eq!(o.reboot_wait_s, DEFAULT_REBOOT_WAIT_S);
        assert_eq!(w.len(), 4, "{w:?}");
        let (o, w) = p("tpm2=1");
        assert!(o.tpm2 && w.is_empty());
        let (o, w) = p("tpm2=2 tpm2");
        assert!(!o.tpm2 && w.len() == 2);
        let (o, w) = p("reboot_wait=0");
        assert_eq!((o.reboot_wait_s, w.len()), (0, 0));
        let (o, _) = p("disktest=write locality=guest_t=0,1");
        assert_eq!(o.disktest, Some(DiskTest::Write));
        assert_eq!(o.locality, ["guest_t=0,1"]);
    }

    #[test]
    fn known_options_come_from_the_table() {
        assert_eq!(
            KNOWN_OPTIONS,
            [
                "loglevel",
                "clear",
                "save",
                "deactivated",
                "maintcmds",
                "hwinitpcr",
                "locality",
                "disktest",
                "tpm2",
                "reboot_wait"
            ]
        );
        let (o, _) = p("loglevel=trace");
        assert!(o.debug);
    }
}
