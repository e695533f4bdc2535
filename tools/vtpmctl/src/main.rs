//! `vtpmctl`: the command line over [`vtpmctl::run`] with the real dom0 host.
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let state_dir = std::env::var_os("VTPMCTL_STATE_DIR").map(std::path::PathBuf::from);
    let mut host = vtpmctl::host::RealHost::new();
    let code = vtpmctl::run(&args, state_dir, &mut host, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}
