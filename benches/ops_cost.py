#!/usr/bin/env python3
"""What watching enumd costs: CPU per answer with metrics, dnstap and the query log on, over the
same server with them off, by the side-by-side method (server pinned to CPU 1 with one worker,
dnsperf at a fixed rate pinned to CPU 0, the server's utime+stime from /proc over the answers
dnsperf counted), on the generated query mix.

  off        nothing configured: answers are not counted;
  metrics    `metrics = …`: every answer counted into its thread's shard, /metrics served;
  dnstap     metrics, and dnstap of every query to a file (two messages per query, encoded and
             written by the query log thread, which runs on the same CPU and is charged);
  query_log  metrics, and a plain line per query to a file.

Runs take the variants in turn, each started fresh, and each figure is the median over
--rounds rounds. Each run must lose no query and get only NOERROR/NXDOMAIN; for the logging
variants, /metrics must show every answer written and none dropped.

These machines are noisy (runs of the same binary differ by several per cent), so a second
table counts instructions instead: enumd under `valgrind --tool=callgrind` on the
100,000-number zone answers the first --cg-queries queries of the mix once, and the inclusive
counts of its UDP worker and of the query log thread are divided by the answers.

  benches/ops_cost.py [--numbers 1000000] [--rounds 5] [--seconds 10] [--rate 20000]
                      [--max-steal 0.05] [--retries 3] [--cg-queries 20000] [--no-callgrind]

Needs dnsperf, taskset, valgrind and a release build of enumd; the data comes from
gen_enum_zone.py (made in target/bench-data if missing).
"""

import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import Callgrind, config_rounds, cpu_table, self_comparison  # noqa: E402


def log(msg):
    print(f"[ops-cost {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def variants(metrics_port):
    m = f'metrics = "127.0.0.1:{metrics_port}"'
    return {
        "off": "",
        "metrics": m,
        "dnstap": m + '\n[dnstap]\nfile = "tap.fstrm"',
        "query_log": m + '\nquery_log = "queries.log"',
    }


def scraped(port, name):
    """The value of an unlabelled sample of /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise SystemExit(f"/metrics has no {name}")


def callgrind_table(args, tmp, configs):
    """User-space instructions per answer of the UDP worker and the query log thread."""
    cg = Callgrind(args, tmp, args.port + 2)
    per = {}
    for k, line in variants(cg.cg.port + 1).items():
        # settle: the query log thread drains its queues.
        per[k] = cg.count(k, line, ["enumd::server::udp_worker", "enumd::ops::tap::Writer::run"], settle=1)
        log(f"callgrind {k:9}: {per[k][0]:,.0f} + {per[k][1]:,.0f} instructions per answer")
    off = per["off"][0]
    print("\n## User-space instructions per answer (callgrind), 100,000 numbers\n")
    print(f"The first {args.cg_queries:,} queries of the mix, answered once at `-Q 2000` by enumd under valgrind, "
          f"counted from when the zone had loaded: the inclusive counts of `enumd::server::udp_worker` (all a "
          f"datagram costs in user space: receive, decode, look up, encode, count, queue for the log, send) and "
          f"of `enumd::ops::tap::Writer::run` (the query log thread) over the answers.\n")
    print("| configured | UDP worker | query log thread | total over off |")
    print("|---|---:|---:|---:|")
    for k in configs:
        w, t = per[k]
        print(f"| {k} | {w:,.0f} | {t:,.0f} | {(w + t) / off:.3f}× |")


def main():
    args, qfile, tmp, out = self_comparison(__doc__, 53560, "ops-cost")
    metrics_port = args.port + 1
    configs = variants(metrics_port)


    def logged_in_full(k, workdir, run):
        """The run, and for the logging variants a check that every answer was written."""
        written0 = scraped(metrics_port, "enumd_query_log_written_total") if k != "off" else 0
        r = run()
        if k not in ("dnstap", "query_log"):
            return r, ""
        time.sleep(0.5)  # the writer drains what is queued
        written = scraped(metrics_port, "enumd_query_log_written_total") - written0
        dropped = scraped(metrics_port, "enumd_query_log_dropped_total")
        if written < r["completed"] or dropped:
            raise SystemExit(f"{k}: {written:.0f} of {r['completed']:.0f} answers logged, {dropped:.0f} dropped")
        size = os.path.getsize(os.path.join(workdir, "tap.fstrm" if k == "dnstap" else "queries.log"))
        return r, f", {written:.0f} logged ({size / 2**20:.0f} MiB)"

    cpu = config_rounds(args, qfile, tmp, out, configs, log, logged_in_full)
    print(f"## Metrics, dnstap and the query log over nothing: CPU per answer, {args.numbers:,} numbers, "
          f"median of {args.rounds} rounds\n")
    print(f"dnsperf `-Q {args.rate}` for {args.seconds} s per run, the generated query mix; enumd pinned to "
          f"CPU 1 with one worker (its query log thread too), dnsperf to CPU 0.\n")
    cpu_table(cpu, "off")
    sys.stdout.flush()
    if not args.no_callgrind:
        callgrind_table(args, tmp, configs)


if __name__ == "__main__":
    main()
