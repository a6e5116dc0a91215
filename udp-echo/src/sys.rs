//! The OS plumbing: sockets set up for echo work, and batched datagram I/O.
//!
//! # Design
//!
//! * [`Batch`] owns `slots` receive buffers, one source address per slot and
//!   the `msghdr` array the kernel fills. On Linux one `recvmmsg(2)` fills up
//!   to `slots` datagrams and one `sendmmsg(2)` sends the chosen replies back:
//!   two system calls per batch instead of two per datagram, which is where
//!   an echo server's time goes. Elsewhere the same API loops over
//!   `recvmsg(2)`/`sendmsg(2)`.
//! * Truncation is detected from the kernel, not guessed from the length:
//!   `MSG_TRUNC` in `msg_flags` says the datagram was longer than the slot.
//! * The header arrays point into the slots' heap storage; they are rebuilt
//!   before every call (a few dozen stores) so no pointer outlives a move.
//! * All calls are non-blocking (`MSG_DONTWAIT`): "nothing to read" is
//!   `Ok(0)`, never a stall, so the caller's `poll(2)` loop stays in charge.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header).
pub const MAX_UDP_V4: usize = 65_507;
/// Largest UDP payload over IPv6 without jumbograms: 65,535 − 8 (UDP header).
pub const MAX_UDP_V6: usize = 65_527;

/// The largest payload a datagram to or from `addr` can carry.
pub fn max_payload(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => MAX_UDP_V4,
        SocketAddr::V6(_) => MAX_UDP_V6,
    }
}

/// Converts a kernel-filled address; `None` for families other than IP.
pub(crate) fn from_storage(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for any address.
            let sin = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// One datagram as received into a [`Batch`] slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes stored in the slot (at most the slot's receive size).
    pub len: usize,
    /// The datagram was longer than the slot and was cut by the kernel.
    pub truncated: bool,
    /// The sender; `None` if the kernel gave a non-IP address.
    pub source: Option<SocketAddr>,
}

/// A set of receive slots with their addresses, for batched I/O.
pub struct Batch {
    recv_len: usize,
    slot_len: usize,
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    addr_lens: Vec<libc::socklen_t>,
    received: Vec<Received>,
    reply_lens: Vec<usize>,
}

impl Batch {
    /// `slots` slots that each receive up to `recv_len` bytes and have
    /// `spare` more bytes of room for a reply built in place (`--annotate`).
    pub fn new(slots: usize, recv_len: usize, spare: usize) -> Batch {
        let slots = slots.max(1);
        let slot_len = recv_len.saturating_add(spare);
        Batch {
            recv_len,
            slot_len,
            bufs: vec![0u8; slots.saturating_mul(slot_len)],
            // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
            addrs: vec![unsafe { mem::zeroed() }; slots],
            addr_lens: vec![0; slots],
            received: Vec::with_capacity(slots),
            reply_lens: vec![0; slots],
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.addrs.len()
    }

    /// The datagrams of the last [`Batch::recv`].
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// Slot `i`'s whole buffer (receive size plus spare room).
    pub fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        let start = i * self.slot_len;
        &mut self.bufs[start..start + self.slot_len]
    }

    /// Slot `i`'s received bytes.
    pub fn data(&self, i: usize) -> &[u8] {
        let start = i * self.slot_len;
        let len = self.received.get(i).map_or(0, |r| r.len);
        &self.bufs[start..start + len]
    }

    /// Sets how many bytes of slot `i` a reply sends (default: as received).
    pub fn set_reply_len(&mut self, i: usize, len: usize) {
        if let Some(l) = self.reply_lens.get_mut(i) {
            *l = len.min(self.slot_len);
        }
    }

    /// How many bytes of slot `i` a reply sends.
    pub fn reply_len(&self, i: usize) -> usize {
        self.reply_lens.get(i).copied().unwrap_or(0)
    }

    /// The iovec and header arrays for `slots`. The headers point into the
    /// returned iovecs' heap storage (which a move does not relocate) and
    /// into `self`: both must outlive the system call.
    fn build(
        &mut self,
        lens: impl Fn(usize) -> usize,
        slots: &[usize],
    ) -> (Vec<libc::iovec>, Vec<libc::msghdr>) {
        let mut iovecs: Vec<libc::iovec> = slots
            .iter()
            .map(|&i| libc::iovec {
                iov_base: self.bufs[i * self.slot_len..].as_mut_ptr().cast(),
                iov_len: lens(i),
            })
            .collect();
        let hdrs = slots
            .iter()
            .zip(iovecs.iter_mut())
            .map(|(&i, iov)| {
                // SAFETY: msghdr is plain old data; zero is a valid start
                // (some platforms have private padding fields).
                let mut h: libc::msghdr = unsafe { mem::zeroed() };
                h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = self.addr_lens[i];
                h.msg_iov = iov;
                h.msg_iovlen = 1;
                h
            })
            .collect();
        (iovecs, hdrs)
    }

