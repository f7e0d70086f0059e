//! nmap-style port specifications: `22,80,8000-8100`, `-` (all), `-1024`, `60000-`.

use std::fmt;

use crate::top_ports::TOP_TCP_PORTS;

/// Why a port specification was rejected; `column` is 1-based, counted in characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad port spec at column {column}: {kind} ({token:?})")]
pub struct SpecError {
    /// 1-based column (in characters) where the bad token starts.
    pub column: usize,
    /// The offending token.
    pub token: String,
    /// What is wrong with it.
    pub kind: SpecErrorKind,
}

/// The kinds of port-spec errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecErrorKind {
    /// The spec (or one comma-separated item) is empty.
    Empty,
    /// Not a decimal number.
    NotANumber,
    /// A number outside 1..=65535.
    OutOfRange,
    /// A range whose start is above its end.
    Reversed,
    /// `--top-ports` with 0 or more ports than the built-in table has.
    TopPortsCount,
}

impl fmt::Display for SpecErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty item",
            Self::NotANumber => "not a port number",
            Self::OutOfRange => "port outside 1-65535",
            Self::Reversed => "range start is above its end",
            Self::TopPortsCount => "top-ports count must be 1-1000",
        })
    }
}

/// A set of ports; iteration is in ascending order, without duplicates.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet {
    bits: Vec<u64>,
    len: usize,
}

impl fmt::Debug for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Default for PortSet {
    fn default() -> Self {
        Self::new()
    }
}

impl PortSet {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            bits: vec![0; 1024],
            len: 0,
        }
    }

    /// Every port, 1-65535 (nmap's `-p-`).
    pub fn all() -> Self {
        let mut s = Self::new();
        s.insert_range(1, u16::MAX);
        s
    }

    /// The `n` most frequently open TCP ports according to nmap's frequency table.
    pub fn top(n: usize) -> Result<Self, SpecError> {
        if n == 0 || n > TOP_TCP_PORTS.len() {
            return Err(SpecError {
                column: 1,
                token: n.to_string(),
                kind: SpecErrorKind::TopPortsCount,
            });
        }
        let mut s = Self::new();
        for &p in &TOP_TCP_PORTS[..n] {
            s.insert(p);
        }
        Ok(s)
    }

    /// Adds one port; returns whether it was new.
    pub fn insert(&mut self, port: u16) -> bool {
        let (w, b) = (usize::from(port) / 64, port % 64);
        let new = self.bits[w] & (1 << b) == 0;
        self.bits[w] |= 1 << b;
        self.len += usize::from(new);
        new
    }

    /// Adds `lo..=hi`.
    pub fn insert_range(&mut self, lo: u16, hi: u16) {
        for p in lo..=hi {
            self.insert(p);
        }
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.bits[usize::from(port) / 64] & (1 << (port % 64)) != 0
    }

    /// Number of ports.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ports in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(move |&p| self.contains(p))
    }
}

/// Parses an nmap-style port list: comma-separated items, each `N`, `N-M`, `-M` (1-M),
/// `N-` (N-65535) or `-` (1-65535). Port 0 is rejected. Never panics.
pub fn parse_ports(spec: &str) -> Result<PortSet, SpecError> {
    let mut set = PortSet::new();
    let mut column = 1;
    for item in spec.split(',') {
        let width = item.chars().count();
        parse_item(item, column, &mut set)?;
        column += width + 1;
    }
    Ok(set)
}

fn parse_item(item: &str, column: usize, set: &mut PortSet) -> Result<(), SpecError> {
    let err = |kind, token: &str, offset: usize| SpecError {
        column: column + offset,
        token: token.to_string(),
        kind,
    };
    if item.is_empty() {
        return Err(err(SpecErrorKind::Empty, item, 0));
    }
    match item.split_once('-') {
        None => {
            let p = parse_port(item).map_err(|k| err(k, item, 0))?;
            set.insert(p);
        }
        Some((lo, hi)) => {
            let hi_offset = lo.chars().count() + 1;
            let lo_p = if lo.is_empty() {
                1
            } else {
                parse_port(lo).map_err(|k| err(k, lo, 0))?
            };
            let hi_p = if hi.is_empty() {
                u16::MAX
            } else {
                parse_port(hi).map_err(|k| err(k, hi, hi_offset))?
            };
            if lo_p > hi_p {
                return Err(err(SpecErrorKind::Reversed, item, 0));
            }
            set.insert_range(lo_p, hi_p);
        }
    }
    Ok(())
}

