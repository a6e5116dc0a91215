//! The command line: arguments ([`Cli`]), the [`run`] entry point and its
//! [`Exit`] codes.
//!
//! # Design
//!
//! `main` only parses arguments and looks at its environment (is stdin a
//! terminal, is `NO_COLOR` set); [`run`] takes those facts and the three
//! standard streams as parameters, so every path of the program, batch mode
//! included, can be tested in memory. Output is formatted into a `Vec<u8>`
//! and handed to the writer in chunks of [`FLUSH_AT`] bytes; a closed pipe on
//! stdout (`subnet-calc ... | head`) ends the run quietly with success.
//!
//! Bounds: `split` or `vlsm` asked for more than `--limit` lines (for
//! vlsm: its subnets and the unused space left) fails before printing
//! anything (the other subcommands print at most a few
//! hundred lines per input: a range or an exclusion is at most two CIDRs per
//! bit of address, an aggregate no more than its inputs); a batch line longer than [`MAX_LINE`] bytes is
//! rejected (and skipped) without being buffered whole.

use std::io::{self, BufRead, Write};
use std::net::IpAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::net::{Count, IpNet, Ipv4Net, Ipv6Net};
use crate::parse::{parse_addr, parse_input, parse_network, ParseError, ParseErrorKind, Syntax};
use crate::report::{
    push_json_str, push_net, push_u128, write_human, write_json, write_json_error,
};

/// Output is written out whenever the buffer passes this many bytes.
pub const FLUSH_AT: usize = 64 * 1024;

/// The longest input line accepted in batch mode, in bytes.
pub const MAX_LINE: usize = 4096;

/// Most parse errors reported for one `aggregate` input before giving up.
const MAX_REPORTED_ERRORS: usize = 10;

const EXIT_CODES: &str = "\
Exit status:
  0  success (contains: NET contains the address or network)
  1  contains: NET does not contain it
  2  bad input or usage
  3  I/O error";

/// Subnet calculator: strict parsing, exact arithmetic, IPv4 and IPv6.
#[derive(Debug, Parser)]
#[command(
    name = "subnet-calc",
    version,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// A subcommand; without one, report on each INPUT.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// ADDR/PREFIX, ADDR/MASK, "ADDR MASK" (or ADDR MASK as two
    /// arguments) or a bare ADDR. `-`, or none with stdin not a terminal,
    /// reads one input per line from stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Options shared by every subcommand.
    #[command(flatten)]
    pub options: Options,
}

/// Options accepted everywhere.
#[derive(Debug, Clone, Args)]
pub struct Options {
    /// Print JSON. The report: one object per input (an array for several
    /// inputs or for stdin); subcommands: an array of CIDRs (vlsm and
    /// contains: one object).
    #[arg(long, global = true)]
    pub json: bool,

    /// Read dotted masks as Cisco wildcard masks (0.0.0.255 = /24).
    #[arg(long, global = true)]
    pub wildcard: bool,

    /// Accept networks with host bits set, clearing them.
    #[arg(long, global = true)]
    pub loose: bool,

    /// Refuse to print more than N lines from split or vlsm (its subnets
    /// and the unused space), before printing any (the other subcommands
    /// print at most a few hundred per input).
    #[arg(long, global = true, value_name = "N", default_value_t = 65_536)]
    pub limit: u64,

    /// Colour the report: auto (on a terminal without NO_COLOR), always, never;
    /// `--color` alone means always.
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        value_enum,
        default_value_t = Color::Auto,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "always"
    )]
    pub color: Color,
}

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Subcommands; each prints one CIDR per line unless `--json`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Split NET into equal subnets, in address order.
    #[command(group(clap::ArgGroup::new("size").required(true).args(["prefix", "count"])))]
    Split {
        /// The network to split.
        net: String,
        /// Length of the subnets.
        #[arg(long, value_name = "N")]
        prefix: Option<u8>,
        /// At least K subnets (rounded up to a power of two, so that they
        /// cover NET exactly).
        #[arg(long, value_name = "K")]
        count: Option<u128>,
    },
    /// Carve NET into subnets holding the given numbers of hosts; allocated
    /// largest first, printed in the order asked, then the unused space.
    Vlsm {
        /// The network to carve.
        net: String,
        /// Hosts needed in each subnet.
        #[arg(required = true, value_name = "SIZE")]
        sizes: Vec<u128>,
    },
    /// The minimal set of CIDRs covering exactly the inputs (stdin if none),
    /// IPv4 first then IPv6, sorted.
    Aggregate {
        /// Networks; `-` or none reads stdin.
        #[arg(value_name = "CIDR")]
        cidrs: Vec<String>,
    },
    /// The minimal CIDRs covering exactly START..=END.
    Range {
        /// First address.
        start: String,
        /// Last address.
        end: String,
    },
    /// NET minus the given networks, as the minimal sorted list of CIDRs.
    Exclude {
        /// The network to remove from.
        net: String,
        /// Networks to remove.
        #[arg(required = true, value_name = "CIDR")]
        cidrs: Vec<String>,
    },
    /// Exit 0 if NET contains the address or network, 1 if not, 2 on bad
    /// input.
    Contains {
        /// The containing network.
        net: String,
        /// An address or network.
        other: String,
    },
}

