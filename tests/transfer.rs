//! Zone transfers out (AXFR, RFC 5936; IXFR, RFC 1995) over real sockets, taken by real
//! clients: BIND's `dig`, Knot's `kdig` and dnspython, which verify every message's TSIG and,
//! for IXFR, apply the differences to their own copy of the zone. Each test runs the real
//! binary on 127.0.0.1 with a port of its own.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use common::child::ChildServer;

/// The transfer key's secret (base64 of 32 bytes), as `tsig-keygen` would make.
const SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==";
/// The same key name with another secret: its MACs do not verify.
const WRONG: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A zone of every kind of name enumd stores (numbers with NAPTRs the loader turns into
/// templates, a wildcard, a delegation with glue and an occluded name below it, a CNAME, names
/// outside the digit trie), and `numbers` numbers: enough for many messages.
fn zone_text(numbers: usize) -> String {
    let mut z = String::from(
        "$ORIGIN e164.arpa.\n$TTL 3600\n\
         @ SOA ns1.e164.arpa. hostmaster.example.net. 100 7200 3600 1209600 300\n\
         @ NS ns1.e164.arpa.\n\
         @ NS ns2.example.net.\n\
         ns1 A 192.0.2.1\n\
         ns1 AAAA 2001:db8::1\n\
         www 600 TXT \"lab\" \"two strings\"\n\
         4.2.1 CNAME 3.2.1\n\
         3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+123@example.net!\" .\n\
         3.2.1 NAPTR 20 100 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:+123;npdi;rn=+4410!\" .\n\
         *.9.9 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^\\\\+99(.*)$!sip:\\\\1@pbx.example.net!\" .\n\
         5.5 NS ns.5.5.e164.arpa.\n\
         ns.5.5 A 192.0.2.53\n\
         7.1.5.5 TXT \"occluded\"\n",
    );
    for i in 0..numbers {
        let number = number(i);
        z.push_str(&format!(
            "{} NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+{number}@sip.example.net!\" .\n",
            owner_of(&number)
        ));
    }
    z
}

/// The zone's `i`th number: +44 20 79, then six digits.
fn number(i: usize) -> String {
    format!("442079{:06}", i * 7 + 1)
}

/// The ENUM name of a number (RFC 6116 §2.4).
fn owner_of(number: &str) -> String {
    let mut labels: Vec<String> = number.chars().rev().map(String::from).collect();
    labels.push("e164.arpa.".into());
    labels.join(".")
}

/// A server for the zone above, transfers allowed to `allow` (a TOML list's contents), UPDATE
/// allowed with the key.
struct Lab {
    dir: PathBuf,
    server: ChildServer,
}

impl Lab {
    fn new(tag: &str, allow: &str, numbers: usize) -> Self {
        Self::with(tag, allow, numbers, "")
    }

    /// The same, with more lines for the zone's configuration.
    fn with(tag: &str, allow: &str, numbers: usize, zone_extra: &str) -> Self {
        let dir = common::temp_dir(tag);
        std::fs::write(dir.join("e.zone"), zone_text(numbers)).unwrap();
        std::fs::write(
            dir.join("enumd.toml"),
            format!(
                "listen = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\n\
                 [[key]]\nname = \"xfr\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
                 [[zone]]\napex = \"e164.arpa.\"\nfile = \"e.zone\"\n\
                 allow_update = [\"key:xfr\"]\nallow_transfer = [{allow}]\nflush_interval = 0\n{zone_extra}"
            ),
        )
        .unwrap();
        let server = ChildServer::start(&dir.join("enumd.toml"));
        server.wait_for("serving", Duration::from_secs(90), || {
            !server.logged("serving").is_empty()
        });
        Self { dir, server }
    }

    fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// Runs a dnspython script with `PORT`, `ZONE_FILE` and `SECRET`, `WRONG` defined.
    fn python(&self, body: &str) -> Vec<String> {
        let head = format!(
            "import dns.message, dns.name, dns.query, dns.rcode, dns.rdatatype, dns.tsigkeyring, dns.xfr, dns.zone\n\
             PORT = {}\nZONE_FILE = {:?}\nSECRET = {SECRET:?}\nWRONG = {WRONG:?}\n\
             ORIGIN = dns.name.from_text('e164.arpa.')\n\
             KEY = dns.tsigkeyring.from_text({{'xfr.': ('hmac-sha256', SECRET)}})\n\
             BAD = dns.tsigkeyring.from_text({{'xfr.': ('hmac-sha256', WRONG)}})\n\
             def axfr(**kw):\n\
             \x20   return dns.zone.from_xfr(dns.query.xfr('127.0.0.1', 'e164.arpa.', port=PORT, relativize=False, **kw), relativize=False)\n\
             def from_file():\n\
             \x20   return dns.zone.from_file(ZONE_FILE, origin=ORIGIN, relativize=False)\n\
             def same(x, y):\n\
             \x20   return (x is None and y is None) or (x is not None and y is not None and x == y)\n\
             def diff(a, b):\n\
             \x20   names = set(a.nodes) | set(b.nodes)\n\
             \x20   return sorted(str(n) for n in names if not same(a.get_node(n), b.get_node(n)))\n",
            self.port(),
            self.dir.join("e.zone")
        );
        common::python_lines(&format!("{head}{body}"))
    }

    fn nsupdate(&self, lines: &str) {
        let script = format!(
            "server 127.0.0.1 {}\nzone e164.arpa.\n{lines}\nsend\n",
            self.port()
        );
        let mut child = Command::new("nsupdate")
            .args(["-y", &format!("hmac-sha256:xfr:{SECRET}")])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nsupdate (apt-get install bind9-dnsutils)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "nsupdate failed");
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program}: {e} (apt-get install bind9-dnsutils knot-dnsutils)")
        });
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The numbers after `label` in `text` (`XFR size: 3014 records (messages 17` → 3014, 17).
fn figures_after(text: &str, label: &str) -> Vec<u64> {
    let Some(at) = text.find(label) else {
        return Vec::new();
    };
    text[at + label.len()..]
        .lines()
        .next()
        .unwrap_or("")
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn axfr_follows_allow_transfer_and_holds_exactly_the_zone_file() {
    let lab = Lab::new("axfr", "\"key:xfr\", \"127.0.0.2/32\"", 3000);
    let out = lab.python(
        "file = from_file()\n\
         signed = axfr(keyring=KEY, keyname='xfr.')\n\
         print('signed', 'equal' if signed == file else diff(signed, file)[:5])\n\
         print('records', sum(1 for _ in signed.iterate_rdatas()))\n\
         by_address = axfr(source='127.0.0.2')\n\
         print('by address', 'equal' if by_address == file else 'differ')\n\
         for what, kw in [('unsigned', {}), ('wrong key', {'keyring': BAD, 'keyname': 'xfr.'})]:\n\
         \x20   try:\n\
         \x20       axfr(**kw)\n\
         \x20       print(what, 'transferred')\n\
         \x20   except Exception as e:\n\
         \x20       print(what, type(e).__name__, e)\n",
    );
    assert_eq!(out[0], "signed equal", "{out:?}");
    let records: usize = out[1]["records ".len()..].parse().unwrap();
    assert!(records > 3000, "{out:?}");
    assert_eq!(out[2], "by address equal", "{out:?}");
    assert!(
        out[3].starts_with("unsigned TransferError") && out[3].contains("REFUSED"),
        "{out:?}"
    );
    assert!(!out[4].contains("transferred"), "{out:?}");
    assert!(!lab.server.logged("TSIG: MAC does not verify").is_empty());
    assert!(
        !lab.server
            .logged("127.0.0.1 unsigned may not transfer e164.arpa. (allow_transfer)")
            .is_empty()
    );

    // dig and kdig check every message's MAC; both count the same records and messages.
    let port = lab.port().to_string();
    let key = format!("hmac-sha256:xfr:{SECRET}");
    let dig = run(
        "dig",
        &["@127.0.0.1", "-p", &port, "-y", &key, "e164.arpa.", "AXFR"],
    );
    let dig_size = figures_after(&dig, "XFR size: ");
    assert!(!dig.contains("failure") && !dig.contains("failed"), "{dig}");
    assert_eq!(dig_size.first().copied(), Some(records as u64 + 1), "{dig}"); // SOA twice
    assert!(
        dig_size[1] > 10,
        "a 3,000-number zone fills many messages: {dig}"
    );
    let kdig = run(
        "kdig",
        &["@127.0.0.1", "-p", &port, "-y", &key, "e164.arpa.", "AXFR"],
    );
    assert!(!kdig.to_lowercase().contains("warning"), "{kdig}");
    let kdig_size = figures_after(&kdig, ";; Received ");
    // "Received N B (M messages, R records)"
    assert_eq!(
        kdig_size[1..],
        dig_size[..2].iter().rev().copied().collect::<Vec<_>>()[..]
    );
    let refused = run("dig", &["@127.0.0.1", "-p", &port, "e164.arpa.", "AXFR"]);
    assert!(refused.contains("Transfer failed"), "{refused}");
    let notauth = run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &port,
            "-y",
            &key,
            "example.com.",
            "AXFR",
        ],
    );
    assert!(notauth.contains("Transfer failed"), "{notauth}");
    assert!(!lab.server.logged("no zone example.com. here").is_empty());
}

