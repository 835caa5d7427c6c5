//! epoll's bookkeeping (epoll(7)): one instance's interest list and the state machine that
//! decides which watched files a wait reports, with level triggering, edge triggering
//! (`EPOLLET`) and `EPOLLONESHOT`. No time, no sleeping and no readiness source: the kernel
//! takes a [`Epoll::snapshot`] of the live watched files, measures each one's readiness
//! (a poll mask and a *change token*: any number that moves whenever the file's state may have
//! changed, the kernel's wait-key generation) without holding the instance, and hands the
//! measurements to [`Epoll::report`], which applies the rules and returns the events.
//!
//! Owns: `epoll_ctl`'s checks on the event mask (`EINVAL` for `EPOLLEXCLUSIVE` where Linux
//! refuses it), the interest list keyed as Linux keys it, by descriptor number *and* open file
//! (`EEXIST`, `ENOENT`), its bound (`ENOSPC` past [`Epoll::limit`]), and forgetting a file when
//! its last reference goes (items hold `Weak` references: closing the last descriptor of a file
//! removes it, as Linux does in `eventpoll_release`).
//!
//! Edge triggering: an `EPOLLET` item is reported when it is ready and either its change token
//! moved since its last report or a requested bit became ready that was not ready then. A
//! token shared with other files (a hashed generation) can only cause an extra report, never a
//! lost one; Linux may also report an edge-triggered file again after unrelated wakeups.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::errno::Errno;
use crate::file::OpenFile;

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLPRI: u32 = 0x002;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLNVAL: u32 = 0x020;
pub const EPOLLRDNORM: u32 = 0x040;
pub const EPOLLRDBAND: u32 = 0x080;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLWRBAND: u32 = 0x200;
pub const EPOLLMSG: u32 = 0x400;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// `epoll_ctl` operations.
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

/// `epoll_create1`'s only flag (= `O_CLOEXEC`).
pub const EPOLL_CLOEXEC: u32 = crate::flags::O_CLOEXEC;

/// Size of `struct epoll_event` on x86-64: packed, `u32 events` then `u64 data`.
pub const EPOLL_EVENT_SIZE: usize = 12;

/// The bits `EPOLLEXCLUSIVE` may come with (Linux's `EPOLLEXCLUSIVE_OK_BITS`).
const EXCLUSIVE_OK: u32 =
    EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// Reported whether asked for or not.
const ALWAYS: u32 = EPOLLERR | EPOLLHUP;

/// One `struct epoll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpollEvent {
    pub events: u32,
    pub data: u64,
}

impl EpollEvent {
    /// The packed x86-64 layout.
    pub fn to_bytes(self) -> [u8; EPOLL_EVENT_SIZE] {
        let mut b = [0u8; EPOLL_EVENT_SIZE];
        b[..4].copy_from_slice(&self.events.to_ne_bytes());
        b[4..].copy_from_slice(&self.data.to_ne_bytes());
        b
    }

    pub fn from_bytes(b: [u8; EPOLL_EVENT_SIZE]) -> EpollEvent {
        EpollEvent {
            events: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            data: u64::from_ne_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]),
        }
    }
}

/// One watched (descriptor, open file).
struct Item {
    id: u64,
    fd: i32,
    file: Weak<OpenFile>,
    events: u32,
    data: u64,
    /// `EPOLLONESHOT` item already reported: nothing more until `EPOLL_CTL_MOD`.
    disarmed: bool,
    /// Edge triggering: the token and the ready bits at the last report.
    last: Option<(u64, u32)>,
}

impl Item {
    fn is(&self, fd: i32, file: &Arc<OpenFile>) -> bool {
        self.fd == fd && core::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }
}

/// One readiness measurement for [`Epoll::report`]: the item, its poll mask, its change token.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub id: u64,
    pub mask: u32,
    pub token: u64,
}

/// One epoll instance's interest list.
pub struct Epoll {
    items: Vec<Item>,
    limit: usize,
    next_id: u64,
    /// Where the next report starts, so a small `maxevents` still serves every item in turn.
    cursor: usize,
}

