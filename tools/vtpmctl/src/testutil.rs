//! Test doubles: a temporary directory, an in-memory xenstore and a fake dom0 ([`FakeHost`])
//! whose `xl` is a script over that xenstore and whose clock is virtual, and in-process
//! managers ([`InProcessManager`]: the real manager service) as its management links.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rand_core::{TryCryptoRng, TryRng};
use vtpmmgr_core::admin_key::{AdminKey, KdfParams};
use vtpmmgr_core::{KeyStore, MemDisk, Service};

use xen_hv::{XenStore, XsError, XsTx};

use crate::host::{CmdOutput, Host};
use crate::mgmt_link::ManagerLink;

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "vtpmctl-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A flat in-memory xenstore (directories are derived from the keys).
#[derive(Default)]
pub struct FakeXs {
    pub tree: BTreeMap<String, String>,
    /// Every request fails with this.
    pub fail: Option<XsError>,
}

impl FakeXs {
    pub fn set(&mut self, k: &str, v: &str) {
        self.tree.insert(k.to_string(), v.to_string());
    }

    pub fn add_domain(&mut self, domid: u16, name: &str) {
        self.set(&format!("/local/domain/{domid}/name"), name);
        self.set(&format!("/local/domain/{domid}/domid"), &domid.to_string());
    }

    pub fn remove_domain(&mut self, domid: u16) {
        let p = format!("/local/domain/{domid}/");
        self.tree.retain(|k, _| !k.starts_with(&p));
    }

    fn check(&self) -> Result<(), XsError> {
        self.fail.clone().map_or(Ok(()), Err)
    }
}

impl XenStore for FakeXs {
    fn read(&mut self, _tx: XsTx, path: &str) -> Result<String, XsError> {
        self.check()?;
        self.tree.get(path).cloned().ok_or(XsError::NoEnt)
    }
    fn write(&mut self, _tx: XsTx, path: &str, value: &str) -> Result<(), XsError> {
        self.check()?;
        self.set(path, value);
        Ok(())
    }
    fn mkdir(&mut self, _tx: XsTx, _path: &str) -> Result<(), XsError> {
        self.check()
    }
    fn rm(&mut self, _tx: XsTx, path: &str) -> Result<(), XsError> {
        self.check()?;
        let p = format!("{path}/");
        self.tree.retain(|k, _| k != path && !k.starts_with(&p));
        Ok(())
    }
    fn directory(&mut self, _tx: XsTx, path: &str) -> Result<Vec<String>, XsError> {
        self.check()?;
        let p = format!("{path}/");
        let mut kids: Vec<String> = self
            .tree
            .keys()
            .filter_map(|k| k.strip_prefix(&p))
            .map(|r| r.split('/').next().unwrap_or(r).to_string())
            .collect();
        kids.dedup();
        if kids.is_empty() && !self.tree.contains_key(path) {
            return Err(XsError::NoEnt);
        }
        Ok(kids)
    }
    fn transaction_start(&mut self) -> Result<XsTx, XsError> {
        self.check()?;
        Ok(XsTx(1))
    }
    fn transaction_end(&mut self, _tx: XsTx, _commit: bool) -> Result<(), XsError> {
        self.check()
    }
    fn watch(&mut self, _path: &str, _token: &str) -> Result<(), XsError> {
        Err(XsError::Other("the fake has no watches".into()))
    }
    fn unwatch(&mut self, _path: &str, _token: &str) -> Result<(), XsError> {
        Ok(())
    }
    fn next_watch_event(&mut self, _token: &str) -> Option<String> {
        None
    }
}

/// What a fake `xl create CFG` does.
#[derive(Clone, Debug)]
pub enum OnCreate {
    /// The domain appears with this domid; `console` is written to its log after `after_ms`.
    Boot { domid: u16, console: String, after_ms: u64, manager_link: Option<&'static str> },
    /// xl fails with this message.
    Fail(String),
}

/// A fake dom0.
pub struct FakeHost {
    pub xs: FakeXs,
    pub xs_down: bool,
    pub now: u64,
    /// Every command run, as one string.
    pub commands: Vec<String>,
    /// `xl create` behaviour by cfg path (as given on the command line).
    pub on_create: BTreeMap<String, OnCreate>,
    /// Name of the domain each cfg creates.
    pub cfg_names: BTreeMap<String, String>,
    /// Console lines due at a time: (due_ms, domain, text).
    pub pending_console: Vec<(u64, String, String)>,
    pub consoles: BTreeMap<String, String>,
    pub next_random: u8,
    /// Backend states to write when a guest is created: vtpm name → state.
    pub backend_on_guest: Option<(String, u16, &'static str)>,
    pub console_dir: Option<PathBuf>,
    /// MiB left on the file system the disk goes to (`None`: plenty).
    pub disk_space_mib: Option<u64>,
    pub probed_peer: Option<u16>,
    /// In-process managers by domain name (the real service over an in-memory disk).
    pub managers: BTreeMap<String, InProcessManager>,
    /// What `xl list -l` prints.
    pub list_json: String,
    /// xl subcommands (`vtpm-attach`, …) that fail with this message.
    pub xl_fails: BTreeMap<String, String>,
}

/// A manager in the test's process: `vtpmmgr_core::Service` over an in-memory disk, its root
/// wrapped by a passphrase; management from connection 0 (as dom0's frontend), vtpms on others.
#[derive(Clone)]
pub struct InProcessManager(pub Rc<RefCell<Service<MemDisk, u32>>>, Rc<std::cell::Cell<u64>>);

/// The conversation's RNG (a SHA-256 counter).
pub struct TestRng(pub u64);

impl TryRng for TestRng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        use sha2::Digest;
        for chunk in dst.chunks_mut(32) {
            self.0 += 1;
            let out: [u8; 32] = sha2::Sha256::digest(self.0.to_be_bytes()).into();
            chunk.copy_from_slice(&out[..chunk.len()]);
        }
        Ok(())
    }
}
impl TryCryptoRng for TestRng {}

