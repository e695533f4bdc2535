//! The object commands (Part 3 §12, §24.1): TPM2_CreatePrimary, TPM2_Create, TPM2_Load,
//! TPM2_ReadPublic, TPM2_Unseal, TPM2_ObjectChangeAuth. Creation data and tickets follow Part 3 §12.1 and §24.1
//! (`TPMS_CREATION_DATA`, `creationHash`, `TPMT_TK_CREATION`).

use alloc::vec::Vec;

use crate::cmd::pcr::read_selection;
use crate::cmd::{Command, Response};
use crate::codec::Writer;
use crate::constants::{alg, rh};
use crate::object::public::{Public, attr};
use crate::object::sensitive::SensitiveCreate;
use crate::object::{self, KeySource, Object, protect};
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// `TPM_ST_CREATION`.
const ST_CREATION: u16 = 0x8021;
/// Largest `TPM2B_DATA` (outsideInfo).
const MAX_DATA: usize = 64;
/// Largest `TPM2B_PRIVATE` accepted.
pub const MAX_PRIVATE: usize = 1024;

/// Appends a `TPM2B_PUBLIC`.
pub fn write_public(w: &mut Writer, p: &Public) {
    w.tpm2b(&p.marshal());
}

/// The creation outputs (creationData, creationHash, creationTicket) of `obj` created under
/// a parent with (nameAlg, name, qualified name) `parent`.
fn creation(
    tpm: &mut Tpm,
    c: &Command<'_>,
    obj: &Object,
    parent: (u16, &[u8], &[u8]),
    p: &CreateParams<'_>,
    w: &mut Writer,
) {
    let mut cd = Writer::new();
    cd.bytes(&p.pcr_select).tpm2b(&p.pcr_digest).u8(1u8.checked_shl(u32::from(c.locality)).unwrap_or(0));
    cd.u16(parent.0).tpm2b(parent.1).tpm2b(parent.2).tpm2b(p.outside);
    let h = obj.public.name_alg;
    let creation_hash = h.digest(&[&cd.0]);
    w.tpm2b(&cd.0).tpm2b(&creation_hash);
    w.u16(ST_CREATION);
    if obj.hierarchy == rh::NULL {
        w.u32(rh::NULL).u16(0);
    } else {
        let proof = tpm.proof(obj.hierarchy);
        // tickets are HMACs with the context hash (TPM_PT_CONTEXT_HASH: SHA-256)
        let ticket =
            crate::crypto::HashAlg::Sha256.hmac(&proof, &[&ST_CREATION.to_be_bytes(), &obj.name, &creation_hash]);
        w.u32(obj.hierarchy).tpm2b(&ticket);
    }
}

/// The common parameters of CreatePrimary and Create: inSensitive, inPublic, outsideInfo,
/// creationPCR; returns them with the marshaled PCR selection and its digest.
struct CreateParams<'a> {
    sensitive: SensitiveCreate,
    public: Public,
    outside: &'a [u8],
    pcr_select: Vec<u8>,
    pcr_digest: Vec<u8>,
}

fn create_params<'a>(tpm: &mut Tpm, c: &mut Command<'a>) -> Result<CreateParams<'a>, Rc> {
    let sensitive = SensitiveCreate::read(&mut c.params).p(1)?;
    let public = Public::read_2b(&mut c.params).p(2)?;
    let outside = c.params.tpm2b(MAX_DATA).p(3)?;
    let before = c.params.remaining();
    let mut probe = c.params.clone();
    let selections = read_selection(&mut c.params).p(4)?;
    let used = before - c.params.remaining();
    let pcr_select = probe.bytes(used).p(4)?.to_vec();
    c.finish()?;
    let vol = tpm.vol.as_ref().ok_or(Rc::INITIALIZE)?;
    let mut values: Vec<&[u8]> = Vec::new();
    for s in &selections {
        for i in 0..crate::constants::PCR_COUNT {
            if s.select[i / 8] & (1 << (i % 8)) != 0
                && let Some(v) = vol.pcrs.get(s.hash, i)
            {
                values.push(v);
            }
        }
    }
    let pcr_digest = public.name_alg.digest(&values);
    Ok(CreateParams { sensitive, public, outside, pcr_select, pcr_digest })
}

/// TPM2_CreatePrimary(primaryHandle, inSensitive, inPublic, outsideInfo, creationPCR) →
/// objectHandle, outPublic, creationData, creationHash, creationTicket, name.
pub fn create_primary(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let hierarchy = c.handles[0];
    let p = create_params(tpm, c)?;
    tpm.free_transient_slot()?;
    let seed = tpm.hierarchy_seed(hierarchy);
    let (public, sensitive) =
        object::create(p.public.clone(), &p.sensitive, KeySource::Primary(&seed[..]), true).map_err(|b| b.rc())?;
    let obj = Object::new(public, sensitive, &hierarchy.to_be_bytes(), hierarchy);
    let mut w = Writer::new();
    write_public(&mut w, &obj.public);
    let handle_name = hierarchy.to_be_bytes();
    creation(tpm, c, &obj, (alg::NULL, &handle_name, &handle_name), &p, &mut w);
    w.tpm2b(&obj.name);
    let handle = tpm.load_transient(obj)?;
    resp.handles.push(handle);
    resp.params = w;
    Ok(())
}

