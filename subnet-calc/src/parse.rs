//! Strict parsing of the calculator's inputs, with errors that point at the
//! offending characters.
//!
//! # Design
//!
//! Accepted forms (surrounding whitespace is ignored):
//!
//! | form | example | meaning |
//! | --- | --- | --- |
//! | `ADDR/PREFIX` | `192.168.9.193/25`, `2001:db8::1/64` | |
//! | `ADDR/MASK` | `192.168.9.193/255.255.255.128` | IPv4 only |
//! | `ADDR MASK` | `192.168.9.193 255.255.255.128` | IPv4 only |
//! | `ADDR` | `10.1.1.1`, `::1` | /32 or /128 |
//!
//! With [`Syntax::wildcard`] a mask is read as a Cisco wildcard
//! (`0.0.0.127` = /25).
//!
//! IPv4 is parsed by hand, byte by byte, because strictness is the point and
//! the error has to say *where*: exactly four decimal octets, each `0` or
//! without a leading zero (`010.1.1.1` is 8.1.1.1 to inet_aton but 10.1.1.1 to
//! others, CVE-2021-29921), each at most 255. Masks must be contiguous: a
//! non-contiguous one (`255.0.255.0`) is an error, and when it is really a
//! wildcard the message says so. IPv6 is parsed by `std` (RFC 4291 text
//! forms); its errors underline the whole address. Prefix lengths are
//! decimal without leading zeros, at most 32 or 128.
//!
//! A [`ParseError`] carries the input, the byte span of the problem and a
//! [`ParseErrorKind`]; [`ParseError::caret`] renders the input with a caret
//! line under the span.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::str::FromStr;

use crate::net::{IpNet, Ipv4Net, Ipv6Net};

/// What is wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Nothing but whitespace.
    #[error("empty input")]
    Empty,
    /// Not recognisable as IPv4 (dotted decimal) or IPv6.
    #[error("not an IPv4 or IPv6 address")]
    NotAnAddress,
    /// An IPv4 address without exactly four octets, or with something other
    /// than digits in one.
    #[error("an IPv4 address is four decimal octets separated by dots")]
    BadIpv4,
    /// An octet such as `010`: octal to some parsers, decimal to others.
    #[error("leading zero in an octet (octal or decimal? see CVE-2021-29921)")]
    LeadingZero,
    /// An octet above 255.
    #[error("octet {0} is greater than 255")]
    OctetOutOfRange(u32),
    /// `std` rejected the IPv6 text.
    #[error("not a valid IPv6 address")]
    BadIpv6,
    /// The prefix length is not a decimal number.
    #[error("prefix length is not a decimal number")]
    BadPrefix,
    /// The prefix length has a leading zero.
    #[error("leading zero in the prefix length")]
    PrefixLeadingZero,
    /// The prefix length is longer than the address.
    #[error("prefix length {prefix} is out of range 0..={max}")]
    PrefixOutOfRange {
        /// The prefix length read (saturated at 999).
        prefix: u32,
        /// 32 or 128.
        max: u8,
    },
    /// A netmask whose one bits are not all at the front.
    #[error("netmask is not contiguous{}", if *.is_wildcard { " (it is a wildcard mask: use --wildcard)" } else { "" })]
    NonContiguousMask {
        /// The mask is a valid Cisco wildcard.
        is_wildcard: bool,
    },
    /// A wildcard whose one bits are not all at the end.
    #[error("wildcard mask is not contiguous{}", if *.is_netmask { " (it is a netmask: drop --wildcard)" } else { "" })]
    NonContiguousWildcard {
        /// The wildcard is a valid netmask.
        is_netmask: bool,
    },
    /// An IPv6 address followed by a dotted mask.
    #[error("IPv6 takes a prefix length, not a mask")]
    MaskOnIpv6,
    /// A network was required but host bits are set.
    #[error("host bits are set: the network is {network} (--loose accepts this)")]
    HostBitsSet {
        /// The input with its host bits cleared.
        network: IpNet,
    },
    /// An IPv4 network where IPv6 was required, or the reverse.
    #[error("expected an IPv{expected} network")]
    WrongFamily {
        /// 4 or 6.
        expected: u8,
    },
    /// A prefix or mask where only an address was expected.
    #[error("expected an address without a prefix or mask")]
    NotAnAddressOnly,
    /// Something after a complete input.
    #[error("unexpected text after the input")]
    Trailing,
}

