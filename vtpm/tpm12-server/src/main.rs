//! `tpm12-server`: the tpm12 engine (or, with `--tpm2`, the tpm20 engine) on 127.0.0.1
//! with swtpm's raw TCP framing.
//!
//! ```text
//! tpm12-server --port <N> --state <file> [--tpm2] [--ctrl <port>]
//!              [--startup clear|state|deactivated|none] [--no-hw-presence] [--maintcmds]
//! tpm12-server --bench [--iterations N] [--swtpm-port P]
//! ```
//!
//! Framing (swtpm `--server type=tcp`): the client writes a TPM command; we read
//! the 10-byte header, then `paramSize - 10` more bytes, execute, and write the
//! response. One connection is served at a time. The TPM starts powered on with
//! TPM_Startup already done (default ST_CLEAR, like swtpm's `startup-clear`).
//! State lives in `<file>`: loaded at start (a missing file manufactures a new
//! TPM with a fresh EK), rewritten atomically (temp file + fsync + rename) after
//! every command that changed permanent or saved state. SIGTERM/SIGINT end the
//! server cleanly after the current command. With `--ctrl <port>` the server also
//! answers swtpm's control channel there (CMD_INIT, CMD_SET_LOCALITY, CMD_SHUTDOWN,
//! CMD_GET_TPMESTABLISHED); tpm2-tss' `swtpm:` TCTI needs it on `port + 1`.
#![forbid(unsafe_code)]

use tpm12_server::{bench, options, serve};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match options::parse(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("tpm12-server: {msg}");
            eprintln!("{}", options::USAGE);
            std::process::exit(2);
        }
    };
    let result = match opts.mode {
        options::Mode::Serve => serve::run(&opts),
        options::Mode::Bench => bench::run(&opts),
    };
    if let Err(msg) = result {
        eprintln!("tpm12-server: {msg}");
        std::process::exit(1);
    }
}
