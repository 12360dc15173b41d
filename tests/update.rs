//! RFC 2136 UPDATE with TSIG over real sockets, sent by real clients: BIND's `nsupdate`, Knot's
//! `knsupdate` and dnspython; the journal surviving SIGKILL, a torn and a corrupt last entry;
//! flushing to the zone file and reloading by difference. Each test runs the real binary on
//! 127.0.0.1 with a port of its own.

mod common;

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};

use common::child::{ChildServer, ask};

/// The test key's secret (base64 of 32 bytes), as `tsig-keygen` would make.
const SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==";

const ZONE: &str = "$ORIGIN e164.arpa.\n$TTL 3600\n\
@ SOA ns1.example.net. hostmaster.example.net. 100 7200 3600 1209600 300\n\
@ NS ns1.example.net.\n\
@ NS ns2.example.net.\n\
3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+123@example.net!\" .\n\
3.2.1 TXT \"subscriber\"\n\
4.2.1 CNAME 3.2.1\n\
*.9.9 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^\\\\+99(.*)$!sip:\\\\1@pbx.example.net!\" .\n\
5.5 NS ns.tier3.example.org.\n";

/// A lab: the zone above in a directory of its own, the key, and the server.
struct Lab {
    dir: PathBuf,
    server: ChildServer,
}

fn write_config_with(dir: &Path, allow: &str, zone_extra: &str, zone: &str) {
    std::fs::create_dir_all(dir.join("lab-zones")).unwrap();
    if !dir.join("lab-zones/e.zone").exists() {
        std::fs::write(dir.join("lab-zones/e.zone"), zone).unwrap();
    }
    std::fs::write(
        dir.join("enumd.toml"),
        format!(
            "listen = [\"127.0.0.1:0\"]\nstate_dir = \"state\"\n\
             [[key]]\nname = \"provisioning\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
             [[zone]]\napex = \"e164.arpa.\"\nfile = \"lab-zones/e.zone\"\nallow_update = [{allow}]\n{zone_extra}"
        ),
    )
    .unwrap();
}

impl Lab {
    fn new(name: &str, allow: &str, zone_extra: &str) -> Self {
        Self::with_zone(name, allow, zone_extra, ZONE)
    }

    fn with_zone(name: &str, allow: &str, zone_extra: &str, zone: &str) -> Self {
        let dir = common::temp_dir(name);
        write_config_with(&dir, allow, zone_extra, zone);
        let server = ChildServer::start(&dir.join("enumd.toml"));
        // Generous: beside the other tests, a big zone's first journal sync can wait long.
        server.wait_for("serving", Duration::from_secs(90), || {
            !server.logged("serving").is_empty()
        });
        Self { dir, server }
    }

