//! Talking to a zone's server over TCP for `enumd provision` and `enumd export`: reading the
//! zone by AXFR (RFC 5936) or by one query per name, pipelined (RFC 7766 §6.2.1.1), and sending
//! UPDATE messages (RFC 2136), each signed with TSIG (RFC 8945) when a key is given and its
//! answer verified. Works against any server, not only enumd.

use std::collections::HashSet;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::client::plan::{Current, Holdings};
use crate::config::Key;
use crate::name;
use crate::rdata::rtype;
use crate::xfr::message::{CLASS_IN, Message, Rr, random_id};
use crate::xfr::tsig::{self, ResponseVerifier, unix_now};

/// How long to wait for a connection, and for each answer.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Why the zone could not be read.
#[derive(Debug)]
pub struct ReadError {
    pub reason: String,
    /// The server answered that it will not transfer the zone (REFUSED, NOTAUTH, NOTIMP):
    /// reading name by name may still work.
    pub refused: bool,
}

/// A request sent and not yet answered.
pub struct Pending {
    id: u16,
    mac: Vec<u8>,
}

impl Pending {
    pub fn id(&self) -> u16 {
        self.id
    }
}

/// One TCP connection to the server, messages framed with their length (RFC 1035 §4.2.2).
pub struct Conn {
    addr: SocketAddr,
    input: BufReader<TcpStream>,
    output: TcpStream,
    key: Option<Key>,
}

