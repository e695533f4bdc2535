//! Pristine swtpm states for the emulated hardware TPM: TPM 1.2 (EK created, enabled,
//! activated, not owned) and TPM 2.0 (`swtpm_setup --tpm2`). A run copies one of them, so
//! every boot starts from the same TPM.

use super::prune;
use crate::hash::Fnv;
use crate::util::{self, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct States {
    pub tpm12: PathBuf,
    pub tpm2: PathBuf,
    pub version: String,
}

pub fn prepare(cache: &Path) -> Result<States> {
    let version =
        util::try_output(Command::new("dpkg-query").args(["-W", "-f=${Version}", "swtpm-tools"])).unwrap_or_default();
    let key = Fnv::new().field("swtpm-v1").field(&version).hex();
    let dir = cache.join(format!("swtpm-{key}"));
    let st = States { tpm12: dir.join("tpm12"), tpm2: dir.join("tpm2"), version };
    if dir.join("done").exists() {
        eprintln!("swtpm: cache hit ({})", dir.display());
        return Ok(st);
    }
    util::remove_tree(&dir)?;
    util::mkdirs(&st.tpm12)?;
    util::mkdirs(&st.tpm2)?;
    // TPM 1.2 is swtpm's default; --createek without --take-ownership leaves it unowned.
    util::run_logged(
        Command::new("swtpm_setup")
            .arg("--tpmstate")
            .arg(&st.tpm12)
            .args(["--createek", "--display", "--logfile"])
            .arg(dir.join("setup-tpm12.log")),
        &dir.join("setup-tpm12.out"),
    )?;
    util::run_logged(
        Command::new("swtpm_setup")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(&st.tpm2)
            .args(["--createek", "--display", "--logfile"])
            .arg(dir.join("setup-tpm2.log")),
        &dir.join("setup-tpm2.out"),
    )?;
    std::fs::write(dir.join("done"), "")?;
    prune(cache, "swtpm-", &dir);
    Ok(st)
}