/// An input that could not be parsed: the input, where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}`: {kind}")]
pub struct ParseError {
    input: String,
    span: Range<usize>,
    kind: ParseErrorKind,
}

impl ParseError {
    /// Builds an error; `span` is a byte range of `input`.
    pub fn new(input: &str, span: Range<usize>, kind: ParseErrorKind) -> ParseError {
        ParseError {
            input: input.to_owned(),
            span,
            kind,
        }
    }

    /// The whole input, as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The byte range of the input at fault.
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// What is wrong.
    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// The input on one line and carets under the fault on the next.
    ///
    /// ```
    /// let err = subnet_calc::parse_input("010.1.1.1/8", Default::default()).unwrap_err();
    /// assert_eq!(err.caret().to_string(), "010.1.1.1/8\n^^^");
    /// ```
    pub fn caret(&self) -> Caret<'_> {
        Caret(self)
    }
}

/// Display helper returned by [`ParseError::caret`].
#[derive(Debug)]
pub struct Caret<'a>(&'a ParseError);

impl fmt::Display for Caret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        // Columns count chars, not bytes, so the caret lines up for any
        // input; a span that is not on char boundaries is clamped.
        let start = e.input.get(..e.span.start).map_or(0, |s| s.chars().count());
        let width = e
            .input
            .get(e.span.clone())
            .map_or(1, |s| s.chars().count())
            .max(1);
        write!(f, "{}\n{}{}", e.input, " ".repeat(start), "^".repeat(width))
    }
}

/// How masks are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Syntax {
    /// Read a dotted mask as a Cisco wildcard (`0.0.0.255` = /24).
    pub wildcard: bool,
}

type Fault = (Range<usize>, ParseErrorKind);

/// Parses dotted-quad IPv4 at byte offset `base` (for spans).
fn parse_v4(s: &[u8], base: usize) -> Result<u32, Fault> {
    let mut value: u32 = 0;
    let mut octets = 0;
    let mut i = 0;
    let whole = base..base + s.len();
    loop {
        let start = i;
        let mut n: u32 = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            // Saturate: only "> 255" matters once past three digits.
            n = n.saturating_mul(10).saturating_add(u32::from(s[i] - b'0'));
            i += 1;
        }
        let span = base + start..base + i;
        if i == start {
            return Err((whole, ParseErrorKind::BadIpv4));
        }
        if n > 255 {
            return Err((span, ParseErrorKind::OctetOutOfRange(n)));
        }
        if i - start > 1 && s[start] == b'0' {
            return Err((span, ParseErrorKind::LeadingZero));
        }
        value = (value << 8) | n;
        octets += 1;
        if octets == 4 {
            if i != s.len() {
                return Err((whole, ParseErrorKind::BadIpv4));
            }
            return Ok(value);
        }
        if i >= s.len() || s[i] != b'.' {
            return Err((whole, ParseErrorKind::BadIpv4));
        }
        i += 1;
    }
}

fn parse_addr_token(s: &str, base: usize) -> Result<IpAddr, Fault> {
    let bytes = s.as_bytes();
    let span = base..base + s.len();
    if bytes.contains(&b':') {
        return Ipv6Addr::from_str(s)
            .map(IpAddr::V6)
            .map_err(|_| (span, ParseErrorKind::BadIpv6));
    }
    if bytes.first().is_some_and(u8::is_ascii_digit) {
        return parse_v4(bytes, base).map(|v| IpAddr::V4(Ipv4Addr::from(v)));
    }
    Err((span, ParseErrorKind::NotAnAddress))
}

