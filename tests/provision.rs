//! `enumd provision` and `enumd export` against a running enumd, over real sockets: ranges and
//! portability lists applied by signed UPDATE; input errors named by line with nothing sent;
//! a second run that sends nothing; a killed run finished by running it again; a change made
//! after a dry run detected when its saved plan is sent. The same files against Knot DNS and
//! BIND are in `tests/provision_interop.py`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{TestServer, temp_dir};
use hickory_proto::rr::{RData, RecordType};

const SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==";
const APEX: &str = "3.4.e164.arpa.";

/// A zone for +43 with a number, a CNAME and a delegation already in it.
const ZONE: &str = "$ORIGIN 3.4.e164.arpa.\n$TTL 3600\n\
@ SOA ns1.example.at. hostmaster.example.at. 1 3600 900 1209600 300\n\
@ NS ns1.example.at.\n\
0.0.3.3.9.7.9.1 600 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:old@pbx.example.at!\" .\n\
9.9.3.3.9.7.9.1 CNAME 0.0.3.3.9.7.9.1\n\
8 NS ns.8.3.4.e164.arpa.\n\
ns.8 A 192.0.2.8\n";

struct Lab {
    server: TestServer,
    dir: PathBuf,
}

impl Lab {
    fn start() -> Self {
        Self::start_with("allow_update = [\"key:provisioning\"]")
    }

    /// A lab whose zone takes updates as `allow_update` says (the key may always transfer).
    fn start_with(allow_update: &str) -> Self {
        let dir = temp_dir("prov");
        std::fs::write(dir.join("z.zone"), ZONE).unwrap();
        std::fs::write(
            dir.join("enumd.toml"),
            format!(
                "listen = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\n\
                 [[key]]\nname = \"provisioning\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
                 [[zone]]\napex = \"{APEX}\"\nfile = \"z.zone\"\n\
                 {allow_update}\nallow_transfer = [\"key:provisioning\"]\n"
            ),
        )
        .unwrap();
        let server = TestServer::start_config(dir.join("enumd.toml").to_str().unwrap());
        Self { server, dir }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_enumd"));
        c.args(args)
            .args(["--zone", APEX, "--server", &self.server.addr.to_string()])
            .args(["--key", &format!("hmac-sha256:provisioning:{SECRET}")]);
        c
    }

