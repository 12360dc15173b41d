//! Views by Enumservice (`[[view]]`, `[[zone]] hide_services`), over real sockets: dnspython
//! asks the same names from inside the view (by IPv4 address, by IPv6 address, by TSIG key)
//! and from outside it, over UDP and TCP, by NAPTR, ANY, wildcard and CNAME, and transfers the
//! zone by AXFR and IXFR. Outside, the `P-` and `pstn` NAPTRs are gone (an RRset left empty
//! is NODATA) and no byte of them appears in any section or any transfer message.

mod common;

use common::TestServer;

const SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==";

const ZONE: &str = r#"$ORIGIN e164enum.net.
$TTL 3600
@ SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300
@ NS ns1.example.net.
; Public SIP, private routing, a P- service, and one record that is partly public.
1.2.3 NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:+321@sip.example.net!" .
1.2.3 NAPTR 20 100 "u" "E2U+pstn:tel" "!^.*$!tel:+321;npdi;rn=+3299!" .
1.2.3 NAPTR 30 100 "u" "E2U+P-route" "!^.*$!sip:route@core.example.net!" .
1.2.3 NAPTR 40 100 "u" "E2U+sip+pstn:tel" "!^.*$!sip:mixed@sip.example.net!" .
; Ported, with nothing public: NODATA outside, but the TXT stays.
2.2.3 NAPTR 10 100 "u" "e2u+PSTN:TEL" "!^.*$!tel:+322;npdi;rn=+3298!" .
2.2.3 TXT "ported"
4.2.3 NAPTR 10 100 "u" "E2U+pstn:tel" "!^.*$!tel:+324;npdi;rn=+3297!" .
*.9.3 NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:pbx@example.net!" .
*.9.3 NAPTR 20 100 "u" "E2U+pstn:tel" "!^.*$!tel:+3900;npdi;rn=+3295!" .
5.2.3 CNAME 1.2.3
6.2.3 CNAME 4.2.3
"#;

fn server(dir: &std::path::Path) -> TestServer {
    std::fs::write(dir.join("e164enum.net.zone"), ZONE).unwrap();
    let config = format!(
        "state_dir = \"state\"\n\
[[key]]\nname = \"peer\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
[[view]]\nname = \"peers\"\nmatch = [\"127.0.0.20\", \"key:peer\", \"::1\"]\n\
[[zone]]\napex = \"e164enum.net.\"\nfile = \"e164enum.net.zone\"\n\
hide_services = {{ outside = \"peers\", services = [\"P-*\", \"pstn\", \"pstn:*\"] }}\n\
allow_update = [\"key:peer\"]\nallow_transfer = [\"127.0.0.0/8\", \"::1\"]\n"
    );
    let path = dir.join("enumd.toml");
    std::fs::write(&path, config).unwrap();
    TestServer::start_config_on(path.to_str().unwrap(), &["127.0.0.1:0", "[::1]:0"])
}

/// The dnspython side: `ask(src, key, transport, qtype, name)` prints `src key transport
/// qtype name rcode answer=… authority=…`, each record of the answer as `TYPE` or
/// `NAPTR:services`, sorted; it fails if a private word is in any section for an outsider.
const CLIENT: &str = r#"
import dns.message, dns.query, dns.tsigkeyring, dns.rdatatype, dns.update, dns.rcode
ring = dns.tsigkeyring.from_text({"peer.": ("hmac-sha256", SECRET)})
# In the hidden records only (the public "E2U+sip+pstn:tel" names pstn too).
PRIVATE = ("p-route", "npdi", "core.example")
def server_for(src):
    return ("::1", PORT6) if ":" in src else ("127.0.0.1", PORT4)
def items(rrsets):
    out = []
    for rrset in rrsets:
        for rd in rrset:
            t = dns.rdatatype.to_text(rd.rdtype)
            out.append(t + ":" + rd.service.decode() if t == "NAPTR" else t)
    return ",".join(sorted(out)) or "-"
def ask(src, key, transport, qtype, name, outsider):
    q = dns.message.make_query(name, qtype, use_edns=0, payload=1232)
    if key:
        q.use_tsig(ring, keyname="peer.", algorithm="hmac-sha256")
    addr, port = server_for(src)
    send = dns.query.udp if transport == "udp" else dns.query.tcp
    r = send(q, addr, port=port, source=src, timeout=2)
    text = r.to_text().lower()
    if outsider:
        assert not any(w in text for w in PRIVATE), (src, name, text)
    print(src, key or "-", transport, qtype, name, dns.rcode.to_text(r.rcode()),
          "answer=" + items(r.answer), "authority=" + items(r.authority))
