#!/usr/bin/env bash
# Memory and load time of clusterdns and knotd on the real-shape cluster. See bench/README.md
# ("Memory and load time").
#
#   bench/memory.sh                  # 10000 and 100000 Services
#   bench/memory.sh 10000            # one size
#   CLUSTERDNS=/work/x/build/clusterdns SERVERS=clusterdns bench/memory.sh 100000
#
# Environment knobs (defaults in brackets):
#   CLUSTERDNS [build/clusterdns]  binary under test
#   SERVERS ["clusterdns knot"]    which servers to measure, one after the other
#   WORKERS [2]          clusterdns --workers and knotd udp-workers
#   SETTLE [5]           seconds between the load and the "settled" reading
#   NQUERY [20000]       queries (the first lines of queries.txt) sent before the last reading
#   SEED [42]            generator seed
#   DATA_DIR [/tmp/clusterdns-memory-data]  generated clusters, kept and reused across runs
#   LOAD_TIMEOUT [600]   seconds a server may take to load
#   CHECK [1]            replay check.txt on both servers and diff the answers (0 = off)
#   BENCH_TMP [mktemp -d]  logs and recordings;  KEEP [0] keep them (1 = keep)
#   RESULTS []           also copy the results TSV to this file
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
CLUSTERDNS=${CLUSTERDNS:-$REPO/build/clusterdns}
SERVERS=${SERVERS:-"clusterdns knot"}
WORKERS=${WORKERS:-2}
SETTLE=${SETTLE:-5}
NQUERY=${NQUERY:-20000}
SEED=${SEED:-42}
DATA_DIR=${DATA_DIR:-/tmp/clusterdns-memory-data}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-600}
CHECK=${CHECK:-1}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(10000 100000)

