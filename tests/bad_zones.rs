//! Zones at and past their limits, over real sockets and the real CLI: what loads is served
//! whole and exactly, what could never be served is refused with `file:line: reason`.

mod common;

use std::process::Command;

use common::wire::{Rr, decode};
use common::{TestServer, query, temp_dir};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

const HEAD: &str = "$TTL 60\n@ SOA ns hm 1 3600 900 1209600 300\n@ NS ns\nns A 192.0.2.53\n";

/// `enumd check` on one zone `x.test.` with this text: exit code and stdout.
fn check_zone(text: &str) -> (i32, String, std::path::PathBuf) {
    let dir = temp_dir("bad-zones");
    std::fs::write(dir.join("x.zone"), text).unwrap();
    let (code, out) = check_dir(&dir, "");
    (code, out, dir.join("x.zone"))
}

/// `enumd check` on the zone `x.test.` of `dir/x.zone`, with more lines for its `[[zone]]`.
fn check_dir(dir: &std::path::Path, zone_config: &str) -> (i32, String) {
    std::fs::write(
        dir.join("c.toml"),
        format!("[[zone]]\napex = \"x.test.\"\nfile = \"x.zone\"\n{zone_config}"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["check", "--config", dir.join("c.toml").to_str().unwrap()])
        .output()
        .expect("run enumd check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// A raw query over TCP, decoded strictly.
fn tcp(s: &TestServer, name: &str, rtype: RecordType) -> common::wire::Response {
    let q = query(name, rtype, Some(1232));
    let reply = s.tcp_raw(&q.to_vec().unwrap()).expect("TCP reply");
    decode(&reply).unwrap_or_else(|e| panic!("malformed response: {e}"))
}

fn txt_total(answers: &[Rr]) -> usize {
    answers.iter().map(|r| r.rdata.len()).sum()
}

#[test]
fn an_rrset_too_large_for_any_message_is_refused_not_cut() {
    // 65,541 records once loaded as "8 records" (the count was a u16) and dig saw 5. The least
    // response: header and question (16 + 12 octets of name), 65,541 × 12 octets of record
    // fields and 447,677 octets of RDATA.
    let mut text = HEAD.to_string();
    for i in 0..65_541 {
        text.push_str(&format!("big TXT \"r{i}\"\n"));
    }
    let (code, out, file) = check_zone(&text);
    assert_eq!(code, 1, "{out}");
    let file = file.display();
    assert_eq!(
        out,
        format!(
            "{file}:65545: TXT RRset of 65541 records needs at least 1234197 octets in a response: more than a DNS message holds (65535, RFC 1035 §4.2.2), so it could never be served\n\
             zone x.test.: 1 error(s), not loadable\n"
        )
    );
}

#[test]
fn large_rrsets_that_fit_are_served_whole_over_tcp() {
    let mut text = HEAD.to_string();
    for i in 0..3000 {
        text.push_str(&format!("many TXT \"r{i:04}\"\n"));
    }
    let s = TestServer::start(&[("x.test.", &text)]);
    let m = tcp(&s, "many.x.test.", RecordType::TXT);
    assert_eq!((m.rcode(), m.tc(), m.answer.len()), (0, false, 3000));
    let mut got: Vec<Vec<u8>> = m.answer.iter().map(|r| r.rdata.clone()).collect();
    got.sort();
    let want: Vec<Vec<u8>> = (0..3000)
        .map(|i| format!("\x05r{i:04}").into_bytes())
        .collect();
    assert_eq!(got, want);
    // Over UDP it cannot fit: TC with empty sections, so the client retries over TCP.
    let udp = s.ask("many.x.test.", RecordType::TXT);
    assert!(udp.metadata.truncation && udp.answers.is_empty());
}

#[test]
fn rdata_up_to_its_limit_is_served_byte_for_byte() {
    // 51,400 octets of TXT: 200 strings of 255 and one of 199. Its length once shared its top
    // bit with the template flag, and TCP carried an 18,286-octet message.
    let strings: Vec<String> = (0..201)
        .map(|i| {
            let len = if i < 200 { 255 } else { 199 };
            format!(
                "\"{}\"",
                char::from(b'a' + (i % 26) as u8).to_string().repeat(len)
            )
        })
        .collect();
    // And 40,000 octets in RFC 3597 form, the longest a type may have and still fit.
    let hex: String = (0..40_000u32).map(|i| format!("{:02x}", i % 251)).collect();
    let text = format!(
        "{HEAD}long TXT {}\nblob TYPE65300 \\# 40000 {hex}\n",
        strings.join(" ")
    );
    let (code, out, _) = check_zone(&text);
    assert_eq!(code, 0, "{out}");
    let s = TestServer::start(&[("x.test.", &text)]);
    let m = tcp(&s, "long.x.test.", RecordType::TXT);
    assert_eq!((m.rcode(), m.answer.len()), (0, 1));
    assert_eq!(txt_total(&m.answer), 51_400);
    let rdata = &m.answer[0].rdata;
    assert_eq!(&rdata[..2], &[255, b'a']);
    assert_eq!(rdata[200 * 256], 199);
    let m = tcp(&s, "blob.x.test.", RecordType::Unknown(65300));
    assert_eq!(m.answer.len(), 1);
    let want: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(m.answer[0].rdata, want);
}

#[test]
fn rdata_no_message_can_carry_is_refused() {
    let hex = "ab".repeat(65_500);
    let (code, out, file) = check_zone(&format!("{HEAD}blob TYPE65300 \\# 65500 {hex}\n"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with(&format!(
            "{}:5: TYPE65300 RRset of 1 record needs at least 65541 octets in a response",
            file.display()
        )),
        "{out}"
    );
}

#[test]
fn cname_loops_answer_each_cname_once_and_warn() {
    let text = format!("{HEAD}5 CNAME 6\n6 CNAME 5\n1 CNAME 2\n2 CNAME 3\n3 CNAME 1\n");
    let (code, out, file) = check_zone(&text);
    assert_eq!(code, 0, "{out}");
    let file = file.display();
    assert_eq!(
        out,
        format!(
            "{file}:5: warning: CNAME loop: 5.x.test. → 6.x.test. → 5.x.test.: answers give each CNAME once and end there [cname-loop] (RFC 1034 §3.6.2)\n\
             {file}:7: warning: CNAME loop: 1.x.test. → 2.x.test. → 3.x.test. → 1.x.test.: answers give each CNAME once and end there [cname-loop] (RFC 1034 §3.6.2)\n\
             zone x.test.: ok, serial 1, 7 names, 8 records, 0 numbers, 2 warning(s) ({file})\n"
        )
    );
    let s = TestServer::start(&[("x.test.", &text)]);
    // As NSD answers: two CNAMEs for the two-name loop, three for the three-name one.
    for (name, owners) in [
        ("5.x.test.", vec!["5.x.test.", "6.x.test."]),
        ("1.x.test.", vec!["1.x.test.", "2.x.test.", "3.x.test."]),
    ] {
        let m = s.ask(name, RecordType::NAPTR);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        let got: Vec<String> = m.answers.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(got, owners, "{name}");
        assert!(
            m.answers
                .iter()
                .all(|r| r.record_type() == RecordType::CNAME)
        );
    }
}

#[test]
fn a_zone_that_never_loaded_answers_servfail() {
    // e164.arpa. loads; its child 4.4.e164.arpa. is broken, so its names are SERVFAIL, not
    // answered from the parent and not REFUSED; names outside both stay REFUSED.
    let parent = "$TTL 60\n@ SOA ns hm 1 3600 900 1209600 300\n@ NS ns\nns A 192.0.2.53\n";
    let broken = "$TTL 60\n@ SOA ns hm 1 3600 900 1209600 300\n1 NAPTR 10 oops\n";
    let s = TestServer::start(&[("e164.arpa.", parent), ("4.4.e164.arpa.", broken)]);
    for (name, rcode, aa) in [
        ("1.4.4.e164.arpa.", ResponseCode::ServFail, false),
        ("4.4.e164.arpa.", ResponseCode::ServFail, false),
        ("3.4.e164.arpa.", ResponseCode::NXDomain, true),
        ("example.com.", ResponseCode::Refused, false),
    ] {
        let m = s.ask(name, RecordType::NAPTR);
        assert_eq!(m.metadata.response_code, rcode, "{name}");
        assert_eq!(m.metadata.authoritative, aa, "{name}");
        let m = s.tcp(&query(name, RecordType::SOA, None));
        assert_eq!(m.metadata.response_code, rcode, "{name} over TCP");
    }
}

#[test]
fn a_missing_file_is_one_error_once() {
    // No x.zone in the directory.
    let dir = temp_dir("missing");
    let (code, out) = check_dir(&dir, "");
    assert_eq!(
        out,
        format!(
            "{}: cannot open: No such file or directory\nzone x.test.: 1 error(s), not loadable\n",
            dir.join("x.zone").display()
        )
    );
    assert_eq!(code, 1);
    // A broken SOA is the one error too, not also "no SOA".
    let (code, out, file) = check_zone("$TTL 60\n@ SOA ns hm one 2 3 4 5\n");
    assert_eq!(code, 1);
    assert_eq!(
        out,
        format!(
            "{}:2: SOA record: bad serial 'one'\nzone x.test.: 1 error(s), not loadable\n",
            file.display()
        )
    );
}

#[test]
fn dnssec_and_other_listed_types_load_from_their_text_form() {
    let text = format!(
        "{HEAD}\
         tier3 NS ns.tier3.example.\n\
         tier3 DS 12345 ECDSAP256SHA256 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE 4E7C7D5C8B3A8E7F3C2D1E0F9A8B7C6D\n\
         @ DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n\
         @ CAA 0 issue \"ca.example.net\"\n\
         _5060._tcp.sip TLSA 3 1 1 d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971\n\
         ns SSHFP 4 2 123456789abcdef67890123456789abcdef67890123456789abcdef123456789\n"
    );
    let (code, out, _) = check_zone(&text);
    assert_eq!(code, 0, "{out}");
    let s = TestServer::start(&[("x.test.", &text)]);
    let hex = |h: &str| -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    // DS at the cut is the parent's: answered, authoritatively (RFC 4035 §3.1.4.1).
    let m = tcp(&s, "tier3.x.test.", RecordType::DS);
    assert!(m.aa());
    let mut want = vec![0x30, 0x39, 13, 2];
    want.extend(hex(
        "49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE4E7C7D5C8B3A8E7F3C2D1E0F9A8B7C6D",
    ));
    assert_eq!(m.answer.len(), 1);
    assert_eq!((m.answer[0].rtype, &m.answer[0].rdata), (43, &want));
    let m = tcp(&s, "x.test.", RecordType::CAA);
    assert_eq!(m.answer[0].rdata, b"\x00\x05issueca.example.net".to_vec());
    let m = tcp(&s, "_5060._tcp.sip.x.test.", RecordType::TLSA);
    let mut want = vec![3, 1, 1];
    want.extend(hex(
        "d2abde240d7cd3ee6b4b28c54df034b97983a1d16e8a410e4561cb106618e971",
    ));
    assert_eq!(m.answer[0].rdata, want);
    let m = tcp(&s, "x.test.", RecordType::DNSKEY);
    assert_eq!(&m.answer[0].rdata[..4], &[1, 1, 3, 13]);
    assert_eq!(m.answer[0].rdata.len(), 4 + 64);
    let m = tcp(&s, "ns.x.test.", RecordType::SSHFP);
    assert_eq!(&m.answer[0].rdata[..2], &[4, 2]);
}

#[test]
fn records_that_differ_only_in_the_case_of_their_names_are_one_record() {
    // As BIND and NSD compare them (RFC 4343 §3): one NS, and one CNAME rather than two,
    // spelled as the record read first.
    let text = format!(
        "{HEAD}@ NS NS\n@ NS ns.X.test.\nc CNAME TARGET.example.\nc CNAME target.example.\n"
    );
    let (code, out, _) = check_zone(&text);
    assert_eq!(code, 0, "{out}");
    let s = TestServer::start(&[("x.test.", &text)]);
    let m = tcp(&s, "x.test.", RecordType::NS);
    assert_eq!(m.answer.len(), 1, "{:?}", m.answer);
    assert_eq!(
        m.answer[0].rdata,
        b"\x02ns\x01x\x04test\x00".to_vec(),
        "the first read stays"
    );
    let m = tcp(&s, "c.x.test.", RecordType::CNAME);
    assert_eq!(m.answer.len(), 1);
    assert_eq!(m.answer[0].rdata, b"\x06TARGET\x07example\x00".to_vec());
}

#[test]
fn the_record_read_first_is_first_across_includes() {
    // a.inc (line 4's $INCLUDE) is read before line 5 of the zone file: its TTL is the RRset's.
    let dir = temp_dir("first-read");
    std::fs::write(dir.join("a.inc"), "x 120 TXT \"from a.inc\"\n").unwrap();
    std::fs::write(
        dir.join("x.zone"),
        format!("{HEAD}$INCLUDE a.inc\nx 60 TXT \"from x.zone\"\n"),
    )
    .unwrap();
    let (_, out) = check_dir(&dir, "");
    assert!(
        out.contains(":6: warning: x.x.test. TXT \"from x.zone\": TTL 60 differs from the TTL 120 of the same RRset read first: 120 is used"),
        "{out}"
    );
}

#[test]
fn max_records_bounds_what_includes_can_multiply() {
    // 64 × 64 openings of a 100-record file: 409,600 records from 6 KB of files.
    let dir = temp_dir("fan");
    let leaf: String = (0..100).map(|i| format!("r{i} TXT \"x\"\n")).collect();
    std::fs::write(dir.join("leaf.inc"), leaf).unwrap();
    std::fs::write(dir.join("mid.inc"), "$INCLUDE leaf.inc\n".repeat(64)).unwrap();
    std::fs::write(
        dir.join("x.zone"),
        format!("{HEAD}{}", "$INCLUDE mid.inc\n".repeat(64)),
    )
    .unwrap();
    let (code, out) = check_dir(&dir, "max_records = 100000\n");
    assert_eq!(code, 1);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(
        // HEAD's 3 records and 999 leaves of 100: the 100,001st record is line 98 of a leaf.
        out.contains("leaf.inc:98: zone too large: more than 100000 records read (max_records); raise it or split the zone"),
        "{out}"
    );
    assert!(
        out.ends_with("zone x.test.: 1 error(s), not loadable\n"),
        "{out}"
    );
}

#[test]
fn rrsets_that_fit_once_names_are_compressed_load() {
    // 2,900 NS names of 18 octets: 84,000 octets written out, about 61,000 compressed.
    let mut text = HEAD.to_string();
    for i in 0..2900 {
        text.push_str(&format!("@ NS ns{i:04}.x.test.\n"));
    }
    let (code, out, _) = check_zone(&text);
    assert_eq!(code, 0, "{out}");
    let s = TestServer::start(&[("x.test.", &text)]);
    let m = tcp(&s, "x.test.", RecordType::NS);
    assert_eq!((m.rcode(), m.tc(), m.answer.len()), (0, false, 2901));
}
