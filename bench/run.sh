#!/usr/bin/env bash
# clusterdns vs knotd benchmark.  See bench/README.md.
#
#   bench/run.sh                 # 10000 and 100000 services, DURATION=30
#   bench/run.sh 10000           # one size
#   DURATION=5 bench/run.sh 10000
#
# Environment knobs (defaults in brackets):
#   DURATION [30]        dnsperf measured run length, seconds
#   WARMUP [2]           unmeasured dnsperf run before the measured one, seconds (0 = none)
#   OUTSTANDING [200]    dnsperf -q (max queries in flight)
#   CLIENTS [1]          dnsperf -c ;  DNSPERF_THREADS [1] dnsperf -T
#   RATE []              dnsperf -Q: queries per second offered (default: as fast as answered).
#                        Both servers then see the same load: a server that keeps up with
#                        dnsperf idles between batches, and its CPU per query depends on how
#                        idle it is (fewer queries per system call), so compare at one rate
#   SERVER_CPU [0]       core the server (all its threads) is pinned to
#   CLIENT_CPU [1]       core dnsperf is pinned to
#   SERVERS ["clusterdns knot"]   which servers to run, in order
#   CLUSTERDNS [build/clusterdns] binary under test
#   NAMESPACES [100]  NQUERIES [100000]  SEED [42]   generator parameters
#   SHAPE [classic]      gen_cluster.py --shape: classic or real (see bench/README.md)
#   LOAD_TIMEOUT [600]   seconds a server may take to load before it counts as failed
#   REPEAT [1]           measured runs per server and size; the median (by qps) is reported
#   QUERY_SETS ["mixed internal"]  query files measured on each server, a row each: mixed is
#                        queries.txt (every kind, PTR and NXDOMAIN too), internal is
#                        queries-internal.txt (names of Services and endpoints that exist)
#   CHECK_COUNT [1000]   queries replayed one by one to cross-check answers (0 = off)
#   BENCH_TMP [mktemp -d]  work directory;  KEEP [0] keep it on exit (1 = keep)
#   RESULTS []           also copy the results TSV to this file
set -u -o pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

DURATION=${DURATION:-30}
WARMUP=${WARMUP:-2}
OUTSTANDING=${OUTSTANDING:-200}
CLIENTS=${CLIENTS:-1}
DNSPERF_THREADS=${DNSPERF_THREADS:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SERVERS=${SERVERS:-"clusterdns knot"}
CLUSTERDNS=${CLUSTERDNS:-$REPO/build/clusterdns}
NAMESPACES=${NAMESPACES:-100}
NQUERIES=${NQUERIES:-100000}
SEED=${SEED:-42}
SHAPE=${SHAPE:-classic}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-600}
CHECK_COUNT=${CHECK_COUNT:-1000}
REPEAT=${REPEAT:-1}
RATE=${RATE:-}
QUERY_SETS=${QUERY_SETS:-"mixed internal"}
KEEP=${KEEP:-0}
RESULTS=${RESULTS:-}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(10000 100000)

CLK_TCK=$(getconf CLK_TCK)
SERVER_PID=""
SERVER_NAME=""
CLIENT_PID=""
STATUS=0
NOISY=0

