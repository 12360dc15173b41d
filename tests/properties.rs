//! Property tests: random zones through the zone builder and the answer path, held against a
//! reference model that is nothing but a `BTreeMap` of RRsets and the RFC 1034 §4.3.2
//! algorithm (with RFC 4592 wildcards), written here without any of enumd's structures.
//!
//! Each zone mixes digit names (the trie) with other names (the side table), names down to
//! 255 octets and 127 labels, wildcards, delegations with glue, CNAME chains and loops,
//! RRsets of 1 to 70,000 records and RDATA of 0 to 65,535 octets. It must either load and
//! answer every name and type as the model does, or be refused with the reason the model
//! expects. Every answer is also encoded for UDP and TCP and decoded strictly: what is sent
//! is what was answered, or TC with empty sections when it cannot fit.
//!
//! `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override the case count and seed below.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use common::wire::{Rr, decode};
use enumd::lookup::{self, Entry, Owner, Snapshot};
use enumd::name;
use enumd::rdata::rtype;
use enumd::record::{Pos, Record};
use enumd::wire::{Policy, Transport, respond};
use enumd::zone::change::{ChangeSet, Rr as ChangeRr};
use enumd::zone::diff::{self, Outcome};
use enumd::zone::{Zone, ZoneBuilder};
use enumd::zonefile;

/// Cases per property unless `PROPTEST_CASES` says otherwise.
/// The address queries of the wire-level property come from.
const CLIENT: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

const CASES: u32 = 160;
/// The seed unless `PROPTEST_RNG_SEED` says otherwise: CI runs the same cases every time.
const SEED: u64 = 0x656e_756d_6400_0016;

/// Apexes: Tier-2 style; a private one; one of a single label, so that names below it reach
/// 127 labels within 255 octets.
const APEXES: &[&str] = &["4.4.e164.arpa.", "e164enum.net.", "9."];
const GENERIC: u16 = 65_280;
/// Labels names are made of: digits (the trie), `*`, and others for the side table,
/// including a dot and non-ASCII bytes inside a label.
const LABELS: &[&[u8]] = &[
    b"0",
    b"1",
    b"2",
    b"3",
    b"4",
    b"5",
    b"6",
    b"7",
    b"8",
    b"9",
    b"*",
    b"ns",
    b"Sip",
    b"a.b",
    b"\xc3\xa9",
    b"x-y",
];

fn config() -> Config {
    let mut config = Config::default(); // reads PROPTEST_* from the environment
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config.failure_persistence = None;
    config.max_shrink_iters = 2_000;
    config
}

// ---------------------------------------------------------------- generation ----

/// A name below the apex: label indices, or a deep run of digit labels.
#[derive(Clone, Debug)]
enum NameSpec {
    Labels(Vec<usize>),
    /// `n` digit labels (past the trie's 32), then a few ordinary ones.
    Deep(usize, Vec<usize>),
}

#[derive(Clone, Debug)]
enum Kind {
    Naptr,
    Txt,
    A,
    Aaaa,
    /// A CNAME, its target spelled in `case`.
    Cname {
        target: Target,
        case: u32,
    },
    /// NS to `targets`; each with in-zone glue below the cut or elsewhere, or none.
    Ns {
        targets: Vec<(u8, u32)>,
    },
    Ds,
    Generic,
    /// A second SOA: below the apex or at it (both refused).
    ExtraSoa {
        below: bool,
    },
}

/// Where a CNAME points.
#[derive(Clone, Debug)]
enum Target {
    /// The owner of another spec of the zone (index modulo their number): chains and loops.
    Spec(usize),
    /// Any name below the apex.
    Name(NameSpec),
    /// A name outside the zone.
    Outside,
}

#[derive(Clone, Debug)]
struct Spec {
    owner: NameSpec,
    kind: Kind,
    /// Records in the RRset.
    count: usize,
    /// RDATA octets (TXT, generic).
    size: usize,
    /// Vary TTLs within the RRset.
    ttl_varies: bool,
    salt: u32,
}

fn name_spec() -> impl Strategy<Value = NameSpec> {
    prop_oneof![
        12 => prop::collection::vec(0..LABELS.len(), 1..6).prop_map(NameSpec::Labels),
        // Mostly digits: numbers and their ENTs.
        12 => prop::collection::vec(0..10usize, 1..13).prop_map(NameSpec::Labels),
        1 => (28..121usize, prop::collection::vec(0..LABELS.len(), 0..3))
            .prop_map(|(n, rest)| NameSpec::Deep(n, rest)),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        60 => Just(Kind::Naptr),
        40 => Just(Kind::Txt),
        20 => Just(Kind::A),
        10 => Just(Kind::Aaaa),
        40 => (target(), any::<u32>()).prop_map(|(target, case)| Kind::Cname { target, case }),
        20 => prop::collection::vec((0..3u8, any::<u32>()), 1..4)
            .prop_map(|targets| Kind::Ns { targets }),
        10 => Just(Kind::Ds),
        20 => Just(Kind::Generic),
        // Rare, as it refuses the whole zone: about one zone in ten.
        2 => prop::bool::ANY.prop_map(|below| Kind::ExtraSoa { below }),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        6 => any::<usize>().prop_map(Target::Spec),
        2 => name_spec().prop_map(Target::Name),
        1 => Just(Target::Outside),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    // RRsets past 5,460 records cannot be sent and refuse the zone: about one zone in ten.
    let count = prop_oneof![
        300 => 1..4usize,
        12 => 1000..5600usize,
        3 => 60_000..70_001usize,
    ];
    let size = prop_oneof![
        90 => 0..40usize,
        6 => 200..3000usize,
        3 => 30_000..65_536usize,
    ];
    (
        name_spec(),
        kind(),
        count,
        size,
        prop::bool::weighted(0.1),
        any::<u32>(),
    )
        .prop_map(|(owner, kind, count, size, ttl_varies, salt)| Spec {
            owner,
            kind,
            count,
            size,
            ttl_varies,
            salt,
        })
}

/// A zone: its apex (an index into [`APEXES`]) and what goes in it.
fn zone_specs() -> impl Strategy<Value = (usize, Vec<Spec>)> {
    (0..APEXES.len(), prop::collection::vec(spec(), 1..24))
}

fn parse_apex(i: usize) -> Vec<u8> {
    name::parse(APEXES[i].as_bytes(), name::ROOT).unwrap()
}

/// The wire name of `spec` below the apex, cut to 255 octets.
fn materialize_name(spec: &NameSpec, apex: &[u8]) -> Vec<u8> {
    let labels: Vec<&[u8]> = match spec {
        NameSpec::Labels(l) => l.iter().map(|&i| LABELS[i]).collect(),
        NameSpec::Deep(n, rest) => (0..*n)
            .map(|i| LABELS[i % 10])
            .chain(rest.iter().map(|&i| LABELS[i]))
            .collect(),
    };
    let mut room = 255 - apex.len();
    let mut kept: Vec<&[u8]> = Vec::new();
    // The labels nearest the apex stay when the name is too long.
    for label in labels.iter().rev() {
        if label.len() + 1 > room {
            break;
        }
        room -= label.len() + 1;
        kept.push(label);
    }
    let mut wire = Vec::new();
    for label in kept.iter().rev() {
        wire.push(u8::try_from(label.len()).unwrap());
        wire.extend_from_slice(label);
    }
    wire.extend_from_slice(apex);
    wire
}

/// `name` with letters upper-cased where `case`'s bits say.
fn spelled(name: &[u8], case: u32) -> Vec<u8> {
    name.iter()
        .enumerate()
        .map(|(i, &b)| {
            if b.is_ascii_lowercase() && (case >> (i % 32)) & 1 == 1 {
                b.to_ascii_uppercase()
            } else {
                b
            }
        })
        .collect()
}

/// A name `label` under `parent`, if it fits.
fn child(label: &[u8], parent: &[u8]) -> Option<Vec<u8>> {
    let mut n = vec![u8::try_from(label.len()).ok()?];
    n.extend_from_slice(label);
    n.extend_from_slice(parent);
    (n.len() <= 255).then_some(n)
}

/// One record as the parser would hand it over.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    owner: Vec<u8>,
    rtype: u16,
    ttl: u32,
    rdata: Vec<u8>,
}

