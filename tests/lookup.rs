//! `enumd lookup` end to end: the real binary against a running enumd over real sockets.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::rdata::{CNAME, NAPTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use common::TestServer;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn lookup(server: &TestServer, args: &[&str]) -> Run {
    lookup_at(server.addr, args)
}

fn lookup_at(server: SocketAddr, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .arg("lookup")
        .args(["--server", &server.to_string(), "--timeout", "2"])
        .args(args)
        .output()
        .expect("run enumd lookup");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The URIs of a JSON result, in order.
fn uris(server: &TestServer, args: &[&str]) -> Vec<String> {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let run = lookup(server, &all);
    let v: serde_json::Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap().to_string())
        .collect()
}

fn lab() -> TestServer {
    TestServer::start_config("tests/data/lab/enumd.toml")
}

#[test]
fn pilot_wildcard_back_reference_gives_the_extension() {
    let s = lab();
    let run = lookup(&s, &["+43 1 79780 1234"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        "+431797801234 → 4.3.2.1.0.8.7.9.7.1.3.4.e164.arpa. (asked ".to_string()
            + &s.addr.to_string()
            + ")\norder pref  enumservice  uri\n100   10    sip          sip:1234@sip.oefeg.at\n"
    );
}

#[test]
fn every_dialling_form_reaches_the_same_number() {
    let s = lab();
    let forms: [&[&str]; 10] = [
        &["+43 1 79780 1234"],
        &["+43-1-79780-1234#"],
        &["+43.1.79780.1234"],
        &["+43 (1) 79780 1234"],
        &["0043 1 79780 1234"],
        &["011 43 1 79780 1234"],
        &["--country-code", "1", "011 43 1 79780 1234"],
        &["*43 1 79780 1234"],
        &["--country-code", "43", "(01) 79780 1234"],
        &["--country-code", "43", "0179780-1234#"],
    ];
    for args in forms {
        assert_eq!(uris(&s, args), ["sip:1234@sip.oefeg.at"], "{args:?}");
    }
    // A UK national number starting 0117 is not North America's 011 + 7.
    assert_eq!(
        uris(&s, &["--country-code", "44", "0117 496 0000"]),
        ["sip:helpdesk@example.org", "tel:+441174960999;enumdi"]
    );
}

#[test]
fn centrally_administered_pilot_extensions_and_wildcard() {
    let s = lab();
    // The pilot itself: voice, e-mail and web, in ORDER then PREFERENCE.
    assert_eq!(
        uris(&s, &["+44 1632 960"]),
        [
            "sip:reception@pbx.example.com",
            "mailto:info@example.com",
            "http://www.example.com/"
        ]
    );
    assert_eq!(
        uris(&s, &["+44 1632 9600"]),
        ["sip:switchboard@pbx.example.com"]
    );
    assert_eq!(uris(&s, &["+44 1632 960 32"]), ["sip:32@pbx.example.com"]);
    // Any other extension through the wildcard, its digits from the back-reference.
    assert_eq!(uris(&s, &["+44 1632 960 5"]), ["sip:5@pbx.example.com"]);
    assert_eq!(uris(&s, &["+44 1632 960 27"]), ["sip:27@pbx.example.com"]);
    // 3.<pilot> is an empty non-terminal (parent of extension 32): no wildcard, NODATA.
    let run = lookup(&s, &["+44 1632 960 3"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("no URI: the domain exists but holds no NAPTR records (NODATA)"),
        "{}",
        run.stdout
    );
    let run = lookup(&s, &["+44 1632 960 34"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("(NXDOMAIN)"), "{}", run.stdout);
    // --service keeps only matching rules.
    assert_eq!(
        uris(&s, &["--service", "email", "+44 1632 960"]),
        ["mailto:info@example.com"]
    );
    let run = lookup(&s, &["--service", "sip", "+44 1632 960"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("note: 3 rule(s) left out by --service"),
        "{}",
        run.stdout
    );
}

#[test]
fn non_terminal_rule_is_followed() {
    let s = lab();
    let run = lookup(&s, &["+44 117 496 0000"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("sip:helpdesk@example.org   (via 9.9.9.0.6.9.4.7.1.1.4.4.e164.arpa.)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        uris(&s, &["+44 117 496 0000"]),
        ["sip:helpdesk@example.org", "tel:+441174960999;enumdi"]
    );
}

#[test]
fn private_apex_number_portability() {
    let s = lab();
    assert_eq!(
        uris(
            &s,
            &[
                "--apex",
                "e164enum.net.",
                "--service",
                "pstn:tel",
                "+44 7700 900123"
            ]
        ),
        ["tel:+447700900123;npdi;rn=+447700900900;enumdi"]
    );
}

const TIER2: &str = "$TTL 300\n@ SOA ns1 hm 1 1 1 1 300\n@ NS ns1\nns1 A 127.0.0.1\n\
    5.4.3.2.1 NS ns1.5.4.3.2.1\nns1.5.4.3.2.1 A 127.0.0.2\n\
    ; RFC 3402 §3.2: back-references to two groups\n\
    0.6.9.2.3.6.1 NAPTR 10 10 \"u\" \"E2U+sip\" \"!^\\\\+44(1632)(960.*)$!sip:\\\\2@\\\\1.example.com!\" .\n\
    ; compound Enumservices\n\
    1.6.9.2.3.6.1 NAPTR 10 10 \"u\" \"E2U+voice:sip+video:sip\" \"!^.*$!sip:both@example.com!\" .\n\
    ; half of a non-terminal loop through another zone: no zone alone shows it\n\
    1.1 NAPTR 10 10 \"\" \"\" \"\" 2.2.5.5.e164.arpa.\n";

/// The other half of the loop.
const OTHER: &str = "$TTL 300\n@ SOA ns1 hm 1 1 1 1 300\n@ NS ns1.4.4.e164.arpa.\n\
    2.2 NAPTR 10 10 \"\" \"\" \"\" 1.1.4.4.e164.arpa.\n";

fn tier3_number_zone() -> String {
    let mut z = String::from("$TTL 300\n@ SOA ns1 hm 1 1 1 1 300\n@ NS ns1\nns1 A 127.0.0.2\n");
    z.push_str("6.7 NAPTR 10 10 \"u\" \"E2U+sip\" \"!^.*$!sip:tier3@pbx.example.net!\" .\n");
    // Enough rules that the answer does not fit 1232 bytes: the client must retry over TCP.
    for i in 0..20 {
        z.push_str(&format!(
            "8.8 NAPTR 20 {i} \"u\" \"E2U+sip\" \"!^.*$!sip:a-long-user-name-{i:02}@a-rather-long-proxy-name.example.net!\" .\n"
        ));
    }
    z
}

#[test]
fn tier3_delegation_is_followed_with_follow_referrals() {
    let tier2 = TestServer::start(&[("4.4.e164.arpa.", TIER2)]);
    let port = tier2.addr.port();
    let tier3_zone = tier3_number_zone();
    let tier3 = TestServer::start_at(
        &format!("127.0.0.2:{port}"),
        "",
        &[("5.4.3.2.1.4.4.e164.arpa.", &tier3_zone)],
    );
    assert_eq!(tier3.addr.port(), port);

    let run = lookup(&tier2, &["+44 12345 76"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("(referral)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("use --follow-referrals"),
        "{}",
        run.stdout
    );

    assert_eq!(
        uris(&tier2, &["--follow-referrals", "+44 12345 76"]),
        ["sip:tier3@pbx.example.net"]
    );
    // A truncated UDP answer is retried over TCP: all 20 rules arrive.
    let got = uris(&tier2, &["--follow-referrals", "+44 12345 88"]);
    assert_eq!(got.len(), 20);
    assert_eq!(
        got[0],
        "sip:a-long-user-name-00@a-rather-long-proxy-name.example.net"
    );
}

#[test]
fn rfc3402_back_references_and_compound_services() {
    let s = TestServer::start(&[("4.4.e164.arpa.", TIER2)]);
    assert_eq!(uris(&s, &["+44 1632 960"]), ["sip:960@1632.example.com"]);
    let run = lookup(&s, &["--json", "+44 1632 961"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        v["results"][0]["services"],
        serde_json::json!(["voice:sip", "video:sip"])
    );
    assert_eq!(
        uris(&s, &["--service", "video:sip", "+44 1632 961"]),
        ["sip:both@example.com"]
    );
    assert_eq!(
        uris(&s, &["--service", "video", "+44 1632 961"]),
        ["sip:both@example.com"]
    );
    assert!(uris(&s, &["--service", "web", "+44 1632 961"]).is_empty());
}

#[test]
fn non_terminal_loop_across_zones_is_detected() {
    let s = TestServer::start(&[("4.4.e164.arpa.", TIER2), ("5.5.e164.arpa.", OTHER)]);
    let run = lookup(&s, &["+44 11"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("non-terminal loop detected: 1.1.4.4.e164.arpa. → 2.2.5.5.e164.arpa. → 1.1.4.4.e164.arpa."),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_input_and_unreachable_servers_exit_2() {
    let s = lab();
    let run = lookup(&s, &["+43 1 CALL"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("'C' is not something one dials"),
        "{}",
        run.stderr
    );
    let run = lookup(&s, &["+1234567890123456"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("at most 15"), "{}", run.stderr);
    // Nothing listens on this UDP port: the lookup gives up and says so.
    let out = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args([
            "lookup",
            "--server",
            "127.0.0.1:9",
            "--timeout",
            "1",
            "+431",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no answer from 127.0.0.1:9"));
}

/// A DNS server that answers every query with what `reply` makes of it: for answers no
/// honest server gives. Serves until `queries` have come, or 10 s of silence.
fn fake_server(queries: usize, reply: fn(&Message) -> Message) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind fake server");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        for _ in 0..queries {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut m = reply(&q);
            m.metadata.id = q.metadata.id;
            m.metadata.message_type = MessageType::Response;
            m.metadata.authoritative = true;
            let _ = socket.send_to(&m.to_vec().unwrap(), from);
        }
    });
    addr
}

fn naptr_record(owner: &str, services: &str, regexp: &str) -> Record {
    Record::from_rdata(
        Name::from_ascii(owner).unwrap(),
        60,
        RData::NAPTR(NAPTR::new(
            10,
            100,
            b"u".to_vec().into_boxed_slice(),
            services.as_bytes().to_vec().into_boxed_slice(),
            regexp.as_bytes().to_vec().into_boxed_slice(),
            Name::root(),
        )),
    )
}

/// The query's question echoed, with `answers`.
fn reply_with(q: &Message, answers: Vec<Record>) -> Message {
    let mut m = Message::query();
    m.queries = q.queries.clone();
    m.answers = answers;
    m
}

#[test]
fn records_for_another_name_are_ignored() {
    // A server that answers about evil.example., whatever it is asked.
    let addr = fake_server(4, |q| {
        reply_with(
            q,
            vec![naptr_record(
                "evil.example.",
                "E2U+sip",
                "!^.*$!sip:evil@x!",
            )],
        )
    });
    let run = lookup_at(addr, &["+44 1632 960 001"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("sip:evil@x"), "{}", run.stdout);
    assert!(run.stdout.contains("no URI"), "{}", run.stdout);

    // Records at the end of the name's own CNAME chain are the answer; others still are not.
    let addr = fake_server(4, |q| {
        let asked = q.queries[0].name().clone();
        let alias = Name::from_ascii("alias.example.").unwrap();
        reply_with(
            q,
            vec![
                Record::from_rdata(asked, 60, RData::CNAME(CNAME(alias))),
                naptr_record("alias.example.", "E2U+sip", "!^.*$!sip:alias@x!"),
                naptr_record("evil.example.", "E2U+sip", "!^.*$!sip:evil@x!"),
            ],
        )
    });
    let run = lookup_at(addr, &["+44 1632 960 001"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("sip:alias@x"), "{}", run.stdout);
    assert!(!run.stdout.contains("sip:evil@x"), "{}", run.stdout);

    // A reply to another question is not taken for an answer.
    let addr = fake_server(4, |q| {
        let mut m = reply_with(
            q,
            vec![naptr_record("1.e164.arpa.", "E2U+sip", "!^.*$!sip:one@x!")],
        );
        m.queries = vec![Query::query(
            Name::from_ascii("1.e164.arpa.").unwrap(),
            RecordType::NAPTR,
        )];
        m
    });
    let run = lookup_at(addr, &["+44 1632 960 001"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("answered another question"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_uri_its_enumservice_does_not_register_is_left_out() {
    // pstn:tel registers tel: (RFC 4769); this rule yields a sip: URI, which check flags.
    let zone = "$TTL 60\n@ SOA ns hm 1 1 1 1 60\n@ NS ns.example.\n\
        1.0.0.0.6.9.2.3.6.1.4.4 NAPTR 10 100 \"u\" \"E2U+pstn:tel\" \"!^.*$!sip:+441632960001@gw.example!\" .\n\
        1.0.0.0.6.9.2.3.6.1.4.4 NAPTR 20 100 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:+441632960001;npdi;rn=+441632999!\" .\n";
    let s = TestServer::start(&[("e164.arpa.", zone)]);
    let run = lookup(&s, &["--service", "pstn", "+44 1632 960 001"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let results: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("10 ") || l.starts_with("20 "))
        .collect();
    assert_eq!(results.len(), 1, "{}", run.stdout);
    assert!(
        results[0].contains("tel:+441632960001;npdi;rn=+441632999"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "skipped: 1.0.0.0.6.9.2.3.6.1.4.4.e164.arpa. NAPTR 10 100 \"u\" \"E2U+pstn:tel\""
        ) && run.stdout.contains(
            "REGEXP yields a sip: URI (sip:+441632960001@gw.example) but pstn:tel registers tel"
        ),
        "{}",
        run.stdout
    );
}
