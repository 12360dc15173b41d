//! TSIG (RFC 8945): verifying a signed request and signing its response, with HMAC-SHA256,
//! -SHA384, -SHA512 and -SHA1 from RustCrypto. MACs are compared in constant time
//! (`Mac::verify_slice`). Transfers will sign their message sequences with the same code.

use hmac::{Hmac, Mac};

use super::message::{CLASS_ANY, Message};
use crate::config::Key;
use crate::name;

/// Seconds since 1970: TSIG's clock (RFC 8945 §4.2), and the time stamps kept beside zones.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// TSIG's RR type (RFC 8945 §4.2).
pub const TSIG: u16 = 250;

/// RFC 8945 §5.2 errors, carried in the TSIG RR of the response (the header says NOTAUTH).
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;
pub const BADTRUNC: u16 = 22;

/// The MAC algorithms enumd signs and verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// From the config's spelling (`hmac-sha256`, as BIND's `tsig-keygen -a` takes it).
    pub fn from_config(text: &str) -> Option<Self> {
        Self::from_name(&name::parse(text.as_bytes(), name::ROOT).ok()?)
    }

    /// From the algorithm name of a TSIG RR (RFC 8945 §6), case ignored.
    pub fn from_name(wire: &[u8]) -> Option<Self> {
        match name::to_text(&name::to_lowercase(wire)).as_str() {
            "hmac-sha1." => Some(Self::HmacSha1),
            "hmac-sha256." => Some(Self::HmacSha256),
            "hmac-sha384." => Some(Self::HmacSha384),
            "hmac-sha512." => Some(Self::HmacSha512),
            _ => None,
        }
    }

    /// The algorithm's name in wire form.
    pub fn wire_name(self) -> Vec<u8> {
        let text: &[u8] = match self {
            Self::HmacSha1 => b"hmac-sha1.",
            Self::HmacSha256 => b"hmac-sha256.",
            Self::HmacSha384 => b"hmac-sha384.",
            Self::HmacSha512 => b"hmac-sha512.",
        };
        name::parse(text, name::ROOT).unwrap_or_default()
    }

    fn mac_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }
}

/// A running MAC of one of the algorithms.
enum Hasher {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

impl Hasher {
    fn new(algorithm: Algorithm, secret: &[u8]) -> Self {
        match algorithm {
            Algorithm::HmacSha1 => Self::Sha1(keyed(secret)),
            Algorithm::HmacSha256 => Self::Sha256(keyed(secret)),
            Algorithm::HmacSha384 => Self::Sha384(keyed(secret)),
            Algorithm::HmacSha512 => Self::Sha512(keyed(secret)),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(m) => m.update(data),
            Self::Sha256(m) => m.update(data),
            Self::Sha384(m) => m.update(data),
            Self::Sha512(m) => m.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(m) => m.finalize().into_bytes().to_vec(),
            Self::Sha256(m) => m.finalize().into_bytes().to_vec(),
            Self::Sha384(m) => m.finalize().into_bytes().to_vec(),
            Self::Sha512(m) => m.finalize().into_bytes().to_vec(),
        }
    }

    /// Compares in constant time.
    fn verify(self, mac: &[u8]) -> bool {
        match self {
            Self::Sha1(m) => m.verify_slice(mac).is_ok(),
            Self::Sha256(m) => m.verify_slice(mac).is_ok(),
            Self::Sha384(m) => m.verify_slice(mac).is_ok(),
            Self::Sha512(m) => m.verify_slice(mac).is_ok(),
        }
    }
}

/// An HMAC keyed with `secret`.
fn keyed<M: Mac + hmac::digest::KeyInit>(secret: &[u8]) -> M {
    // HMAC takes keys of every length (RFC 2104 §2): `new_from_slice` cannot fail for it.
    <M as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key"))
}

/// The fields of a TSIG RR's RDATA (RFC 8945 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigRdata {
    pub algorithm: Vec<u8>,
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

impl TsigRdata {
    pub fn parse(rdata: &[u8]) -> Option<Self> {
        let (algorithm, at) = name_at(rdata, 0)?;
        let fixed = rdata.get(at..at + 10)?;
        let time_signed = u64::from_be_bytes([
            0, 0, fixed[0], fixed[1], fixed[2], fixed[3], fixed[4], fixed[5],
        ]);
        let fudge = u16::from_be_bytes([fixed[6], fixed[7]]);
        let mac_len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let mac = rdata.get(at + 10..at + 10 + mac_len)?.to_vec();
        let rest = rdata.get(at + 10 + mac_len..)?;
        if rest.len() < 6 {
            return None;
        }
        let other_len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
        if rest.len() != 6 + other_len {
            return None;
        }
        Some(Self {
            algorithm,
            time_signed,
            fudge,
            mac,
            original_id: u16::from_be_bytes([rest[0], rest[1]]),
            error: u16::from_be_bytes([rest[2], rest[3]]),
            other: rest[6..].to_vec(),
        })
    }

