#!/usr/bin/env bash
# ISC's DNS compliance tester (`genreport -c -f`) against enumd, NSD, Knot DNS and BIND, each in
# turn serving the shipped lab zone e164.arpa. on 127.0.0.1, with NSID configured on all four and
# every other setting left at its default. Prints one genreport line per server.
#
#   GENREPORT=/path/to/genreport benches/compliance.sh
#
# genreport is not packaged: build it from ISC's DNS-Compliance-Testing repository (a plain
# `cc -DHAVE_CONFIG_H -I. genreport.c -lresolv -lssl -lcrypto` works on Debian with an empty
# config.h and libssl-dev). Also needs nsd, knot and bind9, and a release build of enumd
# (cargo build --release).
#
#   BENCH_PORT   port the servers take in turn [53540]
#   ENUMD        the enumd binary [target/release/enumd]
set -euo pipefail
cd "$(dirname "$0")/.."

GENREPORT=${GENREPORT:?set GENREPORT to a genreport binary (see the comment at the top)}
PORT=${BENCH_PORT:-53540}
ENUMD=${ENUMD:-target/release/enumd}
ZONES=$(pwd)/zones
for tool in "$GENREPORT" "$ENUMD" nsd knotd named dig; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 2; }
done

work=$(mktemp -d /tmp/enumd-compliance.XXXXXX)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Waits until the server answers the apex SOA with AA, for at most 20 s.
wait_ready() {
  for _ in $(seq 200); do
    if dig @127.0.0.1 -p "$PORT" +norec +time=1 +tries=1 e164.arpa. SOA 2>/dev/null | grep -q 'flags: qr aa'; then
      return 0
    fi
    sleep 0.1
  done
  echo "$1 did not answer on port $PORT; its log:" >&2
  cat "$work/$1.log" >&2
  exit 1
}

run() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  wait_ready "$name"
  printf '%-6s %s\n' "$name" "$(echo "e164.arpa. ns1 127.0.0.1" | "$GENREPORT" -c -f -P "$PORT")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

cat >"$work/enumd.toml" <<EOF
listen = ["127.0.0.1:$PORT"]
nsid = "enumd-lab"
[[zone]]
apex = "e164.arpa"
file = "$ZONES/e164.arpa.zone"
EOF
run enumd "$ENUMD" serve --config "$work/enumd.toml"

cat >"$work/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$PORT
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$ZONES"
    pidfile: "$work/nsd.pid"
    zonelistfile: "$work/zone.list"
    xfrdfile: "$work/xfrd.state"
    xfrdir: "$work"
    nsid: "ascii_nsd-lab"
remote-control:
    control-enable: no
zone:
    name: "e164.arpa"
    zonefile: "$ZONES/e164.arpa.zone"
EOF
run nsd nsd -d -c "$work/nsd.conf"

mkdir -p "$work/knot"
cat >"$work/knot.conf" <<EOF
server:
    rundir: "$work/knot"
    listen: 127.0.0.1@$PORT
    nsid: "knot-lab"
database:
    storage: "$work/knot"
template:
  - id: default
    storage: "$work/knot"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: e164.arpa
    file: "$ZONES/e164.arpa.zone"
EOF
run knot knotd -c "$work/knot.conf"

cat >"$work/named.conf" <<EOF
options {
    directory "$ZONES";
    pid-file "$work/named.pid";
    session-keyfile "$work/session.key";
    managed-keys-directory "$work";
    listen-on port $PORT { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    notify no;
    server-id "bind-lab";
};
controls { };
zone "e164.arpa" { type primary; file "$ZONES/e164.arpa.zone"; };
EOF
run bind named -g -4 -c "$work/named.conf"
