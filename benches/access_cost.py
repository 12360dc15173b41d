#!/usr/bin/env python3
"""What access control costs: CPU per answer with `allow_query` lists of 1 and of 10,000
prefixes, with response rate limiting on, and with a view by Enumservice, over the same server with neither, by the
side-by-side method (server pinned to CPU 1 with one
worker, dnsperf at a fixed rate pinned to CPU 0, the server's utime+stime from /proc over the
answers dnsperf counted), on the generated query mix. Every list lets dnsperf's 127.0.0.1 in
(its last entry), so every query is answered as without a list.

  none      no allow_query: no check at all;
  one       allow_query = ["127.0.0.1"];
  10000     9,999 other /24s (10.0.0.0/24 to 10.39.15.0/24) and 127.0.0.1: a list scanned entry
            by entry would show here;
  rrl       no list, rrl_responses_per_second = 10000000: every answer goes through the rate
            limiter's bucket (a hash and a compare-and-swap) and none is held back;
  view-in   a [[view]] of 127.0.0.1 and the zone's hide_services naming it: dnsperf is inside,
            so each answer costs the view's check and nothing is filtered;
  view-out  the view is 10.0.0.0/8, so dnsperf is outside and every NAPTR written is matched
            against the patterns ("P-*", "pstn": the mix's E2U+pstn:tel has a subtype, so
            nothing is hidden and the answers stay those of the others);
  acl1000+view  both at once: 999 other /24s and 127.0.0.1, and the view with dnsperf outside.

Runs take the variants in turn, each started fresh, and each figure is the median over
--rounds rounds; every run must lose no query and get only NOERROR/NXDOMAIN. These machines are
noisy, so a second table counts instructions: enumd under `valgrind --tool=callgrind` on the
100,000-number zone answers the first --cg-queries queries of the mix once, and the inclusive
count of its UDP worker is divided by the answers.

  benches/access_cost.py [--numbers 1000000] [--rounds 5] [--seconds 10] [--rate 20000]
                      [--max-steal 0.05] [--retries 3] [--cg-queries 20000] [--no-callgrind]

Needs dnsperf, taskset, valgrind and a release build of enumd; the data comes from
gen_enum_zone.py (made in target/bench-data if missing).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import Callgrind, config_rounds, cpu_table, self_comparison  # noqa: E402


def log(msg):
    print(f"[access-cost {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def variants():
    many = [f'"10.{k // 256}.{k % 256}.0/24"' for k in range(9_999)] + ['"127.0.0.1"']
    acl1000 = "allow_query = [" + ", ".join(many[:999] + ['"127.0.0.1"']) + "]"
    return {
        "none": "",
        "one": 'allow_query = ["127.0.0.1"]',
        "10000": "allow_query = [" + ", ".join(many) + "]",
        "rrl": "rrl_responses_per_second = 10000000",
        "view-in": view("127.0.0.1"),
        "view-out": view("10.0.0.0/8"),
        # The goal: an ACL of 1,000 prefixes and a view on, at most 1.05× none.
        "acl1000+view": (acl1000 + "\n" + view("10.0.0.0/8")[0], view("10.0.0.0/8")[1]),
    }


def view(members):
    """A view of `members`, and the zone's rule hiding the P- types and a subtype-less pstn."""
    top = f'[[view]]\nname = "peers"\nmatch = ["{members}"]'
    return (top, 'hide_services = { outside = "peers", services = ["P-*", "pstn"] }')


def main():
    args, qfile, tmp, out = self_comparison(__doc__, 53570, "access-cost")
    configs = variants()
    cpu = config_rounds(args, qfile, tmp, out, configs, log)
    print(f"## allow_query and rate limiting over neither: CPU per answer, {args.numbers:,} numbers, median of {args.rounds} rounds\n")
    print(f"dnsperf `-Q {args.rate}` for {args.seconds} s per run, the generated query mix; enumd pinned to "
          f"CPU 1 with one worker, dnsperf to CPU 0.\n")
    cpu_table(cpu, "none")
    sys.stdout.flush()
    if args.no_callgrind:
        return
    cg = Callgrind(args, tmp, args.port + 2)
    per = {}
    for k, line in configs.items():
        per[k] = cg.count(k, line, ["enumd::server::udp_worker"])[0]
        log(f"callgrind {k:6}: {per[k]:,.0f} instructions per answer")
    print("\n## User-space instructions per answer (callgrind), 100,000 numbers\n")
    print(f"The first {args.cg_queries:,} queries of the mix, answered once at `-Q 2000` by enumd under valgrind, "
          f"counted from when the zone had loaded: the inclusive count of `enumd::server::udp_worker` over the "
          f"answers.\n")
    print("| configured | UDP worker | over none |")
    print("|---|---:|---:|")
    for k in configs:
        print(f"| {k} | {per[k]:,.0f} | {per[k] / per['none']:.4f}× |")


if __name__ == "__main__":
    main()
