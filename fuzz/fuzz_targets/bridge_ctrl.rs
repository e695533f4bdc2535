//! Fuzz target: the HVM bridge's control-channel parser (`vtpm-bridge::ctrl`) and what each
//! request does (`session`) never panic on any byte stream, whatever way it is split. Byte 0
//! is the chunk size the rest arrives in (1..=256), as a socket may deliver it. Invariants:
//! a decoded request took between 4 and the buffer's bytes, re-encodes to a request that
//! decodes to itself, and its reply has the size QEMU reads for that command (the result
//! first); an undecodable code drops the buffer and is answered TPM_BAD_ORDINAL.
#![no_main]

use core::task::Poll;

use libfuzzer_sys::fuzz_target;
use vtpm_bridge::ctrl::{self, CtrlResponse, Decoded};
use vtpm_bridge::session::{After, Context, Session};
use vtpm_bridge::transport::{PowerOn, TpmTransport, TransportError};

/// A transport that answers nothing and cancels when asked.
struct Null;

impl TpmTransport for Null {
    fn describe(&self) -> String {
        "null".into()
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
        true
    }
    fn power_on(&mut self) -> Result<PowerOn, TransportError> {
        Ok(PowerOn::Reset)
    }
    fn shutdown(&mut self) -> Result<(), TransportError> {
        Ok(())
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, rest)) = input.split_first() else { return };
    let chunk = usize::from(chunk).max(1);
    let mut session = Session::new(4088);
    let mut t = Null;
    let mut buf: Vec<u8> = Vec::new();
    let mut discard: u64 = 0;
    for (i, piece) in rest.chunks(chunk).enumerate() {
        buf.extend_from_slice(piece);
        loop {
            if discard > 0 {
                let n = usize::try_from(discard).unwrap_or(usize::MAX).min(buf.len());
                buf.drain(..n);
                discard -= n as u64;
                if discard > 0 {
                    break;
                }
            }
            match ctrl::decode(&buf) {
                Ok(Decoded::NeedMore) => {
                    assert!(buf.len() < 4 + 12, "a whole request was not decoded");
                    break;
                }
                Ok(Decoded::Request { request, consumed }) => {
                    assert!((4..=buf.len()).contains(&consumed));
                    let again = request.encode();
                    assert_eq!(again.len(), consumed);
                    assert_eq!(ctrl::decode(&again), Ok(Decoded::Request { request: request.clone(), consumed }));
                    buf.drain(..consumed);
                    let ctx = Context { inflight: i % 2 == 1, have_fd: i % 3 == 0 };
                    let (reply, after, _) = session.control(&request, &mut t, ctx);
                    let bytes = reply.encode();
                    assert_eq!(bytes.len(), CtrlResponse::wire_len(request.code()), "{request:?}");
                    assert!(session.locality <= 4);
                    assert!((1024..=4088).contains(&session.buffer_size));
                    if let After::DiscardBlob(n) = after {
                        discard = u64::from(n);
                    }
                }
                Err(e) => {
                    let ctrl::CtrlError::UnknownCommand { discarded, .. } = e;
                    assert_eq!(discarded, buf.len());
                    buf.clear();
                    break;
                }
            }
        }
    }
});
