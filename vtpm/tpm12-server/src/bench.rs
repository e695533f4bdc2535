//! `tpm12-server --bench`: per-command latency of the engine in process, of
//! the engine behind this server over loopback TCP, and (with swtpm installed)
//! of swtpm/libtpms over loopback TCP — the last two pay the same socket cost,
//! so they compare like with like. Prints a table; asserts nothing.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use tpm12::constants::{ord, tag};
use tpm12::testing::{request, response_rc};
use tpm12::{Tpm, TpmOptions};

use crate::options::Options;
use crate::platform::{HostClock, OsRng};

/// Something that executes TPM commands.
trait Transport {
    fn exec(&mut self, cmd: &[u8]) -> Result<Vec<u8>, String>;
}

struct InProcess(Tpm);

impl Transport for InProcess {
    fn exec(&mut self, cmd: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.0.execute(0, cmd))
    }
}

/// A raw-framing TCP connection (ours or swtpm's).
pub struct Tcp(TcpStream);

impl Tcp {
    /// Connects, retrying for up to 10 s while the server starts.
    pub fn connect(port: u16) -> Result<Self, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_nodelay(true).map_err(|e| e.to_string())?;
                    return Ok(Self(s));
                }
                Err(e) if Instant::now() > deadline => return Err(format!("connect {port}: {e}")),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Transport for Tcp {
    fn exec(&mut self, cmd: &[u8]) -> Result<Vec<u8>, String> {
        self.0.write_all(cmd).map_err(|e| e.to_string())?;
        let mut hdr = [0u8; 10];
        self.0.read_exact(&mut hdr).map_err(|e| e.to_string())?;
        let n = u32::from_be_bytes([hdr[2], hdr[3], hdr[4], hdr[5]]) as usize;
        if !(10..=65536).contains(&n) {
            return Err(format!("bad response size {n}"));
        }
        let mut rest = vec![0u8; n - 10];
        self.0.read_exact(&mut rest).map_err(|e| e.to_string())?;
        let mut out = hdr.to_vec();
        out.extend_from_slice(&rest);
        Ok(out)
    }
}

/// One benchmark row: a name and the command it repeats.
struct Case {
    name: &'static str,
    cmd: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let mut extend = 10u32.to_be_bytes().to_vec();
    extend.extend_from_slice(&[0x5a; 20]);
    vec![
        Case { name: "Extend", cmd: request(tag::RQU_COMMAND, ord::Extend, &extend) },
        Case { name: "PCRRead", cmd: request(tag::RQU_COMMAND, ord::PcrRead, &10u32.to_be_bytes()) },
        Case { name: "GetRandom(32)", cmd: request(tag::RQU_COMMAND, ord::GetRandom, &32u32.to_be_bytes()) },
        Case {
            name: "GetCapability(PCR)",
            cmd: request(tag::RQU_COMMAND, ord::GetCapability, &[0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 1, 1]),
        },
    ]
}

/// Median latency in µs of `iterations` runs, or an error if the command fails.
fn measure(t: &mut dyn Transport, cmd: &[u8], iterations: u32) -> Result<f64, String> {
    let first = t.exec(cmd)?;
    if response_rc(&first) != 0 {
        return Err(format!("rc {:#x}", response_rc(&first)));
    }
    let mut samples = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
        let start = Instant::now();
        t.exec(cmd)?;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

struct Swtpm {
    child: Child,
    _dir: TempDir,
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new(tag: &str) -> Result<Self, String> {
        let p = std::env::temp_dir().join(format!("tpm12-{tag}-{}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Starts swtpm (TPM 1.2) on `port` (ctrl on `port + 1`), Startup(ST_CLEAR) done.
fn start_swtpm(port: u16) -> Result<Swtpm, String> {
    let dir = TempDir::new("swtpm")?;
    let child = Command::new("swtpm")
        .args(["socket", "--tpmstate"])
        .arg(format!("dir={}", dir.0.display()))
        .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
        .args(["--ctrl", &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1)])
        .args(["--flags", "not-need-init,startup-clear"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("swtpm: {e}"))?;
    Ok(Swtpm { child, _dir: dir })
}

/// Runs the benchmark and prints the table.
pub fn run(opts: &Options) -> Result<(), String> {
    let n = opts.iterations.max(10);
    let mk = || -> Result<Tpm, String> {
        let mut t = Tpm::manufacture(
            Box::new(OsRng::new().map_err(|e| e.to_string())?),
            Box::new(HostClock::new()),
            TpmOptions::default(),
        )
        .map_err(|rc| format!("{rc:?}"))?;
        t.execute(0, &request(tag::RQU_COMMAND, ord::Startup, &1u16.to_be_bytes()));
        Ok(t)
    };
    let mut local = InProcess(mk()?);

    // Our server over loopback, in a thread of this process.
    let port = opts.swtpm_port.map(|p| p + 10).unwrap_or(42_321);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("bind {port}: {e}"))?;
    let server_tpm = mk()?;
    let state = TempDir::new("bench")?;
    let state_file = state.0.join("state");
    std::thread::spawn(move || {
        let mut tpm = server_tpm;
        let store = crate::serve::StateFile::new(&state_file);
        let term = Arc::new(AtomicBool::new(false));
        if let Ok((s, _)) = listener.accept() {
            let _ = crate::serve::serve_connection(s, &mut tpm, &store, &term);
        }
    });
    let mut ours_tcp = Tcp::connect(port)?;

    let swtpm_port = opts.swtpm_port.unwrap_or(42_331);
    let swtpm = start_swtpm(swtpm_port);
    let mut swtpm_conn = match &swtpm {
        Ok(_) => Tcp::connect(swtpm_port).ok(),
        Err(e) => {
            eprintln!("bench: swtpm unavailable: {e}");
            None
        }
    };

    println!("TPM 1.2 command latency, median of {n} runs, microseconds");
    println!("(loopback columns include the TCP round trip; compare them with each other)");
    println!("{:<22} {:>12} {:>14} {:>16}", "command", "tpm12 (lib)", "tpm12 (tcp)", "swtpm (tcp)");
    let show = |r: Result<f64, String>| match r {
        Ok(v) => format!("{v:.1}"),
        Err(e) => format!("n/a ({e})"),
    };
    for c in cases() {
        let a = measure(&mut local, &c.cmd, n);
        let b = measure(&mut ours_tcp, &c.cmd, n);
        let s = match swtpm_conn.as_mut() {
            Some(conn) => measure(conn, &c.cmd, n),
            None => Err("not running".into()),
        };
        println!("{:<22} {:>12} {:>14} {:>16}", c.name, show(a), show(b), show(s));
    }
    for pending in ["OIAP+Seal/Unseal", "LoadKey2", "Sign", "CreateWrapKey"] {
        println!("{pending:<22} {:>12}", "pending: needs the session/key commands");
    }
    drop(swtpm);
    Ok(())
}
