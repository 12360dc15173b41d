//! A whole DNS message decoded: header, every section's records with names decompressed (in
//! RDATA too, for the RFC 1035 types whose names may be compressed), the OPT record, and the
//! TSIG record with where it starts, which its MAC needs. For UPDATE and, later, transfers; the
//! query path keeps its allocation-free decoder ([`crate::request`]).

use crate::rdata::rtype;
use crate::xfr::tsig::{TSIG, TsigRdata};

pub const CLASS_IN: u16 = 1;
pub const CLASS_NONE: u16 = 254;
pub const CLASS_ANY: u16 = 255;

/// One record of a section, owner and RDATA names uncompressed, spelled as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// The TSIG record: owner (the key name), RDATA fields, and its offset in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tsig {
    pub key_name: Vec<u8>,
    pub rdata: TsigRdata,
    pub offset: usize,
}

/// A decoded message. In UPDATE terms (RFC 2136 §2): `question` is the zone section,
/// `answer` the prerequisites, `authority` the updates.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: u16,
    pub flags: u16,
    pub question: Vec<(Vec<u8>, u16, u16)>,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    /// Additional records other than OPT and TSIG.
    pub additional: Vec<Rr>,
    /// The OPT record's class (the requester's payload size) and TTL (extended RCODE, version,
    /// flags), if there was one.
    pub opt: Option<(u16, u32)>,
    /// The OPT record's options, as sent.
    pub opt_options: Vec<u8>,
    pub tsig: Option<Tsig>,
}

/// Why a message could not be decoded: FORMERR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl Message {
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    /// The data of the OPT record's first option with `code`.
    pub fn option(&self, code: u16) -> Option<&[u8]> {
        let o = &self.opt_options;
        let mut at = 0;
        while at + 4 <= o.len() {
            let c = u16::from_be_bytes([o[at], o[at + 1]]);
            let len = usize::from(u16::from_be_bytes([o[at + 2], o[at + 3]]));
            let data = o.get(at + 4..at + 4 + len)?;
            if c == code {
                return Some(data);
            }
            at += 4 + len;
        }
        None
    }

    pub fn parse(msg: &[u8]) -> Result<Self, Malformed> {
        if msg.len() < 12 {
            return Err(Malformed("shorter than a header"));
        }
        let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
        let counts = [word(4), word(6), word(8), word(10)];
        let mut m = Self {
            id: word(0),
            flags: word(2),
            question: Vec::new(),
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            opt: None,
            opt_options: Vec::new(),
            tsig: None,
        };
        let mut at = 12;
        for _ in 0..counts[0] {
            let (name, next) = read_name(msg, at)?;
            let fixed = msg
                .get(next..next + 4)
                .ok_or(Malformed("question cut short"))?;
            m.question.push((
                name,
                u16::from_be_bytes([fixed[0], fixed[1]]),
                u16::from_be_bytes([fixed[2], fixed[3]]),
            ));
            at = next + 4;
        }
        for (section, &count) in counts[1..].iter().enumerate() {
            for k in 0..count {
                let start = at;
                let (rr, next) = read_rr(msg, at)?;
                at = next;
                if section < 2 {
                    let list = if section == 0 {
                        &mut m.answer
                    } else {
                        &mut m.authority
                    };
                    list.push(rr);
                    continue;
                }
                match rr.rtype {
                    rtype::OPT if m.opt.is_some() => return Err(Malformed("two OPT records")),
                    rtype::OPT => {
                        m.opt = Some((rr.class, rr.ttl));
                        m.opt_options = rr.rdata;
                    }
                    // RFC 8945 §5.1: the TSIG RR is the last record, or the message is FORMERR.
                    TSIG if k + 1 != count => return Err(Malformed("TSIG is not the last record")),
                    TSIG => {
                        let rdata =
                            TsigRdata::parse(&rr.rdata).ok_or(Malformed("bad TSIG RDATA"))?;
                        m.tsig = Some(Tsig {
                            key_name: rr.owner,
                            rdata,
                            offset: start,
                        });
                    }
                    _ => m.additional.push(rr),
                }
            }
        }
        if at != msg.len() {
            return Err(Malformed("bytes after the last record"));
        }
        Ok(m)
    }
}

/// Compression pointers followed in one name before it is taken for a loop.
const MAX_POINTERS: usize = 64;

/// The name at `at`, uncompressed, and where the bytes after it start.
/// A random message ID (RFC 5452 §4.3: not guessable, so an answer cannot be forged blind).
pub fn random_id() -> u16 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
}

pub fn read_name(msg: &[u8], at: usize) -> Result<(Vec<u8>, usize), Malformed> {
    let mut out = Vec::with_capacity(32);
    let next = read_name_into(msg, at, &mut out)?;
    Ok((out, next))
}

