//! Host tests over real inputs: disk images built with `sfdisk` and `mke2fs -d` (MBR, GPT,
//! logical partitions, no table), Debian's generated `grub.cfg`, a GRUB legacy `menu.lst`,
//! Debian 12's kernel (when the test bed's cache has it) and small PV kernels compressed with
//! the real `gzip`/`xz`/`zstd` tools; checked against `xz -d`, `readelf` and `sha1sum`.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;
use std::time::Instant;

use common::*;
use pvgrub_loader::decompress::Compression;
use pvgrub_loader::elf::{build, note};
use pvgrub_loader::grub_path::Device;
use pvgrub_loader::loader::find_entry;
use pvgrub_loader::partition::TableKind;
use pvgrub_loader::{BootOptions, BootSource, Disk, LoadError, layout, load, load_kernel};
use vtpm_store::MemDisk;

const MIB_SECTORS: u64 = 2048;

/// `readelf -n`: the Xen notes as type → descriptor bytes.
fn readelf_xen_notes(elf: &std::path::Path) -> BTreeMap<u32, Vec<u8>> {
    let out = Command::new("readelf").arg("-n").arg(elf).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut notes = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        let l = l.trim();
        if !l.starts_with("Xen ") {
            continue;
        }
        // readelf names a few numbers after other owners' notes.
        let kind = if let Some(i) = l.find("(0x") {
            u32::from_str_radix(&l[i + 3..i + 11], 16).unwrap()
        } else if l.contains("NT_VERSION") {
            1
        } else if l.contains("NT_ARCH") {
            2
        } else if l.contains("GO BUILDID") {
            4
        } else {
            panic!("unknown readelf line {l}")
        };
        let desc = lines.next().unwrap().trim().trim_start_matches("description data:").trim().to_string();
        let bytes = desc.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
        notes.insert(kind, bytes);
    }
    notes
}

fn num(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(a)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end_matches('\0').to_string()
}

/// `readelf -lW`: PT_LOAD (offset, vaddr, paddr, filesz, memsz).
fn readelf_loads(elf: &std::path::Path) -> Vec<[u64; 5]> {
    let out = Command::new("readelf").arg("-lW").arg(elf).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim_start().starts_with("LOAD"))
        .map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(5)
                .map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).unwrap())
                .collect();
            [f[0], f[1], f[2], f[3], f[4]]
        })
        .collect()
}

