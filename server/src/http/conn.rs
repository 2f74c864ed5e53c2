//! What a connection holds while it is open, and when it must close: the
//! deadline to its first complete request, the idle deadline between
//! requests, the connections each client address has, the preemptible
//! overflow places that keep health checks answerable, and the budget every
//! extra HTTP/2 stream takes a unit of.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The socket peer of the connection a request came in on (a request
/// extension the accept loop sets).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

/// A request the connection layer has already refused (a request extension
/// the accept loop sets); the filter tree answers it, so it is logged and
/// shaped like every other failure.
#[derive(Debug, Clone)]
pub struct Refused(pub crate::http::error::ApiError);

/// The time limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From accept to the first request's complete headers (protocol
    /// detection and the HTTP/2 preface included).
    pub first_request: Duration,
    /// With no request open, between one request's end and the next one.
    pub idle: Duration,
    /// With a request open, since its start or since hyper last took a
    /// piece of any answer's body: a client that never lets the answer
    /// through (an HTTP/2 window left at zero, which never stalls the socket)
    /// is closed after this. Longer than a slow request body may take.
    pub stalled: Duration,
}

/// One connection's requests as the accept loop sees them.
#[derive(Debug)]
pub struct ConnState {
    accepted: Instant,
    active: AtomicUsize,
    served: AtomicBool,
    idle_since: Mutex<Instant>,
    /// When a request began or hyper last polled an answer's body.
    progress: Mutex<Instant>,
}

impl ConnState {
    pub fn new() -> Arc<Self> {
        let now = Instant::now();
        Arc::new(ConnState {
            accepted: now,
            active: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: Mutex::new(now),
            progress: Mutex::new(now),
        })
    }

    /// Whether a request has begun on this connection.
    pub fn served(&self) -> bool {
        self.served.load(Ordering::Acquire)
    }

    /// A request (its headers complete) begins; returns how many others
    /// were open on the connection (HTTP/2 streams).
    pub fn begin(self: &Arc<Self>) -> (RequestGuard, usize) {
        self.served.store(true, Ordering::Release);
        self.progressed();
        let others = self.active.fetch_add(1, Ordering::AcqRel);
        (
            RequestGuard {
                conn: self.clone(),
                _extra: None,
                _memory: None,
            },
            others,
        )
    }

    /// Since when the connection has been waiting for its next request;
    /// `None` while a request is open or before the first.
    fn idle_since(&self) -> Option<Instant> {
        let since = *self.idle_since.lock().expect("idle_since poisoned");
        (self.served() && self.active.load(Ordering::Acquire) == 0).then_some(since)
    }

    /// An answer's body moved on (or a request began).
    fn progressed(&self) {
        *self.progress.lock().expect("progress poisoned") = Instant::now();
    }

    /// Whether requests are open and none has moved on for `t.stalled`.
    pub fn stalled(&self, t: &Timeouts) -> bool {
        self.active.load(Ordering::Acquire) > 0
            && self.progress.lock().expect("progress poisoned").elapsed() >= t.stalled
    }

    /// When the open requests count as stalled if nothing moves on; `None`
    /// with no request open.
    pub fn stall_at(&self, t: &Timeouts) -> Option<Instant> {
        (self.active.load(Ordering::Acquire) > 0)
            .then(|| *self.progress.lock().expect("progress poisoned") + t.stalled)
    }

    /// When the connection must close if nothing changes; `None` while a
    /// request is open (its own deadlines apply, and [`Self::stall_at`]).
    pub fn deadline(&self, t: &Timeouts) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.served() {
            return Some(self.accepted + t.first_request);
        }
        let since = *self.idle_since.lock().expect("idle_since poisoned");
        Some(since + t.idle)
    }
}

/// An open request; dropped when its response body is done (or dropped).
#[derive(Debug)]
pub struct RequestGuard {
    conn: Arc<ConnState>,
    /// The budget unit an extra stream of an HTTP/2 connection holds, and
    /// its place among its address's connections.
    _extra: Option<(OwnedSemaphorePermit, AddressGuard)>,
    /// The answer's bytes in the memory budget, until they are sent.
    _memory: Option<OwnedSemaphorePermit>,
}

impl RequestGuard {
    pub fn hold(&mut self, permit: OwnedSemaphorePermit, address: AddressGuard) {
        self._extra = Some((permit, address));
    }

    pub fn hold_memory(&mut self, permit: Option<OwnedSemaphorePermit>) {
        self._memory = permit;
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        // The lock is taken first so that `deadline` never sees zero open
        // requests with a stale idle time.
        let mut since = self.conn.idle_since.lock().expect("idle_since poisoned");
        if self.conn.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            *since = Instant::now();
        }
    }
}

/// A response body that keeps its request open until it is done, handed
/// to hyper in pieces of at most [`PIECE`] bytes: hyper asks for the next
/// piece once the client has taken the last, so a slow client that keeps
/// reading shows progress however large the answer (see
/// [`Timeouts::stalled`]).
pub struct GuardedBody<B> {
    inner: B,
    /// What is left of the inner body's last data frame.
    rest: Bytes,
    _guard: RequestGuard,
}

