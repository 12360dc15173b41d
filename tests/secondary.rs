//! enumd as a secondary (the real binary, its log read) of a scripted primary on 127.0.0.1:
//! a primary that can answer AXFR and IXFR as a real one does, or break them the ways real
//! networks and real primaries do (a connection cut midway, a bad MAC in the third message,
//! an IXFR that deletes a record that is not there, a serial that went down), or fall silent.
//! The real primaries (Knot DNS, BIND) are in `tests/secondary_interop.py`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use common::child::{ChildServer, ask};
use enumd::config::Key;
use enumd::name;
use enumd::xfr::message::Message;
use enumd::xfr::tsig::{self, Algorithm, Verdict};

const SECRET: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
const AXFR: u16 = 252;
const IXFR: u16 = 251;
const SOA: u16 = 6;
const NAPTR: u16 = 35;

fn key() -> Key {
    Key {
        name: wire("xfr."),
        algorithm: Algorithm::HmacSha256,
        secret: b"secretsecretsecretsecret".to_vec(),
    }
}

fn wire(text: &str) -> Vec<u8> {
    name::parse(text.as_bytes(), name::ROOT).expect("name")
}

fn rr(owner: &str, rtype: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
    let mut r = wire(owner);
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&ttl.to_be_bytes());
    r.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

/// The SOA record of `e164.arpa.` with `serial` and the timers given.
fn soa(serial: u32, refresh: u32, retry: u32, expire: u32) -> Vec<u8> {
    let mut d = wire("ns1.e164.arpa.");
    d.extend_from_slice(&wire("hostmaster.example.net."));
    for v in [serial, refresh, retry, expire, 60] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    rr("e164.arpa.", SOA, 3600, &d)
}

fn owner_of(i: usize) -> String {
    let digits = format!("4420{i:06}");
    let mut s: String = digits.chars().rev().flat_map(|c| [c, '.']).collect();
    s.push_str("e164.arpa.");
    s
}

/// Number `i`'s NAPTR.
fn naptr(i: usize) -> Vec<u8> {
    let mut d = vec![0, 10, 0, 100];
    for s in [
        "u".to_string(),
        "E2U+sip".to_string(),
        format!("!^.*$!sip:+4420{i:06}@sip.example.net!"),
    ] {
        d.push(u8::try_from(s.len()).unwrap());
        d.extend_from_slice(s.as_bytes());
    }
    d.push(0);
    rr(&owner_of(i), NAPTR, 300, &d)
}

/// The zone at `serial`: SOA, NS, glue, and numbers `0..numbers` (without the closing SOA).
fn zone(serial: u32, timers: (u32, u32, u32), numbers: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    let mut z = vec![
        soa(serial, timers.0, timers.1, timers.2),
        rr("e164.arpa.", 2, 3600, &wire("ns1.e164.arpa.")),
        rr("ns1.e164.arpa.", 1, 3600, &[192, 0, 2, 1]),
    ];
    z.extend(numbers.map(naptr));
    z
}

/// What the scripted primary answers, and what it was asked.
#[derive(Default)]
struct Script {
    serial: u32,
    /// AXFR's records, the SOA first (the closing SOA is added).
    zone: Vec<Vec<u8>>,
    /// IXFR's records, whole (first and last SOA included); None: answered AXFR-style.
    ixfr: Option<Vec<Vec<u8>>>,
    refuse_axfr: bool,
    refuse_ixfr: bool,
    /// Records per message.
    per_message: usize,
    /// Sign every nth message only (and the last), as RFC 8945 §5.3.1 allows.
    sign_every: usize,
    /// Close the connection after this many messages.
    cut_after: Option<usize>,
    /// Spoil the MAC of this message (0: the first).
    bad_mac_at: Option<usize>,
    /// Answer nothing at all.
    silent: bool,
    /// The EDNS EXPIRE (RFC 7314) sent back to SOA queries that ask, as a primary that is
    /// itself a secondary does.
    expire_option: Option<u32>,
    /// SOA queries that carried an EXPIRE option.
    expire_asked: usize,
    /// Each transfer request: its type, and for IXFR the serial asked from.
    asked: Vec<(u16, Option<u32>)>,
}

