#!/usr/bin/env bash
# A huge headless Service: start-up time, and qps of SRV/A/ANY at it against the same queries at
# a small headless Service in the same zone, plus a normal ClusterIP name under a trickle of big
# SRV queries. See bench/README.md ("Big headless Services").
#
#   bench/big_headless.sh               # 50000 endpoints
#   bench/big_headless.sh 20000 50000   # several sizes, one after the other
#   CLUSTERDNS=/tmp/old/build/clusterdns DURATION=3 bench/big_headless.sh
#
# Environment knobs (defaults in brackets):
#   CLUSTERDNS [build/clusterdns]  binary under test
#   DURATION [5]          seconds per dnsperf run
#   OUTSTANDING [100]     dnsperf -q
#   SERVER_CPU [0]  CLIENT_CPU [1]   cores the server and dnsperf are pinned to
#   MIX_TARGET [20000]    qps the ClusterIP client asks for in the mixed run (dnsperf -Q)
#   MIX_RATE [67]         qps of SRV queries at the big Service beside it (dnsperf -Q)
#   LOAD_TIMEOUT [600]    seconds the server may take to print its listening line
#   BENCH_TMP [mktemp -d]  work directory;  KEEP [0] keep it (1 = keep)
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLUSTERDNS=${CLUSTERDNS:-$REPO/build/clusterdns}
DURATION=${DURATION:-5}
OUTSTANDING=${OUTSTANDING:-100}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MIX_TARGET=${MIX_TARGET:-20000}
MIX_RATE=${MIX_RATE:-67}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-600}
KEEP=${KEEP:-0}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(50000)

