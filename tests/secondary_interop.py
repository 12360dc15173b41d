#!/usr/bin/python3
"""enumd as the secondary of a Knot DNS primary and of a BIND primary, signed with TSIG.

    tests/secondary_interop.py                 # target/release/enumd, 20,000 numbers, seed 1
    ENUMD=path NUMBERS=N UPDATES=U SEED=S tests/secondary_interop.py

Each primary serves 4.4.e164.arpa. (tests/interop/gen_zone.py: numbers, wildcards, empty
non-terminals, delegations with glue, occluded names, CNAMEs) with short SOA timers (refresh
2 s, retry 1 s, expire 8 s), takes signed UPDATE from knsupdate (Knot) or nsupdate (BIND), and
sends NOTIFY to an enumd of its own. For each primary, the test:

  1. starts the primary and enumd (`primaries`, `primary_key`, no zone file), which takes the
     zone by AXFR; compares enumd's copy with the primary's, every RRset;
  2. sends UPDATES changes with the primary's own update tool; enumd is told by NOTIFY and
     must take them by IXFR (its log names each transfer's kind); compares again;
  3. stops the primary: enumd serves on until the SOA expire time, then answers SERVFAIL;
  4. starts the primary again and changes the zone once more: enumd serves again and catches
     up; compares;
  5. restarts enumd with the primary stopped: it serves its stored copy at once.

Needs knot, bind9, knot-dnsutils, bind9-dnsutils and Debian's python3-dnspython. Everything
listens on 127.0.0.1 only. Exits non-zero on any difference. KEEP=1 keeps the temp dir.
"""

import os
import random
import re
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

APEX = "4.4.e164.arpa."
SECRET = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g=="
KEYRING = dns.tsigkeyring.from_text({"xfr.": ("hmac-sha256", SECRET)})
REFRESH, RETRY, EXPIRE = 2, 1, 8


def fail(msg):
    sys.exit(f"secondary-interop: {msg}")


def answer(port, apex="4.4.e164.arpa.", rtype="SOA", timeout=0.5):
    """(rcode, serial or None) of an SOA query; None when nothing answers."""
    try:
        r = dns.query.udp(dns.message.make_query(apex, rtype), "127.0.0.1", port=port,
                          timeout=timeout)
    except Exception:
        return None
    serial = r.answer[0][0].serial if r.rcode() == dns.rcode.NOERROR and r.answer else None
    return r.rcode(), serial


