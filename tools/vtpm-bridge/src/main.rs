//! `vtpm-bridge`: the command line over [`vtpm_bridge::server::Bridge`] (see `--help`).
#![forbid(unsafe_code)]

use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vtpm_bridge::cli::{self, Target};
use vtpm_bridge::server::Bridge;
use vtpm_bridge::tcp::TcpTransport;
use vtpm_bridge::tpmif::{self, Connector, TpmifTransport};
use vtpm_bridge::transport::TpmTransport;
use vtpmctl::mgmt_link::{FrontLink, find_device_served_by};
use xen_dom0::Dom0;

/// How long connecting to the vtpm may take (the loop waits meanwhile).
const CONNECT_TIMEOUT_NS: u64 = 3_000_000_000;

fn log(line: &str) {
    eprintln!("vtpm-bridge: {line}");
}

/// Binds `path`, replacing a stale socket left by an earlier bridge (never another file).
fn bind(path: &Path) -> Result<UnixListener, String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|e| format!("{}: cannot remove the old socket: {e}", path.display()))?
        }
        Ok(_) => return Err(format!("{} exists and is not a socket; not touching it", path.display())),
        Err(_) => {}
    }
    UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Connects dom0's frontend to the vtpm: the node named, or the one the vtpm domain serves;
/// refused while dom0's kernel (xen-tpmfront) holds the device.
fn tpmif_connector(target: Target) -> Connector<Dom0> {
    Box::new(move || {
        let mut hv = Dom0::open().map_err(|e| format!("dom0's Xen devices: {e}"))?;
        let node = match &target {
            Target::Device(n) => n.clone(),
            Target::Vtpm(name) => find_device_served_by(&mut hv, name, "vtpm")?,
            Target::Tcp { .. } => return Err("not a tpmif target".into()),
        };
        if let Some(driver) = tpmif::kernel_driver_of(Path::new("/sys"), &node) {
            return Err(format!(
                "dom0's kernel driver {driver:?} (xen-tpmfront) holds {node}; the bridge must be its only user: \
                 `modprobe -r xen-tpmfront` and blacklist it in dom0 (README: dom0's own xen-tpmfront)"
            ));
        }
        FrontLink::connect_within(hv, &node, CONNECT_TIMEOUT_NS)
    })
}

fn run(opts: cli::Options) -> Result<(), String> {
    let mut transport: Box<dyn TpmTransport> = match &opts.target {
        Target::Tcp { host, port, ctrl } => Box::new(TcpTransport::new(host, *port, *ctrl, opts.timeout)),
        t => {
            let what = match t {
                Target::Vtpm(n) => format!("vtpm {n}"),
                Target::Device(d) => format!("the vtpm behind {d}"),
                Target::Tcp { .. } => unreachable!("handled above"),
            };
            let mut tp = TpmifTransport::new(&what, tpmif_connector(t.clone()), opts.timeout);
            if let Err(e) = tp.ensure_connected() {
                log(&format!("{e}; serving QEMU anyway (its commands fail until the vtpm is reachable)"));
            }
            Box::new(tp)
        }
    };
    let listener = bind(&opts.socket)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| format!("signal handler: {e}"))?;
    }
    log(&format!("listening on {} for QEMU; TPM: {}", opts.socket.display(), transport.describe()));
    let mut logger = log;
    let mut bridge = Bridge::new(&listener, transport.as_mut(), &mut logger);
    let result = bridge.run(&stop, opts.once.then_some(1));
    drop(bridge);
    drop(transport); // closes the vtpm frontend (FrontLink's Drop)
    let _ = std::fs::remove_file(&opts.socket);
    log("stopped");
    std::thread::sleep(Duration::from_millis(1));
    result
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match cli::parse(&args) {
        Ok(o) => o,
        Err(msg) if msg.is_empty() => {
            print!("{}", cli::USAGE);
            return;
        }
        Err(msg) => {
            eprintln!("vtpm-bridge: {msg}");
            eprint!("{}", cli::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(msg) = run(opts) {
        eprintln!("vtpm-bridge: {msg}");
        std::process::exit(1);
    }
}