log()  { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
warn() { printf '[bench %(%H:%M:%S)T] WARNING: %s\n' -1 "$*" >&2; }
die()  { printf '[bench %(%H:%M:%S)T] ERROR: %s\n' -1 "$*" >&2; exit 1; }

# ---- preflight ------------------------------------------------------------
for s in "${SIZES[@]}"; do
    [[ $s =~ ^[0-9]+$ ]] && [ "$s" -ge 1 ] || die "size must be a positive integer, got '$s' (usage: bench/run.sh [SIZE ...])"
done
for t in python3 dnsperf taskset getconf; do
    command -v "$t" >/dev/null || die "'$t' not found in PATH"
done
for n in "$DURATION" "$WARMUP" "$OUTSTANDING" "$CLIENTS" "$DNSPERF_THREADS" "$LOAD_TIMEOUT" "$CHECK_COUNT" "$REPEAT"; do
    [[ $n =~ ^[0-9]+$ ]] || die "numeric setting expected, got '$n'"
done
[ "$DURATION" -ge 1 ] || die "DURATION must be >= 1"
[ "$REPEAT" -ge 1 ] || die "REPEAT must be >= 1"
[ -z "$RATE" ] || [[ $RATE =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive integer, got '$RATE'"
for q in $QUERY_SETS; do
    case $q in mixed|internal) ;; *) die "unknown query set '$q' in QUERY_SETS (mixed, internal)" ;; esac
done
query_file() { # data set
    case $2 in mixed) echo "$1/queries.txt" ;; internal) echo "$1/queries-internal.txt" ;; esac
}
NCPU=$(nproc --all)
[ "$SERVER_CPU" -lt "$NCPU" ] && [ "$CLIENT_CPU" -lt "$NCPU" ] || die "SERVER_CPU/CLIENT_CPU must be < $NCPU"
[ "$SERVER_CPU" != "$CLIENT_CPU" ] || warn "server and client pinned to the same core ($SERVER_CPU): numbers will be meaningless"

if [ -n "${BENCH_TMP:-}" ]; then
    WORK=$BENCH_TMP
    mkdir -p "$WORK" || die "cannot create $WORK"
else
    WORK=$(mktemp -d /tmp/clusterdns-bench.XXXXXX) || die "mktemp failed"
fi
RES_TSV=$WORK/results.tsv
printf 'size\tserver\tstatus\tqps\tlat_ms\tcpu_us_q\tsrv_cpu_pct\tcli_cpu_pct\tcompleted_pct\trss_mib\tpeak_mib\tload_s\tthreads\n' > "$RES_TSV"

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid=$SERVER_PID name=$SERVER_NAME i rc
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "$name (pid $pid) ignored SIGTERM for 10s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    if [ "$name" = clusterdns ] && [ "$rc" -ne 0 ]; then
        warn "clusterdns exited with status $rc after SIGTERM (contract says 0)"
    fi
    return 0
}

# dnsperf in the background + wait, so that a signal to this script is handled at once.
# args: port queries seconds outfile
# Sets CLIENT_CPU_S to the CPU seconds (user+sys) dnsperf used, via the shell's
# children rusage (`times`, run without a subshell so that it sees dnsperf), and
# CLIENT_WALL_S to dnsperf's whole lifetime (includes reading the query file and the
# -t 2 wait for late answers, so client CPU% slightly underestimates the busy part).
CLIENT_CPU_S=0
CLIENT_WALL_S=0
times_file_s() {
    awk 'NR == 2 { n = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); n += p[1] * 60 + p[2] } print n }' "$1"
}
run_dnsperf() {
    local before after
    times > "$WORK/.times0"     # must not run in a subshell
    before=$(times_file_s "$WORK/.times0")
    local w0=$EPOCHREALTIME
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$3" \
        -c "$CLIENTS" -T "$DNSPERF_THREADS" -q "$OUTSTANDING" -t 2 ${RATE:+-Q "$RATE"} > "$4" 2>&1 &
    CLIENT_PID=$!
    wait "$CLIENT_PID"
    local rc=$?
    CLIENT_WALL_S=$(elapsed "$w0" "$EPOCHREALTIME")
    CLIENT_PID=""
    times > "$WORK/.times1"
    after=$(times_file_s "$WORK/.times1")
    CLIENT_CPU_S=$(awk -v a="$before" -v b="$after" 'BEGIN { printf "%.3f", b - a }')
    return $rc
}

