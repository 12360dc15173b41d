#!/usr/bin/python3
"""enumd's catalog zone (RFC 9432) consumed by Knot DNS and BIND, signed with TSIG.

    tests/catalog_interop.py            # target/release/enumd
    ENUMD=path tests/catalog_interop.py

enumd serves two ENUM zones and a catalog zone listing them. Knot (`catalog-role: interpret`)
and BIND (`catalog-zones`) are configured with the catalog alone: each must find both member
zones in it, transfer them from enumd and serve what enumd serves (every RRset compared).

Needs knot and bind9 (the servers) and Debian's python3-dnspython. Everything listens on
127.0.0.0/8 only. Exits non-zero on any difference. KEEP=1 keeps the temp dir.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.zone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from differ import free_ports  # noqa: E402

CATALOG = "catalog.invalid."
MEMBERS = ["4.4.e164.arpa.", "e164enum.net."]
SECRET = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g=="
KEYRING = dns.tsigkeyring.from_text({"xfr.": ("hmac-sha256", SECRET)})
LISTEN = {"knot": "127.0.0.12", "bind": "127.0.0.1"}


def fail(msg):
    sys.exit(f"catalog-interop: {msg}")


def member_zone(apex, numbers):
    lines = [f"$ORIGIN {apex}", "$TTL 3600",
             "@ SOA ns1.example.net. hostmaster.example.net. 7 7200 900 1209600 300",
             "@ NS ns1.example.net."]
    for i in range(numbers):
        digits = f"{i:06d}"
        lines.append(f'{".".join(reversed(digits))} NAPTR 10 100 "u" "E2U+sip" '
                     f'"!^.*$!sip:+{digits}@sip.example.net!" .')
    return "\n".join(lines) + "\n"


def soa_serial(port, addr, apex):
    try:
        r = dns.query.udp(dns.message.make_query(apex, "SOA"), addr, port=port, timeout=0.5)
        if r.rcode() == dns.rcode.NOERROR and r.answer:
            return r.answer[0][0].serial
    except Exception:
        pass
    return None


def axfr(port, addr, apex):
    return dns.zone.from_xfr(dns.query.xfr(addr, apex, port=port, relativize=False, lifetime=60,
                                           keyring=KEYRING, keyname="xfr."), relativize=False)


def knot_conf(d, port, primary):
    return f"""server:
    listen: {LISTEN['knot']}@{port}
    rundir: {d}
database:
    storage: {d}/db
key:
  - id: xfr
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: enumd
    address: 127.0.0.1@{primary}
    key: xfr
    via: {LISTEN['knot']}
acl:
  - id: from_enumd
    address: 127.0.0.0/8
    key: xfr
    action: [notify, transfer]
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    semantic-checks: off
  - id: member
    storage: {d}
    master: enumd
    acl: from_enumd
    zonefile-sync: -1
    semantic-checks: off
zone:
  - domain: {CATALOG}
    master: enumd
    acl: from_enumd
    catalog-role: interpret
    catalog-template: member
log:
  - target: stderr
    any: info
"""


def bind_conf(d, port, primary):
    return f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ {LISTEN['bind']}; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer {{ key xfr; }};
    catalog-zones {{
        zone "{CATALOG}" default-primaries port {primary} {{ 127.0.0.1 key xfr; }};
    }};
}};
controls {{ }};
key "xfr" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{CATALOG}" {{
    type secondary;
    primaries port {primary} {{ 127.0.0.1 key xfr; }};
    file "{d}/catalog.db";
    allow-notify {{ 127.0.0.0/8; }};
}};
"""


