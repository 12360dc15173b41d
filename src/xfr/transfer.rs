//! Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995), sans-I/O. [`plan`] judges a
//! request (TSIG, zone, `allow_transfer`) and either answers it with one message or returns a
//! [`Stream`]: the version of the zone the transfer is made of, held by its `Arc` until the last
//! message is out, so updates landing meanwhile neither change nor cut the transfer (NSD's
//! issue 14), and nothing of the zone is copied. [`Stream::run`] encodes the messages.
//!
//! Messages hold at most [`MESSAGE_TARGET`] octets of records, as NSD's do: a compression
//! pointer reaches only the first 16,383 octets of a message, and an ENUM owner compressed
//! against its neighbour costs 4 octets instead of 30. Every message is signed when the request
//! was (RFC 8945 §5.3.1 asks for each one).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::{AccessList, Config, Key};
use crate::lookup::{Asker, Snapshot};
use crate::name;
use crate::rdata::rtype;
use crate::template::Expander;
use crate::view::{Concealment, Outsider};
use crate::xfr::message::{CLASS_IN, Message};
use crate::xfr::tsig::{self, Signer, Verdict};
use crate::xfr::update::{rcode, serial_gt};
use crate::zone::Zone;
use crate::zone::change::Rr;
use crate::zone::journal::{self, Entry};

/// Octets of records per message: compression pointers reach all of them (RFC 1035 §4.1.4).
pub const MESSAGE_TARGET: usize = 16_384;
/// Room kept free after the records for OPT and TSIG (a 255-octet key name, the longest
/// algorithm name, a 64-octet MAC), so a message never passes 65,535 octets.
const TRAILER_ROOM: usize = 512;
/// The fudge of our signatures (RFC 8945 §10 recommends 300 s).
const FUDGE: u16 = 300;

/// Who may transfer which zone, and where each zone's journal is (for IXFR): what
/// [`plan`] needs from the configuration.
#[derive(Debug, Default)]
pub struct Transfers {
    keys: Vec<Key>,
    zones: Vec<ZoneAccess>,
    /// The EDNS payload size we advertise.
    udp_payload: u16,
}

#[derive(Debug)]
struct ZoneAccess {
    apex: Vec<u8>,
    allow: AccessList,
    /// The journal, for zones that keep one: IXFR's history.
    journal: Option<PathBuf>,
    /// What clients outside its views do not see: secondaries outside them neither.
    conceal: Option<Arc<Concealment>>,
}

impl Transfers {
    pub fn from_config(config: &Config) -> Self {
        let zones = config
            .zones
            .iter()
            .map(|z| ZoneAccess {
                apex: z.apex_wire(),
                allow: z.transfer_policy.clone(),
                journal: z
                    .keeps_journal()
                    .then(|| journal::Journal::path_for(&config.state_dir, &z.apex)),
                conceal: z.concealment.clone(),
            })
            .collect();
        Self {
            keys: config.keys().unwrap_or_default(),
            zones,
            udp_payload: config.edns_udp_payload,
        }
    }
}

/// What a transfer request gets.
pub enum Plan {
    /// One message: IXFR's single SOA (the client is current, or asked over UDP).
    Reply(Vec<u8>),
    /// One message with an error RCODE, and why, for the log.
    Refuse(Vec<u8>, String),
    /// A transfer to stream.
    Stream(Stream),
}

/// A transfer under way: the version, what to send of it, and how to sign it.
pub struct Stream {
    zone: Arc<Zone>,
    /// IXFR's difference sequences, oldest first; None: the whole zone (AXFR, or IXFR answered
    /// AXFR-style).
    diffs: Option<Vec<Entry>>,
    head: Head,
    signer: Option<Signer>,
    /// The zone's apex as text, for logs.
    pub apex: String,
    /// What is sent, for logs: "AXFR", "IXFR", "IXFR as AXFR".
    pub kind: &'static str,
    /// The client, when the zone's `hide_services` rules hide something from it: its copy
    /// leaves out what its queries would not see.
    hide_for: Option<Box<Outsider>>,
}

