//! Zone transfers in, for secondary zones: the SOA query that asks a primary for its serial,
//! and AXFR (RFC 5936) or IXFR (RFC 1995) read message by message. [`Reader`] is sans-I/O: it
//! checks each message (ID, RCODE, question, the TSIG chain of RFC 8945 §5.3.1) and the
//! records' order, and builds either the whole zone (streamed into a [`ZoneBuilder`], never
//! held as a list of records) or IXFR's change sets. Nothing is applied here: what a
//! transfer made is handed whole to the zone owner, so a transfer that fails midway, or
//! does not verify, changes nothing.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Key;
use crate::name;
use crate::rdata::rtype;
use crate::record::{Pos, Record};
use crate::xfr::message::{CLASS_IN, Message, random_id};
use crate::xfr::tsig::{self, ResponseVerifier, unix_now};
use crate::xfr::update::{rcode, serial_gt, soa_serial};
use crate::zone::change::{ChangeSet, Rr};
use crate::zone::journal::Entry;
use crate::zone::{LoadFailure, Zone, ZoneBuilder};

/// Where a secondary zone is copied from.
#[derive(Clone, Debug)]
pub struct Primary {
    pub addr: SocketAddr,
    pub key: Option<Key>,
}

/// What a transfer brought.
pub enum Received {
    /// The primary's serial is not above ours: nothing to take.
    Current(u32),
    /// The whole zone (AXFR, or IXFR answered AXFR-style), built and checked.
    Whole(Box<Zone>),
    /// IXFR's change sets, oldest first, from our serial to the primary's.
    Diffs(Vec<Entry>),
}

/// Why a transfer brought nothing usable.
#[derive(Debug)]
pub struct Failed {
    pub reason: String,
    /// The primary answered, but not with a usable IXFR: worth asking for AXFR instead
    /// (refused, SERVFAIL, NOTIMP, an answer that does not continue our serial).
    pub try_axfr: bool,
}

impl Failed {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            try_axfr: false,
        }
    }

    fn ixfr(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            try_axfr: true,
        }
    }
}

/// What to ask for: AXFR, or IXFR from our serial (our SOA goes in the authority section).
#[derive(Clone, Debug)]
pub enum Ask {
    Axfr,
    Ixfr { serial: u32, soa: Rr },
}

/// A transfer request for `apex`, signed when `key` is given; its MAC, for the answer's.
pub fn request(id: u16, apex: &[u8], ask: &Ask, key: Option<&Key>, now: u64) -> (Vec<u8>, Vec<u8>) {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(&id.to_be_bytes());
    let ns = u8::from(matches!(ask, Ask::Ixfr { .. }));
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, ns, 0, 0]);
    m.extend_from_slice(apex);
    let qtype = match ask {
        Ask::Axfr => rtype::AXFR,
        Ask::Ixfr { .. } => rtype::IXFR,
    };
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Ask::Ixfr { soa, .. } = ask {
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&rtype::SOA.to_be_bytes());
        m.extend_from_slice(&CLASS_IN.to_be_bytes());
        m.extend_from_slice(&soa.ttl.to_be_bytes());
        m.extend_from_slice(&u16::try_from(soa.rdata.len()).unwrap_or(0).to_be_bytes());
        m.extend_from_slice(&soa.rdata);
    }
    let mac = key.map_or_else(Vec::new, |k| tsig::sign_request(&mut m, k, now, 300));
    (m, mac)
}

/// Where a reader is in the answer's records.
enum Mode {
    /// Nothing read yet.
    Start,
    /// The first SOA read, the primary's serial; what follows tells AXFR-style from IXFR.
    First(Rr),
    /// The whole zone coming in.
    Whole(Box<ZoneBuilder>),
    /// IXFR's sequences: those complete, the one being read, and whether it is past its
    /// deletions (its second SOA read).
    Diffs {
        done: Vec<Entry>,
        current: Entry,
        adding: bool,
    },
    /// The closing SOA read.
    Finished(Received),
}

