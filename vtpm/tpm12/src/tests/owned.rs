//! Fixtures for the authorization, key and data tests: an owned TPM (taken
//! once per process and restored from its image, since SRK generation is slow
//! in debug builds), key templates, and small command helpers over
//! [`crate::testing::client::Client`].

use alloc::vec::Vec;
use std::sync::OnceLock;

use crate::codec::Writer;
use crate::constants::{alg, et, kh, ord, st, tag};
use crate::crypto::Digest;
use crate::platform::ManualClock;
use crate::testing::DetRng;
use crate::testing::client::{Client, Reply, Session};
use crate::{Tpm, TpmOptions};

/// Owner secret of [`owned`].
pub const OWNER: Digest = [0x11; 20];
/// SRK secret of [`owned`].
pub const SRK: Digest = [0x22; 20];
/// Usage secret of test keys.
pub const KEY_AUTH: Digest = [0x33; 20];

fn owned_image() -> &'static Vec<u8> {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    IMG.get_or_init(|| {
        let mut t = super::started();
        let r = Client::new(|c| t.execute(0, c), 99).take_ownership(OWNER, SRK).expect("take ownership");
        assert_eq!(r.rc, 0);
        t.save_image().to_vec()
    })
}

/// A started TPM with an owner ([`OWNER`]) and an SRK ([`SRK`]).
pub fn owned() -> Tpm {
    owned_with(TpmOptions::default())
}

/// [`owned`] with options.
pub fn owned_with(options: TpmOptions) -> Tpm {
    let mut t = Tpm::from_image(
        owned_image(),
        alloc::boxed::Box::new(DetRng::new(5)),
        alloc::boxed::Box::new(ManualClock(0)),
        options,
    )
    .expect("image");
    let r = t.execute(0, &crate::testing::request(tag::RQU_COMMAND, ord::Startup, &st::CLEAR.to_be_bytes()));
    assert_eq!(crate::testing::response_rc(&r), 0);
    t
}

/// A client over `t` at locality 0.
pub fn client(t: &mut Tpm) -> Client<'_> {
    Client::new(move |c| t.execute(0, c), 3)
}

/// A client over `t` at `locality`.
pub fn client_at(t: &mut Tpm, locality: u8) -> Client<'_> {
    Client::new(move |c| t.execute(locality, c), 4)
}

/// A `TPM_KEY` (or `TPM_KEY12`) template.
pub fn template(usage: u16, es: u16, ss: u16, bits: u32, flags: u32, key12: bool, pcr_info: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    if key12 {
        w.u16(tag::KEY12).u16(0);
    } else {
        w.bytes(&[1, 1, 0, 0]);
    }
    w.u16(usage).u32(flags).u8(1);
    w.u32(alg::RSA).u16(es).u16(ss).u32(12).u32(bits).u32(2).u32(0);
    w.sized32(pcr_info).u32(0).u32(0);
    w.into_vec()
}

/// The OSAP entity for a key handle.
pub fn key_entity(h: u32) -> (u16, u32) {
    if h == kh::SRK { (et::SRK, kh::SRK) } else { (et::KEYHANDLE, h) }
}

/// TPM_CreateWrapKey of `template` under `parent` with usage secret [`KEY_AUTH`].
pub fn create_key(c: &mut Client<'_>, parent: u32, parent_auth: Digest, template: &[u8]) -> Reply {
    let (e, v) = key_entity(parent);
    let mut s = c.osap(e, v, parent_auth).expect("osap");
    let enc = Client::adip(&s, &KEY_AUTH);
    let mut p = Writer::new();
    p.bytes(&enc).bytes(&[0; 20]).bytes(template);
    c.auth(ord::CreateWrapKey, &[parent], p.as_slice(), &mut [&mut s], 0).expect("create")
}

/// Creates and loads a key under the SRK; returns (handle, wrapped blob).
pub fn load_new_key(c: &mut Client<'_>, template: &[u8]) -> (u32, Vec<u8>) {
    let r = create_key(c, kh::SRK, SRK, template);
    assert_eq!(r.rc, 0, "CreateWrapKey");
    let (h, l) = c.load_key2(kh::SRK, SRK, &r.body).expect("load");
    assert_eq!(l.rc, 0, "LoadKey2");
    (h, r.body)
}

/// An OIAP session keyed with `secret`, kept open across commands.
pub fn oiap_keep(c: &mut Client<'_>, secret: Digest) -> Session {
    let mut s = c.oiap(secret).expect("oiap");
    s.keep = true;
    s
}

/// The RSA modulus in a `TPM_KEY`/`TPM_KEY12` or `TPM_PUBKEY` body.
pub fn modulus_of_key(blob: &[u8]) -> Vec<u8> {
    let k = crate::cmd::keys::blob::TpmKey::from_bytes(blob).expect("key");
    k.pub_key
}

/// A public key from a modulus.
pub fn public(modulus: &[u8]) -> rsa::RsaPublicKey {
    crate::crypto::RsaKey::from_public(modulus, &[]).expect("pub").public
}
