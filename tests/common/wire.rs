//! A strict decoder of DNS responses for tests: every byte accounted for, compression pointers
//! only backwards, names in the RDATA of RFC 1035 types decompressed. What it refuses, no
//! client should have to accept.

/// One resource record as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rr {
    /// Owner in uncompressed wire form, spelled as sent.
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// RDATA with compressed names expanded: comparable with RDATA as stored.
    pub rdata: Vec<u8>,
}

/// A whole response.
#[derive(Debug)]
pub struct Response {
    pub id: u16,
    /// Header bytes 2 and 3.
    pub flags: [u8; 2],
    /// Empty when the response has no question.
    pub qname: Vec<u8>,
    pub qtype: u16,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
}

impl Response {
    pub fn rcode(&self) -> u8 {
        self.flags[1] & 0x0f
    }
    pub fn aa(&self) -> bool {
        self.flags[0] & 0x04 != 0
    }
    pub fn tc(&self) -> bool {
        self.flags[0] & 0x02 != 0
    }
}

/// Decodes `msg`, or says what is wrong with it.
pub fn decode(msg: &[u8]) -> Result<Response, String> {
    if msg.len() < 12 {
        return Err(format!("{} bytes: shorter than a header", msg.len()));
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([msg[i], msg[i + 1]]));
    // One question, or none (NOTIMP to a bare header): `qname` is then empty.
    if count(4) > 1 {
        return Err(format!("QDCOUNT {}", count(4)));
    }
    let mut pos = 12;
    let (mut qname, mut qtype) = (Vec::new(), 0);
    if count(4) == 1 {
        qname = read_name(msg, &mut pos)?;
        let fixed = msg.get(pos..pos + 4).ok_or("question cut short")?;
        qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        pos += 4;
    }
    let mut sections = [Vec::new(), Vec::new(), Vec::new()];
    for (s, records) in sections.iter_mut().enumerate() {
        for _ in 0..count(6 + 2 * s) {
            records.push(read_rr(msg, &mut pos)?);
        }
    }
    if pos != msg.len() {
        return Err(format!("{} bytes after the last record", msg.len() - pos));
    }
    let [answer, authority, additional] = sections;
    Ok(Response {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        flags: [msg[2], msg[3]],
        qname,
        qtype,
        answer,
        authority,
        additional,
    })
}

fn read_rr(msg: &[u8], pos: &mut usize) -> Result<Rr, String> {
    let owner = read_name(msg, pos)?;
    let fixed = msg.get(*pos..*pos + 10).ok_or("record header cut short")?;
    let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
    let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
    *pos += 10;
    let end = *pos + rdlen;
    if end > msg.len() {
        return Err(format!("RDLENGTH {rdlen} runs past the message"));
    }
    let mut rdata = Vec::with_capacity(rdlen);
    let mut at = *pos;
    // Names that RFC 1035 types may compress (RFC 3597 §4): expand them.
    let names = |rdata: &mut Vec<u8>, at: &mut usize, n: usize| -> Result<(), String> {
        for _ in 0..n {
            rdata.extend_from_slice(&read_name(&msg[..end], at)?);
        }
        Ok(())
    };
    match rtype {
        2 | 5 | 12 => names(&mut rdata, &mut at, 1)?,
        15 => {
            rdata.extend_from_slice(msg.get(at..at + 2).ok_or("MX cut short")?);
            at += 2;
            names(&mut rdata, &mut at, 1)?;
        }
        6 => names(&mut rdata, &mut at, 2)?,
        _ => {}
    }
    rdata.extend_from_slice(&msg[at..end]);
    *pos = end;
    Ok(Rr {
        owner,
        rtype,
        class,
        ttl,
        rdata,
    })
}

/// Reads a possibly compressed name at `pos`, moving `pos` past it.
pub fn read_name(msg: &[u8], pos: &mut usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut at = *pos;
    let mut jumped = false;
    loop {
        let len = *msg.get(at).ok_or("name runs past the message")?;
        match len & 0xc0 {
            0 if len == 0 => {
                out.push(0);
                if !jumped {
                    *pos = at + 1;
                }
                break;
            }
            0 => {
                let label = msg
                    .get(at..at + 1 + usize::from(len))
                    .ok_or("label runs past the message")?;
                out.extend_from_slice(label);
                at += label.len();
            }
            0xc0 => {
                let low = *msg.get(at + 1).ok_or("pointer cut short")?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                if target >= at {
                    return Err(format!("pointer at {at} to {target} does not point back"));
                }
                if !jumped {
                    *pos = at + 2;
                }
                jumped = true;
                at = target;
            }
            _ => return Err(format!("label type {len:#x}")),
        }
        if out.len() > 255 {
            return Err("name over 255 bytes".to_string());
        }
    }
    Ok(out)
}
