//! What an address is: its type from the IANA special-purpose registries,
//! its historical class, and its reverse DNS zone.
//!
//! # Design
//!
//! The registries are two small tables, most specific block first, scanned
//! linearly: a few dozen comparisons of integers, cheap enough for the batch
//! mode's million lines a second and easy to check against the published
//! registries line by line:
//! <https://www.iana.org/assignments/iana-ipv4-special-registry/>,
//! <https://www.iana.org/assignments/iana-ipv6-special-registry/>, plus
//! multicast (RFC 5771, RFC 4291) and the reserved class E.
//! Anything not listed is `global` (for IPv6: inside 2000::/3; the rest of
//! the IPv6 space is `reserved` by the IETF).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::net::IpNet;

/// The type of an address, from the IANA special-purpose registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressType {
    /// `0.0.0.0/32`, `::/128`.
    Unspecified,
    /// `0.0.0.0/8` ("this network", RFC 791).
    ThisNetwork,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    Shared,
    /// `127/8`, `::1/128`.
    Loopback,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `192.0.0.0/24`, `2001::/23`: IETF protocol assignments.
    IetfProtocol,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`,
    /// `3fff::/20`.
    Documentation,
    /// `198.18/15`, `2001:2::/48` (RFC 2544, RFC 5180).
    Benchmarking,
    /// `192.88.99.0/24` (deprecated 6to4 relay anycast, RFC 7526).
    Relay6to4,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `240/4` (class E) and IPv6 space outside 2000::/3 not otherwise listed.
    Reserved,
    /// `255.255.255.255/32`.
    Broadcast,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `::ffff:0:0/96` (RFC 4291).
    Ipv4Mapped,
    /// `64:ff9b::/96`, `64:ff9b:1::/48` (RFC 6052, RFC 8215).
    Nat64,
    /// `100::/64` (RFC 6666).
    DiscardOnly,
    /// `2001::/32` (RFC 4380).
    Teredo,
    /// `2001:20::/28` (ORCHIDv2, RFC 7343).
    Orchid,
    /// `2002::/16` (RFC 3056).
    Ipv6to4,
    /// Everything else: globally routable unicast.
    Global,
}

impl AddressType {
    /// The short name used in JSON (`"private"`, `"link-local"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Unspecified => "unspecified",
            AddressType::ThisNetwork => "this-network",
            AddressType::Private => "private",
            AddressType::Shared => "shared",
            AddressType::Loopback => "loopback",
            AddressType::LinkLocal => "link-local",
            AddressType::IetfProtocol => "ietf-protocol",
            AddressType::Documentation => "documentation",
            AddressType::Benchmarking => "benchmarking",
            AddressType::Relay6to4 => "6to4-relay",
            AddressType::Multicast => "multicast",
            AddressType::Reserved => "reserved",
            AddressType::Broadcast => "broadcast",
            AddressType::UniqueLocal => "unique-local",
            AddressType::Ipv4Mapped => "ipv4-mapped",
            AddressType::Nat64 => "nat64",
            AddressType::DiscardOnly => "discard-only",
            AddressType::Teredo => "teredo",
            AddressType::Orchid => "orchid",
            AddressType::Ipv6to4 => "6to4",
            AddressType::Global => "global",
        }
    }

    /// A longer description with the defining RFC, for people.
    pub fn description(self) -> &'static str {
        match self {
            AddressType::Unspecified => "unspecified (RFC 1122, RFC 4291)",
            AddressType::ThisNetwork => "this network (RFC 791)",
            AddressType::Private => "private (RFC 1918)",
            AddressType::Shared => "shared address space (RFC 6598)",
            AddressType::Loopback => "loopback (RFC 1122, RFC 4291)",
            AddressType::LinkLocal => "link-local (RFC 3927, RFC 4291)",
            AddressType::IetfProtocol => "IETF protocol assignments (RFC 6890, RFC 2928)",
            AddressType::Documentation => "documentation (RFC 5737, RFC 3849, RFC 9637)",
            AddressType::Benchmarking => "benchmarking (RFC 2544, RFC 5180)",
            AddressType::Relay6to4 => "6to4 relay anycast, deprecated (RFC 7526)",
            AddressType::Multicast => "multicast (RFC 5771, RFC 4291)",
            AddressType::Reserved => "reserved",
            AddressType::Broadcast => "limited broadcast (RFC 919)",
            AddressType::UniqueLocal => "unique local (RFC 4193)",
            AddressType::Ipv4Mapped => "IPv4-mapped (RFC 4291)",
            AddressType::Nat64 => "IPv4/IPv6 translation (RFC 6052, RFC 8215)",
            AddressType::DiscardOnly => "discard-only (RFC 6666)",
            AddressType::Teredo => "Teredo (RFC 4380)",
            AddressType::Orchid => "ORCHIDv2 (RFC 7343)",
            AddressType::Ipv6to4 => "6to4 (RFC 3056)",
            AddressType::Global => "global unicast",
        }
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// IPv4 blocks, most specific first: (network, prefix, type).
const V4_TABLE: &[(u32, u8, AddressType)] = &[
    (v4(0, 0, 0, 0), 32, AddressType::Unspecified),
    (v4(255, 255, 255, 255), 32, AddressType::Broadcast),
    (v4(192, 0, 0, 0), 24, AddressType::IetfProtocol),
    (v4(192, 0, 2, 0), 24, AddressType::Documentation),
    (v4(198, 51, 100, 0), 24, AddressType::Documentation),
    (v4(203, 0, 113, 0), 24, AddressType::Documentation),
    (v4(192, 88, 99, 0), 24, AddressType::Relay6to4),
    (v4(169, 254, 0, 0), 16, AddressType::LinkLocal),
    (v4(192, 168, 0, 0), 16, AddressType::Private),
    (v4(198, 18, 0, 0), 15, AddressType::Benchmarking),
    (v4(172, 16, 0, 0), 12, AddressType::Private),
    (v4(100, 64, 0, 0), 10, AddressType::Shared),
    (v4(0, 0, 0, 0), 8, AddressType::ThisNetwork),
    (v4(10, 0, 0, 0), 8, AddressType::Private),
    (v4(127, 0, 0, 0), 8, AddressType::Loopback),
    (v4(224, 0, 0, 0), 4, AddressType::Multicast),
    (v4(240, 0, 0, 0), 4, AddressType::Reserved),
];

