//! The manager's hardware-TPM options (fact sheet §6.3, §12.1): `tpmdriver=tpm_tis|tpmfront`
//! (default tpm_tis) and ours, `tpmdriver=none` (no hardware TPM: the root secret is wrapped by
//! an administrator key, `root_key=`), `tpmiomem=0x<hex>` (the TIS base; the `0x` is required,
//! as in the C parser; default 0xFED40000), `tpmlocality=0..4` (default 0; also the locality
//! of tpmfront's requests), `tpmirq=<n>|probe` (we only poll, as with the C default 0) and
//! `tpm2=1`. The key-store options (`owner_auth`, `srk_auth` = `well-known` | `hash:<40 hex>`
//! | `text:<str>`, `srk_handle=<hex>`, `tpm2=1`, and ours `hw_seal_pcrs=<list>`) become the
//! hardware client's [`HwConfig`] ([`hw_config`]); `root_key=text:<passphrase>|hash:<64
//! hex>|hdb` becomes [`RootKey`] ([`root_key`]).
//!
//! Pure: [`parse`] never fails (unusable values become warnings and the default is kept);
//! [`hw_config`] refuses a bad secret instead (a typo in `owner_auth` must not take ownership
//! with the well-known secret).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kernel::cmdline::CmdOption;
use vtpmmgr_core::HwConfig;

/// Default TIS base (`TPM_BASEADDR`).
pub const TIS_BASE: u64 = 0xFED4_0000;

/// How the manager reaches the hardware TPM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TpmDriver {
    /// MMIO (TIS/PTP FIFO) at `tpmiomem`, with xl `iomem=`.
    Tis,
    /// A TPM another domain serves, over the manager's own `device/vtpm/0` frontend.
    Tpmfront,
    /// No hardware TPM: the root secret is wrapped by an administrator key (`root_key=`).
    None,
}

/// `root_key=`: the administrator key of `tpmdriver=none`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootKey {
    /// `text:<passphrase>` or `hash:<64 hex>`.
    Passphrase(vtpmmgr_core::admin_key::AdminKey),
    /// `hdb`: 32 bytes on the second disk (`device/vbd/832`).
    KeyDisk,
}

/// The manager's hardware-TPM options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MgrOptions {
    pub driver: TpmDriver,
    pub iomem: u64,
    pub locality: u8,
    /// `tpmirq=` other than 0: asked for, not supported (we poll).
    pub irq_requested: bool,
    /// `tpm2=1`: the configuration expects a TPM 2.0.
    pub tpm2: bool,
}

impl Default for MgrOptions {
    fn default() -> Self {
        MgrOptions { driver: TpmDriver::Tis, iomem: TIS_BASE, locality: 0, irq_requested: false, tpm2: false }
    }
}

/// How one option acts on the options being built (its value; warnings to print).
type Apply = fn(&mut MgrOptions, &str, &mut Vec<String>);

/// The parser's table: every option the image knows (options without a value are ignored, as
/// in the C parser). The key-store options are accepted and not used yet. The image's
/// known-options list ([`KNOWN_OPTIONS`]) is derived from it.
const TABLE: [(&str, Apply); 10] = [
    ("tpm2", |o, v, _| o.tpm2 = v == "1"),
    ("owner_auth", |_, _, _| {}),
    ("srk_auth", |_, _, _| {}),
    ("srk_handle", |_, _, _| {}),
    ("tpmdriver", |o, v, warn| match v {
        "tpm_tis" => o.driver = TpmDriver::Tis,
        "tpmfront" => o.driver = TpmDriver::Tpmfront,
        "none" => o.driver = TpmDriver::None,
        _ => warn.push(format!("Warning: tpmdriver={v} is not tpm_tis, tpmfront or none; using tpm_tis")),
    }),
    ("tpmiomem", |o, v, warn| {
        match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")).and_then(|h| u64::from_str_radix(h, 16).ok()) {
            Some(a) if a % 4096 == 0 && a != 0 => o.iomem = a,
            _ => warn.push(format!("Warning: tpmiomem={v} is not a page-aligned 0x<hex> address; using {TIS_BASE:#x}")),
        }
    }),
    ("tpmirq", |o, v, _| o.irq_requested = v != "0"),
    ("tpmlocality", |o, v, warn| match v.parse::<u8>() {
        Ok(l) if l <= 4 => o.locality = l,
        _ => warn.push(format!("Warning: tpmlocality={v} is not 0..4; using 0")),
    }),
    ("hw_seal_pcrs", |_, _, _| {}),
    ("root_key", |_, _, _| {}),
];

