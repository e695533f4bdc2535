//! Objects (Part 1 §27, Part 3 §12): the public area ([`public`]), the sensitive area
//! ([`sensitive`]), its protection under a storage parent ([`protect`]), and here the
//! loaded [`Object`] and the creation of a new object's areas from a template — for a
//! primary object deterministically from the hierarchy's primary seed (the same template
//! gives the same key), for an ordinary object from the RNG.
//!
//! Primary derivation (this engine's, in the spirit of Part 1 "Primary Keys"; libtpms'
//! own DRBG construction is not reproduced, so primaries differ from its keys): every
//! secret is `KDFa(nameAlg, seed, label, H_nameAlg(template), H_nameAlg(inSensitive.data) ‖
//! counter, bits)` with the labels `"SEED"` (seedValue), `"KEY"` (keyedHash / symmetric
//! value) and `"ECC"` (the P-256 scalar; the counter moves on until a candidate is a valid
//! scalar). The template is the whole `TPMT_PUBLIC` as sent, its unique field included, and
//! the authValue takes no part: a new userAuth gives the same key.

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::constants::alg;
use crate::crypto::{HashAlg, ecc, rsa};
use crate::rc::Rc;

pub mod protect;
pub mod public;
pub mod sensitive;

use public::{Params, Public, Unique, attr};
use sensitive::{Sensitive, SensitiveCreate};

/// A loaded object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// The public area.
    pub public: Public,
    /// The sensitive area.
    pub sensitive: Sensitive,
    /// Its Name.
    pub name: Vec<u8>,
    /// Its Qualified Name.
    pub qualified_name: Vec<u8>,
    /// The hierarchy it belongs to (TPM_RH_OWNER, ENDORSEMENT, PLATFORM or NULL).
    pub hierarchy: u32,
}

impl Object {
    /// An object from its areas; `parent_qn` is the parent's Qualified Name (a hierarchy's
    /// is its handle).
    pub fn new(public: Public, sensitive: Sensitive, parent_qn: &[u8], hierarchy: u32) -> Self {
        let name = public.name();
        let qualified_name = qualified(public.name_alg, parent_qn, &name);
        Self { public, sensitive, name, qualified_name, hierarchy }
    }

    /// The seedValue and the symmetric key size it protects children with, if it is a
    /// storage parent.
    pub fn storage(&self) -> Option<(HashAlg, &[u8], u16)> {
        if !self.public.is_storage_parent() {
            return None;
        }
        let sym = self.public.storage_sym()?;
        Some((self.public.name_alg, &self.sensitive.seed, sym.key_bits))
    }
}

/// The Qualified Name: nameAlg ‖ H_nameAlg(parentQN ‖ name).
pub fn qualified(h: HashAlg, parent_qn: &[u8], name: &[u8]) -> Vec<u8> {
    let mut q = h.alg().to_be_bytes().to_vec();
    q.extend_from_slice(&h.digest(&[parent_qn, name]));
    q
}

/// Where a new object's secrets come from.
pub enum KeySource<'a> {
    /// A primary object: derived from the hierarchy's primary seed.
    Primary(&'a [u8]),
    /// An ordinary object: from the TPM's RNG.
    Random(&'a mut dyn FnMut(&mut [u8])),
}

/// Which creation parameter a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// inSensitive (parameter 1).
    Sensitive(Rc),
    /// inPublic (parameter 2).
    Public(Rc),
}

impl Bad {
    /// The response code with its parameter number.
    pub fn rc(self) -> Rc {
        match self {
            Self::Sensitive(rc) => rc.param(1),
            Self::Public(rc) => rc.param(2),
        }
    }
}

struct Material<'s, 'a> {
    source: &'s mut KeySource<'a>,
    alg: HashAlg,
    template_digest: Vec<u8>,
    data_digest: Vec<u8>,
}

impl Material<'_, '_> {
    fn get(&mut self, label: &[u8], counter: u32, len: usize) -> Zeroizing<Vec<u8>> {
        match self.source {
            KeySource::Primary(seed) => {
                let mut v = self.data_digest.clone();
                v.extend_from_slice(&counter.to_be_bytes());
                crate::crypto::kdf::kdfa(self.alg, seed, label, &self.template_digest, &v, len as u32 * 8)
            }
            KeySource::Random(rng) => {
                let mut out = Zeroizing::new(alloc::vec![0u8; len]);
                rng(&mut out);
                out
            }
        }
    }
}

