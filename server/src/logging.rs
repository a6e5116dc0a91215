//! Logging that never blocks the event loop.
//!
//! The log (`env_logger`, one audit line per command) goes to stderr, and
//! a write to stderr blocks once its pipe is full: a launcher that reads the
//! `listening on` line and then never reads again (a test harness, a
//! supervisor gone astray) would stop the whole server after a few hundred
//! commands. So log lines are queued in memory, at most [`MAX_PENDING`]
//! bytes, and a thread of their own writes them out; past that bound a line
//! is dropped and counted, and the count is written once stderr takes lines
//! again.
//!
//! The writer wakes once per [`BATCH_WINDOW`] at most, not once per line:
//! a wake-up is a cross-CPU interrupt, dear on a VM, and one per command
//! made a thousand pipelined `true` 3 % slower. Lines wait at most that long
//! before they are written, and an idle server's writer sleeps until a line
//! comes.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Most bytes of log lines waiting for stderr.
pub const MAX_PENDING: usize = 1 << 20;

/// How long the writer, once woken, lets lines gather before it writes
/// them all at once.
pub const BATCH_WINDOW: Duration = Duration::from_millis(10);

#[derive(Default)]
struct Queue {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    dropped: u64,
    /// The writer thread holds lines it took and has not written yet.
    writing: bool,
    /// The writer is awake, or has been told to wake: it will look at the
    /// queue again before it sleeps, so a new line needs no notification.
    awake: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    /// Lines to write.
    ready: Condvar,
    /// Everything written.
    idle: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `Write` end `env_logger` formats each record into: it queues the
/// record and returns at once.
struct Enqueue(Arc<Shared>);

impl Write for Enqueue {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut queue = self.0.lock();
        if queue.bytes + buf.len() > MAX_PENDING {
            queue.dropped += 1;
        } else {
            queue.bytes += buf.len();
            queue.lines.push_back(buf.to_vec());
            if !queue.awake {
                queue.awake = true;
                self.0.ready.notify_one();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes the queued lines to `out`, for as long as the process lives.
fn write_out(shared: &Shared, out: &mut impl Write) {
    loop {
        {
            let mut queue = shared.lock();
            while queue.lines.is_empty() && queue.dropped == 0 {
                queue.writing = false;
                queue.awake = false;
                shared.idle.notify_all();
                queue = shared.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
            queue.writing = true;
            queue.awake = true;
        }
        // Let the lines of a busy spell gather: one wake-up and one write
        // for all of them.
        std::thread::sleep(BATCH_WINDOW);
        let (lines, dropped) = {
            let mut queue = shared.lock();
            queue.bytes = 0;
            (
                std::mem::take(&mut queue.lines),
                std::mem::take(&mut queue.dropped),
            )
        };
        let _ = out.write_all(&Vec::from(lines).concat());
        if dropped > 0 {
            let _ = writeln!(
                out,
                "[{dropped} log lines dropped: stderr was not read fast enough]"
            );
        }
        let _ = out.flush();
    }
}

/// Waits, at most `limit`, until every queued log line is written.
#[derive(Clone)]
pub struct Flush(Option<Arc<Shared>>);

impl Flush {
    /// Waits, at most `limit`, until every queued log line is written: at
    /// exit, so the last lines are not lost, and never stuck on a stderr
    /// that nobody reads.
    pub fn wait(&self, limit: Duration) {
        let Some(shared) = &self.0 else {
            return;
        };
        let until = Instant::now() + limit;
        let mut queue = shared.lock();
        while !queue.lines.is_empty() || queue.dropped > 0 || queue.writing {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            queue = shared
                .idle
                .wait_timeout(queue, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Sets up `env_logger` (`RUST_LOG`, default `default_filter`) to write
/// through the queue; returns what waits for it to drain at exit. Without
/// a thread for the writer, it writes to stderr directly.
pub fn init(default_filter: &str) -> Flush {
    let env = env_logger::Env::default().default_filter_or(default_filter);
    let mut builder = env_logger::Builder::new();
    // A pipe target is plain text unless told otherwise: keep colours for
    // a terminal (RUST_LOG_STYLE still decides, read below).
    if io::stderr().is_terminal() {
        builder.write_style(env_logger::WriteStyle::Always);
    }
    builder.parse_env(env);
    let shared = Arc::new(Shared::default());
    let writer = Arc::clone(&shared);
    let spawned = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_out(&writer, &mut io::stderr()));
    if spawned.is_err() {
        builder.init();
        return Flush(None);
    }
    builder.target(env_logger::Target::Pipe(Box::new(Enqueue(Arc::clone(
        &shared,
    )))));
    builder.init();
    Flush(Some(shared))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn past_the_bound_lines_are_dropped_and_counted_not_waited_for() {
        let shared = Arc::new(Shared::default());
        let mut log = Enqueue(Arc::clone(&shared));
        let line = vec![b'x'; 1000];
        let started = Instant::now();
        // Nobody writes them out: the queue fills, then drops.
        for _ in 0..2 * MAX_PENDING / line.len() {
            assert_eq!(log.write(&line).unwrap(), line.len());
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        let (queued, dropped) = {
            let queue = shared.lock();
            (queue.bytes, queue.dropped)
        };
        assert!(queued <= MAX_PENDING);
        assert!(dropped > 0);
        // Once written out, the count follows the lines that made it.
        let writer = Arc::clone(&shared);
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            write_out(
                &writer,
                &mut SharedVec {
                    out: sink,
                    writes: None,
                },
            )
        });
        Flush(Some(shared)).wait(Duration::from_secs(10));
        let out = out.lock().unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.ends_with(&format!(
                "[{dropped} log lines dropped: stderr was not read fast enough]\n"
            )),
            "{}",
            &text[text.len().saturating_sub(100)..]
        );
    }

    /// A burst of lines (a pipelined script's audit lines) wakes the writer
    /// once or so and costs one write, not one of each per line.
    #[test]
    fn a_burst_of_lines_is_written_in_a_few_writes() {
        let shared = Arc::new(Shared::default());
        let out = Arc::new(Mutex::new(Vec::new()));
        let writes = Arc::new(AtomicUsize::new(0));
        let (writer, sink, counter) = (Arc::clone(&shared), Arc::clone(&out), Arc::clone(&writes));
        std::thread::spawn(move || {
            write_out(
                &writer,
                &mut SharedVec {
                    out: sink,
                    writes: Some(counter),
                },
            )
        });
        let mut log = Enqueue(Arc::clone(&shared));
        for i in 0..100 {
            writeln!(log, "line {i}").unwrap();
        }
        Flush(Some(shared)).wait(Duration::from_secs(10));
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(String::from_utf8_lossy(&out.lock().unwrap()), expected);
        let writes = writes.load(Ordering::Relaxed);
        assert!(writes <= 5, "{writes} writes for 100 lines");
    }

    struct SharedVec {
        out: Arc<Mutex<Vec<u8>>>,
        writes: Option<Arc<AtomicUsize>>,
    }

    impl Write for SharedVec {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(writes) = &self.writes {
                writes.fetch_add(1, Ordering::Relaxed);
            }
            self.out.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
}