    /// SIGKILL, then a new server on the same files, waited for until it serves.
    fn restart(&mut self) {
        let _ = self.server.child.kill();
        let _ = self.server.child.wait();
        self.server = ChildServer::start(&self.dir.join("enumd.toml"));
        let s = &self.server;
        s.wait_for("serving", Duration::from_secs(90), || {
            !s.logged("serving").is_empty()
        });
    }

    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// SIGUSR1: write the zone file.
    fn usr1(&self) {
        let pid = self.server.child.id();
        let sent = Command::new("sh")
            .args(["-c", &format!("kill -USR1 {pid}")])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Runs `nsupdate` with `lines` in the zone, signed with `key` (`-y` form) if given:
    /// "NOERROR" or the RCODE nsupdate reports.
    fn nsupdate(&self, lines: &str, key: Option<&str>) -> String {
        let script = format!(
            "server 127.0.0.1 {}\nzone e164.arpa.\n{lines}\nsend\n",
            self.addr().port()
        );
        run_client("nsupdate", key, &script)
    }

    fn knsupdate(&self, lines: &str) -> String {
        let script = format!(
            "server 127.0.0.1 {}\nzone e164.arpa.\n{lines}\nsend\n",
            self.addr().port()
        );
        run_client("knsupdate", Some(&good_key()), &script)
    }

    /// The records at `name` of `rtype`, as `TTL TYPE RDATA` lines, sorted.
    fn records(&self, name: &str, rtype: RecordType) -> Vec<String> {
        let m = ask(self.addr(), name, rtype).expect("an answer");
        let mut v: Vec<String> = m
            .answers
            .iter()
            .filter(|r| r.record_type() == rtype)
            .map(|r| format!("{} {} {}", r.ttl, r.record_type(), r.data))
            .collect();
        v.sort();
        v
    }

    fn serial(&self) -> u32 {
        self.server.serial("e164.arpa.").expect("the SOA")
    }
}

fn good_key() -> String {
    format!("hmac-sha256:provisioning:{SECRET}")
}

/// Runs an update client with a script on stdin; "NOERROR", or the RCODE after "update
/// failed: " (nsupdate) or what knsupdate reports.
fn run_client(program: &str, key: Option<&str>, script: &str) -> String {
    let mut cmd = Command::new(program);
    if let Some(k) = key {
        cmd.args(["-y", k]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program}: {e} (apt-get install bind9-dnsutils knot-dnsutils)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && !text.contains("failed") {
        return "NOERROR".to_string();
    }
    for marker in ["update failed: ", "(status ", "failed to update ("] {
        if let Some(at) = text.find(marker) {
            let rest = &text[at + marker.len()..];
            return rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '(' || *c == ')')
                .collect();
        }
    }
    format!("unexpected {program} output: {text}")
}

#[test]
fn rfc2136_every_prerequisite_and_update_kind_answers_its_rcode_over_nsupdate() {
    let lab = Lab::new("upd-kinds", "\"key:provisioning\"", "");
    let key = good_key();
    let k = Some(key.as_str());
    let s0 = lab.serial();
    // Every prerequisite kind, met and not, with the RCODE RFC 2136 §3.2 gives it.
    for (prereq, want) in [
        // §2.4.4 / §2.4.5: name in use, name not in use.
        ("prereq yxdomain 3.2.1.e164.arpa.", "NOERROR"),
        ("prereq yxdomain 7.7.7.e164.arpa.", "NXDOMAIN"),
        ("prereq nxdomain 3.2.1.e164.arpa.", "YXDOMAIN"),
        // An empty non-terminal is not a name in use: it holds no RR (§2.4.4).
        ("prereq yxdomain 2.1.e164.arpa.", "NXDOMAIN"),
        // §2.4.1 / §2.4.3: RRset exists (value-independent), does not exist.
        ("prereq yxrrset 3.2.1.e164.arpa. TXT", "NOERROR"),
        ("prereq yxrrset 3.2.1.e164.arpa. A", "NXRRSET"),
        ("prereq nxrrset 3.2.1.e164.arpa. TXT", "YXRRSET"),
        // §2.4.2: RRset exists, value-dependent: the whole RRset, no more, no less.
        (
            "prereq yxrrset 3.2.1.e164.arpa. IN TXT \"subscriber\"",
            "NOERROR",
        ),
        (
            "prereq yxrrset 3.2.1.e164.arpa. IN TXT \"someone else\"",
            "NXRRSET",
        ),
    ] {
        assert_eq!(lab.nsupdate(prereq, k), want, "{prereq}");
    }
    // A failed prerequisite changes nothing, however many updates follow it.
    assert_eq!(
        lab.nsupdate(
            "prereq nxdomain 3.2.1.e164.arpa.\nupdate add 8.8.e164.arpa. 60 TXT \"no\"",
            k
        ),
        "YXDOMAIN"
    );
    assert!(lab.records("8.8.e164.arpa.", RecordType::TXT).is_empty());
    assert_eq!(lab.serial(), s0, "no change, no new serial");

    // §2.5.1: add to an RRset; the serial rises by one (§3.6).
    let naptr = "NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+4321@example.net!\" .";
    assert_eq!(
        lab.nsupdate(&format!("update add 1.2.3.4.e164.arpa. 300 {naptr}"), k),
        "NOERROR"
    );
    assert_eq!(
        lab.records("1.2.3.4.e164.arpa.", RecordType::NAPTR),
        ["300 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+4321@example.net!\" ."]
    );
    assert_eq!(lab.serial(), s0 + 1);
    // §2.5.4: delete one RR; §2.5.2: delete an RRset; §2.5.3: delete all RRsets of a name.
    assert_eq!(
        lab.nsupdate("update add 3.2.1.e164.arpa. 3600 TXT \"second\"", k),
        "NOERROR"
    );
    assert_eq!(lab.records("3.2.1.e164.arpa.", RecordType::TXT).len(), 2);
    assert_eq!(
        lab.nsupdate("update delete 3.2.1.e164.arpa. TXT \"subscriber\"", k),
        "NOERROR"
    );
    assert_eq!(
        lab.records("3.2.1.e164.arpa.", RecordType::TXT),
        ["3600 TXT second"]
    );
    assert_eq!(
        lab.nsupdate("update delete 3.2.1.e164.arpa. TXT", k),
        "NOERROR"
    );
    assert!(lab.records("3.2.1.e164.arpa.", RecordType::TXT).is_empty());
    assert_eq!(lab.records("3.2.1.e164.arpa.", RecordType::NAPTR).len(), 1);
    assert_eq!(lab.nsupdate("update delete 3.2.1.e164.arpa.", k), "NOERROR");
    let gone = ask(lab.addr(), "3.2.1.e164.arpa.", RecordType::NAPTR).unwrap();
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain);

    // §3.4.2.3-4: at the apex SOA and NS are never deleted, nor the last NS.
    let s1 = lab.serial();
    assert_eq!(lab.nsupdate("update delete e164.arpa. SOA", k), "NOERROR");
    assert_eq!(lab.nsupdate("update delete e164.arpa. NS", k), "NOERROR");
    assert_eq!(lab.nsupdate("update delete e164.arpa.", k), "NOERROR");
    assert_eq!(lab.records("e164.arpa.", RecordType::NS).len(), 2);
    assert_eq!(lab.serial(), s1, "ignored deletions change nothing");
    assert_eq!(
        lab.nsupdate("update delete e164.arpa. NS ns1.example.net.", k),
        "NOERROR"
    );
    assert_eq!(
        lab.nsupdate("update delete e164.arpa. NS ns2.example.net.", k),
        "NOERROR"
    );
    assert_eq!(
        lab.records("e164.arpa.", RecordType::NS),
        ["3600 NS ns2.example.net."]
    );

