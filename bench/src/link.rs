//! The in-memory Ethernet link: two queues of frames (client → server, server → client), no
//! loss, no delay, no reordering, with recycled frame buffers so the link itself allocates
//! nothing in steady state.
//!
//! Owns frame movement only; it never parses a frame. Queues are unbounded: the harness is
//! the only producer and both stacks bound their own flights by window (at most a few
//! thousand frames with 8 × 256 KiB windows).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::Side;

#[derive(Default)]
struct Inner {
    /// Index 0: frames towards the server; 1: towards the client.
    queues: [VecDeque<Vec<u8>>; 2],
    pool: Vec<Vec<u8>>,
    frames: u64,
    bytes: u64,
    /// Frames taken by receivers.
    taken: u64,
}

/// Frame buffers kept for reuse; more are freed.
const POOL_MAX: usize = 4096;

/// A point-to-point link; clone it to share.
#[derive(Clone, Default)]
pub struct Link {
    inner: Rc<RefCell<Inner>>,
}

fn towards(from: Side) -> usize {
    match from {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl Link {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queue a frame sent by `from`, built by `fill` into a buffer of `len` bytes.
    pub fn send_with<R>(&self, from: Side, len: usize, fill: impl FnOnce(&mut [u8]) -> R) -> R {
        let mut buf = self.inner.borrow_mut().pool.pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        let r = fill(&mut buf);
        let mut i = self.inner.borrow_mut();
        i.frames += 1;
        i.bytes += len as u64;
        i.queues[towards(from)].push_back(buf);
        r
    }

    /// Queue `frame` (a whole frame, moved, not copied) sent by `from`; returns an empty
    /// buffer from the pool (or a new empty one) for the sender to reuse.
    pub fn send_owned(&self, from: Side, frame: Vec<u8>) -> Vec<u8> {
        let mut i = self.inner.borrow_mut();
        i.frames += 1;
        i.bytes += frame.len() as u64;
        i.queues[towards(from)].push_back(frame);
        let mut spare = i.pool.pop().unwrap_or_default();
        spare.clear();
        spare
    }

    /// Take the next frame addressed to `to`.
    pub fn take(&self, to: Side) -> Option<Vec<u8>> {
        let from = match to {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let mut i = self.inner.borrow_mut();
        let f = i.queues[towards(from)].pop_front();
        i.taken += u64::from(f.is_some());
        f
    }

    /// Return a frame buffer for reuse.
    pub fn recycle(&self, buf: Vec<u8>) {
        let mut i = self.inner.borrow_mut();
        if i.pool.len() < POOL_MAX {
            i.pool.push(buf);
        }
    }

    /// Frames in flight in either direction.
    pub fn in_flight(&self) -> usize {
        let i = self.inner.borrow();
        i.queues[0].len() + i.queues[1].len()
    }

    /// Frames carried since creation.
    pub fn frames(&self) -> u64 {
        self.inner.borrow().frames
    }

    /// Frames sent plus frames received since creation: changes whenever the link did work.
    pub fn activity(&self) -> u64 {
        let i = self.inner.borrow();
        i.frames + i.taken
    }

    /// Bytes (whole frames) carried since creation.
    pub fn bytes(&self) -> u64 {
        self.inner.borrow().bytes
    }
}
