//! `vtpmctl`, the dom0 tool for vTPM stub domains (issue 9): `create`, `list`, `show`,
//! `delete`, `start`, `probe`, `install` (the manager at boot), `reattach` (running vtpms onto
//! a restarted manager), and through the manager's management ordinals `backup`, `restore`,
//! `manager-key`, `export`, `import` (and the manager's view in `list`, its record removed by
//! `delete`), in the manner of xl and swtpm_setup (subcommands, `--help`, exit codes 0/1/2, one
//! plain error line, `--json` where a script parses the output).
//!
//! The logic is here and host-tested; `main.rs` only hands it the real machine
//! ([`host::RealHost`]: `xl` through `std::process`, xenstore through `xen-dom0`). The registry
//! of the vtpms vtpmctl made is `--state-dir` (default `/var/lib/vtpmctl`, see [`registry`]).
//! The manager is reached over [`mgmt_link::ManagerLink`]: dom0's tpmfront to it
//! ([`mgmt_link::FrontLink`]) on the real machine.
#![forbid(unsafe_code)]

pub mod archive;
pub mod cli;
pub mod cmd;
pub mod host;
pub mod json;
pub mod mgmt_link;
pub mod mgr_client;
pub mod registry;
pub mod status;
pub mod uuid;
pub mod xlcfg;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use std::io::Write;
use std::path::PathBuf;

use cli::{Args, Fail, usage};
use host::Host;
use registry::Registry;

/// What a command runs with.
pub struct Ctx<'a> {
    pub host: &'a mut dyn Host,
    pub out: &'a mut dyn Write,
    pub reg: Registry,
}

/// Runs the command line `args` (without the program name); `state_dir` is the registry
/// directory unless `--state-dir` is given. Returns the exit code; errors go to `err` as one
/// line, `vtpmctl: …`.
pub fn run(
    args: &[String],
    state_dir: Option<PathBuf>,
    host: &mut dyn Host,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match dispatch(args, state_dir, host, out) {
        Ok(()) => 0,
        Err(Fail::Usage(m)) => {
            let _ = writeln!(err, "vtpmctl: {m}");
            2
        }
        Err(Fail::Error(m)) => {
            let _ = writeln!(err, "vtpmctl: {m}");
            1
        }
    }
}

fn dispatch(args: &[String], state_dir: Option<PathBuf>, host: &mut dyn Host, out: &mut dyn Write) -> Result<(), Fail> {
    let mut state_dir = state_dir.unwrap_or_else(|| PathBuf::from(registry::DEFAULT_STATE_DIR));
    let mut rest = args;
    loop {
        match rest.first().map(String::as_str) {
            Some("--state-dir") => {
                let d = rest.get(1).ok_or_else(|| usage("--state-dir needs a value"))?;
                state_dir = PathBuf::from(d);
                rest = &rest[2..];
            }
            Some(a) if a.starts_with("--state-dir=") => {
                state_dir = PathBuf::from(&a["--state-dir=".len()..]);
                rest = &rest[1..];
            }
            _ => break,
        }
    }
    let Some((cmd, rest)) = rest.split_first() else {
        let _ = out.write_all(cli::MAIN_HELP.as_bytes());
        return Err(usage("no command given"));
    };
    type Handler = fn(&mut Ctx<'_>, &Args) -> Result<(), Fail>;
    let (help, values, flags, handler): (&str, &[&str], &[&str], Handler) = match cmd.as_str() {
        "--help" | "-h" | "help" => {
            let _ = out.write_all(cli::MAIN_HELP.as_bytes());
            return Ok(());
        }
        "create" => (
            cli::CREATE_HELP,
            &["--guest", "--manager", "--disk-dir", "--size", "--cfg-dir", "--template"],
            &["--print"],
            cmd::create::run,
        ),
        "list" => (cli::LIST_HELP, &["--manager"], &["--json"], cmd::list::list),
        "show" => (cli::SHOW_HELP, &[], &["--json"], cmd::list::show),
        "delete" => (cli::DELETE_HELP, &[], &["--yes"], cmd::delete::run),
        "start" => (cli::START_HELP, &["--timeout", "--console-dir"], &[], cmd::start::run),
        "probe" => (cli::PROBE_HELP, &["--domid"], &["--json"], cmd::probe),
        "backup" => (cli::BACKUP_HELP, &[], &[], cmd::migrate::backup),
        "restore" => (cli::RESTORE_HELP, &["--disk", "--manager"], &[], cmd::migrate::restore),
        "manager-key" => (cli::MANAGER_KEY_HELP, &["--manager"], &["--json"], cmd::migrate::manager_key),
        "export" => (cli::EXPORT_HELP, &["--to"], &[], cmd::migrate::export),
        "import" => (cli::IMPORT_HELP, &["--disk", "--manager"], &[], cmd::migrate::import),
        "reattach" => (cli::REATTACH_HELP, &["--manager", "--timeout"], &["--json"], cmd::reattach::run),
        "hvm" => (cli::HVM_HELP, &["--socket"], &["--tpm2", "--crb", "--json"], cmd::hvm::run),
        "install" => (
            cli::INSTALL_HELP,
            &["--cfg", "--init", "--root", "--xl", "--vtpmctl"],
            &["--force", "--print"],
            cmd::install::run,
        ),
        other => return Err(usage(format!("unknown command {other:?} (see vtpmctl --help)"))),
    };
    let a = Args::parse(cmd, rest, values, flags)?;
    if a.help {
        let _ = out.write_all(help.as_bytes());
        return Ok(());
    }
    if let Some(d) = a.value("--console-dir") {
        host.set_console_dir(PathBuf::from(d));
    }
    let mut ctx = Ctx { host, out, reg: Registry::new(state_dir) };
    handler(&mut ctx, &a)
}
