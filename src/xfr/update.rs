//! RFC 2136 UPDATE against one version of a zone: prerequisites (§2.4, §3.2), the update
//! prescan (§3.4.1) and the updates themselves (§2.5, §3.4.2), turned into one [`ChangeSet`]
//! that either applies whole or not at all. Every NAPTR an update adds passes the ENUM
//! validation a zone file's does ([`crate::validate`]); one that does not is REFUSED.
//!
//! Sans-I/O: the zone owner decides who may update and writes the journal; this module only
//! decides what the message means for the zone.

use std::collections::BTreeMap;

use super::message::{CLASS_ANY, CLASS_IN, CLASS_NONE, Message, Rr as WireRr};
use crate::name;
use crate::naptr::RegexCache;
use crate::rdata::{self, rtype};
use crate::validate::{self, Severity};
use crate::zone::Zone;
use crate::zone::change::{ChangeSet, Rr};

/// RFC 2136 §2.2 and RFC 1035 RCODEs an UPDATE answer carries.
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const YXDOMAIN: u8 = 6;
    pub const YXRRSET: u8 = 7;
    pub const NXRRSET: u8 = 8;
    pub const NOTAUTH: u8 = 9;
    pub const NOTZONE: u8 = 10;
}

/// What an UPDATE comes to: its RCODE, the change if it changes anything, and for a refusal
/// the reason (sent as an Extended DNS Error, RFC 8914, and logged).
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub rcode: u8,
    pub change: Option<ChangeSet>,
    pub reason: Option<String>,
}

impl Outcome {
    fn fail(rcode: u8, reason: impl Into<String>) -> Self {
        Self {
            rcode,
            change: None,
            reason: Some(reason.into()),
        }
    }
}

/// One RRset of the working copy: records as served.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Set {
    rtype: u16,
    ttl: u32,
    rdatas: Vec<Vec<u8>>,
}

/// The names an update touches, as they are before it and as it leaves them.
struct Working<'z> {
    zone: &'z Zone,
    before: BTreeMap<Vec<u8>, Vec<Set>>,
    after: BTreeMap<Vec<u8>, Vec<Set>>,
}

impl<'z> Working<'z> {
    fn new(zone: &'z Zone) -> Self {
        Self {
            zone,
            before: BTreeMap::new(),
            after: BTreeMap::new(),
        }
    }

