//! One connection's queue of bytes waiting for its socket.
//!
//! A command's output is read from its pipe **straight into this queue**,
//! behind a gap left for the frame header, which is filled in once the read
//! says how long the payload is: output crosses user space once, with no
//! copy through a scratch buffer. The storage is a zero-initialised `Vec`,
//! so a read can be handed a plain `&mut [u8]` and no `unsafe` is needed.
//!
//! Queued bytes live in `buf[start..end]`. Writing to the socket advances
//! `start`; an emptied queue starts again at 0. When the tail has no room
//! for an append, the queued bytes move to the front if no more of them
//! are queued than were sent since they last moved (so moving never copies
//! more than passes through, and a queue the socket keeps up with moves
//! only a few bytes); otherwise the buffer grows by half, or to what the
//! append needs. The buffer is therefore at most one and a half times the
//! largest queue plus one append: the connection's high watermark bounds it.
//!
//! ```
//! use server::outbuf::OutBuf;
//!
//! let mut out = OutBuf::default();
//! out.extend_from_slice(b"hd:");
//! // Read "hello" into the tail, behind a 3-byte gap for a header.
//! let n = out.append_with(3, 16, |gap, payload| {
//!     payload[..5].copy_from_slice(b"hello");
//!     gap.copy_from_slice(b"05:");
//!     5
//! });
//! assert_eq!(n, 5);
//! assert_eq!(out.as_slice(), b"hd:05:hello");
//! out.advance(3);
//! assert_eq!(out.as_slice(), b"05:hello");
//! ```

/// Smallest buffer allocated (a few control frames fit).
const MIN_CAPACITY: usize = 256;

/// Bytes queued for a socket; see the module documentation.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes moved to the front so far (for the tests' copy bound).
    #[cfg(test)]
    moved: usize,
}

impl OutBuf {
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Bytes of memory held.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The queued bytes, oldest first.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Whether an append of `n` bytes fits without growing the buffer.
    pub fn fits(&self, n: usize) -> bool {
        self.buf.len() - self.end >= n
            || (self.start >= self.len() && self.buf.len() - self.len() >= n)
    }

    /// Drops the `n` oldest bytes (they were sent).
    pub fn advance(&mut self, n: usize) {
        assert!(n <= self.len(), "advance past the queued bytes");
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Drops everything queued; the memory is kept.
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Drops everything and gives the memory back.
    pub fn release(&mut self) {
        *self = OutBuf::default();
    }

    /// Queues a copy of `data`.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.make_room(data.len());
        self.buf[self.end..self.end + data.len()].copy_from_slice(data);
        self.end += data.len();
    }

    /// Appends bytes produced in place: `fill` gets a `gap`-byte slice and,
    /// right behind it, up to `max` bytes of room; it writes `n` bytes of
    /// payload into the room, fills the gap (a header that may depend on
    /// `n`) and returns `n`. With `n == 0` nothing is queued, gap included.
    pub fn append_with(
        &mut self,
        gap: usize,
        max: usize,
        fill: impl FnOnce(&mut [u8], &mut [u8]) -> usize,
    ) -> usize {
        self.make_room(gap + max);
        let (head, room) = self.buf[self.end..self.end + gap + max].split_at_mut(gap);
        let n = fill(head, room);
        assert!(n <= max, "filled past the room given");
        if n > 0 {
            self.end += gap + n;
        }
        n
    }

