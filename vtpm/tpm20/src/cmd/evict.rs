//! TPM2_EvictControl (Part 3 §28.5): makes a transient object persistent (a copy at a
//! handle 0x81xxxxxx kept in the state image) or evicts a persistent one. The owner
//! persists objects of the storage and endorsement hierarchies at 0x81000000–0x817FFFFF;
//! the platform any at 0x81800000–0x81FFFFFF.

use crate::cmd::{Command, Response};
use crate::constants::{MAX_PERSISTENT, ht, rh};
use crate::object::public::attr;
use crate::rc::{At, Rc};
use crate::tpm::Tpm;

/// The first platform persistent handle.
const PLATFORM_PERSISTENT: u32 = 0x8180_0000;

/// TPM2_EvictControl(auth, objectHandle, persistentHandle).
pub fn evict_control(tpm: &mut Tpm, c: &mut Command<'_>, _resp: &mut Response) -> Result<(), Rc> {
    let (auth, object) = (c.handles[0], c.handles[1]);
    let persistent = c.params.u32().p(1)?;
    if (persistent >> 24) as u8 != ht::PERSISTENT {
        return Err(Rc::VALUE.param(1));
    }
    c.finish()?;
    let obj = tpm.object(object).ok_or(Rc::HANDLE.handle(2))?.clone();
    // the owner may not touch what the platform owns
    if auth == rh::OWNER && obj.hierarchy == rh::PLATFORM {
        return Err(Rc::HIERARCHY.handle(2));
    }
    let in_range =
        if auth == rh::PLATFORM { persistent >= PLATFORM_PERSISTENT } else { persistent < PLATFORM_PERSISTENT };
    if (object >> 24) as u8 == ht::PERSISTENT {
        if persistent != object {
            return Err(Rc::HANDLE.handle(2));
        }
        if !in_range {
            return Err(Rc::RANGE.param(1));
        }
        tpm.perm.persistent.remove(&object);
    } else {
        if obj.hierarchy == rh::NULL {
            return Err(Rc::HIERARCHY.handle(2));
        }
        if obj.public.has(attr::ST_CLEAR) {
            return Err(Rc::ATTRIBUTES.handle(2));
        }
        if !in_range {
            return Err(Rc::RANGE.param(1));
        }
        if tpm.perm.persistent.contains_key(&persistent) {
            return Err(Rc::NV_DEFINED);
        }
        if tpm.perm.persistent.len() >= MAX_PERSISTENT {
            return Err(Rc::NV_SPACE);
        }
        tpm.perm.persistent.insert(persistent, obj);
    }
    tpm.mark_state_changed();
    Ok(())
}