const fn v6(s: [u16; 8]) -> u128 {
    let mut v = 0u128;
    let mut i = 0;
    while i < 8 {
        v = (v << 16) | s[i] as u128;
        i += 1;
    }
    v
}

/// IPv6 blocks, most specific first.
const V6_TABLE: &[(u128, u8, AddressType)] = &[
    (0, 128, AddressType::Unspecified),
    (1, 128, AddressType::Loopback),
    (
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0]),
        96,
        AddressType::Ipv4Mapped,
    ),
    (v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0]), 96, AddressType::Nat64),
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0]),
        64,
        AddressType::DiscardOnly,
    ),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0]), 48, AddressType::Nat64),
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0]),
        48,
        AddressType::Benchmarking,
    ),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0]), 32, AddressType::Teredo),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]),
        32,
        AddressType::Documentation,
    ),
    (
        v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0]),
        28,
        AddressType::Orchid,
    ),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0]),
        23,
        AddressType::IetfProtocol,
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0]),
        20,
        AddressType::Documentation,
    ),
    (v6([0x2002, 0, 0, 0, 0, 0, 0, 0]), 16, AddressType::Ipv6to4),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]),
        10,
        AddressType::LinkLocal,
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0]), 8, AddressType::Multicast),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0]),
        7,
        AddressType::UniqueLocal,
    ),
    (v6([0x2000, 0, 0, 0, 0, 0, 0, 0]), 3, AddressType::Global),
];

/// The type of an IPv4 address.
///
/// ```
/// use subnet_calc::{ipv4_type, AddressType};
/// assert_eq!(ipv4_type("192.168.9.193".parse().unwrap()), AddressType::Private);
/// assert_eq!(ipv4_type("100.64.0.1".parse().unwrap()), AddressType::Shared);
/// assert_eq!(ipv4_type("8.8.8.8".parse().unwrap()), AddressType::Global);
/// ```
pub fn ipv4_type(addr: Ipv4Addr) -> AddressType {
    let a = u32::from(addr);
    for &(net, prefix, t) in V4_TABLE {
        // 4 <= prefix <= 32 in the table: the shift is in range.
        if (a ^ net) >> (32 - u32::from(prefix)) == 0 {
            return t;
        }
    }
    AddressType::Global
}

/// The type of an IPv6 address.
///
/// ```
/// use subnet_calc::{ipv6_type, AddressType};
/// assert_eq!(ipv6_type("fd00::1".parse().unwrap()), AddressType::UniqueLocal);
/// assert_eq!(ipv6_type("::ffff:10.0.0.1".parse().unwrap()), AddressType::Ipv4Mapped);
/// assert_eq!(ipv6_type("2a00::1".parse().unwrap()), AddressType::Global);
/// assert_eq!(ipv6_type("4000::1".parse().unwrap()), AddressType::Reserved);
/// ```
pub fn ipv6_type(addr: Ipv6Addr) -> AddressType {
    let a = u128::from(addr);
    for &(net, prefix, t) in V6_TABLE {
        // 3 <= prefix <= 128 in the table: the shift is in range.
        if (a ^ net) >> (128 - u32::from(prefix)) == 0 {
            return t;
        }
    }
    AddressType::Reserved
}

/// The type of an address of either family.
pub fn address_type(addr: IpAddr) -> AddressType {
    match addr {
        IpAddr::V4(a) => ipv4_type(a),
        IpAddr::V6(a) => ipv6_type(a),
    }
}

/// The historical class of an IPv4 address: `'A'` to `'E'` by leading bits.
///
/// ```
/// assert_eq!(subnet_calc::ipv4_class("192.168.9.193".parse().unwrap()), 'C');
/// assert_eq!(subnet_calc::ipv4_class("240.0.0.1".parse().unwrap()), 'E');
/// ```
pub fn ipv4_class(addr: Ipv4Addr) -> char {
    match addr.octets()[0] {
        0..=127 => 'A',
        128..=191 => 'B',
        192..=223 => 'C',
        224..=239 => 'D',
        _ => 'E',
    }
}