#[test]
fn debian_kernel_from_an_mbr_disk_with_debians_grub_cfg() {
    let dir = TempDir::new("debian-mbr");
    let Some(kernel_path) = debian_kernel(&dir) else { return };
    if !have_tools() {
        return;
    }
    let kernel = fs::read(&kernel_path).unwrap();
    let initrd = initrd_bytes(3 << 20);
    let cfg = debian_grub_cfg("msdos1", ROOT_UUID, "/boot", ROOT_UUID);
    let root = dir.path("root");
    tree(
        &root,
        &[
            ("boot/grub/grub.cfg", cfg.as_bytes()),
            (&format!("boot/{KERNEL_NAME}"), &kernel),
            (&format!("boot/{INITRD_NAME}"), &initrd),
            ("etc/hostname", b"guest\n"),
        ],
    );
    mke2fs(&dir.path("part.img"), &root, ROOT_UUID, 24);
    let bytes = disk(
        &dir.path("disk.img"),
        26 * MIB_SECTORS,
        "label: dos\nstart=2048, size=49152, type=83, bootable\n",
        &[(2048, &dir.path("part.img"))],
    );
    let mut disk = Disk::new(MemDisk::from_image(bytes)).unwrap();
    let t = Instant::now();
    let loaded = load(&mut disk, &BootSource::Config(None)).unwrap();
    eprintln!("loaded and decompressed in {:?}", t.elapsed());
    assert_eq!(loaded.config.as_ref().unwrap().to_string(), "(hd0,msdos1)/boot/grub/grub.cfg");
    assert_eq!(loaded.entry.title.as_deref(), Some("Debian GNU/Linux"));
    assert_eq!(loaded.entry.kernel.to_string(), format!("(hd0,msdos1)/boot/{KERNEL_NAME}"));
    assert_eq!(loaded.entry.initrd.as_ref().unwrap().to_string(), format!("(hd0,msdos1)/boot/{INITRD_NAME}"));
    assert_eq!(loaded.entry.cmdline, format!("root=UUID={ROOT_UUID} ro quiet"));
    eprintln!("notes: {:#?}", loaded.entry.notes);
    assert!(loaded.kernel_file == kernel, "kernel bytes differ from the file");
    assert!(loaded.initrd.as_deref() == Some(&initrd[..]));

    // The decompressed ELF equals what the xz tool makes of the payload.
    assert_eq!(loaded.kernel.compression, Compression::Xz);
    let setup = usize::from(kernel[0x1f1]);
    let off = (setup + 1) * 512 + u32::from_le_bytes(kernel[0x248..0x24c].try_into().unwrap()) as usize;
    let len = u32::from_le_bytes(kernel[0x24c..0x250].try_into().unwrap()) as usize;
    fs::write(dir.path("payload.xz"), &kernel[off..off + len]).unwrap();
    let xz = Command::new("xz").args(["-dc", "--single-stream"]).arg(dir.path("payload.xz")).output().unwrap();
    assert!(xz.status.success());
    assert_eq!(loaded.kernel.elf.len(), xz.stdout.len());
    assert!(loaded.kernel.elf == xz.stdout, "decompressed kernel differs from xz -d");
    fs::write(dir.path("vmlinux"), &xz.stdout).unwrap();

    // Notes and segments against readelf.
    let re = readelf_xen_notes(&dir.path("vmlinux"));
    let n = &loaded.kernel.pv.notes;
    assert_eq!(n.count, re.len());
    assert_eq!(n.entry, re.get(&note::ENTRY).map(|d| num(d)));
    assert_eq!(n.hypercall_page, re.get(&note::HYPERCALL_PAGE).map(|d| num(d)));
    assert_eq!(n.virt_base, re.get(&note::VIRT_BASE).map(|d| num(d)));
    assert_eq!(n.paddr_offset, re.get(&note::PADDR_OFFSET).map(|d| num(d)));
    assert_eq!(n.init_p2m, re.get(&note::INIT_P2M).map(|d| num(d)));
    assert_eq!(n.mod_start_pfn, re.get(&note::MOD_START_PFN).map(|d| num(d)));
    assert_eq!(n.phys32_entry, re.get(&note::PHYS32_ENTRY).map(|d| num(d)));
    assert_eq!(n.xen_version, re.get(&note::XEN_VERSION).map(|d| text(d)));
    assert_eq!(n.loader, re.get(&note::LOADER).map(|d| text(d)));
    assert_eq!(n.features, re.get(&note::FEATURES).map(|d| text(d)));
    assert_eq!(n.guest_os.as_deref(), Some("linux"));
    assert_eq!(n.xen_version.as_deref(), Some("xen-3.0"));
    assert_eq!(n.virt_base, Some(0xffff_ffff_8000_0000));
    assert_eq!(loaded.kernel.pv.entry, n.entry.unwrap());
    let loads = readelf_loads(&dir.path("vmlinux"));
    let ours: Vec<[u64; 5]> =
        loaded.kernel.pv.segments.iter().map(|s| [s.offset, s.vaddr, s.paddr, s.filesz, s.memsz]).collect();
    assert_eq!(ours, loads);
    eprintln!(
        "Debian kernel: {} bytes, payload xz {} bytes -> ELF {} bytes; entry {:#x}; hypercall page {:?}; kernel {:#x}..{:#x}",
        kernel.len(),
        len,
        loaded.kernel.elf.len(),
        loaded.kernel.pv.entry,
        n.hypercall_page,
        loaded.kernel.pv.virt_kstart,
        loaded.kernel.pv.virt_kend
    );

    // PCRs against sha1sum and the extend arithmetic done here.
    let p = loaded.prediction();
    let (pcr4, pcr5) = independent_pcrs(&dir, &kernel, loaded.entry.cmdline.as_bytes(), &initrd);
    assert_eq!(hex(&p.pcr4), hex(&pcr4));
    assert_eq!(hex(&p.pcr5), hex(&pcr5));
    eprintln!("PCR4={} PCR5={}", hex(&p.pcr4), hex(&p.pcr5));

    // The layout for a 256 MiB domain.
    let l = layout::compute(&loaded.kernel.pv, initrd.len() as u64, 65536).unwrap();
    assert_eq!(l.kernel.pfn, 0x1000);
    assert_eq!(l.start_info.pfn, l.kernel.end_pfn());
    assert_eq!(l.initrd.unwrap().va, None);
    assert_eq!(l.p2m.va, Some(1 << 39));
    eprintln!("layout: {l:#x?}");
    assert!(layout::compute(&loaded.kernel.pv, initrd.len() as u64, 16384).is_err());
}

