//! The network types: [`Ipv4Net`], [`Ipv6Net`] and [`IpNet`].
//!
//! # Design
//!
//! The types mirror `std::net`'s address types, as the `ipnet` crate does:
//! private fields, `Copy + Eq + Ord + Hash`, a checked constructor
//! `new(addr, prefix) -> Result`, and `FromStr`/`Display` (in
//! [`crate::parse`]). A value keeps the address it was built from, host bits
//! and all, because the calculator reports on that address; [`Ipv4Net::trunc`]
//! drops them. All arithmetic is on `u32`/`u128`; counts of addresses are
//! exact, including the 2^128 addresses of `::/0` (see [`Count`]).
//!
//! Host rules (the first and last usable addresses):
//!
//! | family | prefix | hosts | first host | last host |
//! | --- | --- | --- | --- | --- |
//! | IPv4 | 0..=30 | addresses − 2 | network + 1 | broadcast − 1 |
//! | IPv4 | 31 (RFC 3021) | 2 | network | broadcast |
//! | IPv4 | 32 | 1 | the address | the address |
//! | IPv6 | 0..=126 | addresses − 1 | network + 1 | last address |
//! | IPv6 | 127 | 2 | network | last address |
//! | IPv6 | 128 | 1 | the address | the address |
//!
//! IPv6 has no broadcast; only its Subnet-Router anycast (the network
//! address itself) is taken out below /127.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bits::{self, Uint};

/// The prefix length given to a constructor is longer than the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("prefix length {prefix} is out of range: the maximum is {max}")]
pub struct PrefixLenError {
    /// The prefix length asked for.
    pub prefix: u8,
    /// The longest valid prefix: 32 for IPv4, 128 for IPv6.
    pub max: u8,
}

/// An exact count of addresses or hosts, from 1 up to and including 2^128.
///
/// 2^128, the number of addresses in `::/0`, is one more than `u128` holds,
/// so the count is stored as `value - 1`.
///
/// ```
/// use subnet_calc::Ipv6Net;
/// let all: Ipv6Net = "::/0".parse()?;
/// assert_eq!(all.addresses().to_string(), "340282366920938463463374607431768211456");
/// assert_eq!(all.addresses().get(), None); // does not fit in u128
/// assert_eq!(all.hosts().get(), Some(u128::MAX));
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Count {
    minus_one: u128,
}

impl Count {
    /// 2^`exp` for `exp` in `0..=128`.
    ///
    /// # Panics
    /// If `exp > 128`.
    pub fn pow2(exp: u8) -> Count {
        assert!(exp <= 128, "2^{exp} is out of range");
        Count {
            minus_one: u128::low_mask(exp),
        }
    }

    /// `n` as a count; `None` for zero.
    pub fn new(n: u128) -> Option<Count> {
        n.checked_sub(1).map(|minus_one| Count { minus_one })
    }

    /// The count as a `u128`, or `None` for 2^128.
    pub fn get(self) -> Option<u128> {
        self.minus_one.checked_add(1)
    }

    /// The count minus one, as a `u128` (always fits).
    pub fn minus_one(self) -> u128 {
        self.minus_one
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(n) => fmt::Display::fmt(&n, f),
            None => f.pad("340282366920938463463374607431768211456"),
        }
    }
}

