#!/usr/bin/env python3
"""Side-by-side benchmark driver: enumd against NSD, Knot DNS and BIND on one ENUM zone.

Run it through benches/side_by_side.sh, which checks the tools, generates the data and sets
the parameters; this file starts each server in turn (never two at once), measures it and
prints the table.  Standard library only.

Per server:
  * BENCH_RUNS starts: start-to-first-answer time (process start until the probe name answers
    NOERROR with AA, polled every few ms from here), RSS/PSS after load from
    /proc/PID/smaps_rollup (summed over all the server's processes), threads and CPU affinity;
  * on the last start, for each query file and each run: dnsperf at a fixed rate (-Q) for the
    server's CPU per answer (utime+stime delta of all its processes from /proc/PID/stat, in
    clock ticks), then dnsperf at full load for answers/s; latency and losses from both;
  * RSS/PSS again after the query runs, then a clean stop (SIGTERM, SIGKILL after a timeout).
Servers run pinned to CPU 1, dnsperf to CPU 0.  Each figure is the median over the runs.

Results directory: table.md (the table printed on stdout), runs.jsonl (one line per dnsperf
run), starts.jsonl (one line per server start), summary.json (medians), meta.txt,
raw/<server>/*.txt (every dnsperf output), servers/<server>/ (configs, logs, sample answers).
"""

import argparse
import ctypes
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APEX = "4.4.e164.arpa."
KINDS = ["number", "wildcard", "nxdomain", "referral", "nodata"]
# Every answer in a per-kind file must carry this rcode (the generator guarantees it).
EXPECTED_RCODE = {k: ("NXDOMAIN" if k == "nxdomain" else "NOERROR") for k in KINDS}
SERVER_ORDER = ["nsd", "knot", "bind", "enumd"]
LABEL = {"nsd": "NSD", "knot": "Knot DNS", "bind": "BIND", "enumd": "enumd"}
SERVER_CPU = "1"  # CPU the servers are pinned to
CLIENT_CPU = "0"  # CPU dnsperf is pinned to


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- /proc helpers

def read_stat(pid):
    """(ppid, state, utime+stime ticks, starttime) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime/stime are fields 14/15, starttime field 22
    return int(rest[1]), rest[0], int(rest[11]) + int(rest[12]), int(rest[19])


def alive(pid):
    st = read_stat(pid)
    return st is not None and st[1] not in ("Z", "X")


def all_ppids():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = read_stat(int(d))
            if st is not None:
                out[int(d)] = st[0]
    return out


def descendants(roots):
    ppids = all_ppids()
    children = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen or p not in ppids:
            continue
        seen.add(p)
        todo.extend(children.get(p, []))
    return seen


def cpu_ticks(pids):
    """{pid: utime+stime ticks} of the given processes (all their threads, live and exited)."""
    out = {}
    for p in pids:
        st = read_stat(p)
        if st is not None and st[1] not in ("Z", "X"):
            out[p] = st[2]
    return out


def cpu_delta_s(before, after):
    # a process present only at the end contributes all it used
    return sum(t - before.get(p, 0) for p, t in after.items()) / CLK_TCK


def smaps_rollup(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Rss", "Pss"):
                    vals[k] = int(v.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return vals


def vm_rss_hwm(pid):
    """(VmRSS, VmHWM) of a process in bytes: resident now, and the peak since start or since the
    last write of 5 to /proc/PID/clear_refs."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0]) * 1024
    return vals["VmRSS"], vals["VmHWM"]


def ensure_data(data, gen, n):
    """(zone path, probe name) for n numbers in `data`, running the generator there first if
    any of its files (zone, query mix, probe) is missing. For the scripts beside this one."""
    zone = os.path.abspath(os.path.join(data, f"enum-{n}.zone"))
    files = (zone, os.path.join(data, f"queries-{n}.txt"), os.path.join(data, f"probe-{n}.txt"))
    if not all(os.path.isfile(f) for f in files):
        log(f"generating {n} numbers in {data}")
        os.makedirs(data, exist_ok=True)
        subprocess.run([sys.executable, gen, "-n", str(n), "-o", data], check=True)
    with open(files[2]) as f:
        return zone, f.read().strip()


def write_enumd_config(path, port, zone, level="info"):
    """An enumd config serving the benchmark zone on 127.0.0.1:port, files not watched."""
    with open(path, "w") as f:
        f.write(f'listen = ["127.0.0.1:{port}"]\nwatch = false\n[log]\nlevel = "{level}"\n'
                f'[[zone]]\napex = "{APEX}"\nfile = "{zone}"\n')


def threads_and_affinity(pids):
    """(thread count, {Cpus_allowed_list: thread count}) over the given processes."""
    n, aff = 0, {}
    for p in pids:
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for t in tids:
            try:
                with open(f"/proc/{p}/task/{t}/status") as f:
                    for line in f:
                        if line.startswith("Cpus_allowed_list:"):
                            c = line.split(":", 1)[1].strip()
                            aff[c] = aff.get(c, 0) + 1
                            n += 1
            except FileNotFoundError:
                pass
    return n, aff


