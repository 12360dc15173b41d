#!/usr/bin/python3
"""`enumd provision` side by side: one portability file applied to enumd, Knot DNS and BIND.

    benches/provision.py [--numbers 10000000] [--ported 100000] [--servers enumd,knot,bind]
                         [--read query|axfr] [--rate 20000] [--limit 3600]

Each server in turn (pinned to CPU 1; `enumd provision` and dnsperf on CPU 0) loads the
benchmark zone (benches/gen_enum_zone.py, generated into target/bench-data if missing) with a
TSIG key allowed to update and transfer. A portability file names --ported numbers of the zone
(every k-th `E2U+sip` number, so a quarter already hold an `E2U+pstn:tel` record, which is
replaced; the others get one) with a routing number each. Then:
  (a) `enumd provision` applies it, reading the zone by --read (query: one NAPTR query per
      number; axfr: the whole zone), with the default --batch of 500: wall time from start to
      exit, UPDATE messages sent and applied, the time it gives for each step;
  (b) meanwhile dnsperf offers --rate queries/s of the standard mix, in back-to-back windows of
      2 s until the run ends: answers/s and lost queries over the whole run;
  (c) the same file again: "nothing to do", and its time;
  (d) 1,000 of the numbers asked: each must answer the new routing number;
  (e) RSS before and after, and for enumd once SIGUSR1 has written the zone file (until then
      it holds the changes the file does not have).
A run that has not finished after --limit s is stopped and reported as such. KEEP=1 keeps the
servers' and provision's logs. Prints a markdown
table with the ratios. Needs knotd, named, dnsperf, taskset and a release build.
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
import threading
import time

import dns.message
import dns.query
import dns.rcode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import CLIENT_CPU, SERVER_CPU, ensure_data, parse_dnsperf, vm_rss_hwm  # noqa: E402
import updates  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APEX = updates.APEX
KEY = f"hmac-sha256:bench:{updates.SECRET}"


def log(msg):
    print(f"[provision {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def portability_file(zone, ported, numbers, path):
    """Every k-th `E2U+sip` number of the zone with a routing number; (path, sample)."""
    if not os.path.exists(path):
        step = max(1, numbers // ported)
        log(f"writing {ported} ported numbers (every {step}th number of the zone) to {path}")
        rows, seen = [], 0
        pattern = re.compile(r'"E2U\+sip" "!\^\.\*\$!sip:\+(\d+)@')
        with open(zone) as f:
            for line in f:
                m = pattern.search(line)
                if not m:
                    continue
                if seen % step == 0:
                    rows.append(f"+{m.group(1)},+4479{len(rows) % 10000:04d}")
                    if len(rows) == ported:
                        break
                seen += 1
        with open(path + ".tmp", "w") as f:
            f.write("number,routing_number\n" + "\n".join(rows) + "\n")
        os.rename(path + ".tmp", path)
    with open(path) as f:
        rows = f.read().split("\n")[1:-1]
    return path, random.Random(1).sample(rows, min(1000, len(rows)))


def config(server, d, zone, port):
    """updates.py's config for `server`, with transfers allowed to the key as well."""
    cmd, env = updates.config(server, d, zone, port)
    path = cmd[-1]
    text = open(path).read()
    if server == "enumd":
        text += 'allow_transfer = ["key:bench"]\n'
    elif server == "knot":
        text = text.replace("action: update", "action: [update, transfer]")
        # Knot resets a TCP connection whose next request waits past tcp-io-timeout (500 ms)
        # or tcp-idle-timeout (10 s) while its zone commits an UPDATE (seconds at 10M): raised
        # so that pipelined UPDATEs wait for their turn, as a bulk-provisioned Knot would be.
        text = text.replace("server:\n", "server:\n    tcp-io-timeout: 60000\n"
                            "    tcp-idle-timeout: 300\n", 1)
    else:
        text = text.replace("allow-update { key bench; };",
                            "allow-update { key bench; }; allow-transfer { key bench; };")
    with open(path, "w") as f:
        f.write(text)
    return cmd, env


def provision(args, path, port, log_path):
    argv = ["taskset", "-c", CLIENT_CPU, args.enumd, "provision", path, "--zone", APEX,
            "--server", f"127.0.0.1:{port}", "--key", KEY, "--read", args.read]
    out = open(log_path, "a")
    out.write(f"$ {' '.join(argv)}\n")
    out.flush()
    return subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)


