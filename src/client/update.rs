//! UPDATE messages (RFC 2136) for `enumd provision`: a batch of changes, each guarded by a
//! prerequisite on the NAPTR RRset it was computed from, so that a change made by someone
//! else since the zone was read makes the server refuse the batch instead of it being
//! overwritten. Owner names are compressed (RFC 1035 §4.1.4) so that a few hundred changes fit
//! well inside a TCP message.

use std::collections::HashMap;

use crate::client::plan::Change;
use crate::rdata::rtype;
use crate::xfr::message::{CLASS_IN, CLASS_NONE};

/// The most octets a batch may take before its TSIG: room for the TSIG record (about 100
/// octets) inside the 65,535 a TCP message can hold.
pub const MAX_MESSAGE: usize = 60_000;

/// The most octets an UPDATE may take before its TSIG: 65,535 less room for the TSIG record
/// (its name, a MAC of up to 64 octets and the fixed fields).
pub const MAX_WIRE: usize = 65_535 - 512;

/// The octets `change` adds to a message at most: its owner written out for every record (a
/// name past the first 16 KiB of a message cannot be pointed to; its labels then end in a
/// pointer to the apex, which is never longer than the full owner).
pub fn size_of(change: &Change) -> usize {
    let rrs = change.before.len().max(1) + change.remove.len() + change.add.len();
    let rdata: usize = change.before.iter().map(|(_, r)| r.len()).sum::<usize>()
        + change.remove.iter().map(Vec::len).sum::<usize>()
        + change.add.iter().map(|(_, r)| r.len()).sum::<usize>();
    rrs * (change.owner.len() + 10) + rdata
}

/// An UPDATE for `apex` (lower-cased wire form) carrying `changes`: for each name, the
/// prerequisite "NAPTR RRset exists with exactly these records" (value-dependent, RFC 2136
/// §2.4.2) or "no NAPTR RRset" (§2.4.3) when none was read; then its deletions of single
/// records (class NONE, §2.5.4) and its additions.
pub fn message(id: u16, apex: &[u8], changes: &[&Change]) -> Vec<u8> {
    let prerequisites: usize = changes.iter().map(|c| c.before.len().max(1)).sum();
    let updates: usize = changes.iter().map(|c| c.size()).sum();
    let mut m = Vec::with_capacity(changes.iter().map(|c| size_of(c)).sum::<usize>() + 64);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&(5u16 << 11).to_be_bytes()); // opcode UPDATE
    m.extend_from_slice(&1u16.to_be_bytes());
    for n in [prerequisites, updates, 0] {
        m.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
    }
    m.extend_from_slice(apex);
    m.extend_from_slice(&rtype::SOA.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    let mut names = Names::new(apex);
    for c in changes {
        if c.before.is_empty() {
            names.write(&mut m, &c.owner);
            record(&mut m, CLASS_NONE, 0, &[]);
        }
        for (_, r) in &c.before {
            names.write(&mut m, &c.owner);
            record(&mut m, CLASS_IN, 0, r);
        }
    }
    for c in changes {
        for r in &c.remove {
            names.write(&mut m, &c.owner);
            record(&mut m, CLASS_NONE, 0, r);
        }
        for (ttl, r) in &c.add {
            names.write(&mut m, &c.owner);
            record(&mut m, CLASS_IN, *ttl, r);
        }
    }
    m
}

/// Type NAPTR, the class, TTL and RDATA of a record whose owner is written.
fn record(m: &mut Vec<u8>, class: u16, ttl: u32, rdata: &[u8]) {
    m.extend_from_slice(&rtype::NAPTR.to_be_bytes());
    m.extend_from_slice(&class.to_be_bytes());
    m.extend_from_slice(&ttl.to_be_bytes());
    m.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
    m.extend_from_slice(rdata);
}

/// Owner names as pointers: to where the same name was first written (the prerequisite
/// section's copy serves the update section too), or its labels above the apex and a pointer
/// to the apex in the zone section (offset 12).
struct Names<'a> {
    apex: &'a [u8],
    written: HashMap<&'a [u8], u16>,
}

impl<'a> Names<'a> {
    fn new(apex: &'a [u8]) -> Self {
        Self {
            apex,
            written: HashMap::new(),
        }
    }

