//! `vtpmctl install`: starts the vTPM manager at boot. Writes a systemd unit (or, on a machine
//! without systemd, an LSB init script) that creates the manager's stub domain from its xl cfg
//! once xenstored and xenconsoled run, before `xendomains` starts the saved or auto-started
//! guests (whose vtpms need the manager), and shuts it down last. The unit is named after the
//! manager domain (`vtpmmgr.service` for `name = "vtpmmgr"`), so two managers get two units.
//!
//! Nothing is enabled behind the administrator's back: the command says which `systemctl` (or
//! `update-rc.d`) line enables it. An existing file with other contents is left alone unless
//! `--force`; the same contents are "already installed".

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::Ctx;
use crate::cli::{Args, Fail, error, usage};
use crate::registry::write_atomically;
use crate::xlcfg;

/// The manager cfg `install` reads unless `--cfg` names another.
pub const DEFAULT_CFG: &str = "/etc/xen/vtpmmgr.cfg";
/// xl, as Debian and Xen's own install put it.
pub const DEFAULT_XL: &str = "/usr/sbin/xl";

/// Which init system the file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    Systemd,
    Sysv,
}

impl Init {
    fn parse(s: &str) -> Result<Init, Fail> {
        match s {
            "systemd" => Ok(Init::Systemd),
            "sysv" => Ok(Init::Sysv),
            other => Err(usage(format!("install: --init is systemd or sysv, not {other:?}"))),
        }
    }

    /// systemd when it runs this machine (its runtime directory exists), else sysv.
    fn detect(root: &Path) -> Init {
        if root.join("run/systemd/system").is_dir() { Init::Systemd } else { Init::Sysv }
    }

    /// Where the file goes, under `root`.
    pub fn path(self, root: &Path, unit: &str) -> PathBuf {
        match self {
            Init::Systemd => root.join("etc/systemd/system").join(format!("{unit}.service")),
            Init::Sysv => root.join("etc/init.d").join(unit),
        }
    }
}

/// A name or path that goes into a unit line or a shell script unquoted: letters, digits and
/// `._-` (and `/` for a path); nothing a shell or systemd would split or expand.
fn plain(s: &str, slash: bool) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c) || (slash && c == '/'))
}

/// The manager's domain name from its cfg text.
pub fn manager_name(cfg_text: &str) -> Result<String, String> {
    let v = xlcfg::get(cfg_text, "name").map_err(|e| e.0)?.ok_or("it has no name = \"…\" line")?;
    let name = xlcfg::unquote(&v).ok_or_else(|| format!("its name {v} is not one quoted string"))?;
    if !plain(name, false) {
        return Err(format!("its name {name:?} has characters other than letters, digits and ._-"));
    }
    Ok(name.to_string())
}

/// vtpmctl's path in the unit unless `--vtpmctl` names one: this program's own, if it is plain.
fn own_path() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .filter(|p| p.starts_with('/') && plain(p, true))
        .unwrap_or_else(|| DEFAULT_VTPMCTL.to_string())
}

/// Where vtpmctl is if its own path cannot go into the unit.
pub const DEFAULT_VTPMCTL: &str = "/usr/sbin/vtpmctl";

/// The systemd unit for manager `name` started from `cfg` with `xl`; `vtpmctl reattach`
/// afterwards (its failure does not fail the unit: the manager runs).
pub fn systemd_unit(name: &str, cfg: &str, xl: &str, vtpmctl: &str) -> String {
    format!(
        "# Written by `vtpmctl install`: the vTPM manager stub domain {name}, started at boot.\n\
         [Unit]\n\
         Description=vTPM manager stub domain {name} (xl create {cfg})\n\
         Documentation=man:xl(1)\n\
         ConditionPathExists=/proc/xen/capabilities\n\
         Wants=xenstored.service xenconsoled.service\n\
         After=xenstored.service xenconsoled.service xen-init-dom0.service xen.service\n\
         Before=xendomains.service\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         # already running (started by hand): nothing to do\n\
         ExecStart=/bin/sh -c '{xl} domid {name} >/dev/null 2>&1 || exec {xl} create {cfg}'\n\
         # vtpms still running from before a restart of the manager: onto the new domain\n\
         ExecStartPost=-{vtpmctl} reattach --manager {name}\n\
         ExecStop=/bin/sh -c '! {xl} domid {name} >/dev/null 2>&1 || exec {xl} shutdown -w {name}'\n\
         TimeoutStartSec=300\n\
         TimeoutStopSec=120\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n"
    )
}

