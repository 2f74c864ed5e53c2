//! Password hashing (argon2id) inside a fixed memory budget.
//!
//! Each argon2id computation fills `m_cost` KiB of memory blocks (9 MiB
//! with [`PARAMS`]). At most `concurrency` run at once, each in a block
//! buffer from a small pool: a burst of sign-ups reuses the same few buffers
//! instead of allocating one per request on whichever blocking thread runs
//! it (per-thread malloc arenas kept every one of those, 1 GB for 100
//! registrations). When no hash is queued the buffers are freed, so an idle
//! server holds none. The budget is `m_cost` KiB × `concurrency`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

/// m = 9 MiB, t = 4, p = 1: one of OWASP's equivalent argon2id settings
/// (the argon2 crate's default is m = 19 MiB, t = 2), chosen for half the
/// memory per hash at about the same CPU time, so two hashes at once fit
/// in a 50 MB server. Hashes stored with other settings verify with theirs.
pub const PARAMS: Params = match Params::new(9 * 1024, 4, 1, Some(Params::DEFAULT_OUTPUT_LEN)) {
    Ok(params) => params,
    Err(_) => panic!("valid argon2 parameters"),
};

/// Salt length in bytes, as the argon2 crate recommends.
const SALT_LEN: usize = 16;

/// The server's argon2id hasher and verifier, shared by every request.
#[derive(Clone)]
pub struct Passwords {
    shared: Arc<Shared>,
}

struct Shared {
    params: Params,
    permits: Arc<Semaphore>,
    concurrency: usize,
    /// Buffers not in use right now; only kept while hashes are queued.
    idle: Mutex<Vec<Vec<Block>>>,
    /// Hashes waiting for a permit or running.
    queued: AtomicUsize,
    /// Buffers alive (idle or in use), and the most ever alive at once.
    live: AtomicUsize,
    #[cfg(test)]
    peak: AtomicUsize,
    /// Hashes computing now, and the most ever at once.
    running: AtomicUsize,
    #[cfg(test)]
    peak_running: AtomicUsize,
}

/// A hash could not be made or checked: always the server's fault, never
/// the password's.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("stored password hash is unreadable: {0}")]
    Unreadable(String),
    #[error("the password hasher is shut down")]
    Closed(#[from] tokio::sync::AcquireError),
    #[error("a password hashing task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// What a [`Passwords`] has used, for its tests.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Block buffers alive now.
    pub buffers: usize,
    /// Most block buffers ever alive at once.
    pub peak_buffers: usize,
    /// Most hashes ever computing at once.
    pub peak_running: usize,
}

impl Passwords {
    /// Argon2id with [`PARAMS`].
    pub fn new(concurrency: usize) -> Self {
        Self::with_params(concurrency, PARAMS)
    }

    pub fn with_params(concurrency: usize, params: Params) -> Self {
        let concurrency = concurrency.max(1);
        Passwords {
            shared: Arc::new(Shared {
                params,
                permits: Arc::new(Semaphore::new(concurrency)),
                concurrency,
                idle: Mutex::new(Vec::new()),
                queued: AtomicUsize::new(0),
                live: AtomicUsize::new(0),
                #[cfg(test)]
                peak: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                #[cfg(test)]
                peak_running: AtomicUsize::new(0),
            }),
        }
    }

    /// Bytes of argon2 memory this hasher may hold at once.
    pub fn budget_bytes(&self) -> usize {
        let s = &self.shared;
        s.params.block_count() * Block::SIZE * s.concurrency
    }

    /// Hashes waiting for a permit now (for `/metrics`).
    pub fn queue_depth(&self) -> usize {
        let s = &self.shared;
        let queued = s.queued.load(Ordering::SeqCst);
        queued.saturating_sub(s.running.load(Ordering::SeqCst))
    }

