//! `pvgrub-measure predict` on the host: its PCR values against `sha1sum` and the extend
//! arithmetic done here, in text and JSON, from files and from a disk image.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use pvgrub_loader::elf::{build, note};

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pvgrub-predict-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    fs::create_dir_all(&p).unwrap();
    p
}

fn predict(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pvgrub-measure")).arg("predict").args(args).output().unwrap()
}

fn sha1sum(dir: &std::path::Path, bytes: &[u8]) -> Vec<u8> {
    let p = dir.join("sha1-in");
    fs::write(&p, bytes).unwrap();
    let out = Command::new("sha1sum").arg(&p).output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    let hex = hex.split_whitespace().next().unwrap();
    (0..20).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn extend(dir: &std::path::Path, pcr: &[u8], digest: &[u8]) -> Vec<u8> {
    sha1sum(dir, &[pcr, digest].concat())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn expected(dir: &std::path::Path, kernel: &[u8], cmdline: &[u8], initrd: &[u8]) -> (String, String) {
    let zero = [0u8; 20];
    let pcr4 = extend(dir, &zero, &sha1sum(dir, kernel));
    let pcr5 = extend(dir, &zero, &sha1sum(dir, cmdline));
    let pcr5 = extend(dir, &pcr5, &sha1sum(dir, initrd));
    (hex(&pcr4), hex(&pcr5))
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(key)).unwrap_or_else(|| panic!("no {key} in {out}"))
}

#[test]
fn predicts_from_files_in_text_and_json() {
    let dir = tmp("files");
    let kernel: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let initrd: Vec<u8> = (0..50_000u32).map(|i| (i % 13) as u8).collect();
    fs::write(dir.join("k"), &kernel).unwrap();
    fs::write(dir.join("i"), &initrd).unwrap();
    let (k, i) = (dir.join("k"), dir.join("i"));
    let cmdline = "root=/dev/xvda1 ro console=hvc0";
    let out = predict(&["--kernel", k.to_str().unwrap(), "--initrd", i.to_str().unwrap(), "--cmdline", cmdline]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (pcr4, pcr5) = expected(&dir, &kernel, cmdline.as_bytes(), &initrd);
    assert_eq!(line(&text, "PCR4="), pcr4);
    assert_eq!(line(&text, "PCR5="), pcr5);
    assert!(text.contains(&format!("extend 1: PCR 4 <- {} (kernel)", hex(&sha1sum(&dir, &kernel)))));

    let out = predict(&["--kernel", k.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let json = String::from_utf8(out.stdout).unwrap();
    let (pcr4, pcr5) = expected(&dir, &kernel, b"", b"");
    assert!(json.contains(&format!("\"pcr4\":\"{pcr4}\"")), "{json}");
    assert!(json.contains(&format!("\"pcr5\":\"{pcr5}\"")), "{json}");
    assert!(json.contains("\"bank\":\"sha1\"") && json.contains("\"initrd\":null"), "{json}");
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn predicts_from_a_disk_image_with_the_guests_options() {
    let dir = tmp("disk");
    if Command::new("mke2fs").arg("-V").output().is_err() {
        eprintln!("SKIP: mke2fs is not installed");
        return;
    }
    let vb = 0xffff_ffff_8000_0000u64;
    let kernel = build::elf(
        vb,
        0x100_0000,
        &[0x90; 9000],
        &[
            (note::XEN_VERSION, b"xen-3.0\0"),
            (note::VIRT_BASE, &vb.to_le_bytes()),
            (note::PADDR_OFFSET, &0u64.to_le_bytes()),
            (note::ENTRY, &(vb + 0x100_0000).to_le_bytes()),
        ],
    );
    let root = dir.join("root");
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::write(root.join("boot/vmlinuz"), &kernel).unwrap();
    fs::write(root.join("boot/initrd"), b"initrd bytes").unwrap();
    let img = dir.join("fs.img");
    let st =
        Command::new("mke2fs").args(["-q", "-F", "-t", "ext4", "-d"]).arg(&root).arg(&img).arg("4M").status().unwrap();
    assert!(st.success());
    let extra = "kernel=/boot/vmlinuz ramdisk=/boot/initrd 'cmdline=root=/dev/xvda ro'";
    let out = predict(&["--disk", img.to_str().unwrap(), "--extra", extra]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (pcr4, pcr5) = expected(&dir, &kernel, b"root=/dev/xvda ro", b"initrd bytes");
    assert_eq!(line(&text, "PCR4="), pcr4);
    assert_eq!(line(&text, "PCR5="), pcr5);
    assert_eq!(line(&text, "kernel: "), format!("(hd0)/boot/vmlinuz ({} bytes)", kernel.len()));

    // Errors are an exit code and a line, not a panic.
    let out = predict(&["--disk", img.to_str().unwrap(), "--extra", "kernel=/boot/initrd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a bzImage or ELF kernel"));
    let out = predict(&["--kernel", "/nonexistent/k"]);
    assert_eq!(out.status.code(), Some(2));
    let out = predict(&["--cmdline", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let _ = fs::remove_dir_all(&dir);
}
