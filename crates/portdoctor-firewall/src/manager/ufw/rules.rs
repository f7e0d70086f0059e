//! Parser for ufw's `user.rules` / `user6.rules`: the `### tuple ###` comment that describes
//! each user rule, followed by the iptables lines ufw generated for it. The tuples are the
//! stable key from kernel rules back to ufw's own rules.

use crate::manager::ConfigProblem;

/// One user rule as ufw records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    /// `allow`, `deny`, `reject` or `limit` (logging suffixes like `_log` removed).
    pub action: String,
    /// A route (forward) rule.
    pub route: bool,
    /// `tcp`, `udp` or `any`.
    pub proto: String,
    /// Destination port(s) or `any`.
    pub dport: String,
    /// Destination address.
    pub dst: String,
    /// Source port(s) or `any`.
    pub sport: String,
    /// Source address.
    pub src: String,
    /// Application profile names (`-` when none).
    pub apps: Option<(String, String)>,
    /// `in`, `out`, `in_eth0` …
    pub direction: String,
    /// The rule's comment, decoded.
    pub comment: Option<String>,
    /// 1-based line of the tuple comment in the file.
    pub line: usize,
    /// The generated lines, each as (chain, the whole `-A …` line).
    pub generated: Vec<(String, String)>,
}

impl Tuple {
    /// Whether the source is "anywhere".
    pub fn any_source(&self) -> bool {
        matches!(self.src.as_str(), "0.0.0.0/0" | "::/0" | "any")
    }

    /// Whether the destination is "anywhere".
    pub fn any_destination(&self) -> bool {
        matches!(self.dst.as_str(), "0.0.0.0/0" | "::/0" | "any")
    }

    /// Index (0-based) of this tuple's first generated line in `chain` among all lines of
    /// that chain in the file, given the tuples before it.
    pub fn lines_in(&self, chain: &str) -> usize {
        self.generated.iter().filter(|(c, _)| c == chain).count()
    }

    /// The ufw command-line form of the rule, roughly as `ufw status` shows it:
    /// `8080/tcp DENY IN Anywhere`.
    pub fn display(&self) -> String {
        let to = match (self.dport.as_str(), self.proto.as_str()) {
            ("any", _) => "Anywhere".to_string(),
            (p, "any") => p.to_string(),
            (p, proto) => format!("{p}/{proto}"),
        };
        let from = if self.any_source() {
            "Anywhere".to_string()
        } else {
            self.src.clone()
        };
        let dir = if self.direction.starts_with("out") {
            "OUT"
        } else {
            "IN"
        };
        format!("{to} {} {dir} {from}", self.action.to_uppercase())
    }
}

/// Parses a user.rules file. Lines that do not parse are reported and skipped.
pub fn parse(text: &str, source: &str) -> (Vec<Tuple>, Vec<ConfigProblem>) {
    let mut tuples: Vec<Tuple> = vec![];
    let mut problems = vec![];
    let mut in_rules = false;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t == "### RULES ###" {
            in_rules = true;
        } else if t == "### END RULES ###" {
            in_rules = false;
        } else if let Some(rest) = t.strip_prefix("### tuple ###") {
            match tuple(rest, n) {
                Ok(tp) => tuples.push(tp),
                Err((col, message)) => {
                    problems.push(ConfigProblem {
                        source: source.to_string(),
                        line: Some(n),
                        column: Some(col + "### tuple ###".len() + line.find('#').unwrap_or(0)),
                        message,
                    });
                    // Keep its place: the lines that follow are still this rule's, and the
                    // numbers of the rules after it must not shift.
                    tuples.push(unreadable(rest.trim(), n));
                }
            }
        } else if in_rules && t.starts_with("-A ") {
            let chain = t.split_whitespace().nth(1).unwrap_or_default().to_string();
            match tuples.last_mut() {
                Some(tp) => tp.generated.push((chain, t.to_string())),
                None => problems.push(ConfigProblem {
                    source: source.to_string(),
                    line: Some(n),
                    column: Some(1),
                    message: "rule line before any `### tuple ###` line".into(),
                }),
            }
        }
    }
    (tuples, problems)
}

