//! Host lists: `--hosts`, `--hosts-file`, and the compact form summaries use.
//!
//! # Design
//!
//! Addresses stay the strings the user wrote (`localhost:9000`,
//! `[::1]:9000`): they are resolved when connecting, and echoed as the
//! line prefix, so output names hosts the way the user does. Duplicates
//! are dropped, first occurrence kept, as pdsh does. The compact form
//! groups ports per host into ranges, like pdsh's hostlists
//! (`127.0.0.1:[9001-9003,9005]`).

use std::collections::BTreeSet;

/// Parses `--hosts`: comma-separated addresses; blanks around entries and
/// empty entries are ignored.
///
/// ```
/// use client::hosts::parse_list;
/// assert_eq!(parse_list(" a:1, b:2,,a:1 "), ["a:1", "b:2"]);
/// ```
pub fn parse_list(list: &str) -> Vec<String> {
    dedup(list.split(','))
}

/// Parses a hosts file: one address a line, `#` starts a comment, blank
/// lines ignored.
///
/// ```
/// use client::hosts::parse_file;
/// let text = "# lab\n127.0.0.1:9001\n\n  127.0.0.1:9002  # spare\n";
/// assert_eq!(parse_file(text), ["127.0.0.1:9001", "127.0.0.1:9002"]);
/// ```
pub fn parse_file(text: &str) -> Vec<String> {
    dedup(
        text.lines()
            .map(|line| line.split_once('#').map_or(line, |(before, _)| before)),
    )
}

/// Joins lists, dropping later duplicates.
pub fn merge(lists: impl IntoIterator<Item = Vec<String>>) -> Vec<String> {
    let all: Vec<String> = lists.into_iter().flatten().collect();
    dedup(all.iter().map(String::as_str))
}

fn dedup<'a>(entries: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    entries
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .filter(|entry| seen.insert(entry.to_string()))
        .map(str::to_string)
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
        assert_eq!(parse_file(text), ["127.0.0.1:1", "127.0.0.1:3"]);
    }

    #[test]
    fn hosts_file_with_crlf_lines_parses() {
        assert_eq!(parse_file("a:1\r\nb:2\r\n"), ["a:1", "b:2"]);
    }

    #[test]
    fn list_and_file_merge_without_duplicates_in_first_seen_order() {
        let merged = merge([parse_list("b:2,a:1"), parse_file("a:1\nc:3\n")]);
        assert_eq!(merged, ["b:2", "a:1", "c:3"]);
    }

    #[test]
    fn empty_list_is_empty() {
        assert!(parse_list(" , ,").is_empty());
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
