//! The answer to one question over one snapshot: RFC 1034 §4.3.2 with RFC 4592 wildcards.
//!
//! Pure: no sockets, no clocks, no allocation beyond the answer's short lists, so every rule is
//! tested directly and the same code serves UDP, TCP and benchmarks.

use std::net::IpAddr;
use std::sync::Arc;

use crate::config::AccessList;
use crate::name;
use crate::rdata::rtype;
use crate::view::{Concealment, Hide};
use crate::zone::{NodeRef, RRsetRef, Zone};

/// Every zone served at one moment. Immutable once published; a reload builds a new one.
#[derive(Default)]
pub struct Snapshot {
    pub zones: Vec<Arc<Zone>>,
    /// Who may query each of `zones`, in the same order (`allow_query`); None, or no entry:
    /// everyone.
    pub allow_query: Vec<Option<Arc<AccessList>>>,
    /// What each of `zones` hides from clients outside its views (`hide_services`), in the
    /// same order; None, or no entry: nothing.
    pub hide: Vec<Option<Arc<Concealment>>>,
    /// Apexes (lower-cased wire form) of zones that are configured but have never loaded.
    /// Their names get SERVFAIL, as BIND answers: the server should hold the zone and cannot
    /// serve it, so a resolver asks another server, rather than take REFUSED for "not mine".
    pub unavailable: Vec<Vec<u8>>,
    /// Who may query each of `unavailable`, in the same order: one outside its list is
    /// refused, not told that the zone exists and is broken.
    pub unavailable_allow_query: Vec<Option<Arc<AccessList>>>,
}

impl Snapshot {
    /// The zone with the longest apex that holds `lower_name`.
    pub fn find_zone(&self, lower_name: &[u8]) -> Option<&Zone> {
        self.find_zone_index(lower_name).map(|i| &*self.zones[i])
    }

    /// [`Snapshot::find_zone`]'s place in `zones`.
    fn find_zone_index(&self, lower_name: &[u8]) -> Option<usize> {
        self.zones
            .iter()
            .enumerate()
            .filter(|(_, z)| name::is_at_or_below(lower_name, &z.apex))
            .max_by_key(|(_, z)| z.apex.len())
            .map(|(i, _)| i)
    }
}

/// Who asks: the source address, and the key a signed query was verified with.
#[derive(Clone, Copy, Debug)]
pub struct Asker<'k> {
    pub addr: IpAddr,
    pub key: Option<&'k [u8]>,
}

/// Extended DNS Error 18, "Prohibited" (RFC 8914 §4.19): what a query outside a zone's
/// `allow_query` is told with its REFUSED, as BIND and Knot DNS tell it.
pub const EDE_PROHIBITED: u16 = 18;

/// Response codes this server sends (RFC 1035 §4.1.1, RFC 6891 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    /// A TSIG that does not verify (RFC 8945 §5.2).
    NotAuth = 9,
    /// Extended: 16, carried as 1 in the OPT record's upper bits.
    BadVers = 16,
}

impl Rcode {
    /// Its mnemonic, as logs and metrics spell it.
    pub fn name(self) -> &'static str {
        rcode_name(self as u16)
    }
}

/// The mnemonic of an RCODE (RFC 1035 §4.1.1, RFC 2136 §2.2, RFC 6891 §9); "other" for the
/// rest.
pub fn rcode_name(code: u16) -> &'static str {
    const NAMES: [&str; 11] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    match code {
        16 => "BADVERS",
        _ => NAMES.get(usize::from(code)).copied().unwrap_or("other"),
    }
}

/// Whose spelling an owner name has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The question's name from this byte offset on, as the client spelled it (0x20 kept).
    Query(usize),
    /// A name held in the zone (a CNAME target, an NS target, the apex).
    Zone(&'a [u8]),
}

/// One RRset placed in a section.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub owner: Owner<'a>,
    pub zone: &'a Zone,
    pub rrset: RRsetRef<'a>,
    pub ttl: u32,
    /// For additional records: must the response carry it, or else be truncated? RFC 9471 §3.1
    /// makes in-domain glue of a referral required.
    pub required: bool,
    /// The NAPTRs of this RRset the client may not see (`hide_services`), left out as it is
    /// written; None for every other RRset and client.
    pub hide: Option<Hide<'a>>,
}

/// What kind of answer a query got, for the counters and the query log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The name exists and has records of the type asked (or a CNAME to follow).
    Hit,
    /// Synthesized from a wildcard (RFC 4592).
    Wildcard,
    /// The name exists (or a wildcard matched) but has no records of the type asked.
    NoData,
    NxDomain,
    /// A delegation below the zone: the cut's NS in authority.
    Referral,
    /// A name in no zone served here, another class, or a refused request.
    Refused,
    /// Any other error: SERVFAIL, FORMERR, NOTIMP, BADVERS, NOTAUTH.
    Error,
}

