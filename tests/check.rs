//! `enumd check` lists every problem of a zone as `file:line: reason` and exits non-zero.

mod common;

use std::process::Command;

fn check(config: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["check", "--config", config])
        .output()
        .expect("run enumd check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn every_mistake_is_listed_with_file_and_line() {
    let (code, out) = check("tests/data/broken/enumd.toml");
    assert_eq!(code, 1, "{out}");
    let z = "tests/data/broken/broken.zone";
    let inc = "tests/data/broken/broken.inc";
    let expected = [
        format!(
            "{z}:8: NAPTR record: regexp is 256 bytes: a character-string holds at most 255 (RFC 1035 §3.3)"
        ),
        format!("{z}:9: owner 3.example.com. is outside the zone e164.arpa."),
        format!("{z}:10: second SOA record at the apex"),
        format!(
            "{z}:12: NAPTR beside a CNAME: a CNAME owner holds no other data (RFC 1034 §3.6.2)"
        ),
        format!("{z}:13: NAPTR record: missing regexp"),
        format!("{z}:14: A record: bad IPv4 address"),
        format!("{z}:15: NAPTR record: bad order 'ten': 0..65535 expected"),
        format!("{z}:16: unterminated quoted string"),
        format!("{z}:18: unknown record type 'BOGUS'"),
        // Files in the order they were opened, each by line.
        format!("{inc}:3: AAAA record: bad IPv6 address"),
        "zone e164.arpa.: 10 error(s), not loadable".to_string(),
    ];
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got, expected);
}

#[test]
fn missing_soa_and_cname_conflicts_are_errors() {
    let dir = common::temp_dir("check");
    std::fs::write(
        dir.join("z.zone"),
        "$TTL 60\n@ NS ns.example.\n@ CNAME elsewhere.example.\n1 CNAME a.example.\n1 CNAME b.example.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("c.toml"),
        "[[zone]]\napex = \"e164.arpa.\"\nfile = \"z.zone\"\n",
    )
    .unwrap();
    let (code, out) = check(dir.join("c.toml").to_str().unwrap());
    assert_eq!(code, 1);
    let z = dir.join("z.zone");
    let z = z.display();
    assert!(
        out.contains(&format!("{z}:3: NS beside a CNAME"))
            || out.contains(&format!("{z}:3: CNAME at the zone apex")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{z}:5: more than one CNAME at a name")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{z}: no SOA record at the apex e164.arpa.")),
        "{out}"
    );
}

#[test]
fn a_good_zone_is_summarised() {
    let dir = common::temp_dir("check-ok");
    std::fs::write(
        dir.join("z.zone"),
        "$TTL 60\n@ SOA ns hm 42 1 1 1 1\n@ NS ns.example.\n1.2 NAPTR 1 1 \"u\" \"E2U+sip\" \"!^.*$!sip:a@b!\" .\n*.3 NAPTR 1 1 \"u\" \"E2U+sip\" \"!^.*$!sip:a@b!\" .\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("c.toml"),
        "[[zone]]\napex = \"e164.arpa.\"\nfile = \"z.zone\"\n",
    )
    .unwrap();
    let (code, out) = check(dir.join("c.toml").to_str().unwrap());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("zone e164.arpa.: ok, serial 42, 3 names, 4 records, 1 numbers"),
        "{out}"
    );
}

#[test]
fn config_errors_name_the_key() {
    let dir = common::temp_dir("check-cfg");
    std::fs::write(
        dir.join("c.toml"),
        "listen = [\"127.0.0.1:53\"]\nwatchh = true\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["check", "--config", dir.join("c.toml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("watchh"));
}

#[test]
fn listen_addresses_that_cannot_work_say_what_to_write() {
    let dir = common::temp_dir("check-listen");
    for (listen, says) in [
        (
            "localhost:5440",
            "localhost is a host name, and enumd binds addresses, not names",
        ),
        (
            "127.0.0.1",
            "has no port: write IP:port, such as 127.0.0.1:5300 or [::1]:5300 (here 127.0.0.1:53)",
        ),
        (
            "999.1.1.1:53",
            "999.1.1.1 is not an IPv4 address (four numbers from 0 to 255)",
        ),
    ] {
        std::fs::write(dir.join("c.toml"), format!("listen = [\"{listen}\"]\n")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_enumd"))
            .args(["check", "--config", dir.join("c.toml").to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{listen}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{listen}: {err}");
        assert!(!err.contains("invalid socket address syntax"), "{err}");
    }
}

#[test]
fn a_privileged_port_without_privilege_names_the_ways_out() {
    // In a user and network namespace of its own, enumd has no privilege and the namespace's
    // ip_unprivileged_port_start is the kernel's default, 1024, whoever runs the test.
    let dir = common::temp_dir("check-port53");
    std::fs::write(dir.join("c.toml"), "listen = [\"0.0.0.0:53\"]\n").unwrap();
    let out = Command::new("unshare")
        .args([
            "--user",
            "--net",
            env!("CARGO_BIN_EXE_enumd"),
            "serve",
            "--config",
        ])
        .arg(dir.join("c.toml"))
        .output()
        .expect("run unshare (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot listen on any configured address: 0.0.0.0:53: Permission denied")
            && err.contains("port 53 is below 1024, which needs privilege")
            && err.contains("setcap cap_net_bind_service=+ep")
            && err.contains("or listen on a port above 1023"),
        "{err}"
    );
}
