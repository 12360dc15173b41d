#!/usr/bin/env python3
"""TCP abuse against UDP service: does a slowloris crowd and pipelining clients that never read
take UDP answers away, or memory?

enumd (release build, default TCP limits: 256 connections, 32 per client, 10 s idle and
write timeouts) serves the 100,000-number zone, pinned to CPU 1 with one UDP worker and one
tokio worker, so the UDP worker and every TCP task share one core. dnsperf sends the query
mix as fast as enumd answers (pinned to CPU 0) for --seconds, in rounds that alternate:

  quiet   dnsperf alone;
  abuse   dnsperf while 1,000 TCP connections from 1,000 loopback addresses (127.0.2.0 to
          127.0.5.231) each send a query one byte a second, and open again when closed (as a
          slowloris does), and 10 clients each write 10,000 pipelined queries and read
          nothing.

Prints UDP answers per second for each (median over --rounds), their ratio, enumd's peak RSS
in each (sampled every 0.2 s, the highest of that kind's rounds), and what the abuse got: connections opened and closed by the
server. The issue's goal: abuse over quiet >= 0.90, RSS bounded. Every loop is bounded by
--seconds and stops by itself.

  benches/tcp_abuse.py [--rounds 3] [--seconds 15] [--port 53590]

Needs dnsperf, taskset and a release build; the data comes from gen_enum_zone.py (made in
target/bench-data if missing).
"""

import argparse
import os
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from side_by_side import APEX, ensure_data  # noqa: E402