/// Checks a template (`inPublic`) and the sensitive data and makes the new object's areas.
/// `parent_fixed_tpm`: the parent's fixedTPM (a hierarchy's is SET).
pub fn create(
    mut template: Public,
    sc: &SensitiveCreate,
    mut source: KeySource<'_>,
    parent_fixed_tpm: bool,
) -> Result<(Public, Sensitive), Bad> {
    use Bad::{Public as P, Sensitive as S};
    let h = template.name_alg;
    let a = template.attributes;
    let has = |b: u32| a & b != 0;
    // Part 1 §27.2: fixedTPM needs fixedParent and a fixedTPM parent.
    if has(attr::FIXED_TPM) && (!has(attr::FIXED_PARENT) || !parent_fixed_tpm) {
        return Err(P(Rc::ATTRIBUTES));
    }
    if has(attr::RESTRICTED) && has(attr::SIGN_ENCRYPT) && has(attr::DECRYPT) {
        return Err(P(Rc::ATTRIBUTES));
    }
    if !template.auth_policy.is_empty() && template.auth_policy.len() != h.size() {
        return Err(P(Rc::SIZE));
    }
    if crate::cmd::hierarchy::trim(&sc.user_auth).len() > h.size() {
        return Err(S(Rc::SIZE));
    }
    let storage = has(attr::RESTRICTED) && has(attr::DECRYPT) && !has(attr::SIGN_ENCRYPT);
    let generated = has(attr::SENSITIVE_DATA_ORIGIN);
    let symmetric = matches!(template.params, Params::KeyedHash { .. } | Params::SymCipher { .. });
    if symmetric && generated && !sc.data.is_empty() {
        return Err(P(Rc::ATTRIBUTES));
    }
    let mut m = Material {
        template_digest: h.digest(&[&template.marshal()]),
        data_digest: h.digest(&[&sc.data]),
        source: &mut source,
        alg: h,
    };
    let seed = m.get(b"SEED", 0, h.size());
    let (value, unique) = match &template.params {
        Params::KeyedHash { scheme, .. } => {
            if *scheme != alg::NULL && (has(attr::DECRYPT) == has(attr::SIGN_ENCRYPT)) {
                return Err(P(Rc::ATTRIBUTES));
            }
            if has(attr::RESTRICTED) && has(attr::DECRYPT) {
                return Err(P(Rc::ATTRIBUTES));
            }
            let value = if generated { m.get(b"KEY", 0, h.size()) } else { sc.data.clone() };
            let unique = h.digest(&[&seed, &value]);
            (value, Unique::Digest(unique))
        }
        Params::SymCipher { sym } => {
            let len = usize::from(sym.key_bits / 8);
            let value = if generated {
                m.get(b"KEY", 0, len)
            } else if sc.data.len() == len {
                sc.data.clone()
            } else {
                return Err(S(Rc::SIZE));
            };
            let unique = h.digest(&[&seed, &value]);
            (value, Unique::Digest(unique))
        }
        Params::Ecc { sym, scheme, kdf, .. } => {
            if !sc.data.is_empty() {
                return Err(S(Rc::SIZE));
            }
            if !generated {
                return Err(P(Rc::ATTRIBUTES));
            }
            if storage != sym.is_some() {
                return Err(P(Rc::SYMMETRIC));
            }
            if (storage || has(attr::RESTRICTED)) && scheme.0 != alg::NULL && !has(attr::SIGN_ENCRYPT) {
                return Err(P(Rc::SCHEME));
            }
            if kdf.0 != alg::NULL {
                return Err(P(Rc::KDF));
            }
            let mut d = None;
            for counter in 1..=64u32 {
                let cand = m.get(b"ECC", counter, ecc::COORD);
                if let Some(k) = ecc::private_from_bytes(&cand) {
                    d = Some(k);
                    break;
                }
            }
            let d = d.ok_or(P(Rc::KEY))?;
            let (x, y) = ecc::public_point(&d).ok_or(P(Rc::KEY))?;
            (d, Unique::Ecc(x, y))
        }
        Params::Rsa { sym, scheme, key_bits, exponent } => {
            // a primary's data only takes part in the derivation (as libtpms accepts it)
            // an ordinary key with sensitiveDataOrigin takes none: TPM_RC_ATTRIBUTES (libtpms)
            if !sc.data.is_empty() && !matches!(m.source, KeySource::Primary(_)) {
                return Err(P(Rc::ATTRIBUTES));
            }
            if !generated {
                return Err(P(Rc::ATTRIBUTES));
            }
            if storage != sym.is_some() {
                return Err(P(Rc::SYMMETRIC));
            }
            check_rsa_scheme(a, scheme.0).map_err(P)?;
            if *exponent != 0 && *exponent != rsa::DEFAULT_EXPONENT {
                return Err(P(Rc::RANGE));
            }
            // the primary-key DRBG: KDFa blocks with the label "RSA" and a block counter
            let (n, p) = match m.source {
                KeySource::Primary(_) => {
                    let mut stream = Stream { block: 0, buf: Zeroizing::new(Vec::new()) };
                    let m = &mut m;
                    rsa::generate(*key_bits, *exponent, &mut |out: &mut [u8]| stream.fill(m, out))
                }
                KeySource::Random(rng) => rsa::generate(*key_bits, *exponent, *rng),
            }
            .map_err(P)?;
            (p, Unique::Rsa(n))
        }
    };
    template.unique = unique;
    let sensitive = Sensitive {
        ty: template.ty,
        auth: Zeroizing::new(crate::cmd::hierarchy::trim(&sc.user_auth).to_vec()),
        seed,
        value,
    };
    Ok((template, sensitive))
}

