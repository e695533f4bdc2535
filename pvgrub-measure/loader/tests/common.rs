//! Helpers of the host tests: temporary directories, disk images built with `sfdisk` and
//! `mke2fs -d`, fake bzImages around small ELF kernels, and an independent PCR computation
//! with `sha1sum`.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Debian 12's kernel, fetched by the test bed (never committed).
pub const DEBIAN_KERNEL: &str = "/root/.cache/xen-vtpm-rs/inputs-0c9d941c461db662/vmlinuz-6.1.0-57-amd64";
pub const KERNEL_NAME: &str = "vmlinuz-6.1.0-57-amd64";
pub const INITRD_NAME: &str = "initrd.img-6.1.0-57-amd64";
pub const ROOT_UUID: &str = "0f3c5d2e-6a1b-4c7d-9e8f-112233445566";
pub const BOOT_UUID: &str = "7a8b9c0d-1e2f-4a3b-8c5d-6e7f80910a1b";

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("pvgrub-loader-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Debian's kernel copied into `dir`, or `None` (with a message) when it is not there.
pub fn debian_kernel(dir: &TempDir) -> Option<PathBuf> {
    if !Path::new(DEBIAN_KERNEL).exists() {
        eprintln!("SKIP: {DEBIAN_KERNEL} is absent (the test bed's input cache); this test needs Debian's kernel");
        return None;
    }
    let dst = dir.path(KERNEL_NAME);
    fs::copy(DEBIAN_KERNEL, &dst).unwrap();
    Some(dst)
}

pub fn have_tools() -> bool {
    for t in ["sfdisk", "mke2fs", "sha1sum"] {
        if Command::new(t).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            eprintln!("SKIP: {t} is not installed (apt-get install fdisk e2fsprogs coreutils)");
            return false;
        }
    }
    true
}

/// A deterministic initrd-like blob.
pub fn initrd_bytes(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// An ext4 image of `mib` MiB holding the tree `root`.
pub fn mke2fs(image: &Path, root: &Path, uuid: &str, mib: u64) {
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-U", uuid, "-d"])
        .arg(root)
        .arg(image)
        .arg(format!("{mib}M")));
}

/// A disk image of `total_sectors` with the sfdisk `script`, and `parts` (start sector, image) written in.
pub fn disk(path: &Path, total_sectors: u64, script: &str, parts: &[(u64, &Path)]) -> Vec<u8> {
    fs::write(path, vec![0u8; (total_sectors * 512) as usize]).unwrap();
    let mut child =
        Command::new("sfdisk").arg("-q").arg(path).stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed on {script}");
    let mut bytes = fs::read(path).unwrap();
    for (start, img) in parts {
        let data = fs::read(img).unwrap();
        let at = (*start * 512) as usize;
        bytes[at..at + data.len()].copy_from_slice(&data);
    }
    bytes
}

/// Writes `files` (relative path, bytes) under `root`.
pub fn tree(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, data) in files {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    }
}

/// `sha1sum` of bytes, as 20 bytes.
pub fn sha1sum(dir: &TempDir, bytes: &[u8]) -> [u8; 20] {
    let p = dir.path("sha1-input");
    fs::write(&p, bytes).unwrap();
    let out = Command::new("sha1sum").arg(&p).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let hex = text.split_whitespace().next().unwrap();
    let mut d = [0u8; 20];
    for (i, b) in d.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    d
}

/// PCR 4 and PCR 5 computed with `sha1sum` only: extend = SHA-1(old ‖ digest), from zeros.
pub fn independent_pcrs(dir: &TempDir, kernel: &[u8], cmdline: &[u8], initrd: &[u8]) -> ([u8; 20], [u8; 20]) {
    let ext = |dir: &TempDir, old: [u8; 20], d: [u8; 20]| {
        let mut buf = old.to_vec();
        buf.extend_from_slice(&d);
        sha1sum(dir, &buf)
    };
    let pcr4 = ext(dir, [0; 20], sha1sum(dir, kernel));
    let pcr5 = ext(dir, [0; 20], sha1sum(dir, cmdline));
    let pcr5 = ext(dir, pcr5, sha1sum(dir, initrd));
    (pcr4, pcr5)
}

pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A bzImage-shaped file (boot protocol 2.15) around `payload` (setup_sects 3).
pub fn fake_bzimage(payload: &[u8]) -> Vec<u8> {
    let setup_sects = 3u8;
    let mut f = vec![0u8; (setup_sects as usize + 1) * 512];
    f[0x1f1] = setup_sects;
    f[0x1fe] = 0x55;
    f[0x1ff] = 0xaa;
    f[0x202..0x206].copy_from_slice(b"HdrS");
    f[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    let payload_offset = 0x40u32;
    f[0x248..0x24c].copy_from_slice(&payload_offset.to_le_bytes());
    f[0x24c..0x250].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    f.resize(f.len() + payload_offset as usize, 0xcc);
    f.extend_from_slice(payload);
    f.extend_from_slice(&[0u8; 100]);
    f
}

/// `tool ARGS` over stdin, plus Linux's appended le32 size, as the kernel build does.
pub fn compress(tool: &str, args: &[&str], data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    let mut v = out.stdout;
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v
}

/// A Debian-style `grub.cfg` (`grub-mkconfig` on Debian 12: 00_header, 05_debian_theme,
/// 10_linux with a submenu, 30_os-prober, 41_custom), for `dev` (`msdos1`, `gpt2`…), the
/// file system `uuid`, and kernel paths under `boot` ("/boot" or "" for a /boot partition).
pub fn debian_grub_cfg(dev: &str, uuid: &str, boot: &str, root_uuid: &str) -> String {
    let search = format!(
        "insmod part_msdos\n\tinsmod ext2\n\tset root='hd0,{dev}'\n\tif [ x$feature_platform_search_hint = xy ]; then\n\t  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,{dev} --hint-efi=hd0,{dev} --hint-baremetal=ahci0,{dev}  {uuid}\n\telse\n\t  search --no-floppy --fs-uuid --set=root {uuid}\n\tfi"
    );
    format!(
        r#"#
# DO NOT EDIT THIS FILE
#
# It is automatically generated by grub-mkconfig using templates
# from /etc/grub.d and settings from /etc/default/grub
#

### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${{next_entry}}" ] ; then
   set default="${{next_entry}}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi

if [ x"${{feature_menuentry_id}}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

if [ "${{prev_saved_entry}}" ]; then
  set saved_entry="${{prev_saved_entry}}"
  save_env saved_entry
  set prev_saved_entry=
  save_env prev_saved_entry
  set boot_once=true
fi

function savedefault {{
  if [ -z "${{boot_once}}" ]; then
    saved_entry="${{chosen}}"
    save_env saved_entry
  fi
}}
function load_video {{
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
    insmod efi_uga
    insmod ieee1275_fb
    insmod vbe
    insmod vga
    insmod video_bochs
    insmod video_cirrus
  fi
}}

if [ x$feature_default_font_path = xy ] ; then
   font=unicode
else
{search}
    font="/usr/share/grub/unicode.pf2"
fi

if loadfont $font ; then
  set gfxmode=auto
  load_video
  insmod gfxterm
  set locale_dir=$prefix/locale
  set lang=en_US
  insmod gettext
fi
terminal_output gfxterm
if [ "${{recordfail}}" = 1 ] ; then
  set timeout=30
else
  if [ x$feature_timeout_style = xy ] ; then
    set timeout_style=menu
    set timeout=5
  # Fallback normal timeout code in case the timeout_style feature is
  # unavailable.
  else
    set timeout=5
  fi
fi
### END /etc/grub.d/00_header ###

### BEGIN /etc/grub.d/05_debian_theme ###
{search}
insmod png
if background_image /usr/share/desktop-base/emerald-theme/grub/grub-4x3.png; then
  set color_normal=white/black
  set color_highlight=black/white
else
  set menu_color_normal=cyan/blue
  set menu_color_highlight=white/blue
fi
### END /etc/grub.d/05_debian_theme ###

### BEGIN /etc/grub.d/10_linux ###
function gfxmode {{
	set gfxpayload="${{1}}"
	if [ "${{1}}" = "keep" ]; then
		set vt_handoff=vt.handoff=7
	else
		set vt_handoff=
	fi
}}
set linux_gfx_mode=
export linux_gfx_mode
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-{root_uuid}' {{
	load_video
	insmod gzio
	if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
	{search}
	echo	'Loading Linux 6.1.0-57-amd64 ...'
	linux	{boot}/vmlinuz-6.1.0-57-amd64 root=UUID={root_uuid} ro  quiet
	echo	'Loading initial ramdisk ...'
	initrd	{boot}/initrd.img-6.1.0-57-amd64
}}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-{root_uuid}' {{
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-57-amd64' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-6.1.0-57-amd64-advanced-{root_uuid}' {{
		load_video
		insmod gzio
		if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
		{search}
		echo	'Loading Linux 6.1.0-57-amd64 ...'
		linux	{boot}/vmlinuz-6.1.0-57-amd64 root=UUID={root_uuid} ro  quiet
		echo	'Loading initial ramdisk ...'
		initrd	{boot}/initrd.img-6.1.0-57-amd64
	}}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-57-amd64 (recovery mode)' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-6.1.0-57-amd64-recovery-{root_uuid}' {{
		load_video
		insmod gzio
		if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
		{search}
		echo	'Loading Linux 6.1.0-57-amd64 ...'
		linux	{boot}/vmlinuz-6.1.0-57-amd64 root=UUID={root_uuid} ro single console=hvc0
		echo	'Loading initial ramdisk ...'
		initrd	{boot}/initrd.img-6.1.0-57-amd64
	}}
}}

### END /etc/grub.d/10_linux ###

### BEGIN /etc/grub.d/20_linux_xen ###

### END /etc/grub.d/20_linux_xen ###

### BEGIN /etc/grub.d/30_os-prober ###
### END /etc/grub.d/30_os-prober ###

### BEGIN /etc/grub.d/30_uefi-firmware ###
### END /etc/grub.d/30_uefi-firmware ###

### BEGIN /etc/grub.d/40_custom ###
# This file provides an easy way to add custom menu entries.  Simply type the
# menu entries you want to add after this comment.  Be careful not to change
# the 'exec tail' line above.
### END /etc/grub.d/40_custom ###

### BEGIN /etc/grub.d/41_custom ###
if [ -f  ${{config_directory}}/custom.cfg ]; then
  source ${{config_directory}}/custom.cfg
elif [ -z "${{config_directory}}" -a -f  $prefix/custom.cfg ]; then
  source $prefix/custom.cfg
fi
### END /etc/grub.d/41_custom ###
"#
    )
}