impl Kind {
    pub const ALL: [Self; 7] = [
        Self::Hit,
        Self::Wildcard,
        Self::NoData,
        Self::NxDomain,
        Self::Referral,
        Self::Refused,
        Self::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Wildcard => "wildcard",
            Self::NoData => "nodata",
            Self::NxDomain => "nxdomain",
            Self::Referral => "referral",
            Self::Refused => "refused",
            Self::Error => "error",
        }
    }
}

/// What to send back, apart from header copying and encoding.
pub struct Answer<'a> {
    pub rcode: Rcode,
    pub kind: Kind,
    pub authoritative: bool,
    pub answer: Vec<Entry<'a>>,
    pub authority: Vec<Entry<'a>>,
    pub additional: Vec<Entry<'a>>,
    /// An Extended DNS Error (RFC 8914) INFO-CODE for the OPT record, when there is one.
    pub extended_error: Option<u16>,
}

impl Answer<'_> {
    pub fn error(rcode: Rcode) -> Self {
        Self {
            rcode,
            kind: if rcode == Rcode::Refused {
                Kind::Refused
            } else {
                Kind::Error
            },
            authoritative: false,
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            extended_error: None,
        }
    }
}

/// CNAMEs followed for one answer; a longer chain is cut short.
pub const MAX_CNAME_CHAIN: usize = 8;

/// Answers `qtype` for `qname` (wire form, as the client spelled it) from `snapshot`, to a
/// client every zone allows.
pub fn lookup<'a>(snapshot: &'a Snapshot, qname: &[u8], qtype: u16) -> Answer<'a> {
    lookup_as(snapshot, qname, qtype, None)
}

/// [`lookup`] for `asker` (None: anyone allowed): a zone whose `allow_query` leaves it out
/// answers REFUSED, with [`EDE_PROHIBITED`], and gives nothing away.
pub fn lookup_as<'a>(
    snapshot: &'a Snapshot,
    qname: &[u8],
    qtype: u16,
    asker: Option<Asker<'_>>,
) -> Answer<'a> {
    let lower = name::to_lowercase(qname);
    let index = snapshot.find_zone_index(&lower);
    let zone = index.map(|i| &*snapshot.zones[i]);
    let prohibited = |acl: Option<&Option<Arc<AccessList>>>| matches!((asker, acl), (Some(asker), Some(Some(acl))) if !acl.allows(asker.addr, asker.key));
    let refused = || Answer {
        extended_error: Some(EDE_PROHIBITED),
        ..Answer::error(Rcode::Refused)
    };
    // A zone that failed to load, and is closer to the name than any loaded zone, owns it.
    let unavailable = snapshot
        .unavailable
        .iter()
        .enumerate()
        .filter(|(_, apex)| name::is_at_or_below(&lower, apex))
        .max_by_key(|(_, apex)| apex.len());
    if let Some((u, apex)) = unavailable
        && zone.is_none_or(|z| z.apex.len() < apex.len())
    {
        if prohibited(snapshot.unavailable_allow_query.get(u)) {
            return refused();
        }
        return Answer::error(Rcode::ServFail);
    }
    let (Some(zone), Some(i)) = (zone, index) else {
        return Answer::error(Rcode::Refused);
    };
    if prohibited(snapshot.allow_query.get(i)) {
        return refused();
    }
    // Views by Enumservice: what this client may not see, decided once per answer.
    let hide = snapshot
        .hide
        .get(i)
        .and_then(Option::as_deref)
        .and_then(|c| c.for_asker(asker));
    let mut answer = Answer {
        rcode: Rcode::NoError,
        kind: Kind::Hit,
        authoritative: true,
        answer: Vec::new(),
        authority: Vec::new(),
        additional: Vec::new(),
        extended_error: None,
    };
    resolve(
        zone,
        &lower,
        Spelling::Query,
        qtype,
        hide,
        &mut answer,
        &mut Vec::new(),
    );
    // `resolve` said how the question's own name was found; what came of it decides the rest.
    if answer.rcode == Rcode::NxDomain {
        answer.kind = Kind::NxDomain;
    } else if answer.answer.is_empty() && matches!(answer.kind, Kind::Hit | Kind::Wildcard) {
        answer.kind = Kind::NoData;
    }
    answer
}

/// Where the name being resolved comes from: the question, or a CNAME target in the zone.
#[derive(Clone, Copy)]
enum Spelling<'a> {
    Query,
    Zone(&'a [u8]),
}

impl<'a> Spelling<'a> {
    fn owner(self, offset: usize) -> Owner<'a> {
        match self {
            Self::Query => Owner::Query(offset),
            Self::Zone(n) => Owner::Zone(&n[offset..]),
        }
    }
}

