//! DNS Cookies (RFC 7873) with the interoperable server cookie of RFC 9018, so that every
//! server of an anycast or primary/secondary set sharing a secret accepts the others' cookies.
//!
//! A server cookie is Version 1, three reserved bytes, a 32-bit timestamp and
//! SipHash-2-4(client cookie | version | reserved | timestamp | client address) under a
//! 128-bit secret. It is valid from five minutes ahead of now to an hour old; a valid one less
//! than half an hour old is sent back unchanged (RFC 9018 §4.3 lets a server renew sooner, but
//! echoing costs one hash, not two, and shows the client it was recognised). An invalid one is
//! answered as if the client had sent its client cookie alone (RFC 7873 §5.2.4): with a fresh
//! server cookie and a normal answer. BADCOOKIE is a policy choice (RFC 7873 §5.2.3), for rate
//! limiting to make; nothing here sends it.
//!
//! Secrets: the configured ones (the first makes cookies, all are accepted, so an operator can
//! roll a shared secret across servers), or one generated at start and replaced every
//! [`ROTATION`], the previous one still accepted until the next replacement.

use std::hash::Hasher;
use std::net::IpAddr;
use std::time::Duration;

use arc_swap::ArcSwap;
use siphasher::sip::SipHasher24;

/// Bytes of a client cookie.
pub const CLIENT_LEN: usize = 8;
/// Bytes of an RFC 9018 server cookie.
pub const SERVER_LEN: usize = 16;
/// Bytes of the COOKIE option data enumd sends.
pub const REPLY_LEN: usize = CLIENT_LEN + SERVER_LEN;

/// A server cookie's validity around now, in seconds (RFC 9018 §4.3).
const MAX_AGE: u32 = 3600;
const MAX_AHEAD: u32 = 300;
/// Age from which a valid server cookie is replaced rather than sent back.
const RENEW_AGE: u32 = 1800;

/// How long a generated secret makes cookies: Knot's default `cookie-secret-lifetime`. Far
/// above a cookie's hour of validity, so that keeping one previous secret is enough.
pub const ROTATION: Duration = Duration::from_secs(26 * 3600);

/// A 128-bit SipHash key.
pub type Secret = [u8; 16];

/// What the request's server cookie turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The request had a client cookie only.
    ClientOnly,
    /// A server cookie this server (or one sharing its secret) made, still valid.
    Valid,
    /// A server cookie that is not ours, expired, or of another version.
    Invalid,
}

/// The secrets in use: `make` makes cookies, it and every one of `accept` verify them.
struct Secrets {
    make: Secret,
    accept: Vec<Secret>,
}

/// Never the secrets themselves, should a policy be logged.
impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secrets {{ 1 making, {} more accepted }}",
            self.accept.len()
        )
    }
}

/// The cookie state the serving threads share; reading it is one atomic load.
#[derive(Debug)]
pub struct Cookies {
    secrets: ArcSwap<Secrets>,
    /// Whether the secret is enumd's own, to be replaced every [`ROTATION`].
    generated: bool,
}

impl Cookies {
    /// Cookies made with the first of `secrets`, any of which verifies them.
    pub fn configured(secrets: &[Secret]) -> Option<Self> {
        let (&make, rest) = secrets.split_first()?;
        Some(Self {
            secrets: ArcSwap::from_pointee(Secrets {
                make,
                accept: rest.to_vec(),
            }),
            generated: false,
        })
    }

    /// Cookies made with a random secret, to be rotated.
    pub fn generated() -> Result<Self, String> {
        Ok(Self {
            secrets: ArcSwap::from_pointee(Secrets {
                make: random_secret()?,
                accept: Vec::new(),
            }),
            generated: true,
        })
    }

    /// Whether [`Cookies::rotate`] should run every [`ROTATION`].
    pub fn rotates(&self) -> bool {
        self.generated
    }

    /// Makes cookies with `next` from now on; the secret it replaces still verifies them
    /// until the next rotation.
    pub fn rotate_to(&self, next: Secret) {
        let old = self.secrets.load();
        self.secrets.store(std::sync::Arc::new(Secrets {
            make: next,
            accept: vec![old.make],
        }));
    }

    /// Replaces the secret with a new random one.
    pub fn rotate(&self) -> Result<(), String> {
        self.rotate_to(random_secret()?);
        Ok(())
    }

