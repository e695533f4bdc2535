//! The guest command line (`start_info.cmd_line`, xl's `extra=`): split into options the way
//! the C stub domains take them (fact sheet §10): words separated by spaces, `"` and `'`
//! quote a span (the quote characters are removed, the other kind is literal inside), at
//! most 1023 bytes (byte 1023 of the field is always the terminator). Each word is either
//! `key=value` (split at the first `=`) or a bare flag.
//!
//! Pure and allocation-based; it never fails: an unterminated quote simply runs to the end,
//! and invalid UTF-8 is replaced, so a hostile command line can only produce odd options.

use alloc::string::String;
use alloc::vec::Vec;

/// Longest command line honoured (`MAX_GUEST_CMDLINE - 1`).
pub const MAX_CMDLINE_LEN: usize = 1023;

/// One parsed word of the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdOption {
    /// `key=value` (the value may be empty, and may contain further `=`).
    KeyValue(String, String),
    /// A word without `=`.
    Flag(String),
}

impl CmdOption {
    /// The option's name: the key, or the flag itself.
    pub fn name(&self) -> &str {
        match self {
            CmdOption::KeyValue(k, _) => k,
            CmdOption::Flag(f) => f,
        }
    }

    /// The value of a `key=value` option.
    pub fn value(&self) -> Option<&str> {
        match self {
            CmdOption::KeyValue(_, v) => Some(v),
            CmdOption::Flag(_) => None,
        }
    }
}

impl core::fmt::Display for CmdOption {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CmdOption::KeyValue(k, v) => write!(f, "{k}={v}"),
            CmdOption::Flag(x) => write!(f, "{x}"),
        }
    }
}

/// True for an option whose value is a secret: by convention its name ends in `_auth` or
/// `_key` (`owner_auth`, `srk_auth`, `root_key`).
pub fn is_secret(name: &str) -> bool {
    name.ends_with("_auth") || name.ends_with("_key")
}

/// The option as the console may show it: a secret's value is replaced by `(hidden)`, since
/// the console log is kept by dom0 (`/var/log/xen/console/`).
pub fn shown(o: &CmdOption) -> alloc::string::String {
    match o {
        CmdOption::KeyValue(k, _) if is_secret(k) => alloc::format!("{k}=(hidden)"),
        other => alloc::format!("{other}"),
    }
}

/// The raw command line: bytes up to the first NUL, never more than 1023 bytes.
pub fn raw(bytes: &[u8]) -> &[u8] {
    let bytes = &bytes[..bytes.len().min(MAX_CMDLINE_LEN)];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// Splits the command line into words, honouring quotes.
pub fn split_words(bytes: &[u8]) -> Vec<String> {
    let bytes = raw(bytes);
    let mut words = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut quote: Option<u8> = None;
    for &b in bytes {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => cur.push(b),
            None if b == b'"' || b == b'\'' => {
                quote = Some(b);
                in_word = true;
            }
            None if b == b' ' || b == b'\t' || b == b'\n' => {
                if in_word {
                    words.push(String::from_utf8_lossy(&cur).into_owned());
                    cur.clear();
                    in_word = false;
                }
            }
            None => {
                cur.push(b);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(String::from_utf8_lossy(&cur).into_owned());
    }
    words
}

/// Parses the command line into options.
pub fn parse(bytes: &[u8]) -> Vec<CmdOption> {
    split_words(bytes)
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => CmdOption::KeyValue(String::from(k), String::from(v)),
            None => CmdOption::Flag(w),
        })
        .collect()
}

/// Options split by whether the image knows them (by name).
pub fn partition<'a>(opts: &'a [CmdOption], known: &[&str]) -> (Vec<&'a CmdOption>, Vec<&'a CmdOption>) {
    opts.iter().partition(|o| known.contains(&o.name()))
}

/// The last value given for `key` (later options override earlier ones, as in the C images).
pub fn value_of<'a>(opts: &'a [CmdOption], key: &str) -> Option<&'a str> {
    opts.iter().rev().find(|o| o.name() == key).and_then(|o| o.value())
}

