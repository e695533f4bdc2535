//! GRUB 2's `grub.cfg`, the subset `grub-mkconfig` writes on Debian (`00_header`,
//! `05_debian_theme`, `10_linux`, `30_os-prober`, `41_custom`), run the way GRUB's normal
//! mode runs it, to find the default entry's `linux` and `initrd`.
//!
//! Supported: `set`, `NAME=VALUE`, `unset`, `export` (no-op); `$var` expansion with GRUB's
//! predefined `feature_*` variables set as a current GRUB 2 has them, `grub_platform=xen`,
//! `grub_cpu=x86_64`, `root` and `prefix` from where the config was found; `if/elif/else/fi`
//! with `[`/`test` (`=`, `==`, `!=`, `-z`, `-n`, integer comparisons, `!`, `-a`, `-o`),
//! `true`, `false`; `search --fs-uuid [--set[=VAR]] UUID` (resolved by the ext2/3/4 UUID of
//! each partition); `menuentry` and `submenu` with their options (`--class`, `--users`,
//! `--hotkey`, `--id`, `--unrestricted`, `--source`); `set default=` as an index, a title or
//! an id, with `>` paths into submenus; in the chosen entry: `set root=`, `search`, `linux
//! PATH ARGS…` and `initrd PATH`.
//!
//! Not supported, each noted (see [`crate::BootEntry::notes`]) and otherwise ignored: the
//! environment block (`load_env`, `saved_entry`, `next_entry`: so `default=saved` boots
//! entry 0, as GRUB does with an empty environment), file tests (`-f`, `-s`, `-e`, `-d` are
//! false), `source`/`configfile`, function bodies (`load_video`, `savedefault`), loops, and
//! every other command (`insmod`, `echo`, `terminal_output`, …; their status is "false").
//! A default that names no entry selects entry 0, as GRUB does.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::boot_entry::{BootEntry, FileRef, Volumes};
use crate::error::LoadError;
use crate::grub_path::{Device, Dialect, parse_device, parse_path};
use crate::grub_script::{Command, Piece, Word, parse};

/// Most distinct notes kept.
const MAX_NOTES: usize = 24;

/// Commands that `grub-mkconfig` output uses only for looks or for GRUB's own state; ignored
/// without a note.
const QUIET: &[&str] = &[
    "insmod",
    "echo",
    "load_video",
    "gfxmode",
    "terminal_output",
    "terminal_input",
    "terminal",
    "loadfont",
    "background_image",
    "play",
    "serial",
    "savedefault",
    "recordfail",
    "load_env",
    "save_env",
];

/// A menu item, its body kept unexpanded until it is booted.
#[derive(Clone, Debug)]
enum Item {
    Entry { title: String, id: Option<String>, body: Vec<Command> },
    Submenu { title: String, id: Option<String>, items: Vec<Item> },
}

impl Item {
    fn title(&self) -> &str {
        match self {
            Item::Entry { title, .. } | Item::Submenu { title, .. } => title,
        }
    }
    fn id(&self) -> Option<&str> {
        match self {
            Item::Entry { id, .. } | Item::Submenu { id, .. } => id.as_deref(),
        }
    }
}

/// What the chosen entry's body produced.
#[derive(Default)]
struct Collected {
    linux: Option<(FileRef, String)>,
    initrd: Option<FileRef>,
}

struct Interp<'v, V: Volumes> {
    vars: BTreeMap<String, String>,
    notes: Vec<String>,
    volumes: &'v mut V,
}

