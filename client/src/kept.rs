//! Output kept for `--group`, in bounded memory.
//!
//! `--group` prints each host's output only after every host has finished,
//! so it has to keep all of it. A [`Kept`] stream holds its bytes in memory
//! while a [`Budget`] shared by all hosts allows ([`GROUP_MEMORY_MAX`] in
//! all), and past that appends them to an unnamed temporary file (deleted
//! by the system when closed, even if we are killed): `--group -- yes`
//! fills the disk rather than the memory, and nothing is lost. Streams are
//! compared by length and SHA-256 digest, so grouping never reads a file
//! back.
//!
//! ```
//! use client::kept::{Budget, Kept};
//!
//! let budget = Budget::new(4);
//! let mut a = Kept::default();
//! a.push(b"abc", &budget)?; // in memory
//! a.push(b"def", &budget)?; // over the budget: to a temporary file
//! let mut b = Kept::default();
//! b.push(b"abcdef", &budget)?; // all in a file
//! assert_eq!(a.fingerprint(), b.fingerprint());
//! let mut printed = Vec::new();
//! a.write_to(&mut printed)?;
//! assert_eq!(printed, b"abcdef");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

/// Bytes of output `--group` keeps in memory across all hosts; the rest
/// goes to temporary files.
pub const GROUP_MEMORY_MAX: usize = 64 * 1024 * 1024;

/// Memory still free for kept output, shared by every host of a run.
#[derive(Debug)]
pub struct Budget {
    free: AtomicUsize,
}

impl Budget {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Budget {
        Budget {
            free: AtomicUsize::new(bytes),
        }
    }

    /// Takes `n` bytes if that many are free.
    fn take(&self, n: usize) -> bool {
        self.free
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |free| {
                free.checked_sub(n)
            })
            .is_ok()
    }
}

impl Default for Budget {
    /// [`GROUP_MEMORY_MAX`].
    fn default() -> Budget {
        Budget::new(GROUP_MEMORY_MAX)
    }
}

/// One stream of one host, kept: first in memory, then (once the budget is
/// spent) in a temporary file, in order.
#[derive(Default)]
pub struct Kept {
    memory: Vec<u8>,
    file: Option<File>,
    len: u64,
    digest: Sha256,
}

/// What tells two kept streams apart: their length and SHA-256 digest.
pub type Fingerprint = (u64, [u8; 32]);

impl Kept {
    /// Appends `data`. Fails only if the temporary file cannot be created
    /// or written (a full disk); the caller must then count the output as
    /// lost.
    pub fn push(&mut self, data: &[u8], budget: &Budget) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if self.file.is_none() && budget.take(data.len()) {
            self.memory.extend_from_slice(data);
        } else {
            let file = match &mut self.file {
                Some(file) => file,
                None => self.file.insert(tempfile::tempfile()?),
            };
            file.write_all(data)?;
        }
        self.digest.update(data);
        self.len += data.len() as u64;
        Ok(())
    }

    /// Bytes kept.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length and digest: equal for equal contents, however kept.
    pub fn fingerprint(&self) -> Fingerprint {
        (self.len, self.digest.clone().finalize().into())
    }

    /// Writes everything kept to `out`, in order.
    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(&self.memory)?;
        if let Some(mut file) = self.file.as_ref() {
            file.seek(SeekFrom::Start(0))?;
            io::copy(&mut file, out)?;
        }
        Ok(())
    }
}

impl From<&[u8]> for Kept {
    /// A stream kept in memory (for tests and examples).
    fn from(data: &[u8]) -> Kept {
        let mut kept = Kept::default();
        kept.push(data, &Budget::new(data.len()))
            .expect("in memory, nothing can fail");
        kept
    }
}

impl fmt::Debug for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kept")
            .field("len", &self.len)
            .field("in_memory", &self.memory.len())
            .field("spilled", &self.file.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_stays_within_the_shared_budget_and_the_rest_spills_in_order() {
        let budget = Budget::new(10);
        let mut a = Kept::default();
        let mut b = Kept::default();
        a.push(b"0123456", &budget).unwrap();
        b.push(b"abcd", &budget).unwrap(); // 7 + 4 > 10: b spills
        a.push(b"789", &budget).unwrap(); // fits: 10 in memory
        a.push(b"X", &budget).unwrap(); // budget spent: a spills
        a.push(b"YZ", &budget).unwrap();
        assert_eq!(a.memory.len() + b.memory.len(), 10);
        assert!(a.file.is_some() && b.file.is_some());
        let mut out = Vec::new();
        a.write_to(&mut out).unwrap();
        assert_eq!(out, b"0123456789XYZ");
        // Writing twice reads the file from its start again.
        out.clear();
        a.write_to(&mut out).unwrap();
        assert_eq!(out, b"0123456789XYZ");
        assert_eq!(a.len(), 13);
    }

    #[test]
    fn fingerprints_compare_contents_however_they_were_kept() {
        let in_memory = Kept::from(&b"same"[..]);
        let mut spilled = Kept::default();
        spilled.push(b"sa", &Budget::new(0)).unwrap();
        spilled.push(b"me", &Budget::new(0)).unwrap();
        assert_eq!(in_memory.fingerprint(), spilled.fingerprint());
        assert_ne!(
            in_memory.fingerprint(),
            Kept::from(&b"diff"[..]).fingerprint()
        );
        assert_eq!(Kept::default().fingerprint().0, 0);
    }
}
