//! The bridge binary in front of `tpm12-server` (TCP, with its control channel), driven
//! exactly as QEMU's `tpm_emulator.c` drives a swtpm: SET_DATAFD with the descriptor in
//! SCM_RIGHTS, the version probe on the data channel (TPM2_ReadClock, then TPM_GetTicks),
//! GET_CAPABILITY, STOP + SET_BUFFERSIZE, INIT, TPM commands, SET_LOCALITY,
//! GET_TPMESTABLISHED, CANCEL, malformed input, SHUTDOWN, and a restarted QEMU.

mod support;

use sha1::{Digest, Sha1};
use support::{BridgeProc, Qemu, cmd12, rc_of, start_tpm12_server, tempdir};
use vtpm_bridge::ctrl::{CtrlRequest, cap};

const ORD_EXTEND: u32 = 0x14;
const ORD_PCRREAD: u32 = 0x15;
const ORD_STARTUP: u32 = 0x99;
const ORD_GETTICKS: u32 = 0xF1;
const TPM_INVALID_POSTINIT: u32 = 38;

fn pcr_read(q: &mut Qemu, pcr: u32) -> Vec<u8> {
    let r = q.tpm(&cmd12(ORD_PCRREAD, &pcr.to_be_bytes()));
    assert_eq!((rc_of(&r), r.len()), (0, 30), "{r:02x?}");
    r[10..30].to_vec()
}

/// QEMU's start-up: data channel, probe, capabilities, buffer size, INIT.
fn qemu_start(q: &mut Qemu) {
    assert_eq!(q.set_datafd(), 0);
    // tpm_util_test_tpmdev: a TPM 2.0 command first; a TPM 1.2 answers with its own tag
    let r = q.tpm(&[0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x81]);
    assert_eq!(&r[..2], &[0x00, 0xC4], "TPM 1.2 tag for a TPM 2.0 command: {r:02x?}");
    let r = q.tpm(&cmd12(ORD_GETTICKS, &[]));
    assert_eq!(&r[..2], &[0x00, 0xC4]);
    let caps = q.ctrl(&CtrlRequest::GetCapability);
    let caps = u64::from_be_bytes(caps.try_into().unwrap());
    let need12 = cap::INIT
        | cap::SHUTDOWN
        | cap::GET_TPMESTABLISHED
        | cap::SET_LOCALITY
        | cap::SET_DATAFD
        | cap::STOP
        | cap::SET_BUFFERSIZE;
    assert_eq!(caps & need12, need12, "{caps:#x}");
    // tpm_emulator_get_buffer_size (realize), then startup_tpm (reset): STOP, SET_BUFFERSIZE, INIT
    assert_eq!(q.ctrl_rc(&CtrlRequest::Stop), 0);
    let b = q.ctrl(&CtrlRequest::SetBufferSize { size: 0 });
    assert_eq!(&b[..8], &[0, 0, 0, 0, 0, 0, 0x0f, 0xf8], "result 0, 4088 bytes in use");
    assert_eq!(q.ctrl_rc(&CtrlRequest::Stop), 0);
    let b = q.ctrl(&CtrlRequest::SetBufferSize { size: 4096 });
    assert_eq!(&b[..8], &[0, 0, 0, 0, 0, 0, 0x0f, 0xf8]);
    assert_eq!(q.ctrl_rc(&CtrlRequest::Init { flags: 0 }), 0);
}

