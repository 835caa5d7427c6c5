//! The DNS stub resolver: A-record lookups over UDP to the configured name servers, as a
//! sans-I/O state machine (RFC 1035, RFC 1123 6.1.3.3 for retransmission).
//!
//! Owns the outstanding queries (bounded by [`MAX_QUERIES`]), their transaction ids, timeouts,
//! server rotation, the validation of responses and a small TTL-bounded cache. It never touches
//! a socket or a clock: the caller sends what [`Resolver::poll`] returns, feeds back datagrams
//! from port 53 with [`Resolver::receive`] and collects answers with [`Resolver::result`]. It
//! must never panic on a response's bytes; malformed and unmatched responses are dropped and
//! counted in [`DnsCounters`], and never end a query early.
//!
//! Results: `Ok(addresses)` (1..=[`MAX_ADDRESSES`], answer order, CNAMEs followed), or
//! - `ENOENT`: the name does not exist (NXDOMAIN) or has no A record (NODATA) — gethostbyname's
//!   HOST_NOT_FOUND / NO_DATA;
//! - `ETIMEDOUT`: no server answered any of the [`TIMEOUTS`].len() attempts;
//! - `EAGAIN`: servers answered, but only with SERVFAIL/REFUSED/other errors or a truncated
//!   reply without addresses — gethostbyname's TRY_AGAIN;
//! - `ENETUNREACH`: no name server is configured (from `start_query`, or when the servers are
//!   removed while a query waits).

mod wire;
pub use wire::{
    build_query, parse_response, read_name, Name, ParseError, Record, RecordData, Response,
    DNS_PORT, MAX_ANSWERS, MAX_NAME_LEN,
};

#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::errno::Errno;
use crate::rand::Rng;
use crate::time::{Duration, Instant};

/// Name servers used, in order; more are ignored. resolv.conf's MAXNS.
pub const MAX_SERVERS: usize = 3;
/// Queries outstanding or finished-but-not-collected at once: each holds a name (≤255 octets);
/// a caller that never collects its results gets EAGAIN rather than growing the table.
pub const MAX_QUERIES: usize = 16;
/// Wait after each transmission of a query; one attempt per entry, servers in rotation.
pub const TIMEOUTS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// CNAMEs followed within one answer (a longer chain is answered with ENOENT).
pub const MAX_CNAME_HOPS: usize = 8;
/// Addresses returned for one name.
pub const MAX_ADDRESSES: usize = 16;
/// Names remembered with their addresses, evicting the one that expires first.
pub const MAX_CACHE_ENTRIES: usize = 8;
/// Upper bound on how long an answer is cached, whatever its TTL says.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(300);

/// Handle of a query; stays valid until its result is collected or it is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryId {
    slot: u16,
    generation: u32,
}

/// A UDP datagram to send to `dst` (port 53) from the resolver's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTransmit {
    pub payload: Vec<u8>,
    pub dst: SocketAddrV4,
}

/// Counters, in the spirit of /proc/net/snmp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsCounters {
    /// Datagrams handed to `receive`.
    pub in_responses: u64,
    /// Matched a waiting query but failed to parse (bad header, counts beyond the data, bad
    /// names or pointers, bad record lengths).
    pub in_malformed: u64,
    /// No waiting query has that id, or it did not come from port 53 of a server the query was
    /// sent to.
    pub in_unmatched: u64,
    /// Right id and server but the question differs from the query's.
    pub in_mismatched: u64,
    pub in_nxdomain: u64,
    /// SERVFAIL, REFUSED, other error codes, or truncated without addresses: next server.
    pub in_server_errors: u64,
    pub out_queries: u64,
    /// Transmissions after the first of a query.
    pub retransmits: u64,
    /// Queries that ended in ETIMEDOUT.
    pub timeouts: u64,
    /// Queries answered from the cache (or a dotted quad) without a transmission.
    pub cache_hits: u64,
}