fn soa_rdata(serial: u32, minimum: u32) -> Vec<u8> {
    let mut r = name::parse(b"ns.example.", name::ROOT).unwrap();
    r.extend_from_slice(&name::parse(b"hm.example.", name::ROOT).unwrap());
    for v in [serial, 3600, 900, 1_209_600, minimum] {
        r.extend_from_slice(&v.to_be_bytes());
    }
    r
}

/// `len` octets of TXT: character-strings of up to 255 octets; `seed` makes each distinct.
fn txt_rdata(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 1);
    let tag = seed.to_le_bytes();
    let mut left = len.max(1);
    let mut k = 0usize;
    while left > 0 {
        let n = (left - 1).min(255);
        out.push(u8::try_from(n).unwrap());
        for i in 0..n {
            // Every byte value, '"' and '\\' included, for the text form to escape.
            out.push(tag[(i + k) % 8].wrapping_add(u8::try_from(i % 251).unwrap()));
        }
        left -= n + 1;
        k += 1;
    }
    out
}

/// The records of a zone: its SOA, then each spec's RRset, in reading order.
fn materialize(specs: &[Spec], apex: &[u8]) -> Vec<Rec> {
    let apex = apex.to_vec();
    let minimum = 60 + u32::try_from(specs.len()).unwrap();
    let mut recs = vec![Rec {
        owner: apex.clone(),
        rtype: rtype::SOA,
        ttl: 3600,
        rdata: soa_rdata(1, minimum),
    }];
    for (k, s) in specs.iter().enumerate() {
        let owner = name::to_lowercase(&materialize_name(&s.owner, &apex));
        let ttl = |i: usize| {
            if s.ttl_varies {
                60 + u32::try_from(i % 3).unwrap()
            } else {
                60
            }
        };
        let seed = (u64::from(s.salt) << 20) | k as u64;
        // Big RRsets get small RDATA: 70,000 × 65,535 octets is no test, only a swap storm.
        let size = if s.count > 100 {
            s.size.min(12)
        } else {
            s.size
        };
        // Glue and second SOAs, read after the spec's own RRset.
        let mut extra = Vec::new();
        let mut push = |rtype: u16, i: usize, rdata: Vec<u8>| {
            recs.push(Rec {
                owner: owner.clone(),
                rtype,
                ttl: ttl(i),
                rdata,
            });
        };
        match &s.kind {
            Kind::Naptr => {
                let mut aus = String::from("+");
                for label in name::labels(&owner) {
                    match label {
                        [d @ b'0'..=b'9'] => aus.push(char::from(*d)),
                        _ => break,
                    }
                }
                for i in 0..s.count.min(3) {
                    // Naming the owner's own number makes it a number template.
                    let user = if i == 0 { aus.clone() } else { format!("u{i}") };
                    let regexp = format!("!^.*$!sip:{user}@{}.example!", s.salt % 7);
                    let mut r = vec![0, 10, 0, u8::try_from(i).unwrap()];
                    for f in ["u", "E2U+sip", regexp.as_str()] {
                        r.push(u8::try_from(f.len()).unwrap());
                        r.extend_from_slice(f.as_bytes());
                    }
                    r.push(0);
                    push(rtype::NAPTR, i, r);
                }
            }
            Kind::Txt => {
                for i in 0..s.count {
                    push(
                        rtype::TXT,
                        i,
                        txt_rdata(size.max(4), seed ^ (i as u64) << 32),
                    );
                }
            }
            Kind::A => {
                for i in 0..s.count.min(1000) {
                    let a = u32::try_from(i).unwrap().wrapping_add(s.salt);
                    push(rtype::A, i, a.to_be_bytes().to_vec());
                }
            }
            Kind::Aaaa => {
                for i in 0..s.count.min(3) {
                    let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                    a[12..].copy_from_slice(&(s.salt ^ u32::try_from(i).unwrap()).to_be_bytes());
                    push(rtype::AAAA, i, a.to_vec());
                }
            }
            Kind::Cname { target, case } => {
                let t = match target {
                    Target::Spec(i) => materialize_name(&specs[i % specs.len()].owner, &apex),
                    Target::Name(n) => materialize_name(n, &apex),
                    Target::Outside => name::parse(b"elsewhere.example.", name::ROOT).unwrap(),
                };
                push(rtype::CNAME, 0, spelled(&t, *case));
                if s.count > 1 && s.count < 4 && s.salt % 8 == 0 {
                    // A second, different CNAME: refused.
                    push(
                        rtype::CNAME,
                        1,
                        name::parse(b"other.example.", name::ROOT).unwrap(),
                    );
                }
            }
            Kind::Ns { targets } => {
                for (i, &(glue, case)) in targets.iter().enumerate() {
                    let label = format!("ns{}", i % 2);
                    let target = match glue {
                        // In-domain glue, below the cut.
                        0 => child(label.as_bytes(), &owner),
                        // Elsewhere in the zone.
                        1 => child(label.as_bytes(), &apex),
                        _ => Some(name::parse(b"ns.tier3.example.", name::ROOT).unwrap()),
                    };
                    let Some(target) = target else { continue };
                    push(rtype::NS, i, spelled(&target, case));
                    if glue < 2 {
                        let glue_owner = name::to_lowercase(&target);
                        extra.push(Rec {
                            owner: glue_owner,
                            rtype: rtype::A,
                            ttl: 60,
                            rdata: vec![192, 0, 2, u8::try_from(i).unwrap()],
                        });
                    }
                }
            }
            Kind::Ds => {
                let mut r = vec![0x30, 0x39, 13, 2];
                r.extend((0..32).map(|i| u8::try_from(i).unwrap() ^ s.salt.to_le_bytes()[0]));
                push(rtype::DS, 0, r);
            }
            Kind::Generic => {
                for i in 0..s.count {
                    let mut r = (seed ^ (i as u64) << 40).to_le_bytes().to_vec();
                    r.resize(size.max(8), u8::try_from(i % 256).unwrap());
                    if size == 0 && i == 0 {
                        r.clear(); // RDATA of 0 octets
                    }
                    push(GENERIC, i, r);
                }
            }
            Kind::ExtraSoa { below } => {
                let at = if *below { owner.clone() } else { apex.clone() };
                extra.push(Rec {
                    owner: at,
                    rtype: rtype::SOA,
                    ttl: 3600,
                    rdata: soa_rdata(2, minimum),
                });
            }
        }
        recs.extend(extra);
    }
    recs
}

