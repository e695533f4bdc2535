//! GRUB 2's script language, lexed and parsed into commands (the part of it that
//! `grub-mkconfig` output uses): words with `'…'`, `"…"`, `\` escapes and `$var`/`${var}`
//! references (expanded later, when the command runs), `#` comments, `;` and newlines,
//! `{ … }` blocks of `menuentry`, `submenu` and `function`, and `if … then … elif … else …
//! fi`. `for`/`while`/`until` loops are parsed and skipped. This module only builds the tree;
//! `grub_cfg` runs it.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::LoadError;

/// Deepest nesting of blocks accepted (a hostile config cannot exhaust the stack).
const MAX_DEPTH: usize = 32;

/// A piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal text; `quoted` if it came from quotes (an empty quoted piece still makes a word).
    Text { text: String, quoted: bool },
    /// `$name` or `${name}`; `quoted` inside `"…"` (no field splitting).
    Var { name: String, quoted: bool },
}

/// A word before expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word(pub Vec<Piece>);

impl Word {
    /// The word if it is plain unquoted text (keywords are recognised only then).
    pub fn plain(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Piece::Text { text, quoted: false }] => Some(text),
            _ => None,
        }
    }
}

/// A command of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A simple command: its words and its line (1-based).
    Simple { words: Vec<Word>, line: usize },
    /// `if`: (condition, body) per `if`/`elif`, then the `else` body.
    If { branches: Vec<(Vec<Command>, Vec<Command>)>, otherwise: Vec<Command> },
    /// `menuentry ARGS { BODY }` or `submenu ARGS { BODY }`.
    Menu { submenu: bool, args: Vec<Word>, body: Vec<Command>, line: usize },
    /// `function NAME { BODY }` (defined, never run by this loader).
    Function { name: String },
    /// A `for`/`while`/`until` loop (skipped).
    Loop { keyword: String, line: usize },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(Word, usize),
    Sep,
    Open(usize),
    Close(usize),
}

fn is_var_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Splits the config into tokens.
fn lex(src: &str) -> Result<Vec<Token>, LoadError> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut line = 1;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                out.push(Token::Sep);
                i += 1;
            }
            ';' => {
                out.push(Token::Sep);
                i += 1;
            }
            ' ' | '\t' | '\r' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '{' => {
                out.push(Token::Open(line));
                i += 1;
            }
            '}' => {
                out.push(Token::Close(line));
                i += 1;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                line += 1;
                i += 2;
            }
            _ => {
                let start_line = line;
                let mut pieces = Vec::new();
                let mut text = String::new();
                while i < chars.len() {
                    let c = chars[i];
                    match c {
                        ' ' | '\t' | '\r' | '\n' | ';' | '{' | '}' => break,
                        '\\' => {
                            match chars.get(i + 1) {
                                Some('\n') => line += 1,
                                Some(&n) => text.push(n),
                                None => {}
                            }
                            i += 2;
                        }
                        '\'' => {
                            flush(&mut pieces, &mut text, false);
                            let mut q = String::new();
                            i += 1;
                            loop {
                                match chars.get(i) {
                                    None => return Err(unterminated('\'', start_line)),
                                    Some('\'') => break,
                                    Some(&ch) => {
                                        if ch == '\n' {
                                            line += 1;
                                        }
                                        q.push(ch);
                                    }
                                }
                                i += 1;
                            }
                            i += 1;
                            pieces.push(Piece::Text { text: q, quoted: true });
                        }
                        '"' => {
                            flush(&mut pieces, &mut text, false);
                            let mut q = String::new();
                            let mut any = false;
                            i += 1;
                            loop {
                                match chars.get(i) {
                                    None => return Err(unterminated('"', start_line)),
                                    Some('"') => break,
                                    Some('\\') if matches!(chars.get(i + 1), Some('$' | '"' | '\\' | '\n')) => {
                                        if chars[i + 1] == '\n' {
                                            line += 1;
                                        } else {
                                            q.push(chars[i + 1]);
                                        }
                                        i += 2;
                                        continue;
                                    }
                                    Some('$') => {
                                        if let Some((name, used)) = var_at(&chars, i) {
                                            if !q.is_empty() {
                                                pieces
                                                    .push(Piece::Text { text: core::mem::take(&mut q), quoted: true });
                                            }
                                            pieces.push(Piece::Var { name, quoted: true });
                                            any = true;
                                            i += used;
                                            continue;
                                        }
                                        q.push('$');
                                    }
                                    Some(&ch) => {
                                        if ch == '\n' {
                                            line += 1;
                                        }
                                        q.push(ch);
                                    }
                                }
                                i += 1;
                            }
                            i += 1;
                            if !q.is_empty() || !any {
                                pieces.push(Piece::Text { text: q, quoted: true });
                            }
                        }
                        '$' => {
                            if let Some((name, used)) = var_at(&chars, i) {
                                flush(&mut pieces, &mut text, false);
                                pieces.push(Piece::Var { name, quoted: false });
                                i += used;
                            } else {
                                text.push('$');
                                i += 1;
                            }
                        }
                        _ => {
                            text.push(c);
                            i += 1;
                        }
                    }
                }
                flush(&mut pieces, &mut text, false);
                out.push(Token::Word(Word(pieces), start_line));
            }
        }
    }
    Ok(out)
}

