//! From request bytes to response bytes: decoding ([`request`]), header and EDNS policy, and an
//! encoder that writes answers straight from the zone's wire-form RDATA.
//!
//! Truncation follows NSD and Knot: a UDP response that does not fit is sent with TC set and
//! empty sections (RFC 2181 §9), so the client retries over TCP and never acts on part of an
//! RRset. Optional additional records are dropped instead of truncating.

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::{Config, Key};
use crate::cookie::{self, Cookies};
use crate::lookup::{self, Answer, Entry, Kind, Owner, Rcode, Snapshot};
use crate::name;
use crate::rdata::rtype;
use crate::request::{self, CookieOption, Edns, HEADER_LEN, Rejected};
use crate::template;
use crate::xfr::message::Message;
use crate::xfr::tsig;

/// How the request arrived: decides the size limit (RFC 1035 §4.2.1, RFC 6891 §6.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Serving settings the encoder needs, fixed at start from the config.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The largest EDNS UDP payload we answer with and advertise.
    pub udp_payload_cap: u16,
    /// The NSID (RFC 5001) sent to requests that ask for it; None: never sent.
    pub nsid: Option<Box<[u8]>>,
    /// DNS Cookies (RFC 7873); None: COOKIE options are ignored, as by a server without them.
    pub cookies: Option<Arc<Cookies>>,
    /// TSIG keys a signed query is verified with (a secondary's SOA check is signed, say).
    pub keys: Arc<[Key]>,
    /// When each secondary zone expires, for EDNS EXPIRE answers.
    pub expiry: Arc<Expiry>,
}

impl Policy {
    /// The policy `config` asks for; with cookies on and no `cookie_secret`, a random secret.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let cookies = match (config.cookies, &config.cookie_secrets[..]) {
            (false, _) => None,
            (true, []) => Some(Cookies::generated()?),
            (true, secrets) => Cookies::configured(secrets),
        };
        Ok(Self {
            udp_payload_cap: config.edns_udp_payload,
            nsid: config.nsid_bytes.clone().map(Vec::into_boxed_slice),
            cookies: cookies.map(Arc::new),
            keys: config.keys()?.into(),
            expiry: Arc::new(Expiry::default()),
        })
    }

    /// Settings with no NSID and no cookies (tests and benchmarks of the encoder).
    pub fn plain(udp_payload_cap: u16) -> Self {
        Self {
            udp_payload_cap,
            nsid: None,
            cookies: None,
            keys: Arc::new([]),
            expiry: Arc::new(Expiry::default()),
        }
    }
}

/// An OPT RR with no options: root owner, type, class, TTL, RDLENGTH.
const OPT_LEN: usize = 11;
/// An EDNS option's code and length.
const OPTION_HEAD: usize = 4;
const OPTION_NSID: u16 = 3;
const OPTION_EXPIRE: u16 = 9;
const OPTION_COOKIE: u16 = 10;
/// Extended DNS Error (RFC 8914).
const OPTION_EDE: u16 = 15;
const CLASS_IN: u16 = 1;

/// When each secondary zone expires (RFC 7314): apex, and the Unix second of expiry (0: expired
/// or never refreshed), kept by the secondary thread. A zone not listed is a primary's, and
/// lasts its SOA EXPIRE.
#[derive(Debug, Default)]
pub struct Expiry {
    pub zones: Vec<(Vec<u8>, std::sync::atomic::AtomicU64)>,
}

impl Expiry {
    /// Seconds `zone` lasts from now without a refresh.
    fn remaining(&self, zone: &crate::zone::Zone) -> u32 {
        let soa_expire = || {
            let rdata = zone.rdatas(zone.soa()).next().unwrap_or_default();
            rdata
                .len()
                .checked_sub(8)
                .and_then(|at| rdata.get(at..at + 4))
                .and_then(|w| w.try_into().ok())
                .map_or(0, u32::from_be_bytes)
        };
        match self.zones.iter().find(|(apex, _)| *apex == zone.apex) {
            None => soa_expire(),
            Some((_, at)) => {
                let at = at.load(std::sync::atomic::Ordering::Relaxed);
                let now = u64::from(unix_time());
                u32::try_from(at.saturating_sub(now)).unwrap_or(u32::MAX)
            }
        }
    }
}

/// The EDNS options a response carries.
#[derive(Clone, Copy, Default)]
struct Options<'p> {
    nsid: Option<&'p [u8]>,
    cookie: Option<[u8; cookie::REPLY_LEN]>,
    expire: Option<u32>,
    /// An Extended DNS Error INFO-CODE, without EXTRA-TEXT.
    ede: Option<u16>,
}