def transfer(src, kind, outsider, serial=0):
    addr, port = server_for(src)
    got = []
    for m in dns.query.xfr(addr, "e164enum.net.", rdtype=kind, serial=serial, port=port,
                           source=src, timeout=5, lifetime=10):
        text = m.to_text().lower()
        if outsider:
            assert not any(w in text for w in PRIVATE), (src, kind, text)
        for rrset in m.answer:
            if rrset.rdtype == dns.rdatatype.NAPTR:
                for rd in rrset:
                    got.append(rrset.name.to_text() + "=" + rd.service.decode())
    print(src, kind, " ".join(sorted(got)))
"#;

fn run(server: &TestServer, body: &str) -> Vec<String> {
    let port6 = server.addrs.iter().find(|a| a.is_ipv6()).map(|a| a.port());
    let script = format!(
        "SECRET = {SECRET:?}\nPORT4 = {}\nPORT6 = {}\n{CLIENT}\n{body}",
        server.addr.port(),
        port6.expect("listening on ::1")
    );
    common::python_lines(&script)
}

#[test]
fn outsiders_never_see_the_hidden_enumservices_by_any_path() {
    let dir = common::temp_dir("views");
    let server = server(&dir);
    let questions = r#"
for src, key, outsider in [("127.0.0.30", "", True), ("127.0.0.20", "", False),
                           ("127.0.0.30", "peer", False), ("::1", "", False)]:
    for transport, qtype, name in [
            ("udp", "NAPTR", "1.2.3.e164enum.net."), ("tcp", "NAPTR", "1.2.3.e164enum.net."),
            ("udp", "NAPTR", "2.2.3.e164enum.net."), ("udp", "ANY", "2.2.3.e164enum.net."),
            ("udp", "ANY", "4.2.3.e164enum.net."), ("udp", "NAPTR", "7.9.3.e164enum.net."),
            ("udp", "NAPTR", "5.2.3.e164enum.net."), ("udp", "NAPTR", "6.2.3.e164enum.net.")]:
        ask(src, key, transport, qtype, name, outsider)
"#;
    let got = run(&server, questions);
    let outside = |line: &str| format!("127.0.0.30 - {line}");
    let mut want: Vec<String> = [
        "udp NAPTR 1.2.3.e164enum.net. NOERROR answer=NAPTR:E2U+sip,NAPTR:E2U+sip+pstn:tel authority=-",
        "tcp NAPTR 1.2.3.e164enum.net. NOERROR answer=NAPTR:E2U+sip,NAPTR:E2U+sip+pstn:tel authority=-",
        "udp NAPTR 2.2.3.e164enum.net. NOERROR answer=- authority=SOA",
        "udp ANY 2.2.3.e164enum.net. NOERROR answer=TXT authority=-",
        "udp ANY 4.2.3.e164enum.net. NOERROR answer=- authority=SOA",
        "udp NAPTR 7.9.3.e164enum.net. NOERROR answer=NAPTR:E2U+sip authority=-",
        "udp NAPTR 5.2.3.e164enum.net. NOERROR answer=CNAME,NAPTR:E2U+sip,NAPTR:E2U+sip+pstn:tel authority=-",
        "udp NAPTR 6.2.3.e164enum.net. NOERROR answer=CNAME authority=SOA",
    ]
    .iter()
    .map(|l| outside(l))
    .collect();
    let inside = [
        "udp NAPTR 1.2.3.e164enum.net. NOERROR answer=NAPTR:E2U+P-route,NAPTR:E2U+pstn:tel,NAPTR:E2U+sip,NAPTR:E2U+sip+pstn:tel authority=-",
        "tcp NAPTR 1.2.3.e164enum.net. NOERROR answer=NAPTR:E2U+P-route,NAPTR:E2U+pstn:tel,NAPTR:E2U+sip,NAPTR:E2U+sip+pstn:tel authority=-",
        "udp NAPTR 2.2.3.e164enum.net. NOERROR answer=NAPTR:e2u+PSTN:TEL authority=-",
        "udp ANY 2.2.3.e164enum.net. NOERROR answer=NAPTR:e2u+PSTN:TEL,TXT authority=-",
        "udp ANY 4.2.3.e164enum.net. NOERROR answer=NAPTR:E2U+pstn:tel authority=-",
        "udp NAPTR 7.9.3.e164enum.net. NOERROR answer=NAPTR:E2U+pstn:tel,NAPTR:E2U+sip authority=-",
        "udp NAPTR 5.2.3.e164enum.net. NOERROR answer=CNAME,NAPTR:E2U+P-route,NAPTR:E2U+pstn:tel,NAPTR:E2U+sip,NAPTR:E2U+sip+pstn:tel authority=-",
        "udp NAPTR 6.2.3.e164enum.net. NOERROR answer=CNAME,NAPTR:E2U+pstn:tel authority=-",
    ];
    for who in ["127.0.0.20 -", "127.0.0.30 peer", "::1 -"] {
        want.extend(inside.iter().map(|l| format!("{who} {l}")));
    }
    assert_eq!(got, want);

    // Transfers: a secondary outside the view gets the copy its queries would see, by AXFR
    // and by IXFR after an UPDATE that adds one public and one private record.
    let transfers = r#"
transfer("127.0.0.30", dns.rdatatype.AXFR, True)
transfer("127.0.0.20", dns.rdatatype.AXFR, False)
u = dns.update.UpdateMessage("e164enum.net.", keyring=ring, keyname="peer.", keyalgorithm="hmac-sha256")
u.add("8.2.3", 3600, "NAPTR", '10 100 "u" "E2U+sip" "!^.*$!sip:+328@sip.example.net!" .')
u.add("8.2.3", 3600, "NAPTR", '20 100 "u" "E2U+pstn:tel" "!^.*$!tel:+328;npdi;rn=+3296!" .')
print("update", dns.rcode.to_text(dns.query.tcp(u, "127.0.0.1", port=PORT4, source="127.0.0.20", timeout=5).rcode()))
transfer("127.0.0.30", dns.rdatatype.IXFR, True, serial=1)
transfer("::1", dns.rdatatype.IXFR, False, serial=1)
"#;
    let got = run(&server, transfers);
    // dnspython gives a transfer's owners relative to the zone.
    let all = "*.9.3=E2U+pstn:tel *.9.3=E2U+sip 1.2.3=E2U+P-route 1.2.3=E2U+pstn:tel \
1.2.3=E2U+sip 1.2.3=E2U+sip+pstn:tel 2.2.3=e2u+PSTN:TEL 4.2.3=E2U+pstn:tel";
    let want = [
        "127.0.0.30 252 *.9.3=E2U+sip 1.2.3=E2U+sip 1.2.3=E2U+sip+pstn:tel".to_string(),
        format!("127.0.0.20 252 {all}"),
        "update NOERROR".to_string(),
        "127.0.0.30 251 8.2.3=E2U+sip".to_string(),
        "::1 251 8.2.3=E2U+pstn:tel 8.2.3=E2U+sip".to_string(),
    ];
    assert_eq!(got, want);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `enumd check --config path`.
fn enumd_check(path: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_enumd"))
        .args(["check", "--config"])
        .arg(path)
        .output()
        .unwrap()
}

/// Two views, for the `enumd check` configs.
const TWO_VIEWS: &str = "[[view]]\nname = \"peers\"\nmatch = [\"10.0.0.0/8\"]\n\
[[view]]\nname = \"lab\"\nmatch = [\"192.0.2.0/24\"]\n\
[[zone]]\napex = \"e164enum.net.\"\nfile = \"e164enum.net.zone\"\n";

#[test]
fn check_reports_what_each_view_hides() {
    let dir = common::temp_dir("views-check");
    std::fs::write(dir.join("e164enum.net.zone"), ZONE).unwrap();
    std::fs::write(
        dir.join("enumd.toml"),
        format!(
            "{TWO_VIEWS}hide_services = [{{ outside = \"peers\", services = [\"P-*\", \"pstn:*\"] }},\n\
                 {{ outside = \"lab\", services = [\"h323\"] }}]\n"
        ),
    )
    .unwrap();
    let out = enumd_check(&dir.join("enumd.toml"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "zone e164enum.net.: view peers: outside it, 5 of 8 NAPTRs are hidden \
(E2U+pstn:tel 3, E2U+P-route 1, e2u+PSTN:TEL 1); e.g. at "
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "zone e164enum.net.: view lab: hides nothing (none of 8 NAPTRs match its services)"
        ),
        "{text}"
    );

    // A rule that names no view, or a pattern that is not an Enumservice, is a config error.
    for (rule, reason) in [
        (
            "{ outside = \"partners\", services = [\"pstn\"] }",
            "hide_services: outside = \"partners\": no [[view]] of that name (views: peers, lab)",
        ),
        (
            "{ outside = \"peers\", services = [\"E2U+pstn\"] }",
            "write the Enumservice alone",
        ),
    ] {
        std::fs::write(
            dir.join("bad.toml"),
            format!("{TWO_VIEWS}hide_services = {rule}\n"),
        )
        .unwrap();
        let out = enumd_check(&dir.join("bad.toml"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(reason), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
