//! The TCP server loop and the state file.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tpm12::{Tpm, TpmOptions};

use crate::options::Options;
use crate::platform::{HostClock, OsRng};

/// Largest command accepted (TPM_CAP_PROP_INPUT_BUFFER).
const MAX_COMMAND: usize = 4088;

/// The state file: read once, rewritten atomically when the engine says so.
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// A state file at `path`.
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }

    /// Loads the TPM from the file, or manufactures a new one if it does not exist.
    /// A file that exists but does not parse is an error (never a silent fresh TPM).
    pub fn load(&self, options: TpmOptions) -> Result<Tpm, String> {
        let rng = Box::new(OsRng::new().map_err(|e| format!("/dev/urandom: {e}"))?);
        let clock = Box::new(HostClock::new());
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                Tpm::from_image(&bytes, rng, clock, options).map_err(|e| format!("{}: {e}", self.path.display()))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                eprintln!("tpm12-server: {} not found: manufacturing a new TPM (EK generation)", self.path.display());
                Tpm::manufacture(rng, clock, options).map_err(|rc| format!("manufacturing failed: {rc:?}"))
            }
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }

    /// Writes the image if the engine reports a change: temp file, fsync, rename.
    pub fn save_if_changed(&self, tpm: &mut Tpm) -> Result<(), String> {
        if !tpm.state_changed() {
            return Ok(());
        }
        let image = tpm.save_image();
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&image)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| {
            tpm.mark_state_changed();
            format!("writing {}: {e}", self.path.display())
        })
    }
}

/// Runs the server until SIGTERM / SIGINT.
pub fn run(opts: &Options) -> Result<(), String> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&term)).map_err(|e| format!("signal handler: {e}"))?;
    }
    let Some(state_path) = opts.state.as_deref() else {
        return Err("--state is required".into());
    };
    let store = StateFile::new(state_path);
    let options =
        TpmOptions { maintcmds: opts.maintcmds, hardware_physical_presence: opts.hw_presence, ..TpmOptions::default() };
    let mut tpm = store.load(options)?;
    if let Some(st) = opts.startup {
        let cmd = tpm12::testing::request(
            tpm12::constants::tag::RQU_COMMAND,
            tpm12::constants::ord::Startup,
            &st.to_be_bytes(),
        );
        let rc = tpm12::testing::response_rc(&tpm.execute(0, &cmd));
        if rc != 0 {
            return Err(format!("TPM_Startup({st}) failed with return code {rc:#x}"));
        }
    }
    store.save_if_changed(&mut tpm)?;
    let listener =
        TcpListener::bind(("127.0.0.1", opts.port)).map_err(|e| format!("bind 127.0.0.1:{}: {e}", opts.port))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    eprintln!("tpm12-server: listening on 127.0.0.1:{}", opts.port);
    while !term.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = serve_connection(stream, &mut tpm, &store, &term) {
                    eprintln!("tpm12-server: connection: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
    store.save_if_changed(&mut tpm)?;
    eprintln!("tpm12-server: terminated");
    Ok(())
}

/// Outcome of filling a buffer from the socket.
enum Fill {
    Full,
    Eof,
    Terminated,
}

fn fill(stream: &mut TcpStream, buf: &mut [u8], term: &AtomicBool) -> std::io::Result<Fill> {
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) => return Ok(Fill::Eof),
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                if term.load(Ordering::Relaxed) {
                    return Ok(Fill::Terminated);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Fill::Full)
}

/// Serves commands on one connection until EOF or termination.
pub fn serve_connection(
    mut stream: TcpStream,
    tpm: &mut Tpm,
    store: &StateFile,
    term: &AtomicBool,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; MAX_COMMAND];
    loop {
        match fill(&mut stream, &mut buf[..10], term)? {
            Fill::Full => {}
            Fill::Eof | Fill::Terminated => return Ok(()),
        }
        let size = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
        if !(10..=MAX_COMMAND).contains(&size) {
            // The framing is lost: answer with the engine's error and drop the connection.
            let resp = tpm.execute(0, &buf[..10]);
            stream.write_all(&resp)?;
            return Ok(());
        }
        match fill(&mut stream, &mut buf[10..size], term)? {
            Fill::Full => {}
            Fill::Eof | Fill::Terminated => return Ok(()),
        }
        let resp = tpm.execute(0, &buf[..size]);
        stream.write_all(&resp)?;
        if let Err(e) = store.save_if_changed(tpm) {
            eprintln!("tpm12-server: {e}");
        }
    }
}