// ---------------------------------------------------------------- the model ----

/// One RRset of the model: the TTL read first, RDATA distinct as RFC 2181 §5 and RFC 4343 §3
/// count them, the one read first kept.
#[derive(Clone, Debug, Default)]
struct Set {
    ttl: u32,
    rdatas: Vec<Vec<u8>>,
    /// The comparison forms of `rdatas`.
    forms: BTreeSet<Vec<u8>>,
}

/// The reference: RRsets by owner and type, and every name that exists.
struct Model {
    apex: Vec<u8>,
    sets: BTreeMap<Vec<u8>, BTreeMap<u16, Set>>,
    names: BTreeSet<Vec<u8>>,
}

/// Comparison form: names in the RDATA of NS and CNAME (the generated types with names,
/// other than SOA and NAPTR's root replacement) without case.
fn model_canonical(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    if rtype == rtype::NS || rtype == rtype::CNAME {
        rdata.to_ascii_lowercase()
    } else {
        rdata.to_vec()
    }
}

fn parent(n: &[u8]) -> &[u8] {
    &n[1 + usize::from(n[0])..]
}

fn below_or_at(n: &[u8], apex: &[u8]) -> bool {
    name::is_at_or_below(n, apex)
}

/// One RRset in a section, as compared: owner as spelled, type, TTL, RDATA sorted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Placed {
    owner: Vec<u8>,
    rtype: u16,
    ttl: u32,
    rdatas: Vec<Vec<u8>>,
    required: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Expected {
    rcode: u8,
    aa: bool,
    answer: Vec<Placed>,
    authority: Vec<Placed>,
    /// Sorted: the order of additional RRsets is not a rule.
    additional: Vec<Placed>,
}

impl Model {
    fn new(recs: &[Rec], apex: &[u8]) -> Self {
        let apex = apex.to_vec();
        let mut sets: BTreeMap<Vec<u8>, BTreeMap<u16, Set>> = BTreeMap::new();
        let mut names = BTreeSet::new();
        for r in recs {
            let set = sets
                .entry(r.owner.clone())
                .or_default()
                .entry(r.rtype)
                .or_insert_with(|| Set {
                    ttl: r.ttl,
                    ..Set::default()
                });
            if set.forms.insert(model_canonical(r.rtype, &r.rdata)) {
                set.rdatas.push(r.rdata.clone());
            }
            let mut n = r.owner.as_slice();
            loop {
                names.insert(n.to_vec());
                if n == apex.as_slice() {
                    break;
                }
                n = parent(n);
            }
        }
        Self { apex, sets, names }
    }

