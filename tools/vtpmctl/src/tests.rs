//! The commands end to end against a temporary directory and a fake dom0 (`testutil`).

use std::fs;
use std::path::{Path, PathBuf};

use crate::testutil::{FakeHost, InProcessManager, OnCreate, TempDir};

struct T {
    dir: TempDir,
    host: FakeHost,
}

struct Out {
    code: i32,
    out: String,
    err: String,
}

impl T {
    fn new() -> T {
        let dir = TempDir::new("cmd");
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("etc/domu.cfg"), GUEST).unwrap();
        T { dir, host: FakeHost::default() }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn ps(&self, rel: &str) -> String {
        self.p(rel).to_str().unwrap().to_string()
    }

    fn run(&mut self, args: &[&str]) -> Out {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = crate::run(&args, Some(self.p("state")), &mut self.host, &mut out, &mut err);
        Out { code, out: String::from_utf8(out).unwrap(), err: String::from_utf8(err).unwrap() }
    }

    fn create(&mut self, name: &str, extra: &[&str]) -> Out {
        let guest = self.ps("etc/domu.cfg");
        let cfgdir = self.ps("etc");
        let mut a = vec!["create", name, "--guest", &guest, "--cfg-dir", &cfgdir];
        if !extra.contains(&"--size") {
            a.extend_from_slice(&["--size", "2"]);
        }
        a.extend_from_slice(extra);
        let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.run(&a)
    }

    /// Every file under the temp dir with its contents, to prove "nothing changed".
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(rd) = fs::read_dir(p) else { return };
            let mut es: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
            es.sort();
            for e in es {
                if e.is_dir() {
                    out.push((e.clone(), b"<dir>".to_vec()));
                    walk(&e, out);
                } else {
                    out.push((e.clone(), fs::read(&e).unwrap_or_default()));
                }
            }
        }
        let mut v = Vec::new();
        walk(self.dir.path(), &mut v);
        v
    }
}

const GUEST: &str = "# my guest\nname    = \"domu\"\nkernel  = \"/vmlinuz\"   # PV kernel\nmemory  = 384\n";