cleanup() {
    if [ -n "$CLIENT_PID" ]; then kill -TERM "$CLIENT_PID" 2>/dev/null; wait "$CLIENT_PID" 2>/dev/null; fi
    stop_server
    if [ "$KEEP" = 1 ]; then
        log "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'warn "interrupted"; exit 130' INT TERM HUP

# utime+stime (clock ticks) of the whole process, all threads, live and exited.
cpu_ticks() {
    local s
    s=$(<"/proc/$1/stat") || return 1
    s=${s##*) }                 # drop "pid (comm) " -- comm may contain spaces
    set -- $s                   # $1 = state (field 3) ... utime = field 14, stime = 15
    echo $(( ${12} + ${13} ))
}


# Threads of $1 whose affinity is not exactly SERVER_CPU ("tid:comm:cpus" list).
unpinned_threads() {
    local t cpus bad=""
    for t in /proc/"$1"/task/*; do
        cpus=$(awk '/^Cpus_allowed_list:/ { print $2 }' "$t/status" 2>/dev/null) || continue
        [ -z "$cpus" ] && continue
        [ "$cpus" = "$SERVER_CPU" ] || bad="$bad ${t##*/}:$(<"$t/comm"):$cpus"
    done
    echo "$bad"
}
# % of all CPUs busy (not idle/iowait) over one second -- other work on the machine
# (a compiler, another benchmark) makes the numbers meaningless on 2 cores.
machine_busy_pct() {
    local a b
    a=$(awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); dt = y[1] - x[1];
        printf "%.0f", (dt > 0 ? 100 * (dt - (y[2] - x[2])) / dt : 0) }'
}
check_quiet() {
    local busy
    busy=$(machine_busy_pct)
    if [ "$busy" -gt 10 ]; then
        warn "machine is ${busy}% busy before the $1 run (busiest other processes, lifetime CPU%: $(ps -eo pid=,pcpu=,comm= --sort=-pcpu | awk -v me=$$ -v srv="$SERVER_PID" '$1 != me && $1 != srv && $2 > 5 { printf "%s(%s%%) ", $3, $2 }' | cut -c1-200)) -- results will be noisy"
        NOISY=1
    fi
}

thread_count() { ls "/proc/$1/task" | wc -l; }

# Pin every thread of $1 to SERVER_CPU and verify (servers may start threads after exec,
# and some set their own affinity).  Returns 1 if a thread could not be pinned.
pin_all() {
    local pid=$1 bad
    taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null || { warn "taskset -a -p failed for pid $pid"; return 1; }
    sleep 0.2
    bad=$(unpinned_threads "$pid")
    if [ -n "$bad" ]; then
        taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null
        sleep 0.2
        bad=$(unpinned_threads "$pid")
        [ -z "$bad" ] || { warn "threads of pid $pid not pinned to cpu $SERVER_CPU:$bad"; return 1; }
    fi
    return 0
}

record_failure() { # size server reason
    printf '%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$1" "$2" "$3" >> "$RES_TSV"
}