    /// Receives up to [`Batch::slots`] datagrams without blocking; returns how
    /// many (0 when none are waiting). Replies default to echoing each slot.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let all: Vec<usize> = (0..self.slots()).collect();
        let storage_len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        self.addr_lens.iter_mut().for_each(|l| *l = storage_len);
        let recv_len = self.recv_len;
        let (_iovecs, hdrs) = self.build(|_| recv_len, &all);
        self.received.clear();
        let results = recv_many(fd, hdrs)?;
        for (i, (h, len)) in results.into_iter().enumerate() {
            self.addr_lens[i] = h.msg_namelen;
            let source = from_storage(&self.addrs[i]);
            let len = len.min(self.recv_len);
            self.received.push(Received {
                len,
                truncated: h.msg_flags & libc::MSG_TRUNC != 0,
                source,
            });
            self.reply_lens[i] = len;
        }
        Ok(self.received.len())
    }

    /// Sends slot `i`'s reply (its first reply-length bytes) back to its
    /// source, for every `i` in `slots`, without blocking. Returns the number
    /// sent and, per failed slot, the error; a failure does not stop the rest.
    pub fn send_back(&mut self, fd: RawFd, slots: &[usize]) -> (usize, Vec<(usize, io::Error)>) {
        let reply_lens = self.reply_lens.clone();
        let (_iovecs, hdrs) = self.build(|i| reply_lens[i], slots);
        send_many(fd, hdrs, slots)
    }
}

