//! `epoll_create` / `epoll_ctl` / `epoll_wait` over rinet's socket readiness.
//!
//! Owns the interest lists only; readiness comes from `NetSys::poll_fd`, and "something
//! happened on this socket" from rinet's wait-queue wakeups (`NetSys::take_woken`), which is
//! what edge-triggered interests report on, as Linux's `ep_poll_callback` does: an ET
//! interest is reported once after it is added or modified if ready, then again only after
//! its socket was woken (data arrived, space freed, state changed) and is ready.
//! `EPOLLONESHOT` disables an interest after one report until `EPOLL_CTL_MOD`.

use std::collections::{BTreeMap, BTreeSet};

use net::Errno;

/// `EPOLL_CTL_*`.
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;
/// `EPOLLET`.
pub const EPOLLET: u32 = 1 << 31;
/// `EPOLLONESHOT`.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// Always reported when present, whether asked for or not.
const EPOLLERR: u32 = 0x008;
const EPOLLHUP: u32 = 0x010;
/// Readiness bits that `poll` and `epoll` share (IN, PRI, OUT, ERR, HUP, RDHUP).
const EVENT_BITS: u32 = 0x001 | 0x002 | 0x004 | EPOLLERR | EPOLLHUP | 0x2000;
/// Interests one epoll instance holds: one per socket at most, and sockets are bounded by the
/// descriptor limit.
pub const MAX_INTERESTS: usize = net::sockfs::DEFAULT_FD_LIMIT;

/// One registered descriptor.
#[derive(Debug, Clone)]
pub struct Interest {
    /// rinet descriptor of the socket.
    pub nfd: i32,
    /// The socket's wait key (what rinet's wakeups name).
    pub key: u64,
    pub events: u32,
    pub data: u64,
    /// Woken (or just added/modified) since the last report: an ET interest may fire.
    pub pending: bool,
    /// A `EPOLLONESHOT` interest already reported.
    pub disabled: bool,
}

/// One epoll instance: real descriptor → interest.
#[derive(Debug, Default)]
pub struct Epoll {
    pub interests: BTreeMap<i32, Interest>,
}

impl Epoll {
    /// `epoll_ctl` on this instance. `ev` is (events, data), required for ADD and MOD.
    pub fn ctl(
        &mut self,
        op: i32,
        fd: i32,
        target: Option<(i32, u64)>,
        ev: Option<(u32, u64)>,
    ) -> Result<(), Errno> {
        match op {
            EPOLL_CTL_ADD | EPOLL_CTL_MOD => {
                let (events, data) = ev.ok_or(Errno::EFAULT)?;
                let (nfd, key) = target.ok_or(Errno::EPERM)?;
                let exists = self.interests.contains_key(&fd);
                if op == EPOLL_CTL_ADD && exists {
                    return Err(Errno::EEXIST);
                }
                if op == EPOLL_CTL_MOD && !exists {
                    return Err(Errno::ENOENT);
                }
                if op == EPOLL_CTL_ADD && self.interests.len() >= MAX_INTERESTS {
                    return Err(Errno::ENOSPC);
                }
                self.interests.insert(
                    fd,
                    Interest {
                        nfd,
                        key,
                        events,
                        data,
                        pending: true,
                        disabled: false,
                    },
                );
                Ok(())
            }
            EPOLL_CTL_DEL => self.interests.remove(&fd).map(|_| ()).ok_or(Errno::ENOENT),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Note rinet's wakeups.
    pub fn woken(&mut self, keys: &BTreeSet<u64>) {
        for i in self.interests.values_mut() {
            if keys.contains(&i.key) {
                i.pending = true;
            }
        }
    }

    /// Up to `max` events, given each socket's readiness mask (`None`: the socket is gone).
    pub fn collect(&mut self, max: usize, mask_of: impl Fn(i32) -> Option<u32>) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for i in self.interests.values_mut() {
            if out.len() >= max {
                break;
            }
            if i.disabled {
                continue;
            }
            let Some(mask) = mask_of(i.nfd) else {
                continue;
            };
            let ready = mask & EVENT_BITS & (i.events | EPOLLERR | EPOLLHUP);
            if ready == 0 {
                continue;
            }
            if i.events & EPOLLET != 0 {
                if !i.pending {
                    continue;
                }
                i.pending = false;
            }
            if i.events & EPOLLONESHOT != 0 {
                i.disabled = true;
            }
            out.push((ready, i.data));
        }
        out
    }

    /// The socket behind real descriptor `fd` was closed: Linux drops it from every set.
    pub fn forget(&mut self, fd: i32) {
        self.interests.remove(&fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: u32 = 0x001;
    const OUT: u32 = 0x004;

    #[test]
    fn level_triggered_reports_while_ready() {
        let mut e = Epoll::default();
        e.ctl(EPOLL_CTL_ADD, 4, Some((1, 10)), Some((IN, 7)))
            .unwrap();
        assert_eq!(e.collect(8, |_| Some(IN | OUT)), [(IN, 7)]);
        assert_eq!(e.collect(8, |_| Some(IN | OUT)), [(IN, 7)]);
        assert!(e.collect(8, |_| Some(OUT)).is_empty());
    }

    #[test]
    fn edge_triggered_reports_once_per_wakeup_and_oneshot_once() {
        let mut e = Epoll::default();
        e.ctl(
            EPOLL_CTL_ADD,
            4,
            Some((1, 10)),
            Some((IN | OUT | EPOLLET, 4)),
        )
        .unwrap();
        assert_eq!(e.collect(8, |_| Some(OUT)), [(OUT, 4)]);
        assert!(e.collect(8, |_| Some(OUT)).is_empty(), "no new edge");
        e.woken(&BTreeSet::from([10]));
        assert_eq!(e.collect(8, |_| Some(IN | OUT)), [(IN | OUT, 4)]);
        assert!(e.collect(8, |_| Some(IN | OUT)).is_empty());

        e.ctl(
            EPOLL_CTL_MOD,
            4,
            Some((1, 10)),
            Some((IN | EPOLLONESHOT, 5)),
        )
        .unwrap();
        assert_eq!(e.collect(8, |_| Some(IN)), [(IN, 5)]);
        e.woken(&BTreeSet::from([10]));
        assert!(e.collect(8, |_| Some(IN)).is_empty(), "disabled until MOD");
    }

    #[test]
    fn ctl_errors_are_linuxs() {
        let mut e = Epoll::default();
        assert_eq!(
            e.ctl(EPOLL_CTL_MOD, 4, Some((1, 1)), Some((IN, 0))),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            e.ctl(EPOLL_CTL_DEL, 4, Some((1, 1)), None),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            e.ctl(EPOLL_CTL_ADD, 4, Some((1, 1)), None),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            e.ctl(EPOLL_CTL_ADD, 4, None, Some((IN, 0))),
            Err(Errno::EPERM)
        );
        e.ctl(EPOLL_CTL_ADD, 4, Some((1, 1)), Some((IN, 0)))
            .unwrap();
        assert_eq!(
            e.ctl(EPOLL_CTL_ADD, 4, Some((1, 1)), Some((IN, 0))),
            Err(Errno::EEXIST)
        );
        assert_eq!(e.ctl(9, 4, Some((1, 1)), Some((IN, 0))), Err(Errno::EINVAL));
        e.forget(4);
        assert_eq!(e.ctl(EPOLL_CTL_DEL, 4, None, None), Err(Errno::ENOENT));
    }
}
