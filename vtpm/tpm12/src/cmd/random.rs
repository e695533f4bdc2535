//! Randomness: TPM_GetRandom and TPM_StirRandom (Part 3 §13.6, §13.7).
//!
//! Bytes come from the injected RNG. StirRandom input is hashed into a stir pool;
//! while the pool is non-empty, GetRandom output is XORed with a SHA-1 stream
//! keyed by it. XOR with an independent stream cannot reduce the entropy of the
//! injected bytes, so stirring only ever adds.

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::constants::{INPUT_BUFFER_SIZE, ord};
use crate::crypto::sha1;
use crate::frame::{Command, OrdinalEntry, Response, check, tags};

/// Ordinal rows.
pub const ORDINALS: &[OrdinalEntry] = &[
    OrdinalEntry::new(ord::GetRandom, get_random, tags::RQU, 0, check::ALLOW_NO_OWNER),
    OrdinalEntry::new(ord::StirRandom, stir_random, tags::RQU, 0, check::ALLOW_NO_OWNER),
];

/// Most bytes one GetRandom returns: what fits a 4088-byte response.
pub const MAX_RANDOM: u32 = INPUT_BUFFER_SIZE - 14;

/// TPM_GetRandom: returns min(bytesRequested, [`MAX_RANDOM`]) bytes.
pub fn get_random(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let requested = cmd.params.u32()?;
    cmd.params.finish()?;
    let n = requested.min(MAX_RANDOM) as usize;
    let mut buf = alloc::vec![0u8; n];
    tpm.random(&mut buf);
    if let Some(pool) = tpm.vol.stir_pool {
        for (i, chunk) in buf.chunks_mut(20).enumerate() {
            let ks = sha1(&[&pool, &(i as u32).to_be_bytes(), &tpm.vol.stir_counter.to_be_bytes()]);
            for (b, k) in chunk.iter_mut().zip(ks.iter()) {
                *b ^= k;
            }
        }
        tpm.vol.stir_counter = tpm.vol.stir_counter.wrapping_add(1);
    }
    resp.params.sized32(&buf);
    Ok(())
}

/// TPM_StirRandom: `dataSize` must be below 256 (`TPM_BAD_PARAMETER`).
pub fn stir_random(tpm: &mut Tpm, cmd: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let data = cmd.params.sized32()?;
    cmd.params.finish()?;
    if data.len() >= 256 {
        return Err(Rc::BAD_PARAMETER);
    }
    let old = tpm.vol.stir_pool.unwrap_or([0; 20]);
    tpm.vol.stir_pool = Some(sha1(&[&old, data]));
    Ok(())
}