/// Facts about the process environment that [`run`] needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Env {
    /// stdin is a terminal (so no batch input is waiting there).
    pub stdin_is_terminal: bool,
    /// stdout is a terminal (so `--color=auto` colours).
    pub stdout_is_terminal: bool,
    /// `NO_COLOR` is set to a non-empty value.
    pub no_color: bool,
}

/// How a run ended; [`Exit::code`] is the process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (for `contains`: contained).
    Success,
    /// 1: `contains` only: not contained.
    NotContained,
    /// 2: bad input or usage.
    BadInput,
    /// 3: reading or writing failed.
    Io,
}

impl Exit {
    /// The exit status: 0, 1, 2 or 3.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::NotContained => 1,
            Exit::BadInput => 2,
            Exit::Io => 3,
        }
    }
}

/// Everything that can stop a command, other than a parse error in batch
/// mode (reported per line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// `split --prefix` outside `NET`'s prefix..=max.
    #[error("cannot split {net} into /{prefix} subnets: the prefix must be from /{} to /{}", .net.prefix_len(), .net.max_prefix_len())]
    SplitPrefix {
        /// The network.
        net: IpNet,
        /// The prefix asked for.
        prefix: u8,
    },
    /// `split --count` of zero or more than the addresses.
    #[error("cannot split {net} into {count} subnets")]
    SplitCount {
        /// The network.
        net: IpNet,
        /// The count asked for.
        count: u128,
    },
    /// Output longer than `--limit`.
    #[error("{what} would print {lines} lines, more than --limit {limit}")]
    TooManyLines {
        /// The command and its arguments.
        what: String,
        /// Lines it would print.
        lines: Count,
        /// The limit.
        limit: u64,
    },
    /// A VLSM size of zero hosts.
    #[error("vlsm: a subnet must hold at least 1 host (got 0)")]
    VlsmZeroHosts,
    /// A VLSM size larger than any subnet of NET could hold.
    #[error("vlsm: no subnet of {net} holds {hosts} hosts")]
    VlsmTooLarge {
        /// The network.
        net: IpNet,
        /// Hosts asked for.
        hosts: u128,
    },
    /// The VLSM subnets do not all fit.
    #[error("vlsm: the /{prefix} for {hosts} hosts does not fit in what is left of {net}")]
    VlsmDoesNotFit {
        /// The network.
        net: IpNet,
        /// Hosts asked for.
        hosts: u128,
        /// The prefix that would hold them.
        prefix: u8,
    },
    /// Two inputs of different IP versions where one is needed.
    #[error("`{first}` and `{second}` are not the same IP version")]
    FamilyMismatch {
        /// The first input.
        first: String,
        /// The second.
        second: String,
    },
    /// `range` with START after END.
    #[error("range: start {start} is after end {end}")]
    RangeReversed {
        /// The start.
        start: IpAddr,
        /// The end.
        end: IpAddr,
    },
    /// No INPUT and stdin is a terminal.
    #[error("no input: give INPUT arguments, or pipe one input per line into stdin")]
    NoInput,
    /// Bad lines in stdin input (already reported).
    #[error("{0} bad input lines")]
    BadLines(usize),
    /// Reading stdin or writing stdout failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Writes `error` to `stderr` as the CLI shows it: one `error:` line, then
/// for a parse error the input with a caret under the fault.
pub fn report_error(stderr: &mut dyn Write, error: &Error) {
    let _ = match error {
        Error::Parse(p) => writeln!(stderr, "subnet-calc: error: {}", describe(p)),
        e => writeln!(stderr, "subnet-calc: error: {e}"),
    };
}

/// "what is wrong", then the input and a caret, indented.
fn describe(p: &ParseError) -> String {
    let caret = p.caret().to_string();
    let mut s = p.kind().to_string();
    for l in caret.lines() {
        s.push_str("\n    ");
        s.push_str(l);
    }
    s
}

/// Output buffer in front of stdout.
struct Out<'a> {
    buf: Vec<u8>,
    w: &'a mut dyn Write,
}

impl Out<'_> {
    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        self.w.flush()
    }
}

