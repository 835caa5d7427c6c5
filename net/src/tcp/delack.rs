//! When to acknowledge in-order data at once and when to delay (RFC 1122 §4.2.3.2, RFC 5681
//! §4.2): quick-ACK mode at the start of a connection and after an idle gap, the "every
//! second full-sized segment" rule measured against the peer's segment size, and the
//! interactive (ping-pong) mode where the ACK waits to ride on the reply.
//!
//! Owns these decisions only: it sets `ack_now` or arms `delack_at` and keeps the counters
//! they need; it never sends (output.rs does) and never touches the receive queue.

use super::tcb::Tcb;
use super::Shared;
use crate::time::Instant;

/// Most segments acknowledged at once in a quick-ACK period (Linux's TCP_MAX_QUICKACKS):
/// enough for a sender in slow start to grow its window without waiting on delayed ACKs.
pub const MAX_QUICKACKS: u32 = 16;

impl Tcb {
    /// In-order data was just queued for the application (not filling a hole):
    /// acknowledge it now or arm the delayed-ACK timer.
    pub(crate) fn ack_policy(&mut self, cx: &Shared, now: Instant) {
        match self.last_data_rcv {
            // The first data of the connection: quick-ACK so the sender's slow start is not
            // paced by our delayed-ACK timer.
            None => self.enter_quickack(),
            // A long silence (more than an RTO): the sender restarts from a small window.
            Some(t) if now.saturating_since(t) > self.rto => self.enter_quickack(),
            Some(_) => {}
        }
        self.last_data_rcv = Some(now);
        let quick = self.quickacks > 0 && !self.pingpong;
        // More than one full-sized segment unacknowledged: RFC 5681's "at least every
        // second full-sized segment", with the size learnt from what the peer sends.
        if quick || self.unacked_bytes > self.rcv_mss {
            self.ack_now = true;
        } else if self.delack_at.is_none() {
            self.delack_at = Some(now + cx.config.delayed_ack);
        }
    }

    /// Start (or extend) a quick-ACK period: one ACK per segment for about half the free
    /// receive buffer's worth of segments, at least 2, at most [`MAX_QUICKACKS`]. (The buffer,
    /// not the window advertised so far: a window that starts small and grows with the data
    /// would otherwise end the period after a couple of segments.)
    fn enter_quickack(&mut self) {
        let room = u32::try_from(self.recv_space()).unwrap_or(u32::MAX);
        let n = (room / (2 * self.rcv_mss.max(1))).clamp(2, MAX_QUICKACKS);
        self.quickacks = self.quickacks.max(n);
    }

    /// An ACK went out: one fewer quick ACK left.
    pub(crate) fn on_ack_sent(&mut self) {
        self.quickacks = self.quickacks.saturating_sub(1);
    }

    /// We sent data: if it answers data received within the delayed-ACK time, the exchange
    /// is interactive and ACKs wait to ride on replies (ping-pong mode).
    pub(crate) fn on_data_sent(&mut self, cx: &Shared, now: Instant) {
        if self
            .last_data_rcv
            .is_some_and(|t| now.saturating_since(t) < cx.config.delayed_ack)
        {
            self.pingpong = true;
        }
    }

    /// TCP_QUICKACK: `true` sends a delayed ACK at once and leaves ping-pong mode; `false`
    /// enters ping-pong mode (ACKs wait for a reply or the timer).
    pub(crate) fn set_quickack(&mut self, on: bool) {
        self.pingpong = !on;
        if on && self.delack_at.is_some() {
            self.ack_now = true;
        }
    }

    /// The delayed-ACK timer fired: in ping-pong mode no reply came to carry the ACK, so the
    /// exchange is not interactive after all.
    pub(crate) fn on_delack_timeout(&mut self) {
        self.pingpong = false;
    }
}