/// Finds the default entry of `config`, found on `device` at `path` (for `root`/`prefix`).
pub fn find_entry<V: Volumes>(
    config: &str,
    device: Device,
    path: &str,
    volumes: &mut V,
) -> Result<BootEntry, LoadError> {
    let tree = parse(config)?;
    let mut vars = BTreeMap::new();
    for f in [
        "feature_chainloader_bpb",
        "feature_ntldr",
        "feature_platform_search_hint",
        "feature_default_font_path",
        "feature_all_video_module",
        "feature_menuentry_id",
        "feature_menuentry_options",
        "feature_200_final",
        "feature_nativedisk_cmd",
        "feature_timeout_style",
    ] {
        vars.insert(f.to_string(), "y".to_string());
    }
    vars.insert("grub_platform".into(), "xen".into());
    vars.insert("grub_cpu".into(), "x86_64".into());
    vars.insert("root".into(), device.grub2_name());
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    vars.insert("prefix".into(), format!("({}){dir}", device.grub2_name()));
    vars.insert("config_directory".into(), format!("({}){dir}", device.grub2_name()));
    let mut it = Interp { vars, notes: Vec::new(), volumes };
    let mut menu = Vec::new();
    it.run(&tree, Some(&mut menu), None)?;
    if menu.is_empty() {
        return Err(LoadError::NoEntry(format!("({}){path} defines no menuentry", device.grub2_name())));
    }
    let default = it.vars.get("default").cloned().unwrap_or_default();
    let (title, body) = it.choose(&menu, &default)?;
    let mut collected = Collected::default();
    let saved = it.vars.clone();
    it.vars.insert("chosen".into(), title.clone());
    it.run(&body, None, Some(&mut collected))?;
    it.vars = saved;
    let Some((kernel, cmdline)) = collected.linux else {
        return Err(LoadError::NoEntry(format!("entry '{title}' has no 'linux' command")));
    };
    Ok(BootEntry { title: Some(title), kernel, initrd: collected.initrd, cmdline, notes: it.notes })
}

