//! TPM2_Sign and TPM2_VerifySignature (Part 3 §20.2, §20.1) for RSA keys: RSASSA-PKCS1-v1_5
//! and RSASSA-PSS over a digest the caller gives. An unrestricted key signs any digest
//! (the validation ticket may be the NULL ticket); a restricted key needs a hashcheck
//! ticket (`HMAC_SHA256(proof, TPM_ST_HASHCHECK ‖ digest)`), which this engine never issues
//! (TPM2_Hash is not implemented), so it signs nothing external. VerifySignature answers a
//! verified ticket `HMAC_SHA256(proof, TPM_ST_VERIFIED ‖ digest ‖ keyName)` (the NULL ticket
//! for a key of the NULL hierarchy).

use crate::cmd::{Command, Response};
use crate::codec::Reader;
use crate::constants::{MAX_DIGEST, alg, rh};
use crate::crypto::rsa::{self, SigPadding};
use crate::crypto::{HashAlg, ct_eq};
use crate::object::Object;
use crate::object::public::{MAX_RSA_KEY_BYTES, Params, Unique, attr};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// `TPM_ST_VERIFIED`.
const ST_VERIFIED: u16 = 0x8022;
/// `TPM_ST_HASHCHECK`.
const ST_HASHCHECK: u16 = 0x8024;

/// A `TPMT_SIG_SCHEME` (scheme, hash): RSASSA, RSAPSS, or NULL (`TPM_RC_SCHEME` for the
/// schemes of other key types, `TPM_RC_VALUE` for the rest).
fn read_sig_scheme(r: &mut Reader<'_>) -> Result<(u16, u16), Rc> {
    match r.u16()? {
        alg::NULL => Ok((alg::NULL, alg::NULL)),
        s @ (alg::RSASSA | alg::RSAPSS) => {
            let h = r.u16()?;
            HashAlg::from_alg(h).ok_or(Rc::HASH)?;
            Ok((s, h))
        }
        alg::ECDSA | alg::ECSCHNORR | alg::HMAC => Err(Rc::SCHEME),
        _ => Err(Rc::VALUE),
    }
}

/// The signing scheme of `key` with the command's (`TPM_RC_SCHEME` + parameter 2).
fn padding(key: &Object, scheme: (u16, u16)) -> Result<SigPadding, Rc> {
    let Params::Rsa { scheme: ks, .. } = &key.public.params else { return Err(Rc::KEY.handle(1)) };
    let s = if ks.0 == alg::NULL {
        scheme
    } else if scheme.0 == alg::NULL || scheme == *ks {
        *ks
    } else {
        return Err(Rc::SCHEME.param(2));
    };
    let h = HashAlg::from_alg(s.1).ok_or(Rc::SCHEME.param(2))?;
    match s.0 {
        alg::RSASSA => Ok(SigPadding::Pkcs1(h)),
        alg::RSAPSS => Ok(SigPadding::Pss(h)),
        _ => Err(Rc::SCHEME.param(2)),
    }
}

/// The signing key at `handle`: an RSA key (`TPM_RC_KEY` for another type) with sign SET
/// (`TPM_RC_KEY` for Sign, `TPM_RC_ATTRIBUTES` for VerifySignature, as the reference).
fn signing_key(tpm: &Tpm, handle: u32, not_signing: Rc) -> Result<Object, Rc> {
    let key = tpm.object(handle).ok_or(Rc::HANDLE.handle(1))?;
    if !key.public.has(attr::SIGN_ENCRYPT) {
        return Err(not_signing.handle(1));
    }
    if key.public.ty != alg::RSA {
        return Err(Rc::SCHEME.handle(1));
    }
    Ok(key.clone())
}

/// TPM2_Sign(keyHandle, digest, inScheme, validation) → signature.
pub fn sign(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let digest = c.params.tpm2b(MAX_DIGEST).p(1)?.to_vec();
    let scheme = read_sig_scheme(&mut c.params).p(2)?;
    if c.params.u16().p(3)? != ST_HASHCHECK {
        return Err(Rc::TAG.param(3));
    }
    let ticket_hierarchy = c.params.u32().p(3)?;
    let ticket = c.params.tpm2b(MAX_DIGEST).p(3)?.to_vec();
    c.finish()?;
    let key = signing_key(tpm, c.handles[0], Rc::KEY)?;
    let padding = padding(&key, scheme)?;
    let h = match padding {
        SigPadding::Pkcs1(h) | SigPadding::Pss(h) => h,
    };
    if digest.len() != h.size() {
        return Err(Rc::SIZE.param(1));
    }
    if key.public.has(attr::RESTRICTED) || !ticket.is_empty() {
        let valid = ticket_hierarchy != rh::NULL && {
            let proof = tpm.proof(ticket_hierarchy);
            let want = HashAlg::Sha256.hmac(&proof, &[&ST_HASHCHECK.to_be_bytes(), &digest]);
            ct_eq(&want, &ticket)
        };
        if !valid {
            return Err(Rc::TICKET.param(3));
        }
    }
    let private = crate::cmd::asym::private(&key)?;
    let mut rng = |b: &mut [u8]| tpm.random(b);
    let sig = rsa::sign(&private, padding, &digest, &mut rng).p(1)?;
    let sig_alg = match padding {
        SigPadding::Pkcs1(_) => alg::RSASSA,
        SigPadding::Pss(_) => alg::RSAPSS,
    };
    resp.params.u16(sig_alg).u16(h.alg()).tpm2b(&sig);
    Ok(())
}

/// TPM2_VerifySignature(keyHandle, digest, signature) → validation.
pub fn verify_signature(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let digest = c.params.tpm2b(MAX_DIGEST).p(1)?.to_vec();
    let sig_alg = c.params.u16().p(2)?;
    let padding = match sig_alg {
        alg::RSASSA | alg::RSAPSS => {
            let h = HashAlg::from_alg(c.params.u16().p(2)?).ok_or(Rc::HASH.param(2))?;
            if sig_alg == alg::RSASSA { SigPadding::Pkcs1(h) } else { SigPadding::Pss(h) }
        }
        alg::ECDSA | alg::ECSCHNORR | alg::HMAC | alg::NULL => return Err(Rc::SCHEME.param(2)),
        _ => return Err(Rc::VALUE.param(2)),
    };
    let sig = c.params.tpm2b(MAX_RSA_KEY_BYTES).p(2)?.to_vec();
    c.finish()?;
    let key = signing_key(tpm, c.handles[0], Rc::ATTRIBUTES)?;
    let (Params::Rsa { exponent, .. }, Unique::Rsa(n)) = (&key.public.params, &key.public.unique) else {
        return Err(Rc::KEY.handle(1));
    };
    let public = rsa::public_key(n, *exponent).map_err(|rc| rc.handle(1))?;
    if !rsa::verify(&public, padding, &digest, &sig) {
        return Err(Rc::SIGNATURE.param(2));
    }
    resp.params.u16(ST_VERIFIED);
    if key.hierarchy == rh::NULL {
        resp.params.u32(rh::NULL).u16(0);
    } else {
        let proof = tpm.proof(key.hierarchy);
        let ticket = HashAlg::Sha256.hmac(&proof, &[&ST_VERIFIED.to_be_bytes(), &digest, &key.name]);
        resp.params.u32(key.hierarchy).tpm2b(&ticket);
    }
    Ok(())
}
