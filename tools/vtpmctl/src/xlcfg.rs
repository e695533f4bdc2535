//! Just enough of the xl domain configuration syntax (xl.cfg(5)) to read a guest's `name` and
//! `vtpm`, and to set a key while keeping every other line, comment and blank line of the file
//! as it was. A setting is `KEY = VALUE` at the start of a line; a `[ … ]` list may span lines;
//! `#` starts a comment outside quotes.

/// One top-level setting: its key, its value text (without a trailing comment) and the lines it
/// occupies (`first..=last`, 0-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub first: usize,
    pub last: usize,
}

/// Why a cfg text could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CfgError(pub String);

impl std::fmt::Display for CfgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Scans one line's characters, updating the quote state and bracket depth; returns the part
/// before a comment.
fn scan<'a>(line: &'a str, quote: &mut Option<char>, depth: &mut i32) -> &'a str {
    for (i, c) in line.char_indices() {
        match (*quote, c) {
            (None, '"' | '\'') => *quote = Some(c),
            (Some(q), c2) if c2 == q => *quote = None,
            (None, '[') => *depth += 1,
            (None, ']') => *depth -= 1,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The settings of a cfg text, in file order. A line that is neither a comment, blank, nor
/// `KEY = …` (or a list left open at the end of the file) is an error naming its line.
pub fn settings(text: &str) -> Result<Vec<Setting>, CfgError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if l.is_empty() || l.starts_with('#') {
            i += 1;
            continue;
        }
        let Some((key, _)) = l.split_once('=') else {
            return Err(CfgError(format!("line {}: expected KEY = VALUE", i + 1)));
        };
        let key = key.trim();
        if !is_key(key) {
            return Err(CfgError(format!("line {}: {key:?} is not a setting name", i + 1)));
        }
        let first = i;
        let (mut quote, mut depth) = (None, 0i32);
        let mut value = String::new();
        loop {
            let code = scan(lines[i], &mut quote, &mut depth);
            let part = if i == first { code.split_once('=').map(|(_, v)| v).unwrap_or("") } else { code };
            if !value.is_empty() {
                value.push('\n');
            }
            value.push_str(part.trim_end());
            if depth <= 0 && quote.is_none() {
                break;
            }
            i += 1;
            if i >= lines.len() {
                return Err(CfgError(format!("line {}: `{key}` is not closed by the end of the file", first + 1)));
            }
        }
        out.push(Setting { key: key.to_string(), value: value.trim().to_string(), first, last: i });
        i += 1;
    }
    Ok(out)
}

/// The value of the last `key` setting (xl lets a later one win), `None` if absent.
pub fn get(text: &str, key: &str) -> Result<Option<String>, CfgError> {
    Ok(settings(text)?.into_iter().rev().find(|s| s.key == key).map(|s| s.value))
}

/// An xl string value without its quotes (`"domu"` → `domu`); `None` if it is not one string.
pub fn unquote(v: &str) -> Option<&str> {
    let v = v.trim();
    let q = v.chars().next()?;
    if (q == '"' || q == '\'') && v.len() >= 2 && v.ends_with(q) {
        let inner = &v[1..v.len() - 1];
        (!inner.contains(q)).then_some(inner)
    } else {
        None
    }
}

/// The strings of an xl list value (`[ "a", 'b' ]` → `a`, `b`).
pub fn list_items(v: &str) -> Result<Vec<String>, CfgError> {
    let v = v.trim();
    let inner = v
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| CfgError(format!("{v:?} is not a list")))?;
    let mut items = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let q = rest.chars().next().unwrap_or('"');
        if q != '"' && q != '\'' {
            return Err(CfgError(format!("list item {rest:?} is not a quoted string")));
        }
        let end = rest[1..].find(q).ok_or_else(|| CfgError("unterminated string in a list".into()))?;
        items.push(rest[1..1 + end].to_string());
        rest = rest[end + 2..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(items)
}

/// Quotes a string for xl (`"…"`); refuses a value with a double quote or a newline in it.
pub fn quote(s: &str) -> Result<String, CfgError> {
    if s.contains('"') || s.contains('\n') {
        return Err(CfgError(format!("{s:?} cannot be written as an xl string")));
    }
    Ok(format!("\"{s}\""))
}