    fn to_wire(&self) -> Vec<u8> {
        let mut out = self.algorithm.clone();
        out.extend_from_slice(&self.time_signed.to_be_bytes()[2..]);
        out.extend_from_slice(&self.fudge.to_be_bytes());
        out.extend_from_slice(&u16_len(self.mac.len()).to_be_bytes());
        out.extend_from_slice(&self.mac);
        out.extend_from_slice(&self.original_id.to_be_bytes());
        out.extend_from_slice(&self.error.to_be_bytes());
        out.extend_from_slice(&u16_len(self.other.len()).to_be_bytes());
        out.extend_from_slice(&self.other);
        out
    }
}

/// A length that fits its 16-bit field: MACs and other data here are at most 64 bytes.
fn u16_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// An uncompressed name at `at` (RFC 8945 §4.2: the algorithm name is never compressed).
fn name_at(data: &[u8], mut at: usize) -> Option<(Vec<u8>, usize)> {
    let start = at;
    loop {
        let len = usize::from(*data.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if len == 0 {
            break;
        }
    }
    (at - start <= 255).then(|| (data[start..at].to_vec(), at))
}

/// What a TSIG error means, for logs and EDE text.
pub fn error_text(error: u16) -> &'static str {
    match error {
        BADKEY => "unknown key or algorithm",
        BADTIME => "time outside the fudge",
        BADTRUNC => "truncated MAC",
        _ => "MAC does not verify",
    }
}

/// What verifying a request found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No TSIG RR.
    Unsigned,
    /// Signed with this key, MAC good and time within the fudge.
    Signed(Signer),
    /// Signed, but not acceptably: answer NOTAUTH with this error in the TSIG RR, signed when
    /// the signer is known (BADTIME), unsigned otherwise (RFC 8945 §5.2).
    Failed {
        error: u16,
        /// The key name and algorithm as the request gave them, for the unsigned reply.
        key_name: Vec<u8>,
        algorithm: Vec<u8>,
        signer: Option<Signer>,
    },
}

/// What signing the response needs: the key, and the request's MAC and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    pub key: Key,
    pub request_mac: Vec<u8>,
    pub time_signed: u64,
    pub fudge: u16,
}

/// Verifies the TSIG RR of `msg` (the request's bytes `raw`) against `keys` at `now` (seconds
/// since the epoch). RFC 8945 §5.2: unknown key or algorithm is BADKEY, a wrong MAC BADSIG,
/// a time outside the fudge BADTIME; a truncated MAC BADTRUNC.
pub fn verify(raw: &[u8], msg: &Message, keys: &[Key], now: u64) -> Verdict {
    let Some(t) = &msg.tsig else {
        return Verdict::Unsigned;
    };
    let fail = |error, signer| Verdict::Failed {
        error,
        key_name: t.key_name.clone(),
        algorithm: t.rdata.algorithm.clone(),
        signer,
    };
    let lower = name::to_lowercase(&t.key_name);
    let algorithm = Algorithm::from_name(&t.rdata.algorithm);
    let Some(key) = keys
        .iter()
        .find(|k| k.name == lower && Some(k.algorithm) == algorithm)
    else {
        return fail(BADKEY, None);
    };
    if t.rdata.mac.len() != key.algorithm.mac_len() {
        return fail(BADTRUNC, None);
    }
    let mut h = Hasher::new(key.algorithm, &key.secret);
    // §4.3.3: the message as it was before the TSIG RR was added: original ID, ARCOUNT less one.
    let mut head = raw[..12].to_vec();
    head[..2].copy_from_slice(&t.rdata.original_id.to_be_bytes());
    let ar = u16::from_be_bytes([head[10], head[11]]).saturating_sub(1);
    head[10..12].copy_from_slice(&ar.to_be_bytes());
    h.update(&head);
    h.update(&raw[12..t.offset]);
    h.update(&variables(&lower, &t.rdata, true));
    if !h.verify(&t.rdata.mac) {
        return fail(BADSIG, None);
    }
    let signer = Signer {
        key: key.clone(),
        request_mac: t.rdata.mac.clone(),
        time_signed: t.rdata.time_signed,
        fudge: t.rdata.fudge,
    };
    if now.abs_diff(t.rdata.time_signed) > u64::from(t.rdata.fudge) {
        return fail(BADTIME, Some(signer));
    }
    Verdict::Signed(signer)
}