impl Conn {
    pub fn open(addr: SocketAddr, key: Option<&Key>) -> Result<Self, String> {
        let stream =
            TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| format!("{addr}: {e}"))?;
        let output = stream.try_clone().map_err(|e| format!("{addr}: {e}"))?;
        Ok(Self {
            addr,
            input: BufReader::with_capacity(256 << 10, stream),
            output,
            // Names are compared as the server writes them in its answers: lower case.
            key: key.map(|k| Key {
                name: k.name.to_ascii_lowercase(),
                ..k.clone()
            }),
        })
    }

    /// Signs `msg` when there is a key; the MAC its answer's must follow.
    fn sign(&self, msg: &mut Vec<u8>) -> Vec<u8> {
        self.key
            .as_ref()
            .map_or_else(Vec::new, |k| tsig::sign_request(msg, k, unix_now(), 300))
    }

    fn write(&mut self, frames: &[u8]) -> Result<(), String> {
        self.output
            .write_all(frames)
            .map_err(|e| format!("{}: {e}", self.addr))
    }

    fn read(&mut self, buf: &mut Vec<u8>) -> Result<(), String> {
        let mut len = [0u8; 2];
        self.input
            .read_exact(&mut len)
            .map_err(|e| format!("{}: no answer: {e}", self.addr))?;
        buf.resize(usize::from(u16::from_be_bytes(len)), 0);
        self.input
            .read_exact(buf)
            .map_err(|e| format!("{}: answer cut short: {e}", self.addr))
    }

    /// Sends one request and returns its answer, decoded, with the TSIG verified.
    pub fn exchange(&mut self, msg: Vec<u8>) -> Result<Message, String> {
        let sent = self.send(msg)?;
        self.answer(std::slice::from_ref(&sent)).map(|(_, m)| m)
    }

    /// Sends one request without waiting for its answer (RFC 7766 §6.2.1.1 pipelining):
    /// its id and the MAC its answer's must follow, for [`Conn::answer`].
    pub fn send(&mut self, mut msg: Vec<u8>) -> Result<Pending, String> {
        let id = u16::from_be_bytes([msg[0], msg[1]]);
        let mac = self.sign(&mut msg);
        if msg.len() > usize::from(u16::MAX) {
            return Err(format!(
                "a message of {} octets: more than TCP's 65,535 (RFC 1035 §4.2.2)",
                msg.len()
            ));
        }
        self.write(&frame(&msg))?;
        Ok(Pending { id, mac })
    }

    /// The next answer to one of the requests `pending`, in whatever order the server
    /// answers: its index in `pending`, and the answer with its TSIG verified. Messages with
    /// other ids are skipped.
    pub fn answer(&mut self, pending: &[Pending]) -> Result<(usize, Message), String> {
        let mut buf = Vec::new();
        loop {
            self.read(&mut buf)?;
            let answer = Message::parse(&buf)
                .map_err(|e| format!("{}: malformed answer: {}", self.addr, e.0))?;
            let Some(at) = pending.iter().position(|p| p.id == answer.id) else {
                continue;
            };
            self.verify(&buf, &answer, &pending[at].mac)?;
            return Ok((at, answer));
        }
    }

    fn verify(&self, raw: &[u8], answer: &Message, mac: &[u8]) -> Result<(), String> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        let mut v = ResponseVerifier::new(key, mac);
        v.message(raw, answer, unix_now())
            .and_then(|()| v.finish())
            .map_err(|e| format!("{}: the answer's TSIG: {e}", self.addr))
    }

    /// Streams the zone by AXFR, calling `each` for every record (owners lower-cased) between
    /// the opening and the closing SOA. Returns the serial.
    pub fn axfr(&mut self, apex: &[u8], each: &mut dyn FnMut(Rr)) -> Result<u32, ReadError> {
        let fail = |reason: String| ReadError {
            reason,
            refused: false,
        };
        let id = random_id();
        let mut req = header(id, 0, 1);
        question(&mut req, apex, rtype::AXFR);
        let mac = self.sign(&mut req);
        self.write(&frame(&req)).map_err(fail)?;
        let mut verifier = self.key.as_ref().map(|k| ResponseVerifier::new(k, &mac));
        let mut buf = Vec::new();
        let mut serial = None;
        loop {
            self.read(&mut buf).map_err(fail)?;
            let msg = Message::parse(&buf)
                .map_err(|e| fail(format!("{}: malformed AXFR message: {}", self.addr, e.0)))?;
            if msg.id != id {
                return Err(fail(format!(
                    "{}: an AXFR message with another ID",
                    self.addr
                )));
            }
            if let Some(v) = verifier.as_mut() {
                v.message(&buf, &msg, unix_now())
                    .map_err(|e| fail(format!("{}: AXFR TSIG: {e}", self.addr)))?;
            }
            let rcode = msg.flags & 0xf;
            if rcode != 0 {
                return Err(ReadError {
                    reason: format!("{}: AXFR answered {}", self.addr, rcode_text(rcode)),
                    refused: matches!(rcode, 4 | 5 | 9),
                });
            }
            for mut rr in msg.answer {
                rr.owner = name::to_lowercase(&rr.owner);
                if rr.rtype == rtype::SOA && name::eq_ignore_case(&rr.owner, apex) {
                    if serial.is_some() {
                        if let Some(v) = &verifier {
                            v.finish()
                                .map_err(|e| fail(format!("{}: AXFR TSIG: {e}", self.addr)))?;
                        }
                        return serial.ok_or_else(|| fail("no SOA".into()));
                    }
                    serial = rr.rdata.len().checked_sub(20).map(|at| {
                        u32::from_be_bytes([
                            rr.rdata[at],
                            rr.rdata[at + 1],
                            rr.rdata[at + 2],
                            rr.rdata[at + 3],
                        ])
                    });
                    if serial.is_none() {
                        return Err(fail(format!("{}: a malformed SOA", self.addr)));
                    }
                    each(rr);
                    continue;
                }
                if serial.is_none() {
                    return Err(fail(format!(
                        "{}: AXFR does not start with the SOA",
                        self.addr
                    )));
                }
                each(rr);
            }
        }
    }

    /// What each name holds, by one NAPTR query per name, pipelined a window at a time.
    /// Cannot tell a wildcard's synthesized records from a name's own: an UPDATE whose
    /// prerequisite assumed them is refused, and nothing is overwritten.
    pub fn query_each(
        &mut self,
        owners: &[&[u8]],
        progress: &mut dyn FnMut(usize),
    ) -> Result<Holdings, String> {
        const WINDOW: usize = 512;
        let mut out = Holdings::new();
        let mut buf = Vec::new();
        let base = random_id();
        for chunk in owners.chunks(WINDOW) {
            let mut frames = Vec::with_capacity(chunk.len() * 64);
            let mut macs = Vec::with_capacity(chunk.len());
            for (i, owner) in chunk.iter().enumerate() {
                let id = base.wrapping_add(u16::try_from(i).unwrap_or(0));
                let mut q = header(id, 0, 1);
                question(&mut q, owner, rtype::NAPTR);
                macs.push(self.sign(&mut q));
                frames.extend_from_slice(&frame(&q));
            }
            self.write(&frames)?;
            let mut pending: HashSet<usize> = (0..chunk.len()).collect();
            while !pending.is_empty() {
                self.read(&mut buf)?;
                let answer = Message::parse(&buf)
                    .map_err(|e| format!("{}: malformed answer: {}", self.addr, e.0))?;
                let i = usize::from(answer.id.wrapping_sub(base));
                if !pending.remove(&i) {
                    continue;
                }
                self.verify(&buf, &answer, &macs[i])?;
                let owner = chunk[i];
                let rcode = answer.flags & 0xf;
                if rcode != 0 && rcode != 3 {
                    return Err(format!(
                        "{}: NAPTR query for {} answered {}",
                        self.addr,
                        name::to_text(owner),
                        rcode_text(rcode)
                    ));
                }
                let mut cur = Current::default();
                let aa = answer.flags & 0x0400 != 0;
                if !aa {
                    if answer.authority.iter().any(|r| r.rtype == rtype::NS) {
                        cur.delegated = true;
                    } else {
                        return Err(format!(
                            "{}: not authoritative for {}",
                            self.addr,
                            name::to_text(owner)
                        ));
                    }
                }
                for rr in answer.answer {
                    if !name::eq_ignore_case(&rr.owner, owner) {
                        continue;
                    }
                    match rr.rtype {
                        rtype::CNAME => cur.cname = true,
                        rtype::NAPTR => cur.naptrs.push((rr.ttl, rr.rdata)),
                        _ => {}
                    }
                }
                if cur.cname || cur.delegated || !cur.naptrs.is_empty() {
                    out.insert(owner.to_vec(), cur);
                }
            }
            progress(chunk.len());
        }
        Ok(out)
    }
}

