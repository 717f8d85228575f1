#!/usr/bin/env bash
# Start to first answer of clusterdns (--manifests, YAML) and of knotd (the same records as zone
# files) on the real-shape cluster, with two cores and pinned to one, in the same run; and
# clusterdns's peak RSS while loading against its settled RSS. See bench/README.md ("Start-up").
#
#   bench/startup.sh                 # 100000 Services, 3 runs of each
#   RUNS=5 bench/startup.sh 10000
#   CLUSTERDNS=/work/x/build/clusterdns SERVERS=clusterdns bench/startup.sh
#
# Environment knobs (defaults in brackets):
#   CLUSTERDNS [build/clusterdns]  binary under test
#   SERVERS ["clusterdns knot"]    which servers to measure
#   RUNS [3]             runs of each server in each mode (the table shows medians)
#   TWO_CORES [0,1]      the CPUs of the "two cores" runs (taskset -c)
#   ONE_CORE [1]         the CPU of the "one core" runs
#   WORKERS [2]          clusterdns --workers and knotd udp-workers
#   SETTLE [5]           seconds between the first answer and the settled RSS reading
#   SEED [42]            generator seed
#   DATA_DIR [/tmp/clusterdns-memory-data]  generated clusters (shared with memory.sh)
#   LOAD_TIMEOUT [600]   seconds a server may take to answer
#   KEEP [0]             keep the work directory (logs)
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
CLUSTERDNS=${CLUSTERDNS:-$REPO/build/clusterdns}
SERVERS=${SERVERS:-"clusterdns knot"}
RUNS=${RUNS:-3}
TWO_CORES=${TWO_CORES:-0,1}
ONE_CORE=${ONE_CORE:-1}
WORKERS=${WORKERS:-2}
SETTLE=${SETTLE:-5}
SEED=${SEED:-42}
DATA_DIR=${DATA_DIR:-/tmp/clusterdns-memory-data}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-600}
KEEP=${KEEP:-0}
SIZE=${1:-100000}