macro_rules! common_impl {
    ($net:ident, $addr:ty, $uint:ty, $bits:expr, $sub:ident) => {
        impl $net {
            /// Builds a network from an address and a prefix length. Host
            /// bits are kept (see [`Self::trunc`]).
            ///
            /// # Errors
            /// [`PrefixLenError`] if the prefix is longer than the address.
            pub const fn new(addr: $addr, prefix: u8) -> Result<Self, PrefixLenError> {
                if prefix > $bits {
                    return Err(PrefixLenError { prefix, max: $bits });
                }
                Ok(Self { addr, prefix })
            }

            /// The address this value was built from, host bits included.
            pub const fn addr(&self) -> $addr {
                self.addr
            }

            /// The prefix length.
            pub const fn prefix_len(&self) -> u8 {
                self.prefix
            }

            /// The longest prefix length for this family.
            pub const fn max_prefix_len(&self) -> u8 {
                $bits
            }

            fn host_bits(&self) -> u8 {
                $bits - self.prefix
            }

            pub(crate) fn start(&self) -> $uint {
                <$uint>::from(self.addr) & !<$uint>::low_mask(self.host_bits())
            }

            pub(crate) fn end(&self) -> $uint {
                <$uint>::from(self.addr) | <$uint>::low_mask(self.host_bits())
            }

            pub(crate) fn from_block(start: $uint, prefix: u8) -> Self {
                Self {
                    addr: <$addr>::from(start),
                    prefix,
                }
            }

            /// The network mask: `prefix_len` one bits, then zeros.
            pub fn netmask(&self) -> $addr {
                <$addr>::from(!<$uint>::low_mask(self.host_bits()))
            }

            /// The host mask, also known as the Cisco wildcard mask: the
            /// complement of the netmask.
            pub fn hostmask(&self) -> $addr {
                <$addr>::from(<$uint>::low_mask(self.host_bits()))
            }

            /// The network address: the address with its host bits cleared.
            pub fn network(&self) -> $addr {
                <$addr>::from(self.start())
            }

            /// The last address in the network (all host bits set).
            pub fn last_address(&self) -> $addr {
                <$addr>::from(self.end())
            }

            /// The same prefix with the host bits cleared.
            pub fn trunc(&self) -> Self {
                Self::from_block(self.start(), self.prefix)
            }

            /// Whether no host bit is set, i.e. `self == self.trunc()`.
            pub fn is_network(&self) -> bool {
                <$uint>::from(self.addr) == self.start()
            }

            /// The number of addresses in the network, 2^(host bits).
            pub fn addresses(&self) -> Count {
                Count::pow2(self.host_bits())
            }

            /// Whether `addr` lies inside the network.
            pub fn contains_addr(&self, addr: $addr) -> bool {
                let a = <$uint>::from(addr);
                self.start() <= a && a <= self.end()
            }

            /// Whether `other` lies entirely inside this network.
            pub fn contains(&self, other: &Self) -> bool {
                self.start() <= other.start() && other.end() <= self.end()
            }

            /// Whether the two networks share at least one address.
            pub fn overlaps(&self, other: &Self) -> bool {
                self.start() <= other.end() && other.start() <= self.end()
            }

            /// The network one bit shorter, or `None` at prefix 0.
            pub fn supernet(&self) -> Option<Self> {
                let p = self.prefix.checked_sub(1)?;
                Some(Self::from_block(self.start(), p).trunc())
            }

            /// The subnets of length `new_prefix`, in address order.
            ///
            /// # Errors
            /// [`PrefixLenError`] if `new_prefix` is shorter than this
            /// prefix or longer than the address.
            pub fn subnets(&self, new_prefix: u8) -> Result<$sub, PrefixLenError> {
                if new_prefix < self.prefix || new_prefix > $bits {
                    return Err(PrefixLenError {
                        prefix: new_prefix,
                        max: $bits,
                    });
                }
                Ok($sub {
                    next: Some(self.start()),
                    end: self.end(),
                    prefix: new_prefix,
                })
            }

            /// The minimal list of networks that covers exactly the
            /// addresses of `start..=end`, in address order; empty when
            /// `start > end`.
            pub fn from_range(start: $addr, end: $addr) -> Vec<Self> {
                let (s, e) = (<$uint>::from(start), <$uint>::from(end));
                let mut out = Vec::new();
                if s <= e {
                    bits::range_to_blocks(s, e, |a, p| out.push(Self::from_block(a, p)));
                }
                out
            }

            /// The addresses of this network not in any of `holes`, as the
            /// minimal sorted list of networks.
            pub fn exclude(&self, holes: &[Self]) -> Vec<Self> {
                let (s, e) = (self.start(), self.end());
                let mut r: Vec<($uint, $uint)> = holes
                    .iter()
                    .filter(|h| h.overlaps(self))
                    .map(|h| (h.start().max(s), h.end().min(e)))
                    .collect();
                let n = bits::merge_ranges(&mut r);
                let mut out = Vec::new();
                let mut cursor = Some(s);
                for &(hs, he) in &r[..n] {
                    if let Some(c) = cursor {
                        if c < hs {
                            bits::range_to_blocks(c, hs - 1, |a, p| {
                                out.push(Self::from_block(a, p))
                            });
                        }
                    }
                    cursor = if he == e { None } else { Some(he + 1) };
                }
                if let Some(c) = cursor {
                    bits::range_to_blocks(c, e, |a, p| out.push(Self::from_block(a, p)));
                }
                out
            }

            /// Calls `emit` with each network of the minimal sorted list that
            /// covers exactly the union of `ranges` (inclusive integer
            /// ranges, consumed as scratch space).
            fn blocks_of_ranges(ranges: &mut [($uint, $uint)], mut emit: impl FnMut(Self)) {
                let n = bits::merge_ranges(ranges);
                for &(s, e) in &ranges[..n] {
                    bits::range_to_blocks(s, e, |a, p| emit(Self::from_block(a, p)));
                }
            }
        }

        impl Default for $net {
            fn default() -> Self {
                Self {
                    addr: <$addr>::from(0),
                    prefix: 0,
                }
            }
        }

        impl fmt::Display for $net {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}/{}", self.addr, self.prefix)
            }
        }

        impl fmt::Debug for $net {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        /// Iterator over equal subnets, in address order.
        #[derive(Debug, Clone)]
        pub struct $sub {
            next: Option<$uint>,
            end: $uint,
            prefix: u8,
        }

        impl $sub {
            /// How many subnets remain, exactly.
            pub fn remaining(&self) -> Option<Count> {
                let next = self.next?;
                let host_bits = $bits - self.prefix;
                // (end - next + 1) / 2^host_bits, computed without overflow:
                // both ends are block-aligned.
                let span = (self.end - next) >> host_bits; // blocks - 1
                Some(Count {
                    minus_one: span.into(),
                })
            }
        }

        impl Iterator for $sub {
            type Item = $net;
            fn next(&mut self) -> Option<$net> {
                let start = self.next?;
                let last = start | <$uint>::low_mask($bits - self.prefix);
                self.next = if last >= self.end {
                    None
                } else {
                    Some(last + 1)
                };
                Some($net::from_block(start, self.prefix))
            }
        }
    };
}

