//! The TCP server loop and the state file, generic over the engine ([`HostEngine`]): the
//! data channel (one connection served at a time, commands framed by their header) and,
//! with `--ctrl`, swtpm's control channel ([`crate::control`]), polled between commands and
//! while a data connection waits.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tpm12::{Tpm, TpmOptions};

use crate::control;
use crate::engine::HostEngine;
use crate::options::Options;
use crate::platform::{HostClock, OsRng};

/// Largest command accepted (TPM_CAP_PROP_INPUT_BUFFER; TPM_PT_MAX_COMMAND_SIZE).
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

    /// The file's bytes, or `None` if it does not exist.
    fn read(&self) -> Result<Option<Vec<u8>>, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", self.path.display())),
        }
    }

    /// Loads the TPM 1.2 from the file, or manufactures a new one if it does not exist.
    /// A file that exists but does not parse is an error (never a silent fresh TPM).
    pub fn load(&self, options: TpmOptions) -> Result<Tpm, String> {
        let rng = Box::new(OsRng::new().map_err(|e| format!("/dev/urandom: {e}"))?);
        let clock = Box::new(HostClock::new());
        match self.read()? {
            Some(bytes) => {
                Tpm::from_image(&bytes, rng, clock, options).map_err(|e| format!("{}: {e}", self.path.display()))
            }
            None => {
                eprintln!("tpm12-server: {} not found: manufacturing a new TPM (EK generation)", self.path.display());
                Tpm::manufacture(rng, clock, options).map_err(|rc| format!("manufacturing failed: {rc:?}"))
            }
        }
    }

    /// Loads the TPM 2.0 from the file, or manufactures a new one (primary seeds from the
    /// OS RNG) if it does not exist; a file that does not parse is an error.
    pub fn load_tpm2(&self) -> Result<tpm20::Tpm, String> {
        let rng = Box::new(OsRng::new().map_err(|e| format!("/dev/urandom: {e}"))?);
        let clock = Box::new(HostClock::new());
        match self.read()? {
            Some(bytes) => {
                tpm20::Tpm::from_image(&bytes, rng, clock).map_err(|e| format!("{}: {e}", self.path.display()))
            }
            None => {
                eprintln!(
                    "tpm12-server: {} not found: manufacturing a new TPM 2.0 (primary seeds)",
                    self.path.display()
                );
                Ok(tpm20::Tpm::manufacture(rng, clock))
            }
        }
    }

    /// Writes the image if the engine reports a change: temp file, fsync, rename.
    pub fn save_if_changed<E: HostEngine + ?Sized>(&self, tpm: &mut E) -> Result<(), String> {
        if !tpm.state_changed() {
            return Ok(());
        }
        let image = tpm.take_image();
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
    let Some(state_path) = opts.state.as_deref() else {
        return Err("--state is required".into());
    };
    let store = StateFile::new(state_path);
    if opts.tpm2 {
        let mut tpm = store.load_tpm2()?;
        run_engine(opts, &store, &mut tpm)
    } else {
        let options = TpmOptions {
            maintcmds: opts.maintcmds,
            hardware_physical_presence: opts.hw_presence,
            ..TpmOptions::default()
        };
        let mut tpm = store.load(options)?;
        run_engine(opts, &store, &mut tpm)
    }
}

