//! Decoding a request: the header, its one question and its OPT record. This runs for every
//! packet, so it allocates nothing; whatever is malformed is FORMERR (RFC 1035 §4.1.1), and no
//! input can make it panic or loop.

use crate::rdata::rtype;

pub const HEADER_LEN: usize = 12;

/// What the request said about EDNS (RFC 6891 §6.1.3), and the options it carried that
/// enumd answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    /// An NSID option was present (RFC 5001 §2.1: empty, but any content asks).
    pub nsid: bool,
    pub cookie: CookieOption,
    /// An EXPIRE option was present (RFC 7314 §2: a secondary asking how long the zone lasts).
    pub expire: bool,
}

/// The COOKIE option of a request (RFC 7873 §4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieOption {
    #[default]
    Absent,
    /// Where its data starts in the message, and its length: 8 (a client cookie alone) or
    /// 16 to 40 (a client cookie and a server cookie).
    At { start: usize, len: usize },
    /// A length RFC 7873 §5.2.2 calls malformed, or a second COOKIE option.
    Malformed,
}

impl CookieOption {
    /// The option's data in `msg`, the request it was read from.
    pub fn data<'m>(&self, msg: &'m [u8]) -> Option<&'m [u8]> {
        match *self {
            Self::At { start, len } => msg.get(start..start + len),
            _ => None,
        }
    }
}

/// EDNS option codes enumd answers.
const OPTION_NSID: u16 = 3;
const OPTION_EXPIRE: u16 = 9;
const OPTION_COOKIE: u16 = 10;

/// A decoded request.
pub struct Request {
    pub id: [u8; 2],
    /// Header bytes 2 and 3 as received.
    pub flags: [u8; 2],
    qname: [u8; 255],
    qname_len: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
    /// The request ends with a TSIG RR (RFC 8945 §4.2): verified, and the answer signed, by
    /// [`crate::wire::respond`].
    pub tsig: bool,
}

impl Request {
    /// The question's name, uncompressed, spelled as the client spelled it; empty when the
    /// request has no question.
    pub fn qname(&self) -> &[u8] {
        &self.qname[..self.qname_len]
    }

    pub fn opcode(&self) -> u8 {
        (self.flags[0] >> 3) & 0x0f
    }
}

/// Why a request gets no normal answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Send nothing: too short to carry an ID, or a response.
    Drop,
    /// Answer FORMERR.
    FormErr,
}

/// Compression pointers followed in one name before it is taken for a loop.
const MAX_POINTERS: usize = 64;

/// Decodes `msg`.
pub fn parse(msg: &[u8]) -> Result<Request, Rejected> {
    if msg.len() < HEADER_LEN {
        return Err(Rejected::Drop);
    }
    if msg[2] & 0x80 != 0 {
        return Err(Rejected::Drop); // QR set: never answer a response (reflection loops).
    }
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]) as usize;
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    // One question, or none (RFC 1035 §4.1.2 does not require one; an unknown opcode's header
    // may come alone, and gets NOTIMP rather than FORMERR).
    if qd > 1 {
        return Err(Rejected::FormErr);
    }
    let mut req = Request {
        id: [msg[0], msg[1]],
        flags: [msg[2], msg[3]],
        qname: [0; 255],
        qname_len: 0,
        qtype: 0,
        qclass: 0,
        edns: None,
        tsig: false,
    };
    let mut pos = HEADER_LEN;
    if qd == 1 {
        let (len, after) = read_name(msg, pos, &mut req.qname).ok_or(Rejected::FormErr)?;
        req.qname_len = len;
        let fixed = msg.get(after..after + 4).ok_or(Rejected::FormErr)?;
        req.qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        req.qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
        pos = after + 4;
    }
    for section in 0..3 {
        let n = [an, ns, ar][section];
        for i in 0..n {
            let name_at = pos;
            pos = skip_name(msg, pos).ok_or(Rejected::FormErr)?;
            let rr = msg.get(pos..pos + 10).ok_or(Rejected::FormErr)?;
            let rr_type = u16::from_be_bytes([rr[0], rr[1]]);
            let rdlen = u16::from_be_bytes([rr[8], rr[9]]) as usize;
            let rdata = msg
                .get(pos + 10..pos + 10 + rdlen)
                .ok_or(Rejected::FormErr)?;
            if rr_type == rtype::OPT {
                // RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root.
                if section != 2 || req.edns.is_some() || msg[name_at] != 0 {
                    return Err(Rejected::FormErr);
                }
                let (nsid, cookie, expire) = read_options(rdata, pos + 10)?;
                req.edns = Some(Edns {
                    payload: u16::from_be_bytes([rr[2], rr[3]]),
                    version: rr[5],
                    dnssec_ok: rr[6] & 0x80 != 0,
                    nsid,
                    cookie,
                    expire,
                });
            }
            if rr_type == TSIG {
                // RFC 8945 §5.1: the last record of the additional section, or FORMERR.
                if section != 2 || i != n - 1 {
                    return Err(Rejected::FormErr);
                }
                req.tsig = true;
            }
            pos += 10 + rdlen;
        }
    }
    Ok(req)
}

