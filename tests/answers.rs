//! Every answer rule of RFC 1034 §4.3.2, RFC 4592 and RFC 6891 over real UDP and TCP sockets.

mod common;

use common::{TestServer, lines, query};
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;

/// The example zone of RFC 4592 §2.2.1 (SOA and SRV RDATA filled in).
const RFC4592_ZONE: &str = r#"
$ORIGIN example.
example.                 3600 IN  SOA   ns.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
example.                 3600     NS    ns.example.com.
example.                 3600     NS    ns.example.net.
*.example.               3600     TXT   "this is a wildcard"
*.example.               3600     MX    10 host1.example.
sub.*.example.           3600     TXT   "this is not a wildcard"
host1.example.           3600     A     192.0.2.1
_ssh._tcp.host1.example. 3600     SRV   0 0 22 host1.example.
_ssh._tcp.host2.example. 3600     SRV   0 0 22 host2.example.
subdel.example.          3600     NS    ns.example.com.
subdel.example.          3600     NS    ns.example.net.
"#;

/// An ENUM zone: a PBX pilot (+43 1 79780) with a wildcard beside explicit extensions, a
/// delegated number with in-zone glue, CNAMEs, and a SOA whose MINIMUM is below its TTL.
const ENUM_ZONE: &str = r#"
$ORIGIN e164.arpa.
$TTL 3600
@        IN SOA ns1.e164.arpa. hostmaster.e164.arpa. ( 2024010101 7200 3600 1209600 300 )
         IN NS  ns1
ns1      IN A    192.0.2.53
         IN AAAA 2001:db8::53
; pilot +43 1 79780: everyone via the wildcard, extension 32 explicitly
*.0.8.7.9.7.1.3.4   NAPTR 100 10 "u" "E2U+sip" "!^\\+43179780(.*)$!sip:\\1@sip.oefeg.at!" .
2.3.0.8.7.9.7.1.3.4 NAPTR 10 10 "u" "E2U+sip" "!^.*$!sip:32@pbx.example.com!" .
; a wildcard above a delegation must not reach below it
*.1.4.4              NAPTR 10 10 "u" "E2U+sip" "!^.*$!sip:range@example.com!" .
5.1.4.4              NS ns1.5.1.4.4
                     NS ns.tier3.example.
ns1.5.1.4.4          A  198.51.100.1
                     AAAA 2001:db8::1
9.9.5.1.4.4          NAPTR 10 10 "u" "E2U+sip" "!^.*$!sip:occluded@example.com!" .
; CNAMEs
7.7.7.4.4            CNAME 2.3.0.8.7.9.7.1.3.4
8.7.7.4.4            CNAME 7.7.7.4.4
6.7.7.4.4            CNAME 0.0.0.0.0.4.4
5.7.7.4.4            CNAME sip.example.com.
4.7.7.4.4            CNAME 1.2.5.1.4.4
"#;

fn enum_server() -> TestServer {
    TestServer::start(&[("e164.arpa.", ENUM_ZONE)])
}

fn assert_nodata(m: &Message, soa_ttl: u32) {
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty(), "{:?}", lines(&m.answers));
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(m.authorities[0].ttl, soa_ttl);
}

fn assert_nxdomain(m: &Message, soa_ttl: u32) {
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(m.authorities[0].ttl, soa_ttl);
}

#[test]
fn rfc4592_2_2_1_synthesizes_from_the_closest_enclosers_wildcard() {
    let s = TestServer::start(&[("example.", RFC4592_ZONE)]);
    let m = s.ask("host3.example.", RecordType::MX);
    assert!(m.metadata.authoritative);
    assert_eq!(
        lines(&m.answers),
        ["host3.example. 3600 MX 10 host1.example."]
    );

    let m = s.ask("foo.bar.example.", RecordType::TXT);
    assert_eq!(
        lines(&m.answers),
        ["foo.bar.example. 3600 TXT this is a wildcard"]
    );
}

#[test]
fn rfc4592_2_2_1_wildcard_match_without_the_type_is_nodata() {
    let s = TestServer::start(&[("example.", RFC4592_ZONE)]);
    assert_nodata(&s.ask("host3.example.", RecordType::A), 300);
}

