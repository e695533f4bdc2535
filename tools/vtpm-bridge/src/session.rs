//! What each control command does: the state QEMU's backend sees (running or stopped, the
//! locality, the buffer size) and the [`TpmTransport`] calls behind INIT, SHUTDOWN and
//! CANCEL. Pure apart from the transport; `crate::server` does the socket I/O.
//!
//! Decisions (README §"Protocol subset"): GET_STATEBLOB / SET_STATEBLOB are not advertised, so
//! QEMU blocks migration of the guest with its own message; the vTPM's state is the stub
//! domain's, moved with `vtpmctl export` / `import`, never part of QEMU's migration stream.
//! The TPM-established flag is always clear (no DRTM reaches a vtpm through tpmif).

use crate::ctrl::{CtrlRequest, CtrlResponse, cap, rc};
use crate::transport::{PowerOn, TpmTransport};

/// The capabilities the bridge announces: the set QEMU requires for TPM 1.2 and 2.0, plus
/// cancel and GET_CONFIG. Not: hashing, store-volatile, state blobs, GET_INFO, LOCK_STORAGE.
pub const CAPABILITIES: u64 = cap::INIT
    | cap::SHUTDOWN
    | cap::GET_TPMESTABLISHED
    | cap::SET_LOCALITY
    | cap::CANCEL_TPM_CMD
    | cap::RESET_TPMESTABLISHED
    | cap::STOP
    | cap::GET_CONFIG
    | cap::SET_DATAFD
    | cap::SET_BUFFERSIZE;

/// The smallest buffer size offered (swtpm's lower bound).
pub const MIN_BUFFER: u32 = 1024;

/// What the server does after sending the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    /// The descriptor that came with CMD_SET_DATAFD is the new data channel.
    InstallDataFd,
    /// QEMU is done (CMD_SHUTDOWN): close its channels, wait for the next QEMU.
    EndSession,
    /// Skip the state blob's bytes that follow CMD_SET_STATEBLOB.
    DiscardBlob(u32),
}

/// One QEMU's view of its TPM.
#[derive(Clone, Debug)]
pub struct Session {
    /// The locality of the next data commands (CMD_SET_LOCALITY).
    pub locality: u8,
    /// After CMD_INIT, until CMD_STOP or CMD_SHUTDOWN.
    pub running: bool,
    /// The buffer size in use (CMD_SET_BUFFERSIZE).
    pub buffer_size: u32,
    max_buffer: u32,
}

/// What a control command needs to know about the server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context {
    /// A data command is on the transport.
    pub inflight: bool,
    /// A descriptor came with the bytes read so far.
    pub have_fd: bool,
}

impl Session {
    /// A session for a transport carrying at most `max_command` bytes.
    pub fn new(max_command: usize) -> Self {
        let max = u32::try_from(max_command).unwrap_or(u32::MAX).max(MIN_BUFFER);
        Session { locality: 0, running: false, buffer_size: max, max_buffer: max }
    }

