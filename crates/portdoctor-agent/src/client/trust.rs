//! How an `https://` peer's certificate is trusted: WebPKI against roots from a PEM file, or
//! pinned by the SHA-256 of the agent's own (usually self-signed) certificate. Platform-free:
//! the TLS code that uses it is Linux only.

use super::ClientError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The SHA-256 of a DER certificate, as the agent and `serve` print it at start
/// (`AB:CD:…`) and `openssl x509 -fingerprint -sha256` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(pub [u8; 32]);

impl TryFrom<String> for Fingerprint {
    type Error = String;

    fn try_from(text: String) -> Result<Fingerprint, String> {
        text.parse()
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.to_string()
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    /// 64 hex digits, upper or lower case, colons between the bytes allowed;
    /// a leading `sha256:` or `SHA256 Fingerprint=` (openssl's label) is dropped.
    fn from_str(text: &str) -> Result<Fingerprint, String> {
        let value = text.rsplit(['=', ' ']).next().unwrap_or(text);
        let value = value.strip_prefix("sha256:").unwrap_or(value);
        let hex: String = value.chars().filter(|c| *c != ':').collect();
        let bad =
            || format!("`{text}` is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { ":" };
            write!(f, "{sep}{b:02X}")?;
        }
        Ok(())
    }
}

/// Which `https://` peers are trusted. Empty: none (`https://` is refused, never "accept any
/// certificate").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// Roots (PEM): the peer's chain is verified against them, for the URL's IP address
    /// (the certificate needs that address as an IP subjectAltName).
    pub ca: Option<PathBuf>,
    /// Leaf certificates accepted by their SHA-256 (the handshake signatures are still
    /// verified with the certificate's key; names and dates are not checked).
    pub fingerprints: Vec<Fingerprint>,
}

impl Trust {
    /// Neither roots nor fingerprints.
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.fingerprints.is_empty()
    }

    /// One way at a time: roots or fingerprints.
    pub fn check(&self) -> Result<(), ClientError> {
        if self.ca.is_some() && !self.fingerprints.is_empty() {
            return Err(ClientError::Trust(
                "trust a peer by its CA or by its certificate's fingerprint, not both".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let plain: Fingerprint = HEX.parse().unwrap();
        let shown = plain.to_string();
        assert!(shown.starts_with("00:11:22:"), "{shown}");
        assert_eq!(shown.len(), 32 * 3 - 1);
        assert_eq!(shown.parse::<Fingerprint>().unwrap(), plain);
        let openssl = format!("sha256 Fingerprint={shown}");
        assert_eq!(openssl.parse::<Fingerprint>().unwrap(), plain);
        assert!("00:11".parse::<Fingerprint>().is_err());
        assert!(HEX.replace('0', "g").parse::<Fingerprint>().is_err());
    }

    #[test]
    fn trust_is_one_way_at_a_time() {
        assert!(Trust::default().is_empty());
        let both = Trust {
            ca: Some("ca.pem".into()),
            fingerprints: vec![HEX.parse().unwrap()],
        };
        assert!(both.check().is_err());
    }
}
