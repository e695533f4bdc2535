//! TPM2_PCR_Read, TPM2_PCR_Extend and TPM2_PCR_Reset (Part 3 §22), with the PC Client
//! locality rules of [`crate::pcr::ATTRIBUTES`] and the pcrUpdateCounter.

use alloc::vec::Vec;

use crate::cmd::{Command, Response};
use crate::codec::Reader;
use crate::constants::{PCR_COUNT, PCR_SELECT_SIZE, rh};
use crate::crypto::{HASHES, HashAlg};
use crate::pcr::{ATTRIBUTES, NO_INCREMENT, PcrBitmap, locality_in};
use crate::rc::{At, Rc};
use crate::state::VolatileState;
use crate::tpm::Tpm;

/// Most digests one PCR_Read answers (`TPML_DIGEST` holds 8).
const MAX_READ_DIGESTS: usize = 8;

/// A `TPMS_PCR_SELECTION`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrSelection {
    /// hash.
    pub hash: HashAlg,
    /// pcrSelect.
    pub select: PcrBitmap,
}

/// Reads a `TPML_PCR_SELECTION` (errors unnumbered: the caller numbers the parameter).
pub fn read_selection(r: &mut Reader<'_>) -> Result<Vec<PcrSelection>, Rc> {
    let count = r.u32()?;
    if count as usize > HASHES.len() {
        return Err(Rc::SIZE);
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let hash = HashAlg::from_alg(r.u16()?).ok_or(Rc::HASH)?;
        let size = usize::from(r.u8()?);
        if size != PCR_SELECT_SIZE {
            return Err(Rc::VALUE);
        }
        let mut select = [0u8; PCR_SELECT_SIZE];
        select.copy_from_slice(r.bytes(size)?);
        out.push(PcrSelection { hash, select });
    }
    Ok(out)
}

fn started(tpm: &mut Tpm) -> Result<&mut VolatileState, Rc> {
    tpm.vol.as_mut().ok_or(Rc::INITIALIZE)
}

/// TPM2_PCR_Read(pcrSelectionIn) → pcrUpdateCounter, pcrSelectionOut, pcrValues: the banks in
/// request order, PCRs ascending, at most eight digests; what does not fit or is not
/// allocated is cleared from pcrSelectionOut.
pub fn pcr_read(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let selections = read_selection(&mut c.params).p(1)?;
    c.finish()?;
    let vol = started(tpm)?;
    let mut digests: Vec<&[u8]> = Vec::new();
    resp.params.u32(vol.pcr_update_counter).u32(selections.len() as u32);
    for s in &selections {
        let mut out = [0u8; PCR_SELECT_SIZE];
        for i in 0..PCR_COUNT {
            if s.select[i / 8] & (1 << (i % 8)) == 0 || digests.len() == MAX_READ_DIGESTS {
                continue;
            }
            if let Some(v) = vol.pcrs.get(s.hash, i) {
                digests.push(v);
                out[i / 8] |= 1 << (i % 8);
            }
        }
        resp.params.u16(s.hash.alg()).u8(PCR_SELECT_SIZE as u8).bytes(&out);
    }
    resp.params.u32(digests.len() as u32);
    for d in digests {
        resp.params.tpm2b(d);
    }
    Ok(())
}

/// Counts a PCR change in pcrUpdateCounter unless the PCR is in the no-increment group.
fn count_change(vol: &mut VolatileState, index: usize) {
    if !NO_INCREMENT.contains(&index) {
        vol.pcr_update_counter = vol.pcr_update_counter.wrapping_add(1);
    }
}

/// TPM2_PCR_Extend(pcrHandle, digests): each digest extends its bank (banks not allocated
/// are skipped); TPM_RH_NULL does nothing.
pub fn pcr_extend(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let count = c.params.u32().p(1)?;
    if count as usize > HASHES.len() {
        return Err(Rc::SIZE.param(1));
    }
    let mut digests = Vec::new();
    for _ in 0..count {
        let h = HashAlg::from_alg(c.params.u16().p(1)?).ok_or(Rc::HASH.param(1))?;
        digests.push((h, c.params.bytes(h.size()).p(1)?));
    }
    c.finish()?;
    let handle = c.handles.first().copied().unwrap_or(rh::NULL);
    if handle == rh::NULL {
        return Ok(());
    }
    let index = handle as usize;
    if !ATTRIBUTES.get(index).is_some_and(|a| locality_in(a.extend_locality, c.locality)) {
        return Err(Rc::LOCALITY);
    }
    for &(h, _) in &digests {
        tpm.test_alg(h)?;
    }
    let vol = started(tpm)?;
    // each bank extended is a change (two banks: two counts, as libtpms)
    for (h, d) in digests {
        if vol.pcrs.allocated(h) {
            vol.pcrs.extend(h, index, d);
            count_change(vol, index);
        }
    }
    Ok(())
}

/// TPM2_PCR_Reset(pcrHandle): only PCRs whose reset localities include this one.
pub fn pcr_reset(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let index = c.handles.first().copied().unwrap_or(u32::MAX) as usize;
    if !ATTRIBUTES.get(index).is_some_and(|a| locality_in(a.reset_locality, c.locality)) {
        return Err(Rc::LOCALITY);
    }
    let vol = started(tpm)?;
    vol.pcrs.reset(index);
    count_change(vol, index);
    Ok(())
}