fn run_engine<E: HostEngine>(opts: &Options, store: &StateFile, tpm: &mut E) -> Result<(), String> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&term)).map_err(|e| format!("signal handler: {e}"))?;
    }
    if let Some(st) = opts.startup {
        tpm.startup(st)?;
    }
    store.save_if_changed(tpm)?;
    let bind = |port: u16| -> Result<TcpListener, String> {
        let l = TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
        l.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(l)
    };
    let listener = bind(opts.port)?;
    let ctrl = opts.ctrl_port.map(bind).transpose()?;
    match opts.ctrl_port {
        Some(c) => eprintln!("tpm12-server: listening on 127.0.0.1:{} (control channel {c})", opts.port),
        None => eprintln!("tpm12-server: listening on 127.0.0.1:{}", opts.port),
    }
    let mut server = Server { engine: tpm, store, term: &term, ctrl: ctrl.as_ref(), locality: 0 };
    while !term.load(Ordering::Relaxed) {
        let busy = server.poll_ctrl();
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = server.serve_connection(stream) {
                    eprintln!("tpm12-server: connection: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if !busy {
                    std::thread::sleep(Duration::from_millis(5))
                }
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
    store.save_if_changed(tpm)?;
    eprintln!("tpm12-server: terminated");
    Ok(())
}

/// Outcome of filling a buffer from the socket.
enum Fill {
    Full,
    Eof,
    Terminated,
}

/// One engine served: its state file, the control listener and the current locality.
struct Server<'a, E: HostEngine + ?Sized> {
    engine: &'a mut E,
    store: &'a StateFile,
    term: &'a AtomicBool,
    ctrl: Option<&'a TcpListener>,
    locality: u8,
}

impl<E: HostEngine + ?Sized> Server<'_, E> {
    /// Serves one pending control connection, if any; returns whether there was one.
    fn poll_ctrl(&mut self) -> bool {
        let Some(ctrl) = self.ctrl else { return false };
        match ctrl.accept() {
            Ok((stream, _)) => {
                match control::serve(stream, self.engine, &mut self.locality) {
                    Ok(control::Effect::Save) | Ok(control::Effect::None) => {
                        if let Err(e) = self.store.save_if_changed(self.engine) {
                            eprintln!("tpm12-server: {e}");
                        }
                    }
                    Err(e) => eprintln!("tpm12-server: control connection: {e}"),
                }
                true
            }
            Err(_) => false,
        }
    }

    fn fill(&mut self, stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<Fill> {
        let mut got = 0;
        while got < buf.len() {
            match stream.read(&mut buf[got..]) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    if self.term.load(Ordering::Relaxed) {
                        return Ok(Fill::Terminated);
                    }
                    // A client may use the control channel while it keeps its data connection.
                    self.poll_ctrl();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Fill::Full)
    }

    /// Serves commands on one connection until EOF or termination.
    fn serve_connection(&mut self, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_millis(if self.ctrl.is_some() { 20 } else { 200 })))?;
        stream.set_nodelay(true)?;
        let mut buf = vec![0u8; MAX_COMMAND];
        loop {
            match self.fill(&mut stream, &mut buf[..10])? {
                Fill::Full => {}
                Fill::Eof | Fill::Terminated => return Ok(()),
            }
            let size = u32::from_be_bytes([buf[2], buf[3], buf[4], buf[5]]) as usize;
            if !(10..=MAX_COMMAND).contains(&size) {
                // The framing is lost: answer with the engine's error and drop the connection.
                let resp = self.engine.execute(self.locality, &buf[..10]);
                stream.write_all(&resp)?;
                return Ok(());
            }
            match self.fill(&mut stream, &mut buf[10..size])? {
                Fill::Full => {}
                Fill::Eof | Fill::Terminated => return Ok(()),
            }
            let resp = self.engine.execute(self.locality, &buf[..size]);
            stream.write_all(&resp)?;
            if let Err(e) = self.store.save_if_changed(self.engine) {
                eprintln!("tpm12-server: {e}");
            }
        }
    }
}

/// Serves commands on one connection until EOF or termination, at locality 0 and without a
/// control channel (the benchmark's in-process server).
pub fn serve_connection<E: HostEngine + ?Sized>(
    stream: TcpStream,
    tpm: &mut E,
    store: &StateFile,
    term: &AtomicBool,
) -> std::io::Result<()> {
    Server { engine: tpm, store, term, ctrl: None, locality: 0 }.serve_connection(stream)
}
