//! Unit-test doubles: a [`HardwareTpm`] that answers from a script, and an all-zero RNG.
//! Only built for `cargo test`.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use tpm_frame::Family;

use crate::hardware::HardwareTpm;

/// Answers each command with the next scripted response; records the commands.
pub struct Scripted {
    family: Family,
    answers: VecDeque<Vec<u8>>,
    /// The commands sent so far.
    pub sent: Vec<Vec<u8>>,
}

impl Scripted {
    /// A TPM of `family` that will answer `answers`, in order, then fail.
    pub fn new(family: Family, answers: &[&[u8]]) -> Self {
        Self { family, answers: answers.iter().map(|a| a.to_vec()).collect(), sent: Vec::new() }
    }
}

impl HardwareTpm for Scripted {
    type Error = &'static str;
    fn family(&self) -> Family {
        self.family
    }
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, &'static str> {
        self.sent.push(command.to_vec());
        self.answers.pop_front().ok_or("script exhausted")
    }
}

/// An RNG that returns zeros (tests only).
pub struct ZeroRng;

impl TryRng for ZeroRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(0);
        Ok(())
    }
}

impl TryCryptoRng for ZeroRng {}