fn parse_prefix(s: &str, base: usize, max: u8) -> Result<u8, Fault> {
    let span = base..base + s.len();
    let b = s.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return Err((span, ParseErrorKind::BadPrefix));
    }
    if b.len() > 1 && b[0] == b'0' {
        return Err((span, ParseErrorKind::PrefixLeadingZero));
    }
    let n = b
        .iter()
        .fold(0u32, |n, d| {
            n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
        })
        .min(999);
    if n > u32::from(max) {
        return Err((span, ParseErrorKind::PrefixOutOfRange { prefix: n, max }));
    }
    // n <= max <= 128: fits.
    Ok(n as u8)
}

fn is_contiguous_netmask(m: u32) -> bool {
    m.leading_ones() + m.trailing_zeros() == 32
}

/// Reads a dotted mask as a prefix length.
fn parse_mask(s: &str, base: usize, syntax: Syntax) -> Result<u8, Fault> {
    let span = base..base + s.len();
    let raw = parse_v4(s.as_bytes(), base)?;
    let (mask, other) = if syntax.wildcard {
        (!raw, raw)
    } else {
        (raw, !raw)
    };
    if is_contiguous_netmask(mask) {
        // leading_ones is at most 32: fits.
        return Ok(mask.leading_ones() as u8);
    }
    let other_ok = is_contiguous_netmask(other);
    Err((
        span,
        if syntax.wildcard {
            ParseErrorKind::NonContiguousWildcard {
                is_netmask: other_ok,
            }
        } else {
            ParseErrorKind::NonContiguousMask {
                is_wildcard: other_ok,
            }
        },
    ))
}

/// Byte range of the address token: from the first non-space to `/`, space
/// or end.
fn addr_token(input: &str) -> Range<usize> {
    let start = input.len() - input.trim_start().len();
    let rest = &input[start..];
    let len = rest
        .find(|c: char| c == '/' || c.is_whitespace())
        .unwrap_or(rest.len());
    start..start + len
}

fn parse_faulty(input: &str, syntax: Syntax) -> Result<IpNet, Fault> {
    let a = addr_token(input);
    if a.is_empty() {
        let kind = if input.trim().is_empty() {
            ParseErrorKind::Empty
        } else {
            ParseErrorKind::NotAnAddress
        };
        return Err((a.start..input.len(), kind));
    }
    let addr = parse_addr_token(&input[a.clone()], a.start)?;
    let max = match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    let rest = &input[a.end..];
    let (prefix, used) = if let Some(after) = rest.strip_prefix('/') {
        let p0 = a.end + 1;
        let len = after.find(char::is_whitespace).unwrap_or(after.len());
        let tok = &input[p0..p0 + len];
        let prefix = if tok.contains('.') {
            if max == 128 {
                return Err((p0..p0 + len, ParseErrorKind::MaskOnIpv6));
            }
            parse_mask(tok, p0, syntax)?
        } else {
            parse_prefix(tok, p0, max)?
        };
        (prefix, p0 + len)
    } else {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            (max, input.len())
        } else {
            let p0 = input.len() - trimmed.len();
            let len = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
            let tok = &input[p0..p0 + len];
            if max == 128 {
                return Err((p0..p0 + len, ParseErrorKind::MaskOnIpv6));
            }
            if !tok.contains('.') {
                return Err((p0..p0 + len, ParseErrorKind::Trailing));
            }
            (parse_mask(tok, p0, syntax)?, p0 + len)
        }
    };
    if !input[used..].trim().is_empty() {
        let t0 = used + (input[used..].len() - input[used..].trim_start().len());
        return Err((t0..input.trim_end().len(), ParseErrorKind::Trailing));
    }
    // The prefix was checked against `max` above.
    IpNet::new(addr, prefix).map_err(|e| {
        (
            a.clone(),
            ParseErrorKind::PrefixOutOfRange {
                prefix: u32::from(e.prefix),
                max: e.max,
            },
        )
    })
}