struct Primary {
    addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Primary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Primary {
    fn start(script: Script) -> Self {
        let (tcp, udp) = loop {
            let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
            if let Ok(udp) = UdpSocket::bind(tcp.local_addr().unwrap()) {
                break (tcp, udp);
            }
        };
        let addr = tcp.local_addr().unwrap();
        let script = Arc::new(Mutex::new(script));
        let stop = Arc::new(AtomicBool::new(false));
        udp.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let (s, st) = (script.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = udp.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(answer) = answer_soa(&buf[..n], &mut s.lock().unwrap()) {
                    let _ = udp.send_to(&answer, from);
                }
            }
        });
        tcp.set_nonblocking(true).unwrap();
        let (s, st) = (script.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match tcp.accept() {
                    Ok((conn, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve_transfer(conn, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self { addr, script, stop }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Script) -> T) -> T {
        f(&mut self.script.lock().unwrap())
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The request's signer; None when it is not signed with our key.
fn signer(raw: &[u8]) -> Option<(Message, tsig::Signer)> {
    let msg = Message::parse(raw).ok()?;
    match tsig::verify(raw, &msg, &[key()], now()) {
        Verdict::Signed(s) => Some((msg, s)),
        _ => None,
    }
}

/// An answer's header and question: ID, QR and AA, the RCODE, `ancount` records to follow.
fn head(msg: &Message, rcode: u8, ancount: usize) -> Vec<u8> {
    let mut m = msg.id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x84, rcode, 0, 1]);
    m.extend_from_slice(&u16::try_from(ancount).unwrap().to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    let (qname, qtype, qclass) = &msg.question[0];
    m.extend_from_slice(qname);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&qclass.to_be_bytes());
    m
}

fn answer_soa(raw: &[u8], script: &mut Script) -> Option<Vec<u8>> {
    if script.silent {
        return None;
    }
    let (msg, s) = signer(raw)?;
    let mut m = head(&msg, 0, 1);
    m.extend_from_slice(&script.zone[0]);
    if msg.option(9).is_some() {
        script.expire_asked += 1;
        if let Some(v) = script.expire_option {
            m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 8, 0, 9, 0, 4]);
            m.extend_from_slice(&v.to_be_bytes());
            m[11] = 1;
        }
    }
    tsig::sign_response(&mut m, &s, 0, now());
    Some(m)
}

fn serve_transfer(mut conn: TcpStream, script: &Mutex<Script>) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut len = [0u8; 2];
    if conn.read_exact(&mut len).is_err() {
        return;
    }
    let mut raw = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if conn.read_exact(&mut raw).is_err() {
        return;
    }
    let Some((msg, s)) = signer(&raw) else {
        return;
    };
    let qtype = msg.question[0].1;
    let (records, refuse, per, sign_every, cut, bad) = {
        let mut sc = script.lock().unwrap();
        if sc.silent {
            return;
        }
        let from = msg.authority.first().map(|soa| {
            u32::from_be_bytes(soa.rdata[soa.rdata.len() - 20..][..4].try_into().unwrap())
        });
        sc.asked.push((qtype, from));
        let mut axfr = sc.zone.clone();
        axfr.push(sc.zone[0].clone());
        let (records, refuse) = if qtype == IXFR {
            (sc.ixfr.clone().unwrap_or(axfr), sc.refuse_ixfr)
        } else {
            (axfr, sc.refuse_axfr)
        };
        (
            records,
            refuse,
            sc.per_message.max(1),
            sc.sign_every.max(1),
            sc.cut_after,
            sc.bad_mac_at,
        )
    };
    let send = |conn: &mut TcpStream, m: &[u8]| {
        let mut framed = u16::try_from(m.len()).unwrap().to_be_bytes().to_vec();
        framed.extend_from_slice(m);
        conn.write_all(&framed)
    };
    if refuse {
        let mut m = head(&msg, 5, 0);
        tsig::sign_response(&mut m, &s, 0, now());
        let _ = send(&mut conn, &m);
        return;
    }
    let chunks: Vec<&[Vec<u8>]> = records.chunks(per).collect();
    let mut prior: Option<Vec<u8>> = None;
    let mut unsigned: Vec<u8> = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        if cut == Some(i) {
            return;
        }
        let mut m = head(&msg, 0, chunk.len());
        for r in *chunk {
            m.extend_from_slice(r);
        }
        let last = i + 1 == chunks.len();
        if i % sign_every == 0 || last {
            let mac = match &prior {
                None => tsig::sign_response(&mut m, &s, 0, now()),
                // The MAC covers the unsigned messages since the last signed one.
                Some(p) => tsig::sign_after_unsigned(&mut m, &key(), p, &unsigned, s.fudge, now()),
            };
            unsigned.clear();
            if bad == Some(i) {
                let at = m.len() - 7;
                m[at] ^= 0xff;
            }
            prior = Some(mac);
        } else {
            unsigned.extend_from_slice(&m);
        }
        if send(&mut conn, &m).is_err() {
            return;
        }
    }
}