/// The SOA serial of `apex`, by a query on this connection.
pub fn serial(conn: &mut Conn, apex: &[u8]) -> Result<u32, String> {
    let mut q = header(random_id(), 0, 1);
    question(&mut q, apex, rtype::SOA);
    let answer = conn.exchange(q)?;
    if answer.flags & 0xf != 0 {
        return Err(format!(
            "SOA query answered {}",
            rcode_text(answer.flags & 0xf)
        ));
    }
    answer
        .answer
        .iter()
        .find(|r| r.rtype == rtype::SOA)
        .and_then(|r| r.rdata.len().checked_sub(20).map(|at| &r.rdata[at..at + 4]))
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "no SOA in the answer: is the zone served there?".into())
}

/// A header with `flags` and `qd` questions, other counts zero.
pub fn header(id: u16, flags: u16, qd: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(512);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&qd.to_be_bytes());
    m.extend_from_slice(&[0; 6]);
    m
}

fn question(m: &mut Vec<u8>, qname: &[u8], qtype: u16) {
    m.extend_from_slice(qname);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(msg.len() + 2);
    f.extend_from_slice(&u16::try_from(msg.len()).unwrap_or(u16::MAX).to_be_bytes());
    f.extend_from_slice(msg);
    f
}

/// An RCODE by its RFC name.
pub fn rcode_text(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        other => format!("RCODE {other}"),
    }
}
