//! The management requests vtpmctl sends (`vtpmmgr_core::mgmt`), typed, over a
//! [`ManagerLink`]: each a request frame, a reply decoded strictly, and an error sentence
//! naming the manager, the request and the manager's reason (its return code's meaning).

use vtpmmgr_core::mgmt::{self, MgmtRequest};
use vtpmmgr_core::proto::ReplyError;

use crate::mgmt_link::ManagerLink;
use crate::uuid;

/// A manager reached over a link.
pub struct Client<'a> {
    pub link: &'a mut dyn ManagerLink,
    /// The manager's domain name (for messages).
    pub name: String,
}

/// The most pages `list_all` reads (254 uuids each: far more vTPMs than a manager holds).
const MAX_PAGES: u32 = 10_000;

impl Client<'_> {
    fn call<T>(
        &mut self,
        what: &str,
        req: &MgmtRequest,
        decode: impl Fn(&[u8]) -> Result<T, ReplyError>,
    ) -> Result<T, String> {
        let reply = self.link.transact(&mgmt::encode(req))?;
        decode(&reply).map_err(|e| match e {
            ReplyError::Rc(rc) => format!("manager {}: {what} refused: {} (rc {rc:#x})", self.name, mgmt::rc_text(rc)),
            ReplyError::Malformed | ReplyError::BadPayload => {
                format!("manager {}: {what}: a malformed reply ({} bytes)", self.name, reply.len())
            }
        })
    }

    /// Every uuid the manager knows (VTPM_LIST, paged), ascending.
    pub fn list_all(&mut self) -> Result<Vec<[u8; 16]>, String> {
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let offset = all.len() as u32;
            let (total, page) =
                self.call("VTPM_LIST", &MgmtRequest::VtpmList { group: 0, offset }, mgmt::decode_vtpm_list)?;
            if all.len() + page.len() > total as usize {
                return Err(format!("manager {}: VTPM_LIST: more uuids than its total {total}", self.name));
            }
            if page.is_empty() {
                break;
            }
            all.extend(page);
            if all.len() == total as usize {
                break;
            }
        }
        Ok(all)
    }

    /// VTPM_DEL.
    pub fn delete(&mut self, u: [u8; 16]) -> Result<(), String> {
        self.call(&format!("VTPM_DEL of {}", uuid::format(&u)), &MgmtRequest::VtpmDel { uuid: u }, mgmt::decode_empty)
    }

    /// RS_BACKUP.
    pub fn backup(&mut self, u: [u8; 16]) -> Result<Vec<u8>, String> {
        self.call(&format!("BACKUP of {}", uuid::format(&u)), &MgmtRequest::Backup { uuid: u }, mgmt::decode_blob)
    }

    /// RS_RESTORE: the uuid restored.
    pub fn restore(&mut self, blob: &[u8]) -> Result<[u8; 16], String> {
        self.call("RESTORE", &MgmtRequest::Restore { blob: blob.to_vec() }, mgmt::decode_uuid)
    }

    /// RS_MANAGER_KEY: the X25519 public key.
    pub fn manager_key(&mut self) -> Result<[u8; 32], String> {
        let (alg, key) = self.call("MANAGER_KEY", &MgmtRequest::ManagerKey, mgmt::decode_manager_key)?;
        if alg != mgmt::ALG_X25519 {
            return Err(format!("manager {}: MANAGER_KEY: unknown key algorithm {alg}", self.name));
        }
        Ok(key)
    }

    /// RS_EXPORT to `target`.
    pub fn export(&mut self, u: [u8; 16], target: [u8; 32]) -> Result<Vec<u8>, String> {
        let req = MgmtRequest::Export { uuid: u, alg: mgmt::ALG_X25519, target };
        self.call(&format!("EXPORT of {}", uuid::format(&u)), &req, mgmt::decode_blob)
    }

    /// RS_IMPORT: the uuid imported.
    pub fn import(&mut self, blob: &[u8]) -> Result<[u8; 16], String> {
        self.call("IMPORT", &MgmtRequest::Import { blob: blob.to_vec() }, mgmt::decode_uuid)
    }
}
