//! Property tests for the subnet math.
//!
//! Most properties are checked by brute force inside a small window of the
//! address space (10.0.0.0/22: 1024 addresses as a bitmap), where "covers
//! exactly" and "is minimal" can be checked address by address; the others
//! run across the whole space with `ipnet` as an independent oracle.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use subnet_calc::{IpNet, Ipv4Net, Ipv6Net};

const WINDOW: u32 = 0x0a00_0000; // 10.0.0.0
const WINDOW_BITS: u8 = 10; // /22

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    }
}

/// A network inside the window.
fn window_net() -> impl Strategy<Value = Ipv4Net> {
    (0u32..(1 << WINDOW_BITS), (32 - WINDOW_BITS)..=32u8).prop_map(|(off, p)| {
        Ipv4Net::new(Ipv4Addr::from(WINDOW + off), p)
            .unwrap()
            .trunc()
    })
}

/// The window's addresses covered by `nets`.
fn bitmap(nets: &[Ipv4Net]) -> Vec<bool> {
    let mut m = vec![false; 1 << WINDOW_BITS];
    for n in nets {
        let s = u32::from(n.network()) - WINDOW;
        let e = u32::from(n.broadcast()) - WINDOW;
        for b in &mut m[s as usize..=e as usize] {
            *b = true;
        }
    }
    m
}

fn any_v4_net() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a), p).unwrap())
}

fn any_v6_net() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, p)| Ipv6Net::new(Ipv6Addr::from(a), p).unwrap())
}

