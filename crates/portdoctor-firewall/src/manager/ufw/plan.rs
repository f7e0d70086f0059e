//! Fixes in ufw's own words, with the kernel edits they make.

use super::{Part, Ufw, forward_chain, part_of, user_chain};
use crate::engine::{Edit, Place};
use crate::manager::{Argv, OpenRequest, PlanStep};
use crate::model::{Family, Packet, RuleRef};
use crate::netfilter::build::{AcceptSpec, iptables_accept, iptables_drop};

/// The step that gets `packet` past the ufw-owned `rule`, or `None` when no ufw command can
/// (before.rules / after.rules: edit the file).
pub(super) fn open(
    u: &Ufw,
    rule: &RuleRef,
    packet: &Packet,
    req: &OpenRequest,
) -> Option<PlanStep> {
    let family = if packet.src.is_ipv6() {
        Family::Ip6
    } else {
        Family::Ip
    };
    match part_of(rule) {
        Part::User => {
            let (index, t) = u.tuple_at(family, rule.position)?;
            let same = req.from.is_none()
                && t.any_source()
                && t.any_destination()
                && t.sport == "any"
                && t.apps.is_none()
                && t.dport == req.port.to_string()
                && t.proto == req.proto
                && t.direction == "in";
            if same {
                Some(in_place(u, req, &t.action, Verb::Allow))
            } else {
                insert_before(u, family, index, req, Verb::Allow)
            }
        }
        Part::Default => Some(at_end(u, family, req, Verb::Allow)),
        Part::DefaultRouted => route_allow(u, family, None, req),
        Part::Route => {
            let (index, _) = u.tuple_in(family, forward_chain(family), rule.position)?;
            route_allow(u, family, Some(index), req)
        }
        _ => None,
    }
}

/// `ufw route allow proto P from SRC to DST port N` (or `ufw route insert K allow …` before
/// the route rule that blocks): a rule in ufw-user-forward for the packet as the forward
/// path sees it (after a DNAT: the container's address and port).
fn route_allow(
    u: &Ufw,
    family: Family,
    before: Option<usize>,
    req: &OpenRequest,
) -> Option<PlanStep> {
    let port = req.port.to_string();
    let any = if family == Family::Ip6 {
        "::/0"
    } else {
        "0.0.0.0/0"
    };
    let from = req.from.clone().unwrap_or_else(|| "any".into());
    let to = req.to.clone().unwrap_or_else(|| any.into());
    let args: Vec<String> = [
        "allow", "proto", &req.proto, "from", &from, "to", &to, "port", &port,
    ]
    .map(String::from)
    .to_vec();
    let spec = AcceptSpec {
        dest: req.to.as_deref(),
        ..req.accept_spec()
    };
    let rule = iptables_accept(&spec, forward_chain(family))?;
    let (mut cmd, place_before, where_) = match before {
        Some(index) => {
            let n = u.number(family, index);
            let first = u.first_position_in(family, forward_chain(family), index);
            (
                vec![
                    "ufw".to_string(),
                    "route".into(),
                    "insert".into(),
                    n.to_string(),
                ],
                Some(first),
                format!("before route rule [{n}] that blocks it"),
            )
        }
        None => (
            vec!["ufw".to_string(), "route".into()],
            None,
            format!("its default {} (routed) decides today", u.default_routed),
        ),
    };
    cmd.extend(args.iter().cloned());
    let mut undo = vec!["ufw".to_string(), "route".into(), "delete".into()];
    undo.extend(args);
    Some(PlanStep {
        title: format!(
            "Allow forwarded {port}/{} from {from} to {to} with `ufw route` ({where_})",
            req.proto
        ),
        commands: vec![Argv(cmd)],
        stdin: None,
        edits: vec![Edit::Insert {
            place: Place {
                backend: u.backend,
                family,
                table: "filter".into(),
                chain: forward_chain(family).into(),
                before: place_before,
            },
            rule,
        }],
        undo: vec![Argv(undo)],
    })
}

/// What a step makes ufw do with the port: let it in, or keep it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Allow,
    Deny,
}

impl Verb {
    /// ufw's word for it.
    fn word(self) -> &'static str {
        match self {
            Verb::Allow => "allow",
            Verb::Deny => "deny",
        }
    }

    /// The kernel rule ufw writes for it in `chain`.
    fn kernel_rule(self, req: &OpenRequest, chain: &str) -> Option<crate::model::Rule> {
        let spec = req.accept_spec();
        match self {
            Verb::Allow => iptables_accept(&spec, chain),
            Verb::Deny => iptables_drop(&spec, chain),
        }
    }
}

/// `ufw VERB …`, or `ufw delete VERB …` to undo it: argument vectors.
fn ufw(lead: &[&str], args: &[String]) -> Argv {
    let lead = std::iter::once("ufw").chain(lead.iter().copied());
    Argv(lead.map(String::from).chain(args.iter().cloned()).collect())
}

/// `ufw allow P/T` / `ufw deny P/T`: ufw turns the identical rules of the other kind (both
/// families) into this verb's where they stand.
fn in_place(u: &Ufw, req: &OpenRequest, was: &str, verb: Verb) -> PlanStep {
    let mut edits = vec![];
    for family in [Family::Ip, Family::Ip6] {
        for (i, t) in u.tuples(family).iter().enumerate() {
            let twin = t.any_source()
                && t.dport == req.port.to_string()
                && t.proto == req.proto
                && t.action != verb.word()
                && t.direction == "in";
            if twin {
                edits.extend(replace_tuple(u, family, i, req, verb));
            }
        }
    }
    let spec = format!("{}/{}", req.port, req.proto);
    let article = if verb == Verb::Allow { "an" } else { "a" };
    PlanStep {
        title: format!(
            "Turn the ufw rule for {spec} into {article} {} (ufw updates it in place)",
            verb.word()
        ),
        commands: vec![Argv::new(["ufw", verb.word(), spec.as_str()])],
        stdin: None,
        edits,
        undo: vec![Argv::new(["ufw", was, spec.as_str()])],
    }
}