def log(msg):
    print(f"[tcp-abuse {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def query(name, qid):
    """A framed NAPTR query for `name`."""
    wire = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        wire += bytes([len(label)]) + label.encode()
    wire += b"\x00" + struct.pack(">HH", 35, 1)
    return struct.pack(">H", len(wire)) + wire


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Slowloris(threading.Thread):
    """1,000 connections, each from its own loopback address, sending a query a byte a second,
    reconnecting when the server closes one, until `stop`."""

    def __init__(self, port, count, stop):
        super().__init__(daemon=True)
        self.port, self.count, self.stop = port, count, stop
        self.opened = self.closed_by_server = self.refused = 0

    def connect(self, i):
        src = f"127.0.{2 + i // 250}.{1 + i % 250}"
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        except OSError:
            self.refused += 1
            s.close()
            return None
        self.opened += 1
        return [s, query(f"1.2.3.4.5.6.7.8.{i % 10}.{APEX}", i), 0]

    def run(self):
        sel = selectors.DefaultSelector()
        conns = {}
        for i in range(self.count):
            c = self.connect(i)
            if c:
                conns[i] = c
                sel.register(c[0], selectors.EVENT_READ, i)
        next_tick = time.monotonic()
        while not self.stop.is_set():
            # A byte a second on every connection; a closed one is opened again.
            for i, c in list(conns.items()):
                s, msg, at = c
                try:
                    if at < len(msg):
                        s.send(msg[at:at + 1])
                        c[2] += 1
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.closed_by_server += 1
                    sel.unregister(s)
                    s.close()
                    del conns[i]
                    n = self.connect(i)
                    if n:
                        conns[i] = n
                        sel.register(n[0], selectors.EVENT_READ, i)
            next_tick += 1.0
            while not self.stop.is_set():
                timeout = next_tick - time.monotonic()
                if timeout <= 0:
                    break
                for key, _ in sel.select(min(timeout, 0.2)):
                    i = key.data
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    if not data and i in conns:  # closed by the server: open again
                        self.closed_by_server += 1
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
                        del conns[i]
                        n = self.connect(i)
                        if n:
                            conns[i] = n
                            sel.register(n[0], selectors.EVENT_READ, i)
        for s, _, _ in conns.values():
            s.close()


def pipeliner(port, src, count, stop, out):
    """Writes `count` framed queries without reading, until the server closes or `stop`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.settimeout(0.5)
    batch = b"".join(query(f"{i % 10}.8.7.6.5.4.3.2.1.{APEX}", i % 65536) for i in range(count))
    sent = 0
    while sent < len(batch) and not stop.is_set():
        try:
            sent += s.send(batch[sent:])
        except socket.timeout:
            continue
        except OSError:
            break
    out.append(sent * count // len(batch))
    while not stop.is_set():
        time.sleep(0.2)
    s.close()


def dnsperf(port, qfile, seconds, out_path):
    cmd = ["taskset", "-c", "0", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile,
           "-l", str(seconds), "-c", "4", "-q", "500", "-t", "2", "-O", "suppress=timeouts"]
    with open(out_path, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=seconds + 60, check=True)
    with open(out_path) as f:
        for line in f:
            if "Queries per second:" in line:
                return float(line.split()[-1])
    raise SystemExit(f"dnsperf printed no rate: {out_path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--port", type=int, default=53590)
    ap.add_argument("--numbers", type=int, default=100_000)
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target", "release", "enumd"))
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    args = ap.parse_args()
    zone, _ = ensure_data(args.data, os.path.join(HERE, "gen_enum_zone.py"), args.numbers)
    qfile = os.path.join(args.data, f"queries-{args.numbers}.txt")
    tmp = tempfile.mkdtemp(prefix="enumd-tcp-abuse-")
    conf = os.path.join(tmp, "enumd.toml")
    with open(conf, "w") as f:
        f.write(f'listen = ["127.0.0.1:{args.port}"]\n[log]\nlevel = "warn"\n'
                f'[[zone]]\napex = "{APEX}"\nfile = "{zone}"\n')
    env = dict(os.environ, TOKIO_WORKER_THREADS="1")
    srv = subprocess.Popen(["taskset", "-c", "1", args.enumd, "serve", "--config", conf], env=env,
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "enumd.log"), "w"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or srv.poll() is not None:
                    raise SystemExit("enumd did not start")
                time.sleep(0.2)
        time.sleep(1)
        results = {"quiet": [], "abuse": []}
        peak = {"quiet": 0, "abuse": 0}
        got = []
        for r in range(args.rounds):
            for kind in ["quiet", "abuse"]:
                stop = threading.Event()
                threads = []
                slow, piped = None, []
                if kind == "abuse":
                    slow = Slowloris(args.port, 1000, stop)
                    threads.append(slow)
                    for k in range(10):
                        threads.append(threading.Thread(
                            target=pipeliner, args=(args.port, f"127.0.6.{1 + k}", 10_000, stop, piped),
                            daemon=True))
                    for t in threads:
                        t.start()
                    time.sleep(2)  # the crowd in place before the measurement starts
                sampling = threading.Event()

                def sample():
                    while not sampling.is_set():
                        peak[kind] = max(peak[kind], rss_kib(srv.pid))
                        time.sleep(0.2)
                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                qps = dnsperf(args.port, qfile, args.seconds, os.path.join(tmp, f"dnsperf-{kind}-{r}.txt"))
                sampling.set()
                sampler.join()
                stop.set()
                for t in threads:
                    t.join(timeout=10)
                results[kind].append(qps)
                extra = ""
                if slow:
                    extra = (f"; slowloris opened {slow.opened}, closed by enumd {slow.closed_by_server}, "
                             f"refused {slow.refused}; pipeliners wrote {sum(piped):,} queries")
                    got.append(extra)
                log(f"round {r + 1} {kind}: {qps:,.0f} UDP answers/s, peak RSS {peak[kind] / 1024:.1f} MiB{extra}")
                time.sleep(12 if kind == "abuse" else 1)  # let the server close what is left
        q, a = statistics.median(results["quiet"]), statistics.median(results["abuse"])
        print(f"## TCP abuse and UDP answers, {args.numbers:,} numbers, median of {args.rounds} rounds\n")
        print(f"dnsperf at full speed for {args.seconds} s (-c 4 -q 500) on CPU 0; enumd on CPU 1 with one UDP "
              f"worker and one tokio worker; abuse: 1,000 slowloris connections from 1,000 addresses and 10 "
              f"clients pipelining 10,000 queries each without reading.\n")
        print("| run | UDP answers/s | peak RSS, MiB | runs |")
        print("|---|---:|---:|---|")
        print(f"| quiet | {q:,.0f} | {peak['quiet'] / 1024:.1f} | {', '.join(f'{x:,.0f}' for x in results['quiet'])} |")
        print(f"| abuse | {a:,.0f} | {peak['abuse'] / 1024:.1f} | {', '.join(f'{x:,.0f}' for x in results['abuse'])} |")
        print(f"\nabuse over quiet: {a / q:.3f}×; RSS abuse over quiet: {peak['abuse'] / max(peak['quiet'], 1):.2f}×")
        for r, line in enumerate(got):
            print(f"- abuse round {r + 1}: {line[2:]}")
    finally:
        srv.terminate()
        srv.wait(timeout=10)


if __name__ == "__main__":
    main()
