//! Reused threads for decoders that must drive a parser on a thread of their own.
//!
//! The EVTX parser's record iterator borrows the parser, so each EVTX file is decoded on
//! a thread that owns both and hands events over through a channel. Starting a thread per
//! file cost a hunt of the shared corpus 599 thread creations for 594 files, and each new
//! thread grew an allocator arena of its own (`strace -c`: 15,834 `mprotect` calls, with
//! system time about 40% of the hunt's CPU time). Here a finished thread waits [`IDLE`]
//! for the next file instead of exiting, so a hunt starts about as many threads as it
//! decodes files at once.
//!
//! There is no cap on the threads: a caller may open many sources before reading any, and
//! each source's thread must run for its reader to make progress, so a queue behind a
//! fixed number of threads could wait forever.

use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long a thread with nothing to do waits for work before it exits (short in tests,
/// so that they reach the moment a thread gives up).
#[cfg(not(test))]
pub(crate) const IDLE: Duration = Duration::from_secs(2);
#[cfg(test)]
pub(crate) const IDLE: Duration = Duration::from_millis(20);

/// A piece of work: decode one file.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// An idle thread: its number (to find it again) and where to send it work.
struct Idle {
    id: u64,
    work: Sender<Job>,
}

/// The idle threads, most recently idle last, and the number the next thread gets.
static IDLE_THREADS: Mutex<(Vec<Idle>, u64)> = Mutex::new((Vec::new(), 0));

/// Runs `job` on an idle decoder thread, or on a new one (named `name`) when none is idle.
///
/// # Errors
///
/// A new thread was needed and could not be started.
pub(crate) fn run(name: &str, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let mut job: Job = Box::new(job);
    loop {
        let popped = lock().0.pop();
        let Some(idle) = popped else { break };
        // A thread popped here is handed the job at once; it waits for it even if its
        // idle time ran out meanwhile (see `serve`), so this send fails only if the thread
        // is gone, and then the job comes back to try the next.
        match idle.work.send(job) {
            Ok(()) => return Ok(()),
            Err(returned) => job = returned.0,
        }
    }
    let id = {
        let mut idle = lock();
        idle.1 += 1;
        idle.1
    };
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || serve(id, job))
        .map(drop)
}

/// A decoder thread's life: run its first job, then each job handed to it while idle,
/// until it has been idle for [`IDLE`].
fn serve(id: u64, first: Job) {
    let (work, jobs) = channel::<Job>();
    let mut job = first;
    loop {
        job();
        lock().0.push(Idle {
            id,
            work: work.clone(),
        });
        job = match jobs.recv_timeout(IDLE) {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout) => {
                let mut idle = lock();
                match idle.0.iter().position(|thread| thread.id == id) {
                    // Still listed: no one can hand it work any more once it is removed.
                    Some(at) => {
                        idle.0.swap_remove(at);
                        return;
                    }
                    // Popped by `run` just now: its job is on the way.
                    None => {
                        drop(idle);
                        match jobs.recv() {
                            Ok(next) => next,
                            Err(_) => return,
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}

/// The idle list; a panic elsewhere cannot leave it inconsistent (every change is one
/// push, pop or removal), so a poisoned lock is used as it is.
fn lock() -> std::sync::MutexGuard<'static, (Vec<Idle>, u64)> {
    IDLE_THREADS.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;
    use std::sync::{Arc, Condvar};

    /// The tests here count threads, so they run one at a time.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    /// How many threads were ever started.
    fn started() -> u64 {
        lock().1
    }

    #[test]
    fn jobs_one_after_another_reuse_threads() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let before = started();
        for _ in 0..100 {
            let (sender, receiver) = sync_channel(1);
            run("tocsin-test", move || {
                let _ = sender.send(());
            })
            .expect("starts");
            receiver.recv().expect("the job ran");
        }
        // A thread frees itself just after its job's last send, so the next job may find
        // it still busy: a couple of threads take turns (and other tests of this binary
        // decode EVTX files meanwhile), instead of a hundred starting.
        let new = started() - before;
        assert!(new < 20, "{new} threads started for 100 jobs in a row");
    }

    #[test]
    fn jobs_handed_over_as_threads_give_up_all_run() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        // Jobs sent around the moment an idle thread's wait runs out, when `run` may pop a
        // thread that is about to leave: each must still run, and promptly.
        for round in 0..60_u32 {
            let (sender, receiver) = sync_channel(1);
            run("tocsin-test", move || {
                let _ = sender.send(());
            })
            .expect("starts");
            receiver
                .recv_timeout(Duration::from_secs(10))
                .expect("the job ran");
            std::thread::sleep(
                IDLE + Duration::from_micros(u64::from(round % 12) * 500)
                    - Duration::from_millis(3),
            );
        }
    }

    #[test]
    fn jobs_that_wait_for_each_other_all_run() {
        let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        // Sixty jobs that each wait until all have started: a fixed-size pool would run
        // some and leave the others queued, so the waiting ones would give up.
        let jobs = 60;
        let started = Arc::new((Mutex::new(0_usize), Condvar::new()));
        let (done, finished) = sync_channel(jobs);
        for _ in 0..jobs {
            let started = Arc::clone(&started);
            let done = done.clone();
            run("tocsin-test", move || {
                let (count, all) = &*started;
                let mut count = count.lock().unwrap_or_else(PoisonError::into_inner);
                *count += 1;
                all.notify_all();
                let (count, _) = all
                    .wait_timeout_while(count, Duration::from_secs(10), |n| *n < jobs)
                    .unwrap_or_else(PoisonError::into_inner);
                let _ = done.send(*count == jobs);
            })
            .expect("starts");
        }
        for _ in 0..jobs {
            let together = finished
                .recv_timeout(Duration::from_secs(20))
                .expect("every job ran");
            assert!(together, "a job waited in vain for the others to start");
        }
    }
}