impl InProcessManager {
    /// A fresh manager whose root is wrapped by `passphrase`.
    pub fn new(passphrase: &str) -> Self {
        let key = AdminKey::parse_passphrase(&format!("text:{passphrase}")).unwrap();
        // each manager its own root secret
        let seed = passphrase.bytes().fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) << 16;
        let (store, _) =
            KeyStore::boot_with_admin_key(MemDisk::new(4096), &key, KdfParams::MINIMAL, &mut TestRng(seed)).unwrap();
        let mut s = Service::new(store);
        s.set_management_peer(|c: &u32| *c == 0);
        InProcessManager(Rc::new(RefCell::new(s)), Rc::new(std::cell::Cell::new(seed + (1 << 40))))
    }

    /// A vtpm's request on connection `conn` with `uuid`.
    pub fn vtpm(&self, conn: u32, uuid: &str, frame: &[u8]) -> Vec<u8> {
        let u = crate::uuid::parse(uuid).unwrap();
        let mut rng = self.rng();
        self.0.borrow_mut().handle_without_tpm(conn, u, frame, &mut rng)
    }

    /// A fresh RNG for one request (this manager's own sequence).
    fn rng(&self) -> TestRng {
        self.1.set(self.1.get() + (1 << 20));
        TestRng(self.1.get())
    }
}

impl ManagerLink for InProcessManager {
    fn transact(&mut self, request: &[u8]) -> Result<Vec<u8>, String> {
        let mut rng = self.rng();
        Ok(self.0.borrow_mut().handle_without_tpm(0, [0x0D; 16], request, &mut rng))
    }
}

impl Default for FakeHost {
    fn default() -> Self {
        let mut xs = FakeXs::default();
        xs.add_domain(0, "Domain-0");
        FakeHost {
            xs,
            xs_down: false,
            now: 1000,
            commands: Vec::new(),
            on_create: BTreeMap::new(),
            cfg_names: BTreeMap::new(),
            pending_console: Vec::new(),
            consoles: BTreeMap::new(),
            next_random: 0x11,
            backend_on_guest: None,
            console_dir: None,
            disk_space_mib: None,
            probed_peer: None,
            managers: BTreeMap::new(),
            list_json: "[]".into(),
            xl_fails: BTreeMap::new(),
        }
    }
}

impl FakeHost {
    fn deliver_console(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending_console).into_iter().partition(|(t, ..)| *t <= now);
        self.pending_console = later;
        for (_, dom, text) in due {
            let log = self.consoles.entry(dom).or_default();
            log.push_str(&text);
            log.push('\n');
        }
    }
}

