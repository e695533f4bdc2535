//! Drivers: no unsafe, generic over the hypervisor traits the kernel implements.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
