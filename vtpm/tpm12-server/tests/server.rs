//! tpm12-server on its own: framing, state-file writes only on change,
//! refusal of a corrupt state file, clean SIGTERM exit.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tpm12::constants::{ord, tag};
use tpm12::testing::{request, response_rc};

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(port: u16, state: &std::path::Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_tpm12-server"))
        .args(["--port", &port.to_string(), "--state"])
        .arg(state)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child)
}

fn exchange(s: &mut TcpStream, cmd: &[u8]) -> Vec<u8> {
    s.write_all(cmd).unwrap();
    let mut hdr = [0u8; 10];
    s.read_exact(&mut hdr).unwrap();
    let n = u32::from_be_bytes([hdr[2], hdr[3], hdr[4], hdr[5]]) as usize;
    let mut rest = vec![0u8; n - 10];
    s.read_exact(&mut rest).unwrap();
    [&hdr[..], &rest].concat()
}

fn sigterm(mut server: Server) {
    let _ = Command::new("kill").arg(server.0.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(Instant::now() < deadline, "no exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn framing_state_file_and_sigterm() {
    let dir = std::env::temp_dir().join(format!("tpm12-server-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state");
    let port = free_port();
    let server = start(port, &state);
    assert!(state.exists(), "a manufactured TPM is saved at once");
    let written = std::fs::metadata(&state).unwrap().modified().unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Startup was done by the server (startup-clear): a second one is refused.
    let r = exchange(&mut s, &request(tag::RQU_COMMAND, ord::Startup, &[0, 1]));
    assert_eq!(response_rc(&r), 38, "TPM_INVALID_POSTINIT");
    // Volatile commands do not rewrite the state file.
    let mut ext = 3u32.to_be_bytes().to_vec();
    ext.extend_from_slice(&[1; 20]);
    assert_eq!(response_rc(&exchange(&mut s, &request(tag::RQU_COMMAND, ord::Extend, &ext))), 0);
    assert_eq!(response_rc(&exchange(&mut s, &request(tag::RQU_COMMAND, ord::GetRandom, &[0, 0, 0, 8]))), 0);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(std::fs::metadata(&state).unwrap().modified().unwrap(), written);
    // A permanent change (PhysicalDisable with hardware presence) rewrites it.
    assert_eq!(response_rc(&exchange(&mut s, &request(tag::RQU_COMMAND, ord::PhysicalDisable, &[]))), 0);
    std::thread::sleep(Duration::from_millis(20));
    assert_ne!(std::fs::metadata(&state).unwrap().modified().unwrap(), written);
    assert!(!dir.join("state.tmp").exists());
    // A frame with an impossible paramSize gets an error and the connection closes.
    s.write_all(&[0, 0xC1, 0, 0, 0, 2, 0, 0, 0, 0x46]).unwrap();
    let mut hdr = [0u8; 10];
    s.read_exact(&mut hdr).unwrap();
    assert_eq!(u32::from_be_bytes([hdr[6], hdr[7], hdr[8], hdr[9]]), 25, "TPM_BAD_PARAM_SIZE");
    let mut more = [0u8; 1];
    assert_eq!(s.read(&mut more).unwrap_or(0), 0, "connection closed");
    // The server keeps serving new connections.
    let mut s2 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(response_rc(&exchange(&mut s2, &request(tag::RQU_COMMAND, ord::PcrRead, &[0, 0, 0, 3]))), 7, "disabled");
    drop(s2);
    sigterm(server);
    // Restart: the disable survived.
    let server = start(port, &state);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(response_rc(&exchange(&mut s, &request(tag::RQU_COMMAND, ord::PcrRead, &[0, 0, 0, 3]))), 7);
    drop(s);
    sigterm(server);
    // A corrupt state file is refused (exit status 1), never replaced.
    let mut bytes = std::fs::read(&state).unwrap();
    bytes[20] ^= 0xFF;
    std::fs::write(&state, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tpm12-server"))
        .args(["--port", &free_port().to_string(), "--state"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum"));
    assert_eq!(std::fs::read(&state).unwrap(), bytes, "corrupt file left alone");
    let _ = std::fs::remove_dir_all(&dir);
}
