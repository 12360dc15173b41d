//! Response rate limiting (RRL) over UDP, as BIND, Knot DNS and NSD do it: a UDP server can be
//! made to reflect a flood at whoever's address the flood's queries carry, so each client
//! prefix (a /24, a /56) gets at most `rrl_responses_per_second` responses of each kind a
//! second. Beyond that, a response is dropped, but every `rrl_slip`th one is sent truncated
//! (TC set, no records), so a real client behind the prefix retries over TCP, which cannot be
//! spoofed, and is answered there. Addresses in `rrl_exempt` (the SIP proxies and SBCs that
//! legitimately send bursts) are never limited. TCP is never limited.
//!
//! The buckets are a fixed table of atomic words indexed by a hash of (prefix, kind): nothing
//! is allocated per client, so a flood of spoofed sources cannot grow it, and two prefixes
//! that share a word share its budget (with 65,536 words, rarely).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::config::{AccessList, Config};
use crate::lookup::Kind;

/// Buckets in the table (a power of two).
const BUCKETS: usize = 1 << 16;

/// What to do with one UDP response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send it truncated: header and question, TC set.
    Slip,
    Drop,
}

/// The limiter `rrl_*` configures; shared by every UDP worker.
pub struct Limiter {
    rate: u32,
    slip: u32,
    v4_bits: u8,
    v6_bits: u8,
    exempt: AccessList,
    /// Per bucket: the second it last counted (since `started`) in the high half, the
    /// responses counted in that second in the low half.
    buckets: Box<[AtomicU64]>,
    started: Instant,
}

impl Limiter {
    /// The limiter `config` asks for; None when `rrl_responses_per_second` is 0 (off).
    pub fn from_config(config: &Config) -> Option<Self> {
        (config.rrl_responses_per_second > 0).then(|| Self {
            rate: config.rrl_responses_per_second,
            slip: config.rrl_slip,
            v4_bits: config.rrl_ipv4_prefix,
            v6_bits: config.rrl_ipv6_prefix,
            exempt: config.rrl_exempt_list.clone(),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            started: Instant::now(),
        })
    }

    /// The second [`Limiter::check`] counts in: read once per batch of datagrams, not per
    /// response (reading the clock was most of what a check cost).
    pub fn now(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_secs()).unwrap_or(u32::MAX)
    }

    /// Whether a response of `kind` to `client` may go out in second `now`. `limited` is the
    /// calling worker's count of limited responses, which decides the slips.
    pub fn check(&self, client: IpAddr, kind: Kind, now: u32, limited: &mut u32) -> Verdict {
        if self.exempt.allows(client, None) {
            return Verdict::Send;
        }
        let bucket = &self.buckets[self.bucket(client, kind)];
        let mut word = bucket.load(Ordering::Relaxed);
        loop {
            let second = u32::try_from(word >> 32).unwrap_or(0);
            // A worker that read the clock just before another counts in that one's second,
            // rather than start the bucket again.
            let now = now.max(second);
            let used = if second == now {
                u32::try_from(word & u64::from(u32::MAX)).unwrap_or(u32::MAX)
            } else {
                0
            };
            if used >= self.rate {
                break;
            }
            let next = (u64::from(now) << 32) | u64::from(used + 1);
            match bucket.compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Verdict::Send,
                Err(seen) => word = seen,
            }
        }
        *limited = limited.wrapping_add(1);
        if self.slip > 0 && limited.is_multiple_of(self.slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    /// The bucket of `client`'s prefix and `kind`.
    fn bucket(&self, client: IpAddr, kind: Kind) -> usize {
        use std::hash::BuildHasher;
        let client = match client {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(client, IpAddr::V4),
            IpAddr::V4(_) => client,
        };
        // IPv4 prefixes as IPv4-mapped IPv6 ones, apart from every real IPv6 prefix.
        let prefix = match client {
            IpAddr::V4(a) => {
                let keep = u32::MAX
                    .checked_shl(32 - u32::from(self.v4_bits))
                    .unwrap_or(0);
                (0xffff << 32) | u128::from(u32::from(a) & keep)
            }
            IpAddr::V6(a) => {
                let keep = u128::MAX
                    .checked_shl(128 - u32::from(self.v6_bits))
                    .unwrap_or(0);
                u128::from(a) & keep
            }
        };
        let kind = Kind::ALL.iter().position(|&k| k == kind).unwrap_or(0);
        let hash = foldhash::fast::FixedState::with_seed(0x5eed).hash_one((prefix, kind));
        usize::try_from(hash >> 48).unwrap_or(0) & (BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, slip: u32, exempt: &[&str]) -> Limiter {
        let exempt = exempt.iter().map(|e| (e.parse().unwrap(), 32)).collect();
        Limiter {
            rate,
            slip,
            v4_bits: 24,
            v6_bits: 56,
            exempt: AccessList::new(vec![], exempt),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            started: Instant::now(),
        }
    }

    #[test]
    fn a_prefix_gets_its_rate_of_each_kind_then_slips_every_nth() {
        let l = limiter(10, 3, &["192.0.2.60"]);
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        let now = l.now();
        let mut limited = 0;
        let mut got = Vec::new();
        for i in 0..40 {
            // Two addresses of one /24 share its budget.
            let from = if i % 2 == 0 {
                "192.0.2.50"
            } else {
                "192.0.2.51"
            };
            got.push(l.check(ip(from), Kind::Hit, now, &mut limited));
        }
        let sent = got.iter().filter(|v| **v == Verdict::Send).count();
        let slipped = got.iter().filter(|v| **v == Verdict::Slip).count();
        // All counted in one second.
        assert_eq!(sent, 10);
        assert_eq!(slipped, (40 - sent) / 3);
        // Another kind, another /24, an exempt address: their own budgets.
        assert_eq!(
            l.check(ip("192.0.2.50"), Kind::NxDomain, now, &mut limited),
            Verdict::Send
        );
        assert_eq!(
            l.check(ip("192.0.3.50"), Kind::Hit, now, &mut limited),
            Verdict::Send
        );
        for _ in 0..100 {
            assert_eq!(
                l.check(ip("192.0.2.60"), Kind::Hit, now, &mut limited),
                Verdict::Send
            );
        }
        // IPv6 by /56; an IPv4-mapped source is its IPv4 address.
        let mut v6 = 0;
        for i in 0..30 {
            let a = format!("2001:db8:0:{:x}::1", i % 256);
            if l.check(ip(&a), Kind::Hit, now, &mut limited) == Verdict::Send {
                v6 += 1;
            }
        }
        assert_eq!(v6, 10);
        assert_ne!(
            l.check(ip("::ffff:192.0.2.50"), Kind::Hit, now, &mut limited),
            Verdict::Send
        );
    }

    #[test]
    fn slip_zero_drops_every_limited_response() {
        let l = limiter(1, 0, &[]);
        let mut limited = 0;
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let now = l.now();
        let verdicts: Vec<_> = (0..20)
            .map(|_| l.check(ip, Kind::Hit, now, &mut limited))
            .collect();
        assert!(verdicts.iter().all(|v| *v != Verdict::Slip));
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Drop).count(), 19);
        // A worker whose clock read is a second behind counts in the newer second.
        assert_eq!(l.check(ip, Kind::Hit, now + 1, &mut limited), Verdict::Send);
        assert_eq!(l.check(ip, Kind::Hit, now, &mut limited), Verdict::Drop);
    }
}
