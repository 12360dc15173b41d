#!/usr/bin/env python3
"""Reload under load: enumd keeps answering while it reloads a large zone again and again.

    benches/reload_under_load.py [--numbers 1000000] [--reloads 10]

Starts enumd on the benchmark zone (generated into target/bench-data if missing), pinned to
CPU 1 with dnsperf on CPU 0 as in side_by_side.sh, and then:
  1. measures the maximum rate: dnsperf at full load on the query mix;
  2. offers 80% of it while sending SIGHUP --reloads times, each after the previous reload has
     logged its "zone loaded" line, so every reload is a whole one;
  3. offers the same rate for the same time without reloads: the baseline for lost queries and
     latency.
Prints lost queries, average and worst latency of both runs, the reload times and enumd's
peak RSS.  Installs nothing; exits 2 naming a missing tool.  Standard library only.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import (  # noqa: E402
    CLIENT_CPU, SERVER_CPU, ensure_data, parse_dnsperf, probe_ok, udp_drops, vm_rss_hwm,
    write_enumd_config)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"[reload {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def dnsperf(args, qfile, seconds, rate=None):
    cmd = ["taskset", "-c", CLIENT_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(args.port),
           "-d", qfile, "-l", str(seconds), "-c", "1", "-q", str(args.outstanding),
           "-t", str(args.timeout), "-e", "-O", "suppress=timeouts"]
    if rate:
        cmd += ["-Q", str(rate)]
    if args.buffer:
        cmd += ["-b", str(args.buffer)]
    return cmd


def finish(p, what):
    out, _ = p.communicate(timeout=600)
    if p.returncode != 0 or "Queries completed" not in out:
        sys.exit(f"dnsperf failed ({what}):\n{out[-1500:]}")
    return parse_dnsperf(out)


def loaded_count(log_path):
    with open(log_path, errors="replace") as f:
        return sum(1 for line in f if "zone loaded" in line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--reloads", type=int, default=10)
    ap.add_argument("--max-seconds", type=int, default=3600, help="limit of the run with reloads")
    ap.add_argument("--load", type=float, default=0.8, help="fraction of the maximum rate to offer")
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target/release/enumd"))
    ap.add_argument("--data", default=os.path.join(ROOT, "target/bench-data"))
    ap.add_argument("--gen", default=os.path.join(ROOT, "benches/gen_enum_zone.py"))
    ap.add_argument("--port", type=int, default=53531)
    ap.add_argument("--outstanding", type=int, default=200)
    ap.add_argument("--timeout", type=int, default=1)
    ap.add_argument("--buffer", type=int, default=0, help="dnsperf -b: its socket buffers in KiB (0: its default)")
    args = ap.parse_args()

    missing = [f"{c} (apt-get install {p})" for c, p in
               (("dnsperf", "dnsperf"), ("taskset", "util-linux")) if not shutil.which(c)]
    if missing:
        print("reload_under_load: missing tools:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    if not os.access(args.enumd, os.X_OK):
        print(f"reload_under_load: no enumd binary at {args.enumd} (cargo build --release)", file=sys.stderr)
        return 2

    n = args.numbers
    zone, probe = ensure_data(args.data, args.gen, n)
    mix = os.path.join(args.data, f"queries-{n}.txt")

    work = tempfile.mkdtemp(prefix="enumd-reload-")
    conf = os.path.join(work, "enumd.toml")
    write_enumd_config(conf, args.port, zone)
    log_path = os.path.join(work, "enumd.log")
    logf = open(log_path, "w")
    srv = subprocess.Popen(["taskset", "-c", SERVER_CPU, args.enumd, "serve", "--config", conf],
                           stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t0 = time.monotonic()
        while not probe_ok(sock, ("127.0.0.1", args.port), probe, wait=0.05):
            if srv.poll() is not None or time.monotonic() - t0 > 600:
                sys.exit(f"enumd did not come up; log in {log_path}")
        log(f"enumd answered after {time.monotonic() - t0:.2f} s")
        time.sleep(1)

        full = finish(subprocess.Popen(dnsperf(args, mix, 10), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True), "full load")
        rate = int(full["qps"] * args.load)
        log(f"maximum {full['qps']:,.0f} answers/s; offering {rate:,} q/s ({args.load:.0%})")

        rss_before, _ = vm_rss_hwm(srv.pid)
        try:  # reset the peak so it measures the reloads, not the first load
            with open(f"/proc/{srv.pid}/clear_refs", "w") as f:
                f.write("5")
            peak_what = "during the reloads"
        except OSError:
            peak_what = "since start"
        # The run with reloads lasts as long as the reloads take (dnsperf prints its figures
        # when interrupted); the baseline then runs exactly as long.
        d0 = udp_drops(args.port)
        p = subprocess.Popen(dnsperf(args, mix, args.max_seconds, rate), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        time.sleep(2)
        times = []
        done = loaded_count(log_path)
        for i in range(args.reloads):
            if p.poll() is not None:
                break
            t = time.monotonic()
            srv.send_signal(signal.SIGHUP)
            while loaded_count(log_path) <= done:
                if srv.poll() is not None:
                    sys.exit(f"enumd exited during reload {i + 1}; log in {log_path}")
                time.sleep(0.05)
            done += 1
            times.append(time.monotonic() - t)
            log(f"reload {i + 1}: {times[-1]:.2f} s")
        during = time.monotonic() - started
        time.sleep(2)
        p.send_signal(signal.SIGINT)
        rel = finish(p, "with reloads")
        d1 = udp_drops(args.port)
        rel["drops"] = (d1[0] - d0[0], max(0, (d1[1] - d0[1]) - (d1[0] - d0[0])))
        seconds = max(1, round(rel["run_time"]))
        rss_after, hwm = vm_rss_hwm(srv.pid)
        if len(times) < args.reloads:
            log(f"only {len(times)} reloads fitted in {args.max_seconds} s: raise --max-seconds")

        log(f"baseline: the same rate for {seconds} s without reloads")
        d0 = udp_drops(args.port)
        base = finish(subprocess.Popen(dnsperf(args, mix, seconds, rate), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True), "baseline")
        d1 = udp_drops(args.port)
        base["drops"] = (d1[0] - d0[0], max(0, (d1[1] - d0[1]) - (d1[0] - d0[0])))

        print(f"enumd reload under load: {n:,} numbers, query mix, {rate:,} q/s offered "
              f"({args.load:.0%} of the {full['qps']:,.0f} answers/s measured at full load), "
              f"{seconds} s per run, server on CPU {SERVER_CPU}, dnsperf on CPU {CLIENT_CPU}")
        print()
        print("| run | sent | answered | lost | dropped at enumd's / dnsperf's socket | answers/s "
              "| average latency (ms) | worst latency (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in (("no reloads", base), (f"{len(times)} reloads", rel)):
            print(f"| {name} | {r['sent']:,.0f} | {r['completed']:,.0f} | {r['lost']:,.0f} "
                  f"| {r['drops'][0]} / {r['drops'][1]} | {r['qps']:,.0f} "
                  f"| {r['lat_avg'] * 1e3:.2f} | {r['lat_max'] * 1e3:.1f} |")
        print()
        if times:
            print(f"reloads: {len(times)} in {during:.1f} s, each {min(times):.2f}–{max(times):.2f} s "
                  f"(median {sorted(times)[len(times) // 2]:.2f} s) from SIGHUP to \"zone loaded\"")
        print(f"enumd RSS {rss_before / 2**20:.0f} MiB before the reloads, {rss_after / 2**20:.0f} MiB after; "
              f"peak (VmHWM) {peak_what} {hwm / 2**20:.0f} MiB")
        print("(sent minus answered minus lost: queries still in flight when the run with reloads was "
              "interrupted)")
        return 0
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
        logf.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