/// Runs the command line `cli`; see [`Exit`] for the outcome.
///
/// ```
/// use clap::Parser;
/// use subnet_calc::{run, Cli, Env, Exit};
/// let cli = Cli::parse_from(["subnet-calc", "split", "10.0.0.0/24", "--prefix", "26"]);
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// let exit = run(&cli, &Env::default(), &mut std::io::empty(), &mut out, &mut err);
/// assert_eq!(exit, Exit::Success);
/// assert_eq!(String::from_utf8(out).unwrap(), "10.0.0.0/26\n10.0.0.64/26\n10.0.0.128/26\n10.0.0.192/26\n");
/// ```
pub fn run(
    cli: &Cli,
    env: &Env,
    stdin: &mut dyn BufRead,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Exit {
    let mut out = Out {
        // Grows on demand: one lookup prints a few hundred bytes, and a
        // buffer past malloc's mmap threshold would cost a one-shot run an
        // mmap/munmap pair.
        buf: Vec::new(),
        w: stdout,
    };
    let result = dispatch(cli, env, stdin, &mut out, stderr).and_then(|exit| {
        out.flush()?;
        Ok(exit)
    });
    match result {
        Ok(exit) => exit,
        Err(Error::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Success,
        Err(Error::Io(e)) => {
            report_error(stderr, &Error::Io(e));
            Exit::Io
        }
        Err(Error::BadLines(_)) => Exit::BadInput,
        Err(e) => {
            report_error(stderr, &e);
            Exit::BadInput
        }
    }
}

fn dispatch(
    cli: &Cli,
    env: &Env,
    stdin: &mut dyn BufRead,
    out: &mut Out<'_>,
    stderr: &mut dyn Write,
) -> Result<Exit, Error> {
    let o = &cli.options;
    let syntax = Syntax {
        wildcard: o.wildcard,
    };
    let Some(cmd) = &cli.command else {
        let color = match o.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => env.stdout_is_terminal && !env.no_color,
        };
        return calc(cli, env, syntax, color, stdin, out, stderr);
    };
    let net = |s: &str| parse_network(s, syntax, o.loose);
    match cmd {
        Command::Split {
            net: n,
            prefix,
            count,
        } => {
            let parent = net(n)?;
            let new_prefix = match (prefix, count) {
                (Some(p), _) => *p,
                (None, Some(k)) => split_prefix_for_count(parent, *k)?,
                (None, None) => unreachable!("clap requires --prefix or --count"),
            };
            if new_prefix < parent.prefix_len() || new_prefix > parent.max_prefix_len() {
                return Err(Error::SplitPrefix {
                    net: parent,
                    prefix: new_prefix,
                });
            }
            let lines = Count::pow2(new_prefix - parent.prefix_len());
            check_limit(lines, o.limit, || {
                format!("split {parent} into /{new_prefix}")
            })?;
            let subnets: Box<dyn Iterator<Item = IpNet>> = match parent {
                IpNet::V4(p) => {
                    Box::new(p.subnets(new_prefix).into_iter().flatten().map(IpNet::V4))
                }
                IpNet::V6(p) => {
                    Box::new(p.subnets(new_prefix).into_iter().flatten().map(IpNet::V6))
                }
            };
            print_list(out, o.json, subnets)?;
        }
        Command::Vlsm { net: n, sizes } => {
            let parent = net(n)?;
            check_limit(
                Count::new(sizes.len() as u128).unwrap_or(Count::pow2(0)),
                o.limit,
                || format!("vlsm of {} sizes", sizes.len()),
            )?;
            let plan = vlsm(parent, sizes)?;
            let unused = vlsm_unused(parent, &plan);
            // The unused space is printed too (up to a line per bit of
            // address per subnet): the limit counts every line.
            check_limit(
                Count::new((plan.len() + unused.len()) as u128).unwrap_or(Count::pow2(0)),
                o.limit,
                || format!("vlsm of {} sizes with the space left unused", sizes.len()),
            )?;
            print_vlsm(out, o.json, parent, sizes, &plan, &unused)?;
        }
        Command::Aggregate { cidrs } => {
            let read_stdin = cidrs.is_empty() || cidrs.iter().any(|c| c == "-");
            let mut v4: Vec<(u32, u32)> = Vec::new();
            let mut v6: Vec<Ipv6Net> = Vec::new();
            let mut push = |n: IpNet| match n {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push(n),
            };
            for c in cidrs.iter().filter(|c| *c != "-") {
                push(net(c)?);
            }
            if read_stdin {
                if cidrs.is_empty() && env.stdin_is_terminal {
                    return Err(Error::NoInput);
                }
                let mut bad = 0usize;
                let mut fail = |lineno, e| {
                    bad += 1;
                    if bad <= MAX_REPORTED_ERRORS {
                        report_line_error(stderr, lineno, &e);
                    }
                };
                for_each_raw_line(stdin, |event| {
                    // Nothing is printed before the end: no flush needed.
                    let Some((lineno, raw)) = event else {
                        return Ok(());
                    };
                    let Some(raw) = raw else {
                        fail(lineno, LineError::TooLong);
                        return Ok(());
                    };
                    // Most lines are plain `a.b.c.d/p` networks: take them
                    // without UTF-8 checks or error plumbing.
                    if let Some(n) = crate::parse::parse_v4_cidr_fast(raw.trim_ascii()) {
                        if n.is_network() {
                            push(IpNet::V4(n));
                            return Ok(());
                        }
                    }
                    let line = match std::str::from_utf8(raw) {
                        Ok(l) => l.trim(),
                        Err(_) => {
                            fail(lineno, LineError::NotUtf8);
                            return Ok(());
                        }
                    };
                    if line.is_empty() || line.starts_with('#') {
                        return Ok(());
                    }
                    match net(line) {
                        Ok(n) => push(n),
                        Err(e) => fail(lineno, LineError::Parse(e)),
                    }
                    Ok(())
                })?;
                if bad > 0 {
                    if bad > MAX_REPORTED_ERRORS {
                        let _ = writeln!(
                            stderr,
                            "subnet-calc: error: {bad} bad lines in all ({} not shown)",
                            bad - MAX_REPORTED_ERRORS
                        );
                    }
                    return Err(Error::BadLines(bad));
                }
            }
            let mut list = Vec::new();
            crate::net::aggregate_v4_ranges(&mut v4, |n| list.push(IpNet::V4(n)));
            list.extend(Ipv6Net::aggregate(&v6).into_iter().map(IpNet::V6));
            print_list(out, o.json, list.into_iter())?;
        }
        Command::Range { start, end } => {
            let (s, e) = (parse_addr(start)?, parse_addr(end)?);
            let list: Vec<IpNet> = match (s, e) {
                (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ipv4Net::from_range(a, b)
                    .into_iter()
                    .map(IpNet::V4)
                    .collect(),
                (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ipv6Net::from_range(a, b)
                    .into_iter()
                    .map(IpNet::V6)
                    .collect(),
                (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                    return Err(Error::RangeReversed { start: s, end: e })
                }
                _ => {
                    return Err(Error::FamilyMismatch {
                        first: start.clone(),
                        second: end.clone(),
                    })
                }
            };
            print_list(out, o.json, list.into_iter())?;
        }
        Command::Exclude { net: n, cidrs } => {
            let parent = net(n)?;
            let holes = cidrs
                .iter()
                .map(|c| net(c))
                .collect::<Result<Vec<_>, _>>()?;
            let list = exclude(parent, n, cidrs, &holes)?;
            print_list(out, o.json, list.into_iter())?;
        }
        Command::Contains { net: n, other } => {
            let parent = net(n)?;
            let inner = net(other)?;
            let yes = parent.contains(&inner);
            let b = &mut out.buf;
            if o.json {
                b.extend_from_slice(b"{\"network\":");
                push_json_str(b, &parent.to_string());
                b.extend_from_slice(b",\"other\":");
                push_json_str(b, &inner.to_string());
                b.extend_from_slice(if yes {
                    b",\"contains\":true}\n"
                } else {
                    b",\"contains\":false}\n"
                });
            } else {
                let verb = if yes { "is in" } else { "is not in" };
                let shown = other.trim();
                b.extend_from_slice(format!("{shown} {verb} {parent}\n").as_bytes());
            }
            return Ok(if yes {
                Exit::Success
            } else {
                Exit::NotContained
            });
        }
    }
    Ok(Exit::Success)
}

fn check_limit(lines: Count, limit: u64, what: impl FnOnce() -> String) -> Result<(), Error> {
    if lines.get().is_some_and(|n| n <= u128::from(limit)) {
        Ok(())
    } else {
        Err(Error::TooManyLines {
            what: what(),
            lines,
            limit,
        })
    }
}

/// The prefix giving at least `count` equal subnets: parent + ceil(log2 count).
fn split_prefix_for_count(parent: IpNet, count: u128) -> Result<u8, Error> {
    let bits = match count {
        0 => return Err(Error::SplitCount { net: parent, count }),
        1 => 0,
        // 1..=128: fits.
        k => (128 - (k - 1).leading_zeros()) as u8,
    };
    // Up to 128 + 128, past u8: add in u16.
    let p = u16::from(parent.prefix_len()) + u16::from(bits);
    match u8::try_from(p) {
        Ok(p) if p <= parent.max_prefix_len() => Ok(p),
        _ => Err(Error::SplitCount { net: parent, count }),
    }
}

/// Host bits needed for `hosts` usable hosts in a family of `width` bits.
fn vlsm_host_bits(width: u8, hosts: u128) -> Option<u8> {
    match hosts {
        0 => None,
        1 => Some(0),
        2 => Some(1),
        h => {
            // IPv4 loses network and broadcast, IPv6 only the network.
            let lost: u128 = if width == 32 { 2 } else { 1 };
            // Smallest b with 2^b - lost >= h, i.e. 2^b > h + lost - 1:
            // the bit length of h + lost - 1, which overflows only when no
            // width could hold h anyway.
            let b = match h.checked_add(lost - 1) {
                Some(m) => 128 - m.leading_zeros(),
                None => 129,
            };
            // b <= 129: fits; more than the width is reported by the caller.
            (b <= u32::from(width)).then_some(b as u8)
        }
    }
}

/// VLSM allocation: one network per size, in the order of `sizes`.
fn vlsm(parent: IpNet, sizes: &[u128]) -> Result<Vec<IpNet>, Error> {
    let width = parent.max_prefix_len();
    let mut want: Vec<(usize, u8)> = Vec::with_capacity(sizes.len());
    for (i, &h) in sizes.iter().enumerate() {
        if h == 0 {
            return Err(Error::VlsmZeroHosts);
        }
        let b = vlsm_host_bits(width, h)
            .filter(|&b| b <= width - parent.prefix_len())
            .ok_or(Error::VlsmTooLarge {
                net: parent,
                hosts: h,
            })?;
        want.push((i, b));
    }
    // Largest first; equal sizes keep the order asked (stable sort).
    let mut order = want.clone();
    order.sort_by_key(|&(_, b)| std::cmp::Reverse(b));
    let (start, end) = match parent {
        IpNet::V4(n) => (
            u128::from(u32::from(n.network())),
            u128::from(u32::from(n.broadcast())),
        ),
        IpNet::V6(n) => (u128::from(n.network()), u128::from(n.last_address())),
    };
    let mut next = Some(start);
    let mut placed = vec![parent; sizes.len()];
    for (i, b) in order {
        let prefix = width - b;
        let size_minus_one = <u128 as crate::bits::Uint>::low_mask(b);
        let fits = next
            .and_then(|c| c.checked_add(size_minus_one).map(|last| (c, last)))
            .filter(|&(_, last)| last <= end);
        let Some((c, last)) = fits else {
            return Err(Error::VlsmDoesNotFit {
                net: parent,
                hosts: sizes[i],
                prefix,
            });
        };
        placed[i] = block(parent, c, prefix);
        next = last.checked_add(1).filter(|&n| n <= end);
    }
    Ok(placed)
}

/// The network at integer `start` of the same family as `like`.
fn block(like: IpNet, start: u128, prefix: u8) -> IpNet {
    match like {
        // `start` came from an IPv4 range: fits in u32.
        IpNet::V4(_) => IpNet::V4(Ipv4Net::new((start as u32).into(), prefix).unwrap_or_default()),
        IpNet::V6(_) => IpNet::V6(Ipv6Net::new(start.into(), prefix).unwrap_or_default()),
    }
}

fn exclude(parent: IpNet, n: &str, cidrs: &[String], holes: &[IpNet]) -> Result<Vec<IpNet>, Error> {
    match parent {
        IpNet::V4(p) => {
            let mut h = Vec::with_capacity(holes.len());
            for (x, s) in holes.iter().zip(cidrs) {
                match x {
                    IpNet::V4(x) => h.push(*x),
                    IpNet::V6(_) => return Err(mismatch(n, s)),
                }
            }
            Ok(p.exclude(&h).into_iter().map(IpNet::V4).collect())
        }
        IpNet::V6(p) => {
            let mut h = Vec::with_capacity(holes.len());
            for (x, s) in holes.iter().zip(cidrs) {
                match x {
                    IpNet::V6(x) => h.push(*x),
                    IpNet::V4(_) => return Err(mismatch(n, s)),
                }
            }
            Ok(p.exclude(&h).into_iter().map(IpNet::V6).collect())
        }
    }
}

fn mismatch(a: &str, b: &str) -> Error {
    Error::FamilyMismatch {
        first: a.to_owned(),
        second: b.to_owned(),
    }
}

fn print_list(
    out: &mut Out<'_>,
    json: bool,
    list: impl Iterator<Item = IpNet>,
) -> Result<(), Error> {
    if json {
        out.buf.push(b'[');
    }
    let mut first = true;
    for n in list {
        if json {
            if !first {
                out.buf.push(b',');
            }
            out.buf.push(b'"');
            push_net(&mut out.buf, &n);
            out.buf.push(b'"');
        } else {
            push_net(&mut out.buf, &n);
            out.buf.push(b'\n');
        }
        first = false;
        out.maybe_flush()?;
    }
    if json {
        out.buf.extend_from_slice(b"]\n");
    }
    Ok(())
}

/// What is left of `parent` once `plan` is carved out, as minimal CIDRs.
fn vlsm_unused(parent: IpNet, plan: &[IpNet]) -> Vec<IpNet> {
    match parent {
        IpNet::V4(p) => {
            let holes: Vec<Ipv4Net> = plan
                .iter()
                .filter_map(|n| match n {
                    IpNet::V4(n) => Some(*n),
                    IpNet::V6(_) => None,
                })
                .collect();
            p.exclude(&holes)
                .into_iter()
                .map(IpNet::V4)
                .collect::<Vec<_>>()
        }
        IpNet::V6(p) => {
            let holes: Vec<Ipv6Net> = plan
                .iter()
                .filter_map(|n| match n {
                    IpNet::V6(n) => Some(*n),
                    IpNet::V4(_) => None,
                })
                .collect();
            p.exclude(&holes)
                .into_iter()
                .map(IpNet::V6)
                .collect::<Vec<_>>()
        }
    }
}

fn print_vlsm(
    out: &mut Out<'_>,
    json: bool,
    parent: IpNet,
    sizes: &[u128],
    plan: &[IpNet],
    unused: &[IpNet],
) -> Result<(), Error> {
    let b = &mut out.buf;
    if json {
        b.extend_from_slice(b"{\"network\":\"");
        push_net(b, &parent);
        b.extend_from_slice(b"\",\"subnets\":[");
        for (i, (n, &h)) in plan.iter().zip(sizes).enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(b"{\"hosts_asked\":");
            push_u128(b, h);
            b.extend_from_slice(b",\"network\":\"");
            push_net(b, n);
            b.extend_from_slice(b"\",\"hosts\":");
            crate::report::push_count(b, n.hosts());
            b.push(b'}');
        }
        b.extend_from_slice(b"],\"unused\":[");
        for (i, n) in unused.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.push(b'"');
            push_net(b, n);
            b.push(b'"');
        }
        b.extend_from_slice(b"]}\n");
    } else {
        let width = plan
            .iter()
            .chain(unused)
            .map(|n| n.to_string().len())
            .max()
            .unwrap_or(0);
        for (n, &h) in plan.iter().zip(sizes) {
            b.extend_from_slice(
                format!(
                    "{:<width$}  asked {h}, usable {}\n",
                    n.to_string(),
                    n.hosts()
                )
                .as_bytes(),
            );
        }
        for n in unused {
            b.extend_from_slice(format!("{:<width$}  unused\n", n.to_string()).as_bytes());
        }
    }
    Ok(())
}

/// A batch line that could not be used.
#[derive(Debug)]
enum LineError {
    TooLong,
    NotUtf8,
    Parse(ParseError),
}

fn report_line_error(stderr: &mut dyn Write, lineno: usize, e: &LineError) {
    let _ = match e {
        LineError::TooLong => writeln!(
            stderr,
            "subnet-calc: error: line {lineno}: longer than {MAX_LINE} bytes"
        ),
        LineError::NotUtf8 => writeln!(stderr, "subnet-calc: error: line {lineno}: not UTF-8"),
        LineError::Parse(p) => {
            writeln!(stderr, "subnet-calc: error: line {lineno}: {}", describe(p))
        }
    };
}

fn line_error_text(e: &LineError) -> String {
    match e {
        LineError::TooLong => format!("line longer than {MAX_LINE} bytes"),
        LineError::NotUtf8 => "not UTF-8".to_owned(),
        LineError::Parse(p) => p.kind().to_string(),
    }
}

/// Calls `f(Some((line_number, line)))` for each non-blank, non-`#` line of
/// `r`, trimmed; lines over [`MAX_LINE`] bytes or not UTF-8 are passed as
/// errors. `f(None)` as in [`for_each_raw_line`].
fn for_each_line(
    r: &mut dyn BufRead,
    mut f: impl FnMut(Option<(usize, Result<&str, LineError>)>) -> Result<(), Error>,
) -> Result<(), Error> {
    for_each_raw_line(r, |event| match event {
        None => f(None),
        Some((lineno, None)) => f(Some((lineno, Err(LineError::TooLong)))),
        Some((lineno, Some(raw))) => match std::str::from_utf8(raw) {
            Err(_) => f(Some((lineno, Err(LineError::NotUtf8)))),
            Ok(line) => {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    Ok(())
                } else {
                    f(Some((lineno, Ok(line))))
                }
            }
        },
    })
}

