//! `enumd check` and loading: ENUM validation of provisioned NAPTRs, end to end.

mod common;

use std::process::Command;

use common::TestServer;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// A copy of the shipped lab (config/enumd.toml and zones/), which users may edit.
const LAB: &str = "tests/data/lab/enumd.toml";

fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .arg("check")
        .args(args)
        .output()
        .expect("run enumd check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `(line, "warning: "?, rule)` of each finding line.
fn findings(out: &str) -> Vec<(u32, String)> {
    out.lines()
        .filter_map(|l| {
            let rest = l.split_once(".zone:")?.1;
            let (line, rest) = rest.split_once(": ")?;
            let warning = if rest.starts_with("warning: ") {
                "warning "
            } else {
                ""
            };
            let rule = rest.rsplit_once(" [")?.1.split(']').next()?;
            Some((line.parse().ok()?, format!("{warning}{rule}")))
        })
        .collect()
}

#[test]
fn check_lists_every_naptr_mistake_with_its_line_and_rule() {
    let (code, out) = check(&["--config", "tests/data/naptr/enumd.toml"]);
    assert_eq!(code, 1, "{out}");
    let expected: Vec<(u32, &str)> = vec![
        (8, "enumservice-syntax"),
        (9, "enumservice-syntax"),
        (10, "enumservice-syntax"),
        (11, "enumservice-syntax"),
        (12, "warning enumservice-unregistered"),
        (13, "warning enumservice-experimental"),
        (14, "warning enumservice-private"),
        (15, "terminal-needs-regexp"),
        (16, "regexp-and-replacement"),
        (17, "non-terminal-regexp"),
        (18, "non-terminal-needs-replacement"),
        (19, "warning non-terminal-services"),
        (20, "warning unknown-flags"),
        (21, "terminal-needs-enumservice"),
        (22, "regexp-syntax"),
        (23, "regexp-syntax"),
        (24, "warning regexp-i-flag"),
        (25, "regexp-syntax"),
        (26, "regexp-syntax"),
        (27, "regexp-syntax"),
        (28, "warning regexp-bytes"),
        (29, "warning regexp-no-match"),
        (30, "warning result-not-uri"),
        (31, "warning uri-scheme"),
        (32, "warning tel-loop"),
        (34, "warning same-order-preference"),
        (35, "non-terminal-loop"),
        (36, "non-terminal-loop"),
        (37, "non-terminal-chain"),
        (44, "warning rn-without-npdi"),
    ];
    let got = findings(&out);
    let got: Vec<(u32, &str)> = got.iter().map(|(l, r)| (*l, r.as_str())).collect();
    assert_eq!(got, expected, "{out}");
    assert!(
        out.ends_with("zone 4.4.e164.arpa.: 17 error(s), not loadable\n"),
        "{out}"
    );
    // Each message names the record, the rule and the RFC section.
    assert!(out.contains(
        "tests/data/naptr/mistakes.zone:8: 1.0.4.4.e164.arpa. NAPTR 10 100 \"u\" \"sip+E2U\" \"!^.*$!sip:a@example.com!\" .: \
         'sip+E2U' is the RFC 2916 form; write 'E2U+sip' [enumservice-syntax] (RFC 6116 §3.4.3)"
    ), "{out}");
    assert!(out.contains(
        ":35: 7.2.4.4.e164.arpa. NAPTR 10 100 \"\" \"\" \"\" 8.2.4.4.e164.arpa.: non-terminal rules loop: \
         7.2.4.4.e164.arpa. → 8.2.4.4.e164.arpa. → 7.2.4.4.e164.arpa. [non-terminal-loop] (RFC 6116 §5.2)"
    ), "{out}");
}

#[test]
fn lab_passes_strict_but_for_its_commented_intended_warning() {
    let (code, out) = check(&["--config", LAB, "--strict"]);
    let findings = findings(&out);
    // The ENUM draft's historic voice:sip, kept on purpose.
    assert_eq!(
        findings,
        [(98, "enumservice-unregistered".to_string())],
        "{out}"
    );
    assert_eq!(code, 1, "strict turns it into an error");
    let zone = std::fs::read_to_string("tests/data/lab/e164.arpa.zone").unwrap();
    let lines: Vec<&str> = zone.lines().collect();
    assert!(lines[97].contains("E2U+voice:sip"));
    assert!(
        lines[96].starts_with("; enumd check warns: voice:sip is not registered"),
        "commented in the zone"
    );
    // Without --strict the lab loads, with that one warning.
    let (code, out) = check(&["--config", LAB]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "zone e164.arpa.: ok, serial 2025060101, 17 names, 28 records, 7 numbers, 1 warning(s)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "zone e164enum.net.: ok, serial 2025060101, 5 names, 9 records, 3 numbers, 0 warning(s)"
        ),
        "{out}"
    );
}

const WARNED: &str = "$TTL 60\n@ SOA ns hm 1 1 1 1 60\n@ NS ns.example.\n\
    1 NAPTR 10 10 \"u\" \"E2U+voice:sip\" \"!^.*$!sip:a@example.com!\" .\n";

#[test]
fn warnings_load_and_strict_zones_do_not() {
    let s = TestServer::start(&[("e164.arpa.", WARNED)]);
    assert_eq!(s.ask("1.e164.arpa.", RecordType::NAPTR).answers.len(), 1);

    let dir = common::temp_dir("strict");
    std::fs::write(dir.join("z.zone"), WARNED).unwrap();
    std::fs::write(
        dir.join("c.toml"),
        "listen = [\"127.0.0.1:0\"]\n[[zone]]\napex = \"e164.arpa.\"\nfile = \"z.zone\"\nstrict = true\n",
    )
    .unwrap();
    let (code, out) = check(&["--config", dir.join("c.toml").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains(":4: strict: 1.e164.arpa. NAPTR"), "{out}");
    let config = enumd::config::Config::load(&dir.join("c.toml")).unwrap();
    let zones = enumd::reload::ZoneSet::load(&config);
    assert!(
        zones.snapshot().zones.is_empty(),
        "a strict zone with a warning is not served"
    );
}

#[test]
fn a_zone_with_validation_errors_is_refused_not_half_served() {
    let zone = "$TTL 60\n@ SOA ns hm 1 1 1 1 60\n@ NS ns.example.\n\
        1 NAPTR 10 10 \"u\" \"sip+E2U\" \"!^.*$!sip:a@example.com!\" .\n\
        2 NAPTR 10 10 \"u\" \"E2U+sip\" \"!^.*$!sip:b@example.com!\" .\n";
    let s = TestServer::start(&[("e164.arpa.", zone)]);
    let m = s.ask("2.e164.arpa.", RecordType::NAPTR);
    // Configured but not loaded: SERVFAIL, so resolvers try another server (as BIND answers).
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert!(m.answers.is_empty() && !m.metadata.authoritative);
}
