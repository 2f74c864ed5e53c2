//! Reading a cluster's `postmaster.pid` to tell whether it is running.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tracing::warn;

use super::EmbeddedError;

/// What a `postmaster.pid` says about a (possibly) running cluster.
#[derive(Debug, Clone)]
pub(crate) struct PidFile {
    pub pid: i32,
    pub port: Option<u16>,
    pub socket_dir: Option<PathBuf>,
}

pub(crate) fn path(pgdata: &Path) -> PathBuf {
    pgdata.join("postmaster.pid")
}

/// Parses `postmaster.pid` (line 1 pid, 4 port, 5 first socket directory).
/// `None` if there is no file or it is not (yet) complete enough to use.
pub(crate) fn read(pgdata: &Path) -> Option<PidFile> {
    let text = std::fs::read_to_string(path(pgdata)).ok()?;
    let lines: Vec<&str> = text.lines().collect();
    let pid = lines.first()?.trim().parse().ok()?;
    let port = lines.get(3).and_then(|l| l.trim().parse().ok());
    let socket_dir = lines
        .get(4)
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(PathBuf::from);
    Some(PidFile {
        pid,
        port,
        socket_dir,
    })
}

/// Whether `pid` is a live PostgreSQL process. After a crash or a container
/// restart the recorded pid may belong to an unrelated process; on Linux
/// `/proc/<pid>/comm` tells (the postmaster keeps the name `postgres` even
/// when it rewrites its title).
pub(crate) fn is_live_postgres(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(Errno::EPERM) => {}
        Err(_) => return false,
    }
    let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
        // No /proc (not Linux): trust the signal check.
        return true;
    };
    // A killed postmaster whose parent does not reap it lingers as a zombie.
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false);
    matches!(comm.trim(), "postgres" | "postmaster") && !zombie
}

/// Removes a PostgreSQL lock file (`postmaster.pid`, `.s.PGSQL.<port>.lock`)
/// whose pid is alive but not a running postgres: a zombie postmaster after a
/// crash, or an unrelated process after pid reuse. PostgreSQL itself only
/// overrides lock files of pids that no longer exist, and would refuse to start.
pub(crate) fn remove_if_stale(path: &Path) -> Result<(), EmbeddedError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let Some(pid) = text
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<i32>().ok())
    else {
        return Ok(());
    };
    let exists = matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM));
    if pid > 0 && exists && !is_live_postgres(pid) {
        warn!(pid, path = %path.display(), "removing stale PostgreSQL lock file");
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(EmbeddedError::io("remove stale", path, e)),
        }
    }
    Ok(())
}