#[test]
fn debian_grub_cfg_on_a_gpt_boot_partition_with_a_submenu_default() {
    let dir = TempDir::new("debian-gpt");
    let Some(kernel_path) = debian_kernel(&dir) else { return };
    if !have_tools() {
        return;
    }
    let kernel = fs::read(&kernel_path).unwrap();
    let initrd = initrd_bytes(1 << 20);
    // /boot is its own partition (gpt1); the hint says gpt2, the UUID search finds gpt1.
    let cfg = debian_grub_cfg("gpt2", BOOT_UUID, "", ROOT_UUID).replace(
        "set default=\"0\"",
        &format!("set default=\"gnulinux-advanced-{ROOT_UUID}>gnulinux-6.1.0-57-amd64-recovery-{ROOT_UUID}\""),
    );
    let boot = dir.path("boot");
    tree(&boot, &[("grub/grub.cfg", cfg.as_bytes()), (KERNEL_NAME, &kernel), (INITRD_NAME, &initrd)]);
    let root = dir.path("root");
    tree(&root, &[("etc/hostname", b"guest\n")]);
    mke2fs(&dir.path("boot.img"), &boot, BOOT_UUID, 16);
    mke2fs(&dir.path("root.img"), &root, ROOT_UUID, 4);
    let lin = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
    let bytes = disk(
        &dir.path("disk.img"),
        24 * MIB_SECTORS,
        &format!("label: gpt\nstart=2048, size=32768, type={lin}\nstart=34816, size=8192, type={lin}\n"),
        &[(2048, &dir.path("boot.img")), (34816, &dir.path("root.img"))],
    );
    let mut disk = Disk::new(MemDisk::from_image(bytes)).unwrap();
    let (entry, config) = find_entry(&mut disk, &BootSource::Config(None)).unwrap();
    let gpt = |n| Device::Partition { number: n, table: Some(TableKind::Gpt) };
    assert_eq!(config.unwrap().to_string(), "(hd0,gpt1)/grub/grub.cfg");
    assert_eq!(entry.title.as_deref(), Some("Debian GNU/Linux, with Linux 6.1.0-57-amd64 (recovery mode)"));
    assert_eq!(entry.kernel.device, gpt(1));
    assert_eq!(entry.kernel.path, format!("/{KERNEL_NAME}"));
    assert_eq!(entry.cmdline, format!("root=UUID={ROOT_UUID} ro single console=hvc0"));
    assert!(disk.read_file(entry.kernel.device, &entry.kernel.path).unwrap() == kernel);
    assert_eq!(disk.fs_uuid(gpt(2)).as_deref(), Some(ROOT_UUID));
    assert_eq!(disk.find_fs_uuid(ROOT_UUID), Some(gpt(2)));

    // A damaged primary GPT header: the backup is used. Both damaged: a clear error.
    let mut raw2 = disk_bytes_with_parts(&dir);
    raw2[512 + 40] ^= 0x5a;
    let mut d = Disk::new(MemDisk::from_image(raw2.clone())).unwrap();
    assert_eq!(d.table().partitions.len(), 2);
    assert!(d.has_file(gpt(1), "/grub/grub.cfg"));
    let last = raw2.len() - 512;
    raw2[last + 40] ^= 0x5a;
    match Disk::new(MemDisk::from_image(raw2)) {
        Err(LoadError::BadGpt(m)) => {
            assert!(m.contains("primary header: header CRC32 mismatch"), "{m}");
            assert!(m.contains("backup header: header CRC32 mismatch"), "{m}");
        }
        other => panic!("expected BadGpt, got {:?}", other.map(|_| ())),
    }
}

/// The GPT test's disk again, with its partitions written in.
fn disk_bytes_with_parts(dir: &TempDir) -> Vec<u8> {
    let mut raw = fs::read(dir.path("disk.img")).unwrap();
    for (start, img) in [(2048usize, "boot.img"), (34816, "root.img")] {
        let data = fs::read(dir.path(img)).unwrap();
        raw[start * 512..start * 512 + data.len()].copy_from_slice(&data);
    }
    raw
}

