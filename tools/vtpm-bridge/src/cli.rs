//! The command line (std only; unknown options are refused, exit code 2).

use std::path::PathBuf;
use std::time::Duration;

/// Usage text.
pub const USAGE: &str = "\
usage: vtpm-bridge --socket PATH (--vtpm NAME | --device device/vtpm/N | --tcp PORT [--tcp-ctrl PORT]
                   [--tcp-host HOST]) [--timeout SECS] [--once]

Serves QEMU's -tpmdev emulator protocol on the UNIX socket PATH (QEMU: -chardev socket,id=chrtpm,
path=PATH -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0) and passes the
guest's TPM commands to:
  --vtpm NAME          the vtpm stub domain NAME, over dom0's vTPM device it serves (attach it once:
                       xl vtpm-attach 0 backend=NAME)
  --device NODE        dom0's frontend NODE (device/vtpm/N) directly
  --tcp PORT           a TPM with swtpm's TCP framing on HOST:PORT (default host 127.0.0.1), e.g.
                       tpm12-server; --tcp-ctrl PORT: its control channel (CMD_INIT resets it)
options:
  --timeout SECS       how long one TPM command may take (default 300)
  --once               exit when the first QEMU is done (CMD_SHUTDOWN or its socket closed)
";

/// Where the TPM is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The vtpm stub domain with this name.
    Vtpm(String),
    /// Dom0's frontend node.
    Device(String),
    /// swtpm TCP framing.
    Tcp { host: String, port: u16, ctrl: Option<u16> },
}

/// Parsed options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub socket: PathBuf,
    pub target: Target,
    pub timeout: Duration,
    pub once: bool,
}

/// Parses the arguments (without the program name); `Err` is the message for stderr.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let (mut socket, mut vtpm, mut device, mut tcp, mut tcp_ctrl, mut host) = (None, None, None, None, None, None);
    let mut timeout = 300u64;
    let mut once = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        let port = |name: &str, v: String| v.parse::<u16>().map_err(|_| format!("{name}: {v:?} is not a port"));
        match a.as_str() {
            "--socket" => socket = Some(PathBuf::from(value("--socket")?)),
            "--vtpm" => vtpm = Some(value("--vtpm")?),
            "--device" => device = Some(value("--device")?),
            "--tcp" => tcp = Some(port("--tcp", value("--tcp")?)?),
            "--tcp-ctrl" => tcp_ctrl = Some(port("--tcp-ctrl", value("--tcp-ctrl")?)?),
            "--tcp-host" => host = Some(value("--tcp-host")?),
            "--timeout" => {
                let v = value("--timeout")?;
                timeout = match v.parse::<u64>() {
                    Ok(n) if (1..=3600).contains(&n) => n,
                    _ => return Err(format!("--timeout: {v:?} is not a number of seconds from 1 to 3600")),
                }
            }
            "--once" => once = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    let socket = socket.ok_or("--socket is required")?;
    if tcp.is_none() && (tcp_ctrl.is_some() || host.is_some()) {
        return Err("--tcp-ctrl and --tcp-host go with --tcp".into());
    }
    let target = match (vtpm, device, tcp) {
        (Some(n), None, None) => Target::Vtpm(n),
        (None, Some(d), None) => {
            if !d.strip_prefix("device/vtpm/").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
                return Err(format!("--device: {d:?} is not device/vtpm/N"));
            }
            Target::Device(d)
        }
        (None, None, Some(port)) => {
            Target::Tcp { host: host.unwrap_or_else(|| "127.0.0.1".into()), port, ctrl: tcp_ctrl }
        }
        (None, None, None) => return Err("one of --vtpm, --device or --tcp is required".into()),
        _ => return Err("--vtpm, --device and --tcp exclude each other".into()),
    };
    Ok(Options { socket, target, timeout: Duration::from_secs(timeout), once })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_each_target() {
        let o = parse(&s(&["--socket", "/run/b.sock", "--vtpm", "vtpm-hvm"])).unwrap();
        assert_eq!(o.target, Target::Vtpm("vtpm-hvm".into()));
        assert_eq!(o.timeout, Duration::from_secs(300));
        let o = parse(&s(&["--device", "device/vtpm/2", "--socket", "x", "--once", "--timeout", "5"])).unwrap();
        assert_eq!(
            (o.target, o.once, o.timeout),
            (Target::Device("device/vtpm/2".into()), true, Duration::from_secs(5))
        );
        let o = parse(&s(&["--socket", "x", "--tcp", "2321", "--tcp-ctrl", "2322"])).unwrap();
        assert_eq!(o.target, Target::Tcp { host: "127.0.0.1".into(), port: 2321, ctrl: Some(2322) });
    }

    #[test]
    fn refuses_bad_lines() {
        for bad in [
            &["--vtpm", "a"][..],
            &["--socket", "x"],
            &["--socket", "x", "--vtpm", "a", "--tcp", "1"],
            &["--socket", "x", "--device", "device/vbd/1"],
            &["--socket", "x", "--device", "device/vtpm/"],
            &["--socket", "x", "--tcp", "99999"],
            &["--socket", "x", "--vtpm", "a", "--tcp-ctrl", "1"],
            &["--socket", "x", "--vtpm", "a", "--timeout", "0"],
            &["--socket", "x", "--vtpm", "a", "--bogus"],
            &["--socket"],
        ] {
            assert!(parse(&s(bad)).is_err(), "{bad:?}");
        }
    }
}
