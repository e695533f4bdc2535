//! `tpm12-server --bench`: per-command latency of the engine in process, of
//! the engine behind this server over loopback TCP, and (with swtpm installed)
//! of swtpm/libtpms over loopback TCP — the last two pay the same socket cost,
//! so they compare like with like. Prints a table; asserts nothing.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tpm12::constants::{ord, tag};
use tpm12::testing::{request, response_rc};
use tpm12::{Tpm, TpmOptions};

use crate::options::Options;
use crate::platform::{HostClock, OsRng};
use crate::transport::{Tcp, TempDir, Transport, start_swtpm};

struct InProcess(Tpm);

impl Transport for InProcess {
    fn exec(&mut self, cmd: &[u8]) -> Result<Vec<u8>, String> {
        Ok(self.0.execute(0, cmd))
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
    let swtpm = start_swtpm(swtpm_port, true);
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
