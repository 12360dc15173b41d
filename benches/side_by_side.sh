#!/usr/bin/env bash
# Side-by-side benchmark: enumd against NSD and Knot DNS (and BIND if installed) on the same
# generated ENUM zone, one server at a time, each pinned to CPU 1 with one worker, dnsperf on CPU 0.
#
#   benches/side_by_side.sh                   # 1,000,000 numbers, 3 runs of 10 s: about 30 min
#   BENCH_QUICK=1 benches/side_by_side.sh     # smoke run: 100,000 numbers, 1 run of 3 s: about 4 min
#
# Prints a markdown table on stdout (progress goes to stderr) and keeps everything in the results
# directory: table.md, runs.jsonl (every dnsperf run), starts.jsonl, raw/<server>/*.txt (every
# dnsperf output), servers/<server>/ (configs, logs, sample answers).  Installs nothing and never
# builds enumd: exits 2 naming the missing tools.  Needs 2 CPUs (0 for dnsperf, 1 for the server).
#
# Environment (defaults in brackets):
#   ENUMD            enumd binary [target/release/enumd]; copied to a temp dir at the start, so a
#                    rebuild during the run does not change what is measured
#   BENCH_NUMBERS    explicit numbers in the zone [1000000; 100000 with BENCH_QUICK]
#   BENCH_DATA       data directory, reused if it already holds the files for BENCH_NUMBERS
#                    [target/bench-data]
#   BENCH_OUT        results directory [target/bench-results/<timestamp>]
#   BENCH_RUNS       runs per figure; each figure is the median [3; 1 with BENCH_QUICK]
#   BENCH_SECONDS    dnsperf -l per run [10; 3 with BENCH_QUICK]
#   BENCH_RATE       fixed offered rate (dnsperf -Q) for CPU per answer, same for every server [60000]
#   BENCH_OUTSTANDING  dnsperf -q at full load (and the cap at the fixed rate) [200]
#   BENCH_CLIENTS    dnsperf -c [1]
#   BENCH_TIMEOUT    dnsperf -t: a query unanswered after this many seconds is lost [1]
#   BENCH_EDNS       1: queries carry EDNS0 (dnsperf -e), as resolvers' do; 0: plain DNS [1]
#   BENCH_BUFFER     dnsperf -b: its socket buffers in KiB (0: dnsperf's default) [0]
#   BENCH_SERVERS    comma-separated subset of nsd,knot,bind,enumd [all that are installed]
#   BENCH_PORT       port on 127.0.0.1 used by every server in turn [53530]
#   BENCH_GEN        data generator [benches/gen_enum_zone.py, the reference generator, kept
#                    here verbatim so the benchmark runs from a clone]
#   BENCH_QUIET_WAIT before each server start and each dnsperf run, wait up to this many seconds
#                    for other processes to use less than 10% of a CPU (0: don't wait) [120; 30 quick]
#   BENCH_RETRIES    repeat a dnsperf run up to this many times when other processes used more than
#                    20% of a CPU during it; the least disturbed attempt counts [2; 1 quick]
#   BENCH_QUICK      1: smoke-run defaults (see above)
set -euo pipefail

caller_dir=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."  # the repo root: relative paths below start here
root=$PWD

quick=${BENCH_QUICK:-0}
if [[ "$quick" == 1 ]]; then
  d_numbers=100000 d_runs=1 d_seconds=3 d_settle=1 d_quiet=30 d_retries=1
else
  d_numbers=1000000 d_runs=3 d_seconds=10 d_settle=2 d_quiet=120 d_retries=2
fi
NUMBERS=${BENCH_NUMBERS:-$d_numbers}
RUNS=${BENCH_RUNS:-$d_runs}
SECONDS_PER_RUN=${BENCH_SECONDS:-$d_seconds}
RATE=${BENCH_RATE:-60000}
OUTSTANDING=${BENCH_OUTSTANDING:-200}
CLIENTS=${BENCH_CLIENTS:-1}
TIMEOUT=${BENCH_TIMEOUT:-1}
EDNS=${BENCH_EDNS:-1}
BUFFER=${BENCH_BUFFER:-0}
PORT=${BENCH_PORT:-53530}
QUIET_WAIT=${BENCH_QUIET_WAIT:-$d_quiet}
RETRIES=${BENCH_RETRIES:-$d_retries}
DATA=${BENCH_DATA:-target/bench-data}
OUT=${BENCH_OUT:-target/bench-results/$(date +%Y%m%d-%H%M%S)}
GEN=${BENCH_GEN:-benches/gen_enum_zone.py}