/// Checks that `blocks` are sorted, disjoint and each maximal inside the set
/// they cover (their supernet is not inside it): the unique minimal cover.
fn assert_minimal(blocks: &[Ipv4Net]) {
    let covered = bitmap(blocks);
    for w in blocks.windows(2) {
        assert!(
            w[0].broadcast() < w[1].network(),
            "{w:?} overlap or are unsorted"
        );
    }
    for b in blocks {
        if let Some(sup) = b.supernet() {
            let inside = u32::from(sup.network()) >= WINDOW
                && u32::from(sup.broadcast()) < WINDOW + (1 << WINDOW_BITS);
            if inside {
                let s = (u32::from(sup.network()) - WINDOW) as usize;
                let e = (u32::from(sup.broadcast()) - WINDOW) as usize;
                assert!(
                    !covered[s..=e].iter().all(|&c| c),
                    "{b} could be replaced by its supernet {sup}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn aggregate_covers_exactly_the_inputs_and_is_minimal(nets in prop::collection::vec(window_net(), 0..24)) {
        let agg = Ipv4Net::aggregate(&nets);
        prop_assert_eq!(bitmap(&agg), bitmap(&nets));
        assert_minimal(&agg);
    }

    #[test]
    fn aggregate_agrees_with_ipnet_over_the_whole_space(nets in prop::collection::vec(any_v4_net(), 0..40)) {
        let ours: Vec<String> = Ipv4Net::aggregate(&nets).iter().map(ToString::to_string).collect();
        let theirs: Vec<ipnet::Ipv4Net> = nets
            .iter()
            .map(|n| ipnet::Ipv4Net::new(n.addr(), n.prefix_len()).unwrap())
            .collect();
        let theirs: Vec<String> = ipnet::Ipv4Net::aggregate(&theirs).iter().map(ToString::to_string).collect();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn ipv6_aggregate_agrees_with_ipnet(nets in prop::collection::vec(any_v6_net(), 0..40)) {
        let ours: Vec<String> = Ipv6Net::aggregate(&nets).iter().map(ToString::to_string).collect();
        let theirs: Vec<ipnet::Ipv6Net> = nets
            .iter()
            .map(|n| ipnet::Ipv6Net::new(n.addr(), n.prefix_len()).unwrap())
            .collect();
        let theirs: Vec<String> = ipnet::Ipv6Net::aggregate(&theirs).iter().map(ToString::to_string).collect();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn mixed_aggregate_puts_ipv4_first_and_is_sorted(
        v4 in prop::collection::vec(any_v4_net(), 0..10),
        v6 in prop::collection::vec(any_v6_net(), 0..10),
    ) {
        let mut all: Vec<IpNet> = v6.iter().copied().map(IpNet::V6).collect();
        all.extend(v4.iter().copied().map(IpNet::V4));
        let agg = IpNet::aggregate(&all);
        let mut sorted = agg.clone();
        sorted.sort();
        prop_assert_eq!(&agg, &sorted);
        prop_assert_eq!(agg.iter().filter(|n| n.version() == 4).count(), Ipv4Net::aggregate(&v4).len());
    }

    #[test]
    fn split_partitions_exactly(net in any_v4_net(), extra in 0u8..=8) {
        let net = net.trunc();
        let new = (net.prefix_len() + extra).min(32);
        let subs: Vec<Ipv4Net> = net.subnets(new).unwrap().collect();
        prop_assert_eq!(subs.len() as u64, 1u64 << (new - net.prefix_len()));
        prop_assert_eq!(subs[0].network(), net.network());
        prop_assert_eq!(subs[subs.len() - 1].broadcast(), net.broadcast());
        for w in subs.windows(2) {
            prop_assert_eq!(u32::from(w[0].broadcast()) + 1, u32::from(w[1].network()));
        }
        for s in &subs {
            prop_assert_eq!(s.prefix_len(), new);
            prop_assert!(net.contains(s));
        }
    }

    #[test]
    fn ipv6_split_partitions_exactly(net in any_v6_net(), extra in 0u8..=6) {
        let net = net.trunc();
        let new = (net.prefix_len() + extra).min(128);
        let subs: Vec<Ipv6Net> = net.subnets(new).unwrap().collect();
        prop_assert_eq!(subs.len() as u128, 1u128 << (new - net.prefix_len()));
        prop_assert_eq!(subs[0].network(), net.network());
        prop_assert_eq!(subs[subs.len() - 1].last_address(), net.last_address());
        for w in subs.windows(2) {
            prop_assert_eq!(u128::from(w[0].last_address()) + 1, u128::from(w[1].network()));
        }
    }

    #[test]
    fn range_partitions_exactly_and_minimally(a in any::<u32>(), b in any::<u32>()) {
        let (s, e) = (a.min(b), a.max(b));
        let blocks = Ipv4Net::from_range(Ipv4Addr::from(s), Ipv4Addr::from(e));
        prop_assert_eq!(u32::from(blocks[0].network()), s);
        prop_assert_eq!(u32::from(blocks[blocks.len() - 1].broadcast()), e);
        for w in blocks.windows(2) {
            prop_assert_eq!(u32::from(w[0].broadcast()) + 1, u32::from(w[1].network()));
        }
        for blk in &blocks {
            prop_assert!(blk.is_network());
            // Maximal: the supernet would spill out of the range.
            if let Some(sup) = blk.supernet() {
                prop_assert!(u32::from(sup.network()) < s || u32::from(sup.broadcast()) > e);
            }
        }
        // At most two blocks per prefix length.
        prop_assert!(blocks.len() <= 62);
    }

    #[test]
    fn ipv6_range_agrees_with_ipnet(a in any::<u128>(), b in any::<u128>()) {
        let (s, e) = (Ipv6Addr::from(a.min(b)), Ipv6Addr::from(a.max(b)));
        let ours: Vec<String> = Ipv6Net::from_range(s, e).iter().map(ToString::to_string).collect();
        let theirs: Vec<String> = ipnet::Ipv6Subnets::new(s, e, 0).map(|n| n.to_string()).collect();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn exclude_and_contains_agree(net in window_net(), holes in prop::collection::vec(window_net(), 0..8)) {
        let rest = net.exclude(&holes);
        assert_minimal(&rest);
        let s = u32::from(net.network());
        let e = u32::from(net.broadcast());
        for a in s..=e {
            let addr = Ipv4Addr::from(a);
            let in_rest = rest.iter().any(|r| r.contains_addr(addr));
            let in_hole = holes.iter().any(|h| h.contains_addr(addr));
            prop_assert_eq!(in_rest, !in_hole, "address {}", addr);
        }
        for r in &rest {
            prop_assert!(net.contains(r));
            prop_assert!(!holes.iter().any(|h| h.overlaps(r)));
        }
    }

    #[test]
    fn display_then_parse_round_trips(v4 in any_v4_net(), v6 in any_v6_net()) {
        prop_assert_eq!(v4.to_string().parse::<Ipv4Net>().unwrap(), v4);
        prop_assert_eq!(v6.to_string().parse::<Ipv6Net>().unwrap(), v6);
        let mask_form = format!("{} {}", v4.addr(), v4.netmask());
        prop_assert_eq!(mask_form.parse::<Ipv4Net>().unwrap(), v4);
        let wild = format!("{}/{}", v4.addr(), v4.hostmask());
        let w = subnet_calc::parse_input(&wild, subnet_calc::Syntax { wildcard: true }).unwrap();
        prop_assert_eq!(w, IpNet::V4(v4));
    }

    #[test]
    fn any_leading_zero_octet_is_rejected(octets in any::<[u8; 4]>(), which in 0usize..4) {
        let text: Vec<String> = octets
            .iter()
            .enumerate()
            .map(|(i, o)| if i == which { format!("0{o}") } else { o.to_string() })
            .collect();
        let text = text.join(".");
        let err = text.parse::<Ipv4Net>().unwrap_err();
        prop_assert_eq!(err.kind(), &subnet_calc::ParseErrorKind::LeadingZero);
    }

    #[test]
    fn non_contiguous_masks_are_always_rejected(mask in any::<u32>()) {
        prop_assume!(mask.leading_ones() + mask.trailing_zeros() != 32);
        let text = format!("10.0.0.0/{}", Ipv4Addr::from(mask));
        prop_assert!(text.parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn hosts_follow_the_rfc_3021_rule(net in any_v4_net()) {
        let a = net.addresses().get().unwrap();
        let h = u128::from(net.hosts());
        match net.prefix_len() {
            32 => prop_assert_eq!(h, 1),
            31 => prop_assert_eq!(h, 2),
            _ => prop_assert_eq!(h, a - 2),
        }
        prop_assert!(net.first_host() <= net.last_host());
        prop_assert!(net.contains_addr(net.first_host()) && net.contains_addr(net.last_host()));
    }
}
