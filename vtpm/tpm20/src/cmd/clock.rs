//! TPM2_ReadClock (Part 3 §29.1): TPMS_TIME_INFO (time since _TPM_Init, the persistent
//! clock, resetCount, restartCount, safe).

use crate::cmd::{Command, Response};
use crate::rc::Rc;
use crate::tpm::Tpm;

/// TPM2_ReadClock → currentTime.
pub fn read_clock(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let time = tpm.time_ms();
    let clock = tpm.clock_ms();
    let safe = tpm.perm.clock_safe;
    resp.params.u64(time).u64(clock).u32(tpm.perm.reset_count).u32(tpm.perm.restart_count).u8(u8::from(safe));
    Ok(())
}