/// Edits replacing tuple `index`'s kernel rules by the verb's one rule.
fn replace_tuple(
    u: &Ufw,
    family: Family,
    index: usize,
    req: &OpenRequest,
    verb: Verb,
) -> Vec<Edit> {
    let chain = user_chain(family);
    let first = u.first_position(family, index);
    let n = u.tuples(family)[index].lines_in(chain);
    let mut edits: Vec<Edit> = (first..first + n)
        .rev()
        .filter_map(|p| u.kernel_rule(family, p))
        .map(|rule| Edit::Remove { rule })
        .collect();
    if let Some(rule) = verb.kernel_rule(req, chain) {
        edits.push(Edit::Insert {
            place: place(u, family, Some(first)),
            rule,
        });
    }
    edits
}

fn place(u: &Ufw, family: Family, before: Option<usize>) -> Place {
    Place {
        backend: u.backend,
        family,
        table: "filter".into(),
        chain: user_chain(family).into(),
        before,
    }
}

/// The source words of a family-specific rule: the peer, or "anywhere" of that family.
fn source(family: Family, req: &OpenRequest) -> String {
    match &req.from {
        Some(f) => f.clone(),
        None if family == Family::Ip6 => "::/0".into(),
        None => "0.0.0.0/0".into(),
    }
}

/// `ufw insert N VERB from SRC to any port P proto T`, N being the number of the rule that
/// decides today (a block for allow, an allow for deny).
fn insert_before(
    u: &Ufw,
    family: Family,
    index: usize,
    req: &OpenRequest,
    verb: Verb,
) -> Option<PlanStep> {
    let n = u.number(family, index);
    let src = source(family, req);
    let args = [
        "from",
        &src,
        "to",
        "any",
        "port",
        &req.port.to_string(),
        "proto",
        &req.proto,
    ]
    .map(String::from);
    let rule = verb.kernel_rule(req, user_chain(family))?;
    let (title, why) = match verb {
        Verb::Allow => ("Allow", "blocks it"),
        Verb::Deny => ("Deny", "lets it in"),
    };
    Some(PlanStep {
        title: format!(
            "{title} {}/{} from {src} with ufw, before rule [{n}] that {why}",
            req.port, req.proto
        ),
        commands: vec![ufw(&["insert", &n.to_string(), verb.word()], &args)],
        stdin: None,
        edits: vec![Edit::Insert {
            place: place(u, family, Some(u.first_position(family, index))),
            rule,
        }],
        undo: vec![ufw(&["delete", verb.word()], &args)],
    })
}

/// `ufw VERB P/T` (or from the peer), added after the existing user rules: the default policy
/// (or a rule outside ufw's user rules) decides today, so no user rule is in the way.
fn at_end(u: &Ufw, family: Family, req: &OpenRequest, verb: Verb) -> PlanStep {
    let port = req.port.to_string();
    let (args, families): (Vec<String>, Vec<Family>) = match &req.from {
        Some(f) => (
            ["from", f, "to", "any", "port", &port, "proto", &req.proto]
                .map(String::from)
                .to_vec(),
            vec![family],
        ),
        None => (
            vec![format!("{}/{}", req.port, req.proto)],
            vec![Family::Ip, Family::Ip6],
        ),
    };
    let edits = families
        .into_iter()
        .filter(|f| u.chains.iter().any(|(cf, _)| cf == f))
        .filter_map(|f| {
            Some(Edit::Insert {
                place: place(u, f, None),
                rule: verb.kernel_rule(req, user_chain(f))?,
            })
        })
        .collect();
    let title = match verb {
        Verb::Allow => {
            let who = req
                .from
                .as_ref()
                .map_or(String::new(), |f| format!(" from {f}"));
            format!(
                "Allow {}/{}{who} with ufw (its default {} (incoming) decides today)",
                req.port, req.proto, u.default_incoming
            )
        }
        Verb::Deny => format!("Deny {}/{} with ufw", req.port, req.proto),
    };
    PlanStep {
        title,
        commands: vec![ufw(&[verb.word()], &args)],
        stdin: None,
        edits,
        undo: vec![ufw(&["delete", verb.word()], &args)],
    }
}

/// The step that stops `packet`, which the ufw-owned `rule` accepts today.
pub(super) fn close(
    u: &Ufw,
    rule: &RuleRef,
    packet: &Packet,
    req: &OpenRequest,
) -> Option<PlanStep> {
    let family = if packet.src.is_ipv6() {
        Family::Ip6
    } else {
        Family::Ip
    };
    match part_of(rule) {
        Part::User if crate::manager::Manager::owns(u, rule) => {
            let (index, t) = u.tuple_at(family, rule.position)?;
            let same = req.from.is_none()
                && t.any_source()
                && t.any_destination()
                && t.apps.is_none()
                && t.dport == req.port.to_string()
                && t.proto == req.proto
                && t.direction == "in";
            if same {
                Some(in_place(u, req, &t.action, Verb::Deny))
            } else {
                insert_before(u, family, index, req, Verb::Deny)
            }
        }
        Part::Default | Part::Other => Some(at_end(u, family, req, Verb::Deny)),
        _ => None,
    }
}
