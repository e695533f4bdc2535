//! Host integration tests: a simulated Xen ([`simxen`]), models of the peers our drivers meet
//! in real life (Linux xen-tpmfront, a fake TPM 1.2), and the scenarios in `tests/tests/`.
#![forbid(unsafe_code)]

pub mod fake_tpm;
pub mod linux_tpmfront;
pub mod log_capture;
pub mod model;
pub mod raw_front;
pub mod shared_disk;
pub mod sim_manager;
pub mod simxen;
pub mod vtpm_sim;