/// What every message of an answer repeats: ID, flags, question, whether to add OPT.
#[derive(Clone)]
struct Head {
    id: u16,
    /// RD as the request had it (RFC 5936 §2.2.1).
    rd: bool,
    qname: Vec<u8>,
    qtype: u16,
    qclass: u16,
    /// The EDNS payload size to advertise, when the request had OPT.
    edns: Option<u16>,
}

/// The question type of `msg` when it is a QUERY for AXFR or IXFR (cheap: no parsing past
/// the first question).
pub fn transfer_type(msg: &[u8]) -> Option<u16> {
    if msg.len() < 12 || msg[2] & 0x80 != 0 || (msg[2] >> 3) & 0x0f != 0 || msg[4..6] == [0, 0] {
        return None;
    }
    let mut at = 12;
    loop {
        let len = usize::from(*msg.get(at)?);
        if len == 0 || len & 0xc0 != 0 {
            break;
        }
        at += 1 + len;
    }
    at += 1;
    let qtype = u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]);
    matches!(qtype, rtype::AXFR | rtype::IXFR).then_some(qtype)
}

/// Judges a transfer request from `peer`, received over TCP or not, against the zones of
/// `snapshot`, at `now` (seconds since the epoch, for TSIG).
pub fn plan(
    snapshot: &Snapshot,
    request: &[u8],
    peer: IpAddr,
    tcp: bool,
    transfers: &Transfers,
    now: u64,
) -> Plan {
    let Ok(msg) = Message::parse(request) else {
        return Plan::Refuse(error_reply(request, rcode::FORMERR), "malformed".into());
    };
    let Some((qname, qtype, qclass)) = msg.question.first().cloned() else {
        return Plan::Refuse(error_reply(request, rcode::FORMERR), "no question".into());
    };
    let head = Head {
        id: msg.id,
        rd: msg.flags & 0x0100 != 0,
        qname,
        qtype,
        qclass,
        edns: msg.opt.map(|_| transfers.udp_payload),
    };
    let signer = match tsig::verify(request, &msg, &transfers.keys, now) {
        Verdict::Unsigned => None,
        Verdict::Signed(s) => Some(s),
        Verdict::Failed {
            error,
            key_name,
            algorithm,
            signer,
        } => {
            let mut out = head.message(rcode::NOTAUTH, true);
            head.finish(&mut out);
            match signer {
                Some(s) => {
                    tsig::sign_response(&mut out, &s, error, now);
                }
                None => tsig::append_unsigned(&mut out, &key_name, &algorithm, error, now),
            }
            let what = tsig::error_text(error);
            return Plan::Refuse(out, format!("TSIG: {what}"));
        }
    };
    let refuse = |head: &Head, rc: u8, signer: &Option<Signer>, why: String| {
        let mut out = head.message(rc, true);
        head.finish(&mut out);
        if let Some(s) = signer {
            tsig::sign_response(&mut out, s, 0, now);
        }
        Plan::Refuse(out, why)
    };
    if msg.question.len() != 1 {
        return refuse(&head, rcode::FORMERR, &signer, "not one question".into());
    }
    let lower = name::to_lowercase(&head.qname);
    let shown = name::to_text(&lower);
    let Some(access) = transfers.zones.iter().find(|z| z.apex == lower) else {
        return refuse(
            &head,
            rcode::NOTAUTH,
            &signer,
            format!("no zone {shown} here"),
        );
    };
    if qclass != CLASS_IN {
        return refuse(&head, rcode::NOTAUTH, &signer, "not class IN".into());
    }
    let key = signer.as_ref().map(|s| s.key.name.as_slice());
    if !access.allow.allows(peer, key) {
        let who = key.map_or_else(
            || format!("{peer} unsigned"),
            |k| format!("{peer} with key {}", name::to_text(k)),
        );
        let why = format!("{who} may not transfer {shown} (allow_transfer)");
        return refuse(&head, rcode::REFUSED, &signer, why);
    }
    let Some(zone) = snapshot.zones.iter().find(|z| z.apex == lower).cloned() else {
        let why = format!("{shown} has not loaded");
        return refuse(&head, rcode::SERVFAIL, &signer, why);
    };
    let apex = shown;
    let asker = Asker { addr: peer, key };
    let hide_for = access
        .conceal
        .as_ref()
        .and_then(|c| Outsider::new(c, asker))
        .map(Box::new);
    if qtype == rtype::AXFR {
        if !tcp {
            // RFC 5936 §4.2: AXFR is not defined over UDP.
            return refuse(&head, rcode::REFUSED, &signer, "AXFR over UDP".into());
        }
        return Plan::Stream(Stream {
            zone,
            diffs: None,
            head,
            signer,
            apex,
            kind: "AXFR",
            hide_for,
        });
    }
    // IXFR: the client's SOA is in the authority section (RFC 1995 §3).
    let Some(client_serial) = msg
        .authority
        .iter()
        .find(|r| r.rtype == rtype::SOA)
        .and_then(|r| soa_serial(&r.rdata))
    else {
        let why = "IXFR without the client's SOA (RFC 1995 §3)".into();
        return refuse(&head, rcode::FORMERR, &signer, why);
    };
    if !tcp || !serial_gt(zone.serial, client_serial) {
        // Current (or ahead): the single SOA says so. Over UDP the single SOA means "ask over
        // TCP" (RFC 1995 §2, §4), whatever the difference.
        let mut out = head.message(rcode::NOERROR, true);
        let (ttl, soa) = zone_soa(&zone);
        push_rr(
            &mut out,
            &mut Compression::default(),
            &zone.apex,
            rtype::SOA,
            ttl,
            &soa,
            None,
            &mut Expander::default(),
        );
        out[6..8].copy_from_slice(&1u16.to_be_bytes());
        head.finish(&mut out);
        if let Some(s) = &signer {
            tsig::sign_response(&mut out, s, 0, now);
        }
        return Plan::Reply(out);
    }
    let diffs = access
        .journal
        .as_deref()
        .and_then(|p| journal::read_history(p).ok())
        .and_then(|entries| chain(entries, client_serial, zone.serial));
    let kind = if diffs.is_some() {
        "IXFR"
    } else {
        "IXFR as AXFR"
    };
    Plan::Stream(Stream {
        zone,
        diffs,
        head,
        signer,
        apex,
        kind,
        hide_for,
    })
}