    /// The COOKIE option data answering the request's `option` data (a client cookie, then
    /// perhaps a server cookie; its length already checked) from `client` at `now` (seconds
    /// since the epoch, modulo 2³²), and what the request's server cookie was.
    pub fn answer(&self, option: &[u8], client: IpAddr, now: u32) -> ([u8; REPLY_LEN], Verdict) {
        let mut reply = [0; REPLY_LEN];
        reply[..CLIENT_LEN].copy_from_slice(&option[..CLIENT_LEN]);
        let secrets = self.secrets.load();
        let server = &option[CLIENT_LEN..];
        let (verdict, current) = if server.is_empty() {
            (Verdict::ClientOnly, false)
        } else {
            match self.made_by(&secrets, option, client, now) {
                Some(current) => (Verdict::Valid, current),
                None => (Verdict::Invalid, false),
            }
        };
        // Sent back only if it is what would be made now, but for the time.
        let age = now.wrapping_sub(timestamp(server));
        if current && age < RENEW_AGE && server[1..4] == [0, 0, 0] {
            reply[CLIENT_LEN..].copy_from_slice(server);
        } else {
            let mut head = [1, 0, 0, 0, 0, 0, 0, 0];
            head[4..].copy_from_slice(&now.to_be_bytes());
            let client_cookie = &option[..CLIENT_LEN];
            let hash = hash(&secrets.make, client_cookie, &head, client);
            reply[CLIENT_LEN..CLIENT_LEN + 8].copy_from_slice(&head);
            reply[CLIENT_LEN + 8..].copy_from_slice(&hash);
        }
        (reply, verdict)
    }

    /// Whether the request's server cookie is valid: None if not, Some(true) if made with the
    /// current secret, Some(false) if with an older one.
    fn made_by(&self, secrets: &Secrets, option: &[u8], client: IpAddr, now: u32) -> Option<bool> {
        let server = &option[CLIENT_LEN..];
        if server.len() != SERVER_LEN || server[0] != 1 {
            return None;
        }
        // Serial number arithmetic (RFC 1982): the timestamp wraps in 2106.
        let age = now.wrapping_sub(timestamp(server));
        if age > MAX_AGE && age.wrapping_neg() > MAX_AHEAD {
            return None;
        }
        let (head, mac) = server.split_at(8);
        let ours = |s: &Secret| same(&hash(s, &option[..CLIENT_LEN], head, client), mac);
        if ours(&secrets.make) {
            Some(true)
        } else {
            secrets.accept.iter().any(ours).then_some(false)
        }
    }
}

/// The timestamp of a server cookie (0 if there is none).
fn timestamp(server: &[u8]) -> u32 {
    server
        .get(4..8)
        .map_or(0, |t| u32::from_be_bytes([t[0], t[1], t[2], t[3]]))
}

/// The hash part of a server cookie (RFC 9018 §4.4): over the client cookie, the version,
/// reserved and timestamp bytes as sent, and the client's address (4 or 16 bytes).
fn hash(secret: &Secret, client_cookie: &[u8], head: &[u8], client: IpAddr) -> [u8; 8] {
    // One write of the whole input: SipHasher's per-write buffering costs more than the
    // rounds themselves for inputs this short.
    let mut input = [0; CLIENT_LEN + 8 + 16];
    input[..CLIENT_LEN].copy_from_slice(client_cookie);
    input[CLIENT_LEN..CLIENT_LEN + 8].copy_from_slice(head);
    let len = match client {
        IpAddr::V4(a) => put(&mut input, &a.octets()),
        // A v4 client reaching a dual-stack socket is hashed by its IPv4 address, as it
        // would be on an IPv4 socket.
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => put(&mut input, &v4.octets()),
            None => put(&mut input, &a.octets()),
        },
    };
    let mut h = SipHasher24::new_with_key(secret);
    h.write(&input[..len]);
    // SipHash's output is the little-endian encoding of the 64-bit result.
    h.finish().to_le_bytes()
}

/// Puts a client address after the cookie bytes of a hash input; the input's length.
fn put(input: &mut [u8; CLIENT_LEN + 8 + 16], address: &[u8]) -> usize {
    let at = CLIENT_LEN + 8;
    input[at..at + address.len()].copy_from_slice(address);
    at + address.len()
}