/// Reads one transfer's answer, message by message.
pub struct Reader {
    apex: Vec<u8>,
    id: u16,
    qtype: u16,
    /// Our serial, for IXFR (and to refuse a lower one for AXFR).
    ours: Option<u32>,
    strict: bool,
    verifier: Option<ResponseVerifier>,
    /// The primary's serial: the first SOA's.
    newest: u32,
    mode: Mode,
    origin: Pos,
    pub messages: u64,
    pub records: u64,
}

impl Reader {
    /// A reader for the answer to a request `id` for `apex` of type `qtype`, whose MAC was
    /// `key_mac` (signed requests); `origin` names the source in problems found.
    pub fn new(
        apex: &[u8],
        id: u16,
        ask: &Ask,
        ours: Option<u32>,
        strict: bool,
        key_mac: Option<(&Key, &[u8])>,
        origin: &str,
    ) -> Self {
        Self {
            apex: name::to_lowercase(apex),
            id,
            qtype: match ask {
                Ask::Axfr => rtype::AXFR,
                Ask::Ixfr { .. } => rtype::IXFR,
            },
            ours,
            strict,
            verifier: key_mac.map(|(k, mac)| ResponseVerifier::new(k, mac)),
            newest: 0,
            mode: Mode::Start,
            origin: Pos {
                file: Arc::from(Path::new(origin)),
                line: 0,
            },
            messages: 0,
            records: 0,
        }
    }