/// Calls `f(Some((line_number, Some(bytes))))` for each line of `r` without
/// its `\n`, `f(Some((line_number, None)))` for a line over [`MAX_LINE`]
/// bytes, which is skipped without being buffered whole, and `f(None)` when
/// all input read so far has been passed on and the next read may block. Lines are read in place
/// from `r`'s buffer; only a line that straddles two fills is copied.
fn for_each_raw_line(
    r: &mut dyn BufRead,
    mut f: impl FnMut(Option<(usize, Option<&[u8]>)>) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut lineno = 0usize;
    // The start of a line cut by the end of a buffer fill.
    let mut carry: Vec<u8> = Vec::new();
    // The carried line has passed MAX_LINE: drop bytes until its end.
    let mut overlong = false;
    let mut first = true;
    loop {
        if !first {
            // Everything read so far is handled: the caller may flush
            // before a read that could block (interactive or slow input).
            f(None)?;
        }
        first = false;
        let mut one = |lineno: usize, raw: &[u8], overlong: bool| {
            if overlong || raw.len() > MAX_LINE {
                f(Some((lineno, None)))
            } else {
                f(Some((lineno, Some(raw))))
            }
        };
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if buf.is_empty() {
            if !carry.is_empty() || overlong {
                lineno += 1;
                one(lineno, &carry, overlong)?;
            }
            return Ok(());
        }
        let len = buf.len();
        let mut pos = 0;
        while let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') {
            let end = pos + nl;
            lineno += 1;
            if carry.is_empty() && !overlong {
                one(lineno, &buf[pos..end], false)?;
            } else {
                if !overlong {
                    carry.extend_from_slice(&buf[pos..end]);
                }
                one(lineno, &carry, overlong)?;
                carry.clear();
                overlong = false;
            }
            pos = end + 1;
        }
        if !overlong {
            carry.extend_from_slice(&buf[pos..]);
            if carry.len() > MAX_LINE {
                carry.clear();
                overlong = true;
            }
        }
        r.consume(len);
    }
}