/// The TSIG variables (RFC 8945 §4.3.3): key name and algorithm in canonical form, class
/// ANY, TTL 0, time, fudge, error and other data; the times alone for later messages of a
/// transfer.
fn variables(key_name: &[u8], r: &TsigRdata, all: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(128);
    if all {
        v.extend_from_slice(key_name);
        v.extend_from_slice(&CLASS_ANY.to_be_bytes());
        v.extend_from_slice(&0u32.to_be_bytes());
        v.extend_from_slice(&name::to_lowercase(&r.algorithm));
    }
    v.extend_from_slice(&r.time_signed.to_be_bytes()[2..]);
    v.extend_from_slice(&r.fudge.to_be_bytes());
    if all {
        v.extend_from_slice(&r.error.to_be_bytes());
        v.extend_from_slice(&u16_len(r.other.len()).to_be_bytes());
        v.extend_from_slice(&r.other);
    }
    v
}

/// Appends a TSIG RR signing `response` (a complete message without it) for `signer` at
/// `now`, with `error` (0, or BADTIME with the server's time as other data, §5.2.3), and
/// raises ARCOUNT. Returns the MAC, which the next message of a transfer chains from.
pub fn sign_response(response: &mut Vec<u8>, signer: &Signer, error: u16, now: u64) -> Vec<u8> {
    let key = &signer.key;
    let mut rdata = TsigRdata {
        algorithm: key.algorithm.wire_name(),
        time_signed: if error == BADTIME {
            signer.time_signed
        } else {
            now
        },
        // §5.2.3: the request's fudge, echoed.
        fudge: signer.fudge,
        mac: Vec::new(),
        original_id: u16::from_be_bytes([response[0], response[1]]),
        error,
        other: if error == BADTIME {
            now.to_be_bytes()[2..].to_vec()
        } else {
            Vec::new()
        },
    };
    let mut h = Hasher::new(key.algorithm, &key.secret);
    h.update(&u16_len(signer.request_mac.len()).to_be_bytes());
    h.update(&signer.request_mac);
    h.update(response);
    h.update(&variables(&key.name, &rdata, true));
    rdata.mac = h.finish();
    let mac = rdata.mac.clone();
    append_tsig(response, &key.name, &rdata);
    mac
}

/// Signs a later message of a transfer (RFC 8945 §5.3.1): the MAC covers the previous
/// message's MAC, this message and the timers alone. Returns this MAC, for the next one.
pub fn sign_next(
    message: &mut Vec<u8>,
    key: &Key,
    prior_mac: &[u8],
    fudge: u16,
    now: u64,
) -> Vec<u8> {
    sign_after_unsigned(message, key, prior_mac, &[], fudge, now)
}

