//! The plan dom0 executes (one step per line, interpreted by `xt-dom0`) and the files the
//! per-run archive carries (images at their configs' kernel paths, the run's configs, the
//! Linux guest kernel and ramdisk when a scenario boots one).

use super::config::XlConfig;

/// Where the run's (possibly rewritten) configs live in dom0.
pub const CFG_DIR: &str = "/etc/xtask/configs";

/// A domain a scenario starts, with what the checks need to know about it.
#[derive(Clone, Debug)]
pub struct Domain {
    /// xl domain name (the config's `name=`).
    pub name: String,
    /// The config as this run uses it.
    pub cfg: XlConfig,
    /// Our image's console name (`vtpm-stubdom`, …) or `None` for a Linux guest.
    pub image: Option<String>,
}

impl Domain {
    pub fn cfg_path(&self) -> String {
        format!("{CFG_DIR}/{}.cfg", self.name)
    }
}

/// Plan text plus the files to put into dom0.
#[derive(Default)]
pub struct Plan {
    pub lines: Vec<String>,
    /// (absolute path in dom0, mode, contents)
    pub files: Vec<(String, u32, Vec<u8>)>,
    /// Number of `xl create`s (for the time budget) and how many boot Linux.
    pub creates: usize,
    pub linux_creates: usize,
    /// Notes printed before the run (e.g. a dropped `vtpm=` line).
    pub notes: Vec<String>,
}

/// Escapes a literal string for a POSIX extended regular expression (only the
/// metacharacters: GNU grep warns about other escaped characters).
pub fn ere_literal(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if ".[]()*+?{}|^$\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Plan {
    pub fn step(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    pub fn scenario(&mut self, name: &str) {
        self.step(format!("scenario {name}"));
    }

    /// Writes the domain's config, creates its `file:` disks and starts it.
    pub fn create(&mut self, d: &Domain, disk_mib: u32) {
        self.create_with(d, disk_mib, "create");
    }

    /// As [`Plan::create`], but created paused and then unpaused (`xl create -p`): for
    /// domains that finish within a second, so xl's monitor is ready before they run.
    pub fn create_paused(&mut self, d: &Domain, disk_mib: u32) {
        self.create_with(d, disk_mib, "createp");
    }

    /// As [`Plan::create`], with `xl -vvv`: its monitor's debug log (reboots) comes with the
    /// domain's console dump.
    pub fn create_verbose(&mut self, d: &Domain, disk_mib: u32) {
        self.create_with(d, disk_mib, "createv");
    }

    fn create_with(&mut self, d: &Domain, disk_mib: u32, step: &str) {
        if !self.files.iter().any(|f| f.0 == d.cfg_path()) {
            self.files.push((d.cfg_path(), 0o644, d.cfg.text.clone().into_bytes()));
        }
        for (path, _) in d.cfg.file_disks() {
            self.step(format!("disk {path} {disk_mib}"));
        }
        self.step(format!("{step} {} {}", d.name, d.cfg_path()));
        self.creates += 1;
        if d.image.is_none() {
            self.linux_creates += 1;
        }
    }

    /// Waits until the domain's console matches the ERE (or the domain is gone).
    pub fn wait(&mut self, name: &str, secs: u32, ere: &str) {
        self.step(format!("wait {name} {secs} {ere}"));
    }

    pub fn list(&mut self) {
        self.step("list");
    }

    pub fn shutdown(&mut self, name: &str, secs: u32) {
        self.step(format!("shutdown {name} {secs}"));
    }

    pub fn gone(&mut self, name: &str, secs: u32) {
        self.step(format!("gone {name} {secs}"));
    }

    /// `xl reboot NAME`, then waits (at most `secs`) for the domain under a new domid. Counts
    /// as one more Linux boot for the time budget.
    pub fn reboot(&mut self, name: &str, secs: u32) {
        self.step(format!("reboot {name} {secs}"));
        self.creates += 1;
        self.linux_creates += 1;
    }

    /// Runs a dom0 command and reports its exit code and duration under `label`.
    pub fn timed(&mut self, label: &str, command: &str) {
        self.step(format!("timed {label} {command}"));
    }

    pub fn console(&mut self, name: &str) {
        self.step(format!("console {name}"));
    }

    pub fn destroy(&mut self, name: &str) {
        self.step(format!("destroy {name}"));
    }

    pub fn text(&self) -> String {
        let mut s = String::from("# written by cargo xtask e2e; executed by /usr/local/bin/xt-dom0\n");
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    /// Adds a file unless that path is already there.
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        if !self.files.iter().any(|f| f.0 == path) {
            self.files.push((path.to_string(), mode, data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ere_escapes_only_metacharacters() {
        assert_eq!(
            ere_literal("INFO[VTPM]: Waiting for commands from vTPM's:"),
            "INFO\\[VTPM\\]: Waiting for commands from vTPM's:"
        );
        assert_eq!(ere_literal("a.b (c)"), "a\\.b \\(c\\)");
    }

    #[test]
    fn create_writes_config_and_disks() {
        let d = Domain {
            name: "vtpm".into(),
            cfg: XlConfig::new("name = \"vtpm\"\ndisk = [ \"file:/var/vtpm.img,hda,w\" ]\n"),
            image: Some("vtpm-stubdom".into()),
        };
        let mut p = Plan::default();
        p.scenario("boot");
        p.create(&d, 8);
        p.create(&d, 8);
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].0, "/etc/xtask/configs/vtpm.cfg");
        assert_eq!(p.creates, 2);
        assert_eq!(p.linux_creates, 0);
        assert!(p.text().contains("\ndisk /var/vtpm.img 8\ncreate vtpm /etc/xtask/configs/vtpm.cfg\n"));
    }
}