    #[cfg(test)]
    fn usage(&self) -> Usage {
        let s = &self.shared;
        Usage {
            buffers: s.live.load(Ordering::SeqCst),
            peak_buffers: s.peak.load(Ordering::SeqCst),
            peak_running: s.peak_running.load(Ordering::SeqCst),
        }
    }

    /// Argon2id PHC string for `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let params = self.shared.params.clone();
        self.compute(move |blocks| {
            let salt: [u8; SALT_LEN] = rand::random();
            let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
            let phc = hasher
                .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    Ok(PasswordHash {
                        algorithm: Algorithm::Argon2id.ident(),
                        version: Some(Version::V0x13.into()),
                        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
                        salt: Some(Salt::new(&salt).map_err(|e| e.to_string())?),
                        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
                    })
                });
            phc.map(|phc| phc.to_string()).map_err(PasswordError::Hash)
        })
        .await
    }

    /// Whether a stored PHC string was made with other settings than this
    /// hasher's (then it should be replaced after the next successful login:
    /// verifying it costs other time and memory than the budget says).
    pub fn is_outdated(&self, stored: &str) -> bool {
        let current = &self.shared.params;
        let Ok(phc) = PasswordHash::new(stored) else {
            return true;
        };
        let argon2id = Algorithm::try_from(phc.algorithm.as_str()) == Ok(Algorithm::Argon2id);
        match Params::try_from(&phc) {
            Ok(p) => {
                !argon2id
                    || (p.m_cost(), p.t_cost(), p.p_cost())
                        != (current.m_cost(), current.t_cost(), current.p_cost())
            }
            Err(_) => true,
        }
    }

    /// Whether `password` matches the stored PHC string.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, PasswordError> {
        self.compute(move |blocks| {
            verify_into(&password, &stored, blocks)
                .map_err(|e| PasswordError::Unreadable(e.to_string()))
        })
        .await
    }

    /// Runs `work` on the blocking pool with a block buffer, once a permit
    /// is free. The permit, the buffer and the queue count move into the
    /// blocking task: a request dropped mid-hash (client gone) still holds
    /// them until the computation really ends, so the bound stays exact.
    async fn compute<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let queued = Queued::enter(self.shared.clone());
        let permit = self.shared.permits.clone().acquire_owned().await?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            #[cfg_attr(not(test), allow(unused_variables))]
            let running = shared.running.fetch_add(1, Ordering::SeqCst) + 1;
            #[cfg(test)]
            shared.peak_running.fetch_max(running, Ordering::SeqCst);
            let mut blocks = shared.take_buffer();
            let result = work(&mut blocks);
            shared.lock_idle().push(blocks);
            shared.running.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            drop(queued);
            result
        })
        .await?
    }
}

impl Shared {
    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        // A panic while holding the lock leaves the list itself intact.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle buffer, else a new one: buffers alive never exceed permits.
    fn take_buffer(&self) -> Vec<Block> {
        if let Some(blocks) = self.lock_idle().pop() {
            return blocks;
        }
        #[cfg_attr(not(test), allow(unused_variables))]
        let live = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        #[cfg(test)]
        self.peak.fetch_max(live, Ordering::SeqCst);
        vec![Block::new(); self.params.block_count()]
    }

    fn release_idle(&self) {
        let freed = std::mem::take(&mut *self.lock_idle());
        self.live.fetch_sub(freed.len(), Ordering::SeqCst);
    }
}

/// Recomputes the stored hash's output with its own parameters and compares
/// in constant time (`Output`'s equality).
fn verify_into(password: &str, stored: &str, blocks: &mut Vec<Block>) -> Result<bool, String> {
    let phc = PasswordHash::new(stored).map_err(|e| e.to_string())?;
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return Err("no salt or no hash".into());
    };
    let algorithm = Algorithm::try_from(phc.algorithm.as_str()).map_err(|e| e.to_string())?;
    let version = phc
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let params = Params::try_from(&phc).map_err(|e| e.to_string())?;
    // A hash stored with more memory than ours (older settings) grows the buffer.
    if blocks.len() < params.block_count() {
        blocks.resize(params.block_count(), Block::new());
    }
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut blocks[..])
        .map_err(|e| e.to_string())?;
    Ok(Output::new(&out).map_err(|e| e.to_string())? == *expected)
}

