//! tpmback's page half: one connected frontend's shared page and event channel.
//!
//! It copies each request out of the page once (header first, then exactly `length` bytes at
//! `8 + 4·nr_extra_pages`), validates that private copy, and never re-reads a field it already
//! decided on. It only ever writes `IDLE` or `FINISH` into `state`, and notifies after each
//! change (fact sheet §2.2, §2.5, §14 items 1–3).

use alloc::vec;
use alloc::vec::Vec;

use xen_abi::tpmif::{OFFSET_LENGTH, OFFSET_STATE, PAGE_SIZE, SharedPageHeader, TpmifState};

use crate::hv::{EventChannels, EvtchnPort, HvError, PageAccess};
use crate::tpm_frame::{self, TPM_BAD_PARAMETER, TPM_FAIL, TPM_SIZE};

/// What looking at the page found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PageEvent {
    /// Nothing to do (idle, finished, busy with an earlier request, or a garbage state byte).
    Nothing,
    /// A valid request, now copied into private memory; the connection is busy until answered.
    Request { locality: u8, command: Vec<u8> },
    /// An invalid request that was answered at once with a 10-byte TPM error.
    Rejected { rc: u32 },
    /// A CANCEL while idle, acknowledged with IDLE + notify.
    CancelAcked,
}

/// A connected frontend: its mapped page and our bound port.
pub(crate) struct Connection<M> {
    pub mapping: M,
    pub port: EvtchnPort,
    /// The `ring-ref` and `event-channel` values we connected with.
    pub ring_ref: u32,
    pub remote_port: u32,
    /// Data offset of the request being served, if one is.
    busy: Option<usize>,
}

impl<M: PageAccess> Connection<M> {
    pub fn new(mapping: M, port: EvtchnPort, ring_ref: u32, remote_port: u32) -> Self {
        Connection { mapping, port, ring_ref, remote_port, busy: None }
    }

