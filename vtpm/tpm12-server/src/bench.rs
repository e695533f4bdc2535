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
    let keygen_runs = (n / 20).clamp(3, 20);
    let a = auth_rows(&mut local, n, keygen_runs);
    let b = auth_rows(&mut ours_tcp, n, keygen_runs);
    let s = match swtpm_conn.as_mut() {
        Some(conn) => auth_rows(conn, n, keygen_runs),
        None => Err("not running".into()),
    };
    for (i, name) in AUTH_ROWS.iter().enumerate() {
        let pick = |r: &Result<Vec<Result<f64, String>>, String>| match r {
            Ok(v) => v[i].clone(),
            Err(e) => Err(e.clone()),
        };
        println!("{:<22} {:>12} {:>14} {:>16}", name, show(pick(&a)), show(pick(&b)), show(pick(&s)));
    }
    println!("(CreateWrapKey is RSA-2048 key generation: median of {keygen_runs} runs)");
    drop(swtpm);
    Ok(())
}

/// Rows measured through authorized sessions.
const AUTH_ROWS: [&str; 4] = ["OIAP+Seal/Unseal", "LoadKey2", "OIAP+Sign", "CreateWrapKey"];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed().as_secs_f64() * 1e6)
}

/// Takes ownership (creating an EK first if the TPM has none), then measures
/// the authorized rows. Each entry is the median latency in µs.
fn auth_rows(t: &mut dyn Transport, n: u32, keygen_runs: u32) -> Result<Vec<Result<f64, String>>, String> {
    use tpm12::constants::{key_usage, kh, rt};
    use tpm12::testing::client::{Client, WELL_KNOWN};
    let mut c = Client::new(|cmd: &[u8]| t.exec(cmd).unwrap_or_default(), 11);
    let ek = c.rqu(ord::ReadPubek, &[0; 20])?;
    if ek.rc == tpm12::Rc::NO_ENDORSEMENT.0 {
        let mut body = vec![0u8; 20];
        body.extend_from_slice(&[0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 12, 0, 0, 8, 0, 0, 0, 0, 2, 0, 0, 0, 0]);
        let r = c.rqu(ord::CreateEndorsementKeyPair, &body)?;
        if r.rc != 0 {
            return Err(format!("CreateEndorsementKeyPair rc {:#x}", r.rc));
        }
    }
    let r = c.take_ownership(WELL_KNOWN, WELL_KNOWN)?;
    if r.rc != 0 {
        return Err(format!("TakeOwnership rc {:#x}", r.rc));
    }
    let check = |r: Result<tpm12::testing::client::Reply, String>| -> Result<Vec<u8>, String> {
        let r = r?;
        if r.rc != 0 { Err(format!("rc {:#x}", r.rc)) } else { Ok(r.body) }
    };
    let mut rows = Vec::new();

    // Seal + Unseal under the SRK (OSAP + Seal, 2×OIAP + Unseal).
    let mut samples = Vec::new();
    let mut seal_err = None;
    for _ in 0..n.min(200) {
        let (res, us) = timed(|| -> Result<(), String> {
            let blob = check(c.seal(kh::SRK, WELL_KNOWN, WELL_KNOWN, b"benchmark secret"))?;
            let out = check(c.unseal(kh::SRK, WELL_KNOWN, WELL_KNOWN, &blob))?;
            if out.get(4..) != Some(&b"benchmark secret"[..]) {
                return Err("unsealed data differs".into());
            }
            Ok(())
        });
        match res {
            Ok(()) => samples.push(us),
            Err(e) => {
                seal_err = Some(e);
                break;
            }
        }
    }
    rows.push(match seal_err {
        Some(e) => Err(e),
        None => Ok(median(samples)),
    });

    // CreateWrapKey (RSA-2048 keygen), keeping the last blob.
    let mut blob = Vec::new();
    let mut keygens = Vec::new();
    for _ in 0..keygen_runs {
        let (r, us) = timed(|| check(c.create_wrap_key(kh::SRK, WELL_KNOWN, key_usage::SIGNING, WELL_KNOWN)));
        blob = r?;
        keygens.push(us);
    }

    // LoadKey2 (each load flushed again, untimed).
    let mut loads = Vec::new();
    for _ in 0..n.min(200) {
        let (r, us) = timed(|| c.load_key2(kh::SRK, WELL_KNOWN, &blob));
        let (h, reply) = r?;
        if reply.rc != 0 {
            return Err(format!("LoadKey2 rc {:#x}", reply.rc));
        }
        loads.push(us);
        let mut fb = h.to_be_bytes().to_vec();
        fb.extend_from_slice(&rt::KEY.to_be_bytes());
        c.rqu(ord::FlushSpecific, &fb)?;
    }
    rows.push(Ok(median(loads)));

    // Sign with a loaded key (OIAP + Sign).
    let (h, reply) = c.load_key2(kh::SRK, WELL_KNOWN, &blob)?;
    if reply.rc != 0 {
        return Err(format!("LoadKey2 rc {:#x}", reply.rc));
    }
    let mut signs = Vec::new();
    for _ in 0..n.min(200) {
        let (r, us) = timed(|| check(c.sign(h, WELL_KNOWN, &[7; 20])));
        r?;
        signs.push(us);
    }
    rows.push(Ok(median(signs)));
    rows.push(Ok(median(keygens)));
    Ok(rows)
}