    // §3.4.2.2: CNAME conflicts are ignored, either way round.
    assert_eq!(
        lab.nsupdate("update add 4.2.1.e164.arpa. 60 TXT \"beside\"", k),
        "NOERROR"
    );
    assert!(lab.records("4.2.1.e164.arpa.", RecordType::TXT).is_empty());
    let cname = ask(lab.addr(), "4.2.1.e164.arpa.", RecordType::TXT).unwrap();
    assert_eq!(cname.answers[0].record_type(), RecordType::CNAME);
    assert_eq!(
        lab.nsupdate("update add 1.2.3.4.e164.arpa. 60 CNAME x.example.", k),
        "NOERROR"
    );
    assert_eq!(
        lab.records("1.2.3.4.e164.arpa.", RecordType::NAPTR).len(),
        1
    );
    assert!(
        lab.records("1.2.3.4.e164.arpa.", RecordType::CNAME)
            .is_empty()
    );

    // An SOA with a serial that does not rise is ignored (§3.4.2.2, RFC 1982); one that rises is taken.
    let s2 = lab.serial();
    let soa = |serial: u32| {
        format!(
            "update add e164.arpa. 3600 SOA ns1.example.net. hostmaster.example.net. {serial} 7200 3600 1209600 300"
        )
    };
    assert_eq!(lab.nsupdate(&soa(s2), k), "NOERROR");
    assert_eq!(lab.serial(), s2);
    assert_eq!(lab.nsupdate(&soa(s2 + 10), k), "NOERROR");
    assert_eq!(lab.serial(), s2 + 10);

    // §3.1, §3.4.1: out of zone, or another zone.
    assert_eq!(
        lab.nsupdate("update add 1.example.com. 60 TXT \"x\"", k),
        "NOTZONE"
    );
    let other = format!(
        "server 127.0.0.1 {}\nzone example.com.\nupdate add 1.example.com. 60 TXT x\nsend\n",
        lab.addr().port()
    );
    assert_eq!(run_client("nsupdate", k, &other), "NOTAUTH");
}

#[test]
fn tsig_good_unknown_key_bad_mac_and_unsigned_each_get_their_answer() {
    let lab = Lab::new("upd-tsig", "\"key:provisioning\"", "");
    let add = "update add 6.6.e164.arpa. 60 TXT \"signed\"";
    assert_eq!(
        lab.nsupdate(add, None),
        "REFUSED",
        "unsigned, to a key-only zone"
    );
    let wrong_secret = "hmac-sha256:provisioning:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert_eq!(lab.nsupdate(add, Some(wrong_secret)), "NOTAUTH(BADSIG)");
    let unknown = format!("hmac-sha256:someone:{SECRET}");
    assert_eq!(lab.nsupdate(add, Some(&unknown)), "NOTAUTH(BADKEY)");
    let wrong_algorithm = format!("hmac-sha512:provisioning:{SECRET}");
    assert_eq!(lab.nsupdate(add, Some(&wrong_algorithm)), "NOTAUTH(BADKEY)");
    assert!(lab.records("6.6.e164.arpa.", RecordType::TXT).is_empty());
    // The key name matches whatever its case; nsupdate checks the signed answer.
    let upper = format!("hmac-sha256:PROVISIONING:{SECRET}");
    assert_eq!(lab.nsupdate(add, Some(&upper)), "NOERROR");
    assert_eq!(
        lab.records("6.6.e164.arpa.", RecordType::TXT),
        ["60 TXT signed"]
    );
    // knsupdate too.
    assert_eq!(lab.knsupdate("update delete 6.6.e164.arpa. TXT"), "NOERROR");
    assert!(lab.records("6.6.e164.arpa.", RecordType::TXT).is_empty());
}

