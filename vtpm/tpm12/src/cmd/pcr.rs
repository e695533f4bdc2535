//! PCRs: TPM_Extend, TPM_PcrRead, TPM_PCR_Reset (Part 3 §16), the PC Client
//! PCR attributes, and `TPM_PCR_SELECTION` / composite-hash helpers that the
//! seal and quote code share.

use alloc::vec::Vec;

use crate::Tpm;
use crate::codec::{Reader, Writer};
use crate::constants::rc::Rc;
use crate::constants::{NUM_PCRS, loc, ord};
use crate::crypto::{Digest, sha1};
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::Extend, extend, tags::RQU, 0, check::BASIC),
    OrdinalEntry::new(ord::PcrRead, pcr_read, tags::RQU, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::PCR_Reset, pcr_reset, tags::RQU, 0, check::BASIC),
];

/// `TPM_PCR_ATTRIBUTES` (Part 2 §8.9) of one PCR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcrAttributes {
    /// `pcrReset`: may be reset by TPM_PCR_Reset.
    pub reset: bool,
    /// `pcrResetLocal`: localities allowed to reset it.
    pub reset_local: u8,
    /// `pcrExtendLocal`: localities allowed to extend it.
    pub extend_local: u8,
}

/// The PC Client (TCG PC Client Specific Implementation Specification 1.21)
/// attributes of PCR `index`: 0–15 static; 16 and 23 resettable by anyone;
/// 17–22 the dynamic-launch PCRs with their locality rules.
pub fn attributes(index: usize) -> PcrAttributes {
    let (reset, reset_local, extend_local) = match index {
        0..=15 => (false, 0, loc::ALL),
        16 | 23 => (true, loc::ALL, loc::ALL),
        17 | 18 => (true, loc::FOUR, loc::FOUR | loc::THREE | loc::TWO),
        19 => (true, loc::FOUR, loc::THREE | loc::TWO),
        20 => (true, loc::FOUR | loc::TWO, loc::THREE | loc::TWO | loc::ONE),
        21 | 22 => (true, loc::TWO, loc::TWO),
        _ => (false, 0, 0),
    };
    PcrAttributes { reset, reset_local, extend_local }
}

/// Startup values (PC Client): 17–22 all ones, every other PCR zero.
pub fn init_pcrs(pcrs: &mut [Digest; NUM_PCRS]) {
    for (i, p) in pcrs.iter_mut().enumerate() {
        *p = if (17..=22).contains(&i) { [0xff; 20] } else { [0; 20] };
    }
}

/// The locality bit (`TPM_LOC_*`) of a locality number; localities above 4 have none.
pub fn locality_bit(locality: u8) -> u8 {
    if locality <= 4 { 1 << locality } else { 0 }
}

/// Reads a `TPM_PCRINDEX` and checks the range (`TPM_BADINDEX`).
fn read_index(r: &mut Reader<'_>) -> Result<usize, Rc> {
    let i = r.u32()? as usize;
    if i >= NUM_PCRS { Err(Rc::BADINDEX) } else { Ok(i) }
}

/// Extends PCR `index` with `digest` after the locality check; returns the
/// outDigest: the new value, or 20 zero bytes while the TPM is disabled or
/// deactivated (Part 3 §16.1 action 8: no PCR values leak then).
pub fn extend_pcr(tpm: &mut Tpm, locality: u8, index: usize, digest: &Digest) -> Result<Digest, Rc> {
    if attributes(index).extend_local & locality_bit(locality) == 0 {
        return Err(Rc::BAD_LOCALITY);
    }
    let pcr = &mut tpm.vol.stclear_data.pcrs[index];
    *pcr = sha1(&[pcr, digest]);
    let new = *pcr;
    if tpm.perm.flags.disable || tpm.vol.stclear_flags.deactivated { Ok([0; 20]) } else { Ok(new) }
}

/// TPM_Extend (Part 3 §16.1).
pub fn extend(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let index = read_index(&mut cmd.params)?;
    let digest: Digest = cmd.params.array()?;
    cmd.params.finish()?;
    let new = extend_pcr(tpm, cmd.locality, index, &digest)?;
    resp.params.bytes(&new);
    Ok(())
}

/// TPM_PcrRead (Part 3 §16.2).
pub fn pcr_read(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let index = read_index(&mut cmd.params)?;
    cmd.params.finish()?;
    resp.params.bytes(&tpm.vol.stclear_data.pcrs[index]);
    Ok(())
}

/// A `TPM_PCR_SELECTION`: the selected PCR indices.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PcrSelection {
    /// `pcrSelect` bytes as received (sizeOfSelect of them).
    pub select: Vec<u8>,
}

impl PcrSelection {
    /// Parses a `TPM_PCR_SELECTION`; `sizeOfSelect` must be 1..=NUM_PCRS/8 (we
    /// accept 0 as "nothing selected") and bits above NUM_PCRS are an error.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, Rc> {
        let size = usize::from(r.u16()?);
        if size > NUM_PCRS / 8 {
            return Err(Rc::INVALID_PCR_INFO);
        }
        let select = r.bytes(size)?.to_vec();
        Ok(Self { select })
    }

    /// Encodes it back.
    pub fn encode(&self, w: &mut Writer) {
        w.sized16(&self.select);
    }

    /// Selected indices in ascending order.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.select.len() * 8).filter(|i| self.select[i / 8] & (1 << (i % 8)) != 0)
    }

    /// True when no PCR is selected.
    pub fn is_empty(&self) -> bool {
        self.select.iter().all(|b| *b == 0)
    }

    /// `TPM_PCR_COMPOSITE` (select ‖ UINT32 valueSize ‖ values) for the current PCRs.
    pub fn composite(&self, pcrs: &[Digest; NUM_PCRS]) -> Vec<u8> {
        let mut w = Writer::new();
        self.encode(&mut w);
        let values: Vec<&Digest> = self.indices().map(|i| &pcrs[i]).collect();
        w.u32((values.len() * 20) as u32);
        for v in values {
            w.bytes(v);
        }
        w.into_vec()
    }

    /// SHA-1 of [`PcrSelection::composite`] (`TPM_COMPOSITE_HASH`).
    pub fn composite_hash(&self, pcrs: &[Digest; NUM_PCRS]) -> Digest {
        sha1(&[&self.composite(pcrs)])
    }
}

/// TPM_PCR_Reset (Part 3 §16.4).
pub fn pcr_reset(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let sel = PcrSelection::decode(&mut cmd.params)?;
    cmd.params.finish()?;
    if sel.select.is_empty() {
        return Err(Rc::INVALID_PCR_INFO);
    }
    // All checks first, then reset: the command is atomic.
    for i in sel.indices() {
        let a = attributes(i);
        if !a.reset {
            return Err(Rc::NOTRESETABLE);
        }
        if a.reset_local & locality_bit(cmd.locality) == 0 {
            return Err(Rc::NOTLOCAL);
        }
    }
    for i in sel.indices() {
        // PC Client: a reset (outside a dynamic launch) sets the PCR to zero,
        // except 17-22 which only locality 4 resets (to zero) and otherwise
        // remain all ones; we model no dynamic launch, so reset means zero.
        tpm.vol.stclear_data.pcrs[i] = [0; 20];
    }
    Ok(())
}