# One measured dnsperf run against pid $SERVER_PID; echoes a results row (without
# size/server/status/rss/peak/load, see measure) and logs. args: name port queries outfile
one_run() {
    local name=$1 port=$2 queries=$3 out=$4 pid=$SERVER_PID c0 c1 prc bad
    c0=$(cpu_ticks "$pid") || return 2
    run_dnsperf "$port" "$queries" "$DURATION" "$out"
    prc=$?
    c1=$(cpu_ticks "$pid") || { warn "$name died during the run"; return 2; }
    if [ $prc -ne 0 ]; then
        warn "$name: dnsperf exited with $prc"; sed 's/^/    /' "$out" >&2; return 3
    fi
    bad=$(unpinned_threads "$pid")
    [ -z "$bad" ] || warn "$name: threads not pinned after the run:$bad (results suspect)"
    local sent completed lost qps lat runtime
    sent=$(awk '/Queries sent:/ { print $3 }' "$out")
    completed=$(awk '/Queries completed:/ { print $3 }' "$out")
    lost=$(awk '/Queries lost:/ { print $3 }' "$out")
    qps=$(awk '/Queries per second:/ { print $4 }' "$out")
    lat=$(awk '/Average Latency/ { print $4 }' "$out")
    runtime=$(awk '/Run time \(s\):/ { print $4 }' "$out")
    if [ -z "$completed" ] || [ "${completed:-0}" -eq 0 ]; then
        warn "$name: no answered queries"; sed 's/^/    /' "$out" >&2; return 4
    fi
    log "$name: $(grep -E 'Response codes' "$out" | sed 's/^ *//')"
    local row
    # qps lat_ms cpu_us_q srv_cpu_pct cli_cpu_pct completed_pct
    row=$(awk -v qps="$qps" -v lat="$lat" -v dt=$((c1 - c0)) -v hz="$CLK_TCK" -v comp="$completed" \
              -v sent="$sent" -v rt="$runtime" -v ccpu="$CLIENT_CPU_S" -v cwall="$CLIENT_WALL_S" 'BEGIN {
        cpu_s = dt / hz
        printf "%.0f\t%.3f\t%.2f\t%.0f\t%.0f\t%.2f\n", qps, lat * 1000, cpu_s * 1e6 / comp,
            (rt > 0 ? 100 * cpu_s / rt : 0), (cwall > 0 ? 100 * ccpu / cwall : 0), 100 * comp / sent }')
    log "$name: qps=$(cut -f1 <<<"$row") lat_ms=$(cut -f2 <<<"$row") cpu_us/q=$(cut -f3 <<<"$row") server_cpu=$(cut -f4 <<<"$row")% dnsperf_cpu=$(cut -f5 <<<"$row")% lost=$lost/$sent"
    awk -v c="$completed" -v s="$sent" 'BEGIN { exit !(c / s < 0.99) }' && \
        warn "$name: $lost of $sent queries lost (>1%); consider lowering OUTSTANDING"
    echo "$row"
}

# Sanity check + answer recording + warmup + REPEAT measured runs (median by qps kept).
# args: size server port load_s rss_kib peak_kib datadir
measure() {
    local size=$1 name=$2 port=$3 load=$4 rss=$5 peak=$6 data=$7
    local pid=$SERVER_PID out=$WORK/$name-$size
    local bad threads r row rows=()

    if ! python3 "$BENCH_DIR/dnscheck.py" expect --server "127.0.0.1:$port" --pid "$pid" \
            --expected "$data/expected.txt" > "$out.expect.txt" 2>&1; then
        warn "$name: wrong answers for known names (benchmark continues):"
        sed 's/^/    /' "$out.expect.txt" >&2
        STATUS=1
        if grep -q 'no response' "$out.expect.txt" && ! grep -q '^dnscheck expect: [1-9]' "$out.expect.txt"; then
            warn "$name: does not answer at all on port $port; skipping its measurement"
            kill -0 "$pid" 2>/dev/null && record_failure "$size" "$name" NO_ANSWERS || record_failure "$size" "$name" DIED
            return 1
        fi
    fi
    kill -0 "$pid" 2>/dev/null || { warn "$name died during the sanity check"; record_failure "$size" "$name" DIED; STATUS=1; return 1; }
    if [ "$CHECK_COUNT" -gt 0 ]; then
        python3 "$BENCH_DIR/dnscheck.py" record --server "127.0.0.1:$port" --pid "$pid" --queries "$data/queries.txt" \
            --count "$CHECK_COUNT" --out "$out.answers.txt" || { warn "$name: answer recording failed"; rm -f "$out.answers.txt"; }
    fi

    if [ "$WARMUP" -gt 0 ]; then
        run_dnsperf "$port" "$data/queries.txt" "$WARMUP" "$out.warmup.txt" \
            || { warn "$name: warmup dnsperf failed"; sed 's/^/    /' "$out.warmup.txt" >&2; }
    fi
    kill -0 "$pid" 2>/dev/null || { warn "$name died during warmup"; record_failure "$size" "$name" DIED; STATUS=1; return 1; }

    bad=$(unpinned_threads "$pid")
    if [ -n "$bad" ]; then
        warn "$name: threads escaped cpu $SERVER_CPU before the run:$bad -- re-pinning"
        pin_all "$pid" || { record_failure "$size" "$name" UNPINNED; STATUS=1; return 1; }
    fi
    threads=$(thread_count "$pid")

    local set queries label
    for set in $QUERY_SETS; do
        queries=$(query_file "$data" "$set")
        label="$size/$set"
        rows=()
        check_quiet "$name"
        for ((r = 1; r <= REPEAT; r++)); do
            log "$name: $set names, dnsperf run $r/$REPEAT, ${DURATION}s, -c $CLIENTS -T $DNSPERF_THREADS -q $OUTSTANDING (server cpu $SERVER_CPU, client cpu $CLIENT_CPU)"
            row=$(one_run "$name" "$port" "$queries" "$out.$set.dnsperf.$r.txt")
            case $? in
                0) rows+=("$row") ;;
                2) record_failure "$label" "$name" DIED; STATUS=1; return 1 ;;
                3) record_failure "$label" "$name" DNSPERF_FAILED; STATUS=1; return 1 ;;
                *) record_failure "$label" "$name" NO_ANSWERS; STATUS=1; return 1 ;;
            esac
        done
        # median run by qps
        row=$(printf '%s\n' "${rows[@]}" | sort -t$'\t' -k1,1n | sed -n "$(( (${#rows[@]} + 1) / 2 ))p")
        [ "$REPEAT" -gt 1 ] && log "$name: $set names, median of $REPEAT runs: qps=$(cut -f1 <<<"$row") (all: $(printf '%s\n' "${rows[@]}" | cut -f1 | tr '\n' ' '); CPU us/q: $(printf '%s\n' "${rows[@]}" | cut -f3 | tr '\n' ' '))"
        printf '%s\t%s\tok\t%s\t%.1f\t%.1f\t%s\t%s\n' "$label" "$name" "$row" \
            "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" \
            "$load" "$threads" >> "$RES_TSV"
        local srvpct
        srvpct=$(cut -f4 <<<"$row")
        [ "$srvpct" -ge 85 ] 2>/dev/null || warn "$name: server was only ${srvpct}% busy -- the client (dnsperf) or other load on the machine is the bottleneck; qps is a lower bound, compare CPU us/query"
    done
    return 0
}

