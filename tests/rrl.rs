//! Response rate limiting over real sockets: a flood with a forged loopback source (written
//! through a raw socket) at 20,000 q/s gets at most the configured rate answered, and about every `rrl_slip`th of the rest
//! truncated; an exempt address sending as fast gets every answer; a client of another prefix
//! is not touched. Every load is a fixed count of queries, paced, and stops by itself.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::TestServer;
use hickory_proto::rr::RecordType;

const ZONE: &str = "$ORIGIN 4.4.e164.arpa.\n$TTL 3600\n\
@ SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300\n\
@ NS ns1.example.net.\n\
3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+123@example.net!\" .\n";

/// What came back to one client: whole answers, truncated ones, and how many were asked.
#[derive(Debug, Default)]
struct Tally {
    sent: usize,
    answered: usize,
    truncated: usize,
}

/// How a flood's queries leave.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// From a UDP socket bound to the source address, as a real client sends.
    Socket,
    /// Through a raw socket (CAP_NET_RAW) that writes the IPv4 and UDP headers itself, the
    /// source address forged, as a reflection attack sends; the replies reach a socket bound
    /// there only to count them.
    Spoofed,
}

/// An IPv4 datagram from `src` to `dst` carrying `payload` over UDP; the kernel fills the
/// IPv4 checksum (IP_HDRINCL), and a zero UDP checksum means none (RFC 768).
fn ipv4_udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
        panic!("IPv4 only");
    };
    let udp_len = u16::try_from(8 + payload.len()).unwrap();
    let mut p = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p[2..4].copy_from_slice(&(udp_len + 20).to_be_bytes());
    p.extend_from_slice(&src.ip().octets());
    p.extend_from_slice(&dst.ip().octets());
    p.extend_from_slice(&src.port().to_be_bytes());
    p.extend_from_slice(&dst.port().to_be_bytes());
    p.extend_from_slice(&udp_len.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// Sends `count` NAPTR queries from `from` to `to` at `rate` a second (in bursts of 20 each
/// millisecond at 20,000 q/s), and counts the answers until a second passes without one.
fn flood(from: &str, to: SocketAddr, count: usize, rate: usize, sender: Sender) -> Tally {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    socket.set_recv_buffer_size(4 << 20).unwrap();
    let src: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&src.into()).unwrap();
    let socket: UdpSocket = socket.into();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let source = socket.local_addr().unwrap();
    let raw = (sender == Sender::Spoofed).then(|| {
        let raw = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(255)), // IPPROTO_RAW: we write the IP header
        )
        .expect("a raw socket (the test needs CAP_NET_RAW: run it as root)");
        raw.set_send_buffer_size(4 << 20).unwrap();
        raw
    });
    let receiver = socket.try_clone().unwrap();
    let counting = std::thread::spawn(move || {
        let mut t = Tally::default();
        let mut buf = [0u8; 4096];
        while let Ok(n) = receiver.recv(&mut buf) {
            if n < 12 {
                continue;
            }
            let ancount = u16::from_be_bytes([buf[6], buf[7]]);
            if buf[2] & 0x02 != 0 && ancount == 0 {
                t.truncated += 1;
            } else if ancount > 0 {
                t.answered += 1;
            }
        }
        t
    });
    let mut q = common::query("3.2.1.4.4.e164.arpa.", RecordType::NAPTR, Some(1232));
    let burst = (rate / 1000).max(1);
    let started = Instant::now();
    for i in 0..count {
        q.metadata.id = u16::try_from(i % 65_536).unwrap();
        let wire = q.to_vec().unwrap();
        match &raw {
            Some(raw) => {
                let packet = ipv4_udp(source, to, &wire);
                raw.send_to(&packet, &to.into()).unwrap();
            }
            None => {
                socket.send_to(&wire, to).unwrap();
            }
        }
        if (i + 1) % burst == 0 {
            let due =
                started + Duration::from_micros(u64::try_from((i + 1) * 1_000_000 / rate).unwrap());
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    let mut t = counting.join().unwrap();
    t.sent = count;
    t
}

#[test]
fn a_flood_gets_the_rate_and_slips_while_exempt_and_other_clients_get_everything() {
    let server = TestServer::start_with(
        "rrl_responses_per_second = 100\nrrl_slip = 2\nrrl_exempt = [\"127.0.0.60\"]",
        &[("4.4.e164.arpa.", ZONE)],
    );
    let to = server.addr;
    // The flood and the exempt client share 127.0.0.0/24; the ordinary client is 127.0.1.1.
    let started = Instant::now();
    let spoofed = |from| move || flood(from, to, 40_000, 20_000, Sender::Spoofed);
    let flood_from = std::thread::spawn(spoofed("127.0.0.50"));
    let exempt = std::thread::spawn(spoofed("127.0.0.60"));
    let ordinary = std::thread::spawn(move || flood("127.0.1.1", to, 50, 50, Sender::Socket));
    let (flood_from, exempt, ordinary) = (
        flood_from.join().unwrap(),
        exempt.join().unwrap(),
        ordinary.join().unwrap(),
    );
    eprintln!("flood {flood_from:?}, exempt {exempt:?}, ordinary {ordinary:?}");
    // About two seconds of flood: at most 100 answers in each second it touched (counted
    // from the end of the last answer's wait, so the bound is generous).
    let seconds = started.elapsed().as_secs() + 1;
    assert!(
        flood_from.answered <= 100 * usize::try_from(seconds).unwrap()
            && flood_from.answered >= 100,
        "{flood_from:?} in {seconds} s"
    );
    let limited = flood_from.sent - flood_from.answered;
    assert!(
        flood_from.truncated * 10 >= limited * 4 && flood_from.truncated * 10 <= limited * 6,
        "about half of the limited responses slip: {flood_from:?}"
    );
    assert_eq!(exempt.answered, exempt.sent, "exempt: {exempt:?}");
    assert_eq!(exempt.truncated, 0);
    assert_eq!(ordinary.answered, ordinary.sent, "ordinary: {ordinary:?}");
    // And the flood's prefix is answered over TCP, as a real client would retry.
    let m = server.tcp(&common::query(
        "3.2.1.4.4.e164.arpa.",
        RecordType::NAPTR,
        None,
    ));
    assert_eq!(m.answers.len(), 1);
}

/// A raw request: the header with `flags` (byte 2), one question of `qtype`.
fn request(id: u16, flags: u8, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[flags, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(u8::try_from(label.len()).unwrap());
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0]);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

#[test]
fn a_flood_of_refused_requests_writes_a_few_log_lines_a_second() {
    let dir = common::temp_dir("logflood");
    std::fs::write(dir.join("z.zone"), ZONE).unwrap();
    std::fs::write(
        dir.join("enumd.toml"),
        "listen = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\n\
         [[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==\"\n\
         [[zone]]\napex = \"4.4.e164.arpa.\"\nfile = \"z.zone\"\nallow_update = [\"key:k\"]\n",
    )
    .unwrap();
    let server = common::child::ChildServer::start(&dir.join("enumd.toml"));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let receiver = socket.try_clone().unwrap();
    let counting = std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let mut answers = 0;
        while receiver.recv(&mut buf).is_ok() {
            answers += 1;
        }
        answers
    });
    let started = Instant::now();
    let per_kind = 3_000;
    for i in 0..per_kind {
        let id = u16::try_from(i).unwrap();
        // AXFR over UDP, an unsigned UPDATE of a key-only zone, a NOTIFY for a zone not served.
        socket
            .send_to(&request(id, 0x00, "4.4.e164.arpa.", 252), server.addr)
            .unwrap();
        socket
            .send_to(&request(id, 5 << 3, "4.4.e164.arpa.", 6), server.addr)
            .unwrap();
        socket
            .send_to(&request(id, 4 << 3, "example.org.", 6), server.addr)
            .unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let answers = counting.join().unwrap();
    let seconds = started.elapsed().as_secs() + 2;
    std::thread::sleep(Duration::from_millis(300));
    // Each kind was answered (REFUSED, NOTAUTH) but logged at most 10 lines a second.
    assert!(answers >= per_kind, "{answers} answers");
    let limit = usize::try_from(10 * seconds).unwrap();
    for what in [
        "transfer over UDP refused",
        "may not update this zone",
        "NOTIFY for a zone not served here",
    ] {
        let lines = server.logged(what);
        eprintln!("{what}: {} lines", lines.len());
        assert!(!lines.is_empty(), "{what}: never logged");
        assert!(
            lines.len() <= limit,
            "{what}: {} lines in about {seconds} s",
            lines.len()
        );
    }
    // What was held back is said by the next line let through, a second later.
    std::thread::sleep(Duration::from_millis(1100));
    socket
        .send_to(&request(1, 0x00, "4.4.e164.arpa.", 252), server.addr)
        .unwrap();
    server.wait_for("the next line", Duration::from_secs(5), || {
        server
            .logged("held_back=")
            .iter()
            .any(|l| !l.contains("held_back=0"))
    });
    assert!(
        server
            .logged("held_back=")
            .iter()
            .any(|l| !l.contains("held_back=0")),
        "no line says how many were held back"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
