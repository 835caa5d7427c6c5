//! The shim's safe core: one rinet host (stack + TCP + socket layer) behind a mutex, a virtual
//! clock, the map from real process descriptors to rinet's descriptors, and the blocking rules
//! packetdrill expects.
//!
//! Owns the semantics of each packetdrill call in Rust types (`Result<_, Errno>`); the C
//! entry points in `lib.rs` only convert pointers. It never sleeps on the wall clock except
//! to wait, on a condition variable, for the other thread (a blocking call waits for the main
//! thread's packets or clock; the main thread waits briefly for a woken blocking call to act
//! before it moves virtual time on).
//!
//! # Time
//! The clock is virtual, in µs: `usleep` advances it, firing each protocol timer at its own
//! deadline in order (packets it emits carry that time); `gettimeofday` advances it by 1 µs
//! per call so packetdrill's busy-wait makes progress; `netdev_receive` with nothing queued
//! advances it to the next timer, and gives up (count 0) when none falls within
//! [`RECEIVE_HORIZON_US`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::Duration as WallDuration;

use net::host::Host;
use net::socket::{MSG_DONTWAIT, MSG_PEEK, POLLERR, POLLHUP, POLLNVAL};
use net::sockfs::{FdTable, DEFAULT_FD_LIMIT};
use net::stack::Stack;
use net::sys::{Direction, NetSys};
use net::tcp::{Tcp, TcpConfig};
use net::{Errno, Instant, Ipv4Addr};

use crate::epoll::Epoll;
use crate::flags::LinkConfig;
use crate::link::LinkHandle;
use crate::os;

mod calls;

/// Virtual time at start (µs): the stack's clock starts at 1 s so no timer sits at zero.
pub const START_US: u64 = 1_000_000;
/// What `gettimeofday` adds to the virtual clock (an arbitrary, fixed wall-clock origin:
/// 2023-11-14T22:13:20Z), so the times look like dates.
pub const EPOCH_US: u64 = 1_700_000_000_000_000;
/// How far `netdev_receive` moves virtual time looking for the next emitted packet before it
/// reports "no packet" (count 0) so that a missing packet fails the script at once.
pub const RECEIVE_HORIZON_US: u64 = 120_000_000;
/// Poll rounds at one instant (ARP reply, then the segment it released, ...); each round
/// handles up to the stack's poll budget, so this only bounds a pathological loop.
const SETTLE_ROUNDS: usize = 64;
/// Timer deadlines one clock advance walks through; the RTO backs off, so even minutes of
/// script time need few steps. Bounds a timer that keeps re-arming at the same instant.
const MAX_TIMER_STEPS: usize = 100_000;
/// How long the main thread waits (wall clock) for a woken blocking call to run before it
/// moves virtual time on without it.
const WAITER_GRACE: WallDuration = WallDuration::from_millis(200);
/// Wall-clock period at which a sleeping blocking call re-checks (a lost wakeup costs this).
const WAITER_TICK: WallDuration = WallDuration::from_millis(100);
/// Largest buffer the shim copies for one read/write (larger requests are served partly, as
/// a socket with this much buffer would); bounds allocation by a caller's `count`.
pub const MAX_IO: usize = 16 << 20;
/// `FIONREAD`/`SIOCINQ`.
pub const FIONREAD: u64 = 0x541b;

/// Everything behind the lock.
pub struct State {
    pub net: NetSys,
    pub fds: FdTable,
    pub link: LinkHandle,
    /// Virtual time, µs.
    pub now: u64,
    /// Real process descriptor → rinet descriptor.
    socks: BTreeMap<i32, i32>,
    /// Real descriptor → epoll instance.
    epolls: BTreeMap<i32, Epoll>,
    /// Bumped each time the main thread changed something a blocked call may wait for.
    gen: u64,
    /// `gen` as the blocked call last saw it.
    seen: u64,
    /// Blocking calls asleep (packetdrill has at most one in flight).
    waiters: u32,
    /// Virtual time (µs since the epoch) at which a blocking call that had slept last
    /// completed, in the same hold of the lock as its operation.
    #[cfg(test)]
    woken_done_at: Option<u64>,
}

/// One packetdrill run's stack.
pub struct Shim {
    state: Mutex<State>,
    cv: Condvar,
    /// packetdrill's main thread (the one that called init): it must never sleep waiting for
    /// itself.
    main: ThreadId,
}