    /// `busy` or `idle` (whether a request is being served), for [`super::TpmBack::describe`].
    pub fn describe(&self) -> &'static str {
        if self.busy.is_some() { "busy" } else { "idle" }
    }

    /// Looks at the page once and acts on what the frontend asked for.
    pub fn examine<E: EventChannels + ?Sized>(&mut self, ev: &mut E) -> Result<PageEvent, HvError> {
        if self.busy.is_some() {
            // One request at a time; a CANCEL now is answered by the coming FINISH (Mini-OS does
            // the same, and Linux accepts FINISH after a cancel).
            return Ok(PageEvent::Nothing);
        }
        // The whole header in one 8-byte load, then decided on from this private copy only.
        let raw = self.mapping.read_u64_le(0)?.to_le_bytes();
        let hdr = SharedPageHeader::decode(&raw);
        match TpmifState::from_u8(hdr.state) {
            Some(TpmifState::Submit) => {
                let offset = hdr.data_offset();
                let len = hdr.length as usize;
                if len < tpm_frame::HEADER_LEN {
                    return self.reject(ev, offset, TPM_BAD_PARAMETER);
                }
                if offset + len > PAGE_SIZE {
                    return self.reject(ev, offset, TPM_SIZE);
                }
                let mut command = vec![0u8; len];
                self.mapping.read(offset, &mut command)?;
                self.busy = Some(offset);
                Ok(PageEvent::Request { locality: hdr.locality, command })
            }
            Some(TpmifState::Cancel) => {
                self.mapping.write(OFFSET_STATE, &[TpmifState::Idle as u8])?;
                let _ = ev.notify(self.port);
                Ok(PageEvent::CancelAcked)
            }
            _ => Ok(PageEvent::Nothing),
        }
    }

    fn reject<E: EventChannels + ?Sized>(&mut self, ev: &mut E, offset: usize, rc: u32) -> Result<PageEvent, HvError> {
        self.busy = Some(offset);
        self.respond(ev, &tpm_frame::error_response(rc))?;
        Ok(PageEvent::Rejected { rc })
    }

    /// Writes the response for the request being served: data, then `length` (= the
    /// response's paramSize), then `state = FINISH`, then notify. A response that is not a
    /// consistent TPM frame, or does not fit the page, is replaced by a 10-byte error so the
    /// frontend is never left waiting. Returns `Ok(false)` if no request was being served.
    pub fn respond<E: EventChannels + ?Sized>(&mut self, ev: &mut E, response: &[u8]) -> Result<bool, HvError> {
        let Some(offset) = self.busy.take() else { return Ok(false) };
        let fallback;
        let mut resp = response;
        if !tpm_frame::is_consistent(resp) {
            log::error!("tpmback: response length {} does not match its paramSize; sending TPM_FAIL", resp.len());
            fallback = tpm_frame::error_response(TPM_FAIL);
            resp = &fallback;
        } else if offset + resp.len() > PAGE_SIZE {
            log::error!("tpmback: response of {} bytes does not fit the shared page; sending TPM_SIZE", resp.len());
            fallback = tpm_frame::error_response(TPM_SIZE);
            resp = &fallback;
        }
        self.mapping.write(offset, resp)?;
        self.mapping.write_u32_le(OFFSET_LENGTH, resp.len() as u32)?;
        self.mapping.write(OFFSET_STATE, &[TpmifState::Finish as u8])?;
        let _ = ev.notify(self.port);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    //! Pins the copy-once contract (security review M2): the header is taken in one 8-byte read,
    //! the command in one read of exactly `length` bytes, and nothing is read twice, so a peer
    //! that rewrites the page between accesses cannot change what was validated.

    use core::cell::RefCell;
    use std::vec::Vec;

    use super::*;
    use crate::hv::{DomId, EvtchnPort};

    /// A page whose peer rewrites `length` to 0xFFFF_FFFF right after the first header read.
    struct Racing {
        bytes: RefCell<[u8; PAGE_SIZE]>,
        log: RefCell<Vec<(&'static str, usize, usize)>>,
    }

    impl PageAccess for Racing {
        fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), HvError> {
            self.log.borrow_mut().push(("read", offset, buf.len()));
            buf.copy_from_slice(&self.bytes.borrow()[offset..offset + buf.len()]);
            Ok(())
        }
        fn read_u64_le(&self, offset: usize) -> Result<u64, HvError> {
            self.log.borrow_mut().push(("u64", offset, 8));
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.bytes.borrow()[offset..offset + 8]);
            self.bytes.borrow_mut()[OFFSET_LENGTH..OFFSET_LENGTH + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            Ok(u64::from_le_bytes(b))
        }
        fn write(&mut self, offset: usize, data: &[u8]) -> Result<(), HvError> {
            self.bytes.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
            Ok(())
        }
    }

    struct NoEvents;
    impl EventChannels for NoEvents {
        fn alloc_unbound(&mut self, _: DomId) -> Result<EvtchnPort, HvError> {
            Err(HvError::NoSpace)
        }
        fn bind_interdomain(&mut self, _: DomId, _: EvtchnPort) -> Result<EvtchnPort, HvError> {
            Err(HvError::NoSpace)
        }
        fn notify(&mut self, _: EvtchnPort) -> Result<(), HvError> {
            Ok(())
        }
        fn close(&mut self, _: EvtchnPort) {}
        fn take_pending(&mut self, _: EvtchnPort) -> bool {
            false
        }
    }

    #[test]
    fn header_is_read_once_as_one_word_and_the_command_once() {
        let cmd = [0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x99];
        let mut bytes = [0u8; PAGE_SIZE];
        bytes[OFFSET_LENGTH..OFFSET_LENGTH + 4].copy_from_slice(&10u32.to_le_bytes());
        bytes[OFFSET_STATE] = TpmifState::Submit as u8;
        bytes[8..18].copy_from_slice(&cmd);
        let page = Racing { bytes: RefCell::new(bytes), log: RefCell::new(Vec::new()) };
        let mut conn = Connection::new(page, EvtchnPort(1), 8, 1);
        let ev = conn.examine(&mut NoEvents).unwrap();
        assert_eq!(ev, PageEvent::Request { locality: 0, command: cmd.to_vec() });
        assert_eq!(*conn.mapping.log.borrow(), [("u64", 0, 8), ("read", 8, 10)]);
        // Busy until answered: the page is not looked at again.
        assert_eq!(conn.examine(&mut NoEvents).unwrap(), PageEvent::Nothing);
        assert_eq!(conn.mapping.log.borrow().len(), 2);
    }
}
