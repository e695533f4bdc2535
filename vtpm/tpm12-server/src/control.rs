//! swtpm's control channel (`--ctrl type=tcp`), the part clients use: a request is a
//! big-endian `u32` command code and its payload, the answer a `u32` result (0 = success)
//! and its payload, one request per connection (tpm2-tss' swtpm TCTI connects for each).
//!
//! Served: CMD_INIT (a power cycle: TPM_Init / _TPM_Init), CMD_SHUTDOWN (the state file is
//! written), CMD_GET_TPMESTABLISHED (never established: no DRTM here) and CMD_SET_LOCALITY
//! (the locality the following commands run at). Every other command answers TPM_FAIL.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::engine::HostEngine;

/// `CMD_INIT`.
pub const CMD_INIT: u32 = 0x02;
/// `CMD_SHUTDOWN`.
pub const CMD_SHUTDOWN: u32 = 0x03;
/// `CMD_GET_TPMESTABLISHED`.
pub const CMD_GET_TPMESTABLISHED: u32 = 0x04;
/// `CMD_SET_LOCALITY`.
pub const CMD_SET_LOCALITY: u32 = 0x05;

/// TPM_FAIL: the result of a command this server does not serve.
const TPM_FAIL: u32 = 9;
/// TPM_BAD_LOCALITY: a locality above 4.
const TPM_BAD_LOCALITY: u32 = 0x3D;

/// Payload size of a request, by command.
fn payload_len(cmd: u32) -> usize {
    match cmd {
        CMD_INIT => 4,
        CMD_SET_LOCALITY => 1,
        _ => 0,
    }
}

/// What a control request does to the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the answer.
    None,
    /// The state must be written now.
    Save,
}

/// Executes one control request against `engine`; `locality` is the server's current one.
/// Returns the answer and what the server must do.
pub fn execute<E: HostEngine + ?Sized>(request: &[u8], engine: &mut E, locality: &mut u8) -> (Vec<u8>, Effect) {
    let Some(code) = request.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) else {
        return (TPM_FAIL.to_be_bytes().to_vec(), Effect::None);
    };
    let payload = &request[4..];
    match code {
        CMD_INIT => {
            engine.init();
            *locality = 0;
            (0u32.to_be_bytes().to_vec(), Effect::None)
        }
        CMD_SHUTDOWN => (0u32.to_be_bytes().to_vec(), Effect::Save),
        CMD_GET_TPMESTABLISHED => ([0, 0, 0, 0, 0].to_vec(), Effect::None),
        CMD_SET_LOCALITY => match payload.first() {
            Some(&l) if l <= 4 => {
                *locality = l;
                (0u32.to_be_bytes().to_vec(), Effect::None)
            }
            _ => (TPM_BAD_LOCALITY.to_be_bytes().to_vec(), Effect::None),
        },
        _ => (TPM_FAIL.to_be_bytes().to_vec(), Effect::None),
    }
}

/// Reads one request from a control connection (within 2 s), answers it and closes.
pub fn serve<E: HostEngine + ?Sized>(
    mut stream: TcpStream,
    engine: &mut E,
    locality: &mut u8,
) -> std::io::Result<Effect> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut req = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let want =
            if req.len() >= 4 { 4 + payload_len(u32::from_be_bytes([req[0], req[1], req[2], req[3]])) } else { 4 };
        if req.len() >= want {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
        if Instant::now() > deadline {
            break;
        }
    }
    let (answer, effect) = execute(&req, engine, locality);
    stream.write_all(&answer)?;
    Ok(effect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locality_and_init() {
        let mut tpm = tpm20::testing::manufactured(1);
        let mut loc = 0;
        assert_eq!(execute(&[0, 0, 0, 5, 3], &mut tpm, &mut loc), (vec![0; 4], Effect::None));
        assert_eq!(loc, 3);
        assert_eq!(execute(&[0, 0, 0, 5, 5], &mut tpm, &mut loc).0, [0, 0, 0, 0x3D]);
        assert_eq!(loc, 3);
        assert_eq!(execute(&[0, 0, 0, 5], &mut tpm, &mut loc).0, [0, 0, 0, 0x3D]);
        let startup = tpm20::testing::plain(0x144, &[0, 0]);
        assert_eq!(tpm20::testing::rc(&tpm.execute(0, &startup)), 0);
        assert_eq!(execute(&[0, 0, 0, 2, 0, 0, 0, 0], &mut tpm, &mut loc).0, [0; 4]);
        assert_eq!(loc, 0);
        // after CMD_INIT the TPM waits for Startup again
        assert_eq!(tpm20::testing::rc(&tpm.execute(0, &startup)), 0);
        assert_eq!(execute(&[0, 0, 0, 3], &mut tpm, &mut loc).1, Effect::Save);
        assert_eq!(execute(&[0, 0, 0, 0x7F], &mut tpm, &mut loc).0, [0, 0, 0, 9]);
        assert_eq!(execute(&[0, 0], &mut tpm, &mut loc).0, [0, 0, 0, 9]);
    }
}