/// The LSB init script for manager `name` started from `cfg` with `xl`, then `vtpmctl
/// reattach`.
pub fn sysv_script(name: &str, cfg: &str, xl: &str, vtpmctl: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by `vtpmctl install`: the vTPM manager stub domain {name}, started at boot.\n\
         ### BEGIN INIT INFO\n\
         # Provides:          {name}\n\
         # Required-Start:    $remote_fs xen\n\
         # Required-Stop:     $remote_fs xen\n\
         # Should-Start:      xenstored xenconsoled\n\
         # X-Start-Before:    xendomains\n\
         # X-Stop-After:      xendomains\n\
         # Default-Start:     2 3 4 5\n\
         # Default-Stop:      0 1 6\n\
         # Short-Description: vTPM manager stub domain {name}\n\
         ### END INIT INFO\n\
         XL={xl}\n\
         VTPMCTL={vtpmctl}\n\
         NAME={name}\n\
         CFG={cfg}\n\
         running() {{ \"$XL\" domid \"$NAME\" >/dev/null 2>&1; }}\n\
         case \"$1\" in\n\
         start)\n\
         \x20   running && exit 0\n\
         \x20   echo \"Starting vTPM manager $NAME\"\n\
         \x20   \"$XL\" create \"$CFG\" || exit 1\n\
         \x20   # vtpms still running from before a restart of the manager: onto the new domain\n\
         \x20   \"$VTPMCTL\" reattach --manager \"$NAME\" || true ;;\n\
         stop)\n\
         \x20   running || exit 0\n\
         \x20   echo \"Stopping vTPM manager $NAME\"\n\
         \x20   exec \"$XL\" shutdown -w \"$NAME\" ;;\n\
         restart|force-reload)\n\
         \x20   \"$0\" stop && exec \"$0\" start ;;\n\
         status)\n\
         \x20   if running; then echo \"$NAME is running\"; exit 0; fi\n\
         \x20   echo \"$NAME is not running\"; exit 3 ;;\n\
         *)\n\
         \x20   echo \"usage: $0 start|stop|restart|force-reload|status\" >&2; exit 2 ;;\n\
         esac\n"
    )
}

/// Runs `install`.
pub fn run(ctx: &mut Ctx<'_>, a: &Args) -> Result<(), Fail> {
    a.none("install")?;
    let cfg = a.value("--cfg").unwrap_or(DEFAULT_CFG);
    let xl = a.value("--xl").unwrap_or(DEFAULT_XL);
    let own = own_path();
    let vtpmctl = a.value("--vtpmctl").unwrap_or(&own);
    for (what, p) in [("--cfg", cfg), ("--xl", xl), ("--vtpmctl", vtpmctl)] {
        if !p.starts_with('/') || !plain(p, true) {
            return Err(usage(format!(
                "install: {what} must be an absolute path of letters, digits and ._-/ (it goes into the unit as is), not {p:?}"
            )));
        }
    }
    let root = PathBuf::from(a.value("--root").unwrap_or("/"));
    // the cfg as this machine sees it (under --root when packaging into a staging tree)
    let cfg_file = root.join(cfg.trim_start_matches('/'));
    let text = fs::read_to_string(&cfg_file)
        .map_err(|e| error(format!("install: cannot read the manager's cfg {}: {e}", cfg_file.display())))?;
    let name = manager_name(&text).map_err(|e| error(format!("install: {}: {e}", cfg_file.display())))?;
    let init = match a.value("--init") {
        Some(s) => Init::parse(s)?,
        None => Init::detect(&root),
    };
    let body = match init {
        Init::Systemd => systemd_unit(&name, cfg, xl, vtpmctl),
        Init::Sysv => sysv_script(&name, cfg, xl, vtpmctl),
    };
    if a.flag("--print") {
        let _ = ctx.out.write_all(body.as_bytes());
        return Ok(());
    }
    let path = init.path(&root, &name);
    match fs::read(&path) {
        Ok(old) if old == body.as_bytes() => {
            let _ = writeln!(ctx.out, "{} is already installed (unchanged)", path.display());
            return Ok(());
        }
        Ok(_) if !a.flag("--force") => {
            return Err(error(format!(
                "install: {} exists with other contents; nothing written (--force replaces it)",
                path.display()
            )));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(format!("install: {}: {e}", path.display()))),
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| error(format!("install: {}: {e}", dir.display())))?;
    }
    write_atomically(&path, body.as_bytes()).map_err(|e| error(format!("install: {e}; nothing installed")))?;
    if init == Init::Sysv {
        // an init script is run by its path
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
            .map_err(|e| error(format!("install: {}: cannot make it executable: {e}", path.display())))?;
    }
    let o = &mut ctx.out;
    let _ = writeln!(o, "installed {} (the manager {name} from {cfg})", path.display());
    match init {
        Init::Systemd => {
            let _ = writeln!(o, "enable it: systemctl daemon-reload && systemctl enable --now {name}.service");
        }
        Init::Sysv => {
            let _ = writeln!(o, "enable it: update-rc.d {name} defaults && service {name} start");
        }
    }
    Ok(())
}
