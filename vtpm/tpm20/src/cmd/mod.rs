//! The command table and the handler vocabulary. One module per command family; each
//! handler is `fn(&mut Tpm, &mut Command, &mut Response) -> Result<(), Rc>`.
//!
//! Before a handler runs, the dispatcher has checked the header, the startup and
//! failure-mode gates, read and type-checked the handles (`Command::handles`) and checked
//! the authorization sessions. A handler reads its parameters from `Command::params`
//! (numbering errors with `.p(n)`), calls [`Command::finish`] before it changes anything
//! (so trailing bytes are `TPM_RC_SIZE` and nothing happened), acts, and writes its
//! response handles and parameters. A change to permanent or saved state calls
//! `tpm.mark_state_changed()`.

use alloc::vec::Vec;

use crate::codec::{Reader, Writer};
use crate::constants::{cc, rh};
use crate::rc::Rc;
use crate::tpm::Tpm;

pub mod asym;
pub mod capability;
pub mod clock;
pub mod context;
pub mod evict;
pub mod hierarchy;
pub mod nv;
pub mod object;
pub mod pcr;
pub mod policy;
pub mod random;
pub mod session;
pub mod signature;
pub mod startup;
pub mod testing;

/// A parsed command as a handler sees it.
pub struct Command<'a> {
    /// The command code.
    pub code: u32,
    /// The locality it runs at.
    pub locality: u8,
    /// The handle area, checked against the row's [`HandleKind`]s.
    pub handles: Vec<u32>,
    /// The parameter area.
    pub params: Reader<'a>,
}

impl Command<'_> {
    /// Refuses trailing parameter bytes (`TPM_RC_SIZE`).
    pub fn finish(&self) -> Result<(), Rc> {
        if self.params.remaining() == 0 { Ok(()) } else { Err(Rc::SIZE) }
    }
}

/// What a handler answers.
#[derive(Default)]
pub struct Response {
    /// The response handle area.
    pub handles: Vec<u32>,
    /// The response parameters.
    pub params: Writer,
}

