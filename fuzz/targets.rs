//! The bodies of the fuzz targets, shared by `fuzz_targets/*.rs` (libFuzzer, `cargo fuzz`) and
//! `tests/fuzz_inputs.rs` (every seed and every input that once failed, on stable Rust in
//! `cargo test`). Each takes any bytes and must neither panic nor hang; what they check beyond
//! that is said at each.

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use enumd::config::Config;
use enumd::lookup::Snapshot;
use enumd::naptr::{RegexCache, SubstExpr};
use enumd::wire::{self, Outcome, Policy, Transport};
use enumd::xfr::inbound::{Ask, Reader};
use enumd::xfr::message::Message;
use enumd::zone::Zone;

/// A small zone with every kind of answer: numbers (templated and not), a wildcard, a CNAME
/// chain and loop, a delegation with glue, private Enumservices, a TXT.
pub const ZONE: &str = r#"$ORIGIN 4.4.e164.arpa.
$TTL 3600
@ SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300
@ NS ns1.example.net.
3.2.1 NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:+44123@example.net!" .
3.2.1 NAPTR 20 100 "u" "E2U+pstn:tel" "!^.*$!tel:+44123;npdi;rn=+4499!" .
3.2.1 NAPTR 30 100 "u" "E2U+P-route" "!^(.*)$!sip:\\1@core.example.net!" .
4.2.1 NAPTR 10 100 "" "" "" 3.2.1.4.4.e164.arpa.
*.9.9 NAPTR 10 100 "u" "E2U+sip" "!^\\+44(.*)$!sip:\\1@pbx.example.net!i" .
*.9.9 TXT "wild"
5.5 CNAME 3.2.1
6.6 CNAME 7.7
7.7 CNAME 6.6
8 NS ns.8
ns.8 A 192.0.2.8
ns.8 AAAA 2001:db8::8
"#;

const SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==";

/// A directory of its own for the fixtures and for zone files under test: in memory
/// (`/dev/shm`) where there is one, as every `zone_file` input is written there first.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("enumd-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    })
}

struct Fixture {
    config: Config,
    snapshot: Snapshot,
    policy: Policy,
    zone: std::sync::Arc<Zone>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = scratch();
        std::fs::write(dir.join("zone"), ZONE).expect("zone");
        let text = format!(
            "nsid = \"fuzz\"\n\
             [[key]]\nname = \"peer\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
             [[view]]\nname = \"peers\"\nmatch = [\"10.0.0.0/8\", \"key:peer\"]\n\
             [[zone]]\napex = \"4.4.e164.arpa.\"\nfile = \"zone\"\n\
             allow_query = [\"127.0.0.0/8\", \"::1\", \"10.0.0.0/8\", \"key:peer\"]\n\
             hide_services = {{ outside = \"peers\", services = [\"P-*\", \"pstn:*\"] }}\n"
        );
        let config = Config::parse(&text, dir).expect("config");
        let snapshot = enumd::reload::ZoneSet::load(&config).snapshot();
        let zone = snapshot.zones[0].clone();
        let policy = Policy::from_config(&config).expect("policy");
        Fixture {
            config,
            snapshot,
            policy,
            zone,
        }
    })
}

/// A request, answered as a server would: the first byte picks UDP or TCP and the client's
/// address (inside or outside the view, allowed or not), the rest is the message. An answer
/// must be a DNS message with the request's ID and a question of at most the request's, and
/// over UDP never longer than 65,535 octets.
pub fn respond(data: &[u8]) {
    let (Some(out), Some(request)) = (answer(data), data.get(1..)) else {
        return;
    };
    assert!(out.len() >= 12, "an answer has a header");
    assert_eq!(out[..2], request[..2], "the answer has the request's ID");
    assert!(out[2] & 0x80 != 0, "the answer is a response");
    assert!(out.len() <= 65_535);
}

/// [`respond`]'s answer, if one is sent.
pub fn answer(data: &[u8]) -> Option<Vec<u8>> {
    let (&pick, request) = data.split_first()?;
    let f = fixture();
    let transport = if pick & 1 == 0 {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let client: IpAddr = match (pick >> 1) & 3 {
        0 => "127.0.0.1".parse().unwrap(),
        1 => "10.1.2.3".parse().unwrap(),
        2 => "::1".parse().unwrap(),
        _ => "192.0.2.1".parse().unwrap(),
    };
    let mut out = Vec::new();
    let outcome = wire::respond(&f.snapshot, request, transport, client, &f.policy, &mut out);
    matches!(outcome, Outcome::Answered(_)).then_some(out)
}

/// A zone file, loaded as `enumd check` and a reload load it (parse, validation, the trie):
/// a result, never a panic. A zone that loads answers a query for its apex SOA.
pub fn zone_file(data: &[u8]) {
    let path = scratch().join(format!("zone-{:?}", std::thread::current().id()));
    std::fs::write(&path, data).expect("write zone");
    if let Ok(zone) = Zone::load(b"\x014\x014\x04e164\x04arpa\x00", &path, false, 10_000) {
        let snapshot = Snapshot {
            zones: vec![std::sync::Arc::new(zone)],
            ..Snapshot::default()
        };
        let answer = enumd::lookup::lookup(
            &snapshot,
            b"\x014\x014\x04e164\x04arpa\x00",
            enumd::rdata::rtype::SOA,
        );
        assert_eq!(answer.answer.len(), 1, "a loaded zone has its SOA");
    }
}

/// A NAPTR REGEXP field and an input (split at the first 0xff byte), through the translator
/// and the applier as the validator and `enumd lookup` use them.
pub fn naptr_regexp(data: &[u8]) {
    let (field, input) = match data.iter().position(|&b| b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"+441234567890"[..]),
    };
    let mut cache = RegexCache::default();
    if let Ok(rule) = SubstExpr::parse_with(field, &mut cache) {
        let _ = rule.apply(&String::from_utf8_lossy(input));
    }
}

/// An UPDATE message, parsed and judged against the fixture's zone (prerequisites, changes,
/// ENUM validation): an outcome, never a panic.
pub fn update(data: &[u8]) {
    let f = fixture();
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let zone_config = &f.config.zones[0];
    let _ = enumd::xfr::update::process(
        &f.zone,
        &msg,
        zone_config.strict,
        zone_config.max_records,
        &mut RegexCache::default(),
    );
}

/// The answer to an AXFR request, as a secondary reads it: messages of two length octets and
/// the message (as over TCP), fed in order until one fails or the transfer completes.
pub fn transfer_in(data: &[u8]) {
    let id = data
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let mut reader = Reader::new(
        b"\x014\x014\x04e164\x04arpa\x00",
        id,
        &Ask::Axfr,
        None,
        false,
        None,
        "fuzz",
    );
    let mut rest = data.get(2..).unwrap_or_default();
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let Some(message) = rest.get(2..2 + len) else {
            break;
        };
        rest = &rest[2 + len..];
        match reader.message(message, 0) {
            Ok(true) => {
                let _ = reader.finish();
                return;
            }
            Ok(false) => {}
            Err(_) => return,
        }
    }
}
