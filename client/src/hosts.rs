//! Host lists: `--hosts`, `--hosts-file`, and the compact form summaries use.
//!
//! # Design
//!
//! Addresses stay close to the strings the user wrote (`localhost:9000`,
//! `[::1]:9000`): they are resolved when connecting, and echoed as the
//! line prefix, so output names hosts the way the user does. The one
//! change is the port: an entry without one gets [`crate::DEFAULT_PORT`]
//! here, once, so the prefix, `--group` headers and the summary name the
//! port actually used (`box` is shown as `box:8080`), and `box` and
//! `box:8080` count as the same host. Duplicates are dropped, first
//! occurrence kept, as pdsh does.
//!
//! An entry that cannot be an address at all (`127.0.0.1:99999`, `a b`,
//! `[::1`) is refused before anything runs, naming the entry and, for a
//! hosts file, its line: a typo must not pass for an unreachable host.
//! Whether a name resolves is only learnt when connecting.
//!
//! The compact form groups ports per host into ranges, like pdsh's
//! hostlists (`127.0.0.1:[9001-9003,9005]`).

use std::collections::BTreeSet;
use std::net::{Ipv6Addr, SocketAddr};

use crate::conn::with_default_port;

/// `addr` checked and made `HOST:PORT` ([`crate::DEFAULT_PORT`] when it
/// names none); `Err` says why it is not an address. The host is an IPv4
/// address, an IPv6 address in brackets, or a host name (letters, digits,
/// `-`, `.`, `_`); the port is 1 to 65535.
///
/// ```
/// use client::hosts::normalize;
/// assert_eq!(normalize("box").unwrap(), "box:8080");
/// assert_eq!(normalize("[::1]").unwrap(), "[::1]:8080");
/// assert_eq!(normalize("127.0.0.1:9").unwrap(), "127.0.0.1:9");
/// assert!(normalize("127.0.0.1:99999").is_err());
/// assert!(normalize("a b").is_err());
/// ```
pub fn normalize(addr: &str) -> Result<String, String> {
    let full = with_default_port(addr.trim());
    let Some((host, port)) = full.rsplit_once(':') else {
        return Err("not an address".into());
    };
    match port.parse::<u16>() {
        Ok(0) => return Err("port 0 cannot be connected to".into()),
        Ok(_) => {}
        Err(_) if port.is_empty() => return Err("the port is missing after `:`".into()),
        Err(_) => return Err(format!("`{port}` is not a port (1-65535)")),
    }
    if full.parse::<SocketAddr>().is_ok() {
        return Ok(full.into_owned());
    }
    // A bracketed IPv6 address with a good port parsed above.
    if host.starts_with('[') || host.parse::<Ipv6Addr>().is_ok() {
        return Err(format!("`{host}` is not an IPv6 address in brackets"));
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if host.is_empty() || !host.chars().all(name_char) {
        return Err(format!("`{host}` is not a host name or address"));
    }
    Ok(full.into_owned())
}

/// Parses `--hosts`: comma-separated addresses, each made `HOST:PORT` by
/// [`normalize`]; blanks around entries and empty entries are ignored. An
/// entry that is not an address is an error naming it.
///
/// ```
/// use client::hosts::parse_list;
/// assert_eq!(parse_list(" a:1, b:2,,a:1 ").unwrap(), ["a:1", "b:2"]);
/// assert_eq!(parse_list("a,a:8080").unwrap(), ["a:8080"]);
/// ```
pub fn parse_list(list: &str) -> Result<Vec<String>, String> {
    let mut entries = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        entries.push(normalize(entry).map_err(|why| format!("`{entry}`: {why}"))?);
    }
    Ok(dedup(entries))
}

/// Parses a hosts file: one address a line, `#` starts a comment, blank
/// lines ignored, each address made `HOST:PORT` by [`normalize`]. A line
/// that is not an address is an error naming its number (from 1).
///
/// ```
/// use client::hosts::parse_file;
/// let text = "# lab\n127.0.0.1:9001\n\n  127.0.0.1:9002  # spare\n";
/// assert_eq!(parse_file(text).unwrap(), ["127.0.0.1:9001", "127.0.0.1:9002"]);
/// assert_eq!(
///     parse_file("a:1\nb c\n").unwrap_err(),
///     "line 2: `b c`: `b c` is not a host name or address"
/// );
/// ```
pub fn parse_file(text: &str) -> Result<Vec<String>, String> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let entry = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if entry.is_empty() {
            continue;
        }
        let addr =
            normalize(entry).map_err(|why| format!("line {}: `{entry}`: {why}", number + 1))?;
        entries.push(addr);
    }
    Ok(dedup(entries))
}

/// Joins lists, dropping later duplicates.
pub fn merge(lists: impl IntoIterator<Item = Vec<String>>) -> Vec<String> {
    dedup(lists.into_iter().flatten())
}

fn dedup(entries: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    entries
        .into_iter()
        .filter(|entry| seen.insert(entry.clone()))
        .collect()
}

