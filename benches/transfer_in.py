#!/usr/bin/python3
"""Transfers in, side by side: enumd, Knot DNS and NSD as secondaries taking the same zone
from the same primary (an enumd), by AXFR at start and then by IXFR of 1,000 changes.

    benches/transfer_in.py [--numbers 1000000] [--servers enumd,knot,nsd] [--runs 3]

The primary runs on CPU 0, the secondary on CPU 1; each secondary starts with nothing stored
and keeps what it takes on disk (Knot and NSD as they do by default, enumd its copy in
state_dir). Per secondary, --runs times (fresh each time):
  - AXFR in: seconds from starting the secondary to its serving the primary's serial (an SOA
    query every 20 ms), its CPU seconds meanwhile (every process and thread), and its peak RSS
    (VmHWM of each process, sampled every 20 ms so that processes which exit count too: the
    largest process's for NSD, whose processes share memory, the sum for the others);
  - IXFR in: 10 UPDATE messages of 100 changes each to the primary, then a NOTIFY sent by this
    script, timed from the NOTIFY to the secondary's serving the new serial.
Prints a markdown table with ratios; medians of the runs. Needs knotd, nsd and taskset; exits 2
naming a missing one.
"""

import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import CLK_TCK, cpu_ticks, descendants, ensure_data, vm_rss_hwm  # noqa: E402
from updates import APEX, SECRET  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRIMARY_CPU, SECONDARY_CPU = "0", "1"
# Numbers no earlier run has added: each run's changes are new to the primary.
FRESH = iter(range(10**9))
KEYRING = dns.tsigkeyring.from_text({"bench.": ("hmac-sha256", SECRET)})