    /// Why the zone cannot load: for each name with a problem, the ways the loader may word
    /// it (a name can break two rules at once, and one message for it is enough). Empty when
    /// it loads.
    fn refusal(&self) -> Vec<Vec<&'static str>> {
        let mut problems = Vec::new();
        for (owner, types) in &self.sets {
            let at_apex = *owner == self.apex;
            let mut reasons = Vec::new();
            if let Some(c) = types.get(&rtype::CNAME) {
                if c.rdatas.len() > 1 {
                    reasons.push("more than one CNAME at a name");
                }
                if at_apex {
                    reasons.push("CNAME at the zone apex");
                }
                if types.len() > 1 {
                    reasons.push("beside a CNAME");
                }
            }
            if let Some(soa) = types.get(&rtype::SOA) {
                if !at_apex {
                    reasons.push("SOA record below the apex");
                }
                if soa.rdatas.len() > 1 {
                    reasons.push("second SOA record at the apex");
                }
            }
            for (&t, set) in types {
                // Names the encoder compresses can shrink to a 2-byte pointer.
                let rdata_min = |d: &Vec<u8>| match t {
                    rtype::NS | rtype::CNAME => d.len().min(2),
                    rtype::SOA => d.len().min(24),
                    _ => d.len(),
                };
                let least: usize =
                    16 + owner.len() + set.rdatas.iter().map(|d| 12 + rdata_min(d)).sum::<usize>();
                if least > 65_535 {
                    reasons.push("more than a DNS message holds");
                }
            }
            if !reasons.is_empty() {
                problems.push(reasons);
            }
        }
        problems
    }

    fn set(&self, owner: &[u8], t: u16) -> Option<&Set> {
        self.sets.get(owner)?.get(&t)
    }

    fn is_cut(&self, n: &[u8]) -> bool {
        n != self.apex.as_slice() && self.set(n, rtype::NS).is_some()
    }

    fn placed(&self, owner: &[u8], t: u16, set: &Set, ttl: u32, required: bool) -> Placed {
        let mut rdatas = set.rdatas.clone();
        rdatas.sort();
        Placed {
            owner: owner.to_vec(),
            rtype: t,
            ttl,
            rdatas,
            required,
        }
    }

    /// The answer to `qtype` at `qname` (spelled as asked).
    fn answer(&self, qname: &[u8], qtype: u16) -> Expected {
        let mut e = Expected {
            rcode: 0,
            aa: true,
            answer: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        };
        let lower = name::to_lowercase(qname);
        if !below_or_at(&lower, &self.apex) {
            e.rcode = 5;
            e.aa = false;
            return e;
        }
        self.resolve(qname, qtype, &mut e, &mut Vec::new());
        e.additional.sort();
        e
    }

    /// RFC 1034 §4.3.2 step 3 for `spelled` (a name at or below the apex).
    fn resolve(&self, spelled: &[u8], qtype: u16, e: &mut Expected, chain: &mut Vec<Vec<u8>>) {
        let lower = name::to_lowercase(spelled);
        // The name and its ancestors down to the apex, nearest the apex first.
        let mut path = vec![lower.clone()];
        while path[path.len() - 1] != self.apex {
            let up = parent(&path[path.len() - 1]).to_vec();
            path.push(up);
        }
        path.reverse();
        let mut node = self.apex.clone();
        let mut synthesized_from = None;
        for (depth, next) in path.iter().enumerate().skip(1) {
            if depth > 1 && self.is_cut(&node) {
                return self.referral(&node, spelled, e);
            }
            if self.names.contains(next) {
                node = next.clone();
                continue;
            }
            // `node` is the closest encloser: only its `*` child synthesizes (RFC 4592).
            let star = child(b"*", &node).filter(|s| self.names.contains(s));
            match star {
                Some(star) => {
                    synthesized_from = Some(star);
                    break;
                }
                None => {
                    e.rcode = 3;
                    return self.negative(e);
                }
            }
        }
        if synthesized_from.is_none()
            && node != self.apex
            && self.is_cut(&node)
            && qtype != rtype::DS
        {
            return self.referral(&node, spelled, e);
        }
        let source = synthesized_from.unwrap_or(node);
        let empty = BTreeMap::new();
        let data = self.sets.get(&source).unwrap_or(&empty);
        if qtype == 255 {
            if data.is_empty() {
                return self.negative(e);
            }
            for (&t, set) in data {
                e.answer.push(self.placed(spelled, t, set, set.ttl, false));
            }
            return;
        }
        if let Some(set) = data.get(&qtype) {
            e.answer
                .push(self.placed(spelled, qtype, set, set.ttl, false));
            if qtype == rtype::NS {
                self.addresses(set, None, e);
            }
            return;
        }
        if let Some(cname) = data.get(&rtype::CNAME) {
            e.answer
                .push(self.placed(spelled, rtype::CNAME, cname, cname.ttl, false));
            let target = &cname.rdatas[0];
            let target_lower = name::to_lowercase(target);
            chain.push(lower);
            if chain.len() < 8
                && below_or_at(&target_lower, &self.apex)
                && !chain.contains(&target_lower)
            {
                self.resolve(target, qtype, e, chain);
            }
            return;
        }
        self.negative(e);
    }

    fn negative(&self, e: &mut Expected) {
        let soa = self
            .set(&self.apex, rtype::SOA)
            .expect("the zone has its SOA");
        let minimum =
            u32::from_be_bytes(soa.rdatas[0][soa.rdatas[0].len() - 4..].try_into().unwrap());
        let ttl = soa.ttl.min(minimum);
        e.authority
            .push(self.placed(&self.apex, rtype::SOA, soa, ttl, false));
    }

    fn referral(&self, cut: &[u8], spelled: &[u8], e: &mut Expected) {
        let ns = self.set(cut, rtype::NS).expect("a cut owns NS");
        e.aa = !e.answer.is_empty();
        let owner = &spelled[spelled.len() - cut.len()..];
        e.authority
            .push(self.placed(owner, rtype::NS, ns, ns.ttl, false));
        self.addresses(ns, Some(cut), e);
    }

    /// A and AAAA of the NS targets that exist in the zone; those below `cut` are required.
    fn addresses(&self, ns: &Set, cut: Option<&[u8]>, e: &mut Expected) {
        for target in &ns.rdatas {
            let lower = name::to_lowercase(target);
            if !below_or_at(&lower, &self.apex) || !self.names.contains(&lower) {
                continue;
            }
            let required = cut.is_some_and(|c| below_or_at(&lower, c));
            for t in [rtype::A, rtype::AAAA] {
                if let Some(set) = self.set(&lower, t) {
                    e.additional
                        .push(self.placed(target, t, set, set.ttl, required));
                }
            }
        }
    }
}

// ------------------------------------------------------------ enumd's side ----

/// Builds the zone in chunks of at most `chunk_nodes` nodes: tiny ones make every name's
/// path cross chunks.
fn build(recs: &[Rec], apex: &[u8], chunk_nodes: usize) -> (Option<Zone>, Vec<String>) {
    let mut b = ZoneBuilder::new(apex, false).with_chunk_nodes(chunk_nodes);
    let file: Arc<Path> = Arc::from(Path::new("p.zone"));
    for (i, r) in recs.iter().enumerate() {
        let pos = Pos {
            file: file.clone(),
            line: u32::try_from(i + 1).unwrap(),
        };
        b.add(&Record {
            owner: &r.owner,
            ttl: r.ttl,
            rtype: r.rtype,
            rdata: &r.rdata,
            pos: &pos,
        });
    }
    let whole = Pos { file, line: 0 };
    let (zone, report) = b.finish(&whole, false);
    let errors = report
        .listed()
        .iter()
        .filter(|e| !e.warning)
        .map(ToString::to_string)
        .collect();
    (zone, errors)
}