#[derive(Debug)]
enum QueryState {
    Waiting {
        /// Transmissions so far.
        attempts: usize,
        /// When the next transmission (or the verdict) is due.
        next: Instant,
        /// Servers this query has been sent to: answers are taken from these only.
        tried: heapless::Vec<Ipv4Addr, { TIMEOUTS.len() }>,
        /// The error to report if the attempts run out (None: ETIMEDOUT).
        failure: Option<Errno>,
    },
    Done(Result<Vec<Ipv4Addr>, Errno>),
}

#[derive(Debug)]
struct Query {
    generation: u32,
    /// None for a literal address answered without a lookup.
    name: Option<Name>,
    id: u16,
    state: QueryState,
}

#[derive(Debug)]
struct CacheEntry {
    name: Name,
    addrs: Vec<Ipv4Addr>,
    expires: Instant,
}

/// The stub resolver.
#[derive(Debug)]
pub struct Resolver {
    servers: heapless::Vec<Ipv4Addr, MAX_SERVERS>,
    rng: Rng,
    queries: Vec<Option<Query>>,
    generation: u32,
    cache: Vec<CacheEntry>,
    counters: DnsCounters,
}

/// `a.b.c.d` with four decimal octets, nothing else.
fn dotted_quad(name: &str) -> Option<Ipv4Addr> {
    if name.split('.').count() != 4 {
        return None;
    }
    name.parse().ok()
}

impl Resolver {
    /// A resolver asking `servers` (the first [`MAX_SERVERS`]) in turn.
    pub fn new(servers: &[Ipv4Addr], rng_seed: u64) -> Self {
        let mut r = Resolver {
            servers: heapless::Vec::new(),
            rng: Rng::new(rng_seed),
            queries: Vec::new(),
            generation: 0,
            cache: Vec::new(),
            counters: DnsCounters::default(),
        };
        r.set_servers(servers);
        r
    }

    /// Replace the name servers (e.g. from a DHCP lease). Waiting queries continue with the new
    /// list; the cache is kept.
    pub fn set_servers(&mut self, servers: &[Ipv4Addr]) {
        self.servers.clear();
        for &s in servers
            .iter()
            .filter(|s| !s.is_unspecified() && !s.is_broadcast())
        {
            if self.servers.push(s).is_err() {
                break;
            }
        }
    }

    pub fn servers(&self) -> &[Ipv4Addr] {
        &self.servers
    }

    pub fn counters(&self) -> &DnsCounters {
        &self.counters
    }

    /// Start looking up `name`'s IPv4 addresses. A dotted quad (and `localhost`) is answered
    /// at once, as is a name in the cache; otherwise the first query goes out on the next
    /// `poll`. `EINVAL` for a name that is not a valid host name, `EAGAIN` when
    /// [`MAX_QUERIES`] are outstanding, `ENETUNREACH` with no server configured.
    pub fn start_query(&mut self, now: Instant, name: &str) -> Result<QueryId, Errno> {
        let literal = if name.eq_ignore_ascii_case("localhost") {
            Some(Ipv4Addr::LOCALHOST)
        } else {
            dotted_quad(name)
        };
        let qname = match literal {
            Some(_) => None,
            None => Some(Name::from_text(name)?),
        };
        let slot = match self.queries.iter().position(Option::is_none) {
            Some(s) => s,
            None if self.queries.len() < MAX_QUERIES => {
                self.queries.push(None);
                self.queries.len() - 1
            }
            None => return Err(Errno::EAGAIN),
        };
        let answered = literal
            .map(|a| alloc::vec![a])
            .or_else(|| qname.as_ref().and_then(|n| self.cache_lookup(now, n)));
        let state = match answered {
            Some(addrs) => {
                self.counters.cache_hits += 1;
                QueryState::Done(Ok(addrs))
            }
            None if self.servers.is_empty() => return Err(Errno::ENETUNREACH),
            None => QueryState::Waiting {
                attempts: 0,
                next: now,
                tried: heapless::Vec::new(),
                failure: None,
            },
        };
        let id = self.fresh_id();
        self.generation = self.generation.wrapping_add(1);
        self.queries[slot] = Some(Query {
            generation: self.generation,
            name: qname,
            id,
            state,
        });
        Ok(QueryId {
            slot: slot as u16,
            generation: self.generation,
        })
    }