    /// Executes one control request: the reply, what to do next, and a log line if the
    /// request was refused or changed the TPM.
    pub fn control(
        &mut self,
        req: &CtrlRequest,
        t: &mut dyn TpmTransport,
        ctx: Context,
    ) -> (CtrlResponse, After, Option<String>) {
        let ok = CtrlResponse::Result(rc::SUCCESS);
        match *req {
            CtrlRequest::GetCapability => (CtrlResponse::Capability(CAPABILITIES), After::Continue, None),
            CtrlRequest::Init { .. } => match t.power_on() {
                Ok(PowerOn::Reset) => {
                    self.running = true;
                    (ok, After::Continue, Some("CMD_INIT: the TPM was reset (TPM_Init)".into()))
                }
                Ok(PowerOn::NotReset(why)) => {
                    self.running = true;
                    (ok, After::Continue, Some(format!("CMD_INIT: {why}")))
                }
                Err(e) => (CtrlResponse::Result(rc::FAIL), After::Continue, Some(format!("CMD_INIT failed: {e}"))),
            },
            CtrlRequest::Shutdown => {
                self.running = false;
                let note = match t.shutdown() {
                    Ok(()) => "CMD_SHUTDOWN: QEMU is done with the TPM".to_string(),
                    Err(e) => format!("CMD_SHUTDOWN: QEMU is done with the TPM; telling the TPM failed: {e}"),
                };
                (ok, After::EndSession, Some(note))
            }
            CtrlRequest::GetTpmEstablished => {
                (CtrlResponse::Established { result: rc::SUCCESS, bit: false }, After::Continue, None)
            }
            CtrlRequest::SetLocality { locality } | CtrlRequest::ResetTpmEstablished { locality } if locality > 4 => (
                CtrlResponse::Result(rc::BAD_LOCALITY),
                After::Continue,
                Some(format!("{}: locality {locality} refused (0-4)", req.name())),
            ),
            CtrlRequest::SetLocality { locality } => {
                self.locality = locality;
                (ok, After::Continue, None)
            }
            CtrlRequest::ResetTpmEstablished { .. } => (ok, After::Continue, None),
            CtrlRequest::CancelTpmCmd => {
                if !ctx.inflight {
                    (ok, After::Continue, None)
                } else if t.cancel() {
                    (ok, After::Continue, Some("CMD_CANCEL_TPM_CMD: the command in flight was cancelled".into()))
                } else {
                    (
                        CtrlResponse::Result(rc::FAIL),
                        After::Continue,
                        Some("CMD_CANCEL_TPM_CMD: this transport cannot cancel; the command runs on".into()),
                    )
                }
            }
            CtrlRequest::GetStateBlob { blob_type, .. } => (
                CtrlResponse::error_for(req, rc::FAIL),
                After::Continue,
                Some(format!(
                    "CMD_GET_STATEBLOB (type {blob_type}) refused: the vTPM's state is its stub domain's, moved with \
                     vtpmctl export/import, not in QEMU's migration stream"
                )),
            ),
            CtrlRequest::SetStateBlob { blob_type, length, .. } => (
                CtrlResponse::Result(rc::FAIL),
                After::DiscardBlob(length),
                Some(format!("CMD_SET_STATEBLOB (type {blob_type}, {length} bytes) refused and skipped")),
            ),
            CtrlRequest::Stop => {
                self.running = false;
                (ok, After::Continue, None)
            }
            CtrlRequest::GetConfig => (CtrlResponse::Config { result: rc::SUCCESS, flags: 0 }, After::Continue, None),
            CtrlRequest::SetDataFd => {
                if ctx.have_fd {
                    (ok, After::InstallDataFd, Some("CMD_SET_DATAFD: data channel received".into()))
                } else {
                    (
                        CtrlResponse::Result(rc::FAIL),
                        After::Continue,
                        Some("CMD_SET_DATAFD without a descriptor (SCM_RIGHTS) refused".into()),
                    )
                }
            }
            CtrlRequest::SetBufferSize { size } => {
                if size != 0 && self.running {
                    return (
                        CtrlResponse::error_for(req, rc::BAD_ORDINAL),
                        After::Continue,
                        Some("CMD_SET_BUFFERSIZE refused: the TPM runs (CMD_STOP first)".into()),
                    );
                }
                if size != 0 {
                    self.buffer_size = size.clamp(MIN_BUFFER, self.max_buffer);
                }
                (
                    CtrlResponse::BufferSize {
                        result: rc::SUCCESS,
                        size: self.buffer_size,
                        min: MIN_BUFFER,
                        max: self.max_buffer,
                    },
                    After::Continue,
                    None,
                )
            }
            CtrlRequest::NotServed { code } => (
                CtrlResponse::Result(rc::BAD_ORDINAL),
                After::Continue,
                Some(format!("{} ({code:#x}) is not served", req.name())),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportError;
    use core::task::Poll;

    /// A transport that records what the session asked of it.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<&'static str>,
        reset: bool,
        can_cancel: bool,
        fail: bool,
    }

    impl TpmTransport for Recorder {
        fn describe(&self) -> String {
            "recorder".into()
        }
        fn max_command(&self) -> usize {
            4088
        }
        fn submit(&mut self, _: u8, _: &[u8]) -> Result<(), TransportError> {
            Ok(())
        }
        fn poll_response(&mut self) -> Poll<Result<Vec<u8>, TransportError>> {
            Poll::Pending
        }
        fn cancel(&mut self) -> bool {
            self.calls.push("cancel");
            self.can_cancel
        }
        fn power_on(&mut self) -> Result<PowerOn, TransportError> {
            self.calls.push("power_on");
            if self.fail {
                return Err(TransportError::Gone("away".into()));
            }
            Ok(if self.reset { PowerOn::Reset } else { PowerOn::NotReset("no reset".into()) })
        }
        fn shutdown(&mut self) -> Result<(), TransportError> {
            self.calls.push("shutdown");
            Ok(())
        }
    }

    fn run(s: &mut Session, t: &mut Recorder, r: CtrlRequest) -> (CtrlResponse, After) {
        let (resp, after, _) = s.control(&r, t, Context::default());
        (resp, after)
    }

    /// QEMU's start-up sequence, command by command, with the replies it needs.
    #[test]
    fn qemus_sequence() {
        let mut s = Session::new(4088);
        let mut t = Recorder { reset: true, ..Default::default() };
        let (r, a, _) = s.control(&CtrlRequest::SetDataFd, &mut t, Context { have_fd: true, inflight: false });
        assert_eq!((r, a), (CtrlResponse::Result(0), After::InstallDataFd));
        let (r, _) = run(&mut s, &mut t, CtrlRequest::GetCapability);
        let CtrlResponse::Capability(c) = r else { panic!() };
        // QEMU's minimum for TPM 2.0 (a superset of 1.2's)
        let need = cap::INIT
            | cap::SHUTDOWN
            | cap::GET_TPMESTABLISHED
            | cap::SET_LOCALITY
            | cap::RESET_TPMESTABLISHED
            | cap::SET_DATAFD
            | cap::STOP
            | cap::SET_BUFFERSIZE;
        assert_eq!(c & need, need);
        assert_eq!(c & (cap::GET_STATEBLOB | cap::SET_STATEBLOB), 0, "migration is blocked by QEMU");
        assert_eq!(run(&mut s, &mut t, CtrlRequest::Stop).0, CtrlResponse::Result(0));
        assert_eq!(
            run(&mut s, &mut t, CtrlRequest::SetBufferSize { size: 0 }).0,
            CtrlResponse::BufferSize { result: 0, size: 4088, min: 1024, max: 4088 }
        );
        assert_eq!(
            run(&mut s, &mut t, CtrlRequest::SetBufferSize { size: 4096 }).0,
            CtrlResponse::BufferSize { result: 0, size: 4088, min: 1024, max: 4088 }
        );
        assert_eq!(
            run(&mut s, &mut t, CtrlRequest::SetBufferSize { size: 100 }).0,
            CtrlResponse::BufferSize { result: 0, size: 1024, min: 1024, max: 4088 }
        );
        assert_eq!(run(&mut s, &mut t, CtrlRequest::Init { flags: 0 }).0, CtrlResponse::Result(0));
        assert!(s.running);
        assert_eq!(
            run(&mut s, &mut t, CtrlRequest::SetBufferSize { size: 2048 }).0,
            CtrlResponse::BufferSize { result: rc::BAD_ORDINAL, size: 0, min: 0, max: 0 }
        );
        assert_eq!(run(&mut s, &mut t, CtrlRequest::SetLocality { locality: 3 }).0, CtrlResponse::Result(0));
        assert_eq!(s.locality, 3);
        assert_eq!(run(&mut s, &mut t, CtrlRequest::SetLocality { locality: 5 }).0, CtrlResponse::Result(0x3d));
        assert_eq!(s.locality, 3);
        assert_eq!(
            run(&mut s, &mut t, CtrlRequest::GetTpmEstablished).0,
            CtrlResponse::Established { result: 0, bit: false }
        );
        assert_eq!(run(&mut s, &mut t, CtrlRequest::ResetTpmEstablished { locality: 3 }).0, CtrlResponse::Result(0));
        assert_eq!(run(&mut s, &mut t, CtrlRequest::ResetTpmEstablished { locality: 7 }).0, CtrlResponse::Result(0x3d));
        assert_eq!(run(&mut s, &mut t, CtrlRequest::Shutdown), (CtrlResponse::Result(0), After::EndSession));
        assert_eq!(t.calls, ["power_on", "shutdown"]);
    }

    #[test]
    fn init_without_a_reset_says_so_and_a_failure_is_an_error() {
        let mut s = Session::new(4088);
        let mut t = Recorder::default();
        let (r, _, note) = s.control(&CtrlRequest::Init { flags: 1 }, &mut t, Context::default());
        assert_eq!(r, CtrlResponse::Result(0));
        assert!(note.unwrap().contains("no reset"));
        t.fail = true;
        let (r, _, note) = s.control(&CtrlRequest::Init { flags: 0 }, &mut t, Context::default());
        assert_eq!(r, CtrlResponse::Result(rc::FAIL));
        assert!(note.unwrap().contains("away"));
    }

    #[test]
    fn cancel_only_touches_a_command_in_flight() {
        let mut s = Session::new(4088);
        let mut t = Recorder::default();
        assert_eq!(run(&mut s, &mut t, CtrlRequest::CancelTpmCmd).0, CtrlResponse::Result(0));
        assert!(t.calls.is_empty());
        let busy = Context { inflight: true, have_fd: false };
        assert_eq!(s.control(&CtrlRequest::CancelTpmCmd, &mut t, busy).0, CtrlResponse::Result(rc::FAIL));
        t.can_cancel = true;
        assert_eq!(s.control(&CtrlRequest::CancelTpmCmd, &mut t, busy).0, CtrlResponse::Result(0));
        assert_eq!(t.calls, ["cancel", "cancel"]);
    }

    #[test]
    fn refusals() {
        let mut s = Session::new(4088);
        let mut t = Recorder::default();
        assert_eq!(run(&mut s, &mut t, CtrlRequest::SetDataFd).0, CtrlResponse::Result(rc::FAIL));
        let (r, a) = run(&mut s, &mut t, CtrlRequest::SetStateBlob { flags: 0, blob_type: 1, length: 9 });
        assert_eq!((r, a), (CtrlResponse::Result(rc::FAIL), After::DiscardBlob(9)));
        let (r, _) = run(&mut s, &mut t, CtrlRequest::GetStateBlob { flags: 1, blob_type: 1, offset: 0 });
        assert_eq!(r.encode().len(), 16);
        assert_eq!(r.result(), rc::FAIL);
        assert_eq!(run(&mut s, &mut t, CtrlRequest::NotServed { code: 6 }).0, CtrlResponse::Result(rc::BAD_ORDINAL));
        assert_eq!(run(&mut s, &mut t, CtrlRequest::GetConfig).0, CtrlResponse::Config { result: 0, flags: 0 });
    }
}