SERVER_PID=""
STATUS=0
log()  { printf '[memory %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
warn() { printf '[memory %(%H:%M:%S)T] WARNING: %s\n' -1 "$*" >&2; }
die()  { printf '[memory %(%H:%M:%S)T] ERROR: %s\n' -1 "$*" >&2; exit 1; }

for s in "${SIZES[@]}"; do
    [[ $s =~ ^[0-9]+$ ]] && [ "$s" -ge 1 ] || die "size must be a positive integer, got '$s'"
done
for n in "$WORKERS" "$SETTLE" "$NQUERY" "$SEED" "$LOAD_TIMEOUT"; do
    [[ $n =~ ^[0-9]+$ ]] || die "numeric setting expected, got '$n'"
done
command -v python3 >/dev/null || die "python3 not found"
HAVE_DNSPERF=0
command -v dnsperf >/dev/null && HAVE_DNSPERF=1

if [ -n "${BENCH_TMP:-}" ]; then
    WORK=$BENCH_TMP
    mkdir -p "$WORK" || die "cannot create $WORK"
else
    WORK=$(mktemp -d /tmp/clusterdns-memory.XXXXXX) || die "mktemp failed"
fi
mkdir -p "$DATA_DIR" || die "cannot create $DATA_DIR"
RES_TSV=$WORK/memory.tsv
printf 'size\tserver\tstatus\tload_s\tload_cpu_s\tpeak_load_kib\trss_load_kib\trss_settled_kib\trss_queries_kib\tpeak_final_kib\tendpoints\tcheck\n' > "$RES_TSV"

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID i
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && { warn "pid $pid ignored SIGTERM for 10s, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    stop_server
    if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CLK_TCK=$(getconf CLK_TCK)
# CPU seconds (user + system, all threads) process $1 has used.
cpu_s() { awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }


# Generate the real-shape cluster of $1 Services into $DATA_DIR, or reuse it when the same
# generator (by checksum) already wrote it with the same parameters.
generate() {
    local size=$1 data=$DATA_DIR/real-$1-seed$SEED stamp
    stamp="$(sha1sum "$BENCH_DIR/gen_cluster.py" | cut -d' ' -f1) --shape real --services $size --seed $SEED"
    if [ -f "$data/.stamp" ] && [ "$(cat "$data/.stamp")" = "$stamp" ]; then
        log "reusing $data" >&2
    else
        rm -rf "$data"
        log "generating $size Services (real shape) -> $data"
        python3 "$BENCH_DIR/gen_cluster.py" --shape real --services "$size" --seed "$SEED" --out "$data" \
            || die "gen_cluster.py failed for size $size"
        echo "$stamp" > "$data/.stamp"
    fi
    head -n "$NQUERY" "$data/queries.txt" > "$WORK/queries-$size.txt"
    echo "$data"
}

# Sends the first NQUERY queries once (dnsperf, or dnscheck without it). args: port size
send_queries() {
    local port=$1 size=$2 out=$WORK/$3-$size.queries.txt
    if [ "$HAVE_DNSPERF" = 1 ]; then
        dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries-$size.txt" -n 1 -q 100 -t 2 > "$out" 2>&1 \
            || { warn "dnsperf failed:"; sed 's/^/    /' "$out" >&2; return 1; }
        log "$3: $(awk '/Queries completed:/ { print $3 " of " NQ " queries answered" }' NQ="$NQUERY" "$out")"
    else
        python3 "$BENCH_DIR/dnscheck.py" record --server "127.0.0.1:$port" --queries "$WORK/queries-$size.txt" \
            --count "$NQUERY" --out "$out" || return 1
    fi
}

# The readings after the load; sets SETTLED, AFTER_Q, PEAK_FINAL and records check.txt answers.
# args: name size port data
readings() {
    local name=$1 size=$2 port=$3 data=$4 pid=$SERVER_PID
    sleep "$SETTLE"
    kill -0 "$pid" 2>/dev/null || return 1
    SETTLED=$(status_kib "$pid" VmRSS)
    send_queries "$port" "$size" "$name" || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    AFTER_Q=$(status_kib "$pid" VmRSS); PEAK_FINAL=$(status_kib "$pid" VmHWM)
    log "$name: settled RSS $(mib "$SETTLED") MiB, after $NQUERY queries $(mib "$AFTER_Q") MiB, peak $(mib "$PEAK_FINAL") MiB"
    if [ "$CHECK" = 1 ]; then
        python3 "$BENCH_DIR/dnscheck.py" record --server "127.0.0.1:$port" --pid "$pid" --edns 1232 \
            --queries "$data/check.txt" --count 10000000 --out "$WORK/$name-$size.check.txt" \
            || { warn "$name: recording check.txt failed"; rm -f "$WORK/$name-$size.check.txt"; }
    fi
    return 0
}

row() { # size name status load load_cpu peak rss settled after_q peak_final endpoints
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\n' "$@" >> "$RES_TSV"
}

run_clusterdns() {
    local size=$1 data=$2 endpoints=$3 out=$WORK/clusterdns-$1
    if [ ! -x "$CLUSTERDNS" ]; then
        log "SKIP clusterdns: $CLUSTERDNS not found (set CLUSTERDNS)"; row "$size" clusterdns SKIPPED - - - - - - - "$endpoints"
        return 0
    fi
    log "clusterdns: starting on $size Services ($CLUSTERDNS, --workers $WORKERS)"
    local t0 t1 i=0
    t0=$(now)
    "$CLUSTERDNS" --upstream none --lameduck 0 --manifests "$data/manifests" --listen 127.0.0.1:0 --workers "$WORKERS" \
        > "$out.stdout" 2> "$out.stderr" &
    SERVER_PID=$!
    while ! grep -q 'listening on' "$out.stdout" 2>/dev/null; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            warn "clusterdns exited before its listening line:"; tail -n 20 "$out.stderr" | sed 's/^/    /' >&2
            SERVER_PID=""; row "$size" clusterdns START_FAILED - - - - - - - "$endpoints"; STATUS=1; return 1
        fi
        if (( ++i % 200 == 0 )) && awk -v a="$t0" -v b="$(now)" -v l="$LOAD_TIMEOUT" 'BEGIN { exit !(b - a > l) }'; then
            warn "clusterdns did not listen within ${LOAD_TIMEOUT}s"; stop_server
            row "$size" clusterdns START_TIMEOUT - - - - - - - "$endpoints"; STATUS=1; return 1
        fi
        sleep 0.005
    done
    t1=$(now)
    local peak rss load port cpu
    peak=$(status_kib "$SERVER_PID" VmHWM); rss=$(status_kib "$SERVER_PID" VmRSS); cpu=$(cpu_s "$SERVER_PID")
    load=$(elapsed "$t0" "$t1")
    port=$(grep -m1 -o 'listening on .*' "$out.stdout" | awk '{ print $3 }' | sed -E 's/.*:([0-9]+)$/\1/')
    log "clusterdns: listening on port $port after ${load}s (${cpu} CPU s), peak $(mib "$peak") MiB, RSS $(mib "$rss") MiB"
    log "clusterdns: $(grep -m1 'loaded' "$out.stderr" | sed 's/^\[INFO\] clusterdns: //')"
    if ! readings clusterdns "$size" "$port" "$data"; then
        warn "clusterdns died after loading"; stop_server
        row "$size" clusterdns DIED "$load" "$cpu" "$peak" "$rss" - - - "$endpoints"; STATUS=1; return 1
    fi
    stop_server
    row "$size" clusterdns ok "$load" "$cpu" "$peak" "$rss" "$SETTLED" "$AFTER_Q" "$PEAK_FINAL" "$endpoints"
}

run_knot() {
    local size=$1 data=$2 endpoints=$3 kdir=$WORK/knot-$1
    if ! command -v knotd >/dev/null; then
        log "SKIP knot: knotd not installed"; row "$size" knot SKIPPED - - - - - - - "$endpoints"; return 0
    fi
    local port
    port=$(free_port) || { warn "no free port"; row "$size" knot NO_PORT - - - - - - - "$endpoints"; STATUS=1; return 1; }
    rm -rf "$kdir"; mkdir -p "$kdir/run" "$kdir/db"
    cat > "$kdir/knot.conf" <<EOF
# generated by bench/memory.sh
server:
    rundir: "$kdir/run"
    listen: 127.0.0.1@$port
    udp-workers: $WORKERS
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
database:
    storage: "$kdir/db"
template:
  - id: default
    storage: "$data/zones"
    file: "%s.zone"
    semantic-checks: off
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: cluster.local
  - domain: 10.in-addr.arpa
EOF
    log "knot: starting knotd on port $port ($size Services, udp-workers $WORKERS)"
    local t0 t1 sample ptr
    sample=$(awk 'NR == 1 { print $1 }' "$data/expected.txt")
    ptr=$(awk '$2 == "PTR" { print $1; exit }' "$data/expected.txt")
    t0=$(now)
    knotd -c "$kdir/knot.conf" > "$kdir/knotd.log" 2>&1 &
    SERVER_PID=$!
    # knotd loads its zones in the background after it starts: loaded = both zones answer.
    if ! python3 "$BENCH_DIR/dnscheck.py" wait --server "127.0.0.1:$port" --query "$sample A" --query "$ptr PTR" \
            --pid "$SERVER_PID" --timeout "$LOAD_TIMEOUT" --fail-log "$kdir/knotd.log" --fail-regex ' error: \[' > /dev/null; then
        warn "knotd did not serve the zones:"; tail -n 20 "$kdir/knotd.log" | sed 's/^/    /' >&2
        stop_server; row "$size" knot START_FAILED - - - - - - - "$endpoints"; STATUS=1; return 1
    fi
    t1=$(now)
    local peak rss load cpu
    peak=$(status_kib "$SERVER_PID" VmHWM); rss=$(status_kib "$SERVER_PID" VmRSS); cpu=$(cpu_s "$SERVER_PID")
    load=$(elapsed "$t0" "$t1")
    log "knot: both zones answer after ${load}s (${cpu} CPU s), peak $(mib "$peak") MiB, RSS $(mib "$rss") MiB"
    if command -v knotc >/dev/null; then
        log "knot: zone-status: $(knotc -c "$kdir/knot.conf" zone-status 2>&1 | tr '\n' ' ')"
    fi
    if ! readings knot "$size" "$port" "$data"; then
        warn "knotd died after loading"; stop_server
        row "$size" knot DIED "$load" "$cpu" "$peak" "$rss" - - - "$endpoints"; STATUS=1; return 1
    fi
    stop_server
    row "$size" knot ok "$load" "$cpu" "$peak" "$rss" "$SETTLED" "$AFTER_Q" "$PEAK_FINAL" "$endpoints"
}

log "work dir $WORK; data dir $DATA_DIR; sizes ${SIZES[*]}; servers $SERVERS"
[ -x "$CLUSTERDNS" ] && log "clusterdns binary: $CLUSTERDNS"
CHECKS=()
for size in "${SIZES[@]}"; do
    data=$(generate "$size") || exit 1
    endpoints=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["endpoints"])' "$data/meta.json")
    for srv in $SERVERS; do
        case $srv in
            clusterdns) run_clusterdns "$size" "$data" "$endpoints" ;;
            knot) run_knot "$size" "$data" "$endpoints" ;;
            *) die "unknown server '$srv'" ;;
        esac
    done
    a=$WORK/clusterdns-$size.check.txt b=$WORK/knot-$size.check.txt
    if [ -f "$a" ] && [ -f "$b" ]; then
        if python3 "$BENCH_DIR/dnscheck.py" diff "$a" "$b" --show 5 > "$WORK/diff-$size.txt"; then
            CHECKS+=("$size: $(head -n 1 "$WORK/diff-$size.txt" | sed 's/^dnscheck diff: //')")
        else
            CHECKS+=("$size: DIFFERENT: $(grep -m1 'responses identical' "$WORK/diff-$size.txt" | sed 's/^dnscheck diff: //')")
            warn "clusterdns and knot answer check.txt differently:"; sed 's/^/    /' "$WORK/diff-$size.txt" >&2
            STATUS=1
        fi
    fi