    /// Takes one message; Ok(true) once the answer is complete.
    pub fn message(&mut self, raw: &[u8], now: u64) -> Result<bool, Failed> {
        let msg =
            Message::parse(raw).map_err(|e| Failed::new(format!("malformed message: {}", e.0)))?;
        self.messages += 1;
        if msg.id != self.id || msg.flags & 0x8000 == 0 {
            return Err(Failed::new(
                "a message that is not an answer to our request",
            ));
        }
        let ixfr = self.qtype == rtype::IXFR;
        let code = (msg.flags & 0x0f) as u8;
        if code != rcode::NOERROR {
            let what = format!("the primary answered {}", rcode_text(code));
            return Err(if ixfr && code != rcode::NOTAUTH {
                Failed::ixfr(what)
            } else {
                Failed::new(what)
            });
        }
        if let Some(v) = self.verifier.as_mut() {
            v.message(raw, &msg, now).map_err(Failed::new)?;
        }
        if let Some((qname, qtype, _)) = msg.question.first()
            && (name::to_lowercase(qname) != self.apex || *qtype != self.qtype)
        {
            return Err(Failed::new("an answer to another question"));
        }
        for rr in msg.answer {
            if matches!(self.mode, Mode::Finished(_)) {
                return Err(Failed::new("records after the closing SOA"));
            }
            if rr.class != CLASS_IN {
                return Err(Failed::new(format!(
                    "a record of class {} (only IN is served)",
                    rr.class
                )));
            }
            self.records += 1;
            let mut owner = rr.owner;
            // Length octets are below 64, so only the labels' letters change.
            owner.make_ascii_lowercase();
            let rr = Rr {
                owner,
                rtype: rr.rtype,
                ttl: rr.ttl,
                rdata: rr.rdata,
            };
            self.record(rr)?;
            if matches!(self.mode, Mode::Finished(Received::Current(_))) && !ixfr {
                // AXFR of a serial we hold: the rest is not read (the connection is closed).
                return Ok(true);
            }
        }
        // A lone SOA (RFC 1995 §4: IXFR when the client is current).
        if matches!(self.mode, Mode::First(_))
            && ixfr
            && self.ours.is_some_and(|o| !serial_gt(self.newest, o))
        {
            self.mode = Mode::Finished(Received::Current(self.newest));
        }
        if matches!(self.mode, Mode::Finished(_)) {
            if let Some(v) = &self.verifier {
                v.finish().map_err(Failed::new)?;
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The answer, once [`Self::message`] said it is complete.
    pub fn finish(self) -> Option<Received> {
        match self.mode {
            Mode::Finished(r) => Some(r),
            _ => None,
        }
    }

    fn soa_of(&self, rr: &Rr) -> Result<Option<u32>, Failed> {
        if rr.rtype != rtype::SOA {
            return Ok(None);
        }
        if rr.owner != self.apex {
            return Err(Failed::new(format!(
                "an SOA record below the apex: {}",
                name::to_text(&rr.owner)
            )));
        }
        soa_serial(&rr.rdata)
            .map(Some)
            .ok_or_else(|| Failed::new("an SOA record that does not parse"))
    }

    fn record(&mut self, rr: Rr) -> Result<(), Failed> {
        let serial = self.soa_of(&rr)?;
        match std::mem::replace(&mut self.mode, Mode::Start) {
            Mode::Start => {
                let Some(s) = serial else {
                    return Err(Failed::new("the answer does not start with the zone's SOA"));
                };
                if let Some(o) = self.ours
                    && s != o
                    && !serial_gt(s, o)
                {
                    return Err(Failed::new(format!(
                        "the primary's serial {s} is below ours, {o} (RFC 1982): not taken"
                    )));
                }
                if self.qtype == rtype::AXFR && self.ours == Some(s) {
                    // Nothing newer; the rest of the answer is not needed.
                    self.newest = s;
                    self.mode = Mode::Finished(Received::Current(s));
                    return Ok(());
                }
                self.newest = s;
                self.mode = Mode::First(rr);
            }
            Mode::First(first) => match serial {
                Some(from) if self.qtype == rtype::IXFR => {
                    if Some(from) != self.ours {
                        return Err(Failed::ixfr(format!(
                            "an IXFR from serial {from}, where ours is {}",
                            self.ours.map_or_else(|| "none".into(), |o| o.to_string())
                        )));
                    }
                    self.mode = Mode::Diffs {
                        done: Vec::new(),
                        current: Entry {
                            from,
                            to: from,
                            change: ChangeSet {
                                removed: vec![rr],
                                added: Vec::new(),
                            },
                        },
                        adding: false,
                    };
                }
                _ => {
                    let mut b = ZoneBuilder::new(&self.apex, self.strict).mirroring();
                    self.add(&mut b, &first);
                    let mut b = Box::new(b);
                    self.mode = if serial == Some(self.newest) {
                        // SOA, SOA: a zone of one record, which the builder refuses.
                        self.finish_whole(b)?
                    } else {
                        self.add(&mut b, &rr);
                        Mode::Whole(b)
                    };
                }
            },
            Mode::Whole(mut b) => {
                if serial.is_some() {
                    if serial != Some(self.newest) {
                        return Err(Failed::new(
                            "a second SOA inside the zone, not the closing one",
                        ));
                    }
                    self.mode = self.finish_whole(b)?;
                } else {
                    self.add(&mut b, &rr);
                    self.mode = Mode::Whole(b);
                }
            }
            Mode::Diffs {
                mut done,
                mut current,
                adding,
            } => match (serial, adding) {
                (None, false) => {
                    current.change.removed.push(rr);
                    self.mode = Mode::Diffs {
                        done,
                        current,
                        adding,
                    };
                }
                (None, true) => {
                    current.change.added.push(rr);
                    self.mode = Mode::Diffs {
                        done,
                        current,
                        adding,
                    };
                }
                (Some(to), false) => {
                    if !serial_gt(to, current.from) {
                        return Err(Failed::ixfr(format!(
                            "a change from serial {} to {to}, which is not above it",
                            current.from
                        )));
                    }
                    current.to = to;
                    current.change.added.push(rr);
                    self.mode = Mode::Diffs {
                        done,
                        current,
                        adding: true,
                    };
                }
                (Some(s), true) => {
                    let last = current.to;
                    done.push(current);
                    if s == self.newest && last == self.newest {
                        self.mode = Mode::Finished(Received::Diffs(done));
                    } else if s != last {
                        return Err(Failed::ixfr(format!(
                            "a change from serial {s} after one to {last}"
                        )));
                    } else {
                        self.mode = Mode::Diffs {
                            done,
                            current: Entry {
                                from: s,
                                to: s,
                                change: ChangeSet {
                                    removed: vec![rr],
                                    added: Vec::new(),
                                },
                            },
                            adding: false,
                        };
                    }
                }
            },
            Mode::Finished(_) => unreachable!("checked before each record"),
        }
        Ok(())
    }

    fn add(&self, b: &mut ZoneBuilder, rr: &Rr) {
        let pos = Pos {
            file: self.origin.file.clone(),
            line: u32::try_from(self.records).unwrap_or(u32::MAX),
        };
        b.add(&Record {
            owner: &rr.owner,
            ttl: rr.ttl,
            rtype: rr.rtype,
            rdata: &rr.rdata,
            pos: &pos,
        });
    }

    fn finish_whole(&self, b: Box<ZoneBuilder>) -> Result<Mode, Failed> {
        match b.finish_received(&self.origin) {
            Ok(zone) => Ok(Mode::Finished(Received::Whole(Box::new(zone)))),
            Err(LoadFailure {
                problems, errors, ..
            }) => {
                let first = problems
                    .iter()
                    .find(|p| !p.warning)
                    .map_or_else(String::new, ToString::to_string);
                Err(Failed::new(format!(
                    "the zone received does not load ({errors} error(s)); first: {first}"
                )))
            }
        }
    }
}

fn rcode_text(code: u8) -> String {
    match code {
        rcode::FORMERR => "FORMERR".into(),
        rcode::SERVFAIL => "SERVFAIL".into(),
        rcode::NXDOMAIN => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        rcode::REFUSED => "REFUSED".into(),
        rcode::NOTAUTH => "NOTAUTH".into(),
        other => format!("RCODE {other}"),
    }
}

/// How long a transfer may wait for the primary's next bytes before it is given up.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a connection, or an SOA answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Transfers `apex` from `primary` over TCP: what it brought, or why not.
pub fn transfer(
    primary: &Primary,
    apex: &[u8],
    ask: &Ask,
    ours: Option<u32>,
    strict: bool,
) -> Result<(Received, u64, u64), Failed> {
    let id = random_id();
    let (req, mac) = request(id, apex, ask, primary.key.as_ref(), unix_now());
    let net = |e: std::io::Error| Failed::new(format!("{}: {e}", primary.addr));
    let mut stream = TcpStream::connect_timeout(&primary.addr, CONNECT_TIMEOUT).map_err(net)?;
    stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(net)?;
    stream.set_write_timeout(Some(READ_TIMEOUT)).map_err(net)?;
    stream.set_nodelay(true).map_err(net)?;
    let mut framed = u16::try_from(req.len()).unwrap_or(0).to_be_bytes().to_vec();
    framed.extend_from_slice(&req);
    stream.write_all(&framed).map_err(net)?;
    let kind = if matches!(ask, Ask::Axfr) {
        "AXFR"
    } else {
        "IXFR"
    };
    // Problems are placed as `file:line`: here, the transfer and the record's number.
    let origin = format!("{kind} from {} record", primary.addr);
    let mut reader = Reader::new(
        apex,
        id,
        ask,
        ours,
        strict,
        primary.key.as_ref().map(|k| (k, mac.as_slice())),
        &origin,
    );
    let mut input = BufReader::with_capacity(256 << 10, stream);
    let mut buf = Vec::with_capacity(65_536);
    loop {
        let mut len = [0u8; 2];
        input.read_exact(&mut len).map_err(|e| {
            Failed::new(format!(
                "{}: the connection ended after {} message(s) and {} record(s), before the closing SOA: {e}",
                primary.addr, reader.messages, reader.records
            ))
        })?;
        buf.resize(usize::from(u16::from_be_bytes(len)), 0);
        input.read_exact(&mut buf).map_err(|e| {
            Failed::new(format!(
                "{}: the connection ended inside message {}: {e}",
                primary.addr,
                reader.messages + 1
            ))
        })?;
        match reader.message(&buf, unix_now()) {
            Ok(true) => break,
            Ok(false) => {}
            Err(mut f) => {
                f.reason = format!(
                    "{kind} from {} message {}: {}",
                    primary.addr, reader.messages, f.reason
                );
                return Err(f);
            }
        }
    }
    let (messages, records) = (reader.messages, reader.records);
    reader
        .finish()
        .map(|r| (r, messages, records))
        .ok_or_else(|| Failed::new("the transfer did not finish"))
}

/// The primary's answer to an SOA query: its serial, and its EDNS EXPIRE (RFC 7314) if it
/// sent one: how long the zone lasts from now (less than the SOA's when the primary is itself
/// a secondary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SerialAnswer {
    pub serial: u32,
    pub expire: Option<u32>,
}

/// Asks `primary` for the serial of `apex` (an SOA query over UDP with EDNS EXPIRE, tried
/// three times; over TCP when the answer is truncated), the answer verified when signed.
pub fn query_serial(primary: &Primary, apex: &[u8]) -> Result<SerialAnswer, String> {
    let bind = if primary.addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("{bind}: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let mut last = String::from("no answer");
    for _ in 0..3 {
        let id = random_id();
        let (req, mac) = soa_query(id, apex, primary.key.as_ref());
        if let Err(e) = socket.send_to(&req, primary.addr) {
            last = format!("{}: {e}", primary.addr);
            continue;
        }
        let mut buf = vec![0u8; 65_535];
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < deadline {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                break;
            };
            if from != primary.addr || n < 12 || buf[..2] != id.to_be_bytes() {
                continue;
            }
            if buf[2] & 0x02 != 0 {
                return soa_over_tcp(primary, apex);
            }
            return serial_of_answer(&buf[..n], apex, primary.key.as_ref(), &mac);
        }
        last = format!("{}: no answer to the SOA query", primary.addr);
    }
    Err(last)
}

fn soa_over_tcp(primary: &Primary, apex: &[u8]) -> Result<SerialAnswer, String> {
    let id = random_id();
    let (req, mac) = soa_query(id, apex, primary.key.as_ref());
    let mut stream = TcpStream::connect_timeout(&primary.addr, CONNECT_TIMEOUT)
        .map_err(|e| format!("{}: {e}", primary.addr))?;
    stream
        .set_read_timeout(Some(CONNECT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut framed = u16::try_from(req.len()).unwrap_or(0).to_be_bytes().to_vec();
    framed.extend_from_slice(&req);
    stream.write_all(&framed).map_err(|e| e.to_string())?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).map_err(|e| e.to_string())?;
    serial_of_answer(&buf, apex, primary.key.as_ref(), &mac)
}

fn soa_query(id: u16, apex: &[u8], key: Option<&Key>) -> (Vec<u8>, Vec<u8>) {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    m.extend_from_slice(apex);
    m.extend_from_slice(&rtype::SOA.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: payload 1232, an empty EXPIRE option (RFC 7314 §2).
    m.extend_from_slice(&[
        0,
        0,
        41,
        0x04,
        0xd0,
        0,
        0,
        0,
        0,
        0,
        4,
        0,
        OPTION_EXPIRE,
        0,
        0,
    ]);
    let mac = key.map_or_else(Vec::new, |k| tsig::sign_request(&mut m, k, unix_now(), 300));
    (m, mac)
}

/// EDNS EXPIRE's option code (RFC 7314 §2).
const OPTION_EXPIRE: u8 = 9;

fn serial_of_answer(
    raw: &[u8],
    apex: &[u8],
    key: Option<&Key>,
    mac: &[u8],
) -> Result<SerialAnswer, String> {
    let msg = Message::parse(raw).map_err(|e| format!("malformed SOA answer: {}", e.0))?;
    let code = (msg.flags & 0x0f) as u8;
    if code != rcode::NOERROR {
        return Err(format!(
            "the primary answered the SOA query {}",
            rcode_text(code)
        ));
    }
    if let Some(k) = key {
        let mut v = ResponseVerifier::new(k, mac);
        v.message(raw, &msg, unix_now())
            .map_err(|e| format!("SOA answer: {e}"))?;
    }
    if msg.flags & 0x0400 == 0 {
        return Err("the primary's SOA answer is not authoritative (AA clear)".into());
    }
    let lower = name::to_lowercase(apex);
    let serial = msg
        .answer
        .iter()
        .find(|rr| rr.rtype == rtype::SOA && name::to_lowercase(&rr.owner) == lower)
        .and_then(|rr| soa_serial(&rr.rdata))
        .ok_or_else(|| "the primary's answer holds no SOA for the zone".to_string())?;
    let expire = msg
        .option(u16::from(OPTION_EXPIRE))
        .and_then(|d| d.try_into().ok())
        .map(u32::from_be_bytes);
    Ok(SerialAnswer { serial, expire })
}
