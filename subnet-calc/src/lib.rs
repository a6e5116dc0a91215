//! A subnet calculator: IPv4 and IPv6 network types with exact arithmetic,
//! strict parsing, set operations on networks, and the `subnet-calc` command
//! line built on them.
//!
//! ```
//! use subnet_calc::{IpNet, Ipv4Net};
//!
//! // The seed's example: the network part is the address ANDed with the mask.
//! let n: Ipv4Net = "192.168.9.193/25".parse()?;
//! assert_eq!(n.network().to_string(), "192.168.9.128");
//!
//! // Strict: `010` could be octal (8) or decimal (10), so it is refused.
//! let err = "010.1.1.1/8".parse::<IpNet>().unwrap_err();
//! assert_eq!(err.caret().to_string(), "010.1.1.1/8\n^^^");
//!
//! // Set operations come back as minimal, sorted lists of CIDRs.
//! let holes = ["10.0.0.64/26".parse()?];
//! let rest: Vec<String> = "10.0.0.0/24".parse::<Ipv4Net>()?.exclude(&holes)
//!     .iter().map(ToString::to_string).collect();
//! assert_eq!(rest, ["10.0.0.0/26", "10.0.0.128/25"]);
//! # Ok::<(), subnet_calc::ParseError>(())
//! ```
//!
//! # Design
//!
//! - [`net`]: [`Ipv4Net`], [`Ipv6Net`], [`IpNet`] in the style of `std`'s
//!   address types (and of the `ipnet` crate): private fields,
//!   `Copy + Eq + Ord + Hash`, `new(addr, prefix) -> Result`, `FromStr` and
//!   `Display`. Arithmetic is exact on `u32`/`u128`; no floating point
//!   anywhere. Counts use [`Count`], which reaches 2^128.
//! - [`parse`]: the strict parser, whose [`ParseError`] carries the input and
//!   the span at fault for a caret display.
//! - [`classify`]: IANA special-purpose types, class, reverse DNS zone.
//! - [`report`]: the human table with the bit view, and the JSON object.
//! - [`cli`]: arguments and [`run`]; the binary's `main` is only
//!   `Cli::parse` → [`run`] → exit code.
//!
//! Set operations (aggregate, range → CIDRs, exclude) all reduce to sorted,
//! merged inclusive integer ranges, then to the largest aligned blocks; see
//! the private `bits` module. Large IPv4 aggregations sort with a radix
//! sort.
//!
//! Why these dependencies:
//! - `clap`: argument parsing, help and usage errors (house rule: no
//!   hand-written argument parsing).
//! - `thiserror`: the typed error enums ([`ParseError`], [`Error`]).
//! - `serde_json`: escaping the user's text inside JSON output. The JSON
//!   records themselves are written by hand (see [`report`]) because their
//!   integers must stay exact up to 2^128, which no Rust integer holds, and
//!   because batch mode must format a million records a second.
//! - `libc` (binary only): `signal(SIGPIPE, SIG_IGN)`, which std's own
//!   `main` wrapper would do; the binary defines its C `main` itself to
//!   start faster (see `src/main.rs` and `build-support/static_libgcc.rs`).
//!
//! Parsing IPv4 and the CIDR math are written by hand on purpose: they are
//! this crate's craft, and strictness with a pointed error is the feature
//! (`std` would reject `010.1.1.1` too, but could not say where).
#![deny(missing_docs)]

mod bits;
pub mod classify;
pub mod cli;
pub mod net;
pub mod parse;
pub mod report;

pub use classify::{address_type, ipv4_class, ipv4_type, ipv6_type, reverse_zone, AddressType};
pub use cli::{run, Cli, Color, Command, Env, Error, Exit, Options};
pub use net::{Count, IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets, PrefixLenError};
pub use parse::{parse_addr, parse_input, parse_network, ParseError, ParseErrorKind, Syntax};
pub use report::{write_human, write_json, write_json_error};