fn placed_from(qname: &[u8], entries: &[Entry<'_>]) -> Vec<Placed> {
    entries
        .iter()
        .map(|e| {
            let owner = match e.owner {
                Owner::Query(offset) => qname[offset..].to_vec(),
                Owner::Zone(n) => n.to_vec(),
            };
            let mut rdatas = e.zone.served_rdatas(e.rrset, &owner);
            rdatas.sort();
            Placed {
                rtype: e.zone.rrset_info(e.rrset).rtype,
                ttl: e.ttl,
                owner,
                rdatas,
                required: e.required,
            }
        })
        .collect()
}

fn got(snapshot: &Snapshot, qname: &[u8], qtype: u16) -> Expected {
    let a = lookup::lookup(snapshot, qname, qtype);
    let mut additional = placed_from(qname, &a.additional);
    additional.sort();
    Expected {
        rcode: a.rcode as u8,
        aa: a.authoritative,
        answer: placed_from(qname, &a.answer),
        authority: placed_from(qname, &a.authority),
        additional,
    }
}

/// A query for `qname` (wire, as spelled), with an OPT of `payload` or none.
fn query_bytes(id: u16, qname: &[u8], qtype: u16, payload: Option<u16>) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(payload.is_some())]);
    q.extend_from_slice(qname);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some(p) = payload {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&p.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    q
}

/// The records of sections, one per RR, in order.
fn flat(sections: &[&Placed]) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    let mut out = Vec::new();
    for p in sections {
        for d in &p.rdatas {
            out.push((p.owner.clone(), p.rtype, p.ttl, d.clone()));
        }
    }
    out
}

fn rrs(records: &[Rr]) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    records
        .iter()
        .map(|r| (r.owner.clone(), r.rtype, r.ttl, r.rdata.clone()))
        .collect()
}

/// Records compared as the wire may change them: compression points names at earlier
/// spellings of the same name (as NSD and Knot do), so owners and the names in NS, CNAME and
/// SOA RDATA compare without case.
fn caseless(mut v: Vec<(Vec<u8>, u16, u32, Vec<u8>)>) -> Vec<(Vec<u8>, u16, u32, Vec<u8>)> {
    for r in &mut v {
        r.0.make_ascii_lowercase();
        if matches!(r.1, rtype::NS | rtype::CNAME | rtype::SOA) {
            r.3.make_ascii_lowercase();
        }
    }
    v.sort();
    v
}

/// Octets the sections take uncompressed: if they fit, compression can only make them fit.
fn uncompressed(sections: &[&Placed]) -> usize {
    sections
        .iter()
        .map(|p| {
            p.rdatas
                .iter()
                .map(|d| p.owner.len() + 10 + d.len())
                .sum::<usize>()
        })
        .sum()
}

/// What `respond` sends for the question, over each transport, against what was answered.
fn check_wire(
    snapshot: &Snapshot,
    qname: &[u8],
    qtype: u16,
    want: &Expected,
) -> Result<(), TestCaseError> {
    let policy = Policy::plain(1232);
    let mut out = Vec::new();
    for (transport, payload, limit) in [
        (Transport::Udp, None, 512),
        (Transport::Udp, Some(1232), 1232),
        (Transport::Tcp, Some(4096), 65_535),
    ] {
        let q = query_bytes(0x1234, qname, qtype, payload);
        prop_assert!(respond(snapshot, &q, transport, CLIENT, &policy, &mut out).answered());
        prop_assert!(
            out.len() <= limit,
            "{} octets over {transport:?}",
            out.len()
        );
        let m = decode(&out).map_err(|e| TestCaseError::fail(format!("{transport:?}: {e}")))?;
        prop_assert_eq!(m.id, 0x1234);
        prop_assert_eq!(&m.qname, &qname.to_vec(), "question echoed as spelled");
        prop_assert_eq!(m.rcode(), want.rcode);
        prop_assert_eq!(m.aa(), want.aa);
        let opt = m.additional.iter().filter(|r| r.rtype == 41).count();
        prop_assert_eq!(opt, usize::from(payload.is_some()));
        let additional: Vec<Rr> = m
            .additional
            .iter()
            .filter(|r| r.rtype != 41)
            .cloned()
            .collect();
        let required: Vec<&Placed> = want.additional.iter().filter(|p| p.required).collect();
        let needed: Vec<&Placed> = want
            .answer
            .iter()
            .chain(&want.authority)
            .chain(required)
            .collect();
        let room = limit - 12 - qname.len() - 4 - if payload.is_some() { 11 } else { 0 };
        if m.tc() {
            prop_assert!(m.answer.is_empty() && m.authority.is_empty() && additional.is_empty());
            prop_assert!(
                uncompressed(&needed) > room,
                "TC over {transport:?} although {} octets fit in {room}",
                uncompressed(&needed)
            );
            continue;
        }
        // Answer and authority exactly, RRset by RRset.
        let answer: Vec<&Placed> = want.answer.iter().collect();
        let authority: Vec<&Placed> = want.authority.iter().collect();
        // Within an RRset the order is the zone's: compare as sets.
        prop_assert_eq!(
            caseless(rrs(&m.answer)),
            caseless(flat(&answer)),
            "answer over {:?}",
            transport
        );
        prop_assert_eq!(
            caseless(rrs(&m.authority)),
            caseless(flat(&authority)),
            "authority over {:?}",
            transport
        );
        // Owners that are the question's name keep its spelling exactly (0x20).
        for r in &m.answer {
            if r.owner.eq_ignore_ascii_case(qname) {
                prop_assert_eq!(&r.owner, &qname.to_vec());
            }
        }
        // Additional: every required record, optional ones as room allows, nothing else.
        let sent = caseless(rrs(&additional));
        let all: Vec<&Placed> = want.additional.iter().collect();
        let allowed = caseless(flat(&all));
        for r in &sent {
            prop_assert!(allowed.contains(r), "unexpected additional {:?}", r);
        }
        let required: Vec<&Placed> = want.additional.iter().filter(|p| p.required).collect();
        for r in caseless(flat(&required)) {
            prop_assert!(
                sent.contains(&r),
                "required glue missing over {:?}",
                transport
            );
        }
    }
    Ok(())
}