/// The secondary's config: `e164.arpa.` from `primary`, signed with the key.
fn secondary_config(dir: &Path, primary: SocketAddr) -> std::path::PathBuf {
    let config = dir.join("enumd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\n\
             [[key]]\nname = \"xfr\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
             [[zone]]\napex = \"e164.arpa.\"\nprimaries = [\"{primary}\"]\nprimary_key = \"xfr\"\n"
        ),
    )
    .unwrap();
    config
}

fn naptr_answer(server: &ChildServer, i: usize) -> (ResponseCode, usize) {
    let m = ask(server.addr, &owner_of(i), RecordType::NAPTR).expect("an answer");
    (m.metadata.response_code, m.answers.len())
}

fn rcode_of(server: &ChildServer, name: &str) -> ResponseCode {
    ask(server.addr, name, RecordType::SOA)
        .expect("an answer")
        .metadata
        .response_code
}

/// Waits until the log has one more line containing `text` than `before`.
fn wait_logged(server: &ChildServer, text: &str, before: usize) -> String {
    server.wait_for(text, Duration::from_secs(20), || {
        server.logged(text).len() > before
    });
    server.logged(text).pop().unwrap()
}

/// A NOTIFY for `zone` from `from`, signed or not; the answer's RCODE.
fn notify(server: &ChildServer, from: &str, zone: &str, signed: bool) -> u8 {
    let sock = UdpSocket::bind(from).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut m = vec![0x4e, 0x01, 4 << 3 | 0x04, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&wire(zone));
    m.extend_from_slice(&[0, 6, 0, 1]);
    if signed {
        tsig::sign_request(&mut m, &key(), now(), 300);
    }
    sock.send_to(&m, server.addr).unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).expect("a NOTIFY answer");
    assert!(n >= 12 && buf[..2] == [0x4e, 0x01]);
    assert_eq!(buf[2] & 0xf8, 0x80 | 4 << 3, "QR and opcode NOTIFY");
    buf[3] & 0x0f
}

/// The EDNS EXPIRE (RFC 7314) `server` gives with its SOA of `e164.arpa.`, when asked.
fn expire_of(server: &ChildServer) -> Option<u32> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut q = vec![0x45, 0x58, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(&wire("e164.arpa."));
    q.extend_from_slice(&[
        0, 6, 0, 1, 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 4, 0, 9, 0, 0,
    ]);
    sock.send_to(&q, server.addr).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let msg = Message::parse(&buf[..n]).ok()?;
    let data = msg.option(9)?;
    Some(u32::from_be_bytes(data.try_into().ok()?))
}

fn serial(server: &ChildServer) -> Option<u32> {
    server.serial("e164.arpa.")
}

