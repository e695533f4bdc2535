//! The machine's apt: which archive it uses (read from its configuration at run time, never
//! written in the repository), candidate versions, dependency resolution, downloads and
//! installing missing host packages.

use crate::bail;
use crate::util::{self, Context, Result};
use std::path::Path;
use std::process::Command;

/// The Debian release the test bed is built from.
pub const SUITE: &str = "bookworm";

/// One apt source: a `deb` line or a deb822 stanza, reduced to what we reuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    pub signed_by: Option<String>,
}

/// Parses a deb822 `.sources` file (stanzas separated by blank lines; only `Types: deb`,
/// skipping `Enabled: no`).
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    let text = text.replace('\r', "");
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |k: &str| fields.iter().find(|f| f.0 == k).map(|f| f.1.clone());
        let words =
            |k: &str| get(k).map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>()).unwrap_or_default();
        if !words("types").iter().any(|t| t == "deb") || get("enabled").is_some_and(|e| e.eq_ignore_ascii_case("no")) {
            continue;
        }
        for uri in words("uris") {
            out.push(Source {
                uri,
                suites: words("suites"),
                components: words("components"),
                signed_by: get("signed-by"),
            });
        }
    }
    out
}

/// Parses one-line `sources.list` entries (`deb [options] uri suite component…`).
pub fn parse_list(text: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ").or_else(|| line.strip_prefix("deb\t")) else { continue };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if rest.starts_with('[') {
            let Some(end) = rest.find(']') else { continue };
            for opt in rest[1..end].split_whitespace() {
                if let Some(v) = opt.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
            rest = rest[end + 1..].trim_start();
        }
        let mut w = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (w.next(), w.next()) else { continue };
        out.push(Source {
            uri: uri.to_string(),
            suites: vec![suite.to_string()],
            components: w.map(str::to_string).collect(),
            signed_by,
        });
    }
    out
}

/// All `deb` sources of the machine: `/etc/apt/sources.list.d/*.sources`, `*.list` and
/// `/etc/apt/sources.list`.
pub fn host_sources() -> Result<Vec<Source>> {
    let mut out = Vec::new();
    let dir = Path::new("/etc/apt/sources.list.d");
    if let Ok(rd) = std::fs::read_dir(dir) {
        let mut names: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            match p.extension().and_then(|e| e.to_str()) {
                Some("sources") => out.extend(parse_deb822(&text)),
                Some("list") => out.extend(parse_list(&text)),
                _ => {}
            }
        }
    }
    out.extend(parse_list(&std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default()));
    Ok(out)
}

/// The sources that serve the Debian release ([`SUITE`], `-updates`, `-security`).
pub fn release_sources(all: &[Source]) -> Vec<Source> {
    all.iter()
        .filter_map(|s| {
            let suites: Vec<String> = s
                .suites
                .iter()
                .filter(|x| {
                    *x == SUITE || x.strip_prefix(SUITE).is_some_and(|r| r.starts_with('-') || r.starts_with('/'))
                })
                .cloned()
                .collect();
            (!suites.is_empty()).then(|| Source { suites, ..s.clone() })
        })
        .collect()
}

/// The archive address for debootstrap: the first source carrying the plain release suite.
pub fn mirror(all: &[Source]) -> Result<String> {
    match all.iter().find(|s| s.suites.iter().any(|x| x == SUITE)) {
        Some(s) => Ok(s.uri.clone()),
        None => bail!(
            "no apt source for Debian '{SUITE}' found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; \
             the test bed is built from the machine's own Debian archive"
        ),
    }
}

/// A deb822 file with the release sources, for the chroot (its apt must see the same
/// versions as the host so that xen-utils matches the hypervisor we boot).
pub fn render_deb822(sources: &[Source]) -> String {
    let mut s = String::new();
    for src in sources {
        s.push_str(&format!(
            "Types: deb\nURIs: {}\nSuites: {}\nComponents: {}\n",
            src.uri,
            src.suites.join(" "),
            src.components.join(" ")
        ));
        if let Some(k) = src.signed_by.as_deref().filter(|k| k.contains("debian-archive-keyring")) {
            s.push_str(&format!("Signed-By: {k}\n"));
        }
        s.push('\n');
    }
    s
}

/// `apt-cache show` fields of the candidate version of `pkg`.
#[derive(Debug, Default, Clone)]
pub struct PkgInfo {
    pub package: String,
    pub version: String,
    pub depends: String,
}

/// Parses every stanza of `apt-cache show --no-all-versions` output.
pub fn parse_show_all(text: &str) -> Vec<PkgInfo> {
    text.split("\n\n").map(parse_show).filter(|i| !i.package.is_empty()).collect()
}

/// Candidate versions of several packages with one `apt-cache` call (each call costs about
/// half a second); runs `apt-get update` once if some are unknown and we are root.
pub fn candidates(pkgs: &[&str]) -> Result<Vec<PkgInfo>> {
    let query = || {
        let text = util::try_output(Command::new("apt-cache").args(["show", "--no-all-versions"]).args(pkgs))
            .unwrap_or_default();
        let all = parse_show_all(&text);
        pkgs.iter()
            .map(|p| all.iter().find(|i| i.package == *p && !i.version.is_empty()).cloned())
            .collect::<Option<Vec<_>>>()
    };
    if let Some(v) = query() {
        return Ok(v);
    }
    if util::is_root() {
        util::run(Command::new("apt-get").args(["update", "-q"]))?;
        if let Some(v) = query() {
            return Ok(v);
        }
    }
    bail!(
        "apt does not know all of {} (run `apt-get update` as root; the test bed needs Debian {SUITE} sources)",
        pkgs.join(" ")
    )
}