impl Options<'_> {
    /// Their bytes in the OPT RDATA.
    fn len(&self) -> usize {
        self.nsid.map_or(0, |n| OPTION_HEAD + n.len())
            + self.cookie.map_or(0, |c| OPTION_HEAD + c.len())
            + self.expire.map_or(0, |_| OPTION_HEAD + 4)
            + self.ede.map_or(0, |_| OPTION_HEAD + 2)
    }
}

/// What [`respond`] made of one request: what the counters and query logs record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to send: too short to carry an ID (`response` false), or itself a response.
    Dropped { response: bool },
    /// The response is in `out`.
    Answered(Served),
}

impl Outcome {
    pub fn answered(&self) -> bool {
        matches!(self, Self::Answered(_))
    }
}

/// An answered request, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// The question's type; none if the request could not be read.
    pub qtype: Option<u16>,
    pub rcode: Rcode,
    pub kind: Kind,
    /// Sent with TC set: it did not fit.
    pub truncated: bool,
    /// The request could not be read (answered FORMERR, or NOTIMP for an unknown opcode).
    pub malformed: bool,
}

impl Served {
    fn unreadable(rcode: Rcode) -> Outcome {
        Outcome::Answered(Self {
            qtype: None,
            rcode,
            kind: Kind::Error,
            truncated: false,
            malformed: true,
        })
    }
}

/// Answers one request from `client`. Writes the response into `out`, or says why nothing
/// should be sent (too short to carry an ID, or itself a response).
pub fn respond(
    snapshot: &Snapshot,
    request: &[u8],
    transport: Transport,
    client: IpAddr,
    policy: &Policy,
    out: &mut Vec<u8>,
) -> Outcome {
    out.clear();
    let req = match request::parse(request) {
        Ok(r) => r,
        Err(Rejected::Drop) => {
            return Outcome::Dropped {
                response: request.len() >= HEADER_LEN,
            };
        }
        // An opcode we do not implement is NOTIMP whatever follows its header.
        Err(Rejected::FormErr) if !is_query(request[2]) => {
            header(
                out,
                [request[0], request[1]],
                reply_flags(request[2], 0),
                0,
                Rcode::NotImp,
                false,
            );
            return Served::unreadable(Rcode::NotImp);
        }
        Err(Rejected::FormErr) => {
            // The header is there (parse checked its length): answer with its ID, RD and CD.
            header(
                out,
                [request[0], request[1]],
                reply_flags(request[2], 0x01),
                request[3] & 0x10,
                Rcode::FormErr,
                false,
            );
            return Served::unreadable(Rcode::FormErr);
        }
    };
    let (id, edns, qname, qtype, qclass) = (req.id, req.edns, req.qname(), req.qtype, req.qclass);
    let query = is_query(req.flags[0]);
    // Byte 2 of the response: QR, the request's opcode and, for a QUERY, RD; byte 3: CD copied
    // for a QUERY. RD and CD are defined for QUERY only: other opcodes get them clear, as from
    // BIND (and as ISC's compliance tester expects). AA, TC, RA, Z and AD are never copied.
    let opcode_rd = reply_flags(req.flags[0], if query { 0x01 } else { 0 });
    let cd = if query { req.flags[1] & 0x10 } else { 0 };

    // NSID and cookies cost nothing unless the request carries their options.
    let mut options = Options::default();
    let mut bad_cookie = false;
    if let Some(e) = edns {
        if e.nsid {
            options.nsid = policy.nsid.as_deref();
        }
        if let Some(cookies) = &policy.cookies {
            bad_cookie = e.cookie == CookieOption::Malformed;
            if let Some(data) = e.cookie.data(request) {
                options.cookie = Some(cookies.answer(data, client, unix_time()).0);
            }
        }
    }

    // A signed request: verified here, rarely, off the allocation-free path of the others.
    let verdict = req.tsig.then(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let msg = Message::parse(request).ok();
        // The answer's TSIG RR is the request's size (same key, algorithm and MAC length).
        let len = msg
            .as_ref()
            .and_then(|m| m.tsig.as_ref())
            .map_or(512, |t| request.len() - t.offset);
        let verdict = msg.map_or(tsig::Verdict::Unsigned, |m| {
            tsig::verify(request, &m, &policy.keys, now)
        });
        (verdict, now, len)
    });
    let answer = if let Some((tsig::Verdict::Failed { .. }, _, _)) = &verdict {
        Answer::error(Rcode::NotAuth)
    } else if !query {
        Answer::error(Rcode::NotImp)
    } else if bad_cookie {
        Answer::error(Rcode::FormErr) // RFC 7873 §5.2.2
    } else if edns.is_some_and(|e| e.version > 0) {
        Answer::error(Rcode::BadVers)
    } else if qname.is_empty() {
        Answer::error(Rcode::FormErr) // a QUERY without a question
    } else if qclass != CLASS_IN {
        Answer::error(Rcode::Refused)
    } else if matches!(qtype, rtype::AXFR | rtype::IXFR) {
        // Zone transfers are not served yet.
        Answer::error(Rcode::Refused)
    } else if qtype == rtype::OPT {
        Answer::error(Rcode::FormErr)
    } else {
        let key = match &verdict {
            Some((tsig::Verdict::Signed(s), _, _)) => Some(&s.key.name[..]),
            _ => None,
        };
        let asker = lookup::Asker { addr: client, key };
        lookup::lookup_as(snapshot, qname, qtype, Some(asker))
    };
    options.ede = answer.extended_error;
    // EDNS EXPIRE (RFC 7314 §3): with the zone's SOA, how long it lasts without a refresh.
    if edns.is_some_and(|e| e.expire) && qtype == rtype::SOA && answer.rcode == Rcode::NoError {
        let lower = name::to_lowercase(qname);
        if let Some(zone) = snapshot.find_zone(&lower).filter(|z| z.apex == lower) {
            options.expire = Some(policy.expiry.remaining(zone));
        }
    }

    let limit = match (transport, edns) {
        (Transport::Tcp, _) => 65_535,
        (Transport::Udp, None) => 512,
        (Transport::Udp, Some(e)) => usize::from(e.payload.min(policy.udp_payload_cap).max(512)),
    };
    let mut reserve = if edns.is_some() {
        OPT_LEN + options.len()
    } else {
        0
    };
    if let Some((_, _, len)) = &verdict {
        reserve += len + 6; // BADTIME's other data
    }
    Encoder::encode(
        out,
        id,
        opcode_rd,
        cd,
        qname,
        qtype,
        qclass,
        &answer,
        limit.saturating_sub(reserve),
    );
    finish_edns(out, edns, answer.rcode, policy, &options);
    match verdict {
        Some((tsig::Verdict::Signed(s), now, _)) => {
            tsig::sign_response(out, &s, 0, now);
        }
        Some((
            tsig::Verdict::Failed {
                error,
                key_name,
                algorithm,
                signer,
            },
            now,
            _,
        )) => match signer {
            Some(s) => {
                tsig::sign_response(out, &s, error, now);
            }
            None => tsig::append_unsigned(out, &key_name, &algorithm, error, now),
        },
        _ => {}
    }
    Outcome::Answered(Served {
        qtype: Some(qtype),
        rcode: answer.rcode,
        kind: answer.kind,
        truncated: out.len() > 2 && out[2] & 0x02 != 0,
        malformed: false,
    })
}