/// A signed UPDATE built here, its time set `skew` seconds off: no client lets one choose it.
fn signed_update(name: &str, skew: i64, secret: &[u8]) -> Vec<u8> {
    use enumd::xfr::tsig::{Algorithm, sign_request};
    let mut m = vec![0x4a, 0x11, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
    m.extend_from_slice(&enumd::name::parse(b"e164.arpa.", enumd::name::ROOT).unwrap());
    m.extend_from_slice(&[0, 6, 0, 1]);
    m.extend_from_slice(&enumd::name::parse(name.as_bytes(), enumd::name::ROOT).unwrap());
    m.extend_from_slice(&[0, 16, 0, 1, 0, 0, 0, 60, 0, 3, 2, b'o', b'k']);
    let key = enumd::config::Key {
        name: enumd::name::parse(b"provisioning.", enumd::name::ROOT).unwrap(),
        algorithm: Algorithm::HmacSha256,
        secret: secret.to_vec(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sign_request(&mut m, &key, now.saturating_add_signed(skew), 300);
    m
}

fn exchange(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(msg, addr).unwrap();
    let mut buf = [0; 4096];
    let (n, _) = sock.recv_from(&mut buf).expect("an answer");
    buf[..n].to_vec()
}

#[test]
fn tsig_stale_time_is_badtime_with_the_servers_time_in_a_signed_answer() {
    use base64::Engine;
    let lab = Lab::new("upd-badtime", "\"key:provisioning\"", "");
    let secret = base64::engine::general_purpose::STANDARD
        .decode(SECRET)
        .unwrap();
    let answer = exchange(lab.addr(), &signed_update("7.7.e164.arpa.", -3600, &secret));
    assert_eq!(answer[3] & 0x0f, 9, "NOTAUTH");
    let m = enumd::xfr::message::Message::parse(&answer).unwrap();
    let t = m.tsig.expect("a TSIG RR in the answer");
    assert_eq!(t.rdata.error, enumd::xfr::tsig::BADTIME);
    assert_eq!(t.rdata.other.len(), 6, "the server's time");
    assert_eq!(t.rdata.mac.len(), 32, "signed (RFC 8945 §5.2.3)");
    assert!(lab.records("7.7.e164.arpa.", RecordType::TXT).is_empty());
    let fresh = exchange(lab.addr(), &signed_update("7.7.e164.arpa.", 0, &secret));
    assert_eq!(fresh[3] & 0x0f, 0);
    assert_eq!(
        lab.records("7.7.e164.arpa.", RecordType::TXT),
        ["60 TXT ok"]
    );
}

/// dnspython's `dns.update`, run by Debian's Python: the script's printed lines.
fn dnspython(addr: SocketAddr, body: &str) -> Vec<String> {
    let script = format!(
        "import dns.update, dns.query, dns.tsigkeyring, dns.rcode, dns.edns\n\
         ring = dns.tsigkeyring.from_text({{'provisioning.': ('hmac-sha256', '{SECRET}')}})\n\
         def send(u):\n    r = dns.query.udp(u, '127.0.0.1', port={}, timeout=5)\n    return r\n{body}",
        addr.port()
    );
    common::python_lines(&script)
}

#[test]
fn a_naptr_that_breaks_enum_rules_is_refused_with_the_rule_and_changes_nothing() {
    let lab = Lab::new("upd-enum", "\"key:provisioning\"", "");
    let s0 = lab.serial();
    let out = dnspython(
        lab.addr(),
        "u = dns.update.Update('e164.arpa.', keyring=ring, keyalgorithm='hmac-sha256')\n\
         u.use_edns(0)\n\
         u.add('5.4.3.2.1', 300, 'NAPTR', '10 100 \"u\" \"E2U+sip\" \"!^.*(!sip:x@example.net!\" .')\n\
         u.add('5.4.3.2.1', 300, 'TXT', '\"with it\"')\n\
         r = send(u)\n\
         print(dns.rcode.to_text(r.rcode()))\n\
         print([o.text for o in r.options if o.otype == dns.edns.EDE])\n\
         u = dns.update.Update('e164.arpa.', keyring=ring, keyalgorithm='hmac-sha256')\n\
         u.add('5.4.3.2.1', 300, 'NAPTR', '10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:x@example.net!\" .')\n\
         print(dns.rcode.to_text(send(u).rcode()))\n",
    );
    assert_eq!(out[0], "REFUSED");
    assert!(out[1].contains("regexp"), "{out:?}");
    assert_eq!(out[2], "NOERROR");
    // The refused message changed nothing, the good one everything it said.
    assert!(
        lab.records("5.4.3.2.1.e164.arpa.", RecordType::TXT)
            .is_empty()
    );
    assert_eq!(
        lab.records("5.4.3.2.1.e164.arpa.", RecordType::NAPTR).len(),
        1
    );
    assert_eq!(lab.serial(), s0 + 1);
}

#[test]
fn an_update_that_makes_non_terminal_rules_loop_is_refused_and_changes_nothing() {
    let lab = Lab::new("upd-chain", "\"key:provisioning\"", "");
    let s0 = lab.serial();
    // 6.6 → 7.7 in one message, then 7.7 → 6.6 in the next: the second closes the loop.
    let out = dnspython(
        lab.addr(),
        "u = dns.update.Update('e164.arpa.', keyring=ring, keyalgorithm='hmac-sha256')\n\
         u.use_edns(0)\n\
         u.add('6.6', 300, 'NAPTR', '10 100 \"\" \"\" \"\" 7.7.e164.arpa.')\n\
         u.add('7.7', 300, 'NAPTR', '10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:x@example.net!\" .')\n\
         print(dns.rcode.to_text(send(u).rcode()))\n\
         u = dns.update.Update('e164.arpa.', keyring=ring, keyalgorithm='hmac-sha256')\n\
         u.use_edns(0)\n\
         u.delete('7.7', 'NAPTR')\n\
         u.add('7.7', 300, 'NAPTR', '10 100 \"\" \"\" \"\" 6.6.e164.arpa.')\n\
         r = send(u)\n\
         print(dns.rcode.to_text(r.rcode()))\n\
         print([o.text for o in r.options if o.otype == dns.edns.EDE])\n",
    );
    assert_eq!(out[0], "NOERROR", "{out:?}");
    // dnspython compresses the replacement against the zone name (RFC 3403 says it must not):
    // it is stored written out, not as a pointer into a message long gone.
    let rule = lab.records("6.6.e164.arpa.", RecordType::NAPTR);
    assert!(rule[0].ends_with(" 7.7.e164.arpa."), "{rule:?}");
    assert_eq!(out[1], "REFUSED", "{out:?}");
    assert!(out[2].contains("non-terminal-loop"), "{out:?}");
    // The refused message changed nothing: 7.7 keeps its terminal rule.
    let kept = lab.records("7.7.e164.arpa.", RecordType::NAPTR);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].contains("sip:x@example.net"), "{kept:?}");
    assert_eq!(lab.serial(), s0 + 1);
}

#[test]
fn an_update_that_loops_or_lengthens_a_chain_it_does_not_touch_is_refused_and_changes_nothing() {
    let lab = Lab::new("upd-chain-far", "\"key:provisioning\"", "");
    let s0 = lab.serial();
    let rule = |to: &str| format!("'10 100 \"\" \"\" \"\" {to}.e164.arpa.'");
    let terminal = "'10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:x@example.net!\" .'";
    let body = format!(
        "def msg():\n    u = dns.update.Update('e164.arpa.', keyring=ring, keyalgorithm='hmac-sha256')\n    u.use_edns(0)\n    return u\n\
         def outcome(u):\n    r = send(u)\n    print(dns.rcode.to_text(r.rcode()), [o.text for o in r.options if o.otype == dns.edns.EDE])\n\
         # 5.5 → 1.8.8 → 5.5 loops, but 5.5 is a delegation of the lab zone and 1.8.8 lies below the\n\
         # cut 8.8: a client follows neither rule.\n\
         u = msg()\n\
         u.add('8.8', 300, 'NS', 'ns.example.net.')\n\
         u.add('1.8.8', 300, 'NAPTR', {to_55})\n\
         u.add('5.5', 300, 'NAPTR', {to_188})\n\
         outcome(u)\n\
         # Removing the cut alone uncovers the loop.\n\
         u = msg()\n\
         u.delete('8.8', 'NS')\n\
         outcome(u)\n\
         # 2.1 → 3.1 → 4.1 → 5.1 → 6.1 → 7.1: five hops, the most a client follows.\n\
         u = msg()\n\
         u.add('7.1', 300, 'NAPTR', {terminal})\n\
         {chain}\
         outcome(u)\n\
         # 7.1 → 8.1 checks fine from 7.1, but makes the chain from 2.1 six hops long.\n\
         u = msg()\n\
         u.replace('7.1', 300, 'NAPTR', {to_81})\n\
         u.add('8.1', 300, 'NAPTR', {terminal})\n\
         outcome(u)\n",
        to_55 = rule("5.5"),
        to_188 = rule("1.8.8"),
        to_81 = rule("8.1"),
        chain = (2..7)
            .map(|i| format!(
                "u.add('{i}.1', 300, 'NAPTR', {})\n",
                rule(&format!("{}.1", i + 1))
            ))
            .collect::<String>(),
    );
    let out = dnspython(lab.addr(), &body);
    assert_eq!(out[0], "NOERROR []", "{out:?}");
    assert!(out[1].starts_with("REFUSED"), "{out:?}");
    assert!(
        out[1].contains("non-terminal-loop") && out[1].contains("1.8.8.e164.arpa."),
        "{out:?}"
    );
    assert_eq!(out[2], "NOERROR []", "{out:?}");
    assert!(out[3].starts_with("REFUSED"), "{out:?}");
    assert!(
        out[3].contains("non-terminal-chain") && out[3].contains("2.1.e164.arpa."),
        "{out:?}"
    );
    // Neither refused message changed anything: the cut still refers, 7.1 is still terminal.
    let cut = ask(lab.addr(), "1.8.8.e164.arpa.", RecordType::NAPTR).expect("an answer");
    assert!(cut.answers.is_empty(), "{:?}", cut.answers);
    assert!(
        cut.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NS),
        "{:?}",
        cut.authorities
    );
    let kept = lab.records("7.1.e164.arpa.", RecordType::NAPTR);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].contains("sip:x@example.net"), "{kept:?}");
    assert!(lab.records("8.1.e164.arpa.", RecordType::NAPTR).is_empty());
    assert_eq!(lab.serial(), s0 + 2);
}