# ---- clusterdns -------------------------------------------------------------
run_clusterdns() {
    local size=$1 data=$2
    local out=$WORK/clusterdns-$size
    if [ ! -x "$CLUSTERDNS" ]; then
        log "SKIP clusterdns: $CLUSTERDNS not found or not executable"
        log "     build it with: cmake -S $REPO -B $REPO/build -DCMAKE_BUILD_TYPE=Release && cmake --build $REPO/build -j2"
        record_failure "$size" clusterdns SKIPPED
        return 0
    fi
    log "clusterdns: starting ($size services)"
    local t0 t1 line port i=0
    t0=$(now)
    taskset -c "$SERVER_CPU" "$CLUSTERDNS" --upstream none --lameduck 0 --manifests "$data/manifests" --listen 127.0.0.1:0 --workers 1 \
        > "$out.stdout" 2> "$out.stderr" &
    SERVER_PID=$!; SERVER_NAME=clusterdns
    while :; do
        if grep -q 'listening on' "$out.stdout" 2>/dev/null; then t1=$(now); break; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null; local rc=$?
            SERVER_PID=""
            warn "clusterdns exited with status $rc before printing its port line. stderr (last 20 lines):"
            tail -n 20 "$out.stderr" | sed 's/^/    /' >&2
            record_failure "$size" clusterdns START_FAILED; STATUS=1
            return 1
        fi
        if (( ++i % 100 == 0 )) && awk -v a="$t0" -v b="$(now)" -v l="$LOAD_TIMEOUT" 'BEGIN { exit !(b - a > l) }'; then
            warn "clusterdns did not print 'listening on' within ${LOAD_TIMEOUT}s. stderr (last 20 lines):"
            tail -n 20 "$out.stderr" | sed 's/^/    /' >&2
            stop_server; record_failure "$size" clusterdns START_TIMEOUT; STATUS=1
            return 1
        fi
        sleep 0.005
    done
    local load rss peak
    load=$(elapsed "$t0" "$t1")
    rss=$(status_kib "$SERVER_PID" VmRSS); peak=$(status_kib "$SERVER_PID" VmHWM)
    line=$(grep -m1 -o 'listening on .*' "$out.stdout")
    # first address of the line, e.g. "listening on 127.0.0.1:40123 [::1]:40777"
    port=$(echo "$line" | awk '{ print $3 }' | sed -E 's/.*:([0-9]+)$/\1/')
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] || {
        warn "cannot parse port from clusterdns stdout: '$line'"; stop_server
        record_failure "$size" clusterdns BAD_PORT_LINE; STATUS=1; return 1; }
    [ "$(wc -l < "$out.stdout")" -le 1 ] || warn "clusterdns printed more than one line on stdout (contract: exactly one)"
    log "clusterdns: up on port $port after ${load}s, RSS $(mib "$rss") MiB (peak $(mib "$peak") MiB), $(thread_count "$SERVER_PID") threads"
    pin_all "$SERVER_PID" || { stop_server; record_failure "$size" clusterdns UNPINNED; STATUS=1; return 1; }
    measure "$size" clusterdns "$port" "$load" "$rss" "$peak" "$data"
    stop_server
}