/// [`read_name`], appending the name to `out` (a record's RDATA, say, which then costs no
/// allocation of its own).
fn read_name_into(msg: &[u8], mut at: usize, out: &mut Vec<u8>) -> Result<usize, Malformed> {
    let begin = out.len();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(at).ok_or(Malformed("name cut short"))?;
        match len {
            0 => {
                out.push(0);
                break;
            }
            1..=63 => {
                let label = msg
                    .get(at..at + 1 + usize::from(len))
                    .ok_or(Malformed("label cut short"))?;
                out.extend_from_slice(label);
                if out.len() - begin > 254 {
                    return Err(Malformed("name longer than 255 octets"));
                }
                at += 1 + usize::from(len);
            }
            0xc0..=0xff => {
                let low = *msg.get(at + 1).ok_or(Malformed("pointer cut short"))?;
                end.get_or_insert(at + 2);
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(Malformed("compression loop"));
                }
                at = usize::from(u16::from_be_bytes([len & 0x3f, low]));
            }
            _ => return Err(Malformed("unknown label type")),
        }
    }
    Ok(end.unwrap_or(at + 1))
}

fn read_rr(msg: &[u8], at: usize) -> Result<(Rr, usize), Malformed> {
    let (owner, at) = read_name(msg, at)?;
    let fixed = msg.get(at..at + 10).ok_or(Malformed("record cut short"))?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    let start = at + 10;
    let raw = msg
        .get(start..start + len)
        .ok_or(Malformed("RDATA cut short"))?;
    let rdata = decompress_rdata(msg, start, raw, rtype)?;
    Ok((
        Rr {
            owner,
            rtype,
            class,
            ttl,
            rdata,
        },
        start + len,
    ))
}

/// RDATA with its names written out whole, for the types whose names a sender may compress
/// (RFC 3597 §4: the RFC 1035 types, and a few that senders compress anyway); others as sent.
fn decompress_rdata(msg: &[u8], start: usize, raw: &[u8], t: u16) -> Result<Vec<u8>, Malformed> {
    let fixed_len = match t {
        rtype::A => Some(4),
        rtype::AAAA => Some(16),
        _ => None,
    };
    if fixed_len.is_some_and(|n| !raw.is_empty() && raw.len() != n) {
        return Err(Malformed("address RDATA of the wrong length"));
    }
    if raw.is_empty() {
        return Ok(Vec::new()); // UPDATE deletions carry no RDATA
    }
    // (bytes before the names, how many names)
    let (lead, names) = match t {
        rtype::NS | rtype::CNAME | rtype::PTR | 3 | 4 | 7 | 8 | 9 => (0, 1),
        rtype::SOA => (0, 2),
        rtype::MX | 18 | 21 => (2, 1), // MX, AFSDB, RT
        14 | 17 => (0, 2),             // MINFO, RP
        26 => (2, 2),                  // PX
        rtype::SRV => (6, 1),
        // NAPTR: order, preference, then flags, services and regexp as character-strings.
        // RFC 3403 forbids compressing its replacement, but dnspython does: decompressed,
        // as a name with a pointer left in would be served as garbage.
        rtype::NAPTR => {
            let mut lead = 4;
            for _ in 0..3 {
                let len = *raw.get(lead).ok_or(Malformed("NAPTR RDATA cut short"))?;
                lead += 1 + usize::from(len);
            }
            (lead, 1)
        }
        _ => return Ok(raw.to_vec()),
    };
    let end = start + raw.len();
    // Room for the names written out, so that a record costs one allocation.
    let mut out = Vec::with_capacity(raw.len() + 64);
    out.extend_from_slice(raw.get(..lead).ok_or(Malformed("RDATA cut short"))?);
    let mut at = start + lead;
    for _ in 0..names {
        let next = read_name_into(msg, at, &mut out)?;
        if next > end {
            return Err(Malformed("a name runs past its RDATA"));
        }
        at = next;
    }
    // What follows the names is fixed by the type: nothing but SOA's 20 octets of numbers.
    let fixed_after = if t == rtype::SOA { 20 } else { 0 };
    if end - at != fixed_after {
        return Err(Malformed("RDATA of the wrong length for its type"));
    }
    out.extend_from_slice(&msg[at..end]);
    if out.len() > 65_535 {
        return Err(Malformed(
            "RDATA over 65535 octets once its names are written out",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An UPDATE for `e164.arpa.` adding one NAPTR at `6.6` whose replacement is `rdata_tail`.
    fn update_with_naptr(rdata_tail: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 1, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        m.extend_from_slice(b"\x04e164\x04arpa\x00\x00\x06\x00\x01"); // zone at offset 12
        m.extend_from_slice(b"\x016\x016\xc0\x0c\x00\x23\x00\x01\x00\x00\x01\x2c");
        let mut rdata = vec![0, 10, 0, 100, 0, 0, 0];
        rdata.extend_from_slice(rdata_tail);
        m.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&rdata);
        m
    }

    #[test]
    fn a_compressed_naptr_replacement_is_written_out_and_a_broken_one_is_formerr() {
        // 7.7 and a pointer to the zone name, as dnspython sends it.
        let m = Message::parse(&update_with_naptr(b"\x017\x017\xc0\x0c")).unwrap();
        assert_eq!(
            m.authority[0].rdata,
            b"\x00\x0a\x00\x64\x00\x00\x00\x017\x017\x04e164\x04arpa\x00"
        );
        // Bytes after the replacement, and a character-string past the end, are malformed.
        assert!(Message::parse(&update_with_naptr(b"\x00\x00")).is_err());
        let mut cut = update_with_naptr(b"");
        let at = cut.len() - 3;
        cut[at] = 40;
        assert!(Message::parse(&cut).is_err());
    }
}
