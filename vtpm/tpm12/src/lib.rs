//! A TPM 1.2 engine (TCG TPM Main Specification 1.2 rev 116, parts 2 and 3):
//! pure, `no_std` + `alloc`, host-testable, no `unsafe`.
//!
//! # Layout
//!
//! - [`constants`]: spec numbers with spec names (`ord::PcrRead`, `Rc::AUTHFAIL`,
//!   `tag::RQU_COMMAND`, `cap::PROP_PCR`, …).
//! - [`codec`]: bounds-checked big-endian [`codec::Reader`] / [`codec::Writer`]; the
//!   request header and response frames over `tpm-frame`, the project's one TPM frame codec.
//! - [`crypto`]: SHA-1, HMAC-SHA1, constant-time compare, [`crypto::Secret`],
//!   [`crypto::RsaKey`] (RustCrypto underneath).
//! - [`platform`]: what the embedder injects — [`platform::TpmRng`] (the only
//!   entropy source) and [`platform::Clock`] (ticks).
//! - [`state`]: permanent / volatile / saved state kept apart, the live tables
//!   (sessions, loaded keys, DA state), and the versioned image format ([`state::image`]).
//! - [`tpm`]: the [`Tpm`] object and its public API; [`manufacture`]: a fresh
//!   TPM with its EK.
//! - [`frame`]: the handler vocabulary (handler type, ordinal rows and their bits,
//!   [`frame::Command`], [`frame::Response`], error responses) under both
//!   `dispatch` and `cmd`.
//! - [`auth`]: HMAC checks, OSAP entity binding, ADIP, response authorization, DA
//!   counting — infrastructure the handlers call.
//! - [`dispatch`]: header checks, ordinal table, state gating, response assembly;
//!   above `cmd` (only `cmd::capability` asks it back, for TPM_CAP_ORD).
//! - [`cmd`]: one module per command area; each exports `ORDINALS`.
//!
//! # Handler conventions
//!
//! A handler is `fn(&mut Tpm, &mut Command, &mut Response) -> Result<(), Rc>`
//! and is listed in its module's `ORDINALS` with the tags it accepts, the number
//! of input handles (excluded from the inParamDigest) and its state checks.
//! Before it runs, the dispatcher has checked the header (paramSize = length,
//! ≤ 4088 bytes), the tag, postinit / self-test / disabled / deactivated / owner
//! state and DA lockout, and has split the auth trailers off into `cmd.auth`.
//!
//! 1. Read handles then parameters from `cmd.params` (every read is checked);
//!    finish with `cmd.params.finish()?` so trailing bytes are `TPM_BAD_PARAM_SIZE`.
//! 2. Authorize: for each trailer `i` call `auth::check(tpm, cmd, i,
//!    entity, &secret)` (or `check_owner`) — after parsing, since the HMAC covers
//!    `cmd.in_param_digest()`. New secrets arrive ADIP-encrypted: use
//!    `auth::decrypt_adip`.
//! 3. Act, then write output handles to `resp.handles` and output parameters to
//!    `resp.params`. Do not write auth trailers: the dispatcher asks
//!    `auth::finish_response` for them; on `Err(rc)` it sends a 10-byte
//!    error with the matching response tag and calls `auth::on_error`.
//! 4. If permanent data changed, call `tpm.mark_state_changed()`.
//!
//! Unimplemented ordinals have rows flagged `flags::STUB` and answer
//! `TPM_BAD_ORDINAL`; maintenance rows (`flags::MAINT`) exist only with the
//! `maintcmds` option.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod auth;
pub mod cmd;
pub mod codec;
pub mod constants;
pub mod crypto;
pub mod dispatch;
pub mod frame;
pub mod manufacture;
pub mod platform;
pub mod state;
pub mod tpm;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use constants::rc::Rc;
pub use platform::{Clock, TpmRng};
pub use rand_core;
pub use rsa;
pub use state::image::ImageError;
pub use tpm::{Tpm, TpmOptions};

#[cfg(test)]
mod tests;
