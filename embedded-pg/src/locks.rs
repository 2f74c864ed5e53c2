//! Advisory file locks (flock) that serialise cluster start/stop between
//! processes and mark which process owns (and will stop) a running cluster.
//! The kernel drops them when a process dies, so a killed owner never leaves
//! a lock behind.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::EmbeddedError;

pub(crate) type Held = Flock<File>;

fn open(path: &Path) -> Result<File, EmbeddedError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| EmbeddedError::io("open lock file", path, e))
}

fn lock_error(path: &Path, errno: Errno) -> EmbeddedError {
    EmbeddedError::io("lock", path, std::io::Error::from(errno))
}

/// Waits (off the async runtime) for an exclusive lock on `path`.
pub(crate) async fn exclusive(path: PathBuf) -> Result<Held, EmbeddedError> {
    tokio::task::spawn_blocking(move || {
        let mut file = open(&path)?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(held) => return Ok(held),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, errno)) => return Err(lock_error(&path, errno)),
            }
        }
    })
    .await
    .expect("lock task panicked")
}

/// Takes an exclusive lock on `path` if nobody holds it.
pub(crate) fn try_exclusive(path: &Path) -> Result<Option<Held>, EmbeddedError> {
    let file = open(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(held) => Ok(Some(held)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(lock_error(path, errno)),
    }
}
