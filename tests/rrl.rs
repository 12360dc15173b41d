//! Response rate limiting over real sockets: a flood from one loopback source at 20,000 q/s
//! gets at most the configured rate answered, and about every `rrl_slip`th of the rest
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

/// Sends `count` NAPTR queries from `from` to `to` at `rate` a second (in bursts of 20 each
/// millisecond at 20,000 q/s), and counts the answers until a second passes without one.
fn flood(from: &str, to: SocketAddr, count: usize, rate: usize) -> Tally {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    socket.set_recv_buffer_size(4 << 20).unwrap();
    let src: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&src.into()).unwrap();
    let socket: UdpSocket = socket.into();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
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
        socket.send_to(&q.to_vec().unwrap(), to).unwrap();
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
    let flood_from = std::thread::spawn(move || flood("127.0.0.50", to, 40_000, 20_000));
    let exempt = std::thread::spawn(move || flood("127.0.0.60", to, 40_000, 20_000));
    let ordinary = std::thread::spawn(move || flood("127.0.1.1", to, 50, 50));
    let (flood_from, exempt, ordinary) = (
        flood_from.join().unwrap(),
        exempt.join().unwrap(),
        ordinary.join().unwrap(),
    );
    eprintln!("flood {flood_from:?}, exempt {exempt:?}, ordinary {ordinary:?}");
    // Two seconds of flood: at most 100 a second, in at most three counting seconds.
    assert!(
        flood_from.answered <= 300 && flood_from.answered >= 100,
        "{flood_from:?}"
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