const TSIG: u16 = 250;

/// Reads the options of an OPT RDATA that starts at `start` in the message: whether NSID was
/// asked, the COOKIE option, and whether EXPIRE was asked. Options must tile the RDATA exactly
/// (RFC 6891 §6.1.2).
fn read_options(rdata: &[u8], start: usize) -> Result<(bool, CookieOption, bool), Rejected> {
    let (mut nsid, mut cookie, mut expire) = (false, CookieOption::Absent, false);
    let mut at = 0;
    while at < rdata.len() {
        let head = rdata.get(at..at + 4).ok_or(Rejected::FormErr)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        if rdata.len() < at + 4 + len {
            return Err(Rejected::FormErr);
        }
        match code {
            OPTION_NSID => nsid = true,
            OPTION_EXPIRE => expire = true,
            OPTION_COOKIE => {
                cookie = match (cookie, len) {
                    (CookieOption::Absent, 8 | 16..=40) => CookieOption::At {
                        start: start + at + 4,
                        len,
                    },
                    _ => CookieOption::Malformed,
                };
            }
            _ => {}
        }
        at += 4 + len;
    }
    Ok((nsid, cookie, expire))
}

/// Reads the possibly compressed name at `pos` into `out`; returns its length and the position
/// after it in the message. None if it is malformed, too long, or loops.
fn read_name(msg: &[u8], mut pos: usize, out: &mut [u8; 255]) -> Option<(usize, usize)> {
    let mut len = 0;
    let mut after = None;
    let mut pointers = 0;
    loop {
        let b = *msg.get(pos)?;
        match b & 0xc0 {
            0x00 if b == 0 => {
                out[len] = 0;
                return Some((len + 1, after.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg.get(pos..pos + 1 + b as usize)?;
                if len + label.len() + 1 > out.len() {
                    return None; // over 255 bytes
                }
                out[len..len + label.len()].copy_from_slice(label);
                len += label.len();
                pos += label.len();
            }
            0xc0 => {
                let target = (usize::from(b & 0x3f) << 8) | usize::from(*msg.get(pos + 1)?);
                after.get_or_insert(pos + 2);
                pointers += 1;
                // Pointers go backwards, and not forever.
                if target >= pos || pointers > MAX_POINTERS {
                    return None;
                }
                pos = target;
            }
            _ => return None, // extended label types (RFC 6891 §5): not supported
        }
    }
}

/// The position after the possibly compressed name at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let b = *msg.get(pos)?;
        match b & 0xc0 {
            0x00 if b == 0 => return Some(pos + 1),
            0x00 => pos += 1 + b as usize,
            0xc0 => return msg.get(pos + 1).map(|_| pos + 2),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], extra: &[u8], ar: u16) -> Vec<u8> {
        let mut m = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(&ar.to_be_bytes());
        m.extend_from_slice(name);
        m.extend_from_slice(&[0, 35, 0, 1]);
        m.extend_from_slice(extra);
        m
    }

    const OPT_DO: &[u8] = &[0, 0, 41, 0x10, 0x00, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn decodes_question_and_opt() {
        let r = parse(&query(b"\x011\x04E164\x04arpa\x00", OPT_DO, 1)).unwrap();
        assert_eq!(r.qname(), b"\x011\x04E164\x04arpa\x00");
        assert_eq!((r.qtype, r.qclass), (35, 1));
        assert_eq!(
            r.edns,
            Some(Edns {
                payload: 4096,
                version: 0,
                dnssec_ok: true,
                nsid: false,
                cookie: CookieOption::Absent,
                expire: false,
            })
        );
        assert_eq!(r.id, [0xab, 0xcd]);
    }

    #[test]
    fn nsid_and_cookie_options_are_found_and_bad_cookie_lengths_marked() {
        let opt = |options: &[u8]| {
            let mut o = vec![0, 0, 41, 0x10, 0x00, 0, 0, 0, 0];
            o.extend_from_slice(&u16::try_from(options.len()).unwrap().to_be_bytes());
            o.extend_from_slice(options);
            o
        };
        let cookie =
            |len: usize| [&[0, 10, 0, u8::try_from(len).unwrap()][..], &vec![7; len]].concat();
        let nsid = [0, 3, 0, 0];
        let m = query(b"\x00", &opt(&[&nsid[..], &cookie(8)].concat()), 1);
        let e = parse(&m).unwrap().edns.unwrap();
        assert!(e.nsid);
        assert_eq!(e.cookie.data(&m), Some(&[7; 8][..]));
        for (len, ok) in [
            (0, false),
            (7, false),
            (8, true),
            (9, false),
            (15, false),
            (16, true),
            (40, true),
            (41, false),
        ] {
            let m = query(b"\x00", &opt(&cookie(len)), 1);
            let e = parse(&m).unwrap().edns.unwrap();
            assert!(!e.nsid);
            assert_eq!(e.cookie.data(&m).is_some(), ok, "{len}");
            assert_eq!(e.cookie == CookieOption::Malformed, !ok, "{len}");
        }
        let m = query(b"\x00", &opt(&[cookie(8), cookie(8)].concat()), 1);
        assert_eq!(
            parse(&m).unwrap().edns.unwrap().cookie,
            CookieOption::Malformed
        );
    }

    #[test]
    fn compressed_question_names_are_followed_backwards_only() {
        // A name whose tail points back into the header is nonsense but bounded: rejected.
        assert!(parse(&query(&[1, b'a', 0xc0, 12], &[], 0)).is_err());
        assert!(parse(&query(&[0xc0, 12], &[], 0)).is_err());
        assert!(parse(&query(&[0xc0, 200], &[], 0)).is_err());
    }

    #[test]
    fn malformed_is_formerr_and_short_or_responses_are_dropped() {
        assert_eq!(parse(&[0; 5]).err(), Some(Rejected::Drop));
        let mut resp = query(b"\x00", &[], 0);
        resp[2] |= 0x80;
        assert_eq!(parse(&resp).err(), Some(Rejected::Drop));
        assert_eq!(
            parse(&query(b"\x05ab", &[], 0)).err(),
            Some(Rejected::FormErr)
        );
        // OPT owned by a non-root name, two OPTs, OPT options overrunning the RDATA.
        assert!(
            parse(&query(
                b"\x00",
                &[1, b'x', 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0],
                1
            ))
            .is_err()
        );
        let two: Vec<u8> = [OPT_DO, OPT_DO].concat();
        assert!(parse(&query(b"\x00", &two, 2)).is_err());
        assert!(
            parse(&query(
                b"\x00",
                &[0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 9],
                1
            ))
            .is_err()
        );
        // A name over 255 bytes.
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert!(parse(&query(&long, &[], 0)).is_err());
    }
}
