//! Manufacturing: turning an empty TPM into one a guest can take ownership of.
//!
//! A TPM that starts with no state gets fresh permanent flags, a random
//! `tpmProof` and `contextKey`, and a 2048-bit endorsement key generated on the
//! spot (the C vtpm's GENERATE_EK behaviour). EK generation lives here, not in
//! `cmd::owner`, because it runs before any command; TPM_CreateEndorsementKeyPair
//! (in `cmd::owner`) calls [`create_endorsement_key`] too.

use crate::Tpm;
use crate::codec::Writer;
use crate::constants::rc::Rc;
use crate::constants::{alg, scheme};
use crate::crypto::{RsaKey, Secret};
use crate::state::PermanentFlags;

/// Fills a blank [`Tpm`] with manufactured permanent state. `ek` = None
/// generates one from the injected RNG.
pub fn manufacture(tpm: &mut Tpm, ek: Option<RsaKey>) -> Result<(), Rc> {
    tpm.perm.flags = PermanentFlags::manufactured();
    tpm.perm.data.tpm_proof = Secret::random(tpm.rng.as_mut());
    tpm.perm.data.context_key = Secret::random(tpm.rng.as_mut());
    tpm.perm.data.next_counter_handle = 1;
    match ek {
        Some(k) => tpm.perm.data.endorsement_key = Some(k),
        None => create_endorsement_key(tpm)?,
    }
    tpm.mark_state_changed();
    Ok(())
}

/// Generates and installs a new EK of `options.ek_bits` bits.
pub fn create_endorsement_key(tpm: &mut Tpm) -> Result<(), Rc> {
    let bits = tpm.options.ek_bits;
    let k = RsaKey::generate(tpm.rng.as_mut(), bits)?;
    tpm.perm.data.endorsement_key = Some(k);
    tpm.mark_state_changed();
    Ok(())
}

/// `TPM_PUBKEY` of the EK (Part 2 §12.5 / ReadPubek): RSA, OAEP-SHA1, no
/// signature scheme, 2 primes, default exponent.
pub fn encode_ek_pubkey(ek: &RsaKey, w: &mut Writer) {
    let modulus = ek.modulus();
    // TPM_KEY_PARMS
    w.u32(alg::RSA).u16(scheme::ES_RSAESOAEP_SHA1_MGF1).u16(scheme::SS_NONE);
    // parmSize + TPM_RSA_KEY_PARMS (keyLength, numPrimes, exponentSize = 0)
    w.u32(12).u32(ek.bits() as u32).u32(2).u32(0);
    // TPM_STORE_PUBKEY
    w.sized32(&modulus);
}
