//! Micro-benchmarks without sockets: `wire::respond` per kind of query and with DNS Cookies
//! off and on, the zone loader, and `Zone::apply` of a one-number change.
//! `cargo bench --bench micro`. The side-by-side server benchmark is `benches/side_by_side.sh`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use enumd::cookie::Cookies;
use enumd::lookup::Snapshot;
use enumd::wire::{self, Policy, Transport};
use enumd::zone::Zone;
use enumd::zone::change::{ChangeSet, Rr};

const NUMBERS: usize = 100_000;

/// A zone shaped like the reference benchmark data (`../shared/bench/gen_enum_zone.py`):
/// numbers with a number-specific NAPTR (every 4th with a portability one too), PBX pilot
/// wildcards and Tier-3 delegations. Deterministic.
fn zone_text() -> (String, Vec<String>) {
    let mut seed: u64 = 20240101;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let rev = |digits: &str| -> String {
        let mut s: String = digits.chars().rev().flat_map(|c| [c, '.']).collect();
        s.push_str("e164.arpa.");
        s
    };
    let mut z = String::from(
        "$ORIGIN 4.4.e164.arpa.\n$TTL 3600\n@ SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300\n\
         @ NS ns1.example.net.\n@ NS ns2.example.net.\n",
    );
    for k in 0..NUMBERS / 10_000 {
        let d = format!("44{:06}", 900_000 + k);
        z.push_str(&format!(
            "{} NS ns1.tier3-{k}.example.org.\n{} NS ns2.tier3-{k}.example.org.\n",
            rev(&d),
            rev(&d)
        ));
    }
    for k in 0..NUMBERS / 1000 {
        let d = format!("44{:06}", 800_000 + k);
        z.push_str(&format!(
            "*.{} NAPTR 10 10 \"u\" \"E2U+sip\" \"!^\\\\+{d}(.*)$!sip:\\\\1@pbx-{k}.example.com!\" .\n",
            rev(&d)
        ));
    }
    let mut numbers = Vec::with_capacity(NUMBERS);
    for i in 0..NUMBERS {
        let d = format!("44{:010}", next() % 7_000_000_000);
        let o = rev(&d);
        z.push_str(&format!(
            "{o} NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+{d}@sip.example.net!\" .\n"
        ));
        if i % 4 == 3 {
            z.push_str(&format!(
                "{o} NAPTR 20 100 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:+{d};npdi;rn=+44{:04};enumdi!\" .\n",
                next() % 10_000
            ));
        }
        numbers.push(o);
    }
    (z, numbers)
}

fn write_zone(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("enumd-micro-{}.zone", std::process::id()));
    std::fs::write(&path, text).expect("write zone");
    path
}