def system_cpu():
    """(busy ticks of all CPUs excluding idle/iowait, steal ticks) from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def udp_drops(port):
    """(drops on the UDP sockets bound to 127.0.0.1:port, all UDP receive-buffer errors)."""
    mine = 0
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                fs = line.split()
                if len(fs) > 12 and int(fs[1].split(":")[1], 16) == port:
                    mine += int(fs[-1])
    except (OSError, ValueError, StopIteration):
        pass
    total = 0
    try:
        with open("/proc/net/snmp") as f:
            rows = [l.split() for l in f if l.startswith("Udp:")]
        total = int(rows[1][rows[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        pass
    return mine, total


def other_load(pids, interval=0.5):
    """Fraction of one CPU used by everything except the given (server) processes."""
    c0, (s0, _) = cpu_ticks(pids), system_cpu()
    t0 = time.monotonic()
    time.sleep(interval)
    c1, (s1, _) = cpu_ticks(pids), system_cpu()
    return max(0.0, (s1 - s0) / CLK_TCK - cpu_delta_s(c0, c1)) / (time.monotonic() - t0)


def wait_quiet(args, pids, what):
    """Wait (at most args.quiet_wait s) until the rest of the machine is nearly idle: other
    sessions compiling on this machine would otherwise share the CPUs with the benchmark."""
    if args.quiet_wait <= 0:
        return True
    deadline = time.monotonic() + args.quiet_wait
    told = False
    while True:
        o = other_load(pids)
        if o < args.quiet_threshold:
            if told:
                log(f"machine quiet again ({o:.0%})")
            return True
        if time.monotonic() > deadline:
            log(f"other load still {o:.0%} after {args.quiet_wait:.0f}s: going on with {what}")
            return False
        if not told:
            log(f"other load {o:.0%} of a CPU before {what}: waiting up to {args.quiet_wait:.0f}s "
                f"for it to drop below {args.quiet_threshold:.0%}")
            told = True
        time.sleep(2)


def set_child_subreaper():
    """Orphaned descendants (NSD's forked children) are re-parented to us, so we reap them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def reap(pids):
    for p in pids:
        try:
            os.waitpid(p, os.WNOHANG)
        except ChildProcessError:
            pass


def port_in_use(port):
    """Name of what is bound on 127.0.0.1:port (UDP or TCP), or None if both are free."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            try:
                ss = subprocess.run(["ss", "-Hlnp", "-tu", f"sport = :{port}"], capture_output=True,
                                    text=True, timeout=10).stdout.strip()
            except Exception:
                ss = ""
            return ss or ("udp" if kind == socket.SOCK_DGRAM else "tcp") + f" port {port} is bound"
        finally:
            s.close()
    return None


# ---------------------------------------------------------------- DNS probe

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def probe_ok(sock, addr, qname, qtype=35, wait=0.005):
    """Send one query (RD=0); True if the answer is NOERROR, AA, with an answer RR."""
    qid = random.randrange(65536)
    sock.sendto(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + encode_name(qname)
                + struct.pack(">HH", qtype, 1), addr)
    deadline = time.monotonic() + wait
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            data = sock.recv(4096)
        except (socket.timeout, ConnectionRefusedError, OSError):
            return False
        if len(data) < 12:
            continue
        rid, flags, _qd, an = struct.unpack(">HHHH", data[:8])
        if rid != qid or not flags & 0x8000:
            continue
        return (flags & 0x000F) == 0 and bool(flags & 0x0400) and an > 0


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, key, args, workdir, tmpdir):
        self.key = key
        self.label = LABEL[key]
        self.args = args
        self.dir = workdir
        self.tmp = tmpdir
        self.popen = None
        self.pids = set()
        self.logf = None
        os.makedirs(self.dir, exist_ok=True)
        getattr(self, "_config_" + key)()

    # --- configs (written once per server; every start uses the same files)
    def _config_nsd(self):
        d, a = self.dir, self.args
        conf = os.path.join(d, "nsd.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    ip-address: 127.0.0.1@{a.port}
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    verbosity: 0
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "{APEX}"
    zonefile: "{a.zone}"
""")
        self.cmd = ["nsd", "-d", "-c", conf]
        self.env = None
        self.version_cmd = ["nsd", "-v"]

    def _config_knot(self):
        d, a = self.dir, self.args
        storage = os.path.join(self.tmp, "knot-storage")
        os.makedirs(storage, exist_ok=True)
        conf = os.path.join(d, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    rundir: "{d}"
    listen: 127.0.0.1@{a.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{storage}"
template:
  - id: default
    storage: "{storage}"
    zonefile-load: whole
    journal-content: none
    zonefile-sync: -1
zone:
  - domain: {APEX}
    file: "{a.zone}"
""")
        self.cmd = ["knotd", "-c", conf]
        self.env = None
        self.version_cmd = ["knotd", "-V"]

    def _config_bind(self):
        d, a = self.dir, self.args
        conf = os.path.join(d, "named.conf")
        with open(conf, "w") as f:
            f.write(f"""options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {a.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    notify no;
    allow-transfer {{ none; }};
    dnssec-validation no;
}};
controls {{ }};
zone "{APEX.rstrip('.')}" {{
    type primary;
    file "{a.zone}";
}};
""")
        self.cmd = ["named", "-g", "-4", "-n", "1", "-c", conf]
        self.env = None
        self.version_cmd = ["named", "-v"]

    def _config_enumd(self):
        d, a = self.dir, self.args
        conf = os.path.join(d, "enumd.toml")
        with open(conf, "w") as f:
            f.write(f"""listen = ["127.0.0.1:{a.port}"]
edns_udp_payload = 1232
watch = false
[log]
level = "warn"
[[zone]]
apex = "{APEX}"
file = "{a.zone}"
""")
        self.cmd = [a.enumd, "serve", "--config", conf]
        self.env = dict(os.environ, TOKIO_WORKER_THREADS="1")
        self.version_cmd = [a.enumd, "--version"]

    def version(self):
        try:
            r = subprocess.run(self.version_cmd, capture_output=True, text=True, timeout=30)
        except Exception as e:
            return f"? ({e})", ""
        full = (r.stdout + r.stderr).strip().splitlines()
        full = full[0] if full else "?"
        m = re.search(r"\d+\.\d+\.\d+", full)
        return (m.group(0) if m else full), full

    # --- lifecycle
    def start(self, run):
        """Start pinned to SERVER_CPU; return seconds until the probe answers NOERROR+AA."""
        busy = port_in_use(self.args.port)
        if busy:
            raise BenchError(f"127.0.0.1:{self.args.port} is already in use before starting "
                             f"{self.label} (a server left over from an earlier run?):\n{busy}")
        self.logf = open(os.path.join(self.dir, f"log-start{run}.txt"), "w")
        addr = ("127.0.0.1", self.args.port)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t0 = time.monotonic()
        self.popen = subprocess.Popen(["taskset", "-c", SERVER_CPU] + self.cmd, env=self.env,
                                      stdin=subprocess.DEVNULL, stdout=self.logf,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      cwd=self.dir)
        self.pids = {self.popen.pid}
        self._record_pids()
        try:
            while True:
                if self.popen.poll() is not None:
                    raise BenchError(f"{self.label} exited with status {self.popen.returncode} "
                                     f"before answering; log:\n{self._log_tail()}")
                if probe_ok(sock, addr, self.args.probe):
                    ready = time.monotonic() - t0
                    break
                if time.monotonic() - t0 > self.args.ready_timeout:
                    raise BenchError(f"{self.label} did not answer the probe within "
                                     f"{self.args.ready_timeout}s; log:\n{self._log_tail()}")
        finally:
            sock.close()
        self.refresh_pids()
        return ready

    def _log_tail(self):
        try:
            self.logf.flush()
            with open(self.logf.name) as f:
                return "".join(f.readlines()[-20:])
        except Exception:
            return "(no log)"

    def refresh_pids(self):
        live = {p for p in self.pids if alive(p)}
        self.pids = descendants(live | {self.popen.pid}) | live
        self.pids = {p for p in self.pids if alive(p)}
        self._record_pids()
        return self.pids

    def _record_pids(self):
        # "PID STARTTIME" lines, read by side_by_side.sh's trap if this driver dies uncleanly
        with open(self.args.pidfile, "w") as f:
            for p in sorted(self.pids):
                st = read_stat(p)
                if st:
                    f.write(f"{p} {st[3]}\n")

    def pin(self):
        """Re-pin every thread of every process to SERVER_CPU (Knot sets its own affinity)."""
        for p in sorted(self.refresh_pids()):
            subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CPU, str(p)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)

    def memory(self):
        rss = pss = 0
        for p in self.refresh_pids():
            m = smaps_rollup(p)
            rss += m.get("Rss", 0)
            pss += m.get("Pss", 0)
        return rss, pss

    def stop(self, timeout=60.0):
        if self.popen is None:
            return
        pids = self.refresh_pids() | {self.popen.pid}
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.popen.poll()
            reap(pids)
            if not any(alive(p) for p in pids):
                break
            time.sleep(0.05)
        else:
            log(f"{self.label} did not stop within {timeout:.0f}s: SIGKILL")
            for p in pids:
                if alive(p):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.5)
            self.popen.poll()
            reap(pids)
        self.popen = None
        self.pids = set()
        if self.logf:
            self.logf.close()
            self.logf = None
        with open(self.args.pidfile, "w"):
            pass


# ---------------------------------------------------------------- dnsperf

NUM = r"([0-9.]+)"


def parse_dnsperf(text):
    r = {}
    pats = {
        "sent": r"Queries sent:\s+(\d+)",
        "completed": r"Queries completed:\s+(\d+)",
        "lost": r"Queries lost:\s+(\d+)",
        "req_size": r"Average packet size:\s+request (\d+)",
        "resp_size": r"Average packet size:.*response (\d+)",
        "run_time": r"Run time \(s\):\s+" + NUM,
        "qps": r"Queries per second:\s+" + NUM,
        "lat_avg": r"Average Latency \(s\):\s+" + NUM,
        "lat_min": r"Average Latency \(s\):.*\(min " + NUM,
        "lat_max": r"Average Latency \(s\):.*max " + NUM + r"\)",
        "lat_sd": r"Latency StdDev \(s\):\s+" + NUM,
    }
    for k, p in pats.items():
        m = re.search(p, text)
        if m:
            r[k] = float(m.group(1))
    m = re.search(r"Response codes:\s+(.*)", text)
    r["rcodes"] = {c: int(n) for c, n in re.findall(r"(\w+) (\d+) \(", m.group(1))} if m else {}
    return r


def run_dnsperf(args, srv, qfile, mode, out_path):
    cmd = ["taskset", "-c", CLIENT_CPU, "dnsperf", "-s", "127.0.0.1", "-p", str(args.port),
           "-d", qfile, "-l", str(args.seconds), "-c", str(args.clients),
           "-q", str(args.outstanding), "-t", str(args.timeout), "-O", "suppress=timeouts"]
    if args.edns:
        cmd.append("-e")
    if args.buffer:
        cmd += ["-b", str(args.buffer)]
    if mode == "rate":
        cmd += ["-Q", str(args.rate)]
    cmd += getattr(args, "dnsperf_extra", [])  # e.g. ["-E", "10:…"] from benches/cookies.py
    srv.refresh_pids()
    d0 = udp_drops(args.port)
    c0 = cpu_ticks(srv.pids)
    s0, st0 = system_cpu()
    w0 = time.monotonic()
    with open(out_path, "w") as f:
        f.write("# " + " ".join(cmd) + "\n")
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + args.seconds + args.timeout + 60
        try:
            while True:
                pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
                if pid == p.pid:
                    p.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"dnsperf did not finish in time: {out_path}")
                time.sleep(0.02)
        except BaseException:
            if p.returncode is None:
                p.kill()
                p.wait()
            raise
    wall = time.monotonic() - w0
    c1 = cpu_ticks(srv.refresh_pids())
    s1, st1 = system_cpu()
    d1 = udp_drops(args.port)
    with open(out_path) as f:
        text = f.read()
    if p.returncode != 0 or "Queries completed" not in text:
        raise BenchError(f"dnsperf failed (status {p.returncode}), see {out_path}:\n{text[-1500:]}")
    r = parse_dnsperf(text)
    srv_cpu = cpu_delta_s(c0, c1)
    client_cpu = rusage.ru_utime + rusage.ru_stime
    r.update({
        "server_cpu_s": srv_cpu,
        "cpu_us_per_answer": srv_cpu * 1e6 / r["completed"] if r.get("completed") else None,
        "answers_per_cpu_s": r["completed"] / srv_cpu if srv_cpu > 0 else None,
        "server_busy": srv_cpu / r["run_time"] if r.get("run_time") else None,
        "client_cpu_s": client_cpu,
        "client_busy": client_cpu / wall,
        # CPU used by anything else on the machine meanwhile (other processes, plus kernel
        # network work not charged to either side), and hypervisor steal: noise indicators
        "other_cpu_frac": max(0.0, (s1 - s0) / CLK_TCK - srv_cpu - client_cpu) / wall,
        "steal_frac": (st1 - st0) / CLK_TCK / wall,
        "wall_s": wall,
        # where UDP datagrams were dropped for want of receive buffer: at the server's socket, or
        # elsewhere (dnsperf's socket: nothing else on the machine is expected to drop)
        "server_sock_drops": d1[0] - d0[0],
        "client_sock_drops": max(0, (d1[1] - d0[1]) - (d1[0] - d0[0])),
    })
    return r


class Enumd(Server):
    """enumd with extra config text before its `[log]` table (`cookies = …`, `metrics = …`), or a
    pair (that text, text for its [[zone]]), for the scripts that compare enumd with itself
    (benches/cookies.py, benches/ops_cost.py, benches/access_cost.py)."""

    def __init__(self, args, workdir, tmp, line, prefix=()):
        # A pair is (top-level text, text inside the zone's [[zone]] table).
        self.line, self.zone_line = line if isinstance(line, tuple) else (line, "")
        self.prefix = list(prefix)
        super().__init__("enumd", args, workdir, tmp)

    def _config_enumd(self):
        conf = os.path.join(self.dir, "enumd.toml")
        with open(conf, "w") as f:
            f.write(f"""listen = ["127.0.0.1:{self.args.port}"]
edns_udp_payload = 1232
watch = false
{self.line}
[log]
level = "warn"
[[zone]]
apex = "{APEX}"
file = "{self.args.zone}"
{self.zone_line}
""")
        self.cmd = self.prefix + [self.args.enumd, "serve", "--config", conf]
        self.env = dict(os.environ, TOKIO_WORKER_THREADS="1")
        self.version_cmd = [self.args.enumd, "--version"]


def start(srv, args, run):
    """Starts `srv` once the port is free (the previous server's sockets can outlive it briefly)."""
    deadline = time.monotonic() + 30
    while port_in_use(args.port) and time.monotonic() < deadline:
        time.sleep(0.2)
    return srv.start(run)


def measured(args, srv, qfile, path):
    """A fixed-rate dnsperf run; repeated (up to --retries times) while the hypervisor took more
    than --max-steal of the CPU meanwhile, which these shared machines do now and then."""
    for attempt in range(args.retries + 1):
        r = run_dnsperf(args, srv, qfile, "rate", path)
        if r["steal_frac"] <= args.max_steal:
            break
        log(f"steal {r['steal_frac'] * 100:.0f}% during the run: again")
    return r


def measured_clean(args, srv, qfile, path, what):
    """`measured`, ending the script when a query was lost or answered other than NOERROR or
    NXDOMAIN: a comparison of CPU per answer means nothing over answers that were not given."""
    r = measured(args, srv, qfile, path)
    bad = {c: n for c, n in r["rcodes"].items() if c not in ("NOERROR", "NXDOMAIN")}
    if r.get("lost") or bad:
        raise SystemExit(f"{what}: lost {r.get('lost')}, rcodes {bad}")
    return r


def config_rounds(args, qfile, tmp, out, configs, log, during=None):
    """CPU per answer of enumd under each of `configs` (name: config text before `[log]`), over
    --rounds rounds of every config in turn, each on a fresh server: {name: [µs per answer]}.
    `during(name, workdir, run)` may wrap the measurement (`run()` returns it) and returns it
    with a note for the log line."""
    during = during or (lambda name, workdir, run: (run(), ""))
    cpu = {k: [] for k in configs}
    width = max(len(k) for k in configs)
    for rnd in range(1, args.rounds + 1):
        for k, line in configs.items():
            workdir = os.path.join(tmp, f"enumd-{k}-{rnd}")
            srv = Enumd(args, workdir, tmp, line)
            ready = start(srv, args, rnd)
            srv.pin()
            time.sleep(1)
            try:
                run = lambda: measured_clean(args, srv, qfile, os.path.join(out, f"{rnd}-{k}.txt"),  # noqa: E731
                                             f"round {rnd} {k}")
                r, note = during(k, workdir, run)
                cpu[k].append(r["cpu_us_per_answer"])
                log(f"round {rnd} {k:{width}}: {r['cpu_us_per_answer']:.3f} µs/answer, {r['completed']:.0f} answers"
                    f"{note}, steal {r['steal_frac'] * 100:.0f}%, other {r['other_cpu_frac'] * 100:.0f}% "
                    f"(ready in {ready:.1f} s)")
            finally:
                srv.stop()
    return cpu


def cpu_table(cpu, base):
    """The markdown rows of `config_rounds`' figures: median, ratio over `base`'s, every run."""
    first = statistics.median(cpu[base])
    print(f"| configured | µs/answer | over {base} | runs |")
    print("|---|---:|---:|---|")
    for k, runs in cpu.items():
        med = statistics.median(runs)
        print(f"| {k} | {med:.3f} | {med / first:.3f}× | {', '.join(f'{c:.3f}' for c in runs)} |")


def self_comparison(description, port, prefix):
    """The options and working directories shared by the scripts that compare enumd with itself:
    (args, query file, temp dir, dnsperf output dir). `args` also carries what this module's
    helpers read (zone, probe, dnsperf settings, pidfile)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--numbers", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rate", type=int, default=20_000)
    ap.add_argument("--port", type=int, default=port)
    ap.add_argument("--data", default=os.path.join(ROOT, "target", "bench-data"))
    ap.add_argument("--enumd", default=os.path.join(ROOT, "target", "release", "enumd"))
    ap.add_argument("--max-steal", type=float, default=0.05)
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--cg-queries", type=int, default=20_000)
    ap.add_argument("--no-callgrind", action="store_true")
    args = ap.parse_args()
    args.zone, args.probe = ensure_data(args.data, os.path.join(ROOT, "benches", "gen_enum_zone.py"), args.numbers)
    args.clients, args.outstanding, args.timeout, args.edns, args.buffer = 1, 200, 1, 1, 0
    args.ready_timeout = 900.0
    qfile = os.path.join(args.data, f"queries-{args.numbers}.txt")
    set_child_subreaper()
    tmp = tempfile.mkdtemp(prefix=f"enumd-{prefix}-")
    args.pidfile = os.path.join(tmp, "pids")
    out = os.path.join(tmp, "runs")
    os.makedirs(out)
    return args, qfile, tmp, out


class Callgrind:
    """Instruction counts per answer: enumd on the 100,000-number zone under valgrind's callgrind
    answers the first --cg-queries queries of the mix once, at `-Q 2000`."""

    def __init__(self, args, tmp, port):
        self.args, self.tmp = args, tmp
        self.cg = argparse.Namespace(**vars(args))
        self.cg.zone, self.cg.probe = ensure_data(args.data, os.path.join(ROOT, "benches", "gen_enum_zone.py"),
                                                  100_000)
        self.cg.port = port
        self.queries = os.path.join(tmp, "cg-queries.txt")
        with open(os.path.join(args.data, "queries-100000.txt")) as src, open(self.queries, "w") as dst:
            for i, line in enumerate(src):
                if i >= args.cg_queries:
                    break
                dst.write(line)

    def count(self, tag, line, functions, dnsperf_options=lambda cg: [], settle=0.0):
        """Inclusive instructions per answer of each of `functions`, with `line` in the config,
        counted from when the zone has loaded; `dnsperf_options(cg)` runs once it answers, and
        `settle` seconds are left after the last answer (for threads that finish the work)."""
        out = os.path.join(self.tmp, f"callgrind-{tag}.out")
        srv = Enumd(self.cg, os.path.join(self.tmp, f"cg-{tag}"), self.tmp, line,
                    prefix=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
        start(srv, self.cg, 1)
        try:
            extra = dnsperf_options(self.cg)
            # Count from here: not the load, nor the probes that waited for it.
            subprocess.run(["callgrind_control", "--zero", str(srv.popen.pid)], check=True, capture_output=True)
            cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(self.cg.port), "-d", self.queries, "-n", "1", "-e",
                   "-Q", "2000", "-t", "5"] + extra
            r = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            done = int(re.search(r"Queries completed:\s+(\d+)", r).group(1))
            if done != self.args.cg_queries:
                raise SystemExit(f"callgrind {tag}: {done} of {self.args.cg_queries} answered")
            time.sleep(settle)
        finally:
            srv.stop(timeout=120)
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out], capture_output=True,
                             text=True, check=True).stdout

        def inclusive(function):
            m = re.search(r"^\s*([\d,]+) \([^)]*\)\s+\S*" + re.escape(function) + r" \[", ann, re.M)
            return int(m.group(1).replace(",", "")) / done if m else 0.0

        return [inclusive(f) for f in functions]


# ---------------------------------------------------------------- table

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fnum(v, kind):
    if v is None:
        return "–"
    if kind == "us":
        return f"{v:.2f}" if v < 10 else f"{v:.1f}"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "ms":
        return f"{v:.2f}"
    if kind == "mib":
        return f"{v / 2**20:,.1f}"
    if kind == "s":
        return f"{v:.2f}"
    if kind == "pct":
        return f"{v * 100:.0f}%"
    return str(v)


def ratio(enumd, refs, lower_better):
    """'0.85× (Knot DNS)': enumd's figure over the best reference figure."""
    refs = [(v, n) for n, v in refs if v]
    if enumd is None or not refs:
        return "–"
    best_v, best_n = (min if lower_better else max)(refs)
    return f"{enumd / best_v:.2f}× ({best_n})"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def build_table(args, servers, info, starts, runs, files, notes):
    keys = [s for s in SERVER_ORDER if s in servers]
    refs = [k for k in keys if k != "enumd"]
    has_enumd = "enumd" in keys
    L = []
    L.append(f"## enumd side by side: {args.numbers:,} numbers, median of {args.runs} run(s)\n")
    L.append(f"Zone `{APEX}` from gen_enum_zone.py ({args.numbers:,} numbers, "
             f"{max(1, args.numbers // 1000):,} wildcards, {max(1, args.numbers // 10000):,} delegations). "
             f"{info['machine']}. Each server alone, pinned to CPU {SERVER_CPU} with one worker; dnsperf "
             f"{info['dnsperf']} pinned to CPU {CLIENT_CPU}; UDP over 127.0.0.1{', EDNS0' if args.edns else ''}. "
             f"Fixed rate: `-Q {args.rate}` for {args.seconds} s; full load: `-c {args.clients} -q {args.outstanding}` "
             f"for {args.seconds} s; timeout {args.timeout} s.\n")

    # -- summary per server
    hdr = ["server", "version", "start to first answer (s)", "RSS after load (MiB)", "PSS after load (MiB)",
           "bytes/number (RSS/N)", "RSS after queries (MiB)", "processes / threads"]
    rows = []
    fig = {}
    for k in keys:
        st = starts.get(k, [])
        f = {
            "start": med([s["ready_s"] for s in st]),
            "rss": med([s["rss"] for s in st]),
            "pss": med([s["pss"] for s in st]),
            "rss_after": info["after"].get(k, {}).get("rss"),
        }
        fig[k] = f
        procs = st[-1]["procs"] if st else 0
        thr = st[-1]["threads"] if st else 0
        rows.append([LABEL[k], info["versions"][k], fnum(f["start"], "s"), fnum(f["rss"], "mib"),
                     fnum(f["pss"], "mib"),
                     fnum(f["rss"] / args.numbers, "int") if f["rss"] else "–",
                     fnum(f["rss_after"], "mib"), f"{procs} / {thr}"])
    if has_enumd and refs:
        e = fig["enumd"]
        rr = lambda key: ratio(e[key], [(LABEL[k], fig[k][key]) for k in refs], True)
        rows.append(["**enumd ÷ best reference**", "", rr("start"), rr("rss"), rr("pss"), rr("rss"),
                     rr("rss_after"), ""])
    L.append(md_table(hdr, rows))
    L.append("")

    def per_file_table(title, mode, metric, kind, lower_better, scale=1.0, with_ratio=True):
        hdr = ["queries"] + [LABEL[k] for k in keys]
        if has_enumd and refs and with_ratio:
            hdr.append("enumd ÷ best ref")
        rows = []
        for qf in files:
            vals = {}
            for k in keys:
                rs = [r for r in runs if r["server"] == k and r["file"] == qf and r["mode"] == mode]
                v = med([r.get(metric) for r in rs])
                vals[k] = v * scale if v is not None else None
            row = [qf] + [fnum(vals[k], kind) for k in keys]
            if has_enumd and refs and with_ratio:
                row.append(ratio(vals["enumd"], [(LABEL[k], vals[k]) for k in refs], lower_better))
            rows.append(row)
        L.append(f"### {title}\n")
        L.append(md_table(hdr, rows))
        L.append("")

    per_file_table(f"Server CPU per answer at {args.rate:,} q/s (µs, lower is better)",
                   "rate", "cpu_us_per_answer", "us", True)
    per_file_table("Answers per second at full load (higher is better)", "full", "qps", "int", False)
    per_file_table(f"Average latency at {args.rate:,} q/s (µs)", "rate", "lat_avg", "int", True, 1e6)
    per_file_table(f"Worst latency at {args.rate:,} q/s (ms)", "rate", "lat_max", "ms", True, 1e3, False)
    per_file_table("Average latency at full load (µs)", "full", "lat_avg", "int", True, 1e6, False)
    def pair_table(title, a, b, kind):
        """cells 'A / B' for two (mode, metric) pairs"""
        rows = []
        for qf in files:
            row = [qf]
            for k in keys:
                cell = []
                for mode, metric in (a, b):
                    rs = [r for r in runs if r["server"] == k and r["file"] == qf and r["mode"] == mode]
                    cell.append(fnum(med([r.get(metric) for r in rs]), kind))
                row.append(" / ".join(cell))
            rows.append(row)
        L.append(f"### {title}\n")
        L.append(md_table(["queries"] + [LABEL[k] for k in keys], rows))
        L.append("")

    pair_table(f"Queries lost per run: at {args.rate:,} q/s (of about {args.rate * args.seconds:,}) / at full load",
               ("rate", "lost"), ("full", "lost"), "int")
    pair_table("Queries dropped for a full socket buffer at full load: at the server's socket / at dnsperf's "
               "(per run, from /proc/net/udp and /proc/net/snmp)", ("full", "server_sock_drops"),
               ("full", "client_sock_drops"), "int")
    per_file_table("Answers per second of server CPU at full load (answers/s ÷ server CPU busy: what one "
                   "core would do if dnsperf kept up; higher is better)", "full", "answers_per_cpu_s", "int", False)
    pair_table("CPU busy at full load: server on CPU 1 / dnsperf on CPU 0 (dnsperf near 100% with the "
               "server below it means client-bound)", ("full", "server_busy"), ("full", "client_busy"), "pct")
    per_file_table("Average response size (bytes)", "rate", "resp_size", "int", True, 1.0, False)

    L.append("Notes:\n")
    for n in notes:
        L.append(f"- {n}")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main

def sample_answers(srv, args):
    """kdig answers to the sample queries (first one of each kind), kept for reference."""
    out = []
    try:
        with open(args.samples) as f:
            seen = set()
            for line in f:
                kind, name, qtype = line.split()
                if kind in seen:
                    continue
                seen.add(kind)
                r = subprocess.run(["kdig", f"@127.0.0.1", "-p", str(args.port), "+norec", "+edns",
                                    qtype, name], capture_output=True, text=True, timeout=10)
                out.append(f"=== {kind}: {name} {qtype}\n{r.stdout}{r.stderr}")
    except Exception as e:
        out.append(f"(samples failed: {e})")
    with open(os.path.join(srv.dir, "sample-answers.txt"), "w") as f:
        f.write("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--numbers", type=int, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--enumd", required=True)
    ap.add_argument("--servers", default="nsd,knot,bind,enumd")
    ap.add_argument("--port", type=int, default=53530)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rate", type=int, default=60000)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--outstanding", type=int, default=200)
    ap.add_argument("--timeout", type=int, default=1)
    ap.add_argument("--edns", type=int, default=1)
    ap.add_argument("--buffer", type=int, default=0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--ready-timeout", type=float, default=900.0)
    ap.add_argument("--quiet-wait", type=float, default=120.0)
    ap.add_argument("--quiet-threshold", type=float, default=0.10)
    ap.add_argument("--noisy-threshold", type=float, default=0.20)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()

    args.out = os.path.abspath(args.out)
    rel = os.path.relpath(args.out)
    args.out_shown = rel if not rel.startswith("..") else args.out
    n = args.numbers
    args.zone = os.path.abspath(os.path.join(args.data, f"enum-{n}.zone"))
    args.samples = os.path.join(args.data, f"samples-{n}.txt")
    with open(os.path.join(args.data, f"probe-{n}.txt")) as f:
        args.probe = f.read().strip()
    files = {"mix": os.path.join(args.data, f"queries-{n}.txt")}
    for k in KINDS:
        files[k] = os.path.join(args.data, f"queries-{n}-{k}.txt")
    for p in [args.zone] + list(files.values()):
        if not os.path.isfile(p):
            raise BenchError(f"missing data file {p}")
    keys = [k.strip() for k in args.servers.split(",") if k.strip()]
    for k in keys:
        if k not in LABEL:
            raise BenchError(f"unknown server {k!r} (known: {', '.join(SERVER_ORDER)})")
    keys = [k for k in SERVER_ORDER if k in keys]

    set_child_subreaper()
    os.makedirs(os.path.join(args.out, "raw"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="enumd-bench-")
    servers = {k: Server(k, args, os.path.join(args.out, "servers", k), tmp) for k in keys}

    try:
        model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    except Exception:
        model = "?"
    dp = subprocess.run(["dnsperf", "-h"], capture_output=True, text=True)
    dp = dp.stdout + dp.stderr
    m = re.search(r"Version (\S+)", dp)
    info = {
        "machine": f"{os.cpu_count()} × {model}, Linux {platform.release()}",
        "dnsperf": m.group(1) if m else "?",
        "versions": {},
        "after": {},
    }
    full_versions = {}
    for k, s in servers.items():
        info["versions"][k], full_versions[k] = s.version()

    starts = {k: [] for k in keys}
    runs = []
    notes = []
    fstarts = open(os.path.join(args.out, "starts.jsonl"), "w")
    fruns = open(os.path.join(args.out, "runs.jsonl"), "w")
    pin_notes = {}
    t_begin = time.monotonic()
    try:
        for k in keys:
            srv = servers[k]
            os.makedirs(os.path.join(args.out, "raw", k), exist_ok=True)
            for i in range(1, args.runs + 1):
                wait_quiet(args, set(), f"starting {srv.label}")
                log(f"{srv.label}: start {i}/{args.runs}")
                ready = srv.start(i)
                _, aff_before = threads_and_affinity(srv.pids)
                srv.pin()  # Knot pins its own threads; the others are already on CPU 1 (checked)
                time.sleep(args.settle)
                rss, pss = srv.memory()
                nthr, aff = threads_and_affinity(srv.pids)
                rec = {"server": k, "start": i, "ready_s": ready, "rss": rss, "pss": pss,
                       "procs": len(srv.pids), "threads": nthr, "affinity_at_start": aff_before,
                       "affinity_after_pin": aff, "loadavg": open("/proc/loadavg").read().split()[:3]}
                starts[k].append(rec)
                fstarts.write(json.dumps(rec) + "\n")
                fstarts.flush()
                log(f"{srv.label}: answered after {ready:.3f}s, RSS {rss / 2**20:.1f} MiB, "
                    f"PSS {pss / 2**20:.1f} MiB, {len(srv.pids)} process(es), {nthr} threads, "
                    f"affinity at start {aff_before}")
                if i < args.runs:
                    srv.stop()
                    continue
                sample_answers(srv, args)
                for rep in range(1, args.runs + 1):
                    for qf, path in files.items():
                        for mode in ("rate", "full"):
                            tries = []
                            for attempt in range(1 + args.retries):
                                wait_quiet(args, srv.refresh_pids(), f"{srv.label} {qf} {mode}")
                                suffix = "" if attempt == 0 else f"-retry{attempt}"
                                out_path = os.path.join(args.out, "raw", k, f"{qf}-{mode}-run{rep}{suffix}.txt")
                                r = run_dnsperf(args, srv, path, mode, out_path)
                                r.update({"server": k, "file": qf, "mode": mode, "run": rep,
                                          "attempt": attempt, "raw": os.path.relpath(out_path, args.out)})
                                tries.append(r)
                                noisy = r["other_cpu_frac"] > args.noisy_threshold
                                log(f"{srv.label} {qf:8} {mode:4} run {rep}: {r['qps']:>9,.0f} q/s, "
                                    f"lost {r['lost']:.0f}, cpu {r['cpu_us_per_answer']:.2f} µs/answer, "
                                    f"busy {r['server_busy'] * 100:.0f}%, dnsperf {r['client_busy'] * 100:.0f}%, "
                                    f"other {r['other_cpu_frac'] * 100:.0f}%" + (" NOISY" if noisy else ""))
                                if not noisy:
                                    break
                            # keep the least disturbed attempt; all of them stay in runs.jsonl
                            best = min(tries, key=lambda t: t["other_cpu_frac"])
                            for t in tries:
                                t["used"] = t is best
                                fruns.write(json.dumps(t) + "\n")
                            fruns.flush()
                            runs.append(best)
                rss, pss = srv.memory()
                nthr, aff_end = threads_and_affinity(srv.pids)
                info["after"][k] = {"rss": rss, "pss": pss, "affinity": aff_end}
                pin_notes[k] = (aff_before, aff, aff_end)
                srv.stop()
                log(f"{srv.label}: stopped (RSS after queries {rss / 2**20:.1f} MiB)")
    finally:
        for s in servers.values():
            try:
                s.stop(timeout=20)
            except Exception as e:
                log(f"stopping {s.label}: {e}")
        fstarts.close()
        fruns.close()
        shutil.rmtree(tmp, ignore_errors=True)

    # ---- notes
    if "nsd" in keys and starts["nsd"]:
        notes.append(f"NSD runs as {starts['nsd'][-1]['procs']} processes (main, xfrd, one server child): its "
                     "RSS, PSS, CPU and threads are summed over all of them. Summed RSS counts the pages they "
                     "share (forked copy-on-write) more than once; PSS splits them and is the fair figure.")
    for k in keys:
        if k not in pin_notes:
            continue
        b, a, e = pin_notes[k]
        off = {c: t for c, t in b.items() if c != SERVER_CPU}
        ok_after = set(a) == {SERVER_CPU} and set(e) == {SERVER_CPU}
        msg = f"{LABEL[k]} affinity: "
        if off:
            msg += (f"at start {sum(off.values())} thread(s) had set their own CPU list "
                    f"({', '.join(f'{t} on CPU {c}' for c, t in off.items())}), re-pinned with `taskset -a -p -c {SERVER_CPU}`; ")
        msg += ("all threads on CPU " + SERVER_CPU + " after the runs." if ok_after
                else f"NOT all on CPU {SERVER_CPU}: after pinning {a}, after the runs {e}.")
        notes.append(msg)
    notes.append("CPU per answer = utime+stime of all the server's processes and threads "
                 f"(/proc/PID/stat, {CLK_TCK} ticks/s) over the dnsperf run, divided by the answers received; "
                 "it includes the kernel's work on the server's side of its sockets (system time), not the "
                 "loopback delivery of queries, which runs on dnsperf's CPU.")
    slow = sorted({(r["server"], r["file"]) for r in runs if r["mode"] == "rate" and r["qps"] < 0.98 * args.rate})
    if slow:
        notes.append("Did NOT sustain the fixed rate (answers/s < 98% of it, so CPU per answer there is at its "
                     "own maximum rate): " + ", ".join(f"{LABEL[s]} {f}" for s, f in slow) + ".")
    cb = sorted({(r["server"], r["file"]) for r in runs if r["mode"] == "full"
                 and r["client_busy"] > 0.9 and r["server_busy"] < 0.9})
    if cb:
        notes.append("Full load limited by dnsperf, not by the server (dnsperf > 90% of CPU 0 while the "
                     "server < 90% of CPU 1), so answers/s is a lower bound there: "
                     + ", ".join(f"{LABEL[s]} {f}" for s, f in cb) + ".")
    # rcode sanity: per-kind files must all carry the expected rcode
    bad = []
    for r in runs:
        if r["file"] in EXPECTED_RCODE and r.get("completed"):
            exp = EXPECTED_RCODE[r["file"]]
            other = sum(v for c, v in r["rcodes"].items() if c != exp)
            if other > 0.001 * r["completed"]:
                bad.append(f"{LABEL[r['server']]} {r['file']} {r['mode']} run {r['run']}: {r['rcodes']}")
    if bad:
        notes.append("UNEXPECTED rcodes (each per-kind file should answer only "
                     "NOERROR, or NXDOMAIN for nxdomain): " + "; ".join(bad[:8]))
    else:
        notes.append("Every answer in the per-kind files had the expected rcode (NXDOMAIN for nxdomain, "
                     "NOERROR for the others); the mix is about 90% NOERROR, 10% NXDOMAIN on every server.")
    noisy = sorted({(r["server"], r["file"], r["mode"]) for r in runs if r["other_cpu_frac"] > args.noisy_threshold})
    retried = sum(1 for r in runs if r["attempt"] > 0)
    if retried:
        notes.append(f"{retried} run(s) were repeated because something else used more than "
                     f"{args.noisy_threshold:.0%} of a CPU meanwhile (the least disturbed attempt is used; "
                     "all are in runs.jsonl).")
    if noisy:
        notes.append("Still disturbed after retries (read with care): "
                     + ", ".join(f"{LABEL[s]} {f} {'fixed rate' if m == 'rate' else 'full load'}" for s, f, m in noisy) + ".")
    if runs:
        oth = [r["other_cpu_frac"] for r in runs]
        stl = [r["steal_frac"] for r in runs]
        notes.append(f"Noise: CPU used by anything else during the runs (other processes and kernel work "
                     f"charged to neither side) median {med(oth) * 100:.0f}%, max {max(oth) * 100:.0f}% of one CPU; "
                     f"hypervisor steal median {med(stl) * 100:.1f}%, max {max(stl) * 100:.1f}%. Load average "
                     f"at the first start: {' '.join(starts[keys[0]][0]['loadavg'])}.")
    notes.append("Response sizes (last table) differ within what the RFCs allow: NSD, for one, adds the apex "
                 "NS RRset to the authority section of positive answers. One answer of each kind per server "
                 "is in servers/*/sample-answers.txt.")
    notes.extend(args.note)
    notes.append(f"Total time {(time.monotonic() - t_begin) / 60:.1f} min; raw dnsperf outputs in "
                 f"{args.out_shown}/raw/.")

    table = build_table(args, keys, info, starts, runs, list(files), notes)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table)
    summary = {"args": {k: v for k, v in vars(args).items()}, "versions": full_versions, "info": info,
               "starts": starts}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    sys.stdout.write(table)
    return 0


def _term(signum, _frame):
    log(f"signal {signum}: stopping the server and leaving")
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, _term)
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