/// Seconds since the Unix epoch, modulo 2³², as cookie timestamps count them (RFC 9018 §4.3).
/// The coarse clock (the last timer tick, read without a syscall) is exact enough for
/// seconds and costs a sixth of the precise one here (5 ns against 34 measured).
fn unix_time() -> u32 {
    use nix::time::{ClockId, clock_gettime};
    let secs = clock_gettime(ClockId::CLOCK_REALTIME_COARSE).map_or(0, |t| t.tv_sec());
    u32::try_from(secs & i64::from(u32::MAX)).unwrap_or(0)
}

/// Whether header byte 2 says QUERY (opcode 0): the one opcode answered here (UPDATE goes to
/// the zone owner before this).
fn is_query(byte2: u8) -> bool {
    byte2 & 0x78 == 0
}

/// Byte 2 of a response to a request whose byte 2 is `byte2`: QR, the opcode, and of the RD bit
/// what `rd_mask` (0x01 or 0) keeps.
fn reply_flags(byte2: u8, rd_mask: u8) -> u8 {
    0x80 | (byte2 & (0x78 | rd_mask))
}

/// A header with no records.
fn header(out: &mut Vec<u8>, id: [u8; 2], opcode_rd: u8, cd: u8, rcode: Rcode, aa: bool) {
    out.clear();
    out.extend_from_slice(&id);
    out.push(opcode_rd | if aa { 0x04 } else { 0 });
    out.push(cd | (rcode as u8 & 0x0f));
    out.extend_from_slice(&[0; 8]);
}