def log(msg):
    print(f"[transfer_in {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def primary_config(d, zone, port):
    path = os.path.join(d, "enumd.toml")
    with open(path, "w") as f:
        f.write(f'listen = ["127.0.0.1:{port}"]\nstate_dir = "state"\n'
                f'[[key]]\nname = "bench"\nalgorithm = "hmac-sha256"\nsecret = "{SECRET}"\n'
                f'[[zone]]\napex = "{APEX}"\nfile = "{zone}"\nallow_update = ["key:bench"]\n'
                f'allow_transfer = ["127.0.0.1"]\nflush_interval = 0\n')
    return [ENUMD, "serve", "--config", path]


def secondary_config(server, d, port, primary):
    if server == "enumd":
        path = os.path.join(d, "enumd.toml")
        with open(path, "w") as f:
            f.write(f'listen = ["127.0.0.1:{port}"]\nstate_dir = "state"\n'
                    f'[[zone]]\napex = "{APEX}"\nprimaries = ["127.0.0.1:{primary}"]\n')
        return [ENUMD, "serve", "--config", path], dict(os.environ, TOKIO_WORKER_THREADS="1")
    if server == "knot":
        path = os.path.join(d, "knot.conf")
        with open(path, "w") as f:
            f.write(f"""server:
    rundir: "{d}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
remote:
  - id: primary
    address: 127.0.0.1@{primary}
acl:
  - id: notify
    address: 127.0.0.1
    action: notify
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
    semantic-checks: off
zone:
  - domain: {APEX}
    master: primary
    acl: notify
""")
        return ["knotd", "-c", path], None
    path = os.path.join(d, "nsd.conf")
    with open(path, "w") as f:
        f.write(f"""server:
    ip-address: 127.0.0.1@{port}
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
remote-control:
    control-enable: no
zone:
    name: {APEX}
    zonefile: "{d}/zone.db"
    request-xfr: 127.0.0.1@{primary} NOKEY
    allow-notify: 127.0.0.1 NOKEY
""")
    return ["nsd", "-d", "-c", path], None


def serial(port, timeout=0.2):
    try:
        r = dns.query.udp(dns.message.make_query(APEX, "SOA", use_edns=False), "127.0.0.1",
                          port=port, timeout=timeout)
    except Exception:
        return None
    if r.rcode() == dns.rcode.NOERROR and r.answer:
        return r.answer[0][0].serial
    return None


def wait_serial(port, want, limit, what, logfile):
    t0 = time.monotonic()
    while serial(port, 0.05) != want:
        if time.monotonic() - t0 > limit:
            sys.exit(f"{what}: serial {want} not served after {limit} s; log tail:\n"
                     f"{open(logfile).read()[-2000:]}")
        time.sleep(0.02)
    return time.monotonic()


def notify(port):
    apex = b"".join(bytes([len(l)]) + l.encode() for l in APEX.rstrip(".").split(".")) + b"\x00"
    m = struct.pack(">HHHHHH", 0x4E55, 0x2400, 1, 0, 0, 0) + apex + struct.pack(">HH", 6, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(m, ("127.0.0.1", port))
    s.close()


def peaks(pid, seen):
    """Records in `seen` each live process's peak RSS so far (processes that exit keep theirs)."""
    for q in descendants([pid]):
        try:
            seen[q] = max(seen.get(q, 0), vm_rss_hwm(q)[1])
        except (KeyError, OSError):
            pass  # exited, or a zombie


def memory(seen, server):
    return max(seen.values()) if server == "nsd" else sum(seen.values())


def one_run(server, args, tmp, run, primary_port):
    d = os.path.join(tmp, f"{server}-{run}")
    os.makedirs(d)
    cmd, env = secondary_config(server, d, args.port, primary_port)
    logfile = os.path.join(d, "log.txt")
    want = serial(primary_port, 2)
    t0 = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", SECONDARY_CPU] + cmd, env=env, stdout=open(logfile, "w"),
                         stderr=subprocess.STDOUT, cwd=d, start_new_session=True)
    pids = set()
    ticks = {}
    seen = {}
    try:
        while serial(args.port, 0.05) != want:
            for q in descendants([p.pid]):
                pids.add(q)
            ticks.update(cpu_ticks(pids))
            peaks(p.pid, seen)
            if p.poll() is not None or time.monotonic() - t0 > 3600:
                sys.exit(f"{server} did not take the zone: {open(logfile).read()[-2000:]}")
            time.sleep(0.02)
        axfr = time.monotonic() - t0
        ticks.update(cpu_ticks(descendants([p.pid])))
        cpu = sum(ticks.values()) / CLK_TCK
        peaks(p.pid, seen)
        peak = memory(seen, server)
        log(f"{server} {run + 1}: AXFR in {axfr:.2f} s, CPU {cpu:.2f} s, peak RSS {peak / 2**20:.0f} MiB")
        # Let it finish what it does after taking a zone (writing it to disk): until its CPU
        # time stands still for a second.
        last, still = None, 0
        for _ in range(1200):  # bounded: 120 s
            now = sum(cpu_ticks(descendants([p.pid])).values())
            still = still + 1 if now == last else 0
            if still >= 10:
                break
            last = now
            time.sleep(0.1)
        base = serial(primary_port, 2)
        for k in range(10):
            u = dns.update.UpdateMessage(APEX, keyring=KEYRING, keyname="bench.")
            for j in range(100):
                n = 20_000_000 + next(FRESH)
                digits = f"9{n:09d}"
                u.replace(".".join(reversed(digits)) + "." + APEX, 3600, "NAPTR",
                          f'10 100 "u" "E2U+sip" "!^.*$!sip:+44{digits}@ixfr.example.net!" .')
            r = dns.query.tcp(u, "127.0.0.1", port=primary_port, timeout=30)
            if r.rcode() != dns.rcode.NOERROR:
                sys.exit(f"update refused by the primary: {dns.rcode.to_text(r.rcode())}")
        new = serial(primary_port, 2)
        assert new != base
        t1 = time.monotonic()
        notify(args.port)
        done = wait_serial(args.port, new, 120, server, logfile)
        ixfr = done - t1
        log(f"{server} {run + 1}: IXFR of 1,000 changes in {ixfr * 1000:.0f} ms")
        return axfr, cpu, peak, ixfr
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait()


def main():
    global ENUMD
    ap = argparse.ArgumentParser()
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--servers", default="enumd,knot,nsd")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=53572)
    ap.add_argument("--primary-port", type=int, default=53571)
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target/release/enumd"))
    args = ap.parse_args()
    ENUMD = args.enumd
    for tool in ["knotd", "nsd", "taskset"]:
        if not shutil.which(tool):
            print(f"transfer_in: {tool} not found", file=sys.stderr)
            sys.exit(2)
    data = os.path.join(ROOT, "target/bench-data")
    zone, _ = ensure_data(data, os.path.join(ROOT, "benches/gen_enum_zone.py"), args.numbers)
    tmp = tempfile.mkdtemp(prefix="enumd-transfer-in.")
    pd = os.path.join(tmp, "primary")
    os.makedirs(pd)
    primary = subprocess.Popen(["taskset", "-c", PRIMARY_CPU] + primary_config(pd, zone, args.primary_port),
                               stdout=open(os.path.join(pd, "log.txt"), "w"), stderr=subprocess.STDOUT,
                               cwd=pd, start_new_session=True)
    results = {}
    try:
        t0 = time.monotonic()
        while serial(args.primary_port) is None:
            if primary.poll() is not None or time.monotonic() - t0 > 3600:
                sys.exit("the primary did not come up")
            time.sleep(0.2)
        log(f"primary ready after {time.monotonic() - t0:.1f} s")
        for server in args.servers.split(","):
            runs = [one_run(server, args, tmp, k, args.primary_port) for k in range(args.runs)]
            med = lambda i: sorted(r[i] for r in runs)[len(runs) // 2]
            results[server] = {"axfr": med(0), "cpu": med(1), "peak": med(2), "ixfr": med(3)}
    finally:
        os.killpg(primary.pid, signal.SIGTERM)
        primary.wait()
        if os.environ.get("KEEP") == "1":
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    servers = list(results)
    rows = [
        (f"AXFR in, s from start to serving (median of {args.runs})", lambda r: f"{r['axfr']:.2f}"),
        ("AXFR in, secondary CPU s", lambda r: f"{r['cpu']:.2f}"),
        ("AXFR in, peak RSS MiB", lambda r: f"{r['peak'] / 2**20:.0f}"),
        ("IXFR of 1,000 changes, ms from NOTIFY to serving", lambda r: f"{r['ixfr'] * 1000:.0f}"),
    ]
    print(f"{args.numbers} numbers\n")
    print("| | " + " | ".join(servers) + " |")
    print("|---" * (len(servers) + 1) + "|")
    for label, f in rows:
        print(f"| {label} | " + " | ".join(f(results[s]) for s in servers) + " |")
    if "enumd" in results:
        e = results["enumd"]
        others = [s for s in servers if s != "enumd"]
        if others:
            for key, what in (("axfr", "AXFR-in time"), ("peak", "AXFR-in peak RSS"),
                              ("ixfr", "IXFR-in time")):
                best = min(others, key=lambda s: results[s][key])
                print(f"enumd's {what} / the best other's ({best}): {e[key] / results[best][key]:.2f}")


if __name__ == "__main__":
    main()