fn unterminated(q: char, line: usize) -> LoadError {
    LoadError::Config(format!("line {line}: unterminated {q} quote"))
}

fn flush(pieces: &mut Vec<Piece>, text: &mut String, quoted: bool) {
    if !text.is_empty() {
        pieces.push(Piece::Text { text: core::mem::take(text), quoted });
    }
}

/// A variable reference at `chars[i] == '$'`: its name and how many chars it takes.
fn var_at(chars: &[char], i: usize) -> Option<(String, usize)> {
    match chars.get(i + 1) {
        Some('{') => {
            let mut j = i + 2;
            let mut name = String::new();
            while let Some(&c) = chars.get(j) {
                if c == '}' {
                    return (!name.is_empty()).then_some((name, j + 1 - i));
                }
                if !is_var_char(c) {
                    return None;
                }
                name.push(c);
                j += 1;
            }
            None
        }
        Some(&c) if is_var_char(c) => {
            let mut j = i + 1;
            let mut name = String::new();
            while let Some(&c) = chars.get(j) {
                if !is_var_char(c) {
                    break;
                }
                name.push(c);
                j += 1;
            }
            Some((name, j - i))
        }
        Some('?') | Some('#') | Some('@') | Some('*') => Some((String::from(chars[i + 1]), 2)),
        _ => None,
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Parses a whole config.
pub fn parse(src: &str) -> Result<Vec<Command>, LoadError> {
    let mut p = Parser { tokens: lex(src)?, pos: 0, depth: 0 };
    let (cmds, end) = p.list(&[])?;
    match end {
        End::Eof => Ok(cmds),
        End::Keyword(k, line) => Err(LoadError::Config(format!("line {line}: unexpected '{k}'"))),
        End::Close(line) => Err(LoadError::Config(format!("line {line}: unexpected '}}'"))),
    }
}

enum End {
    Eof,
    Keyword(String, usize),
    Close(usize),
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// Commands until EOF, a `}`, or (as the first word of a command) one of `stops`.
    fn list(&mut self, stops: &[&str]) -> Result<(Vec<Command>, End), LoadError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(LoadError::Config(format!("blocks nested more than {MAX_DEPTH} deep")));
        }
        let mut cmds = Vec::new();
        let end = loop {
            match self.peek() {
                None => break End::Eof,
                Some(Token::Sep) => {
                    self.pos += 1;
                }
                Some(Token::Close(line)) => {
                    let line = *line;
                    self.pos += 1;
                    break End::Close(line);
                }
                Some(Token::Open(line)) => {
                    return Err(LoadError::Config(format!("line {line}: '{{' without menuentry, submenu or function")));
                }
                Some(Token::Word(w, line)) => {
                    let line = *line;
                    if let Some(k) = w.plain()
                        && stops.contains(&k)
                    {
                        let k = String::from(k);
                        self.pos += 1;
                        break End::Keyword(k, line);
                    }
                    cmds.push(self.command()?);
                }
            }
        };
        self.depth -= 1;
        Ok((cmds, end))
    }

    /// Words up to the end of the command (a separator, a block, or EOF).
    fn words(&mut self) -> Vec<Word> {
        let mut words = Vec::new();
        while let Some(Token::Word(w, _)) = self.peek() {
            words.push(w.clone());
            self.pos += 1;
        }
        words
    }

    fn command(&mut self) -> Result<Command, LoadError> {
        let Some(Token::Word(first, line)) = self.next() else {
            return Err(LoadError::Config("internal: command without a word".into()));
        };
        match first.plain() {
            Some("if") => self.if_command(line),
            Some(k @ ("menuentry" | "submenu")) => {
                let submenu = k == "submenu";
                let args = self.words();
                let body = self.block(k, line)?;
                Ok(Command::Menu { submenu, args, body, line })
            }
            Some("function") => {
                let name = self.words().first().and_then(|w| w.plain().map(String::from)).unwrap_or_default();
                self.block("function", line)?;
                Ok(Command::Function { name })
            }
            Some(k @ ("for" | "while" | "until")) => {
                let keyword = String::from(k);
                self.skip_loop(line)?;
                Ok(Command::Loop { keyword, line })
            }
            _ => {
                let mut words = alloc::vec![first];
                words.extend(self.words());
                Ok(Command::Simple { words, line })
            }
        }
    }

    fn block(&mut self, what: &str, line: usize) -> Result<Vec<Command>, LoadError> {
        while let Some(Token::Sep) = self.peek() {
            self.pos += 1;
        }
        match self.next() {
            Some(Token::Open(_)) => {}
            _ => return Err(LoadError::Config(format!("line {line}: '{what}' without a '{{' block"))),
        }
        let (body, end) = self.list(&[])?;
        match end {
            End::Close(_) => Ok(body),
            End::Eof => Err(LoadError::Config(format!("line {line}: '{what}' block has no closing '}}'"))),
            End::Keyword(k, l) => Err(LoadError::Config(format!("line {l}: unexpected '{k}'"))),
        }
    }

    fn if_command(&mut self, line: usize) -> Result<Command, LoadError> {
        let mut branches = Vec::new();
        let mut otherwise = Vec::new();
        loop {
            let (cond, end) = self.list(&["then"])?;
            if !matches!(end, End::Keyword(ref k, _) if k == "then") {
                return Err(LoadError::Config(format!("line {line}: 'if' without 'then'")));
            }
            let (body, end) = self.list(&["elif", "else", "fi"])?;
            branches.push((cond, body));
            match end {
                End::Keyword(k, _) if k == "elif" => continue,
                End::Keyword(k, _) if k == "else" => {
                    let (body, end) = self.list(&["fi"])?;
                    if !matches!(end, End::Keyword(ref k, _) if k == "fi") {
                        return Err(LoadError::Config(format!("line {line}: 'if' without 'fi'")));
                    }
                    otherwise = body;
                    break;
                }
                End::Keyword(k, _) if k == "fi" => break,
                _ => return Err(LoadError::Config(format!("line {line}: 'if' without 'fi'"))),
            }
        }
        Ok(Command::If { branches, otherwise })
    }

    /// Skips `for/while/until … do … done` (nested loops included).
    fn skip_loop(&mut self, line: usize) -> Result<(), LoadError> {
        let mut depth = 1usize;
        let mut at_start = false;
        while let Some(t) = self.next() {
            match t {
                Token::Sep => at_start = true,
                Token::Word(w, _) => {
                    if at_start {
                        match w.plain() {
                            Some("for" | "while" | "until") => depth += 1,
                            Some("done") => {
                                depth -= 1;
                                if depth == 0 {
                                    return Ok(());
                                }
                            }
                            _ => {}
                        }
                    }
                    at_start = matches!(w.plain(), Some("do" | "then" | "else"));
                }
                _ => at_start = true,
            }
        }
        Err(LoadError::Config(format!("line {line}: loop without 'done'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Piece {
        Piece::Text { text: s.into(), quoted: false }
    }

    #[test]
    fn quoting_and_variables() {
        let cmds = parse("set root='hd0,msdos1'\necho \"a $x ${y}b\" c\\ d $z").unwrap();
        let Command::Simple { words, .. } = &cmds[1] else { panic!() };
        assert_eq!(words[0].0, [text("echo")]);
        assert_eq!(
            words[1].0,
            [
                Piece::Text { text: "a ".into(), quoted: true },
                Piece::Var { name: "x".into(), quoted: true },
                Piece::Text { text: " ".into(), quoted: true },
                Piece::Var { name: "y".into(), quoted: true },
                Piece::Text { text: "b".into(), quoted: true },
            ]
        );
        assert_eq!(words[2].0, [text("c d")]);
        assert_eq!(words[3].0, [Piece::Var { name: "z".into(), quoted: false }]);
    }

    #[test]
    fn blocks_and_if() {
        let src = "if [ x ]; then a; elif b; then c\nelse d; fi\nmenuentry 'T' --class x {\n linux /v\n}\nfunction f { x }\nfor i in 1 2; do echo; done";
        let cmds = parse(src).unwrap();
        assert!(matches!(&cmds[0], Command::If { branches, otherwise } if branches.len() == 2 && otherwise.len() == 1));
        assert!(matches!(&cmds[1], Command::Menu { submenu: false, body, .. } if body.len() == 1));
        assert!(matches!(&cmds[2], Command::Function { name } if name == "f"));
        assert!(matches!(&cmds[3], Command::Loop { .. }));
    }

    #[test]
    fn errors_are_values() {
        for bad in ["menuentry 'x' {", "if a; then b", "}", "echo 'x", "echo \"x", "{", "menuentry x", "for a; do"] {
            assert!(matches!(parse(bad), Err(LoadError::Config(_))), "{bad}");
        }
        let deep = "menuentry a {".repeat(100);
        assert!(parse(&deep).is_err());
    }
}
