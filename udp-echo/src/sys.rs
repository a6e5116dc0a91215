//! The OS plumbing: batched datagram I/O and `poll(2)`.
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
//! * The `mmsghdr` and `iovec` arrays are built once and point into the
//!   slots' heap storage, which never moves or resizes; before a receive only
//!   the headers the last call used are reset. No allocation per batch: on
//!   the idle path (one datagram per call) that bookkeeping is a visible
//!   part of the round trip.
//! * Receives are non-blocking (`MSG_DONTWAIT`, "nothing to read" is
//!   `Ok(0)`) for a caller's `poll(2)` loop, or, with [`Batch::recv_wait`]
//!   on a socket that has `SO_RCVTIMEO` set, wait for the *first* datagram
//!   only (`MSG_WAITFORONE`) and take whatever else is already queued: one
//!   system call per batch both when idle and under load. A signal
//!   or the time-out ends the wait with `Ok(0)` (with `SO_RCVTIMEO` set the
//!   kernel never restarts `recvmmsg` after a signal), so the caller
//!   rechecks its flags. [`Batch::recv_one_wait`] is the same wait with a
//!   plain `recvfrom(2)` for when datagrams come one at a time. Sends never
//!   block; a lone reply goes out with `sendto`, more with `sendmmsg`.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header).
pub const MAX_UDP_V4: usize = 65_507;
/// Largest UDP payload over IPv6 without jumbograms: 65,535 − 8 (UDP header).
pub const MAX_UDP_V6: usize = 65_527;