fn parse_port(s: &str) -> Result<u16, SpecErrorKind> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecErrorKind::NotANumber);
    }
    let digits = s.trim_start_matches('0');
    if digits.len() > 5 {
        return Err(SpecErrorKind::OutOfRange);
    }
    match digits.parse::<u32>().unwrap_or(0) {
        p @ 1..=65535 => Ok(p as u16),
        _ => Err(SpecErrorKind::OutOfRange),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(s: &str) -> Vec<u16> {
        parse_ports(s).unwrap().iter().collect()
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(ports("22,80,8000-8003"), [22, 80, 8000, 8001, 8002, 8003]);
        assert_eq!(ports("80,22,80"), [22, 80]);
        assert_eq!(ports("-3"), [1, 2, 3]);
        assert_eq!(ports("65533-"), [65533, 65534, 65535]);
        assert_eq!(parse_ports("-").unwrap().len(), 65535);
        assert_eq!(PortSet::all().len(), 65535);
        assert_eq!(ports("007"), [7]);
    }

    #[test]
    fn errors_name_column_and_token() {
        let e = parse_ports("22,8o,90").unwrap_err();
        assert_eq!(
            (e.column, e.token.as_str(), e.kind),
            (4, "8o", SpecErrorKind::NotANumber)
        );
        let e = parse_ports("22,100-70000").unwrap_err();
        assert_eq!(
            (e.column, e.token.as_str(), e.kind),
            (8, "70000", SpecErrorKind::OutOfRange)
        );
        let e = parse_ports("90-80").unwrap_err();
        assert_eq!((e.column, e.kind), (1, SpecErrorKind::Reversed));
        let e = parse_ports("22,,80").unwrap_err();
        assert_eq!((e.column, e.kind), (4, SpecErrorKind::Empty));
        let e = parse_ports("0").unwrap_err();
        assert_eq!(e.kind, SpecErrorKind::OutOfRange);
        let e = parse_ports("1-2-3").unwrap_err();
        assert_eq!((e.column, e.token.as_str()), (3, "2-3"));
        assert_eq!(
            e.to_string(),
            "bad port spec at column 3: not a port number (\"2-3\")"
        );
        let e = parse_ports("é,x").unwrap_err();
        assert_eq!((e.column, e.token.as_str()), (1, "é"));
        let e = parse_ports("é,x").err();
        assert!(e.is_some());
        let e = parse_ports("1,ü,x").unwrap_err();
        assert_eq!(e.column, 3);
        assert_eq!(parse_ports("ü,x").unwrap_err().column, 1);
        assert_eq!(parse_ports("ü1,x").unwrap_err().column, 1);
        assert_eq!(parse_ports("1,22,ü").unwrap_err().column, 6);
    }

    #[test]
    fn top_ports_follow_nmap_order() {
        assert_eq!(TOP_TCP_PORTS[..5], [80, 23, 443, 21, 22]);
        assert_eq!(PortSet::top(1000).unwrap().len(), 1000);
        assert!(PortSet::top(0).is_err());
        assert!(PortSet::top(1001).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_ports(&s);
        }

        #[test]
        fn never_panics_on_spec_like_input(s in "[0-9,\\-]{0,40}") {
            if let Err(e) = parse_ports(&s) {
                proptest::prop_assert!(e.column >= 1 && e.column <= s.len() + 1);
            }
        }

        #[test]
        fn roundtrips_single_ports(p in 1u16..) {
            proptest::prop_assert_eq!(ports(&p.to_string()), vec![p]);
        }
    }
}