/// An IPv4 network: an address and a prefix length.
///
/// ```
/// use std::net::Ipv4Addr;
/// use subnet_calc::Ipv4Net;
///
/// // The seed's example: 192.168.9.193/25 lies in 192.168.9.128/25.
/// let n: Ipv4Net = "192.168.9.193/25".parse()?;
/// assert_eq!(n.network(), Ipv4Addr::new(192, 168, 9, 128));
/// assert_eq!(n.broadcast(), Ipv4Addr::new(192, 168, 9, 255));
/// assert_eq!((n.first_host(), n.last_host()), (Ipv4Addr::new(192, 168, 9, 129), Ipv4Addr::new(192, 168, 9, 254)));
/// assert_eq!(n.hosts(), 126);
///
/// // /0: the whole space; the host count does not fit in u32 but is exact.
/// let all: Ipv4Net = "0.0.0.0/0".parse()?;
/// assert_eq!(all.netmask(), Ipv4Addr::new(0, 0, 0, 0));
/// assert_eq!(all.addresses().get(), Some(1 << 32));
/// assert_eq!(all.hosts(), (1 << 32) - 2);
///
/// // /31 (RFC 3021): both addresses are hosts, there is no broadcast to skip.
/// let p2p: Ipv4Net = "10.0.0.0/31".parse()?;
/// assert_eq!((p2p.first_host(), p2p.last_host()), (Ipv4Addr::new(10, 0, 0, 0), Ipv4Addr::new(10, 0, 0, 1)));
/// assert_eq!(p2p.hosts(), 2);
///
/// // /32: one address, one host.
/// let one: Ipv4Net = "10.0.0.7/32".parse()?;
/// assert_eq!((one.first_host(), one.last_host(), one.hosts()), (Ipv4Addr::new(10, 0, 0, 7), Ipv4Addr::new(10, 0, 0, 7), 1));
///
/// // /33 does not exist.
/// assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
/// assert!(Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 0), 33).is_err());
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

