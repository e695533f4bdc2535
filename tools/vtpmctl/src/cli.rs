//! The command line: one subcommand, then its positional arguments, `--opt VALUE` (or
//! `--opt=VALUE`) options and flags, in any order; `--help` anywhere prints that command's help.
//! A malformed command line is a [`Fail::Usage`] (exit code 2, as xl); every other failure is a
//! [`Fail::Error`] (exit code 1). Both print one plain line.

use std::collections::{BTreeMap, BTreeSet};

/// Why a command did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fail {
    /// The command line was wrong (exit 2).
    Usage(String),
    /// The command failed (exit 1).
    Error(String),
}

/// Shorthand for a [`Fail::Error`].
pub fn error(msg: impl Into<String>) -> Fail {
    Fail::Error(msg.into())
}

/// Shorthand for a [`Fail::Usage`].
pub fn usage(msg: impl Into<String>) -> Fail {
    Fail::Usage(msg.into())
}

/// A parsed subcommand line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub positional: Vec<String>,
    pub values: BTreeMap<String, String>,
    pub flags: BTreeSet<String>,
    pub help: bool,
}

impl Args {
    /// Parses `args` for a command taking options `with_value` (`"--size"`) and `flags`
    /// (`"--json"`).
    pub fn parse(cmd: &str, args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Args, Fail> {
        let mut a = Args::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--help" || arg == "-h" {
                a.help = true;
            } else if arg == "--" {
                a.positional.extend(it.by_ref().cloned());
            } else if let Some(opt) = arg.strip_prefix("--") {
                let (name, inline) = match opt.split_once('=') {
                    Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                    None => (arg.clone(), None),
                };
                if with_value.contains(&name.as_str()) {
                    let v = match inline {
                        Some(v) => v,
                        None => it.next().cloned().ok_or_else(|| usage(format!("{cmd}: {name} needs a value")))?,
                    };
                    if a.values.insert(name.clone(), v).is_some() {
                        return Err(usage(format!("{cmd}: {name} given twice")));
                    }
                } else if flags.contains(&name.as_str()) && inline.is_none() {
                    a.flags.insert(name);
                } else {
                    return Err(usage(format!("{cmd}: unknown option {arg} (see vtpmctl {cmd} --help)")));
                }
            } else if arg.starts_with('-') && arg.len() > 1 {
                return Err(usage(format!("{cmd}: unknown option {arg} (see vtpmctl {cmd} --help)")));
            } else {
                a.positional.push(arg.clone());
            }
        }
        Ok(a)
    }

    /// The one positional argument `what` (`NAME`).
    pub fn one(&self, cmd: &str, what: &str) -> Result<&str, Fail> {
        match self.positional.as_slice() {
            [x] => Ok(x),
            [] => Err(usage(format!("{cmd}: {what} missing (see vtpmctl {cmd} --help)"))),
            [_, extra, ..] => Err(usage(format!("{cmd}: unexpected argument {extra:?}"))),
        }
    }

    /// No positional arguments.
    pub fn none(&self, cmd: &str) -> Result<(), Fail> {
        match self.positional.first() {
            None => Ok(()),
            Some(extra) => Err(usage(format!("{cmd}: unexpected argument {extra:?}"))),
        }
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.contains(name)
    }

    /// A numeric option within `range`, or `default`.
    pub fn number(
        &self,
        cmd: &str,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, Fail> {
        let Some(v) = self.value(name) else { return Ok(default) };
        match v.parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(usage(format!(
                "{cmd}: {name} must be a number from {} to {}, not {v:?}",
                range.start(),
                range.end()
            ))),
        }
    }
}

/// `vtpmctl --help`.
pub const MAIN_HELP: &str = "\
usage: vtpmctl [--state-dir DIR] COMMAND [ARGS]

Manage the vTPM stub domains of Xen guests from dom0.