/// The largest payload a datagram to or from `addr` can carry. An
/// IPv4-mapped IPv6 address (`[::ffff:127.0.0.1]:7`) travels over IPv4, so
/// it gets IPv4's limit.
///
/// ```
/// use udp_echo::sys::{max_payload, MAX_UDP_V4, MAX_UDP_V6};
/// assert_eq!(max_payload(&"127.0.0.1:7".parse()?), MAX_UDP_V4);
/// assert_eq!(max_payload(&"[::1]:7".parse()?), MAX_UDP_V6);
/// assert_eq!(max_payload(&"[::ffff:127.0.0.1]:7".parse()?), MAX_UDP_V4);
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
pub fn max_payload(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => MAX_UDP_V4,
        SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => MAX_UDP_V4,
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

#[cfg(target_os = "linux")]
type MMsgHdr = libc::mmsghdr;

/// `struct mmsghdr` where libc has none: the fallback loops over it.
#[cfg(not(target_os = "linux"))]
#[repr(C)]
#[derive(Clone, Copy)]
struct MMsgHdr {
    msg_hdr: libc::msghdr,
    msg_len: libc::c_uint,
}

/// A set of receive slots with their addresses, for batched I/O.
///
/// The header and iovec arrays are built once and point into the slot
/// buffers and address array; all four live on the heap and are never
/// resized, so the pointers stay valid when a `Batch` moves.
pub struct Batch {
    recv_len: usize,
    slot_len: usize,
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iovecs: Vec<libc::iovec>,
    hdrs: Vec<MMsgHdr>,
    send_hdrs: Vec<MMsgHdr>,
    received: Vec<Received>,
    reply_lens: Vec<usize>,
}

// SAFETY: the raw pointers inside `iovecs` and `hdrs` point only into heap
// buffers owned by this same Batch, and are only handed to the kernel from
// `&mut self` methods; moving the Batch to another thread moves them all.
unsafe impl Send for Batch {}

const STORAGE_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

impl Batch {
    /// `slots` slots that each receive up to `recv_len` bytes and have
    /// `spare` more bytes of room for a reply built in place (`--annotate`).
    pub fn new(slots: usize, recv_len: usize, spare: usize) -> Batch {
        let slots = slots.max(1);
        let slot_len = recv_len.saturating_add(spare);
        let mut bufs = vec![0u8; slots.saturating_mul(slot_len)];
        // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
        let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { mem::zeroed() }; slots];
        let mut iovecs: Vec<libc::iovec> = bufs
            .chunks_mut(slot_len.max(1))
            .take(slots)
            .map(|chunk| libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: recv_len,
            })
            .collect();
        let hdrs: Vec<MMsgHdr> = addrs
            .iter_mut()
            .zip(iovecs.iter_mut())
            .map(|(addr, iov)| {
                // SAFETY: plain old data; zero is a valid start (some
                // platforms have private padding fields).
                let mut h: MMsgHdr = unsafe { mem::zeroed() };
                h.msg_hdr.msg_name = (addr as *mut libc::sockaddr_storage).cast();
                h.msg_hdr.msg_namelen = STORAGE_LEN;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Batch {
            recv_len,
            slot_len,
            bufs,
            addrs,
            iovecs,
            send_hdrs: Vec::with_capacity(hdrs.len()),
            hdrs,
            received: Vec::with_capacity(slots),
            reply_lens: vec![0; slots],
        }
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.hdrs.len()
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

    /// Receives up to [`Batch::slots`] datagrams without blocking; returns how
    /// many (0 when none are waiting). Replies default to echoing each slot.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.recv_with(fd, false)
    }

    /// Like [`Batch::recv`], but waits for the first datagram (Linux only;
    /// elsewhere the same as `recv`). Returns `Ok(0)` when the socket's
    /// `SO_RCVTIMEO` passes or a signal arrives first.
    pub fn recv_wait(&mut self, fd: RawFd) -> io::Result<usize> {
        self.recv_with(fd, true)
    }

    /// Waits for one datagram into slot 0 with plain `recvfrom(2)`: the
    /// cheapest receive when datagrams come one at a time (ping-pong).
    /// Returns `Ok(0)` on the socket's `SO_RCVTIMEO` or a signal.
    pub fn recv_one_wait(&mut self, fd: RawFd) -> io::Result<usize> {
        self.received.clear();
        let mut addr_len = STORAGE_LEN;
        // SAFETY: slot 0 holds recv_len bytes; addrs[0] is a whole
        // sockaddr_storage and addr_len says so. MSG_TRUNC makes the kernel
        // return the datagram's real length, so a cut one is recognised.
        let n = unsafe {
            libc::recvfrom(
                fd,
                self.bufs.as_mut_ptr().cast(),
                self.recv_len,
                libc::MSG_TRUNC,
                (&mut self.addrs[0] as *mut libc::sockaddr_storage).cast(),
                &mut addr_len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        // Non-negative: the cast is exact.
        let full = n as usize;
        let len = full.min(self.recv_len);
        self.hdrs[0].msg_hdr.msg_namelen = addr_len;
        self.received.push(Received {
            len,
            truncated: full > self.recv_len,
            source: from_storage(&self.addrs[0]),
        });
        self.reply_lens[0] = len;
        Ok(1)
    }

    fn recv_with(&mut self, fd: RawFd, wait: bool) -> io::Result<usize> {
        // Only the slots the last receive filled were changed (by the
        // kernel, or by a reply's length): reset those, not all of them.
        let dirty = self.received.len();
        for (h, iov) in self.hdrs.iter_mut().zip(self.iovecs.iter_mut()).take(dirty) {
            iov.iov_len = self.recv_len;
            h.msg_hdr.msg_namelen = STORAGE_LEN;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        self.received.clear();
        // SAFETY: every header points into this Batch's own buffers (see
        // the type's docs), valid for the whole call.
        let n = unsafe { recv_many(fd, &mut self.hdrs, wait)? };
        for i in 0..n {
            let h = &self.hdrs[i];
            // msg_len ≤ iov_len = recv_len: the cast is exact.
            let len = (h.msg_len as usize).min(self.recv_len);
            self.received.push(Received {
                len,
                truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                source: from_storage(&self.addrs[i]),
            });
            self.reply_lens[i] = len;
        }
        Ok(n)
    }

    /// Sends slot `i`'s reply (its first reply-length bytes) back to its
    /// source, for every `i` in `slots`, without blocking. Returns the number
    /// sent and, per failed slot, the error; a failure does not stop the rest.
    pub fn send_back(&mut self, fd: RawFd, slots: &[usize]) -> (usize, Vec<(usize, io::Error)>) {
        self.send_hdrs.clear();
        for &i in slots.iter().filter(|&&i| i < self.hdrs.len()) {
            self.iovecs[i].iov_len = self.reply_lens[i];
            self.send_hdrs.push(self.hdrs[i]);
        }
        let mut sent = 0;
        let mut failed = Vec::new();
        let mut at = 0;
        while at < self.send_hdrs.len() {
            // SAFETY: copies of this Batch's headers, pointing into its own
            // buffers and addresses (as filled by the last receive).
            match unsafe { send_many(fd, &mut self.send_hdrs[at..]) } {
                Ok(n) => {
                    sent += n;
                    at += n;
                }
                // The error belongs to the first message of the call:
                // charge it to that slot and go on with the next.
                Err(e) => {
                    failed.push((slots[at], e));
                    at += 1;
                }
            }
        }
        (sent, failed)
    }
}

/// One `recvmmsg(2)`; `Ok(0)` for "nothing (yet)".
///
/// # Safety
/// Every header's pointers must be valid for the kernel to write through.
#[cfg(target_os = "linux")]
unsafe fn recv_many(fd: RawFd, hdrs: &mut [MMsgHdr], wait: bool) -> io::Result<usize> {
    let flags = if wait {
        libc::MSG_WAITFORONE
    } else {
        libc::MSG_DONTWAIT
    };
    // Slot counts are small (`--batch` is capped), so the cast cannot wrap.
    let vlen = hdrs.len() as libc::c_uint;
    loop {
        // SAFETY: the caller vouches for the headers; vlen is their count.
        let n = unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), vlen, flags, std::ptr::null_mut()) };
        if n >= 0 {
            // 0 ≤ n ≤ vlen: the cast is exact.
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            // A waiting caller wants to see its signal flags.
            io::ErrorKind::Interrupted if wait => return Ok(0),
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return Ok(0),
            _ => return Err(e),
        }
    }
}

/// A `recvmsg(2)` loop where there is no `recvmmsg`.
///
/// # Safety
/// As for the Linux version.
#[cfg(not(target_os = "linux"))]
unsafe fn recv_many(fd: RawFd, hdrs: &mut [MMsgHdr], _wait: bool) -> io::Result<usize> {
    let mut got = 0;
    for h in hdrs.iter_mut() {
        loop {
            // SAFETY: the caller vouches for the header.
            let n = unsafe { libc::recvmsg(fd, &mut h.msg_hdr, libc::MSG_DONTWAIT) };
            if n >= 0 {
                h.msg_len = n as libc::c_uint;
                got += 1;
                break;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                _ if got > 0 => return Ok(got),
                io::ErrorKind::WouldBlock => return Ok(0),
                _ => return Err(e),
            }
        }
    }
    Ok(got)
}

/// One `sendmmsg(2)`: how many of `hdrs` were sent (at least one), or the
/// error of the first.
///
/// # Safety
/// Every header's pointers must be valid for the kernel to read.
#[cfg(target_os = "linux")]
unsafe fn send_many(fd: RawFd, hdrs: &mut [MMsgHdr]) -> io::Result<usize> {
    if let [one] = hdrs {
        // A lone reply (the ping-pong case): plain sendto skips the
        // header and iovec copying of sendmmsg, which shows in the RTT.
        let h = &one.msg_hdr;
        // SAFETY: the caller vouches for the header, whose msg_iov points
        // to one valid iovec.
        let iov = unsafe { &*h.msg_iov };
        loop {
            // SAFETY: buffer and address as the header gives them.
            let n = unsafe {
                libc::sendto(
                    fd,
                    iov.iov_base,
                    iov.iov_len,
                    libc::MSG_DONTWAIT,
                    h.msg_name.cast(),
                    h.msg_namelen,
                )
            };
            if n >= 0 {
                return Ok(1);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    loop {
        // SAFETY: the caller vouches for the headers; the count is exact.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                hdrs.as_mut_ptr(),
                hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n > 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A `sendmsg(2)` loop where there is no `sendmmsg`.
///
/// # Safety
/// As for the Linux version.
#[cfg(not(target_os = "linux"))]
unsafe fn send_many(fd: RawFd, hdrs: &mut [MMsgHdr]) -> io::Result<usize> {
    let mut sent = 0;
    for h in hdrs.iter() {
        loop {
            // SAFETY: the caller vouches for the header.
            let n = unsafe { libc::sendmsg(fd, &h.msg_hdr, libc::MSG_DONTWAIT) };
            if n >= 0 {
                sent += 1;
                break;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                _ if sent > 0 => return Ok(sent),
                _ => return Err(e),
            }
        }
    }
    Ok(sent)
}

/// Sends each of `datagrams` on the connected socket `fd` without blocking,
/// in as few system calls as the platform allows. Returns how many were sent
/// (from the front); the error only when not even the first was.
pub fn send_datagrams(fd: RawFd, datagrams: &mut [Vec<u8>]) -> io::Result<usize> {
    let mut iovecs: Vec<libc::iovec> = datagrams
        .iter_mut()
        .map(|d| libc::iovec {
            iov_base: d.as_mut_ptr().cast(),
            iov_len: d.len(),
        })
        .collect();
    let mut hdrs: Vec<MMsgHdr> = iovecs
        .iter_mut()
        .map(|iov| {
            // SAFETY: plain old data; zero is valid (no destination address:
            // the socket is connected).
            let mut h: MMsgHdr = unsafe { mem::zeroed() };
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    if hdrs.is_empty() {
        return Ok(0);
    }
    // SAFETY: the headers point into `iovecs` and `datagrams`, alive here.
    unsafe { send_many(fd, &mut hdrs) }
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

/// [`poll_readable`] with a time-out to the nanosecond (`ppoll(2)` on
/// Linux; elsewhere rounded up to the millisecond, never early): a paced
/// sender whose next datagram is due in less than a millisecond sleeps
/// until then instead of spinning.
pub fn poll_readable_for(fds: &[RawFd], timeout: std::time::Duration) -> io::Result<Vec<bool>> {
    #[cfg(target_os = "linux")]
    {
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
            // Below 10^9: fits any c_long.
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: p is a valid array of p.len() pollfds; ts outlives the
        // call; a null signal mask leaves the mask alone.
        poll_with(fds, |p| unsafe {
            libc::ppoll(
                p.as_mut_ptr(),
                p.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let ms = timeout.as_nanos().div_ceil(1_000_000);
        poll_readable(fds, i32::try_from(ms).unwrap_or(i32::MAX))
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (`-1`:
/// forever). Returns which are readable; an interrupting signal gives an
/// empty list, so the caller rechecks its flags.
pub fn poll_readable(fds: &[RawFd], timeout_ms: i32) -> io::Result<Vec<bool>> {
    // SAFETY: p is a valid array of p.len() pollfds.
    poll_with(fds, |p| unsafe {
        libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, timeout_ms)
    })
}

/// One `poll`-family call, `wait`, over `fds` for reading: which are
/// readable (or failed, or hung up); all `false` after an interrupting
/// signal.
fn poll_with(
    fds: &[RawFd],
    wait: impl FnOnce(&mut [libc::pollfd]) -> libc::c_int,
) -> io::Result<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    if wait(&mut p) < 0 {
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
    fn single_receive_reports_source_truncation_and_echoes_back() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server.local_addr().unwrap()).unwrap();
        client.send(&[9u8; 50]).unwrap();
        client.send(b"fits").unwrap();
        let mut b = Batch::new(4, 20, 0);
        assert_eq!(b.recv_one_wait(server.as_raw_fd()).unwrap(), 1);
        assert_eq!(b.received()[0].len, 20);
        assert!(b.received()[0].truncated);
        assert_eq!(b.recv_one_wait(server.as_raw_fd()).unwrap(), 1);
        assert_eq!(b.data(0), b"fits");
        assert!(!b.received()[0].truncated);
        assert_eq!(b.received()[0].source, Some(client.local_addr().unwrap()));
        assert_eq!(b.send_back(server.as_raw_fd(), &[0]).0, 1);
        let mut buf = [0u8; 16];
        assert_eq!(client.recv(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"fits");
        // A batched receive after a single one starts from clean headers.
        client.send(b"again").unwrap();
        assert_eq!(b.recv(server.as_raw_fd()).unwrap(), 1);
        assert_eq!(b.data(0), b"again");
    }

    #[test]
    fn single_receive_times_out_with_zero() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_millis(10)))
            .unwrap();
        let mut b = Batch::new(1, 20, 0);
        assert_eq!(b.recv_one_wait(server.as_raw_fd()).unwrap(), 0);
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
