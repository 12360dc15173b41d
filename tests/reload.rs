//! Hot reload under load: the real binary, SIGHUP, a client querying all the while. Every answer
//! must come from one whole version of the zone, no query may go unanswered, and a broken file
//! must leave the last good version serving.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::child::{ChildServer, ask};
use hickory_proto::op::ResponseCode;
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

/// The lab zone's config for a server in `dir`.
fn start(dir: &std::path::Path, watch: bool) -> ChildServer {
    std::fs::write(
        dir.join("enumd.toml"),
        format!("listen = [\"127.0.0.1:0\"]\nwatch = {watch}\n[log]\nlevel = \"info\"\n[[zone]]\napex = \"e164.arpa.\"\nfile = \"e164.zone\"\n"),
    )
    .unwrap();
    ChildServer::start(&dir.join("enumd.toml"))
}

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn reload_under_load_is_atomic_and_a_broken_file_keeps_the_old_version() {
    let dir = common::temp_dir("reload");
    let zone = dir.join("e164.zone");
    std::fs::write(&zone, version(0)).unwrap();
    let server = start(&dir, false);
    server.wait_for("first load", WAIT, || {
        server.serial("e164.arpa.") == Some(1000)
    });

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
        server.wait_for(&format!("serial {}", 1000 + k), WAIT, || {
            server.serial("e164.arpa.") == Some(1000 + k)
        });
    }

    // A broken file: the reload fails, the last good version keeps serving.
    std::fs::write(&zone, format!("{}1.2.3 NAPTR 10 oops\n", version(99))).unwrap();
    server.hangup();
    server.wait_for("the failed reload to be logged", WAIT, || {
        server
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("previous version keeps serving"))
    });
    assert_eq!(server.serial("e164.arpa."), Some(1000 + RELOADS));
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
    server.wait_for("first load", WAIT, || {
        server.serial("e164.arpa.") == Some(1000)
    });
    // Rename into place, as editors and deploy tools do.
    std::fs::write(dir.join("e164.zone.new"), version(1)).unwrap();
    std::fs::rename(dir.join("e164.zone.new"), &zone).unwrap();
    server.wait_for("the watched change", WAIT, || {
        server.serial("e164.arpa.") == Some(1001)
    });
    // Applied as its difference from the serving version, not loaded whole.
    server.wait_for("the log line", WAIT, || {
        !server.logged("zone reloaded by difference").is_empty()
    });
}

#[test]
fn a_failed_reload_logs_what_check_prints_with_the_same_counts() {
    let dir = common::temp_dir("reload-counts");
    let zone = dir.join("e164.zone");
    std::fs::write(&zone, version(0)).unwrap();
    let server = start(&dir, false);
    server.wait_for("first load", WAIT, || {
        server.serial("e164.arpa.") == Some(1000)
    });
    // One error (line 9) and one warning (line 8: an unregistered Enumservice).
    std::fs::write(
        &zone,
        format!(
            "{}4 NAPTR 10 10 \"u\" \"E2U+voice:sip\" \"!^.*$!sip:a@example.com!\" .\n4 A 999.1.1.1\n",
            version(1)
        ),
    )
    .unwrap();
    server.hangup();
    server.wait_for("the failed reload", WAIT, || {
        !server.logged("previous version keeps serving").is_empty()
    });
    let summary = server.logged("previous version keeps serving");
    assert!(summary[0].contains("errors=1 warnings=1"), "{summary:?}");
    let warning = server.logged("[enumservice-unregistered]");
    assert!(
        warning[0].contains(" WARN "),
        "a warning is logged as one: {warning:?}"
    );
    let error = server.logged("e164.zone:9: A record: bad IPv4 address");
    assert!(error[0].contains(" ERROR "), "{error:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["check", "--config"])
        .arg(dir.join("enumd.toml"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.ends_with("zone e164.arpa.: 1 error(s), not loadable\n"),
        "{out}"
    );
    assert_eq!(
        out.lines().count(),
        3,
        "the warning, the error, the summary: {out}"
    );
}

#[test]
fn a_reload_that_makes_a_loop_of_names_it_does_not_change_is_refused() {
    let dir = common::temp_dir("reload-chain");
    let zone = dir.join("e164.zone");
    // 5.5 → 1.9.9, which holds only a TXT: the chain ends there. Without that TXT, 1.9.9 is
    // the wildcard's, whose rule leads back to 5.5.
    let text = |serial: u32, blocker: bool| {
        let mut z = format!("$TTL 60\n@ SOA ns1 hm {serial} 1 1 1 60\n@ NS ns1\nns1 A 127.0.0.1\n");
        z.push_str("5.5 NAPTR 10 10 \"\" \"\" \"\" 1.9.9.e164.arpa.\n");
        z.push_str("*.9.9 NAPTR 10 10 \"\" \"\" \"\" 5.5.e164.arpa.\n");
        if blocker {
            z.push_str("1.9.9 TXT \"here\"\n");
        }
        z
    };
    std::fs::write(&zone, text(1000, true)).unwrap();
    let server = start(&dir, false);
    server.wait_for("first load", WAIT, || {
        server.serial("e164.arpa.") == Some(1000)
    });
    // Only 1.9.9 changes; the loop starts at 5.5 and at the wildcard.
    std::fs::write(&zone, text(1001, false)).unwrap();
    server.hangup();
    server.wait_for("the refused reload", WAIT, || {
        !server.logged("previous version keeps serving").is_empty()
    });
    let found = server.logged("[non-terminal-loop]");
    assert!(
        found
            .iter()
            .any(|l| l.contains("e164.zone:5:") || l.contains("e164.zone:6:")),
        "{found:?}"
    );
    assert_eq!(server.serial("e164.arpa."), Some(1000));
    let m = ask(server.addr, "1.9.9.e164.arpa.", RecordType::TXT).unwrap();
    assert_eq!(
        m.answers.len(),
        1,
        "the old version serves: {:?}",
        m.answers
    );
}