commands:
  create NAME --guest CFG   make a vtpm: disk image, uuid, xl cfg; add it to the guest's cfg
  list                      every vtpm vtpmctl made, with its running state
  show NAME                 one vtpm in detail
  delete NAME --yes         remove a stopped vtpm's disk, cfg and record
  start NAME                start the vtpm, wait until it serves, then start its guest
  probe                     check that /dev/xen and xenstore work for vtpmctl
  backup NAME FILE          the vtpm's key (from its manager) and disk in a file only that
                            manager can restore
  restore FILE              a backup back into the manager and the disk
  manager-key               the manager's migration public key (give it to the source)
  export NAME --to KEY FILE the vtpm for another manager; retired at this one
  import FILE               an export into this manager (once), and the disk
  hvm NAME                  the lines an HVM guest needs to use vtpm NAME through vtpm-bridge
  install                   a systemd unit (or init script) that starts the manager at boot
  reattach                  point the running vtpms at their restarted manager

options:
  --state-dir DIR   where vtpmctl keeps its records (default /var/lib/vtpmctl;
                    environment: VTPMCTL_STATE_DIR)
  --help            this text; `vtpmctl COMMAND --help` for a command's

exit codes: 0 success, 1 failure, 2 bad command line.
";

pub const CREATE_HELP: &str = "\
usage: vtpmctl create NAME --guest CFG [--manager NAME] [--disk-dir DIR] [--size MiB]
                      [--cfg-dir DIR] [--template CFG] [--print]

