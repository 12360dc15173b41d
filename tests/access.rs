//! Who gets what, over real sockets. Query ACLs (`allow_query`): dnspython asks from several
//! loopback source addresses, signed and unsigned, over UDP and TCP, and each zone answers
//! those its list allows and refuses the others with REFUSED and Extended DNS Error 18
//! (Prohibited), giving nothing of its data away. TCP limits: one address cannot hold every
//! connection, and a client that reads no answers is cut off while others are served.

mod common;

use common::TestServer;

/// The key the `peer` entries name (base64 of 32 bytes).
const SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==";

const SOA: &str = "@ SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300\n\
@ NS ns1.example.net.\n";

fn zone(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 3600\n{SOA}\
3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+123@example.net!\" .\n\
*.9.9 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:pbx@example.net!\" .\n"
    )
}

/// Three zones: one with its own list (an address and the key), one that takes the top-level
/// list (two addresses), and one whose empty list lets nobody in.
fn server() -> TestServer {
    let dir = common::temp_dir("acl");
    for (file, origin) in [
        ("a.zone", "4.4.e164.arpa."),
        ("b.zone", "e164enum.net."),
        ("c.zone", "closed.example."),
    ] {
        std::fs::write(dir.join(file), zone(origin)).unwrap();
    }
    // A zone that does not load: SERVFAIL to those its list allows, nothing to the others.
    std::fs::write(
        dir.join("d.zone"),
        "$ORIGIN broken.example.\n@ SOA nonsense\n",
    )
    .unwrap();
    let config = format!(
        "listen = [\"127.0.0.1:0\"]\n\
allow_query = [\"127.0.0.10/31\"]\n\
[[key]]\nname = \"peer\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
[[zone]]\napex = \"4.4.e164.arpa.\"\nfile = \"a.zone\"\nallow_query = [\"127.0.0.20\", \"key:peer\"]\n\
[[zone]]\napex = \"e164enum.net.\"\nfile = \"b.zone\"\n\
[[zone]]\napex = \"closed.example.\"\nfile = \"c.zone\"\nallow_query = []\n\
[[zone]]\napex = \"broken.example.\"\nfile = \"d.zone\"\nallow_query = [\"127.0.0.20\"]\n"
    );
    let path = dir.join("enumd.toml");
    std::fs::write(&path, config).unwrap();
    let server = TestServer::start_config(path.to_str().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    server
}

/// One line per question: `source key transport name rcode aa answers authority ede`, where
/// `ede` lists the EDE codes of the answer's OPT (`-` for none). A signed answer is verified
/// by dnspython (it raises otherwise).
fn ask_all(server: &TestServer, questions: &[(&str, &str, &str, &str)]) -> Vec<String> {
    let port = server.addr.port();
    let list: Vec<String> = questions
        .iter()
        .map(|(src, key, transport, name)| format!("({src:?}, {key:?}, {transport:?}, {name:?})"))
        .collect();
    let script = format!(
        r#"
import dns.message, dns.query, dns.tsigkeyring, dns.rdatatype, dns.edns
ring = dns.tsigkeyring.from_text({{"peer.": ("hmac-sha256", "{SECRET}")}})
for src, key, transport, name in [{}]:
    q = dns.message.make_query(name, "NAPTR", use_edns=0, payload=1232)
    if key:
        q.use_tsig(ring, keyname="peer.", algorithm="hmac-sha256")
    ask = dns.query.udp if transport == "udp" else dns.query.tcp
    r = ask(q, "127.0.0.1", port={port}, source=src, timeout=2)
    ede = ",".join(str(o.code) for o in r.options if o.otype == dns.edns.EDE) or "-"
    aa = "aa" if r.flags & 0x0400 else "-"
    print(src, key or "-", transport, name, dns.rcode.to_text(r.rcode()), aa, len(r.answer), len(r.authority), ede)
"#,
        list.join(", ")
    );
    common::python_lines(&script)
}

#[test]
fn each_zone_answers_only_whom_its_list_allows() {
    let server = server();
    let a = "3.2.1.4.4.e164.arpa.";
    let a_wild = "7.7.9.9.4.4.e164.arpa.";
    let a_missing = "5.5.5.4.4.e164.arpa.";
    let b = "3.2.1.e164enum.net.";
    let c = "3.2.1.closed.example.";
    let questions = [
        // Zone a: its own list, 127.0.0.20 or the key; the top-level list does not apply.
        ("127.0.0.20", "", "udp", a),
        ("127.0.0.20", "", "udp", a_wild),
        ("127.0.0.20", "", "tcp", a_missing),
        ("127.0.0.30", "peer", "udp", a),
        ("127.0.0.30", "peer", "tcp", a_wild),
        ("127.0.0.30", "", "udp", a),
        ("127.0.0.30", "", "tcp", a),
        ("127.0.0.10", "", "udp", a),
        ("127.0.0.30", "", "udp", a_missing),
        ("127.0.0.30", "", "udp", a_wild),
        // Zone b: the top-level list, 127.0.0.10 and .11; the key is not on it.
        ("127.0.0.10", "", "udp", b),
        ("127.0.0.11", "", "tcp", b),
        ("127.0.0.12", "", "udp", b),
        ("127.0.0.20", "", "udp", b),
        ("127.0.0.30", "peer", "udp", b),
        // Zone c: nobody.
        ("127.0.0.10", "", "udp", c),
        ("127.0.0.20", "peer", "udp", c),
        // Zone d does not load: only its list learns that.
        ("127.0.0.20", "", "udp", "3.2.1.broken.example."),
        ("127.0.0.30", "", "udp", "3.2.1.broken.example."),
        // A name in no zone: REFUSED as ever, without the EDE.
        ("127.0.0.10", "", "udp", "1.2.3.example.org."),
    ];
    let got = ask_all(&server, &questions);
    let want = [
        format!("127.0.0.20 - udp {a} NOERROR aa 1 0 -"),
        format!("127.0.0.20 - udp {a_wild} NOERROR aa 1 0 -"),
        format!("127.0.0.20 - tcp {a_missing} NXDOMAIN aa 0 1 -"),
        format!("127.0.0.30 peer udp {a} NOERROR aa 1 0 -"),
        format!("127.0.0.30 peer tcp {a_wild} NOERROR aa 1 0 -"),
        format!("127.0.0.30 - udp {a} REFUSED - 0 0 18"),
        format!("127.0.0.30 - tcp {a} REFUSED - 0 0 18"),
        format!("127.0.0.10 - udp {a} REFUSED - 0 0 18"),
        format!("127.0.0.30 - udp {a_missing} REFUSED - 0 0 18"),
        format!("127.0.0.30 - udp {a_wild} REFUSED - 0 0 18"),
        format!("127.0.0.10 - udp {b} NOERROR aa 1 0 -"),
        format!("127.0.0.11 - tcp {b} NOERROR aa 1 0 -"),
        format!("127.0.0.12 - udp {b} REFUSED - 0 0 18"),
        format!("127.0.0.20 - udp {b} REFUSED - 0 0 18"),
        format!("127.0.0.30 peer udp {b} REFUSED - 0 0 18"),
        format!("127.0.0.10 - udp {c} REFUSED - 0 0 18"),
        format!("127.0.0.20 peer udp {c} REFUSED - 0 0 18"),
        "127.0.0.20 - udp 3.2.1.broken.example. SERVFAIL - 0 0 -".to_string(),
        "127.0.0.30 - udp 3.2.1.broken.example. REFUSED - 0 0 18".to_string(),
        "127.0.0.10 - udp 1.2.3.example.org. REFUSED - 0 0 -".to_string(),
    ];
    assert_eq!(got, want);
}

/// A TCP connection to `to` from the loopback address `from`, with a small receive buffer
/// when `rcvbuf` is given (set before connecting, so the window stays small).
fn connect_from(
    from: &str,
    to: std::net::SocketAddr,
    rcvbuf: Option<usize>,
) -> std::net::TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    if let Some(n) = rcvbuf {
        s.set_recv_buffer_size(n).unwrap();
    }
    let src: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
    s.bind(&src.into()).unwrap();
    s.connect(&to.into()).unwrap();
    s.into()
}