/// The outcome of walking the trie for one name.
enum Found<'a> {
    /// The name exists: here is its node.
    Exact(NodeRef<'a>),
    /// The name does not exist, and the closest encloser has a `*` child (RFC 4592 §3.3.1).
    Wildcard(NodeRef<'a>),
    /// A zone cut at or above the name; the cut's owner starts at this byte offset.
    Cut(NodeRef<'a>, usize),
    NxDomain,
}

/// RFC 1034 §4.3.2 step 3 for one name: walk down from the apex, label by label.
fn find<'a>(zone: &'a Zone, lower: &[u8], qtype: u16) -> Found<'a> {
    let offsets = name::label_offsets(lower);
    let apex_labels = name::label_count(&zone.apex);
    let below = offsets.len() - apex_labels;
    let name_at = |k: usize| offsets.get(k).copied().unwrap_or(lower.len() - 1);
    let mut node = zone.apex_node();
    for depth in 0..below {
        let idx = below - 1 - depth;
        if depth > 0 && zone.is_cut(node) {
            return Found::Cut(node, name_at(idx + 1));
        }
        let at = offsets[idx];
        let label = &lower[at + 1..at + 1 + lower[at] as usize];
        match zone.child(node, label, &lower[at..]) {
            Some(child) => node = child,
            None => {
                // `node` is the closest encloser; only its own `*` child may synthesize.
                return match zone.wildcard_child(node, &lower[name_at(idx + 1)..]) {
                    Some(w) => Found::Wildcard(w),
                    None => Found::NxDomain,
                };
            }
        }
    }
    // RFC 4035 §3.1.4.1 aside, DS at a cut belongs to the parent side: answer it here.
    if below > 0 && zone.is_cut(node) && qtype != rtype::DS {
        return Found::Cut(node, 0);
    }
    Found::Exact(node)
}

/// The NAPTR RDATAs a client would get for `lower` from `zone`: exact or synthesized from a
/// wildcard, none at or below a cut. None if the name is outside the zone.
pub fn naptrs_at<'a>(zone: &'a Zone, lower: &[u8]) -> Option<Vec<&'a [u8]>> {
    if !name::is_at_or_below(lower, &zone.apex) {
        return None;
    }
    let node = match find(zone, lower, rtype::NAPTR) {
        Found::Exact(n) | Found::Wildcard(n) => n,
        Found::Cut(..) | Found::NxDomain => return Some(Vec::new()),
    };
    Some(
        zone.rrset(node, rtype::NAPTR)
            .map(|set| zone.rdatas(set).collect())
            .unwrap_or_default(),
    )
}

/// Answers `qtype` at `lower` into `out`; `chain` holds the names whose CNAMEs are already in
/// the answer (empty, and never allocated, unless there are CNAMEs).
fn resolve<'a>(
    zone: &'a Zone,
    lower: &[u8],
    spelling: Spelling<'a>,
    qtype: u16,
    hide: Option<Hide<'a>>,
    out: &mut Answer<'a>,
    chain: &mut Vec<Vec<u8>>,
) {
    let top = chain.is_empty();
    let node = match find(zone, lower, qtype) {
        Found::Exact(n) => n,
        Found::Wildcard(n) => {
            if top {
                out.kind = Kind::Wildcard;
            }
            n
        }
        Found::Cut(cut, offset) => {
            if top {
                out.kind = Kind::Referral;
            }
            return referral(zone, cut, lower, spelling.owner(offset), out);
        }
        Found::NxDomain => {
            out.rcode = Rcode::NxDomain;
            return negative(zone, out);
        }
    };
    let owner = spelling.owner(0);
    // What of each RRset this client may see: an RRset whose every record is hidden is not
    // there (NODATA); one with nothing hidden is written without looking again.
    let shown = |rrset: RRsetRef<'a>| {
        let seen = match hide {
            Some(h) if zone.rrset_info(rrset).rtype == rtype::NAPTR => {
                Visibility::of(zone, rrset, lower, h)
            }
            _ => Visibility::All,
        };
        let entry = Entry {
            owner,
            zone,
            rrset,
            ttl: zone.rrset_info(rrset).ttl,
            required: false,
            hide: if seen == Visibility::Some { hide } else { None },
        };
        (seen != Visibility::None).then_some(entry)
    };
    if qtype == rtype::ANY {
        let before = out.answer.len();
        out.answer.extend(zone.rrsets_at(node).filter_map(shown));
        if out.answer.len() == before {
            return negative(zone, out);
        }
        return;
    }
    if let Some(set) = zone.rrset(node, qtype) {
        let Some(e) = shown(set) else {
            return negative(zone, out);
        };
        out.answer.push(e);
        if qtype == rtype::NS {
            add_addresses(zone, set, None, out);
        }
        return;
    }
    if let Some(cname) = zone
        .rrset(node, rtype::CNAME)
        .filter(|_| zone.has_cname(node))
    {
        out.answer.extend(shown(cname)); // a CNAME: all of it
        let Some(target) = zone.rdatas(cname).next() else {
            return;
        };
        let target_lower = name::to_lowercase(target);
        chain.push(lower.to_vec());
        // RFC 1034 §4.3.2 step 3a: restart at the target if it is in this zone, unless its
        // CNAME is already in the answer: a loop gives each CNAME once, as NSD answers it.
        if chain.len() < MAX_CNAME_CHAIN
            && name::is_at_or_below(&target_lower, &zone.apex)
            && !chain.contains(&target_lower)
        {
            resolve(
                zone,
                &target_lower,
                Spelling::Zone(target),
                qtype,
                hide,
                out,
                chain,
            );
        }
        return;
    }
    negative(zone, out);
}