/// The journal's change sets leading from serial `from` to serial `to`, in order, if the
/// journal holds an unbroken chain of them (the last one found, should serials repeat).
fn chain(entries: Vec<Entry>, from: u32, to: u32) -> Option<Vec<Entry>> {
    let mut out = Vec::new();
    let mut at = from;
    for e in entries.into_iter().filter(|e| !e.is_marker()) {
        if !out.is_empty() && e.from != at {
            out.clear(); // a gap: what came before leads nowhere
        }
        if out.is_empty() && e.from != from {
            continue;
        }
        at = e.to;
        out.push(e);
        if at == to {
            return Some(out);
        }
    }
    None
}

/// The SERIAL of SOA RDATA (after two names).
fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let mut at = 0;
    for _ in 0..2 {
        loop {
            let len = usize::from(*rdata.get(at)?);
            at += 1 + len;
            if len == 0 {
                break;
            }
        }
    }
    Some(u32::from_be_bytes(rdata.get(at..at + 4)?.try_into().ok()?))
}

/// The apex SOA's TTL and RDATA.
fn zone_soa(zone: &Zone) -> (u32, Vec<u8>) {
    let soa = zone.soa();
    let ttl = zone.rrset_info(soa).ttl;
    let rdata = zone
        .rdatas(soa)
        .next()
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    (ttl, rdata)
}