/// A small PV kernel ELF shaped like Linux's (notes, one segment).
fn small_pv_elf() -> Vec<u8> {
    let vb = 0xffff_ffff_8000_0000u64;
    let code: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    build::elf(
        vb,
        0x100_0000,
        &code,
        &[
            (note::GUEST_OS, b"linux\0"),
            (note::XEN_VERSION, b"xen-3.0\0"),
            (note::LOADER, b"generic\0"),
            (note::VIRT_BASE, &vb.to_le_bytes()),
            (note::PADDR_OFFSET, &0u64.to_le_bytes()),
            (note::ENTRY, &(vb + 0x100_2000).to_le_bytes()),
            (note::MOD_START_PFN, &1u32.to_le_bytes()),
            (note::INIT_P2M, &(1u64 << 39).to_le_bytes()),
        ],
    )
}

#[test]
fn legacy_menu_lst_in_a_logical_partition_with_a_gzip_kernel() {
    let dir = TempDir::new("legacy");
    if !have_tools() {
        return;
    }
    let elf = small_pv_elf();
    let kernel = fake_bzimage(&compress("gzip", &["-9", "-n"], &elf));
    let initrd = initrd_bytes(70_000);
    let menu = "# menu.lst\ndefault 1\ntimeout 5\n\ntitle Broken\n  kernel /nonexistent\ntitle Debian GNU/Linux, kernel 6.1\n  root (hd0,4)\n  kernel /boot/vmlinuz root=/dev/xvda5 ro console=hvc0\n  initrd /boot/initrd.img\n";
    let root = dir.path("root");
    tree(&root, &[("boot/grub/menu.lst", menu.as_bytes()), ("boot/vmlinuz", &kernel), ("boot/initrd.img", &initrd)]);
    let empty = dir.path("empty");
    tree(&empty, &[("README", b"first partition\n")]);
    mke2fs(&dir.path("p1.img"), &empty, BOOT_UUID, 2);
    mke2fs(&dir.path("p5.img"), &root, ROOT_UUID, 4);
    let script = "label: dos\nd.img1 : start=2048, size=4096, type=83\nd.img2 : start=8192, size=12288, type=5\nd.img5 : start=10240, size=8192, type=83\n";
    let bytes = disk(
        &dir.path("d.img"),
        12 * MIB_SECTORS,
        script,
        &[(2048, &dir.path("p1.img")), (10240, &dir.path("p5.img"))],
    );
    let mut disk = Disk::new(MemDisk::from_image(bytes)).unwrap();
    let numbers: Vec<u32> = disk.table().partitions.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 5]);
    let opts = BootOptions::parse([("(hd0,4)/boot/grub/menu.lst", None), ("vtpm-required", None)]).unwrap();
    assert!(opts.vtpm_required);
    let loaded = load(&mut disk, &opts.source).unwrap();
    assert_eq!(loaded.config.as_ref().unwrap().to_string(), "(hd0,5)/boot/grub/menu.lst");
    assert_eq!(loaded.entry.kernel.device, Device::Partition { number: 5, table: None });
    assert_eq!(loaded.entry.cmdline, "root=/dev/xvda5 ro console=hvc0");
    assert_eq!(loaded.kernel.compression, Compression::Gzip);
    assert!(loaded.kernel.elf == elf);
    assert!(loaded.kernel_file == kernel);
    let p = loaded.prediction();
    let (pcr4, pcr5) = independent_pcrs(&dir, &kernel, loaded.entry.cmdline.as_bytes(), &initrd);
    assert_eq!((p.pcr4, p.pcr5), (pcr4, pcr5));
}

#[test]
fn direct_kernel_option_on_a_disk_without_a_table_with_a_zstd_kernel() {
    let dir = TempDir::new("direct");
    if !have_tools() {
        return;
    }
    let elf = small_pv_elf();
    let kernel = fake_bzimage(&compress("zstd", &["-19", "-q", "-c"], &elf));
    let xz_kernel = fake_bzimage(&compress("xz", &["--check=crc32", "--x86", "--lzma2=preset=6", "-c"], &elf));
    let root = dir.path("root");
    tree(&root, &[("boot/vmlinuz", &kernel), ("boot/vmlinuz.xz", &xz_kernel)]);
    mke2fs(&dir.path("fs.img"), &root, ROOT_UUID, 4);
    let mut disk = Disk::new(MemDisk::from_image(fs::read(dir.path("fs.img")).unwrap())).unwrap();
    assert_eq!(disk.table().kind, None);
    let opts =
        BootOptions::parse([("kernel", Some("/boot/vmlinuz")), ("cmdline", Some("console=hvc0 root=/dev/xvda"))])
            .unwrap();
    let loaded = load(&mut disk, &opts.source).unwrap();
    assert_eq!(loaded.entry.kernel.device, Device::Whole);
    assert_eq!(loaded.kernel.compression, Compression::Zstd);
    assert!(loaded.kernel.elf == elf);
    assert_eq!(loaded.initrd, None);
    let p = loaded.prediction();
    let (pcr4, pcr5) = independent_pcrs(&dir, &kernel, b"console=hvc0 root=/dev/xvda", b"");
    assert_eq!((p.pcr4, p.pcr5), (pcr4, pcr5));
    let opts = BootOptions::parse([("kernel", Some("(hd0)/boot/vmlinuz.xz"))]).unwrap();
    let loaded = load(&mut disk, &opts.source).unwrap();
    assert_eq!(loaded.kernel.compression, Compression::Xz);
    assert!(loaded.kernel.elf == elf);
}