log() { printf '[big_headless %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for t in python3 dnsperf taskset; do
    command -v "$t" >/dev/null || die "'$t' not found in PATH"
done
[ -x "$CLUSTERDNS" ] || die "no clusterdns binary at $CLUSTERDNS (set CLUSTERDNS)"
for s in "${SIZES[@]}"; do
    [[ $s =~ ^[0-9]+$ ]] && [ "$s" -ge 1 ] && [ "$s" -le 1000000 ] || die "bad size '$s'"
done

if [ -n "${BENCH_TMP:-}" ]; then
    WORK=$BENCH_TMP
    mkdir -p "$WORK" || die "cannot create $WORK"
else
    WORK=$(mktemp -d /tmp/clusterdns-big-headless.XXXXXX) || die "mktemp failed"
fi
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=""
    fi
    [ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Namespace bulk: headless "big" with N ready endpoints (EndpointSlices of 1000, as the
# EndpointSlice controller cuts them), headless "small" with 3, ClusterIP "web".
generate() {
    python3 - "$1" "$2" <<'EOF'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
out = ["apiVersion: v1\nkind: Namespace\nmetadata: {name: bulk}\n"]
for name in ("big", "small"):
    out.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: bulk}}\n"
               "spec:\n  clusterIP: None\n  ports: [{name: http, protocol: TCP, port: 8080}]\n")
out.append("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: bulk}\n"
           "spec:\n  clusterIP: 10.96.0.20\n  ports: [{name: http, protocol: TCP, port: 80}]\n")
def slices(service, count, first_octet):
    for start in range(0, count, 1000):
        eps = "".join(f"  - addresses: [\"10.{first_octet + i // 65536}.{i // 256 % 256}.{i % 256}\"]\n"
                      "    conditions: {ready: true}\n"
                      for i in range(start, min(count, start + 1000)))
        out.append("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                   f"metadata:\n  name: {service}-{start // 1000}\n  namespace: bulk\n"
                   f"  labels: {{kubernetes.io/service-name: {service}}}\n"
                   "addressType: IPv4\nports: [{name: http, protocol: TCP, port: 8080}]\n"
                   "endpoints:\n" + eps)
slices("big", n, 64)
slices("small", 3, 32)
with open(path, "w") as f:
    f.write("---\n".join(out))
EOF
}

# Starts the server pinned; sets SERVER_PID, PORT and LOAD_S (fork to listening line).
start_server() {
    local manifests=$1 t0 t1 line
    t0=$(date +%s.%N)
    coproc SERVER { exec taskset -c "$SERVER_CPU" "$CLUSTERDNS" --upstream none --lameduck 0 --manifests "$manifests" \
        --listen 127.0.0.1:0 --workers 1 2>"$WORK/server.log"; }
    SERVER_PID=$SERVER_PID
    if ! read -r -t "$LOAD_TIMEOUT" line <&"${SERVER[0]}"; then
        die "no listening line within ${LOAD_TIMEOUT}s: $(tail -3 "$WORK/server.log")"
    fi
    t1=$(date +%s.%N)
    [[ $line =~ listening\ on\ 127\.0\.0\.1:([0-9]+) ]] || die "unexpected line: $line"
    PORT=${BASH_REMATCH[1]}
    LOAD_S=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
}

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

# qps of one query at the server: dnsperf pinned, looping over a one-line input file.
# args: "name TYPE" [extra dnsperf args...]; prints qps, stores the output in $WORK/last.out.
perf() {
    local query=$1
    shift
    printf '%s\n' "$query" >"$WORK/query.txt"
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/query.txt" \
        -l "$DURATION" -q "$OUTSTANDING" -t 2 "$@" >"$WORK/last.out" 2>&1
    awk '/Queries per second:/ { printf "%d\n", $4 }' "$WORK/last.out"
}
response_bytes() { awk '/Average packet size:/ { print $NF }' "$WORK/last.out"; }
ratio() { python3 -c "a, b = float('$1' or 0), float('$2' or 0); print(f'{a / b:.3f}' if b else '-')"; }

for size in "${SIZES[@]}"; do
    log "size $size: generating"
    generate "$size" "$WORK/bulk-$size.yaml"
    log "size $size: starting $CLUSTERDNS"
    start_server "$WORK/bulk-$size.yaml"
    rss=$(awk '/VmRSS/ { print int($2 / 1024) }' "/proc/$SERVER_PID/status")
    big=big.bulk.svc.cluster.local
    small=small.bulk.svc.cluster.local

    printf '\n%d endpoints: start-up %s s (fork to listening line), RSS %s MiB\n' \
        "$size" "$LOAD_S" "$rss"
    printf '%-28s %12s %12s %8s %10s\n' query "big qps" "small qps" big/small "big bytes"
    for q in "_http._tcp.%s SRV" "%s SRV" "%s A" "%s ANY"; do
        # shellcheck disable=SC2059
        big_qps=$(perf "$(printf "$q" "$big")")
        big_bytes=$(response_bytes)
        # shellcheck disable=SC2059
        small_qps=$(perf "$(printf "$q" "$small")")
        # shellcheck disable=SC2059
        printf '%-28s %12s %12s %8s %10s\n' "$(printf "$q" "<svc>")" "$big_qps" "$small_qps" \
            "$(ratio "$big_qps" "$small_qps")" "$big_bytes"
    done

    # Mixed load: a ClusterIP client asking MIX_TARGET qps, alone and beside MIX_RATE qps of SRV
    # at the big Service (both clients on the client core).
    alone=$(perf "web.bulk.svc.cluster.local A" -Q "$MIX_TARGET")
    printf '%s\n' "_http._tcp.$big SRV" >"$WORK/attack.txt"
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" -d "$WORK/attack.txt" \
        -l "$((DURATION + 1))" -q 20 -t 2 -Q "$MIX_RATE" >"$WORK/attack.out" 2>&1 &
    attack_pid=$!
    mixed=$(perf "web.bulk.svc.cluster.local A" -Q "$MIX_TARGET")
    wait "$attack_pid"
    attack_qps=$(awk '/Queries per second:/ { printf "%d", $4 }' "$WORK/attack.out")
    printf '%-28s %12s %12s %8s\n' "ClusterIP A, asked $MIX_TARGET" "$mixed" "$alone" \
        "$(ratio "$mixed" "$alone")"
    printf '  (left: beside %s qps of big SRV, which got %s qps; right: alone)\n' \
        "$MIX_RATE" "$attack_qps"
    stop_server
done
