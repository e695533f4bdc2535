//! `vtpmctl hvm NAME`: what an HVM guest needs to use vtpm NAME through the bridge
//! (`tools/vtpm-bridge`): dom0's frontend to the vtpm (`xl vtpm-attach 0 backend=NAME`), the
//! bridge's command line, and the guest cfg's `device_model_args_hvm` line for QEMU's
//! `-chardev socket` + `-tpmdev emulator` + `-device tpm-tis` (or `tpm-crb`, TPM 2.0 only;
//! QEMU's docs/specs/tpm.rst syntax). Prints; changes nothing.

use crate::Ctx;
use crate::cli::{Args, Fail, usage};
use crate::json::Json;
use crate::registry;

/// The bridge's default socket for vtpm `name`.
pub fn default_socket(name: &str) -> String {
    format!("/run/vtpm-bridge/{name}.sock")
}

/// QEMU's TPM front-end device: `tpm-tis` (TPM 1.2 and 2.0) or `tpm-crb` (TPM 2.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TpmDevice {
    Tis,
    Crb,
}

/// The guest cfg's line: QEMU's arguments for a TPM behind the bridge's socket.
pub fn device_model_args(socket: &str, device: TpmDevice) -> String {
    let dev = match device {
        TpmDevice::Tis => "tpm-tis",
        TpmDevice::Crb => "tpm-crb",
    };
    format!(
        "device_model_args_hvm = [ \"-chardev\", \"socket,id=chrtpm,path={socket}\", \"-tpmdev\", \
         \"emulator,id=tpm0,chardev=chrtpm\", \"-device\", \"{dev},tpmdev=tpm0\" ]"
    )
}

/// Runs `hvm NAME [--socket PATH] [--tpm2] [--crb] [--json]`.
pub fn run(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    let name = a.one("hvm", "NAME")?;
    if !registry::valid_name(name) {
        return Err(usage(format!("hvm: {name:?} is not a vtpm name")));
    }
    let socket = a.value("--socket").map(str::to_string).unwrap_or_else(|| default_socket(name));
    // QEMU splits its option on ',' and libxl's cfg strings end at '"'
    if !socket.starts_with('/') || socket.contains([',', '"', '\\', ' ']) {
        return Err(usage(format!("hvm: --socket {socket:?} must be an absolute path without , \" \\ or spaces")));
    }
    if a.flag("--crb") && !a.flag("--tpm2") {
        return Err(usage("hvm: --crb needs --tpm2 (QEMU's tpm-crb is a TPM 2.0 interface)"));
    }
    let device = if a.flag("--crb") { TpmDevice::Crb } else { TpmDevice::Tis };
    let attach = format!("xl vtpm-attach 0 backend={name}");
    let bridge = format!("vtpm-bridge --vtpm {name} --socket {socket}");
    let line = device_model_args(&socket, device);
    if a.flag("--json") {
        let j = Json::Obj(vec![
            ("attach", Json::str(attach)),
            ("bridge", Json::str(bridge)),
            ("cfg_line", Json::str(line)),
        ]);
        let _ = writeln!(ctx.out, "{j}");
    } else {
        let _ = writeln!(ctx.out, "# dom0, once per vtpm: the frontend the bridge uses\n{attach}");
        let _ = writeln!(ctx.out, "# dom0, before the guest starts (one bridge per guest)\n{bridge}");
        let _ = writeln!(ctx.out, "# the HVM guest's cfg (and no vtpm= line there)\n{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cfg_line_is_qemus_syntax() {
        assert_eq!(
            device_model_args("/run/vtpm-bridge/v1.sock", TpmDevice::Tis),
            "device_model_args_hvm = [ \"-chardev\", \"socket,id=chrtpm,path=/run/vtpm-bridge/v1.sock\", \
             \"-tpmdev\", \"emulator,id=tpm0,chardev=chrtpm\", \"-device\", \"tpm-tis,tpmdev=tpm0\" ]"
        );
        assert!(device_model_args("/s", TpmDevice::Crb).ends_with("\"-device\", \"tpm-crb,tpmdev=tpm0\" ]"));
        // the line parses as an xl cfg list of strings
        let line = device_model_args("/s", TpmDevice::Tis);
        let list = line.split_once('=').unwrap().1.trim();
        let items: Vec<&str> = list.trim_matches(['[', ']', ' ']).split("\", \"").collect();
        assert_eq!(items.len(), 6);
    }
}