#[test]
fn create_makes_disk_cfg_record_and_guest_line() {
    let mut t = T::new();
    let o = t.create("v1", &[]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(
        o.out.starts_with("created vtpm v1 (uuid 11111111-1111-4111-9111-111111111111, manager vtpmmgr)"),
        "{}",
        o.out
    );
    let disk = t.p("state/disks/v1.img");
    assert_eq!(fs::metadata(&disk).unwrap().len(), 2 << 20);
    let cfg = fs::read_to_string(t.p("etc/v1.cfg")).unwrap();
    assert!(cfg.contains("name    = \"v1\"\n"), "{cfg}");
    assert!(cfg.contains(&format!("disk    = [ \"file:{},hda,w\" ]\n", disk.display())), "{cfg}");
    assert!(cfg.contains("vtpm    = [ \"backend=vtpmmgr,uuid=11111111-1111-4111-9111-111111111111\" ]\n"), "{cfg}");
    assert!(cfg.contains("kernel  = \"/usr/lib/xen/boot/vtpm-stubdom.gz\""), "the template's other keys stay");
    assert!(cfg.starts_with("# vTPM stub domain"), "the template's comments stay");
    assert!(cfg.ends_with("on_crash = \"destroy\"\n"), "ends with a newline even if the template does not: {cfg}");
    let guest = fs::read_to_string(t.p("etc/domu.cfg")).unwrap();
    assert_eq!(guest, format!("{GUEST}vtpm    = [ \"backend=v1\" ]\n"));
    let rec = fs::read_to_string(t.p("state/v1.vtpm")).unwrap();
    assert!(rec.contains("guest=domu\n") && rec.contains("guest_line=added\n"), "{rec}");
    // A second vtpm gets another uuid.
    fs::write(t.p("etc/domu.cfg"), GUEST).unwrap();
    let o = t.create("v2", &["--manager", "mgr2"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("uuid 22222222-2222-4222-a222-222222222222, manager mgr2"), "{}", o.out);
}

#[test]
fn create_with_print_leaves_the_guest_cfg_alone() {
    let mut t = T::new();
    fs::write(t.p("etc/domu.cfg"), format!("{GUEST}vtpm = [ \"backend=old\" ]\n")).unwrap();
    let before = fs::read(t.p("etc/domu.cfg")).unwrap();
    let o = t.create("v1", &["--print"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(o.out.lines().last(), Some("vtpm    = [ \"backend=v1\" ]"));
    assert_eq!(fs::read(t.p("etc/domu.cfg")).unwrap(), before);
    assert!(fs::read_to_string(t.p("state/v1.vtpm")).unwrap().contains("guest_line=printed"));
}

#[test]
fn create_refuses_bad_input_and_changes_nothing() {
    let mut t = T::new();
    assert_eq!(t.create("v1", &[]).code, 0);
    fs::write(t.p("etc/domu.cfg"), GUEST).unwrap();
    fs::write(t.p("etc/noname.cfg"), "memory = 1\n").unwrap();
    fs::write(t.p("etc/broken.cfg"), "name = \"x\"\nvtpm = [ \"a\",\n").unwrap();
    fs::create_dir_all(t.p("state/disks")).unwrap();
    fs::write(t.p("state/disks/taken.img"), "someone else's").unwrap();
    fs::write(t.p("etc/cfgtaken.cfg"), "x = 1\n").unwrap();
    let before = t.snapshot();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (vec!["v1".into()], 1, "vtpm v1 exists already"),
        (vec!["bad/name".into()], 1, "not a valid vtpm name"),
        (vec!["domu".into()], 1, "cannot have its guest's name"),
        (vec!["taken".into()], 1, "exists and is not a vtpmctl disk"),
        (vec!["cfgtaken".into()], 1, "exists already"),
        (vec!["v3".into(), "--size".into(), "0".into()], 2, "--size must be a number from 1 to 4096"),
        (vec!["v3".into(), "--manager".into(), "a b".into()], 1, "not a valid manager"),
        (vec!["v3".into(), "--template".into(), t.ps("nope.cfg")], 1, "template"),
        (vec!["v3".into(), "--bogus".into()], 2, "unknown option --bogus"),
    ];
    for (extra, code, msg) in cases {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (name, rest) = extra.split_first().unwrap();
        let o = t.create(name, rest);
        assert_eq!(o.code, code, "{extra:?}: {}", o.err);
        assert!(o.err.contains(msg), "{extra:?}: {}", o.err);
        assert_eq!(o.err.lines().count(), 1, "one plain line: {}", o.err);
        assert!(o.err.starts_with("vtpmctl: "));
        assert_eq!(t.snapshot(), before, "{extra:?} changed something");
    }
    for (guest, msg) in [
        (t.ps("etc/missing.cfg"), "guest cfg"),
        (t.ps("etc/noname.cfg"), "has no name"),
        (t.ps("etc/broken.cfg"), "not closed"),
        (t.ps("etc"), "guest cfg"),
    ] {
        let cfgdir = t.ps("etc");
        let o = t.run(&["create", "v4", "--guest", &guest, "--cfg-dir", &cfgdir]);
        assert_eq!(o.code, 1, "{guest}");
        assert!(o.err.contains(msg), "{guest}: {}", o.err);
        assert_eq!(t.snapshot(), before);
    }
    // The guest already has a vtpm line.
    fs::write(t.p("etc/domu.cfg"), format!("{GUEST}vtpm = [ \"backend=v1\" ]\n")).unwrap();
    let before = t.snapshot();
    let o = t.create("v5", &[]);
    assert!(o.err.contains("already has vtpm = [ \"backend=v1\" ]; use --print"), "{}", o.err);
    assert_eq!(t.snapshot(), before);
    let o = t.run(&["create", "v6"]);
    assert_eq!(o.code, 2);
    assert!(o.err.contains("--guest CFG missing"));
}

#[test]
fn a_failure_after_the_disk_rolls_everything_back() {
    let mut t = T::new();
    fs::write(t.p("notadir"), "").unwrap();
    let before = t.snapshot();
    // The cfg directory is a file: the cfg cannot be written after the disk was made.
    let guest = t.ps("etc/domu.cfg");
    let cfgdir = t.ps("notadir/sub");
    let o = t.run(&["create", "v1", "--guest", &guest, "--cfg-dir", &cfgdir, "--size", "1"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("(nothing was created)"), "{}", o.err);
    assert_eq!(t.snapshot(), before, "the disk, its new directories and the record are gone");
}

#[test]
fn no_space_for_the_disk_is_a_clear_error_and_nothing_is_left() {
    let mut t = T::new();
    let before = t.snapshot();
    t.host.disk_space_mib = Some(1);
    let o = t.create("v1", &[]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("v1.img: No space left on device"), "{}", o.err);
    assert!(o.err.ends_with("(nothing was created)\n"), "{}", o.err);
    assert_eq!(t.snapshot(), before, "the half-written disk and its directories are gone");
    t.host.disk_space_mib = Some(2);
    assert_eq!(t.create("v1", &[]).code, 0, "exactly enough room");
}

/// A disk that cannot be made at all (its directory cannot be created).
#[test]
fn a_disk_that_cannot_be_made_is_a_clear_error() {
    let mut t = T::new();
    fs::write(t.p("full"), "").unwrap();
    let before = t.snapshot();
    let dd = t.ps("full/disks");
    let o = t.create("v1", &["--disk-dir", &dd]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("nothing was created"), "{}", o.err);
    assert_eq!(t.snapshot(), before);
}

#[test]
fn list_and_show_join_records_with_xenstore() {
    let mut t = T::new();
    assert_eq!(t.create("v1", &[]).code, 0);
    let o = t.run(&["list"]);
    assert_eq!(o.code, 0);
    assert!(o.out.lines().nth(1).unwrap().contains("stopped"), "{}", o.out);
    t.host.xs.add_domain(4, "v1");
    t.host.xs.add_domain(5, "domu");
    t.host.xs.set("/local/domain/4/device/vtpm/0/state", "4");
    t.host.xs.set("/local/domain/4/backend/vtpm/5/0/state", "4");
    t.host.xs.set("/local/domain/5/device/vtpm/0/state", "4");
    let o = t.run(&["list"]);
    let row = o.out.lines().nth(1).unwrap().to_string();
    assert!(row.starts_with("v1 ") && row.contains("running") && row.contains("Connected"), "{row}");
    let o = t.run(&["list", "--json"]);
    assert_eq!(o.code, 0);
    let j = o.out.trim();
    assert!(j.starts_with("[{\"name\":\"v1\",\"uuid\":\"11111111-1111-4111-9111-111111111111\""), "{j}");
    assert!(j.contains("\"running\":true,\"domid\":4,\"guest_domid\":5,\"backend_state\":\"Connected\""), "{j}");
    let o = t.run(&["show", "v1"]);
    assert!(o.out.contains("vtpm domain:  domid 4") && o.out.contains("manager link: Connected"), "{}", o.out);
    let o = t.run(&["show", "v1", "--json"]);
    assert!(o.out.starts_with("{\"name\":\"v1\""), "{}", o.out);
    let o = t.run(&["show", "nope"]);
    assert_eq!((o.code, o.err.as_str()), (1, "vtpmctl: no vtpm nope (see vtpmctl list)\n"));
    // Without xenstore the records still list, state unknown.
    t.host.xs_down = true;
    let o = t.run(&["list"]);
    assert_eq!(o.code, 0);
    assert!(o.out.contains("unknown") && o.out.contains("running state unknown: no xenstore"), "{}", o.out);
    let o = t.run(&["list", "--json"]);
    assert!(o.out.contains("\"running\":null") && o.out.contains("\"xenstore_error\":\"no xenstore"), "{}", o.out);
    // An empty registry.
    let mut t = T::new();
    let o = t.run(&["list", "--json"]);
    assert_eq!(o.out, "[]\n");
}

#[test]
fn delete_needs_yes_refuses_a_running_vtpm_and_removes_files() {
    let mut t = T::new();
    assert_eq!(t.create("v1", &[]).code, 0);
    let o = t.run(&["delete", "v1"]);
    assert_eq!(o.code, 2);
    assert!(o.err.contains("add --yes"));
    t.host.xs.add_domain(4, "v1");
    let o = t.run(&["delete", "v1", "--yes"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("v1 is running (domid 4)"), "{}", o.err);
    t.host.xs_down = true;
    let o = t.run(&["delete", "v1", "--yes"]);
    assert!(o.err.contains("cannot tell whether v1 runs"), "{}", o.err);
    assert!(t.p("state/disks/v1.img").exists() && t.p("etc/v1.cfg").exists());
    t.host.xs_down = false;
    t.host.xs.remove_domain(4);
    let o = t.run(&["delete", "v1", "--yes"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("still holds a record for uuid"), "{}", o.out);
    assert!(o.out.contains("still has vtpm = [ \"backend=v1\" ]"), "{}", o.out);
    assert!(!t.p("state/disks/v1.img").exists() && !t.p("etc/v1.cfg").exists() && !t.p("state/v1.vtpm").exists());
    let o = t.run(&["delete", "v1", "--yes"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("no vtpm v1"));
    // A record whose disk is no regular file (a directory here) is refused, nothing removed.
    fs::write(t.p("etc/domu.cfg"), GUEST).unwrap();
    assert_eq!(t.create("v2", &[]).code, 0);
    fs::remove_file(t.p("state/disks/v2.img")).unwrap();
    fs::create_dir(t.p("state/disks/v2.img")).unwrap();
    let o = t.run(&["delete", "v2", "--yes"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("is not a regular file; nothing deleted"), "{}", o.err);
    assert!(t.p("etc/v2.cfg").exists() && t.p("state/v2.vtpm").exists());
}

#[test]
fn a_symlinked_guest_cfg_is_edited_through_the_link() {
    let mut t = T::new();
    fs::rename(t.p("etc/domu.cfg"), t.p("real.cfg")).unwrap();
    std::os::unix::fs::symlink(t.p("real.cfg"), t.p("etc/domu.cfg")).unwrap();
    assert_eq!(t.create("v1", &[]).code, 0);
    assert!(fs::symlink_metadata(t.p("etc/domu.cfg")).unwrap().file_type().is_symlink(), "the link stays a link");
    assert!(fs::read_to_string(t.p("real.cfg")).unwrap().ends_with("vtpm    = [ \"backend=v1\" ]\n"));
}

fn started(t: &mut T) {
    assert_eq!(t.create("v1", &[]).code, 0);
    let cfg = t.ps("etc/v1.cfg");
    let guest = t.ps("etc/domu.cfg");
    t.host.cfg_names.insert(cfg, "v1".into());
    t.host.cfg_names.insert(guest, "domu".into());
}

#[test]
fn start_waits_for_the_console_then_starts_the_guest() {
    let mut t = T::new();
    started(&mut t);
    let (cfg, guest) = (t.ps("etc/v1.cfg"), t.ps("etc/domu.cfg"));
    // An old run's lines in the log must not count.
    t.host.consoles.insert("v1".into(), format!("{}\n", crate::cmd::start::SERVING));
    t.host.on_create.insert(
        cfg.clone(),
        OnCreate::Boot {
            domid: 7,
            console: "Info: VTPM serving frontends (backend/vtpm)".into(),
            after_ms: 3000,
            manager_link: Some("4"),
        },
    );
    t.host
        .on_create
        .insert(guest.clone(), OnCreate::Boot { domid: 8, console: String::new(), after_ms: 0, manager_link: None });
    t.host.backend_on_guest = Some(("v1".into(), 7, "2"));
    let t0 = t.host.now;
    let o = t.run(&["start", "v1"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(t.host.commands, [format!("xl create {cfg}"), format!("xl create {guest}")]);
    assert!(t.host.now - t0 >= 3000, "the guest waited for the console line");
    assert!(o.out.contains("vtpm v1 serves (its console says so)"), "{}", o.out);
    assert!(
        o.out.contains("guest domu started (domid 8); vtpm v1 (domid 7) backend InitWait, frontend Initialised"),
        "{}",
        o.out
    );
    // Now the guest runs: a second start refuses.
    let o = t.run(&["start", "v1"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("guest domu is running already (domid 8)"));
}

#[test]
fn start_without_a_console_log_uses_the_manager_link() {
    let mut t = T::new();
    started(&mut t);
    let (cfg, guest) = (t.ps("etc/v1.cfg"), t.ps("etc/domu.cfg"));
    t.host
        .on_create
        .insert(cfg, OnCreate::Boot { domid: 7, console: String::new(), after_ms: 0, manager_link: Some("4") });
    t.host
        .on_create
        .insert(guest, OnCreate::Boot { domid: 8, console: String::new(), after_ms: 0, manager_link: None });
    t.host.backend_on_guest = Some(("v1".into(), 7, "4"));
    let o = t.run(&["start", "v1"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("its link to the manager is Connected"), "{}", o.out);
}

#[test]
fn start_failures_are_clear_and_the_guest_is_not_started() {
    let mut t = T::new();
    started(&mut t);
    let cfg = t.ps("etc/v1.cfg");
    // xl fails.
    t.host.on_create.insert(cfg.clone(), OnCreate::Fail("libxl: error: domain creation failed".into()));
    let o = t.run(&["start", "v1"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("(the vtpm) failed: libxl: error: domain creation failed"), "{}", o.err);
    // The vtpm reports an error on its console.
    t.host.on_create.insert(
        cfg.clone(),
        OnCreate::Boot {
            domid: 7,
            console: "ERROR: manager refused the state".into(),
            after_ms: 400,
            manager_link: None,
        },
    );
    t.host.commands.clear();
    let o = t.run(&["start", "v1"]);
    assert!(o.err.contains("vtpm v1 failed to start: ERROR: manager refused the state"), "{}", o.err);
    assert_eq!(t.host.commands.len(), 1, "no guest create");
    // Never ready: times out (virtual time).
    t.host.xs.remove_domain(7);
    t.host.consoles.clear();
    t.host.on_create.insert(
        cfg.clone(),
        OnCreate::Boot { domid: 7, console: "booting".into(), after_ms: 0, manager_link: Some("2") },
    );
    let o = t.run(&["start", "v1", "--timeout", "5"]);
    assert!(o.err.contains("not ready in time") && o.err.contains("InitWait"), "{}", o.err);
    // Vanishes.
    t.host.xs.remove_domain(7);
    t.host.consoles.clear();
    t.host.on_create.insert(cfg, OnCreate::Boot { domid: 9, console: String::new(), after_ms: 0, manager_link: None });
    t.host.cfg_names.insert(t.ps("etc/v1.cfg"), "other-name".into());
    let o = t.run(&["start", "v1"]);
    assert!(o.err.contains("vtpm v1 is gone"), "{}", o.err);
    // No xenstore.
    t.host.xs_down = true;
    let o = t.run(&["start", "v1"]);
    assert!(o.err.contains("cannot start without xenstore"), "{}", o.err);
    let o = t.run(&["start", "nope"]);
    assert!(o.err.contains("no vtpm nope"));
}

#[test]
fn help_usage_and_probe() {
    let mut t = T::new();
    let o = t.run(&["--help"]);
    assert_eq!(o.code, 0);
    assert!(o.out.starts_with("usage: vtpmctl"));
    for cmd in ["create", "list", "show", "delete", "start", "probe"] {
        let o = t.run(&[cmd, "--help"]);
        assert_eq!(o.code, 0, "{cmd}");
        assert!(o.out.starts_with(&format!("usage: vtpmctl {cmd}")), "{cmd}: {}", o.out);
    }
    let o = t.run(&[]);
    assert_eq!(o.code, 2);
    let o = t.run(&["frobnicate"]);
    assert_eq!((o.code, o.err.as_str()), (2, "vtpmctl: unknown command \"frobnicate\" (see vtpmctl --help)\n"));
    let o = t.run(&["--state-dir"]);
    assert_eq!(o.code, 2);
    let sd = t.ps("other");
    let o = t.run(&["--state-dir", &sd, "list"]);
    assert_eq!(o.code, 0);
    let o = t.run(&["probe"]);
    assert_eq!(o.code, 1);
    assert!(o.out.contains("ok   evtchn: open /dev/xen/evtchn: opened") && o.out.contains("FAIL gntdev"), "{}", o.out);
    assert!(o.err.contains("1 of 2 checks failed"));
    assert_eq!(t.host.probed_peer, None);
    let o = t.run(&["probe", "--json", "--domid", "5"]);
    assert_eq!(t.host.probed_peer, Some(5));
    assert!(o.out.starts_with("[{\"what\":\"evtchn: open /dev/xen/evtchn\",\"ok\":true"), "{}", o.out);
    for bad in ["x", "70000", "32752"] {
        let o = t.run(&["probe", "--domid", bad]);
        assert_eq!(o.code, 2, "{bad}");
        assert!(o.err.contains("--domid must be a domain id"), "{}", o.err);
    }
    let o = t.run(&["start", "v1", "--console-dir", "/x"]);
    assert_eq!(t.host.console_dir.as_deref(), Some(Path::new("/x")));
    assert_eq!(o.code, 1);
}

const U1: &str = "11111111-1111-4111-9111-111111111111";
const U2: &str = "22222222-2222-4222-a222-222222222222";

/// v1 (uuid U1) and v2 (uuid U2) made at manager vtpmmgr, each with a saved record there and a
/// disk with some bytes in it; a second manager `mgrb`.
fn two_managers() -> (T, InProcessManager, InProcessManager) {
    let mut t = T::new();
    let a = InProcessManager::new("manager a passphrase");
    let b = InProcessManager::new("manager b passphrase");
    t.host.managers.insert("vtpmmgr".into(), a.clone());
    t.host.managers.insert("mgrb".into(), b.clone());
    assert_eq!(t.create("v1", &[]).code, 0);
    fs::write(t.p("etc/domu.cfg"), GUEST).unwrap();
    assert_eq!(t.create("v2", &[]).code, 0);
    for (conn, u, name) in [(5, U1, "v1"), (6, U2, "v2")] {
        let r = a.vtpm(conn, u, &vtpmmgr_core::proto::save_hash_key(&[conn as u8; 64]));
        assert_eq!(tpm_rc(&r), 0);
        a.0.borrow_mut().disconnect(conn);
        fs::write(t.p(&format!("state/disks/{name}.img")), vec![conn as u8; 4096]).unwrap();
    }
    (t, a, b)
}

fn tpm_rc(r: &[u8]) -> u32 {
    u32::from_be_bytes([r[6], r[7], r[8], r[9]])
}

fn load(m: &InProcessManager, conn: u32, u: &str) -> Vec<u8> {
    let r = m.vtpm(conn, u, &vtpmmgr_core::proto::load_hash_key());
    m.0.borrow_mut().disconnect(conn);
    r
}

#[test]
fn list_shows_the_managers_view() {
    let (mut t, a, _) = two_managers();
    // a record the manager has but vtpmctl did not make, and one unreachable manager
    let other = "33333333-3333-4333-8333-333333333333";
    assert_eq!(tpm_rc(&a.vtpm(9, other, &vtpmmgr_core::proto::save_hash_key(&[9; 64]))), 0);
    let o = t.run(&["list", "--manager", "nowhere"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("manager vtpmmgr: 3 vTPM record(s)\n"), "{}", o.out);
    assert!(o.out.contains(&format!("  not made by vtpmctl: {other}\n")), "{}", o.out);
    assert!(o.out.contains("manager nowhere: not reachable (cannot reach the manager nowhere: "), "{}", o.out);
    let o = t.run(&["list", "--json"]);
    assert!(o.out.contains("\"at_manager\":true"), "{}", o.out);
    // deleted at the manager behind vtpmctl's back
    let del =
        vtpmmgr_core::mgmt::encode(&vtpmmgr_core::mgmt::MgmtRequest::VtpmDel { uuid: crate::uuid::parse(U2).unwrap() });
    let mut link = a.clone();
    assert_eq!(tpm_rc(&crate::mgmt_link::ManagerLink::transact(&mut link, &del).unwrap()), 0);
    let o = t.run(&["list"]);
    assert!(o.out.contains("  no record there (deleted, or never saved): v2\n"), "{}", o.out);
    let o = t.run(&["list", "--json"]);
    assert!(o.out.contains("\"at_manager\":false"), "{}", o.out);
}

#[test]
fn backup_delete_restore() {
    let (mut t, a, b) = two_managers();
    let file = t.ps("v1.backup");
    let o = t.run(&["backup", "v1", &file]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.starts_with(&format!("backup of vtpm v1 (uuid {U1}) written to {file} (")), "{}", o.out);
    assert_eq!(t.run(&["backup", "v1", &file]).code, 1, "FILE exists");
    // the manager still has the record: refused, nothing changed
    let before = t.snapshot();
    let o = t.run(&["restore", &file]);
    assert_eq!(o.code, 1);
    assert!(
        o.err.contains("RESTORE refused: a vTPM with this uuid exists at the manager (rc 0x401); nothing changed"),
        "{}",
        o.err
    );
    assert_eq!(t.snapshot(), before);
    // lost: delete removes the manager's record too
    let o = t.run(&["delete", "v1", "--yes"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains(&format!("  the manager vtpmmgr's record for uuid {U1} removed")), "{}", o.out);
    assert_eq!(tpm_rc(&load(&a, 7, U1)), vtpmmgr_core::proto::RC_NO_RECORD);
    // restore needs a disk path now (vtpmctl forgot v1)
    let o = t.run(&["restore", &file]);
    assert_eq!(o.code, 2, "{}", o.err);
    assert!(o.err.contains("give --disk PATH"), "{}", o.err);
    let disk = t.ps("restored.img");
    let o = t.run(&["restore", &file, "--disk", &disk]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains(&format!("restored vtpm v1 (uuid {U1}) at the manager vtpmmgr; disk {disk}")), "{}", o.out);
    assert_eq!(fs::read(&disk).unwrap(), vec![5u8; 4096], "the disk image back");
    let l = load(&a, 8, U1);
    assert_eq!(&l[10..], &[5u8; 64][..], "the key back");
    // another manager cannot restore it; a damaged file is refused before anything is sent
    a.0.borrow_mut().disconnect(8);
    let o = t.run(&["restore", &file, "--disk", &t.ps("b.img"), "--manager", "mgrb"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("the blob was made for another manager"), "{}", o.err);
    assert!(b.0.borrow().store().is_empty());
    let mut bytes = fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    fs::write(t.p("bad.backup"), &bytes).unwrap();
    let o = t.run(&["restore", &t.ps("bad.backup"), "--disk", &t.ps("c.img")]);
    assert!(o.code == 1 && o.err.contains("checksum mismatch"), "{}", o.err);
    fs::write(t.p("short.backup"), &bytes[..n - 100]).unwrap();
    let o = t.run(&["restore", &t.ps("short.backup"), "--disk", &t.ps("c.img")]);
    assert!(o.code == 1 && o.err.contains("damaged or truncated"), "{}", o.err);
    assert!(!t.p("c.img").exists());
}

#[test]
fn export_to_another_manager_and_import_once() {
    let (mut t, a, b) = two_managers();
    let o = t.run(&["manager-key", "--manager", "mgrb"]);
    assert_eq!(o.code, 0, "{}", o.err);
    let key = o.out.trim().to_string();
    assert_eq!(key.len(), 64);
    let o = t.run(&["manager-key", "--manager", "mgrb", "--json"]);
    assert_eq!(o.out, format!("{{\"manager\":\"mgrb\",\"algorithm\":\"x25519\",\"public_key\":\"{key}\"}}\n"));
    fs::write(t.p("mgrb.key"), &o.out).unwrap();
    // a running vtpm is not exported
    t.host.xs.add_domain(4, "v2");
    let file = t.ps("v2.export");
    let o = t.run(&["export", "v2", "--to", &key, &file]);
    assert!(o.code == 1 && o.err.contains("vtpm v2 is running (domid 4)"), "{}", o.err);
    t.host.xs.remove_domain(4);
    assert_eq!(t.run(&["export", "v2", "--to", "abcd", &file]).code, 2, "not a key");
    let o = t.run(&["export", "v2", "--to", &t.ps("mgrb.key"), &file]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("its record at the manager vtpmmgr is retired"), "{}", o.out);
    assert_eq!(tpm_rc(&load(&a, 7, U2)), vtpmmgr_core::mgmt::RC_RETIRED, "A refuses the vtpm now");
    // the file is an export, not a backup
    let o = t.run(&["restore", &file]);
    assert!(o.code == 1 && o.err.contains("use vtpmctl import"), "{}", o.err);
    // import on B (vtpmctl still knows v2 here: its disk is replaced in place)
    fs::write(t.p("state/disks/v2.img"), b"old").unwrap();
    let o = t.run(&["import", &file, "--manager", "mgrb"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains(&format!("imported vtpm v2 (uuid {U2}) at the manager mgrb")), "{}", o.out);
    assert_eq!(fs::read(t.p("state/disks/v2.img")).unwrap(), vec![6u8; 4096]);
    assert_eq!(&load(&b, 7, U2)[10..], &[6u8; 64][..], "B serves the same key");
    // a replay is refused and changes nothing
    let before = t.snapshot();
    let o = t.run(&["import", &file, "--manager", "mgrb"]);
    assert_eq!(o.code, 1);
    assert!(o.err.contains("replay refused"), "{}", o.err);
    assert_eq!(t.snapshot(), before);
    // into a third manager with a key of its own: not for it
    let c = InProcessManager::new("manager c");
    t.host.managers.insert("mgrc".into(), c.clone());
    assert_eq!(t.run(&["manager-key", "--manager", "mgrc"]).code, 0);
    let o = t.run(&["import", &file, "--manager", "mgrc", "--disk", &t.ps("c.img")]);
    assert!(o.code == 1 && o.err.contains("the blob was made for another manager"), "{}", o.err);
    assert!(!t.p("c.img").exists());
}

#[test]
fn the_new_commands_have_help_and_usage_errors() {
    let mut t = T::new();
    for cmd in ["backup", "restore", "manager-key", "export", "import"] {
        let o = t.run(&[cmd, "--help"]);
        assert_eq!(o.code, 0, "{cmd}");
        assert!(o.out.starts_with(&format!("usage: vtpmctl {cmd}")), "{cmd}: {}", o.out);
    }
    assert_eq!(t.run(&["backup", "v1"]).code, 2);
    assert_eq!(t.run(&["export", "v1", "f"]).code, 2, "no --to");
    assert_eq!(t.run(&["restore"]).code, 2);
    let o = t.run(&["backup", "nope", "f"]);
    assert!(o.code == 1 && o.err.contains("no vtpm nope"), "{}", o.err);
    let o = t.run(&["manager-key"]);
    assert!(o.code == 1 && o.err.contains("cannot reach the manager vtpmmgr"), "{}", o.err);
    assert!(t.run(&["--help"]).out.contains("export NAME --to KEY FILE"));
}

#[test]
fn hvm_prints_the_attach_bridge_and_cfg_lines() {
    let mut t = T::new();
    let o = t.run(&["hvm", "v1"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("\nxl vtpm-attach 0 backend=v1\n"), "{}", o.out);
    assert!(o.out.contains("\nvtpm-bridge --vtpm v1 --socket /run/vtpm-bridge/v1.sock\n"), "{}", o.out);
    assert!(
        o.out.contains("\"socket,id=chrtpm,path=/run/vtpm-bridge/v1.sock\", \"-tpmdev\", \"emulator,id=tpm0,chardev=chrtpm\", \"-device\", \"tpm-tis,tpmdev=tpm0\" ]"),
        "{}",
        o.out
    );
    let o = t.run(&["hvm", "v1", "--tpm2", "--crb", "--socket", "/tmp/b.sock", "--json"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("tpm-crb,tpmdev=tpm0") && o.out.contains("path=/tmp/b.sock"), "{}", o.out);
    assert_eq!(t.run(&["hvm", "v1", "--crb"]).code, 2, "tpm-crb is TPM 2.0 only");
    assert_eq!(t.run(&["hvm", "v1", "--socket", "/a,b"]).code, 2, "a comma would split QEMU's option");
    assert_eq!(t.run(&["hvm", "v1", "--socket", "rel.sock"]).code, 2);
    assert_eq!(t.run(&["hvm"]).code, 2);
    assert!(t.run(&["hvm", "--help"]).out.starts_with("usage: vtpmctl hvm"));
}

/// A staging root with the manager's cfg at /etc/xen/vtpmmgr.cfg; `systemd` makes it look like
/// a machine systemd runs.
fn install_root(t: &T, systemd: bool) -> String {
    fs::create_dir_all(t.p("root/etc/xen")).unwrap();
    let cfg = fs::read_to_string(crate::testutil::repo_configs().join("vtpmmgr.cfg")).unwrap();
    fs::write(t.p("root/etc/xen/vtpmmgr.cfg"), cfg).unwrap();
    if systemd {
        fs::create_dir_all(t.p("root/run/systemd/system")).unwrap();
    }
    t.ps("root")
}

#[test]
fn install_writes_a_systemd_unit_for_the_manager_once() {
    let mut t = T::new();
    let root = install_root(&t, true);
    let o = t.run(&["install", "--root", &root, "--vtpmctl", "/usr/local/bin/vtpmctl"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("systemctl daemon-reload && systemctl enable --now vtpmmgr.service"), "{}", o.out);
    let unit = fs::read_to_string(t.p("root/etc/systemd/system/vtpmmgr.service")).unwrap();
    for line in [
        "ExecStart=/bin/sh -c '/usr/sbin/xl domid vtpmmgr >/dev/null 2>&1 || exec /usr/sbin/xl create /etc/xen/vtpmmgr.cfg'",
        "ExecStop=/bin/sh -c '! /usr/sbin/xl domid vtpmmgr >/dev/null 2>&1 || exec /usr/sbin/xl shutdown -w vtpmmgr'",
        "ExecStartPost=-/usr/local/bin/vtpmctl reattach --manager vtpmmgr",
        "Before=xendomains.service",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "no line {line:?} in\n{unit}");
    }
    // again: unchanged; changed by hand: refused and left; --force replaces it
    let o = t.run(&["install", "--root", &root, "--vtpmctl", "/usr/local/bin/vtpmctl"]);
    assert!(o.code == 0 && o.out.contains("already installed"), "{}", o.out);
    fs::write(t.p("root/etc/systemd/system/vtpmmgr.service"), "mine\n").unwrap();
    let o = t.run(&["install", "--root", &root]);
    assert!(o.code == 1 && o.err.contains("exists with other contents; nothing written"), "{}", o.err);
    assert_eq!(fs::read_to_string(t.p("root/etc/systemd/system/vtpmmgr.service")).unwrap(), "mine\n");
    let o = t.run(&["install", "--root", &root, "--force", "--vtpmctl", "/usr/local/bin/vtpmctl"]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert_eq!(fs::read_to_string(t.p("root/etc/systemd/system/vtpmmgr.service")).unwrap(), unit);
    // by default the unit names this vtpmctl
    let o = t.run(&["install", "--root", &root, "--print"]);
    let me = std::env::current_exe().unwrap();
    assert!(o.out.contains(&format!("ExecStartPost=-{} reattach --manager vtpmmgr", me.display())), "{}", o.out);
    // --print writes nothing
    let o = t.run(&["install", "--root", &root, "--print", "--xl", "/usr/local/sbin/xl"]);
    assert!(o.code == 0 && o.out.contains("exec /usr/local/sbin/xl create"), "{}", o.out);
    assert_eq!(fs::read_to_string(t.p("root/etc/systemd/system/vtpmmgr.service")).unwrap(), unit);
}

#[test]
fn the_installed_unit_passes_systemd_analyze_verify() {
    let mut t = T::new();
    let root = install_root(&t, true);
    assert_eq!(t.run(&["install", "--root", &root]).code, 0);
    let unit = t.p("root/etc/systemd/system/vtpmmgr.service");
    let Ok(out) = std::process::Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit).output() else {
        eprintln!("systemd-analyze is not installed: the unit's syntax is not checked by systemd here");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "systemd-analyze verify: {:?} {err}", out.status);
}

#[test]
fn the_sysv_script_starts_stops_and_reports_the_manager_through_xl() {
    let mut t = T::new();
    let root = install_root(&t, false);
    // a fake xl that logs its arguments; `domid` succeeds when the file `running` exists
    let xl = t.p("xl");
    let log = t.p("xl.log");
    let running = t.p("running");
    fs::write(
        &xl,
        format!(
            "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$1\" in domid) [ -e {run} ] ;; create) touch {run} ;; shutdown) rm -f {run} ;; esac\n",
            log = log.display(),
            run = running.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&xl, fs::Permissions::from_mode(0o755)).unwrap();
    // a fake vtpmctl that logs its arguments into the same log
    let vtpmctl = t.p("vtpmctl");
    fs::write(&vtpmctl, format!("#!/bin/sh\necho \"vtpmctl $*\" >> {}\n", log.display())).unwrap();
    fs::set_permissions(&vtpmctl, fs::Permissions::from_mode(0o755)).unwrap();
    let o = t.run(&["install", "--root", &root, "--xl", xl.to_str().unwrap(), "--vtpmctl", vtpmctl.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.err);
    assert!(o.out.contains("update-rc.d vtpmmgr defaults"), "{}", o.out);
    let script = t.p("root/etc/init.d/vtpmmgr");
    assert_eq!(fs::metadata(&script).unwrap().permissions().mode() & 0o777, 0o755);
    let text = fs::read_to_string(&script).unwrap();
    assert!(text.contains("# X-Start-Before:    xendomains\n"), "{text}");
    let sh = |arg: &str| std::process::Command::new("sh").arg(&script).arg(arg).output().unwrap();
    let status = |arg: &str| sh(arg).status.code();
    assert_eq!(status("status"), Some(3), "not running yet");
    assert_eq!(status("start"), Some(0));
    assert_eq!(status("status"), Some(0));
    assert_eq!(status("start"), Some(0), "already running: nothing to do");
    assert_eq!(status("stop"), Some(0));
    assert_eq!(status("stop"), Some(0), "already stopped");
    assert_eq!(status("bogus"), Some(2));
    let calls = fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().filter(|l| !l.starts_with("domid")).collect();
    assert_eq!(
        calls,
        ["create /etc/xen/vtpmmgr.cfg", "vtpmctl reattach --manager vtpmmgr", "shutdown -w vtpmmgr"],
        "only one create (then reattach) and one shutdown"
    );
}

#[test]
fn install_refuses_bad_cfgs_and_paths_and_writes_nothing() {
    let mut t = T::new();
    let root = install_root(&t, true);
    let before = t.snapshot();
    assert_eq!(t.run(&["install", "--root", &root, "--cfg", "etc/xen/vtpmmgr.cfg"]).code, 2, "relative");
    assert_eq!(t.run(&["install", "--root", &root, "--cfg", "/etc/xen/my mgr.cfg"]).code, 2, "a space");
    assert_eq!(t.run(&["install", "--root", &root, "--init", "upstart"]).code, 2);
    assert_eq!(t.run(&["install", "--root", &root, "--vtpmctl", "vtpmctl"]).code, 2, "relative");
    let o = t.run(&["install", "--root", &root, "--cfg", "/etc/xen/none.cfg"]);
    assert!(o.code == 1 && o.err.contains("cannot read the manager's cfg"), "{}", o.err);
    for (text, why) in [
        ("type = \"pv\"\n", "has no name"),
        ("name = \"a b\"\n", "has characters other than"),
        ("name = [ \"x\" ]\n", "not one quoted string"),
        ("name = \"x\n", "not closed"),
    ] {
        fs::write(t.p("root/etc/xen/bad.cfg"), text).unwrap();
        let o = t.run(&["install", "--root", &root, "--cfg", "/etc/xen/bad.cfg"]);
        assert!(o.code == 1 && o.err.contains(why), "{text:?}: {}", o.err);
        fs::remove_file(t.p("root/etc/xen/bad.cfg")).unwrap();
    }
    assert_eq!(t.snapshot(), before, "nothing written");
    assert!(t.run(&["install", "--help"]).out.starts_with("usage: vtpmctl install"));
    assert!(t.run(&["--help"]).out.contains("install "));
}

/// A vtpm domain `domid` whose device 0 points at manager domid `mgr` (`backend_dir`: whether
/// the backend's directory is still there).
fn vtpm_device(h: &mut FakeHost, domid: u16, name: &str, mgr: u16, backend_dir: bool) {
    h.xs.add_domain(domid, name);
    let (fe, be) =
        (format!("/local/domain/{domid}/device/vtpm/0"), format!("/local/domain/{mgr}/backend/vtpm/{domid}/0"));
    h.xs.set(&format!("{fe}/backend"), &be);
    h.xs.set(&format!("{fe}/backend-id"), &mgr.to_string());
    h.xs.set(&format!("{fe}/state"), "4");
    if backend_dir {
        h.xs.set(&format!("{be}/state"), "4");
    }
}

const UUID_A: &str = "ac0a5b9e-7b92-4dab-9c3f-2d0c4e1a9f01";
const UUID_B: &str = "5d1c7e42-0b9a-4f63-8e21-7a4b3c2d1e0f";

/// The manager restarted as domid 7 (it was 3): vtpm-a (8) still points at the dead 3, vtpm-b
/// (10) was already re-attached, guest-a (9) uses vtpm-a, vtpm-c (11) belongs to another manager.
fn restarted_manager() -> T {
    let mut t = T::new();
    let h = &mut t.host;
    h.xs.add_domain(7, "vtpmmgr");
    h.xs.add_domain(4, "other-mgr");
    vtpm_device(h, 8, "vtpm-a", 3, false);
    vtpm_device(h, 10, "vtpm-b", 7, true);
    vtpm_device(h, 11, "vtpm-c", 4, true);
    h.xs.add_domain(9, "guest-a");
    h.list_json = format!(
        r#"[{{"domid":0,"config":{{"c_info":{{"name":"Domain-0"}}}}}},
            {{"domid":7,"config":{{"c_info":{{"name":"vtpmmgr"}}}}}},
            {{"domid":8,"config":{{"c_info":{{"name":"vtpm-a"}},"vtpms":[{{"backend_domid":3,"backend_domname":"vtpmmgr","uuid":"{UUID_A}"}}]}}}},
            {{"domid":9,"config":{{"c_info":{{"name":"guest-a"}},"vtpms":[{{"backend_domid":8,"backend_domname":"vtpm-a"}}]}}}},
            {{"domid":10,"config":{{"c_info":{{"name":"vtpm-b"}},"vtpms":[{{"backend_domid":7,"backend_domname":"vtpmmgr","uuid":"{UUID_B}"}}]}}}},
            {{"domid":11,"config":{{"c_info":{{"name":"vtpm-c"}},"vtpms":[{{"backend_domid":4,"backend_domname":"other-mgr","uuid":"{UUID_B}"}}]}}}}]"#
    );
    t
}

#[test]
fn reattach_remakes_the_devices_of_a_restarted_manager_with_libxls_uuids() {
    let mut t = restarted_manager();
    let r = t.run(&["reattach"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(
        t.host.commands,
        ["xl list -l", "xl vtpm-detach 8 0", &format!("xl vtpm-attach 8 backend=vtpmmgr uuid={UUID_A}")]
    );
    assert!(
        r.out.contains(&format!("vtpm-a: vtpm device re-attached to vtpmmgr (domid 7) as device 0, uuid {UUID_A}")),
        "{}",
        r.out
    );
    assert!(r.out.contains("vtpm-b: vtpm device 0 already on vtpmmgr (domid 7)"), "{}", r.out);
    assert!(!r.out.contains("vtpm-c") && !r.out.contains("guest-a"), "{}", r.out);
    let xs = &t.host.xs.tree;
    assert_eq!(xs["/local/domain/8/device/vtpm/0/backend-id"], "7");
    assert_eq!(xs["/local/domain/7/backend/vtpm/8/0/uuid"], UUID_A);
    // the other manager's device is untouched
    assert_eq!(xs["/local/domain/11/device/vtpm/0/backend-id"], "4");

    // a second run finds everything attached and runs no xl device command
    t.host.commands.clear();
    let r = t.run(&["reattach", "--json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(t.host.commands, ["xl list -l"]);
    assert_eq!(r.out.matches("\"result\":\"attached\"").count(), 2, "{}", r.out);
}

#[test]
fn reattach_failures_are_reported_per_device_and_in_the_exit_code() {
    let mut t = restarted_manager();
    t.host.xl_fails.insert("vtpm-attach".into(), "libxl: error: backend domain not found".into());
    let r = t.run(&["reattach", "--manager", "vtpmmgr"]);
    assert_eq!(r.code, 1);
    assert!(r.out.contains("vtpm-a: FAILED: xl vtpm-attach 8 backend=vtpmmgr uuid="), "{}", r.out);
    assert!(r.out.contains("backend domain not found"), "{}", r.out);
    assert!(r.err.contains("reattach: 1 of 2 vtpm devices not re-attached"), "{}", r.err);

    // no manager running: nothing is touched
    let mut t = restarted_manager();
    t.host.xs.remove_domain(7);
    let r = t.run(&["reattach"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("the manager vtpmmgr is not running; start it first"), "{}", r.err);
    assert!(t.host.commands.is_empty());

    // xl's listing unusable
    let mut t = restarted_manager();
    t.host.list_json = "Parsing config\n".into();
    let r = t.run(&["reattach"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("xl list -l printed no JSON"), "{}", r.err);
    assert_eq!(t.host.commands, ["xl list -l"]);

    // nobody uses the manager
    let mut t = restarted_manager();
    let r = t.run(&["reattach", "--manager", "other"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("the manager other is not running"));
    t.host.xs.add_domain(12, "idle-mgr");
    let r = t.run(&["reattach", "--manager", "idle-mgr"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.out,
        "(no console log of idle-mgr: not waiting for its ready line)\nno running domain has a vtpm device served by idle-mgr\n"
    );
}

#[test]
fn reattach_waits_for_the_managers_ready_line_in_its_last_run() {
    let mut t = restarted_manager();
    // the log of the crashed run, then the new run still unsealing
    t.host.consoles.insert(
        "vtpmmgr".into(),
        "vtpmmgr-stubdom 0.1.0 (Rust) starting\nINFO[VTPM]: Waiting for commands from vTPM's:\nvtpmmgr-stubdom 0.1.0 (Rust) starting\n".into(),
    );
    t.host.pending_console.push((
        t.host.now + 20_000,
        "vtpmmgr".into(),
        "INFO[VTPM]: Waiting for commands from vTPM's:".into(),
    ));
    let t0 = t.host.now;
    let r = t.run(&["reattach"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(t.host.now - t0 >= 20_000, "waited for the new run's ready line");
    assert!(r.out.contains("vtpm-a: vtpm device re-attached"), "{}", r.out);

    // never ready: a timeout, nothing touched
    let mut t = restarted_manager();
    t.host.consoles.insert("vtpmmgr".into(), "vtpmmgr-stubdom 0.1.0 (Rust) starting\n".into());
    let r = t.run(&["reattach", "--timeout", "5"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("the manager vtpmmgr is not ready after 5 s"), "{}", r.err);
    assert!(t.host.commands.is_empty());

    // failed to start
    let mut t = restarted_manager();
    t.host.consoles.insert(
        "vtpmmgr".into(),
        "vtpmmgr-stubdom 0.1.0 (Rust) starting\nERROR: the sealed root does not unseal\n".into(),
    );
    let r = t.run(&["reattach"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("failed to start: ERROR: the sealed root does not unseal"), "{}", r.err);
    assert!(t.host.commands.is_empty());
    assert_eq!(t.run(&["reattach", "--timeout", "x"]).code, 2);
    assert!(t.run(&["--help"]).out.contains("reattach "));
}