Makes vtpm NAME for the guest whose xl cfg is CFG: a zero-filled disk image DISK-DIR/NAME.img
of the given size (default 8 MiB), a random uuid, and the vtpm's xl cfg CFG-DIR/NAME.cfg
(default /etc/xen) from the template (default: the built-in configs/vtpm.cfg) with
name = NAME, disk = DISK and vtpm = [ \"backend=MANAGER,uuid=UUID\" ] (MANAGER default vtpmmgr).
Then adds  vtpm = [ \"backend=NAME\" ]  to CFG, keeping its other lines and comments, or with
--print only prints that line. DISK-DIR defaults to STATE-DIR/disks.

Nothing is changed if any check fails: NAME known or malformed, CFG unreadable, without a
name or already with a vtpm line, the disk or cfg file already there, no space for the disk.
";

pub const LIST_HELP: &str = "\
usage: vtpmctl list [--manager NAME] [--json]

Every vtpm vtpmctl made: name, uuid, whether it runs (from xenstore: its domid, its guest's
domid, the state of its backend for the guest), and its disk. Then the manager's view: for each
manager the records name (and --manager NAME), whether it holds each vtpm's uuid and the uuids
it holds that vtpmctl does not know (or why it cannot be reached). --json prints one JSON
array (with \"at_manager\": true, false or null per vtpm).
";

pub const SHOW_HELP: &str = "\
usage: vtpmctl show NAME [--json]

Everything vtpmctl knows about vtpm NAME: its record (uuid, disk, cfg, manager, guest) and
its running state from xenstore (domids, backend and frontend state, the link to the manager).
";

pub const INSTALL_HELP: &str = "\
usage: vtpmctl install [--cfg CFG] [--init systemd|sysv] [--root DIR] [--xl PATH]
                       [--vtpmctl PATH] [--force] [--print]

Starts the vTPM manager at boot: writes /etc/systemd/system/NAME.service (NAME: the manager's
domain name from CFG, default /etc/xen/vtpmmgr.cfg) that runs `xl create CFG` after
xenstored and xenconsoled and before xendomains (whose guests' vtpms need the manager), and
`xl shutdown -w NAME` when the machine stops. After starting the manager it runs
`vtpmctl reattach --manager NAME`, so vtpms still running from before a restart of the manager
(`systemctl restart NAME`) are pointed at the new one. Without systemd (or with --init sysv) an LSB
script /etc/init.d/NAME instead. Prints the line that enables it; enables nothing itself.

  --cfg CFG     the manager's xl cfg (an absolute path; default /etc/xen/vtpmmgr.cfg)
  --init KIND   systemd or sysv (default: systemd if it runs the machine, i.e. if
                /run/systemd/system exists; under --root, DIR/run/systemd/system)
  --root DIR    install into DIR instead of / (a staging tree; CFG is read under DIR too)
  --xl PATH     xl's path in the unit (default /usr/sbin/xl)
  --vtpmctl PATH  vtpmctl's path in the unit (default: this vtpmctl's own path)
  --force       replace an existing file with other contents (otherwise refused)
  --print       print the file instead of writing it
";

pub const REATTACH_HELP: &str = "\
usage: vtpmctl reattach [--manager NAME] [--timeout SECS] [--json]

After the vTPM manager NAME (default vtpmmgr) was restarted, points every running vtpm whose
cfg names it (vtpm = [ \"backend=NAME,uuid=...\" ]) at the new manager domain: xl vtpm-detach of
the device whose backend died, then xl vtpm-attach with the same uuid, taken from libxl's record
of the domain (xl list -l). The vtpms keep running and connect at their next request; a save
that failed while the manager was away is made then. Devices already on the running manager are
left alone. The unit `vtpmctl install` writes runs this after starting the manager.

libxl waits only 10 s for a new backend, so reattach first waits until the manager's console
log (if xenconsoled keeps one) shows its ready line.

  --manager NAME  the manager's domain name (default vtpmmgr)
  --timeout SECS  how long to wait for the manager to be ready (default 300)
  --json          one object per device: domain, domid, uuid, result, error
";

pub const DELETE_HELP: &str = "\
usage: vtpmctl delete NAME --yes

Removes vtpm NAME's disk image (its TPM state, for good), its xl cfg and vtpmctl's record,
and the manager's record of its uuid (VTPM_DEL; if the manager cannot be reached, that is said
and the record stays there). Refuses while NAME runs, and without --yes. The vtpm line in the
guest's cfg stays (it is named).
";

pub const BACKUP_HELP: &str = "\
usage: vtpmctl backup NAME FILE

Writes FILE: vtpm NAME's record at its manager (its state's key, sealed by the manager so that
only that manager opens it: RS_BACKUP) and NAME's disk image (its TPM state, encrypted under
that key), with a checksum. NAME must be stopped; FILE must not exist. Restore with
`vtpmctl restore FILE` on the same manager.
";

pub const RESTORE_HELP: &str = "\
usage: vtpmctl restore FILE [--disk PATH] [--manager NAME]

Gives FILE's record back to the manager (RS_RESTORE: refused for another manager's backup, a
changed file, or while the manager has the uuid: delete it there first), then writes the disk
image: to PATH, else to the disk of the vtpm with that uuid in vtpmctl's registry (which must
be stopped). A PATH that exists and is not that disk is refused. MANAGER defaults to the
registry vtpm's manager, else vtpmmgr.
";

pub const MANAGER_KEY_HELP: &str = "\
usage: vtpmctl manager-key [--manager NAME] [--json]

Prints manager NAME's (default vtpmmgr) migration public key (X25519, 64 hex digits; made on
the first request and kept on the manager's disk). Give it to the source host's
`vtpmctl export NAME --to KEY FILE`.
";

pub const EXPORT_HELP: &str = "\
usage: vtpmctl export NAME --to KEY FILE

Writes FILE: vtpm NAME's record sealed by its manager to the target manager's KEY (64 hex
digits, or a file holding `vtpmctl manager-key` output, plain or --json; RS_EXPORT) and NAME's
disk image. The manager retires the record at once: NAME does not start at this manager again.
NAME must be stopped; FILE must not exist. On the target: `vtpmctl import FILE`.
";

pub const IMPORT_HELP: &str = "\
usage: vtpmctl import FILE [--disk PATH] [--manager NAME]

Gives FILE's exported record to the manager (RS_IMPORT: refused if it is for another manager's
key, changed, imported before, or the uuid is live there), then writes the disk image: to PATH,
else to the disk of the vtpm with that uuid in vtpmctl's registry (which must be stopped). A
PATH that exists and is not that disk is refused. MANAGER defaults to the registry vtpm's
manager, else vtpmmgr.
";