/// A one-message answer to a request that could not be decoded: its ID and question bytes
/// echoed where they can be found, else a bare header.
fn error_reply(request: &[u8], rc: u8) -> Vec<u8> {
    let mut out = vec![0; 12];
    if request.len() >= 2 {
        out[..2].copy_from_slice(&request[..2]);
    }
    out[2] = 0x80 | request.get(2).map_or(0, |b| b & 0x79);
    out[3] = rc;
    out
}

impl Head {
    /// A message's header and question (the question in first messages only), with `rc`;
    /// records go after it, then [`Head::finish`].
    fn message(&self, rc: u8, first: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(MESSAGE_TARGET + TRAILER_ROOM);
        out.extend_from_slice(&self.id.to_be_bytes());
        let aa = if rc == rcode::NOERROR { 0x04 } else { 0 };
        out.push(0x80 | aa | u8::from(self.rd));
        out.push(rc);
        out.extend_from_slice(&u16::from(first).to_be_bytes());
        out.extend_from_slice(&[0; 6]);
        if first {
            out.extend_from_slice(&self.qname);
            out.extend_from_slice(&self.qtype.to_be_bytes());
            out.extend_from_slice(&self.qclass.to_be_bytes());
        }
        out
    }

    /// Ends a message: the OPT RR (RFC 6891 §6.1.2) when the request had one. TSIG follows.
    fn finish(&self, out: &mut Vec<u8>) {
        let Some(payload) = self.edns else {
            return;
        };
        out.push(0);
        out.extend_from_slice(&rtype::OPT.to_be_bytes());
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0; 6]);
        let ar = u16::from_be_bytes([out[10], out[11]]) + 1;
        out[10..12].copy_from_slice(&ar.to_be_bytes());
    }
}