def wait(what, check, log, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:  # bounded
        if check():
            return
        time.sleep(0.1)
    fail(f"{what}: not within {limit} s; log tail:\n{open(log).read()[-3000:]}")


def axfr(port):
    return dns.zone.from_xfr(dns.query.xfr("127.0.0.1", APEX, port=port, relativize=False,
                                           lifetime=120, keyring=KEYRING, keyname="xfr."),
                             relativize=False)


def compare(stage, primary, secondary):
    want, got = axfr(primary), axfr(secondary)
    diff = [str(n) for n in sorted(set(want.nodes) | set(got.nodes))
            if want.get_node(n) is None or got.get_node(n) is None
            or want.get_node(n) != got.get_node(n)]
    if diff:
        fail(f"{stage}: enumd's copy differs from the primary's at {len(diff)} names, "
             f"first {diff[:5]}")
    return sum(1 for _ in want.iterate_rdatas())


def knot_conf(d, port, secondary):
    return f"""server:
    listen: 127.0.0.1@{port}
    rundir: {d}
database:
    storage: {d}/db
key:
  - id: xfr
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: enumd
    address: 127.0.0.1@{secondary}
    key: xfr
acl:
  - id: peers
    address: 127.0.0.1
    key: xfr
    action: [update, transfer]
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
    semantic-checks: off
zone:
  - domain: {APEX}
    file: zone.db
    notify: enumd
    acl: peers
log:
  - target: stderr
    any: info
"""


def bind_conf(d, port, secondary):
    return f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify explicit;
}};
controls {{ }};
key "xfr" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{APEX}" {{
    type primary;
    file "{d}/zone.db";
    allow-update {{ key xfr; }};
    allow-transfer {{ key xfr; }};
    also-notify {{ 127.0.0.1 port {secondary} key xfr; }};
}};
"""


def update_script(tool, port, rng, count, tag):
    """`count` changes as nsupdate/knsupdate commands: NAPTRs added, replaced and deleted."""
    lines = [f"server 127.0.0.1 {port}", f"zone {APEX}"]
    if tool == "nsupdate":
        lines.insert(0, f"key hmac-sha256:xfr {SECRET}")
    for k in range(count):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        owner = ".".join(reversed(digits)) + "." + APEX
        kind = k % 3
        if kind == 0:
            lines.append(f'update add {owner} 300 NAPTR 10 100 "u" "E2U+sip" '
                         f'"!^.*$!sip:+44{digits}@{tag}.example.net!" .')
        elif kind == 1:
            lines.append(f'update add {owner} 300 NAPTR 10 100 "u" "E2U+pstn:tel" '
                         f'"!^.*$!tel:+44{digits};npdi;rn=+4410{k % 10}!" .')
        else:
            lines.append(f"update delete {owner} NAPTR")
        if k % 20 == 19:
            lines.append("send")
    lines.append("send")
    return "\n".join(lines) + "\n"


def send_updates(tool, port, script):
    argv = [tool] + (["-y", f"hmac-sha256:xfr:{SECRET}"] if tool == "knsupdate" else [])
    r = subprocess.run(argv, input=script, text=True, capture_output=True, timeout=120)
    if r.returncode != 0:
        fail(f"{tool} failed: {r.stdout}{r.stderr}")


def run_one(kind, enumd, zone_text, count, rng, tmp):
    primary, secondary = free_ports(2)
    d = os.path.join(tmp, kind)
    os.makedirs(os.path.join(d, "db"))
    edir = os.path.join(tmp, f"enumd-{kind}")
    os.makedirs(edir)
    with open(os.path.join(d, "zone.db"), "w") as f:
        f.write(zone_text)
    conf = os.path.join(d, "primary.conf")
    with open(conf, "w") as f:
        f.write((knot_conf if kind == "knot" else bind_conf)(d, primary, secondary))
    argv = ["knotd", "-c", conf] if kind == "knot" else ["named", "-g", "-c", conf]
    plog = os.path.join(tmp, f"{kind}.log")
    econf = os.path.join(edir, "enumd.toml")
    with open(econf, "w") as f:
        f.write(f"""listen = ["127.0.0.1:{secondary}"]
