//! The bridge's other side: [`TpmTransport`], where a guest's TPM command goes. One command is
//! in flight at a time (QEMU's TPM worker sends one and waits); the calls are poll-style so
//! the bridge answers QEMU's control channel (CANCEL, GET_TPMESTABLISHED) while a command
//! runs. Two transports: [`crate::tpmif::TpmifTransport`] (a vtpm stub domain, from dom0 over
//! `drivers::tpmfront`) and [`crate::tcp::TcpTransport`] (`tpm12-server` or swtpm with swtpm's
//! TCP framing, for host tests).

use core::task::Poll;
use std::os::fd::BorrowedFd;

/// Why a transport could not deliver a command or its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The TPM is not (or no longer) reachable: the vtpm's backend left, the TCP peer closed.
    Gone(String),
    /// No answer within the command timeout (the request was cancelled).
    Timeout,
    /// The request was cancelled before it ran (CMD_CANCEL_TPM_CMD).
    Cancelled,
    /// The command itself cannot be sent (too long for the transport) or the answer is
    /// malformed.
    Bad(String),
    /// A call out of order (a second command while one is in flight).
    Busy,
}

impl core::fmt::Display for TransportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TransportError::Gone(why) => write!(f, "the TPM is not reachable: {why}"),
            TransportError::Timeout => write!(f, "no answer in time (the command was cancelled)"),
            TransportError::Cancelled => write!(f, "the command was cancelled"),
            TransportError::Bad(why) => write!(f, "{why}"),
            TransportError::Busy => write!(f, "a command is already in flight"),
        }
    }
}

/// What CMD_INIT (a TPM power-on) did on the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowerOn {
    /// The TPM was reset (TPM_Init / _TPM_Init): it waits for TPM_Startup.
    Reset,
    /// The transport has no reset; the sentence says what the TPM's state is instead.
    NotReset(String),
}

/// Where the bridge sends TPM commands.
pub trait TpmTransport {
    /// One line naming the TPM (for the log).
    fn describe(&self) -> String;
    /// The largest command the transport carries (tpmif: 4088 bytes).
    fn max_command(&self) -> usize;
    /// Sends one command, to run at `locality`.
    fn submit(&mut self, locality: u8, command: &[u8]) -> Result<(), TransportError>;
    /// The answer to the command in flight, if it is there. Never blocks.
    fn poll_response(&mut self) -> Poll<Result<Vec<u8>, TransportError>>;
    /// Cancels the command in flight; false if the transport cannot cancel.
    fn cancel(&mut self) -> bool;
    /// CMD_INIT: the guest's machine was (re)started.
    fn power_on(&mut self) -> Result<PowerOn, TransportError>;
    /// CMD_SHUTDOWN: QEMU exits; the TPM should keep what it has (a save where that is a
    /// separate step).
    fn shutdown(&mut self) -> Result<(), TransportError>;
    /// A descriptor that becomes readable when an answer arrives, for the bridge's `poll`;
    /// without one the bridge looks every millisecond while a command is in flight.
    fn wake_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}
