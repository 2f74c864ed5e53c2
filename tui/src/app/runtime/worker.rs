//! The one thread every keyring and settings call runs on.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::app::update::Msg;
use crate::token_store::TokenStore;

pub(super) type Job = Box<dyn FnOnce(&mut Option<TokenStore>) -> Msg + Send>;

/// One thread for every keyring and settings call, in order.
///
/// Off the async runtime, because a locked Secret Service collection can
/// block. One thread rather than the blocking pool, because the Linux kernel
/// keyring is reached through the *calling thread's* session keyring: a
/// token stored from one pool thread may not be found from another. One
/// queue also keeps "store, then delete" in order.
pub(super) struct Worker {
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Worker {
    pub(super) fn start(tx: UnboundedSender<Msg>) -> Worker {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("strop-keyring".into())
            .spawn(move || {
                let mut store = None;
                for job in queue {
                    let _ = tx.send(job(&mut store));
                }
            })
            .expect("start the keyring thread");
        Worker {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    pub(super) fn run(&self, job: Job) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }

    /// Lets queued work (a token being stored, settings being saved) finish,
    /// but never hangs the exit on a keyring that does not answer.
    pub(super) fn finish(mut self, patience: Duration) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let deadline = std::time::Instant::now() + patience;
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
