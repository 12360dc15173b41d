#!/usr/bin/python3
"""Reload of a zone file that differs from the serving version in a few numbers, side by side:
enumd, Knot DNS (`zonefile-load: difference`) and BIND (`ixfr-from-differences yes`).

    benches/reload_diff.py [--numbers 1000000] [--changed 1000] [--servers enumd,knot,bind]

Each server is pinned to CPU 1, loads the benchmark zone (generated into target/bench-data if
missing) with a journal (enumd: the zone takes updates, so the difference is journaled; Knot:
its journal; BIND: its .jnl), and then:
  - the zone file is replaced (written beside it, renamed into place, as deploy tools do) by
    one whose serial is one higher and where --changed numbers hold another NAPTR;
  - the reload is asked for (enumd and BIND: SIGHUP; Knot: `knotc zone-reload`), and the time
    from then until a query sees the last changed number's new NAPTR is measured;
  - --runs times (3), each a new difference from the original file, the median time kept;
  - the peak RSS during the reload (VmHWM, reset through /proc/PID/clear_refs first) is set
    against the RSS before it.
Prints a markdown table with ratios. Needs knotd, knotc, named and taskset; exits 2 naming a
missing one.
"""

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import SERVER_CPU, ensure_data, vm_rss_hwm  # noqa: E402
from updates import APEX, SECRET, query_wire, visible  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMBER_NAPTR = re.compile(rb"^([0-9.]+\.4\.4\.e164\.arpa\.) IN NAPTR ")


def log(msg):
    print(f"[reload_diff {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def config(server, d, zone, port):
    if server == "enumd":
        path = os.path.join(d, "enumd.toml")
        with open(path, "w") as f:
            f.write(f'listen = ["127.0.0.1:{port}"]\nstate_dir = "state"\n[log]\nlevel = "info"\n'
                    f'[[key]]\nname = "bench"\nalgorithm = "hmac-sha256"\nsecret = "{SECRET}"\n'
                    f'[[zone]]\napex = "{APEX}"\nfile = "{zone}"\nallow_update = ["key:bench"]\n'
                    f'flush_interval = 0\n')
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
control:
    listen: "{d}/knot.sock"
log:
  - target: stderr
    any: info
database:
    storage: "{d}"
template:
  - id: default
    storage: "{d}"
    zonefile-load: difference
    journal-content: changes
    zonefile-sync: -1
zone:
  - domain: {APEX}
    file: "{zone}"
""")
        return ["knotd", "-c", path], None
    path = os.path.join(d, "named.conf")
    with open(path, "w") as f:
        f.write(f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    notify no;
    dnssec-validation no;
    ixfr-from-differences yes;
}};
controls {{ }};
zone "{APEX.rstrip('.')}" {{ type primary; file "{zone}"; }};
""")
    return ["named", "-g", "-4", "-n", "1", "-c", path], None


def changed_file(src, dst, changed, seed, bump):
    """Writes src with its serial raised by `bump` and `changed` numbers' NAPTRs replaced (a
    NAPTR naming `seed`); returns the owner of the last one changed."""
    with open(src, "rb") as f:
        lines = f.read().split(b"\n")
    numbers = [i for i, line in enumerate(lines) if NUMBER_NAPTR.match(line)]
    picked = sorted(random.Random(seed).sample(numbers, changed))
    last = None
    for i in picked:
        owner = NUMBER_NAPTR.match(lines[i]).group(1)
        lines[i] = owner + f' IN NAPTR 10 100 "u" "E2U+sip" "!^.*$!sip:ported@moved{seed}.example.net!" .'.encode()
        last = owner.decode()
    for i, line in enumerate(lines):
        if b" SOA " in line:
            fields = line.split()
            at = fields.index(b"SOA") + 3
            fields[at] = str(int(fields[at]) + bump).encode()
            lines[i] = b" ".join(fields)
            break
    tmp = dst + ".new"
    with open(tmp, "wb") as f:
        f.write(b"\n".join(lines))
    os.rename(tmp, dst)
    return last


def sees(sock, port, name, seed):
    sock.sendto(query_wire(name, 9), ("127.0.0.1", port))
    try:
        while True:
            data, _ = sock.recvfrom(65535)
            if data[:2] == b"\x00\x09":
                return f"moved{seed}.".encode() in data
    except socket.timeout:
        return False