#[test]
fn takes_the_zone_by_axfr_then_follows_by_ixfr_on_notify() {
    // Refresh once an hour: only NOTIFY can make it transfer again within the test.
    let timers = (3600, 1, 600);
    let primary = Primary::start(Script {
        serial: 10,
        zone: zone(10, timers, 0..300),
        per_message: 40,
        sign_every: 3,
        ..Script::default()
    });
    let dir = common::temp_dir("secondary");
    let server = ChildServer::start(&secondary_config(&dir, primary.addr));
    server.wait_for("serial 10", Duration::from_secs(20), || {
        serial(&server) == Some(10)
    });
    assert_eq!(naptr_answer(&server, 7), (ResponseCode::NoError, 1));
    assert_eq!(primary.with(|s| s.asked.clone()), [(AXFR, None)]);
    let line = wait_logged(&server, "transfer in", 0);
    assert!(
        line.contains("kind=\"AXFR\"") && line.contains("records=304"),
        "{line}"
    );
    // The copy is written just after it serves, on a thread of its own.
    server.wait_for("the copy written", Duration::from_secs(20), || {
        !server.logged("zone file written").is_empty()
    });
    assert!(
        dir.join("state/e164.arpa.zone").exists(),
        "the copy is kept in state_dir"
    );

    // 10 → 11: number 0 goes, number 1000 comes; told by NOTIFY.
    primary.with(|s| {
        s.serial = 11;
        s.zone = zone(11, timers, 1..300);
        s.zone.push(naptr(1000));
        s.ixfr = Some(vec![
            soa(11, timers.0, timers.1, timers.2),
            soa(10, timers.0, timers.1, timers.2),
            naptr(0),
            soa(11, timers.0, timers.1, timers.2),
            naptr(1000),
            soa(11, timers.0, timers.1, timers.2),
        ]);
    });
    assert_eq!(
        notify(&server, "127.0.0.1:0", "e164.arpa.", true),
        0,
        "NOERROR from the primary"
    );
    server.wait_for("serial 11", Duration::from_secs(20), || {
        serial(&server) == Some(11)
    });
    assert_eq!(
        primary.with(|s| s.asked.clone()),
        [(AXFR, None), (IXFR, Some(10))]
    );
    assert_eq!(naptr_answer(&server, 0).0, ResponseCode::NXDomain);
    assert_eq!(naptr_answer(&server, 1000), (ResponseCode::NoError, 1));
    let line = wait_logged(&server, "transfer in", 1);
    assert!(line.contains("kind=\"IXFR\""), "{line}");

    // NOTIFY from elsewhere is refused; for a zone not served, NOTAUTH; without a question,
    // FORMERR.
    assert_eq!(
        notify(&server, "127.0.0.2:0", "e164.arpa.", false),
        5,
        "REFUSED"
    );
    assert_eq!(
        notify(&server, "127.0.0.1:0", "example.org.", false),
        9,
        "NOTAUTH"
    );
    assert_eq!(
        primary.with(|s| s.asked.len()),
        2,
        "a refused NOTIFY starts no transfer"
    );
}

