#!/usr/bin/python3
"""`enumd provision` against enumd, Knot DNS and BIND: the same files, the same data on all three.

    tests/provision_interop.py                 # target/release/enumd
    ENUMD=path tests/provision_interop.py

Each server starts from the same zone, 3.4.e164.arpa. (1,000 numbers with old `E2U+sip`
NAPTRs, some with mailboxes and portability records, a CNAME and a delegation), and takes
signed UPDATE and AXFR with one TSIG key. For each server the test:

  1. applies a range file (10,000 numbers set from a block, a backup route added to 100,
     mailboxes deleted from 100 and set on another 100 without a TTL, so the RRset's TTL is
     kept) and a portability list (2,000 numbers ported out, 50 ported back, 50 given a new
     routing number) with `enumd provision`, reading the zone by AXFR;
  2. applies both files again, reading the zone by one query per name (`--read query`):
     "nothing to do", the serial unchanged;
  3. saves the plan of a third file by a dry run, changes one of its numbers meanwhile, and
     sends the plan in batches: that number's batch is refused by its prerequisite (NXRRSET),
     the other batches are applied, the concurrent change is kept;
  4. reads the zone by AXFR.

Then the three copies are compared RRset by RRset (owner, type, TTL and every record; the SOA
left out, as each server counts its serial its own way), and `enumd export` of each server
must give the same rows. Needs knot, bind9 and Debian's python3-dnspython. Everything listens
on 127.0.0.1 only. Exits non-zero on any difference. KEEP=1 keeps the temp dir.
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
import dns.rdatatype
import dns.tsigkeyring
import dns.zone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
from differ import free_ports  # noqa: E402

APEX = "3.4.e164.arpa."
SECRET = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhsc2g=="
KEY = f"hmac-sha256:prov:{SECRET}"
KEYRING = dns.tsigkeyring.from_text({"prov.": ("hmac-sha256", SECRET)})


def fail(msg):
    sys.exit(f"provision-interop: {msg}")


def owner(digits):
    """The ENUM name of +43 followed by `digits`, relative to the apex."""
    return ".".join(reversed(digits))


def base_zone():
    lines = [f"$ORIGIN {APEX}", "$TTL 3600",
             "@ SOA ns1.example.at. hostmaster.example.at. 1 3600 900 1209600 300",
             "@ NS ns1.example.at."]
    for n in range(1000):
        digits = f"197933{n:04d}"
        lines.append(f'{owner(digits)} NAPTR 10 100 "u" "E2U+sip" '
                     f'"!^.*$!sip:old{n}@pbx.example.at!" .')
        if n % 10 == 0:
            lines.append(f'{owner(digits)} NAPTR 10 110 "u" "E2U+email:mailto" '
                         f'"!^.*$!mailto:old{n}@example.at!" .')
        if n >= 900:
            lines.append(f'{owner(digits)} NAPTR 100 10 "u" "E2U+pstn:tel" '
                         f'"!^.*$!tel:+43{digits};npdi;rn=+4319799!" .')
    lines.append(f"{owner('19793400')} CNAME {owner('1979330001')}")
    lines.append(f"8 NS ns.8.{APEX}")
    lines.append("ns.8 A 192.0.2.8")
    return "\n".join(lines) + "\n"


RANGES = """action,number,service,uri,order,preference,ttl
# the PBX's block: 10,000 extensions, replacing the old routes
set,+43197933XXXX,sip,sip:{extension}@pbx.example.at,10,100,600
# the operator's desks get a backup route
add,+4319793300XX,sip,sip:operator@backup.example.at,20,100,600
# mailboxes withdrawn from one hundred, set on another hundred (no TTL: the RRset's is kept)
delete,+4319793301XX,email:mailto,,,,
set,+431979330500-+431979330599,email:mailto,mailto:desk{extension}@example.at,10,110,
"""


def ported():
    rows = ["number,routing_number,operator"]
    for n in range(1000, 3000):
        rows.append(f"+43197933{n:04d},+431979{n % 2}0,{'A1' if n % 2 else 'B2'}")
    for n in range(900, 950):
        rows.append(f"+43197933{n:04d},")  # ported back
    for n in range(950, 1000):
        rows.append(f"+43197933{n:04d},+4319798,C3")
    return "\n".join(rows) + "\n"


# 100 numbers moved to another PBX (set: one record removed and one added per number) ...
MOVED = ("number,service,uri,order,preference,ttl\n"
         "+4319793320XX,sip,sip:{extension}@pbx2.example.at,10,100,600\n")
# ... and one of them changed by someone else meanwhile.
THEIRS = ("number,service,uri,order,preference,ttl\n"
          "+431979332042,sip,sip:theirs@pbx3.example.at,10,100,600\n")


def knot_conf(d, port):
    return f"""server:
    listen: 127.0.0.1@{port}
    rundir: {d}