/// The common case `a.b.c.d/p`, exactly and strictly, without building any
/// error: `None` sends the caller to the full parser, which then either
/// accepts another form or explains the fault. Accepts nothing the full
/// parser would refuse.
#[inline]
pub(crate) fn parse_v4_cidr_fast(s: &[u8]) -> Option<Ipv4Net> {
    let mut i = 0;
    let mut value: u32 = 0;
    for octet in 0..4 {
        let start = i;
        let mut n: u32 = 0;
        while i < s.len() && s[i].is_ascii_digit() && i - start < 3 {
            n = n * 10 + u32::from(s[i] - b'0');
            i += 1;
        }
        let len = i - start;
        if len == 0 || n > 255 || (len > 1 && s[start] == b'0') {
            return None;
        }
        value = (value << 8) | n;
        let sep = if octet == 3 { b'/' } else { b'.' };
        if s.get(i) != Some(&sep) {
            return None;
        }
        i += 1;
    }
    let p = match &s[i..] {
        [d] if d.is_ascii_digit() => d - b'0',
        [b'1'..=b'3', d] if d.is_ascii_digit() => (s[i] - b'0') * 10 + (d - b'0'),
        _ => return None,
    };
    Ipv4Net::new(Ipv4Addr::from(value), p).ok()
}

/// Parses one input in any of the accepted forms (see the module docs).
///
/// ```
/// use subnet_calc::{parse_input, Syntax};
/// let n = parse_input("192.168.9.193 255.255.255.128", Syntax::default())?;
/// assert_eq!(n.to_string(), "192.168.9.193/25");
/// let w = parse_input("10.1.2.3/0.0.0.255", Syntax { wildcard: true })?;
/// assert_eq!(w.to_string(), "10.1.2.3/24");
/// assert_eq!(parse_input("::1", Syntax::default())?.to_string(), "::1/128");
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
///
/// # Errors
/// A [`ParseError`] pointing at the first fault.
pub fn parse_input(input: &str, syntax: Syntax) -> Result<IpNet, ParseError> {
    if let Some(n) = parse_v4_cidr_fast(input.as_bytes()) {
        return Ok(IpNet::V4(n));
    }
    parse_faulty(input, syntax).map_err(|(span, kind)| ParseError::new(input, span, kind))
}

/// Parses an input that must name a network: with `loose` false, host bits
/// are an error; with `loose` true they are cleared.
///
/// ```
/// use subnet_calc::{parse_network, Syntax};
/// let err = parse_network("10.0.0.1/24", Syntax::default(), false).unwrap_err();
/// assert_eq!(err.to_string(), "`10.0.0.1/24`: host bits are set: the network is 10.0.0.0/24 (--loose accepts this)");
/// assert_eq!(parse_network("10.0.0.1/24", Syntax::default(), true)?.to_string(), "10.0.0.0/24");
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
///
/// # Errors
/// A [`ParseError`] pointing at the first fault.
pub fn parse_network(input: &str, syntax: Syntax, loose: bool) -> Result<IpNet, ParseError> {
    let net = parse_input(input, syntax)?;
    if net.is_network() {
        Ok(net)
    } else if loose {
        Ok(net.trunc())
    } else {
        Err(ParseError::new(
            input,
            addr_token(input),
            ParseErrorKind::HostBitsSet {
                network: net.trunc(),
            },
        ))
    }
}

/// Parses a bare address (no prefix, no mask), strictly.
///
/// # Errors
/// A [`ParseError`] pointing at the first fault.
pub fn parse_addr(input: &str) -> Result<IpAddr, ParseError> {
    let a = addr_token(input);
    let fault = |span, kind| ParseError::new(input, span, kind);
    if a.is_empty() {
        return Err(fault(0..input.len(), ParseErrorKind::Empty));
    }
    let addr = parse_addr_token(&input[a.clone()], a.start).map_err(|(s, k)| fault(s, k))?;
    if !input[a.end..].trim().is_empty() {
        return Err(fault(
            a.end..input.trim_end().len(),
            ParseErrorKind::NotAnAddressOnly,
        ));
    }
    Ok(addr)
}