    /// The outcome of a query: `None` while it waits; once it has finished, its result, which
    /// also frees the handle. `Some(Err(EINVAL))` for a handle that is unknown, already
    /// collected or cancelled.
    pub fn result(&mut self, q: QueryId) -> Option<Result<Vec<Ipv4Addr>, Errno>> {
        let Some(entry) = self.slot_mut(q) else {
            return Some(Err(Errno::EINVAL));
        };
        if let Some(Query {
            state: QueryState::Waiting { .. },
            ..
        }) = entry
        {
            return None;
        }
        match entry.take().map(|q| q.state) {
            Some(QueryState::Done(r)) => Some(r),
            _ => Some(Err(Errno::EINVAL)),
        }
    }

    /// Forget a query (its answer, if one still comes, is dropped as unmatched).
    pub fn cancel(&mut self, q: QueryId) {
        if let Some(entry) = self.slot_mut(q) {
            *entry = None;
        }
    }

    fn slot_mut(&mut self, q: QueryId) -> Option<&mut Option<Query>> {
        let entry = self.queries.get_mut(usize::from(q.slot))?;
        match entry {
            Some(query) if query.generation == q.generation => Some(entry),
            _ => None,
        }
    }

    /// When `poll` next has something to do (a transmission or a timeout).
    pub fn poll_at(&self) -> Option<Instant> {
        self.queries
            .iter()
            .flatten()
            .filter_map(|q| match q.state {
                QueryState::Waiting { next, .. } => Some(next),
                QueryState::Done(_) => None,
            })
            .min()
    }

    /// Whether any query waits for an answer or a retransmission: without one, `poll` has
    /// nothing to do (the host skips it on every loop).
    #[inline]
    pub fn has_waiting(&self) -> bool {
        self.queries
            .iter()
            .flatten()
            .any(|q| matches!(q.state, QueryState::Waiting { .. }))
    }

    /// The next datagram to send at `now`, finishing queries whose attempts ran out on the
    /// way. Call in a loop until `None`, after `start_query`, after `receive`, and whenever
    /// `poll_at` is reached; then check `result` of the queries you wait for.
    pub fn poll(&mut self, now: Instant) -> Option<DnsTransmit> {
        for entry in self.queries.iter_mut() {
            let Some(q) = entry else { continue };
            let (
                Some(name),
                QueryState::Waiting {
                    attempts,
                    next,
                    tried,
                    failure,
                },
            ) = (&q.name, &mut q.state)
            else {
                continue;
            };
            if now < *next {
                continue;
            }
            if self.servers.is_empty() || *attempts >= TIMEOUTS.len() {
                let err = if self.servers.is_empty() {
                    Errno::ENETUNREACH
                } else {
                    failure.unwrap_or(Errno::ETIMEDOUT)
                };
                if err == Errno::ETIMEDOUT {
                    self.counters.timeouts += 1;
                }
                q.state = QueryState::Done(Err(err));
                continue;
            }
            // Rotate through the servers, one attempt each.
            let server = self.servers[*attempts % self.servers.len()];
            if !tried.contains(&server) {
                let _ = tried.push(server);
            }
            if *attempts > 0 {
                self.counters.retransmits += 1;
            }
            *next = now + TIMEOUTS[*attempts];
            *attempts += 1;
            self.counters.out_queries += 1;
            return Some(DnsTransmit {
                payload: build_query(q.id, name),
                dst: SocketAddrV4::new(server, DNS_PORT),
            });
        }
        None
    }

