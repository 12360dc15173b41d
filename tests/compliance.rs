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
    // NOTIFY (4) is answered: tests/secondary.rs checks its RCODEs.
    for op in [2, 3, 6, 15] {
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

/// The zone with a delegation and a name below it, for referrals and NXDOMAIN.
const ZONE_WITH_CUT: &str = "$ORIGIN e164.arpa.\n$TTL 3600\n\
@ SOA ns1 hostmaster 1 7200 900 1209600 300\n\
@ NS ns1\n\
ns1 A 192.0.2.53\n\
3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:123@example.net!\" .\n\
4.4 NS ns.tier3.example.\n";

/// A query for `name` (text, absolute) and `qtype` with an OPT record carrying `options`
/// (code, data), and the given EDNS version.
fn with_options(
    id: u16,
    name: &str,
    qtype: u16,
    version: u8,
    options: &[(u16, Vec<u8>)],
) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(u8::try_from(label.len()).unwrap());
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    let mut rdata = Vec::new();
    for (code, data) in options {
        rdata.extend_from_slice(&code.to_be_bytes());
        rdata.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        rdata.extend_from_slice(data);
    }
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, version, 0, 0]);
    m.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
    m.extend_from_slice(&rdata);
    m
}

/// The options of a response's OPT record, or None if it has none.
fn options_of(r: &Response) -> Option<Vec<(u16, Vec<u8>)>> {
    let opt = r.additional.iter().find(|rr| rr.rtype == 41)?;
    let mut out = Vec::new();
    let mut d = &opt.rdata[..];
    while !d.is_empty() {
        let len = usize::from(u16::from_be_bytes([d[2], d[3]]));
        out.push((u16::from_be_bytes([d[0], d[1]]), d[4..4 + len].to_vec()));
        d = &d[4 + len..];
    }
    Some(out)
}

fn nsid_of(r: &Response) -> Option<Vec<u8>> {
    options_of(r)?
        .into_iter()
        .find(|(c, _)| *c == 3)
        .map(|(_, d)| d)
}

fn cookie_of(r: &Response) -> Option<Vec<u8>> {
    options_of(r)?
        .into_iter()
        .find(|(c, _)| *c == 10)
        .map(|(_, d)| d)
}

const NSID: (u16, Vec<u8>) = (3, Vec::new());

