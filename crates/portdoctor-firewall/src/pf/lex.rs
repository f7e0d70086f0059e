//! Lines and tokens of pf.conf text and `pfctl` listings: comments, `\` continuations,
//! macros (`name = "value"`, `$name`), and tokens that keep addresses, ranges (`5900:5909`)
//! and tables (`<name>`) whole.

use std::collections::HashMap;

/// A token with its 1-based column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tok {
    pub text: String,
    pub col: usize,
    /// Was a quoted string.
    pub quoted: bool,
}

/// A logical line (continuations joined) with the 1-based number of its first physical line.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub no: usize,
    pub text: String,
}

/// Joins `\` continuations and drops comments and blank lines.
pub(crate) fn logical_lines(text: &str) -> Vec<Line> {
    let mut out = vec![];
    let mut cur: Option<Line> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw.trim_end_matches('\r'));
        let (body, cont) = match line.trim_end().strip_suffix('\\') {
            Some(b) => (b.to_string(), true),
            None => (line.to_string(), false),
        };
        match cur.as_mut() {
            Some(c) => {
                c.text.push(' ');
                c.text.push_str(&body);
            }
            None => {
                cur = Some(Line {
                    no: i + 1,
                    text: body,
                })
            }
        }
        if !cont {
            if let Some(c) = cur.take() {
                if !c.text.trim().is_empty() {
                    out.push(c);
                }
            }
        }
    }
    if let Some(c) = cur {
        if !c.text.trim().is_empty() {
            out.push(c);
        }
    }
    out
}

/// The line without a `#` comment (outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' | '\'' => quoted = !quoted,
            '#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Replaces `$name` with macro values (unknown macros stay, to be reported by the parser).
pub(crate) fn expand(text: &str, macros: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let n = after
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(after.len(), |(j, _)| j);
        match macros.get(&after[..n]) {
            Some(v) if n > 0 => out.push_str(v),
            _ => {
                out.push('$');
                out.push_str(&after[..n]);
            }
        }
        rest = &after[n..];
    }
    out.push_str(rest);
    out
}

/// A macro definition `name = value` / `name = "value"`, if the line is one.
pub(crate) fn macro_def(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    let v = value.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(v);
    Some((name.to_string(), v.to_string()))
}

/// Splits a line into tokens. Err: column of an unclosed quote.
pub(crate) fn tokens(line: &str) -> Result<Vec<Tok>, usize> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' {
            let start = i + 1;
            let mut j = start;
            while j < chars.len() && chars[j].1 != c {
                j += 1;
            }
            if j >= chars.len() {
                return Err(col);
            }
            out.push(Tok {
                text: chars[start..j].iter().map(|x| x.1).collect(),
                col,
                quoted: true,
            });
            i = j + 1;
            continue;
        }
        if c == '<' {
            // `<table>` or an operator `<`, `<=`, `<>`.
            let mut j = i + 1;
            while j < chars.len()
                && (chars[j].1.is_ascii_alphanumeric() || "_-.".contains(chars[j].1))
            {
                j += 1;
            }
            if j > i + 1 && j < chars.len() && chars[j].1 == '>' {
                out.push(Tok {
                    text: chars[i..=j].iter().map(|x| x.1).collect(),
                    col,
                    quoted: false,
                });
                i = j + 1;
                continue;
            }
        }
        let two: String = chars[i..(i + 2).min(chars.len())]
            .iter()
            .map(|x| x.1)
            .collect();
        if ["><", "<>", "!=", "<=", ">="].contains(&two.as_str()) {
            out.push(Tok {
                text: two,
                col,
                quoted: false,
            });
            i += 2;
            continue;
        }
        if "{}(),!=<>".contains(c) {
            out.push(Tok {
                text: c.to_string(),
                col,
                quoted: false,
            });
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].1.is_whitespace() && !"{}(),!=<>\"'".contains(chars[i].1)
        {
            i += 1;
        }
        out.push(Tok {
            text: chars[start..i].iter().map(|x| x.1).collect(),
            col,
            quoted: false,
        });
    }
    Ok(out)
}
