//! The self-test commands (Part 3 §10): TPM2_SelfTest, TPM2_IncrementalSelfTest and
//! TPM2_GetTestResult. The tests are known-answer tests of the hash algorithms; a failure
//! puts the TPM in failure mode. An algorithm is also tested before its first use.

use crate::cmd::{Command, Response};
use crate::crypto::HashAlg;
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// Most algorithms in a TPML_ALG (`MAX_ALG_LIST_SIZE`).
const MAX_ALG_LIST: u32 = 64;

/// TPM2_SelfTest(fullTest): full or not, every implemented test runs (there are two).
pub fn self_test(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let full = c.params.u8().p(1)?;
    if full > 1 {
        return Err(Rc::VALUE.param(1));
    }
    c.finish()?;
    if full == 1 {
        tpm.tested = [false; 2];
    }
    tpm.test_all()
}

/// TPM2_IncrementalSelfTest(toTest) → toDoList: tests the listed algorithms we implement;
/// nothing is left to do afterwards (the list is empty).
pub fn incremental_self_test(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let count = c.params.u32().p(1)?;
    if count > MAX_ALG_LIST {
        return Err(Rc::SIZE.param(1));
    }
    let mut algs = alloc::vec::Vec::new();
    for _ in 0..count {
        algs.push(c.params.u16().p(1)?);
    }
    c.finish()?;
    for h in algs.into_iter().filter_map(HashAlg::from_alg) {
        tpm.test_alg(h)?;
    }
    resp.params.u32(0);
    Ok(())
}

/// TPM2_GetTestResult → outData (empty), testResult.
pub fn get_test_result(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let result = if tpm.failed { Rc::FAILURE } else { Rc::SUCCESS };
    resp.params.u16(0).u32(result.0);
    Ok(())
}