#[test]
fn ixfr_sends_the_differences_a_client_applies_to_its_copy() {
    let lab = Lab::new("ixfr", "\"key:xfr\"", 200);
    let first = owner_of(&number(0));
    lab.nsupdate(&format!(
        "update delete {first} NAPTR\nupdate add {first} 600 TXT \"ported\""
    ));
    lab.nsupdate("update add 2.2.2.e164.arpa. 300 TXT \"new\"");
    lab.nsupdate("update delete www.e164.arpa. TXT");
    lab.server
        .wait_for("serial 103", Duration::from_secs(10), || {
            lab.server.serial("e164.arpa.") == Some(103)
        });
    let out = lab.python(
        "now = axfr(keyring=KEY, keyname='xfr.')\n\
         for serial in [100, 101, 103, 50]:\n\
         \x20   copy = from_file()  # serial 100's data, whatever serial is claimed\n\
         \x20   q, _ = dns.xfr.make_query(copy, serial=serial, keyring=KEY, keyname='xfr.')\n\
         \x20   dns.query.inbound_xfr('127.0.0.1', copy, query=q, port=PORT)\n\
         \x20   if serial == 103:  # claimed current: the single SOA, nothing to apply\n\
         \x20       print(serial, 'unchanged' if copy == from_file() else 'changed')\n\
         \x20   else:\n\
         \x20       print(serial, 'equal' if copy == now else diff(copy, now)[:4])\n\
         q = dns.message.make_query('e164.arpa.', 'IXFR')\n\
         q.authority.append(dns.rrset.from_text('e164.arpa.', 0, 'IN', 'SOA', '. . 100 0 0 0 0'))\n\
         q.use_tsig(KEY, keyname='xfr.')\n\
         r = dns.query.udp(q, '127.0.0.1', port=PORT, timeout=5)\n\
         print('udp', dns.rcode.to_text(r.rcode()), [str(rr) for rr in r.answer])\n",
    );
    assert_eq!(out[0], "100 equal", "{out:?}");
    // From 101 the client gets only 101 → 103: the record 100 → 101 changed stays as it was.
    assert_eq!(out[1], format!("101 ['{first}']"), "{out:?}");
    assert_eq!(out[2], "103 unchanged", "{out:?}");
    assert_eq!(out[3], "50 equal", "{out:?}");
    assert!(out[4].starts_with("udp NOERROR"), "{out:?}");
    assert!(
        out[4].contains(" 103 ") && out[4].matches("SOA").count() == 1,
        "{out:?}"
    );
    let kinds: Vec<String> = lab.server.logged("transfer out");
    let ixfr = kinds.iter().filter(|l| l.contains("kind=\"IXFR\"")).count();
    let fallback = kinds
        .iter()
        .filter(|l| l.contains("kind=\"IXFR as AXFR\""))
        .count();
    assert_eq!((ixfr, fallback), (2, 1), "{kinds:?}");

    // dig at the current serial: the single SOA.
    let port = lab.port().to_string();
    let key = format!("hmac-sha256:xfr:{SECRET}");
    let current = run(
        "dig",
        &[
            "@127.0.0.1",
            "-p",
            &port,
            "-y",
            &key,
            "e164.arpa.",
            "IXFR=103",
            "+nocmd",
        ],
    );
    let soas: Vec<&str> = current.lines().filter(|l| l.contains("\tSOA\t")).collect();
    assert_eq!(soas.len(), 1, "{current}");
    assert!(soas[0].contains(" 103 "), "{current}");

    // dig at an old serial: the two change sets (SOA 103, then 101 … 102 and 102 … 103, then
    // 103 again); at one the journal does not reach, the whole zone between two SOAs.
    let dig_ixfr = |serial: u32| {
        let out = run(
            "dig",
            &[
                "@127.0.0.1",
                "-p",
                &port,
                "-y",
                &key,
                "e164.arpa.",
                &format!("IXFR={serial}"),
                "+nocmd",
            ],
        );
        // dig pads with tabs, or a space after a long owner.
        let of_type = |t: &'static str| {
            out.lines()
                .filter(move |l| !l.starts_with(';') && l.split_whitespace().nth(3) == Some(t))
        };
        let soas: Vec<String> = of_type("SOA")
            .map(|l| l.split_whitespace().nth(6).unwrap_or("").to_string())
            .collect();
        let naptrs = of_type("NAPTR").count();
        (soas, naptrs, out)
    };
    let (soas, naptrs, out) = dig_ixfr(101);
    assert_eq!(soas, ["103", "101", "102", "102", "103", "103"], "{out}");
    assert!(naptrs < 5, "only what changed: {out}");
    let (soas, naptrs, out) = dig_ixfr(50);
    assert_eq!(soas, ["103", "103"], "{out}");
    assert!(naptrs >= 200, "the whole zone: {naptrs}");
}