state_dir = "state"
[[key]]
name = "xfr"
algorithm = "hmac-sha256"
secret = "{SECRET}"
[[zone]]
apex = "{APEX}"
primaries = ["127.0.0.1:{primary}"]
primary_key = "xfr"
allow_transfer = ["key:xfr"]
""")
    elog = os.path.join(tmp, f"enumd-{kind}.log")
    procs = {}

    def start_primary():
        procs["primary"] = subprocess.Popen(argv, stdout=open(plog, "a"), stderr=subprocess.STDOUT)
        wait(f"{kind} up", lambda: (answer(primary) or (None,))[0] == dns.rcode.NOERROR, plog)

    def start_enumd():
        procs["enumd"] = subprocess.Popen([enumd, "serve", "--config", econf],
                                          stdout=open(elog, "a"), stderr=subprocess.STDOUT)

    def stop(name):
        p = procs.pop(name)
        p.terminate()
        p.wait(timeout=20)

    def serial_of(port, timeout=0.5):
        a = answer(port, timeout=timeout)
        return a[1] if a else None

    def transfers():
        return re.findall(r'transfer in zone=\S+ primary=\S+ kind="([^"]+)" serial=(\d+)',
                          open(elog).read())

    try:
        start_primary()
        started = time.monotonic()
        start_enumd()
        want = serial_of(primary)
        wait(f"enumd takes {kind}'s serial {want}", lambda: serial_of(secondary) == want, elog)
        took = time.monotonic() - started
        records = compare("after the first transfer", primary, secondary)
        print(f"secondary-interop: {kind}: AXFR taken ({records} records, every RRset compared; "
              f"{took:.1f} s from start); transfers so far: {transfers()}")

        tool = "knsupdate" if kind == "knot" else "nsupdate"
        send_updates(tool, primary, update_script(tool, primary, rng, count, kind))
        want = serial_of(primary)
        wait(f"enumd takes {kind}'s serial {want}", lambda: serial_of(secondary) == want, elog)
        time.sleep(0.5)  # the primary's serial and its journal are both written by now
        want = serial_of(primary)
        wait(f"enumd takes {kind}'s serial {want}", lambda: serial_of(secondary) == want, elog)
        records = compare(f"after {count} changes by {tool}", primary, secondary)
        kinds = [k for k, _ in transfers()[1:]]
        if not kinds or any(k != "IXFR" for k in kinds):
            fail(f"{kind}: changes not taken by IXFR alone: {kinds}")
        print(f"secondary-interop: {kind}: {count} changes by {tool} taken by {len(kinds)} IXFR "
              f"({records} records, every RRset compared)")

        stopped = time.monotonic()
        stop("primary")
        if answer(secondary)[0] != dns.rcode.NOERROR:
            fail(f"{kind} stopped: enumd stopped serving before expire")
        wait("SERVFAIL after expire", lambda: answer(secondary)[0] == dns.rcode.SERVFAIL, elog,
             limit=EXPIRE + 20)
        after = time.monotonic() - stopped
        if after < EXPIRE - REFRESH - 1:
            fail(f"SERVFAIL {after:.1f} s after the primary stopped, before expire ({EXPIRE} s)")
        print(f"secondary-interop: {kind}: primary stopped; enumd served until expire, "
              f"SERVFAIL {after:.1f} s later (SOA expire {EXPIRE} s)")

        start_primary()
        send_updates(tool, primary, update_script(tool, primary, rng, 10, kind + "-back"))
        time.sleep(0.5)
        want = serial_of(primary)
        wait(f"enumd catches up with {kind}'s serial {want}",
             lambda: answer(secondary) == (dns.rcode.NOERROR, want), elog)
        records = compare("after the primary came back", primary, secondary)
        print(f"secondary-interop: {kind}: primary back; enumd serves again and caught up to "
              f"serial {want} ({records} records, every RRset compared)")

        stop("primary")
        stop("enumd")
        restarted = time.monotonic()
        start_enumd()
        # Asked every 10 ms, each query given 10 ms: the time is the server's, not the poll's.
        deadline = time.monotonic() + 20
        while serial_of(secondary, timeout=0.01) != want:  # bounded
            if time.monotonic() > deadline:
                fail(f"enumd restarted does not serve its stored copy; log:\n{open(elog).read()[-3000:]}")
            time.sleep(0.01)
        print(f"secondary-interop: {kind}: enumd restarted with the primary down: serves its "
              f"stored serial {want} {time.monotonic() - restarted:.2f} s after start")
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    for tool in ("knotd", "named", "knsupdate", "nsupdate"):
        if not shutil.which(tool):
            fail(f"{tool} not found (apt-get install knot bind9 knot-dnsutils bind9-dnsutils)")
    enumd = os.environ.get("ENUMD", os.path.join(ROOT, "target", "release", "enumd"))
    numbers = int(os.environ.get("NUMBERS", "20000"))
    count = int(os.environ.get("UPDATES", "200"))
    rng = random.Random(int(os.environ.get("SEED", "1")))
    tmp = tempfile.mkdtemp(prefix="enumd-secondary-interop.")
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "interop", "gen_zone.py"),
                        "--numbers", str(numbers), "--out-dir", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        text = open(os.path.join(tmp, "zone.db")).read()
        text = re.sub(r"7200\s+; refresh", f"{REFRESH} ; refresh", text, count=1)
        text = re.sub(r"900\s+; retry", f"{RETRY} ; retry", text, count=1)
        text = re.sub(r"1209600\s+; expire", f"{EXPIRE} ; expire", text, count=1)
        for kind in ("knot", "bind"):
            run_one(kind, enumd, text, count, rng, tmp)
        print("secondary-interop: 0 differences")
    finally:
        if os.environ.get("KEEP") == "1":
            print(f"secondary-interop: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