def under_load(args, proc, qfile, port, d):
    """dnsperf windows of 2 s while `proc` runs (at most --limit s): its wall time (taken by a
    thread that waits for it, not rounded to the windows), and the summed dnsperf counts."""
    t0 = time.monotonic()
    ended = []
    waiter = threading.Thread(target=lambda: (proc.wait(), ended.append(time.monotonic())))
    waiter.start()
    sent = completed = lost = run_time = 0
    windows = 0
    while proc.poll() is None:  # bounded by --limit
        if time.monotonic() - t0 > args.limit:
            proc.send_signal(signal.SIGINT)
            proc.wait()
            break
        perf = subprocess.run(["taskset", "-c", CLIENT_CPU, "dnsperf", "-s", "127.0.0.1", "-p",
                               str(port), "-d", qfile, "-l", "2", "-Q", str(args.rate), "-q",
                               "500", "-t", "1", "-b", "4096", "-O", "suppress=timeouts"],
                              capture_output=True, text=True, timeout=60)
        r = parse_dnsperf(perf.stdout)
        if not r.get("sent"):
            sys.exit(f"dnsperf gave no counts: {perf.stdout}{perf.stderr}")
        with open(os.path.join(d, "dnsperf.txt"), "a") as f:
            f.write(perf.stdout)
        sent += r.get("sent", 0)
        completed += r.get("completed", 0)
        lost += r.get("lost", 0)
        run_time += r.get("run_time", 0)
        windows += 1
    waiter.join()
    took = ended[0] - t0
    return took, {"sent": sent, "completed": completed, "lost": lost,
                  "qps": completed / run_time if run_time else 0, "windows": windows}


def routed(port, sample):
    """How many of the sample's numbers answer their new routing number."""
    good = 0
    for row in sample:
        number, rn = row.split(",")
        name = ".".join(reversed(number[1:])) + ".e164.arpa."
        r = dns.query.udp(dns.message.make_query(name, "NAPTR"), "127.0.0.1", port=port,
                          timeout=2)
        want = f"tel:{number};npdi;rn={rn}!"
        if r.rcode() == dns.rcode.NOERROR and any(want in rd.to_text() for rrset in r.answer
                                                  for rd in rrset):
            good += 1
    return good


def summary(log_path, took):
    text = open(log_path).read()
    applied = re.findall(r"applied (\d+) of (\d+) UPDATE message\(s\).* in ([0-9.]+) s", text)
    read = re.findall(r"read by (.*)", text)
    diff = re.findall(r"difference: (.*)", text)
    return {"took": took, "applied": applied[-1] if applied else None,
            "read": read[-1] if read else None, "diff": diff[-1] if diff else None,
            "nothing": "nothing to do" in text}


