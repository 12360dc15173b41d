//! systemd's readiness protocol over a real socket: the test plays the service manager, binding
//! the datagram socket `$NOTIFY_SOCKET` names, and reads what the real binary tells it.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use common::child::{ChildServer, ask};

/// A zone of `numbers` numbers under `e164.arpa.`: enough that loading takes a moment.
fn write_zone(dir: &Path, numbers: usize) -> std::path::PathBuf {
    let mut z = String::from(
        "$ORIGIN e164.arpa.\n$TTL 300\n\
         @ SOA ns1 hostmaster.example.net. 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.1\n",
    );
    for i in 0..numbers {
        let digits = format!("4420{i:07}");
        let owner: String = digits.chars().rev().flat_map(|c| [c, '.']).collect();
        z.push_str(&format!(
            "{owner}e164.arpa. NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+{digits}@example.net!\" .\n"
        ));
    }
    let path = dir.join("e164.arpa.zone");
    std::fs::write(&path, z).unwrap();
    let config = dir.join("enumd.toml");
    std::fs::write(
        &config,
        "listen = [\"127.0.0.1:0\"]\n[[zone]]\napex = \"e164.arpa.\"\nfile = \"e164.arpa.zone\"\n",
    )
    .unwrap();
    config
}

/// Now, as the log writes its times (RFC 3339, UTC, microseconds).
fn utc_now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.%6NZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The next message the service manager receives, as text.
fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

fn number_answers(server: &ChildServer, i: usize) -> (ResponseCode, usize) {
    let digits = format!("4420{i:07}");
    let owner: String = digits.chars().rev().flat_map(|c| [c, '.']).collect();
    let m = ask(
        server.addr,
        &format!("{owner}e164.arpa."),
        RecordType::NAPTR,
    )
    .expect("an answer");
    (m.metadata.response_code, m.answers.len())
}

#[test]
fn ready_only_once_the_zones_answer_then_reloading_and_stopping() {
    let dir = common::temp_dir("systemd");
    let config = write_zone(&dir, 200_000);
    let path = dir.join("notify.sock");
    let manager = UnixDatagram::bind(&path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let server = ChildServer::start_with_env(&config, &[("NOTIFY_SOCKET", path.as_os_str())]);
    // The first word is READY; the zone had loaded before it (the log's clock is the same
    // wall clock as `date`'s), and the last number of the zone answers.
    let ready = next(&manager);
    let after_ready = utc_now();
    assert_eq!(ready, "READY=1\nSTATUS=serving 1 zone(s)\n");
    server.wait_for("the load logged", Duration::from_secs(10), || {
        !server.logged("zone loaded").is_empty()
    });
    let loaded = server.logged("zone loaded").remove(0);
    let loaded_at = loaded.split_whitespace().next().unwrap().to_string();
    assert!(
        loaded_at <= after_ready,
        "READY came before the zone had loaded: loaded at {loaded_at}, READY by {after_ready}"
    );
    assert_eq!(
        number_answers(&server, 199_999),
        (ResponseCode::NoError, 1),
        "ready means answering"
    );

    // SIGHUP: RELOADING=1 (with the monotonic time systemd 253 wants), READY=1 when done.
    server.hangup();
    let reloading = next(&manager);
    let lines: Vec<&str> = reloading.lines().collect();
    assert_eq!(lines[0], "RELOADING=1", "{reloading}");
    let usec: u64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("{reloading}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    assert_eq!(next(&manager), "READY=1\nSTATUS=serving 1 zone(s)\n");

    // SIGTERM: STOPPING=1.
    let ok = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", server.child.id())])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    assert_eq!(next(&manager), "STOPPING=1\nSTATUS=shutting down\n");
}

#[test]
fn an_abstract_notify_socket_is_reached_too() {
    use std::os::linux::net::SocketAddrExt;
    let dir = common::temp_dir("systemd-abstract");
    let config = write_zone(&dir, 10);
    let name = format!("enumd-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let manager = UnixDatagram::bind_addr(&addr).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let target = format!("@{name}");
    let server =
        ChildServer::start_with_env(&config, &[("NOTIFY_SOCKET", std::ffi::OsStr::new(&target))]);
    assert_eq!(next(&manager), "READY=1\nSTATUS=serving 1 zone(s)\n");
    assert_eq!(number_answers(&server, 3), (ResponseCode::NoError, 1));
}