/// Appends one record of class IN, its owner compressed; `rdata` a number template expanded
/// in place (by `expander`) when `number` is given.
#[allow(clippy::too_many_arguments)]
fn push_rr(
    message: &mut Vec<u8>,
    c: &mut Compression,
    owner: &[u8],
    t: u16,
    ttl: u32,
    rdata: &[u8],
    number: Option<&[u8]>,
    expander: &mut Expander,
) {
    c.write(message, owner);
    let mut fixed = [0u8; 10];
    fixed[..2].copy_from_slice(&t.to_be_bytes());
    fixed[2..4].copy_from_slice(&CLASS_IN.to_be_bytes());
    fixed[4..8].copy_from_slice(&ttl.to_be_bytes());
    let at = message.len() + 8;
    message.extend_from_slice(&fixed);
    match number {
        Some(aus) => expander.expand(rdata, aus, message),
        None => message.extend_from_slice(rdata),
    }
    // RDATA is at most 65,535 octets (a template expands to what its number's RDATA was).
    let len = u16::try_from(message.len() - at - 2).unwrap_or(u16::MAX);
    message[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

impl Stream {
    /// The serial of the version being sent.
    pub fn serial(&self) -> u32 {
        self.zone.serial
    }

    /// Encodes the transfer, handing each finished message (signed) to `emit` in order; stops
    /// early when `emit` returns false (the client has gone). `now` gives the time to sign at.
    /// Returns the messages and records sent.
    pub fn run(
        self,
        mut now: impl FnMut() -> u64,
        mut emit: impl FnMut(Vec<u8>) -> bool,
    ) -> (usize, usize) {
        let mut out = Out {
            head: &self.head,
            signer: self.signer.as_ref(),
            prior_mac: None,
            message: None,
            expander: Expander::default(),
            messages: 0,
            records: 0,
            gone: false,
            now: &mut now,
            emit: &mut emit,
        };
        let zone = &self.zone;
        let hide = self.hide_for.as_deref().and_then(Outsider::hide);
        let hidden = |t: u16, rdata: &[u8], number: Option<&[u8]>| {
            t == rtype::NAPTR && hide.is_some_and(|h| h.hides(rdata, || number.map(<[u8]>::to_vec)))
        };
        let (soa_ttl, soa) = zone_soa(zone);
        out.push(&zone.apex, rtype::SOA, soa_ttl, &soa);
        match &self.diffs {
            None => zone.for_each_stored_record(|owner, t, ttl, rdata, number| {
                if (t != rtype::SOA || owner != zone.apex.as_slice()) && !hidden(t, rdata, number) {
                    out.push_stored(owner, t, ttl, rdata, number);
                }
            }),
            Some(diffs) => {
                for e in diffs {
                    for list in [&e.change.removed, &e.change.added] {
                        let is_soa = |r: &&Rr| r.rtype == rtype::SOA && r.owner == zone.apex;
                        for r in list.iter().filter(is_soa) {
                            out.push(&r.owner, r.rtype, r.ttl, &r.rdata);
                        }
                        let shown = |r: &&Rr| !is_soa(r) && !hidden(r.rtype, &r.rdata, None);
                        for r in list.iter().filter(shown) {
                            out.push(&r.owner, r.rtype, r.ttl, &r.rdata);
                        }
                    }
                }
            }
        }
        out.push(&zone.apex, rtype::SOA, soa_ttl, &soa);
        out.flush();
        (out.messages, out.records)
    }
}

/// The message being filled, and where finished ones go.
struct Out<'a> {
    head: &'a Head,
    signer: Option<&'a Signer>,
    prior_mac: Option<Vec<u8>>,
    message: Option<(Vec<u8>, Compression)>,
    /// The last template's expansion, for the next number that shares it.
    expander: Expander,
    messages: usize,
    records: usize,
    gone: bool,
    now: &'a mut dyn FnMut() -> u64,
    emit: &'a mut dyn FnMut(Vec<u8>) -> bool,
}

impl Out<'_> {
    fn push(&mut self, owner: &[u8], t: u16, ttl: u32, rdata: &[u8]) {
        self.push_stored(owner, t, ttl, rdata, None);
    }

    /// Adds a record, its RDATA a number template to expand with `number` if one is given.
    fn push_stored(&mut self, owner: &[u8], t: u16, ttl: u32, rdata: &[u8], number: Option<&[u8]>) {
        if self.gone {
            return;
        }
        for _ in 0..2 {
            let (message, compression) = self.message.get_or_insert_with(|| {
                let m = self.head.message(rcode::NOERROR, self.messages == 0);
                (m, Compression::default())
            });
            let start = message.len();
            let records = u16::from_be_bytes([message[6], message[7]]);
            let limit = if records == 0 {
                65_535 - TRAILER_ROOM
            } else {
                MESSAGE_TARGET
            };
            push_rr(
                message,
                compression,
                owner,
                t,
                ttl,
                rdata,
                number,
                &mut self.expander,
            );
            if message.len() <= limit {
                message[6..8].copy_from_slice(&(records + 1).to_be_bytes());
                self.records += 1;
                return;
            }
            message.truncate(start); // the next message has compression of its own
            if records == 0 {
                // A record no message can hold: the zone cannot be sent whole.
                self.gone = true;
                return;
            }
            self.flush();
        }
    }

    /// Finishes the message being filled (OPT, TSIG) and hands it on.
    fn flush(&mut self) {
        let Some((mut message, _)) = self.message.take() else {
            return;
        };
        if self.gone {
            return;
        }
        self.head.finish(&mut message);
        if let Some(s) = self.signer {
            let now = (self.now)();
            self.prior_mac = Some(match &self.prior_mac {
                None => tsig::sign_response(&mut message, s, 0, now),
                Some(prior) => tsig::sign_next(&mut message, &s.key, prior, FUDGE, now),
            });
        }
        self.messages += 1;
        if !(self.emit)(message) {
            self.gone = true;
        }
    }
}

