//! Just enough of the xl configuration syntax for the e2e: read the keys we check against
//! (`name`, `kernel`, `ramdisk`, `extra`, `disk`), and rewrite a config for one run
//! (override a key, drop a key such as `vtpm` whose backend does not serve yet).
//! Everything else in the file is passed to xl untouched.

/// An xl config file's text.
#[derive(Clone, Debug)]
pub struct XlConfig {
    pub text: String,
}

/// Splits the text into top-level settings: (key, first line index, last line index).
fn settings(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start();
        if l.starts_with('#') || !l.contains('=') {
            i += 1;
            continue;
        }
        let key = l.split('=').next().unwrap_or("").trim().to_string();
        let start = i;
        // a list may span lines: track brackets outside quotes
        let mut depth = 0i32;
        loop {
            let mut in_q: Option<char> = None;
            for c in lines[i].chars() {
                match (in_q, c) {
                    (None, '"' | '\'') => in_q = Some(c),
                    (Some(q), c2) if c2 == q => in_q = None,
                    (None, '[') => depth += 1,
                    (None, ']') => depth -= 1,
                    (None, '#') => break,
                    _ => {}
                }
            }
            if depth <= 0 || i + 1 >= lines.len() {
                break;
            }
            i += 1;
        }
        out.push((key, start, i));
        i += 1;
    }
    out
}