/// Reads one framed message.
fn read_message(s: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

fn send_axfr(s: &mut TcpStream, id: u16) {
    let mut q = Message::new(id, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(
        Name::from_ascii("e164.arpa.").unwrap(),
        RecordType::AXFR,
    ));
    let bytes = q.to_vec().unwrap();
    let len = u16::try_from(bytes.len()).unwrap();
    s.write_all(&len.to_be_bytes()).unwrap();
    s.write_all(&bytes).unwrap();
}

/// Every record of one AXFR, read to its closing SOA (the only SOA after the first record);
/// and how many messages it took.
fn read_axfr(s: &mut TcpStream, id: u16, first: Option<Message>) -> (Vec<Record>, usize) {
    let mut records: Vec<Record> = Vec::new();
    let mut messages = 0;
    let mut next = first;
    loop {
        let m = next.take().unwrap_or_else(|| read_message(s));
        assert_eq!(m.metadata.id, id);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        messages += 1;
        records.extend(m.answers.iter().cloned());
        if records.len() > 1 && records.last().unwrap().record_type() == RecordType::SOA {
            let soas = records
                .iter()
                .filter(|r| r.record_type() == RecordType::SOA);
            assert_eq!(soas.count(), 2, "SOA first and last, nowhere else");
            return (records, messages);
        }
    }
}

fn serial_of(r: &Record) -> u32 {
    match &r.data {
        RData::SOA(soa) => soa.serial,
        other => panic!("not an SOA: {other:?}"),
    }
}

#[test]
fn a_transfer_sends_one_version_while_updates_land_and_a_connection_carries_several() {
    // 100,000 numbers, about 6 MB of messages: more than socket buffers hold, so most of the
    // transfer is still to be encoded when the update lands.
    let lab = Lab::new("consistent", "\"127.0.0.1/32\"", 100_000);
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(&SocketAddr::from(([127, 0, 0, 1], lab.port())).into())
        .unwrap();
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    send_axfr(&mut s, 7);
    let first = read_message(&mut s);
    assert_eq!(
        first.queries.len(),
        1,
        "the first message repeats the question"
    );
    // Reading has stopped after one message: the encoder waits. An update lands meanwhile,
    // at a number near the end of the walk.
    let late = owner_of(&number(99_990));
    lab.nsupdate(&format!(
        "update delete {late} NAPTR\nupdate add {late} 600 TXT \"changed mid-transfer\""
    ));
    assert_eq!(lab.server.serial("e164.arpa."), Some(101));
    let (old, messages) = read_axfr(&mut s, 7, Some(first));
    assert!(messages > 300, "{messages} messages");
    assert_eq!(serial_of(&old[0]), 100);
    assert_eq!(serial_of(old.last().unwrap()), 100);
    let at_late: Vec<&Record> = old.iter().filter(|r| r.name.to_ascii() == late).collect();
    assert!(
        at_late.len() == 1 && at_late[0].record_type() == RecordType::NAPTR,
        "{at_late:?}"
    );
    // RFC 5936 §4.1.2: the same connection, a second transfer, now of the new version.
    send_axfr(&mut s, 8);
    let (new, _) = read_axfr(&mut s, 8, None);
    assert_eq!(serial_of(&new[0]), 101);
    let at_late: Vec<&Record> = new.iter().filter(|r| r.name.to_ascii() == late).collect();
    assert!(
        at_late.len() == 1 && at_late[0].record_type() == RecordType::TXT,
        "{at_late:?}"
    );
    assert_eq!(new.len(), old.len());
}

#[test]
fn axfr_over_udp_is_refused() {
    let lab = Lab::new("udp-axfr", "\"127.0.0.1/32\"", 10);
    let mut q = Message::new(9, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(
        Name::from_ascii("e164.arpa.").unwrap(),
        RecordType::AXFR,
    ));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(&q.to_vec().unwrap(), lab.server.addr).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let r = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(r.metadata.response_code, ResponseCode::Refused);
    assert!(r.answers.is_empty());
}

/// Waits for one datagram; its bytes and sender.
fn receive(sock: &std::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = [0u8; 4096];
    let (n, from) = sock
        .recv_from(&mut buf)
        .expect("a NOTIFY within the timeout");
    (buf[..n].to_vec(), from)
}

fn transfer_key() -> enumd::config::Key {
    enumd::config::Key {
        name: b"\x03xfr\x00".to_vec(),
        algorithm: enumd::xfr::tsig::Algorithm::HmacSha256,
        secret: base64_decode(SECRET),
    }
}

/// The answer to a signed NOTIFY: its header with QR set and the counts cleared, signed
/// with the transfer key as RFC 8945 §5.3 asks, or not.
fn notify_answer(notify: &[u8], signed: bool) -> Vec<u8> {
    use enumd::xfr::{message, tsig};
    let mut answer = notify[..12].to_vec();
    answer[2] |= 0x80;
    answer[4..12].copy_from_slice(&[0; 8]);
    if signed {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let parsed = message::Message::parse(notify).unwrap();
        let tsig::Verdict::Signed(signer) = tsig::verify(notify, &parsed, &[transfer_key()], now)
        else {
            panic!("the NOTIFY is signed");
        };
        tsig::sign_response(&mut answer, &signer, 0, now);
    }
    answer
}

/// Checks a NOTIFY (RFC 1996 §3.7): opcode 4, AA, the zone's SOA as question and answer,
/// signed with the key; returns its ID and the serial it announces.
fn check_notify(raw: &[u8]) -> (u16, u32) {
    use enumd::xfr::{message, tsig};
    let key = transfer_key();
    let parsed = message::Message::parse(raw).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        matches!(
            tsig::verify(raw, &parsed, &[key], now),
            tsig::Verdict::Signed(_)
        ),
        "the NOTIFY is signed with the key"
    );
    let m = Message::from_vec(raw).unwrap();
    assert_eq!(m.metadata.op_code, OpCode::Notify);
    assert!(m.metadata.authoritative);
    assert_eq!(m.queries[0].name().to_ascii(), "e164.arpa.");
    assert_eq!(m.queries[0].query_type(), RecordType::SOA);
    (m.metadata.id, serial_of(&m.answers[0]))
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[test]
fn notify_goes_out_after_each_version_signed_and_again_until_answered() {
    let target = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    target
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let lab = Lab::with(
        "notify",
        "\"key:xfr\"",
        10,
        &format!(
            "notify = [\"{}\"]\nnotify_key = \"xfr\"\n",
            target.local_addr().unwrap()
        ),
    );
    // The version loaded at start is announced; left unanswered, the NOTIFY comes again.
    let (first, _) = receive(&target);
    let (id, serial) = check_notify(&first);
    assert_eq!(serial, 100);
    let started = std::time::Instant::now();
    let (again, from) = receive(&target);
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "sent again after a wait"
    );
    assert_eq!(
        check_notify(&again),
        (id, 100),
        "the same NOTIFY, sent again"
    );
    // An unsigned answer to a signed NOTIFY is not the target's word: ignored, and the NOTIFY
    // keeps coming.
    target.send_to(&notify_answer(&again, false), from).unwrap();
    lab.server.wait_for(
        "the unsigned answer ignored",
        Duration::from_secs(10),
        || !lab.server.logged("NOTIFY answer ignored").is_empty(),
    );
    let (third, from) = receive(&target);
    assert_eq!(
        check_notify(&third),
        (id, 100),
        "sent again after the unsigned answer"
    );
    assert!(lab.server.logged("NOTIFY acknowledged").is_empty());
    target.send_to(&notify_answer(&third, true), from).unwrap();
    lab.server
        .wait_for("the acknowledgement", Duration::from_secs(10), || {
            !lab.server.logged("NOTIFY acknowledged").is_empty()
        });
    // A new version: a new NOTIFY, with its serial.
    lab.nsupdate("update add 5.5.5.e164.arpa. 300 TXT \"new\"");
    let (next, from) = receive(&target);
    let (_, serial) = check_notify(&next);
    assert_eq!(serial, 101);
    target.send_to(&notify_answer(&next, true), from).unwrap();
    lab.server.wait_for(
        "the second acknowledgement",
        Duration::from_secs(10),
        || lab.server.logged("NOTIFY acknowledged").len() == 2,
    );
}