/// Appends the OPT record when the request had one (RFC 6891 §7), carrying the upper bits of an
/// extended RCODE, the DO bit copied (RFC 3225 §3), and `options`.
fn finish_edns(
    out: &mut Vec<u8>,
    edns: Option<Edns>,
    rcode: Rcode,
    policy: &Policy,
    options: &Options<'_>,
) {
    let Some(e) = edns else {
        return;
    };
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&policy.udp_payload_cap.max(512).to_be_bytes());
    out.push((rcode as u8) >> 4);
    out.push(0); // version 0
    out.push(if e.dnssec_ok { 0x80 } else { 0 });
    out.push(0);
    // NSID is at most 128 bytes (config check), a cookie 24: the length fits.
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(options.len() as u16).to_be_bytes());
    if let Some(nsid) = options.nsid {
        option(out, OPTION_NSID, nsid);
    }
    if let Some(c) = &options.cookie {
        option(out, OPTION_COOKIE, c);
    }
    if let Some(seconds) = options.expire {
        option(out, OPTION_EXPIRE, &seconds.to_be_bytes());
    }
    if let Some(code) = options.ede {
        option(out, OPTION_EDE, &code.to_be_bytes());
    }
    let arcount = u16::from_be_bytes([out[10], out[11]]) + 1;
    out[10..12].copy_from_slice(&arcount.to_be_bytes());
}

