//! `TPM_RC` response codes (Part 2 §6.6) and the format-1 numbering that says which
//! parameter, handle or session a code is about (`TPM_RC_P`, `TPM_RC_S`, `TPM_RC_1`…).

/// A TPM 2.0 response code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rc(pub u32);

#[allow(missing_docs)]
impl Rc {
    pub const SUCCESS: Rc = Rc(0x000);
    pub const BAD_TAG: Rc = Rc(0x01E);
    // format 0 (RC_VER1 = 0x100)
    pub const INITIALIZE: Rc = Rc(0x100);
    pub const FAILURE: Rc = Rc(0x101);
    pub const SEQUENCE: Rc = Rc(0x103);
    pub const AUTH_TYPE: Rc = Rc(0x124);
    pub const AUTH_MISSING: Rc = Rc(0x125);
    pub const POLICY: Rc = Rc(0x126);
    pub const PCR_CHANGED: Rc = Rc(0x128);
    pub const AUTH_UNAVAILABLE: Rc = Rc(0x12F);
    pub const NV_SPACE: Rc = Rc(0x14B);
    pub const NV_DEFINED: Rc = Rc(0x14C);
    pub const COMMAND_SIZE: Rc = Rc(0x142);
    pub const COMMAND_CODE: Rc = Rc(0x143);
    pub const AUTHSIZE: Rc = Rc(0x144);
    pub const AUTH_CONTEXT: Rc = Rc(0x145);
    pub const NEEDS_TEST: Rc = Rc(0x153);
    pub const SENSITIVE: Rc = Rc(0x155);
    pub const NO_RESULT: Rc = Rc(0x154);
    pub const NV_RANGE: Rc = Rc(0x146);
    pub const NV_SIZE: Rc = Rc(0x147);
    pub const NV_LOCKED: Rc = Rc(0x148);
    pub const NV_AUTHORIZATION: Rc = Rc(0x149);
    pub const NV_UNINITIALIZED: Rc = Rc(0x14A);
    // format 1 (RC_FMT1 = 0x080)
    pub const ATTRIBUTES: Rc = Rc(0x082);
    pub const HASH: Rc = Rc(0x083);
    pub const VALUE: Rc = Rc(0x084);
    pub const HIERARCHY: Rc = Rc(0x085);
    pub const KEY_SIZE: Rc = Rc(0x087);
    pub const MODE: Rc = Rc(0x089);
    pub const TYPE: Rc = Rc(0x08A);
    pub const HANDLE: Rc = Rc(0x08B);
    pub const RANGE: Rc = Rc(0x08D);
    pub const KDF: Rc = Rc(0x08C);
    pub const SCHEME: Rc = Rc(0x092);
    pub const NONCE: Rc = Rc(0x08F);
    pub const SIZE: Rc = Rc(0x095);
    pub const SYMMETRIC: Rc = Rc(0x096);
    pub const INSUFFICIENT: Rc = Rc(0x09A);
    pub const KEY: Rc = Rc(0x09C);
    pub const POLICY_FAIL: Rc = Rc(0x09D);
    pub const INTEGRITY: Rc = Rc(0x09F);
    pub const RESERVED_BITS: Rc = Rc(0x0A1);
    pub const BAD_AUTH: Rc = Rc(0x0A2);
    pub const POLICY_CC: Rc = Rc(0x0A4);
    pub const BINDING: Rc = Rc(0x0A5);
    pub const CURVE: Rc = Rc(0x0A6);
    pub const ECC_POINT: Rc = Rc(0x0A7);
    pub const AUTH_FAIL: Rc = Rc(0x08E);
    pub const PP: Rc = Rc(0x090);
    pub const SIGNATURE: Rc = Rc(0x09B);
    pub const TICKET: Rc = Rc(0x0A0);
    pub const TAG: Rc = Rc(0x097);
    // warnings (RC_WARN = 0x900)
    pub const CONTEXT_GAP: Rc = Rc(0x901);
    pub const OBJECT_MEMORY: Rc = Rc(0x902);
    pub const SESSION_MEMORY: Rc = Rc(0x903);
    pub const SESSION_HANDLES: Rc = Rc(0x905);
    pub const LOCALITY: Rc = Rc(0x907);
    pub const LOCKOUT: Rc = Rc(0x921);
    pub const REFERENCE_H0: Rc = Rc(0x910);
    pub const REFERENCE_S0: Rc = Rc(0x918);
}

/// `TPM_RC_P`: the format-1 code is about a parameter.
const RC_P: u32 = 0x040;
/// `TPM_RC_S`: the format-1 code is about a session.
const RC_S: u32 = 0x800;
/// `RC_FMT1`.
const RC_FMT1: u32 = 0x080;

impl Rc {
    /// Whether this is a format-1 code (it can carry a parameter/handle/session number).
    pub const fn is_format1(self) -> bool {
        self.0 & RC_FMT1 != 0
    }

    /// Whether the code already carries a number.
    const fn numbered(self) -> bool {
        self.0 & 0xF40 != 0
    }

    /// The code about parameter `n` (1-based, `TPM_RC_P + TPM_RC_n`); other codes unchanged.
    pub const fn param(self, n: u32) -> Rc {
        if self.is_format1() && !self.numbered() { Rc(self.0 | RC_P | ((n & 0xF) << 8)) } else { self }
    }

    /// The code about handle `n` (1..=7, `TPM_RC_H + TPM_RC_n`); other codes unchanged.
    pub const fn handle(self, n: u32) -> Rc {
        if self.is_format1() && !self.numbered() { Rc(self.0 | ((n & 0x7) << 8)) } else { self }
    }

    /// The code about session `n` (1..=7, `TPM_RC_S + TPM_RC_n`); other codes unchanged.
    pub const fn session(self, n: u32) -> Rc {
        if self.is_format1() && !self.numbered() { Rc(self.0 | RC_S | ((n & 0x7) << 8)) } else { self }
    }
}

/// `.p(n)` / `.h(n)` / `.s(n)` on a result: number its format-1 error.
pub trait At<T> {
    /// The error, about parameter `n`.
    fn p(self, n: u32) -> Result<T, Rc>;
    /// The error, about handle `n`.
    fn h(self, n: u32) -> Result<T, Rc>;
    /// The error, about session `n`.
    fn s(self, n: u32) -> Result<T, Rc>;
}

impl<T> At<T> for Result<T, Rc> {
    fn p(self, n: u32) -> Result<T, Rc> {
        self.map_err(|e| e.param(n))
    }
    fn h(self, n: u32) -> Result<T, Rc> {
        self.map_err(|e| e.handle(n))
    }
    fn s(self, n: u32) -> Result<T, Rc> {
        self.map_err(|e| e.session(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering() {
        assert_eq!(Rc::VALUE.param(1), Rc(0x1C4));
        assert_eq!(Rc::VALUE.handle(1), Rc(0x184));
        assert_eq!(Rc::BAD_AUTH.session(1), Rc(0x9A2));
        assert_eq!(Rc::INSUFFICIENT.param(2), Rc(0x2DA));
        // format 0 and warnings are never numbered, nor numbered twice
        assert_eq!(Rc::INITIALIZE.param(1), Rc::INITIALIZE);
        assert_eq!(Rc::LOCALITY.param(1), Rc::LOCALITY);
        assert_eq!(Rc::VALUE.param(1).param(2), Rc(0x1C4));
    }
}
