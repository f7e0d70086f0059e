//! Renders nft JSON expressions back to nft's own syntax (best effort), for rule texts.

use serde_json::Value;

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// `over ` when the statement is inverted (`"inv": true`).
fn over(b: &Value) -> &'static str {
    if b.get("inv").and_then(Value::as_bool) == Some(true) {
        "over "
    } else {
        ""
    }
}

/// Render one JSON expression (statement or value) in nft syntax, best effort.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(render).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            let Some((k, b)) = o.iter().next() else {
                return String::new();
            };
            let g = |key: &str| b.get(key).map(render).unwrap_or_default();
            match k.as_str() {
                "match" => {
                    let left = b.get("left").map(render).unwrap_or_default();
                    let mut right = b.get("right").map(render).unwrap_or_default();
                    let is_name = matches!(
                        b.get("left")
                            .and_then(|l| l.get("meta"))
                            .and_then(|m| m.get("key"))
                            .and_then(Value::as_str),
                        Some("iifname" | "oifname")
                    );
                    if is_name && b.get("right").is_some_and(Value::is_string) {
                        right = format!("\"{right}\"");
                    }
                    match b.get("op").and_then(Value::as_str).unwrap_or("==") {
                        "==" | "in" => format!("{left} {right}"),
                        op => format!("{left} {op} {right}"),
                    }
                }
                "payload" => format!("{} {}", g("protocol"), g("field")),
                "meta" => {
                    let key = g("key");
                    if matches!(key.as_str(), "iifname" | "oifname" | "iif" | "oif" | "mark") {
                        key
                    } else {
                        format!("meta {key}")
                    }
                }
                "ct" => format!("ct {}", g("key")),
                "fib" => format!(
                    "fib {} {}",
                    b.get("flags")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().map(render).collect::<Vec<_>>().join(" . "))
                        .unwrap_or_default(),
                    g("result")
                ),
                "concat" => b
                    .as_array()
                    .map(|a| a.iter().map(render).collect::<Vec<_>>().join(" . "))
                    .unwrap_or_default(),
                "&" | "|" | "^" => b
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| match x {
                                Value::Array(f) => format!(
                                    "({})",
                                    f.iter().map(render).collect::<Vec<_>>().join("|")
                                ),
                                _ => render(x),
                            })
                            .collect::<Vec<_>>()
                            .join(&format!(" {k} "))
                    })
                    .unwrap_or_default(),
                "prefix" => format!("{}/{}", g("addr"), g("len")),
                "range" => b
                    .as_array()
                    .map(|a| a.iter().map(render).collect::<Vec<_>>().join("-"))
                    .unwrap_or_default(),
                "set" => format!(
                    "{{ {} }}",
                    b.as_array()
                        .map(|a| a
                            .iter()
                            .map(|x| match x {
                                Value::Array(kv) if kv.len() == 2 =>
                                    format!("{} : {}", render(&kv[0]), render(&kv[1])),
                                _ => render(x),
                            })
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                ),
                "elem" => g("val"),
                "nl_raw" | "nl_raw_action" => b.as_str().unwrap_or("?").to_string(),
                "accept" | "drop" | "return" | "continue" | "notrack" => k.clone(),
                "jump" | "goto" => format!("{k} {}", g("target")),
                "reject" => match b.get("type").and_then(Value::as_str) {
                    None => "reject".into(),
                    Some("tcp reset") => "reject with tcp reset".into(),
                    Some(t) => format!("reject with {t} {}", g("expr")),
                },
                "counter" => match (b.get("packets"), b.get("bytes")) {
                    (Some(p), Some(by)) => format!("counter packets {p} bytes {by}"),
                    _ => "counter".into(),
                },
                "log" => match b.get("prefix") {
                    Some(p) => format!("log prefix \"{}\"", render(p)),
                    None => "log".into(),
                },
                "limit" => format!("limit rate {}{}/{}", over(b), g("rate"), g("per")),
                "ct count" => format!("ct count {}{}", over(b), g("val")),
                "meter" => format!("meter {} {{ {} {} }}", g("name"), g("key"), g("stmt")),
                "vmap" => format!("{} vmap {}", g("key"), g("data")),
                "mangle" => format!("{} set {}", g("key"), g("value")),
                "xt" => format!("xt {} {}", g("type"), g("name")),
                "dnat" | "snat" => {
                    let mut s = format!("{k} to {}", g("addr"));
                    if let Some(p) = b.get("port") {
                        s.push_str(&format!(":{}", render(p)));
                    }
                    s
                }
                _ => format!("{k} {}", compact(b)),
            }
        }
    }
}