#[test]
fn bad_disks_configs_and_kernels_are_clear_errors() {
    let dir = TempDir::new("negative");
    if !have_tools() {
        return;
    }
    let not_pv = build::elf(0, 0x10_0000, &[0x90; 5000], &[]);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("boot/notpv".into(), fake_bzimage(&compress("xz", &["--check=crc32", "-c"], &not_pv))),
        ("boot/bzip2".into(), fake_bzimage(b"BZh91AY&SY\x01\x02\x03\x04\x05\x06\x07\x08")),
        ("boot/lz4".into(), fake_bzimage(&[0x02, 0x21, 0x4c, 0x18, 9, 9, 9, 9, 9, 9])),
        ("boot/garbage".into(), initrd_bytes(10_000)),
        (
            "boot/truncated".into(),
            fake_bzimage(&compress("xz", &["--check=crc32", "-c"], &small_pv_elf()))[..1500].to_vec(),
        ),
    ];
    let root = dir.path("root");
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
    tree(&root, &refs);
    mke2fs(&dir.path("p.img"), &root, ROOT_UUID, 4);
    let bytes = disk(
        &dir.path("d.img"),
        6 * MIB_SECTORS,
        "label: dos\nstart=2048, size=8192, type=83\n",
        &[(2048, &dir.path("p.img"))],
    );
    let mut disk = Disk::new(MemDisk::from_image(bytes.clone())).unwrap();
    let kernel = |disk: &mut Disk<MemDisk>, k: &str| {
        let opts = BootOptions::parse([("kernel", Some(k))]).unwrap();
        let e = load(disk, &opts.source).map(|_| ()).unwrap_err();
        eprintln!("{k}: {e}");
        e
    };
    let e = kernel(&mut disk, "/boot/notpv");
    assert!(matches!(e.root(), LoadError::NotPv(_)), "{e}");
    assert!(e.to_string().starts_with("(hd0,msdos1)/boot/notpv: not a Xen PV kernel"), "{e}");
    assert_eq!(kernel(&mut disk, "/boot/bzip2").root(), &LoadError::UnsupportedCompression("bzip2"));
    assert_eq!(kernel(&mut disk, "/boot/lz4").root(), &LoadError::UnsupportedCompression("lz4"));
    assert!(matches!(kernel(&mut disk, "/boot/garbage").root(), LoadError::BadBzImage(_)));
    assert!(matches!(kernel(&mut disk, "/boot/truncated").root(), LoadError::BadBzImage(_) | LoadError::Decompress(_)));
    assert!(matches!(kernel(&mut disk, "/boot/missing"), LoadError::FileNotFound(_)));
    assert!(matches!(kernel(&mut disk, "(hd0,msdos1)/boot/missing"), LoadError::FileNotFound(_)));
    assert!(matches!(kernel(&mut disk, "(hd0,1)/boot/notpv"), LoadError::NoSuchPartition(_)));

    // No grub.cfg or menu.lst anywhere.
    let e = load(&mut disk, &BootSource::Config(None)).map(|_| ()).unwrap_err();
    assert!(matches!(e, LoadError::NoConfig(_)), "{e}");
    eprintln!("no config: {e}");

    // An entry naming a missing file.
    let cfg =
        "set default=0\nmenuentry 'Gone' {\n\tlinux /boot/vmlinuz-gone root=/dev/xvda1\n\tinitrd /boot/initrd.img\n}\n";
    let root2 = dir.path("root2");
    tree(&root2, &[("boot/grub/grub.cfg", cfg.as_bytes())]);
    mke2fs(&dir.path("p2.img"), &root2, ROOT_UUID, 4);
    let bytes2 = disk_with(&dir, &dir.path("p2.img"));
    let mut d2 = Disk::new(MemDisk::from_image(bytes2)).unwrap();
    let e = load(&mut d2, &BootSource::Config(None)).map(|_| ()).unwrap_err();
    assert_eq!(e, LoadError::FileNotFound("(hd0,msdos1)/boot/vmlinuz-gone".into()));
    eprintln!("missing kernel: {e}");

    // A truncated disk: the table says the partition runs past its end.
    let cut = MemDisk::from_image(bytes[..3 * 1024 * 1024].to_vec());
    let e = Disk::new(cut).map(|_| ()).unwrap_err();
    assert!(matches!(e, LoadError::BadMbr(ref m) if m.contains("past the end")), "{e}");
    eprintln!("truncated disk: {e}");
    // A file system cut short (no table): reading it fails cleanly.
    let fs_img = fs::read(dir.path("p.img")).unwrap();
    let mut short = Disk::new(MemDisk::from_image(fs_img[..600 * 1024].to_vec())).unwrap();
    let e = short.read_file(Device::Whole, "/boot/notpv").unwrap_err();
    assert!(matches!(e, LoadError::Filesystem(_)), "{e}");
    eprintln!("truncated file system: {e}");
    // Not a file system at all.
    let mut blank = Disk::new(MemDisk::new(4096)).unwrap();
    assert!(matches!(blank.read_file(Device::Whole, "/x"), Err(LoadError::Filesystem(_))));
}

