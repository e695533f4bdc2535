//! x86_64 PV specifics: entry and ELF notes, hypercall stubs, the trap table.

pub mod boot;
pub mod hypercall;
pub mod traps;