/// Parses the first stanza of `apt-cache show --no-all-versions` output.
pub fn parse_show(text: &str) -> PkgInfo {
    let mut info = PkgInfo::default();
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Package: ") {
            info.package = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("Version: ") {
            info.version = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("Depends: ") {
            info.depends = v.trim().to_string();
        }
    }
    info
}

/// The candidate version (and dependencies) of `pkg`; runs `apt-get update` once if the
/// package lists do not know it and we are root.
pub fn candidate(pkg: &str) -> Result<PkgInfo> {
    let query =
        || util::try_output(Command::new("apt-cache").args(["show", "--no-all-versions", pkg])).map(|t| parse_show(&t));
    if let Some(i) = query().filter(|i| !i.version.is_empty()) {
        return Ok(i);
    }
    if util::is_root() {
        util::run(Command::new("apt-get").args(["update", "-q"]))?;
        if let Some(i) = query().filter(|i| !i.version.is_empty()) {
            return Ok(i);
        }
    }
    bail!("apt does not know package '{pkg}' (run `apt-get update` as root; the test bed needs Debian {SUITE} sources)")
}

/// The package a meta-package depends on whose name starts with `prefix`
/// (`linux-image-amd64` → `linux-image-6.1.0-NN-amd64`).
pub fn dependency_named(depends: &str, prefix: &str) -> Option<String> {
    depends
        .split([',', '|'])
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|n| n.starts_with(prefix))
        .map(str::to_string)
}

/// Downloads `pkg=version` into `dir` with `apt-get download`; returns the .deb path.
pub fn download(pkg: &str, version: &str, dir: &Path) -> Result<std::path::PathBuf> {
    util::mkdirs(dir)?;
    util::run(Command::new("apt-get").current_dir(dir).args([
        "download",
        "-q",
        "-o",
        "APT::Sandbox::User=root",
        &format!("{pkg}={version}"),
    ]))?;
    let want = format!("{pkg}_");
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if n.starts_with(&want) && n.ends_with(".deb") {
            return Ok(p);
        }
    }
    bail!("apt-get download {pkg}={version} produced no .deb in {}", dir.display())
}

/// Whether a host package is installed.
pub fn installed(pkg: &str) -> bool {
    util::try_output(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
        .is_some_and(|s| s.contains("install ok installed"))
}

/// Installs the missing ones of `pkgs` when root; otherwise fails with the exact command.
pub fn ensure_host_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!("apt-get install -y --no-install-recommends {}", missing.join(" "));
    if !util::is_root() {
        bail!("missing host packages; run as root:\n    {line}");
    }
    eprintln!("installing missing host packages: {}", missing.join(" "));
    util::run(Command::new("apt-get").args(["update", "-q"]))?;
    util::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )
    .ctx(|| format!("installing host packages ({line})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEB822: &str = "Types: deb\n# comment\nURIs: http://a.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://b.example/debian-security\nSuites: bookworm-security\nComponents: main contrib\n\nTypes: deb-src\nURIs: http://c.example/\nSuites: bookworm\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://d.example/\nSuites: bookworm\nComponents: main\n";

    #[test]
    fn deb822_stanzas() {
        let s = parse_deb822(DEB822);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uri, "http://a.example/debian");
        assert_eq!(s[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(s[1].components, ["main", "contrib"]);
        assert_eq!(mirror(&s).unwrap(), "http://a.example/debian");
    }

    #[test]
    fn one_line_format() {
        let s = parse_list(
            "# x\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main # c\ndeb-src http://m/ bookworm main\ndeb http://s.example/ bookworm-security main\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].signed_by.as_deref(), Some("/k.gpg"));
        assert_eq!(s[0].suites, ["bookworm"]);
        assert_eq!(s[1].uri, "http://s.example/");
    }

    #[test]
    fn release_filter_and_render() {
        let mut all = parse_deb822(DEB822);
        all.extend(parse_list(
            "deb http://other.example/ stable main\ndeb http://x.example/ bookworm-backports main\n",
        ));
        let r = release_sources(&all);
        assert_eq!(r.len(), 3);
        let text = render_deb822(&r);
        assert!(text.contains("Suites: bookworm bookworm-updates\n"));
        assert!(text.contains("Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"));
        assert!(!text.contains("other.example"));
        assert_eq!(parse_deb822(&text).len(), 3);
    }

    #[test]
    fn no_mirror_is_an_error() {
        assert!(mirror(&parse_list("deb http://x/ trixie main")).is_err());
    }

    #[test]
    fn kernel_dependency() {
        let i = parse_show(
            "Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n\nVersion: old\n",
        );
        assert_eq!(i.version, "6.1.192-2");
        assert_eq!(dependency_named(&i.depends, "linux-image-").as_deref(), Some("linux-image-6.1.0-56-amd64"));
        assert_eq!(dependency_named("a, b | c", "linux-image-"), None);
        let all = parse_show_all("Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\nDepends: c\n\n");
        assert_eq!((all[1].package.as_str(), all[1].version.as_str(), all[1].depends.as_str()), ("b", "2", "c"));
    }
}