impl FromStr for IpNet {
    type Err = ParseError;
    /// Any of the forms of [`parse_input`], masks read as netmasks.
    fn from_str(s: &str) -> Result<IpNet, ParseError> {
        parse_input(s, Syntax::default())
    }
}

impl FromStr for Ipv4Net {
    type Err = ParseError;
    /// As [`IpNet`]'s, and the address must be IPv4.
    fn from_str(s: &str) -> Result<Ipv4Net, ParseError> {
        match parse_input(s, Syntax::default())? {
            IpNet::V4(n) => Ok(n),
            IpNet::V6(_) => Err(ParseError::new(
                s,
                addr_token(s),
                ParseErrorKind::WrongFamily { expected: 4 },
            )),
        }
    }
}

impl FromStr for Ipv6Net {
    type Err = ParseError;
    /// As [`IpNet`]'s, and the address must be IPv6.
    fn from_str(s: &str) -> Result<Ipv6Net, ParseError> {
        match parse_input(s, Syntax::default())? {
            IpNet::V6(n) => Ok(n),
            IpNet::V4(_) => Err(ParseError::new(
                s,
                addr_token(s),
                ParseErrorKind::WrongFamily { expected: 6 },
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> ParseError {
        parse_input(s, Syntax::default()).unwrap_err()
    }

    fn ok(s: &str) -> String {
        parse_input(s, Syntax::default()).unwrap().to_string()
    }

    #[test]
    fn leading_zero_octet_is_rejected_with_caret_under_it() {
        let e = err("10.010.1.1");
        assert_eq!(e.kind(), &ParseErrorKind::LeadingZero);
        assert_eq!(e.caret().to_string(), "10.010.1.1\n   ^^^");
    }

    #[test]
    fn zero_octet_alone_is_fine() {
        assert_eq!(ok("0.0.0.0/0"), "0.0.0.0/0");
    }

    #[test]
    fn octet_above_255_is_named() {
        let e = err("1.2.300.4");
        assert_eq!(e.kind(), &ParseErrorKind::OctetOutOfRange(300));
        assert_eq!(e.span(), 4..7);
    }

    #[test]
    fn three_or_five_octets_are_not_ipv4() {
        assert_eq!(err("1.2.3").kind(), &ParseErrorKind::BadIpv4);
        assert_eq!(err("1.2.3.4.5").kind(), &ParseErrorKind::BadIpv4);
        assert_eq!(err("1.2..4").kind(), &ParseErrorKind::BadIpv4);
        assert_eq!(err("1.2.3.4x").kind(), &ParseErrorKind::BadIpv4);
    }

    #[test]
    fn non_contiguous_masks_are_rejected_and_wildcards_are_recognised() {
        let e = err("10.0.0.0/255.0.255.0");
        assert_eq!(
            e.kind(),
            &ParseErrorKind::NonContiguousMask { is_wildcard: false }
        );
        assert_eq!(e.span(), 9..20);
        let e = err("10.0.0.0 0.255.255.0");
        assert_eq!(
            e.kind(),
            &ParseErrorKind::NonContiguousMask { is_wildcard: false }
        );
        let e = err("10.0.0.0/0.0.0.255");
        assert_eq!(
            e.kind(),
            &ParseErrorKind::NonContiguousMask { is_wildcard: true }
        );
    }

    #[test]
    fn wildcard_syntax_reads_masks_inverted() {
        let w = Syntax { wildcard: true };
        assert_eq!(
            parse_input("10.0.0.0 0.0.0.255", w).unwrap().prefix_len(),
            24
        );
        assert_eq!(
            parse_input("10.0.0.0 255.255.255.255", w)
                .unwrap()
                .prefix_len(),
            0
        );
        let e = parse_input("10.0.0.0 255.255.255.0", w).unwrap_err();
        assert_eq!(
            e.kind(),
            &ParseErrorKind::NonContiguousWildcard { is_netmask: true }
        );
    }

    #[test]
    fn prefix_out_of_range_points_at_the_prefix() {
        let e = err("10.0.0.0/33");
        assert_eq!(
            e.kind(),
            &ParseErrorKind::PrefixOutOfRange {
                prefix: 33,
                max: 32
            }
        );
        assert_eq!(e.caret().to_string(), "10.0.0.0/33\n         ^^");
        assert!(matches!(
            err("::/129").kind(),
            ParseErrorKind::PrefixOutOfRange { .. }
        ));
        assert_eq!(ok("::/128"), "::/128");
    }

    #[test]
    fn prefix_must_be_plain_decimal() {
        assert_eq!(
            err("10.0.0.0/024").kind(),
            &ParseErrorKind::PrefixLeadingZero
        );
        assert_eq!(err("10.0.0.0/").kind(), &ParseErrorKind::BadPrefix);
        assert_eq!(err("10.0.0.0/+8").kind(), &ParseErrorKind::BadPrefix);
    }

    #[test]
    fn ipv6_is_canonical_and_rejects_masks_and_zones() {
        assert_eq!(ok("2001:DB8:0:0:0:0:0:1/64"), "2001:db8::1/64");
        assert_eq!(
            err("2001:db8::/255.255.0.0").kind(),
            &ParseErrorKind::MaskOnIpv6
        );
        assert_eq!(err("fe80::1%eth0").kind(), &ParseErrorKind::BadIpv6);
    }

    #[test]
    fn whitespace_mask_form_and_bare_addresses() {
        assert_eq!(
            ok("  192.168.9.193   255.255.255.128  "),
            "192.168.9.193/25"
        );
        assert_eq!(ok("10.1.1.1"), "10.1.1.1/32");
        assert_eq!(err("10.1.1.1 24").kind(), &ParseErrorKind::Trailing);
        assert_eq!(err("10.1.1.1/24 x").kind(), &ParseErrorKind::Trailing);
    }

    #[test]
    fn empty_and_garbage() {
        assert_eq!(err("   ").kind(), &ParseErrorKind::Empty);
        assert_eq!(err("example.com").kind(), &ParseErrorKind::NotAnAddress);
    }

    #[test]
    fn host_bits_error_underlines_the_address() {
        let e = parse_network("10.0.0.1/24", Syntax::default(), false).unwrap_err();
        assert_eq!(e.span(), 0..8);
    }

    #[test]
    fn parse_addr_rejects_prefixes() {
        assert!(parse_addr("10.0.0.1").is_ok());
        assert_eq!(
            parse_addr("10.0.0.1/8").unwrap_err().kind(),
            &ParseErrorKind::NotAnAddressOnly
        );
    }

    #[test]
    fn fast_path_agrees_with_the_full_parser() {
        for s in [
            "1.2.3.4/0",
            "1.2.3.4/32",
            "1.2.3.4/33",
            "255.255.255.255/9",
            "01.2.3.4/8",
            "1.2.3.4/08",
            "256.1.1.1/8",
            "1.2.3.4/",
            "1.2.3/4",
            "1.2.3.4.5/6",
            "1.2.3.4/1x",
            "1234.1.1.1/8",
            "1.2.3.4/133",
            "0.0.0.0/0",
            "9.9.9.9/19",
        ] {
            let fast = parse_v4_cidr_fast(s.as_bytes());
            let full = parse_faulty(s, Syntax::default()).ok();
            match (fast, full) {
                (Some(a), Some(IpNet::V4(n))) => assert_eq!(a, n, "{s}"),
                (Some(_), other) => panic!("{s}: fast path accepted, full parser gave {other:?}"),
                (None, _) => {}
            }
        }
        assert!(parse_v4_cidr_fast(b"192.168.9.193/25").is_some());
    }

    #[test]
    fn caret_counts_characters_not_bytes() {
        let e = err("é.1.1.1");
        assert_eq!(e.caret().to_string(), "é.1.1.1\n^^^^^^^");
    }
}