/// The scheme an RSA key may carry (Part 1 §25.1, Part 2 `TPMT_RSA_SCHEME`): a storage or
/// a sign-and-decrypt key none; a restricted signing key RSASSA or RSAPSS; a decrypt key
/// NULL, RSAES or OAEP; a signing key NULL, RSASSA or RSAPSS.
fn check_rsa_scheme(a: u32, scheme: u16) -> Result<(), Rc> {
    let (sign, decrypt, restricted) = (a & attr::SIGN_ENCRYPT != 0, a & attr::DECRYPT != 0, a & attr::RESTRICTED != 0);
    let signing = matches!(scheme, alg::RSASSA | alg::RSAPSS);
    let ok = match (sign, decrypt) {
        _ if scheme == alg::NULL => !(restricted && sign),
        (true, true) => false,
        (true, false) => signing,
        (false, true) => !restricted && matches!(scheme, alg::RSAES | alg::OAEP),
        (false, false) => false,
    };
    if ok { Ok(()) } else { Err(Rc::SCHEME) }
}

/// The primary-key byte stream for RSA prime generation: the concatenation of the blocks
/// `KDFa(nameAlg, seed, "RSA", H(template), H(data) ‖ i, 8·hLen)` for i = 1, 2, …,
/// buffered, so the stream does not depend on how its reader splits its requests.
struct Stream {
    block: u32,
    buf: Zeroizing<Vec<u8>>,
}

impl Stream {
    fn fill(&mut self, m: &mut Material<'_, '_>, out: &mut [u8]) {
        for b in out.iter_mut() {
            if self.buf.is_empty() {
                self.block = self.block.wrapping_add(1);
                let mut next = m.get(b"RSA", self.block, m.alg.size());
                next.reverse();
                self.buf = next;
            }
            *b = self.buf.pop().unwrap_or(0);
        }
    }
}

/// Checks that a loaded sensitive area belongs to its public area (Part 1 §27.5: type and
/// the cryptographic binding): `TPM_RC_TYPE`, `TPM_RC_BINDING`, `TPM_RC_KEY_SIZE`.
pub fn check_binding(public: &Public, s: &Sensitive) -> Result<(), Rc> {
    if s.ty != public.ty {
        return Err(Rc::TYPE);
    }
    if s.auth.len() > public.name_alg.size() {
        return Err(Rc::SIZE);
    }
    match (&public.params, &public.unique) {
        (Params::KeyedHash { .. } | Params::SymCipher { .. }, Unique::Digest(u)) => {
            if let Params::SymCipher { sym } = &public.params
                && s.value.len() != usize::from(sym.key_bits / 8)
            {
                return Err(Rc::KEY_SIZE);
            }
            let want = public.name_alg.digest(&[&s.seed, &s.value]);
            if crate::crypto::ct_eq(&want, u) { Ok(()) } else { Err(Rc::BINDING) }
        }
        (Params::Rsa { exponent, .. }, Unique::Rsa(n)) => rsa::private_key(n, *exponent, &s.value).map(|_| ()),
        (Params::Ecc { .. }, Unique::Ecc(x, y)) => match ecc::public_point(&s.value) {
            Some((px, py)) if px == *x && py == *y => Ok(()),
            Some(_) => Err(Rc::BINDING),
            None => Err(Rc::KEY),
        },
        _ => Err(Rc::TYPE),
    }
}