common_impl!(Ipv4Net, Ipv4Addr, u32, 32, Ipv4Subnets);

impl Ipv4Net {
    /// The broadcast address: all host bits set.
    pub fn broadcast(&self) -> Ipv4Addr {
        self.last_address()
    }

    /// The first usable host (see the module docs for /31 and /32).
    pub fn first_host(&self) -> Ipv4Addr {
        match self.prefix {
            31 | 32 => self.network(),
            _ => Ipv4Addr::from(self.start() + 1),
        }
    }

    /// The last usable host (see the module docs for /31 and /32).
    pub fn last_host(&self) -> Ipv4Addr {
        match self.prefix {
            31 | 32 => self.broadcast(),
            _ => Ipv4Addr::from(self.end() - 1),
        }
    }

    /// The number of usable hosts: addresses − 2 below /31, 2 at /31, 1 at
    /// /32. Always fits: at most 2^32 − 2.
    pub fn hosts(&self) -> u64 {
        let addresses = 1u64 << self.host_bits();
        match self.prefix {
            31 | 32 => addresses,
            _ => addresses - 2,
        }
    }

    /// The minimal list of networks covering exactly the union of
    /// `networks`, sorted. Host bits of the inputs are ignored.
    ///
    /// ```
    /// use subnet_calc::Ipv4Net;
    /// let nets: Vec<Ipv4Net> = ["10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24", "10.0.0.7/32"]
    ///     .iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
    /// assert_eq!(Ipv4Net::aggregate(&nets), vec!["10.0.0.0/23".parse::<Ipv4Net>()?]);
    /// # Ok::<(), subnet_calc::ParseError>(())
    /// ```
    pub fn aggregate(networks: &[Ipv4Net]) -> Vec<Ipv4Net> {
        let mut ranges: Vec<(u32, u32)> = networks.iter().map(|n| (n.start(), n.end())).collect();
        let mut out = Vec::new();
        aggregate_v4_ranges(&mut ranges, |n| out.push(n));
        out
    }
}

/// Below this many ranges, a comparison sort beats the radix sort's fixed
/// cost of clearing its count tables.
const RADIX_THRESHOLD: usize = 4096;

/// Aggregates IPv4 ranges (consumed as scratch space), calling `emit` for
/// each resulting network in order.
pub(crate) fn aggregate_v4_ranges(ranges: &mut Vec<(u32, u32)>, mut emit: impl FnMut(Ipv4Net)) {
    if ranges.len() < RADIX_THRESHOLD {
        Ipv4Net::blocks_of_ranges(ranges, emit);
        return;
    }
    let mut scratch = Vec::new();
    bits::radix_sort_v4(ranges, &mut scratch);
    drop(scratch);
    let n = bits::merge_sorted(ranges);
    for &(s, e) in &ranges[..n] {
        bits::range_to_blocks(s, e, |a, p| emit(Ipv4Net::from_block(a, p)));
    }
}