# ---- knot -------------------------------------------------------------------
run_knot() {
    local size=$1 data=$2
    local kdir=$WORK/knot-$size
    if ! command -v knotd >/dev/null; then
        log "SKIP knot: knotd not installed"; record_failure "$size" knot SKIPPED; return 0
    fi
    local port
    port=$(free_port) || { warn "no free port for knotd"; record_failure "$size" knot NO_PORT; STATUS=1; return 1; }
    rm -rf "$kdir"; mkdir -p "$kdir/run" "$kdir/db"
    local zones="  - domain: cluster.local"
    [ -f "$data/zones/10.in-addr.arpa.zone" ] && zones="$zones
  - domain: 10.in-addr.arpa"
    cat > "$kdir/knot.conf" <<EOF
# generated by bench/run.sh
server:
    rundir: "$kdir/run"
    listen: 127.0.0.1@$port
    udp-workers: 1
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

# no mod-rrl / rate limiting configured
zone:
$zones
EOF
    log "knot: starting knotd on port $port ($size services)"
    local t0 t1
    t0=$(now)
    taskset -c "$SERVER_CPU" knotd -c "$kdir/knot.conf" > "$kdir/knotd.log" 2>&1 &
    SERVER_PID=$!; SERVER_NAME=knot
    local sample waitargs=()
    sample=$(awk 'NR == 1 { print $1 }' "$data/expected.txt")
    waitargs=(--query "$sample A")
    local ptr
    ptr=$(awk '$2 == "PTR" { print $1; exit }' "$data/expected.txt")
    [ -n "$ptr" ] && [ -f "$data/zones/10.in-addr.arpa.zone" ] && waitargs+=(--query "$ptr PTR")
    if ! python3 "$BENCH_DIR/dnscheck.py" wait --server "127.0.0.1:$port" "${waitargs[@]}" \
            --pid "$SERVER_PID" --timeout "$LOAD_TIMEOUT" \
            --fail-log "$kdir/knotd.log" --fail-regex ' error: \[' > /dev/null; then
        warn "knotd did not serve the zone. knotd log (last 20 lines):"
        tail -n 20 "$kdir/knotd.log" | sed 's/^/    /' >&2
        stop_server; record_failure "$size" knot START_FAILED; STATUS=1; return 1
    fi
    t1=$(now)
    local load rss peak
    load=$(elapsed "$t0" "$t1")
    if command -v knotc >/dev/null; then
        knotc -c "$kdir/knot.conf" zone-status > "$kdir/zone-status.txt" 2>&1 \
            || warn "knotc zone-status failed: $(cat "$kdir/zone-status.txt")"
    fi
    rss=$(status_kib "$SERVER_PID" VmRSS); peak=$(status_kib "$SERVER_PID" VmHWM)
    log "knot: serving after ${load}s, RSS $(mib "$rss") MiB (peak $(mib "$peak") MiB), $(thread_count "$SERVER_PID") threads"
    pin_all "$SERVER_PID" || { stop_server; record_failure "$size" knot UNPINNED; STATUS=1; return 1; }
    measure "$size" knot "$port" "$load" "$rss" "$peak" "$data"
    stop_server
}

