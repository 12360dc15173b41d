//! What an operator watches, over real sockets: `/metrics` scraped over HTTP and parsed by the
//! Python `prometheus_client` parser, each counter moved by exactly the queries sent; zone
//! gauges after reloads that work and fail; `enumd ctl stats`; dnstap captured by the real
//! `fstrm_capture` and decoded by the real `dnstap-read`; a stalled dnstap reader that costs
//! frames (counted) but no answers; the plain query log.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use common::child::ChildServer;
use common::query;

const ZONE: &str = "$ORIGIN e164.arpa.\n$TTL 300\n\
@ SOA ns1 hostmaster.example.net. 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n\
3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+123@a.example!\" .\n\
*.9.9 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+99@a.example!\" .\n\
4.4 NS ns.tier3.example.\n\
5.5 TXT \"no NAPTR here\"\n";

/// TXT records that cannot fit in 512 octets: a UDP answer without EDNS is truncated.
fn big_rrset() -> String {
    (0..12)
        .map(|i| format!("7.7 TXT \"{i:02} {}\"\n", "x".repeat(60)))
        .collect()
}

const KEY: &str = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";

struct Lab {
    dir: PathBuf,
    server: ChildServer,
    metrics: Option<SocketAddr>,
}

impl Lab {
    fn start(tag: &str, extra: &str) -> Self {
        let dir = common::temp_dir(tag);
        std::fs::write(dir.join("e164.arpa.zone"), format!("{ZONE}{}", big_rrset())).unwrap();
        std::fs::write(
            dir.join("enumd.toml"),
            format!(
                "listen = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\ncontrol = \"ctl.sock\"\n{extra}\n\
                 [[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{KEY}\"\n\
                 [[zone]]\napex = \"e164.arpa.\"\nfile = \"e164.arpa.zone\"\nallow_update = [\"key:k\"]\n"
            ),
        )
        .unwrap();
        let server = ChildServer::start(&dir.join("enumd.toml"));
        server.wait_for("the control socket", Duration::from_secs(20), || {
            !server.logged("control socket ready").is_empty()
        });
        // The metrics listener is bound after the control socket.
        if extra.contains("metrics =") {
            server.wait_for("the metrics listener", Duration::from_secs(20), || {
                !server.logged("metrics at http://").is_empty()
            });
        }
        let metrics = server.logged("metrics at http://").first().map(|l| {
            let at = l.find("metrics=").expect("metrics= in the log") + 8;
            l[at..].split_whitespace().next().unwrap().parse().unwrap()
        });
        Self {
            dir,
            server,
            metrics,
        }
    }

