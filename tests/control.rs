//! `enumd ctl` against the real server over its real control socket: every command, a reload
//! that fails (the old version keeps answering, exit 1, the reason printed), a server that is
//! gone (exit 2), and clients of another user refused by the socket's mode and, with a mode
//! that lets them connect, by their credentials.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use common::child::{ChildServer, ask};

/// The zone at `serial`, its number's URI on `host`.
fn zone_text(serial: u32, host: &str) -> String {
    format!(
        "$ORIGIN e164.arpa.\n$TTL 300\n@ SOA ns1 hostmaster.example.net. {serial} 3600 600 86400 60\n\
         @ NS ns1\nns1 A 192.0.2.1\n\
         3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+123@{host}!\" .\n"
    )
}

struct Lab {
    dir: PathBuf,
    server: ChildServer,
}

impl Lab {
    /// A server with `extra` lines at the top of its config and `zone_extra` in its zone's.
    fn start(tag: &str, extra: &str, zone_extra: &str) -> Self {
        let dir = common::temp_dir(tag);
        std::fs::write(dir.join("e164.arpa.zone"), zone_text(1, "a.example")).unwrap();
        std::fs::write(
            dir.join("enumd.toml"),
            format!(
                "listen = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\ncontrol = \"ctl.sock\"\n{extra}\
                 [[key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"\n\
                 [[zone]]\napex = \"e164.arpa.\"\nfile = \"e164.arpa.zone\"\nallow_update = [\"key:k\"]\n\
                 flush_interval = 0\n{zone_extra}"
            ),
        )
        .unwrap();
        let server = ChildServer::start(&dir.join("enumd.toml"));
        server.wait_for("the control socket", Duration::from_secs(20), || {
            !server.logged("control socket ready").is_empty()
        });
        Self { dir, server }
    }