/// A UDP socket on a loopback address of its own at port 53, where NOTIFY to an NS host goes.
fn ns_host_socket(taken: &[u8]) -> (std::net::UdpSocket, String) {
    for last in 100..250u8 {
        let ip = format!("127.0.{}.{last}", std::process::id() % 200 + 1);
        if taken.contains(&last) {
            continue;
        }
        if let Ok(s) = std::net::UdpSocket::bind((ip.as_str(), 53)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            return (s, ip);
        }
    }
    panic!("no loopback address with port 53 free (the test binds port 53: run it as root)");
}

#[test]
fn notify_ns_tells_each_ns_host_but_the_soa_mname_at_the_zones_addresses() {
    let (secondary, secondary_ip) = ns_host_socket(&[]);
    let taken = [secondary_ip.rsplit('.').next().unwrap().parse().unwrap()];
    let (mname, mname_ip) = ns_host_socket(&taken);
    // `notify_ns` adds the NS hosts to the listed targets; ns1 (the SOA MNAME) and
    // ns2.example.net (no address here) are in the zone from the start.
    let lab = Lab::with(
        "notify-ns",
        "\"key:xfr\"",
        10,
        "notify_ns = true\nnotify_key = \"xfr\"\n",
    );
    // A new NS host with an address in the zone, and an address for ns1 that would reach the
    // MNAME socket were the MNAME not left out.
    lab.nsupdate(&format!(
        "update add e164.arpa. 3600 NS ns3.e164.arpa.\n\
         update add ns3.e164.arpa. 3600 A {secondary_ip}\n\
         update add ns1.e164.arpa. 3600 A {mname_ip}"
    ));
    let (notify, from) = receive(&secondary);
    let (_, serial) = check_notify(&notify);
    assert_eq!(
        serial, 101,
        "the version that named ns3, and not the one before"
    );
    secondary
        .send_to(&notify_answer(&notify, true), from)
        .unwrap();
    lab.server
        .wait_for("the acknowledgement", Duration::from_secs(10), || {
            !lab.server.logged("NOTIFY acknowledged").is_empty()
        });
    let acknowledged = lab.server.logged("NOTIFY acknowledged");
    assert!(
        acknowledged[0].contains(&format!("{secondary_ip}:53")),
        "{acknowledged:?}"
    );
    // The MNAME's address was in the same version: it would have been sent in the same pass.
    mname
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        mname.recv_from(&mut buf).is_err(),
        "no NOTIFY to the SOA MNAME (RFC 1996 §3.3)"
    );
}

#[test]
fn a_signed_query_gets_a_signed_answer_and_a_bad_signature_notauth() {
    // Secondaries sign their SOA checks with the transfer key (BIND refuses an unsigned answer).
    let lab = Lab::new("signed-query", "\"key:xfr\"", 10);
    let out = lab.python(
        "for keyring in [KEY, BAD]:\n\
         \x20   q = dns.message.make_query('e164.arpa.', 'SOA')\n\
         \x20   q.use_tsig(keyring, keyname='xfr.')\n\
         \x20   for send in [dns.query.udp, dns.query.tcp]:\n\
         \x20       try:\n\
         \x20           r = send(q, '127.0.0.1', port=PORT, timeout=5)\n\
         \x20           print(dns.rcode.to_text(r.rcode()), r.had_tsig, r.answer[0][0].serial)\n\
         \x20       except Exception as e:\n\
         \x20           print(type(e).__name__)\n",
    );
    assert_eq!(
        out[..2],
        ["NOERROR True 100", "NOERROR True 100"],
        "{out:?}"
    );
    assert_eq!(
        out[2..],
        ["PeerBadSignature", "PeerBadSignature"],
        "{out:?}"
    );
}
