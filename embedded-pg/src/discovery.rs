//! Finding the machine's PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`).

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::EmbeddedError;

/// Env var naming the one directory to take the server binaries from.
///
/// When set, no other place is searched: pointing it at an empty directory makes
/// discovery find nothing (tests use that to see the "no PostgreSQL" message).
pub const BINDIR_ENV: &str = "STROP_PG_BINDIR";

const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// A directory holding all three server binaries, and their major version.
#[derive(Debug, Clone)]
pub(crate) struct Binaries {
    pub bindir: PathBuf,
    /// Major version as PostgreSQL writes it in `PG_VERSION` ("15", "9.6").
    pub major: String,
}

impl Binaries {
    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

/// Picks the binaries to use. With an existing cluster (`cluster_major` is its
/// `PG_VERSION`), only binaries of that major version will do, since PostgreSQL
/// cannot open another major version's data files.
pub(crate) fn find(pgdata: &Path, cluster_major: Option<&str>) -> Result<Binaries, EmbeddedError> {
    let (candidates, searched) = match std::env::var_os(BINDIR_ENV) {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let found = has_all(&dir).then(|| dir.clone());
            (
                found.into_iter().collect::<Vec<_>>(),
                format!("{} ({BINDIR_ENV})", dir.display()),
            )
        }
        None => search_everywhere(),
    };
    if candidates.is_empty() {
        return Err(EmbeddedError::NoPostgres { searched });
    }
    let mut seen_versions = Vec::new();
    for bindir in candidates {
        let Some(major) = major_version(&bindir) else {
            continue;
        };
        match cluster_major {
            Some(want) if want != major => seen_versions.push(major),
            _ => return Ok(Binaries { bindir, major }),
        }
    }
    match cluster_major {
        Some(want) => Err(EmbeddedError::VersionMismatch {
            pgdata: pgdata.to_path_buf(),
            cluster_version: want.to_owned(),
            found: if seen_versions.is_empty() {
                "no working".to_owned()
            } else {
                seen_versions.join(", ")
            },
        }),
        None => Err(EmbeddedError::NoPostgres { searched }),
    }
}

/// PATH, then `pg_config --bindir`, then the distributions' versioned
/// directories (newest first). Returns the distinct candidates and a
/// description of where we looked.
fn search_everywhere() -> (Vec<PathBuf>, String) {
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |dir: PathBuf| {
        // pg_ctl and initdb locate `postgres` next to their real path, so
        // symlinks (e.g. /usr/local/bin/pg_ctl) are resolved to that.
        let dir = std::fs::canonicalize(dir.join("pg_ctl"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or(dir);
        if has_all(&dir) && seen.insert(dir.clone()) {
            found.push(dir);
        }
    };

    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if is_executable(&dir.join("pg_ctl")) {
            push(dir);
        }
    }
    for dir in std::env::split_paths(&path) {
        let pg_config = dir.join("pg_config");
        if is_executable(&pg_config)
            && let Ok(out) = Command::new(&pg_config).arg("--bindir").output()
            && out.status.success()
        {
            let bindir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !bindir.is_empty() {
                push(PathBuf::from(bindir));
            }
            break;
        }
    }
    for (parent, prefix) in [("/usr/lib/postgresql", ""), ("/usr", "pgsql-")] {
        for dir in versioned_dirs(Path::new(parent), prefix) {
            push(dir.join("bin"));
        }
    }
    push(PathBuf::from("/usr/local/pgsql/bin"));

    let searched = "PATH, pg_config --bindir, /usr/lib/postgresql/*/bin, /usr/pgsql-*/bin, \
                    /usr/local/pgsql/bin"
        .to_owned();
    (found, searched)
}

/// `<parent>/<prefix><version>` directories, highest version first.
fn versioned_dirs(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut dirs: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix(prefix)?;
            let key = version
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            Some((key, e.path()))
        })
        .collect();
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.into_iter().map(|(_, p)| p).collect()
}

fn has_all(dir: &Path) -> bool {
    REQUIRED.iter().all(|b| is_executable(&dir.join(b)))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Major version of the `postgres` in `bindir`, from `postgres --version`
/// ("postgres (PostgreSQL) 15.10 (Debian 15.10-1)" gives "15").
fn major_version(bindir: &Path) -> Option<String> {
    let out = Command::new(bindir.join("postgres"))
        .arg("--version")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_major(&String::from_utf8_lossy(&out.stdout))
}

fn parse_major(version_line: &str) -> Option<String> {
    let version = version_line.split(")").nth(1)?.split_whitespace().next()?;
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let first: u32 = parts.next()?.parse().ok()?;
    // Before 10 the major version had two parts (9.6).
    if first < 10 {
        let second: u32 = parts.next()?.parse().ok()?;
        Some(format!("{first}.{second}"))
    } else {
        Some(first.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_major_versions() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.10 (Debian 15.10-1.pgdg120+1)\n").as_deref(),
            Some("15")
        );
        assert_eq!(
            parse_major("postgres (PostgreSQL) 9.6.24\n").as_deref(),
            Some("9.6")
        );
        assert_eq!(
            parse_major("postgres (PostgreSQL) 17beta1\n").as_deref(),
            Some("17")
        );
        assert_eq!(parse_major("garbage"), None);
    }

    #[test]
    fn versioned_dirs_sort_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        for v in ["9.6", "15", "10", "notaversion", "16"] {
            std::fs::create_dir(tmp.path().join(v)).unwrap();
        }
        let names: Vec<_> = versioned_dirs(tmp.path(), "")
            .into_iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["16", "15", "10", "9.6"]);
    }
}
