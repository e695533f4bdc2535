//! Command handlers, one module per area. Each module exports
//! `pub const ORDINALS: &[OrdinalEntry]` (see [`crate::dispatch`]).

pub mod aik;
pub mod audit;
pub mod capability;
pub mod context;
pub mod counter;
pub mod hash;
pub mod identity;
pub mod keys;
pub mod lifecycle;
pub mod maint;
pub mod nv;
pub mod owner;
pub mod pcr;
pub mod physical;
pub mod quote;
pub mod random;
pub mod seal;
pub mod session;
pub mod sign;
pub mod ticks;
pub mod transport;