type Guard<'a> = MutexGuard<'a, State>;

fn ceil_us(t: Instant) -> u64 {
    t.as_nanos().div_ceil(1000)
}

impl State {
    fn instant(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    /// Poll until the stack is quiet at the current instant: frames waiting (ARP replies the
    /// link gave) are taken in and due timers run.
    fn settle(&mut self) {
        self.link.set_now(self.now);
        let now = self.instant();
        for _ in 0..SETTLE_ROUNDS {
            self.net.poll(now);
            let due = self.net.poll_at().is_some_and(|t| t <= now);
            if !due && !self.link.rx_pending() {
                break;
            }
        }
        // Blocked calls sleep on the condition variable, which wakes on any change; the
        // wait keys only feed edge-triggered epoll interests (and are drained so the list
        // stays bounded).
        let mut woken = Vec::new();
        self.net.take_woken(&mut woken);
        if !woken.is_empty() && !self.epolls.is_empty() {
            let keys: BTreeSet<u64> = woken.into_iter().collect();
            for e in self.epolls.values_mut() {
                e.woken(&keys);
            }
        }
    }

    fn next_timer(&self) -> Option<u64> {
        self.net.poll_at().map(ceil_us)
    }

    /// Move the clock to `target`, firing each timer at its own deadline. Returns whether
    /// any timer fired on the way.
    fn advance_to(&mut self, target: u64) -> bool {
        self.settle();
        let mut fired = false;
        for _ in 0..MAX_TIMER_STEPS {
            match self.next_timer() {
                Some(t) if t > self.now && t <= target => {
                    self.now = t;
                    self.settle();
                    fired = true;
                }
                _ => break,
            }
        }
        if target > self.now {
            self.now = target;
            self.settle();
        }
        fired
    }

    /// The rinet descriptor behind a real one.
    fn netfd(&self, fd: i32) -> Result<i32, Errno> {
        match self.socks.get(&fd) {
            Some(&n) => Ok(n),
            None if os::fd_is_open(fd) => Err(Errno::ENOTSOCK),
            None => Err(Errno::EBADF),
        }
    }

    /// Give a new rinet socket a real descriptor.
    fn map_new(&mut self, nfd: i32) -> Result<i32, Errno> {
        let real = match os::backing_fd() {
            Ok(r) => r,
            Err(e) => {
                let now = self.instant();
                let _ = self.net.close(now, &mut self.fds, nfd);
                return Err(e);
            }
        };
        self.forget_stale(real);
        self.socks.insert(real, nfd);
        Ok(real)
    }

    /// The kernel handed out `real` again while we still map it: packetdrill closed it
    /// itself (teardown) and the process reused the number. What it stood for is gone for
    /// the script; release it.
    fn forget_stale(&mut self, real: i32) {
        if let Some(stale) = self.socks.remove(&real) {
            let now = self.instant();
            let _ = self.net.close(now, &mut self.fds, stale);
            for e in self.epolls.values_mut() {
                e.forget(real);
            }
        }
        self.epolls.remove(&real);
    }

    fn epoll(&mut self, epfd: i32) -> Result<&mut Epoll, Errno> {
        if !self.epolls.contains_key(&epfd) {
            // Linux: EINVAL for an open descriptor that is not an epoll instance.
            return Err(if os::fd_is_open(epfd) {
                Errno::EINVAL
            } else {
                Errno::EBADF
            });
        }
        self.epolls.get_mut(&epfd).ok_or(Errno::EBADF)
    }
}

/// rinet's TCP defaults with the settings of the public scripts' `defaults.sh` sysctls pinned
/// (the shim runs no sysctl, so it applies them here):
/// - `tcp_rmem` max 15 MiB: Linux derives the window-scale shift from it (8); rinet derives
///   it from the receive buffer, so the buffer is 15 MiB here (it only bounds buffering).
/// - `tcp_sack=1`: SACK-permitted offered (`sack` false turns it off; rinet's default was off
///   when this shim was written and is on in later `net`).
///
/// Everything else (initial window 10, 200 ms minimum RTO, 40 ms delayed ACK, 1 s initial
/// RTO, timestamps and window scaling on) is `TcpConfig::default()` unchanged.
pub fn linux_profile(mtu: usize, sack: bool) -> TcpConfig {
    TcpConfig {
        default_mtu: u16::try_from(mtu).unwrap_or(u16::MAX),
        recv_buffer: LINUX_RMEM_MAX,
        sack_permitted: sack,
        ..TcpConfig::default()
    }
}

/// `tcp_rmem[2]` in the public scripts' `defaults.sh`.
pub const LINUX_RMEM_MAX: usize = 15 * 1024 * 1024;

impl Shim {
    pub fn new(cfg: LinkConfig) -> Result<Shim, Errno> {
        let link = LinkHandle::new();
        let mut stack = Stack::new(Box::new(link.device(cfg.mtu)), 0x7064_7368_696d);
        let now = Instant::from_micros(START_US);
        // packetdrill's peer is the only station on the link: the connected route covers the
        // local subnet and everything else goes out on-link too (the device answers ARP for
        // any address). A gateway that is our own address (packetdrill's default) or outside
        // the subnet cannot be a next hop, so it is only used when it is a real neighbour.
        let gw = cfg
            .gateway_ip
            .filter(|g| *g != cfg.local_ip && !g.is_unspecified());
        stack
            .configure(now, cfg.local_ip, cfg.prefix_len, gw)
            .or_else(|_| stack.configure(now, cfg.local_ip, cfg.prefix_len, None))?;
        if stack.route(cfg.remote_ip).is_err() {
            stack.add_route(Ipv4Addr::UNSPECIFIED, 0, None)?;
        }
        let tcp_cfg = linux_profile(cfg.mtu, cfg.sack);
        let tcp = Tcp::new(tcp_cfg, *b"rinet-packetdril", 0x5eed);
        let mut st = State {
            net: NetSys::new(Host::new(stack, tcp)),
            fds: FdTable::new(DEFAULT_FD_LIMIT),
            link,
            now: START_US,
            socks: BTreeMap::new(),
            epolls: BTreeMap::new(),
            gen: 0,
            seen: 0,
            waiters: 0,
            #[cfg(test)]
            woken_done_at: None,
        };
        st.settle();
        Ok(Shim {
            state: Mutex::new(st),
            cv: Condvar::new(),
            main: thread::current().id(),
        })
    }

