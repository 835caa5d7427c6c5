//! Proportional Rate Reduction (RFC 6937): how much a connection may send during SACK-based
//! fast recovery. Over the recovery, the data sent follows the data delivered scaled by
//! ssthresh / RecoverFS, so that the window comes down to ssthresh smoothly instead of in one
//! step (a silence of half a round trip) or not at all; once the pipe has fallen below
//! ssthresh, PRR-SSRB (slow-start reduction bound, the RFC's default) lets it grow back by at
//! most what was delivered plus one segment per ACK.
//!
//! Owns the PRR state of one recovery and the per-ACK sending allowance. It decides nothing
//! about loss and never sends: the ACK path feeds it, the output path spends its allowance.

/// PRR state of one fast recovery, all in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prr {
    /// Bytes delivered to the receiver since recovery began (RFC 6937 `prr_delivered`).
    pub delivered: u64,
    /// Bytes sent since recovery began, new or retransmitted (`prr_out`).
    pub out: u64,
    /// FlightSize when recovery began (`RecoverFS`).
    pub recover_fs: u32,
    /// What output may still send in answer to the last ACK (`sndcnt`, less what went since).
    pub allowance: u32,
}

/// Which PRR bound set the last allowance (for the counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrrMode {
    /// The pipe is above ssthresh: send in proportion to what was delivered.
    Proportional,
    /// The pipe is at or below ssthresh: grow back towards it, bounded (PRR-SSRB).
    SlowStartBound,
}

impl Prr {
    /// Recovery begins with `flight` bytes outstanding. The first ACK (the one that started
    /// recovery) is then fed through [`on_ack`](Self::on_ack) like the others.
    pub fn start(flight: u32) -> Prr {
        Prr {
            delivered: 0,
            out: 0,
            recover_fs: flight.max(1),
            allowance: 0,
        }
    }

    /// An ACK during recovery reported `delivered` newly delivered bytes (cumulatively
    /// acknowledged or SACKed); `pipe` is RFC 6675's estimate after it. Sets the allowance.
    pub fn on_ack(&mut self, delivered: u32, pipe: u32, ssthresh: u32, mss: u32) -> PrrMode {
        self.delivered = self.delivered.saturating_add(u64::from(delivered));
        let (sndcnt, mode) = if pipe > ssthresh {
            // Proportional part: ceil(prr_delivered · ssthresh / RecoverFS) − prr_out.
            let target = self
                .delivered
                .saturating_mul(u64::from(ssthresh))
                .div_ceil(u64::from(self.recover_fs));
            (target.saturating_sub(self.out), PrrMode::Proportional)
        } else {
            // PRR-SSRB: at most what was delivered (and not yet answered) plus one segment.
            let limit = self
                .delivered
                .saturating_sub(self.out)
                .max(u64::from(delivered))
                .saturating_add(u64::from(mss));
            (
                u64::from(ssthresh - pipe).min(limit),
                PrrMode::SlowStartBound,
            )
        };
        // The fast retransmit itself always goes (as in Linux), whatever the proportion says.
        let sndcnt = if self.out == 0 {
            sndcnt.max(u64::from(mss))
        } else {
            sndcnt
        };
        self.allowance = sndcnt.min(u64::from(u32::MAX)) as u32;
        mode
    }

    /// `bytes` left (new data or a retransmission).
    pub fn on_sent(&mut self, bytes: u32) {
        self.out = self.out.saturating_add(u64::from(bytes));
        self.allowance = self.allowance.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6937's example shape: 20 segments in flight, ssthresh 10, one lost. While the pipe
    /// is above ssthresh, one segment goes for every two delivered.
    #[test]
    fn proportional_then_slow_start_bound() {
        let mss = 1000;
        let mut p = Prr::start(20 * mss);
        let mut sent = 0;
        for _ in 0..18 {
            assert_eq!(
                p.on_ack(mss, 15 * mss, 10 * mss, mss),
                PrrMode::Proportional
            );
            if p.allowance >= mss {
                p.on_sent(mss);
                sent += 1;
            }
        }
        assert_eq!(sent, 9, "half as many sent as delivered");
        // Far below ssthresh: at most delivered + 1 MSS per ACK.
        let mut q = Prr::start(20 * mss);
        q.out = q.delivered;
        assert_eq!(
            q.on_ack(mss, 2 * mss, 10 * mss, mss),
            PrrMode::SlowStartBound
        );
        assert_eq!(q.allowance, 2 * mss);
        q.on_sent(mss);
        assert_eq!(q.allowance, mss);
    }
}
