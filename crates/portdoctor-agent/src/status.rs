//! The status page: the reachability matrix, agents (rows) × targets (columns), the class in
//! each cell and, on hover, the reason and the firewall rule that decides on the target's
//! side (when the target is another agent). One self-contained HTML document, no external
//! assets; it reloads itself every interval.

use crate::client::{self, Connector, Url};
use crate::local::FirewallVerdict;
use crate::state::Status;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// One row: an agent's status, or why it could not be fetched.
pub type Row = (String, Result<Status, String>);

/// Fetches every peer's `/api/status` at once (short timeout each), in the given order.
/// `https://` peers are trusted as `connector` says.
pub async fn peer_rows(peers: &[String], token: Option<String>, connector: &Connector) -> Vec<Row> {
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in peers.iter().enumerate() {
        let (p, token, connector) = (p.clone(), token.clone(), connector.clone());
        set.spawn(async move { (i, fetch(&p, token.as_deref(), &connector).await) });
    }
    let mut got: BTreeMap<usize, Result<Status, String>> = BTreeMap::new();
    while let Some(Ok((i, r))) = set.join_next().await {
        got.insert(i, r);
    }
    peers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let r = got.remove(&i).unwrap_or_else(|| Err("fetch failed".into()));
            (p.clone(), r)
        })
        .collect()
}