    /// Adds a TXT at 4.2.1 with nsupdate, signed with the lab's key.
    fn add_flushed_txt(&self) {
        use std::io::Write;
        let mut nsupdate = Command::new("nsupdate")
            .args(["-y", "hmac-sha256:k:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nsupdate (apt-get install bind9-dnsutils)");
        let script = format!(
            "server 127.0.0.1 {}\nzone e164.arpa.\nupdate add 4.2.1.e164.arpa. 300 TXT \"flushed\"\nsend\n",
            self.server.addr.port()
        );
        let stdin = nsupdate.stdin.as_mut().unwrap();
        stdin.write_all(script.as_bytes()).unwrap();
        drop(nsupdate.stdin.take());
        assert!(nsupdate.wait().unwrap().success());
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("ctl.sock")
    }

    fn ctl(&self, args: &[&str]) -> Output {
        ctl_as(&self.socket(), args, None)
    }

    fn uri(&self) -> String {
        let m = ask(self.server.addr, "3.2.1.e164.arpa.", RecordType::NAPTR).expect("an answer");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        match &m.answers[0].data {
            RData::NAPTR(n) => String::from_utf8_lossy(&n.regexp).into_owned(),
            other => panic!("{other:?}"),
        }
    }
}

/// `enumd ctl --socket SOCKET ARGS`, as user `uid` when given.
fn ctl_as(socket: &Path, args: &[&str], uid: Option<u32>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_enumd"));
    c.arg("ctl").arg("--socket").arg(socket).args(args);
    if let Some(uid) = uid {
        c.uid(uid).gid(uid);
    }
    c.output().expect("enumd ctl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_command_against_a_running_server() {
    let lab = Lab::start("ctl", "", "");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(lab.socket()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "0600 by default");

    let status = lab.ctl(&["status"]);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(
        text(&status).contains("serving 1 of 1 zone(s)"),
        "{}",
        text(&status)
    );

    let zs = lab.ctl(&["--json", "zone-status", "e164.arpa."]);
    assert_eq!(zs.status.code(), Some(0), "{}", text(&zs));
    let v: serde_json::Value = serde_json::from_slice(&zs.stdout).unwrap();
    let z = &v["data"][0];
    assert_eq!(z["zone"], "e164.arpa.");
    assert_eq!(z["kind"], "primary");
    assert_eq!(z["serial"], 1);
    assert_eq!(z["numbers"], 1);
    assert_eq!(z["records"], 4);
    assert!(z["memory_bytes"].as_u64().unwrap() > 0);
    assert!(
        z["journal_bytes"].as_u64().is_some(),
        "a zone that takes updates has one"
    );

    // A reload that works: the new serial answers.
    std::fs::write(lab.dir.join("e164.arpa.zone"), zone_text(2, "b.example")).unwrap();
    let ok = lab.ctl(&["reload"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(
        text(&ok).contains("e164.arpa.: reloaded, serial 2"),
        "{}",
        text(&ok)
    );
    assert!(lab.uri().contains("b.example"));

    // One that fails: exit 1, the file and line and reason, the old version answering.
    let mut broken = zone_text(3, "c.example");
    broken.push_str("5.5 NAPTR 10\n");
    std::fs::write(lab.dir.join("e164.arpa.zone"), broken).unwrap();
    let failed = lab.ctl(&["reload", "e164.arpa"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let out = text(&failed);
    assert!(
        out.contains("e164.arpa.: failed; serial 2 keeps serving"),
        "{out}"
    );
    assert!(out.contains("e164.arpa.zone:7: "), "{out}");
    assert!(
        lab.uri().contains("b.example"),
        "the old version keeps serving"
    );
    std::fs::write(lab.dir.join("e164.arpa.zone"), zone_text(3, "c.example")).unwrap();
    assert_eq!(lab.ctl(&["reload"]).status.code(), Some(0));

    // An unknown zone, a command without its zone.
    let unknown = lab.ctl(&["reload", "example.org."]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown).contains("no such zone"),
        "{}",
        text(&unknown)
    );
    assert_eq!(lab.ctl(&["notify"]).status.code(), Some(1));

    // flush: nothing pending, then an update written to the file.
    assert!(text(&lab.ctl(&["flush"])).contains("no zone has changes"));
    lab.add_flushed_txt();
    let flush = lab.ctl(&["flush", "e164.arpa."]);
    assert!(
        text(&flush).contains("e164.arpa.: writing its zone file"),
        "{}",
        text(&flush)
    );
    lab.server
        .wait_for("the file written", Duration::from_secs(20), || {
            std::fs::read_to_string(lab.dir.join("e164.arpa.zone"))
                .unwrap()
                .contains("flushed")
        });

    // notify without targets; retransfer of a zone that is no secondary.
    let notify = lab.ctl(&["notify", "e164.arpa."]);
    assert_eq!(notify.status.code(), Some(1));
    assert!(
        text(&notify).contains("no NOTIFY targets"),
        "{}",
        text(&notify)
    );
    let retransfer = lab.ctl(&["retransfer", "e164.arpa."]);
    assert_eq!(retransfer.status.code(), Some(1));
    assert!(
        text(&retransfer).contains("not a secondary"),
        "{}",
        text(&retransfer)
    );

    // stop: the server goes, and so does its socket; ctl then cannot reach it.
    let stop = lab.ctl(&["stop"]);
    assert_eq!(stop.status.code(), Some(0), "{}", text(&stop));
    lab.server
        .wait_for("shutting down", Duration::from_secs(20), || {
            !lab.server.logged("shutting down").is_empty()
        });
    lab.server
        .wait_for("the socket removed", Duration::from_secs(20), || {
            !lab.socket().exists()
        });
    let gone = lab.ctl(&["status"]);
    assert_eq!(gone.status.code(), Some(2), "{}", text(&gone));
    assert!(text(&gone).contains("not reachable"), "{}", text(&gone));
}

#[test]
fn notify_sends_the_current_version_again() {
    let target = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    target
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let lab = Lab::start(
        "ctl-notify",
        "",
        &format!("notify = [\"{}\"]\n", target.local_addr().unwrap()),
    );
    let mut buf = [0u8; 1500];
    let (n, from) = target.recv_from(&mut buf).expect("the NOTIFY at start");
    let first_id = [buf[0], buf[1]];
    // Acknowledged, so that only ctl can make it come again.
    let mut ack = buf[..12].to_vec();
    ack[2] |= 0x80;
    ack[4..12].copy_from_slice(&[0; 8]);
    target.send_to(&ack, from).unwrap();
    assert!(n > 12);
    lab.server
        .wait_for("acknowledged", Duration::from_secs(10), || {
            !lab.server.logged("NOTIFY acknowledged").is_empty()
        });
    let out = lab.ctl(&["notify", "e164.arpa."]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("e164.arpa.: NOTIFY for serial 1 sent"),
        "{}",
        text(&out)
    );
    let (again, _) = target
        .recv_from(&mut buf)
        .expect("the NOTIFY ctl asked for");
    assert_eq!(buf[2] >> 3 & 0x0f, 4, "opcode NOTIFY");
    assert!(again > 12);
    assert_ne!(
        [buf[0], buf[1]],
        first_id,
        "a new NOTIFY, not the first one sent again"
    );
}

#[test]
fn a_flush_while_the_file_is_being_written_says_so() {
    let lab = Lab::start("ctl-flush-twice", "", "");
    // Big enough that writing it outlasts a second ctl call.
    let mut zone = zone_text(2, "a.example");
    for n in 0..300_000u32 {
        let digits: String = format!("{n:06}")
            .chars()
            .rev()
            .map(|c| format!("{c}."))
            .collect();
        zone.push_str(&format!(
            "{digits}9 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+9{n:06}@b.example!\" .\n"
        ));
    }
    std::fs::write(lab.dir.join("e164.arpa.zone"), zone).unwrap();
    let reload = lab.ctl(&["--timeout", "120", "reload"]);
    assert_eq!(reload.status.code(), Some(0), "{}", text(&reload));
    lab.add_flushed_txt();

    let first = lab.ctl(&["flush"]);
    assert!(
        text(&first).contains("e164.arpa.: writing its zone file"),
        "{}",
        text(&first)
    );
    let second = lab.ctl(&["flush"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert!(
        text(&second).contains(
            "e164.arpa.: already writing its zone file (serial 3); later changes wait for the next flush"
        ),
        "{}",
        text(&second)
    );
}

#[test]
fn clients_of_another_user_are_refused() {
    // Root runs the tests and the server; `nobody` runs the client.
    const NOBODY: u32 = 65534;
    let lab = Lab::start("ctl-users", "", "");
    // The mode keeps them out: not reachable.
    let denied = ctl_as(&lab.socket(), &["status"], Some(NOBODY));
    assert_eq!(denied.status.code(), Some(2), "{}", text(&denied));
    assert!(
        text(&denied).contains("ermission denied"),
        "{}",
        text(&denied)
    );
    drop(lab);
    // A mode that lets anyone connect still serves only enumd's user (and root).
    let lab = Lab::start("ctl-users-open", "control_mode = \"0666\"\n", "");
    let refused = ctl_as(&lab.socket(), &["status"], Some(NOBODY));
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("refused: the client runs as uid 65534"),
        "{}",
        text(&refused)
    );
    assert_eq!(lab.ctl(&["status"]).status.code(), Some(0));
    assert_eq!(lab.server.logged("control connection refused").len(), 1);
}
