//! Datagrams for UDP probes: an empty datagram draws no answer from most services, so for a
//! few well-known ports we send a minimal valid request (written from the protocols' RFCs).

/// DNS (RFC 1035): id 0x7064, RD set, one question: `.` IN NS.
const DNS: &[u8] = &[
    0x70, 0x64, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
    0x01,
];

/// NTP (RFC 5905): a 48-byte client request, LI 0, version 3, mode 3.
const NTP: &[u8] = &{
    let mut p = [0u8; 48];
    p[0] = 0x1b;
    p
};

/// The datagram a UDP probe of `port` sends when the caller gave none.
pub fn default_payload(port: u16) -> &'static [u8] {
    match port {
        53 | 5353 | 5355 => DNS,
        123 => NTP,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ports_get_requests() {
        assert_eq!(default_payload(53).len(), 17);
        assert_eq!(default_payload(123)[0], 0x1b);
        assert!(default_payload(9999).is_empty());
    }
}