/// The option names of [`TABLE`], for the image's `ImageInfo::known_options` (the runtime's
/// own options, `loglevel` and `selftest`, are known to the kernel already).
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
pub fn parse(opts: &[CmdOption]) -> (MgrOptions, Vec<String>) {
    let mut o = MgrOptions::default();
    let mut warn = Vec::new();
    for opt in opts {
        let Some(v) = opt.value() else { continue };
        if let Some((_, apply)) = TABLE.iter().find(|(name, _)| *name == opt.name()) {
            apply(&mut o, v, &mut warn);
        }
    }
    (o, warn)
}

/// The options of the hardware-TPM client, in command-line order (last one wins); `Err` with
/// one console line per unusable option (the key store must then not be opened).
pub fn hw_config(opts: &[CmdOption]) -> Result<HwConfig, Vec<String>> {
    let mut c = HwConfig::default();
    let mut errors = Vec::new();
    for opt in opts {
        let Some(v) = opt.value() else { continue };
        if !matches!(opt.name(), "owner_auth" | "srk_auth" | "srk_handle" | "tpm2" | "hw_seal_pcrs") {
            continue;
        }
        if let Err(e) = c.apply(&format!("{}={v}", opt.name())) {
            errors.push(format!("ERROR[VTPM]: {}: {e}", opt.name()));
        }
    }
    if errors.is_empty() { Ok(c) } else { Err(errors) }
}