/// Where the entries of a journal end (`[length u32][crc u32][payload]` after a 12-byte
/// header; a zero length begins the zeros the file is grown by).
fn end_of_entries(bytes: &[u8]) -> usize {
    let mut at = 12;
    while let Some(h) = bytes.get(at..at + 4).filter(|h| *h != [0; 4]) {
        at += 8 + u32::from_be_bytes(h.try_into().unwrap()) as usize;
    }
    at
}

#[test]
fn acknowledged_updates_survive_sigkill_and_a_torn_or_corrupt_last_entry_is_dropped() {
    let mut lab = Lab::new(
        "upd-journal",
        "\"key:provisioning\"",
        "flush_interval = 0\n",
    );
    let k = good_key();
    for i in 0..3 {
        assert_eq!(
            lab.nsupdate(
                &format!("update add {i}.7.e164.arpa. 60 TXT \"n{i}\""),
                Some(&k)
            ),
            "NOERROR"
        );
    }
    let serial = lab.serial();
    lab.restart(); // SIGKILL: nothing flushed, everything in the journal
    assert_eq!(lab.serial(), serial);
    for i in 0..3 {
        assert_eq!(
            lab.records(&format!("{i}.7.e164.arpa."), RecordType::TXT),
            [format!("60 TXT n{i}")]
        );
    }
    assert!(!lab.server.logged("journal replayed").is_empty());
    let journal = lab.dir.join("state/e164.arpa.jnl");

    // Power cut in the middle of the last entry: it goes, with a warning; the rest stays.
    let _ = lab.server.child.kill();
    let _ = lab.server.child.wait();
    let bytes = std::fs::read(&journal).unwrap();
    let end = end_of_entries(&bytes);
    assert!(
        bytes[end..].iter().all(|&b| b == 0),
        "zeros after the entries"
    );
    let mut torn = bytes.clone();
    torn[end - 7..end].fill(0);
    std::fs::write(&journal, &torn).unwrap();
    lab.restart();
    assert!(!lab.server.logged("dropped a torn last entry").is_empty());
    assert_eq!(lab.serial(), serial - 1);
    assert!(lab.records("2.7.e164.arpa.", RecordType::TXT).is_empty());
    assert_eq!(lab.records("1.7.e164.arpa.", RecordType::TXT).len(), 1);

    // A flipped byte in the (new) last entry: the same.
    assert_eq!(
        lab.nsupdate("update add 9.7.e164.arpa. 60 TXT \"n9\"", Some(&k)),
        "NOERROR"
    );
    let _ = lab.server.child.kill();
    let _ = lab.server.child.wait();
    let mut bytes = std::fs::read(&journal).unwrap();
    let last = end_of_entries(&bytes) - 2;
    bytes[last] ^= 0xff;
    std::fs::write(&journal, &bytes).unwrap();
    lab.restart();
    assert!(!lab.server.logged("checksum does not match").is_empty());
    assert!(lab.records("9.7.e164.arpa.", RecordType::TXT).is_empty());
    assert_eq!(lab.records("1.7.e164.arpa.", RecordType::TXT).len(), 1);
    assert_eq!(lab.serial(), serial - 1);
}