def run_server(server, args, zone, qfile, probe, pfile, sample, tmp):
    d = os.path.join(tmp, server)
    os.makedirs(d)
    local = os.path.join(d, "zone.db")
    shutil.copy(zone, local)
    cmd, env = config(server, d, local, args.port)
    t0 = time.monotonic()
    p = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd, env=env, cwd=d,
                         stdout=open(os.path.join(d, "log.txt"), "w"), stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        while not updates.visible(s, args.port, probe, 7):  # bounded
            if p.poll() is not None or time.monotonic() - t0 > 1800:
                sys.exit(f"{server} did not come up: "
                         f"{open(os.path.join(d, 'log.txt')).read()[-2000:]}")
            time.sleep(0.2)
        log(f"{server}: serving after {time.monotonic() - t0:.1f} s")
        time.sleep(1)
        r = {"rss0": vm_rss_hwm(p.pid)[0]}
        plog = os.path.join(d, "provision.txt")
        took, load = under_load(args, provision(args, pfile, args.port, plog), qfile,
                                args.port, d)
        r["run"], r["load"] = summary(plog, took), load
        log(f"{server}: applied in {took:.1f} s: {r['run']}; load {load}")
        r["rss1"] = vm_rss_hwm(p.pid)[0]
        plog2 = os.path.join(d, "provision-again.txt")
        t1 = time.monotonic()
        again = provision(args, pfile, args.port, plog2)
        again.wait(timeout=args.limit)
        r["again"] = summary(plog2, time.monotonic() - t1)
        r["routed"] = routed(args.port, sample)
        r["rss2"] = None
        if server == "enumd":
            # Changes are held until the zone file has them (the bench sets flush_interval 0).
            before = os.stat(local).st_mtime_ns
            p.send_signal(signal.SIGUSR1)
            for _ in range(600):  # bounded: 60 s
                if os.stat(local).st_mtime_ns != before:
                    break
                time.sleep(0.1)
            time.sleep(1)
            r["rss2"] = vm_rss_hwm(p.pid)[0]
        log(f"{server}: again in {r['again']['took']:.1f} s (nothing to do: "
            f"{r['again']['nothing']}); {r['routed']} of {len(sample)} sampled numbers routed")
        return r
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numbers", type=int, default=10_000_000)
    ap.add_argument("--ported", type=int, default=100_000)
    ap.add_argument("--servers", default="enumd,knot,bind")
    ap.add_argument("--read", choices=["query", "axfr"], default="query")
    ap.add_argument("--rate", type=int, default=20_000)
    ap.add_argument("--limit", type=int, default=3600, help="seconds a run may take")
    ap.add_argument("--port", type=int, default=5391)
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target", "release", "enumd"))
    args = ap.parse_args()
    for tool in ("knotd", "named", "dnsperf", "taskset"):
        if not shutil.which(tool):
            sys.exit(2)
    updates.ENUMD = args.enumd
    data = os.path.join(ROOT, "target", "bench-data")
    zone, probe = ensure_data(data, os.path.join(ROOT, "benches", "gen_enum_zone.py"),
                              args.numbers)
    qfile = os.path.join(data, f"queries-{args.numbers}.txt")
    pfile, sample = portability_file(zone, args.ported, args.numbers,
                                     os.path.join(data, f"ported-{args.ported}-of-{args.numbers}.csv"))
    tmp = tempfile.mkdtemp(prefix="enumd-bench-provision.")
    servers = args.servers.split(",")
    results = {}
    try:
        for server in servers:
            results[server] = run_server(server, args, zone, qfile, probe, pfile, sample, tmp)
    finally:
        if os.environ.get("KEEP") == "1":
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    def row(label, f):
        return f"| {label} | " + " | ".join(f(results[s]) for s in servers) + " |"

    print(f"{args.numbers} numbers; {args.ported} ported numbers; zone read by {args.read}; "
          f"dnsperf at {args.rate} q/s meanwhile\n")
    print("| | " + " | ".join(servers) + " |")
    print("|---|" + "---:|" * len(servers))
    print(row("provision run, s", lambda r: f"{r['run']['took']:.2f}"))
    print(row("UPDATE messages applied / sent",
              lambda r: " / ".join(r["run"]["applied"][:2]) if r["run"]["applied"] else "–"))
    print(row("zone read", lambda r: r["run"]["read"] or "–"))
    print(row("difference", lambda r: r["run"]["diff"] or "–"))
    print(row("answers/s during the run", lambda r: f"{r['load']['qps']:.0f}"))
    print(row("queries sent / lost during the run",
              lambda r: f"{r['load']['sent']:.0f} / {r['load']['lost']:.0f}"))
    print(row("second run, s (nothing to do)",
              lambda r: f"{r['again']['took']:.1f} ({'yes' if r['again']['nothing'] else 'NO'})"))
    print(row(f"sampled numbers routed (of {len(sample)})", lambda r: str(r["routed"])))
    print(row("RSS before / after, MiB",
              lambda r: f"{r['rss0'] / 2**20:.1f} / {r['rss1'] / 2**20:.1f}"))
    print(row("RSS once the zone file is written, MiB",
              lambda r: f"{r['rss2'] / 2**20:.1f}" if r["rss2"] else "–"))
    refs = [s for s in servers if s != "enumd"]
    if "enumd" in servers and refs:
        best = min(refs, key=lambda s: results[s]["run"]["took"])
        ratio = results["enumd"]["run"]["took"] / results[best]["run"]["took"]
        print(f"\nenumd's run took {ratio:.3f}× the better reference's ({best}).")


if __name__ == "__main__":
    main()