/// An IPv6 network: an address and a prefix length.
///
/// ```
/// use std::net::Ipv6Addr;
/// use subnet_calc::Ipv6Net;
///
/// // /0: 2^128 addresses, counted exactly.
/// let all: Ipv6Net = "::/0".parse()?;
/// assert_eq!(all.addresses().to_string(), "340282366920938463463374607431768211456");
/// assert_eq!(all.last_host(), Ipv6Addr::from(u128::MAX));
///
/// // Below /127 the first host is the network address plus one.
/// let lan: Ipv6Net = "2001:db8::1/64".parse()?;
/// assert_eq!(lan.first_host(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
/// assert_eq!(lan.hosts().get(), Some((1 << 64) - 1));
///
/// // /127 (RFC 6164): both addresses are hosts.
/// let p2p: Ipv6Net = "2001:db8::/127".parse()?;
/// assert_eq!(p2p.first_host(), "2001:db8::".parse::<Ipv6Addr>().unwrap());
/// assert_eq!(p2p.last_host(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
/// assert_eq!(p2p.hosts().get(), Some(2));
///
/// // /128: the one address.
/// let one: Ipv6Net = "2001:db8::5/128".parse()?;
/// assert_eq!(one.first_host(), one.last_host());
/// assert_eq!(one.hosts().get(), Some(1));
///
/// // /129 does not exist.
/// assert!("::/129".parse::<Ipv6Net>().is_err());
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv6Net {
    addr: Ipv6Addr,
    prefix: u8,
}

common_impl!(Ipv6Net, Ipv6Addr, u128, 128, Ipv6Subnets);

impl Ipv6Net {
    /// The first usable host: the network address plus one below /127.
    pub fn first_host(&self) -> Ipv6Addr {
        match self.prefix {
            127 | 128 => self.network(),
            _ => Ipv6Addr::from(self.start() + 1),
        }
    }

    /// The last usable host: the last address.
    pub fn last_host(&self) -> Ipv6Addr {
        self.last_address()
    }

    /// The number of usable hosts: addresses − 1 below /127, else all.
    pub fn hosts(&self) -> Count {
        let addresses = self.addresses();
        match self.prefix {
            127 | 128 => addresses,
            // addresses >= 4 here, so addresses - 1 >= 1 and fits in u128.
            _ => Count {
                minus_one: addresses.minus_one - 1,
            },
        }
    }

    /// The minimal list of networks covering exactly the union of
    /// `networks`, sorted. Host bits of the inputs are ignored.
    pub fn aggregate(networks: &[Ipv6Net]) -> Vec<Ipv6Net> {
        let mut ranges: Vec<(u128, u128)> = networks.iter().map(|n| (n.start(), n.end())).collect();
        let mut out = Vec::new();
        Ipv6Net::blocks_of_ranges(&mut ranges, |n| out.push(n));
        out
    }
}

/// An IPv4 or IPv6 network. IPv4 sorts before IPv6.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpNet {
    /// An IPv4 network.
    V4(Ipv4Net),
    /// An IPv6 network.
    V6(Ipv6Net),
}

macro_rules! both {
    ($self:expr, $n:ident => $e:expr) => {
        match $self {
            IpNet::V4($n) => $e,
            IpNet::V6($n) => $e,
        }
    };
}