#[test]
fn sigusr1_writes_the_zone_file_and_a_reload_applies_the_files_difference() {
    let lab = Lab::new("upd-flush", "\"key:provisioning\"", "flush_interval = 0\n");
    let k = good_key();
    assert_eq!(
        lab.nsupdate("update add 1.1.1.e164.arpa. 60 TXT \"kept\"", Some(&k)),
        "NOERROR"
    );
    let file = lab.dir.join("lab-zones/e.zone");
    // Edited while an update is not yet in the file: refused, the journal's version serves.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text = text.replace(" 100 7200", " 500 7200");
    text.push_str("2.2.2 TXT \"hand\"\n");
    std::fs::write(&file, &text).unwrap();
    lab.server.hangup();
    lab.server
        .wait_for("the refusal", Duration::from_secs(10), || {
            !lab.server.logged("not yet written to it").is_empty()
        });
    assert!(lab.records("2.2.2.e164.arpa.", RecordType::TXT).is_empty());
    assert_eq!(lab.records("1.1.1.e164.arpa.", RecordType::TXT).len(), 1);

    // SIGUSR1 writes it; the written file loads back as the same zone.
    lab.usr1();
    lab.server
        .wait_for("the flush", Duration::from_secs(10), || {
            !lab.server.logged("zone file written").is_empty()
        });
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        written.contains("1.1.1.e164.arpa. 60 IN TXT \"kept\""),
        "{written}"
    );
    let check = Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["check", "--config"])
        .arg(lab.dir.join("enumd.toml"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // Now an edit with a higher serial reloads by difference; one without is refused.
    let serial = lab.serial();
    let edited = written.replace(&format!(" {serial} 7200"), &format!(" {} 7200", serial + 5))
        + "2.2.2.e164.arpa. 60 IN TXT \"hand\"\n";
    std::fs::write(&file, edited).unwrap();
    lab.server.hangup();
    lab.server
        .wait_for("the reload", Duration::from_secs(10), || {
            !lab.server.logged("zone reloaded by difference").is_empty()
        });
    assert_eq!(
        lab.records("2.2.2.e164.arpa.", RecordType::TXT),
        ["60 TXT hand"]
    );
    assert_eq!(lab.serial(), serial + 5);
    let same_serial =
        std::fs::read_to_string(&file).unwrap() + "3.3.3.e164.arpa. 60 IN TXT \"no\"\n";
    std::fs::write(&file, same_serial).unwrap();
    lab.server.hangup();
    lab.server
        .wait_for("the refusal", Duration::from_secs(10), || {
            !lab.server.logged("is not above the serving").is_empty()
        });
    assert!(lab.records("3.3.3.e164.arpa.", RecordType::TXT).is_empty());
    match &ask(lab.addr(), "e164.arpa.", RecordType::SOA)
        .unwrap()
        .answers[0]
        .data
    {
        RData::SOA(soa) => assert_eq!(soa.serial, serial + 5),
        other => panic!("{other:?}"),
    }
}

/// An unsigned UPDATE adding a TXT and an A record at the name of number `n` (its digits as
/// labels below `8.e164.arpa.`): two records, so that half an update would show.
fn two_record_update(id: u16, n: u32) -> Vec<u8> {
    let owner: String = n
        .to_string()
        .chars()
        .rev()
        .map(|c| format!("{c}."))
        .collect::<String>()
        + "8.e164.arpa.";
    let owner = enumd::name::parse(owner.as_bytes(), enumd::name::ROOT).unwrap();
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x28, 0, 0, 1, 0, 0, 0, 2, 0, 0]);
    m.extend_from_slice(&enumd::name::parse(b"e164.arpa.", enumd::name::ROOT).unwrap());
    m.extend_from_slice(&[0, 6, 0, 1]);
    let text = format!("n{n}");
    m.extend_from_slice(&owner);
    m.extend_from_slice(&[
        0,
        16,
        0,
        1,
        0,
        0,
        0,
        60,
        0,
        u8::try_from(text.len() + 1).unwrap(),
    ]);
    m.push(u8::try_from(text.len()).unwrap());
    m.extend_from_slice(text.as_bytes());
    m.extend_from_slice(&owner);
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    m.extend_from_slice(&n.to_be_bytes());
    m
}

