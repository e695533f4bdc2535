//! Measuring into the guest's vTPM as pv-grub did (fact sheet §9): `device/vtpm/0` through
//! tpmfront, opened Mini-OS style, the three `TPM_Extend`s of `pvgrub_loader::measure::plan`
//! (each must answer TPM_SUCCESS), then closed so the booted kernel can open it again.

use alloc::format;
use alloc::string::String;

use drivers::hv::{Xen, XsTx};
use drivers::tpmfront::{FrontStyle, TpmFront};
use pvgrub_loader::measure::{Measurement, extend_command};

/// The guest's first vTPM.
const VTPM_NODE: &str = "device/vtpm/0";
/// Deadline of the connection and of each command.
const TIMEOUT_NS: u64 = 10_000_000_000;

/// Why nothing was measured.
pub enum VtpmError {
    /// The domain has no vTPM, or it does not answer: skipped unless a vTPM is required.
    Missing(String),
    /// The vTPM refused an extend: always fatal (pv-grub asserted).
    Failed(String),
}

/// Extends the plan's PCRs in order.
pub fn measure<X: Xen>(hv: &mut X, plan: &[Measurement]) -> Result<(), VtpmError> {
    if hv.read(XsTx::NONE, &format!("{VTPM_NODE}/backend")).is_err() {
        return Err(VtpmError::Missing(format!("no {VTPM_NODE} (xl vtpm=)")));
    }
    let mut front = TpmFront::<X>::new(VTPM_NODE);
    front
        .connect(hv, FrontStyle::MiniOs, TIMEOUT_NS)
        .map_err(|e| VtpmError::Missing(format!("{VTPM_NODE} does not connect ({e:?})")))?;
    let mut result = Ok(());
    for m in plan {
        match front.transact(hv, &extend_command(m), TIMEOUT_NS) {
            Ok(r) if r.len() >= 10 && r[6..10] == [0, 0, 0, 0] => {}
            Ok(r) => {
                let code = r.get(6..10).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                result = Err(VtpmError::Failed(format!("TPM_Extend of PCR {} ({}) returned {code:x?}", m.pcr, m.what)));
                break;
            }
            Err(e) => {
                result = Err(VtpmError::Failed(format!("TPM_Extend of PCR {} ({}) failed: {e:?}", m.pcr, m.what)));
                break;
            }
        }
    }
    if let Err(e) = front.close(hv, TIMEOUT_NS) {
        log::warn!("closing {VTPM_NODE}: {e:?}");
    }
    result
}
