//! `udp-echo send`: the seed's client, with a time-out and a clear error.
//!
//! # Design
//!
//! The socket is *connected* to the server. That does two things: the
//! kernel only hands us datagrams from that address and port, and an ICMP
//! port unreachable for our datagram comes back as `ECONNREFUSED` on the
//! next receive, so "nobody listens there" is told apart from "no answer".

use crate::Error;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Default `--timeout` for `send` and `ping`, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 1000;

/// A UDP socket on the right family's wildcard address, connected to
/// `target`.
pub fn connect(target: SocketAddr) -> Result<UdpSocket, Error> {
    let local: SocketAddr = if target.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let conn_err = |e| Error::Connect {
        addr: target,
        source: e,
    };
    let sock = UdpSocket::bind(local).map_err(conn_err)?;
    sock.connect(target).map_err(conn_err)?;
    Ok(sock)
}

/// Sends `message` to `target` as one datagram and returns the reply.
/// A zero `timeout` is bad usage, as for `ping`: it could only time out.
///
/// ```
/// # let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// # let addr = server.local_addr()?;
/// # std::thread::spawn(move || { let mut b = [0; 64];
/// #     let (n, from) = server.recv_from(&mut b).unwrap(); server.send_to(&b[..n], from).unwrap(); });
/// let reply = udp_echo::client::send(addr, b"hello", std::time::Duration::from_secs(5))?;
/// assert_eq!(reply, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn send(target: SocketAddr, message: &[u8], timeout: Duration) -> Result<Vec<u8>, Error> {
    if timeout.is_zero() {
        return Err(Error::Usage("--timeout must be at least 1 ms".into()));
    }
    let max = crate::sys::max_payload(&target);
    if message.len() > max {
        return Err(Error::TooLarge {
            len: message.len(),
            max,
        });
    }
    let sock = connect(target)?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| Error::io("set time-out", e))?;
    let io_err = |e: io::Error| match e.kind() {
        io::ErrorKind::ConnectionRefused => Error::Refused { addr: target },
        _ => Error::io("send", e),
    };
    sock.send(message).map_err(io_err)?;
    let mut buf = vec![0u8; crate::sys::MAX_UDP_V6 + 1];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Error::Timeout {
                    addr: target,
                    timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
                })
            }
            Err(e) => return Err(io_err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_server_is_a_timeout() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = send(
            silent.local_addr().unwrap(),
            b"x",
            Duration::from_millis(50),
        );
        assert!(
            matches!(r, Err(Error::Timeout { timeout_ms: 50, .. })),
            "{r:?}"
        );
    }

    #[test]
    fn closed_port_is_refused_not_timeout() {
        let addr = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let r = send(addr, b"x", Duration::from_secs(5));
        assert!(matches!(r, Err(Error::Refused { .. })), "{r:?}");
    }

    #[test]
    fn zero_timeout_is_a_usage_error_before_sending() {
        let r = send("127.0.0.1:9".parse().unwrap(), b"x", Duration::ZERO);
        assert!(
            matches!(&r, Err(Error::Usage(m)) if m.contains("--timeout")),
            "{r:?}"
        );
    }

    #[test]
    fn oversized_message_is_refused_before_sending() {
        let r = send(
            "127.0.0.1:9".parse().unwrap(),
            &vec![0; 65_508],
            Duration::from_secs(1),
        );
        assert!(
            matches!(
                r,
                Err(Error::TooLarge {
                    len: 65_508,
                    max: 65_507
                })
            ),
            "{r:?}"
        );
    }
}