/// Every name worth asking about: each that exists, a child of each (wildcards, NXDOMAIN),
/// names below cuts, and one outside the zone; each spelled with some upper case.
fn questions(model: &Model, salt: u32) -> Vec<Vec<u8>> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    for n in &model.names {
        names.push(n.clone());
        for label in [&b"7"[..], b"zz"] {
            names.extend(child(label, n));
        }
        // A name below a name that does not exist: the closest encloser is two labels up.
        names.extend(child(b"*", n).and_then(|c| child(b"3", &c)));
    }
    names.push(name::parse(b"example.com.", name::ROOT).unwrap());
    names.push(name::parse(b"e164.arpa.", name::ROOT).unwrap());
    names.sort();
    names.dedup();
    names
        .into_iter()
        .enumerate()
        .map(|(i, n)| spelled(&n, salt.rotate_left(u32::try_from(i % 32).unwrap())))
        .collect()
}

const QTYPES: &[u16] = &[
    rtype::NAPTR,
    rtype::TXT,
    rtype::A,
    rtype::AAAA,
    rtype::CNAME,
    rtype::NS,
    rtype::DS,
    rtype::SOA,
    255,
    GENERIC,
    99,
];

/// What the cases came to, for the test's closing line.
static LOADED: AtomicUsize = AtomicUsize::new(0);
static APPLIED: AtomicUsize = AtomicUsize::new(0);
static NOT_APPLIED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
static QUESTIONS: AtomicUsize = AtomicUsize::new(0);

/// Chunk sizes: a third of the zones in chunks of 2 nodes, a third of 5, a third as served.
fn chunk_nodes(salt: u32) -> usize {
    [2, 5, enumd::zone::CHUNK_NODES][salt as usize % 3]
}

/// Asks the zone every question of the model, each type, and compares; with `wire`, each
/// answer is also encoded and decoded for UDP and TCP.
fn check_answers(zone: Zone, model: &Model, salt: u32, wire: bool) -> Result<Zone, TestCaseError> {
    let snapshot = Snapshot {
        zones: vec![Arc::new(zone)],
        ..Snapshot::default()
    };
    for qname in questions(model, salt) {
        for &qtype in QTYPES {
            QUESTIONS.fetch_add(1, Ordering::Relaxed);
            let want = model.answer(&qname, qtype);
            let have = got(&snapshot, &qname, qtype);
            prop_assert_eq!(
                &have,
                &want,
                "{} {}",
                name::to_text(&qname),
                rtype::to_text(qtype)
            );
            if wire {
                check_wire(&snapshot, &qname, qtype, &want)?;
            }
        }
    }
    let Snapshot { mut zones, .. } = snapshot;
    Ok(Arc::into_inner(zones.remove(0)).expect("only this snapshot holds the zone"))
}

fn check_zone(apex: usize, specs: &[Spec]) -> Result<(), TestCaseError> {
    let apex = parse_apex(apex);
    let recs = materialize(specs, &apex);
    let model = Model::new(&recs, &apex);
    let (zone, errors) = build(&recs, &apex, chunk_nodes(specs[0].salt));
    let problems = model.refusal();
    match (problems.is_empty(), zone) {
        (false, zone) => {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            prop_assert!(zone.is_none(), "loaded although {problems:?}");
            for reasons in &problems {
                prop_assert!(
                    errors.iter().any(|e| reasons.iter().any(|r| e.contains(r))),
                    "refused, but not for any of {reasons:?}: {errors:?}"
                );
            }
            // And for nothing the model does not know of.
            for e in &errors {
                prop_assert!(
                    problems.iter().flatten().any(|r| e.contains(r)),
                    "refused for an unexpected reason: {e}"
                );
            }
            Ok(())
        }
        (true, None) => Err(TestCaseError::fail(format!("refused: {errors:?}"))),
        (true, Some(zone)) => {
            LOADED.fetch_add(1, Ordering::Relaxed);
            prop_assert!(errors.is_empty(), "{errors:?}");
            check_answers(zone, &model, specs[0].salt, true).map(drop)
        }
    }
}

/// One change of a case: the records of these specs added (where not already there), and a
/// seed choosing the records removed.
type Step = (Vec<Spec>, u64);

fn change_cases() -> impl Strategy<Value = (usize, Vec<Spec>, Vec<Step>)> {
    (
        0..APEXES.len(),
        prop::collection::vec(spec(), 1..16),
        prop::collection::vec((prop::collection::vec(spec(), 0..6), any::<u64>()), 1..4),
    )
}

/// The records of a model as the zone holds them: each RRset's distinct records, its TTL.
fn records_of(model: &Model) -> Vec<Rec> {
    let mut out = Vec::new();
    for (owner, sets) in &model.sets {
        for (&rtype, set) in sets {
            for rdata in &set.rdatas {
                out.push(Rec {
                    owner: owner.clone(),
                    rtype,
                    ttl: set.ttl,
                    rdata: rdata.clone(),
                });
            }
        }
    }
    out
}

fn change_rr(r: &Rec) -> ChangeRr {
    ChangeRr {
        owner: r.owner.clone(),
        rtype: r.rtype,
        ttl: r.ttl,
        rdata: r.rdata.clone(),
    }
}