async fn fetch(peer: &str, token: Option<&str>, connector: &Connector) -> Result<Status, String> {
    let url = Url::parse(peer).map_err(|e| e.to_string())?;
    let req = client::Request {
        method: "GET",
        path: "/api/status",
        body: None,
        token,
    };
    match client::send(&url, &req, connector, Duration::from_secs(2)).await {
        Ok((200, body)) => serde_json::from_str(&body).map_err(|e| e.to_string()),
        Ok((status, _)) => Err(format!("HTTP {status}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Renders the matrix page for `rows` (this agent first).
pub fn render(rows: &[Row], refresh_seconds: u64) -> String {
    let columns = columns(rows);
    let mut html = String::with_capacity(8192);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{refresh_seconds}\">\
<title>portdoctor agents: reachability</title><style>{CSS}</style></head><body>\
<h1>Reachability: agents &times; targets</h1>\
<p>Each cell is what the agent on the left saw when it connected to the target. \
Hover a cell for the reason and, when the target is another agent, the rule of that \
agent's firewall that decides. Refreshes every {refresh_seconds} s.</p>\
<table id=\"matrix\"><thead><tr><th>agent</th>"
    );
    for (addr, name) in &columns {
        let _ = write!(
            html,
            "<th title=\"{}\">{}</th>",
            esc(&addr.to_string()),
            esc(name)
        );
    }
    html.push_str("</tr></thead><tbody>");
    for (label, row) in rows {
        render_row(&mut html, label, row, &columns, rows);
    }
    html.push_str("</tbody></table></body></html>\n");
    html
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:.35em .7em;text-align:center}\
th{background:#eee}td.ok{background:#c8f0c8}td.fail{background:#f5b5b5;font-weight:bold}\
td.none{background:#f4f4f4;color:#888}td.down{background:#ddd;color:#a00}";

/// Every target any agent probes, by address (with the first name seen).
fn columns(rows: &[Row]) -> Vec<(SocketAddr, String)> {
    let mut cols: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for (_, row) in rows {
        for o in row.iter().flat_map(|s| &s.observations) {
            cols.entry(o.target.addr)
                .or_insert_with(|| o.target.name.clone());
        }
    }
    cols.into_iter().collect()
}

fn render_row(
    html: &mut String,
    label: &str,
    row: &Result<Status, String>,
    columns: &[(SocketAddr, String)],
    rows: &[Row],
) {
    let status = match row {
        Ok(s) => s,
        Err(e) => {
            let _ = write!(
                html,
                "<tr><th>{}</th><td class=\"down\" colspan=\"{}\" title=\"{}\">agent unreachable</td></tr>",
                esc(label),
                columns.len().max(1),
                esc(e)
            );
            return;
        }
    };
    let _ = write!(
        html,
        "<tr data-agent=\"{0}\"><th>{0}</th>",
        esc(&status.agent)
    );
    for (addr, _) in columns {
        match status.observations.iter().find(|o| o.target.addr == *addr) {
            None => {
                html.push_str("<td class=\"none\" title=\"not probed by this agent\">&ndash;</td>")
            }
            Some(o) => {
                let rule = target_rule(rows, status, *addr);
                let (class, text) = match &o.class {
                    None => ("ok", "up".to_string()),
                    Some(c) => ("fail", c.clone()),
                };
                let title = format!(
                    "{} → {}: {} (expected {}), reason {}, {:.1} ms{}",
                    status.agent,
                    addr,
                    o.state,
                    o.target.expect.as_str(),
                    o.reason,
                    o.seconds * 1000.0,
                    rule.map(|r| format!("; target firewall: {} by {}", r.verdict, r.rule))
                        .unwrap_or_default()
                );
                let _ = write!(
                    html,
                    "<td class=\"{class}\" data-target=\"{}\" data-class=\"{}\" title=\"{}\">{}</td>",
                    esc(&addr.to_string()),
                    esc(o.class.as_deref().unwrap_or("up")),
                    esc(&title),
                    esc(&text)
                );
            }
        }
    }
    html.push_str("</tr>");
}

/// The verdict of the agent owning `addr` for a connection from `from`'s addresses (falling
/// back to its verdict for anyone else).
fn target_rule<'a>(
    rows: &'a [Row],
    from: &Status,
    addr: SocketAddr,
) -> Option<&'a FirewallVerdict> {
    let owner = rows
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .find(|s| s.addresses.contains(&addr.ip()))?;
    let here = |f: &&FirewallVerdict| f.port == addr.port() && f.address == addr.ip();
    owner
        .firewall
        .iter()
        .filter(here)
        .find(|f| from.addresses.iter().any(|a| a.to_string() == f.from))
        .or_else(|| {
            owner
                .firewall
                .iter()
                .filter(here)
                .find(|f| f.from == "anyone")
        })
}

/// Escapes text for HTML content and attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Observation;
    use crate::target::{Expect, Target};

    fn obs(addr: &str, class: Option<&str>) -> Observation {
        Observation {
            target: Target {
                name: format!("<{addr}>"),
                addr: addr.parse().unwrap(),
                expect: Expect::Open,
            },
            state: class.unwrap_or("open").into(),
            success: class.is_none(),
            class: class.map(Into::into),
            reason: "no-response".into(),
            seconds: 1.0,
            at: 0,
        }
    }

    #[test]
    fn the_matrix_has_a_cell_per_agent_and_target_and_escapes_names() {
        let a = Status {
            agent: "a".into(),
            addresses: vec!["198.51.100.1".parse().unwrap()],
            observations: vec![obs("198.51.100.2:80", Some("filtered"))],
            ..Status::default()
        };
        let b = Status {
            agent: "b".into(),
            addresses: vec!["198.51.100.2".parse().unwrap()],
            observations: vec![obs("198.51.100.1:80", None)],
            firewall: vec![FirewallVerdict {
                port: 80,
                address: "198.51.100.2".parse().unwrap(),
                from: "198.51.100.1".into(),
                verdict: "drop".into(),
                rule: "nftables inet t input handle 3".into(),
            }],
            ..Status::default()
        };
        let html = render(
            &[
                ("a".into(), Ok(a)),
                ("b".into(), Ok(b)),
                ("c".into(), Err("x".into())),
            ],
            15,
        );
        assert!(html.contains("data-class=\"filtered\""));
        assert!(html.contains("target firewall: drop by nftables inet t input handle 3"));
        assert!(html.contains("&lt;198.51.100.2:80&gt;"));
        assert!(html.contains("agent unreachable"));
        assert!(!html.contains("src=") && !html.contains("href="));
    }
}
