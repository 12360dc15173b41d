//! `enumd lookup`: resolving a number the way RFC 6116 prescribes. Query NAPTR at the number's
//! domain (UDP, TCP when truncated), follow non-terminal rules and, if asked, referrals; sort
//! by ORDER then PREFERENCE; drop rules with unknown flags or malformed regexps (RFC 6116
//! §5.2); apply each terminal regexp once to the AUS (RFC 3403 §3).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use serde::Serialize;

use crate::e164::E164;
use crate::enumservice;
use crate::naptr::{Naptr, SubstExpr};
use crate::validate::{self, MAX_NON_TERMINAL_HOPS};

/// Referrals followed before giving up.
const MAX_REFERRALS: usize = 8;

/// How to look a number up.
#[derive(Clone, Debug)]
pub struct Options {
    pub server: SocketAddr,
    /// Follow NS referrals down to Tier-3 servers ourselves (their port is the server's).
    pub follow_referrals: bool,
    /// Keep only rules with this Enumservice (`sip`, or `voice:tel`; a bare type matches any
    /// subtype of it).
    pub service: Option<String>,
    pub timeout: Duration,
}

/// Everything a lookup found, printable as text or JSON.
#[derive(Debug, Serialize)]
pub struct Resolution {
    pub number: String,
    pub domain: String,
    pub server: String,
    pub outcome: Outcome,
    pub results: Vec<Found>,
    pub skipped: Vec<Skipped>,
    /// Rules left out by `--service`.
    pub filtered: usize,
}

/// Why a lookup ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// At least one URI.
    Found,
    /// The number has no ENUM domain.
    NxDomain,
    /// The domain exists but holds no NAPTR.
    NoData,
    /// NAPTRs exist but none gave a usable URI (see `skipped`).
    NoUsableRule,
    /// The number is delegated, and referrals were not to be followed.
    Referral,
}

/// One usable rule and the URI it yields.
#[derive(Debug, Serialize)]
pub struct Found {
    pub order: u16,
    pub preference: u16,
    pub services: Vec<String>,
    pub uri: String,
    /// The domain the rule was found at (differs after non-terminal rules).
    pub domain: String,
}

/// A rule left out, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    pub domain: String,
    pub rule: String,
    pub reason: String,
}

/// What a NAPTR query came to.
enum Fetch {
    Rules(Vec<Naptr>),
    NxDomain,
    NoData,
    Referral(String),
}

/// Resolves `number` under `apex`. Errors are failures to ask (network, server errors).
pub fn resolve(number: &E164, apex: &str, opts: &Options) -> Result<Resolution, String> {
    let domain = number.domain(apex);
    let mut res = Resolution {
        number: number.to_string(),
        domain: domain.clone(),
        server: opts.server.to_string(),
        outcome: Outcome::Found,
        results: Vec::new(),
        skipped: Vec::new(),
        filtered: 0,
    };
    let mut client = Client {
        opts,
        aus: number.aus(),
    };
    let mut visited = vec![domain.to_ascii_lowercase()];
    let first = client.process(&domain, 0, &mut visited, &mut res)?;
    res.outcome = if !res.results.is_empty() {
        Outcome::Found
    } else {
        first.unwrap_or(Outcome::NoUsableRule)
    };
    Ok(res)
}

struct Client<'o> {
    opts: &'o Options,
    aus: String,
}