die() { echo "side_by_side: $*" >&2; exit 2; }
abspath() { [[ "$1" == /* ]] && echo "$1" || echo "$caller_dir/$1"; }
# Paths given in the environment are relative to where the script was called from.
[[ -n "${BENCH_DATA:-}" ]] && DATA=$(abspath "$DATA")
[[ -n "${BENCH_OUT:-}" ]] && OUT=$(abspath "$OUT")
[[ -n "${BENCH_GEN:-}" ]] && GEN=$(abspath "$GEN")
if [[ -n "${ENUMD:-}" ]]; then ENUMD=$(abspath "$ENUMD"); else ENUMD=$root/target/release/enumd; fi

[[ "$QUIET_WAIT" =~ ^[0-9]+$ && "$RETRIES" =~ ^[0-9]+$ && "$BUFFER" =~ ^[0-9]+$ ]] || die "BENCH_QUIET_WAIT, BENCH_RETRIES and BENCH_BUFFER must be integers"
for v in NUMBERS RUNS SECONDS_PER_RUN RATE OUTSTANDING CLIENTS TIMEOUT PORT; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done

# ---- tools: check everything first, name the Debian package of each missing one, install nothing
missing=()
need() {  # COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 (apt-get install $2)")
}
need nsd nsd
need knotd knot
need dnsperf dnsperf
need kdig knot-dnsutils
need taskset util-linux
need python3 python3
need getconf libc-bin
need ss iproute2
if ((${#missing[@]})); then
  echo "side_by_side: missing tools:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 2
fi
[[ -x "$ENUMD" ]] || die "enumd binary not found at $ENUMD (build it with cargo build --release, or set ENUMD)"
[[ -f "$GEN" ]] || die "data generator not found at $GEN"
ncpu=$(getconf _NPROCESSORS_ONLN)
((ncpu >= 2)) || die "needs at least 2 CPUs (dnsperf on CPU 0, the server on CPU 1); this machine has $ncpu"

notes=()
if [[ -n "${BENCH_SERVERS:-}" ]]; then
  SERVERS=$BENCH_SERVERS
else
  SERVERS=nsd,knot
  if command -v named >/dev/null 2>&1; then
    SERVERS+=,bind
  else
    echo "side_by_side: BIND not installed (apt-get install bind9): running without it" >&2
    notes+=(--note "BIND was not installed (apt-get install bind9), so it is not in the table.")
  fi
  SERVERS+=,enumd
fi
[[ ",$SERVERS," == *,bind,* ]] && { command -v named >/dev/null 2>&1 || die "BENCH_SERVERS has bind but named is missing (apt-get install bind9)"; }

# ---- results dir, a private copy of the binary, cleanup
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/enumd-side-by-side.XXXXXX")
pidfile=$OUT/server.pids
driver=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n "$driver" ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$driver" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$driver" 2>/dev/null || true
  fi
  # The driver stops every server itself; if it died uncleanly, kill what it recorded as running
  # ("PID STARTTIME" lines; the start time guards against a recycled PID).
  if [[ -s "$pidfile" ]]; then
    local pid start now
    while read -r pid start; do
      now=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $20}') || true
      if [[ -n "$now" && "$now" == "$start" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    done <"$pidfile"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cp "$ENUMD" "$work/enumd"
"$work/enumd" --version >/dev/null 2>&1 || die "$ENUMD --version fails (being rebuilt right now?)"
enumd_sha=$(sha256sum "$work/enumd" | cut -c1-12)
git_rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo "?")
notes+=(--note "enumd binary: $ENUMD (sha256 $enumd_sha…), repo at $git_rev; run with TOKIO_WORKER_THREADS=1 under taskset -c 1.")

# ---- data: reuse if complete, else generate (about a minute per million numbers)
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
data_ok=1
for f in "enum-$NUMBERS.zone" "queries-$NUMBERS.txt" "probe-$NUMBERS.txt" "samples-$NUMBERS.txt" \
         "queries-$NUMBERS-"{number,wildcard,nxdomain,referral,nodata}.txt; do
  [[ -s "$DATA/$f" ]] || data_ok=0
done
if ((data_ok)); then
  echo "side_by_side: reusing data in $DATA for $NUMBERS numbers" >&2
else
  echo "side_by_side: generating $NUMBERS numbers in $DATA" >&2
  python3 "$GEN" -n "$NUMBERS" -o "$DATA"
fi

{
  echo "date: $(date -Is)"
  echo "command: BENCH_QUICK=$quick BENCH_NUMBERS=$NUMBERS BENCH_RUNS=$RUNS BENCH_SECONDS=$SECONDS_PER_RUN BENCH_RATE=$RATE BENCH_OUTSTANDING=$OUTSTANDING BENCH_CLIENTS=$CLIENTS BENCH_TIMEOUT=$TIMEOUT BENCH_EDNS=$EDNS BENCH_BUFFER=$BUFFER BENCH_SERVERS=$SERVERS BENCH_PORT=$PORT BENCH_QUIET_WAIT=$QUIET_WAIT BENCH_RETRIES=$RETRIES $0"
  echo "enumd: $ENUMD sha256 $(sha256sum "$work/enumd" | cut -d' ' -f1), repo $git_rev"
  echo "kernel: $(uname -a)"
  echo "cpus: $ncpu, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "loadavg: $(cat /proc/loadavg)"
  echo "data: $DATA"
  echo "--- other processes using CPU at the start (top 10 by %CPU)"
  ps -eo pid,pcpu,rss,etime,args --sort=-pcpu 2>/dev/null | head -11 || true
} >"$OUT/meta.txt"

echo "side_by_side: servers $SERVERS on 127.0.0.1:$PORT, results in $OUT" >&2
python3 "$root/benches/side_by_side.py" \
  --numbers "$NUMBERS" --data "$DATA" --out "$OUT" --enumd "$work/enumd" --servers "$SERVERS" \
  --port "$PORT" --runs "$RUNS" --seconds "$SECONDS_PER_RUN" --rate "$RATE" \
  --outstanding "$OUTSTANDING" --clients "$CLIENTS" --timeout "$TIMEOUT" --edns "$EDNS" --buffer "$BUFFER" \
  --settle "$d_settle" --quiet-wait "$QUIET_WAIT" --retries "$RETRIES" --pidfile "$pidfile" "${notes[@]}" &
driver=$!
wait "$driver"
