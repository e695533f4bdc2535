//! Raw-TCP transports (swtpm's `--server type=tcp` framing), swtpm's control
//! channel, a swtpm launcher, and a temporary directory helper.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Something that executes TPM commands.
pub trait Transport {
    /// Sends one command and returns the response.
    fn exec(&mut self, cmd: &[u8]) -> Result<Vec<u8>, String>;
}

/// A raw-framing TCP connection (ours or swtpm's).
pub struct Tcp(pub TcpStream);

impl Tcp {
    /// Connects, retrying for up to 10 s while the server starts.
    pub fn connect(port: u16) -> Result<Self, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => {
                    s.set_nodelay(true).map_err(|e| e.to_string())?;
                    // A peer that never answers (e.g. a malformed frame it waits
                    // to complete) must fail the caller, not hang it.
                    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
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

/// A running swtpm (TPM 1.2 or, from [`start_swtpm2`], TPM 2.0), killed on drop.
pub struct Swtpm {
    child: Child,
    _dir: TempDir,
    /// Control channel port.
    pub ctrl_port: u16,
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

/// Starts swtpm (TPM 1.2) on `port` (ctrl on `port + 1`), TPM_Init done and,
/// with `startup`, TPM_Startup(ST_CLEAR) too.
pub fn start_swtpm(port: u16, startup: bool) -> Result<Swtpm, String> {
    start_swtpm_family(port, false, startup)
}

/// Starts `swtpm socket --tpm2` on `port` (ctrl on `port + 1`), _TPM_Init done and, with
/// `startup`, TPM2_Startup(CLEAR) too.
pub fn start_swtpm2(port: u16, startup: bool) -> Result<Swtpm, String> {
    start_swtpm_family(port, true, startup)
}

/// The one place that starts swtpm for this crate's tests and benchmark: a fresh state
/// directory, the data channel on `port`, the control channel on `port + 1`.
fn start_swtpm_family(port: u16, tpm2: bool, startup: bool) -> Result<Swtpm, String> {
    let dir = TempDir::new("swtpm")?;
    let mut cmd = Command::new("swtpm");
    cmd.arg("socket");
    if tpm2 {
        cmd.arg("--tpm2");
    }
    let child = cmd
        .arg("--tpmstate")
        .arg(format!("dir={}", dir.0.display()))
        .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
        .args(["--ctrl", &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1)])
        .args(["--flags", if startup { "not-need-init,startup-clear" } else { "not-need-init" }])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("swtpm: {e}"))?;
    Ok(Swtpm { child, _dir: dir, ctrl_port: port + 1 })
}

/// Whether swtpm is installed.
pub fn have_swtpm() -> bool {
    Command::new("swtpm").arg("--version").output().is_ok()
}

/// A port `p` with `p + 1` also free (a data and a control channel).
pub fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", 0)) else { continue };
        let Ok(p) = l.local_addr().map(|a| a.port()) else { continue };
        drop(l);
        if p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair");
}

impl Swtpm {
    /// TPM_Init / _TPM_Init through the control channel (CMD_INIT = 2, init flags 0): a power
    /// cycle.
    pub fn init(&self) -> Result<(), String> {
        let mut c = TcpStream::connect(("127.0.0.1", self.ctrl_port)).map_err(|e| format!("ctrl: {e}"))?;
        c.write_all(&[0, 0, 0, 2, 0, 0, 0, 0]).map_err(|e| e.to_string())?;
        let mut res = [0u8; 4];
        c.read_exact(&mut res).map_err(|e| e.to_string())?;
        if res != [0; 4] {
            return Err(format!("CMD_INIT result {res:?}"));
        }
        Ok(())
    }
}