/// Unquotes an xl string value (`"…"` or `'…'`).
fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2 && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''))) {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

impl XlConfig {
    pub fn new(text: &str) -> Self {
        XlConfig { text: text.to_string() }
    }

    /// The raw value of `key` (everything after `=`, comments removed, lines joined).
    pub fn raw(&self, key: &str) -> Option<String> {
        let lines: Vec<&str> = self.text.lines().collect();
        let (_, a, b) = settings(&self.text).into_iter().find(|s| s.0 == key)?;
        let joined: Vec<String> = lines[a..=b].iter().map(|l| strip_comment(l)).collect();
        let joined = joined.join(" ");
        Some(joined.split_once('=').map(|x| x.1.trim().to_string()).unwrap_or_default())
    }

    /// A string value (`name`, `kernel`, `extra`, …).
    pub fn string(&self, key: &str) -> Option<String> {
        self.raw(key).map(|v| unquote(&v))
    }

    /// The strings of a list value (`disk = [ "a", "b" ]`).
    pub fn list(&self, key: &str) -> Vec<String> {
        let Some(v) = self.raw(key) else { return Vec::new() };
        let inner = v.trim().trim_start_matches('[').trim_end_matches(']');
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_q: Option<char> = None;
        for c in inner.chars() {
            match (in_q, c) {
                (None, '"' | '\'') => in_q = Some(c),
                (Some(q), c2) if c2 == q => {
                    in_q = None;
                    out.push(std::mem::take(&mut cur));
                }
                (Some(_), c2) => cur.push(c2),
                _ => {}
            }
        }
        out
    }

    /// `file:` disk images: (path as dom0 sees it, vdev).
    pub fn file_disks(&self) -> Vec<(String, String)> {
        self.list("disk")
            .iter()
            .filter_map(|d| {
                // keyword form (xl-disk-configuration): `…,vdev=xvdb,…,target=/path` (target last)
                if let Some((head, target)) = d.split_once("target=") {
                    let vdev = head.split(',').find_map(|kv| kv.trim().strip_prefix("vdev=")).unwrap_or("").to_string();
                    let path = target.trim();
                    let path = path.strip_prefix("file:").unwrap_or(path);
                    return path.starts_with('/').then(|| (path.to_string(), vdev));
                }
                let mut parts = d.split(',');
                let target = parts.next()?.trim();
                let vdev = parts.next().unwrap_or("").trim().to_string();
                let path = target
                    .strip_prefix("file:")
                    .or_else(|| (!target.contains(':') && target.starts_with('/')).then_some(target))?;
                Some((path.to_string(), vdev))
            })
            .collect()
    }

    /// Removes a setting; returns whether it was there.
    pub fn drop_key(&mut self, key: &str) -> bool {
        let Some((_, a, b)) = settings(&self.text).into_iter().find(|s| s.0 == key) else { return false };
        let lines: Vec<&str> = self.text.lines().collect();
        let mut out: Vec<String> = lines[..a].iter().map(|s| s.to_string()).collect();
        out.push(format!("# {key} removed by cargo xtask e2e: this scenario runs the domain without that backend"));
        out.extend(lines[b + 1..].iter().map(|s| s.to_string()));
        self.text = out.join("\n") + "\n";
        true
    }

    /// Sets `key = value` (`value` is written verbatim: quote strings yourself).
    pub fn set(&mut self, key: &str, value: &str) {
        if let Some((_, a, b)) = settings(&self.text).into_iter().find(|s| s.0 == key) {
            let lines: Vec<&str> = self.text.lines().collect();
            let mut out: Vec<String> = lines[..a].iter().map(|s| s.to_string()).collect();
            out.push(format!("{key} = {value}"));
            out.extend(lines[b + 1..].iter().map(|s| s.to_string()));
            self.text = out.join("\n") + "\n";
        } else {
            if !self.text.ends_with('\n') && !self.text.is_empty() {
                self.text.push('\n');
            }
            self.text.push_str(&format!("{key} = {value}\n"));
        }
    }
}

fn strip_comment(l: &str) -> String {
    let mut in_q: Option<char> = None;
    for (i, c) in l.char_indices() {
        match (in_q, c) {
            (None, '"' | '\'') => in_q = Some(c),
            (Some(q), c2) if c2 == q => in_q = None,
            (None, '#') => return l[..i].to_string(),
            _ => {}
        }
    }
    l.to_string()
}

/// Splits an `extra=` command line the way the images do: space-separated words, double
/// quotes group (and are removed).
pub fn split_cmdline(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut any = false;
    for c in s.chars() {
        match c {
            '"' => {
                in_q = !in_q;
                any = true;
            }
            ' ' | '\t' if !in_q => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "# vtpm\nname = \"vtpm\"\nkernel = \"/usr/lib/xen/boot/vtpm-stubdom.gz\"  # image\nmemory = 8\ndisk = [ \"file:/var/vtpm.img,hda,w\" ]\nvtpm = [\n  \"backend=vtpmmgr,uuid=x\",\n]\nextra = \"loglevel=debug name=\\\"a b\\\"\"\n";

    #[test]
    fn reads_values() {
        let c = XlConfig::new(CFG);
        assert_eq!(c.string("name").as_deref(), Some("vtpm"));
        assert_eq!(c.string("kernel").as_deref(), Some("/usr/lib/xen/boot/vtpm-stubdom.gz"));
        assert_eq!(c.string("memory").as_deref(), Some("8"));
        assert_eq!(c.list("vtpm"), ["backend=vtpmmgr,uuid=x"]);
        assert_eq!(c.file_disks(), [("/var/vtpm.img".to_string(), "hda".to_string())]);
        assert_eq!(c.string("nope"), None);
        let k = XlConfig::new(
            "disk = [ 'format=raw, vdev=xvdb, access=rw, backendtype=qdisk, target=/var/q.img', 'phy:/dev/sda,xvdc,w' ]\n",
        );
        assert_eq!(k.file_disks(), [("/var/q.img".to_string(), "xvdb".to_string())]);
    }

    #[test]
    fn drops_a_multiline_list() {
        let mut c = XlConfig::new(CFG);
        assert!(c.drop_key("vtpm"));
        assert!(!c.text.contains("backend=vtpmmgr"));
        assert!(c.text.contains("# vtpm removed"));
        assert!(c.text.contains("extra = "));
        assert!(!c.drop_key("vtpm"));
        assert_eq!(c.string("memory").as_deref(), Some("8"));
    }

    #[test]
    fn sets_and_adds() {
        let mut c = XlConfig::new(CFG);
        c.set("name", "\"vtpm-selftest\"");
        c.set("extra", "\"selftest\"");
        c.set("on_crash", "\"preserve\"");
        assert_eq!(c.string("name").as_deref(), Some("vtpm-selftest"));
        assert_eq!(c.string("extra").as_deref(), Some("selftest"));
        assert_eq!(c.string("on_crash").as_deref(), Some("preserve"));
        assert_eq!(c.text.matches("name =").count(), 1);
    }

    #[test]
    fn cmdline_words() {
        assert_eq!(split_cmdline(" loglevel=debug  clear x=\"a b\" \"\" "), ["loglevel=debug", "clear", "x=a b", ""]);
        assert!(split_cmdline("   ").is_empty());
    }
}