/// Sets `key = value` (`value` is xl syntax, already quoted): every existing `key` setting is
/// replaced by one `key = value` line at the place of the first (the rest are removed, so the
/// file keeps one); without one, the line is appended. Every other line is kept byte for byte.
pub fn set(text: &str, key: &str, value: &str) -> Result<String, CfgError> {
    let found: Vec<Setting> = settings(text)?.into_iter().filter(|s| s.key == key).collect();
    let line = format!("{key:<7} = {value}");
    let mut out = String::with_capacity(text.len() + line.len() + 1);
    if found.is_empty() {
        out.push_str(text);
        if !text.is_empty() && !text.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&line);
        out.push('\n');
        return Ok(out);
    }
    for (i, l) in text.split_inclusive('\n').enumerate() {
        match found.iter().find(|s| (s.first..=s.last).contains(&i)) {
            Some(s) if s.first == found[0].first && i == s.first => {
                out.push_str(&line);
                out.push('\n');
            }
            Some(_) => {}
            None => out.push_str(l),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUEST: &str = "# A guest\nname    = \"domu\"\ntype = 'pv'   # PV\n\ndisk = [ \"file:/a,xvda,w\",\n         \"file:/b,xvdb,w\" ]\nextra = \"a # not a comment\"\n";

    #[test]
    fn reads_settings_lists_and_strings() {
        let s = settings(GUEST).unwrap();
        assert_eq!(s.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), ["name", "type", "disk", "extra"]);
        assert_eq!((s[2].first, s[2].last), (4, 5));
        assert_eq!(get(GUEST, "name").unwrap().as_deref().and_then(unquote), Some("domu"));
        assert_eq!(get(GUEST, "type").unwrap().as_deref().and_then(unquote), Some("pv"));
        assert_eq!(get(GUEST, "extra").unwrap().as_deref().and_then(unquote), Some("a # not a comment"));
        assert_eq!(list_items(&get(GUEST, "disk").unwrap().unwrap()).unwrap(), ["file:/a,xvda,w", "file:/b,xvdb,w"]);
        assert_eq!(get(GUEST, "vtpm").unwrap(), None);
        assert_eq!(list_items("[ ]").unwrap(), Vec::<String>::new());
        assert_eq!(list_items("['a','b',]").unwrap(), ["a", "b"]);
        assert!(list_items("\"a\"").is_err());
        assert!(list_items("[ a ]").is_err());
        assert_eq!(unquote("domu"), None);
        assert_eq!(unquote("\"a\"b\""), None);
    }

    #[test]
    fn bad_text_is_an_error_with_its_line() {
        assert_eq!(settings("name = \"x\"\nrubbish\n").unwrap_err().0, "line 2: expected KEY = VALUE");
        assert!(settings("vtpm = [ \"a\",\n").unwrap_err().0.contains("not closed"));
        assert!(settings("a b = 1\n").is_err());
    }

    #[test]
    fn set_appends_or_replaces_and_keeps_everything_else() {
        let added = set(GUEST, "vtpm", "[ \"backend=vtpm-a\" ]").unwrap();
        assert_eq!(added, format!("{GUEST}vtpm    = [ \"backend=vtpm-a\" ]\n"));
        let replaced = set(GUEST, "disk", "[ \"file:/c,xvda,w\" ]").unwrap();
        assert_eq!(
            replaced,
            "# A guest\nname    = \"domu\"\ntype = 'pv'   # PV\n\ndisk    = [ \"file:/c,xvda,w\" ]\nextra = \"a # not a comment\"\n"
        );
        // Duplicates collapse into the first one's place.
        assert_eq!(set("a = 1\nb = 2\na = 3\n", "a", "4").unwrap(), "a       = 4\nb = 2\n");
        // A file without a final newline gets one before the appended line.
        assert_eq!(set("a = 1", "b", "2").unwrap(), "a = 1\nb       = 2\n");
        assert!(quote("x\"y").is_err());
        assert_eq!(quote("vtpm").unwrap(), "\"vtpm\"");
    }

    #[test]
    fn the_shipped_template_parses() {
        let t = include_str!("../../../configs/vtpm.cfg");
        let vtpm = list_items(&get(t, "vtpm").unwrap().unwrap()).unwrap();
        assert!(vtpm[0].starts_with("backend=vtpmmgr,uuid="));
        let out = set(t, "name", "\"v1\"").unwrap();
        assert_eq!(get(&out, "name").unwrap().as_deref().and_then(unquote), Some("v1"));
        assert_eq!(out.lines().count(), t.lines().count());
    }
}