/// A framed NAPTR (or `rtype`) query for `name`.
fn framed(name: &str, rtype: hickory_proto::rr::RecordType, id: u16) -> Vec<u8> {
    let mut q = common::query(name, rtype, Some(1232));
    q.metadata.id = id;
    let q = q.to_vec().unwrap();
    let mut f = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
    f.extend_from_slice(&q);
    f
}

/// Sends a query on `c` and reads its answer's ID; None if the connection ends first.
fn answered(c: &mut std::net::TcpStream, id: u16) -> Option<u16> {
    use std::io::{Read, Write};
    c.write_all(&framed(
        "3.2.1.4.4.e164.arpa.",
        hickory_proto::rr::RecordType::NAPTR,
        id,
    ))
    .ok()?;
    let mut len = [0; 2];
    c.read_exact(&mut len).ok()?;
    let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
    c.read_exact(&mut buf).ok()?;
    Some(u16::from_be_bytes([buf[0], buf[1]]))
}

#[test]
fn one_address_cannot_hold_every_tcp_connection() {
    use std::io::Read;
    let server = TestServer::start_with(
        "tcp_max_connections = 8\ntcp_max_connections_per_client = 3\ntcp_idle_timeout = 30",
        &[("4.4.e164.arpa.", &zone("4.4.e164.arpa."))],
    );
    let mut held: Vec<_> = (0..3)
        .map(|i| {
            let mut c = connect_from("127.0.0.10", server.addr, None);
            assert_eq!(
                answered(&mut c, i),
                Some(i),
                "connection {i} of the first three"
            );
            c
        })
        .collect();
    // A fourth from the same address is closed at once, unanswered.
    let mut fourth = connect_from("127.0.0.10", server.addr, None);
    fourth
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut byte = [0; 1];
    assert!(
        matches!(fourth.read(&mut byte), Ok(0) | Err(_)),
        "closed, not answered"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(answered(&mut fourth, 9), None);
    // Another address is served meanwhile, and the three still are.
    let mut other = connect_from("127.0.0.20", server.addr, None);
    assert_eq!(answered(&mut other, 20), Some(20));
    for (i, c) in held.iter_mut().enumerate() {
        let id = 30 + u16::try_from(i).unwrap();
        assert_eq!(answered(c, id), Some(id));
    }
    // One of the three closes: the address may open another.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        let mut c = connect_from("127.0.0.10", server.addr, None);
        if answered(&mut c, 40) == Some(40) {
            again = Some(c);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(again.is_some(), "a slot came back when a connection closed");
}

#[test]
fn a_tcp_client_that_reads_no_answers_is_cut_off_and_starves_nobody() {
    use std::io::{Read, Write};
    // One name whose TXT answer is about 31 KB: a few hundred of them fill any socket buffer.
    let mut text = zone("4.4.e164.arpa.");
    for i in 0..120 {
        text.push_str(&format!("big TXT \"{i:03}{}\"\n", "x".repeat(250)));
    }
    let server = TestServer::start_with("tcp_idle_timeout = 2", &[("4.4.e164.arpa.", &text)]);
    let mut stalled = connect_from("127.0.0.10", server.addr, Some(4096));
    // 2,000 answers of 31 KB: more than any socket buffers hold, so the server must wait.
    let queries: Vec<u8> = (0..2000)
        .flat_map(|i| framed("big.4.4.e164.arpa.", hickory_proto::rr::RecordType::TXT, i))
        .collect();
    stalled.write_all(&queries).unwrap();
    let one = {
        let mut c = connect_from("127.0.0.20", server.addr, None);
        c.write_all(&framed(
            "big.4.4.e164.arpa.",
            hickory_proto::rr::RecordType::TXT,
            1,
        ))
        .unwrap();
        let mut len = [0; 2];
        c.read_exact(&mut len).unwrap();
        usize::from(u16::from_be_bytes(len)) + 2
    };
    assert!(one > 30_000, "{one}");
    // While it stalls, others are answered over TCP and UDP at once.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut other = connect_from("127.0.0.30", server.addr, None);
    other
        .set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    assert_eq!(answered(&mut other, 7), Some(7));
    let udp = server.ask("3.2.1.4.4.e164.arpa.", hickory_proto::rr::RecordType::NAPTR);
    assert_eq!(udp.answers.len(), 1);
    // Past the timeout the server gives up on it: reading now finds the end well short of
    // the 2,000 answers asked for.
    std::thread::sleep(std::time::Duration::from_secs(4));
    stalled
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0; 1 << 16];
    loop {
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after the timeout ({e}), {got} bytes read"),
        }
    }
    assert!(
        got < 2000 * one / 2,
        "read {got} of {} bytes: not cut off",
        2000 * one
    );
}