#[test]
fn nsid_is_sent_only_when_asked_over_udp_and_tcp_on_every_kind_of_answer() {
    let s = TestServer::start_with("nsid = \"lab-1\"", &[("e164.arpa.", ZONE_WITH_CUT)]);
    // An answer, NXDOMAIN, a referral, NODATA, REFUSED (another zone), BADVERS, NOTIMP-free.
    let cases = [
        ("3.2.1.e164.arpa.", 35, 0, 0),
        ("9.9.e164.arpa.", 35, 0, 3),
        ("1.4.4.e164.arpa.", 35, 0, 0),
        ("3.2.1.e164.arpa.", 1, 0, 0),
        ("example.com.", 1, 0, 5),
        ("3.2.1.e164.arpa.", 35, 1, 0),
    ];
    for (name, qtype, version, rcode) in cases {
        let asked = with_options(1, name, qtype, version, &[NSID]);
        let plain = with_options(2, name, qtype, version, &[]);
        for (transport, send) in [("udp", 0), ("tcp", 1)] {
            let ask = |q: &[u8]| {
                let reply = if send == 0 {
                    s.udp_raw(q)
                } else {
                    s.tcp_raw(q)
                };
                decode(&reply.expect("a reply")).expect("decodes")
            };
            let what = format!("{name} type {qtype} version {version} over {transport}");
            let r = ask(&asked);
            // BADVERS is 16: 0 in the header, 1 in the OPT's extended RCODE.
            assert_eq!(r.rcode(), rcode, "{what}");
            assert_eq!(nsid_of(&r), Some(b"lab-1".to_vec()), "{what}");
            let r = ask(&plain);
            assert_eq!(options_of(&r), Some(vec![]), "{what}: not asked, not sent");
        }
    }
    // A referral really is one.
    let r = decode(
        &s.udp_raw(&with_options(3, "1.4.4.e164.arpa.", 35, 0, &[NSID]))
            .unwrap(),
    )
    .unwrap();
    assert!(!r.aa() && r.authority.iter().any(|rr| rr.rtype == 2));
    // Not configured: not sent even when asked.
    let s = TestServer::start(&[("e164.arpa.", ZONE_WITH_CUT)]);
    let r = decode(
        &s.udp_raw(&with_options(4, "3.2.1.e164.arpa.", 35, 0, &[NSID]))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(options_of(&r), Some(vec![]));
}

/// Runs dig against the server; its output.
fn dig(s: &TestServer, args: &[&str]) -> String {
    let out = std::process::Command::new("dig")
        .arg(format!("@{}", s.addr.ip()))
        .args([
            "-p",
            &s.addr.port().to_string(),
            "+norec",
            "+time=2",
            "+tries=1",
        ])
        .args(args)
        .output()
        .expect("dig (apt-get install bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `; COOKIE: … (good)` line of dig's output: the cookie, and whether dig found it good.
fn dig_cookie(out: &str) -> Option<(String, bool)> {
    let line = out.lines().find(|l| l.starts_with("; COOKIE: "))?;
    let rest = &line["; COOKIE: ".len()..];
    let (hex, verdict) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((hex.to_string(), verdict.contains("good")))
}

#[test]
fn dig_gets_a_server_cookie_and_it_is_accepted_on_the_next_query() {
    let s = TestServer::start_with("nsid = \"lab-1\"", &[("e164.arpa.", ZONE)]);
    let out = dig(&s, &["+cookie", "+nsid", "3.2.1.e164.arpa.", "NAPTR"]);
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains("; NSID: 6c 61 62 2d 31 (\"lab-1\")"), "{out}");
    let (first, good) = dig_cookie(&out).unwrap_or_else(|| panic!("no cookie: {out}"));
    assert!(good, "dig checks the client cookie came back: {out}");
    // Client cookie (8 bytes), then version 1, reserved 0, the time, the hash: 24 bytes.
    assert_eq!(first.len(), 48, "{first}");
    assert_eq!(&first[16..24], "01000000", "{first}");
    let stamp = u64::from_str_radix(&first[24..32], 16).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(stamp) < 60, "timestamp {stamp}, now {now}");
    // Sent back a second later, it is recognised: the same server cookie returns, not one
    // made now (which within the same second would look the same).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = dig(
        &s,
        &[&format!("+cookie={first}"), "3.2.1.e164.arpa.", "NAPTR"],
    );
    assert_eq!(dig_cookie(&again), Some((first.clone(), true)), "{again}");
    // Over TCP too.
    let tcp = dig(
        &s,
        &[
            "+tcp",
            &format!("+cookie={first}"),
            "3.2.1.e164.arpa.",
            "NAPTR",
        ],
    );
    assert_eq!(dig_cookie(&tcp), Some((first.clone(), true)), "{tcp}");
    // A server cookie that is not ours gets a fresh one, and a normal answer.
    let mut forged = first.clone();
    forged.replace_range(40..48, "00000000");
    let out = dig(
        &s,
        &[&format!("+cookie={forged}"), "3.2.1.e164.arpa.", "NAPTR"],
    );
    assert!(
        out.contains("status: NOERROR") && out.contains("ANSWER: 1"),
        "{out}"
    );
    let (fresh, _) = dig_cookie(&out).unwrap();
    assert_eq!(&fresh[..16], &first[..16]);
    assert_ne!(&fresh[40..], &forged[40..], "{out}");
}

#[test]
fn a_configured_secret_is_shared_by_servers_and_cookies_can_be_turned_off() {
    let secret = "cookie_secret = \"e5e973e5a6b2a43f48e7dc849e37bfcf\"";
    let a = TestServer::start_with(secret, &[("e164.arpa.", ZONE)]);
    let b = TestServer::start_with(secret, &[("e164.arpa.", ZONE)]);
    let q = with_options(
        1,
        "3.2.1.e164.arpa.",
        35,
        0,
        &[(10, vec![1, 2, 3, 4, 5, 6, 7, 8])],
    );
    let from_a = cookie_of(&decode(&a.udp_raw(&q).unwrap()).unwrap()).unwrap();
    // Server b, sharing the secret, echoes a's cookie a second later: it recognises it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let full = with_options(2, "3.2.1.e164.arpa.", 35, 0, &[(10, from_a.clone())]);
    assert_eq!(
        cookie_of(&decode(&b.udp_raw(&full).unwrap()).unwrap()),
        Some(from_a.clone())
    );
    // A server with its own random secret does not.
    let c = TestServer::start(&[("e164.arpa.", ZONE)]);
    let from_c = cookie_of(&decode(&c.udp_raw(&full).unwrap()).unwrap()).unwrap();
    assert_eq!(from_c[..8], from_a[..8]);
    assert_ne!(from_c, from_a);
    // cookies = false: COOKIE options are ignored, as by a server without them.
    let off = TestServer::start_with("cookies = false", &[("e164.arpa.", ZONE)]);
    let r = decode(&off.udp_raw(&full).unwrap()).unwrap();
    assert_eq!((r.rcode(), options_of(&r)), (0, Some(vec![])));
}

