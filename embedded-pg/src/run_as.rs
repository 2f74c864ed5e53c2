//! The OS user PostgreSQL runs as, and what that user can reach on disk.
//!
//! PostgreSQL refuses to run as root, so as root we run it as the `postgres`
//! system user; otherwise as ourselves.

use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, User, geteuid, getgrouplist};

use super::EmbeddedError;

#[derive(Debug, Clone)]
pub(crate) struct RunAs {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    /// True when PostgreSQL runs as another user than this process (we are root).
    switch: bool,
}

impl RunAs {
    pub fn detect() -> Result<RunAs, EmbeddedError> {
        let me = geteuid();
        if !me.is_root() {
            return Ok(RunAs {
                uid: me,
                gid: nix::unistd::getegid(),
                groups: Vec::new(),
                switch: false,
            });
        }
        let user = User::from_name("postgres")
            .map_err(|e| EmbeddedError::NoPostgresUser {
                detail: e.to_string(),
            })?
            .ok_or_else(|| EmbeddedError::NoPostgresUser {
                detail: "no such user".to_owned(),
            })?;
        let groups = std::ffi::CString::new(user.name.as_bytes())
            .ok()
            .and_then(|name| getgrouplist(&name, user.gid).ok())
            .unwrap_or_default();
        Ok(RunAs {
            uid: user.uid,
            gid: user.gid,
            groups,
            switch: true,
        })
    }

    pub fn is_switching(&self) -> bool {
        self.switch
    }

    /// A command that runs as this user, from `/` (root's working directory
    /// may be unreadable to `postgres`), without PG* env vars that could point
    /// the tools at another cluster.
    pub fn command(&self, program: &Path) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        if self.switch {
            cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
        }
        cmd.current_dir("/");
        for var in [
            "PGDATA",
            "PGHOST",
            "PGHOSTADDR",
            "PGPORT",
            "PGUSER",
            "PGDATABASE",
            "PGOPTIONS",
            "PGPASSWORD",
            "PGSERVICE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Hands a path we created as root over to the PostgreSQL user.
    pub fn give(&self, path: &Path) -> Result<(), EmbeddedError> {
        if self.switch {
            std::os::unix::fs::chown(path, Some(self.uid.as_raw()), Some(self.gid.as_raw()))
                .map_err(|e| EmbeddedError::io("change the owner of", path, e))?;
        }
        Ok(())
    }

    /// Whether this user may enter (search) the directory described by `meta`.
    fn can_search(&self, meta: &Metadata) -> bool {
        let mode = meta.permissions().mode();
        if self.uid.is_root() {
            true
        } else if meta.uid() == self.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == self.gid.as_raw()
            || self.groups.iter().any(|g| g.as_raw() == meta.gid())
        {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }

    /// The first existing directory on the way to `dir` (inclusive) that this
    /// user cannot enter, with its mode and owner.
    pub fn first_blocker(&self, dir: &Path) -> Option<(PathBuf, u32, u32)> {
        dir.ancestors()
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .filter_map(|p| std::fs::metadata(p).ok().map(|m| (p, m)))
            .find(|(_, m)| !self.can_search(m))
            .map(|(p, m)| (p.to_path_buf(), m.permissions().mode() & 0o7777, m.uid()))
    }

    /// Fails with a clear message if PostgreSQL (as this user) cannot reach `dir`.
    pub fn check_reachable(&self, dir: &Path) -> Result<(), EmbeddedError> {
        match self.first_blocker(dir) {
            None => Ok(()),
            Some((blocked, mode, owner)) => Err(EmbeddedError::Unreachable {
                data_dir: dir.to_path_buf(),
                blocked,
                mode,
                owner,
            }),
        }
    }

    /// Makes `dir` a directory only this user can use (mode 0700), creating it
    /// if needed. Refuses a directory someone else owns (e.g. planted in /tmp).
    pub fn private_dir(&self, dir: &Path) -> Result<(), EmbeddedError> {
        match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(dir).map_err(|e| EmbeddedError::io("create", dir, e))?;
                self.give(dir)?;
            }
            Err(e) => return Err(EmbeddedError::io("inspect", dir, e)),
            Ok(meta) => {
                if !meta.is_dir() || meta.uid() != self.uid.as_raw() {
                    return Err(EmbeddedError::UnsafeDir {
                        dir: dir.to_path_buf(),
                        reason: format!(
                            "it is not a directory owned by uid {} (remove it and retry)",
                            self.uid
                        ),
                    });
                }
            }
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| EmbeddedError::io("set permissions of", dir, e))
    }
}
