//! Test helpers: a client that speaks to the bridge exactly as QEMU's `tpm_emulator.c` does
//! (the control channel on the UNIX socket, the data channel a socketpair half handed over
//! with SCM_RIGHTS in CMD_SET_DATAFD, fixed-size replies read in full), the bridge binary,
//! and `tpm12-server` in this process on TCP.

#![allow(dead_code)]

use std::io::{IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
use vtpm_bridge::ctrl::{CtrlRequest, CtrlResponse};

/// QEMU's side of one bridge socket.
pub struct Qemu {
    pub ctrl: UnixStream,
    pub data: Option<UnixStream>,
}

impl Qemu {
    /// Connects to the bridge (retrying while it starts), without a data channel yet.
    pub fn connect(path: &Path) -> Qemu {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match UnixStream::connect(path) {
                Ok(ctrl) => {
                    ctrl.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    return Qemu { ctrl, data: None };
                }
                Err(e) if Instant::now() > deadline => panic!("connect {}: {e}", path.display()),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// `tpm_emulator_prepare_data_fd`: a socketpair, one half sent with CMD_SET_DATAFD.
    /// Returns the result code.
    pub fn set_datafd(&mut self) -> u32 {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let req = CtrlRequest::SetDataFd.encode();
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        let fds = [theirs.as_fd()];
        assert!(anc.push(SendAncillaryMessage::ScmRights(&fds)));
        let n = sendmsg(&self.ctrl, &[IoSlice::new(&req)], &mut anc, SendFlags::empty()).unwrap();
        assert_eq!(n, 4);
        drop(theirs);
        let rc = self.read_u32();
        if rc == 0 {
            self.data = Some(ours);
        }
        rc
    }

    fn read_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.ctrl.read_exact(&mut b).unwrap();
        u32::from_be_bytes(b)
    }

    /// One control request; its reply, read in the size QEMU reads.
    pub fn ctrl(&mut self, req: &CtrlRequest) -> Vec<u8> {
        self.ctrl.write_all(&req.encode()).unwrap();
        let mut b = vec![0u8; CtrlResponse::wire_len(req.code())];
        self.ctrl.read_exact(&mut b).unwrap();
        b
    }

    /// The result code of a control request with a 4-byte reply.
    pub fn ctrl_rc(&mut self, req: &CtrlRequest) -> u32 {
        let b = self.ctrl(req);
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// One TPM command on the data channel: written whole, the response read by its header
    /// (`tpm_emulator_unix_tx_bufs`).
    pub fn tpm(&mut self, cmd: &[u8]) -> Vec<u8> {
        let d = self.data.as_mut().expect("no data channel");
        d.write_all(cmd).unwrap();
        let mut h = [0u8; 10];
        d.read_exact(&mut h).unwrap();
        let n = u32::from_be_bytes([h[2], h[3], h[4], h[5]]) as usize;
        assert!((10..=4096).contains(&n), "response size {n}");
        let mut rest = vec![0u8; n - 10];
        d.read_exact(&mut rest).unwrap();
        [h.to_vec(), rest].concat()
    }
}

/// A TPM 1.2 command frame (tag 0x00C1).
pub fn cmd12(ordinal: u32, body: &[u8]) -> Vec<u8> {
    let mut c = vec![0x00, 0xC1];
    c.extend_from_slice(&(10 + body.len() as u32).to_be_bytes());
    c.extend_from_slice(&ordinal.to_be_bytes());
    c.extend_from_slice(body);
    c
}

/// A response's return code.
pub fn rc_of(resp: &[u8]) -> u32 {
    u32::from_be_bytes([resp[6], resp[7], resp[8], resp[9]])
}

/// The bridge binary, killed on drop; its stderr in a file.
pub struct BridgeProc {
    pub child: Child,
    pub log: PathBuf,
}

impl BridgeProc {
    pub fn start(args: &[&str], log: PathBuf) -> BridgeProc {
        let child = Command::new(env!("CARGO_BIN_EXE_vtpm-bridge"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        BridgeProc { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for BridgeProc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- the bridge's log:\n{}", self.log_text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tpm12-server` (TPM 1.2, control channel on `port + 1`) serving in a thread of this test
/// process; its state file lives in `dir`. Returns the data port.
pub fn start_tpm12_server(dir: &Path) -> u16 {
    let port = tpm12_server::transport::free_port_pair();
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--ctrl",
        &(port + 1).to_string(),
        "--state",
        &dir.join("tpm.state").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let opts = tpm12_server::options::parse(&args).unwrap();
    std::thread::spawn(move || {
        if let Err(e) = tpm12_server::serve::run(&opts) {
            eprintln!("tpm12-server: {e}");
        }
    });
    // ready once it accepts (EK generation first)
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "tpm12-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    port
}

/// A fresh temporary directory (removed on drop).
pub fn tempdir(tag: &str) -> tpm12_server::transport::TempDir {
    tpm12_server::transport::TempDir::new(tag).unwrap()
}
