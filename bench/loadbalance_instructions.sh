#!/bin/bash
# What loadbalance costs on the query path: user-space instructions under callgrind (they do not
# move with the machine's load), one worker answering QUERIES (20,000) A queries for a headless
# Service of 8 endpoints (tests/data/loadbalance.yaml) with loadbalance on, then off. Prints
# per query: the rotation's instructions beside handle_query's (the zone's answer), and the
# whole process's with it on beside off (start-up, the same for both, spread over the queries).
#
#   bench/loadbalance_instructions.sh [build/clusterdns]
set -euo pipefail
BIN=${1:-build/clusterdns}
QUERIES=${QUERIES:-20000}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for _ in $(seq "$QUERIES"); do echo "eight.lb.svc.cluster.local A"; done > "$TMP/queries.txt"

# Ir of the lines of `callgrind_annotate --inclusive=yes` naming $2 in output file $1.
ir_of() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null | grep -E "$2" | head -1 |
        awk '{gsub(",", "", $1); print $1}'
}

run() {
    local mode=$1 port
    port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    valgrind --tool=callgrind --callgrind-out-file="$TMP/$mode.out" "$BIN" \
        --manifests "$HERE/../tests/data/loadbalance.yaml" --listen "127.0.0.1:$port" \
        --workers 1 --upstream none --health none --ready none --metrics none --lameduck 0 \
        --loadbalance "$mode" > "$TMP/$mode.stdout" 2> "$TMP/$mode.stderr" &
    local pid=$!
    for _ in $(seq 200); do grep -q listening "$TMP/$mode.stdout" && break; sleep 0.1; done
    dnsperf -s 127.0.0.1 -p "$port" -d "$TMP/queries.txt" -n 1 -c 1 -q 20 | grep -E "Queries completed" >&2
    kill -TERM "$pid"
    wait "$pid" || true
}

run true
run false
on_total=$(ir_of "$TMP/true.out" "PROGRAM TOTALS")
off_total=$(ir_of "$TMP/false.out" "PROGRAM TOTALS")
rotate=$(ir_of "$TMP/true.out" "clusterdns::rotate_addresses")
zone=$(ir_of "$TMP/true.out" "clusterdns::handle_query\(")
echo "instructions per query, 8-address answer ($QUERIES queries, one worker)"
printf "  rotate_addresses   %6d   handle_query (reference) %6d   ratio %.3f\n" \
    $((rotate / QUERIES)) $((zone / QUERIES)) "$(echo "$rotate / $zone" | bc -l)"
printf "  process, on        %6d   process, off (reference) %6d   ratio %.3f\n" \
    $((on_total / QUERIES)) $((off_total / QUERIES)) "$(echo "$on_total / $off_total" | bc -l)"