fn disk_with(dir: &TempDir, part: &std::path::Path) -> Vec<u8> {
    disk(&dir.path("d2.img"), 6 * MIB_SECTORS, "label: dos\nstart=2048, size=8192, type=83\n", &[(2048, part)])
}

#[test]
fn load_kernel_rejects_a_non_elf_payload() {
    let kernel = fake_bzimage(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]);
    assert!(load_kernel(&kernel).is_err());
}

#[test]
fn loading_by_fetching_chunks_gives_what_a_direct_load_gives() {
    let dir = TempDir::new("fetch");
    if !have_tools() {
        return;
    }
    let elf = small_pv_elf();
    let kernel = fake_bzimage(&compress("xz", &["--check=crc32", "-c"], &elf));
    let initrd = initrd_bytes(3 << 20);
    let cfg = debian_grub_cfg("msdos1", ROOT_UUID, "/boot", ROOT_UUID);
    let root = dir.path("root");
    tree(
        &root,
        &[
            ("boot/grub/grub.cfg", cfg.as_bytes()),
            (&format!("boot/{KERNEL_NAME}"), &kernel),
            (&format!("boot/{INITRD_NAME}"), &initrd),
        ],
    );
    mke2fs(&dir.path("p.img"), &root, ROOT_UUID, 8);
    let bytes = disk(
        &dir.path("d.img"),
        10 * MIB_SECTORS,
        "label: dos\nstart=2048, size=16384, type=83\n",
        &[(2048, &dir.path("p.img"))],
    );
    let mut direct = Disk::new(MemDisk::from_image(bytes.clone())).unwrap();
    let want = load(&mut direct, &BootSource::Config(None)).unwrap();
    let sectors = (bytes.len() / 512) as u64;
    let mut reads = 0u64;
    let (got, stats) = pvgrub_loader::fetch::load_by_fetching(sectors, &BootSource::Config(None), |first, buf| {
        reads += buf.len() as u64;
        let at = first as usize * 512;
        buf.copy_from_slice(&bytes[at..at + buf.len()]);
        Ok(())
    })
    .unwrap();
    eprintln!("fetch: {stats:?}");
    assert_eq!(got.entry, want.entry);
    assert!(got.kernel_file == want.kernel_file && got.initrd == want.initrd && got.kernel.elf == want.kernel.elf);
    assert_eq!(stats.bytes, reads);
    assert!(stats.rounds > 1 && stats.rounds < 200, "{stats:?}");
    assert!(reads < bytes.len() as u64, "read the whole disk");
    // A failing disk is a disk error, not a panic or a hang.
    let e = pvgrub_loader::fetch::load_by_fetching(sectors, &BootSource::Config(None), |_, _| {
        Err(vtpm_store::BlockError::Io)
    })
    .map(|_| ())
    .unwrap_err();
    assert_eq!(e, LoadError::Disk(vtpm_store::BlockError::Io));
}
