//! The addresses allowed to assert a user through the trusted single-sign-on header.

use std::net::IpAddr;

/// An address or a CIDR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// `10.0.0.0/8`, `127.0.0.1`, `::1`, `fd00::/8`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let base: IpAddr = addr
            .parse()
            .map_err(|_| format!("{raw:?} is not an IP address or CIDR range"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{raw:?} has an invalid prefix length"))?,
        };
        Ok(Self { base, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(b), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(b) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(b), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(b) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Parses `OPSCHAT_TRUSTED_PROXIES`: comma-separated addresses and ranges.
pub fn parse_list(raw: &str) -> Result<Vec<IpRange>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(IpRange::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_what_they_cover() {
        let list = parse_list("127.0.0.1, 10.0.0.0/8,fd00::/8").unwrap();
        let any = |ip: &str| list.iter().any(|r| r.contains(ip.parse().unwrap()));
        assert!(any("127.0.0.1"));
        assert!(!any("127.0.0.2"));
        assert!(any("10.200.3.4"));
        assert!(!any("11.0.0.1"));
        assert!(any("fd12::1"));
        assert!(
            any("::ffff:10.1.1.1"),
            "IPv4-mapped addresses count as IPv4"
        );
        assert!(!any("::1"));
        assert!(parse_list("10.0.0.0/33").is_err());
        assert!(parse_list("proxy.local").is_err());
        assert!(
            IpRange::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
