//! A minimal JSON writer for `--json` output (objects of strings, numbers, booleans and null).

/// One JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub fn opt_num(v: Option<u64>) -> Json {
        v.map(Json::Num).unwrap_or(Json::Null)
    }

    pub fn opt_str(v: Option<impl Into<String>>) -> Json {
        v.map(|s| Json::Str(s.into())).unwrap_or(Json::Null)
    }
}

fn escape(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        write_to(self, &mut s);
        f.write_str(&s)
    }
}

fn write_to(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => out.push_str(&n.to_string()),
        Json::Str(s) => escape(s, out),
        Json::Arr(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_to(it, out);
            }
            out.push(']');
        }
        Json::Obj(fields) => {
            out.push('{');
            for (i, (k, it)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                escape(k, out);
                out.push(':');
                write_to(it, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_escaped_json() {
        let v = Json::Obj(vec![
            ("a", Json::str("x\"y\\\n\u{1}")),
            ("b", Json::Arr(vec![Json::Num(1), Json::Bool(false), Json::Null])),
            ("c", Json::opt_str(None::<String>)),
        ]);
        assert_eq!(v.to_string(), r#"{"a":"x\"y\\\n\u0001","b":[1,false,null],"c":null}"#);
    }
}
