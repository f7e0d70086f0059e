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
                Some(update_in_place(u, req, &t.action))
            } else {
                insert_before(u, family, index, req)
            }
        }
        Part::Default => Some(allow_at_end(u, family, req)),
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
        proto: &req.proto,
        port: req.port,
        source: req.from.as_deref(),
        dest: req.to.as_deref(),
        comment: None,
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

/// `ufw allow P/T`: ufw turns the identical deny/reject/limit rules (both families) into
/// allows where they stand.
fn update_in_place(u: &Ufw, req: &OpenRequest, was: &str) -> PlanStep {
    let mut edits = vec![];
    for family in [Family::Ip, Family::Ip6] {
        for (i, t) in u.tuples(family).iter().enumerate() {
            let twin = t.any_source()
                && t.dport == req.port.to_string()
                && t.proto == req.proto
                && t.action != "allow"
                && t.direction == "in";
            if twin {
                edits.extend(replace_with_accept(u, family, i, req));
            }
        }
    }
    let spec = format!("{}/{}", req.port, req.proto);
    PlanStep {
        title: format!("Turn the ufw rule for {spec} into an allow (ufw updates it in place)"),
        commands: vec![Argv::new(["ufw", "allow", spec.as_str()])],
        stdin: None,
        edits,
        undo: vec![Argv::new(["ufw", was, spec.as_str()])],
    }
}

/// Edits replacing tuple `index`'s kernel rules by one accept.
fn replace_with_accept(u: &Ufw, family: Family, index: usize, req: &OpenRequest) -> Vec<Edit> {
    let chain = user_chain(family);
    let first = u.first_position(family, index);
    let n = u.tuples(family)[index].lines_in(chain);
    let mut edits: Vec<Edit> = (first..first + n)
        .rev()
        .filter_map(|p| u.kernel_rule(family, p))
        .map(|rule| Edit::Remove { rule })
        .collect();
    let spec = AcceptSpec {
        proto: &req.proto,
        port: req.port,
        source: None,
        dest: None,
        comment: None,
    };
    if let Some(rule) = iptables_accept(&spec, chain) {
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

/// `ufw insert N allow from SRC to any port P proto T`, N being the blocking rule's number.
fn insert_before(u: &Ufw, family: Family, index: usize, req: &OpenRequest) -> Option<PlanStep> {
    let n = u.number(family, index);
    let src = source(family, req);
    let port = req.port.to_string();
    let args = [
        "from",
        src.as_str(),
        "to",
        "any",
        "port",
        port.as_str(),
        "proto",
        req.proto.as_str(),
    ];
    let spec = AcceptSpec {
        proto: &req.proto,
        port: req.port,
        source: req.from.as_deref(),
        dest: None,
        comment: None,
    };
    let rule = iptables_accept(&spec, user_chain(family))?;
    let mut insert = vec![
        "ufw".to_string(),
        "insert".into(),
        n.to_string(),
        "allow".into(),
    ];
    insert.extend(args.iter().map(|s| s.to_string()));
    let mut delete = vec!["ufw".to_string(), "delete".into(), "allow".into()];
    delete.extend(args.iter().map(|s| s.to_string()));
    Some(PlanStep {
        title: format!(
            "Allow {}/{} from {src} with ufw, before rule [{n}] that blocks it",
            req.port, req.proto
        ),
        commands: vec![Argv(insert)],
        stdin: None,
        edits: vec![Edit::Insert {
            place: place(u, family, Some(u.first_position(family, index))),
            rule,
        }],
        undo: vec![Argv(delete)],
    })
}

/// `ufw allow P/T` (or from the peer), added after the existing user rules: the default
/// policy decided, so no user rule blocks it.
fn allow_at_end(u: &Ufw, family: Family, req: &OpenRequest) -> PlanStep {
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
    let spec = AcceptSpec {
        proto: &req.proto,
        port: req.port,
        source: req.from.as_deref(),
        dest: None,
        comment: None,
    };
    let edits = families
        .into_iter()
        .filter(|f| u.chains.iter().any(|(cf, _)| cf == f))
        .filter_map(|f| {
            Some(Edit::Insert {
                place: place(u, f, None),
                rule: iptables_accept(&spec, user_chain(f))?,
            })
        })
        .collect();
    let who = req
        .from
        .as_ref()
        .map_or(String::new(), |f| format!(" from {f}"));
    let mut cmd = vec!["ufw".to_string(), "allow".into()];
    cmd.extend(args.iter().cloned());
    let mut undo = vec!["ufw".to_string(), "delete".into(), "allow".into()];
    undo.extend(args);
    PlanStep {
        title: format!(
            "Allow {}/{}{who} with ufw (its default {} (incoming) decides today)",
            req.port, req.proto, u.default_incoming
        ),
        commands: vec![Argv(cmd)],
        stdin: None,
        edits,
        undo: vec![Argv(undo)],
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
                Some(deny_in_place(u, req, &t.action))
            } else {
                deny_before(u, family, index, req)
            }
        }
        Part::Default | Part::Other => Some(deny_at_end(u, family, req)),
        _ => None,
    }
}