/// Check an event mask for `op` (Linux's `epoll_ctl` rules for `EPOLLEXCLUSIVE`).
fn check_events(op: i32, events: u32, target_is_epoll: bool) -> Result<(), Errno> {
    let exclusive = events & EPOLLEXCLUSIVE != 0;
    if exclusive && (op == EPOLL_CTL_MOD || events & !EXCLUSIVE_OK != 0 || target_is_epoll) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl Epoll {
    /// An empty instance watching at most `limit` files.
    pub fn new(limit: usize) -> Epoll {
        Epoll {
            items: Vec::new(),
            limit,
            next_id: 1,
            cursor: 0,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Watched files still open.
    pub fn len(&mut self) -> usize {
        self.prune();
        self.items.len()
    }

    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// Forget items whose file is gone.
    fn prune(&mut self) {
        self.items.retain(|i| i.file.strong_count() > 0);
    }

    /// `EPOLL_CTL_ADD`/`MOD`/`DEL` of descriptor `fd` naming `file` (the kernel checked the
    /// descriptors and that `file` can be watched). `target_is_epoll`: `file` is an epoll
    /// instance (no `EPOLLEXCLUSIVE` on those).
    pub fn ctl(
        &mut self,
        op: i32,
        fd: i32,
        file: &Arc<OpenFile>,
        event: EpollEvent,
        target_is_epoll: bool,
    ) -> Result<(), Errno> {
        self.prune();
        let at = self.items.iter().position(|i| i.is(fd, file));
        match op {
            EPOLL_CTL_ADD => {
                check_events(op, event.events, target_is_epoll)?;
                if at.is_some() {
                    return Err(Errno::EEXIST);
                }
                if self.items.len() >= self.limit {
                    return Err(Errno::ENOSPC);
                }
                self.items.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
                let id = self.next_id;
                self.next_id += 1;
                self.items.push(Item {
                    id,
                    fd,
                    file: Arc::downgrade(file),
                    events: event.events,
                    data: event.data,
                    disarmed: false,
                    last: None,
                });
                Ok(())
            }
            EPOLL_CTL_MOD => {
                check_events(op, event.events, target_is_epoll)?;
                let item = &mut self.items[at.ok_or(Errno::ENOENT)?];
                if item.events & EPOLLEXCLUSIVE != 0 {
                    return Err(Errno::EINVAL);
                }
                item.events = event.events;
                item.data = event.data;
                item.disarmed = false;
                item.last = None;
                Ok(())
            }
            EPOLL_CTL_DEL => {
                self.items.remove(at.ok_or(Errno::ENOENT)?);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The live watched files that can report something, with their item ids, for the
    /// kernel to measure (disarmed one-shot items are left out).
    pub fn snapshot(&mut self) -> Result<Vec<(u64, Arc<OpenFile>)>, Errno> {
        self.prune();
        let mut out = Vec::new();
        out.try_reserve_exact(self.items.len())
            .map_err(|_| Errno::ENOMEM)?;
        out.extend(
            self.items
                .iter()
                .filter(|i| !i.disarmed)
                .filter_map(|i| Some((i.id, i.file.upgrade()?))),
        );
        Ok(out)
    }

    /// Whether any measured item would be reported (level view, no state change): an epoll
    /// instance's own readiness when it is itself watched or polled.
    pub fn any_ready(&self, measured: &[Measured]) -> bool {
        measured.iter().any(|m| {
            self.items
                .iter()
                .find(|i| i.id == m.id)
                .is_some_and(|i| !i.disarmed && m.mask & (i.events | ALWAYS) != 0)
        })
    }

    /// Apply the rules to `measured` and return at most `max` events, updating edge and
    /// one-shot state for the items reported.
    pub fn report(&mut self, measured: &[Measured], max: usize) -> Vec<EpollEvent> {
        let mut out = Vec::new();
        if max == 0 || measured.is_empty() {
            return out;
        }
        let _ = out.try_reserve_exact(max.min(measured.len()));
        let n = measured.len();
        let start = self.cursor % n;
        let mut last_reported = None;
        for k in 0..n {
            if out.len() >= max || out.len() == out.capacity() {
                break;
            }
            let m = measured[(start + k) % n];
            let Some(item) = self.items.iter_mut().find(|i| i.id == m.id) else {
                continue;
            };
            if item.disarmed {
                continue;
            }
            let ready = m.mask & (item.events | ALWAYS);
            if ready == 0 {
                continue;
            }
            if item.events & EPOLLET != 0 {
                if let Some((token, bits)) = item.last {
                    if token == m.token && ready & !bits == 0 {
                        continue;
                    }
                }
                item.last = Some((m.token, ready));
            }
            if item.events & EPOLLONESHOT != 0 {
                item.disarmed = true;
            }
            out.push(EpollEvent {
                events: ready,
                data: item.data,
            });
            last_reported = Some((start + k) % n);
        }
        if let Some(i) = last_reported {
            self.cursor = i + 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eventfd::eventfd2;

    fn file() -> Arc<OpenFile> {
        eventfd2(0, 0).unwrap()
    }

    fn ev(events: u32, data: u64) -> EpollEvent {
        EpollEvent { events, data }
    }

    /// Measure every item with the same mask and token.
    fn wait(ep: &mut Epoll, mask: u32, token: u64, max: usize) -> Vec<EpollEvent> {
        let m: Vec<Measured> = ep
            .snapshot()
            .unwrap()
            .iter()
            .map(|(id, _)| Measured {
                id: *id,
                mask,
                token,
            })
            .collect();
        ep.report(&m, max)
    }

    #[test]
    fn ctl_errors_follow_linux() {
        let mut ep = Epoll::new(2);
        let (a, b, c) = (file(), file(), file());
        assert_eq!(
            ep.ctl(EPOLL_CTL_MOD, 3, &a, ev(EPOLLIN, 0), false),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            ep.ctl(EPOLL_CTL_DEL, 3, &a, ev(0, 0), false),
            Err(Errno::ENOENT)
        );
        ep.ctl(EPOLL_CTL_ADD, 3, &a, ev(EPOLLIN, 0), false).unwrap();
        assert_eq!(
            ep.ctl(EPOLL_CTL_ADD, 3, &a, ev(EPOLLIN, 0), false),
            Err(Errno::EEXIST)
        );
        // The same file under another descriptor is another item.
        ep.ctl(EPOLL_CTL_ADD, 4, &a, ev(EPOLLIN, 0), false).unwrap();
        assert_eq!(
            ep.ctl(EPOLL_CTL_ADD, 5, &b, ev(EPOLLIN, 0), false),
            Err(Errno::ENOSPC)
        );
        assert_eq!(ep.ctl(9, 3, &a, ev(EPOLLIN, 0), false), Err(Errno::EINVAL));
        ep.ctl(EPOLL_CTL_DEL, 4, &a, ev(0, 0), false).unwrap();
        // EPOLLEXCLUSIVE: ADD only, with the allowed bits, never on an epoll.
        let x = EPOLLIN | EPOLLEXCLUSIVE;
        assert_eq!(
            ep.ctl(EPOLL_CTL_ADD, 5, &b, ev(x | EPOLLONESHOT, 0), false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ep.ctl(EPOLL_CTL_ADD, 5, &b, ev(x, 0), true),
            Err(Errno::EINVAL)
        );
        ep.ctl(EPOLL_CTL_ADD, 5, &b, ev(x, 0), false).unwrap();
        assert_eq!(
            ep.ctl(EPOLL_CTL_MOD, 5, &b, ev(EPOLLIN, 0), false),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ep.ctl(EPOLL_CTL_MOD, 3, &a, ev(x, 0), false),
            Err(Errno::EINVAL)
        );
        drop(c);
    }

    #[test]
    fn closing_the_last_reference_forgets_the_file() {
        let mut ep = Epoll::new(8);
        let a = file();
        ep.ctl(EPOLL_CTL_ADD, 3, &a, ev(EPOLLIN, 7), false).unwrap();
        let dup = a.clone();
        drop(a);
        assert_eq!(ep.len(), 1, "a duplicate keeps the file watched");
        drop(dup);
        assert_eq!(ep.len(), 0);
        assert!(wait(&mut ep, EPOLLIN, 0, 8).is_empty());
    }

    #[test]
    fn level_triggered_reports_while_ready() {
        let mut ep = Epoll::new(8);
        let a = file();
        ep.ctl(EPOLL_CTL_ADD, 3, &a, ev(EPOLLIN, 42), false)
            .unwrap();
        assert!(wait(&mut ep, EPOLLOUT, 1, 8).is_empty(), "only asked bits");
        for _ in 0..3 {
            assert_eq!(wait(&mut ep, EPOLLIN | EPOLLOUT, 1, 8), [ev(EPOLLIN, 42)]);
        }
        // Errors and hangups are reported unasked.
        assert_eq!(wait(&mut ep, EPOLLHUP, 1, 8), [ev(EPOLLHUP, 42)]);
    }

    #[test]
    fn edge_triggered_reports_once_per_change() {
        let mut ep = Epoll::new(8);
        let a = file();
        ep.ctl(
            EPOLL_CTL_ADD,
            3,
            &a,
            ev(EPOLLIN | EPOLLOUT | EPOLLET, 1),
            false,
        )
        .unwrap();
        assert_eq!(wait(&mut ep, EPOLLOUT, 5, 8), [ev(EPOLLOUT, 1)]);
        assert!(wait(&mut ep, EPOLLOUT, 5, 8).is_empty());
        // A newly ready bit is an edge even with the same token.
        assert_eq!(
            wait(&mut ep, EPOLLOUT | EPOLLIN, 5, 8),
            [ev(EPOLLOUT | EPOLLIN, 1)]
        );
        assert!(wait(&mut ep, EPOLLOUT | EPOLLIN, 5, 8).is_empty());
        // A change of state (token) is an edge.
        assert_eq!(
            wait(&mut ep, EPOLLOUT | EPOLLIN, 6, 8),
            [ev(EPOLLOUT | EPOLLIN, 1)]
        );
        // Not ready: nothing, even after a change.
        assert!(wait(&mut ep, 0, 7, 8).is_empty());
        // MOD re-arms the edge.
        ep.ctl(EPOLL_CTL_MOD, 3, &a, ev(EPOLLIN | EPOLLET, 2), false)
            .unwrap();
        assert_eq!(wait(&mut ep, EPOLLIN, 6, 8), [ev(EPOLLIN, 2)]);
    }

    #[test]
    fn oneshot_disarms_until_mod() {
        let mut ep = Epoll::new(8);
        let a = file();
        ep.ctl(EPOLL_CTL_ADD, 3, &a, ev(EPOLLIN | EPOLLONESHOT, 9), false)
            .unwrap();
        assert_eq!(wait(&mut ep, EPOLLIN, 1, 8), [ev(EPOLLIN, 9)]);
        assert!(wait(&mut ep, EPOLLIN, 2, 8).is_empty());
        assert!(
            wait(&mut ep, EPOLLHUP, 3, 8).is_empty(),
            "disarmed means everything"
        );
        ep.ctl(EPOLL_CTL_MOD, 3, &a, ev(EPOLLIN | EPOLLONESHOT, 10), false)
            .unwrap();
        assert_eq!(wait(&mut ep, EPOLLIN, 2, 8), [ev(EPOLLIN, 10)]);
        assert!(wait(&mut ep, EPOLLIN, 2, 8).is_empty());
    }

    #[test]
    fn maxevents_serves_every_item_in_turn() {
        let mut ep = Epoll::new(8);
        let files: Vec<_> = (0..3).map(|_| file()).collect();
        for (i, f) in files.iter().enumerate() {
            ep.ctl(EPOLL_CTL_ADD, i as i32, f, ev(EPOLLIN, i as u64), false)
                .unwrap();
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            let got = wait(&mut ep, EPOLLIN, 0, 1);
            assert_eq!(got.len(), 1);
            seen.push(got[0].data);
        }
        seen.sort();
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!(wait(&mut ep, EPOLLIN, 0, 8).len(), 3);
    }

    #[test]
    fn event_layout_is_packed() {
        let e = ev(EPOLLIN | EPOLLET, 0x1122_3344_5566_7788);
        let b = e.to_bytes();
        assert_eq!(b.len(), 12);
        assert_eq!(&b[..4], &(EPOLLIN | EPOLLET).to_ne_bytes());
        assert_eq!(EpollEvent::from_bytes(b), e);
    }

    #[test]
    fn any_ready_is_level_and_ignores_disarmed() {
        let mut ep = Epoll::new(8);
        let a = file();
        ep.ctl(EPOLL_CTL_ADD, 3, &a, ev(EPOLLIN | EPOLLONESHOT, 0), false)
            .unwrap();
        let id = ep.snapshot().unwrap()[0].0;
        let m = [Measured {
            id,
            mask: EPOLLIN,
            token: 0,
        }];
        assert!(ep.any_ready(&m));
        assert_eq!(ep.report(&m, 4).len(), 1);
        assert!(!ep.any_ready(&m));
    }
}