/// Compares in time independent of where the bytes differ, so that timing tells an attacker
/// nothing about how close a forged cookie is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_secret() -> Result<Secret, String> {
    let mut s = [0; 16];
    getrandom::fill(&mut s).map_err(|e| format!("no random cookie secret: {e}"))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn secret(text: &str) -> Secret {
        hex(text).try_into().unwrap()
    }

    fn cookies(text: &str) -> Cookies {
        Cookies::configured(&[secret(text)]).unwrap()
    }

    const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";

    /// RFC 9018 appendix A.1: a client cookie alone gets the example's server cookie.
    #[test]
    fn a_new_client_learns_the_rfc_9018_server_cookie() {
        let c = cookies(SECRET);
        let ip = "198.51.100.100".parse().unwrap();
        let (reply, verdict) = c.answer(&hex("2464c4abcf10c957"), ip, 1_559_731_985);
        assert_eq!(
            reply.to_vec(),
            hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480")
        );
        assert_eq!(verdict, Verdict::ClientOnly);
    }

    /// A.2: forty minutes later the cookie is valid but renewed.
    #[test]
    fn a_valid_cookie_older_than_half_an_hour_is_renewed_and_a_younger_one_echoed() {
        let c = cookies(SECRET);
        let ip = "198.51.100.100".parse().unwrap();
        let sent = hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480");
        let (reply, verdict) = c.answer(&sent, ip, 1_559_734_385);
        assert_eq!(verdict, Verdict::Valid);
        assert_eq!(
            reply.to_vec(),
            hex("2464c4abcf10c957010000005cf7a871d4a564a1442aca77")
        );
        let (reply, verdict) = c.answer(&sent, ip, 1_559_731_985 + 60);
        assert_eq!((reply.to_vec(), verdict), (sent.clone(), Verdict::Valid));
        // From another address, or an hour and more later, or too far ahead: invalid, renewed.
        for (ip, now) in [
            ("198.51.100.101", 1_559_731_985 + 60),
            ("198.51.100.100", 1_559_731_985 + 3601),
            ("198.51.100.100", 1_559_731_985 - 301),
        ] {
            let (reply, verdict) = c.answer(&sent, ip.parse().unwrap(), now);
            assert_eq!(verdict, Verdict::Invalid, "{ip} at {now}");
            assert_ne!(reply.to_vec(), sent);
            assert_eq!(
                &reply[8..16],
                &[&[1, 0, 0, 0][..], &now.to_be_bytes()].concat()[..]
            );
        }
        // An IPv4 client seen on a dual-stack socket is the same client.
        let mapped = "::ffff:198.51.100.100".parse().unwrap();
        assert_eq!(
            c.answer(&sent, mapped, 1_559_731_985 + 60).1,
            Verdict::Valid
        );
    }

    /// A.3: a reply to a server cookie with reserved bytes set is a fresh cookie with them
    /// clear. (The example's cookie is 1h52m old, which the example's server accepts; enumd
    /// keeps RFC 9018 §4.3's hour, so here it is invalid, and the reply is the same.)
    #[test]
    fn reserved_bytes_count_in_the_hash_and_are_cleared_in_the_renewal() {
        let c = cookies(SECRET);
        let ip = "203.0.113.203".parse().unwrap();
        let sent = hex("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5");
        let (reply, verdict) = c.answer(&sent, ip, 1_559_734_700);
        assert_eq!(verdict, Verdict::Invalid, "older than an hour");
        assert_eq!(
            reply.to_vec(),
            hex("fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e")
        );
        // Ten seconds old, it is valid: the hash covers the reserved bytes as sent. It is
        // still renewed, with them clear.
        let (reply, verdict) = c.answer(&sent, ip, 1_559_727_985 + 10);
        assert_eq!(verdict, Verdict::Valid);
        assert_eq!(&reply[8..12], &[1, 0, 0, 0]);
        let mut changed = sent.clone();
        changed[9] ^= 1;
        assert_eq!(
            c.answer(&changed, ip, 1_559_727_985 + 10).1,
            Verdict::Invalid
        );
    }

    /// A.4: after a rotation the old secret still verifies, the new one makes the reply.
    #[test]
    fn after_a_rotation_the_previous_secret_still_verifies() {
        let c = cookies("dd3bdf9344b678b185a6f5cb60fca715");
        c.rotate_to(secret("445536bcd2513298075a5d379663c962"));
        let ip = "2001:db8:220:1:59de:d0f4:8769:82b8".parse().unwrap();
        let sent = hex("22681ab97d52c298010000005cf7c57926556bd0934c72f8");
        let (reply, verdict) = c.answer(&sent, ip, 1_559_741_961);
        assert_eq!(verdict, Verdict::Valid);
        assert_eq!(
            reply.to_vec(),
            hex("22681ab97d52c298010000005cf7c609a6bb79d16625507a")
        );
        // One rotation later it is gone.
        c.rotate_to([7; 16]);
        assert_eq!(c.answer(&sent, ip, 1_559_741_961).1, Verdict::Invalid);
    }

    #[test]
    fn server_cookies_of_other_versions_or_lengths_are_invalid() {
        let c = cookies(SECRET);
        let ip = "198.51.100.100".parse().unwrap();
        let mut v2 = hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480");
        v2[8] = 2;
        assert_eq!(c.answer(&v2, ip, 1_559_731_985).1, Verdict::Invalid);
        let short = hex("2464c4abcf10c957010000005cf79f11");
        assert_eq!(c.answer(&short, ip, 1_559_731_985).1, Verdict::Invalid);
        let long = [&v2[..], &[0; 16]].concat();
        assert_eq!(c.answer(&long, ip, 1_559_731_985).1, Verdict::Invalid);
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let text = format!("{:?}", cookies(SECRET));
        assert!(
            !text.contains("229") && !text.to_lowercase().contains("e5"),
            "{text}"
        );
    }
}