SERVER_PID=""
log()  { printf '[startup %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die()  { printf '[startup %(%H:%M:%S)T] ERROR: %s\n' -1 "$*" >&2; exit 1; }

[[ $SIZE =~ ^[0-9]+$ ]] && [ "$SIZE" -ge 1 ] || die "size must be a positive integer, got '$SIZE'"
for n in "$RUNS" "$WORKERS" "$SETTLE" "$SEED" "$LOAD_TIMEOUT"; do
    [[ $n =~ ^[0-9]+$ ]] || die "numeric setting expected, got '$n'"
done
command -v taskset >/dev/null || die "taskset not found (util-linux)"
WORK=$(mktemp -d /tmp/clusterdns-startup.XXXXXX) || die "mktemp failed"
RES=$WORK/runs.tsv
printf 'server\tcores\trun\tanswer_s\tcpu_s\tpeak_kib\tsettled_kib\n' > "$RES"

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID i
    SERVER_PID=""
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
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
cpu_s() { awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }

# The real-shape cluster, generated as memory.sh generates it (and reused from it).
DATA=$DATA_DIR/real-$SIZE-seed$SEED
STAMP="$(sha1sum "$BENCH_DIR/gen_cluster.py" | cut -d' ' -f1) --shape real --services $SIZE --seed $SEED"
if [ -f "$DATA/.stamp" ] && [ "$(cat "$DATA/.stamp")" = "$STAMP" ]; then
    log "reusing $DATA"
else
    rm -rf "$DATA"
    log "generating $SIZE Services (real shape) -> $DATA"
    python3 "$BENCH_DIR/gen_cluster.py" --shape real --services "$SIZE" --seed "$SEED" --out "$DATA" \
        || die "gen_cluster.py failed"
    echo "$STAMP" > "$DATA/.stamp"
fi
SAMPLE=$(awk 'NR == 1 { print $1 }' "$DATA/expected.txt")
PTR=$(awk '$2 == "PTR" { print $1; exit }' "$DATA/expected.txt")

# Starts a server (the command in "$@") pinned to $1, waits until a Service's A and its PTR
# answer, and records the time since the start, the CPU seconds and peak RSS then, and the RSS
# SETTLE seconds later. args: name cores run port log command...
measure() {
    local name=$1 cores=$2 run=$3 port=$4 out=$5 t0 t1 answer cpu peak settled
    shift 5
    t0=$(now)
    taskset -c "$cores" "$@" > "$out" 2>&1 &
    SERVER_PID=$!
    if ! python3 "$BENCH_DIR/dnscheck.py" wait --server "127.0.0.1:$port" --query "$SAMPLE A" \
            --query "$PTR PTR" --pid "$SERVER_PID" --timeout "$LOAD_TIMEOUT" > /dev/null; then
        log "$name did not answer:"; tail -n 20 "$out" | sed 's/^/    /' >&2
        stop_server; return 1
    fi
    t1=$(now)
    answer=$(elapsed "$t0" "$t1"); cpu=$(cpu_s "$SERVER_PID"); peak=$(status_kib "$SERVER_PID" VmHWM)
    sleep "$SETTLE"
    settled=$(status_kib "$SERVER_PID" VmRSS)
    stop_server
    log "$name, cores $cores, run $run: first answer after ${answer}s (${cpu} CPU s), peak $(mib "$peak") MiB, settled $(mib "$settled") MiB"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$cores" "$run" "$answer" "$cpu" "$peak" "$settled" >> "$RES"
}

run_clusterdns() { # cores run
    local port
    port=$(free_port) || die "no free port"
    measure clusterdns "$1" "$2" "$port" "$WORK/clusterdns.log" \
        "$CLUSTERDNS" --upstream none --lameduck 0 --health none --ready none --metrics none \
        --manifests "$DATA/manifests" --listen "127.0.0.1:$port" --workers "$WORKERS"
}

run_knot() { # cores run
    local port kdir=$WORK/knot
    port=$(free_port) || die "no free port"
    rm -rf "$kdir"; mkdir -p "$kdir/run" "$kdir/db"
    cat > "$kdir/knot.conf" <<EOF
# generated by bench/startup.sh (as memory.sh)
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
    storage: "$DATA/zones"
    file: "%s.zone"
    semantic-checks: off
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: cluster.local
  - domain: 10.in-addr.arpa
EOF
    measure knot "$1" "$2" "$port" "$kdir/knotd.log" knotd -c "$kdir/knot.conf"
}

[[ " $SERVERS " == *" clusterdns "* ]] && { [ -x "$CLUSTERDNS" ] || die "$CLUSTERDNS not found (set CLUSTERDNS)"; }
[[ " $SERVERS " == *" knot "* ]] && { command -v knotd >/dev/null || die "knotd not installed"; }
log "clusterdns $CLUSTERDNS; $SIZE Services; $RUNS runs; two cores: CPUs $TWO_CORES, one core: CPU $ONE_CORE"
# Servers and modes alternate run by run, so that what else the machine does falls on all alike.
for ((run = 1; run <= RUNS; run++)); do
    for cores in "$TWO_CORES" "$ONE_CORE"; do
        for srv in $SERVERS; do
            case $srv in
                clusterdns) run_clusterdns "$cores" "$run" ;;
                knot) run_knot "$cores" "$run" ;;
                *) die "unknown server '$srv'" ;;
            esac
        done
    done
done

python3 - "$RES" "$SIZE" "$TWO_CORES" "$ONE_CORE" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
size, two, one = sys.argv[2:5]

def med(server, cores, field):
    v = [float(r[field]) for r in rows if r["server"] == server and r["cores"] == cores]
    return statistics.median(v) if v else None

def f(x, spec):
    return "-" if x is None else spec % x

print()
print("start to first answer, %s real-shape Services (medians of runs; MiB = 2^20 bytes)" % size)
fmt = "%-11s %-9s %5s %9s %7s %9s %12s %12s"
print(fmt % ("server", "cores", "runs", "answer s", "CPU s", "peak MiB", "settled MiB", "peak/settled"))
print("-" * 82)
for server in dict.fromkeys(r["server"] for r in rows):
    for label, cores in (("two (%s)" % two, two), ("one (%s)" % one, one)):
        n = sum(1 for r in rows if r["server"] == server and r["cores"] == cores)
        peak, settled = med(server, cores, "peak_kib"), med(server, cores, "settled_kib")
        print(fmt % (server, label, n, f(med(server, cores, "answer_s"), "%.3f"),
                     f(med(server, cores, "cpu_s"), "%.2f"), f(peak and peak / 1024, "%.1f"),
                     f(settled and settled / 1024, "%.1f"),
                     f(peak / settled if peak and settled else None, "%.2f")))
print("-" * 82)
for label, cores in (("two cores", two), ("one core", one)):
    c, k = med("clusterdns", cores, "answer_s"), med("knot", cores, "answer_s")
    cc, kc = med("clusterdns", cores, "cpu_s"), med("knot", cores, "cpu_s")
    if c and k:
        print("clusterdns/knot, %-9s: answer %.2f, CPU %s" % (label, c / k, f(cc / kc if cc and kc else None, "%.2f")))
print("(answer: from the start of the process until a Service's A and its PTR answer; < 1: clusterdns first)")
EOF