/// Lists addresses compactly: ports of one host as ranges, hosts in order
/// of first appearance; an address without a numeric port is kept as is.
///
/// ```
/// use client::hosts::compact;
/// let hosts = ["127.0.0.1:9003", "127.0.0.1:9001", "127.0.0.1:9002", "[::1]:7", "box"];
/// assert_eq!(compact(&hosts), "127.0.0.1:[9001-9003],[::1]:7,box");
/// assert_eq!(compact(&["h:1", "h:3"]), "h:[1,3]");
/// ```
pub fn compact<S: AsRef<str>>(addrs: &[S]) -> String {
    let mut groups: Vec<(String, BTreeSet<u16>)> = Vec::new();
    let mut plain: Vec<(usize, String)> = Vec::new();
    for addr in addrs {
        let addr = addr.as_ref();
        let split = addr
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
        match split {
            Some((host, port)) => match groups.iter_mut().find(|(h, _)| h == host) {
                Some((_, ports)) => {
                    ports.insert(port);
                }
                None => groups.push((host.to_string(), BTreeSet::from([port]))),
            },
            None => plain.push((groups.len(), addr.to_string())),
        }
    }
    let mut parts: Vec<String> = groups
        .into_iter()
        .map(|(host, ports)| {
            let ranges = ranges(&ports);
            if ports.len() == 1 {
                format!("{host}:{ranges}")
            } else {
                format!("{host}:[{ranges}]")
            }
        })
        .collect();
    // Plain entries go back where they first appeared among the groups.
    for (offset, (position, addr)) in plain.into_iter().enumerate() {
        parts.insert((position + offset).min(parts.len()), addr);
    }
    parts.join(",")
}

fn ranges(ports: &BTreeSet<u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = ports.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter
            .peek()
            .is_some_and(|&next| Some(next) == end.checked_add(1))
        {
            end = iter.next().unwrap_or(end);
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_comments_and_blanks_are_ignored() {
        let text = "#all\n\n127.0.0.1:1 #one\n   \n# 127.0.0.1:2\n127.0.0.1:3\n";
        assert_eq!(parse_file(text).unwrap(), ["127.0.0.1:1", "127.0.0.1:3"]);
    }

    #[test]
    fn hosts_file_with_crlf_lines_parses() {
        assert_eq!(parse_file("a:1\r\nb:2\r\n").unwrap(), ["a:1", "b:2"]);
    }

    #[test]
    fn list_and_file_merge_without_duplicates_in_first_seen_order() {
        let merged = merge([
            parse_list("b:2,a:1").unwrap(),
            parse_file("a:1\nc:3\n").unwrap(),
        ]);
        assert_eq!(merged, ["b:2", "a:1", "c:3"]);
    }

    #[test]
    fn empty_list_is_empty() {
        assert!(parse_list(" , ,").unwrap().is_empty());
    }

    /// Regression: an entry without a port ran on port 8080 but was shown
    /// without it, and `box` and `box:8080` ran twice.
    #[test]
    fn entries_without_a_port_are_shown_with_the_port_used_and_deduplicated() {
        assert_eq!(
            parse_list("127.0.0.2,127.0.0.2:8080,[::1],::1,box").unwrap(),
            ["127.0.0.2:8080", "[::1]:8080", "box:8080"]
        );
        assert_eq!(
            parse_file("box\n[::1]:9\n::1\n").unwrap(),
            ["box:8080", "[::1]:9", "[::1]:8080"]
        );
    }

    /// Regression: malformed entries became "unreachable" hosts, found only
    /// after connecting everywhere else.
    #[test]
    fn malformed_entries_are_refused_naming_the_entry_and_line() {
        for bad in [
            "127.0.0.1:99999",
            "127.0.0.1:x",
            "127.0.0.1:",
            "127.0.0.1:0",
            "a b",
            "[::1",
            "[nope]:1",
            "[::1:80",
            ":80",
            "user@box",
        ] {
            let error = parse_list(&format!("a:1,{bad}")).expect_err(bad);
            assert!(error.starts_with(&format!("`{bad}`: ")), "{bad}: {error}");
            let error = parse_file(&format!("# hosts\na:1\n\n{bad} # x\n")).expect_err(bad);
            assert!(
                error.starts_with(&format!("line 4: `{bad}`: ")),
                "{bad}: {error}"
            );
        }
        for good in [
            "box",
            "box.example-1_x:2",
            "10.0.0.5",
            "[::1]:1",
            "::1:2011",
        ] {
            normalize(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn compact_merges_consecutive_ports_into_ranges() {
        let hosts = ["h:5", "h:1", "h:2", "h:3", "h:7", "h:8", "g:65535"];
        assert_eq!(compact(&hosts), "h:[1-3,5,7-8],g:65535");
    }

    #[test]
    fn compact_keeps_ipv6_brackets_and_odd_entries() {
        assert_eq!(
            compact(&["[::1]:1", "[::1]:2", "weird"]),
            "[::1]:[1-2],weird"
        );
        assert_eq!(compact(&["x", "h:1"]), "x,h:1");
    }

    #[test]
    fn compact_range_at_the_top_port_does_not_overflow() {
        assert_eq!(compact(&["h:65534", "h:65535"]), "h:[65534-65535]");
    }
}