    /// Feed a UDP datagram that arrived from `src` on the resolver's socket. Returns the query
    /// it finished, if any.
    pub fn receive(&mut self, now: Instant, src: SocketAddrV4, payload: &[u8]) -> Option<QueryId> {
        self.counters.in_responses += 1;
        let id = wire::message_id(payload);
        let slot = self.queries.iter().position(|e| match e {
            Some(Query {
                id: qid,
                state: QueryState::Waiting { tried, .. },
                ..
            }) => Some(*qid) == id && src.port() == DNS_PORT && tried.contains(src.ip()),
            _ => false,
        });
        let Some(slot) = slot else {
            self.counters.in_unmatched += 1;
            return None;
        };
        let resp = match parse_response(payload) {
            Ok(r) => r,
            Err(e) => {
                log::debug!("dns: malformed response from {src} dropped: {e:?}");
                self.counters.in_malformed += 1;
                return None;
            }
        };
        let q = self.queries.get_mut(slot)?.as_mut()?;
        let name = q.name.as_ref()?;
        if resp.qname != *name || resp.qtype != wire::TYPE_A || resp.qclass != wire::CLASS_IN {
            self.counters.in_mismatched += 1;
            return None;
        }
        let outcome = match resp.rcode {
            wire::RCODE_NOERROR => {
                let (addrs, ttl) =
                    wire::resolve_chain(&resp.answers, name, MAX_CNAME_HOPS, MAX_ADDRESSES);
                if !addrs.is_empty() {
                    Ok((addrs, ttl))
                } else if resp.truncated {
                    Err(Errno::EAGAIN)
                } else {
                    Err(Errno::ENOENT)
                }
            }
            wire::RCODE_NXDOMAIN => {
                self.counters.in_nxdomain += 1;
                Err(Errno::ENOENT)
            }
            _ => Err(Errno::EAGAIN),
        };
        let generation = q.generation;
        let finished = match outcome {
            Ok((addrs, ttl)) => {
                let name = name.clone();
                q.state = QueryState::Done(Ok(addrs.clone()));
                self.cache_insert(now, name, addrs, ttl);
                true
            }
            Err(Errno::EAGAIN) => {
                // This server cannot help: try the next one now rather than after the timeout.
                self.counters.in_server_errors += 1;
                if let QueryState::Waiting { next, failure, .. } = &mut q.state {
                    *next = now;
                    *failure = Some(Errno::EAGAIN);
                }
                false
            }
            Err(e) => {
                q.state = QueryState::Done(Err(e));
                true
            }
        };
        finished.then_some(QueryId {
            slot: slot as u16,
            generation,
        })
    }

    /// A random transaction id, not used by another query if a few draws can manage it (with
    /// at most [`MAX_QUERIES`] of 65536 taken, the first draw nearly always does).
    fn fresh_id(&mut self) -> u16 {
        let mut id = self.rng.next_u32() as u16;
        for _ in 0..8 {
            if !self.queries.iter().flatten().any(|q| q.id == id) {
                break;
            }
            id = self.rng.next_u32() as u16;
        }
        id
    }

    fn cache_lookup(&mut self, now: Instant, name: &Name) -> Option<Vec<Ipv4Addr>> {
        self.cache.retain(|e| e.expires > now);
        self.cache
            .iter()
            .find(|e| e.name == *name)
            .map(|e| e.addrs.clone())
    }

    fn cache_insert(&mut self, now: Instant, name: Name, addrs: Vec<Ipv4Addr>, ttl: u32) {
        let ttl = Duration::from_secs(u64::from(ttl)).min(MAX_CACHE_TTL);
        if ttl.is_zero() {
            return;
        }
        self.cache.retain(|e| e.expires > now && e.name != name);
        if self.cache.len() >= MAX_CACHE_ENTRIES {
            if let Some(i) = (0..self.cache.len()).min_by_key(|&i| self.cache[i].expires) {
                self.cache.swap_remove(i);
            }
        }
        self.cache.push(CacheEntry {
            name,
            addrs,
            expires: now + ttl,
        });
    }
}