/// A handler.
pub type Handler = fn(&mut Tpm, &mut Command<'_>, &mut Response) -> Result<(), Rc>;

/// What a handle slot accepts (its interface type in Part 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleKind {
    /// `TPMI_DH_PCR` (`null`: `+` TPM_RH_NULL allowed).
    Pcr {
        /// TPM_RH_NULL is accepted.
        null: bool,
    },
    /// `TPMI_DH_CONTEXT`: an HMAC or policy session or a transient object.
    Context,
    /// `TPMI_DH_OBJECT`: a loaded transient or persistent object.
    Object,
    /// `TPMI_DH_OBJECT` authorized in the ADMIN role (adminWithPolicy decides).
    ObjectAdmin,
    /// `TPMI_DH_OBJECT+`: a loaded object or TPM_RH_NULL (StartAuthSession's tpmKey).
    ObjectOrNull,
    /// `TPMI_DH_ENTITY+`: a hierarchy, a PCR, a loaded object or TPM_RH_NULL (bind).
    Entity,
    /// `TPMI_SH_POLICY`: a loaded policy session.
    PolicySession,
    /// A permanent hierarchy handle, one of the list (`TPMI_RH_HIERARCHY_AUTH`, `TPMI_RH_CLEAR`).
    Hierarchy(&'static [u32]),
    /// `TPMI_RH_NV_AUTH`: TPM_RH_OWNER, TPM_RH_PLATFORM or a defined NV index, authorizing
    /// a read (`write` false: AUTHREAD / POLICYREAD) or a write of the index.
    NvAuth {
        /// A write command (AUTHWRITE / POLICYWRITE).
        write: bool,
    },
    /// `TPMI_RH_NV_INDEX`: a defined NV index.
    NvIndex,
    /// A defined NV index in the ADMIN role (a policy session only).
    NvAdmin,
}

/// One implemented command.
pub struct CommandRow {
    /// TPM_CC.
    pub cc: u32,
    /// The handle area (`cHandles`).
    pub handles: &'static [HandleKind],
    /// How many of the first handles need authorization (USER role).
    pub auth_handles: usize,
    /// The response has a handle (`rHandle`).
    pub r_handle: bool,
    /// It may write NV (`nv`).
    pub nv: bool,
    /// It may flush many objects (`extensive`).
    pub extensive: bool,
    /// It flushes transient objects it uses (`flushed`).
    pub flushed: bool,
    /// The handler.
    pub handler: Handler,
}

impl CommandRow {
    /// Its `TPMA_CC` (Part 2 §8.9): commandIndex, nv, extensive, flushed, cHandles, rHandle.
    pub const fn attributes(&self) -> u32 {
        (self.cc & 0xFFFF)
            | (self.nv as u32) << 22
            | (self.extensive as u32) << 23
            | (self.flushed as u32) << 24
            | (self.handles.len() as u32 & 7) << 25
            | (self.r_handle as u32) << 28
    }
}

const PCR: HandleKind = HandleKind::Pcr { null: false };
/// `TPMI_RH_HIERARCHY_AUTH`.
const HIERARCHY_AUTH: HandleKind = HandleKind::Hierarchy(&[rh::LOCKOUT, rh::ENDORSEMENT, rh::OWNER, rh::PLATFORM]);
/// `TPMI_RH_CLEAR`.
const RH_CLEAR: HandleKind = HandleKind::Hierarchy(&[rh::LOCKOUT, rh::PLATFORM]);
const PCR_OR_NULL: HandleKind = HandleKind::Pcr { null: true };
/// `TPMI_RH_HIERARCHY+`.
const HIERARCHY_PLUS: HandleKind = HandleKind::Hierarchy(&[rh::OWNER, rh::ENDORSEMENT, rh::PLATFORM, rh::NULL]);
const OBJECT: HandleKind = HandleKind::Object;
const POLICY: HandleKind = HandleKind::PolicySession;
const OBJECT_ADMIN: HandleKind = HandleKind::ObjectAdmin;

const fn row(cc: u32, handles: &'static [HandleKind], auth_handles: usize, nv: bool, handler: Handler) -> CommandRow {
    CommandRow { cc, handles, auth_handles, r_handle: false, nv, extensive: false, flushed: false, handler }
}

/// `TPMI_RH_PROVISION`.
const PROVISION: HandleKind = HandleKind::Hierarchy(&[rh::OWNER, rh::PLATFORM]);
const NV_READ: HandleKind = HandleKind::NvAuth { write: false };
const NV_WRITE: HandleKind = HandleKind::NvAuth { write: true };
const NV_INDEX: HandleKind = HandleKind::NvIndex;

/// Every implemented command, ascending by code. TPM_CAP_COMMANDS and TPM_PT_TOTAL_COMMANDS
/// are read from here, so they list exactly what the dispatcher runs; every other code is
/// `TPM_RC_COMMAND_CODE`.
pub static COMMANDS: &[CommandRow] = &[
    row(
        cc::NV_UNDEFINE_SPACE_SPECIAL,
        &[HandleKind::NvAdmin, HandleKind::Hierarchy(&[rh::PLATFORM])],
        2,
        true,
        nv::nv_undefine_space_special,
    ),
    row(cc::EVICT_CONTROL, &[PROVISION, OBJECT], 1, true, evict::evict_control),
    row(cc::NV_UNDEFINE_SPACE, &[PROVISION, NV_INDEX], 1, true, nv::nv_undefine_space),
    CommandRow { extensive: true, ..row(cc::CLEAR, &[RH_CLEAR], 1, true, hierarchy::clear) },
    row(cc::HIERARCHY_CHANGE_AUTH, &[HIERARCHY_AUTH], 1, true, hierarchy::hierarchy_change_auth),
    row(cc::NV_DEFINE_SPACE, &[PROVISION], 1, true, nv::nv_define_space),
    CommandRow { r_handle: true, ..row(cc::CREATE_PRIMARY, &[HIERARCHY_PLUS], 1, false, object::create_primary) },
    row(cc::NV_GLOBAL_WRITE_LOCK, &[PROVISION], 1, true, nv::nv_global_write_lock),
    row(cc::NV_INCREMENT, &[NV_WRITE, NV_INDEX], 1, true, nv::nv_increment),
    row(cc::NV_SET_BITS, &[NV_WRITE, NV_INDEX], 1, true, nv::nv_set_bits),
    row(cc::NV_EXTEND, &[NV_WRITE, NV_INDEX], 1, true, nv::nv_extend),
    row(cc::NV_WRITE, &[NV_WRITE, NV_INDEX], 1, true, nv::nv_write),
    row(cc::NV_WRITE_LOCK, &[NV_WRITE, NV_INDEX], 1, true, nv::nv_write_lock),
    row(cc::NV_CHANGE_AUTH, &[HandleKind::NvAdmin], 1, true, nv::nv_change_auth),
    row(cc::PCR_RESET, &[PCR], 1, true, pcr::pcr_reset),
    row(cc::INCREMENTAL_SELF_TEST, &[], 0, true, testing::incremental_self_test),
    row(cc::SELF_TEST, &[], 0, true, testing::self_test),
    row(cc::STARTUP, &[], 0, true, startup::startup),
    row(cc::SHUTDOWN, &[], 0, true, startup::shutdown),
    row(cc::STIR_RANDOM, &[], 0, true, random::stir_random),
    row(cc::NV_READ, &[NV_READ, NV_INDEX], 1, false, nv::nv_read),
    row(cc::NV_READ_LOCK, &[NV_READ, NV_INDEX], 1, true, nv::nv_read_lock),
    row(cc::OBJECT_CHANGE_AUTH, &[OBJECT_ADMIN, OBJECT], 1, false, object::object_change_auth),
    row(cc::CREATE, &[OBJECT], 1, false, object::create),
    CommandRow { r_handle: true, ..row(cc::LOAD, &[OBJECT], 1, false, object::load) },
    row(cc::RSA_DECRYPT, &[OBJECT], 1, false, asym::rsa_decrypt),
    row(cc::SIGN, &[OBJECT], 1, false, signature::sign),
    row(cc::UNSEAL, &[OBJECT], 1, false, object::unseal),
    CommandRow { r_handle: true, ..row(cc::CONTEXT_LOAD, &[], 0, false, context::context_load) },
    row(cc::CONTEXT_SAVE, &[HandleKind::Context], 0, false, context::context_save),
    row(cc::FLUSH_CONTEXT, &[], 0, false, context::flush_context),
    row(cc::NV_READ_PUBLIC, &[NV_INDEX], 0, false, nv::nv_read_public),
    row(cc::POLICY_AUTH_VALUE, &[POLICY], 0, false, policy::policy_auth_value),
    row(cc::POLICY_COMMAND_CODE, &[POLICY], 0, false, policy::policy_command_code),
    row(cc::READ_PUBLIC, &[OBJECT], 0, false, object::read_public),
    row(cc::RSA_ENCRYPT, &[OBJECT], 0, false, asym::rsa_encrypt),
    CommandRow {
        r_handle: true,
        ..row(
            cc::START_AUTH_SESSION,
            &[HandleKind::ObjectOrNull, HandleKind::Entity],
            0,
            false,
            session::start_auth_session,
        )
    },
    row(cc::VERIFY_SIGNATURE, &[OBJECT], 0, false, signature::verify_signature),
    row(cc::GET_CAPABILITY, &[], 0, false, capability::get_capability),
    row(cc::GET_RANDOM, &[], 0, false, random::get_random),
    row(cc::GET_TEST_RESULT, &[], 0, false, testing::get_test_result),
    row(cc::PCR_READ, &[], 0, false, pcr::pcr_read),
    row(cc::POLICY_PCR, &[POLICY], 0, false, policy::policy_pcr),
    row(cc::POLICY_RESTART, &[POLICY], 0, false, policy::policy_restart),
    row(cc::READ_CLOCK, &[], 0, false, clock::read_clock),
    row(cc::PCR_EXTEND, &[PCR_OR_NULL], 1, false, pcr::pcr_extend),
    row(cc::POLICY_GET_DIGEST, &[POLICY], 0, false, policy::policy_get_digest),
    row(cc::POLICY_PASSWORD, &[POLICY], 0, false, policy::policy_password),
];

/// Whether the command's first parameter is a sized buffer a decrypt session may encrypt
/// (Part 1 §21).
pub const fn first_param_encryptable(code: u32) -> bool {
    matches!(
        code,
        cc::CREATE_PRIMARY
            | cc::CREATE
            | cc::LOAD
            | cc::HIERARCHY_CHANGE_AUTH
            | cc::OBJECT_CHANGE_AUTH
            | cc::STIR_RANDOM
            | cc::POLICY_PCR
            | cc::START_AUTH_SESSION
            | cc::RSA_ENCRYPT
            | cc::RSA_DECRYPT
            | cc::SIGN
            | cc::VERIFY_SIGNATURE
            | cc::NV_DEFINE_SPACE
            | cc::NV_WRITE
            | cc::NV_EXTEND
            | cc::NV_CHANGE_AUTH
    )
}

/// Whether the response's first parameter is a sized buffer an encrypt session encrypts.
pub const fn first_response_encryptable(code: u32) -> bool {
    matches!(
        code,
        cc::CREATE_PRIMARY
            | cc::CREATE
            | cc::LOAD
            | cc::OBJECT_CHANGE_AUTH
            | cc::UNSEAL
            | cc::READ_PUBLIC
            | cc::GET_RANDOM
            | cc::POLICY_GET_DIGEST
            | cc::START_AUTH_SESSION
            | cc::RSA_ENCRYPT
            | cc::RSA_DECRYPT
            | cc::NV_READ
            | cc::NV_READ_PUBLIC
    )
}

/// The row of `code`.
pub fn find(code: u32) -> Option<&'static CommandRow> {
    COMMANDS.binary_search_by_key(&code, |r| r.cc).ok().map(|i| &COMMANDS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_attributes_encode() {
        assert!(COMMANDS.windows(2).all(|w| w[0].cc < w[1].cc));
        assert_eq!(find(cc::PCR_EXTEND).map(CommandRow::attributes), Some(0x0200_0182));
        assert_eq!(find(cc::STARTUP).map(CommandRow::attributes), Some(0x0040_0144));
        assert_eq!(find(cc::CONTEXT_LOAD).map(CommandRow::attributes), Some(0x1000_0161));
        assert!(find(cc::CREATE_PRIMARY).is_some_and(|r| r.attributes() == 0x1200_0131));
        assert!(find(cc::HASH).is_none());
    }
}