/// The storage parent at handle 1 (`TPM_RC_TYPE` + handle 1 if it is not one).
fn parent(tpm: &Tpm, handle: u32) -> Result<Object, Rc> {
    let p = tpm.object(handle).ok_or(Rc::HANDLE.handle(1))?;
    if p.storage().is_none() {
        return Err(Rc::TYPE.handle(1));
    }
    Ok(p.clone())
}

/// TPM2_Create(parentHandle, inSensitive, inPublic, outsideInfo, creationPCR) → outPrivate,
/// outPublic, creationData, creationHash, creationTicket.
pub fn create(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let parent = parent(tpm, c.handles[0])?;
    let p = create_params(tpm, c)?;
    let mut rng = |b: &mut [u8]| tpm.random(b);
    let (public, sensitive) =
        object::create(p.public.clone(), &p.sensitive, KeySource::Random(&mut rng), parent.public.has(attr::FIXED_TPM))
            .map_err(|b| b.rc())?;
    let obj = Object::new(public, sensitive, &parent.qualified_name, parent.hierarchy);
    let Some((palg, pseed, bits)) = parent.storage() else { return Err(Rc::TYPE.handle(1)) };
    let private = protect::wrap(palg, pseed, bits, &obj.name, &obj.sensitive);
    let mut w = Writer::new();
    w.tpm2b(&private);
    write_public(&mut w, &obj.public);
    let parent_name = parent.name.clone();
    creation(tpm, c, &obj, (parent.public.name_alg.alg(), &parent_name, &parent.qualified_name), &p, &mut w);
    resp.params = w;
    Ok(())
}

/// TPM2_Load(parentHandle, inPrivate, inPublic) → objectHandle, name.
pub fn load(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let parent = parent(tpm, c.handles[0])?;
    let private = c.params.tpm2b(MAX_PRIVATE).p(1)?;
    let public = Public::read_2b(&mut c.params).p(2)?;
    c.finish()?;
    if public.has(attr::FIXED_TPM) && (!public.has(attr::FIXED_PARENT) || !parent.public.has(attr::FIXED_TPM)) {
        return Err(Rc::ATTRIBUTES.param(2));
    }
    tpm.free_transient_slot()?;
    let Some((palg, pseed, bits)) = parent.storage() else { return Err(Rc::TYPE.handle(1)) };
    let name = public.name();
    let sensitive = protect::unwrap(palg, pseed, bits, &name, private).p(1)?;
    object::check_binding(&public, &sensitive).p(2)?;
    let obj = Object::new(public, sensitive, &parent.qualified_name, parent.hierarchy);
    let name = obj.name.clone();
    let handle = tpm.load_transient(obj)?;
    resp.handles.push(handle);
    resp.params.tpm2b(&name);
    Ok(())
}

/// TPM2_ReadPublic(objectHandle) → outPublic, name, qualifiedName.
pub fn read_public(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let obj = tpm.object(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    write_public(&mut resp.params, &obj.public);
    resp.params.tpm2b(&obj.name).tpm2b(&obj.qualified_name);
    Ok(())
}

/// TPM2_Unseal(itemHandle) → outData: a sealed data object's data.
pub fn unseal(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    c.finish()?;
    let obj = tpm.object(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?;
    if obj.public.ty != alg::KEYEDHASH {
        return Err(Rc::TYPE.handle(1));
    }
    if !obj.public.is_sealed_data() || obj.public.has(attr::RESTRICTED) {
        return Err(Rc::ATTRIBUTES.handle(1));
    }
    resp.params.tpm2b(&obj.sensitive.value);
    Ok(())
}

/// TPM2_ObjectChangeAuth(objectHandle (ADMIN), parentHandle, newAuth) → outPrivate: the
/// object's private area with the new authValue, under its parent (the loaded object keeps
/// its old authValue). The parent must be the object's (`TPM_RC_TYPE` + handle 2).
pub fn object_change_auth(tpm: &mut Tpm, c: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let new_auth = c.params.tpm2b(crate::constants::MAX_DIGEST).p(1)?;
    c.finish()?;
    let obj = tpm.object(c.handles[0]).ok_or(Rc::HANDLE.handle(1))?.clone();
    let parent = tpm.object(c.handles[1]).ok_or(Rc::HANDLE.handle(2))?.clone();
    let new_auth = crate::cmd::hierarchy::trim(new_auth);
    if new_auth.len() > obj.public.name_alg.size() {
        return Err(Rc::SIZE.param(1));
    }
    let Some((palg, pseed, bits)) = parent.storage() else { return Err(Rc::TYPE.handle(2)) };
    if object::qualified(obj.public.name_alg, &parent.qualified_name, &obj.name) != obj.qualified_name {
        return Err(Rc::TYPE.handle(2));
    }
    let mut sensitive = obj.sensitive.clone();
    sensitive.auth = zeroize::Zeroizing::new(new_auth.to_vec());
    resp.params.tpm2b(&protect::wrap(palg, pseed, bits, &obj.name, &sensitive));
    Ok(())
}