/// A query in wire form: ID 1, RD clear, EDNS with a 1232-byte payload.
fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    for label in name.trim_end_matches('.').split('.') {
        q.push(u8::try_from(label.len()).unwrap());
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

fn benches(c: &mut Criterion) {
    let (text, numbers) = zone_text();
    let path = write_zone(&text);
    let apex = enumd::name::parse(b"4.4.e164.arpa.", enumd::name::ROOT).unwrap();

    let mut load = c.benchmark_group("load");
    load.sample_size(10);
    load.throughput(Throughput::Elements(NUMBERS as u64));
    load.bench_function("zone_100k_numbers", |b| {
        b.iter(|| Zone::load(black_box(&apex), &path, false, usize::MAX).expect("zone loads"))
    });
    load.finish();

    let zone = Zone::load(&apex, &path, false, usize::MAX).expect("zone loads");
    let _ = std::fs::remove_file(&path);

    // One number's NAPTR replaced and the serial raised: what a porting event costs.
    let mut apply = c.benchmark_group("apply");
    let changes: Vec<ChangeSet> = numbers
        .iter()
        .step_by(997)
        .map(|n| one_number_change(&zone, &apex, n))
        .collect();
    let mut i = 0;
    apply.bench_function("one_number_replaced", |b| {
        b.iter(|| {
            i = (i + 1) % changes.len();
            zone.apply(black_box(&changes[i])).expect("applies")
        })
    });
    apply.finish();

    let snapshot = Snapshot {
        zones: vec![Arc::new(zone)],
        ..Snapshot::default()
    };
    let policy = Policy::plain(1232);
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "hit",
            numbers.iter().step_by(97).map(|n| query(n, 35)).collect(),
        ),
        (
            "wildcard",
            (0..100)
                .map(|k| query(&format!("5.5.{}", &numbers_pilot(k)), 35))
                .collect(),
        ),
        (
            "nxdomain",
            (0..100)
                .map(|k| query(&format!("{}.1.2.3.4.5.6.7.8.9.4.4.e164.arpa.", k % 10), 35))
                .collect(),
        ),
        (
            "referral",
            (0..10)
                .map(|k| query(&format!("1.2.{}", tier3(k)), 35))
                .collect(),
        ),
        (
            "nodata",
            numbers.iter().step_by(101).map(|n| query(n, 1)).collect(),
        ),
    ];
    let mut group = c.benchmark_group("respond");
    group.throughput(Throughput::Elements(1));
    for (kind, queries) in &cases {
        bench_respond(&mut group, kind, &snapshot, queries, &policy);
    }
    group.finish();

    // DNS Cookies: number hits with no COOKIE option, a client cookie alone, and a client
    // cookie with a valid server cookie, each answered with cookies off and on.
    let cookies = Arc::new(Cookies::configured(&[[0x5a; 16]]).expect("a secret"));
    let client = std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let client_cookie = [1, 2, 3, 4, 5, 6, 7, 8];
    let full = cookies
        .answer(
            &client_cookie,
            client,
            u32::try_from(now & 0xffff_ffff).unwrap(),
        )
        .0;
    let hits: Vec<&String> = numbers.iter().step_by(97).collect();
    let with_cookie = |cookie: &[u8]| -> Vec<Vec<u8>> {
        hits.iter()
            .map(|n| {
                let mut q = query(n, 35);
                let len = q.len();
                // The OPT's RDLENGTH, then the COOKIE option.
                let rdlen = u16::try_from(4 + cookie.len()).unwrap();
                q[len - 2..].copy_from_slice(&rdlen.to_be_bytes());
                q.extend_from_slice(&[0, 10, 0, u8::try_from(cookie.len()).unwrap()]);
                q.extend_from_slice(cookie);
                q
            })
            .collect()
    };
    let kinds = [
        (
            "none",
            hits.iter().map(|n| query(n, 35)).collect::<Vec<_>>(),
        ),
        ("client", with_cookie(&client_cookie)),
        ("server", with_cookie(&full)),
    ];
    let off = Policy::plain(1232);
    let on = Policy {
        cookies: Some(cookies),
        ..Policy::plain(1232)
    };
    let mut group = c.benchmark_group("cookies");
    group.throughput(Throughput::Elements(1));
    for (kind, queries) in &kinds {
        for (setting, policy) in [("off", &off), ("on", &on)] {
            bench_respond(
                &mut group,
                &format!("{kind}/{setting}"),
                &snapshot,
                queries,
                policy,
            );
        }
    }
    group.finish();
}

/// `wire::respond` over `queries` in turn, from 127.0.0.1 over UDP.
fn bench_respond(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    snapshot: &Snapshot,
    queries: &[Vec<u8>],
    policy: &Policy,
) {
    let mut out = Vec::with_capacity(4096);
    let mut i = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            wire::respond(
                snapshot,
                black_box(&queries[i]),
                Transport::Udp,
                std::net::Ipv4Addr::LOCALHOST.into(),
                policy,
                &mut out,
            )
        })
    });
}

/// Replaces the first NAPTR of number `owner` (its preference raised) and the SOA serial.
fn one_number_change(zone: &Zone, apex: &[u8], owner: &str) -> ChangeSet {
    let owner = enumd::name::parse(owner.as_bytes(), enumd::name::ROOT).unwrap();
    let rr = |owner: &[u8], rtype: u16, rdata: Vec<u8>| Rr {
        owner: owner.to_vec(),
        rtype,
        ttl: 3600,
        rdata,
    };
    let soa = zone.served_rdatas(zone.soa(), apex).remove(0);
    let mut next_soa = soa.clone();
    let at = next_soa.len() - 20;
    let serial = u32::from_be_bytes(next_soa[at..at + 4].try_into().unwrap());
    next_soa[at..at + 4].copy_from_slice(&(serial + 1).to_be_bytes());
    let node = zone.find_exact(&owner).expect("the number exists");
    let naptr = zone.rrset(node, 35).expect("it holds NAPTR");
    let old = zone.served_rdatas(naptr, &owner).remove(0);
    let mut new = old.clone();
    new[3] = new[3].wrapping_add(1);
    ChangeSet {
        removed: vec![rr(apex, 6, soa), rr(&owner, 35, old)],
        added: vec![rr(apex, 6, next_soa), rr(&owner, 35, new)],
    }
}

/// The name of pilot `k` (`*.<pilot>` holds the wildcard).
fn numbers_pilot(k: usize) -> String {
    reverse(&format!("44{:06}", 800_000 + k % (NUMBERS / 1000)))
}

/// The name of delegation `k`.
fn tier3(k: usize) -> String {
    reverse(&format!("44{:06}", 900_000 + k % (NUMBERS / 10_000)))
}

fn reverse(digits: &str) -> String {
    let mut s: String = digits.chars().rev().flat_map(|c| [c, '.']).collect();
    s.push_str("e164.arpa.");
    s
}

criterion_group!(micro, benches);
criterion_main!(micro);