#[test]
fn broken_transfers_leave_the_old_version_serving() {
    // Refresh every second: each broken script is tried at once.
    let timers = (1, 1, 600);
    let primary = Primary::start(Script {
        serial: 10,
        zone: zone(10, timers, 0..200),
        per_message: 20,
        sign_every: 1,
        ..Script::default()
    });
    let dir = common::temp_dir("secondary-broken");
    let server = ChildServer::start(&secondary_config(&dir, primary.addr));
    server.wait_for("serial 10", Duration::from_secs(20), || {
        serial(&server) == Some(10)
    });
    let still_10 = |what: &str| {
        assert_eq!(serial(&server), Some(10), "{what}: the old version serves");
        assert_eq!(
            naptr_answer(&server, 5),
            (ResponseCode::NoError, 1),
            "{what}"
        );
        assert_eq!(
            naptr_answer(&server, 500).0,
            ResponseCode::NXDomain,
            "{what}"
        );
    };
    let next = |s: &mut Script| {
        s.serial = 11;
        s.zone = zone(11, timers, 0..200);
        s.zone.push(naptr(500));
    };

    // The connection cut after two messages of an AXFR (IXFR refused, so AXFR it is).
    let before = server.logged("the connection ended").len();
    primary.with(|s| {
        next(s);
        s.refuse_ixfr = true;
        s.cut_after = Some(2);
    });
    let line = wait_logged(&server, "the connection ended", before);
    assert!(
        line.contains("IXFR failed") || line.contains("refresh failed"),
        "{line}"
    );
    still_10("cut midway");

    // A bad MAC on the third message.
    let before = server.logged("MAC does not verify").len();
    primary.with(|s| {
        s.cut_after = None;
        s.bad_mac_at = Some(2);
    });
    let line = wait_logged(&server, "MAC does not verify", before);
    assert!(line.contains("message 3"), "{line}");
    still_10("bad MAC");

    // An IXFR that deletes a record that is not there; AXFR refused, so nothing else comes.
    let before = server.logged("not applied").len();
    primary.with(|s| {
        s.bad_mac_at = None;
        s.refuse_ixfr = false;
        s.refuse_axfr = true;
        s.ixfr = Some(vec![
            soa(11, timers.0, timers.1, timers.2),
            soa(10, timers.0, timers.1, timers.2),
            naptr(999),
            soa(11, timers.0, timers.1, timers.2),
            naptr(500),
            soa(11, timers.0, timers.1, timers.2),
        ]);
    });
    let line = wait_logged(&server, "not applied", before);
    assert!(
        line.contains("not there") || line.contains("not in"),
        "{line}"
    );
    still_10("IXFR that does not apply");

    // A primary whose serial went down.
    let before = server.logged("below ours").len();
    primary.with(|s| {
        s.refuse_axfr = false;
        s.serial = 9;
        s.zone = zone(9, timers, 0..10);
        s.ixfr = None;
    });
    wait_logged(&server, "below ours", before);
    still_10("a lower serial");

    // Repaired: the IXFR that does not apply is followed by AXFR, which does.
    primary.with(|s| {
        next(s);
        s.ixfr = Some(vec![
            soa(11, timers.0, timers.1, timers.2),
            soa(10, timers.0, timers.1, timers.2),
            naptr(999),
            soa(11, timers.0, timers.1, timers.2),
            soa(11, timers.0, timers.1, timers.2),
        ]);
    });
    server.wait_for("serial 11", Duration::from_secs(20), || {
        serial(&server) == Some(11)
    });
    assert_eq!(naptr_answer(&server, 500), (ResponseCode::NoError, 1));
    let asked = primary.with(|s| s.asked.clone());
    assert_eq!(
        asked.last(),
        Some(&(AXFR, None)),
        "fell back to AXFR: {asked:?}"
    );
}

#[test]
fn expires_without_a_primary_and_recovers() {
    let timers = (1, 1, 3);
    let primary = Primary::start(Script {
        serial: 10,
        zone: zone(10, timers, 0..20),
        per_message: 100,
        sign_every: 1,
        ..Script::default()
    });
    let dir = common::temp_dir("secondary-expire");
    let server = ChildServer::start(&secondary_config(&dir, primary.addr));
    server.wait_for("serial 10", Duration::from_secs(20), || {
        serial(&server) == Some(10)
    });
    let silent_at = Instant::now();
    primary.with(|s| s.silent = true);
    // Served until expire (3 s after the last refresh), SERVFAIL after.
    assert_eq!(rcode_of(&server, "e164.arpa."), ResponseCode::NoError);
    server.wait_for("SERVFAIL", Duration::from_secs(20), || {
        rcode_of(&server, "e164.arpa.") == ResponseCode::ServFail
    });
    assert!(
        silent_at.elapsed() >= Duration::from_secs(1),
        "not before expire"
    );
    assert_eq!(server.logged("expired").len(), 1);
    primary.with(|s| s.silent = false);
    server.wait_for("served again", Duration::from_secs(20), || {
        rcode_of(&server, "e164.arpa.") == ResponseCode::NoError
    });
    assert_eq!(naptr_answer(&server, 3), (ResponseCode::NoError, 1));
    assert_eq!(server.logged("served again").len(), 1);
}