impl IpNet {
    /// Builds a network from an address and a prefix length.
    ///
    /// # Errors
    /// [`PrefixLenError`] if the prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, PrefixLenError> {
        Ok(match addr {
            IpAddr::V4(a) => IpNet::V4(Ipv4Net::new(a, prefix)?),
            IpAddr::V6(a) => IpNet::V6(Ipv6Net::new(a, prefix)?),
        })
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        match self {
            IpNet::V4(_) => 4,
            IpNet::V6(_) => 6,
        }
    }

    /// The address this value was built from.
    pub fn addr(&self) -> IpAddr {
        both!(self, n => n.addr().into())
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        both!(self, n => n.prefix_len())
    }

    /// 32 or 128.
    pub fn max_prefix_len(&self) -> u8 {
        both!(self, n => n.max_prefix_len())
    }

    /// The network mask.
    pub fn netmask(&self) -> IpAddr {
        both!(self, n => n.netmask().into())
    }

    /// The host (wildcard) mask.
    pub fn hostmask(&self) -> IpAddr {
        both!(self, n => n.hostmask().into())
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        both!(self, n => n.network().into())
    }

    /// The broadcast address; `None` for IPv6.
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        match self {
            IpNet::V4(n) => Some(n.broadcast()),
            IpNet::V6(_) => None,
        }
    }

    /// The first usable host.
    pub fn first_host(&self) -> IpAddr {
        both!(self, n => n.first_host().into())
    }

    /// The last usable host.
    pub fn last_host(&self) -> IpAddr {
        both!(self, n => n.last_host().into())
    }

    /// The number of addresses.
    pub fn addresses(&self) -> Count {
        both!(self, n => n.addresses())
    }

    /// The number of usable hosts.
    pub fn hosts(&self) -> Count {
        match self {
            // At most 2^32: fits.
            IpNet::V4(n) => Count {
                minus_one: u128::from(n.hosts()) - 1,
            },
            IpNet::V6(n) => n.hosts(),
        }
    }

    /// The same prefix with host bits cleared.
    pub fn trunc(&self) -> IpNet {
        match self {
            IpNet::V4(n) => IpNet::V4(n.trunc()),
            IpNet::V6(n) => IpNet::V6(n.trunc()),
        }
    }

    /// Whether no host bit is set.
    pub fn is_network(&self) -> bool {
        both!(self, n => n.is_network())
    }

    /// Whether `addr` lies inside the network; always false across
    /// families.
    ///
    /// ```
    /// use subnet_calc::IpNet;
    /// let n: IpNet = "2001:db8::/32".parse()?;
    /// assert!(n.contains_addr("2001:db8:ffff::1".parse().unwrap()));
    /// assert!(!n.contains_addr("10.0.0.1".parse().unwrap()));
    /// # Ok::<(), subnet_calc::ParseError>(())
    /// ```
    pub fn contains_addr(&self, addr: IpAddr) -> bool {
        match (self, addr) {
            (IpNet::V4(n), IpAddr::V4(a)) => n.contains_addr(a),
            (IpNet::V6(n), IpAddr::V6(a)) => n.contains_addr(a),
            _ => false,
        }
    }

    /// Whether `other` lies entirely inside this network; always false
    /// across families.
    pub fn contains(&self, other: &IpNet) -> bool {
        match (self, other) {
            (IpNet::V4(a), IpNet::V4(b)) => a.contains(b),
            (IpNet::V6(a), IpNet::V6(b)) => a.contains(b),
            _ => false,
        }
    }

    /// Whether the networks share an address; always false across families.
    pub fn overlaps(&self, other: &IpNet) -> bool {
        match (self, other) {
            (IpNet::V4(a), IpNet::V4(b)) => a.overlaps(b),
            (IpNet::V6(a), IpNet::V6(b)) => a.overlaps(b),
            _ => false,
        }
    }

    /// The minimal list covering exactly the union of `networks`: IPv4
    /// first, then IPv6, each sorted.
    ///
    /// ```
    /// use subnet_calc::IpNet;
    /// let nets: Vec<IpNet> = ["2001:db8::/33", "10.0.0.0/9", "2001:db8:8000::/33", "10.128.0.0/9"]
    ///     .iter().map(|s| s.parse()).collect::<Result<_, _>>()?;
    /// let agg: Vec<String> = IpNet::aggregate(&nets).iter().map(|n| n.to_string()).collect();
    /// assert_eq!(agg, ["10.0.0.0/8", "2001:db8::/32"]);
    /// # Ok::<(), subnet_calc::ParseError>(())
    /// ```
    pub fn aggregate(networks: &[IpNet]) -> Vec<IpNet> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in networks {
            match n {
                IpNet::V4(n) => v4.push((n.start(), n.end())),
                IpNet::V6(n) => v6.push((n.start(), n.end())),
            }
        }
        let mut out = Vec::new();
        aggregate_v4_ranges(&mut v4, |n| out.push(IpNet::V4(n)));
        Ipv6Net::blocks_of_ranges(&mut v6, |n| out.push(IpNet::V6(n)));
        out
    }
}