fn deny_spec(req: &OpenRequest) -> AcceptSpec<'_> {
    AcceptSpec {
        proto: &req.proto,
        port: req.port,
        source: req.from.as_deref(),
        dest: None,
        comment: None,
    }
}

/// `ufw deny P/T`: ufw turns the identical allow/limit rules into denies where they stand.
fn deny_in_place(u: &Ufw, req: &OpenRequest, was: &str) -> PlanStep {
    let mut edits = vec![];
    for family in [Family::Ip, Family::Ip6] {
        let chain = user_chain(family);
        for (i, t) in u.tuples(family).iter().enumerate() {
            let twin = t.any_source()
                && t.dport == req.port.to_string()
                && t.proto == req.proto
                && t.action != "deny"
                && t.direction == "in";
            if !twin {
                continue;
            }
            let first = u.first_position(family, i);
            let n = t.lines_in(chain);
            edits.extend(
                (first..first + n)
                    .rev()
                    .filter_map(|p| u.kernel_rule(family, p))
                    .map(|rule| Edit::Remove { rule }),
            );
            if let Some(rule) = iptables_drop(&deny_spec(req), chain) {
                edits.push(Edit::Insert {
                    place: place(u, family, Some(first)),
                    rule,
                });
            }
        }
    }
    let spec = format!("{}/{}", req.port, req.proto);
    PlanStep {
        title: format!("Turn the ufw rule for {spec} into a deny (ufw updates it in place)"),
        commands: vec![Argv::new(["ufw", "deny", spec.as_str()])],
        stdin: None,
        edits,
        undo: vec![Argv::new(["ufw", was, spec.as_str()])],
    }
}

/// `ufw insert N deny from SRC to any port P proto T`, before the rule that lets it in.
fn deny_before(u: &Ufw, family: Family, index: usize, req: &OpenRequest) -> Option<PlanStep> {
    let n = u.number(family, index);
    let src = source(family, req);
    let port = req.port.to_string();
    let args = [
        "from",
        src.as_str(),
        "to",
        "any",
        "port",
        port.as_str(),
        "proto",
        req.proto.as_str(),
    ];
    let rule = iptables_drop(&deny_spec(req), user_chain(family))?;
    let mut cmd = vec![
        "ufw".to_string(),
        "insert".into(),
        n.to_string(),
        "deny".into(),
    ];
    cmd.extend(args.iter().map(|s| s.to_string()));
    let mut undo = vec!["ufw".to_string(), "delete".into(), "deny".into()];
    undo.extend(args.iter().map(|s| s.to_string()));
    Some(PlanStep {
        title: format!(
            "Deny {}/{} from {src} with ufw, before rule [{n}] that lets it in",
            req.port, req.proto
        ),
        commands: vec![Argv(cmd)],
        stdin: None,
        edits: vec![Edit::Insert {
            place: place(u, family, Some(u.first_position(family, index))),
            rule,
        }],
        undo: vec![Argv(undo)],
    })
}

/// `ufw deny P/T` (or from the source): appended after the user rules, none of which
/// lets it in today.
fn deny_at_end(u: &Ufw, family: Family, req: &OpenRequest) -> PlanStep {
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
                rule: iptables_drop(&deny_spec(req), user_chain(f))?,
            })
        })
        .collect();
    let mut cmd = vec!["ufw".to_string(), "deny".into()];
    cmd.extend(args.iter().cloned());
    let mut undo = vec!["ufw".to_string(), "delete".into(), "deny".into()];
    undo.extend(args);
    PlanStep {
        title: format!("Deny {}/{} with ufw", req.port, req.proto),
        commands: vec![Argv(cmd)],
        stdin: None,
        edits,
        undo: vec![Argv(undo)],
    }
}
