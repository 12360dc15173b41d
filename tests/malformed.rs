//! Malformed requests get FORMERR or silence, and the server keeps answering.

mod common;

use common::{TestServer, query};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

const ZONE: &str = "$TTL 60\n@ SOA ns hm 1 2 3 4 60\n@ NS ns.example.\n1 NAPTR 1 1 \"u\" \"E2U+sip\" \"!^.*$!sip:a@b!\" .\n";

fn still_answers(s: &TestServer) {
    let m = s.ask("1.e164.arpa.", RecordType::NAPTR);
    assert_eq!(m.answers.len(), 1, "server still answers");
}

/// A header: ID 0x1234, RD, the given counts.
fn header(qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut h = vec![0x12, 0x34, 0x01, 0x00];
    for c in [qd, an, ns, ar] {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

fn question(name: &[u8]) -> Vec<u8> {
    let mut q = name.to_vec();
    q.extend_from_slice(&[0, 35, 0, 1]);
    q
}

const QNAME: &[u8] = b"\x011\x04e164\x04arpa\x00";

fn rcode_of(reply: &[u8]) -> u8 {
    reply[3] & 0x0f
}

#[test]
fn too_short_for_a_header_is_dropped() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    assert_eq!(s.udp_raw(&[0x12, 0x34, 0x01]), None);
    assert_eq!(s.udp_raw(&[]), None);
    still_answers(&s);
}

#[test]
fn truncated_question_is_formerr() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    let mut p = header(1, 0, 0, 0);
    p.extend_from_slice(&question(QNAME)[..7]);
    let r = s.udp_raw(&p).expect("FORMERR reply");
    assert_eq!(&r[..2], &[0x12, 0x34]);
    assert_eq!(rcode_of(&r), 1);
    assert_eq!(r[2] & 0x80, 0x80, "QR set");
    still_answers(&s);
}

#[test]
fn garbage_is_formerr_or_dropped() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    // Deterministic pseudo-random packets of many lengths.
    let mut x: u32 = 0x9e37_79b9;
    for len in 0..300 {
        let mut p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        if len > 2 {
            p[2] &= 0x7f; // a query, so that it may be answered
        }
        if let Some(r) = s.udp_raw(&p) {
            assert_eq!(&r[..2], &p[..2], "reply carries the ID");
            assert!(r[2] & 0x80 != 0);
        }
    }
    still_answers(&s);
}

#[test]
fn qdcount_zero_and_two_are_formerr() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    let r = s.udp_raw(&header(0, 0, 0, 0)).expect("reply");
    assert_eq!(rcode_of(&r), 1);
    let mut p = header(2, 0, 0, 0);
    p.extend_from_slice(&question(QNAME));
    p.extend_from_slice(&question(QNAME));
    let r = s.udp_raw(&p).expect("reply");
    assert_eq!(rcode_of(&r), 1);
    let m = Message::from_vec(&r).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    still_answers(&s);
}

#[test]
fn compression_pointer_loop_is_formerr() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    // The question name is a pointer to itself (offset 12).
    let mut p = header(1, 0, 0, 0);
    p.extend_from_slice(&[0xc0, 12, 0, 35, 0, 1]);
    let r = s.udp_raw(&p).expect("reply");
    assert_eq!(rcode_of(&r), 1);
    // Two labels pointing at each other.
    let mut p = header(1, 0, 0, 0);
    p.extend_from_slice(&[1, b'a', 0xc0, 16, 1, b'b', 0xc0, 12, 0, 35, 0, 1]);
    let r = s.udp_raw(&p).expect("reply");
    assert_eq!(rcode_of(&r), 1);
    // Over TCP as well.
    let mut p = header(1, 0, 0, 0);
    p.extend_from_slice(&[0xc0, 12, 0, 35, 0, 1]);
    let r = s.tcp_raw(&p).expect("reply");
    assert_eq!(rcode_of(&r), 1);
    still_answers(&s);
}

#[test]
fn responses_are_never_answered() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    let mut p = header(1, 0, 0, 0);
    p[2] |= 0x80;
    p.extend_from_slice(&question(QNAME));
    assert_eq!(s.udp_raw(&p), None);
    still_answers(&s);
}

#[test]
fn bad_opt_record_is_formerr() {
    let s = TestServer::start(&[("e164.arpa.", ZONE)]);
    // Additional count says 1 but the OPT record is cut short.
    let mut p = header(1, 0, 0, 1);
    p.extend_from_slice(&question(QNAME));
    p.extend_from_slice(&[0, 0, 41, 0x04]);
    let r = s.udp_raw(&p).expect("reply");
    assert_eq!(rcode_of(&r), 1);
    // Two OPT records.
    let mut q = query("1.e164.arpa.", RecordType::NAPTR, Some(1232))
        .to_vec()
        .unwrap();
    let opt = q[q.len() - 11..].to_vec();
    q.extend_from_slice(&opt);
    q[11] = 2;
    let r = s.udp_raw(&q).expect("reply");
    assert_eq!(rcode_of(&r), 1);
    still_answers(&s);
}

#[test]
fn tcp_frames_are_answered_in_turn_and_idle_connections_closed() {
    use std::io::{Read, Write};
    let s = TestServer::start_with("tcp_idle_timeout = 1", &[("e164.arpa.", ZONE)]);
    let mut c = std::net::TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    // Two queries in one write (pipelined), answered in order.
    let mut both = Vec::new();
    for id in [7u16, 8] {
        let mut q = query("1.e164.arpa.", RecordType::NAPTR, None);
        q.metadata.id = id;
        let b = q.to_vec().unwrap();
        both.extend_from_slice(&u16::try_from(b.len()).unwrap().to_be_bytes());
        both.extend_from_slice(&b);
    }
    c.write_all(&both).unwrap();
    for id in [7u16, 8] {
        let mut len = [0; 2];
        c.read_exact(&mut len).unwrap();
        let mut buf = vec![0; u16::from_be_bytes(len) as usize];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(Message::from_vec(&buf).unwrap().metadata.id, id);
    }
    // Idle past the timeout: the server closes (read returns 0).
    let mut rest = [0; 1];
    let started = std::time::Instant::now();
    assert_eq!(c.read(&mut rest).unwrap(), 0);
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

#[test]
fn tcp_connections_beyond_the_cap_wait() {
    use std::io::{Read, Write};
    let s = TestServer::start_with(
        "tcp_max_connections = 1\ntcp_idle_timeout = 30",
        &[("e164.arpa.", ZONE)],
    );
    let ask = |c: &mut std::net::TcpStream| -> bool {
        let q = query("1.e164.arpa.", RecordType::NAPTR, None)
            .to_vec()
            .unwrap();
        let mut f = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(&q);
        c.write_all(&f).unwrap();
        let mut len = [0; 2];
        c.read_exact(&mut len).is_ok()
    };
    let mut first = std::net::TcpStream::connect(s.addr).unwrap();
    assert!(ask(&mut first));
    let mut second = std::net::TcpStream::connect(s.addr).unwrap();
    second
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    assert!(
        !ask(&mut second),
        "second connection waits while the first is open"
    );
    drop(first);
    second
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut len = [0; 2];
    second
        .read_exact(&mut len)
        .expect("answered once the first closed");
}
