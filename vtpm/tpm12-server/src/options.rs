//! Command-line parsing (std only; unknown options are refused with a message).

use std::path::PathBuf;

/// Usage text.
pub const USAGE: &str = "usage: tpm12-server --port <N> --state <file> [--tpm2] [--ctrl <port>] \
[--startup clear|state|deactivated|none] [--no-hw-presence] [--maintcmds]\n       \
tpm12-server --bench [--iterations N] [--swtpm-port P]";

/// The Startup type run when the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// TPM 1.2 TPM_ST_CLEAR / TPM 2.0 TPM_SU_CLEAR.
    Clear,
    /// TPM 1.2 TPM_ST_STATE / TPM 2.0 TPM_SU_STATE.
    State,
    /// TPM 1.2 TPM_ST_DEACTIVATED (no TPM 2.0 equivalent).
    Deactivated,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serve TPM commands.
    Serve,
    /// Print the latency table.
    Bench,
}

/// Parsed options.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub port: u16,
    pub state: Option<PathBuf>,
    /// Serve the TPM 2.0 engine (`--tpm2`) instead of the TPM 1.2 one.
    pub tpm2: bool,
    /// Port of swtpm's control channel (`--ctrl`; tpm2-tss' swtpm TCTI uses `port + 1`).
    pub ctrl_port: Option<u16>,
    /// Startup type run at start (None = leave the TPM waiting for Startup).
    pub startup: Option<Startup>,
    pub hw_presence: bool,
    pub maintcmds: bool,
    pub iterations: u32,
    pub swtpm_port: Option<u16>,
}

fn value<'a>(args: &'a [String], i: &mut usize, name: &str) -> Result<&'a str, String> {
    *i += 1;
    args.get(*i).map(String::as_str).ok_or_else(|| format!("{name} needs a value"))
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        mode: Mode::Serve,
        port: 0,
        state: None,
        tpm2: false,
        ctrl_port: None,
        startup: Some(Startup::Clear),
        hw_presence: true,
        maintcmds: false,
        iterations: 200,
        swtpm_port: None,
    };
    let mut have_port = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--port" => {
                o.port = value(args, &mut i, "--port")?.parse().map_err(|_| "--port: not a port number")?;
                have_port = true;
            }
            "--state" => o.state = Some(PathBuf::from(value(args, &mut i, "--state")?)),
            "--startup" => {
                o.startup = match value(args, &mut i, "--startup")? {
                    "clear" => Some(Startup::Clear),
                    "state" => Some(Startup::State),
                    "deactivated" => Some(Startup::Deactivated),
                    "none" => None,
                    other => return Err(format!("--startup: unknown type {other:?}")),
                }
            }
            "--tpm2" => o.tpm2 = true,
            "--ctrl" => {
                o.ctrl_port = Some(value(args, &mut i, "--ctrl")?.parse().map_err(|_| "--ctrl: not a port number")?)
            }
            "--no-hw-presence" => o.hw_presence = false,
            "--maintcmds" => o.maintcmds = true,
            "--bench" => o.mode = Mode::Bench,
            "--iterations" => {
                o.iterations = value(args, &mut i, "--iterations")?.parse().map_err(|_| "--iterations: not a number")?
            }
            "--swtpm-port" => {
                o.swtpm_port =
                    Some(value(args, &mut i, "--swtpm-port")?.parse().map_err(|_| "--swtpm-port: not a port")?)
            }
            "-h" | "--help" => return Err("help requested".into()),
            other => return Err(format!("unknown option {other:?}")),
        }
        i += 1;
    }
    if o.mode == Mode::Serve {
        if o.tpm2 && o.startup == Some(Startup::Deactivated) {
            return Err("--startup deactivated: TPM 2.0 has no deactivated startup".into());
        }
        if !have_port {
            return Err("--port is required".into());
        }
        if o.state.is_none() {
            return Err("--state is required".into());
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_serve() {
        let o = parse(&s(&["--port", "2321", "--state", "/tmp/x", "--startup", "none"])).unwrap();
        assert_eq!(o.port, 2321);
        assert_eq!(o.startup, None);
        assert!(parse(&s(&["--port", "x", "--state", "a"])).is_err());
        assert!(parse(&s(&["--state", "a"])).is_err());
        assert!(parse(&s(&["--port", "1", "--state", "a", "--bogus"])).is_err());
        assert!(parse(&s(&["--port"])).is_err());
        let o = parse(&s(&["--port", "1", "--state", "a", "--tpm2", "--ctrl", "2", "--startup", "state"])).unwrap();
        assert!(o.tpm2);
        assert_eq!(o.ctrl_port, Some(2));
        assert_eq!(o.startup, Some(Startup::State));
        assert!(parse(&s(&["--port", "1", "--state", "a", "--tpm2", "--startup", "deactivated"])).is_err());
        assert!(parse(&s(&["--port", "1", "--state", "a", "--ctrl", "x"])).is_err());
    }
}
