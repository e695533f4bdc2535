//! The mini-OS kernel for Xen PV stub domains. Platform code only builds for
//! `target_os = "none"`; pure modules are tested on the host.
#![cfg_attr(target_os = "none", no_std)]