    /// Every sample of `/metrics`, as the Python client library's parser reads them, keyed
    /// `name{label=value,…}` with labels sorted.
    fn scrape(&self) -> HashMap<String, f64> {
        let url = format!(
            "http://{}/metrics",
            self.metrics.expect("metrics configured")
        );
        let script = r#"
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
out = {}
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
        let out = Command::new("/usr/bin/python3")
            .args(["-c", script, &url])
            .output()
            .expect("python3 (apt-get install python3-prometheus-client)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_enumd"))
            .arg("ctl")
            .arg("--socket")
            .arg(self.dir.join("ctl.sock"))
            .args(args)
            .output()
            .expect("enumd ctl")
    }

    fn nsupdate(&self, key: bool, script: &str) {
        let mut c = Command::new("nsupdate");
        if key {
            c.args(["-y", &format!("hmac-sha256:k:{KEY}")]);
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsupdate (apt-get install bind9-dnsutils)");
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "server 127.0.0.1 {}", self.server.addr.port()).unwrap();
        stdin.write_all(script.as_bytes()).unwrap();
        drop(child.stdin.take());
        child.wait().unwrap();
    }

    /// Ends the server as systemd does (SIGTERM) and waits for it.
    fn stop(&mut self) {
        let pid = self.server.child.id();
        assert!(
            Command::new("sh")
                .args(["-c", &format!("kill -TERM {pid}")])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.server.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "enumd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Sends `bytes` over UDP from a socket of its own; the answer, if one comes within a second.
fn udp(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    sock.send_to(bytes, addr).unwrap();
    let mut buf = [0u8; 65535];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

fn ask_udp(addr: SocketAddr, name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let q = query(name, rtype, edns);
    let reply = udp(addr, &q.to_vec().unwrap()).expect("an answer");
    Message::from_vec(&reply).unwrap()
}

/// One query over a TCP connection of its own.
fn ask_tcp(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let q = query(name, rtype, Some(1232)).to_vec().unwrap();
    let mut framed = u16::try_from(q.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    c.write_all(&framed).unwrap();
    let mut len = [0; 2];
    c.read_exact(&mut len).unwrap();
    let mut m = vec![0; usize::from(u16::from_be_bytes(len))];
    c.read_exact(&mut m).unwrap();
    Message::from_vec(&m).unwrap()
}

/// What `after` has more than `before` for `key` (absent counts as 0).
fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, key: &str) -> f64 {
    after.get(key).copied().unwrap_or(0.0) - before.get(key).copied().unwrap_or(0.0)
}

#[test]
fn each_counter_moves_by_exactly_what_was_sent() {
    let lab = Lab::start("metrics", "metrics = \"127.0.0.1:0\"");
    let addr = lab.server.addr;
    let before = lab.scrape();

    let rcode = |name: &str, t, edns| ask_udp(addr, name, t, edns).metadata.response_code;
    for _ in 0..3 {
        assert_eq!(
            rcode("3.2.1.e164.arpa.", RecordType::NAPTR, Some(1232)),
            ResponseCode::NoError
        );
    }
    for n in ["1.9.9.e164.arpa.", "2.9.9.e164.arpa."] {
        assert_eq!(
            rcode(n, RecordType::NAPTR, Some(1232)),
            ResponseCode::NoError
        );
    }
    let referral = ask_udp(addr, "1.4.4.e164.arpa.", RecordType::NAPTR, Some(1232));
    assert!(!referral.authorities.is_empty() && referral.answers.is_empty());
    for _ in 0..2 {
        assert_eq!(
            rcode("5.5.e164.arpa.", RecordType::NAPTR, Some(1232)),
            ResponseCode::NoError
        );
    }
    for _ in 0..4 {
        assert_eq!(
            rcode("8.8.e164.arpa.", RecordType::NAPTR, Some(1232)),
            ResponseCode::NXDomain
        );
    }
    assert_eq!(
        rcode("example.org.", RecordType::A, Some(1232)),
        ResponseCode::Refused
    );
    let truncated = ask_udp(addr, "7.7.e164.arpa.", RecordType::TXT, None);
    assert!(truncated.metadata.truncation);
    // A header that promises a question and has none: FORMERR.
    let formerr = udp(addr, &[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]).expect("FORMERR");
    assert_eq!(formerr[3] & 0x0f, 1);
    // Too short for a header, and a response: no answer to either.
    assert!(udp(addr, &[1, 2, 3, 4, 5]).is_none());
    assert!(udp(addr, &[0x12, 0x34, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
    for _ in 0..2 {
        let m = ask_tcp(addr, "3.2.1.e164.arpa.", RecordType::NAPTR);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    }
    // The TCP connections have closed on the server's side too.
    let deadline = Instant::now() + Duration::from_secs(5);
    let after = loop {
        let a = lab.scrape();
        if a["enumd_tcp_connections_open{}"] == 0.0 || Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    let q = |transport: &str, qtype: &str, rcode: &str| {
        moved(
            &before,
            &after,
            &format!("enumd_queries_total{{qtype={qtype},rcode={rcode},transport={transport}}}"),
        )
    };
    assert_eq!(
        q("udp", "NAPTR", "NOERROR"),
        8.0,
        "3 hits, 2 wildcards, 1 referral, 2 NODATA"
    );
    assert_eq!(q("udp", "NAPTR", "NXDOMAIN"), 4.0);
    assert_eq!(q("udp", "A", "REFUSED"), 1.0);
    assert_eq!(q("udp", "TXT", "NOERROR"), 1.0);
    assert_eq!(q("udp", "none", "FORMERR"), 1.0);
    assert_eq!(q("tcp", "NAPTR", "NOERROR"), 2.0);
    let queries: f64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("enumd_queries_total{"))
        .map(|(k, v)| v - before.get(k).copied().unwrap_or(0.0))
        .sum();
    assert_eq!(queries, 17.0, "nothing else was counted");

    let kind = |k: &str| moved(&before, &after, &format!("enumd_answers_total{{kind={k}}}"));
    assert_eq!(kind("hit"), 6.0, "3 + 2 over TCP + the truncated TXT");
    assert_eq!(kind("wildcard"), 2.0);
    assert_eq!(kind("referral"), 1.0);
    assert_eq!(kind("nodata"), 2.0);
    assert_eq!(kind("nxdomain"), 4.0);
    assert_eq!(kind("refused"), 1.0);
    assert_eq!(kind("error"), 1.0);

    let by = |name: &str, labels: &str| moved(&before, &after, &format!("{name}{{{labels}}}"));
    assert_eq!(by("enumd_truncated_responses_total", "transport=udp"), 1.0);
    assert_eq!(by("enumd_malformed_requests_total", "transport=udp"), 1.0);
    assert_eq!(
        by("enumd_dropped_requests_total", "reason=short,transport=udp"),
        1.0
    );
    assert_eq!(
        by(
            "enumd_dropped_requests_total",
            "reason=response,transport=udp"
        ),
        1.0
    );
    assert_eq!(by("enumd_response_size_bytes_count", "transport=udp"), 15.0);
    assert_eq!(by("enumd_response_size_bytes_count", "transport=tcp"), 2.0);
    assert_eq!(
        by("enumd_response_size_bytes_bucket", "le=+Inf,transport=udp"),
        15.0
    );
    assert!(by("enumd_response_size_bytes_sum", "transport=udp") > 15.0 * 12.0);
    assert_eq!(by("enumd_tcp_connections_accepted_total", ""), 2.0);
    assert_eq!(after["enumd_tcp_connections_open{}"], 0.0);

    // Process metrics, under the names Prometheus's client libraries use.
    assert!(after["process_resident_memory_bytes{}"] > 1e6);
    assert!(after["process_open_fds{}"] >= 5.0);
    assert!(after["process_cpu_seconds_total{}"] > 0.0);

    // `enumd ctl stats` reads the same counters.
    let stats = lab.ctl(&["--json", "stats"]);
    assert_eq!(stats.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let d = &v["data"];
    let scraped: f64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("enumd_queries_total{"))
        .map(|(_, v)| *v)
        .sum();
    let counted = d["queries"]["udp"].as_f64().unwrap() + d["queries"]["tcp"].as_f64().unwrap();
    assert_eq!(counted, scraped);
    assert_eq!(d["kinds"]["wildcard"], 2);
    assert_eq!(d["truncated"], 1);
    let human = String::from_utf8_lossy(&lab.ctl(&["stats"]).stdout).into_owned();
    assert!(human.contains("wildcard 2"), "{human}");

    // UPDATE: one accepted, one refused (unsigned).
    lab.nsupdate(
        true,
        "zone e164.arpa.\nupdate add 6.6.e164.arpa. 300 TXT \"new\"\nsend\n",
    );
    lab.nsupdate(
        false,
        "zone e164.arpa.\nupdate add 6.7.e164.arpa. 300 TXT \"no\"\nsend\n",
    );
    let updated = lab.scrape();
    assert_eq!(
        moved(
            &after,
            &updated,
            "enumd_updates_total{rcode=NOERROR,zone=e164.arpa.}"
        ),
        1.0
    );
    assert_eq!(
        moved(
            &after,
            &updated,
            "enumd_updates_total{rcode=REFUSED,zone=e164.arpa.}"
        ),
        1.0
    );
    assert_eq!(updated["enumd_zone_serial{zone=e164.arpa.}"], 2.0);
    assert!(updated["enumd_zone_journal_bytes{zone=e164.arpa.}"] > 0.0);
    assert_eq!(
        updated["enumd_zone_unflushed_changes{zone=e164.arpa.}"],
        1.0
    );
}

#[test]
fn zone_gauges_follow_reloads_that_work_and_fail() {
    let lab = Lab::start("zone-gauges", "metrics = \"127.0.0.1:0\"");
    let first = lab.scrape();
    let z =
        |m: &HashMap<String, f64>, name: &str| m[&format!("enumd_zone_{name}{{zone=e164.arpa.}}")];
    assert_eq!(z(&first, "serial"), 1.0);
    assert_eq!(z(&first, "numbers"), 1.0, "3.2.1 (a wildcard is no number)");
    assert_eq!(z(&first, "last_load_success"), 1.0);
    assert_eq!(
        first["enumd_zone_serving{kind=primary,zone=e164.arpa.}"],
        1.0
    );
    assert!(z(&first, "memory_bytes") > 0.0);
    assert_eq!(z(&first, "last_load_warnings"), 0.0);

    // A new serial with one number more.
    let more = ZONE.replace(" 1 3600 600", " 2 3600 600")
        + "4.3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+1234@a.example!\" .\n";
    std::fs::write(lab.dir.join("e164.arpa.zone"), more).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(lab.ctl(&["reload"]).status.code(), Some(0));
    let second = lab.scrape();
    assert_eq!(z(&second, "serial"), 2.0);
    assert_eq!(z(&second, "numbers"), 2.0);
    assert_eq!(z(&second, "last_load_success"), 1.0);
    assert!(z(&second, "last_load_timestamp_seconds") > z(&first, "last_load_timestamp_seconds"));

    // A broken file: the gauges say so, and serial 2 keeps serving.
    let broken = ZONE.replace(" 1 3600 600", " 3 3600 600") + "5.5 NAPTR 10\n";
    std::fs::write(lab.dir.join("e164.arpa.zone"), broken).unwrap();
    assert_eq!(lab.ctl(&["reload"]).status.code(), Some(1));
    let third = lab.scrape();
    assert_eq!(z(&third, "last_load_success"), 0.0);
    assert_eq!(z(&third, "last_load_errors"), 1.0);
    assert_eq!(
        moved(
            &second,
            &third,
            "enumd_zone_load_failures_total{zone=e164.arpa.}"
        ),
        1.0
    );
    assert_eq!(z(&third, "serial"), 2.0, "the old version keeps serving");
    assert_eq!(
        third["enumd_zone_serving{kind=primary,zone=e164.arpa.}"],
        1.0
    );
}

/// Lines `dnstap-read` prints for `file`.
fn dnstap_read(file: &Path) -> Vec<String> {
    let out = Command::new("dnstap-read")
        .arg(file)
        .output()
        .expect("dnstap-read (apt-get install bind9-dnsutils)");
    assert!(
        out.status.success(),
        "dnstap-read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

struct Capture(Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn fstrm_capture_receives_and_dnstap_read_decodes_every_query() {
    let dir = common::temp_dir("dnstap-capture");
    let socket = dir.join("tap.sock");
    let captured = dir.join("captured.fstrm");
    let capture = Capture(
        Command::new("fstrm_capture")
            .args(["-t", "protobuf:dnstap.Dnstap", "-u"])
            .arg(&socket)
            .arg("-w")
            .arg(&captured)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fstrm_capture (apt-get install fstrm-bin)"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "fstrm_capture made no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut lab = Lab::start(
        "dnstap",
        &format!("[dnstap]\nsocket = \"{}\"", socket.display()),
    );
    lab.server
        .wait_for("dnstap connected", Duration::from_secs(10), || {
            !lab.server.logged("dnstap: connected").is_empty()
        });
    let addr = lab.server.addr;
    let names = [
        "3.2.1.e164.arpa.",
        "1.9.9.e164.arpa.",
        "8.8.e164.arpa.",
        "5.5.e164.arpa.",
    ];
    for n in names {
        ask_udp(addr, n, RecordType::NAPTR, Some(1232));
    }
    ask_tcp(addr, "1.4.4.e164.arpa.", RecordType::NAPTR);
    // Stopped as systemd stops it: the stream is closed with STOP, then the capture ends.
    lab.stop();
    let pid = capture.0.id();
    Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    let mut capture = capture;
    capture.0.wait().unwrap();

    let lines = dnstap_read(&captured);
    assert_eq!(
        lines.len(),
        10,
        "a query and a response per query: {lines:#?}"
    );
    let port = addr.port();
    for (n, transport) in names
        .iter()
        .map(|n| (n, "UDP"))
        .chain([(&"1.4.4.e164.arpa.", "TCP")])
    {
        let shown = format!("{}/IN/NAPTR", n.trim_end_matches('.'));
        for (kind, arrow) in [("AQ", "->"), ("AR", "<-")] {
            assert!(
                lines.iter().any(|l| l.contains(&format!(" {kind} "))
                    && l.contains(&format!("{arrow} 127.0.0.1:{port} {transport}"))
                    && l.ends_with(&shown)),
                "no {kind} line for {n} over {transport}: {lines:#?}"
            );
        }
    }
}

/// A dnstap reader that takes the handshake, then never reads again.
fn stalled_reader(socket: &Path) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let control = |s: &mut std::os::unix::net::UnixStream| -> u32 {
            let mut word = [0u8; 4];
            s.read_exact(&mut word).unwrap();
            assert_eq!(word, [0; 4], "a control frame");
            s.read_exact(&mut word).unwrap();
            let mut body = vec![0; u32::from_be_bytes(word) as usize];
            s.read_exact(&mut body).unwrap();
            u32::from_be_bytes([body[0], body[1], body[2], body[3]])
        };
        assert_eq!(control(&mut s), 4, "READY");
        let ct = b"protobuf:dnstap.Dnstap";
        let mut accept = vec![0, 0, 0, 0];
        accept.extend_from_slice(&u32::try_from(12 + ct.len()).unwrap().to_be_bytes());
        accept.extend_from_slice(&1u32.to_be_bytes());
        accept.extend_from_slice(&1u32.to_be_bytes());
        accept.extend_from_slice(&u32::try_from(ct.len()).unwrap().to_be_bytes());
        accept.extend_from_slice(ct);
        s.write_all(&accept).unwrap();
        assert_eq!(control(&mut s), 2, "START");
        // Stalled: holds the connection open, reads nothing, until the server goes.
        std::thread::sleep(Duration::from_secs(120));
        drop(s);
    })
}

#[test]
fn a_stalled_dnstap_reader_loses_frames_but_no_queries() {
    let dir = common::temp_dir("dnstap-stalled");
    let socket = dir.join("tap.sock");
    let _reader = stalled_reader(&socket);
    let lab = Lab::start(
        "dnstap-stalled",
        &format!("[dnstap]\nsocket = \"{}\"", socket.display()),
    );
    let addr = lab.server.addr;
    // Far more than the socket's buffer and every queue hold.
    const SENT: u64 = 30_000;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut answered = 0u64;
    let mut buf = [0u8; 4096];
    for i in 0..SENT {
        let mut q = query("3.2.1.e164.arpa.", RecordType::NAPTR, Some(1232));
        q.metadata.id = u16::try_from(i % 65_536).unwrap();
        sock.send_to(&q.to_vec().unwrap(), addr).unwrap();
        let (n, _) = sock.recv_from(&mut buf).expect("every query answered");
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.metadata.id, q.metadata.id);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        answered += 1;
    }
    assert_eq!(answered, SENT);
    let stats = lab.ctl(&["--json", "stats"]);
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    let d = &v["data"];
    assert_eq!(d["queries"]["udp"], SENT, "every query counted as answered");
    let (written, dropped) = (
        d["query_log"]["written"].as_u64().unwrap(),
        d["query_log"]["dropped"].as_u64().unwrap(),
    );
    assert!(dropped > 0, "the stalled reader cost frames: {d}");
    assert!(written > 0, "the first frames went out: {d}");
    assert!(written + dropped <= SENT, "{d}");
}

#[test]
fn the_query_log_has_a_line_per_query() {
    let lab = Lab::start("query-log", "query_log = \"queries.log\"");
    let addr = lab.server.addr;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 4096];
    for name in ["3.2.1.e164.arpa.", "8.8.e164.arpa.", "1.9.9.e164.arpa."] {
        let q = query(name, RecordType::NAPTR, Some(1232));
        sock.send_to(&q.to_vec().unwrap(), addr).unwrap();
        sock.recv_from(&mut buf).unwrap();
    }
    ask_tcp(addr, "1.4.4.e164.arpa.", RecordType::NAPTR);
    let log = lab.dir.join("queries.log");
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    lab.server
        .wait_for("four query log lines", Duration::from_secs(10), || {
            lines().len() >= 4
        });
    let lines = lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let client = format!("127.0.0.1#{} UDP", sock.local_addr().unwrap().port());
    let expect = [
        (client.as_str(), "3.2.1.e164.arpa. NAPTR NOERROR hit"),
        (client.as_str(), "8.8.e164.arpa. NAPTR NXDOMAIN nxdomain"),
        (client.as_str(), "1.9.9.e164.arpa. NAPTR NOERROR wildcard"),
        (" TCP ", "1.4.4.e164.arpa. NAPTR NOERROR referral"),
    ];
    // Each answering thread has its own queue: lines of different threads may come in any order.
    for (from, what) in expect {
        assert!(
            lines.iter().any(|l| l.contains(from) && l.contains(what)),
            "no line with {from:?} and {what:?}: {lines:#?}"
        );
    }
    for line in &lines {
        // The time received leads, in UTC; the response size and the time taken end it.
        assert!(line.as_bytes()[4] == b'-' && line.contains('T'), "{line}");
        assert!(line.ends_with("us") && line.contains("b "), "{line}");
    }
}