/// Name compression against the previous owner of the message: records stream in name order,
/// so neighbours share all but their first labels. Indexed by suffix length: for each label
/// boundary of the last name written, the offset its suffix can be pointed at ([`FAR`] past
/// 16,383, and at every length that is not a boundary). A name shares its tail with the last
/// one byte for byte, so only its own new front labels are parsed and recorded: in a walk of
/// numbers, one label a record rather than all fifteen.
struct Compression {
    /// The last name written, right-aligned: its shared tail never needs copying again.
    last: [u8; 256],
    last_len: usize,
    /// `at_suffix[k]`: where the last name's final `k` octets were written (or point to).
    at_suffix: [u16; 256],
}

/// An offset no pointer reaches.
const FAR: u16 = u16::MAX;

impl Default for Compression {
    fn default() -> Self {
        Self {
            last: [0; 256],
            last_len: 0,
            at_suffix: [FAR; 256],
        }
    }
}

impl Compression {
    /// Writes `owner` (lower-cased wire form, at most 255 octets) at the end of `message`.
    fn write(&mut self, message: &mut Vec<u8>, owner: &[u8]) {
        let len = owner.len().min(255);
        let owner = &owner[..len];
        let shared = common_tail(owner, &self.last[256 - self.last_len..]);
        // Walk the front labels up to the first boundary inside the shared tail whose suffix
        // can be pointed at; everything before it is written out.
        let mut at = 0;
        let mut target = None;
        while let Some(&label) = owner.get(at) {
            if label == 0 {
                break;
            }
            let suffix = len - at;
            if suffix <= shared && self.at_suffix[suffix] != FAR {
                target = Some(self.at_suffix[suffix]);
                break;
            }
            at += 1 + usize::from(label);
        }
        let at = at.min(len);
        let base = message.len();
        message.extend_from_slice(&owner[..at]);
        match target {
            Some(offset) => message.extend_from_slice(&(0xc000 | offset).to_be_bytes()),
            None => message.push(0),
        }
        // The labels written out: their suffixes, and nothing between them.
        let mut p = 0;
        while p < at {
            let label = usize::from(owner[p]);
            self.at_suffix[len - p] = u16::try_from(base + p)
                .ok()
                .filter(|&o| o < 0x4000)
                .unwrap_or(FAR);
            for k in 1..=label.min(len - p - 1) {
                self.at_suffix[len - p - k] = FAR;
            }
            p += 1 + label;
        }
        if target.is_none() {
            self.at_suffix[1] = FAR; // the root alone is never pointed at
        }
        self.last[256 - len..256 - len + (len - shared.min(len))]
            .copy_from_slice(&owner[..len - shared.min(len)]);
        self.last_len = len;
    }
}

