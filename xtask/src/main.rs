//! `cargo xtask …`: the project's build, test-bed, end-to-end, demo and test commands.
//!
//! Host-only tool, std only (it must compile in seconds). See `usage()`.
#![forbid(unsafe_code)]

mod apt;
mod bench;
mod bench_pvgrub;
mod build;
mod cpio;
mod e2e;
mod elf_needed;
mod hash;
mod paths;
mod qemu;
mod test_cmd;
mod testbed;
mod util;

use util::Result;

fn usage() -> &'static str {
    "usage: cargo xtask <command>\n\
     \n\
     commands:\n\
     \x20 build                 release-build vtpm, vtpmmgr, pvgrub-measure into out/images/ (ELF + .gz)\n\
     \x20 testbed               prepare the cached Xen test bed (~/.cache/xen-vtpm-rs; first run ~2-7 min, root)\n\
     \x20 e2e [scenario…]       boot Xen + dom0 in QEMU and run scenarios (default: boot selftest\n\
     \x20                       tis blkfront vtpm; also: domu disk, all; dom0tpm, not with boot/tis); options: --tpm2 --no-tpm --show-consoles --no-build\n\
     \x20 demo                  the test bed booting vtpmmgr then vtpm, consoles shown live\n\
     \x20 test [scenario…]      cargo test --workspace, build, e2e; summary at the end\n\
     \x20 bench [--iterations N]  tpm12 engine latency per command beside libtpms (swtpm), as a table\n\
     \x20 bench pvgrub            pvgrub-measure's loader work on the host (predict --disk on the pvboot disk)\n\
     \n\
     Logs of e2e/demo: out/e2e/serial.log, out/e2e/<scenario>.log, out/e2e/console/<domain>.log\n"
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    let r: Result<()> = match args.first().map(String::as_str) {
        Some("build") => build::cmd(),
        Some("testbed") => testbed::cmd(),
        Some("e2e") => e2e::cmd(rest),
        Some("demo") => e2e::demo(rest),
        Some("test") => test_cmd::cmd(rest),
        Some("bench") => bench::cmd(rest),
        Some("help" | "-h" | "--help") => {
            print!("{}", usage());
            Ok(())
        }
        _ => {
            eprint!("{}", usage());
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("xtask: error: {e}");
        std::process::exit(1);
    }
}
