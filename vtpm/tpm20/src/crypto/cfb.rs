//! AES in CFB mode with full-block (128-bit) feedback (SP 800-38A §6.3), the TPM's mode for
//! the symmetric protection of private areas and saved contexts. The last block may be
//! partial.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};

/// Why a CFB operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadKey;

fn run(c: &impl Fn(&mut aes::Block), iv: &[u8; 16], data: &mut [u8], encrypt: bool) {
    let mut feedback = *iv;
    for chunk in data.chunks_mut(16) {
        let mut block = aes::Block::from(feedback);
        c(&mut block);
        let mut next = [0u8; 16];
        for (i, b) in chunk.iter_mut().enumerate() {
            let input = *b;
            *b ^= block[i];
            next[i] = if encrypt { *b } else { input };
        }
        feedback = next;
    }
}

fn with_key(key: &[u8], iv: &[u8; 16], data: &mut [u8], encrypt: bool) -> Result<(), BadKey> {
    match key.len() {
        16 => {
            let k = Aes128::new_from_slice(key).map_err(|_| BadKey)?;
            run(&|b: &mut aes::Block| k.encrypt_block(b), iv, data, encrypt)
        }
        24 => {
            let k = Aes192::new_from_slice(key).map_err(|_| BadKey)?;
            run(&|b: &mut aes::Block| k.encrypt_block(b), iv, data, encrypt)
        }
        32 => {
            let k = Aes256::new_from_slice(key).map_err(|_| BadKey)?;
            run(&|b: &mut aes::Block| k.encrypt_block(b), iv, data, encrypt)
        }
        _ => return Err(BadKey),
    }
    Ok(())
}

/// Encrypts `data` in place with AES-CFB under `key` (16, 24 or 32 bytes) from `iv`.
pub fn encrypt(key: &[u8], iv: &[u8; 16], data: &mut [u8]) -> Result<(), BadKey> {
    with_key(key, iv, data, true)
}

/// Decrypts `data` in place.
pub fn decrypt(key: &[u8], iv: &[u8; 16], data: &mut [u8]) -> Result<(), BadKey> {
    with_key(key, iv, data, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sp800_38a_cfb128_aes128() {
        // SP 800-38A F.3.13, first two blocks
        let key = [0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c];
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let plain = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a, 0xae, 0x2d,
            0x8a, 0x57, 0x1e, 0x03, 0xac, 0x9c, 0x9e, 0xb7, 0x6f, 0xac, 0x45, 0xaf, 0x8e, 0x51,
        ];
        let mut data = plain;
        encrypt(&key, &iv, &mut data).expect("key");
        assert_eq!(data[..4], [0x3b, 0x3f, 0xd9, 0x2e]);
        assert_eq!(data[16..20], [0xc8, 0xa6, 0x45, 0x37]);
        decrypt(&key, &iv, &mut data).expect("key");
        assert_eq!(data, plain);
        // partial last block
        let mut short = plain[..20].to_vec();
        encrypt(&key, &iv, &mut short).expect("key");
        decrypt(&key, &iv, &mut short).expect("key");
        assert_eq!(short, plain[..20]);
        assert_eq!(encrypt(&key[..5], &iv, &mut short), Err(BadKey));
    }
}
