#!/usr/bin/env python3
"""UPDATE latency while enumd writes a zone file: each given enumd binary serves a copy of the
generated zone (the write replaces that copy), takes one-record updates from 127.0.0.1 one at a
time, as fast as they are answered, gets SIGUSR1, and goes on taking them until its log says
`zone file written`, and for --after seconds more. Prints, per binary, how long the write took, how many updates were answered
meanwhile, and their latency. Bounded: at most --max-updates updates per binary.

  benches/flush_latency.py [--numbers 1000000] target/release/enumd [other/enumd …]

Needs Debian's python3-dnspython; data from gen_enum_zone.py (made in target/bench-data if
missing). Servers run one at a time, unpinned.
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query
import dns.rcode
import dns.update

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import ensure_data  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APEX = "4.4.e164.arpa."


def log(msg):
    print(f"[flush {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def update(port, n):
    """One update adding a TXT record at a number of its own; seconds until it was answered."""
    u = dns.update.UpdateMessage(APEX)
    u.add(f"{n}.8.7.6.5.4.3.2.1.0.9.{APEX}", 60, "TXT", f'"n{n}"')
    t0 = time.monotonic()
    r = dns.query.udp(u, "127.0.0.1", port=port, timeout=120)
    if r.rcode() != dns.rcode.NOERROR:
        raise SystemExit(f"update {n}: {dns.rcode.to_text(r.rcode())}")
    return time.monotonic() - t0


def measure(binary, zone, probe, args):
    tmp = tempfile.mkdtemp(prefix="enumd-flush-")
    try:
        shutil.copy(zone, os.path.join(tmp, "zone"))
        with open(os.path.join(tmp, "enumd.toml"), "w") as f:
            f.write(f'listen = ["127.0.0.1:{args.port}"]\nstate_dir = "state"\n[log]\nlevel = "info"\n'
                    f'[[zone]]\napex = "{APEX}"\nfile = "zone"\nallow_update = ["127.0.0.1/32"]\n'
                    f'flush_interval = 0\n')
        logf = open(os.path.join(tmp, "log"), "w")
        p = subprocess.Popen([binary, "serve", "--config", os.path.join(tmp, "enumd.toml")],
                             stdout=logf, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    q = dns.message.make_query(probe, "NAPTR")
                    if dns.query.udp(q, "127.0.0.1", port=args.port, timeout=0.5).rcode() == 0:
                        break
                except Exception:
                    pass
                if time.monotonic() > deadline or p.poll() is not None:
                    raise SystemExit(f"{binary} did not start")
                time.sleep(0.2)
            before = [update(args.port, n) for n in range(20)]
            p.send_signal(signal.SIGUSR1)
            t0 = time.monotonic()
            during = []
            n = 20
            while n < args.max_updates:
                during.append(update(args.port, n))
                n += 1
                with open(os.path.join(tmp, "log")) as f:
                    text = f.read()
                if "zone file written" in text:
                    break
            wrote = time.monotonic() - t0
            # And what follows the write (the owner records it; memory is handed back).
            after = []
            t1 = time.monotonic()
            while time.monotonic() - t1 < args.after and n < args.max_updates:
                after.append(update(args.port, n))
                n += 1
            ms = re.search(r"ms=(\d+)[^\n]*zone file written|zone file written[^\n]*ms=(\d+)", text)
            return {"before_ms": statistics.median(before) * 1e3, "during": during, "after": after,
                    "wall_s": wrote,
                    "logged_ms": next(g for g in ms.groups() if g) if ms else "?"}
        finally:
            p.terminate()
            p.wait(timeout=60)
            logf.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--port", type=int, default=53580)
    ap.add_argument("--max-updates", type=int, default=100_000)
    ap.add_argument("--after", type=float, default=3.0)
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    args = ap.parse_args()
    zone, probe = ensure_data(args.data, os.path.join(ROOT, "benches", "gen_enum_zone.py"), args.numbers)
    print(f"## UPDATE latency while the zone file is written: {args.numbers:,} numbers\n")
    print("| enumd | write (ms, logged) | updates answered during it | median (ms) | max (ms) | "
          f"max in the {args.after:g} s after (ms) | median before (ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for b in args.binaries:
        log(f"{b}")
        r = measure(b, zone, probe, args)
        d = r["during"]
        print(f"| `{b}` | {r['logged_ms']} | {len(d)} | {statistics.median(d) * 1e3:.2f} | "
              f"{max(d) * 1e3:.1f} | {max(r['after'], default=0) * 1e3:.1f} | {r['before_ms']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
