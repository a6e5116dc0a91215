//! Rendering one network: the human table with its bit-by-bit view, and the
//! JSON object.
//!
//! # Design
//!
//! Both renderers append bytes to a caller's `Vec<u8>`, so batch mode formats
//! a million records into one reused buffer and writes it out in large
//! chunks. The JSON object is flat, its keys are fixed and every value but
//! `input` is a number or an address, so it is written directly rather than
//! through `serde`: that keeps `addresses`/`hosts` exact JSON integers all
//! the way to 2^128 (past `u128`) and the batch mode above a million lines a
//! second. `input`, which is arbitrary user text, is escaped by `serde_json`.
//!
//! The bit view is the seed's: address, netmask, network and broadcast (for
//! IPv6, the last address) in binary, octets (IPv4) or 16-bit groups (IPv6)
//! apart, with a `|` between the network and host bits. With colour on,
//! network bits are cyan and host bits yellow.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use crate::classify::{address_type, ipv4_class, reverse_zone};
use crate::net::{Count, IpNet};

const CYAN: &str = "\x1b[36m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Appends the decimal digits of `n`.
pub(crate) fn push_u128(out: &mut Vec<u8>, mut n: u128) {
    let mut buf = [0u8; 39];
    let mut i = buf.len();
    loop {
        i -= 1;
        // n % 10 < 10: fits.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends an exact count.
pub(crate) fn push_count(out: &mut Vec<u8>, c: Count) {
    match c.get() {
        Some(n) => push_u128(out, n),
        None => out.extend_from_slice(b"340282366920938463463374607431768211456"),
    }
}

/// Appends an IPv4 address in dotted decimal. Formats into a stack buffer
/// and appends once: this runs once or more per output line in batch mode.
#[inline]
pub(crate) fn push_v4(out: &mut Vec<u8>, a: Ipv4Addr) {
    let mut buf = [0u8; 15];
    let mut n = 0;
    for (i, o) in a.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            buf[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            buf[n] = b'0' + o / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + o % 10;
        n += 1;
    }
    out.extend_from_slice(&buf[..n]);
}

/// Appends an address in canonical form (RFC 5952 for IPv6, via `std`).
pub(crate) fn push_addr(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => push_v4(out, a),
        // Writing to a Vec cannot fail.
        IpAddr::V6(a) => {
            let _ = write!(out, "{a}");
        }
    }
}

/// Appends a network as `ADDR/PREFIX`.
pub(crate) fn push_net(out: &mut Vec<u8>, n: &IpNet) {
    push_addr(out, n.addr());
    out.push(b'/');
    push_u128(out, u128::from(n.prefix_len()));
}

/// Appends `s` as a JSON string.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Serialising a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

fn push_json_addr(out: &mut Vec<u8>, a: IpAddr) {
    out.push(b'"');
    push_addr(out, a);
    out.push(b'"');
}

/// Appends the JSON object for `net`, parsed from `input` (no newline).
///
/// ```
/// let net = "192.168.9.193/25".parse()?;
/// let mut out = Vec::new();
/// subnet_calc::write_json(&mut out, "192.168.9.193/25", &net);
/// assert_eq!(String::from_utf8(out).unwrap(), concat!(
///     r#"{"input":"192.168.9.193/25","version":4,"address":"192.168.9.193","prefix":25,"#,
///     r#""netmask":"255.255.255.128","wildcard":"0.0.0.127","network":"192.168.9.128","#,
///     r#""broadcast":"192.168.9.255","first_host":"192.168.9.129","last_host":"192.168.9.254","#,
///     r#""addresses":128,"hosts":126,"type":"private"}"#));
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
pub fn write_json(out: &mut Vec<u8>, input: &str, net: &IpNet) {
    out.extend_from_slice(b"{\"input\":");
    push_json_str(out, input);
    out.extend_from_slice(b",\"version\":");
    out.push(b'0' + net.version());
    out.extend_from_slice(b",\"address\":");
    push_json_addr(out, net.addr());
    out.extend_from_slice(b",\"prefix\":");
    push_u128(out, u128::from(net.prefix_len()));
    out.extend_from_slice(b",\"netmask\":");
    push_json_addr(out, net.netmask());
    out.extend_from_slice(b",\"wildcard\":");
    push_json_addr(out, net.hostmask());
    out.extend_from_slice(b",\"network\":");
    push_json_addr(out, net.network());
    out.extend_from_slice(b",\"broadcast\":");
    match net.broadcast() {
        Some(b) => push_json_addr(out, b.into()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"first_host\":");
    push_json_addr(out, net.first_host());
    out.extend_from_slice(b",\"last_host\":");
    push_json_addr(out, net.last_host());
    out.extend_from_slice(b",\"addresses\":");
    push_count(out, net.addresses());
    out.extend_from_slice(b",\"hosts\":");
    push_count(out, net.hosts());
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(address_type(net.addr()).as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}

/// Appends a JSON object reporting a bad input (no newline).
pub fn write_json_error(out: &mut Vec<u8>, input: &str, error: &str) {
    out.extend_from_slice(b"{\"input\":");
    push_json_str(out, input);
    out.extend_from_slice(b",\"error\":");
    push_json_str(out, error);
    out.push(b'}');
}

/// Appends the bits of `value` (the low `width` bits, 32 or 128), grouped,
/// with `|` after the first `prefix` bits.
fn push_bits(out: &mut Vec<u8>, value: u128, width: u8, prefix: u8, color: bool) {
    let group = if width == 32 { 8 } else { 16 };
    let sep = if width == 32 { b' ' } else { b':' };
    if color {
        out.extend_from_slice(CYAN.as_bytes());
    }
    for i in 0..width {
        if i == prefix {
            if color {
                out.extend_from_slice(YELLOW.as_bytes());
            }
            out.push(b'|');
        } else if i > 0 && i % group == 0 {
            out.push(sep);
        }
        let bit = (value >> (width - 1 - i)) & 1;
        out.push(if bit == 1 { b'1' } else { b'0' });
    }
    if prefix == width {
        out.push(b'|');
    }
    if color {
        out.extend_from_slice(RESET.as_bytes());
    }
}

fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Appends the human-readable report for `net`: the table, a blank line, the
/// bit view.
///
/// ```
/// let net = "192.168.9.193/25".parse()?;
/// let mut out = Vec::new();
/// subnet_calc::write_human(&mut out, &net, false);
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.contains("Network:      192.168.9.128/25\n"));
/// assert!(text.contains("Network:      11000000 10101000 00001001 1|0000000\n"));
/// # Ok::<(), subnet_calc::ParseError>(())
/// ```
pub fn write_human(out: &mut Vec<u8>, net: &IpNet, color: bool) {
    let label = |out: &mut Vec<u8>, name: &str| {
        if color {
            out.extend_from_slice(BOLD.as_bytes());
        }
        // Labels are padded to one width so the values line up.
        let _ = write!(out, "{:<14}", format!("{name}:"));
        if color {
            out.extend_from_slice(RESET.as_bytes());
        }
    };
    let line = |out: &mut Vec<u8>, name: &str, a: IpAddr| {
        label(out, name);
        push_addr(out, a);
        out.push(b'\n');
    };
    line(out, "Address", net.addr());
    label(out, "Netmask");
    push_addr(out, net.netmask());
    let _ = writeln!(out, " = {}", net.prefix_len());
    line(out, "Wildcard", net.hostmask());
    label(out, "Network");
    push_net(out, &net.trunc());
    out.push(b'\n');
    match net.broadcast() {
        Some(b) => line(out, "Broadcast", b.into()),
        None => {
            label(out, "Broadcast");
            out.extend_from_slice(b"none (IPv6)\n");
        }
    }
    line(out, "First host", net.first_host());
    line(out, "Last host", net.last_host());
    label(out, "Addresses");
    push_count(out, net.addresses());
    out.push(b'\n');
    label(out, "Hosts");
    push_count(out, net.hosts());
    out.push(b'\n');
    if let IpAddr::V4(a) = net.addr() {
        label(out, "Class");
        let _ = writeln!(out, "{}", ipv4_class(a));
    }
    label(out, "Type");
    let _ = writeln!(out, "{}", address_type(net.addr()).description());
    label(out, "Reverse DNS");
    let _ = writeln!(out, "{}", reverse_zone(net));

    out.push(b'\n');
    let width = net.max_prefix_len();
    let p = net.prefix_len();
    let last = match net {
        IpNet::V4(_) => "Broadcast",
        IpNet::V6(_) => "Last",
    };
    let rows = [
        ("Address", net.addr()),
        ("Netmask", net.netmask()),
        ("Network", net.network()),
        (last, last_address(net)),
    ];
    for (name, a) in rows {
        label(out, name);
        push_bits(out, addr_bits(a), width, p, color);
        out.push(b'\n');
    }
}

fn last_address(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(n) => n.last_address().into(),
        IpNet::V6(n) => n.last_address().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        write_json(&mut out, s, &s.parse().unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_counts_for_v6_slash_0_are_exact_integers_past_u128() {
        let j = json("::/0");
        assert!(
            j.contains(r#""addresses":340282366920938463463374607431768211456,"#),
            "{j}"
        );
        assert!(
            j.contains(r#""hosts":340282366920938463463374607431768211455,"#),
            "{j}"
        );
        assert!(j.contains(r#""broadcast":null"#), "{j}");
    }

    #[test]
    fn json_is_valid_and_escapes_odd_input() {
        let mut out = Vec::new();
        write_json_error(&mut out, "a\"b\\c\u{1}", "bad");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["input"], "a\"b\\c\u{1}");
        let v: serde_json::Value = serde_json::from_str(&json("10.0.0.0/8")).unwrap();
        assert_eq!(v["hosts"], 16_777_214);
        assert_eq!(v["type"], "private");
    }

    #[test]
    fn bit_view_marks_the_boundary_at_octet_edges_and_ends() {
        let mut o = Vec::new();
        push_bits(&mut o, 0xc0a8_0901, 32, 24, false);
        assert_eq!(o, b"11000000 10101000 00001001|00000001");
        o.clear();
        push_bits(&mut o, 1, 32, 32, false);
        assert_eq!(o, b"00000000 00000000 00000000 00000001|");
        o.clear();
        push_bits(&mut o, 1, 32, 0, false);
        assert_eq!(o, b"|00000000 00000000 00000000 00000001");
    }

    #[test]
    fn dotted_decimal_matches_std_for_every_octet_width() {
        for a in [
            0u32,
            0x0a00_0001,
            0x6401_0a09,
            0xffff_ffff,
            0xc0a8_09c1,
            0x0a09_6300,
        ] {
            let mut o = Vec::new();
            push_v4(&mut o, Ipv4Addr::from(a));
            assert_eq!(String::from_utf8(o).unwrap(), Ipv4Addr::from(a).to_string());
        }
    }

    #[test]
    fn u128_digits_at_the_extremes() {
        let mut o = Vec::new();
        push_u128(&mut o, 0);
        o.push(b' ');
        push_u128(&mut o, u128::MAX);
        assert_eq!(o, b"0 340282366920938463463374607431768211455");
    }
}