#[test]
fn a_restart_serves_the_stored_copy_at_once_and_asks_for_what_it_missed() {
    let timers = (3600, 1, 600);
    let primary = Primary::start(Script {
        serial: 10,
        zone: zone(10, timers, 0..50),
        per_message: 100,
        sign_every: 1,
        ..Script::default()
    });
    let dir = common::temp_dir("secondary-restart");
    let config = secondary_config(&dir, primary.addr);
    let server = ChildServer::start(&config);
    server.wait_for("serial 10", Duration::from_secs(20), || {
        serial(&server) == Some(10)
    });
    server.wait_for("the copy written", Duration::from_secs(20), || {
        !server.logged("zone file written").is_empty()
    });
    drop(server);

    // The primary moves on while the secondary is down, and is silent as it comes back.
    primary.with(|s| {
        s.silent = true;
        s.serial = 11;
        s.zone = zone(11, timers, 0..51);
        s.ixfr = Some(vec![
            soa(11, timers.0, timers.1, timers.2),
            soa(10, timers.0, timers.1, timers.2),
            soa(11, timers.0, timers.1, timers.2),
            naptr(50),
            soa(11, timers.0, timers.1, timers.2),
        ]);
    });
    let server = ChildServer::start(&config);
    assert_eq!(serial(&server), Some(10), "the stored copy serves at once");
    assert_eq!(naptr_answer(&server, 49), (ResponseCode::NoError, 1));
    primary.with(|s| s.silent = false);
    server.wait_for("serial 11", Duration::from_secs(30), || {
        serial(&server) == Some(11)
    });
    assert_eq!(naptr_answer(&server, 50), (ResponseCode::NoError, 1));
    let asked = primary.with(|s| s.asked.clone());
    assert_eq!(
        asked,
        [(AXFR, None), (IXFR, Some(10))],
        "only what it missed"
    );
    let soa = ask(server.addr, "e164.arpa.", RecordType::SOA).unwrap();
    assert!(matches!(&soa.answers[0].data, RData::SOA(s) if s.serial == 11));
}

#[test]
fn edns_expire_is_asked_for_answered_and_bounds_the_copy() {
    // The SOA says 600 s; the primary, itself a secondary, says its copy lasts 3 s more.
    let timers = (1, 1, 600);
    let primary = Primary::start(Script {
        serial: 10,
        zone: zone(10, timers, 0..20),
        per_message: 100,
        sign_every: 1,
        expire_option: Some(3),
        ..Script::default()
    });
    let dir = common::temp_dir("secondary-expire-option");
    let server = ChildServer::start(&secondary_config(&dir, primary.addr));
    server.wait_for("serial 10", Duration::from_secs(20), || {
        serial(&server) == Some(10)
    });
    assert!(
        primary.with(|s| s.expire_asked) > 0,
        "the SOA query asks for EXPIRE"
    );
    let left = expire_of(&server).expect("an EXPIRE option in the answer");
    assert!(
        left <= 3,
        "our copy lasts no longer than the primary's: {left}"
    );
    primary.with(|s| s.silent = true);
    let silent_at = Instant::now();
    server.wait_for("SERVFAIL", Duration::from_secs(20), || {
        rcode_of(&server, "e164.arpa.") == ResponseCode::ServFail
    });
    assert!(
        silent_at.elapsed() < Duration::from_secs(12),
        "expired by the primary's EXPIRE, not the SOA's 600 s"
    );
}

/// A small zone `lab.example.` at `serial`: SOA, NS and an address.
fn lab_zone(serial: u32) -> Vec<Vec<u8>> {
    let mut d = wire("ns.lab.example.");
    d.extend_from_slice(&wire("hostmaster.lab.example."));
    for v in [serial, 3600, 1, 600, 60] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    vec![
        rr("lab.example.", SOA, 3600, &d),
        rr("lab.example.", 2, 3600, &wire("ns.lab.example.")),
        rr(
            "ns.lab.example.",
            1,
            3600,
            &[192, 0, 2, u8::try_from(serial).unwrap()],
        ),
    ]
}

