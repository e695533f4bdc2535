//! tpmback's page half: one connected frontend's shared page and event channel.
//!
//! It copies each request out of the page once (header first, then exactly `length` bytes at
//! `8 + 4·nr_extra_pages`), validates that private copy, and never re-reads a field it already
//! decided on. It only ever writes `IDLE` or `FINISH` into `state`, and notifies after each
//! change (fact sheet §2.2, §2.5, §14 items 1–3).

use alloc::vec;
use alloc::vec::Vec;

use xen_abi::tpmif::{HEADER_SIZE, OFFSET_LENGTH, OFFSET_STATE, PAGE_SIZE, SharedPageHeader, TpmifState};

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

    /// Looks at the page once and acts on what the frontend asked for.
    pub fn examine<E: EventChannels + ?Sized>(&mut self, ev: &mut E) -> Result<PageEvent, HvError> {
        if self.busy.is_some() {
            // One request at a time; a CANCEL now is answered by the coming FINISH (Mini-OS does
            // the same, and Linux accepts FINISH after a cancel).
            return Ok(PageEvent::Nothing);
        }
        let mut raw = [0u8; HEADER_SIZE];
        self.mapping.read(0, &mut raw)?;
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