impl<V: Volumes> Interp<'_, V> {
    fn note(&mut self, n: String) {
        if self.notes.len() < MAX_NOTES && !self.notes.contains(&n) {
            self.notes.push(n);
        }
    }

    fn var(&self, name: &str) -> String {
        self.vars.get(name).cloned().unwrap_or_default()
    }

    /// Expands words: variables substituted; unquoted expansions split on blanks and dropped
    /// when empty, as GRUB does.
    fn expand(&self, words: &[Word]) -> Vec<String> {
        let mut out = Vec::new();
        for w in words {
            let mut cur = String::new();
            let mut real = false;
            for p in &w.0 {
                match p {
                    Piece::Text { text, quoted } => {
                        cur.push_str(text);
                        real |= *quoted || !text.is_empty();
                    }
                    Piece::Var { name, quoted: true } => {
                        cur.push_str(&self.var(name));
                        real = true;
                    }
                    Piece::Var { name, quoted: false } => {
                        let v = self.var(name);
                        let mut fields = v.split([' ', '\t', '\n']).filter(|f| !f.is_empty());
                        if let Some(first) = fields.next() {
                            cur.push_str(first);
                            real = true;
                        }
                        for f in fields {
                            out.push(core::mem::take(&mut cur));
                            cur.push_str(f);
                        }
                    }
                }
            }
            if real || !cur.is_empty() {
                out.push(cur);
            }
        }
        out
    }

    /// Runs commands; returns the status of the last one.
    fn run(
        &mut self,
        cmds: &[Command],
        mut menu: Option<&mut Vec<Item>>,
        mut boot: Option<&mut Collected>,
    ) -> Result<bool, LoadError> {
        let mut status = true;
        for c in cmds {
            status = match c {
                Command::Simple { words, line } => {
                    let args = self.expand(words);
                    self.simple(&args, *line, boot.as_deref_mut())?
                }
                Command::If { branches, otherwise } => {
                    let mut taken = None;
                    for (cond, body) in branches {
                        if self.run(cond, None, None)? {
                            taken = Some(body);
                            break;
                        }
                    }
                    let body = taken.unwrap_or(otherwise);
                    self.run(body, menu.as_deref_mut(), boot.as_deref_mut())?
                }
                Command::Menu { submenu, args, body, line } => {
                    let args = self.expand(args);
                    let (title, id) = menu_args(&args, *line)?;
                    let Some(menu) = menu.as_deref_mut() else {
                        self.note(format!("line {line}: menuentry inside an entry ignored"));
                        continue;
                    };
                    if *submenu {
                        let saved = self.vars.clone();
                        let mut items = Vec::new();
                        self.run(body, Some(&mut items), None)?;
                        self.vars = saved;
                        menu.push(Item::Submenu { title, id, items });
                    } else {
                        menu.push(Item::Entry { title, id, body: body.clone() });
                    }
                    true
                }
                Command::Function { .. } => true,
                Command::Loop { keyword, line } => {
                    self.note(format!("line {line}: '{keyword}' loop skipped"));
                    true
                }
            };
        }
        Ok(status)
    }

    fn simple(&mut self, args: &[String], line: usize, boot: Option<&mut Collected>) -> Result<bool, LoadError> {
        let Some(name) = args.first() else { return Ok(true) };
        let rest = &args[1..];
        if rest.is_empty()
            && let Some((k, v)) = name.split_once('=')
            && is_name(k)
        {
            self.vars.insert(k.to_string(), v.to_string());
            return Ok(true);
        }
        match name.as_str() {
            "set" => {
                for a in rest {
                    if let Some((k, v)) = a.split_once('=')
                        && is_name(k)
                    {
                        self.vars.insert(k.to_string(), v.to_string());
                    }
                }
                Ok(true)
            }
            "unset" => {
                for a in rest {
                    self.vars.remove(a);
                }
                Ok(true)
            }
            "export" | "true" => Ok(true),
            "false" => Ok(false),
            "[" => {
                if rest.last().map(String::as_str) != Some("]") {
                    self.note(format!("line {line}: '[' without ']' is false"));
                    return Ok(false);
                }
                Ok(self.test(&rest[..rest.len() - 1]))
            }
            "test" => Ok(self.test(rest)),
            "search" | "search.fs_uuid" => Ok(self.search(rest, line, name == "search.fs_uuid")),
            "linux" | "initrd" => {
                let Some(boot) = boot else { return Ok(true) };
                self.boot_command(name == "linux", rest, line, boot)?;
                Ok(true)
            }
            "source" | "configfile" | "." | "normal" | "extract_entries_source" => {
                self.note(format!("line {line}: '{name}' not followed"));
                Ok(false)
            }
            other => {
                if !QUIET.contains(&other) {
                    self.note(format!("line {line}: command '{other}' ignored"));
                }
                Ok(false)
            }
        }
    }

    fn boot_command(
        &mut self,
        linux: bool,
        rest: &[String],
        line: usize,
        boot: &mut Collected,
    ) -> Result<(), LoadError> {
        let what = if linux { "linux" } else { "initrd" };
        let Some(file) = rest.first() else {
            return Err(LoadError::Config(format!("line {line}: '{what}' without a file")));
        };
        let path = parse_path(file, Dialect::Grub2)?;
        let device = match path.device {
            Some(d) => d,
            None => {
                let root = self.var("root");
                if root.is_empty() {
                    return Err(LoadError::Config(format!("line {line}: '{what} {file}' with no root device set")));
                }
                parse_device(&root, Dialect::Grub2)?
            }
        };
        let f = FileRef { device, path: path.path };
        if linux {
            boot.linux = Some((f, rest[1..].join(" ")));
            boot.initrd = None;
        } else {
            if rest.len() > 1 {
                return Err(LoadError::Config(format!(
                    "line {line}: 'initrd' with {} files: only one initrd is supported",
                    rest.len()
                )));
            }
            boot.initrd = Some(f);
        }
        Ok(())
    }

    fn search(&mut self, rest: &[String], line: usize, uuid_only: bool) -> bool {
        let mut by_uuid = uuid_only;
        let mut var = String::from("root");
        let mut key = None;
        let mut other = None;
        let mut i = 0;
        while i < rest.len() {
            let a = rest[i].as_str();
            match a {
                "--fs-uuid" | "-u" => by_uuid = true,
                "--label" | "-l" | "--file" | "-f" => other = Some(a.to_string()),
                "--set" | "-s" => {
                    // `--set VAR` when the next word is a name and a key follows it.
                    if i + 2 < rest.len() && is_name(&rest[i + 1]) {
                        var = rest[i + 1].clone();
                        i += 1;
                    }
                }
                s if s.starts_with("--set=") => var = s["--set=".len()..].to_string(),
                s if s.starts_with('-') => {}
                s => key = Some(s.to_string()),
            }
            i += 1;
        }
        if let Some(o) = other {
            self.note(format!("line {line}: 'search {o}' is not supported"));
            return false;
        }
        let (true, Some(uuid)) = (by_uuid, key) else {
            self.note(format!("line {line}: 'search' without --fs-uuid is not supported"));
            return false;
        };
        match self.volumes.find_fs_uuid(&uuid) {
            Some(dev) => {
                self.vars.insert(var, dev.grub2_name());
                true
            }
            None => {
                self.note(format!("line {line}: no file system with UUID {uuid}"));
                false
            }
        }
    }

    fn test(&mut self, a: &[String]) -> bool {
        if let Some(i) = a.iter().position(|x| x == "-o") {
            let l = self.test(&a[..i]);
            let r = self.test(&a[i + 1..]);
            return l || r;
        }
        if let Some(i) = a.iter().position(|x| x == "-a") {
            let l = self.test(&a[..i]);
            let r = self.test(&a[i + 1..]);
            return l && r;
        }
        let s: Vec<&str> = a.iter().map(String::as_str).collect();
        match s.as_slice() {
            [] => false,
            ["!", rest @ ..] => {
                let rest: Vec<String> = rest.iter().map(|x| x.to_string()).collect();
                !self.test(&rest)
            }
            [x] => !x.is_empty(),
            ["-z", x] => x.is_empty(),
            ["-n", x] => !x.is_empty(),
            [op @ ("-f" | "-e" | "-s" | "-d"), _] => {
                self.note(format!("file test '{op}' is false (files outside the entries are not read)"));
                false
            }
            [x, "=" | "==", y] => x == y,
            [x, "!=", y] => x != y,
            [x, "<", y] => x < y,
            [x, ">", y] => x > y,
            [x, op @ ("-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge"), y] => {
                let (Ok(x), Ok(y)) = (x.parse::<i64>(), y.parse::<i64>()) else { return false };
                match *op {
                    "-eq" => x == y,
                    "-ne" => x != y,
                    "-lt" => x < y,
                    "-le" => x <= y,
                    "-gt" => x > y,
                    _ => x >= y,
                }
            }
            _ => {
                self.note(format!("test '{}' not understood: false", a.join(" ")));
                false
            }
        }
    }

    /// The entry `default` names (`>` separated: index, id or title at each level).
    fn choose(&mut self, menu: &[Item], default: &str) -> Result<(String, Vec<Command>), LoadError> {
        let mut items = menu;
        let mut fell_back = default.is_empty();
        for part in default.split('>') {
            if fell_back {
                break;
            }
            let found = match part.trim().parse::<usize>() {
                Ok(n) => items.get(n),
                Err(_) => items.iter().find(|i| i.id() == Some(part) || i.title() == part),
            };
            match found {
                Some(Item::Submenu { items: sub, .. }) => items = sub,
                Some(Item::Entry { title, body, .. }) => return Ok((title.clone(), body.clone())),
                None => {
                    self.note(format!("default '{default}' names no entry; booting entry 0 as GRUB does"));
                    items = menu;
                    fell_back = true;
                }
            }
        }
        // The first plain entry of where we ended (a submenu named by default, or the top).
        let mut level = items;
        loop {
            match level.first() {
                Some(Item::Entry { title, body, .. }) => return Ok((title.clone(), body.clone())),
                Some(Item::Submenu { items, title, .. }) => {
                    if !fell_back {
                        self.note(format!("default names submenu '{title}'; booting its first entry"));
                    }
                    level = items;
                }
                None => return Err(LoadError::NoEntry(format!("default '{default}' leads to an empty submenu"))),
            }
        }
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `menuentry`/`submenu` arguments: (title, id).
fn menu_args(args: &[String], line: usize) -> Result<(String, Option<String>), LoadError> {
    let mut title = None;
    let mut id = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--class" | "--users" | "--hotkey" | "--source" => i += 1,
            "--id" => {
                id = args.get(i + 1).cloned();
                i += 1;
            }
            "--unrestricted" => {}
            s if s.starts_with("--id=") => id = Some(s["--id=".len()..].to_string()),
            s if title.is_none() && !s.starts_with("--") => title = Some(s.to_string()),
            _ => {}
        }
        i += 1;
    }
    match title {
        Some(t) => Ok((t, id)),
        None => Err(LoadError::Config(format!("line {line}: menuentry without a title"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::TableKind;

    struct Fake;
    impl Volumes for Fake {
        fn find_fs_uuid(&mut self, uuid: &str) -> Option<Device> {
            (uuid == "1234-abcd").then_some(Device::Partition { number: 2, table: Some(TableKind::Gpt) })
        }
    }

    const ROOT: Device = Device::Partition { number: 1, table: Some(TableKind::Gpt) };

    fn entry(cfg: &str) -> Result<BootEntry, LoadError> {
        find_entry(cfg, ROOT, "/boot/grub/grub.cfg", &mut Fake)
    }

    const MENU: &str = r#"
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
else
   set default="0"
fi
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
function load_video {
  insmod all_video
}
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-1234' {
	load_video
	if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
	set root='hd0,gpt1'
	if [ x$feature_platform_search_hint = xy ]; then
	  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,gpt2 1234-abcd
	else
	  search --no-floppy --fs-uuid --set=root 1234-abcd
	fi
	linux	/boot/vmlinuz-6.1 root=UUID=1234-abcd ro  quiet
	initrd	/boot/initrd.img-6.1
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-1234' {
	menuentry 'Debian GNU/Linux, with Linux 6.1' $menuentry_id_option 'gnulinux-6.1-advanced-1234' {
		linux	/vmlinuz-adv root=/dev/xvda2 ro
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1 (recovery mode)' $menuentry_id_option 'gnulinux-6.1-recovery-1234' {
		linux	(hd0,gpt1)/vmlinuz-rec ro single
		initrd	/initrd-rec
	}
}
"#;

    #[test]
    fn debian_default_entry() {
        let e = entry(MENU).unwrap();
        assert_eq!(e.title.as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(e.kernel.to_string(), "(hd0,gpt2)/boot/vmlinuz-6.1");
        assert_eq!(e.initrd.unwrap().to_string(), "(hd0,gpt2)/boot/initrd.img-6.1");
        assert_eq!(e.cmdline, "root=UUID=1234-abcd ro quiet");
    }

    #[test]
    fn default_by_index_title_id_and_paths() {
        let with = |d: &str| format!("{MENU}\nset default=\"{d}\"\n");
        let e = entry(&with("1>1")).unwrap();
        assert_eq!(e.kernel.to_string(), "(hd0,gpt1)/vmlinuz-rec");
        assert_eq!(e.initrd.unwrap().to_string(), "(hd0,gpt1)/initrd-rec");
        assert_eq!(e.cmdline, "ro single");
        let e = entry(&with("gnulinux-advanced-1234>gnulinux-6.1-advanced-1234")).unwrap();
        assert_eq!(e.kernel.to_string(), "(hd0,gpt1)/vmlinuz-adv");
        assert_eq!(e.initrd, None);
        let e = entry(&with("Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1 (recovery mode)"))
            .unwrap();
        assert_eq!(e.title.as_deref(), Some("Debian GNU/Linux, with Linux 6.1 (recovery mode)"));
        let e = entry(&with("gnulinux-advanced-1234")).unwrap();
        assert_eq!(e.kernel.path, "/vmlinuz-adv");
        let e = entry(&with("7")).unwrap();
        assert_eq!(e.title.as_deref(), Some("Debian GNU/Linux"));
        assert!(e.notes.iter().any(|n| n.contains("names no entry")));
        let e = entry(&with("${saved_entry}")).unwrap();
        assert_eq!(e.title.as_deref(), Some("Debian GNU/Linux"));
    }

    #[test]
    fn missing_pieces_are_errors() {
        assert!(matches!(entry("set default=0\n"), Err(LoadError::NoEntry(_))));
        assert!(matches!(entry("menuentry 'x' { echo hi }"), Err(LoadError::NoEntry(_))));
        assert!(matches!(entry("menuentry 'x' { linux }"), Err(LoadError::Config(_))));
        assert!(matches!(entry("menuentry 'x' { linux vmlinuz }"), Err(LoadError::BadPath(_))));
        assert!(matches!(entry("menuentry 'x' { set root=hd3,1; linux /v }"), Err(LoadError::NoSuchPartition(_))));
        assert!(matches!(entry("menuentry 'x' { linux /v; initrd /a /b }"), Err(LoadError::Config(_))));
        assert!(matches!(entry("menuentry { linux /v }"), Err(LoadError::Config(_))));
    }

    #[test]
    fn search_miss_keeps_root_and_notes_it() {
        let e = entry("menuentry x { search --fs-uuid --set=root nope; linux /v a  b }").unwrap();
        assert_eq!(e.kernel.to_string(), "(hd0,gpt1)/v");
        assert_eq!(e.cmdline, "a b");
        assert!(e.notes.iter().any(|n| n.contains("no file system with UUID nope")));
        let e = entry("menuentry x { search --label foo; linux /v }").unwrap();
        assert!(e.notes.iter().any(|n| n.contains("not supported")));
    }

    #[test]
    fn tests_and_quoting() {
        let cfg = r#"
a=1
if [ -z "$b" -a $a -eq 1 ]; then t=yes; else t=no; fi
if [ ! x = y -o -f /x ]; then u=yes; fi
menuentry "T $t$u" { linux "/k k" "arg with space" '$a' $a }
"#;
        let e = entry(cfg).unwrap();
        assert_eq!(e.title.as_deref(), Some("T yesyes"));
        assert_eq!(e.kernel.path, "/k k");
        assert_eq!(e.cmdline, "arg with space $a 1");
    }
}
