#!/usr/bin/python3
"""Transfers out, side by side: enumd, Knot DNS and NSD serving the same zone by AXFR, and enumd
and Knot serving IXFR of 1,000 changes (NSD builds IXFR only from zone file reloads).

    benches/transfer_out.py [--numbers 1000000] [--servers enumd,knot,nsd] [--runs 3]

Each server is pinned to CPU 1 and loads the benchmark zone (generated into target/bench-data
if missing). The client, on the other CPU, reads every message and throws it away: it only
looks for the end (a message whose last 20 octets are the SOA's counters), so its own cost is
the same for every server. Per server:
  - AXFR --runs times: wall time to the last message (median), the server's CPU seconds
    (every process and thread of it), octets and messages, and its RSS growth: the peak
    (VmHWM, reset through /proc/PID/clear_refs first) of each of its processes over that
    process's RSS before, the largest kept;
  - IXFR (enumd and Knot): 10 signed UPDATE messages of 100 changes each, then IXFR from the
    serial before them, timed the same way.
Prints a markdown table with ratios. Needs knotd, nsd and taskset; exits 2 naming a missing
one.
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
from side_by_side import CLK_TCK, SERVER_CPU, cpu_ticks, descendants, ensure_data, vm_rss_hwm  # noqa: E402
from updates import APEX, SECRET, visible  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_CPU = "0"
KEYRING = dns.tsigkeyring.from_text({"bench.": ("hmac-sha256", SECRET)})


def log(msg):
    print(f"[transfer_out {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def config(server, d, zone, port):
    if server == "enumd":
        path = os.path.join(d, "enumd.toml")
        with open(path, "w") as f:
            f.write(f'listen = ["127.0.0.1:{port}"]\nstate_dir = "state"\n[log]\nlevel = "info"\n'
                    f'[[key]]\nname = "bench"\nalgorithm = "hmac-sha256"\nsecret = "{SECRET}"\n'
                    f'[[zone]]\napex = "{APEX}"\nfile = "{zone}"\nallow_update = ["key:bench"]\n'
                    f'allow_transfer = ["127.0.0.1"]\nflush_interval = 0\n')
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
key:
  - id: bench
    algorithm: hmac-sha256
    secret: {SECRET}
acl:
  - id: all
    address: 127.0.0.1
    action: transfer
  - id: upd
    address: 127.0.0.1
    key: bench
    action: update
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
    journal-content: changes
    zonefile-sync: -1
    semantic-checks: off
zone:
  - domain: {APEX}
    file: "{zone}"
    acl: [all, upd]
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
    zonefile: "{zone}"
    provide-xfr: 127.0.0.1 NOKEY
""")
    return ["nsd", "-d", "-c", path], None


def soa_tail(port):
    """The SOA's last 20 octets (serial and timers): how a transfer's last message ends."""
    r = dns.query.udp(dns.message.make_query(APEX, "SOA", use_edns=False), "127.0.0.1", port=port, timeout=2)
    soa = r.answer[0][0]
    return struct.pack(">IIIII", soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum)


def transfer(port, qtype, serial=None):
    """(seconds, octets, messages) of one AXFR or IXFR, read and thrown away."""
    q = struct.pack(">HHHHHH", 7, 0, 1, 0, 1 if serial is not None else 0, 0)
    apex = b""
    for label in APEX.rstrip(".").split("."):
        apex += bytes([len(label)]) + label.encode()
    apex += b"\x00"
    q += apex + struct.pack(">HH", qtype, 1)
    if serial is not None:
        rdata = b"\x00\x00" + struct.pack(">IIIII", serial, 0, 0, 0, 0)
        q += b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 0, len(rdata)) + rdata
    tail = soa_tail(port)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    t0 = time.monotonic()
    s.sendall(struct.pack(">H", len(q)) + q)
    f = s.makefile("rb", buffering=1 << 20)
    octets = messages = 0
    while True:
        head = f.read(2)
        if len(head) < 2:
            raise RuntimeError("connection closed before the closing SOA")
        n = struct.unpack(">H", head)[0]
        msg = f.read(n)
        octets += n
        messages += 1
        if msg[3] & 0x0F:
            raise RuntimeError(f"rcode {msg[3] & 0x0F}")
        # The closing SOA ends the last message; the first holds the opening one too.
        records = struct.unpack(">H", msg[6:8])[0]
        if msg[-20:] == tail and (messages > 1 or records > 1 or qtype == 251):
            break
    seconds = time.monotonic() - t0
    s.close()
    return seconds, octets, messages


def tree_memory(pid):
    return {p: vm_rss_hwm(p)[0] for p in descendants([pid])}