#[cfg(target_os = "linux")]
fn recv_many(fd: RawFd, hdrs: Vec<libc::msghdr>) -> io::Result<Vec<(libc::msghdr, usize)>> {
    let mut m: Vec<libc::mmsghdr> = hdrs
        .into_iter()
        .map(|msg_hdr| libc::mmsghdr {
            msg_hdr,
            msg_len: 0,
        })
        .collect();
    // Slot counts are small (`--batch` is capped), so the cast cannot wrap.
    let vlen = m.len() as libc::c_uint;
    loop {
        // SAFETY: every header points into buffers owned by the caller's
        // Batch, which outlive the call; vlen is the array length.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                m.as_mut_ptr(),
                vlen,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n >= 0 {
            // n ≤ vlen, non-negative: the cast is exact.
            m.truncate(n as usize);
            return Ok(m
                .into_iter()
                .map(|x| (x.msg_hdr, x.msg_len as usize))
                .collect());
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(Vec::new()),
            _ => return Err(e),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn recv_many(fd: RawFd, hdrs: Vec<libc::msghdr>) -> io::Result<Vec<(libc::msghdr, usize)>> {
    let mut out = Vec::new();
    for mut h in hdrs {
        loop {
            // SAFETY: as for recvmmsg, one header at a time.
            let n = unsafe { libc::recvmsg(fd, &mut h, libc::MSG_DONTWAIT) };
            if n >= 0 {
                out.push((h, n as usize));
                break;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if !out.is_empty() => return Ok(out),
                io::ErrorKind::WouldBlock => return Ok(out),
                _ if !out.is_empty() => return Ok(out),
                _ => return Err(e),
            }
        }
    }
    Ok(out)
}

#[cfg(target_os = "linux")]
fn send_many(
    fd: RawFd,
    hdrs: Vec<libc::msghdr>,
    slots: &[usize],
) -> (usize, Vec<(usize, io::Error)>) {
    let mut m: Vec<libc::mmsghdr> = hdrs
        .into_iter()
        .map(|msg_hdr| libc::mmsghdr {
            msg_hdr,
            msg_len: 0,
        })
        .collect();
    let mut sent = 0;
    let mut failed = Vec::new();
    let mut at = 0;
    while at < m.len() {
        let rest = &mut m[at..];
        // SAFETY: headers point into the caller's Batch; length is exact.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                rest.as_mut_ptr(),
                rest.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n > 0 {
            sent += n as usize;
            at += n as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // sendmmsg reports an error only for the first message of the
        // call: charge it to that slot and go on with the next.
        failed.push((slots[at], e));
        at += 1;
    }
    (sent, failed)
}

#[cfg(not(target_os = "linux"))]
fn send_many(
    fd: RawFd,
    hdrs: Vec<libc::msghdr>,
    slots: &[usize],
) -> (usize, Vec<(usize, io::Error)>) {
    let mut sent = 0;
    let mut failed = Vec::new();
    for (k, h) in hdrs.iter().enumerate() {
        loop {
            // SAFETY: the header points into the caller's Batch.
            let n = unsafe { libc::sendmsg(fd, h, libc::MSG_DONTWAIT) };
            if n >= 0 {
                sent += 1;
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            failed.push((slots[k], e));
            break;
        }
    }
    (sent, failed)
}

/// Sends each of `datagrams` on the connected socket `fd` without blocking,
/// in as few system calls as the platform allows. Returns how many were sent
/// before the first error; the error is returned only when none were sent.
pub fn send_datagrams(fd: RawFd, datagrams: &mut [Vec<u8>]) -> io::Result<usize> {
    let mut iovecs: Vec<libc::iovec> = datagrams
        .iter_mut()
        .map(|d| libc::iovec {
            iov_base: d.as_mut_ptr().cast(),
            iov_len: d.len(),
        })
        .collect();
    let hdrs: Vec<libc::msghdr> = iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: plain old data; zero is valid (no destination address:
            // the socket is connected).
            let mut h: libc::msghdr = unsafe { mem::zeroed() };
            h.msg_iov = iov;
            h.msg_iovlen = 1;
            h
        })
        .collect();
    let slots: Vec<usize> = (0..hdrs.len()).collect();
    let (sent, mut failed) = send_one_call(fd, hdrs, &slots);
    match failed.first() {
        Some((0, _)) if sent == 0 => Err(failed.swap_remove(0).1),
        _ => Ok(sent),
    }
}

#[cfg(target_os = "linux")]
fn send_one_call(
    fd: RawFd,
    hdrs: Vec<libc::msghdr>,
    _slots: &[usize],
) -> (usize, Vec<(usize, io::Error)>) {
    let mut m: Vec<libc::mmsghdr> = hdrs
        .into_iter()
        .map(|msg_hdr| libc::mmsghdr {
            msg_hdr,
            msg_len: 0,
        })
        .collect();
    loop {
        // SAFETY: headers point into the caller's buffers, alive for the call.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                m.as_mut_ptr(),
                m.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return (n as usize, Vec::new());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return (0, vec![(0, e)]);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn send_one_call(
    fd: RawFd,
    hdrs: Vec<libc::msghdr>,
    slots: &[usize],
) -> (usize, Vec<(usize, io::Error)>) {
    let (sent, failed) = send_many(fd, hdrs, slots);
    if failed.first().is_some_and(|(i, _)| *i == 0) {
        (0, failed)
    } else {
        (sent, Vec::new())
    }
}

/// Receives one datagram without blocking: `Ok(None)` when none is waiting.
pub fn recv_now(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    loop {
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
        if n >= 0 {
            // Non-negative and at most buf.len().
            return Ok(Some(n as usize));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (`-1`:
/// forever). Returns which are readable; an interrupting signal gives an
/// empty list, so the caller rechecks its flags.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: p is a valid array of p.len() pollfds.
    let n = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(p.iter()
        .map(|x| x.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn batch_receives_several_datagrams_with_sources_and_echoes_them() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        for m in [&b"one"[..], b"two", b""] {
            client.send(m).unwrap();
        }
        let mut b = Batch::new(8, 100, 0);
        // Loopback delivers synchronously, so all three are queued already.
        let n = b.recv(server.as_raw_fd()).unwrap();
        assert_eq!(n, 3);
        assert_eq!(b.data(0), b"one");
        assert_eq!(b.data(2), b"");
        assert_eq!(b.received()[1].source, Some(client.local_addr().unwrap()));
        let (sent, failed) = b.send_back(server.as_raw_fd(), &[0, 2]);
        assert_eq!((sent, failed.len()), (2, 0));
        let mut buf = [0u8; 16];
        assert_eq!(client.recv(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"one");
        assert_eq!(client.recv(&mut buf).unwrap(), 0);
    }

    #[test]
    fn datagram_longer_than_slot_is_flagged_truncated() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .send_to(&[7u8; 50], server.local_addr().unwrap())
            .unwrap();
        let mut b = Batch::new(4, 20, 0);
        assert_eq!(b.recv(server.as_raw_fd()).unwrap(), 1);
        assert_eq!(b.received()[0].len, 20);
        assert!(b.received()[0].truncated);
    }

    #[test]
    fn empty_socket_gives_zero_not_a_block() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut b = Batch::new(4, 20, 0);
        assert_eq!(b.recv(server.as_raw_fd()).unwrap(), 0);
    }

    #[test]
    fn ipv6_source_is_decoded() {
        let Ok(server) = UdpSocket::bind("[::1]:0") else {
            eprintln!("SKIPPED: no IPv6 loopback");
            return;
        };
        let client = UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(b"x", server.local_addr().unwrap()).unwrap();
        let mut b = Batch::new(4, 20, 0);
        assert_eq!(b.recv(server.as_raw_fd()).unwrap(), 1);
        assert_eq!(b.received()[0].source, Some(client.local_addr().unwrap()));
    }
}