#[test]
fn qemus_sequence_against_tpm12_server() {
    let dir = tempdir("bridge-seq");
    let port = start_tpm12_server(&dir.0);
    let sock = dir.0.join("bridge.sock");
    let bridge = BridgeProc::start(
        &["--socket", sock.to_str().unwrap(), "--tcp", &port.to_string(), "--tcp-ctrl", &(port + 1).to_string()],
        dir.0.join("bridge.log"),
    );
    let mut q = Qemu::connect(&sock);
    qemu_start(&mut q);

    // CMD_INIT reached the TPM: it waits for TPM_Startup (SeaBIOS sends it on a plain QEMU)
    let r = q.tpm(&cmd12(ORD_STARTUP, &[0, 1]));
    assert_eq!(rc_of(&r), 0, "Startup after CMD_INIT: {r:02x?}");
    let r = q.tpm(&cmd12(ORD_STARTUP, &[0, 1]));
    assert_eq!(rc_of(&r), TPM_INVALID_POSTINIT);

    // commands: Extend, then PCRRead gives SHA-1(old || digest) (computed here)
    assert_eq!(pcr_read(&mut q, 10), [0u8; 20]);
    let digest = [0x5a; 20];
    let mut body = 10u32.to_be_bytes().to_vec();
    body.extend_from_slice(&digest);
    let r = q.tpm(&cmd12(ORD_EXTEND, &body));
    assert_eq!(rc_of(&r), 0);
    let want: [u8; 20] = Sha1::digest([[0u8; 20], digest].concat()).into();
    assert_eq!(&r[10..30], &want);
    assert_eq!(pcr_read(&mut q, 10), want);

    // locality (tpm_emulator_set_locality sends it before a command at a new locality)
    assert_eq!(q.ctrl_rc(&CtrlRequest::SetLocality { locality: 2 }), 0);
    assert_eq!(pcr_read(&mut q, 10), want);
    assert_eq!(q.ctrl_rc(&CtrlRequest::SetLocality { locality: 5 }), 0x3d, "TPM_BAD_LOCALITY");
    assert_eq!(q.ctrl_rc(&CtrlRequest::SetLocality { locality: 0 }), 0);

    // GET_TPMESTABLISHED: result 0, bit clear; CANCEL with nothing in flight: success
    assert_eq!(q.ctrl(&CtrlRequest::GetTpmEstablished), [0; 8]);
    assert_eq!(q.ctrl_rc(&CtrlRequest::CancelTpmCmd), 0);
    assert_eq!(q.ctrl_rc(&CtrlRequest::ResetTpmEstablished { locality: 3 }), 0);

    // malformed control input: an error reply, the channel goes on
    q.ctrl.write_all_checked(&[0xde, 0xad, 0xbe, 0xef, 1, 2]);
    let mut b = [0u8; 4];
    std::io::Read::read_exact(&mut q.ctrl, &mut b).unwrap();
    assert_eq!(u32::from_be_bytes(b), 0x0a, "TPM_BAD_ORDINAL");
    assert_eq!(q.ctrl(&CtrlRequest::GetConfig), [0; 8]);
    // a state blob is refused and its bytes skipped
    q.ctrl.write_all_checked(&CtrlRequest::SetStateBlob { flags: 0, blob_type: 1, length: 6 }.encode());
    q.ctrl.write_all_checked(&[0xde, 0xad, 0xbe, 0xef, 1, 2]);
    std::io::Read::read_exact(&mut q.ctrl, &mut b).unwrap();
    assert_eq!(u32::from_be_bytes(b), 9, "TPM_FAIL");
    assert_eq!(q.ctrl(&CtrlRequest::GetTpmEstablished), [0; 8]);
    let g = q.ctrl(&CtrlRequest::GetStateBlob { flags: 1, blob_type: 1, offset: 0 });
    assert_eq!(g, [0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

    // a command too large for the TPM: a failure, the data channel goes on
    let mut big = cmd12(ORD_PCRREAD, &vec![0u8; 5000]);
    big[2..6].copy_from_slice(&5010u32.to_be_bytes());
    let r = q.tpm(&big);
    assert_eq!(r, [0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 9]);
    assert_eq!(pcr_read(&mut q, 10), want);
    // a header announcing 5 bytes: a failure, and the data channel is closed (framing lost)
    let r = q.tpm(&[0, 0xC1, 0, 0, 0, 5, 0, 0, 0, 0]);
    assert_eq!(rc_of(&r), 9);
    let mut one = [0u8; 1];
    assert_eq!(std::io::Read::read(q.data.as_mut().unwrap(), &mut one).unwrap(), 0, "closed");
    // QEMU could hand over a new one
    assert_eq!(q.set_datafd(), 0);
    assert_eq!(pcr_read(&mut q, 10), want);
    // SET_DATAFD without a descriptor is refused
    assert_eq!(q.ctrl_rc(&CtrlRequest::SetDataFd), 9);

    // a second QEMU on the same socket is turned away while this one runs
    let mut other = Qemu::connect(&sock);
    let mut buf = [0u8; 4];
    assert_eq!(std::io::Read::read(&mut other.ctrl, &mut buf).unwrap(), 0, "second QEMU refused");

    // QEMU exits: CMD_SHUTDOWN, then the bridge closes its channels
    assert_eq!(q.ctrl_rc(&CtrlRequest::Shutdown), 0);
    assert_eq!(std::io::Read::read(&mut q.ctrl, &mut buf).unwrap(), 0);

    // QEMU restarts (a guest reboot under libxl is a new QEMU): the same sequence works, and
    // CMD_INIT power-cycled the TPM, so PCR 10 is back to zero after Startup(ST_CLEAR)
    let mut q = Qemu::connect(&sock);
    qemu_start(&mut q);
    assert_eq!(rc_of(&q.tpm(&cmd12(ORD_STARTUP, &[0, 1]))), 0);
    assert_eq!(pcr_read(&mut q, 10), [0u8; 20]);
    // a QEMU killed without SHUTDOWN: its socket closes, the bridge serves the next one
    drop(q);
    let mut q = Qemu::connect(&sock);
    qemu_start(&mut q);
    assert_eq!(rc_of(&q.tpm(&cmd12(ORD_STARTUP, &[0, 1]))), 0);
    assert_eq!(q.ctrl_rc(&CtrlRequest::Shutdown), 0);

    let log = bridge.log_text();
    for line in [
        "QEMU connected",
        "CMD_INIT: the TPM was reset",
        "is not one QEMU sends",
        "CMD_SET_STATEBLOB (type 1, 6 bytes) refused",
        "framing lost",
        "refused a second connection",
        "QEMU closed the control channel",
        "CMD_SHUTDOWN",
    ] {
        assert!(log.contains(line), "log lacks {line:?}:\n{log}");
    }
}

/// The TPM goes away (here: a TCP peer that closes every connection; for tpmif, a vtpm whose
/// backend left): each command gets a failure response at once, the guest is not hung, and
/// the control channel keeps working.
#[test]
fn a_lost_tpm_fails_commands_instead_of_hanging() {
    let dir = tempdir("bridge-loss");
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            drop(s);
        }
    });
    let sock = dir.0.join("bridge.sock");
    let bridge =
        BridgeProc::start(&["--socket", sock.to_str().unwrap(), "--tcp", &port.to_string()], dir.0.join("bridge.log"));
    let mut q = Qemu::connect(&sock);
    assert_eq!(q.set_datafd(), 0);
    assert_eq!(q.ctrl_rc(&CtrlRequest::Init { flags: 0 }), 0, "no control channel: not a reset, but no error");
    let t0 = std::time::Instant::now();
    for _ in 0..3 {
        let r = q.tpm(&cmd12(ORD_PCRREAD, &0u32.to_be_bytes()));
        assert_eq!(r, [0, 0xC4, 0, 0, 0, 10, 0, 0, 0, 9]);
    }
    // a TPM 2.0 command gets a TPM 2.0 failure
    let r = q.tpm(&[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 8]);
    assert_eq!(r, [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01]);
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(q.ctrl(&CtrlRequest::GetTpmEstablished), [0; 8]);
    assert_eq!(q.ctrl_rc(&CtrlRequest::Shutdown), 0);
    let log = bridge.log_text();
    assert!(log.contains("the guest gets a failure"), "{log}");
    assert!(log.contains("CMD_INIT: no control channel"), "{log}");
}

trait WriteChecked {
    fn write_all_checked(&mut self, b: &[u8]);
}
impl WriteChecked for std::os::unix::net::UnixStream {
    fn write_all_checked(&mut self, b: &[u8]) {
        std::io::Write::write_all(self, b).unwrap();
    }
}
