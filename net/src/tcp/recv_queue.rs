//! A connection's receive queue: in-order bytes waiting for the application.
//!
//! Most data is copied in, into a byte ring that grows to exactly the window it was promised
//! (see `memory`). A large segment that arrived in a frame the device handed over whole (a
//! super-segment from a link with segmentation and receive offloads) is kept in that frame
//! instead ("adopted"), so its payload is copied once, into the application's buffer, not
//! twice. Order is kept: the ring holds the oldest bytes, adopted frames follow, and bytes
//! copied in behind a frame go into small runs after it.
//!
//! Owns the bytes only; TCP decides what to queue, and what reading them means for the
//! window.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::errno::Errno;
use crate::recvbuf::RecvBuf;

/// A run of queued bytes after the ring: `buf[start..end]`.
#[derive(Debug)]
struct Chunk {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Its frame is still to come ([`RecvQueue::fill_adopted`]); `end - start` bytes long.
    pending: bool,
}

impl Chunk {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Memory for received bytes could not be had: the segment is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfMemory;

/// Smallest run allocated for bytes copied in behind an adopted frame.
const COPY_RUN: usize = 4096;

/// In-order received bytes: a ring, then adopted frames and the runs behind them.
#[derive(Debug, Default)]
pub(crate) struct RecvQueue {
    ring: VecDeque<u8>,
    chunks: VecDeque<Chunk>,
    /// Bytes in `chunks`.
    chunk_bytes: usize,
    /// Capacity of the buffers in `chunks`.
    chunk_capacity: usize,
}

impl RecvQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes queued.
    #[inline]
    pub fn len(&self) -> usize {
        self.ring.len() + self.chunk_bytes
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory the queue holds.
    pub fn capacity(&self) -> usize {
        self.ring.capacity() + self.chunk_capacity
    }

    /// Copy `data` in behind what is queued. When the ring must grow it grows to `promise`
    /// bytes in all (the unread bytes plus the window advertised), exactly, never by doubling.
    /// `Err` (nothing queued) when memory for it cannot be had.
    #[inline]
    pub fn push(&mut self, data: &[u8], promise: usize) -> Result<(), OutOfMemory> {
        if self.chunks.is_empty() {
            let need = self.ring.len() + data.len();
            if need > self.ring.capacity() {
                let len = self.ring.len();
                if self
                    .ring
                    .try_reserve_exact(promise.max(need) - len)
                    .is_err()
                {
                    // The whole promise at once failed: what this segment needs may not.
                    self.ring
                        .try_reserve_exact(need - len)
                        .map_err(|_| OutOfMemory)?;
                }
            }
            self.ring.extend(data);
            return Ok(());
        }
        self.push_behind(data)
    }

    /// [`Self::push`] behind an adopted frame: into the last run's spare room, or a new run.
    fn push_behind(&mut self, data: &[u8]) -> Result<(), OutOfMemory> {
        if data.is_empty() {
            return Ok(());
        }
        if let Some(last) = self.chunks.back_mut() {
            if !last.pending
                && last.end == last.buf.len()
                && last.buf.capacity() - last.buf.len() >= data.len()
            {
                last.buf.extend_from_slice(data);
                last.end += data.len();
                self.chunk_bytes += data.len();
                return Ok(());
            }
        }
        let mut buf = Vec::new();
        buf.try_reserve_exact(data.len().max(COPY_RUN))
            .map_err(|_| OutOfMemory)?;
        self.chunks.try_reserve(1).map_err(|_| OutOfMemory)?;
        buf.extend_from_slice(data);
        self.chunk_capacity += buf.capacity();
        self.chunk_bytes += data.len();
        self.chunks.push_back(Chunk {
            end: data.len(),
            buf,
            start: 0,
            pending: false,
        });
        Ok(())
    }

    /// Queue `len` bytes whose frame [`Self::fill_adopted`] hands over next (before any read).
    pub fn push_adopted(&mut self, len: usize) {
        self.chunk_bytes += len;
        self.chunks.push_back(Chunk {
            buf: Vec::new(),
            start: 0,
            end: len,
            pending: true,
        });
    }

    /// Give the pending adopted run its frame: its bytes are `frame[start..start + len]`.
    /// Returns the frame back when no run is pending or the range does not fit it.
    pub fn fill_adopted(&mut self, frame: Vec<u8>, start: usize) -> Result<(), Vec<u8>> {
        let Some(c) = self.chunks.iter_mut().rev().find(|c| c.pending) else {
            return Err(frame);
        };
        let len = c.len();
        if start.checked_add(len).is_none_or(|e| e > frame.len()) {
            return Err(frame);
        }
        self.chunk_capacity += frame.capacity();
        c.buf = frame;
        c.start = start;
        c.end = start + len;
        c.pending = false;
        Ok(())
    }

    /// Drop an adopted run whose frame never came (its bytes are lost: the caller resets
    /// the connection).
    pub fn cancel_adopted(&mut self) {
        if let Some(i) = self.chunks.iter().position(|c| c.pending) {
            if let Some(c) = self.chunks.remove(i) {
                self.chunk_bytes -= c.len();
            }
        }
    }

    /// Copy the oldest bytes into `out` without consuming them; returns how many.
    #[cfg(test)]
    pub fn copy_out(&self, out: &mut [u8]) -> usize {
        // A slice takes every piece: no error can stop the copy.
        self.copy_out_to(out).0
    }

    /// Copy the oldest bytes into `out` without consuming them, piece by piece: how many,
    /// and the error that stopped the copy early (a program's buffer that went away).
    pub fn copy_out_to<B: RecvBuf + ?Sized>(&self, out: &mut B) -> (usize, Option<Errno>) {
        let n = out.len().min(self.len());
        let mut done = 0;
        let (a, b) = self.ring.as_slices();
        // Bytes whose frame is still to come (never seen by a reader: `Tcp::adopt` fills
        // them in the same call that queued them) end what can be read.
        let ready = self.chunks.iter().take_while(|c| !c.pending);
        for part in [a, b]
            .into_iter()
            .chain(ready.map(|c| &c.buf[c.start..c.end]))
        {
            if done == n {
                break;
            }
            let k = part.len().min(n - done);
            if k == 0 {
                continue;
            }
            if let Err(e) = out.put(done, &part[..k]) {
                return (done, Some(e));
            }
            done += k;
        }
        (done, None)
    }

    /// Discard the oldest `n` bytes (at most what is queued).
    #[inline]
    pub fn consume(&mut self, n: usize) {
        let from_ring = n.min(self.ring.len());
        self.ring.drain(..from_ring);
        if n > from_ring {
            self.consume_chunks(n - from_ring);
        }
    }

    fn consume_chunks(&mut self, n: usize) {
        let mut left = n;
        while left > 0 {
            let Some(c) = self.chunks.front_mut() else {
                break;
            };
            let k = left.min(c.len());
            c.start += k;
            left -= k;
            self.chunk_bytes -= k;
            if c.start == c.end && !c.pending {
                self.chunk_capacity -= c.buf.capacity();
                self.chunks.pop_front();
            }
        }
    }

    /// Under memory pressure: an empty ring frees its buffer, a mostly empty one shrinks to
    /// twice its contents.
    pub fn reclaim(&mut self, floor: usize) {
        let q = &mut self.ring;
        if q.is_empty() {
            if q.capacity() > 0 {
                *q = VecDeque::new();
            }
        } else if q.capacity() > 4 * q.len().max(floor) {
            q.shrink_to(2 * q.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn read_all(q: &mut RecvQueue) -> Vec<u8> {
        let mut out = vec![0u8; q.len()];
        let n = q.copy_out(&mut out);
        assert_eq!(n, out.len());
        q.consume(n);
        assert!(q.is_empty());
        out
    }

    #[test]
    fn copied_and_adopted_bytes_come_out_in_order() {
        let mut q = RecvQueue::new();
        q.push(b"abc", 16).unwrap();
        assert_eq!(q.capacity(), 16);
        q.push_adopted(4);
        // Bytes arriving behind the frame before it is handed over.
        q.push(b"xyz", 16).unwrap();
        let mut frame = b"HEADER".to_vec();
        frame.extend_from_slice(b"defg");
        frame.extend_from_slice(b"pad");
        q.fill_adopted(frame, 6).unwrap();
        q.push(b"!", 16).unwrap();
        assert_eq!(q.len(), 11);
        // A partial read across the ring and the frame.
        let mut part = [0u8; 5];
        assert_eq!(q.copy_out(&mut part), 5);
        assert_eq!(&part, b"abcde");
        q.consume(5);
        assert_eq!(read_all(&mut q), b"fgxyz!");
        // Every run was freed.
        assert_eq!(q.capacity(), 16);
    }

    /// Takes `room` bytes, then fails (a program's buffer whose pages went away).
    struct Refusing {
        room: usize,
        got: Vec<u8>,
    }

    impl RecvBuf for Refusing {
        fn len(&self) -> usize {
            64
        }
        fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno> {
            assert_eq!(at, self.got.len());
            if at + bytes.len() > self.room {
                return Err(Errno::EFAULT);
            }
            self.got.extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn a_copy_stopped_by_its_buffer_reports_the_pieces_before_it() {
        let mut q = RecvQueue::new();
        q.push(b"abc", 16).unwrap();
        q.push_adopted(4);
        q.fill_adopted(b"defg".to_vec(), 0).unwrap();
        let mut out = Refusing {
            room: 5,
            got: Vec::new(),
        };
        assert_eq!(q.copy_out_to(&mut out), (3, Some(Errno::EFAULT)));
        assert_eq!(out.got, b"abc");
        assert_eq!(q.len(), 7, "nothing consumed");
        let mut all = Refusing {
            room: 64,
            got: Vec::new(),
        };
        assert_eq!(q.copy_out_to(&mut all), (7, None));
        assert_eq!(all.got, b"abcdefg");
    }

    /// One step against the queue: copy bytes in, adopt a frame (some bytes may arrive behind
    /// it before it is handed over), or read some out.
    #[derive(Debug, Clone)]
    enum Step {
        Push(usize),
        Adopt {
            len: usize,
            head: usize,
            tail: usize,
            behind: usize,
        },
        Read(usize),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (1usize..3000).prop_map(Step::Push),
            (1usize..20_000, 0usize..64, 0usize..64, 0usize..2000).prop_map(
                |(len, head, tail, behind)| Step::Adopt {
                    len,
                    head,
                    tail,
                    behind
                }
            ),
            (1usize..30_000).prop_map(Step::Read),
        ]
    }

    proptest::proptest! {
        /// Whatever the mix of copied and adopted bytes and reads, what comes out is the
        /// stream that went in, in order, and `len` always says what is queued.
        #[test]
        fn the_queue_is_a_byte_stream(steps in proptest::collection::vec(step(), 1..60)) {
            let mut q = RecvQueue::new();
            let mut model: alloc::collections::VecDeque<u8> = Default::default();
            let mut next = 0u32;
            let mut bytes = |n: usize| -> Vec<u8> {
                (0..n).map(|_| { next = next.wrapping_add(1); (next % 251) as u8 }).collect()
            };
            for s in steps {
                match s {
                    Step::Push(n) => {
                        let b = bytes(n);
                        q.push(&b, n).unwrap();
                        model.extend(&b);
                    }
                    Step::Adopt { len, head, tail, behind } => {
                        let payload = bytes(len);
                        q.push_adopted(len);
                        model.extend(&payload);
                        let after = bytes(behind);
                        q.push(&after, 0).unwrap();
                        model.extend(&after);
                        let mut frame = vec![0xee; head];
                        frame.extend_from_slice(&payload);
                        frame.extend(core::iter::repeat_n(0xdd, tail));
                        proptest::prop_assert!(q.fill_adopted(frame, head).is_ok());
                    }
                    Step::Read(n) => {
                        let mut out = vec![0u8; n];
                        let got = q.copy_out(&mut out);
                        q.consume(got);
                        let want: Vec<u8> = model.drain(..got.min(model.len())).collect();
                        proptest::prop_assert_eq!(&out[..got], &want[..]);
                    }
                }
                proptest::prop_assert_eq!(q.len(), model.len());
            }
            let mut rest = vec![0u8; q.len()];
            let n = q.copy_out(&mut rest);
            q.consume(n);
            proptest::prop_assert_eq!(rest, model.into_iter().collect::<Vec<u8>>());
            proptest::prop_assert!(q.is_empty());
            proptest::prop_assert_eq!(q.chunk_capacity, 0);
        }
    }

    #[test]
    fn an_adopted_range_outside_the_frame_is_refused() {
        let mut q = RecvQueue::new();
        assert!(q.fill_adopted(vec![1, 2, 3], 0).is_err(), "nothing pending");
        q.push_adopted(4);
        assert!(q.fill_adopted(vec![1, 2, 3], 0).is_err());
        assert!(q.fill_adopted(vec![1, 2, 3, 4, 5], 2).is_err());
        q.cancel_adopted();
        assert!(q.is_empty());
    }
}