/// How much of an RRset one client may see.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Visibility {
    All,
    Some,
    None,
}

impl Visibility {
    /// What `hide` leaves of the NAPTR RRset `set` owned by `lower`.
    fn of(zone: &Zone, set: RRsetRef<'_>, lower: &[u8], hide: Hide<'_>) -> Self {
        let (mut shown, mut hidden) = (0, 0);
        for (rdata, templated) in zone.rdata_entries(set) {
            let aus = || {
                let mut buf = [0; 128];
                templated
                    .then(|| crate::template::owner_aus(lower, &mut buf).map(<[u8]>::to_vec))
                    .flatten()
            };
            if hide.hides(rdata, aus) {
                hidden += 1;
            } else {
                shown += 1;
            }
        }
        match (shown, hidden) {
            (_, 0) => Self::All,
            (0, _) => Self::None,
            _ => Self::Some,
        }
    }
}

/// The in-zone name a query for `lower` continues at because of a CNAME, exact or synthesized
/// from a wildcard (for the load-time check of CNAME chains).
pub fn cname_target(zone: &Zone, lower: &[u8]) -> Option<Vec<u8>> {
    let node = match find(zone, lower, rtype::CNAME) {
        Found::Exact(n) | Found::Wildcard(n) if zone.has_cname(n) => n,
        _ => return None,
    };
    let target = name::to_lowercase(zone.rdatas(zone.rrset(node, rtype::CNAME)?).next()?);
    name::is_at_or_below(&target, &zone.apex).then_some(target)
}

/// NODATA or NXDOMAIN: the SOA in authority with the negative TTL (RFC 2308 §3).
fn negative<'a>(zone: &'a Zone, out: &mut Answer<'a>) {
    out.authority.push(Entry {
        owner: Owner::Zone(&zone.apex),
        zone,
        rrset: zone.soa(),
        ttl: zone.negative_ttl,
        required: false,
        hide: None,
    });
}

/// RFC 1034 §4.3.2 step 3b: the cut's NS RRset in authority, addresses of its in-zone targets
/// in additional, AA clear unless an answer was already given.
fn referral<'a>(
    zone: &'a Zone,
    cut: NodeRef<'a>,
    lower: &[u8],
    owner: Owner<'a>,
    out: &mut Answer<'a>,
) {
    let Some(ns) = zone.rrset(cut, rtype::NS) else {
        return;
    };
    out.authoritative = !out.answer.is_empty();
    out.authority.push(Entry {
        owner,
        zone,
        rrset: ns,
        ttl: zone.rrset_info(ns).ttl,
        required: false,
        hide: None,
    });
    let cut_name = match owner {
        Owner::Query(offset) => &lower[offset..],
        Owner::Zone(n) => &lower[lower.len() - n.len()..],
    };
    add_addresses(zone, ns, Some(cut_name), out);
}

/// A and AAAA of the NS targets that lie in this zone. Those below `cut` are glue that a
/// referral must carry (RFC 9471 §3.1); the others are optional.
fn add_addresses<'a>(zone: &'a Zone, ns: RRsetRef<'a>, cut: Option<&[u8]>, out: &mut Answer<'a>) {
    for target in zone.rdatas(ns) {
        let lower = name::to_lowercase(target);
        let Some(node) = zone.find_exact(&lower) else {
            continue;
        };
        let required = cut.is_some_and(|c| name::is_at_or_below(&lower, c));
        for t in [rtype::A, rtype::AAAA] {
            if let Some(set) = zone.rrset(node, t) {
                out.additional.push(Entry {
                    owner: Owner::Zone(target),
                    zone,
                    rrset: set,
                    ttl: zone.rrset_info(set).ttl,
                    required,
                    hide: None,
                });
            }
        }
    }
}