    pub fn lock(&self) -> Guard<'_> {
        // A caught panic poisons the lock; the state is still the best we have.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_main(&self) -> bool {
        thread::current().id() == self.main
    }

    /// The main thread changed something: wake the blocked call.
    fn kick(&self, st: &mut State) {
        st.gen += 1;
        self.cv.notify_all();
    }

    /// Wait for a state change before a blocked call retries, until `deadline` (virtual µs).
    /// `started` is when the call began. Returns `None` when waiting can never help: on the
    /// main thread (nobody else would move the clock or inject packets) when no timer fires
    /// before the deadline, or, without a deadline, within [`RECEIVE_HORIZON_US`] of the start.
    fn sleep<'a>(
        &'a self,
        mut st: Guard<'a>,
        deadline: Option<u64>,
        started: u64,
    ) -> Option<Guard<'a>> {
        if self.on_main() {
            let limit = deadline.unwrap_or(started.saturating_add(RECEIVE_HORIZON_US));
            // Only strictly future timers: one stuck at "now" must not spin this loop.
            return match st.next_timer() {
                Some(t) if t > st.now && t < limit => {
                    st.advance_to(t);
                    Some(st)
                }
                _ if deadline.is_some() => {
                    st.advance_to(limit);
                    Some(st)
                }
                _ => None,
            };
        }
        st.waiters += 1;
        st.seen = st.gen;
        let (mut st, _) = self
            .cv
            .wait_timeout(st, WAITER_TICK)
            .unwrap_or_else(|e| e.into_inner());
        st.waiters -= 1;
        st.seen = st.gen;
        // Tell a main thread waiting in `netdev_receive` that we ran.
        self.cv.notify_all();
        Some(st)
    }

    /// Run `op` until it stops saying EAGAIN, sleeping in between when the descriptor is
    /// blocking (per `O_NONBLOCK`, `MSG_DONTWAIT`, and `SO_RCVTIMEO`/`SO_SNDTIMEO`).
    fn blocking<R>(
        &self,
        fd: i32,
        dir: Direction,
        dontwait: bool,
        mut op: impl FnMut(&mut State, i32) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let mut st = self.lock();
        let nfd = st.netfd(fd)?;
        let start = st.now;
        #[cfg(test)]
        let mut slept = false;
        loop {
            st.settle();
            let r = op(&mut st, nfd);
            st.settle();
            if self.on_main() {
                self.kick(&mut st);
            }
            if !matches!(r, Err(Errno::EAGAIN)) {
                #[cfg(test)]
                if slept {
                    st.woken_done_at = Some(EPOCH_US + st.now);
                }
                return r;
            }
            let info = st.net.wait_info(&st.fds, nfd, dir)?;
            if info.nonblocking || dontwait {
                return r;
            }
            let deadline = info
                .timeout
                .map(|d| start + u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 4));
            if deadline.is_some_and(|d| st.now >= d) {
                return r;
            }
            match self.sleep(st, deadline, start) {
                Some(g) => {
                    st = g;
                    #[cfg(test)]
                    {
                        slept = true;
                    }
                }
                None => {
                    eprintln!(
                        "pdshim: a blocking call on packetdrill's main thread can never complete"
                    );
                    return r;
                }
            }
        }
    }

    /// When a blocking call that had slept last completed (virtual µs since the epoch).
    #[cfg(test)]
    pub fn woken_done_at(&self) -> Option<u64> {
        self.lock().woken_done_at
    }

    /// Before virtual time moves on, let a blocked call that a change has woken (and that has
    /// not run since) retry at the current instant, within [`WAITER_GRACE`] of wall time.
    fn let_waiters_run<'a>(&'a self, mut st: Guard<'a>) -> Guard<'a> {
        let mut waited = WallDuration::ZERO;
        while st.waiters > 0 && st.seen != st.gen && waited < WAITER_GRACE {
            let step = WallDuration::from_millis(10);
            st = self
                .cv
                .wait_timeout(st, step)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            waited += step;
        }
        st
    }

    /// Run a non-blocking call under the lock, then let the stack settle.
    fn call<R>(&self, op: impl FnOnce(&mut State) -> Result<R, Errno>) -> Result<R, Errno> {
        let mut st = self.lock();
        st.settle();
        let r = op(&mut st);
        st.settle();
        self.kick(&mut st);
        r
    }

    // ---- time -------------------------------------------------------------------------

    /// `gettimeofday`: the virtual clock (µs since the epoch), advanced by 1 µs per call.
    pub fn gettimeofday(&self) -> u64 {
        let mut st = self.let_waiters_run(self.lock());
        let target = st.now + 1;
        if st.advance_to(target) {
            self.kick(&mut st);
        }
        EPOCH_US + st.now
    }

    /// `usleep`: advance the clock, firing timers in order.
    pub fn usleep(&self, usec: u64) {
        let mut st = self.let_waiters_run(self.lock());
        let target = st.now.saturating_add(usec);
        st.advance_to(target);
        self.kick(&mut st);
    }

    // ---- packets ----------------------------------------------------------------------

    /// `netdev_send`: a datagram from packetdrill's peer, processed at once.
    pub fn netdev_send(&self, datagram: &[u8]) -> Result<(), Errno> {
        let mut st = self.lock();
        if datagram.first().map(|b| b >> 4) != Some(4) {
            // Only IPv4 is configured; an IPv6 packet would be silently dropped anyway.
            return Err(Errno::EAFNOSUPPORT);
        }
        st.settle();
        let queued = st.link.inject(datagram);
        st.settle();
        self.kick(&mut st);
        if queued {
            Ok(())
        } else {
            Err(Errno::ENOBUFS)
        }
    }

    /// `netdev_receive`: the oldest datagram the stack emitted and its time (virtual µs
    /// since the epoch), or `None` when no packet comes within the horizon.
    pub fn netdev_receive(&self) -> Option<(u64, Vec<u8>)> {
        let mut st = self.lock();
        let give_up = st.now.saturating_add(RECEIVE_HORIZON_US);
        for _ in 0..MAX_TIMER_STEPS {
            st.settle();
            if let Some((t, d)) = st.link.pop() {
                return Some((EPOCH_US + t, d));
            }
            // A blocked call woken by what we did may be about to send: let it run first.
            st = self.let_waiters_run(st);
            if let Some((t, d)) = st.link.pop() {
                return Some((EPOCH_US + t, d));
            }
            match st.next_timer() {
                Some(t) if t <= give_up => {
                    let t = t.max(st.now + 1);
                    st.advance_to(t);
                    self.kick(&mut st);
                }
                _ => return None,
            }
        }
        None
    }
}
