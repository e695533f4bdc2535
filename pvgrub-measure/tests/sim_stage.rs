//! The image's stage (`pvgrub_measure::stage::run`) on the simulated Xen: the guest's disk
//! behind the simulated blkback (an ext4 image made by `mke2fs -d` with a grub.cfg and a small
//! gzip-compressed PV kernel), the measurements through tpmfront and tpmback into the real TPM
//! 1.2 engine; the engine's PCRs then equal the prediction. Also: no vTPM (optional and
//! required), no disk, and a kernel that is not PV.

use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::rc::Rc;

use drivers::tpmfront::{FrontStyle, TpmFront};
use integration_tests::fake_tpm;
use integration_tests::simxen::blkback::{Blkback, Flavor};
use integration_tests::simxen::{World, toolstack};
use integration_tests::vtpm_sim::spawn_shared_vtpm;
use pvgrub_loader::elf::{build, note};
use pvgrub_measure::stage::{Outcome, run};
use tpm12::platform::ManualClock;
use tpm12::testing::DetRng;
use tpm12::{Tpm, TpmOptions};
use vtpm::Tpm12Engine;

const S: u64 = 1_000_000_000;
const GUEST: u16 = 3;
const UUID: &str = "11111111-2222-3333-4444-555555555555";

fn engine() -> Rc<RefCell<Tpm12Engine>> {
    let opts = TpmOptions { ek_bits: 1024, ..TpmOptions::default() };
    let mut tpm = Tpm::manufacture(Box::new(DetRng::new(7)), Box::new(ManualClock(0)), opts).expect("manufacture");
    let r = tpm.execute(0, &[0x00, 0xC1, 0, 0, 0, 12, 0, 0, 0, 0x99, 0, 1]);
    assert_eq!(&r[6..10], &[0, 0, 0, 0], "TPM_Startup(ST_CLEAR)");
    Rc::new(RefCell::new(Tpm12Engine(tpm)))
}

fn pv_elf(with_notes: bool) -> Vec<u8> {
    let vb = 0xffff_ffff_8000_0000u64;
    let notes: Vec<(u32, Vec<u8>)> = if with_notes {
        vec![
            (note::XEN_VERSION, b"xen-3.0\0".to_vec()),
            (note::VIRT_BASE, vb.to_le_bytes().to_vec()),
            (note::PADDR_OFFSET, 0u64.to_le_bytes().to_vec()),
            (note::ENTRY, (vb + 0x100_0000).to_le_bytes().to_vec()),
            (note::MOD_START_PFN, 1u32.to_le_bytes().to_vec()),
        ]
    } else {
        vec![]
    };
    let refs: Vec<(u32, &[u8])> = notes.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    build::elf(vb, 0x100_0000, &vec![0x90; 50_000], &refs)
}

