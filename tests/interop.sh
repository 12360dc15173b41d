#!/usr/bin/env bash
# Differential interop test: enumd against NSD (the reference) on a generated ENUM zone.
#
#   tests/interop.sh                         # uses target/release/enumd (build it first)
#   ENUMD=path/to/enumd tests/interop.sh     # another binary (relative to the current dir)
#   INTEROP_SELFTEST=1 tests/interop.sh      # NSD against a second NSD: tests the harness itself
#
# Environment:
#   ENUMD             enumd binary (default target/release/enumd in the repo); never built here
#   INTEROP_NUMBERS   explicit numbers in the zone (default 50000)
#   INTEROP_QUERIES   queries over UDP (default 20000; 5% are also sent over TCP)
#   INTEROP_SEED      seed for the zone and the queries (default 1); the same seed gives the
#                     same zone and the same queries
#   INTEROP_SELFTEST  1: run a second NSD instead of enumd (must report 0 differences)
#   INTEROP_KEEP      1: keep the temp dir (zone, configs, server logs) for inspection
#   INTEROP_READY_TIMEOUT  seconds to wait for each server to answer the apex SOA (default 120)
#
# Needs nsd and Debian's python3-dnspython (apt-get install nsd python3-dnspython), run with
# /usr/bin/python3.  Everything listens on 127.0.0.1 only.  Prints the first differences in
# detail and ends with "N queries, D differences"; exits non-zero if D > 0 or on any failure.
# What is compared and what is tolerated (and why) is in tests/interop/README.md.
set -euo pipefail

caller_dir=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."  # the repo root: paths below are relative to it
root=$PWD
PY=/usr/bin/python3  # Debian's Python, where python3-dnspython is installed
APEX=4.4.e164.arpa.
NUMBERS=${INTEROP_NUMBERS:-50000}
QUERIES=${INTEROP_QUERIES:-20000}
SEED=${INTEROP_SEED:-1}
SELFTEST=${INTEROP_SELFTEST:-0}
READY_TIMEOUT=${INTEROP_READY_TIMEOUT:-120}  # seconds for each server to answer the apex SOA

if [[ -n "${ENUMD:-}" ]]; then
  [[ "$ENUMD" == /* ]] || ENUMD="$caller_dir/$ENUMD"
else
  ENUMD="$root/target/release/enumd"
fi

die() { echo "interop: $*" >&2; exit 2; }
command -v nsd >/dev/null || die "nsd not found (apt-get install nsd)"
"$PY" -c 'import dns.message' 2>/dev/null || die "dnspython not found for $PY (apt-get install python3-dnspython)"
if [[ "$SELFTEST" != 1 ]]; then
  [[ -x "$ENUMD" ]] || die "enumd binary not found at $ENUMD (build it with cargo build --release, or set ENUMD)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/enumd-interop.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ "${INTEROP_KEEP:-0}" == 1 ]]; then echo "interop: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # runs the EXIT trap too

echo "interop: generating $NUMBERS numbers (seed $SEED) in $tmp"
"$PY" tests/interop/gen_zone.py --numbers "$NUMBERS" --seed "$SEED" --out-dir "$tmp"
zone=$tmp/zone.db
# Fail early and clearly if the reference itself rejects the zone.
nsd-checkzone "$APEX" "$zone" >/dev/null || die "nsd-checkzone rejects the generated zone $zone"

ports=$("$PY" tests/interop/differ.py free-ports 2)
read -r port_a port_b <<<"$ports"

# NSD config: a private instance in the temp dir.  Debian's NSD rate-limits answers per source
# by default (rrl-*), which would drop test traffic; minimal-responses stops it adding the apex
# NS to positive answers, so authority sections compare directly; the EDNS size matches enumd's
# edns_udp_payload, so both truncate at the same payload.
write_nsd_conf() {  # DIR PORT
  mkdir -p "$1"
  cat >"$1/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$2
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$1"
    pidfile: "$1/nsd.pid"
    zonelistfile: "$1/zone.list"
    xfrdfile: "$1/xfrd.state"
    xfrdir: "$1"
    verbosity: 0
    hide-version: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    ipv4-edns-size: 1232
    minimal-responses: yes
remote-control:
    control-enable: no
zone:
    name: "$APEX"
    zonefile: "$zone"
EOF
}

start_nsd() {  # DIR PORT LABEL
  write_nsd_conf "$1" "$2"
  nsd -d -c "$1/nsd.conf" >"$1/log" 2>&1 &
  pids+=($!)
  wait_ready "$2" "$3" "$!" "$1/log"
}

wait_ready() {  # PORT LABEL PID LOG
  if ! "$PY" tests/interop/differ.py wait --server "127.0.0.1:$1" --name "$APEX" \
      --timeout "$READY_TIMEOUT" --pid "$3" --label "$2"; then
    echo "interop: last lines of $2's log:" >&2
    tail -n 20 "$4" >&2 || true
    exit 2
  fi
  echo "interop: $2 ready on 127.0.0.1:$1"
}

start_nsd "$tmp/nsd" "$port_a" nsd
if [[ "$SELFTEST" == 1 ]]; then
  b_label=nsd-b
  start_nsd "$tmp/nsd-b" "$port_b" "$b_label"
  b_flags=(--b-is-nsd)
else
  b_label=enumd
  mkdir -p "$tmp/enumd"
  cat >"$tmp/enumd/enumd.toml" <<EOF
listen = ["127.0.0.1:$port_b"]
edns_udp_payload = 1232
watch = false
[log]
level = "warn"
[[zone]]
apex = "$APEX"
file = "$zone"
EOF
  "$ENUMD" serve --config "$tmp/enumd/enumd.toml" >"$tmp/enumd/log" 2>&1 &
  pids+=($!)
  wait_ready "$port_b" enumd "$!" "$tmp/enumd/log"
  b_flags=()
fi

# The closing line "N queries, D differences" and the exit status come from the differ.
"$PY" tests/interop/differ.py compare --a "127.0.0.1:$port_a" --b "127.0.0.1:$port_b" \
  --a-label nsd --b-label "$b_label" "${b_flags[@]}" \
  --manifest "$tmp/manifest.json" --queries "$QUERIES" --seed "$SEED"