/// The reverse DNS zone holding the network's PTR records: the network's
/// whole octets (IPv4) or nibbles (IPv6) reversed, so a /25 lives in its
/// /24's zone.
///
/// ```
/// let n = "192.168.9.193/25".parse()?;
/// assert_eq!(subnet_calc::reverse_zone(&n), "9.168.192.in-addr.arpa.");
/// let n = "2001:db8::/32".parse()?;
/// assert_eq!(subnet_calc::reverse_zone(&n), "8.b.d.0.1.0.0.2.ip6.arpa.");
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
pub fn reverse_zone(net: &IpNet) -> String {
    let mut out = String::with_capacity(72);
    match net {
        IpNet::V4(n) => {
            let o = n.network().octets();
            let whole = usize::from(n.prefix_len() / 8);
            for b in o[..whole].iter().rev() {
                let _ = write!(out, "{b}.");
            }
            out.push_str("in-addr.arpa.");
        }
        IpNet::V6(n) => {
            let v = u128::from(n.network());
            let nibbles = u32::from(n.prefix_len() / 4);
            for i in (0..nibbles).rev() {
                // Masked to four bits: fits.
                let nib = ((v >> (124 - 4 * i)) & 0xf) as u8;
                out.push(char::from_digit(u32::from(nib), 16).unwrap_or('?'));
                out.push('.');
            }
            out.push_str("ip6.arpa.");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t4(s: &str) -> &'static str {
        ipv4_type(s.parse().unwrap()).as_str()
    }

    fn t6(s: &str) -> &'static str {
        ipv6_type(s.parse().unwrap()).as_str()
    }

    #[test]
    fn ipv4_registry_edges() {
        assert_eq!(t4("0.0.0.0"), "unspecified");
        assert_eq!(t4("0.1.2.3"), "this-network");
        assert_eq!(t4("9.255.255.255"), "global");
        assert_eq!(t4("10.0.0.0"), "private");
        assert_eq!(t4("11.0.0.0"), "global");
        assert_eq!(t4("100.63.255.255"), "global");
        assert_eq!(t4("100.64.0.0"), "shared");
        assert_eq!(t4("100.127.255.255"), "shared");
        assert_eq!(t4("100.128.0.0"), "global");
        assert_eq!(t4("127.255.255.255"), "loopback");
        assert_eq!(t4("169.254.1.1"), "link-local");
        assert_eq!(t4("172.15.255.255"), "global");
        assert_eq!(t4("172.16.0.0"), "private");
        assert_eq!(t4("172.31.255.255"), "private");
        assert_eq!(t4("172.32.0.0"), "global");
        assert_eq!(t4("192.0.2.1"), "documentation");
        assert_eq!(t4("198.19.255.255"), "benchmarking");
        assert_eq!(t4("198.51.100.7"), "documentation");
        assert_eq!(t4("203.0.113.255"), "documentation");
        assert_eq!(t4("224.0.0.1"), "multicast");
        assert_eq!(t4("239.255.255.255"), "multicast");
        assert_eq!(t4("240.0.0.1"), "reserved");
        assert_eq!(t4("255.255.255.254"), "reserved");
        assert_eq!(t4("255.255.255.255"), "broadcast");
    }

    #[test]
    fn ipv6_registry_edges() {
        assert_eq!(t6("::"), "unspecified");
        assert_eq!(t6("::1"), "loopback");
        assert_eq!(t6("::2"), "reserved");
        assert_eq!(t6("64:ff9b::1.2.3.4"), "nat64");
        assert_eq!(t6("2001::1"), "teredo");
        assert_eq!(t6("2001:1::1"), "ietf-protocol");
        assert_eq!(t6("2001:db8:ffff::"), "documentation");
        assert_eq!(t6("3fff:fff::"), "documentation");
        assert_eq!(t6("3fff:1000::"), "global");
        assert_eq!(t6("2002::1"), "6to4");
        assert_eq!(t6("fc00::"), "unique-local");
        assert_eq!(t6("fdff::"), "unique-local");
        assert_eq!(t6("fe80::1"), "link-local");
        assert_eq!(t6("febf::1"), "link-local");
        assert_eq!(t6("fec0::1"), "reserved");
        assert_eq!(t6("ff02::1"), "multicast");
        assert_eq!(t6("3fff:ffff::"), "global");
    }

    #[test]
    fn reverse_zone_at_the_edges() {
        let z = |s: &str| reverse_zone(&s.parse().unwrap());
        assert_eq!(z("0.0.0.0/0"), "in-addr.arpa.");
        assert_eq!(z("10.0.0.0/8"), "10.in-addr.arpa.");
        assert_eq!(z("10.1.2.3/32"), "3.2.1.10.in-addr.arpa.");
        assert_eq!(z("::/0"), "ip6.arpa.");
        assert_eq!(z("2001:db8::/33"), "8.b.d.0.1.0.0.2.ip6.arpa.");
    }
}
