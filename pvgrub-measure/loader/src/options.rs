//! The loader's `extra=` options, named as pv-grub's command line and this image's earlier
//! option list named them:
//!
//! - a bare word starting with `(` or `/` is the config file, as pv-grub's `argv[1]` was
//!   (`"(hd0,0)/boot/grub/menu.lst"`); `config=PATH` says the same;
//! - `kernel=PATH` [`ramdisk=PATH`] [`cmdline=STRING`]: boot that kernel directly (no config);
//! - `--vtpm-label=LABEL` (pv-grub's spelling, also `vtpm-label=`): a vTPM is required (no
//!   vTPM stops the domain); `vtpm-required` requires one without naming a label;
//! - `boot=inplace`, the default, boots the loaded kernel in place (the PV "kexec");
//!   `boot=none` measures, reports and powers off (a verifier's dry run; see the image's README).
//!
//! Paths here follow pv-grub: GRUB legacy numbering, `(hd0,0)` is the first partition; a
//! name with a table (`(hd0,msdos1)`, `(hd0,gpt2)`) is GRUB 2 numbering. A plain `/path` is
//! looked up on each partition in turn. With no config and no kernel, the loader looks for
//! [`DEFAULT_CONFIGS`] on each partition in turn.

use alloc::format;
use alloc::string::{String, ToString};

use crate::error::LoadError;
use crate::grub_path::{Dialect, GrubPath, parse_path};

/// Option names (for the image's list of known options).
pub const OPTION_NAMES: &[&str] =
    &["kernel", "ramdisk", "cmdline", "config", "vtpm-label", "--vtpm-label", "vtpm-required", "boot"];

/// The configs looked for, in order, on each partition.
pub const DEFAULT_CONFIGS: &[&str] =
    &["/boot/grub/grub.cfg", "/grub/grub.cfg", "/boot/grub/menu.lst", "/grub/menu.lst"];

/// Where the kernel comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootSource {
    /// A config file (`None`: search [`DEFAULT_CONFIGS`]).
    Config(Option<GrubPath>),
    /// A kernel named directly.
    Direct { kernel: GrubPath, ramdisk: Option<GrubPath>, cmdline: String },
}

/// Parsed options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootOptions {
    pub source: BootSource,
    /// A missing vTPM stops the domain.
    pub vtpm_required: bool,
    /// pv-grub's `--vtpm-label` (its XSM label check is not done here; see the README).
    pub vtpm_label: Option<String>,
    /// What happens after the measurement (`boot=`).
    pub boot: BootMode,
}

/// `boot=`: what the loader does once the kernel is loaded and measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BootMode {
    /// Report and power off (`boot=none`: measure only).
    None,
    /// Boot the kernel in place (`boot=inplace`, the default).
    #[default]
    InPlace,
}

impl BootOptions {
    /// From `(name, value)` pairs in command-line order (`value` is `None` for a bare word).
    pub fn parse<'a>(options: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Result<BootOptions, LoadError> {
        let mut config = None;
        let mut kernel = None;
        let mut ramdisk = None;
        let mut cmdline = None;
        let mut vtpm_required = false;
        let mut vtpm_label = None;
        let mut boot = BootMode::default();
        let path = |name: &str, v: &str| {
            parse_path(v, Dialect::Legacy).map_err(|e| LoadError::BadOption(format!("{name}={v}: {e}")))
        };
        for (name, value) in options {
            match (name, value) {
                ("config", Some(v)) => config = Some(path(name, v)?),
                (w, None) if w.starts_with('(') || w.starts_with('/') => config = Some(path("config", w)?),
                ("kernel", Some(v)) => kernel = Some(path(name, v)?),
                ("ramdisk", Some(v)) => ramdisk = Some(path(name, v)?),
                ("cmdline", Some(v)) => cmdline = Some(v.to_string()),
                ("vtpm-label" | "--vtpm-label", Some(v)) => {
                    vtpm_required = true;
                    vtpm_label = Some(v.to_string());
                }
                ("vtpm-required", None) => vtpm_required = true,
                ("boot", Some("inplace")) => boot = BootMode::InPlace,
                ("boot", Some("none")) => boot = BootMode::None,
                ("boot", Some(v)) => {
                    return Err(LoadError::BadOption(format!("boot={v}: give boot=inplace or boot=none")));
                }
                (n @ ("config" | "kernel" | "ramdisk" | "cmdline" | "vtpm-label" | "--vtpm-label" | "boot"), None) => {
                    return Err(LoadError::BadOption(format!("'{n}' needs a value ({n}=...)")));
                }
                _ => {}
            }
        }
        let source = match (kernel, config) {
            (Some(_), Some(_)) => {
                return Err(LoadError::BadOption("give either a config file or kernel=, not both".into()));
            }
            (Some(kernel), None) => BootSource::Direct { kernel, ramdisk, cmdline: cmdline.unwrap_or_default() },
            (None, config) => {
                if ramdisk.is_some() || cmdline.is_some() {
                    return Err(LoadError::BadOption("ramdisk= and cmdline= need kernel=".into()));
                }
                BootSource::Config(config)
            }
        };
        Ok(BootOptions { source, vtpm_required, vtpm_label, boot })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grub_path::Device;

    #[test]
    fn forms() {
        let o = BootOptions::parse([("(hd0,0)/boot/grub/menu.lst", None)]).unwrap();
        assert_eq!(
            o.source,
            BootSource::Config(Some(GrubPath {
                device: Some(Device::Partition { number: 1, table: None }),
                path: "/boot/grub/menu.lst".into()
            }))
        );
        assert!(!o.vtpm_required);
        let o = BootOptions::parse([
            ("--vtpm-label", Some("system_u:system_r:vtpm_t")),
            ("kernel", Some("(hd0,msdos2)/vmlinuz")),
            ("cmdline", Some("root=/dev/xvda2 ro")),
            ("loglevel", Some("info")),
        ])
        .unwrap();
        assert!(o.vtpm_required);
        let BootSource::Direct { kernel, ramdisk, cmdline } = o.source else { panic!() };
        assert_eq!(
            kernel.device,
            Some(Device::Partition { number: 2, table: Some(crate::partition::TableKind::Msdos) })
        );
        assert_eq!(ramdisk, None);
        assert_eq!(cmdline, "root=/dev/xvda2 ro");
        assert_eq!(BootOptions::parse([]).unwrap().source, BootSource::Config(None));
        assert!(BootOptions::parse([("vtpm-required", None)]).unwrap().vtpm_required);
        assert_eq!(BootOptions::parse([]).unwrap().boot, BootMode::InPlace);
        assert_eq!(BootOptions::parse([("boot", Some("none"))]).unwrap().boot, BootMode::None);
        assert_eq!(BootOptions::parse([("boot", Some("inplace"))]).unwrap().boot, BootMode::InPlace);
        assert_eq!(
            BootOptions::parse([("boot", Some("inplace")), ("boot", Some("none"))]).unwrap().boot,
            BootMode::None
        );
    }

    #[test]
    fn errors() {
        for bad in [
            &[("kernel", Some("/k")), ("config", Some("/c"))][..],
            &[("cmdline", Some("x"))],
            &[("kernel", Some("vmlinuz"))],
            &[("kernel", None)],
            &[("ramdisk", Some("(hd0,0"))],
            &[("boot", Some("kexec"))],
            &[("boot", None)],
        ] {
            assert!(matches!(BootOptions::parse(bad.iter().copied()), Err(LoadError::BadOption(_))), "{bad:?}");
        }
    }
}