fn number_name(n: u32) -> String {
    n.to_string()
        .chars()
        .rev()
        .map(|c| format!("{c}."))
        .collect::<String>()
        + "8.e164.arpa."
}

/// Both records of update `n`, one of them, or neither.
fn present(lab: &Lab, n: u32) -> (bool, bool) {
    let name = number_name(n);
    (
        !lab.records(&name, RecordType::TXT).is_empty(),
        !lab.records(&name, RecordType::A).is_empty(),
    )
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_update_and_keeps_none_in_part() {
    // Flushing every second puts zone-file rewrites among the kills too.
    let mut lab = Lab::new("upd-crash", "\"127.0.0.1/32\"", "flush_interval = 1\n");
    let mut seed: u64 = 0x656e_756d_6409;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut acknowledged: Vec<u32> = Vec::new();
    let mut unanswered: Vec<u32> = Vec::new();
    let mut n = 0u32;
    for round in 0..20 {
        let pid = lab.server.child.id();
        let after = Duration::from_millis(20 + next() % 400);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(after);
            Command::new("sh")
                .args(["-c", &format!("kill -9 {pid}")])
                .status()
                .unwrap();
        });
        let mut this_round = Vec::new();
        // Bounded: a round ends at the kill, and never runs past 10,000 updates.
        for _ in 0..10_000 {
            n += 1;
            let id = u16::try_from(n % 65_536).unwrap();
            sock.send_to(&two_record_update(id, n), lab.addr()).unwrap();
            let mut buf = [0; 512];
            match sock.recv_from(&mut buf) {
                Ok((len, _)) if len >= 12 && buf[..2] == id.to_be_bytes() => {
                    assert_eq!(buf[3] & 0x0f, 0, "update {n} answered {}", buf[3] & 0x0f);
                    acknowledged.push(n);
                    this_round.push(n);
                }
                _ => {
                    unanswered.push(n);
                    break;
                }
            }
        }
        killer.join().unwrap();
        lab.restart();
        for &k in &this_round {
            assert_eq!(
                present(&lab, k),
                (true, true),
                "round {round}: acknowledged update {k} lost"
            );
        }
    }
    // At the end, everything: each acknowledged update whole, each unanswered one whole or not
    // at all, and no other name.
    for &k in &acknowledged {
        assert_eq!(
            present(&lab, k),
            (true, true),
            "acknowledged update {k} lost"
        );
    }
    let mut committed_unanswered = 0;
    for &k in &unanswered {
        match present(&lab, k) {
            (true, true) => committed_unanswered += 1,
            (false, false) => {}
            half => panic!("update {k} is half there: {half:?}"),
        }
    }
    let beyond = present(&lab, n + 1);
    assert_eq!(beyond, (false, false));
    let serial_rises = acknowledged.len() + committed_unanswered;
    assert_eq!(
        lab.serial(),
        100 + u32::try_from(serial_rises).unwrap(),
        "the serial counts every committed update once"
    );
    eprintln!(
        "20 SIGKILLs: {} updates acknowledged and all present; {} unanswered, {committed_unanswered} of them committed whole, none in part",
        acknowledged.len(),
        unanswered.len()
    );
}