def main():
    for tool in ("knotd", "named"):
        if not shutil.which(tool):
            fail(f"{tool} not found (apt-get install knot bind9)")
    enumd = os.environ.get("ENUMD", os.path.join(ROOT, "target", "release", "enumd"))
    tmp = tempfile.mkdtemp(prefix="enumd-catalog-interop.")
    procs = []
    try:
        primary, p_knot, p_bind = free_ports(3)
        edir = os.path.join(tmp, "enumd")
        os.makedirs(edir)
        zones = ""
        for k, apex in enumerate(MEMBERS):
            with open(os.path.join(edir, f"{apex}zone"), "w") as f:
                f.write(member_zone(apex, 500 * (k + 1)))
            zones += (f'[[zone]]\napex = "{apex}"\nfile = "{apex}zone"\n'
                      'allow_transfer = ["key:xfr"]\n')
        targets = f'"{LISTEN["knot"]}:{p_knot}", "{LISTEN["bind"]}:{p_bind}"'
        with open(os.path.join(edir, "enumd.toml"), "w") as f:
            f.write(f"""listen = ["127.0.0.1:{primary}"]
state_dir = "state"
[[key]]
name = "xfr"
algorithm = "hmac-sha256"
secret = "{SECRET}"
{zones}[[zone]]
apex = "{CATALOG}"
catalog = true
allow_transfer = ["key:xfr"]
notify = [{targets}]
notify_key = "xfr"
""")
        elog = os.path.join(tmp, "enumd.log")
        procs.append(subprocess.Popen([enumd, "serve", "--config", os.path.join(edir, "enumd.toml")],
                                      stdout=open(elog, "w"), stderr=subprocess.STDOUT))
        for _ in range(100):  # bounded: 10 s
            if soa_serial(primary, "127.0.0.1", CATALOG):
                break
            time.sleep(0.1)
        else:
            fail(f"enumd did not come up; log:\n{open(elog).read()}")
        catalog = axfr(primary, "127.0.0.1", CATALOG)
        ptrs = sorted(rd.target.to_text() for _, _, rd in catalog.iterate_rdatas("PTR"))
        if ptrs != sorted(MEMBERS):
            fail(f"the catalog lists {ptrs}, not {MEMBERS}")
        logs, ports = {}, {"knot": p_knot, "bind": p_bind}
        for name, conf, argv in (
                ("knot", knot_conf, lambda d: ["knotd", "-c", f"{d}/knot.conf"]),
                ("bind", bind_conf, lambda d: ["named", "-g", "-c", f"{d}/named.conf"])):
            d = os.path.join(tmp, name)
            os.makedirs(os.path.join(d, "db"))
            with open(os.path.join(d, "knot.conf" if name == "knot" else "named.conf"), "w") as f:
                f.write(conf(d, ports[name], primary))
            logs[name] = os.path.join(tmp, f"{name}.log")
            procs.append(subprocess.Popen(argv(d), stdout=open(logs[name], "w"),
                                          stderr=subprocess.STDOUT))
        started = time.monotonic()
        for name, port in ports.items():
            for apex in MEMBERS:
                want = soa_serial(primary, "127.0.0.1", apex)
                deadline = time.monotonic() + 60
                while soa_serial(port, LISTEN[name], apex) != want:  # bounded
                    if time.monotonic() > deadline:
                        fail(f"{name} does not serve {apex} (listed in the catalog) after 60 s; "
                             f"log tail:\n{open(logs[name]).read()[-3000:]}")
                    time.sleep(0.2)
                got = axfr(port, LISTEN[name], apex)
                want_zone = axfr(primary, "127.0.0.1", apex)
                diff = [str(n) for n in set(want_zone.nodes) | set(got.nodes)
                        if want_zone.get_node(n) != got.get_node(n)]
                if diff:
                    fail(f"{name}'s copy of {apex} differs at {len(diff)} names: {diff[:5]}")
            print(f"catalog-interop: {name} found {len(MEMBERS)} zones in enumd's catalog and "
                  f"serves what enumd serves (every RRset compared; "
                  f"{time.monotonic() - started:.1f} s from start)")
        print("catalog-interop: 0 differences")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP") == "1":
            print(f"catalog-interop: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