/// Counts a hash from its arrival to its end; the last one out frees the
/// idle buffers, so the memory goes back once a burst is over.
struct Queued(Arc<Shared>);

impl Queued {
    fn enter(shared: Arc<Shared>) -> Self {
        shared.queued.fetch_add(1, Ordering::SeqCst);
        Queued(shared)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if self.0.queued.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.release_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::join_all;

    use super::*;

    /// Small parameters: the bound is about counts, not about memory size.
    fn small(concurrency: usize) -> Passwords {
        Passwords::with_params(concurrency, Params::new(64, 1, 1, None).unwrap())
    }

    #[tokio::test]
    async fn default_round_trip() {
        let p = Passwords::new(2);
        let hash = p.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=9216,t=4,p=1$"), "{hash}");
        assert!(
            p.verify("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!p.verify("wrong".into(), hash).await.unwrap());
        assert_eq!(p.budget_bytes(), 2 * 9 * 1024 * 1024);
    }

    #[tokio::test]
    async fn hashes_of_the_argon2_crate_itself_verify() {
        // Hashes stored before this module (Argon2::default().hash_password).
        use argon2::password_hash::PasswordHasher;
        let stored = Argon2::default()
            .hash_password(b"old password")
            .unwrap()
            .to_string();
        let p = small(1);
        assert!(
            p.verify("old password".into(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!p.verify("old passwore".into(), stored).await.unwrap());
        let ours = p.hash("x".into()).await.unwrap();
        assert!(
            argon2::password_hash::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"x",
                &PasswordHash::new(&ours).unwrap()
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn hashes_of_other_settings_are_outdated() {
        let p = Passwords::new(1);
        let ours = p.hash("pw".into()).await.unwrap();
        assert!(!p.is_outdated(&ours));
        use argon2::password_hash::PasswordHasher;
        let old = Argon2::default().hash_password(b"pw").unwrap().to_string();
        assert!(p.is_outdated(&old), "the crate's default, 19 MiB");
        assert!(p.is_outdated("not a hash"));
    }

    #[tokio::test]
    async fn an_unreadable_stored_hash_is_an_internal_error() {
        let p = small(1);
        assert!(matches!(
            p.verify("pw".into(), "not a hash".into()).await,
            Err(PasswordError::Unreadable(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_never_runs_or_holds_more_than_the_concurrency() {
        let p = small(3);
        let results = join_all((0..40).map(|i| p.hash(format!("pw{i}")))).await;
        assert!(results.iter().all(Result::is_ok));
        let usage = p.usage();
        assert!(usage.peak_running <= 3, "{usage:?}");
        assert!(usage.peak_buffers <= 3, "{usage:?}");
        // 40 hashes, at most 3 buffers: they were reused, not allocated per hash.
        assert!(usage.peak_buffers >= 1);
        assert_eq!(usage.buffers, 0, "freed once the burst is over: {usage:?}");
    }

    #[tokio::test]
    async fn dropped_requests_keep_their_permit_until_the_hash_ends() {
        // Slow enough (8 MiB) that the dropped hashes overlap if the bound leaks.
        let p = Passwords::with_params(1, Params::new(8192, 2, 1, None).unwrap());
        // Start hashes and drop their futures right after they took the permit.
        for i in 0..10 {
            let fut = p.hash(format!("pw{i}"));
            let _ = tokio::time::timeout(std::time::Duration::ZERO, fut).await;
        }
        let ok = p.hash("last".into()).await;
        assert!(ok.is_ok());
        assert_eq!(p.usage().peak_running, 1, "{:?}", p.usage());
        assert_eq!(p.usage().peak_buffers, 1, "{:?}", p.usage());
    }
}