/// dnspython sends the COOKIE options it is given; the script prints one line per query:
/// the RCODE, and the COOKIE option's data in hex or "-".
fn dnspython_cookies(s: &TestServer, lengths: &[usize]) -> Vec<String> {
    let script = format!(
        "import dns.message, dns.query, dns.edns, dns.rcode\n\
         for n in {lengths:?}:\n\
         \x20   q = dns.message.make_query('3.2.1.e164.arpa.', 'NAPTR', use_edns=0, options=[dns.edns.GenericOption(10, bytes(range(1, n + 1)))])\n\
         \x20   for r in (dns.query.udp(q, '127.0.0.1', port={port}, timeout=5), dns.query.tcp(q, '127.0.0.1', port={port}, timeout=5)):\n\
         \x20       c = [o for o in r.options if o.otype == 10]\n\
         \x20       print(n, dns.rcode.to_text(r.rcode()), r.edns, len(r.answer), c[0].to_wire().hex() if c else '-')\n",
        port = s.addr.port()
    );
    common::python_lines(&script)
}

#[test]
fn malformed_cookie_options_are_formerr_with_an_opt_record() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    let lengths = [0, 1, 7, 9, 12, 15, 41, 64, 8, 16, 40];
    let lines = dnspython_cookies(&s, &lengths);
    assert_eq!(lines.len(), 2 * lengths.len(), "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        let n = lengths[i / 2];
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f[0], n.to_string());
        if matches!(n, 8 | 16..=40) {
            // Well formed: a normal answer, the client cookie back with a fresh server cookie.
            assert_eq!((f[1], f[2], f[3]), ("NOERROR", "0", "1"), "{line}");
            let client: String = (1..=8).map(|b| format!("{b:02x}")).collect();
            assert!(f[4].starts_with(&client) && f[4].len() == 48, "{line}");
        } else {
            // RFC 7873 §5.2.2: FORMERR, still with an OPT record (EDNS 0) and no cookie.
            assert_eq!(
                (f[1], f[2], f[3], f[4]),
                ("FORMERR", "0", "0", "-"),
                "{line}"
            );
        }
    }
    // Cookies off: the option is not looked at.
    let off = TestServer::start_with("cookies = false", &[("e164.arpa.", ZONE)]);
    for line in dnspython_cookies(&off, &[7, 41]) {
        assert!(line.ends_with(" NOERROR 0 1 -"), "{line}");
    }
}

/// The EXPIRE option (RFC 7314) of a response, if it has one.
fn expire_of(r: &Response) -> Option<Vec<u8>> {
    options_of(r)?
        .into_iter()
        .find(|(c, _)| *c == 9)
        .map(|(_, d)| d)
}

#[test]
fn edns_expire_is_answered_with_the_soa_expire_of_a_primary_zone() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    let expire = (9, Vec::new());
    for (transport, reply) in [
        (
            "udp",
            s.udp_raw(&with_options(
                1,
                "e164.arpa.",
                6,
                0,
                std::slice::from_ref(&expire),
            )),
        ),
        (
            "tcp",
            s.tcp_raw(&with_options(
                2,
                "e164.arpa.",
                6,
                0,
                std::slice::from_ref(&expire),
            )),
        ),
    ] {
        let r = decode(&reply.expect("a reply")).unwrap();
        assert_eq!(
            expire_of(&r),
            Some(1_209_600u32.to_be_bytes().to_vec()),
            "{transport}: the SOA's EXPIRE"
        );
    }
    // Only with the SOA, and only when asked (RFC 7314 §3).
    let naptr = decode(
        &s.udp_raw(&with_options(3, "3.2.1.e164.arpa.", 35, 0, &[expire]))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(expire_of(&naptr), None);
    let unasked = decode(
        &s.udp_raw(&with_options(4, "e164.arpa.", 6, 0, &[]))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(expire_of(&unasked), None);
    let out = dig(&s, &["+expire", "SOA", "e164.arpa."]);
    assert!(out.contains("; EXPIRE: 1209600"), "{out}");
}