    fn provision(&self, file: &Path, extra: &[&str]) -> Output {
        let out = self
            .command(&["provision", file.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        eprintln!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn serial(&self) -> u32 {
        let m = self.server.ask(APEX, RecordType::SOA);
        match &m.answers[0].data {
            RData::SOA(soa) => soa.serial,
            other => panic!("not an SOA: {other:?}"),
        }
    }

    /// The NAPTRs of a number, as text, sorted.
    fn naptrs(&self, digits: &str) -> Vec<String> {
        let owner: String = digits.chars().rev().map(|c| format!("{c}.")).collect();
        let name = format!("{owner}e164.arpa.");
        let m = self.server.ask(&name, RecordType::NAPTR);
        let mut out: Vec<String> = m
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::NAPTR)
            .map(|r| format!("{} {}", r.ttl, r.data))
            .collect();
        out.sort();
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_range_and_a_portability_list_apply_and_a_second_run_sends_nothing() {
    let lab = Lab::start();
    let ranges = lab.write(
        "ranges.csv",
        "action,number,service,uri,order,preference,ttl\n\
         # the PBX's block, its operator's backup and a mailbox per desk\n\
         set,+43197933XX,sip,sip:{extension}@pbx.example.at,10,100,600\n\
         add,+4319793300,sip,sip:operator@backup.example.at,20,100,600\n\
         set,+4319793300-+4319793309,email:mailto,mailto:desk{extension}@example.at,10,110,\n",
    );
    // 99 is a CNAME: no NAPTR can go beside it, and the run says so before sending anything.
    let out = lab.provision(&ranges, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("ranges.csv:3: error: +4319793399: 9.9.3.3.9.7.9.1.3.4.e164.arpa. is a CNAME"),
        "{t}"
    );
    assert_eq!(lab.serial(), 1);

    let ranges = lab.write(
        "ranges.csv",
        "action,number,service,uri,order,preference,ttl\n\
         set,+4319793300-+4319793398,sip,sip:{extension}@pbx.example.at,10,100,600\n\
         add,+4319793300,sip,sip:operator@backup.example.at,20,100,600\n\
         set,+4319793300-+4319793309,email:mailto,mailto:desk{extension}@example.at,10,110,\n",
    );
    let out = lab.provision(&ranges, &["--dry-run"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(
            "difference: 110 NAPTR(s) to add, 1 to remove, 0 to get a new TTL, 0 unchanged; 99 of 99 number(s) to change"
        ),
        "{t}"
    );
    assert!(t.contains("- 0.0.3.3.9.7.9.1.3.4.e164.arpa. NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:old@pbx.example.at!\" ."), "{t}");
    assert!(t.contains("dry run: nothing sent"));
    assert_eq!(lab.serial(), 1, "a dry run sends nothing");
    let out = lab.provision(&ranges, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("applied 1 of 1 UPDATE message(s): 99 of 99 number(s) changed"),
        "{t}"
    );
    assert_eq!(lab.serial(), 2, "one UPDATE, one new version");
    assert_eq!(
        lab.naptrs("4319793300"),
        [
            "600 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:00@pbx.example.at!\" .",
            "600 10 110 \"u\" \"E2U+email:mailto\" \"!^.*$!mailto:desk0@example.at!\" .",
            "600 20 100 \"u\" \"E2U+sip\" \"!^.*$!sip:operator@backup.example.at!\" ."
        ]
    );
    assert_eq!(
        lab.naptrs("4319793342"),
        ["600 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:42@pbx.example.at!\" ."]
    );

    let out = lab.provision(&ranges, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out).contains("nothing to do: no UPDATE sent"),
        "{}",
        text(&out)
    );
    assert_eq!(lab.serial(), 2, "the second run sends no UPDATE");

    // Ported out, ported out with another operator, ported back (an empty routing number).
    let ported = lab.write(
        "ported.csv",
        "number,routing_number,operator\n+4319793311,+4319790,A1\n+4319793312,+4319791,B2\n",
    );
    assert_eq!(lab.provision(&ported, &[]).status.code(), Some(0));
    assert_eq!(
        lab.naptrs("4319793311"),
        [
            "600 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:11@pbx.example.at!\" .",
            "600 100 10 \"u\" \"E2U+pstn:tel\" \"!^.*$!tel:+4319793311;npdi;rn=+4319790!\" ."
        ],
        "the number's RRset keeps its TTL"
    );
    let serial = lab.serial();
    assert!(text(&lab.provision(&ported, &[])).contains("nothing to do"));
    assert_eq!(lab.serial(), serial);
    let back = lab.write("back.csv", "number,routing_number\n+4319793311,\n");
    assert_eq!(lab.provision(&back, &[]).status.code(), Some(0));
    assert_eq!(
        lab.naptrs("4319793311"),
        ["600 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:11@pbx.example.at!\" ."]
    );

    // What export writes, provisioned again, is what is there: nothing to do.
    let export = lab.command(&["export"]).output().unwrap();
    assert_eq!(export.status.code(), Some(0));
    let csv = String::from_utf8(export.stdout).unwrap();
    assert!(
        csv.starts_with("action,number,service,uri,order,preference,ttl\n"),
        "{csv}"
    );
    assert!(
        csv.contains("add,+4319793300,sip,sip:operator@backup.example.at,20,100,600\n"),
        "{csv}"
    );
    let again = lab.write("exported.csv", &csv);
    assert!(text(&lab.provision(&again, &[])).contains("nothing to do"));
    let export = lab
        .command(&["export", "--format", "portability"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(export.stdout).unwrap(),
        "number,routing_number\n+4319793312,+4319791\n"
    );
}

#[test]
fn input_errors_name_their_lines_and_nothing_is_sent() {
    let lab = Lab::start();
    let ranges = lab.write(
        "bad-ranges.csv",
        "number,service,uri\n\
         +43197933x1,sip,sip:{number}@pbx.example.at\n\
         +4319793301,sipp,sip:{number}@pbx.example.at\n\
         +4319793302,sip,pbx.example.at/{digits}\n\
         +431979330X,sip,sip:{extension}@a.example.at\n\
         +4319793305-+4319793306,sip,sip:{extension}@b.example.at\n\
         +4419793307,sip,sip:{number}@pbx.example.at\n",
    );
    let out = lab.provision(&ranges, &["--force"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for want in [
        "bad-ranges.csv:2: error: \"+43197933x1\" is not a number",
        "bad-ranges.csv:3: warning: +4319793301: Enumservice sipp is not in the IANA registry",
        "bad-ranges.csv:4: warning: +4319793302: REGEXP turns +4319793302 into 'pbx.example.at/4319793302', which is not a URI",
        "bad-ranges.csv:6: error: +4319793305 (and 1 more numbers of this line): line 5 already sets e2u+sip differently",
        "bad-ranges.csv:7: error: +4419793307: not in zone 3.4.e164.arpa.",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
    assert!(t.contains("nothing sent"), "{t}");

    let ported = lab.write(
        "bad-ported.csv",
        "number,routing_number\n+4319793301,+4319790\n+43ABC,+4319790\n+4319793303,+43-19790\n+4319793304,+4319790,extra,fields\n",
    );
    let out = lab.provision(&ported, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for want in [
        "bad-ported.csv:3: error: \"+43ABC\" is not a number",
        "bad-ported.csv:4: error: routing number \"+43-19790\" is not a number",
        "bad-ported.csv:5: error: 4 fields, but the header names 2",
    ] {
        assert!(t.contains(want), "missing {want:?} in:\n{t}");
    }
    // Warnings alone stop the run too, unless --force.
    let warned = lab.write(
        "warned.csv",
        "number,service,uri\n+4319793301,sipp,sip:a@b.example\n",
    );
    let out = lab.provision(&warned, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--force sends anyway"));
    assert_eq!(lab.serial(), 1, "nothing was sent");
    assert_eq!(lab.provision(&warned, &["--force"]).status.code(), Some(0));
    assert_eq!(lab.serial(), 2);
}

#[test]
fn an_interrupted_run_finishes_when_run_again() {
    let lab = Lab::start();
    // 100,000 numbers, 5 records an UPDATE: 20,000 messages, seconds of work to interrupt.
    let block = lab.write(
        "block.csv",
        "number,service,uri\n+4315XXXXX,sip,sip:{number}@sip.example.at\n",
    );
    let mut child = lab
        .command(&["provision", block.to_str().unwrap(), "--batch", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lab.serial() < 20 {
        assert!(Instant::now() < deadline, "no UPDATE arrived");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL: mid-run, between or inside a batch
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200)); // a batch it had sent whole may still land
    let done = lab.serial();
    assert!(
        lab.naptrs("431599999").is_empty(),
        "the last batch was not sent"
    );
    let out = lab.provision(&block, &["--batch", "500"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let applied = (done - 1) as usize * 5;
    assert!(
        t.contains(&format!(
            "{} unchanged; {} of 100000 number(s) to change",
            applied,
            100_000 - applied
        )),
        "the first run's {applied} records are kept, not sent again:\n{t}"
    );
    for n in ["431500000", "431512345", "431599999"] {
        assert_eq!(
            lab.naptrs(n),
            [format!(
                "3600 100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:+{n}@sip.example.at!\" ."
            )]
        );
    }
    assert!(text(&lab.provision(&block, &[])).contains("nothing to do"));
}

#[test]
fn a_change_made_after_the_dry_run_is_detected_when_its_plan_is_sent() {
    let lab = Lab::start();
    let file = lab.write(
        "three.csv",
        "number,service,uri\n+4319793300,sip,sip:new@pbx.example.at\n+4319793301,sip,sip:one@pbx.example.at\n+4319793302,sip,sip:two@pbx.example.at\n",
    );
    let plan = lab.dir.join("plan.json");
    let out = lab.provision(&file, &["--dry-run", "--save-plan", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Meanwhile someone else changes +4319793300 (the number the plan replaces a record of).
    let other = lab.write(
        "other.csv",
        "number,service,uri\n+4319793300,sip,sip:theirs@pbx.example.at\n",
    );
    assert_eq!(lab.provision(&other, &[]).status.code(), Some(0));
    let out = lab
        .command(&[
            "provision",
            "--plan",
            plan.to_str().unwrap(),
            "--batch",
            "1",
            "--in-flight",
            "1",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("(input lines 2-2, +4319793300 to +4319793300) refused with NXRRSET: a number changed since the zone was read"),
        "{t}"
    );
    assert!(t.contains("applied 2 of 3 UPDATE message(s)"), "{t}");
    assert_eq!(
        lab.naptrs("4319793300"),
        ["600 100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:theirs@pbx.example.at!\" ."],
        "the other change is not overwritten"
    );
    assert_eq!(
        lab.naptrs("4319793301"),
        ["3600 100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:one@pbx.example.at!\" ."]
    );
}

#[test]
fn a_zone_that_refuses_the_key_stops_the_run_with_nothing_applied() {
    // The key may read the zone but not update it: the first answer is REFUSED, the run stops
    // there (the messages already in flight are refused too) and says so.
    let lab = Lab::start_with("allow_update = [\"10.9.9.9/32\"]");
    let file = lab.write(
        "block.csv",
        "number,service,uri\n+4319793300-+4319793398,sip,sip:{extension}@pbx.example.at\n",
    );
    let out = lab.provision(&file, &["--batch", "10"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("UPDATE 1 of 10 (input lines 2-2): refused with REFUSED; stopped"),
        "{t}"
    );
    assert!(
        t.contains("applied 0 of 10 UPDATE message(s): 0 of 99 number(s) changed"),
        "{t}"
    );
    assert!(
        t.contains("stopped: once what stopped it is mended, run again to finish"),
        "{t}"
    );
    assert_eq!(lab.serial(), 1, "nothing applied");
    assert_eq!(
        lab.naptrs("4319793300"),
        ["600 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:old@pbx.example.at!\" ."]
    );
}