    fn write(&mut self, m: &mut Vec<u8>, owner: &'a [u8]) {
        if let Some(at) = self.written.get(owner) {
            m.extend_from_slice(&(0xc000 | at).to_be_bytes());
            return;
        }
        let at = m.len();
        match owner.strip_suffix(self.apex) {
            Some(labels) if !labels.is_empty() => {
                m.extend_from_slice(labels);
                m.extend_from_slice(&[0xc0, 12]);
            }
            _ => m.extend_from_slice(owner),
        }
        // A pointer holds 14 bits of offset.
        if let Ok(at) = u16::try_from(at)
            && at < 0x4000
        {
            self.written.insert(owner, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name;
    use crate::xfr::message::Message;

    #[test]
    fn an_update_decodes_to_its_prerequisites_and_changes() {
        let apex = name::parse(b"3.4.e164.arpa.", name::ROOT).unwrap();
        let owner = name::parse(b"2.1.3.4.e164.arpa.", name::ROOT).unwrap();
        let fresh = name::parse(b"3.1.3.4.e164.arpa.", name::ROOT).unwrap();
        let old = b"\x00\x01\x00\x01\x01u\x07E2U+sip\x0c!^.*$!sip:a!\x00".to_vec();
        let new = b"\x00\x01\x00\x01\x01u\x07E2U+sip\x0c!^.*$!sip:b!\x00".to_vec();
        let changes = [
            Change {
                owner: owner.clone(),
                number: "+4312".into(),
                line: 2,
                before: vec![(60, old.clone())],
                remove: vec![old.clone()],
                add: vec![(300, new.clone())],
            },
            Change {
                owner: fresh.clone(),
                number: "+4313".into(),
                line: 3,
                before: vec![],
                remove: vec![],
                add: vec![(300, new.clone())],
            },
        ];
        let refs: Vec<&Change> = changes.iter().collect();
        let m = message(7, &apex, &refs);
        assert!(m.len() <= refs.iter().map(|c| size_of(c)).sum::<usize>() + 64);
        let d = Message::parse(&m).unwrap();
        assert_eq!(d.opcode(), 5);
        assert_eq!(d.question[0].0, apex);
        let pre: Vec<_> = d
            .answer
            .iter()
            .map(|r| (r.owner.clone(), r.class, r.ttl, r.rdata.clone()))
            .collect();
        assert_eq!(
            pre,
            [
                (owner.clone(), CLASS_IN, 0, old.clone()),
                (fresh.clone(), CLASS_NONE, 0, vec![])
            ]
        );
        let upd: Vec<_> = d
            .authority
            .iter()
            .map(|r| (r.owner.clone(), r.class, r.ttl, r.rdata.clone()))
            .collect();
        assert_eq!(
            upd,
            [
                (owner.clone(), CLASS_NONE, 0, old),
                (owner, CLASS_IN, 300, new.clone()),
                (fresh, CLASS_IN, 300, new)
            ]
        );
    }

    #[test]
    fn size_of_bounds_a_message_past_the_reach_of_pointers() {
        // 121 numbers, each replacing 3 records by 1: the message runs past the 16 KiB that
        // pointers reach, where owners are written out again. size_of must still bound it.
        let apex = name::parse(b"3.4.e164.arpa.", name::ROOT).unwrap();
        let rdata = |k: usize, n: usize| {
            let regexp = format!("!^.*$!sip:+43197933{n:04}-{k}@pbx.example.at!");
            let mut r = b"\x00\x0a\x00\x64\x01u\x07E2U+sip".to_vec();
            r.push(u8::try_from(regexp.len()).unwrap());
            r.extend_from_slice(regexp.as_bytes());
            r.push(0);
            r
        };
        let changes: Vec<Change> = (0..121)
            .map(|n| {
                let before: Vec<(u32, Vec<u8>)> = (0..3).map(|k| (600, rdata(k, n))).collect();
                Change {
                    owner: {
                        let digits: String = format!("{n:04}").chars().rev().collect();
                        let labels: Vec<String> = digits.chars().map(String::from).collect();
                        let text = format!("{}.3.3.9.7.9.1.3.4.e164.arpa.", labels.join("."));
                        name::parse(text.as_bytes(), name::ROOT).unwrap()
                    },
                    number: format!("+43197933{n:04}"),
                    line: 2,
                    remove: before.iter().map(|(_, r)| r.clone()).collect(),
                    before,
                    add: vec![(600, rdata(9, n))],
                }
            })
            .collect();
        let refs: Vec<&Change> = changes.iter().collect();
        let m = message(7, &apex, &refs);
        let bound: usize = refs.iter().map(|c| size_of(c)).sum::<usize>() + 12 + apex.len() + 4;
        assert!(m.len() > 0x4000, "the case is past the pointers' reach");
        assert!(m.len() <= bound, "{} octets, bound {bound}", m.len());
        let d = Message::parse(&m).unwrap();
        assert_eq!(d.answer.len(), 121 * 3);
        assert_eq!(d.authority.len(), 121 * 4);
        assert!(d.authority.iter().all(|r| r.owner.ends_with(&apex)));
    }
}