impl Client<'_> {
    /// Processes the rules at `domain`; returns the outcome if the domain had no rules at all.
    fn process(
        &mut self,
        domain: &str,
        hops: usize,
        visited: &mut Vec<String>,
        res: &mut Resolution,
    ) -> Result<Option<Outcome>, String> {
        let mut rules = match self.fetch(domain)? {
            Fetch::Rules(r) => r,
            Fetch::NxDomain => return Ok(Some(Outcome::NxDomain)),
            Fetch::NoData => return Ok(Some(Outcome::NoData)),
            Fetch::Referral(zone) => {
                res.skipped.push(Skipped {
                    domain: domain.to_string(),
                    rule: String::new(),
                    reason: format!(
                        "delegated to the name servers of {zone}: use --follow-referrals"
                    ),
                });
                return Ok(Some(Outcome::Referral));
            }
        };
        rules.sort_by_key(|r| (r.order, r.preference));
        for rule in rules {
            let skip = |reason: String| Skipped {
                domain: domain.to_string(),
                rule: rule.to_string(),
                reason,
            };
            match rule.flags.to_ascii_lowercase().as_slice() {
                b"u" => match self.terminal(&rule) {
                    Ok(Some((services, uri))) => res.results.push(Found {
                        order: rule.order,
                        preference: rule.preference,
                        services,
                        uri,
                        domain: domain.to_string(),
                    }),
                    Ok(None) => res.filtered += 1,
                    Err(reason) => res.skipped.push(skip(reason)),
                },
                b"" => {
                    let target = crate::name::to_text(&rule.replacement);
                    let key = target.to_ascii_lowercase();
                    if visited.contains(&key) {
                        let mut chain: Vec<&str> = visited.iter().map(String::as_str).collect();
                        chain.push(&key);
                        res.skipped.push(skip(format!(
                            "non-terminal loop detected: {}",
                            chain.join(" → ")
                        )));
                    } else if hops + 1 > MAX_NON_TERMINAL_HOPS {
                        res.skipped.push(skip(format!(
                            "non-terminal chain longer than {MAX_NON_TERMINAL_HOPS} hops"
                        )));
                    } else {
                        visited.push(key);
                        let outcome = self.process(&target, hops + 1, visited, res)?;
                        visited.pop();
                        if let Some(o) = outcome.filter(|o| *o != Outcome::Found) {
                            res.skipped.push(skip(format!(
                                "non-terminal target {target}: {}",
                                describe(o)
                            )));
                        }
                    }
                }
                other => res.skipped.push(skip(format!(
                    "unknown flags \"{}\": ignored (RFC 6116 §5.2)",
                    String::from_utf8_lossy(other)
                ))),
            }
        }
        Ok(None)
    }

    /// A terminal rule's services and URI; None if filtered out by `--service`.
    fn terminal(&self, rule: &Naptr) -> Result<Option<(Vec<String>, String)>, String> {
        let services = enumservice::parse_services(&rule.services)
            .map_err(|e| format!("{} ({})", e.reason, e.rfc))?;
        if services.is_empty() {
            return Err("terminal rule without an Enumservice".to_string());
        }
        if let Some(want) = &self.opts.service {
            let want = want.to_ascii_lowercase();
            if !services
                .iter()
                .any(|s| s.to_string() == want || s.kind == want)
            {
                return Ok(None);
            }
        }
        let expr = SubstExpr::parse(&rule.regexp)
            .map_err(|e| format!("malformed regexp: {e} (RFC 6116 §5.2)"))?;
        // Applied once to the AUS, never to an earlier rule's output (RFC 3403 §3).
        let uri = expr
            .apply(&self.aus)
            .ok_or_else(|| format!("regexp does not match {}", self.aus))?;
        // A URI its Enumservice does not register is not what the caller asked for: a `sip:`
        // URI from `E2U+pstn:tel` is no routing number (the rule `enumd check` calls uri-scheme).
        let scheme = validate::uri_scheme(&uri).ok_or_else(|| format!("'{uri}' is not a URI"))?;
        if let Some(reason) = validate::scheme_mismatch(&services, &scheme, &uri) {
            return Err(format!("{reason} (RFC 6117 §3.4)"));
        }
        Ok(Some((
            services.iter().map(ToString::to_string).collect(),
            uri,
        )))
    }

    /// Queries NAPTR at `domain`, following referrals when asked.
    fn fetch(&self, domain: &str) -> Result<Fetch, String> {
        let name = Name::from_ascii(domain).map_err(|e| format!("{domain}: {e}"))?;
        let mut server = self.opts.server;
        for _ in 0..MAX_REFERRALS {
            let m = query(
                server,
                &name,
                RecordType::NAPTR,
                !self.opts.follow_referrals,
                self.opts.timeout,
            )?;
            check_question(&m, &name, RecordType::NAPTR, server)?;
            match m.metadata.response_code {
                ResponseCode::NoError => {}
                ResponseCode::NXDomain => return Ok(Fetch::NxDomain),
                other => return Err(format!("{server} answered {other} for {domain}")),
            }
            // Only records for the name asked, or the end of its CNAME chain, count: anything
            // else in the answer is not about this number (RFC 2181 §5.4.1, as resolvers do).
            let owner = chain_end(&m, &name);
            let rules: Vec<Naptr> = m
                .answers
                .iter()
                .filter(|r| r.name.eq_ignore_root(&owner))
                .filter_map(|r| match &r.data {
                    RData::NAPTR(n) => Some(Naptr {
                        order: n.order,
                        preference: n.preference,
                        flags: n.flags.to_vec(),
                        services: n.services.to_vec(),
                        regexp: n.regexp.to_vec(),
                        replacement: wire_name(&n.replacement),
                    }),
                    _ => None,
                })
                .collect();
            if !rules.is_empty() {
                return Ok(Fetch::Rules(rules));
            }
            // A referral names a cut at or above the name asked.
            let cut = m
                .authorities
                .iter()
                .find(|r| r.record_type() == RecordType::NS && r.name.zone_of(&owner));
            let Some(cut) = cut.filter(|_| !m.metadata.authoritative) else {
                return Ok(Fetch::NoData);
            };
            let zone = cut.name.to_ascii();
            if !self.opts.follow_referrals {
                return Ok(Fetch::Referral(zone));
            }
            server = self.next_server(&m, server)?;
        }
        Err(format!("more than {MAX_REFERRALS} referrals for {domain}"))
    }

    /// A server of the zone a referral names: glue from the additional section, else the
    /// addresses of its NS names asked of the server that referred us.
    fn next_server(&self, referral: &Message, from: SocketAddr) -> Result<SocketAddr, String> {
        let targets: Vec<&Name> = referral
            .authorities
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(&ns.0),
                _ => None,
            })
            .collect();
        let address = |m: &Message, target: &Name| {
            m.answers
                .iter()
                .chain(&m.additionals)
                .find_map(|r| match &r.data {
                    RData::A(a) if r.name.eq_ignore_root(target) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) if r.name.eq_ignore_root(target) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
        };
        for target in &targets {
            if let Some(ip) = address(referral, target) {
                return Ok(SocketAddr::new(ip, self.opts.server.port()));
            }
        }
        for target in &targets {
            for t in [RecordType::A, RecordType::AAAA] {
                let m = query(from, target, t, false, self.opts.timeout)?;
                if let Some(ip) = address(&m, target) {
                    return Ok(SocketAddr::new(ip, self.opts.server.port()));
                }
            }
        }
        Err(format!(
            "referral to {} without any address for its name servers",
            targets
                .iter()
                .map(|t| t.to_ascii())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Errors unless the reply answers the question asked: the same name (case aside), type and
/// class. An error reply may leave the question out (RFC 1035 §4.1.1 allows it for FORMERR):
/// then its RCODE is the error.
fn check_question(
    m: &Message,
    name: &Name,
    rtype: RecordType,
    server: SocketAddr,
) -> Result<(), String> {
    match m.queries.as_slice() {
        [q] if q.name().eq_ignore_root(name)
            && q.query_type() == rtype
            && q.query_class() == DNSClass::IN =>
        {
            Ok(())
        }
        [] if !matches!(
            m.metadata.response_code,
            ResponseCode::NoError | ResponseCode::NXDomain
        ) =>
        {
            Err(format!(
                "{server} answered {} for {name} {rtype}",
                m.metadata.response_code
            ))
        }
        _ => Err(format!(
            "{server} answered another question than {name} {rtype}: ignored"
        )),
    }
}

/// The name a reply's CNAMEs lead `name` to (itself when there are none), following each
/// CNAME once.
fn chain_end(m: &Message, name: &Name) -> Name {
    let mut owner = name.clone();
    let mut seen = vec![owner.clone()];
    while let Some(target) = m.answers.iter().find_map(|r| match &r.data {
        RData::CNAME(c) if r.name.eq_ignore_root(&owner) => Some(c.0.clone()),
        _ => None,
    }) {
        if seen.iter().any(|n| n.eq_ignore_root(&target)) {
            break;
        }
        seen.push(target.clone());
        owner = target;
    }
    owner
}

/// Words for an outcome without results.
pub fn describe(o: Outcome) -> &'static str {
    match o {
        Outcome::Found => "found",
        Outcome::NxDomain => "no such domain (NXDOMAIN): the number has no ENUM entry",
        Outcome::NoData => "the domain exists but holds no NAPTR records (NODATA)",
        Outcome::NoUsableRule => "no usable NAPTR rule",
        Outcome::Referral => "the number is delegated to another server (referral)",
    }
}

fn wire_name(n: &Name) -> Vec<u8> {
    let mut w = Vec::with_capacity(n.len() + 1);
    for label in n.iter() {
        // hickory's Name holds labels of at most 63 bytes.
        w.push(u8::try_from(label.len()).unwrap_or(63));
        w.extend_from_slice(label);
    }
    w.push(0);
    w
}

/// One query: UDP with EDNS (two tries), again over TCP if the answer was truncated.
fn query(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    rd: bool,
    timeout: Duration,
) -> Result<Message, String> {
    let mut q = Message::query();
    q.metadata.recursion_desired = rd;
    q.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    q.set_edns(edns);
    let bytes = q.to_vec().map_err(|e| e.to_string())?;
    let id = q.metadata.id;

    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .map_err(|e| format!("{e}"))?;
    let socket = UdpSocket::bind(bind).map_err(|e| format!("UDP socket: {e}"))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    let mut reply = None;
    for _ in 0..2 {
        socket
            .send_to(&bytes, server)
            .map_err(|e| format!("sending to {server}: {e}"))?;
        // Ignore strays; wait for our ID from our server.
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if from == server
                && let Ok(m) = Message::from_vec(&buf[..n])
                && m.metadata.id == id
            {
                reply = Some(m);
                break;
            }
        }
        if reply.is_some() {
            break;
        }
    }
    let reply = reply.ok_or_else(|| format!("no answer from {server} for {name} {rtype}"))?;
    if !reply.metadata.truncation {
        return Ok(reply);
    }
    let mut tcp = TcpStream::connect_timeout(&server, timeout)
        .map_err(|e| format!("TCP to {server}: {e}"))?;
    tcp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let len = u16::try_from(bytes.len()).map_err(|_| "query too long for TCP".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    tcp.write_all(&framed)
        .map_err(|e| format!("TCP to {server}: {e}"))?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len)
        .map_err(|e| format!("TCP from {server}: {e}"))?;
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    tcp.read_exact(&mut body)
        .map_err(|e| format!("TCP from {server}: {e}"))?;
    Message::from_vec(&body).map_err(|e| format!("bad answer from {server}: {e}"))
}