/// The largest piece of an answer handed to hyper at once.
const PIECE: usize = 64 * 1024;

impl<B> GuardedBody<B> {
    pub fn new(inner: B, guard: RequestGuard) -> Self {
        GuardedBody {
            inner,
            rest: Bytes::new(),
            _guard: guard,
        }
    }

    fn next_piece(&mut self) -> Frame<Bytes> {
        let n = self.rest.len().min(PIECE);
        Frame::data(self.rest.split_to(n))
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for GuardedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // hyper asks for more only once the client has room for it.
        self._guard.conn.progressed();
        if !self.rest.is_empty() {
            return Poll::Ready(Some(Ok(self.next_piece())));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    self.rest = data;
                    Poll::Ready(Some(Ok(self.next_piece())))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

/// Normal connections per client address.
#[derive(Debug, Default)]
pub struct PerAddress {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// The connections `ip` has now.
    pub fn count(&self, ip: IpAddr) -> usize {
        let counts = self.counts.lock().expect("per-address counts poisoned");
        counts.get(&ip).copied().unwrap_or(0)
    }

    /// One more connection from `ip`, unless it has `cap` already.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<AddressGuard> {
        let mut counts = self.counts.lock().expect("per-address counts poisoned");
        let n = counts.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressGuard {
            counts: self.clone(),
            ip,
        })
    }
}

#[derive(Debug)]
pub struct AddressGuard {
    counts: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressGuard {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .counts
            .lock()
            .expect("per-address counts poisoned");
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// The connections holding normal places. At the server's cap a new
/// connection closes the keep-alive connection idle the longest, of the
/// address holding the most (as nginx reuses keep-alive connections when it
/// runs out): idle connections kept alive from a few addresses cannot lock
/// everyone else out until their idle timeout.
#[derive(Debug, Default)]
pub struct Open {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Registered>>,
}

#[derive(Debug)]
struct Registered {
    ip: IpAddr,
    conn: Arc<ConnState>,
    evict: CancellationToken,
}

impl Open {
    pub fn register(self: &Arc<Self>, ip: IpAddr, conn: &Arc<ConnState>) -> OpenGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evict = CancellationToken::new();
        let entry = Registered {
            ip,
            conn: conn.clone(),
            evict: evict.clone(),
        };
        let mut conns = self.conns.lock().expect("open connections poisoned");
        conns.insert(id, entry);
        OpenGuard {
            open: self.clone(),
            id,
            evict,
        }
    }

    /// Closes the idlest connection of the address holding the most;
    /// whether there was one to close.
    pub fn close_idlest(&self) -> bool {
        let conns = self.conns.lock().expect("open connections poisoned");
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        for r in conns.values() {
            *per_ip.entry(r.ip).or_default() += 1;
        }
        let idlest = conns
            .values()
            .filter(|r| !r.evict.is_cancelled())
            .filter_map(|r| Some((per_ip[&r.ip], std::cmp::Reverse(r.conn.idle_since()?), r)))
            .max_by_key(|(n, since, _)| (*n, *since));
        match idlest {
            Some((_, _, r)) => {
                tracing::info!(ip = %r.ip, "at the connection cap: closing an idle keep-alive connection for a new one");
                r.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// A normal place's entry in [`Open`]; its token is cancelled to close it.
#[derive(Debug)]
pub struct OpenGuard {
    open: Arc<Open>,
    id: u64,
    evict: CancellationToken,
}

impl OpenGuard {
    pub fn evicted(&self) -> CancellationToken {
        self.evict.clone()
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let mut conns = self.open.conns.lock().expect("open connections poisoned");
        conns.remove(&self.id);
    }
}

/// Places for connections over the cap: each serves one request (a health
/// check, else 503). A new connection takes the place of the oldest one that
/// has sent no request yet, so connections that send nothing cannot keep a
/// health check out.
#[derive(Debug)]
pub struct Overflow {
    cap: usize,
    slots: Mutex<VecDeque<Arc<Slot>>>,
}

#[derive(Debug)]
struct Slot {
    conn: Arc<ConnState>,
    evict: CancellationToken,
}

impl Overflow {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Overflow {
            cap,
            slots: Mutex::new(VecDeque::new()),
        })
    }

    /// A place for `conn`; the token is cancelled if it is taken over.
    pub fn admit(self: &Arc<Self>, conn: &Arc<ConnState>) -> Option<OverflowGuard> {
        let mut slots = self.slots.lock().expect("overflow slots poisoned");
        if slots.len() >= self.cap {
            let quiet = slots.iter().position(|s| !s.conn.served())?;
            let evicted = slots.remove(quiet).expect("position is in range");
            evicted.evict.cancel();
        }
        let slot = Arc::new(Slot {
            conn: conn.clone(),
            evict: CancellationToken::new(),
        });
        slots.push_back(slot.clone());
        Some(OverflowGuard {
            overflow: self.clone(),
            slot,
        })
    }
}

#[derive(Debug)]
pub struct OverflowGuard {
    overflow: Arc<Overflow>,
    slot: Arc<Slot>,
}

impl OverflowGuard {
    /// Cancelled when a newer connection took this place.
    pub fn evicted(&self) -> CancellationToken {
        self.slot.evict.clone()
    }
}

impl Drop for OverflowGuard {
    fn drop(&mut self) {
        let mut slots = self.overflow.slots.lock().expect("overflow slots poisoned");
        slots.retain(|s| !Arc::ptr_eq(s, &self.slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        stalled: Duration::from_secs(45),
    };

    #[tokio::test]
    async fn deadlines_follow_the_requests() {
        let c = ConnState::new();
        assert_eq!(c.deadline(&T), Some(c.accepted + T.first_request));
        let (a, others) = c.begin();
        assert_eq!(others, 0);
        let (b, others) = c.begin();
        assert_eq!(others, 1);
        assert_eq!(c.deadline(&T), None);
        // Open requests: closed only when nothing moves on for `stalled`.
        let stall = c.stall_at(&T).unwrap();
        assert!(stall > Instant::now() + T.stalled - Duration::from_secs(1));
        assert!(!c.stalled(&T));
        drop(a);
        assert_eq!(c.deadline(&T), None);
        drop(b);
        assert_eq!(c.stall_at(&T), None);
        let d = c.deadline(&T).unwrap();
        assert!(d > Instant::now() + T.idle - Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_large_answer_goes_to_hyper_in_pieces_each_a_sign_of_progress() {
        use http_body_util::BodyExt;
        let c = ConnState::new();
        let (guard, _) = c.begin();
        let answer = Bytes::from(vec![7u8; 3 * PIECE + 10]);
        let mut body = GuardedBody::new(http_body_util::Full::new(answer.clone()), guard);
        assert_eq!(body.size_hint().exact(), Some(answer.len() as u64));
        let mut sizes = Vec::new();
        let mut whole = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            sizes.push(data.len());
            whole.extend_from_slice(&data);
        }
        assert_eq!(sizes, [PIECE, PIECE, PIECE, 10]);
        assert_eq!(whole, answer);
        assert!(body.is_end_stream());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_whose_answers_do_not_move_is_stalled() {
        let c = ConnState::new();
        let (_open, _) = c.begin();
        tokio::time::advance(T.stalled - Duration::from_secs(1)).await;
        assert!(!c.stalled(&T));
        // hyper taking a piece of any answer is progress.
        c.progressed();
        tokio::time::advance(T.stalled - Duration::from_secs(1)).await;
        assert!(!c.stalled(&T));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(c.stalled(&T));
    }

    #[tokio::test]
    async fn at_the_cap_the_idlest_connection_of_the_busiest_address_goes() {
        let open = Arc::new(Open::default());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let idle = |c: &Arc<ConnState>| drop(c.begin().0);
        let quiet = ConnState::new(); // no request yet: not idle, the first-request deadline applies
        let older = ConnState::new();
        idle(&older);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let newer = ConnState::new();
        idle(&newer);
        let busy = ConnState::new();
        let (_request, _) = busy.begin();
        let lone = ConnState::new();
        idle(&lone);
        let guards = [
            open.register(a, &quiet),
            open.register(a, &newer),
            open.register(a, &older),
            open.register(a, &busy),
            open.register(b, &lone),
        ];
        assert!(open.close_idlest());
        let closed: Vec<bool> = guards.iter().map(|g| g.evicted().is_cancelled()).collect();
        assert_eq!(closed, [false, false, true, false, false]);
        assert!(open.close_idlest());
        assert!(guards[1].evicted().is_cancelled());
        // Then the other address's; never a connection in a request or
        // before its first.
        assert!(open.close_idlest());
        assert!(guards[4].evicted().is_cancelled());
        assert!(!open.close_idlest());
        drop(guards);
        assert!(open.conns.lock().unwrap().is_empty());
    }

    #[test]
    fn an_address_has_at_most_its_cap() {
        let p = Arc::new(PerAddress::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = p.admit(ip, 2).unwrap();
        let _b = p.admit(ip, 2).unwrap();
        assert!(p.admit(ip, 2).is_none());
        assert!(p.admit("10.0.0.2".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(p.admit(ip, 2).is_some());
    }

    #[tokio::test]
    async fn a_new_overflow_connection_takes_the_place_of_a_quiet_one() {
        let o = Overflow::new(2);
        let busy = ConnState::new();
        let (_req, _) = busy.begin();
        let quiet = ConnState::new();
        let g1 = o.admit(&busy).unwrap();
        let g2 = o.admit(&quiet).unwrap();
        let g3 = o.admit(&ConnState::new()).unwrap();
        assert!(g2.evicted().is_cancelled());
        assert!(!g1.evicted().is_cancelled());
        // Both places now hold a request or a newer connection... the newer
        // one is quiet too, so a fourth takes its place.
        let _g4 = o.admit(&ConnState::new()).unwrap();
        assert!(g3.evicted().is_cancelled());
        drop(g2);
        assert_eq!(o.slots.lock().unwrap().len(), 2);
        // With every place serving a request, a new one is turned away.
        let full = Overflow::new(1);
        let _only = full.admit(&busy).unwrap();
        assert!(full.admit(&ConnState::new()).is_none());
    }
}