done

[ -n "$RESULTS" ] && cp "$RES_TSV" "$RESULTS"

python3 - "$RES_TSV" "$NQUERY" "$SETTLE" "${CHECKS[@]}" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
nq, settle, checks = sys.argv[2], sys.argv[3], sys.argv[4:]

def mib(kib):
    try:
        return "%.1f" % (int(kib) / 1024)
    except ValueError:
        return "-"

print()
print("memory and load time, real-shape cluster (MiB = 2^20 bytes; B/Service = settled RSS / Services)")
hdr = ("services", "server", "load s", "CPU s", "peak MiB", "load MiB", "settled MiB", "after-Q MiB",
       "final peak", "B/Service", "status")
fmt = "%9s %-11s %7s %6s %9s %9s %12s %12s %11s %10s  %s"
print(fmt % hdr)
print("-" * 111)
by = {}
for r in rows:
    by[(r["size"], r["server"])] = r
    bps = "-"
    if r["status"] == "ok":
        bps = "%.0f" % (int(r["rss_settled_kib"]) * 1024 / int(r["size"]))
    print(fmt % (r["size"], r["server"], r["load_s"], r["load_cpu_s"], mib(r["peak_load_kib"]), mib(r["rss_load_kib"]),
                 mib(r["rss_settled_kib"]), mib(r["rss_queries_kib"]), mib(r["peak_final_kib"]), bps,
                 r["status"]))
