//! Catalog zones (RFC 9432): a zone that lists the other zones a server serves, so that
//! secondaries which consume it (BIND's `catalog-zones`, Knot's `catalog-role: interpret`)
//! pick up a new ENUM zone without a change to their configuration. enumd builds it from its
//! configuration at start: version 2, one PTR per member zone under `zones`, each under a
//! label that stays the same for the same zone (a hash of its name), so that a restart with
//! the same zones changes nothing but the serial.

use std::path::Path;

use crate::name;
use crate::rdata::rtype;
use crate::record::{Pos, Record};
use crate::zone::{LoadFailure, Zone, ZoneBuilder};

/// The TTL of every record: RFC 9432 §3 says it has no meaning; 0, as its examples have.
const TTL: u32 = 0;

/// The catalog zone `apex` (wire form) listing `members` (apexes in wire form), at `serial`.
pub fn build(apex: &[u8], members: &[Vec<u8>], serial: u32) -> Result<Zone, LoadFailure> {
    let invalid = name::parse(b"invalid.", name::ROOT).unwrap_or_default();
    let child = |labels: &[&[u8]]| {
        let mut n = Vec::new();
        for l in labels {
            n.push(u8::try_from(l.len()).unwrap_or(0));
            n.extend_from_slice(l);
        }
        n.extend_from_slice(apex);
        n
    };
    let mut soa = invalid.clone();
    soa.extend_from_slice(&invalid);
    // Refresh, retry and expire as BIND writes for its catalogs; a negative TTL of 0.
    for v in [serial, 3600, 600, 2_147_483_646, 0] {
        soa.extend_from_slice(&v.to_be_bytes());
    }
    let mut records: Vec<(Vec<u8>, u16, Vec<u8>)> = vec![
        (apex.to_vec(), rtype::SOA, soa),
        (apex.to_vec(), rtype::NS, invalid),
        (child(&[b"version"]), rtype::TXT, b"\x012".to_vec()),
    ];
    for m in members {
        let id = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(&name::to_lowercase(m))
        );
        records.push((child(&[id.as_bytes(), b"zones"]), rtype::PTR, m.clone()));
    }
    let origin = Pos {
        file: Path::new("catalog").into(),
        line: 0,
    };
    let mut builder = ZoneBuilder::new(apex, false);
    for (i, (owner, t, rdata)) in records.iter().enumerate() {
        builder.add(&Record {
            owner,
            ttl: TTL,
            rtype: *t,
            rdata,
            pos: &Pos {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                ..origin.clone()
            },
        });
    }
    builder.finish_received(&origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        name::parse(text.as_bytes(), name::ROOT).unwrap()
    }

    #[test]
    fn lists_each_member_once_under_a_label_of_its_own_that_a_rebuild_keeps() {
        let members = [wire("e164.arpa."), wire("E164enum.net.")];
        let a = build(&wire("catalog.invalid."), &members, 7).unwrap();
        let b = build(&wire("catalog.invalid."), &members[..1], 8).unwrap();
        let ptrs = |z: &Zone| {
            let mut v = Vec::new();
            z.for_each_record(|owner, t, _, rdata| {
                if t == rtype::PTR {
                    v.push((name::to_text(owner), name::to_text(rdata)));
                }
            });
            v.sort();
            v
        };
        let (pa, pb) = (ptrs(&a), ptrs(&b));
        assert_eq!(pa.len(), 2);
        assert!(pa.iter().any(|(_, m)| m == "E164enum.net."));
        assert!(
            pa.iter()
                .all(|(o, _)| o.ends_with(".zones.catalog.invalid."))
        );
        // The same zone, the same label, whatever else is listed (RFC 9432 §4.1).
        assert!(pa.contains(&pb[0]));
        assert_eq!((a.serial, b.serial), (7, 8));
    }
}