/// [`sign_next`] for a message that follows unsigned ones (`unsigned`: their bytes, in
/// order, since the message whose MAC is `prior_mac`), which its MAC covers too.
pub fn sign_after_unsigned(
    message: &mut Vec<u8>,
    key: &Key,
    prior_mac: &[u8],
    unsigned: &[u8],
    fudge: u16,
    now: u64,
) -> Vec<u8> {
    let mut rdata = TsigRdata {
        algorithm: key.algorithm.wire_name(),
        time_signed: now,
        fudge,
        mac: Vec::new(),
        original_id: u16::from_be_bytes([message[0], message[1]]),
        error: 0,
        other: Vec::new(),
    };
    let mut h = Hasher::new(key.algorithm, &key.secret);
    h.update(&u16_len(prior_mac.len()).to_be_bytes());
    h.update(prior_mac);
    h.update(unsigned);
    h.update(message);
    h.update(&variables(&key.name, &rdata, false));
    rdata.mac = h.finish();
    let mac = rdata.mac.clone();
    append_tsig(message, &key.name, &rdata);
    mac
}

/// Appends an unsigned TSIG RR carrying `error` (BADKEY, BADSIG, BADTRUNC: RFC 8945 §5.2 says
/// the response is not signed), raising ARCOUNT.
pub fn append_unsigned(
    response: &mut Vec<u8>,
    key_name: &[u8],
    algorithm: &[u8],
    error: u16,
    now: u64,
) {
    let rdata = TsigRdata {
        algorithm: algorithm.to_vec(),
        time_signed: now,
        fudge: 300,
        mac: Vec::new(),
        original_id: u16::from_be_bytes([response[0], response[1]]),
        error,
        other: Vec::new(),
    };
    append_tsig(response, key_name, &rdata);
}

fn append_tsig(response: &mut Vec<u8>, key_name: &[u8], rdata: &TsigRdata) {
    let wire = rdata.to_wire();
    response.extend_from_slice(key_name);
    response.extend_from_slice(&TSIG.to_be_bytes());
    response.extend_from_slice(&CLASS_ANY.to_be_bytes());
    response.extend_from_slice(&0u32.to_be_bytes());
    response.extend_from_slice(&u16_len(wire.len()).to_be_bytes());
    response.extend_from_slice(&wire);
    let ar = u16::from_be_bytes([response[10], response[11]]).saturating_add(1);
    response[10..12].copy_from_slice(&ar.to_be_bytes());
}

/// Most unsigned messages accepted between two signed ones of a response (RFC 8945 §5.3.1;
/// BIND, Knot and NSD accept the same).
pub const MAX_UNSIGNED_RUN: usize = 99;

/// Verifies the messages of a response to a request we signed, in order (RFC 8945 §5.3.1):
/// the first must be signed and covers the request's MAC and every TSIG variable; each later
/// signed one covers the MAC before it, the unsigned messages since, itself, and the timers;
/// at most [`MAX_UNSIGNED_RUN`] unsigned in a row, and the last one signed ([`Self::finish`]).
pub struct ResponseVerifier {
    key: Key,
    /// The MAC covering what was verified so far (the request's, before the first message),
    /// and the running MAC over it and the unsigned messages since.
    running: Hasher,
    first: bool,
    unsigned_run: usize,
}

impl ResponseVerifier {
    pub fn new(key: &Key, request_mac: &[u8]) -> Self {
        Self {
            key: key.clone(),
            running: Self::chained(key, request_mac),
            first: true,
            unsigned_run: 0,
        }
    }

    fn chained(key: &Key, mac: &[u8]) -> Hasher {
        let mut h = Hasher::new(key.algorithm, &key.secret);
        h.update(&u16_len(mac.len()).to_be_bytes());
        h.update(mac);
        h
    }

