//! The vTPM stub domain's logic, host-buildable and host-tested: the command-line options
//! (`options`), the service-time summary (`stats`), the engine's RNG (`rng`) and the blkfront
//! check `disktest=` (`disktest`). The image itself (`main.rs`) is wiring: `image_main!`,
//! `ImageInfo`, and the adapters to the kernel (clock, entropy, console).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod disktest;
pub mod options;
pub mod rng;
pub mod stats;