def run_server(server, zone, probe, args, tmp):
    d = os.path.join(tmp, server)
    os.makedirs(d)
    cmd, env = config(server, d, zone, args.port)
    logf = open(os.path.join(d, "log.txt"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                         cwd=d, start_new_session=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    while not visible(s, args.port, probe, 7):
        if p.poll() is not None or time.monotonic() - t0 > 3600:
            sys.exit(f"{server} did not come up: {open(os.path.join(d, 'log.txt')).read()[-2000:]}")
        time.sleep(0.2)
    log(f"{server}: ready after {time.monotonic() - t0:.1f} s")
    time.sleep(3)
    os.sched_setaffinity(0, {int(CLIENT_CPU)})
    r = {"axfr": [], "cpu": [], "growth": 0}
    for run in range(args.runs):
        before = tree_memory(p.pid)
        for pid in before:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        pids = descendants([p.pid])
        ticks = cpu_ticks(pids)
        seconds, octets, messages = transfer(args.port, 252)
        time.sleep(0.5)  # what the server does after the last message (freeing) counts too
        after = cpu_ticks(descendants([p.pid]))
        cpu = sum(t - ticks.get(q, 0) for q, t in after.items()) / CLK_TCK
        growth = max(vm_rss_hwm(q)[1] - before.get(q, vm_rss_hwm(q)[0]) for q in after)
        r["axfr"].append(seconds)
        r["cpu"].append(cpu)
        r["growth"] = max(r["growth"], growth)
        r["rss"] = sum(before.values()) if server != "nsd" else max(before.values())
        r["octets"], r["messages"] = octets, messages
        log(f"{server}: AXFR {run + 1}: {seconds:.2f} s, {messages} messages, {octets / 2**20:.1f} MiB, "
            f"server CPU {cpu:.2f} s, RSS growth {growth / 2**20:.1f} MiB")
    if server != "nsd":
        serial = struct.unpack(">I", soa_tail(args.port)[:4])[0]
        for k in range(10):
            u = dns.update.UpdateMessage(APEX, keyring=KEYRING, keyname="bench.")
            for j in range(100):
                n = 10_000_000 + k * 100 + j
                digits = f"9{n:09d}"
                u.replace(".".join(reversed(digits)) + "." + APEX, 3600, "NAPTR",
                          f'10 100 "u" "E2U+sip" "!^.*$!sip:+44{digits}@ixfr.example.net!" .')
            rr = dns.query.tcp(u, "127.0.0.1", port=args.port, timeout=30)
            if rr.rcode() != dns.rcode.NOERROR:
                sys.exit(f"{server}: update refused: {dns.rcode.to_text(rr.rcode())}")
        time.sleep(1)
        runs = [transfer(args.port, 251, serial) for _ in range(args.runs)]
        r["ixfr"] = sorted(x[0] for x in runs)[len(runs) // 2]
        r["ixfr_octets"], r["ixfr_messages"] = runs[0][1], runs[0][2]
        log(f"{server}: IXFR of 1,000 changes: {r['ixfr'] * 1000:.1f} ms, {runs[0][2]} messages, {runs[0][1]} octets")
    os.sched_setaffinity(0, set(range(os.cpu_count())))
    r["axfr"] = sorted(r["axfr"])[len(r["axfr"]) // 2]
    r["cpu"] = sorted(r["cpu"])[len(r["cpu"]) // 2]
    os.killpg(p.pid, signal.SIGTERM)
    p.wait()
    logf.close()
    return r


def main():
    global ENUMD
    ap = argparse.ArgumentParser()
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--servers", default="enumd,knot,nsd")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=53561)
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target/release/enumd"))
    args = ap.parse_args()
    ENUMD = args.enumd
    for tool in ["knotd", "nsd", "taskset"]:
        if not shutil.which(tool):
            print(f"transfer_out: {tool} not found", file=sys.stderr)
            sys.exit(2)
    data = os.path.join(ROOT, "target/bench-data")
    zone, probe = ensure_data(data, os.path.join(ROOT, "benches/gen_enum_zone.py"), args.numbers)
    tmp = tempfile.mkdtemp(prefix="enumd-transfer-out.")
    results = {}
    try:
        for server in args.servers.split(","):
            results[server] = run_server(server, zone, probe, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    servers = list(results)
    mib = lambda b: f"{b / 2**20:.1f}"
    na = lambda k, f: (lambda r: f(r) if k in r else "n/a")
    rows = [
        (f"AXFR, s (median of {args.runs})", lambda r: f"{r['axfr']:.2f}"),
        ("AXFR, server CPU s", lambda r: f"{r['cpu']:.2f}"),
        ("AXFR, MiB on the wire / messages", lambda r: f"{mib(r['octets'])} / {r['messages']}"),
        ("RSS before, MiB", lambda r: mib(r["rss"])),
        ("RSS growth during AXFR, MiB", lambda r: mib(r["growth"])),
        ("RSS growth / before", lambda r: f"{r['growth'] / r['rss'] * 100:.1f}%"),
        ("IXFR of 1,000 changes, ms", na("ixfr", lambda r: f"{r['ixfr'] * 1000:.1f}")),
        ("IXFR, octets / messages", na("ixfr", lambda r: f"{r['ixfr_octets']} / {r['ixfr_messages']}")),
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
            best = min(others, key=lambda s: results[s]["axfr"])
            print(f"\nenumd's AXFR time / the best other's ({best}): {e['axfr'] / results[best]['axfr']:.2f}")
            best_cpu = min(others, key=lambda s: results[s]["cpu"])
            print(f"enumd's AXFR CPU / the best other's ({best_cpu}): {e['cpu'] / results[best_cpu]['cpu']:.2f}")
        ix = [s for s in others if "ixfr" in results[s]]
        if ix and "ixfr" in e:
            print(f"enumd's IXFR time / {ix[0]}'s: {e['ixfr'] / results[ix[0]]['ixfr']:.2f}")


if __name__ == "__main__":
    main()
