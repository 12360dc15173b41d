#!/usr/bin/env python3
"""What DNS Cookies cost enumd: CPU per answer with `cookies = true` over `cookies = false`, by
the side-by-side method (server pinned to CPU 1 with one worker, dnsperf at a fixed rate pinned
to CPU 0, the server's utime+stime from /proc over the answers dnsperf counted), for three kinds
of queries, all from the generated query mix:

  none    no COOKIE option: the common case, which must not pay for cookies;
  client  a client cookie alone: the server makes a server cookie (one SipHash) per answer;
  server  a client cookie and a valid server cookie, fetched from the server just before the
          run: it verifies it (one SipHash) and sends it back.

With cookies off the option is ignored, so "off" is the same queries answered without cookie
work. Runs alternate off and on, each pair started fresh, and each figure is the median over
--rounds pairs. Checks that each run got only NOERROR/NXDOMAIN answers, lost none, and that
responses grew by the 28-byte COOKIE option exactly where a cookie was answered.

These machines are noisy (runs of the same binary differ by several per cent), so a second
table counts instructions instead, which do not vary: enumd under `valgrind --tool=callgrind`
on the 100,000-number zone answers the first --cg-queries queries of the mix once, and the
inclusive count of its UDP worker (all the user-space work per datagram: receive, decode,
look up, encode, send) is divided by the answers. The kernel's share of CPU per answer is the
same with cookies off and on, so this ratio bounds the whole one from above.

  benches/cookies.py [--numbers 1000000] [--rounds 5] [--seconds 10] [--rate 20000]
                     [--max-steal 0.05] [--retries 3] [--cg-queries 20000] [--no-callgrind]

Needs dnsperf, taskset, valgrind, Debian's python3-dnspython and a release build of enumd; the
data comes from gen_enum_zone.py (made in target/bench-data if missing).
"""

import os
import statistics
import sys
import time

import dns.edns
import dns.message
import dns.query

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import Callgrind, Enumd, measured_clean, self_comparison, start  # noqa: E402

CLIENT_COOKIE = "0102030405060708"


def log(msg):
    print(f"[cookies {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def server_cookie(args):
    """The full COOKIE (client + server cookie) the server gives 127.0.0.1 for CLIENT_COOKIE."""
    q = dns.message.make_query(args.probe, "NAPTR", use_edns=0,
                               options=[dns.edns.GenericOption(10, bytes.fromhex(CLIENT_COOKIE))])
    r = dns.query.udp(q, "127.0.0.1", port=args.port, timeout=5, source="127.0.0.1")
    opts = [o for o in r.options if o.otype == 10]
    if not opts:
        raise SystemExit("the server sent no cookie back")
    return opts[0].to_wire().hex()


def callgrind_table(args, tmp, kinds, cookie_options):
    """Instructions per answer of enumd's UDP worker, cookies off and on, per kind of query."""
    cg = Callgrind(args, tmp, args.port + 1)
    per = {}
    for on in (False, True):
        for k in kinds:
            def options(c):
                full = (server_cookie(c) if on else
                        CLIENT_COOKIE + "01000000" + f"{int(time.time()) & 0xffffffff:08x}" + "00" * 8)
                return cookie_options(k, full)
            per[(on, k)] = cg.count(f"{on}-{k}", f"cookies = {'true' if on else 'false'}",
                                    ["enumd::server::udp_worker", "enumd::cookie::Cookies::answer"], options)
            log(f"callgrind cookies={'on' if on else 'off'} {k:6}: {per[(on, k)][0]:,.0f} instructions per answer, "
                f"{per[(on, k)][1]:,.0f} of them in Cookies::answer")
    print(f"\n## Cookies on over off: user-space instructions per answer (callgrind), 100,000 numbers\n")
    print(f"The first {args.cg_queries:,} queries of the mix, answered once at `-Q 2000` by enumd under "
          f"valgrind, counted from when the zone had loaded; the inclusive counts of "
          f"`enumd::server::udp_worker` (everything a datagram costs in user space) and of "
          f"`enumd::cookie::Cookies::answer` (the SipHash and its inputs) over the answers.\n")
    print("| queries | off | on | on / off | of which Cookies::answer |")
    print("|---|---:|---:|---:|---:|")
    for k in kinds:
        off, on = per[(False, k)][0], per[(True, k)][0]
        print(f"| {k} | {off:,.0f} | {on:,.0f} | {on / off:.3f}× | {per[(True, k)][1]:,.0f} |")


def main():
    args, qfile, tmp, out = self_comparison(__doc__, 53550, "cookies")

    kinds = ["none", "client", "server"]

    def cookie_options(kind, full):
        return {"none": [], "client": ["-E", f"10:{CLIENT_COOKIE}"], "server": ["-E", f"10:{full}"]}[kind]

    cpu = {(on, k): [] for on in (False, True) for k in kinds}
    size = {(on, k): [] for on in (False, True) for k in kinds}
    for rnd in range(1, args.rounds + 1):
        for on in (False, True):
            srv = Enumd(args, os.path.join(tmp, f"enumd-{on}"), tmp, f"cookies = {'true' if on else 'false'}")
            ready = start(srv, args, rnd)
            srv.pin()
            time.sleep(1)
            try:
                # With cookies off there is no server cookie to fetch: the "server" queries then
                # carry one of the same shape, which is ignored.
                full = (server_cookie(args) if on else
                        CLIENT_COOKIE + "01000000" + f"{int(time.time()) & 0xffffffff:08x}" + "00" * 8)
                for k in kinds:
                    args.dnsperf_extra = cookie_options(k, full)
                    r = measured_clean(args, srv, qfile, os.path.join(out, f"{rnd}-{on}-{k}.txt"),
                                       f"round {rnd} cookies={on} {k}")
                    cpu[(on, k)].append(r["cpu_us_per_answer"])
                    size[(on, k)].append(r["resp_size"])
                    log(f"round {rnd} cookies={'on' if on else 'off'} {k:6}: {r['cpu_us_per_answer']:.3f} µs/answer, "
                        f"{r['completed']:.0f} answers, response {r['resp_size']:.0f} B, steal {r['steal_frac'] * 100:.0f}%, other {r['other_cpu_frac'] * 100:.0f}% (ready in {ready:.1f} s)")
            finally:
                srv.stop()
    print(f"## Cookies on over off: CPU per answer, {args.numbers:,} numbers, median of {args.rounds} rounds\n")
    print(f"dnsperf `-Q {args.rate}` for {args.seconds} s per run, the generated query mix; enumd pinned to "
          f"CPU 1 with one worker, dnsperf to CPU 0.\n")
    print("| queries | off (µs/answer) | on (µs/answer) | on / off | response bytes off → on |")
    print("|---|---:|---:|---:|---:|")
    for k in kinds:
        off, on = statistics.median(cpu[(False, k)]), statistics.median(cpu[(True, k)])
        so, sn = statistics.median(size[(False, k)]), statistics.median(size[(True, k)])
        print(f"| {k} | {off:.3f} | {on:.3f} | {on / off:.3f}× | {so:.0f} → {sn:.0f} |")
        want = 0 if k == "none" else 28
        if sn - so != want:
            raise SystemExit(f"{k}: responses grew by {sn - so:.0f} bytes, expected {want}")
    sys.stdout.flush()
    if not args.no_callgrind:
        callgrind_table(args, tmp, kinds, cookie_options)


if __name__ == "__main__":
    main()