    /// The name's RRsets now, read from the zone the first time.
    fn sets(&mut self, owner: &[u8]) -> &mut Vec<Set> {
        if !self.after.contains_key(owner) {
            let sets: Vec<Set> = self
                .zone
                .served_sets(owner)
                .into_iter()
                .map(|(rtype, ttl, rdatas)| Set { rtype, ttl, rdatas })
                .collect();
            self.before.insert(owner.to_vec(), sets.clone());
            self.after.insert(owner.to_vec(), sets);
        }
        self.after
            .get_mut(owner)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// The difference from the zone as a change set: every record removed and added, an
    /// RRset whose TTL changed removed and added whole.
    fn change(&self) -> ChangeSet {
        let mut change = ChangeSet::default();
        for (owner, after) in &self.after {
            let before = &self.before[owner];
            let rr = |t: u16, ttl: u32, rdata: &[u8]| Rr {
                owner: owner.clone(),
                rtype: t,
                ttl,
                rdata: rdata.to_vec(),
            };
            for b in before {
                let a = after.iter().find(|a| a.rtype == b.rtype);
                for r in &b.rdatas {
                    let kept = a.is_some_and(|a| a.ttl == b.ttl && contains(b.rtype, &a.rdatas, r));
                    if !kept {
                        change.removed.push(rr(b.rtype, b.ttl, r));
                    }
                }
            }
            for a in after {
                let b = before.iter().find(|b| b.rtype == a.rtype);
                for r in &a.rdatas {
                    let kept = b.is_some_and(|b| a.ttl == b.ttl && contains(a.rtype, &b.rdatas, r));
                    if !kept {
                        change.added.push(rr(a.rtype, a.ttl, r));
                    }
                }
            }
        }
        change
    }
}

/// RDATA compared as RFC 2136 §1.1 and RFC 4034 §6.2 do: embedded names without case.
fn same(t: u16, a: &[u8], b: &[u8]) -> bool {
    a == b
        || rdata::canonical(t, a).unwrap_or_else(|| a.to_vec())
            == rdata::canonical(t, b).unwrap_or_else(|| b.to_vec())
}

fn contains(t: u16, rdatas: &[Vec<u8>], r: &[u8]) -> bool {
    rdatas.iter().any(|x| same(t, x, r))
}

/// Meta types and QTYPEs that no update may add (RFC 2136 §3.4.1.2).
fn is_meta(t: u16) -> bool {
    matches!(t, 0 | rtype::OPT | 128..=255)
}

/// RFC 1982 §3.2: `a` is greater than `b`.
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

/// The chains of the non-terminal NAPTRs of `next` (the version an update makes), followed as
/// a client would (RFC 6116 §5.2): a loop or a chain too long refuses the update, as it
/// refuses a zone file at load (warnings too in `strict` zones). Every chain, not only those
/// the update adds: a removed delegation can uncover a loop, an added rule lengthen a chain
/// that starts elsewhere. Why, if so; the cost is that of the zone's few non-terminal rules.
pub fn refused_chain(next: &Zone, strict: bool) -> Option<String> {
    let naptrs = |owner: &[u8]| crate::lookup::naptrs_at(next, owner);
    next.rules.iter().find_map(|rule| {
        validate::check_chain(&rule.owner, &rule.target, &naptrs)
            .filter(|f| f.severity == Severity::Error || strict)
            .map(|f| {
                format!(
                    "{} NAPTR {}: {f}",
                    name::to_text(&rule.owner),
                    rdata::to_text(rtype::NAPTR, &rule.rdata)
                )
            })
    })
}

/// Processes an UPDATE whose zone section names `zone` (checked by the caller, with who may
/// send it). `strict` makes ENUM validation warnings refuse the update too.
pub fn process(
    zone: &Zone,
    msg: &Message,
    strict: bool,
    max_records: usize,
    cache: &mut RegexCache,
) -> Outcome {
    let apex = &zone.apex;
    let lower = |r: &WireRr| name::to_lowercase(&r.owner);

    // §3.2: prerequisites, against the zone as it is.
    let mut work = Working::new(zone);
    let mut required: BTreeMap<(Vec<u8>, u16), Vec<Vec<u8>>> = BTreeMap::new();
    for p in &msg.answer {
        let owner = lower(p);
        if p.ttl != 0 {
            return Outcome::fail(
                rcode::FORMERR,
                "a prerequisite has a TTL other than 0 (RFC 2136 §3.2.1)",
            );
        }
        if !name::is_at_or_below(&owner, apex) {
            return Outcome::fail(
                rcode::NOTZONE,
                format!("prerequisite {} is outside the zone", name::to_text(&owner)),
            );
        }
        let text = name::to_text(&owner);
        match p.class {
            CLASS_ANY | CLASS_NONE if !p.rdata.is_empty() => {
                return Outcome::fail(
                    rcode::FORMERR,
                    "a prerequisite of class ANY or NONE has RDATA (RFC 2136 §3.2.1)",
                );
            }
            CLASS_ANY => {
                let sets = work.sets(&owner);
                if p.rtype == rtype::ANY {
                    if sets.is_empty() {
                        return Outcome::fail(
                            rcode::NXDOMAIN,
                            format!("prerequisite: {text} is not in use"),
                        );
                    }
                } else if !sets.iter().any(|s| s.rtype == p.rtype) {
                    return Outcome::fail(
                        rcode::NXRRSET,
                        format!(
                            "prerequisite: {text} has no {} RRset",
                            rtype::to_text(p.rtype)
                        ),
                    );
                }
            }
            CLASS_NONE => {
                let sets = work.sets(&owner);
                if p.rtype == rtype::ANY {
                    if !sets.is_empty() {
                        return Outcome::fail(
                            rcode::YXDOMAIN,
                            format!("prerequisite: {text} is in use"),
                        );
                    }
                } else if sets.iter().any(|s| s.rtype == p.rtype) {
                    return Outcome::fail(
                        rcode::YXRRSET,
                        format!(
                            "prerequisite: {text} has a {} RRset",
                            rtype::to_text(p.rtype)
                        ),
                    );
                }
            }
            CLASS_IN => {
                if is_meta(p.rtype) {
                    return Outcome::fail(
                        rcode::FORMERR,
                        "a value-dependent prerequisite of a meta type (RFC 2136 §3.2.1)",
                    );
                }
                let set = required.entry((owner, p.rtype)).or_default();
                if !contains(p.rtype, set, &p.rdata) {
                    set.push(p.rdata.clone());
                }
            }
            _ => {
                return Outcome::fail(
                    rcode::FORMERR,
                    "a prerequisite of another class (RFC 2136 §3.2.1)",
                );
            }
        }
    }
    // §3.2.3: each RRset given must equal the zone's, RDATA for RDATA.
    for ((owner, t), wanted) in &required {
        let sets = work.sets(owner);
        let matches = sets.iter().find(|s| s.rtype == *t).is_some_and(|s| {
            s.rdatas.len() == wanted.len() && wanted.iter().all(|w| contains(*t, &s.rdatas, w))
        });
        if !matches {
            return Outcome::fail(
                rcode::NXRRSET,
                format!(
                    "prerequisite: the {} RRset of {} differs",
                    rtype::to_text(*t),
                    name::to_text(owner)
                ),
            );
        }
    }

    // §3.4.1: prescan, before anything changes.
    for u in &msg.authority {
        let owner = lower(u);
        if !name::is_at_or_below(&owner, apex) {
            return Outcome::fail(
                rcode::NOTZONE,
                format!("update {} is outside the zone", name::to_text(&owner)),
            );
        }
        let fine = match u.class {
            CLASS_IN => !is_meta(u.rtype),
            CLASS_ANY => {
                u.ttl == 0 && u.rdata.is_empty() && (u.rtype == rtype::ANY || !is_meta(u.rtype))
            }
            CLASS_NONE => u.ttl == 0 && !is_meta(u.rtype),
            _ => false,
        };
        if !fine {
            return Outcome::fail(
                rcode::FORMERR,
                format!(
                    "update of {} {} class {} TTL {} is malformed (RFC 2136 §3.4.1.2)",
                    name::to_text(&owner),
                    rtype::to_text(u.rtype),
                    u.class,
                    u.ttl
                ),
            );
        }
    }

    // §3.4.2: the updates, in order, each on the result of the ones before.
    let mut soa_set = false;
    let mut added_naptr: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for u in &msg.authority {
        let owner = lower(u);
        let at_apex = owner == *apex;
        let t = u.rtype;
        match u.class {
            CLASS_IN => {
                if t == rtype::SOA {
                    if !at_apex {
                        continue;
                    }
                    let sets = work.sets(&owner);
                    let Some(old) = sets.iter_mut().find(|s| s.rtype == rtype::SOA) else {
                        continue;
                    };
                    if soa_serial(&u.rdata).is_some_and(|new| {
                        old.rdatas
                            .first()
                            .and_then(|o| soa_serial(o))
                            .is_some_and(|cur| serial_gt(new, cur))
                    }) {
                        old.rdatas = vec![u.rdata.clone()];
                        old.ttl = u.ttl;
                        soa_set = true;
                    }
                    continue;
                }
                let sets = work.sets(&owner);
                let has_cname = sets.iter().any(|s| s.rtype == rtype::CNAME);
                // enumd serves no DNSSEC yet and its loader takes nothing beside a CNAME, so
                // no type is excepted from the conflict rule (RFC 4035 §2.5 would).
                let has_other = sets.iter().any(|s| s.rtype != rtype::CNAME);
                if (t == rtype::CNAME && has_other) || (t != rtype::CNAME && has_cname) {
                    continue; // RFC 2136 §3.4.2.2: a CNAME conflict is ignored
                }
                if t == rtype::CNAME && at_apex {
                    continue;
                }
                match sets.iter_mut().find(|s| s.rtype == t) {
                    Some(set) if t == rtype::CNAME => {
                        set.rdatas = vec![u.rdata.clone()];
                        set.ttl = u.ttl;
                    }
                    Some(set) => {
                        // A duplicate replaces the zone's record; the RRset takes the new TTL.
                        set.rdatas.retain(|r| !same(t, r, &u.rdata));
                        set.rdatas.push(u.rdata.clone());
                        set.ttl = u.ttl;
                    }
                    None => {
                        let at = sets.partition_point(|s| s.rtype < t);
                        sets.insert(
                            at,
                            Set {
                                rtype: t,
                                ttl: u.ttl,
                                rdatas: vec![u.rdata.clone()],
                            },
                        );
                    }
                }
                if t == rtype::NAPTR {
                    added_naptr.push((owner, u.rdata.clone()));
                }
            }
            CLASS_ANY => {
                let sets = work.sets(&owner);
                if t == rtype::ANY {
                    sets.retain(|s| at_apex && (s.rtype == rtype::SOA || s.rtype == rtype::NS));
                } else if !(at_apex && (t == rtype::SOA || t == rtype::NS)) {
                    sets.retain(|s| s.rtype != t);
                }
            }
            _ => {
                // CLASS_NONE: one record.
                if t == rtype::SOA {
                    continue;
                }
                let sets = work.sets(&owner);
                if let Some(set) = sets.iter_mut().find(|s| s.rtype == t) {
                    let last_ns = at_apex && t == rtype::NS && set.rdatas.len() == 1;
                    if !last_ns {
                        set.rdatas.retain(|r| !same(t, r, &u.rdata));
                    }
                }
                sets.retain(|s| !s.rdatas.is_empty());
            }
        }
    }

    // ENUM validation of what this update adds, as at load.
    for (owner, rdata) in &added_naptr {
        let still_there = work
            .after
            .get(owner)
            .and_then(|s| s.iter().find(|s| s.rtype == rtype::NAPTR))
            .is_some_and(|s| contains(rtype::NAPTR, &s.rdatas, rdata));
        if !still_there {
            continue;
        }
        for f in validate::check_naptr(owner, rdata, cache) {
            if f.severity == Severity::Error || strict {
                let strictly = if f.severity == Severity::Warning {
                    "strict: "
                } else {
                    ""
                };
                return Outcome::fail(
                    rcode::REFUSED,
                    format!(
                        "{strictly}{} NAPTR {}: {f}",
                        name::to_text(owner),
                        rdata::to_text(rtype::NAPTR, rdata)
                    ),
                );
            }
        }
    }
    let naptr_owners: std::collections::BTreeSet<&Vec<u8>> =
        added_naptr.iter().map(|(o, _)| o).collect();
    for owner in naptr_owners {
        let Some(set) = work
            .after
            .get(owner)
            .and_then(|s| s.iter().find(|s| s.rtype == rtype::NAPTR))
        else {
            continue;
        };
        let rdatas: Vec<&[u8]> = set.rdatas.iter().map(Vec::as_slice).collect();
        for (i, f) in validate::check_naptr_rrset(&rdatas) {
            if f.severity == Severity::Error || strict {
                return Outcome::fail(
                    rcode::REFUSED,
                    format!(
                        "{} NAPTR {}: {f}",
                        name::to_text(owner),
                        rdata::to_text(rtype::NAPTR, rdatas[i])
                    ),
                );
            }
        }
    }

    // What the loader refuses, an update may not make: the zone must load again from the file
    // enumd writes (an RRset larger than any message; more records than max_records).
    for (owner, sets) in &work.after {
        for set in sets {
            let least: usize = crate::zone::HEADER_AND_QUESTION_MIN
                + owner.len()
                + set
                    .rdatas
                    .iter()
                    .map(|r| 12 + crate::zone::rdata_wire_min(set.rtype, r.len()))
                    .sum::<usize>();
            if least > 65_535 {
                return Outcome::fail(
                    rcode::REFUSED,
                    format!(
                        "the {} RRset of {} would need {least} octets in a response: more than a DNS message holds (RFC 1035 §4.2.2)",
                        rtype::to_text(set.rtype),
                        name::to_text(owner)
                    ),
                );
            }
        }
    }
    let mut change = work.change();
    let records = (zone.stats.records + change.added.len()).saturating_sub(change.removed.len());
    if records > max_records {
        return Outcome::fail(
            rcode::REFUSED,
            format!(
                "the zone would hold {records} records, more than its max_records {max_records}"
            ),
        );
    }
    if change.removed.is_empty() && change.added.is_empty() {
        return Outcome {
            rcode: rcode::NOERROR,
            change: None,
            reason: None,
        };
    }
    if !soa_set {
        // RFC 2136 §3.6: the serial rises with every change; RFC 1982 arithmetic.
        let soa = zone
            .served_sets(apex)
            .into_iter()
            .find(|s| s.0 == rtype::SOA);
        let Some((_, ttl, rdatas)) = soa else {
            return Outcome::fail(rcode::SERVFAIL, "the zone has no SOA");
        };
        let old = rdatas.into_iter().next().unwrap_or_default();
        let mut new = old.clone();
        let at = new.len().saturating_sub(20);
        if let Some(serial) = soa_serial(&old) {
            new[at..at + 4].copy_from_slice(&serial.wrapping_add(1).to_be_bytes());
        }
        change.removed.push(Rr {
            owner: apex.clone(),
            rtype: rtype::SOA,
            ttl,
            rdata: old,
        });
        change.added.push(Rr {
            owner: apex.clone(),
            rtype: rtype::SOA,
            ttl,
            rdata: new,
        });
    }
    Outcome {
        rcode: rcode::NOERROR,
        change: Some(change),
        reason: None,
    }
}

/// The serial of SOA RDATA.
pub fn soa_serial(rdata: &[u8]) -> Option<u32> {
    let at = rdata.len().checked_sub(20)?;
    Some(u32::from_be_bytes(rdata[at..at + 4].try_into().ok()?))
}
