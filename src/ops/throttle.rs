//! Log lines that clients can cause (a refused transfer, UPDATE or NOTIFY, a connection over
//! its limit) at most [`PER_SECOND`] a second per place in the code, so that a flood of bad
//! requests cannot fill a disk. Lines held back are counted, and the next line let through
//! says how many (`held_back`).

use std::sync::atomic::{AtomicU64, Ordering};

/// Lines a second let through at one place.
pub const PER_SECOND: u64 = 10;

/// One place's budget: the second it counts (Unix time) in the high half of `window`, the
/// lines let through in it in the low half.
pub struct Throttle {
    window: AtomicU64,
    held: AtomicU64,
}

impl Throttle {
    pub const fn new() -> Self {
        Self {
            window: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// Some(lines held back since the last one let through) if this line may be logged now;
    /// None if it is held back.
    pub fn admit(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            & u64::from(u32::MAX);
        let mut window = self.window.load(Ordering::Relaxed);
        loop {
            let used = if window >> 32 == now {
                window & u64::from(u32::MAX)
            } else {
                0
            };
            if used >= PER_SECOND {
                self.held.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            let next = (now << 32) | (used + 1);
            match self.window.compare_exchange_weak(
                window,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(self.held.swap(0, Ordering::Relaxed)),
                Err(seen) => window = seen,
            }
        }
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_to_the_budget_and_the_next_line_counts_what_was_held() {
        let t = Throttle::new();
        let admitted: Vec<_> = (0..1000).filter_map(|_| t.admit()).collect();
        // One second, or two if the burst crossed into the next.
        assert!(admitted.len() as u64 == PER_SECOND || admitted.len() as u64 == 2 * PER_SECOND);
        let held: u64 = admitted.iter().sum::<u64>() + t.held.load(Ordering::Relaxed);
        assert_eq!(held, 1000 - admitted.len() as u64);
    }
}