/// How many final octets `a` and `b` share, eight at a time.
fn common_tail(a: &[u8], b: &[u8]) -> usize {
    let max = a.len().min(b.len());
    let (a, b) = (&a[a.len() - max..], &b[b.len() - max..]);
    let mut n = 0;
    while n + 8 <= max {
        let x = u64::from_le_bytes(a[max - n - 8..max - n].try_into().unwrap_or_default());
        let y = u64::from_le_bytes(b[max - n - 8..max - n].try_into().unwrap_or_default());
        if x != y {
            // The highest differing octet, counted from the end.
            #[allow(clippy::cast_possible_truncation)]
            return n + ((x ^ y).leading_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && a[max - 1 - n] == b[max - 1 - n] {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        name::parse(text.as_bytes(), name::ROOT).unwrap()
    }

    /// Reads the name at `at`, following pointers.
    fn read(msg: &[u8], at: usize) -> Vec<u8> {
        crate::xfr::message::read_name(msg, at).unwrap().0
    }

    #[test]
    fn neighbours_compress_to_their_first_labels() {
        let mut msg = vec![0; 12];
        let mut c = Compression::default();
        let names = [
            "4.4.e164.arpa.",
            "1.4.4.e164.arpa.",
            "2.1.4.4.e164.arpa.",
            "3.4.4.e164.arpa.",
            "x.example.",
        ];
        let mut at = Vec::new();
        for n in names {
            at.push(msg.len());
            c.write(&mut msg, &wire(n));
        }
        for (n, &a) in names.iter().zip(&at) {
            assert_eq!(read(&msg, a), wire(n));
        }
        // "1.4.4.e164.arpa." after the apex: one label and a pointer.
        assert_eq!(at[2] - at[1], 2 + 2);
        // "3.4.4.e164.arpa." after "2.1.4.4…": shares "4.4.e164.arpa." only.
        assert_eq!(at[4] - at[3], 2 + 2);
    }

    #[test]
    fn names_past_the_pointer_range_point_back_at_a_reachable_suffix() {
        let mut msg = vec![0; 0x4000];
        let mut c = Compression::default();
        c.write(&mut msg, &wire("4.4.e164.arpa.")); // at 0x4000: not reachable
        let first = msg.len();
        c.write(&mut msg, &wire("1.4.4.e164.arpa."));
        let whole = wire("1.4.4.e164.arpa.").len();
        assert_eq!(msg.len() - first, whole, "nothing reachable to point at");
        let mut small = vec![0; 12];
        let mut c = Compression::default();
        c.write(&mut small, &wire("4.4.e164.arpa."));
        small.resize(0x4100, 0);
        let a = small.len();
        c.write(&mut small, &wire("1.4.4.e164.arpa."));
        let b = small.len();
        c.write(&mut small, &wire("2.4.4.e164.arpa."));
        assert_eq!(b - a, 4);
        assert_eq!(small.len() - b, 4, "the apex at 12 is still in reach");
        assert_eq!(read(&small, b), wire("2.4.4.e164.arpa."));
    }

    proptest::proptest! {
        /// Any sequence of names, including labels whose octets look like length octets
        /// (so that a shared tail starts inside a label), reads back as written.
        #[test]
        fn any_names_read_back(
            names in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![&b"1"[..], b"2", b"\x011", b"a\x01", b"e164", b"arpa"]),
                    0..6,
                ),
                1..40,
            ),
            pad in 0usize..0x4100,
        ) {
            let mut msg = vec![0; 12 + pad];
            let mut c = Compression::default();
            let mut at = Vec::new();
            let wires: Vec<Vec<u8>> = names
                .iter()
                .map(|labels| {
                    let mut w = Vec::new();
                    for l in labels {
                        w.push(u8::try_from(l.len()).unwrap());
                        w.extend_from_slice(l);
                    }
                    w.push(0);
                    w
                })
                .collect();
            for w in &wires {
                at.push(msg.len());
                c.write(&mut msg, w);
            }
            for (w, &a) in wires.iter().zip(&at) {
                proptest::prop_assert_eq!(&read(&msg, a), w);
            }
        }
    }

    fn entry(from: u32, to: u32) -> Entry {
        let mut e = Entry::flushed(from);
        e.to = to;
        e.change.added.push(Rr {
            owner: wire("x."),
            rtype: 1,
            ttl: 1,
            rdata: vec![1, 2, 3, 4],
        });
        e
    }

    #[test]
    fn a_chain_is_found_only_when_unbroken() {
        let j = vec![entry(1, 2), Entry::flushed(2), entry(2, 3), entry(3, 4)];
        let c = chain(j.clone(), 2, 4).unwrap();
        assert_eq!(c.iter().map(|e| e.from).collect::<Vec<_>>(), [2, 3]);
        assert!(chain(j.clone(), 5, 6).is_none());
        assert!(chain(j.clone(), 1, 9).is_none());
        let gap = vec![entry(1, 2), entry(3, 4)];
        assert!(chain(gap, 1, 4).is_none());
    }

    #[test]
    fn transfer_requests_are_told_apart_cheaply() {
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(&wire("e164.arpa."));
        let mut axfr = q.clone();
        axfr.extend_from_slice(&[0, 252, 0, 1]);
        let mut a = q.clone();
        a.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(transfer_type(&axfr), Some(rtype::AXFR));
        assert_eq!(transfer_type(&a), None);
        assert_eq!(transfer_type(&axfr[..axfr.len() - 3]), None);
    }
}
