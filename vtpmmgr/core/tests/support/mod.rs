//! The test bed shared by the swtpm tests: swtpm (libtpms) as the hardware TPM over its raw
//! TCP command port with a state directory kept across restarts, a seeded test RNG, and
//! option parsing. Skips loudly, and only, when swtpm is not installed.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand_core::{TryCryptoRng, TryRng};
use sha2::{Digest, Sha256};
use tpm_frame::Family;
use vtpmmgr_core::HardwareTpm;
use vtpmmgr_core::hwtpm::HwConfig;

pub fn have_swtpm() -> bool {
    if Command::new("swtpm").arg("--version").output().is_err() {
        eprintln!("\n!!!!!!!! SKIPPED: swtpm not installed (apt-get install swtpm) !!!!!!!!\n");
        return false;
    }
    true
}

/// A temporary state directory, removed on drop.
pub struct StateDir(pub PathBuf);

impl StateDir {
    pub fn new(tag: &str) -> Self {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let p = std::env::temp_dir().join(format!("hwtpm-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).expect("state dir");
        Self(p)
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running swtpm on a TCP port, killed on drop; it is the "hardware" TPM.
pub struct Swtpm {
    pub child: Child,
    pub conn: TcpStream,
    pub family: Family,
    /// Every command and response frame, as a bus snooper would see them.
    pub wire: Vec<Vec<u8>>,
}

fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let p = l.local_addr().expect("addr").port();
        drop(l);
        if p < 65535 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair");
}

impl Swtpm {
    pub fn start(dir: &Path, family: Family) -> Self {
        let port = free_port_pair();
        let mut cmd = Command::new("swtpm");
        cmd.args(["socket", "--tpmstate"])
            .arg(format!("dir={}", dir.display()))
            .args(["--server", &format!("type=tcp,port={port},bindaddr=127.0.0.1")])
            .args(["--ctrl", &format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1)])
            .args(["--flags", "not-need-init"]);
        if family == Family::Tpm20 {
            cmd.arg("--tpm2");
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start swtpm");
        let deadline = Instant::now() + Duration::from_secs(10);
        let conn = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("connect swtpm: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        conn.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        Self { child, conn, family, wire: Vec::new() }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl HardwareTpm for Swtpm {
    type Error = String;
    fn family(&self) -> Family {
        self.family
    }
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, String> {
        self.wire.push(command.to_vec());
        self.conn.write_all(command).map_err(|e| e.to_string())?;
        let mut hdr = [0u8; 10];
        self.conn.read_exact(&mut hdr).map_err(|e| e.to_string())?;
        let n = u32::from_be_bytes([hdr[2], hdr[3], hdr[4], hdr[5]]) as usize;
        if !(10..=65536).contains(&n) {
            return Err(format!("bad response size {n}"));
        }
        let mut rest = vec![0u8; n - 10];
        self.conn.read_exact(&mut rest).map_err(|e| e.to_string())?;
        let mut out = hdr.to_vec();
        out.extend_from_slice(&rest);
        self.wire.push(out.clone());
        Ok(out)
    }
}

/// A test RNG: SHA-256 in counter mode over a per-process seed.
pub struct TestRng {
    seed: [u8; 32],
    counter: u64,
}

impl TestRng {
    pub fn new() -> Self {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        Self::seeded(n)
    }
    pub fn seeded(n: u128) -> Self {
        Self { seed: Sha256::digest(n.to_be_bytes()).into(), counter: 0 }
    }
}

impl TryRng for TestRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(32) {
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_be_bytes());
            self.counter += 1;
            let out: [u8; 32] = h.finalize().into();
            chunk.copy_from_slice(&out[..chunk.len()]);
        }
        Ok(())
    }
}

impl TryCryptoRng for TestRng {}

pub fn cfg(opts: &[&str]) -> HwConfig {
    let mut c = HwConfig::default();
    for o in opts {
        assert!(c.apply(o).expect("option"), "{o}");
    }
    c
}
