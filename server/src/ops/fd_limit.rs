//! Open files: the soft limit raised to the hard one at start, and the
//! connection cap sized so that every connection the server accepts has a
//! descriptor (a process that runs out cannot even answer `/healthz`).

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything that is not a client connection: the
/// listeners, the database pool and LISTEN connection, the embedded
/// cluster's pipes, logs, and connections over the cap.
pub const RESERVED: u64 = 256;

/// Raises the soft open-file limit to the hard limit; returns the limit in force.
pub fn raise() -> Option<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => return Some(hard),
            Err(e) => tracing::warn!(error = %e, soft, hard, "cannot raise the open-file limit"),
        }
    }
    Some(soft)
}

/// The connection cap `wanted` fits in `limit` descriptors with [`RESERVED`]
/// and `pool_size` left over.
pub fn fit(wanted: u32, limit: u64, pool_size: u32) -> u32 {
    let room = limit.saturating_sub(RESERVED + u64::from(pool_size)).max(1);
    u32::try_from(room.min(u64::from(wanted))).unwrap_or(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_fits_in_the_limit() {
        assert_eq!(fit(1000, 1024, 16), 752);
        assert_eq!(fit(1000, 1 << 20, 16), 1000);
        assert_eq!(fit(1000, 10, 16), 1);
    }
}
