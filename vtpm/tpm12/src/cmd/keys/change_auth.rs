//! TPM_ChangeAuth (Part 3 §17.1): re-encrypts a wrapped key or sealed blob
//! with a new usage secret. The parent authorizes through OSAP (whose shared
//! secret carries the new auth by ADIP); the entity's old secret authorizes
//! the second, OIAP, session.

use crate::Tpm;
use crate::constants::rc::Rc;
use crate::constants::{et, pid};
use crate::crypto::Digest;
use crate::frame::{Command, Response};

use super::super::seal::SealedData;
use super::blob::StoreAsymkey;
use super::{rsa_ops, storage_parent};
use crate::auth;
use crate::state::sessions::AuthEntity;

/// TPM_ChangeAuth: `parentHandle, protocolID, newAuth, entityType, encDataSize,
/// encData` in (AUTH2); `outDataSize, outData` out (the new `encData`).
pub fn change_auth(tpm: &mut Tpm, cmd: &mut Command<'_>, resp: &mut Response) -> Result<(), Rc> {
    let parent_handle = cmd.params.u32()?;
    let protocol_id = cmd.params.u16()?;
    let enc_new: Digest = cmd.params.array()?;
    let entity_type = cmd.params.u16()?;
    let enc_data = cmd.params.sized32()?;
    cmd.params.finish()?;
    let parent = storage_parent(tpm, cmd, parent_handle)?;
    if protocol_id != pid::ADCP {
        return Err(Rc::BAD_PARAMETER);
    }
    if !auth::is_oiap(tpm, cmd, 1) {
        return Err(Rc::AUTH2FAIL);
    }
    let new_auth = auth::decrypt_adip(tpm, cmd, 0, &enc_new)?;
    let out_data = match entity_type {
        et::KEYHANDLE | et::KEY => {
            let plain = rsa_ops::oaep_decrypt(&parent.rsa, tpm.rng.as_mut(), enc_data)?;
            let mut store = StoreAsymkey::decode(&plain)?;
            auth::check(tpm, cmd, 1, AuthEntity::Data, &store.usage_auth)?;
            store.usage_auth = new_auth;
            rsa_ops::oaep_encrypt(&parent.rsa.public, tpm.rng.as_mut(), &store.encode())?
        }
        et::DATA => {
            // Only encData is sent, so storedDigest (over the whole blob) cannot be
            // rechecked here; payload and tpmProof are, and Unseal rechecks the digest.
            let plain =
                rsa_ops::oaep_decrypt(&parent.rsa, tpm.rng.as_mut(), enc_data).map_err(|_| Rc::NOTSEALED_BLOB)?;
            let mut sealed = SealedData::decode(&plain)?;
            if sealed.tpm_proof != tpm.perm.data.tpm_proof {
                return Err(Rc::NOTSEALED_BLOB);
            }
            auth::check(tpm, cmd, 1, AuthEntity::Data, &sealed.auth_data)?;
            sealed.auth_data = new_auth;
            rsa_ops::oaep_encrypt(&parent.rsa.public, tpm.rng.as_mut(), &sealed.encode())?
        }
        _ => return Err(Rc::WRONG_ENTITYTYPE),
    };
    resp.params.sized32(&out_data);
    Ok(())
}