    /// Verifies one message (`raw`, decoded as `msg`) at `now`; the error says why not.
    pub fn message(&mut self, raw: &[u8], msg: &Message, now: u64) -> Result<(), String> {
        let Some(t) = &msg.tsig else {
            if self.first {
                return Err("the first message of the answer is not signed".into());
            }
            self.unsigned_run += 1;
            if self.unsigned_run > MAX_UNSIGNED_RUN {
                return Err(format!(
                    "more than {MAX_UNSIGNED_RUN} unsigned messages in a row"
                ));
            }
            self.running.update(raw);
            return Ok(());
        };
        if name::to_lowercase(&t.key_name) != self.key.name
            || Algorithm::from_name(&t.rdata.algorithm) != Some(self.key.algorithm)
        {
            return Err(format!(
                "signed with key {} where {} was asked for",
                name::to_text(&t.key_name),
                name::to_text(&self.key.name)
            ));
        }
        if t.rdata.error != 0 {
            return Err(format!(
                "the primary says TSIG {}",
                error_text(t.rdata.error)
            ));
        }
        let mut head = raw[..12].to_vec();
        head[..2].copy_from_slice(&t.rdata.original_id.to_be_bytes());
        let ar = u16::from_be_bytes([head[10], head[11]]).saturating_sub(1);
        head[10..12].copy_from_slice(&ar.to_be_bytes());
        let mut h = std::mem::replace(&mut self.running, Hasher::new(self.key.algorithm, &[]));
        h.update(&head);
        h.update(&raw[12..t.offset]);
        h.update(&variables(&self.key.name, &t.rdata, self.first));
        if !h.verify(&t.rdata.mac) {
            return Err("a MAC does not verify (BADSIG)".into());
        }
        if now.abs_diff(t.rdata.time_signed) > u64::from(t.rdata.fudge) {
            return Err("signed at a time outside the fudge (BADTIME)".into());
        }
        self.running = Self::chained(&self.key, &t.rdata.mac);
        self.first = false;
        self.unsigned_run = 0;
        Ok(())
    }

    /// Whether the response may end here: its last message signed.
    pub fn finish(&self) -> Result<(), String> {
        if self.first || self.unsigned_run > 0 {
            return Err("the last message of the answer is not signed".into());
        }
        Ok(())
    }
}

/// Signs a request (for tests and, later, NOTIFY and transfers in): appends the TSIG RR.
pub fn sign_request(request: &mut Vec<u8>, key: &Key, now: u64, fudge: u16) -> Vec<u8> {
    let mut rdata = TsigRdata {
        algorithm: key.algorithm.wire_name(),
        time_signed: now,
        fudge,
        mac: Vec::new(),
        original_id: u16::from_be_bytes([request[0], request[1]]),
        error: 0,
        other: Vec::new(),
    };
    let mut h = Hasher::new(key.algorithm, &key.secret);
    h.update(request);
    h.update(&variables(&name::to_lowercase(&key.name), &rdata, true));
    rdata.mac = h.finish();
    let mac = rdata.mac.clone();
    append_tsig(request, &key.name, &rdata);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2: HMAC-SHA256 with key "Jefe".
    #[test]
    fn hmac_matches_rfc_4231() {
        let mut h = Hasher::new(Algorithm::HmacSha256, b"Jefe");
        h.update(b"what do ya want for nothing?");
        let mac = h.finish();
        assert_eq!(mac[..8], [0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e]);
    }

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let key = Key {
            name: name::parse(b"Provisioning.", name::ROOT).unwrap(),
            algorithm: Algorithm::HmacSha256,
            secret: b"0123456789abcdef".to_vec(),
        };
        let lower = Key {
            name: name::to_lowercase(&key.name),
            ..key.clone()
        };
        let mut q = vec![0x12, 0x34, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x04e164\x04arpa\x00\x00\x06\x00\x01");
        let mut signed = q.clone();
        sign_request(&mut signed, &key, 1_000_000, 300);
        let msg = Message::parse(&signed).unwrap();
        let keys = [lower];
        assert!(matches!(
            verify(&signed, &msg, &keys, 1_000_100),
            Verdict::Signed(_)
        ));
        assert!(matches!(
            verify(&signed, &msg, &keys, 1_000_400),
            Verdict::Failed {
                error: BADTIME,
                signer: Some(_),
                ..
            }
        ));
        let mut changed = signed.clone();
        changed[13] ^= 0x20; // e164 → E164: the MAC covers the bytes as sent
        let msg = Message::parse(&changed).unwrap();
        assert!(matches!(
            verify(&changed, &msg, &keys, 1_000_000),
            Verdict::Failed { error: BADSIG, .. }
        ));
        assert!(matches!(
            verify(&signed, &Message::parse(&signed).unwrap(), &[], 1_000_000),
            Verdict::Failed { error: BADKEY, .. }
        ));
    }
}