/// Whether `s` reads as the MASK of an `ADDR MASK` pair given as two
/// arguments: a bare dotted quad that starts with 0 or 255 (so that
/// non-contiguous masks get an error, not a second report) or is a
/// contiguous mask in the chosen syntax.
fn is_mask_arg(s: &str, syntax: Syntax) -> bool {
    if s.contains('/') || !s.contains('.') {
        return false;
    }
    match parse_input(&format!("0.0.0.0 {s}"), syntax) {
        Ok(_) => true,
        Err(e) => {
            matches!(
                e.kind(),
                ParseErrorKind::NonContiguousMask { .. }
                    | ParseErrorKind::NonContiguousWildcard { .. }
            ) && (s.starts_with("255.") || s.starts_with("0."))
        }
    }
}

/// Joins `ADDR MASK` argument pairs into single inputs.
fn join_mask_args(args: &[String], syntax: Syntax) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let bare_v4 =
            !a.contains('/') && !a.contains(':') && !a.trim().contains(' ') && a.contains('.');
        if bare_v4 && i + 1 < args.len() && is_mask_arg(&args[i + 1], syntax) {
            out.push(format!("{a} {}", args[i + 1]));
            i += 2;
        } else {
            out.push(a.clone());
            i += 1;
        }
    }
    out
}

