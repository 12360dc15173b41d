#!/usr/bin/python3
"""Differential UPDATE test: the same random RFC 2136 updates to Knot DNS and to enumd.

    tests/update_interop.py                  # target/release/enumd, 2,000 updates, seed 1
    ENUMD=path UPDATES=N SEED=S tests/update_interop.py

Both servers start from the same generated zone (numbers, wildcards, empty non-terminals, a
delegation with glue). Each update, signed with TSIG, carries 0-2 prerequisites and 1-3 changes
(adds, deletes of records, RRsets and names, RRset replacements, CNAMEs that conflict, NS that
make new cuts) at names drawn from the zone, from the updates before, and new. Every update must
get the same RCODE from both. Afterwards Knot's data (by AXFR) and enumd's (the zone file it
writes on SIGUSR1, from the version it serves) must hold the same records: 0 differences.

Needs knotd (apt-get install knot) and Debian's python3-dnspython. Listens on 127.0.0.1 only.
Exits non-zero on any difference. KEEP=1 keeps the temp dir.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import dns.zone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from differ import free_ports  # noqa: E402
APEX = "e164.arpa."
SECRET = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g=="
KEYRING = dns.tsigkeyring.from_text({"provisioning.": ("hmac-sha256", SECRET)})


def naptr(rng, number):
    svc = rng.choice(["E2U+sip", "E2U+pstn:tel", "E2U+email:mailto"])
    if svc == "E2U+pstn:tel":
        uri = f"tel:+{number};npdi;rn=+44{rng.randrange(10000):04d}"
    elif svc == "E2U+email:mailto":
        uri = f"mailto:u{rng.randrange(100)}@example.net"
    else:
        uri = f"sip:+{number}@sip{rng.randrange(3)}.example.net"
    return f'{rng.choice([10, 20])} {rng.choice([10, 100])} "u" "{svc}" "!^.*$!{uri}!" .'


def digits_name(digits):
    return ".".join(reversed(digits)) + "." + APEX


def make_zone(rng):
    lines = [
        f"$ORIGIN {APEX}",
        "$TTL 3600",
        "@ SOA ns1.example.net. hostmaster.example.net. 1000 7200 3600 1209600 300",
        "@ NS ns1.example.net.",
        "@ NS ns2.example.net.",
    ]
    numbers = []
    for _ in range(300):
        d = "44" + "".join(rng.choice("0123456789") for _ in range(rng.choice([4, 6, 8])))
        numbers.append(d)
        lines.append(f"{digits_name(d)} 3600 NAPTR {naptr(rng, d)}")
    for k in range(5):
        lines.append(f"*.{digits_name('447' + str(k))} 3600 NAPTR 10 10 \"u\" \"E2U+sip\" \"!^\\\\+447{k}(.*)$!sip:\\\\1@pbx{k}.example.net!\" .")
    # A delegation with in-domain glue.
    lines.append(f"{digits_name('4499')} 3600 NS ns.{digits_name('4499')}")
    lines.append(f"ns.{digits_name('4499')} 3600 A 192.0.2.99")
    return "\n".join(lines) + "\n", numbers


def pick_name(rng, numbers, touched):
    r = rng.random()
    if r < 0.35:
        return digits_name(rng.choice(numbers))
    if r < 0.55 and touched:
        return rng.choice(touched)
    if r < 0.65:
        d = rng.choice(numbers)
        return digits_name(d[: rng.randrange(2, len(d))])  # an empty non-terminal, often
    if r < 0.72:
        return f"*.{digits_name('447' + str(rng.randrange(6)))}"
    if r < 0.78:
        return f"{rng.randrange(10)}.{digits_name('4499')}"  # below the cut
    if r < 0.82:
        return APEX
    return digits_name("44" + "".join(rng.choice("0123456789") for _ in range(rng.choice([3, 5, 6]))))


def number_of(name):
    labels = name[: -len(APEX) - 1].split(".") if name != APEX else []
    digits = [l for l in labels if l.isdigit()]
    return "".join(reversed(digits)) or "44"


def make_update(rng, numbers, touched, known, ttls):
    u = dns.update.Update(APEX, keyring=KEYRING, keyalgorithm="hmac-sha256")
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        name = pick_name(rng, numbers, touched)
        kind = rng.randrange(5)
        t = rng.choice(["NAPTR", "TXT", "A", "CNAME", "NS"])
        if kind == 0:
            u.present(name)
        elif kind == 1:
            u.absent(name)
        elif kind == 2:
            u.present(name, t)
        elif kind == 3:
            u.absent(name, t)
        else:
            rdatas = known.get((name, "TXT"))
            if rdatas and rng.random() < 0.7:
                u.present(name, dns.rdataset.from_text("IN", "TXT", 0, *rdatas))
            else:
                u.present(name, dns.rdataset.from_text("IN", "TXT", 0, f'"v{rng.randrange(5)}"'))
    for _ in range(rng.randrange(1, 4)):
        name = pick_name(rng, numbers, touched)
        touched.append(name)
        op = rng.random()
        # One TTL per name and type for adds; TTLs change only by replacing an RRset whole. An
        # add that repeats a record with a new TTL is where the two differ on purpose: RFC 2136
        # §3.4.2.2 replaces the zone RR, so enumd (as BIND) serves the new TTL, Knot the old.
        ttl = lambda t: ttls.setdefault((name.lower(), t), rng.choice([60, 300, 3600]))
        if op < 0.25:
            text = naptr(rng, number_of(name))
            u.add(name, ttl("NAPTR"), "NAPTR", text)
        elif op < 0.40:
            text = f'"v{rng.randrange(5)}"'
            u.add(name, ttl("TXT"), "TXT", text)
            known.setdefault((name, "TXT"), set()).add(text)
        elif op < 0.48:
            u.add(name, ttl("A"), "A", f"192.0.2.{rng.randrange(256)}")
        elif op < 0.52:
            u.add(name, ttl("CNAME"), "CNAME", rng.choice([digits_name(rng.choice(numbers)), "sip.example.net."]))
        elif op < 0.55 and name != APEX:
            u.add(name, ttl("NS"), "NS", f"ns{rng.randrange(2)}.tier3.example.org.")
        elif op < 0.68:
            u.delete(name, rng.choice(["TXT", "NAPTR", "A", "CNAME", "NS"]))
        elif op < 0.76:
            u.delete(name)
        elif op < 0.88:
            texts = known.get((name, "TXT"))
            if texts:
                u.delete(name, "TXT", rng.choice(sorted(texts)))
            else:
                u.delete(name, "TXT", f'"v{rng.randrange(5)}"')
        else:
            # Replace an RRset, with a new TTL for the TXT records the name gets from now on.
            u.delete(name, "TXT")
            text = f'"r{rng.randrange(5)}"'
            new_ttl = ttls[(name.lower(), "TXT")] = rng.choice([60, 300, 3600, 7200])
            u.add(name, new_ttl, "TXT", text)
            known[(name, "TXT")] = {text}
    return u


def wait_ready(port, what, log):
    q = dns.message.make_query(APEX, "SOA")
    for _ in range(200):
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
            if r.rcode() == dns.rcode.NOERROR and r.answer:
                return
        except Exception:
            pass
        time.sleep(0.1)
    sys.exit(f"update-interop: {what} did not come up; log:\n{open(log).read()}")


def records_of(zone):
    out = set()
    for name, node in zone.nodes.items():
        owner = name.derelativize(zone.origin).to_text().lower()
        for rds in node.rdatasets:
            for rd in rds:
                out.add((owner, dns.rdatatype.to_text(rds.rdtype), rds.ttl, rd.to_text().lower()))
    return out


def main():
    updates = int(os.environ.get("UPDATES", "2000"))
    seed = int(os.environ.get("SEED", "1"))
    enumd = os.environ.get("ENUMD", os.path.join(ROOT, "target/release/enumd"))
    if not shutil.which("knotd"):
        sys.exit("update-interop: knotd not found (apt-get install knot)")
    if not os.access(enumd, os.X_OK):
        sys.exit(f"update-interop: no enumd binary at {enumd} (cargo build --release)")
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="enumd-update-interop.")
    procs = []
    try:
        text, numbers = make_zone(rng)
        ports = free_ports(2)
        if len(ports) < 2:
            sys.exit("update-interop: no two free ports on 127.0.0.1")
        knot_port, enumd_port = ports
        kdir, edir = os.path.join(tmp, "knot"), os.path.join(tmp, "enumd")
        os.makedirs(os.path.join(kdir, "db"))
        os.makedirs(edir)
        with open(os.path.join(kdir, "e164.arpa.zone"), "w") as f:
            f.write(text)
        with open(os.path.join(edir, "e164.arpa.zone"), "w") as f:
            f.write(text)
        with open(os.path.join(kdir, "knot.conf"), "w") as f:
            f.write(f"""server:
    listen: 127.0.0.1@{knot_port}
    rundir: {kdir}
