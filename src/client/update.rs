//! UPDATE messages (RFC 2136) for `enumd provision`: a batch of changes, each guarded by a
//! prerequisite on the NAPTR RRset it was computed from, so that a change made by someone
//! else since the zone was read makes the server refuse the batch instead of it being
//! overwritten. Owner names are compressed (RFC 1035 §4.1.4) so that a few hundred changes fit
//! well inside a TCP message.

use crate::client::plan::Change;
use crate::rdata::rtype;
use crate::xfr::message::{CLASS_IN, CLASS_NONE};

/// The most octets a batch may take before its TSIG: room for the TSIG record (about 100
/// octets) inside the 65,535 a TCP message can hold.
pub const MAX_MESSAGE: usize = 60_000;

/// The octets `change` adds to a message at most (names written in full once).
pub fn size_of(change: &Change) -> usize {
    let rrs = change.before.len().max(1) + change.remove.len() + change.add.len();
    let rdata: usize = change.before.iter().map(|(_, r)| r.len()).sum::<usize>()
        + change.remove.iter().map(Vec::len).sum::<usize>()
        + change.add.iter().map(|(_, r)| r.len()).sum::<usize>();
    change.owner.len() + rrs * (2 + 10) + rdata
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

/// Owner names as pointers: to where the same name was written before, or its labels above
/// the apex and a pointer to the apex in the zone section (offset 12).
struct Names<'a> {
    apex: &'a [u8],
    last: Option<(&'a [u8], usize)>,
}

impl<'a> Names<'a> {
    fn new(apex: &'a [u8]) -> Self {
        Self { apex, last: None }
    }

    fn write(&mut self, m: &mut Vec<u8>, owner: &'a [u8]) {
        if let Some((name, at)) = self.last
            && name == owner
        {
            m.extend_from_slice(&(0xc000 | u16::try_from(at).unwrap_or(0)).to_be_bytes());
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
        self.last = (at < 0x3fff).then_some((owner, at));
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
}