/// `root_key=` (last one wins): `Ok(None)` if not given; `Err` with the console line if it does
/// not parse (the key store must then not be opened: never a silent fallback).
pub fn root_key(opts: &[CmdOption]) -> Result<Option<RootKey>, String> {
    let Some(v) = opts.iter().rev().find(|o| o.name() == "root_key").and_then(|o| o.value()) else {
        return Ok(None);
    };
    if v == "hdb" {
        return Ok(Some(RootKey::KeyDisk));
    }
    vtpmmgr_core::admin_key::AdminKey::parse_passphrase(v)
        .map(|k| Some(RootKey::Passphrase(k)))
        .map_err(|e| format!("ERROR[VTPM]: root_key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::cmdline;

    fn p(s: &str) -> (MgrOptions, Vec<String>) {
        parse(&cmdline::parse(s.as_bytes()))
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(p(""), (MgrOptions::default(), Vec::new()));
        let (o, w) = p("tpmdriver=tpm_tis tpmlocality=2 tpmiomem=0xfed40000 tpmirq=0 tpm2=1");
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(
            o,
            MgrOptions { driver: TpmDriver::Tis, iomem: 0xFED4_0000, locality: 2, irq_requested: false, tpm2: true }
        );
        let (o, _) = p("tpmdriver=tpmfront tpmirq=probe tpmiomem=0XFED41000");
        assert_eq!((o.driver, o.irq_requested, o.iomem), (TpmDriver::Tpmfront, true, 0xFED4_1000));
    }

    #[test]
    fn bad_values_warn() {
        let (o, w) = p("tpmdriver=tis tpmlocality=5 tpmiomem=fed40000 tpmiomem=0x123 tpmlocality=-1 tpmiomem=0xzz");
        assert_eq!(o, MgrOptions::default());
        assert_eq!(w.len(), 6, "{w:?}");
    }

    #[test]
    fn known_options_come_from_the_table() {
        assert_eq!(
            KNOWN_OPTIONS,
            [
                "tpm2",
                "owner_auth",
                "srk_auth",
                "srk_handle",
                "tpmdriver",
                "tpmiomem",
                "tpmirq",
                "tpmlocality",
                "hw_seal_pcrs",
                "root_key"
            ]
        );
        assert_eq!(p("owner_auth=x srk_auth=y srk_handle=z"), (MgrOptions::default(), Vec::new()));
    }

    #[test]
    fn hw_config_takes_the_c_managers_secrets_and_refuses_bad_ones() {
        use vtpmmgr_core::hwtpm::AuthValue;
        let h = |s: &str| hw_config(&cmdline::parse(s.as_bytes()));
        let c = h("").expect("defaults");
        assert_eq!(
            (c.owner_auth.clone(), c.srk_auth.clone(), c.family, c.srk_handle),
            (AuthValue::WellKnown, AuthValue::WellKnown, None, None)
        );
        let c = h(
            "owner_auth=text:secret srk_auth=hash:0102030405060708090a0b0c0d0e0f1011121314 tpm2=1 srk_handle=81000001",
        )
        .expect("values");
        assert_ne!(c.owner_auth, AuthValue::WellKnown);
        assert_ne!(c.srk_auth, AuthValue::WellKnown);
        assert_eq!((c.family, c.srk_handle), (Some(tpm_frame::Family::Tpm20), Some(0x8100_0001)));
        let e = h("owner_auth=hash:12 srk_auth=bogus tpm2=2 tpmlocality=1").expect_err("refused");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("ERROR[VTPM]: owner_auth"), "{e:?}");
    }

    /// Regression: `hw_seal_pcrs=` reached the core's parser only in its own tests; the image
    /// dropped it (and called it unknown), so PCR sealing could not be switched on.
    #[test]
    fn hw_seal_pcrs_reaches_the_hardware_client() {
        use vtpmmgr_core::hwtpm::PcrMask;
        let h = |s: &str| hw_config(&cmdline::parse(s.as_bytes()));
        assert_eq!(h("hw_seal_pcrs=0-7,16").expect("pcrs").seal_pcrs, PcrMask(0x1_00FF));
        assert_eq!(h("tpm2=1 hw_seal_pcrs=4").expect("pcrs").seal_pcrs, PcrMask(0x10));
        assert!(h("").expect("default").seal_pcrs.is_empty(), "off by default");
        let e = h("hw_seal_pcrs=24").expect_err("refused");
        assert!(e[0].starts_with("ERROR[VTPM]: hw_seal_pcrs"), "{e:?}");
        assert!(KNOWN_OPTIONS.contains(&"hw_seal_pcrs"));
    }

    #[test]
    fn tpmdriver_none_and_root_key() {
        use vtpmmgr_core::admin_key::AdminKey;
        assert_eq!(p("tpmdriver=none").0.driver, TpmDriver::None);
        let r = |s: &str| root_key(&cmdline::parse(s.as_bytes()));
        assert_eq!(r(""), Ok(None));
        assert_eq!(r("root_key=hdb"), Ok(Some(RootKey::KeyDisk)));
        assert_eq!(
            r("root_key=hdb root_key=text:passphrase"),
            Ok(Some(RootKey::Passphrase(AdminKey::parse_passphrase("text:passphrase").unwrap())))
        );
        let h = format!("root_key=hash:{}", "ab".repeat(32));
        assert!(matches!(r(&h), Ok(Some(RootKey::Passphrase(_)))));
        assert!(r("root_key=text:short").expect_err("short").starts_with("ERROR[VTPM]: root_key: "));
        assert!(r("root_key=secret").is_err());
        assert!(r("root_key=hash:00").is_err());
    }
}