# ---- main -------------------------------------------------------------------
log "work dir $WORK; sizes: ${SIZES[*]}; servers: $SERVERS; DURATION=${DURATION}s OUTSTANDING=$OUTSTANDING"
for size in "${SIZES[@]}"; do
    data=$WORK/data-$size
    log "generating $size services ($SHAPE shape) in $NAMESPACES namespaces -> $data"
    gt0=$(now)
    python3 "$BENCH_DIR/gen_cluster.py" --services "$size" --namespaces "$NAMESPACES" \
        --queries "$NQUERIES" --seed "$SEED" --shape "$SHAPE" --out "$data" \
        || die "gen_cluster.py failed for size $size"
    log "generated in $(elapsed "$gt0" "$(now)")s: manifests $(du -sh "$data/manifests" | cut -f1), zone $(du -sh "$data/zones" | cut -f1)"
    for srv in $SERVERS; do
        case $srv in
            clusterdns) run_clusterdns "$size" "$data" ;;
            knot)       run_knot "$size" "$data" ;;
            *) die "unknown server '$srv' in SERVERS" ;;
        esac
    done
    a=$WORK/clusterdns-$size.answers.txt b=$WORK/knot-$size.answers.txt
    if [ -f "$a" ] && [ -f "$b" ]; then
        python3 "$BENCH_DIR/dnscheck.py" diff "$a" "$b" --show 5 >&2 \
            || warn "clusterdns and knot answered differently for some of the first $CHECK_COUNT queries (see above)"
    fi
done

[ -n "$RESULTS" ] && cp "$RES_TSV" "$RESULTS"

python3 - "$RES_TSV" "$DURATION" "$OUTSTANDING" "${RATE:-}" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print()
print("clusterdns benchmark: dnsperf -l %ss -q %s%s, UDP, server pinned to 1 core" % (
    sys.argv[2], sys.argv[3], " -Q %s" % sys.argv[4] if sys.argv[4] else ""))
hdr = ("server", "services", "qps", "avg lat ms", "CPU us/q", "srv CPU%", "cli CPU%", "RSS MiB", "peak MiB", "load s", "status")
fmt = "%-11s %15s %9s %10s %9s %8s %8s %8s %9s %8s  %s"
print(fmt % hdr)
print("-" * 113)
by = {}
for r in rows:
    by[(r["size"], r["server"])] = r
    print(fmt % (r["server"], r["size"], r["qps"], r["lat_ms"], r["cpu_us_q"], r["srv_cpu_pct"],
                 r["cli_cpu_pct"], r["rss_mib"], r["peak_mib"], r["load_s"], r["status"]))
ratios = []
for size in dict.fromkeys(r["size"] for r in rows):
    c, k = by.get((size, "clusterdns")), by.get((size, "knot"))
    if not c or not k or c["status"] != "ok" or k["status"] != "ok":
        continue
    def ratio(f):
        try:
            return "%.2f" % (float(c[f]) / float(k[f]))
        except (ValueError, ZeroDivisionError):
            return "-"
    ratios.append(fmt % ("cdns/knot", size, ratio("qps"), ratio("lat_ms"), ratio("cpu_us_q"),
                         ratio("srv_cpu_pct"), "", ratio("rss_mib"), ratio("peak_mib"), ratio("load_s"), ""))
if ratios:
    print("-" * 113)
    print("\n".join(ratios))
    print("(ratios: qps > 1 is better for clusterdns; latency, CPU us/q, RSS, load < 1 is better)")
EOF
[ "$NOISY" = 1 ] && warn "other load was seen on the machine during the benchmark; rerun on a quiet machine"
log "results TSV: $RES_TSV$([ "$KEEP" = 1 ] || echo ' (deleted on exit; set KEEP=1 or RESULTS=FILE to keep)')"
exit $STATUS