database:
    storage: {d}/db
key:
  - id: prov
    algorithm: hmac-sha256
    secret: {SECRET}
acl:
  - id: provisioning
    address: 127.0.0.1
    key: prov
    action: [update, transfer]
template:
  - id: default
    storage: {d}
    zonefile-sync: -1
    journal-content: changes
    semantic-checks: off
zone:
  - domain: {APEX}
    file: zone.db
    acl: provisioning
log:
  - target: stderr
    any: info
"""


def bind_conf(d, port):
    return f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
key "prov" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
zone "{APEX}" {{
    type primary;
    file "{d}/zone.db";
    allow-update {{ key prov; }};
    allow-transfer {{ key prov; }};
}};
"""


def enumd_conf(d, port):
    return f"""listen = ["127.0.0.1:{port}"]
state_dir = "state"
[[key]]
name = "prov"
algorithm = "hmac-sha256"
secret = "{SECRET}"
[[zone]]
apex = "{APEX}"
file = "zone.db"
allow_update = ["key:prov"]
allow_transfer = ["key:prov"]
"""


def serial(port):
    try:
        r = dns.query.udp(dns.message.make_query(APEX, "SOA"), "127.0.0.1", port=port,
                          timeout=0.5)
    except Exception:
        return None
    return r.answer[0][0].serial if r.rcode() == dns.rcode.NOERROR and r.answer else None


def rrsets(port):
    """{(owner, type): (ttl, sorted records)} of the zone by AXFR, the SOA left out."""
    z = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", APEX, port=port, relativize=False,
                                        lifetime=120, keyring=KEYRING, keyname="prov."),
                          relativize=False)
    out = {}
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            if rds.rdtype != dns.rdatatype.SOA:
                out[(str(name), dns.rdatatype.to_text(rds.rdtype))] = (
                    rds.ttl, sorted(r.to_text() for r in rds))
    return out