/// Cuts `response` back to its header and question, with TC set and no records: what rate
/// limiting sends in place of a response it holds back now and then (its "slip"), so that a
/// real client retries over TCP. A response too short to have a question is left alone.
pub fn truncate_to_question(response: &mut Vec<u8>) {
    let mut at = HEADER_LEN;
    while let Some(&len) = response.get(at) {
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    let end = at + 4;
    if response.len() < end || response[4..6] != [0, 1] {
        return;
    }
    response.truncate(end);
    response[2] |= 0x02;
    response[6..12].fill(0);
}

/// Appends one EDNS option of at most 65,535 bytes.
fn option(out: &mut Vec<u8>, code: u16, data: &[u8]) {
    out.extend_from_slice(&code.to_be_bytes());
    #[allow(clippy::cast_possible_truncation)]
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// Writes a response with RFC 1035 §4.1.4 name compression.
struct Encoder<'o, 'n> {
    out: &'o mut Vec<u8>,
    /// The question's name, as the client spelled it.
    qname: &'n [u8],
    /// Names already written: (offset in `out`, the name from there on, uncompressed).
    names: Vec<(u16, &'n [u8])>,
    limit: usize,
}

/// The section entries do not fit.
struct Overflow;

impl<'o, 'n> Encoder<'o, 'n> {
    #[allow(clippy::too_many_arguments)]
    fn encode(
        out: &'o mut Vec<u8>,
        id: [u8; 2],
        opcode_rd: u8,
        cd: u8,
        qname: &'n [u8],
        qtype: u16,
        qclass: u16,
        answer: &'n Answer<'n>,
        limit: usize,
    ) {
        header(out, id, opcode_rd, cd, answer.rcode, answer.authoritative);
        let mut enc = Encoder {
            out,
            qname,
            names: Vec::with_capacity(16),
            limit,
        };
        // The question, copied with the client's spelling (RFC 4343 §4), if there was one.
        if !qname.is_empty() {
            enc.out[5] = 1;
            for off in name::label_offsets(qname) {
                // The question starts at 12 and is at most 255 bytes: a pointer reaches it.
                #[allow(clippy::cast_possible_truncation)]
                enc.names.push(((HEADER_LEN + off) as u16, &qname[off..]));
            }
            enc.out.extend_from_slice(qname);
            enc.out.extend_from_slice(&qtype.to_be_bytes());
            enc.out.extend_from_slice(&qclass.to_be_bytes());
        }
        let after_question = enc.out.len();

        let sections = (|| {
            let an = enc.section(&answer.answer)?;
            let ns = enc.section(&answer.authority)?;
            let mut ar = 0;
            for entry in &answer.additional {
                let (mark, names) = (enc.out.len(), enc.names.len());
                match enc.rrset(entry) {
                    Ok(n) => ar += n,
                    Err(Overflow) if entry.required => return Err(Overflow),
                    Err(Overflow) => {
                        enc.out.truncate(mark);
                        enc.names.truncate(names);
                    }
                }
            }
            Ok((an, ns, ar))
        })();
        match sections {
            Ok((an, ns, ar)) => {
                enc.out[6..8].copy_from_slice(&an.to_be_bytes());
                enc.out[8..10].copy_from_slice(&ns.to_be_bytes());
                enc.out[10..12].copy_from_slice(&ar.to_be_bytes());
            }
            Err(Overflow) => {
                enc.out.truncate(after_question);
                enc.out[2] |= 0x02; // TC
            }
        }
    }

    fn section(&mut self, entries: &'n [Entry<'n>]) -> Result<u16, Overflow> {
        let mut count = 0;
        for e in entries {
            count += self.rrset(e)?;
        }
        Ok(count)
    }

    /// Writes every record of one RRset; returns how many.
    fn rrset(&mut self, e: &Entry<'n>) -> Result<u16, Overflow> {
        let set = e.zone.rrset_info(e.rrset);
        let owner = match e.owner {
            Owner::Query(offset) => &self.qname[offset..],
            Owner::Zone(n) => n,
        };
        let mut aus_buf = [0; 128];
        let mut count = 0;
        for (rdata, templated) in e.zone.rdata_entries(e.rrset) {
            if let Some(hide) = &e.hide {
                let aus = || {
                    let mut buf = [0; 128];
                    templated
                        .then(|| template::owner_aus(owner, &mut buf).map(<[u8]>::to_vec))
                        .flatten()
                };
                if hide.hides(rdata, aus) {
                    continue;
                }
            }
            match e.owner {
                Owner::Query(offset) => {
                    // Inside the question (12 + at most 255 bytes): a pointer reaches it.
                    #[allow(clippy::cast_possible_truncation)]
                    let ptr = 0xc000 | (HEADER_LEN + offset) as u16;
                    self.out.extend_from_slice(&ptr.to_be_bytes());
                }
                Owner::Zone(n) => self.name(n),
            }
            self.out.extend_from_slice(&set.rtype.to_be_bytes());
            self.out.extend_from_slice(&CLASS_IN.to_be_bytes());
            self.out.extend_from_slice(&e.ttl.to_be_bytes());
            let len_at = self.out.len();
            self.out.extend_from_slice(&[0, 0]);
            match templated
                .then(|| template::owner_aus(owner, &mut aus_buf))
                .flatten()
            {
                Some(aus) => template::expand(rdata, aus, self.out),
                None => self.rdata(set.rtype, rdata),
            }
            // RDATA is at most 65,535 octets as stored, and templates expand to what they
            // came from; should it not fit, the record cannot be sent: truncate.
            let len = u16::try_from(self.out.len() - len_at - 2).map_err(|_| Overflow)?;
            self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
            if self.out.len() > self.limit {
                return Err(Overflow);
            }
            count += 1;
        }
        Ok(count)
    }

    /// RDATA, compressing the names of the types RFC 1035 defines (RFC 3597 §4 forbids it for
    /// later types such as NAPTR and SRV).
    fn rdata(&mut self, t: u16, rdata: &'n [u8]) {
        match t {
            rtype::NS | rtype::CNAME | rtype::PTR => self.name(rdata),
            rtype::MX if rdata.len() > 2 => {
                self.out.extend_from_slice(&rdata[..2]);
                self.name(&rdata[2..]);
            }
            rtype::SOA => {
                let mname_len = name::wire_len(rdata);
                let rname_len = name::wire_len(&rdata[mname_len..]);
                self.name(&rdata[..mname_len]);
                self.name(&rdata[mname_len..mname_len + rname_len]);
                self.out.extend_from_slice(&rdata[mname_len + rname_len..]);
            }
            _ => self.out.extend_from_slice(rdata),
        }
    }

    /// Writes a name, pointing at the longest suffix already written.
    fn name(&mut self, n: &'n [u8]) {
        for off in name::label_offsets(n) {
            let suffix = &n[off..];
            if let Some(&(at, _)) = self
                .names
                .iter()
                .find(|(_, known)| name::eq_ignore_case(known, suffix))
            {
                let start = self.out.len();
                self.out.extend_from_slice(&n[..off]);
                self.out.extend_from_slice(&(0xc000 | at).to_be_bytes());
                self.remember(n, off, start);
                return;
            }
        }
        let start = self.out.len();
        self.out.extend_from_slice(n);
        self.remember(n, n.len(), start);
    }

    /// Registers as compression targets the suffixes of `n` that begin before byte `upto` of it,
    /// `n` having been written from offset `start`.
    fn remember(&mut self, n: &'n [u8], upto: usize, start: usize) {
        for off in name::label_offsets(n) {
            if off >= upto {
                break;
            }
            let at = start + off;
            // A compression pointer has 14 bits.
            if let Ok(at) = u16::try_from(at)
                && at < 0x3fff
            {
                self.names.push((at, &n[off..]));
            }
        }
    }
}