/// Loads a zone, then applies each step's change set: wherever the model takes the result,
/// the new version answers every question as the model of the changed records does.
fn check_changes(apex: usize, specs: &[Spec], steps: &[Step]) -> Result<(), TestCaseError> {
    let apex = parse_apex(apex);
    let recs = materialize(specs, &apex);
    let mut model = Model::new(&recs, &apex);
    if !model.refusal().is_empty() {
        return Ok(());
    }
    let salt = specs[0].salt;
    let (zone, errors) = build(&recs, &apex, chunk_nodes(salt));
    let mut zone = zone.ok_or_else(|| TestCaseError::fail(format!("refused: {errors:?}")))?;
    for (serial, (added_specs, seed)) in (2..).zip(steps) {
        let current = records_of(&model);
        let is_soa = |r: &Rec| r.rtype == rtype::SOA && r.owner == apex;
        let mut change = ChangeSet::default();
        let mut kept = Vec::new();
        for (i, r) in current.iter().enumerate() {
            let drop = is_soa(r) || (seed.rotate_left(u32::try_from(i % 64).unwrap()) & 3) == 0;
            if drop {
                change.removed.push(change_rr(r));
            } else {
                kept.push(r.clone());
            }
        }
        let minimum = 60 + u32::try_from(specs.len()).unwrap();
        let soa = Rec {
            owner: apex.clone(),
            rtype: rtype::SOA,
            ttl: 3600,
            rdata: soa_rdata(serial, minimum),
        };
        change.added.push(change_rr(&soa));
        let mut next = kept.clone();
        next.push(soa);
        // An added record joins its RRset with the RRset's TTL: the model keeps the TTL read
        // first, enumd the one added last, and RFC 2181 §5.2 wants one.
        let mut ttls: BTreeMap<(Vec<u8>, u16), u32> = next
            .iter()
            .map(|r| ((r.owner.clone(), r.rtype), r.ttl))
            .collect();
        let mut forms: BTreeSet<(Vec<u8>, u16, Vec<u8>)> = next
            .iter()
            .map(|r| (r.owner.clone(), r.rtype, model_canonical(r.rtype, &r.rdata)))
            .collect();
        for mut r in materialize(added_specs, &apex).into_iter().skip(1) {
            if !forms.insert((r.owner.clone(), r.rtype, model_canonical(r.rtype, &r.rdata))) {
                continue;
            }
            r.ttl = *ttls.entry((r.owner.clone(), r.rtype)).or_insert(r.ttl);
            change.added.push(change_rr(&r));
            next.push(r);
        }
        let next_model = Model::new(&next, &apex);
        if !next_model.refusal().is_empty() {
            // Changes the loader would refuse are the UPDATE path's to refuse; apply checks
            // only some of them. Either way this version stays.
            NOT_APPLIED.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let applied = zone
            .apply(&change)
            .map_err(|e| TestCaseError::fail(format!("not applied: {e}")))?;
        APPLIED.fetch_add(1, Ordering::Relaxed);
        prop_assert_eq!(applied.serial, serial);
        prop_assert_eq!(applied.stats.records, records_of(&next_model).len());
        // The version before takes `&self` and holds no cell: it cannot have changed.
        zone = check_answers(applied, &next_model, salt ^ serial, false)?;
        model = next_model;
    }
    Ok(())
}

#[test]
fn random_changes_apply_as_a_fresh_load_of_the_changed_records_answers() {
    let mut config = config();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES / 2;
    }
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let result = runner.run(&change_cases(), |(apex, specs, steps)| {
        check_changes(apex, &specs, &steps)
    });
    eprintln!(
        "{} cases in {:.1?} (seed {:?}): {} change sets applied and answered as the model of the changed records, {} that the loader would refuse not applied",
        runner.config().cases,
        started.elapsed(),
        runner.config().rng_seed,
        APPLIED.load(Ordering::Relaxed),
        NOT_APPLIED.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn random_zones_load_and_answer_as_the_reference_model_or_are_refused_for_its_reason() {
    let mut runner = TestRunner::new(config());
    let started = std::time::Instant::now();
    let result = runner.run(&zone_specs(), |(apex, specs)| check_zone(apex, &specs));
    eprintln!(
        "{} cases in {:.1?} (seed {:?}): {} zones loaded, {} refused as the model said; {} questions answered as the model did, each over UDP, EDNS and TCP",
        runner.config().cases,
        started.elapsed(),
        runner.config().rng_seed,
        LOADED.load(Ordering::Relaxed),
        REFUSED.load(Ordering::Relaxed),
        QUESTIONS.load(Ordering::Relaxed)
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Presentation form of a whole record, as a zone file line.
fn zone_line(r: &Rec) -> String {
    format!(
        "{} {} {} {}",
        name::to_text(&r.owner),
        r.ttl,
        rtype::to_text(r.rtype),
        enumd::rdata::to_text(r.rtype, &r.rdata)
    )
}

#[test]
fn what_enumd_prints_it_reads_back_the_same() {
    let mut runner = TestRunner::new(config());
    let dir = common::temp_dir("prop-text");
    let path = dir.join("p.zone");
    let result = runner.run(&zone_specs(), |(apex, specs)| {
        let apex = parse_apex(apex);
        let recs = materialize(&specs, &apex);
        let text: String = recs.iter().map(|r| zone_line(r) + "\n").collect();
        std::fs::write(&path, &text).unwrap();
        let mut read = Vec::new();
        let mut errors = Vec::new();
        zonefile::parse_file(
            &path,
            &apex,
            &mut |r| {
                read.push(Rec {
                    owner: r.owner.to_vec(),
                    rtype: r.rtype,
                    ttl: r.ttl,
                    rdata: r.rdata.to_vec(),
                })
            },
            &mut |e| errors.push(e.to_string()),
        );
        prop_assert!(errors.is_empty(), "{errors:?}");
        prop_assert_eq!(read.len(), recs.len());
        for (r, w) in read.iter().zip(&recs) {
            prop_assert_eq!(r, w, "{}", zone_line(w));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

static FILE_DIFFS: AtomicUsize = AtomicUsize::new(0);
static FILES_REFUSED: AtomicUsize = AtomicUsize::new(0);

/// A zone file changed from a loaded version, compared with it by [`diff::from_file`]: the
/// version the difference makes holds, record for record, what a fresh load of the same file
/// holds, and answers as the model of the file's records; a file the load refuses is left to
/// the whole load, which lists its errors.
/// A non-terminal NAPTR from one name of `owners` (or its child `1`) to another (or its child),
/// and whether the serving version and the changed file hold it: 0 both, 1 the version only,
/// 2 the file only.
type RuleSpec = ((usize, bool), (usize, bool), u8);

/// The NAPTR records of `rules` in `mode`s among `modes`, between `owners`.
fn rule_recs(rules: &[RuleSpec], owners: &[Vec<u8>], modes: &[u8]) -> Vec<Rec> {
    let name = |(i, child): (usize, bool)| {
        let owner = &owners[i % owners.len()];
        let mut n = Vec::new();
        // A child is below a cut, or under a wildcard, when its parent is.
        if child && owner.len() < 250 {
            n.extend_from_slice(b"\x011");
        }
        n.extend_from_slice(owner);
        n
    };
    rules
        .iter()
        .enumerate()
        .filter(|(_, r)| modes.contains(&r.2))
        .map(|(k, &(from, to, _))| {
            let mut rdata = vec![0, 10, 0, u8::try_from(100 + k).unwrap(), 0, 0, 0];
            rdata.extend_from_slice(&name(to));
            Rec {
                owner: name(from),
                rtype: rtype::NAPTR,
                ttl: 300,
                rdata,
            }
        })
        .collect()
}

fn check_file_difference(
    apex: usize,
    specs: &[Spec],
    (added_specs, seed): &Step,
    rules: &[RuleSpec],
    path: &Path,
) -> Result<(), TestCaseError> {
    let apex = parse_apex(apex);
    let mut recs = materialize(specs, &apex);
    let added = materialize(added_specs, &apex);
    // Chains of non-terminal rules between the names of both: the file may loop or lengthen
    // one that starts at a name it does not change (by a removed cut, an added rule).
    // Cuts and wildcards first, where chains change without a change of their own names.
    let mut owners: Vec<(bool, Vec<u8>)> = recs
        .iter()
        .chain(&added)
        .map(|r| {
            let plain = r.rtype != rtype::NS && !r.owner.starts_with(b"\x01*");
            (plain, r.owner.clone())
        })
        .collect();
    owners.sort();
    owners.dedup_by(|a, b| a.1 == b.1);
    let owners: Vec<Vec<u8>> = owners.into_iter().map(|(_, n)| n).collect();
    recs.extend(rule_recs(rules, &owners, &[0, 1]));
    let model = Model::new(&recs, &apex);
    if !model.refusal().is_empty() {
        return Ok(());
    }
    let salt = specs[0].salt;
    let (zone, errors) = build(&recs, &apex, chunk_nodes(salt));
    // The model does not follow chains: a zone whose rules loop is refused by the load alone.
    if zone.is_none() && !rules.is_empty() && errors.iter().all(|e| e.contains("[non-terminal")) {
        return Ok(());
    }
    let current = zone.ok_or_else(|| TestCaseError::fail(format!("refused: {errors:?}")))?;
    // The file: the loaded records less some, some with another TTL, some twice, new ones
    // added, the serial raised; in the order loaded, reversed or shuffled.
    let minimum = 60 + u32::try_from(specs.len()).unwrap();
    let mut lines = vec![Rec {
        owner: apex.clone(),
        rtype: rtype::SOA,
        ttl: 3600,
        rdata: soa_rdata(2, minimum),
    }];
    for (i, mut r) in records_of(&model).into_iter().enumerate() {
        if r.rtype == rtype::SOA && r.owner == apex {
            continue;
        }
        match seed.rotate_left(u32::try_from(i % 64).unwrap()) & 7 {
            0 => continue,
            1 => r.ttl += 1,
            2 => lines.push(r.clone()),
            _ => {}
        }
        lines.push(r);
    }
    let gone = rule_recs(rules, &owners, &[1]);
    lines.retain(|r| !gone.contains(r));
    lines.extend(added.into_iter().skip(1));
    lines.extend(rule_recs(rules, &owners, &[2]));
    match seed % 3 {
        0 => {}
        1 => lines.reverse(),
        _ => {
            let mut s = *seed;
            for i in (1..lines.len()).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                lines.swap(i, usize::try_from(s >> 33).unwrap() % (i + 1));
            }
        }
    }
    let text: String = lines.iter().map(|r| zone_line(r) + "\n").collect();
    std::fs::write(path, &text).unwrap();

    let fresh = Zone::load(&apex, path, false, usize::MAX);
    let found = diff::from_file(&current, path, false, usize::MAX)
        .map_err(|f| TestCaseError::fail(format!("compare failed: {:?}", f.problems)))?;
    let sorted = |zone: &Zone| {
        let mut v = zone.records();
        v.sort();
        v
    };
    match (fresh, found) {
        (Ok(fresh), Outcome::Changed(found)) => {
            FILE_DIFFS.fetch_add(1, Ordering::Relaxed);
            prop_assert_eq!(sorted(&found.next), sorted(&fresh));
            prop_assert_eq!(found.next.stats.records, fresh.stats.records);
            prop_assert_eq!(found.next.stats.names, fresh.stats.names);
            prop_assert_eq!(found.next.stats.numbers, fresh.stats.numbers);
            prop_assert_eq!(found.next.serial, 2);
            let applied = current
                .apply(&found.change)
                .map_err(|e| TestCaseError::fail(format!("the change does not apply: {e}")))?;
            prop_assert_eq!(sorted(&applied), sorted(&fresh));
            let file_model = Model::new(&lines, &apex);
            prop_assert!(file_model.refusal().is_empty());
            check_answers(found.next, &file_model, salt ^ 2, false).map(drop)
        }
        (Err(_), Outcome::Whole) => {
            FILES_REFUSED.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        (Ok(_), Outcome::Whole) => Err(TestCaseError::fail(
            "a file that loads was left to a whole load",
        )),
        (Err(f), Outcome::Changed(_)) => Err(TestCaseError::fail(format!(
            "took a difference from a file the load refuses: {:?}",
            f.problems
        ))),
    }
}

#[test]
fn a_changed_file_reloaded_by_difference_holds_what_a_fresh_load_of_it_holds() {
    let mut config = config();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES / 2;
    }
    let mut runner = TestRunner::new(config);
    let dir = common::temp_dir("prop-diff");
    let path = dir.join("d.zone");
    let started = std::time::Instant::now();
    let cases = (
        0..APEXES.len(),
        prop::collection::vec(spec(), 1..16),
        (prop::collection::vec(spec(), 0..6), any::<u64>()),
        prop::collection::vec(
            (
                (0..4usize, any::<bool>()),
                (0..4usize, any::<bool>()),
                0..3u8,
            ),
            0..6,
        ),
    );
    let result = runner.run(&cases, |(apex, specs, step, rules)| {
        check_file_difference(apex, &specs, &step, &rules, &path)
    });
    eprintln!(
        "{} cases in {:.1?} (seed {:?}): {} files reloaded by difference as a fresh load of them, {} refused as a load refuses them",
        runner.config().cases,
        started.elapsed(),
        runner.config().rng_seed,
        FILE_DIFFS.load(Ordering::Relaxed),
        FILES_REFUSED.load(Ordering::Relaxed),
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