database:
    storage: {kdir}/db
key:
  - id: provisioning
    algorithm: hmac-sha256
    secret: {SECRET}
acl:
  - id: upd
    address: 127.0.0.1
    key: provisioning
    action: [update, transfer]
template:
  - id: default
    storage: {kdir}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    semantic-checks: off
zone:
  - domain: {APEX}
    file: e164.arpa.zone
    acl: upd
log:
  - target: stderr
    any: warning
""")
        with open(os.path.join(edir, "enumd.toml"), "w") as f:
            f.write(f"""listen = ["127.0.0.1:{enumd_port}"]
state_dir = "state"
[[key]]
name = "provisioning"
algorithm = "hmac-sha256"
secret = "{SECRET}"
[[zone]]
apex = "{APEX}"
file = "e164.arpa.zone"
allow_update = ["key:provisioning"]
flush_interval = 0
""")
        klog, elog = os.path.join(tmp, "knot.log"), os.path.join(tmp, "enumd.log")
        procs.append(subprocess.Popen(["knotd", "-c", os.path.join(kdir, "knot.conf")],
                                      stdout=open(klog, "w"), stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen([enumd, "serve", "--config", os.path.join(edir, "enumd.toml")],
                                      stdout=open(elog, "w"), stderr=subprocess.STDOUT))
        wait_ready(knot_port, "knotd", klog)
        wait_ready(enumd_port, "enumd", elog)

        touched, known = [], {}
        # The zone's own records have TTL 3600: adds of the same type there use it too.
        ttls = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[1] == "3600":
                ttls[(parts[0].lower(), parts[2])] = 3600
        differ, counts = [], {}
        for i in range(updates):
            u = make_update(rng, numbers, touched, known, ttls)
            rk = dns.query.tcp(u, "127.0.0.1", port=knot_port, timeout=10).rcode()
            re_ = dns.query.tcp(u, "127.0.0.1", port=enumd_port, timeout=10).rcode()
            counts[dns.rcode.to_text(rk)] = counts.get(dns.rcode.to_text(rk), 0) + 1
            if rk != re_:
                differ.append(f"update {i}: knot {dns.rcode.to_text(rk)}, enumd {dns.rcode.to_text(re_)}:\n{u.to_text()}")

        # Knot's data by AXFR; enumd's as it writes them on SIGUSR1.
        xfr = dns.query.xfr("127.0.0.1", APEX, port=knot_port, keyring=KEYRING, keyalgorithm="hmac-sha256", relativize=False)
        knot = records_of(dns.zone.from_xfr(xfr, relativize=False))
        zfile = os.path.join(edir, "e164.arpa.zone")
        before = os.stat(zfile).st_mtime_ns
        procs[1].send_signal(signal.SIGUSR1)
        for _ in range(100):
            if os.stat(zfile).st_mtime_ns != before:
                break
            time.sleep(0.1)
        time.sleep(0.2)
        ours = records_of(dns.zone.from_file(zfile, origin=APEX, relativize=False))
        only_knot, only_enumd = sorted(knot - ours), sorted(ours - knot)
        for r in only_knot[:20]:
            differ.append(f"only in Knot:  {r}")
        for r in only_enumd[:20]:
            differ.append(f"only in enumd: {r}")
        for d in differ[:40]:
            print(d)
        print(f"{updates} updates (rcodes {dict(sorted(counts.items()))}), {len(knot)} records in Knot, "
              f"{len(ours)} in enumd: {len([d for d in differ if d.startswith('update')])} rcode differences, "
              f"{len(only_knot) + len(only_enumd)} record differences")
        return 1 if differ else 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        if os.environ.get("KEEP") == "1":
            print(f"update-interop: kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