#[test]
fn a_silent_primary_holds_up_only_its_own_zone() {
    // e164.arpa.'s primary answers nothing: each refresh of it waits out its SOA query
    // (3 tries of 2 s). lab.example.'s, listed after it, answers at once.
    let silent = Primary::start(Script {
        silent: true,
        zone: zone(10, (3600, 1, 600), 0..1),
        ..Script::default()
    });
    let live = Primary::start(Script {
        serial: 1,
        zone: lab_zone(1),
        per_message: 10,
        sign_every: 1,
        ..Script::default()
    });
    let dir = common::temp_dir("secondary-two");
    let config = secondary_config(&dir, silent.addr);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[[zone]]\napex = \"lab.example.\"\nprimaries = [\"{}\"]\nprimary_key = \"xfr\"\n",
        live.addr
    ));
    std::fs::write(&config, text).unwrap();
    let server = ChildServer::start(&config);
    server.wait_for("lab.example. serial 1", Duration::from_secs(20), || {
        server.serial("lab.example.") == Some(1)
    });
    // A NOTIFY for it while the other zone still waits: taken at once too.
    live.with(|s| {
        s.serial = 2;
        s.zone = lab_zone(2);
    });
    assert_eq!(notify(&server, "127.0.0.1:0", "lab.example.", true), 0);
    server.wait_for("lab.example. serial 2", Duration::from_secs(20), || {
        server.serial("lab.example.") == Some(2)
    });
    assert!(
        server
            .logged("no primary could be refreshed from")
            .is_empty(),
        "both transfers of lab.example. came before e164.arpa.'s refresh gave up: {:?}",
        server.logged("refresh")
    );
    // And the silent zone's refresh does give up, and is retried.
    wait_logged(&server, "no primary could be refreshed from", 0);
    assert_eq!(rcode_of(&server, "e164.arpa."), ResponseCode::ServFail);
    assert_eq!(silent.with(|s| s.asked.len()), 0);
}

#[test]
fn ctl_retransfer_takes_the_whole_zone_again() {
    let primary = Primary::start(Script {
        serial: 10,
        zone: zone(10, (3600, 1, 600), 0..5),
        per_message: 10,
        sign_every: 1,
        ..Script::default()
    });
    let dir = common::temp_dir("secondary-retransfer");
    let config = secondary_config(&dir, primary.addr);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("control = \"ctl.sock\"\n{text}")).unwrap();
    let server = ChildServer::start(&config);
    server.wait_for("serial 10", Duration::from_secs(20), || {
        serial(&server) == Some(10)
    });
    // The primary's data changes without its serial (a restored backup, say): only a
    // retransfer brings it.
    primary.with(|s| s.zone = zone(10, (3600, 1, 600), 0..6));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["ctl", "--socket"])
        .arg(dir.join("ctl.sock"))
        .args(["retransfer", "e164.arpa."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    server.wait_for("a second AXFR", Duration::from_secs(20), || {
        primary.with(|s| s.asked.len()) == 2
    });
    // Whole again, though the serial is the same: an AXFR, not an IXFR from 10, and taken.
    assert_eq!(
        primary.with(|s| s.asked.clone()),
        [(AXFR, None), (AXFR, None)]
    );
    let line = wait_logged(&server, "transfer in", 1);
    assert!(
        line.contains("kind=\"AXFR\"") && line.contains("serial=10"),
        "{line}"
    );
    assert_eq!(naptr_answer(&server, 5), (ResponseCode::NoError, 1));
    server.wait_for("the copy written", Duration::from_secs(20), || {
        server.logged("zone file written").len() == 2
    });
    // What a restart serves is the retransferred copy.
    drop(server);
    primary.with(|s| s.silent = true);
    let server = ChildServer::start(&config);
    server.wait_for("serial 10", Duration::from_secs(20), || {
        serial(&server) == Some(10)
    });
    assert_eq!(naptr_answer(&server, 5), (ResponseCode::NoError, 1));
}