    /// Ensures `n` bytes of room behind the queued bytes.
    fn make_room(&mut self, n: usize) {
        if self.buf.len() - self.end >= n {
            return;
        }
        let len = self.len();
        if self.start >= len && self.buf.len() - len >= n {
            self.buf.copy_within(self.start..self.end, 0);
            #[cfg(test)]
            {
                self.moved += len;
            }
        } else {
            let grown = self.buf.len() + self.buf.len() / 2;
            // The queued bytes to the front, then a resize, which the
            // allocator may do in place (`mremap` for a large buffer): the
            // old and the new buffer are not both alive at the peak.
            self.buf.copy_within(self.start..self.end, 0);
            self.buf.truncate(len);
            self.buf.resize((len + n).max(grown).max(MIN_CAPACITY), 0);
        }
        self.start = 0;
        self.end = len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_the_order_they_went_in() {
        let mut out = OutBuf::default();
        let mut expected = Vec::new();
        for i in 0..1000u32 {
            let chunk = vec![i as u8; (i as usize * 37) % 5000];
            out.extend_from_slice(&chunk);
            expected.extend_from_slice(&chunk);
            // Send a varying part, as a socket would.
            let sent = (i as usize * 101) % (out.len() + 1);
            assert_eq!(&out.as_slice()[..sent], &expected[..sent]);
            out.advance(sent);
            expected.drain(..sent);
        }
        assert_eq!(out.as_slice(), &expected[..]);
    }

    #[test]
    fn an_empty_read_queues_nothing_not_even_the_gap() {
        let mut out = OutBuf::default();
        out.extend_from_slice(b"x");
        assert_eq!(out.append_with(5, 64, |_, _| 0), 0);
        assert_eq!(out.as_slice(), b"x");
    }

    #[test]
    fn a_steady_stream_keeps_the_buffer_small() {
        // Reads of 64 KiB, each sent whole or nearly: the buffer stays
        // within one and a half reads, and moves only the few bytes left.
        let read = 64 * 1024;
        let mut out = OutBuf::default();
        for round in 0..10_000usize {
            out.append_with(5, read, |gap, room| {
                gap.fill(0xAA);
                room.fill(round as u8);
                room.len()
            });
            out.advance(out.len() - round % 7);
        }
        assert!(
            out.capacity() <= 3 * (read + 5 + 6) / 2,
            "{}",
            out.capacity()
        );
        assert!(out.moved <= 10_000 * 6, "moved {}", out.moved);
    }

    #[test]
    fn a_slow_socket_bounds_the_buffer_and_the_copying() {
        // Appends stop at a watermark, as the server's do; the socket takes
        // odd amounts. The buffer stays within one and a half times the
        // largest queue plus one append, and moving never copies more than
        // the socket took.
        let (high, read) = (512 * 1024, 64 * 1024 + 5);
        let mut out = OutBuf::default();
        let mut sent = 0usize;
        for round in 0..20_000usize {
            if out.len() < high {
                out.extend_from_slice(&vec![round as u8; read]);
            }
            let n = (round * 7919) % (out.len() + 1);
            sent += n;
            out.advance(n);
        }
        assert!(sent > 100 * high, "the socket did take data");
        assert!(
            out.capacity() <= 3 * (high + 2 * read) / 2,
            "{}",
            out.capacity()
        );
        assert!(out.moved <= sent, "moved {} of {sent}", out.moved);
    }

    #[test]
    fn moving_to_the_front_keeps_the_bytes() {
        let mut out = OutBuf::default();
        out.extend_from_slice(&[1; 1000]);
        out.extend_from_slice(&[3; 500]);
        let capacity = out.capacity();
        out.advance(1450);
        // 50 queued near the end; 900 more fit only after a move, which
        // leaves the buffer less than half full: no bigger buffer.
        out.extend_from_slice(&[2; 900]);
        assert_eq!(out.capacity(), capacity);
        assert_eq!(out.len(), 950);
        assert!(out.as_slice()[..50].iter().all(|&b| b == 3));
        assert!(out.as_slice()[50..].iter().all(|&b| b == 2));
    }

    #[test]
    fn fits_says_whether_an_append_would_grow_the_buffer() {
        let mut out = OutBuf::default();
        assert!(!out.fits(1), "an empty buffer has no room");
        out.extend_from_slice(&[1; 1000]);
        let capacity = out.capacity();
        assert!(!out.fits(1));
        out.advance(600);
        // 400 queued, 600 sent: a move makes room for up to 600.
        assert!(out.fits(capacity - 400));
        assert!(!out.fits(capacity - 399));
        out.extend_from_slice(&[2; 600]);
        assert_eq!(out.capacity(), capacity, "fits promised no growth");
    }

    #[test]
    fn release_gives_the_memory_back() {
        let mut out = OutBuf::default();
        out.extend_from_slice(&[0; 300 * 1024]);
        assert!(out.capacity() >= 300 * 1024);
        out.release();
        assert_eq!(out.capacity(), 0);
        assert!(out.is_empty());
    }
}