/// True if `flag` appears as a bare word.
pub fn has_flag(opts: &[CmdOption], flag: &str) -> bool {
    opts.iter().any(|o| matches!(o, CmdOption::Flag(f) if f == flag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_not_shown() {
        let kv = |k: &str, v: &str| CmdOption::KeyValue(k.into(), v.into());
        assert_eq!(shown(&kv("owner_auth", "text:hunter2")), "owner_auth=(hidden)");
        assert_eq!(shown(&kv("srk_auth", "well-known")), "srk_auth=(hidden)");
        assert_eq!(shown(&kv("root_key", "text:my passphrase")), "root_key=(hidden)");
        assert_eq!(shown(&kv("tpmlocality", "2")), "tpmlocality=2");
        assert_eq!(shown(&CmdOption::Flag("clear".into())), "clear");
    }
    use alloc::string::ToString;
    use alloc::vec;

    fn kv(k: &str, v: &str) -> CmdOption {
        CmdOption::KeyValue(k.to_string(), v.to_string())
    }
    fn fl(f: &str) -> CmdOption {
        CmdOption::Flag(f.to_string())
    }

    #[test]
    fn flags_and_key_values() {
        assert_eq!(
            parse(b"loglevel=debug selftest  clear maintcmds=1"),
            vec![kv("loglevel", "debug"), fl("selftest"), fl("clear"), kv("maintcmds", "1")]
        );
        assert_eq!(parse(b""), vec![]);
        assert_eq!(parse(b"   "), vec![]);
        assert_eq!(parse(b"a= =b x=y=z"), vec![kv("a", ""), kv("", "b"), kv("x", "y=z")]);
    }

    #[test]
    fn quotes() {
        assert_eq!(
            parse(b"locality=\"guest1 u:vm_r=1,2\" owner_auth='text:a b' x"),
            vec![kv("locality", "guest1 u:vm_r=1,2"), kv("owner_auth", "text:a b"), fl("x")]
        );
        // The other quote kind is literal inside a quoted span.
        assert_eq!(parse(b"a=\"it's\""), vec![kv("a", "it's")]);
        assert_eq!(parse(b"a='say \"hi\"'"), vec![kv("a", "say \"hi\"")]);
        // An empty quoted word is still a word; an unterminated quote runs to the end.
        assert_eq!(parse(b"\"\" b"), vec![fl(""), fl("b")]);
        assert_eq!(parse(b"k=\"open ended"), vec![kv("k", "open ended")]);
        // Quotes in the middle of a word join its parts.
        assert_eq!(parse(b"ab'c d'e"), vec![fl("abc de")]);
    }

    #[test]
    fn stops_at_nul() {
        assert_eq!(parse(b"one\0two"), vec![fl("one")]);
    }

    #[test]
    fn limit_is_1023_bytes() {
        let mut line = vec![b'x'; 2000];
        line[1020] = b' ';
        let words = split_words(&line);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].len(), 1020);
        assert_eq!(words[1].len(), 2); // bytes 1021 and 1022 only
        assert_eq!(raw(&line).len(), 1023);
        let exact = vec![b'y'; 1023];
        assert_eq!(split_words(&exact)[0].len(), 1023);
    }

    #[test]
    fn unknown_keys_are_separated() {
        let opts = parse(b"loglevel=info bogus frob=1 selftest");
        let (known, unknown) = partition(&opts, &["loglevel", "selftest"]);
        assert_eq!(known.len(), 2);
        assert_eq!(unknown.iter().map(|o| o.name()).collect::<Vec<_>>(), vec!["bogus", "frob"]);
        assert_eq!(value_of(&opts, "loglevel"), Some("info"));
        assert_eq!(value_of(&opts, "selftest"), None);
        assert!(has_flag(&opts, "selftest"));
        assert!(!has_flag(&opts, "frob"));
        assert_eq!(kv("a", "b").to_string(), "a=b");
        assert_eq!(fl("f").to_string(), "f");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let opts = parse(b"k=\xff\xfe z");
        assert_eq!(opts.len(), 2);
        assert_eq!(opts[0].name(), "k");
    }

    #[test]
    fn later_values_override() {
        let opts = parse(b"loglevel=info loglevel=debug");
        assert_eq!(value_of(&opts, "loglevel"), Some("debug"));
    }
}
