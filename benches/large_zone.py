#!/usr/bin/env python3
"""A large zone: start to first answer, RSS, and the peak RSS of one reload.

    benches/large_zone.py [--numbers 10000000]

Generates the zone into target/bench-data if missing, starts enumd on it (not pinned: nothing
else runs), and prints how long the first answer took, RSS after the load, how long a SIGHUP
reload took while a probe asked every 0.5 s, and the peak RSS during the reload (VmHWM reset with
/proc/PID/clear_refs before the signal) as a multiple of steady RSS.  Standard library only.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import ensure_data, probe_ok, vm_rss_hwm, write_enumd_config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def memory(pid):
    """(VmRSS, VmHWM) in MiB."""
    return tuple(v // 2**20 for v in vm_rss_hwm(pid))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--numbers", type=int, default=10_000_000)
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target/release/enumd"))
    ap.add_argument("--data", default=os.path.join(ROOT, "target/bench-data"))
    ap.add_argument("--gen", default=os.path.join(ROOT, "benches/gen_enum_zone.py"))
    ap.add_argument("--port", type=int, default=53532)
    args = ap.parse_args()

    n = args.numbers
    zone, probe = ensure_data(args.data, args.gen, n)

    work = tempfile.mkdtemp(prefix="enumd-large-")
    conf = os.path.join(work, "enumd.toml")
    log_path = os.path.join(work, "enumd.log")
    write_enumd_config(conf, args.port, zone)
    addr = ("127.0.0.1", args.port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def loaded():
        with open(log_path, errors="replace") as f:
            return sum(1 for line in f if "zone loaded" in line)

    with open(log_path, "w") as logf:
        t0 = time.monotonic()
        p = subprocess.Popen([args.enumd, "serve", "--config", conf], stdout=logf,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while not probe_ok(sock, addr, probe, wait=0.05):
                if p.poll() is not None:
                    sys.exit(f"enumd exited; log in {log_path}")
            print(f"{n:,} numbers: first answer after {time.monotonic() - t0:.1f} s")
            time.sleep(2)
            steady, first_peak = memory(p.pid)
            print(f"RSS after load {steady} MiB; peak during the first load {first_peak} MiB")
            with open(f"/proc/{p.pid}/clear_refs", "w") as f:
                f.write("5")
            before = loaded()
            t1 = time.monotonic()
            p.send_signal(signal.SIGHUP)
            ok = failed = 0
            while loaded() == before:
                if p.poll() is not None:
                    sys.exit(f"enumd exited during the reload; log in {log_path}")
                if probe_ok(sock, addr, probe, wait=0.5):
                    ok += 1
                else:
                    failed += 1
                time.sleep(0.5)
            took = time.monotonic() - t1
            time.sleep(2)
            after, peak = memory(p.pid)
            print(f"reload took {took:.1f} s; probes during it: {ok} answered, {failed} failed")
            print(f"peak RSS during the reload {peak} MiB = {peak / steady:.2f}x steady; "
                  f"RSS after it {after} MiB")
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
    with open(log_path, errors="replace") as f:
        for line in f:
            if "zone loaded" in line or "zone memory" in line:
                print(line.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
