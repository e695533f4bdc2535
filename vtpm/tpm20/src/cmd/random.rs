//! TPM2_GetRandom and TPM2_StirRandom (Part 3 §16).

use zeroize::Zeroizing;

use crate::cmd::{Command, Response};
use crate::constants::{MAX_DIGEST, MAX_SENSITIVE_DATA};
use crate::crypto::HashAlg;
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// TPM2_GetRandom(bytesRequested) → randomBytes: at most the largest digest (32 bytes).
pub fn get_random(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let requested = usize::from(c.params.u16().p(1)?);
    c.finish()?;
    let mut buf = Zeroizing::new([0u8; MAX_DIGEST]);
    let n = requested.min(MAX_DIGEST);
    tpm.random(&mut buf[..n]);
    resp.params.tpm2b(&buf[..n]);
    Ok(())
}

/// TPM2_StirRandom(inData): mixes `inData` into the key of the stream XORed onto the RNG.
pub fn stir_random(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let data = c.params.tpm2b(MAX_SENSITIVE_DATA).p(1)?;
    c.finish()?;
    let (old, counter) = match tpm.stir.as_ref() {
        Some((k, n)) => (**k, *n),
        None => ([0u8; 32], 0),
    };
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&HashAlg::Sha256.digest(&[b"StirRandom", &old, data]));
    tpm.stir = Some((key, counter));
    Ok(())
}