/// A placeholder for a tuple line that could not be read.
fn unreadable(text: &str, line: usize) -> Tuple {
    Tuple {
        action: format!("(unreadable: {text})"),
        route: false,
        proto: "?".into(),
        dport: "?".into(),
        dst: "?".into(),
        sport: "?".into(),
        src: "?".into(),
        apps: None,
        direction: "?".into(),
        comment: None,
        line,
        generated: vec![],
    }
}

/// Parses the text after `### tuple ###`; errors give the 1-based column in `rest`.
fn tuple(rest: &str, line: usize) -> Result<Tuple, (usize, String)> {
    let (fields_text, comment) = match rest.find(" comment=") {
        Some(i) => (&rest[..i], Some(&rest[i + " comment=".len()..])),
        None => (rest, None),
    };
    let fields: Vec<&str> = fields_text.split_whitespace().collect();
    let apps = match fields.len() {
        7 => None,
        9 => Some((fields[6].to_string(), fields[7].to_string())),
        n => {
            return Err((
                1,
                format!(
                    "a tuple has 7 or 9 fields (action proto dport dst sport src [dapp sapp] direction), not {n}"
                ),
            ));
        }
    };
    let raw_action = fields[0];
    let (route, action) = match raw_action.strip_prefix("route:") {
        Some(a) => (true, a),
        None => (false, raw_action),
    };
    let action = action.split('_').next().unwrap_or(action);
    if !matches!(action, "allow" | "deny" | "reject" | "limit") {
        return Err((2, format!("unknown action `{raw_action}`")));
    }
    let comment = match comment {
        Some(hex) => Some(decode_hex(hex.trim()).ok_or_else(|| {
            (
                fields_text.len() + 10,
                "comment is not hexadecimal".to_string(),
            )
        })?),
        None => None,
    };
    Ok(Tuple {
        action: action.to_string(),
        route,
        proto: fields[1].to_string(),
        dport: fields[2].to_string(),
        dst: fields[3].to_string(),
        sport: fields[4].to_string(),
        src: fields[5].to_string(),
        apps,
        direction: fields[fields.len() - 1].to_string(),
        comment,
        line,
        generated: vec![],
    })
}

fn decode_hex(hex: &str) -> Option<String> {
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "*filter\n### RULES ###\n\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n\n### tuple ### deny tcp 8080 0.0.0.0/0 any 0.0.0.0/0 in comment=6e6f20776562\n-A ufw-user-input -p tcp --dport 8080 -j DROP\n\n### tuple ### limit tcp 2222 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 2222 -m conntrack --ctstate NEW -m recent --set\n-A ufw-user-input -p tcp --dport 2222 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 -j ufw-user-limit\n-A ufw-user-input -p tcp --dport 2222 -j ufw-user-limit-accept\n\n### tuple ### allow any 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT -m comment --comment 'dapp_OpenSSH'\n\n### END RULES ###\n-A ufw-user-limit -j REJECT\n";

    #[test]
    fn tuples_with_their_lines_and_comments() {
        let (t, p) = parse(SAMPLE, "user.rules");
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(t.len(), 4);
        assert_eq!(t[1].comment.as_deref(), Some("no web"));
        assert_eq!(t[1].display(), "8080/tcp DENY IN Anywhere");
        assert_eq!(t[2].generated.len(), 3);
        assert_eq!(t[3].apps, Some(("OpenSSH".into(), "-".into())));
        assert_eq!(t[1].line, 7);
    }

    #[test]
    fn bad_tuples_are_reported_with_line_and_column() {
        let bad = "### RULES ###\n### tuple ### allow tcp 22\n### tuple ### frobnicate tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n";
        let (t, p) = parse(bad, "/etc/ufw/user.rules");
        assert_eq!(t.len(), 2, "placeholders keep the numbering");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].line, Some(2));
        assert!(p[1].message.contains("frobnicate"), "{}", p[1]);
        assert!(
            p[0].to_string()
                .starts_with("/etc/ufw/user.rules, line 2, column")
        );
    }
}