def run_server(server, zone, probe, args, tmp):
    d = os.path.join(tmp, server)
    os.makedirs(d)
    local_zone = os.path.join(d, "zone.db")
    shutil.copy(zone, local_zone)
    cmd, env = config(server, d, local_zone, args.port)
    logf = open(os.path.join(d, "log.txt"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, env=env, stdout=logf, stderr=subprocess.STDOUT,
                         cwd=d, start_new_session=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    while not visible(s, args.port, probe, 7):
        if p.poll() is not None or time.monotonic() - t0 > 1800:
            sys.exit(f"{server} did not come up: {open(os.path.join(d, 'log.txt')).read()[-2000:]}")
        time.sleep(0.2)
    log(f"{server}: ready after {time.monotonic() - t0:.1f} s")
    time.sleep(2)
    r = {"steady": vm_rss_hwm(p.pid)[0], "seconds": [], "peak": 0}
    for run in range(args.runs):
        seed = args.seed + run
        last = changed_file(zone, local_zone, args.changed, seed, run + 1)
        with open(f"/proc/{p.pid}/clear_refs", "w") as f:
            f.write("5")
        s.settimeout(0.005)
        t0 = time.monotonic()
        if server == "knot":
            subprocess.run(["knotc", "-s", os.path.join(d, "knot.sock"), "zone-reload", APEX], check=True,
                           stdout=subprocess.DEVNULL)
        else:
            p.send_signal(signal.SIGHUP)
        while not sees(s, args.port, last, seed):
            if time.monotonic() - t0 > 1800:
                sys.exit(f"{server} did not serve the change: {open(os.path.join(d, 'log.txt')).read()[-2000:]}")
        r["seconds"].append(time.monotonic() - t0)
        time.sleep(2)
        r["after"], peak = vm_rss_hwm(p.pid)
        r["peak"] = max(r["peak"], peak)
        log(f"{server}: reload {run + 1} seen after {r['seconds'][-1]:.2f} s, RSS before "
            f"{r['steady'] / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB")
    r["seconds"] = sorted(r["seconds"])[len(r["seconds"]) // 2]
    os.killpg(p.pid, signal.SIGTERM)
    p.wait()
    logf.close()
    with open(os.path.join(d, "log.txt")) as f:
        r["log"] = [line.rstrip() for line in f if "reloaded by difference" in line or "read whole" in line]
    return r


def main():
    global ENUMD
    ap = argparse.ArgumentParser()
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--changed", type=int, default=1000)
    ap.add_argument("--servers", default="enumd,knot,bind")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--runs", type=int, default=3, help="reloads per server, each a new difference")
    ap.add_argument("--port", type=int, default=53541)
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target/release/enumd"))
    args = ap.parse_args()
    ENUMD = args.enumd
    for tool in ["knotd", "knotc", "named", "taskset"]:
        if not shutil.which(tool):
            print(f"reload_diff: {tool} not found", file=sys.stderr)
            sys.exit(2)
    data = os.path.join(ROOT, "target/bench-data")
    zone, probe = ensure_data(data, os.path.join(ROOT, "benches/gen_enum_zone.py"), args.numbers)
    tmp = tempfile.mkdtemp(prefix="enumd-reload-diff.")
    results = {}
    try:
        for server in args.servers.split(","):
            results[server] = run_server(server, zone, probe, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    servers = list(results)
    mib = lambda b: f"{b / 2**20:.1f}"
    best = min((results[s]["seconds"] for s in servers if s != "enumd"), default=None)
    rows = [
        (f"reload until the change is seen, s (median of {args.runs})", lambda r: f"{r['seconds']:.2f}"),
        ("RSS before, MiB", lambda r: mib(r["steady"])),
        ("peak RSS during the reloads, MiB", lambda r: mib(r["peak"])),
        ("peak / before", lambda r: f"{r['peak'] / r['steady']:.2f}"),
        ("RSS after the last, MiB", lambda r: mib(r["after"])),
    ]
    print(f"{args.numbers} numbers, a file differing in {args.changed} of them\n")
    print("| | " + " | ".join(servers) + " |")
    print("|---" * (len(servers) + 1) + "|")
    for label, f in rows:
        print(f"| {label} | " + " | ".join(f(results[s]) for s in servers) + " |")
    if "enumd" in results and best:
        print(f"\nenumd's reload time / the better of the others: {results['enumd']['seconds'] / best:.2f}")
    for s in servers:
        for line in results[s]["log"]:
            print(f"    {s}: {line[-220:]}")


if __name__ == "__main__":
    main()
