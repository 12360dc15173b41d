#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/seeds/<target>/ (committed; `cargo fuzz`
starts from them, and `tests/fuzz_inputs.rs` replays them): queries of every kind the
server answers, UPDATE messages, an AXFR answer, NAPTR REGEXP fields, and the zone files the
tests and the lab ship. Run from anywhere: /usr/bin/python3 fuzz/make_seeds.py"""

import glob
import hashlib
import os
import re

import dns.edns
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.update

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APEX = "4.4.e164.arpa."
RING = dns.tsigkeyring.from_text({"peer.": ("hmac-sha256", "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g==")})


def put(target, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)


def queries():
    names = ["3.2.1." + APEX, "4.2.1." + APEX, "7.7.9.9." + APEX, "5.5." + APEX, "6.6." + APEX,
             "1.ns.8." + APEX, "8." + APEX, APEX, "0.0.0." + APEX, "3.2.1.E164.ARPA.", "example.org."]
    out = []
    for i, name in enumerate(names):
        for t in ["NAPTR", "ANY", "SOA", "NS", "A", "TXT", "DS", "AXFR"]:
            q = dns.message.make_query(name, t, use_edns=(i % 3 != 0), payload=512 + 700 * (i % 3))
            out.append(q)
    q = dns.message.make_query("3.2.1." + APEX, "NAPTR", use_edns=0, payload=1232,
                               options=[dns.edns.GenericOption(dns.edns.COOKIE, b"\x01" * 8),
                                        dns.edns.GenericOption(dns.edns.NSID, b"")])
    out.append(q)
    q = dns.message.make_query("3.2.1." + APEX, "NAPTR", use_edns=0)
    q.use_tsig(RING, keyname="peer.", algorithm="hmac-sha256")
    out.append(q)
    q = dns.message.make_query(APEX, "SOA", use_edns=1)
    out.append(q)
    q = dns.message.make_query(APEX, "IXFR")
    q.authority.append(dns.rrset.from_text(APEX, 0, "IN", "SOA", "ns1.example.net. h. 0 1 1 1 1"))
    out.append(q)
    return out


def main():
    for k, q in enumerate(queries()):
        wire = q.to_wire()
        put("respond", bytes([k % 8]) + wire)
    put("respond", b"\x00" + bytes(12))
    put("respond", b"\x01\x12\x34\x28\x00\x00\x01\x00\x00\x00\x00\x00\x00")  # an UPDATE header

    for add in ['10 100 "u" "E2U+sip" "!^.*$!sip:+4412@example.net!" .',
                '10 100 "u" "E2U+pstn:tel" "!^.*$!tel:+4412;npdi;rn=+4499!" .']:
        u = dns.update.UpdateMessage(APEX)
        u.present("3.2.1")
        u.absent("1.2")
        u.add("2.1", 3600, "NAPTR", add)
        u.delete("3.2.1", "NAPTR")
        u.replace("5.5", 300, "CNAME", "3.2.1")
        put("update", u.to_wire())
        u = dns.update.UpdateMessage(APEX, keyring=RING, keyname="peer.", keyalgorithm="hmac-sha256")
        u.add("9.1", 60, "NAPTR", add)
        u.add("@", 60, "SOA", "ns1.example.net. hostmaster.example.net. 9 7200 3600 1209600 300")
        put("update", u.to_wire())

    q = dns.message.make_query(APEX, "AXFR")
    r = dns.message.make_response(q)
    soa = dns.rrset.from_text(APEX, 3600, "IN", "SOA", "ns1.example.net. hostmaster.example.net. 5 7200 3600 1209600 300")
    r.answer.append(soa)
    r.answer.append(dns.rrset.from_text(APEX, 3600, "IN", "NS", "ns1.example.net."))
    r.answer.append(dns.rrset.from_text("3.2.1." + APEX, 3600, "IN", "NAPTR",
                                        '10 100 "u" "E2U+sip" "!^.*$!sip:+44123@example.net!" .'))
    r.answer.append(dns.rrset.from_text("*.9." + APEX, 3600, "IN", "TXT", '"x"'))
    r.answer.append(soa)
    wire = r.to_wire()
    put("transfer_in", q.id.to_bytes(2, "big") + len(wire).to_bytes(2, "big") + wire)

    seen = set()
    for path in glob.glob(os.path.join(ROOT, "zones", "**", "*"), recursive=True) + \
            glob.glob(os.path.join(ROOT, "tests", "data", "**", "*.zone"), recursive=True):
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            text = f.read()
        put("zone_file", text)
        for m in re.finditer(rb'NAPTR[^\n"]*"[^"]*"\s+"[^"]*"\s+"((?:[^"\\]|\\.)*)"', text):
            field = m.group(1).replace(b"\\\\", b"\\")
            if field not in seen:
                seen.add(field)
                put("naptr_regexp", field + b"\xff+441234567890")


if __name__ == "__main__":
    main()
