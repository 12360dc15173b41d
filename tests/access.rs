//! Query ACLs (`allow_query`) over real sockets: dnspython asks from several loopback source
//! addresses, signed and unsigned, over UDP and TCP, and each zone answers those its list
//! allows and refuses the others with REFUSED and Extended DNS Error 18 (Prohibited), giving
//! nothing of its data away.

mod common;

use common::TestServer;

/// The key the `peer` entries name (base64 of 32 bytes).
const SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==";

const SOA: &str = "@ SOA ns1.example.net. hostmaster.example.net. 1 7200 3600 1209600 300\n\
@ NS ns1.example.net.\n";

fn zone(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 3600\n{SOA}\
3.2.1 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:+123@example.net!\" .\n\
*.9.9 NAPTR 10 100 \"u\" \"E2U+sip\" \"!^.*$!sip:pbx@example.net!\" .\n"
    )
}

/// Three zones: one with its own list (an address and the key), one that takes the top-level
/// list (two addresses), and one whose empty list lets nobody in.
fn server() -> TestServer {
    let dir = common::temp_dir("acl");
    for (file, origin) in [
        ("a.zone", "4.4.e164.arpa."),
        ("b.zone", "e164enum.net."),
        ("c.zone", "closed.example."),
    ] {
        std::fs::write(dir.join(file), zone(origin)).unwrap();
    }
    let config = format!(
        "listen = [\"127.0.0.1:0\"]\n\
allow_query = [\"127.0.0.10/31\"]\n\
[[key]]\nname = \"peer\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET}\"\n\
[[zone]]\napex = \"4.4.e164.arpa.\"\nfile = \"a.zone\"\nallow_query = [\"127.0.0.20\", \"key:peer\"]\n\
[[zone]]\napex = \"e164enum.net.\"\nfile = \"b.zone\"\n\
[[zone]]\napex = \"closed.example.\"\nfile = \"c.zone\"\nallow_query = []\n"
    );
    let path = dir.join("enumd.toml");
    std::fs::write(&path, config).unwrap();
    let server = TestServer::start_config(path.to_str().unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    server
}

/// One line per question: `source key transport name rcode aa answers authority ede`, where
/// `ede` lists the EDE codes of the answer's OPT (`-` for none). A signed answer is verified
/// by dnspython (it raises otherwise).
fn ask_all(server: &TestServer, questions: &[(&str, &str, &str, &str)]) -> Vec<String> {
    let port = server.addr.port();
    let list: Vec<String> = questions
        .iter()
        .map(|(src, key, transport, name)| format!("({src:?}, {key:?}, {transport:?}, {name:?})"))
        .collect();
    let script = format!(
        r#"
import dns.message, dns.query, dns.tsigkeyring, dns.rdatatype, dns.edns
ring = dns.tsigkeyring.from_text({{"peer.": ("hmac-sha256", "{SECRET}")}})
for src, key, transport, name in [{}]:
    q = dns.message.make_query(name, "NAPTR", use_edns=0, payload=1232)
    if key:
        q.use_tsig(ring, keyname="peer.", algorithm="hmac-sha256")
    ask = dns.query.udp if transport == "udp" else dns.query.tcp
    r = ask(q, "127.0.0.1", port={port}, source=src, timeout=2)
    ede = ",".join(str(o.code) for o in r.options if o.otype == dns.edns.EDE) or "-"
    aa = "aa" if r.flags & 0x0400 else "-"
    print(src, key or "-", transport, name, dns.rcode.to_text(r.rcode()), aa, len(r.answer), len(r.authority), ede)
"#,
        list.join(", ")
    );
    common::python_lines(&script)
}

#[test]
fn each_zone_answers_only_whom_its_list_allows() {
    let server = server();
    let a = "3.2.1.4.4.e164.arpa.";
    let a_wild = "7.7.9.9.4.4.e164.arpa.";
    let a_missing = "5.5.5.4.4.e164.arpa.";
    let b = "3.2.1.e164enum.net.";
    let c = "3.2.1.closed.example.";
    let questions = [
        // Zone a: its own list, 127.0.0.20 or the key; the top-level list does not apply.
        ("127.0.0.20", "", "udp", a),
        ("127.0.0.20", "", "udp", a_wild),
        ("127.0.0.20", "", "tcp", a_missing),
        ("127.0.0.30", "peer", "udp", a),
        ("127.0.0.30", "peer", "tcp", a_wild),
        ("127.0.0.30", "", "udp", a),
        ("127.0.0.30", "", "tcp", a),
        ("127.0.0.10", "", "udp", a),
        ("127.0.0.30", "", "udp", a_missing),
        ("127.0.0.30", "", "udp", a_wild),
        // Zone b: the top-level list, 127.0.0.10 and .11; the key is not on it.
        ("127.0.0.10", "", "udp", b),
        ("127.0.0.11", "", "tcp", b),
        ("127.0.0.12", "", "udp", b),
        ("127.0.0.20", "", "udp", b),
        ("127.0.0.30", "peer", "udp", b),
        // Zone c: nobody.
        ("127.0.0.10", "", "udp", c),
        ("127.0.0.20", "peer", "udp", c),
        // A name in no zone: REFUSED as ever, without the EDE.
        ("127.0.0.10", "", "udp", "1.2.3.example.org."),
    ];
    let got = ask_all(&server, &questions);
    let want = [
        format!("127.0.0.20 - udp {a} NOERROR aa 1 0 -"),
        format!("127.0.0.20 - udp {a_wild} NOERROR aa 1 0 -"),
        format!("127.0.0.20 - tcp {a_missing} NXDOMAIN aa 0 1 -"),
        format!("127.0.0.30 peer udp {a} NOERROR aa 1 0 -"),
        format!("127.0.0.30 peer tcp {a_wild} NOERROR aa 1 0 -"),
        format!("127.0.0.30 - udp {a} REFUSED - 0 0 18"),
        format!("127.0.0.30 - tcp {a} REFUSED - 0 0 18"),
        format!("127.0.0.10 - udp {a} REFUSED - 0 0 18"),
        format!("127.0.0.30 - udp {a_missing} REFUSED - 0 0 18"),
        format!("127.0.0.30 - udp {a_wild} REFUSED - 0 0 18"),
        format!("127.0.0.10 - udp {b} NOERROR aa 1 0 -"),
        format!("127.0.0.11 - tcp {b} NOERROR aa 1 0 -"),
        format!("127.0.0.12 - udp {b} REFUSED - 0 0 18"),
        format!("127.0.0.20 - udp {b} REFUSED - 0 0 18"),
        format!("127.0.0.30 peer udp {b} REFUSED - 0 0 18"),
        format!("127.0.0.10 - udp {c} REFUSED - 0 0 18"),
        format!("127.0.0.20 peer udp {c} REFUSED - 0 0 18"),
        "127.0.0.10 - udp 1.2.3.example.org. REFUSED - 0 0 -".to_string(),
    ];
    assert_eq!(got, want);
}