impl Host for FakeHost {
    fn run(&mut self, program: &str, args: &[&str]) -> Result<CmdOutput, String> {
        self.commands.push(format!("{program} {}", args.join(" ")));
        if program != "xl" {
            return Err(format!("cannot run {program}: not found"));
        }
        if let Some(msg) = args.first().and_then(|a| self.xl_fails.get(*a)) {
            return Ok(CmdOutput { code: Some(1), stdout: String::new(), stderr: format!("{msg}\n") });
        }
        let ok = || CmdOutput { code: Some(0), stdout: String::new(), stderr: String::new() };
        match args {
            ["list", "-l"] => Ok(CmdOutput { code: Some(0), stdout: self.list_json.clone(), stderr: String::new() }),
            ["vtpm-detach", dom, devid] => {
                self.xs.rm(XsTx::NONE, &format!("/local/domain/{dom}/device/vtpm/{devid}")).unwrap();
                Ok(ok())
            }
            ["vtpm-attach", dom, backend, uuid] => {
                let (Some(mgr), Some(uuid)) = (backend.strip_prefix("backend="), uuid.strip_prefix("uuid=")) else {
                    return Ok(CmdOutput { code: Some(1), stdout: String::new(), stderr: "bad args\n".into() });
                };
                let Some(m) = crate::status::domains(&mut self.xs).unwrap().get(mgr).copied() else {
                    return Ok(CmdOutput { code: Some(1), stdout: String::new(), stderr: "no such backend\n".into() });
                };
                let devid = (0..)
                    .find(|i| {
                        !self.xs.tree.keys().any(|k| k.starts_with(&format!("/local/domain/{dom}/device/vtpm/{i}/")))
                    })
                    .unwrap();
                let (fe, be) = (
                    format!("/local/domain/{dom}/device/vtpm/{devid}"),
                    format!("/local/domain/{m}/backend/vtpm/{dom}/{devid}"),
                );
                self.xs.set(&format!("{fe}/backend"), &be);
                self.xs.set(&format!("{fe}/backend-id"), &m.to_string());
                self.xs.set(&format!("{fe}/state"), "1");
                self.xs.set(&format!("{be}/state"), "2");
                self.xs.set(&format!("{be}/uuid"), uuid);
                Ok(ok())
            }
            ["create", cfg] => match self.on_create.get(*cfg).cloned() {
                Some(OnCreate::Boot { domid, console, after_ms, manager_link }) => {
                    let name = self.cfg_names.get(*cfg).cloned().unwrap_or_else(|| "unnamed".into());
                    self.xs.add_domain(domid, &name);
                    if let Some(s) = manager_link {
                        self.xs.set(&format!("/local/domain/{domid}/device/vtpm/0/state"), s);
                    }
                    if let Some((vtpm, vid, st)) = self.backend_on_guest.clone()
                        && vtpm != name
                    {
                        self.xs.set(&format!("/local/domain/{vid}/backend/vtpm/{domid}/0/state"), st);
                        self.xs.set(&format!("/local/domain/{domid}/device/vtpm/0/state"), "3");
                    }
                    if !console.is_empty() {
                        self.pending_console.push((self.now + after_ms, name, console));
                    }
                    Ok(CmdOutput {
                        code: Some(0),
                        stdout: String::new(),
                        stderr: format!("Parsing config from {cfg}\n"),
                    })
                }
                Some(OnCreate::Fail(msg)) => Ok(CmdOutput {
                    code: Some(3),
                    stdout: String::new(),
                    stderr: format!("Parsing config from {cfg}\n{msg}\n"),
                }),
                None => Ok(CmdOutput {
                    code: Some(1),
                    stdout: String::new(),
                    stderr: format!("Failed to read config file {cfg}\n"),
                }),
            },
            _ => Ok(CmdOutput { code: Some(1), stdout: String::new(), stderr: "unknown xl command\n".into() }),
        }
    }

    fn xenstore(&mut self) -> Result<&mut dyn XenStore, String> {
        if self.xs_down {
            return Err("no xenstore: /dev/xen/xenbus: No such file or directory".into());
        }
        Ok(&mut self.xs)
    }

    fn now_ms(&self) -> u64 {
        self.now
    }

    fn sleep_ms(&mut self, ms: u64) {
        self.now += ms;
        self.deliver_console();
    }

    fn random(&mut self, buf: &mut [u8]) -> Result<(), String> {
        for b in buf.iter_mut() {
            *b = self.next_random;
        }
        self.next_random = self.next_random.wrapping_add(0x11);
        Ok(())
    }

    fn console_log(&mut self, name: &str) -> Option<String> {
        self.deliver_console();
        self.consoles.get(name).cloned()
    }

    fn set_console_dir(&mut self, dir: PathBuf) {
        self.console_dir = Some(dir);
    }

    fn fill_disk(&mut self, file: &mut std::fs::File, size_mib: u64) -> std::io::Result<()> {
        match self.disk_space_mib {
            Some(room) if room < size_mib => {
                crate::cmd::create::fill_zeros(file, room)?;
                Err(std::io::Error::from_raw_os_error(28))
            }
            _ => crate::cmd::create::fill_zeros(file, size_mib),
        }
    }

    fn manager(&mut self, name: &str) -> Result<Box<dyn ManagerLink + '_>, String> {
        match self.managers.get(name) {
            Some(m) => Ok(Box::new(m.clone())),
            None => Err(format!("dom0 has no vTPM device served by the manager {name}")),
        }
    }

    fn probe(&mut self, peer: Option<u16>) -> Vec<xen_dom0::probe::Check> {
        self.probed_peer = peer;
        vec![
            xen_dom0::probe::Check { what: "evtchn: open /dev/xen/evtchn".into(), ok: true, detail: "opened".into() },
            xen_dom0::probe::Check { what: "gntdev: map_grant_ref".into(), ok: false, detail: "errno 22".into() },
        ]
    }
}

/// The repository's `configs/` (the xl cfgs the project ships).
pub fn repo_configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}
