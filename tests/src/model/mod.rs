//! Model checking of the split drivers' state machines with their real code on the simulated
//! Xen: [`explore`] is the exhaustive explorer, [`tpmif_link`] the frontend ↔ backend link.
//! What is checked, and to what depth: `docs/model-checking.md`.

pub mod explore;
pub mod tpmif_link;
