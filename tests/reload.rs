//! Hot reload under load: the real binary, SIGHUP, a client querying all the while. Every answer
//! must come from one whole version of the zone, no query may go unanswered, and a broken file
//! must leave the last good version serving.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::query;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

const RELOADS: u32 = 21;

/// Version `k`: serial 1000+k; `1.2.3` holds three NAPTRs tagged `v{k}`; `5.5` exists only in
/// even versions. A half-swapped zone would mix tags in one RRset, or answer `5.5` while its
/// SOA says an odd version.
fn version(k: u32) -> String {
    let mut z = format!(
        "$TTL 60\n@ SOA ns1 hm {} 1 1 1 60\n@ NS ns1\nns1 A 127.0.0.1\n",
        1000 + k
    );
    for pref in [10, 20, 30] {
        z.push_str(&format!(
            "1.2.3 NAPTR 10 {pref} \"u\" \"E2U+sip\" \"!^.*$!sip:v{k}-{pref}@example.com!\" .\n"
        ));
    }
    if k.is_multiple_of(2) {
        z.push_str(&format!(
            "5.5 NAPTR 10 10 \"u\" \"E2U+sip\" \"!^.*$!sip:v{k}@example.com!\" .\n"
        ));
    }
    z
}

/// The version tag in a NAPTR's regexp: `v12-10` → 12.
fn tag(rdata: &RData) -> u32 {
    let RData::NAPTR(n) = rdata else {
        panic!("not a NAPTR: {rdata}")
    };
    let re = String::from_utf8_lossy(&n.regexp).into_owned();
    let start = re.find("sip:v").expect("tagged") + 5;
    let digits: String = re[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("tag number")
}

struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn hangup(&self) {
        // The shell's own `kill`: no procps needed.
        let ok = Command::new("sh")
            .args(["-c", &format!("kill -HUP {}", self.child.id())])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
    }

    fn serial(&self) -> Option<u32> {
        let m = ask(self.addr, "e164.arpa.", RecordType::SOA)?;
        match &m.answers.first()?.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        }
    }

    fn wait_for(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn ask(addr: SocketAddr, name: &str, rtype: RecordType) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let q = query(name, rtype, Some(1232));
    sock.send_to(&q.to_vec().ok()?, addr).ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let m = Message::from_vec(&buf[..n]).ok()?;
    (m.metadata.id == q.metadata.id).then_some(m)
}

fn start(dir: &std::path::Path, watch: bool) -> Server {
    std::fs::write(
        dir.join("enumd.toml"),
        format!("listen = [\"127.0.0.1:0\"]\nwatch = {watch}\n[log]\nlevel = \"info\"\n[[zone]]\napex = \"e164.arpa.\"\nfile = \"e164.zone\"\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args([
            "serve",
            "--config",
            dir.join("enumd.toml").to_str().unwrap(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start enumd");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("udp=") {
                let addr: String = line[at + 4..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                let _ = addr_tx.send(addr);
            }
            log2.lock().unwrap().push(line);
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("listening line")
        .parse()
        .expect("address");
    Server { child, addr, log }
}

#[test]
fn reload_under_load_is_atomic_and_a_broken_file_keeps_the_old_version() {
    let dir = common::temp_dir("reload");
    let zone = dir.join("e164.zone");
    std::fs::write(&zone, version(0)).unwrap();
    let server = start(&dir, false);
    server.wait_for("first load", || server.serial() == Some(1000));

    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (stop, addr) = (stop.clone(), server.addr);
        std::thread::spawn(move || {
            let (mut answered, mut unanswered, mut tags_seen) =
                (0u32, 0u32, std::collections::BTreeSet::new());
            // Bounded: stops when told, or after this many queries at most.
            for i in 0..2_000_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = if i % 2 == 0 {
                    "1.2.3.e164.arpa."
                } else {
                    "5.5.e164.arpa."
                };
                let Some(m) = ask(addr, name, RecordType::NAPTR) else {
                    unanswered += 1;
                    continue;
                };
                answered += 1;
                if i % 2 == 0 {
                    let tags: Vec<u32> = m.answers.iter().map(|r| tag(&r.data)).collect();
                    assert_eq!(tags.len(), 3, "whole RRset");
                    assert!(
                        tags.iter().all(|&t| t == tags[0]),
                        "one version per answer: {tags:?}"
                    );
                    tags_seen.insert(tags[0]);
                } else if m.metadata.response_code == ResponseCode::NXDomain {
                    let RData::SOA(soa) = &m.authorities[0].data else {
                        panic!("SOA in NXDOMAIN")
                    };
                    assert_eq!(soa.serial % 2, 1, "5.5 is missing only in odd versions");
                } else {
                    assert_eq!(
                        tag(&m.answers[0].data) % 2,
                        0,
                        "5.5 exists only in even versions"
                    );
                }
            }
            (answered, unanswered, tags_seen.len())
        })
    };

    for k in 1..=RELOADS {
        std::fs::write(&zone, version(k)).unwrap();
        server.hangup();
        server.wait_for(&format!("serial {}", 1000 + k), || {
            server.serial() == Some(1000 + k)
        });
    }

    // A broken file: the reload fails, the last good version keeps serving.
    std::fs::write(&zone, format!("{}1.2.3 NAPTR 10 oops\n", version(99))).unwrap();
    server.hangup();
    server.wait_for("the failed reload to be logged", || {
        server
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("previous version keeps serving"))
    });
    assert_eq!(server.serial(), Some(1000 + RELOADS));
    assert!(
        server
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("e164.zone:8: NAPTR record"))
    );

    stop.store(true, Ordering::Relaxed);
    let (answered, unanswered, versions) = client.join().expect("client checks held");
    eprintln!(
        "{answered} answers during {RELOADS} reloads, {versions} versions seen, {unanswered} unanswered"
    );
    assert_eq!(unanswered, 0, "no query went unanswered");
    assert!(answered > 100);
    assert!(versions >= 2, "the client saw the zone change");
    let m = ask(server.addr, "1.2.3.e164.arpa.", RecordType::NAPTR).unwrap();
    assert_eq!(tag(&m.answers[0].data), RELOADS);
}

#[test]
fn watched_file_change_is_picked_up_without_a_signal() {
    let dir = common::temp_dir("watch");
    let zone = dir.join("e164.zone");
    std::fs::write(&zone, version(0)).unwrap();
    let server = start(&dir, true);
    server.wait_for("first load", || server.serial() == Some(1000));
    // Rename into place, as editors and deploy tools do.
    std::fs::write(dir.join("e164.zone.new"), version(1)).unwrap();
    std::fs::rename(dir.join("e164.zone.new"), &zone).unwrap();
    server.wait_for("the watched change", || server.serial() == Some(1001));
}
