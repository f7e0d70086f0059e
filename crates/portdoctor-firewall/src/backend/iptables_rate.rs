//! iptables match modules that depend on traffic history (`limit`, `hashlimit`, `recent`,
//! `connlimit`), decided under the fresh-source assumption ([`Match::Assumed`]): the packet is
//! the first connection from a source that has exceeded no rate and is in no `recent` list.

use crate::model::Match;

/// Whether `module` is one of the history-dependent modules handled here.
pub(crate) fn is_rate_module(module: &str) -> bool {
    matches!(module, "limit" | "hashlimit" | "recent" | "connlimit")
}

/// The match for `-m MODULE OPTS…` (`text` is the whole option text, `opts` its tokens after
/// the module name). Unknown option combinations stay unmodelled.
pub(crate) fn rate_match(module: &str, opts: &[&str], text: String) -> Match {
    match decide(module, opts) {
        Some((holds, assumption)) => Match::Assumed {
            holds,
            assumption: format!("{assumption} (`{text}`)"),
            text,
        },
        None => Match::Unmodelled {
            reason: format!("match module `{module}` with these options is not modelled"),
            text,
        },
    }
}

/// `(holds, assumption)` for a fresh source, or `None` when the options are not understood.
fn decide(module: &str, opts: &[&str]) -> Option<(bool, String)> {
    let value = |name: &str| {
        opts.iter()
            .position(|o| *o == name)
            .and_then(|i| opts.get(i + 1))
            .copied()
    };
    let negated = |name: &str| {
        opts.iter()
            .position(|o| *o == name)
            .is_some_and(|i| i > 0 && opts[i - 1] == "!")
    };
    let flip = |holds: bool, name: &str| holds != negated(name);
    match module {
        "limit" => {
            let rate = value("--limit").unwrap_or("3/hour");
            Some((
                flip(true, "--limit"),
                format!("the rate stays under {rate}"),
            ))
        }
        "hashlimit" => {
            let name = value("--hashlimit-name").unwrap_or("?");
            if let Some(r) = value("--hashlimit-above") {
                let what = format!("the rate stays under {r} per hashlimit bucket ({name})");
                return Some((flip(false, "--hashlimit-above"), what));
            }
            let r = value("--hashlimit-upto").or_else(|| value("--hashlimit"))?;
            Some((
                true,
                format!("the rate stays under {r} per hashlimit bucket ({name})"),
            ))
        }
        "recent" => {
            let list = value("--name").unwrap_or("DEFAULT");
            let what = format!("the source is not in the recent list {list}");
            if opts.contains(&"--set") {
                return Some((flip(true, "--set"), what));
            }
            let op = ["--rcheck", "--update", "--remove"]
                .into_iter()
                .find(|o| opts.contains(o))?;
            Some((flip(false, op), what))
        }
        "connlimit" => {
            if let Some(n) = value("--connlimit-above") {
                let what = format!("at most {n} connections from this source");
                return Some((flip(false, "--connlimit-above"), what));
            }
            let n = value("--connlimit-upto")?;
            Some((
                flip(true, "--connlimit-upto"),
                format!("at most {n} connections from this source"),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(module: &str, opts: &str) -> Option<bool> {
        let v: Vec<&str> = opts.split_whitespace().collect();
        decide(module, &v).map(|(h, _)| h)
    }

    #[test]
    fn fresh_source_decisions() {
        assert_eq!(holds("limit", "--limit 3/min --limit-burst 10"), Some(true));
        assert_eq!(
            holds("recent", "--set --name DEFAULT --rsource"),
            Some(true)
        );
        assert_eq!(
            holds(
                "recent",
                "--update --seconds 30 --hitcount 6 --name DEFAULT"
            ),
            Some(false)
        );
        assert_eq!(holds("recent", "! --rcheck --name X"), Some(true));
        assert_eq!(holds("connlimit", "--connlimit-above 10"), Some(false));
        assert_eq!(holds("connlimit", "--connlimit-upto 10"), Some(true));
        assert_eq!(holds("hashlimit", "--hashlimit-above 5/sec"), Some(false));
        assert_eq!(holds("hashlimit", "--hashlimit-upto 5/sec"), Some(true));
        assert_eq!(holds("recent", "--rttl"), None);
    }
}