fn gzip_bzimage(elf: &[u8]) -> Vec<u8> {
    let mut child =
        Command::new("gzip").args(["-9", "-n"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(elf).unwrap();
    let mut payload = child.wait_with_output().unwrap().stdout;
    payload.extend_from_slice(&(elf.len() as u32).to_le_bytes());
    let mut f = vec![0u8; 4 * 512];
    f[0x1f1] = 3;
    f[0x202..0x206].copy_from_slice(b"HdrS");
    f[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    f[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(&payload);
    f
}

/// An ext4 file system (no partition table) holding `files`; `None` without mke2fs.
fn fs_image(name: &str, files: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    if Command::new("mke2fs").arg("-V").output().is_err() || Command::new("gzip").arg("-V").output().is_err() {
        eprintln!("SKIP: mke2fs or gzip is not installed");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("pvgrub-sim-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    for (rel, data) in files {
        let p = dir.join("root").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
    let img = dir.join("fs.img");
    let ok = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-U", "0f3c5d2e-6a1b-4c7d-9e8f-112233445566", "-d"])
        .arg(dir.join("root"))
        .arg(&img)
        .arg("8M")
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let bytes = fs::read(&img).unwrap();
    let _ = fs::remove_dir_all(&dir);
    Some(bytes)
}

const GRUB_CFG: &str = "set default=\"0\"\nmenuentry 'Debian GNU/Linux' --class debian {\n\tsearch --no-floppy --fs-uuid --set=root 0f3c5d2e-6a1b-4c7d-9e8f-112233445566\n\tlinux\t/boot/vmlinuz root=/dev/xvda ro quiet\n\tinitrd\t/boot/initrd.img\n}\n";

/// A world with the guest, its disk behind blkback (dom 0) and, if asked, a vtpm (dom 1).
fn world(disk: Option<Vec<u8>>, with_vtpm: bool) -> (World, integration_tests::simxen::SimDomain) {
    let w = World::new();
    if with_vtpm {
        w.add_domain(1);
    }
    let guest = w.add_domain(GUEST);
    if let Some(d) = disk {
        toolstack::vbd_attach(&w, GUEST, 0, 51712);
        Blkback::spawn(&w, 0, Flavor::LinuxBlkback, Rc::new(RefCell::new(d)), 512, true);
    }
    if with_vtpm {
        toolstack::vtpm_attach(&w, GUEST, 1, 0, UUID);
        spawn_shared_vtpm(&w, 1, engine());
    }
    (w, guest)
}

fn run_stage(g: &mut integration_tests::simxen::SimDomain, opts: &[(&str, Option<&str>)]) -> (Outcome, Vec<String>) {
    let mut lines = Vec::new();
    let outcome = run(g, opts.iter().copied(), 65536, &mut |l| lines.push(l.to_string()));
    for l in &lines {
        eprintln!("{l}");
    }
    (outcome, lines)
}

#[test]
fn loads_from_the_disk_and_measures_into_the_real_engine() {
    let kernel = gzip_bzimage(&pv_elf(true));
    let initrd: Vec<u8> = (0..123_457u32).map(|i| (i % 199) as u8).collect();
    let files: [(&str, &[u8]); 3] =
        [("boot/grub/grub.cfg", GRUB_CFG.as_bytes()), ("boot/vmlinuz", &kernel), ("boot/initrd.img", &initrd)];
    let Some(img) = fs_image("full", &files) else { return };
    let (w, mut g) = world(Some(img), true);
    let (outcome, lines) = run_stage(&mut g, &[("loglevel", Some("info")), ("boot", Some("none"))]);
    let Outcome::Loaded { loaded, prediction, measured, boot } = outcome else { panic!("{outcome:?}") };
    assert_eq!(boot, pvgrub_loader::BootMode::None);
    assert!(measured);
    assert!(loaded.kernel_file == kernel && loaded.initrd.as_deref() == Some(&initrd[..]));
    assert_eq!(loaded.entry.cmdline, "root=/dev/xvda ro quiet");
    let last = lines.last().unwrap();
    assert!(last.starts_with("pvgrub-measure: loaded (hd0)/boot/vmlinuz ("), "{last}");
    assert!(last.ends_with("; not booting it (boot=none)"), "{last}");
    assert!(last.contains(&format!("PCR4={}", pvgrub_loader::measure::hex(&prediction.pcr4))));
    assert!(lines.iter().any(|l| l.contains("measured into the vTPM")));
    assert!(
        lines.iter().any(|l| l.starts_with("pvgrub-measure: of which disk I/O ")
            && l.ends_with(" ms")
            && l.contains(" ms, finding, decompressing and checking ")),
        "{lines:?}"
    );
    // The device was handed back (Initialising), as for the kernel booted next.
    assert_eq!(toolstack::state(&w, &format!("/local/domain/{GUEST}/device/vtpm/0")), Some(1));
    // The engine's PCRs are the prediction.
    let mut front: TpmFront<_> = TpmFront::new("device/vtpm/0");
    front.connect(&mut g, FrontStyle::MiniOs, 5 * S).unwrap();
    let r = front.transact(&mut g, &fake_tpm::pcr_read(4), 5 * S).unwrap();
    assert_eq!(&r[10..30], &prediction.pcr4);
    let r = front.transact(&mut g, &fake_tpm::pcr_read(5), 5 * S).unwrap();
    assert_eq!(&r[10..30], &prediction.pcr5);
    let p = loaded.plan();
    let pcr5 = fake_tpm::extend_value(&fake_tpm::extend_value(&[0; 20], &p[1].digest), &p[2].digest);
    assert_eq!(prediction.pcr5, pcr5);
}

#[test]
fn without_a_vtpm_it_says_so_unless_one_is_required() {
    let kernel = gzip_bzimage(&pv_elf(true));
    let files: [(&str, &[u8]); 3] =
        [("boot/grub/grub.cfg", GRUB_CFG.as_bytes()), ("boot/vmlinuz", &kernel), ("boot/initrd.img", b"initrd")];
    let Some(img) = fs_image("novtpm", &files) else { return };
    let (_w, mut g) = world(Some(img.clone()), false);
    let (outcome, lines) = run_stage(&mut g, &[]);
    assert!(matches!(outcome, Outcome::Loaded { measured: false, .. }), "{outcome:?}");
    assert!(lines.iter().any(|l| l.contains("no vTPM (no device/vtpm/0 (xl vtpm=)): nothing measured")), "{lines:?}");
    let (_w, mut g) = world(Some(img.clone()), false);
    let (outcome, _) = run_stage(&mut g, &[("vtpm-required", None)]);
    assert!(matches!(outcome, Outcome::Stop(ref m) if m.contains("a vTPM is required")), "{outcome:?}");
    let (_w, mut g) = world(Some(img), false);
    let (outcome, _) = run_stage(&mut g, &[("--vtpm-label", Some("system_u:system_r:vtpm_t"))]);
    assert!(matches!(outcome, Outcome::Stop(_)), "{outcome:?}");
}

#[test]
fn no_disk_bad_options_and_a_non_pv_kernel_stop_or_wait() {
    let (_w, mut g) = world(None, false);
    assert!(matches!(run_stage(&mut g, &[]).0, Outcome::Idle));
    let (outcome, lines) = run_stage(&mut g, &[("kernel", Some("/boot/vmlinuz"))]);
    assert!(matches!(outcome, Outcome::Stop(_)), "{outcome:?}");
    assert_eq!(
        lines.last().unwrap(),
        "pvgrub-measure: no disk (xl disk=) to load the kernel from; stopping the domain"
    );
    let (outcome, _) = run_stage(&mut g, &[("cmdline", Some("x"))]);
    assert!(matches!(outcome, Outcome::Stop(ref m) if m.contains("need kernel=")), "{outcome:?}");

    let kernel = gzip_bzimage(&pv_elf(false));
    let files: [(&str, &[u8]); 3] =
        [("boot/grub/grub.cfg", GRUB_CFG.as_bytes()), ("boot/vmlinuz", &kernel), ("boot/initrd.img", b"initrd")];
    let Some(img) = fs_image("notpv", &files) else { return };
    let (_w, mut g) = world(Some(img), true);
    let (outcome, lines) = run_stage(&mut g, &[]);
    assert!(matches!(outcome, Outcome::Stop(ref m) if m.contains("not a Xen PV kernel")), "{outcome:?}");
    assert!(lines.last().unwrap().ends_with("; stopping the domain"));
}

#[test]
fn boot_inplace_says_booting_and_hands_the_disk_back_initialising() {
    let kernel = gzip_bzimage(&pv_elf(true));
    let files: [(&str, &[u8]); 3] =
        [("boot/grub/grub.cfg", GRUB_CFG.as_bytes()), ("boot/vmlinuz", &kernel), ("boot/initrd.img", b"initrd")];
    let Some(img) = fs_image("inplace", &files) else { return };
    let (w, mut g) = world(Some(img), true);
    let (outcome, lines) = run_stage(&mut g, &[("boot", Some("inplace"))]);
    let Outcome::Loaded { prediction, boot, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(boot, pvgrub_loader::BootMode::InPlace);
    let last = lines.last().unwrap();
    assert_eq!(
        last,
        &format!(
            "pvgrub-measure: booting (hd0)/boot/vmlinuz ({} bytes), initrd 6 bytes; PCR4={} PCR5={}",
            kernel.len(),
            pvgrub_loader::measure::hex(&prediction.pcr4),
            pvgrub_loader::measure::hex(&prediction.pcr5)
        )
    );
    assert!(!lines.iter().any(|l| l.contains("not implemented")), "{lines:?}");
    // The disk is back in Initialising, where a Linux frontend probes it.
    let vbd = format!("/local/domain/{GUEST}/device/vbd/51712");
    assert_eq!(toolstack::state(&w, &vbd), Some(1), "{vbd}");
    let (_w, mut g) = world(None, true);
    let (outcome, _) = run_stage(&mut g, &[("boot", Some("kexec"))]);
    assert!(matches!(outcome, Outcome::Stop(ref m) if m.contains("boot=kexec")), "{outcome:?}");
}

#[test]
fn the_default_is_the_in_place_boot() {
    let kernel = gzip_bzimage(&pv_elf(true));
    let files: [(&str, &[u8]); 3] =
        [("boot/grub/grub.cfg", GRUB_CFG.as_bytes()), ("boot/vmlinuz", &kernel), ("boot/initrd.img", b"initrd")];
    let Some(img) = fs_image("default", &files) else { return };
    let (_w, mut g) = world(Some(img), true);
    let (outcome, lines) = run_stage(&mut g, &[("loglevel", Some("info"))]);
    let Outcome::Loaded { boot, measured, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(boot, pvgrub_loader::BootMode::InPlace);
    assert!(measured);
    assert!(lines.last().unwrap().starts_with("pvgrub-measure: booting (hd0)/boot/vmlinuz ("), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("not booting")), "{lines:?}");
}

/// The e2e `pvboot` scenario's broken guest: a disk of zeros (no partition table, no file
/// system) is one line ending "stopping the domain", and nothing is booted.
#[test]
fn a_zeroed_disk_is_one_stop_line() {
    let (_w, mut g) = world(Some(vec![0u8; 4 << 20]), false);
    let (outcome, lines) = run_stage(&mut g, &[("loglevel", Some("info"))]);
    assert!(matches!(outcome, Outcome::Stop(_)), "{outcome:?}");
    let stops: Vec<&String> = lines.iter().filter(|l| l.contains("stopping the domain")).collect();
    assert_eq!(stops.len(), 1, "{lines:?}");
    assert!(lines.last().unwrap().ends_with("; stopping the domain"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("booting")), "{lines:?}");
}