#[test]
fn rfc4592_2_2_1_cases_that_do_not_synthesize() {
    let s = TestServer::start(&[("example.", RFC4592_ZONE)]);
    // host1 exists: its own data, not the wildcard's.
    assert_nodata(&s.ask("host1.example.", RecordType::MX), 300);
    // sub.*.example. exists, so it answers for itself.
    assert_nodata(&s.ask("sub.*.example.", RecordType::MX), 300);
    // _tcp.host1 is an empty non-terminal encloser without a `*` child.
    assert_nxdomain(&s.ask("_telnet._tcp.host1.example.", RecordType::SRV), 300);
    // *.example. is the closest encloser and has no `*` child.
    assert_nxdomain(&s.ask("ghost.*.example.", RecordType::MX), 300);
    // Below a cut: a referral, never the wildcard.
    let m = s.ask("host.subdel.example.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.metadata.authoritative);
    assert!(m.answers.is_empty());
    assert_eq!(
        lines(&m.authorities),
        [
            "subdel.example. 3600 NS ns.example.com.",
            "subdel.example. 3600 NS ns.example.net."
        ]
    );
}

#[test]
fn enum_empty_non_terminal_blocks_the_pilot_wildcard() {
    let s = enum_server();
    // 3.<pilot> exists as the parent of 2.3.<pilot>: NODATA, no synthesis.
    assert_nodata(
        &s.ask("3.0.8.7.9.7.1.3.4.e164.arpa.", RecordType::NAPTR),
        300,
    );
    // 4.3.<pilot>: the closest encloser is 3.<pilot>, which has no `*` child.
    assert_nxdomain(
        &s.ask("4.3.0.8.7.9.7.1.3.4.e164.arpa.", RecordType::NAPTR),
        300,
    );
    // 5.<pilot>: synthesized from *.<pilot>, owner as asked.
    let m = s.ask("5.0.8.7.9.7.1.3.4.e164.arpa.", RecordType::NAPTR);
    assert!(m.metadata.authoritative);
    assert_eq!(
        lines(&m.answers),
        [
            r#"5.0.8.7.9.7.1.3.4.e164.arpa. 3600 NAPTR 100 10 "u" "E2U+sip" "!^\+43179780(.*)$!sip:\1@sip.oefeg.at!" ."#
        ]
    );
    // The explicit extension answers for itself.
    let m = s.ask("2.3.0.8.7.9.7.1.3.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.answers.len(), 1);
    assert!(m.answers[0].data.to_string().contains("sip:32@pbx"));
    // Deeper names under the wildcard's parent synthesize too (RFC 4592 §3.3.1).
    let m = s.ask("1.2.3.4.0.8.7.9.7.1.3.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn positive_answer_keeps_the_clients_spelling() {
    let s = enum_server();
    let m = s.ask("5.0.8.7.9.7.1.3.4.E164.ArPa.", RecordType::NAPTR);
    assert_eq!(m.answers[0].name.to_ascii(), "5.0.8.7.9.7.1.3.4.E164.ArPa.");
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "5.0.8.7.9.7.1.3.4.E164.ArPa."
    );
    let m = s.ask("Ns1.E164.Arpa.", RecordType::A);
    assert!(m.metadata.authoritative);
    assert_eq!(lines(&m.answers), ["Ns1.E164.Arpa. 3600 A 192.0.2.53"]);
}

#[test]
fn nodata_carries_soa_with_the_negative_ttl() {
    let s = enum_server();
    // MINIMUM 300 < TTL 3600: 300 (RFC 2308 §5).
    assert_nodata(
        &s.ask("2.3.0.8.7.9.7.1.3.4.e164.arpa.", RecordType::TXT),
        300,
    );
    // An empty non-terminal made by a longer number is a name too.
    assert_nodata(&s.ask("4.e164.arpa.", RecordType::NAPTR), 300);
    // TTL below MINIMUM: the TTL wins.
    let zone = "$TTL 60\n@ SOA ns hm 1 2 3 4 86400\n@ NS ns.example.\n1 NAPTR 1 1 \"u\" \"E2U+sip\" \"!^.*$!sip:a@b!\" .\n";
    let s = TestServer::start(&[("e164.arpa.", zone)]);
    assert_nodata(&s.ask("1.e164.arpa.", RecordType::A), 60);
    assert_nxdomain(&s.ask("2.e164.arpa.", RecordType::A), 60);
}

#[test]
fn nonexistent_number_is_nxdomain() {
    let s = enum_server();
    assert_nxdomain(
        &s.ask("1.2.3.4.5.6.7.8.9.e164.arpa.", RecordType::NAPTR),
        300,
    );
    assert_nxdomain(&s.ask("nothing.e164.arpa.", RecordType::A), 300);
}

#[test]
fn referral_at_and_below_a_cut_with_glue_and_occlusion() {
    let s = enum_server();
    for qname in [
        "5.1.4.4.e164.arpa.",
        "7.5.1.4.4.e164.arpa.",
        // data below the cut is occluded, the wildcard above it never applies
        "9.9.5.1.4.4.e164.arpa.",
    ] {
        let m = s.ask(qname, RecordType::NAPTR);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{qname}");
        assert!(
            !m.metadata.authoritative,
            "{qname}: AA must be clear on a referral"
        );
        assert!(m.answers.is_empty(), "{qname}");
        assert_eq!(
            lines(&m.authorities),
            [
                "5.1.4.4.e164.arpa. 3600 NS ns.tier3.example.",
                "5.1.4.4.e164.arpa. 3600 NS ns1.5.1.4.4.e164.arpa."
            ],
            "{qname}"
        );
        assert_eq!(
            lines(&m.additionals),
            [
                "ns1.5.1.4.4.e164.arpa. 3600 A 198.51.100.1",
                "ns1.5.1.4.4.e164.arpa. 3600 AAAA 2001:db8::1"
            ],
            "{qname}"
        );
    }
    // Glue itself is below the cut: also a referral.
    let m = s.ask("ns1.5.1.4.4.e164.arpa.", RecordType::A);
    assert!(!m.metadata.authoritative);
    assert!(m.answers.is_empty());
    // The wildcard still serves its other children.
    let m = s.ask("6.1.4.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn cname_answers_and_chains() {
    let s = enum_server();
    let m = s.ask("8.7.7.4.4.e164.arpa.", RecordType::NAPTR);
    assert!(m.metadata.authoritative);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let got = lines(&m.answers);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].starts_with("2.3.0.8.7.9.7.1.3.4.e164.arpa. 3600 NAPTR"));
    assert_eq!(
        got[1],
        "7.7.7.4.4.e164.arpa. 3600 CNAME 2.3.0.8.7.9.7.1.3.4.e164.arpa."
    );
    assert_eq!(
        got[2],
        "8.7.7.4.4.e164.arpa. 3600 CNAME 7.7.7.4.4.e164.arpa."
    );
    // Asking for the CNAME itself does not follow it.
    let m = s.ask("7.7.7.4.4.e164.arpa.", RecordType::CNAME);
    assert_eq!(m.answers.len(), 1);
    // A target that does not exist: NXDOMAIN for the target, CNAME kept (RFC 6604).
    let m = s.ask("6.7.7.4.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    // A target outside the zone: just the CNAME.
    let m = s.ask("5.7.7.4.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        lines(&m.answers),
        ["5.7.7.4.4.e164.arpa. 3600 CNAME sip.example.com."]
    );
    assert!(m.authorities.is_empty());
    // A target below a cut: the CNAME, then the referral.
    let m = s.ask("4.7.7.4.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.authorities.len(), 2);
    assert_eq!(m.authorities[0].record_type(), RecordType::NS);
}

#[test]
fn names_outside_every_zone_are_refused() {
    let s = enum_server();
    let m = s.ask("example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    let m = s.ask("arpa.", RecordType::SOA);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn other_opcodes_are_notimp_and_other_classes_refused() {
    let s = enum_server();
    let mut q = query("e164.arpa.", RecordType::SOA, None);
    q.metadata.op_code = OpCode::Status;
    let m = s.udp(&q);
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);

    let mut bytes = query("e164.arpa.", RecordType::SOA, None).to_vec().unwrap();
    let n = bytes.len();
    bytes[n - 1] = 3; // class CH
    let m = Message::from_vec(&s.udp_raw(&bytes).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn apex_soa_and_ns() {
    let s = enum_server();
    let m = s.ask("e164.arpa.", RecordType::SOA);
    assert!(m.metadata.authoritative);
    assert_eq!(
        lines(&m.answers),
        [
            "e164.arpa. 3600 SOA ns1.e164.arpa. hostmaster.e164.arpa. 2024010101 7200 3600 1209600 300"
        ]
    );
    let m = s.ask("e164.arpa.", RecordType::NS);
    assert_eq!(lines(&m.answers), ["e164.arpa. 3600 NS ns1.e164.arpa."]);
    assert_eq!(
        m.additionals.len(),
        2,
        "addresses of the in-zone name server"
    );
}

#[test]
fn same_answers_over_tcp() {
    let s = enum_server();
    let m = s.tcp(&query(
        "5.0.8.7.9.7.1.3.4.e164.arpa.",
        RecordType::NAPTR,
        None,
    ));
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    let m = s.tcp(&query(
        "3.0.8.7.9.7.1.3.4.e164.arpa.",
        RecordType::NAPTR,
        Some(1232),
    ));
    assert_nodata(&m, 300);
}

#[test]
fn edns_opt_is_echoed_only_when_asked_and_badvers_above_version_0() {
    let s = enum_server();
    let m = s.udp(&query("e164.arpa.", RecordType::SOA, None));
    assert!(m.edns.is_none());
    let m = s.udp(&query("e164.arpa.", RecordType::SOA, Some(4096)));
    let edns = m.edns.expect("OPT echoed");
    assert_eq!(edns.version(), 0);
    assert_eq!(edns.max_payload(), 1232, "we advertise our configured cap");

    let mut q = query("e164.arpa.", RecordType::SOA, Some(1232));
    let mut e = q.edns.clone().unwrap();
    e.set_version(1);
    e.set_dnssec_ok(true);
    q.set_edns(e);
    let m = s.udp(&q);
    // RCODE 16 is BADVERS here (RFC 6891 §9); hickory names it BADSIG, the same number.
    assert_eq!(u16::from(m.metadata.response_code), 16);
    let edns = m.edns.expect("OPT in BADVERS");
    assert_eq!(edns.version(), 0);
    assert!(edns.flags().dnssec_ok, "DO copied (RFC 3225 §3)");
    assert!(m.answers.is_empty());
}

/// A number with `count` NAPTRs of about 90 bytes each.
fn big_rrset_zone(count: usize) -> String {
    let mut z = String::from("$TTL 300\n@ SOA ns hm 1 2 3 4 300\n@ NS ns.example.\n");
    for i in 0..count {
        z.push_str(&format!(
            "1 NAPTR {i} 10 \"u\" \"E2U+sip\" \"!^.*$!sip:+4412345678{i:02}@a-rather-long-proxy-name.example.com!\" .\n"
        ));
    }
    z
}

#[test]
fn udp_answer_that_does_not_fit_is_truncated_and_tcp_returns_it_whole() {
    let s = TestServer::start(&[("e164.arpa.", &big_rrset_zone(8))]);
    // ~720 bytes: over 512 without EDNS.
    let m = s.udp(&query("1.e164.arpa.", RecordType::NAPTR, None));
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty() && m.authorities.is_empty());
    // With a 1232-byte payload it fits.
    let m = s.udp(&query("1.e164.arpa.", RecordType::NAPTR, Some(1232)));
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 8);
    // A payload below 512 counts as 512 (RFC 6891 §6.2.5).
    let m = s.udp(&query("1.e164.arpa.", RecordType::NAPTR, Some(100)));
    assert!(m.metadata.truncation);

    let s = TestServer::start(&[("e164.arpa.", &big_rrset_zone(30))]);
    // ~2700 bytes: the client offers 4096 but the configured cap is 1232.
    let m = s.udp(&query("1.e164.arpa.", RecordType::NAPTR, Some(4096)));
    assert!(m.metadata.truncation);
    assert!(m.edns.is_some());
    let m = s.tcp(&query("1.e164.arpa.", RecordType::NAPTR, None));
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 30);
}

#[test]
fn configured_payload_cap_applies() {
    let s = TestServer::start_with(
        "edns_udp_payload = 4096",
        &[("e164.arpa.", &big_rrset_zone(30))],
    );
    let m = s.udp(&query("1.e164.arpa.", RecordType::NAPTR, Some(4096)));
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 30);
    assert_eq!(m.edns.unwrap().max_payload(), 4096);
}

#[test]
fn referral_whose_glue_does_not_fit_is_truncated() {
    // RFC 9471 §3.1: all in-domain glue or TC.
    let mut z = String::from("$TTL 300\n@ SOA ns hm 1 2 3 4 300\n@ NS ns.example.\n");
    for i in 0..13 {
        z.push_str(&format!("5 NS ns{i}.a-long-name-for-a-tier3-server.5\n"));
        z.push_str(&format!(
            "ns{i}.a-long-name-for-a-tier3-server.5 AAAA 2001:db8::{i}\n"
        ));
    }
    let s = TestServer::start(&[("e164.arpa.", &z)]);
    let m = s.udp(&query("1.5.e164.arpa.", RecordType::NAPTR, None));
    assert!(m.metadata.truncation);
    let m = s.tcp(&query("1.5.e164.arpa.", RecordType::NAPTR, None));
    assert!(!m.metadata.truncation);
    assert_eq!(m.authorities.len(), 13);
    assert_eq!(m.additionals.len(), 13);
}

#[test]
fn several_zones_longest_apex_wins() {
    let parent = "$TTL 60\n@ SOA ns hm 1 2 3 4 60\n@ NS ns.example.\n";
    let child = "$TTL 60\n@ SOA ns hm 7 2 3 4 60\n@ NS ns.example.\n1 NAPTR 1 1 \"u\" \"E2U+sip\" \"!^.*$!sip:a@b!\" .\n";
    let s = TestServer::start(&[
        ("e164.arpa.", parent),
        ("4.4.e164.arpa.", child),
        ("e164enum.net.", parent),
    ]);
    let m = s.ask("1.4.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.answers.len(), 1);
    let m = s.ask("2.4.4.e164.arpa.", RecordType::NAPTR);
    assert!(
        lines(&m.authorities)[0].contains(" 7 2 3 4 60"),
        "child zone's SOA"
    );
    let m = s.ask("1.e164enum.net.", RecordType::NAPTR);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn records_naming_their_own_number_answer_with_that_number() {
    // Stored once as a shared template; each answer carries its owner's own number.
    let zone = "$TTL 60\n@ SOA ns hm 1 1 1 1 60\n@ NS ns.example.\n\
        1.2.3 NAPTR 10 100 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:+44321;npdi;rn=+44321!\" .\n\
        1.2.3 NAPTR 20 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+44321@sip.example.net!\" .\n\
        9.8.7 NAPTR 10 100 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:+44789;npdi;rn=+44789!\" .\n\
        9.8.7 NAPTR 20 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+44789@sip.example.net!\" .\n\
        5.5.5 CNAME 9.8.7.4.4.e164.arpa.\n";
    let s = TestServer::start(&[("4.4.e164.arpa.", zone)]);
    let m = s.ask("1.2.3.4.4.e164.arpa.", RecordType::NAPTR);
    assert_eq!(
        lines(&m.answers),
        [
            r#"1.2.3.4.4.e164.arpa. 60 NAPTR 10 100 "u" "E2U+pstn:tel" "!^.*$!tel:+44321;npdi;rn=+44321!" ."#,
            r#"1.2.3.4.4.e164.arpa. 60 NAPTR 20 100 "u" "E2U+sip" "!^.*$!sip:+44321@sip.example.net!" ."#
        ]
    );
    let m = s.ask("5.5.5.4.4.e164.arpa.", RecordType::NAPTR);
    let got = lines(&m.answers);
    assert!(got.contains(&r#"9.8.7.4.4.e164.arpa. 60 NAPTR 20 100 "u" "E2U+sip" "!^.*$!sip:+44789@sip.example.net!" ."#.to_string()), "{got:?}");
    // The size limit counts the expanded records: 2 × ~70 bytes fit 512, so no TC here.
    let m = s.udp(&query("9.8.7.4.4.e164.arpa.", RecordType::NAPTR, None));
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 2);
}