#[test]
fn a_restart_replays_only_what_the_file_lacks_and_refuses_a_file_replaced_under_pending_changes() {
    let mut lab = Lab::new("upd-marker", "\"key:provisioning\"", "flush_interval = 0\n");
    let k = good_key();
    assert_eq!(
        lab.nsupdate("update add 1.6.e164.arpa. 60 TXT \"a\"", Some(&k)),
        "NOERROR"
    );
    lab.usr1();
    lab.server
        .wait_for("the flush", Duration::from_secs(10), || {
            !lab.server.logged("zone file written").is_empty()
        });
    // Flushed: a restart replays nothing and serves the file as written.
    let serial = lab.serial();
    lab.restart();
    assert_eq!(lab.serial(), serial);
    assert!(lab.server.logged("journal replayed").is_empty());
    assert_eq!(lab.records("1.6.e164.arpa.", RecordType::TXT).len(), 1);

    // A change not yet in the file, then the file replaced with a higher serial while enumd is
    // down: serving the file would silently undo an acknowledged update, so the zone stays out.
    assert_eq!(
        lab.nsupdate("update add 2.6.e164.arpa. 60 TXT \"b\"", Some(&k)),
        "NOERROR"
    );
    let _ = lab.server.child.kill();
    let _ = lab.server.child.wait();
    let file = lab.dir.join("lab-zones/e.zone");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(
            &format!(" {serial} 7200"),
            &format!(" {} 7200", serial + 100),
        ),
    )
    .unwrap();
    lab.restart();
    lab.server
        .wait_for("the refusal", Duration::from_secs(10), || {
            !lab.server.logged("are not in the zone file").is_empty()
        });
    let m = ask(lab.addr(), "e164.arpa.", RecordType::SOA).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn updates_go_on_while_the_zone_file_is_written_and_survive_a_kill_after_it() {
    // A zone that takes a while to write: 100,000 more names.
    let mut zone = ZONE.to_string();
    for n in 0..100_000u32 {
        let owner: String = format!("{n:06}")
            .chars()
            .rev()
            .map(|c| format!("{c}."))
            .collect();
        zone.push_str(&format!("{owner}7 TXT \"x\"\n"));
    }
    let mut lab = Lab::with_zone(
        "upd-flushing",
        "\"127.0.0.1/32\"",
        "flush_interval = 0\n",
        &zone,
    );
    lab.usr1();
    // Updates as fast as they are answered until the file is written (bounded: 10,000).
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut acked, mut while_writing) = (Vec::new(), 0);
    for n in 1..=10_000u32 {
        let id = u16::try_from(n).unwrap();
        sock.send_to(&two_record_update(id, n), lab.addr()).unwrap();
        let mut buf = [0; 512];
        sock.recv(&mut buf).expect("an answer to every update");
        assert_eq!(
            (&buf[..2], buf[3] & 0x0f),
            (&id.to_be_bytes()[..], 0),
            "update {n}"
        );
        acked.push(n);
        if lab.server.logged("zone file written").is_empty() {
            while_writing += 1;
        } else {
            break;
        }
    }
    assert!(
        while_writing > 0,
        "no update was answered while the file was written ({} after)",
        acked.len()
    );
    // The file holds the serial it was written from; the updates answered meanwhile are in
    // the journal before its marker, and a restart replays them.
    lab.restart();
    for &n in &acked {
        assert_eq!(
            present(&lab, n),
            (true, true),
            "update {n} after the restart"
        );
    }
    assert_eq!(
        lab.server.logged("journal replayed").len(),
        1,
        "{} updates were answered while writing",
        while_writing
    );
}

#[test]
fn a_zone_file_that_cannot_be_written_is_tried_again_each_interval_not_at_once() {
    let lab = Lab::new(
        "upd-flushfail",
        "\"key:provisioning\"",
        "flush_interval = 1\n",
    );
    // The temporary file's name taken by a directory: every write fails, even for root.
    let blocker = lab.dir.join("lab-zones/e.enumd-new");
    std::fs::create_dir(&blocker).unwrap();
    let k = good_key();
    assert_eq!(
        lab.nsupdate("update add 1.6.e164.arpa. 60 TXT \"a\"", Some(&k)),
        "NOERROR"
    );
    std::thread::sleep(Duration::from_secs(3));
    let failures = lab.server.logged("cannot write the zone file").len();
    assert!(
        (1..=4).contains(&failures),
        "{failures} failed writes in 3 s with flush_interval = 1"
    );
    // Once the way is clear, the next try writes it; the update was served all along.
    assert_eq!(lab.records("1.6.e164.arpa.", RecordType::TXT).len(), 1);
    std::fs::remove_dir(&blocker).unwrap();
    lab.server
        .wait_for("the write", Duration::from_secs(10), || {
            !lab.server.logged("zone file written").is_empty()
        });
}

#[test]
fn rdata_that_does_not_fit_its_type_is_formerr_and_the_next_update_still_works() {
    let lab = Lab::new("upd-formerr", "\"127.0.0.1/32\"", "");
    // An NS whose RDATA has bytes after its name, and an A of 3 octets.
    for (rtype, rdata) in [
        (2u16, b"\x02ns\x07example\x00junk".to_vec()),
        (1, vec![192, 0, 2]),
    ] {
        let mut m = vec![0x10, 0x01, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        m.extend_from_slice(b"\x04e164\x04arpa\x00\x00\x06\x00\x01");
        m.extend_from_slice(b"\x011\x04e164\x04arpa\x00");
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        m.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        m.extend_from_slice(&rdata);
        let answer = exchange(lab.addr(), &m);
        assert_eq!(answer[3] & 0x0f, 1, "FORMERR for type {rtype}");
    }
    let ok = exchange(lab.addr(), &two_record_update(7, 42));
    assert_eq!(ok[3] & 0x0f, 0);
    assert_eq!(present(&lab, 42), (true, true));
}
