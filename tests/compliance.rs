//! What the standard test tools check of an authoritative server, over real sockets: header
//! flags for unknown opcodes (ISC's DNS compliance tester), NSID (RFC 5001), DNS Cookies
//! (RFC 7873, RFC 9018) and zone names in the config as operators write them.

mod common;

use common::TestServer;
use common::wire::{Response, decode};

const ZONE: &str = "$ORIGIN e164.arpa.\n$TTL 3600\n\
@ SOA ns1 hostmaster 1 7200 900 1209600 300\n\
@ NS ns1\n\
ns1 A 192.0.2.53\n\
3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:123@example.net!\" .\n";

/// Header flag bits in bytes 2 and 3 of a message.
const QR: u16 = 0x8000;
const AA: u16 = 0x0400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const RA: u16 = 0x0080;
const Z: u16 = 0x0040;
const AD: u16 = 0x0020;
const CD: u16 = 0x0010;

/// A request with the given opcode and flags; a question for `3.2.1.e164.arpa. NAPTR` if
/// `question`, an OPT record (payload 1232, no options) if `opt`.
fn request(id: u16, opcode: u8, flags: u16, question: bool, opt: bool) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&(flags | (u16::from(opcode) << 11)).to_be_bytes());
    m.extend_from_slice(&[0, u8::from(question), 0, 0, 0, 0, 0, u8::from(opt)]);
    if question {
        m.extend_from_slice(b"\x013\x012\x011\x04e164\x04arpa\x00\x00\x23\x00\x01");
    }
    if opt {
        m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }
    m
}

fn flags(r: &Response) -> u16 {
    u16::from_be_bytes(r.flags)
}

fn opcode(r: &Response) -> u8 {
    (r.flags[0] >> 3) & 0x0f
}

#[test]
fn unknown_opcodes_get_notimp_with_only_qr_and_the_opcode_set() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    // Every flag a request can carry, as the compliance tester's "opcodeflg" test sends them.
    let all = AA | TC | RD | RA | Z | AD | CD;
    let mut id = 100;
    for op in [2, 3, 4, 6, 15] {
        for (question, opt) in [(false, false), (true, false), (true, true), (false, true)] {
            for set in [0, RD, RD | CD | AD, all] {
                id += 1;
                let q = request(id, op, set, question, opt);
                for (transport, reply) in [("udp", s.udp_raw(&q)), ("tcp", s.tcp_raw(&q))] {
                    let what = format!(
                        "opcode {op} flags {set:#06x} question {question} opt {opt} over {transport}"
                    );
                    let r = decode(&reply.unwrap_or_else(|| panic!("{what}: no reply")))
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(r.id, id, "{what}");
                    assert_eq!(r.rcode(), 4, "{what}: NOTIMP");
                    assert_eq!(opcode(&r), op, "{what}: opcode echoed");
                    assert_eq!(
                        flags(&r) & !0x7800,
                        QR | 4,
                        "{what}: QR alone besides the opcode"
                    );
                    // The question comes back where there was one, the OPT record likewise.
                    let want_q = if question {
                        &b"\x013\x012\x011\x04e164\x04arpa\x00"[..]
                    } else {
                        b""
                    };
                    assert_eq!(r.qname, want_q, "{what}");
                    assert!(r.answer.is_empty() && r.authority.is_empty(), "{what}");
                    let opts: Vec<u16> = r.additional.iter().map(|rr| rr.rtype).collect();
                    assert_eq!(opts, if opt { vec![41] } else { vec![] }, "{what}");
                    if let Some(o) = r.additional.first() {
                        assert_eq!(o.ttl, 0, "{what}: extended RCODE 0, version 0, no flags");
                    }
                }
            }
        }
    }
    // A header that announces a question it does not carry is still NOTIMP, not FORMERR.
    let mut cut = request(7, 15, RD, true, false);
    cut.truncate(14);
    let r = decode(&s.udp_raw(&cut).expect("reply")).expect("decodes");
    assert_eq!((r.rcode(), flags(&r) & !0x7800), (4, QR | 4));
}

#[test]
fn a_query_keeps_rd_and_cd_and_drops_the_rest_and_a_query_without_question_is_formerr() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    let all = AA | TC | RD | RA | Z | AD | CD;
    let r = decode(&s.udp_raw(&request(1, 0, all, true, true)).unwrap()).unwrap();
    assert_eq!(r.rcode(), 0);
    assert_eq!(
        flags(&r),
        QR | AA | RD | CD,
        "RFC 1035 §4.1.1, RFC 6840 §5.7-5.8"
    );
    assert_eq!(r.answer.len(), 1);
    let r = decode(&s.udp_raw(&request(2, 0, RD | CD, false, false)).unwrap()).unwrap();
    assert_eq!(r.rcode(), 1, "a QUERY needs a question");
    assert_eq!(flags(&r), QR | RD | CD | 1);
}

#[test]
fn an_apex_written_without_the_final_dot_or_in_capitals_is_the_same_zone() {
    for apex in ["e164.arpa", "E164.ARPA."] {
        let s = TestServer::start(&[(apex, ZONE)]);
        let r = decode(&s.udp_raw(&request(9, 0, 0, true, false)).unwrap()).unwrap();
        assert_eq!(
            (r.rcode(), r.aa(), r.answer.len()),
            (0, true, 1),
            "apex {apex:?}"
        );
        // `enumd check` names the zone in canonical form.
        let config = s.dir.join("check.toml");
        let zone = s.dir.join("zone0.zone");
        std::fs::write(
            &config,
            format!(
                "[[zone]]\napex = \"{apex}\"\nfile = \"{}\"\n",
                zone.display()
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_enumd"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .expect("enumd check");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("zone e164.arpa.: "), "{text}");
        assert!(
            !text.contains("E164.ARPA") && !text.contains("e164.arpa:"),
            "{text}"
        );
    }
}
