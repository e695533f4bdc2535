//! Getting the TPM for our locality (TCG PC Client TIS 1.2, `TPM_ACCESS_x`).
//!
//! We write `requestUse` and wait timeout A for `activeLocality`. A locality that is active
//! keeps the TPM until it relinquishes it; firmware (SeaBIOS on QEMU's tpm-tis) leaves
//! locality 0 active and nobody relinquishes it, so a request for locality 2 (what Xen's
//! docs give the manager) stays pending for ever. The TIS answer is `Seize`: a higher
//! locality may take the TPM from a lower active one (the TPM sets the lower one's
//! `beenSeized`); a seize from a lower locality than the active one is ignored.
//!
//! So, when the request is not granted within timeout A: if the holder is visible in our
//! window (its page reads `tpmRegValidSts | activeLocality`; unmapped pages read all ones)
//! and is above us, seizing cannot work and we say so ([`TisError::LocalityHeld`]);
//! otherwise we write `Seize` and wait timeout A again; if the TPM still does not give us the
//! locality, [`TisError::SeizeRefused`]. What was done is logged.

use super::regs::*;
use super::{Tis, TisError};
use crate::hv::{Clock, Mmio};

impl<M: Mmio> Tis<M> {
    fn locality_active(&mut self) -> bool {
        let want = ACCESS_VALID | ACCESS_ACTIVE_LOCALITY;
        self.access() & want == want
    }

    /// The active locality other than ours, with its `TPM_ACCESS`, if its page is mapped.
    fn visible_holder(&mut self) -> Option<(u8, u8)> {
        let want = ACCESS_VALID | ACCESS_ACTIVE_LOCALITY;
        (0..NR_LOCALITIES).filter(|&l| l != self.locality).find_map(|l| {
            let v = self.mmio.read8(at(l, ACCESS));
            (v != 0xFF && v & want == want).then_some((l, v))
        })
    }

    /// Requests our locality and waits (timeout A) until it is active; if another locality
    /// keeps it past timeout A, seizes it when that is allowed (see the module docs).
    pub fn request_locality<C: Clock + ?Sized>(&mut self, clock: &mut C) -> Result<(), TisError> {
        if self.locality_active() {
            return Ok(());
        }
        let l = self.locality;
        self.mmio.write8(at(l, ACCESS), ACCESS_REQUEST_USE);
        let a = self.timeouts.abcd[0];
        if self.wait(clock, a, |t| t.locality_active()) {
            return Ok(());
        }
        let holder = self.visible_holder();
        if let Some((h, v)) = holder
            && h > l
        {
            log::warn!(
                "tpm_tis: locality {h} (ACCESS {v:#04x}) holds the TPM and did not release it within timeout A; \
                 locality {l} is lower, so it cannot seize it"
            );
            return Err(TisError::LocalityHeld { by: h });
        }
        self.mmio.write8(at(l, ACCESS), ACCESS_SEIZE);
        if !self.wait(clock, a, |t| t.locality_active()) {
            let ours = self.access();
            match holder {
                Some((h, v)) => log::warn!(
                    "tpm_tis: locality {h} (ACCESS {v:#04x}) holds the TPM; the TPM refused locality {l}'s Seize (ACCESS {ours:#04x})"
                ),
                None => log::warn!(
                    "tpm_tis: locality {l} not granted within timeout A and the TPM refused its Seize (ACCESS {ours:#04x}); \
                     the holder is outside our window, probably a higher locality"
                ),
            }
            return Err(TisError::SeizeRefused);
        }
        match holder {
            Some((h, v)) => {
                let now = self.mmio.read8(at(h, ACCESS));
                let seized = if now & ACCESS_BEEN_SEIZED != 0 { ", beenSeized" } else { "" };
                // `info` is filled in only after `probe` got the locality: zero ids mean the holder
                // was there before we opened the TPM.
                let opening = self.info.did == 0 && self.info.vid == 0;
                let who = if opening { "firmware or an earlier driver" } else { "another driver" };
                log::info!(
                    "tpm_tis: locality {h} was held by {who} (ACCESS {v:#04x}) and not released within timeout A; \
                     seized locality {l} (locality {h} ACCESS now {now:#04x}{seized})"
                );
            }
            None => log::info!(
                "tpm_tis: another locality (outside our window) held the TPM past timeout A; seized locality {l}"
            ),
        }
        Ok(())
    }

    /// Gives up our locality.
    pub fn release_locality(&mut self) {
        self.mmio.write8(at(self.locality, ACCESS), ACCESS_ACTIVE_LOCALITY);
    }
}