def provision(enumd, port, path, extra, log):
    argv = [enumd, "provision", path, "--zone", APEX, "--server", f"127.0.0.1:{port}",
            "--key", KEY] + extra
    started = time.monotonic()
    r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    with open(log, "a") as f:
        f.write(f"$ {' '.join(argv)}\n{r.stdout}{r.stderr}exit {r.returncode}\n")
    if r.returncode != 0:
        fail(f"{' '.join(argv)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout + r.stderr, took


def summary(text):
    """The lines a run ends with: the difference and what was sent."""
    return "; ".join(line.strip() for line in text.splitlines()
                     if line.startswith(("difference:", "applied", "nothing to do")))


def run_one(kind, enumd, files, tmp):
    (port,) = free_ports(1)
    d = os.path.join(tmp, kind)
    os.makedirs(os.path.join(d, "db"))
    with open(os.path.join(d, "zone.db"), "w") as f:
        f.write(base_zone())
    conf = os.path.join(d, "server.conf")
    with open(conf, "w") as f:
        f.write({"knot": knot_conf, "bind": bind_conf, "enumd": enumd_conf}[kind](d, port))
    argv = {"knot": ["knotd", "-c", conf], "bind": ["named", "-g", "-c", conf],
            "enumd": [enumd, "serve", "--config", conf]}[kind]
    slog = os.path.join(tmp, f"{kind}.log")
    plog = os.path.join(tmp, f"{kind}-provision.log")
    proc = subprocess.Popen(argv, cwd=d, stdout=open(slog, "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while serial(port) is None:  # bounded
            if time.monotonic() > deadline or proc.poll() is not None:
                fail(f"{kind} does not serve {APEX}; log:\n{open(slog).read()[-3000:]}")
            time.sleep(0.1)
        for path in files[:2]:
            text, took = provision(enumd, port, path, [], plog)
            if "applied" not in text:
                fail(f"{kind}: {os.path.basename(path)} applied nothing:\n{text}")
            print(f"provision-interop: {kind}: {os.path.basename(path)} in {took:.1f} s: "
                  f"{summary(text)}")
        before = serial(port)
        for path in files[:2]:
            text, _ = provision(enumd, port, path, ["--read", "query"], plog)
            if "nothing to do: no UPDATE sent" not in text:
                fail(f"{kind}: the second run of {os.path.basename(path)} (--read query) "
                     f"was not 'nothing to do':\n{text}")
        if serial(port) != before:
            fail(f"{kind}: the serial moved from {before} to {serial(port)} on the second runs")
        print(f"provision-interop: {kind}: both files again, read by query: nothing to do, "
              f"serial {before} unchanged")

        # A plan saved by a dry run, a concurrent change to one of its numbers, the plan sent in
        # batches of 10 numbers: that number's batch refused (the prerequisite), the rest applied.
        plan = os.path.join(d, "plan.json")
        provision(enumd, port, files[2], ["--dry-run", "--save-plan", plan], plog)
        provision(enumd, port, files[3], [], plog)
        argv = [enumd, "provision", "--plan", plan, "--zone", APEX, "--server",
                f"127.0.0.1:{port}", "--key", KEY, "--batch", "20"]
        r = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
        text = r.stdout + r.stderr
        refused = [line for line in text.splitlines() if "refused with" in line]
        if r.returncode != 1 or "applied 9 of 10 UPDATE message(s)" not in text or not (
                len(refused) == 1 and "+431979332040 to +431979332049) refused with NXRRSET"
                in refused[0]):
            fail(f"{kind}: the plan sent after a concurrent change: exit {r.returncode}\n{text}")
        print(f"provision-interop: {kind}: plan sent after a concurrent change: exit 1, "
              f"{refused[0].strip()}")
        data = rrsets(port)
        export = subprocess.run([enumd, "export", "--zone", APEX, "--server",
                                 f"127.0.0.1:{port}", "--key", KEY], cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        if export.returncode != 0:
            fail(f"{kind}: enumd export failed: {export.stderr}")
        return data, sorted(export.stdout.splitlines())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    for tool in ("knotd", "named"):
        if not shutil.which(tool):
            fail(f"{tool} not found (apt-get install knot bind9)")
    enumd = os.environ.get("ENUMD", os.path.join(ROOT, "target", "release", "enumd"))
    tmp = tempfile.mkdtemp(prefix="enumd-provision-interop.")
    try:
        files = [os.path.join(tmp, name) for name in
                 ("ranges.csv", "ported.csv", "moved.csv", "theirs.csv")]
        for path, text in zip(files, (RANGES, ported(), MOVED, THEIRS)):
            with open(path, "w") as f:
                f.write(text)
        results = {kind: run_one(kind, enumd, files, tmp) for kind in ("enumd", "knot", "bind")}
        want, want_export = results["enumd"]
        kept = want.get((owner("1979332042") + "." + APEX, "NAPTR"), (0, []))[1]
        if not any("theirs@pbx3" in r for r in kept) or any("pbx2" in r for r in kept):
            fail(f"the concurrent change was not kept: {kept}")
        for kind in ("knot", "bind"):
            got, got_export = results[kind]
            diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
            if diff:
                first = [(k, want.get(k), got.get(k)) for k in diff[:3]]
                fail(f"{kind} differs from enumd at {len(diff)} RRsets, first {first}")
            if got_export != want_export:
                fail(f"{kind}: enumd export differs from enumd's")
        records = sum(len(v[1]) for v in want.values())
        print(f"provision-interop: enumd, knot and bind hold the same data: {len(want)} RRsets, "
              f"{records} records, every RRset compared (owner, type, TTL, records); "
              f"export the same {len(want_export) - 1} rows")
        print("provision-interop: 0 differences")
    finally:
        if os.environ.get("KEEP") == "1":
            print(f"provision-interop: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
