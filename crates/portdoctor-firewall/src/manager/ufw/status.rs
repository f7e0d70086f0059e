//! Parser for `ufw status numbered` and `ufw status verbose`.

/// One numbered rule as `ufw status numbered` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRule {
    /// Its number.
    pub number: usize,
    /// `8080/tcp DENY IN Anywhere` (columns joined by one space).
    pub text: String,
    /// The comment after `#`, if any.
    pub comment: Option<String>,
}

/// Parses the numbered rules; other lines are ignored.
pub fn numbered(text: &str) -> Vec<StatusRule> {
    text.lines().filter_map(rule_line).collect()
}

fn rule_line(line: &str) -> Option<StatusRule> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (num, rest) = rest.split_once(']')?;
    let number = num.trim().parse().ok()?;
    let (body, comment) = match rest.split_once(" # ") {
        Some((b, c)) => (b, Some(c.trim().to_string())),
        None => (rest, None),
    };
    let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(StatusRule {
        number,
        text,
        comment,
    })
}

/// `Default: deny (incoming), allow (outgoing), disabled (routed)` → `deny`.
pub fn default_incoming(verbose: &str) -> Option<String> {
    let line = verbose.lines().find(|l| l.starts_with("Default:"))?;
    let part = line
        .trim_start_matches("Default:")
        .split(',')
        .find(|p| p.contains("(incoming)"))?;
    Some(part.split_whitespace().next()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_numbered_rules_and_default() {
        // Recorded from ufw 0.36.2 (Debian bookworm) in a lab namespace.
        let out = "Status: active\n\n     To                         Action      From\n     --                         ------      ----\n[ 1] 22/tcp                     ALLOW IN    Anywhere                  \n[ 2] 8080/tcp                   DENY IN     Anywhere                   # no web\n[ 7] 2222/tcp (v6)              LIMIT IN    Anywhere (v6)             \n";
        let r = numbered(out);
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].text, "8080/tcp DENY IN Anywhere");
        assert_eq!(r[1].comment.as_deref(), Some("no web"));
        assert_eq!(r[2].number, 7);
        let v = "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n";
        assert_eq!(default_incoming(v).as_deref(), Some("deny"));
    }
}
