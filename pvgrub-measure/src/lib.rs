//! pvgrub-measure's image logic, generic over the driver interface (`xen-hv`) so that the host
//! tests run it on the simulated Xen: the guest's disk over blkfront ([`vbd`]), the
//! measurements through tpmfront ([`vtpm`]) and the stage that ties them to `pvgrub-loader`
//! ([`stage`]). The binary (`main.rs`) is the kernel wiring, and on the host the `predict` CLI.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod stage;
pub mod vbd;
pub mod vtpm;