pub const HVM_HELP: &str = "\
usage: vtpmctl hvm NAME [--socket PATH] [--tpm2] [--crb] [--json]

Prints what an HVM guest needs to use vtpm NAME through the bridge (vtpm-bridge): dom0's
frontend to the vtpm (xl vtpm-attach 0 backend=NAME, once), the bridge's command line, and
the guest cfg's device_model_args_hvm line: QEMU's -chardev socket on PATH (default
/run/vtpm-bridge/NAME.sock), -tpmdev emulator and -device tpm-tis, or with --tpm2 --crb
tpm-crb (a TPM 2.0 interface). The guest's cfg gets no vtpm= line. Changes nothing.
";

pub const START_HELP: &str = "\
usage: vtpmctl start NAME [--timeout SECS] [--console-dir DIR]

Runs `xl create` on vtpm NAME's cfg, waits until the vtpm serves (its console log
DIR/guest-NAME.log says `Info: VTPM serving frontends`; without a console log: its link to the
manager is Connected in xenstore), then runs `xl create` on the guest's cfg and waits until the
vtpm's backend for the guest is InitWait or Connected. --timeout bounds each wait (default 60).
DIR defaults to /var/log/xen/console (xenconsoled --log=guest).
";

pub const PROBE_HELP: &str = "\
usage: vtpmctl probe [--domid N] [--json]

Exercises each dom0 device vtpmctl's platform layer uses, once: xenstore (read, directory,
watch), /dev/xen/evtchn (a loopback pair in dom0: bind, notify, pending, unbind),
/dev/xen/gntalloc (a page granted to dom0, or to domain N with --domid) and /dev/xen/gntdev
(the dom0 grant mapped back), the clock.
Prints one line per step; exit code 1 if any step failed. Changes nothing that outlives it.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_options_flags_and_positionals() {
        let a = Args::parse(
            "create",
            &s(&["v1", "--guest", "g.cfg", "--size=4", "--print"]),
            &["--guest", "--size"],
            &["--print"],
        )
        .unwrap();
        assert_eq!(a.one("create", "NAME"), Ok("v1"));
        assert_eq!(a.value("--guest"), Some("g.cfg"));
        assert_eq!(a.number("create", "--size", 8, 1..=64), Ok(4));
        assert!(a.flag("--print"));
        assert!(!a.help);
        let a = Args::parse("list", &s(&["--help"]), &[], &[]).unwrap();
        assert!(a.help);
        let a = Args::parse("show", &s(&["--", "-odd"]), &[], &[]).unwrap();
        assert_eq!(a.positional, ["-odd"]);
    }

    #[test]
    fn bad_lines_are_usage_errors() {
        let p = |v: &[&str]| Args::parse("create", &s(v), &["--guest", "--size"], &["--print"]);
        assert!(matches!(p(&["--bogus"]), Err(Fail::Usage(m)) if m.contains("unknown option --bogus")));
        assert!(matches!(p(&["-x"]), Err(Fail::Usage(_))));
        assert!(matches!(p(&["--guest"]), Err(Fail::Usage(m)) if m.contains("needs a value")));
        assert!(matches!(p(&["--guest", "a", "--guest", "b"]), Err(Fail::Usage(m)) if m.contains("twice")));
        assert!(matches!(p(&["--print=1"]), Err(Fail::Usage(_))));
        let a = p(&["a", "b", "--size", "0"]).unwrap();
        assert!(matches!(a.one("create", "NAME"), Err(Fail::Usage(m)) if m.contains("\"b\"")));
        assert!(matches!(a.number("create", "--size", 8, 1..=64), Err(Fail::Usage(m)) if m.contains("from 1 to 64")));
        assert!(matches!(p(&[]).unwrap().one("create", "NAME"), Err(Fail::Usage(m)) if m.contains("NAME missing")));
        assert!(matches!(p(&["x"]).unwrap().none("list"), Err(Fail::Usage(_))));
    }
}
