//! x86_64 PV specifics: entry and ELF notes, hypercall stubs, the trap table, and the few CPU
//! instructions used elsewhere (`cpu`).

pub mod boot;
pub mod cpu;
pub mod hypercall;
pub mod traps;