sizes = list(dict.fromkeys(r["size"] for r in rows))
ratios = []
for size in sizes:
    c, k = by.get((size, "clusterdns")), by.get((size, "knot"))
    if not c or not k or c["status"] != "ok" or k["status"] != "ok":
        continue
    def ratio(f):
        return "%.2f" % (float(c[f]) / float(k[f])) if float(k[f]) else "-"
    ratios.append(fmt % (size, "cdns/knot", ratio("load_s"), ratio("load_cpu_s"), ratio("peak_load_kib"), ratio("rss_load_kib"),
                         ratio("rss_settled_kib"), ratio("rss_queries_kib"), ratio("peak_final_kib"),
                         ratio("rss_settled_kib"), ""))
if ratios:
    print("-" * 111)
    print("\n".join(ratios))
    print("(ratios < 1: clusterdns loads faster / uses less memory)")
ok = [r for r in rows if r["status"] == "ok"]
servers = list(dict.fromkeys(r["server"] for r in ok))
marg = []
for s in servers:
    pts = sorted((int(r["size"]), int(r["rss_settled_kib"])) for r in ok if r["server"] == s)
    if len(pts) >= 2 and pts[-1][0] > pts[0][0]:
        (n0, k0), (n1, k1) = pts[0], pts[-1]
        marg.append("%s %.0f" % (s, (k1 - k0) * 1024 / (n1 - n0)))
if marg:
    print("marginal bytes per Service (settled RSS, %s to %s Services): %s"
          % (pts[0][0], pts[-1][0], ", ".join(marg)))
print()
print("CoreDNS's published estimate (coredns/deployment kubernetes/Scaling_CoreDNS.md, default settings):")
print("  MB required = (Pods + Services) / 1000 + 54   (includes 30 MB of full cache and 5 MB of query buffers)")
for size in sizes:
    eps = next((r["endpoints"] for r in rows if r["size"] == size), "0")
    pods = int(eps)
    print("  %s Services + %d Pods (one per endpoint) -> %.0f MB" % (size, pods, (pods + int(size)) / 1000 + 54))
if checks:
    print()
    print("answers to check.txt (every name and type of 200 sampled Services, EDNS 1232), clusterdns vs knot:")
    for c in checks:
        print("  " + c)
EOF
log "results TSV: $RES_TSV$([ "$KEEP" = 1 ] || echo ' (deleted on exit; KEEP=1 or RESULTS=FILE to keep)')"
exit $STATUS