impl From<Ipv4Net> for IpNet {
    fn from(n: Ipv4Net) -> IpNet {
        IpNet::V4(n)
    }
}

impl From<Ipv6Net> for IpNet {
    fn from(n: Ipv6Net) -> IpNet {
        IpNet::V6(n)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        both!(self, n => fmt::Display::fmt(n, f))
    }
}

impl fmt::Debug for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn count_of_2_pow_128_prints_exactly() {
        assert_eq!(
            Count::pow2(128).to_string(),
            "340282366920938463463374607431768211456"
        );
        assert_eq!(Count::pow2(0).get(), Some(1));
        assert_eq!(Count::new(0), None);
    }

    #[test]
    fn subnets_of_slash_0_into_slash_1_are_two_halves() {
        let s: Vec<_> = v4("0.0.0.0/0").subnets(1).unwrap().collect();
        assert_eq!(s, vec![v4("0.0.0.0/1"), v4("128.0.0.0/1")]);
    }

    #[test]
    fn subnets_remaining_counts_exactly_even_for_v6_slash_0_to_128() {
        let all: Ipv6Net = "::/0".parse().unwrap();
        assert_eq!(
            all.subnets(128).unwrap().remaining(),
            Some(Count::pow2(128))
        );
        let s = v4("10.0.0.0/24").subnets(26).unwrap();
        assert_eq!(s.remaining(), Some(Count::pow2(2)));
    }

    #[test]
    fn subnets_refuse_a_shorter_prefix() {
        assert!(v4("10.0.0.0/24").subnets(23).is_err());
        assert!(v4("10.0.0.0/24").subnets(33).is_err());
    }

    #[test]
    fn subnets_reach_the_last_address_without_overflow() {
        let s: Vec<_> = v4("255.255.255.252/30").subnets(32).unwrap().collect();
        assert_eq!(s.len(), 4);
        assert_eq!(s[3], v4("255.255.255.255/32"));
    }

    #[test]
    fn exclude_a_middle_block_leaves_minimal_neighbours() {
        let got = v4("10.0.0.0/24").exclude(&[v4("10.0.0.64/26")]);
        assert_eq!(got, vec![v4("10.0.0.0/26"), v4("10.0.0.128/25")]);
    }

    #[test]
    fn exclude_everything_leaves_nothing() {
        assert!(v4("10.0.0.0/24").exclude(&[v4("10.0.0.0/8")]).is_empty());
        assert!(v4("0.0.0.0/0").exclude(&[v4("0.0.0.0/0")]).is_empty());
    }

    #[test]
    fn exclude_the_top_address_of_the_space() {
        let got = v4("255.255.255.252/30").exclude(&[v4("255.255.255.255/32")]);
        assert_eq!(
            got,
            vec![v4("255.255.255.252/31"), v4("255.255.255.254/32")]
        );
    }

    #[test]
    fn supernet_of_slash_0_is_none_and_clears_host_bits() {
        assert_eq!(v4("0.0.0.0/0").supernet(), None);
        assert_eq!(v4("10.0.1.0/24").supernet(), Some(v4("10.0.0.0/23")));
    }

    #[test]
    fn aggregate_large_input_uses_radix_path_and_agrees_with_small_path() {
        let nets: Vec<Ipv4Net> = (0..10_000u32)
            .map(|i| {
                let a = i.wrapping_mul(2_654_435_761);
                Ipv4Net::new(Ipv4Addr::from(a), (8 + i % 25) as u8).unwrap()
            })
            .collect();
        let big = Ipv4Net::aggregate(&nets);
        let mut small = Vec::new();
        let mut r: Vec<(u32, u32)> = nets.iter().map(|n| (n.start(), n.end())).collect();
        Ipv4Net::blocks_of_ranges(&mut r, |n| small.push(n));
        assert_eq!(big, small);
    }
}
