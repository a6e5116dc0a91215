//! Thin, documented wrappers over the few Linux calls std does not offer.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Opens a pidfd for `pid`: a descriptor that becomes readable when the
/// process exits, so the event loop learns of a child's exit without a
/// signal handler and without blocking. `None` where the kernel lacks
/// `pidfd_open` (before Linux 5.3); the caller then polls with a timer.
pub fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    let fd = RawFd::try_from(fd).ok()?;
    // SAFETY: the kernel just returned this descriptor to us; we own it.
    // pidfd_open sets O_CLOEXEC, so no child inherits it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `signal` is ignored (`SIG_IGN`) in this process, as `nohup`
/// leaves SIGHUP for the program it starts.
pub fn is_ignored(signal: i32) -> bool {
    // SAFETY: a zeroed sigaction is a valid out-parameter; with a null new
    // action, sigaction(2) only reads the current disposition into it.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Marks every descriptor above stderr close-on-exec: those the server
/// inherited from whatever started it (a shell's stray redirection, a
/// harness's pipe) are not the commands' business, and a pipe end held by
/// a long-running command would keep its reader from seeing the end.
/// Only for a process that owns all its descriptors: the `server` binary,
/// before it opens any.
pub fn close_inherited_on_exec() -> io::Result<()> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: F_GETFD/F_SETFD take and return plain ints; a descriptor
        // already closed (the directory listing's own) just fails.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Sends `signal` to every process in the group `pgid`.
pub fn kill_group(pgid: u32, signal: i32) -> io::Result<()> {
    let pgid = libc::pid_t::try_from(pgid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pgid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid
    // addresses the process group.
    if unsafe { libc::kill(-pgid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises the soft limit on open files to the hard limit and returns the
/// new soft limit: every connection and running command holds descriptors.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

/// Asks for a larger pipe buffer (fewer wake-ups when streaming); the kernel
/// may refuse, which is harmless.
pub fn grow_pipe(fd: RawFd, bytes: i32) {
    // SAFETY: F_SETPIPE_SZ takes an int; failure only leaves the default size.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, bytes);
    }
}