/// The default command: a report on each input.
fn calc(
    cli: &Cli,
    env: &Env,
    syntax: Syntax,
    color: bool,
    stdin: &mut dyn BufRead,
    out: &mut Out<'_>,
    stderr: &mut dyn Write,
) -> Result<Exit, Error> {
    let json = cli.options.json;
    let inputs = join_mask_args(&cli.inputs, syntax);
    let batch_only = inputs.is_empty();
    if batch_only && env.stdin_is_terminal {
        return Err(Error::NoInput);
    }
    let as_array = json && (inputs.len() != 1 || inputs[0] == "-");
    let mut bad = 0usize;
    let mut count = 0usize;
    if as_array {
        out.buf.extend_from_slice(b"[\n");
    }
    let mut one = |out: &mut Out<'_>,
                   stderr: &mut dyn Write,
                   lineno: Option<usize>,
                   input: Result<&str, LineError>| {
        let parsed = input.and_then(|s| {
            parse_input(s, syntax)
                .map(|n| (s, n))
                .map_err(LineError::Parse)
        });
        if count > 0 {
            out.buf.extend_from_slice(if json { b",\n" } else { b"\n" });
        }
        count += 1;
        match parsed {
            Ok((s, n)) => {
                if json {
                    write_json(&mut out.buf, s, &n);
                } else {
                    write_human(&mut out.buf, &n, color);
                }
            }
            Err(e) => {
                bad += 1;
                match lineno {
                    Some(l) => report_line_error(stderr, l, &e),
                    None => {
                        if let LineError::Parse(p) = &e {
                            report_error(stderr, &Error::Parse(p.clone()));
                        }
                    }
                }
                if json {
                    let input = match &e {
                        LineError::Parse(p) => p.input().to_owned(),
                        _ => String::new(),
                    };
                    write_json_error(&mut out.buf, &input, &line_error_text(&e));
                } else {
                    count -= 1;
                    // Nothing was printed for this input: undo the separator.
                    if count > 0 {
                        out.buf.pop();
                    }
                }
            }
        }
        out.maybe_flush()
    };
    if batch_only {
        for_each_line(stdin, |event| match event {
            Some((l, line)) => Ok(one(out, stderr, Some(l), line)?),
            None => Ok(out.flush()?),
        })?;
    } else {
        for input in &inputs {
            if input == "-" {
                for_each_line(stdin, |event| match event {
                    Some((l, line)) => Ok(one(out, stderr, Some(l), line)?),
                    None => Ok(out.flush()?),
                })?;
            } else {
                one(out, stderr, None, Ok(input))?;
            }
        }
    }
    if as_array {
        out.buf.extend_from_slice(b"\n]\n");
    } else if json && count > 0 {
        out.buf.push(b'\n');
    }
    Ok(if bad > 0 {
        Exit::BadInput
    } else {
        Exit::Success
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as `for_each_raw_line` sees them through a reader whose buffer
    /// holds only `cap` bytes, so that lines straddle fills.
    fn raw_lines(input: &[u8], cap: usize) -> Vec<(usize, Option<Vec<u8>>)> {
        let mut r = io::BufReader::with_capacity(cap, input);
        let mut got = Vec::new();
        for_each_raw_line(&mut r, |event| {
            if let Some((n, l)) = event {
                got.push((n, l.map(<[u8]>::to_vec)));
            }
            Ok(())
        })
        .unwrap();
        got
    }

    #[test]
    fn lines_straddling_buffer_fills_come_out_whole() {
        for cap in [1, 2, 3, 7, 64] {
            let got = raw_lines(b"10.0.0.0/8\n\n192.168.0.0/16\nlast", cap);
            let want = vec![
                (1, Some(b"10.0.0.0/8".to_vec())),
                (2, Some(Vec::new())),
                (3, Some(b"192.168.0.0/16".to_vec())),
                (4, Some(b"last".to_vec())),
            ];
            assert_eq!(got, want, "buffer of {cap} bytes");
        }
    }

    #[test]
    fn an_overlong_line_is_reported_once_and_skipped() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\n1.2.3.4\n");
        for cap in [16, MAX_LINE + 5, 1 << 16] {
            let got = raw_lines(&input, cap);
            assert_eq!(
                got,
                vec![(1, None), (2, Some(b"1.2.3.4".to_vec()))],
                "cap {cap}"
            );
        }
        let exact = vec![b'y'; MAX_LINE];
        assert_eq!(raw_lines(&exact, 64), vec![(1, Some(exact.clone()))]);
    }

    #[test]
    fn vlsm_host_bits_follow_the_host_rules() {
        assert_eq!(vlsm_host_bits(32, 1), Some(0));
        assert_eq!(vlsm_host_bits(32, 2), Some(1));
        assert_eq!(vlsm_host_bits(32, 3), Some(3)); // /29 holds 6; /30 holds 2
        assert_eq!(vlsm_host_bits(32, 6), Some(3));
        assert_eq!(vlsm_host_bits(32, 7), Some(4));
        assert_eq!(vlsm_host_bits(32, (1 << 32) - 2), Some(32));
        assert_eq!(vlsm_host_bits(32, (1 << 32) - 1), None);
        assert_eq!(vlsm_host_bits(128, 3), Some(2)); // /126 holds 3
        assert_eq!(vlsm_host_bits(128, u128::MAX), Some(128));
    }

    #[test]
    fn vlsm_fills_an_ipv6_slash_0_exactly_without_overflow() {
        let all: IpNet = "::/0".parse().unwrap();
        let plan = vlsm(all, &[u128::MAX]).unwrap();
        assert_eq!(plan[0], all);
        assert!(matches!(
            vlsm(all, &[u128::MAX, 1]),
            Err(Error::VlsmDoesNotFit { .. })
        ));
    }

    #[test]
    fn split_count_rounds_up_to_a_power_of_two() {
        let n: IpNet = "10.0.0.0/24".parse().unwrap();
        assert_eq!(split_prefix_for_count(n, 1).unwrap(), 24);
        assert_eq!(split_prefix_for_count(n, 3).unwrap(), 26);
        assert_eq!(split_prefix_for_count(n, 256).unwrap(), 32);
        assert!(split_prefix_for_count(n, 257).is_err());
        assert!(split_prefix_for_count(n, 0).is_err());
        // 2^127 + 1 subnets need 128 more bits: past a u8 on a /128.
        let host: IpNet = "::/128".parse().unwrap();
        assert!(split_prefix_for_count(host, (1 << 127) + 1).is_err());
        let all: IpNet = "::/0".parse().unwrap();
        assert_eq!(split_prefix_for_count(all, (1 << 127) + 1).unwrap(), 128);
    }
}
